/*
 * store.c — open, migrate, transactions and statement cache (see store.h).
 * Loop thread only.  Statements are cached by the address of their SQL
 * literal, so a hot query is prepared once per process.
 */
#include "server/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

int store_schema_version(void)
{
	int v = 0;
	for (const struct store_migration *m = store_migrations; m->version; m++)
		v = m->version;
	return v;
}

sqlite3_stmt *store_stmt(struct store *st, const char *sql)
{
	size_t h = ((uintptr_t)sql >> 3) % STORE_STMT_CACHE;
	sqlite3_stmt *s;

	for (size_t i = 0; i < STORE_STMT_CACHE; i++) {
		size_t k = (h + i) % STORE_STMT_CACHE;
		if (st->cache[k].sql == sql) {
			s = st->cache[k].stmt;
			sqlite3_reset(s);
			sqlite3_clear_bindings(s);
			return s;
		}
		if (!st->cache[k].sql) {
			if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
				log_error("cannot prepare statement: %s", sqlite3_errmsg(st->db));
				return NULL;
			}
			st->cache[k].sql = sql;
			st->cache[k].stmt = s;
			return s;
		}
	}
	/* Cache full: prepare uncached would leak; the table is sized well above our statement count. */
	log_error("statement cache full");
	return NULL;
}

int store_err(struct store *st, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		log_error("database error: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
}

int store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

char *store_col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? strdup((const char *)t) : NULL;
}

void store_col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	util_strlcpy(dst, t ? (const char *)t : "", cap);
}

int store_step_done(struct store *st, sqlite3_stmt *s)
{
	int rc;
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_err(st, rc);
	return sqlite3_changes(st->db);
}

static int exec(struct store *st, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		log_error("database error: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -EIO;
	}
	return 0;
}

int store_begin(struct store *st)
{
	if (st->tx_depth++ > 0)
		return 0;
	st->tx_failed = false;
	return exec(st, "BEGIN IMMEDIATE");
}

int store_commit(struct store *st)
{
	if (st->tx_depth <= 0)
		return -EINVAL;
	if (--st->tx_depth > 0)
		return 0;
	if (st->tx_failed) {
		exec(st, "ROLLBACK");
		return -EIO;
	}
	return exec(st, "COMMIT");
}

void store_rollback(struct store *st)
{
	if (st->tx_depth <= 0)
		return;
	if (--st->tx_depth > 0) {
		st->tx_failed = true;
		return;
	}
	exec(st, "ROLLBACK");
}

int store_ping(struct store *st)
{
	/* Read a real table (not "SELECT 1", which never opens the file) so a
	 * database that cannot be read fails the health check. */
	sqlite3_stmt *s = store_stmt(st, "SELECT count(*) FROM settings");
	if (!s)
		return -EIO;
	return sqlite3_step(s) == SQLITE_ROW ? 0 : -EIO;
}

int store_integrity_check(struct store *st)
{
	sqlite3_stmt *s;
	int r = -EIO;
	if (sqlite3_prepare_v2(st->db, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	if (sqlite3_step(s) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), "ok"))
		r = 0;
	sqlite3_finalize(s);
	return r;
}

static int migrate(struct store *st, char *err, size_t errcap)
{
	sqlite3_stmt *s;
	int cur = 0, latest = store_schema_version();

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -EIO;
	if (sqlite3_step(s) == SQLITE_ROW)
		cur = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (cur > latest) {
		snprintf(err, errcap,
			 "database schema version %d is newer than this server understands (%d); "
			 "run a newer restic-manager-server or restore a backup of the data directory",
			 cur, latest);
		return -EINVAL;
	}
	for (const struct store_migration *m = store_migrations; m->version; m++) {
		char pragma[64];
		if (m->version <= cur)
			continue;
		if (store_begin(st) < 0 || exec(st, m->sql) < 0) {
			store_rollback(st);
			snprintf(err, errcap, "database migration %d (%s) failed", m->version, m->name);
			return -EIO;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
		if (exec(st, pragma) < 0 || store_commit(st) < 0) {
			store_rollback(st);
			snprintf(err, errcap, "database migration %d (%s) failed to commit", m->version, m->name);
			return -EIO;
		}
		log_info("applied database migration %d (%s)", m->version, m->name);
	}
	return 0;
}

int store_open(const char *path, struct store **out, char *err, size_t errcap)
{
	struct store *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errcap, "cannot open database '%s': %s", path, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		store_close(st);
		return -EIO;
	}
	sqlite3_busy_timeout(st->db, 5000);
	sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, 64 * 1024 * 1024);
	if (exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
		     "PRAGMA temp_store=MEMORY;") < 0) {
		snprintf(err, errcap, "cannot configure database '%s' (is it a SQLite file?)", path);
		store_close(st);
		return -EIO;
	}
	rc = migrate(st, err, errcap);
	if (rc < 0) {
		store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < STORE_STMT_CACHE; i++)
		if (st->cache[i].stmt)
			sqlite3_finalize(st->cache[i].stmt);
	if (st->db)
		sqlite3_close(st->db);
	free(st);
}

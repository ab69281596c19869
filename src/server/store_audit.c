/*
 * store_audit.c — SQL for the audit trail's head anchor (see store_audit.h).
 * store_audit_head_set/get run on the loop thread with the server's
 * connection; store_audit_head_peek opens its own read-only connection and
 * is used only by the `audit verify` subcommand.
 */
#include "server/store_audit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "server/store_internal.h"

/* Parse "<seq> <64 hex>".  Return 0 or -EINVAL. */
static int head_parse(const char *v, int64_t *seq, char hash[65])
{
	const char *sp = v ? strchr(v, ' ') : NULL;
	char num[24];

	if (!sp || (size_t)(sp - v) >= sizeof(num) || strlen(sp + 1) != 64)
		return -EINVAL;
	memcpy(num, v, (size_t)(sp - v));
	num[sp - v] = '\0';
	if (util_parse_i64(num, 0, INT64_MAX, seq) < 0)
		return -EINVAL;
	memcpy(hash, sp + 1, 65);
	return 0;
}

int store_audit_head_set(struct store *st, int64_t seq, const char *hash)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO settings (key, value) VALUES ('audit_head', ?) "
					 "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
	char v[STORE_AUDIT_HEAD_MAX];
	int rc;

	if (!s)
		return -EIO;
	snprintf(v, sizeof(v), "%lld %s", (long long)seq, hash);
	store_bind_text(s, 1, v);
	rc = sqlite3_step(s);
	return rc == SQLITE_DONE ? 0 : store_err(st, rc);
}

int store_audit_head_get(struct store *st, int64_t *seq, char hash[65])
{
	sqlite3_stmt *s = store_stmt(st, "SELECT value FROM settings WHERE key = 'audit_head'");
	int rc;

	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_err(st, rc);
	return head_parse((const char *)sqlite3_column_text(s, 0), seq, hash) < 0 ? -EIO : 0;
}

int store_audit_head_peek(const char *dbpath, int64_t *seq, char hash[65])
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int r = -EIO, rc;

	if (access(dbpath, F_OK) < 0)
		return -ENOENT;
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT value FROM settings WHERE key = 'audit_head'", -1, &s, NULL) != SQLITE_OK)
		goto out;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		r = -ENOENT;
	else if (rc == SQLITE_ROW)
		r = head_parse((const char *)sqlite3_column_text(s, 0), seq, hash) < 0 ? -EIO : 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	return r;
}

/*
 * store_internal.h — shared by the store*.c files only: the connection and
 * small statement helpers.  Nothing outside the store layer includes this.
 */
#ifndef RM_STORE_INTERNAL_H
#define RM_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store.h"

/* Prepared statements, one per SQL literal; keep well above their count
 * (grep -c store_stmt: ~110 in 2026-11), a full table fails every new one. */
#define STORE_STMT_CACHE 256

struct store {
	sqlite3 *db;
	int tx_depth;
	bool tx_failed;
	/* Prepared statement cache keyed by the SQL text pointer (static strings). */
	struct {
		const char *sql;
		sqlite3_stmt *stmt;
	} cache[STORE_STMT_CACHE];
};

struct store_migration {
	int version;
	const char *name;
	const char *sql;
};

/* The migration table (store_migrations.c), terminated by {0}. */
extern const struct store_migration store_migrations[];

/* Prepare (cached by the address of sql, which must be a string literal) and
 * reset a statement.  Returns NULL on error (logged). */
sqlite3_stmt *store_stmt(struct store *st, const char *sql);

/* Map an SQLite result code to -errno: CONSTRAINT → -EEXIST, BUSY → -EBUSY, else -EIO. */
int store_err(struct store *st, int rc);

/* Bind helpers that accept NULL strings. */
int store_bind_text(sqlite3_stmt *s, int i, const char *v);

/* Column text duplicated (NULL stays NULL). */
char *store_col_strdup(sqlite3_stmt *s, int i);

/* Column text copied into dst[cap], truncated; NULL becomes "". */
void store_col_copy(sqlite3_stmt *s, int i, char *dst, size_t cap);

/* Step a statement that returns no rows (s may be NULL: -EIO) and reset it.
 * Returns sqlite3_changes() or -errno (store_err). */
int store_step_done(struct store *st, sqlite3_stmt *s);

#endif

/*
 * store.h — the SQLite store.  All SQL of the server lives in store*.c files;
 * the rest of the server calls typed functions declared here and in the
 * store_<domain>.h headers.  One connection, used only on the loop thread.
 * WAL mode, foreign keys on, numbered migrations (store_migrations.c) applied
 * at open inside one transaction each; a database whose user_version is newer
 * than this binary knows is refused.
 */
#ifndef RM_STORE_H
#define RM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Open (creating) the database at path and migrate it.  On error writes a
 * message into err and returns -errno / -EINVAL.  OUT: *out. */
int store_open(const char *path, struct store **out, char *err, size_t errcap);
void store_close(struct store *st);

/* The schema version this binary writes (highest migration). */
int store_schema_version(void);

/* 0 when the database answers a trivial query. */
int store_ping(struct store *st);

/* Explicit transactions for multi-statement changes (nestable by depth count). */
int store_begin(struct store *st);
int store_commit(struct store *st);
void store_rollback(struct store *st);

/* Run PRAGMA integrity_check; 0 when "ok". */
int store_integrity_check(struct store *st);

#endif

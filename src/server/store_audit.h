/*
 * store_audit.h — the audit trail's anchor in the database: the head (seq and
 * hash) of the last record written, kept in `settings` under "audit_head".
 * The file stays the source of truth; the anchor lets the server at start and
 * `audit verify` notice records cut off the end of the trail.
 */
#ifndef RM_STORE_AUDIT_H
#define RM_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_AUDIT_HEAD_MAX 96 /* "<seq> <64 hex>" + NUL */

/* Record / read the head on the server's connection (loop thread).
 * Return 0, -ENOENT (get: none recorded) or -errno. */
int store_audit_head_set(struct store *st, int64_t seq, const char *hash);
int store_audit_head_get(struct store *st, int64_t *seq, char hash[65]);

/* Read the head from the database file at dbpath, read-only, without the
 * server (`audit verify`).  Return 0, -ENOENT (no database or no head) or
 * -EIO. */
int store_audit_head_peek(const char *dbpath, int64_t *seq, char hash[65]);

#endif

/*
 * audit.h — the append-only audit trail (DESIGN.md §3): JSON lines in
 * $RM_DATA_DIR/audit/YYYY-MM.jsonl, each record carrying the SHA-256 of the
 * previous record ("prev"), so `restic-manager-server audit verify` detects
 * any edit, deletion or reordering.  Loop thread only.
 *
 * Record: {"seq","time","actor","client","action","target","outcome",
 *          "details":{…},"prev","hash"} — exact line format and what the
 * hash covers in audit_read.h.  Callers must never put secrets in details
 * (tokens, passwords, repository credentials).
 *
 * Durability: each record is one write(2) to a file opened O_APPEND before
 * audit_log() returns (so it survives a crash of the process, e.g. kill -9,
 * before the HTTP reply goes out); fdatasync follows within 100 ms, batched
 * and run on the worker pool (same window as SQLite's synchronous=NORMAL;
 * see docs/ARCHITECTURE.md).
 * A final line torn by a crash or power loss is moved aside to
 * "<file>.torn-<ms>" and truncated at the next audit_open(), which then
 * appends an "audit.tail_truncated" record saying so.
 */
#ifndef RM_AUDIT_H
#define RM_AUDIT_H

#include <jansson.h>
#include <stdint.h>

#include "server/audit_read.h"

struct server;
struct http_ctx;
struct audit;

/* Open the trail under data_dir/audit (created 0700), recovering the chain
 * head from the newest file.  OUT: *out.  Return 0 or -errno. */
int audit_open(const char *data_dir, struct audit **out);
void audit_close(struct audit *a);

/* SIGHUP: sync and close the head file; the next record opens it again by
 * name (after an operator moved or copied it away).  Accepts NULL. */
void audit_reopen(struct audit *a);

/* Append one record.  c (nullable) supplies actor and client address; with
 * c == NULL the actor is "system".  action: "user.login", "host.enroll", …;
 * target: "user:3", "host:7", … (nullable); outcome: "ok", "denied",
 * "failed", …; details: JSON object or NULL (stolen).  A write failure is
 * logged once and counted; it never fails the request. */
void audit_log(struct server *srv, struct http_ctx *c, const char *action, const char *target, const char *outcome,
	       json_t *details);

/* Same with an explicit actor (e.g. "agent:host-7", "schedule"). */
void audit_log_actor(struct server *srv, const char *actor, const char *client, const char *action,
		     const char *target, const char *outcome, json_t *details);

/* Once at start, after audit_open() and store_open(): compare the trail's
 * head with the head recorded in the database (store_audit.h).  A trail that
 * ends before it (records cut off the end) is logged and recorded as an
 * "audit.head_mismatch" record; then the recorded head is updated.  Every
 * audit_log() also updates it.  Return 0 or -errno (database error). */
int audit_check_anchor(struct server *srv);

/* Capture, on the loop thread, what readers on other threads may read: the
 * newest file and its length up to the last complete record.  OUT: *out. */
void audit_snapshot_take(const struct audit *a, struct audit_snapshot *out);

/* Records that could not be written since start (health, metrics). */
uint64_t audit_failures(const struct audit *a);

/* `restic-manager-server audit verify`: check every file's chain.  Prints a
 * summary; returns 0 when intact, 1 on tampering, 2 on usage/IO error. */
int audit_verify_main(const char *data_dir);

#endif

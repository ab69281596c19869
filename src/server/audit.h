/*
 * audit.h — the append-only audit trail (DESIGN.md §3): JSON lines in
 * $RM_DATA_DIR/audit/YYYY-MM.jsonl, each record carrying the SHA-256 of the
 * previous record ("prev"), so `restic-manager-server audit verify` detects
 * any edit, deletion or reordering.  Loop thread only.
 *
 * Record: {"seq","time","actor","client","action","target","outcome",
 *          "details":{…},"prev","hash"}.  Callers must never put secrets in
 * details (tokens, passwords, repository credentials).
 */
#ifndef RM_AUDIT_H
#define RM_AUDIT_H

#include <jansson.h>

struct server;
struct http_ctx;
struct audit;

/* Open the trail under data_dir/audit (created 0700), recovering the chain
 * head from the newest file.  OUT: *out.  Return 0 or -errno. */
int audit_open(const char *data_dir, struct audit **out);
void audit_close(struct audit *a);

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

/* `restic-manager-server audit verify`: check every file's chain.  Prints a
 * summary; returns 0 when intact, 1 on tampering, 2 on usage/IO error. */
int audit_verify_main(const char *data_dir);

#endif

/*
 * locks.h — who holds a repository lock, from restic's own words.  restic
 * 0.14 reports a conflicting lock on stderr as
 *   "... repository is already locked [exclusively ]by PID 1234 on web-1 by
 *    root (UID 0, GID 0)"
 *   "lock was created at 2026-11-25 21:00:00 (5m3.2s ago)"
 * A job feeds its stderr lines here; the result goes into `repo.stats`
 * ("locks": [{"pid","host","user","time","exclusive"}]) so the operator
 * sees the holder.  Pure parsing, no state beyond the caller's object.
 */
#ifndef RM_AGENT_LOCKS_H
#define RM_AGENT_LOCKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Feed one output line.  A "locked by" line creates *lock (a new object,
 * replacing any previous one); a following "lock was created at" line adds
 * "time" (RFC 3339-like "YYYY-MM-DDTHH:MM:SS", the lock holder's local
 * time) to *lock.  Lines longer than 4 KiB are ignored.  Return 1 when
 * the line was about a lock, else 0. */
int locks_feed_line(const char *line, size_t len, json_t **lock);

/* Say whether the holder is this machine: "this_host" (the lock's host
 * equals my_hostname, as restic names hosts) and, when it is, "pid_alive"
 * (alive(pid): false means the lock is stale, its restic is gone).  The
 * server tells the operator from these whether this host's agent holds
 * the lock, whatever name the operator gave the host. */
void locks_mark_local(json_t *lock, const char *my_hostname, bool (*alive)(int64_t pid));

#define LOCKS_LIST_MAX 16 /* lock files looked at per listing */

/* The lock ids in `restic list locks` output (one 64-hex id per line,
 * anything else ignored), at most max.  OUT: appends strings to ids.
 * Return how many were added. */
size_t locks_parse_ids(const char *text, size_t len, json_t *ids, size_t max);

/* The holder object ({"pid","host","user","time","exclusive"}, as
 * locks_feed_line makes) from a `restic cat lock ID` document, or NULL
 * when doc is not a lock.  New reference. */
json_t *locks_from_doc(json_t *doc);

#endif

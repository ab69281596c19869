/*
 * spool.h — the on-disk event spool: every event is appended (and fsync'd)
 * before it is sent, and removed only when the server acknowledges its seq.
 *
 * File: <state>/spool.ndjson, one compact JSON event per line, seq
 * increasing.  Append = write + fdatasync.  Ack = rewrite the remaining
 * lines atomically (temp file + rename).  A torn last line (crash during an
 * append) is ignored on reload.  The whole spool is mirrored in memory (it is
 * bounded by the size cap).
 *
 * Size cap: job.progress is refused (-ENOSPC) from 90% of the cap, job.log
 * from the cap; the caller writes one log line per overflow episode
 * (cap_logged).  Other events (job.finished, snapshots, …) are always kept.
 * Main thread only.
 */
#ifndef RM_AGENT_SPOOL_H
#define RM_AGENT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_DEFAULT_CAP (64u * 1024 * 1024)

struct spool_entry {
	int64_t seq;
	char *json; /* one compact JSON object, no newline */
	size_t len;
};

struct spool {
	char path[4096];
	size_t cap;
	size_t bytes;
	struct spool_entry *v;
	size_t n, alloc;
	bool cap_logged; /* the caller logs the cap once per overflow episode */
};

/* Load the spool at path (missing file = empty).  Return 0 or -errno. */
int spool_open(struct spool *sp, const char *path, size_t cap);
void spool_release(struct spool *sp);

/* Append one event (json: compact object with "seq" equal to seq).
 * importance: 0 = progress (dropped first), 1 = log, 2 = never dropped.
 * Return 0, -ENOSPC when refused by the cap, or -errno. */
int spool_append(struct spool *sp, int64_t seq, const char *json, size_t len, int importance);

/* Drop every event with seq <= acked and persist.  Return 0 or -errno. */
int spool_ack(struct spool *sp, int64_t acked);

/* Highest seq in the spool, or 0 when empty. */
int64_t spool_max_seq(const struct spool *sp);

/* Build a request body {"events":[…]} from the first events, at most
 * max_events and about max_bytes.  OUT: *body (malloc'd), *len, *last_seq.
 * Return the number of events (0 when empty) or -errno. */
int spool_batch(const struct spool *sp, size_t max_events, size_t max_bytes, char **body, size_t *len,
		int64_t *last_seq);

#endif

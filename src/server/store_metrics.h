/*
 * store_metrics.h — the database reads behind GET /metrics (metrics.c), on
 * a connection of their own that runs on a worker thread.
 *
 * The loop's connection (store.h) is loop-only; a scrape of 10,000 hosts
 * takes tens of milliseconds, so it reads through a second, read-only
 * connection instead (WAL: readers never wait for the loop's writer, nor
 * it for them).  The reader is used by one thread at a time: metrics.c
 * runs at most one build, and opens, uses and (after the worker pool is
 * joined) closes it from that one work item's point of view.
 *
 * A scrape is two statements inside one read transaction (one consistent
 * snapshot): every live host with its last backup job and repo stats
 * joined in (no per-host query), and the count of queued and running jobs
 * (the jobs_status index; never a scan of the job history).
 */
#ifndef RM_STORE_METRICS_H
#define RM_STORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct store;

/* One live host as the metrics see it.  Strings are borrowed for the
 * duration of the callback only.  has_* false = unknown (no sample). */
struct store_metrics_host {
	int64_t id;
	const char *name;
	bool online;
	bool has_last_seen;
	int64_t last_seen_at; /* unix seconds (written at most every 30 s, agentd.h) */
	bool has_last_backup;
	int64_t last_backup_at;         /* unix seconds the last backup job finished */
	const char *last_backup_status; /* succeeded, warning, failed, cancelled */
	bool has_duration;
	double duration; /* seconds: restic's total_duration, else finished - started */
	bool has_added;
	int64_t added_bytes; /* restic's data_added of the last backup */
	int64_t snapshot_count;
	bool has_repo_size;
	int64_t repo_size; /* bytes (raw repository size) */
	bool has_check;
	bool check_ok; /* the last repository check succeeded */
	bool has_locks;
	int64_t locks; /* repository locks seen by the last job that reported them */
};

/* Open the read-only reader on the database at path (the file the loop's
 * store has open).  Any thread; then only the thread using it.  OUT: *out. */
int store_metrics_open(const char *path, struct store **out);
/* Close a reader (store_close); accepts NULL. */
void store_metrics_close(struct store *rd);

/* Read one snapshot: cb once per live host, by id; then the queued and running job counts.
 * cb returns nonzero to stop (the result is then that value, negated if
 * positive).  Return 0 or -errno. */
int store_metrics_read(struct store *rd, int (*cb)(void *arg, const struct store_metrics_host *h), void *arg,
                       int64_t *queued, int64_t *running);

#endif

/*
 * plat_proc.h — this process's resource figures for GET /metrics: resident
 * memory, open file descriptors, start time.  Linux reads /proc (the server
 * runs on Linux only; DESIGN.md §9); a figure that cannot be read is left
 * unknown rather than guessed.  Safe on any thread (no shared state).
 */
#ifndef RM_PLAT_PROC_H
#define RM_PLAT_PROC_H

#include <stdbool.h>
#include <stdint.h>

struct plat_proc_stats {
	bool has_rss, has_fds, has_start, has_max_fds;
	int64_t rss_bytes;
	int64_t open_fds;
	int64_t max_fds;   /* RLIMIT_NOFILE soft limit */
	double start_time; /* unix seconds */
};

/* Fill st; fields that cannot be read stay has_* = false. */
void plat_proc_read(struct plat_proc_stats *st);

#endif

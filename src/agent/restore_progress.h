/*
 * restore_progress.h — progress of a restore, which restic 0.14 does not
 * report itself (`restore` prints text only, and only at the end).
 *
 * Totals: before restoring, the job lists the selected paths of the
 * snapshot (`restic ls --json --recursive -- SNAP PATH…`, tree data only,
 * no file contents) and feeds every line here; the file nodes at or below
 * a selected path give total_files and total_bytes.  Without selected
 * paths the whole snapshot counts.
 *
 * Done so far, sampled while restic runs (at most once per second, and
 * less often when a sample itself is slow):
 *   bytes  what the restic process has written (plat_child_written_bytes).
 *          File sizes under the target say nothing: restic preallocates
 *          each file at its full size when it creates it (fallocate).
 *          The sizing `ls` has already filled restic's cache (index,
 *          snapshots, the tree packs), so the restore's writes are the
 *          restored data (checked: the cache does not grow during the
 *          restore; stdout/stderr text is noise).  Where the platform
 *          cannot tell, the sizes of the files counted below stand in.
 *   files  regular files under target/<selected path> whose status changed
 *          since the restore began (created or rewritten by it; the
 *          change time cannot be set back, unlike the mtime restic restores
 *          at the end), by a walk bounded to RESTORE_WALK_MAX_ENTRIES
 *          entries per sample (a lower bound on huge trees).
 * Both are capped at the totals and never go backwards; percent and the
 * estimated seconds remaining follow from the bytes (the files when no
 * bytes are known).
 *
 * Include paths are taken literally (prefix match), as the server sends
 * them; a glob pattern would be sized as no file.  Main thread only.
 */
#ifndef RM_AGENT_RESTORE_PROGRESS_H
#define RM_AGENT_RESTORE_PROGRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/restic_out.h"

#define RESTORE_SAMPLE_MS 1000           /* at most one sample per second */
#define RESTORE_WALK_MAX_ENTRIES 20000u  /* directory entries per sample */
#define RESTORE_WALK_COST_FACTOR 10      /* wait ≥ 10× a sample's own duration */
#define RESTORE_MAX_ROOTS 64             /* walk roots (selected paths beyond: not walked) */

struct restore_progress {
	char *target;    /* restore target directory */
	json_t *paths;   /* selected paths (array of strings; empty = all) */
	json_t *roots;   /* snapshot paths seen in the listing (used when no path is selected) */
	int64_t total_files, total_bytes;
	bool listed;     /* the listing named the snapshot */
	bool sized;      /* the listing completed: totals known */
	int64_t files_done, bytes_done;
	int64_t begin_ms, begin_wall; /* when restic started (monotonic ms, Unix s) */
	int64_t next_ms; /* next sample not before (monotonic ms) */
	bool began;
};

/* Start accounting for a restore of paths (borrowed array of strings or
 * NULL) into target (copied).  Return 0 or -ENOMEM. */
int restore_progress_init(struct restore_progress *rp, const char *target, json_t *paths);
void restore_progress_release(struct restore_progress *rp);

/* One JSON object of the `ls --json` listing (borrowed): the snapshot line
 * (its paths) or a node. */
void restore_progress_feed(struct restore_progress *rp, json_t *obj);

/* The listing ended; ok: it completed (the totals are then trusted). */
void restore_progress_sized(struct restore_progress *rp, bool ok);

/* restic restore started now (monotonic ms, Unix seconds). */
void restore_progress_begin(struct restore_progress *rp, int64_t now_ms, int64_t now_wall);

/* Milliseconds until the next sample is due (0: now; -1: not running). */
int64_t restore_progress_due_in(const struct restore_progress *rp, int64_t now_ms);

/* Take a sample (walks the restored paths).  written: bytes the restic
 * process wrote so far, or -1 when unknown.  OUT: *out (current_files
 * NULL, seconds_remaining -1 when unknown).  Call when due. */
void restore_progress_sample(struct restore_progress *rp, int64_t now_ms, int64_t written,
			     struct restic_progress *out);

/* {"total_files","total_bytes"} for the job summary, or NULL when the
 * totals are unknown.  New reference. */
json_t *restore_progress_summary(const struct restore_progress *rp);

#endif

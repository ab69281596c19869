/*
 * job.h — one restic job: the argument vector built from the job kind and
 * its arguments (a table, see job.c), the child process, its output turned
 * into events (progress ≤ 1/s, log lines batched and capped, the summary),
 * the follow-up steps (snapshot list after backup/forget, raw-data stats),
 * cancellation (SIGINT to the process group, SIGKILL after a grace
 * period; see plat_child_signal) and the final status.
 *
 * Events are handed to the sink without seq/time (the agent adds them and
 * spools them).  Both pipes are always read to EOF before the child is
 * reaped: a restic whose stdout closes leaves a stale repository lock.
 * Main thread only.
 */
#ifndef RM_AGENT_JOB_H
#define RM_AGENT_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define JOB_LINE_MAX 4096             /* one log line (bytes, before scrubbing) */
#define JOB_LOG_MAX_BYTES (8u << 20)  /* log text per job */
#define JOB_LOG_BATCH_LINES 200       /* lines per job.log event */
#define JOB_LOG_FLUSH_MS 1000         /* a partial batch waits at most this long */
#define JOB_PROGRESS_MS 1000          /* at most one progress event per second */
#define JOB_CAPTURE_MAX (32u << 20)   /* captured JSON document (snapshots, stats, …) */
#define JOB_CANCEL_GRACE_MS 10000     /* stop request → kill */

/* importance levels for the sink (see spool.h) */
enum job_importance { JOB_EV_PROGRESS = 0, JOB_EV_LOG = 1, JOB_EV_RESULT = 2 };

struct job_sink {
	/* Takes the reference to ev. */
	void (*emit)(void *user, json_t *ev, enum job_importance imp);
	void *user;
};

struct job_repo {
	const char *url;
	const char *password;
	json_t *env; /* object of extra environment (borrowed), or NULL */
	int64_t upload_kbps, download_kbps;
};

struct job_params {
	const char *restic;    /* program (path or name in PATH) */
	const char *cache_dir; /* RESTIC_CACHE_DIR unless set in the environment */
	const char *job_id;    /* 32 hex, or the request id of a tree command */
	const char *kind;      /* init backup … restore, or "tree" (internal) */
	json_t *args;          /* borrowed; for "tree": {"snapshot","path"};
				* restore needs "target" here (the agent resolves
				* "no target" and "in_place" before) */
	const char *actor;     /* user / schedule / system */
	const char *group;     /* source group (reported in job.started), or NULL */
	const char *scheduled_for; /* schedule jobs: the scheduled time, or NULL */
	json_t *hooks;         /* backup only: {"pre","post"} shell commands of the
				* group (borrowed, nullable); a failing pre hook
				* skips the backup (job failed), the post hook runs
				* after it whatever the result (not after a cancel)
				* with RM_JOB_STATUS / RM_JOB_EXIT_CODE set */
	struct job_repo repo;
};

struct job;

/* Validate the arguments against the kind table.  OUT: err[cap] a reason
 * for the operator.  Return 0 or -EINVAL. */
int job_validate(const char *kind, json_t *args, char *err, size_t cap);

/* Start the job: emits job.started (tree: nothing) and spawns restic.  A
 * spawn failure still yields a job that finishes as failed at the first
 * job_tick().  OUT: *out.  Return 0 or -ENOMEM. */
int job_start(const struct job_params *p, const struct job_sink *sink, struct job **out);

/* The pollable descriptors of the running step (-1 when none). */
void job_fds(const struct job *j, int fds[2]);
/* Read available output (readable[i] from the wait). */
void job_on_readable(struct job *j, const bool readable[2]);
/* Advance timers: flush throttled events, escalate a cancel, reap, run the
 * next step, finish.  now is plat_mono_ms(). */
void job_tick(struct job *j, int64_t now);
/* Milliseconds until job_tick() has work to do (-1: only on input). */
int job_next_timeout(const struct job *j, int64_t now);
/* Request cancellation (idempotent). reason goes into the log. */
void job_cancel(struct job *j, const char *reason);
bool job_is_done(const struct job *j);
/* Done with status succeeded or warning. */
bool job_succeeded(const struct job *j);
/* The process id of the running restic, or 0. */
int64_t job_child_pid(const struct job *j);
const char *job_id(const struct job *j);
void job_free(struct job *j);

#endif

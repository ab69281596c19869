/*
 * store_jobs.h — SQL for jobs and their logs (migration 2).  Loop thread.
 *
 * A job is keyed by its 32-hex id (minted by the server, or by the agent
 * for schedule jobs and adopted here) and has an insertion-order rowid
 * (rid) that is the "newest first" order and the list cursor.  Log lines
 * are numbered from 1 per job; jobs.log_lines is the highest stored line.
 * Status moves queued → running → succeeded|warning|failed|cancelled; a
 * terminal status never changes again.
 */
#ifndef RM_STORE_JOBS_H
#define RM_STORE_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store_hosts.h"

struct store;

struct store_job {
	int64_t rid;
	char id[STORE_JOB_ID_LEN + 1];
	int64_t host_id;
	char kind[16];
	char status[16];
	char actor[16];
	char actor_name[72];
	char group[128];
	char *args;     /* JSON text, owned */
	char *summary;  /* JSON text or NULL, owned */
	char *error;    /* owned, nullable */
	char *progress; /* JSON text or NULL, owned */
	int64_t created_at, started_at, finished_at;
	bool has_exit_code;
	int64_t exit_code;
	int64_t log_lines;
};
void store_job_release(struct store_job *j);
void store_jobs_free(struct store_job *js, size_t n);

/* True for succeeded, warning, failed, cancelled. */
bool store_job_status_is_final(const char *status);

/* Insert j (id, host_id, kind, args, status, actor, actor_name, group,
 * created_at, started_at).  -EEXIST when the id is taken.  OUT: j->rid. */
int store_job_insert(struct store *st, struct store_job *j);
/* -ENOENT when unknown.  OUT: *j (release it). */
int store_job_get(struct store *st, const char *id, struct store_job *j);
/* Host of job id; -ENOENT when unknown. */
int store_job_host(struct store *st, const char *id, int64_t *host_id);
/* Newest first; rid < before (0 = from the newest); filters nullable / 0.
 * OUT: *out, *n. */
int store_job_list(struct store *st, int64_t host_id, const char *status, const char *kind, int64_t before, int limit,
                   struct store_job **out, size_t *n);
/* queued → running (started_at).  Return rows changed. */
int store_job_set_running(struct store *st, const char *id, int64_t started_at);
int store_job_set_progress(struct store *st, const char *id, const char *progress_json);
/* The error of a job the server failed because the agent's hello no longer
 * listed it.  The agent's own job.finished may still arrive from its spool
 * (the job ended while the server was away) and then replaces this status. */
#define STORE_JOB_ERR_AGENT_RESTARTED "agent restarted during the job"
/* The error of a queued job whose run command the agent acknowledged but
 * whose hello no longer lists it (queued_job_ids): the agent lost it before
 * starting it.  Like the above, the agent's own job.finished replaces it. */
#define STORE_JOB_ERR_AGENT_LOST "agent restarted and no longer had the job (it never started)"

/* Move a non-final job (or one failed with STORE_JOB_ERR_AGENT_RESTARTED or
 * STORE_JOB_ERR_AGENT_LOST) to a final status.  Return rows changed (0:
 * already final). */
int store_job_finish(struct store *st, const char *id, const char *status, bool has_exit, int64_t exit_code,
                     const char *summary_json, const char *error, int64_t finished_at);
/* Jobs of host in status running (not final), ids only. OUT: *ids (malloc'd, 33 bytes each), *n. */
int store_job_running_ids(struct store *st, int64_t host_id, char (**ids)[STORE_JOB_ID_LEN + 1], size_t *n);
/* Jobs of host still queued whose run command is no longer in the command
 * queue (the agent acknowledged it), oldest first, at most 256.
 * OUT: *ids (malloc'd, 33 bytes each), *n. */
int store_job_delivered_queued_ids(struct store *st, int64_t host_id, char (**ids)[STORE_JOB_ID_LEN + 1], size_t *n);

/* Store log line number `line` (the caller numbers lines from
 * jobs.log_lines + 1 and then calls store_job_set_log_lines once). */
int store_job_log_insert(struct store *st, int64_t rid, int64_t line, const char *t, const char *stream,
                         const char *text);
int store_job_set_log_lines(struct store *st, int64_t rid, int64_t n);
/* Cancel every non-final job of host_id (the host was deleted). Return rows changed. */
int store_job_cancel_host(struct store *st, int64_t host_id, const char *reason, int64_t now);
/* Lines with number > after, in order, at most limit; cb returns nonzero to stop. */
int store_job_log_each(struct store *st, int64_t rid, int64_t after, int64_t limit,
                       int (*cb)(void *arg, int64_t line, const char *t, const char *stream, const char *text),
                       void *arg);

#endif

/*
 * api_jobs.h — jobs: create on a host (kind-specific validation, a durable
 * `run` command for the agent), list, get, cancel, log downloads; plus the
 * job state changes shared with the agent endpoint (api_agent.c).
 * Loop thread only.
 */
#ifndef RM_API_JOBS_H
#define RM_API_JOBS_H

#include <jansson.h>
#include <stdint.h>

#include "server/http.h"
#include "server/store_jobs.h"

struct server;

/* Per-job log cap: lines beyond it are dropped (one marker line says so). */
#define JOBS_LOG_MAX_LINES 200000
#define JOBS_LOG_LINE_MAX  4096

void api_jobs_create(struct http_ctx *c); /* POST /api/v1/hosts/{id}/jobs */
void api_jobs_list(struct http_ctx *c);   /* GET /api/v1/jobs */
void api_jobs_get(struct http_ctx *c);    /* GET /api/v1/jobs/{id} */
void api_jobs_cancel(struct http_ctx *c); /* POST /api/v1/jobs/{id}/cancel */
void api_jobs_log(struct http_ctx *c);    /* GET /api/v1/jobs/{id}/log[?format=ndjson] */

/* The API form of a job (new reference; NULL on OOM). */
json_t *api_job_json(const struct store_job *j);

/* True when s is 32 lowercase hex characters. */
bool jobs_id_is_valid(const char *s);
/* A fresh random job id. */
void jobs_id_new(char out[STORE_JOB_ID_LEN + 1]);

/* Publish the job's current state on the fleet stream and its job stream
 * (with "end" when final).  Reads the job from the store.  Call it once
 * right after each state change: a final state is counted as one finished
 * job in the metrics. */
void jobs_publish_state(struct server *srv, const char *job_id);

/* Server-side failure of a non-final job (e.g. the agent restarted during
 * it): status failed with reason; published.  Return 0 or -errno. */
int jobs_fail(struct server *srv, const char *job_id, const char *reason);

/* Fill args with the settings of source group `group` on host_id for kind
 * "backup" (paths, excludes, tags) or "forget" (retention, tags).  Return 0,
 * or -ENOENT for an unknown group.  The sources module overrides this weak
 * default, which knows only the group "default" (the enrolment paths). */
int jobs_group_args(struct server *srv, int64_t host_id, const char *kind, const char *group, json_t *args);

#endif

/*
 * metrics.h — GET /metrics: Prometheus text exposition format 0.0.4
 * (DESIGN.md §1, §4), and the counters behind it.
 *
 * Off (404, like an unknown route) unless RM_METRICS_TOKEN or
 * RM_METRICS_TRUSTED_CIDR is set.  A scraper is let in by
 * "Authorization: Bearer <RM_METRICS_TOKEN>" (compared as SHA-256 digests in
 * constant time; a request that sends a wrong token is refused even from a
 * trusted address) or by a client address inside RM_METRICS_TRUSTED_CIDR
 * (the peer, or X-Forwarded-For from RM_TRUSTED_PROXY: http_ctx.client_addr).
 * Otherwise 401 when a token is configured, else 403.  The token is hashed
 * at start and the configured copy wiped; it is never logged.
 *
 * Cost: a scrape reads the database twice (hosts with their last backup and
 * repo stats joined; queued/running job counts) through a read-only
 * connection on the worker pool, which also formats the body into an
 * evbuffer; the loop only snapshots its in-memory figures and sends the
 * result.  One build at a time: scrapes arriving meanwhile wait for it and
 * get the same body (at most METRICS_MAX_WAITERS, then 503).
 *
 * The counters are in-memory since the start of the process (Prometheus
 * handles the reset at a restart).  Loop thread only, like all of this
 * module except the build itself.
 */
#ifndef RM_METRICS_H
#define RM_METRICS_H

#include <stdint.h>

#include "server/http.h"

struct server;

#define METRICS_MAX_WAITERS  32
#define METRICS_JOB_PAIRS    96 /* distinct (kind, status) counters; beyond: kind="other" */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Create srv->metrics (before the listener opens).  Hashes and wipes
 * srv->cfg.metrics_token.  Return 0 or -ENOMEM (logged). */
int metrics_start(struct server *srv);
/* Free srv->metrics after workers_free() (no build can be running). */
void metrics_stop(struct server *srv);

/* Count one HTTP reply with this status (http.c).  Accepts srv->metrics NULL. */
void metrics_count_http(struct server *srv, int status);
/* Count n agent events stored for the first time (replays excluded). */
void metrics_count_events(struct server *srv, int64_t n);
/* Count a job that reached the final status (jobs_publish_state). */
void metrics_count_job_finished(struct server *srv, const char *kind, const char *status);

/* Request-duration histograms (restic_manager_http_request_duration_seconds
 * by route class, restic_manager_agent_wake_seconds).  Fixed arrays in
 * struct metrics; no allocation.  metrics_now_us() is CLOCK_MONOTONIC in µs. */
int64_t metrics_now_us(void);
/* Observe c's duration from dispatch (c->started_us) to now; http.c calls it
 * as the reply is handed to evhttp, except for held long-polls. */
void metrics_observe_request(struct http_ctx *c);
/* Observe the wake-up of a held poll: from since_us (agentd_notify found
 * the queued command) to the reply. */
void metrics_observe_wake(struct server *srv, int64_t since_us);

/* GET /metrics (routes.c; ACCESS_PUBLIC, guarded here). */
void api_metrics(struct http_ctx *c);

#endif

/*
 * sse.h — Server-Sent Events for browsers: the fleet stream
 * (GET /api/v1/events: host status and job state changes) and one stream
 * per job (GET /api/v1/jobs/{id}/stream: state, progress, log lines, end).
 * Loop thread only.
 *
 * Resumption (Last-Event-ID): the fleet stream keeps a ring of the last
 * SSE_FLEET_RING events with ids that grow across restarts (they start at
 * the boot time in ms); an id older than the ring gets a "reset" event (the
 * client refetches).  A job stream's ids are log line numbers: on (re)connect
 * it sends the current job state, then every stored line after the given id,
 * then live events; progress is state, so the latest one is enough.
 * A subscriber whose unsent output exceeds SSE_MAX_BUFFERED is dropped.
 */
#ifndef RM_SSE_H
#define RM_SSE_H

#include <jansson.h>
#include <stdint.h>

#include "server/http.h"

struct server;

#define SSE_FLEET_RING        1024
#define SSE_MAX_BUFFERED      (1024 * 1024)
#define SSE_KEEPALIVE_SECONDS 15
#define SSE_CONN_TIMEOUT      (24 * 3600)
#define SSE_MAX_SUBSCRIBERS   4096
#define SSE_REPLAY_CHUNK      (256 * 1024) /* stored log lines are replayed in pieces of this size */
#define SSE_REPLAY_PAGE       2000
#define SSE_REPLAY_TICK_MS    20

int sse_start(struct server *srv);
/* Shutdown: end every stream. */
void sse_drain(struct server *srv);
void sse_stop(struct server *srv);
/* Open streams, fleet and job (metrics). */
int64_t sse_count_subscribers(struct server *srv);

/* Handlers (routes.c). */
void api_events_stream(struct http_ctx *c);
void api_job_stream(struct http_ctx *c);

/* Publish to the fleet stream: event name ("host", "job"), data (stolen). */
void sse_publish_fleet(struct server *srv, const char *event, json_t *data);
/* Publish to a job's subscribers: event "progress"/"state" (id = current
 * last line) or "log" (id = its line number).  data stolen. */
void sse_publish_job(struct server *srv, const char *job_id, const char *event, int64_t id, json_t *data);
/* The job reached a final state: send "state" with data (stolen) and "end", then close. */
void sse_job_finished(struct server *srv, const char *job_id, int64_t id, json_t *data);

#endif

/*
 * agentd.h — the agent side of the event loop: held long-polls (one per
 * host), host liveness (online/offline) and wake-ups when a command is
 * queued.  Loop thread only.  The HTTP handlers live in api_agent.c; this
 * module owns the in-memory per-host state behind them.
 *
 * Liveness: every agent request is contact (agentd_touch), and so is a held
 * poll; a host without
 * contact for AGENTD_OFFLINE_AFTER seconds (RM_TEST_OFFLINE_AFTER overrides
 * it, for tests only) turns offline; the change is stored and published on
 * the fleet event stream.  last_seen_at is written to the database at most
 * every AGENTD_SEEN_FLUSH seconds per host (and on every status change).
 */
#ifndef RM_AGENTD_H
#define RM_AGENTD_H

#include <stdbool.h>
#include <stdint.h>

#include "server/http.h"

struct server;

#define AGENTD_OFFLINE_AFTER 90
#define AGENTD_SEEN_FLUSH    30
#define AGENTD_MAX_WAIT      60
#define AGENTD_DEFAULT_WAIT  30
#define AGENTD_MAX_COMMANDS  100

/* Create srv->agentd and start the liveness timer.  Return 0 or -errno (logged). */
int agentd_start(struct server *srv);
/* Shutdown: answer every held poll with an empty list. */
void agentd_drain(struct server *srv);
/* Free everything (after agentd_drain). Accepts a server without agentd. */
void agentd_stop(struct server *srv);

/* Record contact from host_id now (may publish an online transition). */
void agentd_touch(struct server *srv, int64_t host_id);
/* Serve GET /api/agent/v1/commands for c->host_id: reply now with pending
 * commands (or an empty list for wait == 0), or hold c until a command is
 * queued, wait seconds pass, or a newer poll replaces it.  Always replies. */
void agentd_poll(struct http_ctx *c, int64_t after, int wait);
/* Commands were queued for host_id (after the commit): wake its poll. */
void agentd_notify(struct server *srv, int64_t host_id);
/* The host was deleted: answer its poll and drop its state. */
void agentd_forget(struct server *srv, int64_t host_id);
/* Current liveness as the loop sees it. */
bool agentd_is_online(struct server *srv, int64_t host_id);
/* True while the host has a held long-poll (it gets commands at once). */
bool agentd_is_polling(struct server *srv, int64_t host_id);
/* Long-polls held now (metrics; walks every known host: microseconds at 10k). */
int64_t agentd_count_polls(struct server *srv);

#endif

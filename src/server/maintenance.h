/*
 * maintenance.h — server-driven repository maintenance (forget, prune,
 * check, stats cadences per host, queued as `system` jobs) and its API
 * GET/PUT /api/v1/hosts/{id}/maintenance.  Loop thread.
 */
#ifndef RM_MAINTENANCE_H
#define RM_MAINTENANCE_H

#include <jansson.h>
#include <stdint.h>

#include "server/http.h"

struct server;
struct store_job;

/* Start the maintenance timer.  Return 0 or -errno (logged). */
int maintenance_start(struct server *srv);
/* A job finished (loop thread): a host's first successful backup, while its
 * repository size is unknown, queues one `stats` system job (unless the
 * stats cadence is disabled or one is pending). */
void maintenance_job_finished(struct server *srv, const struct store_job *j);
void maintenance_stop(struct server *srv);

/* {"password": …} from the host's sealed privileged credential (new
 * reference), or NULL when none.  Only for a command being delivered. */
json_t *maintenance_credential(struct server *srv, int64_t hid);

#define MAINT_LOCKS_MAX 32 /* lock holders shown per host */

struct store_host;
/* The operator's view of the lock holders an agent reported (repo.stats
 * "locks", borrowed): known fields only, plus "held_by_this_host" (the
 * agent said the holder is its machine — or, for older agents, the
 * holder's name is the host's), "job_running" (this host runs a job now:
 * the lock may be live), "agent_online" and "stale" (true when the
 * holder's restic was gone as the agent reported it; null when unknown).
 * New reference, or NULL on OOM. */
json_t *maintenance_locks_view(struct server *srv, const struct store_host *h, json_t *locks);

void api_maintenance_get(struct http_ctx *c); /* GET /api/v1/hosts/{id}/maintenance */
void api_maintenance_put(struct http_ctx *c); /* PUT /api/v1/hosts/{id}/maintenance (partial) */

#endif

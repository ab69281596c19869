/*
 * alerts.h — the alert rules the server evaluates (DESIGN.md §1 "gets
 * alerts"), their records and the hooks other modules call.  Loop thread.
 *
 * Kinds (one open alert per host, kind and subject; it opens once, repeats
 * only move last_seen_at, and resolves by itself when the condition clears):
 *
 *   kind                subject       opens when                      resolves when
 *   backup_failed       group ("")    a backup job fails              a backup of that group succeeds (or warns)
 *   maintenance_failed  prune|check|forget:GROUP  such a job fails    the same kind (and group) succeeds
 *   agent_offline       ""            the host turns offline          the host is back online
 *   backup_overdue      ""            no success within 1.5x the      a backup succeeds, or the schedules
 *                                     schedule interval (timer)       change so it is no longer overdue
 *   stale_lock          ""            repo.stats shows a stale lock   a repo.stats without one
 *
 * Event-driven: job state changes (jobs_publish_state), host status changes
 * (agentd.c), repo.stats (api_agent.c).  A timer looks at ALERTS_BATCH hosts
 * per tick in id order (round robin) for the overdue rule, so 10,000 hosts
 * cost a bounded slice of loop time per tick.  Opening and resolving queue
 * notifications (notify.c) and publish an "alert" event on the fleet stream.
 */
#ifndef RM_ALERTS_H
#define RM_ALERTS_H

#include <stdbool.h>
#include <stdint.h>

#include "server/http.h"

struct server;
struct store_job;

#define ALERTS_TICK_S 15
#define ALERTS_BATCH  500

/* Start the overdue timer (tests only: RM_TEST_ALERTS_TICK_SECONDS overrides
 * the period, RM_TEST_ALERTS_CLOCK_OFFSET moves the overdue rule's clock
 * forward by that many seconds).  Return 0 or -errno (logged). */
int alerts_start(struct server *srv);
void alerts_stop(struct server *srv);

/* A job changed state (called after the commit, with the stored job). */
void alerts_job_changed(struct server *srv, const struct store_job *j);
/* The host's liveness changed. */
void alerts_host_status(struct server *srv, int64_t host_id, bool online);
/* New repo.stats were stored for the host (stale locks). */
void alerts_repo_stats(struct server *srv, int64_t host_id);

/* The known kinds, NULL-terminated (for validation of channel filters). */
extern const char *const alerts_kinds[];
bool alerts_kind_is_known(const char *kind);

/* A time for the API: RFC 3339 UTC string, JSON null for 0 (never). */
json_t *alerts_time_json(int64_t t);

/* GET /api/v1/alerts?status=open|resolved&host=ID&limit=&cursor= */
void api_alerts_list(struct http_ctx *c);

#endif

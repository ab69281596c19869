/*
 * schedules.h — the server side of source groups and schedules that is not
 * an HTTP handler: the `default` group, the schedule document sent to
 * agents (hello and `schedule` commands), version bumps with their command,
 * the host's time zone, and the JSON forms the API returns.  Loop thread.
 *
 * It also provides the strong definitions of two hooks declared elsewhere:
 * agent_schedule_json() (api_agent.h) and jobs_group_args() (api_jobs.h).
 */
#ifndef RM_SCHEDULES_H
#define RM_SCHEDULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/cron.h"
#include "common/tz.h"
#include "server/store_sources.h"

struct server;

#define SCHEDULES_NEXT_RUNS 5
#define SCHEDULES_MAX_GROUPS 64      /* groups per host */
#define SCHEDULES_MAX_SCHEDULES 64   /* schedules per host */

/* Create the host's `default` group from its enrolment paths once (a no-op
 * afterwards, also after the operator deleted it).  Return 0 or -errno. */
int sources_ensure_default(struct server *srv, int64_t host_id);

/* Bump the host's desired schedule version and queue a `schedule` command
 * carrying the whole document.  Call inside the transaction of the change;
 * call agentd_notify() after the commit.  OUT: *version (nullable). */
int schedules_changed(struct server *srv, int64_t host_id, int64_t *version);

/* The host's bandwidth limits as the agent reads them: {"upload_kbps",
 * "download_kbps"} in KiB/s, 0 = unlimited (PATCH /api/v1/hosts/{id}); an
 * unreadable host reads as unlimited.  NULL only when out of memory. */
json_t *schedules_host_limits_json(struct server *srv, int64_t host_id);

/* The schedule document for the agent: {"version","timezone","groups":[…],
 * "schedules":[…]}; version < 0 = the current one.  with_hooks puts the hook
 * commands in clear into the groups: only for a reply to the agent, never
 * for anything stored.  OUT: *out (new reference).  Return 0 or -errno. */
int schedules_agent_doc(struct server *srv, int64_t host_id, int64_t version, bool with_hooks, json_t **out);

/* Just before commands go to the agent: put the (unsealed) hooks into the
 * groups of every `schedule` command in cmds (stored without them), and the
 * host's privileged credential (if set) into `run` commands of prune and
 * unlock jobs (user or maintenance) — and into nothing else. */
void schedules_expand_commands(struct server *srv, int64_t host_id, json_t *cmds);

/* The zone to show a host's next runs in (its agent-reported zone, else
 * UTC).  OUT: *z (free with tz_zone_free), name[TZ_NAME_MAX + 1]. */
int schedules_host_zone(struct server *srv, int64_t host_id, struct tz_zone **z, char *name);

/* Record the host's IANA time zone name as reported by its agent (ignored
 * when invalid or unknown).  Return 0 or -errno. */
int schedules_set_host_timezone(struct server *srv, int64_t host_id, const char *name);

/* API forms (new references; NULL on OOM). */
json_t *schedules_source_json(struct server *srv, const struct store_source *s);
json_t *schedules_schedule_json(const struct store_schedule *s, const struct tz_zone *z, const char *tzname,
				int64_t now);

/* Format instant t in zone z as RFC 3339 with the zone's offset
 * ("2026-03-29T03:00:00+02:00") into buf[32]. */
void schedules_time_local(int64_t t, const struct tz_zone *z, char buf[32]);

#endif

/*
 * schedule.h — the agent's local schedule: fires the last-known schedule
 * (from hello / `schedule` commands, kept in <state>/schedule.json) with the
 * shared cron evaluator, also while the server is unreachable.
 *
 * A due schedule appends, per group, a `run` command for a backup and (when
 * the group has a retention policy) one for a forget (never --prune) to the
 * agent's durable job queue, with job ids minted here and actor "schedule";
 * the jobs' events are spooled and delivered like any other, and the server
 * adopts the ids.  The last fired time of every schedule is persisted in
 * <state>/schedule_state.json BEFORE the commands are queued, so a crash
 * can lose a run but never start one twice for the same scheduled time.
 *
 * Missed runs: when the agent finds a run more than SCHEDULE_GRACE_S late
 * (it was not running at that time), the latest missed run is fired once,
 * for the groups whose retry count is > 0, and skipped for the others.
 * Failed runs: a scheduled backup that fails is queued again (backup and
 * forget of that group, same scheduled time) after the group's
 * retry.backoff_seconds, at most retry.count times.
 * Random start delays are derived from (schedule id, scheduled time), so
 * they survive restarts without being stored.
 *
 * Test hook (documented in docs/ARCHITECTURE.md, never for production):
 * RM_TEST_SCHEDULE_MINUTE_SECONDS=N makes one cron minute last N real
 * seconds (a virtual clock anchored at a fixed epoch), so an every-minute
 * schedule fires every N seconds.
 *
 * Main thread only.  Wall-clock times are in the host's zone: its IANA name
 * (TZ, /etc/timezone or the /etc/localtime link; see plat_timezone_name),
 * else /etc/localtime, else UTC.
 */
#ifndef RM_AGENT_SCHEDULE_H
#define RM_AGENT_SCHEDULE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SCHEDULE_GRACE_S 120

struct schedule_runner;

/* Load schedule.json and schedule_state.json from state_dir.  OUT: *out.
 * Return 0 or -ENOMEM (damaged files are logged and treated as empty). */
int schedule_open(const char *state_dir, struct schedule_runner **out);
void schedule_free(struct schedule_runner *s);

/* A new schedule document (borrowed) was applied. */
void schedule_set(struct schedule_runner *s, json_t *doc);

/* The IANA name of the zone schedules are evaluated in ("" when unknown):
 * reported in hello so the server shows next runs in the same zone. */
const char *schedule_timezone(const struct schedule_runner *s);

/* The hooks ({"pre","post"}; borrowed, valid until the next schedule_set)
 * of the group a backup belongs to (its single tag), or NULL. */
json_t *schedule_group_hooks(struct schedule_runner *s, const char *kind, json_t *args);

/* The bandwidth limits of the current schedule document ({"upload_kbps",
 * "download_kbps"}, KiB/s; borrowed, valid until the next schedule_set), or
 * NULL when the document has none.  Scheduled runs carry them. */
json_t *schedule_limits(struct schedule_runner *s);

/* A job finished (any job: unknown ids are ignored).  A failed scheduled
 * backup is retried per its group's retry policy (count, backoff). */
void schedule_job_done(struct schedule_runner *s, const char *job_id, bool ok);

/* Queue the runs that are due at real time now (unix seconds) by appending
 * run commands to queue.  OUT: *added (commands appended; the caller saves
 * the queue).  Return milliseconds until the next run is due (capped). */
int64_t schedule_tick(struct schedule_runner *s, json_t *queue, int64_t now, int *added);

#endif

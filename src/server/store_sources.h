/*
 * store_sources.h — SQL for source groups, schedules and the per-host
 * schedule state (migration 3).  Loop thread only, like every store function.
 *
 * Invariants: a group name is unique per host; schedules refer to groups by
 * name (the JSON array schedules.groups); hooks are stored only sealed
 * (secrets.c, AD "source:<id>:hooks").  The desired schedule version is
 * bumped by store_sched_bump_version() in the
 * same transaction as the change, into host_sched_state.version; what the
 * agent acknowledged is hosts.schedule_version (written by api_agent.c on
 * schedule.ack).  host_sched_state also keeps the host's time zone and the
 * maintenance settings.
 */
#ifndef RM_STORE_SOURCES_H
#define RM_STORE_SOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cron.h"

struct store;

#define STORE_GROUP_NAME_MAX 64

struct store_source {
	int64_t id, host_id;
	char name[STORE_GROUP_NAME_MAX + 1];
	char *paths;     /* JSON array text, owned */
	char *excludes;  /* JSON array text, owned */
	char *retention; /* JSON object text, owned */
	int64_t retry_count, retry_backoff;
	bool use_fs_snapshot; /* restic --use-fs-snapshot (VSS) on Windows hosts (migration 5) */
	unsigned char *hooks; /* sealed blob or NULL, owned */
	size_t hooks_len;
	int64_t created_at, updated_at;
};
void store_source_release(struct store_source *s);
void store_sources_free(struct store_source *ss, size_t n);

struct store_schedule {
	int64_t id, host_id;
	char cron[CRON_EXPR_MAX + 1];
	char *groups; /* JSON array text, owned */
	bool enabled;
	int64_t random_delay;
	int64_t created_at, updated_at;
};
void store_schedule_release(struct store_schedule *s);
void store_schedules_free(struct store_schedule *ss, size_t n);

struct store_sched_state {
	int64_t host_id;
	int64_t version;         /* desired: bumped on every change */
	int64_t applied_version; /* acknowledged by the agent (hosts.schedule_version) */
	char timezone[TZ_NAME_MAX + 1]; /* "" = unknown (UTC) */
	bool sources_ready;             /* the default group was created */
	char *maintenance;              /* JSON object text, owned */
	int64_t forget_last, prune_last, check_last, stats_last;
};
void store_sched_state_release(struct store_sched_state *s);

/* ---- source groups ---- */
/* Insert s (host_id, name, paths, excludes, retention, retry_*, created_at).
 * -EEXIST when the name is taken.  OUT: s->id. */
int store_source_insert(struct store *st, struct store_source *s);
/* Update every field but id/host_id/created_at/hooks.  -ENOENT when absent. */
int store_source_update(struct store *st, const struct store_source *s);
/* Replace the sealed hooks (NULL clears). */
int store_source_set_hooks(struct store *st, int64_t id, const unsigned char *blob, size_t len);
int store_source_delete(struct store *st, int64_t host_id, int64_t id);
/* By id, or by name when name != NULL.  -ENOENT when absent.  OUT: *s. */
int store_source_get(struct store *st, int64_t host_id, int64_t id, const char *name, struct store_source *s);
/* All groups of a host by name.  OUT: *out, *n. */
int store_source_list(struct store *st, int64_t host_id, struct store_source **out, size_t *n);

/* ---- schedules ---- */
int store_schedule_insert(struct store *st, struct store_schedule *s);
int store_schedule_update(struct store *st, const struct store_schedule *s);
int store_schedule_delete(struct store *st, int64_t host_id, int64_t id);
int store_schedule_get(struct store *st, int64_t host_id, int64_t id, struct store_schedule *s);
int store_schedule_list(struct store *st, int64_t host_id, struct store_schedule **out, size_t *n);
/* Number of schedules of the host that name group. */
int store_schedule_count_using(struct store *st, int64_t host_id, const char *group);
/* Rename a group inside every schedule of the host. */
int store_schedule_rename_group(struct store *st, int64_t host_id, const char *from, const char *to);

/* ---- per-host schedule state ---- */
/* Bump the desired version (kept above the acknowledged one).  OUT: *version. */
int store_sched_bump_version(struct store *st, int64_t host_id, int64_t *version);
/* The state row (created with defaults when missing).  OUT: *s. */
int store_sched_state_get(struct store *st, int64_t host_id, struct store_sched_state *s);
int store_sched_state_set_timezone(struct store *st, int64_t host_id, const char *tz);
int store_sched_state_set_ready(struct store *st, int64_t host_id);
int store_sched_state_set_maintenance(struct store *st, int64_t host_id, const char *json);
/* The sealed privileged credential (NULL clears).  get: OUT *blob (malloc'd
 * or NULL when unset), *len. */
int store_sched_state_set_secret(struct store *st, int64_t host_id, const unsigned char *blob, size_t len);
int store_sched_state_get_secret(struct store *st, int64_t host_id, unsigned char **blob, size_t *len);
/* which: "forget", "prune" or "check". */
int store_sched_state_set_maint_last(struct store *st, int64_t host_id, const char *which, int64_t at);

#endif

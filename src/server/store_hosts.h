/*
 * store_hosts.h — SQL for hosts, enrolment tokens, the per-host command
 * queue, the event high-water marks, the snapshot cache and repo stats
 * (migration 2).  Loop thread only, like every store function.
 *
 * Invariants: a deleted host keeps its row (jobs refer to it) with
 * deleted_at set and agent_token_hash NULL, and is invisible to every
 * getter here.  Command seqs are per host, strictly increasing, assigned
 * from hosts.next_command_seq inside the enqueue.  Secrets are stored only
 * as sealed blobs (secrets.c) and tokens only as SHA-256 hex.
 */
#ifndef RM_STORE_HOSTS_H
#define RM_STORE_HOSTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_HOSTNAME_MAX 253
#define STORE_JOB_ID_LEN   32

struct store_enrollment {
	int64_t id;
	char hostname[STORE_HOSTNAME_MAX + 1];
	char *tags;            /* JSON array text, owned */
	char *paths;           /* JSON array text, owned */
	char *repo_url;        /* display form (credentials redacted), owned */
	unsigned char *secret; /* sealed blob, owned */
	size_t secret_len;
	int64_t expires_at;
};
void store_enrollment_release(struct store_enrollment *e);

struct store_host {
	int64_t id;
	char name[STORE_HOSTNAME_MAX + 1];
	char *tags, *paths, *repo_url; /* owned */
	char os[64], arch[32], agent_version[64], restic_version[64];
	int64_t protocol_version;
	char status[16];
	int64_t last_seen_at, created_at, schedule_version;
	int64_t next_command_seq, acked_command_seq, last_event_seq;
	char running_job_id[STORE_JOB_ID_LEN + 1];
	char last_backup_job_id[STORE_JOB_ID_LEN + 1];
	char last_backup_status[16];
	int64_t last_backup_at, last_success_at, snapshot_count;
	int64_t limit_upload_kib, limit_download_kib; /* KiB/s, 0 = unlimited */
	int64_t repo_size;                            /* bytes (repo_stats raw_size), valid if has_repo_size */
	bool has_repo_size;
	bool check_failed; /* the last repository check reported failure */
};
void store_host_release(struct store_host *h);
void store_hosts_free(struct store_host *hs, size_t n);

/* ---- enrolment tokens ---- */
/* Insert a token row (secret set separately, its AD needs the id). OUT: *id. */
int store_enroll_insert(struct store *st, const char *token_hash, const char *hostname, const char *tags,
                        const char *paths, const char *repo_url, const char *created_by, int64_t now,
                        int64_t expires_at, int64_t *id);
int store_enroll_set_secret(struct store *st, int64_t id, const unsigned char *blob, size_t len);
/* The unused, unexpired token with this hash.  -ENOENT otherwise. OUT: *e (release it). */
int store_enroll_find(struct store *st, const char *token_hash, int64_t now, struct store_enrollment *e);
/* Mark used (only if still unused: -ENOENT when someone else won). Drops the sealed blob. */
int store_enroll_mark_used(struct store *st, int64_t id, int64_t host_id, int64_t now);

/* ---- hosts ---- */
int store_host_insert(struct store *st, const char *name, const char *tags, const char *paths, const char *repo_url,
                      const char *agent_token_hash, int64_t now, int64_t *id);
int store_host_set_secret(struct store *st, int64_t id, const unsigned char *blob, size_t len);
/* OUT: *blob (malloc'd), *len. */
int store_host_get_secret(struct store *st, int64_t id, unsigned char **blob, size_t *len);
/* -ENOENT for unknown or deleted hosts. OUT: *h (release it). */
int store_host_get(struct store *st, int64_t id, struct store_host *h);
/* Host id of a live agent token hash, -ENOENT otherwise. */
int store_host_by_token(struct store *st, const char *token_hash, int64_t *id);
int store_host_update_hello(struct store *st, int64_t id, const char *os, const char *arch, const char *agent_version,
                            const char *restic_version, int64_t protocol_version, int64_t now);
int store_host_set_status(struct store *st, int64_t id, const char *status, int64_t last_seen);
int store_host_touch(struct store *st, int64_t id, int64_t last_seen);
int store_host_set_schedule_version(struct store *st, int64_t id, int64_t version);
/* Operator settings: name and tags (JSON array text) when non-NULL, the
 * bandwidth limits (KiB/s, 0 = unlimited) when >= 0.  -ENOENT when absent. */
int store_host_update_settings(struct store *st, int64_t id, const char *name, const char *tags, int64_t upload_kib,
                               int64_t download_kib);
/* Soft delete: deleted_at, token revoked.  -ENOENT when absent. */
int store_host_delete(struct store *st, int64_t id, int64_t now);
/* Hosts with id > after, by id, at most limit.  status NULL = any.  OUT: *out, *n. */
int store_host_list(struct store *st, int64_t after, int limit, const char *status, struct store_host **out, size_t *n);
/* Ids of hosts whose stored status is online (start-up). OUT: *ids (malloc'd), *n. */
int store_host_online_ids(struct store *st, int64_t **ids, size_t *n);
/* running_job_id := job_id (NULL clears). */
int store_host_set_running(struct store *st, int64_t id, const char *job_id);
/* Clear running_job_id only if it still is job_id. */
int store_host_clear_running(struct store *st, int64_t id, const char *job_id);
int store_host_set_last_backup(struct store *st, int64_t id, const char *job_id, const char *status, int64_t at,
                               bool success);
int store_host_set_last_event_seq(struct store *st, int64_t id, int64_t seq);

struct store_fleet {
	int64_t hosts, online, offline, backup_failed, never_backed_up, snapshots;
	int64_t problems;  /* last backup failed or last check failed */
	int64_t repo_size; /* sum of the hosts' latest repository sizes (bytes) */
	int64_t jobs_queued, jobs_running;
	int64_t jobs_failed_since; /* failed jobs that finished at or after `since` */
};
/* Fleet figures; failures counted from since (unix seconds). */
int store_fleet_summary(struct store *st, int64_t since, struct store_fleet *f);

/* ---- command queue ---- */
/* Append a command; body is the command object without "seq" (borrowed).
 * Call inside a transaction with the change that caused it.  OUT: *seq. */
int store_cmd_enqueue(struct store *st, int64_t host_id, const char *type, const char *job_id, json_t *body,
                      int64_t now, int64_t *seq);
/* Commands with seq > after, oldest first, at most limit, as a new JSON array
 * of command objects with "seq".  OUT: *out. */
int store_cmd_list(struct store *st, int64_t host_id, int64_t after, int limit, json_t **out);
/* Delete commands up to seq (the agent acknowledged them). */
int store_cmd_ack(struct store *st, int64_t host_id, int64_t upto);
/* Delete the not yet delivered run command of job_id.  Return rows deleted. */
int store_cmd_drop_run(struct store *st, int64_t host_id, const char *job_id);

/* ---- events ---- */
/* Record event (host, seq).  Return 1 when new, 0 when already stored. */
int store_event_insert(struct store *st, int64_t host_id, int64_t seq, const char *type, const char *job_id,
                       const char *time, int64_t now);
/* Delete event records received before cutoff. Return rows deleted. */
int store_event_purge(struct store *st, int64_t cutoff);

/* ---- snapshots cache, repo stats ---- */
/* Replace the host's snapshot list with arr (restic snapshots --json objects; borrowed). */
int store_snapshots_replace(struct store *st, int64_t host_id, json_t *arr);
/* Snapshots newest first as a new JSON array. OUT: *out. */
int store_snapshots_list(struct store *st, int64_t host_id, json_t **out);
/* Merge fields of obj (borrowed) into the host's stats object; raw_size and
 * check.ok are mirrored into hosts.repo_size / hosts.check_failed. */
int store_repo_stats_merge(struct store *st, int64_t host_id, json_t *obj, int64_t now);
/* The stats object (new reference) or NULL when none. */
int store_repo_stats_get(struct store *st, int64_t host_id, json_t **out);

#endif

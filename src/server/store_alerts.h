/*
 * store_alerts.h — SQL for alerts, notification channels and their delivery
 * log (migration 6).  Loop thread only, like every store function.
 *
 * Invariants: at most one open alert per (host, kind, subject) — a partial
 * unique index over the rows with resolved_at NULL; opening again while open
 * only moves last_seen_at.  Channel secrets (tokens, SMTP password) are
 * stored only as one sealed blob per channel (secrets.c, AD
 * "channel:<id>:secrets"); `config` holds everything else as JSON text.
 * Delivery rows never hold secrets: outcome, HTTP status and an error text
 * made by notify.c.
 */
#ifndef RM_STORE_ALERTS_H
#define RM_STORE_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_ALERT_KIND_MAX    32
#define STORE_ALERT_SUBJECT_MAX 160
#define STORE_ALERT_MESSAGE_MAX 1024
#define STORE_CHANNEL_NAME_MAX  64

struct store_alert {
	int64_t id, host_id;
	char host_name[254];
	char kind[STORE_ALERT_KIND_MAX + 1];
	char subject[STORE_ALERT_SUBJECT_MAX + 1];
	char message[STORE_ALERT_MESSAGE_MAX + 1];
	char job_id[33];
	int64_t opened_at, last_seen_at, resolved_at; /* resolved_at 0 = open */
	int64_t occurrences;
};

/* Open an alert, or touch the open one (last_seen_at, message, job,
 * occurrences + 1).  OUT: *id, *opened (true when a new row was made). */
int store_alert_open(struct store *st, int64_t host_id, const char *kind, const char *subject, const char *message,
                     const char *job_id, int64_t now, int64_t *id, bool *opened);
/* Resolve the open alert of (host, kind, subject); subject NULL = every
 * subject of the kind.  OUT: ids (malloc'd, may be NULL), *n resolved. */
int store_alert_resolve(struct store *st, int64_t host_id, const char *kind, const char *subject, int64_t now,
                        int64_t **ids, size_t *n);
/* One alert by id (also resolved, also of deleted hosts).  -ENOENT. */
int store_alert_get(struct store *st, int64_t id, struct store_alert *a);
/* Alerts newest first (id < before when before > 0); open: 1 open, 0
 * resolved, -1 both; host_id 0 = every host.  OUT: *out (malloc'd), *n. */
int store_alert_list(struct store *st, int open, int64_t host_id, int64_t before, int limit, struct store_alert **out,
                     size_t *n);
/* Open alerts of live hosts, in total and per host for ids in [lo, hi]
 * (counts[i] for ids[i]; ids sorted ascending).  */
int store_alert_count_open(struct store *st, int64_t *total);
int store_alert_count_open_hosts(struct store *st, const int64_t *ids, size_t n, int64_t *counts);
/* Is there an open alert of (host, kind)?  1 yes, 0 no, -errno. */
int store_alert_is_open(struct store *st, int64_t host_id, const char *kind);

/* The overdue rule's view of a batch of hosts (id > after, by id, at most
 * limit): last success, creation, and the crons of enabled schedules. */
struct store_overdue_host {
	int64_t id, last_success_at, created_at;
	int64_t schedules_changed_at; /* newest updated_at of its enabled schedules */
	char *crons;                  /* enabled schedules' expressions, '\n'-separated; NULL: none (owned) */
	bool overdue_open;            /* a backup_overdue alert is open */
};
int store_alert_overdue_batch(struct store *st, int64_t after, int limit, struct store_overdue_host **out, size_t *n);
void store_overdue_hosts_free(struct store_overdue_host *hs, size_t n);
/* Delete alerts resolved before `before` (the history is bounded).  Return rows. */
int store_alert_purge(struct store *st, int64_t before);
/* Resolve the open alerts of deleted hosts.  Return rows changed. */
int store_alert_resolve_deleted(struct store *st, int64_t now);

struct store_channel {
	int64_t id;
	char name[STORE_CHANNEL_NAME_MAX + 1];
	char kind[16]; /* webhook | ntfy | smtp */
	bool enabled, on_resolve;
	char *config;          /* JSON object text, no secrets (owned) */
	char *alert_kinds;     /* JSON array text; [] = every kind (owned) */
	unsigned char *secret; /* sealed blob or NULL (owned) */
	size_t secret_len;
	int64_t created_at, updated_at;
};
void store_channel_release(struct store_channel *c);
void store_channels_free(struct store_channel *cs, size_t n);

/* Insert (name, kind, enabled, on_resolve, config, alert_kinds, created_at).
 * -EEXIST when the name is taken.  OUT: c->id. */
int store_channel_insert(struct store *st, struct store_channel *c);
/* Update every field but id/created_at/secret.  -ENOENT, -EEXIST. */
int store_channel_update(struct store *st, const struct store_channel *c);
int store_channel_set_secret(struct store *st, int64_t id, const unsigned char *blob, size_t len);
int store_channel_delete(struct store *st, int64_t id);
int store_channel_get(struct store *st, int64_t id, struct store_channel *c);
/* Every channel by id (a handful; capped at limit).  OUT: *out, *n. */
int store_channel_list(struct store *st, int limit, struct store_channel **out, size_t *n);

struct store_delivery {
	int64_t id, channel_id, alert_id;  /* alert_id 0 = a test */
	char event[16];                    /* opened | resolved | test */
	char outcome[16];                  /* ok | failed | dropped */
	int64_t at, attempts, http_status; /* http_status 0 = none */
	char error[256];
};
int store_delivery_insert(struct store *st, const struct store_delivery *d);
/* Newest first (id < before when before > 0).  OUT: *out, *n. */
int store_delivery_list(struct store *st, int64_t channel_id, int64_t before, int limit, struct store_delivery **out,
                        size_t *n);
/* Keep at most keep rows per channel (the delivery log is bounded). */
int store_delivery_trim(struct store *st, int64_t channel_id, int64_t keep);

/* The durable notification queue (migration 7): one row per delivery still
 * to make (channel, alert, event, attempts so far) — no secret, no text; the
 * message is rebuilt from the channel and alert rows.  Rows go with their
 * channel or alert (ON DELETE CASCADE). */
struct store_pending {
	int64_t id, channel_id, alert_id;
	char event[16]; /* opened | resolved */
	int attempts;
};
int store_pending_insert(struct store *st, int64_t channel_id, int64_t alert_id, const char *event, int64_t now,
                         int64_t *id);
int store_pending_count(struct store *st, int64_t *n);
/* Oldest first, at most limit.  OUT: *out (malloc'd), *n. */
int store_pending_list(struct store *st, int limit, struct store_pending **out, size_t *n);
int store_pending_set_attempts(struct store *st, int64_t id, int attempts);
int store_pending_delete(struct store *st, int64_t id);

#endif

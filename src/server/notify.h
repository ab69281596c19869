/*
 * notify.h — delivery of alert notifications to the notification channels
 * (webhook, ntfy, SMTP e-mail) with libcurl on the worker pool.
 *
 * Threads: everything declared here is called on the loop thread.  A message
 * is built on the loop (channel row, unsealed secrets, alert text), sent by
 * one blocking libcurl transfer on a worker (bounded: 5 s connect, 10 s
 * total, responses capped at 64 KiB, only the channel's protocols allowed,
 * no redirects), and its outcome is recorded on the loop as a delivery row.
 *
 * Bounds: at most NOTIFY_INFLIGHT transfer runs on the pool at a time (the
 * other workers stay free for logins), at most NOTIFY_QUEUE_MAX messages
 * wait (beyond that a delivery is recorded as "dropped"), NOTIFY_ATTEMPTS
 * attempts per message with growing backoff for transient failures
 * (transport errors, HTTP 408/429/5xx, SMTP 4xx).  The queue is durable:
 * each pending delivery is a notification_pending row (channel, alert,
 * event, attempts — no secret), written in the caller's transaction and
 * removed with its delivery-log record; a restart resumes the rows left.
 * Secrets stay sealed in the channel row; they are unsealed into the
 * in-memory message, wiped after the transfer, and never appear in pending
 * or delivery rows, logs or errors.
 */
#ifndef RM_NOTIFY_H
#define RM_NOTIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct server;
struct store_alert;
struct store_channel;

#define NOTIFY_ATTEMPTS  3
#define NOTIFY_QUEUE_MAX 1000
#define NOTIFY_INFLIGHT  1
#define NOTIFY_LOG_KEEP  500 /* delivery rows kept per channel */

struct notify_result {
	bool ok;
	long status_code; /* HTTP status or SMTP reply code; 0 = none */
	int attempts;
	char error[256]; /* "" when ok */
};

/* libcurl's global init and the pump timer.  Return 0 or -errno (logged). */
int notify_start(struct server *srv);
/* Free what is still queued in memory (its rows stay for the next start). */
void notify_stop(struct server *srv);

/* Queue the alert's event ("opened" | "resolved") for every enabled channel
 * whose filter takes it: a notification_pending row each, in the caller's
 * open transaction when there is one.  Beyond NOTIFY_QUEUE_MAX pending rows
 * a delivery is recorded as "dropped" (logged).  Failures are logged and
 * recorded, never returned. */
void notify_alert(struct server *srv, const struct store_alert *a, const char *event);

/* Does channel ch take alert kind `kind` on event ("opened" | "resolved")? */
bool notify_channel_matches(const struct store_channel *ch, const char *kind, const char *event);

/* Channel ch's secrets, unsealed, in *out: a JSON object, empty when ch has
 * none or they cannot be unsealed (NULL only when out of memory).  Returns 0,
 * or secrets_unseal()'s -errno (not logged here).  The caller json_decref()s
 * *out; it holds secrets: never log or return it. */
int notify_channel_secrets(struct server *srv, const struct store_channel *ch, json_t **out);
/* Wipe every string value of a secrets object, then json_decref() it (NULL is fine). */
void notify_secrets_free(json_t *o);

/* Send one test message through ch now (one attempt, not queued behind
 * alerts) and record it in the delivery log; done() runs on the loop with
 * the outcome.  Return 0 (done will run) or -errno (it will not). */
int notify_test(struct server *srv, const struct store_channel *ch,
                void (*done)(struct server *srv, void *arg, const struct notify_result *r), void *arg);

#endif

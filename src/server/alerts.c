/*
 * alerts.c — alert rules, records and GET /api/v1/alerts (see alerts.h).
 * Loop thread.  State private to this module: the overdue timer, its round
 * robin cursor and a UTC zone for cron evaluation.
 *
 * The overdue rule evaluates cron in UTC, not in the host's zone: a DST
 * change moves one gap by an hour, which the 1.5x allowance absorbs, and the
 * timer need not load a zone file per host.
 */
#include "server/alerts.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tz.h"
#include "common/util.h"
#include "server/alert_rules.h"
#include "server/maintenance.h"
#include "server/notify.h"
#include "server/server.h"
#include "server/sse.h"
#include "server/store.h"
#include "server/store_alerts.h"
#include "server/store_hosts.h"
#include "server/store_jobs.h"

#define ALERTS_KEEP_RESOLVED_S (90 * 86400)

const char *const alerts_kinds[] = {"backup_failed",  "maintenance_failed", "agent_offline",
                                    "backup_overdue", "stale_lock",         NULL};

static struct event *alerts_timer;
static int64_t alerts_cursor;
static int64_t alerts_clock_offset; /* RM_TEST_ALERTS_CLOCK_OFFSET: tests only */
static int64_t alerts_last_purge;   /* resolved alerts past their keep time: hourly */
static struct tz_zone *alerts_utc;

bool alerts_kind_is_known(const char *kind)
{
	for (size_t i = 0; alerts_kinds[i]; i++)
		if (strcmp(alerts_kinds[i], kind) == 0)
			return true;
	return false;
}

static void publish(struct server *srv, const struct store_alert *a, const char *status)
{
	sse_publish_fleet(srv, "alert",
	                  json_pack("{s:I,s:I,s:s,s:s}", "id", (json_int_t)a->id, "host_id", (json_int_t)a->host_id,
	                            "kind", a->kind, "status", status));
}

/* Cut s back to its last complete UTF-8 sequence (snprintf may have split
 * one; JSON strings must be valid UTF-8). */
static void utf8_trim(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char c;

	while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	c = (unsigned char)s[i - 1];
	if (c < 0x80)
		return; /* ASCII last: complete */
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

/* Open (or touch) the alert; a new one is published and notified (its
 * notification_pending rows are written in the same transaction). */
static void raise_alert(struct server *srv, int64_t host_id, const char *kind, const char *subject, const char *message,
                        const char *job_id)
{
	struct store_alert a;
	int64_t id;
	bool opened;
	char msg[STORE_ALERT_MESSAGE_MAX + 1];

	util_strlcpy(msg, message, sizeof(msg));
	utf8_trim(msg);
	if (store_begin(srv->store) < 0)
		return;
	if (store_alert_open(srv->store, host_id, kind, subject, msg, job_id, util_now(), &id, &opened) < 0) {
		store_rollback(srv->store);
		log_warnx("cannot record a %s alert for host %lld", kind, (long long)host_id);
		return;
	}
	if (!opened || store_alert_get(srv->store, id, &a) < 0) {
		store_commit(srv->store);
		return;
	}
	notify_alert(srv, &a, "opened");
	if (store_commit(srv->store) < 0) {
		log_warnx("cannot record a %s alert for host %lld", kind, (long long)host_id);
		return;
	}
	log_info("alert %lld opened: host %lld %s%s%s", (long long)id, (long long)host_id, kind, subject[0] ? " " : "",
	         subject);
	publish(srv, &a, "open");
}

/* Resolve the open alert(s) of (host, kind[, subject]). */
static void clear_alert(struct server *srv, int64_t host_id, const char *kind, const char *subject)
{
	int64_t *ids = NULL;
	size_t n = 0;

	if (store_begin(srv->store) < 0)
		return;
	if (store_alert_resolve(srv->store, host_id, kind, subject, util_now(), &ids, &n) < 0) {
		store_rollback(srv->store);
		log_warnx("cannot resolve the %s alert of host %lld", kind, (long long)host_id);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_alert a;
		if (store_alert_get(srv->store, ids[i], &a) == 0)
			notify_alert(srv, &a, "resolved");
	}
	if (store_commit(srv->store) < 0) {
		free(ids);
		log_warnx("cannot resolve the %s alert of host %lld", kind, (long long)host_id);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_alert a;
		if (store_alert_get(srv->store, ids[i], &a) < 0)
			continue;
		log_info("alert %lld resolved: host %lld %s", (long long)a.id, (long long)host_id, kind);
		publish(srv, &a, "resolved");
	}
	free(ids);
}

void alerts_job_changed(struct server *srv, const struct store_job *j)
{
	bool failed = strcmp(j->status, "failed") == 0;
	bool good = strcmp(j->status, "succeeded") == 0 || strcmp(j->status, "warning") == 0;
	bool backup = strcmp(j->kind, "backup") == 0;
	bool maint = !strcmp(j->kind, "forget") || !strcmp(j->kind, "prune") || !strcmp(j->kind, "check");
	char msg[STORE_ALERT_MESSAGE_MAX + 1], subject[STORE_ALERT_SUBJECT_MAX + 1];

	if ((!failed && !good) || (!backup && !maint))
		return;
	/* backups by group; maintenance by kind, forget also by group (one per group) */
	if (backup)
		util_strlcpy(subject, j->group, sizeof(subject));
	else
		snprintf(subject, sizeof(subject), "%s%s%s", j->kind, j->group[0] ? ":" : "", j->group);
	if (good) {
		clear_alert(srv, j->host_id, backup ? "backup_failed" : "maintenance_failed", subject);
		if (backup)
			clear_alert(srv, j->host_id, "backup_overdue", NULL);
		return;
	}
	if (backup)
		snprintf(msg, sizeof(msg), "backup%s%s%s failed: %s", subject[0] ? " of group '" : "", subject,
		         subject[0] ? "'" : "", j->error && j->error[0] ? j->error : "no reason given");
	else
		snprintf(msg, sizeof(msg), "%s failed: %s", j->kind,
		         j->error && j->error[0] ? j->error : "no reason given");
	raise_alert(srv, j->host_id, backup ? "backup_failed" : "maintenance_failed", subject, msg, j->id);
}

void alerts_host_status(struct server *srv, int64_t host_id, bool online)
{
	struct store_host h;
	char msg[160], ts[32];

	if (online) {
		clear_alert(srv, host_id, "agent_offline", NULL);
		return;
	}
	if (store_host_get(srv->store, host_id, &h) < 0)
		return;
	util_time_rfc3339(h.last_seen_at, ts);
	snprintf(msg, sizeof(msg), "the agent has not been in contact since %s", ts);
	store_host_release(&h);
	raise_alert(srv, host_id, "agent_offline", "", msg, NULL);
}

void alerts_repo_stats(struct server *srv, int64_t host_id)
{
	struct store_host h;
	json_t *stats = NULL, *view, *l;
	char msg[STORE_ALERT_MESSAGE_MAX + 1];
	size_t i, stale = 0;

	if (store_repo_stats_get(srv->store, host_id, &stats) < 0 || !json_is_array(json_object_get(stats, "locks"))) {
		json_decref(stats);
		return; /* this report said nothing about locks */
	}
	if (store_host_get(srv->store, host_id, &h) < 0) {
		json_decref(stats);
		return;
	}
	view = maintenance_locks_view(srv, &h, json_object_get(stats, "locks"));
	msg[0] = '\0';
	json_array_foreach(view, i, l)
	{
		if (!json_is_true(json_object_get(l, "stale")))
			continue;
		if (stale++ == 0)
			snprintf(msg, sizeof(msg), "stale %slock of PID %lld on %s (since %s); unlock the repository",
			         json_is_true(json_object_get(l, "exclusive")) ? "exclusive " : "",
			         (long long)json_integer_value(json_object_get(l, "pid")),
			         json_string_value(json_object_get(l, "host"))
			             ? json_string_value(json_object_get(l, "host"))
			             : "?",
			         json_string_value(json_object_get(l, "time"))
			             ? json_string_value(json_object_get(l, "time"))
			             : "?");
	}
	json_decref(view);
	json_decref(stats);
	store_host_release(&h);
	if (stale)
		raise_alert(srv, host_id, "stale_lock", "", msg, NULL);
	else
		clear_alert(srv, host_id, "stale_lock", NULL);
}

/* ---- the overdue timer ---- */

static void overdue_host(struct server *srv, const struct store_overdue_host *h, int64_t now)
{
	int64_t since = h->schedules_changed_at > h->created_at ? h->schedules_changed_at : h->created_at;
	int64_t ref = h->last_success_at > since ? h->last_success_at : since;
	int64_t interval = alert_rules_interval(h->crons, alerts_utc, ref), deadline;
	char msg[256], ts[32], dl[32];

	if (!alert_rules_is_overdue(interval, h->last_success_at, since, now, &deadline)) {
		if (h->overdue_open)
			clear_alert(srv, h->id, "backup_overdue", NULL);
		return;
	}
	if (h->overdue_open)
		return;
	util_time_rfc3339(h->last_success_at, ts);
	util_time_rfc3339(deadline, dl);
	snprintf(msg, sizeof(msg), "%s%s; the schedule runs at least every %lld min, so one was due by %s",
	         h->last_success_at ? "no successful backup since " : "no successful backup yet",
	         h->last_success_at ? ts : "", (long long)(interval / 60), dl);
	raise_alert(srv, h->id, "backup_overdue", "", msg, NULL);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct store_overdue_host *hs = NULL;
	int64_t now = util_now() + alerts_clock_offset, t0 = util_now_ms();
	size_t n = 0;

	(void)fd;
	(void)what;
	if (srv->draining || store_alert_overdue_batch(srv->store, alerts_cursor, ALERTS_BATCH, &hs, &n) < 0)
		return;
	if (store_begin(srv->store) < 0) {
		store_overdue_hosts_free(hs, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		overdue_host(srv, &hs[i], now);
	/* alerts of deleted hosts (a few open rows to look at) */
	store_alert_resolve_deleted(srv->store, util_now());
	alerts_cursor = n < ALERTS_BATCH ? 0 : hs[n - 1].id; /* a full round: start over */
	if (util_now() - alerts_last_purge >= 3600) {
		alerts_last_purge = util_now();
		store_alert_purge(srv->store, alerts_last_purge - ALERTS_KEEP_RESOLVED_S);
	}
	if (store_commit(srv->store) < 0)
		log_warnx("cannot store the overdue alerts of this round");
	store_overdue_hosts_free(hs, n);
	log_debug("alerts: overdue rule for %zu hosts in %lld ms", n, (long long)(util_now_ms() - t0));
}

int alerts_start(struct server *srv)
{
	const char *hook = getenv("RM_TEST_ALERTS_TICK_SECONDS");
	const char *clock = getenv("RM_TEST_ALERTS_CLOCK_OFFSET");
	int64_t secs = ALERTS_TICK_S;
	struct timeval tv;

	if (clock && *clock) {
		if (util_parse_i64(clock, 0, 400 * 86400, &alerts_clock_offset) < 0) {
			log_error("RM_TEST_ALERTS_CLOCK_OFFSET must be an integer number of seconds in [0, 34560000]");
			return -EINVAL;
		}
		log_warnx("test hook RM_TEST_ALERTS_CLOCK_OFFSET=%lld", (long long)alerts_clock_offset);
	}
	if (hook && *hook) {
		if (util_parse_i64(hook, 1, 3600, &secs) < 0) {
			log_error("RM_TEST_ALERTS_TICK_SECONDS must be an integer number of seconds in [1, 3600]");
			return -EINVAL;
		}
		log_warnx("test hook RM_TEST_ALERTS_TICK_SECONDS=%lld", (long long)secs);
	}
	if (tz_zone_fixed(0, &alerts_utc) < 0) {
		log_error("cannot make the UTC zone");
		return -ENOMEM;
	}
	alerts_timer = event_new(srv->base, -1, EV_PERSIST, on_tick, srv);
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = 0;
	if (!alerts_timer || event_add(alerts_timer, &tv) < 0) {
		log_error("cannot start the alerts timer");
		return -ENOMEM;
	}
	return 0;
}

void alerts_stop(struct server *srv)
{
	(void)srv;
	if (alerts_timer)
		event_free(alerts_timer);
	alerts_timer = NULL;
	tz_zone_free(alerts_utc);
	alerts_utc = NULL;
}

/* ---- API ---- */

json_t *alerts_time_json(int64_t t)
{
	char ts[32];
	if (!t)
		return json_null();
	util_time_rfc3339(t, ts);
	return json_string(ts);
}

static const char *title_of(const char *kind)
{
	static const char *const titles[] = {"backup failed", "maintenance failed", "agent offline", "backup overdue",
	                                     "stale repository lock"};
	for (size_t i = 0; alerts_kinds[i]; i++)
		if (strcmp(alerts_kinds[i], kind) == 0)
			return titles[i];
	return kind;
}

static json_t *alert_json(const struct store_alert *a)
{
	json_t *o =
	    json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:s,s:s?,s:s,s:I}", "id", (json_int_t)a->id, "host_id",
	              (json_int_t)a->host_id, "host", a->host_name, "kind", a->kind, "title", title_of(a->kind),
	              "subject", a->subject, "message", a->message, "job_id", a->job_id[0] ? a->job_id : NULL, "status",
	              a->resolved_at ? "resolved" : "open", "occurrences", (json_int_t)a->occurrences);
	if (!o)
		return NULL;
	json_object_set_new(o, "opened_at", alerts_time_json(a->opened_at));
	json_object_set_new(o, "last_seen_at", alerts_time_json(a->last_seen_at));
	json_object_set_new(o, "resolved_at", alerts_time_json(a->resolved_at));
	return o;
}

void api_alerts_list(struct http_ctx *c)
{
	const char *status = http_query(c, "status");
	int64_t limit, cursor, host;
	struct store_alert *as = NULL;
	int open = -1;
	size_t n = 0;
	json_t *items, *next = json_null();

	if (http_query_int(c, "limit", 1, 500, 100, &limit) < 0 ||
	    http_query_int(c, "cursor", 0, INT64_MAX, 0, &cursor) < 0 ||
	    http_query_int(c, "host", 1, INT64_MAX, 0, &host) < 0)
		return;
	if (status && strcmp(status, "open") == 0)
		open = 1;
	else if (status && strcmp(status, "resolved") == 0)
		open = 0;
	else if (status && *status) {
		http_reply_error(c, 400, "invalid_parameter", "status must be open or resolved");
		return;
	}
	if (store_alert_list(c->srv->store, open, host, cursor, (int)limit + 1, &as, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot list alerts now");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(items, alert_json(&as[i]));
	if (n > (size_t)limit) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)as[limit - 1].id);
		next = json_string(buf);
	}
	free(as);
	http_reply_json(c, 200, json_pack("{s:o,s:o}", "items", items, "next", next));
}

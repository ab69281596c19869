/*
 * api_schedules.c — /api/v1/hosts/{id}/schedules: cron expression → one or
 * more source groups, enabled flag, optional random start delay.  Loop
 * thread.
 *
 * Answers carry the next runs in the host's time zone (as reported by its
 * agent; UTC until known) and a human description.  The list also tells
 * the desired schedule version, the version the agent acknowledged, and
 * whether they differ (drift).  Every change bumps the version and queues a
 * `schedule` command in the same transaction (schedules.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/util.h"
#include "server/agentd.h"
#include "server/api_sources.h"
#include "server/audit.h"
#include "server/schedules.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_sources.h"

#define SCHEDULES_MAX_DELAY 86400
#define SCHEDULES_MAX_TARGETS 16

/* Host {0} must exist.  Return 0 or -1 after replying. */
static int host_param(struct http_ctx *c, int64_t *hid)
{
	struct store_host h;
	int r;

	if (http_param_id(c, 0, hid) < 0)
		return -1;
	r = store_host_get(c->srv->store, *hid, &h);
	if (r == -ENOENT) {
		http_reply_error(c, 404, "not_found", "no such host");
		return -1;
	}
	if (r < 0 || sources_ensure_default(c->srv, *hid) < 0) {
		if (r == 0)
			store_host_release(&h);
		http_reply_error(c, 503, "unavailable", "cannot read the host now");
		return -1;
	}
	store_host_release(&h);
	return 0;
}

static int schedule_param(struct http_ctx *c, int64_t hid, struct store_schedule *s)
{
	int64_t id;
	int r;

	if (http_param_id(c, 1, &id) < 0)
		return -1;
	r = store_schedule_get(c->srv->store, hid, id, s);
	if (r == -ENOENT) {
		http_reply_error(c, 404, "not_found", "no such schedule");
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the schedule now");
		return -1;
	}
	return 0;
}

/* Apply body onto s (full: every field, defaults for absent optional ones). */
static int schedule_apply(struct http_ctx *c, int64_t hid, json_t *body, bool full, struct store_schedule *s)
{
	static const char *const known[] = {"cron",	  "groups",     "enabled",    "random_delay_seconds",
					    "id",	  "host_id",    "next_runs",  "description",
					    "timezone", "created_at", "updated_at"};
	const char *key, *cron;
	json_t *val, *v;
	char err[CRON_ERR_MAX];
	struct cron_expr e;

	json_object_foreach(body, key, val)
	{
		bool ok = false;
		for (size_t i = 0; i < ARRAY_LEN(known); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok) {
			char k[40];
			util_strlcpy(k, key, sizeof(k));
			for (char *p = k; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == '\'')
					*p = '?';
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' is unknown", k);
			return -1;
		}
	}
	if (http_json_str(c, body, "cron", 1, CRON_EXPR_MAX, full, &cron) < 0)
		return -1;
	if (cron) {
		if (cron_parse(cron, &e, err, sizeof(err)) < 0) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'cron': %s", err);
			return -1;
		}
		util_strlcpy(s->cron, cron, sizeof(s->cron));
	}
	v = json_object_get(body, "groups");
	if (v || full) {
		json_t *g;
		size_t i;
		if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > SCHEDULES_MAX_TARGETS) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field 'groups' must be an array of 1 to %d source group names",
					 SCHEDULES_MAX_TARGETS);
			return -1;
		}
		json_array_foreach(v, i, g)
		{
			struct store_source src;
			const char *name = json_string_value(g);
			if (!name || !sources_name_is_valid(name)) {
				http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
						 "field 'groups' must hold source group names");
				return -1;
			}
			for (size_t k = 0; k < i; k++) {
				if (strcmp(json_string_value(json_array_get(v, k)), name) == 0) {
					http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
							 "field 'groups' names '%s' twice", name);
					return -1;
				}
			}
			int r = store_source_get(c->srv->store, hid, 0, name, &src);
			if (r == -ENOENT) {
				http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
						 "field 'groups': unknown source group '%s' on this host", name);
				return -1;
			}
			if (r < 0) {
				http_reply_error(c, 503, "unavailable", "cannot read the source groups now");
				return -1;
			}
			store_source_release(&src);
		}
		char *t = json_dumps(v, JSON_COMPACT);
		if (!t) {
			http_reply_error(c, 503, "out_of_memory", "try again later");
			return -1;
		}
		free(s->groups);
		s->groups = t;
	}
	bool enabled;
	if (http_json_bool(c, body, "enabled", false, full ? true : s->enabled, &enabled) < 0)
		return -1;
	s->enabled = enabled;
	if (http_json_int(c, body, "random_delay_seconds", 0, SCHEDULES_MAX_DELAY, false,
			  full ? 0 : s->random_delay, &s->random_delay) < 0)
		return -1;
	return 0;
}

static void reply_schedule(struct http_ctx *c, int status, int64_t hid, int64_t id)
{
	struct store_schedule s;
	struct tz_zone *z = NULL;
	char tzname[TZ_NAME_MAX + 1];
	json_t *o = NULL;

	if (store_schedule_get(c->srv->store, hid, id, &s) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the schedule now");
		return;
	}
	if (schedules_host_zone(c->srv, hid, &z, tzname) == 0)
		o = schedules_schedule_json(&s, z, tzname, util_now());
	tz_zone_free(z);
	store_schedule_release(&s);
	if (!o)
		http_reply_error(c, 503, "out_of_memory", "try again later");
	else
		http_reply_json(c, status, o);
}

static int commit_change(struct server *srv, int64_t hid, int r)
{
	if (r == 0)
		r = schedules_changed(srv, hid, NULL);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	if (r == 0)
		agentd_notify(srv, hid);
	return r;
}

void api_schedules_list(struct http_ctx *c)
{
	struct store_schedule *v = NULL;
	struct store_sched_state st;
	struct tz_zone *z = NULL;
	char tzname[TZ_NAME_MAX + 1];
	size_t n = 0;
	int64_t hid, now = util_now();
	json_t *items;

	if (host_param(c, &hid) < 0)
		return;
	if (store_schedule_list(c->srv->store, hid, &v, &n) < 0 || store_sched_state_get(c->srv->store, hid, &st) < 0) {
		store_schedules_free(v, n);
		http_reply_error(c, 503, "unavailable", "cannot read the schedules now");
		return;
	}
	if (schedules_host_zone(c->srv, hid, &z, tzname) < 0) {
		store_schedules_free(v, n);
		store_sched_state_release(&st);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	items = json_array();
	for (size_t i = 0; items && i < n; i++)
		json_array_append_new(items, schedules_schedule_json(&v[i], z, tzname, now));
	store_schedules_free(v, n);
	tz_zone_free(z);
	if (!items) {
		store_sched_state_release(&st);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	http_reply_json(c, 200,
			json_pack("{s:o,s:n,s:I,s:I,s:b,s:s}", "items", items, "next", "version", (json_int_t)st.version,
				  "applied_version", (json_int_t)st.applied_version, "drift",
				  st.version != st.applied_version, "timezone", tzname));
	store_sched_state_release(&st);
}

void api_schedules_get(struct http_ctx *c)
{
	struct store_schedule s;
	int64_t hid;

	if (host_param(c, &hid) < 0 || schedule_param(c, hid, &s) < 0)
		return;
	int64_t id = s.id;
	store_schedule_release(&s);
	reply_schedule(c, 200, hid, id);
}

void api_schedules_create(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_schedule s, *all = NULL;
	json_t *body = http_body_object(c);
	size_t count = 0;
	char target[48];
	int64_t hid;
	int r;

	if (!body || host_param(c, &hid) < 0)
		return;
	memset(&s, 0, sizeof(s));
	s.host_id = hid;
	if (schedule_apply(c, hid, body, true, &s) < 0)
		goto out;
	if (store_schedule_list(srv->store, hid, &all, &count) == 0)
		store_schedules_free(all, count);
	if (count >= SCHEDULES_MAX_SCHEDULES) {
		http_reply_error(c, 409, "limit_reached", "a host has at most %d schedules", SCHEDULES_MAX_SCHEDULES);
		goto out;
	}
	s.created_at = util_now();
	if (store_begin(srv->store) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the schedule now");
		goto out;
	}
	r = commit_change(srv, hid, store_schedule_insert(srv->store, &s));
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the schedule now");
		goto out;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log(srv, c, "schedule.create", target, "ok",
		  json_pack("{s:I,s:s,s:s,s:b}", "schedule_id", (json_int_t)s.id, "cron", s.cron, "groups", s.groups,
			    "enabled", s.enabled));
	reply_schedule(c, 201, hid, s.id);
out:
	store_schedule_release(&s);
}

static void update(struct http_ctx *c, bool full)
{
	struct server *srv = c->srv;
	struct store_schedule s;
	json_t *body = http_body_object(c);
	char target[48];
	int64_t hid;
	int r;

	if (!body || host_param(c, &hid) < 0 || schedule_param(c, hid, &s) < 0)
		return;
	if (schedule_apply(c, hid, body, full, &s) < 0)
		goto out;
	s.updated_at = util_now();
	if (store_begin(srv->store) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the schedule now");
		goto out;
	}
	r = commit_change(srv, hid, store_schedule_update(srv->store, &s));
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the schedule now");
		goto out;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log(srv, c, "schedule.update", target, "ok",
		  json_pack("{s:I,s:s,s:s,s:b}", "schedule_id", (json_int_t)s.id, "cron", s.cron, "groups", s.groups,
			    "enabled", s.enabled));
	reply_schedule(c, 200, hid, s.id);
out:
	store_schedule_release(&s);
}

void api_schedules_put(struct http_ctx *c)
{
	update(c, true);
}

void api_schedules_patch(struct http_ctx *c)
{
	update(c, false);
}

void api_schedules_delete(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_schedule s;
	char target[48];
	int64_t hid;
	int r;

	if (host_param(c, &hid) < 0 || schedule_param(c, hid, &s) < 0)
		return;
	if (store_begin(srv->store) < 0) {
		store_schedule_release(&s);
		http_reply_error(c, 503, "unavailable", "cannot delete the schedule now");
		return;
	}
	r = commit_change(srv, hid, store_schedule_delete(srv->store, hid, s.id));
	if (r < 0) {
		store_schedule_release(&s);
		http_reply_error(c, 503, "unavailable", "cannot delete the schedule now");
		return;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log(srv, c, "schedule.delete", target, "ok",
		  json_pack("{s:I,s:s}", "schedule_id", (json_int_t)s.id, "cron", s.cron));
	store_schedule_release(&s);
	http_reply_empty(c, 204);
}

/*
 * maintenance.c — server-driven repository maintenance per host: `forget`
 * (per group with a retention policy, daily by default), `prune` (weekly)
 * `check` (weekly, optionally with --read-data-subset) and `stats` (daily,
 * so the repository size is known without an operator), each with its
 * own interval and each disableable; plus GET/PUT
 * /api/v1/hosts/{id}/maintenance, which also shows the repository's locks
 * and last check from the agent's repo.stats.  Loop thread.
 *
 * A timer (every MAINT_TICK_S, up to MAINT_BATCH hosts per tick in round
 * robin; RM_TEST_MAINTENANCE_TICK_SECONDS overrides the period, for tests
 * only) queues due work as jobs with actor `system` for hosts that
 * are online; offline hosts are skipped and get their due work when they are
 * back.  A kind is not queued again while a system job of that kind is still
 * queued or running on the host.  A host seen for the first time starts its
 * intervals then (nothing runs at once on a fresh host); the exception is
 * `stats`: a host's first successful backup (its repository size still
 * unknown) queues one stats job at once (maintenance_job_finished).
 *
 * The optional privileged repository password (for prune) is sealed at rest
 * (AD "host:<id>:maintenance").  The prune job's stored `run` command carries
 * only the marker "credential": "privileged"; the password is unsealed into
 * it when the command is delivered (schedules_expand_commands) — never in
 * the job's arguments or any row; the agent keeps it in memory for that job
 * only (agent/credential.c).
 * State is private to this module (one timer).
 */
#include "server/maintenance.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "server/agentd.h"
#include "server/api_jobs.h"
#include "server/audit.h"
#include "server/schedules.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_jobs.h"
#include "server/store_sources.h"

#define MAINT_TICK_S 15
#define MAINT_BATCH 250 /* hosts looked at per tick (round robin): bounded loop time */
#define MAINT_MAX_HOURS 8760
#define MAINT_SECRET_MAX 1024

struct maint_kind {
	const char *name;
	int64_t default_hours;
};

static const struct maint_kind kinds[] = {
	{"forget", 24},
	{"prune", 24 * 7},
	{"check", 24 * 7},
	{"stats", 24},
};

static struct event *maint_timer;
static int64_t maint_cursor; /* last host id looked at */

struct maint_setting {
	bool enabled;
	int64_t every_hours;
	const char *subset; /* check only; borrowed from the settings object */
};

static void setting_get(json_t *settings, const struct maint_kind *k, struct maint_setting *out)
{
	json_t *o = json_object_get(settings, k->name), *v;

	out->enabled = true;
	out->every_hours = k->default_hours;
	out->subset = NULL;
	if (!json_is_object(o))
		return;
	v = json_object_get(o, "enabled");
	if (json_is_boolean(v))
		out->enabled = json_is_true(v);
	v = json_object_get(o, "every_hours");
	if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= MAINT_MAX_HOURS)
		out->every_hours = json_integer_value(v);
	out->subset = json_string_value(json_object_get(o, "read_data_subset"));
}

static int64_t last_of(const struct store_sched_state *st, const char *kind)
{
	return strcmp(kind, "forget") == 0 ? st->forget_last
	     : strcmp(kind, "prune") == 0  ? st->prune_last
	     : strcmp(kind, "check") == 0  ? st->check_last
					   : st->stats_last;
}

static bool has_pending(struct server *srv, int64_t hid, const char *kind)
{
	static const char *const open_states[] = {"queued", "running"};
	for (size_t i = 0; i < ARRAY_LEN(open_states); i++) {
		struct store_job *js = NULL;
		size_t n = 0;
		bool found = false;
		if (store_job_list(srv->store, hid, open_states[i], kind, 0, 50, &js, &n) < 0)
			return true; /* unsure: do not pile up */
		for (size_t k = 0; k < n; k++)
			found = found || strcmp(js[k].actor, "system") == 0;
		store_jobs_free(js, n);
		if (found)
			return true;
	}
	return false;
}

/* Queue one system job; credential (borrowed, nullable) goes only into the command. */
static int queue_job(struct server *srv, int64_t hid, const char *kind, json_t *args, const char *group,
		     json_t *credential)
{
	struct store_job j;
	json_t *cmd;
	char target[32];
	int64_t seq;
	int r;

	memset(&j, 0, sizeof(j));
	jobs_id_new(j.id);
	j.host_id = hid;
	util_strlcpy(j.kind, kind, sizeof(j.kind));
	util_strlcpy(j.status, "queued", sizeof(j.status));
	util_strlcpy(j.actor, "system", sizeof(j.actor));
	util_strlcpy(j.actor_name, "maintenance", sizeof(j.actor_name));
	if (group)
		util_strlcpy(j.group, group, sizeof(j.group));
	j.created_at = util_now();
	j.args = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
	cmd = json_pack("{s:s,s:s,s:s,s:O,s:s}", "type", "run", "job_id", j.id, "kind", kind, "args", args, "actor",
			"system");
	if (!j.args || !cmd) {
		free(j.args);
		json_decref(cmd);
		return -ENOMEM;
	}
	/* A marker only: the password is unsealed when the command is delivered
	 * (maintenance_credential via schedules_expand_commands), never stored. */
	if (credential)
		json_object_set_new(cmd, "credential", json_string("privileged"));
	r = store_begin(srv->store);
	if (r == 0) {
		r = store_job_insert(srv->store, &j);
		if (r == 0)
			r = store_cmd_enqueue(srv->store, hid, "run", j.id, cmd, j.created_at, &seq);
		if (r == 0)
			r = store_commit(srv->store);
		else
			store_rollback(srv->store);
	}
	free(j.args);
	json_decref(cmd);
	if (r < 0)
		return r;
	agentd_notify(srv, hid);
	jobs_publish_state(srv, j.id);
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log_actor(srv, "system", NULL, "job.create", target, "ok",
			json_pack("{s:s,s:s,s:s*,s:b}", "job_id", j.id, "kind", kind, "group", group, "privileged",
				  credential != NULL));
	log_info("maintenance: %s job %s queued for host %lld", kind, j.id, (long long)hid);
	return 0;
}

json_t *maintenance_credential(struct server *srv, int64_t hid)
{
	unsigned char *blob = NULL;
	size_t len = 0, plen = 0;
	char ad[64], *pt = NULL;
	json_t *o = NULL;

	if (store_sched_state_get_secret(srv->store, hid, &blob, &len) < 0 || !blob)
		return NULL;
	snprintf(ad, sizeof(ad), "host:%lld:maintenance", (long long)hid);
	if (secrets_unseal(srv->secrets, blob, len, ad, &pt, &plen) == 0) {
		o = json_pack("{s:s%}", "password", pt, plen);
		secrets_free_plain(pt);
	} else {
		log_warnx("cannot unseal the privileged credential of host %lld", (long long)hid);
	}
	free(blob);
	return o;
}

static void run_kind(struct server *srv, int64_t hid, const struct maint_kind *k, const struct maint_setting *s)
{
	if (strcmp(k->name, "forget") == 0) {
		struct store_source *gs = NULL;
		size_t n = 0;
		if (store_source_list(srv->store, hid, &gs, &n) < 0)
			return;
		for (size_t i = 0; i < n; i++) {
			json_t *ret = json_loads(gs[i].retention, 0, NULL), *args;
			bool any = json_object_size(ret) > 0;
			json_decref(ret);
			if (!any || !(args = json_object()))
				continue;
			if (jobs_group_args(srv, hid, "forget", gs[i].name, args) == 0)
				queue_job(srv, hid, "forget", args, gs[i].name, NULL);
			json_decref(args);
		}
		store_sources_free(gs, n);
	} else if (strcmp(k->name, "prune") == 0) {
		json_t *args = json_object(), *cred = maintenance_credential(srv, hid);
		if (args)
			queue_job(srv, hid, "prune", args, NULL, cred);
		json_decref(args);
		json_decref(cred);
	} else if (strcmp(k->name, "stats") == 0) {
		json_t *args = json_object(); /* no mode: restore size, then raw size and locks */
		if (args)
			queue_job(srv, hid, "stats", args, NULL, NULL);
		json_decref(args);
	} else {
		json_t *args = s->subset ? json_pack("{s:s}", "read_data_subset", s->subset) : json_object();
		if (args)
			queue_job(srv, hid, "check", args, NULL, NULL);
		json_decref(args);
	}
}

void maintenance_job_finished(struct server *srv, const struct store_job *j)
{
	const struct maint_kind *k = &kinds[ARRAY_LEN(kinds) - 1]; /* stats */
	struct store_sched_state st;
	struct store_host h;
	struct maint_setting s;
	json_t *settings;
	bool known;

	if (strcmp(j->kind, "backup") != 0 || (strcmp(j->status, "succeeded") != 0 && strcmp(j->status, "warning") != 0))
		return;
	if (store_host_get(srv->store, j->host_id, &h) < 0)
		return;
	known = h.has_repo_size;
	store_host_release(&h);
	if (known || store_sched_state_get(srv->store, j->host_id, &st) < 0)
		return;
	settings = json_loads(st.maintenance, 0, NULL);
	setting_get(settings, k, &s);
	json_decref(settings);
	store_sched_state_release(&st);
	if (!s.enabled || has_pending(srv, j->host_id, k->name))
		return;
	store_sched_state_set_maint_last(srv->store, j->host_id, k->name, util_now());
	run_kind(srv, j->host_id, k, &s);
}

static void maintain_host(struct server *srv, int64_t hid, int64_t now)
{
	struct store_sched_state st;
	json_t *settings;

	if (!agentd_is_online(srv, hid) || store_sched_state_get(srv->store, hid, &st) < 0)
		return;
	settings = json_loads(st.maintenance, 0, NULL);
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		struct maint_setting s;
		int64_t last = last_of(&st, kinds[i].name);
		setting_get(settings, &kinds[i], &s);
		if (!s.enabled)
			continue;
		if (last == 0) {
			store_sched_state_set_maint_last(srv->store, hid, kinds[i].name, now);
			continue;
		}
		if (now - last < s.every_hours * 3600 || has_pending(srv, hid, kinds[i].name))
			continue;
		store_sched_state_set_maint_last(srv->store, hid, kinds[i].name, now);
		run_kind(srv, hid, &kinds[i], &s);
	}
	json_decref(settings);
	store_sched_state_release(&st);
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Look at up to MAINT_BATCH online hosts after the cursor (wrapping), so a
 * large fleet costs a bounded slice of loop time per tick. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	int64_t *ids = NULL, now = util_now();
	size_t n = 0, start = 0, done = 0;

	(void)fd;
	(void)what;
	if (srv->draining || store_host_online_ids(srv->store, &ids, &n) < 0)
		return;
	qsort(ids, n, sizeof(*ids), cmp_id);
	while (start < n && ids[start] <= maint_cursor)
		start++;
	if (start == n)
		start = 0;
	for (size_t k = 0; k < n && done < MAINT_BATCH; k++, done++) {
		size_t i = (start + k) % n;
		maintain_host(srv, ids[i], now);
		maint_cursor = ids[i];
	}
	free(ids);
}

int maintenance_start(struct server *srv)
{
	const char *hook = getenv("RM_TEST_MAINTENANCE_TICK_SECONDS");
	int64_t secs = MAINT_TICK_S;
	struct timeval tv;

	if (hook && *hook) {
		if (util_parse_i64(hook, 1, 3600, &secs) < 0) {
			log_error("RM_TEST_MAINTENANCE_TICK_SECONDS must be an integer number of seconds in [1, 3600]");
			return -EINVAL;
		}
		log_warnx("test hook RM_TEST_MAINTENANCE_TICK_SECONDS=%lld", (long long)secs);
	}
	maint_timer = event_new(srv->base, -1, EV_PERSIST, on_tick, srv);
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = 0;
	if (!maint_timer || event_add(maint_timer, &tv) < 0) {
		log_error("cannot start the maintenance timer");
		return -ENOMEM;
	}
	return 0;
}

void maintenance_stop(struct server *srv)
{
	(void)srv;
	if (maint_timer)
		event_free(maint_timer);
	maint_timer = NULL;
}

/* ---- API ---- */

static int host_param(struct http_ctx *c, int64_t *hid, struct store_host *h)
{
	int r;

	if (http_param_id(c, 0, hid) < 0)
		return -1;
	r = store_host_get(c->srv->store, *hid, h);
	if (r < 0) {
		http_reply_error(c, r == -ENOENT ? 404 : 503, r == -ENOENT ? "not_found" : "unavailable",
				 r == -ENOENT ? "no such host" : "cannot read the host now");
		return -1;
	}
	return 0;
}

/* Copy a string field of at most 255 bytes (agent input). */
static void lock_copy_str(json_t *to, json_t *from, const char *k)
{
	json_t *v = json_object_get(from, k);
	if (json_is_string(v) && json_string_length(v) <= 255)
		json_object_set(to, k, v);
}

json_t *maintenance_locks_view(struct server *srv, const struct store_host *h, json_t *locks)
{
	json_t *out = json_array(), *l;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(locks, i, l)
	{
		json_t *c, *th = json_object_get(l, "this_host"), *alive = json_object_get(l, "pid_alive");
		const char *holder = json_string_value(json_object_get(l, "host"));
		bool mine;
		if (i >= MAINT_LOCKS_MAX)
			break;
		if (!json_is_object(l) || !(c = json_object()))
			continue;
		/* The agent compares the holder with its machine's name (restic's
		 * word); reports of older agents: the host's name here. */
		mine = json_is_boolean(th) ? json_is_true(th) : (holder && strcmp(holder, h->name) == 0);
		if (json_is_integer(json_object_get(l, "pid")))
			json_object_set(c, "pid", json_object_get(l, "pid"));
		lock_copy_str(c, l, "host");
		lock_copy_str(c, l, "user");
		lock_copy_str(c, l, "time");
		lock_copy_str(c, l, "age");
		json_object_set_new(c, "exclusive", json_boolean(json_is_true(json_object_get(l, "exclusive"))));
		json_object_set_new(c, "held_by_this_host", json_boolean(mine));
		json_object_set_new(c, "job_running", json_boolean(mine && h->running_job_id[0]));
		json_object_set_new(c, "agent_online", json_boolean(mine && agentd_is_online(srv, h->id)));
		/* stale: this host's restic that took it was gone when reported */
		json_object_set_new(c, "stale",
		                    mine && json_is_boolean(alive) ? json_boolean(!json_is_true(alive)) : json_null());
		json_array_append_new(out, c);
	}
	return out;
}

static json_t *maint_json(struct server *srv, const struct store_host *h)
{
	struct store_sched_state st;
	unsigned char *blob = NULL;
	size_t blen = 0;
	json_t *o, *settings, *stats = NULL, *locks;
	char ts[32];

	if (store_sched_state_get(srv->store, h->id, &st) < 0)
		return NULL;
	settings = json_loads(st.maintenance, 0, NULL);
	o = json_object();
	for (size_t i = 0; o && i < ARRAY_LEN(kinds); i++) {
		struct maint_setting s;
		int64_t last = last_of(&st, kinds[i].name);
		json_t *k;
		setting_get(settings, &kinds[i], &s);
		k = json_pack("{s:b,s:I}", "enabled", s.enabled, "every_hours", (json_int_t)s.every_hours);
		if (!k)
			continue;
		if (last) {
			util_time_rfc3339(last, ts);
			json_object_set_new(k, "last_queued", json_string(ts));
			util_time_rfc3339(last + s.every_hours * 3600, ts);
			json_object_set_new(k, "next_due", json_string(ts));
		} else {
			json_object_set_new(k, "last_queued", json_null());
			json_object_set_new(k, "next_due", json_null());
		}
		if (strcmp(kinds[i].name, "check") == 0)
			json_object_set_new(k, "read_data_subset", s.subset ? json_string(s.subset) : json_null());
		json_object_set_new(o, kinds[i].name, k);
	}
	json_decref(settings);
	store_sched_state_release(&st);
	if (!o)
		return NULL;
	store_sched_state_get_secret(srv->store, h->id, &blob, &blen);
	json_object_set_new(o, "privileged_credential", json_boolean(blob != NULL));
	free(blob);
	/* Repository health from the agent's repo.stats: last check and locks. */
	store_repo_stats_get(srv->store, h->id, &stats);
	json_object_set(o, "last_check", json_object_get(stats, "check") ? json_object_get(stats, "check")
									    : json_null());
	locks = maintenance_locks_view(srv, h, json_object_get(stats, "locks"));
	json_object_set_new(o, "locks", locks ? locks : json_array());
	json_decref(stats);
	return o;
}

void api_maintenance_get(struct http_ctx *c)
{
	struct store_host h;
	int64_t hid;

	if (host_param(c, &hid, &h) < 0)
		return;
	json_t *o = maint_json(c->srv, &h);
	store_host_release(&h);
	if (!o)
		http_reply_error(c, 503, "unavailable", "cannot read the maintenance settings now");
	else
		http_reply_json(c, 200, o);
}

static bool subset_is_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789./%KMGTkmgt", s[i]))
			return false;
	return true;
}

void api_maintenance_put(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_sched_state st;
	struct store_host h;
	json_t *body = http_body_object(c), *settings = NULL, *val;
	const char *key;
	char target[32];
	bool cred_given = false;
	const char *cred = NULL;
	int64_t hid;
	int r;

	if (!body || host_param(c, &hid, &h) < 0)
		return;
	json_object_foreach(body, key, val)
	{
		const struct maint_kind *k = NULL;
		for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
			if (strcmp(key, kinds[i].name) == 0)
				k = &kinds[i];
		if (strcmp(key, "privileged_password") == 0) {
			cred_given = true;
			if (!json_is_null(val) && (!json_is_string(val) || json_string_length(val) < 1 ||
						   json_string_length(val) > MAINT_SECRET_MAX ||
						   strlen(json_string_value(val)) != json_string_length(val))) {
				http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
						 "field 'privileged_password' must be a string of 1 to %d bytes or null",
						 MAINT_SECRET_MAX);
				goto out;
			}
			cred = json_string_value(val);
			continue;
		}
		if (!k) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "unknown field (use forget, prune, check, stats, privileged_password)");
			goto out;
		}
		if (!json_is_object(val)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be an object", k->name);
			goto out;
		}
		const char *f;
		json_t *fv;
		json_object_foreach(val, f, fv)
		{
			bool ok = (strcmp(f, "enabled") == 0 && json_is_boolean(fv)) ||
				  (strcmp(f, "every_hours") == 0 && json_is_integer(fv) && json_integer_value(fv) >= 1 &&
				   json_integer_value(fv) <= MAINT_MAX_HOURS) ||
				  (strcmp(k->name, "check") == 0 && strcmp(f, "read_data_subset") == 0 &&
				   (json_is_null(fv) || (json_is_string(fv) && subset_is_valid(json_string_value(fv)))));
			if (!ok) {
				http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
						 "field '%s.%s' is unknown or invalid (enabled: boolean, every_hours: 1 to "
						 "%d%s)",
						 k->name, strlen(f) < 40 ? f : "?", MAINT_MAX_HOURS,
						 strcmp(k->name, "check") == 0 ? ", read_data_subset: like \"5%\" or "
										 "\"1/10\" or null"
									       : "");
				goto out;
			}
		}
	}
	if (store_sched_state_get(srv->store, hid, &st) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the maintenance settings now");
		goto out;
	}
	settings = json_loads(st.maintenance, 0, NULL);
	store_sched_state_release(&st);
	if (!json_is_object(settings)) {
		json_decref(settings);
		settings = json_object();
	}
	json_object_foreach(body, key, val)
	{
		if (strcmp(key, "privileged_password") == 0)
			continue;
		json_t *cur = json_object_get(settings, key);
		if (!json_is_object(cur)) {
			cur = json_object();
			json_object_set_new(settings, key, cur);
		}
		json_object_update(cur, val);
		if (json_is_null(json_object_get(cur, "read_data_subset")))
			json_object_del(cur, "read_data_subset");
	}
	char *text = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char *blob = NULL;
	size_t blen = 0;
	r = text ? 0 : -ENOMEM;
	if (r == 0 && cred) {
		char ad[64];
		snprintf(ad, sizeof(ad), "host:%lld:maintenance", (long long)hid);
		r = secrets_seal(srv->secrets, cred, strlen(cred), ad, &blob, &blen);
	}
	if (r == 0)
		r = store_begin(srv->store);
	if (r == 0) {
		r = store_sched_state_set_maintenance(srv->store, hid, text);
		if (r == 0 && cred_given)
			r = store_sched_state_set_secret(srv->store, hid, blob, blen);
		if (r == 0)
			r = store_commit(srv->store);
		else
			store_rollback(srv->store);
	}
	free(text);
	free(blob);
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the maintenance settings now");
		goto out;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log(srv, c, "maintenance.update", target, "ok",
		  json_pack("{s:O,s:s}", "settings", settings, "privileged_credential",
			    !cred_given ? "unchanged" : cred ? "set" : "cleared"));
	json_t *o = maint_json(srv, &h);
	if (!o)
		http_reply_error(c, 503, "unavailable", "cannot read the maintenance settings now");
	else
		http_reply_json(c, 200, o);
out:
	json_decref(settings);
	store_host_release(&h);
}

/*
 * schedules.c — source groups and schedules beyond the HTTP handlers (see
 * schedules.h): the `default` group, the agent's schedule document, version
 * bumps with their `schedule` command, host time zones, API JSON forms.
 * Loop thread only.
 *
 * Hooks are sealed at rest (AD "source:<id>:hooks") and unsealed only to
 * build the agent's schedule document.  They are never part of job
 * arguments (jobs_group_args): the agent applies the hooks of a group from
 * its cached schedule, so hook commands never land in job rows or the API.
 */
#include "server/schedules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "server/api_agent.h"
#include "server/api_jobs.h"
#include "server/maintenance.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_hosts.h"

int sources_ensure_default(struct server *srv, int64_t host_id)
{
	struct store_sched_state ss;
	struct store_host h;
	struct store_source s;
	int r = store_sched_state_get(srv->store, host_id, &ss);

	if (r < 0)
		return r;
	bool ready = ss.sources_ready;
	store_sched_state_release(&ss);
	if (ready)
		return 0;
	r = store_host_get(srv->store, host_id, &h);
	if (r < 0)
		return r;
	memset(&s, 0, sizeof(s));
	s.host_id = host_id;
	util_strlcpy(s.name, "default", sizeof(s.name));
	s.paths = strdup(h.paths && h.paths[0] ? h.paths : "[]");
	s.excludes = strdup("[]");
	s.retention = strdup("{}");
	store_host_release(&h);
	if (!s.paths || !s.excludes || !s.retention) {
		store_source_release(&s);
		return -ENOMEM;
	}
	s.retry_count = 0;
	s.retry_backoff = 300;
	s.created_at = util_now();
	r = store_begin(srv->store);
	if (r == 0) {
		r = store_source_insert(srv->store, &s);
		if (r == -EEXIST)
			r = 0;
	}
	if (r == 0)
		r = store_sched_state_set_ready(srv->store, host_id);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	store_source_release(&s);
	return r;
}

static json_t *json_parse_or(const char *text, json_t *fallback)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	if (!v)
		return fallback;
	json_decref(fallback);
	return v;
}

/* The group as the agent sees it (hooks in clear when with_hooks). */
static json_t *group_doc(struct server *srv, const struct store_source *s, bool with_hooks)
{
	json_t *o = json_pack("{s:I,s:s,s:o,s:o,s:o,s:{s:I,s:I}}", "id", (json_int_t)s->id, "name", s->name, "paths",
			      json_parse_or(s->paths, json_array()), "excludes", json_parse_or(s->excludes, json_array()),
			      "retention", json_parse_or(s->retention, json_object()), "retry", "count",
			      (json_int_t)s->retry_count, "backoff_seconds", (json_int_t)s->retry_backoff);
	if (o)
		json_object_set_new(o, "use_fs_snapshot", json_boolean(s->use_fs_snapshot));
	if (!o || !with_hooks || !s->hooks)
		return o;
	char ad[64], *pt = NULL;
	size_t ptlen = 0;
	snprintf(ad, sizeof(ad), "source:%lld:hooks", (long long)s->id);
	if (secrets_unseal(srv->secrets, s->hooks, s->hooks_len, ad, &pt, &ptlen) == 0) {
		json_t *h = json_loadb(pt, ptlen, 0, NULL);
		if (h)
			json_object_set_new(o, "hooks", h);
		secrets_free_plain(pt);
	} else {
		log_warnx("cannot unseal the hooks of source group %lld", (long long)s->id);
	}
	return o;
}

static json_t *schedule_doc(const struct store_schedule *s)
{
	return json_pack("{s:I,s:s,s:o,s:b,s:I}", "id", (json_int_t)s->id, "cron", s->cron, "groups",
			 json_parse_or(s->groups, json_array()), "enabled", s->enabled, "random_delay_seconds",
			 (json_int_t)s->random_delay);
}

json_t *schedules_host_limits_json(struct server *srv, int64_t host_id)
{
	struct store_host h;
	int64_t up = 0, down = 0;
	if (store_host_get(srv->store, host_id, &h) == 0) {
		up = h.limit_upload_kib;
		down = h.limit_download_kib;
		store_host_release(&h);
	}
	return json_pack("{s:I,s:I}", "upload_kbps", (json_int_t)up, "download_kbps", (json_int_t)down);
}

int schedules_agent_doc(struct server *srv, int64_t host_id, int64_t version, bool with_hooks, json_t **out)
{
	struct store_source *gs = NULL;
	struct store_schedule *ss = NULL;
	struct store_sched_state st;
	size_t ng = 0, ns = 0;
	json_t *doc, *groups, *scheds;
	int r;

	r = store_sched_state_get(srv->store, host_id, &st);
	if (r < 0)
		return r;
	if (version < 0)
		version = st.version;
	doc = json_pack("{s:I,s:s,s:o}", "version", (json_int_t)version, "timezone", st.timezone, "limits",
	                schedules_host_limits_json(srv, host_id));
	store_sched_state_release(&st);
	groups = json_array();
	scheds = json_array();
	if (!doc || !groups || !scheds) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = store_source_list(srv->store, host_id, &gs, &ng)) < 0 ||
	    (r = store_schedule_list(srv->store, host_id, &ss, &ns)) < 0)
		goto fail;
	for (size_t i = 0; i < ng; i++)
		json_array_append_new(groups, group_doc(srv, &gs[i], with_hooks));
	for (size_t i = 0; i < ns; i++)
		json_array_append_new(scheds, schedule_doc(&ss[i]));
	json_object_set_new(doc, "groups", groups);
	json_object_set_new(doc, "schedules", scheds);
	store_sources_free(gs, ng);
	store_schedules_free(ss, ns);
	*out = doc;
	return 0;
fail:
	store_sources_free(gs, ng);
	store_schedules_free(ss, ns);
	json_decref(doc);
	json_decref(groups);
	json_decref(scheds);
	return r;
}

int schedules_changed(struct server *srv, int64_t host_id, int64_t *version)
{
	json_t *doc = NULL, *cmd;
	int64_t v, seq;
	int r = store_sched_bump_version(srv->store, host_id, &v);

	if (r < 0)
		return r;
	/* Without hooks: the command row is not sealed; hooks are added on delivery. */
	r = schedules_agent_doc(srv, host_id, v, false, &doc);
	if (r < 0)
		return r;
	cmd = json_pack("{s:s,s:o}", "type", "schedule", "schedule", doc);
	if (!cmd)
		return -ENOMEM;
	r = store_cmd_enqueue(srv->store, host_id, "schedule", NULL, cmd, util_now(), &seq);
	json_decref(cmd);
	if (r == 0 && version)
		*version = v;
	return r;
}

/* Strong definition of the hook in api_agent.h: the schedule in hello. */
json_t *agent_schedule_json(struct server *srv, int64_t host_id)
{
	json_t *doc = NULL;

	if (sources_ensure_default(srv, host_id) < 0 || schedules_agent_doc(srv, host_id, -1, true, &doc) < 0) {
		log_warnx("cannot build the schedule of host %lld", (long long)host_id);
		return json_pack("{s:i,s:[],s:[]}", "version", 0, "groups", "schedules");
	}
	return doc;
}

/* Strong definition of the hook in api_jobs.h: a job's group settings. */
int jobs_group_args(struct server *srv, int64_t host_id, const char *kind, const char *group, json_t *args)
{
	struct store_source s;
	int r;

	sources_ensure_default(srv, host_id);
	r = store_source_get(srv->store, host_id, 0, group, &s);
	if (r < 0)
		return r == -ENOENT ? -ENOENT : r;
	if (strcmp(kind, "backup") == 0) {
		json_object_set_new(args, "paths", json_parse_or(s.paths, json_array()));
		json_object_set_new(args, "excludes", json_parse_or(s.excludes, json_array()));
		json_object_set_new(args, "tags", json_pack("[s]", s.name));
		if (s.use_fs_snapshot)
			json_object_set_new(args, "use_fs_snapshot", json_true());
	} else if (strcmp(kind, "forget") == 0) {
		json_t *ret = json_parse_or(s.retention, json_object());
		json_object_update(args, ret);
		json_decref(ret);
		json_object_set_new(args, "tags", json_pack("[s]", s.name));
	}
	store_source_release(&s);
	return 0;
}

int schedules_host_zone(struct server *srv, int64_t host_id, struct tz_zone **z, char *name)
{
	struct store_sched_state st;
	int r = store_sched_state_get(srv->store, host_id, &st);

	util_strlcpy(name, "UTC", TZ_NAME_MAX + 1);
	if (r == 0 && st.timezone[0] && tz_zone_load(st.timezone, z) == 0) {
		util_strlcpy(name, st.timezone, TZ_NAME_MAX + 1);
		store_sched_state_release(&st);
		return 0;
	}
	if (r == 0)
		store_sched_state_release(&st);
	return tz_zone_fixed(0, z);
}

int schedules_set_host_timezone(struct server *srv, int64_t host_id, const char *name)
{
	struct tz_zone *z = NULL;
	struct store_sched_state st;
	int r;

	if (!name || !tz_is_valid_name(name) || tz_zone_load(name, &z) < 0)
		return -EINVAL;
	tz_zone_free(z);
	r = store_sched_state_get(srv->store, host_id, &st);
	if (r < 0)
		return r;
	bool same = strcmp(st.timezone, name) == 0;
	store_sched_state_release(&st);
	return same ? 0 : store_sched_state_set_timezone(srv->store, host_id, name);
}

void schedules_time_local(int64_t t, const struct tz_zone *z, char buf[32])
{
	int32_t off = tz_zone_offset(z, t);
	int64_t local = t + off, y;
	int m, d, aoff = off < 0 ? -off : off;
	int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	int64_t sod = local - days * 86400;

	tz_civil_from_days(days, &y, &m, &d);
	snprintf(buf, 32, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (long long)y, m, d, (int)(sod / 3600),
		 (int)(sod % 3600 / 60), (int)(sod % 60), off < 0 ? '-' : '+', aoff / 3600, aoff % 3600 / 60);
}

json_t *schedules_source_json(struct server *srv, const struct store_source *s)
{
	json_t *o = group_doc(srv, s, false);
	char ts[32];

	if (!o)
		return NULL;
	/* Hook commands are sealed secrets: the API tells only whether they are set. */
	json_t *hooks = json_pack("{s:b,s:b}", "pre", false, "post", false);
	if (s->hooks) {
		json_t *full = group_doc(srv, s, true), *h = full ? json_object_get(full, "hooks") : NULL;
		if (h) {
			json_object_set_new(hooks, "pre", json_boolean(json_object_get(h, "pre") != NULL));
			json_object_set_new(hooks, "post", json_boolean(json_object_get(h, "post") != NULL));
		}
		json_decref(full);
	}
	json_object_set_new(o, "hooks_set", hooks);
	json_object_set_new(o, "host_id", json_integer(s->host_id));
	util_time_rfc3339(s->created_at, ts);
	json_object_set_new(o, "created_at", json_string(ts));
	util_time_rfc3339(s->updated_at, ts);
	json_object_set_new(o, "updated_at", json_string(ts));
	return o;
}

json_t *schedules_schedule_json(const struct store_schedule *s, const struct tz_zone *z, const char *tzname,
				int64_t now)
{
	json_t *o = schedule_doc(s), *runs = json_array();
	struct cron_expr e;
	char desc[CRON_DESC_MAX], ts[32];
	int64_t t[SCHEDULES_NEXT_RUNS];

	if (!o || !runs) {
		json_decref(o);
		json_decref(runs);
		return NULL;
	}
	desc[0] = '\0';
	if (cron_parse(s->cron, &e, NULL, 0) == 0) {
		cron_describe(&e, desc, sizeof(desc));
		int n = s->enabled ? cron_next_n(&e, z, now, t, SCHEDULES_NEXT_RUNS) : 0;
		for (int i = 0; i < n; i++) {
			schedules_time_local(t[i], z, ts);
			json_array_append_new(runs, json_string(ts));
		}
	}
	json_object_set_new(o, "host_id", json_integer(s->host_id));
	json_object_set_new(o, "description", json_string(desc));
	json_object_set_new(o, "next_runs", runs);
	json_object_set_new(o, "timezone", json_string(tzname));
	util_time_rfc3339(s->created_at, ts);
	json_object_set_new(o, "created_at", json_string(ts));
	util_time_rfc3339(s->updated_at, ts);
	json_object_set_new(o, "updated_at", json_string(ts));
	return o;
}

void schedules_expand_commands(struct server *srv, int64_t host_id, json_t *cmds)
{
	json_t *c, *g, *limits = NULL;
	size_t i, k;

	json_array_foreach(cmds, i, c)
	{
		const char *type = json_string_value(json_object_get(c, "type"));
		const char *kind = json_string_value(json_object_get(c, "kind"));
		bool privileged = kind && (strcmp(kind, "prune") == 0 || strcmp(kind, "unlock") == 0);
		/* Every job runs with the host's current bandwidth limits. */
		if (type && strcmp(type, "run") == 0) {
			if (!limits)
				limits = schedules_host_limits_json(srv, host_id);
			if (limits)
				json_object_set(c, "limits", limits);
		}
		if (type && strcmp(type, "run") == 0 && (privileged || json_object_get(c, "credential"))) {
			json_t *cred = maintenance_credential(srv, host_id);
			if (cred)
				json_object_set_new(c, "credential", cred);
			else
				json_object_del(c, "credential");
			continue;
		}
		if (!type || strcmp(type, "schedule") != 0)
			continue;
		json_array_foreach(json_object_get(json_object_get(c, "schedule"), "groups"), k, g)
		{
			struct store_source s;
			json_t *id = json_object_get(g, "id");
			if (!json_is_integer(id) ||
			    store_source_get(srv->store, host_id, json_integer_value(id), NULL, &s) < 0)
				continue;
			if (s.hooks) {
				json_t *full = group_doc(srv, &s, true), *h = json_object_get(full, "hooks");
				if (h)
					json_object_set(g, "hooks", h);
				json_decref(full);
			}
			store_source_release(&s);
		}
	}
	json_decref(limits);
}

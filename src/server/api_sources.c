/*
 * api_sources.c — /api/v1/hosts/{id}/sources: source groups (name = restic
 * tag, include paths, excludes, retention, retry policy for missed runs,
 * pre/post-backup hooks sealed at rest, use_fs_snapshot: VSS on Windows).  Loop thread.
 *
 * {id} of a group is its numeric id or its name.  POST and PUT take the
 * whole group (absent optional fields get their defaults; PUT without
 * "hooks" keeps the stored hooks, "hooks": null clears them); PATCH changes
 * only the fields given.  Every change bumps the host's schedule version and
 * queues a `schedule` command (schedules.c) in the same transaction.  Hook
 * commands are never returned: "hooks_set" says which are present.
 */
#include "server/api_sources.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "server/agentd.h"
#include "server/audit.h"
#include "server/schedules.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_sources.h"

#define SOURCES_MAX_PATHS 256
#define SOURCES_MAX_EXCLUDES 1024
#define SOURCES_PATH_MAX 4096
#define SOURCES_HOOK_MAX 8192
#define SOURCES_RETRY_MAX 100
#define SOURCES_BACKOFF_MAX 86400

static const char *const retention_counts[] = {"keep_last",   "keep_hourly",  "keep_daily",
					       "keep_weekly", "keep_monthly", "keep_yearly"};

bool sources_name_is_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > STORE_GROUP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (!alnum && (i == 0 || (ch != '.' && ch != '_' && ch != '-')))
			return false;
	}
	return true;
}

/* restic durations: one or more <number><y|m|d|h>, e.g. "1y6m", "30d". */
static bool duration_is_valid(const char *s)
{
	size_t n = strlen(s), digits = 0;

	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (++digits > 6)
				return false;
		} else if (digits && (s[i] == 'y' || s[i] == 'm' || s[i] == 'd' || s[i] == 'h')) {
			digits = 0;
		} else {
			return false;
		}
	}
	return digits == 0;
}

static bool text_is_clean(json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);

	if (!s || len < 1 || len > max || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return true;
}

/* Validate an array of path strings.  Return JSON text (malloc'd) or NULL after replying. */
static char *str_array(struct http_ctx *c, json_t *v, const char *field, size_t min, size_t max)
{
	json_t *e;
	size_t i;

	if (!json_is_array(v) || json_array_size(v) < min || json_array_size(v) > max) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be an array of %zu to %zu strings%s",
				 field, min, max, min ? " (the include list cannot be empty)" : "");
		return NULL;
	}
	json_array_foreach(v, i, e)
	{
		if (!text_is_clean(e, SOURCES_PATH_MAX)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field '%s' must hold strings of 1 to %d bytes without control characters", field,
					 SOURCES_PATH_MAX);
			return NULL;
		}
	}
	char *s = json_dumps(v, JSON_COMPACT);
	if (!s)
		http_reply_error(c, 503, "out_of_memory", "try again later");
	return s;
}

static char *retention_text(struct http_ctx *c, json_t *v)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'retention' must be an object");
		return NULL;
	}
	json_object_foreach(v, key, val)
	{
		bool known = false;
		for (size_t i = 0; i < ARRAY_LEN(retention_counts); i++) {
			if (strcmp(key, retention_counts[i]) != 0)
				continue;
			known = true;
			if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > 1000000) {
				http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
						 "field 'retention.%s' must be an integer from 0 to 1000000", key);
				return NULL;
			}
		}
		if (strcmp(key, "keep_within") == 0) {
			known = true;
			if (!json_is_string(val) || !duration_is_valid(json_string_value(val))) {
				http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
						 "field 'retention.keep_within' must be a duration like \"30d\" or \"1y6m\"");
				return NULL;
			}
		}
		if (!known) {
			char k[40];
			util_strlcpy(k, key, sizeof(k));
			for (char *p = k; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == '\'')
					*p = '?';
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field 'retention.%s' is unknown (use keep_last, keep_hourly, keep_daily, "
					 "keep_weekly, keep_monthly, keep_yearly, keep_within)",
					 k);
			return NULL;
		}
	}
	char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		http_reply_error(c, 503, "out_of_memory", "try again later");
	return s;
}

static int retry_fields(struct http_ctx *c, json_t *v, struct store_source *s)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'retry' must be an object");
		return -1;
	}
	json_object_foreach(v, key, val)
	{
		int64_t max = strcmp(key, "count") == 0 ? SOURCES_RETRY_MAX
			    : strcmp(key, "backoff_seconds") == 0 ? SOURCES_BACKOFF_MAX
								  : -1;
		if (max < 0) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field 'retry' takes only 'count' and 'backoff_seconds'");
			return -1;
		}
		if (!json_is_integer(val) || json_integer_value(val) < 0 || json_integer_value(val) > max) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'retry.%s' must be an integer from 0 to %lld",
					 key, (long long)max);
			return -1;
		}
		if (strcmp(key, "count") == 0)
			s->retry_count = json_integer_value(val);
		else
			s->retry_backoff = json_integer_value(val);
	}
	return 0;
}

/* Validate hooks: null or {"pre"?, "post"?}. OUT: *out (new ref or NULL for "none"). */
static int hooks_value(struct http_ctx *c, json_t *v, json_t **out)
{
	const char *key;
	json_t *val;

	*out = NULL;
	if (json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'hooks' must be an object or null");
		return -1;
	}
	json_object_foreach(v, key, val)
	{
		if (strcmp(key, "pre") != 0 && strcmp(key, "post") != 0) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field 'hooks' takes only 'pre' and 'post': hooks run only around backups, "
					 "not around other job kinds");
			return -1;
		}
		if (json_is_null(val))
			continue;
		if (!json_is_string(val) || json_string_length(val) < 1 || json_string_length(val) > SOURCES_HOOK_MAX ||
		    strlen(json_string_value(val)) != json_string_length(val)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'hooks.%s' must be a command of 1 to %d bytes",
					 key, SOURCES_HOOK_MAX);
			return -1;
		}
	}
	json_t *h = json_object();
	json_object_foreach(v, key, val)
	{
		if (!json_is_null(val))
			json_object_set(h, key, val);
	}
	if (json_object_size(h) == 0) {
		json_decref(h);
		return 0;
	}
	*out = h;
	return 0;
}

static void set_owned(char **dst, char *v)
{
	free(*dst);
	*dst = v;
}

/* Apply body onto s.  full: absent optional fields reset to defaults.
 * OUT: *hooks_given, *hooks.  Return 0 or -1 after replying. */
static int source_apply(struct http_ctx *c, json_t *body, bool full, bool creating, struct store_source *s,
			bool *hooks_given, json_t **hooks)
{
	static const char *const known[] = {"name",  "paths", "excludes",       "retention",
					    "retry", "hooks", "use_fs_snapshot"};
	const char *key, *name;
	json_t *val, *v;
	char *t;

	*hooks_given = false;
	*hooks = NULL;
	json_object_foreach(body, key, val)
	{
		bool ok = false;
		for (size_t i = 0; i < ARRAY_LEN(known); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok && strcmp(key, "id") != 0 && strcmp(key, "host_id") != 0 && strcmp(key, "hooks_set") != 0 &&
		    strcmp(key, "created_at") != 0 && strcmp(key, "updated_at") != 0) {
			char k[40];
			util_strlcpy(k, key, sizeof(k));
			for (char *p = k; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == '\'')
					*p = '?';
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' is unknown", k);
			return -1;
		}
	}
	if (http_json_str(c, body, "name", 1, STORE_GROUP_NAME_MAX, creating, &name) < 0)
		return -1;
	if (name) {
		if (!sources_name_is_valid(name)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field 'name' must be 1 to %d letters, digits, '.', '_' or '-', starting with a "
					 "letter or digit",
					 STORE_GROUP_NAME_MAX);
			return -1;
		}
		util_strlcpy(s->name, name, sizeof(s->name));
	}
	v = json_object_get(body, "paths");
	if (v || full) {
		if (!v) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'paths' is required");
			return -1;
		}
		if (!(t = str_array(c, v, "paths", 1, SOURCES_MAX_PATHS)))
			return -1;
		set_owned(&s->paths, t);
	}
	v = json_object_get(body, "excludes");
	if (v && !json_is_null(v)) {
		if (!(t = str_array(c, v, "excludes", 0, SOURCES_MAX_EXCLUDES)))
			return -1;
		set_owned(&s->excludes, t);
	} else if (full) {
		set_owned(&s->excludes, strdup("[]"));
	}
	v = json_object_get(body, "retention");
	if (v && !json_is_null(v)) {
		if (!(t = retention_text(c, v)))
			return -1;
		set_owned(&s->retention, t);
	} else if (full) {
		set_owned(&s->retention, strdup("{}"));
	}
	if (full) {
		s->retry_count = 0;
		s->retry_backoff = 300;
	}
	v = json_object_get(body, "retry");
	if (v && !json_is_null(v) && retry_fields(c, v, s) < 0)
		return -1;
	v = json_object_get(body, "use_fs_snapshot");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'use_fs_snapshot' must be a boolean");
			return -1;
		}
		s->use_fs_snapshot = json_is_true(v);
	} else if (full) {
		s->use_fs_snapshot = false;
	}
	v = json_object_get(body, "hooks");
	if (v) {
		if (hooks_value(c, v, hooks) < 0)
			return -1;
		*hooks_given = true;
	}
	if (!s->paths || !s->excludes || !s->retention) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return -1;
	}
	return 0;
}

/* Seal hooks for source id and store them (NULL clears). */
static int store_hooks(struct server *srv, int64_t id, json_t *hooks)
{
	unsigned char *blob = NULL;
	size_t len = 0;
	char ad[64], *pt;
	int r;

	if (!hooks)
		return store_source_set_hooks(srv->store, id, NULL, 0);
	pt = json_dumps(hooks, JSON_COMPACT | JSON_SORT_KEYS);
	if (!pt)
		return -ENOMEM;
	snprintf(ad, sizeof(ad), "source:%lld:hooks", (long long)id);
	r = secrets_seal(srv->secrets, pt, strlen(pt), ad, &blob, &len);
	secrets_free_plain(pt);
	if (r < 0)
		return r;
	r = store_source_set_hooks(srv->store, id, blob, len);
	free(blob);
	return r;
}

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
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the host now");
		return -1;
	}
	store_host_release(&h);
	if (sources_ensure_default(c->srv, *hid) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the source groups now");
		return -1;
	}
	return 0;
}

/* Group {1} (id or name) of host hid.  Return 0 or -1 after replying. */
static int source_param(struct http_ctx *c, int64_t hid, struct store_source *s)
{
	const char *p = c->params[1];
	int64_t id = 0;
	int r;

	if (!p || !*p) {
		http_reply_error(c, 404, "not_found", "no such source group");
		return -1;
	}
	if (util_parse_i64(p, 1, INT64_MAX, &id) == 0)
		r = store_source_get(c->srv->store, hid, id, NULL, s);
	else
		r = sources_name_is_valid(p) ? store_source_get(c->srv->store, hid, 0, p, s) : -ENOENT;
	if (r == -ENOENT) {
		http_reply_error(c, 404, "not_found", "no such source group");
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the source group now");
		return -1;
	}
	return 0;
}

static void reply_source(struct http_ctx *c, int status, int64_t hid, int64_t id)
{
	struct store_source s;

	if (store_source_get(c->srv->store, hid, id, NULL, &s) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the source group now");
		return;
	}
	json_t *o = schedules_source_json(c->srv, &s);
	store_source_release(&s);
	if (!o)
		http_reply_error(c, 503, "out_of_memory", "try again later");
	else
		http_reply_json(c, status, o);
}

void api_sources_list(struct http_ctx *c)
{
	struct store_source *v = NULL;
	size_t n = 0;
	int64_t hid;
	json_t *items;

	if (host_param(c, &hid) < 0)
		return;
	if (store_source_list(c->srv->store, hid, &v, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the source groups now");
		return;
	}
	items = json_array();
	for (size_t i = 0; items && i < n; i++)
		json_array_append_new(items, schedules_source_json(c->srv, &v[i]));
	store_sources_free(v, n);
	if (!items) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	http_reply_json(c, 200, json_pack("{s:o,s:n}", "items", items, "next"));
}

void api_sources_get(struct http_ctx *c)
{
	struct store_source s;
	int64_t hid;

	if (host_param(c, &hid) < 0 || source_param(c, hid, &s) < 0)
		return;
	json_t *o = schedules_source_json(c->srv, &s);
	store_source_release(&s);
	if (!o)
		http_reply_error(c, 503, "out_of_memory", "try again later");
	else
		http_reply_json(c, 200, o);
}

/* Commit a change: hooks, version bump + schedule command, commit, notify.
 * Return 0 or -errno (rolled back). */
static int finish_change(struct server *srv, int64_t hid, int64_t id, bool hooks_given, json_t *hooks, int r)
{
	if (r == 0 && hooks_given)
		r = store_hooks(srv, id, hooks);
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

void api_sources_create(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_source s;
	json_t *body = http_body_object(c), *hooks = NULL;
	bool hooks_given;
	size_t count = 0;
	struct store_source *all = NULL;
	char target[48];
	int64_t hid;
	int r;

	if (!body || host_param(c, &hid) < 0)
		return;
	memset(&s, 0, sizeof(s));
	s.host_id = hid;
	if (source_apply(c, body, true, true, &s, &hooks_given, &hooks) < 0)
		goto out;
	if (store_source_list(srv->store, hid, &all, &count) == 0)
		store_sources_free(all, count);
	if (count >= SCHEDULES_MAX_GROUPS) {
		http_reply_error(c, 409, "limit_reached", "a host has at most %d source groups", SCHEDULES_MAX_GROUPS);
		goto out;
	}
	s.created_at = util_now();
	if (store_begin(srv->store) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the source group now");
		goto out;
	}
	r = store_source_insert(srv->store, &s);
	if (r == -EEXIST) {
		store_rollback(srv->store);
		http_reply_error(c, 409, "exists", "a source group named '%s' exists on this host", s.name);
		goto out;
	}
	r = finish_change(srv, hid, s.id, hooks_given, hooks, r);
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the source group now");
		goto out;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log(srv, c, "source.create", target, "ok",
		  json_pack("{s:I,s:s,s:b}", "source_id", (json_int_t)s.id, "name", s.name, "hooks", hooks != NULL));
	reply_source(c, 201, hid, s.id);
out:
	json_decref(hooks);
	store_source_release(&s);
}

static void update(struct http_ctx *c, bool full)
{
	struct server *srv = c->srv;
	struct store_source s;
	json_t *body = http_body_object(c), *hooks = NULL;
	bool hooks_given;
	char old_name[STORE_GROUP_NAME_MAX + 1], target[48];
	int64_t hid;
	int r;

	if (!body || host_param(c, &hid) < 0 || source_param(c, hid, &s) < 0)
		return;
	util_strlcpy(old_name, s.name, sizeof(old_name));
	if (source_apply(c, body, full, false, &s, &hooks_given, &hooks) < 0)
		goto out;
	s.updated_at = util_now();
	if (store_begin(srv->store) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the source group now");
		goto out;
	}
	r = store_source_update(srv->store, &s);
	if (r == -EEXIST) {
		store_rollback(srv->store);
		http_reply_error(c, 409, "exists", "a source group named '%s' exists on this host", s.name);
		goto out;
	}
	if (r == 0 && strcmp(old_name, s.name) != 0)
		r = store_schedule_rename_group(srv->store, hid, old_name, s.name);
	r = finish_change(srv, hid, s.id, hooks_given, hooks, r);
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the source group now");
		goto out;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log(srv, c, "source.update", target, "ok",
		  json_pack("{s:I,s:s,s:b}", "source_id", (json_int_t)s.id, "name", s.name, "hooks_changed",
			    hooks_given));
	reply_source(c, 200, hid, s.id);
out:
	json_decref(hooks);
	store_source_release(&s);
}

void api_sources_put(struct http_ctx *c)
{
	update(c, true);
}

void api_sources_patch(struct http_ctx *c)
{
	update(c, false);
}

void api_sources_delete(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_source s;
	char target[48];
	int64_t hid;
	int r;

	if (host_param(c, &hid) < 0 || source_param(c, hid, &s) < 0)
		return;
	r = store_schedule_count_using(srv->store, hid, s.name);
	if (r > 0) {
		http_reply_error(c, 409, "group_in_use",
				 "source group '%s' is used by %d schedule(s): remove it from them first", s.name, r);
		goto out;
	}
	if (r < 0 || store_begin(srv->store) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot delete the source group now");
		goto out;
	}
	r = store_source_delete(srv->store, hid, s.id);
	r = finish_change(srv, hid, s.id, false, NULL, r);
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot delete the source group now");
		goto out;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)hid);
	audit_log(srv, c, "source.delete", target, "ok",
		  json_pack("{s:I,s:s}", "source_id", (json_int_t)s.id, "name", s.name));
	http_reply_empty(c, 204);
out:
	store_source_release(&s);
}

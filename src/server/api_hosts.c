/*
 * api_hosts.c — hosts and enrolment tokens (see api_hosts.h).  Loop thread.
 *
 * An enrolment token is 32 random bytes shown once; only its SHA-256 is
 * stored, with the repository credentials sealed under the AD
 * "enrollment:<id>:repository" (api_agent.c re-seals them to the host at
 * enrolment).  The API never returns repository credentials: the URL is
 * shown with any password in it replaced by "***"; a password the server
 * generated is shown once, in the creation answer, so the operator can
 * keep it for disaster recovery.
 */
#include "server/api_hosts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "server/agentd.h"
#include "server/audit.h"
#include "server/maintenance.h"
#include "server/schedules.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/sse.h"
#include "server/store.h"
#include "server/store_alerts.h"
#include "server/store_hosts.h"
#include "server/store_jobs.h"

#define MAX_URL            2048
#define MAX_ENV            32
#define MAX_ENV_VALUE      4096
#define MAX_PATHS          256
#define MAX_PATH_LEN       4096
#define HOST_TAGS_MAX      32
#define HOST_TAG_MAX_LEN   128
#define HOST_LIMIT_MAX_KIB (10 * 1024 * 1024) /* 10 GiB/s: above any real link */

static bool is_hostname(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > STORE_HOSTNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static bool is_env_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static bool no_ctl(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* The URL with the password of any "user:password@" part replaced by "***". OUT: malloc'd. */
static char *url_redact(const char *url)
{
	const char *scheme = strstr(url, "://");
	const char *start = scheme ? scheme + 3 : url;
	size_t auth_len = strcspn(start, "/@");
	const char *at = start[auth_len] == '@' ? start + auth_len : NULL;
	const char *colon;
	char *out;
	size_t pre;

	if (!at)
		return strdup(url);
	colon = memchr(start, ':', (size_t)(at - start));
	if (!colon)
		return strdup(url);
	pre = (size_t)(colon - url) + 1;
	out = malloc(pre + 3 + strlen(at) + 1);
	if (!out)
		return NULL;
	memcpy(out, url, pre);
	memcpy(out + pre, "***", 3);
	memcpy(out + pre + 3, at, strlen(at) + 1);
	return out;
}

/* Validate an optional array of strings; return a JSON text (malloc'd) or NULL after replying. */
static char *str_array_text(struct http_ctx *c, json_t *body, const char *field, size_t max_items, size_t max_len)
{
	json_t *v = json_object_get(body, field), *e;
	size_t i;
	if (!v || json_is_null(v))
		return strdup("[]");
	if (!json_is_array(v) || json_array_size(v) > max_items) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be an array of at most %zu strings",
		                 field, max_items);
		return NULL;
	}
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || json_string_length(e) < 1 || json_string_length(e) > max_len ||
		    !no_ctl(json_string_value(e), json_string_length(e))) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field '%s' must hold strings of 1 to %zu bytes without control characters",
			                 field, max_len);
			return NULL;
		}
	}
	return json_dumps(v, JSON_COMPACT);
}

static json_t *time_or_null(int64_t t)
{
	char buf[32];
	if (t <= 0)
		return json_null();
	util_time_rfc3339(t, buf);
	return json_string(buf);
}

static json_t *array_or_empty(const char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	if (!json_is_array(v)) {
		json_decref(v);
		v = json_array();
	}
	return v;
}

/* Tags, at enrolment and in PATCH alike: short, trimmed, no commas (the
 * UI's editor splits on them), no duplicates.  Return 0 or -1 after replying. */
static int tags_check(struct http_ctx *c, json_t *v)
{
	json_t *e;
	size_t i, k;
	if (!json_is_array(v) || json_array_size(v) > HOST_TAGS_MAX) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'tags' must be an array of at most %d strings",
		                 HOST_TAGS_MAX);
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		const char *t = json_string_value(e);
		size_t n = json_string_length(e);
		if (!t || n < 1 || n > HOST_TAG_MAX_LEN || !no_ctl(t, n) || strchr(t, ',') || t[0] == ' ' ||
		    t[n - 1] == ' ') {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'tags' must hold strings of 1 to %d bytes without commas, control "
			                 "characters or surrounding spaces",
			                 HOST_TAG_MAX_LEN);
			return -1;
		}
		for (k = 0; k < i; k++)
			if (strcmp(json_string_value(json_array_get(v, k)), t) == 0) {
				http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'tags' lists '%s' twice", t);
				return -1;
			}
	}
	return 0;
}

/* ---- enrolment tokens ---- */

static void base_url(struct server *srv, char *out, size_t cap)
{
	size_t len;
	util_strlcpy(out, srv->cfg.base_url, cap);
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		out[--len] = '\0';
}

void api_enrollment_tokens_create(struct http_ctx *c)
{
	struct server *srv = c->srv;
	json_t *body = http_body_object(c), *repo, *env = NULL, *secret = NULL, *install, *out;
	const char *hostname, *url, *password;
	char gen[33] = "", token[SECRETS_TOKEN_CHARS + 1], hash[SECRETS_HASH_HEX], ad[64], target[48], ts[32];
	char base[1024], linux_cmd[2600], win_cmd[2600];
	char *tags = NULL, *paths = NULL, *display = NULL, *pt = NULL;
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	int64_t id = 0, now = util_now();
	int r;

	if (!body || http_json_str(c, body, "hostname", 1, STORE_HOSTNAME_MAX, true, &hostname) < 0)
		return;
	if (!is_hostname(hostname)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
		                 "field 'hostname' must be 1-253 characters of A-Z a-z 0-9 . _ -");
		return;
	}
	repo = json_object_get(body, "repository");
	if (!json_is_object(repo)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'repository' must be an object with 'url'");
		return;
	}
	if (http_json_str(c, repo, "url", 1, MAX_URL, true, &url) < 0 ||
	    http_json_str(c, repo, "password", 0, SECRETS_PASSWORD_MAX, false, &password) < 0)
		return;
	if (!no_ctl(url, strlen(url))) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'url' must not contain control characters");
		return;
	}
	env = json_object_get(repo, "env");
	if (env && !json_is_null(env)) {
		const char *k;
		json_t *v;
		if (!json_is_object(env) || json_object_size(env) > MAX_ENV) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'env' must be an object of at most %d strings", MAX_ENV);
			return;
		}
		json_object_foreach(env, k, v)
		{
			if (!is_env_name(k) || !json_is_string(v) || json_string_length(v) > MAX_ENV_VALUE ||
			    strlen(json_string_value(v)) != json_string_length(v)) {
				http_reply_error(
				    c, 400, HTTP_ERR_INVALID_FIELD,
				    "field 'env' needs NAMES of A-Z 0-9 _ with string values up to %d bytes",
				    MAX_ENV_VALUE);
				return;
			}
		}
	} else {
		env = NULL;
	}
	if (json_object_get(body, "tags") && !json_is_null(json_object_get(body, "tags"))) {
		if (tags_check(c, json_object_get(body, "tags")) < 0)
			return;
		tags = json_dumps(json_object_get(body, "tags"), JSON_COMPACT);
	} else {
		tags = strdup("[]");
	}
	if (!tags) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	paths = str_array_text(c, body, "paths", MAX_PATHS, MAX_PATH_LEN);
	if (!paths)
		goto out;
	if (!password || !password[0]) {
		secrets_password_generate(gen);
		password = gen;
	}
	display = url_redact(url);
	secret = json_pack("{s:s,s:s,s:o}", "url", url, "password", password, "env",
	                   env ? json_deep_copy(env) : json_object());
	pt = secret ? json_dumps(secret, JSON_COMPACT) : NULL;
	if (!display || !pt) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		goto out;
	}
	secrets_token_new(token);
	secrets_token_hash(token, hash);
	r = store_begin(srv->store);
	if (r == 0)
		r = store_enroll_insert(srv->store, hash, hostname, tags, paths, display, c->username, now,
		                        now + ENROLL_TOKEN_TTL, &id);
	if (r == 0) {
		snprintf(ad, sizeof(ad), "enrollment:%lld:repository", (long long)id);
		r = secrets_seal(srv->secrets, pt, strlen(pt), ad, &blob, &bloblen);
	}
	if (r == 0)
		r = store_enroll_set_secret(srv->store, id, blob, bloblen);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the enrolment token now");
		goto out;
	}
	base_url(srv, base, sizeof(base));
	snprintf(linux_cmd, sizeof(linux_cmd),
	         "curl -fsSL '%s/install/install.sh' | sudo RM_SERVER='%s' RM_ENROL_TOKEN='%s' sh", base, base, token);
	snprintf(win_cmd, sizeof(win_cmd),
	         "$env:RM_SERVER='%s'; $env:RM_ENROL_TOKEN='%s'; "
	         "irm '%s/install/install.ps1' | iex",
	         base, token, base);
	install = json_pack("{s:s,s:s}", "linux", linux_cmd, "windows", win_cmd);
	util_time_rfc3339(now + ENROLL_TOKEN_TTL, ts);
	out = json_pack("{s:I,s:s,s:s,s:s,s:o}", "id", (json_int_t)id, "hostname", hostname, "token", token,
	                "expires_at", ts, "install", install);
	if (out && gen[0])
		json_object_set_new(out, "generated_password", json_string(gen));
	snprintf(target, sizeof(target), "enrollment:%lld", (long long)id);
	audit_log(
	    srv, c, "enrollment_token.create", target, "ok",
	    json_pack("{s:s,s:s,s:b}", "hostname", hostname, "repository", display, "password_generated", gen[0] != 0));
	http_reply_json(c, 201, out);
	explicit_bzero(linux_cmd, sizeof(linux_cmd));
	explicit_bzero(win_cmd, sizeof(win_cmd));
	explicit_bzero(token, sizeof(token));
out:
	if (pt) {
		explicit_bzero(pt, strlen(pt));
		free(pt);
	}
	explicit_bzero(gen, sizeof(gen));
	json_decref(secret);
	free(blob);
	free(display);
	free(tags);
	free(paths);
}

/* ---- hosts ---- */

/* What needs the operator's attention (same rule as the fleet summary's "problems"). */
static json_t *host_problems(const struct store_host *h)
{
	json_t *a = json_array();
	if (strcmp(h->last_backup_status, "failed") == 0)
		json_array_append_new(a, json_string("backup_failed"));
	if (h->check_failed)
		json_array_append_new(a, json_string("check_failed"));
	return a;
}

static json_t *host_json(struct server *srv, const struct store_host *h, bool detail)
{
	json_t *o = json_object(), *lb = json_null();
	if (!o)
		return NULL;
	if (h->last_backup_job_id[0])
		lb = json_pack("{s:s,s:s,s:o}", "job_id", h->last_backup_job_id, "status", h->last_backup_status, "at",
		               time_or_null(h->last_backup_at));
	json_object_set_new(o, "id", json_integer(h->id));
	json_object_set_new(o, "name", json_string(h->name));
	/* Liveness from the loop's view (the stored flag trails it by at most a tick). */
	json_object_set_new(o, "status", json_string(agentd_is_online(srv, h->id) ? "online" : "offline"));
	json_object_set_new(o, "polling", json_boolean(agentd_is_polling(srv, h->id)));
	json_object_set_new(o, "tags", array_or_empty(h->tags));
	json_object_set_new(o, "os", h->os[0] ? json_string(h->os) : json_null());
	json_object_set_new(o, "arch", h->arch[0] ? json_string(h->arch) : json_null());
	json_object_set_new(o, "agent_version", h->agent_version[0] ? json_string(h->agent_version) : json_null());
	json_object_set_new(o, "restic_version", h->restic_version[0] ? json_string(h->restic_version) : json_null());
	json_object_set_new(o, "protocol_version", json_integer(h->protocol_version));
	json_object_set_new(o, "last_seen", time_or_null(h->last_seen_at));
	json_object_set_new(o, "created_at", time_or_null(h->created_at));
	json_object_set_new(o, "last_backup", lb ? lb : json_null());
	json_object_set_new(o, "last_success_at", time_or_null(h->last_success_at));
	json_object_set_new(o, "snapshot_count", json_integer(h->snapshot_count));
	json_object_set_new(o, "repo_size", h->has_repo_size ? json_integer(h->repo_size) : json_null());
	json_object_set_new(o, "problems", host_problems(h));
	json_object_set_new(o, "limit_upload_kib", json_integer(h->limit_upload_kib));
	json_object_set_new(o, "limit_download_kib", json_integer(h->limit_download_kib));
	json_object_set_new(o, "running_job_id", h->running_job_id[0] ? json_string(h->running_job_id) : json_null());
	json_object_set_new(o, "repository", json_pack("{s:s}", "url", h->repo_url));
	if (detail) {
		json_t *stats = NULL;
		int64_t open_alerts = 0;
		store_alert_count_open_hosts(srv->store, &h->id, 1, &open_alerts);
		json_object_set_new(o, "open_alerts", json_integer(open_alerts));
		json_object_set_new(o, "paths", array_or_empty(h->paths));
		json_object_set_new(o, "schedule_version", json_integer(h->schedule_version));
		json_object_set_new(o, "last_event_seq", json_integer(h->last_event_seq));
		store_repo_stats_get(srv->store, h->id, &stats);
		if (json_is_array(json_object_get(stats, "locks"))) {
			json_t *view = maintenance_locks_view(srv, h, json_object_get(stats, "locks"));
			json_object_set_new(stats, "locks", view ? view : json_array());
		}
		json_object_set_new(o, "repo_stats", stats ? stats : json_null());
	}
	return o;
}

void api_hosts_list(struct http_ctx *c)
{
	const char *status = http_query(c, "status");
	int64_t limit, cursor;
	struct store_host *hs;
	size_t n;
	json_t *items, *next = json_null();

	if (http_query_int(c, "limit", 1, 500, 100, &limit) < 0 ||
	    http_query_int(c, "cursor", 0, INT64_MAX, 0, &cursor) < 0)
		return;
	if (status && strcmp(status, "online") != 0 && strcmp(status, "offline") != 0) {
		http_reply_error(c, 400, "invalid_parameter", "status must be online or offline");
		return;
	}
	if (store_host_list(c->srv->store, cursor, (int)limit + 1, status, &hs, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot list hosts now");
		return;
	}
	items = json_array();
	/* open alerts of the page: one range query over the partial index alerts_open */
	int64_t *ids = calloc(n + 1, sizeof(*ids)), *counts = calloc(n + 1, sizeof(*counts));
	for (size_t i = 0; ids && i < n; i++)
		ids[i] = hs[i].id;
	if (ids && counts)
		store_alert_count_open_hosts(c->srv->store, ids, n, counts);
	for (size_t i = 0; i < n && i < (size_t)limit; i++) {
		json_t *o = host_json(c->srv, &hs[i], false);
		json_object_set_new(o, "open_alerts", json_integer(counts ? counts[i] : 0));
		json_array_append_new(items, o);
	}
	free(ids);
	free(counts);
	if (n > (size_t)limit) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)hs[limit - 1].id);
		next = json_string(buf);
	}
	store_hosts_free(hs, n);
	http_reply_json(c, 200, json_pack("{s:o,s:o}", "items", items, "next", next));
}

/* Load the host of path parameter 0.  Return 0 or -1 after replying. */
static int host_load(struct http_ctx *c, struct store_host *h)
{
	int64_t id;
	int r;
	if (http_param_id(c, 0, &id) < 0)
		return -1;
	r = store_host_get(c->srv->store, id, h);
	if (r == -ENOENT) {
		http_reply_error(c, 404, "not_found", "no such host");
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the host now");
		return -1;
	}
	return 0;
}

void api_hosts_get(struct http_ctx *c)
{
	struct store_host h;
	json_t *o;
	if (host_load(c, &h) < 0)
		return;
	o = host_json(c->srv, &h, true);
	store_host_release(&h);
	http_reply_json(c, 200, o);
}

void api_hosts_delete(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_host h;
	char target[32];
	int r;

	if (host_load(c, &h) < 0)
		return;
	r = store_host_delete(srv->store, h.id, util_now());
	if (r < 0) {
		store_host_release(&h);
		http_reply_error(c, r == -ENOENT ? 404 : 503, r == -ENOENT ? "not_found" : "unavailable",
		                 r == -ENOENT ? "no such host" : "cannot delete the host now");
		return;
	}
	agentd_forget(srv, h.id);
	if (store_job_cancel_host(srv->store, h.id, "host deleted", util_now()) > 0)
		sse_publish_fleet(srv, "jobs",
		                  json_pack("{s:I,s:s}", "host_id", (json_int_t)h.id, "status", "cancelled"));
	snprintf(target, sizeof(target), "host:%lld", (long long)h.id);
	audit_log(srv, c, "host.delete", target, "ok", json_pack("{s:s}", "name", h.name));
	log_info("host %lld (%s) deleted; its agent token is revoked", (long long)h.id, h.name);
	sse_publish_fleet(srv, "host",
	                  json_pack("{s:I,s:s,s:s}", "id", (json_int_t)h.id, "name", h.name, "status", "deleted"));
	store_host_release(&h);
	http_reply_empty(c, 204);
}

/* ---- host settings ---- */

void api_hosts_update(struct http_ctx *c)
{
	struct server *srv = c->srv;
	json_t *body = http_body_object(c), *v, *tags_v = NULL, *changed = NULL, *ev;
	struct store_host h;
	const char *key, *name = NULL;
	char *tags = NULL, target[32];
	int64_t up = -1, down = -1, id;
	bool limits_changed;
	int r;

	if (!body || host_load(c, &h) < 0)
		return;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "name") != 0 && strcmp(key, "tags") != 0 && strcmp(key, "limit_upload_kib") != 0 &&
		    strcmp(key, "limit_download_kib") != 0) {
			http_reply_error(
			    c, 400, HTTP_ERR_INVALID_FIELD,
			    "field '%.64s' is unknown (use name, tags, limit_upload_kib, limit_download_kib)", key);
			goto out;
		}
		if (json_is_null(v)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field '%s' must not be null (limits: 0 = unlimited)", key);
			goto out;
		}
	}
	if (json_object_size(body) == 0) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
		                 "nothing to change (use name, tags, limit_upload_kib, limit_download_kib)");
		goto out;
	}
	if (http_json_str(c, body, "name", 1, STORE_HOSTNAME_MAX, false, &name) < 0 ||
	    http_json_int(c, body, "limit_upload_kib", 0, HOST_LIMIT_MAX_KIB, false, -1, &up) < 0 ||
	    http_json_int(c, body, "limit_download_kib", 0, HOST_LIMIT_MAX_KIB, false, -1, &down) < 0)
		goto out;
	if (name && (!no_ctl(name, strlen(name)) || name[0] == ' ' || name[strlen(name) - 1] == ' ')) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
		                 "field 'name' must be 1 to %d bytes without control characters or surrounding spaces",
		                 STORE_HOSTNAME_MAX);
		goto out;
	}
	tags_v = json_object_get(body, "tags");
	if (tags_v) {
		if (tags_check(c, tags_v) < 0)
			goto out;
		tags = json_dumps(tags_v, JSON_COMPACT);
		if (!tags) {
			http_reply_error(c, 503, "out_of_memory", "try again later");
			goto out;
		}
	}
	limits_changed = (up >= 0 && up != h.limit_upload_kib) || (down >= 0 && down != h.limit_download_kib);
	r = store_begin(srv->store);
	if (r == 0)
		r = store_host_update_settings(srv->store, h.id, name, tags, up, down);
	/* The limits travel in the schedule document (offline scheduled runs
	 * honour them): a new version is queued for the agent. */
	if (r == 0 && limits_changed)
		r = schedules_changed(srv, h.id, NULL);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	if (r < 0) {
		http_reply_error(c, r == -ENOENT ? 404 : 503, r == -ENOENT ? "not_found" : "unavailable",
		                 r == -ENOENT ? "no such host" : "cannot store the host settings now");
		goto out;
	}
	if (limits_changed)
		agentd_notify(srv, h.id);
	/* What changed (the values are settings, never secrets). */
	changed = json_object();
	if (name && strcmp(name, h.name) != 0)
		json_object_set_new(changed, "name", json_pack("{s:s,s:s}", "from", h.name, "to", name));
	if (tags && strcmp(tags, h.tags) != 0)
		json_object_set_new(changed, "tags",
		                    json_pack("{s:o,s:O}", "from", array_or_empty(h.tags), "to", tags_v));
	if (up >= 0 && up != h.limit_upload_kib)
		json_object_set_new(
		    changed, "limit_upload_kib",
		    json_pack("{s:I,s:I}", "from", (json_int_t)h.limit_upload_kib, "to", (json_int_t)up));
	if (down >= 0 && down != h.limit_download_kib)
		json_object_set_new(
		    changed, "limit_download_kib",
		    json_pack("{s:I,s:I}", "from", (json_int_t)h.limit_download_kib, "to", (json_int_t)down));
	snprintf(target, sizeof(target), "host:%lld", (long long)h.id);
	audit_log(srv, c, "host.update", target, "ok", json_pack("{s:o}", "changes", changed));
	id = h.id;
	store_host_release(&h);
	if (store_host_get(srv->store, id, &h) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the host now");
		goto out;
	}
	ev = json_pack("{s:I,s:s,s:s,s:s,s:o,s:I,s:I}", "id", (json_int_t)h.id, "name", h.name, "status",
	               agentd_is_online(srv, h.id) ? "online" : "offline", "change", "settings", "tags",
	               array_or_empty(h.tags), "limit_upload_kib", (json_int_t)h.limit_upload_kib, "limit_download_kib",
	               (json_int_t)h.limit_download_kib);
	sse_publish_fleet(srv, "host", ev);
	http_reply_json(c, 200, host_json(srv, &h, true));
out:
	store_host_release(&h);
	free(tags);
}

void api_hosts_snapshots(struct http_ctx *c)
{
	struct store_host h;
	json_t *items = NULL;
	if (host_load(c, &h) < 0)
		return;
	if (store_snapshots_list(c->srv->store, h.id, &items) < 0) {
		store_host_release(&h);
		http_reply_error(c, 503, "unavailable", "cannot read snapshots now");
		return;
	}
	store_host_release(&h);
	http_reply_json(c, 200, json_pack("{s:o,s:n}", "items", items, "next"));
}

void api_fleet_summary(struct http_ctx *c)
{
	struct store_fleet f;
	int64_t open_alerts = 0;
	if (store_fleet_summary(c->srv->store, util_now() - 86400, &f) < 0 ||
	    store_alert_count_open(c->srv->store, &open_alerts) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the fleet summary now");
		return;
	}
	http_reply_json(c, 200,
	                json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I},s:I,s:I,s:{s:I,s:I,s:I},s:I}", "hosts", "total",
	                          (json_int_t)f.hosts, "online", (json_int_t)f.online, "offline", (json_int_t)f.offline,
	                          "backup_failed", (json_int_t)f.backup_failed, "never_backed_up",
	                          (json_int_t)f.never_backed_up, "problems", (json_int_t)f.problems, "snapshots",
	                          (json_int_t)f.snapshots, "repo_size", (json_int_t)f.repo_size, "jobs", "queued",
	                          (json_int_t)f.jobs_queued, "running", (json_int_t)f.jobs_running, "failed_24h",
	                          (json_int_t)f.jobs_failed_since, "open_alerts", (json_int_t)open_alerts));
}

/*
 * api_jobs.c — the jobs resource (see api_jobs.h).  Loop thread only.
 *
 * Creating a job stores it as queued and appends a `run` command to the
 * host's durable queue in one transaction, then wakes the host's held poll.
 * The agent runs its jobs one at a time; the job becomes running when the
 * agent reports job.started (api_agent.c).  Cancel: a queued job whose run
 * command was not delivered yet is cancelled here; otherwise a `cancel`
 * command goes to the agent and the final state comes from job.finished.
 * Kind arguments are validated here, table-driven (kinds[] below); the
 * agent gets only the validated, normalised argument object.
 */
#include "server/api_jobs.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/util.h"
#include "server/agentd.h"
#include "server/alerts.h"
#include "server/audit.h"
#include "server/maintenance.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/sse.h"
#include "server/store.h"
#include "server/store_hosts.h"

#define MAX_PATHS    256
#define MAX_PATH_LEN 4096
#define MAX_TAGS     32
#define MAX_TAG_LEN  128

/* ---- helpers ---- */

bool jobs_id_is_valid(const char *s)
{
	if (!s || strlen(s) != STORE_JOB_ID_LEN)
		return false;
	for (size_t i = 0; i < STORE_JOB_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void jobs_id_new(char out[STORE_JOB_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[STORE_JOB_ID_LEN] = '\0';
}

static json_t *time_or_null(int64_t t)
{
	char buf[32];
	if (t <= 0)
		return json_null();
	util_time_rfc3339(t, buf);
	return json_string(buf);
}

static json_t *json_text_or_null(const char *s)
{
	json_t *v = s ? json_loads(s, 0, NULL) : NULL;
	return v ? v : json_null();
}

json_t *api_job_json(const struct store_job *j)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_string(j->id));
	json_object_set_new(o, "host_id", json_integer(j->host_id));
	json_object_set_new(o, "kind", json_string(j->kind));
	json_object_set_new(o, "status", json_string(j->status));
	json_object_set_new(o, "actor", json_string(j->actor));
	json_object_set_new(o, "actor_name", j->actor_name[0] ? json_string(j->actor_name) : json_null());
	json_object_set_new(o, "group", j->group[0] ? json_string(j->group) : json_null());
	json_object_set_new(o, "args", json_text_or_null(j->args));
	json_object_set_new(o, "created_at", time_or_null(j->created_at));
	json_object_set_new(o, "started_at", time_or_null(j->started_at));
	json_object_set_new(o, "finished_at", time_or_null(j->finished_at));
	json_object_set_new(o, "exit_code", j->has_exit_code ? json_integer(j->exit_code) : json_null());
	json_object_set_new(o, "summary", json_text_or_null(j->summary));
	json_object_set_new(o, "error", j->error ? json_string(j->error) : json_null());
	json_object_set_new(o, "progress", json_text_or_null(j->progress));
	json_object_set_new(o, "log_lines", json_integer(j->log_lines));
	return o;
}

void jobs_publish_state(struct server *srv, const char *job_id)
{
	struct store_job j;
	json_t *o;
	if (store_job_get(srv->store, job_id, &j) < 0)
		return;
	/* Every caller publishes right after the change: final here = just finished. */
	if (store_job_status_is_final(j.status))
		metrics_count_job_finished(srv, j.kind, j.status);
	o = api_job_json(&j);
	if (o) {
		json_t *fleet = json_pack("{s:s,s:I,s:s,s:s,s:s}", "id", j.id, "host_id", (json_int_t)j.host_id, "kind",
		                          j.kind, "status", j.status, "actor", j.actor);
		sse_publish_fleet(srv, "job", fleet);
		if (store_job_status_is_final(j.status))
			sse_job_finished(srv, j.id, j.log_lines, o);
		else
			sse_publish_job(srv, j.id, "state", j.log_lines, o);
	}
	if (store_job_status_is_final(j.status)) {
		alerts_job_changed(srv, &j);       /* backup/maintenance failed or cleared */
		maintenance_job_finished(srv, &j); /* the first backup: repository size */
	}
	store_job_release(&j);
}

int jobs_fail(struct server *srv, const char *job_id, const char *reason)
{
	int r = store_job_finish(srv->store, job_id, "failed", false, 0, NULL, reason, util_now());
	if (r < 0)
		return r;
	if (r > 0) {
		log_info("job %s failed: %s", job_id, reason);
		jobs_publish_state(srv, job_id);
	}
	return 0;
}

__attribute__((weak)) int jobs_group_args(struct server *srv, int64_t host_id, const char *kind, const char *group,
                                          json_t *args)
{
	struct store_host h;
	json_t *paths;

	if (strcmp(group, "default") != 0)
		return -ENOENT;
	if (strcmp(kind, "backup") != 0)
		return 0;
	if (store_host_get(srv->store, host_id, &h) < 0)
		return -ENOENT;
	paths = json_loads(h.paths, 0, NULL);
	store_host_release(&h);
	if (!json_is_array(paths)) {
		json_decref(paths);
		paths = json_array();
	}
	json_object_set_new(args, "paths", paths);
	return 0;
}

/* ---- argument validation ---- */

static bool str_is_clean(const char *s, size_t len)
{
	if (strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return true;
}

/* Copy an optional array of strings field from body into args (validated).
 * Return 0 or -1 after replying. */
static int copy_str_array(struct http_ctx *c, json_t *body, const char *field, size_t max_items, size_t max_len,
                          bool required, json_t *args)
{
	json_t *v = json_object_get(body, field), *out, *e;
	size_t i;

	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' is required", field);
		return -1;
	}
	if (!json_is_array(v) || json_array_size(v) > max_items || (required && json_array_size(v) == 0)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be an array of 1 to %zu strings",
		                 field, max_items);
		return -1;
	}
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) || json_string_length(e) < 1 || json_string_length(e) > max_len ||
		    !str_is_clean(json_string_value(e), json_string_length(e))) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field '%s' must hold strings of 1 to %zu bytes without control characters",
			                 field, max_len);
			return -1;
		}
	}
	out = json_deep_copy(v);
	json_object_set_new(args, field, out);
	return 0;
}

static bool is_snapshot_id(const char *s)
{
	size_t n = strlen(s);
	if (!strcmp(s, "latest"))
		return true;
	if (n < 8 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Absolute POSIX path or Windows drive path, no ".." segment. */
static bool is_safe_abs_path(const char *p)
{
	bool abs = p[0] == '/' || (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
	                           (p[2] == '\\' || p[2] == '/'));
	const char *s = p;
	if (!abs)
		return false;
	while (*s) {
		size_t n = strcspn(s, "/\\");
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return false;
		s += n;
		if (*s)
			s++;
	}
	return true;
}

static bool is_tag(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > MAX_TAG_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-' || ch == ':'))
			return false;
	}
	return true;
}

struct job_req {
	struct store_host *host; /* the host named in the URL */
	int64_t target_host;     /* where the job runs */
	char group[128];
};

typedef int (*kind_fn)(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args);

static int args_none(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	(void)c;
	(void)body;
	(void)jr;
	(void)args;
	return 0;
}

static int args_group(struct http_ctx *c, json_t *body, struct job_req *jr, const char *kind, json_t *args)
{
	const char *group;
	int r;
	if (http_json_str(c, body, "group", 1, sizeof(jr->group) - 1, false, &group) < 0)
		return -1;
	if (!group)
		return 0;
	if (!is_tag(group)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'group' must be a source group name");
		return -1;
	}
	util_strlcpy(jr->group, group, sizeof(jr->group));
	r = jobs_group_args(c->srv, jr->target_host, kind, group, args);
	if (r == -ENOENT) {
		http_reply_error(c, 404, "unknown_group", "host has no source group '%s'", group);
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the source group now");
		return -1;
	}
	if (!json_object_get(args, "tags"))
		json_object_set_new(args, "tags", json_pack("[s]", group));
	json_object_set_new(args, "group", json_string(group));
	return 0;
}

static int check_tags(struct http_ctx *c, json_t *args)
{
	json_t *tags = json_object_get(args, "tags"), *t;
	size_t i;
	json_array_foreach(tags, i, t)
	{
		if (!is_tag(json_string_value(t))) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "tags must be 1-128 characters of A-Z a-z 0-9 . _ - :");
			return -1;
		}
	}
	return 0;
}

static int args_backup(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	if (copy_str_array(c, body, "paths", MAX_PATHS, MAX_PATH_LEN, false, args) < 0 ||
	    copy_str_array(c, body, "excludes", MAX_PATHS, MAX_PATH_LEN, false, args) < 0 ||
	    copy_str_array(c, body, "tags", MAX_TAGS, MAX_TAG_LEN, false, args) < 0 || check_tags(c, args) < 0)
		return -1;
	if (!json_object_get(args, "paths")) {
		if (!json_object_get(body, "group"))
			json_object_set_new(body, "group", json_string("default"));
		if (args_group(c, body, jr, "backup", args) < 0)
			return -1;
	}
	if (json_array_size(json_object_get(args, "paths")) == 0) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "a backup needs 'paths' (or a group with paths)");
		return -1;
	}
	if (!json_object_get(args, "excludes"))
		json_object_set_new(args, "excludes", json_array());
	if (!json_object_get(args, "tags"))
		json_object_set_new(args, "tags", json_array());
	return 0;
}

static int args_forget(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	static const char *const keeps[] = {"keep_last",   "keep_hourly",  "keep_daily",
	                                    "keep_weekly", "keep_monthly", "keep_yearly"};
	const char *within;
	bool any = false;

	if (copy_str_array(c, body, "tags", MAX_TAGS, MAX_TAG_LEN, false, args) < 0 || check_tags(c, args) < 0 ||
	    args_group(c, body, jr, "forget", args) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(keeps); i++) {
		int64_t v;
		if (http_json_int(c, body, keeps[i], 0, 1000000, false, -1, &v) < 0)
			return -1;
		if (v >= 0)
			json_object_set_new(args, keeps[i], json_integer(v));
		if (json_integer_value(json_object_get(args, keeps[i])) > 0)
			any = true;
	}
	if (http_json_str(c, body, "keep_within", 2, 32, false, &within) < 0)
		return -1;
	if (within) {
		size_t n = strspn(within, "0123456789ymwdh");
		if (n != strlen(within) || !strchr("ymwdh", within[n - 1])) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'keep_within' must look like 30d or 1y6m");
			return -1;
		}
		json_object_set_new(args, "keep_within", json_string(within));
	}
	if (json_object_get(args, "keep_within"))
		any = true;
	if (!any) {
		http_reply_error(
		    c, 400, HTTP_ERR_INVALID_FIELD,
		    "forget needs a retention rule (keep_last, keep_daily, …, keep_within, or a group with one)");
		return -1;
	}
	return 0;
}

static int args_check(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	const char *subset;
	(void)jr;
	if (http_json_str(c, body, "read_data_subset", 1, 32, false, &subset) < 0)
		return -1;
	if (subset) {
		size_t n = strspn(subset, "0123456789./%");
		if (n != strlen(subset) || subset[0] < '0' || subset[0] > '9') {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'read_data_subset' must look like 10%% or 1/5");
			return -1;
		}
		json_object_set_new(args, "read_data_subset", json_string(subset));
	}
	return 0;
}

static int args_unlock(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	bool all;
	(void)jr;
	if (http_json_bool(c, body, "remove_all", false, false, &all) < 0)
		return -1;
	json_object_set_new(args, "remove_all", json_boolean(all));
	return 0;
}

static int args_stats(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	static const char *const modes[] = {"restore-size", "files-by-contents", "raw-data", "blobs-per-file"};
	const char *mode;
	(void)jr;
	if (http_json_str(c, body, "mode", 1, 32, false, &mode) < 0)
		return -1;
	if (!mode)
		return 0;
	for (size_t i = 0; i < ARRAY_LEN(modes); i++)
		if (!strcmp(mode, modes[i])) {
			json_object_set_new(args, "mode", json_string(mode));
			return 0;
		}
	http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
	                 "field 'mode' must be restore-size, files-by-contents, "
	                 "raw-data or blobs-per-file");
	return -1;
}

static int args_diff(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	json_t *v = json_object_get(body, "snapshots");
	(void)jr;
	if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_string(json_array_get(v, 0)) ||
	    !json_is_string(json_array_get(v, 1)) || !is_snapshot_id(json_string_value(json_array_get(v, 0))) ||
	    !is_snapshot_id(json_string_value(json_array_get(v, 1)))) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'snapshots' must be two snapshot ids");
		return -1;
	}
	json_object_set_new(args, "snapshots", json_deep_copy(v));
	return 0;
}

static int args_restore(struct http_ctx *c, json_t *body, struct job_req *jr, json_t *args)
{
	const char *snap, *target, *confirm;
	bool in_place;
	int64_t other;
	json_t *paths, *p;
	size_t i;

	if (http_json_str(c, body, "snapshot", 1, 64, true, &snap) < 0)
		return -1;
	if (!is_snapshot_id(snap)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'snapshot' must be a snapshot id or 'latest'");
		return -1;
	}
	json_object_set_new(args, "snapshot", json_string(snap));
	if (copy_str_array(c, body, "paths", MAX_PATHS, MAX_PATH_LEN, false, args) < 0)
		return -1;
	paths = json_object_get(args, "paths");
	json_array_foreach(paths, i, p)
	{
		if (!is_safe_abs_path(json_string_value(p))) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "restore paths must be absolute paths without '..'");
			return -1;
		}
	}
	if (!paths)
		json_object_set_new(args, "paths", json_array());
	if (http_json_int(c, body, "host_id", 1, INT64_MAX, false, 0, &other) < 0)
		return -1;
	if (other && other != jr->host->id) {
		struct store_host oh;
		int r = store_host_get(c->srv->store, other, &oh);
		if (r == -ENOENT) {
			http_reply_error(c, 404, "not_found", "no such target host");
			return -1;
		}
		if (r < 0) {
			http_reply_error(c, 503, "unavailable", "cannot read the target host now");
			return -1;
		}
		if (strcmp(oh.repo_url, jr->host->repo_url) != 0) {
			store_host_release(&oh);
			http_reply_error(
			    c, 400, "different_repository",
			    "the target host uses another repository; restore on a host of the same repository");
			return -1;
		}
		jr->target_host = other;
		json_object_set_new(args, "source_host_id", json_integer(jr->host->id));
		json_object_set_new(args, "source_host", json_string(jr->host->name));
		/* in_place confirms against the host that is overwritten. */
		store_host_release(jr->host);
		*jr->host = oh;
	}
	if (http_json_bool(c, body, "in_place", false, false, &in_place) < 0 ||
	    http_json_str(c, body, "target", 1, MAX_PATH_LEN, false, &target) < 0 ||
	    http_json_str(c, body, "confirm", 0, STORE_HOSTNAME_MAX, false, &confirm) < 0)
		return -1;
	if (in_place) {
		if (target) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "'in_place' and 'target' exclude each other");
			return -1;
		}
		/* restic 0.14 on Windows keeps snapshot paths as /C/...: restoring
		 * "in place" would write C:\C\... rather than over the originals. */
		if (!strcmp(jr->host->os, "windows")) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "in-place restore is not supported on Windows hosts (restic 0.14 cannot map "
			                 "snapshot paths back to drive letters); restore into a new directory");
			return -1;
		}
		if (!confirm || strcmp(confirm, jr->host->name) != 0) {
			http_reply_error(c, 400, "confirmation_required",
			                 "an in-place restore needs \"confirm\" set to the host name");
			return -1;
		}
		json_object_set_new(args, "in_place", json_true());
		return 0;
	}
	if (target) {
		if (!is_safe_abs_path(target) || !str_is_clean(target, strlen(target))) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'target' must be an absolute path without '..'");
			return -1;
		}
		json_object_set_new(args, "target", json_string(target));
	}
	return 0;
}

static const struct {
	const char *kind;
	kind_fn fn;
} kinds[] = {
    {"init", args_none},   {"backup", args_backup},   {"forget", args_forget},  {"prune", args_none},
    {"check", args_check}, {"unlock", args_unlock},   {"snapshots", args_none}, {"stats", args_stats},
    {"diff", args_diff},   {"restore", args_restore},
};

static bool is_kind(const char *k)
{
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (!strcmp(kinds[i].kind, k))
			return true;
	return false;
}

static bool is_status(const char *s)
{
	return !strcmp(s, "queued") || !strcmp(s, "running") || store_job_status_is_final(s);
}

/* ---- handlers ---- */

void api_jobs_create(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_host host;
	struct store_job j;
	struct job_req jr;
	json_t *body = http_body_object(c), *args = NULL, *cmd = NULL, *out;
	const char *kind;
	kind_fn fn = NULL;
	char target[32], jid[STORE_JOB_ID_LEN + 1];
	int64_t hid, seq;
	int r;

	if (!body || http_param_id(c, 0, &hid) < 0)
		return;
	r = store_host_get(srv->store, hid, &host);
	if (r == -ENOENT) {
		http_reply_error(c, 404, "not_found", "no such host");
		return;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the host now");
		return;
	}
	if (http_json_str(c, body, "kind", 1, 16, true, &kind) < 0)
		goto out;
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
		if (!strcmp(kinds[i].kind, kind))
			fn = kinds[i].fn;
	if (!fn) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
		                 "field 'kind' must be one of init, backup, forget, prune, check, unlock, snapshots, "
		                 "stats, diff, restore");
		goto out;
	}
	memset(&jr, 0, sizeof(jr));
	jr.host = &host;
	jr.target_host = host.id;
	args = json_object();
	if (!args) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		goto out;
	}
	/* Hooks belong to source groups and run only around backups. */
	if (json_object_get(body, "hooks")) {
		if (strcmp(kind, "backup") == 0)
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field 'hooks': hooks are set on the source group (/api/v1/hosts/{id}/sources)");
		else
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
					 "field 'hooks': hooks run only around backups, not around %s jobs", kind);
		goto out;
	}
	if (fn(c, body, &jr, args) < 0)
		goto out;

	memset(&j, 0, sizeof(j));
	jobs_id_new(j.id);
	j.host_id = jr.target_host;
	util_strlcpy(j.kind, kind, sizeof(j.kind));
	util_strlcpy(j.status, "queued", sizeof(j.status));
	util_strlcpy(j.actor, "user", sizeof(j.actor));
	util_strlcpy(j.actor_name, c->username, sizeof(j.actor_name));
	util_strlcpy(j.group, jr.group, sizeof(j.group));
	j.created_at = util_now();
	j.args = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
	cmd = json_pack("{s:s,s:s,s:s,s:O}", "type", "run", "job_id", j.id, "kind", j.kind, "args", args);
	if (!j.args || !cmd) {
		free(j.args);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		goto out;
	}
	r = store_begin(srv->store);
	if (r == 0)
		r = store_job_insert(srv->store, &j);
	if (r == 0)
		r = store_cmd_enqueue(srv->store, j.host_id, "run", j.id, cmd, j.created_at, &seq);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	free(j.args);
	j.args = NULL;
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot store the job now");
		goto out;
	}
	agentd_notify(srv, j.host_id);
	snprintf(target, sizeof(target), "host:%lld", (long long)j.host_id);
	audit_log(srv, c, "job.create", target, "ok",
	          json_pack("{s:s,s:s,s:s*}", "job_id", j.id, "kind", j.kind, "group", j.group[0] ? j.group : NULL));
	jobs_publish_state(srv, j.id);
	util_strlcpy(jid, j.id, sizeof(jid));
	if (store_job_get(srv->store, jid, &j) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the job now");
		goto out;
	}
	out = api_job_json(&j);
	store_job_release(&j);
	http_reply_json(c, 201, out);
out:
	json_decref(args);
	json_decref(cmd);
	store_host_release(&host);
}

void api_jobs_list(struct http_ctx *c)
{
	const char *status = http_query(c, "status"), *kind = http_query(c, "kind");
	int64_t host, limit, cursor;
	struct store_job *js;
	size_t n;
	json_t *items, *next = json_null();

	if (http_query_int(c, "host", 1, INT64_MAX, 0, &host) < 0 ||
	    http_query_int(c, "limit", 1, 500, 100, &limit) < 0 ||
	    http_query_int(c, "cursor", 0, INT64_MAX, 0, &cursor) < 0)
		return;
	if (status && !is_status(status)) {
		http_reply_error(c, 400, "invalid_parameter", "unknown status '%s'", status);
		return;
	}
	if (kind && !is_kind(kind)) {
		http_reply_error(c, 400, "invalid_parameter", "unknown kind");
		return;
	}
	if (store_job_list(c->srv->store, host, status, kind, cursor, (int)limit + 1, &js, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot list jobs now");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(items, api_job_json(&js[i]));
	if (n > (size_t)limit) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)js[limit - 1].rid);
		next = json_string(buf);
	}
	store_jobs_free(js, n);
	http_reply_json(c, 200, json_pack("{s:o,s:o}", "items", items, "next", next));
}

/* Load the job named by path parameter 0.  Return 0 or -1 after replying. */
static int job_load(struct http_ctx *c, struct store_job *j)
{
	int r;
	if (!jobs_id_is_valid(c->params[0])) {
		http_reply_error(c, 404, "not_found", "no such job");
		return -1;
	}
	r = store_job_get(c->srv->store, c->params[0], j);
	if (r == -ENOENT) {
		http_reply_error(c, 404, "not_found", "no such job");
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the job now");
		return -1;
	}
	return 0;
}

void api_jobs_get(struct http_ctx *c)
{
	struct store_job j;
	json_t *o;
	if (job_load(c, &j) < 0)
		return;
	o = api_job_json(&j);
	store_job_release(&j);
	http_reply_json(c, 200, o);
}

void api_jobs_cancel(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_job j;
	json_t *cmd, *o;
	int64_t seq;
	int r, dropped = 0;
	bool direct;
	char target[48];

	if (job_load(c, &j) < 0)
		return;
	if (store_job_status_is_final(j.status)) {
		http_reply_error(c, 409, "job_finished", "the job has already finished (%s)", j.status);
		store_job_release(&j);
		return;
	}
	direct = !strcmp(j.status, "queued");
	cmd = json_pack("{s:s,s:s}", "type", "cancel", "job_id", j.id);
	r = store_begin(srv->store);
	if (r == 0 && direct) {
		dropped = store_cmd_drop_run(srv->store, j.host_id, j.id);
		r = dropped < 0 ? dropped
		                : store_job_finish(srv->store, j.id, "cancelled", false, 0, NULL,
		                                   "cancelled before it started", util_now());
		r = r < 0 ? r : 0;
	}
	/* A run command already delivered may be starting: tell the agent too. */
	if (r == 0 && (!direct || dropped == 0))
		r = store_cmd_enqueue(srv->store, j.host_id, "cancel", j.id, cmd, util_now(), &seq);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	json_decref(cmd);
	if (r < 0) {
		store_job_release(&j);
		http_reply_error(c, 503, "unavailable", "cannot cancel the job now");
		return;
	}
	agentd_notify(srv, j.host_id);
	snprintf(target, sizeof(target), "job:%s", j.id);
	audit_log(srv, c, "job.cancel", target, "ok",
	          json_pack("{s:I,s:s,s:s}", "host_id", (json_int_t)j.host_id, "kind", j.kind, "was", j.status));
	if (direct)
		jobs_publish_state(srv, j.id);
	store_job_release(&j);
	if (store_job_get(srv->store, c->params[0], &j) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the job now");
		return;
	}
	o = api_job_json(&j);
	store_job_release(&j);
	http_reply_json(c, direct ? 200 : 202, o);
}

struct log_out {
	struct evbuffer *buf;
	bool ndjson;
	int err;
};

static int log_line(void *arg, int64_t line, const char *t, const char *stream, const char *text)
{
	struct log_out *lo = arg;
	if (lo->ndjson) {
		json_t *o =
		    json_pack("{s:I,s:s,s:s,s:s}", "line", (json_int_t)line, "t", t, "stream", stream, "text", text);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (!s || evbuffer_add_printf(lo->buf, "%s\n", s) < 0)
			lo->err = -ENOMEM;
		free(s);
	} else if (evbuffer_add_printf(lo->buf, "%s\n", text) < 0) {
		lo->err = -ENOMEM;
	}
	return lo->err != 0;
}

void api_jobs_log(struct http_ctx *c)
{
	struct store_job j;
	struct log_out lo = {0};
	const char *fmt = http_query(c, "format");
	int r;

	if (fmt && strcmp(fmt, "ndjson") != 0 && strcmp(fmt, "text") != 0) {
		http_reply_error(c, 400, "invalid_parameter", "format must be text or ndjson");
		return;
	}
	if (job_load(c, &j) < 0)
		return;
	lo.ndjson = fmt && !strcmp(fmt, "ndjson");
	lo.buf = evbuffer_new();
	if (!lo.buf) {
		store_job_release(&j);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	r = store_job_log_each(c->srv->store, j.rid, 0, INT64_MAX, log_line, &lo);
	store_job_release(&j);
	if (r < 0 || lo.err) {
		evbuffer_free(lo.buf);
		http_reply_error(c, 503, "unavailable", "cannot read the log now");
		return;
	}
	http_reply_buffer(c, 200, lo.ndjson ? "application/x-ndjson" : "text/plain; charset=utf-8", lo.buf);
	evbuffer_free(lo.buf);
}

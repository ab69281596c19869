/*
 * api_agent.c — the agent endpoint (docs/protocol.md).  Loop thread only.
 *
 * Authentication: enroll takes a one-time enrolment token; every other route
 * is ACCESS_AGENT and goes through agentauth_lookup() (called by auth.c):
 * protocol version first (426 for an agent that is too old), then the bearer
 * agent token, looked up by its SHA-256.  An agent reaches only its own
 * host: c->host_id comes from the token, never from the request.
 *
 * Event batches are validated completely (shape, types, job ids, that every
 * job belongs to this host) before anything is written; then they are
 * applied in one transaction, each event once: (host, seq) is recorded in
 * the events table and a replayed event is skipped.  Browser streams are
 * fed after the commit, so nothing is published that was rolled back.
 *
 * Repository credentials: sealed at rest (secrets.c) with the AD
 * "enrollment:<token id>:repository" until enrolment, then re-sealed with
 * "host:<host id>:repository".  They leave the server only in hello replies
 * and config commands to the host's own agent.
 */
#include "server/api_agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "common/version.h"
#include "server/agent_events.h"
#include "server/agentd.h"
#include "server/alerts.h"
#include "server/api_jobs.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/schedules.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/sse.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_jobs.h"

/* ---- shared helpers ---- */

static bool token_is_wellformed(const char *s)
{
	size_t len = strlen(s);
	if (len != SECRETS_TOKEN_CHARS)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_'))
			return false;
	}
	return true;
}

/* The protocol version the agent speaks: header, else body "protocol_version", else 0. */
static int64_t agent_protocol(struct http_ctx *c)
{
	const char *h = http_get_header(c, AGENT_PROTOCOL_HEADER);
	int64_t v = 0;
	json_t *b;

	if (h && util_parse_i64(h, 0, 1000000, &v) == 0)
		return v;
	b = json_object_get(c->body, "protocol_version");
	if (json_is_integer(b))
		return json_integer_value(b);
	return 0;
}

/* Reply 426 and return -1 when the agent is too old. */
static int protocol_check(struct http_ctx *c)
{
	int64_t v = agent_protocol(c);
	if (v >= RM_PROTOCOL_MIN)
		return 0;
	http_reply_error(c, 426, "protocol_too_old",
	                 "agent protocol %lld is too old: this server needs protocol %d or newer; upgrade the agent "
	                 "(restic-manager-agent) from this server's /agent/binary",
	                 (long long)v, RM_PROTOCOL_MIN);
	return -1;
}

int agentauth_lookup(struct http_ctx *c)
{
	const char *authz = http_get_header(c, "Authorization"), *tok;
	char hash[SECRETS_HASH_HEX];
	int64_t id;
	int r;

	if (protocol_check(c) < 0)
		return -1;
	if (!authz || strncasecmp(authz, "Bearer ", 7) != 0) {
		http_reply_error(c, 401, "unauthenticated", "agent token required (Authorization: Bearer)");
		return -1;
	}
	tok = authz + 7;
	while (*tok == ' ')
		tok++;
	if (!token_is_wellformed(tok)) {
		http_reply_error(c, 401, "invalid_token", "invalid or revoked agent token");
		return -1;
	}
	secrets_token_hash(tok, hash);
	r = store_host_by_token(c->srv->store, hash, &id);
	if (r == -ENOENT) {
		http_reply_error(c, 401, "invalid_token", "invalid or revoked agent token");
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot check credentials now");
		return -1;
	}
	c->via = AUTH_VIA_AGENT;
	c->host_id = id;
	return 0;
}

__attribute__((weak)) json_t *agent_schedule_json(struct server *srv, int64_t host_id)
{
	(void)srv;
	(void)host_id;
	return json_pack("{s:i,s:[],s:[]}", "version", 0, "groups", "schedules");
}

__attribute__((weak)) void agent_tree_result(struct server *srv, int64_t host_id, json_t *event)
{
	(void)srv;
	(void)host_id;
	(void)event;
}

int agent_config_json(struct server *srv, int64_t host_id, json_t **out)
{
	unsigned char *blob = NULL;
	size_t len = 0, plen = 0;
	char ad[64], *pt = NULL;
	json_t *repo;
	int r;

	*out = NULL;
	r = store_host_get_secret(srv->store, host_id, &blob, &len);
	if (r < 0)
		return r;
	snprintf(ad, sizeof(ad), "host:%lld:repository", (long long)host_id);
	r = secrets_unseal(srv->secrets, blob, len, ad, &pt, &plen);
	free(blob);
	if (r < 0)
		return r;
	repo = json_loadb(pt, plen, 0, NULL);
	secrets_free_plain(pt);
	if (!json_is_object(repo)) {
		json_decref(repo);
		return -EBADMSG;
	}
	*out = json_pack("{s:o,s:o}", "repository", repo, "limits", schedules_host_limits_json(srv, host_id));
	return *out ? 0 : -ENOMEM;
}

int agent_command_send(struct server *srv, int64_t host_id, json_t *cmd, int64_t *seq)
{
	const char *type = json_string_value(json_object_get(cmd, "type"));
	const char *job = json_string_value(json_object_get(cmd, "job_id"));
	int64_t s = 0;
	int r;

	if (!type)
		return -EINVAL;
	r = store_begin(srv->store);
	if (r < 0)
		return r;
	r = store_cmd_enqueue(srv->store, host_id, type, job, cmd, util_now(), &s);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	if (r < 0)
		return r;
	if (seq)
		*seq = s;
	agentd_notify(srv, host_id);
	return 0;
}

/* ---- enroll ---- */

/* Optional short string fact from the body; over-long or non-string → NULL. */
static const char *fact(json_t *body, const char *field, size_t max)
{
	json_t *v = json_object_get(body, field);
	if (!json_is_string(v) || json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
		return NULL;
	return json_string_value(v);
}

void api_agent_enroll(struct http_ctx *c)
{
	struct server *srv = c->srv;
	json_t *body = http_body_object(c);
	const char *token;
	char hash[SECRETS_HASH_HEX], agent_token[SECRETS_TOKEN_CHARS + 1], agent_hash[SECRETS_HASH_HEX];
	char ad[64], target[32], ts[32];
	struct store_enrollment e;
	unsigned char *blob = NULL;
	size_t bloblen = 0, plen = 0;
	char *pt = NULL;
	int64_t host_id = 0, now = util_now();
	int r;

	if (!body || protocol_check(c) < 0)
		return;
	token = fact(body, "token", 256);
	if (!token || !token_is_wellformed(token)) {
		audit_log(srv, c, "host.enroll", NULL, "denied", json_pack("{s:s}", "reason", "malformed token"));
		http_reply_error(c, 401, "invalid_token", "invalid, expired or already used enrolment token");
		return;
	}
	secrets_token_hash(token, hash);
	r = store_enroll_find(srv->store, hash, now, &e);
	if (r == -ENOENT) {
		audit_log(srv, c, "host.enroll", NULL, "denied",
		          json_pack("{s:s}", "reason", "unknown, expired or used token"));
		http_reply_error(c, 401, "invalid_token", "invalid, expired or already used enrolment token");
		return;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot check the token now");
		return;
	}
	snprintf(ad, sizeof(ad), "enrollment:%lld:repository", (long long)e.id);
	r = secrets_unseal(srv->secrets, e.secret, e.secret_len, ad, &pt, &plen);
	if (r < 0) {
		log_error("cannot open the sealed repository credentials of enrolment token %lld: %s", (long long)e.id,
		          strerror(-r));
		store_enrollment_release(&e);
		http_reply_error(c, 500, "internal", "cannot read the repository credentials of this token");
		return;
	}
	secrets_token_new(agent_token);
	secrets_token_hash(agent_token, agent_hash);
	r = store_begin(srv->store);
	if (r == 0)
		r = store_host_insert(srv->store, e.hostname, e.tags, e.paths, e.repo_url, agent_hash, now, &host_id);
	if (r == 0) {
		snprintf(ad, sizeof(ad), "host:%lld:repository", (long long)host_id);
		r = secrets_seal(srv->secrets, pt, plen, ad, &blob, &bloblen);
	}
	if (r == 0)
		r = store_host_set_secret(srv->store, host_id, blob, bloblen);
	if (r == 0)
		r = store_enroll_mark_used(srv->store, e.id, host_id, now);
	if (r == 0)
		r = store_host_update_hello(srv->store, host_id, fact(body, "os", 63), fact(body, "arch", 31),
		                            fact(body, "agent_version", 63), fact(body, "restic_version", 63),
		                            agent_protocol(c), now);
	if (r == 0)
		r = store_commit(srv->store);
	else
		store_rollback(srv->store);
	secrets_free_plain(pt);
	free(blob);
	if (r == -ENOENT) {
		store_enrollment_release(&e);
		explicit_bzero(agent_token, sizeof(agent_token));
		http_reply_error(c, 401, "invalid_token", "invalid, expired or already used enrolment token");
		return;
	}
	if (r < 0) {
		store_enrollment_release(&e);
		explicit_bzero(agent_token, sizeof(agent_token));
		http_reply_error(c, 503, "unavailable", "cannot enrol the host now");
		return;
	}
	snprintf(target, sizeof(target), "host:%lld", (long long)host_id);
	c->via = AUTH_VIA_AGENT; /* the new agent is the actor */
	c->host_id = host_id;
	audit_log(srv, c, "host.enroll", target, "ok",
	          json_pack("{s:s,s:s?,s:s?,s:I}", "name", e.hostname, "os", fact(body, "os", 63), "arch",
	                    fact(body, "arch", 31), "enrollment_token_id", (json_int_t)e.id));
	log_info("host %lld (%s) enrolled from %s", (long long)host_id, e.hostname, c->client_addr);
	store_enrollment_release(&e);
	agentd_touch(srv, host_id);
	util_time_rfc3339(now, ts);
	http_reply_json(
	    c, 201,
	    json_pack("{s:I,s:s,s:s}", "host_id", (json_int_t)host_id, "agent_token", agent_token, "server_time", ts));
	explicit_bzero(agent_token, sizeof(agent_token));
}

/* ---- hello ---- */

/* hello's queued_job_ids: an array of at most AGENT_HELLO_MAX_QUEUED job ids. */
static bool queued_ids_valid(json_t *a)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a) || json_array_size(a) > AGENT_HELLO_MAX_QUEUED)
		return false;
	json_array_foreach (a, i, v) {
		if (!json_is_string(v) || !jobs_id_is_valid(json_string_value(v)))
			return false;
	}
	return true;
}

static bool queued_ids_has(json_t *a, const char *id)
{
	size_t i;
	json_t *v;

	json_array_foreach (a, i, v) {
		if (!strcmp(json_string_value(v), id))
			return true;
	}
	return false;
}

void api_agent_hello(struct http_ctx *c)
{
	struct server *srv = c->srv;
	json_t *body = http_body_object(c), *config = NULL, *rj, *out, *queued;
	struct store_host h;
	const char *running = NULL;
	char(*ids)[STORE_JOB_ID_LEN + 1] = NULL;
	size_t n = 0;
	int64_t last_cmd = 0;
	char ts[32];
	int r;

	if (!body)
		return;
	rj = json_object_get(body, "running_job_id");
	if (rj && !json_is_null(rj)) {
		if (!json_is_string(rj) || !jobs_id_is_valid(json_string_value(rj))) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'running_job_id' must be a job id or null");
			return;
		}
		running = json_string_value(rj);
	}
	if (http_json_int(c, body, "last_command_seq", 0, INT64_MAX, false, 0, &last_cmd) < 0)
		return;
	queued = json_object_get(body, "queued_job_ids");
	if (queued && !queued_ids_valid(queued)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
		                 "field 'queued_job_ids' must be an array of at most %d job ids", AGENT_HELLO_MAX_QUEUED);
		return;
	}
	r = store_host_update_hello(srv->store, c->host_id, fact(body, "os", 63), fact(body, "arch", 31),
	                            fact(body, "agent_version", 63), fact(body, "restic_version", 63),
	                            agent_protocol(c), util_now());
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot record the hello now");
		return;
	}
	agentd_touch(srv, c->host_id);
	/* The zone the agent evaluates schedules in: next runs are shown in it. */
	schedules_set_host_timezone(srv, c->host_id, json_string_value(json_object_get(body, "timezone")));
	if (last_cmd > 0)
		store_cmd_ack(srv->store, c->host_id, last_cmd);
	/* Jobs the server believes running that the agent no longer runs (nor
	 * holds: one that just ended has its job.finished still on the way). */
	if (store_job_running_ids(srv->store, c->host_id, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if ((running && !strcmp(running, ids[i])) || (queued && queued_ids_has(queued, ids[i])))
				continue;
			jobs_fail(srv, ids[i], STORE_JOB_ERR_AGENT_RESTARTED);
			store_host_clear_running(srv->store, c->host_id, ids[i]);
		}
		free(ids);
	}
	/* Jobs whose run command the agent acknowledged (so it is gone from the
	 * command queue and will not be delivered again) but that the agent no
	 * longer holds: lost before they started.  Only agents that list their
	 * queue can tell; see docs/protocol.md. */
	if (queued && store_job_delivered_queued_ids(srv->store, c->host_id, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			if ((running && !strcmp(running, ids[i])) || queued_ids_has(queued, ids[i]))
				continue;
			jobs_fail(srv, ids[i], STORE_JOB_ERR_AGENT_LOST);
		}
		free(ids);
	}
	r = agent_config_json(srv, c->host_id, &config);
	if (r < 0) {
		log_error("cannot build the agent config of host %lld: %s", (long long)c->host_id, strerror(-r));
		http_reply_error(c, 500, "internal", "cannot read this host's repository credentials");
		return;
	}
	if (store_host_get(srv->store, c->host_id, &h) < 0) {
		json_decref(config);
		http_reply_error(c, 503, "unavailable", "cannot read the host now");
		return;
	}
	util_time_rfc3339(util_now(), ts);
	out = json_pack("{s:I,s:o,s:o*,s:I,s:s}", "host_id", (json_int_t)h.id, "config", config, "schedule",
	                agent_schedule_json(srv, h.id), "last_event_seq", (json_int_t)h.last_event_seq, "server_time",
	                ts);
	store_host_release(&h);
	if (!out) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	http_reply_json(c, 200, out);
}

/* ---- commands ---- */

void api_agent_commands(struct http_ctx *c)
{
	int64_t after, wait;
	if (http_query_int(c, "after", 0, INT64_MAX, 0, &after) < 0 ||
	    http_query_int(c, "wait", 0, AGENTD_MAX_WAIT, AGENTD_DEFAULT_WAIT, &wait) < 0)
		return;
	agentd_poll(c, after, (int)wait);
}

/* ---- events: application ---- */

/* What to publish after the commit. */
struct post {
	json_t *state_jobs; /* object used as a set of job ids */
	json_t *msgs;       /* [{"job","event","id","data"}] */
	bool repo_stats;    /* a repo.stats was stored (stale-lock alert) */
};

static int64_t event_time(json_t *e)
{
	(void)e;
	return util_now();
}

/* Make sure job_id exists for this host (adopting an agent-minted id).  OUT: *j. */
static int job_ensure(struct http_ctx *c, json_t *e, const char *job_id, struct store_job *j, bool *created)
{
	struct server *srv = c->srv;
	const char *kind = json_string_value(json_object_get(e, "kind"));
	const char *actor = json_string_value(json_object_get(e, "actor"));
	const char *group = json_string_value(json_object_get(e, "group"));
	json_t *args = json_object_get(e, "args");
	int r = store_job_get(srv->store, job_id, j);

	*created = false;
	if (r != -ENOENT)
		return r;
	memset(j, 0, sizeof(*j));
	util_strlcpy(j->id, job_id, sizeof(j->id));
	j->host_id = c->host_id;
	util_strlcpy(j->kind, kind ? kind : "unknown", sizeof(j->kind));
	util_strlcpy(j->status, "running", sizeof(j->status));
	util_strlcpy(j->actor, actor ? actor : "schedule", sizeof(j->actor));
	if (group)
		util_strlcpy(j->group, group, sizeof(j->group));
	j->created_at = j->started_at = event_time(e);
	j->args = json_is_object(args) ? json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	if (!j->args)
		return -ENOMEM;
	r = store_job_insert(srv->store, j);
	store_job_release(j);
	if (r < 0)
		return r;
	*created = true;
	return store_job_get(srv->store, job_id, j);
}

static void post_msg(struct post *p, const char *job, const char *event, int64_t id, json_t *data)
{
	json_array_append_new(p->msgs, json_pack("{s:s,s:s,s:I,s:o}", "job", job, "event", event, "id", (json_int_t)id,
	                                         "data", data ? data : json_null()));
}

static int apply_log(struct http_ctx *c, struct store_job *j, json_t *e, struct post *p)
{
	json_t *lines = json_object_get(e, "lines"), *l;
	size_t i;
	int r;

	json_array_foreach(lines, i, l)
	{
		const char *text = json_string_value(json_object_get(l, "text"));
		const char *stream = json_string_value(json_object_get(l, "stream"));
		const char *t = json_string_value(json_object_get(l, "t"));
		char buf[JOBS_LOG_LINE_MAX + 1];
		int64_t line;

		if (j->log_lines >= JOBS_LOG_MAX_LINES)
			break;
		if (j->log_lines == JOBS_LOG_MAX_LINES - 1) {
			text = "[log truncated: the server keeps at most 200000 lines per job]";
			stream = "agent";
		}
		util_strlcpy(buf, text, sizeof(buf)); /* cap each line at 4 KiB */
		line = j->log_lines + 1;
		r = store_job_log_insert(c->srv->store, j->rid, line, t, stream ? stream : "stdout", buf);
		if (r < 0)
			return r;
		j->log_lines = line;
		post_msg(p, j->id, "log", line,
		         json_pack("{s:I,s:s,s:s,s:s}", "line", (json_int_t)line, "t", t ? t : "", "stream",
		                   stream ? stream : "stdout", "text", buf));
	}
	return store_job_set_log_lines(c->srv->store, j->rid, j->log_lines);
}

static int apply_event(struct http_ctx *c, json_t *e, enum agent_ev type, struct post *p)
{
	struct server *srv = c->srv;
	const char *job_id = json_string_value(json_object_get(e, "job_id"));
	struct store_job j;
	bool created = false;
	int r = 0;

	memset(&j, 0, sizeof(j));
	if (job_id) {
		r = job_ensure(c, e, job_id, &j, &created);
		if (r < 0)
			return r;
		if (created) {
			char target[32];
			snprintf(target, sizeof(target), "host:%lld", (long long)c->host_id);
			audit_log_actor(srv, j.actor, c->client_addr, "job.create", target, "ok",
			                json_pack("{s:s,s:s,s:s?,s:b}", "job_id", j.id, "kind", j.kind, "group",
			                          j.group[0] ? j.group : NULL, "adopted", 1));
			json_object_set_new(p->state_jobs, j.id, json_true());
		}
	}
	switch (type) {
	case AGENT_EV_JOB_STARTED:
		if (!strcmp(j.status, "queued")) {
			r = store_job_set_running(srv->store, j.id, event_time(e));
			json_object_set_new(p->state_jobs, j.id, json_true());
		}
		if (r >= 0 && !store_job_status_is_final(j.status))
			r = store_host_set_running(srv->store, c->host_id, j.id);
		break;
	case AGENT_EV_JOB_PROGRESS: {
		json_t *prog = json_deep_copy(e);
		char *text;
		json_object_del(prog, "seq");
		json_object_del(prog, "type");
		json_object_del(prog, "job_id");
		text = json_dumps(prog, JSON_COMPACT);
		r = text ? store_job_set_progress(srv->store, j.id, text) : -ENOMEM;
		free(text);
		post_msg(p, j.id, "progress", 0, prog);
		break;
	}
	case AGENT_EV_JOB_LOG:
		r = apply_log(c, &j, e, p);
		break;
	case AGENT_EV_JOB_FINISHED: {
		const char *status = json_string_value(json_object_get(e, "status"));
		json_t *ec = json_object_get(e, "exit_code"), *sum = json_object_get(e, "summary");
		char *stext = json_is_object(sum) ? json_dumps(sum, JSON_COMPACT) : NULL;
		bool has_exit = json_is_integer(ec);
		int64_t code = has_exit ? json_integer_value(ec) : 0;
		int64_t now = event_time(e);
		/* restic exit code 3: snapshot written but incomplete. */
		if (has_exit && code == 3 && !strcmp(status, "succeeded"))
			status = "warning";
		r = store_job_finish(srv->store, j.id, status, has_exit, code, stext,
		                     json_string_value(json_object_get(e, "error")), now);
		free(stext);
		if (r > 0) {
			json_object_set_new(p->state_jobs, j.id, json_true());
			if (!strcmp(j.kind, "backup"))
				r = store_host_set_last_backup(srv->store, c->host_id, j.id, status, now,
				                               !strcmp(status, "succeeded") ||
				                                   !strcmp(status, "warning"));
			char target[48];
			snprintf(target, sizeof(target), "job:%s", j.id);
			audit_log(srv, c, "job.finish", target, status,
			          json_pack("{s:s,s:I}", "kind", j.kind, "host_id", (json_int_t)c->host_id));
		}
		if (r >= 0)
			r = store_host_clear_running(srv->store, c->host_id, j.id);
		break;
	}
	case AGENT_EV_SNAPSHOTS:
		r = store_snapshots_replace(srv->store, c->host_id, json_object_get(e, "snapshots"));
		break;
	case AGENT_EV_REPO_STATS: {
		json_t *o = json_deep_copy(e);
		json_object_del(o, "seq");
		json_object_del(o, "type");
		r = store_repo_stats_merge(srv->store, c->host_id, o, util_now());
		json_decref(o);
		p->repo_stats = true;
		break;
	}
	case AGENT_EV_SCHEDULE_ACK:
		r = store_host_set_schedule_version(srv->store, c->host_id,
		                                    json_integer_value(json_object_get(e, "version")));
		break;
	case AGENT_EV_TREE_RESULT:
		agent_tree_result(srv, c->host_id, e);
		break;
	case AGENT_EV_COMMAND_RESULT:
		if (!json_is_true(json_object_get(e, "ok"))) {
			const char *err = json_string_value(json_object_get(e, "error"));
			char msg[256];
			util_strlcpy(msg, err ? err : "no reason given", sizeof(msg));
			log_warnx("host %lld: command %lld failed: %s", (long long)c->host_id,
			          (long long)json_integer_value(json_object_get(e, "command_seq")), msg);
		}
		break;
	}
	if (job_id)
		store_job_release(&j);
	return r < 0 ? r : 0;
}

static void post_run(struct server *srv, struct post *p)
{
	const char *id;
	json_t *v;
	size_t i;

	json_array_foreach(p->msgs, i, v)
	{
		const char *job = json_string_value(json_object_get(v, "job"));
		const char *ev = json_string_value(json_object_get(v, "event"));
		sse_publish_job(srv, job, ev, json_integer_value(json_object_get(v, "id")),
		                json_incref(json_object_get(v, "data")));
	}
	json_object_foreach(p->state_jobs, id, v) jobs_publish_state(srv, id);
}

void api_agent_events(struct http_ctx *c)
{
	struct server *srv = c->srv;
	json_t *body = http_body_object(c), *events, *e;
	enum agent_ev *types;
	struct post p = {0};
	struct store_host h;
	int64_t now = util_now(), max_seq = 0, prev_seq = 0, lines = 0, stored = 0;
	bool ascending = true;
	size_t i, n;
	int r = 0;

	if (!body)
		return;
	events = json_object_get(body, "events");
	if (!json_is_array(events)) {
		http_reply_error(c, 400, "invalid_event", "body must be {\"events\":[…]}");
		return;
	}
	n = json_array_size(events);
	if (n > AGENT_MAX_EVENTS) {
		http_reply_error(c, 413, "too_many_events", "at most %d events per batch", AGENT_MAX_EVENTS);
		return;
	}
	agentd_touch(srv, c->host_id);
	types = calloc(n + 1, sizeof(*types));
	if (!types) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	/* Pass 1: validate everything; an agent reaches only its own host's jobs. */
	json_array_foreach(events, i, e)
	{
		const char *msg = agent_event_check(e, &types[i]);
		const char *job_id;
		int64_t owner;
		if (msg) {
			free(types);
			http_reply_error(c, 400, "invalid_event", "event %zu: %s", i, msg);
			return;
		}
		if (json_integer_value(json_object_get(e, "seq")) <= prev_seq)
			ascending = false;
		prev_seq = json_integer_value(json_object_get(e, "seq"));
		job_id = json_string_value(json_object_get(e, "job_id"));
		if (job_id) {
			r = store_job_host(srv->store, job_id, &owner);
			if (r == 0 && owner != c->host_id) {
				free(types);
				audit_log(srv, c, "agent.events", "job", "denied",
				          json_pack("{s:s,s:I}", "job_id", job_id, "owner", (json_int_t)owner));
				http_reply_error(c, 403, "forbidden", "event %zu: job %s belongs to another host", i,
				                 job_id);
				return;
			}
			if (r < 0 && r != -ENOENT) {
				free(types);
				http_reply_error(c, 503, "unavailable", "cannot check jobs now");
				return;
			}
		}
	}
	/* Pass 2: apply, each (host, seq) once, in one transaction.  A batch in
	 * ascending seq order may be stored in part (acked_seq then tells the
	 * agent where to resume): one request never holds the loop for more than
	 * AGENT_BATCH_LINE_BUDGET log lines. */
	p.state_jobs = json_object();
	p.msgs = json_array();
	r = (p.state_jobs && p.msgs) ? store_begin(srv->store) : -ENOMEM;
	if (r == 0) {
		json_array_foreach(events, i, e)
		{
			int64_t seq = json_integer_value(json_object_get(e, "seq"));
			r = store_event_insert(srv->store, c->host_id, seq,
			                       json_string_value(json_object_get(e, "type")),
			                       json_string_value(json_object_get(e, "job_id")),
			                       json_string_value(json_object_get(e, "time")), now);
			if (r < 0)
				break;
			if (r == 0)
				continue; /* replayed */
			r = apply_event(c, e, types[i], &p);
			if (r < 0)
				break;
			stored++;
			if (seq > max_seq)
				max_seq = seq;
			if (types[i] == AGENT_EV_JOB_LOG)
				lines += (int64_t)json_array_size(json_object_get(e, "lines"));
			if (ascending && lines >= AGENT_BATCH_LINE_BUDGET)
				break;
		}
		if (r >= 0 && max_seq > 0)
			r = store_host_set_last_event_seq(srv->store, c->host_id, max_seq);
		if (r >= 0)
			r = store_commit(srv->store);
		else
			store_rollback(srv->store);
	}
	free(types);
	if (r < 0) {
		json_decref(p.state_jobs);
		json_decref(p.msgs);
		log_warnx("cannot store events of host %lld: %s", (long long)c->host_id, strerror(-r));
		http_reply_error(c, 503, "unavailable", "cannot store events now; retry");
		return;
	}
	metrics_count_events(srv, stored);
	post_run(srv, &p);
	if (p.repo_stats)
		alerts_repo_stats(srv, c->host_id);
	json_decref(p.state_jobs);
	json_decref(p.msgs);
	if (store_host_get(srv->store, c->host_id, &h) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the host now");
		return;
	}
	http_reply_json(c, 200, json_pack("{s:I}", "acked_seq", (json_int_t)h.last_event_seq));
	store_host_release(&h);
}

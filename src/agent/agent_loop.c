/*
 * agent_loop.c — `restic-manager-agent run`: the service loop.
 *
 * One thread.  One wait (http_client_wait = curl_multi_poll) covers the
 * network, the running restic's stdout/stderr pipes and the wake pipe of
 * the stop signal.  Up to three requests are in flight: hello (only while
 * connecting), the long-poll, and one event batch.
 *
 *   IDLE --(retry_at)--> SYNC --(old events acked)--> HELLO --200--> UP
 *   any state --(transport error, 5xx, 401, 426)--> IDLE
 *
 * Any transport error, 5xx, 401 or 426 drops every request and retries with
 * exponential backoff and jitter (backoff.h).  Events are spooled before
 * they are sent and dropped when acked (spool.h); the event seq is durable
 * through the spool itself and state.json (saved before the spool shrinks).
 * Commands are applied in seq order; `after=` only advances once the queue
 * holding them is on disk.  Jobs run one at a time from queue.json; the
 * running job id is in state.json so a restart reports it as failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/backoff.h"
#include "agent/credential.h"
#include "agent/http_client.h"
#include "agent/job.h"
#include "agent/schedule.h"
#include "agent/spool.h"
#include "common/log.h"
#include "common/util.h"
#include "common/version.h"

#define POLL_WAIT_S 30
#define EVENTS_MAX_BATCH 1000
#define EVENTS_MAX_BYTES (4u * 1024 * 1024 - 64 * 1024)
#define HELLO_MAX_QUEUED 1000 /* job ids listed in hello at most (the server's cap) */

/* SYNC: events spooled before this connection are delivered before hello,
 * so the server learns how a job ended (e.g. while it was down and the
 * agent restarted) before hello's running_job_id makes it give up on it. */
enum conn { CONN_IDLE, CONN_SYNC, CONN_HELLO, CONN_UP };

struct agent {
	struct agent_opts opts;
	struct agent_conf conf;
	struct agent_state st;
	struct spool spool;
	struct http_client *http;
	enum conn conn;
	int64_t retry_at;
	struct backoff bo;
	bool failing; /* log only the first failure of an episode at warn */
	struct http_req *hello_req, *poll_req, *events_req;
	int64_t events_last_seq;
	int64_t sync_target; /* CONN_SYNC: deliver events up to this seq first */
	size_t batch_max;
	json_t *repo;  /* repository config (hello/config), or NULL */
	json_t *queue;      /* array of pending run commands (queue.json) */
	json_t *side_queue; /* pending tree commands (memory only) */
	struct job *side;   /* a running tree listing, beside the job */
	struct job *job;
	int64_t orphan_pid;      /* restic of a crashed agent still exiting */
	int64_t orphan_deadline; /* stop waiting for it then */
	char restic_version[64];
	char hostname[256];
	char cache_dir[PLAT_PATH_MAX];
	struct schedule_runner *sched; /* the local schedule (schedule.c) */
};

static void url_for(const struct agent *a, char *out, size_t cap, const char *path)
{
	size_t n = strlen(a->conf.server);
	while (n > 0 && a->conf.server[n - 1] == '/')
		n--;
	snprintf(out, cap, "%.*s%s", (int)n, a->conf.server, path);
}

/* --- events ------------------------------------------------------------- */

static void emit(void *user, json_t *ev, enum job_importance imp)
{
	struct agent *a = user;
	char t[32], *text;
	int r;

	util_time_rfc3339(util_now(), t);
	json_object_set_new(ev, "seq", json_integer(a->st.next_event_seq));
	json_object_set_new(ev, "time", json_string(t));
	text = json_dumps(ev, JSON_COMPACT);
	json_decref(ev);
	if (!text) {
		log_warnx("cannot encode an event: out of memory");
		return;
	}
	r = spool_append(&a->spool, a->st.next_event_seq, text, strlen(text), (int)imp);
	free(text);
	if (r == -ENOSPC) {
		if (!a->spool.cap_logged)
			log_warnx("event spool '%s' reached its cap of %zu bytes: dropping progress and log "
				  "events until the server acknowledges",
				  a->spool.path, a->spool.cap);
		a->spool.cap_logged = true;
		return;
	}
	if (r < 0) {
		log_error("cannot append to the event spool '%s': %s", a->spool.path, strerror(-r));
		return;
	}
	a->st.next_event_seq++;
}

static void emit_finished_failed(struct agent *a, const char *job_id, const char *why)
{
	json_t *ev = json_pack("{s:s, s:s, s:s, s:n, s:n, s:s}", "type", "job.finished", "job_id", job_id, "status",
			       "failed", "exit_code", "summary", "error", why);
	if (ev)
		emit(a, ev, JOB_EV_RESULT);
}

static void emit_command_result(struct agent *a, int64_t seq, bool ok, const char *err)
{
	json_t *ev = json_pack("{s:s, s:I, s:b}", "type", "command.result", "command_seq", (json_int_t)seq, "ok", ok);
	if (!ev)
		return;
	if (err)
		json_object_set_new(ev, "error", json_string(err));
	emit(a, ev, JOB_EV_RESULT);
}

/* --- persistence -------------------------------------------------------- */

static void save_state(struct agent *a)
{
	int r = agent_state_save(a->opts.state_dir, &a->st);
	if (r < 0)
		log_error("cannot write '%s/state.json': %s", a->opts.state_dir, strerror(-r));
}

static void save_queue(struct agent *a)
{
	int r = agent_json_save(a->opts.state_dir, "queue.json", a->queue, 0600);
	if (r < 0)
		log_error("cannot write '%s/queue.json': %s", a->opts.state_dir, strerror(-r));
}

static void set_repo(struct agent *a, json_t *config)
{
	int r;
	if (!json_is_object(config))
		return;
	json_decref(a->repo);
	a->repo = json_incref(config);
	r = agent_json_save(a->opts.config_dir, "repository.json", config, 0600);
	if (r < 0)
		log_error("cannot write '%s/repository.json': %s", a->opts.config_dir, strerror(-r));
}

static void set_schedule(struct agent *a, json_t *sched)
{
	json_t *v = json_object_get(sched, "version");
	int r;

	if (!json_is_object(sched) || !json_is_integer(v))
		return;
	if (json_integer_value(v) == a->st.schedule_version)
		return;
	r = agent_json_save(a->opts.state_dir, "schedule.json", sched, 0600);
	if (r < 0) {
		log_error("cannot write '%s/schedule.json': %s", a->opts.state_dir, strerror(-r));
		return;
	}
	a->st.schedule_version = json_integer_value(v);
	emit(a, json_pack("{s:s, s:I}", "type", "schedule.ack", "version", (json_int_t)a->st.schedule_version),
	     JOB_EV_RESULT);
	save_state(a);
	log_info("schedule version %lld applied", (long long)a->st.schedule_version);
	if (a->sched)
		schedule_set(a->sched, sched);
}

/* --- connection --------------------------------------------------------- */

static void disconnect(struct agent *a, const char *what, const char *why)
{
	int64_t delay;
	uint32_t rnd = 0;

	http_req_free(a->hello_req);
	http_req_free(a->poll_req);
	http_req_free(a->events_req);
	a->hello_req = a->poll_req = a->events_req = NULL;
	plat_random_bytes(&rnd, sizeof(rnd));
	delay = backoff_next(&a->bo, rnd);
	a->retry_at = plat_mono_ms() + delay;
	a->conn = CONN_IDLE;
	if (!a->failing)
		log_warnx("%s failed: %s; retrying in %lld ms", what, why, (long long)delay);
	else
		log_debug("%s failed: %s; retrying in %lld ms", what, why, (long long)delay);
	a->failing = true;
}

/* A non-2xx answer: a short reason from the JSON error body. */
static void reason_of(struct http_req *r, char *out, size_t cap)
{
	size_t len;
	const char *body = http_req_body(r, &len);
	json_t *o, *e;

	if (http_req_status(r) == 0) {
		snprintf(out, cap, "%s", http_req_error(r));
		return;
	}
	o = json_loadb(body, len, 0, NULL);
	e = json_object_get(json_object_get(o, "error"), "message");
	snprintf(out, cap, "HTTP %d%s%s", http_req_status(r), json_is_string(e) ? ": " : "",
		 json_is_string(e) ? json_string_value(e) : "");
	json_decref(o);
}

static void on_fatal_status(struct agent *a, struct http_req *r, const char *what)
{
	char why[512];
	reason_of(r, why, sizeof(why));
	if (http_req_status(r) == 401)
		log_error("%s: the server rejected this agent's token (host deleted or token revoked?); "
			  "enrol again: %s",
			  what, why);
	else if (http_req_status(r) == 426)
		log_error("%s: the server needs a newer agent: %s", what, why);
	a->failing = a->failing || http_req_status(r) == 401 || http_req_status(r) == 426;
	disconnect(a, what, why);
}

static bool is_job_id(const char *s);
static const char *cmd_str(json_t *c, const char *k);

static void start_hello(struct agent *a)
{
	char url[2300];
	json_t *body;
	char *text;
	int r;

	body = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:I, s:s}", "protocol_version", RM_PROTOCOL_VERSION,
			 "agent_version", rm_version, "os", plat_os(), "arch", plat_arch(), "hostname", a->hostname,
			 "restic_version", a->restic_version, "schedule_version", (json_int_t)a->st.schedule_version,
			 "running_job_id",
			 a->job && a->st.running_job_id[0] ? json_string(a->st.running_job_id) : json_null(),
			 "last_command_seq", (json_int_t)a->st.last_command_seq, "timezone",
			 schedule_timezone(a->sched));
	/* The jobs this agent still holds: queued, running, or finished with
	 * their job.finished still in the spool (spooled after the sync that
	 * precedes hello).  The server fails the acknowledged or running ones
	 * missing here; a longer list is left out and the server assumes nothing. */
	if (body) {
		json_t *ids = json_array(), *c;
		size_t i;
		json_array_foreach (a->queue, i, c) {
			const char *id = cmd_str(c, "job_id");
			if (id && is_job_id(id))
				json_array_append_new(ids, json_string(id));
		}
		for (i = 0; ids && i < a->spool.n; i++) {
			json_t *ev;
			if (!strstr(a->spool.v[i].json, "\"type\":\"job.finished\""))
				continue;
			ev = json_loadb(a->spool.v[i].json, a->spool.v[i].len, 0, NULL);
			if (ev && is_job_id(cmd_str(ev, "job_id")))
				json_array_append_new(ids, json_string(cmd_str(ev, "job_id")));
			json_decref(ev);
		}
		if (json_array_size(ids) <= HELLO_MAX_QUEUED)
			json_object_set_new(body, "queued_job_ids", ids);
		else
			json_decref(ids);
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	url_for(a, url, sizeof(url), "/api/agent/v1/hello");
	r = text ? http_client_start(a->http, "POST", url, a->conf.token, text, strlen(text), 30000, NULL,
				     &a->hello_req)
		 : -ENOMEM;
	free(text);
	if (r < 0) {
		disconnect(a, "hello", strerror(-r));
		return;
	}
	a->conn = CONN_HELLO;
}

static void on_hello(struct agent *a, struct http_req *r)
{
	size_t len;
	const char *body = http_req_body(r, &len);
	json_t *o;
	json_t *les;

	if (http_req_status(r) != 200) {
		on_fatal_status(a, r, "hello");
		return;
	}
	o = json_loadb(body, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		disconnect(a, "hello", "malformed answer");
		return;
	}
	set_repo(a, json_object_get(o, "config"));
	set_schedule(a, json_object_get(o, "schedule"));
	les = json_object_get(o, "last_event_seq");
	if (json_is_integer(les)) {
		int64_t acked = json_integer_value(les);
		if (acked >= a->st.next_event_seq) {
			/* the server has seen more than we remember (state lost):
			 * never reuse a seq */
			a->st.next_event_seq = acked + 1;
		}
		save_state(a);
		spool_ack(&a->spool, acked);
	}
	json_decref(o);
	a->conn = CONN_UP;
	a->st.last_contact = util_now();
	save_state(a);
	backoff_reset(&a->bo);
	if (a->failing)
		log_info("connected to '%s' again", a->conf.server);
	else
		log_info("connected to '%s' as host %lld", a->conf.server, (long long)a->conf.host_id);
	a->failing = false;
}

static void start_poll(struct agent *a)
{
	char url[2400], path[128];
	int r;

	snprintf(path, sizeof(path), "/api/agent/v1/commands?after=%lld&wait=%d", (long long)a->st.last_command_seq,
		 POLL_WAIT_S);
	url_for(a, url, sizeof(url), path);
	r = http_client_start(a->http, "GET", url, a->conf.token, NULL, 0, (POLL_WAIT_S + 15) * 1000L, NULL,
			      &a->poll_req);
	if (r < 0)
		disconnect(a, "poll", strerror(-r));
}

static void start_events(struct agent *a)
{
	char url[2300], *body = NULL;
	size_t len = 0;
	int64_t last = 0;
	int n, r;

	n = spool_batch(&a->spool, a->batch_max, EVENTS_MAX_BYTES, &body, &len, &last);
	if (n <= 0)
		return;
	url_for(a, url, sizeof(url), "/api/agent/v1/events");
	r = http_client_start(a->http, "POST", url, a->conf.token, body, len, 60000, NULL, &a->events_req);
	free(body);
	if (r < 0) {
		disconnect(a, "events", strerror(-r));
		return;
	}
	a->events_last_seq = last;
}

static void on_events(struct agent *a, struct http_req *r)
{
	int st = http_req_status(r);
	size_t len;
	const char *body = http_req_body(r, &len);

	if (st == 200) {
		json_t *o = json_loadb(body, len, 0, NULL), *acked = json_object_get(o, "acked_seq");
		if (json_is_integer(acked)) {
			int r2;
			save_state(a); /* the seq must outlive the spool lines */
			r2 = spool_ack(&a->spool, json_integer_value(acked));
			if (r2 < 0)
				log_error("cannot rewrite the event spool '%s': %s", a->spool.path, strerror(-r2));
		}
		json_decref(o);
		a->batch_max = EVENTS_MAX_BATCH;
		a->st.last_contact = util_now();
		return;
	}
	if (st == 400 || st == 404 || st == 403 || st == 413 || st == 422) {
		char why[512];
		reason_of(r, why, sizeof(why));
		if (a->batch_max > 1) {
			/* find the one bad event: send one at a time */
			a->batch_max = 1;
			log_warnx("server rejected an event batch (%s): sending events one by one", why);
		} else if (a->spool.n > 0) {
			log_warnx("server rejected event %lld (%s): dropped", (long long)a->spool.v[0].seq, why);
			save_state(a);
			spool_ack(&a->spool, a->spool.v[0].seq);
		}
		return;
	}
	on_fatal_status(a, r, "sending events");
}

/* --- commands ----------------------------------------------------------- */

static bool is_job_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static const char *cmd_str(json_t *c, const char *k)
{
	json_t *v = json_object_get(c, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool queue_has(struct agent *a, const char *id)
{
	size_t i;
	json_t *c;
	json_array_foreach (a->queue, i, c) {
		const char *q = cmd_str(c, "job_id") ? cmd_str(c, "job_id") : cmd_str(c, "request_id");
		if (q && strcmp(q, id) == 0)
			return true;
	}
	return false;
}

static void on_cmd_run(struct agent *a, json_t *c, int64_t seq)
{
	const char *id = cmd_str(c, "job_id"), *kind = cmd_str(c, "kind");
	char err[256];

	if (!is_job_id(id)) {
		emit_command_result(a, seq, false, "run command without a valid job_id");
		return;
	}
	if (queue_has(a, id) || (a->job && strcmp(job_id(a->job), id) == 0))
		return; /* replayed after a crash */
	if (!kind || strcmp(kind, "tree") == 0 || job_validate(kind, json_object_get(c, "args"), err, sizeof(err)) < 0) {
		if (!kind || strcmp(kind, "tree") == 0)
			snprintf(err, sizeof(err), "unknown job kind");
		log_warnx("job %s rejected: %s", id, err);
		emit_finished_failed(a, id, err);
		return;
	}
	credential_take(c); /* privileged credentials stay in memory, out of queue.json */
	json_array_append(a->queue, c);
	log_info("job %s (%s) queued", id, kind);
}

static void on_cmd_cancel(struct agent *a, json_t *c, int64_t seq)
{
	const char *id = cmd_str(c, "job_id");
	size_t i;
	json_t *q;

	if (id && a->job && strcmp(job_id(a->job), id) == 0) {
		log_info("job %s: cancel requested", id);
		job_cancel(a->job, "requested by the server");
		return;
	}
	json_array_foreach (a->queue, i, q) {
		const char *qid = cmd_str(q, "job_id");
		if (id && qid && strcmp(qid, id) == 0) {
			json_t *ev = json_pack("{s:s, s:s, s:s, s:n, s:n, s:s}", "type", "job.finished", "job_id", id,
					       "status", "cancelled", "exit_code", "summary", "error", "cancelled");
			json_array_remove(a->queue, i);
			if (ev)
				emit(a, ev, JOB_EV_RESULT);
			log_info("job %s: cancelled before it started", id);
			return;
		}
	}
	emit_command_result(a, seq, false, "no such job on this agent");
}

static void on_commands(struct agent *a, struct http_req *r)
{
	size_t len, i;
	const char *body = http_req_body(r, &len);
	json_t *o, *cmds, *c;
	bool changed = false;

	if (http_req_status(r) != 200) {
		on_fatal_status(a, r, "poll");
		return;
	}
	a->st.last_contact = util_now();
	o = json_loadb(body, len, 0, NULL);
	cmds = json_object_get(o, "commands");
	if (!json_is_array(cmds)) {
		json_decref(o);
		disconnect(a, "poll", "malformed answer");
		return;
	}
	json_array_foreach (cmds, i, c) {
		json_t *sv = json_object_get(c, "seq");
		const char *type = cmd_str(c, "type");
		int64_t seq = json_is_integer(sv) ? json_integer_value(sv) : 0;
		if (seq <= a->st.last_command_seq)
			continue;
		if (!type)
			type = "";
		if (strcmp(type, "run") == 0)
			on_cmd_run(a, c, seq);
		else if (strcmp(type, "cancel") == 0)
			on_cmd_cancel(a, c, seq);
		else if (strcmp(type, "schedule") == 0)
			set_schedule(a, json_object_get(c, "schedule"));
		else if (strcmp(type, "config") == 0)
			set_repo(a, json_object_get(c, "config"));
		else if (strcmp(type, "tree") == 0) {
			const char *rid = cmd_str(c, "request_id");
			json_t *targs = json_pack("{s:O?, s:O?}", "snapshot", json_object_get(c, "snapshot"), "path",
						  json_object_get(c, "path"));
			char err[256];
			if (!rid || !*rid || strlen(rid) > 64 || job_validate("tree", targs, err, sizeof(err)) < 0)
				emit_command_result(a, seq, false, "malformed tree command");
			else if (json_array_size(a->side_queue) < 64)
				json_array_append(a->side_queue, c);
			else
				emit_command_result(a, seq, false, "too many pending tree requests");
			json_decref(targs);
		} else if (strcmp(type, "update") == 0)
			emit_command_result(a, seq, false, "self-update is not supported by this agent version");
		else
			emit_command_result(a, seq, false, "unknown command type");
		a->st.last_command_seq = seq;
		changed = true;
	}
	json_decref(o);
	if (changed) {
		save_queue(a); /* the queue is durable before after= moves on */
		save_state(a);
	}
}

/* --- jobs --------------------------------------------------------------- */

static const char *restic_prog(const struct agent *a)
{
	if (a->opts.restic[0])
		return a->opts.restic;
	if (a->conf.restic[0])
		return a->conf.restic;
	return "restic";
}

/* A restore without a target goes to a new directory under the restore
 * root (config "restore_root", else <state>/restore); in_place restores to
 * "/" (restic restores the absolute paths in place). */
static void restore_target(struct agent *a, const char *id, json_t *args)
{
	const char *root = cmd_str(a->repo, "restore_root");
	char base[PLAT_PATH_MAX], dir[PLAT_PATH_MAX];

	if (json_is_true(json_object_get(args, "in_place"))) {
		json_object_set_new(args, "target", json_string("/"));
		return;
	}
	if (root && plat_path_is_absolute(root))
		util_strlcpy(base, root, sizeof(base));
	else
		plat_path_join(base, sizeof(base), a->opts.state_dir, "restore");
	if (plat_path_join(dir, sizeof(dir), base, id) == 0)
		json_object_set_new(args, "target", json_string(dir));
}

/* Bandwidth limits (KiB/s, 0 = unlimited), newest source first: the run
 * command's own (cmd, nullable), the schedule document's (versioned, so it
 * follows every change), the repository config's (from hello). */
static void repo_params(const struct agent *a, json_t *cmd, struct job_params *p)
{
	json_t *repo = json_object_get(a->repo, "repository"), *limits = json_object_get(cmd, "limits");

	if (!json_is_object(limits))
		limits = schedule_limits(a->sched);
	if (!json_is_object(limits))
		limits = json_object_get(a->repo, "limits");

	p->restic = restic_prog(a);
	p->cache_dir = a->cache_dir;
	p->repo.url = cmd_str(repo, "url");
	p->repo.password = cmd_str(repo, "password");
	p->repo.env = json_object_get(repo, "env");
	p->repo.upload_kbps = json_integer_value(json_object_get(limits, "upload_kbps"));
	p->repo.download_kbps = json_integer_value(json_object_get(limits, "download_kbps"));
}

/* Snapshot browsing (`tree`) runs beside the job slot: `restic ls` takes a
 * shared lock, so the operator can browse while a backup runs; the request
 * is answered by a tree.result event and is not persisted (the server's
 * waiter times out anyway if the agent restarts). */
static void maybe_start_side(struct agent *a)
{
	json_t *c = json_array_get(a->side_queue, 0), *args;
	struct job_params p;
	struct job_sink sink = {emit, a};
	int r;

	if (a->side || !c || !a->repo)
		return;
	memset(&p, 0, sizeof(p));
	repo_params(a, NULL, &p);
	args = json_pack("{s:O?, s:O?}", "snapshot", json_object_get(c, "snapshot"), "path", json_object_get(c, "path"));
	p.job_id = cmd_str(c, "request_id");
	p.kind = "tree";
	p.actor = "system";
	p.args = args;
	r = job_start(&p, &sink, &a->side);
	json_decref(args);
	if (r < 0) {
		log_error("cannot list snapshot tree: %s", strerror(-r));
		a->side = NULL;
		json_array_remove(a->side_queue, 0);
	}
}

static void maybe_start_job(struct agent *a)
{
	json_t *c = json_array_get(a->queue, 0), *args;
	struct job_params p;
	struct job_sink sink = {emit, a};
	const char *type;
	bool tree;
	int r;

	if (a->job || !c)
		return;
	if (a->orphan_pid) {
		/* the restic of the previous agent was told to stop (it holds a
		 * repository lock until it exits): wait for it, bounded */
		if (plat_pid_alive(a->orphan_pid) && plat_mono_ms() < a->orphan_deadline)
			return;
		if (plat_pid_alive(a->orphan_pid))
			log_warnx("restic process %lld of the previous agent is still running",
				  (long long)a->orphan_pid);
		a->orphan_pid = 0;
	}
	type = cmd_str(c, "type");
	tree = type && strcmp(type, "tree") == 0;
	if (!tree && !a->repo)
		return; /* no repository config yet: wait for hello */
	memset(&p, 0, sizeof(p));
	repo_params(a, c, &p);
	if (tree) {
		args = json_pack("{s:O?, s:O?}", "snapshot", json_object_get(c, "snapshot"), "path",
				 json_object_get(c, "path"));
		p.job_id = cmd_str(c, "request_id");
		p.kind = "tree";
		p.actor = "system";
	} else {
		args = json_is_object(json_object_get(c, "args")) ? json_deep_copy(json_object_get(c, "args"))
								   : json_object();
		p.job_id = cmd_str(c, "job_id");
		p.kind = cmd_str(c, "kind");
		if (strcmp(p.kind, "restore") == 0 && !json_object_get(args, "target"))
			restore_target(a, p.job_id, args);
		p.actor = cmd_str(c, "actor") ? cmd_str(c, "actor") : "user";
		if (credential_get(p.job_id))
			p.repo.password = credential_get(p.job_id);
		p.hooks = schedule_group_hooks(a->sched, p.kind, args);
		p.group = cmd_str(c, "group");
		p.scheduled_for = cmd_str(c, "scheduled_for");
	}
	p.args = args;
	if (!tree) {
		util_strlcpy(a->st.running_job_id, p.job_id, sizeof(a->st.running_job_id));
		save_state(a);
		log_info("job %s (%s) started", p.job_id, p.kind);
	}
	r = job_start(&p, &sink, &a->job);
	json_decref(args);
	if (r < 0) {
		log_error("cannot start job %s: %s", p.job_id, strerror(-r));
		a->job = NULL;
	}
}

static void finish_job(struct agent *a)
{
	if (a->job) {
		credential_forget(job_id(a->job));
		schedule_job_done(a->sched, job_id(a->job), job_succeeded(a->job));
	}
	if (a->st.running_job_id[0])
		log_info("job %s finished", a->st.running_job_id);
	a->st.running_job_id[0] = '\0';
	a->st.running_pid = 0;
	json_array_remove(a->queue, 0);
	save_queue(a);
	save_state(a);
	job_free(a->job);
	a->job = NULL;
}

/* After a crash, restic was stopped with its output pipes already closed
 * and may have died before removing its lock (stderr EPIPE): queue a
 * system `unlock` first.  Plain unlock removes only stale locks (this
 * host, process gone), never another live restic's.  The job id is minted
 * here; the server adopts it from job.started. */
static void queue_recovery_unlock(struct agent *a)
{
	unsigned char raw[16];
	char id[33];
	json_t *cmd;

	if (plat_random_bytes(raw, sizeof(raw)) < 0)
		return;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
	cmd = json_pack("{s:s, s:s, s:s, s:{}, s:s}", "type", "run", "job_id", id, "kind", "unlock", "args", "actor",
			"system");
	if (cmd && json_array_insert_new(a->queue, 0, cmd) == 0)
		log_info("job %s (unlock) queued to remove a stale repository lock", id);
}

/* A job that was running when the agent died is reported as failed. */
static void recover_crashed_job(struct agent *a)
{
	const char *id = a->st.running_job_id;
	size_t i;
	json_t *c;

	if (!id[0])
		return;
	log_warnx("job %s was running when the agent stopped: reporting it as failed", id);
	if (plat_pid_alive(a->st.running_pid)) {
		a->orphan_pid = a->st.running_pid;
		a->orphan_deadline = plat_mono_ms() + 30000;
		log_info("waiting for restic process %lld of the previous agent to exit", (long long)a->orphan_pid);
	}
	a->st.running_pid = 0;
	emit_finished_failed(a, id, "agent restarted during the job");
	json_array_foreach (a->queue, i, c) {
		const char *qid = cmd_str(c, "job_id");
		if (qid && strcmp(qid, id) == 0) {
			json_array_remove(a->queue, i);
			break;
		}
	}
	queue_recovery_unlock(a);
	a->st.running_job_id[0] = '\0';
	save_queue(a);
	save_state(a);
}

void agent_probe_restic_version(struct http_client *h, const char *restic, char *outv, size_t cap)
{
	const char *argv[] = {"restic", "version", NULL};
	struct plat_child *c = NULL;
	char out[256];
	size_t len = 0;
	int64_t deadline = plat_mono_ms() + 10000;
	int code;

	util_strlcpy(outv, "unknown", cap);
	if (plat_child_spawn(restic, argv, plat_environ(), &c) < 0) {
		log_warnx("cannot run restic '%s': jobs will fail until it is installed", restic);
		return;
	}
	while (plat_mono_ms() < deadline &&
	       (plat_child_fd(c, PLAT_STDOUT) >= 0 || plat_child_fd(c, PLAT_STDERR) >= 0)) {
		int fds[2] = {plat_child_fd(c, PLAT_STDOUT), plat_child_fd(c, PLAT_STDERR)};
		bool rd[2];
		char junk[256];
		http_client_wait(h, fds, rd, 2, 200);
		if (rd[0]) {
			long n = len < sizeof(out) - 1 ? plat_child_read(c, PLAT_STDOUT, out + len, sizeof(out) - 1 - len)
						       : plat_child_read(c, PLAT_STDOUT, junk, sizeof(junk));
			if (n > 0 && len < sizeof(out) - 1)
				len += (size_t)n;
		}
		if (rd[1])
			plat_child_read(c, PLAT_STDERR, junk, sizeof(junk));
	}
	out[len] = '\0';
	if (plat_child_fd(c, PLAT_STDOUT) >= 0 || plat_child_fd(c, PLAT_STDERR) >= 0)
		plat_child_signal(c, true);
	while (plat_child_reap(c, &code) == -EAGAIN && plat_mono_ms() < deadline + 2000)
		http_client_wait(h, NULL, NULL, 0, 20);
	plat_child_free(c);
	/* "restic 0.14.0 compiled with …" */
	if (strncmp(out, "restic ", 7) == 0) {
		size_t k = 0;
		while (out[7 + k] && out[7 + k] != ' ' && out[7 + k] != '\n' && k < cap - 1)
			k++;
		memcpy(outv, out + 7, k);
		outv[k] = '\0';
	}
}

/* --- the loop ----------------------------------------------------------- */

/* The event spool's cap: SPOOL_DEFAULT_CAP, or the test hook
 * RM_TEST_SPOOL_CAP_BYTES (tests only: reach the cap with little data). */
static size_t spool_cap(void)
{
	const char *hook = getenv("RM_TEST_SPOOL_CAP_BYTES");
	int64_t v;

	if (hook && *hook && util_parse_i64(hook, 1024, SPOOL_DEFAULT_CAP, &v) == 0) {
		log_warnx("test hook RM_TEST_SPOOL_CAP_BYTES=%lld: the event spool holds at most %lld bytes",
			  (long long)v, (long long)v);
		return (size_t)v;
	}
	return SPOOL_DEFAULT_CAP;
}

static int agent_open(struct agent *a, const struct agent_opts *o)
{
	char path[PLAT_PATH_MAX];
	struct http_tls tls;
	json_t *q = NULL;
	int r;

	a->opts = *o;
	a->batch_max = EVENTS_MAX_BATCH;
	r = agent_conf_load(o->config_dir, &a->conf);
	if (r < 0) {
		log_error("cannot load the agent configuration from '%s': %s (run `restic-manager-agent enroll` "
			  "first)",
			  o->config_dir, r == -ENOENT ? "not enrolled" : strerror(-r));
		return r;
	}
	r = util_mkdir_p(o->state_dir, 0700);
	if (r < 0) {
		log_error("cannot create the state directory '%s': %s", o->state_dir, strerror(-r));
		return r;
	}
	r = plat_lock_dir(o->state_dir);
	if (r < 0) {
		log_error("cannot lock the state directory '%s': %s", o->state_dir,
			  r == -EBUSY ? "another agent is running" : strerror(-r));
		return r;
	}
	r = agent_state_load(o->state_dir, &a->st);
	if (r < 0) {
		log_error("cannot read '%s/state.json': %s", o->state_dir, strerror(-r));
		return r;
	}
	if (plat_path_join(path, sizeof(path), o->state_dir, "spool.ndjson") < 0)
		return -ENAMETOOLONG;
	r = spool_open(&a->spool, path, spool_cap());
	if (r < 0) {
		log_error("cannot read the event spool '%s': %s", path, strerror(-r));
		return r;
	}
	if (spool_max_seq(&a->spool) >= a->st.next_event_seq)
		a->st.next_event_seq = spool_max_seq(&a->spool) + 1;
	r = agent_json_load(o->state_dir, "queue.json", &q);
	if (r == 0 && json_is_array(q))
		a->queue = q;
	else
		json_decref(q);
	if (!a->queue)
		a->queue = json_array();
	a->side_queue = json_array();
	if (agent_json_load(o->config_dir, "repository.json", &q) == 0)
		a->repo = q;
	if (schedule_open(o->state_dir, &a->sched) < 0)
		return -ENOMEM;
	plat_path_join(a->cache_dir, sizeof(a->cache_dir), o->state_dir, "cache");
	if (plat_hostname(a->hostname, sizeof(a->hostname)) < 0)
		util_strlcpy(a->hostname, "unknown", sizeof(a->hostname));
	tls.ca_file = o->ca_file[0] ? o->ca_file : a->conf.ca_file;
	tls.pin_sha256 = o->pin[0] ? o->pin : a->conf.pin;
	r = http_client_new(&tls, &a->http);
	if (r < 0) {
		log_error("cannot set up the HTTP client: %s", r == -EINVAL ? "bad --pin-sha256" : strerror(-r));
		return r;
	}
	return 0;
}

static void agent_close(struct agent *a)
{
	if (a->job)
		job_free(a->job);
	if (a->side)
		job_free(a->side);
	json_decref(a->side_queue);
	http_req_free(a->hello_req);
	http_req_free(a->poll_req);
	http_req_free(a->events_req);
	http_client_free(a->http);
	spool_release(&a->spool);
	json_decref(a->repo);
	json_decref(a->queue);
	schedule_free(a->sched);
	credential_forget_all();
	plat_memzero(a->conf.token, sizeof(a->conf.token));
}

static int64_t min_timeout(int64_t t, int64_t d)
{
	if (d < 0)
		d = 0;
	return (t < 0 || d < t) ? d : t;
}

int agent_cmd_run(const struct agent_opts *o)
{
	struct agent *a = calloc(1, sizeof(*a));
	bool stop_logged = false;
	int r;

	if (!a)
		return 1;
	r = plat_signals_init();
	if (r < 0 || agent_open(a, o) < 0) {
		agent_close(a);
		free(a);
		return 1;
	}
	agent_probe_restic_version(a->http, restic_prog(a), a->restic_version, sizeof(a->restic_version));
	log_info("agent %s starting: server '%s', host %lld, state '%s', restic %s", rm_version, a->conf.server,
		 (long long)a->conf.host_id, o->state_dir, a->restic_version);
	recover_crashed_job(a);

	for (;;) {
		int64_t now = plat_mono_ms(), t = 30000;
		int fds[5];
		bool rd[5];
		struct http_req *d;

		if (plat_stop_requested()) {
			if (!stop_logged)
				log_info("stopping%s", a->job ? ": cancelling the running job" : "");
			stop_logged = true;
			if (a->job)
				job_cancel(a->job, "the agent is stopping");
			if (a->side)
				job_cancel(a->side, "the agent is stopping");
			if (!a->job && !a->side)
				break;
		}
		if (a->conn == CONN_IDLE && now >= a->retry_at && !plat_stop_requested()) {
			a->conn = CONN_SYNC;
			a->sync_target = spool_max_seq(&a->spool);
		}
		if (a->conn == CONN_SYNC && !a->events_req) {
			if (a->spool.n == 0 || a->spool.v[0].seq > a->sync_target)
				start_hello(a);
			else
				start_events(a);
		}
		if (a->conn == CONN_UP && !a->poll_req && !plat_stop_requested())
			start_poll(a);
		if (a->conn == CONN_UP && !a->events_req && a->spool.n > 0)
			start_events(a);
		if (a->sched && !plat_stop_requested()) {
			int added = 0;
			t = min_timeout(t, schedule_tick(a->sched, a->queue, util_now(), &added));
			if (added)
				save_queue(a);
		}
		if (!plat_stop_requested()) {
			maybe_start_job(a);
			maybe_start_side(a);
		}

		if (a->conn == CONN_IDLE)
			t = min_timeout(t, a->retry_at - now);
		if (a->orphan_pid && json_array_size(a->queue) > 0)
			t = min_timeout(t, 100);
		if (a->job) {
			int jt = job_next_timeout(a->job, now);
			if (jt >= 0)
				t = min_timeout(t, jt);
			job_fds(a->job, fds);
		} else {
			fds[0] = fds[1] = -1;
		}
		if (a->side) {
			int jt = job_next_timeout(a->side, now);
			if (jt >= 0)
				t = min_timeout(t, jt);
			job_fds(a->side, fds + 2);
		} else {
			fds[2] = fds[3] = -1;
		}
		fds[4] = plat_wake_fd();
		r = http_client_wait(a->http, fds, rd, 5, (int)t);
		if (r < 0) {
			log_error("waiting for the network failed: %s", strerror(-r));
			break;
		}
		if (rd[4])
			plat_wake_drain();
		if (a->side) {
			job_on_readable(a->side, rd + 2);
			job_tick(a->side, plat_mono_ms());
			if (job_is_done(a->side)) {
				job_free(a->side);
				a->side = NULL;
				json_array_remove(a->side_queue, 0);
			}
		}
		if (a->job) {
			job_on_readable(a->job, rd);
			job_tick(a->job, plat_mono_ms());
			if (job_is_done(a->job))
				finish_job(a);
			else if (job_child_pid(a->job) && job_child_pid(a->job) != a->st.running_pid) {
				a->st.running_pid = job_child_pid(a->job);
				save_state(a);
			}
		}
		while ((d = http_client_next_done(a->http))) {
			if (d == a->hello_req) {
				a->hello_req = NULL;
				on_hello(a, d);
			} else if (d == a->poll_req) {
				a->poll_req = NULL;
				on_commands(a, d);
			} else if (d == a->events_req) {
				a->events_req = NULL;
				on_events(a, d);
			}
			http_req_free(d);
		}
	}
	save_state(a);
	log_info("stopped");
	agent_close(a);
	free(a);
	return 0;
}

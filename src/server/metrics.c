/*
 * metrics.c — GET /metrics and its counters (see metrics.h for access rules
 * and cost).
 *
 * Threads: everything here runs on the loop thread except build_run(),
 * which runs on a worker and touches only its struct metrics_build and
 * m->reader (the read-only connection, used by at most one build at a time:
 * m->inflight is set from submit until build_done()).  The loop copies the
 * counters and its in-memory gauges into the build before submitting it.
 *
 * Body layout: one family after another, each "# HELP", "# TYPE", samples.
 * The per-host families are written in one pass over the host rows, each
 * into its own staging evbuffer, and appended in order at the end (chains
 * move, nothing is copied).  Label values are escaped per the format
 * (backslash, double quote, line feed); families with no samples keep their
 * HELP and TYPE lines.
 */
#include "server/metrics.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "common/version.h"
#include "server/agentd.h"
#include "server/api_agent.h"
#include "server/plat_proc.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/sse.h"
#include "server/store.h"
#include "server/store_metrics.h"
#include "server/workers.h"

struct metrics_job_count {
	char kind[16];
	char status[16];
	int64_t n;
};

/* Histogram bucket upper bounds in µs (the +Inf bucket is implicit). */
#define METRICS_NBUCKETS 12
static const int64_t bucket_us[METRICS_NBUCKETS] = {500,   1000,   2000,   5000,   10000,  20000,
                                                     50000, 100000, 200000, 500000, 1000000, 5000000};
static const char *const bucket_le[METRICS_NBUCKETS] = {"0.0005", "0.001", "0.002", "0.005", "0.01", "0.02",
                                                        "0.05",   "0.1",   "0.2",   "0.5",   "1",    "5"};

/* One histogram: per-bucket (non-cumulative) counts, the last one +Inf. */
struct metrics_hist {
	int64_t n[METRICS_NBUCKETS + 1];
	int64_t count, sum_us;
};

enum route_class { RC_HELLO, RC_POLL, RC_EVENTS, RC_API, RC_OTHER, RC_COUNT };
static const char *const route_class_name[RC_COUNT] = {"agent_hello", "agent_poll", "agent_events", "api",
                                                       "other"};

/* Figures the loop owns, copied into each build. */
struct metrics_counts {
	struct metrics_hist req[RC_COUNT];
	struct metrics_hist wake;
	struct metrics_hist lag; /* loop lag: how late the LAG_PROBE_US timer fires */
	int64_t http[5]; /* replies by status class 1xx..5xx */
	int64_t events;
	struct metrics_job_count jobs[METRICS_JOB_PAIRS];
	size_t njobs;
	int64_t polls_held, sse_clients, workers_pending;
};

struct metrics_build;

struct metrics {
	struct server *srv;
	char dbpath[1100];
	bool token_on;
	char token_hash[SECRETS_HASH_HEX];
	struct metrics_counts counts;
	struct store *reader;           /* worker (build_run) only; opened there on first use */
	struct metrics_build *inflight; /* loop */
	struct event *lag_probe;        /* loop; fires every LAG_PROBE_US */
	int64_t lag_due_us;
};

#define LAG_PROBE_US 100000

/* ---- counters (loop) ---- */

void metrics_count_http(struct server *srv, int status)
{
	struct metrics *m = srv ? srv->metrics : NULL;
	if (m && status >= 100 && status < 600)
		m->counts.http[status / 100 - 1]++;
}

void metrics_count_events(struct server *srv, int64_t n)
{
	struct metrics *m = srv ? srv->metrics : NULL;
	if (m && n > 0)
		m->counts.events += n;
}

void metrics_count_job_finished(struct server *srv, const char *kind, const char *status)
{
	struct metrics *m = srv ? srv->metrics : NULL;
	struct metrics_job_count *e;

	if (!m)
		return;
	for (size_t i = 0; i < m->counts.njobs; i++) {
		e = &m->counts.jobs[i];
		if (!strcmp(e->kind, kind) && !strcmp(e->status, status)) {
			e->n++;
			return;
		}
	}
	/* The last slot collects every pair beyond the table (never expected:
	 * kinds and statuses are fixed lists). */
	if (m->counts.njobs == METRICS_JOB_PAIRS - 1) {
		kind = "other";
		status = "other";
		e = &m->counts.jobs[METRICS_JOB_PAIRS - 1];
		if (e->kind[0]) {
			e->n++;
			return;
		}
	} else {
		e = &m->counts.jobs[m->counts.njobs++];
	}
	util_strlcpy(e->kind, kind, sizeof(e->kind));
	util_strlcpy(e->status, status, sizeof(e->status));
	e->n = 1;
}

int64_t metrics_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void hist_observe(struct metrics_hist *h, int64_t us)
{
	size_t i = 0;

	if (us < 0)
		us = 0;
	while (i < METRICS_NBUCKETS && us > bucket_us[i])
		i++;
	h->n[i]++;
	h->count++;
	h->sum_us += us;
}

void metrics_observe_request(struct http_ctx *c)
{
	struct metrics *m = c->srv ? c->srv->metrics : NULL;
	enum route_class rc = RC_OTHER;

	if (!m || !c->started_us)
		return;
	if (c->route) {
		if (c->route->fn == api_agent_hello)
			rc = RC_HELLO;
		else if (c->route->fn == api_agent_commands)
			rc = RC_POLL;
		else if (c->route->fn == api_agent_events)
			rc = RC_EVENTS;
		else if (!strncmp(c->route->pattern, "/api/", 5))
			rc = RC_API;
	}
	hist_observe(&m->counts.req[rc], metrics_now_us() - c->started_us);
}

void metrics_observe_wake(struct server *srv, int64_t since_us)
{
	struct metrics *m = srv ? srv->metrics : NULL;
	if (m)
		hist_observe(&m->counts.wake, metrics_now_us() - since_us);
}

/* A timer due every LAG_PROBE_US: the time past due when it runs is how
 * long a ready socket waits for the loop (busy in other callbacks) before
 * its request is even dispatched — the part the request histogram misses. */
static void on_lag_probe(evutil_socket_t fd, short what, void *arg)
{
	struct metrics *m = arg;
	int64_t now = metrics_now_us();

	(void)fd;
	(void)what;
	hist_observe(&m->counts.lag, now - m->lag_due_us);
	m->lag_due_us = now + LAG_PROBE_US;
}

/* ---- body formatting (worker) ---- */

/* A staging buffer in front of an evbuffer: most writes are a few bytes. */
struct mbuf {
	struct evbuffer *ev;
	size_t len;
	bool failed;
	char buf[8192];
};

static void mb_flush(struct mbuf *b)
{
	if (b->len && evbuffer_add(b->ev, b->buf, b->len) < 0)
		b->failed = true;
	b->len = 0;
}

static void mb_add(struct mbuf *b, const char *s, size_t n)
{
	if (n > sizeof(b->buf) - b->len) {
		mb_flush(b);
		if (n > sizeof(b->buf)) {
			if (evbuffer_add(b->ev, s, n) < 0)
				b->failed = true;
			return;
		}
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
}

static void mb_str(struct mbuf *b, const char *s)
{
	mb_add(b, s, strlen(s));
}

static void mb_i64(struct mbuf *b, int64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	mb_add(b, tmp + i, sizeof(tmp) - i);
}

static void mb_double(struct mbuf *b, double v)
{
	char tmp[40];
	int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (n > 0 && (size_t)n < sizeof(tmp))
		mb_add(b, tmp, (size_t)n);
	else
		mb_str(b, "NaN");
}

/* Append s as a label value (without the quotes): \ → \\, " → \", LF → \n. */
static void mb_label(struct mbuf *b, const char *s)
{
	const char *run = s;
	for (; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
		if (!esc)
			continue;
		mb_add(b, run, (size_t)(s - run));
		mb_add(b, esc, 2);
		run = s + 1;
	}
	mb_add(b, run, (size_t)(s - run));
}

static void mb_family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mb_str(b, "# HELP ");
	mb_str(b, name);
	mb_str(b, " ");
	mb_str(b, help);
	mb_str(b, "\n# TYPE ");
	mb_str(b, name);
	mb_str(b, " ");
	mb_str(b, type);
	mb_str(b, "\n");
}

/* name{label="value"} v — one optional label. */
static void mb_sample1(struct mbuf *b, const char *name, const char *label, const char *value, int64_t v)
{
	mb_str(b, name);
	if (label) {
		mb_str(b, "{");
		mb_str(b, label);
		mb_str(b, "=\"");
		mb_label(b, value);
		mb_str(b, "\"}");
	}
	mb_str(b, " ");
	mb_i64(b, v);
	mb_str(b, "\n");
}

#define NS "restic_manager_"

/* The per-host families, in body order. */
enum host_family {
	HF_ONLINE,
	HF_SEEN_AGE,
	HF_BACKUP_TS,
	HF_BACKUP_OK,
	HF_BACKUP_DURATION,
	HF_BACKUP_ADDED,
	HF_SNAPSHOTS,
	HF_REPO_SIZE,
	HF_CHECK_OK,
	HF_LOCKED,
	HF_COUNT,
};

static const struct {
	const char *name;
	const char *help;
} host_families[HF_COUNT] = {
    [HF_ONLINE] = {NS "host_online", "1 when the host's agent is connected (polled within 90 s), else 0."},
    [HF_SEEN_AGE] = {NS "host_last_seen_age_seconds",
                     "Seconds since the host's agent was last seen (stored every 30 s at most)."},
    [HF_BACKUP_TS] = {NS "host_last_backup_timestamp_seconds",
                      "Unix time the host's last backup job finished (any result)."},
    [HF_BACKUP_OK] = {NS "host_last_backup_success",
                      "1 when the host's last backup succeeded (also with warnings), 0 when it failed or was "
                      "cancelled."},
    [HF_BACKUP_DURATION] = {NS "host_last_backup_duration_seconds", "Duration of the host's last backup."},
    [HF_BACKUP_ADDED] = {NS "host_last_backup_added_bytes",
                         "Bytes the host's last backup added to the repository (restic data_added)."},
    [HF_SNAPSHOTS] = {NS "host_snapshots", "Snapshots of the host in its repository (last listing)."},
    [HF_REPO_SIZE] = {NS "host_repository_size_bytes", "Raw size of the host's repository (last stats)."},
    [HF_CHECK_OK] = {NS "host_last_check_success", "1 when the last repository check succeeded, else 0."},
    [HF_LOCKED] = {NS "host_repository_lock_present",
                   "1 when the last job that looked found a lock in the host's repository, else 0."},
};

struct metrics_build {
	struct metrics *m;
	struct metrics_counts counts; /* loop's figures at submit */
	struct http_ctx *waiters[METRICS_MAX_WAITERS];
	size_t nwaiters;
	/* worker results */
	int err;
	struct evbuffer *body;
	struct mbuf fam[HF_COUNT];
	int64_t now, hosts_online, hosts_offline;
	char lbl[1200]; /* {host_id="…",host="…"} of the current row */
	size_t lbl_len;
};

static void host_sample(struct metrics_build *b, enum host_family f, bool is_double, int64_t v, double d)
{
	struct mbuf *mb = &b->fam[f];
	mb_str(mb, host_families[f].name);
	mb_add(mb, b->lbl, b->lbl_len);
	mb_str(mb, " ");
	if (is_double)
		mb_double(mb, d);
	else
		mb_i64(mb, v);
	mb_str(mb, "\n");
}

/* The label set of one host, escaped, into b->lbl (a name too long for the
 * buffer — never, names are ≤ 253 bytes — is cut at an escape boundary). */
static void host_labels(struct metrics_build *b, const struct store_metrics_host *h)
{
	char *p = b->lbl, *end = b->lbl + sizeof(b->lbl) - 3; /* room for "\"}" */
	int n = snprintf(p, sizeof(b->lbl), "{host_id=\"%lld\",host=\"", (long long)h->id);

	p += n > 0 ? n : 0;
	for (const char *s = h->name; *s && p + 2 <= end; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n') {
			*p++ = '\\';
			*p++ = *s == '\n' ? 'n' : *s;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '"';
	*p++ = '}';
	b->lbl_len = (size_t)(p - b->lbl);
}

static int on_host(void *arg, const struct store_metrics_host *h)
{
	struct metrics_build *b = arg;
	bool ok = !strcmp(h->last_backup_status, "succeeded") || !strcmp(h->last_backup_status, "warning");

	if (h->online)
		b->hosts_online++;
	else
		b->hosts_offline++;
	host_labels(b, h);
	host_sample(b, HF_ONLINE, false, h->online, 0);
	if (h->has_last_seen)
		host_sample(b, HF_SEEN_AGE, false, b->now > h->last_seen_at ? b->now - h->last_seen_at : 0, 0);
	if (h->has_last_backup) {
		host_sample(b, HF_BACKUP_TS, false, h->last_backup_at, 0);
		host_sample(b, HF_BACKUP_OK, false, ok, 0);
		if (h->has_duration)
			host_sample(b, HF_BACKUP_DURATION, true, 0, h->duration);
		if (h->has_added)
			host_sample(b, HF_BACKUP_ADDED, false, h->added_bytes, 0);
	}
	host_sample(b, HF_SNAPSHOTS, false, h->snapshot_count, 0);
	if (h->has_repo_size)
		host_sample(b, HF_REPO_SIZE, false, h->repo_size, 0);
	if (h->has_check)
		host_sample(b, HF_CHECK_OK, false, h->check_ok, 0);
	if (h->has_locks)
		host_sample(b, HF_LOCKED, false, h->locks > 0, 0);
	for (int f = 0; f < HF_COUNT; f++)
		if (b->fam[f].failed)
			return ENOMEM;
	return 0;
}

static void write_process(struct mbuf *mb)
{
	struct plat_proc_stats ps;

	plat_proc_read(&ps);
	mb_family(mb, NS "process_start_time_seconds", "gauge", "Start time of the server process (unix seconds).");
	if (ps.has_start) {
		mb_str(mb, NS "process_start_time_seconds ");
		mb_double(mb, ps.start_time);
		mb_str(mb, "\n");
	}
	mb_family(mb, NS "process_resident_memory_bytes", "gauge", "Resident memory of the server process.");
	if (ps.has_rss)
		mb_sample1(mb, NS "process_resident_memory_bytes", NULL, NULL, ps.rss_bytes);
	mb_family(mb, NS "process_open_fds", "gauge", "Open file descriptors of the server process.");
	if (ps.has_fds)
		mb_sample1(mb, NS "process_open_fds", NULL, NULL, ps.open_fds);
	mb_family(mb, NS "process_max_fds", "gauge", "Limit on open file descriptors of the server process.");
	if (ps.has_max_fds)
		mb_sample1(mb, NS "process_max_fds", NULL, NULL, ps.max_fds);
}

/* Samples of one histogram: cumulative _bucket{…,le=…}, _sum, _count.
 * label/value: one optional leading label (NULL for none). */
static void write_hist(struct mbuf *mb, const char *name, const char *label, const char *value,
                       const struct metrics_hist *h)
{
	int64_t cum = 0;

	for (int i = 0; i <= METRICS_NBUCKETS; i++) {
		cum += h->n[i];
		mb_str(mb, name);
		mb_str(mb, "_bucket{");
		if (label) {
			mb_str(mb, label);
			mb_str(mb, "=\"");
			mb_label(mb, value);
			mb_str(mb, "\",");
		}
		mb_str(mb, "le=\"");
		mb_str(mb, i < METRICS_NBUCKETS ? bucket_le[i] : "+Inf");
		mb_str(mb, "\"} ");
		mb_i64(mb, cum);
		mb_str(mb, "\n");
	}
	mb_str(mb, name);
	mb_str(mb, "_sum");
	if (label) {
		mb_str(mb, "{");
		mb_str(mb, label);
		mb_str(mb, "=\"");
		mb_label(mb, value);
		mb_str(mb, "\"}");
	}
	mb_str(mb, " ");
	mb_double(mb, (double)h->sum_us / 1e6);
	mb_str(mb, "\n");
	mb_str(mb, name);
	mb_str(mb, "_count");
	if (label) {
		mb_str(mb, "{");
		mb_str(mb, label);
		mb_str(mb, "=\"");
		mb_label(mb, value);
		mb_str(mb, "\"}");
	}
	mb_str(mb, " ");
	mb_i64(mb, h->count);
	mb_str(mb, "\n");
}

static void write_counts(struct mbuf *mb, const struct metrics_counts *k)
{
	static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

	mb_family(mb, NS "http_requests_total", "counter",
	          "HTTP requests answered since start, by status class (event streams count when opened).");
	for (int i = 0; i < 5; i++)
		mb_sample1(mb, NS "http_requests_total", "code", classes[i], k->http[i]);
	mb_family(mb, NS "http_request_duration_seconds", "histogram",
	          "Time from request dispatch to the reply handed to the connection, by route class (held "
	          "long-polls excluded: see agent_wake_seconds).");
	for (int i = 0; i < RC_COUNT; i++)
		write_hist(mb, NS "http_request_duration_seconds", "route", route_class_name[i], &k->req[i]);
	mb_family(mb, NS "agent_wake_seconds", "histogram",
	          "Time from a queued command found for a held agent poll to that poll's reply.");
	write_hist(mb, NS "agent_wake_seconds", NULL, NULL, &k->wake);
	mb_family(mb, NS "loop_lag_seconds", "histogram",
	          "How late a timer due every 0.1 s runs: the wait of ready work for the busy event loop.");
	write_hist(mb, NS "loop_lag_seconds", NULL, NULL, &k->lag);
	mb_family(mb, NS "agent_polls_held", "gauge", "Agent long-polls the server is holding open now.");
	mb_sample1(mb, NS "agent_polls_held", NULL, NULL, k->polls_held);
	mb_family(mb, NS "agent_events_ingested_total", "counter",
	          "Agent events stored since start (replayed events are not counted again).");
	mb_sample1(mb, NS "agent_events_ingested_total", NULL, NULL, k->events);
	mb_family(mb, NS "sse_clients", "gauge", "Browser event streams (fleet and job) open now.");
	mb_sample1(mb, NS "sse_clients", NULL, NULL, k->sse_clients);
	mb_family(mb, NS "worker_queue_length", "gauge", "Work items queued or running on the worker pool.");
	mb_sample1(mb, NS "worker_queue_length", NULL, NULL, k->workers_pending);
	mb_family(mb, NS "jobs_finished_total", "counter",
	          "Jobs that reached a final status since start, by kind and status.");
	for (size_t i = 0; i < k->njobs; i++) {
		mb_str(mb, NS "jobs_finished_total{kind=\"");
		mb_label(mb, k->jobs[i].kind);
		mb_str(mb, "\",status=\"");
		mb_label(mb, k->jobs[i].status);
		mb_str(mb, "\"} ");
		mb_i64(mb, k->jobs[i].n);
		mb_str(mb, "\n");
	}
}

static void build_run(void *arg)
{
	struct metrics_build *b = arg;
	struct metrics *m = b->m;
	struct mbuf *head = NULL;
	int64_t t0 = util_now_ms(), queued = 0, running = 0;
	int r = 0;

	b->now = util_now();
	b->body = evbuffer_new();
	head = calloc(1, sizeof(*head));
	if (!b->body || !head) {
		r = -ENOMEM;
		goto out;
	}
	for (int f = 0; f < HF_COUNT; f++) {
		b->fam[f].ev = evbuffer_new();
		if (!b->fam[f].ev) {
			r = -ENOMEM;
			goto out;
		}
		mb_family(&b->fam[f], host_families[f].name, "gauge", host_families[f].help);
	}
	if (!m->reader)
		r = store_metrics_open(m->dbpath, &m->reader);
	if (r == 0)
		r = store_metrics_read(m->reader, on_host, b, &queued, &running);
	if (r < 0)
		goto out;

	head->ev = b->body;
	mb_family(head, NS "build_info", "gauge", "Version, commit and build date of the server; always 1.");
	mb_str(head, NS "build_info{version=\"");
	mb_label(head, rm_version);
	mb_str(head, "\",commit=\"");
	mb_label(head, rm_commit);
	mb_str(head, "\",date=\"");
	mb_label(head, rm_date);
	mb_str(head, "\"} 1\n");
	write_process(head);
	write_counts(head, &b->counts);
	mb_family(head, NS "jobs", "gauge", "Jobs queued or running now.");
	mb_sample1(head, NS "jobs", "status", "queued", queued);
	mb_sample1(head, NS "jobs", "status", "running", running);
	mb_family(head, NS "hosts", "gauge", "Enrolled hosts by status.");
	mb_sample1(head, NS "hosts", "status", "online", b->hosts_online);
	mb_sample1(head, NS "hosts", "status", "offline", b->hosts_offline);
	mb_flush(head);
	for (int f = 0; f < HF_COUNT; f++) {
		mb_flush(&b->fam[f]);
		if (b->fam[f].failed || evbuffer_add_buffer(b->body, b->fam[f].ev) < 0)
			head->failed = true;
	}
	mb_family(head, NS "metrics_build_seconds", "gauge", "Time this scrape took to read and format.");
	mb_str(head, NS "metrics_build_seconds ");
	mb_double(head, (double)(util_now_ms() - t0) / 1000.0);
	mb_str(head, "\n");
	mb_flush(head);
	if (head->failed)
		r = -ENOMEM;
out:
	for (int f = 0; f < HF_COUNT; f++) {
		if (b->fam[f].ev)
			evbuffer_free(b->fam[f].ev);
		b->fam[f].ev = NULL;
	}
	free(head);
	b->err = r;
}

/* A reader of body's bytes for one more reply: libevent's multicast chains
 * share the memory (body turns immutable and lives until the last reader is
 * written out), so 32 waiters cost one body, not 32. */
static struct evbuffer *buffer_share(struct evbuffer *body)
{
	struct evbuffer *cp = evbuffer_new();

	if (cp && evbuffer_add_buffer_reference(cp, body) < 0) {
		evbuffer_free(cp);
		return NULL;
	}
	return cp;
}

static void build_done(void *arg)
{
	struct metrics_build *b = arg;

	b->m->inflight = NULL;
	if (b->err < 0)
		log_warnx("cannot build the metrics: %s", strerror(-b->err));
	for (size_t i = 0; i < b->nwaiters; i++) {
		struct http_ctx *c = b->waiters[i];
		struct evbuffer *body = b->err < 0 ? NULL : b->nwaiters == 1 ? b->body : buffer_share(b->body);
		if (!body) {
			http_reply_error(c, 503, "unavailable", "cannot read the metrics now");
			continue;
		}
		http_reply_buffer(c, 200, METRICS_CONTENT_TYPE, body);
		if (body != b->body)
			evbuffer_free(body);
	}
	if (b->body)
		evbuffer_free(b->body);
	free(b);
}

/* ---- access and the handler (loop) ---- */

/* Return 0 when c may read the metrics, else -1 after replying. */
static int metrics_access(struct http_ctx *c)
{
	struct metrics *m = c->srv->metrics;
	const struct config *cfg = &c->srv->cfg;
	const char *authz;

	if (!m || (!m->token_on && cfg->n_metrics_cidr == 0)) {
		http_reply_error(c, 404, "not_found", "no such route");
		return -1;
	}
	authz = http_get_header(c, "Authorization");
	if (authz && m->token_on) {
		char h[SECRETS_HASH_HEX];
		bool ok;
		if (strncasecmp(authz, "Bearer ", 7) != 0) {
			http_set_header(c, "WWW-Authenticate", "Bearer realm=\"metrics\"");
			http_reply_error(c, 401, "invalid_token", "metrics take 'Authorization: Bearer <token>'");
			return -1;
		}
		/* Digests of equal length: the comparison time says nothing about the token. */
		secrets_token_hash(authz + 7, h);
		ok = secrets_equal(h, m->token_hash);
		if (ok)
			return 0;
		http_set_header(c, "WWW-Authenticate", "Bearer realm=\"metrics\", error=\"invalid_token\"");
		http_reply_error(c, 401, "invalid_token", "wrong metrics token");
		return -1;
	}
	if (cfg->n_metrics_cidr && config_cidr_match(cfg->metrics_cidr, cfg->n_metrics_cidr, c->client_addr))
		return 0;
	if (m->token_on) {
		http_set_header(c, "WWW-Authenticate", "Bearer realm=\"metrics\"");
		http_reply_error(c, 401, "unauthenticated", "metrics need 'Authorization: Bearer <token>'");
		return -1;
	}
	http_reply_error(c, 403, "forbidden", "this address may not read the metrics");
	return -1;
}

void api_metrics(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct metrics *m = srv->metrics;
	struct metrics_build *b;

	if (metrics_access(c) < 0)
		return;
	if (m->inflight) { /* a build is running: share its body */
		if (m->inflight->nwaiters == METRICS_MAX_WAITERS) {
			http_reply_error(c, 503, "busy", "too many metrics scrapes at once; try again");
			return;
		}
		m->inflight->waiters[m->inflight->nwaiters++] = c;
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	b->m = m;
	b->counts = m->counts;
	b->counts.polls_held = agentd_count_polls(srv);
	b->counts.sse_clients = sse_count_subscribers(srv);
	b->counts.workers_pending = workers_pending(srv->workers);
	b->waiters[b->nwaiters++] = c;
	if (workers_submit(srv->workers, build_run, build_done, b) < 0) {
		free(b);
		http_reply_error(c, 503, "unavailable", "cannot read the metrics now");
		return;
	}
	m->inflight = b;
}

int metrics_start(struct server *srv)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m) {
		log_error("cannot start metrics: %s", strerror(ENOMEM));
		return -ENOMEM;
	}
	m->srv = srv;
	snprintf(m->dbpath, sizeof(m->dbpath), "%s/restic-manager.db", srv->cfg.data_dir);
	if (srv->cfg.metrics_token[0]) {
		m->token_on = true;
		secrets_token_hash(srv->cfg.metrics_token, m->token_hash);
		explicit_bzero(srv->cfg.metrics_token, sizeof(srv->cfg.metrics_token));
	}
	m->lag_probe = srv->base ? event_new(srv->base, -1, EV_PERSIST, on_lag_probe, m) : NULL;
	if (m->lag_probe) {
		struct timeval tv = {0, LAG_PROBE_US};
		m->lag_due_us = metrics_now_us() + LAG_PROBE_US;
		event_add(m->lag_probe, &tv);
	}
	srv->metrics = m;
	return 0;
}

void metrics_stop(struct server *srv)
{
	struct metrics *m = srv->metrics;

	if (!m)
		return;
	store_metrics_close(m->reader);
	if (m->lag_probe)
		event_free(m->lag_probe);
	explicit_bzero(m->token_hash, sizeof(m->token_hash));
	free(m);
	srv->metrics = NULL;
}

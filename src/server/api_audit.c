/*
 * api_audit.c — the audit trail over HTTP: GET /api/v1/audit and its CSV
 * export.  The handler runs on the loop thread: it validates the query,
 * captures an audit_snapshot (the newest file's length up to its last
 * complete record) and hands the scan to the worker pool, so a large trail
 * never blocks the loop; the reply is sent from done() back on the loop.
 * The worker touches only its own struct audit_job and the files.
 *
 * Query: actor, target, outcome (exact), action (prefix), since / until
 * (RFC 3339 or epoch seconds; since <= time < until), limit (1..500,
 * default 100), cursor (from "next"), format=json|csv.
 * Answer: {"items":[record…],"next":"<cursor>"|null}, newest first; CSV is
 * oldest first, every matching record, as a download.
 */
#include "server/api_audit.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server/audit.h"
#include "server/server.h"
#include "server/workers.h"

#define AUDIT_PAGE_DEFAULT 100
#define AUDIT_PAGE_MAX 500
#define AUDIT_FILTER_MAX 256
#define AUDIT_CSV_MAX (256u * 1024 * 1024)

struct audit_job {
	struct http_ctx *c;
	struct audit_snapshot snap;
	struct audit_filter f;
	char *strs[4]; /* owned copies behind f's strings */
	bool csv;
	size_t limit;
	int r;
	json_t *items;
	int64_t next;
	struct evbuffer *out;
};

static void audit_job_free(struct audit_job *j)
{
	for (size_t i = 0; i < ARRAY_LEN(j->strs); i++)
		free(j->strs[i]);
	json_decref(j->items);
	if (j->out)
		evbuffer_free(j->out);
	free(j);
}

static void audit_job_work(void *arg)
{
	struct audit_job *j = arg;
	if (j->csv)
		j->r = audit_query_csv(&j->snap, &j->f, j->out, AUDIT_CSV_MAX);
	else
		j->r = audit_query_page(&j->snap, &j->f, j->limit, &j->items, &j->next);
}

static void audit_job_done(void *arg)
{
	struct audit_job *j = arg;
	struct http_ctx *c = j->c;

	if (j->r == -E2BIG) {
		http_reply_error(c, 413, "export_too_large", "the export exceeds %u MiB; narrow it with since/until",
				 AUDIT_CSV_MAX >> 20);
	} else if (j->r < 0) {
		http_reply_error(c, 500, "audit_read_failed", "cannot read the audit trail: %s", strerror(-j->r));
	} else if (j->csv) {
		char name[96], ts[32];
		util_time_rfc3339(util_now(), ts);
		for (char *p = ts; *p; p++)
			if (*p == ':' || *p == '-')
				*p = '_';
		snprintf(name, sizeof(name), "attachment; filename=\"audit-%s.csv\"", ts);
		http_set_header(c, "Content-Disposition", name);
		http_reply_buffer(c, 200, "text/csv; charset=utf-8", j->out);
	} else {
		char cur[32];
		json_t *next = json_null();
		if (j->next > 0) {
			snprintf(cur, sizeof(cur), "%lld", (long long)j->next);
			next = json_string(cur);
		}
		http_reply_json(c, 200, json_pack("{s:O,s:o}", "items", j->items, "next", next));
	}
	audit_job_free(j);
}

/* Copy query parameter name into slot; 0, or -1 after replying 400. */
static int filter_str(struct http_ctx *c, struct audit_job *j, size_t slot, const char *name, const char **out)
{
	const char *v = http_query(c, name);

	*out = NULL;
	if (!v)
		return 0;
	if (strlen(v) == 0 || strlen(v) > AUDIT_FILTER_MAX) {
		http_reply_error(c, 400, "invalid_parameter", "query parameter '%s' must be 1 to %d bytes", name,
				 AUDIT_FILTER_MAX);
		return -1;
	}
	j->strs[slot] = strdup(v);
	if (!j->strs[slot]) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return -1;
	}
	*out = j->strs[slot];
	return 0;
}

static int filter_time(struct http_ctx *c, const char *name, int64_t def, int64_t *out)
{
	const char *v = http_query(c, name);

	*out = def;
	if (v && audit_parse_time(v, out) < 0) {
		http_reply_error(c, 400, "invalid_parameter",
				 "query parameter '%s' must be an RFC 3339 time or seconds since the epoch", name);
		return -1;
	}
	return 0;
}

static void audit_start(struct http_ctx *c, bool csv)
{
	struct server *srv = c->srv;
	struct audit_job *j;
	const char *fmt = http_query(c, "format"), *cursor = http_query(c, "cursor");
	int64_t limit = AUDIT_PAGE_DEFAULT;

	if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0) {
		http_reply_error(c, 400, "invalid_parameter", "query parameter 'format' must be json or csv");
		return;
	}
	csv = csv || (fmt && !strcmp(fmt, "csv"));
	if (!srv->audit) {
		http_reply_error(c, 503, "audit_unavailable", "the audit trail is not open");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	j->c = c;
	j->csv = csv;
	j->f.before_seq = INT64_MAX;
	if (!csv && http_query_int(c, "limit", 1, AUDIT_PAGE_MAX, AUDIT_PAGE_DEFAULT, &limit) < 0)
		goto fail;
	j->limit = (size_t)limit;
	if (!csv && cursor && util_parse_i64(cursor, 1, INT64_MAX, &j->f.before_seq) < 0) {
		http_reply_error(c, 400, "invalid_parameter", "query parameter 'cursor' is not a cursor from 'next'");
		goto fail;
	}
	if (filter_str(c, j, 0, "actor", &j->f.actor) < 0 || filter_str(c, j, 1, "action", &j->f.action_prefix) < 0 ||
	    filter_str(c, j, 2, "target", &j->f.target) < 0 || filter_str(c, j, 3, "outcome", &j->f.outcome) < 0 ||
	    filter_time(c, "since", INT64_MIN, &j->f.since_ms) < 0 || filter_time(c, "until", INT64_MAX, &j->f.until_ms) < 0)
		goto fail;
	if (csv && !(j->out = evbuffer_new())) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		goto fail;
	}
	audit_snapshot_take(srv->audit, &j->snap);
	if (workers_submit(srv->workers, audit_job_work, audit_job_done, j) < 0) {
		http_reply_error(c, 503, "busy", "try again later");
		goto fail;
	}
	if (csv) /* reading the whole trail is itself worth recording (after the snapshot) */
		audit_log(srv, c, "audit.export", NULL, "ok",
			  json_pack("{s:s?,s:s?,s:s?,s:s?}", "actor", j->f.actor, "action", j->f.action_prefix, "target",
				    j->f.target, "outcome", j->f.outcome));
	return;
fail:
	audit_job_free(j);
}

void api_audit_list(struct http_ctx *c) { audit_start(c, false); }

void api_audit_export(struct http_ctx *c) { audit_start(c, true); }

/*
 * sse.c — Server-Sent Events streams (see sse.h).  Loop thread only.
 *
 * A stream is a chunked reply started with evhttp_send_reply_start(); the
 * http_ctx is detached and the subscriber owns the evhttp_request until it
 * ends the reply (drain, job end) or the connection closes (close callback,
 * then evhttp_send_reply_end() frees the orphaned request).  A subscriber
 * whose connection output buffer exceeds SSE_MAX_BUFFERED is dropped by
 * freeing its connection: a slow browser costs at most that much memory and
 * never slows the publisher.  Every event carries an "id:" line.
 */
#include "server/sse.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "common/util.h"
#include "server/api_jobs.h"
#include "server/server.h"
#include "server/store_jobs.h"

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                                                                     \
	for ((var) = TAILQ_FIRST(head); (var) && ((tvar) = TAILQ_NEXT(var, field), 1); (var) = (tvar))
#endif

struct sse_sub {
	struct sse *sse;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	char job_id[STORE_JOB_ID_LEN + 1]; /* "" for the fleet stream */
	int64_t last_line;                 /* job streams: highest log line sent */
	int64_t job_rid;                   /* job streams: the job's row id */
	bool replaying;                    /* stored lines still to send (paced by replay_ev) */
	struct event *replay_ev;
	TAILQ_ENTRY(sse_sub) entry;
};

struct sse_ring_ev {
	int64_t id;
	char *text; /* the whole formatted event */
};

struct sse {
	struct server *srv;
	TAILQ_HEAD(sse_subs, sse_sub) subs;
	size_t nsubs;
	struct sse_ring_ev ring[SSE_FLEET_RING];
	size_t ring_start, ring_count;
	int64_t next_id;
	struct event *keepalive;
};

/* ---- subscriber lifecycle ---- */

static void sub_remove(struct sse_sub *s)
{
	if (s->replay_ev)
		event_free(s->replay_ev);
	TAILQ_REMOVE(&s->sse->subs, s, entry);
	s->sse->nsubs--;
	free(s);
}

static void sub_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct sse_sub *s = arg;
	struct evhttp_request *req = s->req;
	(void)evcon;
	sub_remove(s);
	/* The request was detached from the dying connection: this frees it. */
	evhttp_send_reply_end(req);
}

/* End the stream politely (final chunk). */
static void sub_end(struct sse_sub *s)
{
	struct evhttp_request *req = s->req;
	if (s->evcon)
		evhttp_connection_set_closecb(s->evcon, NULL, NULL);
	sub_remove(s);
	evhttp_send_reply_end(req);
}

/* Drop a subscriber that cannot keep up: close its connection now. */
static void sub_drop(struct sse_sub *s)
{
	struct evhttp_connection *evcon = s->evcon;
	log_info("dropping slow event-stream client");
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	sub_remove(s);
	evhttp_connection_free(evcon); /* frees the request too */
}

/* Queue text on the stream.  Return 0, or -1 when the subscriber was dropped. */
static int sub_write(struct sse_sub *s, const char *text, size_t len)
{
	struct bufferevent *bev = s->evcon ? evhttp_connection_get_bufferevent(s->evcon) : NULL;
	struct evbuffer *buf;

	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) + len > SSE_MAX_BUFFERED) {
		sub_drop(s);
		return -1;
	}
	buf = evbuffer_new();
	if (!buf || evbuffer_add(buf, text, len) < 0) {
		if (buf)
			evbuffer_free(buf);
		return 0;
	}
	evhttp_send_reply_chunk(s->req, buf);
	evbuffer_free(buf);
	return 0;
}

/* Format one event.  OUT: malloc'd text; NULL on OOM. */
static char *event_format(int64_t id, const char *event, json_t *data, size_t *len)
{
	char *d = data ? json_dumps(data, JSON_COMPACT) : NULL;
	char *out;
	int n;

	if (data && !d)
		return NULL;
	n = asprintf(&out, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)id, event, d ? d : "{}");
	free(d);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

static int sub_event(struct sse_sub *s, int64_t id, const char *event, json_t *data)
{
	size_t len;
	char *text = event_format(id, event, data, &len);
	int r = 0;
	if (text)
		r = sub_write(s, text, len);
	free(text);
	return r;
}

/* Start a stream on c.  Return the subscriber or NULL after replying. */
static struct sse_sub *sub_start(struct http_ctx *c, const char *job_id)
{
	struct sse *sse = c->srv->sse;
	struct sse_sub *s;
	struct evhttp_request *req = c->req;

	if (c->method == EVHTTP_REQ_HEAD) {
		http_reply_data(c, 200, "text/event-stream", "", 0);
		return NULL;
	}
	if (!sse || c->srv->draining) {
		http_reply_error(c, 503, "unavailable", "event streams are not available");
		return NULL;
	}
	if (sse->nsubs >= SSE_MAX_SUBSCRIBERS) {
		http_reply_error(c, 503, "too_many_streams", "too many event streams; try again later");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return NULL;
	}
	s->sse = sse;
	s->req = req;
	s->evcon = evhttp_request_get_connection(req);
	util_strlcpy(s->job_id, job_id ? job_id : "", sizeof(s->job_id));
	http_set_header(c, "Content-Type", "text/event-stream");
	http_set_header(c, "Cache-Control", "no-store");
	http_set_header(c, "X-Accel-Buffering", "no");
	http_set_header(c, "X-Content-Type-Options", "nosniff");
	http_ctx_detach(c);
	evhttp_send_reply_start(req, 200, "OK");
	if (s->evcon) {
		evhttp_connection_set_timeout(s->evcon, SSE_CONN_TIMEOUT);
		evhttp_connection_set_closecb(s->evcon, sub_close_cb, s);
	}
	TAILQ_INSERT_TAIL(&sse->subs, s, entry);
	sse->nsubs++;
	return s;
}

static int64_t last_event_id(struct http_ctx *c)
{
	const char *v = http_get_header(c, "Last-Event-ID");
	int64_t id = -1;
	if (!v)
		v = http_query(c, "last_event_id");
	if (v && util_parse_i64(v, 0, INT64_MAX, &id) < 0)
		id = -1;
	return id;
}

/* ---- fleet stream ---- */

void api_events_stream(struct http_ctx *c)
{
	struct sse *sse = c->srv->sse;
	int64_t last = last_event_id(c);
	struct sse_sub *s = sub_start(c, NULL);
	if (!s)
		return;
	if (sub_write(s, "retry: 3000\n\n", 13) < 0)
		return;
	if (last < 0)
		return;
	if (sse->ring_count == 0 || last + 1 < sse->ring[sse->ring_start].id) {
		/* Older than what we remember (or from before a restart with a full ring gone). */
		if (last + 1 != sse->next_id)
			sub_event(s, sse->next_id - 1, "reset", NULL);
		return;
	}
	for (size_t i = 0; i < sse->ring_count; i++) {
		struct sse_ring_ev *e = &sse->ring[(sse->ring_start + i) % SSE_FLEET_RING];
		if (e->id > last && sub_write(s, e->text, strlen(e->text)) < 0)
			return;
	}
}

void sse_publish_fleet(struct server *srv, const char *event, json_t *data)
{
	struct sse *sse = srv->sse;
	struct sse_ring_ev *e;
	struct sse_sub *s, *tmp;
	size_t len;
	char *text;

	if (!sse) {
		json_decref(data);
		return;
	}
	text = event_format(sse->next_id, event, data, &len);
	json_decref(data);
	if (!text)
		return;
	if (sse->ring_count == SSE_FLEET_RING) {
		free(sse->ring[sse->ring_start].text);
		sse->ring_start = (sse->ring_start + 1) % SSE_FLEET_RING;
		sse->ring_count--;
	}
	e = &sse->ring[(sse->ring_start + sse->ring_count) % SSE_FLEET_RING];
	e->id = sse->next_id++;
	e->text = text;
	sse->ring_count++;
	TAILQ_FOREACH_SAFE(s, &sse->subs, entry, tmp)
	{
		if (!s->job_id[0])
			sub_write(s, text, len);
	}
}

/* ---- job streams ---- */

struct replay {
	struct sse_sub *s;
	bool dropped, full;
	int64_t rows;
};

static int replay_line(void *arg, int64_t line, const char *t, const char *stream, const char *text)
{
	struct replay *rp = arg;
	json_t *d = json_pack("{s:I,s:s,s:s,s:s}", "line", (json_int_t)line, "t", t, "stream", stream, "text", text);
	struct bufferevent *bev;
	int r = sub_event(rp->s, line, "log", d);
	json_decref(d);
	if (r < 0) {
		rp->dropped = true;
		return 1;
	}
	rp->s->last_line = line;
	rp->rows++;
	bev = rp->s->evcon ? evhttp_connection_get_bufferevent(rp->s->evcon) : NULL;
	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) >= SSE_REPLAY_CHUNK) {
		rp->full = true;
		return 1;
	}
	return 0;
}

/* Send the final state and "end" if the job is final; return true when the stream ended. */
static bool sub_end_if_final(struct server *srv, struct sse_sub *s)
{
	struct store_job j;
	json_t *state;
	bool final;

	if (store_job_get(srv->store, s->job_id, &j) < 0)
		return false;
	final = store_job_status_is_final(j.status);
	if (final) {
		state = api_job_json(&j);
		if (sub_event(s, s->last_line, "state", state) == 0 && sub_event(s, s->last_line, "end", NULL) == 0)
			sub_end(s);
		json_decref(state);
	}
	store_job_release(&j);
	return final;
}

/* Send the next page of stored lines.  A long log goes out in pieces of
 * about SSE_REPLAY_CHUNK as the connection drains, so replaying never trips
 * the slow-client cap; live lines wait (they are in the database too). */
static void replay_step(evutil_socket_t fd, short what, void *arg)
{
	struct sse_sub *s = arg;
	struct server *srv = s->sse->srv;
	struct bufferevent *bev = s->evcon ? evhttp_connection_get_bufferevent(s->evcon) : NULL;
	struct timeval tv = {0, SSE_REPLAY_TICK_MS * 1000};
	struct replay rp = {s, false, false, 0};

	(void)fd;
	(void)what;
	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) >= SSE_REPLAY_CHUNK) {
		event_add(s->replay_ev, &tv); /* still draining */
		return;
	}
	if (store_job_log_each(srv->store, s->job_rid, s->last_line, SSE_REPLAY_PAGE, replay_line, &rp) < 0) {
		if (!rp.dropped)
			event_add(s->replay_ev, &tv); /* try again */
		return;
	}
	if (rp.dropped)
		return; /* s is gone */
	if (rp.full || rp.rows == SSE_REPLAY_PAGE) {
		event_add(s->replay_ev, &tv);
		return;
	}
	s->replaying = false;
	sub_end_if_final(srv, s);
}

void api_job_stream(struct http_ctx *c)
{
	struct server *srv = c->srv;
	const char *id = c->params[0];
	struct store_job j;
	struct sse_sub *s;
	int64_t last = last_event_id(c);
	json_t *state;
	int r;

	if (!id || strlen(id) != STORE_JOB_ID_LEN) {
		http_reply_error(c, 404, "not_found", "no such job");
		return;
	}
	r = store_job_get(srv->store, id, &j);
	if (r == -ENOENT) {
		http_reply_error(c, 404, "not_found", "no such job");
		return;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the job now");
		return;
	}
	if (last < 0)
		last = 0;
	if (last > j.log_lines)
		last = j.log_lines;
	s = sub_start(c, j.id);
	if (!s) {
		store_job_release(&j);
		return;
	}
	s->last_line = last;
	s->job_rid = j.rid;
	s->replaying = true;
	s->replay_ev = evtimer_new(srv->base, replay_step, s);
	state = api_job_json(&j);
	store_job_release(&j);
	r = sub_write(s, "retry: 3000\n\n", 13);
	if (r == 0)
		r = sub_event(s, last, "state", state);
	json_decref(state);
	if (r < 0)
		return;
	if (!s->replay_ev) {
		sub_end(s);
		return;
	}
	replay_step(-1, 0, s);
}

void sse_publish_job(struct server *srv, const char *job_id, const char *event, int64_t id, json_t *data)
{
	struct sse *sse = srv->sse;
	struct sse_sub *s, *tmp;
	bool is_log = !strcmp(event, "log");

	if (!sse) {
		json_decref(data);
		return;
	}
	TAILQ_FOREACH_SAFE(s, &sse->subs, entry, tmp)
	{
		if (strcmp(s->job_id, job_id) != 0)
			continue;
		if (is_log) {
			if (id <= s->last_line || s->replaying)
				continue;
			if (sub_event(s, id, event, data) == 0)
				s->last_line = id;
		} else {
			sub_event(s, s->last_line, event, data);
		}
	}
	json_decref(data);
}

void sse_job_finished(struct server *srv, const char *job_id, int64_t id, json_t *data)
{
	struct sse *sse = srv->sse;
	struct sse_sub *s, *tmp;

	(void)id;
	if (!sse) {
		json_decref(data);
		return;
	}
	TAILQ_FOREACH_SAFE(s, &sse->subs, entry, tmp)
	{
		if (strcmp(s->job_id, job_id) != 0 || s->replaying)
			continue; /* a replaying stream ends itself after its last stored line */
		if (sub_event(s, s->last_line, "state", data) < 0)
			continue;
		if (sub_event(s, s->last_line, "end", NULL) < 0)
			continue;
		sub_end(s);
	}
	json_decref(data);
}

/* ---- keepalive, start, stop ---- */

static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
	struct sse *sse = arg;
	struct sse_sub *s, *tmp;
	(void)fd;
	(void)what;
	TAILQ_FOREACH_SAFE(s, &sse->subs, entry, tmp)
	sub_write(s, ": keepalive\n\n", 13);
}

int sse_start(struct server *srv)
{
	struct sse *sse = calloc(1, sizeof(*sse));
	struct timeval tv = {SSE_KEEPALIVE_SECONDS, 0};

	if (!sse)
		return -ENOMEM;
	sse->srv = srv;
	TAILQ_INIT(&sse->subs);
	/* Ids keep growing across restarts, so a stale Last-Event-ID is never mistaken for a new one. */
	sse->next_id = util_now_ms();
	sse->keepalive = event_new(srv->base, -1, EV_PERSIST, on_keepalive, sse);
	if (!sse->keepalive || event_add(sse->keepalive, &tv) < 0) {
		if (sse->keepalive)
			event_free(sse->keepalive);
		free(sse);
		log_error("cannot start the event-stream keepalive timer");
		return -ENOMEM;
	}
	srv->sse = sse;
	return 0;
}

void sse_drain(struct server *srv)
{
	struct sse *sse = srv->sse;
	struct sse_sub *s;
	if (!sse)
		return;
	while ((s = TAILQ_FIRST(&sse->subs)) != NULL)
		sub_end(s);
}

int64_t sse_count_subscribers(struct server *srv) { return srv->sse ? (int64_t)srv->sse->nsubs : 0; }

void sse_stop(struct server *srv)
{
	struct sse *sse = srv->sse;
	if (!sse)
		return;
	sse_drain(srv);
	for (size_t i = 0; i < sse->ring_count; i++)
		free(sse->ring[(sse->ring_start + i) % SSE_FLEET_RING].text);
	event_free(sse->keepalive);
	free(sse);
	srv->sse = NULL;
}

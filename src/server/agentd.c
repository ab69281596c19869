/*
 * agentd.c — held long-polls, wake-ups and host liveness (see agentd.h).
 * Loop thread only; no locks.
 *
 * State: a hash table host_id → struct agentd_host, created on first
 * contact (or at start for hosts stored as online, so they go offline if
 * they never come back).  Each host holds at most one poll: a newer poll
 * answers the older one with an empty list.  A held poll is answered when
 * agentd_notify() finds commands for it, when its wait timer fires, when the
 * client closes (close callback), when the host is deleted, or at drain.
 * Invariants: h->waiter != NULL ⇔ h->timer is pending; the waiter's close
 * callback points at h; h->eof_ev exists only while h->waiter does.
 * A held poll counts as contact; the poll of an agent that went away is
 * dropped when its socket reports EOF (on_waiter_readable), or at the end
 * of its wait when the peer vanished without a FIN.
 */
#include "server/agentd.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/util.h"
#include "server/alerts.h"
#include "server/metrics.h"
#include "server/schedules.h"
#include "server/server.h"
#include "server/sse.h"
#include "server/store.h"
#include "server/store_hosts.h"

#define AGENTD_BUCKETS 4096

struct agentd_host {
	int64_t host_id;
	int64_t last_contact_ms;
	int64_t seen_flushed; /* last_seen_at last written (s) */
	bool online;
	struct http_ctx *waiter;
	int64_t waiter_after;
	struct event *timer;
	struct event *eof_ev; /* the waiter's socket turned readable: EOF? */
	struct agentd *ad;
	struct agentd_host *next;
};

struct agentd {
	struct server *srv;
	struct agentd_host *buckets[AGENTD_BUCKETS];
	struct event *liveness;
	int64_t offline_after_ms;
	int64_t last_purge;
};

static size_t bucket_of(int64_t id)
{
	return (size_t)((uint64_t)id * 2654435761u) % AGENTD_BUCKETS;
}

static struct agentd_host *host_find(struct agentd *ad, int64_t id)
{
	for (struct agentd_host *h = ad->buckets[bucket_of(id)]; h; h = h->next)
		if (h->host_id == id)
			return h;
	return NULL;
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg);

static struct agentd_host *host_get(struct agentd *ad, int64_t id)
{
	struct agentd_host *h = host_find(ad, id);
	size_t b;

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->timer = evtimer_new(ad->srv->base, on_wait_timeout, h);
	if (!h->timer) {
		free(h);
		return NULL;
	}
	h->host_id = id;
	h->ad = ad;
	b = bucket_of(id);
	h->next = ad->buckets[b];
	ad->buckets[b] = h;
	return h;
}

static void host_unlink(struct agentd *ad, struct agentd_host *h)
{
	struct agentd_host **pp = &ad->buckets[bucket_of(h->host_id)];
	while (*pp && *pp != h)
		pp = &(*pp)->next;
	if (*pp)
		*pp = h->next;
	event_free(h->timer);
	free(h);
}

static void publish_status(struct server *srv, int64_t host_id, bool online, int64_t last_seen)
{
	struct store_host sh;
	char ts[32];
	util_time_rfc3339(last_seen, ts);
	if (store_host_get(srv->store, host_id, &sh) < 0)
		return;
	sse_publish_fleet(srv, "host",
	                  json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)host_id, "name", sh.name, "status",
	                            online ? "online" : "offline", "last_seen", ts));
	store_host_release(&sh);
}

/* ---- replying to a held poll ---- */

static void waiter_close_cb(struct http_ctx *c, void *arg);

/* Detach the waiter from h (timer, close callback) and return it. */
static struct http_ctx *waiter_take(struct agentd_host *h)
{
	struct http_ctx *c = h->waiter;
	if (!c)
		return NULL;
	h->waiter = NULL;
	event_del(h->timer);
	if (h->eof_ev) {
		event_free(h->eof_ev);
		h->eof_ev = NULL;
	}
	http_ctx_set_close_cb(c, NULL, NULL);
	return c;
}

static void reply_commands(struct http_ctx *c, json_t *cmds)
{
	if (!cmds)
		cmds = json_array();
	else
		schedules_expand_commands(c->srv, c->host_id, cmds); /* hooks are stored sealed only */
	http_reply_json(c, 200, json_pack("{s:o}", "commands", cmds));
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct agentd_host *h = arg;
	struct http_ctx *c = waiter_take(h);
	(void)fd;
	(void)what;
	if (c)
		reply_commands(c, NULL);
}

/* evhttp does not read from a connection whose request awaits its reply,
 * so it would notice a vanished agent only when the wait is over.  The
 * socket turning readable while a poll is held means EOF (agents do not
 * pipeline): answer the poll now, which frees it. */
static void on_waiter_readable(evutil_socket_t fd, short what, void *arg)
{
	struct agentd_host *h = arg;
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	struct http_ctx *c;

	(void)what;
	if (n > 0)
		return; /* data, not EOF: stop watching (one-shot) */
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		event_add(h->eof_ev, NULL);
		return;
	}
	c = waiter_take(h);
	if (c)
		reply_commands(c, NULL);
}

static void waiter_close_cb(struct http_ctx *c, void *arg)
{
	struct agentd_host *h = arg;
	if (h->waiter == c) {
		h->waiter = NULL;
		event_del(h->timer);
		if (h->eof_ev) {
			event_free(h->eof_ev);
			h->eof_ev = NULL;
		}
	}
	/* Replying frees the context; libevent drops the orphaned request. */
	reply_commands(c, NULL);
}

/* ---- liveness ---- */

void agentd_touch(struct server *srv, int64_t host_id)
{
	struct agentd *ad = srv->agentd;
	struct agentd_host *h;
	int64_t now_ms = util_now_ms(), now = now_ms / 1000;

	if (!ad || !(h = host_get(ad, host_id)))
		return;
	h->last_contact_ms = now_ms;
	if (!h->online) {
		h->online = true;
		h->seen_flushed = now;
		if (store_host_set_status(srv->store, host_id, "online", now) == 0) {
			log_info("host %lld is online", (long long)host_id);
			publish_status(srv, host_id, true, now);
			alerts_host_status(srv, host_id, true);
		}
	} else if (now - h->seen_flushed >= AGENTD_SEEN_FLUSH) {
		h->seen_flushed = now;
		store_host_touch(srv->store, host_id, now);
	}
}

bool agentd_is_online(struct server *srv, int64_t host_id)
{
	struct agentd_host *h = srv->agentd ? host_find(srv->agentd, host_id) : NULL;
	return h && h->online;
}

bool agentd_is_polling(struct server *srv, int64_t host_id)
{
	struct agentd_host *h = srv->agentd ? host_find(srv->agentd, host_id) : NULL;
	return h && h->waiter;
}

int64_t agentd_count_polls(struct server *srv)
{
	int64_t n = 0;
	if (!srv->agentd)
		return 0;
	for (size_t b = 0; b < AGENTD_BUCKETS; b++)
		for (struct agentd_host *h = srv->agentd->buckets[b]; h; h = h->next)
			n += h->waiter != NULL;
	return n;
}

static void on_liveness(evutil_socket_t fd, short what, void *arg)
{
	struct agentd *ad = arg;
	struct server *srv = ad->srv;
	int64_t now_ms = util_now_ms();

	(void)fd;
	(void)what;
	for (size_t b = 0; b < AGENTD_BUCKETS; b++) {
		for (struct agentd_host *h = ad->buckets[b]; h; h = h->next) {
			if (!h->online)
				continue;
			if (h->waiter) {
				/* A held poll is contact (a vanished agent's poll is dropped on EOF). */
				h->last_contact_ms = now_ms;
				continue;
			}
			if (now_ms - h->last_contact_ms < ad->offline_after_ms)
				continue;
			h->online = false;
			int64_t seen = h->last_contact_ms / 1000;
			if (store_host_set_status(srv->store, h->host_id, "offline", seen) == 0) {
				log_info("host %lld is offline (no contact for %lld s)", (long long)h->host_id,
				         (long long)((now_ms - h->last_contact_ms) / 1000));
				publish_status(srv, h->host_id, false, seen);
				alerts_host_status(srv, h->host_id, false);
			}
		}
	}
	/* Event records only serve idempotency of replays, which never reach this far back. */
	if (now_ms / 1000 - ad->last_purge >= 3600) {
		ad->last_purge = now_ms / 1000;
		store_event_purge(srv->store, ad->last_purge - 30 * 86400);
	}
}

/* ---- polls ---- */

void agentd_poll(struct http_ctx *c, int64_t after, int wait)
{
	struct server *srv = c->srv;
	struct agentd *ad = srv->agentd;
	struct agentd_host *h;
	struct http_ctx *old;
	json_t *cmds = NULL;
	struct timeval tv;
	int r;

	agentd_touch(srv, c->host_id);
	if (after > 0)
		store_cmd_ack(srv->store, c->host_id, after);
	r = store_cmd_list(srv->store, c->host_id, after, AGENTD_MAX_COMMANDS, &cmds);
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot read the command queue now");
		return;
	}
	if (json_array_size(cmds) > 0 || wait <= 0 || srv->draining || !ad) {
		reply_commands(c, cmds);
		return;
	}
	json_decref(cmds);
	h = host_get(ad, c->host_id);
	if (!h) {
		reply_commands(c, NULL);
		return;
	}
	old = waiter_take(h);
	if (old)
		reply_commands(old, NULL); /* a newer poll replaces the older */
	h->waiter = c;
	h->waiter_after = after;
	c->held = true; /* its hold time is not a request duration */
	tv.tv_sec = wait;
	tv.tv_usec = 0;
	event_add(h->timer, &tv);
	http_ctx_set_close_cb(c, waiter_close_cb, h);
	http_ctx_set_timeout(c, wait + 30);
	{
		struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
		struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
		evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
		if (fd >= 0) {
			h->eof_ev = event_new(srv->base, fd, EV_READ, on_waiter_readable, h);
			if (h->eof_ev)
				event_add(h->eof_ev, NULL);
		}
	}
}

void agentd_notify(struct server *srv, int64_t host_id)
{
	struct agentd_host *h = srv->agentd ? host_find(srv->agentd, host_id) : NULL;
	json_t *cmds = NULL;
	struct http_ctx *c;
	int64_t t0;

	if (!h || !h->waiter)
		return;
	t0 = metrics_now_us();
	if (store_cmd_list(srv->store, host_id, h->waiter_after, AGENTD_MAX_COMMANDS, &cmds) < 0 ||
	    json_array_size(cmds) == 0) {
		json_decref(cmds);
		return;
	}
	c = waiter_take(h);
	reply_commands(c, cmds);
	metrics_observe_wake(srv, t0);
}

void agentd_forget(struct server *srv, int64_t host_id)
{
	struct agentd_host *h = srv->agentd ? host_find(srv->agentd, host_id) : NULL;
	struct http_ctx *c;
	if (!h)
		return;
	c = waiter_take(h);
	if (c)
		reply_commands(c, NULL);
	host_unlink(srv->agentd, h);
}

/* ---- start / stop ---- */

int agentd_start(struct server *srv)
{
	struct agentd *ad = calloc(1, sizeof(*ad));
	const char *test_after = getenv("RM_TEST_OFFLINE_AFTER");
	int64_t *ids = NULL, secs = AGENTD_OFFLINE_AFTER, now_ms = util_now_ms();
	size_t n = 0;
	struct timeval tv;

	if (!ad)
		return -ENOMEM;
	ad->srv = srv;
	/* Test-only: a shorter offline threshold so a system test need not wait 90 s. */
	if (test_after && util_parse_i64(test_after, 1, 3600, &secs) < 0) {
		log_error("RM_TEST_OFFLINE_AFTER must be an integer number of seconds in [1, 3600]");
		free(ad);
		return -EINVAL;
	}
	ad->offline_after_ms = secs * 1000;
	ad->last_purge = now_ms / 1000;
	srv->agentd = ad;
	/* Hosts stored as online get the full threshold from now to show up. */
	if (store_host_online_ids(srv->store, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct agentd_host *h = host_get(ad, ids[i]);
			if (!h)
				break;
			h->online = true;
			h->last_contact_ms = now_ms;
			h->seen_flushed = now_ms / 1000;
		}
		free(ids);
	}
	ad->liveness = event_new(srv->base, -1, EV_PERSIST, on_liveness, ad);
	int64_t tick = ad->offline_after_ms / 4 < 5000 ? ad->offline_after_ms / 4 : 5000;
	tv.tv_sec = (time_t)(tick / 1000);
	tv.tv_usec = (suseconds_t)((tick % 1000) * 1000);
	if (!ad->liveness || event_add(ad->liveness, &tv) < 0) {
		log_error("cannot start the host liveness timer");
		return -ENOMEM;
	}
	return 0;
}

void agentd_drain(struct server *srv)
{
	struct agentd *ad = srv->agentd;
	if (!ad)
		return;
	for (size_t b = 0; b < AGENTD_BUCKETS; b++)
		for (struct agentd_host *h = ad->buckets[b]; h; h = h->next) {
			struct http_ctx *c = waiter_take(h);
			if (c)
				reply_commands(c, NULL);
		}
}

void agentd_stop(struct server *srv)
{
	struct agentd *ad = srv->agentd;
	if (!ad)
		return;
	agentd_drain(srv);
	for (size_t b = 0; b < AGENTD_BUCKETS; b++) {
		struct agentd_host *h = ad->buckets[b];
		while (h) {
			struct agentd_host *next = h->next;
			if (h->eof_ev)
				event_free(h->eof_ev);
			event_free(h->timer);
			free(h);
			h = next;
		}
	}
	if (ad->liveness)
		event_free(ad->liveness);
	free(ad);
	srv->agentd = NULL;
}

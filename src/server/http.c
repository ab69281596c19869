/*
 * http.c — request dispatch, limits and replies over evhttp (see http.h).
 * Runs only on the event-loop thread.  Invariants: every request that reaches
 * http_dispatch() gets exactly one reply; every client-controlled size is
 * capped before it is used; a reply is always JSON unless a handler chose
 * another type (assets, logs, UI).
 */
#include "server/http.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/routes.h"
#include "server/server.h"

static void http_ctx_free(struct http_ctx *c)
{
	if (!c)
		return;
	if (c->req) {
		struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
		if (evcon)
			evhttp_connection_set_closecb(evcon, NULL, NULL);
	}
	evhttp_clear_headers(&c->query);
	json_decref(c->body);
	free(c->path);
	free(c->segbuf);
	free(c);
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE: return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH: return "PATCH";
	}
	return "?";
}

static void http_log_reply(struct http_ctx *c, int status)
{
	if (!log_is_enabled(LOG_LEVEL_DEBUG) && status < 500)
		return;
	/* Only the path is logged, never the query (it may carry a bootstrap or asset token). */
	int64_t ms = util_now_ms() - c->started_ms;
	if (status >= 500)
		log_warnx("http %s %s -> %d (%lld ms) from %s", method_name(c->method), c->path ? c->path : "?",
			  status, (long long)ms, c->client_addr);
	else
		log_debug("http %s %s -> %d (%lld ms) from %s", method_name(c->method), c->path ? c->path : "?",
			  status, (long long)ms, c->client_addr);
}

static void http_send(struct http_ctx *c, int status, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

	if (!evhttp_find_header(h, "Cache-Control"))
		evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* evhttp sends a body even for HEAD; that would be read as the next
	 * response on a kept-alive connection.  Announce its length, send none. */
	if (c->method == EVHTTP_REQ_HEAD && body) {
		char len[32];
		snprintf(len, sizeof(len), "%zu", evbuffer_get_length(body));
		evhttp_remove_header(h, "Content-Length");
		evhttp_add_header(h, "Content-Length", len);
		body = NULL;
	}
	http_log_reply(c, status);
	metrics_count_http(c->srv, status);
	evhttp_send_reply(c->req, status, NULL, body);
	if (!c->held)
		metrics_observe_request(c);
	c->replied = true;
	c->req = NULL; /* evhttp owns it again */
	http_ctx_free(c);
}

void http_set_header(struct http_ctx *c, const char *name, const char *value)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
	evhttp_remove_header(h, name);
	evhttp_add_header(h, name, value);
}

const char *http_get_header(struct http_ctx *c, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(c->req), name);
}

const char *http_query(struct http_ctx *c, const char *name) { return evhttp_find_header(&c->query, name); }

int http_query_int(struct http_ctx *c, const char *name, int64_t min, int64_t max, int64_t def, int64_t *out)
{
	const char *v = http_query(c, name);
	if (!v) {
		*out = def;
		return 0;
	}
	if (util_parse_i64(v, min, max, out) < 0) {
		http_reply_error(c, 400, "invalid_parameter", "query parameter '%s' must be an integer in [%lld, %lld]",
				 name, (long long)min, (long long)max);
		return -EINVAL;
	}
	return 0;
}

int http_param_id(struct http_ctx *c, int i, int64_t *out)
{
	if (i < 0 || i >= HTTP_MAX_PARAMS || !c->params[i] ||
	    util_parse_i64(c->params[i], 1, INT64_MAX, out) < 0) {
		http_reply_error(c, 404, "not_found", "no such object");
		return -1;
	}
	return 0;
}

void http_reply_json(struct http_ctx *c, int status, json_t *body)
{
	struct evbuffer *buf = evbuffer_new();
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (!buf || (body && !s)) {
		free(s);
		if (buf)
			evbuffer_free(buf);
		http_set_header(c, "Content-Type", "application/json");
		http_send(c, 503, NULL);
		return;
	}
	if (s && evbuffer_add(buf, s, strlen(s)) < 0) {
		free(s);
		evbuffer_free(buf);
		http_send(c, 503, NULL);
		return;
	}
	free(s);
	http_set_header(c, "Content-Type", "application/json");
	http_send(c, status, buf);
	evbuffer_free(buf);
}

void http_reply_error(struct http_ctx *c, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_reply_json(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

void http_reply_empty(struct http_ctx *c, int status) { http_send(c, status, NULL); }

void http_reply_data(struct http_ctx *c, int status, const char *content_type, const void *data, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	if (!buf || evbuffer_add(buf, data, len) < 0) {
		if (buf)
			evbuffer_free(buf);
		http_send(c, 503, NULL);
		return;
	}
	http_set_header(c, "Content-Type", content_type);
	http_send(c, status, c->method == EVHTTP_REQ_HEAD ? NULL : buf);
	evbuffer_free(buf);
}

void http_reply_buffer(struct http_ctx *c, int status, const char *content_type, struct evbuffer *buf)
{
	http_set_header(c, "Content-Type", content_type);
	http_send(c, status, buf);
}

void http_reply_file(struct http_ctx *c, int status, const char *content_type, int fd, int64_t length)
{
	struct evbuffer *buf;
	char len[32];

	http_set_header(c, "Content-Type", content_type);
	if (c->method == EVHTTP_REQ_HEAD) {
		/* evhttp computes Content-Length from the (empty) body; set the real one for HEAD. */
		close(fd);
		snprintf(len, sizeof(len), "%lld", (long long)length);
		http_set_header(c, "Content-Length", len);
		http_send(c, status, NULL);
		return;
	}
	buf = evbuffer_new();
	if (!buf || evbuffer_add_file(buf, fd, 0, length) < 0) {
		/* evbuffer_add_file closes fd on failure in libevent 2.1 */
		if (buf)
			evbuffer_free(buf);
		http_send(c, 503, NULL);
		return;
	}
	http_send(c, status, buf);
	evbuffer_free(buf);
}

void http_ctx_detach(struct http_ctx *c)
{
	metrics_count_http(c->srv, 200); /* a stream the handler now answers itself (200) */
	c->req = NULL;
	http_ctx_free(c);
}

static void http_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_ctx *c = arg;
	void (*cb)(struct http_ctx *, void *) = c->on_close;

	(void)evcon;
	c->on_close = NULL;
	if (cb)
		cb(c, c->on_close_arg);
}

void http_ctx_set_close_cb(struct http_ctx *c, void (*cb)(struct http_ctx *, void *), void *arg)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	c->on_close = cb;
	c->on_close_arg = arg;
	if (evcon)
		evhttp_connection_set_closecb(evcon, cb ? http_on_close : NULL, cb ? c : NULL);
}

void http_ctx_set_timeout(struct http_ctx *c, int seconds)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	if (evcon)
		evhttp_connection_set_timeout(evcon, seconds);
}

json_t *http_body_object(struct http_ctx *c)
{
	if (!json_is_object(c->body)) {
		http_reply_error(c, 400, "invalid_json", "request body must be a JSON object");
		return NULL;
	}
	return c->body;
}

int http_json_str(struct http_ctx *c, json_t *obj, const char *field, size_t min, size_t max, bool required,
		  const char **out)
{
	json_t *v = json_object_get(obj, field);
	size_t len;

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' is required", field);
		return -1;
	}
	if (!json_is_string(v)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be a string", field);
		return -1;
	}
	len = json_string_length(v);
	if (len < min || len > max || strlen(json_string_value(v)) != len) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be %zu to %zu bytes without NUL",
				 field, min, max);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int http_json_int(struct http_ctx *c, json_t *obj, const char *field, int64_t min, int64_t max, bool required,
		  int64_t def, int64_t *out)
{
	json_t *v = json_object_get(obj, field);

	*out = def;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' is required", field);
		return -1;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be an integer in [%lld, %lld]", field,
				 (long long)min, (long long)max);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

int http_json_bool(struct http_ctx *c, json_t *obj, const char *field, bool required, bool def, bool *out)
{
	json_t *v = json_object_get(obj, field);

	*out = def;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' is required", field);
		return -1;
	}
	if (!json_is_boolean(v)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be true or false", field);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

/* ---- dispatch ---- */

static void set_client_addr(struct http_ctx *c)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
	char *peer = NULL;
	ev_uint16_t port = 0;
	const char *xff, *proto;

	if (evcon)
		evhttp_connection_get_peer(evcon, &peer, &port);
	util_strlcpy(c->client_addr, peer ? peer : "?", sizeof(c->client_addr));
	if (!c->srv->cfg.n_trusted_proxy ||
	    !config_cidr_match(c->srv->cfg.trusted_proxy, c->srv->cfg.n_trusted_proxy, c->client_addr))
		return;
	/* Believe the right-most address the proxy appended. */
	xff = http_get_header(c, "X-Forwarded-For");
	if (xff) {
		const char *last = strrchr(xff, ',');
		last = last ? last + 1 : xff;
		while (*last == ' ')
			last++;
		char tmp[64];
		size_t n = strcspn(last, " ");
		if (n > 0 && n < sizeof(tmp)) {
			memcpy(tmp, last, n);
			tmp[n] = '\0';
			util_strlcpy(c->client_addr, tmp, sizeof(c->client_addr));
		}
	}
	proto = http_get_header(c, "X-Forwarded-Proto");
	c->client_https = proto && !strcmp(proto, "https");
}

static size_t headers_size(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	size_t n = 0;
	TAILQ_FOREACH(kv, h, next)
	n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

/* Match path against pattern; fill params.  segs: path split by '/' in place. */
static bool route_match(const struct route *r, char **segs, size_t nsegs, const char **params)
{
	const char *p = r->pattern + 1; /* skip leading '/' */
	size_t i = 0;
	int np = 0;

	for (;;) {
		size_t len = strcspn(p, "/");
		if (i == nsegs)
			return len == 0 && *p == '\0';
		if (len == 2 && p[0] == '{' && p[1] == '}') {
			if (segs[i][0] == '\0' || np == HTTP_MAX_PARAMS)
				return false;
			params[np++] = segs[i];
		} else if (len == 1 && p[0] == '*' && (r->flags & ROUTE_PREFIX)) {
			params[np++] = segs[i];
			return i + 1 == nsegs;
		} else if (strlen(segs[i]) != len || strncmp(segs[i], p, len) != 0) {
			return false;
		}
		i++;
		p += len;
		if (*p == '/')
			p++;
		else if (i < nsegs)
			return false;
		else
			return true;
	}
}

void http_dispatch(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	struct http_ctx *c = calloc(1, sizeof(*c));
	const char *uri = evhttp_request_get_uri(req);
	const struct evhttp_uri *parsed = evhttp_request_get_evhttp_uri(req);
	const char *rawpath, *rawquery;
	char *segs[32];
	size_t nsegs = 0, blen;
	bool path_known = false;
	struct evbuffer *in;

	if (!c) {
		evhttp_send_error(req, 503, "Service Unavailable");
		return;
	}
	TAILQ_INIT(&c->query);
	c->srv = srv;
	c->req = req;
	c->method = evhttp_request_get_command(req);
	c->started_ms = util_now_ms();
	c->started_us = metrics_now_us();
	set_client_addr(c);

	if (!uri || strlen(uri) > HTTP_MAX_URL) {
		http_reply_error(c, 414, "uri_too_long", "request URI longer than %d bytes", HTTP_MAX_URL);
		return;
	}
	if (headers_size(req) > HTTP_MAX_HEADERS) {
		http_reply_error(c, 431, "headers_too_large", "request headers larger than %d bytes", HTTP_MAX_HEADERS);
		return;
	}
	if (srv->draining) {
		http_reply_error(c, 503, "shutting_down", "server is shutting down");
		return;
	}
	rawpath = parsed ? evhttp_uri_get_path(parsed) : NULL;
	rawquery = parsed ? evhttp_uri_get_query(parsed) : NULL;
	if (!rawpath || rawpath[0] != '/') {
		http_reply_error(c, 400, "bad_request", "malformed request path");
		return;
	}
	c->path = evhttp_uridecode(rawpath, 0, NULL);
	if (!c->path) {
		http_reply_error(c, 400, "bad_request", "malformed request path");
		return;
	}
	/* A decoded NUL would silently cut a value short ("admin%00x" → "admin"). */
	if (rawquery && strcasestr(rawquery, "%00")) {
		http_reply_error(c, 400, "invalid_parameter", "NUL in query string");
		return;
	}
	if (rawquery && evhttp_parse_query_str(rawquery, &c->query) < 0) {
		http_reply_error(c, 400, "bad_request", "malformed query string");
		return;
	}
	/* Split the *raw* path so an encoded '/' (%2f) stays inside its segment
	 * and is then rejected by handlers that validate names. */
	c->segbuf = strdup(rawpath + 1);
	if (!c->segbuf) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	{
		char *p = c->segbuf;
		for (;;) {
			if (nsegs == ARRAY_LEN(segs)) {
				http_reply_error(c, 404, "not_found", "no such route");
				return;
			}
			segs[nsegs++] = p;
			char *slash = strchr(p, '/');
			if (!slash)
				break;
			*slash = '\0';
			p = slash + 1;
		}
		/* Decode each segment; a decoded NUL or '/' makes the segment invalid. */
		for (size_t i = 0; i < nsegs; i++) {
			size_t outlen = 0;
			char *d = evhttp_uridecode(segs[i], 0, &outlen);
			if (!d) {
				http_reply_error(c, 400, "bad_request", "malformed request path");
				return;
			}
			/* An encoded '/' or NUL, or a dot segment ("..", "."; raw or
			 * encoded), is a path trick: no route uses them. */
			if (outlen != strlen(d) || strchr(d, '/') || strlen(d) > strlen(segs[i]) || !strcmp(d, "..") ||
			    !strcmp(d, ".")) {
				free(d);
				http_reply_error(c, 400, "invalid_parameter", "invalid character or segment in request path");
				return;
			}
			memcpy(segs[i], d, outlen + 1);
			free(d);
		}
		if (nsegs > 1 && segs[nsegs - 1][0] == '\0')
			nsegs--; /* tolerate one trailing slash */
	}

	for (const struct route *r = routes_table(); r->pattern; r++) {
		const char *params[HTTP_MAX_PARAMS] = {0};
		if (!route_match(r, segs, nsegs, params))
			continue;
		path_known = true;
		if (r->method != c->method && !(r->method == EVHTTP_REQ_GET && c->method == EVHTTP_REQ_HEAD))
			continue;
		c->route = r;
		memcpy(c->params, params, sizeof(params));
		break;
	}
	if (!c->route) {
		if (path_known)
			http_reply_error(c, 405, "method_not_allowed", "method %s not allowed here", method_name(c->method));
		else
			http_reply_error(c, 404, "not_found", "no such route");
		return;
	}

	in = evhttp_request_get_input_buffer(req);
	blen = evbuffer_get_length(in);
	if (blen > (c->route->max_body ? c->route->max_body : HTTP_DEFAULT_MAX_BODY)) {
		http_reply_error(c, 413, "body_too_large", "request body larger than %zu bytes",
				 c->route->max_body ? c->route->max_body : (size_t)HTTP_DEFAULT_MAX_BODY);
		return;
	}
	if (blen > 0 && !(c->route->flags & ROUTE_RAW_BODY)) {
		json_error_t jerr;
		const char *ct = http_get_header(c, "Content-Type");
		if (ct && strncmp(ct, "application/json", 16) != 0) {
			http_reply_error(c, 415, "unsupported_media_type", "request body must be application/json");
			return;
		}
		c->body = json_loadb((const char *)evbuffer_pullup(in, -1), blen, JSON_REJECT_DUPLICATES, &jerr);
		if (!c->body) {
			http_reply_error(c, 400, "invalid_json", "malformed JSON at line %d column %d: %s", jerr.line,
					 jerr.column, jerr.text);
			return;
		}
	}
	if (auth_authenticate(c) < 0)
		return; /* replied */
	c->route->fn(c);
}

void http_setup(struct server *srv, struct evhttp *http)
{
	evhttp_set_max_headers_size(http, HTTP_HARD_MAX_HEADERS);
	evhttp_set_max_body_size(http, HTTP_HARD_MAX_BODY);
	evhttp_set_timeout(http, HTTP_REQUEST_TIMEOUT);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
						 EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(http, http_dispatch, srv);
}

/*
 * http.h — the HTTP layer over libevent's evhttp: request context, routing
 * from the table in routes.c, limits, JSON replies and the JSON error body
 * {"error":{"code","message"}}.
 *
 * Lifecycle of a request: evhttp calls http_dispatch() on the loop thread;
 * it allocates a struct http_ctx, checks limits, finds the route, parses the
 * JSON body, authenticates (auth.c) and calls the handler.  The handler must
 * eventually call exactly one http_reply_*() — at once, or later from a timer,
 * a long-poll wake-up or a worker completion.  The reply frees the context.
 * If the client goes away first, replying is still safe (libevent frees the
 * orphaned request); http_ctx_set_close_cb() tells long-lived handlers early.
 */
#ifndef RM_HTTP_H
#define RM_HTTP_H

#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;

/* Hard caps enforced by libevent itself (plain error page beyond these). */
#define HTTP_HARD_MAX_HEADERS (64 * 1024)
#define HTTP_HARD_MAX_BODY (16 * 1024 * 1024)
/* Caps enforced by the dispatcher with a JSON error body. */
#define HTTP_MAX_URL 8192            /* 414 */
#define HTTP_MAX_HEADERS (16 * 1024) /* 431 */
#define HTTP_DEFAULT_MAX_BODY (1024 * 1024) /* 413, per route overridable */
#define HTTP_REQUEST_TIMEOUT 30      /* seconds to read a request / write a reply */
#define HTTP_MAX_PARAMS 4

/* Who may call a route.  Ordered: a higher role includes the lower ones. */
enum role { ROLE_NONE = 0, ROLE_VIEWER = 1, ROLE_OPERATOR = 2, ROLE_ADMIN = 3 };

enum access {
	ACCESS_PUBLIC,   /* no authentication */
	ACCESS_AGENT,    /* agent bearer token; ctx->host_id set */
	ACCESS_VIEWER,   /* any logged-in user or API token */
	ACCESS_OPERATOR,
	ACCESS_ADMIN,
};

enum auth_via { AUTH_VIA_NONE = 0, AUTH_VIA_SESSION, AUTH_VIA_TOKEN, AUTH_VIA_AGENT };

struct http_ctx;
typedef void (*http_handler_fn)(struct http_ctx *c);

struct route {
	enum evhttp_cmd_type method;
	const char *pattern;  /* "/api/v1/hosts/{}/jobs": each {} captures one segment */
	enum access access;
	http_handler_fn fn;
	size_t max_body;      /* 0 = HTTP_DEFAULT_MAX_BODY */
	unsigned flags;
};
#define ROUTE_RAW_BODY 0x1   /* do not parse the body as JSON */
#define ROUTE_PREFIX 0x2     /* pattern is a prefix (its last segment may be anything) */
#define ROUTE_NO_CSRF 0x4    /* cookie-authenticated write without CSRF (logout) */

struct http_ctx {
	struct server *srv;
	struct evhttp_request *req;
	const struct route *route;
	enum evhttp_cmd_type method;
	char *path;                          /* decoded path, owned */
	struct evkeyvalq query;              /* decoded query parameters */
	const char *params[HTTP_MAX_PARAMS]; /* captured {} segments, point into segbuf */
	char *segbuf;                        /* owned */
	char client_addr[64];                /* peer, or X-Forwarded-For from a trusted proxy */
	bool client_https;                   /* TLS seen by the proxy (X-Forwarded-Proto) */
	json_t *body;                        /* parsed JSON body or NULL; owned */
	/* Filled by auth_authenticate(): */
	enum auth_via via;
	int64_t user_id;
	char username[65];                   /* up to 64 bytes (auth_username_is_valid) */
	enum role role;
	int64_t token_id;     /* session or API token row id */
	int64_t host_id;      /* agent requests */
	int64_t started_ms;
	int64_t started_us;   /* monotonic, for the request-duration histogram */
	bool held;            /* a held long-poll: its hold time is not a request duration */
	void (*on_close)(struct http_ctx *c, void *arg);
	void *on_close_arg;
	bool replied;
};

/* Install the dispatcher on http; routes come from routes.c. */
void http_setup(struct server *srv, struct evhttp *http);

/* Entry point installed as evhttp's generic callback. */
void http_dispatch(struct evhttp_request *req, void *arg);

/* Headers */
void http_set_header(struct http_ctx *c, const char *name, const char *value);
const char *http_get_header(struct http_ctx *c, const char *name);
const char *http_query(struct http_ctx *c, const char *name);
/* Parse an integer query parameter; absent → def.  Return 0 or -EINVAL (already replied 400). */
int http_query_int(struct http_ctx *c, const char *name, int64_t min, int64_t max, int64_t def, int64_t *out);
/* Parse captured path parameter i as a positive id; on failure replies 404 and returns -1. */
int http_param_id(struct http_ctx *c, int i, int64_t *out);

/* Replies.  Each frees the context; the ctx pointer is dead afterwards. */
void http_reply_json(struct http_ctx *c, int status, json_t *body); /* steals body */
void http_reply_error(struct http_ctx *c, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void http_reply_empty(struct http_ctx *c, int status);
/* Reply with body bytes (copied) and a content type. */
void http_reply_data(struct http_ctx *c, int status, const char *content_type, const void *data, size_t len);
/* Reply with an evbuffer's contents (drained). */
void http_reply_buffer(struct http_ctx *c, int status, const char *content_type, struct evbuffer *buf);
/* Reply with a file: takes fd; length bytes from offset 0 via sendfile. HEAD sends no body. */
void http_reply_file(struct http_ctx *c, int status, const char *content_type, int fd, int64_t length);

/* Release a context without replying (after the handler took over the raw request,
 * e.g. a chunked SSE stream that now owns req). */
void http_ctx_detach(struct http_ctx *c);

/* Called once if the client connection closes before the reply. */
void http_ctx_set_close_cb(struct http_ctx *c, void (*cb)(struct http_ctx *, void *), void *arg);

/* Raise this connection's idle timeout (long-poll, SSE). */
void http_ctx_set_timeout(struct http_ctx *c, int seconds);

/* Require a JSON object body; replies 400 and returns NULL otherwise. */
json_t *http_body_object(struct http_ctx *c);

/* Fetch string member field of obj with byte length in [min,max].
 * Return 0 (OUT: *out, NULL when optional and absent) or -1 after replying
 * 400 {"code":"invalid_field"} naming the field. */
int http_json_str(struct http_ctx *c, json_t *obj, const char *field, size_t min, size_t max, bool required,
		  const char **out);
/* Same for an integer member in [min,max]; absent optional → *out = def. */
int http_json_int(struct http_ctx *c, json_t *obj, const char *field, int64_t min, int64_t max, bool required,
		  int64_t def, int64_t *out);
/* Same for a boolean member. */
int http_json_bool(struct http_ctx *c, json_t *obj, const char *field, bool required, bool def, bool *out);

/* Escape hatch for handlers that build their own messages. */
#define HTTP_ERR_INVALID_FIELD "invalid_field"

#endif

/*
 * auth.h — who is calling: session cookie, personal API token (Bearer) or
 * agent token (Bearer, agent routes only); role checks from the route's
 * access level; CSRF for cookie-authenticated writes; the first-start
 * bootstrap token.  Loop thread only.
 *
 * Sessions: the cookie rm_session holds a random token (only its SHA-256 is
 * stored).  A session lives AUTH_SESSION_TTL seconds from login (absolute;
 * no sliding renewal), is deleted at logout, when its user is disabled or
 * deleted, and when the user changes their password (other sessions).
 * Cookie attributes: Path=/; HttpOnly; SameSite=Lax; Max-Age; Secure unless
 * RM_COOKIE_SECURE=false (and even then when a trusted proxy reports https).
 */
#ifndef RM_AUTH_H
#define RM_AUTH_H

#include <stdbool.h>

#include "server/http.h"
#include "server/secrets.h"

struct server;

#define AUTH_SESSION_COOKIE "rm_session"
#define AUTH_CSRF_HEADER "X-CSRF-Token"
#define AUTH_SESSION_TTL (12 * 3600)
/* A login beyond this many live sessions of one user ends the oldest. */
#define AUTH_SESSIONS_PER_USER 50
#define AUTH_SETTING_BOOTSTRAP "bootstrap_token_hash"
/* Login / bootstrap failures allowed per client address and window. */
#define AUTH_LOGIN_MAX_FAILURES 10
#define AUTH_LOGIN_WINDOW 300
#define AUTH_LOGIN_TABLE 4096
/* last_seen_at / last_used_at are written at most this often per credential. */
#define AUTH_TOUCH_GRANULARITY 60

/* Start hook, called after the listener is bound (the base URL is known):
 * creates srv->login_rl and, when the user table is empty, a fresh one-time
 * bootstrap token whose URL is logged (the only place it ever appears).
 * Return 0 or -errno (logged). */
int auth_start(struct server *srv);
/* Stop hook; frees what auth_start() made. */
void auth_stop(struct server *srv);

/* Authenticate c against c->route->access.  Return 0 (c->via, user/role or
 * host_id filled) or -1 after replying 401/403/426. */
int auth_authenticate(struct http_ctx *c);

/* Agent routes (ACCESS_AGENT): resolve the agent bearer token, set
 * c->via = AUTH_VIA_AGENT and c->host_id.  Return 0, or -1 after replying
 * (401 bad token, 426 too old).  Implemented by the agent endpoint module;
 * auth.c carries a weak default that rejects every agent request, so this
 * is the one place where agent authentication plugs in. */
int agentauth_lookup(struct http_ctx *c);

/* Name of a role ("viewer", …) and its parse; -EINVAL for unknown names. */
const char *auth_role_name(enum role r);
int auth_role_parse(const char *s, enum role *out);

/* True when s is a valid username: 1-64 bytes of [A-Za-z0-9._@-]. */
bool auth_username_is_valid(const char *s);

/* Set-Cookie for a new session token / an expired cookie (logout). */
void auth_cookie_set(struct http_ctx *c, const char *token);
void auth_cookie_clear(struct http_ctx *c);

/* The CSRF token of the session c was authenticated with.  Return 0
 * (OUT: out) or -ENOENT (not a session request). */
int auth_session_csrf(struct http_ctx *c, char out[SECRETS_TOKEN_CHARS + 1]);

#endif

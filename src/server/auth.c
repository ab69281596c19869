/*
 * auth.c — request authentication and authorisation (see auth.h).
 * Loop thread only.  The role needed by each route comes from routes.c; this
 * file is the single place where it is enforced:
 *
 *   ACCESS_PUBLIC    nothing checked
 *   ACCESS_AGENT     agentauth_lookup() (agent endpoint module)
 *   ACCESS_VIEWER…   Bearer API token, else the rm_session cookie; disabled
 *                    users are rejected (401); cookie writes need the CSRF
 *                    header (403 csrf_failed); role below the route's → 403.
 *
 * Tokens are looked up by their SHA-256, so a database read never compares
 * secrets byte by byte; the CSRF comparison is constant-time.
 */
#include "server/auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "server/audit.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_users.h"

const char *auth_role_name(enum role r)
{
	switch (r) {
	case ROLE_VIEWER: return "viewer";
	case ROLE_OPERATOR: return "operator";
	case ROLE_ADMIN: return "admin";
	case ROLE_NONE: break;
	}
	return "none";
}

int auth_role_parse(const char *s, enum role *out)
{
	if (!strcmp(s, "viewer"))
		*out = ROLE_VIEWER;
	else if (!strcmp(s, "operator"))
		*out = ROLE_OPERATOR;
	else if (!strcmp(s, "admin"))
		*out = ROLE_ADMIN;
	else
		return -EINVAL;
	return 0;
}

bool auth_username_is_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > STORE_USERNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '@' || ch == '-'))
			return false;
	}
	return true;
}

/* A token as we mint them: exactly SECRETS_TOKEN_CHARS base64url characters. */
static bool token_is_wellformed(const char *s, size_t len)
{
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

/* ---- start / stop ---- */

static int bootstrap_prepare(struct server *srv)
{
	char token[SECRETS_TOKEN_CHARS + 1], hash[SECRETS_HASH_HEX];
	char base[sizeof(srv->cfg.base_url)];
	int64_t n = 0;
	size_t len;
	int r;

	r = store_user_count(srv->store, &n);
	if (r < 0) {
		log_error("cannot count users: %s", strerror(-r));
		return r;
	}
	if (n > 0) {
		store_setting_delete(srv->store, AUTH_SETTING_BOOTSTRAP);
		return 0;
	}
	/* A fresh token on every start while no user exists: the previous one
	 * was only ever printed to an earlier log. */
	secrets_token_new(token);
	secrets_token_hash(token, hash);
	r = store_setting_set(srv->store, AUTH_SETTING_BOOTSTRAP, hash);
	if (r < 0) {
		explicit_bzero(token, sizeof(token));
		log_error("cannot store bootstrap token: %s", strerror(-r));
		return r;
	}
	util_strlcpy(base, srv->cfg.base_url, sizeof(base));
	len = strlen(base);
	while (len > 0 && base[len - 1] == '/')
		base[--len] = '\0';
	log_info("bootstrap: open %s/bootstrap?token=%s to create the first admin", base, token);
	explicit_bzero(token, sizeof(token));
	return 0;
}

int auth_start(struct server *srv)
{
	int r = ratelimit_new(AUTH_LOGIN_TABLE, AUTH_LOGIN_MAX_FAILURES, AUTH_LOGIN_WINDOW, &srv->login_rl);
	if (r < 0) {
		log_error("cannot create login rate limiter: %s", strerror(-r));
		return r;
	}
	r = store_session_purge(srv->store, util_now());
	if (r > 0)
		log_info("removed %d expired sessions", r);
	return bootstrap_prepare(srv);
}

void auth_stop(struct server *srv)
{
	ratelimit_free(srv->login_rl);
	srv->login_rl = NULL;
}

/* ---- cookies ---- */

/* Find the value of cookie name in the Cookie header.  OUT: *val, *len
 * (pointing into the header).  Return true when found. */
static bool cookie_find(struct http_ctx *c, const char *name, const char **val, size_t *len)
{
	const char *h = http_get_header(c, "Cookie");
	size_t nl = strlen(name);

	if (!h)
		return false;
	while (*h) {
		while (*h == ' ' || *h == ';')
			h++;
		size_t seg = strcspn(h, ";");
		if (seg > nl && !strncmp(h, name, nl) && h[nl] == '=') {
			*val = h + nl + 1;
			*len = seg - nl - 1;
			while (*len > 0 && (*val)[*len - 1] == ' ')
				(*len)--;
			return true;
		}
		h += seg;
	}
	return false;
}

/* The session token from the cookie, copied into out.  Return true when well-formed. */
static bool session_token(struct http_ctx *c, char out[SECRETS_TOKEN_CHARS + 1])
{
	const char *v;
	size_t len;

	if (!cookie_find(c, AUTH_SESSION_COOKIE, &v, &len) || !token_is_wellformed(v, len))
		return false;
	memcpy(out, v, len);
	out[len] = '\0';
	return true;
}

static void cookie_write(struct http_ctx *c, const char *value, int max_age)
{
	char buf[256];
	struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);

	snprintf(buf, sizeof(buf), "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Lax%s", AUTH_SESSION_COOKIE, value,
		 max_age, c->srv->cfg.cookie_secure || c->client_https ? "; Secure" : "");
	evhttp_add_header(h, "Set-Cookie", buf);
	explicit_bzero(buf, sizeof(buf));
}

void auth_cookie_set(struct http_ctx *c, const char *token) { cookie_write(c, token, AUTH_SESSION_TTL); }

void auth_cookie_clear(struct http_ctx *c) { cookie_write(c, "", 0); }

int auth_session_csrf(struct http_ctx *c, char out[SECRETS_TOKEN_CHARS + 1])
{
	char tok[SECRETS_TOKEN_CHARS + 1], hash[SECRETS_HASH_HEX];
	struct store_cred cr;
	int r;

	if (c->via != AUTH_VIA_SESSION || !session_token(c, tok))
		return -ENOENT;
	secrets_token_hash(tok, hash);
	explicit_bzero(tok, sizeof(tok));
	r = store_session_lookup(c->srv->store, hash, util_now(), &cr);
	if (r < 0)
		return r;
	util_strlcpy(out, cr.csrf, SECRETS_TOKEN_CHARS + 1);
	explicit_bzero(&cr, sizeof(cr));
	return 0;
}

/* ---- agents ---- */

/* Default until the agent endpoint module provides the real lookup. */
__attribute__((weak)) int agentauth_lookup(struct http_ctx *c)
{
	http_reply_error(c, 401, "unauthenticated", "agent authentication is not available");
	return -1;
}

/* The single call site of agent authentication. */
static int auth_agent_lookup(struct http_ctx *c) { return agentauth_lookup(c); }

/* ---- users ---- */

static enum role route_role(enum access a)
{
	switch (a) {
	case ACCESS_VIEWER: return ROLE_VIEWER;
	case ACCESS_OPERATOR: return ROLE_OPERATOR;
	case ACCESS_ADMIN: return ROLE_ADMIN;
	case ACCESS_PUBLIC:
	case ACCESS_AGENT: break;
	}
	return ROLE_ADMIN; /* unknown: strictest */
}

static bool is_safe_method(enum evhttp_cmd_type m) { return m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD; }

/* Resolve the Bearer token in authz.  Return 0 (OUT: *cr) or -1 after replying. */
static int resolve_bearer(struct http_ctx *c, const char *authz, struct store_cred *cr)
{
	char hash[SECRETS_HASH_HEX];
	const char *tok;
	int r;

	if (strncasecmp(authz, "Bearer ", 7) != 0) {
		http_reply_error(c, 401, "unauthenticated", "unsupported authorization scheme (use Bearer)");
		return -1;
	}
	tok = authz + 7;
	while (*tok == ' ')
		tok++;
	if (!token_is_wellformed(tok, strlen(tok))) {
		http_reply_error(c, 401, "invalid_token", "invalid or revoked API token");
		return -1;
	}
	secrets_token_hash(tok, hash);
	r = store_apitoken_lookup(c->srv->store, hash, cr);
	if (r == -ENOENT) {
		http_reply_error(c, 401, "invalid_token", "invalid or revoked API token");
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot check credentials now");
		return -1;
	}
	c->via = AUTH_VIA_TOKEN;
	return 0;
}

/* Resolve the session cookie.  Return 0 (OUT: *cr) or -1 after replying. */
static int resolve_session(struct http_ctx *c, struct store_cred *cr)
{
	char tok[SECRETS_TOKEN_CHARS + 1], hash[SECRETS_HASH_HEX];
	int r;

	if (!session_token(c, tok)) {
		http_reply_error(c, 401, "unauthenticated", "authentication required");
		return -1;
	}
	secrets_token_hash(tok, hash);
	explicit_bzero(tok, sizeof(tok));
	r = store_session_lookup(c->srv->store, hash, util_now(), cr);
	if (r == -ENOENT) {
		http_reply_error(c, 401, "session_expired", "session expired or invalid; log in again");
		return -1;
	}
	if (r < 0) {
		http_reply_error(c, 503, "unavailable", "cannot check credentials now");
		return -1;
	}
	c->via = AUTH_VIA_SESSION;
	return 0;
}

int auth_authenticate(struct http_ctx *c)
{
	struct store_cred cr;
	const char *authz, *csrf;
	enum role role;
	int64_t now = util_now();

	switch (c->route->access) {
	case ACCESS_PUBLIC:
		return 0;
	case ACCESS_AGENT:
		return auth_agent_lookup(c);
	case ACCESS_VIEWER:
	case ACCESS_OPERATOR:
	case ACCESS_ADMIN:
		break;
	}

	authz = http_get_header(c, "Authorization");
	if (authz ? resolve_bearer(c, authz, &cr) < 0 : resolve_session(c, &cr) < 0)
		return -1;
	if (cr.disabled) {
		explicit_bzero(&cr, sizeof(cr));
		c->via = AUTH_VIA_NONE;
		http_reply_error(c, 401, "account_disabled", "this account is disabled");
		return -1;
	}
	if (auth_role_parse(cr.role, &role) < 0)
		role = ROLE_NONE;
	c->user_id = cr.user_id;
	c->token_id = cr.cred_id;
	c->role = role;
	util_strlcpy(c->username, cr.username, sizeof(c->username));

	if (c->via == AUTH_VIA_SESSION && !is_safe_method(c->method) && !(c->route->flags & ROUTE_NO_CSRF)) {
		csrf = http_get_header(c, AUTH_CSRF_HEADER);
		if (!csrf || !secrets_equal(csrf, cr.csrf)) {
			explicit_bzero(&cr, sizeof(cr));
			audit_log(c->srv, c, "auth.csrf", c->path, "denied", NULL);
			http_reply_error(c, 403, "csrf_failed", "missing or wrong " AUTH_CSRF_HEADER " header");
			return -1;
		}
	}
	explicit_bzero(cr.csrf, sizeof(cr.csrf));
	if (role < route_role(c->route->access)) {
		audit_log(c->srv, c, "auth.forbidden", c->path, "denied",
			  json_pack("{s:s}", "required", auth_role_name(route_role(c->route->access))));
		http_reply_error(c, 403, "forbidden", "this needs the %s role",
				 auth_role_name(route_role(c->route->access)));
		return -1;
	}
	/* Activity stamps, written at most once a minute per credential. */
	if (c->via == AUTH_VIA_SESSION && now - cr.last_seen_at >= AUTH_TOUCH_GRANULARITY)
		store_session_touch(c->srv->store, cr.cred_id, now);
	else if (c->via == AUTH_VIA_TOKEN)
		store_apitoken_touch(c->srv->store, cr.cred_id, now, AUTH_TOUCH_GRANULARITY);
	return 0;
}

/*
 * api_auth.c — /api/v1/bootstrap, /api/v1/auth/{login,logout,me,password}.
 * Loop thread; argon2id work goes to the worker pool through authpw.c and
 * the reply is sent from its done() callback.
 *
 * Invariants: a wrong username and a wrong password give the same answer
 * (401 invalid_credentials) after the same amount of argon2id work; every
 * attempt counts against the client address in srv->login_rl before the
 * work starts (a success is refunded), so parallel guesses cannot overrun
 * the limit; nothing secret reaches a log line, an audit record or an error
 * body.
 */
#include "server/api_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "server/api_users.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/authpw.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_users.h"

/* Usernames longer than this are rejected outright; up to it a login with an
 * impossible name still costs a full verification (same answer as a wrong password). */
#define LOGIN_USERNAME_MAX 256

static void target_user(char buf[32], int64_t id) { snprintf(buf, 32, "user:%lld", (long long)id); }

/* The username as it may appear in audit details: only when well-formed. */
static json_t *audit_username(const char *name)
{
	return json_pack("{s:s}", "username", auth_username_is_valid(name) ? name : "(invalid)");
}

/* 429 with Retry-After when the client address is over its failure budget. */
static bool rate_limited(struct http_ctx *c, const char *action, const char *username)
{
	int64_t wait = ratelimit_check(c->srv->login_rl, c->client_addr, util_now());
	char ra[24];
	json_t *d;

	if (wait <= 0)
		return false;
	d = username ? audit_username(username) : json_object();
	if (d)
		json_object_set_new(d, "reason", json_string("rate_limited"));
	audit_log(c->srv, c, action, NULL, "denied", d);
	snprintf(ra, sizeof(ra), "%lld", (long long)wait);
	http_set_header(c, "Retry-After", ra);
	http_reply_error(c, 429, "rate_limited", "too many failed attempts; try again in %lld seconds", (long long)wait);
	return true;
}

static void reply_submit_error(struct http_ctx *c, int r)
{
	if (r == -EBUSY)
		http_reply_error(c, 503, "busy", "server is busy; try again");
	else
		http_reply_error(c, 503, "unavailable", "cannot process the request now");
}

static void set_actor(struct http_ctx *c, const struct store_user *u)
{
	c->user_id = u->id;
	util_strlcpy(c->username, u->username, sizeof(c->username));
	if (auth_role_parse(u->role, &c->role) < 0)
		c->role = ROLE_NONE;
}

static json_t *user_brief(const struct store_user *u)
{
	return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)u->id, "username", u->username, "role", u->role);
}

/* ---- bootstrap ---- */

struct bootstrap_state {
	char username[STORE_USERNAME_MAX + 1];
};

void api_bootstrap_status(struct http_ctx *c)
{
	int64_t n = 0;
	if (store_user_count(c->srv->store, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	http_reply_json(c, 200, json_pack("{s:b}", "bootstrapped", n > 0));
}

static void bootstrap_done(struct authpw *pw)
{
	struct http_ctx *c = pw->c;
	struct bootstrap_state *bs = pw->arg;
	struct store *st = c->srv->store;
	struct store_user u;
	int64_t n = 0, id = 0, now = util_now();
	char target[32];
	int r;

	if (pw->hash_rc < 0) {
		free(bs);
		http_reply_error(c, 503, "unavailable", "cannot hash the password now");
		return;
	}
	if (store_begin(st) < 0) {
		store_rollback(st);
		free(bs);
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	/* Re-check inside the transaction: two bootstrap requests may race. */
	if (store_user_count(st, &n) < 0 || n > 0) {
		store_rollback(st);
		free(bs);
		if (n > 0)
			http_reply_error(c, 409, "already_bootstrapped", "the first admin already exists");
		else
			http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	r = store_user_insert(st, bs->username, pw->new_hash, "admin", now, &id);
	if (r == 0)
		r = store_setting_delete(st, AUTH_SETTING_BOOTSTRAP);
	if (r < 0) {
		store_rollback(st);
		free(bs);
		http_reply_error(c, 503, "unavailable", "cannot create the user now");
		return;
	}
	if (store_commit(st) < 0 || store_user_get(st, id, &u) < 0) {
		free(bs);
		http_reply_error(c, 503, "unavailable", "cannot create the user now");
		return;
	}
	free(bs);
	set_actor(c, &u);
	target_user(target, id);
	audit_log(c->srv, c, "user.bootstrap", target, "ok", json_pack("{s:s,s:s}", "username", u.username, "role", "admin"));
	log_info("bootstrap: first admin '%s' created", u.username);
	http_reply_json(c, 201, json_pack("{s:o}", "user", api_user_json(&u)));
}

void api_bootstrap(struct http_ctx *c)
{
	json_t *body;
	const char *token, *username, *password;
	char hash[SECRETS_HASH_HEX];
	char *stored = NULL;
	int64_t n = 0;
	struct bootstrap_state *bs;
	struct authpw *pw;
	int r;

	if (store_user_count(c->srv->store, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	if (n > 0) {
		http_reply_error(c, 409, "already_bootstrapped", "the first admin already exists");
		return;
	}
	if (!(body = http_body_object(c)) || http_json_str(c, body, "token", 1, 256, true, &token) < 0 ||
	    http_json_str(c, body, "username", 1, 1024, true, &username) < 0 ||
	    http_json_str(c, body, "password", 1, SECRETS_PASSWORD_MAX, true, &password) < 0)
		return;
	if (rate_limited(c, "user.bootstrap", NULL))
		return;
	secrets_token_hash(token, hash);
	r = store_setting_get(c->srv->store, AUTH_SETTING_BOOTSTRAP, &stored);
	if (r < 0 || !secrets_equal(hash, stored)) {
		free(stored);
		ratelimit_hit(c->srv->login_rl, c->client_addr, util_now());
		audit_log(c->srv, c, "user.bootstrap", NULL, "failed", json_pack("{s:s}", "reason", "invalid_token"));
		http_reply_error(c, 403, "invalid_token", "invalid or already used bootstrap token");
		return;
	}
	free(stored);
	if (!auth_username_is_valid(username)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
				 "field 'username' must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -");
		return;
	}
	if (strlen(password) < SECRETS_PASSWORD_MIN) {
		http_reply_error(c, 400, "weak_password", "the password must be at least %d characters",
				 SECRETS_PASSWORD_MIN);
		return;
	}
	bs = calloc(1, sizeof(*bs));
	pw = bs ? authpw_new(c, bootstrap_done, bs) : NULL;
	if (!pw || authpw_hash(pw, password) < 0) {
		authpw_free(pw);
		free(bs);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	util_strlcpy(bs->username, username, sizeof(bs->username));
	r = authpw_submit(pw);
	if (r < 0) {
		free(bs);
		reply_submit_error(c, r);
	}
}

/* ---- login ---- */

struct login_state {
	char username[LOGIN_USERNAME_MAX + 1];
	int64_t user_id; /* 0 = unknown user */
};

static void login_failed(struct http_ctx *c, const char *username)
{
	audit_log(c->srv, c, "user.login", NULL, "failed", audit_username(username));
	http_reply_error(c, 401, "invalid_credentials", "wrong username or password");
}

static void login_done(struct authpw *pw)
{
	struct http_ctx *c = pw->c;
	struct login_state *ls = pw->arg;
	struct store *st = c->srv->store;
	struct store_user u;
	char token[SECRETS_TOKEN_CHARS + 1], csrf[SECRETS_TOKEN_CHARS + 1], hash[SECRETS_HASH_HEX];
	char target[32];
	int64_t now = util_now(), sid = 0;
	json_t *res;

	/* The user may have been deleted while the hash ran. */
	if (!pw->verified || !ls->user_id || store_user_get(st, ls->user_id, &u) < 0) {
		login_failed(c, ls->username);
		free(ls);
		return;
	}
	free(ls);
	ratelimit_refund(c->srv->login_rl, c->client_addr, now);
	target_user(target, u.id);
	if (u.disabled) {
		audit_log(c->srv, c, "user.login", target, "denied", json_pack("{s:s}", "reason", "disabled"));
		http_reply_error(c, 403, "account_disabled", "this account is disabled");
		return;
	}
	store_session_purge(st, now);
	secrets_token_new(token);
	secrets_token_new(csrf);
	secrets_token_hash(token, hash);
	if (store_session_insert(st, hash, csrf, u.id, now, now + AUTH_SESSION_TTL, c->client_addr, &sid) < 0) {
		explicit_bzero(token, sizeof(token));
		http_reply_error(c, 503, "unavailable", "cannot create a session now");
		return;
	}
	store_session_trim_user(st, u.id, AUTH_SESSIONS_PER_USER);
	store_user_set_last_login(st, u.id, now);
	set_actor(c, &u);
	c->via = AUTH_VIA_SESSION;
	c->token_id = sid;
	audit_log(c->srv, c, "user.login", target, "ok", NULL);
	auth_cookie_set(c, token);
	explicit_bzero(token, sizeof(token));
	res = json_pack("{s:s,s:o,s:I}", "csrf_token", csrf, "user", user_brief(&u), "expires_in",
			(json_int_t)AUTH_SESSION_TTL);
	explicit_bzero(csrf, sizeof(csrf));
	http_reply_json(c, 200, res);
}

void api_auth_login(struct http_ctx *c)
{
	json_t *body;
	const char *username, *password;
	struct store_user u;
	struct login_state *ls;
	struct authpw *pw;
	bool known = false;
	int r;

	if (!(body = http_body_object(c)) ||
	    http_json_str(c, body, "username", 1, LOGIN_USERNAME_MAX, true, &username) < 0 ||
	    http_json_str(c, body, "password", 1, SECRETS_PASSWORD_MAX, true, &password) < 0)
		return;
	if (rate_limited(c, "user.login", username))
		return;
	if (auth_username_is_valid(username)) {
		r = store_user_get_by_name(c->srv->store, username, &u);
		if (r < 0 && r != -ENOENT) {
			http_reply_error(c, 503, "unavailable", "database does not answer");
			return;
		}
		known = r == 0;
	}
	ls = calloc(1, sizeof(*ls));
	pw = ls ? authpw_new(c, login_done, ls) : NULL;
	if (!pw || authpw_verify(pw, known ? u.password_hash : NULL, password) < 0) {
		authpw_free(pw);
		free(ls);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	util_strlcpy(ls->username, username, sizeof(ls->username));
	ls->user_id = known ? u.id : 0;
	explicit_bzero(u.password_hash, sizeof(u.password_hash));
	ratelimit_hit(c->srv->login_rl, c->client_addr, util_now());
	r = authpw_submit(pw);
	if (r < 0) {
		ratelimit_refund(c->srv->login_rl, c->client_addr, util_now());
		free(ls);
		reply_submit_error(c, r);
	}
}

/* ---- logout, me ---- */

void api_auth_logout(struct http_ctx *c)
{
	char target[32];

	target_user(target, c->user_id);
	if (c->via == AUTH_VIA_SESSION) {
		store_session_delete(c->srv->store, c->token_id);
		audit_log(c->srv, c, "user.logout", target, "ok", NULL);
		auth_cookie_clear(c);
	}
	http_reply_empty(c, 204);
}

void api_auth_me(struct http_ctx *c)
{
	struct store_user u;
	char csrf[SECRETS_TOKEN_CHARS + 1];
	json_t *res;

	if (store_user_get(c->srv->store, c->user_id, &u) < 0) {
		http_reply_error(c, 401, "unauthenticated", "authentication required");
		return;
	}
	res = json_pack("{s:o,s:s}", "user", user_brief(&u), "via", c->via == AUTH_VIA_SESSION ? "session" : "token");
	if (res && auth_session_csrf(c, csrf) == 0) {
		json_object_set_new(res, "csrf_token", json_string(csrf));
		explicit_bzero(csrf, sizeof(csrf));
	}
	http_reply_json(c, 200, res);
}

/* ---- own password ---- */

static void password_done(struct authpw *pw)
{
	struct http_ctx *c = pw->c;
	struct store *st = c->srv->store;
	char target[32];
	int64_t now = util_now();

	target_user(target, c->user_id);
	if (!pw->verified) {
		ratelimit_hit(c->srv->login_rl, c->client_addr, now);
		audit_log(c->srv, c, "user.password", target, "failed", json_pack("{s:s}", "reason", "wrong_password"));
		http_reply_error(c, 403, "invalid_credentials", "the current password is wrong");
		return;
	}
	if (pw->hash_rc < 0) {
		http_reply_error(c, 503, "unavailable", "cannot hash the password now");
		return;
	}
	if (store_begin(st) < 0 || store_user_update(st, c->user_id, NULL, -1, pw->new_hash, now) < 0 ||
	    store_session_delete_user(st, c->user_id, c->via == AUTH_VIA_SESSION ? c->token_id : 0) < 0 ||
	    store_commit(st) < 0) {
		store_rollback(st);
		http_reply_error(c, 503, "unavailable", "cannot change the password now");
		return;
	}
	audit_log(c->srv, c, "user.password", target, "ok", NULL);
	http_reply_empty(c, 204);
}

void api_auth_password(struct http_ctx *c)
{
	json_t *body;
	const char *cur, *neu;
	struct store_user u;
	struct authpw *pw;
	int r;

	if (!(body = http_body_object(c)) ||
	    http_json_str(c, body, "current_password", 1, SECRETS_PASSWORD_MAX, true, &cur) < 0 ||
	    http_json_str(c, body, "new_password", 1, SECRETS_PASSWORD_MAX, true, &neu) < 0)
		return;
	if (strlen(neu) < SECRETS_PASSWORD_MIN) {
		http_reply_error(c, 400, "weak_password", "the password must be at least %d characters",
				 SECRETS_PASSWORD_MIN);
		return;
	}
	if (rate_limited(c, "user.password", NULL))
		return;
	if (store_user_get(c->srv->store, c->user_id, &u) < 0) {
		http_reply_error(c, 401, "unauthenticated", "authentication required");
		return;
	}
	pw = authpw_new(c, password_done, NULL);
	if (!pw || authpw_verify(pw, u.password_hash, cur) < 0 || authpw_hash(pw, neu) < 0) {
		authpw_free(pw);
		explicit_bzero(u.password_hash, sizeof(u.password_hash));
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	explicit_bzero(u.password_hash, sizeof(u.password_hash));
	r = authpw_submit(pw);
	if (r < 0)
		reply_submit_error(c, r);
}

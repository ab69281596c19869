/*
 * api_users.c — user administration: list, create, update (role, disabled,
 * password reset), delete.  Admin role (enforced by the route table).
 * Loop thread; password hashing runs on the worker pool (authpw.c).
 *
 * Invariant: at least one enabled admin always exists once bootstrapped —
 * every change that would demote, disable or delete the last one is refused
 * with 409 last_admin, checked inside the same transaction as the change.
 * Disabling or deleting a user ends their sessions and revokes their API
 * tokens; an admin password reset ends the user's sessions.
 */
#include "server/api_users.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/authpw.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_users.h"

#define LIST_DEFAULT 100
#define LIST_MAX 500

static json_t *time_json(int64_t t)
{
	char buf[32];
	if (t <= 0)
		return json_null();
	util_time_rfc3339(t, buf);
	return json_string(buf);
}

json_t *api_user_json(const struct store_user *u)
{
	return json_pack("{s:I,s:s,s:s,s:b,s:o,s:o,s:o}", "id", (json_int_t)u->id, "username", u->username, "role",
			 u->role, "disabled", u->disabled, "created_at", time_json(u->created_at), "updated_at",
			 time_json(u->updated_at), "last_login_at", time_json(u->last_login_at));
}

static void target_user(char buf[32], int64_t id) { snprintf(buf, 32, "user:%lld", (long long)id); }

static bool is_active_admin(const char *role, bool disabled) { return !strcmp(role, "admin") && !disabled; }

/* ---- list ---- */

void api_users_list(struct http_ctx *c)
{
	int64_t limit, cursor;
	struct store_user *arr = NULL;
	size_t n = 0;
	json_t *items, *next = json_null();
	char buf[24];

	if (http_query_int(c, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit) < 0 ||
	    http_query_int(c, "cursor", 0, INT64_MAX, 0, &cursor) < 0)
		return;
	if (store_user_list(c->srv->store, cursor, (int)limit + 1, &arr, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(items, api_user_json(&arr[i]));
	if (n > (size_t)limit) {
		snprintf(buf, sizeof(buf), "%lld", (long long)arr[limit - 1].id);
		next = json_string(buf);
	}
	free(arr);
	http_reply_json(c, 200, json_pack("{s:o,s:o}", "items", items, "next", next));
}

/* ---- create ---- */

struct create_state {
	char username[STORE_USERNAME_MAX + 1];
	char role[STORE_ROLE_MAX];
};

static void create_done(struct authpw *pw)
{
	struct http_ctx *c = pw->c;
	struct create_state *cs = pw->arg;
	struct store_user u;
	int64_t id = 0;
	char target[32];
	int r;

	if (pw->hash_rc < 0) {
		free(cs);
		http_reply_error(c, 503, "unavailable", "cannot hash the password now");
		return;
	}
	r = store_user_insert(c->srv->store, cs->username, pw->new_hash, cs->role, util_now(), &id);
	if (r == -EEXIST) {
		free(cs);
		http_reply_error(c, 409, "username_taken", "a user with this name already exists");
		return;
	}
	if (r < 0 || store_user_get(c->srv->store, id, &u) < 0) {
		free(cs);
		http_reply_error(c, 503, "unavailable", "cannot create the user now");
		return;
	}
	free(cs);
	target_user(target, id);
	audit_log(c->srv, c, "user.create", target, "ok",
		  json_pack("{s:s,s:s}", "username", u.username, "role", u.role));
	http_reply_json(c, 201, api_user_json(&u));
}

void api_users_create(struct http_ctx *c)
{
	json_t *body;
	const char *username, *password, *role;
	enum role rv;
	struct store_user u;
	struct create_state *cs;
	struct authpw *pw;
	int r;

	if (!(body = http_body_object(c)) || http_json_str(c, body, "username", 1, 1024, true, &username) < 0 ||
	    http_json_str(c, body, "password", 1, SECRETS_PASSWORD_MAX, true, &password) < 0 ||
	    http_json_str(c, body, "role", 1, 32, true, &role) < 0)
		return;
	if (!auth_username_is_valid(username)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
				 "field 'username' must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -");
		return;
	}
	if (auth_role_parse(role, &rv) < 0) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'role' must be viewer, operator or admin");
		return;
	}
	if (strlen(password) < SECRETS_PASSWORD_MIN) {
		http_reply_error(c, 400, "weak_password", "the password must be at least %d characters",
				 SECRETS_PASSWORD_MIN);
		return;
	}
	r = store_user_get_by_name(c->srv->store, username, &u);
	if (r == 0) {
		http_reply_error(c, 409, "username_taken", "a user with this name already exists");
		return;
	}
	if (r != -ENOENT) {
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	cs = calloc(1, sizeof(*cs));
	pw = cs ? authpw_new(c, create_done, cs) : NULL;
	if (!pw || authpw_hash(pw, password) < 0) {
		authpw_free(pw);
		free(cs);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	util_strlcpy(cs->username, username, sizeof(cs->username));
	util_strlcpy(cs->role, auth_role_name(rv), sizeof(cs->role));
	r = authpw_submit(pw);
	if (r < 0) {
		free(cs);
		http_reply_error(c, 503, "busy", "server is busy; try again");
	}
}

/* ---- update ---- */

struct update_state {
	int64_t id;
	char role[STORE_ROLE_MAX]; /* "" = unchanged */
	int disabled;              /* -1 unchanged, 0, 1 */
};

/* Apply an update (hash: new password hash or NULL) and reply. */
static void update_apply(struct http_ctx *c, const struct update_state *us, const char *hash)
{
	struct store *st = c->srv->store;
	struct store_user u;
	int64_t admins = 0, now = util_now();
	const char *new_role;
	bool new_disabled;
	char target[32];
	json_t *d;
	int r;

	target_user(target, us->id);
	if (store_begin(st) < 0) {
		store_rollback(st);
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	r = store_user_get(st, us->id, &u);
	if (r < 0) {
		store_rollback(st);
		if (r == -ENOENT)
			http_reply_error(c, 404, "not_found", "no such user");
		else
			http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	new_role = us->role[0] ? us->role : u.role;
	new_disabled = us->disabled < 0 ? u.disabled : us->disabled == 1;
	if (is_active_admin(u.role, u.disabled) && !is_active_admin(new_role, new_disabled)) {
		if (store_user_count_active_admins(st, &admins) < 0 || admins <= 1) {
			store_rollback(st);
			audit_log(c->srv, c, "user.update", target, "denied", json_pack("{s:s}", "reason", "last_admin"));
			http_reply_error(c, 409, "last_admin", "the last enabled admin cannot be demoted or disabled");
			return;
		}
	}
	r = store_user_update(st, us->id, us->role[0] ? us->role : NULL, us->disabled, hash, now);
	if (r == 0 && new_disabled && !u.disabled) {
		r = store_session_delete_user(st, us->id, 0);
		if (r == 0)
			r = store_apitoken_revoke_user(st, us->id, now) < 0 ? -EIO : 0;
	}
	if (r == 0 && hash)
		r = store_session_delete_user(st, us->id, us->id == c->user_id && c->via == AUTH_VIA_SESSION ? c->token_id : 0);
	if (r < 0 || store_commit(st) < 0) {
		store_rollback(st);
		http_reply_error(c, 503, "unavailable", "cannot update the user now");
		return;
	}
	if (store_user_get(st, us->id, &u) < 0) {
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	d = json_object();
	if (us->role[0])
		json_object_set_new(d, "role", json_string(us->role));
	if (us->disabled >= 0)
		json_object_set_new(d, "disabled", json_boolean(us->disabled == 1));
	if (hash)
		json_object_set_new(d, "password_reset", json_true());
	audit_log(c->srv, c, "user.update", target, "ok", d);
	explicit_bzero(u.password_hash, sizeof(u.password_hash));
	http_reply_json(c, 200, api_user_json(&u));
}

static void update_done(struct authpw *pw)
{
	struct update_state *us = pw->arg;
	if (pw->hash_rc < 0)
		http_reply_error(pw->c, 503, "unavailable", "cannot hash the password now");
	else
		update_apply(pw->c, us, pw->new_hash);
	free(us);
}

void api_users_update(struct http_ctx *c)
{
	json_t *body;
	const char *role, *password;
	bool disabled = false;
	enum role rv;
	struct update_state us = {.disabled = -1};
	struct update_state *heap;
	struct store_user u;
	struct authpw *pw;
	int r;

	if (http_param_id(c, 0, &us.id) < 0 || !(body = http_body_object(c)) ||
	    http_json_str(c, body, "role", 1, 32, false, &role) < 0 ||
	    http_json_bool(c, body, "disabled", false, false, &disabled) < 0 ||
	    http_json_str(c, body, "password", 1, SECRETS_PASSWORD_MAX, false, &password) < 0)
		return;
	if (role) {
		if (auth_role_parse(role, &rv) < 0) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'role' must be viewer, operator or admin");
			return;
		}
		util_strlcpy(us.role, auth_role_name(rv), sizeof(us.role));
	}
	if (json_is_boolean(json_object_get(body, "disabled")))
		us.disabled = disabled ? 1 : 0;
	if (password && strlen(password) < SECRETS_PASSWORD_MIN) {
		http_reply_error(c, 400, "weak_password", "the password must be at least %d characters",
				 SECRETS_PASSWORD_MIN);
		return;
	}
	r = store_user_get(c->srv->store, us.id, &u);
	if (r < 0) {
		if (r == -ENOENT)
			http_reply_error(c, 404, "not_found", "no such user");
		else
			http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	explicit_bzero(u.password_hash, sizeof(u.password_hash));
	if (!password) {
		update_apply(c, &us, NULL);
		return;
	}
	heap = malloc(sizeof(*heap));
	pw = heap ? authpw_new(c, update_done, heap) : NULL;
	if (!pw || authpw_hash(pw, password) < 0) {
		authpw_free(pw);
		free(heap);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	*heap = us;
	r = authpw_submit(pw);
	if (r < 0) {
		free(heap);
		http_reply_error(c, 503, "busy", "server is busy; try again");
	}
}

/* ---- delete ---- */

void api_users_delete(struct http_ctx *c)
{
	struct store *st = c->srv->store;
	struct store_user u;
	int64_t id, admins = 0;
	char target[32];
	int r;

	if (http_param_id(c, 0, &id) < 0)
		return;
	target_user(target, id);
	if (store_begin(st) < 0) {
		store_rollback(st);
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	r = store_user_get(st, id, &u);
	if (r < 0) {
		store_rollback(st);
		if (r == -ENOENT)
			http_reply_error(c, 404, "not_found", "no such user");
		else
			http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	if (is_active_admin(u.role, u.disabled) && (store_user_count_active_admins(st, &admins) < 0 || admins <= 1)) {
		store_rollback(st);
		audit_log(c->srv, c, "user.delete", target, "denied", json_pack("{s:s}", "reason", "last_admin"));
		http_reply_error(c, 409, "last_admin", "the last enabled admin cannot be deleted");
		return;
	}
	/* Sessions and tokens go with the user (ON DELETE CASCADE). */
	if (store_user_delete(st, id) < 0 || store_commit(st) < 0) {
		store_rollback(st);
		http_reply_error(c, 503, "unavailable", "cannot delete the user now");
		return;
	}
	audit_log(c->srv, c, "user.delete", target, "ok", json_pack("{s:s}", "username", u.username));
	http_reply_empty(c, 204);
}

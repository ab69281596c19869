/*
 * api_tokens.c — personal API tokens for scripts: create (the token is in
 * the 201 answer and nowhere else, ever; only its SHA-256 is stored), list
 * (never the token), revoke.  Any logged-in user manages their own tokens;
 * admins may list (?all=true) and revoke everyone's.  A token acts with its
 * owner's current role.  Loop thread.
 */
#include "server/api_tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/store_users.h"

#define LIST_DEFAULT 100
#define LIST_MAX 500
#define TOKENS_PER_USER 100

static json_t *time_json(int64_t t)
{
	char buf[32];
	if (t <= 0)
		return json_null();
	util_time_rfc3339(t, buf);
	return json_string(buf);
}

static void target_token(char buf[32], int64_t id) { snprintf(buf, 32, "token:%lld", (long long)id); }

static json_t *token_json(const struct store_apitoken *t)
{
	return json_pack("{s:I,s:s,s:I,s:s,s:o,s:o}", "id", (json_int_t)t->id, "name", t->name, "user_id",
			 (json_int_t)t->user_id, "username", t->username, "created_at", time_json(t->created_at),
			 "last_used_at", time_json(t->last_used_at));
}

/* Printable names only: no control characters. */
static bool name_is_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

void api_tokens_list(struct http_ctx *c)
{
	int64_t limit, cursor;
	struct store_apitoken *arr = NULL;
	size_t n = 0;
	json_t *items, *next = json_null();
	const char *all = http_query(c, "all");
	bool everyone = all && (!strcmp(all, "true") || !strcmp(all, "1"));
	char buf[24];

	if (http_query_int(c, "limit", 1, LIST_MAX, LIST_DEFAULT, &limit) < 0 ||
	    http_query_int(c, "cursor", 0, INT64_MAX, 0, &cursor) < 0)
		return;
	if (everyone && c->role < ROLE_ADMIN) {
		http_reply_error(c, 403, "forbidden", "listing every user's tokens needs the admin role");
		return;
	}
	if (store_apitoken_list(c->srv->store, everyone ? 0 : c->user_id, cursor, (int)limit + 1, &arr, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append_new(items, token_json(&arr[i]));
	if (n > (size_t)limit) {
		snprintf(buf, sizeof(buf), "%lld", (long long)arr[limit - 1].id);
		next = json_string(buf);
	}
	free(arr);
	http_reply_json(c, 200, json_pack("{s:o,s:o}", "items", items, "next", next));
}

void api_tokens_create(struct http_ctx *c)
{
	json_t *body, *res;
	const char *name;
	char token[SECRETS_TOKEN_CHARS + 1], hash[SECRETS_HASH_HEX], target[32];
	int64_t n = 0, id = 0, now = util_now();
	struct store_apitoken t;

	if (!(body = http_body_object(c)) || http_json_str(c, body, "name", 1, STORE_TOKEN_NAME_MAX, true, &name) < 0)
		return;
	if (!name_is_valid(name)) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'name' must not contain control characters");
		return;
	}
	if (store_apitoken_count_active(c->srv->store, c->user_id, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "database does not answer");
		return;
	}
	if (n >= TOKENS_PER_USER) {
		http_reply_error(c, 409, "too_many_tokens", "at most %d active tokens per user; revoke some first",
				 TOKENS_PER_USER);
		return;
	}
	secrets_token_new(token);
	secrets_token_hash(token, hash);
	if (store_apitoken_insert(c->srv->store, c->user_id, name, hash, now, &id) < 0 ||
	    store_apitoken_get(c->srv->store, id, &t) < 0) {
		explicit_bzero(token, sizeof(token));
		http_reply_error(c, 503, "unavailable", "cannot create the token now");
		return;
	}
	target_token(target, id);
	audit_log(c->srv, c, "token.create", target, "ok", json_pack("{s:s}", "name", name));
	res = token_json(&t);
	if (res)
		json_object_set_new(res, "token", json_string(token));
	explicit_bzero(token, sizeof(token));
	http_reply_json(c, 201, res);
}

void api_tokens_delete(struct http_ctx *c)
{
	struct store_apitoken t;
	int64_t id;
	char target[32];
	int r;

	if (http_param_id(c, 0, &id) < 0)
		return;
	r = store_apitoken_get(c->srv->store, id, &t);
	/* Someone else's token looks exactly like a missing one to non-admins. */
	if (r == -ENOENT || (r == 0 && t.user_id != c->user_id && c->role < ROLE_ADMIN)) {
		http_reply_error(c, 404, "not_found", "no such token");
		return;
	}
	if (r < 0 || store_apitoken_revoke(c->srv->store, id, util_now()) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot revoke the token now");
		return;
	}
	target_token(target, id);
	audit_log(c->srv, c, "token.revoke", target, "ok",
		  json_pack("{s:s,s:I}", "name", t.name, "owner_id", (json_int_t)t.user_id));
	http_reply_empty(c, 204);
}

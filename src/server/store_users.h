/*
 * store_users.h — users, browser sessions, personal API tokens and the
 * settings table (key/value, e.g. the bootstrap token hash).  All SQL for
 * these tables lives in store_users.c.  Loop thread only.
 *
 * Invariants: tokens and session ids are never stored, only their SHA-256
 * hex (secrets_token_hash); a revoked API token keeps its row (revoked_at
 * set) so the audit trail can still name it; deleting a user cascades to
 * its sessions and tokens.  Times are seconds since the epoch.
 */
#ifndef RM_STORE_USERS_H
#define RM_STORE_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/secrets.h"

struct store;

#define STORE_USERNAME_MAX 64
#define STORE_TOKEN_NAME_MAX 64
#define STORE_ROLE_MAX 16

struct store_user {
	int64_t id;
	char username[STORE_USERNAME_MAX + 1];
	char password_hash[SECRETS_PWHASH_MAX];
	char role[STORE_ROLE_MAX]; /* "viewer" | "operator" | "admin" */
	bool disabled;
	int64_t created_at;
	int64_t updated_at;
	int64_t last_login_at; /* 0 = never */
};

/* What a credential (session cookie or API token) resolves to. */
struct store_cred {
	int64_t cred_id; /* session or api_tokens row id */
	int64_t user_id;
	char username[STORE_USERNAME_MAX + 1];
	char role[STORE_ROLE_MAX];
	bool disabled;
	char csrf[SECRETS_TOKEN_CHARS + 1]; /* sessions only */
	int64_t expires_at;                 /* sessions only */
	int64_t last_seen_at;               /* last_seen_at / last_used_at, 0 = never */
};

struct store_apitoken {
	int64_t id;
	int64_t user_id;
	char username[STORE_USERNAME_MAX + 1];
	char name[STORE_TOKEN_NAME_MAX + 1];
	int64_t created_at;
	int64_t last_used_at; /* 0 = never */
};

/* ---- users ---- */

/* OUT: *n.  Return 0 or -EIO. */
int store_user_count(struct store *st, int64_t *n);
/* Number of users with role admin and not disabled.  OUT: *n. */
int store_user_count_active_admins(struct store *st, int64_t *n);
/* Return 0 (OUT: *u) or -ENOENT / -EIO.  Name lookup is case-insensitive. */
int store_user_get(struct store *st, int64_t id, struct store_user *u);
int store_user_get_by_name(struct store *st, const char *username, struct store_user *u);
/* Insert a user.  Return 0 (OUT: *id) or -EEXIST (name taken) / -EIO. */
int store_user_insert(struct store *st, const char *username, const char *password_hash, const char *role,
		      int64_t now, int64_t *id);
/* Set fields; NULL / negative means "leave unchanged" (disabled: -1 keep, 0, 1).
 * Return 0, -ENOENT or -EIO. */
int store_user_update(struct store *st, int64_t id, const char *role, int disabled, const char *password_hash,
		      int64_t now);
int store_user_set_last_login(struct store *st, int64_t id, int64_t now);
/* Return 0, -ENOENT or -EIO. */
int store_user_delete(struct store *st, int64_t id);
/* Users with id > after, ordered by id, at most limit.  OUT: *out (malloc'd
 * array, caller frees; password_hash is left empty), *n. */
int store_user_list(struct store *st, int64_t after, int limit, struct store_user **out, size_t *n);

/* ---- sessions ---- */

int store_session_insert(struct store *st, const char *token_hash, const char *csrf, int64_t user_id, int64_t now,
			 int64_t expires_at, const char *client_addr, int64_t *id);
/* Resolve an unexpired session by token hash.  Return 0 (OUT: *cr) or -ENOENT. */
int store_session_lookup(struct store *st, const char *token_hash, int64_t now, struct store_cred *cr);
int store_session_touch(struct store *st, int64_t id, int64_t now);
int store_session_delete(struct store *st, int64_t id);
/* Delete every session of user_id except keep_id (0 = none). */
int store_session_delete_user(struct store *st, int64_t user_id, int64_t keep_id);
/* Keep only the newest keep sessions of user_id.  Return the number removed or -EIO. */
int store_session_trim_user(struct store *st, int64_t user_id, int keep);
/* Delete expired sessions.  Return the number removed or -EIO. */
int store_session_purge(struct store *st, int64_t now);

/* ---- personal API tokens ---- */

int store_apitoken_insert(struct store *st, int64_t user_id, const char *name, const char *token_hash, int64_t now,
			  int64_t *id);
/* Resolve an unrevoked token by hash.  Return 0 (OUT: *cr, no csrf) or -ENOENT. */
int store_apitoken_lookup(struct store *st, const char *token_hash, struct store_cred *cr);
/* Set last_used_at = now unless it was set less than granularity seconds ago. */
int store_apitoken_touch(struct store *st, int64_t id, int64_t now, int64_t granularity);
/* Unrevoked token by id.  Return 0 (OUT: *t) or -ENOENT. */
int store_apitoken_get(struct store *st, int64_t id, struct store_apitoken *t);
/* Unrevoked tokens of user_id (0 = every user) with id > after, ordered by id.
 * OUT: *out (malloc'd array, caller frees), *n. */
int store_apitoken_list(struct store *st, int64_t user_id, int64_t after, int limit, struct store_apitoken **out,
			size_t *n);
int store_apitoken_count_active(struct store *st, int64_t user_id, int64_t *n);
/* Revoke one token / all of a user's tokens.  Return 0 (or count for _user), -ENOENT, -EIO. */
int store_apitoken_revoke(struct store *st, int64_t id, int64_t now);
int store_apitoken_revoke_user(struct store *st, int64_t user_id, int64_t now);

/* ---- settings ---- */

/* OUT: *value (malloc'd).  Return 0, -ENOENT or -EIO. */
int store_setting_get(struct store *st, const char *key, char **value);
int store_setting_set(struct store *st, const char *key, const char *value);
int store_setting_delete(struct store *st, const char *key);

#endif

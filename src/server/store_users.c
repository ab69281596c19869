/*
 * store_users.c — SQL for users, sessions, api_tokens and settings (see
 * store_users.h).  Loop thread only.  Every statement is a string literal so
 * store_stmt() can cache it.
 */
#include "server/store_users.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_internal.h"

#define MAX_LIST 1000

/* Run a statement that returns no rows.  Return changes() or -errno. */
static int step_done(struct store *st, sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		return store_err(st, rc);
	return sqlite3_changes(st->db);
}

static int count_query(struct store *st, sqlite3_stmt *s, int64_t *n)
{
	int rc;
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW)
		return store_err(st, rc);
	*n = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

/* ---- users ---- */

#define USER_COLS "id, username, password_hash, role, disabled, created_at, updated_at, last_login_at"

static void user_from_row(sqlite3_stmt *s, struct store_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(s, 0);
	store_col_copy(s, 1, u->username, sizeof(u->username));
	store_col_copy(s, 2, u->password_hash, sizeof(u->password_hash));
	store_col_copy(s, 3, u->role, sizeof(u->role));
	u->disabled = sqlite3_column_int(s, 4) != 0;
	u->created_at = sqlite3_column_int64(s, 5);
	u->updated_at = sqlite3_column_int64(s, 6);
	u->last_login_at = sqlite3_column_int64(s, 7);
}

int store_user_count(struct store *st, int64_t *n)
{
	return count_query(st, store_stmt(st, "SELECT count(*) FROM users"), n);
}

int store_user_count_active_admins(struct store *st, int64_t *n)
{
	return count_query(st, store_stmt(st, "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0"), n);
}

static int user_get_one(struct store *st, sqlite3_stmt *s, struct store_user *u)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_err(st, rc);
	user_from_row(s, u);
	sqlite3_reset(s);
	return 0;
}

int store_user_get(struct store *st, int64_t id, struct store_user *u)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " USER_COLS " FROM users WHERE id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	return user_get_one(st, s, u);
}

int store_user_get_by_name(struct store *st, const char *username, struct store_user *u)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " USER_COLS " FROM users WHERE username = ?");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, username);
	return user_get_one(st, s, u);
}

int store_user_insert(struct store *st, const char *username, const char *password_hash, const char *role,
		      int64_t now, int64_t *id)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO users (username, password_hash, role, disabled, created_at, "
					 "updated_at) VALUES (?, ?, ?, 0, ?, ?)");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, username);
	store_bind_text(s, 2, password_hash);
	store_bind_text(s, 3, role);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, now);
	r = step_done(st, s);
	if (r < 0)
		return r;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_user_update(struct store *st, int64_t id, const char *role, int disabled, const char *password_hash,
		      int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE users SET role = coalesce(?, role), "
					 "disabled = CASE WHEN ? < 0 THEN disabled ELSE ? END, "
					 "password_hash = coalesce(?, password_hash), updated_at = ? WHERE id = ?");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, role);
	sqlite3_bind_int(s, 2, disabled);
	sqlite3_bind_int(s, 3, disabled);
	store_bind_text(s, 4, password_hash);
	sqlite3_bind_int64(s, 5, now);
	sqlite3_bind_int64(s, 6, id);
	r = step_done(st, s);
	if (r < 0)
		return r;
	return r == 0 ? -ENOENT : 0;
}

int store_user_set_last_login(struct store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE users SET last_login_at = ? WHERE id = ?");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, id);
	r = step_done(st, s);
	return r < 0 ? r : 0;
}

int store_user_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM users WHERE id = ?");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	r = step_done(st, s);
	if (r < 0)
		return r;
	return r == 0 ? -ENOENT : 0;
}

int store_user_list(struct store *st, int64_t after, int limit, struct store_user **out, size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " USER_COLS " FROM users WHERE id > ? ORDER BY id LIMIT ?");
	struct store_user *arr;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (limit < 1 || limit > MAX_LIST)
		return -EINVAL;
	if (!s)
		return -EIO;
	arr = calloc((size_t)limit, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int(s, 2, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && cnt < (size_t)limit) {
		user_from_row(s, &arr[cnt]);
		memset(arr[cnt].password_hash, 0, sizeof(arr[cnt].password_hash));
		cnt++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(arr);
		return store_err(st, rc);
	}
	sqlite3_reset(s);
	*out = arr;
	*n = cnt;
	return 0;
}

/* ---- sessions ---- */

int store_session_insert(struct store *st, const char *token_hash, const char *csrf, int64_t user_id, int64_t now,
			 int64_t expires_at, const char *client_addr, int64_t *id)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO sessions (token_hash, csrf_token, user_id, created_at, "
					 "expires_at, last_seen_at, client_addr) VALUES (?, ?, ?, ?, ?, ?, ?)");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, token_hash);
	store_bind_text(s, 2, csrf);
	sqlite3_bind_int64(s, 3, user_id);
	sqlite3_bind_int64(s, 4, now);
	sqlite3_bind_int64(s, 5, expires_at);
	sqlite3_bind_int64(s, 6, now);
	store_bind_text(s, 7, client_addr);
	r = step_done(st, s);
	if (r < 0)
		return r;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_session_lookup(struct store *st, const char *token_hash, int64_t now, struct store_cred *cr)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT s.id, u.id, u.username, u.role, u.disabled, s.csrf_token, "
					 "s.expires_at, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id "
					 "WHERE s.token_hash = ? AND s.expires_at > ?");
	int rc;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, token_hash);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_err(st, rc);
	memset(cr, 0, sizeof(*cr));
	cr->cred_id = sqlite3_column_int64(s, 0);
	cr->user_id = sqlite3_column_int64(s, 1);
	store_col_copy(s, 2, cr->username, sizeof(cr->username));
	store_col_copy(s, 3, cr->role, sizeof(cr->role));
	cr->disabled = sqlite3_column_int(s, 4) != 0;
	store_col_copy(s, 5, cr->csrf, sizeof(cr->csrf));
	cr->expires_at = sqlite3_column_int64(s, 6);
	cr->last_seen_at = sqlite3_column_int64(s, 7);
	sqlite3_reset(s);
	return 0;
}

int store_session_touch(struct store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE sessions SET last_seen_at = ? WHERE id = ?");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, id);
	r = step_done(st, s);
	return r < 0 ? r : 0;
}

int store_session_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM sessions WHERE id = ?");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	r = step_done(st, s);
	return r < 0 ? r : 0;
}

int store_session_delete_user(struct store *st, int64_t user_id, int64_t keep_id)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM sessions WHERE user_id = ? AND id != ?");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, keep_id);
	r = step_done(st, s);
	return r < 0 ? r : 0;
}

int store_session_trim_user(struct store *st, int64_t user_id, int keep)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM sessions WHERE user_id = ? AND id NOT IN "
					 "(SELECT id FROM sessions WHERE user_id = ? ORDER BY id DESC LIMIT ?)");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int(s, 3, keep);
	return step_done(st, s);
}

int store_session_purge(struct store *st, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM sessions WHERE expires_at <= ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	return step_done(st, s);
}

/* ---- personal API tokens ---- */

int store_apitoken_insert(struct store *st, int64_t user_id, const char *name, const char *token_hash, int64_t now,
			  int64_t *id)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
					 "VALUES (?, ?, ?, ?)");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, user_id);
	store_bind_text(s, 2, name);
	store_bind_text(s, 3, token_hash);
	sqlite3_bind_int64(s, 4, now);
	r = step_done(st, s);
	if (r < 0)
		return r;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_apitoken_lookup(struct store *st, const char *token_hash, struct store_cred *cr)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT t.id, u.id, u.username, u.role, u.disabled, t.last_used_at "
					 "FROM api_tokens t JOIN users u ON u.id = t.user_id "
					 "WHERE t.token_hash = ? AND t.revoked_at IS NULL");
	int rc;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, token_hash);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_err(st, rc);
	memset(cr, 0, sizeof(*cr));
	cr->cred_id = sqlite3_column_int64(s, 0);
	cr->user_id = sqlite3_column_int64(s, 1);
	store_col_copy(s, 2, cr->username, sizeof(cr->username));
	store_col_copy(s, 3, cr->role, sizeof(cr->role));
	cr->disabled = sqlite3_column_int(s, 4) != 0;
	cr->last_seen_at = sqlite3_column_int64(s, 5);
	sqlite3_reset(s);
	return 0;
}

int store_apitoken_touch(struct store *st, int64_t id, int64_t now, int64_t granularity)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE api_tokens SET last_used_at = ? "
					 "WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int64(s, 3, now - granularity);
	r = step_done(st, s);
	return r < 0 ? r : 0;
}

#define TOKEN_COLS "t.id, t.user_id, u.username, t.name, t.created_at, t.last_used_at"

static void apitoken_from_row(sqlite3_stmt *s, struct store_apitoken *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(s, 0);
	t->user_id = sqlite3_column_int64(s, 1);
	store_col_copy(s, 2, t->username, sizeof(t->username));
	store_col_copy(s, 3, t->name, sizeof(t->name));
	t->created_at = sqlite3_column_int64(s, 4);
	t->last_used_at = sqlite3_column_int64(s, 5);
}

int store_apitoken_get(struct store *st, int64_t id, struct store_apitoken *t)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " TOKEN_COLS " FROM api_tokens t JOIN users u ON u.id = t.user_id "
					 "WHERE t.id = ? AND t.revoked_at IS NULL");
	int rc;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_err(st, rc);
	apitoken_from_row(s, t);
	sqlite3_reset(s);
	return 0;
}

int store_apitoken_list(struct store *st, int64_t user_id, int64_t after, int limit, struct store_apitoken **out,
			size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " TOKEN_COLS " FROM api_tokens t JOIN users u ON u.id = t.user_id "
					 "WHERE t.revoked_at IS NULL AND (? = 0 OR t.user_id = ?) AND t.id > ? "
					 "ORDER BY t.id LIMIT ?");
	struct store_apitoken *arr;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (limit < 1 || limit > MAX_LIST)
		return -EINVAL;
	if (!s)
		return -EIO;
	arr = calloc((size_t)limit, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	sqlite3_bind_int64(s, 1, user_id);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int64(s, 3, after);
	sqlite3_bind_int(s, 4, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && cnt < (size_t)limit)
		apitoken_from_row(s, &arr[cnt++]);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(arr);
		return store_err(st, rc);
	}
	sqlite3_reset(s);
	*out = arr;
	*n = cnt;
	return 0;
}

int store_apitoken_count_active(struct store *st, int64_t user_id, int64_t *n)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT count(*) FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, user_id);
	return count_query(st, s, n);
}

int store_apitoken_revoke(struct store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, id);
	r = step_done(st, s);
	if (r < 0)
		return r;
	return r == 0 ? -ENOENT : 0;
}

int store_apitoken_revoke_user(struct store *st, int64_t user_id, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, user_id);
	return step_done(st, s);
}

/* ---- settings ---- */

int store_setting_get(struct store *st, const char *key, char **value)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT value FROM settings WHERE key = ?");
	int rc;
	*value = NULL;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, key);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return store_err(st, rc);
	*value = store_col_strdup(s, 0);
	sqlite3_reset(s);
	return *value ? 0 : -ENOMEM;
}

int store_setting_set(struct store *st, const char *key, const char *value)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO settings (key, value) VALUES (?, ?) "
					 "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, key);
	store_bind_text(s, 2, value);
	r = step_done(st, s);
	return r < 0 ? r : 0;
}

int store_setting_delete(struct store *st, const char *key)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM settings WHERE key = ?");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, key);
	r = step_done(st, s);
	return r < 0 ? r : 0;
}

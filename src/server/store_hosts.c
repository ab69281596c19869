/*
 * store_hosts.c — SQL for hosts, enrolment tokens, commands, events,
 * snapshots and repo stats (see store_hosts.h).  Loop thread only.  Every
 * statement is a string literal so store_stmt() caches it.
 */
#include "server/store_hosts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_internal.h"

static int blob_dup(sqlite3_stmt *s, int i, unsigned char **out, size_t *len)
{
	const void *b = sqlite3_column_blob(s, i);
	int n = sqlite3_column_bytes(s, i);
	*out = NULL;
	*len = 0;
	if (!b || n <= 0)
		return 0;
	*out = malloc((size_t)n);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, b, (size_t)n);
	*len = (size_t)n;
	return 0;
}

/* ---- enrolment tokens ---- */

void store_enrollment_release(struct store_enrollment *e)
{
	if (!e)
		return;
	free(e->tags);
	free(e->paths);
	free(e->repo_url);
	free(e->secret);
	memset(e, 0, sizeof(*e));
}

int store_enroll_insert(struct store *st, const char *token_hash, const char *hostname, const char *tags,
                        const char *paths, const char *repo_url, const char *created_by, int64_t now,
                        int64_t expires_at, int64_t *id)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO enrollment_tokens (token_hash, hostname, tags, paths, repo_url, "
	                                 "created_by, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?)");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, token_hash);
	store_bind_text(s, 2, hostname);
	store_bind_text(s, 3, tags);
	store_bind_text(s, 4, paths);
	store_bind_text(s, 5, repo_url);
	store_bind_text(s, 6, created_by);
	sqlite3_bind_int64(s, 7, now);
	sqlite3_bind_int64(s, 8, expires_at);
	r = store_step_done(st, s);
	if (r < 0)
		return r;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_enroll_set_secret(struct store *st, int64_t id, const unsigned char *blob, size_t len)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE enrollment_tokens SET repo_secret = ? WHERE id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_blob(s, 1, blob, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, id);
	return store_step_done(st, s) == 1 ? 0 : -EIO;
}

int store_enroll_find(struct store *st, const char *token_hash, int64_t now, struct store_enrollment *e)
{
	sqlite3_stmt *s =
	    store_stmt(st, "SELECT id, hostname, tags, paths, repo_url, repo_secret, expires_at "
	                   "FROM enrollment_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?");
	int rc, r;
	memset(e, 0, sizeof(*e));
	if (!s)
		return -EIO;
	store_bind_text(s, 1, token_hash);
	sqlite3_bind_int64(s, 2, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(s);
		return -ENOENT;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_err(st, rc);
	}
	e->id = sqlite3_column_int64(s, 0);
	store_col_copy(s, 1, e->hostname, sizeof(e->hostname));
	e->tags = store_col_strdup(s, 2);
	e->paths = store_col_strdup(s, 3);
	e->repo_url = store_col_strdup(s, 4);
	r = blob_dup(s, 5, &e->secret, &e->secret_len);
	e->expires_at = sqlite3_column_int64(s, 6);
	sqlite3_reset(s);
	if (r < 0 || !e->tags || !e->paths || !e->repo_url) {
		store_enrollment_release(e);
		return -ENOMEM;
	}
	return 0;
}

int store_enroll_mark_used(struct store *st, int64_t id, int64_t host_id, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE enrollment_tokens SET used_at = ?, host_id = ?, repo_secret = NULL "
	                                 "WHERE id = ? AND used_at IS NULL");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, host_id);
	sqlite3_bind_int64(s, 3, id);
	r = store_step_done(st, s);
	return r < 0 ? r : r == 1 ? 0 : -ENOENT;
}

/* ---- hosts ---- */

void store_host_release(struct store_host *h)
{
	if (!h)
		return;
	free(h->tags);
	free(h->paths);
	free(h->repo_url);
	h->tags = h->paths = h->repo_url = NULL;
}

void store_hosts_free(struct store_host *hs, size_t n)
{
	if (!hs)
		return;
	for (size_t i = 0; i < n; i++)
		store_host_release(&hs[i]);
	free(hs);
}

#define HOST_COLS                                                                                                      \
	"id, name, tags, paths, repo_url, os, arch, agent_version, restic_version, protocol_version, status, "         \
	"last_seen_at, created_at, schedule_version, next_command_seq, acked_command_seq, last_event_seq, "            \
	"running_job_id, last_backup_job_id, last_backup_status, last_backup_at, last_success_at, snapshot_count, "    \
	"limit_upload_kib, limit_download_kib, repo_size, check_failed"

static int host_from_row(sqlite3_stmt *s, struct store_host *h)
{
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(s, 0);
	store_col_copy(s, 1, h->name, sizeof(h->name));
	h->tags = store_col_strdup(s, 2);
	h->paths = store_col_strdup(s, 3);
	h->repo_url = store_col_strdup(s, 4);
	store_col_copy(s, 5, h->os, sizeof(h->os));
	store_col_copy(s, 6, h->arch, sizeof(h->arch));
	store_col_copy(s, 7, h->agent_version, sizeof(h->agent_version));
	store_col_copy(s, 8, h->restic_version, sizeof(h->restic_version));
	h->protocol_version = sqlite3_column_int64(s, 9);
	store_col_copy(s, 10, h->status, sizeof(h->status));
	h->last_seen_at = sqlite3_column_int64(s, 11);
	h->created_at = sqlite3_column_int64(s, 12);
	h->schedule_version = sqlite3_column_int64(s, 13);
	h->next_command_seq = sqlite3_column_int64(s, 14);
	h->acked_command_seq = sqlite3_column_int64(s, 15);
	h->last_event_seq = sqlite3_column_int64(s, 16);
	store_col_copy(s, 17, h->running_job_id, sizeof(h->running_job_id));
	store_col_copy(s, 18, h->last_backup_job_id, sizeof(h->last_backup_job_id));
	store_col_copy(s, 19, h->last_backup_status, sizeof(h->last_backup_status));
	h->last_backup_at = sqlite3_column_int64(s, 20);
	h->last_success_at = sqlite3_column_int64(s, 21);
	h->snapshot_count = sqlite3_column_int64(s, 22);
	h->limit_upload_kib = sqlite3_column_int64(s, 23);
	h->limit_download_kib = sqlite3_column_int64(s, 24);
	h->has_repo_size = sqlite3_column_type(s, 25) != SQLITE_NULL;
	h->repo_size = sqlite3_column_int64(s, 25);
	h->check_failed = sqlite3_column_int(s, 26) != 0;
	if (!h->tags || !h->paths || !h->repo_url) {
		store_host_release(h);
		return -ENOMEM;
	}
	return 0;
}

int store_host_insert(struct store *st, const char *name, const char *tags, const char *paths, const char *repo_url,
                      const char *agent_token_hash, int64_t now, int64_t *id)
{
	sqlite3_stmt *s =
	    store_stmt(st, "INSERT INTO hosts (name, tags, paths, repo_url, repo_secret, agent_token_hash, "
	                   "created_at) VALUES (?,?,?,?,x'',?,?)");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, name);
	store_bind_text(s, 2, tags);
	store_bind_text(s, 3, paths);
	store_bind_text(s, 4, repo_url);
	store_bind_text(s, 5, agent_token_hash);
	sqlite3_bind_int64(s, 6, now);
	r = store_step_done(st, s);
	if (r < 0)
		return r;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_host_set_secret(struct store *st, int64_t id, const unsigned char *blob, size_t len)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET repo_secret = ? WHERE id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_blob(s, 1, blob, (int)len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, id);
	return store_step_done(st, s) == 1 ? 0 : -EIO;
}

int store_host_get_secret(struct store *st, int64_t id, unsigned char **blob, size_t *len)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT repo_secret FROM hosts WHERE id = ? AND deleted_at IS NULL");
	int rc, r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	}
	r = blob_dup(s, 0, blob, len);
	sqlite3_reset(s);
	return r;
}

int store_host_get(struct store *st, int64_t id, struct store_host *h)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " HOST_COLS " FROM hosts WHERE id = ? AND deleted_at IS NULL");
	int rc, r;
	memset(h, 0, sizeof(*h));
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	}
	r = host_from_row(s, h);
	sqlite3_reset(s);
	return r;
}

int store_host_by_token(struct store *st, const char *token_hash, int64_t *id)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT id FROM hosts WHERE agent_token_hash = ? AND deleted_at IS NULL");
	int rc;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, token_hash);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	}
	*id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return 0;
}

int store_host_update_hello(struct store *st, int64_t id, const char *os, const char *arch, const char *agent_version,
                            const char *restic_version, int64_t protocol_version, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET os = coalesce(?, os), arch = coalesce(?, arch), "
	                                 "agent_version = coalesce(?, agent_version), restic_version = coalesce(?, "
	                                 "restic_version), protocol_version = ?, last_seen_at = ? WHERE id = ?");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, os);
	store_bind_text(s, 2, arch);
	store_bind_text(s, 3, agent_version);
	store_bind_text(s, 4, restic_version);
	sqlite3_bind_int64(s, 5, protocol_version);
	sqlite3_bind_int64(s, 6, now);
	sqlite3_bind_int64(s, 7, id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_set_status(struct store *st, int64_t id, const char *status, int64_t last_seen)
{
	sqlite3_stmt *s =
	    store_stmt(st, "UPDATE hosts SET status = ?, last_seen_at = max(coalesce(last_seen_at, 0), ?) "
	                   "WHERE id = ?");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, status);
	sqlite3_bind_int64(s, 2, last_seen);
	sqlite3_bind_int64(s, 3, id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_touch(struct store *st, int64_t id, int64_t last_seen)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET last_seen_at = ? WHERE id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, last_seen);
	sqlite3_bind_int64(s, 2, id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_set_schedule_version(struct store *st, int64_t id, int64_t version)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET schedule_version = ? WHERE id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, version);
	sqlite3_bind_int64(s, 2, id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_update_settings(struct store *st, int64_t id, const char *name, const char *tags, int64_t upload_kib,
                               int64_t download_kib)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET name = coalesce(?1, name), tags = coalesce(?2, tags), "
	                                 "limit_upload_kib = CASE WHEN ?3 < 0 THEN limit_upload_kib ELSE ?3 END, "
	                                 "limit_download_kib = CASE WHEN ?4 < 0 THEN limit_download_kib ELSE ?4 END "
	                                 "WHERE id = ?5 AND deleted_at IS NULL");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, name);
	store_bind_text(s, 2, tags);
	sqlite3_bind_int64(s, 3, upload_kib);
	sqlite3_bind_int64(s, 4, download_kib);
	sqlite3_bind_int64(s, 5, id);
	r = store_step_done(st, s);
	if (r < 0)
		return r;
	return r == 0 ? -ENOENT : 0;
}

int store_host_delete(struct store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s =
	    store_stmt(st, "UPDATE hosts SET deleted_at = ?, agent_token_hash = NULL, status = 'offline', "
	                   "repo_secret = x'' WHERE id = ? AND deleted_at IS NULL");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, id);
	r = store_step_done(st, s);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	s = store_stmt(st, "DELETE FROM commands WHERE host_id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_list(struct store *st, int64_t after, int limit, const char *status, struct store_host **out, size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " HOST_COLS " FROM hosts WHERE deleted_at IS NULL AND id > ? "
	                                 "AND (?2 IS NULL OR status = ?2) ORDER BY id LIMIT ?3");
	struct store_host *hs;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!s)
		return -EIO;
	hs = calloc((size_t)limit + 1, sizeof(*hs));
	if (!hs)
		return -ENOMEM;
	sqlite3_bind_int64(s, 1, after);
	store_bind_text(s, 2, status);
	sqlite3_bind_int(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && cnt < (size_t)limit) {
		if (host_from_row(s, &hs[cnt]) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		cnt++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_hosts_free(hs, cnt);
		return store_err(st, rc);
	}
	*out = hs;
	*n = cnt;
	return 0;
}

int store_host_online_ids(struct store *st, int64_t **ids, size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT id FROM hosts WHERE status = 'online' AND deleted_at IS NULL");
	size_t cap = 64, cnt = 0;
	int64_t *v = malloc(cap * sizeof(*v));
	int rc;

	*ids = NULL;
	*n = 0;
	if (!s || !v) {
		free(v);
		return s ? -ENOMEM : -EIO;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			int64_t *nv = realloc(v, cap * 2 * sizeof(*v));
			if (!nv) {
				sqlite3_reset(s);
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap *= 2;
		}
		v[cnt++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return store_err(st, rc);
	}
	*ids = v;
	*n = cnt;
	return 0;
}

int store_host_set_running(struct store *st, int64_t id, const char *job_id)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET running_job_id = ? WHERE id = ?");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, job_id);
	sqlite3_bind_int64(s, 2, id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_clear_running(struct store *st, int64_t id, const char *job_id)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET running_job_id = NULL WHERE id = ? AND running_job_id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, id);
	store_bind_text(s, 2, job_id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_set_last_backup(struct store *st, int64_t id, const char *job_id, const char *status, int64_t at,
                               bool success)
{
	sqlite3_stmt *s =
	    store_stmt(st, "UPDATE hosts SET last_backup_job_id = ?, last_backup_status = ?, "
	                   "last_backup_at = ?, last_success_at = CASE WHEN ? THEN ? ELSE last_success_at END "
	                   "WHERE id = ?");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, job_id);
	store_bind_text(s, 2, status);
	sqlite3_bind_int64(s, 3, at);
	sqlite3_bind_int(s, 4, success ? 1 : 0);
	sqlite3_bind_int64(s, 5, at);
	sqlite3_bind_int64(s, 6, id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_host_set_last_event_seq(struct store *st, int64_t id, int64_t seq)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET last_event_seq = max(last_event_seq, ?) WHERE id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, seq);
	sqlite3_bind_int64(s, 2, id);
	int r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_fleet_summary(struct store *st, int64_t since, struct store_fleet *f)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT count(*), coalesce(sum(status = 'online'), 0), "
	                                 "coalesce(sum(last_backup_status = 'failed'), 0), "
	                                 "coalesce(sum(last_backup_at IS NULL), 0), coalesce(sum(snapshot_count), 0), "
	                                 "coalesce(sum(last_backup_status = 'failed' OR check_failed), 0), "
	                                 "coalesce(sum(repo_size), 0) "
	                                 "FROM hosts WHERE deleted_at IS NULL");
	int rc;
	memset(f, 0, sizeof(*f));
	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_err(st, rc);
	}
	f->hosts = sqlite3_column_int64(s, 0);
	f->online = sqlite3_column_int64(s, 1);
	f->offline = f->hosts - f->online;
	f->backup_failed = sqlite3_column_int64(s, 2);
	f->never_backed_up = sqlite3_column_int64(s, 3);
	f->snapshots = sqlite3_column_int64(s, 4);
	f->problems = sqlite3_column_int64(s, 5);
	f->repo_size = sqlite3_column_int64(s, 6);
	sqlite3_reset(s);
	/* The partial index (migration 4) holds only failed jobs by finish time:
	 * named, because the planner would otherwise walk every failed job of
	 * jobs_status (status = ?) to test finished_at. */
	s = store_stmt(st, "SELECT (SELECT count(*) FROM jobs WHERE status = 'queued'), "
	                   "(SELECT count(*) FROM jobs WHERE status = 'running'), "
	                   "(SELECT count(*) FROM jobs INDEXED BY jobs_failed_finished "
	                   "WHERE status = 'failed' AND finished_at >= ?)");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, since);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_err(st, rc);
	}
	f->jobs_queued = sqlite3_column_int64(s, 0);
	f->jobs_running = sqlite3_column_int64(s, 1);
	f->jobs_failed_since = sqlite3_column_int64(s, 2);
	sqlite3_reset(s);
	return 0;
}

/* ---- commands ---- */

int store_cmd_enqueue(struct store *st, int64_t host_id, const char *type, const char *job_id, json_t *body,
                      int64_t now, int64_t *seq)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE hosts SET next_command_seq = next_command_seq + 1 "
	                                 "WHERE id = ? AND deleted_at IS NULL RETURNING next_command_seq");
	char *text;
	int rc, r;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, host_id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	}
	*seq = sqlite3_column_int64(s, 0);
	/* RETURNING: step to completion so the update is applied. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return store_err(st, rc);
	text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	s = store_stmt(st, "INSERT INTO commands (host_id, seq, type, job_id, body, created_at) VALUES (?,?,?,?,?,?)");
	if (!s) {
		free(text);
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, host_id);
	sqlite3_bind_int64(s, 2, *seq);
	store_bind_text(s, 3, type);
	store_bind_text(s, 4, job_id);
	store_bind_text(s, 5, text);
	sqlite3_bind_int64(s, 6, now);
	r = store_step_done(st, s);
	free(text);
	return r < 0 ? r : 0;
}

int store_cmd_list(struct store *st, int64_t host_id, int64_t after, int limit, json_t **out)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT seq, body FROM commands WHERE host_id = ? AND seq > ? ORDER BY seq "
	                                 "LIMIT ?");
	json_t *arr = json_array();
	int rc;

	*out = NULL;
	if (!s || !arr) {
		json_decref(arr);
		return s ? -ENOMEM : -EIO;
	}
	sqlite3_bind_int64(s, 1, host_id);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(s, 1);
		json_t *o = b ? json_loads(b, 0, NULL) : NULL;
		if (!json_is_object(o)) {
			json_decref(o);
			continue; /* cannot happen: we wrote it */
		}
		json_object_set_new(o, "seq", json_integer(sqlite3_column_int64(s, 0)));
		json_array_append_new(arr, o);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return store_err(st, rc);
	}
	*out = arr;
	return 0;
}

int store_cmd_ack(struct store *st, int64_t host_id, int64_t upto)
{
	sqlite3_stmt *s =
	    store_stmt(st, "UPDATE hosts SET acked_command_seq = ?2 WHERE id = ?1 AND acked_command_seq < ?2");
	int r;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, host_id);
	sqlite3_bind_int64(s, 2, upto);
	r = store_step_done(st, s);
	if (r <= 0)
		return r;
	s = store_stmt(st, "DELETE FROM commands WHERE host_id = ? AND seq <= ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, host_id);
	sqlite3_bind_int64(s, 2, upto);
	r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_cmd_drop_run(struct store *st, int64_t host_id, const char *job_id)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM commands WHERE host_id = ? AND job_id = ? AND type = 'run' "
	                                 "AND seq > (SELECT acked_command_seq FROM hosts WHERE id = ?1)");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, host_id);
	store_bind_text(s, 2, job_id);
	return store_step_done(st, s);
}

/* ---- events ---- */

int store_event_insert(struct store *st, int64_t host_id, int64_t seq, const char *type, const char *job_id,
                       const char *time, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT OR IGNORE INTO events (host_id, seq, type, job_id, time, received_at) "
	                                 "VALUES (?,?,?,?,?,?)");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, host_id);
	sqlite3_bind_int64(s, 2, seq);
	store_bind_text(s, 3, type);
	store_bind_text(s, 4, job_id);
	store_bind_text(s, 5, time);
	sqlite3_bind_int64(s, 6, now);
	return store_step_done(st, s);
}

int store_event_purge(struct store *st, int64_t cutoff)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM events WHERE received_at < ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, cutoff);
	return store_step_done(st, s);
}

/* ---- snapshots, repo stats ---- */

int store_snapshots_replace(struct store *st, int64_t host_id, json_t *arr)
{
	sqlite3_stmt *s = store_stmt(st, "DELETE FROM snapshots WHERE host_id = ?");
	size_t i, n = 0;
	json_t *v;
	int r;

	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, host_id);
	r = store_step_done(st, s);
	if (r < 0)
		return r;
	json_array_foreach(arr, i, v)
	{
		const char *id = json_string_value(json_object_get(v, "id"));
		char *text;
		if (!id)
			continue;
		text = json_dumps(v, JSON_COMPACT);
		if (!text)
			return -ENOMEM;
		s = store_stmt(
		    st, "INSERT OR REPLACE INTO snapshots (host_id, id, short_id, time, body) VALUES (?,?,?,?,?)");
		if (!s) {
			free(text);
			return -EIO;
		}
		sqlite3_bind_int64(s, 1, host_id);
		store_bind_text(s, 2, id);
		store_bind_text(s, 3, json_string_value(json_object_get(v, "short_id")));
		store_bind_text(s, 4, json_string_value(json_object_get(v, "time")));
		store_bind_text(s, 5, text);
		r = store_step_done(st, s);
		free(text);
		if (r < 0)
			return r;
		n++;
	}
	s = store_stmt(st, "UPDATE hosts SET snapshot_count = ? WHERE id = ?");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, (int64_t)n);
	sqlite3_bind_int64(s, 2, host_id);
	r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

int store_snapshots_list(struct store *st, int64_t host_id, json_t **out)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT body FROM snapshots WHERE host_id = ? ORDER BY time DESC, id");
	json_t *arr = json_array();
	int rc;

	*out = NULL;
	if (!s || !arr) {
		json_decref(arr);
		return s ? -ENOMEM : -EIO;
	}
	sqlite3_bind_int64(s, 1, host_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(s, 0);
		json_t *o = b ? json_loads(b, 0, NULL) : NULL;
		if (o)
			json_array_append_new(arr, o);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		json_decref(arr);
		return store_err(st, rc);
	}
	*out = arr;
	return 0;
}

int store_repo_stats_get(struct store *st, int64_t host_id, json_t **out)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT body FROM repo_stats WHERE host_id = ?");
	int rc;
	*out = NULL;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, host_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const char *b = (const char *)sqlite3_column_text(s, 0);
		*out = b ? json_loads(b, 0, NULL) : NULL;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store_err(st, rc);
	return 0;
}

int store_repo_stats_merge(struct store *st, int64_t host_id, json_t *obj, int64_t now)
{
	json_t *cur = NULL;
	char *text;
	int r = store_repo_stats_get(st, host_id, &cur);
	sqlite3_stmt *s;

	if (r < 0)
		return r;
	if (!json_is_object(cur)) {
		json_decref(cur);
		cur = json_object();
		if (!cur)
			return -ENOMEM;
	}
	json_object_update(cur, obj);
	text = json_dumps(cur, JSON_COMPACT);
	json_decref(cur);
	if (!text)
		return -ENOMEM;
	s = store_stmt(st, "INSERT INTO repo_stats (host_id, body, updated_at) VALUES (?1,?2,?3) "
	                   "ON CONFLICT(host_id) DO UPDATE SET body = ?2, updated_at = ?3");
	if (!s) {
		free(text);
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, host_id);
	store_bind_text(s, 2, text);
	sqlite3_bind_int64(s, 3, now);
	r = store_step_done(st, s);
	free(text);
	if (r < 0)
		return r;
	/* Mirror the figures the host list and the fleet summary need. */
	json_t *raw = json_object_get(obj, "raw_size"), *ok = json_object_get(json_object_get(obj, "check"), "ok");
	if (!json_is_integer(raw) && !json_is_boolean(ok))
		return 0;
	s = store_stmt(st, "UPDATE hosts SET repo_size = CASE WHEN ?1 IS NULL THEN repo_size ELSE ?1 END, "
	                   "check_failed = CASE WHEN ?2 IS NULL THEN check_failed ELSE ?2 END WHERE id = ?3");
	if (!s)
		return -EIO;
	if (json_is_integer(raw))
		sqlite3_bind_int64(s, 1, json_integer_value(raw));
	if (json_is_boolean(ok))
		sqlite3_bind_int(s, 2, json_is_false(ok) ? 1 : 0);
	sqlite3_bind_int64(s, 3, host_id);
	r = store_step_done(st, s);
	return r < 0 ? r : 0;
}

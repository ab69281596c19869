/*
 * store_jobs.c — SQL for jobs and job logs (see store_jobs.h).  Loop thread.
 * The list query has one literal per filter combination so SQLite can use
 * the matching (filter, rid) index at a million rows.
 */
#include "server/store_jobs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_internal.h"

void store_job_release(struct store_job *j)
{
	if (!j)
		return;
	free(j->args);
	free(j->summary);
	free(j->error);
	free(j->progress);
	j->args = j->summary = j->error = j->progress = NULL;
}

void store_jobs_free(struct store_job *js, size_t n)
{
	if (!js)
		return;
	for (size_t i = 0; i < n; i++)
		store_job_release(&js[i]);
	free(js);
}

bool store_job_status_is_final(const char *s)
{
	return !strcmp(s, "succeeded") || !strcmp(s, "warning") || !strcmp(s, "failed") || !strcmp(s, "cancelled");
}

#define JOB_COLS                                                                                                       \
	"rid, id, host_id, kind, status, actor, actor_name, grp, args, summary, error, progress, created_at, "         \
	"started_at, finished_at, exit_code, log_lines"

static int job_from_row(sqlite3_stmt *s, struct store_job *j)
{
	memset(j, 0, sizeof(*j));
	j->rid = sqlite3_column_int64(s, 0);
	store_col_copy(s, 1, j->id, sizeof(j->id));
	j->host_id = sqlite3_column_int64(s, 2);
	store_col_copy(s, 3, j->kind, sizeof(j->kind));
	store_col_copy(s, 4, j->status, sizeof(j->status));
	store_col_copy(s, 5, j->actor, sizeof(j->actor));
	store_col_copy(s, 6, j->actor_name, sizeof(j->actor_name));
	store_col_copy(s, 7, j->group, sizeof(j->group));
	j->args = store_col_strdup(s, 8);
	j->summary = store_col_strdup(s, 9);
	j->error = store_col_strdup(s, 10);
	j->progress = store_col_strdup(s, 11);
	j->created_at = sqlite3_column_int64(s, 12);
	j->started_at = sqlite3_column_int64(s, 13);
	j->finished_at = sqlite3_column_int64(s, 14);
	j->has_exit_code = sqlite3_column_type(s, 15) != SQLITE_NULL;
	j->exit_code = sqlite3_column_int64(s, 15);
	j->log_lines = sqlite3_column_int64(s, 16);
	if (!j->args) {
		store_job_release(j);
		return -ENOMEM;
	}
	return 0;
}

int store_job_insert(struct store *st, struct store_job *j)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT INTO jobs (id, host_id, kind, args, status, actor, actor_name, grp, "
	                                 "created_at, started_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
	int r;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, j->id);
	sqlite3_bind_int64(s, 2, j->host_id);
	store_bind_text(s, 3, j->kind);
	store_bind_text(s, 4, j->args ? j->args : "{}");
	store_bind_text(s, 5, j->status);
	store_bind_text(s, 6, j->actor);
	store_bind_text(s, 7, j->actor_name[0] ? j->actor_name : NULL);
	store_bind_text(s, 8, j->group[0] ? j->group : NULL);
	sqlite3_bind_int64(s, 9, j->created_at);
	if (j->started_at)
		sqlite3_bind_int64(s, 10, j->started_at);
	else
		sqlite3_bind_null(s, 10);
	r = store_step_done(st, s);
	if (r < 0)
		return r;
	j->rid = sqlite3_last_insert_rowid(st->db);
	return 0;
}

int store_job_get(struct store *st, const char *id, struct store_job *j)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT " JOB_COLS " FROM jobs WHERE id = ?");
	int rc, r;
	memset(j, 0, sizeof(*j));
	if (!s)
		return -EIO;
	store_bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	}
	r = job_from_row(s, j);
	sqlite3_reset(s);
	return r;
}

int store_job_host(struct store *st, const char *id, int64_t *host_id)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT host_id FROM jobs WHERE id = ?");
	int rc;
	if (!s)
		return -EIO;
	store_bind_text(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*host_id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
}

#define JOB_LIST(where) "SELECT " JOB_COLS " FROM jobs WHERE rid < ?1 " where " ORDER BY rid DESC LIMIT ?5"

int store_job_list(struct store *st, int64_t host_id, const char *status, const char *kind, int64_t before, int limit,
                   struct store_job **out, size_t *n)
{
	/* Indexed by (host? 4) | (status? 2) | (kind? 1). */
	static const char *const sql[8] = {
	    JOB_LIST(""),
	    JOB_LIST("AND kind = ?4"),
	    JOB_LIST("AND status = ?3"),
	    JOB_LIST("AND status = ?3 AND kind = ?4"),
	    JOB_LIST("AND host_id = ?2"),
	    JOB_LIST("AND host_id = ?2 AND kind = ?4"),
	    JOB_LIST("AND host_id = ?2 AND status = ?3"),
	    JOB_LIST("AND host_id = ?2 AND status = ?3 AND kind = ?4"),
	};
	int which = (host_id > 0 ? 4 : 0) | (status ? 2 : 0) | (kind ? 1 : 0);
	sqlite3_stmt *s = store_stmt(st, sql[which]);
	struct store_job *js;
	size_t cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!s)
		return -EIO;
	js = calloc((size_t)limit + 1, sizeof(*js));
	if (!js)
		return -ENOMEM;
	sqlite3_bind_int64(s, 1, before > 0 ? before : INT64_MAX);
	if (host_id > 0)
		sqlite3_bind_int64(s, 2, host_id);
	if (status)
		store_bind_text(s, 3, status);
	if (kind)
		store_bind_text(s, 4, kind);
	sqlite3_bind_int(s, 5, limit);
	while (cnt < (size_t)limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (job_from_row(s, &js[cnt]) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		cnt++;
	}
	if (cnt == (size_t)limit)
		rc = SQLITE_DONE;
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		store_jobs_free(js, cnt);
		return store_err(st, rc);
	}
	*out = js;
	*n = cnt;
	return 0;
}

int store_job_set_running(struct store *st, const char *id, int64_t started_at)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE jobs SET status = 'running', started_at = ? WHERE id = ? AND status = "
	                                 "'queued'");
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, started_at);
	store_bind_text(s, 2, id);
	return store_step_done(st, s);
}

int store_job_set_progress(struct store *st, const char *id, const char *progress_json)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE jobs SET progress = ? WHERE id = ? AND status = 'running'");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, progress_json);
	store_bind_text(s, 2, id);
	return store_step_done(st, s);
}

int store_job_finish(struct store *st, const char *id, const char *status, bool has_exit, int64_t exit_code,
                     const char *summary_json, const char *error, int64_t finished_at)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE jobs SET status = ?, exit_code = ?, summary = ?, error = ?, "
	                                 "finished_at = ?, started_at = coalesce(started_at, ?5) "
	                                 "WHERE id = ? AND (status IN ('queued','running') OR "
	                                 "(status = 'failed' AND error IN ('" STORE_JOB_ERR_AGENT_RESTARTED "', '"
	                                 STORE_JOB_ERR_AGENT_LOST "')))");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, status);
	if (has_exit)
		sqlite3_bind_int64(s, 2, exit_code);
	else
		sqlite3_bind_null(s, 2);
	store_bind_text(s, 3, summary_json);
	store_bind_text(s, 4, error);
	sqlite3_bind_int64(s, 5, finished_at);
	store_bind_text(s, 6, id);
	return store_step_done(st, s);
}

int store_job_running_ids(struct store *st, int64_t host_id, char (**ids)[STORE_JOB_ID_LEN + 1], size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT id FROM jobs WHERE host_id = ? AND status = 'running' LIMIT 64");
	char(*v)[STORE_JOB_ID_LEN + 1] = calloc(64, sizeof(*v));
	size_t cnt = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	if (!s || !v) {
		free(v);
		return s ? -ENOMEM : -EIO;
	}
	sqlite3_bind_int64(s, 1, host_id);
	while (cnt < 64 && (rc = sqlite3_step(s)) == SQLITE_ROW)
		store_col_copy(s, 0, v[cnt++], sizeof(v[0]));
	sqlite3_reset(s);
	*ids = v;
	*n = cnt;
	return 0;
}

int store_job_delivered_queued_ids(struct store *st, int64_t host_id, char (**ids)[STORE_JOB_ID_LEN + 1], size_t *n)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT id FROM jobs j WHERE host_id = ?1 AND status = 'queued' AND NOT EXISTS "
	                                 "(SELECT 1 FROM commands c WHERE c.host_id = ?1 AND c.job_id = j.id "
	                                 "AND c.type = 'run') ORDER BY rid LIMIT 256");
	char(*v)[STORE_JOB_ID_LEN + 1] = calloc(256, sizeof(*v));
	size_t cnt = 0;
	int rc = SQLITE_DONE;

	*ids = NULL;
	*n = 0;
	if (!s || !v) {
		free(v);
		return s ? -ENOMEM : -EIO;
	}
	sqlite3_bind_int64(s, 1, host_id);
	while (cnt < 256 && (rc = sqlite3_step(s)) == SQLITE_ROW)
		store_col_copy(s, 0, v[cnt++], sizeof(v[0]));
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(v);
		return store_err(st, rc);
	}
	*ids = v;
	*n = cnt;
	return 0;
}

int store_job_log_insert(struct store *st, int64_t rid, int64_t line, const char *t, const char *stream,
                         const char *text)
{
	sqlite3_stmt *s = store_stmt(st, "INSERT OR IGNORE INTO job_logs (job_rid, line, t, stream, text) "
	                                 "VALUES (?,?,?,?,?)");
	int rc;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, rid);
	sqlite3_bind_int64(s, 2, line);
	store_bind_text(s, 3, t);
	store_bind_text(s, 4, stream);
	store_bind_text(s, 5, text);
	rc = store_step_done(st, s);
	return rc < 0 ? rc : 0;
}

int store_job_set_log_lines(struct store *st, int64_t rid, int64_t n)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE jobs SET log_lines = max(log_lines, ?) WHERE rid = ?");
	int rc;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, n);
	sqlite3_bind_int64(s, 2, rid);
	rc = store_step_done(st, s);
	return rc < 0 ? rc : 0;
}

int store_job_cancel_host(struct store *st, int64_t host_id, const char *reason, int64_t now)
{
	sqlite3_stmt *s = store_stmt(st, "UPDATE jobs SET status = 'cancelled', error = ?, finished_at = ? "
	                                 "WHERE host_id = ? AND status IN ('queued','running')");
	if (!s)
		return -EIO;
	store_bind_text(s, 1, reason);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, host_id);
	return store_step_done(st, s);
}

int store_job_log_each(struct store *st, int64_t rid, int64_t after, int64_t limit,
                       int (*cb)(void *arg, int64_t line, const char *t, const char *stream, const char *text),
                       void *arg)
{
	sqlite3_stmt *s = store_stmt(st, "SELECT line, t, stream, text FROM job_logs WHERE job_rid = ? AND line > ? "
	                                 "ORDER BY line LIMIT ?");
	int rc;
	if (!s)
		return -EIO;
	sqlite3_bind_int64(s, 1, rid);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int64(s, 3, limit);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s, 1);
		const char *stream = (const char *)sqlite3_column_text(s, 2);
		const char *text = (const char *)sqlite3_column_text(s, 3);
		if (cb(arg, sqlite3_column_int64(s, 0), t ? t : "", stream ? stream : "", text ? text : "")) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : store_err(st, rc);
}

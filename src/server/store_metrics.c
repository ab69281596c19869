/*
 * store_metrics.c — the reads behind GET /metrics on their own read-only
 * connection (see store_metrics.h).  Runs on whichever single thread holds
 * the reader (a worker); never touches the loop's connection.
 *
 * JSON columns are written by this server (json_dumps), but a row that is
 * not valid JSON must cost one host's figures, not the scrape: every
 * json_extract is guarded by json_valid.
 */
#include "server/store_metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_internal.h"

int store_metrics_open(const char *path, struct store **out)
{
	struct store *rd = calloc(1, sizeof(*rd));
	int rc;

	*out = NULL;
	if (!rd)
		return -ENOMEM;
	/* NOMUTEX: one thread at a time (store_metrics.h). */
	rc = sqlite3_open_v2(path, &rd->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_busy_timeout(rd->db, 2000);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(rd->db, "PRAGMA query_only=1", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_close(rd);
		return -EIO;
	}
	*out = rd;
	return 0;
}

void store_metrics_close(struct store *rd)
{
	store_close(rd);
}

static bool col_null(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL;
}

static int read_hosts(struct store *rd, int (*cb)(void *arg, const struct store_metrics_host *h), void *arg)
{
	/* One pass over the live hosts; the last backup job by its unique id,
	 * the repo stats by their primary key. */
	sqlite3_stmt *s = store_stmt(
	    rd, "SELECT h.id, h.name, h.status = 'online', h.last_seen_at, h.last_backup_at, h.last_backup_status, "
	        "  h.snapshot_count, h.repo_size, "
	        "  CASE WHEN json_valid(j.summary) THEN json_extract(j.summary, '$.total_duration') END, "
	        "  j.finished_at - j.started_at, "
	        "  CASE WHEN json_valid(j.summary) THEN json_extract(j.summary, '$.data_added') END, "
	        "  CASE WHEN json_valid(r.body) THEN json_extract(r.body, '$.check.ok') END, "
	        "  CASE WHEN json_valid(r.body) AND json_type(r.body, '$.locks') = 'array' "
	        "    THEN json_array_length(r.body, '$.locks') END "
	        "FROM hosts h "
	        "LEFT JOIN jobs j ON j.id = h.last_backup_job_id "
	        "LEFT JOIN repo_stats r ON r.host_id = h.id "
	        "WHERE h.deleted_at IS NULL ORDER BY h.id");
	int rc, stop = 0;

	if (!s)
		return -EIO;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct store_metrics_host h;
		const unsigned char *name = sqlite3_column_text(s, 1);
		const unsigned char *bst = sqlite3_column_text(s, 5);

		memset(&h, 0, sizeof(h));
		h.id = sqlite3_column_int64(s, 0);
		h.name = name ? (const char *)name : "";
		h.online = sqlite3_column_int(s, 2) != 0;
		h.has_last_seen = !col_null(s, 3);
		h.last_seen_at = sqlite3_column_int64(s, 3);
		h.has_last_backup = !col_null(s, 4) && bst;
		h.last_backup_at = sqlite3_column_int64(s, 4);
		h.last_backup_status = bst ? (const char *)bst : "";
		h.snapshot_count = sqlite3_column_int64(s, 6);
		h.has_repo_size = !col_null(s, 7);
		h.repo_size = sqlite3_column_int64(s, 7);
		if (sqlite3_column_type(s, 8) == SQLITE_INTEGER || sqlite3_column_type(s, 8) == SQLITE_FLOAT) {
			h.has_duration = true;
			h.duration = sqlite3_column_double(s, 8);
		} else if (!col_null(s, 9) && sqlite3_column_int64(s, 9) >= 0) {
			h.has_duration = true;
			h.duration = (double)sqlite3_column_int64(s, 9);
		}
		h.has_added = sqlite3_column_type(s, 10) == SQLITE_INTEGER;
		h.added_bytes = sqlite3_column_int64(s, 10);
		h.has_check = sqlite3_column_type(s, 11) == SQLITE_INTEGER; /* JSON true/false → 1/0 */
		h.check_ok = sqlite3_column_int(s, 11) != 0;
		h.has_locks = !col_null(s, 12);
		h.locks = sqlite3_column_int64(s, 12);
		stop = cb(arg, &h);
		if (stop)
			break;
	}
	sqlite3_reset(s);
	if (stop)
		return stop > 0 ? -stop : stop;
	return rc == SQLITE_DONE ? 0 : store_err(rd, rc);
}

static int read_jobs(struct store *rd, int64_t *queued, int64_t *running)
{
	sqlite3_stmt *s = store_stmt(rd, "SELECT (SELECT count(*) FROM jobs WHERE status = 'queued'), "
	                                 "(SELECT count(*) FROM jobs WHERE status = 'running')");
	int rc;

	if (!s)
		return -EIO;
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(s);
		return store_err(rd, rc);
	}
	*queued = sqlite3_column_int64(s, 0);
	*running = sqlite3_column_int64(s, 1);
	sqlite3_reset(s);
	return 0;
}

int store_metrics_read(struct store *rd, int (*cb)(void *arg, const struct store_metrics_host *h), void *arg,
                       int64_t *queued, int64_t *running)
{
	int r;

	*queued = *running = 0;
	/* One read transaction: hosts and job counts from the same snapshot. */
	if (sqlite3_exec(rd->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -EIO;
	r = read_hosts(rd, cb, arg);
	if (r == 0)
		r = read_jobs(rd, queued, running);
	sqlite3_exec(rd->db, "COMMIT", NULL, NULL, NULL);
	return r;
}

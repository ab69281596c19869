/*
 * store_sources.c — SQL for source groups, schedules and per-host schedule
 * state (see store_sources.h).  Loop thread only.  Every statement is a
 * string literal so store_stmt() caches it.
 */
#include "server/store_sources.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/store_internal.h"

static int64_t col_i64_or0(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, i);
}

/* ---- source groups ---- */

void store_source_release(struct store_source *s)
{
	if (!s)
		return;
	free(s->paths);
	free(s->excludes);
	free(s->retention);
	free(s->hooks);
	memset(s, 0, sizeof(*s));
}

void store_sources_free(struct store_source *ss, size_t n)
{
	if (!ss)
		return;
	for (size_t i = 0; i < n; i++)
		store_source_release(&ss[i]);
	free(ss);
}

#define SOURCE_COLS                                                                                         \
	"id, host_id, name, paths, excludes, retention, retry_count, retry_backoff, hooks, created_at, " \
	"updated_at, use_fs_snapshot"

static int source_row(sqlite3_stmt *q, struct store_source *s)
{
	const void *b;
	int n;

	memset(s, 0, sizeof(*s));
	s->id = sqlite3_column_int64(q, 0);
	s->host_id = sqlite3_column_int64(q, 1);
	store_col_copy(q, 2, s->name, sizeof(s->name));
	s->paths = store_col_strdup(q, 3);
	s->excludes = store_col_strdup(q, 4);
	s->retention = store_col_strdup(q, 5);
	s->retry_count = sqlite3_column_int64(q, 6);
	s->retry_backoff = sqlite3_column_int64(q, 7);
	b = sqlite3_column_blob(q, 8);
	n = sqlite3_column_bytes(q, 8);
	if (b && n > 0) {
		s->hooks = malloc((size_t)n);
		if (s->hooks) {
			memcpy(s->hooks, b, (size_t)n);
			s->hooks_len = (size_t)n;
		}
	}
	s->created_at = sqlite3_column_int64(q, 9);
	s->updated_at = sqlite3_column_int64(q, 10);
	s->use_fs_snapshot = sqlite3_column_int64(q, 11) != 0;
	if (!s->paths || !s->excludes || !s->retention || (b && n > 0 && !s->hooks)) {
		store_source_release(s);
		return -ENOMEM;
	}
	return 0;
}

int store_source_insert(struct store *st, struct store_source *s)
{
	sqlite3_stmt *q = store_stmt(st, "INSERT INTO sources (host_id, name, paths, excludes, retention, "
					 "retry_count, retry_backoff, created_at, updated_at, use_fs_snapshot) "
					 "VALUES (?,?,?,?,?,?,?,?,?,?)");
	int r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, s->host_id);
	store_bind_text(q, 2, s->name);
	store_bind_text(q, 3, s->paths);
	store_bind_text(q, 4, s->excludes);
	store_bind_text(q, 5, s->retention);
	sqlite3_bind_int64(q, 6, s->retry_count);
	sqlite3_bind_int64(q, 7, s->retry_backoff);
	sqlite3_bind_int64(q, 8, s->created_at);
	sqlite3_bind_int64(q, 9, s->created_at);
	sqlite3_bind_int64(q, 10, s->use_fs_snapshot ? 1 : 0);
	r = store_step_done(st, q);
	if (r < 0)
		return r;
	s->id = sqlite3_last_insert_rowid(st->db);
	s->updated_at = s->created_at;
	return 0;
}

int store_source_update(struct store *st, const struct store_source *s)
{
	sqlite3_stmt *q = store_stmt(st, "UPDATE sources SET name = ?, paths = ?, excludes = ?, retention = ?, "
					 "retry_count = ?, retry_backoff = ?, updated_at = ?, use_fs_snapshot = ? "
					 "WHERE id = ? AND host_id = ?");
	int r;
	if (!q)
		return -EIO;
	store_bind_text(q, 1, s->name);
	store_bind_text(q, 2, s->paths);
	store_bind_text(q, 3, s->excludes);
	store_bind_text(q, 4, s->retention);
	sqlite3_bind_int64(q, 5, s->retry_count);
	sqlite3_bind_int64(q, 6, s->retry_backoff);
	sqlite3_bind_int64(q, 7, s->updated_at);
	sqlite3_bind_int64(q, 8, s->use_fs_snapshot ? 1 : 0);
	sqlite3_bind_int64(q, 9, s->id);
	sqlite3_bind_int64(q, 10, s->host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int store_source_set_hooks(struct store *st, int64_t id, const unsigned char *blob, size_t len)
{
	sqlite3_stmt *q = store_stmt(st, "UPDATE sources SET hooks = ? WHERE id = ?");
	int r;
	if (!q)
		return -EIO;
	if (blob)
		sqlite3_bind_blob(q, 1, blob, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(q, 1);
	sqlite3_bind_int64(q, 2, id);
	r = store_step_done(st, q);
	return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int store_source_delete(struct store *st, int64_t host_id, int64_t id)
{
	sqlite3_stmt *q = store_stmt(st, "DELETE FROM sources WHERE id = ? AND host_id = ?");
	int r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int store_source_get(struct store *st, int64_t host_id, int64_t id, const char *name, struct store_source *s)
{
	sqlite3_stmt *q;
	int rc, r;

	if (name) {
		q = store_stmt(st, "SELECT " SOURCE_COLS " FROM sources WHERE host_id = ? AND name = ?");
		if (!q)
			return -EIO;
		sqlite3_bind_int64(q, 1, host_id);
		store_bind_text(q, 2, name);
	} else {
		q = store_stmt(st, "SELECT " SOURCE_COLS " FROM sources WHERE host_id = ? AND id = ?");
		if (!q)
			return -EIO;
		sqlite3_bind_int64(q, 1, host_id);
		sqlite3_bind_int64(q, 2, id);
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		r = source_row(q, s);
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	sqlite3_reset(q);
	return r;
}

int store_source_list(struct store *st, int64_t host_id, struct store_source **out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT " SOURCE_COLS " FROM sources WHERE host_id = ? ORDER BY name");
	struct store_source *v = NULL;
	size_t len = 0, cap = 0;
	int rc, r = 0;

	*out = NULL;
	*n = 0;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct store_source *nv = realloc(v, nc * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		if ((r = source_row(q, &v[len])) < 0)
			break;
		len++;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = store_err(st, rc);
	sqlite3_reset(q);
	if (r < 0) {
		store_sources_free(v, len);
		return r;
	}
	*out = v;
	*n = len;
	return 0;
}

/* ---- schedules ---- */

void store_schedule_release(struct store_schedule *s)
{
	if (!s)
		return;
	free(s->groups);
	memset(s, 0, sizeof(*s));
}

void store_schedules_free(struct store_schedule *ss, size_t n)
{
	if (!ss)
		return;
	for (size_t i = 0; i < n; i++)
		store_schedule_release(&ss[i]);
	free(ss);
}

#define SCHEDULE_COLS "id, host_id, cron, groups, enabled, random_delay, created_at, updated_at"

static int schedule_row(sqlite3_stmt *q, struct store_schedule *s)
{
	memset(s, 0, sizeof(*s));
	s->id = sqlite3_column_int64(q, 0);
	s->host_id = sqlite3_column_int64(q, 1);
	store_col_copy(q, 2, s->cron, sizeof(s->cron));
	s->groups = store_col_strdup(q, 3);
	s->enabled = sqlite3_column_int(q, 4) != 0;
	s->random_delay = sqlite3_column_int64(q, 5);
	s->created_at = sqlite3_column_int64(q, 6);
	s->updated_at = sqlite3_column_int64(q, 7);
	return s->groups ? 0 : -ENOMEM;
}

int store_schedule_insert(struct store *st, struct store_schedule *s)
{
	sqlite3_stmt *q = store_stmt(st, "INSERT INTO schedules (host_id, cron, groups, enabled, random_delay, "
					 "created_at, updated_at) VALUES (?,?,?,?,?,?,?)");
	int r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, s->host_id);
	store_bind_text(q, 2, s->cron);
	store_bind_text(q, 3, s->groups);
	sqlite3_bind_int(q, 4, s->enabled);
	sqlite3_bind_int64(q, 5, s->random_delay);
	sqlite3_bind_int64(q, 6, s->created_at);
	sqlite3_bind_int64(q, 7, s->created_at);
	r = store_step_done(st, q);
	if (r < 0)
		return r;
	s->id = sqlite3_last_insert_rowid(st->db);
	s->updated_at = s->created_at;
	return 0;
}

int store_schedule_update(struct store *st, const struct store_schedule *s)
{
	sqlite3_stmt *q = store_stmt(st, "UPDATE schedules SET cron = ?, groups = ?, enabled = ?, random_delay = ?, "
					 "updated_at = ? WHERE id = ? AND host_id = ?");
	int r;
	if (!q)
		return -EIO;
	store_bind_text(q, 1, s->cron);
	store_bind_text(q, 2, s->groups);
	sqlite3_bind_int(q, 3, s->enabled);
	sqlite3_bind_int64(q, 4, s->random_delay);
	sqlite3_bind_int64(q, 5, s->updated_at);
	sqlite3_bind_int64(q, 6, s->id);
	sqlite3_bind_int64(q, 7, s->host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int store_schedule_delete(struct store *st, int64_t host_id, int64_t id)
{
	sqlite3_stmt *q = store_stmt(st, "DELETE FROM schedules WHERE id = ? AND host_id = ?");
	int r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_int64(q, 2, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : r == 0 ? -ENOENT : 0;
}

int store_schedule_get(struct store *st, int64_t host_id, int64_t id, struct store_schedule *s)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT " SCHEDULE_COLS " FROM schedules WHERE host_id = ? AND id = ?");
	int rc, r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	sqlite3_bind_int64(q, 2, id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		r = schedule_row(q, s);
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	sqlite3_reset(q);
	return r;
}

int store_schedule_list(struct store *st, int64_t host_id, struct store_schedule **out, size_t *n)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT " SCHEDULE_COLS " FROM schedules WHERE host_id = ? ORDER BY id");
	struct store_schedule *v = NULL;
	size_t len = 0, cap = 0;
	int rc, r = 0;

	*out = NULL;
	*n = 0;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (len == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct store_schedule *nv = realloc(v, nc * sizeof(*v));
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		if ((r = schedule_row(q, &v[len])) < 0)
			break;
		len++;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = store_err(st, rc);
	sqlite3_reset(q);
	if (r < 0) {
		store_schedules_free(v, len);
		return r;
	}
	*out = v;
	*n = len;
	return 0;
}

int store_schedule_count_using(struct store *st, int64_t host_id, const char *group)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT count(*) FROM schedules, json_each(schedules.groups) "
					 "WHERE schedules.host_id = ? AND json_each.value = ?");
	int rc, r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	store_bind_text(q, 2, group);
	rc = sqlite3_step(q);
	r = rc == SQLITE_ROW ? sqlite3_column_int(q, 0) : store_err(st, rc);
	sqlite3_reset(q);
	return r;
}

int store_schedule_rename_group(struct store *st, int64_t host_id, const char *from, const char *to)
{
	/* Rebuild each array with the name replaced, keeping order. */
	sqlite3_stmt *q = store_stmt(st, "UPDATE schedules SET groups = (SELECT json_group_array(CASE WHEN value = ?2 "
					 "THEN ?3 ELSE value END) FROM json_each(schedules.groups)) "
					 "WHERE host_id = ?1 AND EXISTS (SELECT 1 FROM json_each(schedules.groups) "
					 "WHERE value = ?2)");
	int r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	store_bind_text(q, 2, from);
	store_bind_text(q, 3, to);
	r = store_step_done(st, q);
	return r < 0 ? r : 0;
}

/* ---- per-host schedule state ---- */

void store_sched_state_release(struct store_sched_state *s)
{
	if (!s)
		return;
	free(s->maintenance);
	memset(s, 0, sizeof(*s));
}

static int sched_state_ensure(struct store *st, int64_t host_id)
{
	sqlite3_stmt *q = store_stmt(st, "INSERT OR IGNORE INTO host_sched_state (host_id) "
					 "SELECT id FROM hosts WHERE id = ?");
	int r;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : 0;
}

int store_sched_bump_version(struct store *st, int64_t host_id, int64_t *version)
{
	sqlite3_stmt *q;
	int rc, r = sched_state_ensure(st, host_id);

	if (r < 0)
		return r;
	/* Never below what the agent already acknowledged (hosts.schedule_version). */
	q = store_stmt(st, "UPDATE host_sched_state SET version = max(version, (SELECT schedule_version FROM hosts "
			   "WHERE id = ?1)) + 1 WHERE host_id = ?1 RETURNING version");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(q, 0);
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(q);
	sqlite3_reset(q);
	return r;
}

int store_sched_state_get(struct store *st, int64_t host_id, struct store_sched_state *s)
{
	sqlite3_stmt *q;
	int rc, r = sched_state_ensure(st, host_id);

	if (r < 0)
		return r;
	q = store_stmt(st, "SELECT s.host_id, s.version, h.schedule_version, s.timezone, s.sources_ready, "
			   "s.maintenance, s.forget_last, s.prune_last, s.check_last, s.stats_last "
			   "FROM host_sched_state s JOIN hosts h ON h.id = s.host_id WHERE s.host_id = ?");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		memset(s, 0, sizeof(*s));
		s->host_id = sqlite3_column_int64(q, 0);
		s->version = sqlite3_column_int64(q, 1);
		s->applied_version = sqlite3_column_int64(q, 2);
		store_col_copy(q, 3, s->timezone, sizeof(s->timezone));
		s->sources_ready = sqlite3_column_int(q, 4) != 0;
		s->maintenance = store_col_strdup(q, 5);
		s->forget_last = col_i64_or0(q, 6);
		s->prune_last = col_i64_or0(q, 7);
		s->check_last = col_i64_or0(q, 8);
		s->stats_last = col_i64_or0(q, 9);
		r = s->maintenance ? 0 : -ENOMEM;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : store_err(st, rc);
	}
	sqlite3_reset(q);
	return r;
}

int store_sched_state_set_timezone(struct store *st, int64_t host_id, const char *tz)
{
	sqlite3_stmt *q;
	int r = sched_state_ensure(st, host_id);

	if (r < 0)
		return r;
	q = store_stmt(st, "UPDATE host_sched_state SET timezone = ? WHERE host_id = ?");
	if (!q)
		return -EIO;
	store_bind_text(q, 1, tz);
	sqlite3_bind_int64(q, 2, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : 0;
}

int store_sched_state_set_ready(struct store *st, int64_t host_id)
{
	sqlite3_stmt *q;
	int r = sched_state_ensure(st, host_id);

	if (r < 0)
		return r;
	q = store_stmt(st, "UPDATE host_sched_state SET sources_ready = 1 WHERE host_id = ?");
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : 0;
}

int store_sched_state_set_maintenance(struct store *st, int64_t host_id, const char *json)
{
	sqlite3_stmt *q;
	int r = sched_state_ensure(st, host_id);

	if (r < 0)
		return r;
	q = store_stmt(st, "UPDATE host_sched_state SET maintenance = ? WHERE host_id = ?");
	if (!q)
		return -EIO;
	store_bind_text(q, 1, json);
	sqlite3_bind_int64(q, 2, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : 0;
}

int store_sched_state_set_maint_last(struct store *st, int64_t host_id, const char *which, int64_t at)
{
	sqlite3_stmt *q;
	int r = sched_state_ensure(st, host_id);

	if (r < 0)
		return r;
	if (strcmp(which, "forget") == 0)
		q = store_stmt(st, "UPDATE host_sched_state SET forget_last = ? WHERE host_id = ?");
	else if (strcmp(which, "prune") == 0)
		q = store_stmt(st, "UPDATE host_sched_state SET prune_last = ? WHERE host_id = ?");
	else if (strcmp(which, "check") == 0)
		q = store_stmt(st, "UPDATE host_sched_state SET check_last = ? WHERE host_id = ?");
	else if (strcmp(which, "stats") == 0)
		q = store_stmt(st, "UPDATE host_sched_state SET stats_last = ? WHERE host_id = ?");
	else
		return -EINVAL;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, at);
	sqlite3_bind_int64(q, 2, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : 0;
}

int store_sched_state_set_secret(struct store *st, int64_t host_id, const unsigned char *blob, size_t len)
{
	sqlite3_stmt *q;
	int r = sched_state_ensure(st, host_id);

	if (r < 0)
		return r;
	q = store_stmt(st, "UPDATE host_sched_state SET maint_secret = ? WHERE host_id = ?");
	if (!q)
		return -EIO;
	if (blob)
		sqlite3_bind_blob(q, 1, blob, (int)len, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(q, 1);
	sqlite3_bind_int64(q, 2, host_id);
	r = store_step_done(st, q);
	return r < 0 ? r : 0;
}

int store_sched_state_get_secret(struct store *st, int64_t host_id, unsigned char **blob, size_t *len)
{
	sqlite3_stmt *q = store_stmt(st, "SELECT maint_secret FROM host_sched_state WHERE host_id = ?");
	int rc, r = 0;

	*blob = NULL;
	*len = 0;
	if (!q)
		return -EIO;
	sqlite3_bind_int64(q, 1, host_id);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(q, 0);
		int n = sqlite3_column_bytes(q, 0);
		if (b && n > 0) {
			*blob = malloc((size_t)n);
			if (*blob) {
				memcpy(*blob, b, (size_t)n);
				*len = (size_t)n;
			} else {
				r = -ENOMEM;
			}
		}
	} else if (rc != SQLITE_DONE) {
		r = store_err(st, rc);
	}
	sqlite3_reset(q);
	return r;
}

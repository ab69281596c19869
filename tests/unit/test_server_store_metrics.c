/* Unit tests for src/server/store_metrics.c (the reads behind GET /metrics,
 * on their own read-only connection) and src/server/plat_proc.c: hosts with
 * their last backup joined in (duration from restic's summary, else finish
 * minus start), repo stats (check result, locks), unknown figures left
 * unknown, deleted hosts left out, queued/running job counts, a callback
 * that stops the read, a reader that cannot write; /proc figures. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "harness.h"
#include "store_fixture.h"
#include "server/plat_proc.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_jobs.h"
#include "server/store_metrics.h"

/* A backup job of host: queued, started at t-d, finished at t with summary. */
static void backup(struct store *st, int64_t host, int i, const char *status, int64_t t, int64_t d, const char *summary)
{
	struct store_job j;
	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%032d", i);
	j.host_id = host;
	snprintf(j.kind, sizeof(j.kind), "backup");
	snprintf(j.status, sizeof(j.status), "queued");
	snprintf(j.actor, sizeof(j.actor), "user");
	j.args = (char[]){"{}"};
	j.created_at = t - d - 1;
	CHECK_EQ_INT(store_job_insert(st, &j), 0);
	CHECK_EQ_INT(store_job_set_running(st, j.id, t - d), 1);
	CHECK_EQ_INT(store_job_finish(st, j.id, status, true, 0, summary, NULL, t), 1);
	CHECK_EQ_INT(store_host_set_last_backup(st, host, j.id, status, t, !strcmp(status, "succeeded")), 0);
}

static void merge(struct store *st, int64_t host, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	CHECK(o != NULL);
	CHECK_EQ_INT(store_repo_stats_merge(st, host, o, 100), 0);
	json_decref(o);
}

#define MAX_ROWS 8
struct seen {
	size_t n;
	struct store_metrics_host h[MAX_ROWS];
	char names[MAX_ROWS][64];
	char status[MAX_ROWS][16];
	size_t stop_after; /* 0 = never */
};

static int collect(void *arg, const struct store_metrics_host *h)
{
	struct seen *s = arg;
	if (s->n == MAX_ROWS)
		return 1;
	s->h[s->n] = *h;
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", h->name);
	snprintf(s->status[s->n], sizeof(s->status[0]), "%s", h->last_backup_status);
	s->n++;
	return s->stop_after && s->n == s->stop_after ? EINTR : 0;
}

TEST(test_hosts_and_jobs)
{
	char path[128];
	struct store *st = fixture_store_open("metrics", path, sizeof(path)), *rd = NULL;
	struct seen s;
	int64_t a = 0, b = 0, c = 0, queued = -1, running = -1;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ_INT(store_host_insert(st, "alpha \"one\"", "[]", "[]", "/r", "t1", 1, &a), 0);
	CHECK_EQ_INT(store_host_insert(st, "beta", "[]", "[]", "/r", "t2", 1, &b), 0);
	CHECK_EQ_INT(store_host_insert(st, "gone", "[]", "[]", "/r", "t3", 1, &c), 0);
	CHECK_EQ_INT(store_host_set_status(st, a, "online", 5000), 0);
	/* a: an older failed backup, then the last one succeeded with a restic summary */
	backup(st, a, 1, "failed", 4000, 30, NULL);
	backup(st, a, 2, "succeeded", 4500, 70, "{\"data_added\":12345,\"total_duration\":61.5}");
	merge(st, a, "{\"raw_size\":999,\"check\":{\"ok\":true},\"locks\":[{\"id\":\"x\"}]}");
	/* b: a failed backup without summary: duration = finish - start; check failed, no locks */
	backup(st, b, 3, "failed", 4200, 40, NULL);
	merge(st, b, "{\"check\":{\"ok\":false},\"locks\":[]}");
	CHECK_EQ_INT(store_host_delete(st, c, 10), 0);
	/* one queued, one running job */
	{
		struct store_job j;
		memset(&j, 0, sizeof(j));
		snprintf(j.id, sizeof(j.id), "%032d", 9);
		j.host_id = b;
		snprintf(j.kind, sizeof(j.kind), "check");
		snprintf(j.status, sizeof(j.status), "queued");
		snprintf(j.actor, sizeof(j.actor), "user");
		j.args = (char[]){"{}"};
		CHECK_EQ_INT(store_job_insert(st, &j), 0);
		snprintf(j.id, sizeof(j.id), "%032d", 10);
		CHECK_EQ_INT(store_job_insert(st, &j), 0);
		CHECK_EQ_INT(store_job_set_running(st, j.id, 4600), 1);
	}

	CHECK_EQ_INT(store_metrics_open(path, &rd), 0);
	if (!rd) {
		fixture_store_close(st, path);
		return;
	}
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(store_metrics_read(rd, collect, &s, &queued, &running), 0);
	CHECK_EQ_INT(queued, 1);
	CHECK_EQ_INT(running, 1);
	CHECK_EQ_INT(s.n, 2); /* the deleted host is not there */
	if (s.n == 2) {
		CHECK_EQ_INT(s.h[0].id, a);
		CHECK_EQ_STR(s.names[0], "alpha \"one\"");
		CHECK(s.h[0].online && s.h[0].has_last_seen && s.h[0].last_seen_at == 5000);
		CHECK(s.h[0].has_last_backup && s.h[0].last_backup_at == 4500);
		CHECK_EQ_STR(s.status[0], "succeeded");
		CHECK(s.h[0].has_duration && s.h[0].duration > 61.4 && s.h[0].duration < 61.6);
		CHECK(s.h[0].has_added && s.h[0].added_bytes == 12345);
		CHECK(s.h[0].has_repo_size && s.h[0].repo_size == 999);
		CHECK(s.h[0].has_check && s.h[0].check_ok);
		CHECK(s.h[0].has_locks && s.h[0].locks == 1);

		CHECK_EQ_INT(s.h[1].id, b);
		CHECK(!s.h[1].online && !s.h[1].has_last_seen);
		CHECK_EQ_STR(s.status[1], "failed");
		CHECK(s.h[1].has_duration && s.h[1].duration == 40.0);
		CHECK(!s.h[1].has_added);
		CHECK(!s.h[1].has_repo_size);
		CHECK(s.h[1].has_check && !s.h[1].check_ok);
		CHECK(s.h[1].has_locks && s.h[1].locks == 0);
	}
	/* the callback can stop the read: its value comes back negated */
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	CHECK_EQ_INT(store_metrics_read(rd, collect, &s, &queued, &running), -EINTR);
	CHECK_EQ_INT(s.n, 1);
	/* and the reader sees later commits (a fresh snapshot per read) */
	{
		json_t *snaps = json_pack("[{s:s},{s:s}]", "id", "s1", "id", "s2");
		CHECK_EQ_INT(store_snapshots_replace(st, b, snaps), 0);
		json_decref(snaps);
	}
	memset(&s, 0, sizeof(s));
	CHECK_EQ_INT(store_metrics_read(rd, collect, &s, &queued, &running), 0);
	CHECK(s.n == 2 && s.h[1].snapshot_count == 2);
	store_metrics_close(rd);
	fixture_store_close(st, path);
}

TEST(test_reader_is_read_only)
{
	char path[128];
	struct store *st = fixture_store_open("metrics", path, sizeof(path)), *rd = NULL;
	int64_t a = 0;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ_INT(store_host_insert(st, "x", "[]", "[]", "/r", "t1", 1, &a), 0);
	CHECK_EQ_INT(store_metrics_open(path, &rd), 0);
	/* the same SQL helpers on the reader: any write is refused */
	CHECK_EQ_INT(store_host_touch(rd, a, 77), -EIO);
	store_metrics_close(rd);
	CHECK_EQ_INT(store_metrics_open("/nonexistent-dir/x.db", &rd), -EIO);
	CHECK(rd == NULL);
	store_metrics_close(NULL);
	fixture_store_close(st, path);
}

TEST(test_proc_figures)
{
	struct plat_proc_stats ps;
	plat_proc_read(&ps);
	CHECK(ps.has_rss && ps.rss_bytes > 100 * 1024);
	CHECK(ps.has_fds && ps.open_fds >= 3);
	CHECK(ps.has_start);
	CHECK(ps.start_time <= (double)time(NULL) + 1 && ps.start_time > (double)time(NULL) - 3600);
}

static const struct harness_case cases[] = {
    CASE(test_hosts_and_jobs),
    CASE(test_reader_is_read_only),
    CASE(test_proc_figures),
};
HARNESS_MAIN(cases)

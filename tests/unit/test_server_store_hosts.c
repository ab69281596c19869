/* Unit tests for the host settings and fleet figures of
 * src/server/store_hosts.c on a temporary database: partial settings
 * updates (NULL / negative = keep), repo_stats mirrored into repo_size and
 * check_failed (a stats merge without those fields keeps them), and the
 * fleet summary (problems, repository size, failures since a time, deleted
 * hosts not counted). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "store_fixture.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_jobs.h"

static void merge(struct store *st, int64_t host, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	CHECK(o != NULL);
	CHECK_EQ_INT(store_repo_stats_merge(st, host, o, 100), 0);
	json_decref(o);
}

static void job(struct store *st, int64_t host, int i, const char *status, int64_t finished_at)
{
	struct store_job j;
	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%032d", i);
	j.host_id = host;
	snprintf(j.kind, sizeof(j.kind), "backup");
	snprintf(j.status, sizeof(j.status), "queued");
	snprintf(j.actor, sizeof(j.actor), "user");
	j.args = (char[]){"{}"};
	j.created_at = finished_at - 10;
	CHECK_EQ_INT(store_job_insert(st, &j), 0);
	if (strcmp(status, "queued") != 0)
		CHECK_EQ_INT(store_job_set_running(st, j.id, finished_at - 5), 1);
	if (strcmp(status, "queued") != 0 && strcmp(status, "running") != 0)
		CHECK_EQ_INT(store_job_finish(st, j.id, status, true, 1, NULL, NULL, finished_at), 1);
}

TEST(test_settings_update)
{
	char path[128];
	struct store *st = fixture_store_open("hosts", path, sizeof(path));
	struct store_host h;
	int64_t id = 0;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ_INT(store_host_insert(st, "web", "[\"a\"]", "[]", "/r", "t1", 1, &id), 0);
	CHECK_EQ_INT(store_host_get(st, id, &h), 0);
	CHECK_EQ_INT(h.limit_upload_kib, 0);
	CHECK_EQ_INT(h.limit_download_kib, 0);
	CHECK(!h.has_repo_size && !h.check_failed);
	store_host_release(&h);
	/* limits only: name and tags kept */
	CHECK_EQ_INT(store_host_update_settings(st, id, NULL, NULL, 300, -1), 0);
	CHECK_EQ_INT(store_host_get(st, id, &h), 0);
	CHECK_EQ_STR(h.name, "web");
	CHECK_EQ_STR(h.tags, "[\"a\"]");
	CHECK_EQ_INT(h.limit_upload_kib, 300);
	CHECK_EQ_INT(h.limit_download_kib, 0);
	store_host_release(&h);
	/* name and tags only: limits kept; 0 is a value, not "keep" */
	CHECK_EQ_INT(store_host_update_settings(st, id, "Web (1)", "[]", -1, 0), 0);
	CHECK_EQ_INT(store_host_get(st, id, &h), 0);
	CHECK_EQ_STR(h.name, "Web (1)");
	CHECK_EQ_STR(h.tags, "[]");
	CHECK_EQ_INT(h.limit_upload_kib, 300);
	store_host_release(&h);
	CHECK_EQ_INT(store_host_update_settings(st, id + 1, "x", NULL, -1, -1), -ENOENT);
	CHECK_EQ_INT(store_host_delete(st, id, 5), 0);
	CHECK_EQ_INT(store_host_update_settings(st, id, "x", NULL, -1, -1), -ENOENT);
	fixture_store_close(st, path);
}

TEST(test_fleet_figures)
{
	char path[128];
	struct store *st = fixture_store_open("hosts", path, sizeof(path));
	struct store_fleet f;
	struct store_host h;
	int64_t a = 0, b = 0, c = 0;

	CHECK(st != NULL);
	if (!st)
		return;
	CHECK_EQ_INT(store_host_insert(st, "a", "[]", "[]", "/r", "t1", 1, &a), 0);
	CHECK_EQ_INT(store_host_insert(st, "b", "[]", "[]", "/r", "t2", 1, &b), 0);
	CHECK_EQ_INT(store_host_insert(st, "c", "[]", "[]", "/r", "t3", 1, &c), 0);
	CHECK_EQ_INT(store_fleet_summary(st, 0, &f), 0);
	CHECK_EQ_INT(f.hosts, 3);
	CHECK_EQ_INT(f.repo_size, 0);
	CHECK_EQ_INT(f.problems, 0);
	CHECK_EQ_INT(f.jobs_failed_since, 0);

	merge(st, a, "{\"raw_size\": 1000, \"check\": {\"ok\": false}}");
	merge(st, b, "{\"raw_size\": 24}");
	merge(st, a, "{\"total_size\": 5}"); /* no raw_size, no check: both kept */
	CHECK_EQ_INT(store_host_get(st, a, &h), 0);
	CHECK(h.has_repo_size && h.repo_size == 1000 && h.check_failed);
	store_host_release(&h);
	CHECK_EQ_INT(store_fleet_summary(st, 0, &f), 0);
	CHECK_EQ_INT(f.repo_size, 1024);
	CHECK_EQ_INT(f.problems, 1);
	/* a failed last backup is a problem too; a host counts once */
	CHECK_EQ_INT(store_host_set_last_backup(st, a, "x", "failed", 50, false), 0);
	CHECK_EQ_INT(store_host_set_last_backup(st, c, "y", "failed", 50, false), 0);
	CHECK_EQ_INT(store_fleet_summary(st, 0, &f), 0);
	CHECK_EQ_INT(f.problems, 2);
	CHECK_EQ_INT(f.backup_failed, 2);
	merge(st, a, "{\"check\": {\"ok\": true}}");
	CHECK_EQ_INT(store_host_set_last_backup(st, c, "z", "succeeded", 60, true), 0);
	CHECK_EQ_INT(store_fleet_summary(st, 0, &f), 0);
	CHECK_EQ_INT(f.problems, 1); /* a: backup still failed */

	/* failures counted from `since`, by finish time; other states not */
	job(st, a, 1, "failed", 1000);
	job(st, a, 2, "failed", 2000);
	job(st, b, 3, "failed", 3000);
	job(st, b, 4, "succeeded", 3000);
	job(st, b, 5, "running", 3000);
	job(st, c, 6, "queued", 3000);
	CHECK_EQ_INT(store_fleet_summary(st, 1500, &f), 0);
	CHECK_EQ_INT(f.jobs_failed_since, 2);
	CHECK_EQ_INT(f.jobs_running, 1);
	CHECK_EQ_INT(f.jobs_queued, 1);
	CHECK_EQ_INT(store_fleet_summary(st, 3001, &f), 0);
	CHECK_EQ_INT(f.jobs_failed_since, 0);

	/* a deleted host's size and problems leave the summary */
	CHECK_EQ_INT(store_host_delete(st, a, 5), 0);
	CHECK_EQ_INT(store_fleet_summary(st, 0, &f), 0);
	CHECK_EQ_INT(f.hosts, 2);
	CHECK_EQ_INT(f.repo_size, 24);
	CHECK_EQ_INT(f.problems, 0);
	fixture_store_close(st, path);
}

static const struct harness_case cases[] = {
	{"test_settings_update", test_settings_update},
	{"test_fleet_figures", test_fleet_figures},
};

HARNESS_MAIN(cases)

/* Unit tests for src/server/store_sources.c on a temporary database: group
 * uniqueness and lookups by id/name, schedules that name groups (count,
 * rename inside the JSON arrays), the desired version kept above the
 * acknowledged one, per-host state defaults, maintenance fields and the
 * sealed-secret column, cascade on host removal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "store_fixture.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_sources.h"

static int64_t add_group(struct store *st, int64_t host, const char *name)
{
	struct store_source s;
	memset(&s, 0, sizeof(s));
	s.host_id = host;
	snprintf(s.name, sizeof(s.name), "%s", name);
	s.paths = (char[]){"[\"/srv\"]"};
	s.excludes = (char[]){"[]"};
	s.retention = (char[]){"{\"keep_last\":3}"};
	s.retry_backoff = 300;
	s.created_at = 1000;
	int r = store_source_insert(st, &s);
	return r < 0 ? r : s.id;
}

static int64_t add_schedule(struct store *st, int64_t host, const char *cron, const char *groups)
{
	struct store_schedule s;
	memset(&s, 0, sizeof(s));
	s.host_id = host;
	snprintf(s.cron, sizeof(s.cron), "%s", cron);
	s.groups = (char *)(uintptr_t)groups;
	s.enabled = true;
	s.created_at = 1000;
	int r = store_schedule_insert(st, &s);
	return r < 0 ? r : s.id;
}

TEST(test_groups_and_schedules)
{
	char path[128];
	struct store *st = fixture_store_open("sources", path, sizeof(path));
	struct store_source g, *gs = NULL;
	struct store_schedule sc, *ss = NULL;
	size_t n = 0;
	int64_t h1 = 0, h2 = 0;

	if (!st)
		return;
	CHECK_EQ_INT(store_host_insert(st, "a", "[]", "[]", "/r", "t1", 1, &h1), 0);
	CHECK_EQ_INT(store_host_insert(st, "b", "[]", "[]", "/r", "t2", 1, &h2), 0);
	int64_t db = add_group(st, h1, "db");
	CHECK(db > 0);
	CHECK(add_group(st, h1, "web") > 0);
	CHECK_EQ_INT(add_group(st, h1, "db"), -EEXIST);
	CHECK(add_group(st, h2, "db") > 0); /* names are per host */

	CHECK_EQ_INT(store_source_get(st, h1, 0, "db", &g), 0);
	CHECK_EQ_INT(g.id, db);
	CHECK_EQ_STR(g.retention, "{\"keep_last\":3}");
	CHECK(g.hooks == NULL);
	store_source_release(&g);
	CHECK_EQ_INT(store_source_get(st, h2, db, NULL, &g), -ENOENT); /* another host's id */
	CHECK_EQ_INT(store_source_set_hooks(st, db, (const unsigned char *)"sealed", 6), 0);
	CHECK_EQ_INT(store_source_get(st, h1, db, NULL, &g), 0);
	CHECK_EQ_INT(g.hooks_len, 6);
	CHECK(g.hooks && memcmp(g.hooks, "sealed", 6) == 0);
	store_source_release(&g);
	CHECK_EQ_INT(store_source_list(st, h1, &gs, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_STR(gs[0].name, "db");
	store_sources_free(gs, n);

	int64_t s1 = add_schedule(st, h1, "0 3 * * *", "[\"db\",\"web\"]");
	int64_t s2 = add_schedule(st, h1, "@hourly", "[\"web\"]");
	CHECK(s1 > 0 && s2 > 0);
	CHECK_EQ_INT(store_schedule_count_using(st, h1, "db"), 1);
	CHECK_EQ_INT(store_schedule_count_using(st, h1, "web"), 2);
	CHECK_EQ_INT(store_schedule_count_using(st, h2, "web"), 0);
	CHECK_EQ_INT(store_schedule_rename_group(st, h1, "web", "www"), 0);
	CHECK_EQ_INT(store_schedule_get(st, h1, s1, &sc), 0);
	CHECK_EQ_STR(sc.groups, "[\"db\",\"www\"]");
	store_schedule_release(&sc);
	CHECK_EQ_INT(store_schedule_get(st, h2, s1, &sc), -ENOENT);
	CHECK_EQ_INT(store_schedule_list(st, h1, &ss, &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(ss[0].id, s1);
	store_schedules_free(ss, n);
	CHECK_EQ_INT(store_schedule_delete(st, h1, s2), 0);
	CHECK_EQ_INT(store_schedule_delete(st, h1, s2), -ENOENT);
	CHECK_EQ_INT(store_source_delete(st, h1, db), 0);
	CHECK_EQ_INT(store_source_delete(st, h1, db), -ENOENT);
	fixture_store_close(st, path);
}

TEST(test_state_versions_and_maintenance)
{
	char path[128];
	struct store *st = fixture_store_open("sources", path, sizeof(path));
	struct store_sched_state s;
	unsigned char *blob = NULL;
	size_t len = 0;
	int64_t h = 0, v = 0;

	if (!st)
		return;
	CHECK_EQ_INT(store_host_insert(st, "a", "[]", "[]", "/r", "t1", 1, &h), 0);
	CHECK_EQ_INT(store_sched_state_get(st, h, &s), 0);
	CHECK_EQ_INT(s.version, 0);
	CHECK_EQ_INT(s.applied_version, 0);
	CHECK(!s.sources_ready);
	CHECK_EQ_STR(s.timezone, "");
	CHECK_EQ_STR(s.maintenance, "{}");
	store_sched_state_release(&s);
	CHECK_EQ_INT(store_sched_state_get(st, 999, &s), -ENOENT);

	CHECK_EQ_INT(store_sched_bump_version(st, h, &v), 0);
	CHECK_EQ_INT(v, 1);
	/* The agent acknowledged a higher version (e.g. a restored database): stay above it. */
	CHECK_EQ_INT(store_host_set_schedule_version(st, h, 7), 0);
	CHECK_EQ_INT(store_sched_bump_version(st, h, &v), 0);
	CHECK_EQ_INT(v, 8);
	CHECK_EQ_INT(store_sched_state_set_timezone(st, h, "Europe/Berlin"), 0);
	CHECK_EQ_INT(store_sched_state_set_ready(st, h), 0);
	CHECK_EQ_INT(store_sched_state_set_maintenance(st, h, "{\"prune\":{\"enabled\":false}}"), 0);
	CHECK_EQ_INT(store_sched_state_set_maint_last(st, h, "check", 1234), 0);
	CHECK_EQ_INT(store_sched_state_set_maint_last(st, h, "defrag", 1), -EINVAL);
	CHECK_EQ_INT(store_sched_state_get(st, h, &s), 0);
	CHECK_EQ_INT(s.version, 8);
	CHECK_EQ_INT(s.applied_version, 7);
	CHECK(s.sources_ready);
	CHECK_EQ_STR(s.timezone, "Europe/Berlin");
	CHECK_EQ_INT(s.check_last, 1234);
	CHECK_EQ_INT(s.prune_last, 0);
	store_sched_state_release(&s);

	CHECK_EQ_INT(store_sched_state_get_secret(st, h, &blob, &len), 0);
	CHECK(blob == NULL);
	CHECK_EQ_INT(store_sched_state_set_secret(st, h, (const unsigned char *)"xyz", 3), 0);
	CHECK_EQ_INT(store_sched_state_get_secret(st, h, &blob, &len), 0);
	CHECK_EQ_INT(len, 3);
	free(blob);
	CHECK_EQ_INT(store_sched_state_set_secret(st, h, NULL, 0), 0);
	CHECK_EQ_INT(store_sched_state_get_secret(st, h, &blob, &len), 0);
	CHECK(blob == NULL);
	fixture_store_close(st, path);
}

static const struct harness_case cases[] = {CASE(test_groups_and_schedules), CASE(test_state_versions_and_maintenance)};
HARNESS_MAIN(cases)

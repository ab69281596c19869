/* Unit tests for src/server/store_alerts.c on a temporary database: one open
 * alert per (host, kind, subject) — opening again touches it; resolving by
 * subject or by kind; open counts per host page and in total (deleted hosts
 * not counted, their alerts resolved by store_alert_resolve_deleted); list
 * filters and paging; the overdue batch view; channels and the bounded
 * delivery log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "store_fixture.h"
#include "server/store.h"
#include "server/store_alerts.h"
#include "server/store_hosts.h"
#include "server/store_sources.h"

static int64_t host(struct store *st, const char *name)
{
	int64_t id = 0;
	CHECK_EQ_INT(store_host_insert(st, name, "[]", "[]", "/r", NULL, 1000, &id), 0);
	return id;
}

TEST(test_open_touch_resolve_count)
{
	char path[256];
	struct store *st = fixture_store_open("alerts", path, sizeof(path));
	int64_t h1, h2, h3, id, id2, total = -1, *ids = NULL, counts[3], hosts[3];
	struct store_alert a;
	bool opened;
	size_t n = 0;

	if (!st)
		return;
	h1 = host(st, "a");
	h2 = host(st, "b");
	h3 = host(st, "c");
	CHECK_EQ_INT(store_alert_open(st, h1, "backup_failed", "default", "m1", "j1", 2000, &id, &opened), 0);
	CHECK(opened);
	/* again while open: the same row, touched */
	CHECK_EQ_INT(store_alert_open(st, h1, "backup_failed", "default", "m2", NULL, 2100, &id2, &opened), 0);
	CHECK(!opened);
	CHECK_EQ_INT(id2, id);
	CHECK_EQ_INT(store_alert_get(st, id, &a), 0);
	CHECK_EQ_STR(a.message, "m2");
	CHECK_EQ_STR(a.job_id, "j1"); /* kept when the repeat names no job */
	CHECK_EQ_STR(a.host_name, "a");
	CHECK_EQ_INT(a.opened_at, 2000);
	CHECK_EQ_INT(a.last_seen_at, 2100);
	CHECK_EQ_INT(a.occurrences, 2);
	CHECK_EQ_INT(a.resolved_at, 0);
	/* another subject is another alert */
	CHECK_EQ_INT(store_alert_open(st, h1, "backup_failed", "db", "m3", NULL, 2200, &id2, &opened), 0);
	CHECK(opened && id2 != id);
	CHECK_EQ_INT(store_alert_open(st, h2, "agent_offline", "", "gone", NULL, 2300, &id2, &opened), 0);
	CHECK_EQ_INT(store_alert_is_open(st, h2, "agent_offline"), 1);
	CHECK_EQ_INT(store_alert_is_open(st, h3, "agent_offline"), 0);
	CHECK_EQ_INT(store_alert_count_open(st, &total), 0);
	CHECK_EQ_INT(total, 3);
	hosts[0] = h1;
	hosts[1] = h2;
	hosts[2] = h3;
	CHECK_EQ_INT(store_alert_count_open_hosts(st, hosts, 3, counts), 0);
	CHECK_EQ_INT(counts[0], 2);
	CHECK_EQ_INT(counts[1], 1);
	CHECK_EQ_INT(counts[2], 0);
	/* resolve one subject */
	CHECK_EQ_INT(store_alert_resolve(st, h1, "backup_failed", "default", 3000, &ids, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK(ids && ids[0] == id);
	free(ids);
	CHECK_EQ_INT(store_alert_get(st, id, &a), 0);
	CHECK_EQ_INT(a.resolved_at, 3000);
	/* resolving what is not open changes nothing */
	CHECK_EQ_INT(store_alert_resolve(st, h1, "backup_failed", "default", 3100, &ids, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(ids);
	/* reopening after the resolution makes a new row */
	CHECK_EQ_INT(store_alert_open(st, h1, "backup_failed", "default", "m4", NULL, 3200, &id2, &opened), 0);
	CHECK(opened && id2 != id);
	/* every subject of a kind */
	CHECK_EQ_INT(store_alert_resolve(st, h1, "backup_failed", NULL, 3300, &ids, &n), 0);
	CHECK_EQ_INT(n, 2);
	free(ids);
	/* a deleted host: not counted, resolved by the sweep */
	CHECK_EQ_INT(store_host_delete(st, h2, 3400), 0);
	CHECK_EQ_INT(store_alert_count_open(st, &total), 0);
	CHECK_EQ_INT(total, 0);
	CHECK_EQ_INT(store_alert_resolve_deleted(st, 3500), 1);
	CHECK_EQ_INT(store_alert_is_open(st, h2, "agent_offline"), 0);
	/* purge keeps what was resolved recently */
	CHECK_EQ_INT(store_alert_purge(st, 3250), 1);
	fixture_store_close(st, path);
}

TEST(test_list_filters_and_paging)
{
	char path[256];
	struct store *st = fixture_store_open("alerts", path, sizeof(path));
	struct store_alert *as = NULL;
	int64_t h1, h2, id, *ids = NULL;
	size_t n = 0;
	bool opened;

	if (!st)
		return;
	h1 = host(st, "a");
	h2 = host(st, "b");
	for (int i = 0; i < 5; i++) {
		char subj[8];
		snprintf(subj, sizeof(subj), "g%d", i);
		CHECK_EQ_INT(
		    store_alert_open(st, i % 2 ? h2 : h1, "backup_failed", subj, "m", NULL, 100 + i, &id, &opened), 0);
	}
	CHECK_EQ_INT(store_alert_resolve(st, h1, "backup_failed", "g0", 200, &ids, &n), 0);
	free(ids);
	CHECK_EQ_INT(store_alert_list(st, -1, 0, 0, 10, &as, &n), 0);
	CHECK_EQ_INT(n, 5);
	CHECK(n == 5 && as[0].id > as[4].id); /* newest first */
	free(as);
	CHECK_EQ_INT(store_alert_list(st, 1, 0, 0, 10, &as, &n), 0);
	CHECK_EQ_INT(n, 4);
	free(as);
	CHECK_EQ_INT(store_alert_list(st, 0, 0, 0, 10, &as, &n), 0);
	CHECK(n == 1 && strcmp(as[0].subject, "g0") == 0);
	free(as);
	CHECK_EQ_INT(store_alert_list(st, -1, h2, 0, 10, &as, &n), 0);
	CHECK_EQ_INT(n, 2);
	free(as);
	CHECK_EQ_INT(store_alert_list(st, -1, 0, 0, 2, &as, &n), 0);
	CHECK_EQ_INT(n, 2);
	id = n == 2 ? as[1].id : 0;
	free(as);
	CHECK_EQ_INT(store_alert_list(st, -1, 0, id, 10, &as, &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK(n == 3 && as[0].id < id);
	free(as);
	fixture_store_close(st, path);
}

TEST(test_overdue_batch)
{
	char path[256];
	struct store *st = fixture_store_open("alerts", path, sizeof(path));
	struct store_overdue_host *hs = NULL;
	struct store_schedule s;
	int64_t h1, h2, id;
	size_t n = 0;
	bool opened;

	if (!st)
		return;
	h1 = host(st, "a");
	h2 = host(st, "b");
	memset(&s, 0, sizeof(s));
	s.host_id = h1;
	snprintf(s.cron, sizeof(s.cron), "0 3 * * *");
	s.groups = (char[]){"[\"default\"]"};
	s.enabled = true;
	s.created_at = s.updated_at = 5000;
	CHECK_EQ_INT(store_schedule_insert(st, &s), 0);
	snprintf(s.cron, sizeof(s.cron), "0 * * * *");
	s.enabled = false; /* disabled: not part of the interval */
	s.updated_at = 6000;
	CHECK_EQ_INT(store_schedule_insert(st, &s), 0);
	CHECK_EQ_INT(store_alert_open(st, h1, "backup_overdue", "", "late", NULL, 7000, &id, &opened), 0);
	CHECK_EQ_INT(store_alert_overdue_batch(st, 0, 10, &hs, &n), 0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_INT(hs[0].id, h1);
		CHECK_EQ_STR(hs[0].crons, "0 3 * * *");
		CHECK_EQ_INT(hs[0].schedules_changed_at, 5000);
		CHECK(hs[0].overdue_open);
		CHECK_EQ_INT(hs[1].id, h2);
		CHECK(hs[1].crons == NULL);
		CHECK(!hs[1].overdue_open);
	}
	store_overdue_hosts_free(hs, n);
	/* paging by id */
	CHECK_EQ_INT(store_alert_overdue_batch(st, h1, 10, &hs, &n), 0);
	CHECK(n == 1 && hs[0].id == h2);
	store_overdue_hosts_free(hs, n);
	fixture_store_close(st, path);
}

TEST(test_channels_and_delivery_log)
{
	char path[256];
	struct store *st = fixture_store_open("alerts", path, sizeof(path));
	struct store_channel c, got, dup;
	struct store_delivery d, *ds = NULL;
	unsigned char blob[4] = {1, 2, 3, 4};
	size_t n = 0;

	if (!st)
		return;
	memset(&c, 0, sizeof(c));
	snprintf(c.name, sizeof(c.name), "hook");
	snprintf(c.kind, sizeof(c.kind), "webhook");
	c.enabled = c.on_resolve = true;
	c.config = (char[]){"{\"url\":\"http://x\"}"};
	c.alert_kinds = (char[]){"[]"};
	c.created_at = 10;
	CHECK_EQ_INT(store_channel_insert(st, &c), 0);
	dup = c;
	CHECK_EQ_INT(store_channel_insert(st, &dup), -EEXIST);
	CHECK_EQ_INT(store_channel_set_secret(st, c.id, blob, sizeof(blob)), 0);
	CHECK_EQ_INT(store_channel_get(st, c.id, &got), 0);
	CHECK(got.secret_len == 4 && got.secret && memcmp(got.secret, blob, 4) == 0);
	CHECK_EQ_STR(got.config, "{\"url\":\"http://x\"}");
	store_channel_release(&got);
	CHECK_EQ_INT(store_channel_set_secret(st, c.id, NULL, 0), 0);
	CHECK_EQ_INT(store_channel_get(st, c.id, &got), 0);
	CHECK(got.secret == NULL);
	store_channel_release(&got);
	memset(&d, 0, sizeof(d));
	d.channel_id = c.id;
	snprintf(d.event, sizeof(d.event), "test");
	snprintf(d.outcome, sizeof(d.outcome), "ok");
	d.attempts = 1;
	for (int i = 0; i < 7; i++) {
		d.at = 100 + i;
		CHECK_EQ_INT(store_delivery_insert(st, &d), 0);
	}
	CHECK_EQ_INT(store_delivery_trim(st, c.id, 5), 2);
	CHECK_EQ_INT(store_delivery_list(st, c.id, 0, 10, &ds, &n), 0);
	CHECK_EQ_INT(n, 5);
	CHECK(n == 5 && ds[0].at == 106 && ds[4].at == 102 && ds[0].alert_id == 0 && ds[0].http_status == 0);
	free(ds);
	/* deleting the channel takes its log along */
	CHECK_EQ_INT(store_channel_delete(st, c.id), 0);
	CHECK_EQ_INT(store_channel_delete(st, c.id), -ENOENT);
	CHECK_EQ_INT(store_delivery_list(st, c.id, 0, 10, &ds, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(ds);
	fixture_store_close(st, path);
}

static const struct harness_case cases[] = {
    CASE(test_open_touch_resolve_count),
    CASE(test_list_filters_and_paging),
    CASE(test_overdue_batch),
    CASE(test_channels_and_delivery_log),
};
HARNESS_MAIN(cases)

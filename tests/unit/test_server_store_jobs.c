/* Unit tests for src/server/store_hosts.c and store_jobs.c on a temporary
 * database: enrolment tokens (expiry, single use), the command queue (seq,
 * ack, dropping an undelivered run), event idempotency, job lists with every
 * filter combination and the cursor, final states, log lines, snapshots. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "store_fixture.h"
#include "server/store.h"
#include "server/store_hosts.h"
#include "server/store_jobs.h"

static int64_t add_host(struct store *st, const char *name, const char *token_hash)
{
	int64_t id = 0;
	CHECK_EQ_INT(store_host_insert(st, name, "[]", "[\"/srv\"]", "/repo", token_hash, 100, &id), 0);
	return id;
}

TEST(test_enrollment_tokens)
{
	char path[128];
	struct store *st = fixture_store_open("jobs", path, sizeof(path));
	struct store_enrollment e;
	int64_t id = 0;
	if (!st)
		return;
	CHECK_EQ_INT(store_enroll_insert(st, "h1", "web-1", "[]", "[]", "/repo", "admin", 1000, 4600, &id), 0);
	CHECK_EQ_INT(store_enroll_set_secret(st, id, (const unsigned char *)"blob", 4), 0);
	CHECK_EQ_INT(store_enroll_find(st, "h1", 4600, &e), -ENOENT); /* expired */
	CHECK_EQ_INT(store_enroll_find(st, "nope", 2000, &e), -ENOENT);
	CHECK_EQ_INT(store_enroll_find(st, "h1", 2000, &e), 0);
	CHECK_EQ_STR(e.hostname, "web-1");
	CHECK_EQ_INT(e.secret_len, 4);
	store_enrollment_release(&e);
	int64_t host = add_host(st, "web-1", "agent1");
	CHECK_EQ_INT(store_enroll_mark_used(st, id, host, 2000), 0);
	CHECK_EQ_INT(store_enroll_mark_used(st, id, host, 2001), -ENOENT); /* once */
	CHECK_EQ_INT(store_enroll_find(st, "h1", 2000, &e), -ENOENT);
	fixture_store_close(st, path);
}

TEST(test_command_queue)
{
	char path[128];
	struct store *st = fixture_store_open("jobs", path, sizeof(path));
	json_t *cmds = NULL, *c1 = json_pack("{s:s,s:s}", "type", "run", "job_id", "a");
	int64_t h, seq = 0, found = 0;
	if (!st)
		return;
	h = add_host(st, "h", "t1");
	CHECK_EQ_INT(store_cmd_enqueue(st, h, "run", "a", c1, 1, &seq), 0);
	CHECK_EQ_INT(seq, 1);
	CHECK_EQ_INT(store_cmd_enqueue(st, h, "run", "b", c1, 1, &seq), 0);
	CHECK_EQ_INT(seq, 2);
	CHECK_EQ_INT(store_cmd_enqueue(st, 999, "run", "b", c1, 1, &seq), -ENOENT);
	CHECK_EQ_INT(store_cmd_list(st, h, 0, 100, &cmds), 0);
	CHECK_EQ_INT(json_array_size(cmds), 2);
	CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(cmds, 1), "seq")), 2);
	json_decref(cmds);
	CHECK_EQ_INT(store_cmd_ack(st, h, 1), 0);
	CHECK_EQ_INT(store_cmd_drop_run(st, h, "a"), 0); /* delivered: stays with the agent */
	CHECK_EQ_INT(store_cmd_drop_run(st, h, "b"), 1); /* undelivered: dropped */
	CHECK_EQ_INT(store_cmd_list(st, h, 0, 100, &cmds), 0);
	CHECK_EQ_INT(json_array_size(cmds), 0);
	json_decref(cmds);
	/* seqs keep growing after acks */
	CHECK_EQ_INT(store_cmd_enqueue(st, h, "cancel", "b", c1, 1, &seq), 0);
	CHECK_EQ_INT(seq, 3);
	/* events: once per (host, seq) */
	CHECK_EQ_INT(store_event_insert(st, h, 5, "job.log", "a", NULL, 1), 1);
	CHECK_EQ_INT(store_event_insert(st, h, 5, "job.log", "a", NULL, 1), 0);
	CHECK_EQ_INT(store_host_set_last_event_seq(st, h, 5), 0);
	CHECK_EQ_INT(store_host_set_last_event_seq(st, h, 3), 0);
	{
		struct store_host hh;
		CHECK_EQ_INT(store_host_get(st, h, &hh), 0);
		found = hh.last_event_seq;
		store_host_release(&hh);
	}
	CHECK_EQ_INT(found, 5);
	/* a deleted host has no token and no commands */
	CHECK_EQ_INT(store_host_delete(st, h, 10), 0);
	CHECK_EQ_INT(store_host_by_token(st, "t1", &found), -ENOENT);
	CHECK_EQ_INT(store_host_delete(st, h, 10), -ENOENT);
	json_decref(c1);
	fixture_store_close(st, path);
}

static void add_job(struct store *st, const char *id, int64_t host, const char *kind, const char *status)
{
	struct store_job j;
	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%s", id);
	j.host_id = host;
	snprintf(j.kind, sizeof(j.kind), "%s", kind);
	snprintf(j.status, sizeof(j.status), "%s", status);
	snprintf(j.actor, sizeof(j.actor), "user");
	j.created_at = 100;
	CHECK_EQ_INT(store_job_insert(st, &j), 0);
}

static size_t list_n(struct store *st, int64_t host, const char *status, const char *kind, int64_t before)
{
	struct store_job *js = NULL;
	size_t n = 0;
	CHECK_EQ_INT(store_job_list(st, host, status, kind, before, 100, &js, &n), 0);
	store_jobs_free(js, n);
	return n;
}

TEST(test_jobs)
{
	char path[128], id[40];
	struct store *st = fixture_store_open("jobs", path, sizeof(path));
	struct store_job *js = NULL, j;
	size_t n = 0;
	int64_t h1, h2, count = 0;
	if (!st)
		return;
	h1 = add_host(st, "a", "ta");
	h2 = add_host(st, "b", "tb");
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "%032x", i);
		add_job(st, id, i % 2 ? h2 : h1, i % 3 ? "backup" : "check", i < 5 ? "succeeded" : "queued");
	}
	memset(&j, 0, sizeof(j));
	snprintf(j.id, sizeof(j.id), "%032x", 0);
	j.host_id = h1;
	snprintf(j.kind, sizeof(j.kind), "init");
	snprintf(j.status, sizeof(j.status), "queued");
	snprintf(j.actor, sizeof(j.actor), "user");
	CHECK_EQ_INT(store_job_insert(st, &j), -EEXIST); /* ids are unique */
	CHECK_EQ_INT(list_n(st, 0, NULL, NULL, 0), 10);
	CHECK_EQ_INT(list_n(st, h1, NULL, NULL, 0), 5);
	CHECK_EQ_INT(list_n(st, 0, "queued", NULL, 0), 5);
	CHECK_EQ_INT(list_n(st, 0, NULL, "check", 0), 4);
	CHECK_EQ_INT(list_n(st, h1, "queued", NULL, 0), 2);
	CHECK_EQ_INT(list_n(st, h2, NULL, "backup", 0), 3);
	CHECK_EQ_INT(list_n(st, 0, "succeeded", "check", 0), 2);
	CHECK_EQ_INT(list_n(st, h1, "succeeded", "check", 0), 1);
	/* newest first, cursor continues */
	CHECK_EQ_INT(store_job_list(st, 0, NULL, NULL, 0, 3, &js, &n), 0);
	CHECK_EQ_INT(n, 3);
	if (n == 3) {
		CHECK_EQ_STR(js[0].id, "00000000000000000000000000000009");
		CHECK_EQ_INT(list_n(st, 0, NULL, NULL, js[2].rid), 7);
	}
	store_jobs_free(js, n);
	/* queued → running → final; a final job never changes */
	CHECK_EQ_INT(store_job_set_running(st, "00000000000000000000000000000005", 200), 1);
	CHECK_EQ_INT(store_job_set_running(st, "00000000000000000000000000000005", 201), 0);
	CHECK_EQ_INT(store_job_finish(st, "00000000000000000000000000000005", "warning", true, 3, "{}", NULL, 300), 1);
	CHECK_EQ_INT(store_job_finish(st, "00000000000000000000000000000005", "failed", true, 1, NULL, "x", 301), 0);
	CHECK_EQ_INT(store_job_get(st, "00000000000000000000000000000005", &j), 0);
	CHECK_EQ_STR(j.status, "warning");
	CHECK(j.has_exit_code && j.exit_code == 3);
	CHECK_EQ_INT(j.finished_at, 300);
	/* log lines */
	CHECK_EQ_INT(store_job_log_insert(st, j.rid, 1, "t", "stdout", "one"), 0);
	CHECK_EQ_INT(store_job_log_insert(st, j.rid, 2, "t", "stderr", "two"), 0);
	CHECK_EQ_INT(store_job_set_log_lines(st, j.rid, 2), 0);
	store_job_release(&j);
	CHECK_EQ_INT(store_job_cancel_host(st, h2, "host deleted", 400), 2);
	CHECK_EQ_INT(list_n(st, h2, "cancelled", NULL, 0), 2);
	(void)count;
	fixture_store_close(st, path);
}

/* Queued jobs whose run command was acknowledged (gone from the queue) are
 * the candidates hello may fail as lost; a failure for that reason, like
 * "agent restarted", still yields to the agent's own job.finished. */
TEST(test_delivered_queued_jobs)
{
	char path[128], a[33], b[33], c[33];
	struct store *st = fixture_store_open("jobs", path, sizeof(path));
	char(*ids)[STORE_JOB_ID_LEN + 1] = NULL;
	size_t n = 9;
	int64_t h, h2, seq = 0;
	struct store_job j;
	json_t *cmd = json_object();
	if (!st)
		return;
	h = add_host(st, "h", "t1");
	h2 = add_host(st, "h2", "t2");
	snprintf(a, sizeof(a), "%032x", 0xa);
	snprintf(b, sizeof(b), "%032x", 0xb);
	snprintf(c, sizeof(c), "%032x", 0xc);
	add_job(st, a, h, "backup", "queued");
	add_job(st, b, h, "check", "queued");
	add_job(st, c, h2, "check", "queued");
	CHECK_EQ_INT(store_cmd_enqueue(st, h, "run", a, cmd, 1, &seq), 0);
	CHECK_EQ_INT(store_cmd_enqueue(st, h, "run", b, cmd, 1, &seq), 0);
	CHECK_EQ_INT(store_cmd_enqueue(st, h2, "run", c, cmd, 1, &seq), 0);
	CHECK_EQ_INT(store_job_delivered_queued_ids(st, h, &ids, &n), 0);
	CHECK_EQ_INT(n, 0); /* both still in the queue */
	free(ids);
	CHECK_EQ_INT(store_cmd_ack(st, h, 1), 0); /* a's command acknowledged */
	CHECK_EQ_INT(store_job_delivered_queued_ids(st, h, &ids, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_STR(ids[0], a);
	free(ids);
	CHECK_EQ_INT(store_job_set_running(st, a, 5), 1); /* running is not queued */
	CHECK_EQ_INT(store_job_delivered_queued_ids(st, h, &ids, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(ids);
	CHECK_EQ_INT(store_cmd_ack(st, h, 2), 0);
	CHECK_EQ_INT(store_job_delivered_queued_ids(st, h, &ids, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_STR(ids[0], b);
	free(ids);
	CHECK_EQ_INT(store_job_finish(st, b, "failed", false, 0, NULL, STORE_JOB_ERR_AGENT_LOST, 10), 1);
	CHECK_EQ_INT(store_job_finish(st, b, "succeeded", true, 0, "{}", NULL, 11), 1);
	CHECK_EQ_INT(store_job_finish(st, b, "failed", true, 1, NULL, "x", 12), 0);
	CHECK_EQ_INT(store_job_get(st, b, &j), 0);
	CHECK_EQ_STR(j.status, "succeeded");
	store_job_release(&j);
	json_decref(cmd);
	fixture_store_close(st, path);
}

static int count_lines(void *arg, int64_t line, const char *t, const char *stream, const char *text)
{
	int64_t *n = arg;
	(void)t;
	(void)stream;
	(void)text;
	*n += line;
	return 0;
}

TEST(test_logs_and_snapshots)
{
	char path[128];
	struct store *st = fixture_store_open("jobs", path, sizeof(path));
	struct store_job j;
	struct store_host hh;
	json_t *snaps, *out = NULL;
	int64_t h, sum = 0;
	if (!st)
		return;
	h = add_host(st, "a", "ta");
	add_job(st, "0123456789abcdef0123456789abcdef", h, "backup", "running");
	CHECK_EQ_INT(store_job_get(st, "0123456789abcdef0123456789abcdef", &j), 0);
	for (int i = 1; i <= 5; i++)
		CHECK_EQ_INT(store_job_log_insert(st, j.rid, i, "", "stdout", "x"), 0);
	CHECK_EQ_INT(store_job_log_each(st, j.rid, 2, 100, count_lines, &sum), 0);
	CHECK_EQ_INT(sum, 3 + 4 + 5);
	store_job_release(&j);
	snaps = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "id", "aa", "short_id", "a", "time", "2026-01-01T00:00:00Z",
			  "id", "bb", "short_id", "b", "time", "2026-02-01T00:00:00Z");
	CHECK_EQ_INT(store_snapshots_replace(st, h, snaps), 0);
	CHECK_EQ_INT(store_snapshots_list(st, h, &out), 0);
	CHECK_EQ_INT(json_array_size(out), 2);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(out, 0), "id")), "bb");
	json_decref(out);
	CHECK_EQ_INT(store_host_get(st, h, &hh), 0);
	CHECK_EQ_INT(hh.snapshot_count, 2);
	store_host_release(&hh);
	json_decref(snaps);
	fixture_store_close(st, path);
}

static const struct harness_case cases[] = {
	CASE(test_enrollment_tokens),
	CASE(test_command_queue),
	CASE(test_jobs),
	CASE(test_delivered_queued_jobs),
	CASE(test_logs_and_snapshots),
};
HARNESS_MAIN(cases)

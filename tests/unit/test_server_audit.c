/* Unit tests for src/server/audit.c and audit_read.c: record format and
 * chain, reopen/recovery, torn tail, queries (filters, paging), CSV, time
 * parsing, verify exit codes. */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "server/audit.h"
#include "server/server.h"
#include "harness.h"

static char made[8][64];
static size_t n_made;

static const char *fresh_dir(void)
{
	char *d = made[n_made++ % 8];
	snprintf(d, 64, "/tmp/rm-audit-test-XXXXXX");
	return mkdtemp(d);
}

static void head_path(const struct audit *a, char *buf, size_t cap)
{
	struct audit_snapshot s;
	audit_snapshot_take(a, &s);
	snprintf(buf, cap, "%s/%s", s.dir, s.head_name);
}

static size_t count_lines(const char *path)
{
	char *buf;
	size_t len, n = 0;
	if (util_read_file(path, 1 << 20, &buf, &len) < 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\n';
	free(buf);
	return n;
}

TEST(test_append_chain_and_reopen)
{
	static struct server srv;
	const char *d = fresh_dir();
	char path[1300], *buf = NULL;
	size_t len;
	struct stat st;

	CHECK(d != NULL);
	CHECK_EQ_INT(audit_open(d, &srv.audit), 0);
	audit_log_actor(&srv, "alice", "10.0.0.1", "user.login", "user:1", "ok", json_pack("{s:s}", "k", "v"));
	audit_log_actor(&srv, "bob", NULL, "token.create", "token:2", "ok", NULL);
	head_path(srv.audit, path, sizeof(path));
	CHECK_EQ_INT(count_lines(path), 2);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	audit_close(srv.audit);

	/* reopen continues the chain */
	CHECK_EQ_INT(audit_open(d, &srv.audit), 0);
	audit_log_actor(&srv, "carol", NULL, "user.create", "user:3", "ok", NULL);
	audit_close(srv.audit);
	srv.audit = NULL;
	CHECK_EQ_INT(count_lines(path), 3);
	CHECK_EQ_INT(audit_verify_main(d), 0);

	/* every line checks out and links to the previous */
	CHECK_EQ_INT(util_read_file(path, 1 << 20, &buf, &len), 0);
	{
		char prev[AUDIT_HASH_HEX] = AUDIT_GENESIS, hash[AUDIT_HASH_HEX];
		char *line = buf;
		for (int i = 1; i <= 3; i++) {
			char *nl = strchr(line, '\n');
			const char *why;
			json_t *rec;
			*nl = '\0';
			CHECK_EQ_INT(audit_check_line(line, strlen(line), &rec, hash, &why), 0);
			CHECK_EQ_INT(json_integer_value(json_object_get(rec, "seq")), i);
			CHECK_EQ_STR(json_string_value(json_object_get(rec, "prev")), prev);
			memcpy(prev, hash, sizeof(prev));
			json_decref(rec);
			line = nl + 1;
		}
	}
	free(buf);
}

TEST(test_tamper_and_torn_tail)
{
	static struct server srv;
	const char *d = fresh_dir();
	char path[1300], *buf = NULL;
	size_t len;
	int fd;

	CHECK_EQ_INT(audit_open(d, &srv.audit), 0);
	for (int i = 0; i < 5; i++)
		audit_log_actor(&srv, "alice", NULL, "x.y", NULL, "ok", NULL);
	head_path(srv.audit, path, sizeof(path));
	audit_close(srv.audit);
	srv.audit = NULL;
	CHECK_EQ_INT(audit_verify_main(d), 0);

	/* a torn final record: verify flags it, open moves it aside and logs the fact */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, "{\"seq\":6,\"ti", 12), 12);
	close(fd);
	CHECK_EQ_INT(audit_verify_main(d), 1);
	CHECK_EQ_INT(audit_open(d, &srv.audit), 0);
	audit_close(srv.audit);
	srv.audit = NULL;
	CHECK_EQ_INT(audit_verify_main(d), 0);
	CHECK_EQ_INT(util_read_file(path, 1 << 20, &buf, &len), 0);
	CHECK(strstr(buf, "\"action\":\"audit.tail_truncated\"") != NULL);
	CHECK_EQ_INT(count_lines(path), 6);

	/* an edited byte breaks the chain */
	{
		char *p = strstr(buf, "alice");
		p[0] = 'A';
		CHECK_EQ_INT(util_write_file_atomic(path, buf, len, 0600), 0);
		CHECK_EQ_INT(audit_verify_main(d), 1);
		p[0] = 'a';
		CHECK_EQ_INT(util_write_file_atomic(path, buf, len, 0600), 0);
		CHECK_EQ_INT(audit_verify_main(d), 0);
	}
	/* a removed line breaks the chain */
	{
		char *l2 = strchr(buf, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
		memmove(l2, l3, len - (size_t)(l3 - buf) + 1);
		CHECK_EQ_INT(util_write_file_atomic(path, buf, strlen(buf), 0600), 0);
		CHECK_EQ_INT(audit_verify_main(d), 1);
	}
	free(buf);
	CHECK_EQ_INT(audit_verify_main("/nonexistent/rm-audit"), 2);
}

TEST(test_query_filters_and_paging)
{
	static struct server srv;
	const char *d = fresh_dir();
	struct audit_snapshot snap;
	struct audit_filter f = {NULL, NULL, NULL, NULL, INT64_MIN, INT64_MAX, INT64_MAX};
	json_t *items;
	int64_t next;

	CHECK_EQ_INT(audit_open(d, &srv.audit), 0);
	for (int i = 0; i < 25; i++)
		audit_log_actor(&srv, i % 2 ? "alice" : "bob", "1.2.3.4", i % 3 ? "user.login" : "token.create",
				i % 5 ? NULL : "user:9", i % 4 ? "ok" : "failed", NULL);
	audit_snapshot_take(srv.audit, &snap);
	/* written after the snapshot: invisible to it */
	audit_log_actor(&srv, "late", NULL, "user.login", NULL, "ok", NULL);

	CHECK_EQ_INT(audit_query_page(&snap, &f, 10, &items, &next), 0);
	CHECK_EQ_INT(json_array_size(items), 10);
	CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), 25);
	CHECK_EQ_INT(next, 16);
	json_decref(items);
	f.before_seq = next;
	CHECK_EQ_INT(audit_query_page(&snap, &f, 10, &items, &next), 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), 15);
	json_decref(items);
	f.before_seq = next;
	CHECK_EQ_INT(audit_query_page(&snap, &f, 10, &items, &next), 0);
	CHECK_EQ_INT(json_array_size(items), 5);
	CHECK_EQ_INT(next, 0);
	json_decref(items);

	f.before_seq = INT64_MAX;
	f.actor = "alice";
	f.action_prefix = "user.";
	CHECK_EQ_INT(audit_query_page(&snap, &f, 100, &items, &next), 0);
	for (size_t i = 0; i < json_array_size(items); i++) {
		json_t *r = json_array_get(items, i);
		CHECK_EQ_STR(json_string_value(json_object_get(r, "actor")), "alice");
		CHECK(!strncmp(json_string_value(json_object_get(r, "action")), "user.", 5));
	}
	CHECK(json_array_size(items) > 0);
	json_decref(items);
	f.actor = NULL;
	f.action_prefix = NULL;
	f.target = "user:9";
	f.outcome = "failed";
	CHECK_EQ_INT(audit_query_page(&snap, &f, 100, &items, &next), 0);
	CHECK_EQ_INT(json_array_size(items), 2); /* i = 0, 20 */
	json_decref(items);
	f.target = NULL;
	f.outcome = NULL;
	f.until_ms = 0;
	CHECK_EQ_INT(audit_query_page(&snap, &f, 100, &items, &next), 0);
	CHECK_EQ_INT(json_array_size(items), 0);
	json_decref(items);
	f.until_ms = INT64_MAX;
	f.since_ms = util_now_ms() + 3600 * 1000;
	CHECK_EQ_INT(audit_query_page(&snap, &f, 100, &items, &next), 0);
	CHECK_EQ_INT(json_array_size(items), 0);
	json_decref(items);

	{
		struct evbuffer *out = evbuffer_new();
		struct audit_filter all = {NULL, "token.", NULL, NULL, INT64_MIN, INT64_MAX, INT64_MAX};
		char *csv;
		size_t n;
		CHECK_EQ_INT(audit_query_csv(&snap, &all, out, 1 << 20), 0);
		n = evbuffer_get_length(out);
		csv = malloc(n + 1);
		evbuffer_remove(out, csv, n);
		csv[n] = '\0';
		{
			static const char hdr[] = "seq,time,actor,client,action,target,outcome,details,prev,hash\r\n";
			CHECK(!strncmp(csv, hdr, strlen(hdr)));
		}
		CHECK(strstr(csv, "token.create") != NULL);
		CHECK(strstr(csv, "user.login") == NULL);
		CHECK(strstr(csv, "late") == NULL);
		free(csv);
		evbuffer_free(out);
	}
	audit_close(srv.audit);
	srv.audit = NULL;
}

TEST(test_hostile_fields)
{
	static struct server srv;
	const char *d = fresh_dir();
	struct audit_snapshot snap;
	struct audit_filter f = {NULL, NULL, NULL, NULL, INT64_MIN, INT64_MAX, INT64_MAX};
	struct evbuffer *out = evbuffer_new();
	char *csv;
	size_t n;

	CHECK_EQ_INT(audit_open(d, &srv.audit), 0);
	audit_log_actor(&srv, "=cmd|'/c calc'!A1", NULL, "user.login", "a,\"b\"\nc", "failed", NULL);
	audit_log_actor(&srv, "bad\xff\xfeutf8", NULL, "user.login", NULL, "failed", NULL);
	audit_snapshot_take(srv.audit, &snap);
	audit_close(srv.audit);
	srv.audit = NULL;
	CHECK_EQ_INT(audit_verify_main(d), 0);
	CHECK_EQ_INT(audit_query_csv(&snap, &f, out, 1 << 20), 0);
	n = evbuffer_get_length(out);
	csv = malloc(n + 1);
	evbuffer_remove(out, csv, n);
	csv[n] = '\0';
	CHECK(strstr(csv, ",\"'=cmd|'/c calc'!A1\",") != NULL);
	CHECK(strstr(csv, "\"a,\"\"b\"\"\nc\"") != NULL);
	CHECK(strstr(csv, "bad??utf8") != NULL);
	free(csv);
	evbuffer_free(out);
}

TEST(test_parse_time)
{
	int64_t ms;
	CHECK_EQ_INT(audit_parse_time("1700000000", &ms), 0);
	CHECK_EQ_INT(ms, 1700000000000LL);
	CHECK_EQ_INT(audit_parse_time("2023-11-14T22:13:20Z", &ms), 0);
	CHECK_EQ_INT(ms, 1700000000000LL);
	CHECK_EQ_INT(audit_parse_time("2023-11-14T23:13:20.5+01:00", &ms), 0);
	CHECK_EQ_INT(ms, 1700000000500LL);
	CHECK_EQ_INT(audit_parse_time("2023-13-14T22:13:20Z", &ms), -EINVAL);
	CHECK_EQ_INT(audit_parse_time("2023-11-14", &ms), -EINVAL);
	CHECK_EQ_INT(audit_parse_time("2023-11-14T22:13:20", &ms), -EINVAL);
	CHECK_EQ_INT(audit_parse_time("yesterday", &ms), -EINVAL);
	CHECK_EQ_INT(audit_parse_time("", &ms), -EINVAL);
	{
		char buf[32];
		audit_format_time(1700000000123LL, buf);
		CHECK_EQ_STR(buf, "2023-11-14T22:13:20.123Z");
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int collect_seq(const char *line, size_t len, size_t lineno, void *arg)
{
	int64_t *prev = arg;
	json_t *o = json_loadb(line, len, 0, NULL);
	int64_t seq = json_integer_value(json_object_get(o, "seq"));
	(void)lineno;
	json_decref(o);
	if (seq != *prev - 1)
		return -EINVAL;
	*prev = seq;
	return 0;
}

/* Paging across many 64 KiB read chunks, backwards, with a torn tail. */
TEST(test_reverse_paging_large)
{
	static struct server srv;
	const char *d = fresh_dir();
	struct audit_snapshot snap;
	struct audit_filter f = {NULL, NULL, NULL, NULL, INT64_MIN, INT64_MAX, INT64_MAX};
	char path[1300];
	int64_t next = 0, expect = 3001, total = 0;
	int fd;

	CHECK_EQ_INT(audit_open(d, &srv.audit), 0);
	for (int i = 0; i < 3000; i++)
		audit_log_actor(&srv, i % 7 ? "alice" : "bob", "10.1.2.3", "user.login", NULL, "ok",
				json_pack("{s:i,s:s}", "i", i, "pad", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
	audit_snapshot_take(srv.audit, &snap);
	head_path(srv.audit, path, sizeof(path));
	audit_close(srv.audit);
	srv.audit = NULL;
	/* every line, newest first, across chunk boundaries */
	CHECK_EQ_INT(audit_read_lines_reverse(path, -1, collect_seq, &expect), 0);
	CHECK_EQ_INT(expect, 1);
	/* a torn tail is skipped */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK_EQ_INT(write(fd, "{\"seq\":3001,\"t", 15), 15);
	close(fd);
	expect = 3001;
	CHECK_EQ_INT(audit_read_lines_reverse(path, -1, collect_seq, &expect), 0);
	CHECK_EQ_INT(expect, 1);
	do {
		json_t *items;
		f.before_seq = next ? next : INT64_MAX;
		CHECK_EQ_INT(audit_query_page(&snap, &f, 7, &items, &next), 0);
		for (size_t i = 0; i < json_array_size(items); i++) {
			int64_t seq = json_integer_value(json_object_get(json_array_get(items, i), "seq"));
			CHECK_EQ_INT(seq, 3000 - total);
			total++;
		}
		json_decref(items);
	} while (next && total < 4000);
	CHECK_EQ_INT(total, 3000);
	/* a rare filter: every 7th record */
	{
		json_t *items;
		f.before_seq = INT64_MAX;
		f.actor = "bob";
		CHECK_EQ_INT(audit_query_page(&snap, &f, 500, &items, &next), 0);
		CHECK_EQ_INT(json_array_size(items), 429);
		CHECK_EQ_INT(next, 0);
		json_decref(items);
	}
}

/* Last case: remove every directory fresh_dir() made. */
TEST(test_cleanup)
{
	for (size_t i = 0; i < n_made && i < 8; i++)
		CHECK_EQ_INT(nftw(made[i], rm_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
}

static const struct harness_case cases[] = {
	CASE(test_append_chain_and_reopen), CASE(test_tamper_and_torn_tail), CASE(test_query_filters_and_paging),
	CASE(test_hostile_fields), CASE(test_parse_time), CASE(test_reverse_paging_large), CASE(test_cleanup),
};

HARNESS_MAIN(cases)

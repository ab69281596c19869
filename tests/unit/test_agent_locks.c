/* Unit tests for src/agent/locks.c: restic's lock conflict report. */
#include <string.h>

#include "agent/locks.h"
#include "harness.h"

static int feed(const char *s, json_t **lock)
{
	return locks_feed_line(s, strlen(s), lock);
}

TEST(test_exclusive_lock_with_time)
{
	json_t *l = NULL;
	CHECK_EQ_INT(feed("Fatal: unable to create lock in backend: repository is already locked exclusively by "
			  "PID 4242 on web-1 by root (UID 0, GID 0)",
			  &l),
		     1);
	CHECK(l != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(l, "pid")), 4242);
	CHECK_EQ_STR(json_string_value(json_object_get(l, "host")), "web-1");
	CHECK_EQ_STR(json_string_value(json_object_get(l, "user")), "root");
	CHECK(json_is_true(json_object_get(l, "exclusive")));
	CHECK_EQ_INT(feed("lock was created at 2026-11-25 21:00:07 (5m3.25s ago)", &l), 1);
	CHECK_EQ_STR(json_string_value(json_object_get(l, "time")), "2026-11-25T21:00:07");
	CHECK_EQ_STR(json_string_value(json_object_get(l, "age")), "5m3.25s");
	CHECK_EQ_INT(feed("storage ID 1a2b3c4d", &l), 0);
	json_decref(l);
}

TEST(test_shared_lock_and_noise)
{
	json_t *l = NULL;
	CHECK_EQ_INT(feed("repository is already locked by PID 7 on db.example.org by backup (UID 998, GID 998)",
			  &l),
		     1);
	CHECK(json_is_false(json_object_get(l, "exclusive")));
	CHECK_EQ_STR(json_string_value(json_object_get(l, "host")), "db.example.org");
	json_decref(l);
	l = NULL;
	CHECK_EQ_INT(feed("no errors were found", &l), 0);
	CHECK(l == NULL);
	CHECK_EQ_INT(feed("repository is already locked by PID x on h by u", &l), 0);
	CHECK_EQ_INT(feed("repository is already locked by PID 5", &l), 0);
	CHECK_EQ_INT(feed("lock was created at 2026", &l), 1); /* no lock yet: ignored */
	CHECK(l == NULL);
	char big[5000];
	memset(big, 'a', sizeof(big));
	CHECK_EQ_INT(locks_feed_line(big, sizeof(big), &l), 0);
}

static bool alive_42(int64_t pid) { return pid == 42; }

TEST(test_mark_local)
{
	json_t *l = json_pack("{s:I,s:s,s:s,s:b}", "pid", (json_int_t)42, "host", "Web-1", "user", "root", "exclusive", 1);
	locks_mark_local(l, "web-1", alive_42); /* host names compare case-insensitively */
	CHECK(json_is_true(json_object_get(l, "this_host")));
	CHECK(json_is_true(json_object_get(l, "pid_alive")));
	json_object_set_new(l, "pid", json_integer(7));
	locks_mark_local(l, "web-1", alive_42);
	CHECK(json_is_false(json_object_get(l, "pid_alive"))); /* stale */
	json_object_del(l, "pid_alive");
	locks_mark_local(l, "db-2", alive_42);
	CHECK(json_is_false(json_object_get(l, "this_host")));
	CHECK(json_object_get(l, "pid_alive") == NULL); /* another machine's PID says nothing here */
	locks_mark_local(l, "", alive_42);
	CHECK(json_is_false(json_object_get(l, "this_host")));
	json_decref(l);
}

TEST(test_listing_and_lock_documents)
{
	const char out[] = "7441ef969b1d10b4e48a3deff46d11ac8d58d62543de6d85071fba311c7af214\n"
			   "not a lock id\n"
			   "7441EF969B1D10B4E48A3DEFF46D11AC8D58D62543DE6D85071FBA311C7AF214\n"
			   "0000000000000000000000000000000000000000000000000000000000000001\r\n"
			   "abc";
	json_t *ids = json_array(), *doc, *l;

	CHECK_EQ_INT(locks_parse_ids(out, strlen(out), ids, 16), 2); /* lowercase 64-hex lines only */
	CHECK_EQ_STR(json_string_value(json_array_get(ids, 1)),
		     "0000000000000000000000000000000000000000000000000000000000000001");
	json_array_clear(ids);
	CHECK_EQ_INT(locks_parse_ids(out, strlen(out), ids, 1), 1); /* capped */
	CHECK_EQ_INT(locks_parse_ids("", 0, ids, 16), 0);
	json_decref(ids);

	doc = json_loads("{\"time\":\"2026-11-26T02:32:18.603670577Z\",\"exclusive\":false,\"hostname\":\"vm\","
			 "\"username\":\"root\",\"pid\":17139,\"uid\":0,\"gid\":0}", 0, NULL);
	l = locks_from_doc(doc);
	CHECK(l != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(l, "pid")), 17139);
	CHECK_EQ_STR(json_string_value(json_object_get(l, "host")), "vm");
	CHECK_EQ_STR(json_string_value(json_object_get(l, "user")), "root");
	CHECK_EQ_STR(json_string_value(json_object_get(l, "time")), "2026-11-26T02:32:18.603670577Z");
	CHECK(json_is_false(json_object_get(l, "exclusive")));
	CHECK(json_object_get(l, "uid") == NULL);
	json_decref(l);
	json_decref(doc);
	doc = json_loads("{\"pid\":\"1\",\"hostname\":\"vm\"}", 0, NULL);
	CHECK(locks_from_doc(doc) == NULL);
	json_decref(doc);
	CHECK(locks_from_doc(NULL) == NULL);
}

static const struct harness_case cases[] = {CASE(test_exclusive_lock_with_time), CASE(test_shared_lock_and_noise),
					    CASE(test_mark_local), CASE(test_listing_and_lock_documents)};
HARNESS_MAIN(cases)

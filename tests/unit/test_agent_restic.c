/* Unit tests for the agent's restic output parser, scrubbing and backoff. */
#include <stdint.h>
#include <string.h>

#include "agent/backoff.h"
#include "agent/restic_out.h"
#include "agent/scrub.h"
#include "agent/job.h"
#include "harness.h"

static int parse(const char *s, struct restic_line *l) { return restic_line_parse(s, strlen(s), l); }

TEST(test_status_line)
{
	struct restic_line l;
	parse("{\"message_type\":\"status\",\"seconds_elapsed\":1,\"seconds_remaining\":7,\"percent_done\":0.25,"
	      "\"total_files\":100,\"files_done\":25,\"total_bytes\":4000,\"bytes_done\":1000,"
	      "\"current_files\":[\"/a\",\"/b\"]}",
	      &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_STATUS);
	CHECK(l.progress.percent > 24.9 && l.progress.percent < 25.1);
	CHECK_EQ_INT(l.progress.total_files, 100);
	CHECK_EQ_INT(l.progress.files_done, 25);
	CHECK_EQ_INT(l.progress.total_bytes, 4000);
	CHECK_EQ_INT(l.progress.bytes_done, 1000);
	CHECK_EQ_INT(l.progress.seconds_remaining, 7);
	CHECK(json_array_size(l.progress.current_files) == 2);
	restic_line_release(&l);

	/* early status without totals or ETA */
	parse("{\"message_type\":\"status\",\"percent_done\":0}", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_STATUS);
	CHECK_EQ_INT(l.progress.seconds_remaining, -1);
	CHECK(l.progress.current_files == NULL);
	restic_line_release(&l);

	/* out of range percent is clamped */
	parse("{\"message_type\":\"status\",\"percent_done\":3.5}", &l);
	CHECK(l.progress.percent <= 100.0);
	restic_line_release(&l);
}

TEST(test_summary_line)
{
	struct restic_line l;
	parse("{\"message_type\":\"summary\",\"files_new\":3,\"files_changed\":0,\"data_added\":123,"
	      "\"total_files_processed\":3,\"total_duration\":0.5,\"snapshot_id\":\"4f2a1b3c\"}",
	      &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_SUMMARY);
	CHECK_EQ_STR(json_string_value(json_object_get(l.json, "snapshot_id")), "4f2a1b3c");
	CHECK_EQ_INT(json_integer_value(json_object_get(l.json, "files_new")), 3);
	restic_line_release(&l);
}

TEST(test_error_line)
{
	struct restic_line l;
	parse("{\"message_type\":\"error\",\"error\":{},\"during\":\"archival\",\"item\":\"/data/locked\"}", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_ERROR);
	CHECK(strstr(l.text, "archival") != NULL);
	CHECK(strstr(l.text, "/data/locked") != NULL);
	restic_line_release(&l);
	parse("{\"message_type\":\"error\",\"error\":{\"message\":\"permission denied\"},\"during\":\"scan\","
	      "\"item\":\"/x\"}",
	      &l);
	CHECK(strstr(l.text, "permission denied") != NULL);
	restic_line_release(&l);
	parse("{\"message_type\":\"error\",\"error\":{\"Op\":\"open\",\"Path\":\"/proc/1/mem\",\"Err\":13},"
	      "\"during\":\"archival\",\"item\":\"/proc/1/mem\"}",
	      &l);
	CHECK_EQ_STR(l.text, "error during archival: /proc/1/mem: open: Permission denied");
	restic_line_release(&l);
}

TEST(test_text_and_other_lines)
{
	struct restic_line l;
	parse("created restic repository 1234 at /tmp/repo", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_TEXT);
	restic_line_release(&l);
	parse("Fatal: wrong password or no key found", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_TEXT);
	restic_line_release(&l);
	parse("{not json", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_TEXT);
	restic_line_release(&l);
	parse("", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_TEXT);
	restic_line_release(&l);
	parse("[{\"id\":\"ab\"}]", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_JSON);
	CHECK(json_is_array(l.json));
	restic_line_release(&l);
	parse("{\"message_type\":\"verbose_status\",\"action\":\"new\"}", &l);
	CHECK_EQ_INT(l.kind, RESTIC_LINE_JSON);
	restic_line_release(&l);
}

static const char *scrub(const char *in, const char *const *sec, size_t n)
{
	static char out[512];
	scrub_text(in, strlen(in), sec, n, out, sizeof(out));
	return out;
}

TEST(test_scrub)
{
	const char *sec[] = {"hunter2secret", NULL, "AKIAXYZ"};
	CHECK_EQ_STR(scrub("password hunter2secret here", sec, 3), "password *** here");
	CHECK_EQ_STR(scrub("hunter2secrethunter2secret", sec, 3), "******");
	CHECK_EQ_STR(scrub("key AKIAXYZ", sec, 3), "key ***");
	CHECK_EQ_STR(scrub("rest:https://alice:pa55@host:8000/repo opened", sec, 0),
		     "rest:https://alice:***@host:8000/repo opened");
	CHECK_EQ_STR(scrub("s3:https://s3.example.com/bucket", sec, 0), "s3:https://s3.example.com/bucket");
	CHECK_EQ_STR(scrub("sftp:user@host:/srv/repo", sec, 0), "sftp:user@host:/srv/repo");
	CHECK_EQ_STR(scrub("http://u:p@ss@h/x", sec, 0), "http://u:***@h/x");
	CHECK_EQ_STR(scrub("nothing to hide", sec, 3), "nothing to hide");
	/* a too-short secret is not searched for */
	const char *shortsec[] = {"ab"};
	CHECK_EQ_STR(scrub("abcabc", shortsec, 1), "abcabc");
	/* truncation keeps the output NUL-terminated */
	char tiny[5];
	CHECK_EQ_INT(scrub_text("abcdefgh", 8, NULL, 0, tiny, sizeof(tiny)), 4);
	CHECK_EQ_STR(tiny, "abcd");
}

TEST(test_utf8)
{
	char a[] = "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
	char b[] = "bad \xff \xc3 x \xe2\x82 \xed\xa0\x80 \xc0\xaf end\xe2";
	scrub_utf8(a, strlen(a));
	CHECK_EQ_STR(a, "ok \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	scrub_utf8(b, strlen(b));
	CHECK_EQ_STR(b, "bad ? ? x ?? ??? ?? end?");
	json_t *v = json_stringn(b, strlen(b));
	CHECK(v != NULL);
	json_decref(v);
}

TEST(test_backoff_bounds)
{
	struct backoff b = {0};
	int64_t prev_max = 0;
	for (int i = 0; i < 40; i++) {
		uint32_t rnd = (uint32_t)(i * 2654435761u);
		int64_t d = backoff_next(&b, rnd);
		CHECK(d >= BACKOFF_MIN_MS);
		CHECK(d <= BACKOFF_MAX_MS);
		if (i == 0)
			CHECK_EQ_INT(d, 1000);
		if (d > prev_max)
			prev_max = d;
	}
	CHECK(prev_max >= BACKOFF_MAX_MS / 2);
	/* the cap holds for extreme random values */
	CHECK(backoff_next(&b, 0) >= BACKOFF_MAX_MS / 2);
	CHECK(backoff_next(&b, UINT32_MAX) <= BACKOFF_MAX_MS);
	backoff_reset(&b);
	CHECK_EQ_INT(backoff_next(&b, UINT32_MAX), 1000);
	CHECK(backoff_next(&b, UINT32_MAX) <= 2000);
}

TEST(test_job_validate)
{
	char err[256];
	json_t *a;
	a = json_loads("{\"paths\":[\"/data\"],\"tags\":[\"daily\"]}", 0, NULL);
	CHECK_EQ_INT(job_validate("backup", a, err, sizeof(err)), 0);
	json_decref(a);
	a = json_loads("{\"paths\":[]}", 0, NULL);
	CHECK(job_validate("backup", a, err, sizeof(err)) < 0);
	json_decref(a);
	a = json_loads("{\"paths\":[\"/d\"],\"tags\":[\"a,b\"]}", 0, NULL);
	CHECK(job_validate("backup", a, err, sizeof(err)) < 0);
	json_decref(a);
	a = json_loads("{\"snapshot\":\"abcdef12\",\"target\":\"/tmp/r\",\"paths\":[\"/data\"]}", 0, NULL);
	CHECK_EQ_INT(job_validate("restore", a, err, sizeof(err)), 0);
	json_decref(a);
	a = json_loads("{\"snapshot\":\"--help\",\"target\":\"/tmp/r\"}", 0, NULL);
	CHECK(job_validate("restore", a, err, sizeof(err)) < 0);
	json_decref(a);
	a = json_loads("{\"snapshot\":\"abcdef12\",\"target\":\"relative\"}", 0, NULL);
	CHECK(job_validate("restore", a, err, sizeof(err)) < 0);
	json_decref(a);
	a = json_loads("{\"keep_last\":3,\"keep_within\":\"30d\"}", 0, NULL);
	CHECK_EQ_INT(job_validate("forget", a, err, sizeof(err)), 0);
	json_decref(a);
	a = json_loads("{}", 0, NULL);
	CHECK(job_validate("forget", a, err, sizeof(err)) < 0);
	CHECK_EQ_INT(job_validate("init", a, err, sizeof(err)), 0);
	CHECK(job_validate("rm -rf", a, err, sizeof(err)) < 0);
	json_decref(a);
	CHECK_EQ_INT(job_validate("init", NULL, err, sizeof(err)), 0);
}

static const struct harness_case cases[] = {
	CASE(test_status_line), CASE(test_summary_line), CASE(test_error_line), CASE(test_text_and_other_lines),
	CASE(test_scrub),       CASE(test_utf8), CASE(test_backoff_bounds), CASE(test_job_validate),
};
HARNESS_MAIN(cases)

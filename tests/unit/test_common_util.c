/* Unit tests for src/common/util.c and log level parsing. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "harness.h"

TEST(test_parse_i64)
{
	int64_t v = 0;
	CHECK_EQ_INT(util_parse_i64("42", 0, 100, &v), 0);
	CHECK_EQ_INT(v, 42);
	CHECK_EQ_INT(util_parse_i64("-5", -10, 10, &v), 0);
	CHECK_EQ_INT(v, -5);
	CHECK_EQ_INT(util_parse_i64("", 0, 1, &v), -EINVAL);
	CHECK_EQ_INT(util_parse_i64("12x", 0, 100, &v), -EINVAL);
	CHECK_EQ_INT(util_parse_i64("101", 0, 100, &v), -ERANGE);
	CHECK_EQ_INT(util_parse_i64("99999999999999999999999", 0, INT64_MAX, &v), -ERANGE);
	CHECK_EQ_INT(util_parse_i64(NULL, 0, 1, &v), -EINVAL);
}

TEST(test_strlcpy)
{
	char b[4];
	CHECK_EQ_INT(util_strlcpy(b, "abc", sizeof(b)), 0);
	CHECK_EQ_STR(b, "abc");
	CHECK_EQ_INT(util_strlcpy(b, "abcd", sizeof(b)), -ENAMETOOLONG);
	CHECK_EQ_STR(b, "abc");
}

TEST(test_file_roundtrip)
{
	char dir[] = "/tmp/rm-unit-XXXXXX";
	char path[64], *buf = NULL;
	size_t len = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a/b/f", dir);
	char sub[64];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	CHECK_EQ_INT(util_mkdir_p(sub, 0700), 0);
	CHECK_EQ_INT(util_write_file_atomic(path, "hello", 5, 0600), 0);
	CHECK_EQ_INT(util_read_file(path, 100, &buf, &len), 0);
	CHECK_EQ_INT(len, 5);
	CHECK_EQ_STR(buf, "hello");
	free(buf);
	CHECK_EQ_INT(util_read_file(path, 4, &buf, &len), -EFBIG);
	unlink(path);
	CHECK_EQ_INT(util_read_file(path, 4, &buf, &len), -ENOENT);
}

TEST(test_log_parse)
{
	enum log_level l;
	enum log_format f;
	CHECK_EQ_INT(log_parse_level("warn", &l), 0);
	CHECK_EQ_INT(l, LOG_LEVEL_WARN);
	CHECK_EQ_INT(log_parse_level("loud", &l), -EINVAL);
	CHECK_EQ_INT(log_parse_format("json", &f), 0);
	CHECK_EQ_INT(f, LOG_FORMAT_JSON);
	CHECK_EQ_INT(log_parse_format("xml", &f), -EINVAL);
}

TEST(test_rfc3339)
{
	char b[32];
	util_time_rfc3339(0, b);
	CHECK_EQ_STR(b, "1970-01-01T00:00:00Z");
	util_time_rfc3339(1700000000, b);
	CHECK_EQ_STR(b, "2023-11-14T22:13:20Z");
}

static const struct harness_case cases[] = {
	CASE(test_parse_i64), CASE(test_strlcpy), CASE(test_file_roundtrip), CASE(test_log_parse), CASE(test_rfc3339),
};
HARNESS_MAIN(cases)

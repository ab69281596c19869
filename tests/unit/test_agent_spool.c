/* Unit tests for the agent's event spool: append, batch, ack, reload, torn
 * last line, size cap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/plat.h"
#include "agent/spool.h"
#include "common/util.h"
#include "harness.h"

static char dir[] = "/tmp/rm-spool-XXXXXX";
static char path[128];

static int add(struct spool *sp, int64_t seq, const char *type, int imp)
{
	char b[256];
	int n = snprintf(b, sizeof(b), "{\"seq\":%lld,\"type\":\"%s\"}", (long long)seq, type);
	return spool_append(sp, seq, b, (size_t)n, imp);
}

TEST(test_append_ack_reload)
{
	struct spool sp;
	char *body = NULL;
	size_t len = 0;
	int64_t last = 0;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/spool.ndjson", dir);
	CHECK_EQ_INT(spool_open(&sp, path, SPOOL_DEFAULT_CAP), 0);
	CHECK_EQ_INT(sp.n, 0);
	for (int i = 1; i <= 5; i++)
		CHECK_EQ_INT(add(&sp, i, "job.log", 1), 0);
	CHECK_EQ_INT(spool_max_seq(&sp), 5);
	CHECK_EQ_INT(spool_batch(&sp, 3, 1 << 20, &body, &len, &last), 3);
	CHECK_EQ_INT(last, 3);
	CHECK_EQ_STR(body, "{\"events\":[{\"seq\":1,\"type\":\"job.log\"},{\"seq\":2,\"type\":\"job.log\"},"
			   "{\"seq\":3,\"type\":\"job.log\"}]}");
	CHECK_EQ_INT(strlen(body), len);
	free(body);
	CHECK_EQ_INT(spool_ack(&sp, 3), 0);
	CHECK_EQ_INT(sp.n, 2);
	CHECK_EQ_INT(sp.v[0].seq, 4);
	/* an old ack changes nothing */
	CHECK_EQ_INT(spool_ack(&sp, 2), 0);
	CHECK_EQ_INT(sp.n, 2);
	spool_release(&sp);

	CHECK_EQ_INT(spool_open(&sp, path, SPOOL_DEFAULT_CAP), 0);
	CHECK_EQ_INT(sp.n, 2);
	CHECK_EQ_INT(sp.v[0].seq, 4);
	CHECK_EQ_INT(spool_max_seq(&sp), 5);
	CHECK_EQ_INT(spool_ack(&sp, 100), 0);
	CHECK_EQ_INT(sp.n, 0);
	CHECK_EQ_INT(spool_batch(&sp, 10, 1 << 20, &body, &len, &last), 0);
	spool_release(&sp);
	CHECK_EQ_INT(spool_open(&sp, path, SPOOL_DEFAULT_CAP), 0);
	CHECK_EQ_INT(sp.n, 0);
	spool_release(&sp);
}

TEST(test_torn_line_and_garbage)
{
	struct spool sp;
	const char *text = "{\"seq\":7,\"type\":\"a\"}\nnot json\n{\"seq\":6,\"type\":\"old\"}\n{\"seq\":8,\"type\":\"b\"}\n"
			   "{\"seq\":9,\"ty";
	CHECK_EQ_INT(util_write_file_atomic(path, text, strlen(text), 0600), 0);
	CHECK_EQ_INT(spool_open(&sp, path, SPOOL_DEFAULT_CAP), 0);
	CHECK_EQ_INT(sp.n, 2); /* 7 and 8; garbage, out of order and torn lines skipped */
	CHECK_EQ_INT(sp.v[0].seq, 7);
	CHECK_EQ_INT(sp.v[1].seq, 8);
	/* the load rewrote the file: an append starts on a fresh line */
	CHECK_EQ_INT(add(&sp, 9, "c", 2), 0);
	spool_release(&sp);
	CHECK_EQ_INT(spool_open(&sp, path, SPOOL_DEFAULT_CAP), 0);
	CHECK_EQ_INT(sp.n, 3);
	CHECK_EQ_INT(spool_max_seq(&sp), 9);
	spool_release(&sp);
	unlink(path);
}

TEST(test_cap)
{
	struct spool sp;
	int64_t seq = 1;
	int r = 0;

	CHECK_EQ_INT(spool_open(&sp, path, 1000), 0);
	/* fill to 90% with logs: progress refused from there */
	while ((r = add(&sp, seq, "job.log", 1)) == 0 && sp.bytes < 900)
		seq++;
	CHECK_EQ_INT(r, 0);
	seq++;
	CHECK_EQ_INT(add(&sp, seq, "job.progress", 0), -ENOSPC);
	/* logs go on up to the cap */
	while ((r = add(&sp, seq, "job.log", 1)) == 0)
		seq++;
	CHECK_EQ_INT(r, -ENOSPC);
	CHECK(sp.bytes <= 1000);
	/* results are never refused */
	CHECK_EQ_INT(add(&sp, seq, "job.finished", 2), 0);
	CHECK(sp.bytes > 1000);
	/* after an ack there is room again */
	CHECK_EQ_INT(spool_ack(&sp, seq), 0);
	CHECK_EQ_INT(add(&sp, seq + 1, "job.progress", 0), 0);
	spool_release(&sp);
	unlink(path);
	rmdir(dir);
}

static const struct harness_case cases[] = {CASE(test_append_ack_reload), CASE(test_torn_line_and_garbage),
					    CASE(test_cap)};
HARNESS_MAIN(cases)

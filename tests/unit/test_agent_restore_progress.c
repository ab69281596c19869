/* Unit tests for restore progress (restore_progress.c) and the bounded walk
 * behind it (plat_tree_count, plat_child_written_bytes): totals from an
 * `ls --json` listing filtered to the selected paths, samples capped at the
 * totals and never going backwards, percent and ETA, the walk counting only
 * files changed since the restore began, its entry budget, and the write
 * counter of a real child process. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/plat.h"
#include "agent/restore_progress.h"
#include "harness.h"

static char dir[] = "/tmp/rm-restprog-XXXXXX";

static void feed(struct restore_progress *rp, const char *json)
{
	json_t *o = json_loads(json, 0, NULL);
	CHECK(o != NULL);
	restore_progress_feed(rp, o);
	json_decref(o);
}

static void feed_listing(struct restore_progress *rp)
{
	feed(rp, "{\"struct_type\":\"snapshot\",\"paths\":[\"/srv\"],\"id\":\"ab\"}");
	feed(rp, "{\"struct_type\":\"node\",\"type\":\"dir\",\"path\":\"/srv/data\",\"name\":\"data\"}");
	feed(rp, "{\"struct_type\":\"node\",\"type\":\"file\",\"path\":\"/srv/data/a\",\"size\":1000}");
	feed(rp, "{\"struct_type\":\"node\",\"type\":\"file\",\"path\":\"/srv/data/sub/b\",\"size\":3000}");
	feed(rp, "{\"struct_type\":\"node\",\"type\":\"file\",\"path\":\"/srv/database\",\"size\":500}");
	feed(rp, "{\"struct_type\":\"node\",\"type\":\"file\",\"path\":\"/srv/etc.conf\",\"size\":7}");
	feed(rp, "{\"struct_type\":\"node\",\"type\":\"symlink\",\"path\":\"/srv/data/l\",\"size\":0}");
	feed(rp, "{\"message_type\":\"status\"}");
	feed(rp, "[1,2]");
}

TEST(test_totals_of_selected_paths)
{
	struct restore_progress rp;
	json_t *paths = json_pack("[s, s]", "/srv/data/", "/srv/etc.conf");
	json_t *sum;

	CHECK_EQ_INT(restore_progress_init(&rp, "/restore/x", paths), 0);
	feed_listing(&rp);
	restore_progress_sized(&rp, true);
	CHECK(rp.sized);
	/* /srv/database is not below /srv/data */
	CHECK_EQ_INT(rp.total_files, 3);
	CHECK_EQ_INT(rp.total_bytes, 4007);
	sum = restore_progress_summary(&rp);
	CHECK_EQ_INT(json_integer_value(json_object_get(sum, "total_files")), 3);
	CHECK_EQ_INT(json_integer_value(json_object_get(sum, "total_bytes")), 4007);
	json_decref(sum);
	restore_progress_release(&rp);
	json_decref(paths);

	/* no paths: everything; a failed listing is not trusted */
	CHECK_EQ_INT(restore_progress_init(&rp, "/restore/y", NULL), 0);
	feed_listing(&rp);
	CHECK_EQ_INT(rp.total_files, 4);
	CHECK_EQ_INT(json_array_size(rp.roots), 1);
	restore_progress_sized(&rp, false);
	CHECK(!rp.sized);
	CHECK(restore_progress_summary(&rp) == NULL);
	restore_progress_release(&rp);

	/* selected paths that match no file: no totals (not totals of 0) */
	paths = json_pack("[s]", "/srv/dat*");
	CHECK_EQ_INT(restore_progress_init(&rp, "/restore/g", paths), 0);
	feed_listing(&rp);
	restore_progress_sized(&rp, true);
	CHECK(rp.listed && !rp.sized);
	restore_progress_release(&rp);
	json_decref(paths);

	/* restic ls of an unknown snapshot exits 0 without listing it */
	CHECK_EQ_INT(restore_progress_init(&rp, "/restore/z", NULL), 0);
	restore_progress_sized(&rp, true);
	CHECK(!rp.sized);
	restore_progress_release(&rp);
}

static void write_file(const char *path, size_t n)
{
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fputc('x', f);
	fclose(f);
}

static void mkdirs(const char *p)
{
	char b[512];
	snprintf(b, sizeof(b), "%s", p);
	for (char *s = b + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			mkdir(b, 0700);
			*s = '/';
		}
	}
	mkdir(b, 0700);
}

TEST(test_samples_walk_the_target)
{
	struct restore_progress rp;
	struct restic_progress p;
	json_t *paths = json_pack("[s, s]", "/srv/data", "/srv/etc.conf");
	char target[256], path[512];
	int64_t now = 100000;

	snprintf(target, sizeof(target), "%s/t", dir);
	CHECK_EQ_INT(restore_progress_init(&rp, target, paths), 0);
	feed_listing(&rp);
	restore_progress_sized(&rp, true);
	CHECK_EQ_INT(restore_progress_due_in(&rp, now), -1); /* not running yet */
	restore_progress_begin(&rp, now, (int64_t)time(NULL));
	CHECK_EQ_INT(restore_progress_due_in(&rp, now), RESTORE_SAMPLE_MS);
	CHECK_EQ_INT(restore_progress_due_in(&rp, now + RESTORE_SAMPLE_MS + 5), 0);

	/* nothing restored yet (the target does not even exist) */
	restore_progress_sample(&rp, now + 1000, 0, &p);
	CHECK_EQ_INT(p.files_done, 0);
	CHECK_EQ_INT(p.bytes_done, 0);
	CHECK_EQ_INT(p.total_files, 3);
	CHECK_EQ_INT(p.total_bytes, 4007);
	CHECK(p.percent == 0.0);
	CHECK_EQ_INT(p.seconds_remaining, -1);
	CHECK(restore_progress_due_in(&rp, now + 1000) >= RESTORE_SAMPLE_MS);

	/* one file written, a quarter of the bytes after 2 s → 6 s to go */
	snprintf(path, sizeof(path), "%s/srv/data/sub", target);
	mkdirs(path);
	snprintf(path, sizeof(path), "%s/srv/data/a", target);
	write_file(path, 1000);
	snprintf(path, sizeof(path), "%s/srv/other", target); /* not selected: not walked */
	write_file(path, 10);
	restore_progress_sample(&rp, now + 2000, 1001, &p);
	CHECK_EQ_INT(p.files_done, 1);
	CHECK_EQ_INT(p.bytes_done, 1001);
	CHECK(p.percent > 24.9 && p.percent < 25.1);
	CHECK_EQ_INT(p.seconds_remaining, 6);

	/* the write counter may run ahead of the data (restic's cache, its own
	 * output): capped at the total; a lower sample never goes backwards */
	snprintf(path, sizeof(path), "%s/srv/data/sub/b", target);
	write_file(path, 3000);
	snprintf(path, sizeof(path), "%s/srv/etc.conf", target);
	write_file(path, 7);
	restore_progress_sample(&rp, now + 3000, 99999, &p);
	CHECK_EQ_INT(p.files_done, 3);
	CHECK_EQ_INT(p.bytes_done, 4007);
	CHECK(p.percent == 100.0);
	CHECK_EQ_INT(p.seconds_remaining, 0);
	restore_progress_sample(&rp, now + 4000, 10, &p);
	CHECK_EQ_INT(p.bytes_done, 4007);
	CHECK_EQ_INT(p.files_done, 3);

	/* no write counter: the sizes of the files found stand in */
	restore_progress_release(&rp);
	CHECK_EQ_INT(restore_progress_init(&rp, target, paths), 0);
	feed_listing(&rp);
	restore_progress_sized(&rp, true);
	restore_progress_begin(&rp, now, (int64_t)time(NULL));
	restore_progress_sample(&rp, now + 1000, -1, &p);
	CHECK_EQ_INT(p.bytes_done, 4007);
	CHECK_EQ_INT(p.files_done, 3);

	/* files older than the restore (in place: untouched ones) do not count */
	restore_progress_release(&rp);
	CHECK_EQ_INT(restore_progress_init(&rp, target, paths), 0);
	restore_progress_begin(&rp, now, (int64_t)time(NULL) + 3600);
	restore_progress_sample(&rp, now + 1000, -1, &p);
	CHECK_EQ_INT(p.files_done, 0);
	CHECK_EQ_INT(p.total_files, 0); /* not sized: no totals, no percent */
	CHECK(p.percent == 0.0);
	restore_progress_release(&rp);
	json_decref(paths);
}

TEST(test_walk_budget_and_symlinks)
{
	struct plat_tree_count tc;
	char root[256], path[512];

	snprintf(root, sizeof(root), "%s/w", dir);
	mkdirs(root);
	for (int i = 0; i < 50; i++) {
		snprintf(path, sizeof(path), "%s/f%d", root, i);
		write_file(path, 2);
	}
	snprintf(path, sizeof(path), "%s/link", root);
	CHECK_EQ_INT(symlink("/", path), 0); /* never followed */
	memset(&tc, 0, sizeof(tc));
	CHECK_EQ_INT(plat_tree_count(root, 0, 1000, &tc), 0);
	CHECK_EQ_INT(tc.files, 50);
	CHECK_EQ_INT(tc.bytes, 100);
	CHECK(!tc.truncated);
	memset(&tc, 0, sizeof(tc));
	CHECK_EQ_INT(plat_tree_count(root, 0, 10, &tc), 0);
	CHECK(tc.truncated);
	CHECK(tc.files <= 10);
	CHECK_EQ_INT(tc.entries, 10);
	/* a file as root; a missing root */
	memset(&tc, 0, sizeof(tc));
	snprintf(path, sizeof(path), "%s/f1", root);
	CHECK_EQ_INT(plat_tree_count(path, 0, 10, &tc), 0);
	CHECK_EQ_INT(tc.files, 1);
	snprintf(path, sizeof(path), "%s/missing", root);
	CHECK_EQ_INT(plat_tree_count(path, 0, 10, &tc), 0);
	CHECK_EQ_INT(tc.files, 1);
}

TEST(test_child_written_bytes)
{
	/* printf is the shell's builtin and exec keeps the process: the
	 * counter is the shell's own writes */
	const char *argv[] = {"sh", "-c", "printf '%0300000d' 0 > \"$0\"; exec sleep 30", NULL, NULL};
	const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	char out[256];
	struct plat_child *c = NULL;
	int64_t w = -1, deadline;
	int code;

	snprintf(out, sizeof(out), "%s/written", dir);
	argv[3] = out;
	CHECK_EQ_INT(plat_child_spawn("sh", argv, envp, &c), 0);
	if (!c)
		return;
	deadline = plat_mono_ms() + 10000;
	while (plat_mono_ms() < deadline) {
		CHECK_EQ_INT(plat_child_written_bytes(c, &w), 0);
		if (w >= 300000)
			break;
		usleep(5000);
	}
	CHECK(w >= 300000 && w < 310000);
	plat_child_signal(c, true);
	while (plat_child_reap(c, &code) == -EAGAIN && plat_mono_ms() < deadline + 5000)
		usleep(2000);
	CHECK(plat_child_written_bytes(c, &w) < 0); /* reaped: no counter */
	plat_child_free(c);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

TEST(test_setup) { CHECK(mkdtemp(dir) != NULL); }
TEST(test_cleanup) { CHECK_EQ_INT(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0); }

static const struct harness_case cases[] = {CASE(test_setup), CASE(test_totals_of_selected_paths),
					    CASE(test_samples_walk_the_target), CASE(test_walk_budget_and_symlinks),
					    CASE(test_child_written_bytes), CASE(test_cleanup)};
HARNESS_MAIN(cases)

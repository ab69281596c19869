/* Unit tests for the agent's local schedule runner (schedule.c) on a real
 * state directory: the random start delay (deterministic per schedule and
 * time, so a restart keeps it), a run never queued twice for the same
 * scheduled time (also across a reopen, i.e. an agent restart), missed runs
 * caught up once for groups with retries and skipped for the others, and a
 * failed scheduled backup retried after its backoff. */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/schedule.h"
#include "common/log.h"
#include "harness.h"

static char dir[] = "/tmp/rm-sched-XXXXXX";

/* 2026-01-01T00:00:00Z */
#define T0 ((int64_t)1767225600)

static json_t *doc(int64_t delay, int64_t retry_count)
{
	return json_pack("{s:i, s:[{s:i,s:s,s:[s],s:[],s:{s:i},s:{s:I,s:i}}], s:[{s:i,s:s,s:[s],s:b,s:I}]}",
			 "version", 1, "groups", "id", 1, "name", "g", "paths", "/srv", "excludes", "retention",
			 "keep_last", 3, "retry", "count", (json_int_t)retry_count, "backoff_seconds", 60,
			 "schedules", "id", 7, "cron", "0 3 * * *", "groups", "g", "enabled", 1,
			 "random_delay_seconds", (json_int_t)delay);
}

static struct schedule_runner *open_with(json_t *d)
{
	struct schedule_runner *s = NULL;
	CHECK_EQ_INT(schedule_open(dir, &s), 0);
	if (s && d)
		schedule_set(s, d);
	return s;
}

static void clean_state(void)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/schedule_state.json", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/schedule.json", dir);
	unlink(p);
}

/* backups in the queue (and their scheduled times) */
static int backups(json_t *q, const char **when)
{
	size_t i;
	json_t *c;
	int n = 0;
	json_array_foreach (q, i, c) {
		if (strcmp(json_string_value(json_object_get(c, "kind")), "backup") == 0) {
			n++;
			if (when)
				*when = json_string_value(json_object_get(c, "scheduled_for"));
			CHECK_EQ_STR(json_string_value(json_object_get(c, "actor")), "schedule");
		}
	}
	return n;
}

/* Tick every 30 s (well within the grace time) from 03:00 until the run
 * fires; return the firing time (-1 if it never did within the hour). */
static int64_t fire_time(struct schedule_runner *s, json_t *q)
{
	int added = 0;
	for (int64_t t = T0 + 3 * 3600; t <= T0 + 4 * 3600 + 30; t += 30) {
		schedule_tick(s, q, t, &added);
		if (added)
			return t;
	}
	return -1;
}

TEST(test_random_delay_is_deterministic_and_honoured)
{
	json_t *d = doc(3600, 0), *q = json_array();
	struct schedule_runner *s;
	int added = 0;
	int64_t f1, f2;
	const char *when = NULL;

	clean_state();
	s = open_with(d);
	schedule_tick(s, q, T0, &added); /* first sight: remember now, fire nothing */
	CHECK_EQ_INT(added, 0);
	f1 = fire_time(s, q);
	CHECK(f1 > T0 + 3 * 3600 && f1 <= T0 + 4 * 3600 + 30); /* held back by a delay in (0, 3600] */
	CHECK_EQ_INT(backups(q, &when), 1);
	CHECK_EQ_INT(json_array_size(q), 2); /* backup + forget (the group keeps 3) */
	CHECK_EQ_STR(when, "2026-01-01T03:00:00Z"); /* the scheduled time, not the delayed one */
	/* the same time is never queued again, also after a restart from the
	 * schedule cached on disk */
	schedule_tick(s, q, f1 + 60, &added);
	CHECK_EQ_INT(added, 0);
	CHECK_EQ_INT(agent_json_save(dir, "schedule.json", d, 0600), 0);
	schedule_free(s);
	s = open_with(NULL);
	schedule_tick(s, q, f1 + 90, &added);
	CHECK_EQ_INT(added, 0);
	CHECK_EQ_INT(backups(q, NULL), 1);
	schedule_free(s);

	/* the same (schedule, time) gets the same delay on a fresh state */
	clean_state();
	json_array_clear(q);
	s = open_with(d);
	schedule_tick(s, q, T0, &added);
	f2 = fire_time(s, q);
	CHECK_EQ_INT(f2, f1);
	schedule_free(s);
	/* without a delay it fires at 03:00 sharp */
	json_decref(d);
	d = doc(0, 0);
	clean_state();
	json_array_clear(q);
	s = open_with(d);
	schedule_tick(s, q, T0, &added);
	CHECK_EQ_INT(fire_time(s, q), T0 + 3 * 3600);
	schedule_free(s);
	json_decref(q);
	json_decref(d);
}

TEST(test_missed_runs_caught_up_once_per_retry_policy)
{
	json_t *d = doc(0, 1), *q = json_array();
	struct schedule_runner *s;
	int added = 0;
	const char *when = NULL;

	clean_state();
	s = open_with(d);
	schedule_tick(s, q, T0, &added);
	CHECK_EQ_INT(agent_json_save(dir, "schedule.json", d, 0600), 0);
	schedule_free(s);
	/* down for three days: three runs missed, the latest is caught up once */
	s = open_with(NULL);
	schedule_tick(s, q, T0 + 3 * 86400 + 600, &added);
	CHECK_EQ_INT(backups(q, &when), 1);
	CHECK_EQ_STR(when, "2026-01-03T03:00:00Z");
	schedule_tick(s, q, T0 + 3 * 86400 + 700, &added);
	CHECK_EQ_INT(added, 0);
	schedule_free(s);
	json_decref(d);
	json_array_clear(q);

	/* a group without retries skips the missed run */
	d = doc(0, 0);
	clean_state();
	s = open_with(d);
	schedule_tick(s, q, T0, &added);
	schedule_tick(s, q, T0 + 3 * 86400 + 600, &added);
	CHECK_EQ_INT(added, 0);
	/* but a run on time still fires (within the grace time) */
	schedule_tick(s, q, T0 + 3 * 86400 + 3 * 3600 + SCHEDULE_GRACE_S, &added);
	CHECK_EQ_INT(backups(q, &when), 1);
	CHECK_EQ_STR(when, "2026-01-04T03:00:00Z");
	schedule_free(s);
	json_decref(q);
	json_decref(d);
}

TEST(test_failed_backup_retried_after_backoff)
{
	json_t *d = doc(0, 1), *q = json_array();
	struct schedule_runner *s;
	int added = 0;
	const char *id;
	/* retries fall due in real time: work around the real clock */
	int64_t now = (int64_t)time(NULL), day = now - now % 86400, n = day + 3 * 3600;

	if (n <= now)
		n += 86400; /* the next 03:00 */
	clean_state();
	s = open_with(d);
	schedule_tick(s, q, now, &added);
	schedule_tick(s, q, n, &added);
	CHECK_EQ_INT(backups(q, NULL), 1);
	id = json_string_value(json_object_get(json_array_get(q, 0), "job_id"));
	CHECK(id && strlen(id) == 32);
	schedule_job_done(s, id, false);
	json_array_clear(q);
	schedule_tick(s, q, now + 10, &added); /* backoff 60 s: not yet */
	CHECK_EQ_INT(backups(q, NULL), 0);
	schedule_tick(s, q, time(NULL) + 61, &added);
	CHECK_EQ_INT(backups(q, NULL), 1);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(q, 0), "scheduled_for")) + 11, "03:00:00Z");
	/* the retry failed too: count 1 is used up */
	id = json_string_value(json_object_get(json_array_get(q, 0), "job_id"));
	schedule_job_done(s, id, false);
	json_array_clear(q);
	schedule_tick(s, q, time(NULL) + 200, &added);
	CHECK_EQ_INT(backups(q, NULL), 0);
	schedule_free(s);
	json_decref(q);
	json_decref(d);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

TEST(test_setup)
{
	setenv("TZ", "UTC", 1);
	log_init(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT, "test");
	CHECK(mkdtemp(dir) != NULL);
}
TEST(test_cleanup) { CHECK_EQ_INT(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0); }

static const struct harness_case cases[] = {CASE(test_setup), CASE(test_random_delay_is_deterministic_and_honoured),
					    CASE(test_missed_runs_caught_up_once_per_retry_policy),
					    CASE(test_failed_backup_retried_after_backoff), CASE(test_cleanup)};
HARNESS_MAIN(cases)

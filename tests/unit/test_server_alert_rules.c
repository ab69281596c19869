/*
 * test_server_alert_rules.c — the "no successful backup within 1.5x the
 * schedule interval" computation (alert_rules.c).
 */
#include <stdlib.h>

#include "common/cron.h"
#include "common/tz.h"
#include "server/alert_rules.h"

#include "harness.h"

/* 2026-11-06 is a Friday; 03:00 UTC. */
#define FRI_0300 1793934000LL
#define DAY      86400LL

static struct tz_zone *utc(void)
{
	struct tz_zone *z = NULL;
	tz_zone_fixed(0, &z);
	return z;
}

TEST(test_daily_interval_and_deadline)
{
	struct tz_zone *z = utc();
	int64_t iv = alert_rules_interval("0 3 * * *", z, FRI_0300), dl = 0;
	CHECK_EQ_INT(iv, DAY);
	/* last success at Friday 03:00: overdue after 36 h, not before */
	CHECK(!alert_rules_is_overdue(iv, FRI_0300, 0, FRI_0300 + 36 * 3600, &dl));
	CHECK_EQ_INT(dl, FRI_0300 + 36 * 3600);
	CHECK(alert_rules_is_overdue(iv, FRI_0300, 0, FRI_0300 + 36 * 3600 + 1, NULL));
	tz_zone_free(z);
}

TEST(test_weekdays_use_the_longest_gap)
{
	struct tz_zone *z = utc();
	/* Mon-Fri at 03:00: the weekend gap (3 days) is the interval, so a
	 * Friday success is not overdue on Monday morning. */
	int64_t iv = alert_rules_interval("0 3 * * 1-5", z, FRI_0300);
	CHECK_EQ_INT(iv, 3 * DAY);
	CHECK(!alert_rules_is_overdue(iv, FRI_0300, 0, FRI_0300 + 3 * DAY + 3600, NULL));
	CHECK(alert_rules_is_overdue(iv, FRI_0300, 0, FRI_0300 + 4 * DAY + 12 * 3600 + 1, NULL));
	tz_zone_free(z);
}

TEST(test_several_schedules_shortest_wins)
{
	struct tz_zone *z = utc();
	/* weekly and hourly: the hourly one backs the host up */
	CHECK_EQ_INT(alert_rules_interval("0 4 * * 0\n0 * * * *", z, FRI_0300), 3600);
	/* an unparsable line is skipped, not fatal */
	CHECK_EQ_INT(alert_rules_interval("not cron\n*/15 * * * *", z, FRI_0300), 900);
	tz_zone_free(z);
}

TEST(test_no_schedule_no_alert)
{
	struct tz_zone *z = utc();
	int64_t dl = 1;
	CHECK_EQ_INT(alert_rules_interval(NULL, z, FRI_0300), 0);
	CHECK_EQ_INT(alert_rules_interval("", z, FRI_0300), 0);
	CHECK(!alert_rules_is_overdue(0, 0, 0, FRI_0300 + 365 * DAY, &dl));
	CHECK_EQ_INT(dl, 0);
	tz_zone_free(z);
}

TEST(test_clock_starts_at_later_of_success_and_schedule_change)
{
	/* never backed up, schedule created at Friday 03:00, hourly: overdue 90 min later */
	CHECK(!alert_rules_is_overdue(3600, 0, FRI_0300, FRI_0300 + 5400, NULL));
	CHECK(alert_rules_is_overdue(3600, 0, FRI_0300, FRI_0300 + 5401, NULL));
	/* an old success does not count against a schedule made today */
	CHECK(!alert_rules_is_overdue(3600, FRI_0300 - 30 * DAY, FRI_0300, FRI_0300 + 60, NULL));
	/* a success after the change moves the clock */
	CHECK(!alert_rules_is_overdue(3600, FRI_0300 + 5000, FRI_0300, FRI_0300 + 9000, NULL));
}

static const struct harness_case cases[] = {
    CASE(test_daily_interval_and_deadline),
    CASE(test_weekdays_use_the_longest_gap),
    CASE(test_several_schedules_shortest_wins),
    CASE(test_no_schedule_no_alert),
    CASE(test_clock_starts_at_later_of_success_and_schedule_change),
};
HARNESS_MAIN(cases)

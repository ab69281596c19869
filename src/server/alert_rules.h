/*
 * alert_rules.h — the pure part of the alert rules: the "no successful backup
 * within 1.5x the schedule interval" computation.  No I/O, no server state:
 * safe on any thread, unit-tested (tests/unit/test_server_alert_rules.c).
 *
 * A host's backup interval is derived from the cron expressions of its
 * enabled schedules.  For one expression it is the LONGEST gap between
 * consecutive runs among the next ALERT_RULES_RUNS runs after the reference
 * time (so "every weekday at 03:00" is 3 days — Friday to Monday — and the
 * alert does not fire every Monday morning; "every 15 minutes from 9 to 17"
 * is the night's gap).  With several schedules the SHORTEST of those wins
 * (any schedule's run backs the host up).  No schedule → no interval → no
 * alert.
 */
#ifndef RM_ALERT_RULES_H
#define RM_ALERT_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/cron.h"

#define ALERT_RULES_RUNS 16
/* Overdue after this many intervals (as a fraction: 3/2 = 1.5x). */
#define ALERT_RULES_FACTOR_NUM 3
#define ALERT_RULES_FACTOR_DEN 2

/* Longest gap (seconds) between consecutive runs among the next
 * ALERT_RULES_RUNS runs of e after `at` in zone z; 0 if fewer than two. */
int64_t alert_rules_cron_gap(const struct cron_expr *e, const struct tz_zone *z, int64_t at);

/* The interval of a host's schedules: crons is '\n'-separated expressions
 * (NULL or "" = none; unparsable ones are skipped).  0 = no interval. */
int64_t alert_rules_interval(const char *crons, const struct tz_zone *z, int64_t at);

/* Is the host overdue at `now`?  The clock starts at the later of the last
 * success and `since` (when the schedules took their current form, or the
 * host was created).  OUT: *deadline (nullable): when it becomes overdue
 * (0 when interval is 0). */
bool alert_rules_is_overdue(int64_t interval, int64_t last_success, int64_t since, int64_t now, int64_t *deadline);

#endif

/*
 * cron.h — 5-field cron expressions: parse, next run times in a time zone,
 * and a human description.  Shared by the server (validation, "next runs"
 * in the host's zone) and the agent (firing its local schedule).
 *
 * Syntax (Vixie cron): "minute hour day-of-month month day-of-week", each a
 * comma list of "*", "N", "A-B", optionally "/STEP" ("N/STEP" means N to the
 * field's maximum); months jan-dec and weekdays sun-sat by name, weekday 7 is
 * Sunday; shorthands @yearly @annually @monthly @weekly @daily @midnight
 * @hourly.  When both day-of-month and day-of-week are restricted (neither
 * field begins with '*') a day matches if EITHER matches, otherwise both must.
 *
 * Time zones (see tz.h): the expression is evaluated in the zone's wall-clock
 * time.  A wall-clock time skipped by a DST change runs at the first instant
 * after the gap; a time repeated by a DST change runs once, at its first
 * occurrence; several skipped times collapse into one run.
 *
 * Pure computation, no global state: safe on any thread.
 */
#ifndef RM_CRON_H
#define RM_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/tz.h"

/* Longest expression accepted, and room for an error message. */
#define CRON_EXPR_MAX 256
#define CRON_ERR_MAX 160

struct cron_expr {
	uint64_t minutes;   /* bit i: minute i, 0-59 */
	uint32_t hours;     /* bit i: hour i, 0-23 */
	uint32_t days;      /* bit i: day of month i, 1-31 */
	uint16_t months;    /* bit i: month i, 1-12 */
	uint8_t weekdays;   /* bit i: weekday i, 0 = Sunday */
	bool days_star;     /* the day-of-month field began with '*' */
	bool weekdays_star; /* the day-of-week field began with '*' */
};

/* Parse s into *out.  On error return -EINVAL and write a message naming the
 * field into err (errcap bytes, may be 0), e.g. "minute: 60 is out of range
 * 0-59".  Also rejects day-of-month sets that never occur in the selected
 * months ("0 0 30 2 *"). */
int cron_parse(const char *s, struct cron_expr *out, char *err, size_t errcap);

/* The first run strictly after instant `after` (seconds since the epoch) in
 * zone z.  OUT: *out.  Return 0, -ERANGE if `after` is outside years
 * 1970-9000, or -ENOENT if nothing matches within 100 years. */
int cron_next(const struct cron_expr *e, const struct tz_zone *z, int64_t after, int64_t *out);

/* Fill out[0..n) with the next n runs after `after`.  Return the count filled
 * (may be < n if the search ends) or -ERANGE. */
int cron_next_n(const struct cron_expr *e, const struct tz_zone *z, int64_t after, int64_t *out,
		size_t n);

/* Buffer size that holds the description of any expression. */
#define CRON_DESC_MAX 768

/* Human description ("every day at 03:00", "every 15 minutes", "at 02:30 on
 * Monday and Friday") into buf.  Return 0, or -ENOSPC if truncated (buf is
 * still NUL-terminated; never with cap >= CRON_DESC_MAX). */
int cron_describe(const struct cron_expr *e, char *buf, size_t cap);

/* Typical interval between runs in seconds (the smallest gap among the next
 * runs from `after`); 0 if there are fewer than two runs.  Used for "no
 * backup within 1.5x the schedule interval". */
int64_t cron_interval(const struct cron_expr *e, const struct tz_zone *z, int64_t after);

#endif

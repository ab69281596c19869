/*
 * cron.c — cron expression parser, next-run search and description (see
 * cron.h for the syntax and the DST rules).
 *
 * The search walks wall-clock fields (year, month, day, hour, minute) of the
 * zone, skipping whole months/days/hours that cannot match, and maps each
 * candidate wall-clock time back to an instant with cron_local_to_utc().
 * Bounded: at most CRON_SEARCH_YEARS of calendar and CRON_SEARCH_STEPS loop
 * steps per call, so hostile expressions cannot spin.  No global state, no
 * logging, no allocation.
 */
#include "common/cron.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CRON_SEARCH_YEARS 100
#define CRON_SEARCH_STEPS 200000
#define CRON_T_MIN 172800                  /* 1970-01-03: local times stay positive */
#define CRON_T_MAX ((int64_t)221845392000) /* 9000-01-01 */

struct cron_field {
	const char *name;
	int lo, hi;
	const char *const *names; /* 3-letter names for lo.., or NULL */
};

static const char *const cron_month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
					       "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const cron_day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const struct cron_field cron_fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day-of-month", 1, 31, NULL},
	{"month", 1, 12, cron_month_names},
	{"day-of-week", 0, 7, cron_day_names},
};

static void cron_err(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cron_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (!err || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* One number or name at *p. */
static int cron_parse_value(const struct cron_field *f, const char **p, int *out, char *err,
			    size_t cap)
{
	const char *s = *p;
	int v = 0, n = 0;

	if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
		char w[4] = {0};
		while (((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z')) && n < 4) {
			if (n < 3)
				w[n] = (char)(s[n] | 0x20);
			n++;
		}
		if (f->names && n == 3) {
			int count = f->hi - f->lo + (f->lo == 0 && f->hi == 7 ? 0 : 1);
			for (int i = 0; i < count; i++) {
				if (strcmp(w, f->names[i]) == 0) {
					*out = f->lo + i;
					*p = s + 3;
					return 0;
				}
			}
		}
		int len = 0;
		while (s[len] && s[len] != ',' && s[len] != '-' && s[len] != '/' && len < 16)
			len++;
		cron_err(err, cap, "%s: unknown name '%.*s'", f->name, len, s);
		return -EINVAL;
	}
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		s++;
		if (++n > 3) {
			cron_err(err, cap, "%s: number too long", f->name);
			return -EINVAL;
		}
	}
	if (n == 0) {
		if (*s)
			cron_err(err, cap, "%s: unexpected '%c'", f->name, *s);
		else
			cron_err(err, cap, "%s: missing value", f->name);
		return -EINVAL;
	}
	if (v < f->lo || v > f->hi) {
		cron_err(err, cap, "%s: %d is out of range %d-%d", f->name, v, f->lo, f->hi);
		return -EINVAL;
	}
	*out = v;
	*p = s;
	return 0;
}

/* One whole field (NUL-terminated) into a bit set. */
static int cron_parse_field(const struct cron_field *f, const char *s, uint64_t *bits, bool *star,
			    char *err, size_t cap)
{
	const char *p = s;

	*bits = 0;
	*star = *s == '*';
	for (;;) {
		int a, b, step = 1;
		if (*p == '*') {
			a = f->lo;
			b = f->hi == 7 ? 6 : f->hi;
			p++;
		} else {
			if (cron_parse_value(f, &p, &a, err, cap) < 0)
				return -EINVAL;
			b = a;
			if (*p == '-') {
				p++;
				if (cron_parse_value(f, &p, &b, err, cap) < 0)
					return -EINVAL;
				if (b < a) {
					cron_err(err, cap, "%s: range %d-%d is backwards", f->name, a, b);
					return -EINVAL;
				}
			} else if (*p == '/') {
				b = f->hi == 7 ? 6 : f->hi; /* "N/STEP" = N to the maximum */
			}
		}
		if (*p == '/') {
			int64_t sv = 0;
			int n = 0;
			p++;
			while (*p >= '0' && *p <= '9' && n < 3) {
				sv = sv * 10 + (*p - '0');
				p++;
				n++;
			}
			if (n == 0 || (*p >= '0' && *p <= '9') || sv < 1 || sv > f->hi) {
				cron_err(err, cap, "%s: step must be a number from 1 to %d", f->name, f->hi);
				return -EINVAL;
			}
			step = (int)sv;
		}
		for (int v = a; v <= b; v += step)
			*bits |= (uint64_t)1 << (f->hi == 7 && v == 7 ? 0 : v);
		if (*p == '\0')
			break;
		if (*p != ',') {
			cron_err(err, cap, "%s: unexpected '%c'", f->name, *p);
			return -EINVAL;
		}
		p++;
	}
	return 0;
}

static bool cron_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int cron_month_days(int64_t y, int m)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && cron_is_leap(y) ? 29 : len[m - 1];
}

int cron_parse(const char *s, struct cron_expr *out, char *err, size_t errcap)
{
	static const struct {
		const char *name, *expr;
	} shorthands[] = {
		{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
		{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
		{"@hourly", "0 * * * *"},
	};
	char buf[CRON_EXPR_MAX + 1];
	char *fields[5];
	size_t n = 0, len;
	uint64_t bits[5];
	bool star[5];

	if (err && errcap)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (!s) {
		cron_err(err, errcap, "expression is missing");
		return -EINVAL;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0) {
		cron_err(err, errcap, "expression is empty");
		return -EINVAL;
	}
	if (len > CRON_EXPR_MAX) {
		cron_err(err, errcap, "expression is longer than %d characters", CRON_EXPR_MAX);
		return -EINVAL;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (buf[0] == '@') {
		for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++) {
			if (strcmp(buf, shorthands[i].name) == 0)
				return cron_parse(shorthands[i].expr, out, err, errcap);
		}
		cron_err(err, errcap, "unknown shorthand '%.32s' (use @yearly, @monthly, @weekly, "
				      "@daily or @hourly)", buf);
		return -EINVAL;
	}
	for (char *p = buf; *p;) {
		if (*p == ' ' || *p == '\t') {
			*p++ = '\0';
			continue;
		}
		if (n == 5) {
			n++;
			break;
		}
		fields[n++] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
	}
	if (n != 5) {
		cron_err(err, errcap, "expected 5 fields (minute hour day-of-month month day-of-week)%s",
			 n > 5 ? ", got more" : ", got fewer");
		return -EINVAL;
	}
	for (size_t i = 0; i < 5; i++) {
		for (const char *c = fields[i]; *c; c++) {
			if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) {
				cron_err(err, errcap, "%s: invalid character", cron_fields[i].name);
				return -EINVAL;
			}
		}
		if (cron_parse_field(&cron_fields[i], fields[i], &bits[i], &star[i], err, errcap) < 0)
			return -EINVAL;
	}
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->days = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	out->weekdays = (uint8_t)bits[4];
	out->days_star = star[2];
	out->weekdays_star = star[4];
	if (out->days_star || out->weekdays_star) {
		/* Both must match: some selected day must exist in some selected month. */
		bool any = false;
		for (int m = 1; m <= 12 && !any; m++) {
			if (!(out->months & (1u << m)))
				continue;
			for (int d = 1; d <= cron_month_days(2000, m); d++) {
				if (out->days & (1u << d)) {
					any = true;
					break;
				}
			}
		}
		if (!any) {
			cron_err(err, errcap, "day-of-month: the selected days never occur in the "
					      "selected months");
			memset(out, 0, sizeof(*out));
			return -EINVAL;
		}
	}
	return 0;
}

static int cron_weekday(int64_t y, int m, int d)
{
	return (int)(((tz_days_from_civil(y, m, d) + 4) % 7 + 7) % 7);
}

static bool cron_day_matches(const struct cron_expr *e, int64_t y, int m, int d)
{
	bool dom = e->days & (1u << d);
	bool dow = e->weekdays & (1u << cron_weekday(y, m, d));

	return e->days_star || e->weekdays_star ? dom && dow : dom || dow;
}

/* The instant at which the wall-clock time L (seconds, zone offset applied)
 * happens in z; the earliest if it happens twice, the end of the gap if it
 * is skipped. */
static int64_t cron_local_to_utc(const struct tz_zone *z, int64_t L)
{
	int32_t offs[3] = {tz_zone_offset(z, L - 86400), tz_zone_offset(z, L),
			   tz_zone_offset(z, L + 86400)};
	int32_t lo_off = offs[0], hi_off = offs[0];
	int64_t best = 0;
	bool found = false;

	for (int i = 0; i < 3; i++) {
		int64_t t = L - offs[i];
		if (t + tz_zone_offset(z, t) == L && (!found || t < best)) {
			best = t;
			found = true;
		}
		if (offs[i] < lo_off)
			lo_off = offs[i];
		if (offs[i] > hi_off)
			hi_off = offs[i];
	}
	if (found)
		return best;
	/* Gap: the first instant whose wall-clock time is past L. */
	int64_t lo = L - hi_off, hi = L - lo_off;
	if (lo >= hi)
		return L - offs[1];
	while (hi - lo > 1) { /* local(lo) <= L < local(hi) */
		int64_t mid = lo + (hi - lo) / 2;
		if (mid + tz_zone_offset(z, mid) > L)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

int cron_next(const struct cron_expr *e, const struct tz_zone *z, int64_t after, int64_t *out)
{
	int64_t y, y_end, local;
	int mo, d, h, mi;

	if (after < CRON_T_MIN || after > CRON_T_MAX)
		return -ERANGE;
	if (!e->minutes || !e->hours || !e->days || !e->months || !e->weekdays)
		return -ENOENT;
	local = after + tz_zone_offset(z, after);
	local = local - local % 60 + 60;
	tz_civil_from_days(local / 86400, &y, &mo, &d);
	h = (int)(local % 86400 / 3600);
	mi = (int)(local % 3600 / 60);
	y_end = y + CRON_SEARCH_YEARS;

	for (int steps = 0; steps < CRON_SEARCH_STEPS && y < y_end; steps++) {
		if (!(e->months & (1u << mo))) {
			d = 1, h = 0, mi = 0;
			if (++mo > 12)
				mo = 1, y++;
			continue;
		}
		if (!cron_day_matches(e, y, mo, d)) {
			h = 0, mi = 0;
			goto next_day;
		}
		if (!(e->hours & (1u << h))) {
			mi = 0;
			goto next_hour;
		}
		while (mi < 60 && !(e->minutes & ((uint64_t)1 << mi)))
			mi++;
		if (mi == 60) {
			mi = 0;
			goto next_hour;
		}
		int64_t t = cron_local_to_utc(z, tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60);
		if (t > after) {
			*out = t;
			return 0;
		}
		/* Repeated hour or gap end already used: keep looking. */
		if (++mi < 60)
			continue;
		mi = 0;
next_hour:
		if (++h < 24)
			continue;
		h = 0;
next_day:
		if (++d <= cron_month_days(y, mo))
			continue;
		d = 1;
		if (++mo > 12)
			mo = 1, y++;
	}
	return -ENOENT;
}

int cron_next_n(const struct cron_expr *e, const struct tz_zone *z, int64_t after, int64_t *out,
		size_t n)
{
	size_t i;

	if (after < CRON_T_MIN || after > CRON_T_MAX)
		return -ERANGE;
	for (i = 0; i < n; i++) {
		if (cron_next(e, z, i ? out[i - 1] : after, &out[i]) < 0)
			break;
	}
	return (int)i;
}

int64_t cron_interval(const struct cron_expr *e, const struct tz_zone *z, int64_t after)
{
	int64_t runs[8], best = 0;
	int n = cron_next_n(e, z, after, runs, 8);

	for (int i = 1; i < n; i++) {
		if (!best || runs[i] - runs[i - 1] < best)
			best = runs[i] - runs[i - 1];
	}
	return best;
}

/* --- description --------------------------------------------------------- */

struct cron_out {
	char *buf;
	size_t cap, len;
	bool truncated;
};

static void cron_put(struct cron_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cron_put(struct cron_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->len + 1 >= o->cap) {
		o->truncated = true;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->len = o->cap - 1;
		o->truncated = true;
	} else {
		o->len += (size_t)n;
	}
}

static int cron_count(uint64_t bits)
{
	int n = 0;
	for (; bits; bits &= bits - 1)
		n++;
	return n;
}

static int cron_first(uint64_t bits)
{
	for (int i = 0; i < 64; i++) {
		if (bits & ((uint64_t)1 << i))
			return i;
	}
	return -1;
}

static bool cron_is_full(uint64_t bits, int lo, int hi)
{
	for (int i = lo; i <= hi; i++) {
		if (!(bits & ((uint64_t)1 << i)))
			return false;
	}
	return true;
}

/* If bits = {0, s, 2s, …} over lo..hi with s > 1 dividing the span, the step. */
static int cron_uniform_step(uint64_t bits, int lo, int hi)
{
	int first = cron_first(bits), n = cron_count(bits);

	if (first != lo || n < 2)
		return 0;
	int s = cron_first(bits & ~((uint64_t)1 << first)) - first;
	if (s < 2 || (hi - lo + 1) % s != 0)
		return 0;
	for (int v = lo; v <= hi; v++) {
		bool want = (v - lo) % s == 0;
		if (want != !!(bits & ((uint64_t)1 << v)))
			return 0;
	}
	return s;
}

static const char *const cron_day_words[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					     "Thursday", "Friday", "Saturday"};
static const char *const cron_month_words[] = {"January", "February", "March",     "April",
					       "May",     "June",     "July",      "August",
					       "September", "October", "November", "December"};

/* "A, B and C" with runs of three or more written "A to C" (names) or "A-C". */
static void cron_put_list(struct cron_out *o, uint64_t bits, int lo, int hi,
			  const char *const *words, int word_base)
{
	int items[64][2], n = 0;

	for (int v = lo; v <= hi; v++) {
		if (!(bits & ((uint64_t)1 << v)))
			continue;
		int w = v;
		while (w + 1 <= hi && (bits & ((uint64_t)1 << (w + 1))))
			w++;
		if (w - v >= 2) {
			items[n][0] = v, items[n][1] = w, n++;
		} else {
			for (int k = v; k <= w; k++)
				items[n][0] = k, items[n][1] = k, n++;
		}
		v = w;
	}
	for (int i = 0; i < n; i++) {
		if (i > 0)
			cron_put(o, i == n - 1 ? " and " : ", ");
		if (words) {
			cron_put(o, "%s", words[items[i][0] - word_base]);
			if (items[i][1] != items[i][0])
				cron_put(o, " to %s", words[items[i][1] - word_base]);
		} else {
			cron_put(o, "%d", items[i][0]);
			if (items[i][1] != items[i][0])
				cron_put(o, "-%d", items[i][1]);
		}
	}
}

static void cron_put_times(struct cron_out *o, const struct cron_expr *e)
{
	bool all_min = cron_is_full(e->minutes, 0, 59), all_hour = cron_is_full(e->hours, 0, 23);
	int nmin = cron_count(e->minutes), nhour = cron_count(e->hours);
	int mstep = cron_uniform_step(e->minutes, 0, 59), hstep = cron_uniform_step(e->hours, 0, 23);

	if (all_min) {
		cron_put(o, "every minute");
	} else if (mstep) {
		cron_put(o, "every %d minutes", mstep);
	} else if (nmin * nhour <= 6 && !all_hour && !hstep) {
		int k = 0, total = nmin * nhour;
		cron_put(o, "at ");
		for (int h = 0; h < 24; h++) {
			if (!(e->hours & (1u << h)))
				continue;
			for (int m = 0; m < 60; m++) {
				if (!(e->minutes & ((uint64_t)1 << m)))
					continue;
				if (k > 0)
					cron_put(o, k == total - 1 ? " and " : ", ");
				cron_put(o, "%02d:%02d", h, m);
				k++;
			}
		}
		return;
	} else if (nmin == 1 && all_hour) {
		int m = cron_first(e->minutes);
		cron_put(o, "every hour");
		if (m)
			cron_put(o, " at minute %d", m);
		return;
	} else if (nmin == 1 && hstep) {
		int m = cron_first(e->minutes);
		cron_put(o, "every %d hours", hstep);
		if (m)
			cron_put(o, " at minute %d", m);
		return;
	} else {
		cron_put(o, "%sat minute%s ", all_hour ? "every hour " : "", nmin > 1 ? "s" : "");
		cron_put_list(o, e->minutes, 0, 59, NULL, 0);
	}
	if (all_hour)
		return;
	if (hstep) {
		cron_put(o, " of every %d hours", hstep);
		return;
	}
	cron_put(o, nhour > 1 ? " during hours " : " during hour ");
	cron_put_list(o, e->hours, 0, 23, NULL, 0);
}

int cron_describe(const struct cron_expr *e, char *buf, size_t cap)
{
	struct cron_out o = {buf, cap, 0, false};
	bool all_dom = cron_is_full(e->days, 1, 31), all_dow = cron_is_full(e->weekdays, 0, 6);
	bool dom_used = !all_dom || !e->days_star;
	bool dow_used = !all_dow || !e->weekdays_star;
	bool specific_time = cron_count(e->minutes) * cron_count(e->hours) <= 6 &&
			     !cron_is_full(e->hours, 0, 23) && !cron_uniform_step(e->hours, 0, 23) &&
			     !cron_uniform_step(e->minutes, 0, 59) && !cron_is_full(e->minutes, 0, 59);

	if (cap == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (dom_used && all_dom)
		dom_used = false;
	if (dow_used && all_dow)
		dow_used = false;
	if (specific_time && !dom_used && !dow_used && e->months == 0x1ffe)
		cron_put(&o, "every day ");
	cron_put_times(&o, e);
	if (dom_used) {
		int step = cron_uniform_step(e->days >> 1, 0, 30);
		if (step && e->days_star) {
			cron_put(&o, " every %d days of the month", step);
		} else {
			cron_put(&o, cron_count(e->days) > 1 ? " on days " : " on day ");
			cron_put_list(&o, e->days, 1, 31, NULL, 0);
			cron_put(&o, " of the month");
		}
	}
	if (dow_used) {
		bool either = dom_used && !e->days_star && !e->weekdays_star;
		cron_put(&o, either ? " or on " : (dom_used ? " if it is " : " on "));
		cron_put_list(&o, e->weekdays, 0, 6, cron_day_words, 0);
	}
	if (e->months != 0x1ffe) {
		cron_put(&o, " in ");
		cron_put_list(&o, e->months, 1, 12, cron_month_words, 1);
	}
	return o.truncated ? -ENOSPC : 0;
}

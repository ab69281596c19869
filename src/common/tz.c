/*
 * tz.c — IANA time zones read directly from TZif files (RFC 8536), plus the
 * POSIX TZ rule language used by their footers.  See tz.h for why we do not
 * use TZ/tzset/localtime.
 *
 * Invariants: a zone's transition times are strictly increasing; every
 * offset is within ±26 h; a zone is immutable after construction (safe to
 * share between threads).  No logging: callers decide what errors mean.
 * Input caps: a zone file is at most TZ_FILE_MAX bytes and TZ_TRANS_MAX
 * transitions; rules are at most TZ_RULE_MAX bytes.
 */
#include "common/tz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_FILE_MAX (512 * 1024)
#define TZ_TRANS_MAX 4096
#define TZ_TYPES_MAX 256
#define TZ_RULE_MAX 128
#define TZ_OFF_MAX (26 * 3600)
/* Instants are clamped to ±(about 300,000 years) before calendar maths. */
#define TZ_T_LIMIT ((int64_t)1 << 53)

enum tz_date_kind { TZ_DATE_JULIAN1, TZ_DATE_JULIAN0, TZ_DATE_MONTH };

struct tz_rule_date {
	enum tz_date_kind kind;
	int day;   /* Jn: 1-365; n: 0-365; M: weekday 0-6 */
	int month; /* M only: 1-12 */
	int week;  /* M only: 1-5 */
	int32_t time; /* seconds after local midnight, may be negative or > 24 h */
};

struct tz_rule {
	int32_t std_off; /* east of UTC */
	int32_t dst_off;
	bool has_dst;
	struct tz_rule_date start, end;
};

struct tz_zone {
	size_t n;          /* number of transitions */
	int64_t *times;    /* n transition instants, increasing */
	int32_t *offs;     /* offset in effect from times[i] on */
	int32_t initial;   /* offset before the first transition */
	bool has_rule;     /* rule governs instants after the last transition */
	struct tz_rule rule;
};

int64_t tz_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	int64_t doe = days - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool tz_is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int tz_month_days(int64_t y, int m)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && tz_is_leap(y) ? 29 : len[m - 1];
}

static int64_t tz_floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* --- POSIX TZ rules ---------------------------------------------------- */

static int tz_rule_num(const char **p, int max, int *out)
{
	int v = 0, digits = 0;

	while (**p >= '0' && **p <= '9') {
		v = v * 10 + (**p - '0');
		(*p)++;
		if (++digits > 3 || v > max)
			return -EINVAL;
	}
	if (digits == 0)
		return -EINVAL;
	*out = v;
	return 0;
}

/* [+-]h[hh][:mm[:ss]] with hours up to max_h; OUT: seconds. */
static int tz_rule_hms(const char **p, int max_h, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;

	if (**p == '+' || **p == '-') {
		sign = **p == '-' ? -1 : 1;
		(*p)++;
	}
	if (tz_rule_num(p, max_h, &h) < 0)
		return -EINVAL;
	if (**p == ':') {
		(*p)++;
		if (tz_rule_num(p, 59, &m) < 0)
			return -EINVAL;
		if (**p == ':') {
			(*p)++;
			if (tz_rule_num(p, 59, &s) < 0)
				return -EINVAL;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return 0;
}

static int tz_rule_name(const char **p)
{
	size_t n = 0;

	if (**p == '<') {
		(*p)++;
		while (**p && **p != '>') {
			char c = **p;
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			      c == '+' || c == '-'))
				return -EINVAL;
			(*p)++;
			n++;
		}
		if (**p != '>')
			return -EINVAL;
		(*p)++;
	} else {
		while ((**p >= 'A' && **p <= 'Z') || (**p >= 'a' && **p <= 'z')) {
			(*p)++;
			n++;
		}
	}
	return n >= 3 ? 0 : -EINVAL;
}

static int tz_rule_date(const char **p, struct tz_rule_date *d)
{
	int v;

	if (**p == 'J') {
		(*p)++;
		d->kind = TZ_DATE_JULIAN1;
		if (tz_rule_num(p, 365, &v) < 0 || v < 1)
			return -EINVAL;
		d->day = v;
	} else if (**p == 'M') {
		(*p)++;
		d->kind = TZ_DATE_MONTH;
		if (tz_rule_num(p, 12, &d->month) < 0 || d->month < 1 || *(*p)++ != '.' ||
		    tz_rule_num(p, 5, &d->week) < 0 || d->week < 1 || *(*p)++ != '.' ||
		    tz_rule_num(p, 6, &d->day) < 0)
			return -EINVAL;
	} else {
		d->kind = TZ_DATE_JULIAN0;
		if (tz_rule_num(p, 365, &v) < 0)
			return -EINVAL;
		d->day = v;
	}
	d->time = 7200;
	if (**p == '/') {
		(*p)++;
		if (tz_rule_hms(p, 167, &d->time) < 0)
			return -EINVAL;
	}
	return 0;
}

static int tz_rule_parse(const char *s, struct tz_rule *r)
{
	const char *p = s;
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (strlen(s) > TZ_RULE_MAX || tz_rule_name(&p) < 0 || tz_rule_hms(&p, 24, &off) < 0)
		return -EINVAL;
	r->std_off = -off;
	if (*p == '\0')
		return 0;
	if (tz_rule_name(&p) < 0)
		return -EINVAL;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*p && *p != ',') {
		if (tz_rule_hms(&p, 24, &off) < 0)
			return -EINVAL;
		r->dst_off = -off;
	}
	if (*p == '\0') {
		/* POSIX leaves the default rule to the implementation; use US rules like glibc. */
		const char *def = ",M3.2.0,M11.1.0";
		p = def;
	}
	if (*p++ != ',' || tz_rule_date(&p, &r->start) < 0 || *p++ != ',' ||
	    tz_rule_date(&p, &r->end) < 0 || *p != '\0')
		return -EINVAL;
	return 0;
}

/* Local midnight (as seconds, offset 0) of the rule date in year y. */
static int64_t tz_rule_day(const struct tz_rule_date *d, int64_t y)
{
	int64_t jan1 = tz_days_from_civil(y, 1, 1);

	switch (d->kind) {
	case TZ_DATE_JULIAN1:
		return jan1 + d->day - 1 + (tz_is_leap(y) && d->day >= 60);
	case TZ_DATE_JULIAN0:
		return jan1 + d->day;
	case TZ_DATE_MONTH:
	default: {
		int64_t first = tz_days_from_civil(y, d->month, 1);
		int wd = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
		int day = 1 + (d->day - wd + 7) % 7 + (d->week - 1) * 7;
		while (day > tz_month_days(y, d->month))
			day -= 7;
		return first + day - 1;
	}
	}
}

static int32_t tz_rule_offset(const struct tz_rule *r, int64_t t)
{
	int64_t y;
	int m, d;

	if (!r->has_dst)
		return r->std_off;
	tz_civil_from_days(tz_floor_div(t + r->std_off, 86400), &y, &m, &d);
	int64_t start = tz_rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
	int64_t end = tz_rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
	bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
	return dst ? r->dst_off : r->std_off;
}

/* --- zones ------------------------------------------------------------- */

static struct tz_zone *tz_zone_alloc(size_t n)
{
	struct tz_zone *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	if (n) {
		z->times = calloc(n, sizeof(*z->times));
		z->offs = calloc(n, sizeof(*z->offs));
		if (!z->times || !z->offs) {
			tz_zone_free(z);
			return NULL;
		}
	}
	z->n = n;
	return z;
}

void tz_zone_free(struct tz_zone *z)
{
	if (!z)
		return;
	free(z->times);
	free(z->offs);
	free(z);
}

int tz_zone_fixed(int32_t offset, struct tz_zone **out)
{
	struct tz_zone *z;

	if (offset <= -TZ_OFF_MAX || offset >= TZ_OFF_MAX)
		return -EINVAL;
	z = tz_zone_alloc(0);
	if (!z)
		return -ENOMEM;
	z->initial = offset;
	*out = z;
	return 0;
}

int tz_zone_from_rule(const char *rule, struct tz_zone **out)
{
	struct tz_rule r;
	struct tz_zone *z;

	if (!rule || tz_rule_parse(rule, &r) < 0)
		return -EINVAL;
	z = tz_zone_alloc(0);
	if (!z)
		return -ENOMEM;
	z->has_rule = true;
	z->rule = r;
	z->initial = r.std_off;
	*out = z;
	return 0;
}

static uint32_t tz_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t tz_be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)tz_be32(p) << 32 | tz_be32(p + 4));
}

struct tz_counts {
	uint32_t isut, isstd, leap, time, type, chars;
};

/* Size of a TZif data block, or 0 if the counts are out of our limits. */
static size_t tz_block_size(const struct tz_counts *c, size_t tsize)
{
	if (c->time > TZ_TRANS_MAX || c->type == 0 || c->type > TZ_TYPES_MAX || c->chars > 1024 ||
	    c->leap > 1024 || (c->isstd && c->isstd != c->type) || (c->isut && c->isut != c->type))
		return 0;
	return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
	       c->isut;
}

static void tz_read_counts(const unsigned char *h, struct tz_counts *c)
{
	c->isut = tz_be32(h + 20);
	c->isstd = tz_be32(h + 24);
	c->leap = tz_be32(h + 28);
	c->time = tz_be32(h + 32);
	c->type = tz_be32(h + 36);
	c->chars = tz_be32(h + 40);
}

int tz_zone_parse(const void *data, size_t len, struct tz_zone **out)
{
	const unsigned char *p = data;
	struct tz_counts c;
	size_t tsize = 4, bsize;
	struct tz_zone *z;

	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	tz_read_counts(p, &c);
	bsize = tz_block_size(&c, 4);
	if (!bsize || bsize > len - 44)
		return -EINVAL;
	if (p[4] >= '2') {
		/* Skip the 32-bit block; the second header describes 64-bit data. */
		p += 44 + bsize;
		len -= 44 + bsize;
		if (len < 44 || memcmp(p, "TZif", 4) != 0)
			return -EINVAL;
		tz_read_counts(p, &c);
		tsize = 8;
		bsize = tz_block_size(&c, 8);
		if (!bsize || bsize > len - 44)
			return -EINVAL;
	}
	const unsigned char *times = p + 44;
	const unsigned char *idx = times + c.time * tsize;
	const unsigned char *types = idx + c.time;
	int32_t offs[TZ_TYPES_MAX];

	for (uint32_t i = 0; i < c.type; i++) {
		offs[i] = (int32_t)tz_be32(types + 6 * i);
		if (offs[i] <= -TZ_OFF_MAX || offs[i] >= TZ_OFF_MAX)
			return -EINVAL;
	}
	z = tz_zone_alloc(c.time);
	if (!z)
		return -ENOMEM;
	z->initial = offs[0];
	for (uint32_t i = 0; i < c.time; i++) {
		int64_t t = tsize == 8 ? tz_be64(times + 8 * i) : (int32_t)tz_be32(times + 4 * i);
		if (idx[i] >= c.type || (i > 0 && t <= z->times[i - 1])) {
			tz_zone_free(z);
			return -EINVAL;
		}
		z->times[i] = t;
		z->offs[i] = offs[idx[i]];
	}
	if (tsize == 8) {
		/* Footer: "\n" rule "\n"; an empty rule means none. */
		const char *f = (const char *)(p + 44 + bsize);
		size_t flen = len - 44 - bsize;
		char rule[TZ_RULE_MAX + 1];
		if (flen >= 2 && f[0] == '\n') {
			const char *nl = memchr(f + 1, '\n', flen - 1);
			size_t rl = nl ? (size_t)(nl - f - 1) : 0;
			if (!nl || rl > TZ_RULE_MAX) {
				tz_zone_free(z);
				return -EINVAL;
			}
			memcpy(rule, f + 1, rl);
			rule[rl] = '\0';
			if (rl > 0) {
				if (tz_rule_parse(rule, &z->rule) < 0) {
					tz_zone_free(z);
					return -EINVAL;
				}
				z->has_rule = true;
			}
		}
	}
	*out = z;
	return 0;
}

bool tz_is_valid_name(const char *name)
{
	size_t seg = 0, n = 0;

	if (!name || !*name)
		return false;
	for (const char *p = name; *p; p++, n++) {
		char c = *p;
		if (n >= TZ_NAME_MAX)
			return false;
		if (c == '/') {
			if (seg == 0)
				return false;
			seg = 0;
			continue;
		}
		if (seg == 0 && (c == '.' || c == '-'))
			return false;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '+' || c == '-' || c == '.'))
			return false;
		seg++;
	}
	return seg > 0;
}

static int tz_read_all(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *b;
	size_t n = 0, k;

	if (!f)
		return errno ? -errno : -ENOENT;
	b = malloc(TZ_FILE_MAX + 1);
	if (!b) {
		fclose(f);
		return -ENOMEM;
	}
	while ((k = fread(b + n, 1, TZ_FILE_MAX + 1 - n, f)) > 0) {
		n += k;
		if (n > TZ_FILE_MAX)
			break;
	}
	fclose(f);
	if (n > TZ_FILE_MAX) {
		free(b);
		return -EFBIG;
	}
	*buf = b;
	*len = n;
	return 0;
}

int tz_zone_load(const char *name, struct tz_zone **out)
{
	char path[512];
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	if (!name || !*name) {
		r = tz_read_all("/etc/localtime", &buf, &len);
	} else {
		const char *dir = getenv("TZDIR");
		if (!tz_is_valid_name(name))
			return -EINVAL;
		if (!dir || !*dir)
			dir = "/usr/share/zoneinfo";
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
			return -ENAMETOOLONG;
		r = tz_read_all(path, &buf, &len);
		if (r < 0 && (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0))
			return tz_zone_fixed(0, out); /* no tzdata installed (e.g. Windows) */
	}
	if (r < 0)
		return r == -EISDIR ? -ENOENT : r;
	/* A directory ("Europe") reads as empty: not a zone. */
	r = len == 0 ? -ENOENT : tz_zone_parse(buf, len, out);
	free(buf);
	return r;
}

int32_t tz_zone_offset(const struct tz_zone *z, int64_t t)
{
	size_t lo = 0, hi;

	if (t > TZ_T_LIMIT)
		t = TZ_T_LIMIT;
	if (t < -TZ_T_LIMIT)
		t = -TZ_T_LIMIT;
	if (z->n == 0 || t < z->times[0])
		return z->n == 0 && z->has_rule ? tz_rule_offset(&z->rule, t) : z->initial;
	hi = z->n;
	while (hi - lo > 1) { /* invariant: times[lo] <= t < times[hi] (hi == n: +inf) */
		size_t mid = lo + (hi - lo) / 2;
		if (z->times[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	if (lo == z->n - 1 && z->has_rule)
		return tz_rule_offset(&z->rule, t);
	return z->offs[lo];
}

/*
 * audit_read.c — reading and querying the audit trail (see audit_read.h).
 * Runs on the loop thread (recovery at open, `audit verify`) and on worker
 * threads (queries, CSV export); it touches no server state, only the files
 * named by its arguments, and never logs (callers decide).
 *
 * Invariants: every line read is capped at AUDIT_MAX_LINE; the newest file is
 * read only up to the snapshot's length, so a record being appended by the
 * loop is never seen half-written; queries parse records but do not verify
 * the chain (that is `audit verify`).
 */
#include "server/audit_read.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static const char hash_key[] = ",\"hash\":\"";
#define HASH_KEY_LEN (sizeof(hash_key) - 1)
#define SUFFIX_LEN (HASH_KEY_LEN + 64 + 2) /* ,"hash":"<64 hex>"} */

void audit_sha256_hex(const void *data, size_t len, char out[AUDIT_HASH_HEX])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, data, len);
	sodium_bin2hex(out, AUDIT_HASH_HEX, h, sizeof(h));
}

static bool is_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool is_hex64(const char *s)
{
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

bool audit_is_month_name(const char *name)
{
	return strlen(name) == 13 && is_digits(name, 4) && name[4] == '-' && is_digits(name + 5, 2) &&
	       !strcmp(name + 7, ".jsonl") && name[5] <= '1';
}

static int cmp_names(const void *a, const void *b) { return strcmp(a, b); }

int audit_read_list(const char *dir, char (**names)[AUDIT_NAME_MAX], size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char(*v)[AUDIT_NAME_MAX] = NULL;
	size_t cnt = 0, cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (!audit_is_month_name(e->d_name))
			continue;
		if (cnt == AUDIT_MAX_FILES) {
			free(v);
			closedir(d);
			return -E2BIG;
		}
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			void *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		memcpy(v[cnt++], e->d_name, 14);
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_names);
	*names = v;
	*n = cnt;
	return 0;
}

int audit_read_lines(const char *path, int64_t max_bytes, int (*cb)(const char *line, size_t len, size_t lineno, void *arg),
		     void *arg, int64_t *end_off, int64_t *tail)
{
	const size_t cap = AUDIT_MAX_LINE + 2;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char *buf;
	size_t have = 0, lineno = 0;
	int64_t consumed = 0, total = 0;
	int r = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		size_t want = cap - 1 - have, off = 0;
		ssize_t n;

		if (want == 0) {
			r = -EFBIG;
			break;
		}
		if (max_bytes >= 0 && (int64_t)want > max_bytes - total)
			want = (size_t)(max_bytes - total);
		if (want == 0)
			break;
		n = read(fd, buf + have, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		total += n;
		have += (size_t)n;
		for (;;) {
			char *nl = memchr(buf + off, '\n', have - off);
			size_t len;
			if (!nl)
				break;
			len = (size_t)(nl - (buf + off));
			*nl = '\0';
			lineno++;
			consumed += (int64_t)len + 1;
			r = cb(buf + off, len, lineno, arg);
			off += len + 1;
			if (r)
				goto out;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
out:
	if (end_off)
		*end_off = consumed;
	if (tail)
		*tail = total - consumed;
	free(buf);
	close(fd);
	return r;
}

static bool str_or_null(json_t *v) { return json_is_string(v) || json_is_null(v); }

int audit_check_line(const char *line, size_t len, json_t **rec, char hash[AUDIT_HASH_HEX], const char **why)
{
	const char *suf;
	char h[AUDIT_HASH_HEX];
	json_t *o, *prev, *hv;
	json_error_t jerr;

	if (rec)
		*rec = NULL;
	*why = "not an audit record";
	if (len < SUFFIX_LEN + 2 || line[0] != '{' || strlen(line) != len)
		return -EBADMSG;
	suf = line + len - SUFFIX_LEN;
	if (memcmp(suf, hash_key, HASH_KEY_LEN) != 0 || !is_hex64(suf + HASH_KEY_LEN) ||
	    suf[HASH_KEY_LEN + 64] != '"' || suf[HASH_KEY_LEN + 65] != '}')
		return -EBADMSG;
	audit_sha256_hex(line, len - SUFFIX_LEN, h);
	if (memcmp(h, suf + HASH_KEY_LEN, 64) != 0) {
		*why = "record hash does not match its content";
		return -EBADMSG;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		*why = "record is not valid JSON";
		return -EBADMSG;
	}
	prev = json_object_get(o, "prev");
	hv = json_object_get(o, "hash");
	if (json_object_size(o) != 10 || !json_is_integer(json_object_get(o, "seq")) ||
	    json_integer_value(json_object_get(o, "seq")) < 1 || !json_is_string(json_object_get(o, "time")) ||
	    !json_is_string(json_object_get(o, "actor")) || !str_or_null(json_object_get(o, "client")) ||
	    !json_is_string(json_object_get(o, "action")) || !str_or_null(json_object_get(o, "target")) ||
	    !json_is_string(json_object_get(o, "outcome")) || !json_is_object(json_object_get(o, "details")) ||
	    !json_is_string(prev) || json_string_length(prev) != 64 || !is_hex64(json_string_value(prev)) ||
	    !json_is_string(hv) || strcmp(json_string_value(hv), h) != 0) {
		json_decref(o);
		*why = "record fields are missing or malformed";
		return -EBADMSG;
	}
	memcpy(hash, h, AUDIT_HASH_HEX);
	if (rec)
		*rec = o;
	else
		json_decref(o);
	*why = NULL;
	return 0;
}

static int parse_num(const char *s, size_t n, int min, int max, int *out)
{
	int v = 0;
	if (!is_digits(s, n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int audit_parse_time(const char *s, int64_t *ms)
{
	size_t n = strlen(s);
	struct tm tm;
	int y, mo, d, h, mi, sec, frac_ms = 0, off = 0;
	const char *p;
	time_t t;

	if (n >= 1 && n <= 12 && is_digits(s, n)) {
		int64_t v;
		if (util_parse_i64(s, 0, 253402300799, &v) < 0)
			return -EINVAL;
		*ms = v * 1000;
		return 0;
	}
	if (n < 20 || n > 40 || parse_num(s, 4, 1970, 9999, &y) < 0 || s[4] != '-' ||
	    parse_num(s + 5, 2, 1, 12, &mo) < 0 || s[7] != '-' || parse_num(s + 8, 2, 1, 31, &d) < 0 ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || parse_num(s + 11, 2, 0, 23, &h) < 0 || s[13] != ':' ||
	    parse_num(s + 14, 2, 0, 59, &mi) < 0 || s[16] != ':' || parse_num(s + 17, 2, 0, 60, &sec) < 0)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		int digits = 0;
		p++;
		while (*p >= '0' && *p <= '9') {
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
			digits++;
			p++;
		}
		if (digits == 0)
			return -EINVAL;
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh, om;
		if (parse_num(p + 1, 2, 0, 23, &oh) < 0 || parse_num(p + 4, 2, 0, 59, &om) < 0)
			return -EINVAL;
		off = (oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
	} else {
		return -EINVAL;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ms = ((int64_t)t - off) * 1000 + frac_ms;
	return 0;
}

void audit_format_time(int64_t ms, char buf[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char base[24];

	gmtime_r(&t, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

/* ---- queries ---- */

static bool str_eq(json_t *v, const char *want) { return json_is_string(v) && !strcmp(json_string_value(v), want); }

static bool record_matches(json_t *rec, const struct audit_filter *f)
{
	json_t *tv = json_object_get(rec, "time"), *av = json_object_get(rec, "action");
	int64_t t;

	if (f->actor && !str_eq(json_object_get(rec, "actor"), f->actor))
		return false;
	if (f->target && !str_eq(json_object_get(rec, "target"), f->target))
		return false;
	if (f->outcome && !str_eq(json_object_get(rec, "outcome"), f->outcome))
		return false;
	if (f->action_prefix &&
	    (!json_is_string(av) || strncmp(json_string_value(av), f->action_prefix, strlen(f->action_prefix)) != 0))
		return false;
	if (f->since_ms != INT64_MIN || f->until_ms != INT64_MAX) {
		if (!json_is_string(tv) || audit_parse_time(json_string_value(tv), &t) < 0)
			return false;
		if (t < f->since_ms || t >= f->until_ms)
			return false;
	}
	return true;
}

/* Start of the month after the one named by a file ("YYYY-MM.jsonl"), in ms. */
static int64_t month_end_ms(const char *name)
{
	struct tm tm;
	int y = 0, m = 0;
	memset(&tm, 0, sizeof(tm));
	for (int i = 0; i < 4; i++)
		y = y * 10 + (name[i] - '0');
	m = (name[5] - '0') * 10 + (name[6] - '0');
	tm.tm_year = y - 1900 + (m == 12);
	tm.tm_mon = m % 12;
	tm.tm_mday = 1;
	return (int64_t)timegm(&tm) * 1000;
}

struct scan {
	const struct audit_filter *f;
	bool stop; /* reached before_seq */
	int (*emit)(struct scan *s, json_t *rec); /* takes a reference */
	/* csv */
	struct evbuffer *out;
	size_t max_bytes;
};

static int scan_line(const char *line, size_t len, size_t lineno, void *arg)
{
	struct scan *s = arg;
	json_t *rec;
	json_t *seq;
	int r;

	(void)lineno;
	rec = json_loadb(line, len, 0, NULL);
	if (!rec)
		return 0; /* corrupt lines are `audit verify`'s business */
	seq = json_object_get(rec, "seq");
	if (!json_is_integer(seq)) {
		json_decref(rec);
		return 0;
	}
	if (json_integer_value(seq) >= s->f->before_seq) {
		json_decref(rec);
		s->stop = true;
		return 1;
	}
	if (!record_matches(rec, s->f)) {
		json_decref(rec);
		return 0;
	}
	r = s->emit(s, rec);
	return r;
}

static int scan_files(const struct audit_snapshot *snap, struct scan *s)
{
	char(*names)[AUDIT_NAME_MAX] = NULL;
	size_t n = 0;
	int r;

	if (!snap->head_name[0])
		return 0;
	r = audit_read_list(snap->dir, &names, &n);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	for (size_t i = 0; i < n && !s->stop; i++) {
		char path[1200];
		int cmp = strcmp(names[i], snap->head_name);
		if (cmp > 0)
			break; /* created after the snapshot */
		if (s->f->since_ms != INT64_MIN && month_end_ms(names[i]) <= s->f->since_ms)
			continue; /* every record in it is older than since */
		snprintf(path, sizeof(path), "%s/%s", snap->dir, names[i]);
		r = audit_read_lines(path, cmp == 0 ? snap->head_len : -1, scan_line, s, NULL, NULL);
		if (r == -ENOENT || r == -EFBIG)
			continue; /* gone, or corrupt (an over-long line): `audit verify` reports it */
		if (r < 0)
			break;
		r = 0;
	}
	free(names);
	return r < 0 ? r : 0;
}

int audit_read_lines_reverse(const char *path, int64_t max_bytes,
			     int (*cb)(const char *line, size_t len, size_t lineno, void *arg), void *arg)
{
	const size_t chunk = 64 * 1024, cap = AUDIT_MAX_LINE + 2 + chunk;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	char *buf = NULL;
	size_t start = cap, end = cap, lineno = 0;
	int64_t pos;
	bool trimmed = false; /* data ends just after a '\n' (a torn tail was dropped) */
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !(buf = malloc(cap))) {
		r = buf ? -errno : -ENOMEM;
		goto out;
	}
	pos = max_bytes >= 0 && max_bytes < st.st_size ? max_bytes : st.st_size;
	/* buf[start, end) holds the file bytes [pos, pos + end - start). */
	for (;;) {
		size_t n;
		if (trimmed && end > start) {
			char *p = memrchr(buf + start, '\n', end - 1 - start);
			if (p || pos == 0) {
				size_t ls = p ? (size_t)(p + 1 - buf) : start;
				buf[end - 1] = '\0';
				r = cb(buf + ls, end - 1 - ls, ++lineno, arg);
				if (r)
					break;
				end = ls;
				continue;
			}
		}
		if (pos == 0)
			break;
		n = (int64_t)chunk < pos ? chunk : (size_t)pos;
		if (start < n) { /* make room in front: move the partial line to the back */
			size_t len = end - start;
			if (len + n > cap) {
				r = -EFBIG;
				break;
			}
			memmove(buf + cap - len, buf + start, len);
			start = cap - len;
			end = cap;
		}
		for (size_t got = 0; got < n;) {
			ssize_t k = pread(fd, buf + start - n + got, n - got, pos - (int64_t)n + (int64_t)got);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				r = k < 0 ? -errno : -EIO;
				goto out;
			}
			got += (size_t)k;
		}
		start -= n;
		pos -= (int64_t)n;
		if (!trimmed) {
			char *q = memrchr(buf + start, '\n', end - start);
			if (q) {
				end = (size_t)(q + 1 - buf);
				trimmed = true;
			} else if (end - start > AUDIT_MAX_LINE + 1) {
				r = -EFBIG;
				break;
			}
		}
	}
out:
	free(buf);
	close(fd);
	return r;
}

/* seq from the fixed prefix `{"seq":N,` that the writer always produces; 0 if absent. */
static int64_t line_seq(const char *line)
{
	int64_t v = 0;
	if (strncmp(line, "{\"seq\":", 7) != 0)
		return 0;
	for (const char *p = line + 7; *p >= '0' && *p <= '9' && v < INT64_MAX / 10; p++)
		v = v * 10 + (*p - '0');
	return v;
}

struct page {
	const struct audit_filter *f;
	json_t *arr; /* newest first */
	size_t want;  /* limit + 1: one more than shown tells whether there is a next page */
};

static int page_line(const char *line, size_t len, size_t lineno, void *arg)
{
	struct page *pg = arg;
	int64_t seq = line_seq(line);
	json_t *rec;

	(void)lineno;
	if (seq >= pg->f->before_seq)
		return 0; /* newer than the cursor: skipped without parsing */
	rec = json_loadb(line, len, 0, NULL);
	if (!rec)
		return 0; /* corrupt lines are `audit verify`'s business */
	if (!json_is_integer(json_object_get(rec, "seq")) ||
	    json_integer_value(json_object_get(rec, "seq")) >= pg->f->before_seq || !record_matches(rec, pg->f)) {
		json_decref(rec);
		return 0;
	}
	if (json_array_append_new(pg->arr, rec) < 0)
		return -ENOMEM;
	return json_array_size(pg->arr) >= pg->want ? 1 : 0;
}

int audit_query_page(const struct audit_snapshot *snap, const struct audit_filter *f, size_t limit, json_t **items,
		     int64_t *next)
{
	char(*names)[AUDIT_NAME_MAX] = NULL;
	struct page pg = {f, NULL, limit + 1};
	size_t n = 0;
	int r = 0;

	*items = NULL;
	*next = 0;
	if (limit == 0)
		return -EINVAL;
	pg.arr = json_array();
	if (!pg.arr)
		return -ENOMEM;
	if (snap->head_name[0]) {
		r = audit_read_list(snap->dir, &names, &n);
		if (r == -ENOENT)
			r = 0;
	}
	/* Newest file first, each read backwards: a page costs what it shows,
	 * unless a filter is rare. */
	for (size_t k = n; r == 0 && k-- > 0 && json_array_size(pg.arr) < pg.want;) {
		char path[1200];
		int cmp = strcmp(names[k], snap->head_name);
		if (cmp > 0)
			continue; /* created after the snapshot */
		if (f->since_ms != INT64_MIN && month_end_ms(names[k]) <= f->since_ms)
			break; /* this and every older file precede since */
		snprintf(path, sizeof(path), "%s/%s", snap->dir, names[k]);
		r = audit_read_lines_reverse(path, cmp == 0 ? snap->head_len : -1, page_line, &pg);
		if (r == -ENOENT || r == -EFBIG || r > 0)
			r = 0; /* gone, corrupt (`audit verify` reports it), or page full */
	}
	free(names);
	if (r < 0) {
		json_decref(pg.arr);
		return r;
	}
	if (json_array_size(pg.arr) > limit) {
		json_array_remove(pg.arr, limit);
		*next = json_integer_value(json_object_get(json_array_get(pg.arr, limit - 1), "seq"));
	}
	*items = pg.arr;
	return 0;
}

/* Append one CSV cell: quoted when needed, formula-leading characters defused. */
static int csv_cell(struct evbuffer *out, const char *v, bool first)
{
	bool formula, quote;

	if (!first && evbuffer_add(out, ",", 1) < 0)
		return -ENOMEM;
	if (!v)
		return 0;
	formula = v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r';
	quote = formula || strpbrk(v, ",\"\r\n") != NULL;
	if (quote && evbuffer_add(out, "\"", 1) < 0)
		return -ENOMEM;
	if (formula && evbuffer_add(out, "'", 1) < 0)
		return -ENOMEM;
	for (const char *p = v; *p;) {
		size_t n = strcspn(p, "\"");
		if (n && evbuffer_add(out, p, n) < 0)
			return -ENOMEM;
		p += n;
		if (*p == '"') {
			if (evbuffer_add(out, "\"\"", 2) < 0)
				return -ENOMEM;
			p++;
		}
	}
	if (quote && evbuffer_add(out, "\"", 1) < 0)
		return -ENOMEM;
	return 0;
}

static const char *const csv_columns[] = {"seq",	 "time",    "actor", "client", "action",
					  "target", "outcome", "details", "prev", "hash"};

static int emit_csv(struct scan *s, json_t *rec)
{
	int r = 0;
	for (size_t i = 0; i < ARRAY_LEN(csv_columns) && r == 0; i++) {
		json_t *v = json_object_get(rec, csv_columns[i]);
		char num[32];
		char *dump = NULL;
		const char *txt = NULL;
		if (json_is_string(v))
			txt = json_string_value(v);
		else if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			txt = num;
		} else if (v && !json_is_null(v)) {
			dump = json_dumps(v, JSON_COMPACT);
			txt = dump;
		}
		r = csv_cell(s->out, txt, i == 0);
		free(dump);
	}
	json_decref(rec);
	if (r == 0 && evbuffer_add(s->out, "\r\n", 2) < 0)
		r = -ENOMEM;
	if (r == 0 && evbuffer_get_length(s->out) > s->max_bytes)
		r = -E2BIG;
	return r;
}

int audit_query_csv(const struct audit_snapshot *snap, const struct audit_filter *f, struct evbuffer *out,
		    size_t max_bytes)
{
	struct scan s;

	memset(&s, 0, sizeof(s));
	s.f = f;
	s.emit = emit_csv;
	s.out = out;
	s.max_bytes = max_bytes;
	for (size_t i = 0; i < ARRAY_LEN(csv_columns); i++)
		if (csv_cell(out, csv_columns[i], i == 0) < 0)
			return -ENOMEM;
	if (evbuffer_add(out, "\r\n", 2) < 0)
		return -ENOMEM;
	return scan_files(snap, &s);
}

/*
 * audit_read.h — reading the audit trail: month-file listing, bounded line
 * iteration, per-line hash check, time parsing, and the filtered queries
 * behind GET /api/v1/audit (JSON page, CSV export).
 *
 * Thread-safety: every function here is pure or touches only the files it is
 * given, so the query functions run on worker threads.  A reader never sees
 * a half-written record because it reads the newest file only up to a byte
 * length captured on the loop thread (struct audit_snapshot, audit.h), and
 * the loop writes each record with one write(2) before that capture.
 *
 * Record line format (what the hash covers):
 *   {"seq":N,"time":"…","actor":"…","client":…,"action":"…","target":…,
 *    "outcome":"…","details":{…},"prev":"<64 hex>","hash":"<64 hex>"}
 * hash = SHA-256 (lowercase hex) of the line's bytes from the opening '{' up
 * to, not including, the final `,"hash":"…"}`; prev = the previous record's
 * hash (64 zeros for seq 1).  Hashing raw bytes needs no JSON canonical form.
 */
#ifndef RM_AUDIT_READ_H
#define RM_AUDIT_READ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define AUDIT_MAX_LINE (64 * 1024)  /* longer lines are corrupt by definition */
#define AUDIT_HASH_HEX 65           /* 64 hex digits + NUL */
#define AUDIT_NAME_MAX 16           /* "YYYY-MM.jsonl" + NUL */
#define AUDIT_MAX_FILES 4096        /* ~340 years of months */
#define AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* A consistent, thread-independent view of the trail (see audit_snapshot_take()). */
struct audit_snapshot {
	char dir[1100];
	char head_name[AUDIT_NAME_MAX]; /* newest file being written ("" = none yet) */
	int64_t head_len;               /* bytes of head_name that hold complete records */
};

/* Filters of a query; strings are borrowed and may be NULL (no filter). */
struct audit_filter {
	const char *actor;         /* exact */
	const char *action_prefix; /* prefix of action */
	const char *target;        /* exact */
	const char *outcome;       /* exact */
	int64_t since_ms;          /* time >= since (INT64_MIN: none) */
	int64_t until_ms;          /* time <  until (INT64_MAX: none) */
	int64_t before_seq;        /* seq < before_seq (paging cursor; INT64_MAX: none) */
};

/* SHA-256 of data as lowercase hex. */
void audit_sha256_hex(const void *data, size_t len, char out[AUDIT_HASH_HEX]);

/* True for "YYYY-MM.jsonl". */
bool audit_is_month_name(const char *name);

/* List the month files in dir, sorted ascending.  OUT: *names (malloc'd
 * array, caller frees), *n.  Return 0 or -errno (-ENOENT: no directory). */
int audit_read_list(const char *dir, char (**names)[AUDIT_NAME_MAX], size_t *n);

/* Call cb for each complete ('\n'-terminated) line of path, reading at most
 * max_bytes (< 0: all).  cb gets the line without '\n' (NUL-terminated) and
 * its 1-based number; it returns 0 to go on, > 0 to stop (returned), < 0 on
 * error (returned).  A line over AUDIT_MAX_LINE → -EFBIG.  OUT (nullable):
 * *end_off = offset just past the last complete line read, *tail = bytes
 * after it (a line without its '\n'). */
int audit_read_lines(const char *path, int64_t max_bytes, int (*cb)(const char *line, size_t len, size_t lineno, void *arg),
		     void *arg, int64_t *end_off, int64_t *tail);

/* The same, last line first (newest records first), without reading more of
 * the file than the lines consumed.  A final segment without '\n' (a torn
 * write) is skipped.  lineno counts from the end (1 = last line). */
int audit_read_lines_reverse(const char *path, int64_t max_bytes,
			     int (*cb)(const char *line, size_t len, size_t lineno, void *arg), void *arg);

/* Check a line's format and own hash.  OUT: *rec (parsed, caller decrefs;
 * nullable), hash.  Return 0, or -EBADMSG with a static reason in *why. */
int audit_check_line(const char *line, size_t len, json_t **rec, char hash[AUDIT_HASH_HEX], const char **why);

/* Parse RFC 3339 ("2026-11-25T21:00:00Z", fraction and ±hh:mm allowed) or
 * epoch seconds.  OUT: *ms.  Return 0 or -EINVAL. */
int audit_parse_time(const char *s, int64_t *ms);

/* Format ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf[32]. */
void audit_format_time(int64_t ms, char buf[32]);

/* Newest-first page: up to limit records matching f.  OUT: *items (JSON
 * array of record objects), *next (seq to pass as cursor, 0 = no more).
 * Return 0 or -errno.  Worker-safe. */
int audit_query_page(const struct audit_snapshot *snap, const struct audit_filter *f, size_t limit, json_t **items,
		     int64_t *next);

/* All records matching f, oldest first, as CSV with a header row, appended
 * to out (at most max_bytes, else -E2BIG).  Cells that a spreadsheet would
 * treat as a formula are prefixed with '.  Return 0 or -errno.  Worker-safe. */
int audit_query_csv(const struct audit_snapshot *snap, const struct audit_filter *f, struct evbuffer *out,
		    size_t max_bytes);

#endif

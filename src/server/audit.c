/*
 * audit.c — the append-only, hash-chained audit trail (see audit.h for the
 * contract, audit_read.h for the line format).  Loop thread only, except
 * audit_verify_main(), which runs alone in the `audit verify` subcommand.
 *
 * The batched fdatasync runs on the worker pool (a dup of the head file's
 * descriptor, one at a time: sync_busy), so the loop never waits for the
 * disk; the worker touches only sync_fd and sync_err while sync_busy.
 * Without a pool (before it exists, after it is gone) it runs inline.
 *
 * Invariants:
 *  - a->seq / a->prev always describe the last complete record on disk, so
 *    the next record chains onto it (across month files too);
 *  - a->size is the length of the head file up to its last complete record;
 *    a failed or short write is truncated back to it, so the file never
 *    holds a partial record while the process lives;
 *  - records go to the file of the current UTC month, or to the newest
 *    existing file if the clock went back, so files stay in chain order.
 */
#include "server/audit.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "server/http.h"
#include "server/server.h"
#include "server/store_audit.h"
#include "server/workers.h"

#define AUDIT_SYNC_DELAY_US 100000 /* batch window for fdatasync */
#define AUDIT_MAX_RECORD (16 * 1024) /* larger details are replaced by a note */
#define AUDIT_MAX_FIELD 256          /* actor, client, action, target, outcome */

struct audit {
	char dir[1100];
	int fd;       /* head file open for appending, or -1 */
	char month[8]; /* "YYYY-MM" of the head file ("" = no file yet) */
	int64_t size;  /* complete bytes in the head file */
	int64_t seq;   /* seq of the last record (0 = none) */
	char prev[AUDIT_HASH_HEX];
	uint64_t failures;
	bool failing; /* current failure streak already logged */
	bool dirty;   /* written since the last fdatasync */
	struct event *sync_ev;
	struct workers *w; /* srv->workers, taken at the first record (NULL: sync inline) */
	bool sync_busy;    /* a worker syncs sync_fd */
	int sync_fd, sync_err;
};

static int audit_append(struct audit *a, struct event_base *base, const char *actor, const char *client,
			const char *action, const char *target, const char *outcome, json_t *details);

/* A JSON string for a caller-supplied field: capped, and bytes that are not
 * valid UTF-8 (e.g. a login name sent by an attacker) replaced by '?'. */
static json_t *field_string(const char *v)
{
	char buf[AUDIT_MAX_FIELD + 1];
	json_t *s;

	if (!v)
		return json_null();
	util_strlcpy(buf, v, sizeof(buf));
	s = json_string(buf);
	if (s)
		return s;
	for (char *p = buf; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	return json_string(buf);
}

static void audit_note_failure(struct audit *a, const char *what, int err)
{
	a->failures++;
	if (a->failing)
		return;
	a->failing = true;
	log_error("cannot %s audit trail in '%s': %s (further failures are counted, not logged)", what, a->dir,
		  strerror(err));
}

static void audit_sync(struct audit *a)
{
	if (a->fd >= 0 && a->dirty) {
		if (fdatasync(a->fd) < 0)
			audit_note_failure(a, "sync", errno);
		a->dirty = false;
	}
}

static void sync_run(void *arg)
{
	struct audit *a = arg;

	a->sync_err = fdatasync(a->sync_fd) < 0 ? errno : 0;
	close(a->sync_fd);
}

static void sync_done(void *arg)
{
	struct audit *a = arg;

	a->sync_busy = false;
	if (a->sync_err)
		audit_note_failure(a, "sync", a->sync_err);
}

static void on_sync_timer(evutil_socket_t fd, short what, void *arg)
{
	struct audit *a = arg;
	struct timeval tv = {0, AUDIT_SYNC_DELAY_US};

	(void)fd;
	(void)what;
	if (!a->w || a->fd < 0 || !a->dirty) {
		audit_sync(a);
		return;
	}
	if (a->sync_busy) { /* the previous sync still runs: try again after the window */
		if (evtimer_add(a->sync_ev, &tv) < 0)
			audit_sync(a);
		return;
	}
	a->sync_fd = dup(a->fd);
	if (a->sync_fd < 0) {
		audit_sync(a);
		return;
	}
	a->sync_err = 0;
	a->sync_busy = true;
	a->dirty = false;
	if (workers_submit(a->w, sync_run, sync_done, a) < 0) {
		a->sync_busy = false;
		close(a->sync_fd);
		a->dirty = true;
		audit_sync(a);
	}
}

static void fsync_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
}

/* Make the file for month the head file, open for appending. */
static int audit_open_month(struct audit *a, const char *month)
{
	char path[1200];
	struct stat st;
	int fd;

	if (a->fd >= 0 && !strcmp(month, a->month))
		return 0;
	if (a->fd >= 0) {
		audit_sync(a);
		close(a->fd);
		a->fd = -1;
	}
	snprintf(path, sizeof(path), "%s/%s.jsonl", a->dir, month);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & 0077)
		(void)fchmod(fd, 0600);
	fsync_dir(a->dir); /* a new month file must survive a power loss too */
	a->fd = fd;
	util_strlcpy(a->month, month, sizeof(a->month));
	a->size = st.st_size;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void audit_schedule_sync(struct audit *a, struct event_base *base)
{
	struct timeval tv = {0, AUDIT_SYNC_DELAY_US};

	if (base && !a->sync_ev)
		a->sync_ev = evtimer_new(base, on_sync_timer, a);
	if (!a->sync_ev || evtimer_add(a->sync_ev, &tv) < 0) {
		audit_sync(a);
		return;
	}
}

static int audit_append(struct audit *a, struct event_base *base, const char *actor, const char *client,
			const char *action, const char *target, const char *outcome, json_t *details)
{
	char tbuf[32], month[8], hash[AUDIT_HASH_HEX];
	json_t *o = json_object();
	char *s = NULL, *line = NULL;
	size_t len, plen, llen;
	int r;

	if (!json_is_object(details)) {
		json_decref(details);
		details = json_object();
	}
	audit_format_time(util_now_ms(), tbuf);
	memcpy(month, tbuf, 7);
	month[7] = '\0';
	if (a->month[0] && strcmp(month, a->month) < 0)
		memcpy(month, a->month, sizeof(month)); /* clock went back: stay in order */
	if (!o || !details || json_object_set_new(o, "seq", json_integer(a->seq + 1)) < 0 ||
	    json_object_set_new(o, "time", json_string(tbuf)) < 0 ||
	    json_object_set_new(o, "actor", field_string(actor ? actor : "system")) < 0 ||
	    json_object_set_new(o, "client", field_string(client && client[0] ? client : NULL)) < 0 ||
	    json_object_set_new(o, "action", field_string(action ? action : "unknown")) < 0 ||
	    json_object_set_new(o, "target", field_string(target)) < 0 ||
	    json_object_set_new(o, "outcome", field_string(outcome ? outcome : "ok")) < 0 ||
	    json_object_set(o, "details", details) < 0 || json_object_set_new(o, "prev", json_string(a->prev)) < 0) {
		r = -ENOMEM;
		goto out;
	}
	s = json_dumps(o, JSON_COMPACT);
	if (s && strlen(s) > AUDIT_MAX_RECORD) {
		size_t big = strlen(s);
		free(s);
		s = NULL;
		if (json_object_set_new(o, "details", json_pack("{s:b,s:I}", "truncated", 1, "bytes", (json_int_t)big)) == 0)
			s = json_dumps(o, JSON_COMPACT);
	}
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	len = strlen(s);
	plen = len - 1; /* without the closing '}' */
	audit_sha256_hex(s, plen, hash);
	llen = plen + 9 + 64 + 3;
	line = malloc(llen + 1);
	if (!line) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(line, s, plen);
	snprintf(line + plen, llen + 1 - plen, ",\"hash\":\"%s\"}\n", hash);
	r = audit_open_month(a, month);
	if (r < 0)
		goto out;
	r = write_all(a->fd, line, llen);
	if (r < 0) {
		/* Never leave a partial record behind while we live. */
		if (ftruncate(a->fd, a->size) < 0)
			log_warn("cannot truncate audit file after a failed write");
		goto out;
	}
	a->size += (int64_t)llen;
	a->seq++;
	memcpy(a->prev, hash, sizeof(a->prev));
	a->dirty = true;
	if (a->failing) {
		log_info("audit trail writable again (%llu records lost)", (unsigned long long)a->failures);
		a->failing = false;
	}
	audit_schedule_sync(a, base);
out:
	if (r < 0)
		audit_note_failure(a, "write", -r);
	free(line);
	free(s);
	json_decref(o);
	json_decref(details);
	return r;
}

/* ---- open: recover the chain head ---- */

struct last_line {
	char *buf; /* AUDIT_MAX_LINE + 1 */
	size_t len;
	bool have;
};

static int keep_last(const char *line, size_t len, size_t lineno, void *arg)
{
	struct last_line *l = arg;
	(void)lineno;
	memcpy(l->buf, line, len + 1);
	l->len = len;
	l->have = true;
	return 0;
}

/* Move the incomplete tail [end, EOF) of path aside and truncate the file. */
static int audit_cut_tail(const char *path, int64_t end, int64_t tail, char *saved, size_t savedcap)
{
	char *buf = malloc((size_t)tail);
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	int r = 0;
	ssize_t n;

	if (!buf || fd < 0) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	n = pread(fd, buf, (size_t)tail, end);
	snprintf(saved, savedcap, "%s.torn-%lld", path, (long long)util_now_ms());
	if (n > 0)
		(void)util_write_file_atomic(saved, buf, (size_t)n, 0600);
	if (ftruncate(fd, end) < 0 || fsync(fd) < 0)
		r = -errno;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

static int audit_recover(struct audit *a)
{
	char(*names)[AUDIT_NAME_MAX] = NULL;
	size_t n = 0;
	struct last_line l = {0};
	json_t *note = NULL;
	int r;

	r = audit_read_list(a->dir, &names, &n);
	if (r < 0)
		return r;
	l.buf = malloc(AUDIT_MAX_LINE + 2);
	if (!l.buf) {
		free(names);
		return -ENOMEM;
	}
	for (size_t k = n; k-- > 0;) {
		char path[1200];
		int64_t end = 0, tail = 0;

		snprintf(path, sizeof(path), "%s/%s", a->dir, names[k]);
		l.have = false;
		r = audit_read_lines(path, -1, keep_last, &l, &end, &tail);
		if (r == -EFBIG) {
			log_error("audit file '%s' holds an over-long line; `audit verify` will report it", path);
			r = 0;
		} else if (r < 0) {
			log_error("cannot read audit file '%s': %s", path, strerror(-r));
			goto out;
		}
		if (k == n - 1) {
			memcpy(a->month, names[k], 7);
			a->month[7] = '\0';
			a->size = end;
			if (tail > 0 && r == 0) {
				char saved[1300];
				r = audit_cut_tail(path, end, tail, saved, sizeof(saved));
				if (r < 0) {
					log_error("cannot truncate the incomplete record at the end of '%s': %s", path,
						  strerror(-r));
					goto out;
				}
				log_warnx("audit file '%s' ended with an incomplete record (%lld bytes, from an "
					  "interrupted write); moved it to '%s' and truncated the file",
					  path, (long long)tail, saved);
				note = json_pack("{s:s,s:I,s:s}", "file", names[k], "bytes", (json_int_t)tail, "saved_as",
						 strrchr(saved, '/') + 1);
			}
		}
		if (l.have) {
			const char *why;
			json_t *rec;
			if (audit_check_line(l.buf, l.len, &rec, a->prev, &why) == 0) {
				a->seq = json_integer_value(json_object_get(rec, "seq"));
				json_decref(rec);
			} else {
				json_t *o = json_loadb(l.buf, l.len, 0, NULL);
				json_t *sv = json_object_get(o, "seq");
				log_error("last record of audit file '%s' is invalid (%s); the chain continues from it and "
					  "`audit verify` will report the break",
					  path, why);
				audit_sha256_hex(l.buf, l.len, a->prev);
				a->seq = json_is_integer(sv) ? json_integer_value(sv) : 0;
				json_decref(o);
			}
			break;
		}
	}
	r = 0;
	if (note)
		audit_append(a, NULL, "system", NULL, "audit.tail_truncated", NULL, "ok", note);
	note = NULL;
out:
	json_decref(note);
	free(l.buf);
	free(names);
	return r;
}

int audit_open(const char *data_dir, struct audit **out)
{
	struct audit *a = calloc(1, sizeof(*a));
	struct stat st;
	int r;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->fd = -1;
	memcpy(a->prev, AUDIT_GENESIS, sizeof(a->prev));
	if (snprintf(a->dir, sizeof(a->dir), "%s/audit", data_dir) >= (int)sizeof(a->dir)) {
		free(a);
		return -ENAMETOOLONG;
	}
	r = util_mkdir_p(a->dir, 0700);
	/* stat, not lstat: an operator may point audit/ at another disk with a symlink. */
	if (r == 0 && (stat(a->dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		r = -ENOTDIR;
	if (r == 0 && (st.st_mode & 0077))
		(void)chmod(a->dir, 0700);
	if (r == 0)
		r = audit_recover(a);
	if (r < 0) {
		free(a);
		return r;
	}
	log_info("audit trail '%s': head seq %lld", a->dir, (long long)a->seq);
	*out = a;
	return 0;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	if (a->sync_ev)
		event_free(a->sync_ev);
	audit_sync(a);
	if (a->fd >= 0)
		close(a->fd);
	free(a);
}

void audit_reopen(struct audit *a)
{
	if (!a || a->fd < 0)
		return;
	audit_sync(a);
	close(a->fd);
	a->fd = -1; /* a->month and a->size stay: the snapshot and ordering rules use them */
}

void audit_snapshot_take(const struct audit *a, struct audit_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	util_strlcpy(out->dir, a->dir, sizeof(out->dir));
	if (a->month[0])
		snprintf(out->head_name, sizeof(out->head_name), "%s.jsonl", a->month);
	out->head_len = a->size;
}

uint64_t audit_failures(const struct audit *a) { return a ? a->failures : 0; }

void audit_log(struct server *srv, struct http_ctx *c, const char *action, const char *target, const char *outcome,
	       json_t *details)
{
	char agent[64];
	const char *actor = "system", *client = NULL;

	if (c) {
		client = c->client_addr;
		if (c->via == AUTH_VIA_AGENT) {
			snprintf(agent, sizeof(agent), "agent:%lld", (long long)c->host_id);
			actor = agent;
		} else if (c->username[0]) {
			actor = c->username;
		} else {
			actor = "anonymous";
		}
	}
	audit_log_actor(srv, actor, client, action, target, outcome, details);
}

void audit_log_actor(struct server *srv, const char *actor, const char *client, const char *action,
		     const char *target, const char *outcome, json_t *details)
{
	if (!srv || !srv->audit) {
		json_decref(details);
		return;
	}
	if (!srv->audit->w)
		srv->audit->w = srv->workers;
	if (audit_append(srv->audit, srv->base, actor, client, action, target, outcome, details) == 0 && srv->store)
		(void)store_audit_head_set(srv->store, srv->audit->seq, srv->audit->prev); /* errors logged by the store */
}

int audit_check_anchor(struct server *srv)
{
	struct audit *a = srv->audit;
	char hash[AUDIT_HASH_HEX];
	int64_t seq;
	int r;

	if (!a || !srv->store)
		return 0;
	r = store_audit_head_get(srv->store, &seq, hash);
	if (r == -ENOENT)
		return store_audit_head_set(srv->store, a->seq, a->prev);
	if (r < 0)
		return r;
	if (seq > a->seq || (seq == a->seq && strcmp(hash, a->prev) != 0)) {
		log_error("audit trail in '%s' ends at seq %lld, but the database recorded seq %lld: records were "
			  "removed from its end (or lost in a power failure); recording this in the trail",
			  a->dir, (long long)a->seq, (long long)seq);
		audit_append(a, srv->base, "system", NULL, "audit.head_mismatch", NULL, "failed",
			     json_pack("{s:I,s:I,s:s}", "trail_seq", (json_int_t)a->seq, "recorded_seq", (json_int_t)seq,
				       "recorded_hash", hash));
	}
	return store_audit_head_set(srv->store, a->seq, a->prev);
}

/* ---- audit verify ---- */

struct verify {
	const char *file;
	int64_t seq;
	char prev[AUDIT_HASH_HEX];
	bool resync; /* after a broken record: accept the next link as is */
	size_t records, problems, lineno;
};

static void verify_problem(struct verify *v, size_t lineno, const char *why)
{
	v->problems++;
	if (v->problems <= 20)
		printf("TAMPERED: %s line %zu: %s\n", v->file, lineno, why);
	else if (v->problems == 21)
		printf("(further problems not shown)\n");
}

static int verify_line(const char *line, size_t len, size_t lineno, void *arg)
{
	struct verify *v = arg;
	char hash[AUDIT_HASH_HEX];
	const char *why;
	json_t *rec;
	int64_t seq;

	v->lineno = lineno;
	if (audit_check_line(line, len, &rec, hash, &why) < 0) {
		verify_problem(v, lineno, why);
		v->resync = true;
		return 0;
	}
	seq = json_integer_value(json_object_get(rec, "seq"));
	if (!v->resync) {
		if (seq != v->seq + 1) {
			char msg[160];
			snprintf(msg, sizeof(msg), "seq %lld follows seq %lld (records removed, inserted or reordered)",
				 (long long)seq, (long long)v->seq);
			verify_problem(v, lineno, msg);
		} else if (strcmp(json_string_value(json_object_get(rec, "prev")), v->prev) != 0) {
			verify_problem(v, lineno, "prev is not the hash of the previous record (a record was edited, "
						  "removed or reordered)");
		}
	}
	v->resync = false;
	v->seq = seq;
	memcpy(v->prev, hash, sizeof(v->prev));
	v->records++;
	json_decref(rec);
	return 0;
}

int audit_verify_main(const char *data_dir)
{
	char dir[1100];
	char(*names)[AUDIT_NAME_MAX] = NULL;
	size_t n = 0;
	struct verify v;
	int r;

	memset(&v, 0, sizeof(v));
	memcpy(v.prev, AUDIT_GENESIS, sizeof(v.prev));
	if (snprintf(dir, sizeof(dir), "%s/audit", data_dir) >= (int)sizeof(dir)) {
		fprintf(stderr, "audit verify: data directory path too long\n");
		return 2;
	}
	r = audit_read_list(dir, &names, &n);
	if (r < 0) {
		fprintf(stderr, "audit verify: cannot read '%s': %s\n", dir, strerror(-r));
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		char path[1200];
		int64_t end = 0, tail = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		v.file = names[i];
		v.lineno = 0;
		r = audit_read_lines(path, -1, verify_line, &v, &end, &tail);
		if (r == -EFBIG) {
			verify_problem(&v, v.lineno + 1, "line longer than 64 KiB (not written by the server)");
			v.resync = true;
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "audit verify: cannot read '%s': %s\n", path, strerror(-r));
			free(names);
			return 2;
		}
		if (tail > 0) {
			verify_problem(&v, v.lineno + 1,
				       i + 1 == n ? "incomplete final record (an interrupted write; the server moves it "
						    "aside at its next start)"
						  : "incomplete record at the end of an older file");
			v.resync = true;
		}
	}
	free(names);
	{
		char dbpath[1200], hash[AUDIT_HASH_HEX];
		int64_t seq;
		snprintf(dbpath, sizeof(dbpath), "%s/restic-manager.db", data_dir);
		r = store_audit_head_peek(dbpath, &seq, hash);
		if (r == 0 && (seq > v.seq || (seq == v.seq && strcmp(hash, v.prev) != 0))) {
			char msg[300];
			snprintf(msg, sizeof(msg),
				 "the trail ends at seq %lld, but the database recorded seq %lld (hash %.16s…): records "
				 "were removed from the end, or lost in a power failure",
				 (long long)v.seq, (long long)seq, hash);
			printf("TAMPERED: %s\n", msg);
			v.problems++;
		} else if (r == -EIO) {
			printf("note: cannot read the head recorded in '%s'; the end of the trail is unchecked\n", dbpath);
		}
	}
	if (v.problems) {
		printf("audit trail '%s': %zu records in %zu files, %zu problem(s): TAMPERED\n", dir, v.records, n,
		       v.problems);
		return 1;
	}
	printf("audit trail '%s': %zu records in %zu files, chain intact (head seq %lld, hash %s)\n", dir, v.records, n,
	       (long long)v.seq, v.prev);
	return 0;
}

/*
 * job.c — one restic job (see job.h).
 *
 * A job is a short list of steps, each one restic process:
 *
 *   kind       main step (stdout mode)            follow-up
 *   backup     backup --json (lines)              snapshots --json → `snapshots`
 *   forget     forget --json --keep-… (capture)   snapshots --json → `snapshots`
 *   snapshots  snapshots --json (capture)         → `snapshots`
 *   stats      stats --json [--mode M] (capture)  stats --json --mode raw-data → `repo.stats`
 *   check      check [--read-data-subset X]       → `repo.stats` {check}
 *   diff       diff --json A B (capture)          summary = statistics
 *   restore    restore --target D --include P… -- ID
 *   init, prune, unlock (lines)
 *   tree       ls --json SNAP PATH (tree lines)   → `tree.result` (no job events)
 *
 * "lines": stdout is split into lines and parsed (status → progress,
 * summary kept, other text logged).  "capture": stdout is one JSON document
 * kept in memory (JOB_CAPTURE_MAX).  stderr is always logged line by line.
 * The main step decides the status (0 succeeded, 3 warning, cancel
 * cancelled, else failed); a failing follow-up only adds a log line.
 * Main thread only.
 */
#include "agent/job.h"
#include "agent/locks.h"
#include "agent/restore_progress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plat.h"
#include "agent/restic_out.h"
#include "agent/scrub.h"
#include "common/util.h"

/* The pre/post-backup hooks (schedule groups) run around the restic steps. */
/* A restore is sized first (STEP_RESTORE_SIZE: ls of the selected paths,
 * OUT_SIZE) so its progress has totals (restore_progress.h). */
/* stats also lists the repository's locks (STEP_LIST_LOCKS, then one
 * STEP_CAT_LOCK per lock file) so stale ones are seen without a conflict. */
enum step { STEP_MAIN = 0, STEP_SNAPSHOTS, STEP_RAW_STATS, STEP_PRE_HOOK, STEP_POST_HOOK, STEP_RESTORE_SIZE,
	    STEP_LIST_LOCKS, STEP_CAT_LOCK, STEP_END };
enum out_mode { OUT_LINES = 0, OUT_CAPTURE, OUT_TREE, OUT_SIZE };

struct job_stream {
	char buf[JOB_LINE_MAX + 1];
	size_t len;
	bool overflow; /* discarding the rest of an over-long line */
};

#define JOB_MAX_SECRETS 16
#define TREE_MAX_ENTRIES 10000

struct job {
	char *restic, *cache_dir, *job_id, *kind, *actor, *url, *password;
	char *hook_pre, *hook_post; /* backup hooks (operator commands), or NULL */
	bool pre_failed;
	json_t *args, *env;
	int64_t upload_kbps, download_kbps;
	struct job_sink sink;
	char *secrets[JOB_MAX_SECRETS];
	size_t nsecrets;

	enum step step;
	enum out_mode mode;
	struct plat_child *child;
	bool spawn_failed;
	int step_exit;
	struct job_stream st[2];
	char *cap;
	size_t cap_len;
	bool cap_over;

	json_t *progress;    /* pending progress event (throttled) */
	int64_t progress_at; /* when the last one was emitted */
	json_t *log;         /* pending lines */
	int64_t log_first_at;
	size_t log_total, log_dropped;

	json_t *summary;  /* restic summary or document */
	json_t *snapshots;
	json_t *stats;    /* repo.stats fields */
	json_t *tree;     /* entries */
	json_t *lock;     /* the lock holder restic reported (locks.h), or NULL */
	json_t *lock_ids; /* stats: lock files listed (STEP_LIST_LOCKS) */
	json_t *listed_locks; /* stats: their holders (STEP_CAT_LOCK) */
	size_t lock_i;    /* next lock file to read */
	char last_err[512];
	char fatal[512]; /* restic's first "Fatal: …" line: the best reason */
	char last_line[512];
	int exit_code;
	bool have_exit;
	enum { ST_RUNNING, ST_SUCCEEDED, ST_WARNING, ST_FAILED, ST_CANCELLED } status;

	bool cancel;
	int64_t kill_at;
	bool killed;
	bool done;
	bool is_restore;
	struct restore_progress rp; /* restore only */
};

/* --- validation and argument vectors ------------------------------------ */

static bool good_string(json_t *v, size_t max)
{
	const char *s;
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	return *s && strlen(s) == json_string_length(v) && strlen(s) <= max;
}

static bool good_snapshot_id(json_t *v)
{
	const char *s;
	size_t n;
	if (!good_string(v, 64))
		return false;
	s = json_string_value(v);
	if (strcmp(s, "latest") == 0)
		return true;
	n = strlen(s);
	if (n < 4)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool only_chars(const char *s, const char *allowed)
{
	for (; *s; s++)
		if (!strchr(allowed, *s))
			return false;
	return true;
}

/* array of good strings (or absent when !required) */
static bool good_str_array(json_t *a, bool required, size_t max_items, bool no_comma)
{
	size_t i;
	json_t *v;
	if (!a)
		return !required;
	if (!json_is_array(a) || json_array_size(a) > max_items || (required && json_array_size(a) == 0))
		return false;
	json_array_foreach (a, i, v) {
		if (!good_string(v, 4096))
			return false;
		if (no_comma && strchr(json_string_value(v), ','))
			return false;
	}
	return true;
}

static const char *const keep_keys[] = {"keep_last", "keep_hourly", "keep_daily",
					"keep_weekly", "keep_monthly", "keep_yearly"};

int job_validate(const char *kind, json_t *args, char *err, size_t cap)
{
	const char *why = NULL;

	if (args && !json_is_object(args))
		why = "args must be an object";
	else if (strcmp(kind, "backup") == 0) {
		if (!good_str_array(json_object_get(args, "paths"), true, 1000, false))
			why = "backup needs \"paths\": a non-empty list of paths";
		else if (!good_str_array(json_object_get(args, "excludes"), false, 1000, false))
			why = "\"excludes\" must be a list of patterns";
		else if (!good_str_array(json_object_get(args, "tags"), false, 100, true))
			why = "\"tags\" must be a list of tags without commas";
		else if (json_object_get(args, "use_fs_snapshot") &&
			 !json_is_boolean(json_object_get(args, "use_fs_snapshot")))
			why = "\"use_fs_snapshot\" must be a boolean";
	} else if (strcmp(kind, "forget") == 0) {
		json_t *w = json_object_get(args, "keep_within");
		bool any = false;
		for (size_t i = 0; i < ARRAY_LEN(keep_keys); i++) {
			json_t *v = json_object_get(args, keep_keys[i]);
			if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000))
				why = "keep_* values must be integers 0…1000000";
			if (v && json_is_integer(v) && json_integer_value(v) > 0)
				any = true;
		}
		if (w && (!good_string(w, 32) || !only_chars(json_string_value(w), "0123456789ymwdh")))
			why = "\"keep_within\" must look like 30d or 1y6m";
		else if (w)
			any = true;
		if (!why && !any)
			why = "forget needs at least one keep_* rule";
		if (!why && !good_str_array(json_object_get(args, "tags"), false, 100, true))
			why = "\"tags\" must be a list of tags without commas";
	} else if (strcmp(kind, "check") == 0) {
		json_t *s = json_object_get(args, "read_data_subset");
		if (s && (!good_string(s, 32) || !only_chars(json_string_value(s), "0123456789./%KMGTkmgt")))
			why = "\"read_data_subset\" must look like 10% or 1/5";
	} else if (strcmp(kind, "unlock") == 0) {
		json_t *r = json_object_get(args, "remove_all");
		if (r && !json_is_boolean(r))
			why = "\"remove_all\" must be a boolean";
	} else if (strcmp(kind, "stats") == 0) {
		json_t *m = json_object_get(args, "mode");
		static const char *const modes[] = {"restore-size", "files-by-contents", "raw-data", "blobs-per-file"};
		bool ok = !m;
		for (size_t i = 0; m && i < ARRAY_LEN(modes); i++)
			if (json_is_string(m) && strcmp(json_string_value(m), modes[i]) == 0)
				ok = true;
		if (!ok)
			why = "\"mode\" must be restore-size, files-by-contents, raw-data or blobs-per-file";
	} else if (strcmp(kind, "diff") == 0) {
		json_t *s = json_object_get(args, "snapshots");
		if (!json_is_array(s) || json_array_size(s) != 2 || !good_snapshot_id(json_array_get(s, 0)) ||
		    !good_snapshot_id(json_array_get(s, 1)))
			why = "diff needs \"snapshots\": [A, B]";
	} else if (strcmp(kind, "restore") == 0) {
		json_t *t = json_object_get(args, "target");
		if (!good_snapshot_id(json_object_get(args, "snapshot")))
			why = "restore needs a \"snapshot\" id";
		else if (t && (!good_string(t, 4096) || !plat_path_is_absolute(json_string_value(t))))
			why = "restore \"target\" must be an absolute directory";
		else if (json_object_get(args, "in_place") && !json_is_boolean(json_object_get(args, "in_place")))
			why = "\"in_place\" must be a boolean";
		else if (!good_str_array(json_object_get(args, "paths"), false, 1000, false))
			why = "\"paths\" must be a list of paths";
	} else if (strcmp(kind, "tree") == 0) {
		if (!good_snapshot_id(json_object_get(args, "snapshot")) ||
		    !good_string(json_object_get(args, "path"), 4096))
			why = "tree needs \"snapshot\" and \"path\"";
	} else if (strcmp(kind, "init") != 0 && strcmp(kind, "prune") != 0 && strcmp(kind, "snapshots") != 0) {
		why = "unknown job kind";
	}
	if (why) {
		snprintf(err, cap, "%s", why);
		return -EINVAL;
	}
	return 0;
}

static int add(json_t *argv, const char *s) { return json_array_append_new(argv, json_string(s)); }

static int add_kv(json_t *argv, const char *flag, const char *val)
{
	char b[4200];
	snprintf(b, sizeof(b), "%s=%s", flag, val);
	return add(argv, b);
}

static void add_each(json_t *argv, const char *flag, json_t *list)
{
	size_t i;
	json_t *v;
	json_array_foreach (list, i, v)
		add_kv(argv, flag, json_string_value(v));
}

/* restic's global flags, before the subcommand: every step talks to the
 * repository, so every step honours the host's bandwidth limits (KiB/s). */
static void add_globals(struct job *j, json_t *argv)
{
	char n[32];
	if (j->upload_kbps > 0) {
		snprintf(n, sizeof(n), "%lld", (long long)j->upload_kbps);
		add(argv, "--limit-upload");
		add(argv, n);
	}
	if (j->download_kbps > 0) {
		snprintf(n, sizeof(n), "%lld", (long long)j->download_kbps);
		add(argv, "--limit-download");
		add(argv, n);
	}
}

/* The argument vector of a step (argv[0] = "restic") and its stdout mode. */
static json_t *step_argv(struct job *j, enum step s, enum out_mode *mode)
{
	json_t *a = json_array(), *args = j->args;
	const char *k = j->kind;

	add(a, "restic");
	add_globals(j, a);
	*mode = OUT_LINES;
	if (s == STEP_SNAPSHOTS) {
		add(a, "snapshots");
		add(a, "--json");
		*mode = OUT_CAPTURE;
	} else if (s == STEP_LIST_LOCKS || s == STEP_CAT_LOCK) {
		/* --no-lock: looking at the locks must not add one */
		add(a, s == STEP_LIST_LOCKS ? "list" : "cat");
		add(a, s == STEP_LIST_LOCKS ? "locks" : "lock");
		add(a, "--no-lock");
		if (s == STEP_CAT_LOCK) {
			add(a, "--");
			add(a, json_string_value(json_array_get(j->lock_ids, j->lock_i)));
		}
		*mode = OUT_CAPTURE;
	} else if (s == STEP_RAW_STATS) {
		add(a, "stats");
		add(a, "--json");
		add(a, "--mode=raw-data");
		*mode = OUT_CAPTURE;
	} else if (s == STEP_RESTORE_SIZE) {
		json_t *ps = json_object_get(args, "paths"), *v;
		size_t i;
		add(a, "ls");
		add(a, "--json");
		add(a, "--recursive");
		add(a, "--");
		add(a, json_string_value(json_object_get(args, "snapshot")));
		/* many paths: list everything, restore_progress filters (argv stays small) */
		if (json_array_size(ps) <= RESTORE_MAX_ROOTS)
			json_array_foreach (ps, i, v)
				add(a, json_string_value(v));
		*mode = OUT_SIZE;
	} else if (strcmp(k, "backup") == 0) {
		add(a, "backup");
		add(a, "--json");
		add_each(a, "--tag", json_object_get(args, "tags"));
		add_each(a, "--exclude", json_object_get(args, "excludes"));
		/* VSS exists only on Windows: elsewhere the group option is ignored (logged at start) */
		if (json_is_true(json_object_get(args, "use_fs_snapshot")) && strcmp(plat_os(), "windows") == 0)
			add(a, "--use-fs-snapshot");
		add(a, "--");
		json_t *v;
		size_t i;
		json_array_foreach (json_object_get(args, "paths"), i, v)
			add(a, json_string_value(v));
	} else if (strcmp(k, "forget") == 0) {
		char n[32];
		add(a, "forget");
		add(a, "--json");
		for (size_t i = 0; i < ARRAY_LEN(keep_keys); i++) {
			json_t *v = json_object_get(args, keep_keys[i]);
			char flag[32];
			if (!json_is_integer(v) || json_integer_value(v) <= 0)
				continue;
			snprintf(flag, sizeof(flag), "--%s", keep_keys[i]);
			for (char *p = flag; *p; p++)
				if (*p == '_')
					*p = '-';
			snprintf(n, sizeof(n), "%lld", (long long)json_integer_value(v));
			add_kv(a, flag, n);
		}
		if (json_is_string(json_object_get(args, "keep_within")))
			add_kv(a, "--keep-within", json_string_value(json_object_get(args, "keep_within")));
		add_each(a, "--tag", json_object_get(args, "tags"));
		*mode = OUT_CAPTURE;
	} else if (strcmp(k, "check") == 0) {
		add(a, "check");
		if (json_is_string(json_object_get(args, "read_data_subset")))
			add_kv(a, "--read-data-subset", json_string_value(json_object_get(args, "read_data_subset")));
	} else if (strcmp(k, "unlock") == 0) {
		add(a, "unlock");
		if (json_is_true(json_object_get(args, "remove_all")))
			add(a, "--remove-all");
	} else if (strcmp(k, "snapshots") == 0) {
		add(a, "snapshots");
		add(a, "--json");
		*mode = OUT_CAPTURE;
	} else if (strcmp(k, "stats") == 0) {
		add(a, "stats");
		add(a, "--json");
		if (json_is_string(json_object_get(args, "mode")))
			add_kv(a, "--mode", json_string_value(json_object_get(args, "mode")));
		*mode = OUT_CAPTURE;
	} else if (strcmp(k, "diff") == 0) {
		json_t *s2 = json_object_get(args, "snapshots");
		add(a, "diff");
		add(a, "--json");
		add(a, "--");
		add(a, json_string_value(json_array_get(s2, 0)));
		add(a, json_string_value(json_array_get(s2, 1)));
		*mode = OUT_LINES; /* changes go to the log, statistics to the summary (diff_line) */
	} else if (strcmp(k, "restore") == 0) {
		add(a, "restore");
		add_kv(a, "--target", json_string_value(json_object_get(args, "target")));
		add_each(a, "--include", json_object_get(args, "paths"));
		add(a, "--");
		add(a, json_string_value(json_object_get(args, "snapshot")));
	} else if (strcmp(k, "tree") == 0) {
		add(a, "ls");
		add(a, "--json");
		add(a, "--");
		add(a, json_string_value(json_object_get(args, "snapshot")));
		add(a, json_string_value(json_object_get(args, "path")));
		*mode = OUT_TREE;
	} else { /* init, prune */
		add(a, k);
	}
	return a;
}

/* --- events ------------------------------------------------------------- */

static void emit(struct job *j, json_t *ev, enum job_importance imp) { j->sink.emit(j->sink.user, ev, imp); }

static json_t *event_new(struct job *j, const char *type)
{
	json_t *ev = json_object();
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "job_id", json_string(j->job_id));
	return ev;
}

static bool is_tree(const struct job *j) { return strcmp(j->kind, "tree") == 0; }

static void log_flush(struct job *j)
{
	json_t *ev;
	if (!j->log || json_array_size(j->log) == 0)
		return;
	if (is_tree(j)) {
		json_array_clear(j->log);
		return;
	}
	ev = event_new(j, "job.log");
	json_object_set_new(ev, "lines", j->log);
	j->log = json_array();
	emit(j, ev, JOB_EV_LOG);
}

/* Add one log line (raw text, scrubbed here). */
static void log_line(struct job *j, const char *stream, const char *text, size_t len)
{
	char clean[JOB_LINE_MAX * 2], t[32];
	size_t n = scrub_text(text, len, (const char *const *)j->secrets, j->nsecrets, clean, sizeof(clean));
	json_t *l;

	if (n == 0)
		return;
	scrub_utf8(clean, n);
	if (strcmp(stream, "stderr") == 0) {
		util_strlcpy(j->last_err, clean, sizeof(j->last_err));
		if (!j->fatal[0] && strncmp(clean, "Fatal:", 6) == 0)
			util_strlcpy(j->fatal, clean, sizeof(j->fatal));
	}
	util_strlcpy(j->last_line, clean, sizeof(j->last_line));
	if (j->log_total + n > JOB_LOG_MAX_BYTES) {
		j->log_dropped++;
		return;
	}
	j->log_total += n;
	util_time_rfc3339(util_now(), t);
	l = json_pack("{s:s, s:s, s:s#}", "t", t, "stream", stream, "text", clean, (int)n);
	if (!l)
		return;
	if (json_array_size(j->log) == 0)
		j->log_first_at = plat_mono_ms();
	json_array_append_new(j->log, l);
	if (json_array_size(j->log) >= JOB_LOG_BATCH_LINES)
		log_flush(j);
}

static void log_agent(struct job *j, const char *msg) { log_line(j, "agent", msg, strlen(msg)); }

static void progress_emit(struct job *j, int64_t now)
{
	if (!j->progress)
		return;
	emit(j, j->progress, JOB_EV_PROGRESS);
	j->progress = NULL;
	j->progress_at = now;
}

static void on_status(struct job *j, const struct restic_progress *p)
{
	json_t *ev = event_new(j, "job.progress");
	int64_t now = plat_mono_ms();

	json_object_set_new(ev, "percent", json_real((double)(int64_t)(p->percent * 10) / 10.0));
	json_object_set_new(ev, "files_done", json_integer(p->files_done));
	json_object_set_new(ev, "total_files", json_integer(p->total_files));
	json_object_set_new(ev, "bytes_done", json_integer(p->bytes_done));
	json_object_set_new(ev, "total_bytes", json_integer(p->total_bytes));
	if (p->seconds_remaining >= 0)
		json_object_set_new(ev, "seconds_remaining", json_integer(p->seconds_remaining));
	if (p->current_files) {
		/* file names may hold anything: scrub them like log text */
		json_t *cf = json_array(), *v;
		size_t i;
		json_array_foreach (p->current_files, i, v) {
			char clean[1024];
			if (!json_is_string(v) || i >= 8)
				continue;
			scrub_text(json_string_value(v), json_string_length(v), (const char *const *)j->secrets,
				   j->nsecrets, clean, sizeof(clean));
			json_array_append_new(cf, json_string(clean));
		}
		json_object_set_new(ev, "current_files", cf);
	}
	json_decref(j->progress);
	j->progress = ev;
	if (now - j->progress_at >= JOB_PROGRESS_MS)
		progress_emit(j, now);
}

static void tree_node(struct job *j, json_t *node)
{
	const char *want = json_string_value(json_object_get(j->args, "path"));
	json_t *path = json_object_get(node, "path"), *e;
	const char *p, *slash;
	size_t wl = strlen(want);

	if (!json_is_string(path) || !json_is_string(json_object_get(node, "name")))
		return;
	while (wl > 1 && want[wl - 1] == '/')
		wl--;
	p = json_string_value(path);
	/* direct children of want: "<want>/<name>" without further '/' */
	if (strncmp(p, want, wl) != 0)
		return;
	p += wl;
	if (wl == 1 && want[0] == '/')
		p--; /* want "/" */
	if (*p != '/' || !p[1])
		return;
	slash = strchr(p + 1, '/');
	if (slash || json_array_size(j->tree) >= TREE_MAX_ENTRIES)
		return;
	e = json_pack("{s:O, s:O, s:O}", "name", json_object_get(node, "name"), "type",
		      json_object_get(node, "type") ? json_object_get(node, "type") : json_null(), "path", path);
	if (!e)
		return;
	json_object_set_new(e, "size", json_object_get(node, "size") ? json_incref(json_object_get(node, "size"))
								   : json_integer(0));
	json_object_set(e, "mtime", json_object_get(node, "mtime") ? json_object_get(node, "mtime") : json_null());
	json_array_append_new(j->tree, e);
}

/* restic diff --json: {"message_type":"change","path","modifier"} lines are
 * logged as "<modifier> <path>", the final "statistics" object becomes the
 * summary; anything else is logged as it is. */
static void diff_line(struct job *j, const char *line, size_t len)
{
	json_t *o = json_loadb(line, len, 0, NULL);
	const char *mt = json_string_value(json_object_get(o, "message_type"));
	char text[JOB_LINE_MAX + 8];

	if (mt && strcmp(mt, "change") == 0 && json_is_string(json_object_get(o, "path"))) {
		const char *mod = json_string_value(json_object_get(o, "modifier"));
		int n = snprintf(text, sizeof(text), "%s %s", mod ? mod : "?",
				 json_string_value(json_object_get(o, "path")));
		log_line(j, "stdout", text, n < 0 ? 0 : (size_t)n < sizeof(text) ? (size_t)n : sizeof(text) - 1);
	} else if (mt && strcmp(mt, "statistics") == 0) {
		json_decref(j->summary);
		j->summary = json_incref(o);
	} else {
		log_line(j, "stdout", line, len);
	}
	json_decref(o);
}

static void on_line(struct job *j, enum plat_stream s, const char *line, size_t len)
{
	struct restic_line rl;

	while (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;
	restic_line_parse(line, len, &rl);
	if (s == PLAT_STDERR)
		locks_feed_line(line, len, &j->lock);
	if (s == PLAT_STDERR) {
		if (rl.kind == RESTIC_LINE_ERROR)
			log_line(j, "stderr", rl.text, strlen(rl.text));
		else
			log_line(j, "stderr", line, len);
	} else if (j->step == STEP_MAIN && strcmp(j->kind, "diff") == 0) {
		diff_line(j, line, len);
	} else if (j->mode == OUT_SIZE) {
		if (rl.json && json_is_object(rl.json))
			restore_progress_feed(&j->rp, rl.json);
	} else if (j->mode == OUT_TREE) {
		if (rl.json && json_is_object(rl.json) &&
		    json_is_string(json_object_get(rl.json, "struct_type")) &&
		    strcmp(json_string_value(json_object_get(rl.json, "struct_type")), "node") == 0)
			tree_node(j, rl.json);
	} else {
		switch (rl.kind) {
		case RESTIC_LINE_STATUS:
			on_status(j, &rl.progress);
			break;
		case RESTIC_LINE_SUMMARY:
			json_decref(j->summary);
			j->summary = json_incref(rl.json);
			break;
		case RESTIC_LINE_ERROR:
			log_line(j, "stdout", rl.text, strlen(rl.text));
			break;
		default:
			log_line(j, "stdout", line, len);
		}
	}
	restic_line_release(&rl);
}

static void stream_feed(struct job *j, enum plat_stream s, const char *data, size_t len)
{
	struct job_stream *st = &j->st[s];

	if (s == PLAT_STDOUT && j->mode == OUT_CAPTURE) {
		if (j->cap_len + len > JOB_CAPTURE_MAX) {
			j->cap_over = true;
			return;
		}
		char *nb = realloc(j->cap, j->cap_len + len + 1);
		if (!nb) {
			j->cap_over = true;
			return;
		}
		j->cap = nb;
		memcpy(j->cap + j->cap_len, data, len);
		j->cap_len += len;
		j->cap[j->cap_len] = '\0';
		return;
	}
	for (size_t i = 0; i < len; i++) {
		char ch = data[i];
		if (ch == '\n') {
			if (!st->overflow)
				on_line(j, s, st->buf, st->len);
			st->len = 0;
			st->overflow = false;
			continue;
		}
		if (st->overflow)
			continue;
		if (st->len == JOB_LINE_MAX) {
			/* cap reached: emit the first 4 KiB, drop the rest of the line */
			on_line(j, s, st->buf, st->len);
			st->len = 0;
			st->overflow = true;
			continue;
		}
		st->buf[st->len++] = ch;
	}
}

/* --- steps -------------------------------------------------------------- */

static char *env_entry(const char *k, const char *v)
{
	size_t n = strlen(k) + strlen(v) + 2;
	char *e = malloc(n);
	if (e)
		snprintf(e, n, "%s=%s", k, v);
	return e;
}

/* ASCII case-insensitive prefix match: environment names are
 * case-insensitive on Windows (restic.exe reads "Restic_Password" as
 * RESTIC_PASSWORD), so an inherited credential is dropped whatever its
 * case; on Linux dropping a differently-cased one costs nothing. */
static bool env_prefix(const char *entry, const char *prefix, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int a = (unsigned char)entry[i], b = (unsigned char)prefix[i];
		if (a >= 'a' && a <= 'z')
			a -= 32;
		if (b >= 'a' && b <= 'z')
			b -= 32;
		if (a != b || a == 0)
			return false;
	}
	return true;
}

static bool env_overridden(const struct job *j, const char *entry)
{
	static const char *const ours[] = {"RESTIC_REPOSITORY=", "RESTIC_REPOSITORY_FILE=", "RESTIC_PASSWORD=",
					   "RESTIC_PASSWORD_FILE=", "RESTIC_PASSWORD_COMMAND="};
	const char *key;
	json_t *v;

	for (size_t i = 0; i < ARRAY_LEN(ours); i++)
		if (env_prefix(entry, ours[i], strlen(ours[i])))
			return true;
	json_object_foreach (j->env, key, v)
		if (env_prefix(entry, key, strlen(key)) && entry[strlen(key)] == '=')
			return true;
	return false;
}

/* The child's environment: ours minus restic credentials, plus the
 * repository's.  OUT: *vec (NULL-terminated; free with env_free). */
static char **env_build(const struct job *j)
{
	const char *const *base = plat_environ();
	size_t n = 0, o = 0;
	char **vec;
	const char *key;
	json_t *v;
	bool have_cache = false;

	while (base[n])
		n++;
	vec = calloc(n + json_object_size(j->env) + 4, sizeof(*vec));
	if (!vec)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (env_overridden(j, base[i]))
			continue;
		if (strncmp(base[i], "RESTIC_CACHE_DIR=", 17) == 0)
			have_cache = true;
		vec[o++] = strdup(base[i]);
	}
	json_object_foreach (j->env, key, v)
		if (json_is_string(v))
			vec[o++] = env_entry(key, json_string_value(v));
	vec[o++] = env_entry("RESTIC_REPOSITORY", j->url ? j->url : "");
	vec[o++] = env_entry("RESTIC_PASSWORD", j->password ? j->password : "");
	if (!have_cache && j->cache_dir)
		vec[o++] = env_entry("RESTIC_CACHE_DIR", j->cache_dir);
	return vec;
}

static void env_free(char **vec)
{
	if (!vec)
		return;
	for (char **p = vec; *p; p++) {
		plat_memzero(*p, strlen(*p));
		free(*p);
	}
	free(vec);
}

static const char *status_name(int st);

/* A hook's environment: ours without any repository credential, plus
 * RM_JOB_ID, RM_JOB_KIND, RM_HOOK and, for the post hook, RM_JOB_STATUS and
 * RM_JOB_EXIT_CODE. */
static char **hook_env(const struct job *j, enum step s)
{
	const char *const *base = plat_environ();
	size_t n = 0, o = 0;
	char **vec, code[24];

	while (base[n])
		n++;
	vec = calloc(n + 6, sizeof(*vec));
	if (!vec)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!env_overridden(j, base[i]))
			vec[o++] = strdup(base[i]);
	vec[o++] = env_entry("RM_JOB_ID", j->job_id);
	vec[o++] = env_entry("RM_JOB_KIND", j->kind);
	vec[o++] = env_entry("RM_HOOK", s == STEP_PRE_HOOK ? "pre" : "post");
	if (s == STEP_POST_HOOK) {
		vec[o++] = env_entry("RM_JOB_STATUS", status_name(j->status));
		snprintf(code, sizeof(code), "%d", j->have_exit ? j->exit_code : -1);
		vec[o++] = env_entry("RM_JOB_EXIT_CODE", code);
	}
	return vec;
}

/* Run a hook through the system shell; its output goes to the job log. */
static void hook_start(struct job *j, enum step s)
{
	const char *vec[4];
	char **env, msg[160];
	const char *which = s == STEP_PRE_HOOK ? "pre" : "post";
	int r;

	j->step = s;
	j->mode = OUT_LINES;
	j->spawn_failed = false;
	j->step_exit = -1;
	j->cap_len = 0;
	j->cap_over = false;
	memset(j->st, 0, sizeof(j->st));
	snprintf(msg, sizeof(msg), "running the %s-backup hook", which);
	log_agent(j, msg);
	plat_shell_argv(s == STEP_PRE_HOOK ? j->hook_pre : j->hook_post, vec);
	env = hook_env(j, s);
	r = env ? plat_child_spawn(vec[0], vec, (const char *const *)env, &j->child) : -ENOMEM;
	env_free(env);
	if (r < 0) {
		j->child = NULL;
		j->spawn_failed = true;
		snprintf(msg, sizeof(msg), "cannot run the %s-backup hook: %s", which, strerror(-r));
		log_agent(j, msg);
	}
}

static void hook_start(struct job *j, enum step s);

static void step_start(struct job *j, enum step s)
{
	if (s == STEP_PRE_HOOK || s == STEP_POST_HOOK) {
		hook_start(j, s);
		return;
	}
	json_t *argv = step_argv(j, s, &j->mode);
	const char *vec[300];
	size_t n = 0, i;
	json_t *v;
	char **env;
	char line[1024];
	size_t o = 0;
	int r;

	j->step = s;
	j->spawn_failed = false;
	j->step_exit = -1;
	j->cap_len = 0;
	j->cap_over = false;
	memset(j->st, 0, sizeof(j->st));
	json_array_foreach (argv, i, v) {
		if (n + 1 >= ARRAY_LEN(vec))
			break;
		vec[n++] = json_string_value(v);
		if (o < sizeof(line) - 2)
			o += (size_t)snprintf(line + o, sizeof(line) - o, "%s%s", i ? " " : "running: ", vec[n - 1]);
	}
	vec[n] = NULL;
	if (s == STEP_MAIN || s == STEP_RESTORE_SIZE)
		log_agent(j, line);
	if (s == STEP_MAIN && strcmp(j->kind, "backup") == 0 &&
	    json_is_true(json_object_get(j->args, "use_fs_snapshot")) && strcmp(plat_os(), "windows") != 0)
		log_agent(j, "use_fs_snapshot is set on this group but is ignored: file-system snapshots (VSS) "
			     "exist only on Windows");
	env = env_build(j);
	r = env ? plat_child_spawn(j->restic, vec, (const char *const *)env, &j->child) : -ENOMEM;
	env_free(env);
	json_decref(argv);
	if (r < 0) {
		char msg[600];
		j->child = NULL;
		j->spawn_failed = true;
		snprintf(msg, sizeof(msg), "cannot run restic '%s': %s", j->restic, strerror(-r));
		log_agent(j, msg);
		snprintf(j->last_err, sizeof(j->last_err), "%s", msg);
	} else if (s == STEP_MAIN && j->is_restore) {
		restore_progress_begin(&j->rp, plat_mono_ms(), util_now());
	}
}

static json_t *capture_doc(struct job *j)
{
	json_t *doc;
	if (!j->cap || j->cap_len == 0)
		return NULL;
	if (j->cap_over) {
		log_agent(j, "restic output larger than the capture cap: ignored");
		return NULL;
	}
	doc = json_loadb(j->cap, j->cap_len, JSON_DISABLE_EOF_CHECK, NULL);
	return doc;
}

static void emit_snapshots(struct job *j, json_t *doc)
{
	json_t *ev;
	if (!json_is_array(doc))
		return;
	ev = json_object();
	json_object_set_new(ev, "type", json_string("snapshots"));
	json_object_set(ev, "snapshots", doc);
	emit(j, ev, JOB_EV_RESULT);
}

static void set_i64(json_t *o, const char *k, json_t *from, const char *fk)
{
	json_t *v = json_object_get(from, fk);
	if (json_is_integer(v))
		json_object_set(o, k, v);
}

/* The step's child is gone: interpret its result. */
static void step_done(struct job *j, int code)
{
	json_t *doc = NULL;
	char t[32];

	log_flush(j);
	if (j->step == STEP_RESTORE_SIZE) {
		char msg[160];
		restore_progress_sized(&j->rp, code == 0 && !j->spawn_failed);
		if (j->cancel)
			j->status = ST_CANCELLED;
		else if (j->rp.sized)
			snprintf(msg, sizeof(msg), "restoring %lld files, %lld bytes", (long long)j->rp.total_files,
				 (long long)j->rp.total_bytes);
		else if (code == 0 && j->rp.listed)
			snprintf(msg, sizeof(msg), "no file of the snapshot matches the selected paths literally: "
						   "progress without totals");
		else
			snprintf(msg, sizeof(msg), "cannot size the restore (exit code %d): progress without totals", code);
		if (!j->cancel)
			log_agent(j, msg);
		return;
	}
	if (j->step == STEP_PRE_HOOK || j->step == STEP_POST_HOOK) {
		bool pre = j->step == STEP_PRE_HOOK;
		if (code != 0) {
			snprintf(j->last_err, sizeof(j->last_err), "the %s-backup hook failed (exit code %d)%s",
				 pre ? "pre" : "post", code, pre ? ": backup skipped" : "");
			log_agent(j, j->last_err);
			if (pre) {
				j->pre_failed = true;
				j->status = ST_FAILED;
				snprintf(j->fatal, sizeof(j->fatal), "%s", j->last_err);
			}
		}
		return;
	}
	if (j->mode == OUT_CAPTURE && code == 0)
		doc = capture_doc(j);
	if (j->step == STEP_MAIN) {
		j->exit_code = code;
		j->have_exit = !j->spawn_failed;
		if (j->cancel)
			j->status = ST_CANCELLED;
		else if (code == 0)
			j->status = ST_SUCCEEDED;
		else if (code == 3 && !j->spawn_failed)
			j->status = ST_WARNING;
		else
			j->status = ST_FAILED;
		if (strcmp(j->kind, "snapshots") == 0)
			emit_snapshots(j, doc);
		else if (strcmp(j->kind, "forget") == 0 && doc) {
			json_decref(j->summary);
			j->summary = json_pack("{s:O}", "groups", doc);
		} else if (strcmp(j->kind, "diff") == 0 && doc) {
			json_decref(j->summary);
			j->summary = json_incref(doc);
		} else if (j->is_restore && !j->summary) {
			j->summary = restore_progress_summary(&j->rp);
		} else if (strcmp(j->kind, "stats") == 0 && json_is_object(doc)) {
			json_t *m = json_object_get(j->args, "mode");
			bool raw = json_is_string(m) && strcmp(json_string_value(m), "raw-data") == 0;
			j->stats = json_object();
			set_i64(j->stats, raw ? "raw_size" : "total_size", doc, "total_size");
			set_i64(j->stats, "snapshots_count", doc, "snapshots_count");
			set_i64(j->stats, "total_file_count", doc, "total_file_count");
			json_decref(j->summary);
			j->summary = json_pack("{s:O}", raw ? "raw_data" : "restore_size", doc);
		} else if (strcmp(j->kind, "check") == 0 && j->status != ST_CANCELLED) {
			util_time_rfc3339(util_now(), t);
			j->stats = json_pack("{s:{s:b, s:s, s:s}}", "check", "ok", j->status == ST_SUCCEEDED, "time", t,
					     "message", j->last_line);
		}
		/* Locks for the repository health view: the holder restic named, or
		 * none after an exclusive operation or an unlock went through. */
		if (j->lock || ((strcmp(j->kind, "prune") == 0 || strcmp(j->kind, "unlock") == 0 ||
				 strcmp(j->kind, "check") == 0) && /* check takes an exclusive lock */
				j->status == ST_SUCCEEDED)) {
			char hn[256];
			if (!j->stats)
				j->stats = json_object();
			if (j->lock && plat_hostname(hn, sizeof(hn)) == 0)
				locks_mark_local(j->lock, hn, plat_pid_alive);
			json_object_set_new(j->stats, "locks", j->lock ? json_pack("[O]", j->lock) : json_array());
		}
	} else if (j->step == STEP_SNAPSHOTS) {
		if (code != 0)
			log_agent(j, "listing snapshots after the job failed");
		emit_snapshots(j, doc);
	} else if (j->step == STEP_RAW_STATS && json_is_object(doc)) {
		set_i64(j->stats, "raw_size", doc, "total_size");
		if (json_is_object(j->summary))
			json_object_set(j->summary, "raw_data", doc);
	} else if (j->step == STEP_LIST_LOCKS || j->step == STEP_CAT_LOCK) {
		char hn[256];
		json_t *l = NULL;
		if (j->step == STEP_LIST_LOCKS) {
			j->lock_ids = json_array();
			if (code == 0 && j->cap && !j->cap_over) {
				j->listed_locks = json_array();
				locks_parse_ids(j->cap, j->cap_len, j->lock_ids, LOCKS_LIST_MAX);
			} else {
				log_agent(j, "listing the repository's locks failed");
			}
		} else {
			j->lock_i++;
			l = code == 0 ? locks_from_doc(doc) : NULL; /* a lock removed meanwhile: gone */
		}
		if (l && plat_hostname(hn, sizeof(hn)) == 0)
			locks_mark_local(l, hn, plat_pid_alive);
		if (l)
			json_array_append_new(j->listed_locks, l);
		/* the listing is the whole truth once every lock file was read */
		if (j->listed_locks && j->stats && j->lock_i >= json_array_size(j->lock_ids))
			json_object_set(j->stats, "locks", j->listed_locks);
	}
	json_decref(doc);
}

static enum step step_following_restic(const struct job *j)
{
	bool ok = j->status == ST_SUCCEEDED || j->status == ST_WARNING;

	if (j->step == STEP_MAIN && ok) {
		if (strcmp(j->kind, "backup") == 0 || strcmp(j->kind, "forget") == 0)
			return STEP_SNAPSHOTS;
		if (strcmp(j->kind, "stats") == 0 && j->stats) {
			json_t *m = json_object_get(j->args, "mode");
			if (!(json_is_string(m) && strcmp(json_string_value(m), "raw-data") == 0))
				return STEP_RAW_STATS;
		}
	}
	if (ok && strcmp(j->kind, "stats") == 0 && j->stats) {
		if (j->step == STEP_MAIN || j->step == STEP_RAW_STATS)
			return STEP_LIST_LOCKS;
		if ((j->step == STEP_LIST_LOCKS || j->step == STEP_CAT_LOCK) &&
		    j->lock_i < json_array_size(j->lock_ids))
			return STEP_CAT_LOCK;
	}
	return STEP_END;
}

/* Pre hook → main (or straight to the post hook when it failed); the post
 * hook runs after the last restic step whatever its result. */
static enum step step_following(const struct job *j)
{
	enum step next;

	if (j->step == STEP_POST_HOOK)
		return STEP_END;
	if (j->step == STEP_RESTORE_SIZE)
		return STEP_MAIN;
	if (j->step == STEP_PRE_HOOK && !j->pre_failed)
		return STEP_MAIN;
	next = j->step == STEP_PRE_HOOK ? STEP_END : step_following_restic(j);
	return next == STEP_END && j->hook_post ? STEP_POST_HOOK : next;
}

static const char *status_name(int st)
{
	switch (st) {
	case ST_SUCCEEDED:
		return "succeeded";
	case ST_WARNING:
		return "warning";
	case ST_CANCELLED:
		return "cancelled";
	default:
		return "failed";
	}
}

static void job_finish(struct job *j)
{
	json_t *ev;
	char msg[160];

	if (j->log_dropped) {
		snprintf(msg, sizeof(msg), "%zu log lines dropped (job log cap %u bytes)", j->log_dropped,
			 JOB_LOG_MAX_BYTES);
		j->log_total = 0;
		log_agent(j, msg);
	}
	log_flush(j);
	j->done = true;
	if (is_tree(j)) {
		ev = json_object();
		json_object_set_new(ev, "type", json_string("tree.result"));
		json_object_set_new(ev, "request_id", json_string(j->job_id));
		json_object_set(ev, "snapshot", json_object_get(j->args, "snapshot"));
		json_object_set(ev, "path", json_object_get(j->args, "path"));
		json_object_set(ev, "entries", j->tree);
		if (j->status != ST_SUCCEEDED)
			json_object_set_new(ev, "error", json_string(j->last_err[0] ? j->last_err : "restic ls failed"));
		emit(j, ev, JOB_EV_RESULT);
		return;
	}
	if (j->stats) {
		ev = json_deep_copy(j->stats);
		json_object_set_new(ev, "type", json_string("repo.stats"));
		emit(j, ev, JOB_EV_RESULT);
	}
	ev = event_new(j, "job.finished");
	json_object_set_new(ev, "status", json_string(status_name(j->status)));
	json_object_set_new(ev, "exit_code", j->have_exit ? json_integer(j->exit_code) : json_null());
	json_object_set(ev, "summary", j->summary ? j->summary : json_null());
	if (j->status == ST_CANCELLED)
		json_object_set_new(ev, "error", json_string("cancelled"));
	else if (j->status == ST_FAILED)
		json_object_set_new(ev, "error", json_string(j->fatal[0]      ? j->fatal
							     : j->last_err[0] ? j->last_err
									      : "restic failed"));
	emit(j, ev, JOB_EV_RESULT);
}

/* --- public ------------------------------------------------------------- */

static bool key_is_secret(const char *k)
{
	static const char *const words[] = {"SECRET", "PASSWORD", "TOKEN", "KEY", "CREDENTIAL", "PASS"};
	for (size_t i = 0; i < ARRAY_LEN(words); i++)
		if (strstr(k, words[i]))
			return true;
	return false;
}

int job_start(const struct job_params *p, const struct job_sink *sink, struct job **out)
{
	struct job *j = calloc(1, sizeof(*j));
	const char *key;
	json_t *v;

	if (!j)
		return -ENOMEM;
	j->restic = strdup(p->restic);
	j->cache_dir = p->cache_dir ? strdup(p->cache_dir) : NULL;
	j->job_id = strdup(p->job_id);
	j->kind = strdup(p->kind);
	j->actor = strdup(p->actor ? p->actor : "user");
	j->url = strdup(p->repo.url ? p->repo.url : "");
	j->password = strdup(p->repo.password ? p->repo.password : "");
	j->args = p->args ? json_incref(p->args) : json_object();
	j->env = p->repo.env && json_is_object(p->repo.env) ? json_incref(p->repo.env) : json_object();
	if (strcmp(p->kind, "backup") == 0 && json_is_object(p->hooks)) {
		const char *pre = json_string_value(json_object_get(p->hooks, "pre"));
		const char *post = json_string_value(json_object_get(p->hooks, "post"));
		j->hook_pre = pre && *pre ? strdup(pre) : NULL;
		j->hook_post = post && *post ? strdup(post) : NULL;
	}
	j->upload_kbps = p->repo.upload_kbps;
	j->download_kbps = p->repo.download_kbps;
	j->sink = *sink;
	j->log = json_array();
	j->tree = json_array();
	j->progress_at = -JOB_PROGRESS_MS;
	if (!j->restic || !j->job_id || !j->kind || !j->actor || !j->url || !j->password || !j->log) {
		job_free(j);
		return -ENOMEM;
	}
	if (strlen(j->password) >= SCRUB_MIN_SECRET)
		j->secrets[j->nsecrets++] = strdup(j->password);
	json_object_foreach (j->env, key, v)
		if (json_is_string(v) && key_is_secret(key) && j->nsecrets < JOB_MAX_SECRETS)
			j->secrets[j->nsecrets++] = strdup(json_string_value(v));
	if (!is_tree(j)) {
		json_t *ev = event_new(j, "job.started");
		json_object_set_new(ev, "kind", json_string(j->kind));
		json_object_set_new(ev, "actor", json_string(j->actor));
		json_object_set(ev, "args", j->args);
		if (p->group && *p->group && strlen(p->group) <= 127)
			json_object_set_new(ev, "group", json_string(p->group));
		if (p->scheduled_for && *p->scheduled_for && strlen(p->scheduled_for) <= 64)
			json_object_set_new(ev, "scheduled_for", json_string(p->scheduled_for));
		emit(j, ev, JOB_EV_RESULT);
	}
	if (strcmp(j->kind, "restore") == 0) {
		json_t *t = json_object_get(j->args, "target");
		if (restore_progress_init(&j->rp, json_string_value(t), json_object_get(j->args, "paths")) < 0) {
			job_free(j);
			return -ENOMEM;
		}
		j->is_restore = true;
	}
	step_start(j, j->hook_pre ? STEP_PRE_HOOK : j->is_restore ? STEP_RESTORE_SIZE : STEP_MAIN);
	*out = j;
	return 0;
}

void job_fds(const struct job *j, int fds[2])
{
	fds[0] = j->child ? plat_child_fd(j->child, PLAT_STDOUT) : -1;
	fds[1] = j->child ? plat_child_fd(j->child, PLAT_STDERR) : -1;
}

void job_on_readable(struct job *j, const bool readable[2])
{
	char buf[16384];

	if (!j->child)
		return;
	for (int s = 0; s < 2; s++) {
		/* bounded per wake-up so one chatty stream cannot starve the loop */
		for (int k = 0; readable[s] && k < 16; k++) {
			long n = plat_child_read(j->child, (enum plat_stream)s, buf, sizeof(buf));
			if (n <= 0) {
				if (n == 0 && j->st[s].len > 0 && !j->st[s].overflow) {
					/* last line without a newline */
					on_line(j, (enum plat_stream)s, j->st[s].buf, j->st[s].len);
					j->st[s].len = 0;
				}
				break;
			}
			stream_feed(j, (enum plat_stream)s, buf, (size_t)n);
		}
	}
}

void job_tick(struct job *j, int64_t now)
{
	int code = -1;

	if (j->done)
		return;
	if (j->progress && now - j->progress_at >= JOB_PROGRESS_MS)
		progress_emit(j, now);
	if (json_array_size(j->log) > 0 && now - j->log_first_at >= JOB_LOG_FLUSH_MS)
		log_flush(j);
	if (j->child && j->cancel && !j->killed && now >= j->kill_at) {
		plat_child_signal(j->child, true);
		j->killed = true;
		log_agent(j, "restic did not stop within the grace period: killed");
	}
	if (j->child && j->is_restore && j->step == STEP_MAIN && restore_progress_due_in(&j->rp, now) == 0) {
		struct restic_progress p;
		int64_t written = -1;
		if (plat_child_written_bytes(j->child, &written) < 0)
			written = -1;
		restore_progress_sample(&j->rp, now, written, &p);
		on_status(j, &p);
	}
	if (j->child) {
		if (plat_child_fd(j->child, PLAT_STDOUT) >= 0 || plat_child_fd(j->child, PLAT_STDERR) >= 0)
			return; /* drain to EOF first */
		if (plat_child_reap(j->child, &code) < 0)
			return;
		plat_child_free(j->child);
		j->child = NULL;
	}
	/* the step is over (or never started) */
	step_done(j, j->spawn_failed ? -1 : code);
	json_decref(j->progress);
	j->progress = NULL;
	{
		enum step next = j->cancel ? STEP_END : step_following(j);
		if (next != STEP_END) {
			step_start(j, next);
			return;
		}
	}
	job_finish(j);
}

int job_next_timeout(const struct job *j, int64_t now)
{
	int64_t t = -1;
	if (j->done)
		return -1;
	if (!j->child)
		return 0;
	if (plat_child_fd(j->child, PLAT_STDOUT) < 0 && plat_child_fd(j->child, PLAT_STDERR) < 0)
		t = 20; /* pipes closed: poll for the exit */
	if (j->progress) {
		int64_t d = j->progress_at + JOB_PROGRESS_MS - now;
		t = (t < 0 || d < t) ? d : t;
	}
	if (json_array_size(j->log) > 0) {
		int64_t d = j->log_first_at + JOB_LOG_FLUSH_MS - now;
		t = (t < 0 || d < t) ? d : t;
	}
	if (j->cancel && !j->killed) {
		int64_t d = j->kill_at - now;
		t = (t < 0 || d < t) ? d : t;
	}
	if (j->is_restore && j->step == STEP_MAIN) {
		int64_t d = restore_progress_due_in(&j->rp, now);
		if (d >= 0)
			t = (t < 0 || d < t) ? d : t;
	}
	if (t < 0 && t != -1)
		t = 0;
	return (int)(t > 60000 ? 60000 : t);
}

void job_cancel(struct job *j, const char *reason)
{
	char msg[300];

	if (j->done || j->cancel)
		return;
	j->cancel = true;
	j->kill_at = plat_mono_ms() + JOB_CANCEL_GRACE_MS;
	snprintf(msg, sizeof(msg), "cancel requested: %s", reason);
	log_agent(j, msg);
	if (j->child)
		plat_child_signal(j->child, false);
}

bool job_is_done(const struct job *j) { return j->done; }
bool job_succeeded(const struct job *j) { return j->done && (j->status == ST_SUCCEEDED || j->status == ST_WARNING); }
int64_t job_child_pid(const struct job *j) { return j->child ? plat_child_pid(j->child) : 0; }
const char *job_id(const struct job *j) { return j->job_id; }

void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->hook_pre);
	free(j->hook_post);
	json_decref(j->lock);
	json_decref(j->lock_ids);
	json_decref(j->listed_locks);
	if (j->is_restore)
		restore_progress_release(&j->rp);
	if (j->child) {
		/* only at exit with a job still running: do not leave it behind */
		plat_child_signal(j->child, true);
		plat_child_free(j->child);
	}
	for (size_t i = 0; i < j->nsecrets; i++) {
		if (j->secrets[i]) {
			plat_memzero(j->secrets[i], strlen(j->secrets[i]));
			free(j->secrets[i]);
		}
	}
	if (j->password) {
		plat_memzero(j->password, strlen(j->password));
		free(j->password);
	}
	free(j->restic);
	free(j->cache_dir);
	free(j->job_id);
	free(j->kind);
	free(j->actor);
	free(j->url);
	free(j->cap);
	json_decref(j->args);
	json_decref(j->env);
	json_decref(j->progress);
	json_decref(j->log);
	json_decref(j->summary);
	json_decref(j->stats);
	json_decref(j->tree);
	json_decref(j->snapshots);
	free(j);
}

/*
 * schedule.c — the agent's local schedule (see schedule.h): parses the
 * cached schedule document, decides which runs are due, persists the last
 * fired time per schedule, and turns a due run into `run` commands on the
 * agent's job queue.  Main thread only.
 *
 * State file <state>/schedule_state.json: {"last": {"<schedule id>": T},
 * "jobs": {"<backup job id>": {"group", "when", "attempt"}}, "retries":
 * [{"group", "when", "attempt", "due"}]} with T/when the scheduled time (in
 * the virtual clock when the test hook is on) of the last run fired or
 * skipped, and due a real unix time.  A schedule seen for the first time
 * starts at "now": history is never backfilled.
 */
#include "agent/schedule.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/plat.h"
#include "common/cron.h"
#include "common/log.h"
#include "common/tz.h"
#include "common/util.h"

#define SCHEDULE_MAX_WAIT_MS 30000
#define SCHEDULE_CATCHUP_STEPS 100000
#define SCHEDULE_VCLOCK_ANCHOR ((int64_t)1700000000)

struct schedule_runner {
	char state_dir[PLAT_PATH_MAX];
	json_t *doc;   /* the schedule document, or NULL */
	json_t *state; /* {"last": {...}} */
	struct tz_zone *zone;
	int64_t minute_seconds; /* test hook: real seconds per cron minute, 0 = off */
	char tzname[TZ_NAME_MAX + 1]; /* IANA name of the zone, "" = unknown */
};

static int64_t vclock(const struct schedule_runner *s, int64_t now)
{
	if (!s->minute_seconds)
		return now;
	return SCHEDULE_VCLOCK_ANCHOR + (now - SCHEDULE_VCLOCK_ANCHOR) * 60 / s->minute_seconds;
}

/* Real seconds from virtual duration d. */
static int64_t vdur_real(const struct schedule_runner *s, int64_t d)
{
	return s->minute_seconds ? d * s->minute_seconds / 60 : d;
}

int schedule_open(const char *state_dir, struct schedule_runner **out)
{
	struct schedule_runner *s = calloc(1, sizeof(*s));
	const char *hook = getenv("RM_TEST_SCHEDULE_MINUTE_SECONDS");
	json_t *v = NULL;
	int r;

	if (!s)
		return -ENOMEM;
	util_strlcpy(s->state_dir, state_dir, sizeof(s->state_dir));
	if (hook && *hook && util_parse_i64(hook, 1, 3600, &s->minute_seconds) == 0)
		log_warnx("test hook RM_TEST_SCHEDULE_MINUTE_SECONDS=%lld: a cron minute lasts %lld s",
			  (long long)s->minute_seconds, (long long)s->minute_seconds);
	/* The zone's name is reported to the server.  Evaluated here: the
	 * platform's own rule where it has one (Windows: no zoneinfo there, and
	 * "/usr/share/zoneinfo" would resolve to a user-creatable C:\usr\...),
	 * else the named zone's file, else /etc/localtime, else UTC. */
	char rule[128];
	if (plat_timezone_name(s->tzname, sizeof(s->tzname)) < 0 || !tz_is_valid_name(s->tzname))
		s->tzname[0] = '\0';
	if (plat_timezone_rule(rule, sizeof(rule)) == 0 && tz_zone_from_rule(rule, &s->zone) == 0) {
		/* the rule, under the mapped name */
	} else if (!s->tzname[0] || tz_zone_load(s->tzname, &s->zone) < 0) {
		s->tzname[0] = '\0';
		if (tz_zone_load(NULL, &s->zone) < 0 && tz_zone_fixed(0, &s->zone) < 0) {
			free(s);
			return -ENOMEM;
		}
	}
	r = agent_json_load(state_dir, "schedule.json", &v);
	if (r == 0 && json_is_object(v))
		s->doc = v;
	else
		json_decref(v);
	v = NULL;
	r = agent_json_load(state_dir, "schedule_state.json", &v);
	if (r == 0 && json_is_object(v) && json_is_object(json_object_get(v, "last")))
		s->state = v;
	else {
		if (r != -ENOENT)
			log_warnx("ignoring a damaged '%s/schedule_state.json'", state_dir);
		json_decref(v);
		s->state = json_pack("{s:{}}", "last");
	}
	if (s->state && !json_is_object(json_object_get(s->state, "jobs")))
		json_object_set_new(s->state, "jobs", json_object());
	if (s->state && !json_is_array(json_object_get(s->state, "retries")))
		json_object_set_new(s->state, "retries", json_array());
	if (!s->state) {
		schedule_free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void schedule_free(struct schedule_runner *s)
{
	if (!s)
		return;
	json_decref(s->doc);
	json_decref(s->state);
	tz_zone_free(s->zone);
	free(s);
}

void schedule_set(struct schedule_runner *s, json_t *doc)
{
	if (!json_is_object(doc))
		return;
	json_decref(s->doc);
	s->doc = json_incref(doc);
}

static int save_state(struct schedule_runner *s)
{
	int r = agent_json_save(s->state_dir, "schedule_state.json", s->state, 0600);
	if (r < 0)
		log_error("cannot write '%s/schedule_state.json': %s", s->state_dir, strerror(-r));
	return r;
}

static json_t *find_group(struct schedule_runner *s, const char *name)
{
	json_t *g;
	size_t i;

	json_array_foreach (json_object_get(s->doc, "groups"), i, g) {
		const char *n = json_string_value(json_object_get(g, "name"));
		if (n && strcmp(n, name) == 0)
			return g;
	}
	return NULL;
}

static bool has_retention(json_t *ret)
{
	const char *k;
	json_t *v;

	json_object_foreach (ret, k, v) {
		if ((json_is_integer(v) && json_integer_value(v) > 0) ||
		    (strcmp(k, "keep_within") == 0 && json_is_string(v)))
			return true;
	}
	return false;
}

static void new_job_id(char out[33])
{
	unsigned char b[16];
	static const char hex[] = "0123456789abcdef";

	if (plat_random_bytes(b, sizeof(b)) < 0) {
		/* Unique enough without the RNG: time and a counter. */
		static unsigned n;
		int64_t t = util_now_ms();
		memset(b, 0, sizeof(b));
		memcpy(b, &t, sizeof(t));
		n++;
		memcpy(b + 8, &n, sizeof(n));
	}
	for (size_t i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = '\0';
}

/* limits: the schedule document's bandwidth limits (borrowed, nullable),
 * copied into the command so the job honours them like a server's run. */
static void append_run(json_t *queue, const char *kind, json_t *args, const char *group, const char *when,
		       json_t *limits, int *added, char id[33])
{
	json_t *c;

	new_job_id(id);
	c = json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:s}", "type", "run", "job_id", id, "kind", kind, "args", args,
		      "actor", "schedule", "group", group, "scheduled_for", when);
	if (!c)
		return;
	if (json_is_object(limits))
		json_object_set(c, "limits", limits);
	json_array_append_new(queue, c);
	(*added)++;
	log_info("schedule: job %s (%s of group '%s', scheduled for %s) queued", id, kind, group, when);
}

#define SCHEDULE_MAX_TRACKED 256

/* Remember a scheduled backup job so a failure can be retried. */
static void track(struct schedule_runner *s, const char *id, const char *group, int64_t when, int64_t attempt)
{
	json_t *jobs = json_object_get(s->state, "jobs");

	if (json_object_size(jobs) >= SCHEDULE_MAX_TRACKED)
		json_object_clear(jobs); /* runaway: forget old ones rather than grow */
	json_object_set_new(jobs, id, json_pack("{s:s,s:I,s:I}", "group", group, "when", (json_int_t)when,
						  "attempt", (json_int_t)attempt));
}

/* Queue backup (+ forget) of group g for scheduled time when. */
static void fire_group(struct schedule_runner *s, json_t *g, json_t *queue, int64_t when, int64_t attempt,
		       int *added)
{
	const char *gname = json_string_value(json_object_get(g, "name"));
	json_t *paths = json_object_get(g, "paths"), *ex = json_object_get(g, "excludes");
	char ts[32], id[33];

	util_time_rfc3339(when, ts);
	if (!gname || !json_is_array(paths) || json_array_size(paths) == 0) {
		log_warnx("schedule: group '%s' has no paths: skipped", gname ? gname : "?");
		return;
	}
	json_t *args = json_pack("{s:O,s:o,s:[s]}", "paths", paths, "excludes",
				 json_is_array(ex) ? json_incref(ex) : json_array(), "tags", gname);
	if (!args)
		return;
	if (json_is_true(json_object_get(g, "use_fs_snapshot")))
		json_object_set_new(args, "use_fs_snapshot", json_true());
	append_run(queue, "backup", args, gname, ts, schedule_limits(s), added, id);
	track(s, id, gname, when, attempt);
	json_t *ret = json_object_get(g, "retention");
	if (has_retention(ret)) {
		json_t *fa = json_deep_copy(ret);
		if (fa) {
			json_object_set_new(fa, "tags", json_pack("[s]", gname));
			append_run(queue, "forget", fa, gname, ts, schedule_limits(s), added, id);
		}
	}
}

/* Queue backup (+ forget) for every group of schedule sc. */
static void fire(struct schedule_runner *s, json_t *sc, json_t *queue, int64_t when, bool catchup, int *added)
{
	char ts[32];
	json_t *name;
	size_t i;

	util_time_rfc3339(when, ts);
	json_array_foreach (json_object_get(sc, "groups"), i, name) {
		const char *gname = json_string_value(name);
		json_t *g = gname ? find_group(s, gname) : NULL;
		if (!g) {
			log_warnx("schedule %lld: unknown group '%s' skipped",
				  (long long)json_integer_value(json_object_get(sc, "id")), gname ? gname : "?");
			continue;
		}
		if (catchup && json_integer_value(json_object_get(json_object_get(g, "retry"), "count")) <= 0) {
			log_info("schedule: the run of group '%s' scheduled for %s was missed (the agent was not "
				 "running) and the group has no retries: skipped",
				 gname, ts);
			continue;
		}
		fire_group(s, g, queue, when, 0, added);
	}
}

void schedule_job_done(struct schedule_runner *s, const char *job_id, bool ok)
{
	json_t *jobs = json_object_get(s->state, "jobs"), *t = job_id ? json_object_get(jobs, job_id) : NULL;

	if (!t)
		return;
	const char *group = json_string_value(json_object_get(t, "group"));
	int64_t attempt = json_integer_value(json_object_get(t, "attempt"));
	int64_t when = json_integer_value(json_object_get(t, "when"));
	json_t *g = group ? find_group(s, group) : NULL;
	json_t *retry = json_object_get(g, "retry");
	int64_t count = json_integer_value(json_object_get(retry, "count"));
	int64_t backoff = json_integer_value(json_object_get(retry, "backoff_seconds"));

	if (!ok && g && attempt < count) {
		json_array_append_new(json_object_get(s->state, "retries"),
				      json_pack("{s:s,s:I,s:I,s:I}", "group", group, "when", (json_int_t)when, "attempt",
						(json_int_t)(attempt + 1), "due", (json_int_t)(util_now() + backoff)));
		log_info("schedule: backup job %s of group '%s' failed: retry %lld of %lld in %lld s", job_id, group,
			 (long long)(attempt + 1), (long long)count, (long long)backoff);
	} else if (!ok && g) {
		log_warnx("schedule: backup job %s of group '%s' failed; no retries left", job_id, group);
	}
	json_object_del(jobs, job_id);
	save_state(s);
}

/* Queue the retries that are due.  Return ms until the next one, or -1. */
static int64_t run_retries(struct schedule_runner *s, json_t *queue, int64_t real_now, int *added)
{
	json_t *rs = json_object_get(s->state, "retries"), *r;
	int64_t wait = -1;
	bool dirty = false;

	for (size_t i = 0; i < json_array_size(rs);) {
		r = json_array_get(rs, i);
		int64_t due = json_integer_value(json_object_get(r, "due"));
		if (due > real_now) {
			if (wait < 0 || (due - real_now) * 1000 < wait)
				wait = (due - real_now) * 1000;
			i++;
			continue;
		}
		const char *group = json_string_value(json_object_get(r, "group"));
		json_t *g = group ? find_group(s, group) : NULL;
		if (g)
			fire_group(s, g, queue, json_integer_value(json_object_get(r, "when")),
				   json_integer_value(json_object_get(r, "attempt")), added);
		json_array_remove(rs, i);
		dirty = true;
	}
	if (dirty)
		save_state(s);
	return wait;
}

/* Deterministic random delay in [0, max] for (schedule id, scheduled time). */
static int64_t start_delay(int64_t id, int64_t t, int64_t max)
{
	uint64_t h = 1469598103934665603ull;

	if (max <= 0)
		return 0;
	for (int i = 0; i < 8; i++) {
		h = (h ^ (uint64_t)((id >> (8 * i)) & 0xff)) * 1099511628211ull;
		h = (h ^ (uint64_t)((t >> (8 * i)) & 0xff)) * 1099511628211ull;
	}
	return (int64_t)(h % (uint64_t)(max + 1));
}

int64_t schedule_tick(struct schedule_runner *s, json_t *queue, int64_t real_now, int *added)
{
	int64_t now = vclock(s, real_now), wait = -1;
	json_t *last = json_object_get(s->state, "last"), *sc;
	bool dirty = false;
	size_t i;

	*added = 0;
	if (!s->doc)
		return SCHEDULE_MAX_WAIT_MS;
	wait = run_retries(s, queue, real_now, added);
	json_array_foreach (json_object_get(s->doc, "schedules"), i, sc) {
		struct cron_expr e;
		char key[32];
		int64_t id = json_integer_value(json_object_get(sc, "id")), next, t;
		const char *cron = json_string_value(json_object_get(sc, "cron"));

		snprintf(key, sizeof(key), "%lld", (long long)id);
		if (!json_is_true(json_object_get(sc, "enabled")) || !cron || cron_parse(cron, &e, NULL, 0) < 0) {
			/* Disabled: forget its history, so enabling it later starts afresh
			 * instead of catching up the time it was off. */
			if (json_object_get(last, key)) {
				json_object_del(last, key);
				dirty = true;
			}
			continue;
		}
		json_t *lv = json_object_get(last, key);
		if (!json_is_integer(lv)) {
			json_object_set_new(last, key, json_integer(now));
			dirty = true;
			continue;
		}
		if (cron_next(&e, s->zone, json_integer_value(lv), &next) < 0)
			continue;
		int64_t delay = start_delay(id, next, json_integer_value(json_object_get(sc, "random_delay_seconds")));
		if (next + delay > now) {
			int64_t w = vdur_real(s, next + delay - now) * 1000;
			if (wait < 0 || w < wait)
				wait = w;
			continue;
		}
		bool catchup = now - (next + delay) > SCHEDULE_GRACE_S;
		if (catchup) {
			/* The agent was not running: only the latest missed run counts. */
			for (int k = 0; k < SCHEDULE_CATCHUP_STEPS && cron_next(&e, s->zone, next, &t) == 0 && t <= now; k++)
				next = t;
		}
		/* Persist first: a crash loses this run rather than starting it twice. */
		json_object_set_new(last, key, json_integer(next));
		if (save_state(s) < 0)
			continue;
		fire(s, sc, queue, next, catchup, added);
		wait = 0;
	}
	if (dirty)
		save_state(s);
	if (wait < 0 || wait > SCHEDULE_MAX_WAIT_MS)
		wait = SCHEDULE_MAX_WAIT_MS;
	return wait < 50 ? 50 : wait;
}

json_t *schedule_group_hooks(struct schedule_runner *s, const char *kind, json_t *args)
{
	json_t *tags = json_object_get(args, "tags"), *g, *h;
	const char *name;

	if (!s || !kind || strcmp(kind, "backup") != 0 || json_array_size(tags) != 1)
		return NULL;
	name = json_string_value(json_array_get(tags, 0));
	g = name ? find_group(s, name) : NULL;
	h = json_object_get(g, "hooks");
	return json_is_object(h) ? h : NULL;
}

json_t *schedule_limits(struct schedule_runner *s)
{
	json_t *l = s ? json_object_get(s->doc, "limits") : NULL;
	return json_is_object(l) ? l : NULL;
}

const char *schedule_timezone(const struct schedule_runner *s)
{
	return s ? s->tzname : "";
}

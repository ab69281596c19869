/*
 * agent_events.c — validation of agent events (see agent_events.h).  A
 * table of event types; per type, the fields protocol.md requires and the
 * types of the optional ones.  Never logs, never allocates.
 */
#include "server/agent_events.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define ARRAY_N(a) (sizeof(a) / sizeof((a)[0]))

static bool job_id_is_valid(const char *s)
{
	if (!s || strlen(s) != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static const struct {
	const char *name;
	enum agent_ev type;
	bool has_job;
} ev_types[] = {
    {"job.started", AGENT_EV_JOB_STARTED, true},
    {"job.progress", AGENT_EV_JOB_PROGRESS, true},
    {"job.log", AGENT_EV_JOB_LOG, true},
    {"job.finished", AGENT_EV_JOB_FINISHED, true},
    {"snapshots", AGENT_EV_SNAPSHOTS, false},
    {"repo.stats", AGENT_EV_REPO_STATS, false},
    {"schedule.ack", AGENT_EV_SCHEDULE_ACK, false},
    {"tree.result", AGENT_EV_TREE_RESULT, false},
    {"command.result", AGENT_EV_COMMAND_RESULT, false},
};

static bool is_one_of(const char *s, const char *const *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, set[i]))
			return true;
	return false;
}

static bool opt_type(json_t *o, const char *field, json_type t)
{
	json_t *v = json_object_get(o, field);
	if (!v || json_is_null(v))
		return true;
	if (t == JSON_REAL)
		return json_is_number(v);
	return json_typeof(v) == t;
}

const char *agent_event_check(json_t *e, enum agent_ev *type)
{
	static const char *const actors[] = {"user", "schedule", "system"};
	static const char *const finals[] = {"succeeded", "warning", "failed", "cancelled"};
	static const char *const streams[] = {"stdout", "stderr", "agent"};
	static const char *const kinds[] = {"init",   "backup",    "forget", "prune", "check",
	                                    "unlock", "snapshots", "stats",  "diff",  "restore"};
	json_t *seq = json_object_get(e, "seq"), *v;
	const char *tname;
	size_t i, k;
	bool found = false, has_job = false;

	if (!json_is_object(e))
		return "each event must be an object";
	if (!json_is_integer(seq) || json_integer_value(seq) < 1)
		return "event 'seq' must be a positive integer";
	tname = json_string_value(json_object_get(e, "type"));
	if (!tname)
		return "event 'type' must be a string";
	for (k = 0; k < ARRAY_N(ev_types); k++)
		if (!strcmp(tname, ev_types[k].name)) {
			*type = ev_types[k].type;
			has_job = ev_types[k].has_job;
			found = true;
			break;
		}
	if (!found)
		return "unknown event type";
	v = json_object_get(e, "time");
	if (v && (!json_is_string(v) || json_string_length(v) > 64))
		return "event 'time' must be an RFC 3339 string";
	if (has_job && !job_id_is_valid(json_string_value(json_object_get(e, "job_id"))))
		return "event 'job_id' must be 32 lowercase hex characters";
	switch (*type) {
	case AGENT_EV_JOB_STARTED:
		v = json_object_get(e, "kind");
		if (!json_is_string(v) || !is_one_of(json_string_value(v), kinds, ARRAY_N(kinds)))
			return "job.started needs a known 'kind'";
		v = json_object_get(e, "actor");
		if (v && (!json_is_string(v) || !is_one_of(json_string_value(v), actors, ARRAY_N(actors))))
			return "job.started 'actor' must be user, schedule or system";
		if (!opt_type(e, "args", JSON_OBJECT) || !opt_type(e, "group", JSON_STRING) ||
		    json_string_length(json_object_get(e, "group")) > 127 || !opt_type(e, "scheduled_for", JSON_STRING))
			return "job.started has a field of the wrong type";
		break;
	case AGENT_EV_JOB_PROGRESS: {
		static const char *const nums[] = {"percent",    "files_done",  "total_files",
		                                   "bytes_done", "total_bytes", "seconds_remaining"};
		for (i = 0; i < ARRAY_N(nums); i++)
			if (!opt_type(e, nums[i], JSON_REAL))
				return "job.progress numbers must be numbers";
		if (!opt_type(e, "current_files", JSON_ARRAY))
			return "job.progress 'current_files' must be an array";
		break;
	}
	case AGENT_EV_JOB_LOG:
		v = json_object_get(e, "lines");
		if (!json_is_array(v) || json_array_size(v) > AGENT_EVENTS_MAX_LOG_LINES)
			return "job.log needs 'lines' (an array of at most 10000 lines)";
		for (i = 0; i < json_array_size(v); i++) {
			json_t *l = json_array_get(v, i), *st;
			if (!json_is_object(l) || !json_is_string(json_object_get(l, "text")))
				return "each job.log line needs 'text'";
			st = json_object_get(l, "stream");
			if (st && (!json_is_string(st) || !is_one_of(json_string_value(st), streams, ARRAY_N(streams))))
				return "job.log 'stream' must be stdout, stderr or agent";
			if (!opt_type(l, "t", JSON_STRING))
				return "job.log 't' must be a string";
		}
		break;
	case AGENT_EV_JOB_FINISHED:
		v = json_object_get(e, "status");
		if (!json_is_string(v) || !is_one_of(json_string_value(v), finals, ARRAY_N(finals)))
			return "job.finished 'status' must be succeeded, warning, failed or cancelled";
		if (!opt_type(e, "exit_code", JSON_INTEGER) || !opt_type(e, "summary", JSON_OBJECT) ||
		    !opt_type(e, "error", JSON_STRING))
			return "job.finished has a field of the wrong type";
		break;
	case AGENT_EV_SNAPSHOTS:
		v = json_object_get(e, "snapshots");
		if (!json_is_array(v))
			return "snapshots needs 'snapshots' (an array)";
		for (i = 0; i < json_array_size(v); i++) {
			json_t *s = json_array_get(v, i);
			if (!json_is_object(s) || !json_is_string(json_object_get(s, "id")))
				return "each snapshot needs an 'id'";
		}
		break;
	case AGENT_EV_REPO_STATS:
		if (!opt_type(e, "check", JSON_OBJECT) || !opt_type(e, "locks", JSON_ARRAY))
			return "repo.stats has a field of the wrong type";
		break;
	case AGENT_EV_SCHEDULE_ACK:
		if (!json_is_integer(json_object_get(e, "version")))
			return "schedule.ack needs 'version'";
		break;
	case AGENT_EV_TREE_RESULT:
		if (!json_is_string(json_object_get(e, "request_id")))
			return "tree.result needs 'request_id'";
		break;
	case AGENT_EV_COMMAND_RESULT:
		if (!json_is_integer(json_object_get(e, "command_seq")) || !json_is_boolean(json_object_get(e, "ok")))
			return "command.result needs 'command_seq' and 'ok'";
		break;
	}
	return NULL;
}

/*
 * agent_events.h — validation of the events an agent sends
 * (docs/protocol.md, POST /api/agent/v1/events).  Pure functions over
 * jansson values: no I/O, no server state, safe on any thread; fuzzed by
 * tests/fuzz/fuzz_agent_events.c.
 */
#ifndef RM_AGENT_EVENTS_H
#define RM_AGENT_EVENTS_H

#include <jansson.h>

#define AGENT_EVENTS_MAX_LOG_LINES 10000

enum agent_ev {
	AGENT_EV_JOB_STARTED,
	AGENT_EV_JOB_PROGRESS,
	AGENT_EV_JOB_LOG,
	AGENT_EV_JOB_FINISHED,
	AGENT_EV_SNAPSHOTS,
	AGENT_EV_REPO_STATS,
	AGENT_EV_SCHEDULE_ACK,
	AGENT_EV_TREE_RESULT,
	AGENT_EV_COMMAND_RESULT,
};

/* Check one event object: seq, known type, time, job id (32 lowercase hex)
 * for job events, and the fields of its type.  Return NULL when valid (OUT:
 * *type), else a short static message for the 400 answer. */
const char *agent_event_check(json_t *e, enum agent_ev *type);

#endif

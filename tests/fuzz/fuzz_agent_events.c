/*
 * fuzz_agent_events.c — libFuzzer harness for agent event validation
 * (src/server/agent_events.c), the first thing the server does with a batch
 * an agent posts to /api/agent/v1/events.
 *
 * Input: JSON text.  An object with "events" is checked event by event (as
 * the endpoint does); any other value is checked as one event.  Valid events
 * must then have the fields the ingestion code reads without further checks.
 * Build: clang -fsanitize=fuzzer,address (scripts/check.d/fuzz.sh), or with
 * tests/fuzz/replay_main.c under gcc to replay the corpus.
 * fuzz-sources: src/server/agent_events.c -ljansson
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/agent_events.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_one(json_t *e)
{
	enum agent_ev type;
	if (agent_event_check(e, &type) != NULL)
		return;
	/* What api_agent.c relies on after a successful check. */
	if (!json_is_integer(json_object_get(e, "seq")) || json_integer_value(json_object_get(e, "seq")) < 1)
		abort();
	switch (type) {
	case AGENT_EV_JOB_STARTED:
	case AGENT_EV_JOB_PROGRESS:
	case AGENT_EV_JOB_FINISHED:
	case AGENT_EV_JOB_LOG:
		if (strlen(json_string_value(json_object_get(e, "job_id"))) != 32)
			abort();
		if (type == AGENT_EV_JOB_LOG) {
			json_t *lines = json_object_get(e, "lines");
			for (size_t i = 0; i < json_array_size(lines); i++)
				if (!json_string_value(json_object_get(json_array_get(lines, i), "text")))
					abort();
		}
		if (type == AGENT_EV_JOB_FINISHED && !json_string_value(json_object_get(e, "status")))
			abort();
		break;
	case AGENT_EV_SNAPSHOTS:
		if (!json_is_array(json_object_get(e, "snapshots")))
			abort();
		break;
	case AGENT_EV_SCHEDULE_ACK:
	case AGENT_EV_REPO_STATS:
	case AGENT_EV_TREE_RESULT:
	case AGENT_EV_COMMAND_RESULT:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *events;
	if (!root)
		return 0;
	events = json_object_get(root, "events");
	if (json_is_array(events)) {
		for (size_t i = 0; i < json_array_size(events); i++)
			check_one(json_array_get(events, i));
	} else {
		check_one(root);
	}
	json_decref(root);
	return 0;
}

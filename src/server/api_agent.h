/*
 * api_agent.h — the agent endpoint /api/agent/v1/{enroll,hello,commands,
 * events} (docs/protocol.md), agent authentication, and the calls other
 * modules use to talk to agents (send a command, build a host's config).
 * Loop thread only.
 */
#ifndef RM_API_AGENT_H
#define RM_API_AGENT_H

#include <jansson.h>
#include <stdint.h>

#include "server/http.h"

struct server;

#define AGENT_MAX_EVENTS 1000
#define AGENT_MAX_BATCH  (4 * 1024 * 1024)
/* Log lines stored per events request at most (the rest is acked later). */
#define AGENT_BATCH_LINE_BUDGET 20000
#define AGENT_PROTOCOL_HEADER   "X-RM-Protocol"
/* Job ids in hello's queued_job_ids at most (35 bytes each in a 64 KiB body). */
#define AGENT_HELLO_MAX_QUEUED 1000

void api_agent_enroll(struct http_ctx *c);
void api_agent_hello(struct http_ctx *c);
void api_agent_commands(struct http_ctx *c);
void api_agent_events(struct http_ctx *c);

/* Queue a command for host_id (cmd: object with "type" and fields, borrowed;
 * the seq is assigned here), in its own transaction, and wake the host's
 * poll.  OUT: *seq (nullable).  Return 0, -ENOENT (no such host) or -errno. */
int agent_command_send(struct server *srv, int64_t host_id, json_t *cmd, int64_t *seq);

/* The host's agent config as sent in hello and `config` commands
 * ({"repository":{"url","password","env"},"limits":{…}}).  Contains the
 * repository password: never log it, never return it from the operator API.
 * OUT: *out (new reference).  Return 0 or -errno. */
int agent_config_json(struct server *srv, int64_t host_id, json_t **out);

/* The host's schedule for hello ({"version","groups","schedules"}).  The
 * schedules module overrides this weak default (version 0, nothing). */
json_t *agent_schedule_json(struct server *srv, int64_t host_id);

/* A tree.result event arrived (borrowed).  The snapshot-browsing module
 * overrides this weak default, which ignores it. */
void agent_tree_result(struct server *srv, int64_t host_id, json_t *event);

#endif

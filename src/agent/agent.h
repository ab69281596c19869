/*
 * agent.h — the agent's persistent configuration and state, and its
 * commands (enroll, run, status, service).
 *
 * Files (all written atomically; secrets 0600):
 *   <config>/agent.json       server URL, host id, TLS options, restic path
 *   <config>/agent.token      the agent bearer token (0600)
 *   <config>/repository.json  the repository config from the server (0600:
 *                             it holds the repository password)
 *   <state>/state.json        next event seq, last command seq, running job,
 *                             schedule version, last contact
 *   <state>/queue.json        commands received but not yet finished
 *   <state>/spool.ndjson      events not yet acknowledged (spool.h)
 *   <state>/schedule.json     the last schedule received
 *   <state>/cache/            restic's cache
 * Main thread only.
 */
#ifndef RM_AGENT_AGENT_H
#define RM_AGENT_AGENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/plat.h"

/* Command-line options shared by every command. */
struct agent_opts {
	char config_dir[PLAT_PATH_MAX];
	char state_dir[PLAT_PATH_MAX];
	char restic[PLAT_PATH_MAX];  /* "" = from agent.json or "restic" */
	char ca_file[PLAT_PATH_MAX]; /* "" = from agent.json or system store */
	char pin[128];               /* "" = from agent.json or none */
	char server[2048];           /* enroll */
	char token[512];             /* enroll (secret) */
};

struct agent_conf {
	char server[2048];
	int64_t host_id;
	char ca_file[PLAT_PATH_MAX];
	char pin[128];
	char restic[PLAT_PATH_MAX];
	char token[512]; /* secret */
};

struct agent_state {
	int64_t next_event_seq;
	int64_t last_command_seq;
	int64_t schedule_version;
	int64_t last_contact; /* unix seconds of the last successful exchange */
	char running_job_id[80];
	int64_t running_pid; /* restic of the running job, 0 when none */
};

/* agent_store.c ------------------------------------------------------------ */

/* Load agent.json and agent.token.  Return 0, -ENOENT if not enrolled, or
 * -errno / -EINVAL for a damaged file. */
int agent_conf_load(const char *config_dir, struct agent_conf *c);
int agent_conf_save(const char *config_dir, const struct agent_conf *c);

/* Missing state.json = fresh state.  Return 0 or -errno. */
int agent_state_load(const char *state_dir, struct agent_state *s);
int agent_state_save(const char *state_dir, const struct agent_state *s);

/* Load/save a JSON value from/to dir/name (mode for save).  Load returns
 * -ENOENT when missing.  OUT: *out (new reference). */
int agent_json_load(const char *dir, const char *name, json_t **out);
int agent_json_save(const char *dir, const char *name, json_t *v, int mode);

struct http_client;
/* Run `restic version` (bounded wait).  OUT: out[cap] like "0.14.0", or
 * "unknown". */
void agent_probe_restic_version(struct http_client *h, const char *restic, char *out, size_t cap);

/* Commands; return the process exit code. */
int agent_cmd_enroll(const struct agent_opts *o);
int agent_cmd_run(const struct agent_opts *o);
int agent_cmd_status(const struct agent_opts *o);
/* `service install|uninstall|start|stop|run` (Windows; elsewhere an error
 * pointing at the systemd unit).  verb may be NULL (usage error). */
int agent_cmd_service(const struct agent_opts *o, const char *verb);

#endif

/*
 * agent_store.c — reading and writing the agent's configuration and state
 * files (see agent.h for the layout).  Never logs: callers decide.
 * Main thread only.
 */
#include "agent/agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define AGENT_FILE_MAX (1u << 20)

int agent_json_load(const char *dir, const char *name, json_t **out)
{
	char path[PLAT_PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	json_t *v;
	int r;

	if (plat_path_join(path, sizeof(path), dir, name) < 0)
		return -ENAMETOOLONG;
	r = util_read_file(path, AGENT_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	v = json_loadb(buf, len, 0, NULL);
	plat_memzero(buf, len);
	free(buf);
	if (!v)
		return -EINVAL;
	*out = v;
	return 0;
}

int agent_json_save(const char *dir, const char *name, json_t *v, int mode)
{
	char path[PLAT_PATH_MAX];
	char *text;
	int r;

	if (plat_path_join(path, sizeof(path), dir, name) < 0)
		return -ENAMETOOLONG;
	text = json_dumps(v, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	r = util_write_file_atomic(path, text, strlen(text), (unsigned)mode);
	plat_memzero(text, strlen(text));
	free(text);
	return r;
}

static void copy_str(char *dst, size_t cap, json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	dst[0] = '\0';
	if (json_is_string(v))
		util_strlcpy(dst, json_string_value(v), cap);
}

int agent_conf_load(const char *config_dir, struct agent_conf *c)
{
	char path[PLAT_PATH_MAX], *tok = NULL;
	size_t len = 0;
	json_t *o = NULL;
	int r;

	memset(c, 0, sizeof(*c));
	r = agent_json_load(config_dir, "agent.json", &o);
	if (r < 0)
		return r;
	copy_str(c->server, sizeof(c->server), o, "server");
	copy_str(c->ca_file, sizeof(c->ca_file), o, "ca_file");
	copy_str(c->pin, sizeof(c->pin), o, "pin_sha256");
	copy_str(c->restic, sizeof(c->restic), o, "restic");
	c->host_id = json_integer_value(json_object_get(o, "host_id"));
	json_decref(o);
	if (!c->server[0] || c->host_id <= 0)
		return -EINVAL;
	if (plat_path_join(path, sizeof(path), config_dir, "agent.token") < 0)
		return -ENAMETOOLONG;
	r = util_read_file(path, sizeof(c->token) - 1, &tok, &len);
	if (r < 0)
		return r;
	while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r'))
		tok[--len] = '\0';
	util_strlcpy(c->token, tok, sizeof(c->token));
	plat_memzero(tok, len);
	free(tok);
	return c->token[0] ? 0 : -EINVAL;
}

int agent_conf_save(const char *config_dir, const struct agent_conf *c)
{
	char path[PLAT_PATH_MAX];
	json_t *o;
	int r;

	r = util_mkdir_p(config_dir, 0700);
	if (r < 0)
		return r;
	/* the token first: an agent.json without a token is "not enrolled" */
	if (plat_path_join(path, sizeof(path), config_dir, "agent.token") < 0)
		return -ENAMETOOLONG;
	r = util_write_file_atomic(path, c->token, strlen(c->token), 0600);
	if (r < 0)
		return r;
	o = json_pack("{s:s, s:I, s:s, s:s, s:s}", "server", c->server, "host_id", (json_int_t)c->host_id,
		      "ca_file", c->ca_file, "pin_sha256", c->pin, "restic", c->restic);
	if (!o)
		return -ENOMEM;
	r = agent_json_save(config_dir, "agent.json", o, 0600);
	json_decref(o);
	return r;
}

int agent_state_load(const char *state_dir, struct agent_state *s)
{
	json_t *o = NULL;
	int r;

	memset(s, 0, sizeof(*s));
	s->next_event_seq = 1;
	r = agent_json_load(state_dir, "state.json", &o);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (json_is_integer(json_object_get(o, "next_event_seq")))
		s->next_event_seq = json_integer_value(json_object_get(o, "next_event_seq"));
	if (s->next_event_seq < 1)
		s->next_event_seq = 1;
	s->last_command_seq = json_integer_value(json_object_get(o, "last_command_seq"));
	s->schedule_version = json_integer_value(json_object_get(o, "schedule_version"));
	s->last_contact = json_integer_value(json_object_get(o, "last_contact"));
	copy_str(s->running_job_id, sizeof(s->running_job_id), o, "running_job_id");
	s->running_pid = json_integer_value(json_object_get(o, "running_pid"));
	json_decref(o);
	return 0;
}

int agent_state_save(const char *state_dir, const struct agent_state *s)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:o, s:I}", "next_event_seq", (json_int_t)s->next_event_seq,
			      "last_command_seq", (json_int_t)s->last_command_seq, "schedule_version",
			      (json_int_t)s->schedule_version, "last_contact", (json_int_t)s->last_contact,
			      "running_job_id", s->running_job_id[0] ? json_string(s->running_job_id) : json_null(),
			      "running_pid", (json_int_t)s->running_pid);
	int r;

	if (!o)
		return -ENOMEM;
	r = agent_json_save(state_dir, "state.json", o, 0600);
	json_decref(o);
	return r;
}

/*
 * audit.c — STUB being replaced by the audit implementation (see audit.h).
 */
#include "server/audit.h"

#include <errno.h>
#include <stdlib.h>

#include "server/http.h"
#include "server/server.h"

struct audit {
	int unused;
};

int audit_open(const char *data_dir, struct audit **out)
{
	(void)data_dir;
	*out = calloc(1, sizeof(struct audit));
	return *out ? 0 : -ENOMEM;
}

void audit_close(struct audit *a) { free(a); }

void audit_log(struct server *srv, struct http_ctx *c, const char *action, const char *target, const char *outcome,
	       json_t *details)
{
	(void)srv;
	(void)c;
	(void)action;
	(void)target;
	(void)outcome;
	json_decref(details);
}

void audit_log_actor(struct server *srv, const char *actor, const char *client, const char *action,
		     const char *target, const char *outcome, json_t *details)
{
	(void)srv;
	(void)actor;
	(void)client;
	(void)action;
	(void)target;
	(void)outcome;
	json_decref(details);
}

int audit_verify_main(const char *data_dir)
{
	(void)data_dir;
	return 2;
}

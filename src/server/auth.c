/*
 * auth.c — request authentication and authorisation (see auth.h).
 * Loop thread only.  The role needed by each route comes from routes.c; this
 * file is the single place where it is enforced.
 */
#include "server/auth.h"

#include <errno.h>
#include <string.h>

#include "server/server.h"

const char *auth_role_name(enum role r)
{
	switch (r) {
	case ROLE_VIEWER: return "viewer";
	case ROLE_OPERATOR: return "operator";
	case ROLE_ADMIN: return "admin";
	case ROLE_NONE: break;
	}
	return "none";
}

int auth_role_parse(const char *s, enum role *out)
{
	if (!strcmp(s, "viewer"))
		*out = ROLE_VIEWER;
	else if (!strcmp(s, "operator"))
		*out = ROLE_OPERATOR;
	else if (!strcmp(s, "admin"))
		*out = ROLE_ADMIN;
	else
		return -EINVAL;
	return 0;
}

int auth_authenticate(struct http_ctx *c)
{
	if (c->route->access == ACCESS_PUBLIC)
		return 0;
	http_reply_error(c, 401, "unauthenticated", "authentication required");
	return -1;
}

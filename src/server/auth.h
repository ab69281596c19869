/*
 * auth.h — who is calling: session cookie, personal API token (Bearer) or
 * agent token (Bearer, agent routes only); role checks from the route's
 * access level; CSRF for cookie-authenticated writes.  Loop thread only.
 */
#ifndef RM_AUTH_H
#define RM_AUTH_H

#include "server/http.h"

#define AUTH_SESSION_COOKIE "rm_session"
#define AUTH_CSRF_HEADER "X-CSRF-Token"
#define AUTH_SESSION_TTL (12 * 3600)

/* Authenticate c against c->route->access.  Return 0 (c->via, user/role or
 * host_id filled) or -1 after replying 401/403/426. */
int auth_authenticate(struct http_ctx *c);

/* Name of a role ("viewer", …) and its parse; -EINVAL for unknown names. */
const char *auth_role_name(enum role r);
int auth_role_parse(const char *s, enum role *out);

#endif

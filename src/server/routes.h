/*
 * routes.h — the route table: every HTTP endpoint of the server is one row in
 * routes.c (method, pattern, access level, handler, body limit).  Handlers are
 * declared in the per-resource headers (api_*.h).
 */
#ifndef RM_ROUTES_H
#define RM_ROUTES_H

#include "server/http.h"

/* The table, terminated by a row with pattern == NULL. */
const struct route *routes_table(void);

#endif

/*
 * api_sources.h — /api/v1/hosts/{id}/sources (source groups) and
 * /api/v1/hosts/{id}/schedules handlers.  Loop thread.
 */
#ifndef RM_API_SOURCES_H
#define RM_API_SOURCES_H

#include <stdbool.h>

#include "server/http.h"

/* A group name: 1-64 of [A-Za-z0-9._-], starting with a letter or digit. */
bool sources_name_is_valid(const char *s);

void api_sources_list(struct http_ctx *c);   /* GET    /api/v1/hosts/{id}/sources */
void api_sources_create(struct http_ctx *c); /* POST   /api/v1/hosts/{id}/sources */
void api_sources_get(struct http_ctx *c);    /* GET    /api/v1/hosts/{id}/sources/{id|name} */
void api_sources_put(struct http_ctx *c);    /* PUT    … whole group */
void api_sources_patch(struct http_ctx *c);  /* PATCH  … given fields */
void api_sources_delete(struct http_ctx *c); /* DELETE … (409 while a schedule uses it) */

void api_schedules_list(struct http_ctx *c);   /* GET    /api/v1/hosts/{id}/schedules */
void api_schedules_create(struct http_ctx *c); /* POST   /api/v1/hosts/{id}/schedules */
void api_schedules_get(struct http_ctx *c);    /* GET    /api/v1/hosts/{id}/schedules/{sid} */
void api_schedules_put(struct http_ctx *c);    /* PUT    … whole schedule */
void api_schedules_patch(struct http_ctx *c);  /* PATCH  … given fields */
void api_schedules_delete(struct http_ctx *c); /* DELETE … */

#endif

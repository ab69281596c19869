/*
 * api_hosts.h — hosts and enrolment: enrolment tokens with install
 * commands, host list/detail/delete, the fleet summary and the snapshot
 * cache.  Loop thread only.
 */
#ifndef RM_API_HOSTS_H
#define RM_API_HOSTS_H

#include "server/http.h"

#define ENROLL_TOKEN_TTL 3600

void api_enrollment_tokens_create(struct http_ctx *c); /* POST /api/v1/enrollment-tokens */
void api_hosts_list(struct http_ctx *c);               /* GET /api/v1/hosts */
void api_hosts_get(struct http_ctx *c);                /* GET /api/v1/hosts/{id} */
void api_hosts_delete(struct http_ctx *c);             /* DELETE /api/v1/hosts/{id} */
void api_hosts_update(struct http_ctx *c);             /* PATCH /api/v1/hosts/{id} (settings) */
void api_hosts_snapshots(struct http_ctx *c);          /* GET /api/v1/hosts/{id}/snapshots */
void api_fleet_summary(struct http_ctx *c);            /* GET /api/v1/fleet/summary */

#endif

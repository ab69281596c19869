/* api_audit.h — GET /api/v1/audit (filtered, paged, JSON or CSV) and
 * GET /api/v1/audit/export.csv.  Admin only (routes.c). */
#ifndef RM_API_AUDIT_H
#define RM_API_AUDIT_H

#include "server/http.h"

void api_audit_list(struct http_ctx *c);
void api_audit_export(struct http_ctx *c);

#endif

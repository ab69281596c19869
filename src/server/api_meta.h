/* api_meta.h — unauthenticated service endpoints: /healthz, /api/version. */
#ifndef RM_API_META_H
#define RM_API_META_H

#include "server/http.h"

void api_healthz(struct http_ctx *c);
void api_version(struct http_ctx *c);

#endif

/* api_tokens.h — personal API tokens: /api/v1/tokens (api_tokens.c). */
#ifndef RM_API_TOKENS_H
#define RM_API_TOKENS_H

#include "server/http.h"

void api_tokens_list(struct http_ctx *c);   /* GET    /api/v1/tokens */
void api_tokens_create(struct http_ctx *c); /* POST   /api/v1/tokens */
void api_tokens_delete(struct http_ctx *c); /* DELETE /api/v1/tokens/{id} */

#endif

/* api_users.h — user administration (admin role): /api/v1/users (api_users.c). */
#ifndef RM_API_USERS_H
#define RM_API_USERS_H

#include <jansson.h>

#include "server/http.h"

struct store_user;

/* The public JSON form of a user (never the password hash).  New reference. */
json_t *api_user_json(const struct store_user *u);

void api_users_list(struct http_ctx *c);   /* GET    /api/v1/users */
void api_users_create(struct http_ctx *c); /* POST   /api/v1/users */
void api_users_update(struct http_ctx *c); /* PATCH  /api/v1/users/{id} */
void api_users_delete(struct http_ctx *c); /* DELETE /api/v1/users/{id} */

#endif

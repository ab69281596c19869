/* api_auth.h — bootstrap, login, logout, me and own-password endpoints (api_auth.c). */
#ifndef RM_API_AUTH_H
#define RM_API_AUTH_H

#include "server/http.h"

void api_bootstrap_status(struct http_ctx *c); /* GET  /api/v1/bootstrap */
void api_bootstrap(struct http_ctx *c);        /* POST /api/v1/bootstrap */
void api_auth_login(struct http_ctx *c);       /* POST /api/v1/auth/login */
void api_auth_logout(struct http_ctx *c);      /* POST /api/v1/auth/logout */
void api_auth_me(struct http_ctx *c);          /* GET  /api/v1/auth/me */
void api_auth_password(struct http_ctx *c);    /* PUT  /api/v1/auth/password */

#endif

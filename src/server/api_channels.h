/*
 * api_channels.h — notification channels (admin only, by the route table):
 * list, create, update, delete, send a test, read the delivery log.
 * Loop thread.
 */
#ifndef RM_API_CHANNELS_H
#define RM_API_CHANNELS_H

#include "server/http.h"

#define CHANNELS_MAX 100

void api_channels_list(struct http_ctx *c);       /* GET /api/v1/notification-channels */
void api_channels_create(struct http_ctx *c);     /* POST /api/v1/notification-channels */
void api_channels_update(struct http_ctx *c);     /* PATCH /api/v1/notification-channels/{id} */
void api_channels_delete(struct http_ctx *c);     /* DELETE /api/v1/notification-channels/{id} */
void api_channels_test(struct http_ctx *c);       /* POST /api/v1/notification-channels/{id}/test */
void api_channels_deliveries(struct http_ctx *c); /* GET /api/v1/notification-channels/{id}/deliveries */

#endif

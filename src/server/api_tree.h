/*
 * api_tree.h — snapshot tree browsing: GET
 * /api/v1/hosts/{id}/snapshots/{sid}/tree?path=DIR (one directory level,
 * listed by the agent, cached per snapshot).  Loop thread.
 */
#ifndef RM_API_TREE_H
#define RM_API_TREE_H

#include "server/http.h"

void api_hosts_snapshot_tree(struct http_ctx *c);

#endif

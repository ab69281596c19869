/*
 * server.h — the server's process-wide context.  One instance lives in main();
 * every module gets a pointer to it.  All fields are owned by the event-loop
 * thread; worker threads never touch them (see docs/ARCHITECTURE.md).
 */
#ifndef RM_SERVER_H
#define RM_SERVER_H

#include <stdbool.h>

#include "server/config.h"

struct event_base;
struct evhttp;
struct store;
struct secrets;
struct audit;
struct workers;
struct agentd;
struct sse;
struct ratelimit;
struct store_checkpointer;
struct metrics;

struct server {
	struct config cfg;
	struct event_base *base;
	struct evhttp *http;
	struct store *store;
	struct secrets *secrets;
	struct audit *audit;
	struct workers *workers;
	struct store_checkpointer *ckpt; /* WAL checkpoints on a worker (store_checkpoint.c) */
	struct agentd *agentd;       /* agent long-polls and host liveness (agentd.c) */
	struct sse *sse;             /* browser event streams (sse.c) */
	struct ratelimit *login_rl;  /* login attempts per client address */
	struct metrics *metrics;     /* GET /metrics and its counters (metrics.c) */
	char bound_addr[300];        /* "host:port" actually bound */
	bool draining;               /* SIGTERM seen: finish in-flight work, accept nothing new */
};

#endif

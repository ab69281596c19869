/*
 * backoff.h — reconnect delays: exponential from 1 s, capped at 60 s, with
 * jitter (each delay is drawn from [max(1 s, base/2), base]).  Pure.
 */
#ifndef RM_AGENT_BACKOFF_H
#define RM_AGENT_BACKOFF_H

#include <stdint.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

struct backoff {
	unsigned attempt;
};

/* The delay before the next attempt; rnd is a random 32-bit value. */
int64_t backoff_next(struct backoff *b, uint32_t rnd);
/* A success: the next failure starts again at 1 s. */
void backoff_reset(struct backoff *b);

#endif

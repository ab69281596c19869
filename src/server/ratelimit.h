/*
 * ratelimit.h — a bounded table of per-key failure counters (login and
 * bootstrap attempts per client address).  Fixed window per key: the window
 * opens at the first counted attempt and lasts window_s seconds; once
 * max_hits attempts are counted in it, the key is blocked until it closes.
 * The table never grows: when full, an expired entry or else the entry seen
 * longest ago is evicted.  IPv6 keys are reduced to their /64 so one host
 * cannot rotate through its addresses.  Every function accepts rl == NULL
 * (no limiting; e.g. after shutdown freed it).  Loop thread only (no locking).
 */
#ifndef RM_RATELIMIT_H
#define RM_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* OUT: *out.  Return 0, -EINVAL (bad parameters) or -ENOMEM. */
int ratelimit_new(size_t capacity, int max_hits, int window_s, struct ratelimit **out);
/* Accepts NULL. */
void ratelimit_free(struct ratelimit *rl);

/* 0 when key may try now, else the seconds until it may (≥ 1). */
int64_t ratelimit_check(struct ratelimit *rl, const char *key, int64_t now);
/* Count one attempt for key. */
void ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now);
/* Take back one counted attempt (it turned out to be a success). */
void ratelimit_refund(struct ratelimit *rl, const char *key, int64_t now);

/* Number of entries in use (tests). */
size_t ratelimit_size(const struct ratelimit *rl);

#endif

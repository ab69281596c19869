/*
 * ratelimit.c — bounded per-key attempt counters (see ratelimit.h).
 * Loop thread only.  The table is a flat array scanned linearly: it is small
 * (a few thousand entries) and only consulted on login/bootstrap attempts,
 * each of which costs an argon2id computation anyway.
 */
#include "server/ratelimit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"

#define RATELIMIT_KEY_MAX 64

struct rl_entry {
	char key[RATELIMIT_KEY_MAX]; /* "" = free */
	int64_t window_start;
	int64_t last_seen;
	int hits;
};

struct ratelimit {
	struct rl_entry *e;
	size_t cap;
	int max_hits;
	int window_s;
};

int ratelimit_new(size_t capacity, int max_hits, int window_s, struct ratelimit **out)
{
	struct ratelimit *rl;

	if (capacity == 0 || max_hits < 1 || window_s < 1)
		return -EINVAL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->e = calloc(capacity, sizeof(*rl->e));
	if (!rl->e) {
		free(rl);
		return -ENOMEM;
	}
	rl->cap = capacity;
	rl->max_hits = max_hits;
	rl->window_s = window_s;
	*out = rl;
	return 0;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->e);
	free(rl);
}

/* Canonical key: IPv6 addresses masked to /64, anything else copied (truncated). */
static void normalize(const char *key, char out[RATELIMIT_KEY_MAX])
{
	unsigned char a6[16];

	if (strchr(key, ':') && inet_pton(AF_INET6, key, a6) == 1) {
		memset(a6 + 8, 0, 8);
		if (inet_ntop(AF_INET6, a6, out, RATELIMIT_KEY_MAX))
			return;
	}
	util_strlcpy(out, key, RATELIMIT_KEY_MAX);
}

static bool expired(const struct ratelimit *rl, const struct rl_entry *e, int64_t now)
{
	return e->key[0] == '\0' || now - e->window_start >= rl->window_s;
}

static struct rl_entry *find(struct ratelimit *rl, const char *k)
{
	for (size_t i = 0; i < rl->cap; i++)
		if (rl->e[i].key[0] && !strcmp(rl->e[i].key, k))
			return &rl->e[i];
	return NULL;
}

/* A slot for a new key: a free or expired one, else the least recently seen. */
static struct rl_entry *slot(struct ratelimit *rl, int64_t now)
{
	struct rl_entry *victim = &rl->e[0];
	for (size_t i = 0; i < rl->cap; i++) {
		if (expired(rl, &rl->e[i], now))
			return &rl->e[i];
		if (rl->e[i].last_seen < victim->last_seen)
			victim = &rl->e[i];
	}
	return victim;
}

int64_t ratelimit_check(struct ratelimit *rl, const char *key, int64_t now)
{
	char k[RATELIMIT_KEY_MAX];
	struct rl_entry *e;

	if (!rl)
		return 0;
	normalize(key, k);
	e = find(rl, k);
	if (!e || expired(rl, e, now) || e->hits < rl->max_hits)
		return 0;
	return e->window_start + rl->window_s - now;
}

void ratelimit_hit(struct ratelimit *rl, const char *key, int64_t now)
{
	char k[RATELIMIT_KEY_MAX];
	struct rl_entry *e;

	if (!rl)
		return;
	normalize(key, k);
	e = find(rl, k);
	if (!e) {
		e = slot(rl, now);
		memcpy(e->key, k, sizeof(e->key));
		e->hits = 0;
		e->window_start = now;
	} else if (expired(rl, e, now)) {
		e->hits = 0;
		e->window_start = now;
	}
	if (e->hits < rl->max_hits)
		e->hits++;
	e->last_seen = now;
}

void ratelimit_refund(struct ratelimit *rl, const char *key, int64_t now)
{
	char k[RATELIMIT_KEY_MAX];
	struct rl_entry *e;

	if (!rl)
		return;
	normalize(key, k);
	e = find(rl, k);
	if (e && !expired(rl, e, now) && e->hits > 0)
		e->hits--;
}

size_t ratelimit_size(const struct ratelimit *rl)
{
	size_t n = 0;
	for (size_t i = 0; i < rl->cap; i++)
		if (rl->e[i].key[0])
			n++;
	return n;
}

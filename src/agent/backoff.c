/* backoff.c — exponential backoff with jitter (see backoff.h).  Pure. */
#include "agent/backoff.h"

int64_t backoff_next(struct backoff *b, uint32_t rnd)
{
	int64_t base = BACKOFF_MIN_MS, lo;

	for (unsigned i = 0; i < b->attempt && base < BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	if (b->attempt < 32)
		b->attempt++;
	lo = base / 2;
	if (lo < BACKOFF_MIN_MS)
		lo = BACKOFF_MIN_MS;
	return lo + (int64_t)(rnd % (uint32_t)(base - lo + 1));
}

void backoff_reset(struct backoff *b) { b->attempt = 0; }

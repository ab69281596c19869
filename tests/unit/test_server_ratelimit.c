/* Unit tests for src/server/ratelimit.c: window, refund, expiry, IPv6 /64
 * grouping and the bounded table's eviction. */
#include <errno.h>
#include <stdio.h>

#include "harness.h"
#include "server/ratelimit.h"

TEST(test_params)
{
	struct ratelimit *rl = NULL;
	CHECK_EQ_INT(ratelimit_new(0, 1, 1, &rl), -EINVAL);
	CHECK_EQ_INT(ratelimit_new(4, 0, 1, &rl), -EINVAL);
	CHECK_EQ_INT(ratelimit_new(4, 1, 0, &rl), -EINVAL);
	ratelimit_free(NULL);
}

TEST(test_window)
{
	struct ratelimit *rl = NULL;
	CHECK_EQ_INT(ratelimit_new(16, 3, 300, &rl), 0);
	if (!rl)
		return;
	CHECK_EQ_INT(ratelimit_check(rl, "10.0.0.1", 1000), 0);
	for (int i = 0; i < 3; i++)
		ratelimit_hit(rl, "10.0.0.1", 1000 + i);
	CHECK_EQ_INT(ratelimit_check(rl, "10.0.0.1", 1010), 290);
	CHECK_EQ_INT(ratelimit_check(rl, "10.0.0.2", 1010), 0); /* other keys unaffected */
	/* a refund reopens one attempt */
	ratelimit_refund(rl, "10.0.0.1", 1010);
	CHECK_EQ_INT(ratelimit_check(rl, "10.0.0.1", 1010), 0);
	ratelimit_hit(rl, "10.0.0.1", 1011);
	CHECK(ratelimit_check(rl, "10.0.0.1", 1299) == 1);
	/* the window closes */
	CHECK_EQ_INT(ratelimit_check(rl, "10.0.0.1", 1300), 0);
	ratelimit_hit(rl, "10.0.0.1", 1300);
	CHECK_EQ_INT(ratelimit_check(rl, "10.0.0.1", 1300), 0);
	/* hits beyond the limit do not extend the window */
	for (int i = 0; i < 10; i++)
		ratelimit_hit(rl, "10.0.0.1", 1301);
	CHECK_EQ_INT(ratelimit_check(rl, "10.0.0.1", 1302), 298);
	ratelimit_free(rl);
}

TEST(test_ipv6_prefix)
{
	struct ratelimit *rl = NULL;
	CHECK_EQ_INT(ratelimit_new(16, 2, 60, &rl), 0);
	if (!rl)
		return;
	ratelimit_hit(rl, "2001:db8:1:2::1", 0);
	ratelimit_hit(rl, "2001:db8:1:2:ffff::9", 0);
	CHECK(ratelimit_check(rl, "2001:db8:1:2::77", 1) > 0);
	CHECK_EQ_INT(ratelimit_check(rl, "2001:db8:1:3::1", 1), 0);
	CHECK_EQ_INT(ratelimit_size(rl), 1);
	ratelimit_free(rl);
}

TEST(test_bounded_eviction)
{
	struct ratelimit *rl = NULL;
	char key[32];
	CHECK_EQ_INT(ratelimit_new(4, 1, 600, &rl), 0);
	if (!rl)
		return;
	for (int i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "192.0.2.%d", i);
		ratelimit_hit(rl, key, 10 + i);
		CHECK(ratelimit_size(rl) <= 4);
	}
	/* the most recent keys are kept, the oldest evicted */
	CHECK(ratelimit_check(rl, "192.0.2.99", 200) > 0);
	CHECK(ratelimit_check(rl, "192.0.2.96", 200) > 0);
	CHECK_EQ_INT(ratelimit_check(rl, "192.0.2.0", 200), 0);
	/* an overlong key is truncated, not overflowed */
	char longkey[200];
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	ratelimit_hit(rl, longkey, 300);
	CHECK(ratelimit_check(rl, longkey, 300) > 0);
	ratelimit_free(rl);
}

static const struct harness_case cases[] = {
	CASE(test_params),
	CASE(test_window),
	CASE(test_ipv6_prefix),
	CASE(test_bounded_eviction),
};
HARNESS_MAIN(cases)

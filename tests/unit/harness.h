/*
 * harness.h — the in-house unit test harness: TEST(name) functions collected
 * in a table, CHECK()/CHECK_EQ_*() that record a failure and continue, and a
 * main() that prints "N passed, N failed".  Include once per test program,
 * after the TEST definitions list them in a table and write HARNESS_MAIN(table).
 */
#ifndef RM_TEST_HARNESS_H
#define RM_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

static int harness_failed_checks;

#define TEST(name) static void name(void)
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			harness_failed_checks++;                                                   \
		}                                                                                  \
	} while (0)
#define CHECK_EQ_INT(a, b)                                                                          \
	do {                                                                                        \
		long long a_ = (long long)(a), b_ = (long long)(b);                                 \
		if (a_ != b_) {                                                                     \
			fprintf(stderr, "  %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
			harness_failed_checks++;                                                    \
		}                                                                                   \
	} while (0)
#define CHECK_EQ_STR(a, b)                                                                          \
	do {                                                                                        \
		const char *a_ = (a), *b_ = (b);                                                    \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                            \
			fprintf(stderr, "  %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a, \
				a_ ? a_ : "(null)", b_ ? b_ : "(null)");                            \
			harness_failed_checks++;                                                    \
		}                                                                                   \
	} while (0)

struct harness_case {
	const char *name;
	void (*fn)(void);
};

static inline int harness_run(const char *prog, const struct harness_case *cases, size_t n)
{
	int passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		int before = harness_failed_checks;
		cases[i].fn();
		if (harness_failed_checks == before) {
			passed++;
		} else {
			failed++;
			fprintf(stderr, "FAIL %s: %s\n", prog, cases[i].name);
		}
	}
	printf("%s: %d passed, %d failed\n", prog, passed, failed);
	return failed ? 1 : 0;
}

/* Usage:  static const struct harness_case cases[] = { CASE(test_a), CASE(test_b) };
 *         HARNESS_MAIN(cases) */
#define CASE(f) {#f, f}
#define HARNESS_MAIN(cases)                                                                        \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		(void)argc;                                                                        \
		return harness_run(argv[0], cases, sizeof(cases) / sizeof(cases[0]));              \
	}
#endif

/*
 * fuzz_cron.c — libFuzzer harness for the cron parser and the time zone
 * parsers (src/common/cron.c, src/common/tz.c).
 *
 * Input: if it starts with "TZif" it is a zone file; otherwise the first line
 * is a cron expression and an optional second line a POSIX TZ rule.  Parsed
 * expressions are evaluated (next runs must strictly increase) and described.
 * Build: clang -fsanitize=fuzzer,address (scripts/check.d/fuzz.sh), or with
 * tests/fuzz/replay_main.c under gcc to replay the corpus.
 * fuzz-sources: src/common/cron.c src/common/tz.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cron.h"
#include "common/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_zone(const struct tz_zone *z)
{
	for (int64_t t = 0; t < 4000000000LL; t += 123456789)
		(void)tz_zone_offset(z, t);
	(void)tz_zone_offset(z, INT64_MIN);
	(void)tz_zone_offset(z, INT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[CRON_EXPR_MAX + 160], err[CRON_ERR_MAX], desc[CRON_DESC_MAX];
	struct tz_zone *z = NULL;
	struct cron_expr e;
	int64_t runs[6];

	if (size >= 4 && memcmp(data, "TZif", 4) == 0) {
		if (tz_zone_parse(data, size, &z) == 0)
			fuzz_zone(z);
		tz_zone_free(z);
		return 0;
	}
	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char *nl = strchr(text, '\n');
	if (nl) {
		*nl = '\0';
		if (tz_zone_from_rule(nl + 1, &z) == 0)
			fuzz_zone(z);
	}
	if (!z && tz_zone_fixed(0, &z) < 0)
		return 0;
	if (cron_parse(text, &e, err, sizeof(err)) == 0) {
		int64_t after = 1700000000 + (int64_t)(size * 7919);
		int n = cron_next_n(&e, z, after, runs, 6);
		for (int i = 0; i < n; i++) {
			if (runs[i] <= (i ? runs[i - 1] : after))
				abort();
		}
		if (cron_describe(&e, desc, sizeof(desc)) < 0 || strlen(desc) >= sizeof(desc))
			abort();
		(void)cron_interval(&e, z, after);
	} else if (strlen(err) == 0) {
		abort(); /* every rejection explains itself */
	}
	tz_zone_free(z);
	return 0;
}

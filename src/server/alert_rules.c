/*
 * alert_rules.c — the overdue computation (see alert_rules.h).  Pure; any
 * thread.
 */
#include "server/alert_rules.h"

#include <string.h>

int64_t alert_rules_cron_gap(const struct cron_expr *e, const struct tz_zone *z, int64_t at)
{
	int64_t runs[ALERT_RULES_RUNS], best = 0;
	int n = cron_next_n(e, z, at, runs, ALERT_RULES_RUNS);

	for (int i = 1; i < n; i++)
		if (runs[i] - runs[i - 1] > best)
			best = runs[i] - runs[i - 1];
	return best;
}

int64_t alert_rules_interval(const char *crons, const struct tz_zone *z, int64_t at)
{
	int64_t best = 0;
	const char *p = crons;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char expr[CRON_EXPR_MAX + 1];
		struct cron_expr e;

		if (len > 0 && len <= CRON_EXPR_MAX) {
			memcpy(expr, p, len);
			expr[len] = '\0';
			if (cron_parse(expr, &e, NULL, 0) == 0) {
				int64_t g = alert_rules_cron_gap(&e, z, at);
				if (g > 0 && (best == 0 || g < best))
					best = g;
			}
		}
		p = nl ? nl + 1 : NULL;
	}
	return best;
}

bool alert_rules_is_overdue(int64_t interval, int64_t last_success, int64_t since, int64_t now, int64_t *deadline)
{
	int64_t ref = last_success > since ? last_success : since;
	int64_t d = interval > 0 ? ref + interval * ALERT_RULES_FACTOR_NUM / ALERT_RULES_FACTOR_DEN : 0;

	if (deadline)
		*deadline = d;
	return interval > 0 && now > d;
}

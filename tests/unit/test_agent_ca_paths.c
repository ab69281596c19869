/* Unit tests for src/agent/ca_paths.c: --ca-file wins, the first readable
 * candidate is chosen in order, nothing readable gives NULL. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/ca_paths.h"
#include "harness.h"

static char dir[] = "/tmp/rm-ca-paths-XXXXXX";
static char a[256], b[256], missing[256];

static void setup(void)
{
	if (!mkdtemp(dir))
		abort();
	snprintf(a, sizeof(a), "%s/a.pem", dir);
	snprintf(b, sizeof(b), "%s/b.pem", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	FILE *f = fopen(a, "w");
	FILE *g = fopen(b, "w");
	if (!f || !g)
		abort();
	fclose(f);
	fclose(g);
}

TEST(test_override_wins)
{
	CHECK_EQ_STR(ca_paths_find_bundle("/custom/ca.pem"), "/custom/ca.pem");
}

TEST(test_first_readable_in_order)
{
	const char *const l1[] = {missing, b, a, NULL};
	const char *const l2[] = {a, b, NULL};
	CHECK_EQ_STR(ca_paths_first_readable(l1), b);
	CHECK_EQ_STR(ca_paths_first_readable(l2), a);
}

TEST(test_none_readable)
{
	const char *const l[] = {missing, NULL};
	const char *const empty[] = {NULL};
	CHECK(ca_paths_first_readable(l) == NULL);
	CHECK(ca_paths_first_readable(empty) == NULL);
	CHECK(ca_paths_first_readable(NULL) == NULL);
}

TEST(test_default_list_covers_distributions)
{
	int debian = 0, rhel = 0, suse = 0, alpine = 0;
	for (size_t i = 0; ca_paths_default[i]; i++) {
		const char *p = ca_paths_default[i];
		debian += !strcmp(p, "/etc/ssl/certs/ca-certificates.crt");
		rhel += !strcmp(p, "/etc/pki/tls/certs/ca-bundle.crt");
		suse += !strcmp(p, "/etc/ssl/ca-bundle.pem");
		alpine += !strcmp(p, "/etc/ssl/cert.pem");
	}
	CHECK(debian && rhel && suse && alpine);
	/* empty --ca-file means "search" */
	const char *found = ca_paths_find_bundle("");
	CHECK(found == ca_paths_first_readable(ca_paths_default));
}

static void teardown(void)
{
	unlink(a);
	unlink(b);
	rmdir(dir);
}

static const struct harness_case cases[] = {
    CASE(test_override_wins),
    CASE(test_first_readable_in_order),
    CASE(test_none_readable),
    CASE(test_default_list_covers_distributions),
};

int main(int argc, char **argv)
{
	(void)argc;
	setup();
	int rc = harness_run(argv[0], cases, sizeof(cases) / sizeof(cases[0]));
	teardown();
	return rc;
}

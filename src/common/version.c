/* version.c — the build identity; values come from the Makefile's -D flags. */
#include "common/version.h"

#include <stdio.h>

#ifndef RM_VERSION
#define RM_VERSION "dev"
#endif
#ifndef RM_COMMIT
#define RM_COMMIT "none"
#endif
#ifndef RM_DATE
#define RM_DATE "unknown"
#endif

const char rm_version[] = RM_VERSION;
const char rm_commit[] = RM_COMMIT;
const char rm_date[] = RM_DATE;

void version_print(const char *program)
{
	printf("%s version %s\ncommit %s\ndate %s\n", program, rm_version, rm_commit, rm_date);
}

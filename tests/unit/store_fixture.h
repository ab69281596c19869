/*
 * store_fixture.h — a throwaway database for the store unit tests:
 * fixture_store_open() opens (and migrates) a fresh file
 * /tmp/rm-unit-store-<tag>-<pid>.db, fixture_store_close() closes it and
 * removes the file with its -wal and -shm companions.  Include after
 * harness.h in a test program linked against the server store.
 */
#ifndef RM_TEST_STORE_FIXTURE_H
#define RM_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

#include "server/store.h"

/* Writes the path into path[cap]; returns the open store, or NULL (reason on stderr). */
static inline struct store *fixture_store_open(const char *tag, char *path, size_t cap)
{
	struct store *st = NULL;
	char err[256];
	snprintf(path, cap, "/tmp/rm-unit-store-%s-%d.db", tag, (int)getpid());
	unlink(path);
	if (store_open(path, &st, err, sizeof(err)) < 0) {
		fprintf(stderr, "store_open: %s\n", err);
		return NULL;
	}
	return st;
}

static inline void fixture_store_close(struct store *st, const char *path)
{
	char p[300];
	store_close(st);
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

#endif

/*
 * store_checkpoint.c — WAL checkpoints on a worker thread (see
 * store_checkpoint.h).
 *
 * Threads: the WAL hook, start/stop and done() run on the loop thread; run()
 * runs on a worker and touches only c->db and the result fields, and only
 * while c->in_flight is set (the loop does not read them meanwhile).  The
 * checkpoint connection is opened without SQLite's mutexes: it is never
 * used by two threads at once (one work item at a time, closed after the
 * pool is joined).
 */
#include "server/store_checkpoint.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/log.h"
#include "server/store_internal.h"
#include "server/workers.h"

struct store_checkpointer {
	struct store *st;
	struct workers *w;
	sqlite3 *db;    /* checkpoint connection: worker thread while in_flight */
	bool in_flight; /* loop thread */
	int rc, wal_pages, moved_pages; /* results of run(), read in done() */
	long off_loop, on_loop;
	bool warned;
};

static void run(void *arg)
{
	struct store_checkpointer *c = arg;

	c->wal_pages = c->moved_pages = -1;
	c->rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &c->wal_pages, &c->moved_pages);
}

static void done(void *arg)
{
	struct store_checkpointer *c = arg;

	c->in_flight = false;
	if (c->rc == SQLITE_OK) {
		c->off_loop++;
		log_debug("wal checkpoint: %d of %d pages copied", c->moved_pages, c->wal_pages);
	} else if (c->rc != SQLITE_BUSY && !c->warned) {
		c->warned = true; /* the hard bound still applies; say it once */
		log_warnx("cannot checkpoint the database: %s", sqlite3_errstr(c->rc));
	}
}

static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store_checkpointer *c = arg;
	int wal, moved;

	(void)name;
	if (pages < STORE_CKPT_PAGES)
		return SQLITE_OK;
	if (!c->in_flight) {
		c->in_flight = true;
		if (workers_submit(c->w, run, done, c) < 0)
			c->in_flight = false;
	}
	if (pages >= STORE_CKPT_HARD_PAGES) {
		/* Bounded WAL even when the pool cannot keep up; BUSY while a
		 * worker checkpoint runs (then nothing is done here). */
		if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, &moved) == SQLITE_OK)
			c->on_loop++;
	}
	return SQLITE_OK;
}

int store_checkpoint_start(struct store *st, const char *path, struct workers *w, struct store_checkpointer **out)
{
	struct store_checkpointer *c = calloc(1, sizeof(*c));
	int rc;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->st = st;
	c->w = w;
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		log_error("cannot open a checkpoint connection to '%s': %s", path,
			  c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return -EIO;
	}
	if (sqlite3_exec(st->db, "PRAGMA journal_size_limit=" STORE_CKPT_KEEP_BYTES, NULL, NULL, NULL) != SQLITE_OK)
		log_warnx("cannot limit the size of the database's WAL file: %s", sqlite3_errmsg(st->db));
	/* Replaces SQLite's automatic checkpoint (itself a WAL hook). */
	sqlite3_wal_autocheckpoint(st->db, 0);
	sqlite3_wal_hook(st->db, on_commit, c);
	*out = c;
	return 0;
}

void store_checkpoint_stop(struct store *st, struct store_checkpointer *c)
{
	if (!c)
		return;
	sqlite3_wal_hook(st->db, NULL, NULL);
	sqlite3_wal_autocheckpoint(st->db, STORE_CKPT_PAGES);
}

void store_checkpoint_free(struct store_checkpointer *c)
{
	if (!c)
		return;
	sqlite3_close(c->db);
	free(c);
}

void store_checkpoint_counts(const struct store_checkpointer *c, long *off_loop, long *on_loop)
{
	*off_loop = c ? c->off_loop : 0;
	*on_loop = c ? c->on_loop : 0;
}

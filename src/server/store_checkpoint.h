/*
 * store_checkpoint.h — WAL checkpoints off the event loop.
 *
 * SQLite's automatic checkpoint runs inside the commit that grows the WAL
 * past 1000 pages, i.e. on the loop thread, copying pages into the database
 * file and fsyncing it: one request then waits for all of that.  Started,
 * this module turns the loop connection's automatic checkpoints off and
 * instead, when a commit leaves the WAL at STORE_CKPT_PAGES pages or more,
 * runs a PASSIVE checkpoint on a worker thread (workers.h) through a second
 * connection that only that work item uses.  A passive checkpoint never
 * waits for or blocks the loop's readers and writers; the loop keeps
 * appending to the WAL meanwhile, and the next commit after a checkpoint
 * that caught up starts the WAL file over.  One checkpoint at a time.
 *
 * Bounds: a WAL that keeps growing while a checkpoint runs (the writer can
 * only start the file over once a checkpoint has caught up) is capped: at
 * STORE_CKPT_HARD_PAGES (the pool is busy, shut down or checkpoints keep
 * failing) the loop runs one passive checkpoint itself, as SQLite would
 * have.  When the WAL starts over, its file is cut back to
 * STORE_CKPT_KEEP_BYTES (journal_size_limit), so a burst does not leave a
 * large file behind.
 */
#ifndef RM_STORE_CHECKPOINT_H
#define RM_STORE_CHECKPOINT_H

struct store;
struct workers;
struct store_checkpointer;

#define STORE_CKPT_PAGES      1000  /* SQLite's own default threshold */
#define STORE_CKPT_HARD_PAGES 10000 /* ~40 MB of WAL at 4 KiB pages */
#define STORE_CKPT_KEEP_BYTES "16777216" /* WAL file kept after a restart (bytes) */

/* Loop thread.  Open the second connection to the database at path (the one
 * st has open), disable st's automatic checkpoints and hook its commits.
 * Borrows st and w, which must outlive the checkpointer.  OUT: *out. */
int store_checkpoint_start(struct store *st, const char *path, struct workers *w, struct store_checkpointer **out);

/* Loop thread, before workers_free(): unhook st (no new checkpoint is
 * queued) and restore its automatic checkpoints.  Accepts NULL. */
void store_checkpoint_stop(struct store *st, struct store_checkpointer *c);

/* Loop thread, after workers_free() (no checkpoint may be running): close
 * the checkpoint connection.  Accepts NULL. */
void store_checkpoint_free(struct store_checkpointer *c);

/* Checkpoints completed off the loop and run on the loop (hard bound). */
void store_checkpoint_counts(const struct store_checkpointer *c, long *off_loop, long *on_loop);

#endif

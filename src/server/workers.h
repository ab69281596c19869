/*
 * workers.h — a small fixed thread pool for work that would block the event
 * loop (argon2id, big exports).  work() runs on a worker thread and must not
 * touch server state (store, http contexts); done() then runs on the loop
 * thread, where it may reply to the request that started the work.
 */
#ifndef RM_WORKERS_H
#define RM_WORKERS_H

struct event_base;
struct workers;

/* Start n threads. Requires evthread_use_pthreads() before the base was made. OUT: *out. */
int workers_new(struct event_base *base, int n, struct workers **out);
/* Finish queued work, run pending done() callbacks, join threads. Accepts NULL. */
void workers_free(struct workers *w);
/* Queue work. Return 0 or -ENOMEM / -ESHUTDOWN (then nothing runs). */
int workers_submit(struct workers *w, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Number of items queued or running (for metrics). */
int workers_pending(struct workers *w);

#endif

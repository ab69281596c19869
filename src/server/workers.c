/*
 * workers.c — thread pool (see workers.h).  Two queues under one mutex:
 * "todo" consumed by the threads, "done" drained on the loop thread by a
 * persistent event that a worker activates with event_active() (thread-safe
 * because main() enables libevent's pthread locking).
 */
#include "server/workers.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct work_item {
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
	struct work_item *next;
};

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct work_item *todo_head, *todo_tail;
	struct work_item *done_head, *done_tail;
	struct event *done_ev;
	pthread_t *threads;
	int nthreads;
	int pending;
	bool stopping;
};

static void push(struct work_item **head, struct work_item **tail, struct work_item *it)
{
	it->next = NULL;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct work_item *it;
		while (!w->todo_head && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->todo_head)
			break;
		it = w->todo_head;
		w->todo_head = it->next;
		if (!w->todo_head)
			w->todo_tail = NULL;
		pthread_mutex_unlock(&w->mu);
		it->work(it->arg);
		pthread_mutex_lock(&w->mu);
		push(&w->done_head, &w->done_tail, it);
		event_active(w->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void drain_done(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct work_item *list;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&w->mu);
	list = w->done_head;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	while (list) {
		struct work_item *next = list->next;
		if (list->done)
			list->done(list->arg);
		pthread_mutex_lock(&w->mu);
		w->pending--;
		pthread_mutex_unlock(&w->mu);
		free(list);
		list = next;
	}
}

int workers_new(struct event_base *base, int n, struct workers **out)
{
	struct workers *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done_ev = event_new(base, -1, EV_PERSIST, drain_done, w);
	w->threads = calloc((size_t)n, sizeof(pthread_t));
	if (!w->done_ev || !w->threads) {
		workers_free(w);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0) {
			workers_free(w);
			return -EAGAIN;
		}
		w->nthreads++;
	}
	*out = w;
	return 0;
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	if (w->done_ev) {
		drain_done(-1, 0, w);
		event_free(w->done_ev);
	}
	free(w->threads);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

int workers_submit(struct workers *w, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct work_item *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->work = work;
	it->done = done;
	it->arg = arg;
	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		pthread_mutex_unlock(&w->mu);
		free(it);
		return -ESHUTDOWN;
	}
	push(&w->todo_head, &w->todo_tail, it);
	w->pending++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int workers_pending(struct workers *w)
{
	int n;
	pthread_mutex_lock(&w->mu);
	n = w->pending;
	pthread_mutex_unlock(&w->mu);
	return n;
}

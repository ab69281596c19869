/*
 * api_tree.c — GET /api/v1/hosts/{id}/snapshots/{sid}/tree?path=DIR: one
 * directory level of a snapshot, listed by the host's agent (`tree` command,
 * `restic ls --json`, direct children only) and cached here.  Loop thread.
 *
 * Snapshots are immutable, so a listing never goes stale: the cache keeps up
 * to TREE_CACHE_MAX listings (oldest evicted first) keyed by (host, full
 * snapshot id, path) and answers repeated browsing without the agent.
 * A miss queues one `tree` command per key; concurrent requests for the same
 * key wait on the same command.  The agent answers with a `tree.result`
 * event (agent_tree_result(), the strong definition of the hook declared in
 * api_agent.h); a request not answered within TREE_TIMEOUT_S gets 504.
 * The state is private to this module and lives for the process.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "server/agentd.h"
#include "server/api_agent.h"
#include "server/api_jobs.h"
#include "server/api_tree.h"
#include "server/server.h"
#include "server/store_hosts.h"

#define TREE_CACHE_MAX 512
#define TREE_TIMEOUT_S 60
#define TREE_PATH_MAX 4096
#define TREE_WAITERS_MAX 64
#define TREE_PENDING_MAX 256

struct tree_key {
	int64_t host_id;
	char snapshot[65];
	char *path;
};

struct tree_entry {
	struct tree_key key;
	json_t *entries;
	int64_t seq; /* insertion order, for eviction */
};

struct tree_pending {
	struct tree_key key;
	char request_id[STORE_JOB_ID_LEN + 1];
	struct http_ctx *waiters[TREE_WAITERS_MAX];
	size_t nwaiters;
	struct event *timer;
	struct tree_pending *next;
};

static struct {
	struct tree_entry cache[TREE_CACHE_MAX];
	size_t n;
	int64_t seq;
	struct tree_pending *pending;
	size_t npending;
} trees;

static bool key_eq(const struct tree_key *a, int64_t host, const char *snap, const char *path)
{
	return a->host_id == host && strcmp(a->snapshot, snap) == 0 && strcmp(a->path, path) == 0;
}

static json_t *reply_body(const char *snap, const char *path, json_t *entries, bool cached)
{
	return json_pack("{s:s,s:s,s:O,s:b}", "snapshot", snap, "path", path, "entries", entries, "cached", cached);
}

static void cache_put(int64_t host, const char *snap, const char *path, json_t *entries)
{
	struct tree_entry *e;
	size_t victim = 0;

	if (trees.n < TREE_CACHE_MAX) {
		victim = trees.n++;
	} else {
		for (size_t i = 1; i < trees.n; i++)
			if (trees.cache[i].seq < trees.cache[victim].seq)
				victim = i;
		free(trees.cache[victim].key.path);
		json_decref(trees.cache[victim].entries);
	}
	e = &trees.cache[victim];
	memset(e, 0, sizeof(*e));
	e->key.host_id = host;
	util_strlcpy(e->key.snapshot, snap, sizeof(e->key.snapshot));
	e->key.path = strdup(path);
	e->entries = json_incref(entries);
	e->seq = ++trees.seq;
	if (!e->key.path) {
		json_decref(e->entries);
		e->entries = NULL;
		e->key.host_id = 0;
	}
}

static json_t *cache_get(int64_t host, const char *snap, const char *path)
{
	for (size_t i = 0; i < trees.n; i++)
		if (trees.cache[i].entries && key_eq(&trees.cache[i].key, host, snap, path))
			return trees.cache[i].entries;
	return NULL;
}

static void pending_unlink(struct tree_pending *p)
{
	for (struct tree_pending **pp = &trees.pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			trees.npending--;
			break;
		}
	}
	if (p->timer)
		event_free(p->timer);
	free(p->key.path);
	free(p);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tree_pending *p = arg;
	(void)fd;
	(void)what;
	for (size_t i = 0; i < p->nwaiters; i++)
		http_reply_error(p->waiters[i], 504, "agent_timeout",
				 "the agent did not list the snapshot directory within %d seconds", TREE_TIMEOUT_S);
	pending_unlink(p);
}

/* Resolve sid (full or short id) against the host's snapshot list.
 * OUT: full[65].  Return 0, -ENOENT or -errno. */
static int resolve_snapshot(struct server *srv, int64_t host, const char *sid, char full[65])
{
	json_t *arr = NULL, *s;
	size_t i;
	int r = store_snapshots_list(srv->store, host, &arr);

	if (r < 0)
		return r;
	r = -ENOENT;
	json_array_foreach(arr, i, s)
	{
		const char *id = json_string_value(json_object_get(s, "id"));
		const char *sh = json_string_value(json_object_get(s, "short_id"));
		if (id && (strcmp(id, sid) == 0 || (sh && strcmp(sh, sid) == 0))) {
			util_strlcpy(full, id, 65);
			r = 0;
			break;
		}
	}
	json_decref(arr);
	return r;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Absolute, no "." or ".." segments, no control characters; trailing '/' dropped. */
static int clean_path(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in);

	if (n == 0 || n > TREE_PATH_MAX || in[0] != '/' || n >= cap)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] < 0x20)
			return -EINVAL;
	for (const char *p = in; (p = strchr(p, '/')) != NULL; p++) {
		if ((p[1] == '.' && (p[2] == '/' || p[2] == '\0')) ||
		    (p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0')) || (p[1] == '/'))
			return -EINVAL;
	}
	memcpy(out, in, n + 1);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

void api_hosts_snapshot_tree(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_host h;
	const char *sid = c->params[1], *qp = http_query(c, "path");
	char full[65], path[TREE_PATH_MAX + 1];
	int64_t hid;
	json_t *hit, *cmd;
	int r;

	if (http_param_id(c, 0, &hid) < 0)
		return;
	r = store_host_get(srv->store, hid, &h);
	if (r < 0) {
		http_reply_error(c, r == -ENOENT ? 404 : 503, r == -ENOENT ? "not_found" : "unavailable",
				 r == -ENOENT ? "no such host" : "cannot read the host now");
		return;
	}
	store_host_release(&h);
	if (!sid || !is_hex(sid, 8, 64)) {
		http_reply_error(c, 404, "not_found", "no such snapshot");
		return;
	}
	if (clean_path(qp ? qp : "/", path, sizeof(path)) < 0) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
				 "parameter 'path' must be an absolute path without '.' or '..' segments");
		return;
	}
	r = resolve_snapshot(srv, hid, sid, full);
	if (r < 0) {
		http_reply_error(c, r == -ENOENT ? 404 : 503, r == -ENOENT ? "not_found" : "unavailable",
				 r == -ENOENT ? "no such snapshot on this host" : "cannot read the snapshots now");
		return;
	}
	hit = cache_get(hid, full, path);
	if (hit) {
		http_reply_json(c, 200, reply_body(full, path, hit, true));
		return;
	}
	for (struct tree_pending *p = trees.pending; p; p = p->next) {
		if (key_eq(&p->key, hid, full, path)) {
			if (p->nwaiters >= TREE_WAITERS_MAX) {
				http_reply_error(c, 503, "busy", "too many requests for this directory; try again");
				return;
			}
			p->waiters[p->nwaiters++] = c;
			return;
		}
	}
	if (!agentd_is_online(srv, hid)) {
		http_reply_error(c, 503, "host_offline", "the host is offline; its snapshots can be browsed when it is back");
		return;
	}
	if (trees.npending >= TREE_PENDING_MAX) {
		http_reply_error(c, 503, "busy", "too many directory listings in progress; try again");
		return;
	}
	struct tree_pending *p = calloc(1, sizeof(*p));
	if (!p || !(p->key.path = strdup(path))) {
		free(p);
		http_reply_error(c, 503, "out_of_memory", "try again later");
		return;
	}
	p->key.host_id = hid;
	util_strlcpy(p->key.snapshot, full, sizeof(p->key.snapshot));
	jobs_id_new(p->request_id);
	cmd = json_pack("{s:s,s:s,s:s,s:s}", "type", "tree", "request_id", p->request_id, "snapshot", full, "path",
			path);
	r = cmd ? agent_command_send(srv, hid, cmd, NULL) : -ENOMEM;
	json_decref(cmd);
	if (r < 0) {
		free(p->key.path);
		free(p);
		http_reply_error(c, 503, "unavailable", "cannot queue the listing now");
		return;
	}
	p->timer = evtimer_new(srv->base, on_timeout, p);
	struct timeval tv = {TREE_TIMEOUT_S, 0};
	if (p->timer)
		evtimer_add(p->timer, &tv);
	p->waiters[p->nwaiters++] = c;
	p->next = trees.pending;
	trees.pending = p;
	trees.npending++;
}

/* Strong definition of the hook in api_agent.h. */
void agent_tree_result(struct server *srv, int64_t host_id, json_t *event)
{
	const char *rid = json_string_value(json_object_get(event, "request_id"));
	const char *err = json_string_value(json_object_get(event, "error"));
	json_t *entries = json_object_get(event, "entries");
	struct tree_pending *p;

	(void)srv;
	if (!rid)
		return;
	for (p = trees.pending; p; p = p->next)
		if (p->key.host_id == host_id && strcmp(p->request_id, rid) == 0)
			break;
	if (!p)
		return; /* answered after the timeout, or not ours */
	if (err || !json_is_array(entries)) {
		char msg[256];
		util_strlcpy(msg, err ? err : "no entries", sizeof(msg));
		for (size_t i = 0; i < p->nwaiters; i++)
			http_reply_error(p->waiters[i], 502, "tree_failed", "the agent could not list the directory: %s",
					 msg);
	} else {
		cache_put(host_id, p->key.snapshot, p->key.path, entries);
		for (size_t i = 0; i < p->nwaiters; i++)
			http_reply_json(p->waiters[i], 200, reply_body(p->key.snapshot, p->key.path, entries, false));
	}
	pending_unlink(p);
}

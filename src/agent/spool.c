/*
 * spool.c — the event spool (see spool.h for the file format and the cap
 * policy).  No logging here: the caller decides.  Main thread only.
 */
#include "agent/spool.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plat.h"
#include "common/util.h"

static int rewrite(struct spool *sp);

static int push(struct spool *sp, int64_t seq, const char *json, size_t len)
{
	char *copy;

	if (sp->n == sp->alloc) {
		size_t na = sp->alloc ? sp->alloc * 2 : 64;
		struct spool_entry *nv = realloc(sp->v, na * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		sp->v = nv;
		sp->alloc = na;
	}
	copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, json, len);
	copy[len] = '\0';
	sp->v[sp->n].seq = seq;
	sp->v[sp->n].json = copy;
	sp->v[sp->n].len = len;
	sp->n++;
	sp->bytes += len + 1;
	return 0;
}

int spool_open(struct spool *sp, const char *path, size_t cap)
{
	char *buf = NULL, *p;
	size_t len = 0;
	bool dirty = false;
	int r;

	memset(sp, 0, sizeof(*sp));
	sp->cap = cap;
	if (util_strlcpy(sp->path, path, sizeof(sp->path)) < 0)
		return -ENAMETOOLONG;
	/* the file may exceed the cap by the never-dropped events: allow 2x */
	r = util_read_file(path, cap * 2 + 1024 * 1024, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	p = buf;
	while (p < buf + len) {
		char *nl = memchr(p, '\n', (size_t)(buf + len - p));
		json_t *o;
		json_int_t seq;
		if (!nl) {
			dirty = true; /* torn last line: never acknowledged, never complete */
			break;
		}
		*nl = '\0';
		o = json_loads(p, 0, NULL);
		if (o && json_is_object(o) && json_is_integer(json_object_get(o, "seq"))) {
			seq = json_integer_value(json_object_get(o, "seq"));
			if (sp->n > 0 && seq <= sp->v[sp->n - 1].seq)
				dirty = true;
			else if (push(sp, seq, p, strlen(p)) < 0) {
				json_decref(o);
				free(buf);
				spool_release(sp);
				return -ENOMEM;
			}
		} else {
			dirty = true;
		}
		json_decref(o);
		p = nl + 1;
	}
	free(buf);
	/* never append after a torn or foreign line: rewrite the good ones */
	return dirty ? rewrite(sp) : 0;
}

void spool_release(struct spool *sp)
{
	for (size_t i = 0; i < sp->n; i++)
		free(sp->v[i].json);
	free(sp->v);
	sp->v = NULL;
	sp->n = sp->alloc = 0;
	sp->bytes = 0;
}

int spool_append(struct spool *sp, int64_t seq, const char *json, size_t len, int importance)
{
	char *line;
	int r;

	/* progress is refused from 90% of the cap, logs from the cap; results
	 * (importance 2) are always kept */
	if (importance < 2 && sp->bytes + len + 1 > (importance == 0 ? sp->cap / 10 * 9 : sp->cap))
		return -ENOSPC;
	if (sp->bytes + len + 1 <= sp->cap / 10 * 9)
		sp->cap_logged = false;
	line = malloc(len + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, json, len);
	line[len] = '\n';
	r = plat_append_sync(sp->path, line, len + 1);
	free(line);
	if (r < 0)
		return r;
	return push(sp, seq, json, len);
}

/* Write the in-memory events to the file atomically. */
static int rewrite(struct spool *sp)
{
	size_t total = 0;
	char *buf, *p;
	int r;

	for (size_t i = 0; i < sp->n; i++)
		total += sp->v[i].len + 1;
	buf = malloc(total + 1);
	if (!buf)
		return -ENOMEM;
	p = buf;
	for (size_t i = 0; i < sp->n; i++) {
		memcpy(p, sp->v[i].json, sp->v[i].len);
		p += sp->v[i].len;
		*p++ = '\n';
	}
	r = util_write_file_atomic(sp->path, buf, total, 0600);
	free(buf);
	return r;
}

int spool_ack(struct spool *sp, int64_t acked)
{
	size_t k = 0;

	while (k < sp->n && sp->v[k].seq <= acked)
		k++;
	if (k == 0)
		return 0;
	for (size_t i = 0; i < k; i++) {
		sp->bytes -= sp->v[i].len + 1;
		free(sp->v[i].json);
	}
	memmove(sp->v, sp->v + k, (sp->n - k) * sizeof(*sp->v));
	sp->n -= k;
	return rewrite(sp);
}

int64_t spool_max_seq(const struct spool *sp) { return sp->n ? sp->v[sp->n - 1].seq : 0; }

int spool_batch(const struct spool *sp, size_t max_events, size_t max_bytes, char **body, size_t *len,
		int64_t *last_seq)
{
	size_t n = 0, total = 12;
	char *buf, *p;

	while (n < sp->n && n < max_events) {
		if (n > 0 && total + sp->v[n].len + 1 > max_bytes)
			break;
		total += sp->v[n].len + 1;
		n++;
	}
	if (n == 0)
		return 0;
	buf = malloc(total + 4);
	if (!buf)
		return -ENOMEM;
	p = buf;
	memcpy(p, "{\"events\":[", 11);
	p += 11;
	for (size_t i = 0; i < n; i++) {
		if (i)
			*p++ = ',';
		memcpy(p, sp->v[i].json, sp->v[i].len);
		p += sp->v[i].len;
	}
	*p++ = ']';
	*p++ = '}';
	*p = '\0';
	*body = buf;
	*len = (size_t)(p - buf);
	*last_seq = sp->v[n - 1].seq;
	return (int)n;
}

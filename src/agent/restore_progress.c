/*
 * restore_progress.c — totals and samples for restore progress (see
 * restore_progress.h for what is measured and why).  Pure bookkeeping plus
 * the bounded walk (plat_tree_count); no logging.  Main thread only.
 */
#include "agent/restore_progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/plat.h"

int restore_progress_init(struct restore_progress *rp, const char *target, json_t *paths)
{
	size_t i;
	json_t *v;

	memset(rp, 0, sizeof(*rp));
	rp->target = strdup(target ? target : "");
	rp->paths = json_array();
	rp->roots = json_array();
	if (!rp->target || !rp->paths || !rp->roots) {
		restore_progress_release(rp);
		return -ENOMEM;
	}
	json_array_foreach (paths, i, v)
		if (json_is_string(v) && json_string_length(v) > 0)
			json_array_append(rp->paths, v);
	return 0;
}

void restore_progress_release(struct restore_progress *rp)
{
	free(rp->target);
	json_decref(rp->paths);
	json_decref(rp->roots);
	memset(rp, 0, sizeof(*rp));
}

/* path is p or below it (p taken literally; trailing slashes ignored). */
static bool path_at_or_below(const char *path, const char *p)
{
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		n--;
	if (n == 1 && p[0] == '/')
		return path[0] == '/';
	return strncmp(path, p, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool selected(const struct restore_progress *rp, const char *path)
{
	size_t i;
	json_t *v;

	if (json_array_size(rp->paths) == 0)
		return true;
	json_array_foreach (rp->paths, i, v)
		if (path_at_or_below(path, json_string_value(v)))
			return true;
	return false;
}

void restore_progress_feed(struct restore_progress *rp, json_t *obj)
{
	const char *st = json_string_value(json_object_get(obj, "struct_type"));
	const char *path = json_string_value(json_object_get(obj, "path"));
	const char *type = json_string_value(json_object_get(obj, "type"));
	json_t *size = json_object_get(obj, "size");

	if (!st)
		return;
	if (strcmp(st, "snapshot") == 0) {
		json_t *ps = json_object_get(obj, "paths"), *v;
		size_t i;
		rp->listed = true;
		json_array_foreach (ps, i, v)
			if (json_is_string(v) && json_array_size(rp->roots) < RESTORE_MAX_ROOTS)
				json_array_append(rp->roots, v);
		return;
	}
	if (strcmp(st, "node") != 0 || !path || !type || strcmp(type, "file") != 0 || !selected(rp, path))
		return;
	rp->total_files++;
	if (json_is_integer(size) && json_integer_value(size) > 0 &&
	    rp->total_bytes <= INT64_MAX - json_integer_value(size))
		rp->total_bytes += json_integer_value(size);
}

/* restic 0.14 `ls` of an unknown snapshot exits 0 having listed nothing:
 * the snapshot line must have been seen.  Selected paths that match no file
 * (a glob pattern, a path the snapshot lacks) give no totals either, rather
 * than totals of 0 that would hold the samples at 0. */
void restore_progress_sized(struct restore_progress *rp, bool ok)
{
	rp->sized = ok && rp->listed && !(json_array_size(rp->paths) > 0 && rp->total_files == 0);
}

void restore_progress_begin(struct restore_progress *rp, int64_t now_ms, int64_t now_wall)
{
	rp->began = true;
	rp->begin_ms = now_ms;
	rp->begin_wall = now_wall;
	rp->next_ms = now_ms + RESTORE_SAMPLE_MS;
}

int64_t restore_progress_due_in(const struct restore_progress *rp, int64_t now_ms)
{
	if (!rp->began)
		return -1;
	return rp->next_ms > now_ms ? rp->next_ms - now_ms : 0;
}

/* Count what the restore has written under target/<root>. */
static void walk(const struct restore_progress *rp, struct plat_tree_count *tc)
{
	json_t *list = json_array_size(rp->paths) ? rp->paths : rp->roots, *v;
	char dir[PLAT_PATH_MAX];
	size_t i;

	json_array_foreach (list, i, v) {
		const char *p = json_string_value(v);
		if (i >= RESTORE_MAX_ROOTS || tc->truncated)
			break;
		while (*p == '/')
			p++;
		if (plat_path_join(dir, sizeof(dir), rp->target, p) == 0)
			(void)plat_tree_count(dir, rp->begin_wall, RESTORE_WALK_MAX_ENTRIES, tc);
	}
}

void restore_progress_sample(struct restore_progress *rp, int64_t now_ms, int64_t written,
			     struct restic_progress *out)
{
	struct plat_tree_count tc;
	int64_t files, bytes, cost, elapsed;
	double frac = 0;

	memset(&tc, 0, sizeof(tc));
	walk(rp, &tc);
	files = tc.files;
	bytes = written >= 0 ? written : tc.bytes;
	if (rp->sized) {
		files = files > rp->total_files ? rp->total_files : files;
		bytes = bytes > rp->total_bytes ? rp->total_bytes : bytes;
	}
	if (files > rp->files_done)
		rp->files_done = files;
	if (bytes > rp->bytes_done)
		rp->bytes_done = bytes;

	if (rp->sized && rp->total_bytes > 0)
		frac = (double)rp->bytes_done / (double)rp->total_bytes;
	else if (rp->sized && rp->total_files > 0)
		frac = (double)rp->files_done / (double)rp->total_files;
	memset(out, 0, sizeof(*out));
	out->percent = frac * 100.0;
	out->files_done = rp->files_done;
	out->bytes_done = rp->bytes_done;
	out->total_files = rp->sized ? rp->total_files : 0;
	out->total_bytes = rp->sized ? rp->total_bytes : 0;
	out->seconds_remaining = -1;
	elapsed = now_ms - rp->begin_ms;
	if (frac >= 1.0)
		out->seconds_remaining = 0;
	else if (frac > 0 && elapsed > 0)
		out->seconds_remaining = (int64_t)((double)elapsed * (1.0 - frac) / frac / 1000.0 + 0.5);
	out->current_files = NULL;

	/* a slow walk (huge tree, slow disk) must not eat the restore's time */
	cost = plat_mono_ms() - now_ms;
	cost = cost > 0 ? cost * RESTORE_WALK_COST_FACTOR : 0;
	rp->next_ms = now_ms + (cost > RESTORE_SAMPLE_MS ? cost : RESTORE_SAMPLE_MS);
}

json_t *restore_progress_summary(const struct restore_progress *rp)
{
	if (!rp->sized)
		return NULL;
	return json_pack("{s:I, s:I}", "total_files", (json_int_t)rp->total_files, "total_bytes",
			 (json_int_t)rp->total_bytes);
}

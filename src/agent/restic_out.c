/*
 * restic_out.c — restic 0.14 JSON line parser (see restic_out.h and
 * /work/shared notes: status/summary on stdout, errors on stderr).
 * Pure (error numbers are named through plat.h); any thread.
 */
#include "agent/restic_out.h"

#include "agent/plat.h"

#include <stdio.h>
#include <string.h>

static int64_t get_i64(json_t *o, const char *k, int64_t dflt)
{
	json_t *v = json_object_get(o, k);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_real(v))
		return (int64_t)json_real_value(v);
	return dflt;
}

int restic_line_parse(const char *line, size_t len, struct restic_line *out)
{
	json_t *o, *mt;
	const char *t;

	memset(out, 0, sizeof(*out));
	out->kind = RESTIC_LINE_TEXT;
	if (len == 0 || (line[0] != '{' && line[0] != '['))
		return 0;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!o)
		return 0;
	mt = json_is_object(o) ? json_object_get(o, "message_type") : NULL;
	t = json_is_string(mt) ? json_string_value(mt) : "";
	if (strcmp(t, "status") == 0) {
		struct restic_progress *p = &out->progress;
		json_t *pd = json_object_get(o, "percent_done"), *cf = json_object_get(o, "current_files");
		out->kind = RESTIC_LINE_STATUS;
		p->percent = json_is_number(pd) ? json_number_value(pd) * 100.0 : 0.0;
		if (p->percent < 0)
			p->percent = 0;
		if (p->percent > 100)
			p->percent = 100;
		p->files_done = get_i64(o, "files_done", 0);
		p->total_files = get_i64(o, "total_files", 0);
		p->bytes_done = get_i64(o, "bytes_done", 0);
		p->total_bytes = get_i64(o, "total_bytes", 0);
		p->seconds_remaining = get_i64(o, "seconds_remaining", -1);
		if (json_is_array(cf))
			p->current_files = json_incref(cf);
		json_decref(o);
		return 0;
	}
	if (strcmp(t, "summary") == 0) {
		out->kind = RESTIC_LINE_SUMMARY;
		out->json = o;
		return 0;
	}
	if (strcmp(t, "error") == 0) {
		json_t *err = json_object_get(o, "error"), *during = json_object_get(o, "during"),
		       *item = json_object_get(o, "item"), *msg = NULL;
		if (json_is_string(err))
			msg = err;
		else if (json_is_object(err)) {
			msg = json_object_get(err, "message");
			if (!json_is_string(msg))
				msg = json_object_get(err, "Err");
		}
		json_t *op = json_object_get(err, "Op"), *eno = json_object_get(err, "Err");
		char reason[256] = "";
		out->kind = RESTIC_LINE_ERROR;
		if (json_is_string(msg))
			snprintf(reason, sizeof(reason), ": %s", json_string_value(msg));
		else if (json_is_integer(eno) && json_integer_value(eno) > 0 && json_integer_value(eno) < 4096)
			/* a Go syscall.Errno: the OS's own error number */
			snprintf(reason, sizeof(reason), ": %s%s%s", json_is_string(op) ? json_string_value(op) : "",
				 json_is_string(op) ? ": " : "", plat_os_error_text(json_integer_value(eno)));
		snprintf(out->text, sizeof(out->text), "error%s%s%s%s%s", json_is_string(during) ? " during " : "",
			 json_is_string(during) ? json_string_value(during) : "", json_is_string(item) ? ": " : "",
			 json_is_string(item) ? json_string_value(item) : "", reason);
		json_decref(o);
		return 0;
	}
	out->kind = RESTIC_LINE_JSON;
	out->json = o;
	return 0;
}

void restic_line_release(struct restic_line *l)
{
	json_decref(l->json);
	json_decref(l->progress.current_files);
	l->json = NULL;
	l->progress.current_files = NULL;
}

/*
 * restic_out.h — classify and parse one line of restic 0.14 output
 * (`--json` mode): status lines become progress, the summary is kept,
 * per-file errors (JSON on stderr) become readable text, anything else is
 * plain text.  Pure functions; no logging.
 */
#ifndef RM_AGENT_RESTIC_OUT_H
#define RM_AGENT_RESTIC_OUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum restic_line_kind {
	RESTIC_LINE_TEXT = 0, /* not JSON: log as is */
	RESTIC_LINE_STATUS,   /* message_type status: progress */
	RESTIC_LINE_SUMMARY,  /* message_type summary: json holds it */
	RESTIC_LINE_ERROR,    /* message_type error: text holds a readable line */
	RESTIC_LINE_JSON,     /* other JSON (documents, verbose_status, …): json holds it */
};

struct restic_progress {
	double percent; /* 0…100 */
	int64_t files_done, total_files, bytes_done, total_bytes;
	int64_t seconds_remaining; /* -1 when restic did not say */
	json_t *current_files;     /* array or NULL (owned) */
};

struct restic_line {
	enum restic_line_kind kind;
	struct restic_progress progress;
	json_t *json;    /* owned; summary or other JSON */
	char text[1024]; /* for RESTIC_LINE_ERROR */
};

/* Parse line[0..len) (no newline).  OUT: *out (release with
 * restic_line_release).  Return 0 (never fails: unknown input is TEXT). */
int restic_line_parse(const char *line, size_t len, struct restic_line *out);
void restic_line_release(struct restic_line *l);

#endif

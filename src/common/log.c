/*
 * log.c — process-wide logger.  Configured once at start (and again on
 * SIGHUP); after that only read, so threads may log concurrently.  A record
 * is built in a stack buffer (capped at LOG_LINE_MAX, truncated with "…")
 * and written with a single write(2), so lines from threads never interleave.
 * Callers are responsible for never passing secrets (see STYLE.md).
 */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096

static enum log_level log_min = LOG_LEVEL_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static const char *log_program = "restic-manager";

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

int log_parse_format(const char *s, enum log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = LOG_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = LOG_FORMAT_JSON;
	else
		return -EINVAL;
	return 0;
}

void log_init(enum log_level level, enum log_format format, const char *program)
{
	log_min = level;
	log_fmt = format;
	if (program)
		log_program = program;
}

bool log_is_enabled(enum log_level level) { return level >= log_min; }

/* Append s to buf as JSON string content (without quotes). */
static size_t json_escape(char *buf, size_t cap, size_t n, const char *s)
{
	for (; *s && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c == '\n') {
			buf[n++] = '\\';
			buf[n++] = 'n';
		} else if (c < 0x20) {
			n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
		} else {
			buf[n++] = (char)c;
		}
	}
	return n;
}

static void log_emit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 256];
	char ts[96];
	struct timespec now;
	struct tm tm;
	size_t n;
	int r;

	if (level < log_min)
		return;
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (r < 0)
		return;
	if ((size_t)r >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	if (errnum) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(errnum));
	}
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);

	if (log_fmt == LOG_FORMAT_JSON) {
		n = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"prog\":\"%s\",\"msg\":\"",
				     ts, level_names[level], log_program);
		n = json_escape(line, sizeof(line), n, msg);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"}\n");
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%s %-5s %s\n", ts, level_names[level], msg);
	}
	if (n > sizeof(line))
		n = sizeof(line);
	/* A failed log write has nowhere to be reported. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}

#define LOG_FN(name, lvl, with_errno)                                                              \
	void name(const char *fmt, ...)                                                            \
	{                                                                                          \
		int saved = errno;                                                                 \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_emit(lvl, with_errno ? saved : 0, fmt, ap);                                    \
		va_end(ap);                                                                        \
		errno = saved;                                                                     \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_error, LOG_LEVEL_ERROR, 0)

/*
 * log.h — the tiny logging API shared by server and agent (OpenBSD style).
 *
 * log_warn() appends strerror(errno); log_warnx() does not.  Messages are
 * lowercase, the failed action first, the object quoted.  Output goes to
 * stderr as text ("2026-11-25T21:00:00Z level msg") or JSON lines.
 * Thread-safe: each record is formatted into a local buffer and written with
 * one write(2) call.
 */
#ifndef RM_LOG_H
#define RM_LOG_H

#include <stdbool.h>

/* MinGW's printf attribute means msvcrt's dialect; the agent is built with
 * MinGW's C99 stdio (__USE_MINGW_ANSI_STDIO), whose dialect is gnu_printf. */
#ifdef __MINGW32__
#define LOG_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#else
#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#endif

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

/* Parse "debug|info|warn|error" / "text|json".  Return 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);
int log_parse_format(const char *s, enum log_format *out);

/* Configure the process-wide logger; safe to call again (e.g. on SIGHUP). */
void log_init(enum log_level level, enum log_format format, const char *program);

bool log_is_enabled(enum log_level level);

void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);

#endif

/*
 * util.h — small checked helpers shared by server and agent: number parsing
 * with range checks (instead of atoi/strtol), bounded string copy, whole-file
 * read with a size cap, atomic file write.  The file helpers (read, atomic
 * write, mkdir -p, remove) are implemented per platform in
 * plat_fs_posix.c / plat_fs_win32.c; paths are UTF-8 on every platform.
 */
#ifndef RM_UTIL_H
#define RM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Parse a whole decimal string into [min,max]. Return 0 or -EINVAL/-ERANGE. */
int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Copy src into dst (cap bytes incl. NUL). Return 0, or -ENAMETOOLONG if truncated. */
int util_strlcpy(char *dst, const char *src, size_t cap);

/* Read a whole file of at most max bytes. OUT: *buf (malloc'd, NUL-terminated), *len.
 * Return 0, -EFBIG if larger than max, or -errno. */
int util_read_file(const char *path, size_t max, char **buf, size_t *len);

/* Write data to path atomically (temp file in the same directory, flush to
 * stable storage, rename over the old file) with the given POSIX mode (on
 * Windows the file inherits its directory's ACL instead). Return 0 or -errno. */
int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

/* Create a directory (and parents) with mode if missing (mode ignored on
 * Windows: ACLs are inherited). Return 0 or -errno. */
int util_mkdir_p(const char *path, unsigned mode);

/* Remove a file; a missing file is success. Return 0 or -errno. */
int util_remove_file(const char *path);

/* Current wall clock time in milliseconds / seconds since the epoch. */
int64_t util_now_ms(void);
int64_t util_now(void);

/* Format t (seconds since the epoch, UTC) as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ" into buf[32]. */
void util_time_rfc3339(int64_t t, char buf[32]);

#endif

/*
 * plat_fs_win32.c — the Windows side of util.h's file helpers, plus the
 * UTF-8/UTF-16 and error-code conversions of plat_win32.h.
 *
 * Paths arrive as UTF-8 and are widened here, so non-ASCII paths work
 * whatever the ANSI code page is.  The atomic write is a temp file in the
 * same directory, FlushFileBuffers, then MoveFileExW(REPLACE_EXISTING |
 * WRITE_THROUGH): the Windows counterpart of fsync + rename.  POSIX modes
 * are ignored: files inherit the protected DACL of the agent's directories
 * (set by `service install` / enroll, see plat_win32_service.c).  Handles
 * are not inheritable (children get only the handles listed at spawn).
 * Any thread (no shared state).
 */
#include "common/plat_win32.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

wchar_t *plat_win32_widen(const char *s)
{
	int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
	wchar_t *w;

	if (n <= 0)
		return NULL;
	w = malloc((size_t)n * sizeof(*w));
	if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
		free(w);
		w = NULL;
	}
	return w;
}

char *plat_win32_narrow(const wchar_t *w)
{
	int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	char *s;

	if (n <= 0)
		return NULL;
	s = malloc((size_t)n);
	if (s && WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL) != n) {
		free(s);
		s = NULL;
	}
	return s;
}

int plat_win32_errno(DWORD err)
{
	switch (err) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
	case ERROR_INVALID_DRIVE:
	case ERROR_BAD_NETPATH:
	case ERROR_BAD_PATHNAME:
	case ERROR_MOD_NOT_FOUND:
	case ERROR_SERVICE_DOES_NOT_EXIST:
		return ENOENT;
	case ERROR_ACCESS_DENIED:
	case ERROR_PRIVILEGE_NOT_HELD:
		return EACCES;
	case ERROR_SHARING_VIOLATION:
	case ERROR_LOCK_VIOLATION:
	case ERROR_SERVICE_ALREADY_RUNNING:
		return EBUSY;
	case ERROR_ALREADY_EXISTS:
	case ERROR_FILE_EXISTS:
	case ERROR_SERVICE_EXISTS:
		return EEXIST;
	case ERROR_NOT_ENOUGH_MEMORY:
	case ERROR_OUTOFMEMORY:
		return ENOMEM;
	case ERROR_DISK_FULL:
	case ERROR_HANDLE_DISK_FULL:
		return ENOSPC;
	case ERROR_FILENAME_EXCED_RANGE:
		return ENAMETOOLONG;
	case ERROR_INVALID_PARAMETER:
	case ERROR_INVALID_NAME:
	case ERROR_NO_UNICODE_TRANSLATION:
		return EINVAL;
	case ERROR_BROKEN_PIPE:
	case ERROR_NO_DATA:
		return EPIPE;
	case ERROR_DIRECTORY:
		return ENOTDIR;
	case ERROR_WRITE_PROTECT:
		return EROFS;
	case ERROR_NOT_SUPPORTED:
	case ERROR_CALL_NOT_IMPLEMENTED:
		return ENOSYS;
	case ERROR_SERVICE_NOT_ACTIVE:
		return ESRCH;
	case ERROR_TIMEOUT:
	case WAIT_TIMEOUT:
		return ETIMEDOUT;
	default:
		return EIO;
	}
}

static int last_errno(void) { return -plat_win32_errno(GetLastError()); }

int util_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	wchar_t *w = plat_win32_widen(path);
	LARGE_INTEGER size;
	HANDLE h;
	char *p = NULL;
	size_t n = 0;
	int r = 0;

	if (!w)
		return -EINVAL;
	h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
			FILE_ATTRIBUTE_NORMAL, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return last_errno();
	if (!GetFileSizeEx(h, &size)) {
		r = last_errno();
		goto out;
	}
	if (size.QuadPart < 0 || (unsigned long long)size.QuadPart > max) {
		r = -EFBIG;
		goto out;
	}
	p = malloc((size_t)size.QuadPart + 1);
	if (!p) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		DWORD k = 0, want = (DWORD)((size_t)size.QuadPart + 1 - n);
		if (!ReadFile(h, p + n, want, &k, NULL)) {
			r = last_errno();
			goto out;
		}
		if (k == 0)
			break;
		n += k;
		if (n > (size_t)size.QuadPart) { /* grew while reading */
			r = -EFBIG;
			goto out;
		}
	}
	p[n] = '\0';
	*buf = p;
	*len = n;
	p = NULL;
out:
	free(p);
	CloseHandle(h);
	return r;
}

int util_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[PLAT_FS_PATH_MAX];
	wchar_t *wtmp = NULL, *wpath = NULL;
	const char *c = data;
	HANDLE h = INVALID_HANDLE_VALUE;
	int r = 0;

	(void)mode;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%lu", path, (unsigned long)GetCurrentProcessId()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	wtmp = plat_win32_widen(tmp);
	wpath = plat_win32_widen(path);
	if (!wtmp || !wpath) {
		r = -EINVAL;
		goto out;
	}
	h = CreateFileW(wtmp, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		r = last_errno();
		goto out;
	}
	while (len > 0) {
		DWORD k = 0, want = len > 0x40000000u ? 0x40000000u : (DWORD)len;
		if (!WriteFile(h, c, want, &k, NULL)) {
			r = last_errno();
			goto fail;
		}
		c += k;
		len -= k;
	}
	if (!FlushFileBuffers(h)) {
		r = last_errno();
		goto fail;
	}
	CloseHandle(h);
	h = INVALID_HANDLE_VALUE;
	if (!MoveFileExW(wtmp, wpath, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
		r = last_errno();
		goto fail;
	}
	goto out;
fail:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	h = INVALID_HANDLE_VALUE;
	DeleteFileW(wtmp);
out:
	if (h != INVALID_HANDLE_VALUE)
		CloseHandle(h);
	free(wtmp);
	free(wpath);
	return r;
}

static bool is_sep(char ch) { return ch == '\\' || ch == '/'; }

/* Index of the first component that may be created: after "X:\", after
 * "\\server\share\" (UNC) or "\\?\X:\", after a leading separator. */
static size_t root_len(const char *p)
{
	size_t i = 0;

	if (is_sep(p[0]) && is_sep(p[1])) {
		int skip = 2; /* past "?\" + "X:\", or "server\" + "share\" */
		i = 2;
		while (skip > 0 && p[i]) {
			if (is_sep(p[i]))
				skip--;
			i++;
		}
		return i;
	}
	if (p[0] && p[1] == ':')
		i = 2;
	while (is_sep(p[i]))
		i++;
	return i;
}

int util_mkdir_p(const char *path, unsigned mode)
{
	char buf[PLAT_FS_PATH_MAX];
	size_t n, start;

	(void)mode;
	if (util_strlcpy(buf, path, sizeof(buf)) < 0)
		return -ENAMETOOLONG;
	n = strlen(buf);
	start = root_len(buf);
	for (size_t i = start; i <= n; i++) {
		if ((buf[i] == '\0' || is_sep(buf[i])) && i > start && !is_sep(buf[i - 1])) {
			char saved = buf[i];
			wchar_t *w;
			buf[i] = '\0';
			w = plat_win32_widen(buf);
			if (!w)
				return -EINVAL;
			if (!CreateDirectoryW(w, NULL)) {
				DWORD e = GetLastError();
				DWORD attr = GetFileAttributesW(w);
				if (e != ERROR_ALREADY_EXISTS &&
				    !(e == ERROR_ACCESS_DENIED && attr != INVALID_FILE_ATTRIBUTES)) {
					free(w);
					return -plat_win32_errno(e);
				}
				if (attr == INVALID_FILE_ATTRIBUTES || !(attr & FILE_ATTRIBUTE_DIRECTORY)) {
					free(w);
					return -ENOTDIR;
				}
			}
			free(w);
			buf[i] = saved;
		}
	}
	return 0;
}

int util_remove_file(const char *path)
{
	wchar_t *w = plat_win32_widen(path);
	int r = 0;

	if (!w)
		return -EINVAL;
	if (!DeleteFileW(w)) {
		DWORD e = GetLastError();
		if (e != ERROR_FILE_NOT_FOUND && e != ERROR_PATH_NOT_FOUND)
			r = -plat_win32_errno(e);
	}
	free(w);
	return r;
}

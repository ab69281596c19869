/*
 * plat_win32.h — helpers shared by the Windows platform files
 * (src/common/plat_fs_win32.c, src/agent/plat_win32*.c); included by
 * nothing else.  Inside the program every string is UTF-8; these convert at
 * the Win32 boundary and translate Win32 error codes into the -errno values
 * the rest of the code returns.  Any thread.
 */
#ifndef RM_PLAT_WIN32_H
#define RM_PLAT_WIN32_H

#include <windows.h>

/* Longest UTF-8 path the platform files handle (as PLAT_PATH_MAX). */
#define PLAT_FS_PATH_MAX 4096

/* UTF-8 → UTF-16 (malloc'd, free()), NULL on bad UTF-8 or OOM. */
wchar_t *plat_win32_widen(const char *s);

/* UTF-16 → UTF-8 (malloc'd, free()), NULL on OOM. */
char *plat_win32_narrow(const wchar_t *w);

/* A Win32 error code as a positive errno value (EIO when unknown). */
int plat_win32_errno(DWORD err);

#endif

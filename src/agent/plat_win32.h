/*
 * plat_win32.h — what the Windows platform files (plat_win32.c,
 * plat_win32_service.c, plat_win32_tz.c) share with each other; nothing
 * else includes it.
 */
#ifndef RM_AGENT_PLAT_WIN32_H
#define RM_AGENT_PLAT_WIN32_H

/* Request a stop as the console handler does (sets the flag, wakes the
 * loop).  Any thread (the SCM control handler calls it). */
void plat_win32_request_stop(void);

/* Give dir (created if missing) a protected DACL: full control for SYSTEM
 * and Administrators, nothing inherited, nobody else.  Return 0 or -errno. */
int plat_win32_dir_protect(const char *dir);

/* The command line for argv by the MSVCRT quoting rules (the shell form
 * "cmd.exe" "/C" command verbatim, see plat_win32.c).  Returns a malloc'd
 * UTF-8 string or NULL on OOM. */
char *plat_win32_cmdline(const char *const *argv);

#endif

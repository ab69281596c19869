/*
 * plat.h — the agent's platform boundary.  Everything that differs between
 * POSIX and Windows lives behind these functions: spawning a child with
 * pipes in its own process group, signalling and reaping it, the stop
 * signal, locking the state directory, default paths, host facts and random
 * bytes, the service manager.  plat_posix.c implements it for Linux (and
 * other POSIX systems); plat_win32.c, plat_win32_service.c and
 * plat_win32_tz.c for Windows.  Logic files never use #ifdef _WIN32.
 *
 * Pollable descriptors: plat_child_fd() and plat_wake_fd() return ints that
 * the main loop hands to curl_multi_poll() as extra descriptors.  On POSIX
 * they are pipe ends; on Windows they are sockets (a reader thread pumps
 * each pipe into a loopback socket, see plat_win32.c).
 *
 * All functions run on the agent's single main thread unless noted.
 */
#ifndef RM_AGENT_PLAT_H
#define RM_AGENT_PLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLAT_PATH_MAX 4096

struct plat_child;

enum plat_stream { PLAT_STDOUT = 0, PLAT_STDERR = 1 };

/* Spawn file with argv (argv[0] is the program name shown; argv is
 * NULL-terminated) and exactly the environment envp (NULL-terminated
 * "K=V" strings).  file is a path or a bare name searched in PATH.  stdin is
 * the null device; stdout and stderr are non-blocking pipes read with
 * plat_child_read().  The child runs in a new process group and is asked to
 * stop (as by plat_child_signal(force=false)) if the agent dies.  OUT: *out (free with plat_child_free).  Return 0 or
 * -errno (-ENOENT when the program is not found). */
int plat_child_spawn(const char *file, const char *const *argv, const char *const *envp,
		     struct plat_child **out);

/* The pollable descriptor of a stream, or -1 once it reached EOF. */
int plat_child_fd(const struct plat_child *c, enum plat_stream s);

/* Read what is available from a stream.  Return bytes read (> 0), 0 at EOF
 * (the stream is then closed), -EAGAIN when nothing is available, or -errno. */
long plat_child_read(struct plat_child *c, enum plat_stream s, char *buf, size_t cap);

/* Ask the child's whole process group to stop (force=false), or kill it
 * (force=true).  POSIX: SIGINT, then SIGKILL.  SIGINT rather than SIGTERM
 * because restic 0.14 removes its repository lock on SIGINT only (checked:
 * SIGTERM leaves a stale lock).  Return 0 or -errno. */
int plat_child_signal(struct plat_child *c, bool force);

/* Reap the child if it has exited.  OUT: *exit_code (128+signal when killed
 * by a signal).  Return 0 when reaped, -EAGAIN when still running. */
int plat_child_reap(struct plat_child *c, int *exit_code);

/* The child's process id (for the state file). */
int64_t plat_child_pid(const struct plat_child *c);

/* True if a process with this id exists (a restic left behind by a
 * previous agent that is still shutting down). */
bool plat_pid_alive(int64_t pid);

/* Release the handle (does not kill a running child; callers reap first). */
void plat_child_free(struct plat_child *c);

/* Install handlers: SIGTERM/SIGINT request a stop, SIGPIPE is ignored.
 * Return 0 or -errno. */
int plat_signals_init(void);
/* True once a stop was requested. */
bool plat_stop_requested(void);
/* A descriptor that becomes readable when a stop is requested; drain it
 * with plat_wake_drain(). */
int plat_wake_fd(void);
void plat_wake_drain(void);

/* Take an exclusive lock on dir/agent.lock so two agents never share one
 * state directory.  Held until exit.  Return 0, -EBUSY if held, or -errno. */
int plat_lock_dir(const char *dir);

/* Default configuration and state directories. */
const char *plat_default_config_dir(void);
const char *plat_default_state_dir(void);

/* Join dir and name with the platform separator into out[cap].
 * Return 0 or -ENAMETOOLONG. */
int plat_path_join(char *out, size_t cap, const char *dir, const char *name);

/* True if path is absolute on this platform. */
bool plat_path_is_absolute(const char *path);

/* Host facts for enrol/hello: "linux"/"windows", "amd64"/"arm64", hostname. */
const char *plat_os(void);
const char *plat_arch(void);
int plat_hostname(char *out, size_t cap);

/* Fill buf with n cryptographically random bytes.  Return 0 or -errno. */
int plat_random_bytes(void *buf, size_t n);

/* Text of an OS error number as restic (Go) reports it in its JSON
 * ("Err": 13): errno on POSIX, a Windows error code on Windows. */
const char *plat_os_error_text(int64_t code);

/* Wipe n bytes in a way the compiler keeps. */
void plat_memzero(void *p, size_t n);

/* Monotonic clock in milliseconds (for timers; never goes backwards). */
int64_t plat_mono_ms(void);

/* The process environment as a NULL-terminated array (borrowed). */
const char *const *plat_environ(void);

/* The host's IANA time zone name ("Europe/Berlin") from TZ, /etc/timezone
 * or the /etc/localtime link (Windows: the zone key mapped to IANA).
 * OUT: out[cap].  Return 0 or -ENOENT. */
int plat_timezone_name(char *out, size_t cap);

/* The system zone as a POSIX TZ rule ("STD-1DST-2,M3.5.0/2:00,M10.5.0/3:00")
 * for hosts without a zoneinfo database (Windows).  POSIX: -ENOENT (the
 * zoneinfo files are used).  OUT: out[cap].  Return 0 or -errno. */
int plat_timezone_rule(char *out, size_t cap);

/* Restrict a directory the agent keeps secrets in (config, state).  POSIX:
 * nothing beyond mkdir's 0700; Windows: a protected DACL for SYSTEM and
 * Administrators only.  Return 0 or -errno. */
int plat_dir_restrict(const char *dir);

/* The service manager (Windows SCM).  verb is "install", "uninstall",
 * "start" or "stop".  install registers the service (automatic start,
 * restart on failure) with run_args (NULL-terminated, borrowed: the
 * options the service's `service run` gets, e.g. --config-dir) and
 * restricts the directories named by --config-dir/--state-dir in run_args.
 * OUT: msg[cap], one line saying what was done (or why not).  Return 0 or
 * -errno; POSIX: -ENOSYS (systemd runs the agent there). */
int plat_service_control(const char *verb, const char *const *run_args, char *msg, size_t cap);

/* Run as the service the SCM started: connect to the SCM, log to log_path
 * (a service has no stderr), and call run(arg) as the service's main
 * (a stop request from the SCM is a stop, as plat_stop_requested() says).
 * Return run's result, or -errno if not started by the SCM (POSIX:
 * -ENOSYS). */
int plat_service_run(const char *log_path, int (*run)(const void *arg), const void *arg);

/* The argument vector that runs command through the system shell
 * ("/bin/sh -c command"); out[3] = NULL.  command is borrowed. */
void plat_shell_argv(const char *command, const char *out[4]);

/* Append data to path (created with mode 0600 if missing) and flush it to
 * stable storage before returning.  Return 0 or -errno. */
int plat_append_sync(const char *path, const void *data, size_t len);

/* Bytes the running child has written so far with write calls (to files
 * and pipes alike): Linux /proc/PID/io "wchar", counted by the kernel for
 * the whole process (an exec'ing wrapper keeps the count).  OUT: *bytes.
 * Return 0, -ENOTSUP where the platform cannot tell, or -errno. */
int plat_child_written_bytes(const struct plat_child *c, int64_t *bytes);

struct plat_tree_count {
	int64_t files;   /* regular files whose status changed at or after `since` */
	int64_t bytes;   /* their sizes */
	size_t entries;  /* directory entries looked at */
	bool truncated;  /* the entry budget ran out: files and bytes are lower bounds */
};

/* Count the regular files at or below root (a directory or a file) whose
 * status changed at or after since (Unix seconds), looking at no more than
 * max_entries entries in all (out->entries carries over between calls, so
 * several roots share one budget).  Symbolic links are not followed; depth
 * is capped.  A missing root counts nothing.  OUT: adds to *out (callers
 * zero it first).  Return 0 or -errno (root unreadable). */
int plat_tree_count(const char *root, int64_t since, size_t max_entries, struct plat_tree_count *out);

#endif

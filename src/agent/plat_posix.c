/*
 * plat_posix.c — the POSIX (Linux) implementation of plat.h.
 *
 * Children are started with fork + execve (not posix_spawn) because the
 * child must join a new process group and ask the kernel for
 * PR_SET_PDEATHSIG: if the agent is killed, restic gets SIGINT and removes
 * its repository lock instead of running on with a dead reader (restic 0.14
 * cleans up on SIGINT only; SIGTERM leaves a stale lock).  The
 * program is resolved in PATH before fork so the child only calls
 * async-signal-safe functions.  Signals go to the whole process group.
 * All on the main thread (the signal handler only sets a flag and writes
 * one byte to the self-pipe).
 */
#include "agent/plat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "common/util.h"

extern char **environ;

struct plat_child {
	pid_t pid;
	int fd[2];
	bool reaped;
};

static volatile sig_atomic_t stop_flag;
static int wake_pipe[2] = {-1, -1};

static int resolve_in_path(const char *file, char *out, size_t cap)
{
	const char *path = getenv("PATH");
	size_t fl = strlen(file);

	if (strchr(file, '/')) {
		if (util_strlcpy(out, file, cap) < 0)
			return -ENAMETOOLONG;
		return access(out, X_OK) == 0 ? 0 : -ENOENT;
	}
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t dl = colon ? (size_t)(colon - path) : strlen(path);
		if (dl > 0 && dl + 1 + fl + 1 <= cap) {
			memcpy(out, path, dl);
			out[dl] = '/';
			memcpy(out + dl + 1, file, fl + 1);
			if (access(out, X_OK) == 0)
				return 0;
		}
		if (!colon)
			break;
		path = colon + 1;
	}
	return -ENOENT;
}

int plat_child_spawn(const char *file, const char *const *argv, const char *const *envp,
		     struct plat_child **out)
{
	char prog[PLAT_PATH_MAX];
	int po[2] = {-1, -1}, pe[2] = {-1, -1}, r;
	struct plat_child *c;
	pid_t pid;

	r = resolve_in_path(file, prog, sizeof(prog));
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0) {
		/* child: async-signal-safe calls only */
		int devnull = open("/dev/null", O_RDONLY);
		sigset_t none;
		setpgid(0, 0);
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGINT);
#endif
		signal(SIGPIPE, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(127);
		{
			/* execve's prototype predates const: same pointers */
			char *const *av, *const *ev;
			memcpy(&av, &argv, sizeof(av));
			memcpy(&ev, &envp, sizeof(ev));
			execve(prog, av, ev);
		}
		_exit(127);
	}
	setpgid(pid, pid); /* also in the parent: no race with an early signal */
	close(po[1]);
	close(pe[1]);
	fcntl(po[0], F_SETFL, O_NONBLOCK);
	fcntl(pe[0], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->fd[PLAT_STDOUT] = po[0];
	c->fd[PLAT_STDERR] = pe[0];
	*out = c;
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(c);
	return r;
}

int plat_child_fd(const struct plat_child *c, enum plat_stream s) { return c->fd[s]; }

long plat_child_read(struct plat_child *c, enum plat_stream s, char *buf, size_t cap)
{
	ssize_t n;

	if (c->fd[s] < 0)
		return 0;
	do
		n = read(c->fd[s], buf, cap);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n == 0) {
		close(c->fd[s]);
		c->fd[s] = -1;
	}
	return (long)n;
}

int plat_child_signal(struct plat_child *c, bool force)
{
	if (c->reaped)
		return 0;
	int sig = force ? SIGKILL : SIGINT;

	if (kill(-c->pid, sig) < 0 && kill(c->pid, sig) < 0)
		return -errno;
	return 0;
}

int plat_child_reap(struct plat_child *c, int *exit_code)
{
	int st;
	pid_t p;

	if (c->reaped)
		return 0;
	do
		p = waitpid(c->pid, &st, WNOHANG);
	while (p < 0 && errno == EINTR);
	if (p == 0)
		return -EAGAIN;
	if (p < 0)
		return -errno;
	c->reaped = true;
	if (WIFEXITED(st))
		*exit_code = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		*exit_code = 128 + WTERMSIG(st);
	else
		*exit_code = 255;
	return 0;
}

int64_t plat_child_pid(const struct plat_child *c) { return c->reaped ? 0 : (int64_t)c->pid; }

bool plat_pid_alive(int64_t pid)
{
	if (pid <= 0)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

void plat_child_free(struct plat_child *c)
{
	if (!c)
		return;
	for (int i = 0; i < 2; i++)
		if (c->fd[i] >= 0)
			close(c->fd[i]);
	free(c);
}

static void on_stop_signal(int sig)
{
	int saved = errno;
	char b = 1;
	(void)sig;
	stop_flag = 1;
	if (wake_pipe[1] >= 0 && write(wake_pipe[1], &b, 1) < 0) {
		/* pipe full: a wake-up is already pending */
	}
	errno = saved;
}

int plat_signals_init(void)
{
	struct sigaction sa;

	if (wake_pipe[0] < 0) {
		if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
			return -errno;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	return 0;
}

bool plat_stop_requested(void) { return stop_flag != 0; }

int plat_wake_fd(void) { return wake_pipe[0]; }

void plat_wake_drain(void)
{
	char b[64];
	while (wake_pipe[0] >= 0 && read(wake_pipe[0], b, sizeof(b)) > 0) {
	}
}

int plat_lock_dir(const char *dir)
{
	char path[PLAT_PATH_MAX];
	int fd;

	if (plat_path_join(path, sizeof(path), dir, "agent.lock") < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	return 0; /* fd intentionally kept open: the lock lives until exit */
}

const char *plat_default_config_dir(void) { return "/etc/restic-manager"; }
const char *plat_default_state_dir(void) { return "/var/lib/restic-manager"; }

int plat_path_join(char *out, size_t cap, const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	int n = snprintf(out, cap, "%s%s%s", dir, (dl > 0 && dir[dl - 1] == '/') ? "" : "/", name);
	return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

bool plat_path_is_absolute(const char *path) { return path[0] == '/'; }

const char *plat_os(void)
{
	static struct utsname u;
	static bool done;
	if (!done) {
		done = true;
		if (uname(&u) < 0)
			return "unknown";
		for (char *p = u.sysname; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
	}
	return u.sysname[0] ? u.sysname : "unknown";
}

const char *plat_arch(void)
{
#if defined(__x86_64__)
	return "amd64";
#elif defined(__aarch64__)
	return "arm64";
#else
	return "unknown";
#endif
}

int plat_hostname(char *out, size_t cap)
{
	if (gethostname(out, cap) < 0)
		return -errno;
	out[cap - 1] = '\0';
	return 0;
}

int plat_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t k = getrandom(p, n, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

const char *plat_os_error_text(int64_t code)
{
	if (code <= 0 || code >= 4096)
		return "unknown error";
	return strerror((int)code);
}

void plat_memzero(void *p, size_t n) { explicit_bzero(p, n); }

int64_t plat_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *const *plat_environ(void) { return (const char *const *)environ; }

int plat_append_sync(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t k = write(fd, p, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		p += k;
		len -= (size_t)k;
	}
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

void plat_shell_argv(const char *command, const char *out[4])
{
	out[0] = "/bin/sh";
	out[1] = "-c";
	out[2] = command;
	out[3] = NULL;
}

int plat_timezone_name(char *out, size_t cap)
{
	const char *tz = getenv("TZ");
	char buf[PLAT_PATH_MAX];
	FILE *f;
	ssize_t n;

	if (tz && *tz) {
		if (*tz == ':')
			tz++;
		if (*tz && *tz != '/' && util_strlcpy(out, tz, cap) == 0)
			return 0;
	}
	f = fopen("/etc/timezone", "re");
	if (f) {
		bool ok = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		if (ok) {
			buf[strcspn(buf, " \t\r\n")] = '\0';
			if (buf[0] && util_strlcpy(out, buf, cap) == 0)
				return 0;
		}
	}
	n = readlink("/etc/localtime", buf, sizeof(buf) - 1);
	if (n > 0) {
		const char *p;
		buf[n] = '\0';
		p = strstr(buf, "zoneinfo/");
		if (p && util_strlcpy(out, p + 9, cap) == 0)
			return 0;
	}
	return -ENOENT;
}

int plat_child_written_bytes(const struct plat_child *c, int64_t *bytes)
{
#ifdef __linux__
	char path[64], buf[1024], num[32];
	const char *p;
	ssize_t n;
	size_t k = 0;
	int fd;

	if (c->reaped)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%ld/io", (long)c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	p = strstr(buf, "wchar:");
	if (!p)
		return -EIO;
	for (p += 6; *p == ' '; p++)
		;
	while (k + 1 < sizeof(num) && p[k] >= '0' && p[k] <= '9') {
		num[k] = p[k];
		k++;
	}
	num[k] = '\0';
	return util_parse_i64(num, 0, INT64_MAX, bytes) < 0 ? -EIO : 0;
#else
	(void)c;
	(void)bytes;
	return -ENOTSUP;
#endif
}

#define TREE_DEPTH_MAX 64

static void tree_count_stat(const struct stat *st, int64_t since, struct plat_tree_count *out)
{
	if (S_ISREG(st->st_mode) && (int64_t)st->st_ctim.tv_sec >= since) {
		out->files++;
		out->bytes += (int64_t)st->st_size;
	}
}

/* Takes dfd (closed here). */
static void tree_count_dir(int dfd, int64_t since, size_t max, unsigned depth, struct plat_tree_count *out)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		const char *nm = e->d_name;
		if (nm[0] == '.' && (!nm[1] || (nm[1] == '.' && !nm[2])))
			continue;
		if (out->entries >= max) {
			out->truncated = true;
			break;
		}
		out->entries++;
		if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* gone meanwhile */
		if (S_ISDIR(st.st_mode)) {
			int fd;
			if (depth >= TREE_DEPTH_MAX)
				continue;
			fd = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				tree_count_dir(fd, since, max, depth + 1, out);
			if (out->truncated)
				break;
		} else {
			tree_count_stat(&st, since, out);
		}
	}
	closedir(d);
}

int plat_tree_count(const char *root, int64_t since, size_t max_entries, struct plat_tree_count *out)
{
	struct stat st;
	int fd;

	if (lstat(root, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
	if (out->entries >= max_entries) {
		out->truncated = true;
		return 0;
	}
	out->entries++;
	if (!S_ISDIR(st.st_mode)) {
		tree_count_stat(&st, since, out);
		return 0;
	}
	fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	tree_count_dir(fd, since, max_entries, 0, out);
	return 0;
}

int plat_timezone_rule(char *out, size_t cap)
{
	(void)out;
	(void)cap;
	return -ENOENT;
}

int plat_dir_restrict(const char *dir)
{
	(void)dir; /* created 0700 by util_mkdir_p */
	return 0;
}

int plat_service_control(const char *verb, const char *const *run_args, char *msg, size_t cap)
{
	(void)verb;
	(void)run_args;
	snprintf(msg, cap, "the service subcommand exists only on Windows; on Linux use the systemd unit "
			   "(restic-manager-agent.service, installed by install.sh)");
	return -ENOSYS;
}

int plat_service_run(const char *log_path, int (*run)(const void *arg), const void *arg)
{
	(void)log_path;
	(void)run;
	(void)arg;
	return -ENOSYS;
}

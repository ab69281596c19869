/*
 * plat_proc.c — process figures from Linux's /proc (see plat_proc.h).
 * Any thread.  /proc/self/stat and statm are read into small fixed buffers
 * (far larger than either); /proc/stat, whose "intr" line can be longer
 * than any buffer, is scanned line by line in bounded pieces (a piece of a
 * long line starts with a digit, never with "btime").
 */
#include "server/plat_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Read up to cap-1 bytes of path into buf (NUL-terminated). Return length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n + 1 < cap) {
		ssize_t k = read(fd, buf + n, cap - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

/* Parse the decimal number at *p (skipping spaces), advance *p past it.
 * Return 0 or -EINVAL (no digits, or overflow). */
static int next_u64(const char **p, int64_t *out)
{
	const char *s = *p;
	int64_t v = 0;

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (*s - '0');
	}
	*p = s;
	*out = v;
	return 0;
}

static void read_rss(struct plat_proc_stats *st)
{
	char buf[256];
	const char *p = buf;
	int64_t size, resident;
	long page = sysconf(_SC_PAGESIZE);

	if (page <= 0 || read_small("/proc/self/statm", buf, sizeof(buf)) <= 0)
		return;
	if (next_u64(&p, &size) < 0 || next_u64(&p, &resident) < 0)
		return;
	st->rss_bytes = resident * page;
	st->has_rss = true;
}

static void read_fds(struct plat_proc_stats *st)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	struct rlimit rl;
	int64_t n = 0;

	if (d) {
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		st->open_fds = n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
		st->has_fds = true;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		st->max_fds = (int64_t)rl.rlim_cur;
		st->has_max_fds = true;
	}
}

/* Boot time (unix seconds) from the "btime" line of /proc/stat. */
static int read_btime(int64_t *out)
{
	char buf[4096];
	FILE *f = fopen("/proc/stat", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		const char *p = buf + 5;
		if (strncmp(buf, "btime", 5) != 0)
			continue;
		r = next_u64(&p, out);
		break;
	}
	fclose(f);
	return r;
}

static void read_start(struct plat_proc_stats *st)
{
	char buf[1024];
	const char *p;
	int64_t v = 0, btime;
	long hz = sysconf(_SC_CLK_TCK);

	if (hz <= 0 || read_small("/proc/self/stat", buf, sizeof(buf)) <= 0)
		return;
	/* Field 2 (comm) is in parentheses and may hold spaces: start after the last ')'.
	 * Then fields 3.. follow; starttime is field 22. */
	p = strrchr(buf, ')');
	if (!p)
		return;
	p++;
	while (*p == ' ')
		p++;
	if (*p && *p != ' ')
		p++; /* field 3: state (one letter) */
	for (int field = 4; field <= 22; field++) {
		if (*p == ' ' && p[1] == '-')
			p += 2; /* a negative field (priority, nice): skip its sign */
		if (next_u64(&p, &v) < 0)
			return;
	}
	if (read_btime(&btime) < 0)
		return;
	st->start_time = (double)btime + (double)v / (double)hz;
	st->has_start = true;
}

void plat_proc_read(struct plat_proc_stats *st)
{
	memset(st, 0, sizeof(*st));
	read_rss(st);
	read_fds(st);
	read_start(st);
}

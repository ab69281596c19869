/*
 * assets.c — serving agent binaries and install scripts (see assets.h).
 * Loop thread.  Files are opened and fstat'ed on the loop (cheap metadata
 * operations on local disk); the bytes go out with sendfile via
 * http_reply_file(), so a large binary never passes through user space.
 *
 * Invariants (the security of this file):
 *  - a file name is never built from request text: the request only selects
 *    a row of the fixed tables below (os/arch pair or install name), and
 *    anything else — unknown values, unknown or repeated query keys, any
 *    percent-encoding in the query, "..", "/", NUL — is 400 before any
 *    filesystem access;
 *  - files are opened O_NOFOLLOW|O_CLOEXEC and served only if fstat says
 *    "regular file", so a symlink or directory dropped into an override
 *    directory is skipped (with a warning) rather than followed.
 */
#include "server/assets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "server/server.h"

#define ASSETS_QUERY_MAX 128

struct asset {
	const char *file;         /* name inside the directory */
	const char *content_type;
	bool attachment;          /* Content-Disposition: attachment */
};

struct agent_binary {
	const char *os, *arch;
	struct asset a;
};

static const struct agent_binary binaries[] = {
	{"linux", "amd64", {"restic-manager-agent-linux-amd64", "application/octet-stream", true}},
	{"linux", "arm64", {"restic-manager-agent-linux-arm64", "application/octet-stream", true}},
	{"windows", "amd64", {"restic-manager-agent-windows-amd64.exe", "application/octet-stream", true}},
};

static const struct asset install_files[] = {
	{"install.sh", "text/x-shellscript", false},
	{"install.ps1", "text/plain", false},
	{"restic-manager-agent.service", "text/plain", false},
};

/* Open sub/file under base as a regular file.  Return fd, or -ENOENT when it
 * is not there or not usable (a symlink, a non-regular file, unreadable:
 * logged, since an operator put it there) so the caller tries the next
 * directory. */
static int asset_open(const char *base, const char *sub, const char *file, struct stat *st)
{
	char path[2200];
	int fd;

	if (!base[0])
		return -ENOENT;
	if (snprintf(path, sizeof(path), "%s/%s/%s", base, sub, file) >= (int)sizeof(path))
		return -ENOENT;
	/* O_NONBLOCK: a FIFO planted under that name must not hang the loop in open(). */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int e = errno;
		if (e == ELOOP)
			log_warnx("not serving '%s': it is a symbolic link", path);
		else if (e != ENOENT && e != ENOTDIR)
			log_warnx("cannot open '%s': %s", path, strerror(e));
		return -ENOENT;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		log_warnx("not serving '%s': not a regular file", path);
		close(fd);
		return -ENOENT;
	}
	return fd;
}

/* True when the If-None-Match header lists etag (or "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;

	while (*p) {
		size_t n;
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!strncmp(p, "W/", 2))
			p += 2;
		n = strcspn(p, ",");
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if ((n == 1 && p[0] == '*') || (n == elen && !strncmp(p, etag, n)))
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

static void asset_serve(struct http_ctx *c, const char *sub, const struct asset *a, const char *missing_code)
{
	struct server *srv = c->srv;
	struct stat st;
	char etag[96], disp[160];
	const char *inm;
	int fd;

	fd = asset_open(srv->cfg.data_dir, sub, a->file, &st);
	if (fd == -ENOENT)
		fd = asset_open(srv->cfg.bundled_assets_dir, sub, a->file, &st);
	if (fd < 0) {
		http_reply_error(c, 404, missing_code, "'%s' is not published on this server", a->file);
		return;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%llx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec,
		 (unsigned long long)st.st_ino);
	http_set_header(c, "ETag", etag);
	http_set_header(c, "Cache-Control", "no-cache");
	if (a->attachment) {
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", a->file);
		http_set_header(c, "Content-Disposition", disp);
	}
	inm = http_get_header(c, "If-None-Match");
	if (inm && etag_matches(inm, etag)) {
		close(fd);
		http_reply_empty(c, 304);
		return;
	}
	http_reply_file(c, 200, a->content_type, fd, (int64_t)st.st_size);
}

/* Parse the raw query of /agent/binary into buf: exactly os=…&arch=…, each
 * once, plain lowercase letters and digits (no percent-encoding at all).
 * OUT: *os, *arch point into buf. */
static int parse_binary_query(struct http_ctx *c, char *buf, size_t cap, const char **os, const char **arch)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(c->req);
	const char *raw = u ? evhttp_uri_get_query(u) : NULL;
	char *p, *save = NULL;

	*os = *arch = NULL;
	if (!raw || util_strlcpy(buf, raw, cap) < 0)
		return -EINVAL;
	for (p = strtok_r(buf, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');
		const char **slot;
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		if (!strcmp(p, "os"))
			slot = os;
		else if (!strcmp(p, "arch"))
			slot = arch;
		else
			return -EINVAL;
		if (*slot)
			return -EINVAL;
		for (const char *v = eq + 1; *v; v++)
			if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9')))
				return -EINVAL;
		*slot = eq + 1;
	}
	return *os && *arch ? 0 : -EINVAL;
}

void assets_serve_binary(struct http_ctx *c)
{
	char buf[ASSETS_QUERY_MAX];
	const char *os, *arch;

	if (parse_binary_query(c, buf, sizeof(buf), &os, &arch) < 0) {
		http_reply_error(c, 400, "invalid_parameter",
				 "expected ?os=linux|windows&arch=amd64|arm64 (windows: amd64 only)");
		return;
	}
	for (size_t i = 0; i < ARRAY_LEN(binaries); i++)
		if (!strcmp(binaries[i].os, os) && !strcmp(binaries[i].arch, arch)) {
			asset_serve(c, "agent-binaries", &binaries[i].a, "binary_not_published");
			return;
		}
	http_reply_error(c, 400, "invalid_parameter", "no agent for this os/arch (linux: amd64, arm64; windows: amd64)");
}

void assets_serve_install(struct http_ctx *c)
{
	const char *name = c->params[0];

	for (size_t i = 0; name && i < ARRAY_LEN(install_files); i++)
		if (!strcmp(install_files[i].file, name)) {
			asset_serve(c, "install", &install_files[i], "not_found");
			return;
		}
	http_reply_error(c, 400, "invalid_parameter",
			 "unknown install file (install.sh, install.ps1, restic-manager-agent.service)");
}

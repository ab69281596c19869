/*
 * web.c — serve the embedded UI assets (see web.h).  Loop thread only.
 * Invariants: only names present in the generated table are served (no file
 * system access, so no path tricks are possible); every reply sets its own
 * Cache-Control, so http.c's default no-store never applies here; the data
 * behind the pages is protected by the API, so these routes are public.
 */
#include "server/web.h"

#include <stdio.h>
#include <string.h>

#include "web_assets.h"

#define WEB_CSP                                                                                                        \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "                              \
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

static const struct web_asset *web_asset_find(const char *path)
{
	for (const struct web_asset *a = web_assets; a->path; a++)
		if (!strcmp(a->path, path))
			return a;
	return NULL;
}

/* Does If-None-Match list etag (or "*")?  The header is a comma list of
 * possibly weak (W/) quoted tags; weak comparison is right for GET. */
static bool web_etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);

	if (!inm)
		return false;
	while (*inm) {
		inm += strspn(inm, " \t,");
		if (!strncmp(inm, "W/", 2))
			inm += 2;
		size_t n = strcspn(inm, ",");
		while (n > 0 && (inm[n - 1] == ' ' || inm[n - 1] == '\t'))
			n--;
		if ((n == 1 && inm[0] == '*') || (n == elen && !strncmp(inm, etag, n)))
			return true;
		inm += strcspn(inm, ",");
	}
	return false;
}

static void web_serve(struct http_ctx *c, const struct web_asset *a, const char *cache_control)
{
	http_set_header(c, "Cache-Control", cache_control);
	http_set_header(c, "ETag", a->etag);
	http_set_header(c, "Content-Security-Policy", WEB_CSP);
	http_set_header(c, "X-Frame-Options", "DENY");
	http_set_header(c, "Referrer-Policy", "no-referrer");
	http_set_header(c, "Cross-Origin-Opener-Policy", "same-origin");
	if (web_etag_matches(http_get_header(c, "If-None-Match"), a->etag)) {
		http_reply_empty(c, 304);
		return;
	}
	if (c->method == EVHTTP_REQ_HEAD) {
		/* evhttp would compute Content-Length from the empty HEAD body. */
		char len[32];
		snprintf(len, sizeof(len), "%zu", a->len);
		http_set_header(c, "Content-Length", len);
	}
	http_reply_data(c, 200, a->content_type, a->data, a->len);
}

void web_index(struct http_ctx *c)
{
	const struct web_asset *a = web_asset_find("/index.html");

	if (!a) {
		http_reply_error(c, 404, "not_found", "this server was built without the web UI");
		return;
	}
	web_serve(c, a, "no-cache");
}

void web_asset(struct http_ctx *c)
{
	const char *version = c->params[0], *name = c->params[1];
	char path[256];
	const struct web_asset *a;

	if (!version || !name || strlen(name) + 2 > sizeof(path)) {
		http_reply_error(c, 404, "not_found", "no such asset");
		return;
	}
	path[0] = '/';
	memcpy(path + 1, name, strlen(name) + 1);
	a = web_asset_find(path);
	if (!a) {
		http_reply_error(c, 404, "not_found", "no such asset");
		return;
	}
	/* A stale version (a page loaded before an upgrade) still gets the current
	 * file, but never under a long cache: that URL's content may change. */
	web_serve(c, a, !strcmp(version, web_asset_version) ? "public, max-age=31536000, immutable" : "no-cache");
}

/*
 * web.h — the embedded web UI (static files from web/, compiled in by
 * scripts/embed-web.sh).  URL layout:
 *   GET /                      index.html (Cache-Control: no-cache, ETag)
 *   GET /bootstrap             index.html too: the first-run page (public;
 *                              the token in its query is only read by the UI)
 *   GET /assets/<version>/<f>  any other asset; immutable for a year when
 *                              <version> is the current web_asset_version
 * Every reply carries the strict Content-Security-Policy and framing headers;
 * If-None-Match with the current ETag gives 304.  Loop thread only.
 */
#ifndef RM_WEB_H
#define RM_WEB_H

#include "server/http.h"

/* GET/HEAD / and /bootstrap: the single-page UI shell. */
void web_index(struct http_ctx *c);

/* GET/HEAD /assets/{version}/{name}: a static asset. */
void web_asset(struct http_ctx *c);

#endif

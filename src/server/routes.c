/*
 * routes.c — every endpoint of the server, one row each.  Access levels are
 * enforced by auth.c from this table alone; handlers never re-check roles
 * except for per-object rules (an agent only reaches its own host).
 * Adding an endpoint = adding a row here (keep rows grouped by resource).
 */
#include "server/routes.h"

#include "server/api_audit.h"
#include "server/api_meta.h"
#include "server/assets.h"
#include "server/web.h"

#define GET EVHTTP_REQ_GET
#define POST EVHTTP_REQ_POST
#define PUT EVHTTP_REQ_PUT
#define PATCH EVHTTP_REQ_PATCH
#define DELETE EVHTTP_REQ_DELETE

static const struct route routes[] = {
	/* service */
	{GET, "/healthz", ACCESS_PUBLIC, api_healthz, 0, 0},
	{GET, "/api/version", ACCESS_PUBLIC, api_version, 0, 0},
	/* agent and script distribution (GET rows also answer HEAD) */
	{GET, "/agent/binary", ACCESS_PUBLIC, assets_serve_binary, 0, 0},
	{GET, "/install/{}", ACCESS_PUBLIC, assets_serve_install, 0, 0},
	/* audit trail */
	{GET, "/api/v1/audit", ACCESS_ADMIN, api_audit_list, 0, 0},
	{GET, "/api/v1/audit/export.csv", ACCESS_ADMIN, api_audit_export, 0, 0},
	/* web UI (static; the data behind it is protected by the API) */
	{GET, "/", ACCESS_PUBLIC, web_index, 0, 0},
	{GET, "/bootstrap", ACCESS_PUBLIC, web_index, 0, 0},
	{GET, "/assets/{}/{}", ACCESS_PUBLIC, web_asset, 0, 0},
	{0, NULL, 0, NULL, 0, 0},
};

const struct route *routes_table(void) { return routes; }

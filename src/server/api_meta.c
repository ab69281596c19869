/* api_meta.c — /healthz (200 when the database answers) and /api/version. Loop thread. */
#include "server/api_meta.h"

#include "common/version.h"
#include "server/server.h"
#include "server/store.h"

void api_healthz(struct http_ctx *c)
{
	if (store_ping(c->srv->store) < 0) {
		http_reply_error(c, 503, "unhealthy", "database does not answer");
		return;
	}
	http_reply_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

void api_version(struct http_ctx *c)
{
	http_reply_json(c, 200, json_pack("{s:s,s:s,s:s,s:i}", "version", rm_version, "commit", rm_commit, "date",
					  rm_date, "protocol_version", RM_PROTOCOL_VERSION));
}

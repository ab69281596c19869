/*
 * routes.c — every endpoint of the server, one row each.  Access levels are
 * enforced by auth.c from this table alone; handlers never re-check roles
 * except for per-object rules (an agent only reaches its own host).
 * Adding an endpoint = adding a row here (keep rows grouped by resource).
 */
#include "server/routes.h"

#include "server/api_agent.h"
#include "server/alerts.h"
#include "server/api_audit.h"
#include "server/api_channels.h"
#include "server/api_auth.h"
#include "server/api_hosts.h"
#include "server/api_jobs.h"
#include "server/api_meta.h"
#include "server/api_sources.h"
#include "server/api_tree.h"
#include "server/api_tokens.h"
#include "server/api_users.h"
#include "server/assets.h"
#include "server/maintenance.h"
#include "server/metrics.h"
#include "server/sse.h"
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
	/* Prometheus; off unless RM_METRICS_TOKEN / RM_METRICS_TRUSTED_CIDR, checked in metrics.c */
	{GET, "/metrics", ACCESS_PUBLIC, api_metrics, 0, 0},
	/* agent and script distribution (GET rows also answer HEAD) */
	{GET, "/agent/binary", ACCESS_PUBLIC, assets_serve_binary, 0, 0},
	{GET, "/install/{}", ACCESS_PUBLIC, assets_serve_install, 0, 0},
	/* authentication, users, personal API tokens (api_auth.c, api_users.c, api_tokens.c) */
	{GET, "/api/v1/bootstrap", ACCESS_PUBLIC, api_bootstrap_status, 0, 0},
	{POST, "/api/v1/bootstrap", ACCESS_PUBLIC, api_bootstrap, 8192, 0},
	{POST, "/api/v1/auth/login", ACCESS_PUBLIC, api_auth_login, 8192, 0},
	{POST, "/api/v1/auth/logout", ACCESS_VIEWER, api_auth_logout, 0, ROUTE_NO_CSRF},
	{GET, "/api/v1/auth/me", ACCESS_VIEWER, api_auth_me, 0, 0},
	{PUT, "/api/v1/auth/password", ACCESS_VIEWER, api_auth_password, 8192, 0},
	{GET, "/api/v1/tokens", ACCESS_VIEWER, api_tokens_list, 0, 0},
	{POST, "/api/v1/tokens", ACCESS_VIEWER, api_tokens_create, 0, 0},
	{DELETE, "/api/v1/tokens/{}", ACCESS_VIEWER, api_tokens_delete, 0, 0},
	{GET, "/api/v1/users", ACCESS_ADMIN, api_users_list, 0, 0},
	{POST, "/api/v1/users", ACCESS_ADMIN, api_users_create, 8192, 0},
	{PATCH, "/api/v1/users/{}", ACCESS_ADMIN, api_users_update, 8192, 0},
	{DELETE, "/api/v1/users/{}", ACCESS_ADMIN, api_users_delete, 0, 0},
	/* agent endpoint (docs/protocol.md; api_agent.c) */
	{POST, "/api/agent/v1/enroll", ACCESS_PUBLIC, api_agent_enroll, 16384, 0},
	{POST, "/api/agent/v1/hello", ACCESS_AGENT, api_agent_hello, 65536, 0},
	{GET, "/api/agent/v1/commands", ACCESS_AGENT, api_agent_commands, 0, 0},
	{POST, "/api/agent/v1/events", ACCESS_AGENT, api_agent_events, AGENT_MAX_BATCH, 0},
	/* hosts, enrolment, jobs, live streams (api_hosts.c, api_jobs.c, sse.c) */
	{POST, "/api/v1/enrollment-tokens", ACCESS_OPERATOR, api_enrollment_tokens_create, 65536, 0},
	{GET, "/api/v1/fleet/summary", ACCESS_VIEWER, api_fleet_summary, 0, 0},
	{GET, "/api/v1/hosts", ACCESS_VIEWER, api_hosts_list, 0, 0},
	{GET, "/api/v1/hosts/{}", ACCESS_VIEWER, api_hosts_get, 0, 0},
	{PATCH, "/api/v1/hosts/{}", ACCESS_OPERATOR, api_hosts_update, 16384, 0},
	{DELETE, "/api/v1/hosts/{}", ACCESS_ADMIN, api_hosts_delete, 0, 0},
	{GET, "/api/v1/hosts/{}/snapshots", ACCESS_VIEWER, api_hosts_snapshots, 0, 0},
	{POST, "/api/v1/hosts/{}/jobs", ACCESS_OPERATOR, api_jobs_create, 65536, 0},
	{GET, "/api/v1/jobs", ACCESS_VIEWER, api_jobs_list, 0, 0},
	{GET, "/api/v1/jobs/{}", ACCESS_VIEWER, api_jobs_get, 0, 0},
	{POST, "/api/v1/jobs/{}/cancel", ACCESS_OPERATOR, api_jobs_cancel, 0, 0},
	{GET, "/api/v1/jobs/{}/log", ACCESS_VIEWER, api_jobs_log, 0, 0},
	{GET, "/api/v1/jobs/{}/stream", ACCESS_VIEWER, api_job_stream, 0, 0},
	{GET, "/api/v1/events", ACCESS_VIEWER, api_events_stream, 0, 0},
	/* source groups and schedules (api_sources.c, api_schedules.c) */
	{GET, "/api/v1/hosts/{}/sources", ACCESS_VIEWER, api_sources_list, 0, 0},
	{POST, "/api/v1/hosts/{}/sources", ACCESS_OPERATOR, api_sources_create, 262144, 0},
	{GET, "/api/v1/hosts/{}/sources/{}", ACCESS_VIEWER, api_sources_get, 0, 0},
	{PUT, "/api/v1/hosts/{}/sources/{}", ACCESS_OPERATOR, api_sources_put, 262144, 0},
	{PATCH, "/api/v1/hosts/{}/sources/{}", ACCESS_OPERATOR, api_sources_patch, 262144, 0},
	{DELETE, "/api/v1/hosts/{}/sources/{}", ACCESS_OPERATOR, api_sources_delete, 0, 0},
	{GET, "/api/v1/hosts/{}/snapshots/{}/tree", ACCESS_VIEWER, api_hosts_snapshot_tree, 0, 0},
	{GET, "/api/v1/hosts/{}/maintenance", ACCESS_VIEWER, api_maintenance_get, 0, 0},
	{PUT, "/api/v1/hosts/{}/maintenance", ACCESS_OPERATOR, api_maintenance_put, 16384, 0},
	{GET, "/api/v1/hosts/{}/schedules", ACCESS_VIEWER, api_schedules_list, 0, 0},
	{POST, "/api/v1/hosts/{}/schedules", ACCESS_OPERATOR, api_schedules_create, 16384, 0},
	{GET, "/api/v1/hosts/{}/schedules/{}", ACCESS_VIEWER, api_schedules_get, 0, 0},
	{PUT, "/api/v1/hosts/{}/schedules/{}", ACCESS_OPERATOR, api_schedules_put, 16384, 0},
	{PATCH, "/api/v1/hosts/{}/schedules/{}", ACCESS_OPERATOR, api_schedules_patch, 16384, 0},
	{DELETE, "/api/v1/hosts/{}/schedules/{}", ACCESS_OPERATOR, api_schedules_delete, 0, 0},
	/* alerts and notification channels (alerts.c, api_channels.c) */
	{GET, "/api/v1/alerts", ACCESS_VIEWER, api_alerts_list, 0, 0},
	{GET, "/api/v1/notification-channels", ACCESS_ADMIN, api_channels_list, 0, 0},
	{POST, "/api/v1/notification-channels", ACCESS_ADMIN, api_channels_create, 65536, 0},
	{PATCH, "/api/v1/notification-channels/{}", ACCESS_ADMIN, api_channels_update, 65536, 0},
	{DELETE, "/api/v1/notification-channels/{}", ACCESS_ADMIN, api_channels_delete, 0, 0},
	{POST, "/api/v1/notification-channels/{}/test", ACCESS_ADMIN, api_channels_test, 0, 0},
	{GET, "/api/v1/notification-channels/{}/deliveries", ACCESS_ADMIN, api_channels_deliveries, 0, 0},
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

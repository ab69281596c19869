/*
 * main.c — restic-manager-agent's command line: enroll, run, status,
 * service (Windows), --version, --help.  Options may appear before or after the command, as
 * `--name value` or `--name=value`.  The enrolment token is a secret: it is
 * never printed or logged.  Main thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/http_client.h"
#include "agent/spool.h"
#include "common/log.h"
#include "common/util.h"
#include "common/version.h"

static const char usage[] =
	"usage: restic-manager-agent <command> [options]\n"
	"\n"
	"commands:\n"
	"  enroll --server URL --token T   enrol this host (env RM_SERVER, RM_ENROL_TOKEN)\n"
	"  run                             the service loop\n"
	"  status                          print what the agent knows\n"
	"  service install|uninstall|start|stop\n"
	"                                  Windows: manage the restic-manager-agent service\n"
	"                                  (automatic start, restart on failure; install\n"
	"                                  records --config-dir/--state-dir/--restic/--ca-file\n"
	"                                  and restricts those directories to SYSTEM and\n"
	"                                  Administrators).  Linux: use the systemd unit.\n"
	"  --version                       print version, commit and build date\n"
	"  --help                          this text\n"
	"\n"
	"options (every command):\n"
	"  --config-dir DIR    configuration and token (default %s)\n"
	"  --state-dir DIR     spool, queue and state (default %s)\n"
	"  --restic PATH       the restic program (default: restic from PATH)\n"
	"  --ca-file FILE      CA certificates for https (default: system store)\n"
	"  --pin-sha256 PIN    enroll: accept only this server public key (SHA-256 of the\n"
	"                      SubjectPublicKeyInfo, 64 hex or sha256//base64)\n"
	"  --log-level LEVEL   debug|info|warn|error (env RM_LOG_LEVEL, default info)\n";

static int opt_copy(char *dst, size_t cap, const char *name, const char *val)
{
	if (util_strlcpy(dst, val, cap) < 0) {
		fprintf(stderr, "restic-manager-agent: value of %s is too long\n", name);
		return -1;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct agent_opts *o, const char **cmd, const char **verb,
		      const char **level)
{
	struct {
		const char *name;
		char *dst;
		size_t cap;
	} tab[] = {
		{"--config-dir", o->config_dir, sizeof(o->config_dir)},
		{"--state-dir", o->state_dir, sizeof(o->state_dir)},
		{"--restic", o->restic, sizeof(o->restic)},
		{"--ca-file", o->ca_file, sizeof(o->ca_file)},
		{"--pin-sha256", o->pin, sizeof(o->pin)},
		{"--server", o->server, sizeof(o->server)},
		{"--token", o->token, sizeof(o->token)},
	};

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *val = NULL;
		size_t nl;
		bool found = false;

		if (strcmp(a, "--version") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			*cmd = a;
			return 0;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (*cmd && strcmp(*cmd, "service") == 0 && !*verb) {
				*verb = a;
				continue;
			}
			if (*cmd) {
				fprintf(stderr, "restic-manager-agent: unexpected argument '%s'\n", a);
				return -1;
			}
			*cmd = a;
			continue;
		}
		eq = strchr(a, '=');
		nl = eq ? (size_t)(eq - a) : strlen(a);
		if (strncmp(a, "--log-level", nl) == 0 && nl == 11) {
			val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val) {
				fprintf(stderr, "restic-manager-agent: --log-level needs a value\n");
				return -1;
			}
			*level = val;
			continue;
		}
		for (size_t k = 0; k < ARRAY_LEN(tab); k++) {
			if (strlen(tab[k].name) != nl || strncmp(a, tab[k].name, nl) != 0)
				continue;
			val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			if (!val) {
				fprintf(stderr, "restic-manager-agent: %s needs a value\n", tab[k].name);
				return -1;
			}
			if (opt_copy(tab[k].dst, tab[k].cap, tab[k].name, val) < 0)
				return -1;
			found = true;
			break;
		}
		if (!found) {
			fprintf(stderr, "restic-manager-agent: unknown option '%.*s' (see --help)\n", (int)nl, a);
			return -1;
		}
	}
	return 0;
}

/* The config and state directories hold the agent token and the repository
 * password: only the service's identity may read them (plat_dir_restrict). */
static void restrict_dirs(const struct agent_opts *o)
{
	const char *dirs[2] = {o->config_dir, o->state_dir};
	for (size_t i = 0; i < 2; i++) {
		int e = util_mkdir_p(dirs[i], 0700);
		if (e == 0)
			e = plat_dir_restrict(dirs[i]);
		if (e < 0)
			fprintf(stderr, "warning: cannot restrict '%s' to the service's identity: %s\n", dirs[i],
				strerror(-e));
	}
}

/* `service run`: the agent loop as the service the SCM started. */
static int service_main(const void *arg) { return agent_cmd_run(arg); }

int agent_cmd_service(const struct agent_opts *o, const char *verb)
{
	const char *args[12];
	char msg[PLAT_PATH_MAX + 512], log_path[PLAT_PATH_MAX];
	size_t n = 0;
	int r;

	if (!verb) {
		fprintf(stderr, "service needs one of: install, uninstall, start, stop\n");
		return 2;
	}
	if (strcmp(verb, "run") == 0) {
		if (plat_path_join(log_path, sizeof(log_path), o->state_dir, "agent.log") < 0 ||
		    util_mkdir_p(o->state_dir, 0700) < 0)
			log_path[0] = '\0';
		r = plat_service_run(log_path[0] ? log_path : NULL, service_main, o);
		if (r == -ENOSYS || r == -ENOTSUP) {
			fprintf(stderr, "service run: %s\n",
				r == -ENOSYS ? "the service subcommand exists only on Windows; on Linux use the "
					       "systemd unit (restic-manager-agent.service, installed by install.sh)"
					     : "only the service manager starts this; use `run` from a console");
			return 2;
		}
		return r < 0 ? 1 : r;
	}
	/* what the service's command line records */
	if (o->config_dir[0]) {
		args[n++] = "--config-dir";
		args[n++] = o->config_dir;
	}
	if (o->state_dir[0]) {
		args[n++] = "--state-dir";
		args[n++] = o->state_dir;
	}
	if (o->restic[0]) {
		args[n++] = "--restic";
		args[n++] = o->restic;
	}
	if (o->ca_file[0]) {
		args[n++] = "--ca-file";
		args[n++] = o->ca_file;
	}
	args[n] = NULL;
	r = plat_service_control(verb, args, msg, sizeof(msg));
	if (r == -ENOSYS) {
		fprintf(stderr, "restic-manager-agent service: %s\n", msg);
		return 2;
	}
	if (r < 0) {
		fprintf(stderr, "restic-manager-agent service %s: %s\n", verb, msg);
		return r == -EINVAL ? 2 : 1;
	}
	printf("%s\n", msg);
	return 0;
}

int agent_cmd_enroll(const struct agent_opts *o)
{
	struct agent_conf c;
	struct http_client *h = NULL;
	struct http_req *r = NULL;
	struct http_tls tls = {o->ca_file[0] ? o->ca_file : NULL, o->pin[0] ? o->pin : NULL};
	char url[2300], host[256], rv[64], *text = NULL;
	const char *body;
	size_t len, n;
	json_t *req = NULL, *ans = NULL;
	int rc = 1, e;

	if (!o->server[0] || !o->token[0]) {
		fprintf(stderr, "enroll needs --server URL and --token T (or RM_SERVER and RM_ENROL_TOKEN)\n");
		return 2;
	}
	if (strncmp(o->server, "http://", 7) != 0 && strncmp(o->server, "https://", 8) != 0) {
		fprintf(stderr, "enroll: the server URL must start with http:// or https://\n");
		return 2;
	}
	/* lock before the one-time token is spent */
	e = util_mkdir_p(o->state_dir, 0700);
	if (e == 0)
		e = plat_lock_dir(o->state_dir);
	if (e == 0)
		restrict_dirs(o);
	if (e < 0) {
		fprintf(stderr, "enroll: cannot use the state directory '%s': %s\n", o->state_dir,
			e == -EBUSY ? "an agent is running; stop it first" : strerror(-e));
		return 1;
	}
	e = http_client_new(&tls, &h);
	if (e < 0) {
		fprintf(stderr, "enroll: %s\n", e == -EINVAL ? "--pin-sha256 must be 64 hex characters or sha256//base64"
							     : strerror(-e));
		return 2;
	}
	if (plat_hostname(host, sizeof(host)) < 0)
		util_strlcpy(host, "unknown", sizeof(host));
	agent_probe_restic_version(h, o->restic[0] ? o->restic : "restic", rv, sizeof(rv));
	req = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "token", o->token, "protocol_version",
			RM_PROTOCOL_VERSION, "hostname", host, "os", plat_os(), "arch", plat_arch(), "agent_version",
			rm_version, "restic_version", rv);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!text)
		goto out;
	n = strlen(o->server);
	while (n > 0 && o->server[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/api/agent/v1/enroll", (int)n, o->server);
	e = http_client_perform(h, "POST", url, NULL, text, strlen(text), 30000, &r);
	if (e < 0) {
		fprintf(stderr, "enroll: %s\n", strerror(-e));
		goto out;
	}
	if (http_req_status(r) == 0) {
		fprintf(stderr, "enrolment failed: cannot reach '%s': %s\n", o->server, http_req_error(r));
		goto out;
	}
	body = http_req_body(r, &len);
	ans = json_loadb(body, len, 0, NULL);
	if (http_req_status(r) == 401) {
		fprintf(stderr, "enrolment failed: the server rejected the token (wrong, expired or already used); "
				"ask for a new one\n");
		goto out;
	}
	if (http_req_status(r) != 201 && http_req_status(r) != 200) {
		json_t *m = json_object_get(json_object_get(ans, "error"), "message");
		fprintf(stderr, "enrolment failed: HTTP %d%s%s\n", http_req_status(r), json_is_string(m) ? ": " : "",
			json_is_string(m) ? json_string_value(m) : "");
		goto out;
	}
	memset(&c, 0, sizeof(c));
	if (!json_is_integer(json_object_get(ans, "host_id")) || !json_is_string(json_object_get(ans, "agent_token"))) {
		fprintf(stderr, "enrolment failed: malformed answer from the server\n");
		goto out;
	}
	util_strlcpy(c.server, o->server, sizeof(c.server));
	c.host_id = json_integer_value(json_object_get(ans, "host_id"));
	util_strlcpy(c.token, json_string_value(json_object_get(ans, "agent_token")), sizeof(c.token));
	util_strlcpy(c.ca_file, o->ca_file, sizeof(c.ca_file));
	util_strlcpy(c.pin, o->pin, sizeof(c.pin));
	util_strlcpy(c.restic, o->restic, sizeof(c.restic));
	/* a new identity starts with fresh state */
	{
		static const char *const stale[] = {"state.json", "spool.ndjson", "queue.json", "schedule.json"};
		char p[PLAT_PATH_MAX];
		for (size_t i = 0; i < ARRAY_LEN(stale); i++)
			if (plat_path_join(p, sizeof(p), o->state_dir, stale[i]) == 0)
				util_remove_file(p);
		if (plat_path_join(p, sizeof(p), o->config_dir, "repository.json") == 0)
			util_remove_file(p);
	}
	e = agent_conf_save(o->config_dir, &c);
	plat_memzero(c.token, sizeof(c.token));
	if (e < 0) {
		fprintf(stderr, "enroll: cannot write the configuration to '%s': %s\n", o->config_dir, strerror(-e));
		goto out;
	}
	printf("enrolled as host %lld with server %s\n", (long long)c.host_id, o->server);
	rc = 0;
out:
	if (text) {
		plat_memzero(text, strlen(text));
		free(text);
	}
	json_decref(req);
	json_decref(ans);
	http_req_free(r);
	http_client_free(h);
	return rc;
}

int agent_cmd_status(const struct agent_opts *o)
{
	struct agent_conf c;
	struct agent_state s;
	struct spool sp;
	char path[PLAT_PATH_MAX], t[32];
	json_t *q = NULL;
	int r = agent_conf_load(o->config_dir, &c);

	plat_memzero(c.token, sizeof(c.token));
	if (r < 0) {
		printf("not enrolled (config dir %s: %s)\n", o->config_dir, r == -ENOENT ? "no configuration" : strerror(-r));
		return 1;
	}
	if (agent_state_load(o->state_dir, &s) < 0)
		memset(&s, 0, sizeof(s));
	memset(&sp, 0, sizeof(sp));
	if (plat_path_join(path, sizeof(path), o->state_dir, "spool.ndjson") == 0)
		spool_open(&sp, path, SPOOL_DEFAULT_CAP);
	agent_json_load(o->state_dir, "queue.json", &q);
	printf("server: %s\n", c.server);
	printf("host id: %lld\n", (long long)c.host_id);
	if (s.last_contact > 0) {
		util_time_rfc3339(s.last_contact, t);
		printf("last contact: %s\n", t);
	} else {
		printf("last contact: never\n");
	}
	printf("queued events: %zu\n", sp.n);
	printf("queued jobs: %zu\n", json_is_array(q) ? json_array_size(q) : (size_t)0);
	printf("running job: %s\n", s.running_job_id[0] ? s.running_job_id : "none");
	printf("schedule version: %lld\n", (long long)s.schedule_version);
	printf("next event seq: %lld\n", (long long)s.next_event_seq);
	printf("last command seq: %lld\n", (long long)s.last_command_seq);
	spool_release(&sp);
	json_decref(q);
	return 0;
}

int main(int argc, char **argv)
{
	struct agent_opts o;
	const char *cmd = NULL, *verb = NULL, *level = getenv("RM_LOG_LEVEL");
	enum log_level lv = LOG_LEVEL_INFO;
	int rc;

	memset(&o, 0, sizeof(o));
	util_strlcpy(o.config_dir, plat_default_config_dir(), sizeof(o.config_dir));
	util_strlcpy(o.state_dir, plat_default_state_dir(), sizeof(o.state_dir));
	if (getenv("RM_SERVER"))
		util_strlcpy(o.server, getenv("RM_SERVER"), sizeof(o.server));
	if (getenv("RM_ENROL_TOKEN"))
		util_strlcpy(o.token, getenv("RM_ENROL_TOKEN"), sizeof(o.token));
	if (parse_args(argc, argv, &o, &cmd, &verb, &level) < 0)
		return 2;
	if (level && log_parse_level(level, &lv) < 0) {
		fprintf(stderr, "restic-manager-agent: bad log level '%s'\n", level);
		return 2;
	}
	log_init(lv, LOG_FORMAT_TEXT, "restic-manager-agent");
	if (!cmd || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		printf(usage, plat_default_config_dir(), plat_default_state_dir());
		return cmd ? 0 : 2;
	}
	if (strcmp(cmd, "--version") == 0) {
		version_print("restic-manager-agent");
		return 0;
	}
	if (strcmp(cmd, "enroll") == 0)
		rc = agent_cmd_enroll(&o);
	else if (strcmp(cmd, "run") == 0)
		rc = agent_cmd_run(&o);
	else if (strcmp(cmd, "status") == 0)
		rc = agent_cmd_status(&o);
	else if (strcmp(cmd, "service") == 0)
		rc = agent_cmd_service(&o, verb);
	else {
		fprintf(stderr, "restic-manager-agent: unknown command '%s' (see --help)\n", cmd);
		rc = 2;
	}
	plat_memzero(o.token, sizeof(o.token));
	return rc;
}

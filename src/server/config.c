/*
 * config.c — the server's option table (DESIGN.md §4) and its parser.
 * Runs once on the main thread before the event loop starts.  Adding an
 * option is adding a row to config_options[] and a case to config_apply().
 */
#include "server/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "common/version.h"

enum config_key {
	CK_LISTEN,
	CK_DATA_DIR,
	CK_BUNDLED,
	CK_BASE_URL,
	CK_TRUSTED_PROXY,
	CK_COOKIE_SECURE,
	CK_METRICS_TOKEN,
	CK_METRICS_CIDR,
	CK_LOG_LEVEL,
	CK_LOG_FORMAT,
	CK_SECRET_KEY_FILE,
	CK_READY_FILE,
	CK_WORKERS,
};

struct config_option {
	enum config_key key;
	const char *env;  /* NULL: flag only */
	const char *flag; /* without the leading "--" */
	const char *def;
	const char *help;
	bool secret; /* never echoed back in errors */
};

static const struct config_option config_options[] = {
	{CK_LISTEN, "RM_LISTEN", "listen", ":8080", "address:port to listen on (port 0 = any free port)", false},
	{CK_DATA_DIR, "RM_DATA_DIR", "data-dir", "/var/lib/restic-manager", "operator state: database, keys, audit trail", false},
	{CK_BUNDLED, "RM_BUNDLED_ASSETS_DIR", "bundled-assets-dir", "/opt/restic-manager/dist", "agent binaries and install scripts shipped with the server (fallback after the data dir)", false},
	{CK_BASE_URL, "RM_BASE_URL", "base-url", "", "public URL of this server, used in install commands and links (default http://<listen>)", false},
	{CK_TRUSTED_PROXY, "RM_TRUSTED_PROXY", "trusted-proxy", "", "comma-separated CIDRs whose X-Forwarded-For/-Proto headers are believed", false},
	{CK_COOKIE_SECURE, "RM_COOKIE_SECURE", "cookie-secure", "true", "mark the session cookie Secure (set false for plain-http development)", false},
	{CK_METRICS_TOKEN, "RM_METRICS_TOKEN", "metrics-token", "", "bearer token for /metrics (metrics are off unless this or the CIDR is set)", true},
	{CK_METRICS_CIDR, "RM_METRICS_TRUSTED_CIDR", "metrics-trusted-cidr", "", "comma-separated CIDRs allowed to scrape /metrics without a token", false},
	{CK_LOG_LEVEL, "RM_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", false},
	{CK_LOG_FORMAT, "RM_LOG_FORMAT", "log-format", "text", "text or json (one JSON object per line)", false},
	{CK_SECRET_KEY_FILE, "RM_SECRET_KEY_FILE", "secret-key-file", "", "32-byte master key (default $RM_DATA_DIR/secret.key)", false},
	{CK_READY_FILE, "RM_READY_FILE", "ready-file", "", "write the bound address here once started (for tests and supervisors)", false},
	{CK_WORKERS, "RM_WORKERS", "workers", "2", "worker threads for blocking work (password hashing, exports), 1-64", false},
};

void config_print_help(const char *program)
{
	printf("usage: %s [serve] [options]\n"
	       "       %s audit verify [--data-dir DIR]\n"
	       "       %s --version | --help\n\n"
	       "The restic-manager control plane.  Every option can also be set by its\n"
	       "environment variable; flags win over the environment.\n\noptions:\n",
	       program, program, program);
	for (size_t i = 0; i < ARRAY_LEN(config_options); i++) {
		const struct config_option *o = &config_options[i];
		printf("  --%-22s %-24s %s", o->flag, o->env ? o->env : "", o->help);
		if (o->def[0])
			printf(" [default: %s]", o->def);
		printf("\n");
	}
	printf("  --%-22s %-24s %s\n  --%-22s %-24s %s\n", "help", "", "show this help", "version", "",
	       "print version, commit and build date");
	printf("  --%-22s %-24s %s\n", "help-markdown", "", "print this table as Markdown (docs/configuration.md)");
}

void config_print_markdown(void)
{
	printf("| Environment | Flag | Default | Meaning |\n|---|---|---|---|\n");
	for (size_t i = 0; i < ARRAY_LEN(config_options); i++) {
		const struct config_option *o = &config_options[i];
		printf("| %s%s%s | `--%s` | %s%s%s | ", o->env ? "`" : "", o->env ? o->env : "—", o->env ? "`" : "",
		       o->flag, o->def[0] ? "`" : "", o->def[0] ? o->def : "(empty)", o->def[0] ? "`" : "");
		for (const char *p = o->help; *p; p++) { /* '|' would end the cell, '<' start HTML */
			if (*p == '|' || *p == '<' || *p == '>')
				printf("\\%c", *p);
			else
				putchar(*p);
		}
		printf(" |\n");
	}
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_one_cidr(char *s, struct cidr *c)
{
	char *slash = strchr(s, '/');
	int64_t prefix;
	int maxp;

	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, s, c->addr) == 1) {
		c->family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, s, c->addr) == 1) {
		c->family = AF_INET6;
		maxp = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		if (util_parse_i64(slash + 1, 0, maxp, &prefix) < 0)
			return -EINVAL;
		c->prefix = (int)prefix;
	} else {
		c->prefix = maxp;
	}
	return 0;
}

int config_parse_cidrs(const char *s, struct cidr *out, size_t max)
{
	char buf[2048];
	char *save = NULL, *tok;
	size_t n = 0;

	if (util_strlcpy(buf, s, sizeof(buf)) < 0)
		return -EINVAL;
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (n == max || parse_one_cidr(tok, &out[n]) < 0)
			return -EINVAL;
		n++;
	}
	return (int)n;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int full = bits / 8, rem = bits % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return false;
	if (rem == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rem));
	return (a[full] & mask) == (b[full] & mask);
}

bool config_cidr_match(const struct cidr *cidrs, size_t n, const char *addr)
{
	unsigned char a4[4], a6[16];
	bool is4 = inet_pton(AF_INET, addr, a4) == 1;
	bool is6 = !is4 && inet_pton(AF_INET6, addr, a6) == 1;

	/* IPv4-mapped IPv6 (::ffff:a.b.c.d) matches IPv4 CIDRs. */
	if (is6 && memcmp(a6, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memcpy(a4, a6 + 12, 4);
		is4 = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (cidrs[i].family == AF_INET && is4 && prefix_match(cidrs[i].addr, a4, cidrs[i].prefix))
			return true;
		if (cidrs[i].family == AF_INET6 && is6 && prefix_match(cidrs[i].addr, a6, cidrs[i].prefix))
			return true;
	}
	return false;
}

static int parse_listen(const char *v, struct config *cfg)
{
	const char *colon;
	int64_t port;
	size_t hlen;

	if (v[0] == '[') { /* [v6]:port */
		const char *close = strchr(v, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		hlen = (size_t)(close - v - 1);
		if (hlen >= sizeof(cfg->listen_host))
			return -EINVAL;
		memcpy(cfg->listen_host, v + 1, hlen);
		cfg->listen_host[hlen] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon)
			return -EINVAL;
		hlen = (size_t)(colon - v);
		if (hlen >= sizeof(cfg->listen_host))
			return -EINVAL;
		memcpy(cfg->listen_host, v, hlen);
		cfg->listen_host[hlen] = '\0';
	}
	if (cfg->listen_host[0] == '\0')
		util_strlcpy(cfg->listen_host, "0.0.0.0", sizeof(cfg->listen_host));
	if (util_parse_i64(colon + 1, 0, 65535, &port) < 0)
		return -EINVAL;
	cfg->listen_port = (int)port;
	return 0;
}

static int path_set(char *dst, size_t cap, const char *v)
{
	return util_strlcpy(dst, v, cap) < 0 ? -EINVAL : 0;
}

static int config_apply(struct config *cfg, const struct config_option *o, const char *v)
{
	int64_t n;
	int r;

	switch (o->key) {
	case CK_LISTEN:
		return parse_listen(v, cfg);
	case CK_DATA_DIR:
		return v[0] ? path_set(cfg->data_dir, sizeof(cfg->data_dir), v) : -EINVAL;
	case CK_BUNDLED:
		return path_set(cfg->bundled_assets_dir, sizeof(cfg->bundled_assets_dir), v);
	case CK_BASE_URL:
		if (v[0] && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
			return -EINVAL;
		r = path_set(cfg->base_url, sizeof(cfg->base_url), v);
		/* strip trailing slashes so links can be joined with "/..." */
		for (size_t l = strlen(cfg->base_url); l > 0 && cfg->base_url[l - 1] == '/'; l--)
			cfg->base_url[l - 1] = '\0';
		return r;
	case CK_TRUSTED_PROXY:
		r = config_parse_cidrs(v, cfg->trusted_proxy, CONFIG_MAX_CIDRS);
		if (r < 0)
			return r;
		cfg->n_trusted_proxy = (size_t)r;
		return 0;
	case CK_COOKIE_SECURE:
		return parse_bool(v, &cfg->cookie_secure);
	case CK_METRICS_TOKEN:
		if (v[0] && strlen(v) < 16)
			return -EINVAL;
		return path_set(cfg->metrics_token, sizeof(cfg->metrics_token), v);
	case CK_METRICS_CIDR:
		r = config_parse_cidrs(v, cfg->metrics_cidr, CONFIG_MAX_CIDRS);
		if (r < 0)
			return r;
		cfg->n_metrics_cidr = (size_t)r;
		return 0;
	case CK_LOG_LEVEL:
		return log_parse_level(v, &cfg->log_level);
	case CK_LOG_FORMAT:
		return log_parse_format(v, &cfg->log_format);
	case CK_SECRET_KEY_FILE:
		return path_set(cfg->secret_key_file, sizeof(cfg->secret_key_file), v);
	case CK_READY_FILE:
		return path_set(cfg->ready_file, sizeof(cfg->ready_file), v);
	case CK_WORKERS:
		if (util_parse_i64(v, 1, 64, &n) < 0)
			return -EINVAL;
		cfg->workers = (int)n;
		return 0;
	}
	return -EINVAL;
}

static void config_error(const struct config_option *o, const char *v, bool from_flag)
{
	fprintf(stderr, "restic-manager-server: invalid value %s%s%s for %s%s: %s\n",
		o->secret ? "" : "'", o->secret ? "(hidden)" : v, o->secret ? "" : "'",
		from_flag ? "--" : "", from_flag ? o->flag : o->env, o->help);
}

enum config_result config_load(struct config *cfg, int argc, char **argv, int first)
{
	memset(cfg, 0, sizeof(*cfg));
	/* 1. defaults, 2. environment */
	for (size_t i = 0; i < ARRAY_LEN(config_options); i++) {
		const struct config_option *o = &config_options[i];
		const char *env = o->env ? getenv(o->env) : NULL;
		if (config_apply(cfg, o, o->def) < 0 && o->def[0]) {
			config_error(o, o->def, false);
			return CONFIG_ERROR;
		}
		if (env && config_apply(cfg, o, env) < 0) {
			config_error(o, env, false);
			return CONFIG_ERROR;
		}
	}
	/* 3. flags: --name value or --name=value */
	for (int i = first; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const struct config_option *o = NULL;
		size_t nlen;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			config_print_help("restic-manager-server");
			return CONFIG_EXIT_OK;
		}
		if (!strcmp(a, "--help-markdown")) {
			config_print_markdown();
			return CONFIG_EXIT_OK;
		}
		if (!strcmp(a, "--version")) {
			version_print("restic-manager-server");
			return CONFIG_EXIT_OK;
		}
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "restic-manager-server: unexpected argument '%s' (see --help)\n", a);
			return CONFIG_ERROR;
		}
		a += 2;
		nlen = strcspn(a, "=");
		for (size_t k = 0; k < ARRAY_LEN(config_options); k++)
			if (strlen(config_options[k].flag) == nlen && !strncmp(config_options[k].flag, a, nlen))
				o = &config_options[k];
		if (!o) {
			fprintf(stderr, "restic-manager-server: unknown option '--%.*s' (see --help)\n", (int)nlen, a);
			return CONFIG_ERROR;
		}
		if (a[nlen] == '=')
			val = a + nlen + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			fprintf(stderr, "restic-manager-server: option '--%s' needs a value\n", o->flag);
			return CONFIG_ERROR;
		}
		if (config_apply(cfg, o, val) < 0) {
			config_error(o, val, true);
			return CONFIG_ERROR;
		}
	}
	if (!cfg->secret_key_file[0] &&
	    snprintf(cfg->secret_key_file, sizeof(cfg->secret_key_file), "%s/secret.key", cfg->data_dir) >=
		    (int)sizeof(cfg->secret_key_file)) {
		fprintf(stderr, "restic-manager-server: RM_DATA_DIR is too long\n");
		return CONFIG_ERROR;
	}
	return CONFIG_OK;
}

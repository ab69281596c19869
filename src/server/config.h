/*
 * config.h — server configuration (DESIGN.md §4).  Every option is one row of
 * the table in config.c: environment variable, --flag, default, help.  Flags
 * override the environment, which overrides the default.  Validation happens
 * once at start; an invalid value is a startup error naming the variable.
 */
#ifndef RM_SERVER_CONFIG_H
#define RM_SERVER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

#define CONFIG_MAX_CIDRS 16

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

struct config {
	char listen_host[256];
	int listen_port;
	char data_dir[1024];
	char bundled_assets_dir[1024];
	char base_url[1024];
	struct cidr trusted_proxy[CONFIG_MAX_CIDRS];
	size_t n_trusted_proxy;
	bool cookie_secure;
	char metrics_token[256];
	struct cidr metrics_cidr[CONFIG_MAX_CIDRS];
	size_t n_metrics_cidr;
	enum log_level log_level;
	enum log_format log_format;
	char secret_key_file[1024];
	char ready_file[1024];
	int workers;
};

enum config_result { CONFIG_OK = 0, CONFIG_EXIT_OK, CONFIG_ERROR };

/* Parse environment then argv (starting after the command word at argv[first]).
 * --help / --version print and return CONFIG_EXIT_OK.  On error, prints a
 * message to stderr naming the variable and returns CONFIG_ERROR. */
enum config_result config_load(struct config *cfg, int argc, char **argv, int first);

/* Print the option table (used by --help and docs/configuration.md generation). */
void config_print_help(const char *program);

/* Print the option table as a Markdown table (--help-markdown; the generated
 * block of docs/configuration.md). */
void config_print_markdown(void);

/* Parse "a.b.c.d/n, ::1/128" into out[]. Return count or -EINVAL. */
int config_parse_cidrs(const char *s, struct cidr *out, size_t max);

/* True when the textual address addr is inside one of cidrs. */
bool config_cidr_match(const struct cidr *cidrs, size_t n, const char *addr);

#endif

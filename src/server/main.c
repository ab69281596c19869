/*
 * main.c — restic-manager-server: parse configuration, prepare the data
 * directory, open secrets and store, then run one libevent loop that serves
 * HTTP and drives timers and signals (docs/ARCHITECTURE.md, "Concurrency").
 * Subcommands: serve (default), audit verify.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "common/version.h"
#include "server/agentd.h"
#include "server/alerts.h"
#include "server/notify.h"
#include "server/maintenance.h"
#include "server/metrics.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/sse.h"
#include "server/store.h"
#include "server/store_checkpoint.h"
#include "server/workers.h"

#define SHUTDOWN_GRACE_SECONDS 5

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise open-file limit");
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_info("open-file limit %llu", (unsigned long long)rl.rlim_cur);
}

static int prepare_data_dir(const char *dir)
{
	struct stat st;
	int r = util_mkdir_p(dir, 0700);
	if (r < 0) {
		log_error("cannot create data directory '%s': %s", dir, strerror(-r));
		return r;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		log_error("data directory '%s' is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_mode & 0077)
		log_warnx("data directory '%s' is accessible by group or others (mode %04o); consider chmod 700",
			  dir, (unsigned)(st.st_mode & 07777));
	return 0;
}

static struct event *drain_timer;
static int64_t drain_deadline_ms;

/* Poll (every 50 ms) until queued worker jobs have completed or the grace
 * period is over, then leave the loop. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	(void)fd;
	(void)what;
	if (workers_pending(srv->workers) == 0 || util_now_ms() >= drain_deadline_ms)
		event_base_loopexit(srv->base, NULL);
}

static void on_shutdown_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval tick = {0, 50000};

	(void)what;
	if (srv->draining) {
		log_info("second signal: exiting now");
		event_base_loopbreak(srv->base);
		return;
	}
	log_info("received %s: draining and shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	srv->draining = true;
	agentd_drain(srv);
	sse_drain(srv);
	/* Held long-polls and SSE streams are closed by their owners' shutdown
	 * hooks; in-flight worker jobs get a short grace period. */
	drain_deadline_ms = util_now_ms() + SHUTDOWN_GRACE_SECONDS * 1000;
	drain_timer = event_new(srv->base, -1, EV_PERSIST, on_drain_tick, srv);
	if (!drain_timer || event_add(drain_timer, &tick) < 0)
		event_base_loopexit(srv->base, NULL);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	(void)sig;
	(void)what;
	/* The one file the server keeps open for appending is the audit trail's
	 * month file: reopening it lets an operator move (archive) it while the
	 * server runs; the chain continues in a fresh file (audit.c).  Logs go to
	 * stderr, whose rotation belongs to the supervisor (journald, docker), so
	 * there is nothing else to reopen. */
	audit_reopen(srv->audit);
	log_info("SIGHUP: reopened the audit file");
}

static int listen_http(struct server *srv)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int port;

	bs = evhttp_bind_socket_with_handle(srv->http, srv->cfg.listen_host, (ev_uint16_t)srv->cfg.listen_port);
	if (!bs) {
		log_error("cannot listen on '%s:%d': %s", srv->cfg.listen_host, srv->cfg.listen_port, strerror(errno));
		return -EADDRINUSE;
	}
	/* Accepted sockets inherit TCP_NODELAY: without it a reply written as
	 * headers + body waits ~40 ms for the client's delayed ACK (Nagle). */
	{
		int one = 1;
		if (setsockopt(evhttp_bound_socket_get_fd(bs), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
			log_warn("cannot set TCP_NODELAY on the listener");
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) < 0) {
		log_warn("cannot read bound address");
		return -errno;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(srv->bound_addr, sizeof(srv->bound_addr), "[%s]:%d", host, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(srv->bound_addr, sizeof(srv->bound_addr), "%s:%d", host, port);
	}
	if (!srv->cfg.base_url[0])
		snprintf(srv->cfg.base_url, sizeof(srv->cfg.base_url), "http://%s", srv->bound_addr);
	log_info("listening on %s (base URL %s)", srv->bound_addr, srv->cfg.base_url);
	return 0;
}

/* The ready file is the last step of start-up: whoever waits for it (tests,
 * service managers) may rely on everything start-up logs or stores, e.g. the
 * bootstrap URL, being there already. */
static int write_ready_file(struct server *srv)
{
	char line[320];
	int n, r;

	if (!srv->cfg.ready_file[0])
		return 0;
	n = snprintf(line, sizeof(line), "%s\n", srv->bound_addr);
	r = util_write_file_atomic(srv->cfg.ready_file, line, (size_t)n, 0644);
	if (r < 0)
		log_error("cannot write ready file '%s': %s", srv->cfg.ready_file, strerror(-r));
	return r;
}

static int serve(struct server *srv)
{
	char err[512] = "";
	char dbpath[1100];
	struct event *ev_term = NULL, *ev_int = NULL, *ev_hup = NULL;
	int r, rc = 1;

	log_info("restic-manager-server %s (commit %s, built %s) starting", rm_version, rm_commit, rm_date);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	umask(077); /* everything the server writes is operator state */
	if (prepare_data_dir(srv->cfg.data_dir) < 0)
		return 1;
	r = secrets_open(srv->cfg.secret_key_file, srv->cfg.data_dir, &srv->secrets, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/restic-manager.db", srv->cfg.data_dir);
	r = store_open(dbpath, &srv->store, err, sizeof(err));
	if (r < 0) {
		log_error("%s", err[0] ? err : "cannot open database");
		goto out;
	}
	r = audit_open(srv->cfg.data_dir, &srv->audit);
	if (r < 0) {
		log_error("cannot open audit trail in '%s/audit': %s", srv->cfg.data_dir, strerror(-r));
		goto out;
	}
	if (audit_check_anchor(srv) < 0)
		log_warnx("cannot compare the audit trail with the head recorded in the database");
	if (evthread_use_pthreads() < 0) {
		log_error("cannot enable libevent threading");
		goto out;
	}
	srv->base = event_base_new();
	srv->http = srv->base ? evhttp_new(srv->base) : NULL;
	if (!srv->http) {
		log_error("cannot create event loop");
		goto out;
	}
	if (workers_new(srv->base, srv->cfg.workers, &srv->workers) < 0) {
		log_error("cannot start worker threads");
		goto out;
	}
	if (store_checkpoint_start(srv->store, dbpath, srv->workers, &srv->ckpt) < 0)
		goto out;
	http_setup(srv, srv->http);
	/* Signals before the ready file is written: a SIGTERM sent right after
	 * readiness must drain, not kill the process. */
	ev_term = evsignal_new(srv->base, SIGTERM, on_shutdown_signal, srv);
	ev_int = evsignal_new(srv->base, SIGINT, on_shutdown_signal, srv);
	ev_hup = evsignal_new(srv->base, SIGHUP, on_sighup, srv);
	if (!ev_term || !ev_int || !ev_hup || evsignal_add(ev_term, NULL) < 0 || evsignal_add(ev_int, NULL) < 0 ||
	    evsignal_add(ev_hup, NULL) < 0) {
		log_error("cannot install signal handlers");
		goto out;
	}
	/* Module start hooks (audit, users/bootstrap, agents, scheduler) go here. */
	if (metrics_start(srv) < 0 || agentd_start(srv) < 0 || sse_start(srv) < 0 || maintenance_start(srv) < 0 ||
	    notify_start(srv) < 0 || alerts_start(srv) < 0)
		goto out;
	if (listen_http(srv) < 0)
		goto out;
	if (auth_start(srv) < 0) /* after listen: the bootstrap URL needs the base URL */
		goto out;
	audit_log_actor(srv, "system", NULL, "server.start", NULL, "ok",
			json_pack("{s:s,s:s}", "version", rm_version, "listen", srv->bound_addr));
	if (write_ready_file(srv) < 0)
		goto out;
	event_base_dispatch(srv->base);
	audit_log_actor(srv, "system", NULL, "server.stop", NULL, "ok", NULL);
	log_info("shut down cleanly");
	rc = 0;
out:
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	if (ev_hup)
		event_free(ev_hup);
	if (drain_timer)
		event_free(drain_timer);
	/* Module stop hooks go here, in reverse order of start. */
	alerts_stop(srv);
	maintenance_stop(srv);
	sse_stop(srv);   /* before evhttp_free: streams own requests */
	agentd_stop(srv);
	store_checkpoint_stop(srv->store, srv->ckpt); /* before workers_free: queues no more work */
	workers_free(srv->workers); /* runs pending done() callbacks, which may still use auth state */
	store_checkpoint_free(srv->ckpt);
	metrics_stop(srv); /* after workers_free: no metrics build is running */
	notify_stop(srv); /* after workers_free: its done() callbacks use the queue */
	auth_stop(srv);
	audit_close(srv->audit); /* before the base: it owns a timer */
	srv->audit = NULL;
	if (srv->http)
		evhttp_free(srv->http);
	if (srv->base)
		event_base_free(srv->base);
	store_close(srv->store);
	secrets_free(srv->secrets);
	return rc;
}

int main(int argc, char **argv)
{
	static struct server srv;
	int first = 1;
	enum config_result cr;

	if (argc > 1 && !strcmp(argv[1], "audit")) {
		if (argc < 3 || strcmp(argv[2], "verify") != 0) {
			fprintf(stderr, "usage: restic-manager-server audit verify [--data-dir DIR]\n");
			return 2;
		}
		/* RM_DATA_DIR and --data-dir are read by the common option parser. */
		cr = config_load(&srv.cfg, argc, argv, 3);
		if (cr != CONFIG_OK)
			return cr == CONFIG_EXIT_OK ? 0 : 2;
		return audit_verify_main(srv.cfg.data_dir);
	}
	if (argc > 1 && !strcmp(argv[1], "serve"))
		first = 2;
	cr = config_load(&srv.cfg, argc, argv, first);
	if (cr == CONFIG_EXIT_OK)
		return 0;
	if (cr == CONFIG_ERROR)
		return 2;
	log_init(srv.cfg.log_level, srv.cfg.log_format, "restic-manager-server");
	return serve(&srv);
}

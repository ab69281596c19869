/*
 * notify.c — alert notifications over webhook, ntfy and SMTP (see notify.h).
 *
 * Loop thread: building messages (channel rows, unsealed secrets), the queue
 * and its pump timer, recording outcomes.  Worker thread: notify_work() only,
 * which touches nothing but its own struct notify_msg and libcurl (an easy
 * handle per transfer, CURLOPT_NOSIGNAL; curl_global_init ran at start).
 *
 * Queue: durable rows (notification_pending, written in the transaction
 * that opens or resolves the alert) mirrored by an in-memory FIFO of built
 * messages, each with a due time (a retry waits for its backoff there).  A
 * row goes when its outcome is recorded in the delivery log (same
 * transaction); a retry stores its attempt count; at start the rows left by
 * the last run are rebuilt and sent.  A crash between a transfer and its
 * record may send that one message twice (at least once, never lost).
 * A 1 s timer (and every enqueue / completion) starts the next due message
 * while fewer than NOTIFY_INFLIGHT run.  Tests are sent outside the queue
 * (one attempt, the admin waits for the answer).
 */
#include "server/notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_alerts.h"
#include "server/workers.h"

#define NOTIFY_CONNECT_TIMEOUT 5L
#define NOTIFY_TOTAL_TIMEOUT   10L /* also bounds shutdown: workers_free waits for it */
#define NOTIFY_RESPONSE_MAX    (64 * 1024)
#define NOTIFY_BACKOFF_MS      5000 /* first retry; the second waits 6x as long */

struct notify_msg {
	struct notify_msg *next;
	struct server *srv;
	int64_t channel_id, alert_id;
	int64_t row_id; /* notification_pending row; 0 = a test */
	char event[16]; /* opened | resolved | test */
	char kind[16];  /* webhook | ntfy | smtp */
	int64_t due_ms;
	/* the request */
	char *url;
	char *body;
	size_t body_len, body_off;
	char *bearer;                  /* secret or NULL */
	char *hdr_name;                /* custom header name or NULL */
	char *hdr_value;               /* secret or NULL */
	char *title, *priority, *tags; /* ntfy */
	char *smtp_user, *smtp_pass;   /* smtp; pass is secret */
	char *mail_from;
	json_t *rcpt; /* smtp recipients (array of strings) */
	bool starttls;
	/* the outcome */
	bool retryable;
	size_t received;
	struct notify_result res;
	void (*test_done)(struct server *srv, void *arg, const struct notify_result *r);
	void *test_arg;
};

static struct {
	struct notify_msg *head, *tail;
	size_t queued;
	size_t dropped; /* in the current overflow episode (logged once) */
	int inflight;
	int64_t backoff_ms;
	struct event *pump;
	bool started;
} nq;

static void wipe_str(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

static void msg_free(struct notify_msg *m)
{
	if (!m)
		return;
	free(m->url);
	if (m->body)
		explicit_bzero(m->body, m->body_len);
	free(m->body);
	wipe_str(&m->bearer);
	free(m->hdr_name);
	wipe_str(&m->hdr_value);
	free(m->title);
	free(m->priority);
	free(m->tags);
	free(m->smtp_user);
	wipe_str(&m->smtp_pass);
	free(m->mail_from);
	json_decref(m->rcpt);
	free(m);
}

/* ---- worker side ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct notify_msg *m = arg;
	(void)ptr;
	m->received += size * nmemb;
	return m->received > NOTIFY_RESPONSE_MAX ? 0 : size * nmemb; /* cap: abort the transfer */
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct notify_msg *m = arg;
	size_t room = size * nitems, left = m->body_len - m->body_off;
	size_t n = left < room ? left : room;
	memcpy(buf, m->body + m->body_off, n);
	m->body_off += n;
	return n;
}

/* Header line "Name: value" into a list (value already free of CR/LF). */
static struct curl_slist *hdr_add(struct curl_slist *l, const char *name, const char *value, bool *oom)
{
	size_t len = strlen(name) + strlen(value) + 3;
	char *line = malloc(len);
	struct curl_slist *n;
	if (!line) {
		*oom = true;
		return l;
	}
	snprintf(line, len, "%s: %s", name, value);
	n = curl_slist_append(l, line);
	explicit_bzero(line, len);
	free(line);
	if (!n) {
		*oom = true;
		return l;
	}
	return n;
}

/* Distribution CA bundles, for a libcurl built without a default (the static
 * server's curl over mbedTLS has none compiled in). */
static const char *const ca_bundles[] = {
    "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine, distroless */
    "/etc/pki/tls/certs/ca-bundle.crt",   /* RHEL, Fedora */
    "/etc/ssl/ca-bundle.pem",             /* SUSE */
    "/etc/ssl/cert.pem",
};

static void set_ca(CURL *h)
{
	char *def = NULL;
	if (curl_easy_getinfo(h, CURLINFO_CAINFO, &def) == CURLE_OK && def)
		return;
	for (size_t i = 0; i < ARRAY_LEN(ca_bundles); i++) {
		FILE *f = fopen(ca_bundles[i], "re");
		if (f) {
			fclose(f);
			curl_easy_setopt(h, CURLOPT_CAINFO, ca_bundles[i]);
			return;
		}
	}
}

static void notify_work(void *arg)
{
	struct notify_msg *m = arg;
	struct curl_slist *hdrs = NULL, *rcpt = NULL;
	char errbuf[CURL_ERROR_SIZE];
	bool oom = false, smtp = strcmp(m->kind, "smtp") == 0;
	long code = 0;
	CURLcode rc;
	CURL *h;

	m->res.attempts++;
	m->res.ok = false;
	m->res.status_code = 0;
	m->res.error[0] = '\0';
	m->retryable = false;
	m->received = 0;
	m->body_off = 0;
	errbuf[0] = '\0';
	h = curl_easy_init();
	if (!h) {
		util_strlcpy(m->res.error, "cannot start a transfer (out of memory)", sizeof(m->res.error));
		m->retryable = true;
		return;
	}
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_URL, m->url);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, NOTIFY_CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, NOTIFY_TOTAL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, m);
	set_ca(h);
	if (smtp) {
		size_t i;
		json_t *v;
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		curl_easy_setopt(h, CURLOPT_USE_SSL, m->starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_NONE);
		if (m->smtp_user && m->smtp_user[0]) {
			curl_easy_setopt(h, CURLOPT_USERNAME, m->smtp_user);
			curl_easy_setopt(h, CURLOPT_PASSWORD, m->smtp_pass ? m->smtp_pass : "");
		}
		curl_easy_setopt(h, CURLOPT_MAIL_FROM, m->mail_from);
		json_array_foreach(m->rcpt, i, v)
		{
			struct curl_slist *n = curl_slist_append(rcpt, json_string_value(v));
			if (!n)
				oom = true;
			else
				rcpt = n;
		}
		curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, m);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->body_len);
	} else {
		curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, m->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)m->body_len);
		curl_easy_setopt(h, CURLOPT_USERAGENT, "restic-manager/" RM_VERSION);
		hdrs =
		    hdr_add(hdrs, "Content-Type",
		            strcmp(m->kind, "webhook") == 0 ? "application/json" : "text/plain; charset=utf-8", &oom);
		hdrs = hdr_add(hdrs, "Expect", "", &oom);
		if (m->bearer) {
			size_t len = strlen(m->bearer) + 8;
			char *v = malloc(len);
			if (v) {
				snprintf(v, len, "Bearer %s", m->bearer);
				hdrs = hdr_add(hdrs, "Authorization", v, &oom);
				explicit_bzero(v, len);
				free(v);
			} else {
				oom = true;
			}
		}
		if (m->hdr_name && m->hdr_value)
			hdrs = hdr_add(hdrs, m->hdr_name, m->hdr_value, &oom);
		if (m->title)
			hdrs = hdr_add(hdrs, "Title", m->title, &oom);
		if (m->priority)
			hdrs = hdr_add(hdrs, "Priority", m->priority, &oom);
		if (m->tags)
			hdrs = hdr_add(hdrs, "Tags", m->tags, &oom);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	}
	if (oom) {
		util_strlcpy(m->res.error, "cannot build the request (out of memory)", sizeof(m->res.error));
		m->retryable = true;
		goto out;
	}
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	m->res.status_code = code;
	if (smtp) {
		if (rc == CURLE_OK) {
			m->res.ok = true;
		} else {
			snprintf(m->res.error, sizeof(m->res.error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
			/* 4xx replies are transient in SMTP; 5xx are not; no reply: transport */
			m->retryable = code == 0 || (code >= 400 && code < 500);
		}
	} else if ((rc == CURLE_OK || rc == CURLE_WRITE_ERROR) && code >= 200 && code < 300) {
		m->res.ok = true; /* an oversized answer to a 2xx is still a delivery */
	} else if (rc == CURLE_OK) {
		snprintf(m->res.error, sizeof(m->res.error), "HTTP %ld", code);
		m->retryable = code == 408 || code == 429 || code >= 500;
	} else {
		snprintf(m->res.error, sizeof(m->res.error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		m->retryable = rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT;
	}
out:
	curl_slist_free_all(hdrs);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(h);
}

/* ---- loop side: outcomes and the queue ---- */

static void record(struct notify_msg *m, const char *outcome)
{
	struct store_delivery d;
	struct server *srv = m->srv;

	memset(&d, 0, sizeof(d));
	d.channel_id = m->channel_id;
	d.alert_id = m->alert_id;
	util_strlcpy(d.event, m->event, sizeof(d.event));
	util_strlcpy(d.outcome, outcome, sizeof(d.outcome));
	d.at = util_now();
	d.attempts = m->res.attempts;
	d.http_status = m->res.status_code;
	util_strlcpy(d.error, m->res.error, sizeof(d.error));
	/* the channel may have been deleted meanwhile: its rows went with it */
	store_begin(srv->store);
	if (store_delivery_insert(srv->store, &d) == 0)
		store_delivery_trim(srv->store, m->channel_id, NOTIFY_LOG_KEEP);
	if (m->row_id)
		store_pending_delete(srv->store, m->row_id);
	if (store_commit(srv->store) < 0)
		log_warnx("cannot record the notification outcome for channel %lld", (long long)m->channel_id);
	if (strcmp(outcome, "dropped") == 0) {
		if (nq.dropped++ == 0)
			log_warnx(
			    "the notification queue is full (%d messages): notifications are dropped until it drains",
			    NOTIFY_QUEUE_MAX);
	} else if (strcmp(outcome, "ok") != 0)
		log_warnx("notification to channel %lld (%s, alert %lld %s) %s after %d attempt(s): %s",
		          (long long)m->channel_id, m->kind, (long long)m->alert_id, m->event, outcome, m->res.attempts,
		          m->res.error);
	else
		log_info("notification to channel %lld (%s, alert %lld %s) delivered", (long long)m->channel_id,
		         m->kind, (long long)m->alert_id, m->event);
}

static void pump_now(void)
{
	if (nq.pump)
		event_active(nq.pump, EV_TIMEOUT, 0);
}

static void queue_push(struct notify_msg *m)
{
	m->next = NULL;
	if (nq.tail)
		nq.tail->next = m;
	else
		nq.head = m;
	nq.tail = m;
	nq.queued++;
}

static void test_done(void *arg)
{
	struct notify_msg *m = arg;
	record(m, m->res.ok ? "ok" : "failed");
	m->test_done(m->srv, m->test_arg, &m->res);
	msg_free(m);
}

static void notify_done(void *arg)
{
	struct notify_msg *m = arg;

	nq.inflight--;
	if (!m->res.ok && m->retryable && m->res.attempts < NOTIFY_ATTEMPTS && nq.started && !m->srv->draining) {
		m->due_ms = util_now_ms() + nq.backoff_ms * (m->res.attempts == 1 ? 1 : 6);
		if (m->row_id)
			store_pending_set_attempts(m->srv->store, m->row_id, m->res.attempts);
		queue_push(m);
	} else if (!m->res.ok && m->retryable && m->res.attempts < NOTIFY_ATTEMPTS) {
		/* shutting down: the row keeps it for the next start */
		if (m->row_id)
			store_pending_set_attempts(m->srv->store, m->row_id, m->res.attempts);
		msg_free(m);
	} else {
		record(m, m->res.ok ? "ok" : "failed");
		msg_free(m);
	}
	pump_now();
}

static void on_pump(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	int64_t now = util_now_ms();

	(void)fd;
	(void)what;
	while (nq.inflight < NOTIFY_INFLIGHT && !srv->draining) {
		struct notify_msg *m, *prev = NULL;
		for (m = nq.head; m && m->due_ms > now; m = m->next)
			prev = m;
		if (!m)
			return;
		if (nq.queued < NOTIFY_QUEUE_MAX / 2)
			nq.dropped = 0; /* the episode is over: log the next one */
		if (prev)
			prev->next = m->next;
		else
			nq.head = m->next;
		if (nq.tail == m)
			nq.tail = prev;
		nq.queued--;
		nq.inflight++;
		if (workers_submit(srv->workers, notify_work, notify_done, m) < 0) {
			nq.inflight--;
			util_strlcpy(m->res.error, "the worker pool refused the transfer", sizeof(m->res.error));
			record(m, "failed");
			msg_free(m);
		}
	}
}

/* ---- building messages ---- */

static const struct {
	const char *kind, *title;
} kind_titles[] = {
    {"backup_failed", "backup failed"},      {"maintenance_failed", "maintenance failed"},
    {"agent_offline", "agent offline"},      {"backup_overdue", "backup overdue"},
    {"stale_lock", "stale repository lock"},
};

static const char *kind_title(const char *kind)
{
	for (size_t i = 0; i < ARRAY_LEN(kind_titles); i++)
		if (strcmp(kind_titles[i].kind, kind) == 0)
			return kind_titles[i].title;
	return kind;
}

/* Copy s with control characters (CR, LF, …) replaced by spaces: safe in a
 * header line.  NULL on OOM. */
static char *header_safe(const char *s)
{
	char *o = strdup(s);
	if (!o)
		return NULL;
	for (char *p = o; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return o;
}

/* A header value: ASCII stays as it is (control characters made spaces); a
 * value with UTF-8 becomes one RFC 2047 encoded word, "=?UTF-8?B?…?=", which
 * mail readers and ntfy decode (raw 8-bit bytes in a header are not valid
 * in either).  NULL on OOM. */
static char *header_encode(const char *s)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *safe = header_safe(s), *o;
	size_t n, len = 0;
	bool ascii = true;

	if (!safe)
		return NULL;
	for (const char *p = safe; *p; p++)
		ascii = ascii && (unsigned char)*p < 0x80;
	if (ascii)
		return safe;
	n = strlen(safe);
	o = malloc(12 + (n + 2) / 3 * 4 + 3);
	if (!o) {
		free(safe);
		return NULL;
	}
	memcpy(o, "=?UTF-8?B?", 10);
	len = 10;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)(unsigned char)safe[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)(unsigned char)safe[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)safe[i + 2];
		o[len++] = b64[(v >> 18) & 63];
		o[len++] = b64[(v >> 12) & 63];
		o[len++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		o[len++] = i + 2 < n ? b64[v & 63] : '=';
	}
	memcpy(o + len, "?=", 3);
	free(safe);
	return o;
}

static json_t *alert_json_for(const struct store_alert *a, const char *event)
{
	char o[32], l[32], r[32];
	util_time_rfc3339(a->opened_at, o);
	util_time_rfc3339(a->last_seen_at, l);
	util_time_rfc3339(a->resolved_at, r);
	return json_pack("{s:I,s:s,s:s,s:s,s:I,s:s,s:s,s:s,s:s?,s:s,s:s,s:s?}", "id", (json_int_t)a->id, "kind",
	                 a->kind, "title", kind_title(a->kind), "status",
	                 strcmp(event, "resolved") == 0 ? "resolved" : "open", "host_id", (json_int_t)a->host_id,
	                 "host", a->host_name, "subject", a->subject, "message", a->message, "job_id",
	                 a->job_id[0] ? a->job_id : NULL, "opened_at", o, "last_seen_at", l, "resolved_at",
	                 a->resolved_at ? r : NULL);
}

int notify_channel_secrets(struct server *srv, const struct store_channel *ch, json_t **out)
{
	char ad[64], *pt = NULL;
	size_t plen = 0;
	json_t *o = NULL;
	int r;

	*out = NULL;
	if (!ch->secret) {
		*out = json_object();
		return 0;
	}
	snprintf(ad, sizeof(ad), "channel:%lld:secrets", (long long)ch->id);
	r = secrets_unseal(srv->secrets, ch->secret, ch->secret_len, ad, &pt, &plen);
	if (r == 0) {
		o = json_loadb(pt, plen, 0, NULL);
		secrets_free_plain(pt);
	}
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	*out = o;
	return r;
}

static char *dup_or_null(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v && v[0] ? strdup(v) : NULL;
}

void notify_secrets_free(json_t *o)
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		if (json_is_string(v) && json_string_length(v))
			explicit_bzero((void *)(uintptr_t)json_string_value(v), json_string_length(v));
	}
	json_decref(o);
}

static void rfc2822_now(char *buf, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The text of a notification (subject line and body). */
static void texts(struct server *srv, const struct store_alert *a, const char *event, char *subject, size_t scap,
                  char *body, size_t bcap)
{
	bool test = strcmp(event, "test") == 0, resolved = strcmp(event, "resolved") == 0;
	char o[32];

	util_time_rfc3339(a->opened_at, o);
	if (test) {
		snprintf(subject, scap, "[restic-manager] test notification");
		snprintf(body, bcap, "This is a test notification from restic-manager%s%s.\n",
		         srv->cfg.base_url[0] ? " at " : "", srv->cfg.base_url);
		return;
	}
	snprintf(subject, scap, "[restic-manager] %s%s: %s", resolved ? "resolved: " : "", a->host_name,
	         kind_title(a->kind));
	snprintf(body, bcap, "%s on host %s%s.\n\n%s\n\nOpened: %s\n%s%s%s\n", kind_title(a->kind), a->host_name,
	         resolved ? " has been resolved" : "", a->message, o, srv->cfg.base_url[0] ? "Server: " : "",
	         srv->cfg.base_url, "");
}

/* A message for channel ch about alert a (a zeroed alert for tests). */
static struct notify_msg *msg_build(struct server *srv, const struct store_channel *ch, const struct store_alert *a,
                                    const char *event)
{
	struct notify_msg *m = calloc(1, sizeof(*m));
	json_t *cfg = json_loads(ch->config, 0, NULL), *sec = NULL;
	char subject[512], text[4096];
	bool test = strcmp(event, "test") == 0, ok = false;

	if (!m || !json_is_object(cfg))
		goto out;
	m->srv = srv;
	m->channel_id = ch->id;
	m->alert_id = a->id;
	util_strlcpy(m->event, event, sizeof(m->event));
	util_strlcpy(m->kind, ch->kind, sizeof(m->kind));
	texts(srv, a, event, subject, sizeof(subject), text, sizeof(text));
	if (notify_channel_secrets(srv, ch, &sec) < 0)
		log_warnx("cannot unseal the secrets of notification channel %lld", (long long)ch->id);
	if (!sec)
		goto out;
	if (strcmp(ch->kind, "webhook") == 0) {
		char evname[32];
		json_t *b;
		snprintf(evname, sizeof(evname), "%s%s", test ? "" : "alert.", event);
		b = json_pack("{s:s,s:s,s:s,s:s}", "event", evname, "subject", subject, "text", text, "server",
		              srv->cfg.base_url);
		if (!b)
			goto out;
		json_object_set_new(b, "alert", test ? json_null() : alert_json_for(a, event));
		m->body = json_dumps(b, JSON_COMPACT);
		json_decref(b);
		m->url = dup_or_null(cfg, "url");
		m->hdr_name = dup_or_null(cfg, "header_name");
		m->hdr_value = dup_or_null(sec, "header_value");
		m->bearer = dup_or_null(sec, "token");
		ok = m->body && m->url;
	} else if (strcmp(ch->kind, "ntfy") == 0) {
		const char *server = json_string_value(json_object_get(cfg, "server"));
		const char *topic = json_string_value(json_object_get(cfg, "topic"));
		size_t len = (server ? strlen(server) : 0) + (topic ? strlen(topic) : 0) + 2;
		if (!server || !topic || !(m->url = malloc(len)))
			goto out;
		snprintf(m->url, len, "%s%s%s", server, server[0] && server[strlen(server) - 1] == '/' ? "" : "/",
		         topic);
		m->body = strdup(text);
		m->title = header_encode(subject);
		m->priority = strdup(test ? "default" : strcmp(event, "resolved") == 0 ? "default" : "high");
		m->tags = strdup(test ? "test_tube" : strcmp(event, "resolved") == 0 ? "white_check_mark" : "warning");
		m->bearer = dup_or_null(sec, "token");
		ok = m->body && m->title && m->priority && m->tags;
	} else if (strcmp(ch->kind, "smtp") == 0) {
		const char *host = json_string_value(json_object_get(cfg, "host"));
		const char *security = json_string_value(json_object_get(cfg, "security"));
		const char *from = json_string_value(json_object_get(cfg, "from"));
		json_t *to = json_object_get(cfg, "to"), *v;
		int64_t port = json_integer_value(json_object_get(cfg, "port"));
		char date[64], url[320], *subj = header_encode(subject);
		size_t i, cap, len = 0;
		if (!host || !from || !json_is_array(to) || !subj) {
			free(subj);
			goto out;
		}
		snprintf(url, sizeof(url), "%s://%s:%lld", security && strcmp(security, "tls") == 0 ? "smtps" : "smtp",
		         host, (long long)port);
		m->url = strdup(url);
		m->starttls = security && strcmp(security, "starttls") == 0;
		m->smtp_user = dup_or_null(cfg, "username");
		m->smtp_pass = dup_or_null(sec, "password");
		m->mail_from = malloc(strlen(from) + 3);
		if (m->mail_from)
			snprintf(m->mail_from, strlen(from) + 3, "<%s>", from);
		m->rcpt = json_array();
		cap = 1024 + strlen(text) * 2 + strlen(subj);
		json_array_foreach(to, i, v)
		{
			size_t l = json_string_length(v) + 3;
			char *r = malloc(l);
			if (r) {
				snprintf(r, l, "<%s>", json_string_value(v));
				json_array_append_new(m->rcpt, json_string(r));
				free(r);
			}
			cap += l + 2;
		}
		m->body = malloc(cap);
		rfc2822_now(date, sizeof(date));
		if (m->body) {
			len = (size_t)snprintf(m->body, cap, "Date: %s\r\nFrom: %s\r\nTo: ", date, from);
			json_array_foreach(to, i, v) len +=
			    (size_t)snprintf(m->body + len, cap - len, "%s%s", i ? ", " : "", json_string_value(v));
			len += (size_t)snprintf(m->body + len, cap - len,
			                        "\r\nSubject: %s\r\nMessage-ID: <%lld.%lld.%s@restic-manager>\r\n"
			                        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
			                        "Content-Transfer-Encoding: 8bit\r\n\r\n",
			                        subj, (long long)util_now_ms(), (long long)a->id, event);
			for (const char *p = text; *p && len + 3 < cap; p++) {
				if (*p == '\r')
					continue;
				if (*p == '\n')
					m->body[len++] = '\r';
				m->body[len++] = *p;
			}
			m->body[len] = '\0';
		}
		free(subj);
		ok = m->url && m->mail_from && m->rcpt && m->body;
	}
	if (ok && !m->body_len)
		m->body_len = strlen(m->body);
out:
	json_decref(cfg);
	notify_secrets_free(sec);
	if (!ok) {
		msg_free(m);
		return NULL;
	}
	return m;
}

/* ---- public ---- */

bool notify_channel_matches(const struct store_channel *ch, const char *kind, const char *event)
{
	json_t *kinds, *v;
	bool match;
	size_t i;

	if (!ch->enabled || (strcmp(event, "resolved") == 0 && !ch->on_resolve))
		return false;
	kinds = json_loads(ch->alert_kinds, 0, NULL);
	match = !json_is_array(kinds) || json_array_size(kinds) == 0;
	json_array_foreach(kinds, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), kind) == 0)
			match = true;
	}
	json_decref(kinds);
	return match;
}

void notify_alert(struct server *srv, const struct store_alert *a, const char *event)
{
	struct store_channel *cs = NULL;
	int64_t pending = 0;
	size_t n = 0;

	if (!nq.started)
		return;
	if (store_pending_count(srv->store, &pending) < 0)
		pending = (int64_t)nq.queued;
	if (store_channel_list(srv->store, 1000, &cs, &n) < 0) {
		log_warnx("cannot read the notification channels for alert %lld", (long long)a->id);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct notify_msg *m;
		if (!notify_channel_matches(&cs[i], a->kind, event))
			continue;
		int64_t row = 0;
		if (pending >= NOTIFY_QUEUE_MAX) {
			struct notify_msg d;
			memset(&d, 0, sizeof(d));
			d.srv = srv;
			d.channel_id = cs[i].id;
			d.alert_id = a->id;
			util_strlcpy(d.event, event, sizeof(d.event));
			util_strlcpy(d.kind, cs[i].kind, sizeof(d.kind));
			util_strlcpy(d.res.error, "the notification queue is full", sizeof(d.res.error));
			record(&d, "dropped");
			continue;
		}
		if (store_pending_insert(srv->store, cs[i].id, a->id, event, util_now(), &row) < 0) {
			log_warnx("cannot queue a notification for channel %lld", (long long)cs[i].id);
			continue;
		}
		pending++;
		m = msg_build(srv, &cs[i], a, event);
		if (!m) {
			log_warnx("cannot build a notification for channel %lld", (long long)cs[i].id);
			continue; /* the row stays: the next start tries again */
		}
		m->row_id = row;
		m->due_ms = 0;
		queue_push(m);
	}
	store_channels_free(cs, n);
	pump_now();
}

int notify_test(struct server *srv, const struct store_channel *ch,
                void (*done)(struct server *srv, void *arg, const struct notify_result *r), void *arg)
{
	struct store_alert a;
	struct notify_msg *m;
	int r;

	if (!nq.started)
		return -ESHUTDOWN;
	memset(&a, 0, sizeof(a));
	m = msg_build(srv, ch, &a, "test");
	if (!m)
		return -ENOMEM;
	m->test_done = done;
	m->test_arg = arg;
	r = workers_submit(srv->workers, notify_work, test_done, m);
	if (r < 0)
		msg_free(m);
	return r;
}

/* Rebuild the messages left in notification_pending by the last run. */
static void notify_resume(struct server *srv)
{
	struct store_pending *ps = NULL;
	size_t n = 0, resumed = 0;

	if (store_pending_list(srv->store, NOTIFY_QUEUE_MAX, &ps, &n) < 0) {
		log_warnx("cannot read the pending notifications");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_channel ch;
		struct store_alert a;
		struct notify_msg *m = NULL;
		if (store_channel_get(srv->store, ps[i].channel_id, &ch) < 0) {
			store_pending_delete(srv->store, ps[i].id);
			continue;
		}
		if (store_alert_get(srv->store, ps[i].alert_id, &a) == 0 && ch.enabled)
			m = msg_build(srv, &ch, &a, ps[i].event);
		store_channel_release(&ch);
		if (!m) {
			log_warnx("dropping pending notification %lld (channel %lld): it cannot be rebuilt",
			          (long long)ps[i].id, (long long)ps[i].channel_id);
			store_pending_delete(srv->store, ps[i].id);
			continue;
		}
		m->row_id = ps[i].id;
		m->res.attempts = ps[i].attempts;
		m->due_ms = 0;
		queue_push(m);
		resumed++;
	}
	free(ps);
	if (resumed)
		log_info("resuming %zu pending notification(s) from the last run", resumed);
}

int notify_start(struct server *srv)
{
	const char *hook = getenv("RM_TEST_NOTIFY_BACKOFF_MS");
	struct timeval tv = {1, 0};
	int64_t ms = NOTIFY_BACKOFF_MS;

	if (hook && *hook) {
		if (util_parse_i64(hook, 1, 600000, &ms) < 0) {
			log_error("RM_TEST_NOTIFY_BACKOFF_MS must be an integer number of milliseconds in [1, 600000]");
			return -EINVAL;
		}
		log_warnx("test hook RM_TEST_NOTIFY_BACKOFF_MS=%lld", (long long)ms);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cannot initialise libcurl");
		return -ENOMEM;
	}
	nq.backoff_ms = ms;
	nq.pump = event_new(srv->base, -1, EV_PERSIST, on_pump, srv);
	if (!nq.pump || event_add(nq.pump, &tv) < 0) {
		log_error("cannot start the notification timer");
		return -ENOMEM;
	}
	nq.started = true;
	notify_resume(srv);
	return 0;
}

void notify_stop(struct server *srv)
{
	size_t lost = 0;
	(void)srv;
	if (!nq.started)
		return;
	while (nq.head) {
		struct notify_msg *m = nq.head;
		nq.head = m->next;
		msg_free(m);
		lost++;
	}
	nq.tail = NULL;
	nq.queued = 0;
	if (lost)
		log_info("%zu notification(s) not sent yet: kept for the next start", lost);
	if (nq.pump)
		event_free(nq.pump);
	nq.pump = NULL;
	nq.started = false;
	curl_global_cleanup();
}

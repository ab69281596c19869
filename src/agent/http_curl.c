/*
 * http_curl.c — http_client.h on the libcurl multi interface.
 *
 * Each request is one easy handle with its own header list and a capped
 * response buffer (HTTP_BODY_MAX: a larger body fails the request).  Extra
 * descriptors are passed to curl_multi_poll() so one wait covers the
 * network, the child's pipes and the wake pipe.  Main thread only.
 */
#include "agent/http_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/ca_paths.h"
#include "common/version.h"

struct http_client {
	CURLM *multi;
	char *ca_file;
	char *pin; /* "sha256//base64" */
	struct http_req *done_head;
	struct http_req *done_tail;
};

struct http_req {
	struct http_client *client;
	CURL *easy;
	struct curl_slist *headers;
	char *req_body;
	char *body;
	size_t len, cap;
	bool too_big;
	bool running;
	bool finished;
	int status;
	char error[CURL_ERROR_SIZE + 64];
	void *user;
	struct http_req *next_done;
};

static bool curl_ready;

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "64 hex" or "sha256//base64" → "sha256//base64" (malloc'd) or NULL. */
static char *pin_normalise(const char *pin)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char raw[32];
	char *out;
	size_t o = 0;

	if (strncmp(pin, "sha256//", 8) == 0)
		return strdup(pin);
	if (strlen(pin) != 64)
		return NULL;
	for (size_t i = 0; i < 32; i++) {
		int hi = hexval(pin[2 * i]), lo = hexval(pin[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return NULL;
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	out = malloc(8 + 45);
	if (!out)
		return NULL;
	memcpy(out, "sha256//", 8);
	o = 8;
	for (size_t i = 0; i < 32; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;
		if (i + 1 < 32)
			v |= (uint32_t)raw[i + 1] << 8;
		if (i + 2 < 32)
			v |= raw[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = i + 1 < 32 ? b64[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < 32 ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return out;
}

int http_client_new(const struct http_tls *tls, struct http_client **out)
{
	struct http_client *c;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -EIO;
		curl_ready = true;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->multi = curl_multi_init();
	if (!c->multi)
		goto nomem;
	{
		/* --ca-file, else the distribution's bundle (static builds have
		 * no compiled-in CA path), else the TLS library's default */
		const char *bundle = ca_paths_find_bundle(tls ? tls->ca_file : NULL);
		if (bundle && !(c->ca_file = strdup(bundle)))
			goto nomem;
	}
	if (tls && tls->pin_sha256 && *tls->pin_sha256) {
		c->pin = pin_normalise(tls->pin_sha256);
		if (!c->pin) {
			http_client_free(c);
			return -EINVAL;
		}
	}
	*out = c;
	return 0;
nomem:
	http_client_free(c);
	return -ENOMEM;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	while (c->done_head) {
		struct http_req *r = c->done_head;
		c->done_head = r->next_done;
		r->client = NULL;
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c->ca_file);
	free(c->pin);
	free(c);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_req *r = ud;
	size_t n = size * nmemb;

	if (r->len + n > HTTP_BODY_MAX) {
		r->too_big = true;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t nc = r->cap ? r->cap : 4096;
		char *nb;
		while (nc < r->len + n + 1)
			nc *= 2;
		nb = realloc(r->body, nc);
		if (!nb)
			return 0;
		r->body = nb;
		r->cap = nc;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

int http_client_start(struct http_client *c, const char *method, const char *url, const char *bearer,
		      const char *body, size_t body_len, long timeout_ms, void *user,
		      struct http_req **out)
{
	char hdr[1024], ua[128];
	struct http_req *r = calloc(1, sizeof(*r));
	CURL *e;

	if (!r)
		return -ENOMEM;
	r->client = c;
	r->user = user;
	e = r->easy = curl_easy_init();
	if (!e)
		goto nomem;
	snprintf(hdr, sizeof(hdr), "X-RM-Protocol: %d", RM_PROTOCOL_VERSION);
	r->headers = curl_slist_append(r->headers, hdr);
	r->headers = curl_slist_append(r->headers, "Accept: application/json");
	if (bearer) {
		int n = snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", bearer);
		if (n < 0 || (size_t)n >= sizeof(hdr))
			goto inval;
		r->headers = curl_slist_append(r->headers, hdr);
	}
	if (body) {
		r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
		r->req_body = malloc(body_len + 1);
		if (!r->req_body)
			goto nomem;
		memcpy(r->req_body, body, body_len);
		r->req_body[body_len] = '\0';
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->req_body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	/* avoid "Expect: 100-continue" round trips on larger batches */
	r->headers = curl_slist_append(r->headers, "Expect:");
	if (!r->headers)
		goto nomem;
	snprintf(ua, sizeof(ua), "restic-manager-agent/%s", rm_version);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->error);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->pin) {
		/* the pinned key is the trust anchor: a self-signed cert is fine */
		curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, c->pin);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto nomem;
	r->running = true;
	*out = r;
	return 0;
inval:
	r->client = NULL;
	http_req_free(r);
	return -EINVAL;
nomem:
	r->client = NULL;
	http_req_free(r);
	return -ENOMEM;
}

static void collect_done(struct http_client *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct http_req *r = NULL;
		long code = 0;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (!r)
			continue;
		if (m->data.result == CURLE_OK) {
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
			r->status = (int)code;
		} else {
			r->status = 0;
			if (r->too_big)
				snprintf(r->error, sizeof(r->error), "response body larger than %u bytes",
					 HTTP_BODY_MAX);
			else if (!r->error[0])
				snprintf(r->error, sizeof(r->error), "%s", curl_easy_strerror(m->data.result));
		}
		curl_multi_remove_handle(c->multi, r->easy);
		r->running = false;
		r->finished = true;
		r->next_done = NULL;
		if (c->done_tail)
			c->done_tail->next_done = r;
		else
			c->done_head = r;
		c->done_tail = r;
	}
}

int http_client_wait(struct http_client *c, const int *fds, bool *readable, size_t nfds, int timeout_ms)
{
	struct curl_waitfd w[8];
	int running = 0, numfds = 0;
	size_t n = 0, map[8];

	for (size_t i = 0; i < nfds; i++) {
		readable[i] = false;
		if (fds[i] < 0 || n >= 8)
			continue;
		w[n].fd = fds[i];
		w[n].events = CURL_WAIT_POLLIN;
		w[n].revents = 0;
		map[n++] = i;
	}
	if (curl_multi_poll(c->multi, w, (unsigned)n, timeout_ms, &numfds) != CURLM_OK)
		return -EIO;
	for (size_t k = 0; k < n; k++)
		if (w[k].revents)
			readable[map[k]] = true;
	if (curl_multi_perform(c->multi, &running) != CURLM_OK)
		return -EIO;
	collect_done(c);
	return 0;
}

struct http_req *http_client_next_done(struct http_client *c)
{
	struct http_req *r = c->done_head;

	if (!r)
		return NULL;
	c->done_head = r->next_done;
	if (!c->done_head)
		c->done_tail = NULL;
	r->next_done = NULL;
	return r;
}

int http_req_status(const struct http_req *r) { return r->status; }

const char *http_req_body(const struct http_req *r, size_t *len)
{
	if (len)
		*len = r->len;
	return r->body ? r->body : "";
}

const char *http_req_error(const struct http_req *r) { return r->error; }
void *http_req_user(const struct http_req *r) { return r->user; }

void http_req_free(struct http_req *r)
{
	if (!r)
		return;
	if (r->client) {
		struct http_client *c = r->client;
		if (r->running)
			curl_multi_remove_handle(c->multi, r->easy);
		/* unlink from the done list if still queued there */
		if (r->finished) {
			struct http_req **pp = &c->done_head, *prev = NULL;
			while (*pp && *pp != r) {
				prev = *pp;
				pp = &(*pp)->next_done;
			}
			if (*pp) {
				*pp = r->next_done;
				if (c->done_tail == r)
					c->done_tail = prev;
			}
		}
	}
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->req_body);
	free(r->body);
	free(r);
}

int http_client_perform(struct http_client *c, const char *method, const char *url, const char *bearer,
			const char *body, size_t body_len, long timeout_ms, struct http_req **out)
{
	struct http_req *r = NULL, *d;
	int rc = http_client_start(c, method, url, bearer, body, body_len, timeout_ms, NULL, &r);

	if (rc < 0)
		return rc;
	for (;;) {
		rc = http_client_wait(c, NULL, NULL, 0, 1000);
		if (rc < 0) {
			http_req_free(r);
			return rc;
		}
		while ((d = http_client_next_done(c)))
			if (d == r) {
				*out = r;
				return 0;
			}
	}
}

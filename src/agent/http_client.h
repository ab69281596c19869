/*
 * http_client.h — the agent's small asynchronous HTTP client interface.
 *
 * A client runs several requests at once (the long-poll and an event batch)
 * and lets the main loop wait for network activity and for extra pollable
 * descriptors (child pipes, the wake pipe) in one call.  http_curl.c
 * implements it with the libcurl multi interface; a WinHTTP or
 * curl+Schannel implementation can replace it without touching the logic.
 *
 * TLS: https URLs are always verified against the system CA store (or
 * ca_file).  With pin_sha256 set (the SHA-256 of the server's public key,
 * SPKI, as 64 hex characters or "sha256//<base64>"), the connection is
 * accepted only for that key, and CA verification is not required (a
 * self-signed server certificate works once pinned at enrolment).
 *
 * Single-threaded: every call on the agent's main thread.
 */
#ifndef RM_AGENT_HTTP_CLIENT_H
#define RM_AGENT_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_BODY_MAX (8u * 1024 * 1024) /* cap on a response body */

struct http_client;
struct http_req;

struct http_tls {
	const char *ca_file;    /* NULL: system store */
	const char *pin_sha256; /* NULL: no pin */
};

/* OUT: *out.  Copies tls strings.  Return 0 or -errno. */
int http_client_new(const struct http_tls *tls, struct http_client **out);
/* Aborts requests still in flight.  Accepts NULL. */
void http_client_free(struct http_client *c);

/* Start a request.  bearer may be NULL; body (copied) is sent as JSON when
 * non-NULL.  timeout_ms bounds the whole request.  user is returned by
 * http_client_next_done().  OUT: *out (owned by the caller: free with
 * http_req_free, which aborts it if still running).  Return 0 or -errno. */
int http_client_start(struct http_client *c, const char *method, const char *url, const char *bearer,
		      const char *body, size_t body_len, long timeout_ms, void *user,
		      struct http_req **out);

/* Wait up to timeout_ms for network activity or readability of the extra
 * descriptors (fds[i] < 0 are ignored); drives transfers.  OUT: readable[i]
 * set for each readable extra descriptor.  Return 0 or -errno. */
int http_client_wait(struct http_client *c, const int *fds, bool *readable, size_t nfds,
		     int timeout_ms);

/* The next finished request, or NULL. */
struct http_req *http_client_next_done(struct http_client *c);

/* Results of a finished request.  status is 0 on a transport error, then
 * error() says why (never contains the bearer). */
int http_req_status(const struct http_req *r);
const char *http_req_body(const struct http_req *r, size_t *len);
const char *http_req_error(const struct http_req *r);
void *http_req_user(const struct http_req *r);
void http_req_free(struct http_req *r);

/* Run one request to completion (blocking): for `enroll` and `status`.
 * Same results as above.  Return 0 or -errno (transport errors are a
 * finished request with status 0, not an error return). */
int http_client_perform(struct http_client *c, const char *method, const char *url, const char *bearer,
			const char *body, size_t body_len, long timeout_ms, struct http_req **out);

#endif

/*
 * authpw.h — argon2id password work on the worker pool for one request.
 * A handler fills a struct authpw (what to verify, what to hash), submits it
 * and returns without replying; done() then runs on the loop thread with the
 * results and must reply to pw->c.  The request context stays valid until
 * that reply.  Passwords are copied in, wiped and freed with the job; the
 * job itself is freed after done() returns.
 */
#ifndef RM_AUTHPW_H
#define RM_AUTHPW_H

#include <stdbool.h>

#include "server/http.h"
#include "server/secrets.h"

/* Refuse new password work (503 busy) when this many worker jobs are queued. */
#define AUTHPW_MAX_PENDING 32

struct authpw {
	struct http_ctx *c;
	void (*done)(struct authpw *pw);
	void *arg; /* handler state; done() frees it */
	/* Inputs (set with authpw_verify / authpw_hash). */
	char verify_hash[SECRETS_PWHASH_MAX]; /* "" with verify_password set: spend a dummy hash */
	char *verify_password;
	char *new_password;
	/* Outputs (valid in done()). */
	bool verified;
	int hash_rc; /* 0 when new_hash is filled */
	char new_hash[SECRETS_PWHASH_MAX];
};

/* New job for c.  Return NULL on OOM. */
struct authpw *authpw_new(struct http_ctx *c, void (*done)(struct authpw *pw), void *arg);
/* Verify password against hash (hash NULL: unknown user — burn the same time
 * and report not verified).  Return 0 or -ENOMEM. */
int authpw_verify(struct authpw *pw, const char *hash, const char *password);
/* Hash password into new_hash (after a successful verify, if one was asked for). */
int authpw_hash(struct authpw *pw, const char *password);
/* Queue the job.  Return 0, or -EBUSY / -ENOMEM / -ESHUTDOWN after which the
 * job (not arg) is freed and the caller still owns the reply. */
int authpw_submit(struct authpw *pw);
/* Wipe and free a job that was never submitted.  Accepts NULL. */
void authpw_free(struct authpw *pw);

#endif

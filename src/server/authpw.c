/*
 * authpw.c — password hashing/verification jobs (see authpw.h).  work() runs
 * on a worker thread and touches only the job; done() runs on the loop.
 */
#include "server/authpw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "server/workers.h"

struct authpw *authpw_new(struct http_ctx *c, void (*done)(struct authpw *pw), void *arg)
{
	struct authpw *pw = calloc(1, sizeof(*pw));
	if (!pw)
		return NULL;
	pw->c = c;
	pw->done = done;
	pw->arg = arg;
	pw->hash_rc = -EINVAL;
	return pw;
}

static void wipe_str(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void authpw_free(struct authpw *pw)
{
	if (!pw)
		return;
	wipe_str(&pw->verify_password);
	wipe_str(&pw->new_password);
	explicit_bzero(pw, sizeof(*pw));
	free(pw);
}

int authpw_verify(struct authpw *pw, const char *hash, const char *password)
{
	wipe_str(&pw->verify_password);
	pw->verify_password = strdup(password);
	if (!pw->verify_password)
		return -ENOMEM;
	pw->verify_hash[0] = '\0';
	if (hash && strlen(hash) < sizeof(pw->verify_hash))
		memcpy(pw->verify_hash, hash, strlen(hash) + 1);
	return 0;
}

int authpw_hash(struct authpw *pw, const char *password)
{
	wipe_str(&pw->new_password);
	pw->new_password = strdup(password);
	return pw->new_password ? 0 : -ENOMEM;
}

static void authpw_work(void *arg)
{
	struct authpw *pw = arg;

	if (pw->verify_password) {
		if (pw->verify_hash[0]) {
			pw->verified = secrets_password_verify(pw->verify_hash, pw->verify_password);
		} else {
			/* Unknown user: spend what a verification costs so timing does not tell. */
			char dummy[SECRETS_PWHASH_MAX];
			(void)secrets_password_hash(pw->verify_password, dummy);
			explicit_bzero(dummy, sizeof(dummy));
			pw->verified = false;
		}
		wipe_str(&pw->verify_password);
		if (!pw->verified) {
			wipe_str(&pw->new_password);
			return;
		}
	}
	if (pw->new_password) {
		pw->hash_rc = secrets_password_hash(pw->new_password, pw->new_hash);
		wipe_str(&pw->new_password);
	}
}

static void authpw_done(void *arg)
{
	struct authpw *pw = arg;
	pw->done(pw);
	authpw_free(pw);
}

int authpw_submit(struct authpw *pw)
{
	struct workers *w = pw->c->srv->workers;
	int r;

	if (workers_pending(w) >= AUTHPW_MAX_PENDING) {
		authpw_free(pw);
		return -EBUSY;
	}
	r = workers_submit(w, authpw_work, authpw_done, pw);
	if (r < 0)
		authpw_free(pw);
	return r;
}

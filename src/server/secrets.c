/*
 * secrets.c — key file, sealed blobs, tokens and password hashes (see
 * secrets.h).  Key bytes live in sodium_malloc'd, mlock'd memory and are never
 * formatted into a string.  Nothing here logs: callers turn the returned
 * error (and the message in err) into one log line.
 */
#include "server/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define SECRETS_ENC_MAX (1024 * 1024)
#define SECRETS_ENC_AD "restic-manager secrets.enc v1"

struct secrets {
	unsigned char *key; /* sodium_malloc'd */
	char enc_path[PATH_MAX];
	json_t *kv; /* decrypted server-level secrets */
};

static int load_or_create_key(const char *path, unsigned char *key, char *err, size_t errcap)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0 && errno == ENOENT) {
		randombytes_buf(key, SECRETS_KEY_BYTES);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0) {
			int e = errno;
			snprintf(err, errcap, "cannot create secret key '%s': %s", path, strerror(e));
			return -e;
		}
		n = write(fd, key, SECRETS_KEY_BYTES);
		if (n != SECRETS_KEY_BYTES || fsync(fd) < 0) {
			int e = n < 0 ? errno : EIO;
			close(fd);
			unlink(path);
			snprintf(err, errcap, "cannot write secret key '%s': %s", path, strerror(e));
			return -e;
		}
		close(fd);
		return 0;
	}
	if (fd < 0) {
		int e = errno;
		snprintf(err, errcap, "cannot open secret key '%s': %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errcap, "secret key '%s' is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & 0077) {
		close(fd);
		snprintf(err, errcap,
			 "secret key '%s' is readable by group or others (mode %04o); run: chmod 600 '%s'", path,
			 (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (st.st_size != SECRETS_KEY_BYTES) {
		close(fd);
		snprintf(err, errcap, "secret key '%s' has %lld bytes, expected exactly %d; refusing to start", path,
			 (long long)st.st_size, SECRETS_KEY_BYTES);
		return -EINVAL;
	}
	n = read(fd, key, SECRETS_KEY_BYTES);
	close(fd);
	if (n != SECRETS_KEY_BYTES) {
		snprintf(err, errcap, "cannot read secret key '%s'", path);
		return -EIO;
	}
	return 0;
}

static int kv_save(struct secrets *s)
{
	char *json = json_dumps(s->kv, JSON_COMPACT | JSON_SORT_KEYS);
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	int r;

	if (!json)
		return -ENOMEM;
	r = secrets_seal(s, json, strlen(json), SECRETS_ENC_AD, &blob, &bloblen);
	sodium_memzero(json, strlen(json));
	free(json);
	if (r < 0)
		return r;
	r = util_write_file_atomic(s->enc_path, blob, bloblen, 0600);
	free(blob);
	return r;
}

int secrets_open(const char *key_file, const char *data_dir, struct secrets **out, char *err, size_t errcap)
{
	struct secrets *s;
	char *blob = NULL, *pt = NULL;
	size_t bloblen = 0, ptlen = 0;
	int r;

	if (sodium_init() < 0) {
		snprintf(err, errcap, "cannot initialise libsodium");
		return -EIO;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->key = sodium_malloc(SECRETS_KEY_BYTES);
	if (!s->key) {
		free(s);
		return -ENOMEM;
	}
	r = load_or_create_key(key_file, s->key, err, errcap);
	if (r < 0)
		goto fail;
	if (snprintf(s->enc_path, sizeof(s->enc_path), "%s/secrets.enc", data_dir) >= (int)sizeof(s->enc_path)) {
		r = -ENAMETOOLONG;
		snprintf(err, errcap, "data directory path too long");
		goto fail;
	}
	r = util_read_file(s->enc_path, SECRETS_ENC_MAX, &blob, &bloblen);
	if (r == -ENOENT) {
		s->kv = json_object();
		r = s->kv ? kv_save(s) : -ENOMEM;
		if (r < 0) {
			snprintf(err, errcap, "cannot create '%s': %s", s->enc_path, strerror(-r));
			goto fail;
		}
	} else if (r < 0) {
		snprintf(err, errcap, "cannot read '%s': %s", s->enc_path, strerror(-r));
		goto fail;
	} else {
		r = secrets_unseal(s, (unsigned char *)blob, bloblen, SECRETS_ENC_AD, &pt, &ptlen);
		free(blob);
		if (r < 0) {
			snprintf(err, errcap, "cannot decrypt '%s': wrong secret.key or corrupted file", s->enc_path);
			goto fail;
		}
		s->kv = json_loadb(pt, ptlen, 0, NULL);
		secrets_free_plain(pt);
		if (!json_is_object(s->kv)) {
			r = -EINVAL;
			snprintf(err, errcap, "'%s' does not hold a JSON object", s->enc_path);
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	secrets_free(s);
	return r;
}

void secrets_free(struct secrets *s)
{
	if (!s)
		return;
	sodium_free(s->key);
	json_decref(s->kv);
	free(s);
}

int secrets_seal(const struct secrets *s, const void *pt, size_t ptlen, const char *ad, unsigned char **blob,
		 size_t *bloblen)
{
	size_t n = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + ptlen + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	unsigned char *b = malloc(n);
	unsigned long long clen = 0;

	if (!b)
		return -ENOMEM;
	randombytes_buf(b, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(b + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, pt, ptlen,
						   (const unsigned char *)ad, strlen(ad), NULL, b, s->key);
	*blob = b;
	*bloblen = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)clen;
	return 0;
}

int secrets_unseal(const struct secrets *s, const unsigned char *blob, size_t bloblen, const char *ad, char **pt,
		   size_t *ptlen)
{
	const size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	unsigned long long mlen = 0;
	char *p;

	if (bloblen < nb + crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return -EBADMSG;
	p = malloc(bloblen - nb - crypto_aead_xchacha20poly1305_ietf_ABYTES + 1);
	if (!p)
		return -ENOMEM;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)p, &mlen, NULL, blob + nb, bloblen - nb,
						       (const unsigned char *)ad, strlen(ad), blob, s->key) != 0) {
		free(p);
		return -EBADMSG;
	}
	p[mlen] = '\0';
	*pt = p;
	*ptlen = (size_t)mlen;
	return 0;
}

void secrets_free_plain(char *pt)
{
	if (!pt)
		return;
	sodium_memzero(pt, strlen(pt));
	free(pt);
}

void secrets_token_new(char out[SECRETS_TOKEN_CHARS + 1])
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, SECRETS_TOKEN_CHARS + 1, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

void secrets_token_hash(const char *token, char out[SECRETS_HASH_HEX])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	sodium_bin2hex(out, SECRETS_HASH_HEX, h, sizeof(h));
}

bool secrets_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la != lb)
		return false;
	return sodium_memcmp(a, b, la) == 0;
}

void secrets_password_generate(char out[33])
{
	unsigned char raw[24];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, 33, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

int secrets_password_hash(const char *password, char out[SECRETS_PWHASH_MAX])
{
	if (crypto_pwhash_str_alg(out, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				  crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -ENOMEM;
	return 0;
}

bool secrets_password_verify(const char *hash, const char *password)
{
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

int secrets_kv_get(const struct secrets *s, const char *name, char **value)
{
	json_t *v = json_object_get(s->kv, name);
	if (!json_is_string(v))
		return -ENOENT;
	*value = strdup(json_string_value(v));
	return *value ? 0 : -ENOMEM;
}

int secrets_kv_set(struct secrets *s, const char *name, const char *value)
{
	if (json_object_set_new(s->kv, name, json_string(value)) < 0)
		return -ENOMEM;
	return kv_save(s);
}

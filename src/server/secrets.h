/*
 * secrets.h — the only module that touches key material (DESIGN.md §3, §8).
 *
 * secret.key: 32 random bytes, 0600, created once, never overwritten.
 * secrets.enc: a JSON object of server-level secrets sealed with the key.
 * Row secrets (repo passwords, hooks) are sealed with the same key and the
 * row identity as associated data, so a blob moved to another row fails.
 * Tokens: 32 random bytes, base64url without padding (43 chars), stored as
 * SHA-256 hex.  Passwords: argon2id (libsodium crypto_pwhash_str) — slow, so
 * callers run hashing/verification on the worker pool.
 * Thread-safety: after secrets_open() every function here is safe on any
 * thread except secrets_kv_set() (loop thread only).
 */
#ifndef RM_SECRETS_H
#define RM_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

#define SECRETS_KEY_BYTES 32
#define SECRETS_TOKEN_CHARS 43        /* base64url of 32 bytes, no padding */
#define SECRETS_HASH_HEX 65           /* SHA-256 hex + NUL */
#define SECRETS_PWHASH_MAX 128        /* >= crypto_pwhash_STRBYTES */
#define SECRETS_PASSWORD_MIN 12
#define SECRETS_PASSWORD_MAX 1024

struct secrets;

/* Load (or create on first start) key_file and data_dir/secrets.enc.
 * On failure writes a human message into err and returns -errno/-EINVAL.
 * OUT: *out. */
int secrets_open(const char *key_file, const char *data_dir, struct secrets **out, char *err, size_t errcap);
void secrets_free(struct secrets *s);

/* Seal pt with associated data ad.  OUT: *blob (malloc'd: nonce||ciphertext||tag), *bloblen. */
int secrets_seal(const struct secrets *s, const void *pt, size_t ptlen, const char *ad, unsigned char **blob,
		 size_t *bloblen);
/* Open a sealed blob.  OUT: *pt (malloc'd, NUL-terminated, wipe with secrets_free_plain), *ptlen.
 * Returns -EBADMSG if the blob was tampered with or sealed for another ad. */
int secrets_unseal(const struct secrets *s, const unsigned char *blob, size_t bloblen, const char *ad, char **pt,
		   size_t *ptlen);
/* Wipe and free a plaintext returned by secrets_unseal / secrets_kv_get. */
void secrets_free_plain(char *pt);

/* Fill out with a fresh random token (SECRETS_TOKEN_CHARS chars + NUL). */
void secrets_token_new(char out[SECRETS_TOKEN_CHARS + 1]);
/* SHA-256 hex of a token, for storage and lookup. */
void secrets_token_hash(const char *token, char out[SECRETS_HASH_HEX]);
/* Constant-time equality of two NUL-terminated strings of the same expected length. */
bool secrets_equal(const char *a, const char *b);
/* Generate a strong random password (URL-safe, 32 chars) into out[33]. */
void secrets_password_generate(char out[33]);

/* argon2id.  Slow (~100 ms, 64 MiB): call from the worker pool. Return 0 or -errno. */
int secrets_password_hash(const char *password, char out[SECRETS_PWHASH_MAX]);
bool secrets_password_verify(const char *hash, const char *password);

/* Server-level secrets in secrets.enc.  get: OUT *value (wipe with secrets_free_plain), -ENOENT if unset. */
int secrets_kv_get(const struct secrets *s, const char *name, char **value);
int secrets_kv_set(struct secrets *s, const char *name, const char *value);

#endif

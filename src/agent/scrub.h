/*
 * scrub.h — remove credentials from text before it is logged or sent:
 * every occurrence of a known secret (repository password, credential
 * values from the repository environment) becomes "***", and credentials
 * embedded in URLs ("scheme://user:pass@host") become "scheme://user:***@host".
 * Pure; any thread.
 */
#ifndef RM_AGENT_SCRUB_H
#define RM_AGENT_SCRUB_H

#include <stddef.h>

/* Secrets shorter than this are not searched for (they would mangle
 * ordinary text); the enrolment flow generates long ones. */
#define SCRUB_MIN_SECRET 4

/* Scrub in[0..len) into out[cap] (always NUL-terminated, truncated to fit).
 * secrets: n strings (NULL entries ignored).  Return the output length. */
size_t scrub_text(const char *in, size_t len, const char *const *secrets, size_t n, char *out, size_t cap);

/* Replace every byte that is not part of valid UTF-8 in s[0..len) with '?'
 * (in place), so any child output can travel as a JSON string. */
void scrub_utf8(char *s, size_t len);

#endif

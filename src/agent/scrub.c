/*
 * scrub.c — credential scrubbing for restic output and agent messages
 * (see scrub.h).  Pure; any thread.
 */
#include "agent/scrub.h"

#include <stdbool.h>
#include <string.h>

static bool is_scheme_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '+' ||
	       ch == '-' || ch == '.';
}

static bool ends_authority(char ch) { return ch == '/' || ch == ' ' || ch == '\t' || ch == '"' || ch == '\''; }

size_t scrub_text(const char *in, size_t len, const char *const *secrets, size_t n, char *out, size_t cap)
{
	size_t i = 0, o = 0;

	if (cap == 0)
		return 0;
#define PUT(ch)                          \
	do {                             \
		if (o + 1 < cap)         \
			out[o++] = (ch); \
	} while (0)
	while (i < len) {
		bool matched = false;
		for (size_t k = 0; k < n; k++) {
			size_t sl = secrets[k] ? strlen(secrets[k]) : 0;
			if (sl >= SCRUB_MIN_SECRET && sl <= len - i && memcmp(in + i, secrets[k], sl) == 0) {
				PUT('*');
				PUT('*');
				PUT('*');
				i += sl;
				matched = true;
				break;
			}
		}
		if (matched)
			continue;
		/* "://user:pass@": keep user, hide pass */
		if (i + 3 <= len && memcmp(in + i, "://", 3) == 0 && i > 0 && is_scheme_char(in[i - 1])) {
			size_t a = i + 3, colon = 0, at = 0;
			for (size_t j = a; j < len && !ends_authority(in[j]); j++) {
				if (in[j] == ':' && !colon)
					colon = j;
				if (in[j] == '@')
					at = j; /* the last '@' ends the userinfo */
			}
			if (colon && at && colon < at) {
				for (size_t j = i; j <= colon; j++)
					PUT(in[j]);
				PUT('*');
				PUT('*');
				PUT('*');
				i = at; /* continue at '@' */
				continue;
			}
		}
		PUT(in[i]);
		i++;
	}
#undef PUT
	out[o] = '\0';
	return o;
}

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

/* Length of the valid UTF-8 sequence at s (1…4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	size_t n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3fu);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

void scrub_utf8(char *s, size_t len)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t n = utf8_seq(p + i, len - i);
		if (n == 0) {
			p[i++] = '?';
			continue;
		}
		i += n;
	}
}

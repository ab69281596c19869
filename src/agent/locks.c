/*
 * locks.c — parse restic's "repository is already locked" report (see
 * locks.h).  Bounded: a line over LOCKS_LINE_MAX is ignored; host and user
 * are capped at 255 bytes.  Main thread (called from job output parsing).
 */
#include "agent/locks.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

#define LOCKS_LINE_MAX 4096
#define LOCKS_FIELD_MAX 255

/* Copy the word at p (up to a space) into out; return the byte after it. */
static const char *word(const char *p, const char *end, char *out, size_t cap)
{
	size_t n = 0;

	while (p < end && *p != ' ' && n + 1 < cap)
		out[n++] = *p++;
	out[n] = '\0';
	return p;
}

int locks_feed_line(const char *line, size_t len, json_t **lock)
{
	char buf[LOCKS_LINE_MAX + 1], host[LOCKS_FIELD_MAX + 1], user[LOCKS_FIELD_MAX + 1], num[24];
	const char *p, *end;
	int64_t pid;
	bool exclusive;

	if (len > LOCKS_LINE_MAX)
		return 0;
	memcpy(buf, line, len);
	buf[len] = '\0';
	end = buf + len;
	if ((p = strstr(buf, "lock was created at ")) != NULL) {
		/* "lock was created at 2026-11-25 21:00:00 (5m3s ago)" */
		char t[20];
		p += strlen("lock was created at ");
		if (!*lock || end - p < 19)
			return p ? 1 : 0;
		memcpy(t, p, 19);
		t[19] = '\0';
		if (t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':' || t[16] != ':')
			return 1;
		t[10] = 'T';
		json_object_set_new(*lock, "time", json_string(t));
		const char *ago = strchr(p + 19, '(');
		const char *close = ago ? strstr(ago, " ago)") : NULL;
		if (ago && close && close - ago - 1 > 0 && close - ago - 1 < 40)
			json_object_set_new(*lock, "age", json_stringn(ago + 1, (size_t)(close - ago - 1)));
		return 1;
	}
	p = strstr(buf, "repository is already locked ");
	if (!p)
		return 0;
	p += strlen("repository is already locked ");
	exclusive = strncmp(p, "exclusively ", 12) == 0;
	if (exclusive)
		p += 12;
	if (strncmp(p, "by PID ", 7) != 0)
		return 0;
	p = word(p + 7, end, num, sizeof(num));
	if (util_parse_i64(num, 0, INT64_MAX, &pid) < 0 || strncmp(p, " on ", 4) != 0)
		return 0;
	p = word(p + 4, end, host, sizeof(host));
	if (!host[0] || strncmp(p, " by ", 4) != 0)
		return 0;
	word(p + 4, end, user, sizeof(user));
	json_decref(*lock);
	*lock = json_pack("{s:I,s:s,s:s,s:b}", "pid", (json_int_t)pid, "host", host, "user", user, "exclusive",
			  exclusive);
	return 1;
}

void locks_mark_local(json_t *lock, const char *my_hostname, bool (*alive)(int64_t pid))
{
	const char *host = json_string_value(json_object_get(lock, "host"));
	json_t *pid = json_object_get(lock, "pid");
	bool mine = host && my_hostname && *my_hostname && strcasecmp(host, my_hostname) == 0;

	json_object_set_new(lock, "this_host", json_boolean(mine));
	if (mine && json_is_integer(pid))
		json_object_set_new(lock, "pid_alive", json_boolean(alive(json_integer_value(pid))));
}

size_t locks_parse_ids(const char *text, size_t len, json_t *ids, size_t max)
{
	size_t added = 0, i = 0;

	while (i < len && added < max) {
		size_t start = i, n;
		bool hex = true;
		while (i < len && text[i] != '\n')
			i++;
		n = i - start;
		while (n > 0 && text[start + n - 1] == '\r')
			n--;
		for (size_t k = 0; k < n && hex; k++)
			hex = (text[start + k] >= '0' && text[start + k] <= '9') ||
			      (text[start + k] >= 'a' && text[start + k] <= 'f');
		if (hex && n == 64 && json_array_append_new(ids, json_stringn(text + start, n)) == 0)
			added++;
		i++;
	}
	return added;
}

json_t *locks_from_doc(json_t *doc)
{
	json_t *pid = json_object_get(doc, "pid"), *t = json_object_get(doc, "time");
	const char *host = json_string_value(json_object_get(doc, "hostname"));
	const char *user = json_string_value(json_object_get(doc, "username"));
	json_t *l;

	if (!json_is_integer(pid) || !host || strlen(host) > LOCKS_FIELD_MAX)
		return NULL;
	l = json_pack("{s:O,s:s,s:s,s:b}", "pid", pid, "host", host, "user",
		      user && strlen(user) <= LOCKS_FIELD_MAX ? user : "", "exclusive",
		      json_is_true(json_object_get(doc, "exclusive")));
	if (l && json_is_string(t) && json_string_length(t) <= 64)
		json_object_set(l, "time", t);
	return l;
}

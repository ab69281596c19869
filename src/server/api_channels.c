/*
 * api_channels.c — notification channels: webhook (URL, optional bearer
 * token and/or a secret header), ntfy (server URL, topic, optional token)
 * and SMTP (host, port, security, optional login, from, to list), each with
 * a filter (alert kinds, whether to send on resolve).  Admin only (routes.c).
 * Loop thread.
 *
 * The request body is flat: the common fields (name, kind, enabled,
 * on_resolve, alert_kinds) plus the fields of the kind from the table below.
 * Secret fields (token, header_value, password) are sealed into one blob per
 * channel (AD "channel:<id>:secrets") and never answered: the answer says
 * "<field>_set": true|false.  PATCH: a field given replaces, null clears an
 * optional one (a secret too), absent keeps.  Audit details name the fields
 * changed, never their values (URLs may carry credentials of their own).
 */
#include "server/api_channels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "server/alerts.h"
#include "server/audit.h"
#include "server/notify.h"
#include "server/secrets.h"
#include "server/server.h"
#include "server/store.h"
#include "server/store_alerts.h"

#define K_WEBHOOK  1u
#define K_NTFY     2u
#define K_SMTP     4u
#define SECRET_MAX 1024
#define URL_MAX    2048
#define RCPT_MAX   20

enum fty { F_URL, F_HDRNAME, F_SECRET, F_TOPIC, F_HOST, F_PORT, F_SECURITY, F_TEXT, F_EMAIL, F_EMAILS };

struct field {
	const char *name;
	unsigned kinds;
	enum fty type;
	bool required;
	const char *help;
};

static const struct field fields[] = {
    {"url", K_WEBHOOK, F_URL, true, "an http:// or https:// URL without user:password@"},
    {"header_name", K_WEBHOOK, F_HDRNAME, false, "an HTTP header name (letters, digits, '-')"},
    {"header_value", K_WEBHOOK, F_SECRET, false, "a string of 1 to 1024 bytes without control characters"},
    {"token", K_WEBHOOK | K_NTFY, F_SECRET, false, "a string of 1 to 1024 bytes without control characters"},
    {"server", K_NTFY, F_URL, true, "an http:// or https:// URL without user:password@"},
    {"topic", K_NTFY, F_TOPIC, true, "1 to 64 letters, digits, '_' or '-'"},
    {"host", K_SMTP, F_HOST, true, "a host name or IP address"},
    {"port", K_SMTP, F_PORT, true, "an integer 1-65535"},
    {"security", K_SMTP, F_SECURITY, true, "starttls, tls or none"},
    {"username", K_SMTP, F_TEXT, false, "a string of 1 to 256 bytes without control characters"},
    {"password", K_SMTP, F_SECRET, false, "a string of 1 to 1024 bytes without control characters"},
    {"from", K_SMTP, F_EMAIL, true, "an e-mail address"},
    {"to", K_SMTP, F_EMAILS, true, "a list of 1 to 20 e-mail addresses"},
};

static unsigned kind_bit(const char *kind)
{
	return !strcmp(kind, "webhook") ? K_WEBHOOK
	       : !strcmp(kind, "ntfy")  ? K_NTFY
	       : !strcmp(kind, "smtp")  ? K_SMTP
	                                : 0;
}

static bool no_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool str_ok(json_t *v, size_t min, size_t max)
{
	return json_is_string(v) && json_string_length(v) >= min && json_string_length(v) <= max &&
	       strlen(json_string_value(v)) == json_string_length(v) && no_ctl(json_string_value(v));
}

static bool url_ok(const char *u)
{
	const char *p, *end;
	if (strncmp(u, "http://", 7) == 0)
		p = u + 7;
	else if (strncmp(u, "https://", 8) == 0)
		p = u + 8;
	else
		return false;
	end = p + strcspn(p, "/?#");
	if (end == p)
		return false;
	for (const char *q = p; q < end; q++) /* no user:password@ in the authority */
		if (*q == '@')
			return false;
	for (const char *q = u; *q; q++)
		if (*q == ' ' || *q == '\\')
			return false;
	return true;
}

static bool email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return false;
	for (; *s; s++)
		if (*s == '<' || *s == '>' || *s == ',' || *s == ' ' || *s == '"' || *s == '\\')
			return false;
	return true;
}

static bool charset_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr(extra, *s)))
			return false;
	return true;
}

static bool value_ok(const struct field *f, json_t *v)
{
	const char *s = json_string_value(v);
	switch (f->type) {
	case F_URL:
		return str_ok(v, 8, URL_MAX) && url_ok(s);
	case F_HDRNAME:
		return str_ok(v, 1, 64) && charset_ok(s, "-") && strcasecmp(s, "Host") &&
		       strcasecmp(s, "Content-Length") && strcasecmp(s, "Content-Type") &&
		       strcasecmp(s, "Transfer-Encoding") && strcasecmp(s, "Authorization") &&
		       strcasecmp(s, "Connection");
	case F_SECRET:
		return str_ok(v, 1, SECRET_MAX);
	case F_TOPIC:
		return str_ok(v, 1, 64) && charset_ok(s, "_-");
	case F_HOST:
		return str_ok(v, 1, 253) && charset_ok(s, ".-:[]");
	case F_PORT:
		return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535;
	case F_SECURITY:
		return json_is_string(v) && (!strcmp(s, "starttls") || !strcmp(s, "tls") || !strcmp(s, "none"));
	case F_TEXT:
		return str_ok(v, 1, 256);
	case F_EMAIL:
		return str_ok(v, 3, 254) && email_ok(s);
	case F_EMAILS: {
		size_t i;
		json_t *e;
		if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > RCPT_MAX)
			return false;
		json_array_foreach(v, i, e) if (!str_ok(e, 3, 254) || !email_ok(json_string_value(e))) return false;
		return true;
	}
	}
	return false;
}

static const struct field *field_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* The API form: config fields, "<secret>_set" flags, never a secret. */
static json_t *channel_json(struct server *srv, const struct store_channel *ch)
{
	json_t *o = json_pack("{s:I,s:s,s:s,s:b,s:b}", "id", (json_int_t)ch->id, "name", ch->name, "kind", ch->kind,
	                      "enabled", ch->enabled, "on_resolve", ch->on_resolve);
	json_t *cfg = json_loads(ch->config, 0, NULL), *kinds = json_loads(ch->alert_kinds, 0, NULL), *sec;
	unsigned bit = kind_bit(ch->kind);

	if (!o) {
		json_decref(cfg);
		json_decref(kinds);
		return NULL;
	}
	(void)notify_channel_secrets(srv, ch, &sec);
	json_object_set_new(o, "alert_kinds", json_is_array(kinds) ? kinds : json_array());
	if (!json_is_array(kinds))
		json_decref(kinds);
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		const struct field *f = &fields[i];
		char key[48];
		if (!(f->kinds & bit))
			continue;
		if (f->type == F_SECRET) {
			snprintf(key, sizeof(key), "%s_set", f->name);
			json_object_set_new(o, key, json_boolean(json_object_get(sec, f->name) != NULL));
		} else {
			json_t *v = json_object_get(cfg, f->name);
			json_object_set(o, f->name, v ? v : json_null());
		}
	}
	notify_secrets_free(sec);
	json_decref(cfg);
	json_object_set_new(o, "created_at", alerts_time_json(ch->created_at));
	json_object_set_new(o, "updated_at", alerts_time_json(ch->updated_at));
	return o;
}

/*
 * Apply body to (cfg, sec, ch common fields).  creating: kind comes from the
 * body.  OUT: changed (array of field names, for the audit record).  Return 0
 * or -1 after replying 400 naming the field.
 */
static int apply_body(struct http_ctx *c, json_t *body, struct store_channel *ch, json_t *cfg, json_t *sec,
                      json_t *changed, bool creating)
{
	const char *key, *name = NULL;
	json_t *v;
	unsigned bit;
	bool b;

	if (creating) {
		const char *kind = NULL;
		if (http_json_str(c, body, "kind", 1, 16, true, &kind) < 0)
			return -1;
		if (!kind_bit(kind)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'kind' must be webhook, ntfy or smtp");
			return -1;
		}
		util_strlcpy(ch->kind, kind, sizeof(ch->kind));
	} else if ((v = json_object_get(body, "kind")) &&
	           (!json_is_string(v) || strcmp(json_string_value(v), ch->kind))) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
		                 "field 'kind' cannot change (delete and create instead)");
		return -1;
	}
	bit = kind_bit(ch->kind);
	if (http_json_str(c, body, "name", 1, STORE_CHANNEL_NAME_MAX, creating, &name) < 0)
		return -1;
	if (name) {
		if (!no_ctl(name) || name[0] == ' ' || name[strlen(name) - 1] == ' ') {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'name' must not contain control characters or surrounding spaces");
			return -1;
		}
		util_strlcpy(ch->name, name, sizeof(ch->name));
		json_array_append_new(changed, json_string("name"));
	}
	if (json_object_get(body, "enabled")) {
		if (http_json_bool(c, body, "enabled", false, true, &b) < 0)
			return -1;
		ch->enabled = b;
		json_array_append_new(changed, json_string("enabled"));
	}
	if (json_object_get(body, "on_resolve")) {
		if (http_json_bool(c, body, "on_resolve", false, true, &b) < 0)
			return -1;
		ch->on_resolve = b;
		json_array_append_new(changed, json_string("on_resolve"));
	}
	if ((v = json_object_get(body, "alert_kinds"))) {
		size_t i;
		json_t *k;
		bool ok = json_is_array(v) && json_array_size(v) <= 16;
		json_array_foreach(v, i, k) ok = ok && json_is_string(k) && alerts_kind_is_known(json_string_value(k));
		if (!ok) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD,
			                 "field 'alert_kinds' must be a list of backup_failed, maintenance_failed, "
			                 "agent_offline, backup_overdue, stale_lock (empty = every kind)");
			return -1;
		}
		free(ch->alert_kinds);
		ch->alert_kinds = json_dumps(v, JSON_COMPACT);
		json_array_append_new(changed, json_string("alert_kinds"));
	}
	json_object_foreach(body, key, v)
	{
		const struct field *f;
		if (!strcmp(key, "kind") || !strcmp(key, "name") || !strcmp(key, "enabled") ||
		    !strcmp(key, "on_resolve") || !strcmp(key, "alert_kinds"))
			continue;
		f = field_find(key);
		if (!f || !(f->kinds & bit)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "unknown field '%s' for a %s channel",
			                 strlen(key) <= 40 ? key : "?", ch->kind);
			return -1;
		}
		if (json_is_null(v) && !f->required) {
			json_object_del(f->type == F_SECRET ? sec : cfg, f->name);
		} else if (!value_ok(f, v)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' must be %s", f->name, f->help);
			return -1;
		} else {
			json_object_set(f->type == F_SECRET ? sec : cfg, f->name, v);
		}
		json_array_append_new(changed, json_string(f->name));
	}
	for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
		const struct field *f = &fields[i];
		if ((f->kinds & bit) && f->required && !json_object_get(cfg, f->name)) {
			http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field '%s' is required: %s", f->name,
			                 f->help);
			return -1;
		}
	}
	if (json_object_get(sec, "header_value") && !json_object_get(cfg, "header_name")) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "field 'header_name' is required with 'header_value'");
		return -1;
	}
	return 0;
}

/* Seal sec for channel id.  OUT: *blob (NULL when sec is empty), *len. */
static int seal_secrets(struct server *srv, int64_t id, json_t *sec, unsigned char **blob, size_t *len)
{
	char ad[64], *text;
	int r;
	*blob = NULL;
	*len = 0;
	if (json_object_size(sec) == 0)
		return 0;
	text = json_dumps(sec, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	snprintf(ad, sizeof(ad), "channel:%lld:secrets", (long long)id);
	r = secrets_seal(srv->secrets, text, strlen(text), ad, blob, len);
	explicit_bzero(text, strlen(text));
	free(text);
	return r;
}

static void target_of(char buf[48], int64_t id)
{
	snprintf(buf, 48, "notification_channel:%lld", (long long)id);
}

static int channel_load(struct http_ctx *c, struct store_channel *ch)
{
	int64_t id;
	int r;
	if (http_param_id(c, 0, &id) < 0)
		return -1;
	r = store_channel_get(c->srv->store, id, ch);
	if (r < 0) {
		http_reply_error(c, r == -ENOENT ? 404 : 503, r == -ENOENT ? "not_found" : "unavailable",
		                 r == -ENOENT ? "no such notification channel" : "cannot read the channel now");
		return -1;
	}
	return 0;
}

void api_channels_list(struct http_ctx *c)
{
	struct store_channel *cs = NULL;
	size_t n = 0;
	json_t *items;

	if (store_channel_list(c->srv->store, CHANNELS_MAX, &cs, &n) < 0) {
		http_reply_error(c, 503, "unavailable", "cannot list notification channels now");
		return;
	}
	items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, channel_json(c->srv, &cs[i]));
	store_channels_free(cs, n);
	http_reply_json(c, 200, json_pack("{s:o,s:n}", "items", items, "next"));
}

static void store_failed(struct http_ctx *c, int r)
{
	if (r == -EEXIST)
		http_reply_error(c, 409, "name_taken", "a notification channel with this name exists");
	else
		http_reply_error(c, 503, "unavailable", "cannot store the notification channel now");
}

void api_channels_create(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_channel ch;
	json_t *body = http_body_object(c), *cfg = json_object(), *sec = json_object(), *changed = json_array();
	unsigned char *blob = NULL;
	size_t blen = 0, count = 0;
	char target[48];
	struct store_channel *cs = NULL;
	int r;

	memset(&ch, 0, sizeof(ch));
	ch.enabled = ch.on_resolve = true;
	ch.alert_kinds = strdup("[]");
	if (!body)
		goto out;
	if (!cfg || !sec || !changed || !ch.alert_kinds) {
		http_reply_error(c, 503, "out_of_memory", "try again later");
		goto out;
	}
	if (apply_body(c, body, &ch, cfg, sec, changed, true) < 0)
		goto out;
	if (store_channel_list(srv->store, CHANNELS_MAX, &cs, &count) == 0 && count >= CHANNELS_MAX) {
		store_channels_free(cs, count);
		http_reply_error(c, 409, "too_many_channels", "at most %d notification channels", CHANNELS_MAX);
		goto out;
	}
	store_channels_free(cs, count);
	ch.config = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	ch.created_at = ch.updated_at = util_now();
	r = ch.config ? store_begin(srv->store) : -ENOMEM;
	if (r == 0) {
		r = store_channel_insert(srv->store, &ch);
		if (r == 0)
			r = seal_secrets(srv, ch.id, sec, &blob, &blen);
		if (r == 0 && blob)
			r = store_channel_set_secret(srv->store, ch.id, blob, blen);
		if (r == 0)
			r = store_commit(srv->store);
		else
			store_rollback(srv->store);
	}
	free(blob);
	if (r < 0) {
		store_failed(c, r);
		goto out;
	}
	target_of(target, ch.id);
	audit_log(srv, c, "notification_channel.create", target, "ok",
	          json_pack("{s:s,s:s,s:O}", "name", ch.name, "kind", ch.kind, "fields", changed));
	store_channel_release(&ch);
	if (store_channel_get(srv->store, ch.id, &ch) < 0) {
		memset(&ch, 0, sizeof(ch));
		http_reply_error(c, 503, "unavailable", "cannot read the channel now");
		goto out;
	}
	http_reply_json(c, 201, channel_json(srv, &ch));
out:
	store_channel_release(&ch);
	json_decref(cfg);
	notify_secrets_free(sec);
	json_decref(changed);
}

void api_channels_update(struct http_ctx *c)
{
	struct server *srv = c->srv;
	struct store_channel ch;
	json_t *body = http_body_object(c), *cfg = NULL, *sec = NULL, *changed = json_array();
	unsigned char *blob = NULL;
	size_t blen = 0;
	char target[48];
	int r;

	memset(&ch, 0, sizeof(ch));
	if (!body || !changed)
		goto out;
	if (json_object_size(body) == 0) {
		http_reply_error(c, 400, HTTP_ERR_INVALID_FIELD, "nothing to change: give at least one field");
		goto out;
	}
	if (channel_load(c, &ch) < 0)
		goto out;
	cfg = json_loads(ch.config, 0, NULL);
	if (!json_is_object(cfg)) {
		json_decref(cfg);
		cfg = json_object();
	}
	(void)notify_channel_secrets(srv, &ch, &sec);
	if (apply_body(c, body, &ch, cfg, sec, changed, false) < 0)
		goto out;
	free(ch.config);
	ch.config = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
	ch.updated_at = util_now();
	r = ch.config ? seal_secrets(srv, ch.id, sec, &blob, &blen) : -ENOMEM;
	if (r == 0)
		r = store_begin(srv->store);
	if (r == 0) {
		r = store_channel_update(srv->store, &ch);
		if (r == 0)
			r = store_channel_set_secret(srv->store, ch.id, blob, blen);
		if (r == 0)
			r = store_commit(srv->store);
		else
			store_rollback(srv->store);
	}
	free(blob);
	if (r < 0) {
		store_failed(c, r);
		goto out;
	}
	target_of(target, ch.id);
	audit_log(srv, c, "notification_channel.update", target, "ok",
	          json_pack("{s:s,s:O}", "name", ch.name, "fields", changed));
	{
		int64_t id = ch.id;
		store_channel_release(&ch);
		memset(&ch, 0, sizeof(ch));
		if (store_channel_get(srv->store, id, &ch) < 0) {
			http_reply_error(c, 503, "unavailable", "cannot read the channel now");
			goto out;
		}
	}
	http_reply_json(c, 200, channel_json(srv, &ch));
out:
	store_channel_release(&ch);
	json_decref(cfg);
	notify_secrets_free(sec);
	json_decref(changed);
}

void api_channels_delete(struct http_ctx *c)
{
	struct store_channel ch;
	char target[48];
	int r;

	if (channel_load(c, &ch) < 0)
		return;
	r = store_channel_delete(c->srv->store, ch.id);
	if (r < 0) {
		store_channel_release(&ch);
		http_reply_error(c, r == -ENOENT ? 404 : 503, r == -ENOENT ? "not_found" : "unavailable",
		                 r == -ENOENT ? "no such notification channel" : "cannot delete the channel now");
		return;
	}
	target_of(target, ch.id);
	audit_log(c->srv, c, "notification_channel.delete", target, "ok",
	          json_pack("{s:s,s:s}", "name", ch.name, "kind", ch.kind));
	store_channel_release(&ch);
	http_reply_empty(c, 204);
}

struct test_req {
	struct http_ctx *c;
	int64_t channel_id;
};

static void test_done(struct server *srv, void *arg, const struct notify_result *r)
{
	struct test_req *t = arg;
	struct http_ctx *c = t->c;
	char target[48];

	target_of(target, t->channel_id);
	free(t);
	audit_log(srv, c, "notification_channel.test", target, "ok",
	          json_pack("{s:b,s:I,s:s}", "delivered", r->ok, "status_code", (json_int_t)r->status_code, "error",
	                    r->error));
	http_reply_json(c, 200,
	                json_pack("{s:b,s:I,s:i,s:s?}", "ok", r->ok, "status_code", (json_int_t)r->status_code,
	                          "attempts", r->attempts, "error", r->error[0] ? r->error : NULL));
}

void api_channels_test(struct http_ctx *c)
{
	struct store_channel ch;
	struct test_req *t;
	int r;

	if (channel_load(c, &ch) < 0)
		return;
	t = malloc(sizeof(*t));
	r = t ? 0 : -ENOMEM;
	if (t) {
		t->c = c;
		t->channel_id = ch.id;
		r = notify_test(c->srv, &ch, test_done, t);
		if (r < 0)
			free(t);
	}
	store_channel_release(&ch);
	if (r < 0)
		http_reply_error(c, 503, "unavailable", "cannot send a test now");
}

void api_channels_deliveries(struct http_ctx *c)
{
	struct store_channel ch;
	struct store_delivery *ds = NULL;
	int64_t limit, cursor;
	size_t n = 0;
	json_t *items, *next = json_null();

	if (http_query_int(c, "limit", 1, 500, 100, &limit) < 0 ||
	    http_query_int(c, "cursor", 0, INT64_MAX, 0, &cursor) < 0 || channel_load(c, &ch) < 0)
		return;
	if (store_delivery_list(c->srv->store, ch.id, cursor, (int)limit + 1, &ds, &n) < 0) {
		store_channel_release(&ch);
		http_reply_error(c, 503, "unavailable", "cannot read the delivery log now");
		return;
	}
	store_channel_release(&ch);
	items = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++) {
		const struct store_delivery *d = &ds[i];
		json_t *o = json_pack("{s:I,s:o,s:s,s:s,s:I}", "id", (json_int_t)d->id, "at", alerts_time_json(d->at),
		                      "event", d->event, "outcome", d->outcome, "attempts", (json_int_t)d->attempts);
		if (!o)
			continue;
		json_object_set_new(o, "alert_id", d->alert_id ? json_integer(d->alert_id) : json_null());
		json_object_set_new(o, "status_code", d->http_status ? json_integer(d->http_status) : json_null());
		json_object_set_new(o, "error", d->error[0] ? json_string(d->error) : json_null());
		json_array_append_new(items, o);
	}
	if (n > (size_t)limit) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%lld", (long long)ds[limit - 1].id);
		next = json_string(buf);
	}
	free(ds);
	http_reply_json(c, 200, json_pack("{s:o,s:o}", "items", items, "next", next));
}

/* The exporter settings of the web page (docs/user-guide.md, "Exporter
 * settings on the web page"): GET and POST /api/v1/settings.
 *
 * GET gives the running `mqtt_export` and `influxdb` groups key by key, as
 * the config's key tables (export_config.h, config_mqtt.h) hold them, with every secret
 * (password, token) replaced by whether it is set. POST takes new groups,
 * writes them as libconfig text to a temporary file beside the config's
 * `web_settings.file`, checks the whole config with it exactly as --check
 * and a reload do (reload_gen_load_with), and only then renames it over the
 * file and asks for the reload SIGHUP runs. A refused value leaves the file
 * and the running exporters as they were and answers 422 with the
 * loader's "file:line: what is wrong".
 *
 * The door rules of a write (Digest user, same origin, JSON content type,
 * body size) are http.c's, checked before the body is read, as for a
 * register write. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "http_settings.h"

#include "config.h"
#include "export_config.h"
#include "http_config.h"
#include "http_internal.h"
#include "json.h"
#include "log.h"
#include "reload.h"

/* The longest string value taken (a URL, a path, a token). */
#define SETTINGS__MAX_STRING 1024

static const char settings__groups[][12] = {"mqtt_export", "influxdb"};

static int settings__secret(const char *name)
{
	return strcmp(name, "password") == 0 || strcmp(name, "token") == 0;
}

/* --------------------------------------------------- config -> JSON -- */

/* The values keys[] store in target, as a JSON object; secrets as
 * "<name>_set": true/false unless with_secrets. */
static struct json_object *settings__table(const struct config_key *keys, size_t n,
					   const void *target, int with_secrets);

static struct json_object *settings__mqtt(const struct config_mqtt *m, int with_secrets)
{
	size_t n;
	const struct config_key *k = config_mqtt_keys(&n);
	struct json_object *o = settings__table(k, n, m, with_secrets);
	if (o && !m->has_tls)
		json_object_object_del(o, "tls");
	return o;
}

static struct json_object *settings__table(const struct config_key *keys, size_t n,
					   const void *target, int with_secrets)
{
	struct json_object *o = json_object_new_object();
	const char *base = target;

	for (size_t i = 0; o && i < n; i++) {
		const struct config_key *k = &keys[i];
		const void *at = base + k->off;
		struct json_object *v = NULL;
		switch (k->kind) {
		case CONFIG_K_STRING: {
			const char *s = *(char *const *)at;
			if (settings__secret(k->name) && !with_secrets) {
				char name[64];
				snprintf(name, sizeof name, "%s_set", k->name);
				json_object_object_add(o, name, json_object_new_boolean(s != NULL));
				continue;
			}
			if (s)
				v = json_object_new_string(s);
			break;
		}
		case CONFIG_K_INT:
			v = json_object_new_int64(*(const int *)at);
			break;
		case CONFIG_K_INT64:
			v = json_object_new_int64(*(const int64_t *)at);
			break;
		case CONFIG_K_BOOL:
			v = json_object_new_boolean(*(const int *)at);
			break;
		case CONFIG_K_GROUP:
			v = settings__table(k->sub, k->nsub, at, with_secrets);
			break;
		case CONFIG_K_CUSTOM:
			/* mqtt_export's broker: the `mqtt` group everywhere. */
			if (strcmp(k->name, "mqtt") == 0)
				v = settings__mqtt(
				    &((const struct config_export_mqtt *)target)->mqtt,
				    with_secrets);
			break;
		default:
			break;
		}
		if (v)
			json_object_object_add(o, k->name, v);
	}
	return o;
}

/* The running group i (0 mqtt_export, 1 influxdb), or NULL when the config
 * has none. */
static struct json_object *settings__running(const struct config *c, int i, int with_secrets)
{
	size_t n;
	const struct config_key *keys = export_config_keys(i, &n);
	const struct config_export *e = c->export;

	if (!e || (i == 0 ? !e->mqtt.line : !e->influx.line))
		return NULL;
	return settings__table(keys, n, i == 0 ? (const void *)&e->mqtt : (const void *)&e->influx,
			       with_secrets);
}

/* Where group i comes from: "file" (web_settings.file), "config" (the main
 * file) or "none"; its line. */
static const char *settings__source(const struct config *c, int i, int *line)
{
	const struct config_export *e = c->export;
	int l = !e ? 0 : i == 0 ? e->mqtt.line : e->influx.line;
	int in_file = i == 0 ? c->web_settings.has_mqtt : c->web_settings.has_influx;

	*line = l;
	return !l ? "none" : in_file ? "file" : "config";
}

/* Why the settings cannot be saved from the page, or NULL. */
static const char *settings__read_only(const struct config *c, char *buf, size_t len)
{
	if (c->web_settings.managed_by) {
		snprintf(buf, len,
			 "the exporter settings are managed by %s on this system "
			 "(web_settings.managed_by in %s): change them there",
			 c->web_settings.managed_by, c->path);
		return buf;
	}
	if (!c->web_settings.path) {
		snprintf(buf, len,
			 "%s names no web_settings.file: the exporters are set in the config "
			 "file only",
			 c->path);
		return buf;
	}
	if (!c->http || c->http->nusers == 0) {
		snprintf(buf, len, "http.users is empty: nobody can log in to save settings");
		return buf;
	}
	return NULL;
}

/* What the page shows to change the settings under UCI. */
static const char *settings__hint(const struct config *c)
{
	if (c->web_settings.managed_by && strcmp(c->web_settings.managed_by, "uci") == 0)
		return "uci set modbridge.@influxdb[0].url='http://192.168.1.2:8086' && uci commit "
		       "modbridge && /etc/init.d/modbridge reload (the options of the mqtt_export "
		       "and influxdb sections of /etc/config/modbridge are these keys; uci add "
		       "modbridge influxdb first when there is no such section)";
	return NULL;
}

static void settings__take(struct json_object *o, unsigned status, struct http_answer *a)
{
	const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE)
			  : NULL;
	a->status = status;
	a->body = s ? strdup(s) : NULL;
	a->len = a->body ? strlen(a->body) : 0;
	json_object_put(o);
}

static struct json_object *settings__str(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

void http_settings_get(const struct http_view *v, char *const *p, struct http_answer *a)
{
	const struct config *c = reload_config(v->set);
	struct json_object *o = json_object_new_object(), *groups = json_object_new_object();
	char why[512];
	const char *ro = settings__read_only(c, why, sizeof why);
	(void)p; /* /api/v1/settings: no part to read */

	if (!o || !groups) {
		json_object_put(o);
		json_object_put(groups);
		settings__take(NULL, 500, a);
		return;
	}
	json_object_object_add(o, "file", settings__str(c->web_settings.path));
	json_object_object_add(o, "managed_by", settings__str(c->web_settings.managed_by));
	json_object_object_add(o, "writable", json_object_new_boolean(!ro));
	json_object_object_add(o, "read_only_reason", settings__str(ro));
	json_object_object_add(o, "hint", settings__str(settings__hint(c)));
	for (int i = 0; i < 2; i++) {
		struct json_object *g = json_object_new_object();
		int line;
		const char *src = settings__source(c, i, &line);
		json_object_object_add(o, settings__groups[i], settings__running(c, i, 0));
		json_object_object_add(g, "source", json_object_new_string(src));
		json_object_object_add(g, "line", line ? json_object_new_int(line) : NULL);
		json_object_object_add(g, "editable",
				       json_object_new_boolean(!ro && strcmp(src, "config") != 0));
		json_object_object_add(groups, settings__groups[i], g);
	}
	json_object_object_add(o, "groups", groups);
	settings__take(o, 200, a);
}

/* ----------------------------------------------- JSON -> libconfig -- */

/* A key name as libconfig takes it, and only such (a name is written into
 * the file as it is). */
static int settings__name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* Check a group of the body: names, types, lengths (depth: mqtt_export's
 * mqtt.tls is the deepest, 3). 0, or -1 with the reason in why. */
static int settings__check(struct json_object *g, const char *path, int depth, char *why,
			   size_t len)
{
	json_object_object_foreach(g, key, val)
	{
		char sub[200];
		snprintf(sub, sizeof sub, "%s.%.64s", path, key);
		if (!settings__name_ok(key)) {
			snprintf(why, len,
				 "%.100s: not a key name (lower-case letters, digits and '_', at "
				 "most 64)",
				 sub);
			return -1;
		}
		switch (json_object_get_type(val)) {
		case json_type_null:
		case json_type_boolean:
		case json_type_int:
			break;
		case json_type_string:
			if (json_object_get_string_len(val) > SETTINGS__MAX_STRING) {
				snprintf(why, len, "%s: longer than %d bytes", sub,
					 SETTINGS__MAX_STRING);
				return -1;
			}
			if (strlen(json_object_get_string(val)) !=
			    (size_t)json_object_get_string_len(val)) {
				snprintf(why, len, "%s: holds a NUL character (\\u0000)", sub);
				return -1;
			}
			break;
		case json_type_object:
			if (depth >= 3) {
				snprintf(why, len, "%s: groups nest too deep", sub);
				return -1;
			}
			if (settings__check(val, sub, depth + 1, why, len) != 0)
				return -1;
			break;
		default:
			snprintf(why, len,
				 "%s: must be a string, an integer, true or false, a group {...} "
				 "or null (left out)",
				 sub);
			return -1;
		}
	}
	return 0;
}

/* A secret that the body leaves out or gives as "" keeps its running
 * value (the page never has it); null removes it. The "<name>_set" members
 * GET gives are dropped. */
static void settings__keep_secrets(struct json_object *g, struct json_object *old)
{
	static const char names[][9] = {"password", "token"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct json_object *v = NULL, *was = NULL;
		char set[32];
		snprintf(set, sizeof set, "%s_set", names[i]);
		json_object_object_del(g, set);
		int has = json_object_object_get_ex(g, names[i], &v);
		if (has && !json_object_is_type(v, json_type_string))
			continue;
		if (has && json_object_get_string_len(v) > 0)
			continue;
		json_object_object_del(g, names[i]);
		if (old && json_object_object_get_ex(old, names[i], &was) && was)
			json_object_object_add(g, names[i], json_object_get(was));
	}
}

/* A string as a libconfig literal: quotes, backslashes and control
 * characters escaped; every other byte as it is (UTF-8 passes). */
static void settings__lc_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\x%02X", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void settings__lc_group(FILE *f, struct json_object *g, int indent)
{
	json_object_object_foreach(g, key, val)
	{
		if (json_object_is_type(val, json_type_null))
			continue;
		fprintf(f, "%*s%s = ", indent, "", key);
		switch (json_object_get_type(val)) {
		case json_type_boolean:
			fputs(json_object_get_boolean(val) ? "true" : "false", f);
			break;
		case json_type_int: {
			int64_t x = json_object_get_int64(val);
			if (x >= INT32_MIN && x <= INT32_MAX)
				fprintf(f, "%lld", (long long)x);
			else
				fprintf(f, "%lldL", (long long)x);
			break;
		}
		case json_type_string:
			settings__lc_string(f, json_object_get_string(val));
			break;
		case json_type_object:
			fputs("{\n", f);
			settings__lc_group(f, val, indent + 2);
			fprintf(f, "%*s}", indent, "");
			break;
		default:
			break;
		}
		fputs(";\n", f);
	}
}

/* The settings file's text (malloc'd). */
static char *settings__text(struct json_object *const groups[2])
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fputs("# The exporter settings of modbridge's web page (web_settings.file): written\n"
	      "# by the page on each save, read after the main config file as if it were\n"
	      "# @included at its end. It may be edited by hand too (then reload).\n",
	      f);
	for (int i = 0; i < 2; i++) {
		if (!groups[i])
			continue;
		fprintf(f, "\n%s = {\n", settings__groups[i]);
		settings__lc_group(f, groups[i], 2);
		fputs("};\n", f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* --------------------------------------------------------- saving -- */

/* Every occurrence of from in s replaced by to (into out). */
static void settings__replace(const char *s, const char *from, const char *to, char *out,
			      size_t len)
{
	size_t at = 0, fl = strlen(from);
	while (*s && at + 1 < len) {
		if (fl && strncmp(s, from, fl) == 0) {
			at += (size_t)snprintf(out + at, len - at, "%s", to);
			s += fl;
			if (at >= len)
				break;
		} else
			out[at++] = *s++;
	}
	out[at < len ? at : len - 1] = '\0';
}

/* Write text to a new temporary file beside path; its name in tmp. */
static int settings__write_tmp(const char *path, const char *text, char *tmp, size_t tmplen,
			       char *why, size_t whylen)
{
	const char *slash = strrchr(path, '/');
	size_t n = strlen(text);
	int fd;

	if (slash)
		snprintf(tmp, tmplen, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
	else
		snprintf(tmp, tmplen, ".%s.XXXXXX", path);
	/* mkstemp: 0600, the daemon's user; the file holds secrets. */
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(why, whylen, "%.900s: cannot create a file beside it: %s", path,
			 strerror(errno));
		return -1;
	}
	for (size_t done = 0; done < n;) {
		ssize_t w = write(fd, text + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(why, whylen, "%.900s: cannot write: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		snprintf(why, whylen, "%.900s: cannot write: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

#define SETTINGS__SHAPE                                                                            \
	"the body must be a JSON object {\"mqtt_export\": {...} or null, \"influxdb\": {...} "     \
	"or null} (a group left out stays as it is)"

void http_settings_post(const struct http_view *v, char *const *p, const char *body, size_t len,
			struct http_answer *a)
{
	const struct config *c = reload_config(v->set);
	struct json_object *doc, *groups[2] = {NULL, NULL};
	char why[1024], tmp[1024];
	const char *ro = settings__read_only(c, why, sizeof why);
	char *text = NULL;
	(void)p; /* /api/v1/settings: no part to read */

	if (ro) {
		http_answer_error(a, 409, ro);
		return;
	}
	if (!(doc = http_answer_parse_body(body, len, SETTINGS__SHAPE, a)))
		return;
	if (!json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		http_answer_error(a, 400, SETTINGS__SHAPE);
		return;
	}
	json_object_object_foreach(doc, key, val)
	{
		if (strcmp(key, "mqtt_export") != 0 && strcmp(key, "influxdb") != 0) {
			snprintf(why, sizeof why,
				 "unknown member \"%.100s\": the body takes \"mqtt_export\" and "
				 "\"influxdb\"",
				 key);
			goto bad;
		}
		if (!json_object_is_type(val, json_type_object) &&
		    !json_object_is_type(val, json_type_null)) {
			snprintf(why, sizeof why, "%s must be a group {...} or null", key);
			goto bad;
		}
		if (val && settings__check(val, key, 1, why, sizeof why) != 0)
			goto bad;
	}
	for (int i = 0; i < 2; i++) {
		struct json_object *given = NULL;
		int line, has = json_object_object_get_ex(doc, settings__groups[i], &given);
		const char *src = settings__source(c, i, &line);
		struct json_object *old = settings__running(c, i, 1);

		if (strcmp(src, "config") == 0) {
			json_object_put(old);
			if (has) {
				json_object_put(doc);
				for (int j = 0; j < i; j++)
					json_object_put(groups[j]);
				snprintf(why, sizeof why,
					 "%s is set in %s:%d, not in the web settings file: change "
					 "it there (or move it to %s)",
					 settings__groups[i], c->path, line, c->web_settings.path);
				http_answer_error(a, 409, why);
				return;
			}
			continue; /* not written here */
		}
		if (!has) {
			groups[i] = old; /* unchanged */
			continue;
		}
		if (given) {
			groups[i] = json_object_get(given);
			/* mqtt_export's secret is its broker's password. */
			struct json_object *mq = NULL, *oldmq = NULL;
			if (i == 0) {
				if (json_object_object_get_ex(given, "mqtt", &mq) &&
				    json_object_is_type(mq, json_type_object)) {
					if (old)
						json_object_object_get_ex(old, "mqtt", &oldmq);
					settings__keep_secrets(mq, oldmq);
				}
			} else
				settings__keep_secrets(given, old);
		}
		json_object_put(old);
	}
	json_object_put(doc);
	doc = NULL;

	if (!(text = settings__text(groups))) {
		snprintf(why, sizeof why, "out of memory");
		goto fail500;
	}
	const char *path = c->web_settings.path;
	if (settings__write_tmp(path, text, tmp, sizeof tmp, why, sizeof why) != 0)
		goto fail500;
	/* The whole config with the new file: what --check and the reload
	 * run, on the loop: a config and its maps load in a few milliseconds
	 * (docs/design.md, "Exporter settings from the web page"; the log says
	 * how long each check took). */
	char err[2048];
	uint64_t t0 = uv_hrtime();
	struct reload_gen *g = reload_gen_load_with(c->path, tmp, err, sizeof err);
	double ms = (double)(uv_hrtime() - t0) / 1e6;
	if (!g) {
		unlink(tmp);
		struct json_object *o = json_object_new_object();
		char msg[2048];
		settings__replace(err, tmp, path, msg, sizeof msg);
		log_info("settings: refused (checked in %.1f ms): %s", ms, msg);
		json_object_object_add(o, "error", json_object_new_string(msg));
		json_object_object_add(o, "file", json_object_new_string(path));
		settings__take(o, 422, a);
		goto out;
	}
	reload_gen_free(g);
	if (rename(tmp, path) != 0) {
		snprintf(why, sizeof why, "%.900s: cannot replace it: %s", path, strerror(errno));
		unlink(tmp);
		goto fail500;
	}
	log_info("settings: saved %s (checked in %.1f ms); reloading", path, ms);
	if (v->reload)
		v->reload(v->reload_ctx);
	{
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "saved", json_object_new_boolean(1));
		json_object_object_add(o, "file", json_object_new_string(path));
		json_object_object_add(o, "reloading", json_object_new_boolean(1));
		settings__take(o, 200, a);
	}
	goto out;
bad:
	json_object_put(doc);
	http_answer_error(a, 400, why);
	return;
fail500:
	http_answer_error(a, 500, why);
out:
	free(text);
	for (int i = 0; i < 2; i++)
		json_object_put(groups[i]);
}

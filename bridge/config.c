/* The config file (docs/design.md, "Config file"). libconfig parses the syntax;
 * every group is then checked against a const table of the keys it may hold,
 * by one generic routine (keys_parse, in keys.c) that the map loader
 * uses too.
 * Anything the table cannot say (one protocol block per device, unique unit
 * IDs, a port that depends on tls) is checked after the table, in code.
 * Protocols are known only through the registry (protocol.h): a device's
 * protocol block is checked with the protocol's own key table. The groups
 * other modules own are parsed by their handlers, which sit below this
 * loader and never include config.h: the mqtt group (config_mqtt.h), `http`
 * (http_config.h), `mqtt_export` and `influxdb` (export_config.h); each is
 * handed the field it fills (keys.h: target + off). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export_config.h"
#include "fnv.h"
#include "http_config.h"
#include "mb_error.h"
#include "protocol.h"

/* The directories the maps are looked up in when the config names none; the
 * Makefile passes those `make install` uses. */
#ifndef MB_MAPS_DIRS
#define MB_MAPS_DIRS "/etc/modbridge/maps", "/usr/share/modbridge/maps"
#endif

#define CONFIG__N(a) (sizeof(a) / sizeof((a)[0]))
/* The largest timing value in ms we accept: libuv timers take uint64, but a
 * month-long timeout is a typo, and int32 keeps arithmetic on it safe. */
#define CONFIG__MS_MAX INT32_MAX
/* A setting's path for a message. Computed only when a message is written:
 * the path of a list element needs libconfig's config_setting_index(), a
 * linear scan of the list, and doing that for every key of a map with
 * thousands of registers made loading quadratic. */
#define CONFIG__PATH(s, buf) keys_path((s), (buf), sizeof(buf))

/* --- value checks -------------------------------------------------------- */

/* Device names appear in logs and status topics. */
static const char *config__check_name(const char *v)
{
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || *v == '_' || *v == '-' || *v == '.'))
			return "may hold only letters, digits, '_', '-' and '.'";
	return NULL;
}

static const char *config__check_mapname(const char *v)
{
	return strchr(v, '/') ? "must be a map name (the file NAME.conf in maps_path), not a path"
			      : NULL;
}

static const char *config__check_addr(const char *v)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, v, buf) == 1 || inet_pton(AF_INET6, v, buf) == 1)
		return NULL;
	return "must be an IPv4 or IPv6 address such as \"0.0.0.0\" or \"::\"";
}

/* --- warnings ------------------------------------------------------------- */

/* The top-level group of the Modbus TCP server (its listener, access lists
 * and limits), and the name it had before: `modbus` also names a device's
 * block of Modbus equipment, one word for the two ends of the bridge. The old
 * name is still read, with a warning; so is `listener = "modbus"`. */
#define CONFIG__SERVER "server"
#define CONFIG__OLD_SERVER "modbus"

/* Add "file:line: warning: ..." about setting s to c->warnings, a line each
 * (reload_gen_warnings: --check prints them, start and reload log them). */
static void config__warn(struct config *c, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void config__warn(struct config *c, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = config_setting_source_file(s);
	size_t old = c->warnings ? strlen(c->warnings) : 0;
	char line[1024];
	va_list ap;
	int w = snprintf(line, sizeof line, "%s:%d: warning: ", file ? file : c->path,
			 config_setting_source_line(s));
	if (w < 0 || (size_t)w >= sizeof line)
		return;
	va_start(ap, fmt);
	vsnprintf(line + w, sizeof line - (size_t)w, fmt, ap);
	va_end(ap);
	size_t add = strlen(line);
	char *grown = realloc(c->warnings, old + add + 2);
	if (!grown)
		return; /* a warning lost to memory is not worth failing the load */
	if (old)
		grown[old++] = '\n';
	memcpy(grown + old, line, add + 1);
	c->warnings = grown;
}

/* How the file spells the server group, for messages that name its keys. */
static const char *config__server_group(const struct config *c)
{
	return c->server_old_name ? CONFIG__OLD_SERVER : CONFIG__SERVER;
}

/* After the `server` group or its old spelling `modbus`: only one of them,
 * and the old one said. */
static int config__server_once(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	const config_setting_t *root = config_setting_parent(s);
	const bool old = strcmp(config_setting_name(s), CONFIG__OLD_SERVER) == 0;
	const config_setting_t *other =
	    config_setting_get_member(root, old ? CONFIG__SERVER : CONFIG__OLD_SERVER);
	if (other)
		return keys_error(p, old ? s : other,
				  "\"%s\" is the old name of the \"%s\" group, which is here too "
				  "(line %d): keep one, %s = { ... }",
				  CONFIG__OLD_SERVER, CONFIG__SERVER,
				  config_setting_source_line(old ? other : s), CONFIG__SERVER);
	if (old) {
		c->server_old_name = true;
		config__warn(c, s,
			     "the top-level \"%s\" group is now called \"%s\" (a device's \"%s\" "
			     "block is Modbus equipment): write %s = { ... }",
			     CONFIG__OLD_SERVER, CONFIG__SERVER, CONFIG__OLD_SERVER,
			     CONFIG__SERVER);
	}
	return 0;
}

/* --- listeners ------------------------------------------------------------ */

/* A device's `listener`: the name of an entry of `listeners`, or "server",
 * the `server` block's (kept as NULL, as when the key is left out). Which
 * entry it names is checked once every device is read
 * (config__listeners_check): the list may come after the devices. */
static int config__dev_listener(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_device *d = target;
	const char *v, *why;
	char path[256];

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return keys_error_type(p, s, " must be a string, the name of a listener");
	v = config_setting_get_string(s);
	if (v[0] == '\0')
		return keys_error_at(p, s, s, " must not be empty");
	if ((why = config__check_name(v)) != NULL)
		return keys_error_at(p, s, s, " %s", why);
	free(d->listener);
	d->listener = NULL;
	if (strcmp(v, CONFIG__OLD_SERVER) == 0 && p->ctx)
		config__warn(p->ctx, s,
			     "%s \"%s\" is the old name of the server block's listener: write "
			     "\"%s\" (or leave listener out)",
			     CONFIG__PATH(s, path), v, CONFIG__SERVER);
	if (strcmp(v, CONFIG__SERVER) == 0 || strcmp(v, CONFIG__OLD_SERVER) == 0)
		return 0;
	return (d->listener = strdup(v)) ? 0 : MB_ENOMEM;
}

/* A device that only changes its listener is the same device: a reload
 * moves it (reload.c routes it from the new config) and keeps its cache and
 * its link. */
static bool config__dev_listener_same(const struct config_key *k, const void *a, const void *b,
				      char *which, size_t len)
{
	(void)k;
	(void)a;
	(void)b;
	(void)which;
	(void)len;
	return true;
}

/* clang-format off */
static const struct config_key config__listener_keys[] = {
	{.name = "name", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_listener, name), .check = config__check_name},
	{.name = "listen", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_listener, listen), .check = config__check_addr},
	{.name = "port", .kind = CONFIG_K_INT, .flags = CONFIG_F_REQUIRED,
	 .off = offsetof(struct config_listener, port), .min = 1, .max = 65535},
};
/* clang-format on */

static void config__listener_free(struct config_listener *l)
{
	keys_free(config__listener_keys, CONFIG__N(config__listener_keys), l);
}

/* `listeners = ( { name = "vpp2"; port = 1503; }, ... )` */
static int config__listeners(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return keys_error_type(p, s,
				       " must be a list ( { name = ...; port = ...; }, ... )");
	n = config_setting_length(s);
	if (n == 0)
		return keys_error_at(p, s, s, " must not be empty: leave it out");
	if (!(c->listeners = calloc((size_t)n, sizeof *c->listeners)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct config_listener *l = &c->listeners[i];
		int rc;

		c->nlisteners = (size_t)i + 1;
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return keys_error_type(p, e, " must be a group { name = ...; ... }");
		if ((rc = keys_parse(p, e, config__listener_keys, CONFIG__N(config__listener_keys),
				     l)) != 0)
			return rc;
		l->line = config_setting_source_line(e);
		if (!l->listen && !(l->listen = strdup("0.0.0.0")))
			return MB_ENOMEM;
		if (strcmp(l->name, CONFIG__SERVER) == 0 ||
		    strcmp(l->name, CONFIG__OLD_SERVER) == 0)
			return keys_error_at(p, config_setting_get_member(e, "name"), e,
					     ".name \"%s\" is the name of the server block's "
					     "listener: choose another",
					     l->name);
		for (int j = 0; j < i; j++)
			if (strcmp(c->listeners[j].name, l->name) == 0)
				return keys_error_at(p, config_setting_get_member(e, "name"), e,
						     ".name \"%s\" is used by another listener too "
						     "(line %d)",
						     l->name, c->listeners[j].line);
	}
	return 0;
}

/* Do two listen addresses take the same port from each other? The same
 * address, or either one a wildcard (0.0.0.0 or ::, which the kernel refuses
 * beside any other address of its family, and :: beside 0.0.0.0 too on a
 * system where IPv6 sockets take IPv4 as well). */
static int config__addr_clash(const char *a, const char *b)
{
	unsigned char x[16], y[16];
	int fa = strchr(a, ':') ? AF_INET6 : AF_INET, fb = strchr(b, ':') ? AF_INET6 : AF_INET;
	size_t len;

	if (inet_pton(fa, a, x) != 1 || inet_pton(fb, b, y) != 1)
		return strcmp(a, b) == 0;
	int wa = fa == AF_INET ? !memcmp(x, "\0\0\0\0", 4) : !memcmp(x, in6addr_any.s6_addr, 16);
	int wb = fb == AF_INET ? !memcmp(y, "\0\0\0\0", 4) : !memcmp(y, in6addr_any.s6_addr, 16);
	if (fa != fb)
		return (wa && fa == AF_INET6) || (wb && fb == AF_INET6);
	if (wa || wb)
		return 1;
	len = fa == AF_INET ? 4 : 16;
	return memcmp(x, y, len) == 0;
}

/* What the tables cannot say about the listeners, once the whole file is
 * read: no two take the same port, and each device's `listener` names one
 * (a device's unit ID is unique within its listener: config__device_done). */
static int config__listeners_check(struct config_parser *p, config_t *lc, struct config *c)
{
	const config_setting_t *list = config_lookup(lc, "listeners");
	const config_setting_t *devs = config_lookup(lc, "devices");

	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct config_listener *l = &c->listeners[i];
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const config_setting_t *port = config_setting_get_member(e, "port");

		if (l->port == c->server.port && config__addr_clash(l->listen, c->server.listen))
			return keys_error_at(p, port, e,
					     ": %s port %d is the server block's listener too "
					     "(%s.listen \"%s\", %s.port %d)",
					     l->listen, l->port, config__server_group(c),
					     c->server.listen, config__server_group(c),
					     c->server.port);
		for (size_t j = 0; j < i; j++) {
			const struct config_listener *o = &c->listeners[j];
			if (l->port == o->port && config__addr_clash(l->listen, o->listen))
				return keys_error_at(
				    p, port, e, ": %s port %d is listener \"%s\"'s too (line %d)",
				    l->listen, l->port, o->name, o->line);
		}
	}
	for (size_t i = 0; i < c->ndevices; i++) {
		struct config_device *d = &c->devices[i];
		const config_setting_t *e, *k;
		char names[256];
		size_t used;

		d->listener_idx = 0;
		if (!d->listener)
			continue;
		for (size_t j = 0; j < c->nlisteners && !d->listener_idx; j++)
			if (strcmp(c->listeners[j].name, d->listener) == 0)
				d->listener_idx = (int)j + 1;
		if (d->listener_idx)
			continue;
		used = (size_t)snprintf(names, sizeof names, "\"%s\"", CONFIG__SERVER);
		for (size_t j = 0; j < c->nlisteners && used < sizeof names; j++)
			used += (size_t)snprintf(names + used, sizeof names - used, ", \"%s\"",
						 c->listeners[j].name);
		e = config_setting_get_elem(devs, (unsigned)i);
		k = e ? config_setting_get_member(e, "listener") : NULL;
		/* "devices.[1].listener", whether or not the key is there */
		return keys_error_at(
		    p, k ? k : e, e,
		    ".listener \"%s\" is not the name of a listener (the listeners are %s)",
		    d->listener, names);
	}
	return 0;
}

static bool config__streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Do two mqtt groups reach one broker with the same credentials, where a
 * device's answers reach every subscriber of its topic? */
static bool config__same_account(const struct config_mqtt *a, const struct config_mqtt *b)
{
	return a->port == b->port && a->has_tls == b->has_tls && config__streq(a->host, b->host) &&
	       config__streq(a->username, b->username) && config__streq(a->password, b->password);
}

/* Are two devices in the same unit-ID space? NULL is the server block's
 * listener (config__dev_listener). */
static bool config__same_listener(const struct config_device *a, const struct config_device *b)
{
	if (!a->listener || !b->listener)
		return a->listener == b->listener;
	return strcmp(a->listener, b->listener) == 0;
}

/* --- string lists -------------------------------------------------------- */

/* A list or array of strings; returns the strdup'd strings. */
static int config__strings(struct config_parser *p, const config_setting_t *s, char ***out,
			   size_t *nout)
{
	int n, t = config_setting_type(s);
	char **v;

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return keys_error_type(p, s, " must be a list of strings [ \"...\", ... ]");
	n = config_setting_length(s);
	if (n == 0)
		return keys_error_at(p, s, s, " must not be empty");
	if (!(v = calloc((size_t)n, sizeof *v)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING ||
		    config_setting_get_string(e)[0] == '\0') {
			for (int j = 0; j < i; j++)
				free(v[j]);
			free(v);
			if (config_setting_type(e) == CONFIG_TYPE_STRING)
				return keys_error_at(p, e, e, " must not be empty");
			return keys_error_type(p, e, " must be a string");
		}
		if (!(v[i] = strdup(config_setting_get_string(e)))) {
			for (int j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return MB_ENOMEM;
		}
	}
	*out = v;
	*nout = (size_t)n;
	return 0;
}

static void config__free_strings(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* --- the tables ---------------------------------------------------------- */

/* A list of CIDR strings (`allow`, `write_allow`) into *out, *n. */
static int config__cidrs(struct config_parser *p, const config_setting_t *s, struct cidr **out,
			 size_t *nout)
{
	char **v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = config__strings(p, s, &v, &n)) != 0)
		return rc;
	free(*out);
	*nout = 0;
	if (!(*out = calloc(n ? n : 1, sizeof **out))) {
		config__free_strings(v, n);
		return MB_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (cidr_parse(v[i], &(*out)[i]) != 0) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			rc = keys_error_at(p, e, e,
					   " must be an address or network such as "
					   "\"192.168.1.0/24\" or \"fd00::/8\", not \"%s\"",
					   v[i]);
			config__free_strings(v, n);
			return rc;
		}
	}
	*nout = n;
	config__free_strings(v, n);
	return 0;
}

static int config__allow(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	return config__cidrs(p, s, &c->server.allow, &c->server.nallow);
}

static int config__write_allow(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	return config__cidrs(p, s, &c->server.write_allow, &c->server.nwrite_allow);
}

/* `maps_path`: a list of directories, or one directory as a plain string
 * (what a newcomer writes first). */
static int config__maps_path(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	char **v = NULL;
	size_t n = 0;
	int rc;

	if (config_setting_type(s) == CONFIG_TYPE_STRING) {
		const char *one = config_setting_get_string(s);
		if (one[0] == '\0')
			return keys_error(p, s, "maps_path must not be empty");
		if (!(v = calloc(1, sizeof *v)) || !(v[0] = strdup(one))) {
			free(v);
			return MB_ENOMEM;
		}
		n = 1;
		rc = 0;
	} else {
		rc = config__strings(p, s, &v, &n);
	}

	if (rc == 0) {
		config__free_strings(c->maps_path, c->nmaps_path);
		c->maps_path = v;
		c->nmaps_path = n;
	}
	return rc;
}

/* clang-format off */
static const struct config_key config__server_keys[] = {
	{.name = "listen", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config, server.listen), .check = config__check_addr},
	{.name = "port", .kind = CONFIG_K_INT, .off = offsetof(struct config, server.port),
	 .min = 1, .max = 65535},
	{.name = "max_connections", .kind = CONFIG_K_INT,
	 .off = offsetof(struct config, server.max_connections), .min = 1, .max = 10000},
	{.name = "idle_timeout", .kind = CONFIG_K_INT,
	 .off = offsetof(struct config, server.idle_timeout), .min = 0, .max = INT32_MAX,
	 .unit = CONFIG_U_S},
	{.name = "allow", .kind = CONFIG_K_CUSTOM, .fn = config__allow},
	{.name = "write_allow", .kind = CONFIG_K_CUSTOM, .fn = config__write_allow},
	{.name = "default_unit", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config, server.default_unit), .check = config__check_name},
};
/* clang-format on */

/* clang-format off */
static const struct config_key config__defaults_keys[] = {
	{.name = "timeout", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.timeout),
	 .min = 1, .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "max_age", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.max_age),
	 .min = 0, .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "poll", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.poll),
	 .min = 0, .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "min_interval", .kind = CONFIG_K_INT64,
	 .off = offsetof(struct config, defaults.min_interval), .min = 0, .max = CONFIG__MS_MAX,
	 .unit = CONFIG_U_MS},
	{.name = "retries", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.retries),
	 .min = 0, .max = CONFIG_RETRIES_MAX},
	{.name = "client_wait", .kind = CONFIG_K_INT64,
	 .off = offsetof(struct config, defaults.client_wait), .min = 1, .max = CONFIG__MS_MAX,
	 .unit = CONFIG_U_MS},
};
/* clang-format on */

/* clang-format off */
static const struct config_key config__status_keys[] = {
	{.name = "mqtt", .kind = CONFIG_K_GROUP, .off = offsetof(struct config_status, mqtt),
	 .sub = config_mqtt_table, .nsub = CONFIG_MQTT_NKEYS, .fn = config_mqtt_done},
	{.name = "prefix", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_status, prefix), .check = config_mqtt_check_topic},
	{.name = "interval", .kind = CONFIG_K_INT, .off = offsetof(struct config_status, interval),
	 .min = 1, .max = 86400, .unit = CONFIG_U_S},
};
/* clang-format on */

static int config__status_done(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_status *st = target;

	(void)p;
	(void)s;
	st->enabled = 1;
	return 0;
}

#define CONFIG__DEV(field) offsetof(struct config_device, field)

const char config_roles[][9] = {"grid", "load", "pv", "battery", "inverter", ""};

/* clang-format off */
static const struct config_key config__device_common_keys[] = {
	{.name = "name", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = CONFIG__DEV(name), .check = config__check_name},
	{.name = "unit_id", .kind = CONFIG_K_INT, .flags = CONFIG_F_REQUIRED,
	 .off = CONFIG__DEV(unit_id), .min = 1, .max = 247},
	{.name = "map", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = CONFIG__DEV(map), .check = config__check_mapname},
	{.name = "read_only", .kind = CONFIG_K_BOOL, .off = CONFIG__DEV(read_only)},
	{.name = "role", .kind = CONFIG_K_CHOICE, .off = CONFIG__DEV(role),
	 CONFIG_CHOICES(config_roles), .choice_base = CONFIG_ROLE_GRID},
	{.name = "timeout", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(timeout), .min = 1,
	 .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "max_age", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(max_age), .min = 0,
	 .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "poll", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(poll), .min = 0,
	 .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "min_interval", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(min_interval), .min = 0,
	 .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "retries", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(retries), .min = 0,
	 .max = CONFIG_RETRIES_MAX},
	{.name = "client_wait", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(client_wait), .min = 1,
	 .max = CONFIG__MS_MAX, .unit = CONFIG_U_MS},
	{.name = "passthrough_cache", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(passthrough_cache),
	 .min = CONFIG_PASS_CACHE_MIN, .max = CONFIG_PASS_CACHE_MAX, .unit = CONFIG_U_REGISTERS},
	{.name = "mqtt", .kind = CONFIG_K_GROUP, .off = CONFIG__DEV(mqtt), .sub = config_mqtt_table,
	 .nsub = CONFIG_MQTT_NKEYS, .fn = config_mqtt_done},
	{.name = "listener", .kind = CONFIG_K_CUSTOM, .fn = config__dev_listener,
	 .same = config__dev_listener_same},
};
/* clang-format on */

/* A protocol's block struct, with its defaults; *out NULL for a protocol
 * whose block holds nothing. */
static int config__block_new(const struct protocol *pr, void **out)
{
	void *pc = NULL;
	int rc = 0;

	if (pr->cfg_size && !(pc = calloc(1, pr->cfg_size)))
		return MB_ENOMEM;
	if (pr->cfg_init && (rc = pr->cfg_init(pc)) != 0) {
		keys_free(pr->keys, pr->nkeys, pc);
		free(pc);
		return rc;
	}
	*out = pc;
	return 0;
}

static void config__block_free(const struct protocol *pr, void *pc)
{
	if (pr && pc)
		keys_free(pr->keys, pr->nkeys, pc);
	free(pc);
}

/* A protocol block, e.g. `venus = { ... }`: checked with the protocol's own
 * key table into its own struct. A second block is checked too (its errors
 * come in file order) and then dropped: config__device_done refuses it. */
static int config__block(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_device *d = target;
	const struct protocol *pr = protocol_find(config_setting_name(s));
	void *pc;
	int rc;

	if (!pr)
		return MB_EINVAL;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return keys_error_type(p, s, " must be a group { ... }");
	if ((rc = config__block_new(pr, &pc)) != 0)
		return rc;
	rc = keys_parse(p, s, pr->keys, pr->nkeys, pc);
	if (rc == 0 && !d->proto) {
		d->proto = pr;
		d->proto_cfg = pc;
		return 0;
	}
	config__block_free(pr, pc);
	return rc;
}

/* The block of a protocol this build left out (`make WITH_MODBUS=0`). */
static int config__block_left_out(struct config_parser *p, const config_setting_t *s, void *target)
{
	char fix[128];
	(void)target;
	snprintf(fix, sizeof fix, "remove the %s block", config_setting_name(s));
	return protocol_refuse_left_out(p, s, config_setting_name(s), fix);
}

/* A block key is the same in two devices when neither has this protocol,
 * or both have it with the same values. */
static bool config__block_same(const struct config_key *k, const void *a, const void *b,
			       char *which, size_t len)
{
	const struct config_device *x = a, *y = b;
	int mine = (x->proto && strcmp(x->proto->name, k->name) == 0) ||
		   (y->proto && strcmp(y->proto->name, k->name) == 0);
	char sub[256];

	if (!mine)
		return true;
	if (x->proto != y->proto) {
		snprintf(which, len, "%s", k->name);
		return false;
	}
	if (!keys_same(x->proto->keys, x->proto->nkeys, x->proto_cfg, y->proto_cfg, sub,
		       sizeof sub)) {
		snprintf(which, len, "%s.%s", k->name, sub);
		return false;
	}
	return true;
}

/* The key of a protocol's block, named as the protocol. */
static struct config_key config__block_key(
    const char *name, int (*fn)(struct config_parser *, const config_setting_t *, void *),
    bool (*same)(const struct config_key *, const void *, const void *, char *, size_t))
{
	struct config_key k = {.kind = CONFIG_K_CUSTOM, .fn = fn, .same = same};
	snprintf(k.name, sizeof k.name, "%s", name);
	return k;
}

/* The device keys: the common ones, then one block per registered protocol
 * (in registry order, which the "unknown key" message lists). Built once:
 * the registry is fixed when the program is built. */
static struct config_key config__device_keys[CONFIG__N(config__device_common_keys) + PROTOCOL_MAX];
static size_t config__ndevice_keys;

const struct config_key *config_device_keys(size_t *nkeys)
{
	if (!config__ndevice_keys) {
		size_t n = CONFIG__N(config__device_common_keys);
		memcpy(config__device_keys, config__device_common_keys,
		       sizeof config__device_common_keys);
		for (size_t i = 0; i < protocol_count() && i < PROTOCOL_MAX; i++)
			config__device_keys[n++] = config__block_key(
			    protocol_at(i)->name, config__block, config__block_same);
		for (size_t i = 0; protocol_left_out(i) && protocol_count() + i < PROTOCOL_MAX; i++)
			config__device_keys[n++] =
			    config__block_key(protocol_left_out(i), config__block_left_out, NULL);
		config__ndevice_keys = n;
	}
	*nkeys = config__ndevice_keys;
	return config__device_keys;
}

const struct config_key *config_defaults_keys(size_t *nkeys)
{
	*nkeys = CONFIG__N(config__defaults_keys);
	return config__defaults_keys;
}

static int config__device_defaults(struct config_device *d)
{
	memset(d, 0, sizeof *d);
	d->timeout = d->max_age = d->poll = d->min_interval = d->retries = d->client_wait = -1;
	return config_mqtt_group(NULL, NULL, &d->mqtt);
}

static void config__device_free(struct config_device *d)
{
	size_t n;
	const struct config_key *keys = config_device_keys(&n);

	keys_free(keys, n, d);
	config__block_free(d->proto, d->proto_cfg);
	free(d->listener);
}

/* What the table cannot say about one device: one protocol block, MQTT only
 * where the protocol uses it, the protocol's own checks, unique names and
 * unit IDs. */
static int config__device_done(struct config_parser *p, const config_setting_t *s, struct config *c,
			       size_t idx)
{
	struct config_device *d = &c->devices[idx];
	const config_setting_t *block = NULL, *m;
	int rc;

	d->line = config_setting_source_line(s);
	for (size_t i = 0; i < protocol_count(); i++) {
		const config_setting_t *b = config_setting_get_member(s, protocol_at(i)->name);
		if (!b)
			continue;
		if (block) {
			/* Name the second block in file order. */
			const config_setting_t *first = block, *second = b;
			if (config_setting_index(b) < config_setting_index(block))
				first = b, second = block;
			return keys_error_at(
			    p, second, s, " has two protocol blocks, %s and %s: keep one",
			    config_setting_name(first), config_setting_name(second));
		}
		block = b;
	}

	int mqtt = d->proto && (d->proto->flags & PROTOCOL_MQTT);
	m = config_setting_get_member(s, "mqtt");
	d->has_mqtt = m != NULL;
	if (mqtt && !m)
		return keys_error_at(p, block, s,
				     ".%s needs an mqtt group: the broker the device talks through",
				     config_setting_name(block));
	/* Without a block the map names the protocol, and the fit check
	 * (reload.c) says what is missing: the block, or that the mqtt group
	 * is not needed. */
	if (!mqtt && m && block)
		return keys_error_at(p, m, s, ".mqtt: a %s device does not use MQTT; remove it",
				     config_setting_name(block));
	if (d->proto && d->proto->cfg_done &&
	    (rc = d->proto->cfg_done(p, block, d->proto_cfg)) != 0)
		return rc;

	for (size_t i = 0; i < idx; i++) {
		const struct config_device *o = &c->devices[i];
		if (o->unit_id == d->unit_id && config__same_listener(o, d)) {
			const config_setting_t *u = config_setting_get_member(s, "unit_id");
			if (d->listener)
				return keys_error_at(
				    p, u, s,
				    ".unit_id %d is used by device \"%s\" (line %d) "
				    "too, on listener \"%s\"",
				    d->unit_id, o->name, o->line, d->listener);
			return keys_error_at(p, u, s, ".unit_id %d is used by device \"%s\" too",
					     d->unit_id, o->name);
		}
		if (strcmp(o->name, d->name) == 0) {
			const config_setting_t *n = config_setting_get_member(s, "name");
			return keys_error_at(p, n, s,
					     ".name \"%s\" is used by another device too (line %d)",
					     d->name, o->line);
		}
	}
	return 0;
}

/* One device of a peer check: a hash of what makes two devices the same
 * peer on one broker, and the device's index. */
struct config__peer {
	uint64_t h;
	size_t i;
};

/* h with string s added, its NUL too: "ab","c" and "a","bc" differ. */
static uint64_t config__fnv(uint64_t h, const char *s)
{
	return s ? fnv_add(h, s, strlen(s) + 1) : h;
}

static int config__peer_cmp(const void *a, const void *b)
{
	const struct config__peer *x = a, *y = b;
	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Two devices of one broker and credentials that name the same peer
 * (struct protocol's same_peer): the broker hands the peer's answers to
 * only one of them. Checked after every device is read, by sorting a hash
 * of the peer's text and the account, so that a fleet of 10,000 batteries
 * costs n log n here and not n^2 string compares (start-up: 0.4 s, not
 * 1.1 s). Equal hashes are compared in full; the error names the later
 * device's block in file order. */
static int config__peers_check(struct config_parser *p, const config_setting_t *list,
			       const struct config *c)
{
	struct config__peer *v;
	size_t m = 0;
	int rc = 0;

	if (!(v = malloc((c->ndevices ? c->ndevices : 1) * sizeof *v)))
		return MB_ENOMEM;
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct config_device *d = &c->devices[i];
		char peer[128] = "";
		uint64_t h = FNV_INIT;

		if (!d->proto || !d->proto->same_peer || !(d->proto->flags & PROTOCOL_MQTT))
			continue;
		if (d->proto->what_peer)
			d->proto->what_peer(d->proto_cfg, peer, sizeof peer);
		h = config__fnv(h, d->proto->name);
		h = config__fnv(h, peer);
		h = config__fnv(h, d->mqtt.host);
		h = config__fnv(h, d->mqtt.username);
		h = config__fnv(h, d->mqtt.password);
		h = fnv_add(h, &d->mqtt.port, sizeof d->mqtt.port);
		h = fnv_add(h, &d->mqtt.has_tls, sizeof d->mqtt.has_tls);
		v[m++] = (struct config__peer){h, i};
	}
	qsort(v, m, sizeof *v, config__peer_cmp);
	for (size_t a = 0, b; a < m && rc == 0; a = b) {
		for (b = a + 1; b < m && v[b].h == v[a].h; b++)
			;
		for (size_t y = a + 1; y < b && rc == 0; y++)
			for (size_t x = a; x < y && rc == 0; x++) {
				const struct config_device *o = &c->devices[v[x].i];
				const struct config_device *d = &c->devices[v[y].i];
				if (o->proto != d->proto ||
				    !config__same_account(&o->mqtt, &d->mqtt) ||
				    !d->proto->same_peer(o->proto_cfg, d->proto_cfg))
					continue;
				const config_setting_t *s =
				    config_setting_get_elem(list, (unsigned)v[y].i);
				const config_setting_t *block =
				    config_setting_get_member(s, d->proto->name);
				char peer[128] = "the same device";
				if (d->proto->what_peer)
					d->proto->what_peer(d->proto_cfg, peer, sizeof peer);
				rc = keys_error_at(
				    p, block ? block : s, s,
				    ".%s: %s is device \"%s\"'s too (line %d), on the "
				    "same broker: its answers would reach only one of them",
				    d->proto->name, peer, o->name, o->line);
			}
	}
	free(v);
	return rc;
}

static int config__devices(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	const struct config_key *keys;
	size_t nkeys;
	int n;

	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return keys_error_type(p, s, " must be a list ( { ... }, ... )");
	n = config_setting_length(s);
	if (n == 0)
		return keys_error_at(p, s, s, " is empty: configure at least one device");
	if (!(c->devices = calloc((size_t)n, sizeof *c->devices)))
		return MB_ENOMEM;
	keys = config_device_keys(&nkeys);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct config_device *d = &c->devices[i];
		int rc;

		if ((rc = config__device_defaults(d)) != 0)
			return rc;
		c->ndevices = (size_t)i + 1;
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			return keys_error_type(p, e, " must be a group { name = ...; ... }");
		}
		rc = keys_parse(p, e, keys, nkeys, d);
		if (rc == 0)
			rc = config__device_done(p, e, c, (size_t)i);
		if (rc != 0)
			return rc;
	}
	return config__peers_check(p, s, c);
}

/* `user`: the daemon drops to this user after binding (when started as
 * root). Starting refuses a user that does not exist, and one with uid 0,
 * from which root could be regained; refuse both here, with the line, so
 * that --check and a reload say so too. */
static int config__user(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	const struct passwd *pw;
	const char *name;
	char *dup;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return keys_error_type(p, s, " must be a string");
	name = config_setting_get_string(s);
	if (name[0] == '\0')
		return keys_error(p, s, "user must not be empty");
	errno = 0;
	if (!(pw = getpwnam(name))) {
		if (errno != 0 && errno != ENOENT && errno != ESRCH && errno != EBADF &&
		    errno != EPERM)
			return keys_error(p, s, "user \"%s\": cannot look it up: %s", name,
					  strerror(errno));
		return keys_error(p, s, "user \"%s\" does not exist", name);
	}
	if (pw->pw_uid == 0)
		return keys_error(p, s,
				  "user \"%s\" has uid 0: the daemon would still be able to "
				  "regain root after dropping to it; name an unprivileged user",
				  name);
	if (!(dup = strdup(name)))
		return MB_ENOMEM;
	free(c->user);
	c->user = dup;
	return 0;
}

/* --- web_settings -------------------------------------------------------- */

/* `managed_by`: a word the page shows ("uci"). */
static const char *config__check_word(const char *v)
{
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || *v == '_' ||
		      *v == '-'))
			return "must be a word of lower-case letters, digits, '_' and '-' "
			       "(\"uci\")";
	return NULL;
}

#define CONFIG__WS(f)                                                                              \
	offsetof(struct config, web_settings.f) - offsetof(struct config, web_settings)

/* clang-format off */
static const struct config_key config__web_settings_keys[] = {
	{.name = "file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = CONFIG__WS(file)},
	{.name = "managed_by", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = CONFIG__WS(managed_by), .check = config__check_word},
};
/* clang-format on */

static int config__web_settings_done(struct config_parser *p, const config_setting_t *s,
				     void *target)
{
	struct config *c =
	    (struct config *)((char *)target - offsetof(struct config, web_settings));
	const char *f = c->web_settings.file;
	const char *slash;

	c->web_settings.line = config_setting_source_line(s);
	if (f && c->web_settings.managed_by)
		return keys_error(p, config_setting_get_member(s, "managed_by"),
				  "web_settings: file and managed_by exclude each other (settings "
				  "managed by %s are not saved from the web page)",
				  c->web_settings.managed_by);
	if (!f)
		return 0;
	/* Relative to the config's folder, as @include is (keys.c). */
	slash = strrchr(c->path, '/');
	if (f[0] == '/' || !slash)
		c->web_settings.path = strdup(f);
	else if ((c->web_settings.path = malloc((size_t)(slash - c->path) + 2 + strlen(f))))
		sprintf(c->web_settings.path, "%.*s/%s", (int)(slash - c->path), c->path, f);
	return c->web_settings.path ? 0 : MB_ENOMEM;
}

/* The web settings file: the `mqtt_export` and `influxdb` groups, checked
 * by their own handlers as if the file were @included at the end of the
 * main file, so that its errors name its own file and line. Read by the
 * loader rather than with @include: a fresh install has no such file yet (a
 * missing @include file fails the whole config), and libconfig 1.5 cannot
 * point one @include at the new version being checked (settings). A
 * missing file is an empty one; the page's first save creates it. */
static int config__web_settings_file(struct config_parser *p, config_t *lc, struct config *c,
				     const char *settings)
{
	const char *path = settings ? settings : c->web_settings.path;
	struct stat st;
	config_t sl;
	int rc;

	if (!c->web_settings.path)
		return 0;
	if (!settings && stat(path, &st) != 0 && errno == ENOENT)
		return 0;
	if ((rc = keys_parse_file(&sl, path, p->err, p->errlen)) != 0)
		return rc;
	const config_setting_t *root = config_root_setting(&sl);
	for (int i = 0; rc == 0 && i < config_setting_length(root); i++) {
		const config_setting_t *e = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(e);
		const config_setting_t *main = config_lookup(lc, name);
		int mqtt = strcmp(name, "mqtt_export") == 0;

		if (!mqtt && strcmp(name, "influxdb") != 0)
			rc = keys_error(p, e,
					"%s does not belong in the web settings file: it holds "
					"only the mqtt_export and influxdb groups (put %s in %s)",
					name, name, c->path);
		else if (main)
			rc = keys_error(p, e,
					"%s is set in %s:%d too: keep one (the web page saves "
					"this file)",
					name, c->path, config_setting_source_line(main));
		else if (mqtt && (rc = export_config_mqtt(p, e, &c->export)) == 0)
			c->web_settings.has_mqtt = 1;
		else if (!mqtt && (rc = export_config_influx(p, e, &c->export)) == 0)
			c->web_settings.has_influx = 1;
	}
	config_destroy(&sl);
	return rc;
}

/* `log_level`, in log.h's order (enum log_level) */
static const char config__log_levels[][8] = {"error", "warning", "info", "debug", ""};

/* clang-format off */
static const struct config_key config__top_keys[] = {
	{.name = CONFIG__SERVER, .kind = CONFIG_K_GROUP, .sub = config__server_keys,
	 .nsub = CONFIG__N(config__server_keys), .fn = config__server_once},
	{.name = CONFIG__OLD_SERVER, .kind = CONFIG_K_GROUP, .flags = CONFIG_F_OLD,
	 .sub = config__server_keys,
	 .nsub = CONFIG__N(config__server_keys), .fn = config__server_once},
	{.name = "maps_path", .kind = CONFIG_K_CUSTOM, .fn = config__maps_path},
	{.name = "defaults", .kind = CONFIG_K_GROUP, .sub = config__defaults_keys,
	 .nsub = CONFIG__N(config__defaults_keys)},
	{.name = "user", .kind = CONFIG_K_CUSTOM, .fn = config__user},
	{.name = "log_level", .kind = CONFIG_K_CHOICE, .off = offsetof(struct config, log_level),
	 CONFIG_CHOICES(config__log_levels), .choice_base = 1},
	{.name = "status", .kind = CONFIG_K_GROUP, .off = offsetof(struct config, status),
	 .sub = config__status_keys, .nsub = CONFIG__N(config__status_keys),
	 .fn = config__status_done},
	{.name = "devices", .kind = CONFIG_K_CUSTOM, .flags = CONFIG_F_REQUIRED,
	 .fn = config__devices},
	{.name = "listeners", .kind = CONFIG_K_CUSTOM, .fn = config__listeners},
	{.name = "http", .kind = CONFIG_K_CUSTOM, .off = offsetof(struct config, http),
	 .fn = http_config_parse},
	{.name = "mqtt_export", .kind = CONFIG_K_CUSTOM, .off = offsetof(struct config, export),
	 .fn = export_config_mqtt},
	{.name = "influxdb", .kind = CONFIG_K_CUSTOM, .off = offsetof(struct config, export),
	 .fn = export_config_influx},
	{.name = "web_settings", .kind = CONFIG_K_GROUP, .off = offsetof(struct config, web_settings),
	 .sub = config__web_settings_keys, .nsub = CONFIG__N(config__web_settings_keys),
	 .fn = config__web_settings_done},
};
/* clang-format on */

/* --- load / free --------------------------------------------------------- */

static int config__defaults(struct config *c, const char *path)
{
	/* Where `make install` put the maps: the Makefile passes its SYSCONFDIR
	 * and PREFIX, so that PREFIX=/usr/local finds its own maps. */
	static const char *const maps[] = {MB_MAPS_DIRS};

	if (!(c->path = strdup(path)) || !(c->server.listen = strdup("0.0.0.0")))
		return MB_ENOMEM;
	c->server.port = 502;
	c->server.max_connections = 64;
	c->server.idle_timeout = 120;
	if (!(c->maps_path = calloc(CONFIG__N(maps), sizeof *c->maps_path)))
		return MB_ENOMEM;
	for (size_t i = 0; i < CONFIG__N(maps); i++) {
		if (!(c->maps_path[i] = strdup(maps[i])))
			return MB_ENOMEM;
		c->nmaps_path = i + 1;
	}
	/* -1 until the file is read: config_load records what the file gave
	 * (defaults_given) and then puts the built-in values in. */
	c->defaults.timeout = c->defaults.max_age = c->defaults.poll = c->defaults.min_interval =
	    -1;
	c->defaults.retries = -1;     /* the built-in default applies: CONFIG_RETRIES_DEFAULT */
	c->defaults.client_wait = -1; /* include/timing.h */
	c->status.interval = 60;
	if (!(c->status.prefix = strdup("modbridge")))
		return MB_ENOMEM;
	return config_mqtt_group(NULL, NULL, &c->status.mqtt);
}

/* libconfig says only "syntax error"; name the mistakes that cause it most
 * often in a config like ours. */
static void config__syntax_hint(int rc, char *err, size_t errlen)
{
	size_t used;

	if (rc != MB_EPARSE || !err || !strstr(err, "syntax error"))
		return;
	used = strlen(err);
	snprintf(err + used, errlen - used,
		 " (hint: common causes are a missing ';' after a value or a group, a comma"
		 " after the last element of a list, a missing comma between two devices"
		 " ( { ... }, { ... } ), and devices = [ ... ] instead of devices = ( ... )"
		 ", as a [ ] array holds only plain values)");
}

/* Record which timing defaults the file set, then fill in the built-in
 * ones (docs/design.md, "Timing and retries"). */
static void config__defaults_given(struct config *c)
{
	static const int64_t builtin[] = {3000, 1000, 0, 0};
	int64_t *v[] = {&c->defaults.timeout, &c->defaults.max_age, &c->defaults.poll,
			&c->defaults.min_interval};
	int64_t *g[] = {&c->defaults_given.timeout, &c->defaults_given.max_age,
			&c->defaults_given.poll, &c->defaults_given.min_interval};
	for (size_t i = 0; i < CONFIG__N(v); i++) {
		*g[i] = *v[i];
		if (*v[i] < 0)
			*v[i] = builtin[i];
	}
}

/* `server.default_unit` names a configured device on the server block's
 * listener, the one whose units 0 and 255 it answers: a device of another
 * listener would answer them nowhere (the devices are read after the
 * server group, so this runs once both are). */
static int config__default_unit(struct config_parser *p, config_t *lc, const struct config *c)
{
	const char *name = c->server.default_unit;
	char names[256], key[64];
	size_t used = 0;

	if (!name)
		return 0;
	snprintf(key, sizeof key, "%s.default_unit", config__server_group(c));
	for (size_t i = 0; i < c->ndevices; i++) {
		if (strcmp(c->devices[i].name, name) != 0)
			continue;
		if (!c->devices[i].listener)
			return 0;
		return keys_error(p, config_lookup(lc, key),
				  "%s \"%s\" is a device of listener \"%s\" (line %d); units 0 "
				  "and 255 are the server block's listener's, so it must be a "
				  "device of that listener",
				  key, name, c->devices[i].listener, c->devices[i].line);
	}
	names[0] = '\0';
	for (size_t i = 0; i < c->ndevices && used < sizeof names; i++)
		used += (size_t)snprintf(names + used, sizeof names - used, "%s\"%s\"",
					 i ? ", " : "", c->devices[i].name);
	return keys_error(p, config_lookup(lc, key),
			  "%s \"%s\" is not the name of a device (the devices are %s)", key, name,
			  names);
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	return config_load_with(path, NULL, out, err, errlen);
}

int config_load_with(const char *path, const char *settings, struct config **out, char *err,
		     size_t errlen)
{
	struct config_parser p = {.err = err, .errlen = errlen, .file = path};
	struct config *c;
	config_t lc;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	*out = NULL;

	if (!(c = calloc(1, sizeof *c)))
		return MB_ENOMEM;
	p.ctx = c; /* for config__warn */
	if ((rc = config__defaults(c, path)) != 0) {
		config_free(c);
		return rc;
	}
	if ((rc = keys_parse_file(&lc, path, err, errlen)) != 0) {
		config__syntax_hint(rc, err, errlen);
		config_free(c);
		return rc;
	}
	rc = keys_parse(&p, config_root_setting(&lc), config__top_keys, CONFIG__N(config__top_keys),
			c);
	if (rc != 0) {
		config_destroy(&lc);
		config_free(c);
		return rc;
	}
	if ((rc = config__web_settings_file(&p, &lc, c, settings)) != 0) {
		config_destroy(&lc);
		config_free(c);
		return rc;
	}
	config__defaults_given(c);
	if ((rc = config__default_unit(&p, &lc, c)) != 0 ||
	    (rc = config__listeners_check(&p, &lc, c)) != 0) {
		config_destroy(&lc);
		config_free(c);
		return rc;
	}
	config_destroy(&lc);
	*out = c;
	return 0;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->warnings);
	free(c->server.listen);
	free(c->server.allow);
	free(c->server.write_allow);
	free(c->server.default_unit);
	config__free_strings(c->maps_path, c->nmaps_path);
	free(c->user);
	keys_free(config_mqtt_table, CONFIG_MQTT_NKEYS, &c->status.mqtt);
	free(c->status.prefix);
	keys_free(config__web_settings_keys, CONFIG__N(config__web_settings_keys),
		  &c->web_settings);
	free(c->web_settings.path);
	http_config_free(c->http);
	export_config_free(c->export);
	for (size_t i = 0; i < c->ndevices; i++)
		config__device_free(&c->devices[i]);
	free(c->devices);
	for (size_t i = 0; i < c->nlisteners; i++)
		config__listener_free(&c->listeners[i]);
	free(c->listeners);
	free(c);
}

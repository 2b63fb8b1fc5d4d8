/* The config file (docs/design.md, "Config file"). libconfig parses the syntax;
 * every group is then checked against a const table of the keys it may hold,
 * by one generic routine (config_keys_parse) that the map loader uses too.
 * Anything the table cannot say (one protocol block per device, unique unit
 * IDs, a port that depends on tls) is checked after the table, in code.
 * Protocols are known only through the registry (protocol.h): a device's
 * protocol block is checked with the protocol's own key table. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <mosquitto.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mb_error.h"
#include "protocol.h"

#define CONFIG__N(a) (sizeof(a) / sizeof((a)[0]))
/* The largest timing value in ms we accept: libuv timers take uint64, but a
 * month-long timeout is a typo, and int32 keeps arithmetic on it safe. */
#define CONFIG__MS_MAX INT32_MAX
/* A setting's path for a message. Computed only when a message is written:
 * the path of a list element needs libconfig's config_setting_index(), a
 * linear scan of the list, and doing that for every key of a map with
 * thousands of registers made loading quadratic. */
#define CONFIG__PATH(s, buf) config_key_path((s), (buf), sizeof(buf))

/* --- generic checking ---------------------------------------------------- */

const char *config_key_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *chain[32];
	size_t n = 0, used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (; s && !config_setting_is_root(s) && n < CONFIG__N(chain);
	     s = config_setting_parent(s))
		chain[n++] = s;
	while (n-- > 0 && used < len) {
		const char *name = config_setting_name(chain[n]);
		int w;
		const char *dot = used ? "." : "";
		if (name)
			w = snprintf(buf + used, len - used, "%s%s", dot, name);
		else
			w = snprintf(buf + used, len - used, "%s[%d]", dot,
				     config_setting_index(chain[n]));
		if (w < 0)
			break;
		used += (size_t)w;
	}
	return buf;
}

const char *config_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a float";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

int config_error(struct config_parser *p, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	int line = s ? config_setting_source_line(s) : 0;
	va_list ap;
	int w;

	if (!p->err || p->errlen == 0)
		return MB_EPARSE;
	if (!file)
		file = p->file ? p->file : "?";
	if (line > 0)
		w = snprintf(p->err, p->errlen, "%s:%d: ", file, line);
	else
		w = snprintf(p->err, p->errlen, "%s: ", file);
	if (w >= 0 && (size_t)w < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + w, p->errlen - (size_t)w, fmt, ap);
		va_end(ap);
	}
	return MB_EPARSE;
}

static int config__is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* The range of a key: its own, or that of the field it is stored in. */
static void config__range(const struct config_key *k, int64_t *lo, int64_t *hi)
{
	if (k->min != 0 || k->max != 0) {
		*lo = k->min;
		*hi = k->max;
		return;
	}
	switch (k->kind) {
	case CONFIG_K_INT:
		*lo = INT_MIN, *hi = INT_MAX;
		break;
	case CONFIG_K_UINT32:
		*lo = 0, *hi = UINT32_MAX;
		break;
	case CONFIG_K_UINT16:
		*lo = 0, *hi = UINT16_MAX;
		break;
	default:
		*lo = INT64_MIN, *hi = INT64_MAX;
		break;
	}
}

static int config__range_error(struct config_parser *p, const config_setting_t *s,
			       const struct config_key *k, const char *path, int64_t v, int64_t lo,
			       int64_t hi)
{
	char range[64], unit[16] = "", hint[128] = "";

	if (hi == INT64_MAX || hi == INT32_MAX)
		snprintf(range, sizeof range, ">= %" PRId64, lo);
	else
		snprintf(range, sizeof range, "%" PRId64 "..%" PRId64, lo, hi);
	if (k->unit)
		snprintf(unit, sizeof unit, " (%s)", k->unit);
	/* libconfig before 1.6 wraps a literal above INT32_MAX to a negative
	 * int unless it carries an L suffix; say so when that is likely. */
	if (config_setting_type(s) == CONFIG_TYPE_INT && hi > INT32_MAX && v < 0)
		snprintf(hint, sizeof hint,
			 "; numbers above 2147483647 need an L suffix, e.g. %" PRId64 "L", hi);
	return config_error(p, s, "%s must be %s%s, not %" PRId64 "%s", path, range, unit, v, hint);
}

static void config__choices(const struct config_key *k, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; k->choices[i] && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", k->choices[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* Store one setting per its key. */
static int config__key(struct config_parser *p, const struct config_key *k,
		       const config_setting_t *s, void *target)
{
	char path[256];
	char *field = (char *)target + k->off;
	int64_t v = 0, lo, hi;

	switch (k->kind) {
	case CONFIG_K_STRING: {
		const char *str, *why;
		char *dup, *old;
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return config_error(p, s, "%s must be a string, not %s",
					    CONFIG__PATH(s, path), config_type_name(s));
		str = config_setting_get_string(s);
		if ((k->flags & CONFIG_F_NONEMPTY) && str[0] == '\0')
			return config_error(p, s, "%s must not be empty", CONFIG__PATH(s, path));
		if (k->check && (why = k->check(str)) != NULL)
			return config_error(p, s, "%s %s, not \"%s\"", CONFIG__PATH(s, path), why,
					    str);
		if (!(dup = strdup(str)))
			return MB_ENOMEM;
		memcpy(&old, field, sizeof old);
		free(old);
		memcpy(field, &dup, sizeof dup);
		return 0;
	}
	case CONFIG_K_INT:
	case CONFIG_K_INT64:
	case CONFIG_K_UINT32:
	case CONFIG_K_UINT16:
		if (!config__is_int(s))
			return config_error(p, s, "%s must be an integer, not %s",
					    CONFIG__PATH(s, path), config_type_name(s));
		v = config_setting_get_int64(s);
		config__range(k, &lo, &hi);
		if (v < lo || v > hi)
			return config__range_error(p, s, k, CONFIG__PATH(s, path), v, lo, hi);
		if (k->kind == CONFIG_K_INT) {
			int x = (int)v;
			memcpy(field, &x, sizeof x);
		} else if (k->kind == CONFIG_K_INT64) {
			int64_t x = v;
			memcpy(field, &x, sizeof x);
		} else if (k->kind == CONFIG_K_UINT32) {
			uint32_t x = (uint32_t)v;
			memcpy(field, &x, sizeof x);
		} else {
			uint16_t x = (uint16_t)v;
			memcpy(field, &x, sizeof x);
		}
		return 0;
	case CONFIG_K_BOOL:
	case CONFIG_K_BOOL8:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return config_error(p, s, "%s must be true or false, not %s",
					    CONFIG__PATH(s, path), config_type_name(s));
		if (k->kind == CONFIG_K_BOOL) {
			int x = config_setting_get_bool(s) ? 1 : 0;
			memcpy(field, &x, sizeof x);
		} else {
			int8_t x = config_setting_get_bool(s) ? 1 : 0;
			memcpy(field, &x, sizeof x);
		}
		return 0;
	case CONFIG_K_FLOAT: {
		double d;
		if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
			d = config_setting_get_float(s);
		else if (config__is_int(s))
			d = (double)config_setting_get_int64(s);
		else
			return config_error(p, s, "%s must be a number, not %s",
					    CONFIG__PATH(s, path), config_type_name(s));
		memcpy(field, &d, sizeof d);
		return 0;
	}
	case CONFIG_K_CHOICE: {
		char list[256];
		const char *str;
		config__choices(k, list, sizeof list);
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return config_error(p, s, "%s must be one of %s (a string), not %s",
					    CONFIG__PATH(s, path), list, config_type_name(s));
		str = config_setting_get_string(s);
		for (int i = 0; k->choices[i]; i++) {
			if (strcmp(k->choices[i], str) == 0) {
				uint8_t x = (uint8_t)(k->choice_base + i);
				memcpy(field, &x, sizeof x);
				return 0;
			}
		}
		return config_error(p, s, "%s must be one of %s, not \"%s\"", CONFIG__PATH(s, path),
				    list, str);
	}
	case CONFIG_K_GROUP: {
		int rc;
		if (config_setting_type(s) != CONFIG_TYPE_GROUP)
			return config_error(p, s, "%s must be a group { ... }, not %s",
					    CONFIG__PATH(s, path), config_type_name(s));
		rc = config_keys_parse(p, s, k->sub, k->nsub, field);
		if (rc == 0 && k->fn)
			rc = k->fn(p, s, field);
		return rc;
	}
	case CONFIG_K_CUSTOM:
		return k->fn ? k->fn(p, s, target) : 0;
	case CONFIG_K_LATER:
		return 0;
	}
	return MB_EINVAL;
}

int config_keys_parse(struct config_parser *p, const config_setting_t *group,
		      const struct config_key *keys, size_t nkeys, void *target)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct config_key *k = NULL;
		int rc;

		for (size_t j = 0; name && j < nkeys; j++) {
			if (strcmp(keys[j].name, name) == 0) {
				k = &keys[j];
				break;
			}
		}
		if (!k) {
			char path[256], gpath[256], known[512];
			size_t used = 0;
			known[0] = '\0';
			for (size_t j = 0; j < nkeys && used < sizeof known; j++) {
				int w = snprintf(known + used, sizeof known - used, "%s%s",
						 j ? ", " : "", keys[j].name);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			config_key_path(s, path, sizeof path);
			config_key_path(group, gpath, sizeof gpath);
			if (nkeys == 0)
				return config_error(p, s, "unknown key %s (%s takes no keys)", path,
						    gpath);
			return config_error(p, s, "unknown key %s (%s takes %s)", path,
					    gpath[0] ? gpath : "the top level", known);
		}
		if ((rc = config__key(p, k, s, target)) != 0)
			return rc;
	}
	for (size_t j = 0; j < nkeys; j++) {
		if ((keys[j].flags & CONFIG_F_REQUIRED) &&
		    !config_setting_get_member(group, keys[j].name)) {
			char gpath[256];
			config_key_path(group, gpath, sizeof gpath);
			if (gpath[0])
				return config_error(p, group, "%s.%s is missing", gpath,
						    keys[j].name);
			return config_error(p, group, "%s is missing", keys[j].name);
		}
	}
	return 0;
}

void config_keys_free(const struct config_key *keys, size_t nkeys, void *target)
{
	for (size_t i = 0; target && i < nkeys; i++) {
		char *field = (char *)target + keys[i].off;
		if (keys[i].kind == CONFIG_K_STRING) {
			char *str;
			memcpy(&str, field, sizeof str);
			free(str);
			str = NULL;
			memcpy(field, &str, sizeof str);
		} else if (keys[i].kind == CONFIG_K_GROUP) {
			config_keys_free(keys[i].sub, keys[i].nsub, field);
		}
	}
}

/* One key's values in targets a and b: 1 the same. */
static int config__key_same(const struct config_key *k, const void *a, const void *b, char *which,
			    size_t len)
{
	const char *x = (const char *)a + k->off, *y = (const char *)b + k->off;
	char sub[256];

	switch (k->kind) {
	case CONFIG_K_STRING: {
		const char *p, *q;
		memcpy(&p, x, sizeof p);
		memcpy(&q, y, sizeof q);
		return p == q || (p && q && strcmp(p, q) == 0);
	}
	case CONFIG_K_INT:
	case CONFIG_K_BOOL:
		return memcmp(x, y, sizeof(int)) == 0;
	case CONFIG_K_INT64:
		return memcmp(x, y, sizeof(int64_t)) == 0;
	case CONFIG_K_UINT32:
		return memcmp(x, y, sizeof(uint32_t)) == 0;
	case CONFIG_K_UINT16:
		return memcmp(x, y, sizeof(uint16_t)) == 0;
	case CONFIG_K_BOOL8:
	case CONFIG_K_CHOICE:
		return *x == *y;
	case CONFIG_K_FLOAT: {
		double p, q;
		memcpy(&p, x, sizeof p);
		memcpy(&q, y, sizeof q);
		return p == q;
	}
	case CONFIG_K_GROUP:
		if (config_keys_same(k->sub, k->nsub, x, y, sub, sizeof sub))
			return 1;
		snprintf(which, len, "%s.%s", k->name, sub);
		return 0;
	case CONFIG_K_CUSTOM:
	case CONFIG_K_LATER:
		if (k->same)
			return k->same(k, a, b, which, len);
		return 0;
	}
	return 0;
}

int config_keys_same(const struct config_key *keys, size_t nkeys, const void *a, const void *b,
		     char *which, size_t len)
{
	if (len)
		which[0] = '\0';
	if (!a || !b)
		return a == b;
	for (size_t i = 0; i < nkeys; i++) {
		if (config__key_same(&keys[i], a, b, which, len))
			continue;
		if (len && !which[0])
			snprintf(which, len, "%s", keys[i].name);
		return 0;
	}
	return 1;
}

/* --- value checks -------------------------------------------------------- */

/* What MQTT carries as text (topics, user names, client IDs) must be valid
 * UTF-8, or libmosquitto refuses it when the daemon starts. Its own rule, so
 * that --check and start cannot disagree. */
const char *config_check_utf8(const char *v)
{
	return mosquitto_validate_utf8(v, (int)strnlen(v, 65536)) == MOSQ_ERR_SUCCESS
		   ? NULL
		   : "must be valid UTF-8 of at most 65535 bytes";
}

/* A topic we publish to or subscribe to literally: no wildcards. */
const char *config_check_topic(const char *v)
{
	if (strpbrk(v, "+#"))
		return "must not contain the MQTT wildcards + or #";
	return config_check_utf8(v);
}

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

/* --- string lists -------------------------------------------------------- */

/* A list or array of strings; returns the strdup'd strings. */
static int config__strings(struct config_parser *p, const config_setting_t *s, char ***out,
			   size_t *nout)
{
	char path[256];
	int n, t = config_setting_type(s);
	char **v;

	config_key_path(s, path, sizeof path);
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return config_error(p, s, "%s must be a list of strings [ \"...\", ... ], not %s",
				    path, config_type_name(s));
	n = config_setting_length(s);
	if (n == 0)
		return config_error(p, s, "%s must not be empty", path);
	if (!(v = calloc((size_t)n, sizeof *v)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING ||
		    config_setting_get_string(e)[0] == '\0') {
			char epath[256];
			config_key_path(e, epath, sizeof epath);
			for (int j = 0; j < i; j++)
				free(v[j]);
			free(v);
			if (config_setting_type(e) == CONFIG_TYPE_STRING)
				return config_error(p, e, "%s must not be empty", epath);
			return config_error(p, e, "%s must be a string, not %s", epath,
					    config_type_name(e));
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

static int config__allow(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	char **v = NULL;
	size_t n = 0;
	int rc;

	if ((rc = config__strings(p, s, &v, &n)) != 0)
		return rc;
	free(c->modbus.allow);
	c->modbus.nallow = 0;
	if (!(c->modbus.allow = calloc(n, sizeof *c->modbus.allow))) {
		config__free_strings(v, n);
		return MB_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (cidr_parse(v[i], &c->modbus.allow[i]) != 0) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			char path[256];
			config_key_path(e, path, sizeof path);
			rc = config_error(p, e,
					  "%s must be an address or network such as "
					  "\"192.168.1.0/24\" or \"fd00::/8\", not \"%s\"",
					  path, v[i]);
			config__free_strings(v, n);
			return rc;
		}
	}
	c->modbus.nallow = n;
	config__free_strings(v, n);
	return 0;
}

static int config__maps_path(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	char **v;
	size_t n;
	int rc = config__strings(p, s, &v, &n);

	if (rc == 0) {
		config__free_strings(c->maps_path, c->nmaps_path);
		c->maps_path = v;
		c->nmaps_path = n;
	}
	return rc;
}

/* clang-format off */
static const struct config_key config__modbus_keys[] = {
	{.name = "listen", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config, modbus.listen), .check = config__check_addr},
	{.name = "port", .kind = CONFIG_K_INT, .off = offsetof(struct config, modbus.port),
	 .min = 1, .max = 65535},
	{.name = "max_connections", .kind = CONFIG_K_INT,
	 .off = offsetof(struct config, modbus.max_connections), .min = 1, .max = 10000},
	{.name = "idle_timeout", .kind = CONFIG_K_INT,
	 .off = offsetof(struct config, modbus.idle_timeout), .min = 0, .max = INT32_MAX,
	 .unit = "s"},
	{.name = "allow", .kind = CONFIG_K_CUSTOM, .fn = config__allow},
};
/* clang-format on */

/* clang-format off */
static const struct config_key config__defaults_keys[] = {
	{.name = "timeout", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.timeout),
	 .min = 1, .max = CONFIG__MS_MAX, .unit = "ms"},
	{.name = "max_age", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.max_age),
	 .min = 0, .max = CONFIG__MS_MAX, .unit = "ms"},
	{.name = "poll", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.poll),
	 .min = 0, .max = CONFIG__MS_MAX, .unit = "ms"},
	{.name = "min_interval", .kind = CONFIG_K_INT64,
	 .off = offsetof(struct config, defaults.min_interval), .min = 0, .max = CONFIG__MS_MAX,
	 .unit = "ms"},
	{.name = "retries", .kind = CONFIG_K_INT64, .off = offsetof(struct config, defaults.retries),
	 .min = 0, .max = CONFIG_RETRIES_MAX},
};
/* clang-format on */

/* clang-format off */
static const struct config_key config__tls_keys[] = {
	{.name = "ca_file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_tls, ca_file)},
	{.name = "cert_file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_tls, cert_file)},
	{.name = "key_file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_tls, key_file)},
};
/* clang-format on */

/* libmosquitto opens the TLS files when the daemon starts and refuses to
 * start without them, naming no line; say it here, at the key's line, so
 * that --check refuses it too. The daemon may read them under another user
 * (see `user`), so this proves only that they exist and can be read now. */
static int config__tls_file(struct config_parser *p, const config_setting_t *tls, const char *key,
			    const char *file)
{
	const config_setting_t *s = config_setting_get_member(tls, key);
	struct stat st;
	char path[256];
	int fd, e = 0;

	if (!file || !s)
		return 0;
	/* Non-blocking: a FIFO named here must not hang the loader. */
	if ((fd = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		e = errno;
	else if (fstat(fd, &st) != 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e)
		return config_error(p, s, "%s \"%s\" cannot be read: %s", CONFIG__PATH(s, path),
				    file, strerror(e));
	if (S_ISDIR(st.st_mode))
		return config_error(p, s, "%s \"%s\" cannot be read: %s", CONFIG__PATH(s, path),
				    file, strerror(EISDIR));
	if (!S_ISREG(st.st_mode))
		return config_error(p, s, "%s \"%s\" is not a regular file", CONFIG__PATH(s, path),
				    file);
	return 0;
}

static int config__tls_done(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_tls *t = target;
	char path[256];
	int rc;

	/* A client certificate is useless without its key and vice versa. */
	if (!t->cert_file != !t->key_file)
		return config_error(p, s, "%s needs both cert_file and key_file, or neither",
				    config_key_path(s, path, sizeof path));
	if ((rc = config__tls_file(p, s, "ca_file", t->ca_file)) != 0 ||
	    (rc = config__tls_file(p, s, "cert_file", t->cert_file)) != 0 ||
	    (rc = config__tls_file(p, s, "key_file", t->key_file)) != 0)
		return rc;
	return 0;
}

/* clang-format off */
static const struct config_key config__mqtt_keys[] = {
	{.name = "host", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_mqtt, host)},
	{.name = "port", .kind = CONFIG_K_INT, .off = offsetof(struct config_mqtt, port), .min = 1,
	 .max = 65535},
	{.name = "username", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_mqtt, username), .check = config_check_utf8},
	{.name = "password", .kind = CONFIG_K_STRING, .off = offsetof(struct config_mqtt, password)},
	{.name = "client_id", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_mqtt, client_id), .check = config_check_utf8},
	/* libmosquitto refuses keepalives under 5 s; MQTT's field is 16 bits. */
	{.name = "keepalive", .kind = CONFIG_K_INT, .off = offsetof(struct config_mqtt, keepalive),
	 .min = 5, .max = 65535, .unit = "s"},
	{.name = "qos", .kind = CONFIG_K_INT, .off = offsetof(struct config_mqtt, qos), .min = 0,
	 .max = 2},
	{.name = "tls", .kind = CONFIG_K_GROUP, .off = offsetof(struct config_mqtt, tls),
	 .sub = config__tls_keys, .nsub = CONFIG__N(config__tls_keys), .fn = config__tls_done},
};
/* clang-format on */

static int config__mqtt_defaults(struct config_mqtt *m)
{
	memset(m, 0, sizeof *m);
	m->port = 1883;
	m->keepalive = 60;
	m->qos = 0;
	return (m->host = strdup("127.0.0.1")) ? 0 : MB_ENOMEM;
}

static int config__mqtt_done(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_mqtt *m = target;
	char path[256];

	m->line = config_setting_source_line(s);
	m->has_tls = config_setting_get_member(s, "tls") != NULL;
	if (!config_setting_get_member(s, "port"))
		m->port = m->has_tls ? 8883 : 1883;
	/* MQTT sends a password only together with a user name. */
	if (m->password && !m->username)
		return config_error(p, s, "%s has a password but no username",
				    config_key_path(s, path, sizeof path));
	return 0;
}

/* clang-format off */
static const struct config_key config__status_keys[] = {
	{.name = "mqtt", .kind = CONFIG_K_GROUP, .off = offsetof(struct config_status, mqtt),
	 .sub = config__mqtt_keys, .nsub = CONFIG__N(config__mqtt_keys), .fn = config__mqtt_done},
	{.name = "prefix", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct config_status, prefix), .check = config_check_topic},
	{.name = "interval", .kind = CONFIG_K_INT, .off = offsetof(struct config_status, interval),
	 .min = 1, .max = 86400, .unit = "s"},
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

/* clang-format off */
static const struct config_key config__device_common_keys[] = {
	{.name = "name", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = CONFIG__DEV(name), .check = config__check_name},
	{.name = "unit_id", .kind = CONFIG_K_INT, .flags = CONFIG_F_REQUIRED,
	 .off = CONFIG__DEV(unit_id), .min = 1, .max = 247},
	{.name = "map", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = CONFIG__DEV(map), .check = config__check_mapname},
	{.name = "read_only", .kind = CONFIG_K_BOOL, .off = CONFIG__DEV(read_only)},
	{.name = "timeout", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(timeout), .min = 1,
	 .max = CONFIG__MS_MAX, .unit = "ms"},
	{.name = "max_age", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(max_age), .min = 0,
	 .max = CONFIG__MS_MAX, .unit = "ms"},
	{.name = "poll", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(poll), .min = 0,
	 .max = CONFIG__MS_MAX, .unit = "ms"},
	{.name = "min_interval", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(min_interval), .min = 0,
	 .max = CONFIG__MS_MAX, .unit = "ms"},
	{.name = "retries", .kind = CONFIG_K_INT64, .off = CONFIG__DEV(retries), .min = 0,
	 .max = CONFIG_RETRIES_MAX},
	{.name = "mqtt", .kind = CONFIG_K_GROUP, .off = CONFIG__DEV(mqtt), .sub = config__mqtt_keys,
	 .nsub = CONFIG__N(config__mqtt_keys), .fn = config__mqtt_done},
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
		config_keys_free(pr->keys, pr->nkeys, pc);
		free(pc);
		return rc;
	}
	*out = pc;
	return 0;
}

static void config__block_free(const struct protocol *pr, void *pc)
{
	if (pr && pc)
		config_keys_free(pr->keys, pr->nkeys, pc);
	free(pc);
}

/* A protocol block, e.g. `venus = { ... }`: checked with the protocol's own
 * key table into its own struct. A second block is checked too (its errors
 * come in file order) and then dropped: config__device_done refuses it. */
static int config__block(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_device *d = target;
	const struct protocol *pr = protocol_find(config_setting_name(s));
	char path[256];
	void *pc;
	int rc;

	if (!pr)
		return MB_EINVAL;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return config_error(p, s, "%s must be a group { ... }, not %s",
				    CONFIG__PATH(s, path), config_type_name(s));
	if ((rc = config__block_new(pr, &pc)) != 0)
		return rc;
	rc = config_keys_parse(p, s, pr->keys, pr->nkeys, pc);
	if (rc == 0 && !d->proto) {
		d->proto = pr;
		d->proto_cfg = pc;
		return 0;
	}
	config__block_free(pr, pc);
	return rc;
}

/* A block key is the same in two devices when neither has this protocol,
 * or both have it with the same values. */
static int config__block_same(const struct config_key *k, const void *a, const void *b, char *which,
			      size_t len)
{
	const struct config_device *x = a, *y = b;
	int mine = (x->proto && strcmp(x->proto->name, k->name) == 0) ||
		   (y->proto && strcmp(y->proto->name, k->name) == 0);
	char sub[256];

	if (!mine)
		return 1;
	if (x->proto != y->proto) {
		snprintf(which, len, "%s", k->name);
		return 0;
	}
	if (!config_keys_same(x->proto->keys, x->proto->nkeys, x->proto_cfg, y->proto_cfg, sub,
			      sizeof sub)) {
		snprintf(which, len, "%s.%s", k->name, sub);
		return 0;
	}
	return 1;
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
			config__device_keys[n++] = (struct config_key){
			    .name = protocol_at(i)->name,
			    .kind = CONFIG_K_CUSTOM,
			    .fn = config__block,
			    .same = config__block_same,
			};
		config__ndevice_keys = n;
	}
	*nkeys = config__ndevice_keys;
	return config__device_keys;
}

const struct config_key *config_mqtt_keys(size_t *nkeys)
{
	*nkeys = CONFIG__N(config__mqtt_keys);
	return config__mqtt_keys;
}

const struct config_key *config_defaults_keys(size_t *nkeys)
{
	*nkeys = CONFIG__N(config__defaults_keys);
	return config__defaults_keys;
}

static int config__device_defaults(struct config_device *d)
{
	memset(d, 0, sizeof *d);
	d->timeout = d->max_age = d->poll = d->min_interval = d->retries = -1;
	return config__mqtt_defaults(&d->mqtt);
}

static void config__device_free(struct config_device *d)
{
	size_t n;
	const struct config_key *keys = config_device_keys(&n);

	config_keys_free(keys, n, d);
	config__block_free(d->proto, d->proto_cfg);
}

/* What the table cannot say about one device: one protocol block, MQTT only
 * where the protocol uses it, the protocol's own checks, unique names and
 * unit IDs. */
static int config__device_done(struct config_parser *p, const config_setting_t *s, struct config *c,
			       size_t idx)
{
	struct config_device *d = &c->devices[idx];
	const config_setting_t *block = NULL, *m;
	char path[256], names[128];
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
			return config_error(p, second,
					    "%s has two protocol blocks, %s and %s: keep one",
					    CONFIG__PATH(s, path), config_setting_name(first),
					    config_setting_name(second));
		}
		block = b;
	}

	int mqtt = d->proto && (d->proto->flags & PROTOCOL_MQTT);
	m = config_setting_get_member(s, "mqtt");
	d->has_mqtt = m != NULL;
	if (mqtt && !m)
		return config_error(
		    p, block, "%s.%s needs an mqtt group: the broker the device talks through",
		    CONFIG__PATH(s, path), config_setting_name(block));
	if (!mqtt && m) {
		if (block)
			return config_error(p, m,
					    "%s.mqtt: a %s device does not use MQTT; remove it",
					    CONFIG__PATH(s, path), config_setting_name(block));
		return config_error(
		    p, m, "%s.mqtt: only %s devices use MQTT; remove it", CONFIG__PATH(s, path),
		    protocol_names(PROTOCOL_MQTT, ", ", " and ", names, sizeof names));
	}
	if (d->proto && d->proto->cfg_done &&
	    (rc = d->proto->cfg_done(p, block, d->proto_cfg)) != 0)
		return rc;

	for (size_t i = 0; i < idx; i++) {
		const struct config_device *o = &c->devices[i];
		if (o->unit_id == d->unit_id) {
			const config_setting_t *u = config_setting_get_member(s, "unit_id");
			return config_error(p, u, "%s.unit_id %d is used by device \"%s\" too",
					    CONFIG__PATH(s, path), d->unit_id, o->name);
		}
		if (strcmp(o->name, d->name) == 0) {
			const config_setting_t *n = config_setting_get_member(s, "name");
			return config_error(
			    p, n, "%s.name \"%s\" is used by another device too (line %d)",
			    CONFIG__PATH(s, path), d->name, o->line);
		}
	}
	return 0;
}

static int config__devices(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config *c = target;
	const struct config_key *keys;
	size_t nkeys;
	char path[256];
	int n;

	config_key_path(s, path, sizeof path);
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return config_error(p, s, "%s must be a list ( { ... }, ... ), not %s", path,
				    config_type_name(s));
	n = config_setting_length(s);
	if (n == 0)
		return config_error(p, s, "%s is empty: configure at least one device", path);
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
			char epath[256];
			config_key_path(e, epath, sizeof epath);
			return config_error(p, e, "%s must be a group { name = ...; ... }, not %s",
					    epath, config_type_name(e));
		}
		rc = config_keys_parse(p, e, keys, nkeys, d);
		if (rc == 0)
			rc = config__device_done(p, e, c, (size_t)i);
		if (rc != 0)
			return rc;
	}
	return 0;
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
		return config_error(p, s, "user must be a string, not %s", config_type_name(s));
	name = config_setting_get_string(s);
	if (name[0] == '\0')
		return config_error(p, s, "user must not be empty");
	errno = 0;
	if (!(pw = getpwnam(name))) {
		if (errno != 0 && errno != ENOENT && errno != ESRCH && errno != EBADF &&
		    errno != EPERM)
			return config_error(p, s, "user \"%s\": cannot look it up: %s", name,
					    strerror(errno));
		return config_error(p, s, "user \"%s\" does not exist", name);
	}
	if (pw->pw_uid == 0)
		return config_error(p, s,
				    "user \"%s\" has uid 0: the daemon would still be able to "
				    "regain root after dropping to it; name an unprivileged user",
				    name);
	if (!(dup = strdup(name)))
		return MB_ENOMEM;
	free(c->user);
	c->user = dup;
	return 0;
}

/* clang-format off */
static const struct config_key config__top_keys[] = {
	{.name = "modbus", .kind = CONFIG_K_GROUP, .sub = config__modbus_keys,
	 .nsub = CONFIG__N(config__modbus_keys)},
	{.name = "maps_path", .kind = CONFIG_K_CUSTOM, .fn = config__maps_path},
	{.name = "defaults", .kind = CONFIG_K_GROUP, .sub = config__defaults_keys,
	 .nsub = CONFIG__N(config__defaults_keys)},
	{.name = "user", .kind = CONFIG_K_CUSTOM, .fn = config__user},
	{.name = "status", .kind = CONFIG_K_GROUP, .off = offsetof(struct config, status),
	 .sub = config__status_keys, .nsub = CONFIG__N(config__status_keys),
	 .fn = config__status_done},
	{.name = "devices", .kind = CONFIG_K_CUSTOM, .flags = CONFIG_F_REQUIRED,
	 .fn = config__devices},
};
/* clang-format on */

/* --- load / free --------------------------------------------------------- */

static int config__defaults(struct config *c, const char *path)
{
	static const char *const maps[] = {"/etc/modbridge/maps", "/usr/share/modbridge/maps"};

	if (!(c->path = strdup(path)) || !(c->modbus.listen = strdup("0.0.0.0")))
		return MB_ENOMEM;
	c->modbus.port = 502;
	c->modbus.max_connections = 64;
	c->modbus.idle_timeout = 120;
	if (!(c->maps_path = calloc(CONFIG__N(maps), sizeof *c->maps_path)))
		return MB_ENOMEM;
	for (size_t i = 0; i < CONFIG__N(maps); i++) {
		if (!(c->maps_path[i] = strdup(maps[i])))
			return MB_ENOMEM;
		c->nmaps_path = i + 1;
	}
	c->defaults.timeout = 3000;
	c->defaults.max_age = 1000;
	c->defaults.poll = 0;
	c->defaults.min_interval = 0;
	c->defaults.retries = -1; /* the built-in default applies: CONFIG_RETRIES_DEFAULT */
	c->status.interval = 60;
	if (!(c->status.prefix = strdup("modbridge")))
		return MB_ENOMEM;
	return config__mqtt_defaults(&c->status.mqtt);
}

/* Where @include finds relative files: next to the config file. */
static void config__include_dir(config_t *lc, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (!slash)
		return;
	if ((dir = strndup(path, (size_t)(slash - path) + 1)) != NULL) {
		config_set_include_dir(lc, dir);
		free(dir);
	}
}

int config_parse_file(config_t *lc, const char *path, char *err, size_t errlen)
{
	/* libconfig says only "file I/O error" without a reason: ask first. */
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return e == ENOENT ? MB_ENOENT : MB_EIO;
	}
	fclose(f);
	config_init(lc);
	config__include_dir(lc, path);
	if (!config_read_file(lc, path)) {
		const char *file = config_error_file(lc);
		if (err && errlen)
			snprintf(err, errlen, "%s:%d: %s", file ? file : path,
				 config_error_line(lc), config_error_text(lc));
		config_destroy(lc);
		return MB_EPARSE;
	}
	return 0;
}

int config_load(const char *path, struct config **out, char *err, size_t errlen)
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
	if ((rc = config__defaults(c, path)) != 0) {
		config_free(c);
		return rc;
	}
	if ((rc = config_parse_file(&lc, path, err, errlen)) != 0) {
		config_free(c);
		return rc;
	}
	rc = config_keys_parse(&p, config_root_setting(&lc), config__top_keys,
			       CONFIG__N(config__top_keys), c);
	config_destroy(&lc);
	if (rc != 0) {
		config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->modbus.listen);
	free(c->modbus.allow);
	config__free_strings(c->maps_path, c->nmaps_path);
	free(c->user);
	config_keys_free(config__mqtt_keys, CONFIG__N(config__mqtt_keys), &c->status.mqtt);
	free(c->status.prefix);
	for (size_t i = 0; i < c->ndevices; i++)
		config__device_free(&c->devices[i]);
	free(c->devices);
	free(c);
}

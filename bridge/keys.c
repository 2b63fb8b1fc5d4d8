/* The libconfig key checker (docs/design.md, "Style": tables over code): a
 * group of settings is checked against a const table of the keys it may hold,
 * stored at offsets into a target struct, compared and freed through the same
 * table. The config loader (config.c), the map loader (map_load.c) and every
 * protocol's device block (protocol.h) use it; it knows none of them. */
#include "keys.h"

#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mb_error.h"

#define KEYS__N(a) (sizeof(a) / sizeof((a)[0]))
/* A setting's path for a message. Computed only when a message is written:
 * the path of a list element needs libconfig's config_setting_index(), a
 * linear scan of the list, and doing that for every key of a map with
 * thousands of registers made loading quadratic. */
#define KEYS__PATH(s, buf) keys_path((s), (buf), sizeof(buf))

/* --- paths and messages ------------------------------------------------------------ */

const char *keys_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *chain[32];
	size_t n = 0, used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (; s && !config_setting_is_root(s) && n < KEYS__N(chain); s = config_setting_parent(s))
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

const char *keys_type_name(const config_setting_t *s)
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

int keys_error(struct config_parser *p, const config_setting_t *s, const char *fmt, ...)
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

/* --- checking ------------------------------------------------------------ */

static int keys__is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

/* The range of a key: its own, or that of the field it is stored in. */
static void keys__range(const struct config_key *k, int64_t *lo, int64_t *hi)
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

/* enum config_unit, as messages write it. */
static const char keys__units[][10] = {
    [CONFIG_U_NONE] = "",
    [CONFIG_U_MS] = "ms",
    [CONFIG_U_S] = "s",
    [CONFIG_U_REGISTERS] = "registers",
};

static int keys__range_error(struct config_parser *p, const config_setting_t *s,
			     const struct config_key *k, const char *path, int64_t v, int64_t lo,
			     int64_t hi)
{
	char range[64], unit[16] = "", hint[128] = "";

	if (hi == INT64_MAX || hi == INT32_MAX)
		snprintf(range, sizeof range, ">= %" PRId64, lo);
	else
		snprintf(range, sizeof range, "%" PRId64 "..%" PRId64, lo, hi);
	if (k->unit != CONFIG_U_NONE && k->unit < KEYS__N(keys__units))
		snprintf(unit, sizeof unit, " (%s)", keys__units[k->unit]);
	/* libconfig before 1.6 wraps a literal above INT32_MAX to a negative
	 * int unless it carries an L suffix; say so when that is likely. */
	if (config_setting_type(s) == CONFIG_TYPE_INT && hi > INT32_MAX && v < 0)
		snprintf(hint, sizeof hint,
			 "; numbers above 2147483647 need an L suffix, e.g. %" PRId64 "L", hi);
	return keys_error(p, s, "%s must be %s%s, not %" PRId64 "%s", path, range, unit, v, hint);
}

static void keys__choices(const struct config_key *k, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (const char *c = k->choices; *c && used < len; c += k->choice_size) {
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", c);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* Store one setting per its key. */
static int keys__key(struct config_parser *p, const struct config_key *k, const config_setting_t *s,
		     void *target)
{
	char path[256];
	char *field = (char *)target + k->off;
	int64_t v = 0, lo, hi;

	switch ((enum config_kind)k->kind) {
	case CONFIG_K_STRING: {
		const char *str, *why;
		char *dup, *old;
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return keys_error(p, s, "%s must be a string, not %s", KEYS__PATH(s, path),
					  keys_type_name(s));
		str = config_setting_get_string(s);
		if ((k->flags & CONFIG_F_NONEMPTY) && str[0] == '\0')
			return keys_error(p, s, "%s must not be empty", KEYS__PATH(s, path));
		if (k->check && (why = k->check(str)) != NULL) {
			/* A refused URL may carry a password: not shown. */
			char shown[1024];
			return keys_error(p, s, "%s %s, not \"%s\"", KEYS__PATH(s, path), why,
					  log_redact_url(str, shown, sizeof shown));
		}
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
		if (!keys__is_int(s))
			return keys_error(p, s, "%s must be an integer, not %s",
					  KEYS__PATH(s, path), keys_type_name(s));
		v = config_setting_get_int64(s);
		keys__range(k, &lo, &hi);
		if (v < lo || v > hi)
			return keys__range_error(p, s, k, KEYS__PATH(s, path), v, lo, hi);
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
			return keys_error(p, s, "%s must be true or false, not %s",
					  KEYS__PATH(s, path), keys_type_name(s));
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
		else if (keys__is_int(s))
			d = (double)config_setting_get_int64(s);
		else
			return keys_error(p, s, "%s must be a number, not %s", KEYS__PATH(s, path),
					  keys_type_name(s));
		memcpy(field, &d, sizeof d);
		return 0;
	}
	case CONFIG_K_CHOICE: {
		char list[256];
		const char *str;
		keys__choices(k, list, sizeof list);
		if (config_setting_type(s) != CONFIG_TYPE_STRING)
			return keys_error(p, s, "%s must be one of %s (a string), not %s",
					  KEYS__PATH(s, path), list, keys_type_name(s));
		str = config_setting_get_string(s);
		for (int i = 0; k->choices[i * k->choice_size]; i++) {
			if (strcmp(k->choices + i * k->choice_size, str) == 0) {
				uint8_t x = (uint8_t)(k->choice_base + i);
				memcpy(field, &x, sizeof x);
				return 0;
			}
		}
		return keys_error(p, s, "%s must be one of %s, not \"%s\"", KEYS__PATH(s, path),
				  list, str);
	}
	case CONFIG_K_GROUP: {
		int rc;
		if (config_setting_type(s) != CONFIG_TYPE_GROUP)
			return keys_error(p, s, "%s must be a group { ... }, not %s",
					  KEYS__PATH(s, path), keys_type_name(s));
		rc = keys_parse(p, s, k->sub, k->nsub, field);
		if (rc == 0 && k->fn)
			rc = k->fn(p, s, field);
		return rc;
	}
	case CONFIG_K_CUSTOM:
		return k->fn ? k->fn(p, s, (char *)target + k->off) : 0;
	case CONFIG_K_LATER:
		return 0;
	}
	return MB_EINVAL;
}

int keys_parse(struct config_parser *p, const config_setting_t *group,
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
				if (keys[j].flags & CONFIG_F_OLD)
					continue;
				int w = snprintf(known + used, sizeof known - used, "%s%s",
						 used ? ", " : "", keys[j].name);
				if (w < 0)
					break;
				used += (size_t)w;
			}
			keys_path(s, path, sizeof path);
			keys_path(group, gpath, sizeof gpath);
			if (nkeys == 0)
				return keys_error(p, s, "unknown key %s (%s takes no keys)", path,
						  gpath);
			return keys_error(p, s, "unknown key %s (%s takes %s)", path,
					  gpath[0] ? gpath : "the top level", known);
		}
		if ((rc = keys__key(p, k, s, target)) != 0)
			return rc;
	}
	for (size_t j = 0; j < nkeys; j++) {
		if ((keys[j].flags & CONFIG_F_REQUIRED) &&
		    !config_setting_get_member(group, keys[j].name)) {
			char gpath[256];
			keys_path(group, gpath, sizeof gpath);
			if (gpath[0])
				return keys_error(p, group, "%s.%s is missing", gpath,
						  keys[j].name);
			return keys_error(p, group, "%s is missing", keys[j].name);
		}
	}
	return 0;
}

void keys_free(const struct config_key *keys, size_t nkeys, void *target)
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
			keys_free(keys[i].sub, keys[i].nsub, field);
		}
	}
}

/* One key's values in targets a and b: 1 the same. */
static int keys__key_same(const struct config_key *k, const void *a, const void *b, char *which,
			  size_t len)
{
	const char *x = (const char *)a + k->off, *y = (const char *)b + k->off;
	char sub[256];

	switch ((enum config_kind)k->kind) {
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
		if (keys_same(k->sub, k->nsub, x, y, sub, sizeof sub))
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

bool keys_same(const struct config_key *keys, size_t nkeys, const void *a, const void *b,
	       char *which, size_t len)
{
	if (len)
		which[0] = '\0';
	if (!a || !b)
		return a == b;
	for (size_t i = 0; i < nkeys; i++) {
		if (keys__key_same(&keys[i], a, b, which, len))
			continue;
		if (len && !which[0])
			snprintf(which, len, "%s", keys[i].name);
		return false;
	}
	return true;
}

/* --- reading a file ------------------------------------------------------ */

/* Where @include finds relative files: next to the config file. */
static void keys__include_dir(config_t *lc, const char *path)
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

int keys_parse_file(config_t *lc, const char *path, char *err, size_t errlen)
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
	keys__include_dir(lc, path);
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

int keys_error_at(struct config_parser *p, const struct config_setting_t *x,
		  const struct config_setting_t *s, const char *fmt, ...)
{
	char path[256];
	int rc = keys_error(p, x, "%s", keys_path(s, path, sizeof path));
	size_t used = p->err ? strlen(p->err) : 0;
	va_list ap;

	if (p->err && used + 1 < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + used, p->errlen - used, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int keys_error_type(struct config_parser *p, const struct config_setting_t *s, const char *what)
{
	return keys_error_at(p, s, s, "%s, not %s", what, keys_type_name(s));
}

/* Map files (docs/design.md, "Map files"). A map is read with libconfig and
 * checked key by key with the same table-driven routine as the config file
 * (config_keys_parse); what a table cannot say (a string needs a length, an
 * input register cannot be written, registers of a keyed protocol need a
 * key) is checked right after, in map__register_done(), with the rules of
 * the map's protocol (protocol.h: its flags and hooks). Problems that do not
 * stop the map from loading but make it wrong (overlaps, split 32-bit
 * values, defaults outside their limits) are the linter's: map_lint(), which
 * `--check` runs.
 *
 * After loading, registers are sorted by (table, address), so that map_find()
 * is a binary search, and each gets the first word of its slice of a device's
 * cache (`slot`), assigned cumulatively in that order. */
#include "map.h"

#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"

#define MAP__N(a) (sizeof(a) / sizeof((a)[0]))
/* A setting's path for a message, computed only when a message is written:
 * the path of a register needs its index in the list, which libconfig finds
 * by a linear scan (config_setting_index); computed for every register, it
 * made loading a large map quadratic. */
#define MAP__PATH(s, buf) config_key_path((s), (buf), sizeof(buf))

static const char *const map__trusts[] = {"generated",		"structure-verified",
					  "simulator-verified", "interop-verified",
					  "hardware-verified",	NULL};

/* The trust ladder (docs/design.md, "Trust ladder"): what each rung proves,
 * lowest first. The vendor's ladder put a transport test by an independent
 * Modbus server below the simulator; ours asks more of interop-verified
 * (independent implementations agree on the registers themselves), so it
 * stands above. */
static const char *const map__trust_text[] = {
    "A program or prompt produced it; nothing about it is proven.",
    "The map linter passes (no overlaps, sane widths and scales); this does not prove "
    "word order or scaling.",
    "Decoded correctly against a protocol simulator that answers known-true values (the "
    "vendor document's own examples); this catches word-order and scaling errors against "
    "the document, not the physical device.",
    "Independent implementations, named in the map, agree on the addresses, types, word "
    "order and scales of the registers they cover; this confirms the reading of the "
    "vendor document, not the physical device.",
    "Matched a real device with attested readings; the only rung that confirms word order "
    "and scaling on the wire.",
};

static const char *const map__types[] = {"int16", "uint16", "int32", "uint32", "string", NULL};
static const char *const map__orders[] = {"big", "little", NULL};
static const char *const map__accesses[] = {"r", "w", "rw", NULL};
static const char *const map__tables[] = {"holding", "input", NULL};

struct map {
	char *path;
	char *name, *description, *source, *vendor, *model;
	const struct protocol *proto;
	uint8_t trust; /* index into map__trusts */
	int max_read;
	int name_line;
	struct map_defaults defaults;
	struct map_register *regs;
	size_t nregs;
	size_t table_start[MAP_TABLES + 1]; /* regs of table t: [start[t], start[t+1]) */
	/* Dense index per table over [lo, lo+span): 1 + the register index of
	 * each address, 0 where none. map_find is on every request's path, so
	 * it is a table look-up wherever the addresses are not too spread out. */
	uint16_t *dense[MAP_TABLES];
	uint32_t dense_lo[MAP_TABLES], dense_span[MAP_TABLES];
	const struct map_register **by_name;
	size_t nslots;
	struct map_command *cmds;
	size_t ncmds;
};

static void map__index(struct map *m);

/* --- small helpers ------------------------------------------------------- */

static int map__is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static int map__natural_count(int type)
{
	return type == MAP_INT32 || type == MAP_UINT32 ? 2 : 1;
}

/* The raw range a numeric type can hold. */
static void map__type_range(int type, int64_t *lo, int64_t *hi)
{
	switch (type) {
	case MAP_INT16:
		*lo = INT16_MIN, *hi = INT16_MAX;
		break;
	case MAP_UINT16:
		*lo = 0, *hi = UINT16_MAX;
		break;
	case MAP_INT32:
		*lo = INT32_MIN, *hi = INT32_MAX;
		break;
	case MAP_UINT32:
		*lo = 0, *hi = UINT32_MAX;
		break;
	default:
		*lo = INT64_MIN, *hi = INT64_MAX;
		break;
	}
}

static int map__fits(int type, int64_t v)
{
	int64_t lo, hi;
	map__type_range(type, &lo, &hi);
	return v >= lo && v <= hi;
}

static const char *map__check_regname(const char *v)
{
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9') || *v == '_'))
			return "may hold only a-z, 0-9 and '_'";
	return NULL;
}

static const char *map__check_mapname(const char *v)
{
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || *v == '_' || *v == '-' || *v == '.'))
			return "may hold only letters, digits, '_', '-' and '.'";
	return NULL;
}

static void map__free_register(struct map_register *r)
{
	free((void *)r->name);
	free((void *)r->description);
	free((void *)r->unit);
	free((void *)r->def_string);
	free((void *)r->values);
	for (size_t i = 0; r->labels && i < r->nlabels; i++)
		free((void *)r->labels[i].text);
	free((void *)r->labels);
	for (size_t i = 0; r->bits && i < r->nbits; i++)
		free((void *)r->bits[i].text);
	free((void *)r->bits);
	free((void *)r->key);
	free((void *)r->write);
}

void map_free(struct map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nregs; i++)
		map__free_register(&m->regs[i]);
	free(m->regs);
	free(m->by_name);
	for (int t = 0; t < MAP_TABLES; t++)
		free(m->dense[t]);
	for (size_t i = 0; i < m->ncmds; i++) {
		free((void *)m->cmds[i].name);
		free((void *)m->cmds[i].template);
	}
	free(m->cmds);
	free(m->path);
	free(m->name);
	free(m->description);
	free(m->source);
	free(m->vendor);
	free(m->model);
	free(m);
}

/* --- key tables ---------------------------------------------------------- */

#define MAP__REG(field) offsetof(struct map_register, field)

/* clang-format off */
static const struct config_key map__register_keys[] = {
	{.name = "address", .kind = CONFIG_K_UINT16, .flags = CONFIG_F_REQUIRED,
	 .off = MAP__REG(address)},
	{.name = "name", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = MAP__REG(name), .check = map__check_regname},
	{.name = "type", .kind = CONFIG_K_CHOICE, .off = MAP__REG(type), .choices = map__types},
	{.name = "word_order", .kind = CONFIG_K_CHOICE, .off = MAP__REG(word_little),
	 .choices = map__orders},
	{.name = "length", .kind = CONFIG_K_UINT16, .off = MAP__REG(count), .min = 1,
	 .max = MB_MAX_READ},
	{.name = "access", .kind = CONFIG_K_CHOICE, .off = MAP__REG(access), .choices = map__accesses,
	 .choice_base = MAP_R},
	{.name = "min", .kind = CONFIG_K_INT64, .off = MAP__REG(min)},
	{.name = "max", .kind = CONFIG_K_INT64, .off = MAP__REG(max)},
	{.name = "values", .kind = CONFIG_K_LATER},
	{.name = "default", .kind = CONFIG_K_LATER},
	{.name = "scale", .kind = CONFIG_K_FLOAT, .off = MAP__REG(scale)},
	{.name = "unit", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY, .off = MAP__REG(unit)},
	{.name = "description", .kind = CONFIG_K_STRING, .off = MAP__REG(description)},
	{.name = "native", .kind = CONFIG_K_UINT16, .off = MAP__REG(native)},
	{.name = "table", .kind = CONFIG_K_CHOICE, .off = MAP__REG(table), .choices = map__tables},
	{.name = "key", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY, .off = MAP__REG(key)},
	{.name = "field", .kind = CONFIG_K_INT, .off = MAP__REG(field), .min = 0, .max = 255},
	{.name = "write", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = MAP__REG(write)},
	{.name = "ack", .kind = CONFIG_K_BOOL8, .off = MAP__REG(ack)},
	{.name = "enum", .kind = CONFIG_K_LATER},
	{.name = "bits", .kind = CONFIG_K_LATER},
	{.name = "retry", .kind = CONFIG_K_LATER},
};
/* clang-format on */

#define MAP__CMD(field) offsetof(struct map_command, field)

/* clang-format off */
static const struct config_key map__command_keys[] = {
	{.name = "name", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = MAP__CMD(name), .check = map__check_regname},
	{.name = "address", .kind = CONFIG_K_UINT16, .flags = CONFIG_F_REQUIRED,
	 .off = MAP__CMD(address)},
	{.name = "count", .kind = CONFIG_K_UINT16, .flags = CONFIG_F_REQUIRED, .off = MAP__CMD(count),
	 .min = 1, .max = MB_MAX_WRITE},
	{.name = "template", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = MAP__CMD(template)},
	{.name = "ack", .kind = CONFIG_K_BOOL8, .off = MAP__CMD(ack)},
	{.name = "retry", .kind = CONFIG_K_LATER},
};
/* clang-format on */

#define MAP__DEF(field) (offsetof(struct map_defaults, field))

/* clang-format off */
static const struct config_key map__defaults_keys[] = {
	{.name = "poll", .kind = CONFIG_K_INT64, .off = MAP__DEF(poll), .min = 0, .max = INT32_MAX,
	 .unit = "ms"},
	{.name = "max_age", .kind = CONFIG_K_INT64, .off = MAP__DEF(max_age), .min = 0,
	 .max = INT32_MAX, .unit = "ms"},
	{.name = "timeout", .kind = CONFIG_K_INT64, .off = MAP__DEF(timeout), .min = 1,
	 .max = INT32_MAX, .unit = "ms"},
	{.name = "min_interval", .kind = CONFIG_K_INT64, .off = MAP__DEF(min_interval), .min = 0,
	 .max = INT32_MAX, .unit = "ms"},
	{.name = "retries", .kind = CONFIG_K_INT64, .off = MAP__DEF(retries), .min = 0,
	 .max = CONFIG_RETRIES_MAX},
};
/* clang-format on */

static int map__name_seen(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct map *m = target;
	const char *why;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return config_error(p, s, "name must be a string, not %s", config_type_name(s));
	if (config_setting_get_string(s)[0] == '\0')
		return config_error(p, s, "name must not be empty");
	if ((why = map__check_mapname(config_setting_get_string(s))) != NULL)
		return config_error(p, s, "name %s, not \"%s\"", why, config_setting_get_string(s));
	free(m->name);
	if (!(m->name = strdup(config_setting_get_string(s))))
		return MB_ENOMEM;
	m->name_line = config_setting_source_line(s);
	return 0;
}

/* `protocol`: one of the registry's (protocol.h). */
static int map__protocol_seen(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct map *m = target;
	char list[256];

	protocol_names(0, ", ", ", ", list, sizeof list);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return config_error(p, s, "protocol must be one of %s (a string), not %s", list,
				    config_type_name(s));
	if (!(m->proto = protocol_find(config_setting_get_string(s))))
		return config_error(p, s, "protocol must be one of %s, not \"%s\"", list,
				    config_setting_get_string(s));
	return 0;
}

/* clang-format off */
static const struct config_key map__top_keys[] = {
	{.name = "name", .kind = CONFIG_K_CUSTOM, .flags = CONFIG_F_REQUIRED, .fn = map__name_seen},
	{.name = "protocol", .kind = CONFIG_K_CUSTOM, .flags = CONFIG_F_REQUIRED,
	 .fn = map__protocol_seen},
	{.name = "trust", .kind = CONFIG_K_CHOICE, .flags = CONFIG_F_REQUIRED,
	 .off = offsetof(struct map, trust), .choices = map__trusts},
	{.name = "description", .kind = CONFIG_K_STRING, .off = offsetof(struct map, description)},
	{.name = "source", .kind = CONFIG_K_STRING, .off = offsetof(struct map, source)},
	{.name = "vendor", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map, vendor)},
	{.name = "model", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map, model)},
	{.name = "max_read", .kind = CONFIG_K_INT, .off = offsetof(struct map, max_read), .min = 1,
	 .max = MB_MAX_READ},
	{.name = "defaults", .kind = CONFIG_K_GROUP, .off = offsetof(struct map, defaults),
	 .sub = map__defaults_keys, .nsub = MAP__N(map__defaults_keys)},
	{.name = "registers", .kind = CONFIG_K_LATER},
	{.name = "commands", .kind = CONFIG_K_LATER},
};
/* clang-format on */

/* --- registers: what the table cannot say -------------------------------- */

static int map__int_list(struct config_parser *p, const config_setting_t *s, int64_t **out,
			 size_t *nout)
{
	char path[128];
	int n, t = config_setting_type(s);
	int64_t *v;

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return config_error(p, s, "%s must be a list of integers [ 0, 1, ... ], not %s",
				    MAP__PATH(s, path), config_type_name(s));
	if ((n = config_setting_length(s)) == 0)
		return config_error(p, s, "%s must not be empty", MAP__PATH(s, path));
	if (!(v = calloc((size_t)n, sizeof *v)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (!map__is_int(e)) {
			config_key_path(e, path, sizeof path);
			free(v);
			return config_error(p, e, "%s must be an integer, not %s", path,
					    config_type_name(e));
		}
		v[i] = config_setting_get_int64(e);
	}
	*out = v;
	*nout = (size_t)n;
	return 0;
}

/* `enum` and `bits`: ( (value, "text"), ... ). */
static int map__labels(struct config_parser *p, const config_setting_t *s, int64_t lo, int64_t hi,
		       const char *what, struct map_label **out, size_t *nout)
{
	char path[128];
	int n;
	struct map_label *v;

	if (config_setting_type(s) != CONFIG_TYPE_LIST || (n = config_setting_length(s)) == 0)
		return config_error(p, s,
				    "%s must be a list of (%s, \"text\") pairs, e.g. "
				    "( (0, \"Off\"), (1, \"On\") )",
				    MAP__PATH(s, path), what);
	if (!(v = calloc((size_t)n, sizeof *v)))
		return MB_ENOMEM;
	*out = v;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i), *a, *b;
		int t = config_setting_type(e);
		if ((t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) ||
		    config_setting_length(e) != 2 ||
		    !map__is_int(a = config_setting_get_elem(e, 0)) ||
		    config_setting_type(b = config_setting_get_elem(e, 1)) != CONFIG_TYPE_STRING)
			return config_error(p, e, "%s must be a pair (%s, \"text\")",
					    MAP__PATH(e, path), what);
		v[i].value = config_setting_get_int64(a);
		if (v[i].value < lo || v[i].value > hi)
			return config_error(p, e,
					    "%s: %s %" PRId64 " must be %" PRId64 "..%" PRId64,
					    MAP__PATH(e, path), what, v[i].value, lo, hi);
		if (!(v[i].text = strdup(config_setting_get_string(b))))
			return MB_ENOMEM;
		*nout = (size_t)i + 1;
	}
	return 0;
}

/* `retry = false` on a register or command of group s: its writes are sent
 * to the device at most once (triggers, counters, resets: writes that are not
 * idempotent). Reads are always retried, so it needs something to write. */
static int map__retry(struct config_parser *p, const config_setting_t *s, int writable,
		      uint8_t *no_retry)
{
	const config_setting_t *x = config_setting_get_member(s, "retry");
	char path[64];

	if (!x)
		return 0;
	if (config_setting_type(x) != CONFIG_TYPE_BOOL)
		return config_error(p, x, "%s must be true or false, not %s", MAP__PATH(x, path),
				    config_type_name(x));
	*no_retry = !config_setting_get_bool(x);
	if (*no_retry && !writable)
		return config_error(p, x,
				    "%s = false is only for writable registers (access \"w\" or "
				    "\"rw\"): reads are always retried",
				    MAP__PATH(x, path));
	return 0;
}

static int map__register_done(struct config_parser *p, const config_setting_t *s, struct map *m,
			      struct map_register *r)
{
	const config_setting_t *x;
	char path[64], names[128];
	int keyed = (m->proto->flags & PROTOCOL_KEYED) != 0;
	int rc;

	r->line = config_setting_source_line(s);

	/* Width: `length` words where given (strings must say), else the type's. */
	if (!config_setting_get_member(s, "length")) {
		if (r->type == MAP_STRING)
			return config_error(p, s,
					    "%s.length is missing: a string register needs its "
					    "length in registers",
					    MAP__PATH(s, path));
		r->count = (uint16_t)map__natural_count(r->type);
	}
	if ((x = config_setting_get_member(s, "word_order")) && r->type != MAP_INT32 &&
	    r->type != MAP_UINT32)
		return config_error(p, x, "%s.word_order is only for int32 and uint32 registers",
				    MAP__PATH(s, path));
	if ((uint32_t)r->address + r->count > 65536)
		return config_error(p, s, "%s runs past address 65535", MAP__PATH(s, path));

	if ((x = config_setting_get_member(s, "native"))) {
		if (!(m->proto->flags & PROTOCOL_NATIVE))
			return config_error(
			    p, x, "%s.native is only for %s maps", MAP__PATH(s, path),
			    protocol_names(PROTOCOL_NATIVE, ", ", " and ", names, sizeof names));
		if ((uint32_t)r->native + r->count > 65536)
			return config_error(p, x, "%s.native runs past address 65535",
					    MAP__PATH(s, path));
	} else {
		r->native = r->address;
	}

	if (r->table == MAP_INPUT && (r->access & MAP_W))
		return config_error(p, config_setting_get_member(s, "access"),
				    "%s.access: input registers are read-only", MAP__PATH(s, path));

	if (!(isfinite(r->scale) && r->scale > 0))
		return config_error(p, config_setting_get_member(s, "scale"),
				    "%s.scale must be a number > 0, not %g", MAP__PATH(s, path),
				    r->scale);

	/* Keyed protocols: values come from keys of the device's answer;
	 * writes from templates. */
	static const char *const keyed_only[] = {"key", "field", "write", "ack"};
	for (size_t i = 0; !keyed && i < MAP__N(keyed_only); i++)
		if ((x = config_setting_get_member(s, keyed_only[i])))
			return config_error(
			    p, x, "%s.%s is only for %s maps", MAP__PATH(s, path), keyed_only[i],
			    protocol_names(PROTOCOL_KEYED, ", ", " and ", names, sizeof names));
	if (keyed && (r->access & MAP_R) && !r->key)
		return config_error(p, s,
				    "%s.key is missing: a readable %s register names the key "
				    "of the device's answer it comes from",
				    MAP__PATH(s, path), m->proto->name);
	if ((x = config_setting_get_member(s, "field")) && !r->key)
		return config_error(p, x, "%s.field needs a key", MAP__PATH(s, path));
	if ((x = config_setting_get_member(s, "write"))) {
		if (!(r->access & MAP_W))
			return config_error(p, x, "%s.write needs access \"w\" or \"rw\"",
					    MAP__PATH(s, path));
		if (!strstr(r->write, "{value}"))
			return config_error(p, x, "%s.write must contain {value}, not \"%s\"",
					    MAP__PATH(s, path), r->write);
	}
	if (m->proto->map_register && (rc = m->proto->map_register(p, s, r)) != 0)
		return rc;
	if ((x = config_setting_get_member(s, "ack")) && !r->write)
		return config_error(p, x, "%s.ack is only for registers with a write template",
				    MAP__PATH(s, path));
	if (keyed && r->write && r->ack < 0)
		r->ack = 1;
	if ((rc = map__retry(p, s, (r->access & MAP_W) != 0, &r->no_retry)) != 0)
		return rc;

	/* Limits and defaults: raw integers for numbers, text for strings. */
	r->has_min = config_setting_get_member(s, "min") != NULL;
	r->has_max = config_setting_get_member(s, "max") != NULL;
	if (r->type == MAP_STRING) {
		static const char *const numeric_only[] = {"min", "max", "values", "enum", "bits"};
		for (size_t i = 0; i < MAP__N(numeric_only); i++)
			if ((x = config_setting_get_member(s, numeric_only[i])))
				return config_error(p, x, "%s.%s is only for numeric registers",
						    MAP__PATH(s, path), numeric_only[i]);
	}
	if ((x = config_setting_get_member(s, "default"))) {
		char dpath[80];
		if (r->type == MAP_STRING) {
			if (config_setting_type(x) != CONFIG_TYPE_STRING)
				return config_error(p, x,
						    "%s must be a string for a string register, "
						    "not %s",
						    MAP__PATH(x, dpath), config_type_name(x));
			if (!(r->def_string = strdup(config_setting_get_string(x))))
				return MB_ENOMEM;
		} else {
			if (!map__is_int(x))
				return config_error(p, x,
						    "%s must be an integer (the raw value), not %s",
						    MAP__PATH(x, dpath), config_type_name(x));
			r->def = config_setting_get_int64(x);
		}
		r->has_default = 1;
	}
	if ((x = config_setting_get_member(s, "values"))) {
		int64_t *v = NULL;
		if ((rc = map__int_list(p, x, &v, &r->nvalues)) != 0)
			return rc;
		r->values = v;
	}
	if ((x = config_setting_get_member(s, "enum"))) {
		struct map_label *v = NULL;
		rc = map__labels(p, x, INT64_MIN, INT64_MAX, "value", &v, &r->nlabels);
		r->labels = v;
		if (rc != 0)
			return rc;
	}
	if ((x = config_setting_get_member(s, "bits"))) {
		struct map_label *v = NULL;
		rc = map__labels(p, x, 0, 16 * (int64_t)r->count - 1, "bit", &v, &r->nbits);
		r->bits = v;
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int map__cmp_regname(const void *a, const void *b)
{
	const struct map_register *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);
	return c ? c : ((*x)->line > (*y)->line) - ((*x)->line < (*y)->line);
}

static int map__cmp_reg(const void *a, const void *b)
{
	const struct map_register *x = a, *y = b;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

static int map__registers(struct config_parser *p, const config_setting_t *list, struct map *m)
{
	int n;

	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return config_error(p, list, "registers must be a list ( { ... }, ... ), not %s",
				    config_type_name(list));
	n = config_setting_length(list);
	if (n == 0)
		return 0;
	if (!(m->regs = calloc((size_t)n, sizeof *m->regs)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct map_register *r = &m->regs[i];
		int rc;

		m->nregs = (size_t)i + 1;
		r->type = MAP_UINT16;
		r->access = MAP_R;
		r->table = MAP_HOLDING;
		r->scale = 1.0;
		r->field = -1;
		r->ack = -1;
		r->line = config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			char path[64];
			return config_error(
			    p, e, "%s must be a group { address = ...; ... }, not %s",
			    config_key_path(e, path, sizeof path), config_type_name(e));
		}
		rc = config_keys_parse(p, e, map__register_keys, MAP__N(map__register_keys), r);
		if (rc == 0)
			rc = map__register_done(p, e, m, r);
		if (rc != 0)
			return rc;
	}

	/* Names are unique: sort a view by name, in file order, and compare
	 * neighbours (the registers are still in file order here). */
	if (!(m->by_name = calloc(m->nregs, sizeof *m->by_name)))
		return MB_ENOMEM;
	for (size_t i = 0; i < m->nregs; i++)
		m->by_name[i] = &m->regs[i];
	qsort(m->by_name, m->nregs, sizeof *m->by_name, map__cmp_regname);
	for (size_t i = 1; i < m->nregs; i++) {
		if (strcmp(m->by_name[i]->name, m->by_name[i - 1]->name) == 0) {
			size_t idx = (size_t)(m->by_name[i] - m->regs);
			const config_setting_t *e = config_setting_get_elem(list, (unsigned)idx);
			char path[64];
			config_key_path(e, path, sizeof path);
			return config_error(p, config_setting_get_member(e, "name"),
					    "%s.name \"%s\" is used by the register on line %d too",
					    path, m->by_name[i]->name, m->by_name[i - 1]->line);
		}
	}

	qsort(m->regs, m->nregs, sizeof *m->regs, map__cmp_reg);
	for (size_t i = 0; i < m->nregs; i++) {
		m->by_name[i] = &m->regs[i];
		m->regs[i].slot = (uint32_t)m->nslots;
		m->nslots += m->regs[i].count;
	}
	qsort(m->by_name, m->nregs, sizeof *m->by_name, map__cmp_regname);
	return 0;
}

/* Placeholders {0}..{n} stand for the registers of the command, in order (a
 * 32-bit register is one placeholder), so there are at most `count` of them;
 * other braces are the template's own text. */
static int map__template(struct config_parser *p, const config_setting_t *s,
			 const struct map_command *c, const struct protocol *pr)
{
	char path[64];
	int rc;

	if (pr->map_command && (rc = pr->map_command(p, s, c)) != 0)
		return rc;
	for (const char *t = c->template; (t = strchr(t, '{')) != NULL; t++) {
		char *end;
		long i;
		if (t[1] < '0' || t[1] > '9')
			continue;
		errno = 0;
		i = strtol(t + 1, &end, 10);
		if (*end != '}')
			continue;
		if (errno || i >= c->count) {
			config_key_path(s, path, sizeof path);
			return config_error(
			    p, s,
			    "%s uses {%ld} but the command covers at most %u registers "
			    "({0}..{%u}, one per register)",
			    path, i, c->count, c->count - 1u);
		}
	}
	return 0;
}

static int map__cmp_cmdname(const void *a, const void *b)
{
	const struct map_command *const *x = a, *const *y = b;
	int c = strcmp((*x)->name, (*y)->name);
	return c ? c : (*x > *y) - (*x < *y); /* then file order */
}

/* Command names are unique. Sorted by name, then file order, a repeated name
 * sits right after its previous use; of all repeats, report the first in the
 * file, as a scan in file order would. */
static int map__commands_unique(struct config_parser *p, const config_setting_t *list,
				struct map *m)
{
	const struct map_command **v, *dup = NULL, *first = NULL;
	char path[64];

	if (m->ncmds < 2)
		return 0;
	if (!(v = calloc(m->ncmds, sizeof *v)))
		return MB_ENOMEM;
	for (size_t i = 0; i < m->ncmds; i++)
		v[i] = &m->cmds[i];
	qsort(v, m->ncmds, sizeof *v, map__cmp_cmdname);
	for (size_t i = 1; i < m->ncmds; i++) {
		if (strcmp(v[i]->name, v[i - 1]->name) == 0 && (!dup || v[i] < dup)) {
			dup = v[i];
			first = v[i - 1];
		}
	}
	free(v);
	if (!dup)
		return 0;
	const config_setting_t *e = config_setting_get_elem(list, (unsigned)(dup - m->cmds));
	return config_error(p, config_setting_get_member(e, "name"),
			    "%s.name \"%s\" is used by the command on line %d too",
			    MAP__PATH(e, path), dup->name, first->line);
}

static int map__commands(struct config_parser *p, const config_setting_t *list, struct map *m)
{
	int n;

	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return config_error(p, list, "commands must be a list ( { ... }, ... ), not %s",
				    config_type_name(list));
	if ((n = config_setting_length(list)) == 0)
		return 0;
	if (!(m->cmds = calloc((size_t)n, sizeof *m->cmds)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct map_command *c = &m->cmds[i];
		char path[64];
		int rc;

		m->ncmds = (size_t)i + 1;
		c->ack = 1;
		c->line = config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return config_error(p, e, "%s must be a group { name = ...; ... }, not %s",
					    MAP__PATH(e, path), config_type_name(e));
		rc = config_keys_parse(p, e, map__command_keys, MAP__N(map__command_keys), c);
		if (rc == 0)
			rc =
			    map__template(p, config_setting_get_member(e, "template"), c, m->proto);
		if (rc == 0)
			rc = map__retry(p, e, 1, &c->no_retry);
		if (rc != 0)
			return rc;
		if ((uint32_t)c->address + c->count > 65536)
			return config_error(p, e, "%s runs past address 65535", MAP__PATH(e, path));
	}
	return map__commands_unique(p, list, m);
}

/* --- loading ------------------------------------------------------------- */

struct map *map_load(const char *path, char *err, size_t errlen)
{
	struct config_parser p = {.err = err, .errlen = errlen, .file = path};
	const config_setting_t *x;
	struct map *m;
	config_t lc;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (config_parse_file(&lc, path, err, errlen) != 0)
		return NULL;
	if (!(m = calloc(1, sizeof *m)) || !(m->path = strdup(path))) {
		config_destroy(&lc);
		free(m);
		if (err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	m->defaults.poll = m->defaults.max_age = m->defaults.timeout = m->defaults.min_interval =
	    m->defaults.retries = -1;

	rc = config_keys_parse(&p, config_root_setting(&lc), map__top_keys, MAP__N(map__top_keys),
			       m);
	if (rc == 0 && (x = config_lookup(&lc, "registers")))
		rc = map__registers(&p, x, m);
	if (rc == 0 && (x = config_lookup(&lc, "commands")))
		rc = map__commands(&p, x, m);
	config_destroy(&lc);
	if (rc != 0) {
		if (rc == MB_ENOMEM && err && errlen)
			snprintf(err, errlen, "%s: out of memory", path);
		map_free(m);
		return NULL;
	}

	for (int t = 0, i = 0; t <= MAP_TABLES; t++) {
		while ((size_t)i < m->nregs && m->regs[i].table < t)
			i++;
		m->table_start[t] = (size_t)i;
	}
	m->table_start[MAP_TABLES] = m->nregs;
	map__index(m);
	return m;
}

struct map *map_load_named(const char *const *dirs, size_t ndirs, const char *name, char *err,
			   size_t errlen)
{
	char path[4096];
	size_t used;

	if (!name || !*name || strchr(name, '/')) {
		if (err && errlen)
			snprintf(err, errlen, "map name \"%s\" must not be empty or hold a '/'",
				 name ? name : "");
		return NULL;
	}
	for (size_t i = 0; i < ndirs; i++) {
		struct map *m;
		int w = snprintf(path, sizeof path, "%s/%s.conf", dirs[i], name);
		if (w < 0 || (size_t)w >= sizeof path || access(path, F_OK) != 0)
			continue;
		if (!(m = map_load(path, err, errlen)))
			return NULL;
		if (strcmp(m->name, name) != 0) {
			if (err && errlen)
				snprintf(err, errlen,
					 "%s:%d: name \"%s\" must be \"%s\", the file's name "
					 "without .conf",
					 path, m->name_line, m->name, name);
			map_free(m);
			return NULL;
		}
		return m;
	}
	if (err && errlen) {
		used = (size_t)snprintf(err, errlen, "map %s not found in ", name);
		for (size_t i = 0; i < ndirs && used < errlen; i++)
			used += (size_t)snprintf(err + used, errlen - used, "%s%s", i ? ", " : "",
						 dirs[i]);
		if (ndirs == 0 && used < errlen)
			snprintf(err + used, errlen - used, "(no maps_path)");
	}
	return NULL;
}

/* --- accessors ----------------------------------------------------------- */

const char *map_name(const struct map *m)
{
	return m->name;
}

const char *map_protocol(const struct map *m)
{
	return m->proto->name;
}

const struct protocol *map_proto(const struct map *m)
{
	return m->proto;
}

const char *map_trust(const struct map *m)
{
	return map__trusts[m->trust];
}

const char *map_description(const struct map *m)
{
	return m->description;
}

const char *map_source(const struct map *m)
{
	return m->source;
}

const char *map_path(const struct map *m)
{
	return m->path;
}

const char *map_vendor(const struct map *m)
{
	return m->vendor;
}

const char *map_model(const struct map *m)
{
	return m->model;
}

const struct map_defaults *map_defaults(const struct map *m)
{
	return &m->defaults;
}

size_t map_nregs(const struct map *m)
{
	return m->nregs;
}

const struct map_register *map_reg(const struct map *m, size_t i)
{
	return i < m->nregs ? &m->regs[i] : NULL;
}

size_t map_nslots(const struct map *m)
{
	return m->nslots;
}

unsigned map_max_read(const struct map *m)
{
	return (unsigned)m->max_read;
}

/* At most this many addresses (x2 bytes) of dense index per table; beyond it
 * (a map with registers far apart) map_find falls back to binary search. */
#define MAP__DENSE_MAX 16384

static void map__index(struct map *m)
{
	/* Readable runs, from the end of each table backwards. */
	for (int t = 0; t < MAP_TABLES; t++) {
		for (size_t i = m->table_start[t + 1]; i-- > m->table_start[t];) {
			struct map_register *r = &m->regs[i];
			const struct map_register *n =
			    i + 1 < m->table_start[t + 1] ? &m->regs[i + 1] : NULL;
			if (!(r->access & MAP_R))
				r->readable_run = 0;
			else if (n && n->readable_run &&
				 n->address == (uint32_t)r->address + r->count)
				r->readable_run = r->count + n->readable_run;
			else
				r->readable_run = r->count;
		}
	}
	for (int t = 0; t < MAP_TABLES; t++) {
		size_t a = m->table_start[t], b = m->table_start[t + 1];
		if (a == b || m->nregs >= 0xFFFF)
			continue;
		uint32_t lo = m->regs[a].address;
		uint32_t hi = 0;
		for (size_t i = a; i < b; i++)
			if ((uint32_t)m->regs[i].address + m->regs[i].count > hi)
				hi = (uint32_t)m->regs[i].address + m->regs[i].count;
		if (hi - lo > MAP__DENSE_MAX)
			continue;
		uint16_t *d = calloc(hi - lo, sizeof *d);
		if (!d)
			continue; /* binary search still works */
		/* In address order, so that an overlap (which lint reports)
		 * resolves as binary search does: the later start wins. */
		for (size_t i = a; i < b; i++)
			for (uint32_t k = 0; k < m->regs[i].count; k++)
				d[m->regs[i].address - lo + k] = (uint16_t)(i + 1);
		m->dense[t] = d;
		m->dense_lo[t] = lo;
		m->dense_span[t] = hi - lo;
	}
}

const struct map_register *map_find(const struct map *m, int table, uint16_t address)
{
	size_t lo, hi, first;
	const struct map_register *r;

	if (table < 0 || table >= MAP_TABLES)
		return NULL;
	if (m->dense[table]) {
		uint32_t off = (uint32_t)address - m->dense_lo[table];
		if (address < m->dense_lo[table] || off >= m->dense_span[table])
			return NULL;
		uint16_t i = m->dense[table][off];
		return i ? &m->regs[i - 1] : NULL;
	}
	/* The last register of the table that starts at or before address.
	 * Registers do not overlap in a map that lints clean; in one that does
	 * not, this finds the one that starts last. */
	first = lo = m->table_start[table];
	hi = m->table_start[table + 1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->regs[mid].address <= address)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == first)
		return NULL;
	r = &m->regs[lo - 1];
	return (uint32_t)address < (uint32_t)r->address + r->count ? r : NULL;
}

static int map__cmp_name_key(const void *key, const void *elem)
{
	const struct map_register *const *r = elem;
	return strcmp(key, (*r)->name);
}

const struct map_register *map_find_name(const struct map *m, const char *name)
{
	const struct map_register *const *r;

	if (!name || m->nregs == 0)
		return NULL;
	r = bsearch(name, m->by_name, m->nregs, sizeof *m->by_name, map__cmp_name_key);
	return r ? *r : NULL;
}

size_t map_ncommands(const struct map *m)
{
	return m->ncmds;
}

const struct map_command *map_command(const struct map *m, size_t i)
{
	return i < m->ncmds ? &m->cmds[i] : NULL;
}

const struct map_command *map_find_command(const struct map *m, uint16_t address, uint16_t count)
{
	uint32_t a = address, e = (uint32_t)address + count;

	/* Maps carry a handful of commands: a scan is cheaper than an index. */
	for (size_t i = 0; i < m->ncmds; i++) {
		uint32_t ca = m->cmds[i].address, ce = ca + m->cmds[i].count;
		if (a < ce && ca < e)
			return &m->cmds[i];
	}
	return NULL;
}

/* --- values -------------------------------------------------------------- */

int64_t map_decode(const struct map_register *r, const uint16_t *words)
{
	uint32_t v;

	switch (r->type) {
	case MAP_INT16:
		return (int16_t)words[0];
	case MAP_UINT16:
		return words[0];
	case MAP_INT32:
	case MAP_UINT32:
		if (r->count < 2)
			return words[0];
		v = r->word_little ? ((uint32_t)words[1] << 16 | words[0])
				   : ((uint32_t)words[0] << 16 | words[1]);
		return r->type == MAP_INT32 ? (int64_t)(int32_t)v : (int64_t)v;
	default:
		return 0;
	}
}

int map_encode(const struct map_register *r, int64_t value, uint16_t *words)
{
	uint32_t v;

	if (r->type == MAP_STRING)
		return MB_EINVAL;
	if (!map__fits(r->type, value))
		return MB_ERANGE;
	if (r->type == MAP_INT16 || r->type == MAP_UINT16) {
		words[0] = (uint16_t)value;
		return 0;
	}
	if (r->count < 2)
		return MB_EINVAL;
	v = (uint32_t)value;
	words[r->word_little ? 1 : 0] = (uint16_t)(v >> 16);
	words[r->word_little ? 0 : 1] = (uint16_t)v;
	return 0;
}

int map_encode_string(const struct map_register *r, const char *s, uint16_t *words)
{
	size_t len;

	if (r->type != MAP_STRING || !s)
		return MB_EINVAL;
	if ((len = strlen(s)) > 2u * r->count)
		return MB_ERANGE;
	for (size_t i = 0; i < r->count; i++) {
		uint8_t hi = 2 * i < len ? (uint8_t)s[2 * i] : 0;
		uint8_t lo = 2 * i + 1 < len ? (uint8_t)s[2 * i + 1] : 0;
		words[i] = (uint16_t)(hi << 8 | lo);
	}
	return 0;
}

int map_value_ok(const struct map_register *r, int64_t value)
{
	if (r->type == MAP_STRING)
		return 1;
	if (!map__fits(r->type, value))
		return 0;
	if (r->has_min && value < r->min)
		return 0;
	if (r->has_max && value > r->max)
		return 0;
	if (r->values) {
		for (size_t i = 0; i < r->nvalues; i++)
			if (r->values[i] == value)
				return 1;
		return 0;
	}
	return 1;
}

/* --- the linter ---------------------------------------------------------- */

struct map_lint {
	const struct map *m;
	char *err;
	size_t errlen, used;
	int count;
};

static void map__problem(struct map_lint *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void map__problem(struct map_lint *l, int line, const char *fmt, ...)
{
	va_list ap;
	int w;

	l->count++;
	if (!l->err || l->used + 1 >= l->errlen)
		return;
	w = snprintf(l->err + l->used, l->errlen - l->used, "%s:%d: ", l->m->path, line);
	if (w < 0)
		return;
	l->used = l->used + (size_t)w < l->errlen ? l->used + (size_t)w : l->errlen - 1;
	va_start(ap, fmt);
	w = vsnprintf(l->err + l->used, l->errlen - l->used, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	l->used = l->used + (size_t)w < l->errlen ? l->used + (size_t)w : l->errlen - 1;
	if (l->used + 1 < l->errlen) {
		l->err[l->used++] = '\n';
		l->err[l->used] = '\0';
	}
}

void map_lint_problem(struct map_lint *l, int line, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	map__problem(l, line, "%s", text);
}

static void map__range_text(char *buf, size_t len, uint32_t a, uint32_t count)
{
	if (count <= 1)
		snprintf(buf, len, "%" PRIu32, a);
	else
		snprintf(buf, len, "%" PRIu32 "..%" PRIu32, a, a + count - 1);
}

static int map__cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Values given more than once in a list (of integers, or of labels): one
 * problem per repeated value. Sorted, so that a long list costs n log n. */
static void map__lint_twice(struct map_lint *l, const struct map_register *r, const int64_t *ints,
			    const struct map_label *labels, size_t n, const char *what,
			    const char *verb)
{
	int64_t *v;

	if (n < 2 || !(v = malloc(n * sizeof *v)))
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = ints ? ints[i] : labels[i].value;
	qsort(v, n, sizeof *v, map__cmp_i64);
	for (size_t i = 1; i < n; i++)
		if (v[i] == v[i - 1] && (i < 2 || v[i - 1] != v[i - 2]))
			map__problem(l, r->line, "register \"%s\": %s %" PRId64 " is %s twice",
				     r->name, what, v[i], verb);
	free(v);
}

static void map__lint_register(struct map_lint *l, const struct map_register *r)
{
	const char *tn = map__types[r->type];
	int64_t lo, hi;

	if (r->type != MAP_STRING && r->count != map__natural_count(r->type))
		map__problem(l, r->line, "register \"%s\" is %s but %u registers long: %s takes %d",
			     r->name, tn, r->count, tn, map__natural_count(r->type));
	if (r->type == MAP_STRING) {
		if (r->has_default && strlen(r->def_string) > 2u * r->count)
			map__problem(l, r->line,
				     "register \"%s\": default \"%s\" is longer than %u characters "
				     "(%u registers)",
				     r->name, r->def_string, 2u * r->count, r->count);
		return;
	}

	map__type_range(r->type, &lo, &hi);
	if (r->has_min && r->has_max && r->min > r->max)
		map__problem(l, r->line, "register \"%s\": min %" PRId64 " > max %" PRId64, r->name,
			     r->min, r->max);
	if (r->has_min && !map__fits(r->type, r->min))
		map__problem(l, r->line, "register \"%s\": min %" PRId64 " does not fit %s",
			     r->name, r->min, tn);
	if (r->has_max && !map__fits(r->type, r->max))
		map__problem(l, r->line, "register \"%s\": max %" PRId64 " does not fit %s",
			     r->name, r->max, tn);
	for (size_t i = 0; r->values && i < r->nvalues; i++)
		if (!map__fits(r->type, r->values[i]))
			map__problem(l, r->line,
				     "register \"%s\": value %" PRId64 " does not fit %s", r->name,
				     r->values[i], tn);
	map__lint_twice(l, r, r->values, NULL, r->nvalues, "value", "listed");
	map__lint_twice(l, r, NULL, r->labels, r->nlabels, "enum value", "described");
	map__lint_twice(l, r, NULL, r->bits, r->nbits, "bit", "described");
	if (r->has_default) {
		if (!map__fits(r->type, r->def))
			map__problem(l, r->line,
				     "register \"%s\": default %" PRId64 " does not fit %s",
				     r->name, r->def, tn);
		else if (!map_value_ok(r, r->def))
			map__problem(l, r->line,
				     "register \"%s\": default %" PRId64
				     " is outside its min/max/values",
				     r->name, r->def);
	}
}

static int map__cmp_cmd(const void *a, const void *b)
{
	const struct map_command *const *x = a, *const *y = b;
	if ((*x)->address != (*y)->address)
		return (*x)->address < (*y)->address ? -1 : 1;
	return ((*x)->line > (*y)->line) - ((*x)->line < (*y)->line);
}

static void map__lint_command(struct map_lint *l, const struct map_command *c)
{
	const struct map *m = l->m;
	uint32_t a = c->address, end = a + c->count;
	char range[32];

	while (a < end) {
		const struct map_register *r = map_find(m, MAP_HOLDING, (uint16_t)a);
		if (!r) {
			uint32_t b = a;
			while (b < end && !map_find(m, MAP_HOLDING, (uint16_t)b))
				b++;
			map__range_text(range, sizeof range, a, b - a);
			map__problem(l, c->line, "command \"%s\" covers %s, which no register maps",
				     c->name, range);
			a = b;
			continue;
		}
		if (r->address < c->address || (uint32_t)r->address + r->count > end)
			map__problem(l, c->line,
				     "command \"%s\" (%u..%u) splits register \"%s\" (line %d): it "
				     "covers only some of its %u words",
				     c->name, c->address, (unsigned)(end - 1), r->name, r->line,
				     r->count);
		if (!(r->access & MAP_W))
			map__problem(l, c->line, "command \"%s\" covers read-only register \"%s\"",
				     c->name, r->name);
		a = (uint32_t)r->address + r->count;
	}
}

/* Is [a, a + count) written by one of the commands, sorted by address, whose
 * running maximum end is ends[]? O(log n): the commands that start before
 * the range ends are a prefix of the sorted ones. */
static int map__covered(const struct map_command *const *cmds, const uint32_t *ends, size_t n,
			uint32_t a, uint32_t count)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmds[mid]->address < a + count)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && ends[lo - 1] > a;
}

int map_lint(const struct map *m, char *err, size_t errlen)
{
	struct map_lint l = {.m = m, .err = err, .errlen = errlen};
	const struct map_command **cmds = NULL;
	uint32_t *ends = NULL;

	if (err && errlen)
		err[0] = '\0';
	if (m->nregs == 0)
		map__problem(&l, m->name_line, "map \"%s\" has no registers", m->name);

	/* Overlaps: registers are sorted, so keep the one reaching furthest. */
	for (int t = 0; t < MAP_TABLES; t++) {
		const struct map_register *reach = NULL;
		for (size_t i = m->table_start[t]; i < m->table_start[t + 1]; i++) {
			const struct map_register *r = &m->regs[i];
			char ra[32], rb[32];
			if (reach && r->address < (uint32_t)reach->address + reach->count) {
				map__range_text(ra, sizeof ra, r->address, r->count);
				map__range_text(rb, sizeof rb, reach->address, reach->count);
				map__problem(
				    &l, r->line,
				    "register \"%s\" (%s %s) overlaps \"%s\" (%s, line %d)",
				    r->name, map__tables[t], ra, reach->name, rb, reach->line);
			}
			if (!reach || (uint32_t)r->address + r->count >
					  (uint32_t)reach->address + reach->count)
				reach = r;
		}
	}
	for (size_t i = 0; i < m->nregs; i++)
		map__lint_register(&l, &m->regs[i]);

	if (m->ncmds && (cmds = calloc(m->ncmds, sizeof *cmds)) != NULL &&
	    (ends = calloc(m->ncmds, sizeof *ends)) != NULL) {
		const struct map_command *reach = NULL;
		for (size_t i = 0; i < m->ncmds; i++)
			cmds[i] = &m->cmds[i];
		qsort(cmds, m->ncmds, sizeof *cmds, map__cmp_cmd);
		/* As for registers: compare with the one reaching furthest. */
		for (size_t i = 0; i < m->ncmds; i++) {
			const struct map_command *b = cmds[i];
			if (reach && b->address < (uint32_t)reach->address + reach->count)
				map__problem(&l, b->line,
					     "command \"%s\" overlaps command \"%s\" (line %d)",
					     b->name, reach->name, reach->line);
			if (!reach || (uint32_t)b->address + b->count >
					  (uint32_t)reach->address + reach->count)
				reach = b;
			ends[i] = (uint32_t)reach->address + reach->count;
		}
		for (size_t i = 0; i < m->ncmds; i++)
			map__lint_command(&l, &m->cmds[i]);
	}

	/* Keyed protocols: a writable register needs a way to be written. */
	for (size_t i = 0; (m->proto->flags & PROTOCOL_KEYED) && i < m->nregs; i++) {
		const struct map_register *r = &m->regs[i];
		if (!(r->access & MAP_W) || r->write)
			continue;
		if (ends ? map__covered(cmds, ends, m->ncmds, r->address, r->count)
			 : map_find_command(m, r->address, r->count) != NULL)
			continue;
		map__problem(&l, r->line,
			     "register \"%s\" is writable but has no write template and no "
			     "command covers it",
			     r->name);
	}
	free(cmds);
	free(ends);
	if (m->proto->map_lint)
		m->proto->map_lint(&l, m);
	return l.count;
}

/* --- the register reference ---------------------------------------------- */

static void map__json_str(FILE *out, const char *s)
{
	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* Table cells: a '|' would end the cell, a newline the row. */
static void map__md(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

static const char *map__access_text(int access)
{
	return access == MAP_RW ? "rw" : access == MAP_W ? "w" : "r";
}

/* "0..1000", "0, 1, 2", ">= 5"; empty when the register declares nothing. */
static void map__limits(const struct map_register *r, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (r->values) {
		for (size_t i = 0; i < r->nvalues && used < len; i++) {
			int w = snprintf(buf + used, len - used, "%s%" PRId64, i ? ", " : "",
					 r->values[i]);
			if (w < 0)
				return;
			used += (size_t)w;
		}
	} else if (r->has_min && r->has_max) {
		snprintf(buf, len, "%" PRId64 "..%" PRId64, r->min, r->max);
	} else if (r->has_min) {
		snprintf(buf, len, ">= %" PRId64, r->min);
	} else if (r->has_max) {
		snprintf(buf, len, "<= %" PRId64, r->max);
	}
}

static void map__type_text(const struct map_register *r, char *buf, size_t len)
{
	if (r->type == MAP_INT32 || r->type == MAP_UINT32)
		snprintf(buf, len, "%s (%s word first)", map__types[r->type],
			 r->word_little ? "low" : "high");
	else
		snprintf(buf, len, "%s", map__types[r->type]);
}

static int map__any_native(const struct map *m)
{
	for (size_t i = 0; i < m->nregs; i++)
		if (m->regs[i].native != m->regs[i].address)
			return 1;
	return 0;
}

static void map__print_json(const struct map *m, FILE *out)
{
	static const char *const dnames[] = {"poll", "max_age", "timeout", "min_interval",
					     "retries"};
	const int64_t dvals[] = {m->defaults.poll, m->defaults.max_age, m->defaults.timeout,
				 m->defaults.min_interval, m->defaults.retries};
	int first = 1;

	fputs("{\n  \"name\": ", out);
	map__json_str(out, m->name);
	fputs(",\n  \"protocol\": ", out);
	map__json_str(out, map_protocol(m));
	fputs(",\n  \"trust\": ", out);
	map__json_str(out, map_trust(m));
	fputs(",\n  \"trust_meaning\": ", out);
	map__json_str(out, map__trust_text[m->trust]);
	fputs(",\n  \"description\": ", out);
	map__json_str(out, m->description);
	fputs(",\n  \"source\": ", out);
	map__json_str(out, m->source);
	fputs(",\n  \"vendor\": ", out);
	map__json_str(out, m->vendor);
	fputs(",\n  \"model\": ", out);
	map__json_str(out, m->model);
	if (m->max_read)
		fprintf(out, ",\n  \"max_read\": %d", m->max_read);
	fputs(",\n  \"defaults\": {", out);
	for (size_t i = 0; i < MAP__N(dnames); i++) {
		if (dvals[i] < 0)
			continue;
		fprintf(out, "%s\"%s\": %" PRId64, first ? "" : ", ", dnames[i], dvals[i]);
		first = 0;
	}
	fputs("},\n  \"registers\": [", out);
	for (size_t i = 0; i < m->nregs; i++) {
		const struct map_register *r = &m->regs[i];
		fprintf(out,
			"%s\n    {\"table\": \"%s\", \"address\": %u, \"name\": ", i ? "," : "",
			map__tables[r->table], r->address);
		map__json_str(out, r->name);
		fprintf(out, ", \"type\": \"%s\", \"words\": %u, \"access\": \"%s\"",
			map__types[r->type], r->count, map__access_text(r->access));
		if (r->type == MAP_INT32 || r->type == MAP_UINT32)
			fprintf(out, ", \"word_order\": \"%s\"", r->word_little ? "little" : "big");
		if (r->native != r->address)
			fprintf(out, ", \"native\": %u", r->native);
		fprintf(out, ", \"scale\": %.15g", r->scale);
		if (r->unit) {
			fputs(", \"unit\": ", out);
			map__json_str(out, r->unit);
		}
		if (r->has_min)
			fprintf(out, ", \"min\": %" PRId64, r->min);
		if (r->has_max)
			fprintf(out, ", \"max\": %" PRId64, r->max);
		if (r->values) {
			fputs(", \"values\": [", out);
			for (size_t j = 0; j < r->nvalues; j++)
				fprintf(out, "%s%" PRId64, j ? ", " : "", r->values[j]);
			fputc(']', out);
		}
		if (r->has_default) {
			fputs(", \"default\": ", out);
			if (r->type == MAP_STRING)
				map__json_str(out, r->def_string);
			else
				fprintf(out, "%" PRId64, r->def);
		}
		if (r->key) {
			fputs(", \"key\": ", out);
			map__json_str(out, r->key);
			if (r->field >= 0)
				fprintf(out, ", \"field\": %d", r->field);
		}
		if (r->write) {
			fputs(", \"write\": ", out);
			map__json_str(out, r->write);
			fprintf(out, ", \"ack\": %s", r->ack ? "true" : "false");
		}
		if (r->access & MAP_W)
			fprintf(out, ", \"retry\": %s", r->no_retry ? "false" : "true");
		if (r->labels) {
			fputs(", \"enum\": [", out);
			for (size_t j = 0; j < r->nlabels; j++) {
				fprintf(out, "%s{\"value\": %" PRId64 ", \"text\": ", j ? ", " : "",
					r->labels[j].value);
				map__json_str(out, r->labels[j].text);
				fputc('}', out);
			}
			fputc(']', out);
		}
		if (r->bits) {
			fputs(", \"bits\": [", out);
			for (size_t j = 0; j < r->nbits; j++) {
				fprintf(out, "%s{\"bit\": %" PRId64 ", \"text\": ", j ? ", " : "",
					r->bits[j].value);
				map__json_str(out, r->bits[j].text);
				fputc('}', out);
			}
			fputc(']', out);
		}
		fputs(", \"description\": ", out);
		map__json_str(out, r->description);
		fputc('}', out);
	}
	fputs(m->nregs ? "\n  ],\n  \"commands\": [" : "],\n  \"commands\": [", out);
	for (size_t i = 0; i < m->ncmds; i++) {
		const struct map_command *c = &m->cmds[i];
		fprintf(out, "%s\n    {\"name\": ", i ? "," : "");
		map__json_str(out, c->name);
		fprintf(out, ", \"address\": %u, \"count\": %u, \"template\": ", c->address,
			c->count);
		map__json_str(out, c->template);
		fprintf(out, ", \"ack\": %s, \"retry\": %s}", c->ack ? "true" : "false",
			c->no_retry ? "false" : "true");
	}
	fputs(m->ncmds ? "\n  ]\n}\n" : "]\n}\n", out);
}

/* One line of the text reference, without trailing blanks (columns are
 * padded, and the last ones are often empty). */
static void map__line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void map__line(FILE *out, const char *fmt, ...)
{
	va_list ap;
	char small[512], *buf = small;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof small) {
		if (!(buf = malloc((size_t)n + 1)))
			return;
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	fprintf(out, "%.*s\n", n, buf);
	if (buf != small)
		free(buf);
}

static void map__print_text(const struct map *m, FILE *out)
{
	int namew = 4;
	int native = map__any_native(m);

	for (size_t i = 0; i < m->nregs; i++) {
		int n = (int)strlen(m->regs[i].name);
		if (n > namew)
			namew = n;
	}
	map__line(out, "map %s: protocol %s, trust %s", m->name, map_protocol(m), map_trust(m));
	if (m->description)
		map__line(out, "  %s", m->description);
	if (m->vendor || m->model)
		map__line(out, "  device: %s %s", m->vendor ? m->vendor : "",
			  m->model ? m->model : "");
	if (m->source)
		map__line(out, "  source: %s", m->source);
	map__line(out, "  trust: %s", map__trust_text[m->trust]);

	for (int t = 0; t < MAP_TABLES; t++) {
		if (m->table_start[t] == m->table_start[t + 1])
			continue;
		map__line(out, "%s", "");
		map__line(out, "%s registers", map__tables[t]);
		map__line(out, "%-11s %s%-*s %-24s %5s %-6s %8s %-6s %-20s %s", "address",
			  native ? "native      " : "", namew, "name", "type", "words", "access",
			  "scale", "unit", "range/values", "description");
		for (size_t i = m->table_start[t]; i < m->table_start[t + 1]; i++) {
			const struct map_register *r = &m->regs[i];
			char addr[32], nat[32] = "", type[48], lim[256];
			map__range_text(addr, sizeof addr, r->address, r->count);
			if (native) {
				map__range_text(nat, sizeof nat, r->native, r->count);
				strcat(nat, "            ");
				nat[12] = '\0';
			}
			map__type_text(r, type, sizeof type);
			map__limits(r, lim, sizeof lim);
			map__line(out, "%-11s %s%-*s %-24s %5u %-6s %8.6g %-6s %-20s %s", addr, nat,
				  namew, r->name, type, r->count, map__access_text(r->access),
				  r->scale, r->unit ? r->unit : "", lim,
				  r->description ? r->description : "");
			if (r->no_retry)
				map__line(out,
					  "%12swritten at most once: never retried (retry = false)",
					  "");
			for (size_t j = 0; j < r->nlabels; j++)
				map__line(out, "%12s%" PRId64 " = %s", "", r->labels[j].value,
					  r->labels[j].text);
			for (size_t j = 0; j < r->nbits; j++)
				map__line(out, "%12sbit %" PRId64 " = %s", "", r->bits[j].value,
					  r->bits[j].text);
		}
	}
	if (m->ncmds) {
		map__line(out, "%s", "");
		map__line(out, "commands (written together with FC16)");
		for (size_t i = 0; i < m->ncmds; i++) {
			const struct map_command *c = &m->cmds[i];
			char addr[32];
			map__range_text(addr, sizeof addr, c->address, c->count);
			map__line(out, "%-11s %-*s %s%s%s", addr, namew, c->name, c->template,
				  c->ack ? "" : "  (no acknowledgement)",
				  c->no_retry ? "  (sent at most once)" : "");
		}
	}
}

static void map__print_markdown(const struct map *m, FILE *out)
{
	int native = map__any_native(m), keyed = (m->proto->flags & PROTOCOL_KEYED) != 0;
	static const char *const table_title[] = {
	    "Holding registers (FC03 read; FC06/FC16 write where access has w)",
	    "Input registers (FC04, read-only)",
	};
	static const char *const dnames[] = {"poll", "max_age", "timeout", "min_interval",
					     "retries"};
	const int64_t dvals[] = {m->defaults.poll, m->defaults.max_age, m->defaults.timeout,
				 m->defaults.min_interval, m->defaults.retries};
	int any_labels = 0, have_defaults = 0, any_once = 0;

	fprintf(out, "# Register map: %s\n\n", m->name);
	if (m->description) {
		map__md(out, m->description);
		fputs("\n\n", out);
	}
	fputs("| | |\n|---|---|\n", out);
	fprintf(out, "| Protocol | `%s`: %s |\n", map_protocol(m), m->proto->text);
	fprintf(out, "| Trust | **%s**: %s |\n", map_trust(m), map__trust_text[m->trust]);
	if (m->source) {
		fputs("| Source | ", out);
		map__md(out, m->source);
		fputs(" |\n", out);
	}
	if (m->vendor || m->model) {
		fputs("| Device | ", out);
		map__md(out, m->vendor);
		fputs(m->vendor && m->model ? " " : "", out);
		map__md(out, m->model);
		fputs(" |\n", out);
	}
	for (size_t i = 0; i < MAP__N(dnames); i++)
		have_defaults |= dvals[i] >= 0;
	if (have_defaults) {
		int first = 1;
		fputs("| Timing defaults | ", out);
		for (size_t i = 0; i < MAP__N(dnames); i++) {
			if (dvals[i] < 0)
				continue;
			/* retries is a count, the others are times */
			fprintf(out, "%s%s %" PRId64 "%s", first ? "" : ", ", dnames[i], dvals[i],
				i + 1 < MAP__N(dnames) ? " ms" : "");
			first = 0;
		}
		fputs(" (a device's own keys override these) |\n", out);
	}
	if (m->max_read)
		fprintf(out, "| Registers per native read | at most %d |\n", m->max_read);
	fputs("\nValues on the wire are raw integers: multiply by *Scale* to get the value in "
	      "*Unit*. 32-bit values take two registers; the type says which word comes first. "
	      "Strings hold two characters per register, the first in the high byte. Writes "
	      "outside *Range / values* are refused with exception 03.\n",
	      out);
	for (size_t i = 0; i < m->nregs; i++)
		any_once |= m->regs[i].no_retry;
	for (size_t i = 0; i < m->ncmds; i++)
		any_once |= m->cmds[i].no_retry;
	if (any_once)
		fputs("\nA write is retried within the client's timeout when an attempt gets no "
		      "answer, except where the access says *at most once* (`retry = false`: a "
		      "trigger, a counter, a reset): such a write is sent to the device once.\n",
		      out);

	for (int t = 0; t < MAP_TABLES; t++) {
		if (m->table_start[t] == m->table_start[t + 1])
			continue;
		fprintf(out, "\n## %s\n\n", table_title[t]);
		fputs("| Address |", out);
		if (native)
			fputs(" Native |", out);
		fputs(" Name | Type | Words | Access | Scale | Unit | Range / values |", out);
		if (keyed)
			fputs(" Key |", out);
		fputs(" Description |\n|---:|", out);
		if (native)
			fputs("---:|", out);
		fputs("---|---|---:|---|---:|---|---|", out);
		if (keyed)
			fputs("---|", out);
		fputs("---|\n", out);
		for (size_t i = m->table_start[t]; i < m->table_start[t + 1]; i++) {
			const struct map_register *r = &m->regs[i];
			char addr[32], type[48], lim[256];
			map__range_text(addr, sizeof addr, r->address, r->count);
			map__type_text(r, type, sizeof type);
			map__limits(r, lim, sizeof lim);
			any_labels |= r->nlabels || r->nbits;
			fprintf(out, "| %s |", addr);
			if (native) {
				map__range_text(addr, sizeof addr, r->native, r->count);
				fprintf(out, " %s |", addr);
			}
			fprintf(out, " `%s` | %s | %u | %s%s | %.6g | ", r->name, type, r->count,
				map__access_text(r->access), r->no_retry ? ", at most once" : "",
				r->scale);
			map__md(out, r->unit);
			fputs(" | ", out);
			map__md(out, lim);
			if (r->has_default) {
				fputs(lim[0] ? "; default " : "default ", out);
				if (r->type == MAP_STRING) {
					fputc('"', out);
					map__md(out, r->def_string);
					fputc('"', out);
				} else {
					fprintf(out, "%" PRId64, r->def);
				}
			}
			fputs(" |", out);
			if (keyed) {
				fputc(' ', out);
				if (r->key) {
					fputc('`', out);
					map__md(out, r->key);
					fputc('`', out);
					if (r->field >= 0)
						fprintf(out, " field %d", r->field);
				}
				if (r->write) {
					fputs(r->key ? "; write `" : "write `", out);
					map__md(out, r->write);
					fputc('`', out);
				}
				fputs(" |", out);
			}
			fputc(' ', out);
			map__md(out, r->description);
			fputs(" |\n", out);
		}
	}

	if (any_labels) {
		fputs("\n## Values and bits\n", out);
		for (size_t i = 0; i < m->nregs; i++) {
			const struct map_register *r = &m->regs[i];
			if (r->nlabels) {
				fprintf(out,
					"\n### `%s` (%s %u): values\n\n| Value | Meaning "
					"|\n|---:|---|\n",
					r->name, map__tables[r->table], r->address);
				for (size_t j = 0; j < r->nlabels; j++) {
					fprintf(out, "| %" PRId64 " | ", r->labels[j].value);
					map__md(out, r->labels[j].text);
					fputs(" |\n", out);
				}
			}
			if (r->nbits) {
				fprintf(out,
					"\n### `%s` (%s %u): bits\n\n| Bit | Meaning when set "
					"|\n|---:|---|\n",
					r->name, map__tables[r->table], r->address);
				for (size_t j = 0; j < r->nbits; j++) {
					fprintf(out, "| %" PRId64 " | ", r->bits[j].value);
					map__md(out, r->bits[j].text);
					fputs(" |\n", out);
				}
			}
		}
	}

	if (m->ncmds) {
		fputs("\n## Write commands\n\nThese registers are written together, with one FC16 "
		      "that covers exactly the command's range; a write of part of it is refused "
		      "with exception 02. In the template, `{0}` stands for the first register "
		      "written, `{1}` for the second, and so on (a 32-bit register is one "
		      "placeholder). A command is retried within the client's "
		      "timeout when an attempt gets no answer, unless *Retried* says no "
		      "(`retry = false`): then it is sent once.\n\n| Addresses | Name | Words | "
		      "Template | Acknowledged | Retried |\n"
		      "|---:|---|---:|---|---|---|\n",
		      out);
		for (size_t i = 0; i < m->ncmds; i++) {
			const struct map_command *c = &m->cmds[i];
			char addr[32];
			map__range_text(addr, sizeof addr, c->address, c->count);
			fprintf(out, "| %s | `%s` | %u | `", addr, c->name, c->count);
			map__md(out, c->template);
			fprintf(out, "` | %s | %s |\n", c->ack ? "yes" : "no",
				c->no_retry ? "no" : "yes");
		}
	}
}

void map_print(const struct map *m, FILE *out, enum map_format fmt)
{
	switch (fmt) {
	case MAP_FMT_JSON:
		map__print_json(m, out);
		break;
	case MAP_FMT_MARKDOWN:
		map__print_markdown(m, out);
		break;
	case MAP_FMT_TEXT:
	default:
		map__print_text(m, out);
		break;
	}
}

/* Map files (docs/design.md, "Map files"): loading and checking. A map is
 * read with libconfig and checked key by key with the same table-driven
 * routine as the config file (keys_parse); what a table cannot say (a
 * string needs a length, an input register cannot be written, registers of a
 * keyed protocol need a key) is checked right after, in
 * map__register_done(), with the rules of the map's protocol (protocol.h: its
 * flags and hooks). Problems that do not stop the map from loading but make
 * it wrong (overlaps, split 32-bit values, defaults outside their limits)
 * are the linter's: map_lint(), which `--check` runs.
 *
 * After loading, registers are sorted by (table, address), each gets the
 * first word of its slice of a device's cache (`slot`), assigned
 * cumulatively in that order, and map__index() (map.c) builds the look-up
 * index. From then on the map is read-only: what reads it at run time is
 * map.c; the linter is map_lint.c, the register reference map_print.c, and
 * what they share is in map_internal.h. */
#include "map.h"

#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "map_internal.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"

/* The trust ladder, lowest first (docs/design.md, "Trust ladder"; the order
 * and the meanings of the Growatt register document's ladder). */
const char map__trusts[][MAP__TRUST_LEN] = {"generated",	 "structure-verified",
					    "interop-verified",	 "simulator-verified",
					    "hardware-verified", ""};

/* Choices are arrays of char arrays ended by "" (keys.h, CONFIG_CHOICES). */
const char map__types[][8] = {"int16", "uint16", "int32", "uint32", "string", "float32", ""};
static const char map__orders[][7] = {"big", "little", ""};
static const char map__accesses[][3] = {"r", "w", "rw", ""};
const char map_ha_states[][17] = {"measurement", "total", "total_increasing", ""};

/* `device_class`: a Home Assistant class name, lower case letters and '_'
 * (export_ha.c checks nothing else: Home Assistant's list grows). */
static const char *map__check_ha_class(const char *v)
{
	for (const char *c = v; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
			return "must be a Home Assistant device class such as \"power\" or "
			       "\"energy\" (lower case letters and '_')";
	return NULL;
}
const char map__tables[][8] = {"holding", "input", ""};

/* --- small helpers ------------------------------------------------------- */

static int map__is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
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
	free((void *)r->const_string);
	free((void *)r->xlat);
	free((void *)r->query);
	free((void *)r->source);
	free((void *)r->ha_class);
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
		free((void *)m->index.dense[t]);
	for (size_t i = 0; i < m->ncmds; i++) {
		free((void *)m->cmds[i].name);
		free((void *)m->cmds[i].template);
	}
	free(m->cmds);
	free(m->pass);
	free(m->proto_text);
	free(m->path);
	free(m->name);
	free(m->description);
	free(m->source);
	free(m->vendor);
	free(m->model);
	free(m->verified_by);
	for (size_t i = 0; i < m->nagree; i++) {
		free((void *)m->agree[i].name);
		free((void *)m->agree[i].file);
		free((void *)m->agree[i].covers);
	}
	free(m->agree);
	for (size_t i = 0; i < m->nattest; i++) {
		free((void *)m->attest[i].device);
		free((void *)m->attest[i].date);
		free((void *)m->attest[i].readings);
	}
	free(m->attest);
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
	{.name = "type", .kind = CONFIG_K_CHOICE, .off = MAP__REG(type),
	 CONFIG_CHOICES(map__types)},
	{.name = "word_order", .kind = CONFIG_K_CHOICE, .off = MAP__REG(word_little),
	 CONFIG_CHOICES(map__orders)},
	{.name = "length", .kind = CONFIG_K_UINT16, .off = MAP__REG(count), .min = 1,
	 .max = MB_MAX_READ},
	{.name = "access", .kind = CONFIG_K_CHOICE, .off = MAP__REG(access),
	 CONFIG_CHOICES(map__accesses), .choice_base = MAP_R},
	{.name = "min", .kind = CONFIG_K_INT64, .off = MAP__REG(min)},
	{.name = "max", .kind = CONFIG_K_INT64, .off = MAP__REG(max)},
	{.name = "values", .kind = CONFIG_K_LATER},
	{.name = "default", .kind = CONFIG_K_LATER},
	{.name = "scale", .kind = CONFIG_K_FLOAT, .off = MAP__REG(scale)},
	{.name = "unit", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY, .off = MAP__REG(unit)},
	{.name = "description", .kind = CONFIG_K_STRING, .off = MAP__REG(description)},
	{.name = "native", .kind = CONFIG_K_UINT16, .off = MAP__REG(native)},
	{.name = "table", .kind = CONFIG_K_CHOICE, .off = MAP__REG(table),
	 CONFIG_CHOICES(map__tables)},
	{.name = "key", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY, .off = MAP__REG(key)},
	{.name = "field", .kind = CONFIG_K_INT, .off = MAP__REG(field), .min = 0, .max = 255},
	{.name = "write", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = MAP__REG(write)},
	{.name = "ack", .kind = CONFIG_K_BOOL8, .off = MAP__REG(ack)},
	{.name = "enum", .kind = CONFIG_K_LATER},
	{.name = "bits", .kind = CONFIG_K_LATER},
	{.name = "retry", .kind = CONFIG_K_LATER},
	{.name = "bytes", .kind = CONFIG_K_LATER},
	{.name = "constant", .kind = CONFIG_K_LATER},
	{.name = "factor", .kind = CONFIG_K_INT64, .off = MAP__REG(factor), .min = -1000000,
	 .max = 1000000},
	{.name = "translate", .kind = CONFIG_K_LATER},
	{.name = "string_order", .kind = CONFIG_K_CHOICE, .off = MAP__REG(string_little),
	 CONFIG_CHOICES(map__orders)},
	{.name = "query", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = MAP__REG(query)},
	{.name = "source", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = MAP__REG(source)},
	{.name = "unavailable", .kind = CONFIG_K_INT64, .off = MAP__REG(unavail)},
	/* Home Assistant discovery (export_ha.c) */
	{.name = "device_class", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = MAP__REG(ha_class), .check = map__check_ha_class},
	{.name = "state_class", .kind = CONFIG_K_CHOICE, .off = MAP__REG(ha_state),
	 CONFIG_CHOICES(map_ha_states), .choice_base = MAP_HA_MEASUREMENT},
	{.name = "ha", .kind = CONFIG_K_BOOL8, .off = MAP__REG(ha)},
	{.name = "format", .kind = CONFIG_K_CHOICE, .off = MAP__REG(format),
	 CONFIG_CHOICES(map_formats), .choice_base = MAP_FORMAT_IPV4},
	{.name = "group", .kind = CONFIG_K_CHOICE, .off = MAP__REG(group),
	 CONFIG_CHOICES(map_groups), .choice_base = MAP_GROUP_STATUS},
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
	 .unit = CONFIG_U_MS},
	{.name = "max_age", .kind = CONFIG_K_INT64, .off = MAP__DEF(max_age), .min = 0,
	 .max = INT32_MAX, .unit = CONFIG_U_MS},
	{.name = "timeout", .kind = CONFIG_K_INT64, .off = MAP__DEF(timeout), .min = 1,
	 .max = INT32_MAX, .unit = CONFIG_U_MS},
	{.name = "min_interval", .kind = CONFIG_K_INT64, .off = MAP__DEF(min_interval), .min = 0,
	 .max = INT32_MAX, .unit = CONFIG_U_MS},
	{.name = "retries", .kind = CONFIG_K_INT64, .off = MAP__DEF(retries), .min = 0,
	 .max = CONFIG_RETRIES_MAX},
};
/* clang-format on */

static int map__name_seen(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct map *m = target;
	const char *why;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return keys_error_type(p, s, " must be a string");
	if (config_setting_get_string(s)[0] == '\0')
		return keys_error(p, s, "name must not be empty");
	if ((why = map__check_mapname(config_setting_get_string(s))) != NULL)
		return keys_error(p, s, "name %s, not \"%s\"", why, config_setting_get_string(s));
	free(m->name);
	if (!(m->name = strdup(config_setting_get_string(s))))
		return MB_ENOMEM;
	m->name_line = config_setting_source_line(s);
	return 0;
}

/* The word that names every protocol carrying Modbus RTU (PROTOCOL_RTU):
 * a map written for the device behind the protocol rather than for the
 * protocol (the `raw` map), which a new RTU-carrying protocol runs without
 * an edit. */
#define MAP__RTU_FAMILY "rtu"

/* `protocol`: one of the registry's (protocol.h); or, for a map of Modbus
 * registers that any RTU-carrying protocol can reach, a list of such
 * protocols or the family word "rtu" (docs/design.md, "Pass-through"). */
static int map__protocol_seen(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct map *m = target;
	char list[256], rtu[128];
	int t = config_setting_type(s);

	protocol_names(0, ", ", ", ", list, sizeof list);
	protocol_names(PROTOCOL_RTU, ", ", " and ", rtu, sizeof rtu);
	m->protos = 0;
	free(m->proto_text);
	m->proto_text = NULL;
	if (t == CONFIG_TYPE_STRING && strcmp(config_setting_get_string(s), MAP__RTU_FAMILY) == 0) {
		for (size_t i = 0; i < protocol_count(); i++)
			if (protocol_at(i)->flags & PROTOCOL_RTU) {
				m->protos |= 1u << i;
				if (!m->proto)
					m->proto = protocol_at(i);
			}
		if (!m->proto)
			return keys_error(p, s, "protocol \"%s\": no protocol carries Modbus RTU",
					  MAP__RTU_FAMILY);
		return (m->proto_text = strdup(MAP__RTU_FAMILY)) ? 0 : MB_ENOMEM;
	}
	if (t == CONFIG_TYPE_STRING) {
		if (!(m->proto = protocol_find(config_setting_get_string(s))) &&
		    protocol_refuse_left_out(p, s, config_setting_get_string(s),
					     "this map cannot run here") != 0)
			return MB_EPARSE;
		if (!m->proto)
			return keys_error(
			    p, s,
			    "protocol must be one of %s, not \"%s\" (or \"%s\": every "
			    "protocol that carries Modbus RTU)",
			    list, config_setting_get_string(s), MAP__RTU_FAMILY);
		m->protos = map__proto_bit(m->proto);
		return 0;
	}
	if ((t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) || config_setting_length(s) == 0)
		return keys_error(p, s,
				  "protocol must be one of %s or \"%s\" (a string), or a list of "
				  "them [ \"solarman\", \"powergo\" ], not %s",
				  list, MAP__RTU_FAMILY, keys_type_name(s));
	size_t used = 0, cap = 0;
	int n = config_setting_length(s);
	for (int i = 0; i < n; i++)
		cap += strlen(config_setting_get_string_elem(s, i)
				  ? config_setting_get_string_elem(s, i)
				  : "") +
		       2;
	if (!(m->proto_text = calloc(1, cap + 1)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const struct protocol *pr;
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return keys_error_type(p, e, " must be a protocol name (a string)");
		if (!(pr = protocol_find(config_setting_get_string(e))) &&
		    protocol_refuse_left_out(p, e, config_setting_get_string(e),
					     "this map cannot run here") != 0)
			return MB_EPARSE;
		if (!pr)
			return keys_error_at(p, e, e, " must be one of %s, not \"%s\"", list,
					     config_setting_get_string(e));
		/* Several protocols share one map only where they carry the
		 * same thing, Modbus registers; their maps follow one set of
		 * rules then. */
		if (n > 1 && !(pr->flags & PROTOCOL_RTU))
			return keys_error_at(p, e, e,
					     ": a map may name several protocols only where each "
					     "carries Modbus RTU (%s), not %s",
					     rtu, pr->name);
		if (m->protos & map__proto_bit(pr))
			return keys_error_at(p, e, e, ": protocol %s is named twice", pr->name);
		m->protos |= map__proto_bit(pr);
		used += (size_t)snprintf(m->proto_text + used, cap + 1 - used, "%s%s",
					 i ? ", " : "", pr->name);
	}
	/* The rules of the first in registry order (all are RTU alike). */
	for (size_t i = 0; i < protocol_count() && !m->proto; i++)
		if (m->protos & (1u << i))
			m->proto = protocol_at(i);
	return 0;
}

/* clang-format off */
static const struct config_key map__top_keys[] = {
	{.name = "name", .kind = CONFIG_K_CUSTOM, .flags = CONFIG_F_REQUIRED, .fn = map__name_seen},
	{.name = "protocol", .kind = CONFIG_K_CUSTOM, .flags = CONFIG_F_REQUIRED,
	 .fn = map__protocol_seen},
	{.name = "trust", .kind = CONFIG_K_CHOICE, .flags = CONFIG_F_REQUIRED,
	 .off = offsetof(struct map, trust), CONFIG_CHOICES(map__trusts)},
	{.name = "description", .kind = CONFIG_K_STRING, .off = offsetof(struct map, description)},
	{.name = "source", .kind = CONFIG_K_STRING, .off = offsetof(struct map, source)},
	{.name = "verified_by", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map, verified_by)},
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
	{.name = "passthrough", .kind = CONFIG_K_LATER},
	{.name = "agrees_with", .kind = CONFIG_K_LATER},
	{.name = "attested", .kind = CONFIG_K_LATER},
	{.name = "roles", .kind = CONFIG_K_LATER},
	{.name = "summary", .kind = CONFIG_K_LATER},
};
/* clang-format on */

const char map_formats[][10] = {"ipv4", "hex", "version", "duration", "timestamp", ""};
const char map_groups[][15] = {"status", "energy", "settings", "network", "identification", ""};

/* `summary = ["soc", "power"]`: the registers a person reads first, each a
 * readable register of the map, named once, at most MAP_SUMMARY_MAX. Runs
 * after the registers are loaded (map_find_name). */
static int map__summary(struct config_parser *p, const config_setting_t *s, struct map *m)
{
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return keys_error_type(p, s, " must be an array of register names [\"soc\", ...]");
	if (config_setting_length(s) > MAP_SUMMARY_MAX)
		return keys_error(p, s, "summary names %d registers; at most %d",
				  config_setting_length(s), MAP_SUMMARY_MAX);
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		const struct map_register *r;
		if (!v)
			return keys_error(p, e, "summary[%d] must be a register name, not %s", i,
					  keys_type_name(e));
		if (!(r = map_find_name(m, v)))
			return keys_error(p, e, "summary[%d]: the map has no register \"%s\"", i,
					  v);
		if (!(r->access & MAP_R))
			return keys_error(p, e, "summary[%d]: register \"%s\" is not readable", i,
					  v);
		for (size_t k = 0; k < m->nsummary; k++)
			if (m->summary[k] == r)
				return keys_error(
				    p, e, "summary[%d]: register \"%s\" is named twice", i, v);
		m->summary[m->nsummary++] = r;
	}
	return 0;
}

/* --- roles: what a device of the map gives the site ---------------------- */

const char map_role_kinds[][9] = {"grid", "load", "pv", "battery", "inverter", ""};
const char map_role_names[][17] = {"power", "energy_delivered", "energy_taken",
				   "soc",   "capacity",		""};

/* The units each quantity may be given in, and their factor to W, Wh or %. */
struct map__role_unit {
	char unit[4]; /* "" ends a list */
	double factor;
};
static const struct map__role_unit map__role_units[MAP_ROLE_NQ][4] = {
    [MAP_ROLE_POWER] = {{"W", 1}, {"kW", 1000}, {"", 0}},
    [MAP_ROLE_ENERGY_DELIVERED] = {{"Wh", 1}, {"kWh", 1000}, {"MWh", 1e6}, {"", 0}},
    [MAP_ROLE_ENERGY_TAKEN] = {{"Wh", 1}, {"kWh", 1000}, {"MWh", 1e6}, {"", 0}},
    [MAP_ROLE_SOC] = {{"%", 1}, {"", 0}},
    [MAP_ROLE_CAPACITY] = {{"Wh", 1}, {"kWh", 1000}, {"MWh", 1e6}, {"", 0}},
};

/* One quantity of a role group: a readable numeric register of the map
 * whose unit the quantity converts from. */
static int map__role_quantity(struct config_parser *p, const config_setting_t *e, struct map *m,
			      int kind, int q)
{
	const char *key = map_role_names[q], *v = config_setting_get_string(e);
	if (!v)
		return keys_error_type(p, e, " must be a register name");
	const struct map_register *r = map_find_name(m, v);
	if (!r)
		return keys_error_at(p, e, e, ": the map has no register \"%s\"", v);
	if (r->type == MAP_STRING || !(r->access & MAP_R))
		return keys_error_at(p, e, e, ": register \"%s\" must be readable and numeric", v);
	const struct map__role_unit *u = map__role_units[q];
	while (u->unit[0] && !(r->unit && strcmp(u->unit, r->unit) == 0))
		u++;
	if (!u->unit[0]) {
		char units[64] = "";
		for (const struct map__role_unit *w = map__role_units[q]; w->unit[0]; w++)
			snprintf(units + strlen(units), sizeof units - strlen(units), "%s\"%s\"",
				 w == map__role_units[q] ? "" : " or ", w->unit);
		return keys_error_at(p, e, e, ": register \"%s\" has unit \"%s\"; %s takes %s", v,
				     r->unit ? r->unit : "", key, units);
	}
	m->role_reg[kind][q] = r;
	m->role_factor[kind][q] = u->factor;
	return 0;
}

/* `roles = { battery = { power = "ac_power"; power_sign = "delivered";
 * energy_delivered = "..."; energy_taken = "..."; soc = "soc"; capacity =
 * "..."; }; grid = { ... }; }`: a group per role the device can play, each
 * quantity naming a register; power_sign says which way the power register
 * counts ("delivered": positive while the device delivers power to the
 * site, the default; "taken": positive while it takes power). Runs after
 * the registers are loaded (map_find_name). */
static int map__roles(struct config_parser *p, const config_setting_t *g, struct map *m)
{
	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return keys_error_type(p, g, " must be a group { battery = { ... }; ... }");
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *rg = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(rg);
		int kind = -1, rc;

		for (int k = 0; map_role_kinds[k][0]; k++)
			if (strcmp(name, map_role_kinds[k]) == 0)
				kind = k;
		if (kind < 0)
			return keys_error_at(p, rg, rg,
					     ": unknown role; roles are grid, load, pv, battery "
					     "and inverter");
		if (config_setting_type(rg) != CONFIG_TYPE_GROUP)
			return keys_error_type(p, rg, " must be a group { power = \"...\"; ... }");
		for (int j = 0; j < config_setting_length(rg); j++) {
			const config_setting_t *e = config_setting_get_elem(rg, (unsigned)j);
			const char *key = config_setting_name(e), *v;
			int q = -1;

			for (int k = 0; map_role_names[k][0]; k++)
				if (strcmp(key, map_role_names[k]) == 0)
					q = k;
			if (q >= 0) {
				if ((rc = map__role_quantity(p, e, m, kind, q)) != 0)
					return rc;
				continue;
			}
			if (strcmp(key, "power_sign") != 0)
				return keys_error_at(
				    p, e, e,
				    ": unknown key; a role names power, "
				    "power_sign, energy_delivered, energy_taken, soc "
				    "and capacity");
			v = config_setting_get_string(e);
			if (!v || (strcmp(v, "delivered") != 0 && strcmp(v, "taken") != 0))
				return keys_error_at(
				    p, e, e,
				    ": must be \"delivered\" (positive while the "
				    "device delivers power to the site) or \"taken\"");
			m->power_taken[kind] = strcmp(v, "taken") == 0;
		}
		if (!map_has_role(m, kind))
			return keys_error_at(p, rg, rg, ": name at least one quantity");
		if (m->power_taken[kind])
			m->role_factor[kind][MAP_ROLE_POWER] =
			    -m->role_factor[kind][MAP_ROLE_POWER];
	}
	return 0;
}

/* --- registers: what the table cannot say -------------------------------- */

static int map__int_list(struct config_parser *p, const config_setting_t *s, int64_t **out,
			 size_t *nout)
{
	int n, t = config_setting_type(s);
	int64_t *v;

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		return keys_error_type(p, s, " must be a list of integers [ 0, 1, ... ]");
	if ((n = config_setting_length(s)) == 0)
		return keys_error_at(p, s, s, " must not be empty");
	if (!(v = calloc((size_t)n, sizeof *v)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (!map__is_int(e)) {
			free(v);
			return keys_error_type(p, e, " must be an integer");
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
	int n;
	struct map_label *v;

	if (config_setting_type(s) != CONFIG_TYPE_LIST || (n = config_setting_length(s)) == 0)
		return keys_error_at(p, s, s,
				     " must be a list of (%s, \"text\") pairs, e.g. "
				     "( (0, \"Off\"), (1, \"On\") )",
				     what);
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
			return keys_error_at(p, e, e, " must be a pair (%s, \"text\")", what);
		v[i].value = config_setting_get_int64(a);
		if (v[i].value < lo || v[i].value > hi)
			return keys_error_at(p, e, e,
					     ": %s %" PRId64 " must be %" PRId64 "..%" PRId64, what,
					     v[i].value, lo, hi);
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

	if (!x)
		return 0;
	if (config_setting_type(x) != CONFIG_TYPE_BOOL)
		return keys_error_type(p, x, " must be true or false");
	*no_retry = !config_setting_get_bool(x);
	if (*no_retry && !writable)
		return keys_error_at(p, x, x,
				     " = false is only for writable registers (access \"w\" or "
				     "\"rw\"): reads are always retried");
	return 0;
}

/* `bytes = ( { min = 0; max = 23; }, { min = 0; max = 59; } );`: the ranges
 * of the high and the low byte of a 16-bit register that packs two values
 * (docs/user-guide.md, "Register keys"). A plain min/max cannot say that a
 * minute byte of 60 is wrong while 0x173B is right. */
static int map__bytes(struct config_parser *p, const config_setting_t *x, struct map_register *r)
{
	if (r->type != MAP_UINT16 && r->type != MAP_INT16)
		return keys_error_at(p, x, x, " is only for 16-bit registers (two bytes)");
	if (config_setting_type(x) != CONFIG_TYPE_LIST || config_setting_length(x) != 2)
		return keys_error_at(p, x, x,
				     " must be a list of two groups, high byte first: "
				     "( { min = 0; max = 23; }, { min = 0; max = 59; } )");
	for (int i = 0; i < 2; i++) {
		const config_setting_t *g = config_setting_get_elem(x, (unsigned)i);
		int lim[2] = {0, 255};
		static const char names[][4] = {"min", "max"};
		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return keys_error_at(p, g, g, " must be a group { min = ...; max = ...; }");
		for (int k = 0; k < config_setting_length(g); k++) {
			const config_setting_t *e = config_setting_get_elem(g, (unsigned)k);
			const char *n = config_setting_name(e);
			if (strcmp(n, "min") != 0 && strcmp(n, "max") != 0)
				return keys_error_at(p, e, e, ": unknown key (valid: min, max)");
		}
		for (int k = 0; k < 2; k++) {
			const config_setting_t *e = config_setting_get_member(g, names[k]);
			if (!e)
				continue;
			if (!map__is_int(e) || config_setting_get_int64(e) < 0 ||
			    config_setting_get_int64(e) > 255)
				return keys_error_at(p, e, e, " must be a byte, 0..255");
			lim[k] = (int)config_setting_get_int64(e);
		}
		if (lim[0] > lim[1])
			return keys_error_at(p, g, g, ": min %d is above max %d", lim[0], lim[1]);
		r->byte_min[i] = (uint8_t)lim[0];
		r->byte_max[i] = (uint8_t)lim[1];
	}
	r->has_bytes = 1;
	return 0;
}

/* `translate = ( (front, native), ... );`: each native value once, the
 * front values within the register's type. A front value may stand for
 * several native values on a read-only register (several device states
 * that a standard counts as one, e.g. SunSpec's CONNECTED for a Venus
 * charging, discharging or in backup); on a writable one each front value
 * is there once, so that a write has one native value. */
static int map__translate(struct config_parser *p, const config_setting_t *x,
			  struct map_register *r)
{
	int n;
	int64_t(*v)[2];

	if (config_setting_type(x) != CONFIG_TYPE_LIST || (n = config_setting_length(x)) == 0)
		return keys_error_at(p, x, x,
				     " must be a list of (front, native) pairs, e.g. "
				     "( (0, 1), (1, 0) )");
	if (!(v = calloc((size_t)n, sizeof *v)))
		return MB_ENOMEM;
	r->xlat = (const int64_t(*)[2])v;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(x, (unsigned)i), *a, *b;
		int t = config_setting_type(e);
		if ((t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY) ||
		    config_setting_length(e) != 2 ||
		    !map__is_int(a = config_setting_get_elem(e, 0)) ||
		    !map__is_int(b = config_setting_get_elem(e, 1)))
			return keys_error_at(p, e, e,
					     " must be a pair of integers (front, native)");
		v[i][0] = config_setting_get_int64(a);
		v[i][1] = config_setting_get_int64(b);
		if (!map__fits(r->type, v[i][0]))
			return keys_error_at(p, e, e, ": front value %" PRId64 " does not fit %s",
					     v[i][0], map__types[r->type]);
		for (int k = 0; k < i; k++)
			if (v[k][1] == v[i][1] || (v[k][0] == v[i][0] && (r->access & MAP_W)))
				return keys_error_at(p, e, e, " repeats the %s value %" PRId64 "%s",
						     v[k][1] == v[i][1] ? "native" : "front",
						     v[k][1] == v[i][1] ? v[i][1] : v[i][0],
						     v[k][1] == v[i][1]
							 ? ": each device value translates once"
							 : " on a writable register: a write must "
							   "have one device value");
		r->nxlat = (size_t)i + 1;
	}
	return 0;
}

/* `string_order` and `query`: what the key table cannot say. A string order
 * describes a device's native words, so it is only for strings of protocols
 * that carry words (a keyed protocol's strings are text); `query` names the
 * command whose reply holds a keyed register's key. */
static int map__register_order_query(struct config_parser *p, const config_setting_t *s,
				     struct map *m, struct map_register *r)
{
	const config_setting_t *x;
	int keyed = (m->proto->flags & PROTOCOL_KEYED) != 0;

	if ((x = config_setting_get_member(s, "string_order"))) {
		if (r->type != MAP_STRING)
			return keys_error_at(p, x, s, ".string_order is only for string registers");
		if (keyed)
			return keys_error_at(p, x, s,
					     ".string_order is only for protocols that carry "
					     "registers (a %s string is text)",
					     m->proto->name);
		if (r->string_little)
			m->little_strings = 1;
	}
	if ((x = config_setting_get_member(s, "query"))) {
		if (!keyed || !r->key)
			return keys_error_at(p, x, s,
					     ".query is only for registers with a key (the "
					     "command whose reply holds the key)");
		if (r->access & MAP_W)
			return keys_error_at(p, x, s,
					     ".query: a register read by its own query is "
					     "read-only (a write is confirmed by the cd=1 dump)");
	}
	return 0;
}

/* `constant`, `factor` and `translate` (docs/user-guide.md, "Constant and
 * derived registers"). A constant is the map's own value: nothing is read
 * or written for it, so every key about the device's value is refused next
 * to it. A derived register's writes are turned back into native values
 * only by keyed transports (tr_venus renders them into its templates); the
 * others send the client's words as they are, so they take derived
 * registers read-only. */
static int map__derived_keys(struct config_parser *p, const config_setting_t *s, struct map *m,
			     struct map_register *r)
{
	static const char not_with_const[][12] = {
	    "access", "native",	 "key",	  "field",  "write",	 "ack",	  "min",   "max",
	    "values", "default", "retry", "factor", "translate", "bytes", "table", "unavailable"};
	const config_setting_t *x, *f = config_setting_get_member(s, "factor"),
				   *t = config_setting_get_member(s, "translate");
	char names[128];
	int rc;

	if ((x = config_setting_get_member(s, "constant"))) {
		for (size_t i = 0; i < MAP__N(not_with_const); i++) {
			const config_setting_t *y = config_setting_get_member(s, not_with_const[i]);
			/* access = "r" and table = "holding" say what a constant is */
			if (y && strcmp(not_with_const[i], "access") == 0 && r->access == MAP_R)
				continue;
			if (y && strcmp(not_with_const[i], "table") == 0 && r->table == MAP_HOLDING)
				continue;
			if (y)
				return keys_error_at(
				    p, y, s,
				    ".%s does not go with constant: a constant is "
				    "served from the map, read-only, in the holding "
				    "table",
				    not_with_const[i]);
		}
		if (r->type == MAP_STRING) {
			if (config_setting_type(x) != CONFIG_TYPE_STRING)
				return keys_error_type(p, x,
						       " must be a string for a string register");
			const char *v = config_setting_get_string(x);
			if (strlen(v) > 2u * r->count)
				return keys_error_at(
				    p, x, s,
				    ".constant \"%s\" is longer than %u characters "
				    "(length %u registers)",
				    v, 2u * r->count, r->count);
			if (!(r->const_string = strdup(v)))
				return MB_ENOMEM;
		} else {
			if (!map__is_int(x))
				return keys_error_type(p, x, " must be an integer (the raw value)");
			r->const_value = config_setting_get_int64(x);
			if (!map__fits(r->type, r->const_value))
				return keys_error_at(p, x, s,
						     ".constant %" PRId64 " does not fit %s",
						     r->const_value, map__types[r->type]);
		}
		r->is_const = 1;
		return 0;
	}
	if (f && t)
		return keys_error_at(p, t, s, ": factor and translate do not go together");
	if ((f || t) && r->type == MAP_STRING)
		return keys_error_at(p, f ? f : t, s, ".%s is only for numeric registers",
				     f ? "factor" : "translate");
	if (f && r->factor == 0)
		return keys_error_at(p, f, s, ".factor must not be 0");
	if ((f || t) && (r->access & MAP_W) && !(m->proto->flags & PROTOCOL_KEYED))
		return keys_error_at(
		    p, f ? f : t, s,
		    ".%s on a writable register is only for %s maps (their templates "
		    "write the native value); make it access = \"r\"",
		    f ? "factor" : "translate",
		    protocol_names(PROTOCOL_KEYED, ", ", " and ", names, sizeof names));
	if (t && (rc = map__translate(p, t, r)) != 0)
		return rc;
	return 0;
}

static int map__register_done(struct config_parser *p, const config_setting_t *s, struct map *m,
			      struct map_register *r)
{
	const config_setting_t *x;
	char names[128];
	int keyed = (m->proto->flags & PROTOCOL_KEYED) != 0;
	int rc;

	r->line = config_setting_source_line(s);

	/* Width: `length` words where given (strings must say), else the type's. */
	if (!config_setting_get_member(s, "length")) {
		if (r->type == MAP_STRING)
			return keys_error_at(p, s, s,
					     ".length is missing: a string register needs its "
					     "length in registers");
		r->count = (uint16_t)map__natural_count(r->type);
	}
	if ((x = config_setting_get_member(s, "word_order")) && r->type != MAP_INT32 &&
	    r->type != MAP_UINT32 && r->type != MAP_FLOAT32)
		return keys_error_at(p, x, s,
				     ".word_order is only for int32, uint32 and float32 registers");
	/* A float32 is read: written values would need limits in floating
	 * point, which the map format does not have. */
	if (r->type == MAP_FLOAT32 && (r->access & MAP_W))
		return keys_error_at(p, config_setting_get_member(s, "access"), s,
				     ".access: float32 registers are read-only");
	if ((uint32_t)r->address + r->count > 65536)
		return keys_error_at(p, s, s, " runs past address 65535");

	if ((x = config_setting_get_member(s, "native"))) {
		if (!(m->proto->flags & PROTOCOL_NATIVE))
			return keys_error_at(
			    p, x, s, ".native is only for %s maps",
			    protocol_names(PROTOCOL_NATIVE, ", ", " and ", names, sizeof names));
		if ((uint32_t)r->native + r->count > 65536)
			return keys_error_at(p, x, s, ".native runs past address 65535");
	} else {
		r->native = r->address;
	}

	if (r->table == MAP_INPUT && (r->access & MAP_W))
		return keys_error_at(p, config_setting_get_member(s, "access"), s,
				     ".access: input registers are read-only");

	if (!(isfinite(r->scale) && r->scale > 0))
		return keys_error_at(p, config_setting_get_member(s, "scale"), s,
				     ".scale must be a number > 0, not %g", r->scale);

	/* Keyed protocols: values come from keys of the device's answer;
	 * writes from templates. */
	static const char keyed_only[][6] = {"key", "field", "write", "ack"};
	for (size_t i = 0; !keyed && i < MAP__N(keyed_only); i++)
		if ((x = config_setting_get_member(s, keyed_only[i])))
			return keys_error_at(
			    p, x, s, ".%s is only for %s maps", keyed_only[i],
			    protocol_names(PROTOCOL_KEYED, ", ", " and ", names, sizeof names));
	if ((rc = map__derived_keys(p, s, m, r)) != 0)
		return rc;
	if (keyed && (r->access & MAP_R) && !r->key && !r->is_const)
		return keys_error_at(p, s, s,
				     ".key is missing: a readable %s register names the key "
				     "of the device's answer it comes from",
				     m->proto->name);
	if ((x = config_setting_get_member(s, "field")) && !r->key)
		return keys_error_at(p, x, s, ".field needs a key");
	if ((x = config_setting_get_member(s, "write"))) {
		if (!(r->access & MAP_W))
			return keys_error_at(p, x, s, ".write needs access \"w\" or \"rw\"");
		if (!strstr(r->write, "{value}"))
			return keys_error_at(p, x, s, ".write must contain {value}, not \"%s\"",
					     r->write);
	}
	if ((rc = map__register_order_query(p, s, m, r)) != 0)
		return rc;
	/* Each protocol the map runs on has its say (a list or "rtu"). */
	for (size_t i = 0; i < protocol_count(); i++) {
		const struct protocol *pr = protocol_at(i);
		if ((m->protos & (1u << i)) && pr->map_register &&
		    (rc = pr->map_register(p, s, r)) != 0)
			return rc;
	}
	if ((x = config_setting_get_member(s, "ack")) && !r->write)
		return keys_error_at(p, x, s, ".ack is only for registers with a write template");
	if (keyed && r->write && r->ack < 0)
		r->ack = 1;
	if ((rc = map__retry(p, s, (r->access & MAP_W) != 0, &r->no_retry)) != 0)
		return rc;

	/* Limits and defaults: raw integers for numbers, text for strings. */
	r->has_min = config_setting_get_member(s, "min") != NULL;
	r->has_max = config_setting_get_member(s, "max") != NULL;
	if (r->type == MAP_STRING || r->type == MAP_FLOAT32) {
		static const char numeric_only[][7] = {"min", "max", "values", "enum", "bits"};
		for (size_t i = 0; i < MAP__N(numeric_only); i++)
			if ((x = config_setting_get_member(s, numeric_only[i])))
				return keys_error_at(p, x, s, ".%s is only for %s registers",
						     numeric_only[i],
						     r->type == MAP_STRING ? "numeric" : "integer");
	}
	if ((x = config_setting_get_member(s, "default"))) {
		if (r->type == MAP_STRING) {
			if (config_setting_type(x) != CONFIG_TYPE_STRING)
				return keys_error_type(p, x,
						       " must be a string for a string register");
			if (!(r->def_string = strdup(config_setting_get_string(x))))
				return MB_ENOMEM;
		} else if (r->type == MAP_FLOAT32) {
			/* A number, stored as its float32 bits (the raw value). */
			if (!map__is_int(x) && config_setting_type(x) != CONFIG_TYPE_FLOAT)
				return keys_error_type(p, x, " must be a number");
			float f = (float)config_setting_get_float(x);
			if (map__is_int(x))
				f = (float)config_setting_get_int64(x);
			uint32_t bits;
			memcpy(&bits, &f, sizeof bits);
			r->def = bits;
		} else {
			if (!map__is_int(x))
				return keys_error_type(p, x, " must be an integer (the raw value)");
			r->def = config_setting_get_int64(x);
		}
		r->has_default = 1;
	}
	/* `unavailable`: a raw value of the register's own type (the linter
	 * checks that it fits), for the numbers a device sends. */
	if ((x = config_setting_get_member(s, "unavailable"))) {
		if (r->type == MAP_STRING || r->type == MAP_FLOAT32)
			return keys_error_at(p, x, s, ".unavailable is only for integer registers");
		r->has_unavail = 1;
	}
	if ((x = config_setting_get_member(s, "bytes")) && (rc = map__bytes(p, x, r)) != 0)
		return rc;
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
		return keys_error_type(p, list, " must be a list ( { ... }, ... )");
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
		r->ha = 1;
		r->factor = 1;
		r->line = config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return keys_error_type(p, e, " must be a group { address = ...; ... }");
		rc = keys_parse(p, e, map__register_keys, MAP__N(map__register_keys), r);
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
			return keys_error_at(p, config_setting_get_member(e, "name"), e,
					     ".name \"%s\" is used by the register on line %d too",
					     m->by_name[i]->name, m->by_name[i - 1]->line);
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
		if (*end != '}' && *end != ':') /* {1:02}: padded (the protocol checks it) */
			continue;
		if (errno || i >= c->count)
			return keys_error_at(
			    p, s, s,
			    " uses {%ld} but the command covers at most %u registers "
			    "({0}..{%u}, one per register)",
			    i, c->count, c->count - 1u);
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
	return keys_error_at(p, config_setting_get_member(e, "name"), e,
			     ".name \"%s\" is used by the command on line %d too", dup->name,
			     first->line);
}

static int map__commands(struct config_parser *p, const config_setting_t *list, struct map *m)
{
	int n;

	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return keys_error_type(p, list, " must be a list ( { ... }, ... )");
	if ((n = config_setting_length(list)) == 0)
		return 0;
	if (!(m->cmds = calloc((size_t)n, sizeof *m->cmds)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct map_command *c = &m->cmds[i];
		int rc;

		m->ncmds = (size_t)i + 1;
		c->ack = 1;
		c->line = config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return keys_error_type(p, e, " must be a group { name = ...; ... }");
		rc = keys_parse(p, e, map__command_keys, MAP__N(map__command_keys), c);
		if (rc == 0)
			rc =
			    map__template(p, config_setting_get_member(e, "template"), c, m->proto);
		if (rc == 0)
			rc = map__retry(p, e, 1, &c->no_retry);
		if (rc != 0)
			return rc;
		if ((uint32_t)c->address + c->count > 65536)
			return keys_error_at(p, e, e, " runs past address 65535");
	}
	return map__commands_unique(p, list, m);
}

/* --- pass-through ranges ------------------------------------------------- */

/* A range's `access`: read-only unless a site says writes pass too. */
static const char map__pass_accesses[][3] = {"r", "rw", ""};

struct map__pass_keys_target {
	uint8_t table, access;
	uint16_t first, last;
};

#define MAP__PASS(field) offsetof(struct map__pass_keys_target, field)

/* clang-format off */
static const struct config_key map__pass_keys[] = {
	{.name = "table", .kind = CONFIG_K_CHOICE, .off = MAP__PASS(table),
	 CONFIG_CHOICES(map__tables)},
	{.name = "first", .kind = CONFIG_K_UINT16, .flags = CONFIG_F_REQUIRED, .off = MAP__PASS(first)},
	{.name = "last", .kind = CONFIG_K_UINT16, .flags = CONFIG_F_REQUIRED, .off = MAP__PASS(last)},
	{.name = "access", .kind = CONFIG_K_CHOICE, .off = MAP__PASS(access),
	 CONFIG_CHOICES(map__pass_accesses)},
};
/* clang-format on */

static int map__cmp_pass(const void *a, const void *b)
{
	const struct map_passthrough *x = a, *y = b;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

/* `passthrough = ( { table = "input"; first = 0; last = 65535; }, ... );`
 * (docs/user-guide.md, "Pass-through"). Only for protocols that carry Modbus
 * RTU; ranges of one table must not overlap (which access would apply?). */
static int map__passthrough(struct config_parser *p, const config_setting_t *list, struct map *m)
{
	char rtu[128];
	int n;

	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return keys_error_type(p, list,
				       " must be a list ( { table = \"holding\"; first = 0; "
				       "last = 99; }, ... )");
	for (size_t i = 0; i < protocol_count(); i++)
		if ((m->protos & (1u << i)) && !(protocol_at(i)->flags & PROTOCOL_RTU))
			return keys_error(
			    p, list,
			    "passthrough is only for maps of protocols that carry Modbus RTU "
			    "(%s), not %s",
			    protocol_names(PROTOCOL_RTU, ", ", " and ", rtu, sizeof rtu),
			    protocol_at(i)->name);
	if ((n = config_setting_length(list)) == 0)
		return 0;
	if (!(m->pass = calloc((size_t)n, sizeof *m->pass)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		struct map__pass_keys_target k = {.table = MAP_HOLDING, .access = 0};
		struct map_passthrough *r = &m->pass[i];
		int rc;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return keys_error_type(
			    p, e,
			    " must be a group { table = ...; first = ...; last = "
			    "...; }");
		if ((rc = keys_parse(p, e, map__pass_keys, MAP__N(map__pass_keys), &k)) != 0)
			return rc;
		if (k.first > k.last)
			return keys_error_at(p, e, e, ": first %u is above last %u", k.first,
					     k.last);
		if (k.access && k.table == MAP_INPUT)
			return keys_error_at(p, config_setting_get_member(e, "access"), e,
					     ".access: input registers are read-only");
		r->table = k.table;
		r->access = k.access ? MAP_RW : MAP_R;
		r->first = k.first;
		r->last = k.last;
		r->line = config_setting_source_line(e);
		m->npass = (size_t)i + 1;
	}
	qsort(m->pass, m->npass, sizeof *m->pass, map__cmp_pass);
	for (size_t i = 1; i < m->npass; i++) {
		const struct map_passthrough *a = &m->pass[i - 1], *b = &m->pass[i];
		if (a->table == b->table && b->first <= a->last) {
			const struct map_passthrough *later = a->line > b->line ? a : b;
			const struct map_passthrough *earlier = later == a ? b : a;
			const config_setting_t *at = list;
			for (int k = 0; k < n; k++) {
				const config_setting_t *e =
				    config_setting_get_elem(list, (unsigned)k);
				if (config_setting_source_line(e) == (unsigned)later->line)
					at = e;
			}
			return keys_error(p, at,
					  "passthrough range %s %u..%u overlaps the range %u..%u "
					  "on line %d",
					  map__tables[later->table], later->first, later->last,
					  earlier->first, earlier->last, earlier->line);
		}
	}
	return 0;
}

/* --- independent implementations that agree ----------------------------- */

/* clang-format off */
static const struct config_key map__agree_keys[] = {
	{.name = "name", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map_agreement, name)},
	{.name = "file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map_agreement, file)},
	{.name = "covers", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map_agreement, covers)},
};
/* clang-format on */

/* `agrees_with = ( { name = "evcc template deye-storage"; file =
 * "evcc-io/evcc templates/definition/meter/deye-storage.yaml"; covers =
 * "..."; }, ... );`: independent implementations that read the registers
 * as the map does. Shown beside the rung, never a rung itself: agreeing
 * with another reading of the same document proves nothing about the
 * device (docs/design.md, "Trust ladder"). */
static int map__agrees_with(struct config_parser *p, const config_setting_t *list, struct map *m)
{
	int n;

	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return keys_error_type(p, list,
				       " must be a list ( { name = \"...\"; file = "
				       "\"owner/repo path\"; }, ... )");
	if ((n = config_setting_length(list)) == 0)
		return 0;
	if (!(m->agree = calloc((size_t)n, sizeof *m->agree)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		int rc;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return keys_error_type(p, e,
					       " must be a group { name = ...; file = ...; }");
		m->nagree = (size_t)i + 1;
		if ((rc = keys_parse(p, e, map__agree_keys, MAP__N(map__agree_keys),
				     &m->agree[i])) != 0)
			return rc;
	}
	return 0;
}

/* --- hardware attestations ----------------------------------------------- */

/* "YYYY-MM-DD" with a month 01..12 and a day 01..31. */
static const char *map__check_date(const char *v)
{
	static const char *const want = "must be a date YYYY-MM-DD";
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? v[i] != '-' : !(v[i] >= '0' && v[i] <= '9'))
			return want;
	if (v[10] != '\0')
		return want;
	int mo = (v[5] - '0') * 10 + (v[6] - '0'), d = (v[8] - '0') * 10 + (v[9] - '0');
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 ? NULL : want;
}

/* clang-format off */
static const struct config_key map__attest_keys[] = {
	{.name = "device", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map_attestation, device)},
	{.name = "date", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map_attestation, date), .check = map__check_date},
	{.name = "readings", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = offsetof(struct map_attestation, readings)},
};
/* clang-format on */

/* `attested = ( { device = "..."; date = "2026-05-01"; readings = "..."; },
 * ... );`: each real device the map was matched against, with the
 * operator-attested readings; hardware-verified needs one at least, a lower
 * rung none (map_lint.c). The list's length is the N the reference shows. */
static int map__attested(struct config_parser *p, const config_setting_t *list, struct map *m)
{
	int n;

	m->attest_line = config_setting_source_line(list);
	if (config_setting_type(list) != CONFIG_TYPE_LIST)
		return keys_error_type(p, list,
				       " must be a list ( { device = \"...\"; date = "
				       "\"YYYY-MM-DD\"; readings = \"...\"; }, ... )");
	if ((n = config_setting_length(list)) == 0)
		return keys_error(p, list,
				  "attested is empty: list the devices, or leave the key out");
	if (!(m->attest = calloc((size_t)n, sizeof *m->attest)))
		return MB_ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		int rc;

		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return keys_error_type(p, e,
					       " must be a group { device = ...; date = ...; "
					       "readings = ...; }");
		m->nattest = (size_t)i + 1;
		m->attest[i].line = config_setting_source_line(e);
		if ((rc = keys_parse(p, e, map__attest_keys, MAP__N(map__attest_keys),
				     &m->attest[i])) != 0)
			return rc;
	}
	return 0;
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
	if (keys_parse_file(&lc, path, err, errlen) != 0)
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

	rc = keys_parse(&p, config_root_setting(&lc), map__top_keys, MAP__N(map__top_keys), m);
	if (rc == 0 && (x = config_lookup(&lc, "registers")))
		rc = map__registers(&p, x, m);
	if (rc == 0 && (x = config_lookup(&lc, "commands")))
		rc = map__commands(&p, x, m);
	if (rc == 0 && (x = config_lookup(&lc, "passthrough")))
		rc = map__passthrough(&p, x, m);
	if (rc == 0 && (x = config_lookup(&lc, "agrees_with")))
		rc = map__agrees_with(&p, x, m);
	if (rc == 0 && (x = config_lookup(&lc, "attested")))
		rc = map__attested(&p, x, m);
	if (rc == 0 && (x = config_lookup(&lc, "roles")))
		rc = map__roles(&p, x, m);
	if (rc == 0 && (x = config_lookup(&lc, "summary")))
		rc = map__summary(&p, x, m);
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

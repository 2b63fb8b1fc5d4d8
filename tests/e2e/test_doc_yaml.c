/* The docs' YAML, checked against the maps (docs/evcc.md, docs/home-assistant.md):
 * every ```yaml block of every markdown file in docs/ is parsed with libyaml, and
 * every Modbus register it names is looked up in the map of the device it
 * addresses, loaded with the daemon's own map loader from maps/.
 *
 * Which map: each guide has a table of unit IDs and maps (`| 3 | ... |
 * `growatt` |`); a block may name another with a comment `# modbridge map:
 * NAME` (a device configured with another map under the same unit).
 *
 * evcc (docs/evcc.md):
 *   - `source: modbus` entries: `uri` is the guide's 192.168.1.1:502; `id`
 *     names a configured unit; `register` has `encoding` (never the
 *     deprecated `decode`); a register of the map starts at `address` in the
 *     table `type` reads (holding/input), as wide as the encoding, with the
 *     same word order (`...s`: low word first) and signedness; `scale` is the
 *     map's, or its negative (a sign turned round); a write (`writesingle`,
 *     `writemultiple`) goes to a writable holding register, and a `const`
 *     value it writes is one the map allows. Every `timeout` on the guide's
 *     uri, in every block of every guide, templates included, is the same:
 *     evcc shares one connection per uri, and the timeout set last is the
 *     connection's (util/modbus/modbus.go, Settings.Connection), so a
 *     snippet with another one changes the others' too.
 *   - `type: template` entries: the template is one the guide's table pairs
 *     with the unit's map, reached with `modbus: tcpip`, the guide's host and
 *     port 502.
 * Home Assistant (docs/home-assistant.md), each `modbus:` hub: `type: tcp`,
 * host, port 502 and a `timeout` (seconds) above the modbridge timeout of
 * every device it reads and below every entity's `scan_interval` (Home
 * Assistant lowers it otherwise; default 15 s). Home Assistant's rules
 * (homeassistant/components/modbus/validators.py, entity.py): a second hub
 * on the same host and port is dropped ("is duplicate, not loaded!"), so
 * every hub on one host:port, in every block, is the same hub shown in
 * parts (same name, same timeout), and no block has two; an entity without
 * `slave` / `device_address` reads unit 1, so every entity names its unit;
 * a second entity of the same name in a platform is dropped. Each sensor
 * and switch has `slave` (a configured
 * unit), its register in the table of `input_type` (holding by default),
 * `data_type` as wide and as signed as the map's type, `swap: word` exactly
 * where the map has the low word first, `scale` the map's (or its
 * negative); a switch writes a writable holding register with values the map
 * allows.
 *
 * A map a snippet names that is not in maps/ fails. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "harness.h"
#include "map.h"

#define HOST "192.168.1.1"
#define URI HOST ":502"
#define MAX_UNITS 248

/* Which evcc template reads which map (the guide's table, as facts from the
 * templates; tests/e2e/test_evcc_templates.c replays the Solarman ones). */
static const struct {
	const char *template, *map, *map2;
} templates[] = {
    {"growatt-min-tlxe", "growatt", NULL},
    {"growatt-hybrid", "growatt-hybrid", NULL},
    {"growatt-hybrid-tlxh", "growatt-hybrid-tlxh", NULL},
    {"deye-storage", "deye-hybrid", NULL},
    {"deye-hybrid-3p", "deye-hybrid-3p", NULL},
    {"deye-string", "deye-string", NULL},
    {"marstek-venus-e", "venus-native", NULL},
    {"sunspec-battery-control", "powergo-sunspec", "venus-sunspec"},
};

/* One YAML block being checked. */
struct blk {
	const char *file;
	int line0; /* file line of the block's first line, minus 1 */
	char units[MAX_UNITS][48];
	char hint[48]; /* `# modbridge map: NAME` in the block, or "" */
	yaml_document_t *doc;
};

static int checked, failed_maps;

/* evcc: every timeout on URI, in every block of every guide. */
#define MAX_SEEN 256
static struct {
	char value[32], where[96];
} timeouts[MAX_SEEN];
static int ntimeouts;

/* Home Assistant: every hub seen, and every entity name per platform. */
static struct {
	char hostport[96], name[64], where[96];
	double timeout;
	int block; /* which block (a counter over all files) */
} hubs[64];
static int nhubs, block_no;
static struct {
	char name[128], where[96];
} entities[MAX_SEEN];
static int nentities;

static void evcc_timeout(const char *file, int line, const char *t)
{
	if (!t || ntimeouts >= MAX_SEEN)
		return;
	snprintf(timeouts[ntimeouts].value, sizeof timeouts[0].value, "%s", t);
	snprintf(timeouts[ntimeouts].where, sizeof timeouts[0].where, "%s:%d", file, line);
	ntimeouts++;
}

static int line_of(const struct blk *b, const yaml_node_t *n)
{
	return b->line0 + (int)n->start_mark.line + 1;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value node of key in a mapping, or NULL. */
static yaml_node_t *get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = scalar(yaml_document_get_node(d, p->key));
		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *gets(yaml_document_t *d, yaml_node_t *m, const char *key)
{
	return scalar(get(d, m, key));
}

/* A number; 1 when the key is there and numeric. */
static int getnum(yaml_document_t *d, yaml_node_t *m, const char *key, double *v)
{
	const char *s = gets(d, m, key);
	char *end;
	if (!s)
		return 0;
	*v = strtod(s, &end);
	return end != s && *end == '\0';
}

/* The map of a unit (or the block's hint); NULL with a failure. */
static struct map *unit_map(const struct blk *b, int unit, int line)
{
	const char *name = b->hint[0]			   ? b->hint
			   : unit >= 0 && unit < MAX_UNITS ? b->units[unit]
							   : "";
	char err[1024] = "";
	if (!name[0]) {
		h_ok(0, "%s:%d: unit %d is not in the guide's table of units", b->file, line, unit);
		return NULL;
	}
	const char *dirs[] = {h_maps_dir()};
	struct map *m = map_load_named(dirs, 1, name, err, sizeof err);
	if (m)
		return m;
	failed_maps++;
	h_ok(0, "%s:%d: map %s: %s", b->file, line, name, err);
	return NULL;
}

static const char *unit_map_name(const struct blk *b, int unit)
{
	return b->hint[0] ? b->hint : unit >= 0 && unit < MAX_UNITS ? b->units[unit] : "";
}

static int is_signed(const struct map_register *r)
{
	return r->type == MAP_INT16 || r->type == MAP_INT32;
}

static int same_scale(double doc, double map)
{
	return fabs(fabs(doc) - map) <= 1e-9 * map;
}

/* One register as a client names it. what: for messages. */
static void check_reg(const struct blk *b, int line, int unit, int table, long addr, int width,
		      int sgn, int little, int write, const double *scale, const long long *value,
		      const char *what)
{
	struct map *m = unit_map(b, unit, line);
	if (!m)
		return;
	const char *mn = map_name(m);
	const char *tn = table == MAP_INPUT ? "input" : "holding";
	const struct map_register *r =
	    addr >= 0 && addr < 65536 ? map_find(m, table, (uint16_t)addr) : NULL;
	char why[256] = "";
	if (!r || r->address != addr)
		snprintf(why, sizeof why, "no register of map %s starts at %s %ld", mn, tn, addr);
	else if (r->type == MAP_STRING)
		snprintf(why, sizeof why, "%s is a string", r->name);
	else if (r->count != width)
		snprintf(why, sizeof why, "%s is %u words, the %s reads %d", r->name, r->count,
			 what, width);
	else if (width == 2 && r->word_little != little)
		snprintf(why, sizeof why, "%s has the %s word first: %s", r->name,
			 r->word_little ? "low" : "high",
			 r->word_little ? "needs swap: word / ...32s" : "no swap / plain ...32");
	else if (sgn != is_signed(r))
		snprintf(why, sizeof why, "%s is %s", r->name,
			 is_signed(r) ? "signed" : "unsigned");
	else if (write && !(r->access & MAP_W))
		snprintf(why, sizeof why, "%s is not writable", r->name);
	else if (!write && scale && !same_scale(*scale, r->scale))
		snprintf(why, sizeof why, "%s has scale %g, not %g", r->name, r->scale, *scale);
	else if (value && !map_value_ok(r, *value))
		snprintf(why, sizeof why, "%s does not take %lld", r->name, *value);
	h_ok(!why[0], "%s:%d: %s unit %d (%s) %s %ld%s%s", b->file, line, what, unit, mn, tn, addr,
	     why[0] ? ": " : "", why);
	checked++;
	map_free(m);
}

/* evcc: a `source: modbus` mapping; value: a const it writes, or NULL. */
static void check_evcc_modbus(const struct blk *b, yaml_node_t *n, const long long *value)
{
	yaml_document_t *d = b->doc;
	int line = line_of(b, n);
	const char *uri = gets(d, n, "uri");
	double id, scale = 1, addr;
	yaml_node_t *reg = get(d, n, "register");
	const char *type = gets(d, reg, "type");
	const char *enc = gets(d, reg, "encoding");
	const char *t = gets(d, n, "timeout");

	if (!h_ok(uri && strcmp(uri, URI) == 0, "%s:%d: uri is %s", b->file, line, URI))
		return;
	if (!h_ok(getnum(d, n, "id", &id) && reg && getnum(d, reg, "address", &addr) && type,
		  "%s:%d: id, register address and type given", b->file, line))
		return;
	if (!h_ok(!gets(d, reg, "decode") && enc,
		  "%s:%d: register uses encoding (not the deprecated decode)", b->file, line))
		return;
	evcc_timeout(b->file, line, t);
	getnum(d, n, "scale", &scale);
	int write = strcmp(type, "writesingle") == 0 || strcmp(type, "writemultiple") == 0;
	int input = strcmp(type, "input") == 0;
	if (!h_ok(write || input || strcmp(type, "holding") == 0,
		  "%s:%d: register type %s is holding, input, writesingle or writemultiple",
		  b->file, line, type))
		return;
	size_t el = strlen(enc);
	int width = strstr(enc, "32") ? 2 : 1;
	int little = width == 2 && el && enc[el - 1] == 's';
	int sgn = strncmp(enc, "int", 3) == 0;
	if (!h_ok(strstr(enc, "16") || strstr(enc, "32"), "%s:%d: encoding %s is 16 or 32 bits",
		  b->file, line, enc))
		return;
	long long raw = 0;
	if (value)
		raw = llround((double)*value * scale); /* evcc multiplies by scale, then writes */
	check_reg(b, line, (int)id, input ? MAP_INPUT : MAP_HOLDING, (long)addr, width, sgn, little,
		  write, &scale, value ? &raw : NULL, write ? "evcc write" : "evcc read");
}

static void check_evcc_template(const struct blk *b, yaml_node_t *n)
{
	yaml_document_t *d = b->doc;
	int line = line_of(b, n);
	const char *tpl = gets(d, n, "template");
	const char *host = gets(d, n, "host"), *mode = gets(d, n, "modbus");
	double id = -1, port = 0;
	getnum(d, n, "id", &id);
	getnum(d, n, "port", &port);
	evcc_timeout(b->file, line, gets(d, n, "timeout"));
	h_ok(host && strcmp(host, HOST) == 0 && port == 502 && mode && strcmp(mode, "tcpip") == 0,
	     "%s:%d: template %s reaches modbridge (modbus: tcpip, host %s, port 502)", b->file,
	     line, tpl ? tpl : "?", HOST);
	const char *mn = unit_map_name(b, (int)id);
	size_t i = 0;
	while (tpl && i < sizeof templates / sizeof templates[0] &&
	       strcmp(templates[i].template, tpl) != 0)
		i++;
	if (!h_ok(tpl && i < sizeof templates / sizeof templates[0],
		  "%s:%d: template %s is one the guide pairs with a map", b->file, line,
		  tpl ? tpl : "?"))
		return;
	h_ok(strcmp(mn, templates[i].map) == 0 ||
		 (templates[i].map2 && strcmp(mn, templates[i].map2) == 0),
	     "%s:%d: template %s on unit %d, map %s (want %s)", b->file, line, tpl, (int)id,
	     mn[0] ? mn : "none", templates[i].map);
	struct map *m = unit_map(b, (int)id, line);
	if (m) {
		checked++;
		map_free(m);
	}
}

/* Home Assistant: data_type -> width and sign; 0 when unknown. */
static int ha_type(const char *dt, int *width, int *sgn)
{
	static const struct {
		const char *name;
		int width, sgn;
	} t[] = {{"int16", 1, 1}, {"uint16", 1, 0}, {"int32", 2, 1}, {"uint32", 2, 0}};
	for (size_t i = 0; dt && i < sizeof t / sizeof t[0]; i++)
		if (strcmp(dt, t[i].name) == 0) {
			*width = t[i].width;
			*sgn = t[i].sgn;
			return 1;
		}
	return 0;
}

/* The timeout modbridge gives a device of this unit, ms. */
static long device_timeout(const struct blk *b, int unit, int line)
{
	struct map *m = unit_map(b, unit, line);
	long t = 3000; /* the config default (docs/user-guide.md) */
	if (m) {
		const struct map_defaults *df = map_defaults(m);
		if (df && df->timeout > 0)
			t = (long)df->timeout;
		map_free(m);
	}
	return t;
}

static void check_ha_entity(const struct blk *b, yaml_node_t *e, int is_switch, double hub_s)
{
	yaml_document_t *d = b->doc;
	int line = line_of(b, e);
	double slave, addr, scale = 1, scan = 15; /* Home Assistant's DEFAULT_SCAN_INTERVAL */
	const char *name = gets(d, e, "name");
	char key[128];
	snprintf(key, sizeof key, "%s/%s", is_switch ? "switch" : "sensor", name ? name : "");
	for (int i = 0; i < nentities; i++)
		if (strcmp(entities[i].name, key) == 0)
			h_ok(
			    0,
			    "%s:%d: %s: a second entity of that name (first at %s): Home Assistant "
			    "drops it",
			    b->file, line, key, entities[i].where);
	if (nentities < MAX_SEEN) {
		snprintf(entities[nentities].name, sizeof entities[0].name, "%s", key);
		snprintf(entities[nentities].where, sizeof entities[0].where, "%s:%d", b->file,
			 line);
		nentities++;
	}
	getnum(d, e, "scan_interval", &scan);
	h_ok(hub_s < scan,
	     "%s:%d: the hub's timeout %g s is below the scan_interval %g s (else Home Assistant "
	     "lowers it)",
	     b->file, line, hub_s, scan);
	if (!h_ok(getnum(d, e, "slave", &slave) || getnum(d, e, "device_address", &slave),
		  "%s:%d: %s sets slave or device_address (else Home Assistant reads unit 1)",
		  b->file, line, name ? name : "entity"))
		return;
	if (!h_ok(getnum(d, e, "address", &addr), "%s:%d: address given", b->file, line))
		return;
	long tmo = device_timeout(b, (int)slave, line);
	h_ok(hub_s * 1000 > (double)tmo,
	     "%s:%d: the hub's timeout %g s is above modbridge's %ld ms for unit %d", b->file, line,
	     hub_s, tmo, (int)slave);
	if (is_switch) {
		const char *wt = gets(d, e, "write_type");
		double on, off;
		if (!h_ok(wt && strcmp(wt, "holding") == 0 && getnum(d, e, "command_on", &on) &&
			      getnum(d, e, "command_off", &off),
			  "%s:%d: switch writes a holding register (write_type, command_on/off)",
			  b->file, line))
			return;
		long long v_on = llround(on), v_off = llround(off);
		check_reg(b, line, (int)slave, MAP_HOLDING, (long)addr, 1, 0, 0, 1, NULL, &v_on,
			  "HA switch on");
		check_reg(b, line, (int)slave, MAP_HOLDING, (long)addr, 1, 0, 0, 1, NULL, &v_off,
			  "HA switch off");
		yaml_node_t *v = get(d, e, "verify");
		double va;
		const char *vt = gets(d, v, "input_type");
		if (v)
			h_ok(getnum(d, v, "address", &va) && va == addr && vt &&
				 strcmp(vt, "holding") == 0,
			     "%s:%d: verify reads back the same holding register", b->file, line);
		return;
	}
	const char *it = gets(d, e, "input_type");
	const char *dt = gets(d, e, "data_type");
	const char *swap = gets(d, e, "swap");
	int width = 0, sgn = 0;
	if (!h_ok(ha_type(dt, &width, &sgn),
		  "%s:%d: data_type %s is int16, uint16, int32 or uint32", b->file, line,
		  dt ? dt : "(default int16: set it)"))
		return;
	int input = it && strcmp(it, "input") == 0;
	if (!h_ok(!it || input || strcmp(it, "holding") == 0, "%s:%d: input_type holding or input",
		  b->file, line))
		return;
	int little = swap && strcmp(swap, "word") == 0;
	if (!h_ok(!swap || little || strcmp(swap, "none") == 0,
		  "%s:%d: swap is word or none (byte order is always big-endian)", b->file, line))
		return;
	getnum(d, e, "scale", &scale);
	if (width == 1 && little) {
		h_ok(0, "%s:%d: swap: word on a 16-bit register", b->file, line);
		return;
	}
	check_reg(b, line, (int)slave, input ? MAP_INPUT : MAP_HOLDING, (long)addr, width, sgn,
		  little, 0, &scale, NULL, "HA sensor");
}

static void check_ha_hub(const struct blk *b, yaml_node_t *hub)
{
	yaml_document_t *d = b->doc;
	int line = line_of(b, hub);
	const char *type = gets(d, hub, "type"), *host = gets(d, hub, "host");
	const char *name = gets(d, hub, "name");
	double port = 0, timeout = 3; /* Home Assistant's default timeout (s) */
	char hp[96];
	getnum(d, hub, "port", &port);
	h_ok(type && strcmp(type, "tcp") == 0 && host && strcmp(host, HOST) == 0 && port == 502,
	     "%s:%d: hub is type tcp, host %s, port 502", b->file, line, HOST);
	h_ok(getnum(d, hub, "timeout", &timeout), "%s:%d: hub sets its timeout", b->file, line);
	h_ok(name != NULL, "%s:%d: hub has a name", b->file, line);
	/* Home Assistant's key of a hub: host_port (validators.py). */
	snprintf(hp, sizeof hp, "%s_%g", host ? host : "", port);
	for (int i = 0; i < nhubs; i++) {
		int same_hp = strcmp(hubs[i].hostport, hp) == 0;
		int same_name = name && strcmp(hubs[i].name, name) == 0;
		if (same_hp && hubs[i].block == block_no)
			h_ok(0,
			     "%s:%d: a second hub on %s in one block (first at %s): Home Assistant "
			     "drops it (\"is duplicate, not loaded!\")",
			     b->file, line, hp, hubs[i].where);
		else if (same_hp && (!same_name || hubs[i].timeout != timeout))
			h_ok(0,
			     "%s:%d: hub %s on %s differs from hub %s at %s (name, timeout): two "
			     "hubs on one host and port, and Home Assistant drops the second",
			     b->file, line, name ? name : "?", hp, hubs[i].name, hubs[i].where);
		else if (!same_hp && same_name)
			h_ok(0, "%s:%d: hub name %s is also the hub on %s at %s", b->file, line,
			     name, hubs[i].hostport, hubs[i].where);
	}
	if (nhubs < (int)(sizeof hubs / sizeof hubs[0])) {
		snprintf(hubs[nhubs].hostport, sizeof hubs[0].hostport, "%s", hp);
		snprintf(hubs[nhubs].name, sizeof hubs[0].name, "%s", name ? name : "");
		snprintf(hubs[nhubs].where, sizeof hubs[0].where, "%s:%d", b->file, line);
		hubs[nhubs].timeout = timeout;
		hubs[nhubs].block = block_no;
		nhubs++;
	}
	static const char *const lists[] = {"sensors", "switches"};
	for (int k = 0; k < 2; k++) {
		yaml_node_t *l = get(d, hub, lists[k]);
		if (!l || l->type != YAML_SEQUENCE_NODE)
			continue;
		for (yaml_node_item_t *i = l->data.sequence.items.start;
		     i < l->data.sequence.items.top; i++)
			check_ha_entity(b, yaml_document_get_node(d, *i), k == 1, timeout);
	}
}

static void walk(const struct blk *b, yaml_node_t *n, const long long *value)
{
	yaml_document_t *d = b->doc;
	if (!n)
		return;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = n->data.sequence.items.start;
		     i < n->data.sequence.items.top; i++)
			walk(b, yaml_document_get_node(d, *i), value);
		return;
	}
	if (n->type != YAML_MAPPING_NODE)
		return;
	const char *src = gets(d, n, "source"), *type = gets(d, n, "type");
	yaml_node_t *mb = get(d, n, "modbus");
	if (src && strcmp(src, "modbus") == 0) {
		check_evcc_modbus(b, n, value);
		return;
	}
	if (type && strcmp(type, "template") == 0) {
		check_evcc_template(b, n);
		return;
	}
	if (mb && mb->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = mb->data.sequence.items.start;
		     i < mb->data.sequence.items.top; i++)
			check_ha_hub(b, yaml_document_get_node(d, *i));
		return;
	}
	if (src && strcmp(src, "const") == 0) {
		double v;
		long long iv = 0;
		int has = getnum(d, n, "value", &v);
		if (has)
			iv = llround(v);
		walk(b, get(d, n, "set"), has ? &iv : value);
		return;
	}
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
		walk(b, yaml_document_get_node(d, p->value), value);
}

static void check_block(struct blk *b, const char *text, int line0)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	const char *h = strstr(text, "# modbridge map: ");
	b->line0 = line0;
	b->hint[0] = '\0';
	if (h)
		sscanf(h + strlen("# modbridge map: "), "%47[a-z0-9_-]", b->hint);
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	int ok = yaml_parser_load(&parser, &doc);
	if (!h_ok(ok, "%s:%d: the YAML block parses (%s)", b->file,
		  line0 + 1 + (int)parser.problem_mark.line,
		  parser.problem ? parser.problem : "ok")) {
		yaml_parser_delete(&parser);
		return;
	}
	b->doc = &doc;
	block_no++;
	walk(b, yaml_document_get_root_node(&doc), NULL);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}

/* The guide's table of units: rows `| N | ... | `map` |`. */
static void read_units(struct blk *b, FILE *f)
{
	char line[1024];
	memset(b->units, 0, sizeof b->units);
	while (fgets(line, sizeof line, f)) {
		int unit;
		char name[48];
		const char *last = strrchr(line, '`');
		if (sscanf(line, "| %d |", &unit) != 1 || unit < 0 || unit >= MAX_UNITS || !last)
			continue;
		const char *open = last - 1;
		while (open > line && *open != '`')
			open--;
		if (*open != '`' || sscanf(open + 1, "%47[a-z0-9_-]`", name) != 1)
			continue;
		snprintf(b->units[unit], sizeof b->units[unit], "%s", name);
	}
	rewind(f);
}

static int check_file(const char *rel)
{
	static struct blk b;
	FILE *f = fopen(h_repo_file(rel), "r");
	char line[1024], *text = NULL;
	size_t len = 0;
	int n = 0, in = 0, start = 0, blocks = 0;
	if (!h_ok(f != NULL, "read %s", rel))
		return 0;
	b.file = rel;
	read_units(&b, f);
	while (fgets(line, sizeof line, f)) {
		n++;
		if (!in) {
			if (strncmp(line, "```yaml", 7) == 0) {
				in = 1;
				start = n;
				len = 0;
			}
			continue;
		}
		if (strncmp(line, "```", 3) == 0) {
			in = 0;
			blocks++;
			check_block(&b, text ? text : "", start);
			continue;
		}
		size_t l = strlen(line);
		char *t = realloc(text, len + l + 1);
		if (!t)
			break;
		text = t;
		memcpy(text + len, line, l + 1);
		len += l;
	}
	free(text);
	fclose(f);
	return blocks;
}

int main(void)
{
	h_init("doc_yaml");
	DIR *dir = opendir(h_repo_file("docs"));
	int blocks = 0, evcc = 0, ha = 0;
	if (!h_ok(dir != NULL, "open docs/"))
		return h_done();
	for (struct dirent *e; (e = readdir(dir));) {
		size_t l = strlen(e->d_name);
		char rel[300];
		if (l < 4 || strcmp(e->d_name + l - 3, ".md") != 0)
			continue;
		snprintf(rel, sizeof rel, "docs/%s", e->d_name);
		int k = check_file(rel);
		blocks += k;
		evcc += strcmp(e->d_name, "evcc.md") == 0 ? k : 0;
		ha += strcmp(e->d_name, "home-assistant.md") == 0 ? k : 0;
	}
	closedir(dir);
	/* evcc: one timeout on the uri, across every snippet. */
	int differ = 0;
	for (int i = 1; i < ntimeouts; i++)
		if (strcmp(timeouts[i].value, timeouts[0].value) != 0) {
			differ++;
			h_note("%s: timeout %s, but %s: %s", timeouts[i].where, timeouts[i].value,
			       timeouts[0].where, timeouts[0].value);
		}
	h_ok(ntimeouts > 10 && differ == 0,
	     "one evcc timeout on %s across every snippet of the guides: %d timeouts, %d differ",
	     URI, ntimeouts, differ);
	h_ok(nhubs >= 2, "Home Assistant hubs checked across the blocks: %d", nhubs);
	h_ok(evcc >= 10 && ha >= 2 && checked >= 40,
	     "the guides' YAML was checked: %d blocks (evcc %d, Home Assistant %d), %d registers "
	     "and templates",
	     blocks, evcc, ha, checked);
	return h_done();
}

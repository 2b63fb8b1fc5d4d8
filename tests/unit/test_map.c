/* Unit tests of the map loader (bridge/map_load.c), linter and run-time
 * look-ups and codec (bridge/map.c): the shipped maps/scratch.conf and the
 * fixtures in tests/unit/data load and lint clean; every load error names
 * its file:line; every lint problem is found on its line; map_find agrees
 * with a linear scan at every address, map_spans and map_next with
 * map_find; values encode and decode in every type and word order; the
 * reference prints as valid JSON, markdown tables and text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "map.h"
#include "harness.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"

static const char *write_file(const char *name, const char *text)
{
	const char *p = h_write_file(name, text);
	assert_non_null(p);
	return p;
}

static int setup(void **state)
{
	(void)state;
	h_init("map"); /* a temporary folder, removed at exit */
	return 0;
}

static struct map *load_ok(const char *path)
{
	char err[1024] = "";
	struct map *m = map_load(path, err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	return m;
}

static struct map *load_scratch(void)
{
	return load_ok(h_repo_file("maps/scratch.conf"));
}

/* Print into a string (caller frees). */
static char *print_map(const struct map *m, enum map_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	map_print(m, f, fmt);
	fclose(f);
	assert_non_null(buf);
	return buf;
}

/* --- a small JSON validator (RFC 8259 grammar, no semantics) -------------- */

static const char *json_value(const char *p, int depth);

static const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return NULL;
				p += 5;
				continue;
			}
			if (!*p || !strchr("\"\\/bfnrt", *p))
				return NULL;
		}
		p++;
	}
	return *p == '"' ? p + 1 : NULL;
}

static const char *json_number(const char *p)
{
	const char *s = p;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (*p == '.') {
		p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return NULL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return p > s ? p : NULL;
}

static const char *json_value(const char *p, int depth)
{
	if (depth > 32)
		return NULL;
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		int object = *p == '{';
		p = json_ws(p + 1);
		if (*p == close)
			return p + 1;
		for (;;) {
			if (object) {
				if (!(p = json_string(json_ws(p))))
					return NULL;
				p = json_ws(p);
				if (*p++ != ':')
					return NULL;
			}
			if (!(p = json_value(p, depth + 1)))
				return NULL;
			p = json_ws(p);
			if (*p == ',') {
				p++;
				continue;
			}
			return *p == close ? p + 1 : NULL;
		}
	}
	if (*p == '"')
		return json_string(p);
	if (!strncmp(p, "true", 4))
		return p + 4;
	if (!strncmp(p, "false", 5))
		return p + 5;
	if (!strncmp(p, "null", 4))
		return p + 4;
	return json_number(p);
}

static int json_valid(const char *text)
{
	const char *end = json_value(text, 0);
	return end && *json_ws(end) == '\0';
}

static void test_json_validator(void **state)
{
	(void)state;
	/* The validator itself must be able to fail. */
	assert_true(json_valid("{\"a\": [1, -2.5e3, \"x\\\"y\", true, null, {}]}"));
	assert_false(json_valid("{\"a\": [1, 2}"));
	assert_false(json_valid("{\"a\": \"x\ny\"}"));
	assert_false(json_valid("{\"a\": 1,}"));
	assert_false(json_valid("{\"a\": 01}"));
	assert_false(json_valid("{\"a\": \"\\q\"}"));
	assert_false(json_valid("{} {}"));
}

/* --- loading ------------------------------------------------------------- */

static void test_scratch_loads_and_lints_clean(void **state)
{
	char err[4096];
	struct map *m = load_scratch();
	(void)state;
	assert_string_equal(map_name(m), "scratch");
	assert_string_equal(map_protocol(m), "memory");
	assert_string_equal(map_trust(m), "structure-verified");
	int n = map_lint(m, err, sizeof err);
	if (n != 0)
		fail_msg("%d lint problems:\n%s", n, err);
	assert_string_equal(err, "");

	/* The layout the core tests rely on (see the file's comment). */
	for (uint16_t a = 0; a < 10; a++) {
		const struct map_register *r = map_find(m, MAP_HOLDING, a);
		assert_non_null(r);
		assert_int_equal(r->type, MAP_UINT16);
		assert_int_equal(r->access, MAP_RW);
		assert_true(r->has_default);
		assert_int_equal(r->def, 100 + a);
	}
	for (uint16_t a = 1000; a < 1200; a++) {
		const struct map_register *r = map_find(m, MAP_HOLDING, a);
		assert_non_null(r);
		assert_int_equal(r->address, a);
		assert_int_equal(r->access, MAP_RW);
	}
	assert_null(map_find(m, MAP_HOLDING, 1200));
	assert_int_equal(map_find(m, MAP_HOLDING, 36)->access, MAP_W);
	assert_int_equal(map_find(m, MAP_HOLDING, 33)->access, MAP_R);
	assert_int_equal(map_find(m, MAP_HOLDING, 10)->def, -1234);
	assert_string_equal(map_find(m, MAP_HOLDING, 20)->def_string, "modbridge");
	assert_int_equal(map_find(m, MAP_INPUT, 0)->def, 200);
	assert_int_equal(map_find(m, MAP_INPUT, 7)->def, -7);
	assert_int_equal(map_ncommands(m), 1);
	assert_int_equal(map_command(m, 0)->address, 40);
	assert_int_equal(map_command(m, 0)->count, 3);
	assert_int_equal(map_command(m, 0)->ack, 1);
	assert_null(map_command(m, 1));
	assert_int_equal(map_max_read(m), 0);
	assert_int_equal(map_defaults(m)->poll, -1);
	assert_int_equal(map_defaults(m)->timeout, -1);
	map_free(m);
}

static void test_fixtures_load(void **state)
{
	char err[4096];
	struct map *v = load_ok(h_repo_file("tests/unit/data/venus_ok.conf"));
	struct map *p = load_ok(h_repo_file("tests/unit/data/powergo_ok.conf"));
	(void)state;

	assert_int_equal(map_lint(v, err, sizeof err), 0);
	assert_int_equal(map_lint(p, err, sizeof err), 0);

	assert_string_equal(map_protocol(v), "venus");
	assert_string_equal(map_trust(v), "simulator-verified");
	/* The description and the source are read only by the reference. */
	char *text = print_map(v, MAP_FMT_TEXT);
	assert_non_null(
	    strstr(text, "\n  Venus fixture with \"quotes\", a back\\slash and a | pipe\n"));
	assert_non_null(strstr(text, "\n  source: venus-mqtt.md\n"));
	free(text);
	assert_null(map_vendor(v));
	assert_int_equal(map_defaults(v)->poll, 60000);
	assert_int_equal(map_defaults(v)->max_age, 120000);
	assert_int_equal(map_defaults(v)->timeout, -1);
	const struct map_register *r = map_find_name(v, "mode");
	assert_non_null(r);
	assert_string_equal(r->key, "wor_m");
	assert_int_equal(r->field, -1);
	assert_string_equal(r->write, "cd=3,md={value}");
	assert_int_equal(r->ack, 1); /* venus writes are acknowledged by default */
	assert_int_equal(r->nlabels, 3);
	assert_string_equal(r->labels[2].text, "Trading");
	assert_int_equal(map_find_name(v, "max_discharge")->ack, 0);
	assert_int_equal(map_find_name(v, "soc")->ack, -1);
	assert_int_equal(map_find_name(v, "tim0_start_m")->field, 1);
	assert_int_equal(map_find_name(v, "errors")->nbits, 2);
	assert_int_equal(map_find_name(v, "errors")->bits[1].value, 15);
	assert_int_equal(map_find_name(v, "wifi")->count, 8);
	assert_int_equal(map_find_name(v, "soc")->native, 0);
	assert_int_equal(map_command(v, 0)->ack, 1);
	assert_int_equal(map_find_command(v, 4, 1)->address, 3);

	assert_string_equal(map_vendor(p), "PowerGo");
	assert_string_equal(map_model(p), "PG-1");
	assert_int_equal(map_max_read(p), 40);
	assert_int_equal(map_defaults(p)->timeout, 5000);
	assert_int_equal(map_defaults(p)->min_interval, 0);
	assert_int_equal(map_find(p, MAP_HOLDING, 529)->native, 529);
	assert_int_equal(map_find(p, MAP_HOLDING, 101)->native, 5100);
	assert_int_equal(map_find(p, MAP_INPUT, 0)->native, 3000);
	assert_int_equal(map_find(p, MAP_INPUT, 2)->table, MAP_INPUT);
	assert_null(map_find(p, MAP_INPUT, 529));
	assert_true(map_find_name(p, "total_discharge_energy")->scale == 0.1);
	assert_string_equal(map_path(p), h_repo_file("tests/unit/data/powergo_ok.conf"));

	/* Sorted by (table, address), slots cumulative in that order. */
	uint32_t slot = 0;
	for (size_t i = 0; i < map_nregs(p); i++) {
		const struct map_register *x = map_reg(p, i);
		if (i > 0) {
			const struct map_register *w = map_reg(p, i - 1);
			assert_true(w->table < x->table ||
				    (w->table == x->table && w->address < x->address));
		}
		assert_int_equal(x->slot, slot);
		slot += x->count;
	}
	assert_int_equal(map_nslots(p), slot);
	assert_int_equal(map_nslots(p), 1 + 2 + 1 + 2 + 1 + 2);
	assert_null(map_reg(p, map_nregs(p)));
	map_free(v);
	map_free(p);
}

/* Pass-through ranges: sorted, found by address, registers listed as they
 * are; a map of the family "rtu" or of a list runs on each protocol it
 * names and no other. */
static void test_passthrough(void **state)
{
	(void)state;
	const char *path = write_file(
	    "pass.conf", "name = \"pass\"; protocol = [ \"powergo\", \"solarman\" ];\n"
			 "trust = \"generated\";\n"
			 "registers = ( { address = 5; name = \"r\"; native = 9; } );\n"
			 "passthrough = ( { table = \"input\"; first = 10; last = 20; },\n"
			 " { first = 100; last = 199; access = \"rw\"; },\n"
			 " { first = 0; last = 9; } );\n");
	struct map *m = load_ok(path);
	char err[1024];
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	assert_string_equal(map_protocol(m), "powergo, solarman");
	assert_true(map_speaks(m, protocol_find("powergo")));
	assert_true(map_speaks(m, protocol_find("solarman")));
	assert_false(map_speaks(m, protocol_find("venus")));
	assert_false(map_speaks(m, protocol_find("memory")));
	assert_int_equal(map_npassthrough(m), 3);
	/* sorted by (table, first) */
	assert_int_equal(map_passthrough(m, 0)->first, 0);
	assert_int_equal(map_passthrough(m, 1)->first, 100);
	assert_int_equal(map_passthrough(m, 1)->access, MAP_RW);
	assert_int_equal(map_passthrough(m, 2)->table, MAP_INPUT);
	assert_int_equal(map_passthrough(m, 2)->line, 4);
	assert_null(map_passthrough(m, 3));
	assert_ptr_equal(map_find_passthrough(m, MAP_HOLDING, 5), map_passthrough(m, 0));
	assert_ptr_equal(map_find_passthrough(m, MAP_HOLDING, 199), map_passthrough(m, 1));
	assert_null(map_find_passthrough(m, MAP_HOLDING, 200));
	assert_null(map_find_passthrough(m, MAP_INPUT, 9));
	assert_non_null(map_find_passthrough(m, MAP_INPUT, 20));
	assert_null(map_find_passthrough(m, MAP_INPUT, 21));
	map_free(m);

	/* the shipped raw map: no register, both tables whole, read-only, any
	 * protocol that carries Modbus RTU */
	m = load_ok(h_repo_file("maps/raw.conf"));
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	assert_string_equal(map_protocol(m), "rtu");
	assert_int_equal(map_nregs(m), 0);
	for (size_t i = 0; i < protocol_count(); i++)
		assert_int_equal(map_speaks(m, protocol_at(i)),
				 (protocol_at(i)->flags & PROTOCOL_RTU) != 0);
	for (int t = 0; t < MAP_TABLES; t++)
		for (uint32_t a = 0; a < 65536; a += 4095) {
			const struct map_passthrough *p = map_find_passthrough(m, t, (uint16_t)a);
			assert_non_null(p);
			assert_int_equal(p->access, MAP_R);
		}
	map_free(m);

	/* a map without registers or ranges is still empty */
	path = write_file("nopass.conf", "name = \"nopass\"; protocol = \"rtu\";\n"
					 "trust = \"generated\";\npassthrough = ( );\n");
	m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 1);
	assert_non_null(strstr(err, "has no registers"));
	map_free(m);
}

/* Other maps in the tree (written alongside) must load and lint clean too. */
static void test_shipped_maps(void **state)
{
	static const char *const names[] = {
	    "scratch",	    "powergo",	     "venus",		"growatt",
	    "venus-native", "venus-sunspec", "powergo-sunspec", "raw",
	    "sdm630",	    "b2500-sunspec", "jupiter-sunspec"};
	const char *dirs[] = {h_repo_file("maps")};
	char err[8192];
	(void)state;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "maps/%s.conf", names[i]);
		if (access(h_repo_file(rel), R_OK) != 0) {
			print_message("# %s not written yet, skipped\n", rel);
			continue;
		}
		struct map *m = map_load_named(dirs, 1, names[i], err, sizeof err);
		if (!m)
			fail_msg("%s", err);
		int n = map_lint(m, err, sizeof err);
		if (n)
			fail_msg("%s: %d lint problems:\n%s", names[i], n, err);
		map_free(m);
	}
}

/* `group`: every name of the list is taken and kept; a register without
 * one has none; and every register of every shipped map names its group
 * (the page folds by them: a register left out would sit under "other"). */
static void test_groups(void **state)
{
	const char *path = write_file(
	    "groups.conf", "name = \"g\"; protocol = \"memory\"; trust = \"generated\";\n"
			   "registers = (\n"
			   "  { address = 0; name = \"a\"; group = \"status\"; },\n"
			   "  { address = 1; name = \"b\"; group = \"energy\"; },\n"
			   "  { address = 2; name = \"c\"; group = \"settings\"; },\n"
			   "  { address = 3; name = \"d\"; group = \"network\"; },\n"
			   "  { address = 4; name = \"e\"; group = \"identification\"; },\n"
			   "  { address = 5; name = \"f\"; }\n"
			   ");\n");
	struct map *m = load_ok(path);
	static const char *const want[] = {"a", "b", "c", "d", "e"};
	static const int groups[] = {MAP_GROUP_STATUS, MAP_GROUP_ENERGY, MAP_GROUP_SETTINGS,
				     MAP_GROUP_NETWORK, MAP_GROUP_IDENTIFICATION};
	(void)state;
	for (size_t i = 0; i < 5; i++) {
		const struct map_register *r = map_find_name(m, want[i]);
		assert_non_null(r);
		assert_int_equal(r->group, groups[i]);
		assert_string_equal(map_groups[r->group - 1],
				    r->group == MAP_GROUP_STATUS     ? "status"
				    : r->group == MAP_GROUP_ENERGY   ? "energy"
				    : r->group == MAP_GROUP_SETTINGS ? "settings"
				    : r->group == MAP_GROUP_NETWORK  ? "network"
								     : "identification");
	}
	assert_int_equal(map_find_name(m, "f")->group, MAP_GROUP_NONE);
	map_free(m);

	DIR *d = opendir(h_repo_file("maps"));
	const char *dirs[] = {h_repo_file("maps")};
	struct dirent *e;
	char err[1024];
	int nmaps = 0, nregs = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		char name[64];
		if (n <= 5 || strcmp(e->d_name + n - 5, ".conf") != 0 || n - 5 >= sizeof name)
			continue;
		snprintf(name, sizeof name, "%.*s", (int)(n - 5), e->d_name);
		if (!(m = map_load_named(dirs, 1, name, err, sizeof err)))
			fail_msg("%s", err);
		nmaps++;
		for (size_t i = 0; i < map_nregs(m); i++, nregs++)
			if (!map_reg(m, i)->group)
				fail_msg("maps/%s.conf:%d: register %s has no group", name,
					 map_reg(m, i)->line, map_reg(m, i)->name);
		map_free(m);
	}
	closedir(d);
	assert_true(nmaps >= 19 && nregs > 900);
}

static void test_load_named(void **state)
{
	char err[1024], sub[128];
	const char *maps = h_repo_file("maps");
	(void)state;

	snprintf(sub, sizeof sub, "%s/first", h_dir());
	assert_int_equal(mkdir(sub, 0700), 0);
	write_file("first/scratch.conf",
		   "name = \"scratch\"; protocol = \"memory\"; trust = \"generated\";\n"
		   "registers = ( { address = 7; name = \"only\"; } );\n");

	/* Not in the first directory: found in the second. */
	const char *dirs1[] = {h_dir(), maps};
	struct map *m = map_load_named(dirs1, 2, "scratch", err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	assert_true(map_nregs(m) > 100);
	map_free(m);

	/* The first match wins. */
	const char *dirs2[] = {sub, maps};
	m = map_load_named(dirs2, 2, "scratch", err, sizeof err);
	assert_non_null(m);
	assert_int_equal(map_nregs(m), 1);
	map_free(m);

	/* Not found anywhere: the message lists where it looked. */
	assert_null(map_load_named(dirs2, 2, "nosuchmap", err, sizeof err));
	char want[512];
	snprintf(want, sizeof want, "map nosuchmap not found in %s, %s", sub, maps);
	assert_string_equal(err, want);

	/* A name that is a path is refused. */
	assert_null(map_load_named(dirs2, 2, "../scratch", err, sizeof err));
	assert_non_null(strstr(err, "must not be empty or hold a '/'"));

	/* The file's name must match the map's. */
	write_file("first/other.conf", "# comment\nname = \"different\";\n"
				       "protocol = \"memory\"; trust = \"generated\";\n");
	assert_null(map_load_named(dirs2, 2, "other", err, sizeof err));
	snprintf(want, sizeof want, "%s/other.conf:2: name \"different\" must be \"other\"", sub);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("got \"%s\"", err);

	/* A broken map in the first directory is an error, not skipped. */
	write_file("first/broken.conf", "name = \"broken\";\nprotocol = ;\n");
	assert_null(map_load_named(dirs2, 2, "broken", err, sizeof err));
	snprintf(want, sizeof want, "%s/broken.conf:2: syntax error", sub);
	assert_string_equal(err, want);
}

static void test_missing_file(void **state)
{
	char err[512], path[128];
	(void)state;
	snprintf(path, sizeof path, "%s/none.conf", h_dir());
	assert_null(map_load(path, err, sizeof err));
	assert_non_null(strstr(err, "none.conf: cannot open: "));
}

/* --- load errors --------------------------------------------------------- */

struct err_case {
	const char *name;
	const char *text;
	int line;
	const char *phrase;
};

#define HDR(proto) "name = \"t\"; protocol = \"" proto "\"; trust = \"generated\";\n"
#define MEM HDR("memory")
#define VENUS HDR("venus")
#define SOL HDR("solarman")

/* clang-format off */
static const struct err_case err_cases[] = {
	{"unknown_top", MEM "colour = \"red\";\n", 2, "unknown key colour (the top level takes name, "},
	{"unknown_register", MEM "registers = (\n { address = 1; name = \"a\";\n adress = 2; } );\n",
	 4, "unknown key registers.[0].adress (registers.[0] takes address, name, type"},
	{"unknown_command",
	 MEM "registers = ( { address = 1; name = \"a\"; access = \"rw\"; } );\n"
	     "commands = ( { name = \"c\"; address = 1; count = 1; template = \"x\";\n"
	     " acknowledge = true; } );\n",
	 4, "unknown key commands.[0].acknowledge"},
	{"unknown_defaults", MEM "defaults = {\n pol = 1; };\n", 3, "unknown key defaults.pol"},
	{"missing_name", "protocol = \"memory\"; trust = \"generated\";\n", 0, "name is missing"},
	{"missing_protocol", "name = \"t\"; trust = \"generated\";\n", 0, "protocol is missing"},
	{"missing_trust", "name = \"t\"; protocol = \"memory\";\n", 0, "trust is missing"},
	/* summary (docs/user-guide.md, "Summary and formats"): the element at fault */
	{"summary_no_register", MEM "registers = ( { address = 0; name = \"p\"; } );\n"
	 "summary = [ \"p\",\n \"q\" ];\n", 4, "summary[1]: the map has no register \"q\""},
	{"summary_twice", MEM "registers = ( { address = 0; name = \"p\"; } );\n"
	 "summary = [ \"p\", \"p\" ];\n", 3, "summary[1]: register \"p\" is named twice"},
	{"summary_not_list", MEM "registers = ( { address = 0; name = \"p\"; } );\n"
	 "summary = \"p\";\n", 3, "summary must be an array of register names"},
	{"summary_too_many", MEM "registers = ( { address = 0; name = \"p\"; } );\n"
	 "summary = [ \"p\", \"p\", \"p\", \"p\", \"p\", \"p\", \"p\", \"p\", \"p\" ];\n", 3,
	 "summary names 9 registers; at most 8"},
	{"summary_not_readable", MEM "registers = ( { address = 0; name = \"p\"; access = \"w\"; } );\n"
	 "summary = [ \"p\" ];\n", 3, "summary[0]: register \"p\" is not readable"},
	{"format_unknown", MEM "registers = ( { address = 0; name = \"p\";\n format = \"ip\"; } );\n", 3,
	 "registers.[0].format must be one of"},
	/* group (docs/user-guide.md, "Groups"): the fixed list, named in the message */
	{"group_unknown", MEM "registers = ( { address = 0; name = \"p\";\n group = \"power\"; } );\n", 3,
	 "registers.[0].group must be one of status, energy, settings, network, identification, "
	 "not \"power\""},
	{"group_not_string", MEM "registers = ( { address = 0; name = \"p\"; },\n"
	 " { address = 1; name = \"q\";\n group = 2; } );\n", 4, "registers.[1].group must be one of"},
	/* roles (docs/user-guide.md, "Roles"): file:line of the key at fault */
	{"roles_unknown_role", MEM "registers = (\n { address = 0; name = \"p\"; type = \"int16\"; unit = \"W\"; },\n { address = 1; name = \"t\"; unit = \"C\"; } );\n" "roles = {\n heat = { power = \"p\"; }; };\n", 6,
	 "roles.heat: unknown role"},
	{"roles_unknown_key", MEM "registers = (\n { address = 0; name = \"p\"; type = \"int16\"; unit = \"W\"; },\n { address = 1; name = \"t\"; unit = \"C\"; } );\n" "roles = { battery = {\n volts = \"p\"; }; };\n", 6,
	 "roles.battery.volts: unknown key"},
	{"roles_no_register", MEM "registers = (\n { address = 0; name = \"p\"; type = \"int16\"; unit = \"W\"; },\n { address = 1; name = \"t\"; unit = \"C\"; } );\n" "roles = { battery = {\n power = \"q\"; }; };\n", 6,
	 "roles.battery.power: the map has no register \"q\""},
	{"roles_bad_unit", MEM "registers = (\n { address = 0; name = \"p\"; type = \"int16\"; unit = \"W\"; },\n { address = 1; name = \"t\"; unit = \"C\"; } );\n" "roles = { battery = {\n soc = \"t\"; }; };\n", 6,
	 "roles.battery.soc: register \"t\" has unit \"C\"; soc takes \"%\""},
	{"roles_bad_sign", MEM "registers = (\n { address = 0; name = \"p\"; type = \"int16\"; unit = \"W\"; },\n { address = 1; name = \"t\"; unit = \"C\"; } );\n" "roles = { battery = { power = \"p\";\n power_sign = \"up\"; }; };\n", 6,
	 "roles.battery.power_sign: must be \"delivered\""},
	{"roles_empty", MEM "registers = (\n { address = 0; name = \"p\"; type = \"int16\"; unit = \"W\"; },\n { address = 1; name = \"t\"; unit = \"C\"; } );\n" "roles = {\n battery = { }; };\n", 6,
	 "roles.battery: name at least one quantity"},
	{"bad_protocol", "name = \"t\";\nprotocol = \"profibus\"; trust = \"generated\";\n", 2,
	 "protocol must be one of memory, powergo, venus, solarman, modbus, site, not \"profibus\""},
	{"bad_trust", "name = \"t\"; protocol = \"memory\";\ntrust = \"verified\";\n", 2,
	 "trust must be one of generated, structure-verified, interop-verified, "
	 "simulator-verified, hardware-verified, not \"verified\""},
	{"agrees_not_list", MEM "agrees_with = { name = \"x\"; };\n", 2,
	 "agrees_with must be a list"},
	{"agrees_not_group", MEM "agrees_with = (\n \"evcc\" );\n", 3,
	 "agrees_with.[0] must be a group { name = ...; file = ...; }, not a string"},
	{"agrees_no_file", MEM "agrees_with = (\n { name = \"evcc\"; } );\n", 3,
	 "agrees_with.[0].file is missing"},
	{"agrees_unknown_key", MEM "agrees_with = (\n { name = \"e\"; file = \"a/b c\";\n rung = 1; } );\n",
	 4, "unknown key agrees_with.[0].rung"},
	{"attested_not_list", MEM "attested = { device = \"x\"; };\n", 2,
	 "attested must be a list ( { device = \"...\"; date = \"YYYY-MM-DD\"; readings"},
	{"attested_empty", MEM "attested = ( );\n", 2,
	 "attested is empty: list the devices, or leave the key out"},
	{"attested_not_group", MEM "attested = (\n \"my inverter\" );\n", 3,
	 "attested.[0] must be a group { device = ...; date = ...; readings = ...; }, not a string"},
	{"attested_no_readings", MEM "attested = (\n { device = \"d\"; date = \"2026-05-01\";\n"
	 " readings = \"r\"; },\n { device = \"e\"; date = \"2026-05-02\"; } );\n", 5,
	 "attested.[1].readings is missing"},
	{"attested_empty_device", MEM "attested = (\n { date = \"2026-05-01\"; readings = \"r\";\n"
	 " device = \"\"; } );\n", 4, "attested.[0].device must not be empty"},
	{"attested_bad_date", MEM "attested = (\n { device = \"d\"; readings = \"r\";\n"
	 " date = \"1 May 2026\"; } );\n", 4,
	 "attested.[0].date must be a date YYYY-MM-DD, not \"1 May 2026\""},
	{"attested_bad_month", MEM "attested = (\n { device = \"d\"; readings = \"r\";\n"
	 " date = \"2026-13-01\"; } );\n", 4, "attested.[0].date must be a date YYYY-MM-DD"},
	{"attested_unknown_key", MEM "attested = (\n { device = \"d\"; readings = \"r\";\n"
	 " date = \"2026-05-01\"; count = 3; } );\n", 4, "unknown key attested.[0].count"},
	{"bad_map_name", "name = \"my map\"; protocol = \"memory\"; trust = \"generated\";\n", 1,
	 "name may hold only letters, digits"},
	{"max_read_range", MEM "max_read = 126;\n", 2, "max_read must be 1..125, not 126"},
	{"defaults_timeout", MEM "defaults = { poll = 1;\n timeout = 0; };\n", 3,
	 "defaults.timeout must be >= 1 (ms), not 0"},
	{"registers_not_list", MEM "registers = { a = 1; };\n", 2, "registers must be a list"},
	{"register_not_group", MEM "registers = (\n 5 );\n", 3,
	 "registers.[0] must be a group { address = ...; ... }, not an integer"},
	{"address_range", MEM "registers = (\n { address = 65536; name = \"a\"; } );\n", 3,
	 "registers.[0].address must be 0..65535, not 65536"},
	{"address_negative", MEM "registers = (\n { address = -1; name = \"a\"; } );\n", 3,
	 "registers.[0].address must be 0..65535, not -1"},
	{"address_missing", MEM "registers = ( { address = 0; name = \"a\"; },\n { name = \"b\"; } );\n",
	 3, "registers.[1].address is missing"},
	{"address_type", MEM "registers = (\n { address = \"1\"; name = \"a\"; } );\n", 3,
	 "registers.[0].address must be an integer, not a string"},
	{"name_missing", MEM "registers = (\n { address = 1; } );\n", 3, "registers.[0].name is missing"},
	{"name_empty", MEM "registers = (\n { address = 1; name = \"\"; } );\n", 3,
	 "registers.[0].name must not be empty"},
	{"name_chars", MEM "registers = (\n { address = 1; name = \"SoC\"; } );\n", 3,
	 "registers.[0].name may hold only a-z, 0-9 and '_', not \"SoC\""},
	{"name_duplicate",
	 MEM "registers = (\n { address = 1; name = \"a\"; },\n { address = 2;\n name = \"a\"; } );\n",
	 5, "registers.[1].name \"a\" is used by the register on line 3 too"},
	{"type_bad", MEM "registers = (\n { address = 1; name = \"a\"; type = \"int8\"; } );\n", 3,
	 "registers.[0].type must be one of int16, uint16, int32, uint32, string, float32, not \"int8\""},
	{"word_order_bad",
	 MEM "registers = (\n { address = 1; name = \"a\"; type = \"uint32\"; word_order = \"middle\"; } );\n",
	 3, "registers.[0].word_order must be one of big, little"},
	{"word_order_16", MEM "registers = ( { address = 1; name = \"a\";\n word_order = \"little\"; } );\n",
	 3, "registers.[0].word_order is only for int32, uint32 and float32 registers"},
	{"string_no_length", MEM "registers = (\n { address = 1; name = \"a\"; type = \"string\"; } );\n",
	 3, "registers.[0].length is missing: a string register needs its length"},
	{"length_range",
	 MEM "registers = ( { address = 1; name = \"a\"; type = \"string\";\n length = 0; } );\n", 3,
	 "registers.[0].length must be 1..125, not 0"},
	{"past_end",
	 MEM "registers = (\n { address = 65535; name = \"a\"; type = \"uint32\"; } );\n", 3,
	 "registers.[0] runs past address 65535"},
	{"access_bad", MEM "registers = (\n { address = 1; name = \"a\"; access = \"wr\"; } );\n", 3,
	 "registers.[0].access must be one of r, w, rw, not \"wr\""},
	{"table_bad", MEM "registers = (\n { address = 1; name = \"a\"; table = \"coil\"; } );\n", 3,
	 "registers.[0].table must be one of holding, input, not \"coil\""},
	{"input_writable",
	 MEM "registers = ( { address = 1; name = \"a\"; table = \"input\";\n access = \"rw\"; } );\n",
	 3, "registers.[0].access: input registers are read-only"},
	{"scale_zero", MEM "registers = ( { address = 1; name = \"a\";\n scale = 0; } );\n", 3,
	 "registers.[0].scale must be a number > 0, not 0"},
	{"scale_negative", MEM "registers = ( { address = 1; name = \"a\";\n scale = -0.1; } );\n", 3,
	 "registers.[0].scale must be a number > 0, not -0.1"},
	{"scale_string", MEM "registers = ( { address = 1; name = \"a\";\n scale = \"0.1\"; } );\n", 3,
	 "registers.[0].scale must be a number, not a string"},
	{"min_type", MEM "registers = ( { address = 1; name = \"a\";\n min = 0.5; } );\n", 3,
	 "registers.[0].min must be an integer, not a float"},
	{"default_string_for_int",
	 MEM "registers = ( { address = 1; name = \"a\";\n default = \"5\"; } );\n", 3,
	 "registers.[0].default must be an integer (the raw value), not a string"},
	{"default_int_for_string",
	 MEM "registers = ( { address = 1; name = \"a\"; type = \"string\"; length = 2;\n default = 5; } );\n",
	 3, "registers.[0].default must be a string for a string register, not an integer"},
	{"min_on_string",
	 MEM "registers = ( { address = 1; name = \"a\"; type = \"string\"; length = 2;\n min = 5; } );\n",
	 3, "registers.[0].min is only for numeric registers"},
	{"values_not_list", MEM "registers = ( { address = 1; name = \"a\";\n values = 5; } );\n", 3,
	 "registers.[0].values must be a list of integers"},
	{"values_elem", MEM "registers = ( { address = 1; name = \"a\"; values = ( 1,\n \"x\" ); } );\n",
	 3, "registers.[0].values.[1] must be an integer, not a string"},
	{"enum_shape", MEM "registers = ( { address = 1; name = \"a\";\n enum = ( (0, \"a\"),\n (1) ); } );\n",
	 4, "registers.[0].enum.[1] must be a pair (value, \"text\")"},
	{"enum_not_list", MEM "registers = ( { address = 1; name = \"a\";\n enum = \"x\"; } );\n", 3,
	 "registers.[0].enum must be a list of (value, \"text\") pairs"},
	{"bits_range",
	 MEM "registers = ( { address = 1; name = \"a\"; bits = ( (0, \"x\"),\n (16, \"y\") ); } );\n",
	 3, "registers.[0].bits.[1]: bit 16 must be 0..15"},
	{"native_in_memory", MEM "registers = ( { address = 1; name = \"a\";\n native = 5; } );\n", 3,
	 "registers.[0].native is only for powergo, solarman and modbus maps"},
	{"key_in_memory", MEM "registers = ( { address = 1; name = \"a\";\n key = \"pe\"; } );\n", 3,
	 "registers.[0].key is only for venus maps"},
	{"write_in_memory",
	 MEM "registers = ( { address = 1; name = \"a\"; access = \"rw\";\n write = \"x={value}\"; } );\n",
	 3, "registers.[0].write is only for venus maps"},
	{"venus_no_key", VENUS "registers = (\n { address = 1; name = \"a\"; } );\n", 3,
	 "registers.[0].key is missing: a readable venus register names the key"},
	{"venus_write_readonly",
	 VENUS "registers = ( { address = 1; name = \"a\"; key = \"k\";\n write = \"cd=1,x={value}\"; } );\n",
	 3, "registers.[0].write needs access \"w\" or \"rw\""},
	{"venus_write_no_value",
	 VENUS "registers = ( { address = 1; name = \"a\"; key = \"k\"; access = \"rw\";\n"
	       " write = \"cd=1,x=5\"; } );\n",
	 3, "registers.[0].write must contain {value}, not \"cd=1,x=5\""},
	{"venus_field_no_key",
	 VENUS "registers = ( { address = 1; name = \"a\"; access = \"w\";\n field = 2;\n"
	       " write = \"x={value}\"; } );\n",
	 3, "registers.[0].field needs a key"},
	{"venus_ack_no_write",
	 VENUS "registers = ( { address = 1; name = \"a\"; key = \"k\";\n ack = false; } );\n", 3,
	 "registers.[0].ack is only for registers with a write template"},
	{"command_template_index",
	 MEM "registers = ( { address = 1; name = \"a\"; access = \"rw\"; } );\n"
	     "commands = ( { name = \"c\"; address = 1; count = 3;\n template = \"x={0},{3}\"; } );\n",
	 4, "commands.[0].template uses {3} but the command covers at most 3 registers ({0}..{2}, one per register)"},
	{"command_count", MEM "commands = ( { name = \"c\"; address = 1;\n count = 124; template = \"x\"; } );\n",
	 3, "commands.[0].count must be 1..123, not 124"},
	{"command_missing_template", MEM "commands = (\n { name = \"c\"; address = 1; count = 1; } );\n",
	 3, "commands.[0].template is missing"},
	{"command_duplicate",
	 MEM "commands = ( { name = \"c\"; address = 1; count = 1; template = \"x\"; },\n"
	     " { address = 2; count = 1; template = \"y\";\n name = \"c\"; } );\n",
	 4, "commands.[1].name \"c\" is used by the command on line 2 too"},
	{"syntax", MEM "registers = (\n { address = = 1; name = \"a\"; }\n );\n", 3, "syntax error"},
	/* retries and retry */
	{"defaults_retries_range", MEM "defaults = { poll = 1;\n retries = 11; };\n", 3,
	 "defaults.retries must be 0..10, not 11"},
	{"defaults_retries_negative", MEM "defaults = {\n retries = -1; };\n", 3,
	 "defaults.retries must be 0..10, not -1"},
	{"defaults_retries_type", MEM "defaults = {\n retries = \"2\"; };\n", 3,
	 "defaults.retries must be an integer, not a string"},
	{"retry_readonly", MEM "registers = ( { address = 1; name = \"a\";\n retry = false; } );\n", 3,
	 "registers.[0].retry = false is only for writable registers (access \"w\" or \"rw\")"},
	{"retry_input", MEM "registers = ( { address = 1; name = \"a\"; table = \"input\";\n"
	 " retry = false; } );\n", 3, "registers.[0].retry = false is only for writable registers"},
	{"retry_type", MEM "registers = ( { address = 1; name = \"a\"; access = \"rw\";\n retry = 0; } );\n",
	 3, "registers.[0].retry must be true or false, not an integer"},
	{"command_retry_type",
	 MEM "registers = ( { address = 1; name = \"a\"; access = \"rw\"; } );\n"
	     "commands = ( { name = \"c\"; address = 1; count = 1; template = \"x={0}\";\n"
	     " retry = \"no\"; } );\n",
	 4, "commands.[0].retry must be true or false, not a string"},
	/* venus templates: the codec's rules, so that --check refuses what start does */
	{"venus_write_other_placeholder",
	 VENUS "registers = ( { address = 1; name = \"a\"; key = \"k\"; access = \"rw\";\n"
	       " write = \"cd=16,cp={value},x={1}\"; } );\n",
	 3, "registers.[0].write must use {value} and no other placeholder or brace"},
	{"venus_write_brace",
	 VENUS "registers = ( { address = 1; name = \"a\"; key = \"k\"; access = \"rw\";\n"
	       " write = \"cd=16,cp={value},x={\"; } );\n",
	 3, "registers.[0].write must use {value} and no other placeholder or brace"},
	{"venus_command_no_placeholder",
	 VENUS "registers = ( { address = 1; name = \"a\"; access = \"w\"; } );\n"
	       "commands = ( { name = \"c\"; address = 1; count = 1;\n template = \"cd=3,md=1\"; } );\n",
	 4, "commands.[0].template \"cd=3,md=1\" has no placeholder"},
	{"venus_command_bad_brace",
	 VENUS "registers = ( { address = 1; name = \"a\"; access = \"w\"; } );\n"
	       "commands = ( { name = \"c\"; address = 1; count = 1;\n template = \"cd=3,x={a}\"; } );\n",
	 4, "commands.[0].template \"cd=3,x={a}\": a brace must start a placeholder {0}..{0}"},
	/* constant and derived registers (docs/user-guide.md, "Constant and
	 * derived registers") */
	{"const_writable", MEM "registers = ( { address = 1; name = \"a\"; constant = 5;\n"
	     " access = \"rw\"; } );\n",
	 3, "registers.[0].access does not go with constant: a constant is served from the map, "
	    "read-only"},
	{"const_with_key", VENUS "registers = ( { address = 1; name = \"a\"; constant = 5;\n"
	       " key = \"cel_c\"; } );\n",
	 3, "registers.[0].key does not go with constant"},
	{"const_with_native", HDR("powergo") "registers = ( { address = 1; name = \"a\";\n"
	     " native = 529; constant = 5; } );\n",
	 3, "registers.[0].native does not go with constant"},
	{"const_too_big", MEM "registers = ( { address = 1; name = \"a\";\n constant = 70000; } );\n",
	 3, "registers.[0].constant 70000 does not fit uint16"},
	{"const_not_int", MEM "registers = ( { address = 1; name = \"a\";\n constant = \"x\"; } );\n",
	 3, "registers.[0].constant must be an integer (the raw value), not a string"},
	{"const_string_long", MEM "registers = ( { address = 1; name = \"a\"; type = \"string\";\n"
	     " length = 2;\n constant = \"SunSpec\"; } );\n",
	 4, "registers.[0].constant \"SunSpec\" is longer than 4 characters (length 2 registers)"},
	{"const_string_number", MEM "registers = ( { address = 1; name = \"a\"; type = \"string\";\n"
	     " length = 2; constant = 5; } );\n",
	 3, "registers.[0].constant must be a string for a string register, not an integer"},
	{"factor_zero", MEM "registers = ( { address = 1; name = \"a\";\n factor = 0; } );\n",
	 3, "registers.[0].factor must not be 0"},
	{"factor_and_translate", MEM "registers = ( { address = 1; name = \"a\"; factor = 2;\n"
	     " translate = ((0, 1)); } );\n",
	 3, "registers.[0]: factor and translate do not go together"},
	{"factor_string", MEM "registers = ( { address = 1; name = \"a\"; type = \"string\";\n"
	     " length = 1; factor = 2; } );\n",
	 3, "registers.[0].factor is only for numeric registers"},
	{"factor_writable_native", HDR("powergo") "registers = ( { address = 1; name = \"a\";\n"
	     " access = \"rw\"; factor = -1; } );\n",
	 3, "registers.[0].factor on a writable register is only for venus maps"},
	{"translate_not_pairs", MEM "registers = ( { address = 1; name = \"a\";\n"
	     " translate = ((0, 1),\n (2)); } );\n",
	 4, "registers.[0].translate.[1] must be a pair of integers (front, native)"},
	{"translate_repeat", MEM "registers = ( { address = 1; name = \"a\";\n"
	     " translate = ((0, 1),\n (2, 1)); } );\n",
	 4, "registers.[0].translate.[1] repeats the native value 1"},
	{"translate_front_repeat_rw", VENUS "registers = ( { address = 1; name = \"a\"; key = \"k\";\n"
	     " access = \"rw\"; write = \"cd=2,md={value}\";\n"
	     " translate = ((0, 1),\n (0, 2)); } );\n",
	 5, "registers.[0].translate.[1] repeats the front value 0 on a writable register"},
	{"translate_front_range", MEM "registers = ( { address = 1; name = \"a\";\n"
	     " translate = (\n (-1, 1)); } );\n",
	 4, "registers.[0].translate.[0]: front value -1 does not fit uint16"},
	/* pass-through ranges and maps of several protocols */
	{"pass_not_list", SOL "passthrough =\n { table = \"input\"; };\n", 2,
	 "passthrough must be a list"},
	{"pass_not_group", SOL "passthrough = (\n 5 );\n", 3,
	 "passthrough.[0] must be a group { table = ...; first = ...; last = ...; }"},
	{"pass_first_missing", SOL "passthrough = (\n { table = \"input\"; last = 5; } );\n", 3,
	 "passthrough.[0].first is missing"},
	{"pass_last_range", SOL "passthrough = (\n { first = 0; last = 65536; } );\n", 3,
	 "passthrough.[0].last must be 0..65535, not 65536"},
	{"pass_first_above_last", SOL "passthrough = ( { first = 0; last = 9; },\n { first = 20; last = 10; } );\n",
	 3, "passthrough.[1]: first 20 is above last 10"},
	{"pass_table_bad", SOL "passthrough = (\n { table = \"coil\"; first = 0; last = 1; } );\n", 3,
	 "passthrough.[0].table must be one of holding, input, not \"coil\""},
	{"pass_access_w", SOL "passthrough = (\n { first = 0; last = 1; access = \"w\"; } );\n", 3,
	 "passthrough.[0].access must be one of r, rw, not \"w\""},
	{"pass_input_rw",
	 SOL "passthrough = ( { table = \"input\"; first = 0; last = 1;\n access = \"rw\"; } );\n", 3,
	 "passthrough.[0].access: input registers are read-only"},
	{"pass_unknown_key", SOL "passthrough = ( { first = 0; last = 1;\n writable = true; } );\n", 3,
	 "unknown key passthrough.[0].writable"},
	{"pass_overlap",
	 SOL "passthrough = ( { table = \"input\"; first = 0; last = 99; },\n"
	     " { first = 50; last = 60; },\n { table = \"input\"; first = 99; last = 120; } );\n",
	 4, "passthrough range input 99..120 overlaps the range 0..99 on line 2"},
	{"pass_on_venus", VENUS "passthrough = (\n { first = 0; last = 1; } );\n", 2,
	 "passthrough is only for maps of protocols that carry Modbus RTU (powergo, solarman and modbus), not venus"},
	{"pass_on_memory", MEM "passthrough = (\n { first = 0; last = 1; } );\n", 2,
	 "not memory"},
	{"protocols_not_rtu", "name = \"t\"; trust = \"generated\";\nprotocol = [ \"solarman\", \"venus\" ];\n",
	 2, "protocol.[1]: a map may name several protocols only where each carries Modbus RTU"},
	{"protocols_twice", "name = \"t\"; trust = \"generated\";\nprotocol = [ \"powergo\", \"powergo\" ];\n",
	 2, "protocol.[1]: protocol powergo is named twice"},
	{"protocols_unknown", "name = \"t\"; trust = \"generated\";\nprotocol = [ \"solarman\", \"rs485\" ];\n",
	 2, "protocol.[1] must be one of memory, powergo, venus, solarman, modbus, site, not \"rs485\""},
	{"protocols_empty", "name = \"t\"; trust = \"generated\";\nprotocol = [ ];\n", 2,
	 "protocol must be one of"},
	{"unavailable_string",
	 MEM "registers = ( { address = 1; name = \"s\"; type = \"string\"; length = 2;\n"
	     " unavailable = 0; } );\n",
	 3, "registers.[0].unavailable is only for integer registers"},
	{"unavailable_float32",
	 MEM "registers = ( { address = 1; name = \"f\"; type = \"float32\";\n"
	     " unavailable = 0; } );\n",
	 3, "registers.[0].unavailable is only for integer registers"},
	{"unavailable_with_constant",
	 MEM "registers = ( { address = 1; name = \"c\"; constant = 7;\n"
	     " unavailable = 65535; } );\n",
	 3, "registers.[0].unavailable does not go with constant"},
	{"unavailable_not_integer",
	 MEM "registers = ( { address = 1; name = \"u\";\n unavailable = \"none\"; } );\n",
	 3, "registers.[0].unavailable must be an integer, not a string"},
	{"command_duplicate_third",
	 MEM "commands = ( { name = \"c\"; address = 1; count = 1; template = \"x\"; },\n"
	     " { name = \"d\"; address = 2; count = 1; template = \"y\"; },\n"
	     " { name = \"d\"; address = 3; count = 1; template = \"y\"; },\n"
	     " { address = 4; count = 1; template = \"y\";\n name = \"c\"; } );\n",
	 4, "commands.[2].name \"d\" is used by the command on line 3 too"},
};
/* clang-format on */

static void test_error_case(void **state)
{
	const struct err_case *c = *state;
	char name[96], prefix[400], err[1024] = "";
	struct map *m;
	const char *path;

	snprintf(name, sizeof name, "%s.conf", c->name);
	path = write_file(name, c->text);
	m = map_load(path, err, sizeof err);
	if (m) {
		map_free(m);
		fail_msg("%s: loaded, expected \"%s\"", c->name, c->phrase);
	}
	if (c->line)
		snprintf(prefix, sizeof prefix, "%s:%d: ", path, c->line);
	else
		snprintf(prefix, sizeof prefix, "%s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("%s: expected prefix \"%s\", got \"%s\"", c->name, prefix, err);
	if (!strstr(err, c->phrase))
		fail_msg("%s: expected \"%s\" in \"%s\"", c->name, c->phrase, err);
	assert_null(strchr(err, '\n'));
}

/* --- the linter ---------------------------------------------------------- */

/* clang-format off */
static const char lint_memory[] =
	"name = \"lint\";\n"                                                              /* 1 */
	"protocol = \"memory\";\n"                                                        /* 2 */
	"trust = \"generated\";\n"                                                        /* 3 */
	"registers = (\n"                                                                 /* 4 */
	"  { address = 0; name = \"a\"; type = \"uint32\"; access = \"rw\"; },\n"         /* 5 */
	"  { address = 1; name = \"b\"; access = \"rw\"; },\n"                            /* 6 */
	"  { address = 10; name = \"c\"; access = \"rw\"; min = 10; max = 5; },\n"        /* 7 */
	"  { address = 11; name = \"d\"; access = \"rw\"; min = 0; max = 100; default = 200; },\n" /* 8 */
	"  { address = 12; name = \"e\"; type = \"uint32\"; length = 1; access = \"rw\"; },\n" /* 9 */
	"  { address = 20; name = \"f\"; type = \"uint32\"; access = \"rw\"; },\n"        /* 10 */
	"  { address = 22; name = \"g\"; },\n"                                            /* 11 */
	"  { address = 30; name = \"h\"; type = \"string\"; length = 2; default = \"toolong\"; },\n" /* 12 */
	"  { address = 40; name = \"i\"; default = 70000; },\n"                           /* 13 */
	"  { address = 41; name = \"j\"; type = \"int16\"; min = -40000; access = \"rw\"; },\n" /* 14 */
	"  { address = 42; name = \"k\"; values = [ 1, 2, 2 ]; access = \"rw\"; },\n"     /* 15 */
	"  { address = 43; name = \"l\"; access = \"rw\"; values = [ 1, 2 ]; default = 3; }\n" /* 16 */
	");\n"                                                                            /* 17 */
	"commands = (\n"                                                                  /* 18 */
	"  { name = \"split\"; address = 21; count = 2; template = \"x\"; },\n"           /* 19 */
	"  { name = \"gap\"; address = 50; count = 3; template = \"x\"; },\n"             /* 20 */
	"  { name = \"over\"; address = 22; count = 1; template = \"x\"; }\n"             /* 21 */
	");\n";
/* clang-format on */

/* clang-format off */
static const struct {
	int line;
	const char *phrase;
} lint_expect[] = {
	{6, "register \"b\" (holding 1) overlaps \"a\" (0..1, line 5)"},
	{7, "register \"c\": min 10 > max 5"},
	{8, "register \"d\": default 200 is outside its min/max/values"},
	{9, "register \"e\" is uint32 but 1 registers long: uint32 takes 2"},
	{12, "register \"h\": default \"toolong\" is longer than 4 characters"},
	{13, "register \"i\": default 70000 does not fit uint16"},
	{14, "register \"j\": min -40000 does not fit int16"},
	{15, "register \"k\": value 2 is listed twice"},
	{16, "register \"l\": default 3 is outside its min/max/values"},
	{19, "command \"split\" (21..22) splits register \"f\" (line 10)"},
	{19, "command \"split\" covers read-only register \"g\""},
	{20, "command \"gap\" covers 50..52, which no register maps"},
	{21, "command \"over\" overlaps command \"split\" (line 19)"},
	{21, "command \"over\" covers read-only register \"g\""},
};
/* clang-format on */

/* The ladder (docs/design.md, "Trust ladder"): in the Growatt document's
 * order; above structure-verified a rung names the test that earns it; the
 * implementations that agree are listed beside the rung, never as one. */
static void test_trust_ladder(void **state)
{
	char err[2048];
	(void)state;
	const char *path =
	    write_file("ladder.conf", "name = \"ladder\"; protocol = \"memory\";\n"
				      "trust = \"interop-verified\";\n"
				      "verified_by = \"evcc and ESPHome agree\";\n"
				      "agrees_with = ( { name = \"ESPHome growatt_solar\";\n"
				      "  file = \"esphome/esphome esphome/components/x.cpp\";\n"
				      "  covers = \"0..1\"; },\n"
				      " { name = \"bare\"; file = \"x.yaml\"; } );\n"
				      "registers = ( { address = 0; name = \"a\"; } );\n");
	struct map *m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 2);
	assert_non_null(strstr(err, ":1: map \"ladder\" is interop-verified but its verified_by "
				    "names no test under tests/"));
	assert_non_null(strstr(err, "agrees_with \"bare\" names file \"x.yaml\"; it must be "
				    "\"owner/repo path/in/repo\""));
	assert_int_equal(map_nagreements(m), 2);
	assert_string_equal(map_agreement(m, 0)->file, "esphome/esphome esphome/components/x.cpp");
	assert_null(map_agreement(m, 1)->covers);
	assert_null(map_agreement(m, 2));
	char *out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out,
			       "| Trust | **interop-verified**: Read and decoded over a real "
			       "network against an independent third-party Modbus test server"));
	assert_non_null(strstr(out, "| Agrees with (not a rung) | ESPHome growatt_solar "
				    "(`esphome/esphome esphome/components/x.cpp`): 0..1; bare "
				    "(`x.yaml`) |"));
	free(out);
	out = print_map(m, MAP_FMT_JSON);
	assert_non_null(strstr(out, "\"agrees_with\": [{\"name\": \"ESPHome growatt_solar\""));
	free(out);
	out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "agrees with (not a rung): bare, x.yaml\n"));
	free(out);
	map_free(m);

	/* Secrets a protocol keeps from pass-through are listed (maps/raw.conf
	 * runs on PowerGo among others; scratch runs on memory only). */
	m = load_ok(h_repo_file("maps/raw.conf"));
	out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "| Never passed through (secrets) | powergo: 120..129 (Wi-Fi "
				    "password), 190..199 (MQTT password) |"));
	free(out);
	map_free(m);
	m = load_scratch();
	out = print_map(m, MAP_FMT_TEXT);
	assert_null(strstr(out, "never passed through"));
	free(out);
	map_free(m);

	/* Order: interop-verified is below simulator-verified. */
	path = write_file("ladder2.conf", "name = \"l2\"; protocol = \"memory\";\n"
					  "trust = \"simulator-verified\";\n"
					  "verified_by = \"tests/e2e/test_x.c\";\n"
					  "registers = ( { address = 0; name = \"a\"; } );\n");
	m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "emulator seeded with known-true values"));
	free(out);
	map_free(m);
}

/* hardware-verified xN: the N devices are the `attested` list; the top rung
 * needs one at least, a lower rung none (map_lint.c). */
static void test_hardware_attested(void **state)
{
	char err[2048];
	(void)state;
	const char *path = write_file(
	    "hw.conf", "name = \"hw\"; protocol = \"memory\";\n"
		       "trust = \"hardware-verified\";\n"
		       "verified_by = \"tests/e2e/test_x.c\";\n"
		       "attested = ( { device = \"Growatt MIN 3000TL-X, firmware 1.2\";\n"
		       "  date = \"2026-05-01\"; readings = \"pac 1234.5 W as the display\"; },\n"
		       " { device = \"second unit\"; date = \"2026-06-02\";\n"
		       "  readings = \"eac_total 100.0 kWh\"; } );\n"
		       "registers = ( { address = 0; name = \"a\"; } );\n");
	struct map *m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	assert_int_equal(map_nattestations(m), 2);
	assert_string_equal(map_attestation(m, 0)->date, "2026-05-01");
	assert_int_equal(map_attestation(m, 1)->line, 6);
	assert_null(map_attestation(m, 2));
	char *out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "map hw: protocol memory, trust hardware-verified \u00d72\n"));
	assert_non_null(strstr(out, "  attested device 2 of 2: second unit, 2026-06-02: "
				    "eac_total 100.0 kWh\n"));
	free(out);
	out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(
	    strstr(out, "| Trust | **hardware-verified \u00d72**: Matched a real device"));
	assert_non_null(strstr(out, "| Attested devices | Growatt MIN 3000TL-X, firmware 1.2 "
				    "(2026-05-01): pac 1234.5 W as the display; second unit "
				    "(2026-06-02): eac_total 100.0 kWh |"));
	free(out);
	out = print_map(m, MAP_FMT_JSON);
	assert_non_null(strstr(out, "\"attested\": [{\"device\": \"Growatt MIN 3000TL-X, "
				    "firmware 1.2\", \"date\": \"2026-05-01\", \"readings\": "));
	free(out);
	map_free(m);

	/* the top rung with no device attested */
	path = write_file("hw0.conf", "name = \"hw0\"; protocol = \"memory\";\n"
				      "trust = \"hardware-verified\";\n"
				      "verified_by = \"tests/e2e/test_x.c\";\n"
				      "registers = ( { address = 0; name = \"a\"; } );\n");
	m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 1);
	assert_non_null(strstr(err, "hw0.conf:1: map \"hw0\" is hardware-verified but attests "
				    "no device"));
	out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "trust hardware-verified\n"));
	free(out);
	out = print_map(m, MAP_FMT_JSON);
	assert_non_null(strstr(out, "\"attested\": []"));
	free(out);
	map_free(m);

	/* a lower rung claiming devices */
	path = write_file("hw1.conf", "name = \"hw1\"; protocol = \"memory\";\n"
				      "trust = \"simulator-verified\";\n"
				      "verified_by = \"tests/e2e/test_x.c\";\n"
				      "attested = (\n { device = \"d\"; date = \"2026-05-01\";\n"
				      "  readings = \"r\"; } );\n"
				      "registers = ( { address = 0; name = \"a\"; } );\n");
	m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 1);
	assert_non_null(strstr(err, "hw1.conf:4: map \"hw1\" is simulator-verified but has "
				    "attested devices: attested belongs to hardware-verified maps "
				    "only"));
	map_free(m);

	/* no shipped map claims a device */
	static const char *const shipped[] = {"growatt", "powergo-sunspec", "venus-sunspec",
					      "deye-hybrid", "sdm630"};
	for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "maps/%s.conf", shipped[i]);
		m = load_ok(h_repo_file(rel));
		assert_int_equal(map_nattestations(m), 0);
		map_free(m);
	}
}

static void test_lint_problems(void **state)
{
	char err[8192], want[512];
	const char *path = write_file("lint.conf", lint_memory);
	struct map *m = load_ok(path);
	size_t nexp = sizeof lint_expect / sizeof lint_expect[0];
	(void)state;

	int n = map_lint(m, err, sizeof err);
	for (size_t i = 0; i < nexp; i++) {
		snprintf(want, sizeof want, "%s:%d: %s", path, lint_expect[i].line,
			 lint_expect[i].phrase);
		if (!strstr(err, want))
			fail_msg("missing \"%s\" in:\n%s", want, err);
	}
	/* One problem per line, each "file:line: ...". */
	int lines = 0;
	for (const char *p = err; *p; p++)
		lines += *p == '\n';
	if (n != (int)nexp || lines != n)
		fail_msg("%d problems (%d lines), expected %zu:\n%s", n, lines, nexp, err);
	for (const char *p = err; *p; p = strchr(p, '\n') + 1)
		assert_int_equal(strncmp(p, path, strlen(path)), 0);

	/* A short buffer still counts every problem, and stays terminated. */
	char small[64];
	memset(small, 'x', sizeof small);
	assert_int_equal(map_lint(m, small, 40), n);
	assert_true(strlen(small) < 40);
	assert_int_equal(small[41], 'x');
	assert_int_equal(map_lint(m, NULL, 0), n);
	map_free(m);
}

static void test_lint_venus(void **state)
{
	char err[2048], want[512];
	const char *path = write_file(
	    "lintv.conf",
	    "name = \"vl\"; protocol = \"venus\"; trust = \"generated\";\n"
	    "registers = (\n"
	    "  { address = 0; name = \"soc\"; key = \"pe\"; },\n"
	    "  { address = 1; name = \"mode\"; key = \"wor_m\"; access = \"rw\"; },\n"
	    "  { address = 2; name = \"power\"; key = \"mcp_w\"; access = \"rw\"; write = "
	    "\"cd=16,cp={value}\"; },\n"
	    "  { address = 3; name = \"t_start\"; key = \"tim_0\"; field = 0; access = \"rw\"; },\n"
	    "  { address = 4; name = \"t_end\"; key = \"tim_0\"; field = 1; access = \"rw\"; },\n"
	    "  { address = 5; name = \"reset\"; access = \"w\"; }\n"
	    ");\n"
	    "commands = ( { name = \"tim0\"; address = 3; count = 2; template = "
	    "\"cd=7,nm={0}|{1}\"; ack = false; } );\n");
	struct map *m = load_ok(path);
	(void)state;
	int n = map_lint(m, err, sizeof err);
	snprintf(want, sizeof want,
		 "%s:4: register \"mode\" is writable but has no write template and no command "
		 "covers it\n",
		 path);
	assert_non_null(strstr(err, want));
	snprintf(want, sizeof want, "%s:8: register \"reset\" is writable", path);
	assert_non_null(strstr(err, want));
	if (n != 2)
		fail_msg("%d problems:\n%s", n, err);
	assert_int_equal(map_command(m, 0)->ack, 0);
	map_free(m);
}

static void test_lint_empty(void **state)
{
	char err[512], want[256];
	const char *path = write_file(
	    "empty.conf", "\nname = \"empty\"; protocol = \"memory\"; trust = \"generated\";\n");
	struct map *m = load_ok(path);
	(void)state;
	assert_int_equal(map_nregs(m), 0);
	assert_int_equal(map_nslots(m), 0);
	assert_null(map_find(m, MAP_HOLDING, 0));
	assert_null(map_find_name(m, "x"));
	assert_int_equal(map_lint(m, err, sizeof err), 1);
	snprintf(want, sizeof want, "%s:2: map \"empty\" has no registers\n", path);
	assert_string_equal(err, want);
	char *out = print_map(m, MAP_FMT_JSON);
	assert_true(json_valid(out));
	free(out);
	map_free(m);
}

/* --- lookups ------------------------------------------------------------- */

static const struct map_register *find_linear(const struct map *m, int table, uint16_t a)
{
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		if (r->table == table && a >= r->address && a < r->address + r->count)
			return r;
	}
	return NULL;
}

static void test_find(void **state)
{
	struct map *m = load_scratch();
	(void)state;

	assert_string_equal(map_find(m, MAP_HOLDING, 0)->name, "reg_0");
	assert_string_equal(map_find(m, MAP_HOLDING, 9)->name, "reg_9");
	/* Both words of a 32-bit register, every word of a string. */
	assert_string_equal(map_find(m, MAP_HOLDING, 11)->name, "u32_big");
	assert_string_equal(map_find(m, MAP_HOLDING, 12)->name, "u32_big");
	assert_string_equal(map_find(m, MAP_HOLDING, 18)->name, "i32_little");
	for (uint16_t a = 20; a < 28; a++)
		assert_string_equal(map_find(m, MAP_HOLDING, a)->name, "label");
	/* Gaps. */
	assert_null(map_find(m, MAP_HOLDING, 19));
	assert_null(map_find(m, MAP_HOLDING, 28));
	assert_null(map_find(m, MAP_HOLDING, 29));
	assert_null(map_find(m, MAP_HOLDING, 37));
	assert_null(map_find(m, MAP_HOLDING, 43));
	assert_null(map_find(m, MAP_HOLDING, 999));
	assert_null(map_find(m, MAP_HOLDING, 1200));
	assert_null(map_find(m, MAP_HOLDING, 65535));
	/* Tables are separate. */
	assert_string_equal(map_find(m, MAP_INPUT, 0)->name, "in_0");
	assert_string_equal(map_find(m, MAP_INPUT, 6)->name, "in_u32");
	assert_null(map_find(m, MAP_INPUT, 8));
	assert_null(map_find(m, MAP_INPUT, 1000));
	assert_null(map_find(m, MAP_TABLES, 0));
	assert_null(map_find(m, -1, 0));

	/* Every address of both tables agrees with a linear scan. */
	for (int t = 0; t < MAP_TABLES; t++)
		for (uint32_t a = 0; a <= 0xffff; a++)
			if (map_find(m, t, (uint16_t)a) != find_linear(m, t, (uint16_t)a))
				fail_msg("map_find(%d, %u) disagrees with a linear scan", t, a);

	/* readable_run against a word-by-word scan: every word of
	 * [a, a + run) is mapped, readable, and its slot follows the last. */
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		uint32_t run = 0, a = r->address;
		const struct map_register *q;
		while (a <= 0xffff && (q = map_find(m, r->table, (uint16_t)a)) &&
		       (q->access & MAP_R) && q->slot + (a - q->address) == r->slot + run) {
			run++;
			a++;
		}
		if (r->readable_run != run)
			fail_msg("%s: readable_run %u, scan says %u", r->name, r->readable_run,
				 run);
	}
	assert_int_equal(map_find(m, MAP_HOLDING, 1000)->readable_run, 200); /* blk_1000..1199 */

	assert_string_equal(map_find_name(m, "label")->name, "label");
	assert_int_equal(map_find_name(m, "blk_1199")->address, 1199);
	assert_int_equal(map_find_name(m, "in_i16")->table, MAP_INPUT);
	assert_null(map_find_name(m, "nope"));
	assert_null(map_find_name(m, NULL));
	for (size_t i = 0; i < map_nregs(m); i++)
		assert_ptr_equal(map_find_name(m, map_reg(m, i)->name), map_reg(m, i));

	assert_non_null(map_find_command(m, 40, 1));
	assert_non_null(map_find_command(m, 42, 5));
	assert_non_null(map_find_command(m, 38, 3));
	assert_null(map_find_command(m, 38, 2));
	assert_null(map_find_command(m, 43, 1));
	map_free(m);
}

/* map_spans against map_find word by word: the spans of a range cover it in
 * order; a span of registers has every word mapped, with the slot that
 * follows the last, and says whether one of them is not readable; a span
 * of unmapped addresses has none mapped; neighbouring spans could not be
 * one. map_next is the register map_find gives at the end of the last. */
static void check_spans(const struct map *m, int t, uint16_t addr, uint16_t count)
{
	struct map_span sp[MB_MAX_READ];
	size_t n = map_spans(m, t, addr, count, sp, MB_MAX_READ);
	uint32_t a = addr;

	for (size_t i = 0; i < n; i++) {
		const struct map_span *s = &sp[i];
		int unreadable = 0;
		if (s->addr != a || s->count == 0)
			fail_msg("table %d [%u+%u): span %zu starts at %u, count %u", t, addr,
				 count, i, s->addr, s->count);
		for (uint32_t k = 0; k < s->count; k++, a++) {
			const struct map_register *r = map_find(m, t, (uint16_t)a);
			if (!s->first) {
				if (r)
					fail_msg("table %d: %u is mapped, in an unmapped span", t,
						 a);
				continue;
			}
			if (!r || r->slot + (a - r->address) != s->slot + k)
				fail_msg("table %d: %u is not slot %u of its span", t, a,
					 s->slot + k);
			if (k == 0 && r != s->first)
				fail_msg("table %d: span at %u names another register", t, a);
			unreadable |= !(r->access & MAP_R);
		}
		assert_int_equal(s->unreadable, unreadable);
		if (i > 0 && !sp[i - 1].first && !s->first)
			fail_msg("table %d: two unmapped spans meet at %u", t, s->addr);
		if (i > 0 && sp[i - 1].first && s->first &&
		    sp[i - 1].slot + sp[i - 1].count == s->slot)
			fail_msg("table %d: two spans of registers meet at %u", t, s->addr);
	}
	assert_int_equal(a, (uint32_t)addr + count);
}

static void test_spans(void **state)
{
	static const char *const maps[] = {"maps/scratch.conf", "maps/raw.conf",
					   "maps/powergo-sunspec.conf", "maps/growatt.conf",
					   "maps/sdm630.conf"};
	static const uint16_t counts[] = {1, 2, 3, 7, 64, MB_MAX_READ};
	(void)state;

	for (size_t f = 0; f < sizeof maps / sizeof maps[0]; f++) {
		struct map *m = load_ok(h_repo_file(maps[f]));
		for (size_t i = 0; i < map_nregs(m); i++) {
			const struct map_register *r = map_reg(m, i);
			const struct map_register *q =
			    map_find(m, r->table, (uint16_t)(r->address + r->count));
			/* the next register, when one starts where r ends */
			assert_ptr_equal(map_next(m, r),
					 q && q->address == r->address + r->count ? q : NULL);
			for (int d = -2; d <= 2; d++) {
				int32_t a = (int32_t)r->address + d;
				for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
					if (a >= 0 && a + counts[c] <= 0x10000)
						check_spans(m, r->table, (uint16_t)a, counts[c]);
			}
		}
		for (int t = 0; t < MAP_TABLES; t++) {
			check_spans(m, t, 0, MB_MAX_READ);
			check_spans(m, t, 0xFFFF, 1);
			check_spans(m, t, 0x10000 - MB_MAX_READ, MB_MAX_READ);
		}
		map_free(m);
	}
	/* Nothing for a table that is none, or an empty range. */
	struct map *m = load_scratch();
	struct map_span sp[4];
	assert_int_equal(map_spans(m, MAP_TABLES, 0, 4, sp, 4), 0);
	assert_int_equal(map_spans(m, MAP_HOLDING, 0, 0, sp, 4), 0);
	/* scratch: holding 0..9 are registers; 19 is a gap before 20..27 */
	assert_int_equal(map_spans(m, MAP_HOLDING, 8, 4, sp, 4), 1);
	assert_int_equal(map_spans(m, MAP_HOLDING, 18, 4, sp, 4), 3);
	assert_null(sp[1].first);
	assert_int_equal(sp[1].addr, 19);
	assert_int_equal(sp[1].count, 1);
	assert_string_equal(sp[2].first->name, "label");
	/* At most max spans. */
	assert_int_equal(map_spans(m, MAP_HOLDING, 18, 4, sp, 2), 2);
	map_free(m);
}

static void test_slots(void **state)
{
	struct map *m = load_scratch();
	uint32_t slot = 0;
	(void)state;
	for (size_t i = 0; i < map_nregs(m); i++) {
		assert_int_equal(map_reg(m, i)->slot, slot);
		slot += map_reg(m, i)->count;
	}
	assert_int_equal(map_nslots(m), slot);
	/* 10 + 1 + 4*2 + 8 + 4 + 2 + 1 + 3 + 200 holding, 5 + 2 + 1 input. */
	assert_int_equal(slot, 10 + 1 + 8 + 8 + 4 + 2 + 1 + 3 + 200 + 5 + 2 + 1);
	map_free(m);
}

/* --- values -------------------------------------------------------------- */

static void test_encode_decode(void **state)
{
	struct map *m = load_scratch();
	uint16_t w[2];
	(void)state;

	const struct map_register *s16 = map_find_name(m, "s16");
	assert_int_equal(map_encode(s16, -1234, w), 0);
	assert_int_equal(w[0], 0xFB2E);
	assert_int_equal(map_decode(s16, w), -1234);
	assert_int_equal(map_encode(s16, -32768, w), 0);
	assert_int_equal(map_decode(s16, w), -32768);
	assert_int_equal(map_encode(s16, 32767, w), 0);
	assert_int_equal(w[0], 0x7FFF);
	assert_int_equal(map_encode(s16, 32768, w), MB_ERANGE);
	assert_int_equal(map_encode(s16, -32769, w), MB_ERANGE);

	const struct map_register *u16 = map_find_name(m, "reg_0");
	assert_int_equal(map_encode(u16, 65535, w), 0);
	assert_int_equal(w[0], 0xFFFF);
	assert_int_equal(map_decode(u16, w), 65535);
	assert_int_equal(map_encode(u16, 65536, w), MB_ERANGE);
	assert_int_equal(map_encode(u16, -1, w), MB_ERANGE);

	const struct map_register *ub = map_find_name(m, "u32_big");
	const struct map_register *ul = map_find_name(m, "u32_little");
	assert_int_equal(map_encode(ub, 0x12345678, w), 0);
	assert_int_equal(w[0], 0x1234);
	assert_int_equal(w[1], 0x5678);
	assert_int_equal(map_decode(ub, w), 0x12345678);
	assert_int_equal(map_encode(ul, 0x12345678, w), 0);
	assert_int_equal(w[0], 0x5678);
	assert_int_equal(w[1], 0x1234);
	assert_int_equal(map_decode(ul, w), 0x12345678);
	assert_int_equal(map_encode(ub, 4294967295LL, w), 0);
	assert_true(map_decode(ub, w) == 4294967295LL);
	assert_int_equal(map_encode(ub, 4294967296LL, w), MB_ERANGE);
	assert_int_equal(map_encode(ul, -1, w), MB_ERANGE);

	const struct map_register *ib = map_find_name(m, "i32_big");
	const struct map_register *il = map_find_name(m, "i32_little");
	assert_int_equal(map_encode(ib, -100000, w), 0);
	assert_int_equal(w[0], 0xFFFE);
	assert_int_equal(w[1], 0x7960);
	assert_int_equal(map_decode(ib, w), -100000);
	assert_int_equal(map_encode(il, -100000, w), 0);
	assert_int_equal(w[0], 0x7960);
	assert_int_equal(w[1], 0xFFFE);
	assert_int_equal(map_decode(il, w), -100000);
	assert_int_equal(map_encode(ib, INT32_MIN, w), 0);
	assert_true(map_decode(ib, w) == INT32_MIN);
	assert_int_equal(map_encode(il, INT32_MAX, w), 0);
	assert_true(map_decode(il, w) == INT32_MAX);
	assert_int_equal(map_encode(ib, (int64_t)INT32_MAX + 1, w), MB_ERANGE);
	assert_int_equal(map_encode(il, (int64_t)INT32_MIN - 1, w), MB_ERANGE);

	/* The same words mean different values in the two orders. */
	w[0] = 0x0001;
	w[1] = 0x0002;
	assert_int_equal(map_decode(ub, w), 0x00010002);
	assert_int_equal(map_decode(ul, w), 0x00020001);

	/* Every default in the scratch map survives encode + decode. */
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		if (!r->has_default || r->type == MAP_STRING)
			continue;
		assert_int_equal(map_encode(r, r->def, w), 0);
		assert_true(map_decode(r, w) == r->def);
	}

	/* Strings are not numbers. */
	assert_int_equal(map_encode(map_find_name(m, "label"), 1, w), MB_EINVAL);
	map_free(m);
}

/* float32: two words, high first unless word_order says; the raw value is
 * the bit pattern (so the cache and a memory device's default carry it
 * unchanged); values.c turns it into the number. Read-only. */
static void test_float32(void **state)
{
	(void)state;
	const char *path = h_write_file(
	    "f32.conf", "name = \"f32\"; protocol = \"memory\"; trust = \"generated\";\n"
			"registers = (\n"
			"  { address = 0; name = \"hi\"; type = \"float32\"; default = 230.5; },\n"
			"  { address = 2; name = \"lo\"; type = \"float32\";\n"
			"    word_order = \"little\"; default = -2; }\n);\n");
	struct map *m = load_ok(path);
	const struct map_register *hi = map_find_name(m, "hi"), *lo = map_find_name(m, "lo");
	assert_non_null(hi);
	assert_non_null(lo);
	assert_int_equal(hi->count, 2);
	assert_int_equal(hi->access, MAP_R);
	/* 230.5f is 0x43668000; -2.0f is 0xC0000000. */
	assert_true(hi->def == 0x43668000);
	assert_true(lo->def == 0xC0000000);
	uint16_t w[2] = {0x4366, 0x8000};
	assert_true(map_decode(hi, w) == 0x43668000);
	uint16_t wl[2] = {0x0000, 0xC000};
	assert_true(map_decode(lo, wl) == 0xC0000000);
	uint16_t out[2];
	assert_int_equal(map_encode(hi, hi->def, out), 0);
	assert_int_equal(out[0], 0x4366);
	assert_int_equal(out[1], 0x8000);
	assert_int_equal(map_encode(lo, lo->def, out), 0);
	assert_int_equal(out[0], 0x0000);
	assert_int_equal(out[1], 0xC000);
	assert_int_equal(map_lint(m, NULL, 0), 0);
	/* The reference shows the type, word order and default as a number. */
	char *txt = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(txt, "float32 (high word first)"));
	assert_non_null(strstr(txt, "float32 (low word first)"));
	assert_non_null(strstr(txt, "default 230.5"));
	free(txt);
	txt = print_map(m, MAP_FMT_JSON);
	assert_non_null(strstr(txt, "\"type\": \"float32\""));
	assert_non_null(strstr(txt, "\"default\": 230.5"));
	free(txt);
	map_free(m);
}

static void test_encode_string(void **state)
{
	struct map *m = load_scratch();
	const struct map_register *label = map_find_name(m, "label");
	uint16_t w[8];
	static const uint16_t want[8] = {0x6D6F, 0x6462, 0x7269, 0x6467, 0x6500, 0, 0, 0};
	(void)state;

	assert_int_equal(label->count, 8);
	memset(w, 0xAA, sizeof w);
	assert_int_equal(map_encode_string(label, "modbridge", w), 0);
	assert_memory_equal(w, want, sizeof want);

	memset(w, 0xAA, sizeof w);
	assert_int_equal(map_encode_string(label, "", w), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(w[i], 0);

	assert_int_equal(map_encode_string(label, "0123456789abcdef", w), 0);
	assert_int_equal(w[0], 0x3031);
	assert_int_equal(w[7], 0x6566);
	assert_int_equal(map_encode_string(label, "0123456789abcdefg", w), MB_ERANGE);
	assert_int_equal(map_encode_string(map_find_name(m, "reg_0"), "a", w), MB_EINVAL);
	assert_int_equal(map_encode_string(label, NULL, w), MB_EINVAL);
	map_free(m);
}

static void test_value_ok(void **state)
{
	struct map *m = load_scratch();
	(void)state;
	const struct map_register *sp = map_find_name(m, "setpoint");
	assert_true(map_value_ok(sp, 0));
	assert_true(map_value_ok(sp, 1000));
	assert_false(map_value_ok(sp, 1001));
	assert_false(map_value_ok(sp, -1));

	const struct map_register *mode = map_find_name(m, "mode");
	assert_true(map_value_ok(mode, 0));
	assert_true(map_value_ok(mode, 2));
	assert_false(map_value_ok(mode, 3));
	assert_false(map_value_ok(mode, -1));

	const struct map_register *off = map_find_name(m, "offset");
	assert_true(map_value_ok(off, -100));
	assert_true(map_value_ok(off, 100));
	assert_false(map_value_ok(off, -101));
	assert_false(map_value_ok(off, 101));

	/* Without limits: the type's range. */
	const struct map_register *r0 = map_find_name(m, "reg_0");
	assert_true(map_value_ok(r0, 0));
	assert_true(map_value_ok(r0, 65535));
	assert_false(map_value_ok(r0, 65536));
	assert_false(map_value_ok(r0, -1));
	const struct map_register *s16 = map_find_name(m, "s16");
	assert_true(map_value_ok(s16, -32768));
	assert_false(map_value_ok(s16, 32768));
	assert_true(map_value_ok(map_find_name(m, "u32_big"), 4294967295LL));
	assert_false(map_value_ok(map_find_name(m, "i32_big"), 4294967295LL));
	assert_true(map_value_ok(map_find_name(m, "label"), 0));
	map_free(m);
}

/* --- the reference ------------------------------------------------------- */

static void test_print_json(void **state)
{
	(void)state;
	struct map *m = load_scratch();
	char *out = print_map(m, MAP_FMT_JSON);
	if (!json_valid(out))
		fail_msg("invalid JSON:\n%.2000s", out);
	assert_non_null(strstr(out, "\"name\": \"scratch\""));
	assert_non_null(strstr(out, "\"trust\": \"structure-verified\""));
	assert_non_null(strstr(out,
			       "{\"table\": \"holding\", \"address\": 11, \"name\": \"u32_big\", "
			       "\"type\": \"uint32\", \"words\": 2, \"access\": \"rw\", "
			       "\"word_order\": \"big\", \"group\": \"settings\""));
	assert_non_null(strstr(out, "\"scale\": 0.1, \"unit\": \"kWh\""));
	assert_non_null(strstr(out, "\"default\": \"modbridge\""));
	assert_non_null(strstr(out, "{\"value\": 1, \"text\": \"Manual\"}"));
	assert_non_null(strstr(out, "{\"bit\": 2, \"text\": \"Grid connected\"}"));
	assert_non_null(strstr(out, "\"template\": \"triple={0},{1},{2}\""));
	free(out);
	map_free(m);

	/* Quotes, backslashes and pipes are escaped. */
	m = load_ok(h_repo_file("tests/unit/data/venus_ok.conf"));
	out = print_map(m, MAP_FMT_JSON);
	if (!json_valid(out))
		fail_msg("invalid JSON:\n%s", out);
	assert_non_null(
	    strstr(out, "\"Venus fixture with \\\"quotes\\\", a back\\\\slash and a | pipe\""));
	assert_non_null(strstr(out, "\"key\": \"tim_0\", \"field\": 1"));
	assert_non_null(strstr(out, "\"write\": \"cd=15,vs={value}\", \"ack\": false"));
	free(out);
	map_free(m);

	m = load_ok(h_repo_file("tests/unit/data/powergo_ok.conf"));
	out = print_map(m, MAP_FMT_JSON);
	assert_true(json_valid(out));
	assert_non_null(strstr(out, "\"native\": 5100"));
	assert_non_null(strstr(out, "\"max_read\": 40"));
	assert_non_null(strstr(out, "\"defaults\": {\"poll\": 30000, \"max_age\": 2000, "
				    "\"timeout\": 5000, \"min_interval\": 0}"));
	free(out);
	map_free(m);
}

static void test_print_markdown(void **state)
{
	(void)state;
	struct map *m = load_scratch();
	char *out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "# Register map: scratch\n"));
	assert_non_null(strstr(out, "| Trust | **structure-verified**: The map linter passes"));
	assert_non_null(strstr(out, "| Protocol | `memory`"));
	assert_non_null(strstr(out, "| Source | modbridge test fixture"));
	assert_non_null(strstr(out, "| Address | Name | Type | Words | Access | Scale | Unit | "
				    "Range / values | Description | Source |\n|---:|"));
	assert_non_null(strstr(out, "## Holding registers"));
	assert_non_null(strstr(out, "## Input registers"));
	assert_non_null(
	    strstr(out, "| 11..12 | `u32_big` | uint32 (high word first) | 2 | rw | 1 |"));
	assert_non_null(strstr(out, "| 13..14 | `u32_little` | uint32 (low word first) |"));
	assert_non_null(
	    strstr(out, "| 30 | `setpoint` | uint16 | 1 | rw | 1 | W | 0..1000; default 500 |"));
	assert_non_null(strstr(out, "| 0, 1, 2; default 0 |"));
	assert_non_null(strstr(out, "### `mode` (holding 31): values"));
	assert_non_null(strstr(out, "| 1 | Manual |"));
	assert_non_null(strstr(out, "### `status` (holding 33): bits"));
	assert_non_null(strstr(out, "| 2 | Grid connected |"));
	assert_non_null(strstr(out, "## Write commands"));
	assert_non_null(strstr(out, "| 40..42 | `triple` | 3 | `triple={0},{1},{2}` | yes |"));
	/* Every table row has as many cells as its header. */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "| 1", 3) == 0 && strstr(line, "`blk_")) {
			int bars = 0;
			for (char *p = line; *p; p++)
				bars += *p == '|';
			assert_int_equal(bars, 11);
		}
	}
	free(out);
	map_free(m);

	m = load_ok(h_repo_file("tests/unit/data/venus_ok.conf"));
	out = print_map(m, MAP_FMT_MARKDOWN);
	/* A '|' in text would split a cell. */
	assert_non_null(strstr(out, "a back\\slash and a \\| pipe"));
	assert_non_null(strstr(out, "**simulator-verified**: Decoded correctly against a protocol "
				    "emulator seeded with known-true"));
	assert_non_null(strstr(out, "| Key |"));
	assert_non_null(strstr(out, "| `tim_0` field 0 |"));
	assert_non_null(strstr(out, "| `wor_m`; write `cd=3,md={value}` |"));
	assert_non_null(strstr(out, "| `tim0_start` | 2 | `cd=7,md=0,nm=0,bt={0}:{1}` | yes |"));
	free(out);
	map_free(m);

	m = load_ok(h_repo_file("tests/unit/data/powergo_ok.conf"));
	out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "| Native |"));
	assert_non_null(strstr(out, "| 100..101 | 5100..5101 | `moved` |"));
	assert_non_null(strstr(out, "| Device | PowerGo PG-1 |"));
	assert_non_null(strstr(out, "**interop-verified**"));
	assert_null(strstr(out, "## Write commands"));
	free(out);
	map_free(m);
}

static void test_print_text(void **state)
{
	(void)state;
	struct map *m = load_scratch();
	char *out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "map scratch: protocol memory, trust structure-verified\n"));
	assert_non_null(strstr(out, "\nholding registers\n"));
	assert_non_null(strstr(out, "\ninput registers\n"));
	assert_non_null(strstr(out, "u32_little"));
	assert_non_null(strstr(out, "0 = Automatic"));
	assert_non_null(strstr(out, "bit 2 = Grid connected"));
	assert_non_null(strstr(out, "triple={0},{1},{2}"));
	/* No line ends in blanks. */
	assert_null(strstr(out, " \n"));
	free(out);
	map_free(m);
}

/* --- retries ------------------------------------------------------------- */

/* `retry = false` marks a writable register or a command as sent at most
 * once; unset, writes are retried. `retries` in a map's defaults: -1 unset. */
/* `bytes`: a 16-bit register packing two values, each byte with its range. */
/* docs/user-guide.md, "Register keys": `string_order`, `query`, `source`, `verified_by`: loaded,
 * refused where they mean nothing (file:line), printed in the reference;
 * map_native_strings swaps exactly the words of little-endian strings. */
static void test_evidence_keys(void **state)
{
	(void)state;
	char err[2048];
	const char *path =
	    write_file("order.conf",
		       "name = \"order\"; protocol = \"powergo\"; trust = \"structure-verified\";\n"
		       "verified_by = \"test_map\";\n"
		       "registers = (\n"
		       "  { address = 0; name = \"num\"; source = \"doc §1\"; },\n"
		       "  { address = 1; name = \"text\"; type = \"string\"; length = 2;\n"
		       "    string_order = \"little\"; source = \"doc §2 | table 5\"; },\n"
		       "  { address = 3; name = \"plain\"; type = \"string\"; length = 1; }\n"
		       ");\n");
	struct map *m = load_ok(path);
	assert_string_equal(map_verified_by(m), "test_map");
	const struct map_register *t = map_find_name(m, "text");
	assert_int_equal(t->string_little, 1);
	assert_string_equal(t->source, "doc §2 | table 5");
	assert_int_equal(map_find_name(m, "plain")->string_little, 0);
	assert_int_equal(map_has_little_strings(m), 1);
	uint16_t w[4] = {0x6979, 0x7568, 0x6979, 0x1234}; /* "yihu" low first, "iy", num */
	map_native_strings(m, MAP_HOLDING, 0, 4, w);
	assert_int_equal(w[0], 0x6979); /* num: untouched */
	assert_int_equal(w[1], 0x6875); /* text: swapped */
	assert_int_equal(w[2], 0x7969);
	assert_int_equal(w[3], 0x1234); /* plain string: untouched */
	char *out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "| Verified by | test_map |"));
	assert_non_null(strstr(out, "string (little-endian on the device)"));
	assert_non_null(strstr(out, "| doc §2 \\| table 5 |\n"));
	free(out);
	out = print_map(m, MAP_FMT_JSON);
	if (!json_valid(out))
		fail_msg("invalid JSON:\n%s", out);
	assert_non_null(strstr(out, "\"verified_by\": \"test_map\""));
	assert_non_null(strstr(out, "\"string_order\": \"little\""));
	assert_non_null(strstr(out, "\"source\": \"doc §1\""));
	free(out);
	out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "  verified by: test_map\n"));
	assert_non_null(strstr(out, "source: doc §1\n"));
	free(out);
	map_free(m);

	path = write_file("query.conf",
			  "name = \"query\"; protocol = \"venus\"; trust = \"generated\";\n"
			  "registers = (\n"
			  "  { address = 0; name = \"soc\"; key = \"cel_c\"; },\n"
			  "  { address = 1; name = \"pa\"; key = \"get_power\"; field = 0;\n"
			  "    query = \"cd=19\"; type = \"int16\"; }\n"
			  ");\n");
	m = load_ok(path);
	assert_null(map_find_name(m, "soc")->query);
	assert_string_equal(map_find_name(m, "pa")->query, "cd=19");
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "| `get_power` field 0 of `cd=19` |"));
	free(out);
	map_free(m);

	static const struct {
		const char *proto, *reg, *want;
	} bad[] = {
	    {"powergo", "{ address = 0; name = \"n\"; string_order = \"little\"; }",
	     "string_order is only for string registers"},
	    {"powergo",
	     "{ address = 0; name = \"n\"; type = \"string\"; length = 1; string_order = "
	     "\"middle\"; }",
	     "string_order"},
	    {"venus",
	     "{ address = 0; name = \"n\"; key = \"k\"; type = \"string\"; length = 1; "
	     "string_order = \"little\"; }",
	     "string_order is only for protocols that carry registers"},
	    {"powergo", "{ address = 0; name = \"n\"; query = \"cd=19\"; }",
	     "query is only for registers with a key"},
	    {"venus",
	     "{ address = 0; name = \"n\"; key = \"k\"; query = \"cd=19\"; access = \"rw\"; "
	     "write = \"cd=9,x={value}\"; }",
	     "query: a register read by its own query is read-only"},
	    {"venus", "{ address = 0; name = \"n\"; key = \"k\"; query = \"get\"; }",
	     "query must be a read command cd=N"},
	    {"venus", "{ address = 0; name = \"n\"; key = \"k\"; query = \"cd=01\"; }",
	     "query must be a read command cd=N"},
	    {"powergo", "{ address = 0; name = \"n\"; source = \"\"; }", "source"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[512];
		snprintf(text, sizeof text,
			 "name = \"bad\"; protocol = \"%s\"; trust = \"generated\";\n"
			 "registers = (\n  %s\n);\n",
			 bad[i].proto, bad[i].reg);
		path = write_file("bad.conf", text);
		assert_null(map_load(path, err, sizeof err));
		if (!strstr(err, bad[i].want) || !strstr(err, "bad.conf:3"))
			fail_msg("case %zu: \"%s\" lacks \"%s\" or the line", i, err, bad[i].want);
	}

	/* More than 7 queries besides cd=1: the linter says so. */
	char big[4096];
	size_t used = (size_t)snprintf(big, sizeof big,
				       "name = \"many\"; protocol = \"venus\"; trust = "
				       "\"generated\";\nregisters = (\n");
	for (int q = 0; q < 8; q++)
		used += (size_t)snprintf(big + used, sizeof big - used,
					 "  { address = %d; name = \"r%d\"; key = \"k%d\"; query = "
					 "\"cd=%d\"; }%s\n",
					 q, q, q, 40 + q, q < 7 ? "," : "");
	snprintf(big + used, sizeof big - used, ");\n");
	m = load_ok(write_file("many.conf", big));
	assert_int_equal(map_lint(m, err, sizeof err), 1);
	assert_non_null(strstr(err, "query \"cd=47\" is one more than the 7"));
	map_free(m);
}

static void test_bytes(void **state)
{
	char err[2048];
	const char *path = write_file(
	    "bytes.conf", "name = \"bytes\"; protocol = \"memory\"; trust = \"generated\";\n"
			  "registers = (\n"
			  "  { address = 0; name = \"hhmm\"; access = \"rw\";\n"
			  "    bytes = ( { min = 0; max = 23; }, { max = 59; } ); }\n"
			  ");\n");
	struct map *m = load_ok(path);
	(void)state;
	const struct map_register *r = map_find_name(m, "hhmm");
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	assert_int_equal(r->has_bytes, 1);
	assert_int_equal(map_value_ok(r, 0x0A00), 1); /* 10:00 */
	assert_int_equal(map_value_ok(r, 0x173B), 1); /* 23:59 */
	assert_int_equal(map_value_ok(r, 0x0000), 1);
	assert_int_equal(map_value_ok(r, 1000), 0);   /* 03:232 */
	assert_int_equal(map_value_ok(r, 0x173C), 0); /* 23:60 */
	assert_int_equal(map_value_ok(r, 0x1800), 0); /* 24:00 */
	char *out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "high byte 0..23, low byte 0..59"));
	free(out);
	out = print_map(m, MAP_FMT_JSON);
	if (!json_valid(out))
		fail_msg("invalid JSON:\n%s", out);
	assert_non_null(
	    strstr(out, "\"bytes\": [{\"min\": 0, \"max\": 23}, {\"min\": 0, \"max\": 59}]"));
	free(out);
	map_free(m);

	static const struct {
		const char *reg, *want;
	} bad[] = {
	    {"type = \"uint32\"; bytes = ( { max = 1; }, { max = 1; } );",
	     "bytes is only for 16-bit registers"},
	    {"bytes = ( { max = 1; } );", "must be a list of two groups, high byte first"},
	    {"bytes = ( { max = 256; }, { max = 1; } );", "must be a byte, 0..255"},
	    {"bytes = ( { min = 5; max = 1; }, { max = 1; } );", "min 5 is above max 1"},
	    {"bytes = ( { max = 1; hi = 2; }, { max = 1; } );", "unknown key (valid: min, max)"},
	    {"bytes = ( 1, 2 );", "must be a group { min = ...; max = ...; }"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[512];
		snprintf(text, sizeof text,
			 "name = \"b\"; protocol = \"memory\"; trust = \"generated\";\n"
			 "registers = (\n  { address = 0; name = \"x\"; access = \"rw\";\n"
			 "    %s }\n);\n",
			 bad[i].reg);
		const char *bp = write_file("bytes_bad.conf", text);
		struct map *b = map_load(bp, err, sizeof err);
		if (b || !strstr(err, bad[i].want) || !strstr(err, "bytes_bad.conf:"))
			fail_msg("case %zu: want \"%s\" with file:line, got \"%s\"", i, bad[i].want,
				 b ? "(loaded)" : err);
	}
}

static void test_retry(void **state)
{
	char err[2048];
	const char *path = write_file(
	    "retry.conf",
	    "name = \"retry\"; protocol = \"venus\"; trust = \"generated\";\n"
	    "defaults = { timeout = 5000; retries = 3; };\n"
	    "registers = (\n"
	    "  { address = 0; name = \"soc\"; key = \"pe\"; retry = true; },\n"
	    "  { address = 1; name = \"reset\"; access = \"w\"; write = \"cd=5,rs={value}\";\n"
	    "    retry = false; },\n"
	    "  { address = 2; name = \"power\"; key = \"cp\"; access = \"rw\";\n"
	    "    write = \"cd=16,cp={value}\"; },\n"
	    "  { address = 3; name = \"h\"; key = \"t\"; field = 0; access = \"rw\"; },\n"
	    "  { address = 4; name = \"m\"; key = \"t\"; field = 1; access = \"rw\"; },\n"
	    "  { address = 5; name = \"clear\"; access = \"w\"; },\n"
	    "  { address = 6; name = \"clear2\"; access = \"w\"; }\n"
	    ");\n"
	    "commands = (\n"
	    "  { name = \"tim\"; address = 3; count = 2; template = \"cd=7,bt={0}:{1}\"; },\n"
	    "  { name = \"clr\"; address = 5; count = 2; template = \"cd=8,a={0},b={1}\";\n"
	    "    retry = false; }\n"
	    ");\n");
	struct map *m = load_ok(path);
	(void)state;
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	assert_int_equal(map_defaults(m)->retries, 3);
	assert_int_equal(map_defaults(m)->timeout, 5000);
	assert_int_equal(map_find_name(m, "soc")->no_retry, 0);
	assert_int_equal(map_find_name(m, "reset")->no_retry, 1);
	assert_int_equal(map_find_name(m, "power")->no_retry, 0);
	assert_int_equal(map_find_command(m, 3, 2)->no_retry, 0);
	assert_int_equal(map_find_command(m, 5, 2)->no_retry, 1);

	/* The reference shows it in every format. */
	char *out = print_map(m, MAP_FMT_JSON);
	if (!json_valid(out))
		fail_msg("invalid JSON:\n%s", out);
	assert_non_null(strstr(out, "\"retries\": 3}"));
	assert_non_null(
	    strstr(out, "\"write\": \"cd=5,rs={value}\", \"ack\": true, \"retry\": false"));
	assert_non_null(
	    strstr(out, "\"write\": \"cd=16,cp={value}\", \"ack\": true, \"retry\": true"));
	assert_non_null(
	    strstr(out, "\"template\": \"cd=8,a={0},b={1}\", \"ack\": true, \"retry\": false}"));
	assert_non_null(
	    strstr(out, "\"template\": \"cd=7,bt={0}:{1}\", \"ack\": true, \"retry\": true}"));
	free(out);
	out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "| Timing defaults | timeout 5000 ms, retries 3 (a device's"));
	assert_non_null(strstr(out, "| `reset` | uint16 | 1 | w, at most once |"));
	assert_non_null(strstr(out, "| `power` | uint16 | 1 | rw |"));
	assert_non_null(strstr(out, "| Acknowledged | Retried |"));
	assert_non_null(strstr(out, "| `clr` | 2 | `cd=8,a={0},b={1}` | yes | no |"));
	assert_non_null(strstr(out, "| `tim` | 2 | `cd=7,bt={0}:{1}` | yes | yes |"));
	free(out);
	out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "written at most once: never retried (retry = false)"));
	assert_non_null(strstr(out, "cd=8,a={0},b={1}  (sent at most once)"));
	assert_null(strstr(out, "cd=7,bt={0}:{1}  (sent at most once)"));
	assert_null(strstr(out, " \n"));
	free(out);
	map_free(m);

	/* Unset: no defaults, every write retried. */
	m = load_scratch();
	assert_int_equal(map_defaults(m)->retries, -1);
	assert_int_equal(map_find_name(m, "reg_0")->no_retry, 0);
	assert_int_equal(map_command(m, 0)->no_retry, 0);
	/* The shipped scratch map marks its write-only trigger. */
	assert_int_equal(map_find_name(m, "trigger")->no_retry, 1);
	map_free(m);
}

/* `unavailable` (docs/design.md, "Map files"): parsed per register, checked by
 * the linter against the register's type (file:line), printed in every
 * format, and the words a register serves without a value of its own. */
static void test_unavailable(void **state)
{
	char err[2048];
	uint16_t w[2];
	(void)state;
	const char *path =
	    write_file("unavail.conf",
		       "name = \"unavail\"; protocol = \"venus\"; trust = \"generated\";\n"
		       "registers = (\n"
		       "  { address = 0; name = \"soc\"; key = \"cel_c\"; unavailable = 65535; },\n"
		       "  { address = 1; name = \"w\"; key = \"grd_o\"; type = \"int16\";\n"
		       "    unavailable = -32768; },\n"
		       "  { address = 2; name = \"big\"; key = \"tot_i\"; type = \"uint32\";\n"
		       "    word_order = \"little\"; unavailable = 4294967295L; },\n"
		       "  { address = 4; name = \"plain\"; key = \"cel_p\"; },\n"
		       "  { address = 5; name = \"s32\"; key = \"inc_a\"; type = \"int32\"; },\n"
		       "  { address = 7; name = \"soh\"; key = \"b_soh\"; query = \"cd=14\";\n"
		       "    unavailable = 0; }\n"
		       ");\n");
	struct map *m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	const struct map_register *r = map_find_name(m, "soc");
	assert_int_equal(r->has_unavail, 1);
	assert_int_equal(r->unavail, 65535);
	assert_int_equal(map_unavailable_words(r, w), 1);
	assert_int_equal(w[0], 0xFFFF);
	r = map_find_name(m, "w");
	assert_int_equal(r->unavail, -32768);
	assert_int_equal(map_unavailable_words(r, w), 1);
	assert_int_equal(w[0], 0x8000);
	r = map_find_name(m, "big");
	assert_int_equal(map_unavailable_words(r, w), 1);
	assert_int_equal(w[0], 0xFFFF);
	assert_int_equal(w[1], 0xFFFF);
	r = map_find_name(m, "soh");
	assert_int_equal(map_unavailable_words(r, w), 1);
	assert_int_equal(w[0], 0);
	/* Without the key: the type's "not implemented" value, not declared. */
	r = map_find_name(m, "plain");
	assert_int_equal(r->has_unavail, 0);
	assert_int_equal(map_unavailable_words(r, w), 0);
	assert_int_equal(w[0], 0xFFFF);
	r = map_find_name(m, "s32");
	assert_int_equal(map_unavailable_words(r, w), 0);
	assert_int_equal(w[0], 0x8000);
	assert_int_equal(w[1], 0x0000);

	/* The reference shows it in every format. */
	char *out = print_map(m, MAP_FMT_JSON);
	if (!json_valid(out))
		fail_msg("invalid JSON:\n%s", out);
	assert_non_null(strstr(out, "\"unavailable\": 65535"));
	assert_non_null(strstr(out, "\"unavailable\": -32768"));
	free(out);
	out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "| unavailable 4294967295 |"));
	free(out);
	out = print_map(m, MAP_FMT_TEXT);
	assert_non_null(strstr(out, "unavailable -32768"));
	free(out);
	map_free(m);

	/* A value that does not fit the type: the linter names file:line. */
	path = write_file("unavail_bad.conf",
			  "name = \"unavail_bad\"; protocol = \"venus\"; trust = \"generated\";\n"
			  "registers = (\n"
			  "  { address = 0; name = \"soc\"; key = \"cel_c\"; unavailable = -1; },\n"
			  "  { address = 1; name = \"w\"; key = \"grd_o\"; type = \"int16\";\n"
			  "    unavailable = 65535; },\n"
			  "  { address = 2; name = \"ok\"; key = \"cel_p\"; unavailable = 0; },\n"
			  "  { address = 3; name = \"e\"; key = \"tot_i\"; type = \"int32\";\n"
			  "    unavailable = 4294967295L; }\n"
			  ");\n");
	m = load_ok(path);
	assert_int_equal(map_lint(m, err, sizeof err), 3);
	char want[1024];
	snprintf(want, sizeof want,
		 "%s:3: register \"soc\": unavailable -1 does not fit uint16 (0..65535)\n", path);
	if (!strstr(err, want))
		fail_msg("expected \"%s\" in:\n%s", want, err);
	snprintf(want, sizeof want,
		 "%s:4: register \"w\": unavailable 65535 does not fit int16 (-32768..32767)\n",
		 path);
	if (!strstr(err, want))
		fail_msg("expected \"%s\" in:\n%s", want, err);
	snprintf(want, sizeof want,
		 "%s:7: register \"e\": unavailable 4294967295 does not fit int32 "
		 "(-2147483648..2147483647)\n",
		 path);
	if (!strstr(err, want))
		fail_msg("expected \"%s\" in:\n%s", want, err);
	/* It still has a stand-in, the type's, rather than a value that
	 * does not fit. */
	assert_int_equal(map_unavailable_words(map_find_name(m, "soc"), w), 0);
	assert_int_equal(w[0], 0xFFFF);
	map_free(m);
}

/* Venus commands: the transport's rules, checked by the linter so that
 * --check refuses what start refuses. */
static void test_lint_venus_commands(void **state)
{
	char err[2048], want[512];
	const char *path = write_file(
	    "lintvc.conf",
	    "name = \"vc\"; protocol = \"venus\"; trust = \"generated\";\n"
	    "registers = (\n"
	    "  { address = 0; name = \"a\"; type = \"uint32\"; access = \"w\"; },\n"
	    "  { address = 2; name = \"b\"; type = \"uint32\"; access = \"w\"; },\n"
	    "  { address = 10; name = \"s\"; type = \"string\"; length = 2; access = \"w\"; },\n"
	    "  { address = 12; name = \"c\"; access = \"w\"; }\n"
	    ");\n"
	    "commands = (\n"
	    "  { name = \"two\"; address = 0; count = 4; template = \"x={0},y={2}\"; },\n"
	    "  { name = \"str\"; address = 10; count = 3; template = \"s={0},c={1}\"; }\n"
	    ");\n");
	struct map *m = load_ok(path);
	(void)state;
	int n = map_lint(m, err, sizeof err);
	snprintf(want, sizeof want,
		 "%s:9: command \"two\": template uses {2} but the command covers 2 registers "
		 "({n} counts registers, not words)\n",
		 path);
	if (!strstr(err, want))
		fail_msg("missing \"%s\" in:\n%s", want, err);
	snprintf(want, sizeof want,
		 "%s:10: command \"str\" covers string register \"s\": a venus command writes "
		 "numbers only\n",
		 path);
	if (!strstr(err, want))
		fail_msg("missing \"%s\" in:\n%s", want, err);
	if (n != 2)
		fail_msg("%d problems:\n%s", n, err);
	map_free(m);
}

/* Lint rules that used to compare every pair: a value listed three times is
 * one problem, and a command is compared with the one reaching furthest. */
static void test_lint_repeats(void **state)
{
	char err[2048], want[512];
	const char *path = write_file(
	    "lintrep.conf",
	    "name = \"rep\"; protocol = \"memory\"; trust = \"generated\";\n"
	    "registers = (\n"
	    "  { address = 0; name = \"a\"; access = \"rw\"; values = [ 5, 1, 5, 2, 5 ];\n"
	    "    enum = ( (1, \"x\"), (1, \"y\") ); bits = ( (3, \"p\"), (3, \"q\"), (3, \"r\") ); "
	    "},\n"
	    "  { address = 1; name = \"b\"; access = \"rw\"; },\n"
	    "  { address = 2; name = \"c\"; access = \"rw\"; }\n"
	    ");\n"
	    "commands = (\n"
	    "  { name = \"wide\"; address = 0; count = 3; template = \"w\"; },\n"
	    "  { name = \"one\"; address = 1; count = 1; template = \"o\"; },\n"
	    "  { name = \"two\"; address = 2; count = 1; template = \"t\"; }\n"
	    ");\n");
	struct map *m = load_ok(path);
	(void)state;
	int n = map_lint(m, err, sizeof err);
	const char *expect[] = {
	    "3: register \"a\": value 5 is listed twice\n",
	    "3: register \"a\": enum value 1 is described twice\n",
	    "3: register \"a\": bit 3 is described twice\n",
	    "10: command \"one\" overlaps command \"wide\" (line 9)\n",
	    "11: command \"two\" overlaps command \"wide\" (line 9)\n",
	};
	for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
		snprintf(want, sizeof want, "%s:%s", path, expect[i]);
		if (!strstr(err, want))
			fail_msg("missing \"%s\" in:\n%s", want, err);
	}
	if (n != 5)
		fail_msg("%d problems:\n%s", n, err);
	map_free(m);
}

/* A map of 65,536 registers loads, indexes and lints (loading used to be
 * quadratic in the number of registers; the time is `make bench`'s). */
static void test_large_map(void **state)
{
	enum { N = 65536 };
	char err[1024];
	size_t cap = (size_t)N * 80 + 256, used = 0;
	char *text = malloc(cap);
	(void)state;
	assert_non_null(text);
	used += (size_t)snprintf(text + used, cap - used,
				 "name = \"large\"; protocol = \"memory\"; trust = \"generated\";\n"
				 "registers = (\n");
	/* Holding 0..32767, input 0..32767; file order differs from address
	 * order so that sorting is exercised. */
	for (int i = 0; i < N; i++) {
		int k = (i * 7919) % N; /* a permutation: 7919 is prime, N a power of 2 */
		used += (size_t)snprintf(
		    text + used, cap - used,
		    "  { address = %d; name = \"r%d\"; table = \"%s\"; default = %d; }%s\n",
		    k % 32768, k, k < 32768 ? "holding" : "input", k % 1000, i + 1 < N ? "," : "");
		assert_true(used < cap);
	}
	snprintf(text + used, cap - used, ");\n");
	const char *path = write_file("large.conf", text);
	free(text);

	struct map *m = load_ok(path);
	assert_int_equal(map_nregs(m), N);
	assert_int_equal(map_nslots(m), N);
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	for (int k = 0; k < N; k += 4099) {
		const struct map_register *r =
		    map_find(m, k < 32768 ? MAP_HOLDING : MAP_INPUT, (uint16_t)(k % 32768));
		char name[16];
		snprintf(name, sizeof name, "r%d", k);
		assert_non_null(r);
		assert_string_equal(r->name, name);
		assert_int_equal(r->def, k % 1000);
		assert_ptr_equal(map_find_name(m, name), r);
		/* The line of register k is 3 + its place in the file. */
		assert_true(r->line >= 3 && r->line < 3 + N);
	}
	map_free(m);
}

/* Constant and derived registers: values served, and values converted both
 * ways. */
static void test_constants(void **state)
{
	char err[2048];
	const char *path = write_file(
	    "consts.conf",
	    "name = \"c\"; protocol = \"venus\"; trust = \"generated\";\n"
	    "registers = (\n"
	    "  { address = 0; name = \"marker\"; type = \"string\"; length = 2;\n"
	    "    constant = \"SunS\"; },\n"
	    "  { address = 2; name = \"nan\"; type = \"int16\"; constant = -32768; },\n"
	    "  { address = 3; name = \"big\"; type = \"uint32\"; constant = 4294967295L; },\n"
	    "  { address = 5; name = \"soc10\"; key = \"cel_c\"; factor = 10; },\n"
	    "  { address = 6; name = \"neg\"; type = \"int16\"; key = \"grd_o\"; factor = -1; },\n"
	    "  { address = 7; name = \"mode\"; key = \"wor_m\"; access = \"rw\";\n"
	    "    write = \"cd=2,md={value}\"; translate = ((0, 1), (1, 0), (2, 2)); },\n"
	    "  { address = 8; name = \"state\"; key = \"grd_t\";\n"
	    "    translate = ((4, 1), (3, 2), (3, 3)); }\n"
	    ");\n");
	struct map *m = load_ok(path);
	uint16_t w[2];
	int64_t v;
	(void)state;
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	const struct map_register *r = map_find_name(m, "marker");
	assert_true(r->is_const);
	assert_int_equal(r->access, MAP_R);
	assert_int_equal(map_const_words(r, w), 0);
	assert_int_equal(w[0], 0x5375);
	assert_int_equal(w[1], 0x6E53);
	r = map_find_name(m, "nan");
	assert_int_equal(map_const_words(r, w), 0);
	assert_int_equal(w[0], 0x8000);
	r = map_find_name(m, "big");
	assert_int_equal(map_const_words(r, w), 0);
	assert_int_equal(w[0], 0xFFFF);
	assert_int_equal(w[1], 0xFFFF);

	r = map_find_name(m, "soc10");
	assert_false(r->is_const);
	assert_int_equal(map_const_words(r, w), MB_EINVAL);
	assert_true(map_derived(r));
	assert_int_equal(map_from_native(r, 27, &v), 0);
	assert_int_equal(v, 270);
	assert_int_equal(map_from_native(r, 6554, &v), MB_ERANGE); /* 65540 > uint16 */
	assert_int_equal(map_to_native(r, 270, &v), 0);
	assert_int_equal(v, 27);
	assert_int_equal(map_to_native(r, 275, &v), MB_ERANGE); /* not a whole percent */
	r = map_find_name(m, "neg");
	assert_int_equal(map_from_native(r, -1500, &v), 0);
	assert_int_equal(v, 1500);
	assert_int_equal(map_from_native(r, -32768, &v), MB_ERANGE);
	r = map_find_name(m, "mode");
	assert_int_equal(map_from_native(r, 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(map_from_native(r, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(map_from_native(r, 7, &v), MB_ENOENT);
	assert_int_equal(map_to_native(r, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(map_to_native(r, 3, &v), MB_ENOENT);
	/* read-only: two device values may give one front value */
	r = map_find_name(m, "state");
	assert_int_equal(map_from_native(r, 2, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(map_from_native(r, 3, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(map_from_native(r, 1, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(map_from_native(r, 5, &v), MB_ENOENT);
	assert_false(map_derived(map_find_name(m, "big")));

	char *out = print_map(m, MAP_FMT_MARKDOWN);
	assert_non_null(strstr(out, "constant \"SunS\""));
	assert_non_null(strstr(out, "device value x 10"));
	assert_non_null(strstr(out, "0 = device 1, 1 = device 0, 2 = device 2"));
	free(out);
	out = print_map(m, MAP_FMT_JSON);
	if (!json_valid(out))
		fail_msg("invalid JSON:\n%s", out);
	assert_non_null(strstr(out, "\"constant\": \"SunS\""));
	assert_non_null(strstr(out, "\"factor\": -1"));
	assert_non_null(strstr(out, "\"translate\": [[0, 1], [1, 0], [2, 2]]"));
	free(out);
	map_free(m);
}

int main(void)
{
	struct CMUnitTest tests[sizeof err_cases / sizeof err_cases[0] + 32];
	size_t n = 0;
	const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_json_validator),
	    cmocka_unit_test(test_scratch_loads_and_lints_clean),
	    cmocka_unit_test(test_fixtures_load),
	    cmocka_unit_test(test_shipped_maps),
	    cmocka_unit_test(test_groups),
	    cmocka_unit_test(test_load_named),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_lint_problems),
	    cmocka_unit_test(test_trust_ladder),
	    cmocka_unit_test(test_hardware_attested),
	    cmocka_unit_test(test_lint_venus),
	    cmocka_unit_test(test_lint_empty),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_slots),
	    cmocka_unit_test(test_spans),
	    cmocka_unit_test(test_encode_decode),
	    cmocka_unit_test(test_encode_string),
	    cmocka_unit_test(test_value_ok),
	    cmocka_unit_test(test_print_json),
	    cmocka_unit_test(test_print_markdown),
	    cmocka_unit_test(test_print_text),
	    cmocka_unit_test(test_retry),
	    cmocka_unit_test(test_bytes),
	    cmocka_unit_test(test_evidence_keys),
	    cmocka_unit_test(test_lint_venus_commands),
	    cmocka_unit_test(test_lint_repeats),
	    cmocka_unit_test(test_large_map),
	    cmocka_unit_test(test_constants),
	    cmocka_unit_test(test_passthrough),
	    cmocka_unit_test(test_float32),
	    cmocka_unit_test(test_unavailable),
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		tests[n++] = fixed[i];
	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		struct CMUnitTest t =
		    cmocka_unit_test_prestate(test_error_case, (void *)&err_cases[i]);
		t.name = err_cases[i].name;
		tests[n++] = t;
	}
	return _cmocka_run_group_tests("map", tests, n, setup, NULL);
}

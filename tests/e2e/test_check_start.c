/* `modbridge --check` refuses exactly what starting refuses: every negative
 * config and map fixture below (collected from test_check, test_config and
 * test_map, as files) is run through both `modbridge --check -c F` and
 * `modbridge -c F` (start, on a free port). Both must exit 1 and say the
 * same "file:line: reason"; start must say it before it serves anything
 * (a bounded wait: it must exit by itself). Each case also names the file, line and a
 * phrase it expects, so that a fixture cannot be refused for another reason
 * than the one it is about. The cases cover every protocol's block, a map
 * of another protocol, unknown keys, venus templates, TLS files and `user`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static char out_check[65536], out_start[65536];

struct fixture {
	const char *name;
	const char *conf;     /* the config after the two header lines ('@': the folder) */
	const char *map_name; /* a map file written to @/CASE/maps/NAME.conf, or NULL */
	const char *map;
	int in_map; /* the message names the map file (else the config) */
	int line;   /* in that file; config lines count from the case's first */
	const char *phrase;
};

#define MEM_DEV "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n"
#define MQTT "mqtt = { host = \"127.0.0.1\"; port = 1; };"
#define PG_IDS "app_id = \"053461AD\"; device_id = \"15020115\";"
#define DEV(map) "devices = ( { name = \"a\"; unit_id = 1; map = \"" map "\";"
#define VDEV(map)                                                                                  \
	DEV(map) " " MQTT "\n venus = { type = \"HMG-50\"; id = \"0123456789ab\"; }; } );\n"
#define MDEV(map) DEV(map) " memory = {}; } );\n"
#define MAPHDR(name, proto)                                                                        \
	"name = \"" name "\"; protocol = \"" proto "\"; trust = \"generated\";\n"

/* clang-format off */
static const struct fixture cases[] = {
	/* unknown keys */
	{"unknown_top", "modbsu = {};\n" MEM_DEV, NULL, NULL, 0, 1, "unknown key modbsu"},
	/* pass-through (docs/design.md, "Pass-through") */
	{"raw_on_venus", VDEV("raw"), NULL, NULL, 0, 1,
	 "device \"a\" has a venus block but map \"raw\" is for protocol rtu"},
	{"pass_overlap", MDEV("pov"), "pov",
	 MAPHDR("pov", "solarman") "passthrough = ( { first = 0; last = 10; },\n { first = 10; last = 20; } );\n",
	 1, 3, "passthrough range holding 10..20 overlaps the range 0..10 on line 2"},
	{"pass_on_venus", MDEV("pve"), "pve",
	 MAPHDR("pve", "venus") "passthrough =\n ( { first = 0; last = 10; } );\n", 1, 2,
	 "passthrough is only for maps of protocols that carry Modbus RTU"},
	{"unknown_device", DEV("scratch") " memory = {};\n  colour = \"red\"; } );\n", NULL, NULL, 0, 2,
	 "unknown key devices.[0].colour"},
	{"unknown_powergo", DEV("powergo") " " MQTT "\n powergo = { " PG_IDS "\n  topic = \"x\"; }; } );\n",
	 NULL, NULL, 0, 3, "unknown key devices.[0].powergo.topic"},
	{"unknown_venus",
	 DEV("venus") " " MQTT "\n venus = { type = \"HMG-50\"; id = \"0123456789ab\";\n  mac = \"x\"; }; } );\n",
	 NULL, NULL, 0, 3, "unknown key devices.[0].venus.mac"},
	{"unknown_solarman", DEV("growatt") "\n solarman = { host = \"h\"; serial = 1;\n  sn = 2; }; } );\n",
	 NULL, NULL, 0, 3, "unknown key devices.[0].solarman.sn"},
	{"unknown_memory", DEV("scratch") "\n memory = {\n size = 10; }; } );\n", NULL, NULL, 0, 3,
	 "(devices.[0].memory takes no keys)"},
	/* every protocol's block */
	{"powergo_app_id", DEV("powergo") " " MQTT "\n powergo = {\n app_id = \"053461ad\"; device_id = \"15020115\"; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].powergo.app_id must be 8 upper-case hex digits"},
	{"powergo_missing_device_id", DEV("powergo") " " MQTT "\n powergo = { app_id = \"053461AD\"; }; } );\n",
	 NULL, NULL, 0, 2, "devices.[0].powergo.device_id is missing"},
	{"powergo_topic_wildcard", DEV("powergo") " " MQTT "\n powergo = { " PG_IDS "\n request_topic = \"x/+\"; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].powergo.request_topic must not contain the MQTT wildcards"},
	{"powergo_without_mqtt", DEV("powergo") "\n powergo = { " PG_IDS " }; } );\n", NULL, NULL, 0, 2,
	 "devices.[0].powergo needs an mqtt group"},
	{"venus_id_upper", DEV("venus") " " MQTT "\n venus = { type = \"HMG-50\";\n id = \"0123456789AB\"; }; } );\n",
	 NULL, NULL, 0, 3, "venus.id must be the Bluetooth MAC"},
	{"venus_type_slash", DEV("venus") " " MQTT "\n venus = {\n type = \"HMG/50\"; id = \"0123456789ab\"; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].venus.type must be one topic level"},
	{"venus_topic_long",
	 DEV("venus") " " MQTT "\n venus = { type = \"HMG-50\"; id = \"0123456789ab\";\n prefix = \""
	 "p123456789p123456789p123456789p123456789p123456789p123456789p123456789p123456789"
	 "p123456789p123456789p123456789p123456789p123456789p123456789p123456789p123456789"
	 "p123456789p123456789p123456789p123456789p123456789p123456789p123456789p123456789"
	 "\"; }; } );\n", NULL, NULL, 0, 3, "devices.[0].venus: the topic p123456789"},
	{"venus_without_mqtt", DEV("venus") "\n venus = { type = \"HMG-50\"; id = \"0123456789ab\"; }; } );\n",
	 NULL, NULL, 0, 2, "devices.[0].venus needs an mqtt group"},
	{"solarman_serial_zero", DEV("growatt") "\n solarman = { host = \"h\";\n serial = 0; }; } );\n", NULL,
	 NULL, 0, 3, "devices.[0].solarman.serial must be 1..4294967295, not 0"},
	{"solarman_slave", DEV("growatt") "\n solarman = { host = \"h\"; serial = 7;\n slave = 248; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].solarman.slave must be 1..247, not 248"},
	{"solarman_missing_host", DEV("growatt") "\n solarman = { serial = 5; }; } );\n", NULL, NULL, 0, 2,
	 "devices.[0].solarman.host is missing"},
	{"solarman_mqtt", DEV("growatt") "\n solarman = { host = \"h\"; serial = 1; };\n " MQTT " } );\n",
	 NULL, NULL, 0, 3, "devices.[0].mqtt: a solarman device does not use MQTT"},
	{"mqtt_without_block", DEV("scratch") "\n " MQTT " } );\n", NULL, NULL, 0, 1,
	 "speaks memory, which does not use MQTT; remove the mqtt group"},
	{"powergo_mqtt_without_block", DEV("powergo") "\n " MQTT " } );\n", NULL, NULL, 0, 1,
	 "map \"powergo\" speaks powergo; add a powergo = { ... } block"},
	{"modbus_both", DEV("sdm630") "\n modbus = { device = \"/dev/ttyUSB0\";\n host = \"h\"; }; } );\n",
	 NULL, NULL, 0, 2, "modbus: give either `device` (a serial line) or `host` (Modbus TCP), not both"},
	{"modbus_neither", DEV("sdm630") "\n modbus = { slave = 2; }; } );\n", NULL, NULL, 0, 2,
	 "modbus: give either `device` (a serial line) or `host` (Modbus TCP), not neither"},
	{"modbus_slave_tcp", DEV("sdm630") "\n modbus = { host = \"h\";\n slave = 2; }; } );\n", NULL,
	 NULL, 0, 3, "modbus: `slave` is a serial key; this device has `host`"},
	{"modbus_unit_serial", DEV("sdm630") "\n modbus = { device = \"/dev/ttyUSB0\";\n unit = 2; }; } );\n",
	 NULL, NULL, 0, 3, "modbus: `unit` is a TCP key; this device has `device`"},
	{"modbus_parity", DEV("sdm630") "\n modbus = { device = \"/dev/ttyUSB0\";\n parity = \"mark\"; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].modbus.parity must be one of none, even, odd"},
	{"modbus_mqtt", DEV("sdm630") "\n modbus = { host = \"h\"; };\n " MQTT " } );\n",
	 NULL, NULL, 0, 3, "devices.[0].mqtt: a modbus device does not use MQTT"},
	{"float32_writable", MDEV("fw"), "fw",
	 MAPHDR("fw", "modbus") "registers = ( { address = 0; name = \"f\";\n type = \"float32\"; access = \"rw\"; } );\n",
	 1, 3, "registers.[0].access: float32 registers are read-only"},
	{"float32_min", MDEV("fmin"), "fmin",
	 MAPHDR("fmin", "modbus") "registers = ( { address = 0; name = \"f\"; type = \"float32\";\n min = 1; } );\n",
	 1, 3, "registers.[0].min is only for integer registers"},
	{"two_blocks", DEV("growatt") " memory = {};\n solarman = { host = \"h\"; serial = 1; }; } );\n",
	 NULL, NULL, 0, 2, "has two protocol blocks, memory and solarman"},
	/* a block and its map */
	{"map_other_protocol",
	 "devices = (\n { name = \"a\"; unit_id = 1; map = \"powergo\"; " MQTT "\n"
	 "   venus = { type = \"HMG-50\"; id = \"0123456789ab\"; }; } );\n", NULL, NULL, 0, 2,
	 "device \"a\" has a venus block but map \"powergo\" is for protocol powergo"},
	{"map_without_block", "devices = (\n { name = \"a\"; unit_id = 1; map = \"growatt\"; } );\n", NULL,
	 NULL, 0, 2, "map \"growatt\" speaks solarman; add a solarman = { ... } block (or memory = {}"},
	{"map_not_found", MDEV("nosuchmap"), NULL, NULL, 0, 1, "map nosuchmap not found in"},
	{"map_bad_protocol", MDEV("badproto"), "badproto",
	 "name = \"badproto\";\nprotocol = \"profibus\"; trust = \"generated\";\n", 1, 2,
	 "protocol must be one of memory, powergo, venus, solarman, modbus, site, not \"profibus\""},
	/* maps: venus templates and keys, protocol-only keys, the linter */
	{"venus_write_placeholder", VDEV("vwrite"), "vwrite",
	 MAPHDR("vwrite", "venus") "registers = (\n"
	 "  { address = 0; name = \"p\"; key = \"cp\"; access = \"rw\";\n"
	 "    write = \"cd=16,cp={value},x={1}\"; }\n);\n", 1, 4,
	 "write must use {value} and no other placeholder"},
	{"venus_command_beyond", VDEV("vcmd"), "vcmd",
	 MAPHDR("vcmd", "venus") "registers = (\n"
	 "  { address = 0; name = \"a\"; type = \"uint32\"; access = \"w\"; },\n"
	 "  { address = 2; name = \"b\"; type = \"uint32\"; access = \"w\"; }\n);\n"
	 "commands = (\n  { name = \"ab\"; address = 0; count = 4; template = \"x={0},y={3}\"; }\n);\n",
	 1, 7, "template uses {3} but the command covers 2 registers"},
	{"venus_command_no_placeholder", VDEV("vnone"), "vnone",
	 MAPHDR("vnone", "venus") "registers = ( { address = 0; name = \"a\"; access = \"w\"; } );\n"
	 "commands = ( { name = \"a\"; address = 0; count = 1;\n  template = \"cd=5\"; } );\n", 1, 4,
	 "has no placeholder"},
	{"venus_command_string", VDEV("vstr"), "vstr",
	 MAPHDR("vstr", "venus") "registers = (\n"
	 "  { address = 0; name = \"s\"; type = \"string\"; length = 2; access = \"w\"; }\n);\n"
	 "commands = (\n  { name = \"c\"; address = 0; count = 2; template = \"s={0}\"; }\n);\n", 1, 6,
	 "command \"c\" covers string register \"s\": a venus command writes numbers only"},
	{"venus_no_key", VDEV("vkey"), "vkey",
	 MAPHDR("vkey", "venus") "registers = (\n { address = 1; name = \"a\"; } );\n", 1, 3,
	 "registers.[0].key is missing: a readable venus register"},
	{"native_in_memory", MDEV("mnative"), "mnative",
	 MAPHDR("mnative", "memory") "registers = ( { address = 1; name = \"a\";\n native = 5; } );\n", 1,
	 3, "registers.[0].native is only for powergo, solarman and modbus maps"},
	{"key_in_memory", MDEV("mkey"), "mkey",
	 MAPHDR("mkey", "memory") "registers = ( { address = 1; name = \"a\";\n key = \"pe\"; } );\n", 1, 3,
	 "registers.[0].key is only for venus maps"},
	{"lint_overlap", MDEV("overlap"), "overlap",
	 MAPHDR("overlap", "memory") "registers = (\n"
	 "  { address = 1; name = \"x\"; type = \"uint32\"; },\n  { address = 2; name = \"y\"; }\n);\n",
	 1, 4, "register \"y\" (holding 2) overlaps \"x\""},
	{"retry_readonly", MDEV("retryro"), "retryro",
	 MAPHDR("retryro", "memory") "registers = ( { address = 0; name = \"a\";\n  retry = false; } );\n",
	 1, 3, "registers.[0].retry = false is only for writable registers"},
	/* TLS */
	{"tls_ca_missing",
	 DEV("powergo") " powergo = { " PG_IDS " };\n mqtt = { tls = {\n ca_file = \"@/none/ca.pem\"; }; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].mqtt.tls.ca_file \"/"},
	{"tls_cert_without_key",
	 DEV("powergo") " powergo = { " PG_IDS " };\n mqtt = {\n tls = { ca_file = \"@/ca.pem\"; cert_file = \"@/ca.pem\"; }; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].mqtt.tls needs both cert_file and key_file"},
	{"tls_key_dir",
	 DEV("powergo") " powergo = { " PG_IDS " };\n mqtt = { tls = { ca_file = \"@/ca.pem\"; cert_file = \"@/ca.pem\";\n"
	 "    key_file = \"@\"; }; }; } );\n", NULL, NULL, 0, 3, "cannot be read: Is a directory"},
	{"status_tls_missing", MEM_DEV "status = { mqtt = {\n  tls = { ca_file = \"@/none.pem\"; }; }; };\n",
	 NULL, NULL, 0, 3, "status.mqtt.tls.ca_file"},
	{"client_id_utf8", DEV("powergo") " powergo = { " PG_IDS " };\n mqtt = {\n client_id = \"\xc3\"; }; } );\n",
	 NULL, NULL, 0, 3, "devices.[0].mqtt.client_id must be valid UTF-8"},
	/* user */
	{"user_unknown", MEM_DEV "user = \"no-such-user-mb\";\n", NULL, NULL, 0, 2,
	 "user \"no-such-user-mb\" does not exist"},
	{"user_root", MEM_DEV "\nuser = \"root\";\n", NULL, NULL, 0, 3, "user \"root\" has uid 0"},
	{"user_empty", "user = \"\";\n" MEM_DEV, NULL, NULL, 0, 1, "user must not be empty"},
	/* the rest of a device and of the file */
	{"dup_unit_id",
	 "devices = (\n { name = \"g\"; unit_id = 3; map = \"scratch\"; memory = {}; },\n"
	 " { name = \"b\";\n   unit_id = 3; map = \"scratch\"; memory = {}; }\n);\n", NULL, NULL, 0, 4,
	 "devices.[1].unit_id 3 is used by device \"g\" too"},
	{"retries_range", MEM_DEV "defaults = {\n  retries = 11; };\n", NULL, NULL, 0, 3,
	 "defaults.retries must be 0..10, not 11"},
	{"device_retries_type", DEV("scratch") " memory = {};\n  retries = \"2\"; } );\n", NULL, NULL, 0, 2,
	 "must be an integer, not a string"},
	{"syntax_error", MEM_DEV "defaults = {\n timeout == 5; };\n", NULL, NULL, 0, 3, "syntax error"},
};
/* clang-format on */

/* The case's config: the header (listen on a free loopback port, the maps
 * of the case, in a folder of its own, and of the repository), then its
 * text with '@' replaced. */
static const char *write_conf(const struct fixture *c, int port)
{
	char buf[8192], name[128];
	size_t used = (size_t)snprintf(buf, sizeof buf,
				       "server = { listen = \"127.0.0.1\"; port = %d; };\n"
				       "maps_path = [ \"%s/%s/maps\", \"%s\" ];\n",
				       port, h_dir(), c->name, h_maps_dir());
	for (const char *t = c->conf; *t && used + 600 < sizeof buf; t++) {
		if (*t == '@')
			used += (size_t)snprintf(buf + used, sizeof buf - used, "%s", h_dir());
		else
			buf[used++] = *t;
	}
	buf[used] = '\0';
	snprintf(name, sizeof name, "%s.conf", c->name);
	return h_write_file(name, buf);
}

/* Does every line of the --check message appear in start's output? */
static int same_message(const char *check, const char *start)
{
	char line[4096];
	const char *p = check;
	int lines = 0;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n >= sizeof line)
			n = sizeof line - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		if (n && !strstr(start, line))
			return 0;
		lines += n > 0;
		p += nl ? (size_t)(nl - p) + 1 : strlen(p);
	}
	return lines > 0;
}

/* Printable for "ok" lines. */
static const char *shown(char *s)
{
	for (char *o = s; *o; o++)
		if ((unsigned char)*o < 0x20 || (unsigned char)*o > 0x7e)
			*o = '?';
	return s;
}

/* A case in flight: `modbridge --check -c F` and `modbridge -c F` (under
 * valgrind when VALGRIND=1: an error or a leak makes the status 99), both
 * started at once; several cases run side by side (under valgrind each run
 * takes seconds, one after the other they took minutes). */
struct runs {
	const struct fixture *c;
	char path[512], want[1024];
	pid_t check, start;
};

#define IN_FLIGHT 4

static void begin(struct runs *r, const struct fixture *c)
{
	char mpath[600], rel[300];
	int port = h_free_port();
	r->c = c;
	snprintf(rel, sizeof rel, "%s/maps", c->name);
	const char *mk[] = {"mkdir", "-p", h_path(rel), NULL};
	h_run(mk, NULL, 0, 2000);
	if (c->map) {
		snprintf(rel, sizeof rel, "%s/maps/%s.conf", c->name, c->map_name);
		snprintf(mpath, sizeof mpath, "%s", h_write_file(rel, c->map));
	}
	snprintf(r->path, sizeof r->path, "%s", write_conf(c, port));
	if (c->in_map)
		snprintf(r->want, sizeof r->want, "%s:%d: ", mpath, c->line);
	else
		snprintf(r->want, sizeof r->want, "%s:%d: ", r->path, c->line + 2);
	const char *check[] = {"--check", "-c", r->path, NULL};
	const char *start[] = {"-c", r->path, NULL};
	snprintf(rel, sizeof rel, "%s.check.out", c->name);
	r->check = h_bridge_spawn(check, rel);
	snprintf(rel, sizeof rel, "%s.start.out", c->name);
	r->start = h_bridge_spawn(start, rel);
}

static void finish(struct runs *r)
{
	const struct fixture *c = r->c;
	char inner[1100], cpy[400], name[160];
	snprintf(inner, sizeof inner, "\": %s", r->want);

	int rc = h_wait_exit(r->check, 60000);
	snprintf(name, sizeof name, "%s.check.out", c->name);
	h_read_file(h_path(name), out_check, sizeof out_check);
	int where = strncmp(out_check, r->want, strlen(r->want)) == 0 || strstr(out_check, inner);
	snprintf(cpy, sizeof cpy, "%.300s", out_check);
	h_ok(rc == 1 && where && strstr(out_check, c->phrase),
	     "%s: --check refuses it: exit %d, \"%s...%s\" (%s)", c->name, rc, r->want, c->phrase,
	     shown(cpy));

	int src = h_wait_exit(r->start, 60000);
	snprintf(name, sizeof name, "%s.start.out", c->name);
	h_read_file(h_path(name), out_start, sizeof out_start);
	snprintf(cpy, sizeof cpy, "%.300s", out_start);
	h_ok(src == 1 && same_message(out_check, out_start),
	     "%s: start refuses it with the same message: exit %d (%s)", c->name, src, shown(cpy));
}

int main(void)
{
	static struct runs ring[IN_FLIGHT];
	h_init("check_start");
	h_write_file("ca.pem", "not read here: libmosquitto reads it when connecting\n");
	size_t n = sizeof cases / sizeof cases[0];
	for (size_t i = 0; i < n && i < IN_FLIGHT; i++)
		begin(&ring[i], &cases[i]);
	for (size_t i = 0; i < n; i++) {
		finish(&ring[i % IN_FLIGHT]);
		if (i + IN_FLIGHT < n)
			begin(&ring[i % IN_FLIGHT], &cases[i + IN_FLIGHT]);
	}
	h_note("%zu fixtures, each through --check and start", n);
	return h_done();
}

/* Unit tests of the config loader (bridge/config.c). Every error case is a
 * config text written to a temporary file; the test checks the exact
 * "file:line: " prefix and a phrase of the message. Valid configs check that
 * every key lands in its field and that defaults are filled. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "config.h"
#include "config_mqtt.h"
#include "export_config.h"
#include "harness.h"
#include "keys.h"
#include "mb_error.h"
#include "protocol.h"

/* Write text to a new file in the temporary folder; returns its path. */
static const char *write_conf(const char *name, const char *text)
{
	const char *p = h_write_file(name, text);
	assert_non_null(p);
	return p;
}

static int setup(void **state)
{
	(void)state;
	h_init("config"); /* a temporary folder, removed at exit */
	return 0;
}

/* A device's protocol: its name, or "none" without a block. */
static const char *proto_name(const struct config_device *d)
{
	return d->proto ? d->proto->name : "none";
}

/* A key of the device's protocol block, found in the protocol's key table
 * (the block is the protocol's own struct, read through the table's
 * offsets). */
static const struct config_key *block_key(const struct config_device *d, const char *name)
{
	assert_non_null(d->proto);
	for (size_t i = 0; i < d->proto->nkeys; i++)
		if (strcmp(d->proto->keys[i].name, name) == 0)
			return &d->proto->keys[i];
	fail_msg("%s has no key %s", d->proto->name, name);
	return NULL;
}

static const char *block_str(const struct config_device *d, const char *name)
{
	const struct config_key *k = block_key(d, name);
	const char *v;
	assert_int_equal(k->kind, CONFIG_K_STRING);
	memcpy(&v, (const char *)d->proto_cfg + k->off, sizeof v);
	return v;
}

static int64_t block_int(const struct config_device *d, const char *name)
{
	const struct config_key *k = block_key(d, name);
	const char *field = (const char *)d->proto_cfg + k->off;
	if (k->kind == CONFIG_K_UINT32) {
		uint32_t v;
		memcpy(&v, field, sizeof v);
		return v;
	}
	assert_int_equal(k->kind, CONFIG_K_INT);
	int v;
	memcpy(&v, field, sizeof v);
	return v;
}

/* --- error cases --------------------------------------------------------- */

struct err_case {
	const char *name;
	const char *text;
	int line;	    /* expected line; 0: "file: " without a line */
	const char *phrase; /* expected in the message */
};

#define MEM_DEV "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n"
#define PG_MQTT "mqtt = { host = \"127.0.0.1\"; };"
#define PG_IDS "app_id = \"053461AD\"; device_id = \"15020115\";"

/* clang-format off */
static const struct err_case err_cases[] = {
	/* unknown keys, one per group */
	{"unknown_top", "modbsu = {};\n" MEM_DEV, 1,
	 "unknown key modbsu (the top level takes server, maps_path, "},
	{"unknown_server", "server = {\n  prot = 502;\n};\n" MEM_DEV, 2,
	 "unknown key server.prot (server takes listen, port"},
	/* The server group's old name is still read; messages name its keys
	 * as the file spells them. Only one of the two names. */
	{"unknown_modbus", "  modbus = {\n  prot = 502;\n};\n" MEM_DEV, 2,
	 "unknown key modbus.prot (modbus takes listen, port"},
	{"server_twice", "server = { port = 1502; };\n  modbus = { port = 1503; };\n" MEM_DEV, 2,
	 "\"modbus\" is the old name of the \"server\" group, which is here too (line 1): keep one"},
	{"listener_named_server", MEM_DEV "listeners = ( { name = \"server\"; port = 1503; } );\n", 2,
	 "listeners.[0].name \"server\" is the name of the server block's listener"},
	{"listener_named_modbus", MEM_DEV "listeners = ( { name = \"modbus\"; port = 1503; } );\n", 2,
	 "listeners.[0].name \"modbus\" is the name of the server block's listener"},
	{"unknown_defaults", MEM_DEV "defaults = {\n timeout = 1;\n polll = 0; };\n", 4,
	 "unknown key defaults.polll"},
	{"unknown_status", "status = {\n  intervall = 5;\n};\n" MEM_DEV, 2,
	 "unknown key status.intervall"},
	{"unknown_status_mqtt", "status = { mqtt = {\n hots = \"x\"; }; };\n" MEM_DEV, 2,
	 "unknown key status.mqtt.hots"},
	{"unknown_device",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n  colour = \"red\"; } );\n",
	 2, "unknown key devices.[0].colour"},
	{"unknown_device_mqtt",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n powergo = { " PG_IDS " };\n"
	 " mqtt = {\n  host = \"h\";\n  hots = \"x\"; }; } );\n",
	 5, "unknown key devices.[0].mqtt.hots"},
	{"unknown_tls",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = { tls = { ca_file = \"ca\";\n crt = \"c\"; }; }; } );\n",
	 3, "unknown key devices.[0].mqtt.tls.crt"},
	{"unknown_powergo",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " powergo = { " PG_IDS "\n  topic = \"x\"; }; } );\n",
	 3, "unknown key devices.[0].powergo.topic"},
	{"unknown_venus",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = { type = \"HMG-50\"; id = \"0123456789ab\";\n  mac = \"x\"; }; } );\n",
	 3, "unknown key devices.[0].venus.mac"},
	{"unknown_solarman",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n"
	 " solarman = { host = \"h\"; serial = 1;\n  sn = 2; }; } );\n",
	 3, "unknown key devices.[0].solarman.sn"},
	{"unknown_memory",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n memory = {\n size = 10; }; } );\n", 3,
	 "unknown key devices.[0].memory.size (devices.[0].memory takes no keys)"},

	/* wrong types */
	{"type_port", "server = {\n  port = \"502\";\n};\n" MEM_DEV, 2,
	 "server.port must be an integer, not a string"},
	{"type_read_only",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n read_only = 1; } );\n",
	 2, "devices.[0].read_only must be true or false, not an integer"},
	{"type_float_unit_id",
	 "devices = ( { name = \"a\";\n unit_id = 1.5; map = \"m\"; memory = {}; } );\n", 2,
	 "devices.[0].unit_id must be an integer, not a float"},
	{"type_group_modbus", "modbus = 502;\n" MEM_DEV, 1,
	 "modbus must be a group { ... }, not an integer"},
	{"type_maps_path", "maps_path = 1;\n" MEM_DEV, 1,
	 "maps_path must be a list of strings"},
	{"type_maps_path_elem", "maps_path = [\n 1 ];\n" MEM_DEV, 2,
	 "maps_path.[0] must be a string, not an integer"},
	{"type_devices", "devices = { a = 1; };\n", 1, "devices must be a list ( { ... }, ... )"},
	{"type_device_elem", "devices = (\n \"a\" );\n", 2,
	 "devices.[0] must be a group { name = ...; ... }, not a string"},
	{"type_mqtt_string",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = \"localhost\"; } );\n",
	 2, "devices.[0].mqtt must be a group { ... }, not a string"},

	/* ranges */
	{"range_port", "server = {\n  port = 70000;\n};\n" MEM_DEV, 2,
	 "server.port must be 1..65535, not 70000"},
	{"range_port_zero", "server = { listen = \"::\";\n port = 0; };\n" MEM_DEV, 2,
	 "server.port must be 1..65535, not 0"},
	{"range_max_connections", "server = {\n max_connections = 10001; };\n" MEM_DEV, 2,
	 "server.max_connections must be 1..10000, not 10001"},
	{"range_idle_timeout", "server = {\n idle_timeout = -1; };\n" MEM_DEV, 2,
	 "server.idle_timeout must be >= 0 (s), not -1"},
	{"range_unit_id",
	 "devices = ( { name = \"a\";\n unit_id = 248; map = \"m\"; memory = {}; } );\n", 2,
	 "devices.[0].unit_id must be 1..247, not 248"},
	{"range_unit_id_zero",
	 "devices = ( { name = \"a\";\n unit_id = 0; map = \"m\"; memory = {}; } );\n", 2,
	 "devices.[0].unit_id must be 1..247, not 0"},
	{"range_defaults_timeout", MEM_DEV "defaults = {\n timeout = 0; };\n", 3,
	 "defaults.timeout must be >= 1 (ms), not 0"},
	{"range_defaults_poll", MEM_DEV "defaults = {\n poll = -5; };\n", 3,
	 "defaults.poll must be >= 0 (ms), not -5"},
	{"range_device_timeout",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n timeout = 0; } );\n",
	 2, "devices.[0].timeout must be >= 1 (ms), not 0"},
	{"range_device_max_age",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n max_age = -1; } );\n",
	 2, "devices.[0].max_age must be >= 0 (ms), not -1"},
	{"range_status_interval", "status = {\n interval = 0; };\n" MEM_DEV, 2,
	 "status.interval must be 1..86400 (s), not 0"},
	{"range_qos",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = {\n qos = 3; }; } );\n",
	 3, "devices.[0].mqtt.qos must be 0..2, not 3"},
	{"range_mqtt_port",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = {\n port = 65536; }; } );\n",
	 3, "devices.[0].mqtt.port must be 1..65535, not 65536"},
	{"range_keepalive", "status = { mqtt = {\n keepalive = 1; }; };\n" MEM_DEV, 2,
	 "status.mqtt.keepalive must be 5..65535 (s), not 1"},
	{"range_serial_zero",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n solarman = { host = \"h\";\n"
	 " serial = 0; }; } );\n",
	 3, "devices.[0].solarman.serial must be 1..4294967295, not 0"},
	{"range_serial_big",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n solarman = { host = \"h\";\n"
	 " serial = 4294967296L; }; } );\n",
	 3, "devices.[0].solarman.serial must be 1..4294967295, not 4294967296"},
	{"range_slave",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n solarman = { host = \"h\"; serial = 7;\n"
	 " slave = 248; }; } );\n",
	 3, "devices.[0].solarman.slave must be 1..247, not 248"},
	{"range_solarman_port",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n solarman = { host = \"h\"; serial = 7;\n"
	 " port = 0; }; } );\n",
	 3, "devices.[0].solarman.port must be 1..65535, not 0"},

	/* duplicates */
	{"dup_unit_id",
	 "devices = (\n { name = \"garage\"; unit_id = 3; map = \"m\"; memory = {}; },\n"
	 " { name = \"b\";\n   unit_id = 3; map = \"m\"; memory = {}; }\n);\n",
	 4, "devices.[1].unit_id 3 is used by device \"garage\" too"},
	{"dup_name",
	 "devices = (\n { name = \"a\"; unit_id = 1; map = \"m\"; memory = {}; },\n"
	 " { unit_id = 2;\n   name = \"a\"; map = \"m\"; memory = {}; }\n);\n",
	 4, "devices.[1].name \"a\" is used by another device too (line 2)"},
	{"dup_key", "server = {\n port = 1;\n port = 2; };\n" MEM_DEV, 3, "duplicate setting name"},

	/* protocol identifiers */
	{"powergo_app_id_lower",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " powergo = {\n app_id = \"053461ad\"; device_id = \"15020115\"; }; } );\n",
	 3, "devices.[0].powergo.app_id must be 8 upper-case hex digits, not \"053461ad\""},
	{"powergo_app_id_short",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " powergo = {\n app_id = \"053461A\"; device_id = \"15020115\"; }; } );\n",
	 3, "devices.[0].powergo.app_id must be 8 upper-case hex digits"},
	{"powergo_device_id_bad",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " powergo = { app_id = \"053461AD\";\n device_id = \"1502011G\"; }; } );\n",
	 3, "devices.[0].powergo.device_id must be 8 upper-case hex digits"},
	{"powergo_topic_wildcard",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " powergo = { " PG_IDS "\n request_topic = \"x/+\"; }; } );\n",
	 3, "devices.[0].powergo.request_topic must not contain the MQTT wildcards"},
	{"venus_id_colons",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = { type = \"HMG-50\";\n id = \"01:23:45:67:89:ab\"; }; } );\n",
	 3, "devices.[0].venus.id must be the Bluetooth MAC: 12 lower-case hex digits"},
	{"venus_id_upper",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = { type = \"HMG-50\";\n id = \"0123456789AB\"; }; } );\n",
	 3, "venus.id must be the Bluetooth MAC: 12 lower-case hex digits, not \"0123456789AB\""},
	{"venus_type_slash",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = {\n type = \"HMG/50\"; id = \"0123456789ab\"; }; } );\n",
	 3, "devices.[0].venus.type must be one topic level: at most 64 characters, without /, +, #"},
	{"venus_type_long",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = {\n type = \"" "HMG-50-0123456789012345678901234567890123456789012345678901234567"
	 "\"; id = \"0123456789ab\"; }; } );\n",
	 3, "devices.[0].venus.type must be one topic level: at most 64 characters"},

	/* missing keys */
	{"missing_powergo_device_id",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " powergo = { app_id = \"053461AD\"; }; } );\n",
	 2, "devices.[0].powergo.device_id is missing"},
	{"missing_venus_type",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = { id = \"0123456789ab\"; }; } );\n",
	 2, "devices.[0].venus.type is missing"},
	{"missing_venus_id",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = { type = \"HMG-50\"; }; } );\n",
	 2, "devices.[0].venus.id is missing"},
	{"missing_solarman_serial",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n"
	 " solarman = { host = \"h\"; }; } );\n",
	 2, "devices.[0].solarman.serial is missing"},
	{"missing_solarman_host",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n"
	 " solarman = { serial = 5; }; } );\n",
	 2, "devices.[0].solarman.host is missing"},
	{"missing_device_name", "devices = (\n { unit_id = 1; map = \"m\"; memory = {}; } );\n", 2,
	 "devices.[0].name is missing"},
	{"missing_device_map", "devices = (\n { name = \"a\"; unit_id = 1; memory = {}; } );\n", 2,
	 "devices.[0].map is missing"},
	{"missing_unit_id", "devices = (\n { name = \"a\"; map = \"m\"; memory = {}; } );\n", 2,
	 "devices.[0].unit_id is missing"},
	{"missing_tls_ca",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = {\n tls = { cert_file = \"c\"; key_file = \"k\"; }; }; } );\n",
	 3, "devices.[0].mqtt.tls.ca_file is missing"},

	/* protocol blocks and MQTT */
	{"two_blocks",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n"
	 " solarman = { host = \"h\"; serial = 1; }; } );\n",
	 2, "devices.[0] has two protocol blocks, memory and solarman: keep one"},
	{"two_blocks_mqtt",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = { type = \"HMG-50\"; id = \"0123456789ab\"; };\n"
	 " powergo = { " PG_IDS " }; } );\n",
	 3, "devices.[0] has two protocol blocks, venus and powergo"},
	{"mqtt_on_solarman",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n"
	 " solarman = { host = \"h\"; serial = 1; };\n " PG_MQTT " } );\n",
	 3, "devices.[0].mqtt: a solarman device does not use MQTT"},
	{"mqtt_on_memory",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n " PG_MQTT " } );\n", 2,
	 "devices.[0].mqtt: a memory device does not use MQTT"},
	{"powergo_without_mqtt",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n powergo = { " PG_IDS " }; } );\n",
	 2, "devices.[0].powergo needs an mqtt group"},
	{"venus_without_mqtt",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\";\n"
	 " venus = { type = \"HMG-50\"; id = \"0123456789ab\"; }; } );\n",
	 2, "devices.[0].venus needs an mqtt group"},
	{"password_without_user",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = { password = \"pw\"; }; } );\n",
	 2, "devices.[0].mqtt has a password but no username"},
	{"tls_cert_without_key",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = {\n tls = { ca_file = \"ca\"; cert_file = \"c\"; }; }; } );\n",
	 3, "devices.[0].mqtt.tls needs both cert_file and key_file"},

	/* values */
	{"allow_bad", "server = { allow = [ \"10.0.0.0/8\",\n \"bogus\" ]; };\n" MEM_DEV, 2,
	 "server.allow.[1] must be an address or network such as \"192.168.1.0/24\""},
	{"allow_prefix", "server = { allow = [\n \"10.0.0.0/33\" ]; };\n" MEM_DEV, 2,
	 "server.allow.[0] must be an address or network"},
	{"allow_empty", "server = {\n allow = [ ]; };\n" MEM_DEV, 2, "server.allow must not be empty"},
	{"listen_bad", "server = {\n listen = \"localhost\"; };\n" MEM_DEV, 2,
	 "server.listen must be an IPv4 or IPv6 address"},
	{"maps_path_empty_string", "maps_path = [ \"/x\",\n \"\" ];\n" MEM_DEV, 2,
	 "maps_path.[1] must not be empty"},
	{"device_name_empty",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {}; },\n"
	 " { name = \"\"; unit_id = 2; map = \"m\"; memory = {}; } );\n",
	 2, "devices.[1].name must not be empty"},
	{"device_name_chars",
	 "devices = (\n { name = \"my garage\"; unit_id = 1; map = \"m\"; memory = {}; } );\n", 2,
	 "devices.[0].name may hold only letters, digits"},
	{"device_map_path",
	 "devices = (\n { name = \"a\"; unit_id = 1; map = \"../etc/x\"; memory = {}; } );\n", 2,
	 "devices.[0].map must be a map name"},
	{"devices_empty", "devices = (\n);\n", 1,
	 "devices is empty: configure at least one device"},
	{"user_empty", "user = \"\";\n" MEM_DEV, 1, "user must not be empty"},
	/* What starting refuses, --check (which runs this loader) refuses too. */
	{"user_unknown", MEM_DEV "\nuser = \"no-such-user-mb\";\n", 3,
	 "user \"no-such-user-mb\" does not exist"},
	{"user_root", MEM_DEV "user =\n \"root\";\n", 2,
	 "user \"root\" has uid 0: the daemon would still be able to regain root"},
	{"user_type", "user = 0;\n" MEM_DEV, 1, "user must be a string, not an integer"},
	{"tls_ca_missing",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = { tls = {\n ca_file = \"/nonexistent/ca.pem\"; }; }; } );\n",
	 3, "devices.[0].mqtt.tls.ca_file \"/nonexistent/ca.pem\" cannot be read: No such file"},
	{"tls_ca_directory",
	 "status = { mqtt = { tls = {\n\n ca_file = \"/\"; }; }; };\n" MEM_DEV,
	 3, "status.mqtt.tls.ca_file \"/\" cannot be read: Is a directory"},
	/* A device or FIFO is refused without opening it for good (a FIFO
	 * would block); /etc/passwd stands for a readable regular file. */
	{"tls_cert_not_regular",
	 "status = { mqtt = { tls = { ca_file = \"/etc/passwd\";\n cert_file = \"/dev/null\";\n"
	 " key_file = \"/etc/passwd\"; }; }; };\n" MEM_DEV,
	 2, "status.mqtt.tls.cert_file \"/dev/null\" is not a regular file"},
	{"venus_topic_long",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " venus = { type = \"HMG-50\"; id = \"0123456789ab\";\n prefix = \""
	 "p123456789p123456789p123456789p123456789p123456789p123456789p123456789p123456789"
	 "p123456789p123456789p123456789p123456789p123456789p123456789p123456789p123456789"
	 "p123456789p123456789p123456789p123456789p123456789p123456789p123456789p123456789"
	 "\"; }; } );\n",
	 3, "devices.[0].venus: the topic p123456789"},
	{"status_username_utf8", "status = { mqtt = {\n username = \"a\xff\"; }; };\n" MEM_DEV, 2,
	 "status.mqtt.username must be valid UTF-8"},
	{"client_id_utf8",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; powergo = { " PG_IDS " };\n"
	 " mqtt = {\n client_id = \"\xc3\"; }; } );\n",
	 3, "devices.[0].mqtt.client_id must be valid UTF-8"},
	{"topic_utf8",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT "\n"
	 " powergo = { " PG_IDS "\n response_topic = \"r\xe0\x80\"; }; } );\n",
	 3, "devices.[0].powergo.response_topic must be valid UTF-8"},

	/* server.default_unit names a device; passthrough_cache has bounds */
	{"default_unit_unknown", "server = {\n default_unit = \"b\"; };\n" MEM_DEV, 2,
	 "server.default_unit \"b\" is not the name of a device (the devices are \"a\")"},
	{"default_unit_type", "server = {\n default_unit = 1; };\n" MEM_DEV, 2,
	 "server.default_unit must be a string"},
	{"passthrough_cache_range",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n passthrough_cache = 100; } );\n",
	 2, "devices.[0].passthrough_cache must be 256..131072"},

	/* retries: 0..10 per device and in the defaults */
	{"retries_range", MEM_DEV "defaults = {\n retries = 11; };\n", 3,
	 "defaults.retries must be 0..10, not 11"},
	{"retries_negative",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n retries = -1; } );\n",
	 2, "devices.[0].retries must be 0..10, not -1"},
	{"retries_type",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; memory = {};\n retries = \"2\"; } );\n",
	 2, "devices.[0].retries must be an integer, not a string"},
	{"retries_float", MEM_DEV "defaults = {\n retries = 2.0; };\n", 3,
	 "defaults.retries must be an integer, not a float"},
	{"status_prefix_wildcard", "status = {\n prefix = \"a/#\"; };\n" MEM_DEV, 2,
	 "status.prefix must not contain the MQTT wildcards"},

	/* The same battery twice on one broker, with another device between
	 * them: the peer check sorts by hash, so file order must not hide it. */
	{"same_peer_apart",
	 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; " PG_MQTT " powergo = { " PG_IDS " }; },\n"
	 " { name = \"b\"; unit_id = 2; map = \"m\"; " PG_MQTT
	 " powergo = { app_id = \"053461AD\"; device_id = \"15020116\"; }; },\n"
	 " { name = \"c\"; unit_id = 3; map = \"m\"; " PG_MQTT "\n powergo = { " PG_IDS " }; } );\n",
	 4, "app_id 053461AD, device_id 15020115 is device \"a\"'s too (line 1)"},

	/* syntax: libconfig's own message */
	{"syntax_error", "server = {\n  port = ;\n};\n" MEM_DEV, 2, "syntax error"},
	{"syntax_double_equals", MEM_DEV "defaults = {\n timeout == 5; };\n", 3, "syntax error"},
};
/* clang-format on */

static void test_error_case(void **state)
{
	const struct err_case *c = *state;
	char name[96], prefix[400], err[1024] = "";
	struct config *conf = (struct config *)1;
	const char *path;
	int rc;

	snprintf(name, sizeof name, "%s.conf", c->name);
	path = write_conf(name, c->text);
	rc = config_load(path, &conf, err, sizeof err);
	if (rc == 0) {
		config_free(conf);
		fail_msg("%s: loaded, expected \"%s\"", c->name, c->phrase);
	}
	assert_int_equal(rc, MB_EPARSE);
	assert_null(conf);
	if (c->line)
		snprintf(prefix, sizeof prefix, "%s:%d: ", path, c->line);
	else
		snprintf(prefix, sizeof prefix, "%s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("%s: expected prefix \"%s\", got \"%s\"", c->name, prefix, err);
	if (!strstr(err, c->phrase))
		fail_msg("%s: expected \"%s\" in \"%s\"", c->name, c->phrase, err);
	/* One line, no trailing newline: callers print it as is. */
	assert_null(strchr(err, '\n'));
}

static void test_devices_missing(void **state)
{
	char err[512];
	struct config *conf;
	const char *path = write_conf("nodev.conf", "server = { port = 1502; };\n");
	(void)state;
	assert_int_equal(config_load(path, &conf, err, sizeof err), MB_EPARSE);
	char want[300];
	snprintf(want, sizeof want, "%s: devices is missing", path);
	assert_string_equal(err, want);
}

/* The server group's old name, `modbus`, and `listener = "modbus"` load as
 * `server` and "server" do, each with a warning that names file:line and
 * the spelling to use; the new spelling loads without one. */
static void test_old_server_name(void **state)
{
	char err[512], want[600];
	struct config *c;
	(void)state;
	const char *path =
	    write_conf("old_server.conf",
		       "  modbus = { port = 1502; default_unit = \"a\"; };\n"
		       "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {};\n"
		       "  listener = \"modbus\"; },\n"
		       "  { name = \"b\"; unit_id = 1; map = \"scratch\"; memory = {}; listener = "
		       "\"vpp\"; } );\n"
		       "listeners = ( { name = \"vpp\"; port = 1503; } );\n");
	assert_int_equal(config_load(path, &c, err, sizeof err), 0);
	assert_int_equal(c->server.port, 1502);
	assert_string_equal(c->server.default_unit, "a");
	assert_true(c->server_old_name);
	assert_null(c->devices[0].listener); /* the server block's, as without the key */
	assert_int_equal(c->devices[0].listener_idx, 0);
	assert_int_equal(c->devices[1].listener_idx, 1);
	assert_non_null(c->warnings);
	snprintf(want, sizeof want,
		 "%s:1: warning: the top-level \"modbus\" group is now called \"server\" (a "
		 "device's \"modbus\" block is Modbus equipment): write server = { ... }\n"
		 "%s:3: warning: devices.[0].listener \"modbus\" is the old name of the server "
		 "block's listener: write \"server\" (or leave listener out)",
		 path, path);
	assert_string_equal(c->warnings, want);
	config_free(c);

	path =
	    write_conf("new_server.conf",
		       "server = { port = 1502; default_unit = \"a\"; };\n"
		       "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {};\n"
		       "  listener = \"server\"; } );\n");
	assert_int_equal(config_load(path, &c, err, sizeof err), 0);
	assert_int_equal(c->server.port, 1502);
	assert_false(c->server_old_name);
	assert_null(c->devices[0].listener);
	assert_null(c->warnings);
	config_free(c);

	/* A unit ID is unique on the server block's listener whichever way a
	 * device names it. */
	path = write_conf(
	    "same_unit.conf",
	    "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; },\n"
	    "  { name = \"b\"; unit_id = 1; map = \"scratch\"; memory = {};\n"
	    "    listener = \"modbus\"; } );\n");
	assert_int_equal(config_load(path, &c, err, sizeof err), MB_EPARSE);
	assert_non_null(strstr(err, "unit_id 1 is used by device \"a\" too"));
}

static void test_missing_file(void **state)
{
	char err[512], path[128];
	struct config *conf;
	(void)state;
	snprintf(path, sizeof path, "%s/does-not-exist.conf", h_dir());
	assert_int_equal(config_load(path, &conf, err, sizeof err), MB_ENOENT);
	assert_null(conf);
	assert_non_null(strstr(err, "does-not-exist.conf: cannot open: "));
}

static void test_include_error(void **state)
{
	char err[512];
	struct config *conf;
	write_conf("inc.conf", "defaults = {\n timeout = ;\n};\n");
	const char *path = write_conf("main_inc.conf", MEM_DEV "@include \"inc.conf\"\n");
	(void)state;
	assert_int_equal(config_load(path, &conf, err, sizeof err), MB_EPARSE);
	/* The error names the included file and its line. */
	assert_non_null(strstr(err, "inc.conf:2: "));
	assert_non_null(strstr(err, "syntax error"));
}

static void test_include_key_error(void **state)
{
	char err[512];
	struct config *conf;
	write_conf("inc2.conf", "defaults = {\n timeout = 0;\n};\n");
	const char *path = write_conf("main_inc2.conf", MEM_DEV "@include \"inc2.conf\"\n");
	(void)state;
	assert_int_equal(config_load(path, &conf, err, sizeof err), MB_EPARSE);
	assert_non_null(strstr(err, "inc2.conf:2: defaults.timeout must be >= 1"));
}

/* --- valid configs ------------------------------------------------------- */

static void test_minimal_defaults(void **state)
{
	char err[512] = "";
	struct config *c;
	const char *path = write_conf("min.conf", MEM_DEV);
	(void)state;
	assert_int_equal(config_load(path, &c, err, sizeof err), 0);
	assert_string_equal(err, "");
	assert_string_equal(c->path, path);
	assert_string_equal(c->server.listen, "0.0.0.0");
	assert_int_equal(c->server.port, 502);
	assert_int_equal(c->server.max_connections, 64);
	assert_int_equal(c->server.idle_timeout, 120);
	assert_null(c->server.allow);
	assert_int_equal(c->server.nallow, 0);
	assert_int_equal(c->nmaps_path, 2);
	assert_string_equal(c->maps_path[0], "/etc/modbridge/maps");
	assert_string_equal(c->maps_path[1], "/usr/share/modbridge/maps");
	assert_int_equal(c->defaults.timeout, 3000);
	assert_int_equal(c->defaults.max_age, 1000);
	assert_int_equal(c->defaults.poll, 0);
	assert_int_equal(c->defaults.min_interval, 0);
	assert_int_equal(c->defaults.retries, -1); /* the built-in default applies */
	assert_null(c->user);
	assert_int_equal(c->status.enabled, 0);
	assert_string_equal(c->status.prefix, "modbridge");
	assert_int_equal(c->status.interval, 60);
	assert_string_equal(c->status.mqtt.host, "127.0.0.1");
	assert_int_equal(c->status.mqtt.port, 1883);

	assert_int_equal(c->ndevices, 1);
	const struct config_device *d = &c->devices[0];
	assert_string_equal(d->name, "a");
	assert_int_equal(d->unit_id, 1);
	assert_string_equal(d->map, "scratch");
	assert_int_equal(d->read_only, 0);
	assert_int_equal(d->timeout, -1);
	assert_int_equal(d->max_age, -1);
	assert_int_equal(d->poll, -1);
	assert_int_equal(d->min_interval, -1);
	assert_int_equal(d->retries, -1);
	assert_string_equal(proto_name(d), "memory");
	assert_int_equal(d->has_mqtt, 0);
	assert_int_equal(d->line, 1);
	config_free(c);
}

/* Every key the config knows, with values that differ from the defaults. */
/* clang-format off */
static const char full_conf[] =
	"server = {\n"
	"  listen = \"::\";\n"
	"  port = 1502;\n"
	"  max_connections = 10;\n"
	"  idle_timeout = 0;\n"
	"  allow = [ \"127.0.0.1\", \"192.168.1.0/24\", \"fd00::/8\" ];\n"
	"};\n"
	"maps_path = [ \"maps\", \"/opt/maps\" ];\n"
	"defaults = { timeout = 5000; max_age = 2000L; poll = 60000; min_interval = 100; retries = 10; };\n"
	"user = \"nobody\";\n"
	"status = {\n"
	"  mqtt = { host = \"broker\"; port = 1884; username = \"u\"; password = \"p\";\n"
	"           client_id = \"status\"; keepalive = 30; qos = 1; };\n"
	"  prefix = \"site/modbridge\";\n"
	"  interval = 15;\n"
	"};\n"
	"devices = (\n"
	"  { name = \"garage\"; unit_id = 1; map = \"powergo\"; read_only = true;\n" /* 18 */
	"    timeout = 4000; max_age = 0; poll = 10000; min_interval = 500; retries = 0;\n"
	"    mqtt = { host = \"10.0.0.1\"; port = 8884; username = \"user\"; password = \"pw\";\n"
	"             client_id = \"APP053461AD\"; keepalive = 120; qos = 2;\n"
	"             tls = { ca_file = \"@/ca.pem\"; cert_file = \"@/c.pem\"; key_file = \"@/k.pem\"; }; };\n"
	"    powergo = { app_id = \"053461AD\"; device_id = \"15020115\";\n"
	"                request_topic = \"req/15020115\"; response_topic = \"resp/053461AD\"; };\n"
	"  },\n"
	"  { name = \"balcony\"; unit_id = 2; map = \"venus\";\n" /* 26 */
	"    mqtt = { tls = { ca_file = \"@/ca.pem\"; }; };\n"
	"    venus = { type = \"HMG-50\"; id = \"0123456789ab\"; prefix = \"marstek_energy\"; };\n"
	"  },\n"
	"  { name = \"inverter\"; unit_id = 247L; map = \"growatt\";\n"
	"    solarman = { host = \"192.168.1.50\"; port = 8898; serial = 4294967295L; slave = 247; };\n"
	"  },\n"
	"  { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = {}; },\n"
	"  { name = \"bare\"; unit_id = 11; map = \"scratch\"; },\n"
	"  { name = \"venus2\"; unit_id = 12; map = \"venus\"; mqtt = {};\n"
	"    venus = { type = \"HMG-25\"; id = \"abcdefabcdef\"; }; }\n"
	");\n";
/* clang-format on */

/* text with every '@' replaced by the temporary folder (caller frees) */
static char *with_dir(const char *text)
{
	size_t n = strlen(h_dir()), len = 1;
	for (const char *t = text; *t; t++)
		len += *t == '@' ? n : 1;
	char *out = malloc(len), *o = out;
	assert_non_null(out);
	for (const char *t = text; *t; t++) {
		if (*t == '@') {
			memcpy(o, h_dir(), n);
			o += n;
		} else {
			*o++ = *t;
		}
	}
	*o = '\0';
	return out;
}

static void test_full_config(void **state)
{
	char err[512] = "", want[512];
	struct config *c;
	char *text = with_dir(full_conf);
	(void)state;
	/* The TLS files must exist and be readable (start needs them). */
	write_conf("ca.pem", "ca\n");
	write_conf("c.pem", "cert\n");
	write_conf("k.pem", "key\n");
	const char *path = write_conf("full.conf", text);
	free(text);
	if (config_load(path, &c, err, sizeof err) != 0)
		fail_msg("%s", err);

	assert_string_equal(c->server.listen, "::");
	assert_int_equal(c->server.port, 1502);
	assert_int_equal(c->server.max_connections, 10);
	assert_int_equal(c->server.idle_timeout, 0);
	assert_int_equal(c->server.nallow, 3);
	assert_int_equal(c->server.allow[0].family, AF_INET);
	assert_int_equal(c->server.allow[0].prefix, 32);
	assert_int_equal(c->server.allow[1].prefix, 24);
	assert_int_equal(c->server.allow[2].family, AF_INET6);

	/* The parsed allow-list works with cidr_match. */
	struct sockaddr_in sin = {.sin_family = AF_INET};
	inet_pton(AF_INET, "192.168.1.77", &sin.sin_addr);
	assert_true(cidr_match(c->server.allow, c->server.nallow, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.168.7.77", &sin.sin_addr);
	assert_false(cidr_match(c->server.allow, c->server.nallow, (struct sockaddr *)&sin));

	assert_int_equal(c->nmaps_path, 2);
	assert_string_equal(c->maps_path[0], "maps");
	assert_string_equal(c->maps_path[1], "/opt/maps");
	assert_int_equal(c->defaults.timeout, 5000);
	assert_int_equal(c->defaults.max_age, 2000);
	assert_int_equal(c->defaults.poll, 60000);
	assert_int_equal(c->defaults.min_interval, 100);
	assert_int_equal(c->defaults.retries, 10);
	assert_string_equal(c->user, "nobody");

	assert_int_equal(c->status.enabled, 1);
	assert_string_equal(c->status.mqtt.host, "broker");
	assert_int_equal(c->status.mqtt.port, 1884);
	assert_string_equal(c->status.mqtt.username, "u");
	assert_string_equal(c->status.mqtt.password, "p");
	assert_string_equal(c->status.mqtt.client_id, "status");
	assert_int_equal(c->status.mqtt.keepalive, 30);
	assert_int_equal(c->status.mqtt.qos, 1);
	assert_int_equal(c->status.mqtt.has_tls, 0);
	assert_int_equal(c->status.mqtt.line, 12);
	assert_string_equal(c->status.prefix, "site/modbridge");
	assert_int_equal(c->status.interval, 15);

	assert_int_equal(c->ndevices, 6);
	const struct config_device *g = &c->devices[0];
	assert_string_equal(g->name, "garage");
	assert_int_equal(g->unit_id, 1);
	assert_string_equal(g->map, "powergo");
	assert_int_equal(g->read_only, 1);
	assert_int_equal(g->timeout, 4000);
	assert_int_equal(g->max_age, 0);
	assert_int_equal(g->poll, 10000);
	assert_int_equal(g->min_interval, 500);
	assert_int_equal(g->retries, 0);
	assert_string_equal(proto_name(g), "powergo");
	assert_int_equal(g->has_mqtt, 1);
	assert_string_equal(g->mqtt.host, "10.0.0.1");
	assert_int_equal(g->mqtt.port, 8884);
	assert_string_equal(g->mqtt.username, "user");
	assert_string_equal(g->mqtt.password, "pw");
	assert_string_equal(g->mqtt.client_id, "APP053461AD");
	assert_int_equal(g->mqtt.keepalive, 120);
	assert_int_equal(g->mqtt.qos, 2);
	assert_int_equal(g->mqtt.has_tls, 1);
	snprintf(want, sizeof want, "%s/ca.pem", h_dir());
	assert_string_equal(g->mqtt.tls.ca_file, want);
	snprintf(want, sizeof want, "%s/c.pem", h_dir());
	assert_string_equal(g->mqtt.tls.cert_file, want);
	snprintf(want, sizeof want, "%s/k.pem", h_dir());
	assert_string_equal(g->mqtt.tls.key_file, want);
	assert_int_equal(g->mqtt.line, 20);
	assert_string_equal(block_str(g, "app_id"), "053461AD");
	assert_string_equal(block_str(g, "device_id"), "15020115");
	assert_string_equal(block_str(g, "request_topic"), "req/15020115");
	assert_string_equal(block_str(g, "response_topic"), "resp/053461AD");
	assert_int_equal(g->line, 18);

	const struct config_device *b = &c->devices[1];
	assert_string_equal(proto_name(b), "venus");
	assert_int_equal(b->read_only, 0);
	assert_int_equal(b->timeout, -1);
	assert_int_equal(b->retries, -1);
	assert_string_equal(b->mqtt.host, "127.0.0.1");
	/* tls without a port: the TLS port. */
	assert_int_equal(b->mqtt.port, 8883);
	assert_int_equal(b->mqtt.keepalive, 60);
	assert_int_equal(b->mqtt.qos, 0);
	assert_null(b->mqtt.username);
	assert_null(b->mqtt.password);
	assert_null(b->mqtt.client_id);
	assert_null(b->mqtt.tls.cert_file);
	assert_string_equal(block_str(b, "type"), "HMG-50");
	assert_string_equal(block_str(b, "id"), "0123456789ab");
	assert_string_equal(block_str(b, "prefix"), "marstek_energy");
	assert_int_equal(b->line, 26);

	const struct config_device *inv = &c->devices[2];
	assert_int_equal(inv->unit_id, 247);
	assert_string_equal(proto_name(inv), "solarman");
	assert_int_equal(inv->has_mqtt, 0);
	assert_string_equal(block_str(inv, "host"), "192.168.1.50");
	assert_int_equal(block_int(inv, "port"), 8898);
	assert_true(block_int(inv, "serial") == 4294967295u);
	assert_int_equal(block_int(inv, "slave"), 247);

	assert_string_equal(proto_name(&c->devices[3]), "memory");
	/* No protocol block: the map's protocol decides (lead checks it). */
	assert_string_equal(proto_name(&c->devices[4]), "none");

	const struct config_device *v2 = &c->devices[5];
	assert_string_equal(proto_name(v2), "venus");
	assert_int_equal(v2->has_mqtt, 1);
	assert_int_equal(v2->mqtt.port, 1883);
	assert_string_equal(block_str(v2, "prefix"), "hame_energy");
	config_free(c);
}

static void test_solarman_defaults(void **state)
{
	char err[512] = "";
	struct config *c;
	const char *path = write_conf(
	    "sol.conf", "devices = ( { name = \"inv\"; unit_id = 3; map = \"growatt\";\n"
			"  solarman = { host = \"192.168.1.50\"; serial = 1234567890; }; } );\n");
	(void)state;
	if (config_load(path, &c, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_int_equal(block_int(&c->devices[0], "port"), 8899);
	assert_int_equal(block_int(&c->devices[0], "slave"), 1);
	assert_true(block_int(&c->devices[0], "serial") == 1234567890u);
	config_free(c);
}

/* libconfig before 1.6 wraps 4294967295 (no L) to -1: either it loads (newer
 * libconfig) or the message says to add the L suffix. */
static void test_serial_without_suffix(void **state)
{
	char err[512] = "";
	struct config *c;
	const char *path = write_conf(
	    "sol2.conf", "devices = ( { name = \"inv\"; unit_id = 3; map = \"growatt\";\n"
			 "  solarman = { host = \"h\"; serial = 3123456789; }; } );\n");
	(void)state;
	if (config_load(path, &c, err, sizeof err) == 0) {
		assert_true(block_int(&c->devices[0], "serial") == 3123456789u);
		config_free(c);
	} else {
		assert_non_null(
		    strstr(err, ":2: devices.[0].solarman.serial must be 1..4294967295"));
		assert_non_null(strstr(err, "L suffix"));
	}
}

static void test_example_config(void **state)
{
	char err[1024] = "";
	struct config *c;
	(void)state;
	if (config_load(h_repo_file("init/modbridge.conf.example"), &c, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c->ndevices, 4);
	assert_string_equal(proto_name(&c->devices[0]), "powergo");
	assert_int_equal(c->devices[0].unit_id, 1);
	assert_string_equal(c->devices[0].name, "garage");
	assert_string_equal(proto_name(&c->devices[1]), "venus");
	assert_int_equal(c->devices[1].unit_id, 2);
	assert_string_equal(proto_name(&c->devices[2]), "solarman");
	assert_int_equal(c->devices[2].unit_id, 3);
	assert_string_equal(c->devices[2].map, "growatt");
	assert_string_equal(proto_name(&c->devices[3]), "memory");
	assert_int_equal(c->devices[3].unit_id, 10);
	assert_int_equal(c->nmaps_path, 3);
	assert_string_equal(c->maps_path[2], "maps");
	config_free(c);
}

/* The registry (protocol.h): every protocol by name, in its order. */
static void test_proto_name(void **state)
{
	char buf[128];
	(void)state;
	assert_int_equal(protocol_count(), 6);
	static const char *const names[] = {"memory",	"powergo", "venus",
					    "solarman", "modbus",  "site"};
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(protocol_at(i)->name, names[i]);
		assert_ptr_equal(protocol_find(names[i]), protocol_at(i));
		assert_non_null(protocol_at(i)->ops);
	}
	assert_null(protocol_find("profibus"));
	assert_null(protocol_find(NULL));
	assert_string_equal(protocol_names(0, ", ", ", ", buf, sizeof buf),
			    "memory, powergo, venus, solarman, modbus, site");
	assert_string_equal(protocol_names(PROTOCOL_MQTT, ", ", " and ", buf, sizeof buf),
			    "powergo and venus");
	assert_string_equal(protocol_names(PROTOCOL_NATIVE, ", ", " and ", buf, sizeof buf),
			    "powergo, solarman and modbus");
	assert_string_equal(protocol_names(PROTOCOL_VIRTUAL, ", ", " or ", buf, sizeof buf),
			    "memory");
}

/* keys_same, which a reload uses to tell an unchanged device, compares
 * every kind of key by what it stores, names what differs, and never calls
 * a custom key without a comparison of its own the same. */
struct kinds {
	char *s;
	int i;
	int64_t l;
	uint32_t u;
	uint16_t h;
	int b;
	int8_t b8;
	double f;
	uint8_t c;
	struct {
		char *x;
		int y;
	} g;
};

static bool same_always(const struct config_key *k, const void *a, const void *b, char *which,
			size_t len)
{
	(void)k, (void)a, (void)b, (void)which, (void)len;
	return true;
}

static void test_keys_same(void **state)
{
	static const char choices[][2] = {"x", "y", ""};
	static const struct config_key sub[] = {
	    {.name = "x",
	     .kind = CONFIG_K_STRING,
	     .off = offsetof(struct kinds, g.x) - offsetof(struct kinds, g)},
	    {.name = "y",
	     .kind = CONFIG_K_INT,
	     .off = offsetof(struct kinds, g.y) - offsetof(struct kinds, g)},
	};
	static const struct config_key keys[] = {
	    {.name = "s", .kind = CONFIG_K_STRING, .off = offsetof(struct kinds, s)},
	    {.name = "i", .kind = CONFIG_K_INT, .off = offsetof(struct kinds, i)},
	    {.name = "l", .kind = CONFIG_K_INT64, .off = offsetof(struct kinds, l)},
	    {.name = "u", .kind = CONFIG_K_UINT32, .off = offsetof(struct kinds, u)},
	    {.name = "h", .kind = CONFIG_K_UINT16, .off = offsetof(struct kinds, h)},
	    {.name = "b", .kind = CONFIG_K_BOOL, .off = offsetof(struct kinds, b)},
	    {.name = "b8", .kind = CONFIG_K_BOOL8, .off = offsetof(struct kinds, b8)},
	    {.name = "f", .kind = CONFIG_K_FLOAT, .off = offsetof(struct kinds, f)},
	    {.name = "c",
	     .kind = CONFIG_K_CHOICE,
	     .off = offsetof(struct kinds, c),
	     CONFIG_CHOICES(choices)},
	    {.name = "g",
	     .kind = CONFIG_K_GROUP,
	     .off = offsetof(struct kinds, g),
	     .sub = sub,
	     .nsub = 2},
	    {.name = "later", .kind = CONFIG_K_LATER, .same = same_always},
	};
	char s1[] = "abc", s2[] = "abc", s3[] = "abd", which[64];
	struct kinds a = {.s = s1,
			  .i = 1,
			  .l = 1,
			  .u = 1,
			  .h = 1,
			  .b = 1,
			  .b8 = 1,
			  .f = 1,
			  .c = 1,
			  .g = {.x = s1, .y = 1}};
	struct kinds b = a;
	(void)state;
	b.s = s2; /* another copy of the same text */
	assert_true(keys_same(keys, 11, &a, &b, which, sizeof which));
	assert_string_equal(which, "");
#define DIFFERS(field, value, path)                                                                \
	do {                                                                                       \
		struct kinds c = a;                                                                \
		c.field = value;                                                                   \
		assert_false(keys_same(keys, 11, &a, &c, which, sizeof which));                    \
		assert_string_equal(which, path);                                                  \
	} while (0)
	DIFFERS(s, s3, "s");
	DIFFERS(s, NULL, "s");
	DIFFERS(i, 2, "i");
	DIFFERS(l, (int64_t)1 << 40, "l");
	DIFFERS(u, 4000000000u, "u");
	DIFFERS(h, 2, "h");
	DIFFERS(b, 0, "b");
	DIFFERS(b8, 0, "b8");
	DIFFERS(f, 1.5, "f");
	DIFFERS(c, 0, "c");
	DIFFERS(g.x, s3, "g.x");
	DIFFERS(g.y, 2, "g.y");
#undef DIFFERS
	/* A custom key without its own comparison is never the same. */
	static const struct config_key custom[] = {{.name = "allow", .kind = CONFIG_K_CUSTOM}};
	assert_false(keys_same(custom, 1, &a, &a, which, sizeof which));
	assert_string_equal(which, "allow");
}

/* Every key table the config reaches (device, defaults, mqtt, exporters,
 * each protocol's block, and their groups): each name fits its array with
 * its NUL (a name of exactly sizeof name characters would compile without
 * one), each choice key has its choices, each group its sub-table. */
static void keys_sound(const struct config_key *keys, size_t n, int depth)
{
	assert_true(depth < 4);
	for (size_t i = 0; i < n; i++) {
		const struct config_key *k = &keys[i];
		assert_non_null(memchr(k->name, '\0', sizeof k->name));
		assert_true(k->name[0] != '\0');
		if (k->kind == CONFIG_K_CHOICE) {
			assert_non_null(k->choices);
			assert_true(k->choice_size > 0);
			assert_true(k->choices[0] != '\0');
		}
		if (k->kind == CONFIG_K_GROUP) {
			assert_non_null(k->sub);
			assert_true(k->nsub > 0);
			keys_sound(k->sub, k->nsub, depth + 1);
		}
	}
}

static void test_key_tables_sound(void **state)
{
	size_t n;
	const struct config_key *k;
	(void)state;
	k = config_device_keys(&n);
	keys_sound(k, n, 0);
	k = config_defaults_keys(&n);
	keys_sound(k, n, 0);
	k = config_mqtt_keys(&n);
	keys_sound(k, n, 0);
	for (int i = 0; i < 2; i++) {
		k = export_config_keys(i, &n);
		keys_sound(k, n, 0);
	}
	for (size_t i = 0; i < protocol_count(); i++)
		keys_sound(protocol_at(i)->keys, protocol_at(i)->nkeys, 0);
}

/* Two loaded devices that differ in one key of their protocol block or mqtt
 * group: the device table's comparison names it. */
static void test_device_keys_same(void **state)
{
	static const char *const devs[] = {
	    PG_MQTT " powergo = { " PG_IDS " };",
	    PG_MQTT " powergo = { " PG_IDS " };",
	    PG_MQTT " powergo = { " PG_IDS " response_topic = \"r\"; };",
	    "mqtt = { port = 1884; }; powergo = { " PG_IDS " };",
	    "solarman = { host = \"h\"; serial = 1; };",
	    "solarman = { host = \"h\"; serial = 2; };",
	    "",
	};
	struct config *one[7];
	char err[512], which[128], name[32], text[512];
	size_t nk;
	const struct config_key *keys = config_device_keys(&nk);
	(void)state;
	for (int i = 0; i < 7; i++) {
		snprintf(text, sizeof text,
			 "devices = ( { name = \"a\"; unit_id = 1; map = \"m\"; %s } );\n",
			 devs[i]);
		snprintf(name, sizeof name, "same%d.conf", i);
		if (config_load(write_conf(name, text), &one[i], err, sizeof err) != 0)
			fail_msg("%d: %s", i, err);
	}
#define DEV(i) (&one[i]->devices[0])
	assert_true(keys_same(keys, nk, DEV(0), DEV(1), which, sizeof which));
	assert_false(keys_same(keys, nk, DEV(0), DEV(2), which, sizeof which));
	assert_string_equal(which, "powergo.response_topic");
	assert_false(keys_same(keys, nk, DEV(0), DEV(3), which, sizeof which));
	assert_string_equal(which, "mqtt.port");
	assert_false(keys_same(keys, nk, DEV(4), DEV(5), which, sizeof which));
	assert_string_equal(which, "solarman.serial");
	assert_false(keys_same(keys, nk, DEV(0), DEV(4), which, sizeof which));
	assert_false(keys_same(keys, nk, DEV(6), DEV(4), which, sizeof which));
	assert_string_equal(which, "solarman");
#undef DEV
	for (int i = 0; i < 7; i++)
		config_free(one[i]);
}

/* A small error buffer truncates the message but never overruns. */
static void test_small_error_buffer(void **state)
{
	char err[16];
	struct config *c;
	const char *path = write_conf("small.conf", "server = { port = 0; };\n" MEM_DEV);
	(void)state;
	memset(err, 'x', sizeof err);
	assert_int_equal(config_load(path, &c, err, 8), MB_EPARSE);
	assert_int_equal(strlen(err), 7);
	assert_int_equal(err[8], 'x');
}

/* A message that starts with a setting's path (keys_error_at(), the path
 * written by the helper, then the rest): the same bytes as the whole
 * message formatted at once, and cut at any buffer size without an
 * overrun, the cut text a prefix of the whole. */
static void test_path_message(void **state)
{
	char err[512], want[512];
	struct config *c;
	const char *path = write_conf("path_msg.conf", "devices = 5;\n");
	(void)state;
	snprintf(want, sizeof want, "%s:1: devices must be a list ( { ... }, ... ), not an integer",
		 path);
	assert_int_equal(config_load(path, &c, err, sizeof err), MB_EPARSE);
	assert_string_equal(err, want);
	for (size_t len = 1; len <= strlen(want) + 1; len++) {
		memset(err, 'x', sizeof err);
		assert_int_equal(config_load(path, &c, err, len), MB_EPARSE);
		assert_int_equal(strlen(err), len - 1);
		assert_int_equal(err[len], 'x');
		assert_memory_equal(err, want, len - 1);
	}
}

int main(void)
{
	struct CMUnitTest tests[sizeof err_cases / sizeof err_cases[0] + 16];
	size_t n = 0;

	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		struct CMUnitTest t =
		    cmocka_unit_test_prestate(test_error_case, (void *)&err_cases[i]);
		t.name = err_cases[i].name;
		tests[n++] = t;
	}
	const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_devices_missing),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_old_server_name),
	    cmocka_unit_test(test_include_error),
	    cmocka_unit_test(test_include_key_error),
	    cmocka_unit_test(test_minimal_defaults),
	    cmocka_unit_test(test_full_config),
	    cmocka_unit_test(test_solarman_defaults),
	    cmocka_unit_test(test_serial_without_suffix),
	    cmocka_unit_test(test_example_config),
	    cmocka_unit_test(test_proto_name),
	    cmocka_unit_test(test_small_error_buffer),
	    cmocka_unit_test(test_path_message),
	    cmocka_unit_test(test_keys_same),
	    cmocka_unit_test(test_key_tables_sound),
	    cmocka_unit_test(test_device_keys_same),
	};
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		tests[n++] = fixed[i];
	return _cmocka_run_group_tests("config", tests, n, setup, NULL);
}

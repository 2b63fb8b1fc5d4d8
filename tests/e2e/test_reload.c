/* SIGHUP replaces exactly the devices whose settings changed (bridge/reload.c):
 * one key is changed per reload, one case per kind of key (a string, an int,
 * a bool, a 64-bit int, `retries`, keys of each protocol block, keys of the
 * mqtt group, the config's `defaults`, the map file), and the bridge must say
 * that it replaces that device because of that key. A memory device shows it
 * in its state too: a replaced one serves its map's default again. A control
 * device that never changes keeps its state through every reload, and a
 * reload of an unchanged file replaces nothing.
 *
 * No device key is a list (the generic comparison of every key kind,
 * keys_same, is what decides; tests/unit/test_config.c covers it kind
 * by kind). The MQTT and Solarman devices point at a port nobody listens on:
 * their links keep retrying, which a reload does not care about. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The parts of the config the cases change. */
struct variant {
	int a_unit;
	const char *a_map;
	const char *a_keys;   /* more keys of memory device a */
	const char *pg_mqtt;  /* more keys of pg's mqtt group */
	const char *pg_block; /* more keys of pg's powergo block */
	const char *v_mqtt;
	const char *v_block;
	const char *s_block;
	const char *defaults; /* the `defaults` group's keys */
};

static int port, dead;
/* Copies: h_path()'s buffers are reused after 8 calls. */
static char conf_path[700], log_path[700];
static int reloads;

static void write_conf(const struct variant *v)
{
	char buf[8192];
	snprintf(buf, sizeof buf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s/maps\", \"%s\" ];\n"
		 "defaults = { %s };\n"
		 "devices = (\n"
		 " { name = \"a\"; unit_id = %d; map = \"%s\"; memory = {}; %s },\n"
		 " { name = \"k\"; unit_id = 9; map = \"scratch\"; memory = {}; },\n"
		 " { name = \"pg\"; unit_id = 2; map = \"powergo\";\n"
		 "   mqtt = { host = \"127.0.0.1\"; port = %d; %s };\n"
		 "   powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; %s }; },\n"
		 " { name = \"v\"; unit_id = 3; map = \"venus\";\n"
		 "   mqtt = { host = \"127.0.0.1\"; port = %d; %s };\n"
		 "   venus = { type = \"HMG-50\"; id = \"0123456789ab\"; %s }; },\n"
		 " { name = \"s\"; unit_id = 4; map = \"growatt\";\n"
		 "   solarman = { host = \"127.0.0.1\"; port = %d; %s }; }\n"
		 ");\n",
		 port, h_dir(), h_maps_dir(), v->defaults, v->a_unit, v->a_map, v->a_keys, dead,
		 v->pg_mqtt, v->pg_block, dead, v->v_mqtt, v->v_block, dead, v->s_block);
	snprintf(conf_path, sizeof conf_path, "%s", h_write_file("reload.conf", buf));
}

static int write1(int unit, int value)
{
	modbus_t *m = h_modbus(port, unit);
	int rc = m ? modbus_write_register(m, 0, (uint16_t)value) : -1;
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	return rc == 1 ? 0 : -1;
}

static int read1(int unit)
{
	uint16_t v = 0;
	modbus_t *m = h_modbus(port, unit);
	int rc = m ? modbus_read_registers(m, 0, 1, &v) : -1;
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	return rc == 1 ? v : -1;
}

/* Write v, SIGHUP, wait for the reload to finish. */
static int reload(pid_t pid, const struct variant *v)
{
	write_conf(v);
	h_signal(pid, SIGHUP);
	reloads++;
	return h_wait_lines(log_path, "reloaded: ", reloads, 15000);
}

/* One case: the variant changes one key of device `dev`; the log must say
 * "device DEV: KEY changed: replacing it". For memory device a (a_unit > 0),
 * a state written before must be gone. The control device k keeps 777. */
static void step(pid_t pid, const struct variant *v, const char *dev, const char *key,
		 int a_unit_before)
{
	char want[256];
	if (a_unit_before > 0)
		write1(a_unit_before, 555);
	int before = h_count_lines(log_path, "changed: replacing it");
	snprintf(want, sizeof want, "device %s: %s changed: replacing it", dev, key);
	int had = h_count_lines(log_path, want);
	if (!h_ok(reload(pid, v), "%s.%s: the reload finishes", dev, key))
		return;
	h_ok(h_count_lines(log_path, want) == had + 1,
	     "%s.%s changed: the device is replaced (\"%s\")", dev, key, want);
	int after = h_count_lines(log_path, "changed: replacing it");
	if (strcmp(dev, "*") != 0)
		h_ok(after == before + 1, "%s.%s: only that device is replaced (%d)", dev, key,
		     after - before);
	if (a_unit_before > 0) {
		int got = read1(v->a_unit);
		h_ok(got == 100, "%s.%s: the replaced memory device serves its default (%d)", dev,
		     key, got);
	}
}

/* The scratch map under another name (and, edited, another file). */
static void write_map(const char *name, const char *extra)
{
	FILE *f = fopen(h_repo_file("maps/scratch.conf"), "r");
	static char text[65536], out[70000];
	size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = '\0';
	const char *at = strstr(text, "name = \"scratch\";");
	if (!h_ok(at != NULL, "maps/scratch.conf has its name line"))
		return;
	snprintf(out, sizeof out, "%.*sname = \"%s\";%s%s", (int)(at - text), text, name,
		 at + strlen("name = \"scratch\";"), extra);
	char rel[128];
	snprintf(rel, sizeof rel, "maps/%s.conf", name);
	h_write_file(rel, out);
}

int main(void)
{
	h_init("reload");
	char dir[600];
	snprintf(dir, sizeof dir, "%s/maps", h_dir());
	const char *mk[] = {"mkdir", "-p", dir, NULL};
	h_run(mk, NULL, 0, 2000);
	write_map("scratch2", "\n");

	port = h_free_port();
	dead = h_free_port();
	struct variant v = {
	    .a_unit = 1,
	    .a_map = "scratch",
	    .a_keys = "",
	    .pg_mqtt = "",
	    .pg_block = "",
	    .v_mqtt = "",
	    .v_block = "",
	    .s_block = "serial = 7;",
	    .defaults = "timeout = 3000;",
	};
	write_conf(&v);
	snprintf(log_path, sizeof log_path, "%s", h_path("reload.log"));
	pid_t pid = h_bridge_start(conf_path, port, "reload.log");
	if (!h_ok(pid > 0, "bridge starts with a memory, a powergo, a venus and a solarman device"))
		return h_done();
	h_ok(write1(9, 777) == 0, "control device k holds 777");

	/* Nothing changed: nothing is replaced, a keeps its state. */
	write1(1, 555);
	h_ok(reload(pid, &v), "reload of an unchanged file");
	h_ok(h_count_lines(log_path, "replacing it") == 0 && read1(1) == 555,
	     "an unchanged file replaces nothing (a still holds 555)");

	/* Keys of memory device a, one kind each. */
	v.a_map = "scratch2";
	step(pid, &v, "a", "map", 1); /* a string */
	v.a_unit = 5;
	step(pid, &v, "a", "unit_id", 1); /* an int */
	h_ok(read1(1) < 0, "unit 1 is gone with the old device");
	v.a_keys = "read_only = true;";
	step(pid, &v, "a", "read_only", 0); /* a bool (read_only: no write before) */
	h_ok(read1(5) == 100, "a, read-only now, serves its default");
	v.a_keys = "timeout = 1234;";
	step(pid, &v, "a", "read_only", 0); /* read_only back to false, timeout new */
	v.a_keys = "timeout = 1235;";
	step(pid, &v, "a", "timeout", 5); /* a 64-bit int */
	v.a_keys = "timeout = 1235; retries = 4;";
	step(pid, &v, "a", "retries", 5);

	/* Protocol blocks: a string, an int, a 32-bit serial, a default kept. */
	v.pg_block = "request_topic = \"req/x\";";
	step(pid, &v, "pg", "powergo.request_topic", 0);
	v.s_block = "serial = 7; slave = 2;";
	step(pid, &v, "s", "solarman.slave", 0);
	v.s_block = "serial = 8; slave = 2;";
	step(pid, &v, "s", "solarman.serial", 0);
	v.v_block = "prefix = \"marstek_energy\";";
	step(pid, &v, "v", "venus.prefix", 0);
	/* Spelling out a default is no change. */
	v.pg_mqtt = "keepalive = 60;";
	int before = h_count_lines(log_path, "replacing it");
	h_ok(reload(pid, &v), "reload with pg's mqtt.keepalive spelled out");
	h_ok(h_count_lines(log_path, "replacing it") == before,
	     "a key set to the value it had (its default) replaces nothing");

	/* The mqtt group: an int, a string, a nested one. */
	v.pg_mqtt = "keepalive = 30;";
	step(pid, &v, "pg", "mqtt.keepalive", 0);
	v.v_mqtt = "client_id = \"mb-test\";";
	step(pid, &v, "v", "mqtt.client_id", 0);
	h_write_file("ca.pem", "not read before connecting\n");
	char tls[700];
	snprintf(tls, sizeof tls, "keepalive = 30; tls = { ca_file = \"%s/ca.pem\"; };", h_dir());
	v.pg_mqtt = tls;
	step(pid, &v, "pg", "mqtt.tls.ca_file", 0);

	/* The config's defaults apply to every device. */
	v.defaults = "timeout = 2999;";
	before = h_count_lines(log_path, "defaults.timeout changed: replacing it");
	h_ok(reload(pid, &v), "reload with a new defaults.timeout");
	h_ok(h_count_lines(log_path, "defaults.timeout changed: replacing it") - before == 5,
	     "defaults.timeout changed: every device is replaced");
	h_ok(read1(9) == 100, "even the control device (its default again)");
	write1(9, 777);

	/* The map file: same name, other bytes. */
	write_map("scratch2", "\n# edited\n");
	step(pid, &v, "a", "map file", 5);

	/* The listener cannot move without a restart: a changed port warns,
	 * and changing it back to the bound one stops the warning. */
	int bound = port, restart0 = h_count_lines(log_path, "restart modbridge to apply");
	port = h_free_port();
	h_ok(reload(pid, &v), "reload with another server.port");
	h_ok(h_count_lines(log_path, "restart modbridge to apply") == restart0 + 1,
	     "a port other than the bound one warns \"restart to apply\"");
	port = bound;
	h_ok(reload(pid, &v), "reload with the port changed back");
	h_ok(h_count_lines(log_path, "restart modbridge to apply") == restart0 + 1,
	     "the port changed back to the bound one: no warning (see %s)", log_path);

	h_ok(read1(9) == 777, "the control device kept its state through every other reload");
	h_ok(h_alive(pid), "the bridge is alive after %d reloads", reloads);
	h_ok(h_bridge_stop(pid) == 0, "and exits 0");
	return h_done();
}

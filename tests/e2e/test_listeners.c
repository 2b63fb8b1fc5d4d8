/* Several listeners (config `listeners`, docs/design.md "Several
 * listeners"): each has its own unit-ID space, so one process serves more
 * than 247 devices. Two listeners with 200 memory devices each, unit IDs
 * 1..200 on both: every device is written through its own listener and read
 * back, and the same unit ID on the other listener holds the other device's
 * value. A SIGHUP moves one device from listener "vpp2" to the server
 * block's listener and another the other way, both with the same unit ID
 * (the swap a reload must do in one step): the connections opened before
 * stay open and answer, each unit ID now reaches the other device, and both
 * devices are kept, with their values, not replaced. --check refuses a duplicate unit ID within
 * one listener, an unknown listener name and a port clash, with file:line. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NDEV 200

static int port_a, port_b;
static char conf_path[700];

/* swap: the unit ID whose two devices change listeners (0: none). */
static void write_conf(int swap)
{
	static char buf[200000];
	size_t used = 0;
	used += (size_t)snprintf(buf + used, sizeof buf - used,
				 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
				 "listeners = ( { name = \"vpp2\"; listen = \"127.0.0.1\"; "
				 "port = %d; } );\n"
				 "maps_path = \"%s\";\n"
				 "devices = (\n",
				 port_a, port_b, h_maps_dir());
	for (int u = 1; u <= NDEV; u++)
		used += (size_t)snprintf(buf + used, sizeof buf - used,
					 " { name = \"a%d\"; unit_id = %d; map = \"scratch\"; "
					 "memory = {}; %s },\n",
					 u, u, u == swap ? "listener = \"vpp2\";" : "");
	for (int u = 1; u <= NDEV; u++)
		used += (size_t)snprintf(buf + used, sizeof buf - used,
					 " { name = \"b%d\"; unit_id = %d; map = \"scratch\"; "
					 "memory = {}; listener = \"%s\"; }%s\n",
					 u, u, u == swap ? "server" : "vpp2", u == NDEV ? "" : ",");
	snprintf(buf + used, sizeof buf - used, ");\n");
	snprintf(conf_path, sizeof conf_path, "%s", h_write_file("listeners.conf", buf));
}

/* Write base + unit to register 0 of every unit on one connection; the
 * number that succeeded. */
static int write_all(modbus_t *m, int base)
{
	int ok = 0;
	for (int u = 1; u <= NDEV; u++) {
		modbus_set_slave(m, u);
		ok += modbus_write_register(m, 0, (uint16_t)(base + u)) == 1;
	}
	return ok;
}

static int read_all(modbus_t *m, int base)
{
	int ok = 0;
	for (int u = 1; u <= NDEV; u++) {
		uint16_t v = 0;
		modbus_set_slave(m, u);
		ok += modbus_read_registers(m, 0, 1, &v) == 1 && v == base + u;
	}
	return ok;
}

/* --check on text; 1 when it is refused with every needle in its output. */
static int check_refuses(const char *name, const char *text, const char *n1, const char *n2)
{
	char out[16384];
	const char *conf = h_write_file(name, text);
	int rc = h_run_bridge("--check", conf, out, sizeof out);
	int ok = rc != 0 && strstr(out, n1) && (!n2 || strstr(out, n2));
	if (!ok)
		h_note("--check %s: exit %d: %s", name, rc, out);
	return ok;
}

static void check_cases(void)
{
	char text[4096];
	const char *head = "server = { listen = \"127.0.0.1\"; port = 1502; };\n"
			   "listeners = ( { name = \"vpp2\"; listen = \"127.0.0.1\";\n"
			   "                port = 1503; } );\n";

	snprintf(text, sizeof text,
		 "%smaps_path = \"%s\";\n"
		 "devices = (\n"
		 " { name = \"x\"; unit_id = 5; map = \"scratch\"; memory = {}; listener = "
		 "\"vpp2\"; },\n"
		 " { name = \"y\"; unit_id = 5; map = \"scratch\"; memory = {}; },\n"
		 " { name = \"z\"; unit_id = 5; map = \"scratch\"; memory = {};\n"
		 "   listener = \"vpp2\"; }\n"
		 ");\n",
		 head, h_maps_dir());
	h_ok(check_refuses("dup.conf", text, "dup.conf:8:", "unit_id 5 is used by device \"x\""),
	     "--check: a unit ID used twice on one listener is refused at its line; the same "
	     "ID on another listener is not");

	snprintf(text, sizeof text,
		 "%smaps_path = \"%s\";\n"
		 "devices = (\n"
		 " { name = \"x\"; unit_id = 5; map = \"scratch\"; memory = {};\n"
		 "   listener = \"vpp3\"; }\n"
		 ");\n",
		 head, h_maps_dir());
	h_ok(check_refuses("unknown.conf", text,
			   "unknown.conf:7:", "\"vpp3\" is not the name of a listener"),
	     "--check: an unknown listener name is refused at its line");

	snprintf(text, sizeof text,
		 "server = { listen = \"0.0.0.0\"; port = 1502; };\n"
		 "listeners = ( { name = \"vpp2\"; listen = \"127.0.0.1\";\n"
		 "                port = 1502; } );\n"
		 "maps_path = \"%s\";\n"
		 "devices = ( { name = \"x\"; unit_id = 5; map = \"scratch\"; memory = {}; } );\n",
		 h_maps_dir());
	h_ok(check_refuses("clash.conf", text, "clash.conf:3:", "server block's listener"),
	     "--check: a listener on the server block's port is refused at its line");

	snprintf(text, sizeof text,
		 "listeners = ( { name = \"p\"; port = 1600; },\n"
		 "              { name = \"q\"; listen = \"::\"; port = 1600; } );\n"
		 "maps_path = \"%s\";\n"
		 "devices = ( { name = \"x\"; unit_id = 5; map = \"scratch\"; memory = {}; } );\n",
		 h_maps_dir());
	h_ok(check_refuses("clash2.conf", text, "clash2.conf:2:", "listener \"p\""),
	     "--check: two listeners on one port are refused at the second's line");
}

int main(void)
{
	h_init("listeners");
	check_cases();

	port_a = h_free_port();
	port_b = h_free_port();
	while (port_b == port_a)
		port_b = h_free_port();
	write_conf(0);
	pid_t b = h_bridge_start(conf_path, port_a, "listeners.log");
	if (!h_ok(b > 0, "bridge with two listeners and %d devices started", 2 * NDEV))
		return h_done();
	h_ok(h_wait_port(port_b, 10000) == 0, "listener vpp2 accepts on port %d", port_b);

	modbus_t *ma = h_modbus(port_a, 1), *mb = h_modbus(port_b, 1);
	if (h_ok(ma && mb, "a client connected to each listener")) {
		h_ok(write_all(ma, 1000) == NDEV,
		     "the %d devices of the modbus listener take a "
		     "write",
		     NDEV);
		h_ok(write_all(mb, 2000) == NDEV, "the %d devices of listener vpp2 take a write",
		     NDEV);
		h_ok(read_all(ma, 1000) == NDEV,
		     "every unit ID of the modbus listener reads its own device's value");
		h_ok(read_all(mb, 2000) == NDEV,
		     "every unit ID of listener vpp2 reads its own device's value");

		/* Swap a7 and b7: each moves to the other listener, same unit ID. */
		write_conf(7);
		h_signal(b, SIGHUP);
		h_ok(h_wait_lines(h_path("listeners.log"), "reloaded: ", 1, 15000),
		     "the reload finishes");
		h_ok(!h_file_contains(h_path("listeners.log"), "changed: replacing it"),
		     "devices that only change listener are not replaced");
		uint16_t v = 0;
		modbus_set_slave(mb, 8);
		int rc = modbus_read_registers(mb, 0, 1, &v);
		h_ok(rc == 1 && v == 2008,
		     "the connection to vpp2 opened before the reload still answers (rc %d, %u)",
		     rc, v);
		modbus_set_slave(mb, 7);
		v = 0;
		rc = modbus_read_registers(mb, 0, 1, &v);
		h_ok(rc == 1 && v == 1007,
		     "vpp2 unit 7 is now device a7, its value kept (rc %d, %u)", rc, v);
		modbus_set_slave(ma, 7);
		v = 0;
		rc = modbus_read_registers(ma, 0, 1, &v);
		h_ok(rc == 1 && v == 2007,
		     "the modbus listener's unit 7 is now device b7, its value kept (rc %d, %u)",
		     rc, v);
		modbus_set_slave(ma, 9);
		v = 0;
		rc = modbus_read_registers(ma, 0, 1, &v);
		h_ok(rc == 1 && v == 1009,
		     "the modbus listener's connection from before still answers (rc %d, %u)", rc,
		     v);
	}
	if (ma) {
		modbus_close(ma);
		modbus_free(ma);
	}
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	h_ok(h_bridge_stop(b) == 0, "bridge stops cleanly");
	return h_done();
}

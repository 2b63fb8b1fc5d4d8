/* Listeners under load (docs/design.md, "Several listeners"): three
 * listeners, the server block's ("server") and "vpp2" and "vpp3", each
 * with memory devices on unit IDs 1..5, so that every unit ID is three
 * devices. Checked through the real sockets:
 *
 *   - units 0 and 255: the server block's listener gives them to
 *     server.default_unit's device, the other listeners answer 0A;
 *   - the same unit ID on each listener reaches its own device, never
 *     another listener's;
 *   - a client on vpp3 reads without a pause while reloads move a device
 *     between the other two listeners and another client connects and
 *     closes on the server block's listener again and again: not one read
 *     of it fails or gets a wrong value, and its one connection stays open;
 *     after each reload the moved device answers on its new listener, with
 *     the value written before, and its old unit ID there is 0A;
 *   - --check refuses a default_unit that names a device of another
 *     listener (it would answer nowhere), with file:line. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define NUNIT 5
#define MOVER_UNIT 7
#define EXC(code) (MODBUS_ENOBASE + (code))

static int port[3]; /* server, vpp2, vpp3 */
static const char *const lname[3] = {"server", "vpp2", "vpp3"};
static char conf_path[700], logp[700];

/* mover_on: the listener (0 or 1) device "mover" is on. */
static void write_conf(int mover_on)
{
	char buf[8192];
	size_t used = 0;
	used += (size_t)snprintf(
	    buf + used, sizeof buf - used,
	    "server = { listen = \"127.0.0.1\"; port = %d; default_unit = \"d0_1\"; };\n"
	    "listeners = ( { name = \"vpp2\"; listen = \"127.0.0.1\"; port = %d; },\n"
	    "              { name = \"vpp3\"; listen = \"127.0.0.1\"; port = %d; } );\n"
	    "maps_path = \"%s\";\n"
	    "devices = (\n",
	    port[0], port[1], port[2], h_maps_dir());
	for (int l = 0; l < 3; l++)
		for (int u = 1; u <= NUNIT; u++)
			used +=
			    (size_t)snprintf(buf + used, sizeof buf - used,
					     " { name = \"d%d_%d\"; unit_id = %d; map = "
					     "\"scratch\"; memory = {}; listener = \"%s\"; },\n",
					     l, u, u, lname[l]);
	snprintf(buf + used, sizeof buf - used,
		 " { name = \"mover\"; unit_id = %d; map = \"scratch\"; memory = {};\n"
		 "   listener = \"%s\"; }\n"
		 ");\n",
		 MOVER_UNIT, lname[mover_on]);
	snprintf(conf_path, sizeof conf_path, "%s", h_write_file("listeners_load.conf", buf));
}

/* Register 0 of unit: the value, or -errno. */
static long read0(modbus_t *m, int unit)
{
	uint16_t v = 0;
	modbus_set_slave(m, unit);
	return modbus_read_registers(m, 0, 1, &v) == 1 ? (long)v : -(long)errno;
}

/* The value each device holds: 1000 * (listener + 1) + unit. */
static int value_of(int l, int u)
{
	return 1000 * (l + 1) + u;
}

struct reader {
	int stop;   /* __atomic */
	long reads; /* __atomic: main waits for enough */
	long failed, wrong;
	long first_bad;
};

/* vpp3's client: one connection, every unit in turn, until told to stop. */
static void *reader_run(void *arg)
{
	struct reader *r = arg;
	modbus_t *m = h_modbus(port[2], 1);
	if (!m) {
		r->failed = 1;
		return NULL;
	}
	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		int u = (int)(r->reads % NUNIT) + 1;
		long v = read0(m, u);
		__atomic_fetch_add(&r->reads, 1, __ATOMIC_SEQ_CST);
		if (v < 0)
			r->failed++;
		else if (v != value_of(2, u))
			r->wrong++;
		if ((v < 0 || v != value_of(2, u)) && !r->first_bad)
			r->first_bad = v;
	}
	modbus_close(m);
	modbus_free(m);
	return NULL;
}

struct churn {
	int stop; /* __atomic */
	long connects, answered;
};

/* The server block's listener: connect, maybe read once, close; again. */
static void *churn_run(void *arg)
{
	struct churn *c = arg;
	while (!__atomic_load_n(&c->stop, __ATOMIC_SEQ_CST)) {
		modbus_t *m = modbus_new_tcp("127.0.0.1", port[0]);
		if (!m)
			break;
		if (modbus_connect(m) == 0) {
			c->connects++;
			if (c->connects % 2 == 0) {
				modbus_set_slave(m, 1);
				uint16_t v;
				c->answered += modbus_read_registers(m, 0, 1, &v) == 1;
			}
			modbus_close(m);
		}
		modbus_free(m);
	}
	return NULL;
}

static int reload(pid_t b, int mover_on)
{
	int before = h_count_lines(logp, "reloaded: ");
	write_conf(mover_on);
	h_signal(b, SIGHUP);
	return h_wait_lines(logp, "reloaded: ", before + 1, 20000);
}

static void check_default_unit_elsewhere(void)
{
	char text[2048], out[16384];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = 1502; default_unit = \"x\"; };\n"
		 "listeners = ( { name = \"vpp2\"; listen = \"127.0.0.1\"; port = 1503; } );\n"
		 "maps_path = \"%s\";\n"
		 "devices = (\n"
		 " { name = \"x\"; unit_id = 5; map = \"scratch\"; memory = {};\n"
		 "   listener = \"vpp2\"; }\n"
		 ");\n",
		 h_maps_dir());
	const char *conf = h_write_file("elsewhere.conf", text);
	int rc = h_run_bridge("--check", conf, out, sizeof out);
	int ok = rc != 0 && strstr(out, "elsewhere.conf:1:") && strstr(out, "vpp2");
	if (!ok)
		h_note("--check: exit %d: %s", rc, out);
	h_ok(ok, "--check refuses a default_unit on another listener than the server block's");
}

int main(void)
{
	h_init("listeners_load");
	check_default_unit_elsewhere();
	for (int i = 0; i < 3; i++) {
		port[i] = h_free_port();
		for (int j = 0; j < i; j++)
			if (port[j] == port[i])
				port[i] = h_free_port(), j = -1;
	}
	snprintf(logp, sizeof logp, "%s", h_path("listeners_load.log"));
	write_conf(0);
	pid_t b = h_bridge_start(conf_path, port[0], "listeners_load.log");
	if (!h_ok(b > 0, "bridge with three listeners started"))
		return h_done();
	modbus_t *m[3];
	int ready = 1;
	for (int l = 0; l < 3; l++) {
		ready &= h_wait_port(port[l], 10000) == 0;
		m[l] = h_modbus(port[l], 1);
		ready &= m[l] != NULL;
	}
	if (!h_ok(ready, "a client on each listener")) {
		h_bridge_stop(b);
		return h_done();
	}

	/* The same unit IDs on three listeners: three devices each. */
	int wrote = 0;
	for (int l = 0; l < 3; l++)
		for (int u = 1; u <= NUNIT; u++) {
			modbus_set_slave(m[l], u);
			wrote += modbus_write_register(m[l], 0, (uint16_t)value_of(l, u)) == 1;
		}
	modbus_set_slave(m[0], MOVER_UNIT);
	wrote += modbus_write_register(m[0], 0, 4242) == 1;
	h_ok(wrote == 3 * NUNIT + 1, "every device takes a write through its listener (%d)", wrote);
	int own = 0;
	for (int l = 0; l < 3; l++)
		for (int u = 1; u <= NUNIT; u++)
			own += read0(m[l], u) == value_of(l, u);
	h_ok(own == 3 * NUNIT,
	     "each listener's unit IDs read its own devices, never another's (%d)", own);

	/* Units 0 and 255. */
	for (int l = 0; l < 3; l++) {
		long z = read0(m[l], 0), f = read0(m[l], 255);
		if (l == 0)
			h_ok(z == value_of(0, 1) && f == value_of(0, 1),
			     "server: units 0 and 255 reach default_unit's device (%ld, %ld)", z,
			     f);
		else
			h_ok(z == -EXC(0x0A) && f == -EXC(0x0A),
			     "%s: units 0 and 255 answer 0A (%ld, %ld)", lname[l], z, f);
	}

	/* Reloads move "mover" between server and vpp2 while vpp3's client
	 * reads and the server block's listener churns. */
	struct reader rd = {0};
	struct churn ch = {0};
	pthread_t rt, ct;
	pthread_create(&rt, NULL, reader_run, &rd);
	pthread_create(&ct, NULL, churn_run, &ch);
	int nreload = h_soak() ? 200 : 8, moved = 0, reloaded = 0;
	for (int k = 1; k <= nreload; k++) {
		int on = k % 2;
		reloaded += reload(b, on);
		long here = read0(m[on], MOVER_UNIT), there = read0(m[!on], MOVER_UNIT);
		if (here == 4242 && there == -EXC(0x0A))
			moved++;
		else
			h_note("reload %d: mover on %s reads %ld, on %s %ld", k, lname[on], here,
			       lname[!on], there);
	}
	/* Thousands of reads at least, the churn going on meanwhile. */
	for (uint64_t end = h_now_ms() + 20000;
	     __atomic_load_n(&rd.reads, __ATOMIC_SEQ_CST) < 3000 && h_now_ms() < end;)
		h_sleep_ms(20);
	__atomic_store_n(&rd.stop, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&ch.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(rt, NULL);
	pthread_join(ct, NULL);
	h_ok(reloaded == nreload, "%d reloads done", reloaded);
	h_ok(moved == nreload,
	     "after each reload the device answers on its new listener with its value, and 0A "
	     "on the old one (%d of %d)",
	     moved, nreload);
	h_ok(rd.reads >= 3000 && rd.failed == 0 && rd.wrong == 0,
	     "vpp3's client read on through the reloads and the churn: %ld reads, %ld failed, "
	     "%ld wrong (first %ld)",
	     rd.reads, rd.failed, rd.wrong, rd.first_bad);
	h_ok(ch.connects > 0 && ch.answered * 2 >= ch.connects - 1,
	     "the churning client connected %ld times and was answered each time it asked (%ld)",
	     ch.connects, ch.answered);
	long v = read0(m[1], 1);
	h_ok(v == value_of(1, 1), "vpp2's connection from before the reloads still answers (%ld)",
	     v);

	for (int l = 0; l < 3; l++) {
		modbus_close(m[l]);
		modbus_free(m[l]);
	}
	h_ok(h_bridge_stop(b) == 0, "bridge stops cleanly");
	return h_done();
}

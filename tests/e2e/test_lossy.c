/* Availability over a lossy link (docs/user-guide.md, retries): a PowerGo device behind
 * tests/sim/sim_lossy that loses 10% of the requests and 10% of the answers,
 * and one that sends a quarter of its answers late (after the bridge gave up
 * on the attempt), with distinct values in every register. A third sends a
 * quarter late but keeps the order of its answers, as a device answering one
 * instruction at a time does (docs/protocols/powergo.md: the transport then ends its ghosts as
 * soon as a later request is answered), and has lone registers, whose reads
 * cannot be widened to look unlike a ghost's.
 *
 * What is asserted, per link: at least 98% of the reads and 95% of the
 * writes succeed (retries within the request's timeout); no read returns a
 * value other than the register's own; every acknowledged write was applied
 * by the device (no false acknowledgement); a write to a register marked
 * `retry = false` reaches the device at most once. The figures are printed
 * as notes ("# reads: ..."). `make soak` (h_soak()) runs NREAD reads, NWRITE
 * writes and NONCE retry = false writes per link; `make test` a third of
 * the reads and writes and half the retry = false writes: each link still
 * loses or delays dozens of requests and answers, and a dozen retry = false
 * writes go unanswered (each one a write the bridge must not send again). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define APP "053461AE"
#define TIMEOUT_MS 600
#define NREAD 150
#define NWRITE 150
#define NONCE 60
#define WBASE 100 /* retried writes go to 100..149 */
#define OBASE 200 /* writes marked retry = false go to 200..203 */

static int bridge_port;
static int nread = NREAD, nwrite = NWRITE, none = NONCE; /* this run's counts */

/* The value sim_lossy --pattern keeps in register a. */
static uint16_t pattern(unsigned a)
{
	return (uint16_t)(a * 7919u + 13u);
}

struct tally {
	int ok, wrong, failed, other_exc;
};

static void read_phase(int unit, struct tally *t)
{
	modbus_t *mb = h_modbus(bridge_port, unit);
	for (int i = 0; mb && i < nread; i++) {
		unsigned a = (unsigned)(i * 37) % 100u;
		uint16_t v;
		if (modbus_read_registers(mb, (int)a, 1, &v) == 1) {
			if (v == pattern(a)) {
				t->ok++;
			} else {
				t->wrong++;
				h_note("register %u read as %u, is %u", a, v, pattern(a));
			}
		} else {
			t->failed++;
			if (errno != MODBUS_ENOBASE + 0x0B)
				t->other_exc++;
		}
	}
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
}

/* Writes value base+i to register reg0 + i % nreg; acked[i] says which
 * were acknowledged. */
static int write_phase(int unit, int reg0, int nreg, int n, uint16_t base, char *acked)
{
	modbus_t *mb = h_modbus(bridge_port, unit);
	int ok = 0;
	for (int i = 0; mb && i < n; i++) {
		acked[i] = modbus_write_register(mb, reg0 + i % nreg, (uint16_t)(base + i)) == 1;
		ok += acked[i];
	}
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	return ok;
}

/* How often the device applied value base+i, from the simulator's log. */
static void applied_counts(const char *log, uint16_t base, int n, int *count)
{
	FILE *f = fopen(log, "r");
	char line[256];
	memset(count, 0, (size_t)n * sizeof *count);
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned a, v;
		if (sscanf(line, "applied addr=%u value=%u", &a, &v) == 2 && v >= base &&
		    v < (unsigned)base + (unsigned)n)
			count[v - base]++;
	}
	fclose(f);
}

/* The in-order link: reads of 1..3 registers of the run 0..99 and of the
 * lone registers 300, 302, 304, 306; only right values may come back. */
static void read_in_order(int unit, pid_t sim)
{
	struct tally t = {0};
	modbus_t *mb = h_modbus(bridge_port, unit);
	for (int i = 0; mb && i < nread; i++) {
		unsigned a =
		    i % 4 == 0 ? 300u + 2u * (unsigned)(i / 4 % 4) : (unsigned)(i * 37) % 98u;
		int n = a >= 300 ? 1 : 1 + i % 3;
		uint16_t v[3];
		if (modbus_read_registers(mb, (int)a, n, v) != n) {
			t.failed++;
			continue;
		}
		int bad = 0;
		for (int k = 0; k < n; k++)
			bad |= v[k] != pattern(a + (unsigned)k);
		if (bad)
			h_note("in order: %u x %d read as %u, is %u", a, n, v[0], pattern(a));
		t.wrong += bad;
		t.ok += !bad;
	}
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	h_ok(h_stop(sim, 3000) == 0, "in order: simulator exits 0");
	h_note("late answers in order: reads %d/%d answered (%.1f%%), %d wrong, %d failed", t.ok,
	       nread, 100.0 * t.ok / nread, t.wrong, t.failed);
	h_ok(t.wrong == 0, "in order: no read returned another register's value (%d did)", t.wrong);
	h_ok(t.ok > 0, "in order: reads are answered (%d)", t.ok);
}

static void run_link(int unit, const char *name, const char *log, pid_t sim)
{
	struct tally t = {0};
	char acked[NWRITE], acked_once[NONCE];
	int applied[NWRITE], applied_once[NONCE];
	uint16_t wbase = (uint16_t)(20000 + unit * 1000), obase = (uint16_t)(40000 + unit * 1000);

	read_phase(unit, &t);
	int wok = write_phase(unit, WBASE, 50, nwrite, wbase, acked);
	int ook = write_phase(unit, OBASE, 4, none, obase, acked_once);
	h_ok(h_stop(sim, 3000) == 0, "%s: simulator exits 0 (its log is complete)", name);
	applied_counts(h_path(log), wbase, nwrite, applied);
	applied_counts(h_path(log), obase, none, applied_once);

	int false_ack = 0, twice = 0, once_ok_applied = 0;
	for (int i = 0; i < nwrite; i++)
		false_ack += acked[i] && applied[i] == 0;
	for (int i = 0; i < none; i++) {
		false_ack += acked_once[i] && applied_once[i] == 0;
		twice += applied_once[i] > 1;
		once_ok_applied += acked_once[i] && applied_once[i] == 1;
	}
	h_note("%s: reads %d/%d answered (%.1f%%), %d wrong, %d failed (%d not 0B)", name, t.ok,
	       nread, 100.0 * t.ok / nread, t.wrong, t.failed, t.other_exc);
	h_note("%s: writes %d/%d acknowledged (%.1f%%); retry = false writes %d/%d (%.1f%%)", name,
	       wok, nwrite, 100.0 * wok / nwrite, ook, none, 100.0 * ook / none);
	h_ok(t.wrong == 0, "%s: no read returned another register's value (%d did)", name, t.wrong);
	h_ok(t.ok * 100 >= nread * 98, "%s: at least 98%% of the reads answered (%d of %d)", name,
	     t.ok, nread);
	h_ok(t.other_exc == 0, "%s: every failed read failed with 0B (%d otherwise)", name,
	     t.other_exc);
	h_ok(wok * 100 >= nwrite * 95, "%s: at least 95%% of the writes acknowledged (%d of %d)",
	     name, wok, nwrite);
	h_ok(false_ack == 0, "%s: every acknowledged write was applied (%d were not)", name,
	     false_ack);
	h_ok(twice == 0, "%s: no retry = false write applied twice (%d were)", name, twice);
	h_ok(once_ok_applied == ook, "%s: each acknowledged retry = false write applied once",
	     name);
}

int main(void)
{
	h_init("lossy");
	if (!h_soak()) {
		nread = NREAD / 3;
		nwrite = NWRITE / 3;
		none = NONCE / 2;
	}
	int broker_port;
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	char port_s[16];
	snprintf(port_s, sizeof port_s, "%d", broker_port);
	const char *drop[] = {h_bin("tests/sim/sim_lossy"),
			      "--host",
			      "127.0.0.1",
			      "--port",
			      port_s,
			      "--device-id",
			      "0B000001",
			      "--drop-req",
			      "10",
			      "--drop-ans",
			      "10",
			      "--pattern",
			      "--seed",
			      "42",
			      NULL};
	const char *late[] = {h_bin("tests/sim/sim_lossy"),
			      "--host",
			      "127.0.0.1",
			      "--port",
			      port_s,
			      "--device-id",
			      "0B000002",
			      "--late",
			      "25",
			      "--late-ms",
			      "250",
			      "--pattern",
			      "--seed",
			      "43",
			      NULL};
	const char *order[] = {h_bin("tests/sim/sim_lossy"),
			       "--host",
			       "127.0.0.1",
			       "--port",
			       port_s,
			       "--device-id",
			       "0B000003",
			       "--late",
			       "25",
			       "--late-ms",
			       "250",
			       "--in-order",
			       "--pattern",
			       "--seed",
			       "44",
			       NULL};
	pid_t sim_drop = h_spawn(drop, "drop.log");
	pid_t sim_late = h_spawn(late, "late.log");
	pid_t sim_order = h_spawn(order, "order.log");
	h_ok(h_wait_lines(h_path("drop.log"), "subscribed", 1, 5000) &&
		 h_wait_lines(h_path("late.log"), "subscribed", 1, 5000) &&
		 h_wait_lines(h_path("order.log"), "subscribed", 1, 5000),
	     "the lossy simulators subscribed");

	/* Registers 0..99 are read, 100..149 written (set values: retried),
	 * 200..203 written once (retry = false). */
	char map[16384];
	int n = snprintf(map, sizeof map,
			 "name = \"lossy\"; protocol = \"powergo\"; trust = \"generated\";\n"
			 "description = \"availability test device\";\nregisters = (\n");
	for (int a = 0; a < 150; a++)
		n += snprintf(
		    map + n, sizeof map - (size_t)n,
		    "  { address = %d; name = \"r%d\"; type = \"uint16\"; access = \"rw\"; "
		    "},\n",
		    a, a);
	for (int a = OBASE; a < OBASE + 4; a++)
		n += snprintf(map + n, sizeof map - (size_t)n,
			      "  { address = %d; name = \"once%d\"; type = \"uint16\"; access = "
			      "\"rw\"; retry = false; }%s\n",
			      a, a, a + 1 < OBASE + 4 ? "," : "");
	snprintf(map + n, sizeof map - (size_t)n, ");\n");
	h_write_file("lossy.conf", map);
	n = snprintf(map, sizeof map,
		     "name = \"lone\"; protocol = \"powergo\"; trust = \"generated\";\n"
		     "description = \"a run and lone registers\";\nregisters = (\n");
	for (int a = 0; a < 100; a++)
		n += snprintf(map + n, sizeof map - (size_t)n,
			      "  { address = %d; name = \"r%d\"; type = \"uint16\"; },\n", a, a);
	for (int a = 300; a <= 306; a += 2)
		n += snprintf(map + n, sizeof map - (size_t)n,
			      "  { address = %d; name = \"r%d\"; type = \"uint16\"; }%s\n", a, a,
			      a < 306 ? "," : "");
	snprintf(map + n, sizeof map - (size_t)n, ");\n");
	h_write_file("lone.conf", map);

	bridge_port = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "defaults = { timeout = %d; max_age = 0; poll = 0; };\n"
		 "devices = (\n"
		 "  { name = \"drop\"; unit_id = 1; map = \"lossy\";\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"0B000001\"; }; },\n"
		 "  { name = \"late\"; unit_id = 2; map = \"lossy\";\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"0B000002\"; }; },\n"
		 "  { name = \"order\"; unit_id = 3; map = \"lone\";\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"0B000003\"; }; }\n"
		 ");\n",
		 bridge_port, h_dir(), TIMEOUT_MS, broker_port, APP, broker_port, APP, broker_port,
		 APP);
	pid_t bridge = h_bridge_start(h_write_file("bridge.conf", conf), bridge_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	/* The link is up before the counting starts. */
	modbus_t *mb = h_modbus(bridge_port, 1);
	uint16_t v;
	int up = 0;
	for (int k = 0; mb && k < 50 && !up; k++) {
		up = modbus_read_registers(mb, 0, 1, &v) == 1;
		if (!up)
			h_sleep_ms(100);
	}
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	h_ok(up, "the bridge reaches the device");

	run_link(1, "10% + 10% loss", "drop.log", sim_drop);
	run_link(2, "25% late answers", "late.log", sim_late);
	read_in_order(3, sim_order);
	h_ok(h_wait_lines(h_path("bridge.log"), "late: dropped answer (", 1, 1000) ||
		 h_count_lines(h_path("late.log"), "late answer") > 0,
	     "late answers happened");

	h_ok(h_bridge_stop(bridge) == 0, "bridge exits 0");
	h_stop(broker, 3000);
	return h_done();
}

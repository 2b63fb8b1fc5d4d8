/* End to end: tests/sim/sim_solarman (a Solarman logger with a Growatt
 * inverter) + build/modbridge with solarman devices, driven through Modbus
 * TCP with libmodbus, with every simulator mode: values decode through
 * maps/growatt.conf to the seeded ones; writes reach the simulator;
 * heartbeats, split answers, AT text and doubled CRCs are survived; silence
 * and bad checksums give 0B and cache nothing; logger errors give 0B / 04
 * with one log line each; a logger that closes the connection is reconnected.
 *
 * Devices (all on the same simulator):
 *   1 inv      growatt map, the right serial and slave, max_age 0
 *   2 rw       a test map with writable holding registers
 *   3 badser   growatt map, serial 99 (the logger answers 0x06)
 *   4 badslave growatt map, slave 7 (the logger answers 0x05)
 *   5 cached   growatt map, max_age 60 s
 *   6 late     growatt map, a logger that only starts listening later
 *   7 rwcache  the test map with writable registers, max_age 60 s
 *
 * Hostile loggers (docs/design.md, "Bounded everything"), through the
 * simulator's hostile modes: a
 * heartbeat flood from a logger that never reads (the bridge's peak RSS
 * stays bounded, the time answers it cannot send are dropped and counted),
 * write echoes with another value (FC06) or quantity (FC16) (an exception,
 * nothing cached), answers with another sequence byte, late answers (dropped,
 * never cached, the next request answered), a logger that closes mid-frame,
 * garbage and a frame of absurd length before answers. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "map.h"

#define SERIAL 1234567890u
#define TIMEOUT_MS 1000

/* What tests/sim/sim_solarman.c seeds (raw values). */
struct seed {
	const char *name;
	int64_t raw;	  /* numeric registers */
	const char *text; /* string registers */
};

static const struct seed seeds[] = {
    {"inverter_status", 1, NULL},
    {"derating_mode", 6, NULL},
    {"fault_code", 26, NULL},
    {"warning_code", 1, NULL},
    {"warning_value", 7, NULL},
    {"ppv", 123456, NULL},
    {"vpv1", 3456, NULL},
    {"ipv1", 52, NULL},
    {"ppv1", 70000, NULL},
    {"vpv2", 3321, NULL},
    {"ipv2", 41, NULL},
    {"ppv2", 53456, NULL},
    {"pac", 118000, NULL},
    {"fac", 5001, NULL},
    {"vac1", 2301, NULL},
    {"iac1", 171, NULL},
    {"pac1", 39330, NULL},
    {"vac2", 2298, NULL},
    {"iac2", 170, NULL},
    {"pac2", 39066, NULL},
    {"vac3", 2305, NULL},
    {"iac3", 172, NULL},
    {"pac3", 39646, NULL},
    {"eac_today", 187, NULL},
    {"eac_total", 2345678, NULL},
    {"time_total", 12345678, NULL},
    {"temp_inverter", 412, NULL},
    {"temp_ipm", 455, NULL},
    {"temp_boost", -35, NULL},
    {"p_bus_voltage", 3801, NULL},
    {"n_bus_voltage", 3795, NULL},
    {"vbat", 524, NULL},
    {"soc", 77, NULL},
    {"battery_temperature", -52, NULL},
    {"firmware", 0, "ABC123"},
    {"serial", 0, "SN12345678"},
    {"model", 0x12345678, NULL},
    {"serial_new", 0, "NEWSN0123456789ABCDEFGHIJKLMN"},
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

/* h_path() rotates through a few static buffers: keep our own copies. */
static char ctl_path[1024], simlog[1024], brlog[1024];

/* Switch the running simulator's modes (atomically: it reads the file before
 * every request). */
static void sim_mode(const char *words)
{
	const char *tmp = h_write_file("sim.ctl.tmp", words);
	if (!tmp || rename(tmp, ctl_path) != 0)
		h_note("could not write %s", ctl_path);
}

static int count_lines(const char *path, const char *a, const char *b)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strstr(line, a) && (!b || strstr(line, b)))
			n++;
	fclose(f);
	return n;
}

static int read_regs(modbus_t *m, int table, int addr, int n, uint16_t *out)
{
	return table == MAP_INPUT ? modbus_read_input_registers(m, addr, n, out)
				  : modbus_read_registers(m, addr, n, out);
}

/* A read that must fail with exception `exc` (libmodbus errno). */
static int read_fails(modbus_t *m, int table, int addr, int exc, uint64_t *ms)
{
	uint16_t w[2];
	uint64_t t0 = h_now_ms();
	int rc = read_regs(m, table, addr, 1, w);
	int e = errno;
	if (ms)
		*ms = h_now_ms() - t0;
	if (rc >= 0)
		h_note("read %d answered %u, expected an exception", addr, w[0]);
	else if (e != exc)
		h_note("read %d: %s (expected %s)", addr, modbus_strerror(e), modbus_strerror(exc));
	return rc < 0 && e == exc;
}

/* Every seeded register through the bridge and the map's decoder. */
static int check_all(modbus_t *m, const struct map *map, const char *why)
{
	int bad = 0;
	for (size_t i = 0; i < NSEEDS; i++) {
		const struct map_register *r = map_find_name(map, seeds[i].name);
		uint16_t w[16] = {0};
		if (!r) {
			h_note("%s: %s not in the map", why, seeds[i].name);
			bad++;
			continue;
		}
		if (read_regs(m, r->table, r->address, r->count, w) != r->count) {
			h_note("%s: read %s: %s", why, r->name, modbus_strerror(errno));
			bad++;
			continue;
		}
		if (seeds[i].text) {
			char s[33] = {0};
			for (int k = 0; k < r->count && k < 16; k++) {
				s[2 * k] = (char)(w[k] >> 8);
				s[2 * k + 1] = (char)(w[k] & 0xFF);
			}
			if (strcmp(s, seeds[i].text) != 0) {
				h_note("%s: %s = \"%s\", want \"%s\"", why, r->name, s,
				       seeds[i].text);
				bad++;
			}
			continue;
		}
		int64_t v = map_decode(r, w);
		if (v != seeds[i].raw) {
			h_note("%s: %s = %lld, want %lld", why, r->name, (long long)v,
			       (long long)seeds[i].raw);
			bad++;
		}
	}
	return bad == 0;
}

/* A few reads covering several registers at once, as clients do. */
static int check_block(modbus_t *m, const char *why)
{
	uint16_t w[16];
	static const uint16_t want0[11] = {1,	   0x0001, 0xe240, 3456, 52,   0x0001,
					   0x1170, 3321,   41,	   0,	 53456};
	if (modbus_read_input_registers(m, 0, 11, w) != 11) {
		h_note("%s: read 0..10: %s", why, modbus_strerror(errno));
		return 0;
	}
	if (memcmp(w, want0, sizeof want0) != 0) {
		h_note("%s: 0..10 differ (w[1]=%04x w[2]=%04x)", why, w[1], w[2]);
		return 0;
	}
	if (modbus_read_input_registers(m, 1013, 2, w) != 2 || w[0] != 524 || w[1] != 77) {
		h_note("%s: read 1013..1014 wrong", why);
		return 0;
	}
	return 1;
}

/* Did the last call fail with a Modbus exception (rather than succeed)? */
static int is_exception(int rc, int e)
{
	return rc < 0 && e >= EMBXILFUN && e <= EMBXGTAR;
}

/* Read until it answers (bounded): after a dropped link. */
static int read_until(modbus_t *m, int addr, uint16_t want, int timeout_ms)
{
	uint16_t w[2];
	for (uint64_t end = h_now_ms() + (uint64_t)timeout_ms; h_now_ms() < end;) {
		if (modbus_read_input_registers(m, addr, 1, w) == 1)
			return w[0] == want;
		h_sleep_ms(100);
	}
	return 0;
}

/* docs/protocols/solarman.md: loggers that flood, lie, answer late or break frames. */
static void check_hostile(pid_t br, modbus_t **m)
{
	uint16_t w[4];
	long long d0, d1;
	int rc, e, n0;

	/* --- write echoes are checked against the request */
	sim_mode("normal");
	h_ok(modbus_write_register(m[2], 100, 5) == 1, "reg 100 = 5 on the device");
	sim_mode("wrong-value");
	d0 = h_dev_counter(br, brlog, "rwcache", "dropped");
	rc = modbus_write_register(m[7], 100, 0x4321);
	e = errno;
	h_ok(is_exception(rc, e), "FC06 echo with another value -> exception, not an ack (%s)",
	     rc < 0 ? modbus_strerror(e) : "acknowledged");
	d1 = h_dev_counter(br, brlog, "rwcache", "dropped");
	h_ok(d0 >= 0 && d1 > d0, "the mismatching FC06 echo is dropped and counted (%lld -> %lld)",
	     d0, d1);
	sim_mode("normal");
	n0 = count_lines(simlog, "fc=03", NULL);
	rc = modbus_read_registers(m[7], 100, 1, w);
	h_ok(rc == 1 && w[0] == 5 && count_lines(simlog, "fc=03", NULL) > n0,
	     "the refused value was not cached: the read asks the device and gets 5 (got %d, "
	     "%u)",
	     rc, rc == 1 ? w[0] : 0);

	uint16_t v3[3] = {11, 12, 13};
	h_ok(modbus_write_registers(m[2], 101, 3, (uint16_t[]){7, 8, 9}) == 3,
	     "regs 101..103 = 7,8,9 on the device");
	sim_mode("wrong-count");
	d0 = h_dev_counter(br, brlog, "rwcache", "dropped");
	rc = modbus_write_registers(m[7], 101, 3, v3);
	e = errno;
	h_ok(is_exception(rc, e), "FC16 echo with another quantity -> exception, not an ack (%s)",
	     rc < 0 ? modbus_strerror(e) : "acknowledged");
	d1 = h_dev_counter(br, brlog, "rwcache", "dropped");
	h_ok(d0 >= 0 && d1 > d0, "the mismatching FC16 echo is dropped and counted (%lld -> %lld)",
	     d0, d1);
	sim_mode("normal");
	n0 = count_lines(simlog, "fc=03", NULL);
	rc = modbus_read_registers(m[7], 101, 3, w);
	h_ok(rc == 3 && w[0] == 7 && w[1] == 8 && w[2] == 9 &&
		 count_lines(simlog, "fc=03", NULL) > n0,
	     "nothing cached from the FC16: the read asks the device and gets 7,8,9");
	h_ok(modbus_write_register(m[7], 100, 6) == 1 &&
		 modbus_write_registers(m[7], 101, 3, v3) == 3,
	     "right echoes are still acknowledged");

	/* --- an answer with another sequence byte is someone else's */
	sim_mode("wrong-seq");
	d0 = h_dev_counter(br, brlog, "inv", "dropped");
	h_ok(read_fails(m[1], MAP_INPUT, 1014, EMBXGTAR, NULL),
	     "answers with the wrong sequence byte are not taken -> 0B");
	d1 = h_dev_counter(br, brlog, "inv", "dropped");
	h_ok(d0 >= 0 && d1 > d0, "and are dropped and counted (%lld -> %lld)", d0, d1);
	sim_mode("normal");
	h_ok(read_until(m[1], 1014, 77, 5000), "normal answers are taken again");

	/* --- a late answer (after the timeout) is dropped, never cached, and
	 * does not fail the next request. Device 5 caches for 60 s. */
	int late0 = count_lines(simlog, "late answer sent", NULL);
	sim_mode("delay=3000");
	d0 = h_dev_counter(br, brlog, "cached", "dropped");
	h_ok(read_fails(m[5], MAP_INPUT, 1040, EMBXGTAR, NULL),
	     "a logger that answers after the timeout -> 0B");
	sim_mode("silent");
	h_ok(h_wait_lines(simlog, "late answer sent", late0 + 1, 10000),
	     "the simulator sent the late answer");
	h_ok(read_fails(m[5], MAP_INPUT, 1040, EMBXGTAR, NULL),
	     "the late answer was not cached (a silent logger now gives 0B)");
	sim_mode("normal");
	h_ok(read_until(m[5], 1013, 524, 5000),
	     "the next request gets its own answer (vbat 524, not the late answer's value)");
	d1 = h_dev_counter(br, brlog, "cached", "dropped");
	h_ok(d0 >= 0 && d1 > d0, "the late answer was dropped and counted (%lld -> %lld)", d0, d1);

	/* --- a logger that accepts and never answers: 0B, then recovery */
	sim_mode("silent");
	h_ok(read_fails(m[1], MAP_INPUT, 1014, EMBXGTAR, NULL) &&
		 read_fails(m[1], MAP_INPUT, 1013, EMBXGTAR, NULL),
	     "a logger that never answers -> 0B, each time");
	sim_mode("normal");
	h_ok(read_until(m[1], 1014, 77, 5000), "and reads work as soon as it answers again");

	/* --- a logger that closes in the middle of an answer */
	int lost0 = count_lines(brlog, "inv:", "connection lost");
	sim_mode("close-mid");
	rc = modbus_read_input_registers(m[1], 1014, 1, w);
	e = errno;
	h_ok(is_exception(rc, e), "a logger that closes mid-frame -> exception (%s)",
	     rc < 0 ? modbus_strerror(e) : "answered");
	sim_mode("normal");
	h_ok(count_lines(brlog, "inv:", "connection lost") > lost0 &&
		 read_until(m[1], 1014, 77, 8000),
	     "the link is dropped, reopened, and reads work again");

	/* --- garbage and absurd lengths before answers: resync */
	sim_mode("garbage");
	d0 = h_dev_counter(br, brlog, "inv", "dropped");
	h_ok(check_block(m[1], "garbage"), "garbage, a false start and an absurd length before "
					   "answers: values still right");
	d1 = h_dev_counter(br, brlog, "inv", "dropped");
	h_ok(d0 >= 0 && d1 > d0, "the garbage is dropped and counted (%lld -> %lld)", d0, d1);
	sim_mode("huge");
	h_ok(check_block(m[1], "huge"), "a frame header claiming 65535 bytes and 64 KiB of filler "
					"before answers: values still right");
	sim_mode("normal");

	/* --- a heartbeat flood from a logger that reads nothing: the time
	 * answers it does not take must not pile up in the bridge */
	long hwm0 = h_proc_kib(br, "VmHWM");
	int flood0 = count_lines(simlog, "flood conn=", NULL);
	d0 = h_dev_counter(br, brlog, "inv", "dropped");
	sim_mode("flood=3000");
	rc = modbus_read_input_registers(m[1], 1014, 1, w);
	e = errno;
	h_ok(is_exception(rc, e), "the request that starts the flood is not answered (%s)",
	     rc < 0 ? modbus_strerror(e) : "answered");
	sim_mode("normal");
	h_ok(h_wait_lines(simlog, "flood conn=", flood0 + 1, 20000), "the simulator flooded");
	long hwm1 = h_proc_kib(br, "VmHWM");
	h_ok(hwm0 > 0 && hwm1 > 0 && hwm1 - hwm0 < 16 * 1024,
	     "the bridge's peak RSS stays bounded during the flood (%ld kB -> %ld kB)", hwm0, hwm1);
	d1 = h_dev_counter(br, brlog, "inv", "dropped");
	h_ok(d0 >= 0 && d1 > d0 + 100,
	     "time answers the logger does not read are dropped and counted (%lld -> %lld)", d0,
	     d1);
	h_ok(read_until(m[1], 1014, 77, 8000), "reads work again after the flood");
}

int main(void)
{
	h_init("solarman");
	char err[4096], text[4096];
	snprintf(ctl_path, sizeof ctl_path, "%s", h_path("sim.ctl"));
	snprintf(simlog, sizeof simlog, "%s", h_path("sim.log"));
	snprintf(brlog, sizeof brlog, "%s", h_path("bridge.log"));
	sim_mode("normal");

	/* A test map with writable registers and one the simulator refuses. */
	h_write_file("soltest.conf",
		     "name = \"soltest\"; protocol = \"solarman\"; trust = \"generated\";\n"
		     "description = \"solarman write test\"; source = \"test_solarman.c\";\n"
		     "registers = (\n"
		     "  { address = 100; name = \"w0\"; type = \"uint16\"; access = \"rw\"; },\n"
		     "  { address = 101; name = \"w1\"; type = \"uint16\"; access = \"rw\"; },\n"
		     "  { address = 102; name = \"w2\"; type = \"uint16\"; access = \"rw\"; },\n"
		     "  { address = 103; name = \"w3\"; type = \"uint16\"; access = \"rw\"; },\n"
		     "  { address = 60000; name = \"refused\"; type = \"uint16\"; }\n"
		     ");\n");

	char mpath[1024];
	snprintf(mpath, sizeof mpath, "%s/growatt.conf", h_maps_dir());
	struct map *map = map_load(mpath, err, sizeof err);
	if (!h_ok(map != NULL, "maps/growatt.conf loads")) {
		h_note("%s", err);
		return h_done();
	}
	h_ok(strcmp(map_protocol(map), "solarman") == 0, "growatt map speaks solarman");
	h_ok(map_lint(map, err, sizeof err) == 0, "growatt map passes the linter");
	h_ok(map_nregs(map) == NSEEDS, "every map register is seeded (%zu registers, %zu seeds)",
	     map_nregs(map), NSEEDS);

	int sport = h_free_port();
	char sport_s[16];
	snprintf(sport_s, sizeof sport_s, "%d", sport);
	const char *sargv[] = {
	    h_bin("tests/sim/sim_solarman"), "--port", sport_s, "--control", ctl_path, NULL};
	pid_t sim = h_spawn(sargv, "sim.log");
	if (!h_ok(sim > 0 && h_wait_port(sport, 5000) == 0, "simulator listens")) {
		map_free(map);
		return h_done();
	}

	int mport = h_free_port(), lport = h_free_port();
	char conf[8192];
#define DEV(name, unit, mapname, extra, serial, slave)                                             \
	"  { name = \"" name "\"; unit_id = " #unit "; map = \"" mapname "\"; timeout = 1000;\n"   \
	"    min_interval = 0; " extra "\n"                                                        \
	"    solarman = { host = \"127.0.0.1\"; port = %d; serial = " serial "; slave = " slave    \
	"; }; }"
	// clang-format off
	snprintf(conf, sizeof conf,
	    "server = { listen = \"127.0.0.1\"; port = %d; };\n"
	    "maps_path = [ \"%s\", \"%s\" ];\n"
	    "defaults = { timeout = 1000; max_age = 0; poll = 0; min_interval = 0; };\n"
	    "devices = (\n"
	    DEV("inv", 1, "growatt", "max_age = 0;", "1234567890", "1") ",\n"
	    DEV("rw", 2, "soltest", "max_age = 0;", "1234567890", "1") ",\n"
	    DEV("badser", 3, "growatt", "max_age = 0;", "99", "1") ",\n"
	    DEV("badslave", 4, "growatt", "max_age = 0;", "1234567890", "7") ",\n"
	    DEV("cached", 5, "growatt", "max_age = 60000;", "1234567890", "1") ",\n"
	    DEV("late", 6, "growatt", "max_age = 0;", "1234567890", "1") ",\n"
	    DEV("rwcache", 7, "soltest", "max_age = 60000;", "1234567890", "1") "\n"
	    ");\n",
	    mport, h_dir(), h_maps_dir(), sport, sport, sport, sport, sport, lport, sport);
	// clang-format on
	const char *cpath = h_write_file("modbridge.conf", conf);
	pid_t br = h_bridge_start(cpath, mport, "bridge.log");
	if (!h_ok(br > 0, "bridge starts with seven solarman devices")) {
		map_free(map);
		return h_done();
	}
	uint64_t bridge_t0 = h_now_ms();
	modbus_t *m[8] = {0};
	for (int u = 1; u <= 7; u++)
		m[u] = h_modbus(mport, u);
	if (!h_ok(m[1] && m[2] && m[3] && m[4] && m[5] && m[6] && m[7], "Modbus clients connect")) {
		h_bridge_stop(br);
		map_free(map);
		return h_done();
	}

	/* The links come up within a few seconds. */
	uint16_t w[16];
	uint64_t t0 = h_now_ms(), ms = 0;
	int up = 0;
	while (!up && h_now_ms() - t0 < 5000) {
		up = modbus_read_input_registers(m[1], 0, 1, w) == 1;
		if (!up)
			h_sleep_ms(100);
	}
	h_ok(up && w[0] == 1, "logger link up, inverter_status read (%llu ms)",
	     (unsigned long long)(h_now_ms() - t0));
	/* The other devices connect at about the same time; under valgrind
	 * their lines may come a little later (bounded wait). */
	for (uint64_t end = h_now_ms() + 5000;
	     count_lines(simlog, "connection ", NULL) < 6 && h_now_ms() < end;)
		h_sleep_ms(50);
	h_ok(count_lines(simlog, "connection ", NULL) >= 6, "one connection per device");

	/* --- a logger that is not there yet: 0A at once, one warning, retries
	 * (attempts at about 0, 1, 3, 7 s), connected once it listens */
	h_ok(read_fails(m[6], MAP_INPUT, 0, EMBXGPATH, &ms) && ms < 500,
	     "unreachable logger -> 0A at once (%llu ms)", (unsigned long long)ms);
	while (h_now_ms() - bridge_t0 < 1500)
		h_sleep_ms(50);
	h_ok(count_lines(brlog, "late:", "cannot reach logger") == 1,
	     "an unreachable logger is warned about once, not per attempt");
	char lport_s[16];
	snprintf(lport_s, sizeof lport_s, "%d", lport);
	const char *largv[] = {h_bin("tests/sim/sim_solarman"), "--port", lport_s, NULL};
	pid_t late = h_spawn(largv, "sim-late.log");
	h_ok(late > 0 && h_wait_port(lport, 5000) == 0, "the late logger starts listening");

	/* --- values, through the map's decoder */
	h_ok(check_all(m[1], map, "plain"), "all %zu registers decode to the seeded values",
	     NSEEDS);
	const struct map_register *rp = map_find_name(map, "ppv");
	const struct map_register *rt = map_find_name(map, "battery_temperature");
	if (rp && rt && modbus_read_input_registers(m[1], rp->address, 2, w) == 2) {
		double ppv = (double)map_decode(rp, w) * rp->scale;
		h_ok(ppv > 12345.5 && ppv < 12345.7, "ppv (32-bit, high word first) = %.1f %s", ppv,
		     rp->unit);
	} else {
		h_ok(0, "ppv readable");
	}
	if (rt && modbus_read_input_registers(m[1], rt->address, 1, w) == 1) {
		double t = (double)map_decode(rt, w) * rt->scale;
		h_ok(t < -5.19 && t > -5.21, "battery_temperature (signed) = %.1f %s", t, rt->unit);
	} else {
		h_ok(0, "battery_temperature readable");
	}
	h_ok(check_block(m[1], "plain"), "multi-register reads (0..10, 1013..1014)");
	h_ok(count_lines(simlog, "fc=04 addr=0 count=11", NULL) >= 1 &&
		 count_lines(simlog, "fc=03 addr=23 count=5", NULL) >= 1,
	     "FC04 for input registers, FC03 for holding registers");
	h_ok(count_lines(simlog, "serial=1234567890 slave=1", NULL) >= 1,
	     "requests carry the configured serial and slave");

	/* --- writes */
	int rc = modbus_write_register(m[2], 100, 0x1234);
	h_ok(rc == 1 && count_lines(simlog, "fc=06 addr=100 count=1 values=4660", NULL) == 1,
	     "FC06 write reaches the simulator");
	uint16_t vals[3] = {7, 8, 9};
	rc = modbus_write_registers(m[2], 101, 3, vals);
	h_ok(rc == 3 && count_lines(simlog, "fc=10 addr=101 count=3 values=7,8,9", NULL) == 1,
	     "FC16 write reaches the simulator");
	rc = modbus_read_registers(m[2], 100, 4, w);
	h_ok(rc == 4 && w[0] == 0x1234 && w[1] == 7 && w[2] == 8 && w[3] == 9,
	     "written values read back from the simulator");
	h_ok(read_fails(m[2], MAP_HOLDING, 60000, EMBXILADD, NULL),
	     "the device's exception 02 passes through unchanged");

	/* --- logger quirks that must not disturb answers */
	sim_mode("heartbeat");
	h_ok(check_block(m[1], "heartbeat") && check_all(m[1], map, "heartbeat"),
	     "heartbeat before answers: values still right");
	h_ok(count_lines(simlog, "time answer", "control=1710") >= 1,
	     "the bridge answers a heartbeat with the time answer (10 17)");
	sim_mode("split");
	h_ok(check_block(m[1], "split") && check_all(m[1], map, "split"),
	     "answers split into small pieces: values still right");
	sim_mode("at");
	h_ok(check_block(m[1], "at") && check_all(m[1], map, "at"),
	     "AT+ text before answers: values still right");
	sim_mode("double-crc");
	h_ok(check_block(m[1], "double-crc") && check_all(m[1], map, "double-crc"),
	     "doubled CRC (Deye): values still right");
	sim_mode("heartbeat split at double-crc");
	int blk = check_block(m[1], "all");
	rc = modbus_write_register(m[2], 100, 42);
	if (rc != 1)
		h_note("all: the write to 100: %s", modbus_strerror(errno));
	h_ok(blk && rc == 1, "all quirks at once: reads and a write still right");

	/* --- silence and damage: 0B, nothing cached */
	sim_mode("silent");
	h_ok(read_fails(m[1], MAP_INPUT, 0, EMBXGTAR, &ms) && ms >= TIMEOUT_MS - 100,
	     "silent logger -> 0B after the timeout (%llu ms)", (unsigned long long)ms);
	sim_mode("badsum");
	h_ok(read_fails(m[5], MAP_INPUT, 1014, EMBXGTAR, NULL),
	     "bad checksum never accepted -> 0B");
	sim_mode("silent");
	h_ok(read_fails(m[5], MAP_INPUT, 1014, EMBXGTAR, NULL),
	     "nothing was cached from the bad frame");
	sim_mode("normal");
	/* The client's 0B can come a moment before the device's last attempt
	 * ends (a request that arrives then joins that attempt, which the
	 * simulator took while silent): read until the good answer comes. */
	h_ok(read_until(m[5], 1014, 77, 5000), "good answer after bad ones: soc = 77");
	sim_mode("silent");
	rc = modbus_read_input_registers(m[5], 1014, 1, w);
	h_ok(rc == 1 && w[0] == 77, "and that one is served from the cache (so the check above "
				    "could have failed)");
	sim_mode("normal");

	/* --- logger errors */
	int e0 = 1;
	for (int i = 0; i < 3; i++)
		e0 &= read_fails(m[3], MAP_INPUT, 0, EMBXSFAIL, NULL);
	h_ok(e0, "serial mismatch (logger error 0x06) -> 04, three times");
	h_ok(count_lines(brlog, "badser:", "serial mismatch") == 1,
	     "serial mismatch logged once, not per request");
	e0 = 1;
	uint64_t worst = 0;
	for (int i = 0; i < 3; i++) {
		e0 &= read_fails(m[4], MAP_INPUT, 0, EMBXGTAR, &ms);
		worst = ms > worst ? ms : worst;
	}
	h_ok(e0 && worst < TIMEOUT_MS / 2,
	     "slave mismatch (logger error 0x05) -> 0B at once, three times (%llu ms)",
	     (unsigned long long)worst);
	h_ok(count_lines(brlog, "badslave:", "slave address mismatch") == 1,
	     "slave mismatch logged once, not per request");
	/* The logger's serial changes: now device 3 is right and device 1 wrong. */
	sim_mode("serial=99");
	rc = modbus_read_input_registers(m[3], 1014, 1, w);
	h_ok(rc == 1 && w[0] == 77, "a device whose serial now matches reads again");
	h_ok(read_fails(m[1], MAP_INPUT, 0, EMBXSFAIL, NULL) &&
		 count_lines(brlog, "inv:", "serial mismatch") == 1,
	     "and the other one reports the mismatch");
	sim_mode("normal");
	h_ok(read_fails(m[3], MAP_INPUT, 0, EMBXSFAIL, NULL) &&
		 count_lines(brlog, "badser:", "serial mismatch") == 2,
	     "a mismatch is logged again after it changed");
	rc = modbus_read_input_registers(m[1], 0, 1, w);
	h_ok(rc == 1 && w[0] == 1, "device 1 reads again after the serial is back");

	/* --- the late logger was found by a retry */
	t0 = h_now_ms();
	up = 0;
	while (!up && h_now_ms() - t0 < 8000) {
		up = modbus_read_input_registers(m[6], 1014, 1, w) == 1 && w[0] == 77;
		if (!up)
			h_sleep_ms(100);
	}
	h_ok(up,
	     "a logger that comes later is connected by the retries (read %llu ms after bridge "
	     "start)",
	     (unsigned long long)(h_now_ms() - bridge_t0));
	h_stop(late, 2000);

	/* --- the logger closes the connection every 2 answers */
	int conns0 = count_lines(simlog, "connection ", NULL);
	sim_mode("close-after=2");
	int ok = 0, fails = 0;
	uint64_t gap = 0, fail_at = 0;
	t0 = h_now_ms();
	while (ok < 7 && h_now_ms() - t0 < 10000) {
		rc = modbus_read_input_registers(m[1], 1014, 1, w);
		if (rc == 1 && w[0] == 77) {
			ok++;
			if (fail_at && h_now_ms() - fail_at > gap)
				gap = h_now_ms() - fail_at;
			fail_at = 0;
		} else {
			fails++;
			if (!fail_at)
				fail_at = h_now_ms();
			h_sleep_ms(100);
		}
	}
	int conns = count_lines(simlog, "connection ", NULL) - conns0;
	h_ok(ok >= 7 && conns >= 3,
	     "closed connections are reopened and reads resume (%d reads, %d failed, %d new "
	     "connections, longest gap %llu ms)",
	     ok, fails, conns, (unsigned long long)gap);
	h_ok(gap < 3000, "reconnect within the 1 s backoff (longest gap %llu ms)",
	     (unsigned long long)gap);
	h_ok(count_lines(brlog, "inv:", "connection lost") >= 2, "the bridge logs the lost link");
	sim_mode("normal");
	t0 = h_now_ms();
	up = 0;
	while (!up && h_now_ms() - t0 < 5000) {
		up = modbus_read_input_registers(m[1], 0, 11, w) == 11;
		if (!up)
			h_sleep_ms(100);
	}
	h_ok(up && check_block(m[1], "after") && check_all(m[1], map, "after"),
	     "everything still decodes after the reconnects");

	check_hostile(br, m);

	for (int u = 1; u <= 7; u++) {
		modbus_close(m[u]);
		modbus_free(m[u]);
	}
	h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");
	h_stop(sim, 2000);
	snprintf(text, sizeof text, "%d requests logged by the simulator",
		 count_lines(simlog, "request ", NULL));
	h_note("%s", text);
	map_free(map);
	return h_done();
}

/* End to end: the `modbus` protocol (bridge/tr_modbus.c) through the real
 * daemon, against tests/sim/sim_modbus on both kinds of bus: RTU slaves on a
 * serial line made of a socat pty pair, and a Modbus TCP server. A libmodbus
 * client reads and writes through the bridge.
 *
 * Checked: reads (FC03, FC04) and writes (FC06, FC16) over RTU and TCP; two
 * slaves on one line behind two unit IDs, each answering with its own
 * values; concurrent clients on both, with the simulator seeing whole
 * requests only, never one while an answer was due, and at least the bus's
 * gap of silence between transactions; a device exception passed through; a
 * silent slave answered 0B; a corrupted CRC answered 0B and counted, then
 * reads again; the serial port removed (socat killed, the pty path gone) and
 * back; the TCP upstream restarted; the SDM630 map's float32 registers read
 * through the bridge from a meter whose values the simulator was given.
 *
 * Hostile slaves (docs/design.md, "Answers bound to their requests"): late
 * answers never taken for another read's, over RTU and TCP (a short run of
 * tests/bench/late_modbus: answers one request late, 1.02 x the timeout
 * late, 5 % late at random); the gap never shorter than configured (to the
 * microsecond); a TCP answer naming another unit dropped and counted; a stop
 * while a slave drips its answer one byte at a time is not held up. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static char tty_bridge[1024], tty_sim[1024], simlog[1024], brlog[1024];
static char tcp_port_s[16], idle_port_s[16], drip_port_s[16];
static pid_t socat_pid = -1, rtu_pid = -1, tcp_pid = -1, idle_pid = -1, drip_pid = -1;
static int mport;

/* The SDM630 values the simulator holds (input registers, float32). */
#define SDM_FLOATS                                                                                 \
	"--float", "0=230.5", "--float", "52=-1234.25", "--float", "70=49.98", "--float",          \
	    "342=12345.5"

static int start_line(void)
{
	char a[1200], b[1200];
	snprintf(a, sizeof a, "pty,raw,echo=0,link=%s", tty_bridge);
	snprintf(b, sizeof b, "pty,raw,echo=0,link=%s", tty_sim);
	const char *argv[] = {"socat", a, b, NULL};
	socat_pid = h_spawn(argv, "socat.log");
	for (int i = 0; i < 100; i++) {
		if (access(tty_bridge, F_OK) == 0 && access(tty_sim, F_OK) == 0)
			return 1;
		h_sleep_ms(20);
	}
	return 0;
}

static int start_rtu_sim(const char *extra, const char *logname)
{
	const char *argv[24] = {h_bin("tests/sim/sim_modbus"),
				"--rtu",
				tty_sim,
				"--slave",
				"1",
				"--slave",
				"2",
				"--exc",
				"50:2",
				"--delay",
				"2",
				SDM_FLOATS};
	size_t n = 0;
	while (argv[n])
		n++;
	if (extra) {
		argv[n++] = "--bad-crc";
		argv[n++] = extra;
	}
	argv[n] = NULL;
	snprintf(simlog, sizeof simlog, "%s", h_path(logname));
	rtu_pid = h_spawn(argv, logname);
	return h_wait_lines(simlog, "ready", 1, 5000);
}

static int start_tcp_sim(void)
{
	const char *argv[] = {h_bin("tests/sim/sim_modbus"),
			      "--tcp",
			      tcp_port_s,
			      "--slave",
			      "1",
			      "--slave",
			      "5",
			      "--exc",
			      "50:3",
			      "--wrong-unit",
			      "60",
			      NULL};
	tcp_pid = h_spawn(argv, "simtcp.log");
	return h_wait_port(atoi(tcp_port_s), 5000) == 0;
}

/* A Modbus TCP device that closes a connection idle for 1.5 s. */
static int start_idle_sim(void)
{
	const char *argv[] = {h_bin("tests/sim/sim_modbus"),
			      "--tcp",
			      idle_port_s,
			      "--slave",
			      "5",
			      "--idle-close",
			      "1500",
			      NULL};
	idle_pid = h_spawn(argv, "simidle.log");
	return h_wait_port(atoi(idle_port_s), 5000) == 0;
}

/* A Modbus TCP device that sends its answers one byte every 50 ms (a 125
 * register read takes 12.75 s to arrive). */
static int start_drip_sim(void)
{
	const char *argv[] = {h_bin("tests/sim/sim_modbus"),
			      "--tcp",
			      drip_port_s,
			      "--slave",
			      "1",
			      "--drip",
			      "50",
			      NULL};
	drip_pid = h_spawn(argv, "simdrip.log");
	return h_wait_port(atoi(drip_port_s), 5000) == 0;
}

/* A field "key=N" of line, or -1. */
static long field(const char *line, const char *key)
{
	const char *p = strstr(line, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Read count holding (fc 3) or input (fc 4) registers of unit at addr: the
 * number read, or -1 with errno as libmodbus sets it. */
static int rd(modbus_t *m, int fc, int addr, int count, uint16_t *out)
{
	return fc == 4 ? modbus_read_input_registers(m, addr, count, out)
		       : modbus_read_registers(m, addr, count, out);
}

/* Does reading unit's holding register addr give want within ms? */
static int read_until(modbus_t *m, int addr, uint16_t want, int ms)
{
	uint64_t end = h_now_ms() + (uint64_t)ms;
	do {
		uint16_t v;
		if (rd(m, 3, addr, 1, &v) == 1 && v == want)
			return 1;
		h_sleep_ms(100);
	} while (h_now_ms() < end);
	return 0;
}

struct hammer {
	int unit, n, ok;
};

/* A client of its own reading unit's registers 0..3 n times: register 0 as
 * written before (unit 1: 1000, unit 2: 7), register 3 the slave's own. */
static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	modbus_t *m = h_modbus(mport, h->unit);
	if (!m)
		return NULL;
	for (int i = 0; i < h->n; i++) {
		uint16_t v[4];
		if (rd(m, 3, 0, 4, v) == 4 && v[0] == (h->unit == 1 ? 1000 : 7) &&
		    v[3] == h->unit * 1000 + 3)
			h->ok++;
	}
	modbus_close(m);
	modbus_free(m);
	return NULL;
}

/* The simulator's exit line: requests, garbage, overlap, min gap (µs). */
static int sim_stats(const char *log, unsigned long *req, unsigned long *garbage,
		     unsigned long *overlap, long long *gap)
{
	FILE *f = fopen(log, "r");
	char line[256];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "stats requests %lu garbage %lu overlap %lu min_gap_us %lld", req,
			   garbage, overlap, gap) == 4)
			found = 1;
	if (f)
		fclose(f);
	return found;
}

static float f32(const uint16_t *w)
{
	uint32_t bits = (uint32_t)w[0] << 16 | w[1];
	float f;
	memcpy(&f, &bits, sizeof f);
	return f;
}

int main(void)
{
	h_init("modbus");
	snprintf(tty_bridge, sizeof tty_bridge, "%s", h_path("ttyBRIDGE"));
	snprintf(tty_sim, sizeof tty_sim, "%s", h_path("ttySIM"));
	snprintf(brlog, sizeof brlog, "%s", h_path("bridge.log"));
	snprintf(tcp_port_s, sizeof tcp_port_s, "%d", h_free_port());
	snprintf(idle_port_s, sizeof idle_port_s, "%d", h_free_port());
	snprintf(drip_port_s, sizeof drip_port_s, "%d", h_free_port());

	if (!h_ok(start_line(), "socat makes a pty pair (the serial line)") ||
	    !h_ok(start_rtu_sim(NULL, "sim1.log"), "the RTU simulator opens its end") ||
	    !h_ok(start_tcp_sim(), "the Modbus TCP simulator listens") ||
	    !h_ok(start_idle_sim(),
		  "a Modbus TCP simulator that closes idle connections listens") ||
	    !h_ok(start_drip_sim(), "a Modbus TCP simulator that drips its answers listens"))
		return h_done();

	h_write_file(
	    "mbtest.conf",
	    "name = \"mbtest\"; protocol = \"modbus\"; trust = \"generated\";\n"
	    "description = \"modbus transport test\"; source = \"test_modbus.c\";\n"
	    "registers = (\n"
	    "  { address = 0; name = \"h0\"; type = \"uint16\"; access = \"rw\"; },\n"
	    "  { address = 1; name = \"h1\"; type = \"uint16\"; access = \"rw\"; },\n"
	    "  { address = 2; name = \"h2\"; type = \"uint16\"; access = \"rw\"; },\n"
	    "  { address = 3; name = \"h3\"; type = \"uint16\"; access = \"rw\"; },\n"
	    "  { address = 50; name = \"refused\"; type = \"uint16\"; access = \"rw\"; },\n"
	    "  { address = 60; name = \"other_unit\"; type = \"uint16\"; },\n"
	    "  { address = 100; table = \"input\"; name = \"i0\"; type = \"uint16\"; },\n"
	    "  { address = 101; table = \"input\"; name = \"i1\"; type = \"uint16\"; }\n"
	    ");\n");
	mport = h_free_port();
	char conf[8192];
	// clang-format off
	snprintf(conf, sizeof conf,
	    "server = { listen = \"127.0.0.1\"; port = %d; };\n"
	    "maps_path = [ \"%s\", \"%s\" ];\n"
	    "defaults = { timeout = 1500; max_age = 0; poll = 0; min_interval = 0; };\n"
	    "devices = (\n"
	    "  { name = \"a\"; unit_id = 1; map = \"mbtest\"; retries = 0;\n"
	    "    modbus = { device = \"%s\"; baud = 19200; parity = \"even\"; slave = 1; gap = 30; }; },\n"
	    "  { name = \"b\"; unit_id = 2; map = \"mbtest\";\n"
	    "    modbus = { device = \"%s\"; baud = 19200; parity = \"even\"; slave = 2; }; },\n"
	    "  { name = \"silent\"; unit_id = 3; map = \"mbtest\"; timeout = 600;\n"
	    "    modbus = { device = \"%s\"; baud = 19200; parity = \"even\"; slave = 3; }; },\n"
	    "  { name = \"tcp\"; unit_id = 5; map = \"mbtest\";\n"
	    "    modbus = { host = \"127.0.0.1\"; port = %s; unit = 5; }; },\n"
	    "  { name = \"meter\"; unit_id = 6; map = \"sdm630\";\n"
	    "    modbus = { device = \"%s\"; baud = 19200; parity = \"even\"; slave = 2; }; },\n"
	    "  { name = \"rawnet\"; unit_id = 7; map = \"raw\";\n"
	    "    modbus = { host = \"127.0.0.1\"; port = %s; unit = 5; }; },\n"
	    "  { name = \"closer\"; unit_id = 8; map = \"mbtest\"; retries = 0;\n"
	    "    modbus = { host = \"127.0.0.1\"; port = %s; unit = 5; }; },\n"
	    "  { name = \"drip\"; unit_id = 9; map = \"raw\"; retries = 0; timeout = 30000;\n"
	    "    client_wait = 1000; max_age = 0;\n"
	    "    modbus = { host = \"127.0.0.1\"; port = %s; unit = 1; }; }\n"
	    ");\n",
	    mport, h_dir(), h_maps_dir(), tty_bridge, tty_bridge, tty_bridge, tcp_port_s,
	    tty_bridge, tcp_port_s, idle_port_s, drip_port_s);
	// clang-format on
	const char *cpath = h_write_file("modbridge.conf", conf);
	pid_t br = h_bridge_start(cpath, mport, "bridge.log");
	if (!h_ok(br > 0, "the bridge starts with RTU and TCP devices"))
		return h_done();
	modbus_t *m[10] = {0};
	for (int u = 1; u <= 9; u++)
		m[u] = h_modbus(mport, u);
	uint16_t v[8];

	/* --- reads and writes, RTU and TCP */
	h_ok(read_until(m[1], 0, 1000, 5000), "RTU slave 1: FC03 through the bridge (1000)");
	h_ok(rd(m[2], 3, 0, 4, v) == 4 && v[0] == 2000 && v[3] == 2003,
	     "RTU slave 2 on the same line: its own values (2000..2003)");
	h_ok(rd(m[1], 4, 100, 2, v) == 2 && v[0] == 31100 && v[1] == 31101,
	     "RTU: FC04 input registers (31100, 31101)");
	h_ok(modbus_write_register(m[1], 2, 4242) == 1 && rd(m[1], 3, 2, 1, v) == 1 && v[0] == 4242,
	     "RTU: FC06 written and read back");
	uint16_t w[2] = {7, 8};
	h_ok(modbus_write_registers(m[2], 0, 2, w) == 2 && rd(m[2], 3, 0, 2, v) == 2 && v[0] == 7 &&
		 v[1] == 8,
	     "RTU: FC16 written to slave 2 and read back");
	h_ok(rd(m[1], 3, 0, 1, v) == 1 && v[0] == 1000, "slave 1 kept its values");
	h_ok(read_until(m[5], 0, 5000, 5000), "TCP unit 5: FC03 through the bridge (5000)");
	h_ok(rd(m[5], 4, 101, 1, v) == 1 && v[0] == 35101, "TCP: FC04 (35101)");

	/* --- a TCP device that closes idle connections: noticed while idle,
	 * connected anew before the next request, which is answered at once */
	h_ok(read_until(m[8], 0, 5000, 5000), "a TCP device that closes idle connections: read");
	char idle_lost[64];
	snprintf(idle_lost, sizeof idle_lost, "127.0.0.1:%s: lost", idle_port_s);
	int accepted = h_count_lines(h_path("simidle.log"), "accepted");
	h_ok(h_wait_lines(h_path("simidle.log"), "idle closed", 1, 5000) &&
		 h_wait_lines(h_path("simidle.log"), "accepted", accepted + 1, 5000) &&
		 h_wait_lines(brlog, "closed the connection while idle: connected anew", 1, 3000),
	     "it closes the idle connection; the bridge connects anew without a request");
	int r1 = rd(m[8], 3, 1, 1, v), e1;
	e1 = errno;
	h_ok(r1 == 1 && v[0] == 5001, "the next read is answered at once (%s)",
	     r1 == 1 ? "5001" : modbus_strerror(e1));
	h_ok(!h_file_contains(brlog, idle_lost), "and no outage is reported for it");
	h_ok(modbus_write_register(m[5], 1, 99) == 1 && rd(m[5], 3, 1, 1, v) == 1 && v[0] == 99,
	     "TCP: FC06 written and read back");
	w[0] = 11;
	w[1] = 12;
	h_ok(modbus_write_registers(m[5], 2, 2, w) == 2 && rd(m[5], 3, 2, 2, v) == 2 &&
		 v[0] == 11 && v[1] == 12,
	     "TCP: FC16 written and read back");

	/* --- a TCP answer with the right transaction ID but another unit ID is
	 * nobody's answer: dropped and counted (each of the 3 attempts), 0B */
	long long u0 = h_dev_counter(br, brlog, "tcp", "dropped");
	r1 = rd(m[5], 3, 60, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && e1 == EMBXGTAR, "TCP: an answer naming another unit is not taken: 0B (%s)",
	     r1 == 1 ? "a value was taken" : modbus_strerror(e1));
	long long u1 = h_dev_counter(br, brlog, "tcp", "dropped");
	h_ok(u0 >= 0 && u1 >= u0 + 1, "it is counted as dropped (%lld -> %lld)", u0, u1);
	h_ok(rd(m[5], 3, 0, 1, v) == 1 && v[0] == 5000, "the next read is answered (5000)");

	/* --- the raw map passes any address through to the TCP device */
	h_ok(rd(m[7], 4, 1200, 3, v) == 3 && v[0] == 36200 && v[2] == 36202,
	     "raw map over modbus: input 1200..1202 passed through (36200..36202)");
	h_ok(rd(m[7], 3, 700, 2, v) == 2 && v[0] == 5700 && v[1] == 5701,
	     "raw map over modbus: holding 700..701 passed through (5700, 5701)");
	int r0 = modbus_write_register(m[7], 700, 1), e0 = errno;
	h_ok(r0 == -1 && e0 == EMBXILADD, "raw map over modbus: read-only, a write gets 02 (%s)",
	     modbus_strerror(e0));

	/* --- device exceptions pass through unchanged; a silent slave is 0B */
	r1 = rd(m[1], 3, 50, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && e1 == EMBXILADD,
	     "RTU: the slave's exception 02 reaches the client unchanged (%s)",
	     modbus_strerror(e1));
	r1 = rd(m[5], 3, 50, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && e1 == EMBXILVAL,
	     "TCP: the server's exception 03 reaches the client unchanged (%s)",
	     modbus_strerror(e1));
	r1 = rd(m[3], 3, 0, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && e1 == EMBXGTAR, "a slave that never answers: 0B (%s)",
	     modbus_strerror(e1));
	h_ok(rd(m[1], 3, 0, 1, v) == 1 && v[0] == 1000,
	     "the line serves its other slaves after the silent one");

	/* --- the meter map: float32 input registers, high word first */
	h_ok(rd(m[6], 4, 0, 2, v) == 2 && f32(v) == 230.5f, "SDM630 map: L1 voltage 230.5 V");
	h_ok(rd(m[6], 4, 52, 2, v) == 2 && f32(v) == -1234.25f,
	     "SDM630 map: total power -1234.25 W (exporting)");
	h_ok(rd(m[6], 4, 70, 2, v) == 2 && fabsf(f32(v) - 49.98f) < 1e-6f,
	     "SDM630 map: frequency 49.98 Hz");
	h_ok(rd(m[6], 4, 342, 2, v) == 2 && f32(v) == 12345.5f,
	     "SDM630 map: total energy 12345.5 kWh");
	r1 = modbus_write_register(m[6], 0, 1);
	e1 = errno;
	h_ok(r1 == -1 && e1 == EMBXILADD, "SDM630 map: nothing of the meter is writable: 02 (%s)",
	     modbus_strerror(e1));

	/* --- bus sharing: concurrent clients of both slaves on one line */
	struct hammer hm[4] = {{1, 25, 0}, {2, 25, 0}, {1, 25, 0}, {2, 25, 0}};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer_run, &hm[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	h_ok(hm[0].ok + hm[2].ok == 50 && hm[1].ok + hm[3].ok == 50,
	     "4 concurrent clients of 2 slaves on one line: every answer is the slave's own "
	     "(%d+%d, %d+%d of 25+25)",
	     hm[0].ok, hm[2].ok, hm[1].ok, hm[3].ok);

	/* The simulator's account of the line so far. */
	h_stop(rtu_pid, 3000);
	unsigned long req = 0, garbage = 1, overlap = 1;
	long long gap = -1;
	int have = sim_stats(simlog, &req, &garbage, &overlap, &gap);
	h_ok(have && req >= 60, "the RTU simulator saw the requests (%lu)", req);
	h_ok(garbage == 0, "no damaged or interleaved request on the line (garbage %lu)", garbage);
	h_ok(overlap == 0,
	     "never a request while an answer was due: one transaction at a time "
	     "(overlap %lu)",
	     overlap);
	h_ok(gap >= 30000,
	     "the bus keeps its gap of 30 ms between transactions, never less (least %lld µs)",
	     gap);

	/* --- a corrupted CRC: dropped and counted, 0B, then reads again */
	long long d0 = h_dev_counter(br, brlog, "a", "dropped");
	h_ok(start_rtu_sim("1", "sim2.log"), "the RTU simulator restarts, corrupting one CRC");
	r1 = rd(m[1], 3, 0, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && e1 == EMBXGTAR, "an answer with a bad CRC is never believed: 0B (%s)",
	     modbus_strerror(e1));
	r1 = rd(m[1], 3, 0, 1, v);
	e1 = errno;
	if (!h_ok(r1 == 1 && v[0] == 1000, "the next read is answered (%s)",
		  r1 == 1 ? "1000" : modbus_strerror(e1)))
		h_note_tail(brlog, 25);
	long long d1 = h_dev_counter(br, brlog, "a", "dropped");
	h_ok(d1 == d0 + 1, "the damaged answer is counted as dropped (%lld -> %lld)", d0, d1);

	/* --- the port goes away (socat killed: the pty path vanishes) and back */
	h_stop(socat_pid, 3000);
	h_stop(rtu_pid, 3000);
	h_ok(access(tty_bridge, F_OK) != 0, "the serial port's path is gone");
	h_ok(h_wait_lines(brlog, "ttyBRIDGE: lost (", 1, 5000),
	     "the bridge notices it while the line is idle, before any request");
	r1 = rd(m[1], 3, 0, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && (e1 == EMBXGTAR || e1 == EMBXGPATH),
	     "a read while the port vanishes: a gateway exception (%s)", modbus_strerror(e1));
	h_ok(h_wait_lines(brlog, "link down", 1, 5000), "the bridge notes the link down");
	r1 = rd(m[2], 3, 0, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && e1 == EMBXGPATH, "while the port is gone: 0A, no path (%s)",
	     modbus_strerror(e1));
	h_ok(start_line() && start_rtu_sim(NULL, "sim3.log"), "the port is back");
	h_ok(read_until(m[1], 0, 1000, 8000), "reads work again once the port is back");
	h_ok(rd(m[2], 3, 0, 1, v) == 1 && v[0] == 2000, "both slaves of the line answer again");
	h_ok(h_count_lines(brlog, "ttyBRIDGE: lost (") == 1 &&
		 h_count_lines(brlog, "warning: modbus") == 1,
	     "the outage is warned about once (reopening attempts are debug)");

	/* --- the TCP upstream restarts */
	h_stop(tcp_pid, 3000);
	r1 = rd(m[5], 3, 0, 1, v);
	e1 = errno;
	h_ok(r1 == -1 && (e1 == EMBXGTAR || e1 == EMBXGPATH),
	     "TCP upstream gone: a gateway exception (%s)", modbus_strerror(e1));
	h_ok(start_tcp_sim(), "the TCP upstream restarts");
	h_ok(read_until(m[5], 0, 5000, 8000), "TCP reads work again after the restart");

	/* A reload that changes the line settings of every serial device: a
	 * new bus for the same port, which opens once the old one has let go
	 * of it (never both at once); clients stay connected. */
	char *p = strstr(conf, "baud = 19200");
	while (p) {
		memcpy(p, "baud = 38400", 12);
		p = strstr(p, "baud = 19200");
	}
	h_write_file("modbridge.conf", conf);
	h_signal(br, SIGHUP);
	h_ok(h_wait_lines(brlog, "reloaded: ", 1, 15000), "SIGHUP with new line settings reloads");
	h_ok(h_count_lines(brlog, "modbus.baud changed: replacing it") == 4,
	     "the four serial devices are replaced, the TCP device kept");
	h_ok(read_until(m[1], 0, 1000, 8000) && read_until(m[2], 0, 2000, 8000),
	     "both slaves answer through the new bus, on the same client connections");

	/* --- hostile slaves: a short run of tests/bench/late_modbus (its own
	 * bridge and simulators), which counts values read that belong to
	 * another read: none, over RTU and TCP */
	char out[4096];
	const char *lm[] = {h_bin("tests/bench/late_modbus"),
			    "--n",
			    "30",
			    "--n-late",
			    "200",
			    "--timeout",
			    "100",
			    NULL};
	int lrc = h_run(lm, out, sizeof out, 240000);
	const char *wt = strstr(out, "wrong_total=");
	long lwrong = wt ? field(wt, "wrong_total=") : -1;
	if (!h_ok(lrc == 0 && lwrong == 0,
		  "late answers (one request late, 1.02 x timeout, 5%% at random; RTU and TCP): "
		  "no value of another read is ever served (wrong %ld)",
		  lwrong))
		h_note("%s", out);
	const char *rl = strstr(out, "scenario=rtu-late5"), *tl = strstr(out, "scenario=tcp-late5");
	h_ok(rl && tl && field(rl, "right=") > 100 && field(tl, "right=") > 100,
	     "with 5%% of the answers late, the others are served (RTU %ld, TCP %ld of 200)",
	     rl ? field(rl, "right=") : -1, tl ? field(tl, "right=") : -1);

	/* --- a stop while a slave drips a 125-register answer (12.75 s, each
	 * byte within any byte timeout, the transaction's deadline 27 s away):
	 * the stop cuts the worker's wait short */
	int dfd = h_connect(AF_INET, mport);
	const uint8_t dadu[] = {0, 2, 0, 0, 0, 6, 9, 3, 0, 0, 0, 125};
	h_ok(dfd >= 0 && h_send_all(dfd, dadu, sizeof dadu) == 0 &&
		 h_wait_lines(h_path("simdrip.log"), "count 125", 1, 5000),
	     "a 125-register read of the dripping slave is on the wire");

	/* Stop while a transaction is on the line: a read of the silent slave
	 * (600 ms to answer) is in flight when SIGTERM comes; the worker
	 * finishes it, the loop joins the workers and frees what is left. */
	int fd = h_connect(AF_INET, mport);
	const uint8_t adu[] = {0, 1, 0, 0, 0, 6, 3, 3, 0, 0, 0, 1};
	h_ok(fd >= 0 && h_send_all(fd, adu, sizeof adu) == 0,
	     "a read of the silent slave is on its way when the bridge is stopped");
	h_sleep_ms(100);
	h_ok(h_bridge_stop(br) == 0,
	     "the bridge stops cleanly with transactions on the lines, a dripping answer among "
	     "them, long before it could have arrived (workers joined)");
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	for (int u = 1; u <= 9; u++) {
		if (m[u]) {
			modbus_close(m[u]);
			modbus_free(m[u]);
		}
	}
	h_stop(rtu_pid, 3000);
	h_stop(tcp_pid, 3000);
	h_stop(idle_pid, 3000);
	h_stop(drip_pid, 3000);
	h_stop(socat_pid, 3000);
	return h_done();
}

/* End to end: pass-through (docs/design.md, "Pass-through") and
 * server.default_unit, through build/modbridge with real libmodbus clients,
 * against tests/sim/sim_solarman and tests/sim/sim_powergo in pattern mode
 * (every address answers sim_pattern(), tests/sim/sim_pattern.h; chosen
 * addresses answer a chosen exception).
 *
 * Devices:
 *   1 solraw   solarman, map raw (everything, read-only), max_age 60 s
 *   2 site     solarman, a site map: registers, a read-only and a writable
 *              pass-through range, max_age 0
 *   3 pgraw    powergo, map raw, max_age 60 s
 *   4 bounded  solarman, map raw, passthrough_cache 256 (4 blocks), max_age 60 s
 * server.default_unit = "solraw": units 0 and 255 reach device 1. A second
 * bridge without the key answers them 0A. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "../sim/sim_pattern.h"

#define FAIL_ADDR 30000 /* both simulators answer exception 06 (busy) here */
#define FAIL_WRITE 1050 /* ... and here, inside the site's writable range */
#define DEV_PG "15020115"
#define APP_PG "053461AD"

static char ctl_path[512], simlog[512], pglog[512], brlog[512];

static void sim_words(const char *words)
{
	const char *tmp = h_write_file("sim.ctl.tmp", words);
	if (!tmp || rename(tmp, ctl_path) != 0)
		h_note("could not write %s", ctl_path);
}

/* Do the words of a read equal the pattern of table from addr? */
static int is_pattern(int table, int addr, const uint16_t *w, int n)
{
	for (int i = 0; i < n; i++)
		if (w[i] != sim_pattern(table, (uint32_t)(addr + i))) {
			h_note("word %d (address %d): %u, expected %u", i, addr + i, w[i],
			       sim_pattern(table, (uint32_t)(addr + i)));
			return 0;
		}
	return 1;
}

static int read_tab(modbus_t *m, int table, int addr, int n, uint16_t *w)
{
	return table ? modbus_read_input_registers(m, addr, n, w)
		     : modbus_read_registers(m, addr, n, w);
}

/* A read that must fail with libmodbus errno exc. */
static int read_exc(modbus_t *m, int table, int addr, int n, int exc)
{
	uint16_t w[125];
	errno = 0;
	int rc = read_tab(m, table, addr, n, w);
	if (rc != -1 || errno != exc)
		h_note("read %s %d x %d: rc %d, %s", table ? "input" : "holding", addr, n, rc,
		       modbus_strerror(errno));
	return rc == -1 && errno == exc;
}

/* One raw MBAP read request on fd (FC fc, unit, transaction tid). */
static int send_read(int fd, uint16_t tid, uint8_t unit, uint8_t fc, uint16_t addr, uint16_t n)
{
	uint8_t q[12] = {(uint8_t)(tid >> 8),
			 (uint8_t)tid,
			 0,
			 0,
			 0,
			 6,
			 unit,
			 fc,
			 (uint8_t)(addr >> 8),
			 (uint8_t)addr,
			 (uint8_t)(n >> 8),
			 (uint8_t)n};
	return h_send_all(fd, q, sizeof q);
}

/* The answer to send_read: 0 with the words in w, the exception code, or -1. */
static int recv_read(int fd, uint16_t *w, int n)
{
	uint8_t a[300];
	int len = h_recv_adu(fd, a, sizeof a, 5000);
	if (len < 9)
		return -1;
	if (a[7] & 0x80)
		return a[8];
	if (len != 9 + 2 * n)
		return -1;
	for (int i = 0; i < n; i++)
		w[i] = (uint16_t)(a[9 + 2 * i] << 8 | a[10 + 2 * i]);
	return 0;
}

static void test_default_unit(int mport)
{
	uint16_t w[8];
	/* libmodbus: unit 255 (MODBUS_TCP_SLAVE) */
	modbus_t *m = h_modbus(mport, 255);
	h_ok(m && modbus_read_input_registers(m, 140, 4, w) == 4 && is_pattern(1, 140, w, 4),
	     "unit 255 reaches server.default_unit's device (raw input 140..143 exact)");
	if (m)
		modbus_free(m);
	/* unit 0, as Home Assistant sends without `slave` (raw MBAP: libmodbus
	 * treats 0 as a broadcast) */
	int fd = h_connect(AF_INET, mport);
	h_ok(fd >= 0 && send_read(fd, 7, 0, 0x04, 140, 4) == 0 && recv_read(fd, w, 4) == 0 &&
		 is_pattern(1, 140, w, 4),
	     "unit 0 reaches server.default_unit's device");
	if (fd >= 0)
		close(fd);
}

static void test_no_default_unit(int sport)
{
	int mport = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"only\"; unit_id = 1; map = \"raw\"; timeout = 2000;\n"
		 "  solarman = { host = \"127.0.0.1\"; port = %d; serial = 1234567890; }; } );\n",
		 mport, h_maps_dir(), sport);
	pid_t br = h_bridge_start(h_write_file("nodef.conf", conf), mport, "bridge-nodef.log");
	if (!h_ok(br > 0, "a bridge without server.default_unit starts"))
		return;
	uint16_t w[4];
	int fd = h_connect(AF_INET, mport);
	h_ok(fd >= 0 && send_read(fd, 1, 0, 0x04, 40, 4) == 0 && recv_read(fd, w, 4) == 0x0A,
	     "without server.default_unit: unit 0 -> 0A");
	h_ok(fd >= 0 && send_read(fd, 2, 255, 0x04, 40, 4) == 0 && recv_read(fd, w, 4) == 0x0A,
	     "without server.default_unit: unit 255 -> 0A");
	if (fd >= 0)
		close(fd);
	h_ok(h_bridge_stop(br) == 0, "that bridge stops cleanly");

	/* A name that is no device: file:line, refused by --check. */
	char out[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d;\n  default_unit = \"nosuch\"; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"only\"; unit_id = 1; map = \"raw\";\n"
		 "  solarman = { host = \"127.0.0.1\"; port = %d; serial = 1; }; } );\n",
		 mport, h_maps_dir(), sport);
	const char *bad = h_write_file("baddef.conf", conf);
	int rc = h_run_bridge("--check", bad, out, sizeof out);
	char want[600];
	snprintf(want, sizeof want,
		 "%s:2: server.default_unit \"nosuch\" is not the name of a device", bad);
	h_ok(rc == 1 && strstr(out, want), "--check: default_unit naming no device -> file:line");
	if (!strstr(out, want))
		h_note("%s", out);
}

int main(void)
{
	h_init("passthrough");
	snprintf(ctl_path, sizeof ctl_path, "%s", h_path("sim.ctl"));
	snprintf(simlog, sizeof simlog, "%s", h_path("sim.log"));
	snprintf(pglog, sizeof pglog, "%s", h_path("pg.log"));
	snprintf(brlog, sizeof brlog, "%s", h_path("bridge.log"));
	sim_words("normal");

	/* A site's map: registers win over the ranges (500 reads native 2000;
	 * 510 is write-only), a read-only and a writable range. */
	h_write_file("site.conf",
		     "name = \"site\"; protocol = \"solarman\"; trust = \"generated\";\n"
		     "registers = (\n"
		     "  { address = 500; name = \"moved\"; native = 2000; },\n"
		     "  { address = 510; name = \"wo\"; access = \"w\"; }\n"
		     ");\n"
		     "passthrough = (\n"
		     "  { table = \"holding\"; first = 400; last = 999; },\n"
		     "  { table = \"holding\"; first = 1000; last = 1099; access = \"rw\"; },\n"
		     "  { table = \"input\"; first = 0; last = 65535; }\n"
		     ");\n");

	int sport = h_free_port(), broker_port = 0;
	char sport_s[16];
	snprintf(sport_s, sizeof sport_s, "%d", sport);
	const char *sargv[] = {h_bin("tests/sim/sim_solarman"),
			       "--port",
			       sport_s,
			       "--control",
			       ctl_path,
			       "--pattern",
			       "--fail=30000:6",
			       "--fail=1050:6",
			       NULL};
	pid_t sim = h_spawn(sargv, "sim.log");
	pid_t broker = h_broker_start(&broker_port);
	const char *pgx[] = {"--app-id", APP_PG, "--pattern", "--fail", "30000:6", NULL};
	pid_t pg = broker > 0 ? h_sim_powergo(broker_port, DEV_PG, "pg.log", pgx) : -1;
	if (!h_ok(sim > 0 && h_wait_port(sport, 5000) == 0 && broker > 0 && pg > 0,
		  "simulators and broker start"))
		return h_done();

	int mport = h_free_port();
	char conf[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; default_unit = \"solraw\"; };\n"
		 "maps_path = [ \"%s\", \"%s\" ];\n"
		 "defaults = { timeout = 2000; poll = 0; min_interval = 0; };\n"
		 "devices = (\n"
		 "  { name = \"solraw\"; unit_id = 1; map = \"raw\"; max_age = 60000;\n"
		 "    solarman = { host = \"127.0.0.1\"; port = %d; serial = 1234567890; }; },\n"
		 "  { name = \"site\"; unit_id = 2; map = \"site\"; max_age = 0;\n"
		 "    solarman = { host = \"127.0.0.1\"; port = %d; serial = 1234567890; }; },\n"
		 "  { name = \"pgraw\"; unit_id = 3; map = \"raw\"; max_age = 60000;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"%s\"; }; },\n"
		 "  { name = \"bounded\"; unit_id = 4; map = \"raw\"; max_age = 60000;\n"
		 "    passthrough_cache = 256;\n"
		 "    solarman = { host = \"127.0.0.1\"; port = %d; serial = 1234567890; }; }\n"
		 ");\n",
		 mport, h_dir(), h_maps_dir(), sport, sport, broker_port, APP_PG, DEV_PG, sport);
	pid_t br = h_bridge_start(h_write_file("modbridge.conf", conf), mport, "bridge.log");
	if (!h_ok(br > 0, "bridge starts with raw maps on solarman and powergo"))
		return h_done();
	modbus_t *m[5] = {0};
	for (int u = 1; u <= 4; u++)
		m[u] = h_modbus(mport, u);
	h_ok(h_wait_lines(brlog, "solraw: link up", 1, 10000) &&
		 h_wait_lines(brlog, "pgraw: link up", 1, 10000) &&
		 h_wait_lines(brlog, "site: link up", 1, 10000),
	     "links up");

	uint16_t w[125], w2[125];
	/* --- raw reads, both tables, values exact */
	h_ok(modbus_read_registers(m[1], 20000, 125, w) == 125 && is_pattern(0, 20000, w, 125),
	     "solarman raw: holding 20000..20124 (125 words) exact");
	h_ok(modbus_read_input_registers(m[1], 41000, 100, w) == 100 &&
		 is_pattern(1, 41000, w, 100),
	     "solarman raw: input 41000..41099 exact");
	h_ok(modbus_read_registers(m[3], 2000, 43, w) == 43 && is_pattern(0, 2000, w, 43),
	     "powergo raw: holding 2000..2042 (one 43-register instruction) exact");
	h_ok(modbus_read_input_registers(m[3], 3000, 125, w) == 125 && is_pattern(1, 3000, w, 125),
	     "powergo raw: input 3000..3124 (split at 43 registers) exact");
	h_ok(h_count_lines(pglog, "req fc=04 addr=3000 count=43") == 1 &&
		 h_count_lines(pglog, "req fc=04 addr=3086 count=39") == 1,
	     "powergo: a 125-register read becomes 43 + 43 + 39");

	/* --- secrets never pass through (protocol.h, struct protocol_secret):
	 * the PowerGo Wi-Fi (120..129) and MQTT (190..199) passwords answer 02
	 * under the raw map, in either table, alone or inside a longer read,
	 * and the device is not asked; the same addresses pass on Solarman. */
	long long s0 = h_count_lines(pglog, "req fc=03 addr=120");
	h_ok(read_exc(m[3], 0, 120, 1, EMBXILADD), "powergo raw: holding 120 (Wi-Fi password) 02");
	h_ok(read_exc(m[3], 1, 129, 1, EMBXILADD), "powergo raw: input 129 02");
	h_ok(read_exc(m[3], 0, 110, 20, EMBXILADD), "powergo raw: 110..129 spanning the secret 02");
	h_ok(read_exc(m[3], 0, 195, 2, EMBXILADD), "powergo raw: 195 (MQTT password) 02");
	h_ok(modbus_read_registers(m[3], 115, 5, w) == 5 &&
		 modbus_read_registers(m[3], 200, 3, w) == 3,
	     "powergo raw: 115..119 and 200..202, next to the secrets, still pass");
	h_ok(h_count_lines(pglog, "req fc=03 addr=120") == s0 &&
		 h_count_lines(pglog, "addr=195") == 0 && h_count_lines(pglog, "addr=110 ") == 0,
	     "powergo: the device was never asked for a secret");
	h_ok(modbus_read_registers(m[1], 120, 10, w) == 10 && is_pattern(0, 120, w, 10),
	     "solarman raw: 120..129 pass (not a PowerGo device)");

	/* --- device exceptions come back unchanged */
	h_ok(read_exc(m[1], 1, FAIL_ADDR - 2, 5, EMBXSBUSY), "solarman raw: device exception 06 "
							     "passed through unchanged");
	h_ok(read_exc(m[3], 0, FAIL_ADDR, 1, EMBXSBUSY),
	     "powergo raw: device exception 06 passed through unchanged");

	/* --- the cache: a second read within max_age is a hit */
	long long n0 = h_dev_counter(br, brlog, "solraw", "native");
	long long h0 = h_dev_counter(br, brlog, "solraw", "cache_hits");
	/* (input 200..209: the simulator's Growatt seed leaves them to the pattern) */
	int ok1 = modbus_read_input_registers(m[1], 200, 10, w) == 10 && is_pattern(1, 200, w, 10);
	int ok2 = modbus_read_input_registers(m[1], 202, 5, w2) == 5 && is_pattern(1, 202, w2, 5);
	long long n1 = h_dev_counter(br, brlog, "solraw", "native");
	long long h1 = h_dev_counter(br, brlog, "solraw", "cache_hits");
	h_ok(ok1 && ok2 && n1 == n0 + 1 && h1 == h0 + 1,
	     "a second read within max_age is a cache hit (native %lld -> %lld, hits %lld -> "
	     "%lld)",
	     n0, n1, h0, h1);

	/* --- coalescing: two clients read the same range while the device is
	 * slow; a third reads an overlapping one. One native read each for what
	 * is new. */
	sim_words("delay=400");
	int fa = h_connect(AF_INET, mport), fb = h_connect(AF_INET, mport);
	int fc = h_connect(AF_INET, mport);
	/* the third once the first read is at the device, so that the order
	 * is known */
	int sent = fa >= 0 && fb >= 0 && fc >= 0 && send_read(fa, 1, 1, 0x04, 7000, 20) == 0 &&
		   send_read(fb, 1, 1, 0x04, 7000, 20) == 0 &&
		   h_wait_lines(simlog, "fc=04 addr=7000 count=20", 1, 3000) &&
		   send_read(fc, 1, 1, 0x04, 7010, 20) == 0;
	uint16_t wa[20], wb[20], wc[20];
	int ra = sent ? recv_read(fa, wa, 20) : -1, rb = sent ? recv_read(fb, wb, 20) : -1;
	int rc3 = sent ? recv_read(fc, wc, 20) : -1;
	sim_words("normal");
	h_ok(ra == 0 && rb == 0 && rc3 == 0 && is_pattern(1, 7000, wa, 20) &&
		 is_pattern(1, 7000, wb, 20) && is_pattern(1, 7010, wc, 20),
	     "three concurrent clients get exact values");
	h_ok(h_count_lines(simlog, "fc=04 addr=7000 count=20") == 1 &&
		 h_count_lines(simlog, "fc=04 addr=7020 count=10") == 1 &&
		 h_count_lines(simlog, "addr=7010") == 0,
	     "coalescing: identical reads share one native read, an overlapping one reads only "
	     "what is new");
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	if (fc >= 0)
		close(fc);

	/* --- writes: refused on raw, passed on a site's writable range */
	errno = 0;
	h_ok(modbus_write_register(m[1], 100, 5) == -1 && errno == EMBXILADD,
	     "raw: FC06 refused with 02");
	uint16_t v3[3] = {11, 22, 33};
	errno = 0;
	h_ok(modbus_write_registers(m[1], 100, 3, v3) == -1 && errno == EMBXILADD,
	     "raw: FC16 refused with 02");
	h_ok(h_count_lines(simlog, "values=") == 0, "raw: no write reached the device");
	h_ok(modbus_write_register(m[2], 1000, 4242) == 1 &&
		 h_count_lines(simlog, "fc=06 addr=1000 count=1 values=4242") == 1,
	     "site: FC06 to the writable range goes to the device unchanged, acknowledged");
	h_ok(modbus_write_registers(m[2], 1010, 3, v3) == 3 &&
		 h_count_lines(simlog, "fc=10 addr=1010 count=3 values=11,22,33") == 1,
	     "site: FC16 to the writable range goes to the device unchanged, acknowledged");
	h_ok(modbus_read_registers(m[2], 1009, 5, w) == 5 && w[0] == sim_pattern(0, 1009) &&
		 w[1] == 11 && w[2] == 22 && w[3] == 33 && w[4] == sim_pattern(0, 1013),
	     "site: the device holds what was written");
	errno = 0;
	h_ok(modbus_write_register(m[2], FAIL_WRITE, 1) == -1 && errno == EMBXSBUSY,
	     "site: a write the device refuses (06) is not acknowledged, its exception passes");
	errno = 0;
	h_ok(modbus_write_register(m[2], 999, 1) == -1 && errno == EMBXILADD,
	     "site: a write to a read-only range -> 02");
	errno = 0;
	h_ok(modbus_write_registers(m[2], 1098, 3, v3) == -1 && errno == EMBXILADD,
	     "site: a write running out of the writable range -> 02");

	/* --- mixed reads: registers win, both served in one answer */
	h_ok(modbus_read_registers(m[2], 495, 11, w) == 11 && is_pattern(0, 495, w, 5) &&
		 w[5] == sim_pattern(0, 2000) && is_pattern(0, 501, w + 6, 5),
	     "site: a read of pass-through addresses around a register: the register reads its "
	     "native address, the rest pass through");
	h_ok(read_exc(m[2], 0, 505, 10, EMBXILADD),
	     "site: a read covering a write-only register -> 02");
	h_ok(read_exc(m[2], 0, 390, 20, EMBXILADD),
	     "site: a read running out of every range -> 02");

	/* --- default_unit */
	test_default_unit(mport);

	/* --- bounded: many distinct addresses, the cache stays at its bound */
	long rss0 = h_proc_kib(br, "VmRSS");
	int all = 1;
	int nreads = 0;
	/* clear of the simulator's exception addresses (1050, 30000, holding
	 * 60000 and up) and of what it seeds */
	for (int t = 0; t < 2 && all; t++)
		for (int a = 2007; a + 125 <= (t ? 65536 : 60000) && all; a += 500, nreads++)
			all = read_tab(m[4], t, a, 125, w) == 125 && is_pattern(t, a, w, 125);
	long rss1 = h_proc_kib(br, "VmRSS");
	long long blocks = h_dev_counter(br, brlog, "bounded", "pass_blocks");
	h_ok(all, "bounded: %d reads all over both tables, values exact", nreads);
	h_ok(blocks == 4, "bounded: the pass-through cache holds its bound, 4 blocks (%lld)",
	     blocks);
	h_ok(rss0 > 0 && rss1 - rss0 < 1024, "bounded: RSS grew by %ld KiB (< 1024)", rss1 - rss0);

	for (int u = 1; u <= 4; u++)
		if (m[u])
			modbus_free(m[u]);
	h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");
	test_no_default_unit(sport);
	return h_done();
}

/* powergo_outage: how a PowerGo device recovers from an outage
 * (docs/protocols/powergo.md), and how many wrong values a hostile late-answer mix gives. Run by
 * hand; starts its own mosquitto, simulator and bridge (MB_BUILD as for the
 * tests):
 *
 *   powergo_outage [--poll MS] [--outage MS] [--after S] [--tail S] [--clients N]
 *   powergo_outage --lossy READS [--late PCT] [--late-ms MS] [--seed N] [--reorder 1]
 *
 * Outage mode: device "garage" (maps/powergo.conf, poll MS, default 2000,
 * other timing left to its defaults as in the README), tests/sim/sim_powergo
 * that goes silent for --outage ms (default 8000) once the cache is warm,
 * then answers again. Every second from the end of the outage it prints the
 * drops and timeouts of that second (SIGUSR1 counters) and SOC's age (REST,
 * age_ms of "soc"), for --after s (default 30), then the totals, then the
 * same per 10 s until --tail s (default 120). With --clients N, N Modbus
 * clients read SOC, the version register and the serial number in turn
 * throughout; their reads after the outage and any wrong value are counted.
 *
 * Lossy mode: tests/sim/sim_lossy with --pattern (register a holds
 * a * 7919 + 13), --late PCT of its answers (default 25) sent --late-ms
 * late (default 250, the bridge's timeout 600 ms: 200 ms an attempt),
 * 5% of the answers lost; a map with a run 0..99 and lone registers
 * 200, 202, 204, 206 (reads that cannot be widened). READS reads of 1..4
 * registers at seeded addresses; prints answered, failed and wrong. The
 * simulator keeps the order of its answers (--in-order: a late answer holds
 * back the ones after it, as a device answering one instruction at a time
 * does) unless --reorder 1 lets later answers overtake a late one, which the
 * PowerGo transport does not claim to survive where a read cannot be shaped
 * unlike the earlier ones (docs/design.md, "Answers bound to their
 * requests"). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define APP "053461AD"
#define DEV "15020115"

static int broker_port, bridge_port, http_port;
static pid_t bridge;
static const char *blog;

/* SOC's age_ms from the REST API, or -1. */
static long soc_age(void)
{
	char url[128], out[65536];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/devices/garage/registers", http_port);
	const char *argv[] = {"curl", "-s", url, NULL};
	if (h_run(argv, out, sizeof out, 5000) != 0)
		return -1;
	const char *p = strstr(out, "\"name\":\"soc\"");
	p = p ? strstr(p, "\"age_ms\":") : NULL;
	if (!p || strncmp(p + 9, "null", 4) == 0)
		return -1;
	return atol(p + 9);
}

struct counters {
	long long dropped, timeouts;
};

static struct counters counters(void)
{
	struct counters c = {h_dev_counter(bridge, blog, "garage", "dropped"),
			     h_dev_counter(bridge, blog, "garage", "timeouts")};
	return c;
}

/* A client: reads SOC (68), register 1 (0xA030) and the serial number
 * (0x0115, 0x1502) in turn until killed; one line per read in its log:
 * "<ms> ok", "<ms> wrong ..." or "<ms> fail <errno>". */
static void client(int k)
{
	char name[32];
	snprintf(name, sizeof name, "client%d.txt", k);
	FILE *f = fopen(h_path(name), "w");
	if (!f)
		_exit(1);
	setvbuf(f, NULL, _IOLBF, 0);
	modbus_t *mb = h_modbus(bridge_port, 1);
	if (!mb)
		_exit(1);
	for (unsigned i = (unsigned)k;; i++) {
		uint16_t v[2];
		int addr = i % 3 == 0 ? 529 : i % 3 == 1 ? 1 : 12;
		int n = addr == 12 ? 2 : 1;
		int rc = modbus_read_registers(mb, addr, n, v);
		unsigned long long t = (unsigned long long)h_now_ms();
		if (rc != n)
			fprintf(f, "%llu fail %d\n", t, errno - MODBUS_ENOBASE);
		else if ((addr == 529 && v[0] != 68) || (addr == 1 && v[0] != 0xA030) ||
			 (addr == 12 && (v[0] != 0x0115 || v[1] != 0x1502)))
			fprintf(f, "%llu wrong %d %u\n", t, addr, v[0]);
		else
			fprintf(f, "%llu ok\n", t);
		h_sleep_ms(250);
	}
	_exit(0);
}

static void client_tally(int nclients, uint64_t from, long *ok, long *fail, long *wrong)
{
	*ok = *fail = *wrong = 0;
	for (int k = 0; k < nclients; k++) {
		char name[32], line[128];
		snprintf(name, sizeof name, "client%d.txt", k);
		FILE *f = fopen(h_path(name), "r");
		while (f && fgets(line, sizeof line, f)) {
			unsigned long long t = strtoull(line, NULL, 10);
			if (strstr(line, "wrong"))
				(*wrong)++; /* at any time */
			if (t < from)
				continue;
			*ok += strstr(line, " ok") != NULL;
			*fail += strstr(line, " fail") != NULL;
		}
		if (f)
			fclose(f);
	}
}

static int outage(int poll, int outage_ms, int after, int tail, int nclients)
{
	pid_t sim = h_sim_powergo(broker_port, DEV, "sim.log", NULL);
	bridge_port = h_free_port();
	http_port = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };\n"
		 "devices = (\n"
		 "  { name = \"garage\"; unit_id = 1; map = \"powergo\"; poll = %d;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"" APP "\"; device_id = \"" DEV "\"; }; }\n"
		 ");\n",
		 bridge_port, h_maps_dir(), http_port, poll, broker_port);
	bridge = h_bridge_start(h_write_file("bridge.conf", conf), bridge_port, "bridge.log");
	blog = strdup(h_path("bridge.log"));
	if (sim <= 0 || bridge <= 0 || h_wait_port(http_port, 5000) != 0) {
		printf("setup failed (see %s)\n", h_dir());
		return 1;
	}
	long age = -1;
	for (int i = 0; i < 100 && (age < 0 || age > poll); i++) {
		h_sleep_ms(200);
		age = soc_age();
	}
	pid_t kids[16];
	for (int k = 0; k < nclients && k < 16; k++) {
		kids[k] = fork();
		if (kids[k] == 0)
			client(k);
	}
	/* A few polls with the clients, then the outage. */
	h_sleep_ms(3 * poll);
	char payload[32];
	snprintf(payload, sizeof payload, "%d", outage_ms);
	if (!h_sim_tell(broker_port, "sim/powergo/" DEV "/outage", payload, h_path("sim.log"),
			"outage ", 5000)) {
		printf("the simulator did not start the outage\n");
		return 1;
	}
	uint64_t t0 = h_now_ms(); /* the outage started (give or take a publish) */
	if (!h_wait_lines(h_path("sim.log"), "outage over", 1, outage_ms + 5000)) {
		printf("the outage did not end\n");
		return 1;
	}
	uint64_t rec = h_now_ms();
	struct counters c0 = counters(), prev = c0;
	printf("poll %d ms, outage %d ms (measured %llu ms), %d client(s)\n", poll, outage_ms,
	       (unsigned long long)(rec - t0), nclients);
	printf("%6s %8s %8s %10s\n", "t_s", "dropped", "timeouts", "soc_age_ms");
	long maxage = 0;
	for (int s = 1; s <= after; s++) {
		while (h_now_ms() < rec + (uint64_t)s * 1000)
			h_sleep_ms(20);
		struct counters c = counters();
		age = soc_age();
		if (age > maxage)
			maxage = age;
		printf("%6d %8lld %8lld %10ld\n", s, c.dropped - prev.dropped,
		       c.timeouts - prev.timeouts, age);
		prev = c;
	}
	struct counters c30 = prev;
	long ok, fail, wrong;
	client_tally(nclients, rec, &ok, &fail, &wrong);
	printf("first %d s after the outage: dropped %lld timeouts %lld max_soc_age_ms %ld", after,
	       c30.dropped - c0.dropped, c30.timeouts - c0.timeouts, maxage);
	if (nclients)
		printf(" client reads ok %ld failed %ld", ok, fail);
	printf("\n");
	for (int s = after + 10; s <= tail; s += 10) {
		while (h_now_ms() < rec + (uint64_t)s * 1000)
			h_sleep_ms(50);
		struct counters c = counters();
		printf("%6d s: last 10 s dropped %lld timeouts %lld, soc_age_ms %ld\n", s,
		       c.dropped - prev.dropped, c.timeouts - prev.timeouts, soc_age());
		prev = c;
	}
	for (int k = 0; k < nclients && k < 16; k++) {
		kill(kids[k], SIGKILL);
		waitpid(kids[k], NULL, 0);
	}
	client_tally(nclients, rec, &ok, &fail, &wrong);
	if (nclients)
		printf("clients: %ld reads after the outage answered, %ld failed; %ld wrong values "
		       "(whole run)\n",
		       ok, fail, wrong);
	h_bridge_stop(bridge);
	h_stop(sim, 3000);
	return wrong != 0;
}

static uint16_t pattern(unsigned a)
{
	return (uint16_t)(a * 7919u + 13u);
}

static int lossy(int reads, int late, int late_ms, int seed, int reorder)
{
	char port_s[16], late_s[16], late_ms_s[16], seed_s[16];
	snprintf(port_s, sizeof port_s, "%d", broker_port);
	snprintf(late_s, sizeof late_s, "%d", late);
	snprintf(late_ms_s, sizeof late_ms_s, "%d", late_ms);
	snprintf(seed_s, sizeof seed_s, "%d", seed);
	const char *argv[] = {h_bin("tests/sim/sim_lossy"),
			      "--host",
			      "127.0.0.1",
			      "--port",
			      port_s,
			      "--device-id",
			      DEV,
			      "--late",
			      late_s,
			      "--late-ms",
			      late_ms_s,
			      "--drop-ans",
			      "5",
			      "--pattern",
			      "--seed",
			      seed_s,
			      reorder ? NULL : "--in-order",
			      NULL};
	pid_t sim = h_spawn(argv, "lossy.log");
	if (!h_wait_lines(h_path("lossy.log"), "subscribed", 1, 5000)) {
		printf("sim_lossy did not subscribe\n");
		return 1;
	}
	static char map[16384];
	int n = snprintf(map, sizeof map,
			 "name = \"lossy\"; protocol = \"powergo\"; trust = \"generated\";\n"
			 "description = \"late answers\";\nregisters = (\n");
	for (int a = 0; a < 100; a++)
		n += snprintf(map + n, sizeof map - (size_t)n,
			      "  { address = %d; name = \"r%d\"; type = \"uint16\"; },\n", a, a);
	for (int a = 200; a <= 206; a += 2)
		n += snprintf(map + n, sizeof map - (size_t)n,
			      "  { address = %d; name = \"r%d\"; type = \"uint16\"; }%s\n", a, a,
			      a < 206 ? "," : "");
	snprintf(map + n, sizeof map - (size_t)n, ");\n");
	h_write_file("lossy.conf", map);
	bridge_port = h_free_port();
	char conf[2048];
	snprintf(
	    conf, sizeof conf,
	    "server = { listen = \"127.0.0.1\"; port = %d; };\n"
	    "maps_path = [ \"%s\" ];\n"
	    "devices = (\n"
	    "  { name = \"garage\"; unit_id = 1; map = \"lossy\"; timeout = 600; max_age = 0;\n"
	    "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
	    "    powergo = { app_id = \"" APP "\"; device_id = \"" DEV "\"; }; }\n"
	    ");\n",
	    bridge_port, h_dir(), broker_port);
	bridge = h_bridge_start(h_write_file("bridge.conf", conf), bridge_port, "bridge.log");
	blog = strdup(h_path("bridge.log"));
	modbus_t *mb = bridge > 0 ? h_modbus(bridge_port, 1) : NULL;
	if (!mb) {
		printf("setup failed (see %s)\n", h_dir());
		return 1;
	}
	uint64_t rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)seed;
	long ok = 0, failed = 0, wrong = 0;
	for (int i = 0; i < reads; i++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		unsigned r = (unsigned)(rng >> 32);
		unsigned addr, count;
		if (r % 5 == 0) { /* a lone register: no widening */
			addr = 200 + 2 * (r / 5 % 4);
			count = 1;
		} else {
			count = 1 + r / 7 % 4;
			addr = r / 31 % (101 - count);
		}
		uint16_t v[4];
		if (modbus_read_registers(mb, (int)addr, (int)count, v) != (int)count) {
			failed++;
			continue;
		}
		int bad = 0;
		for (unsigned k = 0; k < count; k++)
			bad |= v[k] != pattern(addr + k);
		wrong += bad;
		ok += !bad;
		if (bad)
			printf("wrong: %u x %u read %u, is %u\n", addr, count, v[0], pattern(addr));
	}
	modbus_close(mb);
	modbus_free(mb);
	struct counters c = counters();
	printf("lossy: %d reads (late %d%% at %d ms, %s, 5%% answers lost, seed %d): %ld "
	       "answered, %ld failed, %ld wrong; bridge dropped %lld, timeouts %lld\n",
	       reads, late, late_ms, reorder ? "later answers overtake" : "answers in order", seed,
	       ok, failed, wrong, c.dropped, c.timeouts);
	h_bridge_stop(bridge);
	h_stop(sim, 3000);
	return wrong != 0;
}

int main(int argc, char **argv)
{
	int poll = 2000, outage_ms = 8000, after = 30, tail = 120, nclients = 0;
	int lossy_reads = 0, late = 25, late_ms = 250, seed = 1, reorder = 0;
	for (int i = 1; i + 1 < argc; i += 2) {
		int v = atoi(argv[i + 1]);
		if (strcmp(argv[i], "--poll") == 0)
			poll = v;
		else if (strcmp(argv[i], "--outage") == 0)
			outage_ms = v;
		else if (strcmp(argv[i], "--after") == 0)
			after = v;
		else if (strcmp(argv[i], "--tail") == 0)
			tail = v;
		else if (strcmp(argv[i], "--clients") == 0)
			nclients = v;
		else if (strcmp(argv[i], "--lossy") == 0)
			lossy_reads = v;
		else if (strcmp(argv[i], "--late") == 0)
			late = v;
		else if (strcmp(argv[i], "--late-ms") == 0)
			late_ms = v;
		else if (strcmp(argv[i], "--seed") == 0)
			seed = v;
		else if (strcmp(argv[i], "--reorder") == 0)
			reorder = v;
		else {
			fprintf(stderr, "powergo_outage: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	h_init("powergo_outage");
	pid_t broker = h_broker_start(&broker_port);
	if (broker <= 0) {
		printf("mosquitto did not start\n");
		return 1;
	}
	int rc = lossy_reads > 0 ? lossy(lossy_reads, late, late_ms, seed, reorder)
				 : outage(poll, outage_ms, after, tail, nclients);
	h_stop(broker, 3000);
	return rc;
}

/* late_modbus: wrong values and availability of the `modbus` protocol
 * (bridge/tr_modbus.c) against slaves whose answers come late, over a serial
 * line (a socat pty pair, Modbus RTU: no transaction ID) and over Modbus TCP
 * (docs/design.md, "Answers bound to their requests").
 *
 *   late_modbus [--n N] [--n-late N] [--timeout MS] [--retries R]
 *               [--only rtu|tcp]
 *
 * Starts its own bridge, socat and tests/sim/sim_modbus instances (the
 * harness: MB_BUILD names the build folder), one device per scenario, all on
 * their own bus and run at once:
 *
 *   hold    each answer comes when the next request arrives (one late);
 *   slow    each answer comes 1.02 x the device's timeout after its request;
 *   late5   5 % of the answers, at random, come 1.02 x the timeout late.
 *
 * A client reads through the bridge N times per scenario (--n-late for
 * late5; default 10000 each), each read at another address with 1 to 3
 * registers. The simulator's holding register a holds 1000 + a, so an answer
 * to any other read shows as a wrong value. The device has `timeout` MS
 * (default 100) and `retries` R (default 0), max_age 0, the `raw` map. One
 * line per scenario:
 *
 *   scenario=rtu-hold reads=N right=N wrong=N failed=N availability=P%
 *
 * and "wrong_total=N". Exit status 1 when any value was wrong or something
 * did not start. Used by tests/e2e/test_modbus with a few reads per
 * scenario; `make bench` runs it (case 8, tests/bench/run.sh). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define LM_SCEN 6

struct lm_scen {
	const char *name;
	int tcp;
	const char *mode[4]; /* simulator arguments */
	int unit, n;
	char tty_bridge[1024], tty_sim[1024], port[16];
	long right, wrong, failed;
	int started;
};

static int lm_port, lm_timeout = 100;

/* A pty pair for a serial scenario. */
static int lm_line(struct lm_scen *s)
{
	char a[1200], b[1200], log[64];
	snprintf(s->tty_bridge, sizeof s->tty_bridge, "%s", h_path(s->name));
	snprintf(s->tty_sim, sizeof s->tty_sim, "%s.sim", s->tty_bridge);
	snprintf(a, sizeof a, "pty,raw,echo=0,link=%s", s->tty_bridge);
	snprintf(b, sizeof b, "pty,raw,echo=0,link=%s", s->tty_sim);
	snprintf(log, sizeof log, "socat-%s.log", s->name);
	const char *argv[] = {"socat", a, b, NULL};
	h_spawn(argv, log);
	for (int i = 0; i < 250; i++) {
		if (access(s->tty_bridge, F_OK) == 0 && access(s->tty_sim, F_OK) == 0)
			return 1;
		h_sleep_ms(20);
	}
	return 0;
}

static int lm_sim(struct lm_scen *s)
{
	const char *argv[16] = {h_bin("tests/sim/sim_modbus")};
	int n = 1;
	char log[64];
	if (s->tcp) {
		snprintf(s->port, sizeof s->port, "%d", h_free_port());
		argv[n++] = "--tcp";
		argv[n++] = s->port;
	} else {
		if (!lm_line(s))
			return 0;
		argv[n++] = "--rtu";
		argv[n++] = s->tty_sim;
	}
	for (int i = 0; i < 4 && s->mode[i]; i++)
		argv[n++] = s->mode[i];
	argv[n] = NULL;
	snprintf(log, sizeof log, "sim-%s.log", s->name);
	h_spawn(argv, log);
	if (s->tcp)
		return h_wait_port(atoi(s->port), 5000) == 0;
	return h_wait_lines(h_path(log), "ready", 1, 5000);
}

static uint32_t lm_hash(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	x *= 0x846ca68bu;
	x ^= x >> 16;
	return x;
}

static void *lm_run(void *arg)
{
	struct lm_scen *s = arg;
	modbus_t *m = h_modbus(lm_port, s->unit);
	if (!m)
		return NULL;
	modbus_set_response_timeout(m, (uint32_t)(lm_timeout + 3000) / 1000,
				    (uint32_t)((lm_timeout + 3000) % 1000) * 1000);
	for (int i = 0; i < s->n; i++) {
		uint32_t h = lm_hash((uint32_t)i * 2654435761u + (uint32_t)s->unit);
		int addr = 100 + (int)(h % 20000), count = 1 + (int)((h >> 20) % 3);
		uint16_t v[3];
		int r = modbus_read_registers(m, addr, count, v);
		if (r != count) {
			s->failed++;
			if (r < 0 && errno != EMBXGTAR && errno != EMBXGPATH && errno != ETIMEDOUT)
				h_note("%s: read %d: %s", s->name, i, modbus_strerror(errno));
			continue;
		}
		int bad = 0;
		for (int k = 0; k < count; k++)
			bad |= v[k] != (uint16_t)(1000 + addr + k);
		if (bad && ++s->wrong <= 5) {
			h_note("%s: read %d of %d at %d gave %u (want %u)", s->name, i, count, addr,
			       v[0], (unsigned)(uint16_t)(1000 + addr));
		} else if (!bad) {
			s->right++;
		}
	}
	modbus_close(m);
	modbus_free(m);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = 10000, n_late = -1, retries = 0;
	const char *only = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--n") == 0)
			n = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--n-late") == 0)
			n_late = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--timeout") == 0)
			lm_timeout = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--retries") == 0)
			retries = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--only") == 0)
			only = argv[i + 1];
		else
			goto usage;
	}
	if (n < 1 || lm_timeout < 20 || retries < 0 || retries > 10)
		goto usage;
	if (n_late < 0)
		n_late = n;
	h_init("late_modbus");

	char late_ms[32], late[48];
	snprintf(late_ms, sizeof late_ms, "100:%d", lm_timeout * 102 / 100);
	snprintf(late, sizeof late, "5:%d", lm_timeout * 102 / 100);
	struct lm_scen sc[LM_SCEN] = {
	    {.name = "rtu-hold", .tcp = 0, .mode = {"--hold", "1"}},
	    {.name = "rtu-slow", .tcp = 0, .mode = {"--late", late_ms}},
	    {.name = "rtu-late5", .tcp = 0, .mode = {"--late", late, "--seed", "7"}},
	    {.name = "tcp-hold", .tcp = 1, .mode = {"--hold", "1"}},
	    {.name = "tcp-slow", .tcp = 1, .mode = {"--late", late_ms}},
	    {.name = "tcp-late5", .tcp = 1, .mode = {"--late", late, "--seed", "7"}},
	};
	char conf[16384];
	size_t used = 0;
	lm_port = h_free_port();
	used += (size_t)snprintf(conf + used, sizeof conf - used,
				 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
				 "maps_path = [ \"%s\" ];\n"
				 "devices = (\n",
				 lm_port, h_maps_dir());
	int ndev = 0;
	for (int i = 0; i < LM_SCEN; i++) {
		struct lm_scen *s = &sc[i];
		s->unit = i + 1;
		s->n = strstr(s->name, "late5") ? n_late : n;
		if (only && strncmp(s->name, only, strlen(only)) != 0)
			continue;
		if (!lm_sim(s)) {
			fprintf(stderr, "late_modbus: the %s simulator did not start\n", s->name);
			return 1;
		}
		s->started = 1;
		char bus[1200];
		if (s->tcp)
			snprintf(bus, sizeof bus, "host = \"127.0.0.1\"; port = %s; unit = 1;",
				 s->port);
		else
			snprintf(bus, sizeof bus, "device = \"%s\"; baud = 115200; slave = 1;",
				 s->tty_bridge);
		used +=
		    (size_t)snprintf(conf + used, sizeof conf - used,
				     "%s  { name = \"%s\"; unit_id = %d; map = \"raw\"; "
				     "timeout = %d; retries = %d; max_age = 0;\n"
				     "    modbus = { %s }; }\n",
				     ndev++ ? "," : "", s->name, s->unit, lm_timeout, retries, bus);
	}
	snprintf(conf + used, sizeof conf - used, ");\n");
	pid_t br = h_bridge_start(h_write_file("modbridge.conf", conf), lm_port, "bridge.log");
	if (br <= 0) {
		fprintf(stderr, "late_modbus: the bridge did not start\n");
		return 1;
	}
	/* Each bus opens in its own time: wait until every device reads. */
	h_wait_lines(h_path("bridge.log"), ": link up", ndev, 5000);

	pthread_t th[LM_SCEN];
	for (int i = 0; i < LM_SCEN; i++)
		if (sc[i].started)
			pthread_create(&th[i], NULL, lm_run, &sc[i]);
	long wrong = 0;
	for (int i = 0; i < LM_SCEN; i++) {
		if (!sc[i].started)
			continue;
		pthread_join(th[i], NULL);
		struct lm_scen *s = &sc[i];
		wrong += s->wrong;
		printf("scenario=%s reads=%d right=%ld wrong=%ld failed=%ld availability=%.1f%%\n",
		       s->name, s->n, s->right, s->wrong, s->failed,
		       100.0 * (double)s->right / s->n);
	}
	printf("wrong_total=%ld timeout_ms=%d retries=%d\n", wrong, lm_timeout, retries);
	fflush(stdout);
	int stopped = h_bridge_stop(br);
	if (stopped != 0)
		fprintf(stderr, "late_modbus: the bridge did not stop cleanly (%d)\n", stopped);
	return wrong || stopped != 0 ? 1 : 0;

usage:
	fprintf(stderr, "usage: late_modbus [--n N] [--n-late N] [--timeout MS] [--retries R]"
			" [--only rtu|tcp]\n");
	return 2;
}

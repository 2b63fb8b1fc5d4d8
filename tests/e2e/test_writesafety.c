/* Write safety over a lossy link: 1,000 writes through four PowerGo devices
 * (tests/sim/sim_lossy) that drop 10% of the requests and 10% of the answers.
 *
 * docs/design.md, "Modbus behaviour": a write is acknowledged to the Modbus
 * client only after the device acknowledged it. So every value a client saw
 * acknowledged must have been applied by the device. The registers here are
 * marked `retry = false` (a trigger, a counter: a write that must not be
 * repeated), so each must also be applied at most once: the bridge must not
 * send such a write again on its own (docs/design.md, "Timing and retries";
 * tests/e2e/test_lossy.c covers the retried kind). A write that failed (0B)
 * may or may not have been applied — a dropped answer means the device acted
 * but nobody heard — and the counts are reported.
 *
 * Four devices with one client each, so that the 200 ms timeouts of the lost
 * exchanges overlap; each client writes 250 values to its own register, and
 * every value of the test is distinct. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NDEV 4
#define PER_DEV 250
#define NVAL (NDEV * PER_DEV)
#define REG 1000
#define TIMEOUT_MS 200
#define APP "053461AD"

enum outcome { W_NONE, W_ACK, W_FAIL };

static int bridge_port;
static enum outcome result[NDEV][PER_DEV];
static int fail_errno[NDEV][PER_DEV];

/* Value i (0-based) of device d: distinct across the whole test. */
static uint16_t value_of(int d, int i)
{
	return (uint16_t)(d * 1000 + i + 1);
}

static void *writer(void *arg)
{
	int d = (int)(intptr_t)arg;
	modbus_t *mb = h_modbus(bridge_port, d + 1);
	if (!mb)
		return NULL;
	modbus_set_response_timeout(mb, 3, 0);
	for (int i = 0; i < PER_DEV; i++) {
		int rc = modbus_write_register(mb, REG + d, value_of(d, i));
		if (rc == 1) {
			result[d][i] = W_ACK;
			continue;
		}
		result[d][i] = W_FAIL;
		fail_errno[d][i] = errno;
		/* A broken connection is not the device's loss: reconnect, and
		 * the next write tells whether the bridge is still serving. */
		if (errno != EMBXGTAR && errno != EMBXGPATH && errno < MODBUS_ENOBASE) {
			modbus_close(mb);
			if (modbus_connect(mb) < 0)
				break;
		}
	}
	modbus_close(mb);
	modbus_free(mb);
	return NULL;
}

/* Counts of "applied addr=A value=V" per value, from one simulator log. */
static int read_applied(const char *log, int d, int *applied, int *foreign)
{
	FILE *f = fopen(log, "r");
	char line[512];
	int lines = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned a, v;
		if (sscanf(line, "applied addr=%u value=%u", &a, &v) != 2)
			continue;
		lines++;
		if (a != (unsigned)(REG + d) || v < value_of(d, 0) ||
		    v > value_of(d, PER_DEV - 1)) {
			(*foreign)++;
			continue;
		}
		applied[v - value_of(d, 0)]++;
	}
	fclose(f);
	return lines;
}

int main(void)
{
	h_init("writesafety");
	int broker_port;
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();

	char port_s[16];
	snprintf(port_s, sizeof port_s, "%d", broker_port);
	pid_t sims[NDEV];
	char devid[NDEV][9], logname[NDEV][32];
	for (int d = 0; d < NDEV; d++) {
		snprintf(devid[d], sizeof devid[d], "0A0000%02X", d + 1);
		snprintf(logname[d], sizeof logname[d], "lossy%d.log", d);
		char seed[16];
		snprintf(seed, sizeof seed, "%d", 1234 + d);
		const char *argv[] = {h_bin("tests/sim/sim_lossy"),
				      "--host",
				      "127.0.0.1",
				      "--port",
				      port_s,
				      "--device-id",
				      devid[d],
				      "--drop-req",
				      "10",
				      "--drop-ans",
				      "10",
				      "--seed",
				      seed,
				      NULL};
		sims[d] = h_spawn(argv, logname[d]);
	}
	for (int d = 0; d < NDEV; d++) {
		uint64_t end = h_now_ms() + 5000;
		while (!h_file_contains(h_path(logname[d]), "subscribed") && h_now_ms() < end)
			h_sleep_ms(20);
		h_ok(h_file_contains(h_path(logname[d]), "subscribed"), "simulator %s subscribed",
		     devid[d]);
	}

	h_write_file("lossy.conf",
		     "name = \"lossy\"; protocol = \"powergo\"; trust = \"generated\";\n"
		     "description = \"write-safety test device\";\n"
		     "registers = (\n"
		     "  { address = 1000; name = \"w0\"; type = \"uint16\"; access = \"rw\"; retry "
		     "= false; },\n"
		     "  { address = 1001; name = \"w1\"; type = \"uint16\"; access = \"rw\"; retry "
		     "= false; },\n"
		     "  { address = 1002; name = \"w2\"; type = \"uint16\"; access = \"rw\"; retry "
		     "= false; },\n"
		     "  { address = 1003; name = \"w3\"; type = \"uint16\"; access = \"rw\"; retry "
		     "= false; }\n"
		     ");\n");
	bridge_port = h_free_port();
	char conf[4096];
	int n = snprintf(conf, sizeof conf,
			 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
			 "maps_path = [ \"%s\" ];\n"
			 "defaults = { timeout = %d; max_age = 0; poll = 0; };\n"
			 "devices = (\n",
			 bridge_port, h_dir(), TIMEOUT_MS);
	for (int d = 0; d < NDEV; d++)
		n += snprintf(conf + n, sizeof conf - (size_t)n,
			      "  { name = \"lossy%d\"; unit_id = %d; map = \"lossy\";\n"
			      "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
			      "    powergo = { app_id = \"%s\"; device_id = \"%s\"; }; }%s\n",
			      d, d + 1, broker_port, APP, devid[d], d + 1 < NDEV ? "," : "");
	snprintf(conf + n, sizeof conf - (size_t)n, ");\n");
	pid_t bridge = h_bridge_start(h_write_file("bridge.conf", conf), bridge_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();

	/* Every device answers a read before the writes start (a read may be
	 * lost too: try a few times). */
	for (int d = 0; d < NDEV; d++) {
		modbus_t *mb = h_modbus(bridge_port, d + 1);
		int ok = 0;
		uint16_t v;
		for (int k = 0; mb && k < 40 && !ok; k++) {
			ok = modbus_read_registers(mb, REG + d, 1, &v) == 1;
			if (!ok)
				h_sleep_ms(50);
		}
		h_ok(ok, "device %d answers reads through the lossy link", d + 1);
		if (mb) {
			modbus_close(mb);
			modbus_free(mb);
		}
	}

	uint64_t t0 = h_now_ms();
	pthread_t th[NDEV];
	for (int d = 0; d < NDEV; d++)
		pthread_create(&th[d], NULL, writer, (void *)(intptr_t)d);
	for (int d = 0; d < NDEV; d++)
		pthread_join(th[d], NULL);
	uint64_t took = h_now_ms() - t0;

	/* Stop the simulators so that their logs are complete. */
	for (int d = 0; d < NDEV; d++)
		h_ok(h_stop(sims[d], 3000) == 0, "simulator %s exits 0", devid[d]);

	int acked = 0, failed = 0, unanswered = 0, ack_missing = 0, ack_twice = 0, twice = 0;
	int fail_applied = 0, fail_not_applied = 0, foreign = 0, not_0b = 0;
	for (int d = 0; d < NDEV; d++) {
		int applied[PER_DEV] = {0};
		int lines = read_applied(h_path(logname[d]), d, applied, &foreign);
		h_ok(lines >= 0, "read the log of simulator %s", devid[d]);
		for (int i = 0; i < PER_DEV; i++) {
			if (applied[i] > 1)
				twice++;
			switch (result[d][i]) {
			case W_ACK:
				acked++;
				if (applied[i] == 0) {
					ack_missing++;
					h_note("value %u acknowledged but never applied",
					       value_of(d, i));
				} else if (applied[i] > 1) {
					ack_twice++;
				}
				break;
			case W_FAIL:
				failed++;
				if (fail_errno[d][i] != EMBXGTAR) {
					not_0b++;
					h_note("value %u failed with %s", value_of(d, i),
					       modbus_strerror(fail_errno[d][i]));
				}
				if (applied[i])
					fail_applied++;
				else
					fail_not_applied++;
				break;
			default:
				unanswered++;
				break;
			}
		}
	}
	h_note("%d writes in %llu ms: %d acknowledged, %d failed (%d of them applied: answer lost; "
	       "%d not applied: request lost)",
	       NVAL, (unsigned long long)took, acked, failed, fail_applied, fail_not_applied);
	h_ok(unanswered == 0, "every one of the %d writes got an answer (%d did not)", NVAL,
	     unanswered);
	h_ok(ack_missing == 0, "every acknowledged write was applied by the device (%d were not)",
	     ack_missing);
	h_ok(ack_twice == 0 && twice == 0, "no value applied twice (%d acknowledged, %d in all)",
	     ack_twice, twice);
	h_ok(foreign == 0, "the devices applied only values that were written (%d others)",
	     foreign);
	h_ok(not_0b == 0, "every failed write failed with exception 0B (%d otherwise)", not_0b);
	/* The link did lose things, and most writes still went through: the
	 * checks above are about a lossy link, not a dead or perfect one. */
	h_ok(failed > 0 && fail_applied > 0 && fail_not_applied > 0,
	     "both kinds of loss happened (%d answers lost, %d requests lost)", fail_applied,
	     fail_not_applied);
	h_ok(acked >= NVAL / 2, "most writes acknowledged (%d of %d)", acked, NVAL);

	h_ok(h_bridge_stop(bridge) == 0, "bridge exits 0 on SIGTERM");
	h_stop(broker, 3000);
	return h_done();
}

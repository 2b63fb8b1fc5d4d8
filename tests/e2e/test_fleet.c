/* A fleet of PowerGo batteries on one broker link (docs/design.md, "A fleet
 * on one broker"): 300 devices of one app ID, on two listeners (150 unit
 * IDs each), all answered by one simulator (tests/sim/sim_fleet.c). Every
 * device answers a read with its own value (the answer reached the device
 * it came from), the daemon opens one MQTT connection for all of them, and
 * no device drops an answer: each answer is handed to the device whose ID
 * is its source, not to all 300 to decode and drop (today's cost was one
 * drop per device per answer of another device). The link's going up and
 * down is logged once for all of them, not once per device (a broker
 * restart under 10,000 devices wrote 20,000 lines), and at most 3 such
 * lines a minute while the broker flaps. The full-size run (10,000
 * devices, start-up, memory, latency under polling, broker restart) is
 * tests/bench/fleet.sh, run by hand. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define NDEV 300
#define FIRST_ID 0x20000000u

int main(void)
{
	static char buf[200000];
	int broker_port = 0, port_a = h_free_port(), port_b = h_free_port();
	size_t used = 0;

	h_init("fleet");
	while (port_b == port_a)
		port_b = h_free_port();
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	int subscribed;
	pid_t sim = h_sim_fleet(broker_port, FIRST_ID, NDEV, "fleet_sim.log", &subscribed);
	h_ok(subscribed, "the fleet simulator subscribed");

	used +=
	    (size_t)snprintf(buf + used, sizeof buf - used,
			     "server = { listen = \"127.0.0.1\"; port = %d; };\n"
			     "listeners = ( { name = \"p2\"; listen = \"127.0.0.1\"; port = %d; "
			     "} );\n"
			     "maps_path = \"%s\";\n"
			     "devices = (\n",
			     port_a, port_b, h_maps_dir());
	for (int i = 0; i < NDEV; i++)
		used += (size_t)snprintf(
		    buf + used, sizeof buf - used,
		    " { name = \"pg%d\"; unit_id = %d; map = \"powergo\"; %s\n"
		    "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		    "   powergo = { app_id = \"053461AE\"; device_id = \"%08X\"; }; }%s\n",
		    i, i % 150 + 1, i >= 150 ? "listener = \"p2\";" : "", broker_port,
		    FIRST_ID + (unsigned)i, i == NDEV - 1 ? "" : ",");
	snprintf(buf + used, sizeof buf - used, ");\n");
	const char *conf = h_write_file("fleet.conf", buf);
	const char *log = h_path("fleet.log");
	char logp[700];
	snprintf(logp, sizeof logp, "%s", log);

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t b = h_bridge_start(conf, port_a, "fleet.log");
	if (!h_ok(b > 0, "bridge with %d PowerGo devices started", NDEV)) {
		h_stop(sim, 2000);
		h_stop(broker, 2000);
		return h_done();
	}
	h_ok(h_wait_lines(logp, ": link up, and 299 more powergo devices on mqtt", 1, 20000),
	     "one line says the link is up for all %d devices", NDEV);

	int good = 0;
	modbus_t *m[2] = {h_modbus(port_a, 1), h_modbus(port_b, 1)};
	for (int i = 0; i < NDEV && m[0] && m[1]; i++) {
		modbus_t *c = m[i >= 150];
		uint16_t v = 0;
		modbus_set_slave(c, i % 150 + 1);
		if (modbus_read_registers(c, 1, 1, &v) == 1 && v == (uint16_t)(i + 1))
			good++;
		else if (good == i)
			h_note("device pg%d: read failed or wrong value %u", i, v);
	}
	h_ok(good == NDEV, "every device answers with its own value (%d of %d)", good, NDEV);
	for (int k = 0; k < 2; k++)
		if (m[k]) {
			modbus_close(m[k]);
			modbus_free(m[k]);
		}

	h_ok(h_count_lines(logp, ": connected (MQTT") == 1,
	     "one MQTT connection serves all %d devices (%d)", NDEV,
	     h_count_lines(logp, ": connected (MQTT"));
	/* The counters of every device, once. */
	h_signal(b, SIGUSR1);
	h_ok(h_wait_lines(logp, "client connections, accepted", 1, 10000), "counters printed");
	int clean = h_count_lines(logp, " dropped 0 ");
	h_ok(clean == NDEV, "no device dropped an answer meant for another (%d of %d clean)", clean,
	     NDEV);

	/* A broker restart: one line down and one up, not one per device. */
	h_stop(broker, 2000);
	h_ok(h_wait_lines(logp, ": link down, and 299 more powergo devices", 1, 10000),
	     "broker stopped: one line says the link is down for all %d devices", NDEV);
	broker = h_broker_restart(broker_port);
	h_ok(h_wait_lines(logp, ": link up, and 299 more powergo devices", 2, 20000),
	     "broker back: one line says the link is up again");
	h_ok(h_count_lines(logp, ": link up") == 2 && h_count_lines(logp, ": link down") == 1,
	     "a broker restart logged 1 line each way (%d up, %d down in all)",
	     h_count_lines(logp, ": link up"), h_count_lines(logp, ": link down"));
	/* Again at once: the fourth and fifth changes are over the limit (3
	 * lines, then one a minute), seen here through the link's own lines. */
	h_stop(broker, 2000);
	h_ok(h_wait_lines(logp, ": connection lost", 2, 10000), "broker stopped again");
	broker = h_broker_restart(broker_port);
	h_ok(h_wait_lines(logp, ": connected (MQTT", 3, 20000), "broker back again");
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long minutes = (long)(t1.tv_sec - t0.tv_sec) / 60;
	int lines = h_count_lines(logp, ": link up") + h_count_lines(logp, ": link down");
	h_ok(lines >= 3 && lines <= 3 + minutes,
	     "link lines are rate-limited: %d after 5 changes in %ld whole minutes", lines,
	     minutes);

	h_ok(h_bridge_stop(b) == 0, "bridge stops cleanly");
	h_stop(sim, 2000);
	h_stop(broker, 2000);
	return h_done();
}

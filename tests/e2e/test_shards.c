/* A fleet sharded over two modbridge instances on one broker
 * (docs/scaling.md): 40 PowerGo batteries of one app ID, answered by one
 * simulator (tests/sim/sim_fleet.c); instance A serves devices 0..19 as
 * unit IDs 1..20 on its port, instance B devices 20..39 as unit IDs 21..40
 * on another. Both subscribe to the app ID's answer topic, so each receives
 * the other's answers as well and must keep only its own (by the answer's
 * source ID). Each has its own MQTT client ID, as docs/scaling.md requires.
 *
 * Checked: every device answers on its own shard with its own value (read
 * with max_age = 0, so each read is a request over MQTT while the other
 * instance is busy on the same topic); neither instance answers the other's
 * unit IDs (exception 0A); neither connection is taken over by the other
 * (one MQTT connect each); and stopping A leaves B's connection and answers
 * as they were. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NDEV 40	 /* the whole fleet */
#define SHARD 20 /* devices per instance */
#define FIRST_ID 0x20000000u

/* The config of shard s (0 or 1): devices s*SHARD .. s*SHARD+SHARD-1,
 * unit ID = device index + 1. */
static const char *shard_conf(int s, int port, int broker_port)
{
	static char buf[2][40000];
	size_t used = 0, cap = sizeof buf[s];
	char *b = buf[s];

	used += (size_t)snprintf(b + used, cap - used,
				 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
				 "maps_path = \"%s\";\n"
				 "devices = (\n",
				 port, h_maps_dir());
	for (int i = s * SHARD; i < (s + 1) * SHARD; i++)
		used += (size_t)snprintf(
		    b + used, cap - used,
		    " { name = \"pg%d\"; unit_id = %d; map = \"powergo\"; poll = 0; max_age = 0;\n"
		    "   mqtt = { host = \"127.0.0.1\"; port = %d; client_id = "
		    "\"modbridge-shard-%c\"; "
		    "};\n"
		    "   powergo = { app_id = \"053461AE\"; device_id = \"%08X\"; }; }%s\n",
		    i, i + 1, broker_port, 'a' + s, FIRST_ID + (unsigned)i,
		    i == (s + 1) * SHARD - 1 ? "" : ",");
	snprintf(b + used, cap - used, ");\n");
	return h_write_file(s ? "shard_b.conf" : "shard_a.conf", b);
}

/* Reads register 1 of devices first..last on port: how many answer with
 * their own value (device index + 1, as sim_fleet answers). */
static int read_own(int port, int first, int last)
{
	modbus_t *m = h_modbus(port, 1);
	int good = 0;

	if (!m)
		return -1;
	for (int i = first; i <= last; i++) {
		uint16_t v = 0;
		modbus_set_slave(m, i + 1);
		if (modbus_read_registers(m, 1, 1, &v) == 1 && v == (uint16_t)(i + 1))
			good++;
		else
			h_note("port %d unit %d: %s, value %u", port, i + 1, modbus_strerror(errno),
			       v);
	}
	modbus_close(m);
	modbus_free(m);
	return good;
}

/* Reads register 1 of units first+1..last+1 on port: how many get
 * exception 0A (the unit is not this instance's). */
static int read_foreign(int port, int first, int last)
{
	modbus_t *m = h_modbus(port, 1);
	int gpath = 0;

	if (!m)
		return -1;
	for (int i = first; i <= last; i++) {
		uint16_t v = 0;
		modbus_set_slave(m, i + 1);
		if (modbus_read_registers(m, 1, 1, &v) == -1 && errno == EMBXGPATH)
			gpath++;
		else
			h_note("port %d unit %d answered (value %u) instead of 0A", port, i + 1, v);
	}
	modbus_close(m);
	modbus_free(m);
	return gpath;
}

int main(void)
{
	int broker_port = 0, port[2] = {h_free_port(), h_free_port()};

	h_init("shards");
	while (port[1] == port[0])
		port[1] = h_free_port();
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	int subscribed;
	pid_t sim = h_sim_fleet(broker_port, FIRST_ID, NDEV, "fleet_sim.log", &subscribed);
	h_ok(subscribed, "the fleet simulator subscribed");

	const char *logname[2] = {"shard_a.log", "shard_b.log"};
	char log[2][700];
	pid_t b[2];
	for (int s = 0; s < 2; s++) {
		snprintf(log[s], sizeof log[s], "%s", h_path(logname[s]));
		b[s] = h_bridge_start(shard_conf(s, port[s], broker_port), port[s], logname[s]);
	}
	if (!h_ok(b[0] > 0 && b[1] > 0, "both instances started")) {
		for (int s = 0; s < 2; s++)
			if (b[s] > 0)
				h_bridge_stop(b[s]);
		h_stop(sim, 2000);
		h_stop(broker, 2000);
		return h_done();
	}
	/* Devices sharing a link log going up once for all of them. */
	char up[64];
	snprintf(up, sizeof up, ": link up, and %d more powergo devices", SHARD - 1);
	for (int s = 0; s < 2; s++)
		h_ok(h_wait_lines(log[s], up, 1, 20000),
		     "instance %c: all %d devices see their link up", 'A' + s, SHARD);

	/* Each shard answers its own devices, through the broker, while the
	 * other receives the same answer topic. */
	int a_own = read_own(port[0], 0, SHARD - 1), b_own = read_own(port[1], SHARD, NDEV - 1);
	h_ok(a_own == SHARD, "instance A answers each of its devices with its value (%d of %d)",
	     a_own, SHARD);
	h_ok(b_own == SHARD, "instance B answers each of its devices with its value (%d of %d)",
	     b_own, SHARD);
	int a_foreign = read_foreign(port[0], SHARD, NDEV - 1),
	    b_foreign = read_foreign(port[1], 0, SHARD - 1);
	h_ok(a_foreign == SHARD, "instance A answers B's unit IDs with 0A (%d of %d)", a_foreign,
	     SHARD);
	h_ok(b_foreign == SHARD, "instance B answers A's unit IDs with 0A (%d of %d)", b_foreign,
	     SHARD);
	long long b_req = h_dev_counter(b[1], log[1], "pg20", "requests");
	h_ok(b_req >= 1, "B's reads went to the device over MQTT (pg20: %lld requests)", b_req);

	/* Stopping A: B keeps its one connection and answers as before. */
	h_ok(h_bridge_stop(b[0]) == 0, "instance A stops cleanly");
	b_own = read_own(port[1], SHARD, NDEV - 1);
	h_ok(b_own == SHARD, "with A stopped, B still answers each of its devices (%d of %d)",
	     b_own, SHARD);
	long long b_req2 = h_dev_counter(b[1], log[1], "pg20", "requests");
	h_ok(b_req2 > b_req, "those reads were fresh requests (pg20: %lld, then %lld)", b_req,
	     b_req2);
	for (int s = 0; s < 2; s++)
		h_ok(h_count_lines(log[s], ": connected (MQTT") == 1,
		     "instance %c connected to the broker once, never taken over (%d)", 'A' + s,
		     h_count_lines(log[s], ": connected (MQTT"));
	h_ok(h_count_lines(log[1], ": link down") == 0, "no device of B saw its link go down (%d)",
	     h_count_lines(log[1], ": link down"));

	h_ok(h_bridge_stop(b[1]) == 0, "instance B stops cleanly");
	h_stop(sim, 2000);
	h_stop(broker, 2000);
	return h_done();
}

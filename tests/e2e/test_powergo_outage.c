/* PowerGo after an outage (docs/protocols/powergo.md): ghosts that end. A real
 * mosquitto, tests/sim/sim_powergo and the real bridge, driven through
 * Modbus TCP with libmodbus.
 *
 *   "quiet" (unit 1): maps/powergo.conf polled every second, no client
 *   "busy"  (unit 2): the same, with a client reading throughout (max_age 0:
 *                     every read goes to the battery)
 *   "exc"   (unit 3): no poll; its simulator answers 04 for register 265
 *
 * The first two batteries go silent for 4 s and then answer again. Every
 * request given up on in the outage is a ghost that might still answer; the
 * device answers in order, so the first answer that can only be a fresh
 * request's settles them all. What must hold: three polls after the outage
 * ended, nothing is dropped, nothing is retried or times out, and every
 * client read is answered with the register's own value (the figures of a
 * long run: tests/bench/powergo_outage). And a device exception passes
 * through after silent, bad-CRC and wrong-source answers and one ordinary
 * read (an exception names only the function code, so it fits every ghost
 * of an FC03 read). Each device has its own app ID: none sees another's
 * answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DEV_Q "15020121"
#define DEV_B "15020122"
#define DEV_E "15020123"
#define EXC(n) (MODBUS_ENOBASE + (n))

static int broker_port, bridge_port;
static pid_t bridge;
static const char *blog;

/* The last read of every poll of maps/powergo.conf (573 has no readable
 * neighbour, so it is never widened), answered by the simulator. */
static int polls(const char *simlog, const char *app)
{
	char needle[96];
	snprintf(needle, sizeof needle, "req fc=03 addr=573 count=1 app=%s mode=normal", app);
	return h_count_lines(h_path(simlog), needle);
}

struct snap {
	long long dropped, timeouts, retries;
};

static struct snap snap(const char *dev)
{
	struct snap s = {h_dev_counter(bridge, blog, dev, "dropped"),
			 h_dev_counter(bridge, blog, dev, "timeouts"),
			 h_dev_counter(bridge, blog, dev, "retries")};
	return s;
}

/* One read of the client on "busy": SOC (68), the version (0xA030) or the
 * serial number (0x0115 0x1502) in turn. 1 right, 0 failed, -1 wrong. */
static int client_read(modbus_t *mb, unsigned i)
{
	uint16_t v[2];
	switch (i % 3) {
	case 0:
		if (modbus_read_registers(mb, 529, 2, v) != 2)
			return 0;
		return v[0] == 68 && v[1] == 0 ? 1 : -1;
	case 1:
		if (modbus_read_registers(mb, 1, 1, v) != 1)
			return 0;
		return v[0] == 0xA030 ? 1 : -1;
	default:
		if (modbus_read_registers(mb, 12, 2, v) != 2)
			return 0;
		return v[0] == 0x0115 && v[1] == 0x1502 ? 1 : -1;
	}
}

static int sim_tell(const char *dev, const char *what, const char *payload, const char *log,
		    const char *echo)
{
	char topic[64];
	snprintf(topic, sizeof topic, "sim/powergo/%s/%s", dev, what);
	return h_sim_tell(broker_port, topic, payload, h_path(log), echo, 5000);
}

static long read1(modbus_t *mb, int addr)
{
	uint16_t v;
	if (modbus_read_registers(mb, addr, 1, &v) != 1)
		return -errno;
	return v;
}

/* docs/protocols/powergo.md: after silent, bad-CRC and wrong-source answers, one answered
 * read settles every ghost, and the device's exception 04 comes through
 * (it was masked as 0B: the exception fitted the ghosts' FC03). */
static void exception_after_ghosts(void)
{
	modbus_t *mb = h_modbus(bridge_port, 3);
	long soc = -1;
	/* Until the link is up (slow under valgrind): 0A before. */
	for (int k = 0; mb && k < 100 && soc != 68; k++) {
		soc = read1(mb, 529);
		if (soc != 68)
			h_sleep_ms(100);
	}
	h_ok(soc == 68, "exc: SOC 68");
	static const char *const modes[] = {"silent", "badcrc", "wrongid"};
	for (size_t i = 0; mb && i < 3; i++) {
		char echo[32];
		snprintf(echo, sizeof echo, "mode %s", modes[i]);
		h_ok(sim_tell(DEV_E, "mode", modes[i], "simE.log", echo), "exc: simulator %s",
		     modes[i]);
		h_ok(read1(mb, 529) == -EXC(0x0B), "exc: %s -> 0B", modes[i]);
	}
	h_ok(sim_tell(DEV_E, "mode", "normal", "simE.log", "mode normal"), "exc: simulator normal");
	h_ok(mb && read1(mb, 529) == 68, "exc: one ordinary read is answered (SOC 68)");
	long r = mb ? read1(mb, 265) : -1;
	h_ok(r == -EXC(4), "exc: the device's exception 04 passes through (%ld, 0B is %d)", r,
	     -EXC(0x0B));
	h_ok(mb && read1(mb, 529) == 68, "exc: SOC 68 after the exception");
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
}

int main(void)
{
	h_init("powergo_outage");
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	const char *fail[] = {"--fail", "265:4", NULL};
	pid_t sim_q = h_sim_powergo(broker_port, DEV_Q, "simQ.log", NULL);
	pid_t sim_b = h_sim_powergo(broker_port, DEV_B, "simB.log", NULL);
	pid_t sim_e = h_sim_powergo(broker_port, DEV_E, "simE.log", fail);
	h_ok(sim_q > 0 && sim_b > 0 && sim_e > 0, "three simulators");

	bridge_port = h_free_port();
	char conf[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 "  { name = \"quiet\"; unit_id = 1; map = \"powergo\"; poll = 1000;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"0A000001\"; device_id = \"" DEV_Q "\"; }; },\n"
		 "  { name = \"busy\"; unit_id = 2; map = \"powergo\"; poll = 1000; max_age = 0;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"0A000002\"; device_id = \"" DEV_B "\"; }; },\n"
		 "  { name = \"exc\"; unit_id = 3; map = \"powergo\"; poll = 0; max_age = 0;\n"
		 "    timeout = 1500;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"0A000003\"; device_id = \"" DEV_E "\"; }; }\n"
		 ");\n",
		 bridge_port, h_maps_dir(), broker_port, broker_port, broker_port);
	bridge = h_bridge_start(h_write_file("bridge.conf", conf), bridge_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	blog = strdup(h_path("bridge.log"));

	exception_after_ghosts();

	/* Both polled batteries answer before the outage. */
	h_ok(h_wait_lines(h_path("simQ.log"), "addr=573 count=1 app=0A000001 mode=normal", 2,
			  20000) &&
		 h_wait_lines(h_path("simB.log"), "addr=573 count=1 app=0A000002 mode=normal", 2,
			      20000),
	     "both batteries polled");
	modbus_t *mb = h_modbus(bridge_port, 2);
	h_ok(mb && client_read(mb, 0) == 1, "busy: the client reads SOC");

	h_ok(sim_tell(DEV_Q, "outage", "4000", "simQ.log", "outage 4000") &&
		 sim_tell(DEV_B, "outage", "4000", "simB.log", "outage 4000"),
	     "both batteries silent for 4 s");
	/* The client keeps reading through the outage and after it. Count
	 * three polls of each after it ended, then three more: in those, no
	 * drop, retry or timeout, and every client read answered right. */
	unsigned i = 1;
	int wrong = 0, failed_after = 0, right_after = 0, phase = 0;
	int q_base = -1, b_base = -1;
	struct snap q0 = {0}, b0 = {0};
	uint64_t end = h_now_ms() + 60000;
	while (mb && phase < 2 && h_now_ms() < end) {
		int r = client_read(mb, i++);
		h_sleep_ms(20); /* a client's pace, not a wait for anything */
		wrong += r < 0;
		if (phase == 1) {
			failed_after += r == 0;
			right_after += r == 1;
		}
		if (q_base < 0 && h_file_contains(h_path("simQ.log"), "outage over") &&
		    h_file_contains(h_path("simB.log"), "outage over")) {
			q_base = polls("simQ.log", "0A000001");
			b_base = polls("simB.log", "0A000002");
		}
		if (q_base < 0)
			continue;
		int q = polls("simQ.log", "0A000001") - q_base;
		int b = polls("simB.log", "0A000002") - b_base;
		if (phase == 0 && q >= 3 && b >= 3) {
			q0 = snap("quiet");
			b0 = snap("busy");
			q_base += q;
			b_base += b;
			phase = 1;
		} else if (phase == 1 && q >= 3 && b >= 3) {
			phase = 2;
		}
	}
	h_ok(phase == 2, "six polls of each battery after the outage ended");
	struct snap q1 = snap("quiet"), b1 = snap("busy");
	h_note("quiet: dropped %lld -> %lld, retries %lld -> %lld, timeouts %lld -> %lld",
	       q0.dropped, q1.dropped, q0.retries, q1.retries, q0.timeouts, q1.timeouts);
	h_note("busy: dropped %lld -> %lld, retries %lld -> %lld, timeouts %lld -> %lld; client "
	       "reads in those polls %d right, %d failed",
	       b0.dropped, b1.dropped, b0.retries, b1.retries, b0.timeouts, b1.timeouts,
	       right_after, failed_after);
	h_ok(q0.dropped >= 0 && q1.dropped == q0.dropped,
	     "poll alone: no answer dropped from the fourth poll after the outage on");
	h_ok(q0.retries >= 0 && q1.retries == q0.retries && q1.timeouts == q0.timeouts,
	     "poll alone: no read retried or timed out from the fourth poll on");
	h_ok(b0.dropped >= 0 && b1.dropped == b0.dropped,
	     "with a client: no answer dropped from the fourth poll after the outage on");
	h_ok(b0.retries >= 0 && b1.retries == b0.retries && b1.timeouts == b0.timeouts,
	     "with a client: no read retried or timed out from the fourth poll on");
	h_ok(failed_after == 0 && right_after > 0,
	     "with a client: every client read in those polls answered (%d, %d failed)",
	     right_after, failed_after);
	h_ok(wrong == 0, "no client read ever returned another register's value (%d did)", wrong);
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}

	h_ok(h_bridge_stop(bridge) == 0, "bridge exits 0");
	h_stop(sim_q, 3000);
	h_stop(sim_b, 3000);
	h_stop(sim_e, 3000);
	h_stop(broker, 3000);
	return h_done();
}

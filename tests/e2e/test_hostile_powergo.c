/* PowerGo through hostile and misattributed messages (docs/protocols/powergo.md): two
 * batteries that share an app_id (so one response topic), late answers that
 * arrive while another request is in flight, garbage, empty, oversized and
 * flooding publishes on the response topic. Everything goes through the real
 * transport: a real mosquitto, the PowerGo simulator, libmodbus clients.
 *
 * What must hold: no value is ever served from another request's answer, a
 * stranger's message never ends or starts a wait, garbage is dropped and
 * counted, and the bridge's memory stays bounded. */
#include <errno.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "codec_powergo.h"

#define APP "053461AD"
#define DEV_A "15020115"
#define DEV_B "15020116"
#define TIMEOUT_MS 1000

static int broker_port, bridge_port;
static const char *blog;

#define EXC(code) (MODBUS_ENOBASE + (code))

/* Messages on the shared response topic that are no battery's answer are
 * counted once, by one of the batteries that share the topic (the first
 * of them: bridge/tr_powergo.c, "fan"); -1 if a counter is unreadable. */
static long dropped_ab(pid_t bridge)
{
	long a = h_dev_counter(bridge, blog, "A", "dropped");
	long b = h_dev_counter(bridge, blog, "B", "dropped");
	return a < 0 || b < 0 ? -1 : a + b;
}

/* One register through unit; the value, or -errno. */
static long read1(int unit, int addr)
{
	modbus_t *mb = h_modbus(bridge_port, unit);
	uint16_t v;
	long r;
	if (!mb)
		return -1;
	r = modbus_read_registers(mb, addr, 1, &v) == 1 ? (long)v : -(long)errno;
	modbus_close(mb);
	modbus_free(mb);
	return r;
}

static int sim_delay(const char *dev, int ms, const char *log)
{
	char topic[64], payload[16], echo[32];
	snprintf(topic, sizeof topic, "sim/powergo/%s/delay", dev);
	snprintf(payload, sizeof payload, "%d", ms);
	snprintf(echo, sizeof echo, "delay %d", ms);
	return h_sim_tell(broker_port, topic, payload, h_path(log), echo, 3000);
}

/* Publish n messages of len bytes to topic at QoS 1 with libmosquitto
 * (mosquitto_pub cannot send binary, empty and huge payloads a thousand
 * times quickly), and wait until the broker acknowledged every one. 0 when
 * it did. */
static void on_puback(struct mosquitto *m, void *obj, int mid)
{
	(void)m, (void)mid;
	(*(int *)obj)++;
}

static int publish_many(const char *topic, const void *payload, size_t len, int n)
{
	int acked = 0;
	struct mosquitto *m = mosquitto_new(NULL, true, &acked);
	int rc = -1;
	if (!m)
		return -1;
	mosquitto_publish_callback_set(m, on_puback);
	mosquitto_max_inflight_messages_set(m, 0);
	if (mosquitto_connect(m, "127.0.0.1", broker_port, 10) != MOSQ_ERR_SUCCESS)
		goto out;
	uint64_t end = h_now_ms() + 20000;
	for (int i = 0; i < n; i++) {
		if (mosquitto_publish(m, NULL, topic, (int)len, payload, 1, false) !=
		    MOSQ_ERR_SUCCESS)
			goto out;
		/* Let the library write as it goes, so that its queue stays small. */
		while (i + 1 - acked > 64 && h_now_ms() < end)
			mosquitto_loop(m, 10, 1);
	}
	while (acked < n && h_now_ms() < end)
		mosquitto_loop(m, 10, 1);
	rc = acked == n ? 0 : -1;
	mosquitto_disconnect(m);
out:
	mosquitto_destroy(m);
	return rc;
}

/* docs/protocols/powergo.md: B's late answer for 529 must not be served as B's
 * register at addr, even when the other battery's traffic and garbage on the
 * shared topic arrive in between. */
static void late_answer_not_taken(pid_t bridge, int addr, long want, const char *how)
{
	long soc = read1(2, 529);
	h_ok(soc == 68, "%s: B answers 529 (SOC 68) at first (%ld)", how, soc);
	h_ok(sim_delay(DEV_B, 1500, "simB.log"), "%s: B answers after 1500 ms from now on", how);
	long r = read1(2, 529);
	h_ok(r == -EXC(0x0B), "%s: read of 529 gives 0B after the %d ms timeout (%ld)", how,
	     TIMEOUT_MS, r);
	/* The other battery's normal traffic and a stranger's garbage on the
	 * shared response topic: neither may end anything. */
	h_ok(read1(1, 529) == 68, "%s: A answers meanwhile", how);
	h_ok(h_mqtt_pub(broker_port, APP, "garbage") == 0, "%s: garbage published on %s", how, APP);
	h_ok(sim_delay(DEV_B, 800, "simB.log"), "%s: B answers after 800 ms now", how);
	/* The late answer for 529 arrives ~500 ms into this read. */
	uint64_t t0 = h_now_ms();
	r = read1(2, addr);
	h_ok(r == want, "%s: register %d of B is %ld, not the late answer's 68 (%ld, %llu ms)", how,
	     addr, want, r, (unsigned long long)(h_now_ms() - t0));
	h_ok(sim_delay(DEV_B, 0, "simB.log"), "%s: B prompt again", how);
	(void)bridge;
}

int main(void)
{
	h_init("hostile_powergo");
	mosquitto_lib_init();
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	const char *app_arg[] = {"--app-id", APP, NULL};
	pid_t sim_a = h_sim_powergo(broker_port, DEV_A, "simA.log", app_arg);
	pid_t sim_b = h_sim_powergo(broker_port, DEV_B, "simB.log", app_arg);
	h_ok(sim_a > 0 && sim_b > 0, "two PowerGo simulators sharing app_id %s", APP);

	bridge_port = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "defaults = { max_age = 0; poll = 0; };\n"
		 "devices = (\n"
		 "  { name = \"A\"; unit_id = 1; map = \"powergo\"; timeout = %d;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"%s\"; }; },\n"
		 "  { name = \"B\"; unit_id = 2; map = \"powergo\"; timeout = %d; retries = 0;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"%s\"; }; }\n"
		 ");\n",
		 bridge_port, h_maps_dir(), TIMEOUT_MS, broker_port, APP, DEV_A, TIMEOUT_MS,
		 broker_port, APP, DEV_B);
	pid_t bridge = h_bridge_start(h_write_file("bridge.conf", conf), bridge_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	blog = h_path("bridge.log");
	blog = strdup(blog);

	long v1 = -1, v533 = -1;
	for (int k = 0; k < 50 && v1 < 0; k++) {
		v1 = read1(2, 1);
		if (v1 < 0)
			h_sleep_ms(100);
	}
	v533 = read1(2, 533);
	h_ok(v1 == 0xA030 && v533 >= 0 && v533 != 68, "B answers register 1 (0x%lx) and 533 (%ld)",
	     (unsigned long)v1, v533);

	/* Register 1 has no mapped neighbour: the request cannot be made to
	 * look different, so an answer that fits both is dropped. */
	late_answer_not_taken(bridge, 1, v1, "register 1");
	/* 533 has neighbours: the read is widened, the late answer's byte
	 * count no longer fits it. */
	late_answer_not_taken(bridge, 533, v533, "register 533");
	h_ok(h_wait_lines(blog, "B: dropped answer (", 2, 3000),
	     "the late answers were dropped and logged");

	/* --- garbage on the response topic -------------------------------- */
	long d0 = dropped_ab(bridge);
	static uint8_t big[1 << 20];
	memset(big, 0x51, sizeof big);
	h_ok(publish_many(APP, "", 0, 1) == 0, "an empty message published on %s", APP);
	h_ok(publish_many(APP, big, 1000, 1) == 0, "a 1000-byte message published on %s", APP);
	/* Over MQTT v5 the broker itself keeps this one from the bridge (the
	 * link declares its maximum packet size): not counted, never seen. */
	h_ok(publish_many(APP, big, sizeof big, 1) == 0, "a 1 MiB message published on %s", APP);
	h_ok(h_alive(bridge), "bridge alive after empty and oversized messages");
	long d1 = dropped_ab(bridge);
	h_ok(d0 >= 0 && d1 >= d0 + 2,
	     "the empty and the 1000-byte message were dropped and counted (dropped %ld -> %ld)",
	     d0, d1);
	h_ok(read1(2, 529) == 68 && read1(1, 529) == 68, "both batteries still answer");

	/* A valid-looking answer from another battery while a read is in
	 * flight: it names A as its source, so B drops it. */
	uint8_t frame[POWERGO_BUF_LEN];
	uint32_t a_id, app_id;
	codec_powergo_parse_id(DEV_A, &a_id);
	codec_powergo_parse_id(APP, &app_id);
	uint16_t bogus = 0xDEAD;
	int n =
	    codec_powergo_encode_read_answer(a_id, app_id, 0x03, &bogus, 1, frame, sizeof frame);
	h_ok(sim_delay(DEV_B, 600, "simB.log"), "B answers after 600 ms");
	pid_t pub = fork();
	if (pub == 0) {
		h_sleep_ms(150);
		_exit(publish_many(APP, frame, (size_t)n, 5) == 0 ? 0 : 1);
	}
	long r = read1(2, 1);
	int st = 0;
	waitpid(pub, &st, 0);
	h_ok(r == v1, "another battery's answer is not taken for B's (0x%lx)", (unsigned long)r);
	h_ok(sim_delay(DEV_B, 0, "simB.log"), "B prompt again");

	/* --- a flood -------------------------------------------------------- */
	long rss0 = h_proc_kib(bridge, "VmRSS");
	static uint8_t junk[200];
	memset(junk, 0xAA, sizeof junk);
	h_ok(publish_many(APP, junk, sizeof junk, 3000) == 0,
	     "3000 messages of 200 bytes published");
	h_ok(publish_many(APP, big, sizeof big, 20) == 0, "20 messages of 1 MiB published");
	/* The bridge works through what the broker queued for it (slowly
	 * under valgrind): wait, bounded, until every message was counted. */
	long d2 = d1;
	uint64_t until = h_now_ms() + 60000;
	while ((d2 = dropped_ab(bridge)) >= 0 && d2 < d1 + 3000 && h_now_ms() < until)
		h_sleep_ms(200);
	h_ok(d2 >= d1 + 3000, "every flood message was dropped and counted (%ld -> %ld)", d1, d2);
	h_ok(read1(2, 529) == 68, "B still answers after the flood");
	long rss1 = h_proc_kib(bridge, "VmRSS");
	h_note("bridge RSS %ld KiB before the flood, %ld KiB after", rss0, rss1);
	h_ok(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 8 * 1024,
	     "memory stays bounded through the flood (+%ld KiB)", rss1 - rss0);

	h_ok(h_bridge_stop(bridge) == 0, "bridge exits 0");
	h_stop(sim_a, 3000);
	h_stop(sim_b, 3000);
	h_stop(broker, 3000);
	return h_done();
}

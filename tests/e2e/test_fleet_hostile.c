/* Hostile peers on a shared PowerGo link (docs/design.md, "A fleet on one
 * broker"): eight batteries of one app ID answered by the fleet simulator
 * (tests/sim/sim_fleet.c), and a ninth, the "puppet", answered by this test
 * itself so that it can answer twice or hold its answers back. Every read
 * is fresh (max_age = 0): a request over MQTT and its answer.
 *
 *   1. A flood on the shared answer topic while every device is read:
 *      garbage bearing one battery's ID (bad CRC, cut short, 100 times the
 *      longest answer), a neighbour's answers that fit no request of its,
 *      answers from an ID no device has, empty and one-byte messages,
 *      answers on the answer topic with a 60,000-byte level after it. No
 *      read fails or gets a wrong value; each message is counted once, by
 *      the device whose ID it bears (or by one device when it bears none).
 *   2. Duplicates (QoS 1 on the device's side): the puppet answers every
 *      request twice while two clients read two registers of it at once.
 *      A duplicate must never be taken as the next request's answer.
 *   3. A device replaced by a reload while its answer is late: the new
 *      device must not take the old device's late answer for its own
 *      request.
 *   4. A device removed by a reload while its answer is in flight: the
 *      answer is counted once, the others keep answering.
 *   5. The broker restarts while a reload adds a device: every device,
 *      the new one included, answers again with its own value.
 *   And --check refuses two devices with the same IDs on one broker: the
 *   battery's answers would go to one of them only (or, on two links, to
 *   both, each taking the other's). */
#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_powergo.h"
#include "harness.h"

#define APP "053461AE"
#define NFLEET 8
#define FIRST_ID 0x20000000u
#define PUPPET_ID 0x2000F000u /* outside the simulator's range */
#define STRAY_ID 0x2000FFFFu  /* no device's */
#define PUPPET_UNIT 20
#define PUPPET_TIMEOUT 2000
#define EXC(code) (MODBUS_ENOBASE + (code))

static int broker_port, bridge_port;
static char logp[700];
static uint32_t app_id;

/* ------------------------------------------------------------ puppet -- */

/* The puppet answers a read of addr with 0x1000 + addr + i for word i. */
enum { PUPPET_PROMPT, PUPPET_DUP, PUPPET_HOLD };
static struct {
	pthread_mutex_t mu;
	struct mosquitto *m;
	int mode;
	int requests; /* seen since the mode was set */
	int nheld;
	uint8_t held[8][POWERGO_BUF_LEN];
	int heldlen[8];
	int subscribed;
} pup = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void pup_on_connect(struct mosquitto *m, void *obj, int rc)
{
	char topic[9];
	(void)obj;
	codec_powergo_format_id(PUPPET_ID, topic);
	if (rc == 0)
		mosquitto_subscribe(m, NULL, topic, 0);
}

static void pup_on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *q)
{
	(void)m, (void)obj, (void)mid, (void)n, (void)q;
	pthread_mutex_lock(&pup.mu);
	pup.subscribed = 1;
	pthread_mutex_unlock(&pup.mu);
}

static void pup_on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct powergo_request_in req;
	uint8_t out[POWERGO_BUF_LEN];
	uint16_t words[125];
	int n;
	(void)obj;
	if (codec_powergo_decode_request(msg->payload, (size_t)msg->payloadlen, PUPPET_ID, &req) !=
	    0)
		return;
	if (req.fc == 0x03 || req.fc == 0x04) {
		for (uint16_t i = 0; i < req.count; i++)
			words[i] = (uint16_t)(0x1000 + req.addr + i);
		n = codec_powergo_encode_read_answer(PUPPET_ID, req.src, req.fc, words, req.count,
						     out, sizeof out);
	} else {
		n = codec_powergo_encode_write_answer(PUPPET_ID, req.src, req.fc, req.addr,
						      req.fc == 0x06 ? req.words[0] : req.count,
						      out, sizeof out);
	}
	if (n <= 0)
		return;
	pthread_mutex_lock(&pup.mu);
	pup.requests++;
	int mode = pup.mode;
	if (mode == PUPPET_HOLD && pup.nheld < 8) {
		memcpy(pup.held[pup.nheld], out, (size_t)n);
		pup.heldlen[pup.nheld++] = n;
	}
	pthread_mutex_unlock(&pup.mu);
	if (mode == PUPPET_HOLD)
		return;
	mosquitto_publish(m, NULL, APP, n, out, 0, false);
	if (mode == PUPPET_DUP)
		mosquitto_publish(m, NULL, APP, n, out, 0, false);
}

static int pup_start(void)
{
	pup.m = mosquitto_new(NULL, true, NULL);
	if (!pup.m)
		return -1;
	/* Its two copies of an answer go out at once, not 40 ms apart. */
	mosquitto_int_option(pup.m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_callback_set(pup.m, pup_on_connect);
	mosquitto_subscribe_callback_set(pup.m, pup_on_subscribe);
	mosquitto_message_callback_set(pup.m, pup_on_message);
	if (mosquitto_connect(pup.m, "127.0.0.1", broker_port, 10) != MOSQ_ERR_SUCCESS ||
	    mosquitto_loop_start(pup.m) != MOSQ_ERR_SUCCESS)
		return -1;
	for (uint64_t end = h_now_ms() + 10000; h_now_ms() < end; h_sleep_ms(20)) {
		pthread_mutex_lock(&pup.mu);
		int s = pup.subscribed;
		pthread_mutex_unlock(&pup.mu);
		if (s)
			return 0;
	}
	return -1;
}

static void pup_mode(int mode)
{
	pthread_mutex_lock(&pup.mu);
	pup.mode = mode;
	pup.requests = 0;
	pup.nheld = 0;
	pthread_mutex_unlock(&pup.mu);
}

/* Wait (bounded) until the puppet has seen n requests since its mode was set. */
static int pup_wait_requests(int n)
{
	for (uint64_t end = h_now_ms() + 10000; h_now_ms() < end; h_sleep_ms(10)) {
		pthread_mutex_lock(&pup.mu);
		int r = pup.requests;
		pthread_mutex_unlock(&pup.mu);
		if (r >= n)
			return 1;
	}
	return 0;
}

/* Send what the puppet held, in order, and answer promptly from now on. */
static void pup_release(void)
{
	pthread_mutex_lock(&pup.mu);
	for (int i = 0; i < pup.nheld; i++)
		mosquitto_publish(pup.m, NULL, APP, pup.heldlen[i], pup.held[i], 0, false);
	pup.nheld = 0;
	pup.mode = PUPPET_PROMPT;
	pthread_mutex_unlock(&pup.mu);
}

/* ------------------------------------------------------------ config -- */

/* fleet: simulated batteries; puppet_timeout: 0 leaves the puppet out. */
static const char *write_conf(int fleet, int puppet_timeout)
{
	static char buf[16384];
	size_t used = 0;
	used += (size_t)snprintf(buf + used, sizeof buf - used,
				 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
				 "maps_path = \"%s\";\n"
				 "defaults = { max_age = 0; poll = 0; };\n"
				 "devices = (\n",
				 bridge_port, h_maps_dir());
	for (int i = 0; i < fleet; i++)
		used += (size_t)snprintf(
		    buf + used, sizeof buf - used,
		    " { name = \"pg%d\"; unit_id = %d; map = \"powergo\";\n"
		    "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		    "   powergo = { app_id = \"%s\"; device_id = \"%08X\"; }; },\n",
		    i, i + 1, broker_port, APP, FIRST_ID + (unsigned)i);
	if (puppet_timeout)
		used += (size_t)snprintf(
		    buf + used, sizeof buf - used,
		    " { name = \"puppet\"; unit_id = %d; map = \"powergo\"; timeout = %d;\n"
		    "   retries = 0; mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		    "   powergo = { app_id = \"%s\"; device_id = \"%08X\"; }; },\n",
		    PUPPET_UNIT, puppet_timeout, broker_port, APP, PUPPET_ID);
	used -= 2; /* the last ",\n" */
	snprintf(buf + used, sizeof buf - used, "\n);\n");
	return h_write_file("fleet_hostile.conf", buf);
}

static int reload(pid_t b, int fleet, int puppet_timeout)
{
	int before = h_count_lines(logp, "reloaded: ");
	write_conf(fleet, puppet_timeout);
	h_signal(b, SIGHUP);
	return h_wait_lines(logp, "reloaded: ", before + 1, 20000);
}

/* ------------------------------------------------------------- reads -- */

/* Register addr of unit: the value, or -errno. */
static long read1(modbus_t *m, int unit, int addr)
{
	uint16_t v = 0;
	modbus_set_slave(m, unit);
	return modbus_read_registers(m, addr, 1, &v) == 1 ? (long)v : -(long)errno;
}

/* The sum of every device's dropped counter, or -1. */
static long long dropped_all(pid_t b, int fleet, int puppet)
{
	long long sum = 0;
	char name[16];
	for (int i = 0; i < fleet + puppet; i++) {
		if (i < fleet)
			snprintf(name, sizeof name, "pg%d", i);
		else
			snprintf(name, sizeof name, "puppet");
		long long d = h_dev_counter(b, logp, name, "dropped");
		if (d < 0)
			return -1;
		sum += d;
	}
	return sum;
}

/* ------------------------------------------------------------- flood -- */

struct flood {
	int rounds;
	int sent_small; /* messages the bridge receives */
	int sent_big;	/* over its limit: the broker may withhold them */
	int sent_pg1;	/* bearing pg1's ID */
	int ok;
	int acked;
	int done; /* __atomic: the thread has finished */
};

static void flood_on_puback(struct mosquitto *m, void *obj, int mid)
{
	(void)m, (void)mid;
	((struct flood *)obj)->acked++;
}

static void *flood_run(void *arg)
{
	struct flood *f = arg;
	static uint8_t big[100 * 256];
	uint8_t frame[POWERGO_BUF_LEN], cut[POWERGO_BUF_LEN];
	uint16_t words[3] = {0xDEAD, 0xDEAD, 0xDEAD};
	struct mosquitto *m = mosquitto_new(NULL, true, f);
	f->ok = 0;
	if (!m) {
		__atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	mosquitto_publish_callback_set(m, flood_on_puback);
	mosquitto_max_inflight_messages_set(m, 0);
	if (mosquitto_connect(m, "127.0.0.1", broker_port, 10) != MOSQ_ERR_SUCCESS)
		goto out;
	memset(big, 0xAA, sizeof big);
	/* pg0's read answer with its CRC broken, and cut short. */
	int n0 =
	    codec_powergo_encode_read_answer(FIRST_ID, app_id, 0x03, words, 1, frame, sizeof frame);
	memcpy(cut, frame, (size_t)n0);
	frame[n0 - 1] ^= 0xFF;
	big[0] = 0x20, big[1] = big[2] = big[3] = 0; /* pg0's ID first */
	/* A neighbour's (pg1) answer of three words: no read of one fits it. */
	uint8_t nb[POWERGO_BUF_LEN], stray[POWERGO_BUF_LEN];
	int n1 =
	    codec_powergo_encode_read_answer(FIRST_ID + 1, app_id, 0x03, words, 3, nb, sizeof nb);
	/* A valid answer from an ID no device has. */
	int n2 =
	    codec_powergo_encode_read_answer(STRAY_ID, app_id, 0x03, words, 1, stray, sizeof stray);
	int sent = 0;
	uint64_t end = h_now_ms() + 60000;
	for (int r = 0; r < f->rounds; r++) {
		const struct {
			const void *p;
			int len;
		} msg[] = {{frame, n0}, {cut, n0 - 3}, {nb, n1}, {stray, n2}, {"", 0}, {cut, 1}};
		for (size_t k = 0; k < sizeof msg / sizeof msg[0]; k++) {
			if (mosquitto_publish(m, NULL, APP, msg[k].len, msg[k].p, 1, false) !=
			    MOSQ_ERR_SUCCESS)
				goto out;
			sent++;
			f->sent_small++;
			f->sent_pg1 += msg[k].p == nb;
		}
		if (r % 50 == 0) {
			if (mosquitto_publish(m, NULL, APP, (int)sizeof big, big, 1, false) !=
			    MOSQ_ERR_SUCCESS)
				goto out;
			sent++;
			f->sent_big++;
		}
		/* QoS 1, at most 64 unacknowledged: the broker took each. */
		while (sent - f->acked > 64 && h_now_ms() < end)
			mosquitto_loop(m, 10, 1);
	}
	/* pg0's answer on topics that start like the answer topic, with a
	 * 4,000- and a 60,000-byte "device ID": the daemon subscribes to
	 * exact topics, so they never reach it (and are not counted). */
	static char topic[60010];
	for (size_t len = 4000; len <= 60000; len += 56000) {
		snprintf(topic, sizeof topic, "%s/", APP);
		memset(topic + 9, 'F', len);
		topic[9 + len] = '\0';
		if (mosquitto_publish(m, NULL, topic, n0, cut, 1, false) != MOSQ_ERR_SUCCESS)
			goto out;
		sent++;
	}
	while (f->acked < sent && h_now_ms() < end)
		mosquitto_loop(m, 10, 1);
	f->ok = f->acked == sent;
	mosquitto_disconnect(m);
out:
	mosquitto_destroy(m);
	__atomic_store_n(&f->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* ------------------------------------------------------ two readers -- */

struct reader {
	int addr, n;
	int reads, wrong, failed;
	long last_bad;
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;
	modbus_t *m = h_modbus(bridge_port, PUPPET_UNIT);
	if (!m) {
		r->failed = r->n;
		return NULL;
	}
	for (int i = 0; i < r->n; i++) {
		long v = read1(m, PUPPET_UNIT, r->addr);
		r->reads++;
		if (v < 0)
			r->failed++;
		else if (v != 0x1000 + r->addr) {
			r->wrong++;
			r->last_bad = v;
		}
	}
	modbus_close(m);
	modbus_free(m);
	return NULL;
}

static void check_same_ids(void)
{
	char text[2048], out[16384];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = 1502; };\n"
		 "maps_path = \"%s\";\n"
		 "devices = (\n"
		 " { name = \"a\"; unit_id = 1; map = \"powergo\"; mqtt = { port = 1883; };\n"
		 "   powergo = { app_id = \"%s\"; device_id = \"20000001\"; }; },\n"
		 " { name = \"c\"; unit_id = 3; map = \"powergo\"; mqtt = { port = 1884; };\n"
		 "   powergo = { app_id = \"%s\"; device_id = \"20000001\"; }; },\n"
		 " { name = \"b\"; unit_id = 2; map = \"powergo\";\n"
		 "   mqtt = { port = 1883; client_id = \"other\"; };\n"
		 "   powergo = { app_id = \"%s\"; device_id = \"20000001\"; }; }\n"
		 ");\n",
		 h_maps_dir(), APP, APP, APP);
	const char *conf = h_write_file("same_ids.conf", text);
	int rc = h_run_bridge("--check", conf, out, sizeof out);
	int ok = rc != 0 && strstr(out, "same_ids.conf:10:") && strstr(out, "device \"a\"'s too");
	if (!ok)
		h_note("--check: exit %d: %s", rc, out);
	h_ok(ok, "--check refuses a second device with the same IDs on one broker (another "
		 "broker's is another battery)");
}

int main(void)
{
	h_init("fleet_hostile");
	check_same_ids();
	mosquitto_lib_init();
	codec_powergo_parse_id(APP, &app_id);
	bridge_port = h_free_port();
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	int subscribed;
	/* One more than the config has at first: the reload in part 5 adds it. */
	pid_t sim = h_sim_fleet(broker_port, FIRST_ID, NFLEET + 1, "fleet_sim.log", &subscribed);
	h_ok(subscribed && pup_start() == 0, "the fleet simulator and the puppet subscribed");

	snprintf(logp, sizeof logp, "%s", h_path("bridge.log"));
	pid_t b = h_bridge_start(write_conf(NFLEET, PUPPET_TIMEOUT), bridge_port, "bridge.log");
	if (!h_ok(b > 0, "bridge started")) {
		h_stop(sim, 2000);
		h_stop(broker, 2000);
		return h_done();
	}
	modbus_t *m = h_modbus(bridge_port, 1);
	uint16_t v0 = 0;
	int rc0 = m ? h_read_retry(m, 533, 1, &v0) : -1;
	h_ok(rc0 == 0 && v0 == 533, "pg0 answers (%u)", v0);

	/* --- 1. a flood on the shared topic -------------------------------- */
	long long d0 = dropped_all(b, NFLEET, 1);
	long long p0 = h_dev_counter(b, logp, "pg1", "dropped");
	struct flood f = {.rounds = h_soak() ? 20000 : 500};
	pthread_t ft;
	pthread_create(&ft, NULL, flood_run, &f);
	int reads = 0, wrong = 0, failed = 0;
	/* Every device, fresh, for as long as the flood lasts (and once more). */
	for (int last = 0; !last;) {
		last = __atomic_load_n(&f.done, __ATOMIC_SEQ_CST);
		for (int i = 0; i < NFLEET && m; i++) {
			int addr = reads % 2 ? 533 : 529;
			long v = read1(m, i + 1, addr);
			reads++;
			if (v < 0)
				failed++;
			else if (v != i + addr)
				wrong++;
			if ((v < 0 || v != i + addr) && failed + wrong <= 3)
				h_note("pg%d register %d: %ld", i, addr, v);
		}
	}
	pthread_join(ft, NULL);
	h_ok(f.ok, "flood sent: %d messages, %d of them 100x the longest answer",
	     f.sent_small + f.sent_big, f.sent_big);
	h_ok(failed == 0 && wrong == 0 && reads >= 2 * NFLEET,
	     "every battery answered every fresh read with its own value during the flood (%d "
	     "reads, %d failed, %d wrong)",
	     reads, failed, wrong);
	/* Each message is counted once; the bridge may still be working
	 * through what the broker queued for it. */
	long long d1 = d0;
	for (uint64_t end = h_now_ms() + 30000;
	     (d1 = dropped_all(b, NFLEET, 1)) >= 0 && d1 < d0 + f.sent_small && h_now_ms() < end;)
		h_sleep_ms(200);
	h_ok(d0 >= 0 && d1 >= d0 + f.sent_small && d1 <= d0 + f.sent_small + f.sent_big,
	     "every message of the flood was dropped and counted once (%lld, sent %d + %d "
	     "oversized)",
	     d1 - d0, f.sent_small, f.sent_big);
	long long p1 = h_dev_counter(b, logp, "pg1", "dropped");
	h_ok(p0 >= 0 && p1 - p0 == f.sent_pg1,
	     "the neighbour's answers were counted by the neighbour (%lld of %d)", p1 - p0,
	     f.sent_pg1);
	h_ok(h_alive(b), "bridge alive");

	/* --- 2. duplicates ------------------------------------------------- */
	pup_mode(PUPPET_DUP);
	struct reader r[2] = {{.addr = 533, .n = h_soak() ? 1000 : 60},
			      {.addr = 140, .n = h_soak() ? 1000 : 60}};
	pthread_t rt[2];
	for (int k = 0; k < 2; k++)
		pthread_create(&rt[k], NULL, reader_run, &r[k]);
	for (int k = 0; k < 2; k++)
		pthread_join(rt[k], NULL);
	for (int k = 0; k < 2; k++)
		h_ok(r[k].wrong == 0 && r[k].failed == 0,
		     "every answer sent twice: register %d read %d times by one of two clients at "
		     "once, %d wrong (last 0x%lx), %d failed",
		     r[k].addr, r[k].reads, r[k].wrong, (unsigned long)r[k].last_bad, r[k].failed);
	/* A read of another width, which no copy of those answers fits, so
	 * that none is left for the next part. */
	uint16_t two[2] = {0, 0};
	modbus_set_slave(m, PUPPET_UNIT);
	h_ok(modbus_read_registers(m, 533, 2, two) == 2 && two[0] == 0x1000 + 533,
	     "the puppet answers a read of two registers (0x%x)", two[0]);
	pup_mode(PUPPET_PROMPT);

	/* --- 3. replaced while its answer is late -------------------------- */
	pup_mode(PUPPET_HOLD);
	long v = read1(m, PUPPET_UNIT, 533);
	h_ok(v == -EXC(0x0B), "the puppet holds its answer: 0B after its timeout (%ld)", v);
	h_ok(reload(b, NFLEET, PUPPET_TIMEOUT + 1) &&
		 h_file_contains(logp, "device puppet: timeout changed: replacing it"),
	     "a reload replaces the puppet (its timeout changed)");
	struct reader late = {.addr = 140, .n = 1};
	pthread_t lt;
	pthread_create(&lt, NULL, reader_run, &late);
	h_ok(pup_wait_requests(2), "the new puppet device asked while the old answer is held");
	pup_release();
	pthread_join(lt, NULL);
	h_ok(late.wrong == 0 && late.failed == 0,
	     "the replaced device's late answer (register 533) is not the new device's answer "
	     "(register 140: %s 0x%lx)",
	     late.wrong ? "got" : "right,",
	     late.wrong ? (unsigned long)late.last_bad : 0x1000ul + 140);

	/* --- 4. removed while its answer is in flight ---------------------- */
	pup_mode(PUPPET_HOLD);
	struct reader gone = {.addr = 533, .n = 1};
	pthread_create(&lt, NULL, reader_run, &gone);
	h_ok(pup_wait_requests(1), "the puppet holds the answer to a read");
	long long d2 = dropped_all(b, NFLEET, 0);
	h_ok(reload(b, NFLEET, 0), "a reload removes the puppet meanwhile");
	pthread_join(lt, NULL);
	h_ok(gone.failed == 1, "the client's read of the removed device failed");
	pup_release();
	long long d3 = d2;
	for (uint64_t end = h_now_ms() + 10000;
	     (d3 = dropped_all(b, NFLEET, 0)) >= 0 && d3 < d2 + 1 && h_now_ms() < end;)
		h_sleep_ms(100);
	h_ok(d2 >= 0 && d3 == d2 + 1, "its answer, come after, was counted once (%lld)", d3 - d2);
	int good = 0;
	for (int i = 0; i < NFLEET && m; i++)
		good += read1(m, i + 1, 533) == i + 533;
	h_ok(good == NFLEET, "the other batteries answer (%d of %d)", good, NFLEET);

	/* --- 5. the broker restarts during a reload ------------------------ */
	h_stop(broker, 2000);
	h_ok(h_wait_lines(logp, ": link down", 1, 10000), "broker stopped: the link is down");
	h_ok(reload(b, NFLEET + 1, 0), "a reload adds pg%d while the broker is away", NFLEET);
	broker = h_broker_restart(broker_port);
	h_ok(broker > 0, "broker back");
	good = 0;
	for (int i = 0; i <= NFLEET && m; i++) {
		long val = -1;
		for (uint64_t end = h_now_ms() + 30000; h_now_ms() < end; h_sleep_ms(100))
			if ((val = read1(m, i + 1, 529)) >= 0)
				break;
		good += val == i + 529;
	}
	h_ok(good == NFLEET + 1, "every battery, the new one too, answers again (%d of %d)", good,
	     NFLEET + 1);

	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	h_ok(h_bridge_stop(b) == 0, "bridge stops cleanly");
	mosquitto_loop_stop(pup.m, true);
	mosquitto_destroy(pup.m);
	h_stop(sim, 2000);
	h_stop(broker, 2000);
	mosquitto_lib_cleanup();
	return h_done();
}

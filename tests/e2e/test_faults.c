/* Faults on the native side, end to end with the real bridge:
 *
 * 1. The MQTT broker killed and restarted twice (five times in `make soak`)
 *    while 8 clients read a PowerGo register in a loop: the bridge survives,
 *    reads resume within 2 s of the broker's return, and no answer is older
 *    than max_age (the register's value changes after every restart; during
 *    an outage, once max_age has passed, reads are refused instead of
 *    answered).
 * 2. A Solarman logger that breaks the connection in the middle of an answer
 *    (a reset, then a plain close): that request gets 0B, and a read after
 *    the reconnect gets its own correct answer.
 * 3. A PowerGo device that answers after the bridge's timeout: the client
 *    gets 0B, the late answer is dropped, and the next transaction — other
 *    registers, other values — gets its own answer; when the next read is
 *    asked for before the late answer came, it gets its own answer or 0B,
 *    never the late one.
 *
 * The logger of part 2 is a thread of this test (sim_solarman never breaks
 * a frame), speaking V5 through the bridge's own codec. */
/* accept4 and SOCK_CLOEXEC */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "mbdef.h"
#include "codec_v5.h"

#define APP "053461AD"
#define APP_C "0A0B0C0D" /* its own MQTT connection: no answers of the other */
#define DEV_A "15020115" /* broker restarts */
#define DEV_C "15020116" /* late answers */
#define REG_A 540	 /* daily_discharge_energy: the value that changes */
#define MAX_AGE_A 200
#define TIMEOUT_A 500
#define TIMEOUT_C 600
#define SOL_SERIAL 1234567890u
#define TIMEOUT_SOL 1000

static int broker_port, bridge_port;

/* ------------------------------------------------------------ helpers -- */

/* Publish to a simulator's control topic and wait until it echoes `echo`. */
static int sim_control(const char *dev, const char *what, const char *payload, const char *log,
		       const char *echo)
{
	char topic[64];
	snprintf(topic, sizeof topic, "sim/powergo/%s/%s", dev, what);
	return h_sim_tell(broker_port, topic, payload, h_path(log), echo, 5000);
}

/* Read count registers (holding or input); the first value, or -errno. */
static long read_reg(modbus_t *mb, int input, int addr)
{
	uint16_t v;
	int rc = input ? modbus_read_input_registers(mb, addr, 1, &v)
		       : modbus_read_registers(mb, addr, 1, &v);
	return rc == 1 ? (long)v : -(long)errno;
}

static const char *exc_name(long rc)
{
	static char buf[64];
	if (rc >= 0) {
		snprintf(buf, sizeof buf, "value %ld", rc);
		return buf;
	}
	snprintf(buf, sizeof buf, "%s", modbus_strerror((int)-rc));
	return buf;
}

/* ------------------------------------------- part 1: broker restarts -- */

#define READERS 8
#define MAX_SAMPLES 4000
#define RESTARTS 5

struct sample {
	uint64_t t0, t1;
	long rc; /* value or -errno */
};

struct reader {
	pthread_t th;
	struct sample s[MAX_SAMPLES];
	int n;
	int connect_failures;
};

static struct reader readers[READERS];
static volatile int readers_stop;

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	modbus_t *mb = h_modbus(bridge_port, 1);
	uint64_t end = h_now_ms() + 60000; /* hard bound, whatever happens */
	while (!readers_stop && h_now_ms() < end && r->n < MAX_SAMPLES) {
		if (!mb) {
			r->connect_failures++;
			h_sleep_ms(100);
			mb = h_modbus(bridge_port, 1);
			continue;
		}
		modbus_set_response_timeout(mb, 3, 0);
		struct sample *s = &r->s[r->n];
		s->t0 = h_now_ms();
		s->rc = read_reg(mb, 0, REG_A);
		s->t1 = h_now_ms();
		r->n++;
		if (s->rc < 0 && -s->rc < MODBUS_ENOBASE) {
			/* The connection itself failed: the bridge must not do that
			 * for a native fault, but keep going to see what follows. */
			modbus_close(mb);
			modbus_free(mb);
			mb = h_modbus(bridge_port, 1);
		}
		h_sleep_ms(20);
	}
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	return NULL;
}

struct cycle {
	uint64_t down, up; /* broker dead from `down` (h_stop returned) to `up` (listening) */
	uint64_t set_at;   /* the new value is at the device from here on */
	long value;
};

static void part_broker_restarts(pid_t *broker, pid_t bridge)
{
	struct cycle cyc[RESTARTS + 1];
	char payload[64], echo[64];

	/* The starting value, before any client reads. */
	snprintf(payload, sizeof payload, "%d=1000", REG_A);
	snprintf(echo, sizeof echo, "set %d=1000", REG_A);
	h_ok(sim_control(DEV_A, "set", payload, "simA.log", echo), "value 1000 set at the device");
	cyc[0] = (struct cycle){.set_at = h_now_ms(), .value = 1000};

	/* The link is up before the clients start. */
	modbus_t *mb = h_modbus(bridge_port, 1);
	long first = -1;
	for (int k = 0; mb && k < 50 && first != 1000; k++) {
		first = read_reg(mb, 0, REG_A);
		if (first != 1000)
			h_sleep_ms(100);
	}
	h_ok(first == 1000, "the device answers through the bridge (%s)", exc_name(first));
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}

	readers_stop = 0;
	for (int i = 0; i < READERS; i++)
		pthread_create(&readers[i].th, NULL, reader_main, &readers[i]);
	h_sleep_ms(1000);

	/* Outages on both sides of the bridge's first reconnect (1 s): the
	 * first two in `make test`, all five in `make soak`. */
	static const int outage_ms[RESTARTS] = {700, 1400, 700, 1400, 700};
	int restarts = h_soak() ? RESTARTS : 2, restarted = 0;
	for (int k = 1; k <= restarts; k++) {
		if (h_stop(*broker, 3000) != 0)
			h_note("broker %d did not stop cleanly", k);
		cyc[k].down = h_now_ms();
		h_sleep_ms(outage_ms[k - 1]);
		*broker = h_broker_restart(broker_port);
		cyc[k].up = h_now_ms();
		if (*broker <= 0) {
			h_note("broker restart %d failed", k);
			break;
		}
		restarted++;
		cyc[k].value = 1000 + k;
		snprintf(payload, sizeof payload, "%d=%ld", REG_A, cyc[k].value);
		snprintf(echo, sizeof echo, "set %d=%ld", REG_A, cyc[k].value);
		if (!sim_control(DEV_A, "set", payload, "simA.log", echo))
			h_note("restart %d: the simulator did not take the new value", k);
		cyc[k].set_at = h_now_ms();
		h_sleep_ms(1500);
	}
	readers_stop = 1;
	for (int i = 0; i < READERS; i++)
		pthread_join(readers[i].th, NULL);
	h_ok(restarted == restarts, "broker restarted %d times (%d)", restarts, restarted);

	/* Recovery: the first successful answer after each return. */
	int slow = 0;
	for (int k = 1; k <= restarted; k++) {
		uint64_t best = UINT64_MAX;
		for (int i = 0; i < READERS; i++)
			for (int j = 0; j < readers[i].n; j++) {
				const struct sample *s = &readers[i].s[j];
				if (s->rc >= 0 && s->t1 >= cyc[k].up && s->t1 < best)
					best = s->t1;
			}
		long ms = best == UINT64_MAX ? -1 : (long)(best - cyc[k].up);
		h_note("restart %d: outage %d ms, reads resumed %ld ms after the broker returned",
		       k, outage_ms[k - 1], ms);
		if (ms < 0 || ms > 2000 + 300)
			slow++;
	}
	h_ok(slow == 0, "reads resumed within 2 s of every broker return (%d late)", slow);

	/* Staleness. (a) Once the device has value k (from set_at) and max_age
	 * has passed, no read that starts later may return an older value.
	 * (b) During an outage, once max_age has passed since the broker went,
	 * no read may be answered with a value. */
	int stale = 0, outage_values = 0, outage_reads = 0, total = 0, ok = 0, conn_err = 0;
	const uint64_t slack = 150;
	for (int i = 0; i < READERS; i++) {
		for (int j = 0; j < readers[i].n; j++) {
			const struct sample *s = &readers[i].s[j];
			total++;
			if (s->rc >= 0)
				ok++;
			else if (-s->rc < MODBUS_ENOBASE)
				conn_err++;
			for (int k = 0; k <= restarted; k++) {
				if (s->rc >= 0 && s->t0 > cyc[k].set_at + MAX_AGE_A + slack &&
				    s->rc < cyc[k].value) {
					if (stale++ < 5)
						h_note("stale: read at +%llu ms after value %ld "
						       "was set "
						       "returned %ld",
						       (unsigned long long)(s->t0 - cyc[k].set_at),
						       cyc[k].value, s->rc);
				}
				if (k >= 1 && s->t0 > cyc[k].down + MAX_AGE_A + slack &&
				    s->t1 < cyc[k].up) {
					outage_reads++;
					if (s->rc >= 0 && outage_values++ < 5)
						h_note("answered during outage %d at +%llu ms: %ld",
						       k, (unsigned long long)(s->t0 - cyc[k].down),
						       s->rc);
				}
			}
		}
	}
	h_note("%d reads by %d clients: %d answered, %d connection errors, %d in outage windows",
	       total, READERS, ok, conn_err, outage_reads);
	h_ok(total > 200 && ok > total / 3, "the clients kept reading (%d reads, %d answered)",
	     total, ok);
	h_ok(stale == 0, "no answer older than max_age after a value changed (%d stale)", stale);
	h_ok(outage_reads > 0 && outage_values == 0,
	     "reads during an outage older than max_age are refused (%d of %d answered)",
	     outage_values, outage_reads);
	h_ok(conn_err == 0, "no client connection broke because of the broker (%d)", conn_err);
	h_ok(h_alive(bridge), "bridge alive after %d broker restarts", restarted);
}

/* ---------------------------------- part 2: a logger reset mid-frame -- */

enum sol_action { SOL_FULL, SOL_HALF_RST, SOL_HALF_FIN };

struct fake_logger {
	int lfd, port;
	pthread_t th;
	volatile int stop;
	volatile int connections, requests;
	const enum sol_action *script; /* action per request, SOL_FULL after the end */
	int nscript;
};

static uint16_t sol_value(uint16_t addr)
{
	return (uint16_t)(3000 + addr);
}

/* Answer one request frame; returns -1 when the connection was broken on
 * purpose (or failed). */
static int fake_answer(struct fake_logger *fl, int fd, const struct v5_frame *f)
{
	struct v5_rtu_request q;
	if (f->payload_len < V5_REQ_PREFIX ||
	    codec_v5_rtu_request_decode(f->payload + V5_REQ_PREFIX, f->payload_len - V5_REQ_PREFIX,
					&q) != 0)
		return 0;
	int r = fl->requests++;
	enum sol_action act = r < fl->nscript ? fl->script[r] : SOL_FULL;
	uint8_t rtu[V5_RTU_MAX], frame[V5_MAX_FRAME];
	uint16_t words[125];
	int n;
	if ((q.fc == MB_FC_READ_INPUT || q.fc == MB_FC_READ_HOLDING) && q.count >= 1 &&
	    q.count <= 125) {
		for (uint16_t i = 0; i < q.count; i++)
			words[i] = sol_value((uint16_t)(q.addr + i));
		n = codec_v5_rtu_read_answer(rtu, sizeof rtu, q.slave, q.fc, words, q.count);
	} else {
		n = codec_v5_rtu_exception(rtu, sizeof rtu, q.slave, q.fc, MB_EXC_ILLEGAL_FUNCTION);
	}
	if (n < 0)
		return 0;
	n = codec_v5_encode_answer(frame, sizeof frame, SOL_SERIAL, f->seq, (uint8_t)r, 100, rtu,
				   (size_t)n);
	if (n < 0)
		return 0;
	size_t len = act == SOL_FULL ? (size_t)n : (size_t)n / 2;
	if (send(fd, frame, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1;
	if (act == SOL_FULL)
		return 0;
	/* Let the half frame reach the bridge before the connection breaks. */
	h_sleep_ms(50);
	if (act == SOL_HALF_RST) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	return -1;
}

static void *fake_logger_main(void *arg)
{
	struct fake_logger *fl = arg;
	static uint8_t sbuf[V5_MAX_FRAME * 2];
	while (!fl->stop) {
		struct pollfd p = {.fd = fl->lfd, .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		/* Close-on-exec: the brokers and tools this test starts must not
		 * inherit the connection, or closing it here would not close it. */
		int fd = accept4(fl->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		fl->connections++;
		struct v5_stream st;
		codec_v5_stream_init(&st, sbuf, sizeof sbuf);
		int alive = 1;
		while (alive && !fl->stop) {
			p = (struct pollfd){.fd = fd, .events = POLLIN};
			if (poll(&p, 1, 100) <= 0)
				continue;
			uint8_t in[2048];
			ssize_t k = recv(fd, in, sizeof in, 0);
			if (k <= 0)
				break;
			size_t off = 0;
			while (alive && off < (size_t)k) {
				off += codec_v5_stream_feed(&st, in + off, (size_t)k - off);
				struct v5_frame f;
				while (alive && codec_v5_stream_next(&st, &f) == 1)
					if (f.control == V5_CTRL_REQUEST &&
					    fake_answer(fl, fd, &f) < 0)
						alive = 0;
			}
		}
		close(fd);
	}
	return NULL;
}

static int fake_logger_start(struct fake_logger *fl)
{
	fl->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int one = 1;
	setsockopt(fl->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fl->lfd < 0 || bind(fl->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
	    listen(fl->lfd, 8) != 0 || getsockname(fl->lfd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	fl->port = ntohs(a.sin_port);
	return pthread_create(&fl->th, NULL, fake_logger_main, fl) == 0 ? 0 : -1;
}

/* Read until the bridge answers with a value (the link comes back after
 * its reconnect pause); returns the value or the last error. */
static long read_until_ok(modbus_t *mb, int input, int addr, int timeout_ms, uint64_t *when)
{
	uint64_t t0 = h_now_ms(), end = t0 + (uint64_t)timeout_ms;
	long rc;
	do {
		rc = read_reg(mb, input, addr);
		if (rc >= 0)
			break;
		h_sleep_ms(100);
	} while (h_now_ms() < end);
	*when = h_now_ms() - t0;
	return rc;
}

static void part_logger_reset(struct fake_logger *fl)
{
	modbus_t *mb = h_modbus(bridge_port, 3);
	if (!h_ok(mb != NULL, "client for the Solarman device"))
		return;
	modbus_set_response_timeout(mb, 5, 0);
	uint64_t took;

	/* Request 0: a whole answer (the path works). */
	long rc = read_until_ok(mb, 1, 3, 5000, &took);
	h_ok(rc == sol_value(3), "Solarman read before the fault: %s", exc_name(rc));

	/* Request 1: half an answer, then a reset. */
	uint64_t t0 = h_now_ms();
	rc = read_reg(mb, 1, 4);
	uint64_t ms = h_now_ms() - t0;
	h_ok(rc == -EMBXGTAR, "answer cut by a reset gives 0B (%s after %llu ms)", exc_name(rc),
	     (unsigned long long)ms);
	h_ok(ms <= TIMEOUT_SOL + 500, "... within the device timeout (%llu ms)",
	     (unsigned long long)ms);
	rc = read_until_ok(mb, 1, 5, 5000, &took);
	h_ok(rc == sol_value(5), "next read after the reconnect gets its own answer (%s, %llu ms)",
	     exc_name(rc), (unsigned long long)took);

	/* Request 3: half an answer, then a plain close. */
	rc = read_reg(mb, 1, 7);
	h_ok(rc == -EMBXGTAR, "answer cut by a close gives 0B (%s)", exc_name(rc));
	rc = read_until_ok(mb, 1, 8, 5000, &took);
	h_ok(rc == sol_value(8), "next read after the reconnect gets its own answer (%s, %llu ms)",
	     exc_name(rc), (unsigned long long)took);
	h_ok(fl->connections == 3, "the bridge reconnected after each break (%d connections)",
	     fl->connections);
	modbus_close(mb);
	modbus_free(mb);
}

/* ------------------------------------------ part 3: a late device -- */

static int dropped_lines(void)
{
	return h_count_lines(h_path("bridge.log"), "late: dropped answer");
}

static void part_late_answers(void)
{
	modbus_t *mb = h_modbus(bridge_port, 2);
	if (!h_ok(mb != NULL, "client for the late device"))
		return;
	modbus_set_response_timeout(mb, 5, 0);
	/* Two registers of the same shape (FC03, one word) with other values. */
	h_ok(sim_control(DEV_C, "set", "529=111,540=222", "simC.log", "set 540=222"),
	     "late device: values 111 and 222 set");
	uint64_t took;
	long rc = read_until_ok(mb, 0, 540, 5000, &took);
	h_ok(rc == 222, "late device answers in time first (%s)", exc_name(rc));

	/* (a) The late answer arrives while nothing is in flight. */
	h_ok(sim_control(DEV_C, "delay", "900", "simC.log", "delay 900"), "answers delayed 900 ms");
	int drops0 = dropped_lines();
	uint64_t t0 = h_now_ms();
	rc = read_reg(mb, 0, 529);
	uint64_t ms = h_now_ms() - t0;
	h_ok(rc == -EMBXGTAR && ms >= TIMEOUT_C - 50 && ms < TIMEOUT_C + 700,
	     "an answer later than the timeout gives 0B (%s after %llu ms)", exc_name(rc),
	     (unsigned long long)ms);
	h_ok(sim_control(DEV_C, "delay", "0", "simC.log", "delay 0"), "answers prompt again");
	while (h_now_ms() < t0 + 1200)
		h_sleep_ms(20);
	rc = read_reg(mb, 0, 540);
	h_ok(rc == 222, "the next read gets its own answer, not the late one (%s)", exc_name(rc));
	rc = read_reg(mb, 0, 529);
	h_ok(rc == 111, "the timed-out register reads right afterwards (%s)", exc_name(rc));
	h_ok(h_wait_lines(h_path("bridge.log"), "late: dropped answer", drops0 + 1, 2000),
	     "the late answer was dropped and logged (%d drops)", dropped_lines() - drops0);

	/* (b) The late answer arrives while the next read, of another register
	 * but of the same shape, is in flight. */
	h_ok(sim_control(DEV_C, "delay", "900", "simC.log", "delay 900"), "answers delayed 900 ms");
	t0 = h_now_ms();
	rc = read_reg(mb, 0, 529);
	h_ok(rc == -EMBXGTAR, "late answer: 0B again (%s)", exc_name(rc));
	h_ok(sim_control(DEV_C, "delay", "450", "simC.log", "delay 450"), "answers delayed 450 ms");
	uint64_t t1 = h_now_ms();
	rc = read_reg(mb, 0, 540);
	uint64_t t2 = h_now_ms();
	/* The late answer to 529 is due at t0 + 900; 540's own at t1 + 450. */
	int overlapped = t1 < t0 + 900 && t1 + 450 > t0 + 900;
	h_note("late answer due at +900 ms, next read from +%llu to +%llu ms (%s)",
	       (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t0),
	       overlapped ? "overlapping" : "timing missed: no overlap");
	/* PowerGo answers carry no address: a bridge that had the next read
	 * in flight when the late answer came could not tell them apart. It
	 * may hold the next read back until the late answer is in (then 0B if
	 * that takes longer than the client's timeout), but it must never
	 * answer register 540 with the value of 529. */
	h_ok(rc != 111, "a late answer is never taken as the next read's answer (%s; 111 is 529's)",
	     exc_name(rc));
	h_ok(rc == 222 || rc == -EMBXGTAR, "the next read gets its own value or 0B (%s)",
	     exc_name(rc));
	h_ok(sim_control(DEV_C, "delay", "0", "simC.log", "delay 0"), "answers prompt again");
	h_sleep_ms(600);
	rc = read_reg(mb, 0, 540);
	h_ok(rc == 222, "register 540 reads 222 afterwards, nothing wrong cached (%s)",
	     exc_name(rc));
	rc = read_reg(mb, 0, 529);
	h_ok(rc == 111, "register 529 reads 111 afterwards (%s)", exc_name(rc));
	modbus_close(mb);
	modbus_free(mb);
}

/* ---------------------------------------------------------------- main -- */

int main(void)
{
	h_init("faults");
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	pid_t sim_a = h_sim_powergo(broker_port, DEV_A, "simA.log", NULL);
	pid_t sim_c = h_sim_powergo(broker_port, DEV_C, "simC.log", NULL);

	static const enum sol_action script[] = {SOL_FULL, SOL_HALF_RST, SOL_FULL, SOL_HALF_FIN};
	struct fake_logger fl = {.script = script, .nscript = 4};
	h_ok(fake_logger_start(&fl) == 0, "fake Solarman logger listening");

	bridge_port = h_free_port();
	char conf[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 "  { name = \"restarts\"; unit_id = 1; map = \"powergo\";\n"
		 "    timeout = %d; max_age = %d; poll = 0; min_interval = 0;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"%s\"; }; },\n"
		 "  { name = \"late\"; unit_id = 2; map = \"powergo\";\n"
		 "    timeout = %d; max_age = 0; poll = 0; min_interval = 0;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"%s\"; }; },\n"
		 "  { name = \"logger\"; unit_id = 3; map = \"growatt\";\n"
		 "    timeout = %d; max_age = 0; poll = 0; min_interval = 0;\n"
		 "    solarman = { host = \"127.0.0.1\"; port = %d; serial = %u; slave = 1; }; }\n"
		 ");\n",
		 bridge_port, h_maps_dir(), TIMEOUT_A, MAX_AGE_A, broker_port, APP, DEV_A,
		 TIMEOUT_C, broker_port, APP_C, DEV_C, TIMEOUT_SOL, fl.port, SOL_SERIAL);
	pid_t bridge = h_bridge_start(h_write_file("bridge.conf", conf), bridge_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();

	part_broker_restarts(&broker, bridge);
	part_logger_reset(&fl);
	part_late_answers();

	h_ok(h_alive(bridge), "bridge alive at the end");
	h_ok(h_bridge_stop(bridge) == 0, "bridge exits 0 on SIGTERM");
	fl.stop = 1;
	pthread_join(fl.th, NULL);
	close(fl.lfd);
	h_stop(sim_a, 3000);
	h_stop(sim_c, 3000);
	h_stop(broker, 3000);
	return h_done();
}

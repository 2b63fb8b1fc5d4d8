/* The Modbus TCP front toward clients that stop talking or stop listening,
 * against the real daemon: a PowerGo simulator that answers late (every
 * answer delayed) and a memory device that answers at once.
 *
 * - A client that half-closes (shutdown(SHUT_WR)) after its request still
 *   gets the answer the device gives later, then the connection closes.
 * - Garbage after requests that wait at a device: reading stops, the
 *   answers still come (the immediate one and the late one), then it closes.
 * - A client that pipelines and never reads is closed once its unread
 *   answers pass the bound; the bridge's memory stays bounded meanwhile and
 *   other clients are served. */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define APP "053461AD"
#define DEV "15020117"
#define REG 540	       /* a PowerGo register the simulator serves */
#define DELAY_MS "700" /* every simulator answer is this late */
#define UNIT_SLOW 1    /* the PowerGo device */
#define UNIT_MEM 2     /* the memory device */
#define ADU_MAX 260

static size_t adu_read(uint8_t *out, uint16_t tid, uint8_t unit, uint16_t addr, uint16_t count)
{
	out[0] = (uint8_t)(tid >> 8);
	out[1] = (uint8_t)tid;
	out[2] = out[3] = out[4] = 0;
	out[5] = 6; /* unit ID and a 5-byte PDU */
	out[6] = unit;
	out[7] = 0x03;
	out[8] = (uint8_t)(addr >> 8);
	out[9] = (uint8_t)addr;
	out[10] = (uint8_t)(count >> 8);
	out[11] = (uint8_t)count;
	return 12;
}

/* Is ans a normal FC03 answer of count words to tid? */
static int is_read_answer(const uint8_t *ans, int n, uint16_t tid, uint16_t count)
{
	return n == 9 + 2 * count && ans[0] == (uint8_t)(tid >> 8) && ans[1] == (uint8_t)tid &&
	       ans[7] == 0x03 && ans[8] == 2 * count;
}

/* Has the server closed fd (EOF or reset) within timeout_ms, with no
 * more data before? */
static int eof_within(int fd, int timeout_ms)
{
	uint8_t b[16];
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	if (poll(&pf, 1, timeout_ms) <= 0)
		return 0;
	ssize_t k = recv(fd, b, sizeof b, 0);
	return k == 0 || (k < 0 && errno == ECONNRESET);
}

/* Wait (bounded) until the slow device answers a read: its link is up. */
static int wait_device(int port)
{
	uint64_t end = h_now_ms() + 15000;
	while (h_now_ms() < end) {
		modbus_t *m = h_modbus(port, UNIT_SLOW);
		uint16_t v;
		int rc = m ? modbus_read_registers(m, REG, 1, &v) : -1;
		if (m) {
			modbus_close(m);
			modbus_free(m);
		}
		if (rc == 1)
			return 1;
		h_sleep_ms(200);
	}
	return 0;
}

static void half_close(int port)
{
	int fd = h_connect(AF_INET, port);
	uint8_t req[16], ans[ADU_MAX];
	size_t len = adu_read(req, 0x4801, UNIT_SLOW, REG, 1);
	int ok = fd >= 0 && h_send_all(fd, req, len) == 0 && shutdown(fd, SHUT_WR) == 0;
	h_ok(ok, "a client sends a read of the late device and half-closes");
	int n = ok ? h_recv_adu(fd, ans, sizeof ans, 5000) : -1;
	h_ok(is_read_answer(ans, n, 0x4801, 1),
	     "after its half-close it still gets the late answer (%d bytes)", n);
	h_ok(fd >= 0 && eof_within(fd, 3000), "then the bridge closes the connection");
	if (fd >= 0)
		close(fd);

	/* Several requests, some at once (memory), one late, then EOF. */
	fd = h_connect(AF_INET, port);
	len = adu_read(req, 0x4802, UNIT_MEM, 0, 2);
	ok = fd >= 0 && h_send_all(fd, req, len) == 0;
	len = adu_read(req, 0x4803, UNIT_SLOW, REG, 1);
	ok = ok && h_send_all(fd, req, len) == 0 && shutdown(fd, SHUT_WR) == 0;
	int got = 0;
	for (int i = 0; ok && i < 2; i++) {
		n = h_recv_adu(fd, ans, sizeof ans, 5000);
		got += is_read_answer(ans, n, 0x4802, 2) || is_read_answer(ans, n, 0x4803, 1);
	}
	h_ok(got == 2, "a half-closed client gets the immediate and the late answer (%d of 2)",
	     got);
	h_ok(fd >= 0 && eof_within(fd, 3000), "then the connection closes");
	if (fd >= 0)
		close(fd);
}

static void garbage_with_pending(int port)
{
	int fd = h_connect(AF_INET, port);
	uint8_t buf[64], ans[ADU_MAX];
	size_t len = adu_read(buf, 0x4901, UNIT_SLOW, REG, 1);
	len += adu_read(buf + len, 0x4902, UNIT_MEM, 0, 1);
	static const uint8_t bad[4] = {0xDE, 0xAD, 0xBE, 0xEF};
	memcpy(buf + len, bad, sizeof bad);
	len += sizeof bad;
	int ok = fd >= 0 && h_send_all(fd, buf, len) == 0;
	int first = -1, got = 0;
	for (int i = 0; ok && i < 2; i++) {
		int n = h_recv_adu(fd, ans, sizeof ans, 5000);
		if (is_read_answer(ans, n, 0x4901, 1) || is_read_answer(ans, n, 0x4902, 1)) {
			got++;
			if (first < 0)
				first = ans[1];
		}
	}
	h_ok(got == 2, "garbage after a late and an immediate request: both answered (%d of 2)",
	     got);
	h_ok(first == 0x02, "the immediate answer is not held back by the late one");
	h_ok(fd >= 0 && eof_within(fd, 3000), "then the connection closes");
	if (fd >= 0)
		close(fd);
}

/* Pipeline FC03 of 125 registers (12-byte requests, 259-byte answers) and
 * never read. */
static void never_reads(int port, pid_t pid)
{
	int valgrind = getenv("VALGRIND") && strcmp(getenv("VALGRIND"), "1") == 0;
	long rss0 = h_proc_kib(pid, "VmRSS");
	int fd = h_connect(AF_INET, port);
	if (!h_ok(fd >= 0, "a client that never reads connects"))
		return;
	uint8_t chunk[12 * 300];
	for (int i = 0; i < 300; i++)
		adu_read(chunk + 12 * i, (uint16_t)i, UNIT_MEM, 1000, 125);
	size_t sent = 0, limit = (size_t)256 << 20;
	long peak = rss0;
	int dropped = 0, throttled = 0;
	uint64_t end = h_now_ms() + 60000;
	while (sent < limit && h_now_ms() < end) {
		ssize_t k = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
		if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			dropped = 1;
			break;
		}
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The send timeout (3 s) passed: the bridge reads no more. */
			throttled = 1;
			break;
		}
		if (k < 0)
			break;
		sent += (size_t)k;
		if ((sent / sizeof chunk) % 64 == 0) {
			long r = h_proc_kib(pid, "VmRSS");
			if (r > peak)
				peak = r;
		}
	}
	long r = h_proc_kib(pid, "VmRSS");
	if (r > peak)
		peak = r;
	h_note("sent %zu bytes of requests; RSS %ld kB -> peak %ld kB", sent, rss0, peak);
	h_ok(dropped || throttled, "the client that never reads is dropped or throttled (%s)",
	     dropped	 ? "dropped"
	     : throttled ? "throttled"
			 : "neither");
	if (!valgrind)
		h_ok(rss0 > 0 && peak - rss0 < 16 * 1024,
		     "the bridge's memory stays bounded meanwhile (+%ld kB)", peak - rss0);
	close(fd);

	/* The counter says why (SIGUSR1 line). */
	int before = h_count_lines(h_path("bridge.log"), "client connections, accepted");
	h_signal(pid, SIGUSR1);
	h_wait_lines(h_path("bridge.log"), "client connections, accepted", before + 1, 10000);
	h_ok(!dropped || h_file_contains(h_path("bridge.log"), "not_reading 1 "),
	     "the drop is counted as not_reading");

	modbus_t *m = h_modbus(port, UNIT_MEM);
	uint16_t v[2] = {0, 0};
	h_ok(m && modbus_read_registers(m, 0, 2, v) == 2 && v[0] == 100 && v[1] == 101,
	     "other clients are served meanwhile");
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
}

int main(void)
{
	h_init("server_links");
	int bport;
	pid_t broker = h_broker_start(&bport);
	if (!h_ok(broker > 0, "mosquitto starts"))
		return h_done();
	const char *extra[] = {"--app-id", APP, "--delay-ms", DELAY_MS, NULL};
	pid_t sim = h_sim_powergo(bport, DEV, "sim.log", extra);
	h_ok(sim > 0, "PowerGo simulator answering %s ms late", DELAY_MS);

	int port = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; idle_timeout = 0; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 "  { name = \"late\"; unit_id = %d; map = \"powergo\";\n"
		 "    timeout = 3000; max_age = 0; poll = 0; min_interval = 0;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"%s\"; device_id = \"%s\"; }; },\n"
		 "  { name = \"mem\"; unit_id = %d; map = \"scratch\"; memory = {}; }\n"
		 ");\n",
		 port, h_maps_dir(), UNIT_SLOW, bport, APP, DEV, UNIT_MEM);
	pid_t pid = h_bridge_start(h_write_file("bridge.conf", conf), port, "bridge.log");
	if (!h_ok(pid > 0, "bridge starts")) {
		h_stop(sim, 3000);
		h_stop(broker, 3000);
		return h_done();
	}
	if (h_ok(wait_device(port), "the late device answers through the bridge")) {
		half_close(port);
		garbage_with_pending(port);
	}
	never_reads(port, pid);

	h_ok(h_alive(pid), "bridge alive at the end");
	h_ok(h_bridge_stop(pid) == 0, "bridge exits 0 on SIGTERM");
	h_stop(sim, 3000);
	h_stop(broker, 3000);
	return h_done();
}

/* Connection load against a memory device (maps/scratch.conf, holding 0..9 =
 * 100..109):
 *
 * 1. 1,000 connections opened and closed as fast as possible, one after the
 *    other and in bursts of 64; some close right after an exception (as EVCC
 *    does), some without reading their answer. Every answer is right and the
 *    bridge ends with the descriptors it started with.
 * 2. max_connections = 16 and 40 clients at once: at most 16 are served,
 *    the bridge closes the others, and the slots come back once they close.
 * 3. 50 slow clients sending one byte a second while 10 normal clients keep
 *    reading: the normal ones get right answers without waiting, and the
 *    slow ones get theirs once their request is complete.
 * 4. A client that pipelines requests and never reads the answers: the
 *    bridge bounds what it queues and closes that client, while another
 *    client keeps being served. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* ------------------------------------------------------- raw clients -- */

static int conn_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* An FC03 request ADU. */
static void req_read(uint8_t out[12], uint16_t tid, uint8_t unit, uint16_t addr, uint16_t count)
{
	uint8_t r[12] = {(uint8_t)(tid >> 8),
			 (uint8_t)tid,
			 0,
			 0,
			 0,
			 6,
			 unit,
			 3,
			 (uint8_t)(addr >> 8),
			 (uint8_t)addr,
			 (uint8_t)(count >> 8),
			 (uint8_t)count};
	memcpy(out, r, sizeof r);
}

/* Is buf the answer to a read of 0..9 with tid: 100..109? */
static int answer_ok(const uint8_t *buf, int len, uint16_t tid)
{
	if (len != 9 + 20 || buf[0] != (uint8_t)(tid >> 8) || buf[1] != (uint8_t)tid ||
	    buf[7] != 3 || buf[8] != 20)
		return 0;
	for (int i = 0; i < 10; i++)
		if ((buf[9 + 2 * i] << 8 | buf[10 + 2 * i]) != 100 + i)
			return 0;
	return 1;
}

/* Is buf exception exc to FC03? */
static int exception_ok(const uint8_t *buf, int len, uint8_t exc)
{
	return len == 9 && buf[7] == 0x83 && buf[8] == exc;
}

/* Open descriptors of a process. */
static int count_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The bridge closes connections asynchronously: wait for want fds. */
static int settle_fds(pid_t pid, int want, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	int n;
	do {
		n = count_fds(pid);
		if (n == want)
			return n;
		h_sleep_ms(50);
	} while (h_now_ms() < end);
	return n;
}

static const char *config(const char *name, int port, int maxconn)
{
	char text[1024];
	snprintf(
	    text, sizeof text,
	    "server = { listen = \"127.0.0.1\"; port = %d; max_connections = %d; "
	    "idle_timeout = 60; };\n"
	    "maps_path = [ \"%s\" ];\n"
	    "devices = ( { name = \"scratch\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n",
	    port, maxconn, h_maps_dir());
	return h_write_file(name, text);
}

/* ----------------------------------------------- 1: 1,000 connections -- */

/* What connection i does: 0 read and check, 1 exception then close at once,
 * 2 send and close without reading. */
static int kind_of(int i)
{
	return i % 4 == 1 ? 1 : i % 7 == 3 ? 2 : 0;
}

static void part_churn(int port, pid_t bridge)
{
	int fds0 = count_fds(bridge);
	int ok = 0, bad = 0, expected = 0, failed_open = 0;
	uint8_t req[12], buf[512];
	uint64_t t0 = h_now_ms();

	for (int i = 0; i < 500; i++) {
		int fd = conn_open(port);
		if (fd < 0) {
			failed_open++;
			continue;
		}
		int kind = kind_of(i);
		req_read(req, (uint16_t)i, 1, kind == 1 ? 19 : 0, 10); /* 19 is unmapped */
		if (h_send_all(fd, req, sizeof req) == 0 && kind != 2) {
			expected++;
			int n = h_recv_adu(fd, buf, sizeof buf, 2000);
			if (kind == 1 ? exception_ok(buf, n, 2) : answer_ok(buf, n, (uint16_t)i))
				ok++;
			else
				bad++;
		}
		close(fd);
	}
	uint64_t t1 = h_now_ms();

	/* Bursts of 64: all open, all asked, all answered, all closed. */
	int fds[64];
	for (int b = 0; b < 500; b += 64) {
		int m = 500 - b < 64 ? 500 - b : 64;
		for (int k = 0; k < m; k++) {
			fds[k] = conn_open(port);
			if (fds[k] < 0)
				failed_open++;
		}
		for (int k = 0; k < m; k++) {
			if (fds[k] < 0)
				continue;
			int i = 500 + b + k, kind = kind_of(i);
			req_read(req, (uint16_t)i, 1, kind == 1 ? 19 : 0, 10);
			if (h_send_all(fds[k], req, sizeof req) != 0) {
				bad++;
				continue;
			}
			if (kind == 2) {
				close(fds[k]);
				fds[k] = -1;
			}
		}
		for (int k = 0; k < m; k++) {
			if (fds[k] < 0)
				continue;
			int i = 500 + b + k, kind = kind_of(i);
			expected++;
			int n = h_recv_adu(fds[k], buf, sizeof buf, 2000);
			if (kind == 1 ? exception_ok(buf, n, 2) : answer_ok(buf, n, (uint16_t)i))
				ok++;
			else
				bad++;
			close(fds[k]);
		}
	}
	uint64_t t2 = h_now_ms();
	h_note("1000 connections: 500 one by one in %llu ms, 500 in bursts of 64 in %llu ms",
	       (unsigned long long)(t1 - t0), (unsigned long long)(t2 - t1));
	h_ok(failed_open == 0, "all 1000 connections opened (%d failed)", failed_open);
	h_ok(bad == 0 && ok == expected, "every answer right (%d of %d, %d wrong)", ok, expected,
	     bad);
	int fds1 = settle_fds(bridge, fds0, 3000);
	h_ok(fds0 > 0 && fds1 == fds0,
	     "no descriptor leak after 1000 connections (%d before, %d after)", fds0, fds1);
}

/* ------------------------------------------------- 2: max_connections -- */

static void part_limit(int port)
{
	int fds[40];
	uint8_t req[12], buf[512];
	for (int i = 0; i < 40; i++)
		fds[i] = conn_open(port);
	int served = 0, closed = 0, other = 0;
	for (int i = 0; i < 40; i++) {
		if (fds[i] < 0) {
			closed++; /* refused outright counts as not served */
			continue;
		}
		req_read(req, (uint16_t)i, 1, 0, 10);
		h_send_all(fds[i], req, sizeof req); /* may fail on a closed one */
	}
	for (int i = 0; i < 40; i++) {
		if (fds[i] < 0)
			continue;
		int n = h_recv_adu(fds[i], buf, sizeof buf, 2000);
		if (n > 0 && answer_ok(buf, n, (uint16_t)i))
			served++;
		else if (n == 0)
			closed++;
		else
			other++;
	}
	h_note("max_connections 16, 40 clients: %d served, %d closed by the bridge, %d neither",
	       served, closed, other);
	h_ok(served >= 1 && served <= 16, "at most 16 of 40 clients served (%d)", served);
	h_ok(closed == 40 - served && other == 0,
	     "the bridge closed every client over the limit (%d closed, %d hanging)", closed,
	     other);
	/* The ones served stay open and keep working. */
	int again = 0;
	for (int i = 0; i < 40; i++) {
		if (fds[i] < 0)
			continue;
		req_read(req, (uint16_t)(1000 + i), 1, 0, 10);
		if (h_send_all(fds[i], req, sizeof req) == 0) {
			int n = h_recv_adu(fds[i], buf, sizeof buf, 2000);
			again += n > 0 && answer_ok(buf, n, (uint16_t)(1000 + i));
		}
	}
	h_ok(again == served, "the %d clients within the limit are still served (%d)", served,
	     again);
	for (int i = 0; i < 40; i++)
		if (fds[i] >= 0)
			close(fds[i]);

	/* Closing frees the slots. */
	h_sleep_ms(300);
	int fresh = 0;
	for (int i = 0; i < 16; i++) {
		fds[i] = conn_open(port);
		req_read(req, (uint16_t)i, 1, 0, 10);
		if (fds[i] >= 0 && h_send_all(fds[i], req, sizeof req) == 0) {
			int n = h_recv_adu(fds[i], buf, sizeof buf, 2000);
			fresh += n > 0 && answer_ok(buf, n, (uint16_t)i);
		}
	}
	for (int i = 0; i < 16; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	h_ok(fresh == 16, "after they closed, 16 new clients are all served (%d)", fresh);
}

/* ------------------------------------------------ 3: slow clients -- */

#define NORMAL 10
#define SLOW 50

struct normal {
	pthread_t th;
	int port;
	int reads, wrong;
	uint64_t max_ms, sum_ms;
};
static volatile int normal_stop;

static void *normal_main(void *arg)
{
	struct normal *c = arg;
	modbus_t *mb = h_modbus(c->port, 1);
	uint64_t end = h_now_ms() + 30000;
	while (mb && !normal_stop && h_now_ms() < end) {
		uint16_t v[10];
		uint64_t t0 = h_now_ms();
		int rc = modbus_read_registers(mb, 0, 10, v);
		uint64_t ms = h_now_ms() - t0;
		c->reads++;
		c->sum_ms += ms;
		if (ms > c->max_ms)
			c->max_ms = ms;
		int right = rc == 10;
		for (int i = 0; right && i < 10; i++)
			right = v[i] == 100 + i;
		if (!right)
			c->wrong++;
		h_sleep_ms(10);
	}
	if (!mb)
		c->wrong++;
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	return NULL;
}

static void part_slow(int port)
{
	int slow[SLOW];
	uint8_t req[SLOW][12], buf[512];
	int opened = 0;
	for (int i = 0; i < SLOW; i++) {
		slow[i] = conn_open(port);
		opened += slow[i] >= 0;
		req_read(req[i], (uint16_t)(7000 + i), 1, 0, 10);
	}
	h_ok(opened == SLOW, "%d slow clients connected (%d)", SLOW, opened);

	struct normal normal[NORMAL];
	memset(normal, 0, sizeof normal);
	normal_stop = 0;
	for (int i = 0; i < NORMAL; i++) {
		normal[i].port = port;
		pthread_create(&normal[i].th, NULL, normal_main, &normal[i]);
	}
	/* One byte a second for 5 seconds: 5 of the 12 bytes. */
	for (int s = 0; s < 5; s++) {
		for (int i = 0; i < SLOW; i++)
			if (slow[i] >= 0 && h_send_all(slow[i], req[i] + s, 1) != 0) {
				close(slow[i]);
				slow[i] = -1;
			}
		h_sleep_ms(1000);
	}
	normal_stop = 1;
	int reads = 0, wrong = 0;
	uint64_t max_ms = 0, sum_ms = 0;
	for (int i = 0; i < NORMAL; i++) {
		pthread_join(normal[i].th, NULL);
		reads += normal[i].reads;
		wrong += normal[i].wrong;
		sum_ms += normal[i].sum_ms;
		if (normal[i].max_ms > max_ms)
			max_ms = normal[i].max_ms;
	}
	h_note("with %d slow clients: %d reads by %d normal clients, mean %.2f ms, max %llu ms",
	       SLOW, reads, NORMAL, reads ? (double)sum_ms / reads : 0.0,
	       (unsigned long long)max_ms);
	h_ok(reads >= NORMAL * 10 && wrong == 0, "normal clients served right (%d reads, %d wrong)",
	     reads, wrong);
	h_ok(max_ms < 1000, "no normal client waited 1 s or more (max %llu ms)",
	     (unsigned long long)max_ms);

	/* The rest of each slow request: every one gets its answer. */
	int answered = 0;
	for (int i = 0; i < SLOW; i++)
		if (slow[i] >= 0)
			h_send_all(slow[i], req[i] + 5, 7);
	for (int i = 0; i < SLOW; i++) {
		if (slow[i] < 0)
			continue;
		int n = h_recv_adu(slow[i], buf, sizeof buf, 2000);
		answered += n > 0 && answer_ok(buf, n, (uint16_t)(7000 + i));
		close(slow[i]);
	}
	h_ok(answered == SLOW, "the slow clients' requests, once complete, are answered (%d of %d)",
	     answered, SLOW);
}

/* ------------------------------------- 4: a client that never reads -- */

static void part_nonreader(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int small = 4096;
	/* A small receive window, so that the bridge's answers back up soon. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (!h_ok(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0,
		  "pipelining client connected")) {
		if (fd >= 0)
			close(fd);
		return;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	modbus_t *mb = h_modbus(port, 1);

	/* 64 requests for 125 registers each per send: 259-byte answers. */
	uint8_t burst[64 * 12];
	for (int i = 0; i < 64; i++)
		req_read(burst + 12 * i, (uint16_t)i, 1, 1000, 125);
	uint64_t t0 = h_now_ms(), end = t0 + 20000, next_check = t0;
	size_t sent = 0, off = 0;
	int closed = 0, served = 0, checks = 0;
	while (h_now_ms() < end && !closed) {
		ssize_t k = send(fd, burst + off, sizeof burst - off, MSG_NOSIGNAL);
		if (k > 0) {
			sent += (size_t)k;
			off = (off + (size_t)k) % sizeof burst;
		} else if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			closed = 1;
			break;
		} else {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};
			poll(&pf, 1, 50);
			if (pf.revents & (POLLERR | POLLHUP))
				closed = 1;
		}
		if (h_now_ms() >= next_check) {
			/* Meanwhile, someone else is served. */
			uint16_t v[10];
			checks++;
			if (mb && modbus_read_registers(mb, 0, 10, v) == 10 && v[0] == 100 &&
			    v[9] == 109)
				served++;
			next_check = h_now_ms() + 200;
		}
	}
	uint64_t ms = h_now_ms() - t0;
	/* And right after. */
	uint16_t v[10];
	checks++;
	if (mb && modbus_read_registers(mb, 0, 10, v) == 10 && v[0] == 100 && v[9] == 109)
		served++;
	h_note(
	    "non-reading client: %zu bytes of requests (%zu requests) sent, closed after %llu ms",
	    sent, sent / 12, (unsigned long long)ms);
	h_ok(closed, "the bridge closed the client that does not read (within 20 s)");
	h_ok(checks > 0 && served == checks, "another client was served meanwhile (%d of %d)",
	     served, checks);
	close(fd);
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
}

/* ---------------------------------------------------------------- main -- */

int main(void)
{
	h_init("load");
	int port = h_free_port();
	pid_t bridge = h_bridge_start(config("load.conf", port, 256), port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started (max_connections 256)"))
		return h_done();
	/* The harness's own probe connection is closed by now. */
	h_sleep_ms(200);
	int fds0 = count_fds(bridge);

	part_churn(port, bridge);
	part_slow(port);
	part_nonreader(port);

	int fds1 = settle_fds(bridge, fds0, 3000);
	h_ok(fds1 == fds0, "no descriptor leak after all parts (%d before, %d after)", fds0, fds1);
	h_ok(h_alive(bridge), "bridge alive");
	h_ok(h_bridge_stop(bridge) == 0, "bridge exits 0 on SIGTERM");

	int port2 = h_free_port();
	pid_t limited = h_bridge_start(config("limit.conf", port2, 16), port2, "limit.log");
	if (h_ok(limited > 0, "bridge started (max_connections 16)")) {
		h_sleep_ms(200);
		int l0 = count_fds(limited);
		part_limit(port2);
		int l1 = settle_fds(limited, l0, 3000);
		h_ok(l1 == l0, "no descriptor leak at the connection limit (%d before, %d after)",
		     l0, l1);
		h_ok(h_bridge_stop(limited) == 0, "limited bridge exits 0 on SIGTERM");
	}
	return h_done();
}

/* How long a client with credentials waits for the web interface while
 * others attack it (docs/design.md, "Web interface security"):
 * the real bridge with the default HTTP limits (16 connections, 8 from one
 * address), and for each attack the time curl --digest takes to get a 200
 * from GET /api/v1/status, REPS times, with the median and the worst. It
 * measures and reports; it asserts nothing.
 *
 *   build/tests/bench/http_dos [addresses [reps]]
 *
 * The attackers connect from 127.0.0.2 onwards (addresses of them, default
 * 1: what one machine can do; more spread the attack over several, which
 * the per-address limit no longer stops and only the deadlines bound); the
 * client with credentials is 127.0.0.1. Attacks, each kept up while the
 * client tries:
 *   half-sent  part of a request head, then close: 100 a second
 *   slowloris  50 connections sending a header byte a second, back when dropped
 *   silent     64 connections sending nothing, back when dropped
 *   at-once    100 connections opened at once, sending nothing
 * Modbus is read once per attack, to show it is unaffected. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_FDS 100
#define CLIENT_MAX_S 90

static int naddrs = 1;

/* A connection from 127.0.0.(2 + i % naddrs); -1 if it did not connect
 * within 200 ms. */
static int attacker(int port, int i)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in from = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % naddrs))};
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_usec = 200000};
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int closed_by_server(int fd)
{
	char c[256];
	ssize_t k = recv(fd, c, sizeof c, MSG_DONTWAIT);
	return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* One try: attack a (0..3) while curl asks; ms until curl finished, its
 * status in *code. */
static uint64_t one(int a, int port, int *code)
{
	static const char part[] = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-";
	int fds[MAX_FDS], n = a == 0 ? 0 : a == 1 ? 50 : a == 2 ? 64 : 100;
	char url[128], out[16] = "";
	uint64_t tick = 0, k = 0;

	for (int i = 0; i < n; i++) {
		fds[i] = attacker(port, i);
		if (fds[i] >= 0 && a == 1)
			send(fds[i], part, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	/* Half-sent ones: enough to take every slot before the client comes. */
	for (int i = 0; a == 0 && i < 40; i++) {
		int fd = attacker(port, (int)k++);
		if (fd >= 0) {
			send(fd, part, sizeof part - 1, MSG_NOSIGNAL);
			close(fd);
		}
	}
	h_sleep_ms(300);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/status", port);
	unlink(h_path("client.code"));
	uint64_t t0 = h_now_ms();
	pid_t pid = h_curl_spawn(
	    &(struct h_curl){.url = url, .userpass = "admin:secret", .max_time = CLIENT_MAX_S},
	    "client.code");
	while (h_alive(pid)) {
		h_sleep_ms(10);
		if (++tick % 10)
			continue;
		if (a == 0) {
			for (int i = 0; i < 10; i++) {
				int fd = attacker(port, (int)k++);
				if (fd >= 0) {
					send(fd, part, sizeof part - 1, MSG_NOSIGNAL);
					close(fd);
				}
			}
			continue;
		}
		for (int i = 0; a != 3 && i < n; i++) {
			if (fds[i] >= 0 && !closed_by_server(fds[i])) {
				if (a == 1 && tick % 100 == 0)
					send(fds[i], part + 1 + (tick / 100) % (sizeof part - 2), 1,
					     MSG_NOSIGNAL | MSG_DONTWAIT);
				continue;
			}
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = attacker(port, i);
			if (fds[i] >= 0 && a == 1)
				send(fds[i], part, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
	}
	uint64_t ms = h_now_ms() - t0;
	h_stop(pid, 1000);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	h_first_line(h_path("client.code"), out, sizeof out);
	*code = atoi(out);
	/* Let the server forget them before the next try. */
	h_sleep_ms(6000);
	return ms;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"half-sent then closed, 100/s",
					    "slowloris, 50 connections", "silent, 64 reconnecting",
					    "100 at once"};
	int reps = 3;
	if (argc > 1)
		naddrs = atoi(argv[1]) > 0 ? atoi(argv[1]) : 1;
	if (argc > 2)
		reps = atoi(argv[2]) > 0 && atoi(argv[2]) <= 20 ? atoi(argv[2]) : 3;
	h_init("http_dos");
	int mp = h_free_port(), hp = h_free_port();
	pid_t b = h_bridge_start(h_http_conf("bridge.conf", mp, hp, NULL), mp, "bridge.log");
	if (b <= 0 || h_wait_port(hp, 5000) != 0) {
		fprintf(stderr, "http_dos: the bridge did not start\n");
		return 1;
	}
	printf("| attack (from %d address%s) | client with credentials: median ms | worst ms | "
	       "not 200 | Modbus |\n|---|---|---|---|---|\n",
	       naddrs, naddrs == 1 ? "" : "es");
	for (int a = 0; a < 4; a++) {
		uint64_t ms[20];
		int bad = 0;
		for (int r = 0; r < reps; r++) {
			int code = 0;
			ms[r] = one(a, hp, &code);
			bad += code != 200;
		}
		qsort(ms, (size_t)reps, sizeof ms[0], cmp);
		modbus_t *m = h_modbus(mp, 10);
		uint16_t v;
		int up = m && modbus_read_registers(m, 30, 1, &v) == 1;
		if (m) {
			modbus_close(m);
			modbus_free(m);
		}
		printf("| %s | %llu | %llu | %d of %d | %s |\n", names[a],
		       (unsigned long long)ms[reps / 2], (unsigned long long)ms[reps - 1], bad,
		       reps, up ? "answers" : "DOWN");
		fflush(stdout);
	}
	h_bridge_stop(b);
	return 0;
}

/* Many clients connecting at once (docs/user-guide.md, "How the listener
 * treats clients"): a SCADA master or a load test that opens a few hundred
 * connections together must have every handshake completed by the kernel
 * while the daemon is busy, not dropped until TCP retransmits a second or
 * more later.
 *
 * The bridge is stopped (SIGSTOP), so that nothing is accepted meanwhile;
 * 300 clients connect. The kernel completes at most the listen backlog's
 * worth of handshakes for a listener that does not accept: with a backlog
 * of 128 the others stay unconnected for as long as the bridge is stopped,
 * so the bounded wait below ends with 129 of 300. Then the bridge runs
 * again, and every client gets a right answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define NCONN 300

/* Non-blocking connect to 127.0.0.1:port: the fd, or -1. */
static int connect_nb(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits (at most timeout_ms) until every fd's connect has finished; returns
 * how many are connected, and marks them in ok_fd. */
static int wait_connected(const int *fd, int n, int timeout_ms, char *ok_fd)
{
	static char done[NCONN];
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	int ok = 0;

	memset(done, 0, sizeof done);
	for (;;) {
		struct pollfd p[NCONN];
		int idx[NCONN], np = 0;
		for (int i = 0; i < n; i++)
			if (!done[i] && fd[i] >= 0) {
				p[np] = (struct pollfd){.fd = fd[i], .events = POLLOUT};
				idx[np++] = i;
			}
		uint64_t now = h_now_ms();
		if (np == 0 || now >= end)
			break;
		if (poll(p, (nfds_t)np, (int)(end - now)) <= 0)
			continue;
		for (int k = 0; k < np; k++) {
			if (!p[k].revents)
				continue;
			int err = 0;
			socklen_t len = sizeof err;
			getsockopt(p[k].fd, SOL_SOCKET, SO_ERROR, &err, &len);
			done[idx[k]] = 1;
			if (err == 0) {
				ok_fd[idx[k]] = 1;
				ok++;
			} else
				h_note("client %d: connect failed: %s", idx[k], strerror(err));
		}
	}
	return ok;
}

int main(void)
{
	int port = h_free_port(), fd[NCONN];
	char conf[512];

	h_init("server_burst");
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; max_connections = %d; "
		 "idle_timeout = 0; };\n"
		 "maps_path = \"%s\";\n"
		 "devices = ( { name = \"m\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n",
		 port, NCONN + 10, h_maps_dir());
	pid_t b = h_bridge_start(h_write_file("burst.conf", conf), port, "burst.log");
	if (!h_ok(b > 0, "bridge started"))
		return h_done();
	modbus_t *m = h_modbus(port, 1);
	uint16_t v = 0;
	int rc = m ? h_read_retry(m, 0, 1, &v) : -1;
	h_ok(rc == 0 && v == 100, "the memory device answers (%u)", v);
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}

	/* Nothing is accepted while the bridge is stopped: what connects is
	 * what the listen backlog holds. */
	h_signal(b, SIGSTOP);
	int opened = 0;
	for (int i = 0; i < NCONN; i++)
		if ((fd[i] = connect_nb(port)) >= 0)
			opened++;
	h_ok(opened == NCONN, "%d clients started connecting (%d)", NCONN, opened);
	/* The kernel caps every backlog at net.core.somaxconn (4096 since
	 * Linux 5.4; 128 before): on an older kernel no daemon gets more. */
	long somaxconn = 4096;
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
	if (f) {
		if (fscanf(f, "%ld", &somaxconn) != 1)
			somaxconn = 4096;
		fclose(f);
	}
	int expect = somaxconn + 1 < NCONN ? (int)somaxconn + 1 : NCONN;
	if (expect < NCONN)
		h_note("net.core.somaxconn is %ld: at most %d handshakes can wait", somaxconn,
		       expect);
	static char up[NCONN];
	int connected = wait_connected(fd, NCONN, 5000, up);
	h_ok(connected >= expect,
	     "every handshake completes while the bridge is busy (%d of %d; a short listen "
	     "backlog leaves the rest waiting for TCP's retransmission)",
	     connected, NCONN);
	h_signal(b, SIGCONT);

	/* Every client is accepted and answered (those not connected are not
	 * asked: they would only wait for TCP's retransmission). */
	int answered = 0;
	for (int i = 0; i < NCONN; i++) {
		uint8_t req[12] = {(uint8_t)(i >> 8), (uint8_t)i, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1};
		if (up[i] && h_send_all(fd[i], req, sizeof req) != 0)
			h_note("client %d: send failed", i);
	}
	for (int i = 0; i < NCONN; i++) {
		uint8_t ans[32];
		if (fd[i] < 0)
			continue;
		if (!up[i]) {
			close(fd[i]);
			continue;
		}
		int flags = fcntl(fd[i], F_GETFL);
		fcntl(fd[i], F_SETFL, flags & ~O_NONBLOCK);
		int n = h_recv_adu(fd[i], ans, sizeof ans, 10000);
		if (n == 11 && ans[0] == (uint8_t)(i >> 8) && ans[1] == (uint8_t)i && ans[7] == 3 &&
		    ans[8] == 2 && ans[9] == 0 && ans[10] == 100)
			answered++;
		else if (answered == i)
			h_note("client %d: answer of %d bytes", i, n);
		close(fd[i]);
	}
	h_ok(answered == connected && answered >= expect,
	     "every client gets its answer once the bridge runs (%d of %d)", answered, NCONN);
	h_ok(h_bridge_stop(b) == 0, "bridge stops cleanly");
	return h_done();
}

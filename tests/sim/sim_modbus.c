/* Modbus equipment for the `modbus` transport's tests: RTU slaves on a serial
 * line (one end of a socat pty pair) or a Modbus TCP server (libmodbus's).
 *
 *   sim_modbus (--rtu PATH | --tcp PORT) [--slave N]... [--silent N]
 *              [--bad-crc K] [--exc ADDR:CODE] [--delay MS]
 *              [--float ADDR=VALUE]... [--idle-close MS]
 *              [--hold 1] [--late PCT:MS] [--seed N] [--drip MS]
 *              [--wrong-unit ADDR]
 *
 * --slave (repeatable, default 1) lists the slave addresses (TCP: unit IDs)
 * served; two on one line make a shared bus. Slave s holds holding register
 * a = s*1000 + a and input register a = 30000 + s*1000 + a (mod 65536), so
 * that an answer from the wrong slave or address is seen; FC06/FC16 write the
 * holding registers. --silent N never answers slave N. --bad-crc K corrupts
 * the CRC of the first K RTU answers. --exc ADDR:CODE answers exception CODE
 * to any request that starts at ADDR. --delay sends each answer MS after its
 * request (answers are scheduled: requests that come meanwhile are read and
 * answered in turn, each at its own time).
 *
 * Hostile slaves (docs/design.md, "Answers bound to their requests"):
 * --hold 1 keeps each answer until the next request arrives and sends it
 * then, just before reading that request (so every answer comes one request
 * late; over TCP on the connection the next request came on). --late PCT:MS
 * sends PCT % of the answers (at random, --seed N) MS after their request
 * instead. --drip MS sends every answer one byte each MS. --wrong-unit ADDR
 * (TCP) answers a request that starts at ADDR naming unit ID + 1.
 * --float ADDR=VALUE stores VALUE as float32, high word first, in input
 * registers ADDR and ADDR+1 of every slave. --idle-close (TCP) closes a
 * connection that sent nothing for MS, as many Modbus TCP devices do; each
 * connection accepted is a line "accepted", each closed so "idle closed".
 *
 * RTU framing is done here rather than by libmodbus's RTU server, because the
 * tests need what it cannot do: serve two slave addresses, corrupt a CRC, and
 * see damaged or overlapping requests. Every request is a line on stdout,
 * "req slave S fc F addr A count C"; on exit (SIGTERM, or the line going
 * away: socat killed) "stats requests N garbage G overlap O min_gap_ms M":
 * garbage counts bytes that made no valid request (interleaved frames would),
 * overlap counts requests that arrived while an answer was still due, and
 * min_gap_us is the shortest silence seen between an answer (from just
 * before it was written) and the next request (once its first byte was
 * read), in microseconds. "ready" says it listens. */
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "codec_crc16.h"

#define SIM_SLAVES 4

static volatile sig_atomic_t sim_stop;
static int sim_slaves[SIM_SLAVES], sim_nslaves;
static int sim_silent = -1, sim_exc_addr = -1, sim_exc_code;
static unsigned sim_bad_crc, sim_delay_ms, sim_idle_close_ms;
static unsigned sim_late_pct, sim_late_ms, sim_drip_ms, sim_holding_mode;
static int sim_wrong_unit = -1;
static uint32_t sim_seed = 1;
static uint16_t sim_hold[SIM_SLAVES][65536], sim_input[SIM_SLAVES][65536];
static unsigned long sim_requests, sim_garbage, sim_overlap;
static long long sim_min_gap = -1;

/* Answers waiting for their time (or, --hold, for the next request). */
#define SIM_PENDING 64
struct sim_pending {
	int fd; /* -1: free */
	int held;
	uint8_t buf[320];
	size_t len, off;
	uint64_t due; /* µs */
};
static struct sim_pending sim_pend[SIM_PENDING];
static uint64_t sim_last_answer; /* µs, just before an answer's first byte went out */

static void sim_on_signal(int sig)
{
	(void)sig;
	sim_stop = 1;
}

static uint64_t sim_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t sim_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t sim_rand(void)
{
	sim_seed = sim_seed * 1103515245u + 12345u;
	return sim_seed >> 16;
}

/* A request (its first byte read at `at` µs) came in: note the silence
 * since the last answer began to go out. */
static void sim_note_request(uint64_t at)
{
	if (!sim_last_answer)
		return;
	long long gap = (long long)(at - sim_last_answer);
	if (sim_min_gap < 0 || gap < sim_min_gap)
		sim_min_gap = gap;
}

/* Does an answer wait for its time (a request now overlaps it)? */
static int sim_any_due(void)
{
	for (int i = 0; i < SIM_PENDING; i++)
		if (sim_pend[i].fd >= 0 && !sim_pend[i].held)
			return 1;
	return 0;
}

/* Queue answer a (n bytes) on fd: held (--hold), late (--late), or after
 * --delay. */
static void sim_queue(int fd, const uint8_t *a, size_t n)
{
	for (int i = 0; i < SIM_PENDING; i++) {
		struct sim_pending *p = &sim_pend[i];
		if (p->fd >= 0)
			continue;
		p->fd = fd;
		memcpy(p->buf, a, n);
		p->len = n;
		p->off = 0;
		p->held = sim_holding_mode != 0;
		unsigned ms = sim_delay_ms;
		if (sim_late_pct && sim_rand() % 100u < sim_late_pct)
			ms = sim_late_ms;
		p->due = sim_now_us() + (uint64_t)ms * 1000u;
		return;
	}
}

/* --hold: the next request came on fd; what was held goes out now, on it. */
static void sim_release(int fd)
{
	for (int i = 0; i < SIM_PENDING; i++)
		if (sim_pend[i].fd >= 0 && sim_pend[i].held) {
			sim_pend[i].held = 0;
			sim_pend[i].fd = fd;
			sim_pend[i].due = 0;
		}
}

/* Forget what was queued for fd (a closed connection). */
static void sim_forget(int fd)
{
	for (int i = 0; i < SIM_PENDING; i++)
		if (sim_pend[i].fd == fd)
			sim_pend[i].fd = -1;
}

/* Send what is due (one byte at a time with --drip); the ms until the next
 * is due, or `idle` when nothing waits. An answer that cannot be written is
 * dropped. */
static int sim_flush(int idle)
{
	uint64_t now = sim_now_us(), next = 0;
	for (int i = 0; i < SIM_PENDING; i++) {
		struct sim_pending *p = &sim_pend[i];
		if (p->fd < 0 || p->held)
			continue;
		while (p->fd >= 0 && p->due <= now) {
			if (p->off == 0)
				sim_last_answer = sim_now_us();
			size_t n = sim_drip_ms ? 1 : p->len - p->off;
			ssize_t k = send(p->fd, p->buf + p->off, n, MSG_NOSIGNAL);
			if (k < 0 && errno == ENOTSOCK)
				k = write(p->fd, p->buf + p->off, n);
			if (k <= 0) {
				p->fd = -1;
				break;
			}
			p->off += (size_t)k;
			if (p->off == p->len)
				p->fd = -1;
			else if (sim_drip_ms)
				p->due = now + sim_drip_ms * 1000u;
		}
		if (p->fd >= 0 && (!next || p->due < next))
			next = p->due;
	}
	if (!next)
		return idle;
	return (int)((next - now + 999) / 1000);
}

static int sim_slave_index(int slave)
{
	for (int i = 0; i < sim_nslaves; i++)
		if (sim_slaves[i] == slave)
			return i;
	return -1;
}

/* The answer PDU (function code first) to request PDU q of n bytes for slave
 * index si, into a; its length, or 0 for no answer. */
static size_t sim_answer(int si, const uint8_t *q, size_t n, uint8_t *a)
{
	uint8_t fc = q[0];
	uint16_t addr = (uint16_t)(q[1] << 8 | q[2]);
	uint16_t cnt = (uint16_t)(q[3] << 8 | q[4]);
	printf("req slave %d fc %u addr %u count %u\n", sim_slaves[si], fc, addr,
	       fc == 6 ? 1u : cnt);
	fflush(stdout);
	sim_requests++;
	a[0] = fc;
	if (sim_exc_addr >= 0 && addr == sim_exc_addr) {
		a[0] = (uint8_t)(fc | 0x80);
		a[1] = (uint8_t)sim_exc_code;
		return 2;
	}
	switch (fc) {
	case 3:
	case 4: {
		if (n != 5 || cnt < 1 || cnt > 125) {
			a[0] = (uint8_t)(fc | 0x80);
			a[1] = 3;
			return 2;
		}
		const uint16_t *bank = fc == 3 ? sim_hold[si] : sim_input[si];
		a[1] = (uint8_t)(2 * cnt);
		for (unsigned i = 0; i < cnt; i++) {
			uint16_t v = bank[(uint16_t)(addr + i)];
			a[2 + 2 * i] = (uint8_t)(v >> 8);
			a[3 + 2 * i] = (uint8_t)v;
		}
		return 2 + 2u * cnt;
	}
	case 6:
		sim_hold[si][addr] = cnt;
		memcpy(a, q, 5);
		return 5;
	case 16:
		if (cnt < 1 || cnt > 123 || n != 6u + 2u * cnt || q[5] != 2 * cnt) {
			a[0] = (uint8_t)(fc | 0x80);
			a[1] = 3;
			return 2;
		}
		for (unsigned i = 0; i < cnt; i++)
			sim_hold[si][(uint16_t)(addr + i)] =
			    (uint16_t)(q[6 + 2 * i] << 8 | q[7 + 2 * i]);
		memcpy(a, q, 5);
		return 5;
	default:
		a[0] = (uint8_t)(fc | 0x80);
		a[1] = 1;
		return 2;
	}
}

/* The length of the RTU request at the start of b (n bytes so far): the
 * whole frame's, 0 when more bytes are needed, -1 when it cannot be one. */
static int sim_rtu_len(const uint8_t *b, size_t n)
{
	if (n < 2)
		return 0;
	switch (b[1]) {
	case 3:
	case 4:
	case 6:
		return 8;
	case 16:
		return n < 7 ? 0 : 9 + b[6];
	default:
		return -1;
	}
}

static int sim_rtu(const char *path)
{
	int fd = open(path, O_RDWR | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "sim_modbus: %s: %s\n", path, strerror(errno));
		return 1;
	}
	struct termios tio;
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(fd, TCSANOW, &tio);
	}
	printf("ready\n");
	fflush(stdout);
	uint8_t buf[512];
	size_t n = 0;
	while (!sim_stop) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		/* A partial frame that stops for 100 ms is no frame. */
		int wait = sim_flush(n ? 100 : 500);
		int r = poll(&p, 1, n && wait > 100 ? 100 : wait);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			if (n) {
				sim_garbage += n;
				n = 0;
			}
			continue;
		}
		if (p.revents & (POLLHUP | POLLERR) && !(p.revents & POLLIN))
			break;
		ssize_t k = read(fd, buf + n, sizeof buf - n);
		if (k <= 0) {
			if (k < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			break; /* the line went away (socat killed) */
		}
		if (n == 0)
			sim_note_request(sim_now_us());
		n += (size_t)k;
		for (;;) {
			int len = sim_rtu_len(buf, n);
			if (len < 0 || (size_t)len > sizeof buf) {
				sim_garbage += n;
				n = 0;
				break;
			}
			if (len == 0 || (size_t)len > n)
				break;
			if (!codec_crc16_ok(buf, (size_t)len)) {
				sim_garbage += n;
				n = 0;
				break;
			}
			uint8_t frame[512], ans[300];
			memcpy(frame, buf, (size_t)len);
			memmove(buf, buf + len, n - (size_t)len);
			n -= (size_t)len;
			int si = sim_slave_index(frame[0]);
			if (si < 0 || frame[0] == sim_silent)
				continue;
			sim_release(fd);
			sim_flush(0);
			size_t an = sim_answer(si, frame + 1, (size_t)len - 3, ans + 1);
			if (!an)
				continue;
			ans[0] = frame[0];
			size_t total = codec_crc16_append(ans, an + 1);
			if (sim_bad_crc) {
				sim_bad_crc--;
				ans[total - 1] ^= 0x5A;
			}
			/* A request that came in while an answer was due: the
			 * master did not wait for our answer. */
			if (sim_any_due())
				sim_overlap++;
			sim_queue(fd, ans, total);
		}
	}
	close(fd);
	return 0;
}

/* Modbus TCP: libmodbus listens and reads each request (MBAP framing);
 * the answer is ours, so that both kinds of bus answer alike. Several
 * clients at once (the bridge and a direct client, for the benchmark). */
static int sim_tcp(int port)
{
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	int ls = ctx ? modbus_tcp_listen(ctx, 8) : -1;
	if (ls < 0) {
		fprintf(stderr, "sim_modbus: cannot listen on %d: %s\n", port,
			modbus_strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	struct pollfd fds[16];
	uint64_t seen[16];
	int nfds = 1;
	fds[0].fd = ls;
	fds[0].events = POLLIN;
	uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
	while (!sim_stop) {
		int r = poll(fds, (nfds_t)nfds, sim_flush(sim_idle_close_ms ? 50 : 500));
		for (int i = 1; sim_idle_close_ms && i < nfds; i++)
			if (sim_now_ms() - seen[i] >= sim_idle_close_ms) {
				sim_forget(fds[i].fd);
				close(fds[i].fd);
				seen[i] = seen[nfds - 1];
				fds[i--] = fds[--nfds];
				printf("idle closed\n");
				fflush(stdout);
			}
		if (r <= 0)
			continue;
		if (fds[0].revents & POLLIN) {
			int c = accept(ls, NULL, NULL);
			if (c >= 0 && nfds < 16) {
				fds[nfds].fd = c;
				fds[nfds].events = POLLIN;
				fds[nfds].revents = 0;
				seen[nfds] = sim_now_ms();
				nfds++;
				printf("accepted\n");
				fflush(stdout);
			} else if (c >= 0) {
				close(c);
			}
		}
		for (int i = 1; i < nfds; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			seen[i] = sim_now_ms();
			modbus_set_socket(ctx, fds[i].fd);
			int n = modbus_receive(ctx, q);
			if (n <= 0) {
				if (n < 0) {
					sim_forget(fds[i].fd);
					close(fds[i].fd);
					seen[i] = seen[nfds - 1];
					fds[i--] = fds[--nfds];
				}
				continue;
			}
			int si = sim_slave_index(q[6]);
			if (si < 0 || q[6] == sim_silent)
				continue;
			sim_note_request(sim_now_us());
			sim_release(fds[i].fd);
			sim_flush(0);
			uint8_t ans[300];
			/* Answered by our own logic (the same as RTU's), then sent
			 * as libmodbus frames it: raw, behind the request's MBAP. */
			size_t an = sim_answer(si, q + 7, (size_t)n - 7, ans);
			/* The answer echoes the request's MBAP header (transaction
			 * and unit ID), with its own length. */
			uint8_t adu[310];
			memcpy(adu, q, 4);
			adu[4] = (uint8_t)((an + 1) >> 8);
			adu[5] = (uint8_t)(an + 1);
			adu[6] = q[6];
			if (sim_wrong_unit >= 0 && (q[8] << 8 | q[9]) == sim_wrong_unit)
				adu[6] = (uint8_t)(q[6] + 1);
			memcpy(adu + 7, ans, an);
			if (sim_any_due())
				sim_overlap++;
			sim_queue(fds[i].fd, adu, 7 + an);
		}
	}
	for (int i = 1; i < nfds; i++)
		close(fds[i].fd);
	close(ls);
	modbus_free(ctx);
	return 0;
}

int main(int argc, char **argv)
{
	const char *rtu = NULL;
	int tcp = 0;
	struct {
		int addr;
		float v;
	} floats[16];
	int nfloats = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			goto usage;
		i++;
		if (strcmp(a, "--rtu") == 0)
			rtu = v;
		else if (strcmp(a, "--tcp") == 0)
			tcp = atoi(v);
		else if (strcmp(a, "--slave") == 0 && sim_nslaves < SIM_SLAVES)
			sim_slaves[sim_nslaves++] = atoi(v);
		else if (strcmp(a, "--silent") == 0)
			sim_silent = atoi(v);
		else if (strcmp(a, "--bad-crc") == 0)
			sim_bad_crc = (unsigned)atoi(v);
		else if (strcmp(a, "--delay") == 0)
			sim_delay_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--idle-close") == 0)
			sim_idle_close_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--hold") == 0)
			sim_holding_mode = (unsigned)atoi(v);
		else if (strcmp(a, "--late") == 0 &&
			 sscanf(v, "%u:%u", &sim_late_pct, &sim_late_ms) == 2)
			;
		else if (strcmp(a, "--seed") == 0)
			sim_seed = (uint32_t)strtoul(v, NULL, 10);
		else if (strcmp(a, "--drip") == 0)
			sim_drip_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--wrong-unit") == 0)
			sim_wrong_unit = atoi(v);
		else if (strcmp(a, "--exc") == 0 &&
			 sscanf(v, "%d:%d", &sim_exc_addr, &sim_exc_code) == 2)
			;
		else if (strcmp(a, "--float") == 0 && nfloats < 16 &&
			 sscanf(v, "%d=%f", &floats[nfloats].addr, &floats[nfloats].v) == 2)
			nfloats++;
		else
			goto usage;
	}
	if (!rtu == !tcp)
		goto usage;
	if (sim_nslaves == 0)
		sim_slaves[sim_nslaves++] = 1;
	for (int s = 0; s < sim_nslaves; s++) {
		for (unsigned a = 0; a < 65536; a++) {
			sim_hold[s][a] = (uint16_t)(sim_slaves[s] * 1000 + a);
			sim_input[s][a] = (uint16_t)(30000 + sim_slaves[s] * 1000 + a);
		}
		for (int f = 0; f < nfloats; f++) {
			uint32_t bits;
			memcpy(&bits, &floats[f].v, sizeof bits);
			sim_input[s][(uint16_t)floats[f].addr] = (uint16_t)(bits >> 16);
			sim_input[s][(uint16_t)(floats[f].addr + 1)] = (uint16_t)bits;
		}
	}
	for (int i = 0; i < SIM_PENDING; i++)
		sim_pend[i].fd = -1;
	struct sigaction sa = {.sa_handler = sim_on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = rtu ? sim_rtu(rtu) : sim_tcp(tcp);
	printf("stats requests %lu garbage %lu overlap %lu min_gap_us %lld\n", sim_requests,
	       sim_garbage, sim_overlap, sim_min_gap);
	fflush(stdout);
	return rc;

usage:
	fprintf(stderr, "usage: sim_modbus (--rtu PATH | --tcp PORT) [--slave N]... [--silent N]"
			" [--bad-crc K] [--exc ADDR:CODE] [--delay MS] [--float ADDR=VALUE]..."
			" [--idle-close MS] [--hold 1] [--late PCT:MS] [--seed N] [--drip MS]"
			" [--wrong-unit ADDR]\n");
	return 2;
}

/* loadgen: the benchmarks' Modbus TCP load generator.
 *
 * N connections to 127.0.0.1:PORT each keep D FC03 requests in flight (D = 1:
 * one request at a time; D > 1: pipelined). After a warm-up the generator
 * counts answers for a fixed time and prints one machine-readable line:
 *
 *   rps=... p50_us=... p99_us=... p999_us=... max_us=... errors=... requests=... all=...
 *
 * Every answer is checked: transaction ID (one we sent and have not seen
 * answered), protocol ID, MBAP length, unit, function code, byte count and,
 * with --expect, the values. Anything else counts as an error, and so do
 * exceptions, connections the server drops and requests left unanswered for
 * --stall-ms.
 *
 * One epoll loop per thread over non-blocking sockets; one thread by default,
 * because on a two-core machine the generator competes with the server under
 * test and must stay lean. Only 127.0.0.1 is ever contacted.
 *
 * --rate R paces the requests instead (open loop): R requests/s in all, from
 * a timerfd, each sent on a connection with fewer than D in flight. The servers
 * then run below saturation, which is how their CPU time per request is
 * compared fairly.
 *
 * --blocks B asks B different ranges in turn (request by request, so that
 * the requests of one pipelined batch differ): the first at --addr, the
 * next --stride registers on (default --count), and so on; --expect then
 * checks the answers of the first range only.
 *
 * --reconnect K closes each connection after K answers and opens a new one
 * (with requests still in flight when D > 1; --rst closes with a reset): the
 * connect/read/close patterns of the soak.
 *
 * Other modes: --probe waits until the server answers one valid request (for
 * scripts that start servers); --free-port prints a free loopback port. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define LG_RING 256	 /* in-flight slots per connection (power of two) */
#define LG_MAX_DEPTH 128 /* keeps a 16-bit TID from wrapping onto a busy slot */
#define LG_REQ_LEN 12	 /* MBAP (7) + FC03 PDU (5) */
#define LG_RBUF 8192
#define LG_WBUF (LG_MAX_DEPTH * LG_REQ_LEN)
#define LG_RETRY_NS 10000000ull /* 10 ms between failed connects */

/* Latency histogram: values below 64 ns each have a bucket; above, every power
 * of two is split into 64 buckets (1.6 % resolution), as HdrHistogram does. */
#define LG_SUB 64
#define LG_HIST (LG_SUB + 40 * LG_SUB)

struct lg_opts {
	int port, conns, depth, threads, unit, addr, count, reconnect, rst, stall_ms;
	int blocks, stride; /* --blocks ranges, --stride registers apart */
	long expect;	    /* value of the first register, -1 = do not check values */
	double duration, warmup;
	double rate; /* requests/s in all; 0 = closed loop (each connection at depth) */
};

enum lg_state { LG_CLOSED, LG_CONNECTING, LG_OPEN };

struct lg_conn {
	int fd;
	enum lg_state state;
	uint16_t next_tid;
	unsigned inflight;
	uint64_t answered;    /* on this socket, for --reconnect */
	uint64_t progress_ns; /* last answer, or first send after idle */
	uint64_t retry_ns;    /* when LG_CLOSED: connect again from then */
	uint64_t sent_ns[LG_RING];
	uint16_t sent_tid[LG_RING];
	uint8_t busy[LG_RING];
	uint8_t rbuf[LG_RBUF];
	size_t rlen;
	uint8_t wbuf[LG_WBUF];
	size_t wlen, woff;
};

struct lg_stats {
	uint64_t ok;  /* valid answers inside the measured window */
	uint64_t all; /* valid answers since the start, warm-up included */
	uint64_t bad; /* answers that failed a check */
	uint64_t exceptions;
	uint64_t drops;	 /* connections closed or reset by the server */
	uint64_t stalls; /* requests unanswered for --stall-ms */
	uint64_t connect_errors;
	uint64_t reconnects; /* --reconnect closes (not errors) */
	uint64_t late;	     /* paced sends skipped: every connection was busy */
	uint64_t max_ns;
	uint64_t hist[LG_HIST];
};

struct lg_thread {
	const struct lg_opts *o;
	int epfd;
	int tfd; /* --rate: the pacing timer, -1 otherwise */
	int rr;	 /* --rate: next connection to try */
	struct lg_conn *conns;
	int nconns;
	uint64_t warm_ns, end_ns;
	int measuring;
	struct lg_stats st;
	pthread_t tid;
};

static uint64_t lg__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned lg__bucket(uint64_t v)
{
	if (v < LG_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	unsigned shift = e - 6;
	unsigned idx = LG_SUB + shift * LG_SUB + (unsigned)((v >> shift) - LG_SUB);
	return idx < LG_HIST ? idx : LG_HIST - 1;
}

/* The middle of a bucket, in ns. */
static double lg__bucket_value(unsigned idx)
{
	if (idx < LG_SUB)
		return idx;
	unsigned shift = (idx - LG_SUB) / LG_SUB;
	unsigned mant = (idx - LG_SUB) % LG_SUB + LG_SUB;
	return (double)((uint64_t)mant << shift) + (double)(1ull << shift) / 2.0;
}

static double lg__percentile(const uint64_t *hist, uint64_t total, double p)
{
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)(p * (double)total);
	if (rank >= total)
		rank = total - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < LG_HIST; i++) {
		seen += hist[i];
		if (seen > rank)
			return lg__bucket_value(i);
	}
	return lg__bucket_value(LG_HIST - 1);
}

static void lg__put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned lg__get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void lg__encode(const struct lg_opts *o, uint16_t tid, uint8_t *req)
{
	lg__put16(req, tid);
	lg__put16(req + 2, 0);
	lg__put16(req + 4, 6);
	req[6] = (uint8_t)o->unit;
	req[7] = 0x03;
	lg__put16(req + 8, (unsigned)(o->addr + tid % o->blocks * o->stride));
	lg__put16(req + 10, (unsigned)o->count);
}

static int lg__socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Modbus clients (libmodbus among them) disable Nagle: small frames. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static struct sockaddr_in lg__addr(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	return a;
}

static void lg__close(struct lg_thread *t, struct lg_conn *c, int abrupt, uint64_t now)
{
	if (c->fd >= 0) {
		if (abrupt) {
			/* RST instead of FIN: the server sees a reset, and no
			 * TIME_WAIT is left behind on our side. */
			struct linger l = {1, 0};
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		}
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->state = LG_CLOSED;
	c->inflight = 0;
	c->rlen = c->wlen = c->woff = 0;
	c->answered = 0;
	memset(c->busy, 0, sizeof c->busy);
	c->retry_ns = now;
}

static void lg__fail(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
	lg__close(t, c, 1, now);
	c->retry_ns = now + LG_RETRY_NS;
}

static void lg__connect(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
	struct sockaddr_in a = lg__addr(t->o->port);
	c->fd = lg__socket();
	if (c->fd < 0) {
		t->st.connect_errors++;
		c->retry_ns = now + LG_RETRY_NS;
		return;
	}
	int rc = connect(c->fd, (struct sockaddr *)&a, sizeof a);
	if (rc < 0 && errno != EINPROGRESS) {
		t->st.connect_errors++;
		close(c->fd);
		c->fd = -1;
		c->retry_ns = now + LG_RETRY_NS;
		return;
	}
	c->state = LG_CONNECTING;
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Queue one request; the caller flushes. */
static void lg__queue(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
	uint16_t tid = c->next_tid++;
	unsigned slot = tid & (LG_RING - 1);
	if (c->busy[slot]) {
		/* An answer this old is lost; the slot is needed again. */
		t->st.stalls++;
		c->inflight--;
	}
	c->busy[slot] = 1;
	c->sent_tid[slot] = tid;
	c->sent_ns[slot] = now;
	if (c->inflight == 0)
		c->progress_ns = now;
	c->inflight++;
	lg__encode(t->o, tid, c->wbuf + c->wlen);
	c->wlen += LG_REQ_LEN;
}

/* Write what is queued; returns -1 when the connection broke. */
static int lg__flush(struct lg_thread *t, struct lg_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
			epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
			/* Keep the unsent tail at the front of the buffer. */
			memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
			c->wlen -= c->woff;
			c->woff = 0;
			return 0;
		}
		if (n <= 0)
			return -1;
		c->woff += (size_t)n;
	}
	c->wlen = c->woff = 0;
	return 0;
}

static int lg__sending(const struct lg_thread *t, uint64_t now)
{
	return now < t->end_ns;
}

static void lg__opened(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
	c->state = LG_OPEN;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	if (!lg__sending(t, now) || t->o->rate > 0)
		return;
	for (int i = 0; i < t->o->depth; i++)
		lg__queue(t, c, now);
	if (lg__flush(t, c) < 0) {
		t->st.drops++;
		lg__fail(t, c, now);
	}
}

/* Check one complete answer; returns 0 when it is valid. */
static int lg__check(struct lg_thread *t, struct lg_conn *c, const uint8_t *f, size_t len,
		     uint64_t now)
{
	const struct lg_opts *o = t->o;
	unsigned tid = lg__get16(f);
	unsigned slot = tid & (LG_RING - 1);
	if (!c->busy[slot] || c->sent_tid[slot] != tid)
		return -1; /* never sent, or answered already */
	c->busy[slot] = 0;
	c->inflight--;
	c->progress_ns = now;
	if (lg__get16(f + 2) != 0 || f[6] != (uint8_t)o->unit)
		return -1;
	if (f[7] == (0x80 | 0x03)) {
		t->st.exceptions++;
		return 1;
	}
	size_t bc = 2u * (unsigned)o->count;
	if (f[7] != 0x03 || len != 9 + bc || f[8] != bc)
		return -1;
	if (o->expect >= 0 && tid % o->blocks == 0)
		for (int i = 0; i < o->count; i++)
			if (lg__get16(f + 9 + 2 * i) != (unsigned)((o->expect + i) & 0xFFFF))
				return -1;
	uint64_t lat = now - c->sent_ns[slot];
	t->st.all++;
	if (t->measuring) {
		t->st.ok++;
		t->st.hist[lg__bucket(lat)]++;
		if (lat > t->st.max_ns)
			t->st.max_ns = lat;
	}
	return 0;
}

static void lg__readable(struct lg_thread *t, struct lg_conn *c, uint64_t now)
{
	ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		t->st.drops++;
		lg__fail(t, c, now);
		return;
	}
	c->rlen += (size_t)n;
	size_t off = 0;
	unsigned answers = 0;
	while (c->rlen - off >= 7) {
		const uint8_t *f = c->rbuf + off;
		size_t len = 6 + lg__get16(f + 4);
		if (len < 8 || len > 260) {
			/* Framing is lost: nothing after this can be trusted. */
			t->st.bad++;
			lg__fail(t, c, now);
			return;
		}
		if (c->rlen - off < len)
			break;
		if (lg__check(t, c, f, len, now) < 0)
			t->st.bad++;
		answers++;
		off += len;
	}
	if (off) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
	c->answered += answers;
	if (t->o->reconnect > 0 && c->answered >= (uint64_t)t->o->reconnect) {
		/* The connect/read/close pattern: a new socket at once. */
		t->st.reconnects++;
		lg__close(t, c, t->o->rst, now);
		if (lg__sending(t, now))
			lg__connect(t, c, now);
		return;
	}
	if (!lg__sending(t, now) || t->o->rate > 0)
		return;
	/* Refill to depth: one write for the whole batch, as a pipelining
	 * client does. */
	while (c->inflight < (unsigned)t->o->depth)
		lg__queue(t, c, now);
	if (c->wlen && lg__flush(t, c) < 0) {
		t->st.drops++;
		lg__fail(t, c, now);
	}
}

static void lg__event(struct lg_thread *t, struct lg_conn *c, uint32_t events, uint64_t now)
{
	if (c->state == LG_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			t->st.connect_errors++;
			lg__fail(t, c, now);
			return;
		}
		lg__opened(t, c, now);
		return;
	}
	if (events & EPOLLOUT) {
		if (lg__flush(t, c) < 0) {
			t->st.drops++;
			lg__fail(t, c, now);
			return;
		}
		if (c->wlen == 0) {
			struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
			epoll_ctl(t->epfd, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		lg__readable(t, c, now);
}

/* --rate: the timer expired n times; send n requests on idle connections. */
static void lg__paced(struct lg_thread *t, uint64_t now)
{
	uint64_t n = 0;
	if (read(t->tfd, &n, sizeof n) != (ssize_t)sizeof n || !lg__sending(t, now))
		return;
	for (; n > 0; n--) {
		int i, found = 0;
		for (i = 0; i < t->nconns && !found; i++) {
			struct lg_conn *c = &t->conns[(t->rr + i) % t->nconns];
			if (c->state != LG_OPEN || c->inflight >= (unsigned)t->o->depth)
				continue;
			found = 1;
			lg__queue(t, c, now);
			if (lg__flush(t, c) < 0) {
				t->st.drops++;
				lg__fail(t, c, now);
			}
		}
		t->rr = (t->rr + i) % t->nconns;
		if (!found) {
			t->st.late += n;
			break;
		}
	}
}

/* Reconnect closed sockets and catch requests nobody answers. */
static void lg__housekeeping(struct lg_thread *t, uint64_t now)
{
	uint64_t stall = (uint64_t)t->o->stall_ms * 1000000ull;
	for (int i = 0; i < t->nconns; i++) {
		struct lg_conn *c = &t->conns[i];
		if (c->state == LG_CLOSED && now >= c->retry_ns && lg__sending(t, now))
			lg__connect(t, c, now);
		else if (c->state == LG_OPEN && c->inflight && now - c->progress_ns > stall) {
			t->st.stalls += c->inflight;
			lg__fail(t, c, now);
		}
	}
}

static void *lg__run(void *arg)
{
	struct lg_thread *t = arg;
	struct epoll_event evs[256];
	uint64_t now = lg__now(), next_house = 0;
	if (t->tfd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->tfd, &ev);
	}
	for (int i = 0; i < t->nconns; i++) {
		t->conns[i].fd = -1;
		t->conns[i].state = LG_CLOSED;
		t->conns[i].retry_ns = now;
	}
	/* Bounded by time: sending stops at end_ns; 200 ms more collect the
	 * answers still on their way (those never answered are not errors). */
	uint64_t hard_end = t->end_ns + 200000000ull;
	while (now < hard_end) {
		/* Only ok, hist and max_ns wait for the warm-up to end; errors
		 * count from the start. */
		if (!t->measuring && now >= t->warm_ns)
			t->measuring = 1;
		if (now >= next_house) {
			lg__housekeeping(t, now);
			next_house = now + 5000000ull;
		}
		if (now >= t->end_ns) {
			int pending = 0;
			for (int i = 0; i < t->nconns && !pending; i++)
				pending = t->conns[i].state == LG_OPEN && t->conns[i].inflight;
			if (!pending)
				break;
		}
		int n = epoll_wait(t->epfd, evs, 256, 5);
		now = lg__now();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr)
				lg__event(t, evs[i].data.ptr, evs[i].events, now);
			else
				lg__paced(t, now);
		}
	}
	for (int i = 0; i < t->nconns; i++)
		lg__close(t, &t->conns[i], 0, now);
	return NULL;
}

/* Connect fd to the server within 500 ms; 0 when connected. */
static int lg__probe_connect(const struct lg_opts *o, int fd)
{
	struct sockaddr_in a = lg__addr(o->port);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
		return -1;
	struct pollfd p = {.fd = fd, .events = POLLOUT};
	int err = 0;
	socklen_t len = sizeof err;
	if (poll(&p, 1, 500) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err)
		return -1;
	return 0;
}

/* One request on a connected fd; 0 when a valid answer came within 500 ms. */
static int lg__probe_read(const struct lg_opts *o, int fd)
{
	const uint16_t tid = 0x4242;
	uint8_t req[LG_REQ_LEN], ans[300];
	size_t got = 0, bc = 2u * (unsigned)o->count;
	lg__encode(o, tid, req);
	if (send(fd, req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req)
		return -1;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	while (poll(&p, 1, 500) == 1) {
		ssize_t r = recv(fd, ans + got, sizeof ans - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
		if (got >= 7 && got >= 6 + lg__get16(ans + 4))
			break;
	}
	if (got != 9 + bc || lg__get16(ans) != tid || ans[7] != 0x03 || ans[8] != bc)
		return -1;
	for (int i = 0; o->expect >= 0 && tid % o->blocks == 0 && i < o->count; i++)
		if (lg__get16(ans + 9 + 2 * i) != (unsigned)((o->expect + i) & 0xFFFF))
			return -1;
	return 0;
}

/* Wait until the server answers one valid request (or, with connect_only,
 * accepts a connection: devices with no data yet); retries until timeout_ms. */
static int lg__probe(const struct lg_opts *o, int timeout_ms, int connect_only)
{
	uint64_t end = lg__now() + (uint64_t)timeout_ms * 1000000ull;
	while (lg__now() < end) {
		int fd = lg__socket();
		if (fd < 0)
			return -1;
		int rc = lg__probe_connect(o, fd);
		if (rc == 0 && !connect_only)
			rc = lg__probe_read(o, fd);
		close(fd);
		if (rc == 0)
			return 0;
		struct timespec ts = {0, 50000000L};
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void lg__usage(FILE *f)
{
	fprintf(f, "usage: loadgen --port P [--conns N=64] [--depth D=1] [--duration S=2]\n"
		   "               [--warmup S=0.3] [--unit U=1] [--addr A=0] [--count Q=10]\n"
		   "               [--expect V] [--threads T=1] [--reconnect K] [--rst]\n"
		   "               [--stall-ms MS=2000] [--rate R] [--blocks B=1 [--stride S=Q]]\n"
		   "       loadgen --probe --port P [--timeout-ms MS=5000] [--connect-only] "
		   "[--unit U] ...\n"
		   "       loadgen --free-port\n");
}

int main(int argc, char **argv)
{
	struct lg_opts o = {.port = 0,
			    .conns = 64,
			    .depth = 1,
			    .threads = 1,
			    .unit = 1,
			    .addr = 0,
			    .count = 10,
			    .blocks = 1,
			    .stride = -1,
			    .stall_ms = 2000,
			    .expect = -1,
			    .duration = 2.0,
			    .warmup = 0.3};
	int probe = 0, connect_only = 0, timeout_ms = 5000;
	static const struct option longopts[] = {{"port", required_argument, NULL, 'p'},
						 {"conns", required_argument, NULL, 'c'},
						 {"depth", required_argument, NULL, 'd'},
						 {"duration", required_argument, NULL, 't'},
						 {"warmup", required_argument, NULL, 'w'},
						 {"unit", required_argument, NULL, 'u'},
						 {"addr", required_argument, NULL, 'a'},
						 {"count", required_argument, NULL, 'q'},
						 {"expect", required_argument, NULL, 'e'},
						 {"threads", required_argument, NULL, 'T'},
						 {"reconnect", required_argument, NULL, 'r'},
						 {"rst", no_argument, NULL, 'R'},
						 {"stall-ms", required_argument, NULL, 's'},
						 {"probe", no_argument, NULL, 'P'},
						 {"timeout-ms", required_argument, NULL, 'o'},
						 {"free-port", no_argument, NULL, 'F'},
						 {"connect-only", no_argument, NULL, 'C'},
						 {"rate", required_argument, NULL, 'Q'},
						 {"blocks", required_argument, NULL, 'B'},
						 {"stride", required_argument, NULL, 'S'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "p:c:d:t:w:u:a:q:e:T:r:Rs:Po:FCQ:B:S:h", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'c':
			o.conns = atoi(optarg);
			break;
		case 'd':
			o.depth = atoi(optarg);
			break;
		case 't':
			o.duration = atof(optarg);
			break;
		case 'w':
			o.warmup = atof(optarg);
			break;
		case 'u':
			o.unit = atoi(optarg);
			break;
		case 'a':
			o.addr = atoi(optarg);
			break;
		case 'q':
			o.count = atoi(optarg);
			break;
		case 'e':
			o.expect = atol(optarg);
			break;
		case 'T':
			o.threads = atoi(optarg);
			break;
		case 'r':
			o.reconnect = atoi(optarg);
			break;
		case 'R':
			o.rst = 1;
			break;
		case 's':
			o.stall_ms = atoi(optarg);
			break;
		case 'P':
			probe = 1;
			break;
		case 'C':
			connect_only = 1;
			break;
		case 'Q':
			o.rate = atof(optarg);
			break;
		case 'B':
			o.blocks = atoi(optarg);
			break;
		case 'S':
			o.stride = atoi(optarg);
			break;
		case 'o':
			timeout_ms = atoi(optarg);
			break;
		case 'F': {
			int port = h_free_port();
			if (port < 0)
				return 1;
			printf("%d\n", port);
			return 0;
		}
		case 'h':
			lg__usage(stdout);
			return 0;
		default:
			lg__usage(stderr);
			return 2;
		}
	}
	if (o.stride < 0)
		o.stride = o.count;
	if (o.blocks < 1 || o.blocks > 256 || o.stride > 65535 ||
	    o.addr + (long)(o.blocks - 1) * o.stride + o.count > 65536) {
		lg__usage(stderr);
		return 2;
	}
	if (o.port <= 0 || o.port > 65535 || o.conns < 1 || o.depth < 1 || o.depth > LG_MAX_DEPTH ||
	    o.count < 1 || o.count > 125 || o.unit < 0 || o.unit > 255 || o.addr < 0 ||
	    o.addr > 65535 || o.threads < 1 || o.threads > o.conns || o.duration <= 0 ||
	    o.duration > 3600 || o.warmup < 0 || o.stall_ms < 1 || o.rate < 0 || o.rate > 1e7) {
		lg__usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (probe)
		return lg__probe(&o, timeout_ms, connect_only) == 0 ? 0 : 1;

	struct lg_conn *conns = calloc((size_t)o.conns, sizeof *conns);
	struct lg_thread *th = calloc((size_t)o.threads, sizeof *th);
	if (!conns || !th) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	uint64_t start = lg__now();
	uint64_t warm = start + (uint64_t)(o.warmup * 1e9);
	uint64_t end = warm + (uint64_t)(o.duration * 1e9);
	for (int i = 0, first = 0; i < o.threads; i++) {
		int n = o.conns / o.threads + (i < o.conns % o.threads);
		th[i] = (struct lg_thread){
		    .o = &o, .conns = conns + first, .nconns = n, .warm_ns = warm, .end_ns = end};
		first += n;
		th[i].epfd = epoll_create1(EPOLL_CLOEXEC);
		th[i].tfd = -1;
		if (th[i].epfd < 0) {
			perror("loadgen: epoll_create1");
			return 1;
		}
		if (o.rate > 0) {
			/* Each thread paces its share; the timer starts once every
			 * socket had time to connect (the warm-up). */
			uint64_t ns = (uint64_t)(1e9 * o.threads / o.rate);
			struct itimerspec its = {.it_interval = {(time_t)(ns / 1000000000ull),
								 (long)(ns % 1000000000ull)},
						 .it_value = {0, 20000000}};
			th[i].tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
			if (th[i].tfd < 0 || timerfd_settime(th[i].tfd, 0, &its, NULL) < 0) {
				perror("loadgen: timerfd");
				return 1;
			}
		}
	}
	for (int i = 1; i < o.threads; i++)
		if (pthread_create(&th[i].tid, NULL, lg__run, &th[i]) != 0) {
			fprintf(stderr, "loadgen: pthread_create failed\n");
			return 1;
		}
	lg__run(&th[0]);
	for (int i = 1; i < o.threads; i++)
		pthread_join(th[i].tid, NULL);

	struct lg_stats sum = {0};
	for (int i = 0; i < o.threads; i++) {
		struct lg_stats *s = &th[i].st;
		sum.ok += s->ok;
		sum.all += s->all;
		sum.bad += s->bad;
		sum.exceptions += s->exceptions;
		sum.drops += s->drops;
		sum.stalls += s->stalls;
		sum.connect_errors += s->connect_errors;
		sum.reconnects += s->reconnects;
		sum.late += s->late;
		if (s->max_ns > sum.max_ns)
			sum.max_ns = s->max_ns;
		for (unsigned b = 0; b < LG_HIST; b++)
			sum.hist[b] += s->hist[b];
		close(th[i].epfd);
		if (th[i].tfd >= 0)
			close(th[i].tfd);
	}
	uint64_t errors = sum.bad + sum.exceptions + sum.drops + sum.stalls + sum.connect_errors;
	printf("rps=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu "
	       "requests=%llu all=%llu conns=%d depth=%d secs=%.2f bad=%llu exceptions=%llu "
	       "drops=%llu stalls=%llu connect_errors=%llu reconnects=%llu late=%llu\n",
	       (double)sum.ok / o.duration, lg__percentile(sum.hist, sum.ok, 0.50) / 1e3,
	       lg__percentile(sum.hist, sum.ok, 0.99) / 1e3,
	       lg__percentile(sum.hist, sum.ok, 0.999) / 1e3, (double)sum.max_ns / 1e3,
	       (unsigned long long)errors, (unsigned long long)sum.ok, (unsigned long long)sum.all,
	       o.conns, o.depth, o.duration, (unsigned long long)sum.bad,
	       (unsigned long long)sum.exceptions, (unsigned long long)sum.drops,
	       (unsigned long long)sum.stalls, (unsigned long long)sum.connect_errors,
	       (unsigned long long)sum.reconnects, (unsigned long long)sum.late);
	free(conns);
	free(th);
	return 0;
}

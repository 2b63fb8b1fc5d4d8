/* The TCP client link (bridge/link_tcp.c) on a real libuv loop against
 * loopback listeners this test opens itself: connect, read and write; a
 * server that closes (reconnect with the doubling back-off, and afresh after a
 * connection marked healthy); a name under .invalid (retries, the loop never
 * blocked); a port nobody listens on; a peer that accepts and never reads
 * (the write bounds: refused, then the link dropped and reopened); a connect
 * that never completes (a listener whose accept queue is full, so that the
 * kernel drops further SYNs: the connect timeout); a link on a given socket;
 * closing in every state. The log goes to a file, to check that an outage is
 * warned about once. A 5 ms pulse timer measures the longest gap the loop
 * went without running: nothing the link does may block it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"
#include "link_tcp.h"
#include "log.h"
#include "mb_error.h"

static uv_loop_t loop;

/* ------------------------------------------------------------ the pulse -- */

static uv_timer_t pulse;
static uint64_t pulse_last, pulse_gap;

static void on_pulse(uv_timer_t *t)
{
	(void)t;
	uint64_t now = h_now_ms();
	if (pulse_last && now - pulse_last > pulse_gap)
		pulse_gap = now - pulse_last;
	pulse_last = now;
}

static void pulse_reset(void)
{
	pulse_last = 0;
	pulse_gap = 0;
}

/* Run the loop until cond holds or ms pass (the pulse wakes it every 5 ms). */
#define RUN_UNTIL(cond, ms)                                                                        \
	for (uint64_t end_ = h_now_ms() + (ms); !(cond) && h_now_ms() < end_;)                     \
	uv_run(&loop, UV_RUN_ONCE)

static void run_for(int ms)
{
	uint64_t end = h_now_ms() + (uint64_t)ms;
	while (h_now_ms() < end)
		uv_run(&loop, UV_RUN_ONCE);
}

/* ------------------------------------------------------------- the link -- */

struct ev {
	int ups, downs, closed;
	uint64_t up_at[64], down_at[64];
	size_t rx;
	char buf[256];
	struct link_tcp *close_on_read; /* close this link from inside on_read */
};

static void on_read(void *ctx, const uint8_t *data, size_t len)
{
	struct ev *e = ctx;
	for (size_t i = 0; i < len && e->rx + i < sizeof e->buf; i++)
		e->buf[e->rx + i] = (char)data[i];
	e->rx += len;
	if (e->close_on_read) {
		struct link_tcp *l = e->close_on_read;
		e->close_on_read = NULL;
		link_tcp_close(l, NULL);
	}
}

static void on_state(void *ctx, int up)
{
	struct ev *e = ctx;
	if (up) {
		if (e->ups < 64)
			e->up_at[e->ups] = h_now_ms();
		e->ups++;
	} else {
		if (e->downs < 64)
			e->down_at[e->downs] = h_now_ms();
		e->downs++;
	}
}

static void on_closed(void *ctx)
{
	((struct ev *)ctx)->closed++;
}

static struct link_tcp_opts opts(const char *host, int port, struct ev *e)
{
	memset(e, 0, sizeof *e);
	struct link_tcp_opts o = {
	    .host = host,
	    .port = port,
	    .owner = "t",
	    .what = "peer",
	    .backoff_min_ms = 100,
	    .backoff_max_ms = 400,
	    .stable_ms = 60000,
	    .on_read = on_read,
	    .on_state = on_state,
	    .ctx = e,
	};
	return o;
}

/* Close l and wait for its closed callback; no state callback may come. */
static int close_link(struct link_tcp *l, struct ev *e)
{
	int ups = e->ups, downs = e->downs, closed = e->closed;
	link_tcp_close(l, on_closed);
	int ok = e->closed == closed; /* never from inside link_tcp_close */
	RUN_UNTIL(e->closed > closed, 5000);
	if (!ok || e->closed != closed + 1 || e->ups != ups || e->downs != downs)
		h_note("close: closed %d -> %d, ups %d -> %d, downs %d -> %d", closed, e->closed,
		       ups, e->ups, downs, e->downs);
	return ok && e->closed == closed + 1 && e->ups == ups && e->downs == downs;
}

/* ----------------------------------------------------------- the server -- */

enum srv_mode { SRV_READ, SRV_CLOSE, SRV_NOREAD };

#define SRV_CONNS 64

struct srv {
	uv_tcp_t tcp;
	int port;
	enum srv_mode mode;
	int accepts;
	uint64_t accept_at[SRV_CONNS];
	uv_tcp_t *conn[SRV_CONNS];
	size_t rx;
	char buf[256];
};

static struct srv srv;
static char srv_chunk[65536];
static const char hello[] = "hello";

static uint64_t acc_at(int i)
{
	return srv.accept_at[i % SRV_CONNS];
}

static void srv_on_closed(uv_handle_t *h)
{
	free(h);
}

static void srv_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	(void)h;
	(void)hint;
	*buf = uv_buf_init(srv_chunk, sizeof srv_chunk);
}

static void srv_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	if (n < 0) {
		for (int i = 0; i < SRV_CONNS; i++)
			if (srv.conn[i] == (uv_tcp_t *)st)
				srv.conn[i] = NULL;
		uv_close((uv_handle_t *)st, srv_on_closed);
		return;
	}
	for (size_t i = 0; i < (size_t)n && srv.rx + i < sizeof srv.buf; i++)
		srv.buf[srv.rx + i] = srv_chunk[i];
	srv.rx += (size_t)n;
}

static void srv_on_write(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void srv_on_conn(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	uv_tcp_t *c = malloc(sizeof *c);
	uv_tcp_init(&loop, c);
	if (uv_accept(server, (uv_stream_t *)c) != 0) {
		uv_close((uv_handle_t *)c, srv_on_closed);
		return;
	}
	int i = srv.accepts++ % SRV_CONNS;
	srv.accept_at[i] = h_now_ms();
	if (srv.mode == SRV_CLOSE) {
		uv_close((uv_handle_t *)c, srv_on_closed);
		return;
	}
	srv.conn[i] = c;
	if (srv.mode == SRV_READ) {
		uv_write_t *w = malloc(sizeof *w);
		uv_buf_t b = uv_buf_init((char *)hello, sizeof hello - 1);
		uv_write(w, (uv_stream_t *)c, &b, 1, srv_on_write);
		uv_read_start((uv_stream_t *)c, srv_on_alloc, srv_on_read);
	}
}

/* Close every accepted connection (the peer's side). */
static void srv_drop_all(void)
{
	for (int i = 0; i < SRV_CONNS; i++)
		if (srv.conn[i]) {
			uv_close((uv_handle_t *)srv.conn[i], srv_on_closed);
			srv.conn[i] = NULL;
		}
}

static int srv_start(void)
{
	struct sockaddr_in a;
	struct sockaddr_storage ss;
	int len = sizeof ss;
	memset(&srv, 0, sizeof srv);
	uv_ip4_addr("127.0.0.1", 0, &a);
	if (uv_tcp_init(&loop, &srv.tcp) != 0 ||
	    uv_tcp_bind(&srv.tcp, (const struct sockaddr *)&a, 0) != 0 ||
	    uv_listen((uv_stream_t *)&srv.tcp, 64, srv_on_conn) != 0 ||
	    uv_tcp_getsockname(&srv.tcp, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	srv.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return 0;
}

static const char *log_path;

static int log_lines(const char *needle)
{
	fflush(stderr);
	return h_count_lines(log_path, needle);
}

/* ------------------------------------------------------------ the parts -- */

static void part_connect(void)
{
	struct ev e;
	struct link_tcp_opts o = opts("127.0.0.1", srv.port, &e);
	o.writes_max = 2;
	srv.mode = SRV_READ;
	int acc0 = srv.accepts;
	struct link_tcp *l = link_tcp_open(&loop, &o);
	if (!h_ok(l != NULL, "link opened"))
		return;
	h_ok(!link_tcp_is_up(l) && e.ups == 0, "not up before the loop ran");
	RUN_UNTIL(e.ups == 1, 5000);
	h_ok(e.ups == 1 && link_tcp_is_up(l), "connects to a loopback listener");
	h_ok(srv.accepts == acc0 + 1, "one connection accepted (%d)", srv.accepts - acc0);
	char peer[64];
	snprintf(peer, sizeof peer, "127.0.0.1:%d", srv.port);
	h_ok(strcmp(link_tcp_peer(l), peer) == 0, "link_tcp_peer: %s", link_tcp_peer(l));
	RUN_UNTIL(e.rx >= 5, 3000);
	h_ok(e.rx == 5 && memcmp(e.buf, "hello", 5) == 0, "what the peer sends is read (%zu bytes)",
	     e.rx);
	srv.rx = 0;
	/* The two writes take their callbacks on the next loop iteration: a
	 * third optional one is refused, one that must go is not. */
	int r1 = link_tcp_write(l, "ab", 2, LINK_TCP_REFUSE);
	int r2 = link_tcp_write(l, "cd", 2, LINK_TCP_REFUSE);
	int r3 = link_tcp_write(l, "xx", 2, LINK_TCP_REFUSE);
	int r4 = link_tcp_write(l, "ef", 2, LINK_TCP_DROP);
	h_ok(r1 == 0 && r2 == 0 && r3 == MB_EBUSY && r4 == 0,
	     "writes_max 2: the third optional write is refused (%d %d %d %d)", r1, r2, r3, r4);
	RUN_UNTIL(srv.rx >= 6, 3000);
	h_ok(srv.rx == 6 && memcmp(srv.buf, "abcdef", 6) == 0,
	     "the writes reach the peer in order (%zu bytes)", srv.rx);
	h_ok(link_tcp_write(l, "gh", 2, LINK_TCP_REFUSE) == 0,
	     "optional writes are taken again once their callbacks came");
	h_ok(link_tcp_is_up(l) && e.downs == 0, "the link stayed up");
	h_ok(close_link(l, &e), "closed while up: the closed callback, no state callback");
	srv_drop_all();
}

static void part_backoff(void)
{
	struct ev e;
	struct link_tcp_opts o = opts("127.0.0.1", srv.port, &e);
	srv.mode = SRV_READ;
	struct link_tcp *l = link_tcp_open(&loop, &o);
	RUN_UNTIL(e.ups == 1, 5000);
	h_ok(e.ups == 1, "connected");
	/* From now on the server closes every connection at once: each is up
	 * for a moment and never healthy, so the back-off keeps doubling. */
	srv.mode = SRV_CLOSE;
	int acc0 = srv.accepts;
	srv_drop_all();
	RUN_UNTIL(srv.accepts >= acc0 + 4, 8000);
	h_ok(srv.accepts >= acc0 + 4 && e.downs >= 1,
	     "the closed connection is reopened, again and again (%d connections, %d downs)",
	     srv.accepts - acc0, e.downs);
	/* The first wait runs from the drop, the others from the accept of the
	 * connection the server closed. The link's timer counts from the loop's
	 * cached time, a little before our clock reading (30 ms of slack, for
	 * valgrind). */
	static const int want[] = {100, 200, 400, 400};
	int ok = srv.accepts >= acc0 + 4;
	char gaps[128] = "";
	for (int k = 0; ok && k < 4; k++) {
		uint64_t from = k ? acc_at(acc0 + k - 1) : e.down_at[0];
		uint64_t g = acc_at(acc0 + k) - from;
		size_t n = strlen(gaps);
		snprintf(gaps + n, sizeof gaps - n, "%s%llu", k ? ", " : "", (unsigned long long)g);
		if (g + 30 < (uint64_t)want[k] || g > (uint64_t)want[k] + 400)
			ok = 0;
	}
	h_ok(ok, "reconnects after 100, 200, 400, 400 ms (back-off 100..400): %s ms", gaps);

	/* A connection marked healthy starts the back-off afresh. */
	srv.mode = SRV_READ;
	int ups = e.ups;
	RUN_UNTIL(e.ups > ups && link_tcp_is_up(l) && e.rx > 0, 5000);
	h_ok(link_tcp_is_up(l), "up again once the server keeps the connection");
	link_tcp_healthy(l);
	int acc1 = srv.accepts, downs = e.downs;
	srv_drop_all();
	RUN_UNTIL(srv.accepts > acc1, 3000);
	uint64_t g = srv.accepts > acc1 && e.downs > downs ? acc_at(acc1) - e.down_at[downs] : 0;
	h_ok(g + 30 >= 100 && g < 350, "after a healthy connection the wait is 100 ms again (%llu)",
	     (unsigned long long)g);
	h_ok(log_lines("t: cannot reach") == 0, "a peer that accepts is never 'cannot reach'");
	h_ok(close_link(l, &e), "closed");
	srv_drop_all();
}

static void part_invalid(void)
{
	struct ev e;
	struct link_tcp_opts o = opts("nothing.invalid", 502, &e);
	o.owner = "inv";
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 200;
	const char *retries = "inv: peer nothing.invalid:502: "; /* debug, per retry */
	pulse_reset();
	uint64_t t0 = h_now_ms();
	struct link_tcp *l = link_tcp_open(&loop, &o);
	h_ok(l != NULL && h_now_ms() - t0 < 100, "open returns at once");
	RUN_UNTIL(log_lines(retries) >= 3, 20000);
	h_ok(log_lines(retries) >= 3, "an unresolvable name is tried again and again (%d)",
	     log_lines(retries));
	h_ok(e.ups == 0 && !link_tcp_is_up(l), "never up");
	h_ok(log_lines("warning: inv: cannot reach peer nothing.invalid:502 (") == 1,
	     "warned about once, the later attempts are debug");
	h_ok(pulse_gap < 1000, "the loop ran all along (longest gap %llu ms)",
	     (unsigned long long)pulse_gap);
	h_ok(link_tcp_write(l, "x", 1, LINK_TCP_DROP) == MB_ELINK, "a write while down: MB_ELINK");
	h_ok(close_link(l, &e), "closed while resolving or waiting");
	l = link_tcp_open(&loop, &o);
	h_ok(close_link(l, &e), "closed right after open (the lookup in flight)");
}

static void part_refused(void)
{
	struct ev e;
	int port = h_free_port();
	struct link_tcp_opts o = opts("127.0.0.1", port, &e);
	o.owner = "ref";
	o.backoff_min_ms = 50;
	o.backoff_max_ms = 200;
	char retries[96];
	snprintf(retries, sizeof retries, "127.0.0.1:%d: connection refused; next attempt", port);
	uint64_t t0 = h_now_ms();
	struct link_tcp *l = link_tcp_open(&loop, &o);
	RUN_UNTIL(log_lines(retries) >= 3, 10000);
	uint64_t took = h_now_ms() - t0;
	h_ok(log_lines(retries) >= 3, "a refused connect is tried again (%d)", log_lines(retries));
	/* Four attempts are three waits: 50 + 100 + 200 ms at least. */
	h_ok(took >= 320, "the attempts wait for the back-off (%llu ms for 4 attempts)",
	     (unsigned long long)took);
	h_ok(e.ups == 0 && e.downs == 0, "no state callback while never up");
	h_ok(log_lines("warning: ref: cannot reach peer") == 1, "warned about once");
	h_ok(close_link(l, &e), "closed");
}

static void part_noread(void)
{
	struct ev e;
	struct link_tcp_opts o = opts("127.0.0.1", srv.port, &e);
	o.owner = "nr";
	o.queue_max = 64 * 1024;
	srv.mode = SRV_NOREAD;
	int acc0 = srv.accepts;
	struct link_tcp *l = link_tcp_open(&loop, &o);
	RUN_UNTIL(e.ups == 1, 5000);
	h_ok(e.ups == 1, "connected to a peer that never reads");
	static char block[16384];
	memset(block, 'z', sizeof block);
	int rc = 0, refused = -1;
	size_t sent = 0, queued = 0;
	for (int i = 0; i < 100000 && rc == 0; i++) {
		if (refused < 0 && (queued = link_tcp_queued(l)) > 0)
			refused = link_tcp_write(l, "t", 1, LINK_TCP_REFUSE);
		rc = link_tcp_write(l, block, sizeof block, LINK_TCP_DROP);
		if (rc == 0)
			sent += sizeof block;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	h_ok(refused == MB_EBUSY,
	     "once bytes wait for the peer, an optional write is refused (%d, %zu bytes queued)",
	     refused, queued);
	h_ok(rc == MB_EBUSY, "a write over the queue limit fails with MB_EBUSY (%d, after %zu KiB)",
	     rc, sent / 1024);
	h_ok(!link_tcp_is_up(l) && e.downs == 1, "and the link is dropped (down reported: %d)",
	     e.downs);
	h_ok(log_lines("nr: peer 127.0.0.1") >= 1 &&
		 log_lines("connection lost (the peer does not read what we send)") == 1,
	     "the drop is logged");
	srv.mode = SRV_READ;
	RUN_UNTIL(e.ups == 2, 5000);
	h_ok(e.ups == 2 && srv.accepts == acc0 + 2, "a new connection replaces it");
	/* Fill it again and close with the bytes still queued: everything is
	 * freed (ASan, valgrind). */
	srv.mode = SRV_NOREAD;
	srv_drop_all();
	RUN_UNTIL(e.ups == 3, 5000);
	h_ok(e.ups == 3, "connected again");
	for (int i = 0; i < 100000 && link_tcp_queued(l) == 0; i++) {
		if (link_tcp_write(l, block, sizeof block, LINK_TCP_DROP) != 0)
			break;
		uv_run(&loop, UV_RUN_NOWAIT);
	}
	h_ok(link_tcp_is_up(l) && link_tcp_queued(l) > 0, "bytes queued (%zu)", link_tcp_queued(l));
	h_ok(close_link(l, &e), "closed with writes pending");
	srv_drop_all();
}

/* A listener whose accept queue is full: the kernel drops the next SYN, so a
 * connect to it neither succeeds nor fails until our timeout. */
static void part_timeout(void)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 0) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
		h_ok(0, "blackhole listener");
		return;
	}
	/* Fill the queue, until a connect hangs (the queue is full). */
	int fill[4], nfill = 0, hangs = 0;
	while (nfill < 4 && !hangs) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		fill[nfill++] = fd;
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			continue;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		hangs = errno == EINPROGRESS && poll(&p, 1, 300) == 0;
	}
	if (!hangs) {
		h_note("this kernel completes connects to a full listener");
		h_ok(1, "connect timeout: skipped (no blackhole on this loopback)");
	} else {
		struct ev e;
		struct link_tcp_opts o = opts("127.0.0.1", ntohs(a.sin_port), &e);
		o.owner = "bh";
		o.connect_timeout_ms = 300;
		o.backoff_min_ms = 50;
		o.backoff_max_ms = 50;
		const char *retries = "connect timed out; next attempt";
		pulse_reset();
		uint64_t t0 = h_now_ms();
		struct link_tcp *l = link_tcp_open(&loop, &o);
		RUN_UNTIL(log_lines(retries) >= 1, 5000);
		uint64_t took = h_now_ms() - t0;
		h_ok(log_lines("warning: bh: cannot reach peer") == 1 && log_lines(retries) >= 1,
		     "a connect that hangs times out, and is tried again");
		h_ok(took >= 570 && took < 3000,
		     "each attempt ends at the connect timeout (two in %llu ms, 300 ms each)",
		     (unsigned long long)took);
		h_ok(e.ups == 0 && pulse_gap < 1000,
		     "never up, the loop ran all along (longest gap %llu ms)",
		     (unsigned long long)pulse_gap);
		/* Close while a connect hangs: the canceled connect frees. */
		run_for(100);
		h_ok(close_link(l, &e), "closed while connecting");
	}
	for (int i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
}

static void part_fd(void)
{
	int sv[2];
	struct ev e;
	if (!h_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair"))
		return;
	struct link_tcp_opts o = opts(NULL, 0, &e);
	o.owner = "fd";
	struct link_tcp *l = link_tcp_open_fd(&loop, &o, sv[0]);
	if (!h_ok(l && link_tcp_is_up(l) && e.ups == 0,
		  "a link on a given socket is up at once, without a state callback"))
		return;
	h_ok(write(sv[1], "abc", 3) == 3, "the peer writes");
	RUN_UNTIL(e.rx == 3, 3000);
	h_ok(e.rx == 3 && memcmp(e.buf, "abc", 3) == 0, "the link reads it");
	char buf[8] = "";
	h_ok(link_tcp_write(l, "xyz", 3, LINK_TCP_DROP) == 0, "the link writes");
	run_for(50);
	h_ok(read(sv[1], buf, sizeof buf) == 3 && memcmp(buf, "xyz", 3) == 0, "the peer reads it");
	close(sv[1]);
	RUN_UNTIL(e.downs == 1, 3000);
	h_ok(e.downs == 1 && !link_tcp_is_up(l), "the peer closes: down");
	run_for(300);
	h_ok(e.ups == 0 && e.downs == 1 && log_lines("fd: cannot reach") == 0,
	     "and it stays down: no address to reconnect to");
	h_ok(close_link(l, &e), "closed");

	/* Closed from inside its own read callback. */
	if (!h_ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair"))
		return;
	o = opts(NULL, 0, &e);
	l = link_tcp_open_fd(&loop, &o, sv[0]);
	e.close_on_read = l;
	h_ok(write(sv[1], "abc", 3) == 3, "the peer writes");
	RUN_UNTIL(e.rx == 3, 3000);
	run_for(50);
	h_ok(e.rx == 3 && e.close_on_read == NULL && e.ups == 0 && e.downs == 0,
	     "closed from inside its read callback, no state callback after");
	close(sv[1]);
}

int main(void)
{
	h_init("link_tcp");
	/* The link logs to stderr: into a file, to count its lines. */
	log_path = h_path("link.log");
	if (!freopen(log_path, "w", stderr))
		return 1;
	setvbuf(stderr, NULL, _IOLBF, 0);
	log_init(0, 1);
	h_ok(uv_loop_init(&loop) == 0, "loop");
	uv_timer_init(&loop, &pulse);
	uv_timer_start(&pulse, on_pulse, 5, 5);
	int rc = srv_start();
	if (!h_ok(rc == 0, "loopback listener on port %d", srv.port))
		return h_done();

	part_connect();
	part_backoff();
	part_invalid();
	part_refused();
	part_noread();
	part_timeout();
	part_fd();

	srv_drop_all();
	uv_close((uv_handle_t *)&srv.tcp, NULL);
	uv_close((uv_handle_t *)&pulse, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	h_ok(uv_loop_close(&loop) == 0, "every handle closed");
	return h_done();
}

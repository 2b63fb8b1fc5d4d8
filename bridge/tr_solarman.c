/* The `solarman` transport: Modbus RTU inside Solarman V5 frames, over one
 * persistent TCP connection per data logger (port 8899), driven by libuv.
 *
 * States: RESOLVING -> CONNECTING -> UP; on EOF, reset or error the socket
 * is closed (CLOSING) and a timer waits (WAITING) 1 s, doubling to 60 s while
 * attempts keep failing, before resolving again. The backoff returns to 1 s
 * once the logger has answered something on a connection.
 *
 * One transaction is in flight at a time (the device model guarantees it); a
 * sequence byte numbers our requests (a fresh one per attempt, so a retry of
 * the same transaction is told from the late answer to the attempt before)
 * and an answer must echo it. The RTU answer inside must match the request
 * too: slave, function code, byte count (reads), address and value (FC06),
 * address and quantity (FC16). Whatever else arrives is sorted by the V5
 * stream parser: unsolicited logger frames (heartbeat, handshake, data ...)
 * get the time answer loggers expect and are otherwise ignored; garbage, late
 * answers and answers that do not match are dropped and counted.
 *
 * Bounds (docs/user-guide.md, "Solarman limits"): input goes through one
 * read chunk and the stream parser's fixed buffer (a frame that claims more
 * than V5_MAX_PAYLOAD is skipped as garbage and the parser resyncs on the
 * next start byte). Output: a time answer is sent only while nothing waits
 * in libuv's queue toward the logger and fewer than SOL_WRITES_MAX writes are
 * pending; otherwise it is dropped and counted. A request that would take
 * the queue over SOL_QUEUE_MAX bytes means the logger has stopped reading:
 * the transaction fails (0B) and the link is dropped and reconnected. */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "v5.h"

#define SOL_BACKOFF_MIN 1000
#define SOL_BACKOFF_MAX 60000
#define SOL_READ_CHUNK 4096
/* Bytes libuv may hold for the logger beyond what the kernel took: a dozen
 * requests. Over it, the logger is not reading and the link is dropped. */
#define SOL_QUEUE_MAX 4096
/* Writes whose callbacks are still due (each holds a malloc'd buffer). */
#define SOL_WRITES_MAX 16

enum sol_state { SOL_RESOLVING, SOL_CONNECTING, SOL_UP, SOL_CLOSING, SOL_WAITING };

struct sol {
	struct device *dev;
	uv_loop_t *loop;
	char *host;
	char port[12];
	uint32_t serial;
	uint8_t slave;
	enum sol_state state;
	int closing;   /* ops->close was called */
	unsigned refs; /* handles and requests whose callbacks are still due */
	uv_timer_t retry;
	uv_getaddrinfo_t gai;
	uv_connect_t connect;
	uv_tcp_t tcp;
	int tcp_open;		      /* tcp initialised and not yet closed */
	struct addrinfo *ai, *ai_cur; /* resolved addresses, the one being tried */
	const char *why;	      /* last connection failure, for the log */
	int failed;	   /* the last attempt failed (rather than an up link dropping) */
	unsigned fails;	   /* failed attempts in a row */
	uint64_t up_since; /* loop time the link came up */
	uint64_t backoff;
	int answered; /* the logger said something valid on this connection */
	/* the transaction in flight */
	struct txn *cur;
	uint8_t seq; /* last sequence byte used */
	uint8_t cur_fc;
	unsigned writes; /* uv_writes whose callbacks are still due */
	/* the last logger error reported, so that it is logged once */
	uint8_t logger_error;
	struct v5_stream stream;
	uint8_t rx[V5_MAX_FRAME];
	uint8_t chunk[SOL_READ_CHUNK];
};

/* A write in progress: libuv needs the bytes until its callback. */
struct sol_write {
	uv_write_t req;
	struct sol *s;
	size_t len;
	uint8_t data[];
};

static void sol__resolve(struct sol *s);
static void sol__drop_link(struct sol *s, const char *why);

static void sol__unref(struct sol *s)
{
	if (--s->refs == 0 && s->closing) {
		uv_freeaddrinfo(s->ai);
		free(s->host);
		free(s);
	}
}

static void sol__on_timer_closed(uv_handle_t *h)
{
	sol__unref(h->data);
}

static void sol__on_retry(uv_timer_t *t)
{
	struct sol *s = t->data;
	if (!s->closing && s->state == SOL_WAITING)
		sol__resolve(s);
}

/* Wait, then try again; the wait doubles while attempts keep failing. The
 * first failed attempt of a series is a warning, the rest are debug. */
static void sol__schedule_retry(struct sol *s)
{
	uv_freeaddrinfo(s->ai);
	s->ai = s->ai_cur = NULL;
	s->state = SOL_WAITING;
	uint64_t wait = s->backoff;
	const char *why = s->why ? s->why : "?";
	if (s->failed && ++s->fails == 1)
		log_warn("%s: cannot reach logger %s:%s (%s); retrying, at least every %d s",
			 device_name(s->dev), s->host, s->port, why, SOL_BACKOFF_MAX / 1000);
	else
		log_debug("%s: logger %s:%s: %s; next attempt in %llu ms", device_name(s->dev),
			  s->host, s->port, why, (unsigned long long)wait);
	s->failed = 0;
	s->backoff = s->backoff * 2 > SOL_BACKOFF_MAX ? SOL_BACKOFF_MAX : s->backoff * 2;
	uv_timer_start(&s->retry, sol__on_retry, wait, 0);
}

static void sol__connect_next(struct sol *s);

static void sol__on_tcp_closed(uv_handle_t *h)
{
	struct sol *s = h->data;
	s->tcp_open = 0;
	if (!s->closing) {
		if (s->ai_cur)
			sol__connect_next(s); /* the next address of the host */
		else
			sol__schedule_retry(s);
	}
	sol__unref(s);
}

/* Close the socket (if any) and go on with the next address or the retry
 * timer. */
static void sol__close_tcp(struct sol *s)
{
	s->state = SOL_CLOSING;
	if (s->tcp_open && !uv_is_closing((uv_handle_t *)&s->tcp))
		uv_close((uv_handle_t *)&s->tcp, sol__on_tcp_closed);
	else if (!s->tcp_open && !s->closing)
		sol__schedule_retry(s);
}

/* A connection attempt to s->ai_cur failed: try the host's next address. */
static void sol__connect_failed(struct sol *s, const char *why)
{
	log_debug("%s: logger %s:%s: %s", device_name(s->dev), s->host, s->port, why);
	s->why = why;
	s->failed = 1;
	s->ai_cur = s->ai_cur ? s->ai_cur->ai_next : NULL;
	sol__close_tcp(s);
}

static void sol__drop_link(struct sol *s, const char *why)
{
	log_warn("%s: logger %s:%s connection lost (%s)", device_name(s->dev), s->host, s->port,
		 why);
	s->why = why;
	/* A connection that worked (an answer, or up for a while before an idle
	 * close) starts the backoff afresh; one that dies at once does not. */
	if (s->answered || uv_now(s->loop) - s->up_since >= 10000)
		s->backoff = SOL_BACKOFF_MIN;
	s->answered = 0;
	sol__close_tcp(s);
	v5_stream_reset(&s->stream);
	/* The device aborts what is in flight (ops->abort) and answers 0A. */
	device_link_changed(s->dev, 0);
	s->cur = NULL;
}

static void sol__on_write(uv_write_t *req, int status)
{
	struct sol_write *w = (struct sol_write *)req;
	struct sol *s = w->s;
	free(w);
	s->writes--;
	if (status < 0 && status != UV_ECANCELED && !s->closing && s->state == SOL_UP)
		sol__drop_link(s, uv_strerror(status));
	sol__unref(s);
}

static int sol__send(struct sol *s, const uint8_t *data, size_t len)
{
	if (s->state != SOL_UP)
		return MB_ELINK;
	struct sol_write *w = malloc(sizeof *w + len);
	if (!w)
		return MB_ENOMEM;
	w->s = s;
	w->len = len;
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, sol__on_write);
	if (rc < 0) {
		free(w);
		return MB_EIO;
	}
	s->refs++;
	s->writes++;
	return 0;
}

/* Bytes waiting in libuv for the logger (the kernel's buffer is full). */
static size_t sol__queued(struct sol *s)
{
	return s->tcp_open ? uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) : 0;
}

/* Finish the transaction in flight; the device may start the next one from
 * inside device_txn_done, so cur is cleared first. */
static void sol__done(struct sol *s, int status)
{
	struct txn *t = s->cur;
	s->cur = NULL;
	device_txn_done(s->dev, t, status);
}

static void sol__drop(struct sol *s, const char *what, int rc)
{
	log_debug("%s: dropped %s (%s)", device_name(s->dev), what, mb_strerror(rc));
	device_count_drop(s->dev);
}

/* The logger could not pass our request on: say which, once per change. */
static void sol__logger_error(struct sol *s, uint8_t code)
{
	int status;
	const char *what;
	switch (code) {
	case V5_LOGGER_SLAVE:
		what = "slave address mismatch: no answer from the inverter at that address";
		status = MB_EXC_GATEWAY_TARGET;
		break;
	case V5_LOGGER_SERIAL:
		what = "serial mismatch: the logger's serial is not the configured one";
		status = MB_EXC_DEVICE_FAILURE;
		break;
	default:
		what = "unknown logger error";
		status = MB_EXC_DEVICE_FAILURE;
		break;
	}
	if (s->logger_error != code) {
		log_warn("%s: logger %s:%s reports a %s (code 0x%02x; serial %u, slave %u)",
			 device_name(s->dev), s->host, s->port, what, code, (unsigned)s->serial,
			 s->slave);
		s->logger_error = code;
	}
	sol__done(s, status);
}

/* Does RTU answer r answer t as it was sent? Everything the answer echoes
 * must be what we asked: slave and function code always; a read's byte count;
 * a single write's address and value; a multiple write's address and
 * quantity. Returns 0 or MB_EID. */
static int sol__matches(const struct sol *s, const struct txn *t, const struct v5_rtu_answer *r)
{
	if (r->slave != s->slave || r->fc != s->cur_fc)
		return MB_EID;
	if (r->exception)
		return 0;
	switch (s->cur_fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		return r->nbytes == 2 * t->count ? 0 : MB_EID;
	case MB_FC_WRITE_SINGLE:
		return r->addr == t->native && r->value == t->words[0] ? 0 : MB_EID;
	default:
		return r->addr == t->native && r->value == t->count ? 0 : MB_EID;
	}
}

static void sol__answer(struct sol *s, const struct v5_frame *f)
{
	struct v5_answer a;
	struct v5_rtu_answer r;
	struct txn *t = s->cur;
	if (!t) {
		sol__drop(s, "an answer nothing waits for", MB_EID);
		return;
	}
	int rc = v5_check_answer(f, s->serial, s->seq, &a);
	if (rc < 0) {
		sol__drop(s, "an answer to another request", rc);
		return;
	}
	s->answered = 1;
	if (a.logger_error) {
		sol__logger_error(s, a.logger_error);
		return;
	}
	rc = v5_rtu_answer_decode(a.rtu, a.rtu_len, &r);
	if (rc == 0)
		rc = sol__matches(s, t, &r);
	if (rc < 0) {
		/* Never believe a damaged or foreign answer: the device times the
		 * transaction out (0B) unless a good answer still comes. */
		sol__drop(s, "an RTU answer that does not match the request", rc);
		return;
	}
	if (s->logger_error) {
		log_info("%s: logger %s:%s passes requests on again", device_name(s->dev), s->host,
			 s->port);
		s->logger_error = 0;
	}
	if (r.exception) {
		sol__done(s, r.exception);
		return;
	}
	if (t->op == TXN_READ) {
		uint16_t words[MB_MAX_READ];
		for (uint16_t i = 0; i < t->count; i++)
			words[i] = (uint16_t)(r.data[2 * i] << 8 | r.data[2 * i + 1]);
		device_cache_store(s->dev, t->table, t->addr, t->count, words);
	}
	sol__done(s, 0);
}

static void sol__frame(struct sol *s, const struct v5_frame *f)
{
	if (f->control == V5_CTRL_ANSWER) {
		sol__answer(s, f);
		return;
	}
	if (v5_is_unsolicited(f)) {
		uint8_t out[V5_TIME_ANSWER_LEN];
		int n = v5_encode_time_answer(out, sizeof out, f, (uint32_t)time(NULL));
		log_debug("%s: logger frame %02x %02x, answering with the time",
			  device_name(s->dev), f->control & 0xFF, f->control >> 8);
		s->answered = 1;
		/* A logger that floods us and does not read our answers must not
		 * make them pile up: answer only while nothing waits. */
		if (n <= 0)
			return;
		if (s->writes >= SOL_WRITES_MAX || sol__queued(s) > 0 ||
		    sol__send(s, out, (size_t)n) < 0)
			sol__drop(s, "a time answer the logger is not reading", MB_EBUSY);
		return;
	}
	sol__drop(s, "a frame with an unexpected control code", MB_EPROTO);
}

static void sol__on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sol *s = h->data;
	(void)hint;
	/* One read is processed completely before the next, so one buffer does. */
	*buf = uv_buf_init((char *)s->chunk, sizeof s->chunk);
}

static void sol__on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct sol *s = st->data;
	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		sol__drop_link(s,
			       nread == UV_EOF ? "closed by the logger" : uv_strerror((int)nread));
		return;
	}
	size_t off = 0;
	uint64_t frames0 = s->stream.dropped_frames, bytes0 = s->stream.dropped_bytes;
	while (off < (size_t)nread && s->state == SOL_UP) {
		struct v5_frame f;
		off += v5_stream_feed(&s->stream, s->chunk + off, (size_t)nread - off);
		while (s->state == SOL_UP && v5_stream_next(&s->stream, &f) == 1)
			sol__frame(s, &f);
	}
	/* Count each damaged frame, and each run of garbage once. */
	for (uint64_t i = frames0; i < s->stream.dropped_frames; i++)
		sol__drop(s, "a frame with a bad checksum", MB_ECRC);
	if (s->stream.dropped_bytes != bytes0)
		sol__drop(s, "bytes that are no V5 frame", MB_EPARSE);
}

static void sol__on_connect(uv_connect_t *req, int status)
{
	struct sol *s = req->data;
	if (s->closing || s->state != SOL_CONNECTING) {
		sol__unref(s);
		return;
	}
	if (status == 0)
		status = uv_read_start((uv_stream_t *)&s->tcp, sol__on_alloc, sol__on_read);
	if (status < 0) {
		sol__unref(s);
		sol__connect_failed(s, uv_strerror(status));
		return;
	}
	uv_freeaddrinfo(s->ai);
	s->ai = s->ai_cur = NULL;
	s->state = SOL_UP;
	s->fails = 0;
	s->up_since = uv_now(s->loop);
	v5_stream_reset(&s->stream);
	uv_tcp_nodelay(&s->tcp, 1);
	uv_tcp_keepalive(&s->tcp, 1, 60);
	log_info("%s: connected to logger %s:%s (serial %u, slave %u)", device_name(s->dev),
		 s->host, s->port, (unsigned)s->serial, s->slave);
	device_link_changed(s->dev, 1);
	sol__unref(s);
}

/* Connect to s->ai_cur. */
static void sol__connect_next(struct sol *s)
{
	int rc = uv_tcp_init(s->loop, &s->tcp);
	if (rc < 0) {
		s->why = uv_strerror(rc);
		s->failed = 1;
		s->ai_cur = NULL;
		sol__schedule_retry(s);
		return;
	}
	s->tcp.data = s;
	s->tcp_open = 1;
	s->refs++;
	s->state = SOL_CONNECTING;
	s->connect.data = s;
	rc = uv_tcp_connect(&s->connect, &s->tcp, s->ai_cur->ai_addr, sol__on_connect);
	if (rc < 0) {
		sol__connect_failed(s, uv_strerror(rc));
		return;
	}
	s->refs++;
}

static void sol__on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sol *s = req->data;
	if (s->closing) {
		uv_freeaddrinfo(res);
		sol__unref(s);
		return;
	}
	sol__unref(s); /* frees only once closing: s lives on */
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		s->why = status < 0 ? uv_strerror(status) : "no address";
		s->failed = 1;
		sol__schedule_retry(s);
		return;
	}
	s->ai = s->ai_cur = res;
	sol__connect_next(s);
}

static void sol__resolve(struct sol *s)
{
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	s->state = SOL_RESOLVING;
	s->gai.data = s;
	int rc = uv_getaddrinfo(s->loop, &s->gai, sol__on_resolved, s->host, s->port, &hints);
	if (rc < 0) {
		s->why = uv_strerror(rc);
		s->failed = 1;
		sol__schedule_retry(s);
		return;
	}
	s->refs++;
}

/* ------------------------------------------------------------------ ops -- */

/* The transport's state for cfg, not yet connecting; NULL after an error. */
static struct sol *sol__new(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			    char *err, size_t errlen)
{
	if (!cfg->solarman.host || !*cfg->solarman.host) {
		snprintf(err, errlen, "device %s (line %d): solarman.host is required", cfg->name,
			 cfg->line);
		return NULL;
	}
	if (cfg->solarman.slave < 1 || cfg->solarman.slave > 247) {
		snprintf(err, errlen, "device %s (line %d): solarman.slave must be 1..247",
			 cfg->name, cfg->line);
		return NULL;
	}
	struct sol *s = calloc(1, sizeof *s);
	if (!s || !(s->host = strdup(cfg->solarman.host))) {
		free(s);
		snprintf(err, errlen, "device %s: out of memory", cfg->name);
		return NULL;
	}
	s->dev = dev;
	s->loop = loop;
	snprintf(s->port, sizeof s->port, "%d", cfg->solarman.port > 0 ? cfg->solarman.port : 8899);
	s->serial = cfg->solarman.serial;
	s->slave = (uint8_t)cfg->solarman.slave;
	s->backoff = SOL_BACKOFF_MIN;
	v5_stream_init(&s->stream, s->rx, sizeof s->rx);
	uv_timer_init(loop, &s->retry);
	s->retry.data = s;
	s->refs = 1; /* the timer */
	return s;
}

static int tr_solarman__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			     const struct map *map, void **state, char *err, size_t errlen)
{
	(void)map;
	struct sol *s = sol__new(dev, loop, cfg, err, errlen);
	if (!s)
		return MB_EINVAL;
	sol__resolve(s);
	*state = s;
	return 0;
}

/* Test hooks for tests/fuzz/fuzz_tr_solarman.c, which declares them itself:
 * they are no part of the transport interface. open_fd opens the transport on
 * fd, a connected stream socket, instead of resolving and connecting (the
 * link is up at once: call device_link_changed(dev, 1) after creating the
 * device); input hands it bytes as if read from the logger (len 0: the
 * logger closed the connection); current is the transaction in flight. */
int tr_solarman_test_open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			  int fd, void **state, char *err, size_t errlen);
void tr_solarman_test_input(void *state, const uint8_t *data, size_t len);
struct txn *tr_solarman_test_current(void *state);

int tr_solarman_test_open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			  int fd, void **state, char *err, size_t errlen)
{
	struct sol *s = sol__new(dev, loop, cfg, err, errlen);
	if (!s)
		return MB_EINVAL;
	*state = s;
	if (uv_tcp_init(loop, &s->tcp) < 0)
		return MB_EIO;
	s->tcp.data = s;
	s->tcp_open = 1;
	s->refs++;
	if (uv_tcp_open(&s->tcp, (uv_os_sock_t)fd) < 0)
		return MB_EIO;
	s->state = SOL_UP;
	s->up_since = uv_now(loop);
	return 0;
}

void tr_solarman_test_input(void *state, const uint8_t *data, size_t len)
{
	struct sol *s = state;
	while (s->state == SOL_UP) {
		size_t n = len < sizeof s->chunk ? len : sizeof s->chunk;
		if (n)
			memcpy(s->chunk, data, n);
		sol__on_read((uv_stream_t *)&s->tcp, n ? (ssize_t)n : UV_EOF, NULL);
		if (n == 0 || (len -= n) == 0)
			break;
		data += n;
	}
}

struct txn *tr_solarman_test_current(void *state)
{
	return ((struct sol *)state)->cur;
}

static int tr_solarman__start(void *state, struct txn *t)
{
	struct sol *s = state;
	uint8_t rtu[V5_RTU_MAX], frame[V5_OVERHEAD + V5_REQ_PREFIX + V5_RTU_MAX];
	int n;
	if (s->state != SOL_UP)
		return MB_EXC_GATEWAY_PATH;
	if (t->op == TXN_READ) {
		s->cur_fc = t->table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
		n = v5_rtu_read(rtu, sizeof rtu, s->slave, s->cur_fc, t->native, t->count);
	} else if (t->fc == MB_FC_WRITE_SINGLE && t->count == 1) {
		s->cur_fc = MB_FC_WRITE_SINGLE;
		n = v5_rtu_write_single(rtu, sizeof rtu, s->slave, t->native, t->words[0]);
	} else {
		s->cur_fc = MB_FC_WRITE_MULTIPLE;
		n = v5_rtu_write_multiple(rtu, sizeof rtu, s->slave, t->native, t->count, t->words);
	}
	if (n < 0)
		return MB_EXC_ILLEGAL_VALUE;
	/* A fresh sequence byte per attempt, a retry of t included: the answer
	 * to an aborted attempt then no longer matches. */
	s->seq++;
	n = v5_encode_request(frame, sizeof frame, s->serial, s->seq, rtu, (size_t)n);
	if (n < 0)
		return MB_EXC_ILLEGAL_VALUE;
	/* Only the bytes libuv could not hand to the kernel tell a logger that
	 * does not read: write callbacks still due are normal within one loop
	 * iteration (a burst of time answers just before). */
	if (sol__queued(s) + (size_t)n > SOL_QUEUE_MAX) {
		/* Our earlier requests have not left in all that time: the
		 * logger stopped reading. A new connection is the only cure. */
		sol__drop_link(s, "the logger does not read our requests");
		return MB_EXC_GATEWAY_TARGET;
	}
	if (sol__send(s, frame, (size_t)n) < 0)
		return MB_EXC_GATEWAY_PATH;
	s->cur = t;
	return 0;
}

static void tr_solarman__abort(void *state, struct txn *t)
{
	struct sol *s = state;
	if (s->cur != t)
		return;
	s->cur = NULL;
	/* Whatever sits half-received belongs to the abandoned request (or is a
	 * false start that would hold up the next answer): start afresh. */
	v5_stream_reset(&s->stream);
}

static int tr_solarman__link_up(void *state)
{
	const struct sol *s = state;
	return s->state == SOL_UP;
}

static void tr_solarman__close(void *state)
{
	struct sol *s = state;
	s->closing = 1;
	s->cur = NULL;
	uv_timer_stop(&s->retry);
	uv_close((uv_handle_t *)&s->retry, sol__on_timer_closed);
	if (s->state == SOL_RESOLVING)
		uv_cancel((uv_req_t *)&s->gai); /* its callback still comes: refs */
	if (s->tcp_open && !uv_is_closing((uv_handle_t *)&s->tcp))
		uv_close((uv_handle_t *)&s->tcp, sol__on_tcp_closed);
}

const struct transport_ops transport_solarman = {
    .name = "solarman",
    .flags = TRANSPORT_MATCHES_ANSWERS, /* the echoed sequence byte */
    .max_read = MB_MAX_READ,
    .open = tr_solarman__open,
    .start = tr_solarman__start,
    .abort = tr_solarman__abort,
    .link_up = tr_solarman__link_up,
    .close = tr_solarman__close,
};

/* The Modbus TCP front end on libuv. Each connection is an explicit state
 * machine over a fixed input buffer: every complete ADU that arrived is
 * parsed and answered, a partial one is kept for the next read. Answers a
 * device gives at once are gathered into one buffer per read and written
 * with one try-write; answers that come later from a device (a native round
 * trip) are written when they come, with their own transaction ID, so they
 * may leave out of order, which Modbus TCP allows.
 *
 * A connection that will send no more requests (end of stream: the client
 * half-closed; or bytes that are not Modbus TCP) is drained, not dropped:
 * reading stops, the answers to the requests that came before are still
 * written, those still at a device when their device answers (the device
 * model answers every request within its `timeout`), then the write side is
 * shut down once every answer left, and the connection closes. A client that
 * does not read what it is owed is closed SERVER__LINGER_MS after the last
 * answer was queued. docs/user-guide.md ("How the listener treats clients") says this
 * for operators.
 *
 * Lifetimes: a connection is freed only in its close callback. Before the
 * handle is closed every request it still has at a device is cancelled, so
 * no device callback can reach it afterwards; libuv calls the callbacks of
 * queued writes and of a pending shutdown (cancelled) before the close
 * callback. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cidr.h"
#include "config.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "codec_mbap.h"
#include "mbdef.h"

#ifndef MB_VERSION
#define MB_VERSION "unknown"
#endif

/* Bytes of input a connection holds: many pipelined requests per read, and
 * always more than one whole ADU so that a partial one always fits. */
#define SERVER__IN_SIZE 4096
/* Requests one connection may have waiting at devices. At the cap the
 * connection stops reading, so a pipelining client cannot make us queue
 * without bound; TCP flow control then holds the client back. */
#define SERVER__MAX_PENDING 32
/* Answers a client has not read yet, beyond what the kernel buffers. A
 * client that lets more pile up is not reading and is closed (counted in
 * not_reading): the policy for a client that pipelines and never reads. */
#define SERVER__MAX_QUEUED (64 * 1024)
/* How long a draining connection may take to read the answers it is owed
 * once the last one was queued. */
#define SERVER__LINGER_MS 10000
/* Sweep period when no idle timeout sets a shorter one. */
#define SERVER__SWEEP_MS 1000
/* Answers gathered from one read before they are written. */
#define SERVER__OUT_SIZE 16384
/* Connections the kernel completes for us while the loop is busy (the
 * listen backlog). A SCADA master or a load test that opens a few hundred
 * connections at once overflows a small queue: the kernel then drops the
 * handshakes beyond it, and those clients wait for TCP's retransmission
 * (a second or more) before their first request is even read. 128 lost half
 * of 256 connections opened together; the kernel caps the figure at
 * net.core.somaxconn (4096 on current kernels), and an entry costs nothing
 * until a client is queued in it. */
#define SERVER__BACKLOG 1024
/* At most one "refused client" line per this many ms. */
#define SERVER__REFUSED_LOG_MS 10000

_Static_assert(SERVER__IN_SIZE > MBAP_MAX_FRAME, "a whole frame must fit the input buffer");
_Static_assert(SERVER__MAX_PENDING < 128, "pending slots are indexed by int8_t");

enum conn_state {
	CONN_READING,	/* reading and answering */
	CONN_THROTTLED, /* at the pending cap: reading stopped until answers come */
	CONN_DRAINING,	/* no more requests: owed answers are written, then it closes */
	CONN_CLOSING,	/* handle closing; freed in its close callback */
};

struct conn;

/* A request waiting at a device. The slot is the device callback's context. */
struct server__pending {
	struct conn *c;
	struct device_req *req;
	struct mbap_req head; /* tid, unit, fc, addr, count, value to answer with */
	int8_t next_free;
	uint8_t active;
};

struct conn {
	struct server *srv;
	uv_tcp_t tcp;
	struct conn *prev, *next; /* the server's connections */
	struct conn *resume_next; /* the server's resume list */
	enum conn_state state;
	uint8_t counted;   /* counts toward max_connections */
	uint8_t resuming;  /* on the resume list */
	uint8_t shutting;  /* draining, every answer queued: shutdown requested */
	int fd;		   /* the socket's, for conn__send's own writes; -1 = none */
	unsigned queued;   /* uv_write requests not yet called back */
	uint64_t last_rx;  /* loop time of the last complete request */
	uint64_t drain_by; /* shutting: loop time by which it must be done */
	const char *drain_why;
	uv_shutdown_t shutdown;
	unsigned npending;
	int free_head; /* first free pending slot, -1 = none */
	struct server__pending pend[SERVER__MAX_PENDING];
	char peer[INET6_ADDRSTRLEN + 8];
	struct sockaddr_storage addr; /* the client's, for write_allow */
	size_t inlen;
	uint8_t in[SERVER__IN_SIZE];
};

/* A write that try-write could not finish: owns the rest of the bytes. */
struct server__write {
	uv_write_t req;
	struct conn *c;
	size_t len;
	uint8_t data[];
};

struct server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t sweep; /* idle timeouts; runs only while a connection is open */
	uint64_t sweep_ms;
	uv_idle_t resume; /* runs throttled connections whose answers came */
	struct router router;
	struct cidr *allow;
	size_t nallow;
	struct cidr *write_allow; /* NULL: every client may write */
	size_t nwrite_allow;
	int max_connections;
	uint64_t idle_ms;
	struct conn *conns;
	struct conn *resume_head;
	size_t nactive;
	int handles; /* own handles not yet closed */
	int closing;
	int port;
	char name[INET6_ADDRSTRLEN + 16];
	struct server_stats stats;
	/* Refused clients are logged at the normal level, at most one line per
	 * SERVER__REFUSED_LOG_MS (a scanner must not flood the log). */
	uint64_t refused_logged; /* loop ms of the last line, 0 = never */
	uint64_t refused_quiet;	 /* refused since that line, not logged */
	/* The same for writes refused by write_allow. */
	uint64_t write_logged, write_quiet;
	size_t outlen;	/* in server__out, while conn__process runs */
	bool slow_only; /* server_test_slow_only: every request the ordinary way */
};

/* The gathering buffer of every listener: answers are gathered and written
 * within one call of conn__process (which starts and ends with it empty),
 * never across turns of the loop, so the listeners share one (16 KiB each
 * were 65 bytes a device for a fleet of 10,000 on 41 listeners). */
static uint8_t server__out[SERVER__OUT_SIZE];

static void conn__process(struct conn *c);
static int conn__start_reading(struct conn *c);

/* A client the allow list refuses: say so without -v (an installer testing
 * from the wrong address otherwise sees nothing), once per
 * SERVER__REFUSED_LOG_MS, with how many more were refused in between. */
static void server__log_refused(struct server *s, const char *peer)
{
	uint64_t now = uv_now(s->loop);
	if (s->refused_logged && now < s->refused_logged + SERVER__REFUSED_LOG_MS) {
		s->refused_quiet++;
		return;
	}
	if (s->refused_quiet)
		log_info("modbus: refused client %s: not in server.allow (and %llu more since the "
			 "last such message)",
			 peer, (unsigned long long)s->refused_quiet);
	else
		log_info("modbus: refused client %s: not in server.allow", peer);
	s->refused_logged = now | 1;
	s->refused_quiet = 0;
}

/* A write write_allow refuses, logged like a refused client. */
static void server__log_write_refused(struct server *s, const char *peer)
{
	uint64_t now = uv_now(s->loop);
	if (s->write_logged && now < s->write_logged + SERVER__REFUSED_LOG_MS) {
		s->write_quiet++;
		return;
	}
	if (s->write_quiet)
		log_info("modbus: refused a write from %s: not in server.write_allow (and %llu "
			 "more since the last such message)",
			 peer, (unsigned long long)s->write_quiet);
	else
		log_info("modbus: refused a write from %s: not in server.write_allow", peer);
	s->write_logged = now | 1;
	s->write_quiet = 0;
}

/* --- freeing --------------------------------------------------------------- */

static void server__maybe_free(struct server *s)
{
	if (s->closing && s->handles == 0 && !s->conns) {
		free(s->allow);
		free(s->write_allow);
		free(s);
	}
}

static void server__on_handle_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	s->handles--;
	server__maybe_free(s);
}

static void conn__on_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct server *s = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	server__maybe_free(s);
}

static void server__unresume(struct server *s, struct conn *c)
{
	if (!c->resuming)
		return;
	for (struct conn **pp = &s->resume_head; *pp; pp = &(*pp)->resume_next) {
		if (*pp == c) {
			*pp = c->resume_next;
			break;
		}
	}
	c->resuming = 0;
	c->resume_next = NULL;
}

/* Close c: cancel what it waits for, then the handle. Idempotent. */
static void conn__close(struct conn *c, const char *why)
{
	struct server *s = c->srv;
	if (c->state == CONN_CLOSING)
		return;
	log_debug("client %s: closed (%s)", c->peer, why);
	if (c->counted) {
		s->nactive--;
		c->counted = 0;
	}
	c->state = CONN_CLOSING;
	for (int i = 0; i < SERVER__MAX_PENDING; i++) {
		struct server__pending *p = &c->pend[i];
		if (p->active && p->req)
			device_cancel(p->req);
		p->active = 0;
		p->req = NULL;
	}
	c->npending = 0;
	server__unresume(s, c);
	uv_close((uv_handle_t *)&c->tcp, conn__on_closed);
}

/* --- output ---------------------------------------------------------------- */

static void conn__on_write(uv_write_t *req, int status)
{
	struct server__write *w = (struct server__write *)req;
	w->c->queued--;
	if (status < 0 && status != UV_ECANCELED)
		conn__close(w->c, uv_strerror(status));
	free(w);
}

/* Send len bytes: what the socket takes now goes at once, the rest is
 * copied and queued. A client whose queue grows past the bound is closed. */
static void conn__send(struct conn *c, const uint8_t *data, size_t len)
{
	if (c->state == CONN_CLOSING || len == 0)
		return;
	ssize_t n;
	if (c->queued == 0 && c->fd >= 0) {
		/* Nothing of ours waits in libuv's queue, so the bytes go
		 * straight to the socket, as uv_try_write would send them, at
		 * a sixth of its instructions (the answer of a cached read
		 * costs about as much as this call). */
		do
			n = send(c->fd, data, len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n == (ssize_t)len)
			return;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			/* libuv's codes on Unix are the negated errno */
			conn__close(c, uv_strerror(-errno));
			return;
		}
	} else {
		uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
		n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (n == (ssize_t)len)
			return;
		if (n < 0 && n != UV_EAGAIN) {
			conn__close(c, uv_strerror((int)n));
			return;
		}
	}
	if (n < 0)
		n = 0;
	size_t rest = len - (size_t)n;
	if (c->tcp.write_queue_size + rest > SERVER__MAX_QUEUED) {
		c->srv->stats.not_reading++;
		conn__close(c, "does not read its answers");
		return;
	}
	struct server__write *w = malloc(sizeof *w + rest);
	if (!w) {
		conn__close(c, "out of memory");
		return;
	}
	w->c = c;
	w->len = rest;
	memcpy(w->data, data + n, rest);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)rest);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn__on_write);
	if (rc < 0) {
		free(w);
		conn__close(c, uv_strerror(rc));
		return;
	}
	c->queued++;
}

static void conn__on_shutdown(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	/* UV_ECANCELED: the connection was closed meanwhile. */
	conn__close(c, status < 0 ? uv_strerror(status) : c->drain_why);
}

/* Draining and nothing left at a device: shut the write side down once the
 * queued answers are written (libuv orders the shutdown after them), then
 * close. */
static void conn__finish(struct conn *c)
{
	if (c->state != CONN_DRAINING || c->npending || c->shutting)
		return;
	c->shutting = 1;
	c->drain_by = uv_now(c->srv->loop) + SERVER__LINGER_MS;
	c->shutdown.data = c;
	int rc = uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, conn__on_shutdown);
	if (rc < 0)
		conn__close(c, uv_strerror(rc));
}

/* c will send no more requests: stop reading, answer what it asked, close.
 * The caller has flushed the gathering buffer. */
static void conn__drain(struct conn *c, const char *why)
{
	if (c->state == CONN_CLOSING || c->state == CONN_DRAINING)
		return;
	log_debug("client %s: %s; closing once %u pending answer%s are written", c->peer, why,
		  c->npending, c->npending == 1 ? "" : "s");
	uv_read_stop((uv_stream_t *)&c->tcp);
	server__unresume(c->srv, c);
	c->state = CONN_DRAINING;
	c->drain_why = why;
	conn__finish(c);
}

/* Write what the gathering buffer holds for c. */
static void server__flush(struct server *s, struct conn *c)
{
	if (s->outlen)
		conn__send(c, server__out, s->outlen);
	s->outlen = 0;
}

/* Room for one more answer in the gathering buffer. */
static uint8_t *server__room(struct server *s, struct conn *c)
{
	if (s->outlen + MBAP_MAX_ADU > sizeof server__out)
		server__flush(s, c);
	return server__out + s->outlen;
}

static void server__emit(struct server *s, int n)
{
	if (n > 0)
		s->outlen += (size_t)n;
}

/* --- pending requests ------------------------------------------------------ */

static struct server__pending *conn__take_slot(struct conn *c)
{
	if (c->free_head < 0)
		return NULL;
	struct server__pending *p = &c->pend[c->free_head];
	c->free_head = p->next_free;
	p->active = 1;
	p->req = NULL;
	c->npending++;
	return p;
}

static void conn__release_slot(struct conn *c, struct server__pending *p)
{
	if (!p->active)
		return;
	p->active = 0;
	p->req = NULL;
	p->next_free = (int8_t)c->free_head;
	c->free_head = (int)(p - c->pend);
	c->npending--;
}

static void server__on_resume(uv_idle_t *h)
{
	struct server *s = h->data;
	while (s->resume_head) {
		struct conn *c = s->resume_head;
		s->resume_head = c->resume_next;
		c->resume_next = NULL;
		c->resuming = 0;
		conn__process(c);
	}
	uv_idle_stop(&s->resume);
}

/* A throttled connection has room again: continue with what it buffered
 * from the loop, not from inside the device callback that freed the room,
 * so that a device is never re-entered from its own callback. */
static void conn__schedule_resume(struct conn *c)
{
	struct server *s = c->srv;
	if (c->resuming || c->state != CONN_THROTTLED || s->closing)
		return;
	c->resuming = 1;
	c->resume_next = s->resume_head;
	s->resume_head = c;
	uv_idle_start(&s->resume, server__on_resume);
}

/* The device answered a request that waited. */
static void server__on_answer(void *ctx, enum mb_exc status, const uint16_t *words, uint16_t count)
{
	struct server__pending *p = ctx;
	struct conn *c = p->c;
	struct mbap_req head = p->head;
	uint8_t out[MBAP_MAX_ADU];

	conn__release_slot(c, p);
	if (status == MB_EXC_NONE &&
	    (head.fc == MB_FC_READ_HOLDING || head.fc == MB_FC_READ_INPUT) &&
	    (!words || count != head.count))
		status = MB_EXC_DEVICE_FAILURE; /* never answer what we do not have */
	if (status != MB_EXC_NONE)
		c->srv->stats.exceptions++;
	int n = codec_mbap_answer(&head, status, words, out, sizeof out);
	if (n > 0)
		conn__send(c, out, (size_t)n);
	if (c->state == CONN_DRAINING) {
		conn__finish(c);
	} else if (c->state != CONN_CLOSING) {
		c->last_rx = uv_now(c->srv->loop);
		conn__schedule_resume(c);
	}
}

/* --- requests -------------------------------------------------------------- */

static void conn__identify(struct server *s, struct conn *c, struct device *dev,
			   const struct mbap_req *req)
{
	const struct map *m = device_map(dev);
	const char *vendor = m ? map_vendor(m) : NULL;
	const char *model = m ? map_model(m) : NULL;
	const char *objects[MBAP_NOBJ] = {
	    [MBAP_OBJ_VENDOR] = vendor ? vendor : "modbridge",
	    [MBAP_OBJ_PRODUCT] = model ? model
				 : m   ? map_name(m)
				       : "modbridge",
	    [MBAP_OBJ_REVISION] = MB_VERSION,
	};
	server__emit(s, codec_mbap_answer_ident(req, objects, server__room(s, c), MBAP_MAX_ADU));
}

/* Answer one parsed request, now into the gathering buffer or later from
 * a device callback. */
static void conn__request(struct server *s, struct conn *c, const struct mbap_req *req)
{
	struct device *dev = s->router.unit[req->unit];
	uint16_t words[MB_MAX_READ];
	struct device_outcome rc = {.pending = 0, .exc = MB_EXC_DEVICE_FAILURE};

	if (!dev) {
		rc.exc = MB_EXC_GATEWAY_PATH;
		goto exception;
	}
	if (req->exc) {
		rc.exc = (enum mb_exc)req->exc;
		goto exception;
	}
	/* A client write_allow leaves out may read, not write: 01, as for a
	 * function the server does not offer it (docs/user-guide.md, "The
	 * modbus group"). Every write function the codec admits is here. */
	if ((req->fc == MB_FC_WRITE_SINGLE || req->fc == MB_FC_WRITE_MULTIPLE) && s->nwrite_allow &&
	    !cidr_match(s->write_allow, s->nwrite_allow, (struct sockaddr *)&c->addr)) {
		s->stats.write_refused++;
		server__log_write_refused(s, c->peer);
		rc.exc = MB_EXC_ILLEGAL_FUNCTION;
		goto exception;
	}
	if (req->fc == MB_FC_MEI) {
		conn__identify(s, c, dev, req);
		return;
	}

	struct server__pending *p = conn__take_slot(c);
	if (!p) /* cannot happen: the caller checks the cap */
		goto exception;
	p->c = c;
	p->head = *req;
	p->head.values = NULL; /* points into the input buffer, which moves */
	switch (req->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		rc = device_read(dev, req->fc, req->addr, req->count, words, server__on_answer, p,
				 &p->req);
		break;
	case MB_FC_WRITE_SINGLE:
	case MB_FC_WRITE_MULTIPLE:
		codec_mbap_req_words(req, words);
		rc = device_write(dev, req->fc, req->addr, req->count, words, server__on_answer, p,
				  &p->req);
		break;
	default:
		rc.exc = MB_EXC_ILLEGAL_FUNCTION;
		break;
	}
	if (rc.pending) {
		/* The slot stays taken until the callback (unless the device
		 * already called it, which released the slot). */
		return;
	}
	conn__release_slot(c, p);
	if (c->state == CONN_CLOSING)
		return;
	if (rc.exc == MB_EXC_NONE) {
		server__emit(s, codec_mbap_answer(req, MB_EXC_NONE, words, server__room(s, c),
						  MBAP_MAX_ADU));
		return;
	}
exception:
	s->stats.exceptions++;
	server__emit(
	    s, codec_mbap_answer_exception(req, (uint8_t)rc.exc, server__room(s, c), MBAP_MAX_ADU));
}

/* --- the connection state machine ------------------------------------------ */

/* The fast path: from off, the plain reads the cache answers at once, each
 * answer written straight into the gathering buffer -- no request
 * structure, pending slot or copy of the words -- until a request that is
 * not one (an exception, a stale word, a write...), which the ordinary path
 * then answers as it always did. The answers are the ordinary path's, byte
 * for byte (tests/unit/test_server_fast.c). What it needs of a device is
 * taken once (device_view) while the requests name the same unit, as a
 * master's usually all do, and its hits are counted together. Where the
 * next request starts. */
static size_t conn__fast(struct server *s, struct conn *c, size_t off, uint64_t now)
{
	const uint8_t *in = c->in;
	size_t inlen = c->inlen, outlen = s->outlen;
	uint64_t n = 0, hits = 0;
	unsigned unit = 256; /* v's, once there is one */
	struct device_view v;
	for (;;) {
		const uint8_t *f = in + off;
		uint16_t addr, count;
		if (!codec_mbap_read_frame(f, inlen - off, &addr, &count))
			break;
		if (f[6] != unit) {
			struct device *dev = s->router.unit[f[6]];
			if (!dev)
				break;
			if (unit == 256 || dev != v.dev) {
				if (hits)
					device_view_count(v.dev, hits);
				hits = 0;
				device_view(dev, &v);
			}
			unit = f[6];
		}
		/* FC03 or FC04 (codec_mbap_read_frame): the holding or the
		 * input table. */
		_Static_assert(MAP_HOLDING == 0 &&
				   MAP_INPUT == MB_FC_READ_INPUT - MB_FC_READ_HOLDING,
			       "tables");
		const uint16_t *words;
		if (!device_view_read(&v, f[7] - MB_FC_READ_HOLDING, addr, count, &words))
			break;
		off += MBAP_READ_FRAME;
		hits++;
		n++;
		if (outlen > sizeof server__out - MBAP_MAX_ADU) {
			s->outlen = outlen;
			server__flush(s, c);
			outlen = 0;
			if (c->state == CONN_CLOSING)
				break;
		}
		outlen += codec_mbap_read_answer(f, words, count, server__out + outlen);
	}
	if (hits)
		device_view_count(v.dev, hits);
	s->outlen = outlen;
	if (n) {
		s->stats.requests += n;
		c->last_rx = now;
	}
	return off;
}

/* Parse and answer every complete ADU in the input buffer; keep a partial
 * one; stop at the pending cap. */
static void conn__process(struct conn *c)
{
	struct server *s = c->srv;
	uint64_t now = uv_now(s->loop); /* the loop's time: the same for every request */
	size_t off = 0;
	int garbage = 0;

	s->outlen = 0;
	if (c->state == CONN_DRAINING || c->state == CONN_CLOSING)
		return;
	while (c->state != CONN_CLOSING) {
		if (c->npending >= SERVER__MAX_PENDING) {
			if (c->state == CONN_READING) {
				uv_read_stop((uv_stream_t *)&c->tcp);
				c->state = CONN_THROTTLED;
			}
			break;
		}
		if (!s->slow_only) {
			off = conn__fast(s, c, off, now);
			if (c->state == CONN_CLOSING)
				break;
		}
		if (off == c->inlen)
			break; /* usually: the fast path answered everything */
		const uint8_t *f = c->in + off;
		struct mbap_req req;
		int n = codec_mbap_parse(f, c->inlen - off, &req);
		if (n == 0)
			break;
		if (n < 0) {
			/* The requests before it are answered all the same
			 * (a write already applied must be acknowledged). */
			s->stats.garbage++;
			log_debug("client %s: garbage (not Modbus TCP framing)", c->peer);
			garbage = 1;
			break;
		}
		off += (size_t)n;
		c->last_rx = now;
		s->stats.requests++;
		conn__request(s, c, &req);
	}
	if (c->state == CONN_CLOSING) {
		s->outlen = 0;
		return;
	}
	if (garbage) {
		c->inlen = 0;
	} else if (off) {
		/* Usually everything was consumed; keep only a partial ADU. */
		if (off < c->inlen)
			memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
	}
	server__flush(s, c);
	if (garbage) {
		conn__drain(c, "garbage");
		return;
	}
	if (c->state == CONN_THROTTLED && c->npending < SERVER__MAX_PENDING) {
		c->state = CONN_READING;
		int rc = conn__start_reading(c);
		if (rc < 0)
			conn__close(c, uv_strerror(rc));
	}
}

static void conn__alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)hint;
	*buf = uv_buf_init((char *)c->in + c->inlen, (unsigned)(sizeof c->in - c->inlen));
}

static void conn__on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	(void)buf;
	if (nread == UV_EOF) {
		/* Perhaps only a half-close: the client still reads the
		 * answers to what it sent. A partial request is dropped. */
		c->inlen = 0;
		conn__drain(c, "end of stream");
		return;
	}
	if (nread < 0) {
		conn__close(c, uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	c->inlen += (size_t)nread;
	conn__process(c);
}

static int conn__start_reading(struct conn *c)
{
	return uv_read_start((uv_stream_t *)&c->tcp, conn__alloc, conn__on_read);
}

/* --- accepting ------------------------------------------------------------- */

static void server__peer_name(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, ip, sizeof ip);
		port = ntohs(a->sin_port);
		snprintf(out, outlen, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, ip, sizeof ip);
		port = ntohs(a->sin6_port);
		snprintf(out, outlen, "[%s]:%d", ip, port);
	} else {
		snprintf(out, outlen, "?");
	}
}

static void server__on_sweep(uv_timer_t *t);

static void server__on_connection(uv_stream_t *l, int status)
{
	struct server *s = l->data;
	if (status < 0) {
		log_warn("modbus %s: accept: %s", s->name, uv_strerror(status));
		return;
	}
	struct conn *c = malloc(sizeof *c);
	if (!c) {
		log_err("modbus %s: out of memory for a connection", s->name);
		return;
	}
	memset(c, 0, offsetof(struct conn, in));
	c->srv = s;
	c->fd = -1;
	c->state = CONN_READING;
	c->free_head = -1;
	for (int i = SERVER__MAX_PENDING - 1; i >= 0; i--) {
		c->pend[i].next_free = (int8_t)c->free_head;
		c->free_head = i;
	}
	snprintf(c->peer, sizeof c->peer, "?");
	uv_tcp_init(s->loop, &c->tcp);
	c->tcp.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	/* The sweep sleeps while no client is connected, so that an idle
	 * router is not woken every second (docs/footprint.md). */
	if (!uv_is_active((uv_handle_t *)&s->sweep))
		uv_timer_start(&s->sweep, server__on_sweep, s->sweep_ms, s->sweep_ms);

	int rc = uv_accept(l, (uv_stream_t *)&c->tcp);
	if (rc < 0) {
		conn__close(c, uv_strerror(rc));
		return;
	}
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0)
		server__peer_name(&ss, c->peer, sizeof c->peer);
	c->addr = ss;
	uv_os_fd_t fd;
	c->fd = uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 ? fd : -1;
	s->stats.accepted++;
	if (s->nallow && !cidr_match(s->allow, s->nallow, (struct sockaddr *)&ss)) {
		s->stats.not_allowed++;
		server__log_refused(s, c->peer);
		conn__close(c, "not in the allow list");
		return;
	}
	if (s->max_connections > 0 && s->nactive >= (size_t)s->max_connections) {
		s->stats.over_limit++;
		conn__close(c, "max_connections reached");
		return;
	}
	c->counted = 1;
	s->nactive++;
	/* Answers are small and clients wait for each: send at once. */
	uv_tcp_nodelay(&c->tcp, 1);
	c->last_rx = uv_now(s->loop);
	log_debug("client %s: connected (%zu open)", c->peer, s->nactive);
	rc = conn__start_reading(c);
	if (rc < 0)
		conn__close(c, uv_strerror(rc));
}

static void server__on_sweep(uv_timer_t *t)
{
	struct server *s = t->data;
	uint64_t now = uv_now(s->loop);
	if (!s->conns) {
		uv_timer_stop(t); /* the next connection starts it again */
		return;
	}
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->state == CONN_CLOSING)
			continue;
		if (c->state == CONN_DRAINING) {
			if (c->shutting && now >= c->drain_by) {
				s->stats.not_reading++;
				conn__close(c, "does not read the answers it is owed");
			}
			continue;
		}
		/* A client that waits for a device is not idle. */
		if (!s->idle_ms || c->npending)
			continue;
		if (now >= c->last_rx && now - c->last_rx >= s->idle_ms) {
			s->stats.idle_closed++;
			conn__close(c, "idle timeout");
		}
	}
}

/* --- the listener ---------------------------------------------------------- */

/* Bind a listening socket ourselves, so that every failure is reported
 * before a libuv handle exists (no handle left to close on error). */
static int server__bind(const struct sockaddr *sa, socklen_t salen, char *why, size_t whylen)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
	int on = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (bind(fd, sa, salen) < 0 || listen(fd, SERVER__BACKLOG) < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int server_start(uv_loop_t *loop, const struct config *conf, const struct router *router,
		 struct server **out, char *err, size_t errlen)
{
	const char *host = conf->server.listen ? conf->server.listen : "0.0.0.0";
	int port = conf->server.port;
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} addr;
	socklen_t salen;
	char why[128];

	memset(&addr, 0, sizeof addr);
	if (port < 0 || port > 65535) {
		snprintf(err, errlen, "listen %s:%d: port out of range", host, port);
		return MB_EINVAL;
	}
	if (uv_ip4_addr(host, port, &addr.in4) == 0) {
		salen = sizeof addr.in4;
	} else if (uv_ip6_addr(host, port, &addr.in6) == 0) {
		salen = sizeof addr.in6;
	} else {
		snprintf(err, errlen, "listen %s:%d: not an IPv4 or IPv6 address", host, port);
		return MB_EINVAL;
	}

	struct server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "listen %s:%d: out of memory", host, port);
		return MB_ENOMEM;
	}
	if (server_set_access(s, conf) != 0) {
		free(s);
		snprintf(err, errlen, "listen %s:%d: out of memory", host, port);
		return MB_ENOMEM;
	}

	int fd = server__bind(&addr.sa, salen, why, sizeof why);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s%s%s:%d: %s", salen == sizeof addr.in6 ? "[" : "",
			 host, salen == sizeof addr.in6 ? "]" : "", port, why);
		free(s->allow);
		free(s->write_allow);
		free(s);
		return MB_EIO;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof bound;
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
		server__peer_name(&bound, s->name, sizeof s->name);
	s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
					      : ntohs(((struct sockaddr_in *)&bound)->sin_port);

	s->loop = loop;
	s->max_connections = conf->server.max_connections;
	s->idle_ms = conf->server.idle_timeout > 0 ? (uint64_t)conf->server.idle_timeout * 1000 : 0;
	if (router)
		s->router = *router;
	uv_tcp_init(loop, &s->listener);
	uv_timer_init(loop, &s->sweep);
	uv_idle_init(loop, &s->resume);
	s->listener.data = s->sweep.data = s->resume.data = s;
	s->handles = 3;

	int rc = uv_tcp_open(&s->listener, fd);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, SERVER__BACKLOG, server__on_connection);
	if (rc < 0) {
		snprintf(err, errlen, "listen %s: %s", s->name, uv_strerror(rc));
		server_close(s); /* frees itself once the loop has closed the handles */
		return MB_EIO;
	}
	/* Swept while any connection is open (draining ones have a deadline
	 * too, even without idle_timeout); started by the first connection. */
	uint64_t tick = s->idle_ms ? s->idle_ms / 4 : SERVER__SWEEP_MS;
	s->sweep_ms = tick < 50 ? 50 : tick > SERVER__SWEEP_MS ? SERVER__SWEEP_MS : tick;
	log_info("modbus: listening on %s", s->name);
	*out = s;
	return 0;
}

void server_set_router(struct server *s, const struct router *router)
{
	/* Requests already waiting keep the device they were given. */
	if (router)
		s->router = *router;
	else
		memset(&s->router, 0, sizeof s->router);
}

/* A copy of n entries (NULL for none); -1 when out of memory. */
static int server__copy_cidrs(const struct cidr *in, size_t n, struct cidr **out)
{
	*out = NULL;
	if (!n)
		return 0;
	if (!(*out = malloc(n * sizeof **out)))
		return -1;
	memcpy(*out, in, n * sizeof **out);
	return 0;
}

int server_set_access(struct server *s, const struct config *conf)
{
	struct cidr *allow, *write_allow;
	if (server__copy_cidrs(conf->server.allow, conf->server.nallow, &allow) != 0)
		return MB_ENOMEM;
	if (server__copy_cidrs(conf->server.write_allow, conf->server.nwrite_allow, &write_allow) !=
	    0) {
		free(allow);
		return MB_ENOMEM;
	}
	free(s->allow);
	free(s->write_allow);
	s->allow = allow;
	s->nallow = conf->server.nallow;
	s->write_allow = write_allow;
	s->nwrite_allow = conf->server.nwrite_allow;
	return 0;
}

void server_close(struct server *s)
{
	if (!s || s->closing)
		return;
	s->closing = 1;
	uv_close((uv_handle_t *)&s->listener, server__on_handle_closed);
	uv_close((uv_handle_t *)&s->sweep, server__on_handle_closed);
	uv_close((uv_handle_t *)&s->resume, server__on_handle_closed);
	s->resume_head = NULL;
	for (struct conn *c = s->conns; c; c = c->next) {
		c->resuming = 0;
		conn__close(c, "shutdown");
	}
}

int server_port(const struct server *s)
{
	return s->port;
}

size_t server_connections(const struct server *s)
{
	return s->nactive;
}

const struct server_stats *server_stats(const struct server *s)
{
	return &s->stats;
}

void server_test_slow_only(struct server *s, bool slow)
{
	s->slow_only = slow;
}

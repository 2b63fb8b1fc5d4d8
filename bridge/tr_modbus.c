/* The `modbus` transport: real Modbus equipment as upstream devices, on a
 * serial line (Modbus RTU) or over Modbus TCP, through libmodbus
 * (docs/design.md, "Worker threads: the modbus transport").
 *
 * Waiting for an answer blocks, so it never happens on the loop. Each bus —
 * one serial line (every device with the same `device` path and line
 * settings), or one TCP connection (every device with the same host and
 * port) — has one worker thread that owns the bus's libmodbus context and
 * runs one transaction at a time, in the order the loop handed them over.
 * That is the bus sharing: two slaves on one RS-485 line never see
 * interleaved frames, and `gap` ms of silence (never less) is kept between
 * the end of one transaction and the start of the next.
 *
 * libmodbus opens the port (line settings, TCP connect); the worker writes
 * the request and reads the answer itself, because libmodbus 3.1.6 cannot
 * bound a transaction (its byte timeout restarts with every byte; its
 * response timeout bounds the whole answer only where select() updates its
 * timeval, which musl's does not), takes a TCP answer naming another unit,
 * and cannot go on waiting past a frame that is not the answer. Each
 * transaction has one deadline; an answer whose bytes stop for TR_MODBUS_BYTE_MS
 * is given up; every wait also watches the bus's wake pipe, which the loop
 * writes to on stop, so a stop never waits on a transaction.
 *
 * Answers bound to their requests (docs/design.md, "Modbus"): over TCP by
 * the transaction ID (the bus's own, counted on across reconnections) and
 * the unit ID. On a serial line, where frames carry no ID, the worker keeps
 * ghosts of requests whose answers did not come, makes the next request's
 * answer look unlike theirs (a read widened by registers the map says
 * exist, a single write switching FC06/FC16) or holds it until they end,
 * and drops every frame that could be a ghost's.
 *
 * Loop and worker share only the bus's mutex-guarded fields: a FIFO of jobs
 * to run, a FIFO of jobs done, the link state the worker last saw and the
 * stop flag. The loop allocates and frees every job; the worker fills in a
 * job's result and never frees it. The worker wakes the loop with
 * uv_async_send() (the one libuv call that is safe from another thread).
 *
 * Outcomes (docs/design.md, "Modbus exception codes"): a device exception
 * passes through unchanged; no answer is left to the device model's attempt
 * timer (a retry, else 0B); a CRC error, a malformed, late or foreign answer
 * is dropped and counted, and the answer still awaited until the deadline;
 * a port that cannot be opened or vanished takes the link down (queued
 * requests 0A, the one in flight 0B) and the worker reopens it with the
 * shared back-off (bridge/backoff.c). */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <libconfig.h>
#include <poll.h>
#include <sys/socket.h>
#include <modbus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "codec_crc16.h"
#include "config.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"

/* How long opening a TCP connection may take (libmodbus bounds its connect
 * by the response timeout), so that a stop never waits longer. */
#define TR_MODBUS_CONNECT_MS 2000u
/* How often an idle worker looks at its open port: a serial adapter pulled
 * or a TCP peer that closed is noticed within this, not at the next
 * transaction. */
#define TR_MODBUS_IDLE_CHECK_MS 1000u
/* Serial line default: a little silence between frames, for slaves that
 * need it beyond the 3.5 characters of the RTU framing. */
#define TR_MODBUS_GAP_SERIAL 10
/* An answer whose bytes stop for this long is given up (the byte timeout);
 * the whole transaction is bounded by its own deadline besides. */
#define TR_MODBUS_BYTE_MS 100u
/* Requests on a serial line whose answers may still come (per bus), each for
 * two device timeouts but at least TR_MODBUS_GHOST_MIN_MS: a late answer may be
 * later still when the machine is busy, and a ghost that lives longer costs
 * only reads that cannot be widened. */
#define TR_MODBUS_GHOSTS 16
#define TR_MODBUS_GHOST_MIN_MS 2000u
/* A read may be widened by up to this many registers (see tr_modbus__prepare). */
#define TR_MODBUS_WIDEN_MAX 8
/* The longest ADU either way: MBAP 7 + PDU 253, or RTU 256. */
#define TR_MODBUS_MAX_ADU 260

/* The device's `modbus` block (docs/user-guide.md, "Modbus equipment"). -1
 * marks a key not given, so that cfg_done can tell serial keys from TCP
 * keys; it then fills in the defaults. */
struct tr_modbus_cfg {
	char *device; /* serial: the port's path */
	int baud, data_bits, stop_bits, slave;
	uint8_t parity; /* 'N', 'E', 'O' after cfg_done; choice index before */
	char *host;	/* TCP */
	int port, unit;
	int gap; /* ms of silence between transactions on the bus */
};

enum tr_modbus_result {
	TR_MODBUS_OK,
	TR_MODBUS_EXC,	    /* the device answered an exception (code) */
	TR_MODBUS_NOPATH,   /* the bus is not open: never sent */
	TR_MODBUS_NOANSWER, /* sent, no answer in time */
	TR_MODBUS_BAD,	    /* an answer that was damaged or did not match (CRC ...) */
	TR_MODBUS_LOST,	    /* the port or connection failed under the transaction */
};

struct tr_modbus_dev;

/* One transaction handed to the worker. */
struct tr_modbus_job {
	struct tr_modbus_job *next;
	struct tr_modbus_dev *owner; /* loop side; the worker never reads it */
	uint8_t fc, slave;
	uint16_t addr, count;
	uint32_t timeout_ms;
	uint32_t id;		      /* struct txn.id: attempts of one transaction share it */
	uint64_t ghost_ns;	      /* how long its answer may still come (two device timeouts) */
	uint8_t widen_max;	      /* registers after the range that the map says exist */
	uint16_t words[MB_MAX_READ];  /* write values in; read values out */
	enum tr_modbus_result result; /* filled by the worker */
	int code;		      /* TR_MODBUS_EXC: the exception; else errno */
	unsigned drops;		      /* frames dropped while it ran (late, damaged, foreign) */
	unsigned wrong_unit;	      /* of them: TCP answers naming another unit */
};

/* A request as it went on the line (a read maybe widened, a single write
 * maybe with the other function code). */
struct tr_modbus_req {
	uint8_t slave, fc;
	uint16_t addr, count, value; /* value: FC06's */
};

/* A request whose answer did not come in time and still may. */
struct tr_modbus_ghost {
	struct tr_modbus_req req;
	uint32_t id;	/* its transaction */
	uint64_t seq;	/* sent as the bus's seq-th request */
	uint64_t until; /* monotonic ns; 0 = free */
};

struct tr_modbus_bus {
	struct tr_modbus_bus *next; /* the loop's list of buses */
	char *name;		    /* "/dev/ttyUSB0" or "host:port", for messages */
	int serial;
	char *path; /* serial */
	int baud, data_bits, stop_bits;
	char parity;
	char *host; /* TCP */
	char port[8];
	uv_loop_t *loop;
	uv_async_t async;
	pthread_t thread;

	/* loop only */
	struct tr_modbus_dev *devs;
	unsigned ndevs;
	int up;		     /* what the devices were told */
	unsigned gen;	     /* worker's open count the devices were told about */
	unsigned anew;	     /* w_anew already logged */
	unsigned long fails; /* open failures already logged */
	int denied;	     /* this outage's "permission denied" was warned about */

	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct tr_modbus_job *qhead, *qtail; /* to run */
	struct tr_modbus_job *dhead, *dtail; /* done */
	int w_up;			     /* the bus is open */
	unsigned w_gen;			     /* opens so far */
	int w_err;			     /* errno of the last open failure or loss */
	unsigned w_anew;		     /* TCP connections the peer closed, made anew */
	unsigned long w_fails;		     /* open failures in a row */
	int stop, exited;
	uint32_t gap_ms;

	/* worker only */
	int wake[2];	   /* a pipe: the loop writes to it to cut the worker's waits short */
	uint32_t w_gap_ms; /* gap_ms as of the job running */
	uint8_t rx[2 * TR_MODBUS_MAX_ADU];
	size_t rn;	     /* bytes received and not yet a frame */
	uint64_t last_rx;    /* monotonic ns of the last byte received */
	uint16_t tid;	     /* TCP: the last transaction ID, across connections */
	uint64_t seq;	     /* requests sent */
	unsigned idle_drops; /* frames dropped between jobs, counted on the next */
	struct tr_modbus_ghost ghosts[TR_MODBUS_GHOSTS];
};

/* A device's transport state. */
struct tr_modbus_dev {
	const struct transport_env *env; /* the device model (loop thread only) */
	struct device *dev;
	struct tr_modbus_bus *bus;
	struct tr_modbus_dev *next; /* on the bus */
	const struct map *map;
	uint8_t slave;
	uint32_t gap_ms;
	struct txn *cur;	   /* the transaction in flight */
	struct tr_modbus_job *job; /* its job */
	unsigned jobs_out;	   /* jobs of this device the loop has not freed */
	int closed;
	int told_up;
	unsigned told_gen;
};

static struct tr_modbus_bus *tr_modbus__buses; /* loop thread only */

/* Serial paths open in this process, so that two buses on one port (a
 * reload that changed the line settings, while the old bus finishes) never
 * talk over each other: the second waits, retrying with back-off. */
static pthread_mutex_t tr_modbus__lines_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *tr_modbus__lines[64];

static int tr_modbus__line_take(const char *path)
{
	int ok = 0;
	pthread_mutex_lock(&tr_modbus__lines_mu);
	size_t free_slot = sizeof tr_modbus__lines / sizeof tr_modbus__lines[0];
	for (size_t i = 0; i < sizeof tr_modbus__lines / sizeof tr_modbus__lines[0]; i++) {
		if (tr_modbus__lines[i] && strcmp(tr_modbus__lines[i], path) == 0)
			goto out;
		if (!tr_modbus__lines[i] &&
		    free_slot == sizeof tr_modbus__lines / sizeof tr_modbus__lines[0])
			free_slot = i;
	}
	if (free_slot < sizeof tr_modbus__lines / sizeof tr_modbus__lines[0]) {
		tr_modbus__lines[free_slot] = path;
		ok = 1;
	}
out:
	pthread_mutex_unlock(&tr_modbus__lines_mu);
	return ok;
}

static void tr_modbus__line_give(const char *path)
{
	pthread_mutex_lock(&tr_modbus__lines_mu);
	for (size_t i = 0; i < sizeof tr_modbus__lines / sizeof tr_modbus__lines[0]; i++)
		if (tr_modbus__lines[i] == path)
			tr_modbus__lines[i] = NULL;
	pthread_mutex_unlock(&tr_modbus__lines_mu);
}

/* ---------------------------------------------------------- worker -- */

static uint64_t tr_modbus__now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait on the bus's condition until monotonic time `until` ns (mu held). */
static void tr_modbus__wait_until(struct tr_modbus_bus *b, uint64_t until)
{
	struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u),
			      .tv_nsec = (long)(until % 1000000000u)};
	pthread_cond_timedwait(&b->cond, &b->mu, &ts);
}

static void tr_modbus__set_timeout(modbus_t *ctx, uint32_t ms)
{
	modbus_set_response_timeout(ctx, ms / 1000u, (ms % 1000u) * 1000u);
}

/* Open the bus (worker, mu not held): a libmodbus context, connected. */
static modbus_t *tr_modbus__bus_open(struct tr_modbus_bus *b, int *err)
{
	modbus_t *ctx;
	if (b->serial) {
		if (!tr_modbus__line_take(b->path)) {
			*err = EBUSY;
			return NULL;
		}
		ctx = modbus_new_rtu(b->path, b->baud, b->parity, b->data_bits, b->stop_bits);
	} else {
		ctx = modbus_new_tcp_pi(b->host, b->port);
	}
	if (!ctx) {
		*err = errno;
		if (b->serial)
			tr_modbus__line_give(b->path);
		return NULL;
	}
	tr_modbus__set_timeout(ctx, TR_MODBUS_CONNECT_MS);
	if (modbus_connect(ctx) != 0) {
		*err = errno;
		modbus_free(ctx);
		if (b->serial)
			tr_modbus__line_give(b->path);
		return NULL;
	}
	b->rn = 0;
	return ctx;
}

static void tr_modbus__shut(struct tr_modbus_bus *b, modbus_t *ctx)
{
	modbus_close(ctx);
	modbus_free(ctx);
	b->rn = 0;
	if (b->serial)
		tr_modbus__line_give(b->path);
}

/* Is errno e a sign that the port or the connection itself failed (the
 * adapter was pulled, the peer closed), rather than one answer? */
static int tr_modbus__lost(int e)
{
	return e == EIO || e == ENXIO || e == ENODEV || e == EBADF || e == ECONNRESET ||
	       e == EPIPE || e == ENOTCONN || e == ECONNREFUSED;
}

/* Wait until fd is ready for ev, monotonic time `until` (ns) has passed, or
 * the loop asks the worker to stop: 1, 0, -1 (stop), -2 (the port hung up
 * or failed). Milliseconds for poll() are rounded up, so a wait is never
 * shorter than asked. */
static int tr_modbus__wait_fd(struct tr_modbus_bus *b, int fd, short ev, uint64_t until)
{
	for (;;) {
		uint64_t now = tr_modbus__now_ns();
		int ms = until > now ? (int)((until - now + 999999u) / 1000000u) : 0;
		struct pollfd p[2] = {{.fd = fd, .events = ev},
				      {.fd = b->wake[0], .events = POLLIN}};
		int r = poll(p, 2, ms);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -2;
		}
		if (p[1].revents)
			return -1;
		if (p[0].revents & ev)
			return 1;
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			return -2;
		if (tr_modbus__now_ns() >= until)
			return 0;
	}
}

static uint16_t tr_modbus__be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Could PDU p (n bytes, function code first) from slave be the answer to q? */
static int tr_modbus__fits(const struct tr_modbus_req *q, uint8_t slave, const uint8_t *p, size_t n)
{
	if (slave != q->slave || n < 2)
		return 0;
	if (p[0] == (q->fc | 0x80))
		return n == 2;
	if (p[0] != q->fc)
		return 0;
	switch (q->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		return n == 2u + 2u * q->count && p[1] == 2u * q->count;
	case MB_FC_WRITE_SINGLE:
		return n == 5 && tr_modbus__be16(p + 1) == q->addr &&
		       tr_modbus__be16(p + 3) == q->value;
	default:
		return n == 5 && tr_modbus__be16(p + 1) == q->addr &&
		       tr_modbus__be16(p + 3) == q->count;
	}
}

/* Would an ordinary answer to a look like one to b (exceptions aside)? */
static int tr_modbus__same_shape(const struct tr_modbus_req *a, const struct tr_modbus_req *b)
{
	if (a->slave != b->slave || a->fc != b->fc)
		return 0;
	switch (a->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		return a->count == b->count;
	case MB_FC_WRITE_SINGLE:
		return a->addr == b->addr && a->value == b->value;
	default:
		return a->addr == b->addr && a->count == b->count;
	}
}

/* Ghosts (serial lines only): requests whose answer did not come in time
 * and may still come. Expired ones are freed first. */
static void tr_modbus__ghosts_expire(struct tr_modbus_bus *b, uint64_t now)
{
	for (size_t i = 0; i < TR_MODBUS_GHOSTS; i++)
		if (b->ghosts[i].until && b->ghosts[i].until <= now)
			b->ghosts[i].until = 0;
}

static void tr_modbus__ghost_add(struct tr_modbus_bus *b, const struct tr_modbus_req *q,
				 uint32_t id, uint64_t seq, uint64_t until)
{
	struct tr_modbus_ghost *slot = NULL;
	for (size_t i = 0; i < TR_MODBUS_GHOSTS; i++) {
		struct tr_modbus_ghost *g = &b->ghosts[i];
		if (!g->until) {
			slot = g;
			break;
		}
		if (!slot || g->seq < slot->seq)
			slot = g; /* full: the oldest makes room */
	}
	slot->req = *q;
	slot->id = id;
	slot->seq = seq;
	slot->until = until;
}

/* The oldest live ghost that the frame fits: of transaction id, of any other
 * transaction, or of any. */
enum tr_modbus_which { TR_MODBUS_OTHER, TR_MODBUS_SAME, TR_MODBUS_ANY };

static struct tr_modbus_ghost *tr_modbus__ghost_fit(struct tr_modbus_bus *b, uint8_t slave,
						    const uint8_t *p, size_t n, uint32_t id,
						    enum tr_modbus_which which)
{
	struct tr_modbus_ghost *best = NULL;
	for (size_t i = 0; i < TR_MODBUS_GHOSTS; i++) {
		struct tr_modbus_ghost *g = &b->ghosts[i];
		if (g->until &&
		    (which == TR_MODBUS_ANY || (g->id == id) == (which == TR_MODBUS_SAME)) &&
		    tr_modbus__fits(&g->req, slave, p, n) && (!best || g->seq < best->seq))
			best = g;
	}
	return best;
}

static int tr_modbus__clash(const struct tr_modbus_bus *b, const struct tr_modbus_req *q,
			    uint32_t id)
{
	for (size_t i = 0; i < TR_MODBUS_GHOSTS; i++)
		if (b->ghosts[i].until && b->ghosts[i].id != id &&
		    tr_modbus__same_shape(&b->ghosts[i].req, q))
			return 1;
	return 0;
}

/* The request for job j as it goes on the line: on a serial line, made
 * unlike every live ghost of another transaction where the protocol allows
 * (a read widened by registers the map says the device has; a single
 * register written with the other function code). */
static void tr_modbus__prepare(const struct tr_modbus_bus *b, const struct tr_modbus_job *j,
			       struct tr_modbus_req *q)
{
	q->slave = j->slave;
	q->fc = j->fc;
	q->addr = j->addr;
	q->count = j->fc == MB_FC_WRITE_SINGLE ? 1 : j->count;
	q->value = j->words[0];
	if (!b->serial || !tr_modbus__clash(b, q, j->id))
		return;
	if (j->fc == MB_FC_READ_HOLDING || j->fc == MB_FC_READ_INPUT) {
		for (unsigned k = 1; k <= j->widen_max; k++) {
			q->count = (uint16_t)(j->count + k);
			if (!tr_modbus__clash(b, q, j->id))
				return;
		}
		q->count = j->count;
	} else if (j->count == 1) {
		struct tr_modbus_req o = *q;
		o.fc = j->fc == MB_FC_WRITE_SINGLE ? MB_FC_WRITE_MULTIPLE : MB_FC_WRITE_SINGLE;
		if (!tr_modbus__clash(b, &o, j->id))
			*q = o;
	}
}

/* The ADU of q (values to write from words): its length. */
static size_t tr_modbus__encode(const struct tr_modbus_bus *b, const struct tr_modbus_req *q,
				uint16_t tid, const uint16_t *words, uint8_t *out)
{
	uint8_t *p = out + (b->serial ? 1 : 7);
	size_t n = 5;
	p[0] = q->fc;
	p[1] = (uint8_t)(q->addr >> 8);
	p[2] = (uint8_t)q->addr;
	uint16_t v = q->fc == MB_FC_WRITE_SINGLE ? q->value : q->count;
	p[3] = (uint8_t)(v >> 8);
	p[4] = (uint8_t)v;
	if (q->fc == MB_FC_WRITE_MULTIPLE) {
		p[5] = (uint8_t)(2u * q->count);
		for (unsigned i = 0; i < q->count; i++) {
			p[6 + 2 * i] = (uint8_t)(words[i] >> 8);
			p[7 + 2 * i] = (uint8_t)words[i];
		}
		n = 6u + 2u * q->count;
	}
	if (b->serial) {
		out[0] = q->slave;
		return codec_crc16_append(out, n + 1);
	}
	out[0] = (uint8_t)(tid >> 8);
	out[1] = (uint8_t)tid;
	out[2] = out[3] = 0;
	out[4] = (uint8_t)((n + 1) >> 8);
	out[5] = (uint8_t)(n + 1);
	out[6] = q->slave;
	return n + 7;
}

/* Take answer PDU p for job j: its values or its exception. */
static void tr_modbus__take(struct tr_modbus_job *j, const uint8_t *p)
{
	if (p[0] & 0x80) {
		j->result = TR_MODBUS_EXC;
		j->code = p[1];
		return;
	}
	j->result = TR_MODBUS_OK;
	if (j->fc == MB_FC_READ_HOLDING || j->fc == MB_FC_READ_INPUT)
		for (unsigned i = 0; i < j->count; i++)
			j->words[i] = tr_modbus__be16(p + 2 + 2 * i);
}

/* An exception answered to a read that was widened (sent as r) may be about
 * the registers added, which the device need not have after all: it is no
 * answer to the client's read (the device model retries, else 0B). */
static int tr_modbus__widened_exc(const struct tr_modbus_job *j, const struct tr_modbus_req *r,
				  const uint8_t *p)
{
	return (p[0] & 0x80) && r->count != j->count &&
	       (j->fc == MB_FC_READ_HOLDING || j->fc == MB_FC_READ_INPUT);
}

/* Length of the RTU answer frame at the start of the buffer (n bytes): the
 * whole frame's, 0 when more bytes are needed, -1 when it cannot be one. */
static int tr_modbus__rtu_len(const uint8_t *r, size_t n)
{
	if (n < 2)
		return 0;
	if (r[1] & 0x80)
		return 5;
	switch (r[1]) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		return n < 3 ? 0 : 5 + r[2];
	case MB_FC_WRITE_SINGLE:
	case MB_FC_WRITE_MULTIPLE:
		return 8;
	default:
		return -1;
	}
}

/* Complete RTU frames in the bus's receive buffer, read while request q (the
 * seq-th sent, for job j; q NULL: none in flight) waits. A frame that fits a
 * ghost of another transaction is dropped and ends that ghost (the oldest
 * it fits), even when it fits q too: it may be either's, and a slave need
 * not answer in order. Otherwise a frame that fits q is taken; one that fits
 * an earlier attempt of the same transaction answers the same question and
 * is taken too, and q, whose own answer may still come, becomes a ghost.
 * Damaged and foreign frames are dropped. Counts drops into *drops; 1 when
 * j got its answer. */
static int tr_modbus__rtu_frames(struct tr_modbus_bus *b, struct tr_modbus_job *j,
				 const struct tr_modbus_req *q, uint64_t seq, unsigned *drops)
{
	while (b->rn >= 2) {
		int len = tr_modbus__rtu_len(b->rx, b->rn);
		if (len == 0 || (len > 0 && (size_t)len > b->rn))
			return 0;
		if (len < 0 || !codec_crc16_ok(b->rx, (size_t)len)) {
			/* No frame, or a damaged one: the framing is lost. */
			(*drops)++;
			b->rn = 0;
			return 0;
		}
		uint8_t slave = b->rx[0];
		const uint8_t *p = b->rx + 1;
		size_t pn = (size_t)len - 3;
		int taken = 0;
		struct tr_modbus_ghost *g = tr_modbus__ghost_fit(
		    b, slave, p, pn, j ? j->id : 0, q ? TR_MODBUS_OTHER : TR_MODBUS_ANY);
		if (g) {
			g->until = 0;
			(*drops)++;
		} else if (q && (g = tr_modbus__ghost_fit(b, slave, p, pn, j->id,
							  TR_MODBUS_SAME)) != NULL) {
			g->until = 0;
			if (tr_modbus__widened_exc(j, &g->req, p)) {
				(*drops)++;
			} else {
				tr_modbus__take(j, p);
				tr_modbus__ghost_add(b, q, j->id, seq,
						     tr_modbus__now_ns() + j->ghost_ns);
				taken = 1;
			}
		} else if (q && tr_modbus__fits(q, slave, p, pn)) {
			if (tr_modbus__widened_exc(j, q, p))
				(*drops)++; /* answered, but not what was asked: no value */
			else
				tr_modbus__take(j, p);
			taken = 1;
		} else {
			(*drops)++;
		}
		memmove(b->rx, b->rx + len, b->rn - (size_t)len);
		b->rn -= (size_t)len;
		if (taken)
			return 1;
	}
	return 0;
}

/* Complete Modbus TCP frames in the receive buffer while transaction tid
 * (request q, job j) waits: taken when it carries tid and q's unit and fits
 * q; dropped otherwise (another transaction ID: late; another unit: counted
 * apart). *reset when the stream lost its framing. 1 when j got its answer. */
static int tr_modbus__tcp_frames(struct tr_modbus_bus *b, struct tr_modbus_job *j,
				 const struct tr_modbus_req *q, uint16_t tid, int *reset)
{
	while (b->rn >= 7) {
		uint16_t len = tr_modbus__be16(b->rx + 4);
		if (tr_modbus__be16(b->rx + 2) != 0 || len < 3 || len > 254) {
			j->drops++;
			b->rn = 0;
			*reset = 1;
			return 0;
		}
		size_t total = 6u + len;
		if (b->rn < total)
			return 0;
		const uint8_t *p = b->rx + 7;
		int taken = 0;
		if (tr_modbus__be16(b->rx) != tid) {
			j->drops++;
		} else if (b->rx[6] != q->slave) {
			j->drops++;
			j->wrong_unit++;
		} else if (tr_modbus__fits(q, b->rx[6], p, len - 1u)) {
			tr_modbus__take(j, p);
			taken = 1;
		} else {
			j->drops++;
		}
		memmove(b->rx, b->rx + total, b->rn - total);
		b->rn -= total;
		if (taken)
			return 1;
	}
	return 0;
}

/* Read what the port has into the receive buffer: bytes read, 0 when none,
 * -1 with errno when the port failed or the peer closed. */
static ssize_t tr_modbus__read(struct tr_modbus_bus *b, int fd)
{
	if (b->rn == sizeof b->rx)
		b->rn = 0; /* a full buffer of no frame */
	ssize_t n = read(fd, b->rx + b->rn, sizeof b->rx - b->rn);
	if (n > 0) {
		b->rn += (size_t)n;
		b->last_rx = tr_modbus__now_ns();
		return n;
	}
	if (n == 0) {
		errno = b->serial ? ENODEV : ECONNRESET;
		return -1;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

/* Serial: read whatever has come (late answers end their ghosts), then wait
 * until the line has been silent for the gap since the last byte, dropping
 * an unfinished frame; at most until `until`. 0, 1 when the wait was cut
 * short (stop or the deadline: nothing may be sent), or -1 with errno. */
static int tr_modbus__line_quiet(struct tr_modbus_bus *b, int fd, uint64_t until, unsigned *drops)
{
	/* Frames already received (behind the last answer) first. */
	tr_modbus__rtu_frames(b, NULL, NULL, 0, drops);
	for (;;) {
		uint64_t quiet = b->last_rx + (uint64_t)b->w_gap_ms * 1000000u;
		int r = tr_modbus__wait_fd(b, fd, POLLIN, quiet);
		if (r == -1)
			return 1;
		if (r == -2) {
			errno = ENODEV;
			return -1;
		}
		if (r == 0) {
			if (b->rn)
				(*drops)++;
			b->rn = 0;
			return 0;
		}
		if (tr_modbus__read(b, fd) < 0)
			return -1;
		tr_modbus__rtu_frames(b, NULL, NULL, 0, drops);
		if (tr_modbus__now_ns() >= until)
			return 1;
	}
}

/* Write all n bytes of out before `until`: 0, 1 (cut short), -1 with errno. */
static int tr_modbus__send(struct tr_modbus_bus *b, int fd, const uint8_t *out, size_t n,
			   uint64_t until)
{
	size_t done = 0;
	while (done < n) {
		int r = tr_modbus__wait_fd(b, fd, POLLOUT, until);
		if (r == -1 || r == 0)
			return 1;
		if (r == -2) {
			errno = b->serial ? ENODEV : ECONNRESET;
			return -1;
		}
		ssize_t k = b->serial ? write(fd, out + done, n - done)
				      : send(fd, out + done, n - done, MSG_NOSIGNAL);
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (k > 0)
			done += (size_t)k;
	}
	return 0;
}

/* Run job j on ctx (worker, mu not held). The whole transaction — the
 * line's silence, sending, the answer — ends by its deadline (the job's
 * timeout), an answer whose bytes stop for TR_MODBUS_BYTE_MS is given up, and a
 * stop cuts any wait short. libmodbus opened the port; the frames are
 * ours (docs/design.md, "Worker threads: the modbus transport"). *reset:
 * the TCP stream must be connected anew (a late or partial answer may still
 * be in it). */
static void tr_modbus__run(struct tr_modbus_bus *b, modbus_t *ctx, struct tr_modbus_job *j,
			   int *reset)
{
	int fd = modbus_get_socket(ctx);
	uint64_t deadline = tr_modbus__now_ns() + (uint64_t)j->timeout_ms * 1000000u;
	struct tr_modbus_req q;
	uint8_t out[TR_MODBUS_MAX_ADU];
	int r;

	j->result = TR_MODBUS_NOANSWER;
	j->drops += b->idle_drops;
	b->idle_drops = 0;
	if (b->serial) {
		tr_modbus__ghosts_expire(b, tr_modbus__now_ns());
	} else if (b->rn) {
		/* Bytes of nobody's answer wait in the stream. */
		j->drops++;
		b->rn = 0;
		*reset = 1;
		return;
	}
	tr_modbus__prepare(b, j, &q);
	/* An answer that no shape can tell from a ghost's: the request waits
	 * (reading the line, whose frames end ghosts) until no such ghost
	 * lives, or its deadline passes unsent. */
	while (b->serial && tr_modbus__clash(b, &q, j->id)) {
		uint64_t until = deadline;
		for (size_t i = 0; i < TR_MODBUS_GHOSTS; i++)
			if (b->ghosts[i].until && b->ghosts[i].until < until)
				until = b->ghosts[i].until;
		r = tr_modbus__wait_fd(b, fd, POLLIN, until);
		if (r == -1 || (r == 0 && tr_modbus__now_ns() >= deadline))
			return;
		if (r == -2) {
			errno = ENODEV;
			r = -1;
			goto fail;
		}
		if (r == 1 && tr_modbus__read(b, fd) < 0) {
			r = -1;
			goto fail;
		}
		tr_modbus__rtu_frames(b, NULL, NULL, 0, &j->drops);
		tr_modbus__ghosts_expire(b, tr_modbus__now_ns());
		tr_modbus__prepare(b, j, &q);
	}
	if (b->serial && (r = tr_modbus__line_quiet(b, fd, deadline, &j->drops)) != 0)
		goto fail;
	uint16_t tid = ++b->tid;
	uint64_t seq = ++b->seq;
	size_t n = tr_modbus__encode(b, &q, tid, j->words, out);
	r = tr_modbus__send(b, fd, out, n, deadline);
	if (r)
		goto fail;
	for (;;) {
		uint64_t until = deadline;
		if (b->rn && b->last_rx + TR_MODBUS_BYTE_MS * 1000000u < until)
			until = b->last_rx + TR_MODBUS_BYTE_MS * 1000000u;
		r = tr_modbus__wait_fd(b, fd, POLLIN, until);
		if (r == -1)
			return; /* stopping: the port is closed next */
		if (r == -2) {
			errno = b->serial ? ENODEV : ECONNRESET;
			r = -1;
			goto fail;
		}
		if (r == 0) {
			if (tr_modbus__now_ns() >= deadline)
				break;
			/* An answer that stopped half-way. */
			j->drops++;
			b->rn = 0;
			if (!b->serial) {
				*reset = 1;
				break;
			}
			continue;
		}
		if (tr_modbus__read(b, fd) < 0) {
			r = -1;
			goto fail;
		}
		if (b->serial ? tr_modbus__rtu_frames(b, j, &q, seq, &j->drops)
			      : tr_modbus__tcp_frames(b, j, &q, tid, reset))
			return;
		if (*reset)
			break;
	}
	/* No answer in time: it may still come. */
	if (b->serial)
		tr_modbus__ghost_add(b, &q, j->id, seq, tr_modbus__now_ns() + j->ghost_ns);
	else
		*reset = 1;
	return;
fail:
	if (r < 0) {
		j->code = errno;
		j->result = tr_modbus__lost(errno) ? TR_MODBUS_LOST : TR_MODBUS_BAD;
		if (j->result == TR_MODBUS_BAD)
			*reset = 1;
	}
}

/* The open port, while idle and before each transaction (worker, mu not
 * held): 0 when it is fine, else the errno of its loss. Bytes nobody asked
 * for are dropped. A TCP peer that closed the idle connection (many close idle
 * Modbus TCP connections after a while) is connected to anew; only if that
 * fails is the link lost. */
static int tr_modbus__idle_check(struct tr_modbus_bus *b, modbus_t *ctx, int *anew)
{
	int fd = modbus_get_socket(ctx);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (fd < 0)
		return EBADF;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (b->serial) {
		/* A pulled USB adapter, or the far end of a pty gone. */
		if (p.revents & (POLLERR | POLLHUP | POLLNVAL) && !(p.revents & POLLIN))
			return ENODEV;
		/* A late answer: it ends its ghost (tr_modbus__rtu_frames). */
		if (tr_modbus__read(b, fd) < 0)
			return errno;
		tr_modbus__rtu_frames(b, NULL, NULL, 0, &b->idle_drops);
		return 0;
	}
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0 && !(p.revents & (POLLERR | POLLHUP))) {
		modbus_flush(ctx);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	modbus_close(ctx);
	tr_modbus__set_timeout(ctx, TR_MODBUS_CONNECT_MS);
	if (modbus_connect(ctx) != 0)
		return errno ? errno : ECONNRESET;
	*anew = 1;
	return 0;
}

static void *tr_modbus__worker(void *arg)
{
	struct tr_modbus_bus *b = arg;
	modbus_t *ctx = NULL;
	struct backoff bo;
	uint64_t next_open = 0, quiet_until = 0, next_check = 0;

	backoff_init(&bo, 0, 0);
	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		if (!ctx) {
			/* Down: what is queued was never sent (0A); reopen when
			 * the back-off says so. */
			while (b->qhead) {
				struct tr_modbus_job *j = b->qhead;
				b->qhead = j->next;
				j->next = NULL;
				j->result = TR_MODBUS_NOPATH;
				if (b->dtail)
					b->dtail->next = j;
				else
					b->dhead = j;
				b->dtail = j;
			}
			if (!b->qhead)
				b->qtail = NULL;
			if (b->dhead)
				uv_async_send(&b->async);
			uint64_t now = tr_modbus__now_ns();
			if (now < next_open) {
				tr_modbus__wait_until(b, next_open);
				continue;
			}
			pthread_mutex_unlock(&b->mu);
			int err = 0;
			ctx = tr_modbus__bus_open(b, &err);
			pthread_mutex_lock(&b->mu);
			if (ctx) {
				backoff_reset(&bo);
				b->w_up = 1;
				b->w_gen++;
				b->w_fails = 0;
			} else {
				next_open = tr_modbus__now_ns() + backoff_next(&bo) * 1000000u;
				b->w_err = err;
				b->w_fails++;
			}
			uv_async_send(&b->async);
			continue;
		}
		if (!b->qhead) {
			uint64_t now = tr_modbus__now_ns();
			if (now < next_check) {
				tr_modbus__wait_until(b, next_check);
				continue;
			}
			pthread_mutex_unlock(&b->mu);
			int anew = 0, e = tr_modbus__idle_check(b, ctx, &anew);
			if (e)
				tr_modbus__shut(b, ctx), ctx = NULL;
			pthread_mutex_lock(&b->mu);
			next_check = tr_modbus__now_ns() + TR_MODBUS_IDLE_CHECK_MS * 1000000u;
			if (anew) {
				b->w_anew++;
				uv_async_send(&b->async);
			}
			if (e) {
				b->w_up = 0;
				b->w_err = e;
				next_open = tr_modbus__now_ns() + backoff_next(&bo) * 1000000u;
				uv_async_send(&b->async);
			}
			continue;
		}
		uint64_t now = tr_modbus__now_ns();
		b->w_gap_ms = b->gap_ms;
		if (now < quiet_until) {
			/* The gap: silence on the line since the last transaction. */
			tr_modbus__wait_until(b, quiet_until);
			continue;
		}
		struct tr_modbus_job *j = b->qhead;
		b->qhead = j->next;
		if (!b->qhead)
			b->qtail = NULL;
		j->next = NULL;
		pthread_mutex_unlock(&b->mu);

		/* Since the last look the port may have gone or the peer closed
		 * (then it is connected anew): a request is only sent on a port
		 * that is there, and never behind stray bytes. */
		int anew = 0, reset = 0, gone = tr_modbus__idle_check(b, ctx, &anew);
		if (gone) {
			j->result = TR_MODBUS_NOPATH;
			j->code = gone;
		} else {
			tr_modbus__run(b, ctx, j, &reset);
		}
		int lost_err = gone;
		if (reset && !gone && j->result != TR_MODBUS_LOST) {
			/* A TCP stream that may still carry a late or partial
			 * answer is connected anew (transaction IDs keep counting
			 * across connections). A serial line's ghosts see to its
			 * late answers (tr_modbus__rtu_frames). */
			modbus_close(ctx);
			b->rn = 0;
			tr_modbus__set_timeout(ctx, TR_MODBUS_CONNECT_MS);
			if (modbus_connect(ctx) != 0) {
				lost_err = errno ? errno : ECONNRESET;
				if (j->result != TR_MODBUS_OK && j->result != TR_MODBUS_EXC) {
					j->result = TR_MODBUS_LOST;
					j->code = lost_err;
				}
			}
		}
		if (j->result == TR_MODBUS_LOST && !lost_err)
			lost_err = j->code ? j->code : EIO;
		int lost = lost_err != 0;
		if (lost) {
			tr_modbus__shut(b, ctx);
			ctx = NULL;
		}

		pthread_mutex_lock(&b->mu);
		b->w_anew += (unsigned)anew;
		if (lost) {
			b->w_up = 0;
			b->w_err = lost_err;
			next_open = tr_modbus__now_ns() + backoff_next(&bo) * 1000000u;
		}
		/* The gap counts from now: after the answer's last byte, or
		 * the deadline. */
		quiet_until = tr_modbus__now_ns() + (uint64_t)b->gap_ms * 1000000u;
		if (b->dtail)
			b->dtail->next = j;
		else
			b->dhead = j;
		b->dtail = j;
		uv_async_send(&b->async);
	}
	pthread_mutex_unlock(&b->mu);
	if (ctx)
		tr_modbus__shut(b, ctx);
	/* The last thing the worker does with the bus: the loop joins it and
	 * closes the async handle once it sees `exited`. */
	pthread_mutex_lock(&b->mu);
	b->exited = 1;
	pthread_mutex_unlock(&b->mu);
	uv_async_send(&b->async);
	return NULL;
}

/* ------------------------------------------------------------ loop -- */

static void tr_modbus__dev_unref_job(struct tr_modbus_dev *d)
{
	d->jobs_out--;
	if (d->closed && d->jobs_out == 0)
		free(d);
}

static void tr_modbus__bus_free(uv_handle_t *h)
{
	struct tr_modbus_bus *b = h->data;
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cond);
	close(b->wake[0]);
	close(b->wake[1]);
	free(b->name);
	free(b->path);
	free(b->host);
	free(b);
}

/* A finished job: deliver it to its device if the device still waits for
 * it, otherwise drop it (counted when an answer came). */
static void tr_modbus__deliver(struct tr_modbus_job *j)
{
	struct tr_modbus_dev *d = j->owner;
	if (!d->closed && j->drops) {
		/* Late answers, damaged frames, answers from another unit. */
		for (unsigned i = 0; i < j->drops; i++)
			d->env->count_drop(d->dev);
		if (j->wrong_unit)
			log_debug("%s: dropped %u answer(s) from %s naming another unit than %u",
				  device_name(d->dev), j->wrong_unit, d->bus->name, d->slave);
		else
			log_debug("%s: dropped %u late, damaged or foreign frame(s) from %s",
				  device_name(d->dev), j->drops, d->bus->name);
	}
	if (d->closed || d->job != j) {
		if (!d->closed && (j->result == TR_MODBUS_OK || j->result == TR_MODBUS_EXC ||
				   j->result == TR_MODBUS_BAD))
			d->env->count_drop(d->dev);
		return;
	}
	struct txn *t = d->cur;
	switch (j->result) {
	case TR_MODBUS_OK:
		if (t->op == TXN_READ)
			d->env->cache_store(d->dev, t->table, t->addr, t->count, j->words);
		d->cur = NULL;
		d->job = NULL;
		d->env->txn_done(d->dev, t, MB_EXC_NONE);
		break;
	case TR_MODBUS_EXC:
		d->cur = NULL;
		d->job = NULL;
		d->env->txn_done(d->dev, t, (enum mb_exc)j->code);
		break;
	case TR_MODBUS_NOPATH:
		d->cur = NULL;
		d->job = NULL;
		d->env->txn_done(d->dev, t, MB_EXC_GATEWAY_PATH);
		break;
	case TR_MODBUS_BAD:
		/* The port failed in a way that is not a loss: the device's
		 * attempt timer retries or ends the request with 0B. */
		log_debug("%s: transaction on %s failed (%s)", device_name(d->dev), d->bus->name,
			  strerror(j->code));
		d->job = NULL;
		break;
	case TR_MODBUS_NOANSWER:
	case TR_MODBUS_LOST:
		/* The attempt timer, or the link going down, ends it (0B). */
		d->job = NULL;
		break;
	}
}

/* Tell every device of b what the link is, once per change (a worker that
 * lost and reopened the bus between two wake-ups counts as a change). */
static void tr_modbus__tell_devices(struct tr_modbus_bus *b)
{
	for (struct tr_modbus_dev *d = b->devs; d; d = d->next) {
		if (d->told_up && (!b->up || d->told_gen != b->gen)) {
			d->told_up = 0;
			d->env->link_changed(d->dev, 0);
		}
		if (b->up && !d->told_up) {
			d->told_up = 1;
			d->told_gen = b->gen;
			d->env->link_changed(d->dev, 1);
		}
	}
}

/* A serial port the daemon's user may not open (after a drop to `user`, or
 * under a service's User=): the port, the user, the port's group and the
 * fix, as one warning per outage (docs/user-guide.md, "Serial ports"). */
static void tr_modbus__warn_denied(const struct tr_modbus_bus *b)
{
	struct stat st;
	int have = stat(b->path, &st) == 0;
	const struct passwd *pw = getpwuid(geteuid());
	const struct group *gr = have ? getgrgid(st.st_gid) : NULL;
	char user[64], group[64], port[128];
	snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "?");
	/* A port its group cannot use, or root's group: dialout is the fix. */
	int usable = have && st.st_gid != 0 && (st.st_mode & 060) == 060;
	snprintf(group, sizeof group, "%s", usable && gr ? gr->gr_name : "dialout");
	if (have && gr)
		snprintf(port, sizeof port, "group %s, mode %04o", gr->gr_name,
			 (unsigned)(st.st_mode & 07777));
	else if (have)
		snprintf(port, sizeof port, "gid %u, mode %04o", (unsigned)st.st_gid,
			 (unsigned)(st.st_mode & 07777));
	else
		snprintf(port, sizeof port, "not found");
	log_warn("modbus %s: cannot open (Permission denied) as user %s (port: %s): %s"
		 "add the user to group %s (usermod -aG %s %s; systemd: SupplementaryGroups=%s); "
		 "retrying",
		 b->name, user, port,
		 usable ? ""
			: "give group dialout read-write access to the port (chgrp, chmod 0660, "
			  "or a udev or hotplug rule), ",
		 group, group, user, group);
}

static void tr_modbus__on_async(uv_async_t *h)
{
	struct tr_modbus_bus *b = h->data;
	pthread_mutex_lock(&b->mu);
	struct tr_modbus_job *done = b->dhead;
	b->dhead = b->dtail = NULL;
	int up = b->w_up, err = b->w_err, exited = b->exited;
	unsigned gen = b->w_gen, anew = b->w_anew;
	unsigned long fails = b->w_fails;
	pthread_mutex_unlock(&b->mu);

	if (anew != b->anew) {
		log_debug("modbus %s: the device closed the connection while idle: connected "
			  "anew (%u times)",
			  b->name, anew);
		b->anew = anew;
	}

	while (done) {
		struct tr_modbus_job *j = done;
		done = j->next;
		tr_modbus__deliver(j);
		struct tr_modbus_dev *d = j->owner;
		free(j);
		tr_modbus__dev_unref_job(d);
	}
	if (exited) {
		/* The worker has returned or is about to: joining is at once. */
		pthread_join(b->thread, NULL);
		for (struct tr_modbus_job *j = b->qhead, *n; j; j = n) {
			n = j->next;
			struct tr_modbus_dev *d = j->owner;
			free(j);
			tr_modbus__dev_unref_job(d);
		}
		uv_close((uv_handle_t *)&b->async, tr_modbus__bus_free);
		return;
	}
	if (up != b->up || gen != b->gen) {
		int lost = !up && b->up;
		if (up) {
			log_info("modbus %s: open", b->name);
			b->denied = 0;
		} else if (lost)
			log_warn("modbus %s: lost (%s); reopening", b->name,
				 err > MODBUS_ENOBASE ? modbus_strerror(err) : strerror(err));
		b->up = up;
		b->gen = gen;
		/* "lost" was this outage's warning: reopening attempts that
		 * fail are debug. */
		b->fails = lost ? 1 : 0;
	}
	if (!up && fails && err == EACCES && b->serial && !b->denied) {
		/* The port is there but not ours: say what to do, once. */
		b->denied = 1;
		b->fails = fails;
		tr_modbus__warn_denied(b);
	}
	if (!up && fails > b->fails) {
		/* First failure of an outage a warning, the rest debug. */
		if (b->fails == 0 && fails == 1)
			log_warn("modbus %s: cannot open (%s); retrying", b->name,
				 err == EBUSY ? "the port is in use by another bus of this daemon"
					      : strerror(err));
		else
			log_debug("modbus %s: cannot open (%s), attempt %lu", b->name,
				  strerror(err), fails);
		b->fails = fails;
	}
	tr_modbus__tell_devices(b);
}

/* A pipe whose ends do not block and are not inherited: 0, or -1. */
static int tr_modbus__pipe(int fds[2])
{
	if (pipe(fds) != 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	}
	return 0;
}

/* The bus cfg names, found or made (with its worker started). */
static struct tr_modbus_bus *tr_modbus__bus_get(uv_loop_t *loop, const struct tr_modbus_cfg *c)
{
	for (struct tr_modbus_bus *b = tr_modbus__buses; b; b = b->next) {
		if (c->device && b->serial && strcmp(b->path, c->device) == 0 &&
		    b->baud == c->baud && b->parity == (char)c->parity &&
		    b->data_bits == c->data_bits && b->stop_bits == c->stop_bits)
			return b;
		if (c->host && !b->serial && strcmp(b->host, c->host) == 0 &&
		    atoi(b->port) == c->port)
			return b;
	}
	struct tr_modbus_bus *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->loop = loop;
	b->serial = c->device != NULL;
	char name[300];
	if (b->serial) {
		b->path = strdup(c->device);
		b->baud = c->baud;
		b->parity = (char)c->parity;
		b->data_bits = c->data_bits;
		b->stop_bits = c->stop_bits;
		snprintf(name, sizeof name, "%s", c->device);
	} else {
		b->host = strdup(c->host);
		snprintf(b->port, sizeof b->port, "%d", c->port);
		snprintf(name, sizeof name, "%s:%d", c->host, c->port);
	}
	b->name = strdup(name);
	if (!b->name || (b->serial ? !b->path : !b->host) || tr_modbus__pipe(b->wake) != 0) {
		free(b->name);
		free(b->path);
		free(b->host);
		free(b);
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	uv_async_init(loop, &b->async, tr_modbus__on_async);
	b->async.data = b;
	if (pthread_create(&b->thread, NULL, tr_modbus__worker, b) != 0) {
		uv_close((uv_handle_t *)&b->async, tr_modbus__bus_free);
		return NULL;
	}
	b->next = tr_modbus__buses;
	tr_modbus__buses = b;
	return b;
}

/* The gap of the bus: the largest its devices ask for. */
static void tr_modbus__bus_gap(struct tr_modbus_bus *b)
{
	uint32_t gap = 0;
	for (struct tr_modbus_dev *d = b->devs; d; d = d->next)
		if (d->gap_ms > gap)
			gap = d->gap_ms;
	pthread_mutex_lock(&b->mu);
	b->gap_ms = gap;
	pthread_mutex_unlock(&b->mu);
}

/* ------------------------------------------------------------------ ops -- */

static int tr_modbus__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			   const struct map *map, void **state, char *err, size_t errlen)
{
	const struct tr_modbus_cfg *c = cfg->proto_cfg;
	if (!c || (!c->device && !c->host)) {
		snprintf(err, errlen, "device %s (line %d): no modbus block", cfg->name, cfg->line);
		return MB_EINVAL;
	}
	struct tr_modbus_dev *d = calloc(1, sizeof *d);
	struct tr_modbus_bus *b = d ? tr_modbus__bus_get(loop, c) : NULL;
	if (!b) {
		free(d);
		snprintf(err, errlen, "device %s: out of memory", cfg->name);
		return MB_ENOMEM;
	}
	d->env = transport_env;
	d->dev = dev;
	d->bus = b;
	d->map = map;
	d->slave = (uint8_t)(c->device ? c->slave : c->unit);
	d->gap_ms = (uint32_t)c->gap;
	d->next = b->devs;
	b->devs = d;
	b->ndevs++;
	tr_modbus__bus_gap(b);
	/* A bus already open: the device hears so on the loop's next turn. */
	uv_async_send(&b->async);
	*state = d;
	return 0;
}

/* Does the map say the device has readable native register addr in table
 * (a register of the map, or a pass-through range, whose native addresses
 * are its own)? A widened read touches only such registers, so that the
 * device does not answer 02. */
static int tr_modbus__readable(const struct map *m, int table, uint32_t addr)
{
	if (addr > 0xFFFF)
		return 0;
	const struct map_passthrough *p = map_find_passthrough(m, table, (uint16_t)addr);
	if (p)
		return 1;
	size_t n = map_nregs(m);
	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(m, i);
		if (r->table == table && (r->access & MAP_R) && addr >= r->native &&
		    addr < (uint32_t)r->native + r->count)
			return 1;
	}
	return 0;
}

/* How many registers after read t the worker may add (tr_modbus__prepare). */
static uint8_t tr_modbus__widen_max(const struct map *m, const struct txn *t)
{
	unsigned k = 0;
	while (k < TR_MODBUS_WIDEN_MAX && t->count + k + 1u <= MB_MAX_READ &&
	       tr_modbus__readable(m, t->table, (uint32_t)t->native + t->count + k))
		k++;
	return (uint8_t)k;
}

static enum mb_exc tr_modbus__start(void *state, struct txn *t)
{
	struct tr_modbus_dev *d = state;
	struct tr_modbus_bus *b = d->bus;
	if (!b->up || t->count == 0 || t->count > MB_MAX_READ)
		return b->up ? MB_EXC_ILLEGAL_VALUE : MB_EXC_GATEWAY_PATH;
	struct tr_modbus_job *j = calloc(1, sizeof *j);
	if (!j)
		return MB_EXC_DEVICE_FAILURE;
	j->owner = d;
	j->slave = d->slave;
	j->addr = t->native;
	j->count = t->count;
	j->id = t->id;
	uint64_t ghost_ms = 2u * device_timeout(d->dev);
	j->ghost_ns =
	    (ghost_ms < TR_MODBUS_GHOST_MIN_MS ? TR_MODBUS_GHOST_MIN_MS : ghost_ms) * 1000000u;
	if (t->op == TXN_READ) {
		j->fc = t->table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
		j->widen_max = tr_modbus__widen_max(d->map, t);
	} else {
		j->fc = t->fc == MB_FC_WRITE_SINGLE && t->count == 1 ? MB_FC_WRITE_SINGLE
								     : MB_FC_WRITE_MULTIPLE;
		memcpy(j->words, t->words, t->count * sizeof(uint16_t));
	}
	/* libmodbus waits at most the device model's time for one attempt
	 * (the device's timeout shared by its tries), so that the worker is
	 * free again when the device retries or gives up. */
	uint64_t attempt = device_timeout(d->dev) / (1u + device_retries(d->dev));
	j->timeout_ms = attempt > 20 ? (uint32_t)(attempt - attempt / 10) : 20;
	d->jobs_out++;
	d->cur = t;
	d->job = j;
	pthread_mutex_lock(&b->mu);
	if (b->qtail)
		b->qtail->next = j;
	else
		b->qhead = j;
	b->qtail = j;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->mu);
	return MB_EXC_NONE;
}

/* Take job j out of b's run queue if it has not started (mu held): 1 if so. */
static int tr_modbus__unqueue(struct tr_modbus_bus *b, struct tr_modbus_job *j)
{
	for (struct tr_modbus_job **pp = &b->qhead, *prev = NULL; *pp;
	     prev = *pp, pp = &(*pp)->next) {
		if (*pp != j)
			continue;
		*pp = j->next;
		if (b->qtail == j)
			b->qtail = prev;
		return 1;
	}
	return 0;
}

static void tr_modbus__abort(void *state, struct txn *t)
{
	struct tr_modbus_dev *d = state;
	if (d->cur != t)
		return;
	struct tr_modbus_job *j = d->job;
	d->cur = NULL;
	d->job = NULL;
	if (!j)
		return;
	/* Not started yet: it never goes on the wire. Started: the worker
	 * finishes it and its answer is dropped (tr_modbus__deliver). */
	pthread_mutex_lock(&d->bus->mu);
	int unqueued = tr_modbus__unqueue(d->bus, j);
	pthread_mutex_unlock(&d->bus->mu);
	if (unqueued) {
		free(j);
		tr_modbus__dev_unref_job(d);
	}
}

static bool tr_modbus__link_up(void *state)
{
	const struct tr_modbus_dev *d = state;
	return d->bus->up;
}

static void tr_modbus__close(void *state)
{
	struct tr_modbus_dev *d = state;
	struct tr_modbus_bus *b = d->bus;
	if (d->cur)
		tr_modbus__abort(d, d->cur);
	for (struct tr_modbus_dev **pp = &b->devs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	b->ndevs--;
	d->closed = 1;
	if (b->ndevs == 0) {
		/* The last device: stop the worker. It finishes the transaction
		 * it may be in (bounded by libmodbus's timeout), says it has
		 * exited, and the loop joins it then (tr_modbus__on_async). */
		for (struct tr_modbus_bus **pp = &tr_modbus__buses; *pp; pp = &(*pp)->next) {
			if (*pp == b) {
				*pp = b->next;
				break;
			}
		}
		pthread_mutex_lock(&b->mu);
		b->stop = 1;
		pthread_cond_signal(&b->cond);
		pthread_mutex_unlock(&b->mu);
		/* Cuts short a wait on the port (tr_modbus__wait_fd). */
		if (write(b->wake[1], "", 1) < 0)
			log_debug("modbus %s: cannot wake the worker: %s", b->name,
				  strerror(errno));
	} else {
		tr_modbus__bus_gap(b);
	}
	if (d->jobs_out == 0)
		free(d);
}

const struct transport_ops transport_modbus = {
    .flags = 0,
    .max_read = MB_MAX_READ,
    .open = tr_modbus__open,
    .start = tr_modbus__start,
    .abort = tr_modbus__abort,
    .link_up = tr_modbus__link_up,
    .close = tr_modbus__close,
};

/* ------------------------------------------------------------- protocol -- */

static const char tr_modbus__parities[][5] = {"none", "even", "odd", ""};

static int tr_modbus__cfg_init(void *cfg)
{
	struct tr_modbus_cfg *c = cfg;
	c->baud = c->data_bits = c->stop_bits = c->slave = -1;
	c->port = c->unit = c->gap = -1;
	c->parity = 0xFF;
	return 0;
}

/* Serial keys with `device`, TCP keys with `host`, never both; then the
 * defaults: 9600 8N1, slave 1; port 502, unit 1; gap 10 ms serial, 0 TCP. */
static int tr_modbus__cfg_done(struct config_parser *p, const struct config_setting_t *block,
			       void *cfg)
{
	struct tr_modbus_cfg *c = cfg;
	static const char *const serial_keys[] = {"baud", "parity", "data_bits", "stop_bits",
						  "slave"};
	static const char *const tcp_keys[] = {"port", "unit"};
	if (!c->device == !c->host)
		return keys_error(p, block,
				  "modbus: give either `device` (a serial line) or `host` "
				  "(Modbus TCP), not %s",
				  c->device ? "both" : "neither");
	const char *const *wrong = c->device ? tcp_keys : serial_keys;
	size_t nwrong = c->device ? 2 : 5;
	for (size_t i = 0; i < nwrong; i++) {
		const config_setting_t *s =
		    config_setting_get_member((config_setting_t *)block, wrong[i]);
		if (s)
			return keys_error(p, s, "modbus: `%s` is a %s key; this device has `%s`",
					  wrong[i], c->device ? "TCP" : "serial",
					  c->device ? "device" : "host");
	}
	if (c->device) {
		c->baud = c->baud < 0 ? 9600 : c->baud;
		c->data_bits = c->data_bits < 0 ? 8 : c->data_bits;
		c->stop_bits = c->stop_bits < 0 ? 1 : c->stop_bits;
		c->slave = c->slave < 0 ? 1 : c->slave;
		c->parity = (uint8_t)(c->parity == 0xFF ? 'N' : "NEO"[c->parity]);
		c->gap = c->gap < 0 ? TR_MODBUS_GAP_SERIAL : c->gap;
	} else {
		c->port = c->port < 0 ? 502 : c->port;
		c->unit = c->unit < 0 ? 1 : c->unit;
		c->gap = c->gap < 0 ? 0 : c->gap;
	}
	return 0;
}

#define TR_MODBUS__CFG(field) offsetof(struct tr_modbus_cfg, field)

/* clang-format off */
static const struct config_key tr_modbus__keys[] = {
	{.name = "device", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = TR_MODBUS__CFG(device)},
	{.name = "baud", .kind = CONFIG_K_INT, .off = TR_MODBUS__CFG(baud), .min = 300, .max = 4000000},
	{.name = "parity", .kind = CONFIG_K_CHOICE, .off = TR_MODBUS__CFG(parity),
	 CONFIG_CHOICES(tr_modbus__parities)},
	{.name = "data_bits", .kind = CONFIG_K_INT, .off = TR_MODBUS__CFG(data_bits), .min = 5, .max = 8},
	{.name = "stop_bits", .kind = CONFIG_K_INT, .off = TR_MODBUS__CFG(stop_bits), .min = 1, .max = 2},
	{.name = "slave", .kind = CONFIG_K_INT, .off = TR_MODBUS__CFG(slave), .min = 1, .max = 247},
	{.name = "host", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = TR_MODBUS__CFG(host)},
	{.name = "port", .kind = CONFIG_K_INT, .off = TR_MODBUS__CFG(port), .min = 1, .max = 65535},
	{.name = "unit", .kind = CONFIG_K_INT, .off = TR_MODBUS__CFG(unit), .min = 0, .max = 255},
	{.name = "gap", .kind = CONFIG_K_INT, .off = TR_MODBUS__CFG(gap), .min = 0, .max = 10000,
	 .unit = CONFIG_U_MS},
};
/* clang-format on */

const struct protocol protocol_modbus = {
    .name = "modbus",
    .text = "Modbus equipment: RTU on a serial line or Modbus TCP, through libmodbus",
    .flags = PROTOCOL_NATIVE | PROTOCOL_RTU,
    .keys = tr_modbus__keys,
    .nkeys = sizeof tr_modbus__keys / sizeof tr_modbus__keys[0],
    .cfg_size = sizeof(struct tr_modbus_cfg),
    .cfg_init = tr_modbus__cfg_init,
    .cfg_done = tr_modbus__cfg_done,
    .ops = &transport_modbus,
    .default_poll = 0,
    .typical_rtt = 50,
};

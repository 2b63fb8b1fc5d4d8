/* The `solarman` transport: Modbus RTU inside Solarman V5 frames, over one
 * persistent TCP connection per data logger (port 8899), driven by libuv.
 *
 * The connection is a TCP link (bridge/link_tcp.c, docs/design.md "Links"):
 * it resolves, connects and, on EOF, reset or error, reconnects after the
 * shared back-off (1 s, doubling to 60 s while attempts keep failing). The
 * back-off returns to 1 s once the logger has answered something on a
 * connection (link_tcp_healthy).
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
 * next start byte). Output, bounded by the link: a time answer is sent only
 * while nothing waits in libuv's queue toward the logger and fewer than
 * TR_SOLARMAN_WRITES_MAX writes are pending (LINK_TCP_REFUSE); otherwise it is
 * dropped and counted. A request that would take the queue over
 * TR_SOLARMAN_QUEUE_MAX bytes means the logger has stopped reading (LINK_TCP_DROP):
 * the transaction fails (0B) and the link is dropped and reconnected. */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "device.h"
#include "link_tcp.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"
#include "codec_v5.h"
#include "transport_test.h"

/* Bytes libuv may hold for the logger beyond what the kernel took: a dozen
 * requests. Over it, the logger is not reading and the link is dropped. */
#define TR_SOLARMAN_QUEUE_MAX 4096
/* Writes whose callbacks are still due (each holds a malloc'd buffer). */
#define TR_SOLARMAN_WRITES_MAX 16

struct tr_solarman {
	const struct transport_env *env; /* the device model, the link */
	struct device *dev;
	uv_loop_t *loop;
	char *host;
	char port[12];
	uint32_t serial;
	uint8_t slave;
	struct link_tcp *link; /* the connection to the logger; freed by its close */
	/* the transaction in flight */
	struct txn *cur;
	uint8_t seq; /* last sequence byte used */
	uint8_t cur_fc;
	/* the last logger error reported, so that it is logged once */
	uint8_t logger_error;
	struct v5_stream stream;
	uint8_t rx[V5_MAX_FRAME];
};

/* The link is freed (tr_solarman__close): so is the transport. */
static void tr_solarman__free(void *ctx)
{
	struct tr_solarman *s = ctx;
	free(s->host);
	free(s);
}

/* The link came up or went down. */
static void tr_solarman__on_state(void *ctx, int up)
{
	struct tr_solarman *s = ctx;
	codec_v5_stream_reset(&s->stream);
	if (up) {
		log_info("%s: connected to logger %s (serial %u, slave %u)", device_name(s->dev),
			 s->env->tcp->peer(s->link), (unsigned)s->serial, s->slave);
		s->env->link_changed(s->dev, 1);
		return;
	}
	/* The device aborts what is in flight (ops->abort) and answers 0A. */
	s->env->link_changed(s->dev, 0);
	s->cur = NULL;
}

/* Finish the transaction in flight; the device may start the next one from
 * inside device_txn_done, so cur is cleared first. */
static void tr_solarman__done(struct tr_solarman *s, enum mb_exc status)
{
	struct txn *t = s->cur;
	s->cur = NULL;
	s->env->txn_done(s->dev, t, status);
}

static void tr_solarman__drop(struct tr_solarman *s, const char *what, int rc)
{
	log_debug("%s: dropped %s (%s)", device_name(s->dev), what, mb_strerror(rc));
	s->env->count_drop(s->dev);
}

/* The logger could not pass our request on: say which, once per change. */
static void tr_solarman__logger_error(struct tr_solarman *s, uint8_t code)
{
	enum mb_exc status;
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
	tr_solarman__done(s, status);
}

/* Does RTU answer r answer t as it was sent? Everything the answer echoes
 * must be what we asked: slave and function code always; a read's byte count;
 * a single write's address and value; a multiple write's address and
 * quantity. Returns 0 or MB_EID. */
static int tr_solarman__matches(const struct tr_solarman *s, const struct txn *t,
				const struct v5_rtu_answer *r)
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

static void tr_solarman__answer(struct tr_solarman *s, const struct v5_frame *f)
{
	struct v5_answer a;
	struct v5_rtu_answer r;
	struct txn *t = s->cur;
	if (!t) {
		tr_solarman__drop(s, "an answer nothing waits for", MB_EID);
		return;
	}
	int rc = codec_v5_check_answer(f, s->serial, s->seq, &a);
	if (rc < 0) {
		tr_solarman__drop(s, "an answer to another request", rc);
		return;
	}
	s->env->tcp->healthy(s->link);
	if (a.logger_error) {
		tr_solarman__logger_error(s, a.logger_error);
		return;
	}
	rc = codec_v5_rtu_answer_decode(a.rtu, a.rtu_len, &r);
	if (rc == 0)
		rc = tr_solarman__matches(s, t, &r);
	if (rc < 0) {
		/* Never believe a damaged or foreign answer: the device times the
		 * transaction out (0B) unless a good answer still comes. */
		tr_solarman__drop(s, "an RTU answer that does not match the request", rc);
		return;
	}
	if (s->logger_error) {
		log_info("%s: logger %s:%s passes requests on again", device_name(s->dev), s->host,
			 s->port);
		s->logger_error = 0;
	}
	if (r.exception) {
		tr_solarman__done(s, (enum mb_exc)r.exception);
		return;
	}
	if (t->op == TXN_READ) {
		uint16_t words[MB_MAX_READ];
		for (uint16_t i = 0; i < t->count; i++)
			words[i] = (uint16_t)(r.data[2 * i] << 8 | r.data[2 * i + 1]);
		s->env->cache_store(s->dev, t->table, t->addr, t->count, words);
	}
	tr_solarman__done(s, MB_EXC_NONE);
}

static void tr_solarman__frame(struct tr_solarman *s, const struct v5_frame *f)
{
	if (f->control == V5_CTRL_ANSWER) {
		tr_solarman__answer(s, f);
		return;
	}
	if (codec_v5_is_unsolicited(f)) {
		uint8_t out[V5_TIME_ANSWER_LEN];
		int n = codec_v5_encode_time_answer(out, sizeof out, f, (uint32_t)time(NULL));
		log_debug("%s: logger frame %02x %02x, answering with the time",
			  device_name(s->dev), f->control & 0xFF, f->control >> 8);
		s->env->tcp->healthy(s->link);
		/* A logger that floods us and does not read our answers must not
		 * make them pile up: answer only while nothing waits. */
		if (n <= 0)
			return;
		if (s->env->tcp->write(s->link, out, (size_t)n, LINK_TCP_REFUSE) < 0)
			tr_solarman__drop(s, "a time answer the logger is not reading", MB_EBUSY);
		return;
	}
	tr_solarman__drop(s, "a frame with an unexpected control code", MB_EPROTO);
}

/* Bytes from the logger (at most one read chunk of the link). */
static void tr_solarman__on_data(void *ctx, const uint8_t *data, size_t len)
{
	struct tr_solarman *s = ctx;
	size_t off = 0;
	uint64_t frames0 = s->stream.dropped_frames, bytes0 = s->stream.dropped_bytes;
	while (off < len && s->env->tcp->is_up(s->link)) {
		struct v5_frame f;
		off += codec_v5_stream_feed(&s->stream, data + off, len - off);
		while (s->env->tcp->is_up(s->link) && codec_v5_stream_next(&s->stream, &f) == 1)
			tr_solarman__frame(s, &f);
	}
	/* Count each damaged frame, and each run of garbage once. */
	for (uint64_t i = frames0; i < s->stream.dropped_frames; i++)
		tr_solarman__drop(s, "a frame with a bad checksum", MB_ECRC);
	if (s->stream.dropped_bytes != bytes0)
		tr_solarman__drop(s, "bytes that are no V5 frame", MB_EPARSE);
}

/* The link's options for s: the limits of "Solarman limits" in
 * docs/user-guide.md; the back-off and timeouts are the links' defaults. */
static void tr_solarman__link_opts(struct tr_solarman *s, struct link_tcp_opts *o)
{
	memset(o, 0, sizeof *o);
	o->host = s->host;
	o->port = atoi(s->port);
	o->owner = device_name(s->dev);
	o->what = "logger";
	o->queue_max = TR_SOLARMAN_QUEUE_MAX;
	o->writes_max = TR_SOLARMAN_WRITES_MAX;
	o->on_read = tr_solarman__on_data;
	o->on_state = tr_solarman__on_state;
	o->ctx = s;
}

/* ------------------------------------------------------------------ ops -- */

/* The device's `solarman` block (docs/user-guide.md), parsed and checked by
 * the config loader with tr_solarman__keys (at the end of this file). */
struct tr_solarman_cfg {
	char *host;
	int port;	 /* default 8899 */
	uint32_t serial; /* logger serial */
	int slave;	 /* RTU slave address, default 1 */
};

/* The transport's state for cfg, not yet connecting; NULL after an error. */
static struct tr_solarman *tr_solarman__new(struct device *dev, uv_loop_t *loop,
					    const struct config_device *cfg, char *err,
					    size_t errlen)
{
	const struct tr_solarman_cfg *sc = cfg->proto_cfg;
	if (!sc || !sc->host) {
		snprintf(err, errlen, "device %s (line %d): no solarman block", cfg->name,
			 cfg->line);
		return NULL;
	}
	struct tr_solarman *s = calloc(1, sizeof *s);
	if (!s || !(s->host = strdup(sc->host))) {
		free(s);
		snprintf(err, errlen, "device %s: out of memory", cfg->name);
		return NULL;
	}
	s->env = transport_env;
	s->dev = dev;
	s->loop = loop;
	snprintf(s->port, sizeof s->port, "%d", sc->port);
	s->serial = sc->serial;
	s->slave = (uint8_t)sc->slave;
	codec_v5_stream_init(&s->stream, s->rx, sizeof s->rx);
	return s;
}

static int tr_solarman__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			     const struct map *map, void **state, char *err, size_t errlen)
{
	(void)map;
	struct tr_solarman *s = tr_solarman__new(dev, loop, cfg, err, errlen);
	if (!s)
		return MB_EINVAL;
	struct link_tcp_opts o;
	tr_solarman__link_opts(s, &o);
	if (!(s->link = s->env->tcp->open(loop, &o))) {
		snprintf(err, errlen, "device %s: out of memory", device_name(dev));
		tr_solarman__free(s);
		return MB_ENOMEM;
	}
	*state = s;
	return 0;
}

static enum mb_exc tr_solarman__start(void *state, struct txn *t)
{
	struct tr_solarman *s = state;
	uint8_t rtu[V5_RTU_MAX], frame[V5_OVERHEAD + V5_REQ_PREFIX + V5_RTU_MAX];
	int n;
	if (!s->env->tcp->is_up(s->link))
		return MB_EXC_GATEWAY_PATH;
	if (t->op == TXN_READ) {
		s->cur_fc = t->table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
		n = codec_v5_rtu_read(rtu, sizeof rtu, s->slave, s->cur_fc, t->native, t->count);
	} else if (t->fc == MB_FC_WRITE_SINGLE && t->count == 1) {
		s->cur_fc = MB_FC_WRITE_SINGLE;
		n = codec_v5_rtu_write_single(rtu, sizeof rtu, s->slave, t->native, t->words[0]);
	} else {
		s->cur_fc = MB_FC_WRITE_MULTIPLE;
		n = codec_v5_rtu_write_multiple(rtu, sizeof rtu, s->slave, t->native, t->count,
						t->words);
	}
	if (n < 0)
		return MB_EXC_ILLEGAL_VALUE;
	/* A fresh sequence byte per attempt, a retry of t included: the answer
	 * to an aborted attempt then no longer matches. */
	s->seq++;
	n = codec_v5_encode_request(frame, sizeof frame, s->serial, s->seq, rtu, (size_t)n);
	if (n < 0)
		return MB_EXC_ILLEGAL_VALUE;
	/* Over TR_SOLARMAN_QUEUE_MAX, our earlier requests have not left in all that
	 * time: the logger stopped reading, and the link drops the connection
	 * (a new one is the only cure). */
	int rc = s->env->tcp->write(s->link, frame, (size_t)n, LINK_TCP_DROP);
	if (rc == MB_EBUSY)
		return MB_EXC_GATEWAY_TARGET;
	if (rc < 0)
		return MB_EXC_GATEWAY_PATH;
	s->cur = t;
	return MB_EXC_NONE;
}

static void tr_solarman__abort(void *state, struct txn *t)
{
	struct tr_solarman *s = state;
	if (s->cur != t)
		return;
	s->cur = NULL;
	/* Whatever sits half-received belongs to the abandoned request (or is a
	 * false start that would hold up the next answer): start afresh. */
	codec_v5_stream_reset(&s->stream);
}

static bool tr_solarman__link_up(void *state)
{
	const struct tr_solarman *s = state;
	return s->env->tcp->is_up(s->link);
}

static void tr_solarman__close(void *state)
{
	struct tr_solarman *s = state;
	s->cur = NULL;
	/* s is freed once the link's handles are closed (tr_solarman__free): a link
	 * callback on the stack may still read it. */
	s->env->tcp->close(s->link, tr_solarman__free);
}

/* Test hook (include/transport_test.h). */
struct txn *tr_solarman_test_txn(void *state)
{
	return ((struct tr_solarman *)state)->cur;
}

uint8_t tr_solarman_test_seq(void *state)
{
	return ((struct tr_solarman *)state)->seq;
}

const struct transport_ops transport_solarman = {
    .max_read = MB_MAX_READ,
    .open = tr_solarman__open,
    .start = tr_solarman__start,
    .abort = tr_solarman__abort,
    .link_up = tr_solarman__link_up,
    .close = tr_solarman__close,
};

/* ------------------------------------------------------------- protocol -- */

static int tr_solarman__cfg_init(void *cfg)
{
	struct tr_solarman_cfg *sc = cfg;
	sc->port = 8899;
	sc->slave = 1;
	return 0;
}

#define TR_SOLARMAN__CFG(field) offsetof(struct tr_solarman_cfg, field)

/* clang-format off */
static const struct config_key tr_solarman__keys[] = {
	{.name = "host", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = TR_SOLARMAN__CFG(host)},
	{.name = "port", .kind = CONFIG_K_INT, .off = TR_SOLARMAN__CFG(port), .min = 1, .max = 65535},
	{.name = "serial", .kind = CONFIG_K_UINT32, .flags = CONFIG_F_REQUIRED,
	 .off = TR_SOLARMAN__CFG(serial), .min = 1, .max = UINT32_MAX},
	{.name = "slave", .kind = CONFIG_K_INT, .off = TR_SOLARMAN__CFG(slave), .min = 1, .max = 247},
};
/* clang-format on */

const struct protocol protocol_solarman = {
    .name = "solarman",
    .text = "Modbus RTU through a Solarman V5 data logger (TCP port 8899)",
    .flags = PROTOCOL_NATIVE | PROTOCOL_RTU,
    .keys = tr_solarman__keys,
    .nkeys = sizeof tr_solarman__keys / sizeof tr_solarman__keys[0],
    .cfg_size = sizeof(struct tr_solarman_cfg),
    .cfg_init = tr_solarman__cfg_init,
    .ops = &transport_solarman,
    .default_poll = 20000,
    .typical_rtt = 1000,
};

/* Fuzz target for the Solarman transport's read path with state
 * (bridge/tr_solarman.c), not only the codec: the real device model with a
 * small map, the transport on one end of a socketpair (its requests land on
 * the other end, where this target reads them), and a uv loop that runs only
 * when the input says so (`tick`) and at teardown. The socketpair comes in
 * through the transport's env (include/transport_test.h): its link opens
 * the real TCP link over one end (link_tcp_open_fd) instead of connecting.
 *
 * The input is a program of operations, one byte each and its arguments:
 *   0, 1  feed the next 1..256 input bytes as logger bytes, cut in two at a
 *         point the input chooses (TCP may cut anywhere)
 *   2     a client read (table, address, count)
 *   3     a client FC06 write (address, value)
 *   4     a client FC16 write (address, count, values)
 *   5     a retry: abort the transaction in flight and start it again, as
 *         the device model does after a per-attempt timeout
 *   6     an answer built for the last request the transport sent, right or
 *         wrong in one way the input picks (sequence byte, echoed value or
 *         quantity, byte count, function code, slave, exception, logger
 *         error, doubled CRC), cut in two at a chosen point
 *   7     tick: run the loop once without waiting (write callbacks); or, for
 *         an argument of 0xFF, the logger closes the connection
 * Checks: every client callback comes exactly once (the last ones when the
 * device closes), and when no raw bytes were fed, no write is acknowledged
 * and no read answered unless a right answer was built for one (a wrong echo,
 * sequence or byte count is never taken). ASan/UBSan do the rest. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "link_tcp.h"
#include "transport_test.h"
#include "codec_v5.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

#define FZ_SERIAL 1234567u
#define FZ_SLAVE 1
#define FZ_MAX_REQS 64

struct fz_req {
	int called, is_write, status;
	uint16_t count;
};

static struct {
	uv_loop_t loop;
	struct map *map;
	struct config conf;
	struct config_device dcfg;
	struct link_tcp_ops tcp;
	struct transport_env env;
	int ready;
} fz;

/* Per input. */
static struct device *fz_dev;
static void *fz_state; /* the transport's, set by fz_tcp_open */
static struct link_tcp *fz_link;
static link_tcp_read_cb fz_on_read;
static int fz_peer = -1;
static struct fz_req fz_reqs[FZ_MAX_REQS];
static size_t fz_nreqs;
static int fz_raw;			       /* raw logger bytes were fed */
static unsigned fz_good_reads, fz_good_writes; /* right answers built */
static unsigned fz_ok_reads, fz_ok_writes;     /* successes seen */
/* The last request the transport sent, as read from the peer end. */
static uint8_t fz_peer_rx[V5_MAX_FRAME];
static struct v5_stream fz_peer_stream;
static uint8_t fz_last[V5_MAX_FRAME];
static size_t fz_last_len;

/* The transport's link: the real TCP link, over one end of a socketpair. */
static struct link_tcp *fz_tcp_open(uv_loop_t *loop, const struct link_tcp_opts *o)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return NULL;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	/* A small socket buffer, so that requests nobody reads soon wait in
	 * libuv's queue and its limit is reached (the logger that stopped
	 * reading). */
	int small = 2048;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	fz_peer = sv[1];
	fz_state = o->ctx;
	fz_on_read = o->on_read;
	/* Up at once: device_link_changed(dev, 1) follows device creation. */
	fz_link = link_tcp_open_fd(loop, o, sv[0]);
	return fz_link;
}

/* Bytes from the logger, in read-sized pieces as the link delivers them
 * (len 0: the logger closed the connection). */
static void fz_input(const uint8_t *data, size_t len)
{
	if (len == 0) {
		link_tcp_drop(fz_link, "closed by the logger");
		return;
	}
	while (len > 0 && link_tcp_is_up(fz_link)) {
		size_t n = len < LINK_TCP_READ_CHUNK ? len : LINK_TCP_READ_CHUNK;
		fz_on_read(fz_state, data, n);
		data += n;
		len -= n;
	}
}

static void fz_setup(void)
{
	char path[64], err[512];
	snprintf(path, sizeof path, "/tmp/fuzz-tr-solarman-%d.conf", (int)getpid());
	FILE *f = fopen(path, "w");
	FZ_CHECK(f != NULL);
	fprintf(f, "name = \"fz\"; protocol = \"solarman\"; trust = \"generated\";\n"
		   "registers = (\n");
	for (int i = 0; i < 8; i++)
		fprintf(f, "{ address = %d; name = \"h%d\"; access = \"rw\"; },\n", i, i);
	fprintf(f, "{ address = 8; name = \"u32\"; type = \"uint32\"; access = \"rw\"; },\n");
	for (int i = 0; i < 4; i++)
		fprintf(f, "{ address = %d; name = \"i%d\"; table = \"input\"; native = %d; },\n",
			i, i, 100 + i);
	fprintf(f, "{ address = 4; name = \"i4\"; table = \"input\"; native = 104; }\n);\n");
	fclose(f);
	fz.map = map_load(path, err, sizeof err);
	unlink(path);
	FZ_CHECK(fz.map != NULL);
	FZ_CHECK(uv_loop_init(&fz.loop) == 0);
	fz.dcfg.name = "fz";
	fz.dcfg.unit_id = 1;
	fz.dcfg.map = "fz";
	fz.dcfg.timeout = 60000; /* timers never fire within one input */
	fz.dcfg.max_age = 0;
	fz.dcfg.poll = 0;
	fz.dcfg.min_interval = 0;
	fz.dcfg.retries = -1;
	/* The solarman block as the config loader parses it into the
	 * protocol's own struct (kept for the life of the process). */
	snprintf(path, sizeof path, "/tmp/fuzz-tr-solarman-%d.cfg", (int)getpid());
	f = fopen(path, "w");
	FZ_CHECK(f != NULL);
	fprintf(f,
		"devices = ( { name = \"fz\"; unit_id = 1; map = \"fz\";\n"
		"  solarman = { host = \"fuzz\"; port = 8899; serial = %u; slave = %d; }; } );\n",
		FZ_SERIAL, FZ_SLAVE);
	fclose(f);
	static struct config *block;
	FZ_CHECK(config_load(path, &block, err, sizeof err) == 0);
	unlink(path);
	fz.dcfg.proto = block->devices[0].proto;
	fz.dcfg.proto_cfg = block->devices[0].proto_cfg;
	fz.conf.path = "fuzz.conf";
	fz.conf.defaults.timeout = 60000;
	fz.conf.defaults.max_age = -1;
	fz.conf.defaults.poll = -1;
	fz.conf.defaults.min_interval = -1;
	fz.conf.defaults.retries = -1;
	/* FZ_VERBOSE=1 shows the transport's debug lines (what it dropped). */
	log_init(0, getenv("FZ_VERBOSE") != NULL);
	fz.tcp = *transport_env_real.tcp;
	fz.tcp.open = fz_tcp_open;
	fz.env = transport_env_real;
	fz.env.tcp = &fz.tcp;
	transport_env = &fz.env;
	fz.ready = 1;
}

static void fz_cb(void *ctx, enum mb_exc status, const uint16_t *words, uint16_t count)
{
	struct fz_req *r = ctx;
	FZ_CHECK(!r->called);
	r->called = 1;
	r->status = status;
	if (status == 0) {
		if (r->is_write) {
			fz_ok_writes++;
		} else {
			FZ_CHECK(words != NULL && count == r->count);
			fz_ok_reads++;
		}
	}
}

static struct fz_req *fz_new_req(int is_write, uint16_t count)
{
	if (fz_nreqs == FZ_MAX_REQS)
		return NULL;
	struct fz_req *r = &fz_reqs[fz_nreqs++];
	memset(r, 0, sizeof *r);
	r->is_write = is_write;
	r->count = count;
	return r;
}

/* A request answered at once (cache, exception) gets no callback. */
static void fz_settle(struct fz_req *r, struct device_outcome rc)
{
	if (!rc.pending)
		r->called = 1;
}

/* What the transport sent: keep the last request frame. */
static void fz_drain_peer(void)
{
	uint8_t buf[4096];
	ssize_t n;
	while ((n = read(fz_peer, buf, sizeof buf)) > 0) {
		size_t off = 0;
		while (off < (size_t)n) {
			struct v5_frame f;
			off += codec_v5_stream_feed(&fz_peer_stream, buf + off, (size_t)n - off);
			while (codec_v5_stream_next(&fz_peer_stream, &f) == 1)
				if (f.control == V5_CTRL_REQUEST && f.len <= sizeof fz_last) {
					memcpy(fz_last, f.payload - V5_HEADER, f.len);
					fz_last_len = f.len;
				}
		}
	}
}

static void fz_feed_split(const uint8_t *p, size_t n, size_t cut)
{
	cut = n ? cut % (n + 1) : 0;
	if (cut)
		fz_input(p, cut);
	if (n > cut)
		fz_input(p + cut, n - cut);
}

/* An answer to the last request, right or wrong as variant says. */
static void fz_answer(uint8_t variant, uint8_t arg, uint8_t cut)
{
	struct v5_frame f;
	struct v5_rtu_request q;
	uint8_t rtu[V5_RTU_MAX], frame[V5_MAX_FRAME];
	uint16_t words[MB_MAX_READ];
	int n, good = 0;
	fz_drain_peer();
	if (!fz_last_len || codec_v5_decode(fz_last, fz_last_len, &f) != 0 ||
	    f.payload_len < V5_REQ_PREFIX ||
	    codec_v5_rtu_request_decode(f.payload + V5_REQ_PREFIX, f.payload_len - V5_REQ_PREFIX,
					&q) != 0)
		return;
	uint8_t seq = f.seq, slave = q.slave, fc = q.fc;
	uint16_t count = q.count, value = q.data ? (uint16_t)(q.data[0] << 8 | q.data[1]) : 0;
	const uint16_t value0 = value;
	switch (variant % 10) {
	case 1:
		seq = (uint8_t)(seq + 1 + arg % 255);
		break;
	case 2:
		value = (uint16_t)(value + 1 + arg);
		break;
	case 3:
		count = (uint16_t)(count + 1 + arg % 8);
		break;
	case 4:
		fc = (uint8_t)(fc ^ (1 + arg % 7));
		break;
	case 5:
		slave = (uint8_t)(slave + 1 + arg % 200);
		break;
	default:
		break;
	}
	if (fc == MB_FC_WRITE_MULTIPLE && variant % 10 == 2)
		count = (uint16_t)(count + 1); /* "another value" is the quantity for FC16 */
	if (variant % 10 == 6) {
		n = codec_v5_rtu_exception(rtu, sizeof rtu, slave, fc, (uint8_t)(1 + arg % 11));
	} else if (variant % 10 == 7) {
		rtu[0] = (uint8_t)(arg % 2 ? V5_LOGGER_SLAVE : V5_LOGGER_SERIAL);
		rtu[1] = 0;
		n = 2;
	} else if (fc == MB_FC_READ_HOLDING || fc == MB_FC_READ_INPUT) {
		if (count > MB_MAX_READ)
			count = MB_MAX_READ;
		for (uint16_t i = 0; i < count; i++)
			words[i] = (uint16_t)(arg * 257u + i);
		n = codec_v5_rtu_read_answer(rtu, sizeof rtu, slave, fc, words, count);
	} else {
		n = codec_v5_rtu_write_answer(rtu, sizeof rtu, slave, fc, q.addr,
					      fc == MB_FC_WRITE_SINGLE ? value : count);
	}
	if (n < 0)
		return;
	if (variant % 10 == 8 && (size_t)n + 2 <= sizeof rtu) {
		rtu[n++] = 0; /* a doubled CRC: still right */
		rtu[n++] = 0;
	}
	/* Right: everything the answer echoes is what was asked, and it
	 * answers the attempt in flight now. That is not always the request
	 * read last from the peer: a retry's request may still wait in the
	 * link's queue (no tick ran), and an answer "wrong" in its sequence
	 * byte for the one read may bear the one in flight, which is then its
	 * answer (the sequence byte is all that says which attempt it is). */
	const struct txn *t = tr_solarman_test_txn(fz_state);
	good = variant % 10 != 6 && variant % 10 != 7 && t && t->native == q.addr &&
	       t->count == q.count && seq == tr_solarman_test_seq(fz_state) && slave == q.slave &&
	       fc == q.fc && (fc == MB_FC_WRITE_SINGLE ? value == value0 : count == q.count);
	n = codec_v5_encode_answer(frame, sizeof frame, FZ_SERIAL, seq, arg, 1000, rtu, (size_t)n);
	if (n < 0)
		return;
	if (good) {
		if (q.fc == MB_FC_READ_HOLDING || q.fc == MB_FC_READ_INPUT)
			fz_good_reads++;
		else
			fz_good_writes++;
	}
	fz_feed_split(frame, (size_t)n, cut);
}

static void fz_retry(void)
{
	struct txn *t = tr_solarman_test_txn(fz_state);
	if (!t)
		return;
	transport_solarman.abort(fz_state, t);
	int rc = transport_solarman.start(fz_state, t);
	/* Like the device model: a start that fails ends the transaction, unless
	 * the transport already dropped the link (which ended it). */
	if (rc != 0 && transport_solarman.link_up(fz_state))
		device_txn_done(fz_dev, t, rc > 0 ? rc : MB_EXC_DEVICE_FAILURE);
}

static uint8_t fz_byte(const uint8_t *data, size_t size, size_t *i)
{
	return *i < size ? data[(*i)++] : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	if (!fz.ready)
		fz_setup();
	fz_nreqs = 0;
	fz_raw = 0;
	fz_good_reads = fz_good_writes = fz_ok_reads = fz_ok_writes = 0;
	fz_last_len = 0;
	codec_v5_stream_init(&fz_peer_stream, fz_peer_rx, sizeof fz_peer_rx);
	FZ_CHECK(device_create_ops(&fz.loop, &fz.conf, &fz.dcfg, fz.map, &transport_solarman,
				   &fz_dev, err, sizeof err) == 0);
	device_link_changed(fz_dev, 1);

	size_t i = 0;
	int closed = 0;
	while (i < size && !closed) {
		uint8_t op = data[i++] % 8;
		uint16_t out[MB_MAX_READ];
		struct device_req *dr;
		struct fz_req *r;
		struct device_outcome rc;
		switch (op) {
		case 0:
		case 1: {
			size_t n = (size_t)fz_byte(data, size, &i) + 1;
			size_t cut = fz_byte(data, size, &i);
			if (n > size - i)
				n = size - i;
			fz_raw = 1;
			fz_feed_split(data + i, n, cut);
			i += n;
			break;
		}
		case 2: {
			uint8_t a = fz_byte(data, size, &i), c = fz_byte(data, size, &i);
			int input = a & 0x80;
			uint16_t addr = (uint16_t)(a % (input ? 5 : 10));
			uint16_t count = (uint16_t)(1 + c % 4);
			if (!(r = fz_new_req(0, count)))
				break;
			rc = device_read(fz_dev, input ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING,
					 addr, count, out, fz_cb, r, &dr);
			fz_settle(r, rc);
			break;
		}
		case 3: {
			uint8_t a = fz_byte(data, size, &i);
			uint16_t v =
			    (uint16_t)(fz_byte(data, size, &i) << 8 | fz_byte(data, size, &i));
			if (!(r = fz_new_req(1, 1)))
				break;
			rc = device_write(fz_dev, MB_FC_WRITE_SINGLE, (uint16_t)(a % 8), 1, &v,
					  fz_cb, r, &dr);
			fz_settle(r, rc);
			break;
		}
		case 4: {
			uint8_t a = fz_byte(data, size, &i), c = fz_byte(data, size, &i);
			uint16_t w[4];
			uint16_t count = (uint16_t)(1 + c % 4);
			for (uint16_t k = 0; k < count; k++)
				w[k] = (uint16_t)(fz_byte(data, size, &i) * 3u + k);
			if (!(r = fz_new_req(1, count)))
				break;
			rc = device_write(fz_dev, MB_FC_WRITE_MULTIPLE, (uint16_t)(a % 10), count,
					  w, fz_cb, r, &dr);
			fz_settle(r, rc);
			break;
		}
		case 5:
			fz_retry();
			break;
		case 6: {
			uint8_t v = fz_byte(data, size, &i), a = fz_byte(data, size, &i);
			fz_answer(v, a, fz_byte(data, size, &i));
			break;
		}
		default:
			if (fz_byte(data, size, &i) == 0xFF) {
				fz_input(NULL, 0);
				closed = 1;
			} else {
				uv_run(&fz.loop, UV_RUN_NOWAIT);
				fz_drain_peer();
			}
			break;
		}
	}
	/* Coalescing lets one answer serve several clients, so only "none
	 * without any" is exact. */
	if (getenv("FZ_VERBOSE"))
		fprintf(stderr, "fuzz: reads %u/%u writes %u/%u (ok/right answers built)\n",
			fz_ok_reads, fz_good_reads, fz_ok_writes, fz_good_writes);
	if (!fz_raw) {
		FZ_CHECK(fz_good_reads > 0 || fz_ok_reads == 0);
		FZ_CHECK(fz_good_writes > 0 || fz_ok_writes == 0);
	}
	device_close(fz_dev);
	uv_run(&fz.loop, UV_RUN_DEFAULT);
	for (size_t k = 0; k < fz_nreqs; k++)
		FZ_CHECK(fz_reqs[k].called);
	close(fz_peer);
	fz_peer = -1;
	return 0;
}

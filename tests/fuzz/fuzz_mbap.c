/* Fuzz target for the Modbus TCP request parser (bridge/codec_mbap.c).
 *
 * The input is a byte stream as a client would send it. It is parsed twice:
 * once in one piece, once in chunks of pseudo-random sizes accumulated in a
 * connection-sized buffer, the way the server reads a socket. Both must yield
 * the same requests and stop at the same place, because a parser that
 * depends on how TCP cut the stream would answer the same client differently
 * from one run to the next. Every request is answered with the builders, and
 * the answers are checked against what the specification allows; the
 * server's fast path for plain reads (codec_mbap_read_frame and
 * codec_mbap_read_answer) must agree with the parser and the builder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb_error.h"
#include "codec_mbap.h"
#include "mbdef.h"

/* A violated property must crash, so that libFuzzer keeps the input. */
#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* The requests a stream holds, as far as it can be framed. */
#define FZ_MAX_REQS 2048

struct fz_seen {
	uint16_t tid, addr, count, value;
	uint8_t unit, fc, exc, mei, id_code, object_id;
	uint32_t values_sum; /* FC16 words folded, to compare the payloads too */
};

struct fz_run {
	struct fz_seen reqs[FZ_MAX_REQS];
	size_t n;
	int proto_error; /* MB_EPROTO seen: the stream lost its framing */
	size_t consumed;
};

static uint32_t fz_fold(const struct mbap_req *req)
{
	uint16_t words[MB_MAX_WRITE + 1];
	uint32_t sum = 0;
	if (req->exc != 0)
		return 0;
	if (req->fc != MB_FC_WRITE_SINGLE && req->fc != MB_FC_WRITE_MULTIPLE)
		return 0;
	FZ_CHECK(req->count >= 1 && req->count <= MB_MAX_WRITE);
	FZ_CHECK(req->fc == MB_FC_WRITE_SINGLE || req->values != NULL);
	codec_mbap_req_words(req, words);
	for (uint16_t i = 0; i < req->count; i++)
		sum = sum * 31u + words[i];
	return sum;
}

/* Answer req every way the server may, and check the answers. */
static void fz_answer(const struct mbap_req *req)
{
	static const char *const objects[MBAP_NOBJ] = {"modbridge", NULL, "0.1.0"};
	uint8_t out[MBAP_MAX_ADU];
	uint16_t words[MB_MAX_READ];
	for (unsigned i = 0; i < MB_MAX_READ; i++)
		words[i] = (uint16_t)(i * 257u);

	int n = codec_mbap_answer_exception(req, MB_EXC_GATEWAY_TARGET, out, sizeof out);
	FZ_CHECK(n == MBAP_HEADER + 2);
	FZ_CHECK(out[MBAP_HEADER] == (uint8_t)(req->fc | 0x80));
	/* Too small a buffer must be refused, never overrun. */
	FZ_CHECK(codec_mbap_answer_exception(req, 1, out, MBAP_HEADER + 1) == MB_ETOOBIG);

	if (req->exc != 0) {
		n = codec_mbap_answer(req, req->exc, NULL, out, sizeof out);
		FZ_CHECK(n == MBAP_HEADER + 2);
		return;
	}
	switch (req->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		FZ_CHECK(req->count >= 1 && req->count <= MB_MAX_READ);
		FZ_CHECK((uint32_t)req->addr + req->count <= 0x10000);
		n = codec_mbap_answer(req, 0, words, out, sizeof out);
		FZ_CHECK(n == MBAP_HEADER + 2 + 2 * req->count);
		/* The MBAP length field counts the unit ID and the PDU. */
		FZ_CHECK(((unsigned)out[4] << 8 | out[5]) == (unsigned)n - 6u);
		FZ_CHECK(out[MBAP_HEADER + 1] == 2 * req->count);
		FZ_CHECK(codec_mbap_answer_read(req, words, out, (size_t)n - 1) == MB_ETOOBIG);
		break;
	case MB_FC_WRITE_SINGLE:
	case MB_FC_WRITE_MULTIPLE:
		FZ_CHECK(req->count >= 1);
		n = codec_mbap_answer(req, 0, NULL, out, sizeof out);
		FZ_CHECK(n == MBAP_HEADER + 5);
		break;
	case MB_FC_MEI: {
		n = codec_mbap_answer_ident(req, objects, out, sizeof out);
		FZ_CHECK(n >= MBAP_HEADER + 2 && n <= MBAP_MAX_ADU);
		FZ_CHECK(((unsigned)out[4] << 8 | out[5]) == (unsigned)n - 6u);
		/* A name longer than any answer is cut, never overflows. */
		static char longname[400];
		if (!longname[0])
			memset(longname, 'x', sizeof longname - 1);
		const char *const big[MBAP_NOBJ] = {longname, longname, longname};
		n = codec_mbap_answer_ident(req, big, out, sizeof out);
		FZ_CHECK(n >= MBAP_HEADER + 2 && n <= MBAP_MAX_ADU);
		FZ_CHECK(codec_mbap_answer_ident(req, objects, out, MBAP_MAX_ADU - 1) ==
			 MB_ETOOBIG);
		break;
	}
	default:
		/* A well-formed request of a function the parser does not know
		 * would be a parser bug: unknown functions carry exception 01. */
		FZ_CHECK(0);
	}
}

static void fz_record(struct fz_run *run, const struct mbap_req *req)
{
	if (run->n >= FZ_MAX_REQS)
		return;
	struct fz_seen *s = &run->reqs[run->n++];
	s->tid = req->tid;
	s->unit = req->unit;
	s->fc = req->fc;
	s->exc = req->exc;
	s->addr = req->addr;
	s->count = req->count;
	s->value = req->value;
	s->mei = req->mei;
	s->id_code = req->id_code;
	s->object_id = req->object_id;
	s->values_sum = fz_fold(req);
}

/* Parse everything complete at the start of buf; returns bytes consumed. */
static size_t fz_drain(struct fz_run *run, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	while (!run->proto_error && off < len) {
		struct mbap_req req;
		uint16_t fa = 0, fn = 0;
		int fast = codec_mbap_read_frame(buf + off, len - off, &fa, &fn);
		int rc = codec_mbap_parse(buf + off, len - off, &req);
		/* The front's fast path takes exactly the plain reads the
		 * parser takes, and answers them with the same bytes. */
		FZ_CHECK(fast == (rc == MBAP_READ_FRAME &&
				  (req.fc == MB_FC_READ_HOLDING || req.fc == MB_FC_READ_INPUT) &&
				  req.exc == 0));
		if (fast) {
			uint16_t words[MB_MAX_READ];
			uint8_t o1[MBAP_MAX_ADU], o2[MBAP_MAX_ADU];
			for (unsigned i = 0; i < MB_MAX_READ; i++)
				words[i] = (uint16_t)(i * 40503u + off);
			FZ_CHECK(fa == req.addr && fn == req.count);
			size_t l1 = codec_mbap_read_answer(buf + off, words, fn, o1);
			int l2 = codec_mbap_answer_read(&req, words, o2, sizeof o2);
			FZ_CHECK(l2 > 0 && l1 == (size_t)l2 && memcmp(o1, o2, l1) == 0);
		}
		if (rc == MB_EPROTO) {
			run->proto_error = 1;
			break;
		}
		FZ_CHECK(rc >= 0);
		if (rc == 0)
			break;
		FZ_CHECK(rc >= MBAP_HEADER + 1 && (size_t)rc <= MBAP_MAX_FRAME);
		/* A frame longer than Modbus allows is never a valid request. */
		FZ_CHECK((size_t)rc <= MBAP_MAX_ADU || req.exc != 0);
		FZ_CHECK((size_t)rc <= len - off);
		fz_record(run, &req);
		fz_answer(&req);
		off += (size_t)rc;
	}
	return off;
}

static int fz_same(const struct fz_seen *a, const struct fz_seen *b)
{
	return a->tid == b->tid && a->unit == b->unit && a->fc == b->fc && a->exc == b->exc &&
	       a->addr == b->addr && a->count == b->count && a->value == b->value &&
	       a->mei == b->mei && a->id_code == b->id_code && a->object_id == b->object_id &&
	       a->values_sum == b->values_sum;
}

static struct fz_run fz_whole, fz_chunked;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_whole.n = fz_chunked.n = 0;
	fz_whole.proto_error = fz_chunked.proto_error = 0;
	fz_chunked.consumed = 0;

	fz_whole.consumed = fz_drain(&fz_whole, data, size);

	/* The chunked reader: a buffer of one maximal ADU plus a read, as a
	 * server connection keeps; chunk sizes come from a generator seeded
	 * by the input so that a crashing input replays the same cuts. */
	uint8_t conn[MBAP_MAX_FRAME + 64];
	size_t used = 0, fed = 0;
	uint32_t seed = 2166136261u;
	for (size_t i = 0; i < size && i < 16; i++)
		seed = (seed ^ data[i]) * 16777619u;
	while (fed < size && !fz_chunked.proto_error) {
		seed = seed * 1103515245u + 12345u;
		size_t chunk = 1 + (seed >> 16) % 13;
		if ((seed >> 8) % 7 == 0)
			chunk = 64; /* now and then a whole segment */
		if (chunk > size - fed)
			chunk = size - fed;
		if (chunk > sizeof conn - used)
			chunk = sizeof conn - used;
		/* The buffer always has room: a complete frame is consumed at
		 * once and a partial one is shorter than MBAP_MAX_FRAME. */
		FZ_CHECK(chunk > 0);
		memcpy(conn + used, data + fed, chunk);
		used += chunk;
		fed += chunk;
		size_t took = fz_drain(&fz_chunked, conn, used);
		memmove(conn, conn + took, used - took);
		used -= took;
		fz_chunked.consumed += took;
	}

	FZ_CHECK(fz_whole.n == fz_chunked.n);
	FZ_CHECK(fz_whole.proto_error == fz_chunked.proto_error);
	FZ_CHECK(fz_whole.consumed == fz_chunked.consumed);
	for (size_t i = 0; i < fz_whole.n; i++)
		FZ_CHECK(fz_same(&fz_whole.reqs[i], &fz_chunked.reqs[i]));
	return 0;
}

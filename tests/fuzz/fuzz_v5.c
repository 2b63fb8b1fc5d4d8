/* Fuzz target for the Solarman V5 codec (bridge/codec_v5.c).
 *
 * The input is what a logger sends on its TCP connection. It goes through the
 * stream parser twice: fed as fast as the buffer takes it, and fed in chunks
 * of pseudo-random sizes as TCP may cut it. Both must find the same frames,
 * and the parser must always make progress (a stuck parser would hang the
 * transport). Each frame is encoded again and must give back its own bytes,
 * is checked as an answer, and its RTU part is decoded. The raw input also
 * goes straight into the frame and RTU decoders. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb_error.h"
#include "codec_v5.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

#define FZ_MAX_FRAMES 1024

struct fz_frames {
	uint32_t hash[FZ_MAX_FRAMES];
	size_t n;
};

static uint32_t fz_hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h ^ (uint32_t)n;
}

static void fz_rtu(const uint8_t *rtu, size_t len)
{
	struct v5_rtu_answer a;
	if (codec_v5_rtu_answer_decode(rtu, len, &a) == 0 && a.exception == 0 && a.data)
		FZ_CHECK(a.data >= rtu && a.nbytes <= len &&
			 (size_t)(a.data - rtu) <= len - a.nbytes);
	struct v5_rtu_request r;
	if (codec_v5_rtu_request_decode(rtu, len, &r) == 0 && r.data)
		FZ_CHECK(r.data >= rtu && 2u * r.count <= len &&
			 (size_t)(r.data - rtu) <= len - 2u * r.count);
}

/* Everything the transport and the simulator do with one frame. */
static void fz_frame(const struct v5_frame *f)
{
	FZ_CHECK(f->len == f->payload_len + V5_OVERHEAD && f->payload_len <= V5_MAX_PAYLOAD);
	const uint8_t *raw = f->payload - V5_HEADER;
	uint8_t out[V5_MAX_FRAME];
	int n = codec_v5_encode(out, sizeof out, f);
	FZ_CHECK(n > 0 && (size_t)n == f->len && memcmp(out, raw, f->len) == 0);
	FZ_CHECK(codec_v5_encode(out, f->len - 1, f) == MB_ETOOBIG);

	if (codec_v5_is_unsolicited(f)) {
		n = codec_v5_encode_time_answer(out, sizeof out, f, 1700000000u);
		FZ_CHECK(n == V5_TIME_ANSWER_LEN);
		struct v5_frame t;
		FZ_CHECK(codec_v5_decode(out, (size_t)n, &t) == 0 && t.serial == f->serial);
		FZ_CHECK(codec_v5_encode_time_answer(out, V5_TIME_ANSWER_LEN - 1, f, 0) ==
			 MB_ETOOBIG);
	}
	struct v5_answer a;
	if (codec_v5_check_answer(f, f->serial, f->seq, &a) == 0) {
		FZ_CHECK(a.rtu >= f->payload && a.rtu_len <= f->payload_len &&
			 (size_t)(a.rtu - f->payload) <= f->payload_len - a.rtu_len);
		if (!a.logger_error)
			fz_rtu(a.rtu, a.rtu_len);
	}
	if (f->control == V5_CTRL_REQUEST && f->payload_len >= V5_REQ_PREFIX)
		fz_rtu(f->payload + V5_REQ_PREFIX, f->payload_len - V5_REQ_PREFIX);
}

/* Drain complete frames, recording them. */
static void fz_next_all(struct v5_stream *s, struct fz_frames *got)
{
	struct v5_frame f;
	int guard = 0;
	while (codec_v5_stream_next(s, &f) == 1) {
		FZ_CHECK(++guard <= V5_MAX_FRAME);
		fz_frame(&f);
		if (got->n < FZ_MAX_FRAMES)
			got->hash[got->n++] = fz_hash(f.payload - V5_HEADER, f.len);
	}
}

/* Feed data in chunks chosen by next_chunk (0 = as much as fits). */
static void fz_stream(const uint8_t *data, size_t size, uint32_t seed, struct fz_frames *got,
		      uint64_t *dropped)
{
	static uint8_t buf[V5_MAX_FRAME];
	struct v5_stream s;
	FZ_CHECK(codec_v5_stream_init(&s, buf, sizeof buf) == 0);
	got->n = 0;
	size_t fed = 0;
	while (fed < size) {
		size_t chunk = size - fed;
		if (seed) {
			seed = seed * 1103515245u + 12345u;
			size_t want = 1 + (seed >> 16) % 41;
			if ((seed >> 8) % 9 == 0)
				want = 700;
			if (want < chunk)
				chunk = want;
		}
		size_t took = codec_v5_stream_feed(&s, data + fed, chunk);
		fz_next_all(&s, got);
		/* A full buffer must be drained by next(): once it said "need
		 * more bytes", a feed has to take some, or the transport would
		 * spin on a connection that never makes progress. */
		if (took == 0) {
			took = codec_v5_stream_feed(&s, data + fed, chunk);
			FZ_CHECK(took > 0);
			fz_next_all(&s, got);
		}
		fed += took;
	}
	*dropped = s.dropped_bytes + s.dropped_frames;
	codec_v5_stream_reset(&s);
	struct v5_frame f;
	FZ_CHECK(codec_v5_stream_next(&s, &f) == 0);
}

static struct fz_frames fz_whole, fz_chunked;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t d1, d2; /* garbage counts: informative, not compared */
	uint32_t seed = 2166136261u;
	for (size_t i = 0; i < size && i < 16; i++)
		seed = (seed ^ data[i]) * 16777619u;
	fz_stream(data, size, 0, &fz_whole, &d1);
	fz_stream(data, size, seed | 1, &fz_chunked, &d2);
	FZ_CHECK(fz_whole.n == fz_chunked.n);
	FZ_CHECK(memcmp(fz_whole.hash, fz_chunked.hash, fz_whole.n * sizeof fz_whole.hash[0]) == 0);
	(void)d1;
	(void)d2;

	struct v5_frame f;
	if (codec_v5_decode(data, size, &f) == 0) {
		FZ_CHECK(f.len <= size);
		fz_frame(&f);
	}
	fz_rtu(data, size);
	return 0;
}

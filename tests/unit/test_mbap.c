/* Unit tests of the Modbus TCP codec (bridge/codec_mbap.c): framing across
 * segment boundaries, the exception each malformed request deserves, and
 * the literal bytes of every answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mb_error.h"
#include "codec_mbap.h"
#include "mbdef.h"

/* A request ADU from its tid, unit and PDU bytes. */
static size_t adu(uint8_t *out, uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t n)
{
	out[0] = (uint8_t)(tid >> 8);
	out[1] = (uint8_t)tid;
	out[2] = 0;
	out[3] = 0;
	out[4] = (uint8_t)((n + 1) >> 8);
	out[5] = (uint8_t)(n + 1);
	out[6] = unit;
	memcpy(out + 7, pdu, n);
	return n + 7;
}

/* Parse a PDU framed as one ADU; checks that it is consumed whole. */
static struct mbap_req parse_pdu(const uint8_t *pdu, size_t n)
{
	uint8_t buf[MBAP_MAX_ADU + 16];
	struct mbap_req r;
	size_t len = adu(buf, 0x1234, 7, pdu, n);
	assert_int_equal(codec_mbap_parse(buf, len, &r), (int)len);
	assert_int_equal(r.tid, 0x1234);
	assert_int_equal(r.unit, 7);
	assert_int_equal(r.fc, pdu[0]);
	return r;
}

static void test_read_request(void **state)
{
	(void)state;
	const uint8_t req[] = {0x00, 0x01, 0x00, 0x00, 0x00, 0x06,
			       0x11, 0x03, 0x00, 0x6B, 0x00, 0x03};
	struct mbap_req r;
	assert_int_equal(codec_mbap_parse(req, sizeof req, &r), 12);
	assert_int_equal(r.tid, 1);
	assert_int_equal(r.unit, 0x11);
	assert_int_equal(r.fc, 3);
	assert_int_equal(r.addr, 0x6B);
	assert_int_equal(r.count, 3);
	assert_int_equal(r.exc, 0);
	/* Trailing bytes of the next request are not taken. */
	uint8_t two[sizeof req + 3];
	memcpy(two, req, sizeof req);
	memcpy(two + sizeof req, req, 3);
	assert_int_equal(codec_mbap_parse(two, sizeof two, &r), 12);
}

static void test_several_in_one_buffer(void **state)
{
	(void)state;
	uint8_t buf[512];
	size_t len = 0;
	const uint8_t rd[] = {0x03, 0x00, 0x00, 0x00, 0x0A};
	const uint8_t in[] = {0x04, 0x00, 0x10, 0x00, 0x02};
	const uint8_t ws[] = {0x06, 0x00, 0x05, 0xAB, 0xCD};
	const uint8_t wm[] = {0x10, 0x03, 0xE8, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02};
	const uint8_t bad[] = {0x05, 0x00, 0x01, 0xFF, 0x00};
	len += adu(buf + len, 1, 1, rd, sizeof rd);
	len += adu(buf + len, 2, 1, in, sizeof in);
	len += adu(buf + len, 3, 2, ws, sizeof ws);
	len += adu(buf + len, 4, 3, wm, sizeof wm);
	len += adu(buf + len, 5, 4, bad, sizeof bad);

	const struct {
		uint16_t tid;
		uint8_t unit, fc, exc;
		uint16_t addr, count;
	} want[] = {
	    {1, 1, 0x03, 0, 0, 10},   {2, 1, 0x04, 0, 0x10, 2}, {3, 2, 0x06, 0, 5, 1},
	    {4, 3, 0x10, 0, 1000, 2}, {5, 4, 0x05, 1, 0, 0},
	};
	size_t off = 0;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		struct mbap_req r;
		int n = codec_mbap_parse(buf + off, len - off, &r);
		assert_true(n > 0);
		off += (size_t)n;
		assert_int_equal(r.tid, want[i].tid);
		assert_int_equal(r.unit, want[i].unit);
		assert_int_equal(r.fc, want[i].fc);
		assert_int_equal(r.exc, want[i].exc);
		assert_int_equal(r.addr, want[i].addr);
		assert_int_equal(r.count, want[i].count);
		if (r.fc == 0x06)
			assert_int_equal(r.value, 0xABCD);
		if (r.fc == 0x10) {
			uint16_t w[2];
			codec_mbap_req_words(&r, w);
			assert_int_equal(w[0], 0x000A);
			assert_int_equal(w[1], 0x0102);
		}
	}
	assert_int_equal(off, len);
	struct mbap_req r;
	assert_int_equal(codec_mbap_parse(buf + off, 0, &r), 0);
}

/* Every split of one request: the prefix is incomplete, and a buffer that
 * holds the prefix and then the rest parses to the same request. */
static void test_split_at_every_offset(void **state)
{
	(void)state;
	const uint8_t wm[] = {0x10, 0x00, 0x64, 0x00, 0x03, 0x06,
			      0x00, 0x01, 0x00, 0x02, 0x00, 0x03};
	uint8_t whole[64];
	size_t len = adu(whole, 0xBEEF, 9, wm, sizeof wm);
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t buf[64];
		struct mbap_req r;
		memset(buf, 0xEE, sizeof buf);
		memcpy(buf, whole, cut);
		assert_int_equal(codec_mbap_parse(buf, cut, &r), 0);
		memcpy(buf + cut, whole + cut, len - cut);
		assert_int_equal(codec_mbap_parse(buf, len, &r), (int)len);
		assert_int_equal(r.tid, 0xBEEF);
		assert_int_equal(r.unit, 9);
		assert_int_equal(r.fc, 0x10);
		assert_int_equal(r.exc, 0);
		assert_int_equal(r.addr, 100);
		assert_int_equal(r.count, 3);
		uint16_t w[3];
		codec_mbap_req_words(&r, w);
		assert_int_equal(w[0], 1);
		assert_int_equal(w[1], 2);
		assert_int_equal(w[2], 3);
	}
}

static void test_garbage(void **state)
{
	(void)state;
	struct mbap_req r;
	/* Protocol ID != 0 is refused as soon as it is seen. */
	const uint8_t pid[] = {0x00, 0x01, 0x00, 0x01};
	assert_int_equal(codec_mbap_parse(pid, sizeof pid, &r), MB_EPROTO);
	const uint8_t pid2[] = {0x00, 0x01, 0x80, 0x00, 0x00, 0x06, 0x01, 0x03, 0, 0, 0, 1};
	assert_int_equal(codec_mbap_parse(pid2, sizeof pid2, &r), MB_EPROTO);
	/* Length 0 and 1 cannot frame a PDU; over MBAP_MAX_LENGTH no request
	 * can be that long. */
	const uint16_t lengths[] = {0, 1, MBAP_MAX_LENGTH + 1, 300, 0xFFFF};
	for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
		uint8_t h[6] = {0, 1, 0, 0, (uint8_t)(lengths[i] >> 8), (uint8_t)lengths[i]};
		assert_int_equal(codec_mbap_parse(h, sizeof h, &r), MB_EPROTO);
	}
	/* Text is garbage too ("GET / HTTP/1.0"). */
	const uint8_t http[] = "GET / HTTP/1.0\r\n\r\n";
	assert_int_equal(codec_mbap_parse(http, sizeof http - 1, &r), MB_EPROTO);
	/* The extremes that are allowed: length 2 (a bare function code) and
	 * 254 (the longest PDU). */
	const uint8_t l2[] = {0, 1, 0, 0, 0, 2, 1, 0x03};
	assert_int_equal(codec_mbap_parse(l2, sizeof l2, &r), 8);
	assert_int_equal(r.exc, MB_EXC_ILLEGAL_VALUE);
	uint8_t l254[6 + 254] = {0, 1, 0, 0, 0, 254, 1, 0x41};
	assert_int_equal(codec_mbap_parse(l254, sizeof l254, &r), 260);
	assert_int_equal(r.exc, MB_EXC_ILLEGAL_FUNCTION);
	assert_int_equal(codec_mbap_parse(l254, sizeof l254 - 1, &r), 0);
}

/* Longer than Modbus allows, but still a frame: read whole, answered with an
 * exception instead of a dropped connection (a client waits its whole
 * timeout for a connection that just closes). */
static void test_oversized(void **state)
{
	(void)state;
	struct mbap_req r;
	uint8_t buf[MBAP_MAX_FRAME];
	/* FC16 of 124 registers with all 248 bytes: length 255. */
	memset(buf, 0, sizeof buf);
	const uint8_t h16[] = {0x12, 0x34, 0, 0, 0, 255, 1, 0x10, 0x03, 0xE8, 0, 124, 248};
	memcpy(buf, h16, sizeof h16);
	assert_int_equal(codec_mbap_parse(buf, 6 + 255 - 1, &r), 0);
	assert_int_equal(codec_mbap_parse(buf, 6 + 255, &r), 6 + 255);
	assert_int_equal(r.tid, 0x1234);
	assert_int_equal(r.fc, 0x10);
	assert_int_equal(r.exc, MB_EXC_ILLEGAL_VALUE);
	/* FC16 of 127 registers, byte count 254: length 261. */
	const uint8_t h127[] = {0, 2, 0, 0, 1, 5, 1, 0x10, 0, 0, 0, 127, 254};
	memcpy(buf, h127, sizeof h127);
	assert_int_equal(codec_mbap_parse(buf, 6 + 261, &r), 6 + 261);
	assert_int_equal(r.exc, MB_EXC_ILLEGAL_VALUE);
	/* FC23 with byte count 255: the longest, length 266; not served: 01. */
	const uint8_t h23[] = {0, 3, 0, 0, 1, 10, 1, 0x17, 0, 0, 0, 1, 0, 0, 0, 127, 255};
	memcpy(buf, h23, sizeof h23);
	assert_int_equal(MBAP_MAX_LENGTH, 266);
	assert_int_equal(codec_mbap_parse(buf, sizeof buf, &r), MBAP_MAX_FRAME);
	assert_int_equal(r.exc, MB_EXC_ILLEGAL_FUNCTION);
	/* An FC03 padded past 254 is still an FC03 of the wrong length: 03. */
	const uint8_t h03[] = {0, 4, 0, 0, 1, 0, 1, 0x03, 0, 0, 0, 1};
	memcpy(buf, h03, sizeof h03);
	assert_int_equal(codec_mbap_parse(buf, 6 + 256, &r), 6 + 256);
	assert_int_equal(r.exc, MB_EXC_ILLEGAL_VALUE);
	/* One byte more than the bound is garbage, judged from the header. */
	const uint8_t h267[] = {0, 5, 0, 0, 1, 11};
	assert_int_equal(codec_mbap_parse(h267, sizeof h267, &r), MB_EPROTO);
}

static void test_malformed(void **state)
{
	(void)state;
	const struct {
		const char *what;
		uint8_t pdu[32];
		size_t n;
		uint8_t exc;
	} cases[] = {
	    {"FC03 quantity 0", {0x03, 0, 0, 0, 0}, 5, 0x03},
	    {"FC03 quantity 126", {0x03, 0, 0, 0, 126}, 5, 0x03},
	    {"FC03 quantity 125", {0x03, 0, 0, 0, 125}, 5, 0x00},
	    {"FC03 quantity 0xFFFF", {0x03, 0, 0, 0xFF, 0xFF}, 5, 0x03},
	    {"FC04 quantity 0", {0x04, 0, 0, 0, 0}, 5, 0x03},
	    {"FC04 quantity 126", {0x04, 0, 0, 0, 126}, 5, 0x03},
	    {"FC03 short", {0x03, 0, 0, 0}, 4, 0x03},
	    {"FC03 long", {0x03, 0, 0, 0, 1, 0}, 6, 0x03},
	    {"FC03 past 65535", {0x03, 0xFF, 0xFF, 0, 2}, 5, 0x02},
	    {"FC03 at 65535", {0x03, 0xFF, 0xFF, 0, 1}, 5, 0x00},
	    {"FC06 short", {0x06, 0, 1, 0}, 4, 0x03},
	    {"FC06 long", {0x06, 0, 1, 0, 1, 0}, 6, 0x03},
	    {"FC16 quantity 0", {0x10, 0, 0, 0, 0, 0}, 6, 0x03},
	    {"FC16 quantity 124", {0x10, 0, 0, 0, 124, 248}, 6, 0x03},
	    {"FC16 byte count != 2*quantity", {0x10, 0, 0, 0, 2, 3, 0, 1, 0}, 9, 0x03},
	    {"FC16 fewer bytes than byte count", {0x10, 0, 0, 0, 2, 4, 0, 1, 0}, 9, 0x03},
	    {"FC16 more bytes than byte count", {0x10, 0, 0, 0, 1, 2, 0, 1, 0}, 9, 0x03},
	    {"FC16 header only", {0x10, 0, 0, 0, 1}, 5, 0x03},
	    {"FC16 past 65535", {0x10, 0xFF, 0xFF, 0, 2, 4, 0, 1, 0, 2}, 10, 0x02},
	    {"FC01 read coils", {0x01, 0, 0, 0, 8}, 5, 0x01},
	    {"FC02 read inputs", {0x02, 0, 0, 0, 8}, 5, 0x01},
	    {"FC05 write coil", {0x05, 0, 1, 0xFF, 0}, 5, 0x01},
	    {"FC0F write coils", {0x0F, 0, 0, 0, 8, 1, 0xFF}, 7, 0x01},
	    {"FC17 read/write", {0x17, 0, 0, 0, 1, 0, 0, 0, 1, 2, 0, 0}, 12, 0x01},
	    {"FC83 (exception bit)", {0x83, 0, 0, 0, 1}, 5, 0x01},
	    {"FC00", {0x00}, 1, 0x01},
	    {"FC43 MEI 0x0D (CANopen)", {0x2B, 0x0D, 0, 0}, 4, 0x01},
	    {"FC43 no MEI type", {0x2B}, 1, 0x03},
	    {"FC43/0E short", {0x2B, 0x0E, 1}, 3, 0x03},
	    {"FC43/0E long", {0x2B, 0x0E, 1, 0, 0}, 5, 0x03},
	    {"FC43/0E code 0", {0x2B, 0x0E, 0, 0}, 4, 0x03},
	    {"FC43/0E code 5", {0x2B, 0x0E, 5, 0}, 4, 0x03},
	    {"FC43/0E code 4 object 2", {0x2B, 0x0E, 4, 2}, 4, 0x00},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mbap_req r = parse_pdu(cases[i].pdu, cases[i].n);
		if (r.exc != cases[i].exc)
			fail_msg("%s: exception %02x, want %02x", cases[i].what, r.exc,
				 cases[i].exc);
	}
}

static void test_answer_read(void **state)
{
	(void)state;
	const uint8_t pdu[] = {0x03, 0x00, 0x6B, 0x00, 0x03};
	struct mbap_req r = parse_pdu(pdu, sizeof pdu);
	const uint16_t words[] = {0x022B, 0x0000, 0x0064};
	uint8_t out[MBAP_MAX_ADU];
	const uint8_t want[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x09, 0x07, 0x03,
				0x06, 0x02, 0x2B, 0x00, 0x00, 0x00, 0x64};
	assert_int_equal(codec_mbap_answer_read(&r, words, out, sizeof out), sizeof want);
	assert_memory_equal(out, want, sizeof want);
	assert_int_equal(codec_mbap_answer(&r, 0, words, out, sizeof out), sizeof want);
	assert_memory_equal(out, want, sizeof want);
	/* Not enough room is refused, never overrun. */
	assert_int_equal(codec_mbap_answer_read(&r, words, out, sizeof want - 1), MB_ETOOBIG);

	/* FC04 with the full 125 words: 7 + 2 + 250 bytes. */
	const uint8_t in[] = {0x04, 0x00, 0x00, 0x00, 125};
	r = parse_pdu(in, sizeof in);
	uint16_t many[125];
	for (int i = 0; i < 125; i++)
		many[i] = (uint16_t)(0x0100 + i);
	assert_int_equal(codec_mbap_answer_read(&r, many, out, sizeof out), 259);
	assert_int_equal(out[4], 0);
	assert_int_equal(out[5], 253);
	assert_int_equal(out[7], 0x04);
	assert_int_equal(out[8], 250);
	assert_int_equal(out[9], 0x01);
	assert_int_equal(out[10], 0x00);
	assert_int_equal(out[257], 0x01);
	assert_int_equal(out[258], 124);
}

/* The front's fast path (codec_mbap_read_frame, codec_mbap_read_answer)
 * against the ordinary parse and answer: over frames that vary every field
 * near its limits, and random ones, the fast path takes a frame exactly
 * when codec_mbap_parse takes it as a whole FC03/FC04 request of 12 bytes
 * with no exception, with the same range, and writes the same answer,
 * byte for byte, for words of every bit pattern. */
static void test_fast_read_alike(void **state)
{
	(void)state;
	static const uint8_t hdr[][4] = {{0, 0, 0, 6}, {0, 1, 0, 6}, {1, 0, 0, 6}, {0, 0, 0, 5},
					 {0, 0, 0, 7}, {0, 0, 1, 6}, {0, 0, 0, 2}, {0, 0, 0, 0}};
	static const uint8_t fcs[] = {3, 4, 0, 1, 2, 5, 6, 16, 43, 0x83, 0x84, 0xFF};
	static const uint16_t addrs[] = {0, 1, 100, 0xFF00, 65410, 65411, 65412, 65534, 65535};
	static const uint16_t counts[] = {0,  1,  2,   3,   7,	 8,   9,    15,
					  16, 17, 124, 125, 126, 256, 65535};
	uint16_t words[MB_MAX_READ + 2]; /* also read from words + 1 and + 2 */
	uint32_t seed = 12345;
	for (int i = 0; i < MB_MAX_READ + 2; i++) {
		seed = seed * 1103515245u + 12345u;
		words[i] = (uint16_t)(seed >> 8);
	}
	size_t taken = 0, tried = 0;
	for (int round = 0; round < 2; round++)
		for (size_t h = 0; h < sizeof hdr / sizeof hdr[0]; h++)
			for (size_t f = 0; f < sizeof fcs; f++)
				for (size_t a = 0; a < sizeof addrs / sizeof addrs[0]; a++)
					for (size_t k = 0; k < sizeof counts / sizeof counts[0];
					     k++) {
						uint8_t buf[16] = {(uint8_t)(0x12 + round),
								   (uint8_t)(0x34 + h),
								   0,
								   0,
								   0,
								   0,
								   (uint8_t)(round ? 255 : a)};
						memcpy(buf + 2, hdr[h], 4);
						buf[7] = fcs[f];
						buf[8] = (uint8_t)(addrs[a] >> 8);
						buf[9] = (uint8_t)addrs[a];
						buf[10] = (uint8_t)(counts[k] >> 8);
						buf[11] = (uint8_t)counts[k];
						/* Bytes after the frame, and frames cut
						 * short, change nothing. */
						size_t len = round ? 16 : 12 - (k % 3 == 2);
						uint16_t fa = 0, fn = 0;
						int fast =
						    codec_mbap_read_frame(buf, len, &fa, &fn);
						struct mbap_req req;
						int n = codec_mbap_parse(buf, len, &req);
						int plain = n == 12 &&
							    (req.fc == MB_FC_READ_HOLDING ||
							     req.fc == MB_FC_READ_INPUT) &&
							    req.exc == MB_EXC_NONE;
						tried++;
						assert_int_equal(fast, plain);
						if (!fast)
							continue;
						taken++;
						assert_int_equal(fa, req.addr);
						assert_int_equal(fn, req.count);
						uint8_t o1[MBAP_MAX_ADU], o2[MBAP_MAX_ADU];
						memset(o1, 0xAA, sizeof o1);
						memset(o2, 0xAA, sizeof o2);
						int l2 = codec_mbap_answer_read(&req, words, o2,
										sizeof o2);
						size_t l1 =
						    codec_mbap_read_answer(buf, words, fn, o1);
						assert_int_equal(l1, l2);
						assert_memory_equal(o1, o2, sizeof o1);
					}
	/* Both kinds were seen: the comparison compared something. */
	assert_true(taken > 100);
	assert_true(tried - taken > 100);
	/* Every quantity from 1 to 125: each tail of the word swap. */
	for (uint16_t n = 1; n <= MB_MAX_READ; n++) {
		uint8_t buf[12] = {0, 7, 0, 0, 0, 6, 9, 4, 0, 0, (uint8_t)(n >> 8), (uint8_t)n};
		uint16_t fa = 0, fn = 0;
		struct mbap_req req;
		assert_int_equal(codec_mbap_read_frame(buf, sizeof buf, &fa, &fn), 1);
		assert_int_equal(fn, n);
		assert_int_equal(codec_mbap_parse(buf, sizeof buf, &req), 12);
		uint8_t o1[MBAP_MAX_ADU], o2[MBAP_MAX_ADU];
		memset(o1, 0x55, sizeof o1);
		memset(o2, 0x55, sizeof o2);
		assert_int_equal(codec_mbap_read_answer(buf, words + (n % 3), fn, o1),
				 codec_mbap_answer_read(&req, words + (n % 3), o2, sizeof o2));
		assert_memory_equal(o1, o2, sizeof o1);
	}
}

static void test_answer_write(void **state)
{
	(void)state;
	uint8_t out[MBAP_MAX_ADU];
	const uint8_t ws[] = {0x06, 0x00, 0x01, 0x00, 0x03};
	struct mbap_req r = parse_pdu(ws, sizeof ws);
	const uint8_t want6[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x06,
				 0x07, 0x06, 0x00, 0x01, 0x00, 0x03};
	assert_int_equal(codec_mbap_answer_write(&r, out, sizeof out), sizeof want6);
	assert_memory_equal(out, want6, sizeof want6);

	const uint8_t wm[] = {0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02};
	r = parse_pdu(wm, sizeof wm);
	const uint8_t want16[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x06,
				  0x07, 0x10, 0x00, 0x01, 0x00, 0x02};
	assert_int_equal(codec_mbap_answer(&r, 0, NULL, out, sizeof out), sizeof want16);
	assert_memory_equal(out, want16, sizeof want16);
	assert_int_equal(codec_mbap_answer_write(&r, out, 11), MB_ETOOBIG);

	/* A pending request is kept without its buffer: FC06 still echoes. */
	r = parse_pdu(ws, sizeof ws);
	struct mbap_req kept = r;
	kept.values = NULL;
	assert_int_equal(codec_mbap_answer_write(&kept, out, sizeof out), sizeof want6);
	assert_memory_equal(out, want6, sizeof want6);
	uint16_t w;
	codec_mbap_req_words(&kept, &w);
	assert_int_equal(w, 3);
}

static void test_answer_exception(void **state)
{
	(void)state;
	uint8_t out[MBAP_MAX_ADU];
	const struct {
		uint8_t pdu[8];
		size_t n;
		uint8_t exc;
		uint8_t want[9];
	} cases[] = {
	    {{0x03, 0, 0, 0, 0}, 5, 0x03, {0x12, 0x34, 0, 0, 0, 3, 7, 0x83, 0x03}},
	    {{0x04, 0, 0, 0, 1}, 5, 0x02, {0x12, 0x34, 0, 0, 0, 3, 7, 0x84, 0x02}},
	    {{0x06, 0, 0, 0, 1}, 5, 0x04, {0x12, 0x34, 0, 0, 0, 3, 7, 0x86, 0x04}},
	    {{0x10, 0, 0, 0, 1, 2, 0, 0}, 8, 0x0A, {0x12, 0x34, 0, 0, 0, 3, 7, 0x90, 0x0A}},
	    {{0x10, 0, 0, 0, 1, 2, 0, 0}, 8, 0x0B, {0x12, 0x34, 0, 0, 0, 3, 7, 0x90, 0x0B}},
	    {{0x05, 0, 0, 0xFF, 0}, 5, 0x01, {0x12, 0x34, 0, 0, 0, 3, 7, 0x85, 0x01}},
	    {{0x2B, 0x0D, 0, 0}, 4, 0x01, {0x12, 0x34, 0, 0, 0, 3, 7, 0xAB, 0x01}},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mbap_req r = parse_pdu(cases[i].pdu, cases[i].n);
		assert_int_equal(codec_mbap_answer_exception(&r, cases[i].exc, out, sizeof out), 9);
		assert_memory_equal(out, cases[i].want, 9);
		assert_int_equal(codec_mbap_answer(&r, cases[i].exc, NULL, out, sizeof out), 9);
		assert_memory_equal(out, cases[i].want, 9);
	}
	const uint8_t pdu[] = {0x03, 0, 0, 0, 1};
	struct mbap_req r = parse_pdu(pdu, sizeof pdu);
	assert_int_equal(codec_mbap_answer_exception(&r, 1, out, 8), MB_ETOOBIG);
}

static const char *const ident[MBAP_NOBJ] = {"ACME", "PG-1", "0.1.0"};

static void test_answer_ident(void **state)
{
	(void)state;
	uint8_t out[MBAP_MAX_ADU];
	/* Basic stream from object 0. */
	const uint8_t basic[] = {0x2B, 0x0E, 0x01, 0x00};
	struct mbap_req r = parse_pdu(basic, sizeof basic);
	const uint8_t want[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x1B, 0x07, 0x2B, 0x0E, 0x01, 0x81,
				0x00, 0x00, 0x03, 0x00, 0x04, 'A',  'C',  'M',	'E',  0x01, 0x04,
				'P',  'G',  '-',  '1',	0x02, 0x05, '0',  '.',	'1',  '.',  '0'};
	assert_int_equal(codec_mbap_answer_ident(&r, ident, out, sizeof out), sizeof want);
	assert_memory_equal(out, want, sizeof want);

	/* Stream from object 1; an unknown object ID restarts at 0. */
	const uint8_t from1[] = {0x2B, 0x0E, 0x01, 0x01};
	r = parse_pdu(from1, sizeof from1);
	assert_int_equal(codec_mbap_answer_ident(&r, ident, out, sizeof out), 7 + 7 + 6 + 7);
	assert_int_equal(out[13], 2);
	assert_int_equal(out[14], 0x01);
	const uint8_t from9[] = {0x2B, 0x0E, 0x01, 0x09};
	r = parse_pdu(from9, sizeof from9);
	assert_int_equal(codec_mbap_answer_ident(&r, ident, out, sizeof out), sizeof want);
	assert_memory_equal(out + 7, want + 7, sizeof want - 7);

	/* Regular (02) and extended (03) are answered at our basic level,
	 * with the code the client asked for. */
	const uint8_t regular[] = {0x2B, 0x0E, 0x02, 0x00};
	r = parse_pdu(regular, sizeof regular);
	assert_int_equal(codec_mbap_answer_ident(&r, ident, out, sizeof out), sizeof want);
	assert_int_equal(out[9], 0x02);
	assert_memory_equal(out + 10, want + 10, sizeof want - 10);

	/* Individual access (04). */
	const uint8_t one[] = {0x2B, 0x0E, 0x04, 0x02};
	r = parse_pdu(one, sizeof one);
	const uint8_t want1[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x0F, 0x07, 0x2B, 0x0E, 0x04, 0x81,
				 0x00, 0x00, 0x01, 0x02, 0x05, '0',  '.',  '1',	 '.',  '0'};
	assert_int_equal(codec_mbap_answer_ident(&r, ident, out, sizeof out), sizeof want1);
	assert_memory_equal(out, want1, sizeof want1);

	/* Individual access to an object we do not have: exception 02. */
	const uint8_t bad[] = {0x2B, 0x0E, 0x04, 0x03};
	r = parse_pdu(bad, sizeof bad);
	const uint8_t wantx[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x03, 0x07, 0xAB, 0x02};
	assert_int_equal(codec_mbap_answer_ident(&r, ident, out, sizeof out), sizeof wantx);
	assert_memory_equal(out, wantx, sizeof wantx);

	/* A NULL object is sent empty. */
	const char *const sparse[MBAP_NOBJ] = {NULL, "x", NULL};
	r = parse_pdu(basic, sizeof basic);
	const uint8_t wants[] = {0x12, 0x34, 0x00, 0x00, 0x00, 0x0F, 0x07, 0x2B, 0x0E, 0x01, 0x81,
				 0x00, 0x00, 0x03, 0x00, 0x00, 0x01, 0x01, 'x',	 0x02, 0x00};
	assert_int_equal(codec_mbap_answer_ident(&r, sparse, out, sizeof out), sizeof wants);
	assert_memory_equal(out, wants, sizeof wants);

	/* Objects that do not fit one answer: "more follows" and the next ID. */
	char big[201];
	memset(big, 'v', 200);
	big[200] = 0;
	const char *const large[MBAP_NOBJ] = {"ACME", big,
					      "a revision string that is fifty characters long..."};
	r = parse_pdu(basic, sizeof basic);
	int n = codec_mbap_answer_ident(&r, large, out, sizeof out);
	assert_int_equal(n, 7 + 7 + 6 + 202);
	assert_int_equal(out[11], 0xFF); /* more follows */
	assert_int_equal(out[12], 0x02); /* next object */
	assert_int_equal(out[13], 2);	 /* objects in this answer */
	/* An object longer than any answer is cut to what fits. */
	char huge[400];
	memset(huge, 'h', sizeof huge - 1);
	huge[sizeof huge - 1] = 0;
	const char *const hugeobj[MBAP_NOBJ] = {huge, "p", "r"};
	r = parse_pdu(basic, sizeof basic);
	n = codec_mbap_answer_ident(&r, hugeobj, out, sizeof out);
	assert_int_equal(n, MBAP_MAX_ADU);
	assert_int_equal(out[11], 0xFF);
	assert_int_equal(out[12], 0x01);
	assert_int_equal(out[13], 1);
	assert_int_equal(out[15], 244);

	/* Not an identification request. */
	const uint8_t rd[] = {0x03, 0, 0, 0, 1};
	r = parse_pdu(rd, sizeof rd);
	assert_int_equal(codec_mbap_answer_ident(&r, ident, out, sizeof out), MB_EINVAL);
	assert_int_equal(codec_mbap_answer(&r, 0, NULL, out, 0), MB_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_request),
	    cmocka_unit_test(test_several_in_one_buffer),
	    cmocka_unit_test(test_split_at_every_offset),
	    cmocka_unit_test(test_garbage),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_answer_read),
	    cmocka_unit_test(test_fast_read_alike),
	    cmocka_unit_test(test_answer_write),
	    cmocka_unit_test(test_answer_exception),
	    cmocka_unit_test(test_answer_ident),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

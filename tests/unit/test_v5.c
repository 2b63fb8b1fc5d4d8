/* Unit tests of the Solarman V5 codec (bridge/codec_v5.c): the request
 * vector byte for byte, a real logger heartbeat, answers, the stream parser
 * at every split point and after garbage, every malformed frame, logger
 * error answers, the doubled CRC and the time answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec_crc16.h"
#include "mb_error.h"
#include "mbdef.h"
#include "codec_v5.h"

#define SERIAL 1234567890u

/* From the issue: logger 1234567890, slave 1, FC03 register 0 count 10, seq 1. */
static const uint8_t req_vector[] = {0xa5, 0x17, 0x00, 0x10, 0x45, 0x01, 0x00, 0xd2, 0x02,
				     0x96, 0x49, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
				     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
				     0x03, 0x00, 0x00, 0x00, 0x0a, 0xc5, 0xcd, 0xc2, 0x15};

/* A logger heartbeat (control `10 47`, 1-byte payload, another serial). */
static const uint8_t heartbeat[] = {0xa5, 0x01, 0x00, 0x10, 0x47, 0x97, 0x6d,
				    0xaa, 0x4c, 0x2c, 0x8e, 0x00, 0x0c, 0x15};

/* An answer to seq 1 carrying FC03 with the given words. */
static size_t make_answer(uint8_t *out, size_t cap, uint8_t seq, uint32_t serial,
			  const uint16_t *words, uint16_t n)
{
	uint8_t rtu[V5_RTU_MAX];
	int r = codec_v5_rtu_read_answer(rtu, sizeof rtu, 1, MB_FC_READ_HOLDING, words, n);
	assert_true(r > 0);
	int len = codec_v5_encode_answer(out, cap, serial, seq, 0x33, 1000, rtu, (size_t)r);
	assert_true(len > 0);
	return (size_t)len;
}

static void test_request_vector(void **state)
{
	(void)state;
	uint8_t rtu[16], frame[64];
	int n = codec_v5_rtu_read(rtu, sizeof rtu, 1, MB_FC_READ_HOLDING, 0, 10);
	assert_int_equal(n, 8);
	assert_memory_equal(rtu, req_vector + 26, 8);
	int len = codec_v5_encode_request(frame, sizeof frame, SERIAL, 0x01, rtu, (size_t)n);
	assert_int_equal(len, sizeof req_vector);
	assert_memory_equal(frame, req_vector, sizeof req_vector);

	/* It decodes as what it is. */
	struct v5_frame f;
	assert_int_equal(codec_v5_decode(req_vector, sizeof req_vector, &f), 0);
	assert_int_equal(f.control, V5_CTRL_REQUEST);
	assert_int_equal(f.seq, 1);
	assert_int_equal(f.serial, SERIAL);
	assert_int_equal(f.payload_len, 0x17);
	struct v5_rtu_request q;
	assert_int_equal(codec_v5_rtu_request_decode(f.payload + V5_REQ_PREFIX,
						     f.payload_len - V5_REQ_PREFIX, &q),
			 0);
	assert_int_equal(q.slave, 1);
	assert_int_equal(q.fc, 3);
	assert_int_equal(q.addr, 0);
	assert_int_equal(q.count, 10);

	/* Too small a buffer is refused, not overrun. */
	assert_int_equal(codec_v5_encode_request(frame, 35, SERIAL, 1, rtu, 8), MB_ETOOBIG);
	assert_int_equal(codec_v5_rtu_read(rtu, sizeof rtu, 1, 3, 0, 0), MB_EINVAL);
	assert_int_equal(codec_v5_rtu_read(rtu, sizeof rtu, 1, 3, 0, 126), MB_EINVAL);
}

static void test_write_requests(void **state)
{
	(void)state;
	uint8_t rtu[V5_RTU_MAX];
	/* The classic FC06 example: slave 1, register 1 = 3. */
	static const uint8_t fc06[] = {0x01, 0x06, 0x00, 0x01, 0x00, 0x03, 0x98, 0x0b};
	assert_int_equal(codec_v5_rtu_write_single(rtu, sizeof rtu, 1, 1, 3), 8);
	assert_memory_equal(rtu, fc06, 8);

	uint16_t w[3] = {0x0102, 0xa5a5, 0xffff};
	int n = codec_v5_rtu_write_multiple(rtu, sizeof rtu, 7, 0x1234, 3, w);
	assert_int_equal(n, 9 + 6);
	assert_int_equal(rtu[6], 6);
	struct v5_rtu_request q;
	assert_int_equal(codec_v5_rtu_request_decode(rtu, (size_t)n, &q), 0);
	assert_int_equal(q.slave, 7);
	assert_int_equal(q.fc, 16);
	assert_int_equal(q.addr, 0x1234);
	assert_int_equal(q.count, 3);
	assert_int_equal(q.data[2], 0xa5);
	rtu[n - 1] ^= 1;
	assert_int_equal(codec_v5_rtu_request_decode(rtu, (size_t)n, &q), MB_ECRC);
	assert_int_equal(codec_v5_rtu_write_multiple(rtu, sizeof rtu, 1, 0, 124, w), MB_EINVAL);
}

static void test_heartbeat(void **state)
{
	(void)state;
	struct v5_frame f;
	assert_int_equal(codec_v5_decode(heartbeat, sizeof heartbeat, &f), 0);
	assert_int_equal(f.control, V5_CTRL_HEARTBEAT);
	assert_int_equal(f.seq, 0x97);
	assert_int_equal(f.seq_hi, 0x6d);
	assert_int_equal(f.serial, 0x8e2c4caau);
	assert_int_equal(f.payload_len, 1);
	assert_int_equal(f.payload[0], 0);
	assert_int_equal(f.len, sizeof heartbeat);
	assert_true(codec_v5_is_unsolicited(&f));

	/* It is not an answer to anything of ours. */
	struct v5_answer a;
	assert_int_equal(codec_v5_check_answer(&f, 0x8e2c4caau, 0x97, &a), MB_EPROTO);

	/* The other unsolicited codes; our own request and answers are not. */
	static const uint16_t unsol[] = {V5_CTRL_HANDSHAKE, V5_CTRL_DATA, V5_CTRL_INFO,
					 V5_CTRL_REPORT, 0x4e10};
	for (size_t i = 0; i < sizeof unsol / sizeof unsol[0]; i++) {
		f.control = unsol[i];
		assert_true(codec_v5_is_unsolicited(&f));
	}
	f.control = V5_CTRL_REQUEST;
	assert_false(codec_v5_is_unsolicited(&f));
	f.control = V5_CTRL_ANSWER;
	assert_false(codec_v5_is_unsolicited(&f));
}

/* A frame whose length field says more than V5_MAX_PAYLOAD is refused even
 * when all of it is there with its checksum and end: the stream parser
 * drops it, and the decoder agrees. */
static void test_decode_too_long(void **state)
{
	(void)state;
	static uint8_t buf[V5_MAX_FRAME + 64];
	for (size_t plen = V5_MAX_PAYLOAD; plen <= V5_MAX_PAYLOAD + 1; plen++) {
		size_t flen = plen + V5_OVERHEAD;
		memset(buf, 0, sizeof buf);
		buf[0] = V5_START;
		buf[1] = (uint8_t)plen;
		buf[2] = (uint8_t)(plen >> 8);
		buf[3] = 0x10;
		buf[4] = 0x15;
		buf[flen - 2] = codec_v5_sum(buf + 1, flen - 3);
		buf[flen - 1] = V5_END;
		struct v5_frame f;
		assert_int_equal(codec_v5_decode(buf, flen, &f),
				 plen > V5_MAX_PAYLOAD ? MB_EPARSE : 0);
	}
}

static void test_time_answer(void **state)
{
	(void)state;
	struct v5_frame f;
	uint8_t out[64];
	/* Control 10 17, seq 97+1 and 6d echoed, the logger's serial, payload
	 * 00 01, time 0x65000000 LE, 4 zero bytes. */
	static const uint8_t want[] = {0xa5, 0x0a, 0x00, 0x10, 0x17, 0x98, 0x6d, 0xaa,
				       0x4c, 0x2c, 0x8e, 0x00, 0x01, 0x00, 0x00, 0x00,
				       0x65, 0x00, 0x00, 0x00, 0x00, 0x4c, 0x15};
	assert_int_equal(codec_v5_decode(heartbeat, sizeof heartbeat, &f), 0);
	int n = codec_v5_encode_time_answer(out, sizeof out, &f, 0x65000000u);
	assert_int_equal(n, V5_TIME_ANSWER_LEN);
	assert_memory_equal(out, want, sizeof want);

	/* Handshake 10 41 -> 10 11; a sequence of ff wraps. */
	f.control = V5_CTRL_HANDSHAKE;
	f.seq = 0xff;
	n = codec_v5_encode_time_answer(out, sizeof out, &f, 1);
	assert_int_equal(n, V5_TIME_ANSWER_LEN);
	assert_int_equal(out[3], 0x10);
	assert_int_equal(out[4], 0x11);
	assert_int_equal(out[5], 0x00);
	assert_int_equal(codec_v5_encode_time_answer(out, 22, &f, 1), MB_ETOOBIG);
}

static void test_answer(void **state)
{
	(void)state;
	uint8_t frame[V5_MAX_FRAME];
	uint16_t words[4] = {1, 0x0001, 0xe240, 0xffcc};
	size_t n = make_answer(frame, sizeof frame, 0x42, SERIAL, words, 4);
	assert_int_equal(n, V5_OVERHEAD + V5_ANS_PREFIX + 3 + 8 + 2);

	struct v5_frame f;
	struct v5_answer a;
	struct v5_rtu_answer r;
	assert_int_equal(codec_v5_decode(frame, n, &f), 0);
	assert_int_equal(f.control, V5_CTRL_ANSWER);
	assert_int_equal(f.seq_hi, 0x33);
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 0x42, &a), 0);
	assert_int_equal(a.logger_error, 0);
	assert_int_equal(a.rtu_len, 3 + 8 + 2);
	assert_int_equal(codec_v5_rtu_answer_decode(a.rtu, a.rtu_len, &r), 0);
	assert_int_equal(r.slave, 1);
	assert_int_equal(r.fc, 3);
	assert_int_equal(r.exception, 0);
	assert_int_equal(r.nbytes, 8);
	assert_int_equal(r.double_crc, 0);
	assert_int_equal(r.data[2], 0x00);
	assert_int_equal(r.data[3], 0x01);
	assert_int_equal(r.data[6], 0xff);
	assert_int_equal(r.data[7], 0xcc);

	/* A longer buffer than the frame is fine for codec_v5_decode. */
	assert_int_equal(codec_v5_decode(frame, sizeof frame, &f), 0);
	assert_int_equal(f.len, n);

	/* Write echoes and exceptions. */
	uint8_t rtu[16];
	int k = codec_v5_rtu_write_answer(rtu, sizeof rtu, 1, MB_FC_WRITE_MULTIPLE, 100, 3);
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)k, &r), 0);
	assert_int_equal(r.fc, 16);
	assert_int_equal(r.addr, 100);
	assert_int_equal(r.value, 3);
	k = codec_v5_rtu_exception(rtu, sizeof rtu, 1, MB_FC_READ_INPUT, MB_EXC_ILLEGAL_ADDRESS);
	assert_int_equal(k, 5);
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)k, &r), 0);
	assert_int_equal(r.fc, 4);
	assert_int_equal(r.exception, 2);
	rtu[3] ^= 0x10;
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)k, &r), MB_ECRC);
}

static void test_rtu_malformed(void **state)
{
	(void)state;
	uint8_t rtu[64];
	uint16_t w[2] = {1, 2};
	struct v5_rtu_answer r;
	int n = codec_v5_rtu_read_answer(rtu, sizeof rtu, 1, 3, w, 2);
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n - 1, &r), MB_ESHORT);
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, 4, &r), MB_ESHORT);
	rtu[n] = 0x12; /* one stray byte after the CRC */
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n + 1, &r), MB_EPARSE);
	rtu[n + 1] = 0x00;
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n + 2, &r), MB_EPARSE);
	rtu[2] = 3; /* odd byte count */
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n, &r), MB_EPARSE);
	rtu[1] = 0x07; /* a function we never ask for */
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n, &r), MB_EPARSE);
	/* An exception with code 0 is not one. */
	n = codec_v5_rtu_exception(rtu, sizeof rtu, 1, 3, 0);
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n, &r), MB_EPARSE);
}

static void test_double_crc(void **state)
{
	(void)state;
	uint8_t rtu[64];
	uint16_t w[2] = {0x1234, 0x5678};
	struct v5_rtu_answer r;
	int n = codec_v5_rtu_read_answer(rtu, sizeof rtu, 1, 4, w, 2);
	rtu[n] = 0;
	rtu[n + 1] = 0;
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n + 2, &r), 0);
	assert_int_equal(r.double_crc, 1);
	assert_int_equal(r.nbytes, 4);
	assert_int_equal(r.data[0], 0x12);

	/* Inside a whole frame, through the stream parser. */
	uint8_t frame[128], buf[V5_MAX_FRAME];
	int len = codec_v5_encode_answer(frame, sizeof frame, SERIAL, 9, 0, 0, rtu, (size_t)n + 2);
	struct v5_stream s;
	struct v5_frame f;
	struct v5_answer a;
	assert_int_equal(codec_v5_stream_init(&s, buf, sizeof buf), 0);
	assert_int_equal(codec_v5_stream_feed(&s, frame, (size_t)len), (size_t)len);
	assert_int_equal(codec_v5_stream_next(&s, &f), 1);
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 9, &a), 0);
	assert_int_equal(codec_v5_rtu_answer_decode(a.rtu, a.rtu_len, &r), 0);
	assert_int_equal(r.double_crc, 1);
	assert_int_equal(r.data[3], 0x78);

	/* An exception answer with a doubled CRC too. */
	n = codec_v5_rtu_exception(rtu, sizeof rtu, 1, 3, 2);
	rtu[n] = rtu[n + 1] = 0;
	assert_int_equal(codec_v5_rtu_answer_decode(rtu, (size_t)n + 2, &r), 0);
	assert_int_equal(r.exception, 2);
}

static void test_logger_errors(void **state)
{
	(void)state;
	uint8_t frame[64];
	struct v5_frame f;
	struct v5_answer a;
	static const uint8_t slave[2] = {V5_LOGGER_SLAVE, 0x00};
	static const uint8_t serial[2] = {V5_LOGGER_SERIAL, 0x00};

	int n = codec_v5_encode_answer(frame, sizeof frame, SERIAL, 5, 0, 0, slave, 2);
	assert_int_equal(n, V5_LOGGER_ERROR_LEN);
	assert_int_equal(codec_v5_decode(frame, (size_t)n, &f), 0);
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 5, &a), 0);
	assert_int_equal(a.logger_error, V5_LOGGER_SLAVE);

	/* A serial mismatch comes with the logger's own serial: still ours. */
	n = codec_v5_encode_answer(frame, sizeof frame, 99, 6, 0, 0, serial, 2);
	assert_int_equal(n, V5_LOGGER_ERROR_LEN);
	assert_int_equal(codec_v5_decode(frame, (size_t)n, &f), 0);
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 6, &a), 0);
	assert_int_equal(a.logger_error, V5_LOGGER_SERIAL);
	/* But not one for another request. */
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 7, &a), MB_EID);
}

static void test_malformed_frames(void **state)
{
	(void)state;
	uint8_t good[V5_MAX_FRAME], bad[V5_MAX_FRAME];
	uint16_t words[2] = {7, 8};
	size_t n = make_answer(good, sizeof good, 1, SERIAL, words, 2);
	struct v5_frame f;
	struct v5_answer a;

	/* checksum */
	memcpy(bad, good, n);
	bad[n - 2] ^= 0x01;
	assert_int_equal(codec_v5_decode(bad, n, &f), MB_ECRC);
	/* a payload byte changed under the checksum */
	memcpy(bad, good, n);
	bad[V5_HEADER + 3] ^= 0x40;
	assert_int_equal(codec_v5_decode(bad, n, &f), MB_ECRC);
	/* end */
	memcpy(bad, good, n);
	bad[n - 1] = 0x16;
	assert_int_equal(codec_v5_decode(bad, n, &f), MB_EPARSE);
	/* start */
	memcpy(bad, good, n);
	bad[0] = 0xa4;
	assert_int_equal(codec_v5_decode(bad, n, &f), MB_EPARSE);
	/* length: one more than there is, one less */
	memcpy(bad, good, n);
	bad[1]++;
	assert_int_equal(codec_v5_decode(bad, n, &f), MB_ESHORT);
	memcpy(bad, good, n);
	bad[1]--;
	assert_int_not_equal(codec_v5_decode(bad, n, &f), 0);
	/* too short to be anything */
	assert_int_equal(codec_v5_decode(good, 2, &f), MB_ESHORT);
	assert_int_equal(codec_v5_decode(good, n - 1, &f), MB_ESHORT);

	/* control, sequence, serial: decoded fine, refused as an answer */
	struct v5_frame g;
	assert_int_equal(codec_v5_decode(good, n, &g), 0);
	assert_int_equal(codec_v5_check_answer(&g, SERIAL, 1, &a), 0);
	f = g;
	f.control = 0x1610;
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 1, &a), MB_EPROTO);
	f = g;
	f.control = V5_CTRL_REQUEST;
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 1, &a), MB_EPROTO);
	assert_int_equal(codec_v5_check_answer(&g, SERIAL, 2, &a), MB_EID);
	assert_int_equal(codec_v5_check_answer(&g, SERIAL + 1, 1, &a), MB_EID);
	/* an answer payload too short for the prefix, or an RTU part of 3-4 */
	f = g;
	f.payload_len = V5_ANS_PREFIX + 1;
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 1, &a), MB_EPARSE);
	f.payload_len = V5_ANS_PREFIX + 4;
	assert_int_equal(codec_v5_check_answer(&f, SERIAL, 1, &a), MB_EPARSE);

	/* The same frames fed to the stream: nothing comes out, all counted. */
	uint8_t buf[V5_MAX_FRAME];
	struct v5_stream s;
	codec_v5_stream_init(&s, buf, sizeof buf);
	memcpy(bad, good, n);
	bad[n - 2] ^= 0x01;
	assert_int_equal(codec_v5_stream_feed(&s, bad, n), n);
	assert_int_equal(codec_v5_stream_next(&s, &f), 0);
	assert_int_equal(s.dropped_frames, 1);
	bad[n - 2] ^= 0x01;
	bad[n - 1] = 0x00;
	codec_v5_stream_feed(&s, bad, n);
	assert_int_equal(codec_v5_stream_next(&s, &f), 0);
	assert_true(s.dropped_bytes >= n);
	/* and the good one after them still comes through */
	codec_v5_stream_feed(&s, good, n);
	assert_int_equal(codec_v5_stream_next(&s, &f), 1);
	assert_int_equal(f.len, n);
	assert_memory_equal(f.payload, good + V5_HEADER, n - V5_OVERHEAD);
}

/* Build: heartbeat, answer, heartbeat, answer(seq 2). */
static size_t make_stream(uint8_t *out, size_t cap)
{
	uint16_t w1[3] = {1, 2, 3}, w2[1] = {0xa5a5}; /* a5 inside data too */
	size_t n = 0;
	memcpy(out + n, heartbeat, sizeof heartbeat);
	n += sizeof heartbeat;
	n += make_answer(out + n, cap - n, 1, SERIAL, w1, 3);
	memcpy(out + n, heartbeat, sizeof heartbeat);
	n += sizeof heartbeat;
	n += make_answer(out + n, cap - n, 2, SERIAL, w2, 1);
	return n;
}

/* Feed data in pieces cut at the given points; collect frame controls/seqs. */
static int run_stream(const uint8_t *data, size_t n, const size_t *cuts, size_t ncuts,
		      uint16_t *ctl, uint8_t *seq, int max)
{
	uint8_t buf[V5_MAX_FRAME];
	struct v5_stream s;
	struct v5_frame f;
	int got = 0;
	size_t from = 0;
	codec_v5_stream_init(&s, buf, sizeof buf);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;
		size_t off = from;
		while (off < to) {
			off += codec_v5_stream_feed(&s, data + off, to - off);
			while (codec_v5_stream_next(&s, &f) == 1) {
				if (got < max) {
					ctl[got] = f.control;
					seq[got] = f.seq;
				}
				got++;
			}
		}
		from = to;
	}
	return got;
}

static void test_stream_splits(void **state)
{
	(void)state;
	uint8_t data[512];
	size_t n = make_stream(data, sizeof data);
	uint16_t ctl[8];
	uint8_t seq[8];

	/* All in one read. */
	assert_int_equal(run_stream(data, n, NULL, 0, ctl, seq, 8), 4);
	assert_int_equal(ctl[0], V5_CTRL_HEARTBEAT);
	assert_int_equal(ctl[1], V5_CTRL_ANSWER);
	assert_int_equal(seq[1], 1);
	assert_int_equal(ctl[3], V5_CTRL_ANSWER);
	assert_int_equal(seq[3], 2);

	/* Cut once at every point. */
	for (size_t i = 1; i < n; i++) {
		memset(ctl, 0, sizeof ctl);
		assert_int_equal(run_stream(data, n, &i, 1, ctl, seq, 8), 4);
		assert_int_equal(ctl[1], V5_CTRL_ANSWER);
		assert_int_equal(seq[3], 2);
	}
	/* Cut twice at every pair of points within the first two frames. */
	for (size_t i = 1; i < 60; i++)
		for (size_t j = i + 1; j < 61; j++) {
			size_t cuts[2] = {i, j};
			assert_int_equal(run_stream(data, n, cuts, 2, ctl, seq, 8), 4);
		}
	/* One byte at a time. */
	size_t cuts[512];
	for (size_t i = 0; i + 1 < n; i++)
		cuts[i] = i + 1;
	assert_int_equal(run_stream(data, n, cuts, n - 1, ctl, seq, 8), 4);
	assert_int_equal(seq[3], 2);
}

static void test_stream_garbage(void **state)
{
	(void)state;
	uint8_t data[1024];
	size_t n = 0;
	static const char at[] = "AT+YZTCPMODBUS=1\r\n+ok\r\n";
	/* Text, then a false start (a5 claiming 5 bytes, wrong end), a false
	 * start claiming an impossible length, then the frames. */
	memcpy(data, at, sizeof at - 1);
	n += sizeof at - 1;
	static const uint8_t false1[] = {0xa5, 0x05, 0x00, 0x10, 0x15, 0x01};
	memcpy(data + n, false1, sizeof false1);
	n += sizeof false1;
	static const uint8_t false2[] = {0xa5, 0xff, 0xff, 0x00};
	memcpy(data + n, false2, sizeof false2);
	n += sizeof false2;
	size_t garbage = n;
	n += make_stream(data + n, sizeof data - n);
	memcpy(data + n, at, sizeof at - 1); /* trailing text */
	n += sizeof at - 1;

	uint16_t ctl[8];
	uint8_t seq[8];
	assert_int_equal(run_stream(data, n, NULL, 0, ctl, seq, 8), 4);
	assert_int_equal(ctl[0], V5_CTRL_HEARTBEAT);
	assert_int_equal(seq[3], 2);
	for (size_t i = 1; i < n; i += 3)
		assert_int_equal(run_stream(data, n, &i, 1, ctl, seq, 8), 4);

	/* The garbage was counted, byte for byte, and no frame was lost. */
	uint8_t buf[V5_MAX_FRAME];
	struct v5_stream s;
	struct v5_frame f;
	int frames = 0;
	codec_v5_stream_init(&s, buf, sizeof buf);
	assert_int_equal(codec_v5_stream_feed(&s, data, n), n);
	while (codec_v5_stream_next(&s, &f) == 1)
		frames++;
	assert_int_equal(frames, 4);
	assert_int_equal(s.dropped_bytes, garbage + sizeof at - 1);
	assert_int_equal(s.dropped_frames, 0);

	/* A buffer's worth of garbage never wedges the parser. */
	static uint8_t junk[3 * V5_MAX_FRAME];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)(i * 7 + 3);
	codec_v5_stream_reset(&s);
	size_t off = 0;
	int rounds = 0;
	while (off < sizeof junk && rounds++ < 100000) {
		off += codec_v5_stream_feed(&s, junk + off, sizeof junk - off);
		while (codec_v5_stream_next(&s, &f) == 1)
			;
	}
	assert_int_equal(off, sizeof junk);
	codec_v5_stream_reset(&s);
	codec_v5_stream_feed(&s, heartbeat, sizeof heartbeat);
	assert_int_equal(codec_v5_stream_next(&s, &f), 1);
	assert_int_equal(f.control, V5_CTRL_HEARTBEAT);

	/* A too-small buffer is refused. */
	assert_int_equal(codec_v5_stream_init(&s, buf, V5_MAX_FRAME - 1), MB_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_vector), cmocka_unit_test(test_write_requests),
	    cmocka_unit_test(test_heartbeat),	   cmocka_unit_test(test_decode_too_long),
	    cmocka_unit_test(test_time_answer),	   cmocka_unit_test(test_answer),
	    cmocka_unit_test(test_rtu_malformed),  cmocka_unit_test(test_double_crc),
	    cmocka_unit_test(test_logger_errors),  cmocka_unit_test(test_malformed_frames),
	    cmocka_unit_test(test_stream_splits),  cmocka_unit_test(test_stream_garbage),
	};
	return cmocka_run_group_tests_name("v5", tests, NULL, NULL);
}

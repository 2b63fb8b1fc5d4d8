/* The PowerGo codec against the vendor document's own frames (section 3),
 * and every way an answer can be wrong. Expected FC06/FC16 bytes were
 * computed with an independent bitwise CRC-16/MODBUS, not with codec_crc16.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec_crc16.h"
#include "mb_error.h"
#include "mbdef.h"
#include "codec_powergo.h"

#define APP 0x053461ADu
#define DEV 0x15020115u

static const uint8_t doc_req_version[] = {0x05, 0x34, 0x61, 0xad, 0x15, 0x02, 0x01, 0x15, 0x03,
					  0x51, 0x03, 0x00, 0x01, 0x00, 0x01, 0xd9, 0x9a};
static const uint8_t doc_ans_version[] = {0x15, 0x02, 0x01, 0x15, 0x05, 0x34, 0x61, 0xad,
					  0x03, 0x51, 0x03, 0x02, 0xa0, 0x30, 0x00, 0x5c};
static const uint8_t doc_req_status[] = {0x05, 0x34, 0x61, 0xad, 0x15, 0x02, 0x01, 0x15, 0x03,
					 0x51, 0x03, 0x02, 0x11, 0x00, 0x0f, 0x58, 0x23};
static const uint8_t doc_ans_status[] = {
    0x15, 0x02, 0x01, 0x15, 0x05, 0x34, 0x61, 0xad, 0x03, 0x51, 0x03, 0x1e, 0x00, 0x44, 0x00,
    0x00, 0x02, 0x13, 0x00, 0x00, 0x00, 0x10, 0x00, 0x11, 0x00, 0x12, 0x00, 0x13, 0x00, 0x14,
    0x00, 0x15, 0x00, 0x16, 0x00, 0x00, 0xe2, 0x40, 0x00, 0x01, 0x00, 0x00, 0x80, 0x42};

static const struct powergo_req req_version = {APP, DEV, MB_FC_READ_HOLDING, 1, 1, NULL};
static const struct powergo_req req_status = {APP, DEV, MB_FC_READ_HOLDING, 529, 15, NULL};

/* Re-seal an edited frame with a correct CRC, so that one check alone fails. */
static void reseal(uint8_t *f, size_t len)
{
	uint16_t crc = codec_crc16_modbus(f + POWERGO_HDR_LEN, len - POWERGO_HDR_LEN - 2);
	f[len - 2] = (uint8_t)crc;
	f[len - 1] = (uint8_t)(crc >> 8);
}

static void test_ids(void **state)
{
	(void)state;
	uint32_t id = 0;
	char s[9];
	assert_int_equal(codec_powergo_parse_id("053461AD", &id), 0);
	assert_int_equal(id, APP);
	assert_int_equal(codec_powergo_parse_id("15020115", &id), 0);
	assert_int_equal(id, DEV);
	assert_int_equal(codec_powergo_parse_id("053461ad", &id), 0);
	assert_int_equal(id, APP);
	assert_int_equal(codec_powergo_parse_id("053461A", &id), MB_EINVAL);
	assert_int_equal(codec_powergo_parse_id("053461ADE", &id), MB_EINVAL);
	assert_int_equal(codec_powergo_parse_id("0534 1AD", &id), MB_EINVAL);
	assert_int_equal(codec_powergo_parse_id("G53461AD", &id), MB_EINVAL);
	assert_int_equal(codec_powergo_parse_id("", &id), MB_EINVAL);
	assert_int_equal(codec_powergo_parse_id(NULL, &id), MB_EINVAL);
	codec_powergo_format_id(APP, s);
	assert_string_equal(s, "053461AD");
	codec_powergo_format_id(0xF1000001u, s);
	assert_string_equal(s, "F1000001");
}

static void test_doc_requests(void **state)
{
	(void)state;
	uint8_t buf[POWERGO_BUF_LEN];
	int n = codec_powergo_encode_request(&req_version, buf, sizeof buf);
	assert_int_equal(n, sizeof doc_req_version);
	assert_memory_equal(buf, doc_req_version, sizeof doc_req_version);
	n = codec_powergo_encode_request(&req_status, buf, sizeof buf);
	assert_int_equal(n, sizeof doc_req_status);
	assert_memory_equal(buf, doc_req_status, sizeof doc_req_status);
	/* A buffer one byte short is refused, not overrun. */
	assert_int_equal(codec_powergo_encode_request(&req_status, buf, sizeof doc_req_status - 1),
			 MB_ETOOBIG);
}

static void test_doc_answers(void **state)
{
	(void)state;
	struct powergo_answer a;
	assert_int_equal(
	    codec_powergo_decode_answer(&req_version, doc_ans_version, sizeof doc_ans_version, &a),
	    0);
	assert_int_equal(a.exception, 0);
	assert_int_equal(a.count, 1);
	assert_int_equal(a.words[0], 0xA030);

	assert_int_equal(
	    codec_powergo_decode_answer(&req_status, doc_ans_status, sizeof doc_ans_status, &a), 0);
	assert_int_equal(a.count, 15);
	static const uint16_t want[15] = {0x0044, 0x0000, 0x0213, 0x0000, 0x0010,
					  0x0011, 0x0012, 0x0013, 0x0014, 0x0015,
					  0x0016, 0x0000, 0xe240, 0x0001, 0x0000};
	assert_memory_equal(a.words, want, sizeof want);
	assert_int_equal(a.words[0], 68); /* SOC 68 % */
	/* 541-542: big-endian words, low word first: 0x0001e240 = 123456. */
	uint32_t total = (uint32_t)a.words[13] << 16 | a.words[12];
	assert_int_equal(total, 123456);
}

static void test_device_side_roundtrip(void **state)
{
	(void)state;
	/* What the simulator does with the document's request must be the
	 * document's answer, byte for byte. */
	struct powergo_request_in in;
	uint8_t buf[POWERGO_BUF_LEN];
	assert_int_equal(
	    codec_powergo_decode_request(doc_req_status, sizeof doc_req_status, DEV, &in), 0);
	assert_int_equal(in.src, APP);
	assert_int_equal(in.dst, DEV);
	assert_int_equal(in.fc, 3);
	assert_int_equal(in.addr, 529);
	assert_int_equal(in.count, 15);
	static const uint16_t regs[15] = {0x0044, 0x0000, 0x0213, 0x0000, 0x0010,
					  0x0011, 0x0012, 0x0013, 0x0014, 0x0015,
					  0x0016, 0x0000, 0xe240, 0x0001, 0x0000};
	int n = codec_powergo_encode_read_answer(DEV, APP, 3, regs, 15, buf, sizeof buf);
	assert_int_equal(n, sizeof doc_ans_status);
	assert_memory_equal(buf, doc_ans_status, sizeof doc_ans_status);
	/* Addressed to another device: not ours. */
	assert_int_equal(
	    codec_powergo_decode_request(doc_req_status, sizeof doc_req_status, 0x15020116u, &in),
	    MB_EID);
	/* Device 0 takes any destination. */
	assert_int_equal(
	    codec_powergo_decode_request(doc_req_status, sizeof doc_req_status, 0, &in), 0);
}

static void test_write_frames(void **state)
{
	(void)state;
	uint8_t buf[POWERGO_BUF_LEN];
	struct powergo_answer a;
	struct powergo_request_in in;

	/* FC06: register 280 (charging power) = 1000 W. */
	static const uint8_t fc06[] = {0x05, 0x34, 0x61, 0xad, 0x15, 0x02, 0x01, 0x15, 0x03,
				       0x51, 0x06, 0x01, 0x18, 0x03, 0xe8, 0x04, 0xdf};
	uint16_t v = 1000;
	struct powergo_req w1 = {APP, DEV, MB_FC_WRITE_SINGLE, 280, 1, &v};
	int n = codec_powergo_encode_request(&w1, buf, sizeof buf);
	assert_int_equal(n, sizeof fc06);
	assert_memory_equal(buf, fc06, sizeof fc06);
	assert_int_equal(codec_powergo_decode_request(buf, (size_t)n, DEV, &in), 0);
	assert_int_equal(in.fc, 6);
	assert_int_equal(in.addr, 280);
	assert_int_equal(in.words[0], 1000);
	/* The device echoes the request (with the IDs swapped). */
	n = codec_powergo_encode_write_answer(DEV, APP, 6, 280, 1000, buf, sizeof buf);
	assert_int_equal(n, 17);
	assert_int_equal(codec_powergo_decode_answer(&w1, buf, (size_t)n, &a), 0);
	assert_int_equal(a.exception, 0);
	assert_int_equal(a.fc, 6);
	/* An echo of another value or address is not our acknowledgement. */
	n = codec_powergo_encode_write_answer(DEV, APP, 6, 280, 999, buf, sizeof buf);
	assert_int_equal(codec_powergo_decode_answer(&w1, buf, (size_t)n, &a), MB_EPARSE);
	n = codec_powergo_encode_write_answer(DEV, APP, 6, 281, 1000, buf, sizeof buf);
	assert_int_equal(codec_powergo_decode_answer(&w1, buf, (size_t)n, &a), MB_EPARSE);

	/* FC16: 551-552 (charge enable, period 1 start) = 1, 23:59. */
	static const uint8_t fc16[] = {0x05, 0x34, 0x61, 0xad, 0x15, 0x02, 0x01, 0x15,
				       0x03, 0x51, 0x10, 0x02, 0x27, 0x00, 0x02, 0x04,
				       0x00, 0x01, 0x17, 0x3b, 0xb7, 0xd3};
	static const uint8_t fc16_echo[] = {0x15, 0x02, 0x01, 0x15, 0x05, 0x34, 0x61, 0xad, 0x03,
					    0x51, 0x10, 0x02, 0x27, 0x00, 0x02, 0xfc, 0x2b};
	uint16_t vv[2] = {1, 0x173B};
	struct powergo_req w2 = {APP, DEV, MB_FC_WRITE_MULTIPLE, 551, 2, vv};
	n = codec_powergo_encode_request(&w2, buf, sizeof buf);
	assert_int_equal(n, sizeof fc16);
	assert_memory_equal(buf, fc16, sizeof fc16);
	assert_int_equal(codec_powergo_decode_request(buf, (size_t)n, DEV, &in), 0);
	assert_int_equal(in.count, 2);
	assert_int_equal(in.words[1], 0x173B);
	n = codec_powergo_encode_write_answer(DEV, APP, 16, 551, 2, buf, sizeof buf);
	assert_int_equal(n, sizeof fc16_echo);
	assert_memory_equal(buf, fc16_echo, sizeof fc16_echo);
	assert_int_equal(codec_powergo_decode_answer(&w2, fc16_echo, sizeof fc16_echo, &a), 0);
	n = codec_powergo_encode_write_answer(DEV, APP, 16, 551, 3, buf, sizeof buf);
	assert_int_equal(codec_powergo_decode_answer(&w2, buf, (size_t)n, &a), MB_EPARSE);

	/* The 100-byte rule: the largest FC16 fits, one more word does not. */
	uint16_t many[POWERGO_MAX_READ + 1] = {0};
	struct powergo_req w3 = {APP, DEV, MB_FC_WRITE_MULTIPLE, 1000, POWERGO_MAX_WRITE, many};
	assert_int_equal(codec_powergo_encode_request(&w3, buf, sizeof buf), 100);
	w3.count++;
	assert_true(codec_powergo_encode_request(&w3, buf, sizeof buf) > 100);
	/* ...and the largest read's answer is at most 100 bytes. */
	assert_int_equal(
	    codec_powergo_encode_read_answer(DEV, APP, 3, many, POWERGO_MAX_READ, buf, sizeof buf),
	    100);
	assert_true(codec_powergo_encode_read_answer(DEV, APP, 3, many, POWERGO_MAX_READ + 1, buf,
						     sizeof buf) > 100);

	/* Bad requests the encoder refuses. */
	struct powergo_req bad = {APP, DEV, MB_FC_WRITE_SINGLE, 1, 2, vv};
	assert_int_equal(codec_powergo_encode_request(&bad, buf, sizeof buf), MB_EINVAL);
	bad.fc = 0x05;
	bad.count = 1;
	assert_int_equal(codec_powergo_encode_request(&bad, buf, sizeof buf), MB_EINVAL);
	bad.fc = 3;
	bad.count = 0;
	assert_int_equal(codec_powergo_encode_request(&bad, buf, sizeof buf), MB_EINVAL);
}

static void test_exception(void **state)
{
	(void)state;
	static const uint8_t exc[] = {0x15, 0x02, 0x01, 0x15, 0x05, 0x34, 0x61,
				      0xad, 0x03, 0x51, 0x83, 0x02, 0xc0, 0xe0};
	struct powergo_answer a;
	uint8_t buf[32];
	assert_int_equal(codec_powergo_decode_answer(&req_status, exc, sizeof exc, &a), 0);
	assert_int_equal(a.exception, 2);
	assert_int_equal(a.fc, 3);
	assert_int_equal(codec_powergo_encode_exception(DEV, APP, 3, 2, buf, sizeof buf),
			 sizeof exc);
	assert_memory_equal(buf, exc, sizeof exc);
	/* Exception code 0 means nothing. */
	memcpy(buf, exc, sizeof exc);
	buf[11] = 0;
	reseal(buf, sizeof exc);
	assert_int_equal(codec_powergo_decode_answer(&req_status, buf, sizeof exc, &a), MB_EPARSE);
	/* An exception for another function code. */
	memcpy(buf, exc, sizeof exc);
	buf[10] = 0x86;
	reseal(buf, sizeof exc);
	assert_int_equal(codec_powergo_decode_answer(&req_status, buf, sizeof exc, &a), MB_EFUNC);
	/* An exception frame with a trailing byte. */
	int n = codec_powergo_encode_read_answer(DEV, APP, 0x83, (const uint16_t[]){0x0200}, 1, buf,
						 sizeof buf);
	assert_true(n > 0);
	assert_int_equal(codec_powergo_decode_answer(&req_status, buf, (size_t)n, &a), MB_ETOOBIG);
}

/* Every malformed answer to the status request, each failing one check. */
static void test_malformed(void **state)
{
	(void)state;
	uint8_t f[sizeof doc_ans_status + 4];
	struct powergo_answer a;
	const size_t len = sizeof doc_ans_status;

	/* Empty, truncated below the shortest answer. */
	assert_int_equal(codec_powergo_decode_answer(&req_status, doc_ans_status, 0, &a),
			 MB_ESHORT);
	assert_int_equal(codec_powergo_decode_answer(&req_status, doc_ans_status, 13, &a),
			 MB_ESHORT);
	assert_int_equal(codec_powergo_decode_answer(&req_status, NULL, 0, &a), MB_ESHORT);

	/* Byte 8 is not the 0x03 marker. */
	memcpy(f, doc_ans_status, len);
	f[8] = 0x04;
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_EPROTO);

	/* Another device answered, or the answer is for another app. */
	memcpy(f, doc_ans_status, len);
	f[3] ^= 1;
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_EID);
	memcpy(f, doc_ans_status, len);
	f[7] ^= 1;
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_EID);
	/* The request itself echoed back (IDs the wrong way round). */
	assert_int_equal(
	    codec_powergo_decode_answer(&req_status, doc_req_status, sizeof doc_req_status, &a),
	    MB_EID);

	/* RTU address other than 0x51 (CRC correct for it). */
	memcpy(f, doc_ans_status, len);
	f[9] = 0x01;
	reseal(f, len);
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_EADDR);

	/* CRC: a flipped data bit, a flipped CRC byte, the CRC byte order swapped. */
	memcpy(f, doc_ans_status, len);
	f[13] ^= 0x01;
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_ECRC);
	memcpy(f, doc_ans_status, len);
	f[len - 1] ^= 0xFF;
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_ECRC);
	memcpy(f, doc_ans_status, len);
	f[len - 2] = doc_ans_status[len - 1];
	f[len - 1] = doc_ans_status[len - 2];
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_ECRC);
	/* A CRC computed over the whole frame (header included) is wrong too. */
	memcpy(f, doc_ans_status, len);
	uint16_t whole = codec_crc16_modbus(f, len - 2);
	f[len - 2] = (uint8_t)whole;
	f[len - 1] = (uint8_t)(whole >> 8);
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_ECRC);

	/* Function code of another request. */
	memcpy(f, doc_ans_status, len);
	f[10] = 0x04;
	reseal(f, len);
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len, &a), MB_EFUNC);

	/* The answer to the version read is not the answer to the status read:
	 * its byte count does not match the 15 registers asked for. */
	assert_int_equal(
	    codec_powergo_decode_answer(&req_status, doc_ans_version, sizeof doc_ans_version, &a),
	    MB_ERANGE);
	assert_int_equal(codec_powergo_decode_answer(&req_version, doc_ans_status, len, &a),
			 MB_ERANGE);

	/* Byte count right, data missing (sealed): short. One byte too many: too big. */
	memcpy(f, doc_ans_status, len);
	reseal(f, len - 2);
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len - 2, &a), MB_ESHORT);
	memcpy(f, doc_ans_status, len - 2);
	f[len - 2] = 0x00;
	reseal(f, len + 1);
	assert_int_equal(codec_powergo_decode_answer(&req_status, f, len + 1, &a), MB_ETOOBIG);

	/* Every single-byte truncation is refused. */
	for (size_t n = 0; n < len; n++)
		assert_true(codec_powergo_decode_answer(&req_status, doc_ans_status, n, &a) < 0);

	/* Distinct codes: the transport counts each kind. */
	assert_int_not_equal(MB_EADDR, MB_EFUNC);
	assert_string_equal(mb_strerror(MB_EADDR), "wrong device address");
	assert_string_equal(mb_strerror(MB_EFUNC), "unexpected function code");
}

static void test_bad_requests(void **state)
{
	(void)state;
	struct powergo_request_in in;
	uint8_t f[64];
	memcpy(f, doc_req_status, sizeof doc_req_status);
	assert_int_equal(codec_powergo_decode_request(f, 16, DEV, &in), MB_ESHORT);
	f[16] ^= 1;
	assert_int_equal(codec_powergo_decode_request(f, sizeof doc_req_status, DEV, &in), MB_ECRC);
	memcpy(f, doc_req_status, sizeof doc_req_status);
	f[10] = 0x05;
	reseal(f, sizeof doc_req_status);
	assert_int_equal(codec_powergo_decode_request(f, sizeof doc_req_status, DEV, &in),
			 MB_EFUNC);
	memcpy(f, doc_req_status, sizeof doc_req_status);
	f[13] = 0;
	f[14] = 0;
	reseal(f, sizeof doc_req_status);
	assert_int_equal(codec_powergo_decode_request(f, sizeof doc_req_status, DEV, &in),
			 MB_ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids),		 cmocka_unit_test(test_doc_requests),
	    cmocka_unit_test(test_doc_answers),	 cmocka_unit_test(test_device_side_roundtrip),
	    cmocka_unit_test(test_write_frames), cmocka_unit_test(test_exception),
	    cmocka_unit_test(test_malformed),	 cmocka_unit_test(test_bad_requests),
	};
	return cmocka_run_group_tests_name("powergo", tests, NULL, NULL);
}

/* Modbus TCP framing (MBAP) and the PDUs the front speaks: a pure codec over
 * byte buffers, no I/O and no globals, so that it can be unit-tested and
 * fuzzed alone. The server feeds it what a connection received and writes
 * what it builds.
 *
 * ADU = MBAP header (transaction ID, protocol ID 0, length, unit ID) + PDU.
 * The length field counts the unit ID and the PDU, so Modbus makes it
 * 2..254; requests up to MBAP_MAX_LENGTH are still read whole (below). */
#ifndef CODEC_MBAP_H
#define CODEC_MBAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mbdef.h"

#define MBAP_HEADER 7	 /* tid(2) pid(2) length(2) unit(1) */
#define MBAP_MAX_PDU 253 /* function code + data */
#define MBAP_MAX_ADU (MBAP_HEADER + MBAP_MAX_PDU)
/* The longest length field a request may declare and still be read whole
 * and answered with an exception instead of ending the connection. A client
 * that asks too much of a function whose data counts its own bytes (one
 * byte count, up to 255) overruns 254: FC16 of 124..127 registers, FC15 of
 * many coils, and at most FC23 (function code, read address and quantity,
 * write address and quantity, byte count, 255 bytes) with the unit ID:
 * 1 + 10 + 255. Such a frame is well framed, only too long; it gets 03 (or
 * 01 for a function we do not serve), as FC03 of 126 registers does. A
 * longer declared length cannot come from any Modbus request: the stream has
 * lost its framing. */
#define MBAP_MAX_LENGTH (1 + 10 + 255)
/* The longest request frame read whole: tid, protocol ID, length, then
 * MBAP_MAX_LENGTH bytes. Answers stay within MBAP_MAX_ADU. */
#define MBAP_MAX_FRAME (6 + MBAP_MAX_LENGTH)

/* FC43 sub-function: Read Device Identification (MEI type 0x0E). */
#define MBAP_MEI_DEVICE_ID 0x0E
/* Conformity level we announce: basic identification objects (0..2),
 * stream access and individual access (code 04). The Modbus specification
 * reserves 0x01 for "stream access only", so a server that also serves
 * individual objects announces 0x81. */
#define MBAP_CONFORMITY 0x81

/* One decoded request. `exc` is the exception it deserves as a request of
 * its own (function code not supported, quantity out of range, lengths
 * that do not agree); 0 when it is well formed. Whether the addresses exist
 * and the values are acceptable is the device's question. */
struct mbap_req {
	uint16_t tid;
	uint8_t unit;
	uint8_t fc;
	uint8_t exc;
	uint16_t addr;	       /* FC03/04/06/16: first register */
	uint16_t count;	       /* FC03/04/16: registers; FC06: 1 */
	uint16_t value;	       /* FC06: the value to write */
	const uint8_t *values; /* FC16: count big-endian words inside the parsed buffer
				* (valid only while that buffer is); NULL otherwise */
	uint8_t mei;	       /* FC43: MEI type */
	uint8_t id_code;       /* FC43/0E: Read Device ID code (1..4) */
	uint8_t object_id;     /* FC43/0E: first (or the one) object */
};

/* Parse one ADU at the start of buf. Returns the bytes it takes (> 0) and
 * fills req; 0 when buf holds only part of an ADU (read more); MB_EPROTO
 * when the bytes cannot be Modbus TCP (protocol ID != 0, length < 2 or
 * > MBAP_MAX_LENGTH): the stream has lost its framing and the connection
 * must close. A length of 255..MBAP_MAX_LENGTH is read whole and answered
 * with an exception (req->exc, never MB_EXC_NONE).
 * A malformed PDU inside a well-framed ADU is not garbage: it is consumed
 * and req->exc says which exception answers it. */
int codec_mbap_parse(const uint8_t *buf, size_t len, struct mbap_req *req);

/* The front's fast path (bridge/server.c): nearly every request a SCADA
 * master or a logger sends is a plain FC03/FC04 read, and a cached answer
 * costs little more than its bytes, so these two are inline, in the
 * caller, rather than a parse into struct mbap_req and an answer out of it.
 * They decide and write exactly what codec_mbap_parse() and
 * codec_mbap_answer_read() would (tests/unit/test_mbap.c compares them). */

/* The bytes of an FC03/FC04 request frame. */
#define MBAP_READ_FRAME 12

/* Does buf (len bytes) start with a whole FC03/FC04 request that
 * codec_mbap_parse() would take as MBAP_READ_FRAME bytes with no exception
 * (protocol ID 0, length 6, quantity 1..125, within the address space)?
 * Then *addr and *count are its range; otherwise 0, and the caller parses
 * it the ordinary way (which also judges a partial frame). */
static inline int codec_mbap_read_frame(const uint8_t *buf, size_t len, uint16_t *addr,
					uint16_t *count)
{
	/* Protocol ID 0 and length 6 in one compare; FC03 and FC04 are
	 * adjacent, so one unsigned compare for the two. */
	_Static_assert(MB_FC_READ_INPUT == MB_FC_READ_HOLDING + 1, "read function codes");
	if (len < MBAP_READ_FRAME || memcmp(buf + 2, "\0\0\0\6", 4) != 0 ||
	    (uint8_t)(buf[7] - MB_FC_READ_HOLDING) > 1)
		return 0;
	uint16_t a = (uint16_t)((unsigned)buf[8] << 8 | buf[9]);
	uint16_t n = (uint16_t)((unsigned)buf[10] << 8 | buf[11]);
	if ((uint16_t)(n - 1) >= MB_MAX_READ || (uint32_t)a + n > 0x10000)
		return 0;
	*addr = a;
	*count = n;
	return 1;
}

/* count (1..MB_MAX_READ) host-order words, big-endian at p. */
static inline void codec_mbap_put_words(uint8_t *p, const uint16_t *words, unsigned count)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	unsigned i = 0;
#if defined(__GNUC__)
	/* Eight words at a time where the compiler has vectors (GCC and
	 * clang: two shifts and an or on x86-64's SSE2), the last eight over
	 * some already written (the same bytes again) rather than a
	 * word-by-word tail. */
	typedef uint16_t codec_mbap__v8 __attribute__((vector_size(16)));
	if (count >= 8) {
		codec_mbap__v8 v;
		memcpy(&v, words, 16);
		v = v << 8 | v >> 8;
		memcpy(p, &v, 16);
		for (i = 8; i + 8 < count; i += 8) {
			memcpy(&v, words + i, 16);
			v = v << 8 | v >> 8;
			memcpy(p + 2 * i, &v, 16);
		}
		memcpy(&v, words + count - 8, 16);
		v = v << 8 | v >> 8;
		memcpy(p + 2 * (count - 8), &v, 16);
		return;
	}
#endif
	/* Fewer than eight: four, two and one. */
	for (; i + 4 <= count; i += 4) {
		uint64_t x;
		memcpy(&x, words + i, 8);
		x = (x & UINT64_C(0x00FF00FF00FF00FF)) << 8 |
		    (x >> 8 & UINT64_C(0x00FF00FF00FF00FF));
		memcpy(p + 2 * i, &x, 8);
	}
	if (i + 2 <= count) {
		uint32_t x;
		memcpy(&x, words + i, 4);
		x = (x & 0x00FF00FFu) << 8 | (x >> 8 & 0x00FF00FFu);
		memcpy(p + 2 * i, &x, 4);
		i += 2;
	}
	if (i < count) {
		uint16_t be = (uint16_t)(words[i] << 8 | words[i] >> 8);
		memcpy(p + 2 * i, &be, 2);
	}
#else
	memcpy(p, words, 2u * count);
#endif
}

/* The answer to the request frame at frame (one codec_mbap_read_frame()
 * took) with its count words, at out (room for MBAP_MAX_ADU); its length. */
static inline size_t codec_mbap_read_answer(const uint8_t *frame, const uint16_t *words,
					    uint16_t count, uint8_t *out)
{
	size_t bytes = 2u * count;
	/* The request's transaction ID, protocol ID (0), unit and function
	 * code, as they came; then the length (unit, function code, byte
	 * count, words) and the byte count. */
	memcpy(out, frame, 8);
	out[4] = (uint8_t)((bytes + 3) >> 8);
	out[5] = (uint8_t)(bytes + 3);
	out[8] = (uint8_t)bytes;
	codec_mbap_put_words(out + 9, words, count);
	return 9 + bytes;
}

/* Decode the FC06 value or the FC16 values into count host-order words. */
void codec_mbap_req_words(const struct mbap_req *req, uint16_t *words);

/* Answer builders: write a whole ADU (header with the request's tid and
 * unit) into out and return its length, or MB_ETOOBIG when outlen is too
 * small (MBAP_MAX_ADU is always enough), MB_EINVAL when the request is not
 * of a kind the builder answers. */

/* FC03/04: req->count words. */
int codec_mbap_answer_read(const struct mbap_req *req, const uint16_t *words, uint8_t *out,
			   size_t outlen);
/* FC06: the echo of address and value; FC16: address and quantity. */
int codec_mbap_answer_write(const struct mbap_req *req, uint8_t *out, size_t outlen);
/* Exception: function code | 0x80, then the code. */
int codec_mbap_answer_exception(const struct mbap_req *req, uint8_t exc, uint8_t *out,
				size_t outlen);

/* The basic identification objects, indexed by object ID. */
enum mbap_object {
	MBAP_OBJ_VENDOR = 0,
	MBAP_OBJ_PRODUCT = 1,
	MBAP_OBJ_REVISION = 2,
	MBAP_NOBJ = 3
};

/* FC43/0E: codes 01..03 stream the basic objects from req->object_id (an
 * unknown ID restarts at 0, and a code above our conformity level is
 * answered at our level, as the specification says); code 04 answers one
 * object or exception 02 when it does not exist. Objects that do not fit
 * one answer are announced with "more follows" and the next object ID.
 * NULL strings are sent empty. */
int codec_mbap_answer_ident(const struct mbap_req *req, const char *const objects[MBAP_NOBJ],
			    uint8_t *out, size_t outlen);

/* The answer for a finished request: MB_EXC_NONE -> the function's own
 * answer (reads take words), otherwise that exception. Returns the ADU's
 * length or a negative MB_E*. */
int codec_mbap_answer(const struct mbap_req *req, enum mb_exc exc, const uint16_t *words,
		      uint8_t *out, size_t outlen);

#endif

/* Fuzz target for the PowerGo frame decoders (bridge/codec_powergo.c).
 *
 * The input is one MQTT payload as it arrives on the answer topic. It is
 * decoded as the answer to requests of every kind: one derived from the
 * frame itself (so that the ID, function and length checks pass and the
 * decoder's inner paths are reached) and a few fixed ones. Whatever the
 * decoder accepts must be canonical: encoding the decoded answer again has to
 * give back exactly the input, since the bridge must never take a frame whose
 * bytes mean something other than what it decoded. The same bytes go through
 * the device-side request decoder the simulators use, with the same rule. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb_error.h"
#include "mbdef.h"
#include "codec_powergo.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static uint32_t fz_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t fz_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* Decode data as the answer to req and check what comes out. */
static void fz_answer(const struct powergo_req *req, const uint8_t *data, size_t size)
{
	struct powergo_answer a;
	uint8_t again[POWERGO_BUF_LEN + 16];
	int rc = codec_powergo_decode_answer(req, data, size, &a);
	FZ_CHECK(rc <= 0);
	if (rc != 0)
		return;
	FZ_CHECK(a.fc == req->fc);
	int n;
	if (a.exception) {
		n = codec_powergo_encode_exception(req->device, req->app, req->fc, a.exception,
						   again, sizeof again);
	} else if (req->fc == MB_FC_READ_HOLDING || req->fc == MB_FC_READ_INPUT) {
		FZ_CHECK(a.count == req->count);
		n = codec_powergo_encode_read_answer(req->device, req->app, req->fc, a.words,
						     a.count, again, sizeof again);
	} else {
		FZ_CHECK(req->fc == MB_FC_WRITE_SINGLE || req->fc == MB_FC_WRITE_MULTIPLE);
		n = codec_powergo_encode_write_answer(req->device, req->app, req->fc, req->addr,
						      req->fc == MB_FC_WRITE_SINGLE ? req->words[0]
										    : req->count,
						      again, sizeof again);
	}
	FZ_CHECK(n > 0 && (size_t)n == size);
	FZ_CHECK(memcmp(again, data, size) == 0);
}

/* Decode data as a request reaching a device and check the same way. */
static void fz_request(uint32_t device, const uint8_t *data, size_t size)
{
	struct powergo_request_in in;
	uint8_t again[POWERGO_BUF_LEN + 16];
	int rc = codec_powergo_decode_request(data, size, device, &in);
	FZ_CHECK(rc <= 0);
	if (rc != 0)
		return;
	if (device)
		FZ_CHECK(in.dst == device);
	struct powergo_req r = {
	    .app = in.src,
	    .device = in.dst,
	    .fc = in.fc,
	    .addr = in.addr,
	    .count = in.count,
	    .words = in.words,
	};
	int n = codec_powergo_encode_request(&r, again, sizeof again);
	FZ_CHECK(n > 0 && (size_t)n == size);
	FZ_CHECK(memcmp(again, data, size) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t fcs[] = {MB_FC_READ_HOLDING,
				      MB_FC_READ_INPUT,
				      MB_FC_WRITE_SINGLE,
				      MB_FC_WRITE_MULTIPLE,
				      0x05,
				      0x00};
	static const uint16_t counts[] = {1, 15, POWERGO_MAX_READ, MB_MAX_READ, 0};
	uint16_t value = 0;
	struct powergo_req req;

	/* The IDs of the specification's examples. */
	for (size_t i = 0; i < sizeof fcs; i++) {
		for (size_t j = 0; j < sizeof counts / sizeof counts[0]; j++) {
			req = (struct powergo_req){.app = 0x053461AD,
						   .device = 0x15020115,
						   .fc = fcs[i],
						   .addr = 529,
						   .count =
						       fcs[i] == MB_FC_WRITE_SINGLE ? 1 : counts[j],
						   .words = &value};
			fz_answer(&req, data, size);
		}
	}

	/* A request shaped after the frame, so that decoding goes deep. */
	if (size >= 16) {
		req = (struct powergo_req){.device = fz_get32(data),
					   .app = fz_get32(data + 4),
					   .fc = data[10] & 0x7F,
					   .words = &value};
		switch (req.fc) {
		case MB_FC_WRITE_SINGLE:
			req.addr = fz_get16(data + 11);
			value = fz_get16(data + 13);
			req.count = 1;
			break;
		case MB_FC_WRITE_MULTIPLE:
			req.addr = fz_get16(data + 11);
			req.count = fz_get16(data + 13);
			break;
		default:
			req.count = data[11] / 2;
			break;
		}
		fz_answer(&req, data, size);
		/* The device side: to anyone, and to the frame's own destination. */
		fz_request(0, data, size);
		fz_request(fz_get32(data + 4), data, size);
	}
	fz_request(0x15020115, data, size);

	/* Encoders with lengths from the input must not overrun the buffer. */
	if (size >= 2) {
		uint8_t pdu[POWERGO_BUF_LEN];
		uint8_t out[POWERGO_BUF_LEN];
		size_t pdulen = size - 2 < sizeof pdu ? size - 2 : sizeof pdu;
		memcpy(pdu, data + 2, pdulen);
		size_t outlen = (size_t)data[0] * 2 % sizeof out;
		int n = codec_powergo_frame(1, 2, pdu, pdulen, out, outlen);
		FZ_CHECK(n < 0 || (size_t)n <= outlen);
	}
	return 0;
}

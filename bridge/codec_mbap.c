/* Modbus TCP codec: MBAP framing, request decoding with the range checks of
 * the Modbus application protocol (the same ones libmodbus' modbus_reply()
 * makes), and the answers the front sends. Pure functions over buffers. */
#include "codec_mbap.h"

#include <string.h>

#include "mb_error.h"
#include "mbdef.h"
#include "codec_pdu.h"

/* --- request decoding ---------------------------------------------------- */

/* Each decoder sees the PDU (pdu[0] is the function code, n >= 1 bytes) and
 * sets req->exc when the request deserves an exception. */
/* FC03/FC04: address, quantity 1..125. */
static void codec_mbap__decode_read(const uint8_t *pdu, size_t n, struct mbap_req *req)
{
	if (n != 5) {
		req->exc = MB_EXC_ILLEGAL_VALUE;
		return;
	}
	req->addr = codec_pdu_get16(pdu + 1);
	req->count = codec_pdu_get16(pdu + 3);
	if (req->count < 1 || req->count > MB_MAX_READ)
		req->exc = MB_EXC_ILLEGAL_VALUE;
	else if ((uint32_t)req->addr + req->count > 0x10000)
		req->exc = MB_EXC_ILLEGAL_ADDRESS;
}

/* FC06: address, value. */
static void codec_mbap__decode_write_single(const uint8_t *pdu, size_t n, struct mbap_req *req)
{
	if (n != 5) {
		req->exc = MB_EXC_ILLEGAL_VALUE;
		return;
	}
	req->addr = codec_pdu_get16(pdu + 1);
	req->count = 1;
	req->value = codec_pdu_get16(pdu + 3);
}

/* FC16: address, quantity 1..123, byte count = 2 * quantity, then exactly
 * that many bytes. */
static void codec_mbap__decode_write_multiple(const uint8_t *pdu, size_t n, struct mbap_req *req)
{
	if (n < 6) {
		req->exc = MB_EXC_ILLEGAL_VALUE;
		return;
	}
	req->addr = codec_pdu_get16(pdu + 1);
	req->count = codec_pdu_get16(pdu + 3);
	uint8_t bytes = pdu[5];
	if (req->count < 1 || req->count > MB_MAX_WRITE || bytes != req->count * 2u ||
	    n != 6u + bytes) {
		req->exc = MB_EXC_ILLEGAL_VALUE;
		return;
	}
	if ((uint32_t)req->addr + req->count > 0x10000) {
		req->exc = MB_EXC_ILLEGAL_ADDRESS;
		return;
	}
	req->values = pdu + 6;
}

/* FC43: MEI type; only 0x0E (device identification) is served. */
static void codec_mbap__decode_mei(const uint8_t *pdu, size_t n, struct mbap_req *req)
{
	if (n < 2) {
		req->exc = MB_EXC_ILLEGAL_VALUE;
		return;
	}
	req->mei = pdu[1];
	if (req->mei != MBAP_MEI_DEVICE_ID) {
		req->exc = MB_EXC_ILLEGAL_FUNCTION;
		return;
	}
	if (n != 4) {
		req->exc = MB_EXC_ILLEGAL_VALUE;
		return;
	}
	req->id_code = pdu[2];
	req->object_id = pdu[3];
	if (req->id_code < 1 || req->id_code > 4)
		req->exc = MB_EXC_ILLEGAL_VALUE;
}

int codec_mbap_parse(const uint8_t *buf, size_t len, struct mbap_req *req)
{
	/* Judge the header as soon as its fields are there, so that garbage
	 * is refused without waiting for bytes that may never come. */
	if (len >= 4 && codec_pdu_get16(buf + 2) != 0)
		return MB_EPROTO;
	if (len < 6)
		return 0;
	uint16_t length = codec_pdu_get16(buf + 4);
	if (length < 2 || length > MBAP_MAX_LENGTH)
		return MB_EPROTO;
	size_t total = 6u + length;
	if (len < total)
		return 0;

	memset(req, 0, sizeof *req);
	req->tid = codec_pdu_get16(buf);
	req->unit = buf[6];
	const uint8_t *pdu = buf + MBAP_HEADER;
	size_t n = length - 1u;
	req->fc = pdu[0];
	/* A switch rather than a table of decoders: each decoder is inlined,
	 * and the reads that make up nearly all traffic take one branch
	 * (tests/bench/run.sh, pipelined case). */
	switch (req->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		codec_mbap__decode_read(pdu, n, req);
		break;
	case MB_FC_WRITE_SINGLE:
		codec_mbap__decode_write_single(pdu, n, req);
		break;
	case MB_FC_WRITE_MULTIPLE:
		codec_mbap__decode_write_multiple(pdu, n, req);
		break;
	case MB_FC_MEI:
		codec_mbap__decode_mei(pdu, n, req);
		break;
	default:
		req->exc = MB_EXC_ILLEGAL_FUNCTION;
		break;
	}
	/* Each decoder's own checks refuse a PDU this long; say so here too, so
	 * that no future function code can take one as valid. */
	if (n > MBAP_MAX_PDU && req->exc == MB_EXC_NONE)
		req->exc = MB_EXC_ILLEGAL_VALUE;
	return (int)total;
}

void codec_mbap_req_words(const struct mbap_req *req, uint16_t *words)
{
	if (req->fc == MB_FC_WRITE_SINGLE) {
		words[0] = req->value;
		return;
	}
	for (uint16_t i = 0; req->values && i < req->count; i++)
		words[i] = codec_pdu_get16(req->values + 2u * i);
}

/* --- answers --------------------------------------------------------------- */

/* Write the MBAP header for a PDU of pdulen bytes; 0 or MB_ETOOBIG. */
static int codec_mbap__header(const struct mbap_req *req, size_t pdulen, uint8_t *out,
			      size_t outlen)
{
	if (pdulen > MBAP_MAX_PDU || outlen < MBAP_HEADER + pdulen)
		return MB_ETOOBIG;
	codec_pdu_put16(out, req->tid);
	codec_pdu_put16(out + 2, 0);
	codec_pdu_put16(out + 4, (uint16_t)(pdulen + 1));
	out[6] = req->unit;
	return 0;
}

int codec_mbap_answer_read(const struct mbap_req *req, const uint16_t *words, uint8_t *out,
			   size_t outlen)
{
	if (req->count < 1 || req->count > MB_MAX_READ)
		return MB_EINVAL;
	size_t pdulen = 2u + 2u * req->count;
	int rc = codec_mbap__header(req, pdulen, out, outlen);
	if (rc < 0)
		return rc;
	if (!words)
		return MB_EINVAL;
	/* codec_pdu_read_answer's layout, written here: the front answers every
	 * cached read through this, and a call into another file per answer
	 * costs as much as the bytes. */
	uint8_t *p = out + MBAP_HEADER;
	p[0] = req->fc;
	p[1] = (uint8_t)(2 * req->count);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* Whole words swapped to big-endian, not two byte stores each. */
	for (uint16_t i = 0, n = req->count; i < n; i++) {
		uint16_t be = (uint16_t)(words[i] << 8 | words[i] >> 8);
		memcpy(p + 2 + 2 * i, &be, 2);
	}
#else
	for (uint16_t i = 0; i < req->count; i++)
		codec_pdu_put16(p + 2 + 2 * i, words[i]);
#endif
	return (int)(MBAP_HEADER + pdulen);
}

int codec_mbap_answer_write(const struct mbap_req *req, uint8_t *out, size_t outlen)
{
	if (req->fc != MB_FC_WRITE_SINGLE && req->fc != MB_FC_WRITE_MULTIPLE)
		return MB_EINVAL;
	int rc = codec_mbap__header(req, 5, out, outlen);
	if (rc < 0)
		return rc;
	codec_pdu_write_answer(out + MBAP_HEADER, 5, req->fc, req->addr,
			       req->fc == MB_FC_WRITE_SINGLE ? req->value : req->count);
	return MBAP_HEADER + 5;
}

int codec_mbap_answer_exception(const struct mbap_req *req, uint8_t exc, uint8_t *out,
				size_t outlen)
{
	int rc = codec_mbap__header(req, 2, out, outlen);
	if (rc < 0)
		return rc;
	out[MBAP_HEADER] = (uint8_t)(req->fc | 0x80);
	out[MBAP_HEADER + 1] = exc;
	return MBAP_HEADER + 2;
}

/* Bytes of the identification answer before the objects: fc, MEI type,
 * code, conformity, more follows, next object ID, number of objects. */
#define MBAP__IDENT_HEAD 7
/* The longest object value one answer can carry alone. */
#define MBAP__IDENT_MAX_VALUE (MBAP_MAX_PDU - MBAP__IDENT_HEAD - 2)

int codec_mbap_answer_ident(const struct mbap_req *req, const char *const objects[MBAP_NOBJ],
			    uint8_t *out, size_t outlen)
{
	if (req->fc != MB_FC_MEI || req->mei != MBAP_MEI_DEVICE_ID || req->id_code < 1 ||
	    req->id_code > 4)
		return MB_EINVAL;
	if (outlen < MBAP_MAX_ADU)
		return MB_ETOOBIG;
	uint8_t first = req->object_id, last;
	if (req->id_code == 4) {
		if (first >= MBAP_NOBJ)
			return codec_mbap_answer_exception(req, MB_EXC_ILLEGAL_ADDRESS, out,
							   outlen);
		last = first;
	} else {
		if (first >= MBAP_NOBJ)
			first = 0;
		last = MBAP_NOBJ - 1;
	}

	uint8_t *p = out + MBAP_HEADER;
	size_t n = MBAP__IDENT_HEAD;
	uint8_t more = 0, next = 0, nobj = 0;
	for (unsigned id = first; id <= last; id++) {
		const char *s = objects[id] ? objects[id] : "";
		size_t len = strlen(s);
		if (len > MBAP__IDENT_MAX_VALUE)
			len = MBAP__IDENT_MAX_VALUE;
		if (n + 2 + len > MBAP_MAX_PDU) {
			/* The client asks again from `next` for the rest. */
			more = 0xFF;
			next = (uint8_t)id;
			break;
		}
		p[n] = (uint8_t)id;
		p[n + 1] = (uint8_t)len;
		memcpy(p + n + 2, s, len);
		n += 2 + len;
		nobj++;
	}
	p[0] = MB_FC_MEI;
	p[1] = MBAP_MEI_DEVICE_ID;
	p[2] = req->id_code;
	p[3] = MBAP_CONFORMITY;
	p[4] = more;
	p[5] = next;
	p[6] = nobj;
	int rc = codec_mbap__header(req, n, out, outlen);
	return rc < 0 ? rc : (int)(MBAP_HEADER + n);
}

int codec_mbap_answer(const struct mbap_req *req, enum mb_exc exc, const uint16_t *words,
		      uint8_t *out, size_t outlen)
{
	if (exc != MB_EXC_NONE)
		return codec_mbap_answer_exception(req, (uint8_t)exc, out, outlen);
	switch (req->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		return codec_mbap_answer_read(req, words, out, outlen);
	case MB_FC_WRITE_SINGLE:
	case MB_FC_WRITE_MULTIPLE:
		return codec_mbap_answer_write(req, out, outlen);
	default:
		return MB_EINVAL;
	}
}

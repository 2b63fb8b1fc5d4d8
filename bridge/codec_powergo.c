/* PowerGo frame codec (see include/codec_powergo.h). */
#include "codec_powergo.h"

#include "codec_crc16.h"
#include "mb_error.h"
#include "mbdef.h"
#include "codec_pdu.h"

#include <string.h>

/* Shortest answer: header, 0x51, fc|0x80, exception code, CRC. */
#define POWERGO__MIN_ANSWER (POWERGO_HDR_LEN + 3 + 2)
/* A write echo or a read request: header, 0x51, fc, two words, CRC. */
#define POWERGO__FIXED_LEN (POWERGO_HDR_LEN + 1 + 1 + 4 + 2)

static void codec_powergo__put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t codec_powergo__get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int codec_powergo__hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int codec_powergo_parse_id(const char *s, uint32_t *id)
{
	uint32_t v = 0;
	if (!s)
		return MB_EINVAL;
	for (int i = 0; i < 8; i++) {
		int d = codec_powergo__hex(s[i]);
		if (d < 0)
			return MB_EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	if (s[8] != '\0')
		return MB_EINVAL;
	*id = v;
	return 0;
}

void codec_powergo_format_id(uint32_t id, char out[9])
{
	static const char digits[] = "0123456789ABCDEF";
	for (int i = 0; i < 8; i++)
		out[i] = digits[(id >> (28 - 4 * i)) & 0xF];
	out[8] = '\0';
}

int codec_powergo_frame(uint32_t src, uint32_t dst, const uint8_t *pdu, size_t pdulen, uint8_t *buf,
			size_t buflen)
{
	if (!pdu || pdulen == 0)
		return MB_EINVAL;
	size_t len = POWERGO_HDR_LEN + 1 + pdulen + 2;
	if (len > buflen)
		return MB_ETOOBIG;
	codec_powergo__put32(buf, src);
	codec_powergo__put32(buf + 4, dst);
	buf[8] = POWERGO_MQTT_FC;
	buf[9] = POWERGO_RTU_ADDR;
	memmove(buf + 10, pdu, pdulen);
	/* The CRC covers the RTU part only, from the 0x51 address byte. */
	codec_crc16_append(buf + POWERGO_HDR_LEN, 1 + pdulen);
	return (int)len;
}

int codec_powergo_encode_request(const struct powergo_req *r, uint8_t *buf, size_t buflen)
{
	uint8_t pdu[6 + 2 * MB_MAX_WRITE];
	int n = codec_pdu_request(pdu, sizeof pdu, r->fc, r->addr, r->count, r->words);
	if (n < 0)
		return n;
	return codec_powergo_frame(r->app, r->device, pdu, (size_t)n, buf, buflen);
}

/* The checks every frame gets, whichever way it travels: length, the 0x03
 * marker, the two IDs, the RTU address, the CRC. */
static int codec_powergo__check(const uint8_t *buf, size_t len, size_t min, uint32_t src,
				int any_src, uint32_t dst, int any_dst)
{
	if (!buf || len < min)
		return MB_ESHORT;
	if (buf[8] != POWERGO_MQTT_FC)
		return MB_EPROTO;
	if ((!any_src && codec_powergo__get32(buf) != src) ||
	    (!any_dst && codec_powergo__get32(buf + 4) != dst))
		return MB_EID;
	if (buf[9] != POWERGO_RTU_ADDR)
		return MB_EADDR;
	if (!codec_crc16_ok(buf + POWERGO_HDR_LEN, len - POWERGO_HDR_LEN))
		return MB_ECRC;
	return 0;
}

static int codec_powergo__exact(size_t len, size_t want)
{
	return len < want ? MB_ESHORT : len > want ? MB_ETOOBIG : 0;
}

int codec_powergo_decode_answer(const struct powergo_req *req, const uint8_t *buf, size_t len,
				struct powergo_answer *out)
{
	int rc = codec_powergo__check(buf, len, POWERGO__MIN_ANSWER, req->device, 0, req->app, 0);
	if (rc)
		return rc;
	const uint8_t *p = buf + POWERGO_HDR_LEN + 1; /* function code */
	out->fc = 0;
	out->exception = 0;
	out->count = 0;
	if (p[0] == (req->fc | 0x80)) {
		if ((rc = codec_powergo__exact(len, POWERGO__MIN_ANSWER)))
			return rc;
		if (p[1] == 0)
			return MB_EPARSE;
		out->fc = req->fc;
		out->exception = p[1];
		return 0;
	}
	if (p[0] != req->fc)
		return MB_EFUNC;
	out->fc = p[0];
	switch (req->fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		if (req->count == 0 || req->count > MB_MAX_READ || p[1] != 2 * req->count)
			return MB_ERANGE;
		if ((rc = codec_powergo__exact(len, POWERGO__MIN_ANSWER + 2u * req->count)))
			return rc;
		for (uint16_t i = 0; i < req->count; i++)
			out->words[i] = codec_pdu_get16(p + 2 + 2 * i);
		out->count = req->count;
		return 0;
	case MB_FC_WRITE_SINGLE:
	case MB_FC_WRITE_MULTIPLE:
		if ((rc = codec_powergo__exact(len, POWERGO__FIXED_LEN)))
			return rc;
		if (codec_pdu_get16(p + 1) != req->addr)
			return MB_EPARSE;
		/* FC06 echoes the value, FC16 the quantity. */
		if (codec_pdu_get16(p + 3) !=
		    (req->fc == MB_FC_WRITE_SINGLE ? (req->words ? req->words[0] : 0) : req->count))
			return MB_EPARSE;
		return 0;
	default:
		return MB_EFUNC;
	}
}

int codec_powergo_decode_request(const uint8_t *buf, size_t len, uint32_t device,
				 struct powergo_request_in *out)
{
	/* The shortest request is a read or an FC06: 17 bytes. */
	int rc = codec_powergo__check(buf, len, POWERGO__FIXED_LEN, 0, 1, device, device == 0);
	if (rc)
		return rc;
	const uint8_t *p = buf + POWERGO_HDR_LEN + 1;
	out->src = codec_powergo__get32(buf);
	out->dst = codec_powergo__get32(buf + 4);
	out->fc = p[0];
	out->addr = codec_pdu_get16(p + 1);
	switch (p[0]) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		out->count = codec_pdu_get16(p + 3);
		if (out->count == 0 || out->count > MB_MAX_READ)
			return MB_ERANGE;
		return codec_powergo__exact(len, POWERGO__FIXED_LEN);
	case MB_FC_WRITE_SINGLE:
		out->count = 1;
		out->words[0] = codec_pdu_get16(p + 3);
		return codec_powergo__exact(len, POWERGO__FIXED_LEN);
	case MB_FC_WRITE_MULTIPLE:
		out->count = codec_pdu_get16(p + 3);
		if (out->count == 0 || out->count > MB_MAX_WRITE || p[5] != 2 * out->count)
			return MB_ERANGE;
		if ((rc = codec_powergo__exact(len, POWERGO__FIXED_LEN + 1u + 2u * out->count)))
			return rc;
		for (uint16_t i = 0; i < out->count; i++)
			out->words[i] = codec_pdu_get16(p + 6 + 2 * i);
		return 0;
	default:
		return MB_EFUNC;
	}
}

int codec_powergo_encode_read_answer(uint32_t device, uint32_t app, uint8_t fc,
				     const uint16_t *words, uint16_t count, uint8_t *buf,
				     size_t buflen)
{
	uint8_t pdu[2 + 2 * MB_MAX_READ];
	if (count == 0 || !words)
		return MB_EINVAL;
	int n = codec_pdu_read_answer(pdu, sizeof pdu, fc, words, count);
	if (n < 0)
		return n;
	return codec_powergo_frame(device, app, pdu, (size_t)n, buf, buflen);
}

int codec_powergo_encode_write_answer(uint32_t device, uint32_t app, uint8_t fc, uint16_t addr,
				      uint16_t value_or_count, uint8_t *buf, size_t buflen)
{
	uint8_t pdu[5];
	int n = codec_pdu_write_answer(pdu, sizeof pdu, fc, addr, value_or_count);
	return n < 0 ? n : codec_powergo_frame(device, app, pdu, (size_t)n, buf, buflen);
}

int codec_powergo_encode_exception(uint32_t device, uint32_t app, uint8_t fc, uint8_t code,
				   uint8_t *buf, size_t buflen)
{
	uint8_t pdu[2] = {(uint8_t)(fc | 0x80), code};
	return codec_powergo_frame(device, app, pdu, sizeof pdu, buf, buflen);
}

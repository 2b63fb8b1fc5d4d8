#include "codec_pdu.h"

#include "mb_error.h"
#include "mbdef.h"

int codec_pdu_request(uint8_t *out, size_t cap, uint8_t fc, uint16_t addr, uint16_t count,
		      const uint16_t *words)
{
	size_t n;
	switch (fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		if (count < 1 || count > MB_MAX_READ)
			return MB_EINVAL;
		n = 5;
		break;
	case MB_FC_WRITE_SINGLE:
		if (count != 1 || !words)
			return MB_EINVAL;
		n = 5;
		break;
	case MB_FC_WRITE_MULTIPLE:
		if (count < 1 || count > MB_MAX_WRITE || !words)
			return MB_EINVAL;
		n = 6 + 2 * (size_t)count;
		break;
	default:
		return MB_EINVAL;
	}
	if (cap < n)
		return MB_ETOOBIG;
	out[0] = fc;
	codec_pdu_put16(out + 1, addr);
	codec_pdu_put16(out + 3, fc == MB_FC_WRITE_SINGLE ? words[0] : count);
	if (fc == MB_FC_WRITE_MULTIPLE) {
		out[5] = (uint8_t)(2 * count);
		for (uint16_t i = 0; i < count; i++)
			codec_pdu_put16(out + 6 + 2 * i, words[i]);
	}
	return (int)n;
}

int codec_pdu_read_answer(uint8_t *out, size_t cap, uint8_t fc, const uint16_t *words,
			  uint16_t count)
{
	if (count > MB_MAX_READ || (count && !words))
		return MB_EINVAL;
	size_t n = 2 + 2 * (size_t)count;
	if (cap < n)
		return MB_ETOOBIG;
	out[0] = fc;
	out[1] = (uint8_t)(2 * count);
	for (uint16_t i = 0; i < count; i++)
		codec_pdu_put16(out + 2 + 2 * i, words[i]);
	return (int)n;
}

int codec_pdu_write_answer(uint8_t *out, size_t cap, uint8_t fc, uint16_t addr,
			   uint16_t value_or_count)
{
	if (cap < 5)
		return MB_ETOOBIG;
	out[0] = fc;
	codec_pdu_put16(out + 1, addr);
	codec_pdu_put16(out + 3, value_or_count);
	return 5;
}

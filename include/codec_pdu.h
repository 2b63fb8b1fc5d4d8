/* Modbus PDUs — the function code and its data — as the three framings that
 * carry them share them: MBAP on the front (codec_mbap.c), PowerGo's MQTT frames
 * (codec_powergo.c) and RTU inside Solarman V5 (codec_v5.c). Pure functions. */
#ifndef CODEC_PDU_H
#define CODEC_PDU_H

#include <stddef.h>
#include <stdint.h>

/* Modbus is big-endian on the wire. */
static inline uint16_t codec_pdu_get16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline void codec_pdu_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A request PDU: FC03/FC04 (address, quantity 1..125), FC06 (address,
 * words[0]; count must be 1), FC16 (address, quantity 1..123, byte count,
 * words). Returns its length, MB_EINVAL (bad function, quantity or missing
 * words) or MB_ETOOBIG (cap too small). */
int codec_pdu_request(uint8_t *out, size_t cap, uint8_t fc, uint16_t addr, uint16_t count,
		      const uint16_t *words);
/* A read answer PDU: fc, byte count, count words (0..125). */
int codec_pdu_read_answer(uint8_t *out, size_t cap, uint8_t fc, const uint16_t *words,
			  uint16_t count);
/* A write answer PDU: fc, address, the value (FC06) or the quantity (FC16). */
int codec_pdu_write_answer(uint8_t *out, size_t cap, uint8_t fc, uint16_t addr,
			   uint16_t value_or_count);

#endif

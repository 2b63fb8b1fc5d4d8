#include "codec_crc16.h"

static uint16_t codec_crc16__table[256];
static int codec_crc16__ready;

static void codec_crc16__init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint16_t c = (uint16_t)i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (uint16_t)((c >> 1) ^ 0xA001) : (uint16_t)(c >> 1);
		codec_crc16__table[i] = c;
	}
	codec_crc16__ready = 1;
}

uint16_t codec_crc16_modbus(const uint8_t *buf, size_t len)
{
	if (!codec_crc16__ready)
		codec_crc16__init();
	uint16_t crc = 0xFFFF;
	for (size_t i = 0; i < len; i++)
		crc = (uint16_t)((crc >> 8) ^ codec_crc16__table[(crc ^ buf[i]) & 0xFF]);
	return crc;
}

size_t codec_crc16_append(uint8_t *buf, size_t n)
{
	uint16_t crc = codec_crc16_modbus(buf, n);
	buf[n] = (uint8_t)crc;
	buf[n + 1] = (uint8_t)(crc >> 8);
	return n + 2;
}

bool codec_crc16_ok(const uint8_t *buf, size_t n)
{
	uint16_t crc = codec_crc16_modbus(buf, n - 2);
	return buf[n - 2] == (uint8_t)crc && buf[n - 1] == (uint8_t)(crc >> 8);
}

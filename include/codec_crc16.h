#ifndef CODEC_CRC16_H
#define CODEC_CRC16_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF). The RTU frame carries it
 * low byte first. libmodbus computes the same CRC but keeps it private to its
 * RTU backend, so we carry our own table-driven copy. */
uint16_t codec_crc16_modbus(const uint8_t *buf, size_t len);
/* Append the CRC of buf[0..n) at buf[n], low byte first; returns n + 2. */
size_t codec_crc16_append(uint8_t *buf, size_t n);
/* Do the last two of the n bytes hold the CRC of the ones before (n >= 2)? */
bool codec_crc16_ok(const uint8_t *buf, size_t n);

#endif

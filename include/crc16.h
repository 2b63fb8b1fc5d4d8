#ifndef CRC16_H
#define CRC16_H
#include <stddef.h>
#include <stdint.h>

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF). The RTU frame carries it
 * low byte first. libmodbus computes the same CRC but keeps it private to its
 * RTU backend, so we carry our own table-driven copy. */
uint16_t crc16_modbus(const uint8_t *buf, size_t len);

#endif

/* The values the simulators answer in pattern mode (sim_solarman --pattern,
 * sim_powergo --pattern) for every address they hold nothing of their own
 * at, so that a test of pass-through (docs/design.md, "Pass-through") can
 * read any address and know what it must get. Holding and input registers
 * differ, so that a read of the wrong table shows. */
#ifndef SIM_PATTERN_H
#define SIM_PATTERN_H

#include <stdint.h>

/* table: 0 holding, 1 input. */
static inline uint16_t sim_pattern(int table, uint32_t addr)
{
	return (uint16_t)((addr * 7u + 3u) ^ (table ? 0xA000u : 0x5000u));
}

#endif

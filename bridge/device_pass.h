/* The pass-through side of a device (docs/design.md, "Pass-through"): which
 * addresses it passes to the device as they are, and the bounded cache of
 * their values. Private to bridge/: the device model (device.c) is its only
 * user; the reads and writes that go to the device stay device.c's, which
 * queues them with its other transactions. */
#ifndef DEVICE_PASS_H
#define DEVICE_PASS_H

#include <stdint.h>

struct device_pass;
struct map;
struct map_passthrough;
struct protocol;

/* The pass-through of a device of map, whose transport is protocol proto's
 * (NULL: none known), keeping the values of at least regs addresses. NULL
 * when out of memory. */
struct device_pass *device_pass_new(const struct map *map, const struct protocol *proto,
				    int64_t regs);
void device_pass_free(struct device_pass *p);

/* The pass-through range of the map that holds address, unless the device's
 * protocol keeps it secret (protocol.h, struct protocol_secret): then NULL,
 * whatever the map says. Registers win: callers look address up with
 * map_find() first. */
const struct map_passthrough *device_pass_range(const struct device_pass *p, int table,
						uint16_t address);

/* A word the device sent for address of table (no register describes it),
 * stamped (never 0): kept where the address passes, the least recently used
 * evicted when the cache is full. 1 when it took a block never used before
 * (struct device_stats' pass_blocks counts them), else 0. */
int device_pass_store(struct device_pass *p, int table, uint32_t address, uint16_t word,
		      uint64_t stamp);
/* The word kept for address if it was stored at or after since: 1 and *word
 * set, else 0. */
int device_pass_fresh(struct device_pass *p, int table, uint32_t address, uint64_t since,
		      uint16_t *word);
/* A client was answered from address's word: its block is the most
 * recently used. */
void device_pass_touch(struct device_pass *p, int table, uint32_t address);

#endif

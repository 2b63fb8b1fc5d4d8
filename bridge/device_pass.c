/* The pass-through cache of a device (device_pass.h; docs/design.md,
 * "Pass-through"). Values are kept in blocks of DEVICE_PASS_BLOCK aligned
 * addresses, at most a configured number per device (passthrough_cache),
 * the least recently used evicted first: a map that passes all 131072
 * addresses must not cost a descriptor or a cache word per address. */
#include "device_pass.h"

#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "protocol.h"

#define DEVICE_PASS_BLOCK 64

struct device_pass_block {
	uint64_t used; /* the cache's clock at the last store or hit; 0 = free */
	uint32_t key;  /* table << 16 | first address */
	uint16_t val[DEVICE_PASS_BLOCK];
	uint64_t stamp[DEVICE_PASS_BLOCK]; /* as the register cache's: 0 = never */
};

struct device_pass {
	const struct map *map;
	const struct protocol *proto; /* whose secrets never pass, or NULL */
	struct device_pass_block *blocks;
	size_t nblocks;
	uint64_t tick;
	/* The block found last: a range is looked up word by word. Keys are
	 * unique among used blocks and a used block is never freed, so the
	 * hint is checked by its key alone. */
	struct device_pass_block *hint;
};

struct device_pass *device_pass_new(const struct map *map, const struct protocol *proto,
				    int64_t regs)
{
	struct device_pass *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->map = map;
	p->proto = proto;
	p->nblocks = (size_t)(regs + DEVICE_PASS_BLOCK - 1) / DEVICE_PASS_BLOCK;
	if (!(p->blocks = calloc(p->nblocks, sizeof *p->blocks))) {
		free(p);
		return NULL;
	}
	return p;
}

void device_pass_free(struct device_pass *p)
{
	if (!p)
		return;
	free(p->blocks);
	free(p);
}

const struct map_passthrough *device_pass_range(const struct device_pass *p, int table,
						uint16_t address)
{
	if (protocol_secret(p->proto, table, address))
		return NULL;
	return map_find_passthrough(p->map, table, address);
}

/* The block of table holding address. With create, a missing block takes a
 * free one (*fresh set) or evicts the least recently used. */
static struct device_pass_block *device_pass__block(struct device_pass *p, int table,
						    uint32_t address, int create, int *fresh)
{
	uint32_t key = (uint32_t)table << 16 | (address & ~(uint32_t)(DEVICE_PASS_BLOCK - 1));
	struct device_pass_block *b, *free_b = NULL, *lru = NULL;

	if (p->hint && p->hint->used && p->hint->key == key)
		return p->hint;
	for (size_t i = 0; i < p->nblocks; i++) {
		b = &p->blocks[i];
		if (b->used && b->key == key)
			return p->hint = b;
		if (!b->used) {
			if (!free_b)
				free_b = b;
		} else if (!lru || b->used < lru->used) {
			lru = b;
		}
	}
	if (!create || !(b = free_b ? free_b : lru))
		return NULL;
	*fresh = free_b != NULL;
	b->key = key;
	b->used = ++p->tick;
	memset(b->stamp, 0, sizeof b->stamp);
	return p->hint = b;
}

int device_pass_store(struct device_pass *p, int table, uint32_t address, uint16_t word,
		      uint64_t stamp)
{
	struct device_pass_block *b;
	int fresh = 0;

	if (!device_pass_range(p, table, (uint16_t)address) ||
	    !(b = device_pass__block(p, table, address, 1, &fresh)))
		return 0;
	b->val[address % DEVICE_PASS_BLOCK] = word;
	b->stamp[address % DEVICE_PASS_BLOCK] = stamp;
	b->used = ++p->tick;
	return fresh;
}

int device_pass_fresh(struct device_pass *p, int table, uint32_t address, uint64_t since,
		      uint16_t *word)
{
	struct device_pass_block *b = device_pass__block(p, table, address, 0, NULL);
	if (!b || b->stamp[address % DEVICE_PASS_BLOCK] < since)
		return 0;
	*word = b->val[address % DEVICE_PASS_BLOCK];
	return 1;
}

void device_pass_touch(struct device_pass *p, int table, uint32_t address)
{
	struct device_pass_block *b = device_pass__block(p, table, address, 0, NULL);
	if (b)
		b->used = ++p->tick;
}

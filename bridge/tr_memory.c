/* The `memory` protocol: a virtual device held in the daemon. Its register
 * cache is the device itself (TRANSPORT_CACHE_IS_STORE): the device model
 * initialises it from the map's `default` values, answers reads from it and
 * stores checked writes into it, so this transport never sees a transaction. */
#include "transport.h"

#include "mbdef.h"
#include "protocol.h"

static int tr_memory__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			   const struct map *map, void **state, char *err, size_t errlen)
{
	(void)dev;
	(void)loop;
	(void)cfg;
	(void)map;
	(void)err;
	(void)errlen;
	*state = NULL;
	return 0;
}

static enum mb_exc tr_memory__start(void *state, struct txn *t)
{
	/* Unreachable: the device model serves memory devices from the cache. */
	(void)state;
	(void)t;
	return MB_EXC_DEVICE_FAILURE;
}

static bool tr_memory__link_up(void *state)
{
	(void)state;
	return true;
}

const struct transport_ops transport_memory = {
    .flags = TRANSPORT_CACHE_IS_STORE,
    .open = tr_memory__open,
    .start = tr_memory__start,
    .link_up = tr_memory__link_up,
};

/* The protocol (protocol.h): no block keys; a device without a block runs a
 * memory map, and `memory = {}` runs a map of any protocol, simulating it. */
const struct protocol protocol_memory = {
    .name = "memory",
    .text = "registers held in the daemon, initialised from the map's default values",
    .flags = PROTOCOL_VIRTUAL,
    .ops = &transport_memory,
};

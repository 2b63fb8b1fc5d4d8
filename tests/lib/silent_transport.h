/* A transport that opens and never answers, for unit tests of what is
 * shown from a device's cache (values.c, the faces): the cache is all there
 * is, filled by the test through device_write / device_cache_* calls.
 *
 *   static const struct transport_ops ops = SILENT_TRANSPORT(125);
 *
 * max_read is the largest read the device model may ask of it. Include
 * after transport.h. */
#ifndef SILENT_TRANSPORT_H
#define SILENT_TRANSPORT_H

static int silent_open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
		       const struct map *map, void **state, char *err, size_t errlen)
{
	(void)dev, (void)loop, (void)cfg, (void)map, (void)err, (void)errlen;
	*state = NULL;
	return 0;
}

static enum mb_exc silent_start(void *state, struct txn *t)
{
	(void)state, (void)t;
	return MB_EXC_NONE;
}

static void silent_abort(void *state, struct txn *t)
{
	(void)state, (void)t;
}

#define SILENT_TRANSPORT(max)                                                                      \
	{                                                                                          \
		.max_read = (max), .open = silent_open, .start = silent_start,                     \
		.abort = silent_abort                                                              \
	}

#endif

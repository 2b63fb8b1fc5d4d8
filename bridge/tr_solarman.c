/* Placeholder until the solarman transport lands: refuses to open. */
#include "transport.h"
#include "mb_error.h"
#include <stdio.h>

static int tr_solarman__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			 const struct map *map, void **state, char *err, size_t errlen)
{
	(void)dev; (void)loop; (void)cfg; (void)map; (void)state;
	snprintf(err, errlen, "protocol solarman is not built yet");
	return MB_EPROTO;
}

const struct transport_ops transport_solarman = {
	.name = "solarman",
	.open = tr_solarman__open,
};

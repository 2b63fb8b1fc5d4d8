/* Placeholder until the venus transport lands: refuses to open. */
#include "transport.h"
#include "mb_error.h"
#include <stdio.h>

static int tr_venus__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			 const struct map *map, void **state, char *err, size_t errlen)
{
	(void)dev; (void)loop; (void)cfg; (void)map; (void)state;
	snprintf(err, errlen, "protocol venus is not built yet");
	return MB_EPROTO;
}

const struct transport_ops transport_venus = {
	.name = "venus",
	.open = tr_venus__open,
};

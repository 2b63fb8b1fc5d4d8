#include "transport.h"

#include <string.h>

/* Every native protocol the daemon speaks, by the name config and maps use. */
static const struct transport_ops *const transport__all[] = {
    &transport_memory,
    &transport_powergo,
    &transport_venus,
    &transport_solarman,
};

const struct transport_ops *transport_find(const char *name)
{
	for (size_t i = 0; i < sizeof transport__all / sizeof transport__all[0]; i++)
		if (name && strcmp(transport__all[i]->name, name) == 0)
			return transport__all[i];
	return NULL;
}

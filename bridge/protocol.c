/* The registry of native protocols (docs/design.md, "Adding a protocol").
 * Each protocol is one `const struct protocol` defined in its transport file;
 * adding one is one line here. */
#include "protocol.h"

#include <stdio.h>
#include <string.h>

/* One line per protocol, in the order messages list them. */
#define PROTOCOL__ALL(X)                                                                           \
	X(protocol_memory)                                                                         \
	X(protocol_powergo)                                                                        \
	X(protocol_venus)                                                                          \
	X(protocol_solarman)                                                                       \
	X(protocol_modbus)

#define PROTOCOL__DECLARE(p) extern const struct protocol p;
PROTOCOL__ALL(PROTOCOL__DECLARE)

#define PROTOCOL__ENTRY(p) &p,
static const struct protocol *const protocol__all[] = {PROTOCOL__ALL(PROTOCOL__ENTRY)};

#define PROTOCOL__N (sizeof protocol__all / sizeof protocol__all[0])
_Static_assert(PROTOCOL__N <= PROTOCOL_MAX, "raise PROTOCOL_MAX in include/protocol.h");

size_t protocol_count(void)
{
	return PROTOCOL__N;
}

const struct protocol *protocol_at(size_t i)
{
	return i < PROTOCOL__N ? protocol__all[i] : NULL;
}

const struct protocol *protocol_find(const char *name)
{
	for (size_t i = 0; name && i < PROTOCOL__N; i++)
		if (strcmp(protocol__all[i]->name, name) == 0)
			return protocol__all[i];
	return NULL;
}

const char *protocol_names(unsigned flags, const char *sep, const char *last, char *buf, size_t len)
{
	size_t n = 0, k = 0, used = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < PROTOCOL__N; i++)
		n += (protocol__all[i]->flags & flags) == flags;
	for (size_t i = 0; i < PROTOCOL__N && used < len; i++) {
		const struct protocol *p = protocol__all[i];
		if ((p->flags & flags) != flags)
			continue;
		int w = snprintf(buf + used, len - used, "%s%s",
				 k == 0 ? "" : (k + 1 == n ? last : sep), p->name);
		if (w < 0)
			break;
		used += (size_t)w;
		k++;
	}
	return buf;
}

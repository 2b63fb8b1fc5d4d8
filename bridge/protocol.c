/* The registry of native protocols (docs/design.md, "Adding a protocol").
 * Each protocol is one `const struct protocol` defined in its transport file;
 * adding one is one line here. */
#include "protocol.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"

/* `make WITH_MODBUS=0` leaves tr_modbus.c (libmodbus) out of the build. */
#if MB_WITH_MODBUS
#define PROTOCOL__MODBUS(X) X(protocol_modbus)
#else
#define PROTOCOL__MODBUS(X)
#endif

/* One line per protocol, in the order messages list them. */
#define PROTOCOL__ALL(X)                                                                           \
	X(protocol_memory)                                                                         \
	X(protocol_powergo)                                                                        \
	X(protocol_venus)                                                                          \
	X(protocol_solarman)                                                                       \
	PROTOCOL__MODBUS(X)                                                                        \
	X(protocol_site)

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

const struct protocol_secret *protocol_secret(const struct protocol *pr, int table,
					      uint16_t address)
{
	for (size_t i = 0; pr && i < pr->nsecrets; i++) {
		const struct protocol_secret *s = &pr->secrets[i];
		if ((s->table < 0 || s->table == table) && s->first <= address &&
		    address <= s->last)
			return s;
	}
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

/* The protocols this build left out, with the Makefile option that did:
 * a config or map naming one is refused with that option, not with
 * "unknown key" or "must be one of". */
static const struct {
	const char *name, *option;
} protocol__left_out[] = {
#if !MB_WITH_MODBUS
    {"modbus", "WITH_MODBUS"},
#endif
    {NULL, NULL},
};

const char *protocol_left_out(size_t i)
{
	return i < sizeof protocol__left_out / sizeof protocol__left_out[0]
		   ? protocol__left_out[i].name
		   : NULL;
}

int protocol_refuse_left_out(struct config_parser *p, const struct config_setting_t *s,
			     const char *name, const char *fix)
{
	for (size_t i = 0; name && protocol__left_out[i].name; i++)
		if (strcmp(protocol__left_out[i].name, name) == 0)
			return keys_error(p, s,
					  "this modbridge was built without the %s protocol "
					  "(%s=0): %s",
					  name, protocol__left_out[i].option, fix);
	return 0;
}

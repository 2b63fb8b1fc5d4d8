/* keys_error() for the many messages that start with a setting's path,
 * "devices.[1].mqtt.port must be ...": the path is written by the helper,
 * once, rather than by each check into a buffer of its own. */
#ifndef KEYS_AT_H
#define KEYS_AT_H

#include "keys.h"

/* keys_error() on setting x (its file:line), the message the path of
 * setting s ("registers.[3]") followed by fmt (".length is missing..."):
 * s is x or a group that holds it. The path is computed only here, when a
 * message is written: the path of a list element needs libconfig's
 * config_setting_index(), a linear scan of the list, and doing that for
 * every key of a map with thousands of registers made loading quadratic.
 * Returns MB_EPARSE. */
int keys_error_at(struct config_parser *p, const struct config_setting_t *x,
		  const struct config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* keys_error_at(p, s, s, ...) for a setting of the wrong type: the path of
 * s, what it must be (" must be a group { ... }"), then ", not " and what
 * it is ("a string", keys_type_name). Returns MB_EPARSE. */
int keys_error_type(struct config_parser *p, const struct config_setting_t *s, const char *what);

#endif

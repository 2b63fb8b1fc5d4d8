#include "keys_at.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int keys_error_at(struct config_parser *p, const struct config_setting_t *x,
		  const struct config_setting_t *s, const char *fmt, ...)
{
	char path[256];
	int rc = keys_error(p, x, "%s", keys_path(s, path, sizeof path));
	size_t used = p->err ? strlen(p->err) : 0;
	va_list ap;

	if (p->err && used + 1 < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + used, p->errlen - used, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int keys_error_type(struct config_parser *p, const struct config_setting_t *s, const char *what)
{
	return keys_error_at(p, s, s, "%s, not %s", what, keys_type_name(s));
}

/* The status every exporter keeps (bridge/export_stat.h): below export.c,
 * which shows it, and the sinks, which fill it in. */
#include "export_stat.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

uint64_t export_stat_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void export_stat_attempt(struct export_stat *s)
{
	s->last_attempt = export_stat_wall_ms();
}

void export_stat_ok(struct export_stat *s)
{
	s->state = EXPORT_OK;
	s->last_success = export_stat_wall_ms();
}

void export_stat_fail(struct export_stat *s, const char *fmt, ...)
{
	va_list ap;
	s->state = EXPORT_FAILING;
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof s->last_error, fmt, ap);
	va_end(ap);
}

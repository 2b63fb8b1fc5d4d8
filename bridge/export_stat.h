/* The status every exporter keeps (docs/user-guide.md, "Exporting values"):
 * filled in by the sinks (export_mqtt.h, export_influx.h), shown by export.c (SIGUSR1,
 * GET /api/v1/status). Private to the exporters. */
#ifndef EXPORT_STAT_H
#define EXPORT_STAT_H

#include <stdint.h>

enum export_state { EXPORT_STARTING, EXPORT_OK, EXPORT_FAILING };

struct export_stat {
	enum export_state state;
	char target[256];		     /* where to, without credentials */
	uint64_t last_attempt, last_success; /* wall clock ms, 0 = never */
	char last_error[256];		     /* "" = none */
	uint64_t sent, failed, dropped;	     /* see export.h */
	uint64_t queued;		     /* InfluxDB: points waiting */
};

/* Wall clock, ms since the epoch (status times). */
uint64_t export_stat_wall_ms(void);
void export_stat_attempt(struct export_stat *s);
void export_stat_ok(struct export_stat *s);
void export_stat_fail(struct export_stat *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

/* The InfluxDB exporter left out (`make WITH_INFLUXDB=0`, docs/user-guide.md,
 * "Building a smaller daemon"): compiled instead of export_influx.c and
 * link_http.c (libcurl). export_config.c refuses an `influxdb` group when
 * MB_WITH_INFLUXDB is 0, so none of these is reached with an exporter; they
 * keep export.c free of #if. */
#include <stdio.h>

#include "export_influx.h"

struct export_influx *export_influx_start(uv_loop_t *loop, const struct config_export_influx *cfg,
					  char *err, size_t errlen)
{
	(void)loop, (void)cfg;
	snprintf(err, errlen, "influxdb: this modbridge was built without the InfluxDB exporter");
	return NULL;
}

void export_influx_add(struct export_influx *x, const struct device *const *devs, size_t n,
		       uint64_t now_ms)
{
	(void)x, (void)devs, (void)n, (void)now_ms;
}

const struct export_stat *export_influx_stat(const struct export_influx *x)
{
	(void)x;
	return NULL;
}

void export_influx_close(struct export_influx *x)
{
	(void)x;
}

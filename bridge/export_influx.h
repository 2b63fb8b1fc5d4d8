/* The InfluxDB exporter (bridge/export_influx.c, or export_influx_off.c
 * with `make WITH_INFLUXDB=0`): line protocol over the HTTP client link. A
 * sink: export.c decides when and what, this sends it and keeps its status.
 * Private to the exporters. */
#ifndef EXPORT_INFLUX_H
#define EXPORT_INFLUX_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "export_config.h"
#include "export_stat.h"

struct device;

struct export_influx;
struct export_influx *export_influx_start(uv_loop_t *loop, const struct config_export_influx *cfg,
					  char *err, size_t errlen);
/* One batch: for each device of devs[0..n), a point per answer time of its
 * current values (values_current), stamped with that time (values_time);
 * none for a device with nothing current. Queued and sent when the server
 * takes it. now_ms: the loop's time, as for values_each. */
void export_influx_add(struct export_influx *x, const struct device *const *devs, size_t n,
		       uint64_t now_ms);
const struct export_stat *export_influx_stat(const struct export_influx *x);
/* Cancel the request in flight, drop the queue; frees once its handles
 * are closed. */
void export_influx_close(struct export_influx *x);

#endif

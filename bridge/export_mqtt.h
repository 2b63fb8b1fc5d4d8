/* The MQTT exporter (bridge/export_mqtt.c): each device's values document
 * to <prefix>/<name> on the user's broker. A sink: export.c decides when and
 * what, this sends it and keeps its status. Private to the exporters. */
#ifndef EXPORT_MQTT_H
#define EXPORT_MQTT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "export_config.h"
#include "export_stat.h"

struct device;

struct export_mqtt;
/* on_up(ctx): the broker connection came up: publish every device. */
struct export_mqtt *export_mqtt_start(uv_loop_t *loop, const struct config_export_mqtt *cfg,
				      void (*on_up)(void *ctx), void *ctx, char *err,
				      size_t errlen);
/* Publish dev's values document to <prefix>/<name>. */
void export_mqtt_publish(struct export_mqtt *m, const struct device *dev, uint64_t now_ms);
const struct export_stat *export_mqtt_stat(const struct export_mqtt *m);
void export_mqtt_close(struct export_mqtt *m);

#endif

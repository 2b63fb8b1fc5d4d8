/* Home Assistant MQTT discovery (bridge/export_ha.c): rides the MQTT
 * exporter's link; export.c tells it the device set and the schedule's
 * moments, export_mqtt.c asks it for the last will. Private to the
 * exporters. */
#ifndef EXPORT_HA_H
#define EXPORT_HA_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "export_config.h"

struct device;

struct export_ha;
/* On the exporter's broker (cfg->mqtt, client_id: its own reference to the
 * shared link), with cfg->prefix and cfg->ha_prefix; subscribes to the
 * command topics <prefix>/+/+/set. */
struct export_ha *export_ha_start(uv_loop_t *loop, const struct config_export_mqtt *cfg,
				  const char *client_id, char *err, size_t errlen);
/* The device set (start, reload): devices that left have their discovery
 * taken back; when connected, every device is announced again. */
int export_ha_devices(struct export_ha *ha, const struct device *const *devs, size_t n,
		      uint64_t now_ms);
/* The broker connection came up: the bridge and every device. */
void export_ha_announce_all(struct export_ha *ha, uint64_t now_ms);
/* One device's discovery configs, availability and state. */
void export_ha_announce(struct export_ha *ha, const struct device *dev, uint64_t now_ms);
/* One device's state document (after a change, an interval, a write). */
void export_ha_state(struct export_ha *ha, const struct device *dev, uint64_t now_ms);
/* Every tick: availability of the devices whose health changed. */
void export_ha_tick(struct export_ha *ha);
/* Publishes "offline" on <prefix>/_bridge/availability while connected. */
void export_ha_close(struct export_ha *ha);
/* <prefix>/_bridge/availability (malloc'd): the exporter's last will
 * ("offline") when homeassistant is on, so that every entity goes
 * unavailable when the bridge dies. */
char *export_ha_will_topic(const struct config_export_mqtt *cfg);

#endif

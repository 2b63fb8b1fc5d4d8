/* What the exporters share (bridge/export.c, export_mqtt.c, export_influx.c):
 * the status every exporter keeps and the two sinks' verbs. export.c owns the
 * device set and the schedule (interval and change
 * detection); a sink only sends what it is given. */
#ifndef EXPORT_INTERNAL_H
#define EXPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "export.h"

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
uint64_t export_wall_ms(void);
void export_stat_attempt(struct export_stat *s);
void export_stat_ok(struct export_stat *s);
void export_stat_fail(struct export_stat *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- MQTT (export_mqtt.c) ------------------------------------------------ */

struct export_mqtt;
/* on_up(ctx): the broker connection came up: publish every device. */
struct export_mqtt *export_mqtt_start(uv_loop_t *loop, const struct config_export_mqtt *cfg,
				      void (*on_up)(void *ctx), void *ctx, char *err,
				      size_t errlen);
/* Publish dev's values document to <prefix>/<name>. */
void export_mqtt_publish(struct export_mqtt *m, const struct device *dev, uint64_t now_ms);
const struct export_stat *export_mqtt_stat(const struct export_mqtt *m);
void export_mqtt_close(struct export_mqtt *m);

/* --- InfluxDB (export_influx.c) ------------------------------------------ */

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

/* --- Home Assistant discovery (export_ha.c) ----------------------------- */

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

/* Values out (docs/user-guide.md, "Exporting values"): each device's decoded
 * registers (values.h) go to an MQTT broker of the user's choice (config
 * group `mqtt_export`: the same JSON document as the REST API's registers
 * endpoint, one retained message per device) and to InfluxDB 1.x or 2.x
 * (config group `influxdb`: line protocol, codec_line.h), on change and
 * every `interval`. Neither blocks the loop: MQTT goes through its own link
 * (link_mqtt.h, a connection of its own to the user's broker), InfluxDB
 * through libcurl's multi interface on the loop (link_http.h), with a
 * bounded queue of batches, timeouts and back-off (backoff.h).
 *
 * Each exporter keeps a status: ok or failing, the last attempt, the last
 * success, the last error and its counters. SIGUSR1 logs it
 * (export_log_status) and the REST API shows it (export_status_json).
 *
 * The HTTP API shows it as the "exports" member of GET /api/v1/status: the
 * daemon (bridge/main.c) owns the running `struct export *` (NULL when
 * neither group is configured; a reload may replace it, so it is read
 * through the daemon each time) and hands export_status_json() to the HTTP
 * server (http_set_exports, http.h). For NULL it writes
 * {"mqtt":null,"influxdb":null}, so the document keeps its shape. */
#ifndef EXPORT_H
#define EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

struct json;
struct device;
struct config_setting_t;

/* `mqtt_export`: the broker (the same `mqtt` keys as everywhere, TLS
 * included), the topic prefix and when to publish. */
struct config_export_mqtt {
	int enabled; /* the group is there, and `enabled` (default true) */
	struct config_mqtt mqtt;
	char *prefix;  /* topics <prefix>/<device>; default "modbridge/values" */
	int interval;  /* s between full publishes, default 60 */
	int on_change; /* also publish a device when a value changed; default 1 */
	int retain;    /* retained messages; default 1 */
	/* Home Assistant MQTT discovery (bridge/export_ha.c): off by default;
	 * discovery topics under homeassistant_prefix ("homeassistant"). */
	int homeassistant;
	char *ha_prefix;
	int line;
};

enum export_influx_version { EXPORT_INFLUX_V1 = 1, EXPORT_INFLUX_V2 = 2 };

/* `influxdb`: where (url), how (version 1: database, username, password;
 * version 2: org, bucket, token), what (measurement) and when. */
struct config_export_influx {
	int enabled;
	char *url;	/* base URL, "http://127.0.0.1:8086"; /write or /api/v2/write is added */
	int version;	/* 1 or 2, default 1 */
	char *database; /* v1 */
	char *retention_policy; /* v1, optional */
	char *username;		/* v1, optional */
	char *password;		/* v1, optional; never logged */
	char *org;		/* v2 */
	char *bucket;		/* v2 */
	char *token;		/* v2; never logged */
	char *measurement;	/* default "modbridge" */
	char *ca_file;		/* https: a CA other than the system's, optional */
	int interval;		/* s between points of every device, default 10 */
	int on_change;		/* also write a device's point when a value changed; default 0 */
	int64_t timeout;	/* ms per request, default 5000 */
	int queue;		/* batches kept while the server cannot take them, default 360 */
	int line;
};

struct config_export {
	struct config_export_mqtt mqtt;
	struct config_export_influx influx;
};

/* The config loader's handlers for the top-level `mqtt_export` and
 * `influxdb` groups (CONFIG_K_CUSTOM, target: struct config). */
int export_config_mqtt(struct config_parser *p, const struct config_setting_t *s, void *target);
int export_config_influx(struct config_parser *p, const struct config_setting_t *s, void *target);
void export_config_free(struct config_export *c);
/* The key tables of `mqtt_export` (influx 0; its `mqtt` key is the broker
 * group of config_mqtt_keys()) and `influxdb` (influx 1), for the web
 * page's settings (bridge/http_settings.c). */
const struct config_key *export_config_keys(int influx, size_t *nkeys);

struct export;

/* Start the exporters cfg configures (NULL or none enabled: *out NULL, 0).
 * cfg is copied: it may be freed afterwards, as a reload does. */
int export_start(uv_loop_t *loop, const struct config_export *cfg, struct device *const *devs,
		 size_t ndevs, struct export **out, char *err, size_t errlen);
/* SIGHUP: apply a new config to *e (started, stopped, restarted where a key
 * changed, kept otherwise) and the new device set. */
void export_reload(uv_loop_t *loop, struct export **e, const struct config_export *cfg,
		   struct device *const *devs, size_t ndevs);
/* Stop: a last publish is not attempted; frees once its handles closed. */
void export_close(struct export *e);

/* {"mqtt": {...} or null, "influxdb": {...} or null}; e may be NULL. Each
 * exporter: {"state": "ok"|"failing"|"starting", "target": "...",
 * "last_attempt": ms, "last_success": ms (wall clock, ms since the epoch,
 * 0 = never), "last_error": "..." or null, "sent": n, "failed": n,
 * "dropped": n}, and for InfluxDB "queued": n (points waiting). */
void export_status_json(const struct export *e, struct json *j);
/* One log line per exporter (SIGUSR1). */
void export_log_status(const struct export *e);

#endif

/* The `mqtt_export` and `influxdb` config groups (docs/user-guide.md,
 * "Exporting values"): their plain data and the handlers the config loader
 * parses them with (bridge/export_config.c). The running exporters are
 * export.h's; this header knows nothing of them, so that the config loader
 * (config.c) builds on it without depending on the exporters. */
#ifndef EXPORT_CONFIG_H
#define EXPORT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config_mqtt.h" /* the broker group, and keys.h */

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
 * `influxdb` groups (CONFIG_K_CUSTOM; target: the struct config_export *
 * both share, made by the first, e.g. &config->export). */
int export_config_mqtt(struct config_parser *p, const struct config_setting_t *s, void *target);
int export_config_influx(struct config_parser *p, const struct config_setting_t *s, void *target);
void export_config_free(struct config_export *c);
/* Free what one group holds (a running exporter's copy), and zero it. */
void export_config_free_mqtt(struct config_export_mqtt *m);
void export_config_free_influx(struct config_export_influx *x);
/* The key tables of `mqtt_export` (influx 0; its `mqtt` key is the broker
 * group of config_mqtt_keys()) and `influxdb` (influx 1), for the web
 * page's settings (bridge/http_settings.c). */
const struct config_key *export_config_keys(int influx, size_t *nkeys);

#endif

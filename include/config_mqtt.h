/* The mqtt group of the config (docs/user-guide.md, "Config reference"):
 * the same keys wherever a broker is named (a device's `mqtt`,
 * `status.mqtt`, `mqtt_export.mqtt`), and the value checks of what MQTT
 * carries as text. Below the config loader (config.h) and the exporters'
 * groups (export_config.h), which both build on it. */
#ifndef CONFIG_MQTT_H
#define CONFIG_MQTT_H

#include <stddef.h>

#include "keys.h" /* the key table below is written in it */

struct config_tls {
	char *ca_file, *cert_file, *key_file;
};

struct config_mqtt {
	char *host;	 /* default "127.0.0.1" */
	int port;	 /* default 1883 (8883 with tls) */
	char *username;	 /* may be NULL */
	char *password;	 /* may be NULL; never logged */
	char *client_id; /* may be NULL: the protocol picks one */
	int keepalive;	 /* s, default 60 */
	int qos;	 /* 0..2, default 0 */
	int has_tls;
	struct config_tls tls;
	int line;
};

/* The group's keys, for the CONFIG_K_GROUP entry of a table that holds one
 * (.sub = config_mqtt_table, .nsub = CONFIG_MQTT_NKEYS, .fn =
 * config_mqtt_done, after config_mqtt_group(NULL, NULL, m) put the
 * defaults in), and for comparing and freeing groups (config_mqtt_keys). */
#define CONFIG_MQTT_NKEYS 8
extern const struct config_key config_mqtt_table[CONFIG_MQTT_NKEYS];
const struct config_key *config_mqtt_keys(size_t *nkeys);
/* What is checked once the keys are in: the default port with tls, a
 * password only with a user name. 0 or MB_EPARSE. */
int config_mqtt_done(struct config_parser *p, const struct config_setting_t *s, void *target);
/* An mqtt group into m, with the defaults first; s NULL: the defaults
 * alone. 0, MB_ENOMEM or MB_EPARSE. */
int config_mqtt_group(struct config_parser *p, const struct config_setting_t *s,
		      struct config_mqtt *m);

/* Value checks the key tables of the protocols and exporters share (NULL
 * when acceptable, else what the value must be). UTF-8 as MQTT carries text
 * (libmosquitto's own rule), and a topic we publish or subscribe to
 * literally: no wildcards. */
const char *config_mqtt_check_utf8(const char *value);
const char *config_mqtt_check_topic(const char *value);

#endif

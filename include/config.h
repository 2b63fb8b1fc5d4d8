/* The config file (DESIGN.md, "Config file"): loaded with libconfig into plain
 * data that the daemon reads. Every key is checked; errors are
 * "file:line: reason". */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

struct config_tls {
	char *ca_file, *cert_file, *key_file;
};

struct config_mqtt {
	char *host;       /* default "127.0.0.1" */
	int port;         /* default 1883 (8883 with tls) */
	char *username;   /* may be NULL */
	char *password;   /* may be NULL; never logged */
	char *client_id;  /* may be NULL: the protocol picks one */
	int keepalive;    /* s, default 60 */
	int qos;          /* 0..2, default 0 */
	int has_tls;
	struct config_tls tls;
	int line;
};

enum config_proto { PROTO_NONE, PROTO_MEMORY, PROTO_POWERGO, PROTO_VENUS, PROTO_SOLARMAN };

struct config_device {
	char *name;
	int unit_id;         /* 1..247 */
	char *map;           /* map name */
	int read_only;
	/* ms; -1 = not set here (the map's defaults, then the config's apply) */
	int64_t timeout, max_age, poll, min_interval;
	enum config_proto proto; /* which protocol block the device has (PROTO_NONE: none) */
	int has_mqtt;
	struct config_mqtt mqtt;
	struct {
		char *app_id, *device_id;              /* 8 upper-case hex digits each */
		char *request_topic, *response_topic; /* NULL = <device_id> / <app_id> */
	} powergo;
	struct {
		char *type;   /* e.g. "HMG-50" */
		char *id;     /* Bluetooth MAC, 12 lower-case hex digits */
		char *prefix; /* default "hame_energy" */
	} venus;
	struct {
		char *host;
		int port;        /* default 8899 */
		uint32_t serial; /* logger serial */
		int slave;       /* RTU slave address, default 1 */
	} solarman;
	int line;
};

struct config_status {
	int enabled;
	struct config_mqtt mqtt;
	char *prefix;  /* topic prefix, default "modbridge" */
	int interval;  /* s between device documents, default 60 */
};

struct config {
	char *path;
	struct {
		char *listen;        /* default "0.0.0.0" */
		int port;            /* default 502 */
		int max_connections; /* default 64 */
		int idle_timeout;    /* s, default 120, 0 = never */
		struct cidr *allow;  /* NULL = everyone */
		size_t nallow;
	} modbus;
	char **maps_path;
	size_t nmaps_path;
	struct {
		int64_t timeout, max_age, poll, min_interval; /* ms */
	} defaults;
	char *user;          /* drop to this user after binding, or NULL */
	struct config_status status;
	struct config_device *devices;
	size_t ndevices;
};

/* Load and check FILE. On failure returns MB_E* and writes "file:line: reason". */
int config_load(const char *path, struct config **out, char *err, size_t errlen);
void config_free(struct config *c);
const char *config_proto_name(enum config_proto p);

#endif

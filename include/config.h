/* The config file (docs/design.md, "Config file"): loaded with libconfig into plain
 * data that the daemon reads. Every key is checked; errors are
 * "file:line: reason". */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "config_mqtt.h"
#include "keys.h" /* the key tables below and every protocol's are written in it */

/* `retries`: native attempts after the first, all within the client's
 * timeout. A device's own key wins, then its map's defaults, then the
 * config's defaults, then CONFIG_RETRIES_DEFAULT. */
#define CONFIG_RETRIES_MAX 10
#define CONFIG_RETRIES_DEFAULT 2

/* `passthrough_cache` (docs/user-guide.md, "Pass-through"): its default and
 * limits, in registers. */
#define CONFIG_PASS_CACHE_DEFAULT 2048
#define CONFIG_PASS_CACHE_MIN 256
#define CONFIG_PASS_CACHE_MAX 131072

struct protocol;
struct config_http;
struct config_export;

/* A device's `role` in the site (docs/user-guide.md, "The site"): what the
 * virtual `site` device (bridge/tr_site.c) adds it to. */
enum config_role {
	CONFIG_ROLE_NONE,
	CONFIG_ROLE_GRID,
	CONFIG_ROLE_LOAD,
	CONFIG_ROLE_PV,
	CONFIG_ROLE_BATTERY,
	CONFIG_ROLE_INVERTER,
	CONFIG_ROLES
};
/* "grid", "load", "pv", "battery", "inverter", "" (index role - 1). */
extern const char config_roles[][9];

struct config_device {
	char *name;
	int unit_id; /* 1..247 */
	char *map;   /* map name */
	int read_only;
	uint8_t role; /* enum config_role; CONFIG_ROLE_NONE when not set */
	/* ms; -1 = not set here (the map's defaults, then the config's apply) */
	int64_t timeout, max_age, poll, min_interval;
	/* native attempts after the first within `timeout`; -1 = not set here */
	int64_t retries;
	/* ms a client read waits for the device (include/timing.h); -1 = not set */
	int64_t client_wait;
	/* `passthrough_cache`: registers of pass-through values the device
	 * keeps (in blocks of 64); 0 = not set (CONFIG_PASS_CACHE_DEFAULT) */
	int64_t passthrough_cache;
	int has_mqtt;
	struct config_mqtt mqtt;
	/* The device's protocol block (NULL: none; the map's protocol, which
	 * must then be a virtual one, decides) and its values: the protocol's
	 * own struct, parsed with its key table (protocol.h), read by its
	 * transport. NULL for a protocol whose block takes no keys. */
	const struct protocol *proto;
	void *proto_cfg;
	/* `listener`: the name of the listener whose unit-ID space the device
	 * is in (config `listeners`), or NULL: the `server` block's (also when
	 * the file says "server" or its old name "modbus"). */
	char *listener;
	/* Index of that listener: 0 the `server` block, i + 1 listeners[i]. */
	int listener_idx;
	int line;
};

/* One entry of `listeners`: another Modbus TCP listener with its own
 * unit-ID space (docs/design.md, "Several listeners"). Access and limits
 * (`allow`, `write_allow`, `max_connections`, `idle_timeout`) are the
 * `server` block's. */
struct config_listener {
	char *name;
	char *listen; /* default "0.0.0.0" */
	int port;
	int line;
};

struct config_status {
	int enabled;
	struct config_mqtt mqtt;
	char *prefix; /* topic prefix, default "modbridge" */
	int interval; /* s between device documents, default 60 */
};

struct config {
	char *path;
	/* The `server` group (old name `modbus`): the Modbus TCP server's own
	 * listener, and the access lists and limits every listener takes. */
	struct {
		char *listen;	     /* default "0.0.0.0" */
		int port;	     /* default 502 */
		int max_connections; /* default 64 */
		int idle_timeout;    /* s, default 120, 0 = never */
		struct cidr *allow;  /* NULL = everyone */
		size_t nallow;
		/* `write_allow`: the clients whose writes (FC 06, 16) are
		 * served; the others may read and get exception 01 on a
		 * write. NULL = every client `allow` admits. */
		struct cidr *write_allow;
		size_t nwrite_allow;
		/* `default_unit`: the device that answers unit IDs 0 and 255
		 * (clients that address one device), or NULL (0A) */
		char *default_unit;
	} server;
	char **maps_path; /* a list, or one string in the file */
	size_t nmaps_path;
	struct {
		int64_t timeout, max_age, poll, min_interval; /* ms */
		int64_t retries;     /* -1 = not set (built-in default 2) */
		int64_t client_wait; /* -1 = not set (include/timing.h) */
	} defaults;
	/* The same keys as the file gives them, -1 where the `defaults` group
	 * does not (defaults above then holds the built-in value): a
	 * protocol's own default applies only where nothing was set. */
	struct {
		int64_t timeout, max_age, poll, min_interval;
	} defaults_given;
	char *user; /* drop to this user after binding, or NULL */
	/* `log_level`: 0 = not set (info, or what -v/-q say); else 1 + enum
	 * log_level: 1 error, 2 warning, 3 info, 4 debug. */
	uint8_t log_level;
	struct config_status status;
	/* `web_settings` (docs/user-guide.md, "Exporter settings on the web
	 * page"): the file the page saves the exporter groups to, read after
	 * the main file as if @included at its end (config_load), or who
	 * manages the settings instead (the page then shows them read-only). */
	struct {
		char *file;	  /* as the config gives it, or NULL */
		char *path;	  /* file, relative to the config's folder */
		char *managed_by; /* "uci" on OpenWrt's generated config, or NULL */
		int line;
		/* The exporter groups the settings file held (0 when the main
		 * file holds them, or neither does). */
		uint8_t has_mqtt, has_influx;
	} web_settings;
	struct config_http *http;     /* the `http` group (http.h); NULL: nothing listens */
	struct config_export *export; /* `mqtt_export` and `influxdb` (export.h); NULL: neither */
	struct config_device *devices;
	size_t ndevices;
	/* `listeners`: Modbus TCP listeners besides the `server` block's */
	struct config_listener *listeners;
	size_t nlisteners;
	/* What the file says in a way still read but no longer written:
	 * "file:line: warning: ..." lines, or NULL (reload_gen_warnings). */
	char *warnings;
	bool server_old_name; /* the server group is spelled `modbus` */
};

/* Load and check FILE. On failure returns MB_E* and writes "file:line: reason". */
int config_load(const char *path, struct config **out, char *err, size_t errlen);
/* The same, with the web settings file read from settings (a new version
 * being checked before it replaces web_settings.file) instead. */
int config_load_with(const char *path, const char *settings, struct config **out, char *err,
		     size_t errlen);
void config_free(struct config *c);

/* The key tables of a device (its protocol blocks included: a block is the
 * same when both devices have the same protocol and every key of its table
 * is) and of the config's `defaults` (offsets into struct config), for
 * comparing them (the reload does; a device's mqtt group is
 * config_mqtt_keys()'s, config_mqtt.h). */
const struct config_key *config_device_keys(size_t *nkeys);
const struct config_key *config_defaults_keys(size_t *nkeys);

#endif

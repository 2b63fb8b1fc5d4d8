/* The config file (docs/design.md, "Config file"): loaded with libconfig into plain
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

/* `retries`: native attempts after the first, all within the client's
 * timeout. A device's own key wins, then its map's defaults, then the
 * config's defaults, then CONFIG_RETRIES_DEFAULT. */
#define CONFIG_RETRIES_MAX 10
#define CONFIG_RETRIES_DEFAULT 2

struct protocol;

struct config_device {
	char *name;
	int unit_id; /* 1..247 */
	char *map;   /* map name */
	int read_only;
	/* ms; -1 = not set here (the map's defaults, then the config's apply) */
	int64_t timeout, max_age, poll, min_interval;
	/* native attempts after the first within `timeout`; -1 = not set here */
	int64_t retries;
	int has_mqtt;
	struct config_mqtt mqtt;
	/* The device's protocol block (NULL: none; the map's protocol, which
	 * must then be a virtual one, decides) and its values: the protocol's
	 * own struct, parsed with its key table (protocol.h), read by its
	 * transport. NULL for a protocol whose block takes no keys. */
	const struct protocol *proto;
	void *proto_cfg;
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
	struct {
		char *listen;	     /* default "0.0.0.0" */
		int port;	     /* default 502 */
		int max_connections; /* default 64 */
		int idle_timeout;    /* s, default 120, 0 = never */
		struct cidr *allow;  /* NULL = everyone */
		size_t nallow;
	} modbus;
	char **maps_path;
	size_t nmaps_path;
	struct {
		int64_t timeout, max_age, poll, min_interval; /* ms */
		int64_t retries; /* -1 = not set (built-in default 2) */
	} defaults;
	char *user; /* drop to this user after binding, or NULL */
	struct config_status status;
	struct config_device *devices;
	size_t ndevices;
};

/* Load and check FILE. On failure returns MB_E* and writes "file:line: reason". */
int config_load(const char *path, struct config **out, char *err, size_t errlen);
void config_free(struct config *c);

/* --- Checking libconfig settings: shared by the config and map loaders -----
 * A group is checked against a const table of the keys it may hold
 * (docs/design.md, "Style": tables over code): unknown keys, wrong types, ranges, choices and
 * missing required keys are all reported as "file:line: what is wrong", naming the key by its path
 * ("devices.[1].unit_id"). Values are stored at offsets into a target struct. */
struct config_setting_t; /* libconfig's */

enum config_kind {
	CONFIG_K_STRING, /* char *, strdup'd (the old value is freed) */
	CONFIG_K_INT,	 /* int; ints and 64-bit ints (123L) accepted */
	CONFIG_K_INT64,	 /* int64_t */
	CONFIG_K_UINT32, /* uint32_t */
	CONFIG_K_UINT16, /* uint16_t */
	CONFIG_K_BOOL,	 /* int, 0/1 */
	CONFIG_K_BOOL8,	 /* int8_t, 0/1 */
	CONFIG_K_FLOAT,	 /* double; integers accepted */
	CONFIG_K_CHOICE, /* uint8_t: choice_base + index of the string in choices */
	CONFIG_K_GROUP,	 /* a group checked with sub (at target + off), then fn */
	CONFIG_K_CUSTOM, /* fn(parser, setting, target) does everything */
	CONFIG_K_LATER,	 /* accepted as is; the caller reads it after the table */
};

enum config_key_flags {
	CONFIG_F_REQUIRED = 1u << 0,
	CONFIG_F_NONEMPTY = 1u << 1, /* strings */
};

struct config_parser {
	char *err;
	size_t errlen;
	const char *file; /* for settings that carry no file name */
	void *ctx;	  /* free for custom handlers */
};

struct config_key {
	const char *name;
	enum config_kind kind;
	unsigned flags;
	size_t off;		    /* where the value goes in the target */
	int64_t min, max;	    /* integer kinds; both 0 = the field type's range */
	const char *unit;	    /* for messages: "ms", "s" */
	const char *const *choices; /* CONFIG_K_CHOICE: NULL-terminated */
	int choice_base;
	/* Strings: NULL when acceptable, else what the value must be, e.g.
	 * "must be 8 upper-case hex digits". */
	const char *(*check)(const char *value);
	const struct config_key *sub; /* CONFIG_K_GROUP */
	size_t nsub;
	/* CONFIG_K_GROUP: called after sub, with target + off; CONFIG_K_CUSTOM:
	 * called instead of any checking, with target. 0 or MB_E*. */
	int (*fn)(struct config_parser *p, const struct config_setting_t *s, void *target);
	/* CONFIG_K_CUSTOM and CONFIG_K_LATER: are the values this key stored in
	 * targets a and b the same (config_keys_same)? 1 yes; 0 no, with the
	 * path of what differs, relative to the table, in which. NULL: never
	 * the same, so that a reload replaces what holds such a key rather
	 * than keep a value nobody compared. */
	int (*same)(const struct config_key *k, const void *a, const void *b, char *which,
		    size_t len);
};

typedef struct config_t config_t; /* libconfig's */
/* Read a libconfig file into lc (config_init'ed here, @include relative to
 * the file's folder). 0, or MB_ENOENT/MB_EIO/MB_EPARSE with "file: cannot
 * open: reason" or "file:line: libconfig's text" in err (lc destroyed then). */
int config_parse_file(config_t *lc, const char *path, char *err, size_t errlen);

/* Check every member of `group` against keys[0..nkeys) and store it into
 * target; then report the first required key that is missing. 0 or MB_EPARSE. */
int config_keys_parse(struct config_parser *p, const struct config_setting_t *group,
		      const struct config_key *keys, size_t nkeys, void *target);
/* Are the values that keys[0..nkeys) store in targets a and b the same?
 * Every kind is compared by what the key stores (strings by content, NULL
 * only equal to NULL; groups key by key). 1 yes; 0 no, with the path of the
 * first key that differs ("mqtt.tls.ca_file") in which. */
int config_keys_same(const struct config_key *keys, size_t nkeys, const void *a, const void *b,
		     char *which, size_t len);
/* Free what keys[0..nkeys) stored in target (strings, groups' strings); the
 * target itself is the caller's. */
void config_keys_free(const struct config_key *keys, size_t nkeys, void *target);
/* The key tables of a device (its protocol blocks included: a block is the
 * same when both devices have the same protocol and every key of its table
 * is), of its mqtt group and of the config's `defaults` (offsets into
 * struct config), for comparing them (the reload does). */
const struct config_key *config_device_keys(size_t *nkeys);
const struct config_key *config_mqtt_keys(size_t *nkeys);
const struct config_key *config_defaults_keys(size_t *nkeys);

/* Value checks the protocols' key tables share (NULL when acceptable, else
 * what the value must be). UTF-8 as MQTT carries text (libmosquitto's own
 * rule), and a topic we publish or subscribe to literally: no wildcards. */
const char *config_check_utf8(const char *value);
const char *config_check_topic(const char *value);

/* Write "file:line: <fmt...>" for setting s into p->err; returns MB_EPARSE. */
int config_error(struct config_parser *p, const struct config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The path of s as libconfig spells it, e.g. "devices.[1].mqtt.port". */
const char *config_key_path(const struct config_setting_t *s, char *buf, size_t len);
/* "an integer", "a string", ... for messages. */
const char *config_type_name(const struct config_setting_t *s);

#endif

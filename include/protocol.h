/* A native protocol as one registered unit (docs/design.md, "Adding a
 * protocol"): its name, the keys of a device's protocol block with their
 * checks, the rules its maps follow, its transport and its flags. The
 * registry (bridge/protocol.c) lists every protocol, one line each; the
 * config loader, the map loader, the device model and the daemon know
 * protocols only through it, so that a protocol's knowledge lives in its own
 * transport file (bridge/tr_<name>.c). */
#ifndef PROTOCOL_H
#define PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

struct config_key;
struct config_parser;
struct config_setting_t; /* libconfig's */
struct map;
struct map_register;
struct map_command;
struct map_lint;
struct transport_ops;

/* The most protocols the registry may hold (the config loader keeps a table
 * of the device keys with one block per protocol). */
#define PROTOCOL_MAX 16

enum protocol_flags {
	/* Its devices talk through a broker: a device needs the shared `mqtt`
	 * group (struct config_mqtt); devices of other protocols may not have
	 * one. */
	PROTOCOL_MQTT = 1u << 0,
	/* Its maps' registers may carry `native`, the device's own address. */
	PROTOCOL_NATIVE = 1u << 1,
	/* Its maps' registers are read by `key` (and `field`) from the device's
	 * answer and written by templates (`write`, `ack`, `commands`): a
	 * readable register needs a key, a writable one a template or a
	 * command, and a template is acknowledged unless `ack = false`. */
	PROTOCOL_KEYED = 1u << 2,
	/* The device is held in the daemon: a device without a protocol block
	 * runs a map of this protocol, and this protocol's block runs a map of
	 * any protocol (it simulates that device). */
	PROTOCOL_VIRTUAL = 1u << 3,
	/* Its native side carries Modbus RTU register addresses and function
	 * codes 03/04/06/16 unchanged (solarman, powergo, modbus): its maps may
	 * declare `passthrough` ranges, whose addresses the device model
	 * sends to the device as they are, and a map may name it among
	 * several protocols or as the family "rtu" (docs/design.md,
	 * "Pass-through"). Its transport must take a struct txn whose `reg`
	 * is NULL and whose native address equals its front address, and must
	 * store a read's words with device_cache_store() for exactly the txn's
	 * table, addr and count while the txn is in flight. */
	PROTOCOL_RTU = 1u << 4,
};

/* Addresses of a device that hold a secret (a password): pass-through never
 * reads or writes them, whatever map a device of the protocol runs
 * (docs/design.md, "Pass-through"); `--print-map` lists them. */
struct protocol_secret {
	int table; /* enum map_table, or -1: both tables */
	uint16_t first, last;
	const char *what; /* "Wi-Fi password" */
};

struct protocol {
	const char *name; /* as a device's block and a map's `protocol` spell it */
	const char *text; /* what it is, one line for the register reference */
	unsigned flags;	  /* enum protocol_flags */

	/* The device's protocol block: keys[0..nkeys) checked by
	 * keys_parse into a struct of cfg_size bytes that the protocol
	 * defines and its transport reads (struct config_device's proto_cfg).
	 * cfg_init (may be NULL) sets its defaults first; string fields are
	 * freed by the key table (keys_free). cfg_done (may be NULL)
	 * checks what the table cannot say, with the block's setting for
	 * "file:line" messages. Both return 0 or MB_E*. */
	const struct config_key *keys;
	size_t nkeys;
	size_t cfg_size;
	int (*cfg_init)(void *cfg);
	int (*cfg_done)(struct config_parser *p, const struct config_setting_t *block, void *cfg);
	/* Do blocks a and b name the same device, whose answers on one broker
	 * would reach only one of them, or both? May be NULL. The loader then
	 * refuses a second device of the same broker and credentials (host,
	 * port, TLS, user name, password) at its block's line. what_peer (may be NULL) describes
	 * a's peer for the message ("app_id 053461AE, device_id 15020115"); two blocks that
	 * same_peer finds alike must get the same text, because the loader sorts the devices by
	 * a hash of it and compares in full only those whose hashes are equal. */
	int (*same_peer)(const void *a, const void *b);
	void (*what_peer)(const void *a, char *buf, size_t len);

	/* The map's rules beyond the flags, each may be NULL. map_register runs
	 * for every register of a map of this protocol after the generic
	 * checks of its write template (s: the register's setting);
	 * map_command for every command before the generic check of its
	 * placeholders (s: its `template` setting). Both return 0 or MB_EPARSE
	 * with "file:line: ..." written by keys_error(). map_lint adds
	 * problems with map_lint_problem() (map.h): the linter runs it last. */
	int (*map_register)(struct config_parser *p, const struct config_setting_t *s,
			    struct map_register *r);
	int (*map_command)(struct config_parser *p, const struct config_setting_t *s,
			   const struct map_command *c);
	void (*map_lint)(struct map_lint *l, const struct map *m);

	const struct transport_ops *ops;

	/* Timing for a protocol whose answers take seconds (docs/user-guide.md,
	 * "Cache, polling and coalescing"): default_poll (ms, 0 = none) is the
	 * device's `poll` when neither the device, its map nor the config's
	 * `defaults` sets one (timing.h), so that clients read from the cache instead of
	 * waiting on the cloud. typical_rtt (ms) is what one native read
	 * usually takes; the timing check (reload_gen_warnings) counts it
	 * per read of a poll. */
	long default_poll;
	long typical_rtt;

	/* Ranges pass-through refuses (struct protocol_secret), or none. */
	const struct protocol_secret *secrets;
	size_t nsecrets;
};

/* The secret range of pr holding address of table, or NULL (pr may be NULL). */
const struct protocol_secret *protocol_secret(const struct protocol *pr, int table,
					      uint16_t address);

/* The registry, in its order (the order messages list the protocols in). */
size_t protocol_count(void);
const struct protocol *protocol_at(size_t i);
/* The protocol called name, or NULL. */
const struct protocol *protocol_find(const char *name);
/* The i-th protocol this build left out (`make WITH_MODBUS=0`), or NULL
 * past the last. */
const char *protocol_left_out(size_t i);
/* When name is a protocol this build left out: "file:line: this modbridge
 * was built without the NAME protocol (WITH_NAME=0): FIX" (keys_error,
 * MB_EPARSE); otherwise 0. */
int protocol_refuse_left_out(struct config_parser *p, const struct config_setting_t *s,
			     const char *name, const char *fix);
/* The names of the protocols that have every flag of `flags` (0: all), in
 * registry order, joined by sep and, before the last, by last ("powergo and
 * venus"; "memory, powergo, venus, solarman"). Returns buf. */
const char *protocol_names(unsigned flags, const char *sep, const char *last, char *buf,
			   size_t len);

#endif

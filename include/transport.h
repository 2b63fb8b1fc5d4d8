/* The interface a native protocol's transport implements; each protocol of
 * the registry (protocol.h) holds one. The device model owns the cache, the
 * queue, coalescing and timeouts; a transport only turns one native
 * transaction at a time into bytes on its link and reports the outcome. */
#ifndef TRANSPORT_H
#define TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "link_mqtt.h"
#include "link_tcp.h"
#include "mbdef.h"

struct device;
struct config_device;
struct map;
struct map_register;
struct map_command;

enum txn_op { TXN_READ, TXN_WRITE };

/* One native transaction. The device fills it and keeps it alive until the
 * transport calls device_txn_done() or the device calls ops->abort(). */
struct txn {
	enum txn_op op;
	uint8_t table;	       /* enum map_table */
	uint8_t fc;	       /* FC03/FC04 for reads; FC06/FC16 for writes as the client sent it */
	uint16_t addr;	       /* first front address */
	uint16_t native;       /* native address of the first word (contiguous for count words) */
	uint16_t count;	       /* words */
	const uint16_t *words; /* write: the values (count words) */
	const struct map_register *reg; /* write of one register: it (venus templates) */
	const struct map_command *cmd;	/* write of a `commands` group: it */
	void *tstate;			/* free for the transport while the txn is in flight */
	/* Which transaction and which try of it. A retry (attempt > 0) is the
	 * same struct with the same id, started again after ops->abort(): an
	 * answer to an earlier attempt of the same id answers the same
	 * question; an answer to another id must never be taken for it. */
	uint32_t id;
	uint8_t attempt;
};

enum transport_flags {
	/* The cache is the device (memory): always fresh, never refreshed. */
	TRANSPORT_CACHE_IS_STORE = 1u << 0,
	/* One read refreshes every register at once (venus cd=1): all reads
	 * coalesce into one transaction covering the whole map. */
	TRANSPORT_READ_ALL = 1u << 1,
};

struct transport_ops {
	unsigned flags;
	/* Registers per native read (PowerGo: what fits 100 bytes; Solarman 125). */
	uint16_t max_read;
	/* Create the transport for dev. May start connecting. Errors are
	 * "file:line: reason" where the config allows, MB_E* returned. */
	int (*open)(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
		    const struct map *map, void **state, char *err, size_t errlen);
	/* Start t (the only one in flight for this device): MB_EXC_NONE, or the
	 * exception to fail it with at once. Completion: device_txn_done().
	 * After abort() the device may start the same t again (a retry, with
	 * t->attempt one higher). */
	enum mb_exc (*start)(void *state, struct txn *t);
	/* The device gave up on t (timeout, shutdown): forget it; an answer
	 * that arrives later must be dropped and counted. The device model
	 * never waits after a timeout: a transport whose answers do not carry
	 * what identifies their request (PowerGo, Venus; Solarman's carry the
	 * sequence byte) keeps the requests it gave up on ("ghosts") until
	 * their answers can no longer come, and never takes a ghost's answer
	 * for another transaction's (docs/design.md, "Answers bound to their
	 * requests"). */
	void (*abort)(void *state, struct txn *t);
	/* Is the native link up (broker connected, logger socket open)? */
	bool (*link_up)(void *state);
	/* Close handles; free state once they are closed. No calls after this. */
	void (*close)(void *state);
};

/* ------------------------------------------------------------ the env -- */

/* The links a transport runs over, as tables of the functions it calls
 * (include/link_mqtt.h, include/link_tcp.h say what each does). A transport
 * calls its link only through these, so that a test can put a fake link in
 * (include/transport_test.h): one that records what is published or written
 * and hands the transport messages or bytes of its choosing. */
struct link_mqtt_ops {
	struct link_mqtt *(*get)(uv_loop_t *loop, const struct config_mqtt *cfg,
				 const char *client_id, char *err, size_t errlen);
	int (*subscribe)(struct link_mqtt *l, const char *topic, int qos, link_mqtt_msg_cb msg_cb,
			 link_mqtt_state_cb state_cb, void *ctx);
	int (*limit)(struct link_mqtt *l, void *ctx, size_t max_len, link_mqtt_msg_cb drop_cb);
	int (*publish)(struct link_mqtt *l, const char *topic, const void *payload, size_t len,
		       int qos, int retain, int *mid, link_mqtt_pub_cb pub_cb, void *ctx);
	bool (*is_up)(const struct link_mqtt *l);
	void (*release)(struct link_mqtt *l, void *ctx);
	const char *(*name)(const struct link_mqtt *l); /* for messages; may be NULL */
};

struct link_tcp_ops {
	struct link_tcp *(*open)(uv_loop_t *loop, const struct link_tcp_opts *o);
	int (*write)(struct link_tcp *l, const void *data, size_t len, enum link_tcp_full full);
	bool (*is_up)(const struct link_tcp *l);
	void (*healthy)(struct link_tcp *l);
	void (*drop)(struct link_tcp *l, const char *why);
	const char *(*peer)(const struct link_tcp *l);
	void (*close)(struct link_tcp *l, link_tcp_closed_cb closed);
};

/* What a transport tells and asks of the world around it: the device
 * model's calls for transports (include/device.h, "for transports"), the
 * loop's clock and the links. A transport takes the env at open
 * (transport_env) and calls these only through it; device_name(),
 * device_timeout() and the other getters, the map, its codec and the log
 * it calls directly. The real env calls the real functions; a test replaces
 * what it wants to watch or script (include/transport_test.h). */
struct transport_env {
	void (*txn_done)(struct device *dev, struct txn *t, enum mb_exc exc);
	void (*cache_store)(struct device *dev, int table, uint16_t addr, uint16_t count,
			    const uint16_t *words);
	void (*cache_unavailable)(struct device *dev, const struct map_register *r, int odd);
	void (*link_changed)(struct device *dev, int up);
	void (*link_changed_quiet)(struct device *dev, int up); /* not logged */
	void (*refresh_later)(struct device *dev, uint64_t delay_ms);
	void (*count_drop)(struct device *dev);
	uint64_t (*now)(const uv_loop_t *loop); /* uv_now() */
	const struct link_mqtt_ops *mqtt;
	const struct link_tcp_ops *tcp;
};

/* The env a transport takes when it opens: the real one, unless a test has
 * set another (bridge/transport.c). */
extern const struct transport_env *transport_env;

#endif

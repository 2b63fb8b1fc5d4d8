/* The Modbus TCP front end: MBAP framing over libuv, routing by unit ID,
 * exceptions as docs/user-guide.md ("Modbus exceptions") lists them. */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct server;
struct config;
struct device;

/* Route table: unit ID -> device (NULL = not configured, exception 0A). */
struct router {
	struct device *unit[256];
};

/* Counters, for status documents and SIGUSR1. */
struct server_stats {
	uint64_t accepted;	/* connections accepted (including those closed at once) */
	uint64_t not_allowed;	/* closed at accept: address not in `allow` */
	uint64_t over_limit;	/* closed at accept: max_connections reached */
	uint64_t write_refused; /* writes answered 01: client not in `write_allow` */
	uint64_t idle_closed;	/* closed after idle_timeout */
	uint64_t requests;	/* complete requests parsed */
	uint64_t garbage;	/* connections ended for bytes that are not Modbus TCP (an MBAP
				 * header that is not, or a declared length over MBAP_MAX_LENGTH) */
	uint64_t not_reading;	/* connections closed for not reading their answers */
	uint64_t exceptions;	/* answers that were Modbus exceptions */
};

/* Bind and listen as conf->modbus says. Errors "listen 0.0.0.0:502: reason".
 * The route table and the allow list are copied: conf and router may be
 * freed afterwards. A bind error leaves nothing behind. */
int server_start(uv_loop_t *loop, const struct config *conf, const struct router *router,
		 struct server **out, char *err, size_t errlen);
/* Swap the route table (SIGHUP reload); it is copied. Pending requests keep
 * their device: close an old device only after this (device_close answers
 * what still waits at it, 0B). */
void server_set_router(struct server *s, const struct router *router);
/* Take conf->server.allow and write_allow (copied): a SIGHUP reload applies
 * them, `allow` to the connections accepted from then on, `write_allow` to
 * every write from then on, open connections included. MB_ENOMEM leaves the
 * lists as they were. */
int server_set_access(struct server *s, const struct config *conf);
/* Close the listener and every connection (cancelling their pending requests);
 * frees itself once the handles are closed. */
void server_close(struct server *s);
/* The bound port (useful with port 0). */
int server_port(const struct server *s);
/* Number of open client connections. */
size_t server_connections(const struct server *s);
/* Counters since server_start. */
const struct server_stats *server_stats(const struct server *s);

/* For tests only (tests/unit/test_server_fast.c): answer every request the
 * ordinary way, without the fast path for cached reads, so that a test can
 * compare the two. The daemon never calls it (linked with --gc-sections,
 * it is not even in the binary). */
void server_test_slow_only(struct server *s, bool slow);

#endif

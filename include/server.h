/* The Modbus TCP front end: MBAP framing over libuv, routing by unit ID,
 * exceptions as DESIGN.md's table says. */
#ifndef SERVER_H
#define SERVER_H

#include <stddef.h>
#include <uv.h>

struct server;
struct config;
struct device;

/* Route table: unit ID -> device (NULL = not configured, exception 0A). */
struct router {
	struct device *unit[256];
};

/* Bind and listen as conf->modbus says. Errors "listen 0.0.0.0:502: reason". */
int server_start(uv_loop_t *loop, const struct config *conf, const struct router *router,
		 struct server **out, char *err, size_t errlen);
/* Swap the route table (SIGHUP reload); pending requests keep their device. */
void server_set_router(struct server *s, const struct router *router);
/* Close the listener and every connection (cancelling their pending requests);
 * frees itself once the handles are closed. */
void server_close(struct server *s);
/* The bound port (useful with port 0). */
int server_port(const struct server *s);
/* Number of open client connections. */
size_t server_connections(const struct server *s);

#endif

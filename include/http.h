/* The appliance's own face (docs/user-guide.md, "Web interface and REST
 * API"): libmicrohttpd on the daemon's libuv loop serves one static page at
 * `/`, the REST API under /api/v1/ and its OpenAPI document at
 * /api/v1/openapi.json, behind HTTP Digest authentication.
 *
 * libmicrohttpd runs without threads of its own (MHD_USE_EPOLL, no internal
 * polling thread): its epoll descriptor is watched with a uv_poll_t and
 * MHD_get_timeout() arms a uv_timer, so a request is handled on the loop like
 * a Modbus request, and a register write suspends its connection
 * (MHD_suspend_connection) until the device acknowledged. Without an `http`
 * group in the config nothing listens. */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http_config.h" /* the group http_start takes */

struct json;
struct reload;
struct server;

struct http;

/* Listen as cfg says (cfg is copied). set gives the running devices at each
 * request (it follows reloads); server the Modbus counters (may be NULL).
 * Errors "http: listen 0.0.0.0:8502: reason". */
int http_start(uv_loop_t *loop, const struct config_http *cfg, struct reload *set,
	       struct server *server, struct http **out, char *err, size_t errlen);
/* Answer writes still waiting with 503, stop listening, free once closed. */
void http_close(struct http *h);
/* The port it listens on (cfg->port, or the one the system chose for 0). */
int http_port(const struct http *h);
/* The copy of the group it was started with. */
const struct config_http *http_config(const struct http *h);

/* The "exports" member of GET /api/v1/status: fn writes one JSON object,
 * the exporters' status (main.c hands export_status_json() of the running
 * exporters, export.h). Without a hook (fn NULL) it is {}. One hook for the
 * daemon's life, since the server may be started again on SIGHUP. */
typedef void (*http_status_fn)(void *ctx, struct json *j);
void http_set_exports(http_status_fn fn, void *ctx);
/* A saved web settings file (POST /api/v1/settings) is applied by the
 * daemon's reload, the one SIGHUP runs: fn asks for it (main.c raises
 * SIGHUP; the reload runs on the loop after the answer went out). Without
 * a hook the file is saved and applied at the next reload. */
typedef void (*http_reload_fn)(void *ctx);
void http_set_reload(http_reload_fn fn, void *ctx);
/* The "listeners" member: fn writes one JSON array, an object for each
 * listener of the config's `listeners` with its own counters (main.c).
 * Without a hook it is []. */
void http_set_listeners(http_status_fn fn, void *ctx);

#endif

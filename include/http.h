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

struct config_parser;
struct config_setting_t;
struct json;
struct reload;
struct server;

/* A user of the web interface: the name and HA1, the digest of
 * "name:realm:password" (MD5, 16 bytes, or SHA-256, 32 bytes), never the
 * password itself. */
struct http_user {
	char *name;
	uint8_t ha1[32];
	size_t ha1_len;
};

/* The `http` group of the config. */
struct config_http {
	char *listen;		    /* default "0.0.0.0" */
	int port;		    /* default 8502 (80 is LuCI's on a router) */
	char *realm;		    /* default "modbridge"; part of every HA1 */
	uint8_t sha256;		    /* algorithm = "SHA-256" (default "MD5") */
	int read_only_without_auth; /* GETs need no credentials; writes still do */
	int max_connections;	    /* default 16 */
	int max_per_ip;		    /* connections from one address; default 8, 0: no limit */
	int64_t history_interval;   /* ms per point of the summary history; default 60000 */
	char **hosts;		    /* host names answered besides the machine's own ("*": any) */
	size_t nhosts;
	struct http_user *users;
	size_t nusers;
	int line;
	/* `tls = { cert = "..."; key = "..."; }`: HTTPS on the port instead
	 * of HTTP. The files' paths and their PEM text, read when the config
	 * is loaded (at start and on each reload); NULL without tls. */
	char *tls_cert, *tls_key;
	char *tls_cert_pem, *tls_key_pem;
};

/* CONFIG_K_CUSTOM handler of the config's top-level `http` key: target is a
 * struct config; stores a new struct config_http into its `http`. Errors
 * "file:line: what is wrong". */
int http_config_parse(struct config_parser *p, const struct config_setting_t *s, void *target);
void http_config_free(struct config_http *c);
/* The tls members of c: copied from src into dst (dst's own copies, which
 * the caller frees with http_config_free_tls; MB_ENOMEM when one failed),
 * freed (the key's text wiped first). */
int http_config_copy_tls(struct config_http *dst, const struct config_http *src);
void http_config_free_tls(struct config_http *c);
/* Are two http groups the same (a reload keeps the listener then)? */
bool http_config_same(const struct config_http *a, const struct config_http *b);

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
/* Called by the settings endpoint (http_settings.c). */
void http_request_reload(void);
/* The "listeners" member: fn writes one JSON array, an object for each
 * listener of the config's `listeners` with its own counters (main.c).
 * Without a hook it is []. */
void http_set_listeners(http_status_fn fn, void *ctx);

#endif

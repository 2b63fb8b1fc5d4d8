/* The config's `http` group (docs/user-guide.md, "Web interface and REST
 * API"): its plain data and the handler the config loader parses it with
 * (bridge/http_config.c, or bridge/http_off.c without the web interface).
 * The server that runs it is http.h's; this header knows nothing of it, so
 * that the config loader (config.c) builds on it without depending on the
 * web interface. */
#ifndef HTTP_CONFIG_H
#define HTTP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_parser;
struct config_setting_t;

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

/* CONFIG_K_CUSTOM handler of the config's top-level `http` key: target is
 * the struct config_http * to fill (&config->http); a new one replaces what
 * it held. Errors "file:line: what is wrong". */
int http_config_parse(struct config_parser *p, const struct config_setting_t *s, void *target);
void http_config_free(struct config_http *c);
/* The tls members of c: copied from src into dst (dst's own copies, which
 * the caller frees with http_config_free_tls; MB_ENOMEM when one failed),
 * freed (the key's text wiped first). */
int http_config_copy_tls(struct config_http *dst, const struct config_http *src);
void http_config_free_tls(struct config_http *c);
/* Are two http groups the same (a reload keeps the listener then)? */
bool http_config_same(const struct config_http *a, const struct config_http *b);

#endif

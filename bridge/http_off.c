/* The web interface and REST API left out (`make WITH_HTTP=0`,
 * docs/user-guide.md, "Building a smaller daemon"): compiled instead of
 * http.c, http_api.c and http_config.c, so that main.c and config.c need no
 * #if. A config with an `http` group is refused by name; nothing else here
 * runs, since no group means no server. */
#include "http.h"

#include <stdio.h>

#include "keys.h"
#include "mb_error.h"

int http_config_parse(struct config_parser *p, const struct config_setting_t *s, void *target)
{
	(void)target;
	return keys_error(p, s,
			  "this modbridge was built without the web interface (WITH_HTTP=0): "
			  "remove the http group");
}

void http_config_free(struct config_http *c)
{
	(void)c; /* never made: http_config_parse refuses the group */
}

bool http_config_same(const struct config_http *a, const struct config_http *b)
{
	return a == b;
}

int http_start(uv_loop_t *loop, const struct config_http *cfg, struct reload *set,
	       struct server *server, struct http **out, char *err, size_t errlen)
{
	(void)loop, (void)cfg, (void)set, (void)server;
	*out = NULL;
	snprintf(err, errlen, "http: this modbridge was built without the web interface");
	return MB_EINVAL;
}

void http_close(struct http *h)
{
	(void)h;
}

int http_port(const struct http *h)
{
	(void)h;
	return 0;
}

const struct config_http *http_config(const struct http *h)
{
	(void)h;
	return NULL;
}

void http_set_exports(http_status_fn fn, void *ctx)
{
	(void)fn, (void)ctx;
}

void http_set_reload(http_reload_fn fn, void *ctx)
{
	(void)fn, (void)ctx;
}

void http_set_listeners(http_status_fn fn, void *ctx)
{
	(void)fn, (void)ctx;
}

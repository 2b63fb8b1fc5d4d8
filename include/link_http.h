/* HTTP client requests on the libuv loop: libcurl's multi interface driven
 * by the loop (docs/design.md, "Architecture": nothing blocks). libcurl
 * tells which sockets to watch (CURLMOPT_SOCKETFUNCTION: a uv_poll_t each)
 * and when to call it back (CURLMOPT_TIMERFUNCTION: one uv_timer_t); the
 * loop reports readiness with curl_multi_socket_action(). Name resolution
 * is libcurl's own asynchronous resolver. Used by the InfluxDB exporter
 * (bridge/export_influx.c). */
#ifndef LINK_HTTP_H
#define LINK_HTTP_H

#include <stddef.h>
#include <uv.h>

struct link_http;
struct link_http_req;

struct link_http_post {
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const char *username;	    /* HTTP basic authentication, or NULL */
	const char *password;
	const char *ca_file; /* a CA bundle for https, or NULL for the system's */
	const void *body;    /* the caller keeps it until the answer came */
	size_t len;
	long timeout_ms; /* whole request, connect included */
};

/* How a request ended. status: the HTTP status (0 when no answer came);
 * error: libcurl's message when no answer came, else NULL; body: the first
 * LINK_HTTP_BODY_MAX bytes of the answer, NUL-terminated. */
struct link_http_result {
	long status;
	const char *error;
	const char *body;
	size_t body_len;
};
#define LINK_HTTP_BODY_MAX 1024

typedef void (*link_http_cb)(void *ctx, const struct link_http_result *r);

/* A client on loop; NULL when libcurl cannot be set up. */
struct link_http *link_http_new(uv_loop_t *loop);
/* POST: cb is called once, from the loop, unless the client is closed
 * first. 0, MB_ENOMEM or MB_EINVAL (libcurl refused an option). */
int link_http_post_start(struct link_http *c, const struct link_http_post *p, link_http_cb cb,
			 void *ctx, struct link_http_req **out);
/* Cancel every request and free the client once its handles closed. */
void link_http_close(struct link_http *c);

#endif

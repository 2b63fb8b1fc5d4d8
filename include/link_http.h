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

struct httpc;
struct httpc_req;

struct httpc_post {
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
 * HTTPC_BODY_MAX bytes of the answer, NUL-terminated. */
struct httpc_result {
	long status;
	const char *error;
	const char *body;
	size_t body_len;
};
#define HTTPC_BODY_MAX 1024

typedef void (*httpc_cb)(void *ctx, const struct httpc_result *r);

/* A client on loop; NULL when libcurl cannot be set up. */
struct httpc *httpc_new(uv_loop_t *loop);
/* POST: cb is called once, from the loop, unless the request is cancelled
 * first. 0, MB_ENOMEM or MB_EINVAL (libcurl refused an option). */
int httpc_post_start(struct httpc *c, const struct httpc_post *p, httpc_cb cb, void *ctx,
		     struct httpc_req **out);
/* Abandon a request: its callback will not be called. */
void httpc_cancel(struct httpc_req *r);
/* Cancel every request and free the client once its handles closed. */
void httpc_close(struct httpc *c);

#endif

/* What lies below http.c (the server: libmicrohttpd on the loop,
 * authentication, routing), http_api.c (the REST documents, the register
 * write and the table of routes) and http_settings.c (the exporter
 * settings): the types they share, an answer's helpers (http_answer.c) and
 * the embedded files. Nothing of the
 * three is declared here: http.c reaches the others through the route table
 * (http_api.h), and they reach the daemon through the view it hands them.
 * Private to the web interface. */
#ifndef HTTP_INTERNAL_H
#define HTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mbdef.h"

struct device;
struct device_req;
struct reload;
struct server;

struct http_stats {
	uint64_t requests;	/* HTTP requests answered */
	uint64_t auth_failures; /* answered 401 */
	uint64_t writes;	/* register writes sent to a device */
	uint64_t too_large;	/* bodies refused with 413 before they were read */
	uint64_t slow_dropped;	/* connections dropped: no head or whole request within its deadline */
	uint64_t connections;	/* open now */
};

/* An answer: HTTP status and a JSON body (malloc'd; NULL when out of memory,
 * then 500 goes out). */
struct http_answer {
	unsigned status;
	char *body;
	size_t len;
};

struct json;

/* The daemon state the documents read. */
struct http_view {
	struct reload *set;
	struct server *server;
	const struct http_stats *stats;
	uint64_t started_ms; /* uv_now() when the server started */
	uint64_t now_ms;     /* uv_now() now */
	const struct history *history; /* the summary registers' history */
	/* The daemon's hooks (http.h: http_set_exports, http_set_listeners,
	 * http_set_reload), handed down by the server; NULL when not set. */
	void (*exports)(void *ctx, struct json *j);
	void *exports_ctx;
	void (*listeners)(void *ctx, struct json *j);
	void *listeners_ctx;
	void (*reload)(void *ctx);
	void *reload_ctx;
};

/* {"error": text} with status (http_answer.c). */
void http_answer_error(struct http_answer *a, unsigned status, const char *text);
/* The JSON document j as the answer, with status. */
void http_answer_take(struct json *j, struct http_answer *a, unsigned status);
/* A request body: one strict JSON value (RFC 8259, json_check.h, then
 * json-c), or NULL with a 400 in a (shape: what the body must be, for an
 * empty or unreadable one). */
struct json_object;
struct json_object *http_answer_parse_body(const char *body, size_t len, const char *shape,
					   struct http_answer *a);

/* A register write answered later (http_api.c): cb(ctx, a) once. */
struct http_write;
typedef void (*http_write_cb)(void *ctx, struct http_answer *a);

/* A route of the REST API: the target under /api/v1/, split at '/', as at
 * most four parts ("*" matches any one part: a name; NULL after the last),
 * and what answers it. p: the target's parts (p[1] a device's name, p[3] a
 * register's). A GET (or HEAD) goes to get, a POST (or PUT) to post, or to
 * write, which may answer later (returns 1: cb(ctx, a) comes once, unless
 * http_api_write_cancel(*req) comes first; 0: *a filled now). A route whose
 * target matched but that serves neither method answers 405 with refuse,
 * when it has one. The table is http_api.c's (http_api.h). */
struct http_route {
	char part[4][10]; /* "" after the last (not pointers: no relocations) */
	void (*get)(const struct http_view *v, char *const *p, struct http_answer *a);
	void (*post)(const struct http_view *v, char *const *p, const char *body, size_t len,
		     struct http_answer *a);
	int (*write)(const struct http_view *v, char *const *p, const char *body, size_t len,
		     http_write_cb cb, void *ctx, struct http_write **req, struct http_answer *a);
	const char *refuse;
};

/* The static files, embedded at build time gzip-compressed (Makefile,
 * web/embed.sh): the compressed bytes, their length and the file's own. */
extern const unsigned char http_asset_index_html_gz[];
extern const size_t http_asset_index_html_gz_len, http_asset_index_html_len;
extern const unsigned char http_asset_api_html_gz[];
extern const size_t http_asset_api_html_gz_len, http_asset_api_html_len;
extern const unsigned char http_asset_openapi_json_gz[];
extern const size_t http_asset_openapi_json_gz_len, http_asset_openapi_json_len;

/* Sending them (http_asset.c). Does a request's Accept-Encoding (NULL:
 * none sent) take gzip? Yes when it names gzip or x-gzip, or *, with a
 * q-value above 0 (RFC 9110, 12.5.3); no without the header (curl without
 * --compressed sends none and would print the compressed bytes). */
int http_accepts_gzip(const char *accept_encoding);
/* Inflates the gzip member gz (gzlen bytes) into out, which holds exactly
 * len bytes: 0; -1 with why in err when the data is not len bytes of valid
 * gzip; -2 when zlib cannot be loaded. Pure but for loading zlib
 * (include/dl_zlib.h). */
int http_gunzip(const unsigned char *gz, size_t gzlen, unsigned char *out, size_t len,
		char *err, size_t errlen);
/* The embedded document gz inflated (len bytes) into *out: made once, then
 * the same bytes for every later call, kept until the process ends. 0, or
 * http_gunzip's -1 or -2 (or -1 out of memory) with why in err. */
int http_asset_plain(const unsigned char *gz, size_t gzlen, size_t len,
		     const unsigned char **out, char *err, size_t errlen);

#endif

/* What http.c (the server: libmicrohttpd on the loop, authentication,
 * routing) and http_api.c (the REST documents and the register write) share.
 * Private to the two. */
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
	uint64_t slow_dropped;	/* connections dropped: no whole request within the deadline */
	uint64_t connections;	/* open now */
	uint64_t challenges_held; /* challenges delayed so that no two share a nonce */
};

/* An answer: HTTP status and a JSON body (malloc'd; NULL when out of memory,
 * then 500 goes out). */
struct http_answer {
	unsigned status;
	char *body;
	size_t len;
};

/* The daemon state the documents read. */
struct http_view {
	struct reload *set;
	struct server *server;
	const struct http_stats *stats;
	uint64_t started_ms; /* uv_now() when the server started */
	uint64_t now_ms;     /* uv_now() now */
};

void http_api_status(const struct http_view *v, struct http_answer *a);
void http_api_devices(const struct http_view *v, struct http_answer *a);
void http_api_device(const struct http_view *v, const char *name, struct http_answer *a);
void http_api_registers(const struct http_view *v, const char *name, struct http_answer *a);
/* One register by name (or the address of its first word): the element of
 * the registers document that describes it; 404 when there is none. */
void http_api_register(const struct http_view *v, const char *name, const char *reg,
		       struct http_answer *a);
void http_api_map(const struct http_view *v, const char *name, struct http_answer *a);
/* {"error": text} with status. */
void http_api_error(struct http_answer *a, unsigned status, const char *text);

/* A register write (POST /api/v1/devices/{name}/registers/{reg}, body
 * {"value": x} or {"raw": n}): checked and handed to the device model.
 * Answered now (returns 0, *a filled), or later (returns 1: cb(ctx, a) is
 * called once, unless http_api_write_cancel(*req) comes first). */
struct http_write;
typedef void (*http_write_cb)(void *ctx, struct http_answer *a);
int http_api_write(const struct http_view *v, const char *dev, const char *reg, const char *body,
		   size_t len, http_write_cb cb, void *ctx, struct http_write **req,
		   struct http_answer *a);
void http_api_write_cancel(struct http_write *w);

/* The static files, embedded at build time (Makefile, web/). */
extern const unsigned char http_asset_index_html[];
extern const size_t http_asset_index_html_len;
extern const unsigned char http_asset_openapi_json[];
extern const size_t http_asset_openapi_json_len;

/* The exporters' status for GET /api/v1/status (http_set_exports). */
struct json;
void http_status_sections(struct json *j);

#endif

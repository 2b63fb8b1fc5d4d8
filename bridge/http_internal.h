/* What http.c (the server: libmicrohttpd on the loop, authentication,
 * routing), http_api.c (the REST documents and the register write) and
 * http_settings.c (the exporter settings) share. Private to them. */
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

/* The daemon state the documents read. */
struct http_view {
	struct reload *set;
	struct server *server;
	const struct http_stats *stats;
	uint64_t started_ms; /* uv_now() when the server started */
	uint64_t now_ms;     /* uv_now() now */
	const struct history *history; /* the summary registers' history */
};

void http_api_status(const struct http_view *v, struct http_answer *a);
void http_api_devices(const struct http_view *v, struct http_answer *a);
void http_api_device(const struct http_view *v, const char *name, struct http_answer *a);
void http_api_registers(const struct http_view *v, const char *name, struct http_answer *a);
void http_api_history(const struct http_view *v, const char *name, struct http_answer *a);
/* One register by name (or the address of its first word): the element of
 * the registers document that describes it; 404 when there is none. */
void http_api_register(const struct http_view *v, const char *name, const char *reg,
		       struct http_answer *a);
void http_api_map(const struct http_view *v, const char *name, struct http_answer *a);
/* {"error": text} with status. */
void http_api_error(struct http_answer *a, unsigned status, const char *text);
/* A request body: one strict JSON value (RFC 8259, json_check.h, then
 * json-c), or NULL with a 400 in a (shape: what the body must be, for an
 * empty or unreadable one). */
struct json_object;
struct json_object *http_api_parse_body(const char *body, size_t len, const char *shape,
					struct http_answer *a);

/* The exporter settings of the web page (http_settings.c): GET and POST
 * /api/v1/settings. */
void http_settings_get(const struct http_view *v, struct http_answer *a);
void http_settings_post(const struct http_view *v, const char *body, size_t len,
			struct http_answer *a);

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
extern const unsigned char http_asset_api_html[];
extern const size_t http_asset_api_html_len;
extern const unsigned char http_asset_openapi_json[];
extern const size_t http_asset_openapi_json_len;

/* HTTP Digest (http_digest.c): MD5 or SHA-256, streamed. */
struct http_hash {
	int sha256;
	uint32_t st[8];
	uint8_t buf[64];
	size_t fill;
	uint64_t total;
};
void http_digest_hash_init(struct http_hash *h, int sha256);
void http_digest_hash_update(struct http_hash *h, const void *data, size_t n);
/* The digest into out; its length (16 or 32). */
size_t http_digest_hash_final(struct http_hash *h, uint8_t out[32]);
/* n bytes as 2n lower-case hex digits and a NUL. */
void http_digest_hex(const uint8_t *in, size_t n, char *out);

/* The parameters of an Authorization: Digest header that matter. */
enum {
	HTTP_DA_USERNAME,
	HTTP_DA_REALM,
	HTTP_DA_NONCE,
	HTTP_DA_URI,
	HTTP_DA_RESPONSE,
	HTTP_DA_QOP,
	HTTP_DA_NC,
	HTTP_DA_CNONCE,
	HTTP_DA_ALGORITHM, /* may be absent (then MD5) */
	HTTP_DA_OPAQUE,	   /* may be absent */
	HTTP_DA_N
};
struct http_digest_auth {
	const char *v[HTTP_DA_N]; /* unquoted, in the caller's buffer; NULL: absent */
};
/* Parse hdr ("Digest username=..., ...") into a, the values copied into buf
 * (unquoted). -1 when it is not a Digest header, is malformed, names a
 * parameter twice, lacks one of those required with qop=auth, uses
 * username* or userhash, or does not fit buf. */
int http_digest_parse(const char *hdr, char *buf, size_t buflen, struct http_digest_auth *a);
/* Is a's response the one a client knowing ha1 computes for method (RFC
 * 7616 with qop=auth: H(ha1:nonce:nc:cnonce:qop:H(method:uri)))? Compared
 * in constant time. */
int http_digest_check(int sha256, const uint8_t *ha1, size_t ha1_len, const char *method,
		      const struct http_digest_auth *a);

/* The exporters' status for GET /api/v1/status (http_set_exports), and
 * the listeners' (http_set_listeners). */
struct json;
void http_status_sections(struct json *j);
void http_status_listeners(struct json *j);

#endif

/* HTTP Digest authentication's parts (bridge/http_digest.c): the hashes,
 * the Authorization header's parser and the check of a response. Pure
 * functions, below the server (http.c), which keeps the nonces (docs/design.md,
 * "Web interface security"). Private to the web interface. */
#ifndef HTTP_DIGEST_H
#define HTTP_DIGEST_H

#include <stddef.h>
#include <stdint.h>

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

#endif

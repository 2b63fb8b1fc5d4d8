/* HTTP Digest for the web interface (http_digest.h): the two hashes RFC
 * 7616 names (MD5, RFC 1321; SHA-256, FIPS 180-4), the Authorization
 * header's parser and the response a client must have computed. Pure
 * functions: the nonces and their counts are http.c's.
 *
 * Why not libmicrohttpd's Digest: 0.9.75 makes a nonce of the URL and the
 * second alone, resets a nonce's count at each challenge and so accepts a
 * captured answer again (docs/design.md, "Web interface security"). The hashes
 * are written here because libmicrohttpd exports none, and the one crypto
 * library the daemon may link (libcrypto, for B2500 topic IDs) is optional
 * and left out of the OpenWrt package (WITH_CRYPTO=0), where the web
 * interface must still log users in. */
#include <string.h>
#include <strings.h>

#include "http_digest.h"

/* ---------------------------------------------------------------- MD5 -- */

static uint32_t http__rol(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static uint32_t http__ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void http__md5_block(uint32_t st[4], const uint8_t *p)
{
	static const uint32_t k[64] = {
	    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
	    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
	    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
	    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
	    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
	    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
	    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
	    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
	    0xeb86d391};
	static const uint8_t r[16] = {7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21};
	uint32_t w[16], a = st[0], b = st[1], c = st[2], d = st[3];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
		       (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
	for (unsigned i = 0; i < 64; i++) {
		uint32_t f;
		unsigned g, round = i / 16;
		if (round == 0) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (round == 1) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		} else if (round == 2) {
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		uint32_t t = d;
		d = c;
		c = b;
		b = b + http__rol(a + f + k[i] + w[g], r[round * 4 + i % 4]);
		a = t;
	}
	st[0] += a;
	st[1] += b;
	st[2] += c;
	st[3] += d;
}

/* ------------------------------------------------------------ SHA-256 -- */

static void http__sha256_block(uint32_t st[8], const uint8_t *p)
{
	static const uint32_t k[64] = {
	    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	    0xc67178f2};
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = http__ror(w[i - 15], 7) ^ http__ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = http__ror(w[i - 2], 17) ^ http__ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, st, sizeof v);
	for (int i = 0; i < 64; i++) {
		uint32_t s1 = http__ror(v[4], 6) ^ http__ror(v[4], 11) ^ http__ror(v[4], 25);
		uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
		uint32_t t1 = v[7] + s1 + ch + k[i] + w[i];
		uint32_t s0 = http__ror(v[0], 2) ^ http__ror(v[0], 13) ^ http__ror(v[0], 22);
		uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
		uint32_t t2 = s0 + maj;
		v[7] = v[6];
		v[6] = v[5];
		v[5] = v[4];
		v[4] = v[3] + t1;
		v[3] = v[2];
		v[2] = v[1];
		v[1] = v[0];
		v[0] = t1 + t2;
	}
	for (int i = 0; i < 8; i++)
		st[i] += v[i];
}

/* ---------------------------------------------------- either, streamed -- */

void http_digest_hash_init(struct http_hash *h, int sha256)
{
	static const uint32_t md5_iv[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
	static const uint32_t sha_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memset(h, 0, sizeof *h);
	h->sha256 = sha256;
	if (sha256)
		memcpy(h->st, sha_iv, sizeof sha_iv);
	else
		memcpy(h->st, md5_iv, sizeof md5_iv);
}

static void http__hash_block(struct http_hash *h, const uint8_t *p)
{
	if (h->sha256)
		http__sha256_block(h->st, p);
	else
		http__md5_block(h->st, p);
}

void http_digest_hash_update(struct http_hash *h, const void *data, size_t n)
{
	const uint8_t *p = data;
	h->total += n;
	while (n) {
		size_t take = 64 - h->fill < n ? 64 - h->fill : n;
		memcpy(h->buf + h->fill, p, take);
		h->fill += take;
		p += take;
		n -= take;
		if (h->fill == 64) {
			http__hash_block(h, h->buf);
			h->fill = 0;
		}
	}
}

size_t http_digest_hash_final(struct http_hash *h, uint8_t out[32])
{
	uint64_t bits = h->total * 8;
	uint8_t pad = 0x80, zero = 0, len[8];

	/* The length is added after the padding, so total is frozen first. */
	http_digest_hash_update(h, &pad, 1);
	while (h->fill != 56)
		http_digest_hash_update(h, &zero, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(h->sha256 ? bits >> (56 - 8 * i) : bits >> (8 * i));
	http_digest_hash_update(h, len, 8);
	if (h->sha256) {
		for (int i = 0; i < 8; i++)
			for (int b = 0; b < 4; b++)
				out[4 * i + b] = (uint8_t)(h->st[i] >> (24 - 8 * b));
		return 32;
	}
	for (int i = 0; i < 4; i++)
		for (int b = 0; b < 4; b++)
			out[4 * i + b] = (uint8_t)(h->st[i] >> (8 * b));
	return 16;
}

void http_digest_hex(const uint8_t *in, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ------------------------------------------------- the Authorization -- */

static int http__tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int http__ieq(const char *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return 1;
}

int http_digest_parse(const char *hdr, char *buf, size_t buflen, struct http_digest_auth *a)
{
	static const char names[HTTP_DA_N][10] = {"username",  "realm", "nonce", "uri",
						  "response",  "qop",	"nc",	 "cnonce",
						  "algorithm", "opaque"};
	const char *p = hdr;
	size_t used = 0;

	memset(a, 0, sizeof *a);
	if (!hdr || strncasecmp(p, "Digest", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
		return -1;
	p += 6;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *name = p;
		while (http__tchar((unsigned char)*p))
			p++;
		size_t nlen = (size_t)(p - name);
		while (*p == ' ' || *p == '\t')
			p++;
		if (!nlen || *p++ != '=')
			return -1;
		while (*p == ' ' || *p == '\t')
			p++;
		/* The value, unquoted, into buf. */
		char *v = buf + used;
		size_t vlen = 0;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (!*p)
					return -1;
				if (*p == '\\' && p[1])
					p++;
				if ((unsigned char)*p < 0x20 && *p != '\t')
					return -1;
				if (used + vlen + 1 >= buflen)
					return -1;
				v[vlen++] = *p;
			}
			p++;
		} else {
			while (http__tchar((unsigned char)*p)) {
				if (used + vlen + 1 >= buflen)
					return -1;
				v[vlen++] = *p++;
			}
			if (!vlen)
				return -1;
		}
		v[vlen] = '\0';
		used += vlen + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != ',')
			return -1;
		/* username* (RFC 7616's encoded name) and userhash are not
		 * offered: a client sending them gets no match. */
		if (http__ieq(name, nlen, "username*") ||
		    (http__ieq(name, nlen, "userhash") && !http__ieq(v, vlen, "false")))
			return -1;
		for (int i = 0; i < HTTP_DA_N; i++)
			if (http__ieq(name, nlen, names[i])) {
				if (a->v[i])
					return -1; /* twice */
				a->v[i] = v;
			}
	}
	for (int i = 0; i < HTTP_DA_N; i++)
		if (!a->v[i] && i != HTTP_DA_ALGORITHM && i != HTTP_DA_OPAQUE)
			return -1;
	return 0;
}

/* H(s) in hex into out. */
static void http__hhex(int sha256, const char *const *parts, size_t n, char *out)
{
	struct http_hash h;
	uint8_t d[32];
	http_digest_hash_init(&h, sha256);
	for (size_t i = 0; i < n; i++) {
		if (i)
			http_digest_hash_update(&h, ":", 1);
		http_digest_hash_update(&h, parts[i], strlen(parts[i]));
	}
	http_digest_hex(d, http_digest_hash_final(&h, d), out);
}

int http_digest_check(int sha256, const uint8_t *ha1, size_t ha1_len, const char *method,
		      const struct http_digest_auth *a)
{
	char ha1hex[65], ha2[65], want[65];
	const char *p2[] = {method, a->v[HTTP_DA_URI]};

	http_digest_hex(ha1, ha1_len, ha1hex);
	http__hhex(sha256, p2, 2, ha2);
	const char *p[] = {
	    ha1hex, a->v[HTTP_DA_NONCE], a->v[HTTP_DA_NC], a->v[HTTP_DA_CNONCE], a->v[HTTP_DA_QOP],
	    ha2};
	http__hhex(sha256, p, 6, want);
	/* In constant time, and hex in either case. */
	const char *got = a->v[HTTP_DA_RESPONSE];
	size_t n = strlen(want);
	unsigned diff = strlen(got) != n;
	for (size_t i = 0; i < n; i++) {
		unsigned c = (unsigned char)got[i];
		if (!c)
			break;
		if (c >= 'A' && c <= 'F')
			c += 'a' - 'A';
		diff |= c ^ (unsigned char)want[i];
	}
	return diff == 0;
}

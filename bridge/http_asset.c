/* The web page and the OpenAPI document as bridge/http.c sends them
 * (include/http.h): which encoding a client takes, and inflating the
 * embedded gzip for one that takes none.
 *
 * The daemon holds them gzip-compressed (bridge/web/embed.sh): 22 KiB
 * instead of 77 of a binary meant for routers (docs/footprint.md). Every
 * browser asks with Accept-Encoding: gzip and gets those bytes as they are;
 * curl without --compressed, busybox wget or a script's HTTP library may
 * not, and gets the document inflated, so that it is readable everywhere:
 * inflated once and kept, so that it is held once however many such
 * clients are served. zlib is opened for that the first time it is needed
 * (include/dl_zlib.h): a daemon whose page only browsers read never maps
 * it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dl_zlib.h"
#include "http_internal.h"

static int http__ows(int c)
{
	return c == ' ' || c == '\t';
}

/* A qvalue (RFC 9110, 12.4.2: "0" ["." 0*3DIGIT] or "1" ["." 0*3"0"]),
 * len bytes at v: is it above 0? Anything else is taken as 0, so that a
 * header we cannot read gets the document uncompressed, which every
 * client reads. */
static int http__q_positive(const char *v, size_t len)
{
	size_t i;
	if (len == 0 || (v[0] != '0' && v[0] != '1'))
		return 0;
	if (len > 1 && (v[1] != '.' || len > 5))
		return 0;
	for (i = 2; i < len; i++)
		if (v[i] < '0' || v[i] > '9' || (v[0] == '1' && v[i] != '0'))
			return 0;
	if (v[0] == '1')
		return 1;
	for (i = 2; i < len; i++)
		if (v[i] != '0')
			return 1;
	return 0;
}

/* [*b, *e) without the optional white space around it. */
static void http__trim(const char **b, const char **e)
{
	while (*b < *e && http__ows(**b))
		(*b)++;
	while (*e > *b && http__ows((*e)[-1]))
		(*e)--;
}

/* The q-value of one element's parameters, [p, end) (each ";name=value"):
 * 1 when there is none. */
static int http__element_q(const char *p, const char *end)
{
	int q = 1;
	while (p < end) {
		const char *b = p + 1, *e = memchr(b, ';', (size_t)(end - b)), *eq;
		e = e ? e : end;
		p = e;
		http__trim(&b, &e);
		eq = memchr(b, '=', (size_t)(e - b));
		if (!eq)
			continue;
		const char *n = b, *ne = eq, *v = eq + 1, *ve = e;
		http__trim(&n, &ne);
		http__trim(&v, &ve);
		if (ne - n == 1 && (*n == 'q' || *n == 'Q'))
			q = http__q_positive(v, (size_t)(ve - v));
	}
	return q;
}

int http_accepts_gzip(const char *ae)
{
	/* -1: not named; else whether its q-value is above 0. */
	int gzip = -1, any = -1;

	if (!ae)
		return 0;
	for (const char *p = ae; *p;) {
		/* One element: a coding, then its parameters. */
		const char *b = p, *end = p + strcspn(p, ","), *e;
		p = *end ? end + 1 : end;
		e = memchr(b, ';', (size_t)(end - b));
		e = e ? e : end;
		int q = http__element_q(e, end);
		http__trim(&b, &e);
		size_t n = (size_t)(e - b);
		if ((n == 4 && strncasecmp(b, "gzip", 4) == 0) ||
		    (n == 6 && strncasecmp(b, "x-gzip", 6) == 0))
			gzip = gzip == 1 ? 1 : q;
		else if (n == 1 && *b == '*')
			any = any == 1 ? 1 : q;
	}
	return gzip >= 0 ? gzip : any == 1;
}

int http_gunzip(const unsigned char *gz, size_t gzlen, unsigned char *out, size_t len, char *err,
		size_t errlen)
{
	z_stream z;
	int rc;

	if (dl_zlib_load("http", err, errlen) != 0) {
		/* dl_load's advice to remove the group does not apply: the
		 * page is still served to clients that take gzip. */
		char *cut = strstr(err, ", or remove the group");
		if (cut)
			*cut = '\0';
		return -2;
	}
	memset(&z, 0, sizeof z);
	/* 16 + MAX_WBITS: a gzip member (header, deflate data, CRC-32 and
	 * length, both checked), not a zlib stream. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		snprintf(err, errlen, "http: zlib cannot start inflating (out of memory?)");
		return -1;
	}
	z.next_in = gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = out;
	z.avail_out = (uInt)len;
	rc = inflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END || z.avail_out != 0 || z.avail_in != 0) {
		snprintf(err, errlen,
			 "http: an embedded document does not inflate to its %zu bytes "
			 "(zlib: %d, %s)",
			 len, rc, z.msg ? z.msg : "no message");
		inflateEnd(&z);
		return -1;
	}
	inflateEnd(&z);
	return 0;
}

/* The documents inflated so far, each made the first time a client that
 * takes no gzip asks for it and kept: at most the three files (77 KiB),
 * however many such clients are served at once, rather than a copy per
 * answer in flight. Kept until the process ends (answers being sent may
 * point into them, from any listener a reload left running). */
static struct {
	const unsigned char *gz;
	unsigned char *data;
} http__plain[4];

int http_asset_plain(const unsigned char *gz, size_t gzlen, size_t len, const unsigned char **out,
		     char *err, size_t errlen)
{
	size_t i;
	unsigned char *p;
	int rc;

	for (i = 0; i < sizeof http__plain / sizeof http__plain[0] && http__plain[i].gz; i++)
		if (http__plain[i].gz == gz) {
			*out = http__plain[i].data;
			return 0;
		}
	if (i == sizeof http__plain / sizeof http__plain[0]) {
		snprintf(err, errlen, "http: more embedded documents than places to inflate them");
		return -1;
	}
	if (!(p = malloc(len ? len : 1))) {
		snprintf(err, errlen, "http: out of memory inflating an embedded document");
		return -1;
	}
	if ((rc = http_gunzip(gz, gzlen, p, len, err, errlen)) != 0) {
		free(p);
		return rc;
	}
	http__plain[i].gz = gz;
	http__plain[i].data = p;
	*out = p;
	return 0;
}

/* Unit tests of the embedded documents (bridge/http_asset.c,
 * bridge/web/embed.sh): each inflates to the bytes of its file in
 * bridge/web/, once (later calls get the same bytes), and a member that is cut short, damaged (its
 * CRC-32 then fails) or not the announced length is refused; the Accept-Encoding parser's edge
 * cases (the real socket's are test_http_gzip's). Without the web interface (WITH_HTTP=0) there is
 * nothing to test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#if MB_WITH_HTTP
#include "../../bridge/http_internal.h"

static void inflates_to(const unsigned char *gz, size_t gzlen, size_t len, const char *file)
{
	static char want[1 << 17];
	unsigned char *got = malloc(len);
	char err[512];
	assert_non_null(got);
	assert_int_equal(h_read_file(h_repo_file(file), want, sizeof want), len);
	assert_true(gzlen < len / 2);
	assert_int_equal(http_gunzip(gz, gzlen, got, len, err, sizeof err), 0);
	assert_memory_equal(got, want, len);
	free(got);
}

static void test_assets(void **state)
{
	(void)state;
	inflates_to(http_asset_index_html_gz, http_asset_index_html_gz_len,
		    http_asset_index_html_len, "bridge/web/index.html");
	inflates_to(http_asset_api_html_gz, http_asset_api_html_gz_len, http_asset_api_html_len,
		    "bridge/web/api.html");
	inflates_to(http_asset_openapi_json_gz, http_asset_openapi_json_gz_len,
		    http_asset_openapi_json_len, "bridge/web/openapi.json");
}

/* Inflated once, then the same bytes: however many clients that take no
 * gzip are served at once, the documents are held once. */
static void test_plain_once(void **state)
{
	const unsigned char *a = NULL, *b = NULL;
	static char want[1 << 17];
	char err[512];
	(void)state;
	assert_int_equal(http_asset_plain(http_asset_openapi_json_gz,
					  http_asset_openapi_json_gz_len,
					  http_asset_openapi_json_len, &a, err, sizeof err),
			 0);
	assert_int_equal(http_asset_plain(http_asset_openapi_json_gz,
					  http_asset_openapi_json_gz_len,
					  http_asset_openapi_json_len, &b, err, sizeof err),
			 0);
	assert_ptr_equal(a, b);
	assert_int_equal(h_read_file(h_repo_file("bridge/web/openapi.json"), want, sizeof want),
			 http_asset_openapi_json_len);
	assert_memory_equal(a, want, http_asset_openapi_json_len);
	assert_int_equal(http_asset_plain(http_asset_api_html_gz, http_asset_api_html_gz_len,
					  http_asset_api_html_len, &b, err, sizeof err),
			 0);
	assert_ptr_not_equal(a, b);
}

static void test_refused(void **state)
{
	size_t zlen = http_asset_api_html_gz_len, len = http_asset_api_html_len;
	unsigned char *z = malloc(zlen), *out = malloc(len + 1);
	char err[512];
	(void)state;
	assert_non_null(z);
	assert_non_null(out);
	memcpy(z, http_asset_api_html_gz, zlen);
	/* Cut short, one byte short of its end, and empty. */
	assert_int_equal(http_gunzip(z, zlen / 2, out, len, err, sizeof err), -1);
	assert_non_null(strstr(err, "does not inflate"));
	assert_int_equal(http_gunzip(z, zlen - 1, out, len, err, sizeof err), -1);
	assert_int_equal(http_gunzip(z, 0, out, len, err, sizeof err), -1);
	/* Longer or shorter than announced. */
	assert_int_equal(http_gunzip(z, zlen, out, len - 1, err, sizeof err), -1);
	assert_int_equal(http_gunzip(z, zlen, out, len + 1, err, sizeof err), -1);
	/* A damaged byte of the CRC-32 (the data inflates, the check fails). */
	z[zlen - 6] ^= 0x40;
	assert_int_equal(http_gunzip(z, zlen, out, len, err, sizeof err), -1);
	z[zlen - 6] ^= 0x40;
	assert_int_equal(http_gunzip(z, zlen, out, len, err, sizeof err), 0);
	/* Something after the member. */
	unsigned char *more = malloc(zlen + 4);
	assert_non_null(more);
	memcpy(more, z, zlen);
	memcpy(more + zlen, "junk", 4);
	assert_int_equal(http_gunzip(more, zlen + 4, out, len, err, sizeof err), -1);
	free(more);
	free(z);
	free(out);
}

static void test_accepts(void **state)
{
	(void)state;
	assert_false(http_accepts_gzip(NULL));
	assert_false(http_accepts_gzip(""));
	assert_false(http_accepts_gzip(" , ,"));
	assert_true(http_accepts_gzip("gzip"));
	assert_true(http_accepts_gzip(" \tgzip \t"));
	assert_true(http_accepts_gzip("GZIP;Q=1"));
	assert_true(http_accepts_gzip("gzip;q=1.000"));
	assert_false(http_accepts_gzip("gzip;q=1.001"));
	assert_true(http_accepts_gzip("gzip;q=0.001"));
	assert_false(http_accepts_gzip("gzip;q=0."));
	assert_true(http_accepts_gzip("gzip;q=0.5"));
	assert_false(http_accepts_gzip("gzip;q=0.0000"));
	assert_false(http_accepts_gzip("gzip;q=-1"));
	assert_false(http_accepts_gzip("gzip;q="));
	assert_true(http_accepts_gzip("gzip;level=9"));
	assert_true(http_accepts_gzip("gzip ; q = 0.5 "));
	assert_false(http_accepts_gzip("gzip;q=0;level=1"));
	assert_true(http_accepts_gzip("gzip;q=0, x-gzip"));
	assert_true(http_accepts_gzip("deflate,*"));
	assert_false(http_accepts_gzip("*;q=0"));
	assert_false(http_accepts_gzip("gzip;q=0,*"));
	assert_false(http_accepts_gzip("gzip2, agzip, gzi, gzip-x"));
	assert_false(http_accepts_gzip("identity;q=1, br"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_assets),
	    cmocka_unit_test(test_plain_once),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_accepts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
static void test_nothing(void **state)
{
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_nothing)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif

/* Unit tests of the web interface's Digest pieces (bridge/http_digest.c):
 * MD5 and SHA-256 against the test vectors of RFC 1321 and FIPS 180-4
 * (fed whole and a byte at a time, across block edges), the Authorization
 * parser (quoting, escapes, each parameter once, what qop=auth requires,
 * username* refused) and the response of RFC 7616's worked example (section
 * 3.9.1) in both algorithms. Without the web interface (WITH_HTTP=0) there
 * is nothing to test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#if MB_WITH_HTTP
#include "../../bridge/http_digest.h"

static void digest_hex(int sha256, const char *s, size_t n, int bytewise, char *out)
{
	struct http_hash h;
	uint8_t d[32];
	http_digest_hash_init(&h, sha256);
	if (bytewise)
		for (size_t i = 0; i < n; i++)
			http_digest_hash_update(&h, s + i, 1);
	else
		http_digest_hash_update(&h, s, n);
	http_digest_hex(d, http_digest_hash_final(&h, d), out);
}

static void check(int sha256, const char *s, size_t n, const char *want)
{
	char got[65];
	for (int bytewise = 0; bytewise < 2; bytewise++) {
		digest_hex(sha256, s, n, bytewise, got);
		assert_string_equal(got, want);
	}
}

static void test_md5(void **state)
{
	(void)state;
	check(0, "", 0, "d41d8cd98f00b204e9800998ecf8427e");
	check(0, "abc", 3, "900150983cd24fb0d6963f7d28e17f72");
	check(0, "message digest", 14, "f96b697d7cb7938d525a2f31aaf161d0");
	const char *e80 =
	    "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
	check(0, e80, 80, "57edf4a22be3c955ac49da2e2107b67a");
	static char a[1000000];
	memset(a, 'a', sizeof a);
	check(0, a, sizeof a, "7707d6ae4e027c70eea2a935c2296f21");
}

static void test_sha256(void **state)
{
	(void)state;
	check(1, "", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check(1, "abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	check(1, s, strlen(s), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	static char a[1000000];
	memset(a, 'a', sizeof a);
	check(1, a, sizeof a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* RFC 7616, 3.9.1: Mufasa, "Circle of Life", GET /dir/index.html. */
static const char rfc_hdr[] =
    "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
    "algorithm=%s, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
    "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, response=\"%s\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

static void ha1_of(int sha256, uint8_t *out)
{
	struct http_hash h;
	const char *s = "Mufasa:http-auth@example.org:Circle of Life";
	http_digest_hash_init(&h, sha256);
	http_digest_hash_update(&h, s, strlen(s));
	http_digest_hash_final(&h, out);
}

static void test_rfc7616_example(void **state)
{
	char hdr[1024], buf[1024];
	struct http_digest_auth a;
	uint8_t ha1[32];
	(void)state;

	snprintf(hdr, sizeof hdr, rfc_hdr, "MD5", "8ca523f5e9506fed4657c9700eebdbec");
	assert_int_equal(http_digest_parse(hdr, buf, sizeof buf, &a), 0);
	assert_string_equal(a.v[HTTP_DA_USERNAME], "Mufasa");
	assert_string_equal(a.v[HTTP_DA_NC], "00000001");
	assert_string_equal(a.v[HTTP_DA_ALGORITHM], "MD5");
	ha1_of(0, ha1);
	assert_true(http_digest_check(0, ha1, 16, "GET", &a));
	assert_false(http_digest_check(0, ha1, 16, "POST", &a));
	ha1[0] ^= 1;
	assert_false(http_digest_check(0, ha1, 16, "GET", &a));

	snprintf(hdr, sizeof hdr, rfc_hdr, "SHA-256",
		 "753927FA0E85D155564E2E272A28D1802CA10DAF4496794697CF8DB5856CB6C1");
	assert_int_equal(http_digest_parse(hdr, buf, sizeof buf, &a), 0);
	ha1_of(1, ha1);
	assert_true(http_digest_check(1, ha1, 32, "GET", &a));
	assert_false(http_digest_check(0, ha1, 16, "GET", &a));
}

static void test_parse(void **state)
{
	char buf[512];
	struct http_digest_auth a;
	(void)state;

	/* Escapes inside quotes, spaces around '=', a token value. */
	const char *ok = "Digest username = \"a\\\"b\", realm=\"r\", nonce=\"n\", uri=\"/x?y=1\", "
			 "response=\"00\", qop=auth, nc=00000002, cnonce=\"c\", extra=\"ignored\"";
	assert_int_equal(http_digest_parse(ok, buf, sizeof buf, &a), 0);
	assert_string_equal(a.v[HTTP_DA_USERNAME], "a\"b");
	assert_string_equal(a.v[HTTP_DA_URI], "/x?y=1");
	assert_null(a.v[HTTP_DA_ALGORITHM]);
	assert_null(a.v[HTTP_DA_OPAQUE]);
	/* Not Digest, twice a parameter, one missing, unterminated, the
	 * encoded user name, too long for the buffer. */
	const char *bad[] = {
	    "Basic YWRtaW46c2VjcmV0",
	    "Digest username=\"a\", username=\"b\", realm=\"r\", nonce=\"n\", uri=\"/\", "
	    "response=\"0\", qop=auth, nc=00000001, cnonce=\"c\"",
	    "Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0\", qop=auth, "
	    "cnonce=\"c\"",
	    "Digest username=\"a, realm=\"r\"",
	    "Digest username*=UTF-8''a, realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0\", "
	    "qop=auth, nc=00000001, cnonce=\"c\"",
	    "Digest username=\"a\" realm=\"r\"",
	    "Digest username=\"\x01\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0\", "
	    "qop=auth, nc=00000001, cnonce=\"c\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(http_digest_parse(bad[i], buf, sizeof buf, &a), -1);
	assert_int_equal(http_digest_parse(ok, buf, 20, &a), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_md5),
	    cmocka_unit_test(test_sha256),
	    cmocka_unit_test(test_rfc7616_example),
	    cmocka_unit_test(test_parse),
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

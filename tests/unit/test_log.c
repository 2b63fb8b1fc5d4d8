/* Unit tests of what bridge/log.c makes of a message before it is written:
 * log_escape keeps every message on one line (line ends, control characters,
 * C1 controls, bytes that are not UTF-8, backslashes), never overflows its
 * buffer, and passes UTF-8 and plain text through; log_redact_url hides the
 * credentials of a URL and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static const char *esc(const char *in, size_t len)
{
	static char out[512];
	log_escape(out, sizeof out, in, len);
	return out;
}

#define ESC(lit) esc(lit, sizeof lit - 1)

static void test_escape_plain(void **state)
{
	(void)state;
	assert_string_equal(ESC("influxdb: http://127.0.0.1:8086 refused 3 points"),
			    "influxdb: http://127.0.0.1:8086 refused 3 points");
	assert_string_equal(ESC("Wärmepumpe 25 °C ✓"), "Wärmepumpe 25 °C ✓");
	assert_string_equal(ESC(""), "");
}

static void test_escape_lines(void **state)
{
	(void)state;
	assert_string_equal(ESC("boom\n<3>forged"), "boom\\n<3>forged");
	assert_string_equal(ESC("a\r\nb\tc"), "a\\r\\nb\\tc");
	assert_string_equal(ESC("back\\slash"), "back\\\\slash");
	assert_string_equal(ESC("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
	assert_string_equal(ESC("nul\0byte"), "nul\\x00byte");
	assert_string_equal(ESC("del\x7f"), "del\\x7f");
	/* Nothing that ends or starts a line is left. */
	const char *e = ESC("x\n\r\v\f\x85\xe2\x80\xa8y");
	assert_null(strpbrk(e, "\n\r\v\f"));
}

static void test_escape_utf8(void **state)
{
	(void)state;
	assert_string_equal(ESC("\xff"), "\\xff");
	assert_string_equal(ESC("\xc0\xaf"), "\\xc0\\xaf");	     /* overlong '/' */
	assert_string_equal(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80"); /* surrogate */
	assert_string_equal(ESC("\xc2\x9b"
				"2J"),
			    "\\xc2\\x9b2J");				  /* C1 CSI */
	assert_string_equal(ESC("\xe2\x82"), "\\xe2\\x82");		  /* cut short */
	assert_string_equal(ESC("\xf0\x9f\x94\x8b"), "\xf0\x9f\x94\x8b"); /* U+1F50B */
	assert_string_equal(ESC("\xc2\xa0"), "\xc2\xa0");		  /* U+00A0 */
}

static void test_escape_bounds(void **state)
{
	char out[8];
	(void)state;
	memset(out, 'Z', sizeof out);
	assert_int_equal(log_escape(out, sizeof out, "\n\n\n\n", 4), 6);
	assert_string_equal(out, "\\n\\n\\n");
	assert_int_equal(log_escape(out, sizeof out, "abcdefghij", 10), 7);
	assert_string_equal(out, "abcdefg");
	/* An escape that does not fit whole is left out, not cut. */
	assert_int_equal(log_escape(out, 5, "ab\xff", 3), 2);
	assert_string_equal(out, "ab");
	char big[4 * 6 + 1];
	assert_int_equal(log_escape(big, sizeof big, "\x01\x02\x03\x04\x05\x06", 6), 24);
}

static const char *red(const char *url)
{
	static char out[256];
	return log_redact_url(url, out, sizeof out);
}

static void test_redact(void **state)
{
	(void)state;
	assert_string_equal(red("http://admin:s3cret@influx.lan:8086/"),
			    "http://***@influx.lan:8086/");
	assert_string_equal(red("https://user@host/write?db=x"), "https://***@host/write?db=x");
	/* A password holding '@' is hidden whole. */
	assert_string_equal(red("http://a:p@ss@h:1"), "http://***@h:1");
	/* An '@' after the host is no credential. */
	assert_string_equal(red("http://h:1/x?mail=a@b"), "http://h:1/x?mail=a@b");
	assert_string_equal(red("http://127.0.0.1:8086"), "http://127.0.0.1:8086");
	assert_string_equal(red("not a url"), "not a url");
	assert_string_equal(red(""), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_plain), cmocka_unit_test(test_escape_lines),
	    cmocka_unit_test(test_escape_utf8),	 cmocka_unit_test(test_escape_bounds),
	    cmocka_unit_test(test_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the strict JSON checker (bridge/json_check.c): what RFC 8259
 * allows passes, each class a lenient parser takes is refused with its byte
 * offset, member names are compared as decoded, the depth limit holds, and
 * nothing is read beyond the length given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_check.h"

static char why[300];

static int check(const char *text, size_t len, int depth)
{
	why[0] = '\0';
	return json_check_strict(text, len, depth, why, sizeof why);
}

#define OK(lit) assert_int_equal(check(lit, sizeof lit - 1, 8), 0)
#define BAD(lit, says)                                                                             \
	do {                                                                                       \
		assert_int_equal(check(lit, sizeof lit - 1, 8), -1);                               \
		assert_non_null(strstr(why, says));                                                \
	} while (0)

static void test_accepts(void **state)
{
	(void)state;
	OK("{\"value\":5}");
	OK(" {\r\n\t\"value\" : -0.5e+3 }\n");
	OK("{\"raw\":0}");
	OK("{}");
	OK("[]");
	OK("[1,2.5,-3e2,true,false,null,\"s\",{},[]]");
	OK("\"a \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\udd0b\"");
	OK("{\"value\":\"Wärme ✓ \xf0\x9f\x94\x8b\"}");
	OK("{\"a\":{\"a\":1},\"b\":{\"a\":2}}"); /* the same name in different objects */
	OK("0");
}

static void test_refuses(void **state)
{
	(void)state;
	BAD("{\"value\":5,}", "trailing comma");
	BAD("[1,]", "trailing comma");
	BAD("{'value':5}", "single quotes");
	BAD("{\"value\":'5'}", "single quotes");
	BAD("// c\n{}", "comments");
	BAD("{} /* c */", "comments");
	BAD("{\"value\":5} # c", "comments");
	BAD("{value:5}", "unexpected character");
	BAD("{\"value\":NaN}", "NaN");
	BAD("{\"value\":Infinity}", "NaN and Infinity");
	BAD("{\"value\":-Infinity}", "number");
	BAD("{\"value\":05}", "leading zero");
	BAD("{\"value\":5.}", "number");
	BAD("{\"value\":.5}", "unexpected character");
	BAD("{\"value\":+5}", "unexpected character");
	BAD("{\"value\":1e}", "number");
	BAD("{\"value\":5}{}", "more after");
	BAD("{\"value\":5} x", "more after");
	BAD("{\"value\":tru}", "unexpected character");
	BAD("{\"value\":\"a\tb\"}", "control character");
	BAD("{\"value\":\"a\\x41\"}", "escape JSON does not have");
	BAD("{\"value\":\"\\u12\"}", "four hex digits");
	BAD("{\"value\":\"\\u0000\"}", "NUL");
	BAD("{\"value\":\"\\ud800\"}", "lone high surrogate");
	BAD("{\"value\":\"\\udc00\"}", "lone low surrogate");
	BAD("{\"value\":\"\xff\"}", "UTF-8");
	BAD("{\"value\":\"\xc0\xaf\"}", "UTF-8");
	BAD("{\"value\":\"\xed\xa0\x80\"}", "UTF-8");
	BAD("{\"value\":\"\xf4\x90\x80\x80\"}", "UTF-8"); /* above U+10FFFF */
	BAD("{\"value\":\"\xe2\x82\"}", "UTF-8");	  /* cut short */
	BAD("{\"value\" 5}", "':'");
	BAD("{\"value\":5 \"raw\":6}", "expected ',' or '}'");
	BAD("{\"value\":", "ends");
	BAD("{\"value\":\"abc", "ends in the middle of a string");
	BAD("", "ends");
	BAD("\xef\xbb\xbf{}", "unexpected character"); /* a byte order mark */
}

static void test_nul(void **state)
{
	(void)state;
	assert_int_equal(check("{\"value\":5}\0", 12, 8), -1);
	assert_non_null(strstr(why, "at byte 11: a NUL byte"));
	assert_int_equal(check("{\"val\0ue\":5}", 12, 8), -1);
	assert_non_null(strstr(why, "NUL"));
	assert_int_equal(check("{\"value\":5\0}", 12, 8), -1);
	assert_non_null(strstr(why, "NUL"));
	assert_int_equal(check("\0", 1, 8), -1);
	assert_non_null(strstr(why, "NUL"));
}

static void test_duplicates(void **state)
{
	(void)state;
	BAD("{\"value\":5,\"value\":6}", "twice");
	BAD("{\"value\":5,\"va\\u006cue\":6}", "twice");
	BAD("{\"\\u00e9\":1,\"\xc3\xa9\":2}", "twice");
	BAD("{\"\\ud83d\\udd0b\":1,\"\xf0\x9f\x94\x8b\":2}", "twice");
	BAD("{\"a\\/b\":1,\"a/b\":2}", "twice");
	BAD("{\"x\":{\"a\":1,\"b\":{},\"a\":2}}", "twice");
	OK("{\"a\":1,\"A\":2,\"a \":3}");
	assert_int_equal(check("{\"value\":5,\"value\":6}", 21, 8), -1);
	assert_non_null(strstr(why, "at byte 11:"));
}

static void test_depth(void **state)
{
	(void)state;
	assert_int_equal(check("[[1]]", 5, 2), 0);
	assert_int_equal(check("[[[1]]]", 7, 2), -1);
	assert_string_equal(why, "at byte 2: objects and arrays nested deeper than 2 levels");
	assert_int_equal(check("{\"a\":{}}", 8, 1), -1);
	/* A long run of brackets ends at the limit, not in the stack. */
	size_t n = 100000;
	char *deep = malloc(n);
	assert_non_null(deep);
	memset(deep, '[', n);
	assert_int_equal(check(deep, n, 8), -1);
	assert_non_null(strstr(why, "nested deeper than 8"));
	free(deep);
}

static void test_bounds(void **state)
{
	(void)state;
	/* Only len bytes are read: the text after them does not count. */
	assert_int_equal(check("{}garbage", 2, 8), 0);
	assert_int_equal(check("\"abc\"", 4, 8), -1);
	assert_int_equal(check("\"\\u00e9\"", 6, 8), -1);
	assert_int_equal(check("\"\xc3\xa9\"", 2, 8), -1);
	/* A why of 0 bytes is allowed. */
	assert_int_equal(json_check_strict("x", 1, 8, NULL, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts), cmocka_unit_test(test_refuses),
	    cmocka_unit_test(test_nul),	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_depth),   cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The JSON writer (include/json.h): escaping of quotes, backslashes and
 * control characters, UTF-8 passed through, NULL as null, the same text to a
 * FILE * as into the buffer, ill-formed UTF-8 replaced by U+FFFD (overlong
 * forms, surrogates, sequences cut short, bytes that start nothing), NUL
 * through json_strn, documents longer than any fixed buffer; and the
 * status document built with it, whole however long a device's name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "device.h"
#include "json.h"
#include "map.h"
#include "status.h"
#include "transport_test.h"

/* One string value through the buffer writer. */
static char *str_json(const char *s)
{
	struct json j;
	size_t len;
	char *text;

	json_init_buf(&j);
	json_str(&j, s);
	text = json_take(&j, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	return text;
}

static void expect_str(const char *in, const char *want)
{
	char *got = str_json(in);
	assert_string_equal(got, want);
	free(got);
}

static void test_quotes_backslashes(void **state)
{
	(void)state;
	expect_str("", "\"\"");
	expect_str("plain", "\"plain\"");
	expect_str("a\"b", "\"a\\\"b\"");
	expect_str("a\\b", "\"a\\\\b\"");
	expect_str("\"\\\"", "\"\\\"\\\\\\\"\"");
	/* '/' needs no escape and gets none. */
	expect_str("a/b", "\"a/b\"");
}

static void test_control_characters(void **state)
{
	(void)state;
	expect_str("\n\r\t", "\"\\n\\r\\t\"");
	expect_str("\x01", "\"\\u0001\"");
	expect_str("a\x1f"
		   "b",
		   "\"a\\u001fb\"");
	expect_str("\b\f", "\"\\u0008\\u000c\"");
	expect_str("\x1b[0m", "\"\\u001b[0m\"");
	/* DEL is not a control character to JSON. */
	expect_str("\x7f", "\"\x7f\"");
	/* Every byte below 0x20 is escaped, none is written raw. */
	for (int c = 1; c < 0x20; c++) {
		char in[2] = {(char)c, 0};
		char *got = str_json(in);
		for (const char *p = got; *p; p++)
			assert_true((unsigned char)*p >= 0x20);
		free(got);
	}
}

static void test_utf8_passes_through(void **state)
{
	(void)state;
	expect_str("Gr\xc3\xbc\xc3\x9f"
		   "e \xe2\x82\xac 5 \xf0\x9f\x94\x8b",
		   "\"Gr\xc3\xbc\xc3\x9f"
		   "e \xe2\x82\xac 5 \xf0\x9f\x94\x8b\"");
}

#define FFFD "\xef\xbf\xbd"

/* Ill-formed UTF-8 (Unicode chapter 3, table 3-7) never reaches the output:
 * each maximal ill-formed part is one U+FFFD, well-formed parts around it
 * stay. */
static void test_utf8_ill_formed(void **state)
{
	(void)state;
	/* The bytes, as a Modbus client can write them. */
	expect_str("a\xff\xfe\xc3(", "\"a" FFFD FFFD FFFD "(\"");
	/* An uninitialised register. */
	expect_str("\xff\xff\xff\xff", "\"" FFFD FFFD FFFD FFFD "\"");
	/* Overlong forms: '/' in two and three bytes, NUL in two. */
	expect_str("\xc0\xaf", "\"" FFFD FFFD "\"");
	expect_str("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"");
	expect_str("\xc1\xbf", "\"" FFFD FFFD "\"");
	expect_str("\xc0\x80", "\"" FFFD FFFD "\"");
	/* Surrogates: ED A0 80 is U+D800, ED BF BF U+DFFF. */
	expect_str("x\xed\xa0\x80y", "\"x" FFFD FFFD FFFD "y\"");
	expect_str("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\"");
	/* ED 9F BF (U+D7FF) is fine. */
	expect_str("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");
	/* Above U+10FFFF, and the bytes that start nothing. */
	expect_str("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
	expect_str("\xf5\x80", "\"" FFFD FFFD "\"");
	expect_str("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
	/* A continuation byte alone. */
	expect_str("\x80", "\"" FFFD "\"");
	/* Sequences cut short at the end: one U+FFFD for the whole start. */
	expect_str("ab\xc3", "\"ab" FFFD "\"");
	expect_str("ab\xe2\x82", "\"ab" FFFD "\"");
	expect_str("ab\xf0\x9f\x94", "\"ab" FFFD "\"");
	/* ... and cut short by another character, which is kept. */
	expect_str("\xe2\x82"
		   "A",
		   "\"" FFFD "A\"");
	expect_str("\xf0\x9f\x94\"", "\"" FFFD "\\\"\"");
	expect_str("\xe2\x82\n", "\"" FFFD "\\n\"");
	/* Bad bytes next to escapes and good sequences. */
	expect_str("\xc3\xa9\xff\x01\xe2\x82\xac", "\"\xc3\xa9" FFFD "\\u0001\xe2\x82\xac\"");
}

/* json_strn writes every byte, NUL included (\u0000), and checks UTF-8
 * right to its end, not to a NUL. */
static void test_strn_nul(void **state)
{
	struct json j;
	size_t len;
	(void)state;
	json_init_buf(&j);
	json_strn(&j, "a\0b\xc3", 4);
	char *text = json_take(&j, &len);
	assert_string_equal(text, "\"a\\u0000b" FFFD "\"");
	free(text);
	json_init_buf(&j);
	json_strn(&j, NULL, 3);
	text = json_take(&j, &len);
	assert_string_equal(text, "null");
	free(text);
}

/* json_utf8_clean: what values.c gives every face for a string register. */
static void test_utf8_clean(void **state)
{
	char out[64];
	size_t bad = 0;
	(void)state;
	assert_int_equal(json_utf8_clean(out, "a\xff\xfe\xc3(", 5), 1 + 9 + 1);
	assert_string_equal(out, "a" FFFD FFFD FFFD "(");
	assert_int_equal(json_utf8_clean(out, "", 0), 0);
	assert_string_equal(out, "");
	/* The worst case is three bytes out for one in. */
	assert_int_equal(json_utf8_clean(out, "\xff\xff\xff", 3), 9);
	/* Lengths of well-formed sequences, and of the parts one U+FFFD takes. */
	assert_int_equal(json_utf8_seq((const unsigned char *)"\xf0\x9f\x94\x8b", 4, &bad), 4);
	assert_int_equal(json_utf8_seq((const unsigned char *)"\xf0\x9f\x94\x8b", 3, &bad), 0);
	assert_int_equal(bad, 3);
	assert_int_equal(json_utf8_seq((const unsigned char *)"\xe0\x9f\x80", 3, &bad), 0);
	assert_int_equal(bad, 1);
}

static void test_null_and_layout(void **state)
{
	struct json j;
	size_t len;
	char *text;

	(void)state;
	json_init_buf(&j);
	json_raw(&j, "{\"a\": ");
	json_str(&j, NULL);
	json_printf(&j, ", \"n\": %d, \"x\": %.15g}", -42, 0.1);
	text = json_take(&j, &len);
	assert_string_equal(text, "{\"a\": null, \"n\": -42, \"x\": 0.1}");
	assert_int_equal(len, strlen(text));
	free(text);

	/* Nothing written: an empty text, still the caller's to free. */
	json_init_buf(&j);
	text = json_take(&j, &len);
	assert_non_null(text);
	assert_string_equal(text, "");
	assert_int_equal(len, 0);
	free(text);
}

/* Far longer than any buffer in the writer or its callers: a long string
 * with escapes spread through it, and a printf longer than its small buffer.
 * The file writer gives the same text. */
static void write_long(struct json *j, const char *big)
{
	json_raw(j, "{\"big\": ");
	json_str(j, big);
	json_printf(j, ", \"pad\": \"%0300d\"}", 7);
}

static void test_long_document(void **state)
{
	enum { N = 100000 };
	char *big = malloc(N + 1);
	struct json j;
	size_t len, flen = 0;
	char *text, *ftext = NULL;
	FILE *f;

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < N; i++)
		big[i] = i % 1000 == 999 ? '"' : (char)('a' + i % 26);
	big[N] = '\0';

	json_init_buf(&j);
	write_long(&j, big);
	text = json_take(&j, &len);
	assert_non_null(text);
	/* 100 quotes became \" (one byte more each); 300 digits of padding. */
	assert_int_equal(len,
			 strlen("{\"big\": \"\"") + N + 100 + strlen(", \"pad\": \"\"}") + 300);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(text + len - 6, "0007\"}", 6);
	assert_int_equal(text[len - 1], '}');

	assert_non_null(f = open_memstream(&ftext, &flen));
	json_init_file(&j, f);
	write_long(&j, big);
	fclose(f);
	assert_int_equal(flen, len);
	assert_memory_equal(ftext, text, len);
	free(ftext);
	free(text);
	free(big);
}

/* --- the status document ------------------------------------------------ */

static void test_status_document_whole(void **state)
{
	char map_path[256], err[512];
	struct config conf;
	struct config_device dcfg;
	struct device *dev = NULL;
	struct map *map;
	uv_loop_t loop;
	FILE *f;
	enum { NAME = 5000 };
	char *name = malloc(NAME + 1);
	char *doc;
	size_t len;

	(void)state;
	assert_non_null(name);
	snprintf(map_path, sizeof map_path, "/tmp/mbtest-json-%d.conf", (int)getpid());
	assert_non_null(f = fopen(map_path, "w"));
	fprintf(f, "name = \"t\"; protocol = \"memory\"; trust = \"generated\";\n"
		   "registers = ( { address = 0; name = \"r0\"; } );\n");
	fclose(f);
	map = map_load(map_path, err, sizeof err);
	unlink(map_path);
	assert_non_null(map);

	/* The config refuses such a name; the document must not depend on it:
	 * long (the old document had 1024 bytes), a quote, a control character. */
	memset(name, 'n', NAME);
	name[0] = '"';
	name[1] = '\x01';
	name[NAME] = '\0';
	memset(&conf, 0, sizeof conf);
	memset(&dcfg, 0, sizeof dcfg);
	conf.path = "test.conf";
	conf.defaults.timeout = 3000;
	conf.defaults.max_age = 1000;
	conf.defaults.retries = -1;
	dcfg.name = name;
	dcfg.unit_id = 7;
	dcfg.map = "t";
	dcfg.timeout = dcfg.max_age = dcfg.poll = dcfg.min_interval = dcfg.retries = -1;
	uv_loop_init(&loop);
	assert_int_equal(
	    device_create_ops(&loop, &conf, &dcfg, map, &transport_memory, &dev, err, sizeof err),
	    0);

	doc = status_device_json(dev, &len);
	assert_non_null(doc);
	assert_int_equal(len, strlen(doc));
	assert_true(len > NAME);
	assert_memory_equal(doc, "{\"name\":\"\\\"\\u0001nnn", 19);
	assert_non_null(strstr(doc, "nnn\",\"unit_id\":7,\"map\":\"t\",\"protocol\":\"memory\","
				    "\"trust\":\"generated\",\"link_up\":"));
	assert_non_null(strstr(doc, ",\"errors\":0,\"dropped\":0,\"bad_values\":0}"));
	assert_int_equal(doc[len - 1], '}');
	free(doc);

	device_close(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	map_free(map);
	free(name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quotes_backslashes),
	    cmocka_unit_test(test_control_characters),
	    cmocka_unit_test(test_utf8_passes_through),
	    cmocka_unit_test(test_utf8_ill_formed),
	    cmocka_unit_test(test_strn_nul),
	    cmocka_unit_test(test_utf8_clean),
	    cmocka_unit_test(test_null_and_layout),
	    cmocka_unit_test(test_long_document),
	    cmocka_unit_test(test_status_document_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

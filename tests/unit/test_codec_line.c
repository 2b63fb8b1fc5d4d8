/* Unit tests of the InfluxDB line-protocol codec (bridge/codec_line.c): the
 * escaping rules of each part of a line, every field type, the refusals
 * (names 1.x and 2.x would read differently, NaN, no field, a short buffer
 * taken back whole), and the parser on the same rules, on the lines
 * InfluxDB's own reference gives as examples, and on what it must refuse. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec_line.h"
#include "mb_error.h"

static char buf[1024];

static void test_simple_point(void **state)
{
	struct line_writer w;
	(void)state;
	codec_line_writer_init(&w, buf, sizeof buf);
	codec_line_begin(&w, "modbridge");
	codec_line_tag(&w, "device", "garage");
	codec_line_tag(&w, "map", "venus");
	codec_line_field_int(&w, "soc", 57);
	codec_line_field_float(&w, "power", -1234.5);
	codec_line_field_str(&w, "serial", "ABC123");
	codec_line_field_bool(&w, "on", 1);
	assert_int_equal(codec_line_end(&w, 1, 1767225600123LL), 0);
	assert_string_equal(buf, "modbridge,device=garage,map=venus soc=57i,power=-1234.5,"
				 "serial=\"ABC123\",on=true 1767225600123\n");
	assert_int_equal(w.len, strlen(buf));
	/* A second line follows the first. */
	codec_line_begin(&w, "m");
	codec_line_field_bool(&w, "off", 0);
	assert_int_equal(codec_line_end(&w, 0, 0), 0);
	assert_string_equal(strchr(buf, '\n') + 1, "m off=false\n");
}

static void test_escaping(void **state)
{
	struct line_writer w;
	(void)state;
	codec_line_writer_init(&w, buf, sizeof buf);
	/* Measurement: comma and space; '=' needs none there. */
	codec_line_begin(&w, "my meas,x=y");
	/* Tag keys and values, field keys: comma, '=' and space. */
	codec_line_tag(&w, "tag key", "a=b,c d");
	codec_line_field_str(&w, "f,k=", "say \"hi\" \\o/");
	assert_int_equal(codec_line_end(&w, 0, 0), 0);
	assert_string_equal(buf,
			    "my\\ meas\\,x=y,tag\\ key=a\\=b\\,c\\ d f\\,k\\==\"say \\\"hi\\\" "
			    "\\\\o/\"\n");
}

static void test_floats_read_back(void **state)
{
	static const double v[] = {52.3, 0.1, -0.0001, 1e20, 123456.7, 2.5e-300, 0, -1, 1.0 / 3};
	static const char *const shortest[] = {"52.3", "0.1", "-0.0001", "1e+20", "123456.7"};
	(void)state;
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct line_writer w;
		struct line_field f[1];
		struct line_point pt = {.fields = f, .maxfields = 1};
		char scratch[128];
		size_t used;
		codec_line_writer_init(&w, buf, sizeof buf);
		codec_line_begin(&w, "m");
		codec_line_field_float(&w, "v", v[i]);
		assert_int_equal(codec_line_end(&w, 0, 0), 0);
		if (i < sizeof shortest / sizeof shortest[0]) {
			char want[64];
			snprintf(want, sizeof want, "m v=%s\n", shortest[i]);
			assert_string_equal(buf, want);
		}
		assert_int_equal(codec_line_parse(buf, w.len, &used, &pt, scratch, sizeof scratch),
				 0);
		assert_int_equal(pt.fields[0].type, LINE_FLOAT);
		assert_true(pt.fields[0].f == v[i]);
	}
}

static void test_refusals(void **state)
{
	struct line_writer w;
	(void)state;
	codec_line_writer_init(&w, buf, sizeof buf);
	codec_line_begin(&w, "kept");
	codec_line_field_int(&w, "x", 1);
	assert_int_equal(codec_line_end(&w, 0, 0), 0);
	size_t kept = w.len;

	/* Each refusal takes its own line back, and only it. */
	codec_line_begin(&w, "m");
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL); /* no field */
	codec_line_begin(&w, "m");
	codec_line_field_float(&w, "v", NAN);
	assert_int_equal(codec_line_end(&w, 0, 0), MB_ERANGE);
	codec_line_begin(&w, "m");
	codec_line_field_float(&w, "v", INFINITY);
	assert_int_equal(codec_line_end(&w, 0, 0), MB_ERANGE);
	codec_line_begin(&w, "m\\x"); /* a backslash in a name */
	codec_line_field_int(&w, "v", 1);
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL);
	codec_line_begin(&w, "m");
	codec_line_tag(&w, "t", "a\nb"); /* a newline in a tag */
	codec_line_field_int(&w, "v", 1);
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL);
	codec_line_begin(&w, "m");
	codec_line_tag(&w, "t", ""); /* an empty tag value */
	codec_line_field_int(&w, "v", 1);
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL);
	codec_line_begin(&w, "m");
	codec_line_field_int(&w, "v", 1);
	codec_line_tag(&w, "t", "late"); /* a tag after a field */
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL);
	codec_line_begin(&w, "m");
	codec_line_field_str(&w, "s", "two\nlines");
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL);
	codec_line_begin(&w, "#m"); /* would be a comment */
	codec_line_field_int(&w, "v", 1);
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL);
	assert_int_equal(codec_line_end(&w, 0, 0), MB_EINVAL); /* no codec_line_begin */
	assert_int_equal(w.len, kept);
	assert_string_equal(buf, "kept x=1i\n");
}

static void test_short_buffer(void **state)
{
	char small[24];
	struct line_writer w;
	(void)state;
	codec_line_writer_init(&w, small, sizeof small);
	codec_line_begin(&w, "m");
	codec_line_field_int(&w, "a", 1);
	assert_int_equal(codec_line_end(&w, 0, 0), 0); /* "m a=1i\n" */
	codec_line_begin(&w, "measurement");
	codec_line_field_int(&w, "value", 123456);
	assert_int_equal(codec_line_end(&w, 1, 99), MB_ETOOBIG);
	/* The whole text needs 7 + 27 bytes and the NUL. */
	assert_int_equal(w.need, 7 + strlen("measurement value=123456i 99\n") + 1);
	assert_string_equal(small, "m a=1i\n");
	/* Exactly the size it asked for is enough. */
	char *big = malloc(w.need);
	assert_non_null(big);
	codec_line_writer_init(&w, big, 7 + strlen("measurement value=123456i 99\n") + 1);
	codec_line_begin(&w, "m");
	codec_line_field_int(&w, "a", 1);
	assert_int_equal(codec_line_end(&w, 0, 0), 0);
	codec_line_begin(&w, "measurement");
	codec_line_field_int(&w, "value", 123456);
	assert_int_equal(codec_line_end(&w, 1, 99), 0);
	assert_string_equal(big, "m a=1i\nmeasurement value=123456i 99\n");
	free(big);
}

static void test_int_limits(void **state)
{
	struct line_writer w;
	struct line_field f[2];
	struct line_point pt = {.fields = f, .maxfields = 2};
	char scratch[128];
	size_t used;
	(void)state;
	codec_line_writer_init(&w, buf, sizeof buf);
	codec_line_begin(&w, "m");
	codec_line_field_int(&w, "lo", INT64_MIN);
	codec_line_field_int(&w, "hi", INT64_MAX);
	assert_int_equal(codec_line_end(&w, 1, -5), 0);
	assert_string_equal(buf, "m lo=-9223372036854775808i,hi=9223372036854775807i -5\n");
	assert_int_equal(codec_line_parse(buf, w.len, &used, &pt, scratch, sizeof scratch), 0);
	assert_int_equal(used, w.len);
	assert_true(f[0].type == LINE_INT && f[0].i == INT64_MIN);
	assert_true(f[1].type == LINE_INT && f[1].i == INT64_MAX);
	assert_true(pt.has_time && pt.time == -5);
	static const char over[] = "m v=9223372036854775808i";
	assert_int_equal(codec_line_parse(over, strlen(over), &used, &pt, scratch, sizeof scratch),
			 MB_ERANGE);
}

/* Lines as InfluxDB's line protocol reference writes them. */
static void test_parse_reference_examples(void **state)
{
	struct line_field f[8];
	struct line_point pt = {.fields = f, .maxfields = 8};
	char scratch[256];
	size_t used;
	(void)state;

	static const char a[] =
	    "myMeasurement,tag1=value1,tag2=value2 fieldKey=\"fieldValue\" 1556813561098000000\n";
	assert_int_equal(codec_line_parse(a, strlen(a), &used, &pt, scratch, sizeof scratch), 0);
	assert_int_equal(used, strlen(a));
	assert_string_equal(pt.measurement, "myMeasurement");
	assert_int_equal(pt.ntags, 2);
	assert_string_equal(pt.tags[1].key, "tag2");
	assert_string_equal(pt.tags[1].value, "value2");
	assert_int_equal(pt.nfields, 1);
	assert_string_equal(f[0].key, "fieldKey");
	assert_int_equal(f[0].type, LINE_STRING);
	assert_string_equal(f[0].s, "fieldValue");
	assert_true(pt.has_time && pt.time == 1556813561098000000LL);

	static const char b[] = "my\\ Measurement,tag\\ Key1=tag\\ Value1,tag\\,Key2=tag\\=Value2 "
				"field\\ Key=\"string \\\"value\\\" with \\\\ and \\n\",u=12u,"
				"b1=T,b2=False,fl=1.5E-3,neg=-2";
	assert_int_equal(codec_line_parse(b, strlen(b), &used, &pt, scratch, sizeof scratch), 0);
	assert_string_equal(pt.measurement, "my Measurement");
	assert_string_equal(pt.tags[0].key, "tag Key1");
	assert_string_equal(pt.tags[0].value, "tag Value1");
	assert_string_equal(pt.tags[1].key, "tag,Key2");
	assert_string_equal(pt.tags[1].value, "tag=Value2");
	assert_string_equal(f[0].key, "field Key");
	/* A backslash before anything else is itself. */
	assert_string_equal(f[0].s, "string \"value\" with \\ and \\n");
	assert_true(f[1].type == LINE_UINT && f[1].u == 12);
	assert_true(f[2].type == LINE_BOOL && f[2].b == 1);
	assert_true(f[3].type == LINE_BOOL && f[3].b == 0);
	assert_true(f[4].type == LINE_FLOAT && f[4].f == 1.5e-3);
	assert_true(f[5].type == LINE_FLOAT && f[5].f == -2);
	assert_false(pt.has_time);

	/* Several lines: each call reads one; blank and comment lines say 1. */
	static const char c[] = "# a comment\n\nm a=1i\r\nm b=2i";
	const char *p = c;
	size_t left = strlen(c);
	int points = 0, others = 0;
	while (left) {
		int rc = codec_line_parse(p, left, &used, &pt, scratch, sizeof scratch);
		assert_true(rc == 0 || rc == 1);
		points += rc == 0;
		others += rc == 1;
		p += used;
		left -= used;
	}
	assert_int_equal(points, 2);
	assert_int_equal(others, 2);
	assert_string_equal(f[0].key, "b");
}

static void test_parse_refusals(void **state)
{
	static const struct {
		const char *line;
		int rc;
	} bad[] = {
	    {"m", MB_EPARSE},	       /* no field */
	    {"m ", MB_EPARSE},	       /* no field */
	    {",t=1 v=1", MB_EPARSE},   /* no measurement */
	    {"m,t v=1", MB_EPARSE},    /* tag without value */
	    {"m,t= v=1", MB_EPARSE},   /* empty tag value */
	    {"m v=", MB_EPARSE},       /* empty value */
	    {"m v=\"open", MB_EPARSE}, /* unterminated string */
	    {"m v=nan", MB_EPARSE},    /* InfluxDB has no NaN */
	    {"m v=inf", MB_EPARSE},    /* nor infinities */
	    {"m v=0x10", MB_EPARSE},   /* nor hexadecimal */
	    {"m v=1e", MB_EPARSE},     /* exponent without digits */
	    {"m v=.", MB_EPARSE},      /* no digits */
	    {"m v=1.5i", MB_EPARSE},   /* an integer has no point */
	    {"m v=-u", MB_EPARSE},     /* an unsigned has no sign */
	    {"m v=1 12x", MB_EPARSE},  /* timestamp not a number */
	    {"m v=1 1 2", MB_EPARSE},  /* two timestamps */
	    {"m v=1,", MB_EPARSE},     /* field list ends in a comma */
	    {"m v=1e999", MB_ERANGE},  /* out of a double's range */
	    {"m v=99999999999999999999u", MB_ERANGE},
	};
	struct line_field f[4];
	struct line_point pt = {.fields = f, .maxfields = 4};
	char scratch[128];
	size_t used;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = codec_line_parse(bad[i].line, strlen(bad[i].line), &used, &pt, scratch,
					  sizeof scratch);
		if (rc != bad[i].rc)
			fail_msg("\"%s\": %d, want %d", bad[i].line, rc, bad[i].rc);
		assert_int_equal(used, strlen(bad[i].line));
	}
	/* More fields than the caller's array, a scratch buffer too small. */
	static const char many[] = "m a=1,b=2,c=3,d=4,e=5";
	assert_int_equal(codec_line_parse(many, strlen(many), &used, &pt, scratch, sizeof scratch),
			 MB_ETOOBIG);
	assert_int_equal(codec_line_parse(many, 9, &used, &pt, scratch, 3), MB_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_simple_point),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_floats_read_back),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_short_buffer),
	    cmocka_unit_test(test_int_limits),
	    cmocka_unit_test(test_parse_reference_examples),
	    cmocka_unit_test(test_parse_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

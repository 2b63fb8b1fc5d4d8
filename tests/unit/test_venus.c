/* Unit tests of the Venus codec (bridge/codec_venus.c) against the status dump and
 * commands of the Venus MQTT document and the corrections in docs/design.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "map.h"
#include "mb_error.h"
#include "codec_venus.h"
#include "venus_examples.h"

/* The document's example answer to cd=01, byte for byte. */
static const char venus__dump[] = VENUS_DOC_DUMP;

static struct venus_reply venus__r; /* large: keep it off the stack */

static int64_t get_int(const struct venus_reply *r, const char *key, int field)
{
	const struct venus_pair *p = codec_venus_find(r, key);
	int64_t v = 0x7fffffff;
	assert_non_null(p);
	assert_int_equal(codec_venus_pair_int(p, field, &v), 0);
	return v;
}

static void test_dump_parses(void **state)
{
	(void)state;
	struct venus_reply *r = &venus__r;
	int n = codec_venus_parse(venus__dump, strlen(venus__dump), r);
	assert_int_equal(n, 49); /* the keys of the document's table */
	assert_int_equal(r->malformed, 0);
	assert_int_equal(r->has_cd, 0);
	assert_int_equal(codec_venus_classify(r, NULL), VENUS_STATUS);
	assert_int_equal(get_int(r, "cel_c", -1), 27);
	assert_int_equal(get_int(r, "grd_o", -1), 807);
	assert_int_equal(get_int(r, "tot_i", -1), 44785);
	assert_int_equal(get_int(r, "tot_o", -1), 36889);
	assert_int_equal(get_int(r, "inc_m", -1), -111);
	assert_int_equal(get_int(r, "inc_a", -1), -152);
	assert_int_equal(get_int(r, "tra_o", -1), 600000);
	assert_int_equal(get_int(r, "dchrg_t", -1), 255);
	assert_true(get_int(r, "fc_v", -1) == 202407221950LL);
	assert_null(codec_venus_find(r, "nope"));
	assert_null(codec_venus_find(r, "tot")); /* prefixes do not match */
}

static void test_fields(void **state)
{
	(void)state;
	struct venus_reply *r = &venus__r;
	codec_venus_parse(venus__dump, strlen(venus__dump), r);
	static const int64_t tim0[7] = {14, 0, 17, 0, 127, 800, 1};
	static const int64_t tim8[7] = {9, 10, 12, 0, 127, -2500, 0};
	for (int f = 0; f < 7; f++) {
		assert_int_equal(get_int(r, "tim_0", f), tim0[f]);
		assert_int_equal(get_int(r, "tim_8", f), tim8[f]);
	}
	assert_int_equal(get_int(r, "tim_3", 3), 59);
	/* The B2500 writes its timers as H:M: ':' separates fields too. */
	static const char b2500[] = "d1=1,e1=0:0,f1=23:59,e4=2:0,h1=800";
	struct venus_reply b;
	assert_int_equal(codec_venus_parse(b2500, strlen(b2500), &b), 5);
	assert_int_equal(get_int(&b, "f1", 0), 23);
	assert_int_equal(get_int(&b, "f1", 1), 59);
	assert_int_equal(get_int(&b, "e4", 0), 2);
	assert_int_equal(get_int(&b, "e4", 1), 0);
	int64_t hm;
	assert_int_equal(codec_venus_pair_int(codec_venus_find(&b, "e1"), 2, &hm), MB_ENOENT);
	assert_int_equal(codec_venus_pair_int(codec_venus_find(&b, "e1"), -1, &hm), MB_EPARSE);
	assert_int_equal(get_int(r, "tim_1", 5), -800);
	/* An eighth field does not exist. */
	int64_t v;
	assert_int_equal(codec_venus_pair_int(codec_venus_find(r, "tim_0"), 7, &v), MB_ENOENT);
	/* The whole value is not a number. */
	assert_int_equal(codec_venus_pair_int(codec_venus_find(r, "tim_0"), -1, &v), MB_EPARSE);
	/* Field 0 of a plain value is the value. */
	assert_int_equal(get_int(r, "cel_c", 0), 27);

	const char *s;
	size_t n;
	assert_int_equal(codec_venus_field(codec_venus_find(r, "tim_0"), 6, &s, &n), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(s, "1", 1);
}

static void test_strings(void **state)
{
	(void)state;
	struct venus_reply *r = &venus__r;
	codec_venus_parse(venus__dump, strlen(venus__dump), r);
	char buf[64];
	assert_int_equal(codec_venus_pair_str(codec_venus_find(r, "wifi_n"), -1, buf, sizeof buf),
			 0);
	assert_string_equal(buf, "Hame");
	assert_int_equal(codec_venus_pair_str(codec_venus_find(r, "fc_v"), -1, buf, sizeof buf), 0);
	assert_string_equal(buf, "202407221950");
	char small[4];
	assert_int_equal(
	    codec_venus_pair_str(codec_venus_find(r, "wifi_n"), -1, small, sizeof small),
	    MB_ETOOBIG);
	assert_string_equal(small, "Ham");
	int64_t v;
	assert_int_equal(codec_venus_pair_int(codec_venus_find(r, "wifi_n"), -1, &v), MB_EPARSE);

	/* Spaces and punctuation other than ',' belong to a value. */
	const char *msg = "wifi_n=My Home-5G (2),x=1";
	assert_int_equal(codec_venus_parse(msg, strlen(msg), r), 2);
	assert_int_equal(codec_venus_pair_str(codec_venus_find(r, "wifi_n"), -1, buf, sizeof buf),
			 0);
	assert_string_equal(buf, "My Home-5G (2)");
	/* An empty value is a value. */
	msg = "wifi_n=,cel_c=5";
	assert_int_equal(codec_venus_parse(msg, strlen(msg), r), 2);
	assert_int_equal(codec_venus_find(r, "wifi_n")->vlen, 0);
}

static void test_leading_cd(void **state)
{
	(void)state;
	struct venus_reply *r = &venus__r;
	char msg[sizeof venus__dump + 8];
	snprintf(msg, sizeof msg, "cd=1,%s\r\n", venus__dump);
	assert_int_equal(codec_venus_parse(msg, strlen(msg), r), 49);
	assert_int_equal(r->has_cd, 1);
	assert_int_equal(r->cd, 1);
	assert_null(codec_venus_find(r, "cd"));
	assert_int_equal(codec_venus_classify(r, NULL), VENUS_STATUS);
	assert_non_null(codec_venus_find(r, "wifi_n"));

	/* cd=01 is the same command. */
	assert_int_equal(codec_venus_parse("cd=01,cel_c=3", 13, r), 1);
	assert_int_equal(r->cd, 1);
	/* Only a leading cd counts; a later one is a pair. */
	assert_int_equal(codec_venus_parse("cel_c=3,cd=4", 12, r), 2);
	assert_int_equal(r->has_cd, 0);
	assert_non_null(codec_venus_find(r, "cd"));
}

static void test_acks(void **state)
{
	(void)state;
	int ret = -1;
	int64_t cd = 99;
	assert_int_equal(codec_venus_parse_ack("ret=1", 5, &ret, &cd), 0);
	assert_int_equal(ret, 1);
	assert_int_equal(cd, -1);
	assert_int_equal(codec_venus_parse_ack("ret=0", 5, &ret, &cd), 0);
	assert_int_equal(ret, 0);
	assert_int_equal(codec_venus_parse_ack("cd=16,ret=1", 11, &ret, &cd), 0);
	assert_int_equal(ret, 1);
	assert_int_equal(cd, 16);
	assert_int_equal(codec_venus_parse_ack("cd=11,ret=0\n", 12, &ret, &cd), 0);
	assert_int_equal(ret, 0);
	assert_int_equal(cd, 11);

	/* Not acks. */
	assert_int_equal(codec_venus_parse_ack("ret=2", 5, &ret, &cd), MB_EPARSE);
	assert_int_equal(codec_venus_parse_ack("ret=", 4, &ret, &cd), MB_EPARSE);
	assert_int_equal(codec_venus_parse_ack("ret=1,cel_c=3", 13, &ret, &cd), MB_EPARSE);
	assert_int_equal(codec_venus_parse_ack("cd=16", 5, &ret, &cd), MB_EPARSE);
	assert_int_equal(codec_venus_parse_ack("", 0, &ret, &cd), MB_EPARSE);
	assert_int_equal(codec_venus_parse_ack("ret", 3, &ret, &cd), MB_EPARSE);
	assert_int_equal(codec_venus_parse_ack("ret=1,junk", 10, &ret, &cd), MB_EPARSE);
	assert_int_equal(codec_venus_parse_ack(venus__dump, strlen(venus__dump), &ret, &cd),
			 MB_EPARSE);

	/* Status replies and acks are told apart. */
	struct venus_reply *r = &venus__r;
	codec_venus_parse("cd=15,ret=1", 11, r);
	ret = -1;
	assert_int_equal(codec_venus_classify(r, &ret), VENUS_ACK);
	assert_int_equal(ret, 1);
	codec_venus_parse("ret=1,cel_c=3", 13, r);
	assert_int_equal(codec_venus_classify(r, &ret), VENUS_MALFORMED);
	codec_venus_parse("cd=1", 4, r);
	assert_int_equal(codec_venus_classify(r, &ret), VENUS_MALFORMED);
	codec_venus_parse("get_power=1|2|3|6|5", 19, r);
	assert_int_equal(codec_venus_classify(r, &ret), VENUS_STATUS);
}

static void test_malformed(void **state)
{
	(void)state;
	struct venus_reply *r = &venus__r;
	char longkey[64], longval[VENUS_MAX_VALUE + 16], msg[1024];
	memset(longkey, 'k', 40);
	longkey[40] = 0;
	memset(longval, '9', VENUS_MAX_VALUE + 1);
	longval[VENUS_MAX_VALUE + 1] = 0;
	snprintf(msg, sizeof msg, "cel_c=27,noequals,=5,%s=1,grd_o=%s,b@d=3,ctl=a\x01,,grd_t=3,",
		 longkey, longval);
	assert_int_equal(codec_venus_parse(msg, strlen(msg), r), 2);
	assert_int_equal(r->malformed, 6);
	assert_int_equal(get_int(r, "cel_c", -1), 27);
	assert_int_equal(get_int(r, "grd_t", -1), 3);
	assert_null(codec_venus_find(r, "grd_o"));

	/* Exactly the limits are fine. */
	longkey[VENUS_MAX_KEY] = 0;
	longval[VENUS_MAX_VALUE] = 0;
	snprintf(msg, sizeof msg, "%s=%s", longkey, longval);
	assert_int_equal(codec_venus_parse(msg, strlen(msg), r), 1);
	assert_int_equal(r->malformed, 0);

	/* Pairs beyond VENUS_MAX_PAIRS are counted, not stored. */
	static char many[VENUS_MAX_PAIRS * 8 + 64];
	size_t used = 0;
	for (int i = 0; i < VENUS_MAX_PAIRS + 3; i++)
		used += (size_t)snprintf(many + used, sizeof many - used, "k%d=%d,", i, i);
	assert_int_equal(codec_venus_parse(many, used, r), VENUS_MAX_PAIRS);
	assert_int_equal(r->malformed, 3);

	/* Nothing at all. */
	assert_int_equal(codec_venus_parse("", 0, r), 0);
	assert_int_equal(codec_venus_classify(r, NULL), VENUS_MALFORMED);
	assert_int_equal(codec_venus_parse(" \r\n", 3, r), 0);
	assert_int_equal(codec_venus_parse("\0\0\0", 3, r), 0);
	assert_int_equal(codec_venus_parse(NULL, 3, r), MB_EINVAL);

	/* docs/protocols/venus.md: whatever the input, nothing of the previous message stays
	 * (its pairs point into a buffer that may be freed by now). An empty
	 * MQTT message arrives as NULL, 0. */
	char prev[] = "cel_c=27,cel_p=138";
	assert_int_equal(codec_venus_parse(prev, strlen(prev), r), 2);
	assert_int_equal(codec_venus_parse(NULL, 0, r), 0);
	assert_int_equal(r->npairs, 0);
	assert_null(codec_venus_find(r, "cel_c"));
	assert_int_equal(codec_venus_classify(r, NULL), VENUS_MALFORMED);
	assert_int_equal(codec_venus_parse(prev, strlen(prev), r), 2);
	assert_int_equal(codec_venus_parse(NULL, 3, r), MB_EINVAL);
	assert_int_equal(r->npairs, 0);
	assert_int_equal(codec_venus_classify(r, NULL), VENUS_MALFORMED);
	assert_int_equal(codec_venus_parse("cd=16,ret=1", 11, r), 1);
	assert_int_equal(codec_venus_parse(NULL, 0, r), 0);
	assert_false(r->has_cd);
	assert_int_equal(codec_venus_parse("x", 1, NULL), MB_EINVAL);

	/* Numbers: signs, overflow, junk. */
	int64_t v;
	assert_int_equal(codec_venus_int("-0", 2, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(codec_venus_int("+12", 3, &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(codec_venus_int("9223372036854775807", 19, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(codec_venus_int("-9223372036854775808", 20, &v), 0);
	assert_true(v == INT64_MIN);
	assert_int_equal(codec_venus_int("9223372036854775808", 19, &v), MB_ERANGE);
	assert_int_equal(codec_venus_int("-", 1, &v), MB_EPARSE);
	assert_int_equal(codec_venus_int("", 0, &v), MB_EPARSE);
	assert_int_equal(codec_venus_int("12a", 3, &v), MB_EPARSE);
	assert_int_equal(codec_venus_int("1 2", 3, &v), MB_EPARSE);
	assert_int_equal(codec_venus_int("0x10", 4, &v), MB_EPARSE);
}

static void test_render(void **state)
{
	(void)state;
	char out[128];
	int64_t one[1] = {1200};
	assert_int_equal(codec_venus_render("cd=16,cp={value}", one, 1, out, sizeof out), 13);
	assert_string_equal(out, "cd=16,cp=1200");
	int64_t neg[1] = {-800};
	assert_true(codec_venus_render("x={0}", neg, 1, out, sizeof out) > 0);
	assert_string_equal(out, "x=-800");

	int64_t per[8] = {0, 8, 30, 20, 30, 127, -800, 1};
	int n = codec_venus_render("cd=3,md=1,nm={0},bt={1}:{2},et={3}:{4},wk={5},vv={6},as={7}",
				   per, 8, out, sizeof out);
	assert_string_equal(out, "cd=3,md=1,nm=0,bt=8:30,et=20:30,wk=127,vv=-800,as=1");
	assert_int_equal(n, (int)strlen(out));

	int64_t tra[3] = {41, 40000, 600000};
	codec_venus_render("cd=3,md=2,id={0},in={1},on={2}", tra, 3, out, sizeof out);
	assert_string_equal(out, "cd=3,md=2,id=41,in=40000,on=600000");

	/* Zero-padded minutes (docs/protocols/venus.md): {N:0W}; the hour stays as it is. */
	int64_t pad[4] = {23, 5, 8, 0};
	assert_int_equal(codec_venus_render("bt={0}:{1:02},et={2}:{3:02}", pad, 4, out, sizeof out),
			 16);
	assert_string_equal(out, "bt=23:05,et=8:00");
	int64_t wide[1] = {30};
	codec_venus_render("{value:02}", wide, 1, out, sizeof out);
	assert_string_equal(out, "30");
	assert_int_equal(codec_venus_render("{0:2}", wide, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("{0:00}", wide, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("{0:012}", wide, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_template_max_index("bt={0}:{1:02}"), 1);
	assert_int_equal(codec_venus_template_max_index("bt={0}:{1:x2}"), MB_EPARSE);

	/* A template without placeholders is copied. */
	assert_int_equal(codec_venus_render("cd=1", NULL, 0, out, sizeof out), 4);
	assert_string_equal(out, "cd=1");

	/* Unknown placeholders. */
	assert_int_equal(codec_venus_render("cd=16,cp={val}", one, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("cd=16,cp={1}", one, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("cd=16,cp={}", one, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("cd=16,cp={value", one, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("cd=16,cp={-1}", one, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("cd=16,cp={1234}", one, 1, out, sizeof out), MB_EPARSE);
	assert_int_equal(codec_venus_render("cd=16,cp={value}", NULL, 0, out, sizeof out),
			 MB_EPARSE);

	/* Overflow: the text, then a number, then the terminator. */
	char tiny[14];
	assert_int_equal(codec_venus_render("cd=16,cp={value}", one, 1, tiny, 13), MB_ETOOBIG);
	assert_int_equal(codec_venus_render("cd=16,cp={value}", one, 1, tiny, 14), 13);
	assert_int_equal(codec_venus_render("cd=16,cp={value}", one, 1, tiny, 9), MB_ETOOBIG);
	assert_int_equal(codec_venus_render("cd=16,cp={value}", one, 1, tiny, 11), MB_ETOOBIG);
	assert_int_equal(codec_venus_render("cd=1", NULL, 0, tiny, 4), MB_ETOOBIG);
	int64_t big[1] = {INT64_MIN};
	assert_true(codec_venus_render("{0}", big, 1, out, sizeof out) == 20);
	assert_string_equal(out, "-9223372036854775808");

	/* Template checks for map loading. */
	assert_int_equal(codec_venus_template_max_index("cd=16,cp={value}"), 0);
	assert_int_equal(codec_venus_template_max_index("cd=1"), -1);
	assert_int_equal(codec_venus_template_max_index("a={0},b={6},c={3}"), 6);
	assert_int_equal(codec_venus_template_max_index("a={x}"), MB_EPARSE);
	assert_int_equal(codec_venus_template_max_index("a={0"), MB_EPARSE);
}

static void test_ids_and_topics(void **state)
{
	(void)state;
	assert_true(codec_venus_id_valid("0123456789ab"));
	assert_true(codec_venus_id_valid("abcdefabcdef"));
	assert_false(codec_venus_id_valid("0123456789AB"));  /* upper case */
	assert_false(codec_venus_id_valid("0123456789a"));   /* 11 */
	assert_false(codec_venus_id_valid("0123456789abc")); /* 13 */
	assert_false(codec_venus_id_valid("0123456789ag"));
	assert_false(codec_venus_id_valid("01:23:45:67:89:ab"));
	assert_false(codec_venus_id_valid(""));
	assert_false(codec_venus_id_valid(NULL));

	assert_true(codec_venus_topic_level_valid("HMG-50"));
	assert_false(codec_venus_topic_level_valid("HMG/50"));
	assert_false(codec_venus_topic_level_valid("HMG+"));
	assert_false(codec_venus_topic_level_valid("#"));
	assert_false(codec_venus_topic_level_valid(""));

	char t[64];
	assert_int_equal(
	    codec_venus_topic(t, sizeof t, "hame_energy", "HMG-50", "App", "0123456789ab"),
	    (int)strlen("hame_energy/HMG-50/App/0123456789ab/ctrl"));
	assert_string_equal(t, "hame_energy/HMG-50/App/0123456789ab/ctrl");
	codec_venus_topic(t, sizeof t, "marstek_energy", "HMG-50", "device", "0123456789ab");
	assert_string_equal(t, "marstek_energy/HMG-50/device/0123456789ab/ctrl");
	assert_int_equal(codec_venus_topic(t, 10, "hame_energy", "HMG-50", "App", "0123456789ab"),
			 MB_ETOOBIG);
}

/* maps/venus.conf against the document's dump: lint-clean, every key of the
 * dump has a register, every register's key and field is in the dump and its
 * value fits the register, and every write renders. */
static void test_map(void **state)
{
	(void)state;
	char err[4096];
	struct map *m = map_load("maps/venus.conf", err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	assert_int_equal(map_lint(m, err, sizeof err), 0);
	assert_string_equal(map_protocol(m), "venus");
	/* 39 status, 70 period registers from cd=1; 5 of cd=19, 27 of cd=14 */
	assert_int_equal(map_nregs(m), 39 + 70 + 5 + 27);
	assert_int_equal(map_ncommands(m), 11);
	const struct map_defaults *d = map_defaults(m);
	assert_true(d->poll == 60000 && d->min_interval == 60000 && d->max_age == 180000 &&
		    d->timeout == 10000);

	struct venus_reply *r = &venus__r;
	codec_venus_parse(venus__dump, strlen(venus__dump), r);
	for (size_t i = 0; i < r->npairs; i++) {
		int found = 0;
		for (size_t j = 0; j < map_nregs(m); j++) {
			const struct map_register *g = map_reg(m, j);
			found |= g->key && strlen(g->key) == r->pairs[i].klen &&
				 memcmp(g->key, r->pairs[i].key, r->pairs[i].klen) == 0;
		}
		if (!found)
			fail_msg("key %.*s has no register", (int)r->pairs[i].klen,
				 r->pairs[i].key);
	}
	for (size_t j = 0; j < map_nregs(m); j++) {
		const struct map_register *g = map_reg(m, j);
		if (g->query) { /* another command's reply (test_maps_venus) */
			assert_false(g->access & MAP_W);
			continue;
		}
		const struct venus_pair *p = codec_venus_find(r, g->key);
		uint16_t w[64];
		if (!p)
			fail_msg("register %s: key %s not in the dump", g->name, g->key);
		if (g->type == MAP_STRING) {
			char text[VENUS_MAX_VALUE + 1];
			assert_int_equal(codec_venus_pair_str(p, g->field, text, sizeof text), 0);
			assert_int_equal(map_encode_string(g, text, w), 0);
			continue;
		}
		int64_t v;
		if (codec_venus_pair_int(p, g->field, &v) != 0 || map_encode(g, v, w) != 0)
			fail_msg("register %s: %.*s does not fit", g->name, (int)p->vlen, p->val);
		assert_true(map_decode(g, w) == v);
		/* Writable registers: the dump's values pass the map's limits,
		 * so the limits are not narrower than what devices report. */
		if ((g->access & MAP_W) && !map_value_ok(g, v))
			fail_msg("register %s: dump value %lld outside its limits", g->name,
				 (long long)v);
		if (g->write) {
			char out[64];
			int64_t arg = v;
			assert_true(codec_venus_render(g->write, &arg, 1, out, sizeof out) > 0);
		}
	}
	/* Commands: {n} indexes the registers they cover. */
	for (size_t i = 0; i < map_ncommands(m); i++) {
		const struct map_command *c = map_command(m, i);
		int64_t args[16];
		size_t n = 0;
		for (uint32_t a = c->address; a < (uint32_t)c->address + c->count;) {
			const struct map_register *g = map_find(m, MAP_HOLDING, (uint16_t)a);
			assert_non_null(g);
			assert_int_equal(g->address, a);
			args[n++] = g->has_min ? g->min : 0;
			a += g->count;
		}
		assert_int_equal(codec_venus_template_max_index(c->template), (int)n - 1);
		char out[128];
		assert_true(codec_venus_render(c->template, args, n, out, sizeof out) > 0);
		assert_false(c->ack); /* cd=3 gets no ret= */
	}
	const struct map_command *c = map_find_command(m, 100, 7);
	assert_non_null(c);
	char out[128];
	int64_t per[7] = {8, 30, 20, 30, 127, -800, 1};
	codec_venus_render(c->template, per, 7, out, sizeof out);
	assert_string_equal(out, "cd=3,md=1,nm=0,bt=8:30,et=20:30,wk=127,vv=-800,as=1");
	/* Never in the map: factory reset, firmware upgrades. */
	for (size_t j = 0; j < map_nregs(m); j++) {
		const char *w = map_reg(m, j)->write;
		assert_true(!w || (strncmp(w, "cd=5,", 5) && strncmp(w, "cd=9,", 5) &&
				   strncmp(w, "cd=20,", 6)));
	}
	map_free(m);
}

/* The marstek_energy topic ID of newer B2500 firmware: the vectors the
 * hm2mqtt project's own test (src/utils/crypt.test.ts) checks its AES-128-CBC
 * of the MAC against. */
static void test_topic_id(void **state)
{
	(void)state;
	char out[VENUS_TOPIC_ID_LEN + 1];
#if MB_WITH_CRYPTO
	assert_int_equal(codec_venus_topic_id_encrypt("badbeefbadbe", out, sizeof out), 32);
	assert_string_equal(out, "e6a1f1765cdd26ff05e2afcc5df17a9b");
	assert_int_equal(codec_venus_topic_id_encrypt("feeba7123456", out, sizeof out), 32);
	assert_string_equal(out, "757a6deefc6ab2b3764d61e64fb2a931");
	/* not a MAC, or no room: refused, never a half-written ID */
	assert_int_equal(codec_venus_topic_id_encrypt("BADBEEFBADBE", out, sizeof out), MB_EINVAL);
	assert_int_equal(codec_venus_topic_id_encrypt("badbeefbadb", out, sizeof out), MB_EINVAL);
	assert_int_equal(codec_venus_topic_id_encrypt("badbeefbadbe", out, 32), MB_EINVAL);
#else
	assert_int_equal(codec_venus_topic_id_encrypt("badbeefbadbe", out, sizeof out), MB_EPROTO);
#endif
	assert_true(codec_venus_type_encrypts("HMA-1"));
	assert_true(codec_venus_type_encrypts("HMJ"));
	assert_true(codec_venus_type_encrypts("HMK-2"));
	assert_true(codec_venus_type_encrypts("HMF-x"));
	assert_false(codec_venus_type_encrypts("HMB-1")); /* v1: plain MAC */
	assert_false(codec_venus_type_encrypts("HMG-50"));
	assert_false(codec_venus_type_encrypts("HMAX-1"));
	assert_false(codec_venus_type_encrypts("HM"));
	assert_false(codec_venus_type_encrypts(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dump_parses), cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_strings),	cmocka_unit_test(test_leading_cd),
	    cmocka_unit_test(test_acks),	cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_render),	cmocka_unit_test(test_ids_and_topics),
	    cmocka_unit_test(test_map),		cmocka_unit_test(test_topic_id),
	};
	return cmocka_run_group_tests_name("venus", tests, NULL, NULL);
}

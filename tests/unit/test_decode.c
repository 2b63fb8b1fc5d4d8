/* One decoder for every face (include/values.h), as a property: for every
 * register of every shipped map (every .conf in maps/) and of a map with every type,
 * word order and a few scales, random register words are stored in a
 * device's cache, read back through the Modbus face (device_read, the words
 * a Modbus client gets), decoded by this file's own reference decoder — the
 * one a Modbus client would write from the map: sign, word order, scale,
 * IEEE 754 single from its fields, strings up to their first NUL and decoded
 * as UTF-8 the WHATWG way — and compared with what each face shows:
 *
 *   - values_each's item (raw, value, text), what every face takes;
 *   - the registers document (values_json: REST, the page and the MQTT
 *     export's payload), parsed by json-c's strict parser with UTF-8
 *     validation;
 *   - the InfluxDB line (values_line_field, what export_influx.c writes),
 *     parsed back with the line-protocol parser;
 *   - the register reference (--print-map --json) for every value it prints
 *     (`default`, `constant`), against the words the device serves for it.
 *
 * The words are drawn from a fixed seed, biased toward the patterns that
 * break decoders (0x8000, 0xFFFF, NaN and infinities, 0xFF strings,
 * truncated and overlong UTF-8, surrogates, NUL inside a string, control
 * characters). */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "codec_line.h"
#include "config.h"
#include "device.h"
#include "harness.h"
#include "json.h"
#include "map.h"
#include "transport.h"
#include "values.h"

#include "silent_transport.h"

#define ROUNDS 40

/* --- a transport that never answers: the cache is all there is ---------- */

static const struct transport_ops fake_ops = SILENT_TRANSPORT(125);

/* --- random words -------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static uint16_t rnd_word(void)
{
	static const uint16_t special[] = {0x0000, 0xFFFF, 0x8000, 0x7FFF, 0x0001, 0x7F80,
					   0xFF80, 0x7FC0, 0xFFC0, 0x7F7F, 0x0080, 0x4366};
	uint32_t k = rnd() % 3;
	if (k == 0)
		return special[rnd() % (sizeof special / sizeof special[0])];
	return (uint16_t)rnd();
}

static uint8_t rnd_byte(void)
{
	static const uint8_t special[] = {'a',	'Z',  ' ',  '"',  '\\', 0x00, 0xFF, 0xFE,
					  0xC3, 0xA9, 0x28, 0xED, 0xA0, 0x80, 0xE2, 0x82,
					  0xAC, 0xF0, 0x9F, 0x98, 0xC0, 0xAF, 0xF4, 0x90,
					  0x01, 0x1F, 0x7F, '\n', 0xF5, 0xBF, 0xE0, 0x9F};
	uint32_t k = rnd() % 4;
	if (k == 0)
		return (uint8_t)rnd();
	if (k == 1)
		return (uint8_t)('0' + rnd() % 40);
	return special[rnd() % (sizeof special / sizeof special[0])];
}

static void rnd_words(const struct map_register *r, uint16_t *w)
{
	/* A derived register: half of the time a device value that fits. */
	if (map_derived(r) && rnd() % 2) {
		int64_t native =
		    r->xlat ? r->xlat[rnd() % r->nxlat][1] : (int64_t)(rnd() % 200) - 100;
		if (map_encode(r, native, w) == 0)
			return;
	}
	for (uint16_t i = 0; i < r->count; i++) {
		if (r->type == MAP_STRING) {
			uint8_t hi = rnd_byte(), lo = rnd_byte();
			/* Zero padding now and then: a text shorter than the register. */
			if (i > 0 && rnd() % 5 == 0)
				hi = lo = 0;
			w[i] = (uint16_t)(hi << 8 | lo);
		} else {
			w[i] = rnd_word();
		}
	}
}

/* --- the reference decoder: what a Modbus client makes of the words ------ */

struct ref {
	int is_text;
	int64_t raw;	 /* integer types: the integer; float32: its bits */
	int is_float;	 /* float32 */
	float f;	 /* float32: the single */
	double unscaled; /* the integer, or the single */
	char text[1024]; /* strings */
	size_t text_len;
};

/* An IEEE 754 single from sign, exponent and fraction, without the
 * machine's float layout. */
static float ref_single(uint32_t bits)
{
	int sign = bits >> 31;
	int exp = (int)(bits >> 23 & 0xFF);
	uint32_t frac = bits & 0x7FFFFF;
	double v;
	if (exp == 0xFF)
		v = frac ? NAN : INFINITY;
	else if (exp == 0)
		v = ldexp((double)frac, -149);
	else
		v = ldexp((double)(frac | 0x800000), exp - 150);
	return (float)(sign ? -v : v);
}

/* UTF-8 to code points the way the WHATWG Encoding Standard's decoder does
 * it (a state machine with bounds on the next byte), each error one U+FFFD,
 * written back as UTF-8. */
static size_t ref_utf8(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i = 0;
	uint32_t cp = 0, seen = 0, need = 0;
	uint8_t lower = 0x80, upper = 0xBF;

#define REF_PUT(c)                                                                                 \
	do {                                                                                       \
		uint32_t c_ = (c);                                                                 \
		if (c_ < 0x80) {                                                                   \
			out[o++] = (char)c_;                                                       \
		} else if (c_ < 0x800) {                                                           \
			out[o++] = (char)(0xC0 | c_ >> 6);                                         \
			out[o++] = (char)(0x80 | (c_ & 0x3F));                                     \
		} else if (c_ < 0x10000) {                                                         \
			out[o++] = (char)(0xE0 | c_ >> 12);                                        \
			out[o++] = (char)(0x80 | (c_ >> 6 & 0x3F));                                \
			out[o++] = (char)(0x80 | (c_ & 0x3F));                                     \
		} else {                                                                           \
			out[o++] = (char)(0xF0 | c_ >> 18);                                        \
			out[o++] = (char)(0x80 | (c_ >> 12 & 0x3F));                               \
			out[o++] = (char)(0x80 | (c_ >> 6 & 0x3F));                                \
			out[o++] = (char)(0x80 | (c_ & 0x3F));                                     \
		}                                                                                  \
	} while (0)

	while (i < n) {
		uint8_t b = in[i];
		if (need == 0) {
			i++;
			if (b <= 0x7F) {
				REF_PUT(b);
			} else if (b >= 0xC2 && b <= 0xDF) {
				need = 1;
				cp = b & 0x1F;
			} else if (b >= 0xE0 && b <= 0xEF) {
				if (b == 0xE0)
					lower = 0xA0;
				if (b == 0xED)
					upper = 0x9F;
				need = 2;
				cp = b & 0xF;
			} else if (b >= 0xF0 && b <= 0xF4) {
				if (b == 0xF0)
					lower = 0x90;
				if (b == 0xF4)
					upper = 0x8F;
				need = 3;
				cp = b & 0x7;
			} else {
				REF_PUT(0xFFFD);
			}
			continue;
		}
		if (b < lower || b > upper) {
			/* The byte is not consumed: it starts over. */
			cp = need = seen = 0;
			lower = 0x80, upper = 0xBF;
			REF_PUT(0xFFFD);
			continue;
		}
		lower = 0x80, upper = 0xBF;
		cp = cp << 6 | (b & 0x3F);
		seen++;
		i++;
		if (seen == need) {
			REF_PUT(cp);
			cp = need = seen = 0;
		}
	}
	if (need)
		REF_PUT(0xFFFD);
	out[o] = '\0';
	return o;
#undef REF_PUT
}

static void ref_decode(const struct map_register *r, const uint16_t *w, struct ref *x)
{
	memset(x, 0, sizeof *x);
	switch (r->type) {
	case MAP_INT16:
		x->raw = (int64_t)w[0] - (w[0] >= 0x8000 ? 0x10000 : 0);
		break;
	case MAP_UINT16:
		x->raw = w[0];
		break;
	case MAP_INT32:
	case MAP_UINT32:
	case MAP_FLOAT32: {
		uint32_t hi = r->word_little ? w[1] : w[0], lo = r->word_little ? w[0] : w[1];
		int64_t u = (int64_t)hi * 65536 + lo;
		x->raw = r->type == MAP_INT32 && u >= 0x80000000ll ? u - 0x100000000ll : u;
		if (r->type == MAP_FLOAT32) {
			x->is_float = 1;
			x->f = ref_single((uint32_t)u);
		}
		break;
	}
	case MAP_STRING: {
		uint8_t bytes[256];
		size_t n = 0;
		x->is_text = 1;
		for (uint16_t i = 0; i < r->count; i++) {
			bytes[n++] = (uint8_t)(w[i] >> 8);
			bytes[n++] = (uint8_t)w[i];
		}
		size_t len = 0;
		while (len < n && bytes[len])
			len++;
		x->text_len = ref_utf8(bytes, len, x->text);
		return;
	}
	}
	x->unscaled = x->is_float ? (double)x->f : (double)x->raw;
}

/* Does a face's number v show the reference's value? Integers with no scale
 * exactly; scaled integers to the double's precision; a single to its own
 * precision, exactly when it has no scale. */
static int ref_same_value(const struct map_register *r, const struct ref *x, double v)
{
	double want = x->unscaled * r->scale;
	if (x->is_float) {
		if (r->scale == 1.0)
			return (float)v == x->f;
		return fabs(v - want) <= 1e-6 * fabs(want) + 1e-44 * r->scale;
	}
	if (r->scale == 1.0)
		return v == (double)x->raw;
	return fabs(v - want) <= 1e-12 * fabs(want);
}

/* Has the reference a value to show as a number (not a NaN, not infinite)? */
static int ref_has_number(const struct map_register *r, const struct ref *x)
{
	return !x->is_text && isfinite(x->unscaled * r->scale);
}

/* --- the faces ----------------------------------------------------------- */

struct shown {
	int valid, number;
	int64_t raw;
	double value;
	char *text;
};

struct collect {
	struct shown *s;
	size_t n;
};

static int collect_one(void *ctx, const struct values_item *v)
{
	struct collect *c = ctx;
	struct shown *s = &c->s[c->n++];
	s->valid = v->valid;
	s->number = v->number;
	s->raw = v->raw;
	s->value = v->scaled;
	s->text = v->text ? strdup(v->text) : NULL;
	return 0;
}

/* What export_influx.c does for each register. */
static int line_one(void *ctx, const struct values_item *v)
{
	values_line_field(ctx, v);
	return 0;
}

/* Parse text strictly (RFC 8259, UTF-8 validated); NULL when json-c refuses. */
static json_object *strict_parse(const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	assert_non_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  json_tokener_get_parse_end(tok) != len)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

struct rig {
	uv_loop_t loop;
	struct map *map;
	struct config conf;
	struct config_device dcfg;
	struct device *dev;
};

static void rig_open(struct rig *g, struct map *m)
{
	char err[512];
	memset(g, 0, sizeof *g);
	g->map = m;
	g->conf.path = "test.conf";
	g->conf.defaults.timeout = 3000;
	g->conf.defaults.max_age = 600000;
	g->conf.defaults.retries = -1;
	g->dcfg.name = "dev";
	g->dcfg.unit_id = 1;
	g->dcfg.map = (char *)map_name(m);
	g->dcfg.timeout = g->dcfg.max_age = g->dcfg.poll = g->dcfg.min_interval = g->dcfg.retries =
	    -1;
	uv_loop_init(&g->loop);
	if (device_create_ops(&g->loop, &g->conf, &g->dcfg, m, &fake_ops, &g->dev, err,
			      sizeof err) != 0)
		fail_msg("%s: %s", map_name(m), err);
}

static void rig_close(struct rig *g)
{
	device_close(g->dev);
	uv_run(&g->loop, UV_RUN_DEFAULT);
	uv_loop_close(&g->loop);
	map_free(g->map);
}

static void on_read(void *ctx, enum mb_exc exc, const uint16_t *words, uint16_t count)
{
	(void)ctx, (void)exc, (void)words, (void)count;
}

/* The words a Modbus client gets for r (FC03/FC04), or, where the Modbus
 * face does not read it (write-only, or not answered from the cache), the
 * cache's words. */
static void served_words(struct rig *g, const struct map_register *r, uint16_t *w)
{
	struct device_req *req = NULL;
	uint64_t stamp;
	if (r->access & MAP_R) {
		struct device_outcome o = device_read(g->dev, r->table == MAP_INPUT ? 0x04 : 0x03,
						      r->address, r->count, w, on_read, NULL, &req);
		if (!o.pending && o.exc == MB_EXC_NONE)
			return;
		if (o.pending)
			device_cancel(req);
	}
	device_cache_peek(g->dev, r, w, &stamp);
}

static const char *json_get_str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* One round: random words into every register, then every face against the
 * reference. Returns the number of registers compared. */
static size_t one_round(struct rig *g)
{
	size_t n = map_nregs(g->map);
	uint16_t w[128];
	const char *mname = map_name(g->map);

	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(g->map, i);
		rnd_words(r, w);
		device_cache_store(g->dev, r->table, r->address, r->count, w);
	}

	/* values_each */
	struct shown *s = calloc(n, sizeof *s);
	assert_non_null(s);
	struct collect c = {.s = s};
	uv_update_time(&g->loop);
	assert_int_equal(values_each(g->dev, uv_now(&g->loop), collect_one, &c), 0);
	assert_int_equal(c.n, n);

	/* The registers document: REST, the page, the MQTT export. */
	struct json j;
	size_t len;
	json_init_buf(&j);
	assert_int_equal(values_json(&j, g->dev, uv_now(&g->loop)), 0);
	char *doc = json_take(&j, &len);
	assert_non_null(doc);
	json_object *root = strict_parse(doc, len);
	if (!root)
		fail_msg("%s: the registers document is not strict JSON: %.300s", mname, doc);
	json_object *regs;
	assert_true(json_object_object_get_ex(root, "registers", &regs));
	assert_int_equal(json_object_array_length(regs), n);

	/* The InfluxDB line. */
	size_t cap = 64 * 1024 + n * 1024;
	char *buf = malloc(cap), *scratch = malloc(cap);
	struct line_field *fields = calloc(n + 1, sizeof *fields);
	assert_true(buf && scratch && fields);
	struct line_writer lw;
	codec_line_writer_init(&lw, buf, cap);
	codec_line_begin(&lw, "m");
	codec_line_tag(&lw, "device", "dev");
	assert_int_equal(values_each(g->dev, uv_now(&g->loop), line_one, &lw), 0);
	int line_rc = lw.nfields ? codec_line_end(&lw, 1, 1) : 1;
	if (line_rc == 1)
		codec_line_end(&lw, 1, 1); /* takes the empty line back, as export_influx.c does */
	struct line_point pt = {.fields = fields, .maxfields = n + 1};
	size_t used;
	if (line_rc == 0 && codec_line_parse(buf, lw.len, &used, &pt, scratch, cap) != 0)
		fail_msg("%s: the line does not parse back: %.300s", mname, buf);
	if (line_rc != 0 && line_rc != 1)
		fail_msg("%s: the line was refused (%d)", mname, line_rc);

	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(g->map, i);
		struct ref x;
		served_words(g, r, w);
		ref_decode(r, w, &x);
		const char *rn = r->name;

		json_object *o = json_object_array_get_idx(regs, i), *raw, *val;
		assert_string_equal(json_get_str(o, "name"), rn);
		assert_true(json_object_object_get_ex(o, "raw", &raw));
		assert_true(json_object_object_get_ex(o, "value", &val));
		const struct line_field *f = NULL;
		for (size_t k = 0; k < pt.nfields; k++)
			if (strcmp(pt.fields[k].key, rn) == 0)
				f = &pt.fields[k];
		if (!s[i].valid) {
			/* Only a derived register whose device value fits no
			 * factor or translation is never stored: null, no field. */
			if (!map_derived(r))
				fail_msg("%s.%s: never stored", mname, rn);
			assert_true(json_object_is_type(raw, json_type_null));
			assert_true(json_object_is_type(val, json_type_null));
			assert_null(f);
			continue;
		}

		if (x.is_text) {
			if (!s[i].text || strcmp(s[i].text, x.text) != 0)
				fail_msg("%s.%s: values_each shows \"%s\", a Modbus client \"%s\"",
					 mname, rn, s[i].text ? s[i].text : "(null)", x.text);
			assert_true(json_object_is_type(raw, json_type_null));
			assert_true(json_object_is_type(val, json_type_string));
			if ((size_t)json_object_get_string_len(val) != x.text_len ||
			    memcmp(json_object_get_string(val), x.text, x.text_len) != 0)
				fail_msg("%s.%s: the document shows \"%s\", a Modbus client \"%s\"",
					 mname, rn, json_object_get_string(val), x.text);
			/* The line protocol cannot carry control characters: spaces. */
			char want[1024];
			for (size_t k = 0; k <= x.text_len; k++) {
				unsigned char ch = (unsigned char)x.text[k];
				want[k] =
				    k < x.text_len && (ch < 0x20 || ch == 0x7f) ? ' ' : x.text[k];
			}
			if (!f || f->type != LINE_STRING || strcmp(f->s, want) != 0)
				fail_msg("%s.%s: InfluxDB gets \"%s\", a Modbus client \"%s\"",
					 mname, rn, f && f->type == LINE_STRING ? f->s : "(none)",
					 want);
			continue;
		}

		/* raw: the integer, or a float32's bits. */
		if (s[i].raw != x.raw)
			fail_msg("%s.%s: values_each raw %lld, a Modbus client %lld", mname, rn,
				 (long long)s[i].raw, (long long)x.raw);
		if (!json_object_is_type(raw, json_type_int) || json_object_get_int64(raw) != x.raw)
			fail_msg("%s.%s: the document's raw is %s, a Modbus client's %lld", mname,
				 rn, json_object_to_json_string(raw), (long long)x.raw);

		if (!ref_has_number(r, &x)) {
			/* NaN or infinite: null, and no field. */
			assert_false(s[i].number);
			if (!json_object_is_type(val, json_type_null))
				fail_msg("%s.%s: %s shown for a single that is no number", mname,
					 rn, json_object_to_json_string(val));
			if (f)
				fail_msg("%s.%s: an InfluxDB field for a single that is no number",
					 mname, rn);
			continue;
		}
		if (!s[i].number || !ref_same_value(r, &x, s[i].value))
			fail_msg("%s.%s: values_each shows %.17g, a Modbus client %.17g", mname, rn,
				 s[i].value, x.unscaled * r->scale);
		if (!(json_object_is_type(val, json_type_int) ||
		      json_object_is_type(val, json_type_double)) ||
		    !ref_same_value(r, &x, json_object_get_double(val)))
			fail_msg("%s.%s: the document shows %s, a Modbus client %.17g", mname, rn,
				 json_object_to_json_string(val), x.unscaled * r->scale);
		if (!f)
			fail_msg("%s.%s: no InfluxDB field", mname, rn);
		double fv = f->type == LINE_INT ? (double)f->i : f->type == LINE_FLOAT ? f->f : NAN;
		if (!ref_same_value(r, &x, fv))
			fail_msg("%s.%s: InfluxDB gets %.17g, a Modbus client %.17g", mname, rn, fv,
				 x.unscaled * r->scale);
		/* A field keeps its type: an integer only for an integer
		 * without a scale. */
		assert_int_equal(f->type,
				 r->type != MAP_FLOAT32 && r->scale == 1.0 ? LINE_INT : LINE_FLOAT);
	}

	json_object_put(root);
	free(doc);
	free(buf);
	free(scratch);
	free(fields);
	for (size_t i = 0; i < n; i++)
		free(s[i].text);
	free(s);
	return n;
}

/* The register reference's printed values (`default`, `constant`) against
 * the words the device serves for them. */
static size_t check_print_map(struct rig *g)
{
	char *text = NULL;
	size_t len = 0, checked = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	map_print(g->map, f, MAP_FMT_JSON);
	fclose(f);
	json_object *root = strict_parse(text, len), *regs;
	if (!root)
		fail_msg("%s: --print-map --json is not strict JSON", map_name(g->map));
	assert_true(json_object_object_get_ex(root, "registers", &regs));
	for (size_t i = 0; i < json_object_array_length(regs); i++) {
		json_object *o = json_object_array_get_idx(regs, i), *d, *tab;
		const struct map_register *r = NULL;
		assert_true(json_object_object_get_ex(o, "table", &tab));
		r = map_find_name(g->map, json_get_str(o, "name"));
		assert_non_null(r);
		static const char *const keys[] = {"default", "constant"};
		for (int k = 0; k < 2; k++) {
			uint16_t w[128];
			struct ref x;
			if (!json_object_object_get_ex(o, keys[k], &d))
				continue;
			if (k == 0) {
				if (r->type == MAP_STRING)
					assert_int_equal(map_encode_string(r, r->def_string, w), 0);
				else if (map_encode(r, r->def, w) != 0)
					fail_msg("%s: default %lld does not encode", r->name,
						 (long long)r->def);
			} else {
				assert_int_equal(map_const_words(r, w), 0);
			}
			ref_decode(r, w, &x);
			if (x.is_text) {
				if (strcmp(json_object_get_string(d), x.text) != 0)
					fail_msg("%s.%s: --print-map shows %s \"%s\", a Modbus "
						 "client \"%s\"",
						 map_name(g->map), r->name, keys[k],
						 json_object_get_string(d), x.text);
			} else if (!isfinite(x.unscaled)) {
				assert_true(json_object_is_type(d, json_type_null));
			} else {
				/* Unscaled: a map's values are raw. */
				double v = json_object_get_double(d);
				int same = x.is_float ? (float)v == x.f : v == (double)x.raw;
				if (!same)
					fail_msg("%s.%s: --print-map shows %s %s, a Modbus client "
						 "%.9g",
						 map_name(g->map), r->name, keys[k],
						 json_object_to_json_string(d), x.unscaled);
			}
			checked++;
		}
	}
	json_object_put(root);
	free(text);
	return checked;
}

static struct map *load(const char *path)
{
	char err[1024];
	struct map *m = map_load(path, err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	return m;
}

static void every_shipped_map(void **state)
{
	(void)state;
	DIR *d = opendir(h_repo_file("maps"));
	struct dirent *e;
	size_t maps = 0, regs = 0, printed = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char rel[300];
		if (l < 6 || strcmp(e->d_name + l - 5, ".conf") != 0)
			continue;
		snprintf(rel, sizeof rel, "maps/%s", e->d_name);
		struct rig g;
		rig_open(&g, load(h_repo_file(rel)));
		for (int round = 0; round < ROUNDS; round++)
			regs += one_round(&g);
		printed += check_print_map(&g);
		rig_close(&g);
		maps++;
	}
	closedir(d);
	assert_true(maps >= 10);
	print_message("# %zu maps, %zu register values compared, %zu printed values\n", maps, regs,
		      printed);
}

/* Every type, both word orders, scales of 1, 1/k, k and neither; strings of
 * odd and even and the longest length; defaults for the reference. */
static const char every_type[] =
    "name = \"every\"; protocol = \"memory\"; trust = \"generated\";\n"
    "registers = (\n"
    " { address = 0; name = \"i16\"; type = \"int16\"; default = -5; },\n"
    " { address = 1; name = \"i16s\"; type = \"int16\"; scale = 0.1; default = -1234; },\n"
    " { address = 2; name = \"u16\"; type = \"uint16\"; default = 65535; },\n"
    " { address = 3; name = \"u16s\"; type = \"uint16\"; scale = 0.01; },\n"
    " { address = 4; name = \"u16k\"; type = \"uint16\"; scale = 10; },\n"
    " { address = 5; name = \"i32\"; type = \"int32\"; default = -2147483648; },\n"
    " { address = 7; name = \"i32l\"; type = \"int32\"; word_order = \"little\"; scale = 0.001; "
    "},\n"
    " { address = 9; name = \"u32\"; type = \"uint32\"; default = 4294967295L; },\n"
    " { address = 11; name = \"u32l\"; type = \"uint32\"; word_order = \"little\"; scale = 3; },\n"
    " { address = 13; name = \"f32\"; type = \"float32\"; default = 230.5; },\n"
    " { address = 15; name = \"f32l\"; type = \"float32\"; word_order = \"little\"; default = 0.1; "
    "},\n"
    " { address = 17; name = \"f32s\"; type = \"float32\"; scale = 0.1; default = -1e-40; },\n"
    " { address = 19; name = \"f32k\"; type = \"float32\"; scale = 1000; default = 3.4e38; },\n"
    " { address = 21; name = \"f32q\"; type = \"float32\"; scale = 0.3; },\n"
    " { address = 23; name = \"s1\"; type = \"string\"; length = 1; },\n"
    " { address = 24; name = \"s5\"; type = \"string\"; length = 5; default = \"ab\"; },\n"
    " { address = 29; name = \"s125\"; type = \"string\"; length = 125; },\n"
    " { address = 200; name = \"in32\"; table = \"input\"; type = \"int32\"; scale = 0.5; },\n"
    " { address = 202; name = \"inf\"; table = \"input\"; type = \"float32\"; },\n"
    " { address = 300; name = \"wo\"; access = \"w\"; type = \"int16\"; }\n"
    ");\n";

static struct map *load_text(const char *text)
{
	char path[256];
	FILE *f;
	snprintf(path, sizeof path, "/tmp/mbtest-decode-%d.conf", (int)getpid());
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	struct map *m = load(path);
	unlink(path);
	return m;
}

static void every_type_map(void **state)
{
	(void)state;
	struct rig g;
	rig_open(&g, load_text(every_type));
	size_t regs = 0;
	for (int round = 0; round < 25 * ROUNDS; round++)
		regs += one_round(&g);
	assert_int_equal(check_print_map(&g), 10);
	rig_close(&g);
	print_message("# every type: %zu register values compared\n", regs);
}

/* The case, by name: a float32 of 230.5 is 230.5 on every face, its
 * raw the bits (0x43668000). */
static void float32_230_5(void **state)
{
	(void)state;
	struct rig g;
	rig_open(&g, load_text(every_type));
	uint16_t w[4] = {0x4366, 0x8000, 0xCCCD, 0x3DCC};
	device_cache_store(g.dev, MAP_HOLDING, 13, 4, w);
	struct json j;
	json_init_buf(&j);
	assert_int_equal(values_json(&j, g.dev, uv_now(&g.loop)), 0);
	char *doc = json_take(&j, NULL);
	assert_non_null(strstr(doc, "\"name\":\"f32\",\"address\":13,\"table\":\"holding\","
				    "\"access\":\"r\",\"raw\":1130790912,\"value\":230.5,"));
	/* 0.1f is shown as 0.1, not 0.100000001490116. */
	assert_non_null(strstr(doc, "\"name\":\"f32l\",\"address\":15,\"table\":\"holding\","
				    "\"access\":\"r\",\"raw\":1036831949,\"value\":0.1,"));
	free(doc);
	rig_close(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(float32_230_5),
	    cmocka_unit_test(every_type_map),
	    cmocka_unit_test(every_shipped_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

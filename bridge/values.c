/* A device's decoded register values (include/values.h). */
#include "values.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec_line.h"
#include "device.h"
#include "json.h"
#include "map.h"
#include "mb_error.h"

/* "holding" or "input", as the JSON document and the map reference write it. */
static const char *values__table_name(int table)
{
	return table == MAP_INPUT ? "input" : "holding";
}

static const char *values__access(int access)
{
	return access == MAP_RW ? "rw" : access == MAP_W ? "w" : "r";
}

/* --- the decoder -------------------------------------------------------- */

/* x * scale, the way a person reads it: for a scale of 1/k, x / k. */
static double values__scale(double x, double scale)
{
	double inv = 1.0 / scale, k = nearbyint(inv);
	if (scale == 1.0)
		return x;
	if (scale > 0 && scale < 1 && k >= 1 && fabs(inv - k) <= 1e-9 * k)
		return x / k;
	return x * scale;
}

/* The single of a float32's bits as the shortest decimal that reads back as
 * it, and that decimal's double; -1 for NaN and the infinities. */
static int values__single(int64_t raw, double *x, char *buf, size_t len)
{
	uint32_t bits = (uint32_t)raw;
	float f;

	memcpy(&f, &bits, sizeof f);
	if (!isfinite(f)) {
		*x = f;
		snprintf(buf, len, "%s", isnan(f) ? "NaN" : f < 0 ? "-inf" : "inf");
		return -1;
	}
	/* Nine significant digits always read back as the same single; the
	 * first of 6..9 that does is the shortest (a shorter decimal that
	 * reads back is also what rounding to six digits gives). */
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(buf, len, "%.*g", prec, (double)f);
		if ((float)strtod(buf, NULL) == f)
			break;
	}
	*x = strtod(buf, NULL);
	return 0;
}

int values_raw_text(const struct map_register *r, int64_t raw, char *buf, size_t len)
{
	double x;
	if (r->type == MAP_FLOAT32)
		return values__single(raw, &x, buf, len);
	snprintf(buf, len, "%" PRId64, raw);
	return 0;
}

int values_value(const struct map_register *r, int64_t raw, double *value)
{
	double x = (double)raw;
	char buf[32];
	if (r->type == MAP_FLOAT32 && values__single(raw, &x, buf, sizeof buf) != 0) {
		*value = x;
		return -1;
	}
	*value = values__scale(x, r->scale);
	return isfinite(*value) ? 0 : -1;
}

void values_number_text(double d, char *buf, size_t len)
{
	snprintf(buf, len, "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, len, "%.17g", d);
}

int values_format_text(const struct map_register *r, int64_t raw, double value, char *buf,
		       size_t len)
{
	uint64_t u = (uint64_t)raw & (r->count >= 2 ? 0xffffffffu : 0xffffu);
	int digits = r->count >= 2 ? 8 : 4;

	switch (r->format) {
	case MAP_FORMAT_IPV4:
		/* The first octet in the high byte, as the maps describe
		 * (0xC0A801C8 = 192.168.1.200); a 16-bit register holds two. */
		if (r->count >= 2)
			snprintf(buf, len, "%u.%u.%u.%u", (unsigned)(u >> 24),
				 (unsigned)(u >> 16) & 0xff, (unsigned)(u >> 8) & 0xff,
				 (unsigned)u & 0xff);
		else
			snprintf(buf, len, "%u.%u", (unsigned)(u >> 8), (unsigned)u & 0xff);
		return 0;
	case MAP_FORMAT_HEX:
		snprintf(buf, len, "0x%0*" PRIX64, digits, u);
		return 0;
	case MAP_FORMAT_VERSION:
		snprintf(buf, len, "%0*" PRIX64, digits, u);
		return 0;
	case MAP_FORMAT_DURATION: {
		if (!isfinite(value) || value < 0 || value > 1e12)
			return -1;
		uint64_t s = (uint64_t)value, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
		if (d)
			snprintf(buf, len, "%" PRIu64 " d %" PRIu64 " h %" PRIu64 " min", d, h, m);
		else if (h)
			snprintf(buf, len, "%" PRIu64 " h %" PRIu64 " min", h, m);
		else if (m)
			snprintf(buf, len, "%" PRIu64 " min %" PRIu64 " s", m, s % 60);
		else
			snprintf(buf, len, "%" PRIu64 " s", s);
		return 0;
	}
	case MAP_FORMAT_TIMESTAMP: {
		struct tm tm;
		if (!isfinite(value) || value < 0 || value > 253402300799.0)
			return -1;
		time_t t = (time_t)value;
		if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
			return -1;
		return 0;
	}
	default:
		break;
	}
	/* The map's value texts: the enum's text of the value, or the texts
	 * of the bits set. */
	if (r->nlabels) {
		for (size_t i = 0; i < r->nlabels; i++)
			if (r->labels[i].value == raw) {
				snprintf(buf, len, "%s", r->labels[i].text);
				return 0;
			}
		return -1;
	}
	if (r->nbits) {
		size_t k = 0;
		buf[0] = '\0';
		for (size_t i = 0; i < r->nbits && k < len; i++)
			if (r->bits[i].value >= 0 && r->bits[i].value < 64 &&
			    ((uint64_t)raw >> r->bits[i].value) & 1)
				k += (size_t)snprintf(buf + k, len - k, "%s%s", k ? ", " : "",
						      r->bits[i].text);
		if (!k)
			snprintf(buf, len, "none");
		return 0;
	}
	return -1;
}

void values_decode(const struct map_register *r, const uint16_t *words, struct values_item *v,
		   char *text)
{
	v->raw = 0;
	v->number = 0;
	v->scaled = NAN;
	v->text = NULL;
	if (r->type == MAP_STRING) {
		/* Up to the first NUL; at most 125 words (map_load.c). */
		char bytes[2 * 125];
		size_t len = 0;
		for (uint16_t w = 0; w < r->count && w < 125; w++) {
			bytes[len++] = (char)(words[w] >> 8);
			bytes[len++] = (char)(words[w] & 0xff);
		}
		const char *nul = memchr(bytes, '\0', len);
		json_utf8_clean(text, bytes, nul ? (size_t)(nul - bytes) : len);
		v->text = text;
		return;
	}
	v->raw = map_decode(r, words);
	v->number = values_value(r, v->raw, &v->scaled) == 0;
}

int values_each(const struct device *dev, uint64_t now_ms, values_fn fn, void *ctx)
{
	const struct map *m = device_map(dev);
	size_t n = map_nregs(m);
	/* A string register has at most 125 words (map_load.c). */
	uint16_t words[128];
	char text[VALUES_TEXT_MAX];

	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(m, i);
		struct values_item v = {.reg = r};
		uint64_t stamp = 0;

		if (r->count > sizeof words / sizeof words[0])
			continue; /* cannot happen: map_load.c caps `length` at 125 */
		v.valid = device_cache_peek(dev, r, words, &stamp);
		if (v.valid) {
			v.age_ms = now_ms > stamp ? now_ms - stamp : 0;
			values_decode(r, words, &v, text);
		}
		int rc = fn(ctx, &v);
		if (rc)
			return rc;
	}
	return 0;
}

/* --- the faces ----------------------------------------------------------- */

void values_line_field(struct line_writer *w, const struct values_item *v)
{
	const struct map_register *r = v->reg;

	if (!v->valid)
		return;
	if (v->text) {
		char text[VALUES_TEXT_MAX];
		size_t i = 0;
		for (; v->text[i] && i + 1 < sizeof text; i++) {
			unsigned char c = (unsigned char)v->text[i];
			text[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		}
		text[i] = '\0';
		codec_line_field_str(w, r->name, text);
	} else if (!v->number) {
		return; /* NaN or infinite: no line-protocol form, the field is left out */
	} else if (r->type != MAP_FLOAT32 && r->scale == 1.0) {
		codec_line_field_int(w, r->name, v->raw);
	} else {
		codec_line_field_float(w, r->name, v->scaled);
	}
}

struct values__json {
	struct json *j;
	int first;
	const struct device *dev;
	uint64_t now_ms;
	int withhold;	  /* export: leave stale values out */
	int any_withheld; /* some value was stale */
};

bool values_current(const struct device *dev, const struct values_item *v)
{
	return v->valid && (v->reg->is_const || (device_health(dev) == DEVICE_HEALTH_ANSWERING &&
						 v->age_ms <= device_fresh_ms(dev)));
}

uint64_t values_time(const struct device *dev, const struct values_item *v, uint64_t now_ms)
{
	return device_stamp_wall(dev, v->reg->is_const ? UINT64_MAX : now_ms - v->age_ms);
}

static int values__json_one(void *ctx, const struct values_item *v)
{
	struct values__json *c = ctx;
	struct json *j = c->j;
	const struct map_register *r = v->reg;

	struct values_item stale = {.reg = r};
	int current = !v->valid || values_current(c->dev, v);

	if (!current) {
		c->any_withheld = 1;
		if (c->withhold) {
			/* Written as never read, with the age and time it has. */
			stale.age_ms = v->age_ms;
			v = &stale;
		}
	}
	json_raw(j, c->first ? "{\"name\":" : ",{\"name\":");
	c->first = 0;
	json_str(j, r->name);
	json_printf(j, ",\"address\":%u,\"table\":\"%s\",\"access\":\"%s\",\"raw\":", r->address,
		    values__table_name(r->table), values__access(r->access));
	if (!v->valid)
		json_raw(j, "null,\"value\":null");
	else if (v->text) {
		json_key_str(j, "null,\"value\":", v->text);
	} else if (v->number) {
		char num[40], text[512];
		values_number_text(v->scaled, num, sizeof num);
		json_printf(j, "%" PRId64 ",\"value\":%s", v->raw, num);
		if (values_format_text(r, v->raw, v->scaled, text, sizeof text) == 0)
			json_key_str(j, ",\"text\":", text);
	} else {
		json_printf(j, "%" PRId64 ",\"value\":null", v->raw);
	}
	json_key_str(j, ",\"unit\":", r->unit);
	if (r->group) /* the map's `group` (the page's folds); absent without one */
		json_printf(j, ",\"group\":\"%s\"", map_groups[r->group - 1]);
	if (v->valid || !current)
		json_printf(j, ",\"age_ms\":%" PRIu64 ",\"time\":%" PRIu64 ",\"stale\":%s}",
			    v->age_ms, values_time(c->dev, v, c->now_ms),
			    current ? "false" : "true");
	else
		json_raw(j, ",\"age_ms\":null,\"time\":null,\"stale\":false}");
	return 0;
}

/* values_json_register: the one register of the walk. */
struct values__one {
	struct values__json c;
	const struct map_register *reg;
};

static int values__json_pick(void *ctx, const struct values_item *v)
{
	struct values__one *o = ctx;
	if (v->reg != o->reg)
		return 0;
	values__json_one(&o->c, v);
	return 1;
}

int values_json_register(struct json *j, const struct device *dev, const struct map_register *r,
			 uint64_t now_ms)
{
	struct values__one o = {.c = {.j = j, .first = 1, .dev = dev, .now_ms = now_ms}, .reg = r};
	if (values_each(dev, now_ms, values__json_pick, &o) == 0)
		return MB_EINVAL;
	return j->failed ? MB_ENOMEM : 0;
}

static int values__json_doc(struct json *j, const struct device *dev, uint64_t now_ms, int withhold)
{
	struct values__json c = {
	    .j = j, .first = 1, .dev = dev, .now_ms = now_ms, .withhold = withhold};

	json_key_str(j, "{\"device\":", device_name(dev));
	json_printf(j, ",\"unit_id\":%d,\"map\":", device_unit(dev));
	json_str(j, map_name(device_map(dev)));
	json_printf(j, ",\"link_up\":%s,", device_link_up(dev) ? "true" : "false");
	values_health_json(j, dev);
	json_raw(j, ",\"summary\":[");
	size_t ns;
	const struct map_register *const *sum = map_summary(device_map(dev), &ns);
	for (size_t i = 0; i < ns; i++)
		json_key_str(j, i ? "," : "", sum[i]->name);
	json_raw(j, "],\"registers\":[");
	values_each(dev, now_ms, values__json_one, &c);
	json_printf(j, "],\"stale\":%s}",
		    c.any_withheld || device_health(dev) != DEVICE_HEALTH_ANSWERING ? "true"
										    : "false");
	return j->failed ? MB_ENOMEM : 0;
}

int values_json(struct json *j, const struct device *dev, uint64_t now_ms)
{
	return values__json_doc(j, dev, now_ms, 0);
}

int values_json_export(struct json *j, const struct device *dev, uint64_t now_ms)
{
	return values__json_doc(j, dev, now_ms, 1);
}

void values_health_json(struct json *j, const struct device *dev)
{
	const struct device_stats *st = device_stats(dev);
	json_key_str(j, "\"health\":", device_health_name(device_health(dev)));
	json_raw(j, ",\"last_answer\":");
	if (st->last_answer)
		json_printf(j, "%" PRIu64, st->last_answer);
	else
		json_raw(j, "null");
	json_raw(j, ",\"not_answering_since\":");
	if (device_health(dev) == DEVICE_HEALTH_NOT_ANSWERING)
		json_printf(j, "%" PRIu64, st->silent_since);
	else
		json_raw(j, "null");
}

/* A device's decoded register values (include/values.h). */
#include "values.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "json.h"
#include "map.h"
#include "mb_error.h"

const char *values_table_name(int table)
{
	return table == MAP_INPUT ? "input" : "holding";
}

static const char *values__access(int access)
{
	return access == MAP_RW ? "rw" : access == MAP_W ? "w" : "r";
}

int values_each(const struct device *dev, uint64_t now_ms, values_fn fn, void *ctx)
{
	const struct map *m = device_map(dev);
	size_t n = map_nregs(m);
	/* A string register has at most 125 words (map.c), 250 characters. */
	uint16_t words[128];
	char text[2 * 128 + 1];

	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(m, i);
		struct values_item v = {.reg = r};
		uint64_t stamp = 0;

		if (r->count > sizeof words / sizeof words[0])
			continue; /* cannot happen: map.c caps `length` at 125 */
		v.valid = device_cache_peek(dev, r, words, &stamp);
		if (v.valid) {
			v.age_ms = now_ms > stamp ? now_ms - stamp : 0;
			if (r->type == MAP_STRING) {
				size_t len = 0;
				for (uint16_t w = 0; w < r->count; w++) {
					text[len++] = (char)(words[w] >> 8);
					text[len++] = (char)(words[w] & 0xff);
				}
				text[len] = '\0';
				/* Zero padding ends the text (map.h, strings). */
				v.text = text;
			} else {
				v.raw = map_decode(r, words);
				v.scaled = (double)v.raw * r->scale;
			}
		}
		int rc = fn(ctx, &v);
		if (rc)
			return rc;
	}
	return 0;
}

struct values__json {
	struct json *j;
	int first;
};

static int values__json_one(void *ctx, const struct values_item *v)
{
	struct values__json *c = ctx;
	struct json *j = c->j;
	const struct map_register *r = v->reg;

	json_raw(j, c->first ? "{\"name\":" : ",{\"name\":");
	c->first = 0;
	json_str(j, r->name);
	json_printf(j, ",\"address\":%u,\"table\":\"%s\",\"access\":\"%s\",\"raw\":", r->address,
		    values_table_name(r->table), values__access(r->access));
	if (!v->valid)
		json_raw(j, "null,\"value\":null");
	else if (v->text) {
		json_raw(j, "null,\"value\":");
		json_str(j, v->text);
	} else
		json_printf(j, "%" PRId64 ",\"value\":%.10g", v->raw, v->scaled);
	json_raw(j, ",\"unit\":");
	json_str(j, r->unit);
	if (v->valid)
		json_printf(j, ",\"age_ms\":%" PRIu64 "}", v->age_ms);
	else
		json_raw(j, ",\"age_ms\":null}");
	return 0;
}

int values_json(struct json *j, const struct device *dev, uint64_t now_ms)
{
	json_raw(j, "{\"device\":");
	json_str(j, device_name(dev));
	json_printf(j, ",\"unit_id\":%d,\"map\":", device_unit(dev));
	json_str(j, map_name(device_map(dev)));
	json_printf(j, ",\"link_up\":%s,\"registers\":[", device_link_up(dev) ? "true" : "false");
	struct values__json c = {.j = j, .first = 1};
	values_each(dev, now_ms, values__json_one, &c);
	json_raw(j, "]}");
	return j->failed ? MB_ENOMEM : 0;
}

/* A device's decoded register values, as the REST API (GET
 * /api/v1/devices/{name}/registers), the web page and the exporters (MQTT
 * JSON, InfluxDB line protocol) all show them. One walker over the device's
 * cache and one JSON document, so that every output names and scales a
 * register the same way.
 *
 * values_each() calls fn once per register of the device's map, in map order
 * (table, then address), with a struct values_item:
 *   reg     the register (name, address, table, unit, scale, type: map.h)
 *   valid   1 when every word of the register was stored at least once (read
 *           from the device, or written and acknowledged); 0 when never:
 *           raw, scaled and text are then 0/NULL and must not be shown
 *   age_ms  ms since the oldest word of the register arrived (valid only);
 *           0 for a memory device, whose cache is the device
 *   raw     the raw integer as on the wire (numeric types)
 *   scaled  raw * reg->scale (numeric types)
 *   text    strings: the characters, NUL-terminated, trailing NULs dropped;
 *           NULL for numeric types
 * fn returns 0 to go on, anything else to stop (values_each returns it).
 * The item and its text live only during the call.
 *
 * values_json() writes one JSON object with the project's writer (json.h):
 *   {"device": "<name>", "unit_id": 1, "map": "<map>", "link_up": true,
 *    "registers": [
 *      {"name": "soc", "address": 100, "table": "holding", "access": "r",
 *       "raw": 57, "value": 57, "unit": "%", "age_ms": 120},
 *      {"name": "serial", ..., "raw": null, "value": "ABC123", ...},
 *      {"name": "never_read", ..., "raw": null, "value": null, "age_ms": null}]}
 * "value" is the scaled number (printed with %.10g, so 0.1 * 1234 is 123.4),
 * a string for string registers, null when never read; "raw" is null for
 * strings and for registers never read; "unit" is null when the map gives
 * none. No whitespace or newline, so it fits an MQTT payload as it is.
 *
 * now_ms is the device loop's monotonic time (uv_now(loop)), the clock the
 * cache stamps use; pass uv_now() right after uv_update_time() when exact
 * ages matter. Both functions only read: they never start a native request,
 * so what they show is the cache (kept fresh by the device's `poll`). */
#ifndef VALUES_H
#define VALUES_H

#include <stdint.h>

struct json;
struct device;
struct map_register;

struct values_item {
	const struct map_register *reg;
	int valid;
	uint64_t age_ms;
	int64_t raw;
	double scaled;
	const char *text;
};

typedef int (*values_fn)(void *ctx, const struct values_item *v);

int values_each(const struct device *dev, uint64_t now_ms, values_fn fn, void *ctx);
/* 0, or MB_ENOMEM when the writer failed to grow its buffer (j->failed). */
int values_json(struct json *j, const struct device *dev, uint64_t now_ms);
/* "holding" or "input", as the JSON document and the map reference write it. */
const char *values_table_name(int table);

#endif

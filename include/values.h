/* A device's decoded register values, as the REST API (GET
 * /api/v1/devices/{name}/registers), the web page and the exporters (MQTT
 * JSON, InfluxDB line protocol) all show them, and the number a map's value
 * (`default`, `constant`) is in the register reference. One decoder per
 * type (values_decode), one number format (values_number_text), one JSON
 * document and one line-protocol field, so that no face can show a register
 * otherwise than the others, nor otherwise than a Modbus client decodes the
 * words the bridge serves for it.
 *
 * What a register's words mean (the decoder; map.h for the types):
 *   int16, uint16, int32, uint32
 *           raw     the integer (32-bit: word_order says which word is high)
 *           value   raw * scale; for a scale of 1/k (0.1, 0.01) raw / k, the
 *                   double nearest the decimal (5230 * 0.01 would be
 *                   52.300000000000004, 5230 / 100.0 is 52.3)
 *   float32 raw     the 32 bits as an unsigned integer (the pattern on the
 *                   wire, word_order applied)
 *           value   the IEEE 754 single those bits are, as the shortest
 *                   decimal that reads back as the same single (0.1f is 0.1,
 *                   not 0.10000000149011612), then scaled as above; none
 *                   (number 0) for NaN and the infinities
 *   string  text    two characters per word, the first in the high byte, up
 *                   to the first NUL byte (zero padding, or a C string's end:
 *                   what follows it is not shown); bytes that are not
 *                   well-formed UTF-8 each part replaced by U+FFFD
 *                   (json_utf8_clean), control characters kept
 *
 * values_each() calls fn once per register of the device's map, in map order
 * (table, then address), with a struct values_item:
 *   reg     the register (name, address, table, unit, scale, type: map.h)
 *   valid   1 when every word of the register was stored at least once (read
 *           from the device, or written and acknowledged); 0 when never:
 *           raw, scaled and text are then 0/NULL and must not be shown
 *   age_ms  ms since the oldest word of the register arrived (valid only);
 *           0 for a memory device, whose cache is the device
 *   raw     numeric types: as above
 *   number  1 when scaled is a value to show (a numeric type whose value is
 *           finite); 0 for strings and for a float32 NaN or infinity
 *   scaled  the value (number 1), else NaN
 *   text    strings: as above, NUL-terminated; NULL for numeric types
 * fn returns 0 to go on, anything else to stop (values_each returns it).
 * The item and its text live only during the call.
 *
 * values_json() writes one JSON object with the project's writer (json.h):
 *   {"device": "<name>", "unit_id": 1, "map": "<map>", "link_up": true,
 *    "health": "answering", "last_answer": 1767225600123,
 *    "not_answering_since": null,
 *    "registers": [
 *      {"name": "soc", "address": 100, "table": "holding", "access": "r",
 *       "raw": 57, "value": 57, "unit": "%", "age_ms": 120,
 *       "time": 1767225600003, "stale": false},
 *      {"name": "voltage_l1", ..., "raw": 1130790912, "value": 230.5, ...},
 *      {"name": "serial", ..., "raw": null, "value": "ABC123", ...},
 *      {"name": "never_read", ..., "raw": null, "value": null, "age_ms": null,
 *       "time": null, "stale": false}],
 *    "stale": false}
 * "value" is the value (values_number_text), a string for string
 * registers, null when never read or when a float32 holds NaN or an
 * infinity (JSON has no such numbers; "raw" still shows the bits); "raw" is
 * null for strings and for registers never read; "unit" is null when the
 * map gives none; "group" (after "unit") is the map's `group` ("status",
 * "energy", ...: map.h's map_groups), absent when it names none.
 * "health" and the two times after it are values_health_json()'s; "time"
 * is when the device answered with the value (device_stamp_wall), ms since
 * the epoch; a register is "stale" when the device is not answering or the
 * value is older than device_fresh_ms() (constant registers never are),
 * and the document is when any register is or the device is not answering.
 * No whitespace or newline, so it fits an MQTT payload as it is.
 *
 * values_json_export() writes the same document for the exporters, with
 * every stale value left out: "raw" and "value" null, "age_ms" and "time"
 * saying how old the value left out is.
 *
 * now_ms is the device loop's monotonic time (uv_now(loop)), the clock the
 * cache stamps use; pass uv_now() right after uv_update_time() when exact
 * ages matter. Both functions only read: they never start a native request,
 * so what they show is the cache (kept fresh by the device's `poll`). */
#ifndef VALUES_H
#define VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json;
struct device;
struct line_writer;
struct map_register;

/* The longest text values_decode writes, its NUL included: a string
 * register of 125 words (map_load.c's cap on `length`) whose every byte is
 * replaced by U+FFFD (three bytes). */
#define VALUES_TEXT_MAX (3 * 2 * 125 + 1)

struct values_item {
	const struct map_register *reg;
	int valid;
	uint64_t age_ms;
	int64_t raw;
	int number;
	double scaled;
	const char *text;
};

typedef int (*values_fn)(void *ctx, const struct values_item *v);

/* The decoder: raw, number, scaled and text of v from r's r->count words
 * (reg, valid and age_ms are left alone). text is the caller's buffer of
 * VALUES_TEXT_MAX bytes; v->text points into it for a string register. */
void values_decode(const struct map_register *r, const uint16_t *words, struct values_item *v,
		   char *text);
/* A numeric register's value from its raw value, as values_decode makes
 * it: 0, or -1 when there is none (*value is then NaN or an infinity). */
int values_value(const struct map_register *r, int64_t raw, double *value);
/* The same before scaling (the number a map's `default` or `constant` is):
 * the integer, or the single of a float32's bits, as text ("230.5", "-7");
 * "NaN", "inf" or "-inf" and -1 when the single is none of the numbers. */
int values_raw_text(const struct map_register *r, int64_t raw, char *buf, size_t len);
/* A value as every face writes it: the shortest of %.15g and %.17g that
 * reads back as the same double (InfluxDB's writer, codec_line.c, writes
 * floats the same way). len >= 32. */
void values_number_text(double d, char *buf, size_t len);

/* The value as a person reads it, by the register's `format` (map.h's
 * map_format): "192.168.1.200", "0x00FF", "A030", "3 d 4 h 5 min",
 * "2026-12-07 16:20:00 UTC"; without a format, the map's value text
 * (`enum`) or the texts of the bits set (`bits`, "none" when none is). 0
 * with buf written, -1 where there is no text (no format and no texts, a
 * value the enum does not name, NaN). raw is the raw value,
 * value the scaled one. */
int values_format_text(const struct map_register *r, int64_t raw, double value, char *buf,
		       size_t len);

int values_each(const struct device *dev, uint64_t now_ms, values_fn fn, void *ctx);
/* 0, or MB_ENOMEM when the writer failed to grow its buffer (j->failed). */
int values_json(struct json *j, const struct device *dev, uint64_t now_ms);
/* One register's object, exactly as it is an element of values_json's
 * "registers" (GET /api/v1/devices/{name}/registers/{register}): 0,
 * MB_EINVAL when r is not a register of the device's map, MB_ENOMEM. */
int values_json_register(struct json *j, const struct device *dev, const struct map_register *r,
			 uint64_t now_ms);
/* One register as an InfluxDB field of the line being written (nothing
 * when it has no value): an integer (57i) for an integer type without a
 * scale, a float for one with a scale and for float32 (left out when NaN
 * or infinite: the line protocol has no form for them), a string for a
 * string register, its control characters as spaces (the line protocol
 * cannot carry them). */
void values_line_field(struct line_writer *w, const struct values_item *v);
int values_json_export(struct json *j, const struct device *dev, uint64_t now_ms);
/* "health":"...","last_answer":ms|null,"not_answering_since":ms|null
 * (members, no braces): the device's health, for every document that
 * shows a device (REST, the values document, MQTT status). */
void values_health_json(struct json *j, const struct device *dev);
/* Is v's value current, to be shown or exported as the device's value now:
 * it has one, and it is a constant register's, or the device is answering
 * (device_health) and the value is at most device_fresh_ms() old. */
bool values_current(const struct device *dev, const struct values_item *v);
/* When the device answered with v's value: wall clock, ms since the epoch
 * (device_stamp_wall; a constant register's is now). now_ms as given to
 * values_each. */
uint64_t values_time(const struct device *dev, const struct values_item *v, uint64_t now_ms);

#endif

/* The REST API's documents, the register write and the table of routes
 * the server walks (bridge/http_api.h; docs/user-guide.md, "Web interface
 * and REST API"; the OpenAPI document bridge/web/openapi.json describes
 * each). Documents are written with the project's JSON writer (json.h);
 * request bodies are parsed with json-c, packaged in Debian and OpenWrt,
 * since a write's body is the one JSON the daemon reads. */
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_api.h"

#include "config.h"
#include "device.h"
#include "history.h"
#include "http_settings.h"
#include "json.h"
#include "map.h"
#include "mb_error.h"
#include "reload.h"
#include "server.h"
#include "values.h"

/* The names the Modbus specification gives the exception codes. */
static const char *http_api__exc_name(unsigned code)
{
	switch (code) {
	case MB_EXC_ILLEGAL_FUNCTION:
		return "illegal function";
	case MB_EXC_ILLEGAL_ADDRESS:
		return "illegal data address";
	case MB_EXC_ILLEGAL_VALUE:
		return "illegal data value";
	case MB_EXC_DEVICE_FAILURE:
		return "server device failure";
	case MB_EXC_GATEWAY_PATH:
		return "gateway path unavailable";
	case MB_EXC_GATEWAY_TARGET:
		return "gateway target device failed to respond";
	default:
		return "device-specific exception";
	}
}

/* An exception as an HTTP answer: what the map refuses is the client's
 * mistake (422); a device that failed or is unreachable is the gateway's
 * (502, 503, 504), as for an HTTP proxy. */
static void http_api__exception(struct http_answer *a, unsigned exc, const char *what)
{
	unsigned status = exc == MB_EXC_ILLEGAL_FUNCTION || exc == MB_EXC_ILLEGAL_ADDRESS ||
				  exc == MB_EXC_ILLEGAL_VALUE
			      ? 422
			  : exc == MB_EXC_GATEWAY_PATH	 ? 503
			  : exc == MB_EXC_GATEWAY_TARGET ? 504
							 : 502;
	struct json j;
	char text[300];

	snprintf(text, sizeof text, "%s: Modbus exception %02X (%s)", what, exc,
		 http_api__exc_name(exc));
	json_init_buf(&j);
	json_key_str(&j, "{\"error\":", text);
	json_printf(&j, ",\"exception\":%u,\"exception_name\":", exc);
	json_str(&j, http_api__exc_name(exc));
	json_raw(&j, "}");
	http_answer_take(&j, a, status);
}

/* The raw values a numeric type holds. */
static void http_api__type_range(int type, int64_t *lo, int64_t *hi)
{
	*lo = type == MAP_INT16 ? INT16_MIN : type == MAP_INT32 ? INT32_MIN : 0;
	*hi = type == MAP_INT16	   ? INT16_MAX
	      : type == MAP_INT32  ? INT32_MAX
	      : type == MAP_UINT16 ? UINT16_MAX
				   : UINT32_MAX;
}

/* The limits a numeric register takes, raw: the map's, within the type's. */
static void http_api__limits(const struct map_register *r, int64_t *lo, int64_t *hi)
{
	http_api__type_range(r->type, lo, hi);
	if (r->has_min && r->min > *lo)
		*lo = r->min;
	if (r->has_max && r->max < *hi)
		*hi = r->max;
}

/* "0..1000 W" / "one of 0, 1, 2" (scaled, as values are shown; raw in
 * brackets where the scale is not 1). */
static void http_api__allowed_text(const struct map_register *r, char *buf, size_t len)
{
	char a[40], b[40];
	double x;
	size_t k = 0;
	int scaled = r->scale != 1.0;

	if (r->values) {
		k += (size_t)snprintf(buf, len, "one of ");
		for (size_t i = 0; i < r->nvalues && k < len; i++) {
			snprintf(a, sizeof a, "%" PRId64, r->values[i]);
			if (values_value(r, r->values[i], &x) == 0)
				values_number_text(x, a, sizeof a);
			k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", a);
		}
		if (k < len && r->unit)
			snprintf(buf + k, len - k, " %s", r->unit);
		return;
	}
	int64_t lo, hi;
	http_api__limits(r, &lo, &hi);
	snprintf(a, sizeof a, "%" PRId64, lo);
	snprintf(b, sizeof b, "%" PRId64, hi);
	if (values_value(r, lo, &x) == 0)
		values_number_text(x, a, sizeof a);
	if (values_value(r, hi, &x) == 0)
		values_number_text(x, b, sizeof b);
	k = (size_t)snprintf(buf, len, "%s..%s%s%s", a, b, r->unit ? " " : "",
			     r->unit ? r->unit : "");
	if (scaled && k < len)
		snprintf(buf + k, len - k, " (raw %" PRId64 "..%" PRId64 ")", lo, hi);
}

/* A write the bridge refused itself, before the device saw it: the text
 * says which rule refused it ("read-only", the map's range or list, a
 * command group, the device's read_only), "rule" names it, "allowed" gives
 * the range or the values (raw, and scaled as "value" is shown) where the
 * rule has one. exc is what a Modbus client gets for the same write. */
static void http_api__refused(struct http_answer *a, const struct device *dev,
			      const struct map_register *r, enum mb_exc exc, int64_t raw,
			      int has_raw)
{
	const char *dn = device_name(dev), *mn = map_name(device_map(dev));
	const struct config_device *cfg = device_config(dev);
	const struct map_command *cmd =
	    r->table == MAP_HOLDING ? map_find_command(device_map(dev), r->address, r->count)
				    : NULL;
	const char *rule;
	char text[512];
	struct json j;

	if (exc == MB_EXC_ILLEGAL_FUNCTION && cfg && cfg->read_only) {
		rule = "device read_only";
		snprintf(text, sizeof text,
			 "%s is read-only: read_only = true in its config refuses every write", dn);
	} else if (r->table == MAP_INPUT || !(r->access & MAP_W)) {
		rule = "read-only";
		snprintf(text, sizeof text,
			 "%s.%s is read-only (map %s: %s register, access \"%s\")", dn, r->name, mn,
			 r->table == MAP_INPUT ? "an input" : "a holding",
			 r->access & MAP_R ? "r" : "none");
	} else if (cmd && (cmd->address != r->address || cmd->count != r->count)) {
		rule = "command";
		snprintf(text, sizeof text,
			 "%s.%s is written only with the whole command \"%s\" (map %s: "
			 "addresses %u..%u in one FC16)",
			 dn, r->name, cmd->name, mn, cmd->address, cmd->address + cmd->count - 1u);
	} else if (exc == MB_EXC_ILLEGAL_VALUE && has_raw && r->type != MAP_STRING) {
		char allowed[200];
		rule = r->values ? "values" : "range";
		http_api__allowed_text(r, allowed, sizeof allowed);
		snprintf(text, sizeof text,
			 "%s.%s does not take raw %" PRId64 ": it takes %s (map %s: %s)", dn,
			 r->name, raw, allowed, mn,
			 r->values		    ? "its `values`"
			 : r->has_bytes		    ? "each byte within its `bytes` range"
			 : r->has_min || r->has_max ? "its min..max"
						    : "its type");
	} else if (exc == MB_EXC_ILLEGAL_VALUE && r->type == MAP_STRING) {
		rule = "length";
		snprintf(text, sizeof text,
			 "%s.%s takes at most %u bytes of text (map %s: a string of %u registers)",
			 dn, r->name, 2u * r->count, mn, r->count);
	} else {
		/* Not a rule of the map or the config (a link that is down:
		 * 0A, 503): the exception as it is, with its status. */
		char what[200];
		snprintf(what, sizeof what, "%s.%s", dn, r->name);
		http_api__exception(a, exc, what);
		return;
	}
	json_init_buf(&j);
	json_key_str(&j, "{\"error\":", text);
	json_printf(&j, ",\"exception\":%u,\"exception_name\":", exc);
	json_str(&j, http_api__exc_name(exc));
	json_key_str(&j, ",\"rule\":", rule);
	if ((strcmp(rule, "range") == 0 || strcmp(rule, "values") == 0)) {
		char num[40];
		double x;
		json_raw(&j, ",\"allowed\":{");
		if (r->values) {
			json_raw(&j, "\"raw\":[");
			for (size_t i = 0; i < r->nvalues; i++)
				json_printf(&j, "%s%" PRId64, i ? "," : "", r->values[i]);
			json_raw(&j, "],\"values\":[");
			for (size_t i = 0; i < r->nvalues; i++) {
				snprintf(num, sizeof num, "null");
				if (values_value(r, r->values[i], &x) == 0)
					values_number_text(x, num, sizeof num);
				json_printf(&j, "%s%s", i ? "," : "", num);
			}
			json_raw(&j, "]");
		} else {
			/* The map's limits, or the type's where the map sets none. */
			int64_t lo, hi;
			http_api__limits(r, &lo, &hi);
			json_printf(&j, "\"raw_min\":%" PRId64 ",\"raw_max\":%" PRId64, lo, hi);
			snprintf(num, sizeof num, "null");
			if (values_value(r, lo, &x) == 0)
				values_number_text(x, num, sizeof num);
			json_printf(&j, ",\"min\":%s", num);
			snprintf(num, sizeof num, "null");
			if (values_value(r, hi, &x) == 0)
				values_number_text(x, num, sizeof num);
			json_printf(&j, ",\"max\":%s", num);
			if (r->has_bytes)
				json_printf(&j, ",\"bytes\":[[%u,%u],[%u,%u]]", r->byte_min[0],
					    r->byte_max[0], r->byte_min[1], r->byte_max[1]);
		}
		json_raw(&j, "}");
	}
	json_raw(&j, "}");
	http_answer_take(&j, a, 422);
}

/* The device of that name, or NULL with the 404 in a. */
static struct device *http_api__device(const struct http_view *v, const char *name,
				       struct http_answer *a)
{
	size_t n;
	struct device *const *devs = reload_devices(v->set, &n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(device_name(devs[i]), name) == 0)
			return devs[i];
	http_answer_error(a, 404, "no such device");
	return NULL;
}

/* ------------------------------------------------------------- status -- */

/* The "listeners" and "exports" members: the daemon's hooks (http.h), or
 * their empty shapes without one. */
static void http_api__listeners(const struct http_view *v, struct json *j)
{
	if (v->listeners)
		v->listeners(v->listeners_ctx, j);
	else
		json_raw(j, "[]");
}

static void http_api__exports(const struct http_view *v, struct json *j)
{
	if (v->exports)
		v->exports(v->exports_ctx, j);
	else
		json_raw(j, "{}");
}

static void http_api__doc_status(const struct http_view *v, char *const *p, struct http_answer *a)
{
	size_t n;
	struct json j;

	(void)p;
	reload_devices(v->set, &n);
	json_init_buf(&j);
	json_printf(&j, "{\"version\":\"%s\",\"uptime_s\":%" PRIu64 ",\"devices\":%zu", MB_VERSION,
		    (v->now_ms - v->started_ms) / 1000, n);
	if (v->server) {
		const struct server_stats *s = server_stats(v->server);
		json_printf(&j,
			    ",\"modbus\":{\"connections\":%zu,\"accepted\":%" PRIu64
			    ",\"requests\":%" PRIu64 ",\"garbage\":%" PRIu64
			    ",\"not_reading\":%" PRIu64 ",\"idle_closed\":%" PRIu64
			    ",\"not_allowed\":%" PRIu64 ",\"over_limit\":%" PRIu64
			    ",\"write_refused\":%" PRIu64 ",\"exceptions\":%" PRIu64 "}",
			    server_connections(v->server), s->accepted, s->requests, s->garbage,
			    s->not_reading, s->idle_closed, s->not_allowed, s->over_limit,
			    s->write_refused, s->exceptions);
	}
	/* Each listener of `listeners`, with its own counters. */
	json_raw(&j, ",\"listeners\":");
	http_api__listeners(v, &j);
	json_printf(&j,
		    ",\"http\":{\"requests\":%" PRIu64 ",\"auth_failures\":%" PRIu64
		    ",\"writes\":%" PRIu64 ",\"connections\":%" PRIu64 ",\"too_large\":%" PRIu64
		    ",\"slow_dropped\":%" PRIu64 "},\"exports\":",
		    v->stats->requests, v->stats->auth_failures, v->stats->writes,
		    v->stats->connections, v->stats->too_large, v->stats->slow_dropped);
	http_api__exports(v, &j);
	json_raw(&j, "}");
	http_answer_take(&j, a, 200);
}

/* ------------------------------------------------------------ devices -- */

static void http_api__device_json(struct json *j, const struct device *dev)
{
	const struct device_stats *s = device_stats(dev);
	const struct map *m = device_map(dev);
	static const struct {
		char key[6];
		unsigned slot;
	} exc[] = {{"01", 1},  {"02", 2},  {"03", 3},	{"04", 4},
		   {"0A", 10}, {"0B", 11}, {"other", 0}};

	json_key_str(j, "{\"name\":", device_name(dev));
	json_printf(j, ",\"unit_id\":%d,\"map\":", device_unit(dev));
	json_str(j, map_name(m));
	json_key_str(j, ",\"protocol\":", map_protocol(m));
	json_key_str(j, ",\"trust\":", map_trust(m));
	json_printf(j,
		    ",\"read_only\":%s,\"link_up\":%s,\"last_success\":%" PRIu64
		    ",\"last_attempt\":%" PRIu64 ",\"last_error\":%" PRIu64 ",\"last_exception\":",
		    device_config(dev)->read_only ? "true" : "false",
		    device_link_up(dev) ? "true" : "false", s->last_success, s->last_attempt,
		    s->last_error);
	if (s->last_error) {
		json_printf(j, "{\"code\":%u,\"name\":", s->last_exc);
		json_str(j, http_api__exc_name(s->last_exc));
		json_raw(j, "}");
	} else {
		json_raw(j, "null");
	}
	json_raw(j, ",");
	values_health_json(j, dev);
	json_printf(j,
		    ",\"counters\":{\"requests\":%" PRIu64 ",\"cache_hits\":%" PRIu64
		    ",\"native\":%" PRIu64 ",\"timeouts\":%" PRIu64 ",\"retries\":%" PRIu64
		    ",\"errors\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"bad_values\":%" PRIu64
		    "},\"exceptions\":{",
		    s->requests, s->cache_hits, s->native, s->timeouts, s->retries, s->errors,
		    s->dropped, s->bad_values);
	for (size_t i = 0; i < sizeof exc / sizeof exc[0]; i++)
		json_printf(j, "%s\"%s\":%" PRIu64, i ? "," : "", exc[i].key,
			    s->exceptions[exc[i].slot]);
	json_raw(j, "}}");
}

static void http_api__doc_devices(const struct http_view *v, char *const *p, struct http_answer *a)
{
	size_t n;
	struct device *const *devs = reload_devices(v->set, &n);
	struct json j;

	(void)p;
	json_init_buf(&j);
	json_raw(&j, "[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			json_raw(&j, ",");
		http_api__device_json(&j, devs[i]);
	}
	json_raw(&j, "]");
	http_answer_take(&j, a, 200);
}

static void http_api__doc_device(const struct http_view *v, char *const *p, struct http_answer *a)
{
	const char *name = p[1];
	struct device *dev = http_api__device(v, name, a);
	struct json j;

	if (!dev)
		return;
	json_init_buf(&j);
	http_api__device_json(&j, dev);
	http_answer_take(&j, a, 200);
}

static void http_api__doc_registers(const struct http_view *v, char *const *p,
				    struct http_answer *a)
{
	const char *name = p[1];
	struct device *dev = http_api__device(v, name, a);
	struct json j;

	if (!dev)
		return;
	json_init_buf(&j);
	values_json(&j, dev, v->now_ms);
	http_answer_take(&j, a, 200);
}

static const struct map_register *http_api__reg(const struct map *m, const char *id);

static void http_api__doc_register(const struct http_view *v, char *const *p, struct http_answer *a)
{
	const char *name = p[1], *reg = p[3];
	struct device *dev = http_api__device(v, name, a);
	const struct map_register *r;
	struct json j;

	if (!dev)
		return;
	if (!(r = http_api__reg(device_map(dev), reg))) {
		http_answer_error(a, 404, "no such register in the device's map");
		return;
	}
	json_init_buf(&j);
	values_json_register(&j, dev, r, v->now_ms);
	http_answer_take(&j, a, 200);
}

/* The summary registers' history (bridge/history.h). */
static void http_api__doc_history(const struct http_view *v, char *const *p, struct http_answer *a)
{
	const char *name = p[1];
	struct device *dev = http_api__device(v, name, a);
	struct json j;

	if (!dev)
		return;
	if (!v->history) {
		http_answer_error(a, 503, "no history: out of memory at start");
		return;
	}
	json_init_buf(&j);
	history_json(v->history, &j, dev);
	http_answer_take(&j, a, 200);
}

/* The register reference (--print-map --json's document) of a map that a
 * running device uses. */
static void http_api__doc_map(const struct http_view *v, char *const *p, struct http_answer *a)
{
	const char *name = p[1];
	size_t n;
	struct device *const *devs = reload_devices(v->set, &n);
	const struct map *m = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	for (size_t i = 0; i < n && !m; i++)
		if (strcmp(map_name(device_map(devs[i])), name) == 0)
			m = device_map(devs[i]);
	if (!m) {
		http_answer_error(a, 404, "no device uses such a map");
		return;
	}
	if (!(f = open_memstream(&buf, &len))) {
		a->status = 500;
		a->body = NULL;
		return;
	}
	map_print(m, f, MAP_FMT_JSON);
	if (fclose(f) != 0) {
		free(buf);
		buf = NULL;
	}
	a->status = 200;
	a->body = buf;
	a->len = buf ? len : 0;
}

#define HTTP_API__WRITE_SHAPE                                                                      \
	"the body must be a JSON object {\"value\": <scaled number or string>} or {\"raw\": "      \
	"<integer>}, one of them"

/* -------------------------------------------------------------- write -- */

struct http_write {
	struct device_req *req;
	http_write_cb cb;
	void *ctx;
	char *device, *reg;
	int64_t raw;
	int is_string;
};

static void http_api__write_ok(struct http_answer *a, const char *device,
			       const struct map_register *r, const struct http_write *w)
{
	struct json j;
	json_init_buf(&j);
	json_key_str(&j, "{\"device\":", device);
	json_key_str(&j, ",\"register\":", r ? r->name : w->reg);
	if (w->is_string)
		json_raw(&j, ",\"raw\":null");
	else {
		/* The value as the registers document shows it (values.h). */
		double value = (double)w->raw;
		char num[40] = "null";
		if (!r || values_value(r, w->raw, &value) == 0)
			values_number_text(value, num, sizeof num);
		json_printf(&j, ",\"raw\":%" PRId64 ",\"value\":%s", w->raw, num);
	}
	json_raw(&j, ",\"acknowledged\":true}");
	http_answer_take(&j, a, 200);
}

static void http_api__write_free(struct http_write *w)
{
	free(w->device);
	free(w->reg);
	free(w);
}

static void http_api__write_answer(void *ctx, enum mb_exc exc, const uint16_t *words,
				   uint16_t count)
{
	struct http_write *w = ctx;
	struct http_answer a;
	(void)words;
	(void)count;
	if (exc == MB_EXC_NONE)
		http_api__write_ok(&a, w->device, NULL, w);
	else
		http_api__exception(&a, exc, "the device did not take the write");
	w->cb(w->ctx, &a);
	http_api__write_free(w);
}

void http_api_write_cancel(struct http_write *w)
{
	if (!w)
		return;
	device_cancel(w->req);
	http_api__write_free(w);
}

/* The register a path names: its name, or the address of its first word. */
static const struct map_register *http_api__reg(const struct map *m, const char *id)
{
	char *end;
	unsigned long addr = strtoul(id, &end, 10);
	const struct map_register *r = map_find_name(m, id);

	if (r || *id < '0' || *id > '9' || *end || addr > 65535)
		return r;
	r = map_find(m, MAP_HOLDING, (uint16_t)addr);
	if (!r)
		r = map_find(m, MAP_INPUT, (uint16_t)addr);
	return r && r->address == addr ? r : NULL;
}

static int http_api__write(const struct http_view *v, char *const *p, const char *body, size_t len,
			   http_write_cb cb, void *ctx, struct http_write **req,
			   struct http_answer *a)
{
	const char *dname = p[1], *rname = p[3];
	struct device *dev = http_api__device(v, dname, a);
	const struct map_register *r;
	struct json_object *doc = NULL, *val = NULL, *raw = NULL;
	struct http_write *w;
	uint16_t words[MB_MAX_WRITE];

	*req = NULL;
	if (!dev)
		return 0;
	if (!(r = http_api__reg(device_map(dev), rname))) {
		http_answer_error(a, 404, "no such register in the device's map");
		return 0;
	}
	if (r->table == MAP_INPUT) {
		/* Modbus writes only holding registers: what FC06/16 would get. */
		http_api__refused(a, dev, r, MB_EXC_ILLEGAL_ADDRESS, 0, 0);
		return 0;
	}
	if (!(doc = http_answer_parse_body(body, len, HTTP_API__WRITE_SHAPE, a)))
		return 0;
	if (doc && json_object_is_type(doc, json_type_object)) {
		json_object_object_foreach(doc, key, member)
		{
			(void)member;
			if (strcmp(key, "value") != 0 && strcmp(key, "raw") != 0) {
				char text[300];
				snprintf(text, sizeof text,
					 "unknown member \"%.100s\": the body takes \"value\" or "
					 "\"raw\", one of them",
					 key);
				json_object_put(doc);
				http_answer_error(a, 400, text);
				return 0;
			}
		}
		json_object_object_get_ex(doc, "value", &val);
		json_object_object_get_ex(doc, "raw", &raw);
	}
	if (!doc || !json_object_is_type(doc, json_type_object) || !val == !raw) {
		/* Neither, or both (which one would count?). */
		json_object_put(doc);
		http_answer_error(a, 400, HTTP_API__WRITE_SHAPE);
		return 0;
	}
	if (!(w = calloc(1, sizeof *w)) || !(w->device = strdup(dname)) ||
	    !(w->reg = strdup(r->name))) {
		if (w)
			http_api__write_free(w);
		json_object_put(doc);
		a->status = 500;
		a->body = NULL;
		return 0;
	}
	int enc = 0;
	if (r->type == MAP_STRING) {
		if (!val || !json_object_is_type(val, json_type_string)) {
			http_answer_error(a, 400, "a string register takes {\"value\": \"text\"}");
			goto refused;
		}
		w->is_string = 1;
		enc = map_encode_string(r, json_object_get_string(val), words);
	} else if (raw) {
		if (!json_object_is_type(raw, json_type_int)) {
			http_answer_error(a, 400, "\"raw\" must be an integer");
			goto refused;
		}
		w->raw = json_object_get_int64(raw);
		enc = map_encode(r, w->raw, words);
	} else {
		if (!json_object_is_type(val, json_type_int) &&
		    !json_object_is_type(val, json_type_double)) {
			http_answer_error(a, 400, "\"value\" must be a number");
			goto refused;
		}
		double x = json_object_get_double(val), q = x / r->scale;
		/* The wire carries raw integers: a value between two steps of
		 * the scale cannot be written as given. */
		if (!isfinite(q) || fabs(q - nearbyint(q)) > 1e-6 * fmax(1.0, fabs(q)) ||
		    fabs(q) > 9.0e15) {
			http_answer_error(a, 400,
					  "\"value\" is not a whole multiple of the register's "
					  "scale; give {\"raw\": n} or a value on the scale");
			goto refused;
		}
		w->raw = (int64_t)nearbyint(q);
		enc = map_encode(r, w->raw, words);
	}
	json_object_put(doc);
	doc = NULL;
	if (enc != 0) {
		/* Does not fit the type (or the string is too long): what the
		 * device model answers for a value outside the map's limits. */
		http_api__refused(a, dev, r, MB_EXC_ILLEGAL_VALUE, w->raw, !w->is_string);
		http_api__write_free(w);
		return 0;
	}
	w->cb = cb;
	w->ctx = ctx;
	/* The same path as a Modbus client's write: the map's access, range
	 * and command rules, read_only, and the answer only once the device
	 * acknowledged. */
	struct device_outcome o =
	    device_write(dev, r->count == 1 ? MB_FC_WRITE_SINGLE : MB_FC_WRITE_MULTIPLE, r->address,
			 r->count, words, http_api__write_answer, w, &w->req);
	if (o.pending) {
		*req = w;
		return 1;
	}
	if (o.exc == MB_EXC_NONE)
		http_api__write_ok(a, dname, r, w);
	else
		http_api__refused(a, dev, r, o.exc, w->raw, !w->is_string);
	http_api__write_free(w);
	return 0;
refused:
	json_object_put(doc);
	http_api__write_free(w);
	return 0;
}

/* ------------------------------------------------------------- routes -- */

/* Every target under /api/v1/ but the API page and the OpenAPI document,
 * which are the server's own (http.c). The order does not matter: no two
 * routes match the same target. */
/* clang-format off */
const struct http_route http_api_routes[] = {
	{.part = {"status"}, .get = http_api__doc_status},
	{.part = {"devices"}, .get = http_api__doc_devices},
	{.part = {"devices", "*"}, .get = http_api__doc_device},
	{.part = {"devices", "*", "registers"}, .get = http_api__doc_registers},
	{.part = {"devices", "*", "history"}, .get = http_api__doc_history},
	{.part = {"maps", "*"}, .get = http_api__doc_map},
	{.part = {"settings"}, .get = http_settings_get, .post = http_settings_post},
	{.part = {"devices", "*", "registers", "*"}, .get = http_api__doc_register,
	 .write = http_api__write, .refuse = "use GET to read a register, POST to write it"},
};
/* clang-format on */
const size_t http_api_nroutes = sizeof http_api_routes / sizeof http_api_routes[0];

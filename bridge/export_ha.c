/* Home Assistant MQTT discovery (`mqtt_export.homeassistant = true`;
 * docs/user-guide.md, "Home Assistant discovery"). On the `mqtt_export`
 * connection, next to the values documents:
 *
 *   <ha>/<component>/<node>/<object>/config   retained discovery payloads:
 *        one HA device per modbridge device (via_device: the bridge, which
 *        has a device and a sensor of its own), one entity per register of
 *        the map (`ha = false` leaves one out), a binary_sensor per named bit
 *   <prefix>/<device>/state          retained: {"<register>": value, ...},
 *        each value as values_decode makes it (enum registers their text,
 *        bits "ON"/"OFF", null when there is none)
 *   <prefix>/<device>/availability   retained "online" / "offline"
 *   <prefix>/<device>/<register>/set commands (number, select, button)
 *   <prefix>/<device>/error          a refused command, not retained
 *
 * A command goes through device_write(), the path of a Modbus client's
 * and the REST API's writes: the map's access, range, values and command
 * rules and the device's read_only; the state is published again only once
 * the device acknowledged. A register of a larger `commands` group writes
 * the whole group (one FC16, as a Modbus client must), the others with
 * their cached values. Discovery payloads published for a device that
 * leaves the config (reload) are removed with empty retained messages. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "device.h"
#include "export_ha.h"
#include "json.h"
#include "link_mqtt.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "values.h"

/* A command's payload: a number or an option's text. */
#define EXPORT_HA__MAX_MESSAGE 256

enum export_ha__kind { HA_SENSOR, HA_ENUM, HA_NUMBER, HA_SELECT, HA_BUTTON, HA_BITS };

/* What a device's discovery published, so that it can be taken back. */
struct export_ha__known {
	char *name;
	char **topics;
	size_t ntopics;
	int avail; /* last published: 1, 0, -1 never */
};

/* Messages waiting for the link: discovery is hundreds of messages at
 * once, more than a link takes before it wrote them (LINK_MQTT_OUT_MAX_MSGS). */
struct export_ha__msg {
	struct export_ha__msg *next;
	char *topic;
	size_t len;
	int retain;
	char payload[];
};

/* Every EXPORT_HA__DRAIN_MS while messages wait, as many as the link takes. */
#define EXPORT_HA__DRAIN_MS 20
/* The queue's bound: discovery of a few hundred devices; beyond it (a
 * broker that takes nothing, a flood of refused commands) messages are
 * dropped, counted and logged once per episode. An error is not queued
 * behind more than EXPORT_HA__MAX_ERRQ others. */
#define EXPORT_HA__MAX_QUEUE 100000
#define EXPORT_HA__MAX_ERRQ 1000

struct export_ha__write {
	struct export_ha *ha;
	struct device_req *req;
	char *device, *reg, *payload;
	struct export_ha__write *next;
};

struct export_ha {
	uv_loop_t *loop;
	struct link_mqtt *link;
	char *prefix, *ha_prefix, *sub, *bridge_id;
	int qos;
	const struct device **devs;
	size_t ndevs;
	struct export_ha__known *known;
	size_t nknown;
	struct export_ha__write *writes;
	struct export_ha__msg *q, **q_tail;
	size_t q_len;
	unsigned long long dropped; /* messages the queue's bound dropped */
	int dropping;
	uv_timer_t drain;
};

/* The device's availability as Home Assistant shows it. One function, so
 * that the device model's own health can replace the link state here. */
static int export_ha__available(const struct device *dev)
{
	/* The device's health, not only its link: a battery that stopped
	 * answering behind a working broker is unavailable too. One that was
	 * not asked anything yet is not (its entities show no state). */
	enum device_health h = device_health(dev);
	return h == DEVICE_HEALTH_ANSWERING || h == DEVICE_HEALTH_UNKNOWN;
}

/* [a-zA-Z0-9_-], the characters of a discovery topic's node and object. */
static void export_ha__id(char *out, size_t len, const char *s)
{
	size_t i = 0;
	for (; *s && i + 1 < len; s++)
		out[i++] = ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '-')
			       ? *s
			       : '_';
	out[i] = 0;
}

static void export_ha__drop_queue(struct export_ha *ha)
{
	while (ha->q) {
		struct export_ha__msg *m = ha->q;
		ha->q = m->next;
		free(m->topic);
		free(m);
	}
	ha->q_tail = &ha->q;
	ha->q_len = 0;
}

static void export_ha__drain(uv_timer_t *t)
{
	struct export_ha *ha = t->data;
	while (ha->q) {
		struct export_ha__msg *m = ha->q;
		int rc = link_mqtt_publish(ha->link, m->topic, m->payload, m->len, ha->qos,
					   m->retain, NULL, NULL, NULL);
		if (rc == MB_ELINK && link_mqtt_is_up(ha->link))
			return; /* the link is full: the next round */
		if (rc == MB_ELINK) {
			/* Down: everything is announced again once it is up. */
			export_ha__drop_queue(ha);
			break;
		}
		ha->q = m->next;
		ha->q_len--;
		free(m->topic);
		free(m);
	}
	ha->q_tail = &ha->q;
	ha->dropping = 0;
	uv_timer_stop(&ha->drain);
}

static void export_ha__publish(struct export_ha *ha, const char *topic, const char *payload,
			       size_t len, int retain)
{
	struct export_ha__msg *m;
	if (ha->q_len >= EXPORT_HA__MAX_QUEUE) {
		ha->dropped++;
		if (!ha->dropping)
			log_warn("mqtt_export: homeassistant: %zu messages wait for the broker; "
				 "dropping more until it takes them (%llu dropped so far)",
				 ha->q_len, ha->dropped);
		ha->dropping = 1;
		return;
	}
	m = malloc(sizeof *m + len + 1);
	if (!m || !(m->topic = strdup(topic))) {
		free(m);
		log_err("mqtt_export: homeassistant: out of memory: %s not published", topic);
		return;
	}
	memcpy(m->payload, payload, len);
	m->payload[len] = 0;
	m->len = len;
	m->retain = retain;
	m->next = NULL;
	*ha->q_tail = m;
	ha->q_tail = &m->next;
	ha->q_len++;
	if (!uv_is_active((uv_handle_t *)&ha->drain))
		uv_timer_start(&ha->drain, export_ha__drain, 0, EXPORT_HA__DRAIN_MS);
}

static void export_ha__publish_json(struct export_ha *ha, const char *topic, struct json *j,
				    int retain)
{
	size_t len = 0;
	char *doc = json_take(j, &len);
	if (doc)
		export_ha__publish(ha, topic, doc, len, retain);
	free(doc);
}

/* --- what a register becomes -------------------------------------------- */

/* The larger command r belongs to (written only whole), or NULL. */
static const struct map_command *export_ha__command(const struct device *dev,
						    const struct map_register *r)
{
	const struct map_command *cmd = map_find_command(device_map(dev), r->address, r->count);
	return cmd && (cmd->address != r->address || cmd->count != r->count) ? cmd : NULL;
}

/* A register of a larger command is writable too: its command topic
 * writes the whole command, the other registers with their cached
 * values (export_ha__command_words), when every one of them is readable. */
static int export_ha__writable(const struct device *dev, const struct map_register *r)
{
	const struct config_device *cfg = device_config(dev);
	const struct map_command *cmd;
	if (r->table != MAP_HOLDING || !(r->access & MAP_W) || r->is_const ||
	    (cfg && cfg->read_only))
		return 0;
	if (!(cmd = export_ha__command(dev, r)))
		return 1;
	for (uint32_t a = cmd->address; a < (uint32_t)cmd->address + cmd->count;) {
		const struct map_register *o = map_find(device_map(dev), MAP_HOLDING, (uint16_t)a);
		if (!o || o->address != a || !(o->access & MAP_R))
			return 0;
		a += o->count;
	}
	return 1;
}

/* The words of r's command with r's words (mine) in place and every other
 * register's cached value: NULL, or the name of a register without one. */
static const char *export_ha__command_words(const struct device *dev, const struct map_command *cmd,
					    const struct map_register *r, const uint16_t *mine,
					    uint16_t *words)
{
	for (uint32_t a = cmd->address; a < (uint32_t)cmd->address + cmd->count;) {
		const struct map_register *o = map_find(device_map(dev), MAP_HOLDING, (uint16_t)a);
		uint64_t stamp;
		if (!o)
			return "a register of the command";
		if (o == r)
			memcpy(words + (a - cmd->address), mine, r->count * sizeof *mine);
		else if (!device_cache_peek(dev, o, words + (a - cmd->address), &stamp))
			return o->name;
		a += o->count;
	}
	return NULL;
}

static void export_ha__type_range(int type, int64_t *lo, int64_t *hi)
{
	switch (type) {
	case MAP_INT16:
		*lo = INT16_MIN, *hi = INT16_MAX;
		break;
	case MAP_INT32:
		*lo = INT32_MIN, *hi = INT32_MAX;
		break;
	case MAP_UINT32:
		*lo = 0, *hi = UINT32_MAX;
		break;
	default:
		*lo = 0, *hi = UINT16_MAX;
	}
}

/* The raw limits a number entity offers: the map's values, min and max,
 * else the type's. */
static void export_ha__limits(const struct map_register *r, int64_t *lo, int64_t *hi)
{
	export_ha__type_range(r->type, lo, hi);
	if (r->values && r->nvalues) {
		*lo = *hi = r->values[0];
		for (size_t i = 1; i < r->nvalues; i++) {
			if (r->values[i] < *lo)
				*lo = r->values[i];
			if (r->values[i] > *hi)
				*hi = r->values[i];
		}
		return;
	}
	if (r->has_min)
		*lo = r->min;
	if (r->has_max)
		*hi = r->max;
}

/* A `format` whose value Home Assistant reads as text (an address, a hex
 * word, a version) or as a time: a sensor with that state, never a number
 * entity (whose state must be a number). */
static int export_ha__text_format(const struct map_register *r)
{
	return r->format == MAP_FORMAT_IPV4 || r->format == MAP_FORMAT_HEX ||
	       r->format == MAP_FORMAT_VERSION || r->format == MAP_FORMAT_TIMESTAMP;
}

static enum export_ha__kind export_ha__kind(const struct device *dev, const struct map_register *r)
{
	int w = export_ha__writable(dev, r) && r->type != MAP_STRING && r->type != MAP_FLOAT32;
	if (export_ha__text_format(r))
		return HA_SENSOR; /* the format wins over value texts, as on the page */
	if (r->nbits)
		return HA_BITS;
	if (w && r->no_retry && r->values && r->nvalues == 1)
		return HA_BUTTON;
	if (r->nlabels)
		return w ? HA_SELECT : HA_ENUM;
	if (w) {
		int64_t lo, hi;
		export_ha__limits(r, &lo, &hi);
		if (hi > lo)
			return HA_NUMBER;
	}
	return HA_SENSOR;
}

/* device_class, state_class and unit: the map's, else inferred from the
 * unit; a `format` decides them (Home Assistant's sensor rules: a state
 * class or a unit announces a number, so a text has neither; a timestamp
 * is an ISO 8601 time with its offset, a duration a number of seconds). */
static void export_ha__classes(const struct map_register *r, const char **dc, const char **sc,
			       const char **unit)
{
	*unit = r->unit;
	switch (r->format) {
	case MAP_FORMAT_IPV4:
	case MAP_FORMAT_HEX:
	case MAP_FORMAT_VERSION:
		*dc = *sc = *unit = NULL;
		return;
	case MAP_FORMAT_TIMESTAMP:
		*dc = "timestamp";
		*sc = *unit = NULL;
		return;
	default:
		break;
	}
	static const struct {
		char unit[4], dc[15], sc[17];
	} infer[] = {
	    {"W", "power", "measurement"},	     {"kW", "power", "measurement"},
	    {"Wh", "energy", "total_increasing"},    {"kWh", "energy", "total_increasing"},
	    {"VA", "apparent_power", "measurement"}, {"var", "reactive_power", "measurement"},
	    {"V", "voltage", "measurement"},	     {"mV", "voltage", "measurement"},
	    {"A", "current", "measurement"},	     {"mA", "current", "measurement"},
	    {"Hz", "frequency", "measurement"},	     {"°C", "temperature", "measurement"},
	};
	*dc = NULL;
	*sc = r->type == MAP_STRING ? NULL : "measurement";
	if (r->unit) {
		for (size_t i = 0; i < sizeof infer / sizeof infer[0]; i++)
			if (strcmp(r->unit, infer[i].unit) == 0) {
				*dc = infer[i].dc;
				*sc = infer[i].sc;
			}
		if (strcmp(r->unit, "%") == 0 && strstr(r->name, "soc"))
			*dc = "battery";
	}
	if (r->ha_class) {
		*dc = r->ha_class;
		if (strcmp(r->ha_class, "energy") == 0 || strcmp(r->ha_class, "monetary") == 0)
			*sc = strcmp(r->ha_class, "energy") == 0 ? "total_increasing" : "total";
	}
	if (r->ha_state != MAP_HA_STATE_INFER)
		*sc = map_ha_states[r->ha_state - MAP_HA_MEASUREMENT];
	if (r->format == MAP_FORMAT_DURATION) {
		*dc = "duration";
		*unit = "s"; /* values_format_text's unit too */
	}
}

/* entity_category from the map's `group`, so that Home Assistant shows a
 * device's network and identification rows, and its settings, apart from
 * its main controls and sensors (docs/user-guide.md, "Home Assistant
 * discovery"). A control (number, select, button) outside status and
 * energy is `config`; a read-only entity there is `diagnostic`, the only
 * category Home Assistant takes for a sensor or binary_sensor. Status,
 * energy and no group: none. */
static const char *export_ha__category(const struct map_register *r, enum export_ha__kind k)
{
	switch (r->group) {
	case MAP_GROUP_SETTINGS:
	case MAP_GROUP_NETWORK:
	case MAP_GROUP_IDENTIFICATION:
		return k == HA_NUMBER || k == HA_SELECT || k == HA_BUTTON ? "config" : "diagnostic";
	default:
		return NULL;
	}
}

static void export_ha__category_key(struct json *j, const struct map_register *r,
				    enum export_ha__kind k)
{
	const char *cat = export_ha__category(r, k);
	if (cat)
		json_printf(j, ",\"entity_category\":\"%s\"", cat);
}

/* --- discovery payloads ------------------------------------------------- */

struct export_ha__ctx {
	struct export_ha *ha;
	const struct device *dev;
	char node[160];
	char **topics;
	size_t ntopics;
	int failed;
};

static void export_ha__device_json(struct json *j, struct export_ha__ctx *c)
{
	const struct map *m = device_map(c->dev);
	json_key_str(j, ",\"device\":{\"identifiers\":[", c->node);
	json_key_str(j, "],\"name\":", device_name(c->dev));
	json_key_str(j, ",\"manufacturer\":", map_vendor(m) ? map_vendor(m) : "modbridge");
	json_key_str(j, ",\"model\":", map_model(m) ? map_model(m) : map_name(m));
	json_key_str(j, ",\"via_device\":", c->ha->bridge_id);
	json_raw(j, "},\"origin\":{\"name\":\"modbridge\"}");
}

/* Publish one entity's config: the keys every entity has, then more. */
static void export_ha__entity(struct export_ha__ctx *c, const char *component, const char *obj,
			      const char *name, const char *more)
{
	struct export_ha *ha = c->ha;
	const char *dn = device_name(c->dev);
	char oid[128], *topic, **t;
	size_t tlen;
	struct json j;

	export_ha__id(oid, sizeof oid, obj);
	tlen = strlen(ha->ha_prefix) + strlen(component) + strlen(c->node) + strlen(oid) + 16;
	if (!(topic = malloc(tlen)) ||
	    !(t = realloc(c->topics, (c->ntopics + 1) * sizeof *c->topics))) {
		free(topic);
		c->failed = 1;
		return;
	}
	c->topics = t;
	c->topics[c->ntopics++] = topic;
	snprintf(topic, tlen, "%s/%s/%s/%s/config", ha->ha_prefix, component, c->node, oid);
	json_init_buf(&j);
	json_key_str(&j, "{\"name\":", name);
	json_printf(&j, ",\"unique_id\":\"%s_%s\"", c->node, oid);
	/* Available while the bridge runs (its will says offline) and the
	 * device's own availability says so. */
	json_printf(&j,
		    ",\"availability\":[{\"topic\":\"%s/_bridge/availability\"},"
		    "{\"topic\":\"%s/%s/availability\"}],\"availability_mode\":\"all\"",
		    ha->prefix, ha->prefix, dn);
	json_raw(&j, more);
	export_ha__device_json(&j, c);
	json_raw(&j, "}");
	export_ha__publish_json(ha, topic, &j, 1);
}

/* ,"state_topic":...,"value_template":... for state key `key`. */
static void export_ha__state_keys(struct json *j, struct export_ha__ctx *c, const char *key)
{
	json_printf(j, ",\"state_topic\":\"%s/%s/state\",\"value_template\":", c->ha->prefix,
		    device_name(c->dev));
	char tpl[256];
	snprintf(tpl, sizeof tpl, "{{ value_json['%s'] }}", key);
	json_str(j, tpl);
}

static void export_ha__command_keys(struct json *j, struct export_ha__ctx *c,
				    const struct map_register *r)
{
	json_printf(j, ",\"command_topic\":\"%s/%s/%s/set\"", c->ha->prefix, device_name(c->dev),
		    r->name);
}

static void export_ha__options(struct json *j, const struct map_register *r, int writable)
{
	int first = 1;
	json_raw(j, ",\"options\":[");
	for (size_t i = 0; i < r->nlabels; i++) {
		if (writable && !map_value_ok(r, r->labels[i].value))
			continue;
		json_key_str(j, first ? "" : ",", r->labels[i].text);
		first = 0;
	}
	json_raw(j, "]");
}

static int export_ha__one(void *ctx, const struct values_item *v)
{
	struct export_ha__ctx *c = ctx;
	const struct map_register *r = v->reg;
	enum export_ha__kind k = export_ha__kind(c->dev, r);
	int readable = (r->access & MAP_R) != 0;
	const char *dc, *sc, *unit;
	char *more;
	struct json j;

	if (!r->ha)
		return 0;
	export_ha__classes(r, &dc, &sc, &unit);
	if (k == HA_BITS) {
		for (size_t i = 0; i < r->nbits; i++) {
			char obj[160], name[300];
			snprintf(obj, sizeof obj, "%s_bit%" PRId64, r->name, r->bits[i].value);
			snprintf(name, sizeof name, "%s: %s", r->name, r->bits[i].text);
			json_init_buf(&j);
			export_ha__state_keys(&j, c, obj);
			export_ha__category_key(&j, r, k);
			if ((more = json_take(&j, NULL)))
				export_ha__entity(c, "binary_sensor", obj, name, more);
			free(more);
		}
		return 0;
	}
	json_init_buf(&j);
	if (readable && k != HA_BUTTON)
		export_ha__state_keys(&j, c, r->name);
	switch (k) {
	case HA_ENUM:
		json_raw(&j, ",\"device_class\":\"enum\"");
		export_ha__options(&j, r, 0);
		break;
	case HA_SELECT:
		export_ha__command_keys(&j, c, r);
		export_ha__options(&j, r, 1);
		break;
	case HA_BUTTON:
		export_ha__command_keys(&j, c, r);
		break;
	case HA_NUMBER: {
		int64_t lo, hi;
		double a = 0, b = 0, step = fabs(r->scale);
		char num[40];
		export_ha__limits(r, &lo, &hi);
		values_value(r, lo, &a);
		values_value(r, hi, &b);
		export_ha__command_keys(&j, c, r);
		values_number_text(fmin(a, b), num, sizeof num);
		json_printf(&j, ",\"min\":%s", num);
		values_number_text(fmax(a, b), num, sizeof num);
		json_printf(&j, ",\"max\":%s", num);
		values_number_text(step < 0.001 ? 0.001 : step, num, sizeof num);
		json_printf(&j, ",\"step\":%s,\"mode\":\"box\"", num);
		if (unit)
			json_key_str(&j, ",\"unit_of_measurement\":", unit);
		if (dc)
			json_key_str(&j, ",\"device_class\":", dc);
		break;
	}
	default:
		if (unit)
			json_key_str(&j, ",\"unit_of_measurement\":", unit);
		if (dc)
			json_key_str(&j, ",\"device_class\":", dc);
		if (sc)
			json_key_str(&j, ",\"state_class\":", sc);
	}
	export_ha__category_key(&j, r, k);
	if ((more = json_take(&j, NULL))) {
		static const char comp[][14] = {
		    [HA_SENSOR] = "sensor", [HA_ENUM] = "sensor",   [HA_NUMBER] = "number",
		    [HA_SELECT] = "select", [HA_BUTTON] = "button", [HA_BITS] = "binary_sensor"};
		export_ha__entity(c, comp[k], r->name, r->name, more);
	}
	free(more);
	return 0;
}

/* --- state -------------------------------------------------------------- */

struct export_ha__state {
	struct json *j;
	int first;
};

static void export_ha__key(struct export_ha__state *s, const char *key)
{
	json_raw(s->j, s->first ? "{" : ",");
	s->first = 0;
	json_str(s->j, key);
	json_raw(s->j, ":");
}

/* The state of a text format's sensor: the page's text, and for a
 * timestamp ISO 8601 with its offset, which Home Assistant parses
 * ("2026-12-07T16:20:00+00:00"). 0, or -1 when there is none (NaN, a time
 * out of range). */
static int export_ha__format_state(const struct map_register *r, const struct values_item *v,
				   char *buf, size_t len)
{
	if (!v->number)
		return -1;
	if (r->format == MAP_FORMAT_TIMESTAMP) {
		struct tm tm;
		if (!(v->scaled >= 0 && v->scaled <= 253402300799.0))
			return -1;
		time_t t = (time_t)v->scaled;
		if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%S+00:00", &tm) == 0)
			return -1;
		return 0;
	}
	return values_format_text(r, v->raw, v->scaled, buf, len);
}

static int export_ha__state_one(void *ctx, const struct values_item *v)
{
	struct export_ha__state *s = ctx;
	const struct map_register *r = v->reg;
	char num[40];

	if (!r->ha || !(r->access & MAP_R))
		return 0;
	if (r->nbits) {
		for (size_t i = 0; i < r->nbits; i++) {
			char key[160];
			snprintf(key, sizeof key, "%s_bit%" PRId64, r->name, r->bits[i].value);
			export_ha__key(s, key);
			if (!v->valid || r->bits[i].value < 0 || r->bits[i].value > 63)
				json_raw(s->j, "null");
			else
				json_raw(s->j, ((uint64_t)v->raw >> r->bits[i].value) & 1u
						   ? "\"ON\""
						   : "\"OFF\"");
		}
		return 0;
	}
	export_ha__key(s, r->name);
	if (!v->valid) {
		json_raw(s->j, "null");
	} else if (export_ha__text_format(r)) {
		char text[80];
		if (export_ha__format_state(r, v, text, sizeof text) == 0)
			json_str(s->j, text);
		else
			json_raw(s->j, "null");
	} else if (v->text) {
		json_str(s->j, v->text);
	} else if (r->nlabels) {
		const char *t = NULL;
		for (size_t i = 0; i < r->nlabels; i++)
			if (r->labels[i].value == v->raw)
				t = r->labels[i].text;
		json_str(s->j, t);
	} else if (v->number) {
		values_number_text(v->scaled, num, sizeof num);
		json_raw(s->j, num);
	} else {
		json_raw(s->j, "null");
	}
	return 0;
}

static char *export_ha__topic(const struct export_ha *ha, const char *dev, const char *tail)
{
	size_t n = strlen(ha->prefix) + strlen(dev) + strlen(tail) + 3;
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "%s/%s/%s", ha->prefix, dev, tail);
	return t;
}

void export_ha_state(struct export_ha *ha, const struct device *dev, uint64_t now_ms)
{
	struct json j;
	struct export_ha__state s = {.j = &j, .first = 1};
	char *topic = export_ha__topic(ha, device_name(dev), "state");

	json_init_buf(&j);
	values_each(dev, now_ms, export_ha__state_one, &s);
	json_raw(&j, s.first ? "{}" : "}");
	if (topic)
		export_ha__publish_json(ha, topic, &j, 1);
	else
		free(json_take(&j, NULL));
	free(topic);
}

static struct export_ha__known *export_ha__find_known(struct export_ha *ha, const char *name)
{
	for (size_t i = 0; i < ha->nknown; i++)
		if (strcmp(ha->known[i].name, name) == 0)
			return &ha->known[i];
	return NULL;
}

static void export_ha__availability(struct export_ha *ha, const struct device *dev, int force)
{
	struct export_ha__known *k = export_ha__find_known(ha, device_name(dev));
	int up = export_ha__available(dev);
	char *topic;

	if (k && k->avail == up && !force)
		return;
	if (!(topic = export_ha__topic(ha, device_name(dev), "availability")))
		return;
	export_ha__publish(ha, topic, up ? "online" : "offline", up ? 6 : 7, 1);
	free(topic);
	if (k)
		k->avail = up;
}

/* --- the device set ----------------------------------------------------- */

static void export_ha__free_topics(char **t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i]);
	free(t);
}

/* Empty retained configs for the topics of old that new does not have. */
static void export_ha__take_back(struct export_ha *ha, char **old, size_t nold, char **new,
				 size_t nnew)
{
	for (size_t i = 0; i < nold; i++) {
		size_t k = 0;
		while (k < nnew && strcmp(old[i], new[k]) != 0)
			k++;
		if (k == nnew)
			export_ha__publish(ha, old[i], "", 0, 1);
	}
}

static void export_ha__bridge(struct export_ha *ha)
{
	char topic[300];
	struct json j;
	snprintf(topic, sizeof topic, "%s/sensor/%s/devices/config", ha->ha_prefix, ha->bridge_id);
	json_init_buf(&j);
	json_printf(&j,
		    "{\"name\":\"devices\",\"unique_id\":\"%s_devices\",\"state_topic\":\"%s/"
		    "_bridge/state\",\"value_template\":\"{{ value_json['devices'] }}\","
		    "\"state_class\":\"measurement\",\"availability_topic\":\"%s/_bridge/"
		    "availability\",\"device\":{\"identifiers\":[\"%s\"],\"name\":\"modbridge\","
		    "\"manufacturer\":\"modbridge\",\"model\":\"modbridge\"},"
		    "\"origin\":{\"name\":\"modbridge\"}}",
		    ha->bridge_id, ha->prefix, ha->prefix, ha->bridge_id);
	export_ha__publish_json(ha, topic, &j, 1);
	snprintf(topic, sizeof topic, "%s/_bridge/state", ha->prefix);
	json_init_buf(&j);
	json_printf(&j, "{\"devices\":%zu}", ha->ndevs);
	export_ha__publish_json(ha, topic, &j, 1);
	snprintf(topic, sizeof topic, "%s/_bridge/availability", ha->prefix);
	export_ha__publish(ha, topic, "online", 6, 1);
}

char *export_ha_will_topic(const struct config_export_mqtt *cfg)
{
	size_t n = strlen(cfg->prefix) + sizeof "/_bridge/availability";
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "%s/_bridge/availability", cfg->prefix);
	return t;
}

void export_ha_announce(struct export_ha *ha, const struct device *dev, uint64_t now_ms)
{
	struct export_ha__ctx c = {.ha = ha, .dev = dev};
	struct export_ha__known *k = export_ha__find_known(ha, device_name(dev)), *nk;
	char dev_id[128];

	export_ha__id(dev_id, sizeof dev_id, device_name(dev));
	snprintf(c.node, sizeof c.node, "%s_%s", ha->bridge_id, dev_id);
	values_each(dev, now_ms, export_ha__one, &c);
	if (!k) {
		if (!(nk = realloc(ha->known, (ha->nknown + 1) * sizeof *nk))) {
			export_ha__free_topics(c.topics, c.ntopics);
			return;
		}
		ha->known = nk;
		k = &ha->known[ha->nknown];
		memset(k, 0, sizeof *k);
		if (!(k->name = strdup(device_name(dev)))) {
			export_ha__free_topics(c.topics, c.ntopics);
			return;
		}
		k->avail = -1;
		ha->nknown++;
	} else {
		export_ha__take_back(ha, k->topics, k->ntopics, c.topics, c.ntopics);
		export_ha__free_topics(k->topics, k->ntopics);
	}
	k->topics = c.topics;
	k->ntopics = c.ntopics;
	export_ha__availability(ha, dev, 1);
	export_ha_state(ha, dev, now_ms);
}

void export_ha_announce_all(struct export_ha *ha, uint64_t now_ms)
{
	export_ha__bridge(ha);
	for (size_t i = 0; i < ha->ndevs; i++)
		export_ha_announce(ha, ha->devs[i], now_ms);
}

void export_ha_tick(struct export_ha *ha)
{
	for (size_t i = 0; i < ha->ndevs; i++)
		export_ha__availability(ha, ha->devs[i], 0);
}

int export_ha_devices(struct export_ha *ha, const struct device *const *devs, size_t n,
		      uint64_t now_ms)
{
	const struct device **d = calloc(n ? n : 1, sizeof *d);
	if (!d)
		return MB_ENOMEM;
	memcpy(d, devs, n * sizeof *d);
	free(ha->devs);
	ha->devs = d;
	ha->ndevs = n;
	/* Devices that left: their entities go. */
	for (size_t i = 0; i < ha->nknown;) {
		size_t k = 0;
		while (k < n && strcmp(device_name(devs[k]), ha->known[i].name) != 0)
			k++;
		if (k < n) {
			i++;
			continue;
		}
		log_info("mqtt_export: homeassistant: %s left the config: removing its %zu "
			 "entities",
			 ha->known[i].name, ha->known[i].ntopics);
		export_ha__take_back(ha, ha->known[i].topics, ha->known[i].ntopics, NULL, 0);
		export_ha__free_topics(ha->known[i].topics, ha->known[i].ntopics);
		free(ha->known[i].name);
		ha->known[i] = ha->known[--ha->nknown];
	}
	if (link_mqtt_is_up(ha->link))
		export_ha_announce_all(ha, now_ms);
	return 0;
}

/* --- commands ----------------------------------------------------------- */

static const struct device *export_ha__device(const struct export_ha *ha, const char *name)
{
	for (size_t i = 0; i < ha->ndevs; i++)
		if (strcmp(device_name(ha->devs[i]), name) == 0)
			return ha->devs[i];
	return NULL;
}

static void export_ha__error(struct export_ha *ha, const char *dev, const char *reg,
			     const char *payload, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void export_ha__error(struct export_ha *ha, const char *dev, const char *reg,
			     const char *payload, const char *fmt, ...)
{
	char text[400], r[128], p[3 * EXPORT_HA__MAX_MESSAGE + 1];
	char *topic;
	struct json j;
	va_list ap;

	if (ha->q_len >= EXPORT_HA__MAX_ERRQ) {
		ha->dropped++;
		return;
	}
	topic = export_ha__topic(ha, dev, "error");
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	/* A stranger's register name in a log line: printable ASCII only. */
	snprintf(r, sizeof r, "%s", reg);
	for (char *c = r; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	log_debug("mqtt_export: homeassistant: %s.%s: %s", dev, r, text);
	json_utf8_clean(p, payload, strlen(payload));
	json_init_buf(&j);
	json_key_str(&j, "{\"register\":", r);
	json_key_str(&j, ",\"payload\":", p);
	json_key_str(&j, ",\"error\":", text);
	json_raw(&j, "}");
	if (topic)
		export_ha__publish_json(ha, topic, &j, 0);
	else
		free(json_take(&j, NULL));
	free(topic);
}

/* Why the device model refused a write, the REST API's rules in short. */
static void export_ha__refused(struct export_ha *ha, const struct device *dev,
			       const struct map_register *r, const char *payload, enum mb_exc exc)
{
	const char *dn = device_name(dev);
	if (exc == MB_EXC_ILLEGAL_VALUE) {
		int64_t lo, hi;
		double a = 0, b = 0;
		char x[40], y[40];
		export_ha__limits(r, &lo, &hi);
		values_value(r, lo, &a);
		values_value(r, hi, &b);
		values_number_text(fmin(a, b), x, sizeof x);
		values_number_text(fmax(a, b), y, sizeof y);
		export_ha__error(ha, dn, r->name, payload,
				 "refused by the map: allowed %s%s..%s%s%s (exception 03)",
				 r->values ? "values within " : "", x, y, r->unit ? " " : "",
				 r->unit ? r->unit : "");
	} else if (exc == MB_EXC_ILLEGAL_FUNCTION) {
		export_ha__error(ha, dn, r->name, payload,
				 "refused: the device is read_only (exception 01)");
	} else {
		export_ha__error(ha, dn, r->name, payload,
				 "the device did not take the write (exception %02X)", exc);
	}
}

static void export_ha__write_free(struct export_ha__write *w)
{
	struct export_ha__write **p = &w->ha->writes;
	while (*p && *p != w)
		p = &(*p)->next;
	if (*p)
		*p = w->next;
	free(w->device);
	free(w->reg);
	free(w->payload);
	free(w);
}

static void export_ha__write_done(void *ctx, enum mb_exc exc, const uint16_t *words, uint16_t count)
{
	struct export_ha__write *w = ctx;
	const struct device *dev = export_ha__device(w->ha, w->device);
	(void)words;
	(void)count;
	if (dev) {
		const struct map_register *r = map_find_name(device_map(dev), w->reg);
		if (exc == MB_EXC_NONE)
			export_ha_state(w->ha, dev, uv_now(w->ha->loop));
		else if (r)
			export_ha__refused(w->ha, dev, r, w->payload, exc);
	}
	export_ha__write_free(w);
}

/* The raw value a command's payload stands for, or an error text. */
static const char *export_ha__raw(const struct map_register *r, enum export_ha__kind k,
				  const char *p, int64_t *raw)
{
	char *end;
	double x, q;
	if (k == HA_BUTTON) {
		*raw = r->values[0];
		return NULL;
	}
	if (k == HA_SELECT) {
		for (size_t i = 0; i < r->nlabels; i++)
			if (strcmp(r->labels[i].text, p) == 0) {
				*raw = r->labels[i].value;
				return NULL;
			}
		return "not one of the options";
	}
	x = strtod(p, &end);
	while (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t')
		end++;
	if (!*p || *end || !isfinite(x))
		return "not a number";
	q = x / r->scale;
	/* The wire carries raw integers, as the REST API's writes. */
	if (fabs(q - nearbyint(q)) > 1e-6 * fmax(1.0, fabs(q)) || fabs(q) > 9.0e15)
		return "not a whole multiple of the register's scale";
	*raw = (int64_t)nearbyint(q);
	return NULL;
}

static void export_ha__on_msg(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	struct export_ha *ha = ctx;
	size_t pl = strlen(ha->prefix), tl = strlen(topic);
	char rest[300], text[EXPORT_HA__MAX_MESSAGE + 1], *slash;
	const struct device *dev;
	const struct map_register *r;
	enum export_ha__kind k;
	uint16_t words[MB_MAX_WRITE];
	int64_t raw = 0;
	const char *why;
	struct export_ha__write *w;

	/* <prefix>/<device>/<register>/set */
	if (tl <= pl + 5 || tl - pl - 1 >= sizeof rest || len > EXPORT_HA__MAX_MESSAGE)
		return;
	memcpy(rest, topic + pl + 1, tl - pl - 1);
	rest[tl - pl - 1 - 4] = 0; /* "/set" */
	memcpy(text, payload, len);
	text[len] = 0;
	if (memchr(payload, 0, len) || !(slash = strrchr(rest, '/')))
		return;
	*slash = 0;
	if (!(dev = export_ha__device(ha, rest)))
		return;
	if (!(r = map_find_name(device_map(dev), slash + 1)) || !r->ha ||
	    ((k = export_ha__kind(dev, r)) != HA_NUMBER && k != HA_SELECT && k != HA_BUTTON)) {
		export_ha__error(ha, rest, slash + 1, text, "no writable entity of that name");
		return;
	}
	if ((why = export_ha__raw(r, k, text, &raw))) {
		export_ha__error(ha, rest, r->name, text, "%s", why);
		return;
	}
	if (map_encode(r, raw, words) != 0) {
		export_ha__refused(ha, dev, r, text, MB_EXC_ILLEGAL_VALUE);
		return;
	}
	uint16_t addr = r->address, count = r->count;
	const struct map_command *cmd = export_ha__command(dev, r);
	if (cmd) {
		uint16_t mine[4];
		const char *missing;
		if (!map_value_ok(r, raw)) {
			/* The device model checks the whole command's values
			 * too; this names the register in the refusal. */
			export_ha__refused(ha, dev, r, text, MB_EXC_ILLEGAL_VALUE);
			return;
		}
		memcpy(mine, words, r->count * sizeof *mine);
		if ((missing = export_ha__command_words(dev, cmd, r, mine, words))) {
			export_ha__error(
			    ha, rest, r->name, text,
			    "written only with the command \"%s\", and %s has no value "
			    "yet to write with it",
			    cmd->name, missing);
			return;
		}
		addr = cmd->address;
		count = cmd->count;
	}
	if (!(w = calloc(1, sizeof *w)) || !(w->device = strdup(rest)) ||
	    !(w->reg = strdup(r->name)) || !(w->payload = strdup(text))) {
		if (w) {
			free(w->device);
			free(w->reg);
		}
		free(w);
		return;
	}
	w->ha = ha;
	w->next = ha->writes;
	ha->writes = w;
	/* The device model's write path: access, range, values, commands,
	 * read_only, and the answer once the device acknowledged. */
	struct device_outcome o = device_write(
	    (struct device *)dev, count == 1 && !cmd ? MB_FC_WRITE_SINGLE : MB_FC_WRITE_MULTIPLE,
	    addr, count, words, export_ha__write_done, w, &w->req);
	if (!o.pending)
		export_ha__write_done(w, o.exc, NULL, 0);
}

/* --- start and stop ----------------------------------------------------- */

struct export_ha *export_ha_start(uv_loop_t *loop, const struct config_export_mqtt *cfg,
				  const char *client_id, char *err, size_t errlen)
{
	struct export_ha *ha = calloc(1, sizeof *ha);
	char id[128];
	size_t n;

	if (!ha) {
		snprintf(err, errlen, "mqtt_export: out of memory");
		return NULL;
	}
	export_ha__id(id, sizeof id, cfg->prefix);
	n = strlen(cfg->prefix) + sizeof "/+/+/set";
	ha->loop = loop;
	ha->qos = cfg->mqtt.qos;
	ha->q_tail = &ha->q;
	uv_timer_init(loop, &ha->drain);
	ha->drain.data = ha;
	/* The exporter's own connection (the same broker and client ID share
	 * one link), with a reference of ours. */
	if (!(ha->link = link_mqtt_get(loop, &cfg->mqtt, client_id, err, errlen))) {
		export_ha_close(ha);
		return NULL;
	}
	if (!(ha->prefix = strdup(cfg->prefix)) || !(ha->ha_prefix = strdup(cfg->ha_prefix)) ||
	    !(ha->sub = malloc(n)) || !(ha->bridge_id = malloc(strlen(id) + sizeof "modbridge_"))) {
		snprintf(err, errlen, "mqtt_export: out of memory");
		export_ha_close(ha);
		return NULL;
	}
	snprintf(ha->sub, n, "%s/+/+/set", cfg->prefix);
	sprintf(ha->bridge_id, "modbridge_%s", id);
	if (link_mqtt_subscribe(ha->link, ha->sub, 0, export_ha__on_msg, NULL, ha) != 0) {
		snprintf(err, errlen, "mqtt_export: homeassistant: cannot subscribe to %s",
			 ha->sub);
		export_ha_close(ha);
		return NULL;
	}
	link_mqtt_limit(ha->link, ha, EXPORT_HA__MAX_MESSAGE, NULL);
	return ha;
}

static void export_ha__closed(uv_handle_t *h)
{
	struct export_ha *ha = h->data;
	export_ha__drop_queue(ha);
	free(ha);
}

/* What is still queued is not sent; frees once the timer is closed. */
void export_ha_close(struct export_ha *ha)
{
	if (!ha)
		return;
	while (ha->writes) {
		device_cancel(ha->writes->req);
		export_ha__write_free(ha->writes);
	}
	if (ha->link && ha->prefix && link_mqtt_is_up(ha->link)) {
		/* A clean disconnect does not publish the will: say it. */
		char topic[300];
		snprintf(topic, sizeof topic, "%s/_bridge/availability", ha->prefix);
		link_mqtt_publish(ha->link, topic, "offline", 7, 1, 1, NULL, NULL, NULL);
	}
	if (ha->link)
		link_mqtt_release(ha->link, ha);
	for (size_t i = 0; i < ha->nknown; i++) {
		export_ha__free_topics(ha->known[i].topics, ha->known[i].ntopics);
		free(ha->known[i].name);
	}
	free(ha->known);
	free(ha->devs);
	free(ha->prefix);
	free(ha->ha_prefix);
	free(ha->sub);
	free(ha->bridge_id);
	uv_close((uv_handle_t *)&ha->drain, export_ha__closed);
}

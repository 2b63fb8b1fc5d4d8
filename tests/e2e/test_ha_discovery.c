/* Home Assistant MQTT discovery (docs/user-guide.md, "Home Assistant
 * discovery"): the real daemon with a memory device for EVERY shipped map
 * and a PowerGo device on a broker of its own, `mqtt_export.homeassistant =
 * true` on a real mosquitto, read with mosquitto_sub:
 *
 *   - every discovery payload checked against Home Assistant's MQTT
 *     discovery rules (the table below): topic form, required and allowed
 *     keys per platform, device_class / unit / state_class combinations,
 *     options, number limits, unique_id uniqueness, the device block and
 *     via_device, availability, and the value each value_template names in
 *     the device's state document;
 *   - energy counters reach the Energy dashboard (kWh: energy,
 *     total_increasing) and a map's own device_class wins;
 *   - entity_category from the map's group: the PowerGo's network and
 *     identification rows diagnostic, its writable settings config, its
 *     SOC none;
 *   - a command round trip: number and select commands change the memory
 *     device's registers (read back with Modbus) and the state is published
 *     again; an out-of-range value, a payload that is not a number and a
 *     register written only with its command are refused on the error
 *     topic and change nothing;
 *   - availability: the PowerGo device goes "offline" when its broker stops;
 *   - removal: a device that leaves the config on reload (SIGHUP) has every
 *     discovery config taken back with an empty retained message.
 *
 * The rules are Home Assistant's, as its source states them
 * (homeassistant/components/sensor/const.py: DEVICE_CLASS_UNITS and
 * DEVICE_CLASS_STATE_CLASSES; components/mqtt/sensor.py: options only with
 * device_class enum and without unit or state_class; number.py: min < max,
 * step >= 0.001, mode auto/box/slider; the platforms' required
 * state_topic / command_topic / options; discovery.py: the topic pattern
 * <prefix>/<component>/[<node_id>/]<object_id>/config with ids of
 * [a-zA-Z0-9_-]). */
#include "harness.h"

#include <dirent.h>
#include <json-c/json.h>
#include <modbus.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 20000
#define PREFIX "site/values"
#define BRIDGE_ID "modbridge_site_values"

/* --- Home Assistant's rules ---------------------------------------------- */

/* sensor/const.py, DEVICE_CLASS_UNITS and DEVICE_CLASS_STATE_CLASSES, for
 * the classes a bridge of energy devices uses (a class not listed here is
 * refused: the checker does not guess). states: m measurement, t total,
 * i total_increasing; "" none allowed. units NULL-terminated; unit_none:
 * no unit is allowed; any_unit: every unit is (monetary: a currency). */
static const struct ha_class {
	const char *name;
	const char *units[16];
	int unit_none, any_unit;
	const char *states;
} ha_classes[] = {
    {"apparent_power", {"mVA", "VA", "kVA", NULL}, 0, 0, "m"},
    {"battery", {"%", NULL}, 0, 0, "m"},
    {"current", {"mA", "A", NULL}, 0, 0, "m"},
    {"duration", {"d", "h", "min", "s", "ms", NULL}, 0, 0, "mti"},
    {"energy",
     {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal",
      NULL},
     0,
     0,
     "ti"},
    {"energy_storage",
     {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal", "Gcal",
      NULL},
     0,
     0,
     "m"},
    {"enum", {NULL}, 1, 0, ""},
    {"frequency", {"Hz", "kHz", "MHz", "GHz", NULL}, 0, 0, "m"},
    {"monetary", {NULL}, 0, 1, "t"},
    {"power", {"W", "kW", "MW", "GW", "TW", NULL}, 0, 0, "m"},
    {"power_factor", {"%", NULL}, 1, 0, "m"},
    {"reactive_power", {"var", NULL}, 0, 0, "m"},
    {"temperature", {"°C", "°F", "K", NULL}, 0, 0, "m"},
    {"timestamp", {NULL}, 1, 0, ""},
    {"voltage", {"µV", "mV", "V", "kV", "MV", NULL}, 0, 0, "m"},
};

/* The keys a platform takes (mqtt/abbreviations.py, full names) that a
 * bridge may send, and the ones it requires. */
static const struct ha_platform {
	const char *component;
	const char *required[4];
	const char *allowed[16];
} ha_platforms[] = {
    {"sensor",
     {"state_topic", NULL},
     {"state_topic", "value_template", "unit_of_measurement", "device_class", "state_class",
      "options", NULL}},
    {"binary_sensor",
     {"state_topic", NULL},
     {"state_topic", "value_template", "device_class", "payload_on", "payload_off", NULL}},
    {"number",
     {"command_topic", NULL},
     {"command_topic", "state_topic", "value_template", "min", "max", "step", "mode",
      "unit_of_measurement", "device_class", NULL}},
    {"select",
     {"command_topic", "options", NULL},
     {"command_topic", "state_topic", "value_template", "options", NULL}},
    {"button", {"command_topic", NULL}, {"command_topic", "payload_press", "device_class", NULL}},
};
/* Every entity: these, and the platform's. */
static const char *const ha_common[] = {"name",		"unique_id",	     "availability_topic",
					"availability", "availability_mode", "device",
					"origin",	"entity_category",   NULL};

static int in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return 1;
	return 0;
}

static int ha_id_ok(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* --- what the broker saw ------------------------------------------------- */

struct msg {
	char *topic, *payload;
};

static struct msg *msgs;
static size_t nmsgs;

/* mosquitto_sub -F '%t %p': one message a line (our payloads have no
 * newline); an empty payload is "topic ". */
static void load_msgs(const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	for (size_t i = 0; i < nmsgs; i++) {
		free(msgs[i].topic);
		free(msgs[i].payload);
	}
	free(msgs);
	msgs = NULL;
	nmsgs = 0;
	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		char *sp;
		if (line[n - 1] == '\n')
			line[--n] = 0;
		if (!(sp = strchr(line, ' ')))
			continue;
		*sp = 0;
		msgs = realloc(msgs, (nmsgs + 1) * sizeof *msgs);
		msgs[nmsgs].topic = strdup(line);
		msgs[nmsgs].payload = strdup(sp + 1);
		nmsgs++;
	}
	free(line);
	fclose(f);
}

/* The last payload on topic, or NULL. */
static const char *last_on(const char *topic)
{
	for (size_t i = nmsgs; i-- > 0;)
		if (strcmp(msgs[i].topic, topic) == 0)
			return msgs[i].payload;
	return NULL;
}

static pid_t subscribe(int port, const char *log)
{
	char p[16];
	snprintf(p, sizeof p, "%d", port);
	const char *argv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", p, "-t", "#", "-F",
			      "%t %p",	       "-q", "1",	  NULL};
	return h_spawn(argv, log);
}

/* --- the checker --------------------------------------------------------- */

struct check {
	int entities, bad;
	char first[600];
	char **ids;
	size_t nids;
	int energy_ok; /* kWh sensors seen as energy + total_increasing */
	int kwh;
};

static void bad(struct check *c, const char *topic, const char *fmt, const char *a)
{
	if (!c->bad++)
		snprintf(c->first, sizeof c->first, "%s: %s%s", topic, fmt, a ? a : "");
}

static const char *str_of(json_object *o, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

/* The key of "{{ value_json['KEY'] }}" in key (size len), or 0. */
static int template_key(const char *tpl, char *key, size_t len)
{
	const char *a = "{{ value_json['", *b = "'] }}";
	size_t la = strlen(a), lb = strlen(b), n = strlen(tpl);
	if (n <= la + lb || strncmp(tpl, a, la) != 0 || strcmp(tpl + n - lb, b) != 0 ||
	    n - la - lb >= len)
		return 0;
	memcpy(key, tpl + la, n - la - lb);
	key[n - la - lb] = 0;
	return 1;
}

static int option_in(json_object *opts, const char *s)
{
	for (size_t i = 0; opts && i < json_object_array_length(opts); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(opts, i)), s) == 0)
			return 1;
	return 0;
}

/* The value the entity's template takes from its state document. */
static void check_state(struct check *c, const char *topic, const char *component, json_object *cfg)
{
	const char *st = str_of(cfg, "state_topic"), *tpl = str_of(cfg, "value_template");
	const char *doc;
	char key[200];
	json_object *state, *v, *opts = NULL;

	if (!st)
		return;
	if (!tpl || !template_key(tpl, key, sizeof key))
		return bad(c, topic, "value_template is not {{ value_json['key'] }}: ", tpl);
	if (!(doc = last_on(st)) || !(state = json_tokener_parse(doc)))
		return bad(c, topic, "no JSON state document on ", st);
	if (!json_object_object_get_ex(state, key, &v)) {
		bad(c, topic, "the state document has no key ", key);
	} else if (v) {
		json_object_object_get_ex(cfg, "options", &opts);
		if (strcmp(component, "binary_sensor") == 0) {
			if (!json_object_is_type(v, json_type_string) ||
			    (strcmp(json_object_get_string(v), "ON") != 0 &&
			     strcmp(json_object_get_string(v), "OFF") != 0))
				bad(c, topic, "binary state is not ON/OFF: ", key);
		} else if (opts) {
			if (!json_object_is_type(v, json_type_string) ||
			    !option_in(opts, json_object_get_string(v)))
				bad(c, topic, "state is not one of the options: ", key);
		} else if (str_of(cfg, "device_class") &&
			   strcmp(str_of(cfg, "device_class"), "timestamp") == 0) {
			/* sensor/__init__.py: a timestamp's state is a datetime
			 * with its time zone: YYYY-MM-DDTHH:MM:SS+HH:MM */
			const char *t = json_object_get_string(v);
			int y, mo, d, h, mi, sec, oh, om;
			char sign;
			if (!json_object_is_type(v, json_type_string) || strlen(t) != 25 ||
			    sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c%2d:%2d", &y, &mo, &d, &h, &mi,
				   &sec, &sign, &oh, &om) != 9 ||
			    (sign != '+' && sign != '-'))
				bad(c, topic,
				    "a timestamp's state is not ISO 8601 with an offset: ", key);
		} else if ((has(cfg, "unit_of_measurement") || has(cfg, "state_class") ||
			    strcmp(component, "number") == 0) &&
			   !json_object_is_type(v, json_type_int) &&
			   !json_object_is_type(v, json_type_double)) {
			bad(c, topic, "a numeric entity's state is not a number: ", key);
		}
	}
	json_object_put(state);
}

static void check_sensor(struct check *c, const char *topic, json_object *cfg)
{
	const char *dc = str_of(cfg, "device_class"), *sc = str_of(cfg, "state_class");
	const char *unit = str_of(cfg, "unit_of_measurement");
	json_object *opts = NULL;
	const struct ha_class *k = NULL;

	if (json_object_object_get_ex(cfg, "options", &opts)) {
		if (!json_object_is_type(opts, json_type_array) || !json_object_array_length(opts))
			return bad(c, topic, "options must be a non-empty list", NULL);
		if (sc || unit)
			return bad(c, topic, "options with state_class or unit", NULL);
		if (!dc || strcmp(dc, "enum") != 0)
			return bad(c, topic, "options without device_class enum", NULL);
	}
	if (sc && strcmp(sc, "measurement") != 0 && strcmp(sc, "total") != 0 &&
	    strcmp(sc, "total_increasing") != 0)
		return bad(c, topic, "unknown state_class ", sc);
	if (unit && strcmp(unit, "kWh") == 0 && !strstr(topic, "_d_hatest/")) {
		c->kwh++;
		if (dc && sc && strcmp(dc, "energy") == 0 && strcmp(sc, "total_increasing") == 0)
			c->energy_ok++;
	}
	if (!dc)
		return;
	for (size_t i = 0; i < sizeof ha_classes / sizeof ha_classes[0]; i++)
		if (strcmp(ha_classes[i].name, dc) == 0)
			k = &ha_classes[i];
	if (!k)
		return bad(c, topic, "device_class not in the checker's table: ", dc);
	if (strcmp(dc, "enum") == 0 && !opts)
		return bad(c, topic, "device_class enum without options", NULL);
	if (unit ? !(k->any_unit || in_list(k->units, unit)) : !k->unit_none)
		return bad(c, topic,
			   "unit not allowed for the device_class: ", unit ? unit : "none");
	if (sc && !strchr(k->states, sc[0] == 'm' ? 'm' : strcmp(sc, "total") == 0 ? 't' : 'i'))
		return bad(c, topic, "state_class not allowed for the device_class: ", sc);
}

static void check_number(struct check *c, const char *topic, json_object *cfg)
{
	json_object *mn, *mx, *st;
	const char *mode = str_of(cfg, "mode"), *dc = str_of(cfg, "device_class");
	const char *unit = str_of(cfg, "unit_of_measurement");

	if (!json_object_object_get_ex(cfg, "min", &mn) ||
	    !json_object_object_get_ex(cfg, "max", &mx) ||
	    json_object_get_double(mn) >= json_object_get_double(mx))
		return bad(c, topic, "number: min must be below max", NULL);
	if (json_object_object_get_ex(cfg, "step", &st) && json_object_get_double(st) < 0.001)
		return bad(c, topic, "number: step below 0.001", NULL);
	if (mode && strcmp(mode, "auto") != 0 && strcmp(mode, "box") != 0 &&
	    strcmp(mode, "slider") != 0)
		return bad(c, topic, "number: mode ", mode);
	if (dc) {
		const struct ha_class *k = NULL;
		for (size_t i = 0; i < sizeof ha_classes / sizeof ha_classes[0]; i++)
			if (strcmp(ha_classes[i].name, dc) == 0)
				k = &ha_classes[i];
		if (!k || strcmp(dc, "enum") == 0)
			return bad(c, topic, "number: device_class ", dc);
		if (unit ? !(k->any_unit || in_list(k->units, unit)) : !k->unit_none)
			return bad(c, topic, "number: unit not allowed for the device_class: ",
				   unit ? unit : "none");
	}
}

/* One config message. ids of devices announced go to devs. */
static void check_config(struct check *c, const char *topic, const char *payload,
			 const char *ha_prefix)
{
	size_t pl = strlen(ha_prefix);
	const char *comp = topic + pl + 1, *node, *obj, *end;
	const struct ha_platform *p = NULL;
	json_object *cfg, *dev, *ids;
	char component[32];

	/* <prefix>/<component>/<node_id>/<object_id>/config */
	if (strncmp(topic, ha_prefix, pl) != 0 || topic[pl] != '/' || !(node = strchr(comp, '/')) ||
	    !(obj = strchr(node + 1, '/')) || !(end = strchr(obj + 1, '/')) ||
	    strcmp(end, "/config") != 0 || (size_t)(node - comp) >= sizeof component ||
	    !ha_id_ok(node + 1, (size_t)(obj - node - 1)) ||
	    !ha_id_ok(obj + 1, (size_t)(end - obj - 1)))
		return bad(c, topic, "not a discovery topic", NULL);
	memcpy(component, comp, (size_t)(node - comp));
	component[node - comp] = 0;
	for (size_t i = 0; i < sizeof ha_platforms / sizeof ha_platforms[0]; i++)
		if (strcmp(ha_platforms[i].component, component) == 0)
			p = &ha_platforms[i];
	if (!p)
		return bad(c, topic, "unknown component ", component);
	if (!(cfg = json_tokener_parse(payload)) || !json_object_is_type(cfg, json_type_object)) {
		json_object_put(cfg);
		return bad(c, topic, "payload is not a JSON object", NULL);
	}
	c->entities++;
	json_object_object_foreach(cfg, key, val)
	{
		(void)val;
		if (!in_list(ha_common, key) && !in_list(p->allowed, key))
			bad(c, topic, "key not taken by the platform: ", key);
	}
	for (const char *const *r = p->required; *r; r++)
		if (!has(cfg, *r))
			bad(c, topic, "required key missing: ", *r);
	const char *uid = str_of(cfg, "unique_id");
	if (!uid) {
		bad(c, topic, "no unique_id (a device needs one)", NULL);
	} else {
		for (size_t i = 0; i < c->nids; i++)
			if (strcmp(c->ids[i], uid) == 0)
				bad(c, topic, "unique_id used twice: ", uid);
		c->ids = realloc(c->ids, (c->nids + 1) * sizeof *c->ids);
		c->ids[c->nids++] = strdup(uid);
	}
	if (!json_object_object_get_ex(cfg, "device", &dev) ||
	    !json_object_object_get_ex(dev, "identifiers", &ids) ||
	    !json_object_is_type(ids, json_type_array) || !json_object_array_length(ids) ||
	    !str_of(dev, "name"))
		bad(c, topic, "device without identifiers or name", NULL);
	else if (str_of(dev, "via_device") && strcmp(str_of(dev, "via_device"), BRIDGE_ID) != 0)
		bad(c, topic, "via_device is not the bridge: ", str_of(dev, "via_device"));
	/* availability_topic, or a list of {"topic": ...} with a mode. */
	json_object *avl = NULL;
	const char *av = str_of(cfg, "availability_topic"),
		   *mode = str_of(cfg, "availability_mode");
	if (json_object_object_get_ex(cfg, "availability", &avl) &&
	    (!json_object_is_type(avl, json_type_array) || !json_object_array_length(avl)))
		bad(c, topic, "availability must be a non-empty list", NULL);
	if (mode && strcmp(mode, "all") != 0 && strcmp(mode, "any") != 0 &&
	    strcmp(mode, "latest") != 0)
		bad(c, topic, "availability_mode ", mode);
	if (!av && !avl)
		bad(c, topic,
		    "no availability: the entity would stay available when the device is gone",
		    NULL);
	for (size_t i = 0; i <= (avl ? json_object_array_length(avl) : 0); i++) {
		const char *t =
		    i == 0 ? av : str_of(json_object_array_get_idx(avl, i - 1), "topic");
		if (i > 0 && !t)
			bad(c, topic, "an availability entry without a topic", NULL);
		else if (t && (!last_on(t) || (strcmp(last_on(t), "online") != 0 &&
					       strcmp(last_on(t), "offline") != 0)))
			bad(c, topic, "nothing online/offline on the availability topic ", t);
	}
	/* entity_category: config or diagnostic; a sensor or binary_sensor
	 * takes only diagnostic (components/mqtt,
	 * validate_sensor_entity_category). */
	const char *cat = str_of(cfg, "entity_category");
	if (has(cfg, "entity_category") &&
	    (!cat || (strcmp(cat, "config") != 0 && strcmp(cat, "diagnostic") != 0)))
		bad(c, topic, "entity_category neither config nor diagnostic: ", cat);
	else if (cat && strcmp(cat, "config") == 0 &&
		 (strcmp(component, "sensor") == 0 || strcmp(component, "binary_sensor") == 0))
		bad(c, topic, "entity_category config on a ", component);
	if (strcmp(component, "sensor") == 0)
		check_sensor(c, topic, cfg);
	if (strcmp(component, "number") == 0)
		check_number(c, topic, cfg);
	if (strcmp(component, "select") == 0) {
		json_object *o;
		if (!json_object_object_get_ex(cfg, "options", &o) ||
		    !json_object_is_type(o, json_type_array) || !json_object_array_length(o))
			bad(c, topic, "select without options", NULL);
	}
	check_state(c, topic, component, cfg);
	json_object_put(cfg);
}

static void check_free(struct check *c)
{
	for (size_t i = 0; i < c->nids; i++)
		free(c->ids[i]);
	free(c->ids);
}

/* --- the setup ----------------------------------------------------------- */

static char map_names[32][64];
static size_t nmaps;

static void list_maps(void)
{
	DIR *d = opendir(h_maps_dir());
	struct dirent *e;
	while (d && (e = readdir(d)) && nmaps < 32) {
		size_t n = strlen(e->d_name);
		if (n > 5 && strcmp(e->d_name + n - 5, ".conf") == 0 && n - 5 < 64) {
			memcpy(map_names[nmaps], e->d_name, n - 5);
			map_names[nmaps++][n - 5] = 0;
		}
	}
	if (d)
		closedir(d);
}

/* A map of this test's own: what no shipped map has (a button) and the
 * map keys device_class, state_class and ha. */
static const char hatest_map[] =
    "name = \"hatest\";\n"
    "protocol = \"memory\";\n"
    "trust = \"structure-verified\";\n"
    "description = \"discovery test\";\n"
    "source = \"tests/e2e/test_ha_discovery.c\";\n"
    "registers = (\n"
    "  { address = 0; name = \"reset\"; access = \"rw\"; values = [ 1 ]; retry = false;"
    " },\n"
    "  { address = 1; name = \"pf\"; unit = \"%\"; scale = 0.1; device_class = "
    "\"power_factor\"; default = 950; },\n"
    "  { address = 2; name = \"import_low\"; unit = \"kWh\"; ha = false; },\n"
    "  { address = 3; name = \"net\"; type = \"int16\"; unit = \"kWh\"; state_class = "
    "\"total\"; default = 5; },\n"
    "  { address = 4; name = \"uptime\"; type = \"uint32\"; format = \"duration\";"
    " default = 93784; },\n"
    "  { address = 6; name = \"since\"; type = \"uint32\"; format = \"timestamp\";"
    " default = 1796660400; },\n"
    "  { address = 8; name = \"code\"; format = \"hex\"; default = 255; }\n"
    ");\n";

/* One memory device d_<map> per shipped map (but `skip`), the PowerGo
 * device pg on its own broker, and the export with discovery. */
static const char *write_config(int mb_port, int bport, int pg_port, const char *skip)
{
	static char text[16384];
	size_t k = 0;
	k += (size_t)snprintf(
	    text + k, sizeof text - k,
	    "server = { listen = \"127.0.0.1\"; port = %d; };\n"
	    "maps_path = [ \"%s\", \"%s\" ];\n"
	    "mqtt_export = { mqtt = { host = \"127.0.0.1\"; port = %d; };"
	    " prefix = \"" PREFIX "\"; interval = 3600; homeassistant = true; };\n"
	    "devices = (\n"
	    "  { name = \"pg\"; unit_id = 100; map = \"powergo\"; timeout = 300; poll = 1000;"
	    " mqtt = { host = \"127.0.0.1\"; port = %d; };"
	    " powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; }; },\n"
	    "  { name = \"d_hatest\"; unit_id = 50; map = \"hatest\"; memory = {}; }",
	    mb_port, h_maps_dir(), h_dir(), bport, pg_port);
	for (size_t i = 0; i < nmaps; i++)
		if (!skip || strcmp(map_names[i], skip) != 0)
			k += (size_t)snprintf(text + k, sizeof text - k,
					      ",\n  { name = \"d_%s\"; unit_id = %zu; map = \"%s\";"
					      " memory = {}; }",
					      map_names[i], i + 1, map_names[i]);
	snprintf(text + k, sizeof text - k, "\n);\n");
	return h_write_file("ha.conf", text);
}

static int modbus_get_unit(int port, int unit, int addr, uint16_t *v)
{
	int ok;
	modbus_t *mb = h_modbus(port, unit);
	ok = mb && modbus_read_registers(mb, addr, 1, v) == 1;
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	return ok;
}

/* A register of d_scratch. */
static int modbus_get(int port, int addr, uint16_t *v)
{
	int unit = 0;
	for (size_t i = 0; i < nmaps; i++)
		if (strcmp(map_names[i], "scratch") == 0)
			unit = (int)i + 1;
	return modbus_get_unit(port, unit, addr, v);
}

/* The Hame/Marstek family beside the Venus (maps jupiter, b2500-v2,
 * ct002): entities of the kinds their registers call for. */
static void check_hame_family(void)
{
	const char *e = last_on("homeassistant/select/" BRIDGE_ID "_d_jupiter/working_mode/config");
	h_ok(e && strstr(e, "\"options\":[\"automatic\",\"manual\"]") &&
		 strstr(e, "\"command_topic\":\"" PREFIX "/d_jupiter/working_mode/set\""),
	     "jupiter working_mode: a select with the enum texts");
	e = last_on("homeassistant/number/" BRIDGE_ID "_d_jupiter/period2_power/config");
	h_ok(e && strstr(e, "\"unit_of_measurement\":\"W\"") && strstr(e, "\"max\":800"),
	     "jupiter period2_power (command period2): a number in W up to 800");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_b2500-v2/soc/config");
	h_ok(e && strstr(e, "\"unit_of_measurement\":\"%\",\"device_class\":\"battery\""),
	     "b2500-v2 soc: a battery sensor in %%");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_ct002/total_power/config");
	h_ok(e && strstr(e, "\"unit_of_measurement\":\"W\",\"device_class\":\"power\"") &&
		 !last_on("homeassistant/number/" BRIDGE_ID "_d_ct002/total_power/config"),
	     "ct002 total_power: a power sensor, nothing to set (read-only meter)");
}

/* --- the test ------------------------------------------------------------ */

int main(void)
{
	int bport, pg_port, mb_port;
	pid_t broker, pg_broker, sub, br;
	char slog[512], blog[512]; /* h_path's buffers rotate */
	char want[512];

	h_init("ha_discovery");
	list_maps();
	h_write_file("hatest.conf", hatest_map);
	h_ok(nmaps >= 10, "the shipped maps are found (%zu)", nmaps);
	broker = h_broker_start(&bport);
	pg_broker = h_broker_start(&pg_port);
	if (!h_ok(broker > 0 && pg_broker > 0, "two mosquittos start"))
		return h_done();
	/* A battery that answers pg, so that its availability follows its
	 * health: online while it answers. */
	pid_t pg_sim = h_sim_powergo(pg_port, "15020115", "sim_pg.log", NULL);
	h_ok(pg_sim > 0, "sim_powergo starts for pg");
	sub = subscribe(bport, "sub.log");
	snprintf(slog, sizeof slog, "%s", h_path("sub.log"));
	mb_port = h_free_port();
	br = h_bridge_start(write_config(mb_port, bport, pg_port, NULL), mb_port, "bridge.log");
	snprintf(blog, sizeof blog, "%s", h_path("bridge.log"));
	if (!h_ok(br > 0, "the bridge starts with a device per shipped map")) {
		h_stop(sub, 2000);
		h_stop(broker, 2000);
		h_stop(pg_broker, 2000);
		return h_done();
	}

	/* A device's configs come before its state document (one connection,
	 * in order): once every state is there, so is every config. */
	int all = 1;
	for (size_t i = 0; i < nmaps; i++) {
		snprintf(want, sizeof want, PREFIX "/d_%s/state {", map_names[i]);
		all &= h_wait_lines(slog, want, 1, WAIT_MS);
	}
	all &= h_wait_lines(slog, PREFIX "/pg/availability online", 1, WAIT_MS);
	h_ok(all, "every device's state document and availability are published");
	load_msgs(slog);

	/* Every payload against the rules. */
	struct check c = {0};
	for (size_t i = 0; i < nmsgs; i++) {
		size_t n = strlen(msgs[i].topic);
		if (strncmp(msgs[i].topic, "homeassistant/", 14) == 0 && n > 7 &&
		    strcmp(msgs[i].topic + n - 7, "/config") == 0)
			check_config(&c, msgs[i].topic, msgs[i].payload, "homeassistant");
	}
	h_ok(c.entities > 500, "discovery configs published (%d)", c.entities);
	if (!h_ok(c.bad == 0, "every discovery payload keeps Home Assistant's rules (%d bad)",
		  c.bad))
		h_note("first: %s", c.first);
	h_ok(c.kwh > 10 && c.energy_ok == c.kwh - 1,
	     "kWh counters are energy + total_increasing (%d of %d; one is a battery's "
	     "content)",
	     c.energy_ok, c.kwh);
	check_free(&c);

	/* Per map: a device with entities, via the bridge. */
	int maps_ok = 1;
	for (size_t i = 0; i < nmaps; i++) {
		int n = 0;
		char node[128];
		snprintf(node, sizeof node, "/" BRIDGE_ID "_d_%s/", map_names[i]);
		for (size_t m = 0; m < nmsgs; m++)
			if (strstr(msgs[m].topic, node) && msgs[m].payload[0])
				n++;
		if (!n && strcmp(map_names[i], "raw") != 0) {
			h_note("map %s: no entities", map_names[i]);
			maps_ok = 0;
		}
	}
	h_ok(maps_ok, "every shipped map's device has entities");

	/* Specific entities. */
	const char *e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_venus/battery_energy/config");
	h_ok(e && strstr(e, "\"device_class\":\"energy_storage\",\"state_class\":\"measurement\""),
	     "venus battery_energy: the map's device_class energy_storage wins over kWh");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_venus/total_charge_energy/config");
	h_ok(e && strstr(e, "\"device_class\":\"energy\",\"state_class\":\"total_increasing\""),
	     "venus total_charge_energy: energy, total_increasing (Energy dashboard)");
	h_ok(!last_on("homeassistant/sensor/" BRIDGE_ID "_d_deye-hybrid/grid_import_total_low/"
		      "config"),
	     "ha = false leaves a register out (deye-hybrid grid_import_total_low)");
	e = last_on("homeassistant/select/" BRIDGE_ID "_d_scratch/mode/config");
	h_ok(e && strstr(e, "\"options\":[\"Automatic\",\"Manual\",\"Off\"]") &&
		 strstr(e, "\"command_topic\":\"" PREFIX "/d_scratch/mode/set\""),
	     "scratch mode: a select with the enum texts");
	e = last_on("homeassistant/binary_sensor/" BRIDGE_ID "_d_scratch/status_bit2/config");
	h_ok(e && strstr(e, "\"name\":\"status: Grid connected\""),
	     "scratch status bit 2: a binary_sensor named by the map");
	e = last_on(PREFIX "/d_scratch/state");
	h_ok(e &&
		 strstr(e, "\"status_bit0\":\"ON\",\"status_bit1\":\"OFF\",\"status_bit2\":\"ON\""),
	     "the bits of status = 5 in the state document");
	e = last_on("homeassistant/number/" BRIDGE_ID "_d_scratch/cmd_b/config");
	h_ok(e && strstr(e, "\"command_topic\":\"" PREFIX "/d_scratch/cmd_b/set\""),
	     "cmd_b (written only with its command \"triple\") is a number too");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_venus/period0_start_hour/config");
	h_ok(!e && last_on("homeassistant/number/" BRIDGE_ID "_d_venus/period0_start_hour/config"),
	     "venus period0_start_hour (command period0) is a number");

	check_hame_family();

	/* Formats (docs/home-assistant.md): text sensors with the page's
	 * text, a duration in seconds, a timestamp in ISO 8601. The PowerGo's
	 * simulator answers 0xA030 and 192.168.1.10. */
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_pg/wifi_dhcp_ip/config");
	h_ok(e && !strstr(e, "state_class") && !strstr(e, "unit_of_measurement") &&
		 !strstr(e, "device_class"),
	     "pg wifi_dhcp_ip (format ipv4): a text sensor, no unit or state class");
	/* Entity categories from the map's groups (docs/home-assistant.md):
	 * the network and identification rows and the settings apart from
	 * the main controls and sensors. */
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_pg/wifi_dhcp_ip/config");
	h_ok(e && strstr(e, "\"entity_category\":\"diagnostic\""),
	     "pg wifi_dhcp_ip (group network): entity_category diagnostic");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_pg/main_software_version/config");
	h_ok(e && strstr(e, "\"entity_category\":\"diagnostic\""),
	     "pg main_software_version (group identification): entity_category diagnostic");
	e = last_on("homeassistant/number/" BRIDGE_ID "_pg/charging_power/config");
	h_ok(e && strstr(e, "\"entity_category\":\"config\""),
	     "pg charging_power (a writable limit, group settings): entity_category config");
	e = last_on("homeassistant/select/" BRIDGE_ID "_pg/operating_mode/config");
	h_ok(e && strstr(e, "\"entity_category\":\"config\""),
	     "pg operating_mode (a writable mode, group settings): entity_category config");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_pg/soc/config");
	h_ok(e && strstr(e, "\"device_class\":\"battery\"") && !strstr(e, "entity_category"),
	     "pg soc (group status): a main sensor, no entity_category");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_pg/main_software_version/config");
	h_ok(e && !strstr(e, "state_class") && !strstr(e, "unit_of_measurement"),
	     "pg main_software_version (format version): a text sensor");
	snprintf(want, sizeof want, "\"wifi_dhcp_ip\":\"192.168.1.10\"");
	h_ok(h_wait_lines(slog, want, 1, WAIT_MS) &&
		 h_wait_lines(slog, "\"main_software_version\":\"A030\"", 1, WAIT_MS),
	     "pg's state: the address dotted, the firmware A030");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_hatest/uptime/config");
	h_ok(e && strstr(e, "\"unit_of_measurement\":\"s\",\"device_class\":\"duration\""),
	     "a duration: device_class duration in s");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_hatest/since/config");
	h_ok(e && strstr(e, "\"device_class\":\"timestamp\"") && !strstr(e, "state_class") &&
		 !strstr(e, "unit_of_measurement"),
	     "a timestamp: device_class timestamp, no unit or state class");
	e = last_on(PREFIX "/d_hatest/state");
	h_ok(e && strstr(e, "\"uptime\":93784,") &&
		 strstr(e, "\"since\":\"2026-12-07T16:20:00+00:00\"") &&
		 strstr(e, "\"code\":\"0x00FF\""),
	     "hatest's state: the duration in seconds, the time in ISO 8601, the hex text");

	/* Commands through the write path. */
	uint16_t v = 0;
	int got;
	h_ok(h_mqtt_pub(bport, PREFIX "/d_scratch/setpoint/set", "750") == 0,
	     "publish 750 to the setpoint's command topic");
	h_ok(h_wait_lines(slog, "\"setpoint\":750", 1, WAIT_MS),
	     "the acknowledged setpoint is published in the state document");
	v = 0xFFFF;
	got = modbus_get(mb_port, 30, &v);
	h_ok(got && v == 750, "Modbus reads the setpoint 750 (%u)", v);
	h_ok(h_mqtt_pub(bport, PREFIX "/d_scratch/setpoint/set", "5000") == 0,
	     "publish 5000 (above the map's max 1000)");
	h_ok(h_wait_lines(slog,
			  PREFIX "/d_scratch/error {\"register\":\"setpoint\",\"payload\":\"5000\","
				 "\"error\":\"refused by the map: allowed 0..1000 W",
			  1, WAIT_MS),
	     "the refusal is published on the error topic with the allowed range");
	v = 0xFFFF;
	got = modbus_get(mb_port, 30, &v);
	h_ok(got && v == 750, "the setpoint is unchanged (%u)", v);
	h_ok(h_mqtt_pub(bport, PREFIX "/d_scratch/setpoint/set", "abc") == 0 &&
		 h_wait_lines(slog, "\"payload\":\"abc\",\"error\":\"not a number\"", 1, WAIT_MS),
	     "a payload that is not a number is refused");
	h_ok(h_mqtt_pub(bport, PREFIX "/d_scratch/mode/set", "Manual") == 0 &&
		 h_wait_lines(slog, "\"mode\":\"Manual\"", 1, WAIT_MS),
	     "select: Manual is acknowledged and published");
	v = 0xFFFF;
	got = modbus_get(mb_port, 31, &v);
	h_ok(got && v == 1, "Modbus reads mode 1 (%u)", v);
	h_ok(h_mqtt_pub(bport, PREFIX "/d_scratch/cmd_b/set", "7") == 0 &&
		 h_wait_lines(slog, "\"cmd_a\":1,\"cmd_b\":7,\"cmd_c\":3", 1, WAIT_MS),
	     "a register of a command: the whole command is written with the others' values");
	uint16_t w3[3] = {0};
	modbus_t *mb3 = h_modbus(mb_port, 0);
	for (size_t i = 0; i < nmaps; i++)
		if (strcmp(map_names[i], "scratch") == 0)
			modbus_set_slave(mb3, (int)i + 1);
	got = mb3 && modbus_read_registers(mb3, 40, 3, w3) == 3;
	if (mb3) {
		modbus_close(mb3);
		modbus_free(mb3);
	}
	h_ok(got && w3[0] == 1 && w3[1] == 7 && w3[2] == 3, "Modbus reads 1, 7, 3 at 40..42");

	/* The map keys and a button (this test's own map). */
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_hatest/pf/config");
	h_ok(e && strstr(e, "\"unit_of_measurement\":\"%\",\"device_class\":\"power_factor\""),
	     "device_class = \"power_factor\" in the map: the entity's class");
	e = last_on("homeassistant/sensor/" BRIDGE_ID "_d_hatest/net/config");
	h_ok(e && strstr(e, "\"device_class\":\"energy\",\"state_class\":\"total\""),
	     "state_class = \"total\" in the map wins over total_increasing");
	e = last_on(PREFIX "/d_hatest/state");
	h_ok(!last_on("homeassistant/sensor/" BRIDGE_ID "_d_hatest/import_low/config") && e &&
		 !strstr(e, "import_low"),
	     "ha = false: no entity and no state");
	e = last_on("homeassistant/button/" BRIDGE_ID "_d_hatest/reset/config");
	h_ok(e && strstr(e, "\"command_topic\":\"" PREFIX "/d_hatest/reset/set\""),
	     "a writable register with one allowed value and retry = false is a button");
	h_ok(h_mqtt_pub(bport, PREFIX "/d_hatest/reset/set", "PRESS") == 0 &&
		 h_wait_lines(slog,
			      PREFIX "/d_hatest/state {\"reset\":1,\"pf\":95,\"net\":5,\"uptime\":"
				     "93784,\"since\":\"2026-12-07T16:20:00+00:00\",\"code\":"
				     "\"0x00FF\"}",
			      1, WAIT_MS),
	     "pressing the button writes its value, published once acknowledged");
	v = 0xFFFF;
	got = modbus_get_unit(mb_port, 50, 0, &v);
	h_ok(got && v == 1, "Modbus reads the button's register 1 (%u)", v);

	/* Strangers on the command topics: nothing changes, the bridge stays. */
	static char big[70000];
	memset(big, '7', sizeof big - 1);
	h_ok(h_mqtt_pub(bport, PREFIX "/d_scratch/setpoint/set", big) == 0,
	     "a 70 kB command payload is published");
	h_ok(h_mqtt_pub(bport, PREFIX "/d_scratch/no\xc3\xb6such/set", "1") == 0 &&
		 h_wait_lines(slog,
			      "{\"register\":\"no??such\",\"payload\":\"1\",\"error\":\"no "
			      "writable entity of that name\"}",
			      1, WAIT_MS),
	     "an unknown register (non-ASCII in its name) is refused, the name made printable");
	h_ok(h_mqtt_pub(bport, PREFIX "/nosuchdevice/setpoint/set", "1") == 0 &&
		 h_mqtt_pub(bport, PREFIX "/d_scratch/setpoint/set", "\x01\x7f\xff") == 0 &&
		 h_wait_lines(slog, "\"error\":\"not a number\"", 2, WAIT_MS),
	     "an unknown device is ignored, control bytes and bad UTF-8 refused");
	got = modbus_get(mb_port, 30, &v);
	h_ok(got && v == 750, "after all that the setpoint is still 750 (%u)", v);

	/* Removal on reload: d_scratch leaves. */
	size_t scratch_cfgs = 0;
	load_msgs(slog);
	for (size_t i = 0; i < nmsgs; i++)
		if (strstr(msgs[i].topic, "/" BRIDGE_ID "_d_scratch/") && msgs[i].payload[0])
			scratch_cfgs++;
	write_config(mb_port, bport, pg_port, "scratch");
	h_signal(br, SIGHUP);
	h_ok(h_wait_lines(blog, "d_scratch left the config", 1, WAIT_MS),
	     "reload: the bridge says d_scratch's entities go");
	snprintf(want, sizeof want, "/" BRIDGE_ID "_d_scratch/");
	int removed = 0;
	uint64_t end = h_now_ms() + WAIT_MS;
	while (h_now_ms() < end) {
		removed = 0;
		load_msgs(slog);
		for (size_t i = 0; i < nmsgs; i++)
			if (strstr(msgs[i].topic, want) && !msgs[i].payload[0])
				removed++;
		if ((size_t)removed >= scratch_cfgs)
			break;
		h_sleep_ms(100);
	}
	h_ok(scratch_cfgs > 200 && (size_t)removed == scratch_cfgs,
	     "every one of d_scratch's %zu configs is taken back with an empty retained "
	     "message (%d)",
	     scratch_cfgs, removed);
	h_ok(last_on("homeassistant/sensor/" BRIDGE_ID "_d_venus/soc/config") &&
		 last_on("homeassistant/sensor/" BRIDGE_ID "_d_venus/soc/config")[0],
	     "the devices that stay keep their configs");

	/* Availability follows the device's health: the battery stops
	 * answering behind a working broker, answers again, then the broker
	 * goes away. */
	/* Each count is taken after the message before it arrived: messages
	 * reach the broker in the order they were queued, so an "online" the
	 * reload above re-announced is counted before the state it waits for
	 * changes, never taken for the change. */
	const char *off = PREFIX "/pg/availability offline", *on = PREFIX "/pg/availability online";
	int n_off = h_count_lines(slog, off);
	h_stop(pg_sim, 5000);
	h_ok(h_wait_lines(slog, off, n_off + 1, WAIT_MS),
	     "the PowerGo device that stopped answering (link up) is offline");
	int n_on = h_count_lines(slog, on);
	pg_sim = h_sim_powergo(pg_port, "15020115", "sim_pg2.log", NULL);
	h_ok(h_wait_lines(slog, on, n_on + 1, WAIT_MS), "online again once it answers");
	n_off = h_count_lines(slog, off);
	h_stop(pg_sim, 5000);
	h_stop(pg_broker, 5000);
	h_ok(h_wait_lines(slog, off, n_off + 1, WAIT_MS),
	     "the PowerGo device whose link is down is offline");

	/* Map errors: file:line. */
	char out[4096];
	static const char *const bad_maps[][2] = {
	    {"state_class = \"bogus\";", "state_class"},
	    {"device_class = \"Power!\";", "device_class"},
	    {"ha = 3;", "ha"},
	};
	for (size_t i = 0; i < sizeof bad_maps / sizeof bad_maps[0]; i++) {
		char m[1024], cfgtext[512];
		snprintf(
		    m, sizeof m,
		    "name = \"badha\";\nprotocol = \"memory\";\ntrust = \"structure-verified\";\n"
		    "registers = (\n  { address = 0; name = \"x\"; %s }\n);\n",
		    bad_maps[i][0]);
		h_write_file("badha.conf", m);
		snprintf(
		    cfgtext, sizeof cfgtext,
		    "server = { port = 1502; };\nmaps_path = [ \"%s\" ];\n"
		    "devices = ( { name = \"b\"; unit_id = 1; map = \"badha\"; memory = {}; } );\n",
		    h_dir());
		const char *cp = h_write_file("badha-main.conf", cfgtext);
		int rc = h_run_bridge("--check", cp, out, sizeof out);
		if (!h_ok(rc != 0 && strstr(out, "badha.conf:5:") && strstr(out, bad_maps[i][1]),
			  "a map with %s is refused, naming file:line", bad_maps[i][0]))
			h_note("%s", out);
	}

	h_ok(h_bridge_stop(br) == 0, "the bridge stops cleanly");
	h_ok(h_wait_lines(slog, PREFIX "/_bridge/availability offline", 1, WAIT_MS),
	     "a stopped bridge says offline (every entity goes unavailable)");
	h_stop(sub, 2000);
	h_stop(broker, 2000);
	load_msgs("/dev/null");
	return h_done();
}

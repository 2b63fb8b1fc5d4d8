/* The `mqtt_export` and `influxdb` config groups (include/export_config.h):
 * their key tables, checks and defaults. The config loader (config.c) parses
 * them with these handlers, the running exporters (export.c) keep copies and
 * compare them with the same tables, and the web page's settings
 * (http_settings.c) are built from them. Only the groups' data: nothing here
 * knows the exporters. */
#include "export_config.h"

#include <libconfig.h>
#include <stdlib.h>
#include <string.h>

#include "mb_error.h"

#define EXPORT_CONFIG__N(a) (sizeof(a) / sizeof((a)[0]))

/* A base URL we add /write or /api/v2/write to: http or https, no query
 * or fragment of its own (the exporter adds the query). */
static const char *export_config__check_url(const char *v)
{
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return "must start with http:// or https://";
	if (strpbrk(v, "?# \t\r\n"))
		return "must be a base URL such as \"http://127.0.0.1:8086\", without '?', '#' or "
		       "spaces (the exporter adds /write or /api/v2/write and the query)";
	if (!strchr(v, ':') || strlen(v) <= (v[4] == 's' ? 8u : 7u))
		return "must name a host";
	return NULL;
}

/* Line protocol names that InfluxDB 1.x and 2.x read alike (codec_line.h). */
static const char *export_config__check_measurement(const char *v)
{
	if (v[0] == '#' || v[0] == '_')
		return "must not start with '#' or '_' (a comment; InfluxDB's own names)";
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f || *v == '\\')
			return "must not hold a backslash or control characters";
	return NULL;
}

static int export_config__mqtt_broker(struct config_parser *p, const config_setting_t *s,
				      void *target)
{
	struct config_export_mqtt *m = target;
	size_t n;
	const struct config_key *k = config_mqtt_keys(&n);

	/* The defaults export_config_mqtt put there give way to the group. */
	keys_free(k, n, &m->mqtt);
	return config_mqtt_group(p, s, &m->mqtt);
}

static bool export_config__mqtt_broker_same(const struct config_key *k, const void *a,
					    const void *b, char *which, size_t len)
{
	const struct config_export_mqtt *x = a, *y = b;
	size_t n;
	const struct config_key *keys = config_mqtt_keys(&n);
	char sub[256];

	if (keys_same(keys, n, &x->mqtt, &y->mqtt, sub, sizeof sub))
		return true;
	snprintf(which, len, "%s.%s", k->name, sub);
	return false;
}

#define EXPORT_CONFIG__M(f) offsetof(struct config_export_mqtt, f)
#define EXPORT_CONFIG__I(f) offsetof(struct config_export_influx, f)

/* clang-format off */
static const struct config_key export_config__mqtt_keys[] = {
	{.name = "enabled", .kind = CONFIG_K_BOOL, .off = EXPORT_CONFIG__M(enabled)},
	{.name = "mqtt", .kind = CONFIG_K_CUSTOM, .fn = export_config__mqtt_broker,
	 .same = export_config__mqtt_broker_same},
	{.name = "prefix", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__M(prefix), .check = config_mqtt_check_topic},
	{.name = "interval", .kind = CONFIG_K_INT, .off = EXPORT_CONFIG__M(interval), .min = 1,
	 .max = 86400, .unit = CONFIG_U_S},
	{.name = "on_change", .kind = CONFIG_K_BOOL, .off = EXPORT_CONFIG__M(on_change)},
	{.name = "retain", .kind = CONFIG_K_BOOL, .off = EXPORT_CONFIG__M(retain)},
	{.name = "homeassistant", .kind = CONFIG_K_BOOL, .off = EXPORT_CONFIG__M(homeassistant)},
	{.name = "homeassistant_prefix", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__M(ha_prefix), .check = config_mqtt_check_topic},
};

static const struct config_key export_config__influx_keys[] = {
	{.name = "enabled", .kind = CONFIG_K_BOOL, .off = EXPORT_CONFIG__I(enabled)},
	{.name = "url", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(url), .check = export_config__check_url},
	{.name = "version", .kind = CONFIG_K_INT, .off = EXPORT_CONFIG__I(version), .min = 1, .max = 2},
	{.name = "database", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(database)},
	{.name = "retention_policy", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(retention_policy)},
	{.name = "username", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(username)},
	{.name = "password", .kind = CONFIG_K_STRING, .off = EXPORT_CONFIG__I(password)},
	{.name = "org", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY, .off = EXPORT_CONFIG__I(org)},
	{.name = "bucket", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(bucket)},
	{.name = "token", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(token)},
	{.name = "measurement", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(measurement), .check = export_config__check_measurement},
	{.name = "ca_file", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = EXPORT_CONFIG__I(ca_file)},
	{.name = "interval", .kind = CONFIG_K_INT, .off = EXPORT_CONFIG__I(interval), .min = 1,
	 .max = 86400, .unit = CONFIG_U_S},
	{.name = "on_change", .kind = CONFIG_K_BOOL, .off = EXPORT_CONFIG__I(on_change)},
	{.name = "timeout", .kind = CONFIG_K_INT64, .off = EXPORT_CONFIG__I(timeout), .min = 100,
	 .max = 600000, .unit = CONFIG_U_MS},
	{.name = "queue", .kind = CONFIG_K_INT, .off = EXPORT_CONFIG__I(queue), .min = 1, .max = 100000},
};
/* clang-format on */

const struct config_key *export_config_keys(int influx, size_t *nkeys)
{
	*nkeys = influx ? EXPORT_CONFIG__N(export_config__influx_keys)
			: EXPORT_CONFIG__N(export_config__mqtt_keys);
	return influx ? export_config__influx_keys : export_config__mqtt_keys;
}

/* Both groups go into one struct config_export, made by the first of them
 * (the key's field of struct config: keys.h gives the handlers target +
 * off). */
static struct config_export *export_config__of(struct config_export **slot)
{
	if (!*slot)
		*slot = calloc(1, sizeof **slot);
	return *slot;
}

int export_config_mqtt(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_export *e = export_config__of(target);
	struct config_export_mqtt *m;
	int rc;

	if (!e)
		return MB_ENOMEM;
	m = &e->mqtt;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return keys_error_type(p, s, " must be a group { ... }");
	m->line = config_setting_source_line(s);
	m->interval = 60;
	m->on_change = 1;
	m->retain = 1;
	if (!(m->prefix = strdup("modbridge/values")) || !(m->ha_prefix = strdup("homeassistant")))
		return MB_ENOMEM;
	/* The broker's defaults, in case the group names none. */
	if ((rc = config_mqtt_group(p, NULL, &m->mqtt)) != 0)
		return rc;
	m->enabled = 1;
	return keys_parse(p, s, export_config__mqtt_keys,
			  EXPORT_CONFIG__N(export_config__mqtt_keys), m);
}

/* What one version needs and the other does not take. */
static int export_config__influx_done(struct config_parser *p, const config_setting_t *s,
				      struct config_export_influx *x)
{
	static const char *const v1_only[] = {"database", "retention_policy", "username",
					      "password"};
	static const char *const v2_only[] = {"org", "bucket", "token"};
	const char *const *other = x->version == 1 ? v2_only : v1_only;
	size_t nother = x->version == 1 ? EXPORT_CONFIG__N(v2_only) : EXPORT_CONFIG__N(v1_only);

	for (size_t i = 0; i < nother; i++) {
		const config_setting_t *o = config_setting_get_member(s, other[i]);
		if (o)
			return keys_error_at(p, o, s,
					     ".%s belongs to InfluxDB version %d; this group "
					     "says version = %d",
					     other[i], x->version == 1 ? 2 : 1, x->version);
	}
	if (x->version == 1) {
		if (!x->database)
			return keys_error_at(p, s, s,
					     " needs database (InfluxDB 1.x writes go to "
					     "/write?db=...)");
		if (x->password && !x->username)
			return keys_error_at(p, config_setting_get_member(s, "password"), s,
					     " has a password but no username");
	} else if (!x->org || !x->bucket || !x->token) {
		return keys_error_at(
		    p, s, s,
		    ": version 2 needs org, bucket and token "
		    "(/api/v2/write?org=...&bucket=..., Authorization: Token ...)");
	}
	return 0;
}

int export_config_influx(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct config_export *e = export_config__of(target);
	struct config_export_influx *x;
	int rc;

	if (!e)
		return MB_ENOMEM;
	if (!MB_WITH_INFLUXDB) /* `make WITH_INFLUXDB=0` */
		return keys_error(p, s,
				  "this modbridge was built without the InfluxDB exporter "
				  "(WITH_INFLUXDB=0): remove the influxdb group");
	x = &e->influx;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return keys_error_type(p, s, " must be a group { ... }");
	x->line = config_setting_source_line(s);
	x->version = 1;
	x->interval = 10;
	x->on_change = 0;
	x->timeout = 5000;
	x->queue = 360;
	if (!(x->measurement = strdup("modbridge")))
		return MB_ENOMEM;
	x->enabled = 1;
	if ((rc = keys_parse(p, s, export_config__influx_keys,
			     EXPORT_CONFIG__N(export_config__influx_keys), x)) != 0)
		return rc;
	return export_config__influx_done(p, s, x);
}

void export_config_free_mqtt(struct config_export_mqtt *m)
{
	size_t n;
	const struct config_key *k = config_mqtt_keys(&n);
	keys_free(k, n, &m->mqtt);
	keys_free(export_config__mqtt_keys, EXPORT_CONFIG__N(export_config__mqtt_keys), m);
	memset(m, 0, sizeof *m);
}

void export_config_free_influx(struct config_export_influx *x)
{
	keys_free(export_config__influx_keys, EXPORT_CONFIG__N(export_config__influx_keys), x);
	memset(x, 0, sizeof *x);
}

void export_config_free(struct config_export *c)
{
	if (!c)
		return;
	export_config_free_mqtt(&c->mqtt);
	export_config_free_influx(&c->influx);
	free(c);
}

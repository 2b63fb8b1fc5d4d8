#include "status.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "json.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "link_mqtt.h"
#include "values.h"

/* The status module keeps copies of what it needs from its config group:
 * a SIGHUP frees the config generation it was started from once no device
 * uses it any more, so no pointer into a config may outlive the reload
 * (docs/user-guide.md, Signals). */
struct status {
	char *prefix;
	int qos;
	uint64_t interval_ms;
	struct link_mqtt *link;
	struct device **devs;
	size_t ndevs;
	uv_timer_t timer;
	char *topic; /* <prefix>/status */
};

/* The longest message accepted on our own status topic. */
#define STATUS__MAX_MESSAGE 64

/* "<prefix><a><b>", allocated: a prefix or a device name of any length
 * gives its whole topic, never a truncated one. NULL when out of memory. */
static char *status__topic(const char *prefix, const char *a, const char *b)
{
	size_t n = strlen(prefix) + strlen(a) + strlen(b) + 1;
	char *t = malloc(n);
	if (t)
		snprintf(t, n, "%s%s%s", prefix, a, b);
	return t;
}

char *status_device_json(const struct device *dev, size_t *len)
{
	const struct device_stats *s = device_stats(dev);
	const struct map *m = device_map(dev);
	struct json j;

	/* Names and map texts come from config and map files: json_str escapes
	 * them, so the document stays valid JSON whatever a site writes there,
	 * and the buffer grows, so a long name cannot cut the document short. */
	json_init_buf(&j);
	json_key_str(&j, "{\"name\":", device_name(dev));
	json_printf(&j, ",\"unit_id\":%d,\"map\":", device_unit(dev));
	json_str(&j, map_name(m));
	json_key_str(&j, ",\"protocol\":", map_protocol(m));
	json_key_str(&j, ",\"trust\":", map_trust(m));
	json_printf(&j, ",\"link_up\":%s,", device_link_up(dev) ? "true" : "false");
	values_health_json(&j, dev);
	json_printf(&j,
		    ",\"last_success\":%llu,\"last_attempt\":%llu,"
		    "\"requests\":%llu,\"cache_hits\":%llu,\"native\":%llu,\"timeouts\":%llu,"
		    "\"retries\":%llu,\"errors\":%llu,\"dropped\":%llu,\"bad_values\":%llu}",
		    (unsigned long long)s->last_success, (unsigned long long)s->last_attempt,
		    (unsigned long long)s->requests, (unsigned long long)s->cache_hits,
		    (unsigned long long)s->native, (unsigned long long)s->timeouts,
		    (unsigned long long)s->retries, (unsigned long long)s->errors,
		    (unsigned long long)s->dropped, (unsigned long long)s->bad_values);
	return json_take(&j, len);
}

static void status__publish_all(struct status *st)
{
	if (!link_mqtt_is_up(st->link))
		return;
	for (size_t i = 0; i < st->ndevs; i++) {
		size_t n;
		char *topic = status__topic(st->prefix, "/device/", device_name(st->devs[i]));
		char *doc = status_device_json(st->devs[i], &n);
		if (topic && doc)
			link_mqtt_publish(st->link, topic, doc, n, st->qos, 1, NULL, NULL, NULL);
		free(doc);
		free(topic);
	}
}

static void status__on_timer(uv_timer_t *h)
{
	status__publish_all(h->data);
}

static void status__on_msg(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	(void)ctx;
	(void)topic;
	(void)payload;
	(void)len;
}

static void status__on_state(void *ctx, int up)
{
	struct status *st = ctx;
	if (!up)
		return;
	link_mqtt_publish(st->link, st->topic, "online", 6, 1, 1, NULL, NULL, NULL);
	status__publish_all(st);
}

void status_set_devices(struct status *st, struct device *const *devs, size_t ndevs)
{
	struct device **copy = calloc(ndevs ? ndevs : 1, sizeof *copy);
	if (!copy)
		return;
	memcpy(copy, devs, ndevs * sizeof *copy);
	free(st->devs);
	st->devs = copy;
	st->ndevs = ndevs;
	status__publish_all(st);
}

static uint64_t status__interval_ms(int interval)
{
	return interval > 0 ? (uint64_t)interval * 1000 : 1000;
}

void status_set_interval(struct status *st, int interval)
{
	uint64_t ms = status__interval_ms(interval);
	if (ms == st->interval_ms)
		return;
	st->interval_ms = ms;
	uv_timer_start(&st->timer, status__on_timer, ms, ms);
}

int status_start(uv_loop_t *loop, const struct config_status *cfg, struct device *const *devs,
		 size_t ndevs, struct status **out, char *err, size_t errlen)
{
	struct status *st = calloc(1, sizeof *st);
	if (!st || !(st->prefix = strdup(cfg->prefix ? cfg->prefix : "modbridge")) ||
	    !(st->topic = status__topic(st->prefix, "/status", ""))) {
		if (st)
			free(st->prefix);
		free(st);
		snprintf(err, errlen, "status: out of memory");
		return MB_ENOMEM;
	}
	st->qos = cfg->mqtt.qos;
	st->interval_ms = status__interval_ms(cfg->interval);
	const char *client_id = cfg->mqtt.client_id ? cfg->mqtt.client_id : "modbridge-status";
	st->link =
	    link_mqtt_get_will(loop, &cfg->mqtt, client_id, st->topic, "offline", err, errlen);
	if (!st->link) {
		free(st->topic);
		free(st->prefix);
		free(st);
		return MB_EIO;
	}
	status_set_devices(st, devs, ndevs);
	/* Subscribing to our own status topic gives us the link's up/down. */
	link_mqtt_subscribe(st->link, st->topic, 0, status__on_msg, status__on_state, st);
	/* Only "online"/"offline" belong on that topic, and we ignore even
	 * those: refuse anything large that someone else publishes there. */
	link_mqtt_limit(st->link, st, STATUS__MAX_MESSAGE, NULL);
	uv_timer_init(loop, &st->timer);
	st->timer.data = st;
	uv_timer_start(&st->timer, status__on_timer, st->interval_ms, st->interval_ms);
	*out = st;
	return 0;
}

static void status__on_close(uv_handle_t *h)
{
	struct status *st = h->data;
	free(st->devs);
	free(st->topic);
	free(st->prefix);
	free(st);
}

void status_close(struct status *st)
{
	if (link_mqtt_is_up(st->link))
		link_mqtt_publish(st->link, st->topic, "offline", 7, 1, 1, NULL, NULL, NULL);
	link_mqtt_release(st->link, st);
	uv_close((uv_handle_t *)&st->timer, status__on_close);
}

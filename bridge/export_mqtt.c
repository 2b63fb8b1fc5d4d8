/* Values to an MQTT broker of the user's choice (`mqtt_export`): each
 * device's values document (values_json_export: the REST API's registers
 * document with the values that are not current left out, the device's
 * health and "stale" in its header, each value's answer time in "time")
 * to <prefix>/<device>, retained unless `retain = false`. The
 * connection is an MQTT link of its own (link_mqtt.h), with the user's
 * broker, credentials and TLS; it reconnects with the links' back-off, and
 * when it comes back every device is published again (export.c). There is
 * no queue: a value that could not be published is counted as dropped, and
 * the retained document of the next publish replaces it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "export_ha.h"
#include "export_mqtt.h"
#include "export_stat.h"
#include "json.h"
#include "link_mqtt.h"
#include "log.h"
#include "mb_error.h"
#include "values.h"

/* Our own control topic takes nothing; a stranger's message there is cut
 * at this size by the link. */
#define EXPORT_MQTT__MAX_MESSAGE 64

struct export_mqtt {
	struct link_mqtt *link;
	char *prefix;
	char *sub_topic;
	int qos, retain;
	void (*on_up)(void *ctx);
	void *ctx;
	struct export_stat st;
};

static void export_mqtt__on_msg(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	(void)ctx;
	(void)topic;
	(void)payload;
	(void)len;
}

static void export_mqtt__on_state(void *ctx, int up)
{
	struct export_mqtt *m = ctx;
	if (!up) {
		export_stat_fail(&m->st, "connection to the broker lost");
		log_warn("mqtt_export: connection to %s lost; publishing again once it is back",
			 m->st.target);
		return;
	}
	m->on_up(m->ctx);
}

/* QoS 1 and 2: the broker acknowledged. */
static void export_mqtt__on_pub(void *ctx, int mid)
{
	struct export_mqtt *m = ctx;
	(void)mid;
	m->st.sent++;
	export_stat_ok(&m->st);
}

struct export_mqtt *export_mqtt_start(uv_loop_t *loop, const struct config_export_mqtt *cfg,
				      void (*on_up)(void *ctx), void *ctx, char *err, size_t errlen)
{
	struct export_mqtt *m = calloc(1, sizeof *m);
	const char *client_id = cfg->mqtt.client_id ? cfg->mqtt.client_id : "modbridge-export";
	size_t n;

	if (!m || !(m->prefix = strdup(cfg->prefix)) ||
	    !(m->sub_topic = malloc(n = strlen(cfg->prefix) + sizeof "/_export"))) {
		if (m)
			free(m->prefix);
		free(m);
		snprintf(err, errlen, "mqtt_export: out of memory");
		return NULL;
	}
	snprintf(m->sub_topic, n, "%s/_export", cfg->prefix);
	m->qos = cfg->mqtt.qos;
	m->retain = cfg->retain;
	m->on_up = on_up;
	m->ctx = ctx;
	snprintf(m->st.target, sizeof m->st.target, "mqtt%s://%s:%d/%s",
		 cfg->mqtt.has_tls ? "s" : "", cfg->mqtt.host, cfg->mqtt.port, cfg->prefix);
	/* Home Assistant discovery: the bridge's availability as the will. */
	char *will = cfg->homeassistant ? export_ha_will_topic(cfg) : NULL;
	m->link = link_mqtt_get_will(loop, &cfg->mqtt, client_id, will, will ? "offline" : NULL,
				     err, errlen);
	free(will);
	if (!m->link) {
		free(m->sub_topic);
		free(m->prefix);
		free(m);
		return NULL;
	}
	/* Subscribing is how a link reports up and down to its user. */
	link_mqtt_subscribe(m->link, m->sub_topic, 0, export_mqtt__on_msg, export_mqtt__on_state,
			    m);
	link_mqtt_limit(m->link, m, EXPORT_MQTT__MAX_MESSAGE, NULL);
	return m;
}

void export_mqtt_publish(struct export_mqtt *m, const struct device *dev, uint64_t now_ms)
{
	const char *name = device_name(dev);
	size_t tlen = strlen(m->prefix) + 1 + strlen(name) + 1, len = 0;
	char *topic = malloc(tlen), *doc = NULL;
	struct json j;
	int rc = MB_ENOMEM;

	export_stat_attempt(&m->st);
	json_init_buf(&j);
	if (topic && values_json_export(&j, dev, now_ms) == 0 && (doc = json_take(&j, &len))) {
		snprintf(topic, tlen, "%s/%s", m->prefix, name);
		rc = link_mqtt_publish(m->link, topic, doc, len, m->qos, m->retain, NULL,
				       export_mqtt__on_pub, m);
	} else {
		free(json_take(&j, NULL));
	}
	if (rc == 0 && m->qos == 0) {
		m->st.sent++;
		export_stat_ok(&m->st);
	} else if (rc != 0) {
		m->st.failed++;
		m->st.dropped++;
		export_stat_fail(&m->st, "%s: %s", name,
				 rc == MB_ELINK	   ? "not connected to the broker, or the broker "
						     "does not take messages fast enough"
				 : rc == MB_ENOMEM ? "out of memory"
						   : mb_strerror(rc));
	}
	free(doc);
	free(topic);
}

const struct export_stat *export_mqtt_stat(const struct export_mqtt *m)
{
	return &m->st;
}

void export_mqtt_close(struct export_mqtt *m)
{
	if (!m)
		return;
	link_mqtt_release(m->link, m);
	free(m->sub_topic);
	free(m->prefix);
	free(m);
}

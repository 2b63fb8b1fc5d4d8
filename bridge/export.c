/* Values out (include/export.h): the `mqtt_export` and `influxdb` config
 * groups, the schedule both exporters share, and their status.
 *
 * The schedule: one timer ticks every EXPORT__TICK_MS. At each tick an
 * exporter whose `interval` is due sends every device; one with `on_change`
 * sends, between intervals, each device whose values changed since it last
 * sent it. A change is seen by a fingerprint (FNV-1a) of the device's
 * decoded values: validity, raw numbers and texts, never their ages, so
 * that a value read again unchanged is no change; and of the device's
 * health and which values are current (values_current), so that a value
 * going stale, or a device that stops answering, is one. Only the cache is
 * read (values.h): exporting never makes a device talk; a device's `poll`
 * keeps its values fresh. A value that is not current is never exported as
 * the device's value: the MQTT document leaves it out and says the device
 * is stale, InfluxDB gets no field for it; what is exported carries the
 * time the device answered with it, not the time it was sent
 * (docs/user-guide.md, "Exporting values"). */
#include "export.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "export_ha.h"
#include "export_influx.h"
#include "export_mqtt.h"
#include "export_stat.h"
#include "fnv.h"
#include "json.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "values.h"

/* How often changes are looked for, and the finest `interval`. */
#define EXPORT__TICK_MS 1000

/* --- status -------------------------------------------------------------- */

static const char *export__state_name(enum export_state st)
{
	return st == EXPORT_OK ? "ok" : st == EXPORT_FAILING ? "failing" : "starting";
}

/* Copies of the groups, kept by the running exporters: a reload frees the
 * config they were started from. */
static int export__dup(char **dst, const char *src)
{
	*dst = NULL;
	return src && !(*dst = strdup(src)) ? MB_ENOMEM : 0;
}

static int export__dup_mqtt(struct config_export_mqtt *d, const struct config_export_mqtt *s)
{
	const struct config_mqtt *a = &s->mqtt;
	struct config_mqtt *b = &d->mqtt;
	*d = *s;
	return export__dup(&b->host, a->host) | export__dup(&b->username, a->username) |
	       export__dup(&b->password, a->password) | export__dup(&b->client_id, a->client_id) |
	       export__dup(&b->tls.ca_file, a->tls.ca_file) |
	       export__dup(&b->tls.cert_file, a->tls.cert_file) |
	       export__dup(&b->tls.key_file, a->tls.key_file) | export__dup(&d->prefix, s->prefix) |
	       export__dup(&d->ha_prefix, s->ha_prefix);
}

static int export__dup_influx(struct config_export_influx *d, const struct config_export_influx *s)
{
	*d = *s;
	return export__dup(&d->url, s->url) | export__dup(&d->database, s->database) |
	       export__dup(&d->retention_policy, s->retention_policy) |
	       export__dup(&d->username, s->username) | export__dup(&d->password, s->password) |
	       export__dup(&d->org, s->org) | export__dup(&d->bucket, s->bucket) |
	       export__dup(&d->token, s->token) | export__dup(&d->measurement, s->measurement) |
	       export__dup(&d->ca_file, s->ca_file);
}

/* --- the running exporters ----------------------------------------------- */

struct export
{
	uv_loop_t *loop;
	struct config_export cfg; /* copies */
	const struct device **devs;
	size_t ndevs;
	/* Per device, the fingerprint of the values each exporter last sent. */
	uint64_t *fp_mqtt, *fp_influx;
	struct export_mqtt *mqtt;
	struct export_influx *influx;
	struct export_ha *ha;	       /* mqtt_export.homeassistant */
	uint64_t due_mqtt, due_influx; /* loop time of the next interval */
	uv_timer_t tick;
};

struct export__fp {
	uint64_t h;
	const struct device *dev;
};

static int export__fp_one(void *ctx, const struct values_item *v)
{
	struct export__fp *f = ctx;
	int current = values_current(f->dev, v);
	f->h = fnv_add(f->h, &v->valid, sizeof v->valid);
	if (!v->valid)
		return 0;
	f->h = fnv_add(f->h, &current, sizeof current);
	if (v->text)
		f->h = fnv_add(f->h, v->text, strlen(v->text) + 1);
	else
		f->h = fnv_add(f->h, &v->raw, sizeof v->raw);
	return 0;
}

static uint64_t export__fingerprint(const struct device *dev, uint64_t now)
{
	struct export__fp f = {.h = FNV_INIT, .dev = dev};
	enum device_health h = device_health(dev);
	f.h = fnv_add(f.h, &h, sizeof h);
	values_each(dev, now, export__fp_one, &f);
	return f.h;
}

static void export__mqtt_all(struct export *e)
{
	uint64_t now = uv_now(e->loop);
	if (e->ha)
		export_ha_announce_all(e->ha, now);
	for (size_t i = 0; i < e->ndevs; i++) {
		e->fp_mqtt[i] = export__fingerprint(e->devs[i], now);
		export_mqtt_publish(e->mqtt, e->devs[i], now);
	}
}

static void export__on_mqtt_up(void *ctx)
{
	struct export *e = ctx;
	/* Whatever changed while the broker was away, and the retained
	 * documents of a broker that lost them. */
	export__mqtt_all(e);
	e->due_mqtt = uv_now(e->loop) + (uint64_t)e->cfg.mqtt.interval * 1000u;
}

static void export__on_tick(uv_timer_t *h)
{
	struct export *e = h->data;
	uint64_t now = uv_now(e->loop);

	if (e->mqtt) {
		int all = now >= e->due_mqtt;
		if (all)
			e->due_mqtt = now + (uint64_t)e->cfg.mqtt.interval * 1000u;
		for (size_t i = 0; i < e->ndevs && (all || e->cfg.mqtt.on_change); i++) {
			uint64_t fp = export__fingerprint(e->devs[i], now);
			if (!all && fp == e->fp_mqtt[i])
				continue;
			e->fp_mqtt[i] = fp;
			export_mqtt_publish(e->mqtt, e->devs[i], now);
			if (e->ha)
				export_ha_state(e->ha, e->devs[i], now);
		}
		if (e->ha)
			export_ha_tick(e->ha);
	}
	if (e->influx) {
		int all = now >= e->due_influx;
		size_t n = 0;
		const struct device **pick = NULL;
		if (all)
			e->due_influx = now + (uint64_t)e->cfg.influx.interval * 1000u;
		if ((all || e->cfg.influx.on_change) &&
		    (pick = calloc(e->ndevs ? e->ndevs : 1, sizeof *pick))) {
			for (size_t i = 0; i < e->ndevs; i++) {
				uint64_t fp = export__fingerprint(e->devs[i], now);
				if (!all && fp == e->fp_influx[i])
					continue;
				e->fp_influx[i] = fp;
				pick[n++] = e->devs[i];
			}
			if (n)
				export_influx_add(e->influx, pick, n, now);
		}
		free(pick);
	}
}

/* The device set (start and reload): fingerprints carried over for the
 * devices that stay, so that a reload alone sends nothing new. */
static int export__set_devices(struct export *e, struct device *const *devs, size_t ndevs)
{
	size_t n = ndevs ? ndevs : 1;
	const struct device **d = calloc(n, sizeof *d);
	uint64_t *fm = calloc(n, sizeof *fm), *fi = calloc(n, sizeof *fi);

	if (!d || !fm || !fi) {
		free(d);
		free(fm);
		free(fi);
		return MB_ENOMEM;
	}
	for (size_t i = 0; i < ndevs; i++) {
		d[i] = devs[i];
		for (size_t j = 0; j < e->ndevs; j++)
			if (e->devs[j] == devs[i]) {
				fm[i] = e->fp_mqtt[j];
				fi[i] = e->fp_influx[j];
			}
	}
	free(e->devs);
	free(e->fp_mqtt);
	free(e->fp_influx);
	e->devs = d;
	e->fp_mqtt = fm;
	e->fp_influx = fi;
	e->ndevs = ndevs;
	if (e->ha)
		return export_ha_devices(e->ha, d, ndevs, uv_now(e->loop));
	return 0;
}

static int export__start_mqtt(struct export *e, const struct config_export_mqtt *m, char *err,
			      size_t errlen)
{
	if (export__dup_mqtt(&e->cfg.mqtt, m) != 0) {
		snprintf(err, errlen, "mqtt_export: out of memory");
		return MB_ENOMEM;
	}
	/* The first interval is due at once: a subscriber sees values on
	 * start, not an interval later (publishing waits for the broker). */
	e->due_mqtt = uv_now(e->loop);
	if (!(e->mqtt =
		  export_mqtt_start(e->loop, &e->cfg.mqtt, export__on_mqtt_up, e, err, errlen)))
		return MB_EIO;
	if (m->homeassistant) {
		const char *id = m->mqtt.client_id ? m->mqtt.client_id : "modbridge-export";
		if (!(e->ha = export_ha_start(e->loop, &e->cfg.mqtt, id, err, errlen)) ||
		    export_ha_devices(e->ha, e->devs, e->ndevs, uv_now(e->loop)) != 0)
			return MB_EIO;
	}
	return 0;
}

static int export__start_influx(struct export *e, const struct config_export_influx *x, char *err,
				size_t errlen)
{
	if (export__dup_influx(&e->cfg.influx, x) != 0) {
		snprintf(err, errlen, "influxdb: out of memory");
		return MB_ENOMEM;
	}
	/* The first point an interval after start: devices answer their
	 * first poll by then. */
	e->due_influx = uv_now(e->loop) + (uint64_t)x->interval * 1000u;
	if (!(e->influx = export_influx_start(e->loop, &e->cfg.influx, err, errlen)))
		return MB_EIO;
	return 0;
}

static void export__on_closed(uv_handle_t *h)
{
	struct export *e = h->data;
	export_config_free_mqtt(&e->cfg.mqtt);
	export_config_free_influx(&e->cfg.influx);
	free(e->devs);
	free(e->fp_mqtt);
	free(e->fp_influx);
	free(e);
}

void export_close(struct export *e)
{
	if (!e)
		return;
	export_ha_close(e->ha);
	e->ha = NULL;
	if (e->mqtt)
		export_mqtt_close(e->mqtt);
	if (e->influx)
		export_influx_close(e->influx);
	e->mqtt = NULL;
	e->influx = NULL;
	uv_close((uv_handle_t *)&e->tick, export__on_closed);
}

int export_start(uv_loop_t *loop, const struct config_export *cfg, struct device *const *devs,
		 size_t ndevs, struct export **out, char *err, size_t errlen)
{
	struct export *e;
	int rc = 0;

	*out = NULL;
	if (!cfg || (!cfg->mqtt.enabled && !cfg->influx.enabled))
		return 0;
	if (!(e = calloc(1, sizeof *e))) {
		snprintf(err, errlen, "export: out of memory");
		return MB_ENOMEM;
	}
	e->loop = loop;
	uv_timer_init(loop, &e->tick);
	e->tick.data = e;
	if ((rc = export__set_devices(e, devs, ndevs)) != 0)
		snprintf(err, errlen, "export: out of memory");
	if (rc == 0 && cfg->mqtt.enabled)
		rc = export__start_mqtt(e, &cfg->mqtt, err, errlen);
	if (rc == 0 && cfg->influx.enabled)
		rc = export__start_influx(e, &cfg->influx, err, errlen);
	if (rc != 0) {
		export_close(e);
		return rc;
	}
	uv_timer_start(&e->tick, export__on_tick, EXPORT__TICK_MS, EXPORT__TICK_MS);
	*out = e;
	return 0;
}

void export_reload(uv_loop_t *loop, struct export **ep, const struct config_export *cfg,
		   struct device *const *devs, size_t ndevs)
{
	struct export *e = *ep;
	char err[512], which[256];
	int mqtt_on = cfg && cfg->mqtt.enabled, influx_on = cfg && cfg->influx.enabled;
	size_t nmkeys, nxkeys;
	const struct config_key *mkeys = export_config_keys(0, &nmkeys);
	const struct config_key *xkeys = export_config_keys(1, &nxkeys);

	if (!e) {
		if (export_start(loop, cfg, devs, ndevs, ep, err, sizeof err) != 0)
			log_err("%s", err);
		return;
	}
	if (!mqtt_on && !influx_on) {
		export_close(e);
		*ep = NULL;
		return;
	}
	if (export__set_devices(e, devs, ndevs) != 0)
		log_err("export: out of memory");
	/* An exporter whose keys all compare equal keeps its connection and
	 * its queue; any other is replaced. */
	if (e->mqtt && (!mqtt_on ||
			!keys_same(mkeys, nmkeys, &e->cfg.mqtt, &cfg->mqtt, which, sizeof which))) {
		if (mqtt_on)
			log_info("mqtt_export.%s changed: reconnecting", which);
		export_ha_close(e->ha);
		e->ha = NULL;
		export_mqtt_close(e->mqtt);
		e->mqtt = NULL;
		export_config_free_mqtt(&e->cfg.mqtt);
	}
	if (!e->mqtt && mqtt_on && export__start_mqtt(e, &cfg->mqtt, err, sizeof err) != 0)
		log_err("%s", err);
	if (e->influx && (!influx_on || !keys_same(xkeys, nxkeys, &e->cfg.influx, &cfg->influx,
						   which, sizeof which))) {
		if (influx_on)
			log_info("influxdb.%s changed: starting again (points queued are dropped)",
				 which);
		export_influx_close(e->influx);
		e->influx = NULL;
		export_config_free_influx(&e->cfg.influx);
	}
	if (!e->influx && influx_on && export__start_influx(e, &cfg->influx, err, sizeof err) != 0)
		log_err("%s", err);
}

/* --- status out ---------------------------------------------------------- */

static void export__stat_json(struct json *j, const struct export_stat *s, int queued)
{
	json_key_str(j, "{\"state\":", export__state_name(s->state));
	json_key_str(j, ",\"target\":", s->target);
	json_printf(j, ",\"last_attempt\":%llu,\"last_success\":%llu,\"last_error\":",
		    (unsigned long long)s->last_attempt, (unsigned long long)s->last_success);
	json_str(j, s->last_error[0] ? s->last_error : NULL);
	json_printf(j, ",\"sent\":%llu,\"failed\":%llu,\"dropped\":%llu",
		    (unsigned long long)s->sent, (unsigned long long)s->failed,
		    (unsigned long long)s->dropped);
	if (queued)
		json_printf(j, ",\"queued\":%llu", (unsigned long long)s->queued);
	json_raw(j, "}");
}

void export_status_json(const struct export *e, struct json *j)
{
	json_raw(j, "{\"mqtt\":");
	if (e && e->mqtt)
		export__stat_json(j, export_mqtt_stat(e->mqtt), 0);
	else
		json_raw(j, "null");
	json_raw(j, ",\"influxdb\":");
	if (e && e->influx)
		export__stat_json(j, export_influx_stat(e->influx), 1);
	else
		json_raw(j, "null");
	json_raw(j, "}");
}

static void export__log_one(const char *name, const struct export_stat *s, int queued)
{
	char q[48] = "";
	if (queued)
		snprintf(q, sizeof q, " queued %llu", (unsigned long long)s->queued);
	log_info("export %s: %s target %s sent %llu failed %llu dropped %llu%s last_attempt %llu "
		 "last_success %llu last_error %s",
		 name, export__state_name(s->state), s->target, (unsigned long long)s->sent,
		 (unsigned long long)s->failed, (unsigned long long)s->dropped, q,
		 (unsigned long long)s->last_attempt, (unsigned long long)s->last_success,
		 s->last_error[0] ? s->last_error : "none");
}

void export_log_status(const struct export *e)
{
	if (e && e->mqtt)
		export__log_one("mqtt", export_mqtt_stat(e->mqtt), 0);
	if (e && e->influx)
		export__log_one("influxdb", export_influx_stat(e->influx), 1);
}

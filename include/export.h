/* Values out (docs/user-guide.md, "Exporting values"): each device's decoded
 * registers (values.h) go to an MQTT broker of the user's choice (config
 * group `mqtt_export`: the same JSON document as the REST API's registers
 * endpoint, one retained message per device) and to InfluxDB 1.x or 2.x
 * (config group `influxdb`: line protocol, codec_line.h), on change and
 * every `interval`. Neither blocks the loop: MQTT goes through its own link
 * (link_mqtt.h, a connection of its own to the user's broker), InfluxDB
 * through libcurl's multi interface on the loop (link_http.h), with a
 * bounded queue of batches, timeouts and back-off (backoff.h).
 *
 * Each exporter keeps a status: ok or failing, the last attempt, the last
 * success, the last error and its counters. SIGUSR1 logs it
 * (export_log_status) and the REST API shows it (export_status_json).
 *
 * The HTTP API shows it as the "exports" member of GET /api/v1/status: the
 * daemon (bridge/main.c) owns the running `struct export *` (NULL when
 * neither group is configured; a reload may replace it, so it is read
 * through the daemon each time) and hands export_status_json() to the HTTP
 * server (http_set_exports, http.h). For NULL it writes
 * {"mqtt":null,"influxdb":null}, so the document keeps its shape. */
#ifndef EXPORT_H
#define EXPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "export_config.h" /* the groups export_start and export_reload take */

struct json;
struct device;

struct export;

/* Start the exporters cfg configures (NULL or none enabled: *out NULL, 0).
 * cfg is copied: it may be freed afterwards, as a reload does. */
int export_start(uv_loop_t *loop, const struct config_export *cfg, struct device *const *devs,
		 size_t ndevs, struct export **out, char *err, size_t errlen);
/* SIGHUP: apply a new config to *e (started, stopped, restarted where a key
 * changed, kept otherwise) and the new device set. */
void export_reload(uv_loop_t *loop, struct export **e, const struct config_export *cfg,
		   struct device *const *devs, size_t ndevs);
/* Stop: a last publish is not attempted; frees once its handles closed. */
void export_close(struct export *e);

/* {"mqtt": {...} or null, "influxdb": {...} or null}; e may be NULL. Each
 * exporter: {"state": "ok"|"failing"|"starting", "target": "...",
 * "last_attempt": ms, "last_success": ms (wall clock, ms since the epoch,
 * 0 = never), "last_error": "..." or null, "sent": n, "failed": n,
 * "dropped": n}, and for InfluxDB "queued": n (points waiting). */
void export_status_json(const struct export *e, struct json *j);
/* One log line per exporter (SIGUSR1). */
void export_log_status(const struct export *e);

#endif

/* Status over MQTT (config group `status`): `<prefix>/status` is "online"
 * (retained, with "offline" as last will), and every `interval` seconds each
 * device's counters go to `<prefix>/device/<name>` as a JSON document. */
#ifndef STATUS_H
#define STATUS_H

#include <stddef.h>
#include <uv.h>

struct status;
struct device;
struct config_status;

/* cfg is copied (prefix, interval, QoS; the link copies the broker
 * settings): it may be freed afterwards, as a reload does. */
int status_start(uv_loop_t *loop, const struct config_status *cfg, struct device *const *devs,
		 size_t ndevs, struct status **out, char *err, size_t errlen);
/* A reload changed only `interval` (s): restart the timer with it. A changed
 * prefix or broker needs a new link (and last will): close and start again. */
void status_set_interval(struct status *st, int interval);
/* The device set changed (reload). */
void status_set_devices(struct status *st, struct device *const *devs, size_t ndevs);
/* Publish "offline", disconnect, free once closed. */
void status_close(struct status *st);
/* The JSON document of one device, whole however long its texts: a string
 * the caller frees, its length in *len; NULL when out of memory. */
char *status_device_json(const struct device *dev, size_t *len);

#endif

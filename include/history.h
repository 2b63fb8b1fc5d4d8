/* A bounded in-memory history of each device's summary registers (the map's
 * `summary`) for the web page's charts (docs/user-guide.md, "History"):
 * HISTORY_POINTS points per register, one per interval (60 s: 24 h), each
 * the minimum, maximum and last of the current values sampled within it.
 * Memory per device: at most MAP_SUMMARY_MAX series of HISTORY_POINTS
 * points (struct history_point) plus one time per point; nothing grows
 * with time. The web interface owns one (bridge/http.c). */
#ifndef HISTORY_H
#define HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

#define HISTORY_POINTS 1440
/* Samples taken within one point (the sampling period is interval / this). */
#define HISTORY_SAMPLES 6

struct device;
struct history;

struct history *history_new(uint64_t interval_ms);
void history_free(struct history *h);
uint64_t history_interval(const struct history *h);

/* Take one sample of every device's summary registers: now_ms on the
 * loop's clock, wall_ms the wall clock (the points' times). Devices not in
 * devs are forgotten, and a device whose map changed starts anew. */
void history_sample(struct history *h, struct device *const *devs, size_t n, uint64_t now_ms,
		    uint64_t wall_ms);

/* The history document of a device: {"device", "interval_s", "points",
 * "series": [{"name", "unit", "points": [[t_ms, min, max, last], ...]}]},
 * oldest point first, points without a sample left out. -1 for a device
 * the history does not know (no summary, or not sampled yet: the
 * document is then written empty). */
int history_json(const struct history *h, struct json *j, const struct device *dev);

/* Bytes the history holds for a device with n summary registers. */
size_t history_bytes_per_device(size_t n);

#endif

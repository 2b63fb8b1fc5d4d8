/* The summary registers' history (bridge/history.h). */
#include "history.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "map.h"
#include "values.h"

struct history_point {
	float min, max, last; /* NaN: no sample in the point */
};

struct history_dev {
	char *name;
	const struct map *map; /* a reload that changes the map starts anew */
	size_t nseries;
	const struct map_register *reg[8];
	uint64_t *t;		   /* [HISTORY_POINTS] start of each point, wall ms */
	struct history_point *pts; /* [nseries][HISTORY_POINTS] */
	uint64_t slot;		   /* the current point's slot (now / interval) */
	size_t head;		   /* the current point's index */
	size_t count;		   /* points in use */
	int seen;		   /* in the last sample's devices */
};

struct history {
	uint64_t interval;
	struct history_dev *devs;
	size_t ndevs;
};

size_t history_bytes_per_device(size_t n)
{
	return sizeof(struct history_dev) + HISTORY_POINTS * sizeof(uint64_t) +
	       n * HISTORY_POINTS * sizeof(struct history_point);
}

struct history *history_new(uint64_t interval_ms)
{
	struct history *h = calloc(1, sizeof *h);
	if (h)
		h->interval = interval_ms ? interval_ms : 60000;
	return h;
}

uint64_t history_interval(const struct history *h)
{
	return h->interval;
}

static void history__dev_free(struct history_dev *d)
{
	free(d->name);
	free(d->t);
	free(d->pts);
}

void history_free(struct history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->ndevs; i++)
		history__dev_free(&h->devs[i]);
	free(h->devs);
	free(h);
}

static void history__clear(struct history_dev *d, size_t idx)
{
	for (size_t s = 0; s < d->nseries; s++) {
		struct history_point *p = &d->pts[s * HISTORY_POINTS + idx];
		p->min = p->max = p->last = NAN;
	}
}

/* The device's history, made (or made anew for a new map) as needed. */
static struct history_dev *history__dev(struct history *h, const struct device *dev)
{
	const struct map *m = device_map(dev);
	size_t ns;
	const struct map_register *const *sum = map_summary(m, &ns);
	struct history_dev *d = NULL;

	for (size_t i = 0; i < h->ndevs && !d; i++)
		if (strcmp(h->devs[i].name, device_name(dev)) == 0)
			d = &h->devs[i];
	if (d && d->map == m)
		return d;
	if (!d) {
		struct history_dev *nd = realloc(h->devs, (h->ndevs + 1) * sizeof *nd);
		if (!nd)
			return NULL;
		h->devs = nd;
		d = &h->devs[h->ndevs];
		memset(d, 0, sizeof *d);
		if (!(d->name = strdup(device_name(dev))))
			return NULL;
		h->ndevs++;
	}
	free(d->t);
	free(d->pts);
	d->t = NULL;
	d->pts = NULL;
	d->map = m;
	d->nseries = ns > 8 ? 8 : ns;
	d->count = 0;
	d->head = 0;
	for (size_t i = 0; i < d->nseries; i++)
		d->reg[i] = sum[i];
	if (d->nseries && (!(d->t = calloc(HISTORY_POINTS, sizeof *d->t)) ||
			   !(d->pts = malloc(d->nseries * HISTORY_POINTS * sizeof *d->pts)))) {
		d->nseries = 0;
		return NULL;
	}
	return d;
}

struct history__pick {
	struct history_dev *d;
	const struct device *dev;
};

static int history__one(void *ctx, const struct values_item *v)
{
	struct history__pick *c = ctx;
	struct history_dev *d = c->d;
	for (size_t s = 0; s < d->nseries; s++) {
		if (d->reg[s] != v->reg)
			continue;
		/* Current numbers only: a stale value is not what the
		 * device did at that time. */
		if (!v->number || !values_current(c->dev, v))
			return 0;
		struct history_point *p = &d->pts[s * HISTORY_POINTS + d->head];
		float x = (float)v->scaled;
		if (isnan(p->min) || x < p->min)
			p->min = x;
		if (isnan(p->max) || x > p->max)
			p->max = x;
		p->last = x;
	}
	return 0;
}

void history_sample(struct history *h, struct device *const *devs, size_t n, uint64_t now_ms,
		    uint64_t wall_ms)
{
	uint64_t slot = now_ms / h->interval;

	for (size_t i = 0; i < h->ndevs; i++)
		h->devs[i].seen = 0;
	for (size_t i = 0; i < n; i++) {
		struct history_dev *d = history__dev(h, devs[i]);
		if (!d)
			continue;
		d->seen = 1;
		if (!d->nseries)
			continue;
		if (d->count == 0 || slot != d->slot) {
			if (d->count)
				d->head = (d->head + 1) % HISTORY_POINTS;
			if (d->count < HISTORY_POINTS)
				d->count++;
			d->slot = slot;
			d->t[d->head] = wall_ms - now_ms % h->interval;
			history__clear(d, d->head);
		}
		struct history__pick c = {.d = d, .dev = devs[i]};
		values_each(devs[i], now_ms, history__one, &c);
	}
	/* Forget the devices a reload removed. */
	for (size_t i = 0; i < h->ndevs;) {
		if (h->devs[i].seen) {
			i++;
			continue;
		}
		history__dev_free(&h->devs[i]);
		h->devs[i] = h->devs[--h->ndevs];
	}
}

static void history__num(struct json *j, float x)
{
	char num[40];
	if (isnan(x)) {
		json_raw(j, "null");
		return;
	}
	/* A float's value: nine significant digits at most, shortest first. */
	for (int prec = 6; prec <= 9; prec++) {
		snprintf(num, sizeof num, "%.*g", prec, (double)x);
		if ((float)strtod(num, NULL) == x)
			break;
	}
	json_raw(j, num);
}

int history_json(const struct history *h, struct json *j, const struct device *dev)
{
	const struct history_dev *d = NULL;
	for (size_t i = 0; i < h->ndevs && !d; i++)
		if (strcmp(h->devs[i].name, device_name(dev)) == 0)
			d = &h->devs[i];
	json_key_str(j, "{\"device\":", device_name(dev));
	json_printf(j, ",\"interval_s\":%.3g,\"points\":%d,\"series\":[",
		    (double)h->interval / 1000.0, HISTORY_POINTS);
	for (size_t s = 0; d && s < d->nseries; s++) {
		json_key_str(j, s ? ",{\"name\":" : "{\"name\":", d->reg[s]->name);
		json_key_str(j, ",\"unit\":", d->reg[s]->unit);
		json_raw(j, ",\"points\":[");
		int first = 1;
		for (size_t k = 0; k < d->count; k++) {
			size_t idx =
			    (d->head + HISTORY_POINTS - (d->count - 1 - k)) % HISTORY_POINTS;
			const struct history_point *p = &d->pts[s * HISTORY_POINTS + idx];
			if (isnan(p->last))
				continue;
			json_printf(j, "%s[%" PRIu64 ",", first ? "" : ",", d->t[idx]);
			history__num(j, p->min);
			json_raw(j, ",");
			history__num(j, p->max);
			json_raw(j, ",");
			history__num(j, p->last);
			json_raw(j, "]");
			first = 0;
		}
		json_raw(j, "]}");
	}
	json_raw(j, "]}");
	return d ? 0 : -1;
}

/* Config generations and the running set of devices (include/reload.h).
 *
 * A generation is a loaded config and the maps its devices use, each with a
 * fingerprint (FNV-1a) of its file. Devices keep the generation they were
 * created from alive, so that a reload can keep a device without copying its
 * settings: the generation is freed when it is no longer current and its
 * last device is gone.
 *
 * Whether a device is unchanged is derived from the config's key tables
 * (keys_same over config_device_keys: every key of the device, of its
 * mqtt group and of its protocol block, and the config's `defaults`), so that
 * a key added to a table is compared without being listed here. */
#include "reload.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "config.h"
#include "device.h"
#include "dl.h"
#include "export.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"
#include "server.h"
#include "site.h"
#include "status.h"
#include "timing.h"
#include "transport.h"

#define RELOAD__ERRLEN 4096

/* A map loaded for one config, with a fingerprint of its file so that a
 * reload can tell an unchanged map from an edited one. */
struct reload__map {
	char *name;
	struct map *map;
	uint64_t hash;
};

struct reload_gen {
	struct config *conf;
	struct reload__map *maps;
	size_t nmaps;
	size_t refs; /* devices from this generation, +1 while current */
};

struct reload__listener {
	char name[64];
	char listen[64];
	int port;
	struct router router;
};

struct reload {
	uv_loop_t *loop;
	struct reload_gen *gen;
	struct device **devs; /* by index of gen->conf->devices */
	struct reload_gen **dev_gen;
	size_t ndevs;
	struct router router;
	/* What the listener was bound to at start: a reload cannot move it,
	 * so a config that differs from it (not from the last one) is what
	 * needs a restart. */
	char bound_listen[64];
	int bound_port;
	/* The `listeners` bound at start (config.h), by name, each with its
	 * route table; a reload routes devices to them by the name their
	 * `listener` gives, and adding or moving one needs a restart. */
	struct reload__listener *lsn;
	size_t nlsn;
};

/* ------------------------------------------------------- generations -- */

static uint64_t reload__file_hash(const char *path)
{
	/* FNV-1a over the file: a change of any byte makes the map "new". */
	uint64_t h = 1469598103934665603ull;
	FILE *f = fopen(path, "rb");
	int c;
	if (!f)
		return 0;
	while ((c = getc(f)) != EOF)
		h = (h ^ (uint64_t)(unsigned char)c) * 1099511628211ull;
	fclose(f);
	return h;
}

void reload_gen_free(struct reload_gen *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->nmaps; i++) {
		map_free(g->maps[i].map);
		free(g->maps[i].name);
	}
	free(g->maps);
	config_free(g->conf);
	free(g);
}

static void reload__gen_unref(void *arg)
{
	struct reload_gen *g = arg;
	if (--g->refs == 0)
		reload_gen_free(g);
}

static const struct reload__map *reload__gen_map(const struct reload_gen *g, const char *name)
{
	for (size_t i = 0; i < g->nmaps; i++)
		if (strcmp(g->maps[i].name, name) == 0)
			return &g->maps[i];
	return NULL;
}

/* Does the device's protocol block fit its map? A device without a block
 * runs a map of a virtual protocol; a virtual protocol's block runs any map
 * (it simulates the device); any other block must be the map's protocol. */
static int reload__fits(const struct config *c, const struct config_device *d, const struct map *m,
			char *err, size_t errlen)
{
	const struct protocol *mp = map_proto(m);
	char names[128];

	if (!d->proto && d->has_mqtt && !(mp->flags & PROTOCOL_MQTT)) {
		snprintf(err, errlen,
			 "%s:%d: device \"%s\": map \"%s\" speaks %s, which does not use MQTT;"
			 " remove the mqtt group",
			 c->path, d->line, d->name, d->map, mp->name);
		return MB_EINVAL;
	}
	if (!d->proto && !(mp->flags & PROTOCOL_VIRTUAL)) {
		protocol_names(PROTOCOL_VIRTUAL, ", ", " or ", names, sizeof names);
		snprintf(err, errlen,
			 "%s:%d: device \"%s\": map \"%s\" speaks %s; add a %s = { ... } block"
			 " (or %s = {} to simulate it)",
			 c->path, d->line, d->name, d->map, map_protocol(m), mp->name, names);
		return MB_EINVAL;
	}
	/* A map may run on several protocols (a list, or the family "rtu"). */
	if (d->proto && !(d->proto->flags & PROTOCOL_VIRTUAL) && !map_speaks(m, d->proto)) {
		snprintf(err, errlen,
			 "%s:%d: device \"%s\" has a %s block but map \"%s\" is for protocol %s",
			 c->path, d->line, d->name, d->proto->name, d->map, map_protocol(m));
		return MB_EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------ timing -- */

/* Native reads one poll of a device costs: the map's readable runs, split
 * where native addresses stop being contiguous and at the read size, never
 * inside a register (as the device queues them, docs/design.md "Cache,
 * polling, coalescing"). */
static size_t reload__poll_reads(const struct map *m, const struct protocol *pr)
{
	const struct transport_ops *ops = pr->ops;
	unsigned max_read = ops && ops->max_read ? ops->max_read : MB_MAX_READ;
	size_t n = map_nregs(m), reads = 0;
	const struct map_register *prev = NULL;
	unsigned words = 0;

	if (map_max_read(m) && map_max_read(m) < max_read)
		max_read = map_max_read(m);
	if (ops && (ops->flags & TRANSPORT_READ_ALL))
		return 1;
	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(m, i);
		if (!(r->access & MAP_R)) {
			prev = NULL;
			continue;
		}
		if (prev && prev->table == r->table && prev->address + prev->count == r->address &&
		    prev->native + prev->count == r->native && words + r->count <= max_read) {
			words += r->count;
		} else {
			reads++;
			words = r->count;
		}
		prev = r;
	}
	return reads;
}

static size_t reload__warn(char *buf, size_t len, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t reload__warn(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	if (*used < len) {
		va_start(ap, fmt);
		int w = vsnprintf(buf + *used, len - *used, fmt, ap);
		va_end(ap);
		if (w > 0)
			*used += (size_t)w < len - *used ? (size_t)w : len - *used - 1;
	}
	return 1;
}

size_t reload_gen_warnings(const struct reload_gen *g, char *buf, size_t len)
{
	const struct config *c = g->conf;
	size_t used = 0, n = 0;

	if (len)
		buf[0] = '\0';
	/* The file's own (old spellings), a line each. */
	for (const char *w = c->warnings; w && *w;) {
		size_t l = strcspn(w, "\n");
		n += reload__warn(buf, len, &used, "%s%.*s", n ? "\n" : "", (int)l, w);
		w += l + (w[l] == '\n');
	}
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct config_device *d = &c->devices[i];
		const struct reload__map *lm = reload__gen_map(g, d->map);
		const struct protocol *pr;
		struct timing t;
		if (!lm)
			continue;
		pr = d->proto ? d->proto : map_proto(lm->map);
		if (!pr || (pr->flags & PROTOCOL_VIRTUAL))
			continue; /* held in the daemon: nothing to wait for */
		timing_resolve(c, d, lm->map, &t);
		const char *nl = n ? "\n" : "";
		if (t.poll > 0) {
			size_t reads = reload__poll_reads(lm->map, pr);
			int64_t each =
			    t.min_interval > pr->typical_rtt ? t.min_interval : pr->typical_rtt;
			if ((int64_t)reads * each > t.poll)
				n += reload__warn(buf, len, &used,
						  "%s%s:%d: warning: device \"%s\": one poll takes "
						  "%zu native reads"
						  " of about %lld ms each (min_interval %lld ms, a "
						  "typical %s round"
						  " trip %ld ms), %lld ms, longer than poll %lld "
						  "ms: the device is"
						  " never idle and client reads queue behind the "
						  "polls; raise poll",
						  nl, c->path, d->line, d->name, reads,
						  (long long)each, (long long)t.min_interval,
						  pr->name, pr->typical_rtt,
						  (long long)reads * each, (long long)t.poll);
			nl = n ? "\n" : "";
			if (t.max_age < t.poll)
				n += reload__warn(
				    buf, len, &used,
				    "%s%s:%d: warning: device \"%s\": max_age %lld ms is shorter "
				    "than"
				    " poll %lld ms: between polls reads find nothing fresh and "
				    "wait for"
				    " the device; set max_age to about %d/2 x poll (%lld)",
				    nl, c->path, d->line, d->name, (long long)t.max_age,
				    (long long)t.poll, TIMING_MAX_AGE_POLLS_X2,
				    (long long)(t.poll * TIMING_MAX_AGE_POLLS_X2 / 2));
		}
		nl = n ? "\n" : "";
		if (t.client_wait > TIMING_CLIENT_TIMEOUT_MS)
			n += reload__warn(
			    buf, len, &used,
			    "%s%s:%d: warning: device \"%s\": a client read waits up to %lld ms"
			    " (client_wait), longer than the %d ms common Modbus clients wait"
			    " (Home Assistant's hub: 3 s unless its timeout says otherwise):"
			    " such a client gives up before the 0B; lower"
			    " client_wait, or set the client's timeout above %lld ms",
			    nl, c->path, d->line, d->name, (long long)t.client_wait,
			    TIMING_CLIENT_TIMEOUT_MS, (long long)t.client_wait);
	}
	return n;
}

/* The site's checks (site.h) with each device's map. */
static int reload__site_check(const struct reload_gen *g, char *err, size_t errlen)
{
	const struct config *c = g->conf;
	const struct map **maps = calloc(c->ndevices ? c->ndevices : 1, sizeof *maps);
	if (!maps) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	for (size_t i = 0; i < c->ndevices; i++)
		maps[i] = reload__gen_map(g, c->devices[i].map)->map;
	int rc = site_check(c, maps, err, errlen);
	free(maps);
	return rc;
}

/* The optional libraries the config's groups need (include/dl.h), opened
 * and closed again: --check, start, a reload and a settings save refuse a
 * config whose library is missing, with the message start would give when
 * the group starts, instead of --check passing and start failing, or a
 * reload installing what it cannot run. Nothing is kept mapped; a config
 * without those groups opens nothing. */
static int reload__libs(const struct config *c, char *err, size_t errlen)
{
	char why[512];
	int rc = 0;

#if MB_WITH_HTTP
	if (c->http)
		rc = dl_mhd_probe("http", why, sizeof why);
#endif
#if MB_WITH_INFLUXDB
	if (rc == 0 && c->export && c->export->influx.enabled)
		rc = dl_curl_probe("influxdb", why, sizeof why);
#endif
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", c->path, why);
		return MB_EIO;
	}
	return 0;
}

struct reload_gen *reload_gen_load(const char *path, char *err, size_t errlen)
{
	return reload_gen_load_with(path, NULL, err, errlen);
}

struct reload_gen *reload_gen_load_with(const char *path, const char *settings, char *err,
					size_t errlen)
{
	struct reload_gen *g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (config_load_with(path, settings, &g->conf, err, errlen) != 0) {
		free(g);
		return NULL;
	}
	struct config *c = g->conf;
	g->maps = calloc(c->ndevices ? c->ndevices : 1, sizeof *g->maps);
	if (!g->maps) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct config_device *d = &c->devices[i];
		const struct reload__map *lm = reload__gen_map(g, d->map);
		if (!lm) {
			char merr[1024];
			struct map *m = map_load_named((const char *const *)c->maps_path,
						       c->nmaps_path, d->map, merr, sizeof merr);
			if (!m) {
				snprintf(err, errlen, "%s:%d: device \"%s\": %s", c->path, d->line,
					 d->name, merr);
				goto fail;
			}
			struct reload__map *nl = &g->maps[g->nmaps++];
			nl->map = m;
			nl->name = strdup(d->map);
			nl->hash = reload__file_hash(map_path(m));
			if (!nl->name) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			/* Maps must lint clean to run, not only under --check:
			 * overlapping registers, for one, would make lookups miss. */
			char lerr[RELOAD__ERRLEN];
			if (map_lint(m, lerr, sizeof lerr) > 0) {
				snprintf(err, errlen, "%s", lerr);
				goto fail;
			}
			lm = nl;
		}
		if (reload__fits(c, d, lm->map, err, errlen) != 0)
			goto fail;
		/* The device runs with set values: the protocol's defaults are
		 * decided here, once for start, --check and a reload. */
		struct timing t;
		struct config_device *wd = &c->devices[i];
		timing_resolve(c, d, lm->map, &t);
		wd->timeout = t.timeout;
		wd->max_age = t.max_age;
		wd->poll = t.poll;
		wd->min_interval = t.min_interval;
		wd->client_wait = t.client_wait;
	}
	/* Room was made for a map per device; a fleet's devices share a few
	 * (24 bytes a device of a 10,000-device fleet otherwise). */
	struct reload__map *fit = realloc(g->maps, (g->nmaps ? g->nmaps : 1) * sizeof *fit);
	if (fit)
		g->maps = fit;
	if (reload__site_check(g, err, errlen) != 0)
		goto fail;
	if (reload__libs(c, err, errlen) != 0)
		goto fail;
	g->refs = 1;
	return g;
fail:
	reload_gen_free(g);
	return NULL;
}

const struct config *reload_gen_config(const struct reload_gen *g)
{
	return g->conf;
}

size_t reload_gen_nmaps(const struct reload_gen *g)
{
	return g->nmaps;
}

const struct map *reload_gen_map(const struct reload_gen *g, size_t i)
{
	return i < g->nmaps ? g->maps[i].map : NULL;
}

/* ---------------------------------------------------- device equality -- */

/* Would a device from (ca, a, amap) behave exactly as one from (cb, b,
 * bmap)? Every key of the device tables and of the config's defaults (the
 * device's timing falls back on them), and the map file. 0 when not, with
 * what differs in which. */
static int reload__device_same(const struct config *ca, const struct config_device *a,
			       uint64_t amap, const struct config *cb,
			       const struct config_device *b, uint64_t bmap, char *which,
			       size_t len)
{
	char sub[256];
	size_t n;
	const struct config_key *keys = config_device_keys(&n);

	/* A device's timing keys hold what it runs with (reload_gen_load()
	 * puts the map's, the config's and the protocol's defaults in), so a
	 * change of the defaults or of the map shows in them too: then the
	 * message names where it was made. */
	static const char timing[][13] = {"timeout", "max_age", "poll", "min_interval"};
	int differs = !keys_same(keys, n, a, b, which, len), timing_key = 0;
	for (size_t i = 0; differs && i < sizeof timing / sizeof timing[0]; i++)
		timing_key |= strcmp(which, timing[i]) == 0;
	if (differs && !timing_key)
		return 0;
	keys = config_defaults_keys(&n);
	if (!keys_same(keys, n, ca, cb, sub, sizeof sub)) {
		snprintf(which, len, "defaults.%.200s", sub);
		return 0;
	}
	if (amap != bmap) {
		snprintf(which, len, "map file");
		return 0;
	}
	return !differs;
}

/* ----------------------------------------------------------- devices -- */

/* The running devices by name: an open-addressing table of indexes into
 * r->devs (SIZE_MAX: empty), twice their number rounded up to a power of
 * two, so that a reload of N devices compares each with one old device,
 * not with all N (10,000 devices whose `defaults` changed took two minutes
 * before). NULL when out of memory. */
static uint64_t reload__name_hash(const char *name)
{
	uint64_t h = 1469598103934665603ull;
	for (; *name; name++)
		h = (h ^ (uint64_t)(unsigned char)*name) * 1099511628211ull;
	return h;
}

static size_t *reload__name_index(const struct reload *r, size_t *n)
{
	size_t nb = 16;
	while (nb < 2 * r->ndevs)
		nb *= 2;
	size_t *t = malloc(nb * sizeof *t);
	if (!t)
		return NULL;
	for (size_t i = 0; i < nb; i++)
		t[i] = SIZE_MAX;
	for (size_t k = 0; k < r->ndevs; k++) {
		if (!r->devs[k])
			continue;
		size_t h = (size_t)reload__name_hash(device_config(r->devs[k])->name) & (nb - 1);
		while (t[h] != SIZE_MAX)
			h = (h + 1) & (nb - 1);
		t[h] = k;
	}
	*n = nb;
	return t;
}

/* The index in r->devs of the running device called name, or SIZE_MAX. */
static size_t reload__by_name(const size_t *t, size_t nb, const struct reload *r, const char *name)
{
	for (size_t h = (size_t)reload__name_hash(name) & (nb - 1); t[h] != SIZE_MAX;
	     h = (h + 1) & (nb - 1))
		if (strcmp(device_config(r->devs[t[h]])->name, name) == 0)
			return t[h];
	return SIZE_MAX;
}

/* Create the devices of generation g, reusing those of r's set whose
 * settings did not change. On failure nothing of the old set is touched. */
static int reload__devices_build(struct reload *r, struct reload_gen *g, struct device ***out_devs,
				 struct reload_gen ***out_gen, char *err, size_t errlen)
{
	struct config *c = g->conf;
	size_t n = c->ndevices;
	struct device **devs = calloc(n ? n : 1, sizeof *devs);
	struct reload_gen **gens = calloc(n ? n : 1, sizeof *gens);
	char *reused = calloc(r->ndevs ? r->ndevs : 1, 1);
	size_t nbyname = 0, *byname = reload__name_index(r, &nbyname);
	if (!devs || !gens || !reused || !byname) {
		free(devs);
		free(gens);
		free(reused);
		free(byname);
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct config_device *cd = &c->devices[i];
		const struct reload__map *lm = reload__gen_map(g, cd->map);
		char which[256] = "", why[256] = "";
		/* Only the old device of the same name can be the same: the
		 * name is one of the keys compared, and names are unique. */
		size_t k = reload__by_name(byname, nbyname, r, cd->name);
		if (k < r->ndevs && !reused[k] && r->devs[k]) {
			struct reload_gen *og = r->dev_gen[k];
			const struct config_device *od = device_config(r->devs[k]);
			const struct reload__map *olm = reload__gen_map(og, od->map);
			if (reload__device_same(og->conf, od, olm ? olm->hash : 0, c, cd, lm->hash,
						which, sizeof which)) {
				reused[k] = 1;
				devs[i] = r->devs[k];
				gens[i] = og;
			} else {
				snprintf(why, sizeof why, "%s", which);
			}
		}
		if (devs[i])
			continue;
		if (why[0])
			log_info("device %s: %s changed: replacing it", cd->name, why);
		int rc = device_create(r->loop, c, cd, lm->map, &devs[i], err, errlen);
		if (rc != 0) {
			for (size_t j = 0; j < i; j++) {
				if (gens[j] == g) /* new ones only */
					device_close(devs[j]);
			}
			free(devs);
			free(gens);
			free(reused);
			free(byname);
			return rc;
		}
		gens[i] = g;
		g->refs++;
		device_set_close_hook(devs[i], reload__gen_unref, g);
	}
	/* Close the old devices that were not carried over. */
	for (size_t k = 0; k < r->ndevs; k++)
		if (!reused[k] && r->devs[k])
			device_close(r->devs[k]);
	free(reused);
	free(byname);
	*out_devs = devs;
	*out_gen = gens;
	return 0;
}

static void reload__route(struct reload *r)
{
	const char *def = r->gen ? r->gen->conf->server.default_unit : NULL;
	const struct config *c = r->gen ? r->gen->conf : NULL;
	memset(&r->router, 0, sizeof r->router);
	for (size_t i = 0; i < r->nlsn; i++)
		memset(&r->lsn[i].router, 0, sizeof r->lsn[i].router);
	for (size_t i = 0; i < r->ndevs; i++) {
		/* The listener comes from the current config, not the device's
		 * own: a device whose listener alone changed is kept and moved. */
		const char *ln = c && i < c->ndevices ? c->devices[i].listener : NULL;
		if (ln) { /* NULL: the server block's listener */
			for (size_t j = 0; j < r->nlsn; j++)
				if (strcmp(r->lsn[j].name, ln) == 0)
					r->lsn[j].router.unit[device_unit(r->devs[i])] = r->devs[i];
			continue;
		}
		r->router.unit[device_unit(r->devs[i])] = r->devs[i];
		/* Units 0 and 255 mean "the device" to clients that address one
		 * (Home Assistant sends 0 unless `slave` is set); they reach the
		 * device server.default_unit names, else nothing (0A). */
		if (def && strcmp(device_name(r->devs[i]), def) == 0)
			r->router.unit[0] = r->router.unit[255] = r->devs[i];
	}
}

/* Make g current: its devices replace r's. On failure r is untouched; the
 * caller drops its reference to g (reload__gen_unref, not reload_gen_free:
 * devices created before the failure are closing and release g when they
 * are freed). */
static int reload__install(struct reload *r, struct reload_gen *g, char *err, size_t errlen)
{
	struct device **devs;
	struct reload_gen **gens;
	int rc = reload__devices_build(r, g, &devs, &gens, err, errlen);
	if (rc != 0)
		return rc;
	free(r->devs);
	free(r->dev_gen);
	r->devs = devs;
	r->dev_gen = gens;
	r->ndevs = g->conf->ndevices;
	struct reload_gen *old = r->gen;
	r->gen = g;
	if (old)
		reload__gen_unref(old);
	reload__route(r);
	site_devices_set(r->devs, r->ndevs);
	return 0;
}

/* Give the memory that parsing the config and the maps used back to the
 * system. libconfig builds a tree of every setting, several times the size of
 * what is kept; glibc returns only the top of its heap on its own, and the
 * maps' register tables, allocated while the tree was alive, sit above the
 * hole it leaves. musl and other allocators return free pages themselves. */
static void reload__release_heap(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

int reload_start(uv_loop_t *loop, struct reload_gen *g, struct reload **out, char *err,
		 size_t errlen)
{
	struct reload *r = calloc(1, sizeof *r);
	*out = NULL;
	if (!r) {
		snprintf(err, errlen, "out of memory");
		reload_gen_free(g);
		return MB_ENOMEM;
	}
	r->loop = loop;
	snprintf(r->bound_listen, sizeof r->bound_listen, "%s", g->conf->server.listen);
	r->bound_port = g->conf->server.port;
	if (g->conf->nlisteners && !(r->lsn = calloc(g->conf->nlisteners, sizeof *r->lsn))) {
		snprintf(err, errlen, "out of memory");
		reload__gen_unref(g);
		free(r);
		return MB_ENOMEM;
	}
	r->nlsn = g->conf->nlisteners;
	for (size_t i = 0; i < r->nlsn; i++) {
		const struct config_listener *l = &g->conf->listeners[i];
		snprintf(r->lsn[i].name, sizeof r->lsn[i].name, "%s", l->name);
		snprintf(r->lsn[i].listen, sizeof r->lsn[i].listen, "%s", l->listen);
		r->lsn[i].port = l->port;
	}
	int rc = reload__install(r, g, err, errlen);
	if (rc != 0) {
		reload__gen_unref(g);
		free(r->lsn);
		free(r);
		return rc;
	}
	*out = r;
	reload__release_heap();
	return 0;
}

const struct config *reload_config(const struct reload *r)
{
	return r->gen->conf;
}

const struct router *reload_router(const struct reload *r)
{
	return &r->router;
}

size_t reload_nlisteners(const struct reload *r)
{
	return r->nlsn;
}

const char *reload_listener_name(const struct reload *r, size_t i)
{
	return i < r->nlsn ? r->lsn[i].name : NULL;
}

const struct router *reload_listener_router(const struct reload *r, size_t i)
{
	return i < r->nlsn ? &r->lsn[i].router : NULL;
}

struct device *const *reload_devices(const struct reload *r, size_t *n)
{
	*n = r->ndevs;
	return r->devs;
}

void reload_stop(struct reload *r)
{
	if (!r)
		return;
	site_devices_set(NULL, 0);
	for (size_t i = 0; i < r->ndevs; i++)
		device_close(r->devs[i]);
	free(r->devs);
	free(r->dev_gen);
	if (r->gen)
		reload__gen_unref(r->gen);
	free(r->lsn);
	free(r);
}

/* ------------------------------------------------------------ reload -- */

/* Apply the new config's status group. The status module copies what it
 * keeps, so it never points into a generation a reload may free; a new
 * prefix or broker needs a new link (its last will names the prefix), a new
 * interval only a new timer. Called after the devices were installed;
 * `same_link` was judged while the old config was certainly alive. */
static void reload__status(struct reload *r, const struct config_status *ns, int same_link,
			   struct status **status)
{
	char err[RELOAD__ERRLEN];
	if (*status && (!ns->enabled || !same_link)) {
		status_close(*status);
		*status = NULL;
	}
	if (!ns->enabled)
		return;
	if (*status) {
		status_set_interval(*status, ns->interval);
		status_set_devices(*status, r->devs, r->ndevs);
		return;
	}
	if (status_start(r->loop, ns, r->devs, r->ndevs, status, err, sizeof err) != 0) {
		log_err("status: %s", err);
		*status = NULL;
	}
}

/* A reload runs as the user the daemon dropped to (`user`), and the config
 * and the maps it names must stay readable by that user (docs/user-guide.md,
 * "Signals"); say so when a file could not be opened for that reason. */
static void reload__after_drop(const struct config *c, const char *err)
{
	static const char cannot[] = ": cannot open: ";
	const char *at = strstr(err, cannot), *from;
	char file[1024];

	if (!c->user || !at || !strstr(at, strerror(EACCES)) || geteuid() == 0)
		return;
	/* The file is what the message names just before ": cannot open". */
	for (from = at; from > err && !(from[-1] == ' ' && from - 1 > err && from[-2] == ':');)
		from--;
	snprintf(file, sizeof file, "%.*s", (int)(at - from), from);
	log_err("cannot read %s after dropping to user %s: make it readable by %s (and the"
		" config and every map it uses; see docs/user-guide.md, \"Signals\")",
		file, c->user, c->user);
}

void reload_gen_log_warnings(const struct reload_gen *g)
{
	char buf[RELOAD__ERRLEN];
	if (reload_gen_warnings(g, buf, sizeof buf) == 0)
		return;
	for (char *line = buf, *next; line && *line; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		/* The log line has its own level word: "FILE:5: warning: ..."
		 * would read "warning: FILE:5: warning: ...". */
		char *w = strstr(line, ": warning: ");
		if (w)
			log_warn("%.*s: %s", (int)(w - line), line, w + strlen(": warning: "));
		else
			log_warn("%s", line);
	}
}

/* Listeners are bound at start: say which ones the new config adds,
 * removes or moves, and that they need a restart. The devices of a listener
 * that is not bound answer nowhere until then. */
static void reload__listeners_differ(const struct reload *r, const struct config *nc)
{
	for (size_t i = 0; i < nc->nlisteners; i++) {
		const struct config_listener *l = &nc->listeners[i];
		size_t j = 0;
		while (j < r->nlsn && strcmp(r->lsn[j].name, l->name) != 0)
			j++;
		if (j == r->nlsn)
			log_warn("listener %s (%s port %d) is new: restart modbridge to open it; "
				 "its devices answer on no listener until then",
				 l->name, l->listen, l->port);
		else if (strcmp(r->lsn[j].listen, l->listen) != 0 || r->lsn[j].port != l->port)
			log_warn(
			    "listener %s: listen/port differ from what it is bound to (%s port "
			    "%d): restart modbridge to apply",
			    l->name, r->lsn[j].listen, r->lsn[j].port);
	}
	for (size_t j = 0; j < r->nlsn; j++) {
		size_t i = 0;
		while (i < nc->nlisteners && strcmp(r->lsn[j].name, nc->listeners[i].name) != 0)
			i++;
		if (i == nc->nlisteners)
			log_warn("listener %s is no longer configured: it stays open, with no "
				 "device, until modbridge restarts",
				 r->lsn[j].name);
	}
}

void reload_again(struct reload *r, struct server *server, struct status **status)
{
	char err[RELOAD__ERRLEN], which[256];
	const char *path = r->gen->conf->path;
	log_info("reloading %s", path);
	struct reload_gen *g = reload_gen_load(path, err, sizeof err);
	if (!g) {
		log_err("reload refused, keeping the running config: %.*s", (int)strcspn(err, "\n"),
			err);
		log_text(MBLOG_ERR, err + strcspn(err, "\n")); /* a lint report's other lines */
		reload__after_drop(r->gen->conf, err);
		return;
	}
	reload_gen_log_warnings(g);
	const struct config *oc = r->gen->conf, *nc = g->conf;
	if (strcmp(r->bound_listen, nc->server.listen) != 0 || r->bound_port != nc->server.port)
		log_warn(
		    "server.listen/port differ from what the listener is bound to (%s port %d):"
		    " restart modbridge to apply",
		    r->bound_listen, r->bound_port);
	reload__listeners_differ(r, nc);
	size_t nmqtt;
	const struct config_key *mqtt = config_mqtt_keys(&nmqtt);
	int status_same_link =
	    oc->status.enabled && nc->status.enabled &&
	    strcmp(oc->status.prefix, nc->status.prefix) == 0 &&
	    keys_same(mqtt, nmqtt, &oc->status.mqtt, &nc->status.mqtt, which, sizeof which);
	if (reload__install(r, g, err, sizeof err) != 0) {
		log_err("reload refused, keeping the running config: %.*s", (int)strcspn(err, "\n"),
			err);
		log_text(MBLOG_ERR, err + strcspn(err, "\n")); /* a lint report's other lines */
		reload__gen_unref(g);
		return;
	}
	if (server) {
		server_set_router(server, &r->router);
		if (server_set_access(server, g->conf) != 0)
			log_err("reload: out of memory for server.allow and write_allow: the "
				"old lists stay");
	}
	reload__status(r, &g->conf->status, status_same_link, status);
	log_info("reloaded: %zu devices", r->ndevs);
	reload__release_heap();
}

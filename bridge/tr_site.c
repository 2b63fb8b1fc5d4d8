/* The `site` protocol: a virtual device that serves the devices of the
 * site added up by their role (docs/user-guide.md, "The site"), one block
 * of 18 holding registers per role at 200 (grid), 300 (load), 400 (PV),
 * 500 (battery) and 600 (inverter), the same nine two-register values in
 * each (maps/site.conf):
 *
 *   +0  power             int32   W    sum; positive: delivered to the site
 *   +2  energy_delivered  uint32  Wh   sum
 *   +4  energy_taken      uint32  Wh   sum
 *   +6  soc               uint32  0.01 %  weighted by capacity, else by count
 *   +8  capacity          uint32  Wh   sum
 *   +10 members           uint32       devices of the role
 *   +12 answering         uint32       of them, those whose values are fresh
 *   +14 soc_basis         uint32       0 none, 1 capacity, 2 count
 *   +16 age               uint32  ms   the oldest value the block used
 *
 * It answers from the members' caches only (device_cache_peek, decoded by
 * values_decode and converted with the map's `roles` factors), never asking
 * a member. A value is served only when every member of the role gives it,
 * fresh (no older than the member's max_age, at least 2.5 polls, from a member that answers):
 * otherwise the register serves its map's `unavailable` value (device_cache_unavailable), and
 * `answering` shows how many members are missing. A sum never leaves a member out. */
#include <libconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "device.h"
#include "keys.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"
#include "site.h"
#include "transport.h"
#include "values.h"

#define SITE__MEMBERS_MAX 64
#define SITE__NAME_MAX 64
_Static_assert(MAP_ROLE_KINDS == CONFIG_ROLES - 1, "one role kind per config role");

#define SITE__BASE 200
#define SITE__STRIDE 100
#define SITE__WORDS 18

enum site__value {
	SITE__POWER,
	SITE__ENERGY_DELIVERED,
	SITE__ENERGY_TAKEN,
	SITE__SOC,
	SITE__CAPACITY,
	SITE__MEMBERS,
	SITE__ANSWERING,
	SITE__SOC_BASIS,
	SITE__AGE,
	SITE__NVALUES
};

/* The `site` block: `members`, the devices added up (none: every device
 * with a role). */
struct tr_site_cfg {
	char members[SITE__MEMBERS_MAX][SITE__NAME_MAX];
	size_t nmembers;
};

/* The running devices (site_devices_set). */
static struct device *const *site__devs;
static size_t site__ndevs;

void site_devices_set(struct device *const *devs, size_t n)
{
	site__devs = devs;
	site__ndevs = n;
}

static int site__members(struct config_parser *p, const config_setting_t *s, void *target)
{
	struct tr_site_cfg *c = target;

	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return keys_error_type(p, s, " must be a list of device names [\"a\", \"b\"]");
	int n = config_setting_length(s);
	if (n > SITE__MEMBERS_MAX)
		return keys_error_at(p, s, s, ": %d names; a site adds up at most %d devices", n,
				     SITE__MEMBERS_MAX);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (!v || !*v || strlen(v) >= SITE__NAME_MAX)
			return keys_error_at(
			    p, e, s, ": each member must be a device name (1..%d characters)",
			    SITE__NAME_MAX - 1);
		for (size_t k = 0; k < (size_t)i; k++)
			if (strcmp(c->members[k], v) == 0)
				return keys_error_at(p, e, s, ": \"%s\" is named twice", v);
		snprintf(c->members[i], SITE__NAME_MAX, "%s", v);
	}
	c->nmembers = (size_t)n;
	return 0;
}

static bool site__members_same(const struct config_key *k, const void *a, const void *b,
			       char *which, size_t len)
{
	const struct tr_site_cfg *x = a, *y = b;
	if (x->nmembers == y->nmembers &&
	    memcmp(x->members, y->members, sizeof x->members[0] * x->nmembers) == 0)
		return true;
	snprintf(which, len, "%s", k->name);
	return false;
}

static const struct config_key site__keys[] = {
    {.name = "members", .kind = CONFIG_K_CUSTOM, .fn = site__members, .same = site__members_same},
};

static int site__is_member(const struct tr_site_cfg *c, const char *name)
{
	if (!c || c->nmembers == 0)
		return 1;
	for (size_t i = 0; i < c->nmembers; i++)
		if (strcmp(c->members[i], name) == 0)
			return 1;
	return 0;
}

int site_check(const struct config *c, const struct map *const *maps, char *err, size_t errlen)
{
	const struct protocol *site = protocol_find("site");
	for (size_t i = 0; i < c->ndevices; i++) {
		const struct config_device *d = &c->devices[i];
		int is_site = d->proto == site || (!d->proto && map_proto(maps[i]) == site);
		if (d->role && is_site) {
			snprintf(err, errlen, "%s:%d: device \"%s\": a site device has no role",
				 c->path, d->line, d->name);
			return MB_EPARSE;
		}
		if (d->role && !map_has_role(maps[i], d->role - 1)) {
			snprintf(err, errlen,
				 "%s:%d: device \"%s\": role \"%s\", but map %s declares no such "
				 "role in its roles group (docs/user-guide.md, \"The site\")",
				 c->path, d->line, d->name, config_roles[d->role - 1],
				 map_name(maps[i]));
			return MB_EPARSE;
		}
		const struct protocol *pr = d->proto ? d->proto : map_proto(maps[i]);
		int store = pr && pr->ops && (pr->ops->flags & TRANSPORT_CACHE_IS_STORE);
		if (d->role && !store && d->poll <= 0) {
			snprintf(err, errlen,
				 "%s:%d: device \"%s\": role \"%s\" needs poll > 0: the site "
				 "reads only the device's cache, which poll keeps fresh",
				 c->path, d->line, d->name, config_roles[d->role - 1]);
			return MB_EPARSE;
		}
		if (!is_site || !d->proto_cfg)
			continue;
		const struct tr_site_cfg *sc = d->proto_cfg;
		for (size_t m = 0; m < sc->nmembers; m++) {
			size_t k = 0;
			while (k < c->ndevices && strcmp(c->devices[k].name, sc->members[m]) != 0)
				k++;
			if (k == c->ndevices || !c->devices[k].role) {
				snprintf(err, errlen,
					 "%s:%d: device \"%s\": site member \"%s\" is %s", c->path,
					 d->line, d->name, sc->members[m],
					 k == c->ndevices ? "no configured device"
							  : "a device without a role");
				return MB_EPARSE;
			}
		}
	}
	return 0;
}

/* --------------------------------------------------------- aggregation -- */

struct site__block {
	double sum[MAP_ROLE_NQ];     /* power, energies, capacity: sums */
	unsigned given[MAP_ROLE_NQ]; /* members whose map names the quantity */
	double soc_cap, soc_sum;     /* sum of soc * capacity, sum of soc */
	unsigned members, answering;
	uint64_t age;
	int any_age;
};

/* One member's quantities into b: 1 when all of them are fresh. */
static int site__add(struct site__block *b, const struct device *m, int kind, uint64_t now)
{
	const struct map *map = device_map(m);
	const struct config_device *cd = device_config(m);
	const struct protocol *pr = cd->proto ? cd->proto : map_proto(map);
	/* A memory device's cache is the device: always fresh. */
	int store = pr && pr->ops && (pr->ops->flags & TRANSPORT_CACHE_IS_STORE);
	/* Current as the exporters judge it (device_fresh_ms, device_health):
	 * a value no older than the member's max_age (at least 2.5 polls) from
	 * a member that is answering. */
	uint64_t limit = store ? UINT64_MAX : device_fresh_ms(m);
	double v[MAP_ROLE_NQ] = {0};
	int fresh = store || device_health(m) == DEVICE_HEALTH_ANSWERING, has[MAP_ROLE_NQ] = {0};
	char text[VALUES_TEXT_MAX];

	for (int q = 0; q < MAP_ROLE_NQ; q++) {
		double f;
		const struct map_register *r = map_role(map, kind, q, &f);
		uint16_t w[2] = {0, 0};
		uint64_t stamp;
		if (!r)
			continue;
		has[q] = 1;
		b->given[q]++;
		if (r->count > 2 || !device_cache_peek(m, r, w, &stamp)) {
			fresh = 0;
			continue;
		}
		uint64_t age = now > stamp ? now - stamp : 0;
		if (!b->any_age || age > b->age)
			b->age = age;
		b->any_age = 1;
		if (limit == 0 || age > limit)
			fresh = 0;
		struct values_item it = {.reg = r, .valid = 1};
		values_decode(r, w, &it, text);
		if (!it.number)
			fresh = 0;
		else
			v[q] = it.scaled * f;
	}
	if (!fresh)
		return 0;
	for (int q = 0; q < MAP_ROLE_NQ; q++)
		if (has[q] && q != MAP_ROLE_SOC)
			b->sum[q] += v[q];
	if (has[MAP_ROLE_SOC]) {
		b->soc_sum += v[MAP_ROLE_SOC];
		b->soc_cap += v[MAP_ROLE_SOC] * (has[MAP_ROLE_CAPACITY] ? v[MAP_ROLE_CAPACITY] : 0);
	}
	return 1;
}

/* A value into two words, or -1 when it does not fit (served unavailable). */
static int site__words(double x, int is_signed, uint16_t *w)
{
	double r = nearbyint(x);
	if (!isfinite(r))
		return -1;
	if (is_signed ? (r <= (double)INT32_MIN || r > (double)INT32_MAX)
		      : (r < 0 || r >= (double)UINT32_MAX))
		return -1;
	uint32_t u = is_signed ? (uint32_t)(int32_t)r : (uint32_t)r;
	w[0] = (uint16_t)(u >> 16);
	w[1] = (uint16_t)u;
	return 0;
}

/* One value of a block into the cache: the number, or the register's
 * unavailable stand-in (ok 0). Only where the map has a two-word register. */
static void site__put(const struct transport_env *env, struct device *dev, uint16_t addr, int ok,
		      double x, int is_signed)
{
	const struct map_register *r = map_find(device_map(dev), MAP_HOLDING, addr);
	uint16_t w[2];
	if (!r || r->address != addr || r->count != 2)
		return;
	if (ok && site__words(x, is_signed, w) == 0)
		env->cache_store(dev, MAP_HOLDING, addr, 2, w);
	else
		env->cache_unavailable(dev, r, 0);
}

static void site__compute(const struct transport_env *env, struct device *dev,
			  const struct tr_site_cfg *c, uint64_t now)
{
	for (int role = CONFIG_ROLE_GRID; role < CONFIG_ROLES; role++) {
		struct site__block b;
		memset(&b, 0, sizeof b);
		for (size_t i = 0; i < site__ndevs; i++) {
			const struct device *m = site__devs[i];
			if (!m || m == dev || device_config(m)->role != role ||
			    !site__is_member(c, device_name(m)))
				continue;
			b.members++;
			b.answering += (unsigned)site__add(&b, m, role - 1, now);
		}
		uint16_t base = (uint16_t)(SITE__BASE + (role - 1) * SITE__STRIDE);
		int all = b.members > 0 && b.answering == b.members;
		/* A quantity is served when every member gives it. */
#define SITE__ALL(q) (all && b.given[q] == b.members)
		site__put(env, dev, base + 2 * SITE__POWER, SITE__ALL(MAP_ROLE_POWER),
			  b.sum[MAP_ROLE_POWER], 1);
		site__put(env, dev, base + 2 * SITE__ENERGY_DELIVERED,
			  SITE__ALL(MAP_ROLE_ENERGY_DELIVERED), b.sum[MAP_ROLE_ENERGY_DELIVERED],
			  0);
		site__put(env, dev, base + 2 * SITE__ENERGY_TAKEN, SITE__ALL(MAP_ROLE_ENERGY_TAKEN),
			  b.sum[MAP_ROLE_ENERGY_TAKEN], 0);
		int soc_ok = SITE__ALL(MAP_ROLE_SOC);
		int by_cap = SITE__ALL(MAP_ROLE_CAPACITY) && b.sum[MAP_ROLE_CAPACITY] > 0;
		double soc = by_cap	 ? b.soc_cap / b.sum[MAP_ROLE_CAPACITY]
			     : b.members ? b.soc_sum / b.members
					 : 0;
		site__put(env, dev, base + 2 * SITE__SOC, soc_ok, soc * 100, 0);
		site__put(env, dev, base + 2 * SITE__CAPACITY, SITE__ALL(MAP_ROLE_CAPACITY),
			  b.sum[MAP_ROLE_CAPACITY], 0);
#undef SITE__ALL
		site__put(env, dev, base + 2 * SITE__MEMBERS, 1, b.members, 0);
		site__put(env, dev, base + 2 * SITE__ANSWERING, 1, b.answering, 0);
		site__put(env, dev, base + 2 * SITE__SOC_BASIS, 1, !soc_ok ? 0 : by_cap ? 1 : 2, 0);
		site__put(env, dev, base + 2 * SITE__AGE, b.any_age, (double)b.age, 0);
	}
}

/* ----------------------------------------------------------- transport -- */

struct site__state {
	const struct transport_env *env; /* the device model, the clock */
	struct device *dev;
	const struct tr_site_cfg *cfg;
	uv_timer_t timer; /* completes the txn in flight outside start() */
	struct txn *t;
};

static void site__on_timer(uv_timer_t *h)
{
	struct site__state *s = h->data;
	struct txn *t = s->t;
	if (!t)
		return;
	s->t = NULL;
	site__compute(s->env, s->dev, s->cfg, s->env->now(h->loop));
	s->env->txn_done(s->dev, t, MB_EXC_NONE);
}

static void site__on_link(uv_timer_t *h)
{
	struct site__state *s = h->data;
	s->env->link_changed(s->dev, 1);
}

static int tr_site__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			 const struct map *map, void **state, char *err, size_t errlen)
{
	(void)map;
	struct site__state *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return MB_ENOMEM;
	}
	s->env = transport_env;
	s->dev = dev;
	s->cfg = cfg->proto_cfg;
	uv_timer_init(loop, &s->timer);
	s->timer.data = s;
	/* Nothing to connect to: the link is up as soon as the device is. */
	uv_timer_start(&s->timer, site__on_link, 0, 0);
	*state = s;
	return 0;
}

static enum mb_exc tr_site__start(void *state, struct txn *t)
{
	struct site__state *s = state;
	if (t->op != TXN_READ)
		return MB_EXC_ILLEGAL_FUNCTION;
	s->t = t;
	uv_timer_start(&s->timer, site__on_timer, 0, 0);
	return MB_EXC_NONE;
}

static void tr_site__abort(void *state, struct txn *t)
{
	struct site__state *s = state;
	if (s->t == t) {
		s->t = NULL;
		uv_timer_stop(&s->timer);
	}
}

static bool tr_site__link_up(void *state)
{
	(void)state;
	return true;
}

static void site__on_close(uv_handle_t *h)
{
	free(h->data);
}

static void tr_site__close(void *state)
{
	struct site__state *s = state;
	uv_close((uv_handle_t *)&s->timer, site__on_close);
}

const struct transport_ops transport_site = {
    .max_read = MB_MAX_READ,
    .open = tr_site__open,
    .start = tr_site__start,
    .abort = tr_site__abort,
    .link_up = tr_site__link_up,
    .close = tr_site__close,
};

/* A site map may hold only read-only registers: the site has nothing to write. */
static int site__map_register(struct config_parser *p, const config_setting_t *s,
			      struct map_register *r)
{
	if (r->access & MAP_W)
		return keys_error(p, s, "register \"%s\": a site register is read-only", r->name);
	return 0;
}

const struct protocol protocol_site = {
    .name = "site",
    .text = "the devices with a role added up per role from their caches (the site)",
    .keys = site__keys,
    .nkeys = sizeof site__keys / sizeof site__keys[0],
    .cfg_size = sizeof(struct tr_site_cfg),
    .map_register = site__map_register,
    .ops = &transport_site,
};

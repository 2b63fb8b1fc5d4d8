/* The effective timing of a device, decided in one place (include/timing.h). */
#include "timing.h"

#include "config.h"
#include "map.h"
#include "protocol.h"

static int64_t timing__pick(int64_t dev, int64_t map, int64_t given, int64_t fallback)
{
	return dev >= 0 ? dev : map >= 0 ? map : given >= 0 ? given : fallback;
}

void timing_resolve(const struct config *c, const struct config_device *d, const struct map *m,
		    struct timing *t)
{
	const struct map_defaults *md = map_defaults(m);
	const struct protocol *pr = d->proto ? d->proto : map_proto(m);
	int64_t slow_poll = pr ? pr->default_poll : 0;

	t->timeout =
	    timing__pick(d->timeout, md->timeout, c->defaults_given.timeout, c->defaults.timeout);
	if (t->timeout <= 0)
		t->timeout = 3000;
	/* A protocol whose answers take seconds polls unless told not to, so
	 * that clients read from the cache and never wait on the cloud
	 * (docs/user-guide.md, "Cache, polling and coalescing"). */
	t->poll = timing__pick(d->poll, md->poll, c->defaults_given.poll,
			       slow_poll > 0 ? slow_poll : c->defaults.poll);
	if (t->poll < 0)
		t->poll = 0;
	t->max_age =
	    timing__pick(d->max_age, md->max_age, c->defaults_given.max_age,
			 slow_poll > 0 && t->poll > 0 ? t->poll * TIMING_MAX_AGE_POLLS_X2 / 2
						      : c->defaults.max_age);
	if (t->max_age < 0)
		t->max_age = 0;
	t->min_interval = timing__pick(d->min_interval, md->min_interval,
				       c->defaults_given.min_interval, c->defaults.min_interval);
	if (t->min_interval < 0)
		t->min_interval = 0;
	t->client_wait =
	    timing__pick(d->client_wait, -1, c->defaults.client_wait, TIMING_CLIENT_WAIT_MS);
	if (t->client_wait <= 0 || t->client_wait > t->timeout)
		t->client_wait = t->timeout;
	/* retries: at 10% loss each way, three tries answer 99.3% of requests. */
	int64_t rt =
	    timing__pick(d->retries, md->retries, c->defaults.retries, CONFIG_RETRIES_DEFAULT);
	t->retries = rt > CONFIG_RETRIES_MAX ? CONFIG_RETRIES_MAX : (unsigned)rt;
}

/* The virtual `site` device (bridge/tr_site.c; docs/user-guide.md, "The
 * site"): the devices that name a `role`, added up per role from their
 * caches into one register block per role. */
#ifndef SITE_H
#define SITE_H

#include <stddef.h>

struct config;
struct device;
struct map;

/* The running devices the site devices add up (reload.c calls it whenever
 * the set changes; n 0 when it stops). The array must stay valid until the
 * next call. */
void site_devices_set(struct device *const *devs, size_t n);

/* Config checks the key tables cannot make, for start, --check and a
 * reload alike: every device with a role runs a map that declares `roles`,
 * a site device has no role, and each name in a site's `members` is a
 * device with a role. maps[i] is the map of c->devices[i]. 0, or MB_EPARSE
 * with "file:line: reason" in err. */
int site_check(const struct config *c, const struct map *const *maps, char *err, size_t errlen);

#endif

/* Opening an optional library and filling its table (include/dl.h). */
#include "dl.h"

#include <dlfcn.h>
#include <stdio.h>

int dl_load(const char *soname, const char *part, const char *hint, const struct dl_sym *syms,
	    size_t n, int *state, char *err, size_t errlen)
{
	const char *why;
	void *h;

	if (*state == 1)
		return 0;
	/* RTLD_NOW: a library without one of the functions is refused here,
	 * not at the first call. RTLD_LOCAL: its names stay out of the way
	 * of the next library's. */
	if (!(h = dlopen(soname, RTLD_NOW | RTLD_LOCAL))) {
		why = dlerror();
		snprintf(err, errlen, "%s: cannot load %s: %s; install %s, or remove the group",
			 part, soname, why ? why : "not found", hint);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		dlerror();
		void *f = dlsym(h, syms[i].name);
		if (!f) {
			why = dlerror();
			snprintf(err, errlen, "%s: %s has no %s (%s); a newer %s is needed", part,
				 soname, syms[i].name, why ? why : "null", hint);
			/* Every slot or none: a half-filled table is never
			 * used, since *state stays 0. */
			dlclose(h);
			return -1;
		}
		*syms[i].slot = f;
	}
	*state = 1;
	return 0;
}

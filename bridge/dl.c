/* Opening an optional library and filling its table (include/dl.h). */
#include "dl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* Opens soname and looks up the n functions of syms: the handle, with the
 * table filled when keep, or NULL with the error in err. */
static void *dl__open(const char *soname, const char *part, const char *hint,
		      const struct dl_syms *syms, size_t n, int keep, char *err, size_t errlen)
{
	const char *why;
	void *h;

	/* RTLD_NOW: a library without one of the functions is refused here,
	 * not at the first call. RTLD_LOCAL: its names stay out of the way
	 * of the next library's. */
	if (!(h = dlopen(soname, RTLD_NOW | RTLD_LOCAL))) {
		why = dlerror();
		snprintf(err, errlen, "%s: cannot load %s: %s; install %s, or remove the group",
			 part, soname, why ? why : "not found", hint);
		return NULL;
	}
	const char *name = syms->names;
	for (size_t i = 0; i < n; i++, name += strlen(name) + 1) {
		dlerror();
		void *f = dlsym(h, name);
		if (!f) {
			why = dlerror();
			snprintf(err, errlen, "%s: %s has no %s (%s); a newer %s is needed", part,
				 soname, name, why ? why : "null", hint);
			/* Every slot or none: a half-filled table is never
			 * used, since dl_load's *state stays 0. */
			dlclose(h);
			return NULL;
		}
		if (keep)
			memcpy((char *)syms->table + syms->offs[i], &f, sizeof f);
	}
	return h;
}

int dl_load(const char *soname, const char *part, const char *hint, const struct dl_syms *syms,
	    size_t n, int *state, char *err, size_t errlen)
{
	if (*state == 1)
		return 0;
	if (!dl__open(soname, part, hint, syms, n, 1, err, errlen))
		return -1;
	*state = 1;
	return 0;
}

int dl_probe(const char *soname, const char *part, const char *hint, const struct dl_syms *syms,
	     size_t n, int state, char *err, size_t errlen)
{
	void *h;

	if (state == 1)
		return 0;
	if (!(h = dl__open(soname, part, hint, syms, n, 0, err, errlen)))
		return -1;
	/* Unmapped again, with what it brought (unless something else holds
	 * them): a check that passes leaves the process as it found it. */
	dlclose(h);
	return 0;
}

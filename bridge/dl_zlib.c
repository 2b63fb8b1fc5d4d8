/* The table of include/dl_zlib.h, filled by dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_zlib.h"

#if MB_DLOPEN
struct dl_zlib dl_zlib;

static const char dl_zlib__names[] = MB_DL_ZLIB_FUNCS(MB_DL_NAME);
#define MB_DL_ZLIB_OFF(f) MB_DL_OFF(dl_zlib, f)
static const uint16_t dl_zlib__offs[] = {MB_DL_ZLIB_FUNCS(MB_DL_ZLIB_OFF)};
#define DL_ZLIB__SYMS                                                                              \
	&(const struct dl_syms){dl_zlib__names, dl_zlib__offs, &dl_zlib},                          \
	    sizeof dl_zlib__offs / sizeof dl_zlib__offs[0]

int dl_zlib_load(const char *part, char *err, size_t errlen)
{
	static int state;
	return dl_load(MB_DL_ZLIB_SONAME, part, "zlib (Debian: zlib1g; OpenWrt: zlib)",
		       DL_ZLIB__SYMS, &state, err, errlen);
}
#else
/* Linked: nothing to load. */
int dl_zlib_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

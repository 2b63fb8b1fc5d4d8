/* The table of include/dl_zlib.h, filled by dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_zlib.h"

#if MB_DLOPEN
struct dl_zlib dl_zlib;

#define MB_DL_SYM(f) {#f, (void **)&dl_zlib.f},
static const struct dl_sym dl_zlib__syms[] = {MB_DL_ZLIB_FUNCS(MB_DL_SYM)};

int dl_zlib_load(const char *part, char *err, size_t errlen)
{
	static int state;
	return dl_load(MB_DL_ZLIB_SONAME, part, "zlib (Debian: zlib1g; OpenWrt: zlib)",
		       dl_zlib__syms, sizeof dl_zlib__syms / sizeof dl_zlib__syms[0], &state, err,
		       errlen);
}
#else
/* Linked: nothing to load. */
int dl_zlib_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

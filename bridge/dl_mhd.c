/* The table of include/dl_mhd.h, filled by mb_dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_mhd.h"

#if MB_DLOPEN
struct mb_dl_mhd mb_dl_mhd;

#define MB_DL_SYM(f) {#f, (void **)&mb_dl_mhd.f},
static const struct mb_dl_sym mb_dl_mhd__syms[] = {MB_DL_MHD_FUNCS(MB_DL_SYM)};

int mb_dl_mhd_load(const char *part, char *err, size_t errlen)
{
	static int state;
	return mb_dl_load(
	    MB_DL_MHD_SONAME, part,
	    "libmicrohttpd (Debian: libmicrohttpd12; OpenWrt: libmicrohttpd-ssl or -no-ssl)",
	    mb_dl_mhd__syms, sizeof mb_dl_mhd__syms / sizeof mb_dl_mhd__syms[0], &state, err,
	    errlen);
}
#else
/* Linked: nothing to load. */
int mb_dl_mhd_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

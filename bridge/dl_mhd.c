/* The table of include/dl_mhd.h, filled by dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_mhd.h"

#if MB_DLOPEN
struct dl_mhd dl_mhd;

static const char dl_mhd__names[] = MB_DL_MHD_FUNCS(MB_DL_NAME);
#define MB_DL_MHD_OFF(f) MB_DL_OFF(dl_mhd, f)
static const uint16_t dl_mhd__offs[] = {MB_DL_MHD_FUNCS(MB_DL_MHD_OFF)};
#define DL_MHD__SYMS                                                                               \
	&(const struct dl_syms){dl_mhd__names, dl_mhd__offs, &dl_mhd},                             \
	    sizeof dl_mhd__offs / sizeof dl_mhd__offs[0]
#define DL_MHD__ARGS                                                                               \
	MB_DL_MHD_SONAME, part,                                                                    \
	    "libmicrohttpd (Debian: libmicrohttpd12; OpenWrt: libmicrohttpd-ssl or -no-ssl)",      \
	    DL_MHD__SYMS

/* 1 once dl_mhd_load opened it. */
static int dl_mhd__state;

int dl_mhd_load(const char *part, char *err, size_t errlen)
{
	return dl_load(DL_MHD__ARGS, &dl_mhd__state, err, errlen);
}

int dl_mhd_probe(const char *part, char *err, size_t errlen)
{
	return dl_probe(DL_MHD__ARGS, dl_mhd__state, err, errlen);
}
#else
/* Linked: nothing to load. */
int dl_mhd_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}

int dl_mhd_probe(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

/* The table of include/dl_curl.h, filled by dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_curl.h"

#if MB_DLOPEN
struct dl_curl dl_curl;

static const char dl_curl__names[] = MB_DL_CURL_FUNCS(MB_DL_NAME);
#define MB_DL_CURL_OFF(f) MB_DL_OFF(dl_curl, f)
static const uint16_t dl_curl__offs[] = {MB_DL_CURL_FUNCS(MB_DL_CURL_OFF)};
#define DL_CURL__SYMS                                                                              \
	&(const struct dl_syms){dl_curl__names, dl_curl__offs, &dl_curl},                          \
	    sizeof dl_curl__offs / sizeof dl_curl__offs[0]
#define DL_CURL__ARGS                                                                              \
	MB_DL_CURL_SONAME, part, "libcurl (Debian: libcurl4; OpenWrt: libcurl)", DL_CURL__SYMS

/* 1 once dl_curl_load opened it. */
static int dl_curl__state;

int dl_curl_load(const char *part, char *err, size_t errlen)
{
	return dl_load(DL_CURL__ARGS, &dl_curl__state, err, errlen);
}

int dl_curl_probe(const char *part, char *err, size_t errlen)
{
	return dl_probe(DL_CURL__ARGS, dl_curl__state, err, errlen);
}
#else
/* Linked: nothing to load. */
int dl_curl_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}

int dl_curl_probe(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

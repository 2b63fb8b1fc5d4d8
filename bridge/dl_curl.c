/* The table of include/dl_curl.h, filled by dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_curl.h"

#if MB_DLOPEN
struct dl_curl dl_curl;

#define MB_DL_SYM(f) {#f, (void **)&dl_curl.f},
static const struct dl_sym dl_curl__syms[] = {MB_DL_CURL_FUNCS(MB_DL_SYM)};
#define DL_CURL__ARGS                                                                              \
	MB_DL_CURL_SONAME, part, "libcurl (Debian: libcurl4; OpenWrt: libcurl)", dl_curl__syms,    \
	    sizeof dl_curl__syms / sizeof dl_curl__syms[0]

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

/* The table of include/dl_curl.h, filled by mb_dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_curl.h"

#if MB_DLOPEN
struct mb_dl_curl mb_dl_curl;

#define MB_DL_SYM(f) {#f, (void **)&mb_dl_curl.f},
static const struct mb_dl_sym mb_dl_curl__syms[] = {MB_DL_CURL_FUNCS(MB_DL_SYM)};

int mb_dl_curl_load(const char *part, char *err, size_t errlen)
{
	static int state;
	return mb_dl_load(MB_DL_CURL_SONAME, part, "libcurl (Debian: libcurl4; OpenWrt: libcurl)",
			  mb_dl_curl__syms, sizeof mb_dl_curl__syms / sizeof mb_dl_curl__syms[0],
			  &state, err, errlen);
}
#else
/* Linked: nothing to load. */
int mb_dl_curl_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

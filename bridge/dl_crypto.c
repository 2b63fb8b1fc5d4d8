/* The table of include/dl_crypto.h, filled by dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_crypto.h"

#if MB_DLOPEN
struct dl_crypto dl_crypto;

#define MB_DL_SYM(f) {#f, (void **)&dl_crypto.f},
static const struct dl_sym dl_crypto__syms[] = {MB_DL_CRYPTO_FUNCS(MB_DL_SYM)};

int dl_crypto_load(const char *part, char *err, size_t errlen)
{
	static int state;
	return dl_load(MB_DL_CRYPTO_SONAME, part,
		       "libcrypto (Debian: libssl3; OpenWrt: libopenssl)", dl_crypto__syms,
		       sizeof dl_crypto__syms / sizeof dl_crypto__syms[0], &state, err, errlen);
}
#else
/* Linked: nothing to load. */
int dl_crypto_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

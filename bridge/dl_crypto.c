/* The table of include/dl_crypto.h, filled by dl_load (bridge/dl.c). */
#define MB_DL_NO_NAMES
#include "dl_crypto.h"

#if MB_DLOPEN
struct dl_crypto dl_crypto;

static const char dl_crypto__names[] = MB_DL_CRYPTO_FUNCS(MB_DL_NAME);
#define MB_DL_CRYPTO_OFF(f) MB_DL_OFF(dl_crypto, f)
static const uint16_t dl_crypto__offs[] = {MB_DL_CRYPTO_FUNCS(MB_DL_CRYPTO_OFF)};
#define DL_CRYPTO__SYMS                                                                            \
	&(const struct dl_syms){dl_crypto__names, dl_crypto__offs, &dl_crypto},                    \
	    sizeof dl_crypto__offs / sizeof dl_crypto__offs[0]

int dl_crypto_load(const char *part, char *err, size_t errlen)
{
	static int state;
	return dl_load(MB_DL_CRYPTO_SONAME, part,
		       "libcrypto (Debian: libssl3; OpenWrt: libopenssl)", DL_CRYPTO__SYMS, &state,
		       err, errlen);
}
#else
/* Linked: nothing to load. */
int dl_crypto_load(const char *part, char *err, size_t errlen)
{
	(void)part, (void)err, (void)errlen;
	return 0;
}
#endif

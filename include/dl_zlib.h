/* zlib, opened when a client that does not take gzip first asks for the
 * web page or the OpenAPI document, which the daemon holds compressed
 * (bridge/http_asset.c; include/dl.h). A browser takes gzip, so a daemon
 * whose page only browsers read never maps zlib. Include this instead of
 * <zlib.h>. */
#ifndef DL_ZLIB_H
#define DL_ZLIB_H

/* next_in is a pointer to const bytes: the embedded documents are const. */
#define ZLIB_CONST
#include <zlib.h>

#include "dl.h"

/* The soname it is opened by: the build takes it from the library it
 * compiles against (Makefile, DL_SONAME). */
#ifndef MB_DL_ZLIB_SONAME
#define MB_DL_ZLIB_SONAME "libz.so.1"
#endif

/* Every zlib function the daemon calls (inflateInit2() is a macro that
 * calls inflateInit2_()). */
#define MB_DL_ZLIB_FUNCS(X)                                                                        \
	X(inflateInit2_)                                                                           \
	X(inflate)                                                                                 \
	X(inflateEnd)

/* 0, or -1 with "PART: cannot load libz..." in err. */
int dl_zlib_load(const char *part, char *err, size_t errlen);

#if MB_DLOPEN
#define MB_DL_MEMBER(f) __typeof__(&f) f;
struct dl_zlib {
	MB_DL_ZLIB_FUNCS(MB_DL_MEMBER)
};
#undef MB_DL_MEMBER
extern struct dl_zlib dl_zlib;

#ifndef MB_DL_NO_NAMES
#define inflateInit2_ (dl_zlib.inflateInit2_)
#define inflate (dl_zlib.inflate)
#define inflateEnd (dl_zlib.inflateEnd)
#endif
#endif

#endif

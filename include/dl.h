/* Optional libraries loaded when their group is configured (bridge/dl.c).
 *
 * libcurl (the `influxdb` exporter), libmicrohttpd (the `http` group) and
 * libcrypto (a Venus B2500 whose topic ID is computed from its MAC) are
 * not linked into the daemon when it is built with DLOPEN=1 (the default,
 * Makefile): each is opened with dlopen() by the first start of what uses
 * it, so that a daemon without those groups maps none of them, nor the
 * libraries they pull in (on Debian, GnuTLS, Kerberos, LDAP... about 30;
 * docs/footprint.md has the figures).
 *
 * Each library has a table of function pointers, one per function the
 * daemon calls, named as the function is; the library's header
 * (include/dl_curl.h, dl_mhd.h, dl_crypto.h) then defines each name as its
 * table entry, so that the calling code reads as it would with the library
 * linked. With DLOPEN=0 (static builds, sanitizer runs that want it) the
 * names are the library's own and the load functions succeed at once. */
#ifndef DL_H
#define DL_H

#include <stddef.h>
#include <stdint.h>

#ifndef MB_DLOPEN
#define MB_DLOPEN 0
#endif

/* The soname each library is opened by: the build takes it from the
 * library it compiles against (Makefile, DL_SONAME). */
#ifndef MB_DL_CURL_SONAME
#define MB_DL_CURL_SONAME "libcurl.so.4"
#endif
#ifndef MB_DL_MHD_SONAME
#define MB_DL_MHD_SONAME "libmicrohttpd.so.12"
#endif
#ifndef MB_DL_CRYPTO_SONAME
#define MB_DL_CRYPTO_SONAME "libcrypto.so.3"
#endif

/* A library's table: the names of its functions, one after another, each
 * ended by a NUL ("curl_easy_init\0curl_easy_cleanup\0"), and where each
 * one's address goes: offs[i] bytes into table. (Not a table of pointers to
 * names and slots: in a position-independent executable each pointer in a
 * const table costs a relocation, docs/footprint.md.) */
struct dl_syms {
	const char *names;
	const uint16_t *offs;
	void *table;
};
/* A library's names and offsets from its list of functions
 * (MB_DL_CURL_FUNCS...) and the struct of its table. */
#define MB_DL_NAME(f) #f "\0"
#define MB_DL_OFF(table, f) offsetof(struct table, f),

/* Opens SONAME and fills every slot, once: *state is 1 after that, and
 * later calls return 0 at once. PART names what needs the library and HINT
 * the packages that hold it, for the error ("influxdb: cannot load
 * libcurl.so.4 (...): dlerror()'s text; install ..."). 0, or -1 with that
 * in err; a failed load is tried again by the next call (a reload after
 * the package was installed). The library is never closed. Called from
 * the loop's thread only. */
int dl_load(const char *soname, const char *part, const char *hint, const struct dl_syms *syms,
	    size_t n, int *state, char *err, size_t errlen);
/* Would dl_load succeed? The same opening and look-ups, with the same
 * error, but nothing is kept: no slot is filled and the library is closed
 * again. 0 at once when state is 1 (dl_load opened it already). For the
 * checks --check, a reload and the web settings share (reload.c): they
 * refuse what start would refuse without mapping, in a process that
 * exits or keeps running with another config, what only start needs.
 * Called from the loop's thread only. */
int dl_probe(const char *soname, const char *part, const char *hint, const struct dl_syms *syms,
	     size_t n, int state, char *err, size_t errlen);

/* dl_probe for libmicrohttpd (the `http` group, bridge/dl_mhd.c) and
 * libcurl (the `influxdb` exporter, bridge/dl_curl.c): the error names
 * PART. 0 at once once loaded, or when the build links the library
 * (DLOPEN=0). Declared here, not in their headers, for callers that do not
 * include the libraries' own; there only in builds with the part
 * (MB_WITH_HTTP, MB_WITH_INFLUXDB). */
int dl_mhd_probe(const char *part, char *err, size_t errlen);
int dl_curl_probe(const char *part, char *err, size_t errlen);

#endif

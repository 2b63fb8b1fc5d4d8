/* libcurl, opened when the `influxdb` exporter starts (include/dl.h).
 * Include this instead of <curl/curl.h>. */
#ifndef DL_CURL_H
#define DL_CURL_H

#include "dl.h"

/* curl.h's type-checking macros for curl_easy_setopt() and the like would
 * hide the table entries below. */
#if MB_DLOPEN
#define CURL_DISABLE_TYPECHECK 1
#endif
#include <curl/curl.h>

/* Every libcurl function the daemon calls. */
#define MB_DL_CURL_FUNCS(X)                                                                        \
	X(curl_global_init)                                                                        \
	X(curl_global_cleanup)                                                                     \
	X(curl_easy_init)                                                                          \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_strerror)                                                                      \
	X(curl_easy_escape)                                                                        \
	X(curl_free)                                                                               \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)                                                                     \
	X(curl_multi_init)                                                                         \
	X(curl_multi_cleanup)                                                                      \
	X(curl_multi_setopt)                                                                       \
	X(curl_multi_assign)                                                                       \
	X(curl_multi_add_handle)                                                                   \
	X(curl_multi_remove_handle)                                                                \
	X(curl_multi_socket_action)                                                                \
	X(curl_multi_info_read)

/* 0, or -1 with "PART: cannot load libcurl..." in err. */
int dl_curl_load(const char *part, char *err, size_t errlen);

#if MB_DLOPEN
#define MB_DL_MEMBER(f) __typeof__(&f) f;
struct dl_curl {
	MB_DL_CURL_FUNCS(MB_DL_MEMBER)
};
#undef MB_DL_MEMBER
extern struct dl_curl dl_curl;

#ifndef MB_DL_NO_NAMES
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init (dl_curl.curl_global_init)
#define curl_global_cleanup (dl_curl.curl_global_cleanup)
#define curl_easy_init (dl_curl.curl_easy_init)
#define curl_easy_cleanup (dl_curl.curl_easy_cleanup)
#define curl_easy_setopt (dl_curl.curl_easy_setopt)
#define curl_easy_getinfo (dl_curl.curl_easy_getinfo)
#define curl_easy_strerror (dl_curl.curl_easy_strerror)
#define curl_easy_escape (dl_curl.curl_easy_escape)
#define curl_free (dl_curl.curl_free)
#define curl_slist_append (dl_curl.curl_slist_append)
#define curl_slist_free_all (dl_curl.curl_slist_free_all)
#define curl_multi_init (dl_curl.curl_multi_init)
#define curl_multi_cleanup (dl_curl.curl_multi_cleanup)
#define curl_multi_setopt (dl_curl.curl_multi_setopt)
#define curl_multi_assign (dl_curl.curl_multi_assign)
#define curl_multi_add_handle (dl_curl.curl_multi_add_handle)
#define curl_multi_remove_handle (dl_curl.curl_multi_remove_handle)
#define curl_multi_socket_action (dl_curl.curl_multi_socket_action)
#define curl_multi_info_read (dl_curl.curl_multi_info_read)
#endif
#endif

#endif

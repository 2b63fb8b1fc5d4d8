/* libmicrohttpd, opened when the `http` group starts or its `tls` group is
 * checked (include/dl.h). Include this instead of <microhttpd.h>. */
#ifndef DL_MHD_H
#define DL_MHD_H

#include <microhttpd.h>

#include "dl.h"

/* Every libmicrohttpd function the daemon calls. */
#define MB_DL_MHD_FUNCS(X)                                                                         \
	X(MHD_start_daemon)                                                                        \
	X(MHD_stop_daemon)                                                                         \
	X(MHD_run)                                                                                 \
	X(MHD_get_timeout)                                                                         \
	X(MHD_get_daemon_info)                                                                     \
	X(MHD_get_connection_info)                                                                 \
	X(MHD_is_feature_supported)                                                                \
	X(MHD_lookup_connection_value)                                                             \
	X(MHD_create_response_from_buffer)                                                         \
	X(MHD_add_response_header)                                                                 \
	X(MHD_queue_response)                                                                      \
	X(MHD_destroy_response)                                                                    \
	X(MHD_suspend_connection)                                                                  \
	X(MHD_resume_connection)

/* 0, or -1 with "PART: cannot load libmicrohttpd..." in err. */
int dl_mhd_load(const char *part, char *err, size_t errlen);

#if MB_DLOPEN
#define MB_DL_MEMBER(f) __typeof__(&f) f;
struct dl_mhd {
	MB_DL_MHD_FUNCS(MB_DL_MEMBER)
};
#undef MB_DL_MEMBER
extern struct dl_mhd dl_mhd;

#ifndef MB_DL_NO_NAMES
#define MHD_start_daemon (dl_mhd.MHD_start_daemon)
#define MHD_stop_daemon (dl_mhd.MHD_stop_daemon)
#define MHD_run (dl_mhd.MHD_run)
#define MHD_get_timeout (dl_mhd.MHD_get_timeout)
#define MHD_get_daemon_info (dl_mhd.MHD_get_daemon_info)
#define MHD_get_connection_info (dl_mhd.MHD_get_connection_info)
#define MHD_is_feature_supported (dl_mhd.MHD_is_feature_supported)
#define MHD_lookup_connection_value (dl_mhd.MHD_lookup_connection_value)
#define MHD_create_response_from_buffer (dl_mhd.MHD_create_response_from_buffer)
#define MHD_add_response_header (dl_mhd.MHD_add_response_header)
#define MHD_queue_response (dl_mhd.MHD_queue_response)
#define MHD_destroy_response (dl_mhd.MHD_destroy_response)
#define MHD_suspend_connection (dl_mhd.MHD_suspend_connection)
#define MHD_resume_connection (dl_mhd.MHD_resume_connection)
#endif
#endif

#endif

/* One error convention for every module: 0 is success, a negative MB_E* code
 * is a failure, and mb_strerror() names it. The list is an X-macro so that the
 * enum and the strings cannot drift apart (the way libuv's UV_ERRNO_MAP does). */
#ifndef MB_ERROR_H
#define MB_ERROR_H

#define MB_ERRNO_MAP(X)                                                                            \
	X(EINVAL, "invalid argument")                                                              \
	X(ENOMEM, "out of memory")                                                                 \
	X(EPARSE, "malformed input")                                                               \
	X(ESHORT, "incomplete frame")                                                              \
	X(ECRC, "checksum mismatch")                                                               \
	X(EID, "identifier mismatch")                                                              \
	X(ERANGE, "value out of range")                                                            \
	X(ETIMEDOUT, "timed out")                                                                  \
	X(ELINK, "link down")                                                                      \
	X(ECANCELED, "canceled")                                                                   \
	X(EIO, "input/output error")                                                               \
	X(EEXIST, "already exists")                                                                \
	X(ENOENT, "not found")                                                                     \
	X(EPROTO, "protocol error")                                                                \
	X(ETOOBIG, "too large")                                                                    \
	X(EBUSY, "busy")                                                                           \
	X(EADDR, "wrong device address")                                                           \
	X(EFUNC, "unexpected function code")

enum mb_error {
	MB_OK = 0,
#define MB__ERR_ENUM(name, text) MB_##name,
	MB__ERR_FIRST = -100,
	MB_ERRNO_MAP(MB__ERR_ENUM)
#undef MB__ERR_ENUM
};

/* Text for an MB_E* code (or "success" for 0, "unknown error" otherwise). */
const char *mb_strerror(int err);

#endif

#include "mb_error.h"

const char *mb_strerror(int err)
{
	switch (err) {
	case MB_OK:
		return "success";
#define MB__ERR_CASE(name, text)                                                                   \
	case MB_##name:                                                                            \
		return text;
		MB_ERRNO_MAP(MB__ERR_CASE)
#undef MB__ERR_CASE
	default:
		return "unknown error";
	}
}

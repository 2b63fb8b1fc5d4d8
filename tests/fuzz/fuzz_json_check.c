/* Fuzz target for the strict JSON checker (bridge/json_check.c), which reads
 * the REST API's write bodies before json-c does.
 *
 * The input is a body. The checker must not crash or read past it, must name
 * a byte offset within it when it refuses, and must agree with itself at
 * every depth limit (a text accepted at depth d is accepted at d + 1). What
 * it accepts must be JSON to json-c too, in its strict mode: parsed whole,
 * nothing left over (json-c takes more than RFC 8259, never less). That part
 * needs json-c, which a build without the web interface (WITH_HTTP=0) does
 * not link; the libFuzzer build (tests/fuzz/fuzz.mk) always has it. */
#ifndef MB_WITH_HTTP
#define MB_WITH_HTTP 1
#endif
#if MB_WITH_HTTP
#include <json-c/json.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[300];
	size_t at = 0;

	if (size > 4096)
		return 0; /* a body is at most 4 KiB (http.c) */
	/* A copy of exactly size bytes: ASan sees a read past the end. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	int rc = json_check_strict(text, size, 8, why, sizeof why);
	if (rc != 0) {
		FZ_CHECK(sscanf(why, "at byte %zu:", &at) == 1 && at <= size);
		FZ_CHECK(json_check_strict(text, size, 7, NULL, 0) != 0);
	} else {
		FZ_CHECK(json_check_strict(text, size, 9, NULL, 0) == 0);
#if MB_WITH_HTTP
		struct json_tokener *t = json_tokener_new_ex(9);
		FZ_CHECK(t != NULL);
		json_tokener_set_flags(t, JSON_TOKENER_STRICT);
		struct json_object *o = json_tokener_parse_ex(t, text, (int)size);
		size_t end = json_tokener_get_parse_end(t);
		while (end < size && strchr(" \t\r\n", text[end]) && text[end])
			end++;
		/* json-c wants more input for a lone number ("5"): it cannot
		 * know the number ended. Everything else it has parsed whole. */
		enum json_tokener_error e = json_tokener_get_error(t);
		FZ_CHECK(e == json_tokener_success || e == json_tokener_continue);
		FZ_CHECK(e == json_tokener_continue || end == size);
		json_object_put(o);
		json_tokener_free(t);
#endif
	}
	free(text);
	return 0;
}

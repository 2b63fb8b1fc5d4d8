/* Is a text strict JSON? The REST API's register write reads its body with
 * json-c, which is lenient even in its strict mode (json-c 0.16 takes
 * single-quoted member names, NaN and Infinity, "5.", raw control characters
 * in strings, overlong UTF-8 and surrogates, and keeps the last of two equal
 * names); a lenient reader is what lets a browser's text/plain form pass for
 * a JSON request. So a body is checked here first (docs/user-guide.md,
 * "Strict JSON bodies"). A pure function: no I/O, no state. */
#ifndef JSON_CHECK_H
#define JSON_CHECK_H

#include <stddef.h>

/* Is text[0..len) one JSON text as RFC 8259 has it: one value with white
 * space (space, tab, CR, LF) around it and nothing else; no comments, single
 * quotes, trailing commas, unquoted names, NaN or Infinity, numbers outside
 * JSON's grammar; strings of well-formed UTF-8 (no overlong forms, no
 * surrogates) without raw control characters, with JSON's escapes only, no
 * \u0000 and no lone surrogate escape; no NUL byte anywhere; objects and
 * arrays nested at most max_depth deep (1: an object of scalars); and no
 * member name twice in one object, however it is escaped? 0 if so; else -1
 * and, in why (whylen bytes), "at byte N: what is wrong". */
int json_check_strict(const char *text, size_t len, int max_depth, char *why, size_t whylen);

#endif

/* A small JSON writer for the documents the daemon emits: the status
 * documents (status.c) and the register reference (map_print.c). The caller
 * writes the structure and the layout (braces, commas, indentation) as is;
 * the writer escapes strings and never truncates: it streams to a FILE *,
 * or builds the text in a buffer that grows as needed.
 *
 * Why not json-c (on every OpenWrt image): the register reference has a
 * fixed, hand-chosen layout that `--print-map --json` users and the tests
 * rely on, which a tree serialiser would change (json-c escapes '/' and
 * prints doubles its own way), and the reference streams to a FILE * without
 * building the whole tree first. What the daemon needs from a JSON library is
 * string escaping; that is forty lines, not a new dependency for the router
 * image and the Debian build. */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdio.h>

struct json {
	FILE *out; /* streaming; NULL: into buf */
	char *buf; /* NUL-terminated text so far (buffer mode) */
	size_t len, cap;
	int failed; /* an allocation failed: json_take() gives NULL */
};

/* Write to out (the caller flushes and closes it). */
void json_init_file(struct json *j, FILE *out);
/* Build the text in memory; json_take() hands it over. */
void json_init_buf(struct json *j);
/* The text built (buffer mode), now the caller's to free, or NULL when an
 * allocation failed (nothing is left to free then); j is empty afterwards. */
char *json_take(struct json *j, size_t *len);

/* Structure and layout, written as is: "{", ",\n  ", "]". */
void json_raw(struct json *j, const char *s);
/* Numbers and other unquoted text, printf-style, written as is. */
void json_printf(struct json *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A string value, quoted and escaped: '"' and '\\' get a backslash;
 * newline, carriage return and tab their short escapes; every other control
 * character below 0x20 is \u00XX. Other bytes (UTF-8 included) pass through
 * unchanged. NULL is written as null. */
void json_str(struct json *j, const char *s);

#endif

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
 * string escaping (with a UTF-8 check); that is a page, not a new dependency for the router
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
 * character below 0x20 is \u00XX. Well-formed UTF-8 passes through
 * unchanged; every ill-formed part (a byte that starts no sequence, an
 * overlong form, a surrogate, a sequence cut short, 0xFF) becomes one U+FFFD
 * (json_utf8_seq), so the output is valid JSON whatever bytes a device or a
 * peer sent. NULL is written as null. */
void json_str(struct json *j, const char *s);
/* The same for len bytes, which may hold NUL (written as \u0000). */
void json_strn(struct json *j, const char *s, size_t len);
/* json_raw(j, raw), then json_str(j, s): a key and its string value, raw
 * holding the key with what goes before it (",\"name\":"). */
void json_key_str(struct json *j, const char *raw, const char *s);

/* UTF-8 as the Unicode standard defines it well-formed (chapter 3, table
 * 3-7: no overlong forms, no surrogates, nothing above U+10FFFF). The length
 * (1..4) of the well-formed sequence that starts s[0..n), n >= 1; or 0 when
 * none starts there, and then *bad is the length of the ill-formed part that
 * one U+FFFD replaces: the longest start of a well-formed sequence, at least
 * one byte ("U+FFFD substitution of maximal subparts", as WHATWG, Python and
 * ICU decode). */
size_t json_utf8_seq(const unsigned char *s, size_t n, size_t *bad);
/* in[0..len) into out as well-formed UTF-8, every ill-formed part replaced
 * by U+FFFD (EF BF BD); NUL bytes are kept. out needs 3 * len + 1 bytes; it
 * is NUL-terminated. Returns the bytes written, the NUL not counted. */
size_t json_utf8_clean(char *out, const char *in, size_t len);

#endif

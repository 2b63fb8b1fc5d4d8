/* Fuzz target for the JSON writer (bridge/json.c) and the string decoder
 * every face shows a string register with (bridge/values.c).
 *
 * The input is arbitrary bytes, as a device or a Modbus client can put them
 * in a string register. Each way they reach a JSON document must give text
 * that json-c's strict parser takes with UTF-8 validation on, holding the
 * string the writer was meant to write:
 *   - json_strn over all the bytes (NUL included): the parsed string is
 *     json_utf8_clean's text of the input, and the input itself when nothing
 *     was replaced;
 *   - json_str over the bytes up to the first NUL;
 *   - a string register of as many words as the input fills (at most 125)
 *     through values_decode, then json_str: what the registers document (REST,
 *     the page, the MQTT export) writes; its text is well-formed UTF-8 with
 *     no NUL, and what the InfluxDB field writer makes of it parses back as
 *     line protocol.
 * The same writer into a FILE * gives the same bytes as into the buffer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "codec_line.h"
#include "json.h"
#include "map.h"
#include "values.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* The document ["<string>"] parsed strictly; the string's bytes into *out
 * (the caller frees), its length into *outlen. */
static void fz_parse(const char *doc, size_t len, char **out, size_t *outlen)
{
	struct json_tokener *tok = json_tokener_new();
	FZ_CHECK(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *o = json_tokener_parse_ex(tok, doc, (int)len);
	FZ_CHECK(o && json_tokener_get_error(tok) == json_tokener_success &&
		 json_tokener_get_parse_end(tok) == len);
	FZ_CHECK(json_object_is_type(o, json_type_array) && json_object_array_length(o) == 1);
	json_object *s = json_object_array_get_idx(o, 0);
	FZ_CHECK(json_object_is_type(s, json_type_string));
	*outlen = (size_t)json_object_get_string_len(s);
	*out = malloc(*outlen + 1);
	FZ_CHECK(*out);
	memcpy(*out, json_object_get_string(s), *outlen + 1);
	json_object_put(o);
	json_tokener_free(tok);
}

/* Write ["<s>"] with json_strn (len) or json_str (len == SIZE_MAX), into the
 * buffer and into a FILE *, and check the two agree. */
static char *fz_write(const char *s, size_t len, size_t *doclen)
{
	struct json jb, jf;
	char *ftext = NULL;
	size_t flen = 0;
	FILE *f = open_memstream(&ftext, &flen);
	FZ_CHECK(f);
	json_init_buf(&jb);
	json_init_file(&jf, f);
	for (struct json *j = &jb; j; j = j == &jb ? &jf : NULL) {
		json_raw(j, "[");
		if (len == SIZE_MAX)
			json_str(j, s);
		else
			json_strn(j, s, len);
		json_raw(j, "]");
	}
	fclose(f);
	char *doc = json_take(&jb, doclen);
	FZ_CHECK(doc && flen == *doclen && memcmp(ftext, doc, flen) == 0);
	free(ftext);
	return doc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	size_t doclen, got_len;
	char *doc, *got;

	if (size > 4096)
		return 0;

	/* Every byte. */
	char *clean = malloc(3 * size + 1);
	FZ_CHECK(clean);
	size_t clean_len = json_utf8_clean(clean, in, size);
	doc = fz_write(in, size, &doclen);
	fz_parse(doc, doclen, &got, &got_len);
	FZ_CHECK(got_len == clean_len && memcmp(got, clean, clean_len) == 0);
	/* Nothing replaced: the bytes as they came (ASCII always). */
	int ascii = 1, replaced = 0;
	for (size_t i = 0; i < size; i++)
		ascii &= data[i] < 0x80;
	for (size_t i = 0; i + 3 <= clean_len && !replaced; i++)
		replaced = memcmp(clean + i, "\xef\xbf\xbd", 3) == 0;
	if (ascii || !replaced)
		FZ_CHECK(clean_len == size && memcmp(clean, in, size) == 0);
	free(got);
	free(doc);
	free(clean);

	/* Up to the first NUL. */
	char *cstr = malloc(size + 1);
	FZ_CHECK(cstr);
	memcpy(cstr, in, size);
	cstr[size] = '\0';
	doc = fz_write(cstr, SIZE_MAX, &doclen);
	fz_parse(doc, doclen, &got, &got_len);
	FZ_CHECK(got_len <= 3 * strlen(cstr));
	free(got);
	free(doc);
	free(cstr);

	/* A string register's words, as values.c decodes them. */
	uint16_t words[125];
	size_t nwords = size / 2 < 125 ? size / 2 : 125;
	if (nwords == 0)
		return 0;
	for (size_t i = 0; i < nwords; i++)
		words[i] = (uint16_t)(data[2 * i] << 8 | data[2 * i + 1]);
	struct map_register r = {
	    .name = "s", .type = MAP_STRING, .count = (uint16_t)nwords, .scale = 1.0};
	struct values_item v = {.reg = &r, .valid = 1};
	char text[VALUES_TEXT_MAX];
	values_decode(&r, words, &v, text);
	FZ_CHECK(v.text == text && strlen(text) < sizeof text);
	size_t tl = strlen(text);
	char *again = malloc(3 * tl + 1);
	FZ_CHECK(again);
	FZ_CHECK(json_utf8_clean(again, text, tl) == tl && memcmp(again, text, tl) == 0);
	free(again);
	doc = fz_write(text, SIZE_MAX, &doclen);
	fz_parse(doc, doclen, &got, &got_len);
	FZ_CHECK(got_len == tl && memcmp(got, text, tl) == 0);
	free(got);
	free(doc);

	/* ... and as an InfluxDB string field. */
	char line[2 * VALUES_TEXT_MAX + 64], scratch[2 * VALUES_TEXT_MAX + 64];
	struct line_writer w;
	codec_line_writer_init(&w, line, sizeof line);
	codec_line_begin(&w, "m");
	values_line_field(&w, &v);
	FZ_CHECK(codec_line_end(&w, 0, 0) == 0);
	struct line_field fields[1];
	struct line_point pt = {.fields = fields, .maxfields = 1};
	size_t used;
	FZ_CHECK(codec_line_parse(line, w.len, &used, &pt, scratch, sizeof scratch) == 0);
	FZ_CHECK(pt.nfields == 1 && fields[0].type == LINE_STRING && strlen(fields[0].s) == tl);
	return 0;
}

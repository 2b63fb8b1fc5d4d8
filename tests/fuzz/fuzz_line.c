/* Fuzz target for the InfluxDB line-protocol codec (bridge/codec_line.c).
 *
 * The input is a body as a client POSTs it to /write: lines, each parsed in
 * turn. The parser must always make progress (every call consumes at least
 * one byte while input is left) and never read past the line. Each point it
 * accepts is written again with the writer; when the writer takes it (it
 * refuses names with backslashes or control characters, and has no unsigned
 * integers), the text must parse back to the very same point: measurement,
 * tags, field names, types and values, and timestamp. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec_line.h"
#include "mb_error.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

#define FZ_FIELDS 64

static int fz_same_field(const struct line_field *a, const struct line_field *b)
{
	if (strcmp(a->key, b->key) != 0 || a->type != b->type)
		return 0;
	switch (a->type) {
	case LINE_FLOAT:
		return a->f == b->f;
	case LINE_INT:
		return a->i == b->i;
	case LINE_UINT:
		return a->u == b->u;
	case LINE_BOOL:
		return a->b == b->b;
	case LINE_STRING:
		return strcmp(a->s, b->s) == 0;
	}
	return 0;
}

/* Write pt again; 1 when the writer took it (text in buf). */
static int fz_write(const struct line_point *pt, char *buf, size_t cap, size_t *len)
{
	struct line_writer w;
	codec_line_writer_init(&w, buf, cap);
	codec_line_begin(&w, pt->measurement);
	for (size_t i = 0; i < pt->ntags; i++)
		codec_line_tag(&w, pt->tags[i].key, pt->tags[i].value);
	for (size_t i = 0; i < pt->nfields; i++) {
		const struct line_field *f = &pt->fields[i];
		switch (f->type) {
		case LINE_FLOAT:
			codec_line_field_float(&w, f->key, f->f);
			break;
		case LINE_INT:
			codec_line_field_int(&w, f->key, f->i);
			break;
		case LINE_BOOL:
			codec_line_field_bool(&w, f->key, f->b);
			break;
		case LINE_STRING:
			codec_line_field_str(&w, f->key, f->s);
			break;
		case LINE_UINT:
			codec_line_end(&w, 0, 0);
			return 0;
		}
	}
	if (codec_line_end(&w, pt->has_time, pt->time) != 0)
		return 0;
	*len = w.len;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct line_field f1[FZ_FIELDS], f2[FZ_FIELDS];
	struct line_point p1 = {.fields = f1, .maxfields = FZ_FIELDS};
	struct line_point p2 = {.fields = f2, .maxfields = FZ_FIELDS};
	/* A line needs at most its length plus a NUL per name and string. */
	size_t scratch_len = 2 * size + 64, cap = 4 * size + 256;
	char *s1 = malloc(scratch_len), *s2 = malloc(cap * 2), *text = malloc(cap);

	FZ_CHECK(s1 && s2 && text);
	while (size) {
		size_t used = 0, len = 0;
		int rc = codec_line_parse(in, size, &used, &p1, s1, scratch_len);
		FZ_CHECK(used > 0 && used <= size);
		FZ_CHECK(rc == 0 || rc == 1 || rc == MB_EPARSE || rc == MB_ERANGE ||
			 rc == MB_ETOOBIG);
		/* Scratch as large as the rule says is never too small. */
		FZ_CHECK(!(rc == MB_ETOOBIG && p1.nfields < FZ_FIELDS && p1.ntags < LINE_MAX_TAGS));
		if (rc == 0 && fz_write(&p1, text, cap, &len)) {
			size_t used2 = 0;
			FZ_CHECK(codec_line_parse(text, len, &used2, &p2, s2, cap * 2) == 0);
			FZ_CHECK(used2 == len);
			FZ_CHECK(strcmp(p1.measurement, p2.measurement) == 0);
			FZ_CHECK(p1.ntags == p2.ntags && p1.nfields == p2.nfields);
			for (size_t i = 0; i < p1.ntags; i++) {
				FZ_CHECK(strcmp(p1.tags[i].key, p2.tags[i].key) == 0);
				FZ_CHECK(strcmp(p1.tags[i].value, p2.tags[i].value) == 0);
			}
			for (size_t i = 0; i < p1.nfields; i++)
				FZ_CHECK(fz_same_field(&f1[i], &f2[i]));
			FZ_CHECK(p1.has_time == p2.has_time && p1.time == p2.time);
		}
		in += used;
		size -= used;
	}
	free(s1);
	free(s2);
	free(text);
	return 0;
}

/* InfluxDB line protocol (docs/user-guide.md, "Exporting values"): a writer
 * that builds points into a caller-owned buffer and a parser that reads them
 * back. Pure functions over buffers (docs/design.md, "Codecs are pure
 * functions"): no I/O, no allocation, no global state. The InfluxDB exporter
 * (bridge/export_influx.c) writes with it; the v2 test server
 * (tests/sim/sim_influx.c), the unit test and the fuzz target parse with it.
 *
 * A line is
 *
 *     measurement[,tag=value...] field=value[,field=value...] [timestamp]\n
 *
 * Escaping, as InfluxDB's line protocol reference gives it:
 *   measurement             ',' and ' ' get a backslash
 *   tag keys, tag values,
 *   field keys              ',', '=' and ' ' get a backslash
 *   string field values     '"' and '\' get a backslash, inside double quotes
 * Field values: floats (1.5, -2, 1e3), integers (57i), unsigned integers
 * (57u, InfluxDB 2 only: the writer never makes them), strings ("text") and
 * booleans (t, T, true, True, TRUE, f, F, false, False, FALSE).
 *
 * InfluxDB 1.x and 2.x disagree on what a doubled backslash in a name means
 * (1.x keeps both, 2.x one), and neither accepts a newline in a name; the
 * writer therefore refuses a backslash or any control character in a
 * measurement, a tag or a field key, and a control character in a string
 * value (MB_EINVAL), instead of writing something the two read differently.
 * The parser reads a backslash before any other character as itself. */
#ifndef CODEC_LINE_H
#define CODEC_LINE_H

#include <stddef.h>
#include <stdint.h>

/* --- writer -------------------------------------------------------------- */

struct line_writer {
	char *buf;	  /* caller's buffer; NUL-terminated while it has room */
	size_t cap;	  /* its size */
	size_t len;	  /* bytes of the finished lines */
	size_t pos;	  /* end of the line being written; may pass cap (then only counted) */
	size_t need;	  /* after MB_ETOOBIG from codec_line_end: the size buf must have */
	unsigned ntags;	  /* of the line being written */
	unsigned nfields; /* of the line being written */
	int err;	  /* first error of the line being written, 0 if none */
	int open;	  /* codec_line_begin was called and codec_line_end not yet */
};

void codec_line_writer_init(struct line_writer *w, char *buf, size_t cap);
/* Start a line. Errors are kept until codec_line_end, which reports the first
 * and takes the line back out: a caller checks codec_line_end alone. */
void codec_line_begin(struct line_writer *w, const char *measurement);
/* Tags come before fields; an empty tag value is refused (InfluxDB drops
 * such tags), as is a tag after a field. */
void codec_line_tag(struct line_writer *w, const char *key, const char *value);
void codec_line_field_int(struct line_writer *w, const char *key, int64_t v);
/* A float field, written so that it reads back as the same double. NaN
 * and the infinities have no line-protocol form: MB_ERANGE. */
void codec_line_field_float(struct line_writer *w, const char *key, double v);
void codec_line_field_str(struct line_writer *w, const char *key, const char *v);
void codec_line_field_bool(struct line_writer *w, const char *key, int v);
/* Finish the line with a timestamp (has_time 0: none, the server's clock
 * then stamps it). 0; MB_EINVAL (no field, a name refused, a tag after a
 * field, no codec_line_begin), MB_ERANGE (a float with no form), MB_ETOOBIG (buf
 * too small: w->need is the size it must have). On any error the line is
 * taken back: the buffer holds the lines finished before it. */
int codec_line_end(struct line_writer *w, int has_time, int64_t time);

/* --- parser -------------------------------------------------------------- */

#define LINE_MAX_TAGS 32

enum line_type { LINE_FLOAT, LINE_INT, LINE_UINT, LINE_STRING, LINE_BOOL };

struct line_tag {
	const char *key, *value; /* unescaped, NUL-terminated, in the scratch buffer */
};

struct line_field {
	const char *key; /* unescaped, in the scratch buffer */
	enum line_type type;
	double f;
	int64_t i;
	uint64_t u;
	int b;
	const char *s; /* LINE_STRING: unescaped, NUL-terminated, in the scratch buffer */
};

struct line_point {
	const char *measurement;
	struct line_tag tags[LINE_MAX_TAGS];
	size_t ntags;
	struct line_field *fields; /* the caller's array of maxfields */
	size_t nfields, maxfields;
	int has_time;
	int64_t time;
};

/* Parse the first line of in[0..len) (up to '\n' or the end). pt->fields
 * and pt->maxfields are set by the caller; names and strings are unescaped
 * into scratch (a line never needs more than its own length plus one byte
 * per name and string). *used is set to the bytes of the line with its
 * '\n', whatever the result, so that the caller can go on with the next.
 * 0: a point; 1: an empty or comment (#) line; MB_EPARSE: not line protocol;
 * MB_ERANGE: a number out of range; MB_ETOOBIG: more tags or fields than
 * fit, or scratch too small. */
int codec_line_parse(const char *in, size_t len, size_t *used, struct line_point *pt, char *scratch,
		     size_t scratch_len);

#endif

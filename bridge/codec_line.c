/* InfluxDB line protocol: writer and parser (include/codec_line.h). */
#include "codec_line.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_error.h"

/* --- writer -------------------------------------------------------------- */

void codec_line_writer_init(struct line_writer *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof *w);
	w->buf = buf;
	w->cap = cap;
	if (buf && cap)
		buf[0] = '\0';
}

/* Append n bytes; past cap they are only counted, so that codec_line_end can say
 * how large the buffer must be. */
static void codec_line__put(struct line_writer *w, const char *s, size_t n)
{
	if (w->pos < w->cap) {
		size_t room = w->cap - w->pos;
		memcpy(w->buf + w->pos, s, n < room ? n : room);
	}
	w->pos += n;
}

static void codec_line__putc(struct line_writer *w, char c)
{
	codec_line__put(w, &c, 1);
}

static void codec_line__fail(struct line_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* A measurement, tag or field key: escape what `special` lists; refuse what
 * 1.x and 2.x would read differently (see the header). */
static void codec_line__name(struct line_writer *w, const char *s, const char *special)
{
	if (!s || !*s) {
		codec_line__fail(w, MB_EINVAL);
		return;
	}
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\\') {
			codec_line__fail(w, MB_EINVAL);
			return;
		}
		if (strchr(special, c))
			codec_line__putc(w, '\\');
		codec_line__putc(w, (char)c);
	}
}

void codec_line_begin(struct line_writer *w, const char *measurement)
{
	w->pos = w->len;
	w->ntags = w->nfields = 0;
	w->err = 0;
	w->open = 1;
	/* A measurement may not start with '#': the line would be a comment. */
	if (measurement && measurement[0] == '#')
		codec_line__fail(w, MB_EINVAL);
	codec_line__name(w, measurement, ", ");
}

void codec_line_tag(struct line_writer *w, const char *key, const char *value)
{
	if (!w->open || w->nfields) {
		codec_line__fail(w, MB_EINVAL);
		return;
	}
	codec_line__putc(w, ',');
	codec_line__name(w, key, ",= ");
	codec_line__putc(w, '=');
	codec_line__name(w, value, ",= ");
	w->ntags++;
}

static void codec_line__field_key(struct line_writer *w, const char *key)
{
	if (!w->open) {
		codec_line__fail(w, MB_EINVAL);
		return;
	}
	codec_line__putc(w, w->nfields ? ',' : ' ');
	codec_line__name(w, key, ",= ");
	codec_line__putc(w, '=');
	w->nfields++;
}

void codec_line_field_int(struct line_writer *w, const char *key, int64_t v)
{
	char num[32];
	int n = snprintf(num, sizeof num, "%lldi", (long long)v);
	codec_line__field_key(w, key);
	codec_line__put(w, num, (size_t)n);
}

void codec_line_field_float(struct line_writer *w, const char *key, double v)
{
	char num[40];
	int n;

	codec_line__field_key(w, key);
	if (!isfinite(v)) {
		codec_line__fail(w, MB_ERANGE);
		return;
	}
	/* The shortest of %.15g and %.17g that reads back as v: 52.3 stays
	 * "52.3" instead of "52.299999999999997". */
	n = snprintf(num, sizeof num, "%.15g", v);
	if (strtod(num, NULL) != v)
		n = snprintf(num, sizeof num, "%.17g", v);
	codec_line__put(w, num, (size_t)n);
}

void codec_line_field_str(struct line_writer *w, const char *key, const char *v)
{
	codec_line__field_key(w, key);
	if (!v) {
		codec_line__fail(w, MB_EINVAL);
		return;
	}
	codec_line__putc(w, '"');
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c < 0x20 || c == 0x7f) {
			codec_line__fail(w, MB_EINVAL);
			return;
		}
		if (c == '"' || c == '\\')
			codec_line__putc(w, '\\');
		codec_line__putc(w, (char)c);
	}
	codec_line__putc(w, '"');
}

void codec_line_field_bool(struct line_writer *w, const char *key, int v)
{
	codec_line__field_key(w, key);
	codec_line__put(w, v ? "true" : "false", v ? 4 : 5);
}

int codec_line_end(struct line_writer *w, int has_time, int64_t time)
{
	int err = w->err;

	if (!w->open)
		return MB_EINVAL;
	w->open = 0;
	if (!err && !w->nfields)
		err = MB_EINVAL;
	if (!err && has_time) {
		char num[32];
		int n = snprintf(num, sizeof num, " %lld", (long long)time);
		codec_line__put(w, num, (size_t)n);
	}
	codec_line__putc(w, '\n');
	/* The NUL after the text needs a byte too. */
	if (!err && w->pos >= w->cap) {
		w->need = w->pos + 1;
		err = MB_ETOOBIG;
	}
	if (err) {
		w->pos = w->len;
		if (w->buf && w->len < w->cap)
			w->buf[w->len] = '\0';
		return err;
	}
	w->len = w->pos;
	w->buf[w->len] = '\0';
	return 0;
}

/* --- parser -------------------------------------------------------------- */

struct codec_line__in {
	const char *p, *end; /* the line, without its '\n' */
	char *out, *out_end; /* scratch */
};

/* Copy a name up to an unescaped character of `stop` (or the end) into
 * scratch, unescaping a backslash before a character of `esc`. MB_EPARSE
 * when it is empty, MB_ETOOBIG when scratch is full. */
static int codec_line__read_name(struct codec_line__in *in, const char *stop, const char *esc,
				 const char **name)
{
	char *start = in->out;

	while (in->p < in->end && !strchr(stop, *in->p)) {
		char c = *in->p++;
		if (c == '\\' && in->p < in->end && strchr(esc, *in->p))
			c = *in->p++;
		if (in->out >= in->out_end)
			return MB_ETOOBIG;
		*in->out++ = c;
	}
	if (in->out == start)
		return MB_EPARSE;
	if (in->out >= in->out_end)
		return MB_ETOOBIG;
	*in->out++ = '\0';
	*name = start;
	return 0;
}

/* An unsigned decimal of digits [s, e) into *v; MB_ERANGE past max. */
static int codec_line__digits(const char *s, const char *e, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (s == e)
		return MB_EPARSE;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return MB_EPARSE;
		if (x > (max - (uint64_t)(*s - '0')) / 10)
			return MB_ERANGE;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

/* A signed decimal of [s, e). */
static int codec_line__int(const char *s, const char *e, int64_t *v)
{
	int neg = s < e && *s == '-';
	uint64_t x;
	int rc;

	if (neg)
		s++;
	if ((rc = codec_line__digits(s, e, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX,
				     &x)) != 0)
		return rc;
	*v = neg ? (x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x) : (int64_t)x;
	return 0;
}

/* A float as line protocol writes it: [-+]digits[.digits][(e|E)[-+]digits],
 * digits on at least one side of the point. strtod alone would also take
 * "nan", "inf" and hexadecimal, which InfluxDB refuses. */
static int codec_line__float(const char *s, const char *e, double *v)
{
	const char *q = s;
	char num[64];
	size_t nd = 0;

	if (q < e && (*q == '-' || *q == '+'))
		q++;
	while (q < e && *q >= '0' && *q <= '9')
		q++, nd++;
	if (q < e && *q == '.') {
		q++;
		while (q < e && *q >= '0' && *q <= '9')
			q++, nd++;
	}
	if (!nd)
		return MB_EPARSE;
	if (q < e && (*q == 'e' || *q == 'E')) {
		const char *x;
		q++;
		if (q < e && (*q == '-' || *q == '+'))
			q++;
		x = q;
		while (q < e && *q >= '0' && *q <= '9')
			q++;
		if (q == x)
			return MB_EPARSE;
	}
	if (q != e)
		return MB_EPARSE;
	if ((size_t)(e - s) >= sizeof num)
		return MB_ERANGE;
	memcpy(num, s, (size_t)(e - s));
	num[e - s] = '\0';
	errno = 0;
	*v = strtod(num, NULL);
	if (errno == ERANGE && (*v == HUGE_VAL || *v == -HUGE_VAL))
		return MB_ERANGE;
	return 0;
}

static int codec_line__is(const char *s, const char *e, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(e - s) == n && memcmp(s, word, n) == 0;
}

/* A field value up to an unescaped ',' or ' ' (outside a string). */
static int codec_line__value(struct codec_line__in *in, struct line_field *f)
{
	const char *s = in->p, *e;

	if (s < in->end && *s == '"') {
		char *start = in->out;
		in->p++;
		for (;;) {
			char c;
			if (in->p >= in->end)
				return MB_EPARSE; /* no closing quote */
			c = *in->p++;
			if (c == '"')
				break;
			if (c == '\\' && in->p < in->end && (*in->p == '"' || *in->p == '\\'))
				c = *in->p++;
			if (in->out >= in->out_end)
				return MB_ETOOBIG;
			*in->out++ = c;
		}
		if (in->out >= in->out_end)
			return MB_ETOOBIG;
		*in->out++ = '\0';
		f->type = LINE_STRING;
		f->s = start;
		return 0;
	}
	while (in->p < in->end && *in->p != ',' && *in->p != ' ')
		in->p++;
	e = in->p;
	if (s == e)
		return MB_EPARSE;
	if (codec_line__is(s, e, "t") || codec_line__is(s, e, "T") ||
	    codec_line__is(s, e, "true") || codec_line__is(s, e, "True") ||
	    codec_line__is(s, e, "TRUE")) {
		f->type = LINE_BOOL;
		f->b = 1;
		return 0;
	}
	if (codec_line__is(s, e, "f") || codec_line__is(s, e, "F") ||
	    codec_line__is(s, e, "false") || codec_line__is(s, e, "False") ||
	    codec_line__is(s, e, "FALSE")) {
		f->type = LINE_BOOL;
		f->b = 0;
		return 0;
	}
	if (e[-1] == 'i') {
		f->type = LINE_INT;
		return codec_line__int(s, e - 1, &f->i);
	}
	if (e[-1] == 'u') {
		f->type = LINE_UINT;
		return codec_line__digits(s, e - 1, UINT64_MAX, &f->u);
	}
	f->type = LINE_FLOAT;
	return codec_line__float(s, e, &f->f);
}

static int codec_line__point(struct codec_line__in *in, struct line_point *pt)
{
	int rc;

	if ((rc = codec_line__read_name(in, ", ", ", ", &pt->measurement)) != 0)
		return rc;
	while (in->p < in->end && *in->p == ',') {
		struct line_tag *t;
		in->p++;
		if (pt->ntags >= LINE_MAX_TAGS)
			return MB_ETOOBIG;
		t = &pt->tags[pt->ntags];
		if ((rc = codec_line__read_name(in, ",= ", ",= ", &t->key)) != 0)
			return rc;
		if (in->p >= in->end || *in->p != '=')
			return MB_EPARSE;
		in->p++;
		if ((rc = codec_line__read_name(in, ",= ", ",= ", &t->value)) != 0)
			return rc;
		pt->ntags++;
	}
	if (in->p >= in->end || *in->p != ' ')
		return MB_EPARSE;
	in->p++;
	for (;;) {
		struct line_field *f;
		if (pt->nfields >= pt->maxfields)
			return MB_ETOOBIG;
		f = &pt->fields[pt->nfields];
		memset(f, 0, sizeof *f);
		if ((rc = codec_line__read_name(in, ",= ", ",= ", &f->key)) != 0)
			return rc;
		if (in->p >= in->end || *in->p != '=')
			return MB_EPARSE;
		in->p++;
		if ((rc = codec_line__value(in, f)) != 0)
			return rc;
		pt->nfields++;
		if (in->p >= in->end || *in->p != ',')
			break;
		in->p++;
	}
	if (in->p < in->end) {
		if (*in->p != ' ')
			return MB_EPARSE;
		in->p++;
		if ((rc = codec_line__int(in->p, in->end, &pt->time)) != 0)
			return rc;
		pt->has_time = 1;
	}
	return 0;
}

int codec_line_parse(const char *in, size_t len, size_t *used, struct line_point *pt, char *scratch,
		     size_t scratch_len)
{
	const char *nl = memchr(in, '\n', len);
	struct codec_line__in st = {.p = in, .end = nl ? nl : in + len};

	*used = nl ? (size_t)(nl - in) + 1 : len;
	pt->measurement = NULL;
	pt->ntags = pt->nfields = 0;
	pt->has_time = 0;
	pt->time = 0;
	/* A line ending in "\r\n" (a client on Windows) is read without '\r'. */
	if (st.end > st.p && st.end[-1] == '\r')
		st.end--;
	if (st.p == st.end || *st.p == '#')
		return 1;
	if (!scratch || !scratch_len)
		return MB_ETOOBIG;
	st.out = scratch;
	st.out_end = scratch + scratch_len;
	return codec_line__point(&st, pt);
}

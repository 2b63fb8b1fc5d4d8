/* The JSON writer (include/json.h says why it is ours and not json-c). */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void json_init_file(struct json *j, FILE *out)
{
	memset(j, 0, sizeof *j);
	j->out = out;
}

void json_init_buf(struct json *j)
{
	memset(j, 0, sizeof *j);
}

char *json_take(struct json *j, size_t *len)
{
	char *text = NULL;

	if (!j->failed)
		text = j->buf ? j->buf : strdup("");
	else
		free(j->buf);
	if (len)
		*len = text ? j->len : 0;
	memset(j, 0, sizeof *j);
	return text;
}

/* Room for n more bytes and the NUL after them (buffer mode). */
static int json__reserve(struct json *j, size_t n)
{
	size_t cap;
	char *p;

	if (j->failed)
		return 0;
	if (j->len + n + 1 <= j->cap)
		return 1;
	cap = j->cap ? j->cap : 256;
	while (cap < j->len + n + 1) {
		if (cap > ((size_t)-1) / 2) {
			j->failed = 1;
			return 0;
		}
		cap *= 2;
	}
	if (!(p = realloc(j->buf, cap))) {
		j->failed = 1;
		return 0;
	}
	j->buf = p;
	j->cap = cap;
	return 1;
}

static void json__put(struct json *j, const char *s, size_t n)
{
	if (j->out) {
		fwrite(s, 1, n, j->out);
		return;
	}
	if (!json__reserve(j, n))
		return;
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

void json_raw(struct json *j, const char *s)
{
	json__put(j, s, strlen(s));
}

void json_printf(struct json *j, const char *fmt, ...)
{
	char small[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof small) {
		json__put(j, small, (size_t)n);
		return;
	}
	/* Longer than the small buffer: print again, straight into the place. */
	if (j->out) {
		va_start(ap, fmt);
		vfprintf(j->out, fmt, ap);
		va_end(ap);
		return;
	}
	if (!json__reserve(j, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(j->buf + j->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	j->len += (size_t)n;
}

size_t json_utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned c = s[0], lo = 0x80, hi = 0xBF;
	size_t need, i;

	if (c < 0x80)
		return 1;
	/* Table 3-7: the lead byte fixes the length and the range of the
	 * second byte (E0 and F0 exclude overlong forms, ED the surrogates,
	 * F4 what lies above U+10FFFF); later bytes are 80..BF. C0, C1 and
	 * F5..FF start nothing. */
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	} else {
		*bad = 1;
		return 0;
	}
	for (i = 1; i <= need && i < n; i++) {
		unsigned b = s[i];
		if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF))
			break;
	}
	if (i > need)
		return need + 1;
	*bad = i;
	return 0;
}

#define JSON__FFFD "\xEF\xBF\xBD"

size_t json_utf8_clean(char *out, const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in, *end = p + len;
	size_t o = 0, n, bad = 0;

	while (p < end) {
		if ((n = json_utf8_seq(p, (size_t)(end - p), &bad)) != 0) {
			memcpy(out + o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(out + o, JSON__FFFD, 3);
			o += 3;
			p += bad;
		}
	}
	out[o] = '\0';
	return o;
}

void json_strn(struct json *j, const char *s, size_t len)
{
	const unsigned char *p, *run, *end;

	if (!s) {
		json_raw(j, "null");
		return;
	}
	json__put(j, "\"", 1);
	/* Bytes that need no escape go out in runs, not one at a time; the
	 * five with a two-character escape are in a table, other control
	 * characters become \u00XX, ill-formed UTF-8 U+FFFD. */
	static const char two[][3] = {
	    ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t"};
	end = (const unsigned char *)s + len;
	for (p = run = (const unsigned char *)s; p < end;) {
		char esc[8];
		const char *e = esc;
		size_t n = 2, skip = 1, bad = 0;
		if (*p >= 0x80) {
			if ((skip = json_utf8_seq(p, (size_t)(end - p), &bad)) != 0) {
				p += skip;
				continue;
			}
			e = JSON__FFFD;
			n = 3;
			skip = bad;
		} else if (*p < sizeof two / sizeof two[0] && two[*p][0]) {
			e = two[*p];
		} else if (*p >= 0x20) {
			p++;
			continue;
		} else {
			n = (size_t)snprintf(esc, sizeof esc, "\\u%04x", *p);
		}
		json__put(j, (const char *)run, (size_t)(p - run));
		json__put(j, e, n);
		p += skip;
		run = p;
	}
	json__put(j, (const char *)run, (size_t)(p - run));
	json__put(j, "\"", 1);
}

void json_str(struct json *j, const char *s)
{
	json_strn(j, s, s ? strlen(s) : 0);
}

void json_key_str(struct json *j, const char *raw, const char *s)
{
	json_raw(j, raw);
	json_str(j, s);
}

/* A strict JSON checker (include/json_check.h): RFC 8259's grammar, by
 * recursive descent bounded by the nesting limit, plus the checks a parser
 * that builds a tree cannot make afterwards (a member name twice in one
 * object, compared as decoded). It builds nothing and allocates only the
 * list of names seen. */
#include "json_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char json_check__too_deep[] = "objects and arrays nested deeper than";

struct json_check__c {
	const unsigned char *p, *end, *start;
	const char *why; /* the first error */
	size_t at;	 /* its byte offset */
	/* The member names seen, by object (for duplicates): spans into the
	 * text, the object each belongs to. */
	struct {
		size_t from, to;
		unsigned obj;
	} * keys;
	size_t nkeys, capkeys;
	unsigned nobj;
	int max_depth;
};

static int json_check__fail(struct json_check__c *c, const char *why)
{
	if (!c->why) {
		c->why = why;
		c->at = (size_t)(c->p - c->start);
	}
	return -1;
}

static void json_check__ws(struct json_check__c *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

/* What a character that cannot start a value (or a name) most likely
 * means. */
static int json_check__bad(struct json_check__c *c)
{
	if (c->p >= c->end)
		return json_check__fail(c, "the body ends in the middle of the JSON text");
	switch (*c->p) {
	case '\0':
		return json_check__fail(c, "a NUL byte is not JSON");
	case '\'':
		return json_check__fail(c, "single quotes are not JSON (strings and member names "
					   "take double quotes)");
	case '/':
	case '#':
		return json_check__fail(c, "comments are not JSON");
	case '}':
	case ']':
		return json_check__fail(c, "a trailing comma is not JSON");
	default:
		return json_check__fail(c, "unexpected character");
	}
}

static int json_check__hex(const unsigned char *p)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		int d = p[i] >= '0' && p[i] <= '9'   ? p[i] - '0'
			: p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
			: p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10
						     : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* One UTF-8 sequence at c->p (its first byte >= 0x80): well formed, shortest
 * form, no surrogates, at most U+10FFFF (RFC 3629). */
static int json_check__utf8(struct json_check__c *c)
{
	const unsigned char *p = c->p;
	unsigned n, cp;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 1, cp = p[0] & 0x1Fu;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 2, cp = p[0] & 0x0Fu;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 3, cp = p[0] & 0x07u;
	else
		return json_check__fail(c, "the body is not UTF-8");
	if ((size_t)(c->end - p) <= n)
		return json_check__fail(c, "the body is not UTF-8");
	for (unsigned i = 1; i <= n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return json_check__fail(c, "the body is not UTF-8");
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return json_check__fail(c, "the body is not UTF-8");
	c->p += n + 1;
	return 0;
}

/* A string at c->p (its opening quote). */
static int json_check__string(struct json_check__c *c)
{
	c->p++;
	while (c->p < c->end) {
		unsigned char ch = *c->p;
		if (ch == '"') {
			c->p++;
			return 0;
		}
		if (ch == '\0')
			return json_check__fail(c, "a NUL byte is not JSON");
		if (ch < 0x20)
			return json_check__fail(c,
						"a control character in a string must be written "
						"as an escape");
		if (ch >= 0x80) {
			if (json_check__utf8(c) != 0)
				return -1;
			continue;
		}
		if (ch != '\\') {
			c->p++;
			continue;
		}
		if (c->end - c->p < 2)
			break;
		if (strchr("\"\\/bfnrt", c->p[1]) && c->p[1]) {
			c->p += 2;
			continue;
		}
		if (c->p[1] != 'u')
			return json_check__fail(c, "an escape JSON does not have");
		int u = c->end - c->p >= 6 ? json_check__hex(c->p + 2) : -1;
		if (u < 0)
			return json_check__fail(c, "\\u takes four hex digits");
		if (u == 0)
			return json_check__fail(c, "a NUL character (\\u0000) is not taken");
		if (u >= 0xDC00 && u <= 0xDFFF)
			return json_check__fail(c, "a lone low surrogate escape");
		if (u >= 0xD800 && u <= 0xDBFF) {
			int lo = c->end - c->p >= 12 && c->p[6] == '\\' && c->p[7] == 'u'
				     ? json_check__hex(c->p + 8)
				     : -1;
			if (lo < 0xDC00 || lo > 0xDFFF)
				return json_check__fail(c, "a lone high surrogate escape");
			c->p += 6;
		}
		c->p += 6;
	}
	return json_check__fail(c, "the body ends in the middle of a string");
}

static int json_check__digits(struct json_check__c *c)
{
	if (c->p >= c->end || *c->p < '0' || *c->p > '9')
		return json_check__fail(c,
					"a number JSON does not have (JSON numbers are "
					"-?digits[.digits][e[+-]digits], without NaN or Infinity)");
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return 0;
}

static int json_check__number(struct json_check__c *c)
{
	if (*c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0') {
		c->p++;
		if (c->p < c->end && *c->p >= '0' && *c->p <= '9')
			return json_check__fail(c, "a number with a leading zero is not JSON");
	} else if (json_check__digits(c) != 0) {
		return -1;
	}
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (json_check__digits(c) != 0)
			return -1;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (json_check__digits(c) != 0)
			return -1;
	}
	return 0;
}

/* The text of a checked string span [p, end) with its escapes resolved,
 * into out (cap bytes at least the span's length + 4): names written with
 * different escapes compare equal. Returns its length. */
static size_t json_check__decode(const unsigned char *p, const unsigned char *end, char *out,
				 size_t cap)
{
	size_t n = 0;
	for (p++; p < end && *p != '"' && n + 4 < cap;) {
		if (*p != '\\') {
			out[n++] = (char)*p++;
			continue;
		}
		static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		const char *k = p[1] != 'u' ? strchr(from, p[1]) : NULL;
		if (k) {
			out[n++] = to[k - from];
			p += 2;
			continue;
		}
		unsigned cp = (unsigned)json_check__hex(p + 2);
		p += 6;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			cp = 0x10000 + ((cp - 0xD800) << 10) +
			     ((unsigned)json_check__hex(p + 2) - 0xDC00);
			p += 6;
		}
		if (cp < 0x80) {
			out[n++] = (char)cp;
		} else if (cp < 0x800) {
			out[n++] = (char)(0xC0 | cp >> 6);
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else if (cp < 0x10000) {
			out[n++] = (char)(0xE0 | cp >> 12);
			out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		} else {
			out[n++] = (char)(0xF0 | cp >> 18);
			out[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
			out[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
			out[n++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	return n;
}

/* The name at [from, to) of object obj: a member of the same name before it
 * is an error. */
static int json_check__key(struct json_check__c *c, size_t from, size_t to, unsigned obj)
{
	char *a = NULL, *b = NULL;
	size_t la = 0;
	int dup = 0;

	for (size_t i = c->nkeys; i-- > 0 && c->keys[i].obj == obj && !dup;) {
		size_t f = c->keys[i].from, t = c->keys[i].to;
		if (t - f == to - from && memcmp(c->start + f, c->start + from, t - f) == 0) {
			dup = 1;
			break;
		}
		if (!memchr(c->start + f, '\\', t - f) && !memchr(c->start + from, '\\', to - from))
			continue;
		/* Written differently: compare what the escapes stand for (the
		 * decoded text is never longer than the written one). */
		if (!a) {
			if (!(a = malloc(to - from + 8)))
				return json_check__fail(c, "out of memory");
			la = json_check__decode(c->start + from, c->start + to, a, to - from + 8);
		}
		if (!(b = malloc(t - f + 8))) {
			free(a);
			return json_check__fail(c, "out of memory");
		}
		size_t lb = json_check__decode(c->start + f, c->start + t, b, t - f + 8);
		dup = la == lb && memcmp(a, b, la) == 0;
		free(b);
	}
	free(a);
	if (dup) {
		c->p = c->start + from; /* the error names where the second one starts */
		return json_check__fail(c, "a member name appears twice in one object");
	}
	if (c->nkeys == c->capkeys) {
		size_t cap = c->capkeys ? 2 * c->capkeys : 16;
		void *k = realloc(c->keys, cap * sizeof *c->keys);
		if (!k)
			return json_check__fail(c, "out of memory");
		c->keys = k;
		c->capkeys = cap;
	}
	c->keys[c->nkeys].from = from;
	c->keys[c->nkeys].to = to;
	c->keys[c->nkeys].obj = obj;
	c->nkeys++;
	return 0;
}

static int json_check__value(struct json_check__c *c, int depth);

/* An object or an array at c->p. */
static int json_check__nest(struct json_check__c *c, int depth)
{
	int object = *c->p == '{';
	unsigned obj = ++c->nobj;
	size_t first_key = c->nkeys;
	char close = object ? '}' : ']';

	if (depth >= c->max_depth)
		return json_check__fail(c, json_check__too_deep);
	c->p++;
	json_check__ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return 0;
	}
	for (;;) {
		if (object) {
			json_check__ws(c);
			if (c->p >= c->end || *c->p != '"')
				return json_check__bad(c);
			size_t from = (size_t)(c->p - c->start);
			if (json_check__string(c) != 0 ||
			    json_check__key(c, from, (size_t)(c->p - c->start), obj) != 0)
				return -1;
			json_check__ws(c);
			if (c->p >= c->end || *c->p != ':')
				return json_check__fail(c, "a member name must be followed by ':'");
			c->p++;
		}
		if (json_check__value(c, depth + 1) != 0)
			return -1;
		json_check__ws(c);
		if (c->p < c->end && *c->p == ',') {
			c->p++;
			continue;
		}
		if (c->p < c->end && *c->p == close) {
			c->p++;
			/* The names of an object done with cannot clash any more. */
			c->nkeys = first_key;
			return 0;
		}
		return c->p < c->end && *c->p != '\0' && *c->p != '/' && *c->p != '#'
			   ? json_check__fail(c, object ? "expected ',' or '}'"
							: "expected ',' or ']'")
			   : json_check__bad(c);
	}
}

static int json_check__value(struct json_check__c *c, int depth)
{
	static const char words[][6] = {"true", "false", "null"};

	json_check__ws(c);
	if (c->p >= c->end)
		return json_check__bad(c);
	if (*c->p == '{' || *c->p == '[')
		return json_check__nest(c, depth);
	if (*c->p == '"')
		return json_check__string(c);
	if (*c->p == '-' || (*c->p >= '0' && *c->p <= '9'))
		return json_check__number(c);
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i]);
		if ((size_t)(c->end - c->p) >= n && memcmp(c->p, words[i], n) == 0) {
			c->p += n;
			return 0;
		}
	}
	if (*c->p == 'N' || *c->p == 'I')
		return json_check__fail(c, "NaN and Infinity are not JSON");
	return json_check__bad(c);
}

int json_check_strict(const char *text, size_t len, int max_depth, char *why, size_t whylen)
{
	struct json_check__c c = {.p = (const unsigned char *)text,
				  .end = (const unsigned char *)text + len,
				  .start = (const unsigned char *)text,
				  .max_depth = max_depth};
	if (json_check__value(&c, 0) == 0) {
		json_check__ws(&c);
		if (c.p < c.end) {
			if (*c.p == '\0')
				json_check__fail(&c, "a NUL byte is not JSON");
			else if (*c.p == '/' || *c.p == '#')
				json_check__fail(&c, "comments are not JSON");
			else
				json_check__fail(&c, "more after the JSON value");
		}
	}
	free(c.keys);
	if (!c.why)
		return 0;
	if (whylen && c.why == json_check__too_deep)
		snprintf(why, whylen, "at byte %zu: %s %d levels", c.at, c.why, max_depth);
	else if (whylen)
		snprintf(why, whylen, "at byte %zu: %s", c.at, c.why);
	return -1;
}

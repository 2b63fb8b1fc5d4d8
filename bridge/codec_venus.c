/* The Venus text protocol codec (include/codec_venus.h). Replies are parsed in
 * place: a pair is two (pointer, length) slices of the caller's buffer, so a
 * 1 KiB status dump costs no allocation and no copy. */
#include "codec_venus.h"

#include <stdio.h>
#include <string.h>

#include "mb_error.h"

static int codec_venus__is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0';
}

/* Keys are short identifiers (`tot_i`, `wifi_n`, `get_power`); anything else
 * in a key means the message is not what we think it is. */
static int codec_venus__key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int codec_venus__key_ok(const char *k, size_t n)
{
	if (n == 0 || n > VENUS_MAX_KEY)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!codec_venus__key_char(k[i]))
			return 0;
	return 1;
}

/* Values are free text (a WiFi name may hold anything printable, UTF-8
 * included); control characters never occur in a genuine reply. */
static int codec_venus__val_ok(const char *v, size_t n)
{
	if (n > VENUS_MAX_VALUE)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

static int codec_venus__key_is(const struct venus_pair *p, const char *key)
{
	size_t n = strlen(key);
	return p->klen == n && memcmp(p->key, key, n) == 0;
}

int codec_venus_int(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0;

	if (!s || !out)
		return MB_EINVAL;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	if (i == n)
		return MB_EPARSE;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return MB_EPARSE;
		unsigned d = (unsigned)(s[i] - '0');
		/* INT64_MIN has one more unit than INT64_MAX. */
		uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		if (v > (lim - d) / 10)
			return MB_ERANGE;
		v = v * 10 + d;
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

int codec_venus_parse(const char *buf, size_t len, struct venus_reply *r)
{
	if (!r)
		return MB_EINVAL;
	/* Reset first, whatever follows: a caller that ignores the return
	 * must find an empty reply, never the pairs of the previous message
	 * (which point into a buffer that may be freed by now). */
	r->npairs = 0;
	r->malformed = 0;
	r->has_cd = 0;
	r->cd = -1;
	if (!buf)
		return len == 0 ? 0 : MB_EINVAL; /* an empty MQTT message has no buffer */

	size_t b = 0, e = len;
	while (b < e && codec_venus__is_space(buf[b]))
		b++;
	while (e > b && codec_venus__is_space(buf[e - 1]))
		e--;

	int first = 1;
	while (b < e) {
		const char *piece = buf + b;
		const char *comma = memchr(piece, ',', e - b);
		size_t plen = comma ? (size_t)(comma - piece) : e - b;
		b += plen + (comma ? 1 : 0);
		if (plen == 0)
			continue; /* ",," or a trailing comma: nothing lost */

		const char *eq = memchr(piece, '=', plen);
		if (!eq) {
			r->malformed++;
			first = 0;
			continue;
		}
		size_t klen = (size_t)(eq - piece), vlen = plen - klen - 1;
		if (!codec_venus__key_ok(piece, klen) || !codec_venus__val_ok(eq + 1, vlen)) {
			r->malformed++;
			first = 0;
			continue;
		}
		struct venus_pair p = {
		    .key = piece, .klen = (uint16_t)klen, .val = eq + 1, .vlen = (uint16_t)vlen};
		/* Only a leading cd= names the command answered; a later one is
		 * an ordinary pair. */
		if (first && codec_venus__key_is(&p, "cd") &&
		    codec_venus_int(p.val, p.vlen, &r->cd) == 0) {
			r->has_cd = 1;
			first = 0;
			continue;
		}
		first = 0;
		if (r->npairs == VENUS_MAX_PAIRS) {
			r->malformed++;
			continue;
		}
		r->pairs[r->npairs++] = p;
	}
	return (int)r->npairs;
}

const struct venus_pair *codec_venus_find(const struct venus_reply *r, const char *key)
{
	if (!r || !key)
		return NULL;
	for (size_t i = 0; i < r->npairs; i++)
		if (codec_venus__key_is(&r->pairs[i], key))
			return &r->pairs[i];
	return NULL;
}

enum venus_kind codec_venus_classify(const struct venus_reply *r, int *ret)
{
	if (!r || r->npairs == 0)
		return VENUS_MALFORMED;
	const struct venus_pair *p = codec_venus_find(r, "ret");
	if (!p)
		return VENUS_STATUS;
	/* An acknowledgement is `ret` alone; `ret` mixed with data is neither
	 * a clean answer to a write nor a status dump. */
	int64_t v;
	if (r->npairs != 1 || codec_venus_int(p->val, p->vlen, &v) != 0 || (v != 0 && v != 1))
		return VENUS_MALFORMED;
	if (ret)
		*ret = (int)v;
	return VENUS_ACK;
}

int codec_venus_parse_ack(const char *buf, size_t len, int *ret, int64_t *cd)
{
	struct venus_reply r;
	int v = 0;
	if (codec_venus_parse(buf, len, &r) < 0 || r.malformed ||
	    codec_venus_classify(&r, &v) != VENUS_ACK)
		return MB_EPARSE;
	if (ret)
		*ret = v;
	if (cd)
		*cd = r.has_cd ? r.cd : -1;
	return 0;
}

/* The next field separator: '|' (the Venus periods, 14|0|17|0|...) or ':'
 * (the B2500's times, e1=0:30). */
static const char *codec_venus__sep(const char *v, const char *end)
{
	for (; v < end; v++)
		if (*v == '|' || *v == ':')
			return v;
	return NULL;
}

int codec_venus_field(const struct venus_pair *p, int field, const char **s, size_t *n)
{
	if (!p || !s || !n)
		return MB_EINVAL;
	const char *v = p->val, *end = p->val + p->vlen;
	if (field < 0) {
		*s = v;
		*n = p->vlen;
		return 0;
	}
	for (int i = 0; i < field; i++) {
		const char *bar = codec_venus__sep(v, end);
		if (!bar)
			return MB_ENOENT;
		v = bar + 1;
	}
	const char *bar = codec_venus__sep(v, end);
	*s = v;
	*n = (size_t)((bar ? bar : end) - v);
	return 0;
}

int codec_venus_pair_int(const struct venus_pair *p, int field, int64_t *out)
{
	const char *s;
	size_t n;
	int rc = codec_venus_field(p, field, &s, &n);
	return rc ? rc : codec_venus_int(s, n, out);
}

int codec_venus_pair_str(const struct venus_pair *p, int field, char *out, size_t outlen)
{
	const char *s;
	size_t n;
	if (!out || outlen == 0)
		return MB_EINVAL;
	int rc = codec_venus_field(p, field, &s, &n);
	if (rc) {
		out[0] = 0;
		return rc;
	}
	size_t k = n < outlen - 1 ? n : outlen - 1;
	memcpy(out, s, k);
	out[k] = 0;
	return k < n ? MB_ETOOBIG : 0;
}

/* Parse the placeholder starting after '{' at t: its index into args
 * ({value} is 0), the width to zero-pad the number to (`{1:02}`: 2; 0 when
 * not padded) and where it ends (just past '}'). MB_EPARSE if unknown. */
static int codec_venus__placeholder(const char *t, long *index, int *width, const char **after)
{
	const char *close = strchr(t, '}');
	if (!close)
		return MB_EPARSE;
	size_t n = (size_t)(close - t);
	const char *colon = memchr(t, ':', n);
	*width = 0;
	if (colon) {
		/* ":0W", W one digit 1..9: a minute as "05" (docs/user-guide.md) */
		if (close - colon != 3 || colon[1] != '0' || colon[2] < '1' || colon[2] > '9')
			return MB_EPARSE;
		*width = colon[2] - '0';
		n = (size_t)(colon - t);
	}
	if (n == 5 && memcmp(t, "value", 5) == 0) {
		*index = 0;
	} else {
		/* Up to three digits: no command has more than a few fields. */
		if (n == 0 || n > 3)
			return MB_EPARSE;
		long v = 0;
		for (size_t i = 0; i < n; i++) {
			if (t[i] < '0' || t[i] > '9')
				return MB_EPARSE;
			v = v * 10 + (t[i] - '0');
		}
		*index = v;
	}
	*after = close + 1;
	return 0;
}

int codec_venus_render(const char *tmpl, const int64_t *args, size_t nargs, char *out,
		       size_t outlen)
{
	size_t used = 0;
	if (!tmpl || !out || outlen == 0 || (nargs && !args))
		return MB_EINVAL;
	for (const char *t = tmpl; *t;) {
		if (*t != '{') {
			if (used + 1 >= outlen)
				return MB_ETOOBIG;
			out[used++] = *t++;
			continue;
		}
		long idx;
		int width;
		const char *after;
		if (codec_venus__placeholder(t + 1, &idx, &width, &after) != 0 || idx < 0 ||
		    (size_t)idx >= nargs)
			return MB_EPARSE;
		char num[24];
		int k = snprintf(num, sizeof num, "%0*lld", width, (long long)args[idx]);
		if (k < 0 || used + (size_t)k >= outlen)
			return MB_ETOOBIG;
		memcpy(out + used, num, (size_t)k);
		used += (size_t)k;
		t = after;
	}
	out[used] = 0;
	return (int)used;
}

int codec_venus_template_max_index(const char *tmpl)
{
	long max = -1;
	if (!tmpl)
		return MB_EINVAL;
	for (const char *t = tmpl; *t;) {
		if (*t != '{') {
			t++;
			continue;
		}
		long idx;
		int width;
		const char *after;
		if (codec_venus__placeholder(t + 1, &idx, &width, &after) != 0)
			return MB_EPARSE;
		if (idx > max)
			max = idx;
		t = after;
	}
	return (int)max;
}

bool codec_venus_id_valid(const char *id)
{
	if (!id)
		return false;
	size_t i = 0;
	for (; id[i]; i++)
		if (i >= VENUS_ID_LEN ||
		    !((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return i == VENUS_ID_LEN;
}

bool codec_venus_topic_level_valid(const char *s)
{
	if (!s || !*s)
		return false;
	size_t i = 0;
	for (; s[i]; i++)
		if (i >= 64 || s[i] == '/' || s[i] == '+' || s[i] == '#' ||
		    (unsigned char)s[i] < 0x20)
			return false;
	return true;
}

int codec_venus_topic(char *out, size_t outlen, const char *prefix, const char *type,
		      const char *dir, const char *id)
{
	if (!out || !prefix || !type || !dir || !id)
		return MB_EINVAL;
	int n = snprintf(out, outlen, "%s/%s/%s/%s/ctrl", prefix, type, dir, id);
	if (n < 0 || (size_t)n >= outlen)
		return MB_ETOOBIG;
	return n;
}

bool codec_venus_type_encrypts(const char *type)
{
	static const char encrypted[][4] = {"HMA", "HMF", "HMK", "HMJ"};
	if (!type)
		return false;
	size_t n = strcspn(type, "-");
	for (size_t i = 0; i < sizeof encrypted / sizeof encrypted[0]; i++)
		if (n == 3 && memcmp(type, encrypted[i], 3) == 0)
			return true;
	return false;
}

/* Fuzz target for the Venus text codec (bridge/codec_venus.c), two ways.
 *
 * Replies: the whole input is an MQTT payload from the device. It is parsed,
 * classified and read pair by pair, field by field, as the transport does;
 * every slice must lie inside the input and the acknowledgement parser must
 * agree with the general one.
 *
 * Templates: the input up to its first NUL byte is a map's write template,
 * the bytes after it are the values (8 bytes each). Rendering must never
 * overrun the output, whatever its size, and must agree with the template
 * checker the map loader relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mb_error.h"
#include "codec_venus.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

static int fz_inside(const char *s, size_t n, const char *buf, size_t len)
{
	return s >= buf && n <= len && (size_t)(s - buf) <= len - n;
}

static void fz_reply(const char *buf, size_t len)
{
	static struct venus_reply r; /* 3 KiB: keep it off the fuzzer's stack */
	int n = codec_venus_parse(buf, len, &r);
	FZ_CHECK(n >= 0 && (size_t)n == r.npairs && r.npairs <= VENUS_MAX_PAIRS);
	for (size_t i = 0; i < r.npairs; i++) {
		const struct venus_pair *p = &r.pairs[i];
		FZ_CHECK(p->klen >= 1 && p->klen <= VENUS_MAX_KEY && p->vlen <= VENUS_MAX_VALUE);
		FZ_CHECK(fz_inside(p->key, p->klen, buf, len));
		FZ_CHECK(fz_inside(p->val, p->vlen, buf, len));
		for (int field = -1; field < 8; field++) {
			const char *s;
			size_t fl;
			if (codec_venus_field(p, field, &s, &fl) == 0)
				FZ_CHECK(fz_inside(s, fl, p->val, p->vlen));
			int64_t v;
			int rc = codec_venus_pair_int(p, field, &v);
			FZ_CHECK(rc == 0 || rc == MB_ENOENT || rc == MB_EPARSE || rc == MB_ERANGE);
			char small[5], big[VENUS_MAX_VALUE + 1];
			rc = codec_venus_pair_str(p, field, small, sizeof small);
			FZ_CHECK(strlen(small) < sizeof small);
			rc = codec_venus_pair_str(p, field, big, sizeof big);
			FZ_CHECK(rc == 0 || rc == MB_ENOENT);
		}
	}
	static const char *const keys[] = {"ret", "cd", "tot_i", "tim_0", "wifi_n", "mcp_w", ""};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const struct venus_pair *p = codec_venus_find(&r, keys[i]);
		FZ_CHECK(!p ||
			 (p->klen == strlen(keys[i]) && memcmp(p->key, keys[i], p->klen) == 0));
	}

	int ret = -1, ret2 = -1;
	enum venus_kind kind = codec_venus_classify(&r, &ret);
	FZ_CHECK(kind == VENUS_MALFORMED || kind == VENUS_ACK || kind == VENUS_STATUS);
	if (kind == VENUS_ACK)
		FZ_CHECK(ret == 0 || ret == 1);
	int64_t cd = -2;
	if (codec_venus_parse_ack(buf, len, &ret2, &cd) == 0) {
		/* A clean acknowledgement is an acknowledgement to the general
		 * parser too, with the same verdict. */
		FZ_CHECK(kind == VENUS_ACK && ret2 == ret);
		FZ_CHECK(r.has_cd ? cd == r.cd : cd == -1);
	}
}

static void fz_template(const char *tmpl, size_t tlen, const uint8_t *rest, size_t restlen)
{
	int64_t args[16];
	size_t nargs = restlen / 8 < 16 ? restlen / 8 : 16;
	for (size_t i = 0; i < nargs; i++) {
		uint64_t v = 0;
		for (int b = 0; b < 8; b++)
			v = v << 8 | rest[8 * i + (size_t)b];
		args[i] = (int64_t)v;
	}

	int max = codec_venus_template_max_index(tmpl);
	FZ_CHECK(max >= -1 || max == MB_EPARSE);

	/* Enough room for any rendering: each placeholder is at least 3 bytes
	 * and becomes at most 20. */
	size_t biglen = tlen * 7 + 32;
	char *big = malloc(biglen);
	FZ_CHECK(big != NULL);
	/* No values, just enough of them (when the template needs no more than
	 * there are), and all of them. */
	size_t tries[3] = {0, max >= 0 && (size_t)max < nargs ? (size_t)max + 1 : 0, nargs};
	for (size_t t = 0; t < 3; t++) {
		size_t k = tries[t];
		int rc = codec_venus_render(tmpl, k ? args : NULL, k, big, biglen);
		if (max == MB_EPARSE || max >= (int)k) {
			FZ_CHECK(rc == MB_EPARSE);
			continue;
		}
		FZ_CHECK(rc >= 0 && (size_t)rc == strlen(big) && (size_t)rc < biglen);
		if (max == -1)
			FZ_CHECK((size_t)rc == tlen && memcmp(big, tmpl, tlen) == 0);
		if (t != 2)
			continue;
		/* Shorter buffers are refused, never overrun; one more byte than
		 * the text is enough. Exact-size allocations so that ASan sees a
		 * write past the end. */
		size_t sizes[] = {1, 2, (size_t)rc / 2, (size_t)rc, (size_t)rc + 1};
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			size_t outlen = sizes[i];
			if (outlen == 0)
				continue;
			char *small = malloc(outlen);
			FZ_CHECK(small != NULL);
			int r2 = codec_venus_render(tmpl, k ? args : NULL, k, small, outlen);
			if (outlen > (size_t)rc)
				FZ_CHECK(r2 == rc && memcmp(small, big, (size_t)rc + 1) == 0);
			else
				FZ_CHECK(r2 == MB_ETOOBIG);
			free(small);
		}
	}
	free(big);

	/* The same text as the pieces of a topic. */
	char topic[128];
	int ok = codec_venus_topic_level_valid(tmpl);
	FZ_CHECK(!ok || (tlen >= 1 && tlen <= 64 && !strchr(tmpl, '/')));
	ok = codec_venus_id_valid(tmpl);
	FZ_CHECK(!ok || tlen == VENUS_ID_LEN);
	int n = codec_venus_topic(topic, sizeof topic, "hame_energy", tmpl, "App", "0123456789ab");
	FZ_CHECK(n == MB_ETOOBIG ||
		 (n >= 0 && (size_t)n == strlen(topic) && n < (int)sizeof topic));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_reply((const char *)data, size);

	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *tmpl = malloc(tlen + 1);
	if (!tmpl)
		return 0;
	memcpy(tmpl, data, tlen);
	tmpl[tlen] = 0;
	fz_template(tmpl, tlen, nul ? nul + 1 : data + size, nul ? size - tlen - 1 : 0);
	free(tmpl);
	return 0;
}

/* The Venus text protocol (docs/design.md, "Vendor documents" and "Known errors
 * in the vendor documents"):
 * commands and replies are `key=value` pairs separated by commas, e.g.
 * `cd=16,cp=1200` out and `tot_i=44785,...,wifi_n=Hame` or `ret=1` back.
 * Pure functions over caller buffers: nothing here allocates, does I/O or
 * keeps state, so that the unit tests and fuzzers can call it alone. */
#ifndef CODEC_VENUS_H
#define CODEC_VENUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A status dump carries ~50 keys; leave room for firmware that adds more. */
#define VENUS_MAX_PAIRS 128
/* Longest key and value accepted; longer pairs are malformed. */
#define VENUS_MAX_KEY 32
#define VENUS_MAX_VALUE 256
/* The longest message a Venus device sends is its status dump: about 50
 * keys, 830 bytes in the document's example, under 1.5 KiB with every value
 * at its widest. Anything above 4 KiB is not a Venus reply and is dropped
 * unparsed (docs/user-guide.md, "Writes"). */
#define VENUS_MAX_MSG 4096
/* The device ID: the Bluetooth MAC, 12 lower-case hex digits. */
#define VENUS_ID_LEN 12

/* One pair, pointing into the parsed buffer (not NUL-terminated). */
struct venus_pair {
	const char *key;
	const char *val;
	uint16_t klen, vlen;
};

/* A parsed message. `cd` is the optional leading `cd=N` (some firmware
 * prefixes replies with the command they answer); it is not in pairs[]. */
struct venus_reply {
	struct venus_pair pairs[VENUS_MAX_PAIRS];
	size_t npairs;
	size_t malformed; /* pairs skipped: no '=', empty or bad key, too long, too many */
	int has_cd;
	int64_t cd;
};

enum venus_kind {
	VENUS_MALFORMED = 0, /* nothing usable */
	VENUS_ACK,	     /* `ret=0|1`, optionally after `cd=N,` */
	VENUS_STATUS,	     /* key/value pairs without `ret` */
};

/* Parse len bytes of buf into r. Surrounding white space is ignored; empty
 * pieces (",,", a trailing comma) are skipped silently; malformed pairs are
 * skipped and counted in r->malformed. r points into buf afterwards.
 * Returns the number of pairs, or MB_EINVAL for a NULL r, or a NULL buf with
 * len > 0 (buf NULL with len 0 is an empty message: 0 pairs). r is reset to
 * an empty reply before anything else, so even after an error it holds no
 * pair of an earlier message. */
int codec_venus_parse(const char *buf, size_t len, struct venus_reply *r);

/* What a parsed message is. For VENUS_ACK, *ret (may be NULL) gets 0 or 1. */
enum venus_kind codec_venus_classify(const struct venus_reply *r, int *ret);

/* Parse an acknowledgement: 0 and *ret = 0|1, or MB_EPARSE when buf is not
 * exactly `ret=0|1` with an optional leading `cd=N,`. *cd gets N or -1. */
int codec_venus_parse_ack(const char *buf, size_t len, int *ret, int64_t *cd);

/* The pair named key (NUL-terminated), or NULL. */
const struct venus_pair *codec_venus_find(const struct venus_reply *r, const char *key);

/* Field `field` (0-based) of a value whose fields are separated by `|` or
 * `:` (a Venus period 14|0|17|0|127|800|1, a B2500 time 0:30), or the whole value when
 * field < 0. 0 and *s, *n set, or MB_ENOENT when the value has fewer fields. */
int codec_venus_field(const struct venus_pair *p, int field, const char **s, size_t *n);

/* A decimal integer (optional sign, digits only) of exactly n bytes.
 * 0, or MB_EPARSE (empty, other characters) / MB_ERANGE (overflow). */
int codec_venus_int(const char *s, size_t n, int64_t *out);

/* codec_venus_field() then codec_venus_int(). */
int codec_venus_pair_int(const struct venus_pair *p, int field, int64_t *out);

/* Copy field `field` (or the whole value, field < 0) of p as a C string.
 * MB_ETOOBIG when it does not fit outlen (out then holds a truncated copy). */
int codec_venus_pair_str(const struct venus_pair *p, int field, char *out, size_t outlen);

/* Render a command template into out (NUL-terminated). `{value}` stands for
 * args[0], `{N}` for args[N]; `{N:0W}` (W a digit 1..9) zero-pads the number
 * to W digits (`{1:02}` renders 5 as "05"); everything else is copied.
 * Returns the length,
 * MB_EPARSE for an unknown placeholder (a name other than value or digits, an
 * index >= nargs, an unterminated `{`), MB_ETOOBIG when out is too small.
 * With nargs == 0 it checks the template's syntax only (every placeholder
 * then fails), so pass the real count to validate a map at load time. */
int codec_venus_render(const char *tmpl, const int64_t *args, size_t nargs, char *out,
		       size_t outlen);

/* Highest placeholder index a template uses ({value} counts as 0), -1 when it
 * has none, MB_EPARSE when its syntax is wrong. For checking maps at start. */
int codec_venus_template_max_index(const char *tmpl);

/* Is id exactly 12 lower-case hex digits? */
bool codec_venus_id_valid(const char *id);

/* Is s usable as one MQTT topic level (non-empty, no '/', '+', '#', no
 * control characters, at most 64 bytes)? */
bool codec_venus_topic_level_valid(const char *s);

/* Length of the encrypted topic ID (32 hex digits: one AES block). */
#define VENUS_TOPIC_ID_LEN 32

/* The topic ID of the marstek_energy topics of B2500 types HMA, HMF, HMK and
 * HMJ on newer firmware: mac (12 lower-case hex digits) encrypted with
 * AES-128-CBC under the fixed key and a zero IV, as 32 lower-case hex digits
 * into out (outlen >= 33). Returns 32, MB_EINVAL for a bad mac or a short
 * out, MB_EPROTO when the daemon is built without libcrypto (WITH_CRYPTO=0). */
int codec_venus_topic_id_encrypt(const char *mac, char *out, size_t outlen);

/* Does a type need that ID in its marstek_energy topics? Its part before
 * the first '-' (HMA-1 -> HMA) is one of HMA, HMF, HMK, HMJ. */
bool codec_venus_type_encrypts(const char *type);

/* `<prefix>/<type>/<dir>/<id>/ctrl` into out; dir is "App" (commands) or
 * "device" (replies). Returns the length or MB_ETOOBIG. */
int codec_venus_topic(char *out, size_t outlen, const char *prefix, const char *type,
		      const char *dir, const char *id);

#endif

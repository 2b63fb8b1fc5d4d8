/* The libconfig key checker (docs/design.md, "Style": tables over code),
 * shared by the config loader, the map loader and the protocols' device
 * blocks. Its names keep the `config_` prefix of the config language they
 * check: every protocol's key table is written in them. */
#ifndef KEYS_H
#define KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A group is checked against a const table of the keys it may hold
 * (docs/design.md, "Style": tables over code): unknown keys, wrong types, ranges, choices and
 * missing required keys are all reported as "file:line: what is wrong", naming the key by its path
 * ("devices.[1].unit_id"). Values are stored at offsets into a target struct. */
struct config_setting_t; /* libconfig's */

enum config_kind {
	CONFIG_K_STRING, /* char *, strdup'd (the old value is freed) */
	CONFIG_K_INT,	 /* int; ints and 64-bit ints (123L) accepted */
	CONFIG_K_INT64,	 /* int64_t */
	CONFIG_K_UINT32, /* uint32_t */
	CONFIG_K_UINT16, /* uint16_t */
	CONFIG_K_BOOL,	 /* int, 0/1 */
	CONFIG_K_BOOL8,	 /* int8_t, 0/1 */
	CONFIG_K_FLOAT,	 /* double; integers accepted */
	CONFIG_K_CHOICE, /* uint8_t: choice_base + index of the string in choices */
	CONFIG_K_GROUP,	 /* a group checked with sub (at target + off), then fn */
	CONFIG_K_CUSTOM, /* fn(parser, setting, target) does everything */
	CONFIG_K_LATER,	 /* accepted as is; the caller reads it after the table */
};

enum config_key_flags {
	CONFIG_F_REQUIRED = 1u << 0,
	CONFIG_F_NONEMPTY = 1u << 1, /* strings */
	/* An old spelling still read: an unknown key's message leaves it out
	 * of the keys it lists. */
	CONFIG_F_OLD = 1u << 2,
};

struct config_parser {
	char *err;
	size_t errlen;
	const char *file; /* for settings that carry no file name */
	void *ctx;	  /* free for custom handlers */
};

/* What a number is counted in, for messages: "must be 1..3600000 (ms)". */
enum config_unit {
	CONFIG_U_NONE,
	CONFIG_U_MS,
	CONFIG_U_S,
	CONFIG_U_REGISTERS,
};

/* One key of a table. The tables are const and many (about 200 keys), so a
 * key is kept small and holds as few pointers as it can: in a
 * position-independent executable each pointer in a const table costs a
 * relocation (24 bytes on 64-bit) and makes its page private to the process
 * (docs/footprint.md). The name is held in the key, the numbers are as narrow
 * as the values they hold, and the two pointers are shared by the kinds
 * that use them (56 bytes on 64-bit, 48 on 32-bit). */
#define CONFIG_KEY_NAME_MAX 23 /* characters in a key's name */
struct config_key {
	char name[CONFIG_KEY_NAME_MAX + 1];
	uint8_t kind;  /* enum config_kind */
	uint8_t flags; /* enum config_key_flags */
	uint8_t unit;  /* enum config_unit */
	/* CONFIG_K_CHOICE: the value stored for choices[0]; then
	 * choice_size, the bytes of one entry of choices (CONFIG_CHOICES). */
	uint8_t choice_base, choice_size;
	uint8_t nsub; /* CONFIG_K_GROUP: keys in sub */
	uint16_t off; /* where the value goes in the target */
	/* Integer kinds: the range; both 0 = the field type's range (which
	 * for CONFIG_K_INT64 is all of int64_t). */
	int32_t min;
	uint32_t max;
	union {
		/* CONFIG_K_STRING: NULL when acceptable, else what the value
		 * must be, e.g. "must be 8 upper-case hex digits". */
		const char *(*check)(const char *value);
		/* CONFIG_K_CHOICE: the first of an array of char[choice_size],
		 * ended by an empty string (CONFIG_CHOICES). */
		const char *choices;
		/* CONFIG_K_GROUP: called after sub, with target + off;
		 * CONFIG_K_CUSTOM: called instead of any checking, with target
		 * + off too (the field the handler fills, so that it need not
		 * know the target's struct). 0 or MB_E*. */
		int (*fn)(struct config_parser *p, const struct config_setting_t *s, void *target);
	};
	union {
		const struct config_key *sub; /* CONFIG_K_GROUP */
		/* CONFIG_K_CUSTOM and CONFIG_K_LATER: are the values this key
		 * stored in targets a and b the same (keys_same)? true, or
		 * false with the path of what differs, relative to the table,
		 * in which. NULL: never the same, so that a reload replaces
		 * what holds such a key rather than keep a value nobody
		 * compared. */
		bool (*same)(const struct config_key *k, const void *a, const void *b, char *which,
			     size_t len);
	};
};

/* The choices of a CONFIG_K_CHOICE key, from an array of char[N] ended by
 * "": `static const char levels[][8] = {"error", "info", ""};` then
 * `{.name = "level", .kind = CONFIG_K_CHOICE, CONFIG_CHOICES(levels)}`.
 * (An array of char arrays, unlike one of pointers, needs no relocation.) */
#define CONFIG_CHOICES(array) .choices = (array)[0], .choice_size = sizeof((array)[0])

typedef struct config_t config_t; /* libconfig's */
/* Read a libconfig file into lc (config_init'ed here, @include relative to
 * the file's folder). 0, or MB_ENOENT/MB_EIO/MB_EPARSE with "file: cannot
 * open: reason" or "file:line: libconfig's text" in err (lc destroyed then). */
int keys_parse_file(config_t *lc, const char *path, char *err, size_t errlen);

/* Check every member of `group` against keys[0..nkeys) and store it into
 * target; then report the first required key that is missing. 0 or MB_EPARSE. */
int keys_parse(struct config_parser *p, const struct config_setting_t *group,
	       const struct config_key *keys, size_t nkeys, void *target);
/* Are the values that keys[0..nkeys) store in targets a and b the same?
 * Every kind is compared by what the key stores (strings by content, NULL
 * only equal to NULL; groups key by key). true, or false with the path of the
 * first key that differs ("mqtt.tls.ca_file") in which. */
bool keys_same(const struct config_key *keys, size_t nkeys, const void *a, const void *b,
	       char *which, size_t len);
/* Free what keys[0..nkeys) stored in target (strings, groups' strings); the
 * target itself is the caller's. */
void keys_free(const struct config_key *keys, size_t nkeys, void *target);

/* Write "file:line: <fmt...>" for setting s into p->err; returns MB_EPARSE. */
int keys_error(struct config_parser *p, const struct config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The path of s as libconfig spells it, e.g. "devices.[1].mqtt.port". */
const char *keys_path(const struct config_setting_t *s, char *buf, size_t len);
/* "an integer", "a string", ... for messages. */
const char *keys_type_name(const struct config_setting_t *s);

/* keys_error() on setting x (its file:line), the message the path of
 * setting s ("registers.[3]") followed by fmt (".length is missing..."):
 * s is x or a group that holds it. The path is computed only here, when a
 * message is written: the path of a list element needs libconfig's
 * config_setting_index(), a linear scan of the list, and doing that for
 * every key of a map with thousands of registers made loading quadratic.
 * Returns MB_EPARSE. */
int keys_error_at(struct config_parser *p, const struct config_setting_t *x,
		  const struct config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* keys_error_at(p, s, s, ...) for a setting of the wrong type: the path of
 * s, what it must be (" must be a group { ... }"), then ", not " and what
 * it is ("a string", keys_type_name). Returns MB_EPARSE. */
int keys_error_type(struct config_parser *p, const struct config_setting_t *s, const char *what);

#endif

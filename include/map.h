/* Map files: what each register of a device model means (docs/design.md, "Map
 * files"). A map is loaded once with libconfig, checked, and is read-only
 * afterwards; devices share it. Register descriptors are public because the
 * device model, the transports and the reference printer all read them. */
#ifndef MAP_H
#define MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* MAP_FLOAT32: an IEEE 754 single in two words (meters such as the Eastron
 * SDM630); read-only, its raw value the 32 bits as an unsigned integer. */
enum map_type { MAP_INT16, MAP_UINT16, MAP_INT32, MAP_UINT32, MAP_STRING, MAP_FLOAT32 };
enum map_table { MAP_HOLDING = 0, MAP_INPUT = 1, MAP_TABLES = 2 };
enum map_access { MAP_R = 1, MAP_W = 2, MAP_RW = 3 };

/* A value with a text: an enumeration value or a bit of a bit field. */
struct map_label {
	int64_t value; /* the value, or the bit number for bit fields */
	const char *text;
};

struct map_register {
	const char *name;	 /* unique within the map */
	const char *description; /* may be NULL */
	const char *unit;	 /* may be NULL */
	uint16_t address;	 /* address on the Modbus front */
	uint16_t native;	 /* native address (powergo, solarman); = address unless `native` */
	uint16_t count;		 /* words: 1 for 16-bit, 2 for 32-bit, `length` for strings */
	uint8_t type;		 /* enum map_type */
	uint8_t table;		 /* enum map_table */
	uint8_t access;		 /* enum map_access */
	uint8_t word_little;	 /* 32-bit: low word first */
	double scale;		 /* 1.0 unless given; describes the raw value for clients */
	uint8_t has_min, has_max, has_default;
	int64_t min, max;	/* write limits, raw */
	int64_t def;		/* `default` for numeric types */
	const char *def_string; /* `default` for strings */
	/* `bytes`: a 16-bit register that packs two values (hour and minute,
	 * year and month), each byte with its own range, high byte first */
	uint8_t has_bytes;
	uint8_t byte_min[2], byte_max[2];
	const int64_t *values; /* allowed raw write values (`values`), or NULL */
	size_t nvalues;
	const struct map_label *labels; /* `enum`: value texts for the reference */
	size_t nlabels;
	const struct map_label *bits; /* `bits`: bit texts for bit fields */
	size_t nbits;
	/* venus: the reply key, the |-field in it (or -1), the write template */
	const char *key;
	int field;
	const char *write; /* e.g. "cd=16,cp={value}", or NULL */
	int8_t ack;	   /* write: 1 device answers ret=, 0 it does not, -1 unset */
	uint8_t no_retry;  /* `retry = false`: a write is sent at most once (triggers, resets) */
	/* `string_order = "little"`: the device puts a string's first
	 * character in the LOW byte of each word; the bridge swaps the bytes
	 * at the native boundary, so clients always see the first character
	 * in the high byte (map_native_strings). */
	uint8_t string_little;
	const char *query;  /* venus: the command whose reply holds key (NULL = "cd=1") */
	const char *source; /* where the register's meaning comes from (reference only) */
	int line;	    /* line in the map file, for messages */
	uint32_t slot;	    /* first word of this register in a device's cache */
	/* Words from this register's first word to the end of the run of
	 * adjacent readable registers of its table that it starts (0 when it
	 * is not readable). A read [a, a+n) inside register r is fully mapped
	 * and readable exactly when a - r->address + n <= r->readable_run. */
	uint32_t readable_run;
	/* `constant`: a value fixed by the map, served without asking the
	 * device; the register is read-only (docs/user-guide.md, "Constant
	 * and derived registers"). const_string for strings. */
	uint8_t is_const;
	int64_t const_value;
	const char *const_string;
	/* Derived from the device's value: front = native * factor (`factor`,
	 * 1 unless given), or by the (front, native) pairs of `translate`. */
	int64_t factor;
	const int64_t (*xlat)[2]; /* [i][0] front value, [i][1] native value */
	size_t nxlat;
	/* `unavailable`: the raw value served when the device's value does not
	 * fit the register, or when the query that feeds it goes unanswered
	 * (docs/design.md, "Map files": odd values). Numeric registers only. */
	uint8_t has_unavail;
	int64_t unavail;
	/* Home Assistant discovery (bridge/export_ha.c): `device_class` (NULL:
	 * inferred from the unit), `state_class` (MAP_HA_STATE_*; 0: inferred)
	 * and `ha` (1 unless `ha = false` leaves the register out). */
	const char *ha_class;
	uint8_t ha_state;
	int8_t ha;
	/* `format`: how a person reads the value (MAP_FORMAT_*; 0: as a number). */
	uint8_t format;
	/* `group`: where the register belongs on a page (MAP_GROUP_*; 0: none). */
	uint8_t group;
};

/* `format`, as map files spell it (map_formats[f - 1]): an IPv4 address
 * (a 32-bit register, or a 16-bit one holding two octets), hexadecimal, a
 * version (hex digits, "A030"), a duration in seconds, a Unix time in
 * seconds (values_format_text). */
enum map_value_format {
	MAP_FORMAT_NONE,
	MAP_FORMAT_IPV4,
	MAP_FORMAT_HEX,
	MAP_FORMAT_VERSION,
	MAP_FORMAT_DURATION,
	MAP_FORMAT_TIMESTAMP
};
extern const char map_formats[][10]; /* "ipv4", "hex", ..., "" */

/* `group`, as map files spell it (map_groups[g - 1]): what a register is
 * about, for the web page's folds and the REST documents. A fixed list, so
 * that every map folds the same way. */
enum map_group {
	MAP_GROUP_NONE,
	MAP_GROUP_STATUS,	  /* what the device does now: power, SOC, state, faults */
	MAP_GROUP_ENERGY,	  /* energy counters (kWh today, total) */
	MAP_GROUP_SETTINGS,	  /* what an installer sets: limits, modes, schedules */
	MAP_GROUP_NETWORK,	  /* Wi-Fi, IP addresses, servers */
	MAP_GROUP_IDENTIFICATION, /* serial number, model, firmware versions */
};
extern const char map_groups[][15]; /* "status", "energy", ..., "" */

/* `state_class`, as Home Assistant names them. */
enum map_ha_state { MAP_HA_STATE_INFER, MAP_HA_MEASUREMENT, MAP_HA_TOTAL, MAP_HA_TOTAL_INCREASING };
extern const char map_ha_states[][17]; /* "measurement", "total", "total_increasing", "" */

/* A group of registers written together with one FC16 (venus `commands`). */
struct map_command {
	const char *name;
	uint16_t address, count;
	const char *template; /* "{0}".."{n}" stand for the registers of the group, in order */
	int8_t ack;
	uint8_t no_retry; /* `retry = false`: sent at most once */
	int line;
};

/* A pass-through range (docs/design.md, "Pass-through"): the addresses
 * first..last of table that no register describes are sent to the device as
 * they are (protocols with PROTOCOL_RTU only). */
struct map_passthrough {
	uint8_t table;	/* enum map_table */
	uint8_t access; /* MAP_R, or MAP_RW: writes pass too */
	uint16_t first, last;
	int line;
};

/* Timing defaults a map may carry (ms); -1 where the map says nothing. */
struct map_defaults {
	int64_t poll, max_age, timeout, min_interval;
	int64_t retries; /* -1 = unset */
};

struct map;
struct protocol;

/* Load a map file. On failure returns NULL and writes "file:line: reason". */
struct map *map_load(const char *path, char *err, size_t errlen);

/* Load map NAME (file NAME.conf) from the first directory of `dirs` that has
 * it. Errors as map_load, or "map NAME not found in dir1, dir2". */
struct map *map_load_named(const char *const *dirs, size_t ndirs, const char *name, char *err,
			   size_t errlen);
void map_free(struct map *m);

/* The linter: overlaps, 32-bit values split by a command, empty names,
 * scales and widths. Writes one "file:line: problem" per line into err and
 * returns the number of problems (0 = clean). */
int map_lint(const struct map *m, char *err, size_t errlen);
/* For a protocol's own lint rules (struct protocol's map_lint): add one
 * problem, "file:line: <fmt...>", to the linter's report. */
struct map_lint;
void map_lint_problem(struct map_lint *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *map_name(const struct map *m);
/* The map's `summary`: the registers a person looks at first (the web
 * page's card headline and the history), in the map's order; *n set. */
const struct map_register *const *map_summary(const struct map *m, size_t *n);
/* The map's `protocol` as written: a protocol's name, the family "rtu", or
 * several names joined by ", ". */
const char *map_protocol(const struct map *m);
/* The protocol whose rules the map follows: its only one, else the first of
 * its protocols in registry order (all of them carry Modbus RTU then). */
const struct protocol *map_proto(const struct map *m);
/* Does the map run on protocol p: its `protocol`, one of its list, or a
 * member of the family "rtu" (PROTOCOL_RTU)? */
bool map_speaks(const struct map *m, const struct protocol *p);
/* Pass-through ranges, sorted by (table, first); they never overlap. */
size_t map_npassthrough(const struct map *m);
const struct map_passthrough *map_passthrough(const struct map *m, size_t i);
/* The pass-through range of table that holds address, or NULL. Registers
 * win: callers look the address up with map_find() first. */
const struct map_passthrough *map_find_passthrough(const struct map *m, int table,
						   uint16_t address);
const char *map_trust(const struct map *m);
/* An independent implementation that reads the map's registers as the map
 * does (`agrees_with`): shown beside the rung, never a rung itself. */
struct map_agreement {
	const char *name;   /* e.g. "evcc template deye-storage" */
	const char *file;   /* "owner/repo path/in/repo" */
	const char *covers; /* which registers, or NULL */
};
size_t map_nagreements(const struct map *m);
/* The map's `source` (where its registers come from), or NULL. */
const char *map_source(const struct map *m);
const struct map_agreement *map_agreement(const struct map *m, size_t i);

/* A real device the map was matched against with readings its operator
 * attests (`attested`): what the top rung, hardware-verified, needs at
 * least one of; their number is the N of "hardware-verified xN"
 * (docs/design.md, "Trust ladder"). */
struct map_attestation {
	const char *device;   /* the unit: model, firmware, serial as given */
	const char *date;     /* "YYYY-MM-DD" */
	const char *readings; /* what was read and matched */
	int line;	      /* in the map file, for messages */
};
size_t map_nattestations(const struct map *m);
const struct map_attestation *map_attestation(const struct map *m, size_t i);

/* What verified the map at its rung (`verified_by`), or NULL. */
const char *map_verified_by(const struct map *m);
const char *map_path(const struct map *m);
const char *map_vendor(const struct map *m); /* for device identification; may be NULL */
const char *map_model(const struct map *m);  /* may be NULL */
const struct map_defaults *map_defaults(const struct map *m);

size_t map_nregs(const struct map *m);
const struct map_register *map_reg(const struct map *m, size_t i); /* sorted by table, address */
/* Words of cache a device needs. Slots are assigned in (table, address)
 * order, so the words of adjacent registers have adjacent slots. */
size_t map_nslots(const struct map *m);
/* Maximum registers per native read the map allows (`max_read`), 0 = unset. */
unsigned map_max_read(const struct map *m);

/* The register of `table` that covers `address`, or NULL. O(log n). */
const struct map_register *map_find(const struct map *m, int table, uint16_t address);

/* What a cached read needs of a register (map_index's runs): a read of
 * [a, a+n) from inside it is one run of adjacent readable registers (its
 * words in adjacent cache slots) exactly when a + n <= end, and a's word is
 * in cache slot a + slot0. end is the register's address + readable_run
 * (its address for one that is not readable), never past 65536. */
struct map_run {
	uint32_t end;
	uint32_t slot0; /* slot - address, modulo 2^32 */
};

/* The head of every struct map (bridge/map_internal.h): the dense index
 * map_find reads, public so that the hot path of a cached read
 * (device_view_read in device.h) can look an address up without a call.
 * Read it only through map_find and device.h's view. */
struct map_index {
	/* per table over [lo, lo+span): 1 + the register's index of each
	 * address, 0 where none; NULL where the table has no dense index
	 * (addresses too spread out: map_find searches) */
	const uint16_t *dense[MAP_TABLES];
	uint32_t lo[MAP_TABLES], span[MAP_TABLES];
	const struct map_register *regs;
	size_t nregs;
	/* per register, by the same index (1 + the register's), and at 0 a
	 * run that takes no read; NULL where no table has a dense index */
	const struct map_run *runs;
};

/* Register by name, or NULL. */
const struct map_register *map_find_name(const struct map *m, const char *name);
/* The register of r's table that starts where r ends, or NULL. O(1): the
 * map's registers are sorted, and a map that lints clean (the daemon runs
 * no other) has no overlaps, so it is the next one. */
const struct map_register *map_next(const struct map *m, const struct map_register *r);

/* A range of a table resolved against the map once (docs/design.md, "Cache,
 * polling, coalescing"): cut into spans, each a run of adjacent registers,
 * whose words have adjacent cache slots, or a run of addresses that no
 * register describes. */
struct map_span {
	uint16_t addr, count;		  /* front addresses [addr, addr+count) */
	uint32_t slot;			  /* registers: the cache slot of addr's word */
	const struct map_register *first; /* the register holding addr; NULL: none */
	uint8_t unreadable;		  /* registers: one of them is not readable */
};
/* The spans of [addr, addr+count) of table, in address order, at most max
 * of them (count spans at most are ever needed); returns their number. */
size_t map_spans(const struct map *m, int table, uint16_t addr, uint16_t count,
		 struct map_span *spans, size_t max);

/* What a device of the map gives the site (docs/user-guide.md, "The
 * site"): the map's `roles` group has a group per role the device can play
 * (MAP_ROLE_KINDS, the order of config.h's enum config_role less one), each
 * naming a register per quantity. */
#define MAP_ROLE_KINDS 5
extern const char map_role_kinds[][9]; /* "grid", "load", "pv", "battery", "inverter", "" */
enum map_role_q {
	MAP_ROLE_POWER,		   /* W; positive: the device delivers power to the site */
	MAP_ROLE_ENERGY_DELIVERED, /* Wh delivered to the site (grid import, PV yield, discharge) */
	MAP_ROLE_ENERGY_TAKEN,	   /* Wh taken from the site (grid export, charge, consumption) */
	MAP_ROLE_SOC,		   /* % state of charge */
	MAP_ROLE_CAPACITY,	   /* Wh usable capacity */
	MAP_ROLE_NQ
};
/* "power", "energy_delivered", "energy_taken", "soc", "capacity". */
extern const char map_role_names[][17];
/* The register giving quantity q for role kind (0..MAP_ROLE_KINDS-1), or
 * NULL when the map names none; *factor (may be NULL) turns its value
 * (values_decode's scaled) into the quantity's unit and sign above. */
const struct map_register *map_role(const struct map *m, int kind, int q, double *factor);
/* Does the map declare role kind (at least one quantity)? */
bool map_has_role(const struct map *m, int kind);

size_t map_ncommands(const struct map *m);
const struct map_command *map_command(const struct map *m, size_t i);
/* The command whose range overlaps [address, address+count), or NULL. */
const struct map_command *map_find_command(const struct map *m, uint16_t address, uint16_t count);

/* Value encoding between raw integers and register words (values on the wire
 * are raw; `scale` is only a description). */
int64_t map_decode(const struct map_register *r, const uint16_t *words);
/* 0, or MB_ERANGE when the value does not fit the type. */
int map_encode(const struct map_register *r, int64_t value, uint16_t *words);
/* Strings: two characters per word, first character in the high byte,
 * zero-padded to r->count words; MB_ERANGE if too long. */
int map_encode_string(const struct map_register *r, const char *s, uint16_t *words);
/* Derived registers: the front value of a native one (factor, translate)
 * and back. 0, or MB_ERANGE when it does not fit the register's type (or,
 * back, when the factor does not divide it), MB_ENOENT when a translated
 * value has no pair. Identity for registers that declare neither. */
int map_from_native(const struct map_register *r, int64_t native, int64_t *front);
int map_to_native(const struct map_register *r, int64_t front, int64_t *native);
/* Does r change the device's value on its way (factor or translate)? */
bool map_derived(const struct map_register *r);
/* The words of a constant register (r->count of them); MB_EINVAL if r is
 * not one. */
int map_const_words(const struct map_register *r, uint16_t *words);
/* The words r serves when the device's value is unavailable (r->count of
 * them): its `unavailable` value, or without one the type's "not
 * implemented" value as SunSpec spells it (int16 0x8000, uint16 0xFFFF,
 * int32 0x80000000, uint32 0xFFFFFFFF, float32 a quiet NaN). 1 when the map
 * declares it, 0 for the type's; MB_EINVAL for strings and constants. */
int map_unavailable_words(const struct map_register *r, uint16_t *words);
/* Native words <-> client words over [addr, addr+count) of table: swaps the
 * two bytes of every word of a `string_order = "little"` register (the same
 * operation both ways). Words outside such registers are left alone. */
void map_native_strings(const struct map *m, int table, uint16_t addr, uint16_t count,
			uint16_t *words);
/* Does the map have any `string_order = "little"` register? */
bool map_has_little_strings(const struct map *m);
/* Is a raw value writable to r (min/max/values)? */
bool map_value_ok(const struct map_register *r, int64_t value);

/* The register reference of a map, for --print-map and `make docs`. */
enum map_format { MAP_FMT_TEXT, MAP_FMT_JSON, MAP_FMT_MARKDOWN };
void map_print(const struct map *m, FILE *out, enum map_format fmt);

#endif

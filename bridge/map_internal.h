/* What the map loader (map_load.c), the run-time look-ups (map.c), the
 * linter (map_lint.c) and the reference printer (map_print.c) share and
 * nothing else may see: the map itself and the tables and helpers they all
 * read. Private to bridge/, not installed
 * with the public headers (docs/design.md, "Style": small headers, hidden
 * structs). */
#ifndef MAP_INTERNAL_H
#define MAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "map.h"

#define MAP__N(a) (sizeof(a) / sizeof((a)[0]))

struct map {
	/* First, where device.h's view reads it (map.h). */
	struct map_index index;
	char *path;
	char *name, *description, *source, *vendor, *model;
	const struct protocol *proto; /* whose rules apply (map_proto) */
	unsigned protos;	      /* bit i: protocol_at(i) runs this map */
	char *proto_text;	      /* `protocol` as written when not one name */
	char *verified_by; /* what earned the rung (`verified_by`), or NULL */
	int little_strings; /* some register has string_order = "little" */
	uint8_t trust; /* the rung, lowest 0 (map__trusts) */
	int max_read;
	int name_line;
	struct map_defaults defaults;
	struct map_register *regs;
	size_t nregs;
	size_t table_start[MAP_TABLES + 1]; /* regs of table t: [start[t], start[t+1]) */
	const struct map_register **by_name;
	size_t nslots;
	struct map_command *cmds;
	size_t ncmds;
	struct map_passthrough *pass; /* sorted by (table, first) */
	size_t npass;
	struct map_agreement *agree; /* `agrees_with`, in file order */
	size_t nagree;
	struct map_attestation *attest; /* `attested`, in file order */
	size_t nattest;
	int attest_line;		/* line of `attested`, 0 when absent */
	/* `roles` (map.h's map_role): the register of each quantity, or NULL,
	 * and the factor from its value to the quantity's unit and sign. */
	const struct map_register *role_reg[MAP_ROLE_KINDS][MAP_ROLE_NQ];
	double role_factor[MAP_ROLE_KINDS][MAP_ROLE_NQ];
	uint8_t power_taken[MAP_ROLE_KINDS];
	/* `summary`: at most MAP_SUMMARY_MAX readable registers. */
	const struct map_register *summary[8];
	size_t nsummary;
};
#define MAP_SUMMARY_MAX 8

/* Names of enum map_type and enum map_table, and the trust ladder's rungs
 * lowest first, as map files spell them; NULL-terminated (they are the key
 * tables' choices; map_load.c). */
extern const char map__types[][8];
extern const char map__tables[][8];
#define MAP__TRUST_LEN 19
extern const char map__trusts[][MAP__TRUST_LEN];

/* The bit of struct map's protos for protocol pr (its registry index). */
unsigned map__proto_bit(const struct protocol *pr);
/* Once the registers are sorted and have their slots: each register's
 * readable_run and the dense index map_find reads (map.c). */
void map__index(struct map *m);

/* Registers a numeric type takes (1 or 2). */
int map__natural_count(int type);
/* The raw range a numeric type can hold. */
void map__type_range(int type, int64_t *lo, int64_t *hi);
/* Does v fit the raw range of type? */
bool map__fits(int type, int64_t v);
/* "a" or "a..b" for the count words from a. */
void map__range_text(char *buf, size_t len, uint32_t a, uint32_t count);

#endif

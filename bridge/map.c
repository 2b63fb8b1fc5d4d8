/* Map files (docs/design.md, "Map files"): what the device model, the
 * transports and the exporters read of a loaded map at run time. Registers
 * are sorted by (table, address), so that map_find() is a look-up in a dense
 * index (map__index) or a binary search; values are encoded and decoded
 * between raw integers and register words here.
 *
 * Loading and checking a map is map_load.c; the linter is map_lint.c, the
 * register reference map_print.c, and what they share is in
 * map_internal.h. */
#include "map.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map_internal.h"
#include "mb_error.h"
#include "protocol.h"

/* --- types --------------------------------------------------------------- */

int map__natural_count(int type)
{
	return type == MAP_INT32 || type == MAP_UINT32 || type == MAP_FLOAT32 ? 2 : 1;
}

void map__type_range(int type, int64_t *lo, int64_t *hi)
{
	switch (type) {
	case MAP_INT16:
		*lo = INT16_MIN, *hi = INT16_MAX;
		break;
	case MAP_UINT16:
		*lo = 0, *hi = UINT16_MAX;
		break;
	case MAP_INT32:
		*lo = INT32_MIN, *hi = INT32_MAX;
		break;
	case MAP_UINT32:
	case MAP_FLOAT32: /* the raw value is the bit pattern */
		*lo = 0, *hi = UINT32_MAX;
		break;
	default:
		*lo = INT64_MIN, *hi = INT64_MAX;
		break;
	}
}

bool map__fits(int type, int64_t v)
{
	int64_t lo, hi;
	map__type_range(type, &lo, &hi);
	return v >= lo && v <= hi;
}

void map__range_text(char *buf, size_t len, uint32_t a, uint32_t count)
{
	if (count <= 1)
		snprintf(buf, len, "%" PRIu32, a);
	else
		snprintf(buf, len, "%" PRIu32 "..%" PRIu32, a, a + count - 1);
}
/* The registry index of pr (protocol.h keeps at most PROTOCOL_MAX). */
unsigned map__proto_bit(const struct protocol *pr)
{
	for (size_t i = 0; i < protocol_count(); i++)
		if (protocol_at(i) == pr)
			return 1u << i;
	return 0;
}

const struct map_register *const *map_summary(const struct map *m, size_t *n)
{
	*n = m->nsummary;
	return m->summary;
}

const struct map_register *map_role(const struct map *m, int kind, int q, double *factor)
{
	if (kind < 0 || kind >= MAP_ROLE_KINDS || q < 0 || q >= MAP_ROLE_NQ)
		return NULL;
	if (factor)
		*factor = m->role_factor[kind][q];
	return m->role_reg[kind][q];
}

bool map_has_role(const struct map *m, int kind)
{
	for (int q = 0; q < MAP_ROLE_NQ; q++)
		if (map_role(m, kind, q, NULL))
			return true;
	return false;
}

/* --- accessors ----------------------------------------------------------- */

const char *map_name(const struct map *m)
{
	return m->name;
}

const char *map_protocol(const struct map *m)
{
	return m->proto_text ? m->proto_text : m->proto->name;
}

const struct protocol *map_proto(const struct map *m)
{
	return m->proto;
}

bool map_speaks(const struct map *m, const struct protocol *p)
{
	return p && (m->protos & map__proto_bit(p)) != 0;
}

size_t map_npassthrough(const struct map *m)
{
	return m->npass;
}

const struct map_passthrough *map_passthrough(const struct map *m, size_t i)
{
	return i < m->npass ? &m->pass[i] : NULL;
}

const struct map_passthrough *map_find_passthrough(const struct map *m, int table, uint16_t address)
{
	/* A map holds a handful of ranges: a scan is cheaper than an index. */
	for (size_t i = 0; i < m->npass; i++)
		if ((int)m->pass[i].table == table && m->pass[i].first <= address &&
		    address <= m->pass[i].last)
			return &m->pass[i];
	return NULL;
}

const char *map_trust(const struct map *m)
{
	return map__trusts[m->trust];
}

const char *map_source(const struct map *m)
{
	return m->source;
}

size_t map_nagreements(const struct map *m)
{
	return m->nagree;
}

size_t map_nattestations(const struct map *m)
{
	return m->nattest;
}

const struct map_attestation *map_attestation(const struct map *m, size_t i)
{
	return i < m->nattest ? &m->attest[i] : NULL;
}

const struct map_agreement *map_agreement(const struct map *m, size_t i)
{
	return i < m->nagree ? &m->agree[i] : NULL;
}

const char *map_verified_by(const struct map *m)
{
	return m->verified_by;
}

const char *map_path(const struct map *m)
{
	return m->path;
}

const char *map_vendor(const struct map *m)
{
	return m->vendor;
}

const char *map_model(const struct map *m)
{
	return m->model;
}

const struct map_defaults *map_defaults(const struct map *m)
{
	return &m->defaults;
}

size_t map_nregs(const struct map *m)
{
	return m->nregs;
}

const struct map_register *map_reg(const struct map *m, size_t i)
{
	return i < m->nregs ? &m->regs[i] : NULL;
}

size_t map_nslots(const struct map *m)
{
	return m->nslots;
}

unsigned map_max_read(const struct map *m)
{
	return (unsigned)m->max_read;
}

/* At most this many addresses (x2 bytes) of dense index per table; beyond it
 * (a map with registers far apart) map_find falls back to binary search. */
#define MAP__DENSE_MAX 16384

void map__index(struct map *m)
{
	m->index.regs = m->regs;
	m->index.nregs = m->nregs;
	/* Readable runs, from the end of each table backwards. */
	for (int t = 0; t < MAP_TABLES; t++) {
		for (size_t i = m->table_start[t + 1]; i-- > m->table_start[t];) {
			struct map_register *r = &m->regs[i];
			const struct map_register *n =
			    i + 1 < m->table_start[t + 1] ? &m->regs[i + 1] : NULL;
			if (!(r->access & MAP_R))
				r->readable_run = 0;
			else if (n && n->readable_run &&
				 n->address == (uint32_t)r->address + r->count)
				r->readable_run = r->count + n->readable_run;
			else
				r->readable_run = r->count;
		}
	}
	for (int t = 0; t < MAP_TABLES; t++) {
		size_t a = m->table_start[t], b = m->table_start[t + 1];
		if (a == b || m->nregs >= 0xFFFF)
			continue;
		uint32_t lo = m->regs[a].address;
		uint32_t hi = 0;
		for (size_t i = a; i < b; i++)
			if ((uint32_t)m->regs[i].address + m->regs[i].count > hi)
				hi = (uint32_t)m->regs[i].address + m->regs[i].count;
		if (hi - lo > MAP__DENSE_MAX)
			continue;
		/* The first dense index also holds the runs of every
		 * register (map.h, struct map_run), after it, so that
		 * map_free's one free per index frees them too. */
		size_t nd = (hi - lo + 3) & ~(size_t)3; /* runs 8-byte aligned */
		size_t nruns = m->index.runs ? 0 : m->nregs + 1;
		uint16_t *d = calloc(1, nd * sizeof *d + nruns * sizeof(struct map_run));
		if (!d)
			continue; /* binary search still works */
		/* In address order, so that an overlap (which lint reports)
		 * resolves as binary search does: the later start wins. */
		for (size_t i = a; i < b; i++)
			for (uint32_t k = 0; k < m->regs[i].count; k++)
				d[m->regs[i].address - lo + k] = (uint16_t)(i + 1);
		if (nruns) {
			struct map_run *runs = (struct map_run *)(void *)(d + nd);
			for (size_t i = 0; i < m->nregs; i++) {
				const struct map_register *r = &m->regs[i];
				runs[i + 1].end = r->address + r->readable_run;
				runs[i + 1].slot0 = r->slot - r->address;
			}
			m->index.runs = runs;
		}
		m->index.dense[t] = d;
		m->index.lo[t] = lo;
		m->index.span[t] = hi - lo;
	}
}

const struct map_register *map_find(const struct map *m, int table, uint16_t address)
{
	size_t lo, hi, first;
	const struct map_register *r;

	if (table < 0 || table >= MAP_TABLES)
		return NULL;
	/* The dense index (map_index in map.h). Below lo, the difference
	 * wraps past any span. */
	if (m->index.dense[table]) {
		uint32_t off = (uint32_t)address - m->index.lo[table];
		if (off >= m->index.span[table])
			return NULL;
		uint16_t i = m->index.dense[table][off];
		return i ? &m->regs[i - 1] : NULL;
	}
	/* The last register of the table that starts at or before address.
	 * Registers do not overlap in a map that lints clean; in one that does
	 * not, this finds the one that starts last. */
	first = lo = m->table_start[table];
	hi = m->table_start[table + 1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->regs[mid].address <= address)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == first)
		return NULL;
	r = &m->regs[lo - 1];
	return (uint32_t)address < (uint32_t)r->address + r->count ? r : NULL;
}

static int map__cmp_name_key(const void *key, const void *elem)
{
	const struct map_register *const *r = elem;
	return strcmp(key, (*r)->name);
}

const struct map_register *map_find_name(const struct map *m, const char *name)
{
	const struct map_register *const *r;

	if (!name || m->nregs == 0)
		return NULL;
	r = bsearch(name, m->by_name, m->nregs, sizeof *m->by_name, map__cmp_name_key);
	return r ? *r : NULL;
}

const struct map_register *map_next(const struct map *m, const struct map_register *r)
{
	size_t i = (size_t)(r - m->regs);
	if (i + 1 < m->table_start[r->table + 1] &&
	    m->regs[i + 1].address == (uint32_t)r->address + r->count)
		return &m->regs[i + 1];
	return NULL;
}

/* The first address after a of table, below end, where a register starts
 * (end when none): a run of addresses no register describes ends there. */
static uint32_t map__next_start(const struct map *m, int table, uint32_t a, uint32_t end)
{
	size_t lo = m->table_start[table], hi = m->table_start[table + 1];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->regs[mid].address <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->table_start[table + 1] && m->regs[lo].address < end ? m->regs[lo].address
									   : end;
}

size_t map_spans(const struct map *m, int table, uint16_t addr, uint16_t count,
		 struct map_span *spans, size_t max)
{
	uint32_t a = addr, end = (uint32_t)addr + count;
	size_t n = 0;

	if (table < 0 || table >= MAP_TABLES)
		return 0;
	while (a < end && n < max) {
		const struct map_register *r = map_find(m, table, (uint16_t)a);
		struct map_span *s = &spans[n++];
		*s = (struct map_span){.addr = (uint16_t)a, .first = r};
		if (!r) {
			a = map__next_start(m, table, a, end);
			s->count = (uint16_t)(a - s->addr);
			continue;
		}
		s->slot = r->slot + (a - r->address);
		/* The registers that follow r, word for word and slot for slot. */
		for (;;) {
			uint32_t rend = (uint32_t)r->address + r->count;
			const struct map_register *q;
			s->unreadable |= !(r->access & MAP_R);
			a = rend < end ? rend : end;
			if (a >= end || !(q = map_next(m, r)) || q->slot != r->slot + r->count)
				break;
			r = q;
		}
		s->count = (uint16_t)(a - s->addr);
	}
	return n;
}

size_t map_ncommands(const struct map *m)
{
	return m->ncmds;
}

const struct map_command *map_command(const struct map *m, size_t i)
{
	return i < m->ncmds ? &m->cmds[i] : NULL;
}

const struct map_command *map_find_command(const struct map *m, uint16_t address, uint16_t count)
{
	uint32_t a = address, e = (uint32_t)address + count;

	/* Maps carry a handful of commands: a scan is cheaper than an index. */
	for (size_t i = 0; i < m->ncmds; i++) {
		uint32_t ca = m->cmds[i].address, ce = ca + m->cmds[i].count;
		if (a < ce && ca < e)
			return &m->cmds[i];
	}
	return NULL;
}

/* --- values -------------------------------------------------------------- */

int64_t map_decode(const struct map_register *r, const uint16_t *words)
{
	uint32_t v;

	switch (r->type) {
	case MAP_INT16:
		return (int16_t)words[0];
	case MAP_UINT16:
		return words[0];
	case MAP_INT32:
	case MAP_UINT32:
	case MAP_FLOAT32:
		if (r->count < 2)
			return words[0];
		v = r->word_little ? ((uint32_t)words[1] << 16 | words[0])
				   : ((uint32_t)words[0] << 16 | words[1]);
		return r->type == MAP_INT32 ? (int64_t)(int32_t)v : (int64_t)v;
	default:
		return 0;
	}
}

int map_encode(const struct map_register *r, int64_t value, uint16_t *words)
{
	uint32_t v;

	if (r->type == MAP_STRING)
		return MB_EINVAL;
	if (!map__fits(r->type, value))
		return MB_ERANGE;
	if (r->type == MAP_INT16 || r->type == MAP_UINT16) {
		words[0] = (uint16_t)value;
		return 0;
	}
	if (r->count < 2)
		return MB_EINVAL;
	v = (uint32_t)value;
	words[r->word_little ? 1 : 0] = (uint16_t)(v >> 16);
	words[r->word_little ? 0 : 1] = (uint16_t)v;
	return 0;
}

int map_encode_string(const struct map_register *r, const char *s, uint16_t *words)
{
	size_t len;

	if (r->type != MAP_STRING || !s)
		return MB_EINVAL;
	if ((len = strlen(s)) > 2u * r->count)
		return MB_ERANGE;
	for (size_t i = 0; i < r->count; i++) {
		uint8_t hi = 2 * i < len ? (uint8_t)s[2 * i] : 0;
		uint8_t lo = 2 * i + 1 < len ? (uint8_t)s[2 * i + 1] : 0;
		words[i] = (uint16_t)(hi << 8 | lo);
	}
	return 0;
}

bool map_has_little_strings(const struct map *m)
{
	return m->little_strings;
}

void map_native_strings(const struct map *m, int table, uint16_t addr, uint16_t count,
			uint16_t *words)
{
	if (!m->little_strings)
		return;
	for (uint32_t a = addr, end = (uint32_t)addr + count; a < end; a++) {
		const struct map_register *r = map_find(m, table, (uint16_t)a);
		if (r && r->string_little)
			words[a - addr] = (uint16_t)(words[a - addr] << 8 | words[a - addr] >> 8);
	}
}

bool map_value_ok(const struct map_register *r, int64_t value)
{
	if (r->type == MAP_STRING)
		return true;
	if (!map__fits(r->type, value))
		return false;
	if (r->has_min && value < r->min)
		return false;
	if (r->has_max && value > r->max)
		return false;
	if (r->has_bytes) {
		unsigned hi = ((uint64_t)value >> 8) & 0xFF, lo = (uint64_t)value & 0xFF;
		if (hi < r->byte_min[0] || hi > r->byte_max[0] || lo < r->byte_min[1] ||
		    lo > r->byte_max[1])
			return false;
	}
	if (r->values) {
		for (size_t i = 0; i < r->nvalues; i++)
			if (r->values[i] == value)
				return true;
		return false;
	}
	return true;
}

/* --- derived and constant registers -------------------------------------- */

bool map_derived(const struct map_register *r)
{
	return r->factor != 1 || r->xlat != NULL;
}

int map_from_native(const struct map_register *r, int64_t native, int64_t *front)
{
	if (r->xlat) {
		for (size_t i = 0; i < r->nxlat; i++) {
			if (r->xlat[i][1] == native) {
				*front = r->xlat[i][0];
				return 0;
			}
		}
		return MB_ENOENT;
	}
	/* |factor| <= 1e6 and native within 64 bits of a 32-bit type's words
	 * at most: checked before multiplying all the same. */
	if (native > INT64_MAX / 1000000 || native < INT64_MIN / 1000000)
		return MB_ERANGE;
	*front = native * r->factor;
	return map__fits(r->type, *front) ? 0 : MB_ERANGE;
}

int map_to_native(const struct map_register *r, int64_t front, int64_t *native)
{
	if (r->xlat) {
		for (size_t i = 0; i < r->nxlat; i++) {
			if (r->xlat[i][0] == front) {
				*native = r->xlat[i][1];
				return 0;
			}
		}
		return MB_ENOENT;
	}
	if (r->factor == 0 || front % r->factor != 0)
		return MB_ERANGE;
	*native = front / r->factor;
	return 0;
}

int map_unavailable_words(const struct map_register *r, uint16_t *words)
{
	int64_t v;

	if (r->type == MAP_STRING || r->is_const)
		return MB_EINVAL;
	if (r->has_unavail && map__fits(r->type, r->unavail))
		v = r->unavail;
	else if (r->type == MAP_INT16)
		v = INT16_MIN;
	else if (r->type == MAP_UINT16)
		v = UINT16_MAX;
	else if (r->type == MAP_INT32)
		v = INT32_MIN;
	else if (r->type == MAP_UINT32)
		v = UINT32_MAX;
	else
		v = 0x7FC00000; /* float32: a quiet NaN */
	if (map_encode(r, v, words) != 0)
		return MB_EINVAL;
	return r->has_unavail && v == r->unavail;
}

int map_const_words(const struct map_register *r, uint16_t *words)
{
	if (!r->is_const)
		return MB_EINVAL;
	if (r->type == MAP_STRING)
		return map_encode_string(r, r->const_string, words);
	return map_encode(r, r->const_value, words);
}

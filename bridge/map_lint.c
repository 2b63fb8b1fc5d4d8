/* The map linter (docs/design.md, "Map files"): problems that do not stop a
 * map from loading but make it wrong (overlaps, 32-bit values split by a
 * command, limits, defaults and `unavailable` values that do not fit,
 * writable registers nothing
 * can write), plus the protocol's own rules (struct protocol's map_lint).
 * `--check`, start and SIGHUP run it on every map (reload_gen_load). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "map_internal.h"
#include "protocol.h"

struct map_lint {
	const struct map *m;
	char *err;
	size_t errlen, used;
	int count;
};

static void map__problem(struct map_lint *l, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void map__problem(struct map_lint *l, int line, const char *fmt, ...)
{
	va_list ap;
	int w;

	l->count++;
	if (!l->err || l->used + 1 >= l->errlen)
		return;
	w = snprintf(l->err + l->used, l->errlen - l->used, "%s:%d: ", l->m->path, line);
	if (w < 0)
		return;
	l->used = l->used + (size_t)w < l->errlen ? l->used + (size_t)w : l->errlen - 1;
	va_start(ap, fmt);
	w = vsnprintf(l->err + l->used, l->errlen - l->used, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	l->used = l->used + (size_t)w < l->errlen ? l->used + (size_t)w : l->errlen - 1;
	if (l->used + 1 < l->errlen) {
		l->err[l->used++] = '\n';
		l->err[l->used] = '\0';
	}
}

void map_lint_problem(struct map_lint *l, int line, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	map__problem(l, line, "%s", text);
}

static int map__cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Values given more than once in a list (of integers, or of labels): one
 * problem per repeated value. Sorted, so that a long list costs n log n. */
static void map__lint_twice(struct map_lint *l, const struct map_register *r, const int64_t *ints,
			    const struct map_label *labels, size_t n, const char *what,
			    const char *verb)
{
	int64_t *v;

	if (n < 2 || !(v = malloc(n * sizeof *v)))
		return;
	for (size_t i = 0; i < n; i++)
		v[i] = ints ? ints[i] : labels[i].value;
	qsort(v, n, sizeof *v, map__cmp_i64);
	for (size_t i = 1; i < n; i++)
		if (v[i] == v[i - 1] && (i < 2 || v[i - 1] != v[i - 2]))
			map__problem(l, r->line, "register \"%s\": %s %" PRId64 " is %s twice",
				     r->name, what, v[i], verb);
	free(v);
}

static void map__lint_register(struct map_lint *l, const struct map_register *r)
{
	const char *tn = map__types[r->type];
	int64_t lo, hi;

	if (r->type != MAP_STRING && r->count != map__natural_count(r->type))
		map__problem(l, r->line, "register \"%s\" is %s but %u registers long: %s takes %d",
			     r->name, tn, r->count, tn, map__natural_count(r->type));
	if (r->type == MAP_STRING) {
		if (r->has_default && strlen(r->def_string) > 2u * r->count)
			map__problem(l, r->line,
				     "register \"%s\": default \"%s\" is longer than %u characters "
				     "(%u registers)",
				     r->name, r->def_string, 2u * r->count, r->count);
		return;
	}

	map__type_range(r->type, &lo, &hi);
	if (r->has_min && r->has_max && r->min > r->max)
		map__problem(l, r->line, "register \"%s\": min %" PRId64 " > max %" PRId64, r->name,
			     r->min, r->max);
	if (r->has_min && !map__fits(r->type, r->min))
		map__problem(l, r->line, "register \"%s\": min %" PRId64 " does not fit %s",
			     r->name, r->min, tn);
	if (r->has_max && !map__fits(r->type, r->max))
		map__problem(l, r->line, "register \"%s\": max %" PRId64 " does not fit %s",
			     r->name, r->max, tn);
	for (size_t i = 0; r->values && i < r->nvalues; i++)
		if (!map__fits(r->type, r->values[i]))
			map__problem(l, r->line,
				     "register \"%s\": value %" PRId64 " does not fit %s", r->name,
				     r->values[i], tn);
	if (r->has_unavail && !map__fits(r->type, r->unavail))
		map__problem(l, r->line,
			     "register \"%s\": unavailable %" PRId64 " does not fit %s (%" PRId64
			     "..%" PRId64 ")",
			     r->name, r->unavail, tn, lo, hi);
	map__lint_twice(l, r, r->values, NULL, r->nvalues, "value", "listed");
	map__lint_twice(l, r, NULL, r->labels, r->nlabels, "enum value", "described");
	map__lint_twice(l, r, NULL, r->bits, r->nbits, "bit", "described");
	if (r->has_default) {
		if (!map__fits(r->type, r->def))
			map__problem(l, r->line,
				     "register \"%s\": default %" PRId64 " does not fit %s",
				     r->name, r->def, tn);
		else if (!map_value_ok(r, r->def))
			map__problem(l, r->line,
				     "register \"%s\": default %" PRId64
				     " is outside its min/max/values",
				     r->name, r->def);
	}
}

static int map__cmp_cmd(const void *a, const void *b)
{
	const struct map_command *const *x = a, *const *y = b;
	if ((*x)->address != (*y)->address)
		return (*x)->address < (*y)->address ? -1 : 1;
	return ((*x)->line > (*y)->line) - ((*x)->line < (*y)->line);
}

static void map__lint_command(struct map_lint *l, const struct map_command *c)
{
	const struct map *m = l->m;
	uint32_t a = c->address, end = a + c->count;
	char range[32];

	while (a < end) {
		const struct map_register *r = map_find(m, MAP_HOLDING, (uint16_t)a);
		if (!r) {
			uint32_t b = a;
			while (b < end && !map_find(m, MAP_HOLDING, (uint16_t)b))
				b++;
			map__range_text(range, sizeof range, a, b - a);
			map__problem(l, c->line, "command \"%s\" covers %s, which no register maps",
				     c->name, range);
			a = b;
			continue;
		}
		if (r->address < c->address || (uint32_t)r->address + r->count > end)
			map__problem(l, c->line,
				     "command \"%s\" (%u..%u) splits register \"%s\" (line %d): it "
				     "covers only some of its %u words",
				     c->name, c->address, (unsigned)(end - 1), r->name, r->line,
				     r->count);
		if (!(r->access & MAP_W))
			map__problem(l, c->line, "command \"%s\" covers read-only register \"%s\"",
				     c->name, r->name);
		a = (uint32_t)r->address + r->count;
	}
}

/* Is [a, a + count) written by one of the commands, sorted by address, whose
 * running maximum end is ends[]? O(log n): the commands that start before
 * the range ends are a prefix of the sorted ones. */
static int map__covered(const struct map_command *const *cmds, const uint32_t *ends, size_t n,
			uint32_t a, uint32_t count)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmds[mid]->address < a + count)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && ends[lo - 1] > a;
}

/* The rung and what earned it (docs/design.md, "Trust ladder"): above
 * structure-verified a rung is earned by a test (an interop run against a
 * third-party Modbus server, a simulator seeded with known-true values, a
 * hardware record), which `verified_by` names by its path under tests/.
 * Independent implementations that agree are `agrees_with`, each with the
 * repository and file it was read in ("owner/repo path"). */
static void map__lint_trust(struct map_lint *l, const struct map *m)
{
	static const char *const earned = "structure-verified";
	const char *rung = map_trust(m);

	if (strcmp(rung, "generated") != 0 && strcmp(rung, earned) != 0 &&
	    (!m->verified_by || !strstr(m->verified_by, "tests/")))
		map__problem(l, m->name_line,
			     "map \"%s\" is %s but its verified_by names no test under tests/ "
			     "that earns the rung (independent implementations that agree go in "
			     "agrees_with; they earn no rung)",
			     m->name, rung);
	/* hardware-verified xN: N devices attested (`attested`), one at least;
	 * below the top rung the key would claim what the rung denies. */
	if (!strcmp(rung, "hardware-verified") && m->nattest == 0)
		map__problem(l, m->name_line,
			     "map \"%s\" is hardware-verified but attests no device: list each "
			     "real device it was matched against in attested ( { device = ...; "
			     "date = ...; readings = ...; } )",
			     m->name);
	if (strcmp(rung, "hardware-verified") != 0 && m->nattest > 0)
		map__problem(l, m->attest_line,
			     "map \"%s\" is %s but has attested devices: attested belongs to "
			     "hardware-verified maps only (raise the rung or drop the key)",
			     m->name, rung);
	for (size_t i = 0; i < m->nagree; i++) {
		const char *f = m->agree[i].file, *sp = strchr(f, ' ');
		const char *slash = strchr(f, '/');
		if (!sp || !slash || slash > sp || sp[1] == '\0')
			map__problem(l, m->name_line,
				     "map \"%s\": agrees_with \"%s\" names file \"%s\"; it must "
				     "be \"owner/repo path/in/repo\"",
				     m->name, m->agree[i].name, f);
	}
}

int map_lint(const struct map *m, char *err, size_t errlen)
{
	struct map_lint l = {.m = m, .err = err, .errlen = errlen};
	const struct map_command **cmds = NULL;
	uint32_t *ends = NULL;

	if (err && errlen)
		err[0] = '\0';
	if (m->nregs == 0 && m->npass == 0)
		map__problem(&l, m->name_line, "map \"%s\" has no registers", m->name);

	/* Overlaps: registers are sorted, so keep the one reaching furthest. */
	for (int t = 0; t < MAP_TABLES; t++) {
		const struct map_register *reach = NULL;
		for (size_t i = m->table_start[t]; i < m->table_start[t + 1]; i++) {
			const struct map_register *r = &m->regs[i];
			char ra[32], rb[32];
			if (reach && r->address < (uint32_t)reach->address + reach->count) {
				map__range_text(ra, sizeof ra, r->address, r->count);
				map__range_text(rb, sizeof rb, reach->address, reach->count);
				map__problem(
				    &l, r->line,
				    "register \"%s\" (%s %s) overlaps \"%s\" (%s, line %d)",
				    r->name, map__tables[t], ra, reach->name, rb, reach->line);
			}
			if (!reach || (uint32_t)r->address + r->count >
					  (uint32_t)reach->address + reach->count)
				reach = r;
		}
	}
	for (size_t i = 0; i < m->nregs; i++)
		map__lint_register(&l, &m->regs[i]);
	map__lint_trust(&l, m);

	if (m->ncmds && (cmds = calloc(m->ncmds, sizeof *cmds)) != NULL &&
	    (ends = calloc(m->ncmds, sizeof *ends)) != NULL) {
		const struct map_command *reach = NULL;
		for (size_t i = 0; i < m->ncmds; i++)
			cmds[i] = &m->cmds[i];
		qsort(cmds, m->ncmds, sizeof *cmds, map__cmp_cmd);
		/* As for registers: compare with the one reaching furthest. */
		for (size_t i = 0; i < m->ncmds; i++) {
			const struct map_command *b = cmds[i];
			if (reach && b->address < (uint32_t)reach->address + reach->count)
				map__problem(&l, b->line,
					     "command \"%s\" overlaps command \"%s\" (line %d)",
					     b->name, reach->name, reach->line);
			if (!reach || (uint32_t)b->address + b->count >
					  (uint32_t)reach->address + reach->count)
				reach = b;
			ends[i] = (uint32_t)reach->address + reach->count;
		}
		for (size_t i = 0; i < m->ncmds; i++)
			map__lint_command(&l, &m->cmds[i]);
	}

	/* Keyed protocols: a writable register needs a way to be written. */
	for (size_t i = 0; (m->proto->flags & PROTOCOL_KEYED) && i < m->nregs; i++) {
		const struct map_register *r = &m->regs[i];
		if (!(r->access & MAP_W) || r->write)
			continue;
		if (ends ? map__covered(cmds, ends, m->ncmds, r->address, r->count)
			 : map_find_command(m, r->address, r->count) != NULL)
			continue;
		map__problem(&l, r->line,
			     "register \"%s\" is writable but has no write template and no "
			     "command covers it",
			     r->name);
	}
	free(cmds);
	free(ends);
	/* Each protocol the map runs on has its say (a list or "rtu"). */
	for (size_t i = 0; i < protocol_count(); i++)
		if (map_speaks(m, protocol_at(i)) && protocol_at(i)->map_lint)
			protocol_at(i)->map_lint(&l, m);
	return l.count;
}

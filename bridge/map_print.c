/* The register reference of a map (`--print-map`, `make docs`): text, JSON
 * or Markdown (docs/design.md, "Map files"). The pages in docs/maps/ are this
 * printer's Markdown, so a change in its output shows in `make docs-check`.
 *
 * One walk (map__walk) goes over the registers in (table, address) order and
 * works out once what the reference says of the map (struct map__doc) and of
 * each register (struct map__reg: its address span, type, access, limits,
 * ...); three renderers (struct map__renderer: JSON, text, Markdown) only
 * lay those facts out. A new type or key is described in map__reg_facts and
 * the helpers above it, and shown by each renderer that has a place for it. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "map.h"
#include "map_internal.h"
#include "protocol.h"
#include "values.h"

/* The trust ladder (docs/design.md, "Trust ladder"): what each rung proves,
 * lowest first, in the order and with the meanings of the Growatt register
 * document's ladder. That independent implementations agree is no rung:
 * `agrees_with` lists them beside it (map__agreements_*). */
static const char *const map__trust_text[] = {
    "A program or prompt produced it; nothing about it is proven.",
    "The map linter passes (addresses, widths, finite values; no overlaps); this does not "
    "prove word order or scaling.",
    "Read and decoded over a real network against an independent third-party Modbus test "
    "server (transport and framing); this does not prove word order or scaling against the "
    "actual device.",
    "Decoded correctly against a protocol emulator seeded with known-true values (not values "
    "derived from the map); this catches word-order and scaling errors against the emulator, "
    "not the physical device.",
    "Matched a real device with operator-attested readings as ground truth; the only rung "
    "that confirms word order and scaling on the wire.",
};

/* "powergo: 120..129 (Wi-Fi password), 190..199 (MQTT password)": the
 * ranges pass-through refuses on a device of each protocol the map runs on
 * (protocol.h, struct protocol_secret); "" when none. */
static const char *map__secrets_text(const struct map *m, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < protocol_count(); i++) {
		const struct protocol *pr = protocol_at(i);
		if (!map_speaks(m, pr) || !pr->nsecrets)
			continue;
		for (size_t k = 0; k < pr->nsecrets && used < len; k++) {
			const struct protocol_secret *x = &pr->secrets[k];
			int w = snprintf(buf + used, len - used, "%s%s%s%s%u..%u (%s)",
					 used && k == 0 ? "; " : "", k == 0 ? pr->name : "",
					 k == 0 ? ": " : ", ",
					 x->table < 0 ? "" : map__tables[x->table], x->first,
					 x->last, x->what);
			if (w < 0)
				break;
			used += (size_t)w;
		}
	}
	return buf;
}

/* Table cells: a '|' would end the cell, a newline the row. */
static void map__md(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n' || *s == '\r')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
}

static const char *map__access_text(int access)
{
	return access == MAP_RW ? "rw" : access == MAP_W ? "w" : "r";
}

/* A map's value of r (`default`, `constant`: raw) as the reference shows
 * it, values.c's number: the integer, or a float32's single. */
static const char *map__raw_text(const struct map_register *r, int64_t raw, char *buf, size_t len)
{
	values_raw_text(r, raw, buf, len);
	return buf;
}

/* Constant and derived registers (map.h): "constant 21947", "constant
 * \"SunS\"", "device value x -1", "0 = device 1, 1 = device 0", appended. */
static void map__derived_text(const struct map_register *r, char *buf, size_t len)
{
	size_t used = strlen(buf);
	const char *sep = used ? "; " : "";
	char num[32];
	if (used >= len)
		return;
	if (r->is_const && r->type == MAP_STRING)
		snprintf(buf + used, len - used, "%sconstant \"%s\"", sep, r->const_string);
	else if (r->is_const)
		snprintf(buf + used, len - used, "%sconstant %s", sep,
			 map__raw_text(r, r->const_value, num, sizeof num));
	else if (r->factor != 1)
		snprintf(buf + used, len - used, "%sdevice value x %" PRId64, sep, r->factor);
	for (size_t i = 0; r->xlat && i < r->nxlat && used < len; i++) {
		int w = snprintf(buf + used, len - used, "%s%" PRId64 " = device %" PRId64,
				 i ? ", " : sep, r->xlat[i][0], r->xlat[i][1]);
		if (w < 0)
			return;
		used += (size_t)w;
	}
	used = strlen(buf);
	if (r->has_unavail && used < len)
		snprintf(buf + used, len - used, "%sunavailable %" PRId64, used ? "; " : "",
			 r->unavail);
}

/* "0..1000", "0, 1, 2", ">= 5"; empty when the register declares nothing. */
static void map__limits(const struct map_register *r, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (r->values) {
		for (size_t i = 0; i < r->nvalues && used < len; i++) {
			int w = snprintf(buf + used, len - used, "%s%" PRId64, i ? ", " : "",
					 r->values[i]);
			if (w < 0)
				return;
			used += (size_t)w;
		}
	} else if (r->has_min && r->has_max) {
		snprintf(buf, len, "%" PRId64 "..%" PRId64, r->min, r->max);
	} else if (r->has_min) {
		snprintf(buf, len, ">= %" PRId64, r->min);
	} else if (r->has_max) {
		snprintf(buf, len, "<= %" PRId64, r->max);
	}
	if (r->has_bytes) {
		used = strlen(buf);
		snprintf(buf + used, len - used, "%shigh byte %u..%u, low byte %u..%u",
			 used ? "; " : "", r->byte_min[0], r->byte_max[0], r->byte_min[1],
			 r->byte_max[1]);
	}
	map__derived_text(r, buf, len);
}

static void map__type_text_plain(const struct map_register *r, char *buf, size_t len)
{
	if (r->type == MAP_INT32 || r->type == MAP_UINT32 || r->type == MAP_FLOAT32)
		snprintf(buf, len, "%s (%s word first)", map__types[r->type],
			 r->word_little ? "low" : "high");
	else if (r->string_little)
		snprintf(buf, len, "%s (little-endian on the device)", map__types[r->type]);
	else
		snprintf(buf, len, "%s", map__types[r->type]);
}

static void map__type_text(const struct map_register *r, char *buf, size_t len)
{
	size_t k;
	map__type_text_plain(r, buf, len);
	k = strlen(buf);
	if (r->format && k < len)
		snprintf(buf + k, len - k, ", shown as %s", map_formats[r->format - 1]);
}

/* The map's `summary` as "soc, power" ("" when it has none). */
static const char *map__summary_text(const struct map *m, char *buf, size_t len)
{
	size_t k = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < m->nsummary && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%s", i ? ", " : "", m->summary[i]->name);
	return buf;
}

/* What the protocol line says: the protocol's own text, or for a map of
 * several (a list, the family "rtu") their names. */
static void map__protocol_text(const struct map *m, char *buf, size_t len)
{
	char names[128];
	size_t used = 0;
	if (!m->proto_text) {
		snprintf(buf, len, "%s", m->proto->text);
		return;
	}
	if (strcmp(m->proto_text, "rtu") == 0) {
		snprintf(buf, len, "every protocol that carries Modbus RTU (%s)",
			 protocol_names(PROTOCOL_RTU, ", ", " and ", names, sizeof names));
		return;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < protocol_count() && used < len; i++)
		if (map_speaks(m, protocol_at(i)))
			used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "; " : "",
						 protocol_at(i)->text);
}

/* --- the walk: facts, computed once for the three renderers --------------- */

static const char map__dnames[][13] = {"poll", "max_age", "timeout", "min_interval", "retries"};

/* What the reference says of the map as a whole. */
struct map__doc {
	const struct map *m;
	FILE *out;
	struct json json; /* the JSON renderer's writer, on out */
	int native;	  /* some register has a native address of its own */
	int keyed;	  /* the protocol finds values by key (PROTOCOL_KEYED) */
	int namew;	  /* the widest register name, at least 4 (text columns) */
	int any_once;	  /* a register or a command is written at most once */
	int any_labels;	  /* a register has `enum` or `bits` */
	int64_t dvals[MAP__N(map__dnames)]; /* `defaults`, -1 where unset */
	int have_defaults;
	char times[32];	    /* " \u00d7N" for N attested devices, else "" */
	char protocol[256]; /* map__protocol_text */
	char summary[512];  /* "soc, power", or "" */
	char secrets[512];  /* map__secrets_text, or "" */
};

/* What the reference says of one register. */
struct map__reg {
	const struct map_register *r;
	size_t index;		/* in the map's (table, address) order */
	const char *access;	/* "r", "w", "rw" */
	const char *word_order; /* 32-bit types: "big" or "little"; otherwise NULL */
	const char *format;	/* the name of its `format`, or NULL */
	char addr[32];		/* "a" or "a..b" */
	char native[32];  /* on the device: "a..b", "-" for a constant; "" unless doc.native */
	char type[48];	  /* "int32 (high word first), shown as ipv4" */
	char limits[256]; /* range/values, bytes and derived (map__limits) */
	/* numeric `default` and `constant` as values.c writes them; *_ok 0
	 * where that is no number (a float32's NaN or infinity) */
	char def[32], konst[32];
	int def_ok, konst_ok;
};

static void map__doc_facts(const struct map *m, FILE *out, struct map__doc *d)
{
	const int64_t dvals[] = {m->defaults.poll, m->defaults.max_age, m->defaults.timeout,
				 m->defaults.min_interval, m->defaults.retries};

	memset(d, 0, sizeof *d);
	d->m = m;
	d->out = out;
	json_init_file(&d->json, out);
	d->keyed = (m->proto->flags & PROTOCOL_KEYED) != 0;
	d->namew = 4;
	for (size_t i = 0; i < m->nregs; i++) {
		const struct map_register *r = &m->regs[i];
		int n = (int)strlen(r->name);
		d->native |= r->native != r->address;
		d->namew = n > d->namew ? n : d->namew;
		d->any_once |= r->no_retry;
		d->any_labels |= r->nlabels || r->nbits;
	}
	for (size_t i = 0; i < m->ncmds; i++)
		d->any_once |= m->cmds[i].no_retry;
	for (size_t i = 0; i < MAP__N(dvals); i++)
		d->have_defaults |= (d->dvals[i] = dvals[i]) >= 0;
	if (m->nattest)
		snprintf(d->times, sizeof d->times, " \u00d7%zu", m->nattest);
	map__protocol_text(m, d->protocol, sizeof d->protocol);
	map__summary_text(m, d->summary, sizeof d->summary);
	map__secrets_text(m, d->secrets, sizeof d->secrets);
}

static void map__reg_facts(const struct map__doc *d, size_t i, struct map__reg *g)
{
	const struct map_register *r = &d->m->regs[i];
	int wide = r->type == MAP_INT32 || r->type == MAP_UINT32 || r->type == MAP_FLOAT32;

	g->r = r;
	g->index = i;
	g->access = map__access_text(r->access);
	g->word_order = !wide ? NULL : r->word_little ? "little" : "big";
	g->format = r->format ? map_formats[r->format - 1] : NULL;
	map__range_text(g->addr, sizeof g->addr, r->address, r->count);
	g->native[0] = '\0';
	if (d->native && r->is_const) /* nothing is read from the device */
		snprintf(g->native, sizeof g->native, "-");
	else if (d->native)
		map__range_text(g->native, sizeof g->native, r->native, r->count);
	map__type_text(r, g->type, sizeof g->type);
	map__limits(r, g->limits, sizeof g->limits);
	g->def_ok = values_raw_text(r, r->def, g->def, sizeof g->def) == 0;
	g->konst_ok = values_raw_text(r, r->const_value, g->konst, sizeof g->konst) == 0;
}

/* A renderer: the map's head, each table's heading (may be NULL), each
 * register, and what follows the registers. */
struct map__renderer {
	void (*head)(struct map__doc *d);
	void (*table)(struct map__doc *d, int table);
	void (*reg)(struct map__doc *d, const struct map__reg *g);
	void (*tail)(struct map__doc *d);
};

/* The one walk over the registers, in (table, address) order. */
static void map__walk(const struct map *m, FILE *out, const struct map__renderer *rn)
{
	struct map__doc d;
	struct map__reg g;

	map__doc_facts(m, out, &d);
	rn->head(&d);
	for (int t = 0; t < MAP_TABLES; t++) {
		if (m->table_start[t] == m->table_start[t + 1])
			continue;
		if (rn->table)
			rn->table(&d, t);
		for (size_t i = m->table_start[t]; i < m->table_start[t + 1]; i++) {
			map__reg_facts(&d, i, &g);
			rn->reg(&d, &g);
		}
	}
	rn->tail(&d);
}

/* --- JSON ----------------------------------------------------------------- */

/* A numeric value of r as JSON: the number, or null (a float32's NaN). */
static void map__json_value(struct json *w, const char *key, const struct map_register *r,
			    const char *string, const char *num, int ok)
{
	json_printf(w, ", \"%s\": ", key);
	if (r->type == MAP_STRING)
		json_str(w, string);
	else
		json_raw(w, ok ? num : "null");
}

/* A list of labels, {"value": 3, "text": "..."}, under key. */
static void map__json_labels(struct json *w, const char *key, const char *valkey,
			     const struct map_label *l, size_t n)
{
	json_printf(w, ", \"%s\": [", key);
	for (size_t j = 0; j < n; j++) {
		json_printf(w, "%s{\"%s\": %" PRId64 ", \"text\": ", j ? ", " : "", valkey,
			    l[j].value);
		json_str(w, l[j].text);
		json_raw(w, "}");
	}
	json_raw(w, "]");
}

static void map__json_head(struct map__doc *d)
{
	const struct map *m = d->m;
	struct json *w = &d->json;
	int first = 1;

	json_key_str(w, "{\n  \"name\": ", m->name);
	json_key_str(w, ",\n  \"protocol\": ", map_protocol(m));
	json_key_str(w, ",\n  \"trust\": ", map_trust(m));
	json_key_str(w, ",\n  \"trust_meaning\": ", map__trust_text[m->trust]);
	json_key_str(w, ",\n  \"verified_by\": ", m->verified_by);
	json_raw(w, ",\n  \"agrees_with\": [");
	for (size_t i = 0; i < m->nagree; i++) {
		json_key_str(w, i ? ", {\"name\": " : "{\"name\": ", m->agree[i].name);
		json_key_str(w, ", \"file\": ", m->agree[i].file);
		json_key_str(w, ", \"covers\": ", m->agree[i].covers);
		json_raw(w, "}");
	}
	json_raw(w, "]");
	/* hardware-verified xN: N is the list's length */
	json_raw(w, ",\n  \"attested\": [");
	for (size_t i = 0; i < m->nattest; i++) {
		json_key_str(w, i ? ", {\"device\": " : "{\"device\": ", m->attest[i].device);
		json_key_str(w, ", \"date\": ", m->attest[i].date);
		json_key_str(w, ", \"readings\": ", m->attest[i].readings);
		json_raw(w, "}");
	}
	json_raw(w, "]");
	json_key_str(w, ",\n  \"never_passed_through\": ", d->secrets[0] ? d->secrets : NULL);
	json_key_str(w, ",\n  \"description\": ", m->description);
	json_key_str(w, ",\n  \"source\": ", m->source);
	json_key_str(w, ",\n  \"vendor\": ", m->vendor);
	json_key_str(w, ",\n  \"model\": ", m->model);
	if (m->max_read)
		json_printf(w, ",\n  \"max_read\": %d", m->max_read);
	json_raw(w, ",\n  \"defaults\": {");
	for (size_t i = 0; i < MAP__N(map__dnames); i++) {
		if (d->dvals[i] < 0)
			continue;
		json_printf(w, "%s\"%s\": %" PRId64, first ? "" : ", ", map__dnames[i],
			    d->dvals[i]);
		first = 0;
	}
	json_raw(w, "},\n  \"summary\": [");
	for (size_t i = 0; i < m->nsummary; i++)
		json_key_str(w, i ? ", " : "", m->summary[i]->name);
	json_raw(w, "],\n  \"registers\": [");
}

static void map__json_reg(struct map__doc *d, const struct map__reg *g)
{
	const struct map_register *r = g->r;
	struct json *w = &d->json;

	json_printf(w,
		    "%s\n    {\"table\": \"%s\", \"address\": %u, \"name\": ", g->index ? "," : "",
		    map__tables[r->table], r->address);
	json_str(w, r->name);
	json_printf(w, ", \"type\": \"%s\", \"words\": %u, \"access\": \"%s\"", map__types[r->type],
		    r->count, g->access);
	if (g->word_order)
		json_printf(w, ", \"word_order\": \"%s\"", g->word_order);
	if (r->string_little)
		json_raw(w, ", \"string_order\": \"little\"");
	if (g->format)
		json_printf(w, ", \"format\": \"%s\"", g->format);
	if (r->group)
		json_printf(w, ", \"group\": \"%s\"", map_groups[r->group - MAP_GROUP_STATUS]);
	if (r->native != r->address)
		json_printf(w, ", \"native\": %u", r->native);
	json_printf(w, ", \"scale\": %.15g", r->scale);
	if (r->unit)
		json_key_str(w, ", \"unit\": ", r->unit);
	if (r->has_min)
		json_printf(w, ", \"min\": %" PRId64, r->min);
	if (r->has_max)
		json_printf(w, ", \"max\": %" PRId64, r->max);
	if (r->has_bytes)
		json_printf(w,
			    ", \"bytes\": [{\"min\": %u, \"max\": %u}, {\"min\": %u, \"max\": %u}]",
			    r->byte_min[0], r->byte_max[0], r->byte_min[1], r->byte_max[1]);
	if (r->values) {
		json_raw(w, ", \"values\": [");
		for (size_t j = 0; j < r->nvalues; j++)
			json_printf(w, "%s%" PRId64, j ? ", " : "", r->values[j]);
		json_raw(w, "]");
	}
	if (r->has_default)
		map__json_value(w, "default", r, r->def_string, g->def, g->def_ok);
	if (r->is_const)
		map__json_value(w, "constant", r, r->const_string, g->konst, g->konst_ok);
	if (r->factor != 1)
		json_printf(w, ", \"factor\": %" PRId64, r->factor);
	if (r->has_unavail)
		json_printf(w, ", \"unavailable\": %" PRId64, r->unavail);
	if (r->xlat) {
		json_raw(w, ", \"translate\": [");
		for (size_t j = 0; j < r->nxlat; j++)
			json_printf(w, "%s[%" PRId64 ", %" PRId64 "]", j ? ", " : "", r->xlat[j][0],
				    r->xlat[j][1]);
		json_raw(w, "]");
	}
	if (r->key) {
		json_key_str(w, ", \"key\": ", r->key);
		if (r->field >= 0)
			json_printf(w, ", \"field\": %d", r->field);
		json_key_str(w, ", \"query\": ", r->query ? r->query : "cd=1");
	}
	if (r->write) {
		json_key_str(w, ", \"write\": ", r->write);
		json_printf(w, ", \"ack\": %s", r->ack ? "true" : "false");
	}
	if (r->access & MAP_W)
		json_printf(w, ", \"retry\": %s", r->no_retry ? "false" : "true");
	if (r->labels)
		map__json_labels(w, "enum", "value", r->labels, r->nlabels);
	if (r->bits)
		map__json_labels(w, "bits", "bit", r->bits, r->nbits);
	json_key_str(w, ", \"description\": ", r->description);
	json_key_str(w, ", \"source\": ", r->source);
	json_raw(w, "}");
}

static void map__json_tail(struct map__doc *d)
{
	const struct map *m = d->m;
	struct json *w = &d->json;

	json_raw(w, m->nregs ? "\n  ],\n  \"commands\": [" : "],\n  \"commands\": [");
	for (size_t i = 0; i < m->ncmds; i++) {
		const struct map_command *c = &m->cmds[i];
		json_printf(w, "%s\n    {\"name\": ", i ? "," : "");
		json_str(w, c->name);
		json_printf(w, ", \"address\": %u, \"count\": %u, \"template\": ", c->address,
			    c->count);
		json_str(w, c->template);
		json_printf(w, ", \"ack\": %s, \"retry\": %s}", c->ack ? "true" : "false",
			    c->no_retry ? "false" : "true");
	}
	json_raw(w, m->ncmds ? "\n  ],\n  \"passthrough\": [" : "],\n  \"passthrough\": [");
	for (size_t i = 0; i < m->npass; i++) {
		const struct map_passthrough *p = &m->pass[i];
		json_printf(w,
			    "%s\n    {\"table\": \"%s\", \"first\": %u, \"last\": %u, "
			    "\"access\": \"%s\"}",
			    i ? "," : "", map__tables[p->table], p->first, p->last,
			    map__access_text(p->access));
	}
	json_raw(w, m->npass ? "\n  ]\n}\n" : "]\n}\n");
}

static const struct map__renderer map__json = {
    .head = map__json_head, .reg = map__json_reg, .tail = map__json_tail};

/* --- text ----------------------------------------------------------------- */

/* One line of the text reference, without trailing blanks (columns are
 * padded, and the last ones are often empty). */
static void map__line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void map__line(FILE *out, const char *fmt, ...)
{
	va_list ap;
	char small[512], *buf = small;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof small) {
		if (!(buf = malloc((size_t)n + 1)))
			return;
		va_start(ap, fmt);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	fprintf(out, "%.*s\n", n, buf);
	if (buf != small)
		free(buf);
}

static void map__text_head(struct map__doc *d)
{
	const struct map *m = d->m;
	FILE *out = d->out;

	map__line(out, "map %s: protocol %s, trust %s%s", m->name, map_protocol(m), map_trust(m),
		  d->times);
	if (m->description)
		map__line(out, "  %s", m->description);
	if (m->vendor || m->model)
		map__line(out, "  device: %s %s", m->vendor ? m->vendor : "",
			  m->model ? m->model : "");
	if (m->source)
		map__line(out, "  source: %s", m->source);
	map__line(out, "  trust: %s", map__trust_text[m->trust]);
	if (m->verified_by)
		map__line(out, "  verified by: %s", m->verified_by);
	if (d->summary[0])
		map__line(out, "  summary (shown first): %s", d->summary);
	if (d->secrets[0])
		map__line(out, "  never passed through (secrets): %s", d->secrets);
	for (size_t i = 0; i < m->nattest; i++)
		map__line(out, "  attested device %zu of %zu: %s, %s: %s", i + 1, m->nattest,
			  m->attest[i].device, m->attest[i].date, m->attest[i].readings);
	for (size_t i = 0; i < m->nagree; i++)
		map__line(out, "  agrees with (not a rung): %s, %s%s%s", m->agree[i].name,
			  m->agree[i].file, m->agree[i].covers ? ": " : "",
			  m->agree[i].covers ? m->agree[i].covers : "");
}

static void map__text_table(struct map__doc *d, int t)
{
	map__line(d->out, "\n%s registers", map__tables[t]);
	map__line(d->out, "%-11s %s%-*s %-24s %5s %-6s %8s %-6s %-20s %s", "address",
		  d->native ? "native      " : "", d->namew, "name", "type", "words", "access",
		  "scale", "unit", "range/values", "description");
}

static void map__text_reg(struct map__doc *d, const struct map__reg *g)
{
	const struct map_register *r = g->r;
	FILE *out = d->out;
	int natw = d->native ? 12 : 0; /* the native column, when there is one */

	map__line(out, "%-11s %-*.*s%-*s %-24s %5u %-6s %8.6g %-6s %-20s %s", g->addr, natw, natw,
		  g->native, d->namew, r->name, g->type, r->count, g->access, r->scale,
		  r->unit ? r->unit : "", g->limits, r->description ? r->description : "");
	if (r->no_retry)
		map__line(out, "%12swritten at most once: never retried (retry = false)", "");
	if (r->query)
		map__line(out, "%12sread by %s (key %s)", "", r->query, r->key);
	if (r->source)
		map__line(out, "%12ssource: %s", "", r->source);
	for (size_t j = 0; j < r->nlabels; j++)
		map__line(out, "%12s%" PRId64 " = %s", "", r->labels[j].value, r->labels[j].text);
	for (size_t j = 0; j < r->nbits; j++)
		map__line(out, "%12sbit %" PRId64 " = %s", "", r->bits[j].value, r->bits[j].text);
}

static void map__text_tail(struct map__doc *d)
{
	const struct map *m = d->m;
	FILE *out = d->out;

	for (size_t i = 0; i < m->npass; i++) {
		const struct map_passthrough *p = &m->pass[i];
		if (i == 0)
			map__line(out, "\npassthrough (sent to the device as they are where no "
				       "register describes them)");
		map__line(out, "%-7s %5u..%-5u %s", map__tables[p->table], p->first, p->last,
			  p->access & MAP_W ? "read and write" : "read-only");
	}
	if (m->ncmds) {
		map__line(out, "\ncommands (written together with FC16)");
		for (size_t i = 0; i < m->ncmds; i++) {
			const struct map_command *c = &m->cmds[i];
			char addr[32];
			map__range_text(addr, sizeof addr, c->address, c->count);
			map__line(out, "%-11s %-*s %s%s%s", addr, d->namew, c->name, c->template,
				  c->ack ? "" : "  (no acknowledgement)",
				  c->no_retry ? "  (sent at most once)" : "");
		}
	}
}

static const struct map__renderer map__text = {
    .head = map__text_head, .table = map__text_table, .reg = map__text_reg, .tail = map__text_tail};

/* --- Markdown ------------------------------------------------------------- */

/* "| Head | text |\n" for a text of the map's head, escaped; nothing when
 * text is NULL. */
static void map__md_row(FILE *out, const char *head, const char *text)
{
	if (!text)
		return;
	fprintf(out, "| %s | ", head);
	map__md(out, text);
	fputs(" |\n", out);
}

/* A register's value texts or bit texts as a Markdown table (nothing when
 * it has none): one function for `enum` and `bits`, which differ only in
 * their headings. */
static void map__md_labels(FILE *out, const struct map_register *r, const char *what,
			   const char *head, const struct map_label *l, size_t n)
{
	if (!n)
		return;
	fprintf(out, "\n### `%s` (%s %u): %s\n\n| %s |\n|---:|---|\n", r->name,
		map__tables[r->table], r->address, what, head);
	for (size_t j = 0; j < n; j++) {
		fprintf(out, "| %" PRId64 " | ", l[j].value);
		map__md(out, l[j].text);
		fputs(" |\n", out);
	}
}

static void map__md_head(struct map__doc *d)
{
	const struct map *m = d->m;
	FILE *out = d->out;

	fprintf(out, "# Register map: %s\n\n", m->name);
	if (m->description) {
		map__md(out, m->description);
		fputs("\n\n", out);
	}
	fputs("| | |\n|---|---|\n", out);
	fprintf(out, "| Protocol | `%s`: %s |\n", map_protocol(m), d->protocol);
	fprintf(out, "| Trust | **%s%s**: %s |\n", map_trust(m), d->times,
		map__trust_text[m->trust]);
	if (m->nattest) {
		fputs("| Attested devices | ", out);
		for (size_t i = 0; i < m->nattest; i++) {
			fputs(i ? "; " : "", out);
			map__md(out, m->attest[i].device);
			fputs(" (", out);
			map__md(out, m->attest[i].date);
			fputs("): ", out);
			map__md(out, m->attest[i].readings);
		}
		fputs(" |\n", out);
	}
	map__md_row(out, "Verified by", m->verified_by);
	map__md_row(out, "Never passed through (secrets)", d->secrets[0] ? d->secrets : NULL);
	if (m->nagree) {
		fputs("| Agrees with (not a rung) | ", out);
		for (size_t i = 0; i < m->nagree; i++) {
			fputs(i ? "; " : "", out);
			map__md(out, m->agree[i].name);
			fputs(" (`", out);
			map__md(out, m->agree[i].file);
			fputs("`)", out);
			if (m->agree[i].covers) {
				fputs(": ", out);
				map__md(out, m->agree[i].covers);
			}
		}
		fputs(" |\n", out);
	}
	map__md_row(out, "Summary (shown first)", d->summary[0] ? d->summary : NULL);
	map__md_row(out, "Source", m->source);
	if (m->vendor || m->model) {
		fputs("| Device | ", out);
		map__md(out, m->vendor);
		fputs(m->vendor && m->model ? " " : "", out);
		map__md(out, m->model);
		fputs(" |\n", out);
	}
	if (d->have_defaults) {
		int first = 1;
		fputs("| Timing defaults | ", out);
		for (size_t i = 0; i < MAP__N(map__dnames); i++) {
			if (d->dvals[i] < 0)
				continue;
			/* retries is a count, the others are times */
			fprintf(out, "%s%s %" PRId64 "%s", first ? "" : ", ", map__dnames[i],
				d->dvals[i], i + 1 < MAP__N(map__dnames) ? " ms" : "");
			first = 0;
		}
		fputs(" (a device's own keys override these) |\n", out);
	}
	if (m->max_read)
		fprintf(out, "| Registers per native read | at most %d |\n", m->max_read);
	if (m->nregs)
		fputs("\nValues on the wire are raw integers: multiply by *Scale* to get the value "
		      "in *Unit*. 32-bit values take two registers; the type says which word comes "
		      "first. Strings hold two characters per register, the first in the high byte "
		      "(where the device keeps them the other way round, the type says "
		      "*little-endian on the device* and the bridge swaps the bytes). Writes "
		      "outside *Range / values* are refused with exception 03. *Source* says where "
		      "a register's meaning comes from.\n",
		      out);
	if (d->any_once)
		fputs("\nA write is retried within the client's timeout when an attempt gets no "
		      "answer, except where the access says *at most once* (`retry = false`: a "
		      "trigger, a counter, a reset): such a write is sent to the device once.\n",
		      out);
}

static void map__md_table(struct map__doc *d, int t)
{
	static const char *const title[] = {
	    "Holding registers (FC03 read; FC06/FC16 write where access has w)",
	    "Input registers (FC04, read-only)",
	};
	FILE *out = d->out;

	fprintf(out,
		"\n## %s\n\n| Address |%s Name | Type | Words | Access | Scale | Unit | "
		"Range / values |%s Description | Source |\n|---:|%s---|---|---:|---|---:|"
		"---|---|%s---|---|\n",
		title[t], d->native ? " Native |" : "", d->keyed ? " Key |" : "",
		d->native ? "---:|" : "", d->keyed ? "---|" : "");
}

/* The Key cell of a keyed protocol: "`key` field 2 of `cd=4`; write `...`". */
static void map__md_key(FILE *out, const struct map_register *r)
{
	fputc(' ', out);
	if (r->key) {
		fputc('`', out);
		map__md(out, r->key);
		fputc('`', out);
		if (r->field >= 0)
			fprintf(out, " field %d", r->field);
		if (r->query) {
			fputs(" of `", out);
			map__md(out, r->query);
			fputc('`', out);
		}
	}
	if (r->write) {
		fputs(r->key ? "; write `" : "write `", out);
		map__md(out, r->write);
		fputc('`', out);
	}
	fputs(" |", out);
}

static void map__md_reg(struct map__doc *d, const struct map__reg *g)
{
	const struct map_register *r = g->r;
	FILE *out = d->out;

	fprintf(out, "| %s |", g->addr);
	if (d->native)
		fprintf(out, " %s |", g->native);
	fprintf(out, " `%s` | %s | %u | %s%s | %.6g | ", r->name, g->type, r->count, g->access,
		r->no_retry ? ", at most once" : "", r->scale);
	map__md(out, r->unit);
	fputs(" | ", out);
	map__md(out, g->limits);
	if (r->has_default) {
		fputs(g->limits[0] ? "; default " : "default ", out);
		if (r->type == MAP_STRING) {
			fputc('"', out);
			map__md(out, r->def_string);
			fputc('"', out);
		} else {
			fputs(g->def, out);
		}
	}
	fputs(" |", out);
	if (d->keyed)
		map__md_key(out, r);
	fputc(' ', out);
	map__md(out, r->description);
	fputs(" | ", out);
	map__md(out, r->source);
	fputs(" |\n", out);
}

static void map__md_roles(const struct map *m, FILE *out)
{
	int any_role = 0;
	for (int k = 0; k < MAP_ROLE_KINDS; k++)
		any_role |= map_has_role(m, k);
	if (!any_role)
		return;
	fputs("\n## Roles in the site\n\nWhat a device of this map gives the site device "
	      "when its config names the role (`role = \"...\"`; docs/user-guide.md, \"The "
	      "site\"). Power counts positive while the device delivers power to the site; "
	      "*Sign* says which way the register itself counts.\n\n"
	      "| Role | Power | Sign | Energy delivered | Energy taken | SOC | Capacity |\n"
	      "|---|---|---|---|---|---|---|\n",
	      out);
	for (int k = 0; k < MAP_ROLE_KINDS; k++) {
		if (!map_has_role(m, k))
			continue;
		fprintf(out, "| %s |", map_role_kinds[k]);
		for (int q = 0; q < MAP_ROLE_NQ; q++) {
			const struct map_register *r = map_role(m, k, q, NULL);
			if (r)
				fprintf(out, " `%s` |", r->name);
			else
				fputs(" — |", out);
			if (q == MAP_ROLE_POWER)
				fprintf(out, " %s |",
					!r		    ? "—"
					: m->power_taken[k] ? "positive while taking"
							    : "positive while delivering");
		}
		fputs("\n", out);
	}
}

static void map__md_tail(struct map__doc *d)
{
	const struct map *m = d->m;
	FILE *out = d->out;

	if (d->any_labels) {
		fputs("\n## Values and bits\n", out);
		for (size_t i = 0; i < m->nregs; i++) {
			const struct map_register *r = &m->regs[i];
			map__md_labels(out, r, "values", "Value | Meaning", r->labels, r->nlabels);
			map__md_labels(out, r, "bits", "Bit | Meaning when set", r->bits, r->nbits);
		}
	}
	if (m->npass) {
		fputs("\n## Pass-through\n\nAddresses of these ranges that no register above "
		      "describes are sent to the device as they are, and its answer, exception "
		      "included, comes back unchanged. They are read only when a client asks "
		      "(never polled) and cached for `max_age` like registers. Writes pass only "
		      "where the access says so; elsewhere they are refused with exception 02.\n\n"
		      "| Table | First | Last | Access |\n|---|---:|---:|---|\n",
		      out);
		for (size_t i = 0; i < m->npass; i++) {
			const struct map_passthrough *p = &m->pass[i];
			fprintf(out, "| %s | %u | %u | %s |\n", map__tables[p->table], p->first,
				p->last, p->access & MAP_W ? "read, write (FC06/FC16)" : "read");
		}
	}
	map__md_roles(m, out);
	if (m->ncmds) {
		fputs("\n## Write commands\n\nThese registers are written together, with one FC16 "
		      "that covers exactly the command's range; a write of part of it is refused "
		      "with exception 02. In the template, `{0}` stands for the first register "
		      "written, `{1}` for the second, and so on (a 32-bit register is one "
		      "placeholder). A command is retried within the client's "
		      "timeout when an attempt gets no answer, unless *Retried* says no "
		      "(`retry = false`): then it is sent once.\n\n| Addresses | Name | Words | "
		      "Template | Acknowledged | Retried |\n"
		      "|---:|---|---:|---|---|---|\n",
		      out);
		for (size_t i = 0; i < m->ncmds; i++) {
			const struct map_command *c = &m->cmds[i];
			char addr[32];
			map__range_text(addr, sizeof addr, c->address, c->count);
			fprintf(out, "| %s | `%s` | %u | `", addr, c->name, c->count);
			map__md(out, c->template);
			fprintf(out, "` | %s | %s |\n", c->ack ? "yes" : "no",
				c->no_retry ? "no" : "yes");
		}
	}
}

static const struct map__renderer map__markdown = {
    .head = map__md_head, .table = map__md_table, .reg = map__md_reg, .tail = map__md_tail};

void map_print(const struct map *m, FILE *out, enum map_format fmt)
{
	map__walk(m, out,
		  fmt == MAP_FMT_JSON	    ? &map__json
		  : fmt == MAP_FMT_MARKDOWN ? &map__markdown
					    : &map__text);
}

/* The state, fault and warning registers SCADA reads, end to end: through
 * build/modbridge with libmodbus, from tests/sim/sim_solarman, for
 * growatt-hybrid (input 104, 105, 110..111), growatt-hybrid-tlxh (3000,
 * 3067, 3071, 3073, 3105, 3110), deye-hybrid (59, 101..106) and
 * deye-hybrid-3p (500, 553..558).
 *
 * Where the values come from: each simulator word is a key or bit of the
 * independent source's own table (Growatt-Local-Modbus
 * custom_components/growatt_local/API/device_type/base.py; ha-solarman
 * custom_components/solarman/inverter_definitions/deye_hybrid.yaml and
 * deye_p3.yaml), not a value taken from the map. The words read through the
 * bridge are decoded as that source decodes them (Growatt-Local: an int is
 * the first word, a two-word float is the signed 32-bit value high word
 * first over 10; ha-solarman rule 3: the listed registers summed, the first
 * the low word), and the result must be the source's text for it. Then the
 * map must say the same: its register decodes to that number, and its enum
 * or bit text for it is the source's. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "map.h"

#define SERIAL "1234567890"

enum src { GL_INT, GL_FLOAT2, HS_RULE3 };

static const struct check {
	int unit;
	const char *map;
	uint16_t address; /* holding for Deye, input for Growatt */
	int count;
	enum src how;
	double value; /* as the source decodes it */
	int bits[3];  /* set bits the source names, -1 ends; or an enum when bits[0] == -2 */
	const char *text[3];
} checks[] = {
    /* growatt-hybrid: the SPH's inverter words (Growatt-Local inverter_120.py) */
    {1, "growatt-hybrid", 104, 1, GL_INT, 6, {-2}, {"Tinv"}},
    {1, "growatt-hybrid", 105, 1, GL_INT, 26, {-2}, {"PV Isolation Low"}},
    {1, "growatt-hybrid", 110, 2, GL_INT, 1, {0, -1}, {"Fan warning"}},
    /* growatt-hybrid-tlxh (inverter_120.py INPUT_REGISTERS_120_TL_XH,
     * storage_120.py); InverterStatus is applied to the word & 0x0F */
    {2, "growatt-hybrid-tlxh", 3000, 1, GL_INT, 5, {-2}, {"PV_charge"}},
    {2, "growatt-hybrid-tlxh", 3067, 2, GL_FLOAT2, 20.0, {-1}, {NULL}},
    {2, "growatt-hybrid-tlxh", 3071, 2, GL_FLOAT2, 6553.6, {-1}, {NULL}},
    {2, "growatt-hybrid-tlxh", 3073, 2, GL_FLOAT2, 13108.8, {-1}, {NULL}},
    {2, "growatt-hybrid-tlxh", 3105, 1, GL_INT, 29, {-2}, {"PV Voltage High"}},
    {2, "growatt-hybrid-tlxh", 3110, 1, GL_INT, 256, {8, -1}, {"PV1 or PV2 circuit short"}},
    /* deye-hybrid (ha-solarman deye_hybrid.yaml) */
    {3, "deye-hybrid", 59, 1, HS_RULE3, 2, {-2}, {"Normal"}},
    {3, "deye-hybrid", 101, 2, HS_RULE3, 1073741824.0, {30, -1}, {"Battery loss"}},
    {3,
     "deye-hybrid",
     103,
     4,
     HS_RULE3,
     9223372036855038016.0, /* bits 6, 18 and 63 */
     {6, 18, 63},
     {"DC/DC Soft Start failure", "Tz_Integ_Fault failure", "Temperature is too high"}},
    /* deye-hybrid-3p (ha-solarman deye_p3.yaml) */
    {4, "deye-hybrid-3p", 500, 1, HS_RULE3, 3, {-2}, {"Alarm"}},
    {4,
     "deye-hybrid-3p",
     553,
     2,
     HS_RULE3,
     2147483650.0, /* bits 1 and 31 */
     {1, 31, -1},
     {"Fan failure", "Parallel communication quality"}},
    {4,
     "deye-hybrid-3p",
     555,
     4,
     HS_RULE3,
     528384.0, /* bits 12 and 19 */
     {12, 19, -1},
     {"Working mode changed", "DC Over-current failure"}},
};

/* The words as the source decodes them; for 64-bit values exact in *u. */
static double source_decode(enum src how, const uint16_t *w, int n, uint64_t *u)
{
	*u = 0;
	switch (how) {
	case GL_INT:
		*u = w[0];
		return w[0];
	case GL_FLOAT2:
		*u = (uint64_t)w[0] << 16 | w[1];
		return (double)(int32_t)(uint32_t)*u / 10.0;
	case HS_RULE3:
		for (int i = 0; i < n; i++)
			*u |= (uint64_t)w[i] << (16 * i);
		return (double)*u;
	}
	return 0;
}

/* What a client decodes from the map's register r at w (raw x scale). */
static double client_decode(const struct map_register *r, const uint16_t *w, uint64_t *raw)
{
	if (r->count == 1) {
		*raw = r->type == MAP_INT16 ? (uint64_t)(int64_t)(int16_t)w[0] : w[0];
		return (r->type == MAP_INT16 ? (double)(int16_t)w[0] : (double)w[0]) * r->scale;
	}
	uint32_t hi = r->word_little ? w[1] : w[0], lo = r->word_little ? w[0] : w[1];
	*raw = (uint64_t)hi << 16 | lo;
	return (r->type == MAP_INT32 ? (double)(int32_t)(uint32_t)*raw : (double)*raw) * r->scale;
}

static const char *label(const struct map_label *l, size_t n, int64_t v)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].value == v)
			return l[i].text;
	return NULL;
}

static pid_t start_sim(const char *profile, int *port, const char *log)
{
	char p[16];
	*port = h_free_port();
	snprintf(p, sizeof p, "%d", *port);
	const char *argv[] = {
	    h_bin("tests/sim/sim_solarman"), "--port", p, "--profile", profile, NULL};
	pid_t pid = h_spawn(argv, log);
	return pid > 0 && h_wait_port(*port, 5000) == 0 ? pid : -1;
}

static void check_one(modbus_t *mb, const struct check *c)
{
	char err[2048], rel[64];
	uint16_t w[8];
	int input = strncmp(c->map, "growatt", 7) == 0;
	snprintf(rel, sizeof rel, "maps/%s.conf", c->map);
	struct map *m = map_load(h_repo_file(rel), err, sizeof err);
	if (!h_ok(m != NULL, "%s loads", c->map))
		return;
	modbus_set_slave(mb, c->unit);
	int n = input ? modbus_read_input_registers(mb, c->address, c->count, w)
		      : modbus_read_registers(mb, c->address, c->count, w);
	if (!h_ok(n == c->count, "%s %u x %d read through the bridge (%s)", c->map, c->address,
		  c->count, n == c->count ? "ok" : modbus_strerror(errno))) {
		map_free(m);
		return;
	}
	uint64_t su;
	double sv = source_decode(c->how, w, c->count, &su);
	h_ok(fabs(sv - c->value) <= 1e-9 * (1 + fabs(c->value)),
	     "%s %u: the source's decoding gives %.10g (expected %.10g)", c->map, c->address, sv,
	     c->value);

	/* The map: one register here, or (Deye's 64-bit fault) two. */
	uint64_t mu = 0;
	double mv = 0;
	int ok = 1;
	for (int off = 0; off < c->count && ok;) {
		const struct map_register *r =
		    map_find(m, input ? MAP_INPUT : MAP_HOLDING, (uint16_t)(c->address + off));
		if (!r || r->address != c->address + off) {
			ok = 0;
			break;
		}
		uint64_t raw;
		double v = client_decode(r, w + off, &raw);
		if (off == 0)
			mv = v;
		if (c->how == HS_RULE3)
			mu |= raw << (16 * off);
		/* Texts: the source's for each bit it names, in the register
		 * that holds it; the enum text for the value. */
		if (c->bits[0] == -2) {
			const char *t = label(r->labels, r->nlabels, (int64_t)raw);
			ok = t && strcmp(t, c->text[0]) == 0;
			if (!ok)
				h_note("%s: enum %llu is \"%s\"", r->name, (unsigned long long)raw,
				       t ? t : "(none)");
		}
		for (int b = 0; c->bits[0] != -2 && b < 3 && c->bits[b] >= 0; b++) {
			int lo = 16 * off, hi = 16 * (off + r->count);
			if (c->bits[b] < lo || c->bits[b] >= hi)
				continue;
			const char *t = label(r->bits, r->nbits, c->bits[b] - lo);
			if (!t || strcmp(t, c->text[b]) != 0 || !((raw >> (c->bits[b] - lo)) & 1)) {
				h_note("%s: bit %d is \"%s\"", r->name, c->bits[b] - lo,
				       t ? t : "(none)");
				ok = 0;
			}
		}
		if (c->how == GL_INT && c->count == 2)
			break; /* Growatt-Local keeps the first word alone */
		off += r->count;
	}
	if (c->how == HS_RULE3)
		ok = ok && mu == su;
	else
		ok = ok && fabs(mv - sv) <= 1e-9 * (1 + fabs(sv));
	h_ok(ok, "%s %u: the map decodes it as the source does, with the source's texts", c->map,
	     c->address);
	map_free(m);
}

int main(void)
{
	h_init("maps_scada");
	int pg, pd, p3;
	pid_t sg = start_sim("growatt-hybrid", &pg, "sim_g.log");
	pid_t sd = start_sim("deye-hybrid", &pd, "sim_d.log");
	pid_t s3 = start_sim("deye-hybrid-3p", &p3, "sim_3.log");
	if (!h_ok(sg > 0 && sd > 0 && s3 > 0, "three sim_solarman profiles listen")) {
		h_stop(sg, 3000), h_stop(sd, 3000), h_stop(s3, 3000);
		return h_done();
	}
	int mb_port = h_free_port();
	char conf[2048];
#define DEV(name, unit, map, port)                                                                 \
	"  { name = \"" name "\"; unit_id = " #unit "; map = \"" map                               \
	"\"; poll = 0; max_age = 0;\n"                                                             \
	"    timeout = 2000; solarman = { host = \"127.0.0.1\"; port = %d; serial = " SERIAL       \
	"; slave = 1; }; }"
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n" DEV("sph", 1, "growatt-hybrid", port) ",\n" DEV(
		     "tlxh", 2, "growatt-hybrid-tlxh",
		     port) ",\n" DEV("deye", 3, "deye-hybrid",
				     port) ",\n" DEV("deye3p", 4, "deye-hybrid-3p", port) "\n);\n",
		 mb_port, h_maps_dir(), pg, pg, pd, p3);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (h_ok(bridge > 0, "bridge started") &&
	    h_ok(h_wait_lines(h_path("bridge.log"), "link up", 4, 15000),
		 "the four links are up")) {
		modbus_t *mb = h_modbus(mb_port, 1);
		for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
			check_one(mb, &checks[i]);
		modbus_close(mb);
		modbus_free(mb);
	}
	if (bridge > 0)
		h_ok(h_bridge_stop(bridge) == 0, "bridge stopped cleanly");
	h_stop(sg, 3000);
	h_stop(sd, 3000);
	h_stop(s3, 3000);
	return h_done();
}

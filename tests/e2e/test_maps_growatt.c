/* maps/growatt.conf as a Modbus client sees it: every register of the
 * shipped map is read through the real bridge with libmodbus (FC04 for the
 * input registers, FC03 for the identification registers), from
 * tests/sim/sim_solarman behind the Solarman V5 framing, and decoded as a
 * client decodes it from the map's reference (type, sign, word order, scale)
 * into the physical value this test expects.
 *
 * Where the values come from: the Growatt document (growatt-modbus-map.txt,
 * Protocol II V1.24) gives no example values, and neither do the
 * independent implementations (ESPHome's growatt_solar, evcc's templates),
 * so the simulator's values are its own. They are chosen so that a wrong
 * reading shows: every 32-bit value but two has a non-zero high word (a
 * swapped word order reads another number), temperatures are negative
 * where a sign can be lost, and each scale turns the raw value into a
 * physical value written out here by hand (12345.6 W, 50.01 Hz, -3.5 C).
 * What this cannot show is whether the document's addresses and scales are
 * right for a real inverter: test_interop.c holds what independent
 * implementations say about those. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "map.h"

#define SERIAL "1234567890"

/* The physical value a client must read, register by register. */
static const struct {
	const char *name;
	double value;	  /* numbers: raw x scale */
	const char *text; /* strings */
} expect[] = {
    {"inverter_status", 1, NULL},
    {"derating_mode", 6, NULL},
    {"fault_code", 26, NULL},
    {"warning_code", 1, NULL},
    {"warning_value", 7, NULL},
    {"ppv", 12345.6, NULL}, /* 0x0001E240: high word 1 */
    {"vpv1", 345.6, NULL},
    {"ipv1", 5.2, NULL},
    {"ppv1", 7000.0, NULL},
    {"vpv2", 332.1, NULL},
    {"ipv2", 4.1, NULL},
    {"ppv2", 5345.6, NULL},
    {"pac", 11800.0, NULL},
    {"fac", 50.01, NULL},
    {"vac1", 230.1, NULL},
    {"iac1", 17.1, NULL},
    {"pac1", 3933.0, NULL},
    {"vac2", 229.8, NULL},
    {"iac2", 17.0, NULL},
    {"pac2", 3906.6, NULL},
    {"vac3", 230.5, NULL},
    {"iac3", 17.2, NULL},
    {"pac3", 3964.6, NULL},
    {"eac_today", 18.7, NULL},
    {"eac_total", 234567.8, NULL},
    {"time_total", 6172839.0, NULL}, /* 12345678 half seconds */
    {"temp_inverter", 41.2, NULL},
    {"temp_ipm", 45.5, NULL},
    {"temp_boost", -3.5, NULL},
    {"p_bus_voltage", 380.1, NULL},
    {"n_bus_voltage", 379.5, NULL},
    {"vbat", 52.4, NULL},
    {"soc", 77, NULL},
    {"battery_temperature", -5.2, NULL},
    {"firmware", 0, "ABC123"},
    {"serial", 0, "SN12345678"},
    {"model", 0x12345678, NULL},
    {"serial_new", 0, "NEWSN0123456789ABCDEFGHIJKLMN"},
};
#define NEXPECT (sizeof expect / sizeof expect[0])

/* As a client decodes the words from the reference: not with map_decode. */
static double client_value(const struct map_register *r, const uint16_t *w)
{
	long long raw;
	switch (r->type) {
	case MAP_INT16:
		raw = (int16_t)w[0];
		break;
	case MAP_UINT16:
		raw = w[0];
		break;
	default: {
		uint32_t hi = r->word_little ? w[1] : w[0], lo = r->word_little ? w[0] : w[1];
		uint32_t u = hi << 16 | lo;
		raw = r->type == MAP_INT32 ? (long long)(int32_t)u : (long long)u;
	}
	}
	return (double)raw * r->scale;
}

static void client_string(const uint16_t *w, unsigned n, char *out)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		out[k++] = (char)(w[i] >> 8);
		out[k++] = (char)(w[i] & 0xFF);
	}
	out[k] = 0;
}

int main(void)
{
	h_init("maps_growatt");
	char err[2048];
	struct map *m = map_load(h_repo_file("maps/growatt.conf"), err, sizeof err);
	if (!h_ok(m != NULL, "maps/growatt.conf loads (%s)", m ? "ok" : err))
		return h_done();

	int sport = h_free_port();
	char sport_s[16];
	snprintf(sport_s, sizeof sport_s, "%d", sport);
	const char *sargv[] = {h_bin("tests/sim/sim_solarman"), "--port", sport_s, NULL};
	pid_t sim = h_spawn(sargv, "sim.log");
	if (!h_ok(sim > 0 && h_wait_port(sport, 5000) == 0, "sim_solarman listens")) {
		map_free(m);
		return h_done();
	}
	int mb_port = h_free_port();
	char conf[1024];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"inv\"; unit_id = 1; map = \"growatt\"; poll = 0;\n"
		 "  max_age = 0; min_interval = 0; timeout = 2000;\n"
		 "  solarman = { host = \"127.0.0.1\"; port = %d; serial = " SERIAL
		 "; slave = 1; }; } );\n",
		 mb_port, h_maps_dir(), sport);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started")) {
		h_stop(sim, 3000);
		map_free(m);
		return h_done();
	}
	/* Reads before the logger link is up get 0A (slow under valgrind). */
	h_ok(h_wait_lines(h_path("bridge.log"), "link up", 1, 15000), "the logger link is up");
	modbus_t *mb = h_modbus(mb_port, 1);

	int good = 0, listed = 0;
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		size_t k = 0;
		while (k < NEXPECT && strcmp(expect[k].name, r->name) != 0)
			k++;
		if (k == NEXPECT) {
			h_ok(0, "%s: no expected value in this test", r->name);
			continue;
		}
		listed++;
		uint16_t w[32];
		int n = r->table == MAP_INPUT
			    ? modbus_read_input_registers(mb, r->address, r->count, w)
			    : modbus_read_registers(mb, r->address, r->count, w);
		if (n != r->count) {
			h_ok(0, "%s (%s %u): read failed: %s", r->name,
			     r->table == MAP_INPUT ? "input" : "holding", r->address,
			     modbus_strerror(errno));
			continue;
		}
		if (r->type == MAP_STRING) {
			char got[80];
			client_string(w, r->count, got);
			if (strcmp(got, expect[k].text) != 0) {
				h_ok(0, "%s: reads \"%s\", expected \"%s\"", r->name, got,
				     expect[k].text);
				continue;
			}
		} else {
			double v = client_value(r, w);
			if (fabs(v - expect[k].value) > 1e-6 * (1 + fabs(expect[k].value))) {
				h_ok(0, "%s: decodes to %.10g %s, expected %.10g", r->name, v,
				     r->unit ? r->unit : "", expect[k].value);
				continue;
			}
		}
		good++;
	}
	h_ok(good == (int)map_nregs(m) && listed == (int)NEXPECT,
	     "all %zu registers read through the bridge decode to the expected values (type, "
	     "sign, word order, scale)",
	     map_nregs(m));

	/* The state words' texts are Growatt-Local-Modbus's (device_type/base.py)
	 * for the keys the simulator holds: the map must name them alike. */
	static const struct {
		const char *name;
		int bit; /* -1: an enum value */
		long long value;
		const char *text;
	} texts[] = {
	    {"derating_mode", -1, 6, "Tinv"},
	    {"fault_code", -1, 26, "PV Isolation Low"},
	    {"warning_code", 0, 0, "Fan warning"},
	};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		const struct map_register *r = map_find_name(m, texts[i].name);
		const char *got = NULL;
		for (size_t k = 0; r && texts[i].bit < 0 && k < r->nlabels; k++)
			if (r->labels[k].value == texts[i].value)
				got = r->labels[k].text;
		for (size_t k = 0; r && texts[i].bit >= 0 && k < r->nbits; k++)
			if (r->bits[k].value == texts[i].bit)
				got = r->bits[k].text;
		h_ok(got && strcmp(got, texts[i].text) == 0,
		     "%s %s %lld is \"%s\" as Growatt-Local says", texts[i].name,
		     texts[i].bit < 0 ? "value" : "bit",
		     texts[i].bit < 0 ? texts[i].value : (long long)texts[i].bit,
		     got ? got : "(none)");
	}

	/* The 32-bit values are high word first: ppv's first word is 1. */
	uint16_t w[2] = {0, 0};
	int nw = modbus_read_input_registers(mb, 1, 2, w);
	h_ok(nw == 2 && w[0] == 0x0001 && w[1] == 0xE240,
	     "ppv (input 1-2) is high word first on the wire: %04X %04X", w[0], w[1]);

	modbus_close(mb);
	modbus_free(mb);
	h_ok(h_bridge_stop(bridge) == 0, "bridge stopped cleanly");
	h_stop(sim, 3000);
	map_free(m);
	return h_done();
}

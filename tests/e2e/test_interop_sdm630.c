/* The interop rung of maps/sdm630.conf (docs/design.md, "Trust ladder"):
 * every register of the map is read and decoded over a real network, through
 * build/modbridge's `modbus` protocol, from an independent third-party Modbus
 * TCP server (Debian's python3-pymodbus, tests/interop/pymodbus_serve.py)
 * serving the map's own window (input registers 0..), and a libmodbus client
 * reads each through the bridge and decodes it from the map (float32, word
 * order as the map states).
 *
 * The values are the test's own (each register a different float), so this
 * proves transport and framing against a server we did not write, not the
 * meter's word order or scaling (that is the hardware rung). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "map.h"

/* The value the server holds for the i-th register: distinct, with both
 * words non-zero, and negative where the map's power may be. */
static float value_of(size_t i)
{
	return (float)((i % 2 ? -1.0 : 1.0) * (100.25 + 3.5 * (double)i));
}

/* An input read, retried while the bridge's link to the server comes up
 * (0A); 0 or the errno of the failure. */
static int read_input(modbus_t *mb, int addr, int n, uint16_t *out)
{
	for (int tries = 0; tries < 100; tries++) {
		if (modbus_read_input_registers(mb, addr, n, out) == n)
			return 0;
		if (errno != EMBXGPATH)
			return errno;
		h_sleep_ms(100);
	}
	return EMBXGPATH;
}

static void words_of(const struct map_register *r, float f, uint16_t w[2])
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	w[r->word_little ? 1 : 0] = (uint16_t)(u >> 16);
	w[r->word_little ? 0 : 1] = (uint16_t)(u & 0xFFFF);
}

int main(void)
{
	h_init("interop_sdm630");
	char err[2048];
	struct map *m = map_load(h_repo_file("maps/sdm630.conf"), err, sizeof err);
	if (!h_ok(m != NULL, "maps/sdm630.conf loads (%s)", m ? "ok" : err))
		return h_done();
	if (!h_ok(access("/usr/bin/python3", X_OK) == 0, "/usr/bin/python3 is there")) {
		map_free(m);
		return h_done();
	}

	/* The server's words, from the map's registers. */
	size_t cap = 32 * map_nregs(m) + 1, used = 0;
	char *text = calloc(1, cap);
	int all_float = 1;
	for (size_t i = 0; text && i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		uint16_t w[2];
		all_float &= r->type == MAP_FLOAT32 && r->table == MAP_INPUT;
		words_of(r, value_of(i), w);
		used += (size_t)snprintf(text + used, cap - used, "i %u %u\ni %u %u\n", r->address,
					 w[0], r->address + 1u, w[1]);
	}
	h_ok(text && all_float, "every register of the map is an input float32");
	const char *words = h_write_file("words.txt", text ? text : "");
	free(text);

	int sport = h_free_port();
	char sport_s[16];
	snprintf(sport_s, sizeof sport_s, "%d", sport);
	const char *sargv[] = {"/usr/bin/python3",
			       h_repo_file("tests/interop/pymodbus_serve.py"),
			       "--port",
			       sport_s,
			       "--words",
			       words,
			       NULL};
	pid_t srv = h_spawn(sargv, "pymodbus.log");
	if (!h_ok(srv > 0 && h_wait_port(sport, 20000) == 0,
		  "pymodbus serves the map's window (python3-pymodbus installed?)")) {
		h_stop(srv, 3000);
		map_free(m);
		return h_done();
	}

	int mb_port = h_free_port();
	char conf[1024];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"meter\"; unit_id = 1; map = \"sdm630\"; poll = 0;\n"
		 "  max_age = 0; min_interval = 0; timeout = 3000;\n"
		 "  modbus = { host = \"127.0.0.1\"; port = %d; unit = 1; }; } );\n",
		 mb_port, h_maps_dir(), sport);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (h_ok(bridge > 0, "bridge started")) {
		modbus_t *mb = h_modbus(mb_port, 1);
		int good = 0;
		for (size_t i = 0; i < map_nregs(m); i++) {
			const struct map_register *r = map_reg(m, i);
			uint16_t w[2] = {0, 0};
			int n = read_input(mb, r->address, 2, w) == 0 ? 2 : -1;
			if (n != 2) {
				h_note("%s (input %u): %s", r->name, r->address,
				       modbus_strerror(errno));
				continue;
			}
			uint32_t u = r->word_little ? (uint32_t)w[1] << 16 | w[0]
						    : (uint32_t)w[0] << 16 | w[1];
			float f;
			memcpy(&f, &u, sizeof f);
			if (f != value_of(i)) {
				h_note("%s: %g, expected %g", r->name, (double)f,
				       (double)value_of(i));
				continue;
			}
			good++;
		}
		h_ok(good == (int)map_nregs(m),
		     "all %d of %zu registers read from pymodbus through the bridge decode to "
		     "the served value",
		     good, map_nregs(m));
		/* A whole block in one request, as an energy manager reads it. */
		uint16_t blk[12];
		h_ok(modbus_read_input_registers(mb, 0, 12, blk) == 12, "input 0..11 in one read");
		modbus_close(mb);
		modbus_free(mb);
		h_ok(h_bridge_stop(bridge) == 0, "bridge stopped cleanly");
	}
	h_stop(srv, 3000);
	map_free(m);
	return h_done();
}

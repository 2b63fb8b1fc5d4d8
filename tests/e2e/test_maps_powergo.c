/* maps/powergo.conf as a Modbus client sees it: every register of the
 * shipped map is read through the real bridge with libmodbus from
 * tests/sim/sim_powergo.
 *
 * Which is which: the document (powergo-mqtt-interface.txt, section 3) has
 * two example answers, register 1 = A030 and registers 529..543 (SOC 68,
 * 533..539 = 1.6..2.2 kWh, 541-542 = e2 40 00 01 = 12345.6 kWh). Those
 * registers are checked decoded (type, word order, scale) against the
 * document; every other register is only checked to read successfully with
 * the simulator's raw value (the document gives none to compare with).
 * First, the simulator is shown to answer the document's example request
 * with the document's example answer, byte for byte.
 *
 * Issue 14, items 2 and 6: 280 and 543 have no invented upper limit; the
 * device-time words 548..550 are bounded by their largest valid value. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "map.h"

#define APP "053461AD"
#define DEV "15020115"
#define EXC(n) (MODBUS_ENOBASE + (n))

/* Section 3: "Read device status, starting from address 529, read 15
 * registers" and its response, verbatim. */
static const unsigned char doc_request[] = {0x05, 0x34, 0x61, 0xad, 0x15, 0x02, 0x01, 0x15, 0x03,
					    0x51, 0x03, 0x02, 0x11, 0x00, 0x0f, 0x58, 0x23};
static const char doc_answer_hex[] = "15020115053461ad0351031e004400000213000000100011001200130014"
				     "001500160000e240000100008042";

static long long client_decode(const struct map_register *r, const uint16_t *w)
{
	switch (r->type) {
	case MAP_INT16:
		return (int16_t)w[0];
	case MAP_UINT16:
		return w[0];
	default: {
		uint32_t hi = r->word_little ? w[1] : w[0], lo = r->word_little ? w[0] : w[1];
		uint32_t u = hi << 16 | lo;
		return r->type == MAP_INT32 ? (long long)(int32_t)u : (long long)u;
	}
	}
}

static int read_retry(modbus_t *mb, int addr, int n, uint16_t *out)
{
	for (int tries = 0; tries < 50; tries++) {
		if (modbus_read_registers(mb, addr, n, out) == n)
			return 0;
		if (errno != EMBXGPATH)
			return errno;
		h_sleep_ms(100);
	}
	return EMBXGPATH;
}

/* The document's decoded example values: address, physical value. */
static const struct {
	uint16_t address;
	double value;
} doc_values[] = {
    {1, 0xA030}, /* "a0 30 ... communication board version A030" */
    {529, 68},	 /* 00 44: SOC */
    {530, 0},	 {531, 0x0213}, {532, 0},	{533, 1.6}, /* "multiplier 0.1 ... 1.6kwh, 1.7kwh,
							       ... 2.2 kWh" */
    {534, 1.7},	 {535, 1.8},	{536, 1.9},	{537, 2.0}, {538, 2.1},
    {539, 2.2},	 {540, 0},	{541, 12345.6}, /* "e2 40 00 01 ... multiplier 0.1, corresponding to
						   12345.6 kWh" */
    {543, 0},
};

int main(void)
{
	h_init("maps_powergo");
	char err[2048];
	struct map *m = map_load(h_repo_file("maps/powergo.conf"), err, sizeof err);
	if (!h_ok(m != NULL, "maps/powergo.conf loads (%s)", m ? "ok" : err))
		return h_done();
	int broker_port;
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	const char *extra[] = {"--app-id", APP, NULL};
	pid_t sim = h_sim_powergo(broker_port, DEV, "sim.log", extra);
	h_ok(sim > 0, "sim_powergo started");
	char port[16];
	snprintf(port, sizeof port, "%d", broker_port);

	/* 1. The document's request, as bytes, gets the document's answer. */
	FILE *rf = fopen(h_path("request.bin"), "wb");
	if (rf) {
		fwrite(doc_request, 1, sizeof doc_request, rf);
		fclose(rf);
	}
	const char *subargv[] = {"mosquitto_sub",
				 "-h",
				 "127.0.0.1",
				 "-p",
				 port,
				 "-t",
				 APP,
				 "-C",
				 "1",
				 "-W",
				 "5",
				 "-F",
				 "%x",
				 NULL};
	pid_t sub = h_spawn(subargv, "sub.log");
	h_sleep_ms(300);
	char reqpath[512];
	snprintf(reqpath, sizeof reqpath, "%s", h_path("request.bin"));
	const char *pubargv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", DEV, "-f",
				 reqpath,	  NULL};
	char out[256];
	h_run(pubargv, out, sizeof out, 5000);
	char sub_log[512];
	snprintf(sub_log, sizeof sub_log, "%s", h_path("sub.log"));
	h_wait_lines(sub_log, "15020115", 1, 5000);
	h_stop(sub, 2000);
	char line[1024];
	h_first_line(sub_log, line, sizeof line);
	h_ok(strcmp(line, doc_answer_hex) == 0,
	     "the document's status request gets the document's answer byte for byte (%s)", line);

	/* 2. The bridge. */
	int mb_port = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "modbus = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"pg\"; unit_id = 1; map = \"powergo\"; max_age = 0;\n"
		 "  timeout = 2000; mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "  powergo = { app_id = \"" APP "\"; device_id = \"" DEV "\"; }; } );\n",
		 mb_port, h_maps_dir(), broker_port);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	modbus_t *mb = h_modbus(mb_port, 1);

	/* 3. Every register. */
	int doc = 0, simonly = 0, wrong = 0;
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		uint16_t w[32];
		int e = read_retry(mb, r->address, r->count, w);
		if (e) {
			h_ok(0, "%s (%u): read failed: %s", r->name, r->address,
			     modbus_strerror(e));
			wrong++;
			continue;
		}
		size_t k;
		for (k = 0; k < sizeof doc_values / sizeof doc_values[0]; k++)
			if (doc_values[k].address == r->address)
				break;
		if (k == sizeof doc_values / sizeof doc_values[0]) {
			simonly++; /* read succeeded; no document value to compare */
			continue;
		}
		double v = (double)client_decode(r, w) * r->scale;
		if (fabs(v - doc_values[k].value) > 1e-6 * (1 + fabs(doc_values[k].value))) {
			h_ok(0, "%s (%u): decoded %g, the document says %g", r->name, r->address, v,
			     doc_values[k].value);
			wrong++;
		}
		doc++;
	}
	h_ok(wrong == 0 && doc == (int)(sizeof doc_values / sizeof doc_values[0]) &&
		 doc + simonly == (int)map_nregs(m),
	     "all %zu registers read; %d decode to the document's example values, %d (no "
	     "document value) read the simulator's value",
	     map_nregs(m), doc, simonly);

	/* 4. Write limits. */
	h_ok(modbus_write_register(mb, 280, 3000) == 1 &&
		 h_wait_lines(h_path("sim.log"), "addr=280 count=1 values=3000", 1, 2000),
	     "280 charging power 3000 W accepted: the map invents no 2500 W limit");
	h_ok(modbus_write_register(mb, 543, 3000) == 1,
	     "543 discharge power 3000 W accepted: the map invents no 2500 W limit");
	errno = 0;
	h_ok(modbus_write_register(mb, 549, 0x2000) == -1 && errno == EXC(3),
	     "549 day 32 (0x2000) -> exception 03");
	errno = 0;
	h_ok(modbus_write_register(mb, 550, 0x3C00) == -1 && errno == EXC(3),
	     "550 minute 60 (0x3C00) -> exception 03");
	errno = 0;
	h_ok(modbus_write_register(mb, 548, 0x640C) == -1 && errno == EXC(3),
	     "548 year 2100 (0x640C) -> exception 03");
	h_ok(modbus_write_register(mb, 549, 0x1F17) == 1, "549 day 31, 23 h accepted");
	errno = 0;
	h_ok(modbus_write_register(mb, 552, 0x173C) == -1 && errno == EXC(3),
	     "552 23:60 (0x173C) -> exception 03");
	/* An installer writing 1000 meaning 10:00 would send 03:232 (0x03E8):
	 * each byte is checked (`bytes`), not only the word. */
	errno = 0;
	h_ok(modbus_write_register(mb, 552, 1000) == -1 && errno == EXC(3),
	     "552 1000 (0x03E8, minute byte 232) -> exception 03");
	errno = 0;
	h_ok(modbus_write_register(mb, 560, 0x0A3C) == -1 && errno == EXC(3),
	     "560 10:60 (0x0A3C) -> exception 03");
	h_ok(modbus_write_register(mb, 552, 0x0A00) == 1, "552 10:00 (0x0A00) accepted");
	errno = 0;
	h_ok(modbus_write_register(mb, 548, 0x1A0D) == -1 && errno == EXC(3),
	     "548 month 13 (0x1A0D) -> exception 03");

	modbus_close(mb);
	modbus_free(mb);
	h_ok(h_bridge_stop(bridge) == 0, "bridge stopped cleanly");
	h_stop(sim, 3000);
	h_stop(broker, 3000);
	map_free(m);
	return h_done();
}

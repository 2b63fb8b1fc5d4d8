/* maps/powergo.conf as a Modbus client sees it: every register of the
 * shipped map is read through the real bridge with libmodbus from
 * tests/sim/sim_powergo.
 *
 * Every register is checked decoded (type, word order, scale, string byte
 * order) against the value the table `expect` gives, which says where each
 * value comes from: the document's example answers (section 3), its
 * defaults (section 5's tables), or, where the document has no value, the
 * simulator's own. First, the simulator is shown to answer the document's
 * example request with the document's example answer, byte for byte.
 *
 * docs/protocols/powergo.md: strings are little-endian on the device (section 5's
 * byte-order table); the map says so (string_order = "little") and the
 * bridge turns them for the client.
 *
 * docs/protocols/powergo.md: 280 and 543 have no invented upper limit; the
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

/* What a client must read at every register of the map, decoded through
 * the map (type, word order, scale; strings first character in the high
 * byte), and where the value comes from:
 *   EX  the document's example answers (section 3: register 1 = A030;
 *       529..543 the status example, 541-542 = e2 40 00 01 = 12345.6 kWh)
 *       or a "current value read" example of section 5.1 (136 = 08080808);
 *   DEF a default value of section 5's tables (strings stored by the
 *       simulator in the document's little-endian byte order, section 5
 *       "Note": "Byte Stream / String Little-Endian");
 *   SIM no value in the document: the simulator's own, so only the type,
 *       width and word order are checked, not a fact. */
enum origin { EX, DEF, SIM };
static const struct {
	uint16_t address;
	double value;
	const char *text; /* strings */
	enum origin origin;
} expect[] = {
    {1, 0xA030, NULL, EX},
    {12, 0x15020115, NULL, SIM},
    {110, 0, "yihui", DEF},
    {130, 0xFFFFFFFF, NULL, DEF},
    {132, 0xFFFFFFFF, NULL, DEF},
    {134, 0xFFFFFFFF, NULL, DEF},
    {136, 0x08080808, NULL, EX},
    {138, 0xC0A8010A, NULL, SIM},
    {140, 3, NULL, DEF},
    {141, 5000, NULL, DEF},
    {142, 0xFFFFFFFF, NULL, DEF},
    {144, 0, "3.122.9.160", DEF},
    {169, 1883, NULL, DEF},
    {170, 0, "MQ123", DEF},
    {180, 0, "mqtt", DEF},
    {200, 0xF0000001, NULL, DEF},
    {202, 0xF0000011, NULL, DEF},
    {204, 0xF0000012, NULL, DEF},
    {206, 0xF0000013, NULL, DEF},
    {208, -61, NULL, SIM},
    {220, 0xC0A801C8, NULL, DEF},
    {222, 0xFFFFFF00, NULL, DEF},
    {224, 0xC0A80101, NULL, DEF},
    {230, 0, NULL, DEF},
    {231, 1000, NULL, DEF},
    {265, 0, NULL, SIM},
    {280, 800, NULL, DEF},
    {281, 3, NULL, SIM},
    {306, 0, NULL, SIM},
    {508, 0, NULL, SIM},
    {509, 0, NULL, SIM},
    {510, 0, NULL, SIM},
    {521, 0, NULL, SIM},
    {522, 0, NULL, SIM},
    {523, 0, NULL, SIM},
    {524, 0, NULL, SIM},
    {525, 0, NULL, SIM},
    {526, 0, NULL, SIM},
    {529, 68, NULL, EX}, /* 00 44: SOC */
    {530, 0, NULL, EX},
    {531, 0x0213, NULL, EX},
    {532, 0, NULL, EX},
    {533, 1.6, NULL, EX}, /* "multiplier 0.1 ... 1.6kwh, 1.7kwh, ... 2.2 kWh" */
    {534, 1.7, NULL, EX},
    {535, 1.8, NULL, EX},
    {536, 1.9, NULL, EX},
    {537, 2.0, NULL, EX},
    {538, 2.1, NULL, EX},
    {539, 2.2, NULL, EX},
    {540, 0, NULL, EX},
    {541, 12345.6, NULL, EX}, /* "e2 40 00 01 ... corresponding to 12345.6 kWh" */
    {543, 0, NULL, EX},	      /* the example answer's 00 00 (the table's default is 800) */
    {548, 25 << 8 | 11, NULL, SIM},
    {549, 22 << 8 | 10, NULL, SIM},
    {550, 30 << 8 | 45, NULL, SIM},
    {551, 1, NULL, SIM},
    {552, 0x0000, NULL, DEF}, /* "Period 1: 00:00-23:59", "Period 2: 00:00-00:00" */
    {553, 0x173B, NULL, DEF},
    {554, 0x0000, NULL, DEF},
    {555, 0x0000, NULL, DEF},
    {558, 1, NULL, SIM},
    {559, 0x0000, NULL, DEF},
    {560, 0x173B, NULL, DEF},
    {561, 0x0000, NULL, DEF},
    {562, 0x0000, NULL, DEF},
    {568, 0, NULL, SIM},
    {573, 230.5, NULL, SIM},
};

/* A string as a Modbus client reads it: first character in the high byte. */
static void client_string(const uint16_t *w, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++) {
		out[2 * i] = (char)(w[i] >> 8);
		out[2 * i + 1] = (char)(w[i] & 0xFF);
	}
	out[2 * n] = '\0';
}

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
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"pg\"; unit_id = 1; map = \"powergo\"; max_age = 0;\n"
		 "  timeout = 2000; mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "  powergo = { app_id = \"" APP "\"; device_id = \"" DEV "\"; }; } );\n",
		 mb_port, h_maps_dir(), broker_port);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	modbus_t *mb = h_modbus(mb_port, 1);

	/* 3. Every register, decoded as a client decodes it. */
	int n[3] = {0, 0, 0}, wrong = 0, unlisted = 0;
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		uint16_t w[32];
		size_t k;
		for (k = 0; k < sizeof expect / sizeof expect[0]; k++)
			if (expect[k].address == r->address)
				break;
		if (k == sizeof expect / sizeof expect[0]) {
			h_ok(0, "%s (%u): no expected value in this test", r->name, r->address);
			unlisted++;
			continue;
		}
		int e = h_read_retry(mb, r->address, r->count, w);
		if (e) {
			h_ok(0, "%s (%u): read failed: %s", r->name, r->address,
			     modbus_strerror(e));
			wrong++;
			continue;
		}
		if (r->type == MAP_STRING) {
			char got[80];
			client_string(w, r->count, got);
			if (!expect[k].text || strcmp(got, expect[k].text) != 0) {
				h_ok(0, "%s (%u): reads \"%s\", the document says \"%s\"", r->name,
				     r->address, got, expect[k].text);
				wrong++;
			}
		} else {
			double v = (double)client_decode(r, w) * r->scale;
			if (fabs(v - expect[k].value) > 1e-6 * (1 + fabs(expect[k].value))) {
				h_ok(0, "%s (%u): decoded %.10g, expected %.10g", r->name,
				     r->address, v, expect[k].value);
				wrong++;
			}
		}
		n[expect[k].origin]++;
	}
	h_ok(wrong == 0 && unlisted == 0 && n[EX] + n[DEF] + n[SIM] == (int)map_nregs(m),
	     "all %zu registers read and decoded: %d as the document's examples, %d as its "
	     "defaults (4 strings among them), %d as the simulator's own values",
	     map_nregs(m), n[EX], n[DEF], n[SIM]);
	uint16_t ssid[10];
	char text[24];
	memset(ssid, 0, sizeof ssid);
	int ssid_ok = h_read_retry(mb, 110, 10, ssid) == 0;
	client_string(ssid, 10, text);
	h_ok(ssid_ok && strcmp(text, "yihui") == 0 && ssid[0] == ('y' << 8 | 'i'),
	     "110 wifi_ssid: the device's little-endian string reaches the client first "
	     "character high (0x%04X)",
	     ssid[0]);

	/* 4. Write limits. */
	h_ok(modbus_write_register(mb, 280, 3000) == 1 &&
		 h_wait_lines(h_path("sim.log"), "addr=280 count=1 values=3000", 1, 2000),
	     "280 charging power 3000 W accepted: the map invents no 2500 W limit");
	h_ok(modbus_write_register(mb, 543, 3000) == 1,
	     "543 discharge power 3000 W accepted: the map invents no 2500 W limit");
	errno = 0;
	h_ok(modbus_write_register(mb, 280, 32768) == -1 && errno == EXC(3),
	     "280 charging power 32768 W -> 03 (530 cannot report more than 32767 W)");
	errno = 0;
	h_ok(modbus_write_register(mb, 543, 65535) == -1 && errno == EXC(3),
	     "543 discharge power 65535 W -> 03");
	h_ok(modbus_write_register(mb, 543, 32767) == 1, "543 discharge power 32767 W accepted");
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

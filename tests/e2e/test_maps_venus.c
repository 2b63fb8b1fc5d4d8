/* maps/venus.conf as a Modbus client sees it: every register of the shipped
 * map is read through the real bridge with libmodbus, from tests/sim/sim_venus
 * answering the document's own example dump (venus-mqtt.md, section 3.2),
 * and its decoded value (type, sign, 32-bit word order, scale) is compared
 * with that dump. The dump gives a value for every key the map names, so
 * every register here is checked against a document value (none only for a
 * successful read).
 *
 * Also: the simulator's raw answer to `cd=01` is the document's dump byte
 * for byte, and the defect of issue 14 item 1 stays fixed: the maximum
 * discharge power is a watt value 0..2500 (cd=15,vs=<W>), not only 800 or
 * 2500 (the evidence is in maps/venus.conf). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "map.h"

#define ID "0123456789ab"
#define APP_TOPIC "hame_energy/HMG-50/App/" ID "/ctrl"
#define DEV_TOPIC "hame_energy/HMG-50/device/" ID "/ctrl"
#define EXC(n) (MODBUS_ENOBASE + (n))

/* venus-mqtt.md, section 3.2, verbatim. */
static const char doc_dump[] =
    "tot_i=44785,tot_o=36889,ele_d=489,ele_m=3931,grd_d=395,grd_m=2833,inc_d=0,inc_m=-111,"
    "grd_f=0,grd_o=807,grd_t=3,gct_s=1,cel_s=3,cel_p=138,cel_c=27,err_t=0,err_a=0,dev_n=140,"
    "grd_y=0,wor_m=1,tim_0=14|0|17|0|127|800|1,tim_1=17|1|20|0|127|-800|1,"
    "tim_2=20|1|23|0|127|800|1,tim_3=23|1|23|59|127|-800|1,tim_4=0|1|3|0|127|800|1,"
    "tim_5=3|1|6|0|127|-800|1,tim_6=6|1|9|0|127|800|1,tim_7=9|1|12|1|127|-800|1,"
    "tim_8=9|10|12|0|127|-2500|0,tim_9=0|0|0|0|0|0|0,cts_m=0,bac_u=1,tra_a=41,tra_i=40000,"
    "tra_o=600000,htt_p=0,prc_c=4620,prc_d=4620,wif_s=35,inc_a=-152,set_v=1,mcp_w=2500,"
    "mdp_w=800,ct_t=1,phase_t=0,dchrg_t=255,bms_v=109,fc_v=202407221950,wifi_n=Hame";

/* The text of key's value (field -1) or of its |-field, from the dump; the
 * test's own parser, so that the bridge's codec is not checked by itself. */
static int doc_value(const char *key, int field, char *out, size_t cap)
{
	char want[40];
	snprintf(want, sizeof want, "%s=", key);
	const char *p = doc_dump;
	while (p && *p) {
		if (strncmp(p, want, strlen(want)) == 0) {
			p += strlen(want);
			for (int f = 0; f < field; f++) {
				p = strpbrk(p, "|,");
				if (!p || *p != '|')
					return -1;
				p++;
			}
			size_t n = strcspn(p, field >= 0 ? "|," : ",");
			if (n >= cap)
				return -1;
			memcpy(out, p, n);
			out[n] = 0;
			return 0;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return -1;
}

/* A register's value from the words a client read, decoded as a client
 * would from the map's type and word order (not with map_decode). */
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

static void client_string(const uint16_t *w, int n, char *out)
{
	for (int i = 0; i < n; i++) {
		out[2 * i] = (char)(w[i] >> 8);
		out[2 * i + 1] = (char)(w[i] & 0xFF);
	}
	out[2 * n] = 0;
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

int main(void)
{
	h_init("maps_venus");
	char err[2048];
	struct map *m = map_load(h_repo_file("maps/venus.conf"), err, sizeof err);
	if (!h_ok(m != NULL, "maps/venus.conf loads (%s)", m ? "ok" : err))
		return h_done();

	int broker_port;
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	char port[16];
	snprintf(port, sizeof port, "%d", broker_port);
	const char *sargv[] = {h_bin("tests/sim/sim_venus"), "--port", port, "--id", ID, NULL};
	pid_t sim = h_spawn(sargv, "sim.log");
	char sim_log[512];
	snprintf(sim_log, sizeof sim_log, "%s", h_path("sim.log"));
	h_ok(sim > 0 && h_wait_lines(sim_log, "# ready", 1, 5000), "sim_venus subscribed");

	/* 1. The simulator's raw answer is the document's dump. */
	const char *subargv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t",
				 DEV_TOPIC,	  "-C", "1",	     "-W", "5",	 NULL};
	pid_t sub = h_spawn(subargv, "sub.log");
	h_sleep_ms(300);
	h_mqtt_pub(broker_port, APP_TOPIC, "cd=01");
	char sub_log[512];
	snprintf(sub_log, sizeof sub_log, "%s", h_path("sub.log"));
	h_wait_lines(sub_log, "tot_i=", 1, 5000);
	h_stop(sub, 2000);
	char line[4096];
	h_first_line(sub_log, line, sizeof line);
	h_ok(strcmp(line, doc_dump) == 0,
	     "sim_venus answers cd=01 with the document's example dump, byte for byte");

	/* 2. The bridge; reads are served from one dump (max_age 60 s). */
	int mb_port = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "modbus = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"venus\"; unit_id = 1; map = \"venus\"; poll = 0;\n"
		 "  max_age = 60000; min_interval = 0; timeout = 3000;\n"
		 "  mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "  venus = { type = \"HMG-50\"; id = \"" ID "\"; }; } );\n",
		 mb_port, h_maps_dir(), broker_port);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	modbus_t *mb = h_modbus(mb_port, 1);

	/* 3. Every register, one read each, decoded as a client would. */
	int checked = 0, wrong = 0;
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		uint16_t w[32];
		char want[64], got[72];
		if (doc_value(r->key, r->field, want, sizeof want) != 0) {
			h_ok(0, "%s: the document's dump has no %s", r->name, r->key);
			wrong++;
			continue;
		}
		int e = read_retry(mb, r->address, r->count, w);
		if (e) {
			h_ok(0, "%s (%u): read failed: %s", r->name, r->address,
			     modbus_strerror(e));
			wrong++;
			continue;
		}
		if (r->type == MAP_STRING) {
			client_string(w, r->count, got);
		} else {
			long long v = client_decode(r, w);
			snprintf(got, sizeof got, "%lld", v);
		}
		if (strcmp(got, want) != 0) {
			h_ok(0, "%s (%u): decoded %s, the document's dump says %s", r->name,
			     r->address, got, want);
			wrong++;
		}
		checked++;
	}
	h_ok(wrong == 0 && checked == (int)map_nregs(m),
	     "all %d registers decode to the document's example values (document: %d, "
	     "simulator-only: 0)",
	     checked, checked);

	/* Physical values, with the map's scale, as the document states them. */
	struct {
		const char *name;
		double value;
	} phys[] = {
	    {"soc", 27},			 /* cel_c=27 */
	    {"battery_energy", 1.38},		 /* cel_p=138, 0.01 kWh */
	    {"power", 807},			 /* grd_o=807 W, + discharging */
	    {"total_charge_energy", 447.85},	 /* tot_i=44785, 0.01 kWh: past 16 bits */
	    {"monthly_income", -0.111},		 /* inc_m=-111, 0.001 EUR: negative */
	    {"total_income", -0.152},		 /* inc_a=-152 */
	    {"trading_discharge_price", 600000}, /* tra_o=600000: past 16 bits */
	    {"period8_power", -2500},		 /* tim_8 field 5 */
	};
	for (size_t i = 0; i < sizeof phys / sizeof phys[0]; i++) {
		const struct map_register *r = map_find_name(m, phys[i].name);
		uint16_t w[2] = {0, 0};
		int e = r ? read_retry(mb, r->address, r->count, w) : -1;
		double v = r && !e ? (double)client_decode(r, w) * r->scale : NAN;
		h_ok(r && !e && fabs(v - phys[i].value) < 1e-9 * (1 + fabs(phys[i].value)),
		     "%s = %g %s (document: %g)", phys[i].name, v, r && r->unit ? r->unit : "",
		     phys[i].value);
	}

	/* 4. Issue 14 item 1: max_discharge_power takes watts, 0..2500. */
	const struct map_register *mdp = map_find_name(m, "max_discharge_power");
	h_ok(mdp && modbus_write_register(mb, mdp->address, 600) == 1,
	     "write 600 W to max_discharge_power acknowledged (was exception 03)");
	h_ok(h_wait_lines(sim_log, "cd=15,vs=600", 1, 3000), "the device got cd=15,vs=600");
	h_ok(mdp && modbus_write_register(mb, mdp->address, 0) == 1 &&
		 h_wait_lines(sim_log, "cd=15,vs=0", 1, 3000),
	     "0 W is accepted and sent as cd=15,vs=0");
	errno = 0;
	h_ok(mdp && modbus_write_register(mb, mdp->address, 2501) == -1 && errno == EXC(3) &&
		 h_count_lines(sim_log, "vs=2501") == 0,
	     "2501 W -> exception 03, nothing sent");

	modbus_close(mb);
	modbus_free(mb);
	h_ok(h_bridge_stop(bridge) == 0, "bridge stopped cleanly");
	h_stop(sim, 3000);
	h_stop(broker, 3000);
	map_free(m);
	return h_done();
}

/* maps/venus.conf as a Modbus client sees it: every register of the shipped
 * map is read through the real bridge with libmodbus, from tests/sim/sim_venus
 * answering the document's own example dump (venus-mqtt.md, section 3.2),
 * and its decoded value (type, sign, 32-bit word order, scale) is compared
 * with that dump. The dump gives a value for every key the map names, so
 * every register here is checked against a document value (none only for a
 * successful read).
 *
 * Also: the simulator's raw answer to `cd=01` is the document's dump byte
 * for byte, and an old defect stays fixed: the maximum
 * discharge power is a watt value 0..2500 (cd=15,vs=<W>), not only 800 or
 * 2500 (the evidence is in maps/venus.conf). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "map.h"
#include "venus_examples.h"

#define ID "0123456789ab"
#define ID2 "0123456789ac"
#define APP_TOPIC "hame_energy/HMG-50/App/" ID "/ctrl"
#define DEV_TOPIC "hame_energy/HMG-50/device/" ID "/ctrl"
#define EXC(n) (MODBUS_ENOBASE + (n))

/* venus-mqtt.md, section 3.2, verbatim. */
static const char doc_dump[] = VENUS_DOC_DUMP;

/* The reply the hm2mqtt project (tomquist/hm2mqtt, src/device/venus.ts)
 * records from a real device for cd=14 (the comment on GET_BMS_INFO), and
 * for cd=1 from newer firmware (READ_DEVICE_INFO), verbatim. */
static const char hm2mqtt_bms[] = VENUS_HM2MQTT_BMS;
static const char hm2mqtt_dump[] = VENUS_HM2MQTT_DUMP;
/* cd=19: the form of venus-mqtt.md section 15.2, which gives no example
 * values; these are tests/sim/sim_venus's own (a wrong field order or sign
 * shows, a wrong meaning would not). */
static const char sim_get_power[] = VENUS_SIM_GET_POWER;

/* The text a register's value comes from: its query's reply. */
static const char *reply_of(const struct map_register *r, const char *dump)
{
	if (!r->query)
		return dump;
	return strcmp(r->query, "cd=14") == 0 ? hm2mqtt_bms : sim_get_power;
}

/* The text of key's value (field -1) or of its |-field, from text; the
 * test's own parser, so that the bridge's codec is not checked by itself. */
static int doc_value(const char *text, const char *key, int field, char *out, size_t cap)
{
	char want[40];
	snprintf(want, sizeof want, "%s=", key);
	const char *p = text;
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

/* Read every register of m from unit mb, decode it as a client would and
 * compare with its reply's text (cd=1 registers with dump). Counts per
 * query in nq (cd=1, cd=14, cd=19); returns the registers that matched. */
static int check_all(modbus_t *mb, const struct map *m, const char *dump, const char *what, int *nq)
{
	int ok = 0;
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		uint16_t w[32];
		char want[64], got[72];
		if (doc_value(reply_of(r, dump), r->key, r->field, want, sizeof want) != 0) {
			h_ok(0, "%s%s: the reply has no %s", what, r->name, r->key);
			continue;
		}
		int e = h_read_retry(mb, r->address, r->count, w);
		if (e) {
			h_ok(0, "%s%s (%u): read failed: %s", what, r->name, r->address,
			     modbus_strerror(e));
			continue;
		}
		if (r->type == MAP_STRING) {
			client_string(w, r->count, got);
		} else {
			long long v = client_decode(r, w);
			snprintf(got, sizeof got, "%lld", v);
		}
		if (strcmp(got, want) != 0) {
			h_ok(0, "%s%s (%u): decoded %s, the reply says %s", what, r->name,
			     r->address, got, want);
			continue;
		}
		ok++;
		nq[!r->query ? 0 : strcmp(r->query, "cd=14") == 0 ? 1 : 2]++;
	}
	return ok;
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
	static const struct {
		const char *cmd, *want, *first;
	} other[] = {{"cd=14", hm2mqtt_bms, "b_ver="}, {"cd=19", sim_get_power, "get_power="}};
	for (size_t i = 0; i < 2; i++) {
		char name[32];
		snprintf(name, sizeof name, "sub%zu.log", i);
		sub = h_spawn(subargv, name);
		h_sleep_ms(300);
		h_mqtt_pub(broker_port, APP_TOPIC, other[i].cmd);
		snprintf(sub_log, sizeof sub_log, "%s", h_path(name));
		h_wait_lines(sub_log, other[i].first, 1, 5000);
		h_stop(sub, 2000);
		h_first_line(sub_log, line, sizeof line);
		h_ok(strcmp(line, other[i].want) == 0, "sim_venus answers %s with %s", other[i].cmd,
		     i == 0 ? "hm2mqtt's recorded BMS reply, byte for byte"
			    : "get_power=A|B|C|total|output");
	}
	const char *s2argv[] = {h_bin("tests/sim/sim_venus"), "--port", port, "--id", ID2,
				"--newer-firmware",	      NULL};
	pid_t sim2 = h_spawn(s2argv, "sim2.log");
	h_ok(sim2 > 0 && h_wait_lines(h_path("sim2.log"), "# ready", 1, 5000),
	     "a second sim_venus, answering cd=1 as newer firmware does, subscribed");

	/* 2. The bridge; reads are served from one dump (max_age 60 s). */
	int mb_port = h_free_port();
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"venus\"; unit_id = 1; map = \"venus\"; poll = 0;\n"
		 "  max_age = 60000; min_interval = 0; timeout = 3000;\n"
		 "  mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "  venus = { type = \"HMG-50\"; id = \"" ID "\"; }; },\n"
		 " { name = \"newer\"; unit_id = 2; map = \"venus\"; poll = 0;\n"
		 "  max_age = 60000; min_interval = 0; timeout = 3000;\n"
		 "  mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "  venus = { type = \"HMG-50\"; id = \"" ID2 "\"; }; } );\n",
		 mb_port, h_maps_dir(), broker_port, broker_port);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	modbus_t *mb = h_modbus(mb_port, 1);

	/* 3. Every register, one read each, decoded as a client would: the
	 * cd=1 registers against the document's dump, cd=14 against hm2mqtt's
	 * recorded BMS reply, cd=19 against the simulator's get_power. */
	int nq[3] = {0, 0, 0};
	int checked = check_all(mb, m, doc_dump, "", nq);
	h_ok(checked == (int)map_nregs(m),
	     "all %d registers decode to their reply's values (%d from the document's cd=1 "
	     "dump, %d from hm2mqtt's cd=14 reply, %d from the simulator's cd=19 reply)",
	     checked, nq[0], nq[1], nq[2]);

	/* The rung the map claims is what this run earns: simulator-verified
	 * for the registers decoded against recorded replies (cd=1 and cd=14),
	 * and verified_by says how many those are and that cd=19's are not. */
	char claim[64];
	snprintf(claim, sizeof claim, "%d of the %d decoded against recorded", nq[0] + nq[1],
		 (int)map_nregs(m));
	h_ok(strcmp(map_trust(m), "simulator-verified") == 0 && map_verified_by(m) &&
		 strstr(map_verified_by(m), claim) && strstr(map_verified_by(m), "cd=19 registers"),
	     "the map claims simulator-verified and \"%s\" (trust %s)", claim, map_trust(m));

	/* Newer firmware: keys the document does not list (seq_s, ctrl_r, par,
	 * gen, ble, shelly_p, c_ratio) are ignored, and every register still
	 * decodes to hm2mqtt's recorded dump. */
	modbus_t *mb2 = h_modbus(mb_port, 2);
	int nq2[3] = {0, 0, 0};
	int checked2 = check_all(mb2, m, hm2mqtt_dump, "newer firmware: ", nq2);
	h_ok(checked2 == (int)map_nregs(m) && nq2[0] == nq[0],
	     "newer firmware's cd=1 reply (7 keys the document lacks): all %d registers decode "
	     "to hm2mqtt's recorded values",
	     checked2);
	modbus_close(mb2);
	modbus_free(mb2);

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
	    {"ct_power_a", -312},		 /* get_power field 0, signed */
	    {"ct_power_total", -69},		 /* get_power field 3 */
	    {"bms_voltage", 52.23},		 /* b_vol=5223, 0.01 V (hm2mqtt) */
	    {"bms_charge_voltage", 57.1},	 /* b_chv=571, 0.1 V (hm2mqtt) */
	    {"cell_voltage16", 3262},		 /* b_vo16=3262 mV */
	};
	for (size_t i = 0; i < sizeof phys / sizeof phys[0]; i++) {
		const struct map_register *r = map_find_name(m, phys[i].name);
		uint16_t w[2] = {0, 0};
		int e = r ? h_read_retry(mb, r->address, r->count, w) : -1;
		double v = r && !e ? (double)client_decode(r, w) * r->scale : NAN;
		h_ok(r && !e && fabs(v - phys[i].value) < 1e-9 * (1 + fabs(phys[i].value)),
		     "%s = %g %s (document: %g)", phys[i].name, v, r && r->unit ? r->unit : "",
		     phys[i].value);
	}

	/* Answers bound to their queries: a message holding the keys of two
	 * queries is no command's answer and fills neither's registers; a
	 * stray dump nobody asked for is not cached either. */
	char blog[512];
	snprintf(blog, sizeof blog, "%s", h_path("bridge.log"));
	long long d0 = h_dev_counter(bridge, blog, "venus", "dropped");
	h_mqtt_pub(broker_port, DEV_TOPIC, "get_power=1|2|3|4|5,cel_c=99");
	h_mqtt_pub(broker_port, DEV_TOPIC, "cel_c=98,b_soc=11");
	h_sleep_ms(300);
	uint16_t soc = 0, pa[2] = {0, 0}, bsoc = 0;
	int rs = h_read_retry(mb, 0, 1, &soc), rp = h_read_retry(mb, 70, 2, pa),
	    rb = h_read_retry(mb, 200, 1, &bsoc);
	h_ok(rs == 0 && rp == 0 && rb == 0 && soc == 27 &&
		 (int32_t)((uint32_t)pa[0] << 16 | pa[1]) == -312 && bsoc == 65,
	     "replies with the keys of two queries are dropped: soc %u, ct_power_a %d, bms_soc %u "
	     "stay 27, -312, 65",
	     soc, (int32_t)((uint32_t)pa[0] << 16 | pa[1]), bsoc);
	long long d1 = h_dev_counter(bridge, blog, "venus", "dropped");
	h_ok(d0 >= 0 && d1 == d0 + 2, "both were counted as dropped (%lld -> %lld)", d0, d1);

	/* 4. docs/protocols/venus.md: max_discharge_power takes watts, 0..2500. */
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
	h_stop(sim2, 3000);
	h_stop(broker, 3000);
	map_free(m);
	return h_done();
}

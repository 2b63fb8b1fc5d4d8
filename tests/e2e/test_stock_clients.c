/* Stock clients through modbridge, unchanged (docs/user-guide.md, venus-native, SunSpec): the
 * real bridge, a real mosquitto, tests/sim/sim_venus (the Venus document's
 * example dump) and tests/sim/sim_powergo, and libmodbus as the client.
 *
 * 1. evcc's template `marstek-venus-e` (evcc-io/evcc,
 *    templates/definition/meter/marstek-venus-e.yaml) against map
 *    venus-native. The template's requests, written down here as facts:
 *      generation 2: power  FC03 holding 32202, 2 registers, int32 (evcc's
 *                           modbus int32: big-endian, high word first), scale 1
 *                    soc    FC03 holding 32104, 1 register, uint16, scale 1
 *      generation 3: power  FC03 holding 30006, 1 register, int16, scale 1
 *                    soc    FC03 holding 34002, 1 register, uint16, scale 0.1
 *      both:         energy FC03 holding 33002, 2 registers, uint32 high word
 *                           first, scale 0.01
 *    and, as the marstek_venus_modbus integration reads it
 *    (ViperRNMC/marstek_venus_modbus, registers/e_v12.yaml):
 *                    total_charging_energy FC03 holding 33000, 2 registers,
 *                           uint32 high word first, scale 0.01
 *      batterymode (each step FC06, `type: writesingle`, uint16; a sequence
 *      stops at its first error), with maxchargepower 2500 and
 *      work_mode_normal 1 (the template's defaults):
 *        normal:     44002=2500, 42000=21930, 43000=1, 42000=21947
 *        hold:       42000=21930, 42010=0
 *        charge:     42000=21930, 42010=1, 42020=2500
 *        holdcharge: 44002=0, 42000=21930, 43000=1, 42000=21947
 *    Values are decoded as evcc decodes them and compared with the dump;
 *    every write is checked against the command the simulator received, or,
 *    where refused, against the documented exception and nothing sent.
 * 2. A SunSpec client's walk from 40000 (marker "SunS", then ID and length
 *    of each model, skipping length registers, until ID 0xFFFF) against maps
 *    venus-sunspec and powergo-sunspec: it must find models 1 and 802, and
 *    decode SoC, W and (venus-sunspec, from the BMS answer to cd=14) SoH
 *    with their scale factors as the device reports them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sunspec.h"

#define VN_ID "0123456789ab" /* the Venus behind venus-native */
#define VS_ID "0123456789ac" /* the Venus behind venus-sunspec */
#define PG_DEV "15020115"
#define PG_APP "053461AD"
#define EXC(n) (MODBUS_ENOBASE + (n))

static int broker_port;

/* One FC06 as evcc's `writesingle` sends it: 0, or the exception (errno). */
static int write_single(modbus_t *mb, int addr, uint16_t v)
{
	errno = 0;
	return modbus_write_register(mb, addr, v) == 1 ? 0 : errno;
}

/* ------------------------------------------------ 1. marstek-venus-e -- */

struct step {
	int addr;
	uint16_t value;
};

/* Replay one batterymode sequence as evcc does: in order, stopping at the
 * first failure. Returns the index of the failing step (n when all
 * succeeded) and its error in *err. */
static size_t replay(modbus_t *mb, const struct step *s, size_t n, int *err)
{
	*err = 0;
	for (size_t i = 0; i < n; i++)
		if ((*err = write_single(mb, s[i].addr, s[i].value)) != 0)
			return i;
	return n;
}

static void test_marstek(modbus_t *mb, const char *sim_log)
{
	uint16_t w[2];

	/* Reads, as evcc decodes them; the dump has cel_c=27, grd_o=807,
	 * tot_o=36889 (venus-mqtt.md, section 3.2). */
	int e = h_read_retry(mb, 32202, 2, w);
	double power2 = e ? NAN : (double)(int32_t)((uint32_t)w[0] << 16 | w[1]) * 1;
	h_ok(!e && power2 == 807, "gen 2 power: 32202 int32 = %g W (dump grd_o=807, discharging)",
	     power2);
	e = h_read_retry(mb, 32104, 1, w);
	h_ok(!e && w[0] * 1.0 == 27, "gen 2 soc: 32104 uint16 = %u %% (dump cel_c=27)", w[0]);
	e = h_read_retry(mb, 33002, 2, w);
	double energy = e ? NAN : (double)((uint32_t)w[0] << 16 | w[1]) * 0.01;
	h_ok(!e && fabs(energy - 368.89) < 1e-9,
	     "energy: 33002 uint32 x 0.01 = %.2f kWh (dump tot_o=36889)", energy);
	e = h_read_retry(mb, 33000, 2, w);
	double charged = e ? NAN : (double)((uint32_t)w[0] << 16 | w[1]) * 0.01;
	h_ok(!e && fabs(charged - 447.85) < 1e-9,
	     "charged energy: 33000 uint32 x 0.01 = %.2f kWh (dump tot_i=44785)", charged);
	e = h_read_retry(mb, 30006, 1, w);
	h_ok(!e && (int16_t)w[0] == 807, "gen 3 power: 30006 int16 = %d W", (int16_t)w[0]);
	e = h_read_retry(mb, 34002, 1, w);
	double soc3 = e ? NAN : w[0] * 0.1;
	h_ok(!e && fabs(soc3 - 27.0) < 1e-9, "gen 3 soc: 34002 uint16 x 0.1 = %.1f %% (raw %u)",
	     soc3, w[0]);
	/* The control registers read what is true of a Venus over MQTT. */
	e = h_read_retry(mb, 42000, 1, w);
	h_ok(!e && w[0] == 21947, "42000 reads 21947: RS485 control disabled");
	e = h_read_retry(mb, 43000, 1, w);
	h_ok(!e && w[0] == 0, "43000 reads 0 (manual) for the dump's wor_m=1 (MQTT manual)");

	/* batterymode, as the template writes it. */
	int lines0 = h_count_lines(sim_log, "cd=");
	static const struct step normal[] = {
	    {44002, 2500}, {42000, 21930}, {43000, 1}, {42000, 21947}};
	int err;
	size_t at = replay(mb, normal, 4, &err);
	h_ok(at == 1 && err == EXC(2),
	     "normal: 44002=2500 acknowledged, then 42000=21930 refused with 02 (stopped at step "
	     "%zu: %s)",
	     at, err ? modbus_strerror(err) : "none");
	h_ok(h_wait_lines(sim_log, "cd=16,cp=2500", 1, 3000),
	     "44002=2500 reached the device as cd=16,cp=2500");

	static const struct step hold[] = {{42000, 21930}, {42010, 0}};
	at = replay(mb, hold, 2, &err);
	h_ok(at == 0 && err == EXC(2), "hold: 42000=21930 refused with 02");
	static const struct step charge[] = {{42000, 21930}, {42010, 1}, {42020, 2500}};
	at = replay(mb, charge, 3, &err);
	h_ok(at == 0 && err == EXC(2), "charge: 42000=21930 refused with 02");
	static const struct step holdcharge[] = {
	    {44002, 0}, {42000, 21930}, {43000, 1}, {42000, 21947}};
	at = replay(mb, holdcharge, 4, &err);
	h_ok(at == 1 && err == EXC(2),
	     "holdcharge: 44002=0 acknowledged, then 42000=21930 refused with 02 (stopped at step "
	     "%zu: %s)",
	     at, err ? modbus_strerror(err) : "none");
	h_ok(h_wait_lines(sim_log, "cd=16,cp=0", 1, 3000),
	     "44002=0 reached the device as cd=16,cp=0 (charging off)");

	/* Every control register alone: the three without an MQTT equivalent
	 * are refused, whatever the value; none of it reaches the device. */
	h_ok(write_single(mb, 42000, 21947) == EXC(2), "42000=21947 refused with 02");
	h_ok(write_single(mb, 42010, 1) == EXC(2) && write_single(mb, 42010, 2) == EXC(2) &&
		 write_single(mb, 42010, 0) == EXC(2),
	     "42010 (force charge/discharge/stop) refused with 02");
	h_ok(write_single(mb, 42020, 2500) == EXC(2), "42020=2500 refused with 02");
	h_sleep_ms(300);
	h_ok(h_count_lines(sim_log, "cd=") == lines0 + 2,
	     "only cd=16,cp=2500 and cd=16,cp=0 reached the device (%d commands, expected %d)",
	     h_count_lines(sim_log, "cd="), lines0 + 2);

	/* 43000: the RS-485 work mode, translated into cd=2's. */
	static const struct {
		uint16_t mode;
		const char *cmd;
	} modes[] = {{1, "cd=2,md=0"}, {0, "cd=2,md=1"}, {2, "cd=2,md=2"}};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		int before = h_count_lines(sim_log, modes[i].cmd);
		h_ok(write_single(mb, 43000, modes[i].mode) == 0 &&
			 h_wait_lines(sim_log, modes[i].cmd, before + 1, 3000),
		     "43000=%u (%s) acknowledged and sent as %s", modes[i].mode,
		     modes[i].mode == 0	  ? "manual"
		     : modes[i].mode == 1 ? "anti-feed"
					  : "trade",
		     modes[i].cmd);
	}
	int lines1 = h_count_lines(sim_log, "cd=");
	h_ok(write_single(mb, 43000, 3) == EXC(3) && h_count_lines(sim_log, "cd=") == lines1,
	     "43000=3 refused with 03, nothing sent");
	/* cd=2 is not acknowledged: the bridge refreshes about a second later
	 * and compares the device's wor_m with the native value it sent. The
	 * last write was 2 (md=2); after the refresh the bridge must not have
	 * found the device disagreeing, and 43000 reads the device's value. */
	int refreshes = h_count_exact(sim_log, "cd=1");
	for (int tries = 0; tries < 40 && h_count_exact(sim_log, "cd=1") == refreshes; tries++)
		h_sleep_ms(100);
	h_sleep_ms(300);
	h_ok(h_count_exact(sim_log, "cd=1") > refreshes, "a refresh confirmed the mode writes");
	h_ok(!h_file_contains(h_path("bridge.log"), "did not apply the write"),
	     "the device's wor_m agreed with every md= sent");
	e = h_read_retry(mb, 43000, 1, w);
	h_ok(!e && w[0] == 2, "43000 reads 2 (trade)");

	/* 44002 within the document's range, and back. */
	h_ok(write_single(mb, 44002, 1200) == 0 && h_wait_lines(sim_log, "cd=16,cp=1200", 1, 3000),
	     "44002=1200 sent as cd=16,cp=1200, acknowledged");
	e = h_read_retry(mb, 44002, 1, w);
	h_ok(!e && w[0] == 1200, "44002 reads 1200");
}

/* --------------------------------------------------- 2. SunSpec walk -- */

/* A scaled point's value as a client decodes it: value x 10^sf, NAN when
 * the value or its scale factor is "not implemented". */
static double ss_scaled(int64_t v, int is_signed, uint16_t sf)
{
	if ((is_signed && v == -32768) || (!is_signed && v == 0xFFFF) || sf == 0x8000)
		return NAN;
	return (double)v * pow(10, (int16_t)sf);
}

/* soh: the SoH expected, NAN when the map does not implement it. */
static void check_walk(modbus_t *mb, const char *what, const char *mn, const char *vr, double soc,
		       double wat, double soh)
{
	struct ss_model m[8];
	int n = ss_walk(mb, m, 8);
	h_ok(n == 2, "%s: the walk from 40000 finds SunS, %d models and the end marker", what, n);
	const struct ss_model *c = ss_find(m, n > 0 ? n : 0, 1);
	const struct ss_model *b = ss_find(m, n > 0 ? n : 0, 802);
	h_ok(c && c->addr == 40002 && c->len == 66, "%s: model 1 at 40002, length 66", what);
	h_ok(b && b->len == 62, "%s: model 802, length 62", what);
	if (!c || !b)
		return;
	char s[40];
	ss_string(c->body, 16, s);
	h_ok(strcmp(s, mn) == 0, "%s: model 1 Mn \"%s\"", what, s);
	ss_string(c->body + 40, 8, s);
	h_ok(strcmp(s, vr) == 0, "%s: model 1 Vr \"%s\" (expected \"%s\")", what, s, vr);
	double v = ss_scaled(SS_P802(b, SS802_SOC), 0, SS_P802(b, SS802_SOC_SF));
	h_ok(fabs(v - soc) < 1e-9, "%s: 802 SoC = %g %% (SoC_SF %d)", what, v,
	     (int16_t)SS_P802(b, SS802_SOC_SF));
	v = ss_scaled((int16_t)SS_P802(b, SS802_W), 1, SS_P802(b, SS802_W_SF));
	h_ok(fabs(v - wat) < 1e-9, "%s: 802 W = %g W (W_SF %d)", what, v,
	     (int16_t)SS_P802(b, SS802_W_SF));
	v = ss_scaled(SS_P802(b, SS802_SOH), 0, SS_P802(b, SS802_SOH_SF));
	if (isnan(soh))
		h_ok(SS_P802(b, SS802_SOH) == 0xFFFF && SS_P802(b, SS802_SOH_SF) == 0x8000,
		     "%s: 802 SoH not implemented (0xFFFF, SoH_SF 0x8000)", what);
	else
		h_ok(fabs(v - soh) < 1e-9, "%s: 802 SoH = %g %% (SoH_SF %d)", what, v,
		     (int16_t)SS_P802(b, SS802_SOH_SF));
	h_ok(SS_P802(b, SS802_SOCRSVMIN) == 0xFFFF, "%s: 802 SoCRsvMin not implemented (0xFFFF)",
	     what);
}

/* venus-sunspec's points from the device's state and its BMS: ChaSt and
 * State as the enums of sunspec/models json/model_802.json (ChaSt 3
 * DISCHARGING, State 3 CONNECTED), Typ 4 LITHIUM_ION, V with V_SF. */
static void check_states(modbus_t *mb, const char *what, uint16_t chast, uint16_t state, double v)
{
	struct ss_model m[8];
	int n = ss_walk(mb, m, 8);
	const struct ss_model *b = ss_find(m, n > 0 ? n : 0, 802);
	if (!h_ok(b != NULL, "%s: model 802 found", what))
		return;
	h_ok(SS_P802(b, SS802_CHAST) == chast, "%s: 802 ChaSt = %u (expected %u)", what,
	     SS_P802(b, SS802_CHAST), chast);
	h_ok(SS_P802(b, SS802_STATE) == state, "%s: 802 State = %u (expected %u)", what,
	     SS_P802(b, SS802_STATE), state);
	h_ok(SS_P802(b, SS802_TYP) == 4, "%s: 802 Typ = %u (4, lithium-ion)", what,
	     SS_P802(b, SS802_TYP));
	double got = ss_scaled(SS_P802(b, SS802_V), 0, SS_P802(b, SS802_V_SF));
	h_ok(fabs(got - v) < 1e-9, "%s: 802 V = %g V (V_SF %d; expected %g)", what, got,
	     (int16_t)SS_P802(b, SS802_V_SF), v);
}

int main(void)
{
	h_init("stock_clients");
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	char port[16];
	snprintf(port, sizeof port, "%d", broker_port);
	const char *va[] = {h_bin("tests/sim/sim_venus"), "--port", port, "--id", VN_ID, NULL};
	pid_t simv = h_spawn(va, "simv.log");
	const char *vb[] = {h_bin("tests/sim/sim_venus"), "--port", port, "--id", VS_ID, NULL};
	pid_t sims = h_spawn(vb, "sims.log");
	char simv_log[512];
	snprintf(simv_log, sizeof simv_log, "%s", h_path("simv.log"));
	h_ok(simv > 0 && sims > 0 && h_wait_lines(simv_log, "# ready", 1, 5000) &&
		 h_wait_lines(h_path("sims.log"), "# ready", 1, 5000),
	     "two sim_venus subscribed");
	pid_t simp = h_sim_powergo(broker_port, PG_DEV, "simp.log", NULL);

	int mb_port = h_free_port();
	char conf[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 " { name = \"native\"; unit_id = 1; map = \"venus-native\"; poll = 0;\n"
		 "   max_age = 60000; min_interval = 0; timeout = 3000;\n"
		 "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "   venus = { type = \"HMG-50\"; id = \"" VN_ID "\"; }; },\n"
		 " { name = \"vsunspec\"; unit_id = 2; map = \"venus-sunspec\"; poll = 0;\n"
		 "   max_age = 60000; min_interval = 0; timeout = 3000;\n"
		 "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "   venus = { type = \"HMG-50\"; id = \"" VS_ID "\"; }; },\n"
		 " { name = \"psunspec\"; unit_id = 3; map = \"powergo-sunspec\"; poll = 0;\n"
		 "   max_age = 0; timeout = 2000; mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "   powergo = { app_id = \"" PG_APP "\"; device_id = \"" PG_DEV "\"; }; } );\n",
		 mb_port, h_maps_dir(), broker_port, broker_port, broker_port);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();

	modbus_t *mb = h_modbus(mb_port, 1);
	test_marstek(mb, simv_log);
	modbus_close(mb);
	modbus_free(mb);

	mb = h_modbus(mb_port, 2);
	/* SoC, W, Vr: the document's cd=1 dump; SoH: b_soh=100 of the cd=14
	 * reply the hm2mqtt project records from a real device. */
	check_walk(mb, "venus-sunspec", "Hame", "202407221950", 27, 807, 100);
	h_ok(h_count_lines(h_path("sims.log"), "cd=14") > 0,
	     "venus-sunspec asked its battery for cd=14 (the BMS values)");
	/* ChaSt from cel_s=3 (discharge): 3 DISCHARGING; State from grd_t=3
	 * (discharging): 3 CONNECTED; V from b_vol=5223 (0.01 V): 52.23 V. */
	check_states(mb, "venus-sunspec", 3, 3, 52.23);
	modbus_close(mb);
	modbus_free(mb);

	mb = h_modbus(mb_port, 3);
	/* The document's status example: 529 = 0x0044 (68 %), 530 = 0. */
	check_walk(mb, "powergo-sunspec", "PowerGo", "", 68, 0, NAN);
	/* 530 = -1500 (device to grid: discharging) reads as W = +1500. */
	char topic[64];
	snprintf(topic, sizeof topic, "sim/powergo/%s/set", PG_DEV);
	h_ok(h_sim_tell(broker_port, topic, "530=64036", h_path("simp.log"), "set 530=64036", 5000),
	     "sim_powergo: 530 = -1500");
	check_walk(mb, "powergo-sunspec, discharging", "PowerGo", "", 68, 1500, NAN);
	h_ok(h_count_lines(h_path("simp.log"), "addr=529") > 0 &&
		 h_count_lines(h_path("simp.log"), "addr=40") == 0,
	     "the battery was asked for 529 and 530 only, never for a constant's address");
	errno = 0;
	h_ok(modbus_write_register(mb, 40080, 20) == -1 && errno == EXC(2),
	     "a write to a constant (SoCRsvMin) is refused with 02");
	modbus_close(mb);
	modbus_free(mb);

	h_ok(h_bridge_stop(bridge) == 0, "bridge stopped cleanly");
	h_stop(simv, 3000);
	h_stop(sims, 3000);
	h_stop(simp, 3000);
	h_stop(broker, 3000);
	return h_done();
}

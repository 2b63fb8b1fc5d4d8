/* Venus values the document does not foresee, end to end (docs/design.md,
 * "Map files", odd values): a real mosquitto, tests/sim/sim_venus and the bridge, read through
 * Modbus TCP with libmodbus.
 *
 *   unit 1  venus map, sim A: mcp_w reported negated (-2500, as the Venus in
 *           the hm2mqtt project's issue "maximum_charging_power: -2500.0
 *           (range 0.0 - 2500.0)") and no answer to cd=14 (the document's
 *           firmware): the 70-register block the map recommends reads, and
 *           max_charge_power is -2500 (int16)
 *   unit 2  venus-sunspec, sim B without cd=14: model 802 reads whole in one
 *           request, SoH not implemented (0xFFFF), SoC and W from the dump;
 *           SoH comes back when cd=14 is answered again
 *   unit 3  venus map, sim C with odd values (cel_c=-5 in a uint16, grd_o
 *           and mcp_w past int16): each is counted (bad_values); the block
 *           still reads; a register with `unavailable` serves it alone too,
 *           one without is refused (04) when read alone
 *   unit 4  venus-sunspec, sim D with odd cel_c and grd_o: model 802 whole,
 *           SoC and W not implemented
 *   unit 5  venus map on sim C again, max_age 0 (every read asks the
 *           device): the refusal holds for fresh reads, and a good value
 *           replaces it
 *
 * Each of these failed before: the value was never stored, so every read
 * covering it got 04 (the whole block, the whole SunSpec model). */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_A "0123456789a1"
#define ID_B "0123456789a2"
#define ID_C "0123456789a3"
#define ID_D "0123456789a4"
#define EXC(n) ((int)MODBUS_ENOBASE + (n))

static int broker_port;

static pid_t start_sim(const char *id, const char *log, const char *const *extra)
{
	char port[16];
	snprintf(port, sizeof port, "%d", broker_port);
	const char *argv[20] = {h_bin("tests/sim/sim_venus"), "--port", port, "--id", id};
	int n = 5;
	while (extra && *extra && n < 18)
		argv[n++] = *extra++;
	argv[n] = NULL;
	pid_t pid = h_spawn(argv, log);
	if (pid <= 0 || !h_wait_lines(h_path(log), "# ready", 1, 5000))
		h_note("%s did not subscribe", log);
	return pid;
}

/* Tell a simulator something at run time and wait until it says so. */
static int sim_mode(const char *id, const char *log, const char *mode)
{
	char topic[64], line[64];
	snprintf(topic, sizeof topic, "sim/venus/%s/mode", id);
	snprintf(line, sizeof line, "# mode %s", mode);
	int before = h_count_lines(log, line);
	if (h_mqtt_pub(broker_port, topic, mode) != 0)
		return -1;
	return h_wait_lines(log, line, before + 1, 5000) ? 0 : -1;
}

/* One read; 0 or the errno libmodbus gives (0A while the link comes up is
 * retried by h_read_retry). */
static int rd(modbus_t *mb, int addr, int n, uint16_t *w)
{
	return h_read_retry(mb, addr, n, w);
}

int main(void)
{
	h_init("venus_odd");
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();

	static const char *const opt_a[] = {"--mcp-negative", "--ignore", "14", NULL};
	static const char *const opt_b[] = {"--ignore", "14", NULL};
	static const char *const opt_c[] = {"--set", "cel_c=-5",    "--set", "grd_o=40000",
					    "--set", "mcp_w=99999", NULL};
	static const char *const opt_d[] = {"--set", "cel_c=-5", "--set", "grd_o=40000", NULL};
	pid_t sa = start_sim(ID_A, "simA.log", opt_a);
	pid_t sb = start_sim(ID_B, "simB.log", opt_b);
	pid_t sc = start_sim(ID_C, "simC.log", opt_c);
	pid_t sd = start_sim(ID_D, "simD.log", opt_d);
	char simb_log[512], simc_log[512], blog[512];
	snprintf(simb_log, sizeof simb_log, "%s", h_path("simB.log"));
	snprintf(simc_log, sizeof simc_log, "%s", h_path("simC.log"));
	snprintf(blog, sizeof blog, "%s", h_path("bridge.log"));

	int mb_port = h_free_port();
	char conf[4096], mqtt[96];
	snprintf(mqtt, sizeof mqtt, "mqtt = { host = \"127.0.0.1\"; port = %d; };", broker_port);
	const char *timing = "poll = 0; min_interval = 0; timeout = 3000;";
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 " { name = \"v156\"; unit_id = 1; map = \"venus\"; max_age = 60000; %s %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_A "\"; }; },\n"
		 " { name = \"sunspec\"; unit_id = 2; map = \"venus-sunspec\"; max_age = 0; %s %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_B "\"; }; },\n"
		 " { name = \"odd\"; unit_id = 3; map = \"venus\"; max_age = 60000; %s %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_C "\"; }; },\n"
		 " { name = \"oddspec\"; unit_id = 4; map = \"venus-sunspec\"; max_age = 60000; %s "
		 "%s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_D "\"; }; },\n"
		 " { name = \"oddfresh\"; unit_id = 5; map = \"venus\"; max_age = 0; %s %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_C "\"; }; }\n"
		 ");\n",
		 mb_port, h_maps_dir(), timing, mqtt, timing, mqtt, timing, mqtt, timing, mqtt,
		 timing, mqtt);
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started with five venus devices"))
		return h_done();

	uint16_t w[70];
	int rc;

	/* --- unit 1: mcp_w negative, no cd=14 ------------------------------ */
	modbus_t *mb = h_modbus(mb_port, 1);
	memset(w, 0xAA, sizeof w);
	rc = rd(mb, 0, 70, w);
	h_ok(rc == 0, "unit 1: block 0..69 reads in one FC03 although mcp_w=-2500 (%s)",
	     rc ? modbus_strerror(rc) : "ok");
	h_ok(rc == 0 && (int16_t)w[28] == -2500,
	     "unit 1: max_charge_power reads -2500 (int16, as the device reports it): %d",
	     (int16_t)w[28]);
	h_ok(rc == 0 && w[0] == 27 && (int16_t)w[2] == 807 && w[29] == 800,
	     "unit 1: its neighbours as the dump says: soc %u, power %d, mdp_w %u", w[0],
	     (int16_t)w[2], w[29]);
	errno = 0;
	rc = modbus_read_registers(mb, 200, 1, w);
	h_ok(rc == -1 && errno == EXC(4),
	     "unit 1: bms_soc (cd=14 unanswered, no unavailable value) is refused: 04 (%s)",
	     rc == -1 ? modbus_strerror(errno) : "answered");
	h_ok(h_dev_counter(bridge, blog, "v156", "bad_values") == 0,
	     "unit 1: a negative mcp_w is no bad value for an int16");
	modbus_close(mb);
	modbus_free(mb);

	/* --- unit 2: venus-sunspec without cd=14 --------------------------- */
	mb = h_modbus(mb_port, 2);
	memset(w, 0xAA, sizeof w);
	rc = rd(mb, 40070, 64, w);
	h_ok(rc == 0, "unit 2: model 802 (40070..40133) reads whole without a cd=14 reply (%s)",
	     rc ? modbus_strerror(rc) : "ok");
	h_ok(rc == 0 && w[0] == 802 && w[1] == 62 && w[11] == 27 && (int16_t)w[47] == 807 &&
		 w[13] == 0xFFFF,
	     "unit 2: ID 802, L 62, SoC 27, W 807, SoH 0x%04X (not implemented)", w[13]);
	h_ok(h_count_lines(simb_log, "# ignored cd=14") >= 1, "unit 2: the sim ignored cd=14");
	h_ok(sim_mode(ID_B, simb_log, "ignore 0") == 0, "unit 2: the sim answers cd=14 again");
	rc = rd(mb, 40070, 64, w);
	h_ok(rc == 0 && w[13] == 100 && w[11] == 27,
	     "unit 2: with cd=14 answered SoH is 100 again (hm2mqtt's b_soh): %u", w[13]);
	h_ok(h_dev_counter(bridge, blog, "sunspec", "bad_values") == 0,
	     "unit 2: an unanswered optional query is no bad value");
	modbus_close(mb);
	modbus_free(mb);

	/* --- unit 3: odd values, cached ------------------------------------ */
	mb = h_modbus(mb_port, 3);
	memset(w, 0xAA, sizeof w);
	rc = rd(mb, 0, 70, w);
	h_ok(rc == 0, "unit 3: block 0..69 reads with three odd values in it (%s)",
	     rc ? modbus_strerror(rc) : "ok");
	h_ok(rc == 0 && w[1] == 138 && w[29] == 800 && w[4] == 3 && w[37] == 41,
	     "unit 3: the neighbours as the dump says: battery_energy %u, mdp_w %u, grd_t %u, "
	     "tra_a %u",
	     w[1], w[29], w[4], w[37]);
	h_ok(rc == 0 && w[0] == 0xFFFF && w[2] == 0x8000 && w[28] == 0x8000,
	     "unit 3: soc (cel_c=-5, uint16) 0x%04X, power (grd_o=40000, int16) 0x%04X, "
	     "max_charge_power (99999) 0x%04X: not implemented",
	     w[0], w[2], w[28]);
	errno = 0;
	rc = modbus_read_registers(mb, 0, 1, w);
	h_ok(rc == -1 && errno == EXC(4), "unit 3: soc alone (no unavailable value) gets 04 (%s)",
	     rc == -1 ? modbus_strerror(errno) : "answered");
	errno = 0;
	rc = modbus_read_registers(mb, 2, 1, w);
	h_ok(rc == -1 && errno == EXC(4), "unit 3: power alone gets 04 (%s)",
	     rc == -1 ? modbus_strerror(errno) : "answered");
	rc = modbus_read_registers(mb, 28, 1, w);
	h_ok(rc == 1 && w[0] == 0x8000,
	     "unit 3: max_charge_power alone serves its map's unavailable value 0x8000: 0x%04X",
	     rc == 1 ? w[0] : 0);
	rc = modbus_read_registers(mb, 0, 2, w);
	h_ok(rc == 2 && w[0] == 0xFFFF && w[1] == 138,
	     "unit 3: soc with battery_energy answers: 0x%04X %u", w[0], w[1]);
	long long bad = h_dev_counter(bridge, blog, "odd", "bad_values");
	h_ok(bad >= 3 && bad % 3 == 0, "unit 3: the three odd values are counted per refresh: %lld",
	     bad);
	modbus_close(mb);
	modbus_free(mb);

	/* --- unit 4: venus-sunspec with odd SoC and W ---------------------- */
	mb = h_modbus(mb_port, 4);
	rc = rd(mb, 40070, 64, w);
	h_ok(rc == 0 && w[11] == 0xFFFF && w[47] == 0x8000 && w[13] == 100,
	     "unit 4: model 802 reads whole: SoC 0x%04X, W 0x%04X (not implemented), SoH %u (%s)",
	     w[11], w[47], w[13], rc ? modbus_strerror(rc) : "ok");
	bad = h_dev_counter(bridge, blog, "oddspec", "bad_values");
	h_ok(bad >= 2, "unit 4: both odd values counted: %lld", bad);
	modbus_close(mb);
	modbus_free(mb);

	/* --- unit 5: the same device, every read asks it -------------------- */
	mb = h_modbus(mb_port, 5);
	errno = 0;
	rc = rd(mb, 0, 1, w);
	h_ok(rc == EXC(4), "unit 5: soc alone, freshly read, gets 04 (%s)",
	     rc ? modbus_strerror(rc) : "answered");
	rc = rd(mb, 0, 2, w);
	h_ok(rc == 0 && w[0] == 0xFFFF && w[1] == 138,
	     "unit 5: soc with battery_energy answers: 0x%04X %u", w[0], w[1]);
	h_ok(sim_mode(ID_C, simc_log, "set cel_c 55") == 0, "sim C now reports cel_c=55");
	rc = rd(mb, 0, 1, w);
	h_ok(rc == 0 && w[0] == 55, "unit 5: soc reads 55 once the device sends a value that fits");
	modbus_close(mb);
	modbus_free(mb);

	h_ok(h_alive(bridge), "bridge still running");
	h_ok(h_bridge_stop(bridge) == 0, "bridge exits cleanly");
	h_stop(sa, 2000);
	h_stop(sb, 2000);
	h_stop(sc, 2000);
	h_stop(sd, 2000);
	h_stop(broker, 2000);
	return h_done();
}

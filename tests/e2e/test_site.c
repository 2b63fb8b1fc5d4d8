/* The site device (docs/user-guide.md, "The site"), end to end: the real
 * bridge, a real mosquitto and the simulators, read with libmodbus.
 *
 *   unit 2  battery  venus    tests/sim/sim_venus (map venus)
 *   unit 3  battery  powergo  tests/sim/sim_powergo (map powergo)
 *   unit 4  pv       solarman tests/sim/sim_solarman, Growatt (map growatt)
 *   unit 5  grid     modbus   tests/sim/sim_modbus over TCP (map sdm630)
 *   unit 100 the site
 *
 * 1. Every block equals what the members serve, read from the members
 *    through the bridge with libmodbus and converted as the register
 *    reference says: power in W (positive: delivered to the site; the
 *    PowerGo's 530 counts the other way), energy in Wh, SOC the mean of
 *    the two batteries (neither map gives a capacity: soc_basis 2).
 *    The battery block's energy_taken is not available: the PowerGo map
 *    gives no charge counter, and a sum never leaves a member out.
 * 2. A silent member (the meter's simulator stopped) makes the grid block
 *    unavailable, answering 0 of 1; it comes back when the meter answers.
 * 3. A reload (SIGHUP) that drops the Venus from the site's members: the
 *    battery block counts one member and is the PowerGo's alone; one that
 *    names no members again adds it back. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "harness.h"

#define VN_ID "0123456789ab"
#define PG_DEV "15020115"
#define PG_APP "053461AD"

static int http_port;

struct body {
	char buf[16384];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t len = size * n, room = sizeof b->buf - 1 - b->len;
	if (len > room)
		len = room;
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return size * n;
}

/* GET /api/v1/devices/site/registers/NAME: 1 with its "value" in *v (NaN
 * for null), 0 when the request or the document failed. */
static int rest_value(const char *name, double *v)
{
	CURL *e = curl_easy_init();
	struct body b = {.len = 0};
	char url[256];
	long status = -1;
	int ok = 0;
	if (!e)
		return 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/devices/site/registers/%s", http_port,
		 name);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	json_object *o = status == 200 ? json_tokener_parse(b.buf) : NULL, *x;
	if (o && json_object_object_get_ex(o, "value", &x)) {
		*v = x ? json_object_get_double(x) : NAN;
		ok = 1;
	}
	if (!ok)
		h_note("GET %s: %ld %s", url, status, b.buf);
	json_object_put(o);
	return ok;
}

/* The site's block of a role: 9 values, two registers each. */
enum { S_POWER, S_EDEL, S_ETAK, S_SOC, S_CAP, S_MEMBERS, S_ANSWERING, S_BASIS, S_AGE, S_N };
#define NA_I32 INT32_MIN
#define NA_U32 UINT32_MAX

struct block {
	int ok;
	int32_t power;
	uint32_t v[S_N];
};

static int read_block(modbus_t *mb, int base, struct block *b)
{
	uint16_t w[18];
	memset(b, 0, sizeof *b);
	modbus_set_slave(mb, 100);
	if (h_read_retry(mb, base, 18, w) != 0)
		return 0;
	for (int i = 0; i < S_N; i++)
		b->v[i] = (uint32_t)w[2 * i] << 16 | w[2 * i + 1];
	b->power = (int32_t)b->v[S_POWER];
	b->ok = 1;
	return 1;
}

static uint32_t u32(const uint16_t *w)
{
	return (uint32_t)w[0] << 16 | w[1];
}

static float f32(const uint16_t *w)
{
	uint32_t u = u32(w);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* What the members serve, as the register reference converts it. */
struct members {
	double venus_power, venus_soc, venus_out, venus_in;
	double pg_power, pg_soc, pg_out;
	double pv_power, pv_out;
	double grid_power, grid_in, grid_out;
};

static int read_members(modbus_t *mb, struct members *m)
{
	uint16_t w[16];
	int ok = 1;
	modbus_set_slave(mb, 2); /* venus: soc 0, power 2 (int16), tot_i 10, tot_o 12 */
	ok &= h_read_retry(mb, 0, 14, w) == 0 || (h_note("venus: %s", modbus_strerror(errno)), 0);
	m->venus_soc = w[0];
	m->venus_power = (int16_t)w[2];
	m->venus_in = u32(w + 10) * 10.0; /* 0.01 kWh */
	m->venus_out = u32(w + 12) * 10.0;
	modbus_set_slave(mb, 3); /* powergo: 529 soc, 530 int16 (+ from the grid), 541 LE 0.1 kWh */
	ok &=
	    h_read_retry(mb, 529, 2, w) == 0 || (h_note("powergo: %s", modbus_strerror(errno)), 0);
	m->pg_soc = w[0];
	m->pg_power = -(double)(int16_t)w[1];
	ok &= h_read_retry(mb, 541, 2, w) == 0;
	m->pg_out = ((uint32_t)w[1] << 16 | w[0]) * 100.0;
	modbus_set_slave(mb, 4); /* growatt: input 35 pac 0.1 W, 55 eac_total 0.1 kWh */
	ok &= modbus_read_input_registers(mb, 35, 2, w) == 2 ||
	      (h_note("pv: %s", modbus_strerror(errno)), 0);
	m->pv_power = u32(w) / 10.0;
	ok &= modbus_read_input_registers(mb, 55, 2, w) == 2;
	m->pv_out = u32(w) * 100.0;
	modbus_set_slave(mb, 5); /* sdm630: input 52 power W, 72/74 import/export kWh */
	ok &= modbus_read_input_registers(mb, 52, 2, w) == 2 ||
	      (h_note("meter: %s", modbus_strerror(errno)), 0);
	m->grid_power = f32(w);
	ok &= modbus_read_input_registers(mb, 72, 4, w) == 4;
	m->grid_in = (double)f32(w) * 1000;
	m->grid_out = (double)f32(w + 2) * 1000;
	return ok;
}

/* Wait (bounded) until the block at base satisfies pred; the last read in *b. */
static int wait_block(modbus_t *mb, int base, struct block *b,
		      int (*pred)(const struct block *, const void *), const void *arg,
		      int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		if (read_block(mb, base, b) && pred(b, arg))
			return 1;
		if (h_now_ms() > end) {
			h_note("block %d: power %d, members %u, answering %u", base, b->power,
			       b->v[S_MEMBERS], b->v[S_ANSWERING]);
			return 0;
		}
		h_sleep_ms(100);
	}
}

static int is_members(const struct block *b, const void *arg)
{
	const uint32_t *want = arg; /* members, answering */
	return b->v[S_MEMBERS] == want[0] && b->v[S_ANSWERING] == want[1];
}

static int is_power(const struct block *b, const void *arg)
{
	return b->power == *(const int32_t *)arg && b->v[S_ANSWERING] == b->v[S_MEMBERS];
}

static uint32_t wh(double x)
{
	return (uint32_t)nearbyint(x);
}

static void check_all(modbus_t *mb, const char *when)
{
	struct members m;
	struct block b;
	if (!h_ok(read_members(mb, &m), "%s: the members read through the bridge", when))
		return;
	h_note("%s: venus %g W %g %%, powergo %g W %g %%, pv %g W, grid %g W", when, m.venus_power,
	       m.venus_soc, m.pg_power, m.pg_soc, m.pv_power, m.grid_power);

	/* Battery: the sum of the two, the PowerGo's sign turned. */
	int32_t want = (int32_t)nearbyint(m.venus_power + m.pg_power);
	h_ok(wait_block(mb, 500, &b, is_power, &want, 5000),
	     "%s: battery power %d W = venus %g + powergo %g (got %d)", when, want, m.venus_power,
	     m.pg_power, b.power);
	h_ok(b.v[S_MEMBERS] == 2 && b.v[S_ANSWERING] == 2,
	     "%s: battery members 2, answering 2 (%u, %u)", when, b.v[S_MEMBERS], b.v[S_ANSWERING]);
	h_ok(b.v[S_SOC] == wh((m.venus_soc + m.pg_soc) / 2 * 100) && b.v[S_BASIS] == 2,
	     "%s: battery SOC %u (0.01 %%) is the mean of %g and %g, by count (basis %u)", when,
	     b.v[S_SOC], m.venus_soc, m.pg_soc, b.v[S_BASIS]);
	h_ok(b.v[S_EDEL] == wh(m.venus_out + m.pg_out),
	     "%s: battery energy delivered %u Wh = %g + %g", when, b.v[S_EDEL], m.venus_out,
	     m.pg_out);
	h_ok(b.v[S_ETAK] == NA_U32 && b.v[S_CAP] == NA_U32,
	     "%s: battery energy taken and capacity not available (the PowerGo gives neither)",
	     when);
	/* REST shows what Modbus serves: the site is an ordinary device. */
	double rv = 0, re = 0, rt = 0;
	h_ok(rest_value("battery_power", &rv) && rest_value("battery_energy_delivered", &re) &&
		 rest_value("battery_energy_taken", &rt) && rv == want &&
		 fabs(re - b.v[S_EDEL] / 1000.0) < 1e-9 && isnan(rt),
	     "%s: REST battery_power %g W, energy %g kWh, energy taken null", when, rv, re);

	/* PV. */
	want = (int32_t)nearbyint(m.pv_power);
	h_ok(wait_block(mb, 400, &b, is_power, &want, 5000) && b.v[S_MEMBERS] == 1,
	     "%s: pv power %d W (got %d), 1 member", when, want, b.power);
	h_ok(b.v[S_EDEL] == wh(m.pv_out), "%s: pv energy %u Wh = %g", when, b.v[S_EDEL], m.pv_out);
	h_ok(b.v[S_SOC] == NA_U32 && b.v[S_BASIS] == 0 && b.v[S_ETAK] == NA_U32,
	     "%s: pv has no SOC and no energy taken", when);

	/* Grid: import positive, as delivered to the site. */
	want = (int32_t)nearbyint(m.grid_power);
	h_ok(wait_block(mb, 200, &b, is_power, &want, 5000), "%s: grid power %d W (got %d)", when,
	     want, b.power);
	h_ok(b.v[S_EDEL] == wh(m.grid_in) && b.v[S_ETAK] == wh(m.grid_out),
	     "%s: grid energy %u / %u Wh = import %g, export %g", when, b.v[S_EDEL], b.v[S_ETAK],
	     m.grid_in, m.grid_out);

	/* No member: every value not available, the counts 0. */
	read_block(mb, 300, &b);
	h_ok(b.ok && b.power == NA_I32 && b.v[S_EDEL] == NA_U32 && b.v[S_MEMBERS] == 0 &&
		 b.v[S_ANSWERING] == 0,
	     "%s: load (no member): power not available, 0 members", when);
}

static const char *config(int mb_port, int broker_port, int sol_port, int meter_port,
			  const char *members)
{
	static char conf[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 " { name = \"venus\"; unit_id = 2; map = \"venus\"; role = \"battery\";\n"
		 "   poll = 300; max_age = 3000; min_interval = 0; timeout = 2000;\n"
		 "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "   venus = { type = \"HMG-50\"; id = \"" VN_ID "\"; }; },\n"
		 " { name = \"powergo\"; unit_id = 3; map = \"powergo\"; role = \"battery\";\n"
		 "   poll = 300; max_age = 3000; timeout = 2000;\n"
		 "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "   powergo = { app_id = \"" PG_APP "\"; device_id = \"" PG_DEV "\"; }; },\n"
		 " { name = \"pv\"; unit_id = 4; map = \"growatt\"; role = \"pv\";\n"
		 "   poll = 300; max_age = 3000; min_interval = 0; timeout = 1000;\n"
		 "   solarman = { host = \"127.0.0.1\"; port = %d; serial = 1234567890; slave = 1; "
		 "}; },\n"
		 " { name = \"meter\"; unit_id = 5; map = \"sdm630\"; role = \"grid\";\n"
		 "   poll = 300; max_age = 1500; timeout = 500; retries = 0;\n"
		 "   modbus = { host = \"127.0.0.1\"; port = %d; unit = 1; }; },\n"
		 " { name = \"site\"; unit_id = 100; map = \"site\"; site = { %s }; }\n"
		 ");\n",
		 mb_port, http_port, h_maps_dir(), broker_port, broker_port, sol_port, meter_port,
		 members);
	return conf;
}

/* --check refuses a site it could not serve, naming the file and line. */
static void check_refusals(void)
{
	static const struct {
		const char *devices, *phrase;
		int line;
	} bad[] = {
	    {" { name = \"m\"; unit_id = 1; map = \"scratch\"; role = \"pv\"; }",
	     "role \"pv\", but map scratch declares no such role", 3},
	    {" { name = \"m\"; unit_id = 1; map = \"sdm630\"; role = \"grid\"; poll = 0;\n"
	     "   modbus = { host = \"127.0.0.1\"; port = 9; unit = 1; }; }",
	     "role \"grid\" needs poll > 0", 3},
	    {" { name = \"m\"; unit_id = 1; map = \"scratch\"; role = \"load\"; },\n"
	     " { name = \"s\"; unit_id = 2; map = \"site\"; site = { members = [ \"x\" ]; }; }",
	     "site member \"x\" is no configured device", 4},
	    {" { name = \"m\"; unit_id = 1; map = \"scratch\"; },\n"
	     " { name = \"s\"; unit_id = 2; map = \"site\"; site = { members = [ \"m\" ]; }; }",
	     "site member \"m\" is a device without a role", 4},
	    {" { name = \"s\"; unit_id = 2; map = \"site\"; role = \"load\"; site = { }; }",
	     "a site device has no role", 3},
	    {" { name = \"s\"; unit_id = 2; map = \"site\";\n site = { members = \"m\"; }; }",
	     "must be a list of device names", 4},
	    {" { name = \"s\"; unit_id = 2; map = \"site\"; role = \"sun\"; site = { }; }", "role",
	     3},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char conf[2048], out[4096], want[128];
		snprintf(conf, sizeof conf, "maps_path = [ \"%s\" ];\ndevices = (\n%s\n);\n",
			 h_maps_dir(), bad[i].devices);
		const char *path = h_write_file("bad.conf", conf);
		int rc = h_run_bridge("--check", path, out, sizeof out);
		snprintf(want, sizeof want, "bad.conf:%d: ", bad[i].line);
		h_ok(rc != 0 && strstr(out, want) && strstr(out, bad[i].phrase),
		     "--check refuses: %s (line %d): %s", bad[i].phrase, bad[i].line, out);
	}
}

int main(void)
{
	int broker_port;
	h_init("site");
	check_refusals();
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	char port[16], sport[16], mport[16];
	snprintf(port, sizeof port, "%d", broker_port);
	const char *va[] = {h_bin("tests/sim/sim_venus"), "--port", port, "--id", VN_ID, NULL};
	pid_t simv = h_spawn(va, "simv.log");
	h_ok(simv > 0 && h_wait_lines(h_path("simv.log"), "# ready", 1, 5000), "sim_venus ready");
	pid_t simp = h_sim_powergo(broker_port, PG_DEV, "simp.log", NULL);
	int sol_port = h_free_port(), meter_port = h_free_port();
	snprintf(sport, sizeof sport, "%d", sol_port);
	const char *sa[] = {h_bin("tests/sim/sim_solarman"), "--port", sport, NULL};
	pid_t sims = h_spawn(sa, "sims.log");
	snprintf(mport, sizeof mport, "%d", meter_port);
	const char *ma[] = {h_bin("tests/sim/sim_modbus"),
			    "--tcp",
			    mport,
			    "--float",
			    "52=-812.5",
			    "--float",
			    "72=1234.5",
			    "--float",
			    "74=987.25",
			    NULL};
	pid_t simm = h_spawn(ma, "simm.log");
	h_ok(sims > 0 && simm > 0 && h_wait_port(sol_port, 5000) == 0 &&
		 h_wait_port(meter_port, 5000) == 0,
	     "sim_solarman and sim_modbus listening");

	int mb_port = h_free_port();
	http_port = h_free_port();
	const char *path =
	    h_write_file("modbridge.conf", config(mb_port, broker_port, sol_port, meter_port, ""));
	pid_t bridge = h_bridge_start(path, mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "bridge started"))
		return h_done();
	modbus_t *mb = h_modbus(mb_port, 100);

	/* 1. Sums, signs, SOC. The PowerGo discharging 1500 W: 530 = -1500. */
	char topic[64];
	snprintf(topic, sizeof topic, "sim/powergo/%s/set", PG_DEV);
	h_ok(h_sim_tell(broker_port, topic, "530=64036", h_path("simp.log"), "set 530=64036", 5000),
	     "sim_powergo: 530 = -1500 (discharging)");
	struct members m;
	uint64_t end = h_now_ms() + 10000;
	while (read_members(mb, &m) && m.pg_power != 1500 && h_now_ms() < end)
		h_sleep_ms(100);
	check_all(mb, "all answering");
	read_members(mb, &m);
	h_ok(m.pg_power == 1500, "the PowerGo's discharge counts +1500 W (delivered to the site)");
	h_ok(m.grid_power < 0, "the meter exports (%g W): the grid block's power is negative",
	     m.grid_power);

	/* 2. A silent member: the meter's simulator stops answering. */
	uint32_t want[2] = {1, 0};
	struct block b;
	h_ok(h_signal(simm, SIGSTOP) == 0, "sim_modbus stopped (SIGSTOP)");
	h_ok(wait_block(mb, 200, &b, is_members, want, 10000),
	     "grid: 1 member, 0 answering once the meter's values are older than its max_age");
	h_ok(b.power == NA_I32 && b.v[S_EDEL] == NA_U32 && b.v[S_ETAK] == NA_U32,
	     "grid: power %d and energies not available while the meter is silent", b.power);
	double rv = 0, ra = -1;
	h_ok(rest_value("grid_power", &rv) && isnan(rv) && rest_value("grid_answering", &ra) &&
		 ra == 0,
	     "REST: grid_power null, grid_answering %g while the meter is silent", ra);
	read_block(mb, 500, &b);
	h_ok(b.v[S_ANSWERING] == 2 && b.power != NA_I32,
	     "the battery block is unaffected by the silent meter");
	h_ok(h_signal(simm, SIGCONT) == 0, "sim_modbus continued (SIGCONT)");
	want[1] = 1;
	h_ok(wait_block(mb, 200, &b, is_members, want, 10000) && b.power != NA_I32,
	     "grid: answering again, power %d W", b.power);

	/* 3. Reload: the site names its members, the Venus left out. */
	h_write_file("modbridge.conf", config(mb_port, broker_port, sol_port, meter_port,
					      "members = [ \"powergo\", \"pv\", \"meter\" ];"));
	h_ok(h_signal(bridge, SIGHUP) == 0, "SIGHUP: the Venus removed from the site");
	want[0] = want[1] = 1;
	h_ok(wait_block(mb, 500, &b, is_members, want, 10000),
	     "battery: 1 member after the reload");
	read_members(mb, &m);
	h_ok(b.power == (int32_t)m.pg_power && b.v[S_SOC] == wh(m.pg_soc * 100),
	     "battery: the PowerGo's power %d W and SOC %u alone", b.power, b.v[S_SOC]);
	h_ok(b.v[S_ETAK] == NA_U32, "battery energy taken still not available");
	h_write_file("modbridge.conf", config(mb_port, broker_port, sol_port, meter_port, ""));
	h_ok(h_signal(bridge, SIGHUP) == 0, "SIGHUP: every device with a role again");
	want[0] = want[1] = 2;
	h_ok(wait_block(mb, 500, &b, is_members, want, 10000), "battery: 2 members again");
	check_all(mb, "after the reloads");

	modbus_close(mb);
	modbus_free(mb);
	h_ok(h_bridge_stop(bridge) == 0, "bridge stopped cleanly");
	h_stop(simv, 3000);
	h_stop(simp, 3000);
	h_stop(sims, 3000);
	h_stop(simm, 3000);
	h_stop(broker, 3000);
	return h_done();
}

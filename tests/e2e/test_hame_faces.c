/* The faces of the Hame/Marstek family beside the Venus, end to end: a real
 * mosquitto, tests/sim/sim_venus --model ... answering the hm2mqtt project's
 * recorded replies (tests/lib/venus_examples.h), build/modbridge, driven
 * through Modbus TCP with libmodbus.
 *
 * 1. The SunSpec face (maps b2500-sunspec, jupiter-sunspec): a SunSpec
 *    client's walk from 40000 (marker "SunS", then ID and length of each
 *    model until ID 0xFFFF) must find models 1 and 802 and decode the points
 *    the device reports (SoC, Vr; the Jupiter's ChaSt) with their scale
 *    factors, and read the points it does not report (W above all) as
 *    SunSpec's "not implemented", on both topic families: B2500 v1 (HMB-1,
 *    old family), B2500 v2 (HMA-1, new family: the encrypted topic ID),
 *    Jupiter on each family.
 * 2. The evcc custom meters of docs/evcc.md for the B2500 (unit 10), the
 *    Jupiter (unit 11) and the CT002 (unit 12), replayed as evcc's modbus
 *    plugin makes them (one FC03 per `source: modbus`, encoding uint16 or
 *    int16, `scale`) and summed as its `calc` plugin sums them (`add`); the
 *    requests are written down here from those snippets, and
 *    tests/e2e/test_doc_yaml.c checks the snippets' registers against the
 *    maps. The B2500 v2 simulator reports solar inputs and outputs set by
 *    the test (--set), so that the estimate's sign can fail.
 *
 * Devices (one bridge), each with its own simulator:
 *   unit 1  B2500 v1 HMB-1, hame_energy,    b2500-sunspec
 *   unit 2  B2500 v2 HMA-1, marstek_energy, b2500-sunspec (encrypted ID)
 *   unit 3  Jupiter JPLS-1, hame_energy,    jupiter-sunspec
 *   unit 4  Jupiter JPLS-1, marstek_energy, jupiter-sunspec
 *   unit 10 B2500 v2 HMA-1, hame_energy,    b2500-v2 (evcc)
 *   unit 11 Jupiter JPLS-1, marstek_energy, jupiter (evcc)
 *   unit 12 CT002 HME-4, marstek_energy,    ct002 (evcc) */
#include "harness.h"
#include "sunspec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_venus.h"

#define NDEV 7
#define EXC(n) (MODBUS_ENOBASE + (n))
static int broker_port, mb_port;

struct dev {
	int unit;
	const char *model, *type, *mac, *family, *map;
	const char *set[4]; /* --set KEY=N, or NULL */
	pid_t pid;
};

static struct dev devs[NDEV] = {
    {1, "b2500v1", "HMB-1", "0b0000000001", "hame", "b2500-sunspec", {NULL}, 0},
    {2, "b2500v2", "HMA-1", "0b0000000002", "marstek", "b2500-sunspec", {NULL}, 0},
    {3, "jupiter", "JPLS-1", "0b0000000003", "hame", "jupiter-sunspec", {NULL}, 0},
    {4, "jupiter", "JPLS-1", "0b0000000004", "marstek", "jupiter-sunspec", {NULL}, 0},
    {10,
     "b2500v2",
     "HMA-1",
     "0b000000000a",
     "hame",
     "b2500-v2",
     {"w1=120", "w2=80", "g1=300", "g2=250"},
     0},
    {11, "jupiter", "JPLS-1", "0b000000000b", "marstek", "jupiter", {NULL}, 0},
    {12, "ct002", "HME-4", "0b000000000c", "marstek", "ct002", {NULL}, 0},
};

static pid_t start_sim(const struct dev *d)
{
	char port[16], log[32];
	snprintf(port, sizeof port, "%d", broker_port);
	snprintf(log, sizeof log, "sim%d.log", d->unit);
	const char *argv[20] = {h_bin("tests/sim/sim_venus"),
				"--port",
				port,
				"--type",
				d->type,
				"--id",
				d->mac,
				"--family",
				d->family,
				"--model",
				d->model};
	int n = 11;
	for (int i = 0; i < 4 && d->set[i]; i++) {
		argv[n++] = "--set";
		argv[n++] = d->set[i];
	}
	argv[n] = NULL;
	pid_t pid = h_spawn(argv, log);
	if (pid > 0 && h_wait_lines(h_path(log), "# ready", 1, 5000) < 1)
		h_note("%s did not subscribe", log);
	return pid;
}

/* ------------------------------------------------------ 1. SunSpec -- */

/* A SunSpec client's view of one battery: md and vr the model 1 strings,
 * soc the SoC (whole percent with SoC_SF 0), chast 0xFFFF when not
 * implemented. */
static void check_sunspec(int unit, const char *what, const char *md, const char *vr, int soc,
			  uint16_t chast)
{
	modbus_t *mb = h_modbus(mb_port, unit);
	struct ss_model m[4];
	int n = mb ? ss_walk(mb, m, 4) : -1;
	if (mb)
		modbus_free(mb);
	h_ok(n == 2, "%s: the walk from 40000 finds SunS, %d models and the end marker", what, n);
	const struct ss_model *c = ss_find(m, n > 0 ? n : 0, 1);
	const struct ss_model *b = ss_find(m, n > 0 ? n : 0, 802);
	h_ok(c && c->addr == 40002 && c->len == 66, "%s: model 1 at 40002, length 66", what);
	h_ok(b && b->len == 62, "%s: model 802, length 62", what);
	if (!c || !b)
		return;
	char s[40];
	ss_string(c->body, 16, s);
	h_ok(strcmp(s, "Hame") == 0, "%s: model 1 Mn \"%s\"", what, s);
	ss_string(c->body + 16, 16, s);
	h_ok(strcmp(s, md) == 0, "%s: model 1 Md \"%s\" (expected \"%s\")", what, s, md);
	ss_string(c->body + 40, 8, s);
	h_ok(strcmp(s, vr) == 0, "%s: model 1 Vr \"%s\" (expected \"%s\")", what, s, vr);
	h_ok(SS_P802(b, SS802_SOC) == soc && SS_P802(b, SS802_SOC_SF) == 0,
	     "%s: 802 SoC = %u %% (SoC_SF %d; expected %d)", what, SS_P802(b, SS802_SOC),
	     (int16_t)SS_P802(b, SS802_SOC_SF), soc);
	h_ok(SS_P802(b, SS802_CHAST) == chast, "%s: 802 ChaSt = %u (expected %u)", what,
	     SS_P802(b, SS802_CHAST), chast);
	h_ok(SS_P802(b, SS802_W) == 0x8000 && SS_P802(b, SS802_W_SF) == 0x8000,
	     "%s: 802 W not implemented (0x8000, W_SF 0x8000): the device reports no battery "
	     "power",
	     what);
	h_ok(SS_P802(b, SS802_SOH) == 0xFFFF && SS_P802(b, SS802_V) == 0xFFFF &&
		 SS_P802(b, SS802_STATE) == 0xFFFF && SS_P802(b, SS802_SOCRSVMIN) == 0xFFFF,
	     "%s: 802 SoH, V, State, SoCRsvMin not implemented (0xFFFF)", what);
}

/* ---------------------------------------------------------- 2. evcc -- */

/* One `source: modbus` of a snippet: FC03 of one register. */
struct rd {
	int addr;
	int is_signed; /* encoding int16, else uint16 */
	double scale;
};

/* evcc's value of one read; NAN when it failed. */
static double evcc_read(int unit, const struct rd *r)
{
	uint16_t w[1];
	modbus_t *mb = h_modbus(mb_port, unit);
	int rc = mb ? h_read_retry(mb, r->addr, 1, w) : -1;
	if (mb)
		modbus_free(mb);
	if (rc != 0)
		return NAN;
	return (r->is_signed ? (double)(int16_t)w[0] : (double)w[0]) * r->scale;
}

/* `source: calc` with `add`: the sum of the reads. */
static double evcc_add(int unit, const struct rd *r, int n)
{
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += evcc_read(unit, &r[i]);
	return sum;
}

static void check_evcc(void)
{
	/* B2500 (docs/evcc.md, "B2500 battery"): power = g1 + g2 - w1 - w2 */
	static const struct rd b_power[] = {{5, 0, 1}, {6, 0, 1}, {3, 0, -1}, {4, 0, -1}};
	static const struct rd b_soc = {0, 0, 1};
	double p = evcc_add(10, b_power, 4);
	/* the simulator: outputs 300 + 250 W, solar 120 + 80 W */
	h_ok(p == 350, "B2500 (evcc): power %g W (outputs 550 - solar 200: discharging 350)", p);
	double v = evcc_read(10, &b_soc);
	h_ok(v == 14, "B2500 (evcc): soc %g %% (pe=14 of hm2mqtt's reply)", v);

	/* Jupiter ("Jupiter battery"): power = grd_o - pv1 - pv2 - pv3 - pv4 */
	static const struct rd j_power[] = {
	    {2, 1, 1}, {3, 0, -1}, {4, 0, -1}, {5, 0, -1}, {6, 0, -1}};
	static const struct rd j_soc = {0, 0, 1};
	p = evcc_add(11, j_power, 5);
	h_ok(p == -22, "Jupiter (evcc): power %g W (grd_o 250 - PV 272: charging 22)", p);
	v = evcc_read(11, &j_soc);
	h_ok(v == 83, "Jupiter (evcc): soc %g %% (cel_c=83)", v);

	/* CT002 ("CT002 grid meter"): power = pwr_t, int16 */
	static const struct rd c_power = {3, 1, 1};
	v = evcc_read(12, &c_power);
	h_ok(v == -1, "CT002 (evcc): grid power %g W (pwr_t=-1)", v);
}

int main(void)
{
	h_init("hame_faces");
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started on %d", broker_port))
		return h_done();

	/* A build without libcrypto cannot compute the encrypted topic ID
	 * (the B2500 v2 on the new family). */
	char enc[40];
	int crypto = codec_venus_topic_id_encrypt("0b0000000002", enc, sizeof enc) >= 0;
	if (!crypto)
		h_note("built without libcrypto: unit 2 skipped");
	for (int i = 0; i < NDEV; i++)
		if (crypto || devs[i].unit != 2)
			devs[i].pid = start_sim(&devs[i]);

	mb_port = h_free_port();
	char conf[8192], *p = conf;
	size_t left = sizeof conf;
	int n = h_conf_head(p, left, mb_port);
	p += n, left -= (size_t)n;
	int first = 1;
	for (int i = 0; i < NDEV; i++) {
		const struct dev *d = &devs[i];
		if (d->pid <= 0)
			continue;
		n = snprintf(
		    p, left,
		    "%s { name = \"dev%d\"; unit_id = %d; map = \"%s\"; poll = 0; max_age = 60000;"
		    " min_interval = 0; timeout = 3000;\n"
		    "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		    "   venus = { type = \"%s\"; id = \"%s\"; }; }\n",
		    first ? "" : ",", d->unit, d->unit, d->map, broker_port, d->type, d->mac);
		p += n, left -= (size_t)n;
		first = 0;
	}
	snprintf(p, left, ");\n");
	pid_t bridge = h_bridge_start(h_write_file("modbridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "modbridge started"))
		return h_done();

	/* hm2mqtt's replies: HMB-1 and HMA-1 pe=14, vv=224; JPLS-1 cel_c=83,
	 * cel_s=0 (keep: HOLDING, 6), dev_n=134. */
	check_sunspec(1, "b2500-sunspec, B2500 v1 on hame_energy", "B2500", "224", 14, 0xFFFF);
	if (devs[1].pid > 0)
		check_sunspec(2, "b2500-sunspec, B2500 v2 on marstek_energy (encrypted ID)",
			      "B2500", "224", 14, 0xFFFF);
	check_sunspec(3, "jupiter-sunspec on hame_energy", "Jupiter", "134", 83, 6);
	check_sunspec(4, "jupiter-sunspec on marstek_energy", "Jupiter", "134", 83, 6);

	/* The faces serve no writes. */
	modbus_t *mb = h_modbus(mb_port, 3);
	errno = 0;
	h_ok(mb && modbus_write_register(mb, 40080, 20) == -1 && errno == EXC(2),
	     "jupiter-sunspec: a write to SoCRsvMin is refused with 02");
	if (mb)
		modbus_free(mb);
	h_ok(h_count_lines(h_path("sim3.log"), "cd=56") == 0, "and nothing was sent");

	check_evcc();

	h_ok(h_alive(bridge), "bridge still running");
	h_ok(h_bridge_stop(bridge) == 0, "bridge exits cleanly on SIGTERM");
	for (int i = 0; i < NDEV; i++)
		if (devs[i].pid > 0)
			h_stop(devs[i].pid, 1000);
	h_stop(broker, 2000);
	return h_done();
}

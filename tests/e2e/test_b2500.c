/* The Hame/Marstek family beside the Venus, end to end (docs/protocols/venus.md): a real
 * mosquitto, tests/sim/sim_venus --model ..., build/modbridge, driven through
 * Modbus TCP. Each model (B2500 v1, B2500 v2, Jupiter, CT002) is read whole
 * through its map from a simulator answering the hm2mqtt project's recorded
 * reply (tests/lib/venus_examples.h), once on the old hame_energy topics and
 * once on the newer marstek_energy ones, every value checked as hm2mqtt
 * decodes it (the Jupiter's five time periods included); one write per
 * writable model is acknowledged and read back, and the Jupiter's time
 * period 1 as one FC16 of its eight registers.
 * Also: a Venus on the marstek_energy family with no `prefix` in its config
 * (once it was never heard), a B2500 v2 whose marstek_energy topic
 * ID is the encrypted MAC the bridge computes, one whose ID the config gives
 * (`topic_id`), and that once a device has answered on one family, commands
 * go to that family alone, and that a spoofed message on the other family
 * costs one read at most.
 *
 * Devices (one bridge), each with its own simulator:
 *   unit 1  B2500 v2 HMA-1, hame_energy        unit 2  the same, marstek_energy
 *                                                      (ID: the encrypted MAC)
 *   unit 3  B2500 v1 HMB-1, hame_energy        unit 4  the same, marstek_energy
 *   unit 5  Jupiter JPLS-1, hame_energy        unit 6  the same, marstek_energy
 *   unit 7  CT002 HME-4, hame_energy           unit 8  the same, marstek_energy
 *   unit 9  Venus HMG-50, marstek_energy       unit 10 B2500 v2 HMJ-1, marstek
 *                                                      with topic_id given */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec_venus.h"

#define NDEV 10
static int broker_port, mb_port;
static const char *bridge_log, *old_log;

struct dev {
	int unit;
	const char *model; /* sim --model */
	const char *type;
	const char *mac;
	const char *prefix;   /* the family the simulator speaks */
	const char *topic_id; /* given in the config, or NULL */
	const char *map;
	char sim_id[40]; /* the simulator's topic ID */
	const char *log;
	pid_t pid;
};

static struct dev devs[NDEV] = {
    {1, "b2500v2", "HMA-1", "0a0000000001", "hame_energy", NULL, "b2500-v2", "", NULL, 0},
    {2, "b2500v2", "HMA-1", "0a0000000002", "marstek_energy", NULL, "b2500-v2", "", NULL, 0},
    {3, "b2500v1", "HMB-1", "0a0000000003", "hame_energy", NULL, "b2500-v1", "", NULL, 0},
    {4, "b2500v1", "HMB-1", "0a0000000004", "marstek_energy", NULL, "b2500-v1", "", NULL, 0},
    {5, "jupiter", "JPLS-1", "0a0000000005", "hame_energy", NULL, "jupiter", "", NULL, 0},
    {6, "jupiter", "JPLS-1", "0a0000000006", "marstek_energy", NULL, "jupiter", "", NULL, 0},
    {7, "ct002", "HME-4", "0a0000000007", "hame_energy", NULL, "ct002", "", NULL, 0},
    {8, "ct002", "HME-4", "0a0000000008", "marstek_energy", NULL, "ct002", "", NULL, 0},
    {9, "venus", "HMG-50", "0a0000000009", "marstek_energy", NULL, "venus", "", NULL, 0},
    {10, "b2500v2", "HMJ-1", "0a000000000a", "marstek_energy", "00112233445566778899aabbccddeeff",
     "b2500-v2", "", NULL, 0},
};

static pid_t start_sim(struct dev *d)
{
	char port[16], log[32];
	snprintf(port, sizeof port, "%d", broker_port);
	snprintf(log, sizeof log, "sim%d.log", d->unit);
	const char *argv[] = {h_bin("tests/sim/sim_venus"),
			      "--port",
			      port,
			      "--type",
			      d->type,
			      "--id",
			      d->topic_id ? d->sim_id : d->mac,
			      d->topic_id ? "--prefix" : "--family",
			      d->topic_id				 ? d->prefix
			      : strcmp(d->prefix, "marstek_energy") == 0 ? "marstek"
									 : "hame",
			      "--model",
			      d->model,
			      NULL};
	pid_t pid = h_spawn(argv, log);
	d->log = strdup(h_path(log));
	if (pid > 0 && h_wait_lines(d->log, "# ready", 1, 5000) < 1)
		h_note("%s did not subscribe", log);
	char topic[160];
	snprintf(topic, sizeof topic, "commands on %s/%s/App/%s/ctrl", d->prefix, d->type,
		 d->sim_id);
	h_ok(h_file_contains(d->log, topic), "unit %d: the simulator listens on %s", d->unit,
	     topic + 12);
	return pid;
}

/* Read n registers at addr of unit and compare them with want (int16 view);
 * 1 when every one matches. */
static int read_is(int unit, int addr, int n, const int16_t *want, const char *what)
{
	uint16_t r[64];
	modbus_t *mb = h_modbus(mb_port, unit);
	int rc = mb ? h_read_retry(mb, addr, n, r) : -1;
	if (mb)
		modbus_free(mb);
	int bad = -1;
	for (int i = 0; rc == 0 && i < n && bad < 0; i++)
		if ((int16_t)r[i] != want[i])
			bad = i;
	if (bad >= 0)
		h_note("register %d is %d, hm2mqtt reads %d", addr + bad, (int16_t)r[bad],
		       want[bad]);
	return h_ok(rc == 0 && bad < 0, "unit %d %s: %d registers at %d as hm2mqtt decodes them%s",
		    unit, what, n, addr,
		    rc	       ? " (read failed)"
		    : bad >= 0 ? " (one differs)"
			       : "");
}

/* hm2mqtt's HMA-1 reply (B2500_V2_DUMP), as hm2mqtt reads each key. */
static const int16_t v2_values[38] = {
    14,	 313, 90,   0,	  0,	0,   0, 0, 0,
    0,	 0,   224,  0,	  800,		      /* pe kn do w1 w2 g1 g2 p1 p2 o1 o2 vv cs lv */
    0,	 12,  13,   0,	  0,	14,  0, 0,    /* md tl th b1 b2 a0 a1 a2 */
    0,	 80,  0,    255,  4,	0,   0, 0, 0, /* sg sp st c0 c1 m0 m1 m2 m3 */
    622, 512, 1552, 1332, 1377, 614, 0,	      /* bc bs pt it lmo lmi lmf */
};
/* Its five timers: d, e (h:m), f (h:m), h. */
static const int16_t v2_timers[30] = {
    1,	0,  0,	 23, 59, 800, 0,  0,  0,  23, 59, 200, 0,  0,  0,
    23, 59, 800, 0,  2,	 0,   23, 59, 50, 0,  0,  0,   23, 59, 347,
};
/* B2500_V1_DUMP: pe kn do w1 w2 g1 g2 p1 p2 o1 o2 vv cs lv cd */
static const int16_t v1_values[15] = {14, 2000, 90, 0, 0, 0, 0, 1, 2, 0, 0, 224, 0, 800, 0};
/* JUPITER_DUMP: cel_c cel_p grd_o pv1..4_p grd_t gct_s cel_s err_t ala_c ele_d ele_m ele_y
 * grd_d grd_m wor_m ful_d dod wif_s ct_t phase_t dchrg dev_n dev_b dev_m dev_i cts_m */
static const int16_t jupiter_values[29] = {83, 424, 250, 94,   77,  41,	 60,   1,   1, 0,
					   0,  0,   349, 2193, 0,   285, 2018, 1,   1, 88,
					   75, 4,   1,	 1,    134, 209, 206,  106, 0};
/* JUPITER_DUMP's five periods at 100 + 8N: the working mode (wor_m), then
 * tim_N's fields H|M|H|M|weekdays|power|enabled. */
static const int16_t jupiter_periods[40] = {
    1, 12, 0, 23, 59, 127, 800, 1, /* tim_0=12|0|23|59|127|800|1 */
    1, 0,  0, 12, 0,  127, 150, 1, /* tim_1=0|0|12|0|127|150|1 */
    1, 0,  0, 0,  0,  255, 0,	0, /* tim_2=0|0|0|0|255|0|0 */
    1, 0,  0, 0,  0,  255, 0,	0, /* tim_3 */
    1, 0,  0, 0,  0,  255, 0,	0, /* tim_4 */
};
/* CT002_DUMP: pwr_a pwr_b pwr_c pwr_t ble_s wif_r wif_s ver_v */
static const int16_t ct_values[8] = {119, 15, -136, -1, 5, -79, 2, 119};
/* VENUS_DOC_DUMP: cel_c cel_p grd_o */
static const int16_t venus_values[3] = {27, 138, 807};

static void check_reads(void)
{
	for (int i = 0; i < NDEV; i++) {
		const struct dev *d = &devs[i];
		char what[96];
		if (d->pid <= 0)
			continue;
		snprintf(what, sizeof what, "%s on %s", d->map, d->prefix);
		if (strcmp(d->model, "b2500v2") == 0) {
			read_is(d->unit, 0, 38, v2_values, what);
			read_is(d->unit, 100, 30, v2_timers, what);
		} else if (strcmp(d->model, "b2500v1") == 0) {
			read_is(d->unit, 0, 15, v1_values, what);
		} else if (strcmp(d->model, "jupiter") == 0) {
			read_is(d->unit, 0, 29, jupiter_values, what);
			read_is(d->unit, 100, 40, jupiter_periods, what);
		} else if (strcmp(d->model, "ct002") == 0) {
			read_is(d->unit, 0, 8, ct_values, what);
		} else {
			read_is(d->unit, 0, 3, venus_values, what);
		}
	}
}

/* FC16 of n registers, the device acknowledging nothing: the bridge answers
 * once the broker has the command. 0 or errno. */
static int write_regs(int unit, int addr, int n, const uint16_t *v)
{
	modbus_t *mb = h_modbus(mb_port, unit);
	int rc = mb && modbus_write_registers(mb, addr, n, v) == n ? 0 : errno ? errno : -1;
	if (mb)
		modbus_free(mb);
	return rc;
}

/* One register written on devs[first..end) (FC16 of one word): the
 * command the device got, and the value read back. */
static void write_one(int first, int end, int addr, uint16_t v, const char *what, const char *cmd)
{
	char after[96];
	snprintf(after, sizeof after, "%s after the write", what);
	for (int i = first; i < end; i++) {
		const struct dev *d = &devs[i];
		int rc = write_regs(d->unit, addr, 1, &v);
		h_ok(rc == 0, "unit %d (%s): %s written: %s", d->unit, d->prefix, what,
		     rc ? modbus_strerror(rc) : "ok");
		h_ok(h_wait_lines(d->log, cmd, 1, 5000), "unit %d: %s sent", d->unit, cmd);
		int16_t want = (int16_t)v;
		read_is(d->unit, addr, 1, &want, after);
	}
}

static void check_writes(void)
{
	/* B2500 v2, both families: the five timers at once (cd=20). */
	static const char timers[] =
	    "cd=20,md=0,a1=1,b1=6:30,e1=9:05,v1=400,a2=0,b2=0:00,e2=23:59,v2=200,a3=0,b3=0:00,"
	    "e3=23:59,v3=800,a4=0,b4=2:00,e4=23:59,v4=50,a5=0,b5=0:00,e5=23:59,v5=347";
	uint16_t t[30];
	for (int i = 0; i < 30; i++)
		t[i] = (uint16_t)v2_timers[i];
	t[0] = 1, t[1] = 6, t[2] = 30, t[3] = 9, t[4] = 5, t[5] = 400;
	int16_t back[6] = {1, 6, 30, 9, 5, 400};
	for (int i = 0; i < 2; i++) {
		const struct dev *d = &devs[i];
		if (d->pid <= 0)
			continue;
		int rc = write_regs(d->unit, 100, 30, t);
		h_ok(rc == 0, "unit %d (%s): timers written (FC16 of 30 acknowledged): %s", d->unit,
		     d->prefix, rc ? modbus_strerror(rc) : "ok");
		h_ok(h_wait_lines(d->log, timers, 1, 5000),
		     "unit %d: the simulator got the cd=20 command exactly", d->unit);
		read_is(d->unit, 100, 6, back, "timer 1 after the write");
	}
	/* B2500 v1, both families: outputs 1 and 2 on (cd=4,md=3). */
	write_one(2, 4, 14, 3, "outputs", "cd=4,md=3");
	/* Jupiter, both families: depth of discharge 50 (cd=56,dod=50). */
	write_one(4, 6, 19, 50, "depth of discharge", "cd=56,dod=50");
	/* Jupiter, both families: time period 1 as one FC16 of its eight
	 * registers, the mode read back unchanged (cd=3 with md = wor_m, as
	 * hm2mqtt sends it). */
	for (int i = 4; i < 6; i++) {
		const struct dev *d = &devs[i];
		static const uint16_t p1[8] = {1, 6, 30, 9, 5, 31, 400, 1};
		int rc = write_regs(d->unit, 108, 8, p1);
		h_ok(rc == 0, "unit %d (%s): time period 1 written: %s", d->unit, d->prefix,
		     rc ? modbus_strerror(rc) : "ok");
		h_ok(h_wait_lines(d->log, "cd=3,md=1,nm=1,bt=6:30,et=9:05,wk=31,vv=400,as=1", 1,
				  5000),
		     "unit %d: the simulator got the cd=3 command exactly", d->unit);
		static const int16_t back[8] = {1, 6, 30, 9, 5, 31, 400, 1};
		read_is(d->unit, 108, 8, back, "time period 1 after the write");
	}
	/* Part of a period: 02, nothing sent. */
	{
		uint16_t v2[2] = {7, 0};
		modbus_t *mb = h_modbus(mb_port, 5);
		errno = 0;
		int rc = mb ? modbus_write_registers(mb, 109, 2, v2) : -1;
		h_ok(rc < 0 && errno == EMBXILADD,
		     "Jupiter: writing two registers of a period's eight is exception 02");
		if (mb)
			modbus_free(mb);
		h_ok(h_count_lines(devs[4].log, "bt=7:") == 0, "and nothing was sent");
		/* A whole period with one value out of the map's range (power
		 * 900 W, mode 3, minute 60): 03, nothing sent. */
		static const uint16_t bad[3][8] = {{1, 7, 0, 8, 0, 127, 900, 1},
						   {3, 7, 0, 8, 0, 127, 100, 1},
						   {1, 7, 60, 8, 0, 127, 100, 1}};
		int refused = 0;
		for (int i = 0; i < 3; i++) {
			mb = h_modbus(mb_port, 5);
			errno = 0;
			rc = mb ? modbus_write_registers(mb, 108, 8, bad[i]) : -1;
			refused += rc < 0 && errno == EMBXILVAL;
			if (mb)
				modbus_free(mb);
		}
		h_ok(refused == 3,
		     "Jupiter: a period with power 900, mode 3 or minute 60 is "
		     "exception 03 (%d of 3)",
		     refused);
		h_ok(h_count_lines(devs[4].log, "bt=7:") == 0, "and nothing was sent");
	}
	/* Out of range, the map's limits: refused before anything is sent. */
	uint16_t v = 20;
	modbus_t *mb = h_modbus(mb_port, 5);
	errno = 0;
	int rc = mb ? modbus_write_register(mb, 19, v) : -1;
	h_ok(rc < 0 && errno == EMBXILVAL,
	     "Jupiter depth of discharge 20 (below 30): exception 03");
	if (mb)
		modbus_free(mb);
	h_ok(h_count_lines(devs[4].log, "dod=20") == 0, "and nothing was sent");
	/* The meter is read-only. */
	mb = h_modbus(mb_port, 7);
	errno = 0;
	rc = mb ? modbus_write_register(mb, 0, 1) : -1;
	h_ok(rc < 0 && (errno == EMBXILADD || errno == EMBXILFUN),
	     "CT002 refuses a write (read-only map)");
	if (mb)
		modbus_free(mb);
}

/* Config errors of the new keys name the file and line (--check). */
static void check_config_errors(void)
{
	static const struct {
		const char *venus, *want;
	} cases[] = {
	    {"type = \"HMA-1\"; id = \"0a0000000001\"; topics = \"new\";", "topics"},
	    {"type = \"HMA-1\"; id = \"0a0000000001\"; topic_id = \"a/b\";", "topic_id"},
	    {"type = \"HMA-1\"; id = \"0a0000000001\"; topic_id = \"\";", "topic_id"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char conf[1024], out[4096], name[32];
		snprintf(conf, sizeof conf,
			 "maps_path = [ \"%s\" ];\n"
			 "devices = ( { name = \"b\"; unit_id = 1; map = \"b2500-v2\";\n"
			 "  mqtt = { host = \"127.0.0.1\"; port = 1; };\n"
			 "  venus = { %s }; } );\n",
			 h_maps_dir(), cases[i].venus);
		snprintf(name, sizeof name, "bad%zu.conf", i);
		const char *path = h_write_file(name, conf);
		int rc = h_run_bridge("--check", path, out, sizeof out);
		h_ok(rc != 0 && strstr(out, ":4") && strstr(out, cases[i].want),
		     "--check refuses venus { %s } at line 4, naming %s (exit %d)", cases[i].venus,
		     cases[i].want, rc);
	}
}

/* Hostile: a well-formed message on the family unit 2 does not use (anyone
 * may publish there) makes the bridge send the next command there; the
 * device does not hear it and that read fails (0B), but the timeout sends
 * commands to both families again, so the next read is answered. */
static void check_spoofed_family(void)
{
	char topic[128], line[160];
	snprintf(topic, sizeof topic, "hame_energy/HMA-1/device/%s/ctrl", devs[1].mac);
	snprintf(line, sizeof line, "dev2: the device answers on %s", topic);
	h_ok(h_mqtt_pub(broker_port, topic, "pe=1") == 0, "spoofed message on the old family");
	h_ok(h_wait_lines(bridge_log, line, 1, 5000), "the bridge follows it");
	uint16_t r[1];
	modbus_t *mb = h_modbus(mb_port, 2);
	int first = mb ? modbus_read_registers(mb, 0, 1, r) : -1;
	int rc = mb ? h_read_retry(mb, 0, 1, r) : -1;
	h_ok(rc == 0 && r[0] == 14,
	     "after a read that went to the spoofed family (%s), the next is answered: soc %d",
	     first == 1 ? "answered" : "0B", rc == 0 ? r[0] : -1);
	if (mb)
		modbus_free(mb);
	h_ok(h_file_contains(bridge_log, "dev2: no answer on"),
	     "the bridge went back to both families");
}

int main(void)
{
	h_init("b2500");
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started on %d", broker_port))
		return h_done();
	bridge_log = strdup(h_path("bridge.log"));

	for (int i = 0; i < NDEV; i++) {
		struct dev *d = &devs[i];
		if (d->topic_id)
			snprintf(d->sim_id, sizeof d->sim_id, "%s", d->topic_id);
		else if (strcmp(d->prefix, "marstek_energy") == 0 &&
			 codec_venus_type_encrypts(d->type)) {
			if (codec_venus_topic_id_encrypt(d->mac, d->sim_id, sizeof d->sim_id) < 0) {
				h_note("built without libcrypto: unit %d skipped", d->unit);
				d->sim_id[0] = 0;
				continue;
			}
		} else
			snprintf(d->sim_id, sizeof d->sim_id, "%s", d->mac);
		d->pid = start_sim(d);
	}
	h_ok(devs[1].sim_id[0] == 0 || strlen(devs[1].sim_id) == 32,
	     "unit 2's marstek_energy ID is the encrypted MAC: %s", devs[1].sim_id);

	/* What the bridge publishes on the old family for unit 2, which answers
	 * on the new one: the first read (before any answer), nothing after. */
	char port[16], old_topic[128];
	snprintf(port, sizeof port, "%d", broker_port);
	snprintf(old_topic, sizeof old_topic, "hame_energy/HMA-1/App/%s/ctrl", devs[1].mac);
	const char *sub[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-t", old_topic, NULL};
	pid_t sp = h_spawn(sub, "old2.log");
	old_log = strdup(h_path("old2.log"));
	h_sleep_ms(300);

	mb_port = h_free_port();
	char conf[8192], *p = conf;
	size_t left = sizeof conf;
	int n = h_conf_head(p, left, mb_port);
	p += n, left -= (size_t)n;
	int first = 1;
	for (int i = 0; i < NDEV; i++) {
		const struct dev *d = &devs[i];
		char tid[96] = "";
		if (!d->pid)
			continue;
		if (d->topic_id)
			snprintf(tid, sizeof tid, " topic_id = \"%s\";", d->topic_id);
		n = snprintf(
		    p, left,
		    "%s { name = \"dev%d\"; unit_id = %d; map = \"%s\"; poll = 0; max_age = 0;"
		    " min_interval = 0; timeout = 3000;\n"
		    "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		    "   venus = { type = \"%s\"; id = \"%s\";%s }; }\n",
		    first ? "" : ",", d->unit, d->unit, d->map, broker_port, d->type, d->mac, tid);
		p += n, left -= (size_t)n;
		first = 0;
	}
	snprintf(p, left, ");\n");
	const char *cpath = h_write_file("modbridge.conf", conf);
	pid_t bridge = h_bridge_start(cpath, mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "modbridge started with %d devices of the family", NDEV))
		return h_done();

	uint64_t t0 = h_now_ms();
	check_reads();
	check_writes();
	if (devs[1].pid > 0) {
		h_ok(h_file_contains(bridge_log,
				     "dev2: the device answers on marstek_energy/HMA-1/device/"),
		     "unit 2: the bridge noted the family the device answers on");
		h_ok(h_count_lines(old_log, "cd=1") >= 1 && h_count_lines(old_log, "cd=20") == 0,
		     "unit 2: the old family got the first cd=1 (before any answer), not the write "
		     "(%d cd=1, %d cd=20)",
		     h_count_lines(old_log, "cd=1"), h_count_lines(old_log, "cd=20"));
	}
	if (devs[1].pid > 0)
		check_spoofed_family();
	check_config_errors();
	h_note("checks took %llu ms", (unsigned long long)(h_now_ms() - t0));

	h_ok(h_alive(bridge), "bridge still running");
	h_ok(h_bridge_stop(bridge) == 0, "bridge exits cleanly on SIGTERM");
	h_stop(sp, 1000);
	for (int i = 0; i < NDEV; i++)
		if (devs[i].pid > 0)
			h_stop(devs[i].pid, 1000);
	h_stop(broker, 2000);
	return h_done();
}

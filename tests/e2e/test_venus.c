/* Venus end to end: a real mosquitto, sim_venus and build/modbridge, driven
 * through Modbus TCP. Checks that the document's status dump decodes through
 * maps/venus.conf, that writes reach the device as the exact command strings,
 * the exception for every refusal (03, 02, 04, 0B), that a key missing from
 * a reply is never answered as 0, and that min_interval holds under a burst
 * of pipelined reads from ten clients. Hostile input on the reply topic
 * (docs/protocols/venus.md): empty, oversized, flooding and misattributed messages, and a
 * late ret= that must not acknowledge a write of another command.
 *
 * Devices (one bridge):
 *   unit 1  sim A (--cd-prefix), no min_interval: the functional checks
 *   unit 2  sim B, min_interval 2000, max_age 0: the burst
 *   unit 3  sim C on prefix marstek_energy, timing from the map's defaults
 *   unit 4  no simulator: this test answers as the device (missing keys,
 *           hostile messages)
 *   unit 5  sim E (no cd= prefix, so ret= names nothing): late acks */
#include "harness.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#define ID_A "0123456789ab"
#define ID_B "0123456789ac"
#define ID_C "0123456789ad"
#define ID_D "0123456789ae"
#define ID_E "0123456789af"
#define REPLY_D "hame_energy/HMG-50/device/" ID_D "/ctrl"
#define REPLY_E "hame_energy/HMG-50/device/" ID_E "/ctrl"

static int broker_port, mb_port;
static pid_t bridge;
static const char *simA_log, *simB_log, *simC_log, *simE_log, *subD_log, *bridge_log;

/* ------------------------------------------------------------- helpers -- */

/* Lines of a file equal to `exact`. exact == NULL: every command line
 * except the reads cd=1, cd=14 and cd=19 (lines starting with "# " are the
 * simulator's notes; a read may come from a background refresh at any
 * time). */
static int count_lines(const char *path, const char *exact)
{
	if (exact)
		return h_count_exact(path, exact);
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (strncmp(line, "# ", 2) != 0 && strcmp(line, "cd=1") != 0 &&
		    strcmp(line, "cd=14") != 0 && strcmp(line, "cd=19") != 0)
			n++;
	}
	fclose(f);
	return n;
}

/* Wait until count_lines(path, exact) reaches n; returns the count. */
static int wait_lines(const char *path, const char *exact, int n, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	int c;
	while ((c = count_lines(path, exact)) < n && h_now_ms() < end)
		h_sleep_ms(20);
	return c;
}

static int publish(const char *topic, const char *msg)
{
	return h_mqtt_pub(broker_port, topic, msg);
}

static int set_mode(const char *id, const char *log, const char *mode)
{
	char topic[64], line[32];
	snprintf(topic, sizeof topic, "sim/venus/%s/mode", id);
	snprintf(line, sizeof line, "# mode %s", mode);
	int before = count_lines(log, line);
	if (publish(topic, mode) != 0)
		return -1;
	return wait_lines(log, line, before + 1, 3000) > before ? 0 : -1;
}

static pid_t start_sim(const char *id, const char *prefix, int cd_prefix, const char *log)
{
	char port[16];
	snprintf(port, sizeof port, "%d", broker_port);
	const char *argv[16] = {
	    h_bin("tests/sim/sim_venus"), "--port", port, "--id", id, "--prefix", prefix};
	int n = 7;
	if (cd_prefix)
		argv[n++] = "--cd-prefix";
	argv[n] = NULL;
	pid_t pid = h_spawn(argv, log);
	if (pid > 0 && wait_lines(h_path(log), "# ready", 1, 5000) < 1)
		h_note("%s did not subscribe", log);
	return pid;
}

/* Read with libmodbus; retries while the link comes up (0A). */
static int read_regs(modbus_t *mb, int addr, int n, uint16_t *out)
{
	for (int tries = 0; tries < 50; tries++) {
		int rc = modbus_read_registers(mb, addr, n, out);
		if (rc == n)
			return 0;
		if (errno != EMBXGPATH)
			return errno;
		h_sleep_ms(100);
	}
	return EMBXGPATH;
}

static int32_t s32(const uint16_t *w)
{
	return (int32_t)(((uint32_t)w[0] << 16) | w[1]);
}

static int text_is(const uint16_t *w, int nregs, const char *s)
{
	char buf[64] = {0};
	for (int i = 0; i < nregs && 2 * i + 1 < (int)sizeof buf; i++) {
		buf[2 * i] = (char)(w[i] >> 8);
		buf[2 * i + 1] = (char)(w[i] & 0xff);
	}
	return strcmp(buf, s) == 0;
}

/* --- raw MBAP, for pipelined requests ------------------------------------ */

static int raw_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)mb_port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int raw_read_req(int fd, uint16_t tid, int unit, int addr, int count)
{
	uint8_t f[12] = {tid >> 8,
			 tid & 0xff,
			 0,
			 0,
			 0,
			 6,
			 (uint8_t)unit,
			 3,
			 (uint8_t)(addr >> 8),
			 (uint8_t)addr,
			 (uint8_t)(count >> 8),
			 (uint8_t)count};
	return send(fd, f, sizeof f, 0) == (ssize_t)sizeof f ? 0 : -1;
}

struct raw_conn {
	int fd;
	uint8_t buf[4096];
	size_t len;
};

/* One answer from c within timeout_ms: its transaction ID, and either the
 * words (returns the count) or the exception (returns -code). -1000 on
 * timeout or a broken frame. */
static int raw_answer(struct raw_conn *c, int timeout_ms, uint16_t *tid, uint16_t *words)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		if (c->len >= 7) {
			size_t flen = 6 + (((size_t)c->buf[4] << 8) | c->buf[5]);
			if (flen < 9 || flen > sizeof c->buf)
				return -1000;
			if (c->len >= flen) {
				int rc;
				*tid = (uint16_t)((c->buf[0] << 8) | c->buf[1]);
				if (c->buf[7] & 0x80) {
					rc = -(int)c->buf[8];
				} else {
					rc = c->buf[8] / 2;
					for (int i = 0; i < rc; i++)
						words[i] = (uint16_t)((c->buf[9 + 2 * i] << 8) |
								      c->buf[10 + 2 * i]);
				}
				memmove(c->buf, c->buf + flen, c->len - flen);
				c->len -= flen;
				return rc;
			}
		}
		int left = (int)(end - h_now_ms());
		if (left <= 0)
			return -1000;
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
		if (n <= 0)
			return -1000;
		c->len += (size_t)n;
	}
}

/* ------------------------------------------------------------- checks -- */

static void check_decode(modbus_t *mb)
{
	uint16_t r[70];
	memset(r, 0xAA, sizeof r);
	int rc = read_regs(mb, 0, 70, r);
	if (!h_ok(rc == 0, "status block 0..69 reads in one FC03 (%s)", modbus_strerror(rc)))
		return;
	h_ok(r[0] == 27, "soc (cel_c) = 27: %u", r[0]);
	h_ok(r[1] == 138, "battery_energy (cel_p) = 138 x 0.01 kWh: %u", r[1]);
	h_ok((int16_t)r[2] == 807, "combined power (grd_o) = 807 W: %d", (int16_t)r[2]);
	h_ok(r[4] == 3 && r[5] == 3 && r[6] == 1, "grd_t 3, cel_s 3, gct_s 1: %u %u %u", r[4], r[5],
	     r[6]);
	h_ok(s32(r + 10) == 44785 && r[10] == 0 && r[11] == 44785,
	     "total charge (tot_i) = 44785 as uint32, high word first: %u %u", r[10], r[11]);
	h_ok(s32(r + 12) == 36889, "total discharge (tot_o) = 36889: %d", s32(r + 12));
	h_ok(r[14] == 489 && r[15] == 395 && s32(r + 16) == 3931 && s32(r + 18) == 2833,
	     "daily and monthly energies 489 395 3931 2833");
	h_ok(s32(r + 20) == 0 && s32(r + 22) == -111 && s32(r + 24) == -152,
	     "incomes int32: inc_d 0, inc_m -111, inc_a -152: %d %d %d", s32(r + 20), s32(r + 22),
	     s32(r + 24));
	h_ok(r[26] == 1 && r[27] == 1 && r[28] == 2500 && r[29] == 800 && r[30] == 1,
	     "settings: wor_m 1, bac_u 1, mcp_w 2500, mdp_w 800, set_v 1");
	h_ok(r[34] == 255, "dchrg_t = 255 (as the device says): %u", r[34]);
	h_ok(r[37] == 41 && s32(r + 38) == 40000 && s32(r + 40) == 600000,
	     "trading: tra_a 41, tra_i 40000, tra_o 600000 (32-bit): %u %d %d", r[37], s32(r + 38),
	     s32(r + 40));
	h_ok(s32(r + 42) == 4620 && s32(r + 44) == 4620, "prc_c, prc_d = 4620");
	h_ok(r[46] == 140 && r[47] == 109, "dev_n 140, bms_v 109");
	h_ok(text_is(r + 48, 6, "202407221950"), "fc_v = \"202407221950\" as a 6-register string");
	h_ok(text_is(r + 54, 16, "Hame"), "wifi_n = \"Hame\" as a string");

	uint16_t p[70];
	rc = read_regs(mb, 100, 70, p);
	if (!h_ok(rc == 0, "periods 100..169 read in one FC03 (%s)", modbus_strerror(rc)))
		return;
	static const int16_t tim0[7] = {14, 0, 17, 0, 127, 800, 1};
	static const int16_t tim8[7] = {9, 10, 12, 0, 127, -2500, 0};
	int same0 = 1, same8 = 1;
	for (int i = 0; i < 7; i++) {
		same0 &= (int16_t)p[i] == tim0[i];
		same8 &= (int16_t)p[56 + i] == tim8[i];
	}
	h_ok(same0, "tim_0 = 14|0|17|0|127|800|1 in registers 100..106");
	h_ok(same8, "tim_8 = 9|10|12|0|127|-2500|0 in registers 156..162 (negative power)");
	h_ok((int16_t)p[7 + 5] == -800, "tim_1 power -800: %d", (int16_t)p[12]);
}

/* A write that must succeed and reach the simulator as `expect`. */
static void check_write(modbus_t *mb, int addr, int n, const uint16_t *w, const char *expect)
{
	int before = count_lines(simA_log, expect);
	int rc =
	    n == 1 ? modbus_write_register(mb, addr, w[0]) : modbus_write_registers(mb, addr, n, w);
	h_ok(rc == n, "write %d..%d succeeds (%s)", addr, addr + n - 1,
	     rc < 0 ? modbus_strerror(errno) : "ok");
	h_ok(wait_lines(simA_log, expect, before + 1, 2000) == before + 1, "simulator got \"%s\"",
	     expect);
}

/* A write that must fail with exception `exc` and publish nothing. */
static void check_refused(modbus_t *mb, int addr, int n, const uint16_t *w, int exc,
			  const char *what)
{
	int before = count_lines(simA_log, NULL);
	int rc =
	    n == 1 ? modbus_write_register(mb, addr, w[0]) : modbus_write_registers(mb, addr, n, w);
	int err = errno;
	h_ok(rc < 0 && err == (int)MODBUS_ENOBASE + exc, "%s: exception %02X (%s)", what, exc,
	     rc < 0 ? modbus_strerror(err) : "accepted");
	h_sleep_ms(150);
	h_ok(count_lines(simA_log, NULL) == before, "%s: no command published", what);
}

static void check_writes(modbus_t *mb)
{
	uint16_t v[8];

	v[0] = 1200;
	check_write(mb, 28, 1, v, "cd=16,cp=1200");
	v[0] = 2500;
	check_write(mb, 29, 1, v, "cd=15,vs=2500");
	v[0] = 0;
	check_write(mb, 27, 1, v, "cd=11,bc=0");

	/* Working mode: no ret= from the device; a refresh confirms it. */
	int cd1 = count_lines(simA_log, "cd=1");
	v[0] = 2;
	check_write(mb, 26, 1, v, "cd=2,md=2");
	h_ok(wait_lines(simA_log, "cd=1", cd1 + 1, 3000) > cd1,
	     "an unacknowledged write is followed by a refresh (cd=1)");

	uint16_t per[7] = {8, 30, 20, 30, 127, (uint16_t)-800, 1};
	check_write(mb, 100, 7, per, "cd=3,md=1,nm=0,bt=8:30,et=20:30,wk=127,vv=-800,as=1");
	uint16_t per9[7] = {23, 5, 23, 59, 65, 2500, 0};
	check_write(mb, 163, 7, per9, "cd=3,md=1,nm=9,bt=23:05,et=23:59,wk=65,vv=2500,as=0");
	/* tra_a 42, tra_i 50000, tra_o 700000 = 0x000A AE60 */
	uint16_t tra[5] = {42, 0, 50000, 0x000A, 0xAE60};
	check_write(mb, 37, 5, tra, "cd=3,md=2,id=42,in=50000,on=700000");

	/* What the simulator applied comes back through a fresh cd=1. */
	uint16_t r[70];
	int rc = read_regs(mb, 0, 70, r);
	h_ok(rc == 0 && r[26] == 2 && r[27] == 0 && r[28] == 1200 && r[29] == 2500 && r[30] == 0 &&
		 r[37] == 42 && s32(r + 38) == 50000 && s32(r + 40) == 700000,
	     "read back: wor_m 2, bac_u 0, mcp_w 1200, mdp_w 2500, set_v 0, trading "
	     "42/50000/700000");
	uint16_t p[7];
	rc = read_regs(mb, 100, 7, p);
	h_ok(rc == 0 && memcmp(p, per, sizeof per) == 0, "read back: period 0 = 8:30-20:30 -800 W");
	h_ok(!h_file_contains(bridge_log, "did not apply"),
	     "no mismatch logged for writes the device applied");

	/* Refusals before anything is published. */
	v[0] = 0xFFFF; /* -1: max_charge_power is int16, 0..2500 */
	check_refused(mb, 28, 1, v, 3, "max_charge_power -1 (< 0)");
	v[0] = 2501;
	check_refused(mb, 28, 1, v, 3, "max_charge_power 2501 (> 2500)");
	v[0] = 2501;
	check_refused(mb, 29, 1, v, 3, "max_discharge_power 2501 (> 2500 W)");
	v[0] = 3;
	check_refused(mb, 26, 1, v, 3, "working_mode 3");
	uint16_t bad[7] = {24, 0, 20, 30, 127, 800, 1};
	check_refused(mb, 100, 7, bad, 3, "period 0 with start hour 24");
	check_refused(mb, 100, 3, per, 2, "FC16 over 3 of period 0's 7 registers");
	check_refused(mb, 103, 7, per, 2, "FC16 across periods 0 and 1");
	v[0] = 9;
	check_refused(mb, 101, 1, v, 2, "FC06 to one register of period 0");
	check_refused(mb, 38, 2, tra + 1, 2, "FC16 over tra_i alone (part of command trading)");
	v[0] = 50;
	check_refused(mb, 0, 1, v, 2, "write to read-only soc");
	check_refused(mb, 200, 1, v, 2, "write to unmapped 200");
}

static void check_device_says_no(modbus_t *mb)
{
	uint16_t v[1];
	if (!h_ok(set_mode(ID_A, simA_log, "refuse") == 0, "simulator switched to refuse"))
		return;
	v[0] = 1500;
	int before = count_lines(simA_log, "cd=16,cp=1500");
	int rc = modbus_write_register(mb, 28, v[0]);
	h_ok(rc < 0 && errno == EMBXSFAIL, "ret=0 gives exception 04 (%s)",
	     rc < 0 ? modbus_strerror(errno) : "accepted");
	h_ok(count_lines(simA_log, "cd=16,cp=1500") == before + 1, "the command was sent once");
	v[0] = 1;
	rc = modbus_write_register(mb, 27, v[0]);
	h_ok(rc < 0 && errno == EMBXSFAIL, "backup refused: exception 04");

	/* An unacknowledged write the device ignores: success (the broker has
	 * it), then the refresh shows the old value and the bridge says so. */
	v[0] = 0;
	rc = modbus_write_register(mb, 26, v[0]);
	h_ok(rc == 1, "working mode 0 accepted by the broker");
	uint64_t end = h_now_ms() + 4000;
	while (!h_file_contains(bridge_log, "did not apply") && h_now_ms() < end)
		h_sleep_ms(50);
	h_ok(h_file_contains(bridge_log, "working_mode is 2 after writing 0"),
	     "the refresh after it logs the mismatch (working_mode is 2 after writing 0)");

	if (!h_ok(set_mode(ID_A, simA_log, "silent") == 0, "simulator switched to silent"))
		return;
	v[0] = 1600;
	uint64_t t0 = h_now_ms();
	rc = modbus_write_register(mb, 28, v[0]);
	uint64_t took = h_now_ms() - t0;
	h_ok(rc < 0 && errno == EMBXGTAR, "a silent device gives 0B (%s) after %llu ms",
	     rc < 0 ? modbus_strerror(errno) : "accepted", (unsigned long long)took);
	h_ok(took >= 2000 && took < 4500, "0B after the device's timeout (2500 ms): %llu ms",
	     (unsigned long long)took);
	set_mode(ID_A, simA_log, "normal");
	uint16_t r[1];
	int rrc = read_regs(mb, 28, 1, r);
	h_ok(rrc == 0 && r[0] == 1200, "after all that, mcp_w is still 1200: %u", r[0]);
}

/* Unit 4: this test is the device. Missing keys stay stale (no answer from
 * invented data); garbage and unexpected acks are dropped. */
static void check_missing_keys(void)
{
	const char *reply = "hame_energy/HMG-50/device/" ID_D "/ctrl";
	struct raw_conn c = {.fd = raw_connect()};
	uint16_t tid, w[8];
	if (!h_ok(c.fd >= 0, "raw connection"))
		return;
	/* Wait for the device's link to be up: 0A until then. */
	int rc = -1000;
	for (int i = 0; i < 50; i++) {
		raw_read_req(c.fd, 1, 4, 0, 1);
		rc = raw_answer(&c, 300, &tid, w);
		if (rc != -0x0A)
			break;
		h_sleep_ms(100);
	}
	/* rc is -1000 here: the read waits for our answer. */
	int n = wait_lines(subD_log, "cd=1", 1, 2000);
	h_ok(rc == -1000 && n >= 1, "unit 4 read sent cd=1 and waits");
	publish(reply, "no pairs here");
	publish(reply, "ret=1");
	publish(reply, "cd=1,cel_c=55,foo=bar,grd_o");
	rc = raw_answer(&c, 3000, &tid, w);
	h_ok(rc == 1 && w[0] == 55,
	     "garbage and a stray ack dropped; soc = 55 from the reply: rc %d, %u", rc, w[0]);

	raw_read_req(c.fd, 2, 4, 0, 3);
	wait_lines(subD_log, "cd=1", n + 1, 2000);
	publish(reply, "cel_c=56");
	rc = raw_answer(&c, 4000, &tid, w);
	h_ok(rc == -4, "keys missing from the reply (cel_p, grd_o): exception 04, not 0: rc %d",
	     rc);

	raw_read_req(c.fd, 3, 4, 0, 3);
	wait_lines(subD_log, "cd=1", n + 2, 2000);
	publish(reply,
		"cel_c=57,cel_p=100,grd_o=-300,wifi_n=A very long network name that does not fit");
	rc = raw_answer(&c, 3000, &tid, w);
	h_ok(rc == 3 && w[0] == 57 && w[1] == 100 && (int16_t)w[2] == -300,
	     "full reply: soc 57, energy 100, power -300: rc %d", rc);
	close(c.fd);
}

/* --- a raw publisher: any payload (empty, binary, large), QoS 1 --------- */

static struct mosquitto *pub;
static int pub_up, pub_acked, pub_sent;

static void pub_on_connect(struct mosquitto *m, void *o, int rc)
{
	(void)m, (void)o;
	pub_up = rc == 0 ? 1 : -1;
}

static void pub_on_publish(struct mosquitto *m, void *o, int mid)
{
	(void)m, (void)o, (void)mid;
	pub_acked++;
}

/* Until the broker has acknowledged every publish so far (bounded). */
static int pub_flush(void)
{
	uint64_t end = h_now_ms() + 15000;
	while (pub_up >= 0 && (pub_up == 0 || pub_acked < pub_sent) && h_now_ms() < end)
		if (mosquitto_loop(pub, 50, 1) != MOSQ_ERR_SUCCESS)
			h_sleep_ms(10);
	return pub_up == 1 && pub_acked >= pub_sent ? 0 : -1;
}

static int pub_open(void)
{
	mosquitto_lib_init();
	pub = mosquitto_new("test-venus-raw", true, NULL);
	if (!pub)
		return -1;
	mosquitto_connect_callback_set(pub, pub_on_connect);
	mosquitto_publish_callback_set(pub, pub_on_publish);
	if (mosquitto_connect(pub, "127.0.0.1", broker_port, 30) != MOSQ_ERR_SUCCESS)
		return -1;
	return pub_flush();
}

static void pub_close(void)
{
	if (!pub)
		return;
	mosquitto_disconnect(pub);
	mosquitto_loop(pub, 50, 1);
	mosquitto_destroy(pub);
	mosquitto_lib_cleanup();
}

/* Queue one message (flushed by pub_flush). */
static int pub_raw(const char *topic, const void *p, size_t len)
{
	if (mosquitto_publish(pub, NULL, topic, (int)len, len ? p : NULL, 1, false) !=
	    MOSQ_ERR_SUCCESS)
		return -1;
	pub_sent++;
	return 0;
}

static int pub_text(const char *topic, const char *text)
{
	return pub_raw(topic, text, strlen(text)) == 0 ? pub_flush() : -1;
}

/* The `dropped` counter of a device, from the line SIGUSR1 logs; -1 if none. */
static long long dropped_of(const char *name)
{
	return h_dev_counter(bridge, bridge_log, name, "dropped");
}

/* Poll the counter until it reaches n (bounded); the last value read. */
static long long wait_dropped(const char *name, long long n)
{
	uint64_t end = h_now_ms() + 15000;
	long long v;
	while ((v = dropped_of(name)) >= 0 && v < n && h_now_ms() < end)
		h_sleep_ms(100);
	return v;
}

/* Send an FC03 of soc (register 0) to unit 4 and wait until the bridge has
 * published the cd=1 it needs. */
static int unit4_read_started(struct raw_conn *c, uint16_t tid)
{
	int n = count_lines(subD_log, "cd=1");
	raw_read_req(c->fd, tid, 4, 0, 1);
	return wait_lines(subD_log, "cd=1", n + 1, 5000) > n ? 0 : -1;
}

/* docs/protocols/venus.md, "Message format": an empty message (normal MQTT: it clears a retained
 * one) after a status reply made the transport walk the pairs of the freed
 * previous payload; during a cd=1 it served them as fresh values. */
static void check_empty_message(void)
{
	struct raw_conn c = {.fd = raw_connect()};
	uint16_t tid, w[8];
	if (!h_ok(c.fd >= 0 && pub_up == 1, "raw connection and publisher for the empty messages"))
		return;
	long long d0 = dropped_of("venus4");
	int rc = unit4_read_started(&c, 20) == 0 ? 0 : -1;
	pub_text(REPLY_D, "cel_c=60,cel_p=100,grd_o=1");
	rc = rc == 0 ? raw_answer(&c, 5000, &tid, w) : rc;
	h_ok(rc == 1 && w[0] == 60, "unit 4 reads soc 60 from a status reply: rc %d", rc);

	pub_text(REPLY_D, "");
	long long d1 = wait_dropped("venus4", d0 + 1);
	h_ok(d1 == d0 + 1,
	     "an empty message after a status reply is dropped and counted: %lld -> %lld", d0, d1);
	h_ok(h_alive(bridge), "the bridge survives an empty message after a status reply");

	/* A dump nobody asked for, then an empty reply to the next cd=1: the
	 * bug served the dump's freed pairs as the answer. Its size and the
	 * padding in front keep the freed bytes intact for a while, as an
	 * allocator does with a chunk of its own size class. */
	char stray[800];
	int k = snprintf(stray, sizeof stray, "%40scel_c=66,cel_p=100,grd_o=1,pad=", "");
	memset(stray + k, 'p', 600);
	stray[k + 600] = 0;
	pub_text(REPLY_D, stray);
	rc = unit4_read_started(&c, 21);
	h_ok(rc == 0, "second read sent cd=1");
	pub_text(REPLY_D, "");
	pub_text(REPLY_D, "cel_c=61,cel_p=100,grd_o=1");
	rc = raw_answer(&c, 5000, &tid, w);
	h_ok(rc == 1 && w[0] == 61 && tid == 21,
	     "an empty reply to a cd=1 in flight is no answer: soc 61 from the real one, not 66 "
	     "from the stray dump before it: rc %d, %u",
	     rc, w[0]);
	long long d2 = wait_dropped("venus4", d0 + 3);
	h_ok(d2 == d0 + 3, "the stray dump and the empty reply are counted as dropped: %lld", d2);
	close(c.fd);
}

/* A message above the protocol's 4 KiB (VENUS_MAX_MSG) is dropped unparsed,
 * however good the pairs in it look. */
static void check_oversized_message(void)
{
	static char big[6000];
	struct raw_conn c = {.fd = raw_connect()};
	uint16_t tid, w[8];
	if (!h_ok(c.fd >= 0, "raw connection for the oversized message"))
		return;
	size_t used = (size_t)snprintf(big, sizeof big, "cel_c=70,cel_p=100,grd_o=1");
	for (int i = 0; used + 260 < 5000; i++) {
		used += (size_t)snprintf(big + used, sizeof big - used, ",pad%d=", i);
		memset(big + used, 'x', 200);
		used += 200;
	}
	big[used] = 0;
	long long d0 = dropped_of("venus4");
	int rc = unit4_read_started(&c, 30);
	h_ok(rc == 0, "read sent cd=1");
	pub_raw(REPLY_D, big, used);
	pub_text(REPLY_D, "cel_c=71,cel_p=100,grd_o=1");
	rc = raw_answer(&c, 5000, &tid, w);
	h_ok(rc == 1 && w[0] == 71,
	     "a %zu-byte status dump is not parsed: soc 71 from the next reply, not 70: rc %d, %u",
	     used, rc, w[0]);
	long long d1 = wait_dropped("venus4", d0 + 1);
	h_ok(d1 == d0 + 1, "the oversized message is counted as dropped: %lld -> %lld", d0, d1);
	close(c.fd);
}

/* A flood of garbage while a cd=1 is in flight: every message dropped and
 * counted, none taken for the answer, memory bounded, the read answered by
 * the real reply after it. (wifi_v= answers cd=10, which the map does not
 * read; get_power= is no garbage since the map reads cd=19: its binding is
 * checked in test_maps_venus.) */
static void check_flood(void)
{
	enum { N = 300 };
	static char big[4500], junk[600];
	struct raw_conn c = {.fd = raw_connect()};
	uint16_t tid, w[8];
	if (!h_ok(c.fd >= 0, "raw connection for the flood"))
		return;
	memset(big, 'y', sizeof big);
	memcpy(big, "cel_c=91,pad=", 13);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (char)((i * 131 + 7) % 256 == '=' ? 0 : (i * 131 + 7) % 256);
	static const char *const texts[] = {
	    "ret=1", "ret=0", "cd=1,ret=1,cel_c=90", "wifi_v=202409090159",
	    "cel_c", "=5",    "cel_c=92,ret=1",	     "no pairs here",
	    ",,,",   "cd=16"};
	long long d0 = dropped_of("venus4");
	long rss0 = h_proc_kib(bridge, "VmRSS");
	int rc = unit4_read_started(&c, 40);
	h_ok(rc == 0, "read sent cd=1 before the flood");
	for (int i = 0; i < N; i++) {
		switch (i % 4) {
		case 0:
			pub_raw(REPLY_D, NULL, 0);
			break;
		case 1:
			pub_raw(REPLY_D, big, sizeof big);
			break;
		case 2:
			pub_raw(REPLY_D, junk, sizeof junk);
			break;
		default:
			pub_raw(REPLY_D, texts[(i / 4) % 10], strlen(texts[(i / 4) % 10]));
		}
	}
	h_ok(pub_flush() == 0, "the broker took all %d garbage messages", N);
	pub_text(REPLY_D, "cel_c=63,cel_p=100,grd_o=1");
	rc = raw_answer(&c, 10000, &tid, w);
	h_ok(rc == 1 && w[0] == 63 && tid == 40,
	     "after %d garbage messages the read gets soc 63 from the real reply: rc %d, %u", N, rc,
	     w[0]);
	long long d1 = wait_dropped("venus4", d0 + N);
	h_ok(d1 == d0 + N, "each of the %d garbage messages counted as dropped: %lld -> %lld", N,
	     d0, d1);
	long rss1 = h_proc_kib(bridge, "VmRSS");
	h_ok(rss0 > 0 && rss1 > 0 && rss1 - rss0 < 16 * 1024,
	     "memory bounded through the flood: RSS %ld -> %ld KiB", rss0, rss1);
	rc = unit4_read_started(&c, 41);
	pub_text(REPLY_D, "cel_c=64,cel_p=100,grd_o=1");
	rc = rc == 0 ? raw_answer(&c, 5000, &tid, w) : rc;
	h_ok(rc == 1 && w[0] == 64, "reads still work after the flood: rc %d, %u", rc, w[0]);
	close(c.fd);
}

/* Another device's reply (its own topic) never answers unit 4, and is
 * dropped and counted by the device it was addressed to. */
static void check_misattributed(void)
{
	struct raw_conn c = {.fd = raw_connect()};
	uint16_t tid, w[8];
	if (!h_ok(c.fd >= 0, "raw connection for the misattributed replies"))
		return;
	long long e0 = dropped_of("venus5");
	int rc = unit4_read_started(&c, 50);
	h_ok(rc == 0, "read sent cd=1");
	pub_text(REPLY_E, "cel_c=80,cel_p=100,grd_o=1");
	pub_text(REPLY_E, "ret=1");
	pub_text(REPLY_D, "cel_c=65,cel_p=100,grd_o=1");
	rc = raw_answer(&c, 5000, &tid, w);
	h_ok(rc == 1 && w[0] == 65,
	     "unit 4 is answered by its own reply (65), not by unit 5's (80): rc %d, %u", rc, w[0]);
	long long e1 = wait_dropped("venus5", e0 + 2);
	h_ok(e1 == e0 + 2, "unit 5 dropped and counted the two messages nobody asked for: %lld",
	     e1);
	close(c.fd);
}

/* Ghosts (docs/protocols/venus.md): sim E holds every ret= back until its next command. A
 * write of cd=16 thus gets its ret=1 only when the next command arrives; a
 * write of cd=15 that the device refuses (ret=0) must get 04, not that
 * late ret=1. */
static void check_late_ack(void)
{
	modbus_t *mb = h_modbus(mb_port, 5);
	uint16_t r[2];
	if (!h_ok(mb != NULL, "client for unit 5"))
		return;
	int rc = read_regs(mb, 28, 2, r);
	h_ok(rc == 0 && r[0] == 2500 && r[1] == 800, "unit 5 starts with mcp_w 2500, mdp_w 800");
	h_ok(set_mode(ID_E, simE_log, "lag") == 0 && set_mode(ID_E, simE_log, "refuse 15") == 0,
	     "sim E: acknowledgements one command late, cd=15 refused");

	/* No ret= in time: 0B, or (with retries) the first attempt's late ret=1
	 * answering the retry of the same command. Both are right. */
	rc = modbus_write_register(mb, 28, 1300);
	int err = errno;
	h_ok(rc == 1 || (rc < 0 && err == EMBXGTAR),
	     "cd=16,cp=1300 with a late ret=: acknowledged or 0B (%s)",
	     rc == 1 ? "acknowledged" : modbus_strerror(err));
	h_ok(wait_lines(simE_log, "cd=16,cp=1300", 1, 3000) >= 1, "sim E got cd=16,cp=1300");

	rc = modbus_write_register(mb, 29, 2500);
	err = errno;
	h_ok(rc < 0 && err == EMBXSFAIL,
	     "cd=15,vs=2500 refused by the device: exception 04, not the late ret=1 of cd=16 (%s)",
	     rc < 0 ? modbus_strerror(err) : "acknowledged");
	h_ok(h_file_contains(simE_log, "# released ret=1"),
	     "the late ret=1 did arrive while cd=15 was in flight");
	rc = read_regs(mb, 28, 2, r);
	h_ok(rc == 0 && r[0] == 1300 && r[1] == 800,
	     "read back: mcp_w 1300 (applied), mdp_w still 800 (refused): %u %u", r[0], r[1]);

	/* The device takes writes again: a confirmed write succeeds. */
	h_ok(set_mode(ID_E, simE_log, "normal") == 0, "sim E back to normal");
	rc = modbus_write_register(mb, 29, 2500);
	h_ok(rc == 1, "cd=15,vs=2500 applied and acknowledged (%s)",
	     rc == 1 ? "ok" : modbus_strerror(errno));
	rc = read_regs(mb, 29, 1, r);
	h_ok(rc == 0 && r[0] == 2500, "read back: mdp_w 2500: %u", r[0]);
	modbus_free(mb);
}

/* Unit 2: 10 connections x 10 pipelined reads spread over ~1.4 s. */
static void check_burst(void)
{
	enum { NC = 10, NR = 10 };
	static struct raw_conn c[NC];
	uint16_t w[4], tid;
	modbus_t *mb = h_modbus(mb_port, 2);
	uint16_t r[1];
	int rc = mb ? read_regs(mb, 0, 1, r) : -1;
	h_ok(rc == 0 && r[0] == 27, "unit 2 reads soc 27 before the burst");
	if (mb)
		modbus_free(mb);
	h_sleep_ms(2100); /* let min_interval pass: the burst's first read goes at once */

	for (int i = 0; i < NC; i++) {
		c[i].fd = raw_connect();
		c[i].len = 0;
	}
	int before = count_lines(simB_log, "cd=1");
	int ok = 0, bad = 0;
	uint64_t t0 = h_now_ms(), last = t0;
	for (int j = 0; j < NR; j++) {
		for (int i = 0; i < NC; i++)
			if (c[i].fd >= 0)
				raw_read_req(c[i].fd, (uint16_t)(i * 100 + j), 2, 0, 1);
		/* Collect what is ready, then the next wave. */
		uint64_t wave_end = h_now_ms() + 150;
		while (j < NR - 1 && h_now_ms() < wave_end) {
			for (int i = 0; i < NC; i++) {
				while ((rc = raw_answer(&c[i], 0, &tid, w)) != -1000) {
					if (rc == 1 && w[0] == 27)
						ok++;
					else
						bad++;
					last = h_now_ms();
				}
			}
			h_sleep_ms(10);
		}
	}
	uint64_t end = h_now_ms() + 8000;
	while (ok + bad < NC * NR && h_now_ms() < end) {
		for (int i = 0; i < NC; i++) {
			while ((rc = raw_answer(&c[i], 5, &tid, w)) != -1000) {
				if (rc == 1 && w[0] == 27)
					ok++;
				else
					bad++;
				last = h_now_ms();
			}
		}
	}
	for (int i = 0; i < NC; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	uint64_t dur = last - t0;
	int sent = count_lines(simB_log, "cd=1") - before;
	int limit = (int)((dur + 1999) / 2000) + 1;
	h_ok(ok == NC * NR, "all %d reads of the burst answered soc 27 (%d ok, %d failed)", NC * NR,
	     ok, bad);
	h_ok(sent >= 1 && sent <= limit,
	     "min_interval 2000 held: %d cd=1 for a %llu ms burst (at most %d)", sent,
	     (unsigned long long)dur, limit);
}

/* Unit 3: the map's defaults apply and prefix marstek_energy is used. */
static void check_defaults(void)
{
	h_ok(h_file_contains(bridge_log, "venus3: unit 3, map venus") &&
		 h_file_contains(bridge_log, "timeout 10000 ms, max_age 180000 ms, poll 60000 ms, "
					     "min_interval 60000 ms"),
	     "unit 3 runs with the map's defaults (timeout 10000, max_age 180000, poll 60000, "
	     "min_interval 60000)");
	modbus_t *mb = h_modbus(mb_port, 3);
	uint16_t r[3];
	int rc = mb ? read_regs(mb, 0, 3, r) : -1;
	h_ok(rc == 0 && r[0] == 27 && r[2] == 807, "marstek_energy prefix: soc 27, power 807");
	rc = mb ? read_regs(mb, 10, 2, r) : -1;
	h_ok(rc == 0 && r[1] == 44785, "second read from the cache");
	h_ok(count_lines(simC_log, "cd=1") == 1, "one cd=1 served both reads (poll at link-up): %d",
	     count_lines(simC_log, "cd=1"));
	if (mb)
		modbus_free(mb);
}

int main(void)
{
	h_init("venus");
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started on %d", broker_port))
		return h_done();

	pid_t sa = start_sim(ID_A, "hame_energy", 1, "simA.log");
	pid_t sb = start_sim(ID_B, "hame_energy", 0, "simB.log");
	pid_t sc = start_sim(ID_C, "marstek_energy", 0, "simC.log");
	pid_t se = start_sim(ID_E, "hame_energy", 0, "simE.log");
	simE_log = strdup(h_path("simE.log"));
	simA_log = strdup(h_path("simA.log"));
	simB_log = strdup(h_path("simB.log"));
	simC_log = strdup(h_path("simC.log"));
	subD_log = strdup(h_path("subD.log"));
	bridge_log = strdup(h_path("bridge.log"));

	char port[16];
	snprintf(port, sizeof port, "%d", broker_port);
	const char *sub[] = {"mosquitto_sub",
			     "-h",
			     "127.0.0.1",
			     "-p",
			     port,
			     "-t",
			     "hame_energy/HMG-50/App/" ID_D "/ctrl",
			     NULL};
	pid_t sd = h_spawn(sub, "subD.log");
	h_sleep_ms(300);

	mb_port = h_free_port();
	char conf[4096];
	const char *mq = "mqtt = { host = \"127.0.0.1\"; port = %d; };";
	char mqtt[128];
	snprintf(mqtt, sizeof mqtt, mq, broker_port);
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 " { name = \"venus1\"; unit_id = 1; map = \"venus\"; poll = 0; max_age = 0;\n"
		 "   min_interval = 0; timeout = 2500; %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_A "\"; }; },\n"
		 " { name = \"venus2\"; unit_id = 2; map = \"venus\"; poll = 0; max_age = 0;\n"
		 "   min_interval = 2000; timeout = 5000; %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_B "\"; }; },\n"
		 " { name = \"venus3\"; unit_id = 3; map = \"venus\"; %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_C
		 "\"; prefix = \"marstek_energy\"; }; },\n"
		 " { name = \"venus4\"; unit_id = 4; map = \"venus\"; poll = 0; max_age = 0;\n"
		 "   min_interval = 0; timeout = 10000; %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_D "\"; }; },\n"
		 " { name = \"venus5\"; unit_id = 5; map = \"venus\"; poll = 0; max_age = 0;\n"
		 "   min_interval = 0; timeout = 3000; %s\n"
		 "   venus = { type = \"HMG-50\"; id = \"" ID_E "\"; }; }\n"
		 ");\n",
		 mb_port, h_maps_dir(), mqtt, mqtt, mqtt, mqtt, mqtt);
	const char *cpath = h_write_file("modbridge.conf", conf);
	bridge = h_bridge_start(cpath, mb_port, "bridge.log");
	if (!h_ok(bridge > 0, "modbridge started with five venus devices"))
		return h_done();

	uint64_t t0 = h_now_ms();
	modbus_t *mb = h_modbus(mb_port, 1);
	if (h_ok(mb != NULL, "client connected")) {
		check_decode(mb);
		check_writes(mb);
		check_device_says_no(mb);
		modbus_free(mb);
	}
	check_missing_keys();
	h_ok(pub_open() == 0, "raw publisher connected");
	check_empty_message();
	check_oversized_message();
	check_flood();
	check_misattributed();
	check_late_ack();
	pub_close();
	check_burst();
	check_defaults();
	h_note("checks took %llu ms", (unsigned long long)(h_now_ms() - t0));

	h_ok(h_alive(bridge), "bridge still running");
	h_ok(h_bridge_stop(bridge) == 0, "bridge exits cleanly on SIGTERM");
	h_stop(sd, 1000);
	h_stop(sa, 1000);
	h_stop(sb, 1000);
	h_stop(sc, 1000);
	h_stop(se, 1000);
	h_stop(broker, 2000);
	return h_done();
}

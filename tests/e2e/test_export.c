/* Black-box tests of values out (docs/user-guide.md, "Exporting values"):
 * the real daemon with a memory device (a small battery map written here)
 * exporting to
 *
 *   - a real InfluxDB 1.6 (Debian's influxdb, started here on free loopback
 *     ports with its own config and data folders, authentication on): the
 *     points arrive with the exact values, tags and escaping, a Modbus write
 *     shows up, an outage is reported while Modbus is still served, the
 *     queue stays within its bound (dropping the oldest, counted), and the
 *     points kept arrive once InfluxDB is back;
 *   - tests/sim/sim_influx, an InfluxDB 2 write endpoint (Debian has no
 *     InfluxDB 2): path, org, bucket, token and precision, the line
 *     protocol parsed back; a wrong token reported as HTTP 401;
 *   - a real mosquitto, read with mosquitto_sub: the values document on
 *     start, on change, every interval after a reload, and after the broker
 *     was restarted, with the outage reported;
 *   - config errors named by file:line.
 *
 * The exporters' status is read as SIGUSR1 logs it ("export influxdb: ok
 * ..."), the same struct the REST API shows. */
#include "harness.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 15000

static const char map_text[] =
    "name = \"battery\";\n"
    "protocol = \"memory\";\n"
    "trust = \"structure-verified\";\n"
    "description = \"export test battery\";\n"
    "source = \"tests/e2e/test_export.c\";\n"
    "registers = (\n"
    "  { address = 0; name = \"soc\"; unit = \"%\"; access = \"rw\"; default = 57; },\n"
    "  { address = 1; name = \"power\"; type = \"int16\"; unit = \"W\"; access = \"rw\";"
    " default = -1234; },\n"
    "  { address = 2; name = \"voltage\"; unit = \"V\"; scale = 0.01; access = \"rw\";"
    " default = 5230; },\n"
    "  { address = 3; name = \"energy\"; type = \"uint32\"; unit = \"kWh\"; scale = 0.1;"
    " access = \"rw\"; default = 123456; },\n"
    /* A quote, a backslash, a space, a comma and '=': every character the
     * line protocol escapes somewhere. */
    "  { address = 5; name = \"serial\"; type = \"string\"; length = 4; access = \"rw\";"
    " default = \"a\\\"b\\\\ c,=\"; }\n"
    ");\n";

#define DEV "garage.bat-1"

/* A PowerGo battery reduced to one block (test_silent_device): polled every
 * 2 s with a 500 ms timeout, a request the silence left unanswered is
 * forgotten (two timeouts, tr_powergo.c) before the next poll asks again, so
 * that the battery's recovery does not depend on how the transport tells
 * late answers apart (docs/protocols/powergo.md). */
static const char pgmini_text[] =
    "name = \"pgmini\";\n"
    "protocol = \"powergo\";\n"
    "trust = \"generated\";\n"
    "description = \"export test: a PowerGo battery's state of charge and grid power\";\n"
    "source = \"tests/e2e/test_export.c\";\n"
    "registers = (\n"
    "  { address = 529; name = \"soc\"; unit = \"%\"; },\n"
    "  { address = 530; name = \"grid_power\"; type = \"int16\"; unit = \"W\"; }\n"
    ");\n";

/* --- helpers ------------------------------------------------------------- */

/* Wall clock in ms, the clock of the points' timestamps. */
static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A config with the battery (and other devices, `more`, may be "") and the
 * export groups in export_block. */
static const char *write_config_more(const char *name, int mb_port, const char *export_block,
				     const char *more)
{
	static char text[4096];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\", \"%s\" ];\n"
		 "devices = ( { name = \"" DEV "\"; unit_id = 1; map = \"battery\";"
		 " memory = {}; }%s );\n"
		 "%s",
		 mb_port, h_dir(), h_maps_dir(), more, export_block);
	return h_write_file(name, text);
}

static const char *write_config(const char *name, int mb_port, const char *export_block)
{
	return write_config_more(name, mb_port, export_block, "");
}

/* Send SIGUSR1 until the log has a line with both needles (bounded). */
static int wait_status(pid_t bridge, const char *log, const char *a, const char *b)
{
	uint64_t end = h_now_ms() + WAIT_MS;
	while (h_now_ms() < end) {
		h_signal(bridge, SIGUSR1);
		h_sleep_ms(200);
		FILE *f = fopen(log, "r");
		char line[2048];
		int found = 0;
		while (f && fgets(line, sizeof line, f))
			if (strstr(line, a) && (!b || strstr(line, b)))
				found = 1;
		if (f)
			fclose(f);
		if (found)
			return 1;
	}
	return 0;
}

/* Wait (bounded) for a line of the file with both needles. */
static int wait_line2(const char *path, const char *a, const char *b)
{
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; h_sleep_ms(100)) {
		FILE *f = fopen(path, "r");
		static char line[65536];
		int found = 0;
		while (f && !found && fgets(line, sizeof line, f))
			found = strstr(line, a) && strstr(line, b);
		if (f)
			fclose(f);
		if (found)
			return 1;
	}
	return 0;
}

/* The last SIGUSR1 line of exporter `what` ("export influxdb:"), into buf. */
static int last_status(const char *log, const char *what, char *buf, size_t len)
{
	FILE *f = fopen(log, "r");
	char line[2048];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, what)) {
			snprintf(buf, len, "%s", line);
			found = 1;
		}
	if (f)
		fclose(f);
	return found;
}

static long long status_counter(const char *line, const char *key)
{
	char k[64];
	snprintf(k, sizeof k, " %s ", key);
	const char *p = strstr(line, k);
	return p ? atoll(p + strlen(k)) : -1;
}

static int modbus_set(int port, int addr, int value)
{
	modbus_t *m = h_modbus(port, 1);
	int ok = m && modbus_write_register(m, addr, (uint16_t)value) == 1;
	uint16_t back = 0;
	ok = ok && modbus_read_registers(m, addr, 1, &back) == 1 && back == (uint16_t)value;
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	return ok;
}

struct body {
	char buf[65536];
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

/* POST an InfluxQL statement to /query (as admin once auth is on); the
 * answer's JSON in out. The HTTP status, or -1. */
static long influx_query(int port, const char *db, const char *q, int auth, struct body *out)
{
	CURL *e = curl_easy_init();
	char url[512], *esc = e ? curl_easy_escape(e, q, 0) : NULL, *post = NULL;
	long status = -1;
	if (!esc)
		goto out;
	snprintf(url, sizeof url, "http://127.0.0.1:%d/query?epoch=ms%s%s", port, db ? "&db=" : "",
		 db ? db : "");
	if (!(post = malloc(strlen(esc) + 3)))
		goto out;
	sprintf(post, "q=%s", esc);
	out->len = 0;
	out->buf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	if (auth)
		curl_easy_setopt(e, CURLOPT_USERPWD, "admin:pw");
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
out:
	free(post);
	curl_free(esc);
	if (e)
		curl_easy_cleanup(e);
	return status;
}

/* Query until the answer contains want (bounded); 1 if it did. */
static int influx_wait(int port, const char *q, const char *want, struct body *b)
{
	uint64_t end = h_now_ms() + WAIT_MS;
	while (h_now_ms() < end) {
		if (influx_query(port, "energy", q, 1, b) == 200 && strstr(b->buf, want))
			return 1;
		h_sleep_ms(200);
	}
	return 0;
}

static int influx_http, influx_rpc;

/* --- InfluxDB 1.x -------------------------------------------------------- */

static void test_influx_v1(void)
{
	struct body b;
	char block[1024], line[2048];
	int mb_port = h_free_port();

	influx_http = h_free_port();
	influx_rpc = h_free_port();
	pid_t ix = h_influxd_start(influx_http, influx_rpc, 1, WAIT_MS);
	if (!h_ok(ix > 0, "influxd 1.x starts on 127.0.0.1:%d", influx_http))
		return;
	/* With no user yet, InfluxDB takes the first admin without auth. */
	h_ok(influx_query(influx_http, NULL,
			  "CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES", 0,
			  &b) == 200 &&
		 influx_query(influx_http, NULL, "CREATE DATABASE energy", 1, &b) == 200,
	     "admin user and database created");

	snprintf(block, sizeof block,
		 "influxdb = { url = \"http://127.0.0.1:%d\"; database = \"energy\";"
		 " username = \"admin\"; password = \"pw\"; interval = 1; queue = 3;"
		 " timeout = 2000; };\n",
		 influx_http);
	const char *cfg = write_config("v1.conf", mb_port, block);
	pid_t br = h_bridge_start(cfg, mb_port, "bridge-v1.log");
	if (!h_ok(br > 0, "bridge with an influxdb group starts")) {
		h_stop(ix, 5000);
		return;
	}
	const char *log = h_path("bridge-v1.log");

	/* Columns come in name order: time, device, energy, map, power,
	 * serial, soc, voltage. Every value exactly as the map decodes it. */
	static const char q_last[] = "SELECT * FROM modbridge ORDER BY time DESC LIMIT 1";
	h_ok(influx_wait(influx_http, q_last,
			 ",\"" DEV "\",12345.6,\"battery\",-1234,\"a\\\"b\\\\ c,=\",57,52.3]", &b),
	     "InfluxDB has the point: tags device and map, integers, scaled floats and the "
	     "escaped string exact");
	h_ok(strstr(b.buf, "\"columns\":[\"time\",\"device\",\"energy\",\"map\",\"power\","
			   "\"serial\",\"soc\",\"voltage\"]") != NULL,
	     "one field per register, tags device and map");
	if (!strstr(b.buf, "57,52.3]"))
		h_note("last answer: %s", b.buf);
	/* Integers stay integers: InfluxDB says which fields are floats. */
	h_ok(influx_wait(influx_http, "SHOW FIELD KEYS FROM modbridge",
			 "[\"energy\",\"float\"],[\"power\",\"integer\"],[\"serial\",\"string\"],"
			 "[\"soc\",\"integer\"],[\"voltage\",\"float\"]",
			 &b),
	     "field types: registers without a scale are integers, scaled ones floats");

	h_ok(modbus_set(mb_port, 0, 63), "Modbus write of soc = 63");
	h_ok(influx_wait(influx_http, "SELECT soc FROM modbridge ORDER BY time DESC LIMIT 1",
			 ",63]]", &b),
	     "the written value reaches InfluxDB");
	h_ok(wait_status(br, log, "export influxdb: ok", " sent "), "status: influxdb ok");

	/* Outage: InfluxDB stops; Modbus goes on; the status says so. */
	h_stop(ix, 10000);
	uint64_t t_down = wall_ms();
	h_ok(modbus_set(mb_port, 0, 71), "Modbus still served while InfluxDB is down (soc = 71)");
	h_ok(wait_status(br, log, "export influxdb: failing", "Couldn't connect"),
	     "status: influxdb failing, last_error says why");
	/* queue = 3 batches, one a second: the fourth drops the oldest. */
	int dropped = 0;
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end && !dropped; h_sleep_ms(300))
		if (wait_status(br, log, "export influxdb: failing", NULL) &&
		    last_status(log, "export influxdb:", line, sizeof line))
			dropped = status_counter(line, "dropped") > 0 &&
				  status_counter(line, "queued") == 3;
	h_ok(dropped, "queue bounded: 3 points kept, older ones dropped and counted");
	h_ok(h_alive(br), "the bridge survives the outage");

	uint64_t t_up = wall_ms();
	ix = h_influxd_start(influx_http, influx_rpc, 1, WAIT_MS);
	h_ok(ix > 0, "influxd restarts");
	h_ok(influx_wait(influx_http, "SELECT soc FROM modbridge ORDER BY time DESC LIMIT 1",
			 ",71]]", &b),
	     "new points arrive again");
	/* Points stamped during the outage can only have arrived from the
	 * queue: some did (the back-off waits at most half of what the queue
	 * holds), and never more than it holds. */
	char q[256];
	snprintf(q, sizeof q,
		 "SELECT count(soc) FROM modbridge WHERE soc = 71 AND time > %llums AND time < "
		 "%llums",
		 (unsigned long long)t_down, (unsigned long long)t_up);
	long long kept = -1;
	if (influx_query(influx_http, "energy", q, 1, &b) == 200) {
		const char *c = strstr(b.buf, "\"values\":[[");
		const char *comma = c ? strchr(c, ',') : NULL;
		kept = comma ? atoll(comma + 1) : 0;
	}
	if (!h_ok(kept >= 1 && kept <= 3,
		  "after the outage, the points the queue kept arrive: %lld of at most 3", kept)) {
		h_note("%s: %s", q, b.buf);
		snprintf(q, sizeof q, "SELECT soc FROM modbridge WHERE time > %llums",
			 (unsigned long long)t_down - 5000);
		influx_query(influx_http, "energy", q, 1, &b);
		h_note("%s: %s", q, b.buf);
	}
	int before = h_count_lines(log, "export influxdb: ok");
	h_ok(wait_status(br, log, "export influxdb: ok", "Couldn't connect") &&
		 h_count_lines(log, "export influxdb: ok") > before,
	     "status: ok again, the last error kept for the record");
	h_ok(h_wait_lines(log, "takes points again", 1, 1000), "the recovery is logged");
	h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");
	h_stop(ix, 10000);
}

/* --- InfluxDB 2.x (the test server) -------------------------------------- */

static pid_t sim_influx_log(int port, const char *log);

static pid_t sim_influx(int port)
{
	return sim_influx_log(port, "sim_influx.log");
}

static pid_t sim_influx_log(int port, const char *log)
{
	char p[16];
	snprintf(p, sizeof p, "%d", port);
	const char *argv[] = {h_bin("tests/sim/sim_influx"),
			      "--port",
			      p,
			      "--org",
			      "my org",
			      "--bucket",
			      "energy/raw",
			      "--token",
			      "s3cret==",
			      NULL};
	pid_t pid = h_spawn(argv, log);
	if (pid > 0 && h_wait_port(port, 5000) < 0)
		return -1;
	return pid;
}

static void test_influx_v2(void)
{
	char block[1024], want[512], away[512];
	int mb_port = h_free_port(), port = h_free_port();
	pid_t sim = sim_influx(port);
	if (!h_ok(sim > 0, "sim_influx (InfluxDB 2 write endpoint) starts"))
		return;
	snprintf(block, sizeof block,
		 "influxdb = { url = \"http://127.0.0.1:%d/\"; version = 2; org = \"my org\";"
		 " bucket = \"energy/raw\"; token = \"s3cret==\"; measurement = \"home power\";"
		 " interval = 1; };\n",
		 port);
	/* A second device, a PowerGo battery behind a broker (the simulator),
	 * whose link goes down later. */
	int bport;
	pid_t broker = h_broker_start(&bport);
	pid_t pg = broker > 0 ? h_sim_powergo(bport, "15020115", "sim_pg.log", NULL) : -1;
	h_ok(broker > 0 && pg > 0, "mosquitto and sim_powergo start");
	snprintf(away, sizeof away,
		 ", { name = \"pg\"; unit_id = 2; map = \"powergo\";"
		 " mqtt = { host = \"127.0.0.1\"; port = %d; };"
		 " powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; }; }",
		 bport);
	pid_t br = h_bridge_start(write_config_more("v2.conf", mb_port, block, away), mb_port,
				  "bridge-v2.log");
	if (!h_ok(br > 0, "bridge with influxdb version 2 starts")) {
		h_stop(sim, 2000);
		return;
	}
	const char *slog = h_path("sim_influx.log");
	h_ok(h_wait_lines(slog,
			  "request /api/v2/write?org=my%20org&bucket=energy%2Fraw&precision=ms", 1,
			  WAIT_MS),
	     "v2 path, org and bucket URL-escaped, precision ms");
	/* The sim prints floats with %.17g: the same double the bridge has. */
	snprintf(want, sizeof want,
		 "point home power device=" DEV " map=battery soc=57i power=-1234i voltage=%.17g "
		 "energy=%.17g serial=\"a\"b\\ c,=\" time=",
		 5230 / 100.0, 123456 / 10.0);
	h_ok(h_wait_lines(slog, want, 1, WAIT_MS),
	     "the test server parsed the point: escaped measurement, tags, every field exact");
	h_ok(h_wait_lines(slog, "answer 204", 1, WAIT_MS), "token accepted, 204");
	h_ok(h_count_lines(slog, "answer 4") == 0, "no request refused");

	/* The PowerGo battery's soc, read once through Modbus, is in its
	 * point; once its link is down, its points stop, the battery's go on. */
	modbus_t *m = h_modbus(mb_port, 2);
	uint16_t soc = 0;
	int read = 0;
	for (uint64_t end = h_now_ms() + WAIT_MS; m && !read && h_now_ms() < end; h_sleep_ms(200))
		read = modbus_read_registers(m, 529, 1, &soc) == 1;
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	snprintf(want, sizeof want, " soc=%ui ", soc);
	h_ok(read && wait_line2(slog, "point home power device=pg map=powergo ", want),
	     "a PowerGo device's point carries what its cache holds (soc %u)", soc);
	h_stop(broker, 5000);
	h_ok(h_wait_lines(h_path("bridge-v2.log"), "pg: link down", 1, WAIT_MS),
	     "the PowerGo device's link goes down");
	int w0 = h_count_lines(slog, "wrote ");
	h_wait_lines(slog, "wrote ", w0 + 1, WAIT_MS); /* a round under way */
	int pg0 = h_count_lines(slog, "device=pg"), w1 = h_count_lines(slog, "wrote ");
	h_ok(h_wait_lines(slog, "wrote ", w1 + 3, WAIT_MS) &&
		 h_count_lines(slog, "device=pg") == pg0,
	     "a device whose link is down sends no point (its cache is not current)");
	h_stop(pg, 2000);
	h_ok(wait_status(br, h_path("bridge-v2.log"), "export influxdb: ok", " sent "),
	     "status: ok");
	h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");

	/* A wrong token: refused, reported, retried (not dropped). */
	snprintf(block, sizeof block,
		 "influxdb = { url = \"http://127.0.0.1:%d\"; version = 2; org = \"my org\";"
		 " bucket = \"energy/raw\"; token = \"wrong\"; interval = 1; };\n",
		 port);
	br =
	    h_bridge_start(write_config("v2bad.conf", mb_port, block), mb_port, "bridge-v2bad.log");
	if (h_ok(br > 0, "bridge with a wrong token starts")) {
		h_ok(h_wait_lines(slog, "answer 401", 1, WAIT_MS), "the server refuses it: 401");
		h_ok(wait_status(br, h_path("bridge-v2bad.log"), "export influxdb: failing",
				 "HTTP 401: unauthorized access"),
		     "status: failing, HTTP 401 with InfluxDB's message");
		h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");
	}
	h_stop(sim, 2000);
}

/* SIGHUP with the influxdb group's url changed: the exporter starts again
 * towards the new server, the old one gets nothing more. */
static void test_influx_reload(void)
{
	char block[1024];
	int mb_port = h_free_port(), pa = h_free_port(), pb = h_free_port();
	pid_t sa = sim_influx_log(pa, "sim_a.log"), sb = sim_influx_log(pb, "sim_b.log");
	const char *la = h_path("sim_a.log"), *lb = h_path("sim_b.log");
	if (!h_ok(sa > 0 && sb > 0, "two InfluxDB 2 write endpoints start"))
		return;
	const char *fmt =
	    "influxdb = { url = \"http://127.0.0.1:%d\"; version = 2; org = \"my "
	    "org\"; bucket = \"energy/raw\"; token = \"s3cret==\"; interval = 1; };\n";
	snprintf(block, sizeof block, fmt, pa);
	const char *cfg = write_config("reload.conf", mb_port, block);
	pid_t br = h_bridge_start(cfg, mb_port, "bridge-reload.log");
	h_ok(br > 0 && h_wait_lines(la, "answer 204", 1, WAIT_MS),
	     "reload: points go to the first server");
	snprintf(block, sizeof block, fmt, pb);
	write_config("reload.conf", mb_port, block);
	h_signal(br, SIGHUP);
	h_ok(h_wait_lines(h_path("bridge-reload.log"), "influxdb.url changed", 1, WAIT_MS),
	     "SIGHUP with a new influxdb.url: the changed key is named");
	h_ok(h_wait_lines(lb, "answer 204", 1, WAIT_MS), "points go to the new server");
	int a0 = h_count_lines(la, "answer 204");
	h_ok(h_wait_lines(lb, "answer 204", 3, WAIT_MS) && h_count_lines(la, "answer 204") == a0,
	     "the old server gets nothing more");
	h_ok(wait_status(br, h_path("bridge-reload.log"), "export influxdb: ok", NULL),
	     "status after the reload: influxdb ok");
	h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");
	h_stop(sa, 2000);
	h_stop(sb, 2000);
}

/* --- MQTT ---------------------------------------------------------------- */

static pid_t subscribe(int port, const char *log)
{
	char p[16];
	snprintf(p, sizeof p, "%d", port);
	const char *argv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", p, "-t",
			      "site/values/#", "-v", NULL};
	/* The documents are retained: one published before the subscription
	 * took effect still arrives. */
	return h_spawn(argv, log);
}

static void test_mqtt(void)
{
	int bport, mb_port = h_free_port();
	char block[1024];
	pid_t broker = h_broker_start(&bport);
	if (!h_ok(broker > 0, "mosquitto starts"))
		return;
	pid_t sub = subscribe(bport, "sub.log");
	const char *slog = h_path("sub.log");

	snprintf(block, sizeof block,
		 "mqtt_export = { mqtt = { host = \"127.0.0.1\"; port = %d; client_id = "
		 "\"exp\"; }; prefix = \"site/values\"; interval = 3600; };\n",
		 bport);
	const char *cfg = write_config("mqtt.conf", mb_port, block);
	pid_t br = h_bridge_start(cfg, mb_port, "bridge-mqtt.log");
	if (!h_ok(br > 0, "bridge with an mqtt_export group starts")) {
		h_stop(sub, 2000);
		h_stop(broker, 2000);
		return;
	}
	const char *log = h_path("bridge-mqtt.log");
	/* The REST API's registers document, on the device's topic. */
	h_ok(h_wait_lines(slog,
			  "site/values/" DEV " {\"device\":\"" DEV "\",\"unit_id\":1,"
			  "\"map\":\"battery\"",
			  1, WAIT_MS),
	     "the values document arrives on <prefix>/<device> at start");
	h_ok(h_wait_lines(slog,
			  "{\"name\":\"soc\",\"address\":0,\"table\":\"holding\","
			  "\"access\":\"rw\",\"raw\":57,\"value\":57,\"unit\":\"%\"",
			  1, 1000),
	     "soc as the REST API writes it");
	h_ok(h_wait_lines(slog, "\"raw\":5230,\"value\":52.3", 1, 1000),
	     "a scaled value: raw and value");
	int n0 = h_count_lines(slog, "site/values/" DEV " ");

	/* interval = 3600: only a change can make the next message. */
	h_ok(modbus_set(mb_port, 0, 64), "Modbus write of soc = 64");
	h_ok(h_wait_lines(slog, "\"raw\":64,\"value\":64", 1, WAIT_MS),
	     "on change: the new value is published");
	h_ok(h_count_lines(slog, "site/values/" DEV " ") == n0 + 1, "one message for one change");
	h_ok(wait_status(br, log, "export mqtt: ok", " sent 2 "), "status: mqtt ok, sent 2");

	/* Reload with interval = 1 and no change publishing. */
	snprintf(block, sizeof block,
		 "mqtt_export = { mqtt = { host = \"127.0.0.1\"; port = %d; client_id = "
		 "\"exp\"; }; prefix = \"site/values\"; interval = 1; on_change = false; };\n",
		 bport);
	write_config("mqtt.conf", mb_port, block);
	int n1 = h_count_lines(slog, "site/values/" DEV " ");
	h_signal(br, SIGHUP);
	h_ok(h_wait_lines(log, "mqtt_export.interval changed", 1, WAIT_MS),
	     "reload: the changed key is named");
	h_ok(h_wait_lines(slog, "site/values/" DEV " ", n1 + 3, WAIT_MS),
	     "every interval: messages keep coming without a change");

	/* Broker outage: reported, Modbus served, values published after. */
	h_stop(sub, 2000);
	h_stop(broker, 5000);
	h_ok(wait_status(br, log, "export mqtt: failing", NULL), "status: mqtt failing");
	h_ok(modbus_set(mb_port, 0, 77), "Modbus still served while the broker is down");
	broker = h_broker_restart(bport);
	h_ok(broker > 0, "mosquitto restarts (no retained messages kept)");
	sub = subscribe(bport, "sub2.log");
	h_ok(h_wait_lines(h_path("sub2.log"), "\"raw\":77,\"value\":77", 1, WAIT_MS),
	     "after the broker came back, the value written during the outage is published");
	int before = h_count_lines(log, "export mqtt: ok");
	h_ok(wait_status(br, log, "export mqtt: ok", NULL) &&
		 h_count_lines(log, "export mqtt: ok") > before,
	     "status: mqtt ok again");
	h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");
	h_stop(sub, 2000);
	h_stop(broker, 2000);
}

/* --- a device that stops answering behind a working broker --------------- */

/* GET http://127.0.0.1:port<path> (read_only_without_auth) into b; 1 on 200. */
static int rest_get(int port, const char *path, struct body *b)
{
	CURL *e = curl_easy_init();
	char url[256];
	long status = -1;
	if (!e)
		return 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	b->len = 0;
	b->buf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	return status == 200;
}

/* GET path until the answer holds want (bounded); 1 if it did. */
static int rest_wait(int port, const char *path, const char *want, struct body *b)
{
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end; h_sleep_ms(100))
		if (rest_get(port, path, b) && strstr(b->buf, want))
			return 1;
	return 0;
}

/* The number after "key": in text from `from` on (the first such key), or -1
 * (also for null). */
static long long num_after(const char *text, const char *from, const char *key)
{
	char k[64];
	const char *p = from ? strstr(text, from) : text;
	snprintf(k, sizeof k, "\"%s\":", key);
	p = p ? strstr(p, k) : NULL;
	if (!p || p[strlen(k)] < '0' || p[strlen(k)] > '9')
		return -1;
	return atoll(p + strlen(k));
}

/* The soc field and time of the last point of device pg in the sim's log:
 * 1 when there is one. */
static int last_pg_soc(const char *slog, long long *soc, long long *t)
{
	FILE *f = fopen(slog, "r");
	static char line[65536];
	int found = 0;
	while (f && fgets(line, sizeof line, f)) {
		const char *s = strstr(line, " soc=");
		const char *tm = strstr(line, " time=");
		if (strstr(line, "point pg_values device=pg map=pgmini ") && s && tm) {
			*soc = atoll(s + 5);
			*t = atoll(tm + 6);
			found = 1;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* The latest time of any pg point in the sim's log after its first
 * `skip` lines, and how many pg points there are there. */
static long long pg_points_after(const char *slog, int skip, long long *max_time)
{
	FILE *f = fopen(slog, "r");
	static char line[65536];
	long long n = 0;
	int i = 0;
	*max_time = 0;
	while (f && fgets(line, sizeof line, f)) {
		if (i++ < skip || !strstr(line, "point pg_values device=pg "))
			continue;
		const char *tm = strstr(line, " time=");
		long long t = tm ? atoll(tm + 6) : 0;
		n++;
		if (t > *max_time)
			*max_time = t;
	}
	if (f)
		fclose(f);
	return n;
}

/* The last line of path holding needle, into buf; 1 if there is one. */
static int last_line(const char *path, const char *needle, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	static char line[65536];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, needle)) {
			snprintf(buf, len, "%s", line);
			found = 1;
		}
	if (f)
		fclose(f);
	return found;
}

/* Lines in path, read as pg_points_after reads them. */
static int lines_of(const char *path)
{
	FILE *f = fopen(path, "r");
	static char line[65536];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		n++;
	if (f)
		fclose(f);
	return n;
}

/* Device health (docs/design.md): a PowerGo battery that stops answering behind a broker
 * that stays up. While it is silent, its last values are never exported as
 * current: InfluxDB gets only points stamped with the time the battery
 * answered (the same time the REST API and the MQTT document give the
 * value), and none once the battery is not answering; the MQTT document
 * says "not_answering" and "stale" and leaves the values out; the REST
 * device document and SIGUSR1 say since when. When it answers again, so do
 * they, and fresh points flow. */
static void test_silent_device(void)
{
	char block[2048], more[512], line[65536];
	struct body b;
	int mb_port = h_free_port(), iport = h_free_port(), hport = h_free_port(), bport;
	pid_t broker = h_broker_start(&bport);
	pid_t ix = sim_influx_log(iport, "sim_silent.log");
	pid_t pg = broker > 0 ? h_sim_powergo(bport, "15020115", "sim_pg_silent.log", NULL) : -1;
	if (!h_ok(broker > 0 && ix > 0 && pg > 0, "silent: mosquitto, sim_influx, sim_powergo"))
		return;
	pid_t sub = subscribe(bport, "sub_silent.log");
	const char *slog = h_path("sim_silent.log"), *mlog = h_path("sub_silent.log");

	snprintf(block, sizeof block,
		 "influxdb = { url = \"http://127.0.0.1:%d\"; version = 2; org = \"my org\";"
		 " bucket = \"energy/raw\"; token = \"s3cret==\"; measurement = \"pg_values\";"
		 " interval = 1; };\n"
		 "mqtt_export = { mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"exp\"; };"
		 " prefix = \"site/values\"; interval = 1; };\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };\n",
		 iport, bport, hport);
	/* Polled every 2 s, one attempt of 500 ms: the battery is "not
	 * answering" within a poll of going silent. */
	snprintf(more, sizeof more,
		 ", { name = \"pg\"; unit_id = 2; map = \"pgmini\"; poll = 2000;"
		 " timeout = 500; retries = 0;"
		 " mqtt = { host = \"127.0.0.1\"; port = %d; };"
		 " powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; }; }",
		 bport);
	pid_t br = h_bridge_start(write_config_more("silent.conf", mb_port, block, more), mb_port,
				  "bridge-silent.log");
	if (!h_ok(br > 0, "silent: the bridge starts")) {
		h_stop(sub, 2000);
		h_stop(pg, 2000);
		h_stop(ix, 2000);
		h_stop(broker, 2000);
		return;
	}
	const char *blog = h_path("bridge-silent.log");

	/* Answering: REST says so, points flow, each stamped no later than
	 * the battery's last answer. */
	h_ok(rest_wait(hport, "/api/v1/devices/pg", "\"health\":\"answering\"", &b),
	     "silent: the battery answers: health answering (%.300s)", b.buf);
	h_ok(wait_line2(slog, "point pg_values device=pg map=pgmini ", " soc="),
	     "silent: its values reach InfluxDB");

	/* Silence, behind a broker that stays up. */
	h_ok(h_sim_tell(bport, "sim/powergo/15020115/mode", "silent", h_path("sim_pg_silent.log"),
			"mode silent", WAIT_MS),
	     "silent: the battery stops answering");
	int na = rest_wait(hport, "/api/v1/devices/pg", "\"health\":\"not_answering\"", &b);
	long long last = num_after(b.buf, NULL, "last_answer"),
		  since = num_after(b.buf, NULL, "not_answering_since");
	h_ok(na && strstr(b.buf, "\"link_up\":true") && last > 0 && since >= last &&
		 since <= (long long)wall_ms(),
	     "silent: REST: link up, health not_answering since %lld, last answer %lld", since,
	     last);
	/* Rounds built before the REST answer may still be on their way: the
	 * next one after it starts the count. */
	int w0 = h_count_lines(slog, "wrote ");
	h_wait_lines(slog, "wrote ", w0 + 2, WAIT_MS);
	int from = lines_of(slog);
	int w1 = h_count_lines(slog, "wrote ");
	h_ok(h_wait_lines(slog, "wrote ", w1 + 4, WAIT_MS),
	     "silent: InfluxDB still gets the memory device's points");
	long long tmax = 0, during = pg_points_after(slog, from, &tmax);
	h_ok(during == 0,
	     "silent: no point of the battery while it is not answering (%lld, latest time %lld, "
	     "last answer %lld)",
	     during, tmax, last);
	/* Every point of the battery ever written is stamped no later than its
	 * last answer: none carries the time it was sent. */
	pg_points_after(slog, 0, &tmax);
	h_ok(tmax > 0 && tmax <= last,
	     "silent: the battery's points carry answer times, the latest %lld <= last answer "
	     "%lld",
	     tmax, last);

	/* The same answer time wherever the value goes. */
	long long soc = -1, soc_t = -1;
	last_pg_soc(slog, &soc, &soc_t);
	int got = rest_get(hport, "/api/v1/devices/pg/registers", &b);
	long long rest_t = num_after(b.buf, "\"name\":\"soc\"", "time");
	h_ok(got && strstr(b.buf, "\"health\":\"not_answering\"") && rest_t == soc_t &&
		 rest_t <= last,
	     "silent: REST registers: soc answered at %lld, the time of its last InfluxDB point "
	     "(%lld)",
	     rest_t, soc_t);
	h_ok(strstr(b.buf, "\"stale\":true") != NULL,
	     "silent: REST registers: the cached values are marked stale");

	/* MQTT: the document says not answering and leaves the values out. */
	h_ok(wait_line2(mlog, "site/values/pg {", "\"health\":\"not_answering\""),
	     "silent: MQTT document: health not_answering");
	last_line(mlog, "site/values/pg {", line, sizeof line);
	char want[128];
	snprintf(want, sizeof want, "\"not_answering_since\":%lld,", since);
	long long mqtt_t = num_after(line, "\"name\":\"soc\"", "time");
	h_ok(strstr(line, "\"health\":\"not_answering\"") && strstr(line, want) &&
		 strstr(line, "\"name\":\"soc\",\"address\":529,\"table\":\"holding\","
			      "\"access\":\"r\",\"raw\":null,\"value\":null") &&
		 strstr(line, "],\"stale\":true}") && mqtt_t == soc_t,
	     "silent: MQTT document: since %lld, soc left out (raw and value null), answered at "
	     "%lld, stale",
	     since, mqtt_t);
	if (!strstr(line, "\"raw\":null,\"value\":null"))
		h_note("mqtt: %.600s", line);
	h_ok(h_dev_counter(br, blog, "pg", "requests") >= 0 &&
		 wait_line2(blog, "pg: unit 2 link up requests ", " health not_answering since 1"),
	     "silent: SIGUSR1: link up, health not_answering since ...");

	/* Back: answering, fresh points with new answer times. */
	h_ok(h_sim_tell(bport, "sim/powergo/15020115/mode", "normal", h_path("sim_pg_silent.log"),
			"mode normal", WAIT_MS),
	     "silent: the battery answers again");
	h_ok(rest_wait(hport, "/api/v1/devices/pg", "\"health\":\"answering\"", &b) &&
		 strstr(b.buf, "\"not_answering_since\":null"),
	     "silent: REST: health answering again");
	int back = 0;
	for (uint64_t end = h_now_ms() + WAIT_MS; h_now_ms() < end && !back; h_sleep_ms(200))
		back = last_pg_soc(slog, &soc, &soc_t) && soc_t > last;
	h_ok(back, "silent: InfluxDB gets the battery's points again, answered after the silence");
	h_ok(wait_line2(mlog, "site/values/pg {", "\"health\":\"answering\"") &&
		 last_line(mlog, "site/values/pg {", line, sizeof line) &&
		 num_after(line, "\"name\":\"soc\"", "raw") >= 0,
	     "silent: MQTT document: answering, soc published again");
	h_ok(h_count_lines(slog, "answer 4") == 0, "silent: no point refused");
	h_ok(h_bridge_stop(br) == 0, "silent: bridge stops cleanly");
	h_stop(sub, 2000);
	h_stop(pg, 2000);
	h_stop(ix, 2000);
	h_stop(broker, 2000);
}

/* --- config errors ------------------------------------------------------- */

static void config_refused(const char *block, const char *want, const char *what)
{
	char out[4096];
	const char *cfg = write_config("bad.conf", 1502, block);
	int rc = h_run_bridge("--check", cfg, out, sizeof out);
	if (!h_ok(rc == 1 && strstr(out, want), "%s", what))
		h_note("rc %d, output: %s", rc, out);
}

static void test_config_errors(void)
{
	config_refused("influxdb = {\n url = \"ftp://x\"; database = \"d\"; };\n",
		       "bad.conf:5: influxdb.url must start with http:// or https://",
		       "influxdb.url: only http and https, at its line");
	config_refused("influxdb = { url = \"http://x:8086\";\n version = 2; org = \"o\"; };\n",
		       "bad.conf:4: influxdb: version 2 needs org, bucket and token",
		       "influxdb version 2 without bucket and token");
	config_refused(
	    "influxdb = { url = \"http://x:8086\"; database = \"d\";\n token = \"t\"; };\n",
	    "bad.conf:5: influxdb.token belongs to InfluxDB version 2", "a v2 key in a v1 group");
	config_refused("influxdb = { url = \"http://x:8086\"; };\n",
		       "bad.conf:4: influxdb needs database", "version 1 without database");
	config_refused("mqtt_export = {\n prefix = \"a/#\"; };\n",
		       "bad.conf:5: mqtt_export.prefix must not contain the MQTT wildcards",
		       "mqtt_export.prefix without wildcards");
	config_refused("mqtt_export = { mqtt = {\n prot = 1; }; };\n",
		       "bad.conf:5:", "an unknown key in mqtt_export.mqtt, at its line");
	char out[4096];
	const char *cfg =
	    write_config("good.conf", 1502,
			 "influxdb = { url = \"https://db.example:8086\"; version = 2;"
			 " org = \"o\"; bucket = \"b\"; token = \"t\"; };\n"
			 "mqtt_export = { mqtt = { host = \"broker.example\"; }; };\n");
	h_ok(h_run_bridge("--check", cfg, out, sizeof out) == 0, "a full export config checks OK");
}

int main(void)
{
	h_init("export");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h_write_file("battery.conf", map_text);
	h_write_file("pgmini.conf", pgmini_text);
	test_config_errors();
	test_influx_v2();
	test_influx_reload();
	test_mqtt();
	test_silent_device();
	test_influx_v1();
	curl_global_cleanup();
	return h_done();
}

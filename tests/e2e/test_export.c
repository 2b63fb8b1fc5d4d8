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
		 "modbus = { listen = \"127.0.0.1\"; port = %d; };\n"
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

static pid_t influx_start(void)
{
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "reporting-disabled = true\n"
		 "bind-address = \"127.0.0.1:%d\"\n"
		 "[meta]\n  dir = \"%s/influx/meta\"\n  logging-enabled = false\n"
		 "[data]\n  dir = \"%s/influx/data\"\n  wal-dir = \"%s/influx/wal\"\n"
		 "  query-log-enabled = false\n"
		 "[monitor]\n  store-enabled = false\n"
		 "[subscriber]\n  enabled = false\n"
		 "[continuous_queries]\n  enabled = false\n"
		 "[http]\n  bind-address = \"127.0.0.1:%d\"\n  auth-enabled = true\n"
		 "  log-enabled = false\n",
		 influx_rpc, h_dir(), h_dir(), h_dir(), influx_http);
	const char *path = h_write_file("influxdb.conf", conf);
	const char *argv[] = {"influxd", "-config", path, NULL};
	pid_t pid = h_spawn(argv, "influxd.log");
	if (pid > 0 && h_wait_port(influx_http, WAIT_MS) < 0) {
		h_note("influxd did not listen on %d; log %s", influx_http, h_path("influxd.log"));
		h_stop(pid, 2000);
		return -1;
	}
	return pid;
}

/* --- InfluxDB 1.x -------------------------------------------------------- */

static void test_influx_v1(void)
{
	struct body b;
	char block[1024], line[2048];
	int mb_port = h_free_port();

	influx_http = h_free_port();
	influx_rpc = h_free_port();
	pid_t ix = influx_start();
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
	ix = influx_start();
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
	test_config_errors();
	test_influx_v2();
	test_influx_reload();
	test_mqtt();
	test_influx_v1();
	curl_global_cleanup();
	return h_done();
}

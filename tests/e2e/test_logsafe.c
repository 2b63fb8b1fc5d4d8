/* What peers say stays on its own log line, and credentials in a URL are
 * shown nowhere:
 *
 * 1. The bridge logs to "the journal" (JOURNAL_STREAM names its stderr, so
 *    every line starts with its own "<N>" priority) and exports to an
 *    InfluxDB (tests/sim/sim_influx --hostile 500) whose error text carries
 *    raw line ends followed by "<3>forged: ...", "<6>info: ...", terminal
 *    escapes and a byte that is not UTF-8. No line of the log starts with
 *    the forged text, every line starts with a priority of the bridge's, and
 *    the text is there, on the bridge's own line. The same for a Venus
 *    battery's MQTT answer that the bridge drops and logs (at debug level):
 *    "ret=1<LF><3>forged ...".
 * 2. The influxdb url holds "admin:s3cretpw@": GET /api/v1/status (open
 *    without login under read_only_without_auth), the log (the failure, the
 *    SIGUSR1 dump) and --check of a config that refuses the URL show
 *    "***@" and never the password. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define PASSWORD "s3cretpw"

/* Lines of path that start with prefix (n of them), and whether every line
 * starts with "<digit>". */
static int lines_starting(const char *path, const char *prefix, int *all_prio)
{
	FILE *f = fopen(path, "r");
	char line[8192];
	int n = 0;
	*all_prio = 1;
	while (f && fgets(line, sizeof line, f)) {
		n += strncmp(line, prefix, strlen(prefix)) == 0;
		if (!(line[0] == '<' && line[1] >= '0' && line[1] <= '7' && line[2] == '>'))
			*all_prio = 0;
	}
	if (f)
		fclose(f);
	return n;
}

/* Does the file hold byte c? */
static int has_byte(const char *path, int c)
{
	FILE *f = fopen(path, "rb");
	int ch, found = 0;
	while (f && (ch = fgetc(f)) != EOF && !found)
		found = ch == c;
	if (f)
		fclose(f);
	return found;
}

int main(void)
{
	h_init("logsafe");
	int mport = h_free_port(), hport = h_free_port(), iport = h_free_port(), bport;
	pid_t broker = h_broker_start(&bport);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	char p[16], text[2048];

	snprintf(p, sizeof p, "%d", iport);
	const char *sargv[] = {h_bin("tests/sim/sim_influx"),
			       "--port",
			       p,
			       "--org",
			       "o",
			       "--bucket",
			       "b",
			       "--token",
			       "t",
			       "--hostile",
			       "500",
			       NULL};
	pid_t sim = h_spawn(sargv, "sim_influx.log");
	if (!h_ok(sim > 0 && h_wait_port(iport, 5000) == 0, "hostile InfluxDB server started"))
		return h_done();

	snprintf(
	    text, sizeof text,
	    "server = { listen = \"127.0.0.1\"; port = %d; };\n"
	    "maps_path = [ \"%s\" ];\n"
	    "log_level = \"debug\";\n"
	    "devices = ( { name = \"scratch\"; unit_id = 1; map = \"scratch\"; memory = { }; },\n"
	    "  { name = \"venus\"; unit_id = 2; map = \"venus\"; poll = 0;\n"
	    "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
	    "    venus = { type = \"HMG-50\"; id = \"0123456789ab\"; }; } );\n"
	    "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };\n"
	    "influxdb = { url = \"http://admin:" PASSWORD "@127.0.0.1:%d\"; version = 2;\n"
	    "  org = \"o\"; bucket = \"b\"; token = \"t\"; interval = 1; timeout = 2000; };\n",
	    mport, h_maps_dir(), bport, hport, iport);
	const char *conf = h_write_file("logsafe.conf", text);

	/* The journal: JOURNAL_STREAM names the log file the bridge's stderr
	 * goes to (h_spawn truncates the same file). */
	const char *log = h_write_file("bridge.log", "");
	struct stat st;
	char js[64];
	stat(log, &st);
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	pid_t b = h_bridge_start(conf, mport, "bridge.log");
	unsetenv("JOURNAL_STREAM");
	if (!h_ok(b > 0, "bridge exporting to it started"))
		return h_done();

	h_ok(h_wait_lines(log, "HTTP 500", 1, 15000), "the exporter logged the server's failure");
	h_ok(h_file_contains(log,
			     "boom <3>forged: the bridge was told to stop  <6>info: forged too "
			     "\\\\  [31mred [0m  "),
	     "the server's text is on the bridge's line, its line ends made spaces");
	/* A Venus answer nobody asked for: dropped, and logged. */
	h_wait_lines(log, "venus: link up", 1, 10000);
	h_mqtt_pub(bport, "hame_energy/HMG-50/device/0123456789ab/ctrl",
		   "ret=1\n<3>forged venus\r\n<6>info: venus too");
	h_ok(h_wait_lines(log, "<3>forged venus\\r\\n<6>info: venus too", 1, 10000),
	     "the Venus answer is logged on the bridge's line, escaped");
	int all_prio;
	h_ok(lines_starting(log, "<3>forged", &all_prio) == 0 &&
		 lines_starting(log, "<6>info: forged", &all_prio) == 0 &&
		 lines_starting(log, "<6>info: venus too", &all_prio) == 0,
	     "no log line starts with the forged text");
	h_ok(lines_starting(log, "<", &all_prio) > 0 && all_prio,
	     "every log line starts with a priority of the bridge's");
	h_ok(!has_byte(log, 0x1b) && !has_byte(log, 0xff) && !has_byte(log, '\r'),
	     "no terminal escape, stray byte or carriage return reached the log");

	/* The status document, open to anyone here. */
	char url[128], out[16384];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/status", hport);
	const char *cargv[] = {"curl", "-s", "--max-time", "20", url, NULL};
	h_run(cargv, out, sizeof out, 25000);
	h_ok(strstr(out, "\"exports\"") && !strstr(out, PASSWORD) &&
		 strstr(out, "http://***@127.0.0.1:"),
	     "GET /api/v1/status shows the target as http://***@127.0.0.1:...");
	h_ok(strstr(out, "boom <3>forged") && !strchr(out, 0x1b) && !strchr(out, (char)0xff),
	     "its last_error holds the server's text on one line, no raw escape or stray byte");

	h_signal(b, SIGUSR1);
	h_ok(h_wait_lines(log, "export influxdb", 1, 10000), "SIGUSR1 dumps the exporter");
	h_ok(h_file_contains(log, "http://***@127.0.0.1:") && !h_file_contains(log, PASSWORD),
	     "the log shows the target as http://***@... and never the password");
	h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	h_stop(sim, 5000);
	h_stop(broker, 5000);

	/* --check of a URL it refuses names the key, not the password. */
	snprintf(text, sizeof text,
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"scratch\"; unit_id = 1; map = \"scratch\"; memory = { }; "
		 "} );\n"
		 "influxdb = { url = \"http://admin:" PASSWORD "@127.0.0.1:1/?db=x\"; "
		 "database = \"x\"; };\n",
		 h_maps_dir());
	int rc = h_run_bridge("--check", h_write_file("bad.conf", text), out, sizeof out);
	h_ok(rc != 0 && strstr(out, "bad.conf:3") && strstr(out, "influxdb.url") &&
		 strstr(out, "***@127.0.0.1:1/?db=x") && !strstr(out, PASSWORD),
	     "--check refuses the URL without showing the password (%s)", out);
	return h_done();
}

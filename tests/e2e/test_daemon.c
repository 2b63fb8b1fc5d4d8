/* The daemon as an operator meets it: the command line (--version, --check,
 * --print-map), config errors with file:line, SIGHUP reload (unchanged
 * devices keep their state, a broken config is refused), SIGUSR1 counters,
 * status documents over MQTT read back from a real broker, and the drop of
 * root privileges after binding. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static char out[65536];

static const char *modbridge(void)
{
	return h_bin("modbridge");
}

static void cli(void)
{
	const char *ver[] = {modbridge(), "--version", NULL};
	h_ok(h_run(ver, out, sizeof out, 5000) == 0 && strncmp(out, "modbridge ", 10) == 0,
	     "--version prints the version (%.40s)", out);

	const char *chk[] = {modbridge(), "--check", "-c", "init/modbridge.conf.example", NULL};
	int rc = h_run(chk, out, sizeof out, 5000);
	h_ok(rc == 0 && strstr(out, "OK, 4 devices"), "--check passes the example config: %.200s",
	     out);

	/* A config error names file and line. */
	const char *bad =
	    h_write_file("bad.conf", "server = { port = 1502; };\n"
				     "maps_path = [ \"maps\" ];\n"
				     "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\";\n"
				     "  memory = {}; colour = \"red\"; } );\n");
	const char *bchk[] = {modbridge(), "--check", "-c", bad, NULL};
	rc = h_run(bchk, out, sizeof out, 5000);
	char want[600];
	snprintf(want, sizeof want, "%s:4: ", bad);
	h_ok(rc == 1 && strncmp(out, want, strlen(want)) == 0 && strstr(out, "colour"),
	     "a broken config: exit 1 and \"file:line: reason\" (%.200s)", out);

	/* A device whose protocol block does not fit its map. */
	const char *mism = h_write_file(
	    "mismatch.conf", "maps_path = [ \"maps\" ];\n"
			     "devices = (\n"
			     " { name = \"a\"; unit_id = 1; map = \"powergo\";\n"
			     "   mqtt = { host = \"127.0.0.1\"; };\n"
			     "   venus = { type = \"HMG-50\"; id = \"0123456789ab\"; }; } );\n");
	const char *mchk[] = {modbridge(), "--check", "-c", mism, NULL};
	rc = h_run(mchk, out, sizeof out, 5000);
	snprintf(want, sizeof want, "%s:3: ", mism);
	h_ok(rc == 1 && strncmp(out, want, strlen(want)) == 0 && strstr(out, "powergo"),
	     "a venus block on a powergo map is refused with file:line (%.200s)", out);

	/* A broken map is reported with the map file's line. */
	char dir[600];
	snprintf(dir, sizeof dir, "%s/maps", h_dir());
	const char *mk[] = {"mkdir", "-p", dir, NULL};
	h_run(mk, NULL, 0, 2000);
	h_write_file("maps/broken.conf",
		     "name = \"broken\"; protocol = \"memory\"; trust = \"generated\";\n"
		     "registers = (\n"
		     "  { address = 1; name = \"x\"; type = \"float\"; }\n"
		     ");\n");
	char conf[1200];
	snprintf(conf, sizeof conf,
		 "maps_path = [ \"%s\" ];\ndevices = ( { name = \"a\"; unit_id = 1; map = "
		 "\"broken\"; } );\n",
		 dir);
	const char *bm = h_write_file("brokenmap.conf", conf);
	const char *bmchk[] = {modbridge(), "--check", "-c", bm, NULL};
	rc = h_run(bmchk, out, sizeof out, 5000);
	h_ok(rc == 1 && strstr(out, "broken.conf:3: ") && strstr(out, "float"),
	     "a broken map is reported as map-file:line (%.200s)", out);

	/* Lint problems fail --check too. */
	h_write_file("maps/overlap.conf",
		     "name = \"overlap\"; protocol = \"memory\"; trust = \"generated\";\n"
		     "registers = (\n"
		     "  { address = 1; name = \"x\"; type = \"uint32\"; },\n"
		     "  { address = 2; name = \"y\"; }\n"
		     ");\n");
	snprintf(conf, sizeof conf,
		 "maps_path = [ \"%s\" ];\ndevices = ( { name = \"a\"; unit_id = 1; map = "
		 "\"overlap\"; } );\n",
		 dir);
	const char *ol = h_write_file("overlap.conf", conf);
	const char *olchk[] = {modbridge(), "--check", "-c", ol, NULL};
	rc = h_run(olchk, out, sizeof out, 5000);
	h_ok(rc == 1 && strstr(out, "overlap.conf:4: "),
	     "overlapping registers fail --check (%.200s)", out);

	const char *pm[] = {modbridge(), "--print-map", "powergo", "--markdown", NULL};
	rc = h_run(pm, out, sizeof out, 5000);
	h_ok(rc == 0 && strstr(out, "529") && strstr(out, "soc") &&
		 strstr(out, "structure-verified"),
	     "--print-map powergo --markdown is the register reference");
	const char *pj[] = {modbridge(), "--print-map", "venus", "--json", NULL};
	rc = h_run(pj, out, sizeof out, 5000);
	h_ok(rc == 0 && out[0] == '{' && strstr(out, "\"registers\""), "--print-map venus --json");
	const char *pn[] = {modbridge(), "--print-map", "nosuchmap", NULL};
	rc = h_run(pn, out, sizeof out, 5000);
	h_ok(rc == 1 && strstr(out, "nosuchmap"),
	     "--print-map of an unknown map fails and says which");
	/* Without -c the daemon reads SYSCONFDIR/modbridge/modbridge.conf
	 * (test_cmdline checks that); usage errors are the options'. */
	const char *nc[] = {modbridge(), "--no-such-option", NULL};
	h_ok(h_run(nc, out, sizeof out, 5000) == 2, "an unknown option is a usage error (exit 2)");
}

static const char *memconf(int port, const char *devices, const char *extra)
{
	static char buf[4096];
	snprintf(buf, sizeof buf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n%s\ndevices = (\n%s\n);\n",
		 port, h_maps_dir(), extra ? extra : "", devices);
	return buf;
}

#define DEV_A "{ name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; }"
#define DEV_B "{ name = \"b\"; unit_id = 2; map = \"scratch\"; memory = {}; }"
#define DEV_C "{ name = \"c\"; unit_id = 3; map = \"scratch\"; memory = {}; }"

static int read1(int port, int unit, int addr, uint16_t *v)
{
	modbus_t *m = h_modbus(port, unit);
	if (!m)
		return -1;
	int rc = modbus_read_registers(m, addr, 1, v);
	int err = rc < 0 ? errno : 0;
	modbus_close(m);
	modbus_free(m);
	return rc == 1 ? 0 : err;
}

static void reload(void)
{
	int port = h_free_port();
	const char *path = h_write_file("reload.conf", memconf(port, DEV_A ",\n" DEV_B, NULL));
	pid_t pid = h_bridge_start(path, port, "reload.log");
	if (!h_ok(pid > 0, "bridge starts with devices a and b"))
		return;
	modbus_t *m = h_modbus(port, 1);
	h_ok(m && modbus_write_register(m, 0, 555) == 1, "write 555 to a's register 0");
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	uint16_t v = 0;
	h_ok(read1(port, 2, 0, &v) == 0 && v == 100, "b serves its default");

	/* a unchanged, b removed, c added */
	h_write_file("reload.conf", memconf(port, DEV_A ",\n" DEV_C, NULL));
	h_signal(pid, SIGHUP);
	h_wait_lines(h_path("reload.log"), "reloaded: ", 1, 10000);
	v = 0;
	int got = read1(port, 1, 0, &v);
	h_ok(got == 0 && v == 555, "after reload a kept its state (%u)", v);
	int err = read1(port, 2, 0, &v);
	h_ok(err == EMBXGPATH, "removed device b answers 0A (%s)", modbus_strerror(err));
	h_ok(read1(port, 3, 0, &v) == 0 && v == 100, "added device c serves");
	h_ok(h_file_contains(h_path("reload.log"), "reloaded: 2 devices"), "the log says reloaded");

	/* a changed (read_only) is recreated: its state is the default again */
	h_write_file("reload.conf",
		     memconf(port,
			     "{ name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; "
			     "read_only = true; },\n" DEV_C,
			     NULL));
	h_signal(pid, SIGHUP);
	h_wait_lines(h_path("reload.log"), "reloaded: ", 2, 10000);
	v = 0;
	got = read1(port, 1, 0, &v);
	h_ok(got == 0 && v == 100, "a changed device is recreated (%u)", v);

	/* a broken config is refused and the running one stays */
	h_write_file("reload.conf", "devices = ( { name = \"a\"; unit_id = 1; map = ; } );\n");
	h_signal(pid, SIGHUP);
	h_wait_lines(h_path("reload.log"), "reload refused", 1, 10000);
	h_ok(h_file_contains(h_path("reload.log"), "reload refused") &&
		 h_file_contains(h_path("reload.log"), "reload.conf:1: "),
	     "a broken config is refused with file:line");
	h_ok(read1(port, 3, 0, &v) == 0 && v == 100, "the running config still serves");

	h_signal(pid, SIGUSR1);
	h_ok(h_wait_lines(h_path("reload.log"), "c: unit 3 link up requests", 1, 10000),
	     "SIGUSR1 prints each device's counters");
	h_ok(h_bridge_stop(pid) == 0, "bridge exits 0 after reloads");
}

static void privileges(void)
{
	if (geteuid() != 0) {
		h_note("not root: privilege drop not tested");
		return;
	}
	int port = h_free_port();
	const char *path = h_write_file("user.conf", memconf(port, DEV_A, "user = \"nobody\";"));
	pid_t pid = h_bridge_start(path, port, "user.log");
	if (!h_ok(pid > 0, "bridge starts as root with user = nobody"))
		return;
	char status[64], line[256];
	snprintf(status, sizeof status, "/proc/%d/status", (int)pid);
	int uid = -1, euid = -1;
	/* It binds first and drops right after: under valgrind that takes a
	 * moment, so look until it has happened (bounded). */
	for (uint64_t end = h_now_ms() + 10000; h_now_ms() < end; h_sleep_ms(50)) {
		FILE *f = fopen(status, "r");
		while (f && fgets(line, sizeof line, f))
			if (strncmp(line, "Uid:", 4) == 0)
				sscanf(line + 4, "%d %d", &uid, &euid);
		if (f)
			fclose(f);
		if (uid != 0 && euid != 0)
			break;
	}
	h_ok(uid == 65534 && euid == 65534, "after binding it runs as nobody (uid %d euid %d)", uid,
	     euid);
	uint16_t v = 0;
	h_ok(read1(port, 1, 0, &v) == 0 && v == 100, "and still serves");
	h_ok(h_bridge_stop(pid) == 0, "and exits 0");
}

/* Reads the retained status with sub (mosquitto_sub -C 1) until it starts
 * with want, for up to 10 s: the bridge connects to the broker after it
 * serves Modbus, later still under valgrind. 1 when it did; out holds the
 * last reading. */
static int status_becomes(const char *const sub[], const char *want, char *out, size_t outlen)
{
	uint64_t end = h_now_ms() + 10000;
	do {
		h_run(sub, out, outlen, 5000);
		if (strncmp(out, want, strlen(want)) == 0)
			return 1;
		h_sleep_ms(100);
	} while (h_now_ms() < end);
	return 0;
}

static void status(void)
{
	int bport;
	pid_t broker = h_broker_start(&bport);
	if (!h_ok(broker > 0, "mosquitto starts"))
		return;
	int port = h_free_port();
	char extra[256];
	snprintf(extra, sizeof extra,
		 "status = { mqtt = { host = \"127.0.0.1\"; port = %d; }; prefix = \"mbtest\"; "
		 "interval = 1; };",
		 bport);
	const char *path = h_write_file("status.conf", memconf(port, DEV_A, extra));
	pid_t pid = h_bridge_start(path, port, "status.log");
	if (!h_ok(pid > 0, "bridge with a status group starts"))
		return;
	char p[16];
	snprintf(p, sizeof p, "%d", bport);
	const char *sub[] = {"mosquitto_sub",
			     "-h",
			     "127.0.0.1",
			     "-p",
			     p,
			     "-t",
			     "mbtest/#",
			     "-v",
			     "-C",
			     "3",
			     "-W",
			     "5",
			     NULL};
	h_run(sub, out, sizeof out, 8000);
	h_ok(strstr(out, "mbtest/status online") != NULL, "<prefix>/status is online (retained)");
	h_ok(strstr(out, "mbtest/device/a {\"name\":\"a\",\"unit_id\":1") != NULL &&
		 strstr(out, "\"link_up\":true") && strstr(out, "\"trust\":"),
	     "each device publishes a JSON document: %.300s", out);
	h_ok(h_bridge_stop(pid) == 0, "bridge stops");
	const char *sub1[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", p,   "-t",
			      "mbtest/status", "-C", "1",	  "-W", "3", NULL};
	h_run(sub1, out, sizeof out, 5000);
	h_ok(strncmp(out, "offline", 7) == 0, "after a clean stop the status is offline (%.20s)",
	     out);

	/* killed without a goodbye: the broker publishes the last will */
	pid = h_bridge_start(path, port, "status2.log");
	h_ok(status_becomes(sub1, "online", out, sizeof out),
	     "restarted bridge is online again (%.20s)", out);
	h_signal(pid, SIGKILL);
	h_stop(pid, 2000);
	h_ok(status_becomes(sub1, "offline", out, sizeof out),
	     "a killed bridge is offline by its last will (%.20s)", out);
	h_stop(broker, 2000);
}

/* Messages on topic within wait_s seconds (mosquitto_sub -C max -W wait_s),
 * retained ones included. */
static int count_msgs(int bport, const char *topic, int max, int wait_s)
{
	char p[16], c[16], w[16];
	snprintf(p, sizeof p, "%d", bport);
	snprintf(c, sizeof c, "%d", max);
	snprintf(w, sizeof w, "%d", wait_s);
	const char *sub[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", p, "-t",
			     topic,	      "-C", c,		 "-W", w, NULL};
	h_run(sub, out, sizeof out, (wait_s + 3) * 1000);
	int n = 0;
	for (const char *q = out; (q = strstr(q, "{\"name\":")); q++)
		n++;
	return n;
}

static const char *status_conf(int port, int bport, const char *dev, const char *prefix,
			       int interval)
{
	char extra[256];
	snprintf(extra, sizeof extra,
		 "status = { mqtt = { host = \"127.0.0.1\"; port = %d; }; prefix = \"%s\"; "
		 "interval = %d; };",
		 bport, prefix, interval);
	return memconf(port, dev, extra);
}

/* A reload that replaces every device frees the config generation the
 * status publisher was started from: its next tick must not read it (the
 * sanitizer and valgrind builds abort or report here). A changed status
 * block takes effect on reload. */
static void status_reload(void)
{
	int bport;
	pid_t broker = h_broker_start(&bport);
	if (!h_ok(broker > 0, "mosquitto starts for the status reload"))
		return;
	int port = h_free_port();
	const char *path =
	    h_write_file("sreload.conf", status_conf(port, bport, DEV_A, "mbreload", 1));
	pid_t pid = h_bridge_start(path, port, "sreload.log");
	if (!h_ok(pid > 0, "bridge with status, interval 1 s, starts")) {
		h_stop(broker, 2000);
		return;
	}
	char p[16];
	snprintf(p, sizeof p, "%d", bport);
	const char *suba[] = {"mosquitto_sub",	   "-h", "127.0.0.1", "-p", p,	 "-t",
			      "mbreload/device/a", "-C", "1",	      "-W", "3", NULL};
	h_ok(status_becomes(suba, "{\"name\":\"a\"", out, sizeof out),
	     "device a's status document is published (%.40s)", out);

	/* Every device replaced: the first generation is freed. */
	h_write_file("sreload.conf", status_conf(port, bport, DEV_B, "mbreload", 1));
	h_signal(pid, SIGHUP);
	h_ok(h_wait_lines(h_path("sreload.log"), "reloaded: ", 1, 10000),
	     "reload replacing every device");
	int n = count_msgs(bport, "mbreload/device/b", 3, 6);
	h_ok(n == 3, "status ticks go on for the new device after the reload (%d of 3)", n);
	h_ok(h_alive(pid), "the bridge is alive after status ticks on a freed generation");

	/* A new prefix (and a long interval): a new link, online under it. */
	h_write_file("sreload.conf", status_conf(port, bport, DEV_B, "mbnew", 3600));
	h_signal(pid, SIGHUP);
	h_ok(h_wait_lines(h_path("sreload.log"), "reloaded: ", 2, 10000), "reload to prefix mbnew");
	const char *subs[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", p,   "-t",
			      "mbnew/status",  "-C", "1",	  "-W", "3", NULL};
	h_ok(status_becomes(subs, "online", out, sizeof out),
	     "after the reload <new prefix>/status is online (%.20s)", out);
	n = count_msgs(bport, "mbnew/device/b", 1, 3);
	h_ok(n == 1, "and the device document is published under the new prefix");
	const char *sold[] = {"mosquitto_sub",	 "-h", "127.0.0.1", "-p", p,   "-t",
			      "mbreload/status", "-C", "1",	    "-W", "3", NULL};
	h_ok(status_becomes(sold, "offline", out, sizeof out),
	     "the old prefix's status says offline (%.20s)", out);

	/* Only the interval changes: 3600 s -> 1 s. */
	h_write_file("sreload.conf", status_conf(port, bport, DEV_B, "mbnew", 1));
	h_signal(pid, SIGHUP);
	h_ok(h_wait_lines(h_path("sreload.log"), "reloaded: ", 3, 10000), "reload to interval 1");
	n = count_msgs(bport, "mbnew/device/b", 3, 6);
	h_ok(n == 3, "a changed interval takes effect (%d of 3 documents)", n);
	h_ok(h_bridge_stop(pid) == 0, "bridge exits 0 after the status reloads");
	h_stop(broker, 2000);
}

int main(void)
{
	h_init("daemon");
	cli();
	reload();
	privileges();
	status();
	status_reload();
	return h_done();
}

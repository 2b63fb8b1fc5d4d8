/* The OpenWrt init script's UCI side (init/openwrt/modbridge/files/
 * modbridge.init): sample UCI files under tests/openwrt/ run through its
 * start_service, reload_service and service_triggers with rc.common, UCI
 * (config_load, uci_load_validate) and procd replaced by tests/openwrt/
 * stubs.sh. Asserts the libconfig file it generates (and that the built
 * daemon's --check accepts it), the instance procd would get (command line,
 * both mDNS services), that a bad UCI value starts nothing, the hand-written
 * config option, and shellcheck over the scripts. every.uci: every feature
 * UCI can say (modbus devices, http, both exporters, default_unit) in
 * sections not named main; hostile.uci: values with quotes, a line break,
 * $(...), backticks, globs and spaces, which must reach the generated file
 * as the exact strings (read back with libconfig) without running anything;
 * the hotplug script that gives a replugged adapter to group dialout; the
 * package Makefile's feed conventions, checked statically. */
#include <grp.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define INIT "init/openwrt/modbridge/files/modbridge.init"

static char out[65536], conf[65536];

/* Run FUNCTION of the init script against tests/openwrt/NAME.uci in its own
 * folder under the test's; the output (procd's calls, "rc N") in out. The
 * folder is returned (static rotation of h_path). */
static const char *run(const char *name, const char *fn, const char *running)
{
	char uci[256], dir[256];
	snprintf(uci, sizeof uci, "tests/openwrt/%s.uci", name);
	snprintf(dir, sizeof dir, "%s/%s", h_dir(), name);
	if (running)
		setenv("RUNNING", running, 1);
	else
		unsetenv("RUNNING");
	const char *argv[] = {"sh",
			      h_repo_file("tests/openwrt/run_init.sh"),
			      h_repo_file(uci),
			      dir,
			      h_bin("modbridge"),
			      h_maps_dir(),
			      fn,
			      NULL};
	h_run(argv, out, sizeof out, 30000);
	unsetenv("RUNNING");
	return h_path(name);
}

/* The generated config of a run into conf ("" when there is none). */
static int read_conf(const char *dir)
{
	char path[512];
	snprintf(path, sizeof path, "%s/modbridge.conf", dir);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(conf, 1, sizeof conf - 1, f) : 0;
	conf[n] = '\0';
	if (f)
		fclose(f);
	return f != NULL;
}

static int check_conf(const char *dir, const char *want)
{
	char path[512], res[4096];
	snprintf(path, sizeof path, "%s/modbridge.conf", dir);
	int rc = h_run_bridge("--check", path, res, sizeof res);
	if (rc != 0 || !strstr(res, want)) {
		h_note("--check: %s", res);
		return 0;
	}
	return 1;
}

static void full(void)
{
	char want[1024];
	const char *dir = run("full", "start_service", NULL);
	h_ok(strstr(out, "rc 0") != NULL, "full.uci: start_service returns 0");
	snprintf(want, sizeof want, "param command %s -c %s/modbridge.conf --syslog",
		 h_bin("modbridge"), dir);
	h_ok(strstr(out, want) != NULL, "full.uci: procd runs modbridge -c <generated> --syslog");
	h_ok(strstr(out, "mdns modbus tcp 1502 daemon=modbridge") &&
		 strstr(out, "mdns mbap tcp 1502 daemon=modbridge"),
	     "full.uci: both _modbus._tcp and _mbap._tcp announced on UCI's port 1502");
	h_ok(strstr(out, "param respawn") && strstr(out, "param stderr 1"),
	     "full.uci: respawn, stderr to the log");
	if (!h_ok(read_conf(dir), "full.uci: the libconfig file is generated"))
		h_note("%s", out);
	h_ok(strstr(conf, "listen = \"127.0.0.1\"; port = 1502;") &&
		 strstr(conf, "allow = [ \"127.0.0.1\", \"192.168.1.0/24\", \"fd00::/8\" ];") &&
		 strstr(conf, "user = \"nobody\"; log_level = \"debug\";") &&
		 strstr(conf, "defaults = { timeout = 4000; retries = 1; };") &&
		 strstr(conf, "prefix = \"site/modbridge\"; interval = 30;"),
	     "full.uci: the global section becomes modbus, user, log_level, defaults, status");
	h_ok(strstr(conf, "password = \"se\\\"cr\\\\et\";") != NULL,
	     "full.uci: a password with \" and \\ is escaped for libconfig");
	h_ok(strstr(conf, "serial = 3123456789L;") && strstr(conf, "name = \"inverter\""),
	     "full.uci: a serial above 2^31 gets libconfig's L; `option name` names an "
	     "anonymous section");
	h_ok(!strstr(conf, "\"old\""), "full.uci: a device with enabled 0 is left out");
	h_ok(check_conf(dir, ": OK, 4 devices"), "full.uci: modbridge --check accepts the result");

	dir = run("full", "reload_service", h_path("full/modbridge.conf"));
	h_ok(strstr(out, "signal modbridge main HUP") && !strstr(out, "restart-via-start"),
	     "reload, same config file running: regenerate, --check, SIGHUP through procd");
	run("full", "reload_service", "/other.conf");
	h_ok(strstr(out, "restart-via-start") && !strstr(out, "signal"),
	     "reload while another file runs: re-registered through start");
}

static void defaults(void)
{
	const char *dir = run("default", "start_service", NULL);
	read_conf(dir);
	h_ok(strstr(conf, "listen = \"0.0.0.0\"; port = 502;") &&
		 strstr(conf, "user = \"modbridge\"; log_level = \"info\";"),
	     "default.uci: 0.0.0.0:502, the dedicated user modbridge, level info");
	/* The package creates the user; this machine may not have it. */
	int with_user = strstr(out, "rc 0") && strstr(out, "mdns modbus tcp 502") &&
			strstr(out, "mdns mbap tcp 502");
	int without = strstr(out, "rc 1") && strstr(out, "user \"modbridge\" does not exist") &&
		      !strstr(out, "instance");
	if (!h_ok(with_user || without,
		  "default.uci: started on 502 with mDNS, or (no user modbridge here) refused "
		  "with --check's message"))
		h_note("%s", out);

	dir = run("disabled", "start_service", NULL);
	h_ok(strstr(out, "rc 0") && !strstr(out, "instance") && read_conf(dir),
	     "disabled.uci: generated, but no instance");
}

static void refused(void)
{
	const char *dir = run("bad", "start_service", NULL);
	h_ok(strstr(out, "rc 1") && strstr(out, "unit_id='300'") && !strstr(out, "instance"),
	     "bad.uci: unit_id 300 fails validation, nothing is started");
	h_ok(!read_conf(dir), "bad.uci: no config file is left behind");
	run("bad", "reload_service", h_path("bad/modbridge.conf"));
	h_ok(strstr(out, "rc 1") && !strstr(out, "signal"),
	     "bad.uci: a reload is refused, the running daemon is not signalled");
	run("badlevel", "start_service", NULL);
	h_ok(strstr(out, "rc 1") && strstr(out, "log_level='loud'") && !strstr(out, "instance"),
	     "badlevel.uci: log_level loud fails validation, nothing is started");
}

static void handwritten(void)
{
	char text[1024], want[1024];
	snprintf(text, sizeof text,
		 "maps_path = \"%s\";\nserver = {\n  listen = \"127.0.0.1\";\n  port = 1503;\n};\n"
		 "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n"
		 "http = {\n  port = 18502;\n  users = ( { name = \"a\"; ha1 = "
		 "\"0123456789abcdef0123456789abcdef\"; } );\n};\n",
		 h_maps_dir());
	char dirpath[512];
	snprintf(dirpath, sizeof dirpath, "%s/handwritten", h_dir());
	const char *mk[] = {"mkdir", "-p", dirpath, NULL};
	h_run(mk, NULL, 0, 5000);
	h_write_file("handwritten/site.conf", text);
	const char *dir = run("handwritten", "start_service", NULL);
	snprintf(want, sizeof want, "-c %s/site.conf --syslog", dir);
	h_ok(strstr(out, "rc 0") && strstr(out, want),
	     "handwritten.uci: option config runs that file as it is");
	h_ok(strstr(out, "mdns modbus tcp 1503") && strstr(out, "mdns mbap tcp 1503"),
	     "handwritten.uci: mDNS announces the file's modbus port (1503), not UCI's");
	h_ok(strstr(out, "mdns http tcp 18502 daemon=modbridge path=/") != NULL,
	     "handwritten.uci: mDNS announces the web interface on the http group's port");
	h_ok(!read_conf(dir), "handwritten.uci: nothing generated");
}

/* A string of the generated file by libconfig path, or NULL. */
static const char *lc_str(config_t *c, const char *path)
{
	const char *v = NULL;
	return config_lookup_string(c, path, &v) ? v : NULL;
}

static int lc_int(config_t *c, const char *path)
{
	int v = -1;
	return config_lookup_int(c, path, &v) ? v : -1;
}

static int lc_is(config_t *c, const char *path, const char *want)
{
	const char *v = lc_str(c, path);
	if (v && strcmp(v, want) == 0)
		return 1;
	h_note("%s: \"%s\", not \"%s\"", path, v ? v : "(none)", want);
	return 0;
}

static void every(void)
{
	const char *dir = run("every", "start_service", NULL);
	h_ok(strstr(out, "rc 0") != NULL,
	     "every.uci: start_service returns 0 (sections not named main)");
	if (!h_ok(read_conf(dir), "every.uci: the libconfig file is generated"))
		h_note("%s", out);
	h_ok(check_conf(dir, ": OK, 2 devices"), "every.uci: modbridge --check accepts the result");
	config_t c;
	config_init(&c);
	char path[512];
	snprintf(path, sizeof path, "%s/modbridge.conf", dir);
	if (!h_ok(config_read_file(&c, path) == CONFIG_TRUE, "every.uci: libconfig reads it")) {
		config_destroy(&c);
		return;
	}
	h_ok(lc_is(&c, "server.default_unit", "meter") &&
		 lc_int(&c, "defaults.client_wait") == 2500,
	     "every.uci: default_unit and client_wait");
	h_ok(lc_is(&c, "devices.[0].modbus.device", "/dev/ttyUSB0") &&
		 lc_int(&c, "devices.[0].modbus.baud") == 19200 &&
		 lc_is(&c, "devices.[0].modbus.parity", "even") &&
		 lc_int(&c, "devices.[0].modbus.data_bits") == 8 &&
		 lc_int(&c, "devices.[0].modbus.stop_bits") == 1 &&
		 lc_int(&c, "devices.[0].modbus.slave") == 3 &&
		 lc_int(&c, "devices.[0].modbus.gap") == 25,
	     "every.uci: a serial modbus device with its line settings and bus gap");
	h_ok(lc_is(&c, "devices.[1].modbus.host", "192.168.1.40") &&
		 lc_int(&c, "devices.[1].modbus.port") == 5020 &&
		 lc_int(&c, "devices.[1].modbus.unit") == 2 &&
		 lc_int(&c, "devices.[1].passthrough_cache") == 4096,
	     "every.uci: a modbus TCP device");
	int ro = 0;
	config_lookup_bool(&c, "http.read_only_without_auth", &ro);
	h_ok(lc_int(&c, "http.port") == 18502 && lc_is(&c, "http.realm", "site") &&
		 lc_is(&c, "http.algorithm", "MD5") && ro &&
		 lc_is(&c, "http.users.[0].name", "admin") &&
		 lc_is(&c, "http.users.[0].ha1", "0123456789abcdef0123456789abcdef") &&
		 lc_is(&c, "http.users.[1].name", "viewer"),
	     "every.uci: http with realm, read-only flag and users as name:ha1");
	int retain = 0;
	config_lookup_bool(&c, "mqtt_export.retain", &retain);
	h_ok(lc_is(&c, "mqtt_export.mqtt.host", "192.168.1.10") &&
		 lc_int(&c, "mqtt_export.mqtt.port") == 1884 &&
		 lc_is(&c, "mqtt_export.prefix", "site/values") &&
		 lc_int(&c, "mqtt_export.interval") == 30 && retain,
	     "every.uci: mqtt_export");
	h_ok(lc_is(&c, "influxdb.url", "http://192.168.1.10:8086") &&
		 lc_is(&c, "influxdb.database", "energy") &&
		 lc_is(&c, "influxdb.measurement", "site") && lc_int(&c, "influxdb.queue") == 100 &&
		 lc_int(&c, "influxdb.timeout") == 3000,
	     "every.uci: influxdb");
	h_ok(lc_is(&c, "web_settings.managed_by", "uci"),
	     "every.uci: the exporter settings are marked as UCI's (the web page shows them "
	     "read-only)");
	config_destroy(&c);
	h_ok(strstr(out, "mdns http tcp 18502 daemon=modbridge path=/") != NULL,
	     "every.uci: mDNS announces the web interface on the http section's port");
	char ttys[512], text[256] = "";
	snprintf(ttys, sizeof ttys, "%s/modbridge.ttys", dir);
	FILE *f = fopen(ttys, "r");
	if (f) {
		size_t n = fread(text, 1, sizeof text - 1, f);
		text[n] = '\0';
		fclose(f);
	}
	h_ok(strcmp(text, "/dev/ttyUSB0\n") == 0,
	     "every.uci: the serial port is listed for the hotplug script");

	run("every", "service_triggers", NULL);
	h_ok(strstr(out, "interface trigger interface.*.up lan /etc/init.d/modbridge restart") &&
		 strstr(out, "validate modbridge http ") &&
		 strstr(out, "validate modbridge mqtt_export ") &&
		 strstr(out, "validate modbridge influxdb "),
	     "every.uci: listen on one address: restarted when its interface comes up; the schema "
	     "of every section type");
	run("default", "service_triggers", NULL);
	h_ok(strstr(out, "trigger modbridge") && !strstr(out, "interface trigger"),
	     "default.uci: the wildcard 0.0.0.0 needs no interface trigger");

	dir = run("tlswrite", "start_service", NULL);
	read_conf(dir);
	h_ok(strstr(conf, "write_allow = [ \"192.168.1.10\", \"192.168.1.0/28\" ];") &&
		 strstr(conf, "tls = { cert = \"/etc/modbridge/cert.pem\"; key = "
			      "\"/etc/modbridge/key.pem\"; };"),
	     "tlswrite.uci: write_allow and the http tls files are generated");
}

static void hostile(void)
{
	const char *dir = run("hostile", "start_service", NULL);
	if (!h_ok(strstr(out, "rc 0") != NULL, "hostile.uci: start_service returns 0"))
		h_note("%s", out);
	h_ok(check_conf(dir, ": OK, 1 device"),
	     "hostile.uci: modbridge --check accepts the result");
	char pwned[512];
	int any = 0;
	for (int i = 0; i < 3; i++) {
		snprintf(pwned, sizeof pwned, "%s/pwned%s", dir, i ? (i == 1 ? "2" : "3") : "");
		any |= access(pwned, F_OK) == 0;
	}
	h_ok(!any, "hostile.uci: no $(...) or backticks were run");
	config_t c;
	config_init(&c);
	char path[512], item[512];
	snprintf(path, sizeof path, "%s/modbridge.conf", dir);
	if (!h_ok(config_read_file(&c, path) == CONFIG_TRUE, "hostile.uci: libconfig reads it")) {
		h_note("%s:%d: %s", path, config_error_line(&c), config_error_text(&c));
		config_destroy(&c);
		return;
	}
	char want[1024];
	snprintf(want, sizeof want,
		 "it's \"quoted\" \\back\\\\slash\nsecond line $(touch %s/pwned) `touch %s/pwned2`",
		 dir, dir);
	h_ok(lc_is(&c, "devices.[0].mqtt.password", want),
	     "hostile.uci: a password with quotes, backslashes, a line break, $(...) and "
	     "backticks arrives exactly");
	h_ok(lc_is(&c, "devices.[0].mqtt.username", "user * ? [a]"),
	     "hostile.uci: spaces and globs in a value arrive exactly");
	snprintf(want, sizeof want, "$(touch %s/pwned3);`id`", dir);
	h_ok(lc_is(&c, "influxdb.password", want) && lc_is(&c, "influxdb.measurement", "m \"x\""),
	     "hostile.uci: an exporter's password and measurement arrive exactly");
	config_setting_t *mp = config_lookup(&c, "maps_path");
	snprintf(item, sizeof item, "%s/my maps", dir);
	h_ok(mp && config_setting_length(mp) == 3 &&
		 strcmp(config_setting_get_string_elem(mp, 0), h_maps_dir()) == 0 &&
		 strcmp(config_setting_get_string_elem(mp, 1), "*") == 0 &&
		 strcmp(config_setting_get_string_elem(mp, 2), item) == 0,
	     "hostile.uci: maps_path holds its three items: \"*\" not globbed, spaces not split");
	config_destroy(&c);
}

/* The hotplug script: a listed port (by its node or a link to it) that is
 * added gets group dialout and mode 0660; another node is left alone. */
static void hotplug(void)
{
	struct group *gr = getgrnam("dialout");
	if (geteuid() != 0 || !gr) {
		h_ok(1, "hotplug # SKIP needs root and a group dialout");
		return;
	}
	char dev[512], ttys[512], node[600], other[600], link[600], list[2048];
	snprintf(dev, sizeof dev, "%s/hotplug/dev", h_dir());
	snprintf(ttys, sizeof ttys, "%s/hotplug/ttys", h_dir());
	snprintf(node, sizeof node, "%s/ttyUSB3", dev);
	snprintf(other, sizeof other, "%s/ttyUSB4", dev);
	snprintf(link, sizeof link, "%s/hotplug/by-id", h_dir());
	const char *mk[] = {"mkdir", "-p", dev, NULL};
	h_run(mk, NULL, 0, 5000);
	h_write_file("hotplug/dev/ttyUSB3", "");
	h_write_file("hotplug/dev/ttyUSB4", "");
	h_write_file("hotplug/dev/ttyUSB5", "");
	chmod(node, 0600);
	chmod(other, 0600);
	unlink(link);
	if (symlink("dev/ttyUSB5", link) != 0)
		h_note("symlink: %s", link);
	snprintf(list, sizeof list, "%s\n%s\n", node, link);
	h_write_file("hotplug/ttys", list);
	const char *devnames[] = {"ttyUSB3", "ttyUSB4", "ttyUSB5"};
	for (int i = 0; i < 3; i++) {
		setenv("ACTION", "add", 1);
		setenv("DEVNAME", devnames[i], 1);
		setenv("MODBRIDGE_DEV", dev, 1);
		setenv("MODBRIDGE_TTYS", ttys, 1);
		const char *argv[] = {
		    "sh", h_repo_file("init/openwrt/modbridge/files/modbridge.hotplug"), NULL};
		h_run(argv, NULL, 0, 10000);
	}
	unsetenv("ACTION");
	unsetenv("DEVNAME");
	unsetenv("MODBRIDGE_DEV");
	unsetenv("MODBRIDGE_TTYS");
	struct stat a, b, l;
	char five[600];
	snprintf(five, sizeof five, "%s/ttyUSB5", dev);
	h_ok(stat(node, &a) == 0 && a.st_gid == gr->gr_gid && (a.st_mode & 07777) == 0660,
	     "hotplug: a listed port plugged in gets root:dialout 0660");
	h_ok(stat(five, &l) == 0 && l.st_gid == gr->gr_gid && (l.st_mode & 07777) == 0660,
	     "hotplug: so does the node a listed link points to");
	h_ok(stat(other, &b) == 0 && b.st_gid != gr->gr_gid && (b.st_mode & 07777) == 0600,
	     "hotplug: a port the config does not name is left alone");
}

static void triggers(void)
{
	run("full", "service_triggers", NULL);
	h_ok(strstr(out, "trigger modbridge") && strstr(out, "validate modbridge modbridge ") &&
		 strstr(out, "validate modbridge device ") && strstr(out, "open validate"),
	     "service_triggers: UCI reload trigger and the validation schema of both sections");
}

static void lint(void)
{
	const char *scripts[] = {INIT, "init/openwrt/modbridge/files/modbridge.hotplug",
				 "tests/openwrt/stubs.sh", "tests/openwrt/run_init.sh"};
	const char *which[] = {"sh", "-c", "command -v shellcheck", NULL};
	if (h_run(which, NULL, 0, 5000) != 0) {
		h_ok(1, "shellcheck # SKIP not installed (apt-get install shellcheck)");
		return;
	}
	for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
		const char *argv[] = {"shellcheck", "-x", scripts[i], NULL};
		int rc = h_run(argv, out, sizeof out, 60000);
		if (!h_ok(rc == 0, "shellcheck %s", scripts[i]))
			h_note("%s", out);
	}
}

int main(void)
{
	h_init("openwrt");
	full();
	defaults();
	refused();
	handwritten();
	every();
	hostile();
	hotplug();
	triggers();
	lint();
	return h_done();
}

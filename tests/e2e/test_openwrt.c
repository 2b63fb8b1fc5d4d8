/* The OpenWrt init script's UCI side (init/openwrt/modbridge/files/
 * modbridge.init): sample UCI files under tests/openwrt/ run through its
 * start_service, reload_service and service_triggers with rc.common, UCI
 * (config_load, uci_load_validate) and procd replaced by tests/openwrt/
 * stubs.sh. Asserts the libconfig file it generates (and that the built
 * daemon's --check accepts it), the instance procd would get (command line,
 * both mDNS services), that a bad UCI value starts nothing, the hand-written
 * config option, and shellcheck over the scripts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
		 "maps_path = \"%s\";\nmodbus = {\n  listen = \"127.0.0.1\";\n  port = 1503;\n};\n"
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

static void triggers(void)
{
	run("full", "service_triggers", NULL);
	h_ok(strstr(out, "trigger modbridge") && strstr(out, "validate modbridge modbridge ") &&
		 strstr(out, "validate modbridge device ") && strstr(out, "open validate"),
	     "service_triggers: UCI reload trigger and the validation schema of both sections");
}

static void lint(void)
{
	const char *scripts[] = {INIT, "tests/openwrt/stubs.sh", "tests/openwrt/run_init.sh"};
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
	triggers();
	lint();
	return h_done();
}

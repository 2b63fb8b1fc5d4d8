/* A newcomer's first hour (docs/design.md, "Timing and retries"): defaults that keep clients from
 * waiting on the cloud, the timing warnings of --check and of the start log,
 * maps_path as one string, the hint for libconfig's bare "syntax error", and
 * the message of a SIGHUP that cannot read the config after the privilege
 * drop. Each case writes a config to the temporary folder and runs the built
 * binary (--check, or the daemon for the start log). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char out[65536];

static int run_check(const char *path)
{
	int rc = h_run_bridge("--check", path, out, sizeof out);
	for (char *o = out; *o; o++)
		if ((unsigned char)*o < 0x20 || (unsigned char)*o > 0x7e)
			*o = *o == '\n' ? '|' : '?';
	return rc;
}

/* The config: maps_path naming the repository's maps, then text. */
static const char *conf(const char *name, const char *text)
{
	char buf[8192];
	snprintf(buf, sizeof buf, "maps_path = [ \"%s\" ];\n%s", h_maps_dir(), text);
	return h_write_file(name, buf);
}

/* The README's "Configure" example as a newcomer adapts it: the Growatt
 * device with poll = 10000 and no max_age (line 6). */
#define README_DEVICES                                                                             \
	"devices = (\n"                                                                            \
	"  { name = \"garage\"; unit_id = 1; map = \"powergo\";\n"                                 \
	"    mqtt = { host = \"127.0.0.1\"; port = 1; };\n"                                        \
	"    powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; }; },\n"                 \
	"  { name = \"roof\"; unit_id = 3; map = \"growatt\"; poll = 10000;\n"                     \
	"    solarman = { host = \"127.0.0.1\"; port = 1; serial = 1234567890; slave = 1; }; }\n"  \
	");\n"

static void check_cases(void)
{
	const char *p;
	char want[1024];
	int rc;

	p = conf("readme.conf", README_DEVICES);
	rc = run_check(p);
	h_ok(rc == 0 && strstr(out, "OK, 2 devices") && !strstr(out, "shorter than poll"),
	     "README Growatt example (poll 10000, max_age unset): --check passes without a "
	     "max_age warning, the default follows poll: exit %d (%.400s)",
	     rc, out);

	p = conf("short_age.conf",
		 "devices = ( { name = \"roof\"; unit_id = 3; map = \"growatt\";\n"
		 "  poll = 10000; max_age = 1000;\n"
		 "  solarman = { host = \"127.0.0.1\"; serial = 1; }; } );\n");
	rc = run_check(p);
	snprintf(want, sizeof want,
		 "%s:2: warning: device \"roof\": max_age 1000 ms is shorter than poll 10000 ms",
		 p);
	h_ok(rc == 0 && strstr(out, want) && strstr(out, "OK, 1 device"),
	     "max_age < poll warns (exit 0): %.400s", out);

	p = conf("given_age.conf",
		 "defaults = { max_age = 1000; };\n"
		 "devices = ( { name = \"roof\"; unit_id = 3; map = \"growatt\"; poll = 10000;\n"
		 "  solarman = { host = \"127.0.0.1\"; serial = 1; }; } );\n");
	rc = run_check(p);
	h_ok(rc == 0 && strstr(out, "max_age 1000 ms is shorter than poll 10000 ms"),
	     "a max_age the config's defaults set is kept (and warned about): %.400s", out);

	/* A long native timeout alone no longer keeps a client waiting: its
	 * reads give up after client_wait (4000 ms by default). */
	p = conf("timeout.conf", "devices = ( { name = \"roof\"; unit_id = 3; map = \"growatt\";\n"
				 "  timeout = 10000;\n"
				 "  solarman = { host = \"127.0.0.1\"; serial = 1; }; } );\n");
	rc = run_check(p);
	h_ok(rc == 0 && !strstr(out, "warning"),
	     "timeout 10000 alone does not warn: clients wait client_wait (4000 ms): %.400s", out);

	p = conf("wait.conf", "devices = ( { name = \"roof\"; unit_id = 3; map = \"growatt\";\n"
			      "  timeout = 10000; client_wait = 8000;\n"
			      "  solarman = { host = \"127.0.0.1\"; serial = 1; }; } );\n");
	rc = run_check(p);
	snprintf(want, sizeof want,
		 "%s:2: warning: device \"roof\": a client read waits up to 8000 ms", p);
	h_ok(rc == 0 && strstr(out, want) && strstr(out, "Home Assistant") &&
		 strstr(out, "5000 ms"),
	     "client_wait 8000 warns, naming the clients' 5000 ms and Home Assistant (exit 0): "
	     "%.400s",
	     out);

	p = conf("no_fit.conf", "devices = ( { name = \"roof\"; unit_id = 3; map = \"growatt\";\n"
				"  poll = 3000; max_age = 7500;\n"
				"  solarman = { host = \"127.0.0.1\"; serial = 1; }; } );\n");
	rc = run_check(p);
	snprintf(want, sizeof want, "%s:2: warning: device \"roof\": one poll takes", p);
	h_ok(rc == 0 && strstr(out, want) && strstr(out, "longer than poll 3000 ms"),
	     "reads that cannot fit in poll warn (growatt: 10 reads x min_interval 1000 ms > "
	     "3000 ms): %.400s",
	     out);

	p = conf("quiet.conf",
		 "devices = ( { name = \"roof\"; unit_id = 3; map = \"growatt\";\n"
		 "  poll = 20000; max_age = 50000;\n"
		 "  solarman = { host = \"127.0.0.1\"; serial = 1; }; },\n"
		 "  { name = \"s\"; unit_id = 4; map = \"scratch\"; memory = {}; } );\n");
	rc = run_check(p);
	h_ok(rc == 0 && !strstr(out, "warning"), "a config that fits gives no warning: %.400s",
	     out);

	p = conf(
	    "simulated.conf",
	    "devices = ( { name = \"garage\"; unit_id = 1; map = \"powergo\"; memory = {}; },\n"
	    "  { name = \"s\"; unit_id = 4; map = \"scratch\"; memory = {}; } );\n");
	rc = run_check(p);
	h_ok(rc == 0 && strstr(out, "simulated in memory, no device behind: garage"),
	     "a memory block on a powergo map is accepted and --check says it simulates: %.400s",
	     out);

	char text[512];
	snprintf(text, sizeof text,
		 "maps_path = \"%s\";\n"
		 "devices = ( { name = \"s\"; unit_id = 4; map = \"scratch\"; memory = {}; } );\n",
		 h_maps_dir());
	p = h_write_file("one_dir.conf", text);
	rc = run_check(p);
	h_ok(rc == 0 && strstr(out, "OK, 1 device"), "maps_path accepts one string: %.300s", out);

	p = h_write_file(
	    "comma.conf",
	    "devices = ( { name = \"s\"; unit_id = 4; map = \"scratch\"; memory = {}; }\n"
	    "  { name = \"t\"; unit_id = 5; map = \"scratch\"; memory = {}; } );\n");
	rc = run_check(p);
	h_ok(rc == 1 && strstr(out, "syntax error") && strstr(out, "hint:") &&
		 strstr(out, "missing comma between two devices"),
	     "libconfig's syntax error comes with a hint: %.400s", out);
}

/* The start log shows the defaults the device runs with, and the warnings. */
static void start_cases(void)
{
	int port = h_free_port();
	char full[4096];
	snprintf(full, sizeof full,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n" README_DEVICES, port);
	/* The roof device without its poll and with a client_wait clients do
	 * not wait for: the protocol's poll applies, and the warning is logged. */
	char *roof = strstr(full, "poll = 10000;");
	if (roof) {
		char rest[4096];
		snprintf(rest, sizeof rest, "%s", roof + 13);
		snprintf(roof, sizeof full - (size_t)(roof - full),
			 "timeout = 9000; client_wait = 9000;%s", rest);
	}
	const char *p = conf("start.conf", full);
	pid_t b = h_bridge_start(p, port, "start.log");
	h_ok(b > 0, "the bridge starts");
	if (b <= 0)
		return;
	const char *log = h_path("start.log");
	h_wait_lines(log, "roof: unit 3", 1, 5000);
	h_ok(h_file_contains(log, "garage: unit 1") &&
		 h_file_contains(log, "max_age 50000 ms, poll 20000 ms"),
	     "a powergo device without poll polls every 20 s, max_age 2.5 x poll (see %s)", log);
	h_ok(h_file_contains(log, "roof: unit 3") &&
		 h_file_contains(log, "timeout 9000 ms, max_age 50000 ms, poll 20000 ms") &&
		 h_file_contains(log, "client_wait 9000 ms"),
	     "a solarman device: the protocol's poll, the map's min_interval (see %s)", log);
	char want[600];
	snprintf(want, sizeof want, "warning: %s:", p);
	h_ok(h_file_contains(log, want) &&
		 h_file_contains(log, ": device \"roof\": a client read waits up to 9000") &&
		 !h_file_contains(log, "warning: device \"roof\""),
	     "the start log has the --check warnings at warning level, the word once: "
	     "\"warning: FILE:N: device ...\" (see %s)",
	     log);
	h_ok(h_bridge_stop(b) == 0, "the bridge stops cleanly");
}

/* SIGHUP after dropping to `user` with a config only root can read. */
static void drop_case(void)
{
	if (geteuid() != 0) {
		h_ok(1, "# SKIP not root: the privilege drop cannot be tried");
		return;
	}
	int port = h_free_port();
	char text[1024];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\nuser = \"nobody\";\n"
		 "devices = ( { name = \"s\"; unit_id = 4; map = \"scratch\"; memory = {}; } );\n",
		 port);
	const char *p = conf("drop.conf", text);
	chmod(p, 0600);
	pid_t b = h_bridge_start(p, port, "drop.log");
	h_ok(b > 0, "the bridge starts and drops to nobody");
	if (b <= 0)
		return;
	const char *log = h_path("drop.log");
	h_wait_lines(log, "running as user nobody", 1, 3000);
	h_signal(b, SIGHUP);
	char want[1200];
	snprintf(want, sizeof want,
		 "cannot read %s after dropping to user nobody: make it readable by nobody", p);
	h_wait_lines(log, "after dropping to user", 1, 5000);
	h_ok(h_file_contains(log, want),
	     "a SIGHUP that cannot read the config says why: %s (see %s)", want, log);
	h_ok(h_bridge_stop(b) == 0, "the bridge stops cleanly");
}

int main(void)
{
	h_init("config_hints");
	check_cases();
	start_cases();
	drop_case();
	return h_done();
}

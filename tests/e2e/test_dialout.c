/* End to end: a serial device under the privilege drop the shipped services
 * use. The daemon starts as root with `user` set to an unprivileged user
 * whose only way to the port is its supplementary group dialout (the test
 * creates that user and removes it afterwards), and reads an RTU slave of
 * tests/sim/sim_modbus through a socat pty owned root:dialout 0660, as
 * udev leaves a USB adapter. The port is then unplugged (socat killed, the
 * path gone) and plugged back: first root-only, which must give one warning
 * naming the port, the user and the fix, then root:dialout 0660 again,
 * after which the link must come back. A drop that clears the supplementary
 * groups (setgroups(0, NULL)) opens the first port as root, before the drop,
 * and never again after the unplug.
 *
 * Needs root (to create the user, chown the pty and drop privileges): skips
 * with a message otherwise. MB_DIALOUT_USER names an existing user to drop
 * to instead of a test-made one (make deb-check: the package's modbridge,
 * from its sysusers.d file, with the installed daemon as MB_BUILD's). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char tty_bridge[1024], tty_sim[1024], user[32];
static pid_t socat_pid = -1, sim_pid = -1;
static int user_made;

static void user_remove(void)
{
	if (!user_made)
		return;
	const char *argv[] = {"userdel", user, NULL};
	h_run(argv, NULL, 0, 30000);
	user_made = 0;
}

/* A system user without a group of its own (primary group nogroup) and
 * with dialout as its supplementary group: 1 when made. */
static int user_create(void)
{
	snprintf(user, sizeof user, "mbdial%ld", (long)getpid());
	char out[1024];
	const char *argv[] = {
	    "useradd",	"--system", "--no-create-home", "--no-user-group",   "--gid", "nogroup",
	    "--groups", "dialout",  "--shell",		"/usr/sbin/nologin", user,    NULL};
	if (h_run(argv, out, sizeof out, 30000) != 0) {
		h_note("useradd: %s", out);
		return 0;
	}
	user_made = 1;
	atexit(user_remove);
	return 1;
}

/* Is the user's primary group something else than dialout, and dialout
 * one of its supplementary groups? */
static int user_dialout_supplementary(void)
{
	struct passwd *pw = getpwnam(user);
	struct group *gr = getgrnam("dialout");
	if (!pw || !gr || pw->pw_gid == gr->gr_gid)
		return 0;
	for (char **m = gr->gr_mem; *m; m++)
		if (strcmp(*m, user) == 0)
			return 1;
	return 0;
}

/* The pty the bridge opens (behind the link tty_bridge) to owner root,
 * group gid, mode. */
static int port_own(gid_t gid, mode_t mode)
{
	char real[1024];
	if (!realpath(tty_bridge, real))
		return 0;
	return chown(real, 0, gid) == 0 && chmod(real, mode) == 0;
}

/* Plug the port in: a socat pty pair, the simulator on its far end. */
static int plug(const char *simlog)
{
	char a[1200], b[1200];
	snprintf(a, sizeof a, "pty,raw,echo=0,link=%s", tty_bridge);
	snprintf(b, sizeof b, "pty,raw,echo=0,link=%s", tty_sim);
	const char *argv[] = {"socat", a, b, NULL};
	socat_pid = h_spawn(argv, "socat.log");
	int there = 0;
	for (int i = 0; i < 250 && !there; i++) {
		there = access(tty_bridge, F_OK) == 0 && access(tty_sim, F_OK) == 0;
		if (!there)
			h_sleep_ms(20);
	}
	if (!there)
		return 0;
	const char *sim[] = {h_bin("tests/sim/sim_modbus"), "--rtu", tty_sim, "--slave", "1", NULL};
	sim_pid = h_spawn(sim, simlog);
	return h_wait_lines(h_path(simlog), "ready", 1, 5000);
}

static void unplug(void)
{
	h_stop(sim_pid, 3000);
	h_stop(socat_pid, 3000);
}

/* Does holding register 0 of the slave read 1000 (sim_modbus: slave 1,
 * address 0) within ms? */
static int read_until(modbus_t *m, int ms)
{
	uint64_t end = h_now_ms() + (uint64_t)ms;
	do {
		uint16_t v;
		if (modbus_read_registers(m, 0, 1, &v) == 1 && v == 1000)
			return 1;
		h_sleep_ms(100);
	} while (h_now_ms() < end);
	return 0;
}

int main(void)
{
	h_init("dialout");
	if (geteuid() != 0) {
		h_ok(1, "serial port under a user drop # SKIP needs root (to create a user in "
			"dialout, chown a pty and drop privileges)");
		return h_done();
	}
	if (!getgrnam("dialout") || !getgrnam("nogroup")) {
		h_ok(1, "serial port under a user drop # SKIP no group dialout or nogroup here");
		return h_done();
	}
	const char *given = getenv("MB_DIALOUT_USER");
	if (given && *given)
		snprintf(user, sizeof user, "%s", given);
	if (!h_ok(given && *given ? getpwnam(user) != NULL : user_create(),
		  "a system user with dialout as supplementary group (%s)",
		  given && *given ? "given" : "made") ||
	    !h_ok(
		user_dialout_supplementary(),
		"its primary group is not dialout: only its supplementary group reaches the port"))
		return h_done();
	/* The user must reach the link inside the test's folder. */
	chmod(h_dir(), 0711);
	snprintf(tty_bridge, sizeof tty_bridge, "%s", h_path("ttyUSB0"));
	snprintf(tty_sim, sizeof tty_sim, "%s", h_path("ttySIM"));
	const char *brlog = h_path("bridge.log");
	char brlog_s[1024];
	snprintf(brlog_s, sizeof brlog_s, "%s", brlog);
	gid_t dialout = getgrnam("dialout")->gr_gid;

	if (!h_ok(plug("sim1.log") && port_own(dialout, 0660),
		  "the port is plugged in, root:dialout 0660"))
		return h_done();

	h_write_file("one.conf",
		     "name = \"one\"; protocol = \"modbus\"; trust = \"generated\";\n"
		     "description = \"one register\"; source = \"test_dialout.c\";\n"
		     "registers = ( { address = 0; name = \"h0\"; type = \"uint16\"; } );\n");
	int port = h_free_port();
	char conf[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "user = \"%s\";\n"
		 "defaults = { timeout = 1500; max_age = 0; poll = 0; min_interval = 0; };\n"
		 "devices = ( { name = \"rs485\"; unit_id = 1; map = \"one\";\n"
		 "    modbus = { device = \"%s\"; baud = 9600; slave = 1; }; } );\n",
		 port, h_dir(), user, tty_bridge);
	const char *cpath = h_write_file("modbridge.conf", conf);
	chmod(cpath, 0644);
	pid_t br = h_bridge_start(cpath, port, "bridge.log");
	if (!h_ok(br > 0, "the bridge starts as root with user = \"%s\"", user))
		return h_done();
	char want[256];
	snprintf(want, sizeof want, "running as user %s", user);
	h_ok(h_wait_lines(brlog_s, want, 1, 5000) && h_file_contains(brlog_s, "dialout"),
	     "it drops to the user and keeps its supplementary group dialout");
	modbus_t *m = h_modbus(port, 1);
	if (!h_ok(m && read_until(m, 8000), "the RTU slave reads through the port"))
		h_note_tail(brlog_s, 20);

	/* Unplugged; back with a node only root may open. */
	unplug();
	h_ok(h_wait_lines(brlog_s, "ttyUSB0: lost (", 1, 8000), "the unplug is noticed");
	if (!h_ok(plug("sim2.log") && port_own(0, 0600), "plugged back in, root:root 0600"))
		return h_done();
	snprintf(want, sizeof want, "cannot open (Permission denied) as user %s", user);
	int warned = h_wait_lines(brlog_s, want, 1, 10000);
	if (!h_ok(warned, "a warning says the port cannot be opened by user %s", user))
		h_note_tail(brlog_s, 10);
	h_ok(h_count_lines(brlog_s, "warning: modbus") >= 1 &&
		 h_file_contains(brlog_s, "ttyUSB0: cannot open (Permission denied)") &&
		 h_file_contains(brlog_s, "usermod -aG dialout") &&
		 h_file_contains(brlog_s, "SupplementaryGroups=dialout"),
	     "the warning names the port and the fix (the group dialout)");
	h_ok(h_wait_lines(brlog_s, "cannot open (Permission denied), attempt", 1, 10000) &&
		 h_count_lines(brlog_s, want) == 1,
	     "once per outage: the next refused attempt is debug");

	/* Given to dialout, as a udev or hotplug rule would: the link returns. */
	h_ok(port_own(dialout, 0660), "the port is given to root:dialout 0660");
	if (!h_ok(read_until(m, 20000), "the link comes back: the slave reads again"))
		h_note_tail(brlog_s, 20);

	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	h_ok(h_bridge_stop(br) == 0, "the bridge stops cleanly");
	unplug();
	user_remove();
	return h_done();
}

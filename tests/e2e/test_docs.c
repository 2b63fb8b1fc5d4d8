/* The docs, run (HACKING.md, "Docs"): every ```sh block of
 * README.md and every docs/ markdown file is extracted, and each command in it is either run
 * here or skipped with the reason it cannot run on a test machine (packages,
 * services, OpenWrt, a cross toolchain, a real EVCC). A command nobody
 * classified fails the test, so that a new doc command gets a decision.
 *
 * What runs: the README's "Configure" config, adapted only where a site's
 * values must be (ports, hosts, maps_path), against a broker and the PowerGo,
 * Venus and Solarman simulators; `modbridge --check` of it; the daemon
 * itself; every `mbpoll` read and write as written except for the host and
 * port; `--print-map`; SIGUSR1. Every one must succeed. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define DOCS__MAXCMD 256
/* The user guide's example user, admin / secret: MD5("admin:modbridge:secret"). */
#define DOCS__HA1 "74b5ba04a8aa06dd55aa3fc4e8c0307e"
/* The docs' web interface address, and the test's. */
#define DOCS__HTTP "http://192.168.1.1:8502"

static int docs__http_port;

struct cmd {
	char file[64];
	int line;
	char text[1024];
};

static struct cmd cmds[DOCS__MAXCMD];
static size_t ncmds;
static char out[65536];

/* Cut a shell comment: a '#' after white space, outside quotes. */
static void strip_comment(char *s)
{
	char q = 0;
	for (char *p = s; *p; p++) {
		if (q) {
			q = *p == q ? 0 : q;
		} else if (*p == '"' || *p == '\'') {
			q = *p;
		} else if (*p == '#' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	for (size_t n = strlen(s); n && isspace((unsigned char)s[n - 1]);)
		s[--n] = '\0';
}

/* The commands of one markdown file's ```sh blocks, continuation lines
 * joined. */
static void extract(const char *rel)
{
	FILE *f = fopen(h_repo_file(rel), "r");
	char line[2048], cur[1024] = "";
	int in = 0, n = 0, start = 0;

	if (!f) {
		h_ok(0, "cannot read %s", rel);
		return;
	}
	while (fgets(line, sizeof line, f)) {
		n++;
		line[strcspn(line, "\n")] = '\0';
		if (!in) {
			in = strcmp(line, "```sh") == 0;
			continue;
		}
		if (strncmp(line, "```", 3) == 0) {
			in = 0;
			continue;
		}
		if (!cur[0])
			start = n;
		size_t len = strlen(line);
		int more = len && line[len - 1] == '\\';
		if (more)
			line[len - 1] = ' ';
		strncat(cur, line, sizeof cur - strlen(cur) - 1);
		if (more)
			continue;
		strip_comment(cur);
		const char *t = cur;
		while (isspace((unsigned char)*t))
			t++;
		if (*t && ncmds < DOCS__MAXCMD) {
			struct cmd *c = &cmds[ncmds++];
			snprintf(c->file, sizeof c->file, "%s", rel);
			c->line = start;
			snprintf(c->text, sizeof c->text, "%s", t);
		}
		cur[0] = '\0';
	}
	fclose(f);
}

/* Why a command cannot run here, or NULL when it can. */
static const char *skip_reason(const char *t)
{
	static const struct {
		const char *prefix, *why;
	} skip[] = {
	    {"make cross-check", "needs the cross toolchain; `make cross-check` is its own test"},
	    {"make demo", "the demo runs the same simulators interactively; DEMO_SECONDS runs it"},
	    {"make test", "is the test suite this test belongs to"},
	    {"make deps", "installs Debian packages"},
	    {"make install", "installs into the system; tests/e2e/test_install runs it in DESTDIR"},
	    {"make && make install", "installs into the system; test_install runs it in DESTDIR"},
	    {"make dist", "tests/e2e/test_install runs make dist and dist-check on a copy"},
	    {"make openwrt-hash", "rewrites PKG_HASH in the tree; test_install runs it on a copy"},
	    {"make deb", "builds and installs a Debian package; CI runs make deb and deb-check"},
	    {"make menuconfig", "OpenWrt build tree"},
	    {"make package/", "OpenWrt build tree"},
	    {"make WITH_", "a slim daemon; tests/e2e/test_install builds one in its own BUILD"},
	    {"make", "builds the daemon this test runs"},
	    {"PKG_CONFIG_LIBDIR=", "needs the cross toolchain"},
	    {"echo \"src-link", "OpenWrt build tree"},
	    {"./scripts/feeds", "OpenWrt build tree"},
	    {"cp /path/to/modbridge/", "OpenWrt build tree"},
	    {"ln -s /path/to/modbridge/", "OpenWrt build tree"},
	    {"uci ", "OpenWrt"},
	    {"/etc/init.d/", "OpenWrt"},
	    {"logread", "OpenWrt"},
	    {"cp /etc/modbridge/", "edits the system's /etc; the test writes its own config"},
	    {"vi ", "an editor"},
	    {"install -m", "installs into the system"},
	    {"adduser ", "creates a system user"},
	    {"chgrp ", "changes the system's /etc"},
	    {"openssl req ",
	     "writes a key into the system's /etc; test_http_tls makes its own pair"},
	    {"curl --cacert ",
	     "HTTPS with the guide's certificate; test_http_tls runs curl --cacert"},
	    {"systemctl", "systemd service"},
	    {"journalctl", "systemd journal"},
	    {"apt", "installs Debian packages"},
	    {"dpkg --add-architecture", "changes the system's package architectures"},
	    {"evcc ", "needs an EVCC installation"},
	};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (strncmp(t, skip[i].prefix, strlen(skip[i].prefix)) == 0)
			return skip[i].why;
	return NULL;
}

static int split(char *s, const char **argv, int max)
{
	int n = 0;
	for (char *tok = strtok(s, " \t"); tok && n < max - 1; tok = strtok(NULL, " \t"))
		argv[n++] = tok;
	argv[n] = NULL;
	return n;
}

static int is_host(const char *a)
{
	int dots = 0;
	for (; *a; a++) {
		if (*a == '.')
			dots++;
		else if (!isdigit((unsigned char)*a))
			return 0;
	}
	return dots == 3;
}

static int run_argv(const char **argv)
{
	int rc = h_run(argv, out, sizeof out, 20000);
	for (char *o = out; *o; o++)
		if ((unsigned char)*o < 0x20 || (unsigned char)*o > 0x7e)
			*o = *o == '\n' ? '|' : '?';
	return rc;
}

/* mbpoll as written, but against the test's bridge: the host becomes
 * 127.0.0.1 and -p the test's port. */
static void run_mbpoll(const struct cmd *c, int port)
{
	char buf[1024], portarg[16];
	const char *in[64], *argv[70];
	int n, m = 0;

	snprintf(buf, sizeof buf, "%s", c->text);
	snprintf(portarg, sizeof portarg, "%d", port);
	n = split(buf, in, 64);
	for (int i = 0; i < n; i++) {
		if (strcmp(in[i], "-p") == 0) {
			i++;
			continue;
		}
		if (is_host(in[i])) {
			argv[m++] = "-p";
			argv[m++] = portarg;
			argv[m++] = "127.0.0.1";
			continue;
		}
		argv[m++] = in[i];
	}
	argv[m] = NULL;
	int rc = run_argv(argv);
	size_t len = strlen(out);
	h_ok(rc == 0 && !strstr(out, "failed") && !strstr(out, "rror"),
	     "%s:%d: %s: exit %d (...%s)", c->file, c->line, c->text, rc,
	     len > 200 ? out + len - 200 : out);
}

static void run_modbridge(const struct cmd *c, const char *conf, pid_t bridge, const char *log)
{
	char buf[1024];
	const char *in[64], *argv[70];
	int n, m = 0, check = 0, print = 0;

	snprintf(buf, sizeof buf, "%s", c->text);
	n = split(buf, in, 64);
	argv[m++] = h_bin("modbridge");
	for (int i = 1; i < n; i++) {
		check |= strcmp(in[i], "--check") == 0;
		print |= strcmp(in[i], "--print-map") == 0;
		/* the config the docs name is the site's: the test's stands in */
		argv[m++] = strncmp(in[i], "/etc/modbridge/", 15) == 0 ? conf : in[i];
	}
	if (print) {
		argv[m++] = "--maps-dir";
		argv[m++] = h_maps_dir();
	}
	argv[m] = NULL;
	if (!check && !print) {
		/* `modbridge -c FILE`: the daemon this test started from it. */
		h_ok(bridge > 0 && h_file_contains(log, "serving"),
		     "%s:%d: %s: runs (the test's bridge, log %s)", c->file, c->line, c->text, log);
		return;
	}
	int rc = run_argv(argv);
	h_ok(rc == 0 && (print ? strstr(out, "soc") != NULL : strstr(out, ": OK, ") != NULL),
	     "%s:%d: %s: exit %d (%.300s)", c->file, c->line, c->text, rc, out);
}

/* Replace the first `from` in s by `to`; 1 if it was there. */
static int subst(char *s, size_t cap, const char *from, const char *to)
{
	char *at = strstr(s, from);
	if (!at || strlen(s) - strlen(from) + strlen(to) >= cap)
		return 0;
	memmove(at + strlen(to), at + strlen(from), strlen(at + strlen(from)) + 1);
	memcpy(at, to, strlen(to));
	return 1;
}

/* A shell command of the docs, run by sh as written: curl against the
 * test's bridge (the docs' address replaced; -f so that an HTTP error fails
 * it), or the ha1 recipe, whose output must be the guide's example ha1. */
static void run_shell(const struct cmd *c)
{
	char text[1200], addr[64];
	snprintf(text, sizeof text, "%s", c->text);
	snprintf(addr, sizeof addr, "http://127.0.0.1:%d", docs__http_port);
	int curl = strncmp(text, "curl ", 5) == 0;
	if (curl && (!subst(text, sizeof text, DOCS__HTTP, addr) ||
		     !subst(text, sizeof text, "curl ", "curl -f -sS --max-time 10 "))) {
		h_ok(0, "%s:%d: %s: no %s to point at the test's bridge", c->file, c->line, c->text,
		     DOCS__HTTP);
		return;
	}
	const char *argv[] = {"sh", "-c", text, NULL};
	int rc = run_argv(argv);
	int good = rc == 0 && (curl ? strchr(out, '{') != NULL : strstr(out, DOCS__HA1) != NULL);
	h_ok(good, "%s:%d: %s: %s", c->file, c->line, c->text,
	     curl ? "the bridge answered" : "the guide's ha1");
	if (!good)
		h_note("exit %d: %.500s", rc, out);
}

/* The README's example config (the block after "A config with one device of
 * each kind"), with the site's values put in. */
static const char *readme_config(int port, int mqtt, int sol)
{
	FILE *f = fopen(h_repo_file("README.md"), "r");
	char line[1024], text[8192] = "", rep[128];
	int state = 0;
	if (!f)
		return NULL;
	while (fgets(line, sizeof line, f) && state < 3) {
		if (state == 0 && strstr(line, "one device of each kind"))
			state = 1;
		else if (state == 1 && strncmp(line, "```", 3) == 0)
			state = 2;
		else if (state == 2 && strncmp(line, "```", 3) == 0)
			state = 3;
		else if (state == 2)
			strncat(text, line, sizeof text - strlen(text) - 1);
	}
	fclose(f);
	int ok = state == 3;
	snprintf(rep, sizeof rep, "listen = \"127.0.0.1\"; port = %d;", port);
	ok &= subst(text, sizeof text, "port = 502;", rep);
	snprintf(rep, sizeof rep, "host = \"127.0.0.1\"; port = %d;", mqtt);
	ok &= subst(text, sizeof text, "host = \"mqtt.example.net\"; port = 1883;", rep);
	ok &= subst(text, sizeof text, "host = \"192.168.1.10\";", rep);
	snprintf(rep, sizeof rep, "host = \"127.0.0.1\"; port = %d;", sol);
	ok &= subst(text, sizeof text, "host = \"192.168.1.50\";", rep);
	char full[9000];
	/* The user guide's http group, on a test port: its curl commands
	 * (run_curl) talk to it as admin/secret. */
	snprintf(full, sizeof full,
		 "maps_path = \"%s\";\n%s\nhttp = { listen = \"127.0.0.1\"; port = %d;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" DOCS__HA1 "\"; } ); };\n",
		 h_maps_dir(), text, docs__http_port);
	if (!h_ok(ok, "the README's config found and adapted (ports, hosts, maps_path)"))
		h_note("%s", full);
	return h_write_file("readme.conf", full);
}

/* evcc's pace for a minute (not a single 0B in a minute of
 * evcc-like polling): every 10 s, several attributes of each device, one
 * connection for all of them (evcc shares one per uri) with a 5 s response
 * timeout (Home Assistant's default; evcc waits 10 s). Every read must
 * answer. The minute runs in `make soak` (h_soak()); `make test` runs 20 s,
 * three rounds. The first comes while the Growatt's first poll, its reads
 * spaced by min_interval, is still on its way to register 1014: a client's
 * read that waited behind the poll instead of going first got 0B there. */
static void evcc_pace(int port)
{
	static const struct {
		int unit, input, addr, count;
		const char *what;
	} attrs[] = {
	    {1, 0, 529, 1, "garage (powergo) SOC"},
	    {1, 0, 530, 1, "garage (powergo) power"},
	    {2, 0, 0, 1, "balcony (venus) SOC"},
	    {2, 0, 2, 1, "balcony (venus) power"},
	    {3, 1, 35, 2, "roof (growatt) AC power"},
	    {3, 1, 55, 2, "roof (growatt) energy total"},
	    {3, 1, 1014, 1, "roof (growatt) battery SOC"},
	};
	int seconds = h_soak() ? 60 : 20;
	int reads = 0, failed = 0;
	uint64_t start = h_now_ms();
	modbus_t *m = h_modbus(port, 1);
	if (!h_ok(m != NULL, "evcc's pace: one connection to the bridge"))
		return;
	modbus_set_response_timeout(m, 5, 0);
	for (int round = 0; round * 10 <= seconds; round++) {
		while (h_now_ms() < start + (uint64_t)round * 10000)
			h_sleep_ms(100);
		for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
			uint16_t w[2];
			modbus_set_slave(m, attrs[i].unit);
			int rc =
			    attrs[i].input
				? modbus_read_input_registers(m, attrs[i].addr, attrs[i].count, w)
				: modbus_read_registers(m, attrs[i].addr, attrs[i].count, w);
			reads++;
			if (rc != attrs[i].count) {
				failed++;
				h_note("round %d, %s: %s", round, attrs[i].what,
				       modbus_strerror(errno));
			}
		}
	}
	modbus_close(m);
	modbus_free(m);
	h_ok(failed == 0, "evcc's pace for %d s: %d reads of 7 attributes every 10 s, %d failed",
	     seconds, reads, failed);
}

int main(void)
{
	static const char *const docs[] = {"README.md", "docs/user-guide.md", "docs/evcc.md",
					   "docs/scada.md"};
	uint64_t t0 = h_now_ms();

	h_init("docs");
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
		extract(docs[i]);
	/* every markdown file in docs/, not only those named above */
	DIR *d = opendir(h_repo_file("docs"));
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		char rel[300];
		if (l < 4 || strcmp(e->d_name + l - 3, ".md") != 0)
			continue;
		snprintf(rel, sizeof rel, "docs/%s", e->d_name);
		int seen = 0;
		for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
			seen |= strcmp(docs[i], rel) == 0;
		if (!seen)
			extract(rel);
	}
	if (d)
		closedir(d);
	h_ok(ncmds > 10, "%zu shell commands found in the docs", ncmds);

	/* The site: a broker, the three simulators, the README's config. */
	int mqtt = 0, sol = h_free_port(), port = h_free_port();
	docs__http_port = h_free_port();
	char sols[16];
	snprintf(sols, sizeof sols, "%d", sol);
	pid_t broker = h_broker_start(&mqtt);
	char mq[16];
	snprintf(mq, sizeof mq, "%d", mqtt);
	const char *pg_extra[] = {"--app-id", "053461AD", NULL};
	pid_t pg = h_sim_powergo(mqtt, "15020115", "sim_powergo.log", pg_extra);
	const char *vargv[] = {h_bin("tests/sim/sim_venus"),
			       "--host",
			       "127.0.0.1",
			       "--port",
			       mq,
			       "--type",
			       "HMG-50",
			       "--id",
			       "0123456789ab",
			       NULL};
	pid_t ve = h_spawn(vargv, "sim_venus.log");
	const char *sargv[] = {h_bin("tests/sim/sim_solarman"),
			       "--port",
			       sols,
			       "--serial",
			       "1234567890",
			       "--slave",
			       "1",
			       NULL};
	pid_t so = h_spawn(sargv, "sim_solarman.log");
	h_ok(broker > 0 && pg > 0 && ve > 0 && so > 0 && h_wait_port(sol, 5000) == 0 &&
		 h_wait_lines(h_path("sim_venus.log"), "ready", 1, 5000),
	     "broker and simulators run");
	const char *conf = readme_config(port, mqtt, sol);
	pid_t bridge = h_bridge_start(conf, port, "bridge.log");
	const char *log = h_path("bridge.log");
	h_ok(bridge > 0, "the bridge runs the README's config");
	/* Let the first polls fill the caches (the docs' mbpoll commands use
	 * mbpoll's 1 s timeout: they rely on the cache). */
	h_wait_lines(log, "link up", 3, 10000);
	char ps[16];
	snprintf(ps, sizeof ps, "%d", port);
	const char *warm1[] = {"mbpoll", "-m", "tcp", "-a", "1",  "-0", "-r",	     "529", "-t",
			       "4",	 "-1", "-o",  "5",  "-p", ps,	"127.0.0.1", NULL};
	run_argv(warm1);
	const char *warm3[] = {"mbpoll", "-m", "tcp", "-a", "3",  "-0", "-r",	     "35", "-t",
			       "3",	 "-1", "-o",  "5",  "-p", ps,	"127.0.0.1", NULL};
	run_argv(warm3);

	for (size_t i = 0; i < ncmds; i++) {
		const struct cmd *c = &cmds[i];
		const char *t = c->text;
		if (strncmp(t, "sudo ", 5) == 0)
			t += 5;
		const char *why = skip_reason(t);
		if (why) {
			h_ok(1, "%s:%d: %s # SKIP %s", c->file, c->line, c->text, why);
		} else if (strncmp(t, "mbpoll ", 7) == 0) {
			struct cmd k = *c;
			snprintf(k.text, sizeof k.text, "%s", t);
			run_mbpoll(&k, port);
		} else if (strncmp(t, "modbridge ", 10) == 0) {
			struct cmd k = *c;
			snprintf(k.text, sizeof k.text, "%s", t);
			run_modbridge(&k, conf, bridge, log);
		} else if (strncmp(t, "curl ", 5) == 0 || strncmp(t, "printf ", 7) == 0) {
			run_shell(c);
		} else if (strncmp(t, "kill -USR1", 10) == 0) {
			int before = h_count_lines(log, "client connections");
			h_signal(bridge, SIGUSR1);
			h_ok(bridge > 0 &&
				 h_wait_lines(log, "client connections", before + 1, 3000),
			     "%s:%d: %s: the counters are logged", c->file, c->line, c->text);
		} else {
			h_ok(0, "%s:%d: %s: neither run nor skipped: classify it in %s", c->file,
			     c->line, c->text, __FILE__);
		}
	}

	uint64_t docs_ms = h_now_ms() - t0;
	evcc_pace(port);

	/* Show what the bridge said about time-outs, if anything. */
	FILE *lf = fopen(log, "r");
	char l[1024];
	int bad = 0;
	while (lf && fgets(l, sizeof l, lf))
		if ((strstr(l, "timed out") || strstr(l, " 0B")) && !strstr(l, "warning: device")) {
			bad++;
			h_note("%s", l);
		}
	if (lf)
		fclose(lf);
	h_ok(bad == 0, "no request of the docs timed out (%d lines in the bridge log)", bad);
	if (bridge > 0)
		h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");
	h_stop(so, 2000);
	h_stop(ve, 2000);
	h_stop(pg, 2000);
	h_stop(broker, 2000);
	h_ok(docs_ms < 60000, "the docs ran in %llu ms (< 60 s)", (unsigned long long)docs_ms);
	return h_done();
}

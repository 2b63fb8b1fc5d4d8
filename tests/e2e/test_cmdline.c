/* The command line and the log format (docs/man/modbridge.8): lines for
 * the journal ("<N>" first, no time stamp of ours) when JOURNAL_STREAM names
 * stderr, time-stamped lines when it names something else; the `log_level`
 * key and -v/-q over it, and a reload taking a new log_level; --listen and
 * --port over the config's listener; the default config path without -c. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MEM_DEV "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n"

static char out[65536];

/* out on one line ('|' for line ends), for "ok" lines. */
static void one_line(void)
{
	for (char *o = out; *o; o++)
		if (*o == '\n')
			*o = o[1] ? '|' : '\0';
}

static const char *conf(const char *name, int port, const char *extra)
{
	char text[2048];
	snprintf(
	    text, sizeof text,
	    "maps_path = \"%s\";\nserver = { listen = \"127.0.0.1\"; port = %d; };\n%s" MEM_DEV,
	    h_maps_dir(), port, extra);
	return h_write_file(name, text);
}

static int wait_ms(void)
{
	const char *v = getenv("VALGRIND");
	return v && *v && strcmp(v, "0") != 0 ? 30000 : 5000;
}

/* Start `modbridge args...` with its output in logname and wait for port. */
static pid_t start(const char *const args[], const char *logname, int port)
{
	pid_t pid = h_bridge_spawn(args, logname);
	if (pid > 0 && h_wait_port(port, wait_ms()) != 0) {
		h_note("modbridge did not listen on %d; log %s", port, h_path(logname));
		h_stop(pid, 2000);
		return -1;
	}
	return pid;
}

/* One client connects and goes: the listener logs it at debug level. */
static void poke(int port)
{
	int fd = h_connect(AF_INET, port);
	if (fd >= 0)
		close(fd);
}

/* Does the line start with "HH:MM:SS.mmm "? */
static int stamped(const char *l)
{
	static const char pat[] = "99:99:99.999 ";
	for (size_t i = 0; pat[i]; i++)
		if (pat[i] == '9' ? !isdigit((unsigned char)l[i]) : l[i] != pat[i])
			return 0;
	return 1;
}

/* Every line of the log "<N>..." with N a syslog priority (journal form),
 * or every line time-stamped (plain form); also counts lines with prefix. */
static int every_line(const char *path, int journal, const char *prefix, int *nprefix)
{
	FILE *f = fopen(path, "r");
	char l[2048];
	int all = f != NULL, n = 0;
	*nprefix = 0;
	while (f && fgets(l, sizeof l, f)) {
		n++;
		if (journal)
			all &= l[0] == '<' && l[1] >= '0' && l[1] <= '7' && l[2] == '>' &&
			       !stamped(l + 3);
		else
			all &= stamped(l);
		*nprefix += strncmp(l, prefix, strlen(prefix)) == 0;
	}
	if (f)
		fclose(f);
	return all && n > 0;
}

static void journal(void)
{
	int port = h_free_port(), n;
	const char *c = conf("journal.conf", port, "");
	const char *log = h_write_file("journal.log", "");
	struct stat st;
	char js[64];
	stat(log, &st);
	snprintf(js, sizeof js, "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	const char *args[] = {"-c", c, "-v", NULL};
	pid_t pid = start(args, "journal.log", port);
	poke(port);
	h_wait_lines(log, "connected", 1, wait_ms());
	h_ok(pid > 0 && h_bridge_stop(pid) == 0, "the bridge ran under JOURNAL_STREAM=%s", js);
	h_ok(every_line(log, 1, "<6>info: modbridge ", &n) && n == 1,
	     "JOURNAL_STREAM names stderr: every line starts with <N>, none with a time stamp, "
	     "\"<6>info: modbridge ... serving\" among them");
	every_line(log, 1, "<7>debug: client ", &n);
	h_ok(n >= 1, "debug lines carry <7> (%d)", n);

	/* the variable inherited from a parent whose stderr was the journal */
	port = h_free_port();
	c = conf("plain.conf", port, "");
	setenv("JOURNAL_STREAM", "1:1", 1);
	const char *args2[] = {"-c", c, NULL};
	pid = start(args2, "plain.log", port);
	unsetenv("JOURNAL_STREAM");
	h_ok(pid > 0 && h_bridge_stop(pid) == 0, "the bridge ran under JOURNAL_STREAM=1:1");
	h_ok(every_line(h_path("plain.log"), 0, "", &n),
	     "JOURNAL_STREAM names another file: every line is time-stamped, as on a terminal");
}

static void levels(void)
{
	int port = h_free_port(), n;
	const char *c = conf("warn.conf", port, "log_level = \"warning\";\n");
	const char *args[] = {"-c", c, NULL};
	pid_t pid = start(args, "warn.log", port);
	const char *log = h_path("warn.log");
	h_ok(pid > 0 && !h_file_contains(log, "serving"),
	     "log_level = \"warning\": the info line \"serving\" is not logged");
	/* a reload applies the file's new level */
	conf("warn.conf", port, "log_level = \"info\";\n");
	h_signal(pid, SIGHUP);
	h_sleep_ms(100);
	for (int i = 0; i < wait_ms() / 100 && !h_file_contains(log, "client connections"); i++) {
		h_signal(pid, SIGUSR1);
		h_wait_lines(log, "client connections", 1, 100);
	}
	h_ok(h_file_contains(log, "client connections"),
	     "after a reload with log_level = \"info\", SIGUSR1's counters are logged");
	h_ok(pid > 0 && h_bridge_stop(pid) == 0, "stops cleanly");

	port = h_free_port();
	c = conf("debug.conf", port, "log_level = \"debug\";\n");
	const char *args2[] = {"-c", c, NULL};
	pid = start(args2, "debug.log", port);
	poke(port);
	h_ok(h_wait_lines(h_path("debug.log"), "debug: client", 1, wait_ms()),
	     "log_level = \"debug\": a client's connect is logged");
	h_stop(pid, wait_ms());

	port = h_free_port();
	c = conf("v.conf", port, "log_level = \"error\";\n");
	const char *args3[] = {"-c", c, "-v", NULL};
	pid = start(args3, "v.log", port);
	poke(port);
	h_ok(h_wait_lines(h_path("v.log"), "debug: client", 1, wait_ms()),
	     "-v wins over log_level = \"error\": debug lines");
	h_stop(pid, wait_ms());

	port = h_free_port();
	c = conf("q.conf", port, "log_level = \"debug\";\n");
	const char *args4[] = {"-c", c, "-q", NULL};
	pid = start(args4, "q.log", port);
	poke(port);
	h_ok(pid > 0 && h_bridge_stop(pid) == 0, "runs with -q");
	every_line(h_path("q.log"), 0, "", &n);
	h_ok(!h_file_contains(h_path("q.log"), "info:") &&
		 !h_file_contains(h_path("q.log"), "debug:"),
	     "-q wins over log_level = \"debug\": no info or debug line");

	c = conf("bad.conf", port, "\nlog_level = \"loud\";\n");
	int rc = h_run_bridge("--check", c, out, sizeof out);
	one_line();
	char want[600];
	snprintf(want, sizeof want, "%s:4: log_level must be one of", c);
	h_ok(rc == 1 && strstr(out, want),
	     "log_level = \"loud\" is refused with file:line (%.200s)", out);
}

static void listener(void)
{
	char ps[16];
	int port = h_free_port(), other = h_free_port(), rc;
	const char *c = conf("listen.conf", port, "");
	snprintf(ps, sizeof ps, "%d", other);
	const char *args[] = {"-c", c, "--port", ps, NULL};
	pid_t pid = start(args, "port.log", other);
	int fd = h_connect(AF_INET, port);
	h_ok(pid > 0 && fd < 0, "--port %d: the bridge listens there, not on the config's %d",
	     other, port);
	if (fd >= 0)
		close(fd);
	h_stop(pid, wait_ms());

	if (h_ipv6_loopback()) {
		const char *args6[] = {"-c", c, "--listen", "::1", NULL};
		pid = start(args6, "listen.log", port);
		fd = h_connect(AF_INET6, port);
		int fd4 = h_connect(AF_INET, port);
		h_ok(pid > 0 && fd >= 0 && fd4 < 0,
		     "--listen ::1: the bridge listens on [::1]:%d, not on 127.0.0.1", port);
		if (fd >= 0)
			close(fd);
		if (fd4 >= 0)
			close(fd4);
		h_stop(pid, wait_ms());
	} else {
		h_ok(1, "--listen ::1 # SKIP no IPv6 loopback here");
	}

	const char *bad1[] = {h_bin("modbridge"), "-c", c, "--port", "70000", NULL};
	rc = h_run(bad1, out, sizeof out, 10000);
	one_line();
	h_ok(rc == 2 && strstr(out, "--port \"70000\": must be 1..65535"),
	     "--port 70000 refused (%d: %.100s)", rc, out);
	const char *bad2[] = {h_bin("modbridge"), "-c", c, "--listen", "example.org", NULL};
	rc = h_run(bad2, out, sizeof out, 10000);
	one_line();
	h_ok(rc == 2 && strstr(out, "not an IPv4 or IPv6 address"),
	     "--listen example.org refused (%d: %.100s)", rc, out);
}

static void default_config(void)
{
	/* No -c: the build's SYSCONFDIR/modbridge/modbridge.conf, which this
	 * machine may or may not have: either way --check names it. */
	const char *argv[] = {h_bin("modbridge"), "--check", NULL};
	int rc = h_run(argv, out, sizeof out, 20000);
	one_line();
	h_ok(strstr(out, "/modbridge/modbridge.conf") != NULL,
	     "--check without -c checks SYSCONFDIR/modbridge/modbridge.conf (%d: %.200s)", rc, out);
	const char *help[] = {h_bin("modbridge"), "--help", NULL};
	rc = h_run(help, out, sizeof out, 10000);
	h_ok(rc == 0 && strstr(out, "FILE defaults to /") && strstr(out, "--listen ADDR") &&
		 strstr(out, "--port N") && strstr(out, "-q"),
	     "--help names the default, --listen, --port and -q");
}

int main(void)
{
	h_init("cmdline");
	journal();
	levels();
	listener();
	default_config();
	return h_done();
}

/* --check refuses what start refuses, for the optional libraries too
 * (include/dl.h): with libmicrohttpd or libcurl unavailable to the daemon,
 * a config with an `http` or `influxdb` group fails `--check` with the very
 * message start fails with (naming the group, the library and the
 * package), and a reload that adds the group is refused, the running
 * config kept. With the libraries there, --check opens and closes them
 * again; a config without those groups makes it open neither.
 *
 * "Unavailable": the daemon is run with LD_LIBRARY_PATH naming a folder
 * whose libmicrohttpd.so.12 and libcurl.so.4 are text files, which the
 * dynamic loader finds first (by the sonames the build reads, include/dl.h)
 * and refuses; nothing else of the daemon's is in that folder. A build
 * with DLOPEN=0 links them and is not tested here. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static char out[65536];

/* The line of text that contains needle, into line ("" when none). */
static void line_with(const char *text, const char *needle, char *line, size_t len)
{
	const char *p = strstr(text, needle);
	line[0] = '\0';
	if (!p)
		return;
	while (p > text && p[-1] != '\n')
		p--;
	size_t n = strcspn(p, "\n");
	snprintf(line, len, "%.*s", (int)(n < len ? n : len - 1), p);
}

/* --check and start of conf, with the libraries hidden: both exit 1 with
 * the one message, which names the group, the library and the package. */
static void refused(const char *conf, const char *log, const char *group, const char *lib,
		    const char *package)
{
	char want[256], line[1024];
	snprintf(want, sizeof want, "%s: %s: cannot load %s: ", conf, group, lib);

	int rc = h_run_bridge("--check", conf, out, sizeof out);
	line_with(out, want, line, sizeof line);
	h_ok(rc == 1 && line[0] && strstr(line, package) && strstr(line, "or remove the group"),
	     "%s without %s: --check exits 1 (%d) naming the group, library and package", group,
	     lib, rc);
	if (!line[0])
		h_note("--check said: %.500s", out);
	h_ok(!strstr(out, ": OK,"), "and does not say OK");

	const char *args[] = {"-c", conf, NULL};
	pid_t br = h_bridge_spawn(args, log);
	rc = br > 0 ? h_wait_exit(br, getenv("VALGRIND") ? 60000 : 20000) : -1;
	h_ok(rc == 1, "%s without %s: start exits 1 (%d)", group, lib, rc);
	h_ok(line[0] && h_file_contains(h_path(log), line),
	     "with the message --check gave, byte for byte");
	h_ok(h_count_lines(h_path(log), "serving") == 0, "before it serves anything");
}

int main(void)
{
	h_init("lazy_libs_check");
	char stub[512], block[256];
	int mport = h_free_port(), hport = h_free_port();

	/* Files the loader finds first and cannot load ("file too short"). */
	snprintf(stub, sizeof stub, "%s/nolibs", h_dir());
	h_ok(mkdir(stub, 0755) == 0, "a folder for the unloadable libraries");
	h_write_file("nolibs/libmicrohttpd.so.12", "not a library\n");
	h_write_file("nolibs/libcurl.so.4", "not a library\n");

	snprintf(block, sizeof block,
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };",
		 hport);
	const char *http_conf = h_mem_conf("http.conf", mport, block);
	snprintf(block, sizeof block,
		 "influxdb = { url = \"http://127.0.0.1:%d\"; database = \"energy\"; };",
		 h_free_port());
	const char *influx_conf = h_mem_conf("influx.conf", mport, block);
	const char *plain_conf = h_mem_conf("plain.conf", mport, "");

	/* With the libraries: --check passes, and leaves nothing mapped: the
	 * loader's trace shows libmicrohttpd opened and its link map destroyed
	 * before exit (dlclose, not the exit's teardown, which prints no
	 * "destroying"). */
	setenv("LD_DEBUG", "files", 1);
	int rc = h_run_bridge("--check", http_conf, out, sizeof out);
	h_ok(rc == 0 && strstr(out, ": OK,"), "http group, libraries there: --check passes (%d)",
	     rc);
	h_ok(strstr(out, "file=libmicrohttpd.so.12 [0];  dynamically loaded") &&
		 strstr(out, "libmicrohttpd.so.12 [0];  destroying link map"),
	     "it opened libmicrohttpd and closed it again");
	rc = h_run_bridge("--check", plain_conf, out, sizeof out);
	h_ok(rc == 0 && !strstr(out, "libmicrohttpd") && !strstr(out, "libcurl"),
	     "no http or influxdb group: --check opens neither library (%d)", rc);
	unsetenv("LD_DEBUG");

	setenv("LD_LIBRARY_PATH", stub, 1);
	refused(http_conf, "http.log", "http", "libmicrohttpd.so.12",
		"install libmicrohttpd (Debian: libmicrohttpd12;");
	refused(influx_conf, "influx.log", "influxdb", "libcurl.so.4",
		"install libcurl (Debian: libcurl4;");

	/* A running daemon, the libraries hidden from it: a reload that adds
	 * the http group is refused with that message, and it runs on. */
	h_mem_conf("reload.conf", mport, "");
	pid_t br = h_bridge_start(h_path("reload.conf"), mport, "reload.log");
	unsetenv("LD_LIBRARY_PATH");
	if (!h_ok(br > 0 && h_wait_lines(h_path("reload.log"), "serving 1 device", 1, 30000),
		  "a daemon without the libraries starts with no http group"))
		return h_done();
	snprintf(block, sizeof block,
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };",
		 hport);
	h_mem_conf("reload.conf", mport, block);
	h_signal(br, SIGHUP);
	char want[1024];
	snprintf(want, sizeof want,
		 "reload refused, keeping the running config: %s: http: cannot load "
		 "libmicrohttpd.so.12: ",
		 h_path("reload.conf"));
	h_ok(h_wait_lines(h_path("reload.log"), want, 1, 20000),
	     "a reload that adds the http group is refused, naming the library");
	h_ok(h_alive(br) && h_count_lines(h_path("reload.log"), "http: listening") == 0,
	     "the daemon runs on, without the web interface");
	h_ok(h_bridge_stop(br) == 0, "and stops cleanly");
	return h_done();
}

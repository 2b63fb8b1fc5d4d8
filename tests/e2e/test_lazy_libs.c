/* What is not configured is not loaded (include/dl.h): a daemon with one
 * memory device and no `http` or `influxdb` group maps neither
 * libmicrohttpd nor libcurl, nor the TLS and Kerberos libraries they bring;
 * a reload that adds the `http` group opens libmicrohttpd and serves the
 * page; a start with an `influxdb` group opens libcurl. A build with
 * DLOPEN=0 links them and is not tested here. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* The main thread's voluntary context switches: each is the loop waking. */
static long wakeups(pid_t pid)
{
	char path[64], line[256];
	long n = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* GET / on port: 1 when an HTTP answer came. */
static int http_answers(int port)
{
	char buf[256] = "";
	int fd = h_connect(AF_INET, port), ok = 0;
	const char req[] = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";

	if (fd < 0)
		return 0;
	if (h_send_all(fd, req, sizeof req - 1) == 0 && recv(fd, buf, sizeof buf - 1, 0) > 0)
		ok = strncmp(buf, "HTTP/1.", 7) == 0;
	close(fd);
	return ok;
}

int main(void)
{
	h_init("lazy_libs");
	int mport = h_free_port(), hport = h_free_port();
	const char *conf = h_mem_conf("plain.conf", mport, "");
	pid_t br = h_bridge_start(conf, mport, "plain.log");
	/* Checked once it has started everything: it listens before it
	 * starts the web interface and the exporters. */
	if (!h_ok(br > 0 && h_wait_lines(h_path("plain.log"), "serving 1 device", 1, 30000),
		  "the bridge starts with one memory device"))
		return h_done();

	h_ok(h_mapped(br, "libmicrohttpd") == 0, "no http group: libmicrohttpd is not mapped");
	h_ok(h_mapped(br, "libcurl") == 0, "no influxdb group: libcurl is not mapped");
	h_ok(h_mapped(br, "libgnutls") == 0 && h_mapped(br, "libgssapi") == 0 &&
		 h_mapped(br, "libldap") == 0,
	     "nor GnuTLS, Kerberos or LDAP, which those bring on Debian");

	/* Idle with no client and nothing to poll, the loop sleeps: no timer
	 * ticks (the Modbus sweep runs only while a client is connected).
	 * h_bridge_start's own connection has closed by now; the sweep sees
	 * that within a second and stops. */
	h_sleep_ms(1500);
	long w0 = wakeups(br);
	h_sleep_ms(3000);
	long w1 = wakeups(br);
	h_ok(w0 >= 0 && w1 - w0 <= 1, "idle with no client: the loop is not woken (%ld in 3 s)",
	     w1 - w0);

	/* The same file with an http group, reloaded: the library is opened
	 * then, and the page is served. */
	char block[256];
	snprintf(block, sizeof block,
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };",
		 hport);
	h_mem_conf("plain.conf", mport, block);
	h_signal(br, SIGHUP);
	h_ok(h_wait_port(hport, 10000) == 0 && http_answers(hport),
	     "a reload that adds the http group serves the page");
	h_ok(h_mapped(br, "libmicrohttpd") == 1, "and libmicrohttpd is mapped now");
	h_ok(h_mapped(br, "libcurl") == 0, "libcurl still is not");
	h_ok(h_bridge_stop(br) == 0, "the bridge stops cleanly");

	/* An influxdb group opens libcurl at the start (nothing listens on the
	 * exporter's port: the exporter retries, the bridge serves). */
	mport = h_free_port();
	snprintf(block, sizeof block,
		 "influxdb = { url = \"http://127.0.0.1:%d\"; database = \"energy\"; interval = 1; "
		 "};",
		 h_free_port());
	conf = h_mem_conf("influx.conf", mport, block);
	br = h_bridge_start(conf, mport, "influx.log");
	if (h_ok(br > 0 && h_wait_lines(h_path("influx.log"), "serving 1 device", 1, 30000),
		 "the bridge starts with an influxdb group")) {
		h_ok(h_mapped(br, "libcurl") == 1, "libcurl is mapped");
		h_ok(h_mapped(br, "libmicrohttpd") == 0, "libmicrohttpd is not");
		h_ok(h_bridge_stop(br) == 0, "the bridge stops cleanly");
	}
	return h_done();
}

/* The service manager's notify protocol (bridge/notify.c) against a real
 * AF_UNIX datagram socket standing in for systemd: NOTIFY_SOCKET and
 * WATCHDOG_USEC set, the daemon must send READY=1 only once its Modbus port
 * accepts, WATCHDOG=1 while its loop runs, RELOADING=1 (with MONOTONIC_USEC)
 * then READY=1 around a SIGHUP, STOPPING=1 on SIGTERM; and the same READY=1
 * to an abstract socket ("@name"); STATUS= following the devices: one not
 * answering named, then every device answering once it is back. */
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define MEM_DEV "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n"

static int slow(void)
{
	const char *v = getenv("VALGRIND");
	return v && *v && strcmp(v, "0") != 0;
}

/* A datagram socket bound to path, or to the abstract name path+1 when
 * path starts with '@'. */
static int listen_dgram(const char *path)
{
	struct sockaddr_un a;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
	if (path[0] == '@') {
		a.sun_path[0] = '\0';
		len--; /* no NUL at the end of an abstract name */
	}
	if (bind(fd, (struct sockaddr *)&a, len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The next datagram within timeout_ms into buf (NUL-terminated): 1, or 0. */
static int next_msg(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	ssize_t n = recv(fd, buf, cap - 1, 0);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return 1;
}

/* Wait (bounded) for a datagram holding want as one of its lines; the
 * WATCHDOG=1 pings seen on the way are counted into *pings. 1 if it came. */
static int wait_msg(int fd, const char *want, char *got, size_t cap, int *pings)
{
	uint64_t end = h_now_ms() + (slow() ? 30000 : 10000);
	while (h_now_ms() < end) {
		if (!next_msg(fd, got, cap, (int)(end - h_now_ms())))
			return 0;
		if (pings && strcmp(got, "WATCHDOG=1") == 0)
			(*pings)++;
		size_t wl = strlen(want);
		for (const char *l = got; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
			if (strncmp(l, want, wl) == 0 && (l[wl] == '\n' || l[wl] == '\0'))
				return 1;
	}
	return 0;
}

/* got with its line ends shown as '|', for an "ok" line. */
static const char *flat(const char *got)
{
	static char buf[512];
	snprintf(buf, sizeof buf, "%s", got);
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = '|';
	return buf;
}

static const char *config(int port)
{
	char text[1024];
	snprintf(text, sizeof text,
		 "maps_path = \"%s\";\nserver = { listen = \"127.0.0.1\"; port = %d; };\n" MEM_DEV,
		 h_maps_dir(), port);
	return h_write_file("notify.conf", text);
}

static void with_watchdog(void)
{
	char got[512];
	int port = h_free_port(), pings = 0;
	const char *sock = h_path("notify.sock");
	int fd = listen_dgram(sock);
	h_ok(fd >= 0, "a datagram socket at %s", sock);
	setenv("NOTIFY_SOCKET", sock, 1);
	setenv("WATCHDOG_USEC", "200000", 1); /* pings every 100 ms */
	unsetenv("WATCHDOG_PID");
	const char *args[] = {"-c", config(port), NULL};
	pid_t pid = h_bridge_spawn(args, "notify.log");
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");

	int ready = wait_msg(fd, "READY=1", got, sizeof got, &pings);
	/* connect at once, without waiting: the port must already answer */
	int c = ready ? h_connect(AF_INET, port) : -1;
	h_ok(ready, "READY=1 arrives");
	h_ok(c >= 0, "when READY=1 arrives the Modbus port already accepts");
	if (c >= 0)
		close(c);
	h_ok(strstr(got, "STATUS=serving 1 device") != NULL,
	     "READY=1 comes with STATUS=serving 1 device (got \"%s\")", flat(got));

	uint64_t end = h_now_ms() + (slow() ? 30000 : 10000);
	while (pings < 3 && h_now_ms() < end && next_msg(fd, got, sizeof got, 1000))
		pings += strcmp(got, "WATCHDOG=1") == 0;
	h_ok(pings >= 3, "WATCHDOG=1 pings keep coming from the loop (%d seen)", pings);

	h_signal(pid, SIGHUP);
	int rel = wait_msg(fd, "RELOADING=1", got, sizeof got, NULL);
	h_ok(rel && strstr(got, "\nMONOTONIC_USEC=") != NULL,
	     "SIGHUP: RELOADING=1 with MONOTONIC_USEC (got \"%s\")", flat(got));
	h_ok(wait_msg(fd, "READY=1", got, sizeof got, NULL), "after the reload: READY=1 again");

	/* h_bridge_stop sends the one SIGTERM (a second one could hit the
	 * default action once the daemon closed its signal handles); the
	 * datagram waits in our socket. */
	h_ok(h_bridge_stop(pid) == 0, "the bridge exits cleanly on SIGTERM");
	h_ok(wait_msg(fd, "STOPPING=1", got, sizeof got, NULL), "SIGTERM: STOPPING=1");
	close(fd);
	unlink(sock);
}

static void abstract(void)
{
	char name[64], got[512];
	int port = h_free_port();
	snprintf(name, sizeof name, "@modbridge-test-%ld", (long)getpid());
	int fd = listen_dgram(name);
	h_ok(fd >= 0, "an abstract datagram socket %s", name);
	setenv("NOTIFY_SOCKET", name, 1);
	const char *args[] = {"-c", config(port), NULL};
	pid_t pid = h_bridge_spawn(args, "abstract.log");
	unsetenv("NOTIFY_SOCKET");
	h_ok(wait_msg(fd, "READY=1", got, sizeof got, NULL), "READY=1 reaches %s", name);
	h_ok(h_bridge_stop(pid) == 0, "the bridge exits cleanly");
	close(fd);
}

/* STATUS= follows the devices: a memory device answers, a Modbus TCP
 * device whose server is not there yet does not and is named; once the
 * server listens, both answer. */
static void status_follows(void)
{
	char got[512], text[1024], port_s[16];
	int port = h_free_port(), up = h_free_port();
	snprintf(port_s, sizeof port_s, "%d", up);
	const char *sock = h_path("status.sock");
	int fd = listen_dgram(sock);
	snprintf(text, sizeof text,
		 "maps_path = \"%s\";\nserver = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "devices = ( { name = \"a\"; unit_id = 1; map = \"scratch\"; memory = {}; },\n"
		 "  { name = \"roof\"; unit_id = 2; map = \"raw\";\n"
		 "    modbus = { host = \"127.0.0.1\"; port = %d; unit = 1; }; } );\n",
		 h_maps_dir(), port, up);
	const char *cpath = h_write_file("status.conf", text);
	setenv("NOTIFY_SOCKET", sock, 1);
	const char *args[] = {"-c", cpath, NULL};
	pid_t pid = h_bridge_spawn(args, "status.log");
	unsetenv("NOTIFY_SOCKET");
	int named =
	    wait_msg(fd, "STATUS=1 device answering, 1 not answering: roof", got, sizeof got, NULL);
	h_ok(named, "STATUS= names the device that does not answer (got \"%s\")", flat(got));
	const char *sim[] = {h_bin("tests/sim/sim_modbus"), "--tcp", port_s, "--slave", "1", NULL};
	pid_t sp = h_spawn(sim, "simtcp.log");
	int all = wait_msg(fd, "STATUS=2 devices answering", got, sizeof got, NULL);
	h_ok(all, "once it answers, STATUS= says every device answers (got \"%s\")", flat(got));
	h_ok(h_bridge_stop(pid) == 0, "the bridge exits cleanly");
	h_stop(sp, 3000);
	close(fd);
	unlink(sock);
}

int main(void)
{
	h_init("notify");
	with_watchdog();
	abstract();
	status_follows();
	return h_done();
}

/* Two instances with Venus devices on one broker, each as a container runs
 * it: process 1 of its own PID namespace, with a host name of its own (a UTS
 * namespace). Every Venus device of an instance shares one MQTT connection
 * whose default client ID must differ from the other instance's, or the
 * broker closes one connection each time the other connects and both lose
 * their devices in turn (docs/scaling.md, "Client IDs"). The PID alone,
 * the old default, is 1 in both here.
 *
 * Checked: each instance connects once, under its own client ID, which names
 * its host (one host name with a space and a byte that is not UTF-8, which
 * the ID carries as '_'); the broker took no session over ("already connected"); neither
 * instance saw its link go down. Needs root (namespaces) and unshare(1),
 * and a system that lets it make PID and UTS namespaces: skips otherwise. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* The first child of pid (unshare's: the daemon), or -1. */
static pid_t child_of(pid_t pid)
{
	char path[64], buf[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (!h_read_file(path, buf, sizeof buf))
		return -1;
	int c = atoi(buf);
	return c > 0 ? (pid_t)c : -1;
}

/* The config of instance s: one Venus device on the broker, client ID left
 * to the default. */
static const char *conf(int s, int port, int broker_port)
{
	char text[2048];
	int n = h_conf_head(text, sizeof text, port);
	snprintf(text + n, sizeof text - (size_t)n,
		 " { name = \"venus%c\"; unit_id = 1; map = \"venus\"; poll = 0;\n"
		 "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "   venus = { type = \"HMG-50\"; id = \"0123456789a%c\"; }; }\n"
		 ");\n",
		 'a' + s, broker_port, 'a' + s);
	return h_write_file(s ? "b.conf" : "a.conf", text);
}

int main(void)
{
	h_init("venus_hosts");
	if (geteuid() != 0 || access("/usr/bin/unshare", X_OK) != 0) {
		h_ok(1, "two instances as containers # SKIP needs root and unshare(1)");
		return h_done();
	}
	/* A container may not let us make namespaces, root or not. */
	char out[512];
	const char *probe[] = {"/usr/bin/unshare", "--pid", "--uts", "--fork", "true", NULL};
	if (h_run(probe, out, sizeof out, 10000) != 0) {
		for (char *c = out; *c; c++)
			if (*c == '\n')
				*c = ' ';
		h_ok(1,
		     "two instances as containers # SKIP unshare cannot make namespaces here: %s",
		     out);
		return h_done();
	}
	int broker_port = 0;
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return h_done();
	char broker_log[512];
	snprintf(broker_log, sizeof broker_log, "%s/mosquitto-%d.log", h_dir(), broker_port);

	/* B's host name is one hostname(1) refuses but the kernel takes: a
	 * space and a byte that is not UTF-8, which the client ID must not
	 * carry (each becomes '_'). */
	static const char *const host[2] = {"shard-a", "shard b\xff"};
	static const char *const id[2] = {"modbridge-venus-shard-a-1",
					  "modbridge-venus-shard_b_-1"};
	pid_t b[2];
	char log[2][512];
	for (int s = 0; s < 2; s++) {
		int port = h_free_port();
		snprintf(log[s], sizeof log[s], "%s/shard-%c.log", h_dir(), 'a' + s);
		/* unshare forks the daemon as process 1 of a new PID namespace
		 * with its own host name, set as the kernel holds it;
		 * --kill-child passes our SIGTERM on. */
		const char *argv[24] = {
		    "/usr/bin/unshare",
		    "--pid",
		    "--uts",
		    "--fork",
		    "--kill-child=SIGTERM",
		    "sh",
		    "-c",
		    "printf %s \"$0\" >/proc/sys/kernel/hostname && exec \"$@\"",
		    host[s]};
		int n = 9;
		n += h_bridge_argv(argv + n); /* under valgrind when VALGRIND=1 */
		argv[n++] = "-c";
		argv[n++] = conf(s, port, broker_port);
		argv[n] = NULL;
		b[s] = h_spawn(argv, strrchr(log[s], '/') + 1);
		h_ok(b[s] > 0 && h_wait_port(port, 30000) == 0, "instance %c listens", 'A' + s);
		/* One after the other: the second connects while the first's
		 * session is up, as a takeover needs. */
		h_ok(h_wait_lines(log[s], ": connected (MQTT", 1, 20000),
		     "instance %c connected to the broker", 'A' + s);
	}
	for (int s = 0; s < 2; s++) {
		char as[80];
		snprintf(as, sizeof as, " as %s ", id[s]);
		h_ok(h_count_lines(broker_log, as) == 1,
		     "the broker saw instance %c connect once as %s (%d)", 'A' + s, id[s],
		     h_count_lines(broker_log, as));
	}
	/* The broker logs a takeover when the second client connects, before
	 * its CONNACK, so by now it would be in the log. */
	h_ok(h_count_lines(broker_log, "already connected") == 0, "no session was taken over (%d)",
	     h_count_lines(broker_log, "already connected"));
	for (int s = 0; s < 2; s++)
		h_ok(h_count_lines(log[s], ": link down") == 0 &&
			 h_count_lines(log[s], ": connected (MQTT") == 1,
		     "instance %c kept its one connection", 'A' + s);

	/* unshare ignores SIGTERM while it waits: the daemon, its child, is
	 * stopped, and unshare exits with it. */
	for (int s = 0; s < 2; s++) {
		pid_t d = b[s] > 0 ? child_of(b[s]) : -1;
		h_ok(d > 0 && h_signal(d, SIGTERM) == 0 && h_wait_exit(b[s], 10000) == 0 &&
			 h_count_lines(log[s], "info: stopped") == 1,
		     "instance %c stops cleanly", 'A' + s);
	}
	h_stop(broker, 2000);
	return h_done();
}

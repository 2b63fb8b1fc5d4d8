#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define H_MAX_PROCS 256

static char h__dir[512];
static char h__root[1024];
static const char *h__suite = "test";
static int h__pass, h__fail;
static pid_t h__procs[H_MAX_PROCS];
static size_t h__nprocs;

static void h__cleanup(void)
{
	for (size_t i = 0; i < h__nprocs; i++) {
		if (h__procs[i] > 0 && kill(h__procs[i], 0) == 0) {
			kill(h__procs[i], SIGKILL);
			waitpid(h__procs[i], NULL, 0);
		}
	}
	if (h__dir[0] && !getenv("KEEP_TMP")) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", h__dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", h__dir);
	}
}

static void h__on_signal(int sig)
{
	(void)sig;
	exit(2); /* runs h__cleanup */
}

void h_init(const char *suite)
{
	h__suite = suite;
	snprintf(h__dir, sizeof h__dir, "/tmp/mbtest-%s-XXXXXX", suite);
	if (!mkdtemp(h__dir)) {
		perror("mkdtemp");
		exit(2);
	}
	if (!getcwd(h__root, sizeof h__root))
		h__root[0] = 0;
	atexit(h__cleanup);
	signal(SIGINT, h__on_signal);
	signal(SIGTERM, h__on_signal);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

int h_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	printf("%s - %s: ", cond ? "ok" : "not ok", h__suite);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (cond)
		h__pass++;
	else
		h__fail++;
	return cond;
}

void h_note(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void h_note_tail(const char *path, int lines)
{
	/* The temporary directory is gone when the suite ends: a failure's
	 * evidence has to reach the output. */
	char ring[40][256];
	int n = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		h_note("(%s cannot be read)", path);
		return;
	}
	if (lines > 40)
		lines = 40;
	while (fgets(ring[n % lines], sizeof ring[0], f))
		n++;
	fclose(f);
	h_note("last %d lines of %s:", n < lines ? n : lines, path);
	for (int i = n < lines ? 0 : n - lines; i < n; i++) {
		char *l = ring[i % lines];
		l[strcspn(l, "\n")] = '\0';
		h_note("  %s", l);
	}
}

int h_done(void)
{
	printf("# %s: %d passed, %d failed\n", h__suite, h__pass, h__fail);
	return h__fail ? 1 : 0;
}

int h_soak(void)
{
	const char *s = getenv("MB_SOAK");
	return s && strcmp(s, "1") == 0;
}

const char *h_dir(void)
{
	return h__dir;
}

const char *h_path(const char *name)
{
	static char buf[8][PATH_MAX];
	static int next;
	char *p = buf[next++ & 7];
	snprintf(p, PATH_MAX, "%s/%s", h__dir, name);
	return p;
}

const char *h_bin(const char *rel)
{
	static char buf[8][PATH_MAX];
	static int next;
	const char *b = getenv("MB_BUILD");
	char *p = buf[next++ & 7];
	snprintf(p, PATH_MAX, "%s/%s/%s", h__root, b && *b ? b : "build", rel);
	return p;
}

const char *h_repo_file(const char *rel)
{
	static char buf[4][1024];
	static int next;
	char *out = buf[next++ % 4];
	char exe[900];
	if (access(rel, R_OK) == 0)
		return rel;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 5; up++) {
			char *slash = strrchr(exe, '/');
			if (!slash)
				break;
			*slash = '\0';
			snprintf(out, 1024, "%s/%s", exe, rel);
			if (access(out, R_OK) == 0)
				return out;
		}
	}
	return rel;
}

const char *h_maps_dir(void)
{
	static char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s/maps", h__root);
	return buf;
}

/* The lowest port the kernel hands out for outgoing connections and bind(0)
 * (32768 unless the machine says otherwise). */
static int h__ephemeral_low(void)
{
	int lo = 32768, hi;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	return lo;
}

static int h__port_free(int port)
{
	/* Without SO_REUSEADDR: a port with a connection in TIME_WAIT is not
	 * taken either, so the daemon's own bind cannot trip over one. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)port)};
	if (fd < 0)
		return 0;
	int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

int h_free_port(void)
{
	/* A free port below the ephemeral range. The kernel's bind(0) picks from
	 * the range every outgoing connection on the machine also takes its
	 * source port from, so a port it returned here could be someone's source
	 * port (a curl of the suite running beside this one) by the time the
	 * daemon binds it: "address in use". Below the range only another test
	 * choosing the same port in the same instant collides; the start is
	 * random per process and the ports a process handed out are not handed
	 * out again. */
	static int next = -1;
	int hi = h__ephemeral_low(), lo = hi > 12000 ? hi - 12000 : 1024;
	if (hi - lo < 1000)
		lo = 1024, hi = 65535;
	int span = hi - lo;
	if (next < 0) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		next = (int)(((unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec) %
			     (unsigned)span);
	}
	for (int i = 0; i < span; i++) {
		int port = lo + next;
		next = (next + 1) % span;
		if (h__port_free(port))
			return port;
	}
	return -1;
}

uint64_t h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int h_mqtt_pub(int port, const char *topic, const char *payload)
{
	char p[16], out[512];
	snprintf(p, sizeof p, "%d", port);
	const char *argv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p", p, "-q", "1", "-t",
			      topic,	       "-m", payload,	  NULL};
	return h_run(argv, out, sizeof out, 5000) == 0 ? 0 : -1;
}

int h_sim_tell(int port, const char *topic, const char *payload, const char *log_path,
	       const char *echo, int timeout_ms)
{
	int before = h_count_lines(log_path, echo);
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	while (h_now_ms() < end) {
		if (h_mqtt_pub(port, topic, payload) == 0 &&
		    h_wait_lines(log_path, echo, before + 1, 1000))
			return 1;
		h_sleep_ms(100);
	}
	return 0;
}

pid_t h_sim_powergo(int broker_port, const char *dev, const char *logname,
		    const char *const extra[])
{
	enum { FIXED = 7, MAX_EXTRA = 8 };
	char port[16];
	snprintf(port, sizeof port, "%d", broker_port);
	const char *argv[FIXED + MAX_EXTRA + 1] = {h_bin("tests/sim/sim_powergo"),
						   "--host",
						   "127.0.0.1",
						   "--port",
						   port,
						   "--device-id",
						   dev};
	size_t n = FIXED;
	for (size_t i = 0; extra && extra[i] && i < MAX_EXTRA; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid_t pid = h_spawn(argv, logname);
	if (!h_wait_lines(h_path(logname), "subscribed", 1, 5000))
		h_note("simulator %s did not subscribe; log %s", dev, h_path(logname));
	return pid;
}

pid_t h_sim_fleet(int broker_port, uint32_t first_id, int devices, const char *logname,
		  int *subscribed)
{
	char port[16], first[16], count[16];
	snprintf(port, sizeof port, "%d", broker_port);
	snprintf(first, sizeof first, "%08X", (unsigned)first_id);
	snprintf(count, sizeof count, "%d", devices);
	const char *argv[] = {h_bin("tests/sim/sim_fleet"),
			      "--port",
			      port,
			      "--first-id",
			      first,
			      "--devices",
			      count,
			      NULL};
	pid_t pid = h_spawn(argv, logname);
	*subscribed = pid > 0 && h_wait_lines(h_path(logname), "subscribed", 1, 10000);
	if (!*subscribed)
		h_note("the fleet simulator did not subscribe; log %s", h_path(logname));
	return pid;
}

int h_ipv6_loopback(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		return 0;
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

int h_send_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int h_recv_exact(int fd, uint8_t *p, size_t n, uint64_t end_ms)
{
	while (n > 0) {
		int left = (int)(end_ms - h_now_ms());
		if (left <= 0)
			return -1;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, left) <= 0)
			continue; /* EINTR, or the time is up: the loop tells */
		ssize_t k = recv(fd, p, n, 0);
		if (k == 0)
			return 0;
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? 0 : -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

int h_recv_adu(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	if (cap < 7)
		return -1;
	int rc = h_recv_exact(fd, buf, 6, end);
	if (rc <= 0)
		return rc;
	size_t len = (size_t)buf[4] << 8 | buf[5];
	if (buf[2] || buf[3] || len < 2 || len > 254 || 6 + len > cap)
		return -1;
	rc = h_recv_exact(fd, buf + 6, len, end);
	return rc <= 0 ? rc : (int)(6 + len);
}

int h_connect(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	}
	int fd = socket(family == AF_INET6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* A raw test client must never hang the suite. */
	struct timeval tv = {3, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int h__can_connect(int af, int port)
{
	int fd = h_connect(af, port);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int h_wait_port(int port, int timeout_ms)
{
	/* 127.0.0.1 or ::1, so that IPv6-only listeners can be waited for. */
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	do {
		if (h__can_connect(AF_INET, port) || h__can_connect(AF_INET6, port))
			return 0;
		h_sleep_ms(20);
	} while (h_now_ms() < end);
	return -1;
}

pid_t h_spawn(const char *const argv[], const char *logname)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(h_path(logname), O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0) {
			dup2(null, 0);
			close(null);
		}
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (h__nprocs < H_MAX_PROCS)
		h__procs[h__nprocs++] = pid;
	return pid;
}

static int h__reap(pid_t pid, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		if (r < 0)
			return -1;
		if (h_now_ms() >= end)
			return -2;
		h_sleep_ms(10);
	}
}

int h_wait_exit(pid_t pid, int timeout_ms)
{
	if (pid <= 0)
		return -1;
	int rc = h__reap(pid, timeout_ms);
	if (rc == -2) {
		kill(pid, SIGKILL);
		h__reap(pid, 1000);
		return -1;
	}
	return rc;
}

int h_signal(pid_t pid, int sig)
{
	if (pid <= 0) {
		printf("# h_signal: no process to send signal %d to (pid %d)\n", sig, (int)pid);
		return -1;
	}
	return kill(pid, sig);
}

int h_stop(pid_t pid, int timeout_ms)
{
	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	int rc = h__reap(pid, timeout_ms);
	if (rc == -2) {
		kill(pid, SIGKILL);
		rc = h__reap(pid, 5000);
		if (rc >= 0)
			rc = 128 + SIGKILL;
	}
	for (size_t i = 0; i < h__nprocs; i++)
		if (h__procs[i] == pid)
			h__procs[i] = 0;
	return rc;
}

int h_alive(pid_t pid)
{
	return pid > 0 && waitpid(pid, NULL, WNOHANG) == 0;
}

int h_run(const char *const argv[], char *out, size_t outlen, int timeout_ms)
{
	int fds[2];
	if (pipe(fds) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	size_t used = 0;
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int left = (int)(end - h_now_ms());
		if (left <= 0)
			break;
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		if (poll(&p, 1, left) <= 0)
			break;
		char tmp[4096];
		ssize_t n = read(fds[0], tmp, sizeof tmp);
		if (n <= 0)
			break;
		if (out && used + 1 < outlen) {
			size_t k = (size_t)n < outlen - 1 - used ? (size_t)n : outlen - 1 - used;
			memcpy(out + used, tmp, k);
			used += k;
		}
	}
	if (out && outlen)
		out[used] = 0;
	close(fds[0]);
	int rc = h__reap(pid, 1000);
	if (rc == -2) {
		kill(pid, SIGKILL);
		h__reap(pid, 1000);
		return -1;
	}
	return rc;
}

int h_curl_args(const struct h_curl *c, const char **argv, size_t cap)
{
	static char max[8][16];
	static int next;
	char *mt = max[next++ & 7];
	size_t n = 0, want = 22; /* the most the fields below add, NULL included */
	int typed = 0;
	for (size_t i = 0; c->headers && c->headers[i]; i++)
		want += 2;
	for (size_t i = 0; c->extra && c->extra[i]; i++)
		want++;
	if (want > cap) {
		h_note("h_curl: %zu arguments do not fit in %zu", want, cap);
		return -1;
	}
	snprintf(mt, 16, "%d", c->max_time > 0 ? c->max_time : 20);
	argv[n++] = "curl";
	argv[n++] = "-s";
	if (c->verbose)
		argv[n++] = "-v";
	argv[n++] = "-o";
	argv[n++] = c->out ? c->out : "/dev/null";
	if (c->dump_headers) {
		argv[n++] = "-D";
		argv[n++] = c->dump_headers;
	}
	if (!c->write_out || *c->write_out) {
		argv[n++] = "-w";
		argv[n++] = c->write_out ? c->write_out : "%{http_code}";
	}
	if (c->method) {
		argv[n++] = "-X";
		argv[n++] = c->method;
	}
	argv[n++] = "--max-time";
	argv[n++] = mt;
	if (c->userpass) {
		argv[n++] = "--digest";
		argv[n++] = "-u";
		argv[n++] = c->userpass;
	}
	for (size_t i = 0; c->headers && c->headers[i]; i++) {
		argv[n++] = "-H";
		argv[n++] = c->headers[i];
		typed |= strncasecmp(c->headers[i], "Content-Type:", 13) == 0;
	}
	if (c->body) {
		if (!typed) {
			argv[n++] = "-H";
			argv[n++] = "Content-Type: application/json";
		}
		argv[n++] = "--data-binary";
		argv[n++] = c->body;
	}
	for (size_t i = 0; c->extra && c->extra[i]; i++)
		argv[n++] = c->extra[i];
	argv[n++] = c->url;
	argv[n] = NULL;
	return (int)n;
}

int h_curl(const struct h_curl *c, char *out, size_t outlen)
{
	const char *argv[64];
	if (h_curl_args(c, argv, sizeof argv / sizeof argv[0]) < 0)
		return -1;
	if (c->out)
		unlink(c->out);
	return h_run(argv, out, outlen, ((c->max_time > 0 ? c->max_time : 20) + 5) * 1000);
}

pid_t h_curl_spawn(const struct h_curl *c, const char *logname)
{
	const char *argv[64];
	if (h_curl_args(c, argv, sizeof argv / sizeof argv[0]) < 0)
		return -1;
	if (c->out)
		unlink(c->out);
	return h_spawn(argv, logname);
}

size_t h_read_file(const char *path, char *buf, size_t len)
{
	size_t n = 0;
	FILE *f = fopen(path, "rb");
	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return n;
}

static pid_t h__broker(int port)
{
	char conf[256], name[64];
	snprintf(conf, sizeof conf,
		 "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port);
	snprintf(name, sizeof name, "mosquitto-%d.conf", port);
	const char *path = h_write_file(name, conf);
	const char *argv[] = {"mosquitto", "-c", path, NULL};
	char bin[64];
	/* Debian installs the broker in /usr/sbin, which a user's PATH may lack. */
	snprintf(bin, sizeof bin, "%s",
		 access("/usr/sbin/mosquitto", X_OK) == 0 ? "/usr/sbin/mosquitto" : "mosquitto");
	argv[0] = bin;
	snprintf(name, sizeof name, "mosquitto-%d.log", port);
	pid_t pid = h_spawn(argv, name);
	if (pid > 0 && h_wait_port(port, 5000) < 0) {
		h_note("mosquitto did not listen on %d", port);
		h_stop(pid, 1000);
		return -1;
	}
	return pid;
}

pid_t h_broker_start(int *port)
{
	*port = h_free_port();
	return h__broker(*port);
}

pid_t h_broker_restart(int port)
{
	return h__broker(port);
}

const char *h_write_file(const char *name, const char *text)
{
	const char *path = h_path(name);
	FILE *f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

int h_conf_head(char *buf, size_t len, int mport)
{
	return snprintf(buf, len,
			"server = { listen = \"127.0.0.1\"; port = %d; };\n"
			"maps_path = [ \"%s\" ];\ndevices = (\n",
			mport, h_maps_dir());
}

const char *h_mem_conf(const char *name, int mport, const char *extra)
{
	static char text[2048];
	int n = h_conf_head(text, sizeof text, mport);
	snprintf(text + n, sizeof text - (size_t)n,
		 "  { name = \"m\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n%s\n",
		 extra);
	return h_write_file(name, text);
}

int h_mapped(pid_t pid, const char *needle)
{
	char path[64], line[1024];
	int found = 0;
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

pid_t h_influxd_start(int http_port, int rpc_port, int auth, int timeout_ms)
{
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "reporting-disabled = true\n"
		 "bind-address = \"127.0.0.1:%d\"\n"
		 "[meta]\n  dir = \"%s/influx/meta\"\n  logging-enabled = false\n"
		 "[data]\n  dir = \"%s/influx/data\"\n  wal-dir = \"%s/influx/wal\"\n"
		 "  query-log-enabled = false\n"
		 "[monitor]\n  store-enabled = false\n"
		 "[subscriber]\n  enabled = false\n"
		 "[continuous_queries]\n  enabled = false\n"
		 "[http]\n  bind-address = \"127.0.0.1:%d\"\n  auth-enabled = %s\n"
		 "  log-enabled = false\n",
		 rpc_port, h_dir(), h_dir(), h_dir(), http_port, auth ? "true" : "false");
	const char *path = h_write_file("influxdb.conf", conf);
	const char *argv[] = {"influxd", "-config", path, NULL};
	pid_t pid = path ? h_spawn(argv, "influxd.log") : -1;
	if (pid > 0 && h_wait_port(http_port, timeout_ms) < 0) {
		h_note("influxd did not listen on %d; log %s", http_port, h_path("influxd.log"));
		h_stop(pid, 2000);
		return -1;
	}
	return pid;
}

const char *h_http_conf(const char *name, int mport, int hport, const char *extra)
{
	char conf[4096];
	int n = snprintf(conf, sizeof conf,
			 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
			 "maps_path = [ \"%s\" ];\n"
			 "devices = ( { name = \"scratch\"; unit_id = 10; map = \"scratch\"; "
			 "memory = { }; } );\n"
			 "http = { listen = \"127.0.0.1\"; port = %d;\n"
			 "  users = ( { name = \"admin\"; ha1 = \"" H_HA1 "\"; } ); };\n"
			 "%s\n",
			 mport, h_maps_dir(), hport, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof conf) {
		h_note("h_http_conf: the configuration does not fit");
		return NULL;
	}
	return h_write_file(name, conf);
}

static int h__valgrind(void)
{
	const char *v = getenv("VALGRIND");
	return v && *v == '1';
}

pid_t h_bridge_start(const char *config_path, int port, const char *logname)
{
	const char *args[] = {"-c", config_path, "-v", NULL};
	pid_t pid = h_bridge_spawn(args, logname);
	if (pid > 0 && h_wait_port(port, h__valgrind() ? 30000 : 5000) < 0) {
		h_note("modbridge did not listen on %d", port);
		h_note_tail(h_path(logname), 20);
		h_stop(pid, 2000);
		return -1;
	}
	return pid;
}

int h_bridge_argv(const char **argv)
{
	int n = 0;
	if (h__valgrind()) {
		argv[n++] = "valgrind";
		argv[n++] = "--error-exitcode=99";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--show-leak-kinds=definite,indirect,possible";
		argv[n++] = "--errors-for-leak-kinds=definite,indirect,possible";
		argv[n++] = "-q";
	}
	argv[n++] = h_bin("modbridge");
	return n;
}

pid_t h_bridge_spawn(const char *const args[], const char *logname)
{
	const char *argv[48];
	int n = h_bridge_argv(argv);
	for (size_t i = 0; args[i] && n < 47; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return h_spawn(argv, logname);
}

int h_bridge_stop(pid_t pid)
{
	int rc = h_stop(pid, h__valgrind() ? 30000 : 5000);
	return rc;
}

int h_count_lines(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

int h_wait_lines(const char *path, const char *needle, int atleast, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	do {
		if (h_count_lines(path, needle) >= atleast)
			return 1;
		h_sleep_ms(20);
	} while (h_now_ms() < end);
	return 0;
}

int h_file_contains(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

modbus_t *h_modbus(int port, int unit)
{
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	if (!ctx)
		return NULL;
	modbus_set_slave(ctx, unit);
	modbus_set_response_timeout(ctx, 5, 0);
	if (modbus_connect(ctx) < 0) {
		modbus_free(ctx);
		return NULL;
	}
	return ctx;
}

long h_proc_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			v = strtol(line + fl + 1, NULL, 10);
	fclose(f);
	return v;
}

long long h_dev_counter(pid_t bridge, const char *log, const char *name, const char *key)
{
	char tag[80], want[64], line[4096];
	snprintf(tag, sizeof tag, "%s: unit ", name);
	snprintf(want, sizeof want, " %s ", key);
	int before = h_count_lines(log, tag);
	h_signal(bridge, SIGUSR1);
	if (!h_wait_lines(log, tag, before + 1, 10000))
		return -1;
	FILE *f = fopen(log, "r");
	long long v = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		const char *p = strstr(line, tag);
		if (p && strstr(p, " requests ") && (p = strstr(p, want)))
			v = strtoll(p + strlen(want), NULL, 10);
	}
	fclose(f);
	return v;
}

int h_chromium(const char *url, const char *a1, const char *a2, char *out, size_t outlen)
{
	char profile[512];
	snprintf(profile, sizeof profile, "--user-data-dir=%s", h_path("chromium"));
	const char *argv[16] = {"chromium",
				"--headless",
				"--no-sandbox",
				"--disable-gpu",
				"--disable-background-networking",
				"--disable-component-update",
				"--disable-sync",
				"--no-first-run",
				"--disable-dev-shm-usage",
				profile,
				"--virtual-time-budget=5000"};
	int n = 11;
	argv[n++] = a1;
	if (a2)
		argv[n++] = a2;
	argv[n++] = url;
	argv[n] = NULL;
	return h_run(argv, out, outlen, 60000);
}

int h_run_bridge(const char *arg, const char *config, char *out, size_t outlen)
{
	const char *vg = getenv("VALGRIND");
	const char *argv[12];
	int n = 0;
	if (vg && *vg == '1') {
		argv[n++] = "valgrind";
		argv[n++] = "--error-exitcode=99";
		argv[n++] = "--leak-check=full";
		argv[n++] = "--errors-for-leak-kinds=definite,indirect,possible";
		argv[n++] = "-q";
	}
	argv[n++] = h_bin("modbridge");
	if (arg)
		argv[n++] = arg;
	argv[n++] = "-c";
	argv[n++] = config;
	argv[n] = NULL;
	return h_run(argv, out, outlen, 60000);
}

int h_first_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	int got = 0;
	if (len)
		buf[0] = '\0';
	if (f) {
		got = len > 1 && fgets(buf, (int)len, f) != NULL;
		fclose(f);
	}
	if (!got && len)
		buf[0] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return got;
}

int h_count_exact(const char *path, const char *text)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int n = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = 0;
		n += strcmp(line, text) == 0;
	}
	fclose(f);
	return n;
}

int h_read_retry(modbus_t *mb, int addr, int n, uint16_t *out)
{
	for (int tries = 0; tries < 50; tries++) {
		if (modbus_read_registers(mb, addr, n, out) == n)
			return 0;
		if (errno != EMBXGPATH)
			return errno;
		h_sleep_ms(100);
	}
	return EMBXGPATH;
}

/* The web interface against hostile and broken HTTP clients (docs/design.md,
 * "Bounded everything"), through the real daemon: raw sockets for what no
 * polite client sends, curl for Digest-authenticated requests.
 *
 *   unit 10 "scratch": maps/scratch.conf (memory): Modbus must keep answering
 *           during every attack
 *   unit 2  "slow": a Solarman device whose logger is a socket of this test
 *           that listens and never answers: a write waits for it until its
 *           timeout (2.5 s)
 *
 * Each attack gets a clear HTTP error or is dropped (and counted in GET
 * /api/v1/status's "http"); after each, Modbus still answers, and at the end
 * the daemon's RSS has not grown beyond a bound and it stops cleanly (under
 * VALGRIND=1 and SANITIZE=1: no error, no leak). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* HA1 = MD5("admin:modbridge:secret") */
#define HA1 "74b5ba04a8aa06dd55aa3fc4e8c0307e"
#define MAXCONN 4
#define DEADLINE_S 10 /* HTTP__REQUEST_DEADLINE in bridge/http.c */

static int mport, http_port;
static pid_t bridge;
static char base[64];

static const char slow_map[] = "name = \"slowinv\";\n"
			       "protocol = \"solarman\";\n"
			       "trust = \"structure-verified\";\n"
			       "description = \"a logger that never answers\";\n"
			       "source = \"tests/e2e/test_http_hostile.c\";\n"
			       "registers = (\n"
			       "  { address = 0; name = \"limit\"; access = \"rw\"; max = 100; }\n"
			       ");\n";

/* ------------------------------------------------------------ helpers -- */

/* Modbus still answers: unit 10 reads register 30 (setpoint). */
static int modbus_alive(void)
{
	modbus_t *m = h_modbus(mport, 10);
	uint16_t v;
	int ok = m && modbus_read_registers(m, 30, 1, &v) == 1;
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	return ok;
}

/* Send raw bytes on a new connection (half-closing it when shut), read
 * what comes back until the server closes or 3 s pass. The answer's status
 * code, 0 when the server closed without a word, -1 when nothing came and
 * the connection stayed open. */
static int raw(const void *req, size_t n, int shut, char *out, size_t outlen)
{
	int fd = h_connect(AF_INET, http_port);
	size_t got = 0;
	ssize_t k = 0;

	out[0] = '\0';
	if (fd < 0)
		return -2;
	if (n)
		h_send_all(fd, req, n);
	if (shut)
		shutdown(fd, SHUT_WR);
	while (got + 1 < outlen && (k = recv(fd, out + got, outlen - 1 - got, 0)) > 0)
		got += (size_t)k;
	out[got] = '\0';
	close(fd);
	if (got == 0)
		return k == 0 || errno == ECONNRESET ? 0 : -1;
	int code = 0;
	return sscanf(out, "HTTP/1.%*d %d", &code) == 1 ? code : -3;
}

/* curl with Digest credentials; extra arguments before the URL. The status
 * code (0 when none came); the body in body. */
static int curl(const char *path, const char *const extra[], char *body, size_t blen)
{
	char url[512], code[64] = "";
	const char *bodyf = h_path("hostile.body");

	snprintf(url, sizeof url, "%s%s", base, path);
	h_curl(&(struct h_curl){.url = url,
				.userpass = "admin:secret",
				.extra = extra,
				.out = bodyf,
				.max_time = 10},
	       code, sizeof code);
	if (body)
		h_read_file(bodyf, body, blen);
	return atoi(code);
}

/* Wait (bounded) for a child to exit by itself: its exit status, or -1. */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int st = 0;
	for (int i = 0; i < timeout_ms / 50; i++, h_sleep_ms(50))
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	h_stop(pid, 1000);
	return -1;
}

/* A counter of GET /api/v1/status's "http" member, or -1. */
static long long http_counter(const char *key)
{
	char body[8192], pat[64];
	if (curl("/api/v1/status", NULL, body, sizeof body) != 200)
		return -1;
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(body, "\"http\":{"); /* not "modbus"'s */
	p = p ? strstr(p, pat) : NULL;
	return p ? atoll(p + strlen(pat)) : -1;
}

/* A POST of body to register reg of device dev. */
static int post(const char *dev, const char *reg, const char *body, char *out, size_t outlen)
{
	char path[256];
	const char *extra[] = {"-H", "Content-Type: application/json", "--data-binary", body, NULL};
	snprintf(path, sizeof path, "/api/v1/devices/%s/registers/%s", dev, reg);
	return curl(path, extra, out, outlen);
}

/* ------------------------------------------------------------ attacks -- */

static void garbage_requests(void)
{
	static char big[100 * 1024 + 256];
	char out[4096];
	int code;

	h_ok(raw("", 0, 1, out, sizeof out) == 0 && modbus_alive(),
	     "an empty request (connect, close): dropped without an answer; Modbus answers");
	static const char garbage[] = "\x01\x02\x03 garbage\r\n\r\n";
	code = raw(garbage, sizeof garbage - 1, 0, out, sizeof out);
	h_ok(code == 400 && modbus_alive(), "a request line of garbage: 400 (%d)", code);
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', 100 * 1024);
	strcpy(big + 5 + 100 * 1024, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	code = raw(big, strlen(big), 0, out, sizeof out);
	h_ok(code == 414 && modbus_alive(), "a 100 KiB request line: 414, closed (%d)", code);
	snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
	size_t n = strlen(big);
	memset(big + n, 'b', 100 * 1024);
	strcpy(big + n + 100 * 1024, "\r\n\r\n");
	code = raw(big, strlen(big), 0, out, sizeof out);
	h_ok(code == 431 && modbus_alive(), "a 100 KiB header: 431, closed (%d)", code);
	/* A Digest header as long as the limit allows, then longer. */
	snprintf(big, sizeof big,
		 "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		 "Authorization: Digest username=\"");
	n = strlen(big);
	memset(big + n, 'u', 20000);
	snprintf(big + n + 20000, sizeof big - n - 20000,
		 "\", realm=\"modbridge\", nonce=\"00\", uri=\"/api/v1/status\", "
		 "response=\"00\", qop=auth, nc=00000001, cnonce=\"x\"\r\n\r\n");
	code = raw(big, strlen(big), 0, out, sizeof out);
	h_ok(code == 401 && strstr(out, "WWW-Authenticate: Digest") && modbus_alive(),
	     "a 20 KB Digest header with a forged nonce: 401 with a new challenge (%d)", code);
	memset(big + n, 'u', 60000);
	snprintf(big + n + 60000, sizeof big - n - 60000, "\", nonce=\"00\"\r\n\r\n");
	code = raw(big, strlen(big), 0, out, sizeof out);
	h_ok(code == 431 && modbus_alive(), "a 60 KB Digest header: 431 (%d)", code);
	const char *bytes = "GET /api/v1/devices/\xff\xfe\x80 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Connection: close\r\n\r\n";
	code = raw(bytes, strlen(bytes), 0, out, sizeof out);
	h_ok(code == 401, "raw non-UTF-8 bytes in a URL, without credentials: 401 (%d)", code);
}

static void traversal_and_names(void)
{
	char body[8192];
	const char *asis[] = {"--path-as-is", NULL};
	const char *paths[] = {
	    "/../../../../etc/passwd", "/api/v1/../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
	    "/api/v1/maps/..%2f..%2f..%2fetc%2fpasswd", "/api/v1/maps/../../etc/passwd"};
	int all = 1;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		int code = curl(paths[i], asis, body, sizeof body);
		if (code != 404 || strstr(body, "root:") || !strstr(body, "\"error\"")) {
			h_note("%s: %d %.200s", paths[i], code, body);
			all = 0;
		}
	}
	h_ok(all, "path traversal attempts: 404 with a JSON error, no file read");
	int c1 = curl("/api/v1/devices/%ff%fe%80", NULL, body, sizeof body);
	int c2 = curl("/api/v1/devices/scratch%00garbage/registers", NULL, NULL, 0);
	int c3 = post("scratch", "%ff%c0%af", "{\"raw\":1}", body, sizeof body);
	int c4 = post("%ff", "setpoint", "{\"raw\":1}", NULL, 0);
	h_ok(c1 == 404 && c2 == 404 && c3 == 404 && c4 == 404 && strstr(body, "\"error\"") &&
		 modbus_alive(),
	     "non-UTF-8 and NUL in device and register names: 404 (%d %d %d %d)", c1, c2, c3, c4);
}

static void malformed_bodies(void)
{
	char out[4096], nest[3000];
	const char *bad[] = {"",
			     "{",
			     "{\"value\":1}trailing",
			     "{\"value\":1}{\"value\":2}",
			     "{\"value\":1,\"raw\":2}",
			     "[1]",
			     "\"value\"",
			     "{\"value\":null}",
			     "{\"value\":NaN}",
			     "{\"value\":1e999}",
			     "{\"raw\":1.5}",
			     "{\"raw\":\"\xff\xfe\"}",
			     "{\"value\":\"\xc3\x28\"}",
			     "{\"val\xffue\":1}",
			     nest};
	int all = 1;

	for (size_t i = 0; i < 1400; i++)
		nest[i] = '[';
	for (size_t i = 1400; i < 2800; i++)
		nest[i] = ']';
	nest[2800] = '\0';
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int code = post("scratch", "setpoint", bad[i], out, sizeof out);
		if (code != 400 || !strstr(out, "\"error\"")) {
			h_note("body %.40s: %d %s", bad[i], code, out);
			all = 0;
		}
	}
	h_ok(all, "malformed JSON bodies (trailing data, both keys, NaN, nesting, non-UTF-8): 400");
	int code =
	    post("scratch", "setpoint", "{\"raw\":99999999999999999999999}", out, sizeof out);
	h_ok(code == 400 || code == 422, "an integer beyond 64 bits: refused (%d %s)", code, out);
	h_ok(post("scratch", "setpoint", " {\"value\":12}\r\n", out, sizeof out) == 200,
	     "white space around a good body is fine");
	h_ok(modbus_alive(), "Modbus answers after the malformed bodies");
}

/* Bodies over 4096 bytes: refused before they are read. */
static void huge_bodies(void)
{
	char out[4096];
	const char *big = h_path("big.bin");
	FILE *f = fopen(big, "w");
	/* 64 MiB, sparse: curl would send it all if nobody stopped it. */
	if (f) {
		fseek(f, 64L * 1024 * 1024 - 1, SEEK_SET);
		fputc('}', f);
		fclose(f);
	}
	char at[600];
	snprintf(at, sizeof at, "@%s", big);
	long long before = http_counter("too_large");
	const char *cl[] = {"-H", "Content-Type: application/json", "--data-binary", at, NULL};
	int c1 = curl("/api/v1/devices/scratch/registers/setpoint", cl, out, sizeof out);
	const char *chunked[] = {"-H",
				 "Content-Type: application/json",
				 "-H",
				 "Transfer-Encoding: chunked",
				 "--data-binary",
				 at,
				 NULL};
	int c2 = curl("/api/v1/devices/scratch/registers/setpoint", chunked, out, sizeof out);
	long long after = http_counter("too_large");
	/* libmicrohttpd takes no answer in the middle of a body: the chunked
	 * one is cut off (curl saw at most "100 Continue"). */
	h_ok(c1 == 413 && (c2 == 0 || c2 == 100) && after >= before + 2,
	     "a 64 MiB body: 413 with Content-Length, chunked cut off after 4 KiB, both counted "
	     "(%d %d, too_large "
	     "%lld -> %lld)",
	     c1, c2, before, after);
	/* Without credentials: 401 at once, the body never read. */
	char req[512];
	snprintf(req, sizeof req,
		 "POST /api/v1/devices/scratch/registers/setpoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "Content-Length: 1000000000\r\n\r\n{\"value\":");
	int c3 = raw(req, strlen(req), 0, out, sizeof out);
	h_ok(c3 == 401 && strstr(out, "Connection: close") && modbus_alive(),
	     "a 1 GB body without credentials: 401 before the body, connection closed (%d)", c3);
}

/* Digest: a replayed answer and a forged nonce get a fresh challenge. */
static void digest_replay(void)
{
	char out[16384], url[256];
	snprintf(url, sizeof url, "%s/api/v1/status", base);
	h_curl(&(struct h_curl){.url = url,
				.userpass = "admin:secret",
				.write_out = "",
				.max_time = 10,
				.verbose = 1},
	       out, sizeof out);
	char *a = strstr(out, "> Authorization: Digest ");
	char hdr[1024] = "";
	if (a) {
		a += 2;
		size_t n = strcspn(a, "\r\n");
		if (n < sizeof hdr) {
			memcpy(hdr, a, n);
			hdr[n] = '\0';
		}
	}
	h_ok(hdr[0] != '\0', "curl's Digest answer captured");
	char req[2048], ans[4096];
	snprintf(
	    req, sizeof req,
	    "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n\r\n",
	    hdr);
	int code = raw(req, strlen(req), 0, ans, sizeof ans);
	h_ok(code == 401 && strstr(ans, "WWW-Authenticate: Digest"),
	     "the same Digest answer replayed (nonce count reused): 401 (%d)", code);
	char *nonce = strstr(req, "nonce=\"");
	if (nonce)
		nonce[8] = nonce[8] == '0' ? '1' : '0';
	code = raw(req, strlen(req), 0, ans, sizeof ans);
	h_ok(code == 401 && strstr(ans, "WWW-Authenticate: Digest"),
	     "a forged nonce: 401 with a new challenge (%d)", code);
}

/* No answer on fd within ms: 1 (nothing came, the connection is open). */
static int silent(int fd, int ms)
{
	char c;
	h_sleep_ms(ms);
	return recv(fd, &c, 1, MSG_DONTWAIT) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* max_connections clients connect and leave together: the next client is
 * served (libmicrohttpd, at the limit, takes its listening socket out of
 * its epoll set; the daemon must run it again after the closes). */
static void limit_then_free(void)
{
	int fds[MAXCONN], ok = 1;
	for (int i = 0; i < MAXCONN; i++)
		ok &= (fds[i] = h_connect(AF_INET, http_port)) >= 0;
	h_sleep_ms(300);
	/* One more, waiting in the backlog while they are there, gives up. */
	int next = h_connect(AF_INET, http_port);
	ok &= next >= 0 && silent(next, 300);
	if (next >= 0)
		close(next);
	for (int i = 0; i < MAXCONN; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	h_sleep_ms(300);
	int code = curl("/api/v1/status", NULL, NULL, 0);
	h_ok(ok && code == 200,
	     "%d clients fill max_connections, one more gives up waiting, they leave: the "
	     "next client is served (%d)",
	     MAXCONN, code);
}

/* How many of the n connections the server has not closed. */
static int still_open(const int *fds, int n)
{
	int open = 0;
	for (int j = 0; j < n; j++) {
		char c;
		ssize_t k;
		while ((k = recv(fds[j], &c, 1, MSG_DONTWAIT)) > 0)
			;
		open += k != 0;
	}
	return open;
}

/* max_connections clients sending a byte a second (slowloris) and 4 more
 * with whole requests behind them: those wait unaccepted in the listen
 * backlog until the slow ones are dropped (their heads never complete:
 * with every slot taken, after about a second), although never idle; then
 * they are answered. Modbus answers throughout, and HTTP again once they
 * are gone. That a slow one was gone before each of the others was
 * answered shows max_connections held meanwhile. */
static void slowloris_flood(void)
{
	int fds[MAXCONN], extra[4], waiting = 0, open_ok = 1;
	const char *req = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
	const char *full = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	char buf[4096];

	for (int i = 0; i < MAXCONN; i++) {
		fds[i] = h_connect(AF_INET, http_port);
		open_ok &= fds[i] >= 0 && h_send_all(fds[i], req, 1) == 0;
	}
	h_sleep_ms(200);
	for (int i = 0; i < 4; i++) {
		extra[i] = h_connect(AF_INET, http_port);
		if (extra[i] >= 0 && h_send_all(extra[i], full, strlen(full)) == 0)
			waiting++;
	}
	/* A byte a second from the slow ones (libmicrohttpd's idle timeout,
	 * 30 s, never fires) until the others are answered. */
	int answered = 0, slow_open = MAXCONN, modbus_ok = 1;
	uint64_t end = h_now_ms() + (DEADLINE_S + 6) * 1000;
	size_t pos = 1;
	while ((answered < 4 || slow_open > 0) && h_now_ms() < end) {
		h_sleep_ms(100);
		for (int i = 0; i < 4; i++) {
			ssize_t k;
			if (extra[i] < 0 ||
			    (k = recv(extra[i], buf, sizeof buf - 1, MSG_DONTWAIT)) <= 0)
				continue;
			buf[k] = '\0';
			/* One got in only after a slow one was dropped (seen here
			 * after its answer): not while they held every slot. They
			 * are dropped one reaper pass at a time, each at its own
			 * deadline, so the others may still be open. */
			slow_open = still_open(fds, MAXCONN);
			if (strncmp(buf, "HTTP/1.1 401", 12) == 0)
				answered++;
			close(extra[i]);
			extra[i] = -1;
			if (slow_open >= MAXCONN)
				answered = -100;
		}
		slow_open = still_open(fds, MAXCONN);
		if (pos++ % 10 == 0) {
			for (int i = 0; i < MAXCONN; i++) {
				char ch = req[(pos / 10) % strlen(req)];
				send(fds[i], &ch, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			}
			modbus_ok &= modbus_alive();
		}
	}
	for (int i = 0; i < 4; i++)
		if (extra[i] >= 0)
			close(extra[i]);
	for (int i = 0; i < MAXCONN; i++)
		close(fds[i]);
	h_ok(open_ok && waiting == 4 && answered == 4 && slow_open == 0,
	     "%d slow clients sending a byte a second hold max_connections, are all dropped, "
	     "and the 4 behind them answered only as they go (%d answered, %d slow open)",
	     MAXCONN, answered, slow_open);
	h_ok(modbus_ok && modbus_alive(), "Modbus answered every second of the attack");
	int code = 0;
	for (int i = 0; i < 30 && code != 200; i++, h_sleep_ms(100))
		code = curl("/api/v1/status", NULL, NULL, 0);
	h_ok(code == 200, "the next HTTP client is served once they are gone");
	h_ok(http_counter("slow_dropped") >= MAXCONN, "the drops are counted (slow_dropped %lld)",
	     http_counter("slow_dropped"));
}

/* Writes to a device that never answers, their clients gone before it
 * times out: the suspended connections are resumed onto closed sockets and
 * cleaned up (ASan and valgrind watch), nothing else is disturbed. */
static void writes_abandoned(void)
{
	char url[256];
	pid_t curls[MAXCONN - 1];

	snprintf(url, sizeof url, "%s/api/v1/devices/slow/registers/limit", base);
	long long writes = http_counter("writes");
	for (int i = 0; i < MAXCONN - 1; i++) {
		char name[32];
		snprintf(name, sizeof name, "abandon%d.out", i);
		/* At once: each challenge has a nonce of its own. */
		curls[i] = h_curl_spawn(&(struct h_curl){.url = url,
							 .userpass = "admin:secret",
							 .body = "{\"value\":50}",
							 .max_time = 1},
					name);
	}
	int gone = 1;
	for (int i = 0; i < MAXCONN - 1; i++) {
		int st = wait_exit(curls[i], 5000); /* curl gives up after 1 s */
		char code[16] = "";
		char name[32];
		snprintf(name, sizeof name, "abandon%d.out", i);
		h_first_line(h_path(name), code, sizeof code);
		/* 28: timed out, after the challenge (401) */
		if (st != 28) {
			h_note("curl %d: exit %d, code %s", i, st, code);
			gone = 0;
		}
	}
	long long w2 = http_counter("writes");
	h_ok(gone && w2 == writes + MAXCONN - 1,
	     "%d writes to a silent device: sent, their clients gave up unanswered (writes %lld -> "
	     "%lld)",
	     MAXCONN - 1, writes, w2);
	h_ok(modbus_alive(), "Modbus answers while the writes wait");
	/* The device's timeout (2.5 s) answers them now, to nobody. */
	long long conns = -1;
	for (int i = 0; i < 60 && conns != 1; i++, h_sleep_ms(100))
		conns = http_counter("connections"); /* 1: the asking one */
	h_ok(conns == 1 && h_alive(bridge) && modbus_alive(),
	     "after the device timed out the abandoned connections are gone (%lld open)", conns);
	char out[4096];
	int code = post("slow", "limit", "{\"value\":50}", out, sizeof out);
	h_ok(code == 504 && strstr(out, "\"exception\":11"),
	     "a write that waits for the silent device: 504 after its timeout (%d)", code);
}

/* -------------------- denial of service (docs/design.md, "Web interface security") -- */

enum attack { HALF_SENT, SLOWLORIS, SILENT, AT_ONCE };
static const char *const attack_names[] = {
    "half-sent requests then closed, 100 a second", "50 slowloris clients (a byte a second)",
    "64 silent clients reconnecting when dropped", "100 silent connections at once"};

/* A connection from 127.0.0.2, an attacker's address (the client with
 * credentials is 127.0.0.1, another address to the server: all of
 * 127.0.0.0/8 is this machine's). Connecting gives up after 200 ms (a full
 * listen backlog). -1 when it did not connect. */
static int attacker(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in from = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002)};
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_usec = 200000};
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Did the server close fd (or reset it)? */
static int closed_by_server(int fd)
{
	char c[256];
	ssize_t k = recv(fd, c, sizeof c, MSG_DONTWAIT);
	return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Run attack a on port while a client with credentials asks for the
 * status (curl, at most max_s seconds): its status code; *ms how long it
 * took. */
static int under_attack(enum attack a, int port, int max_s, uint64_t *ms)
{
	static const char part[] = "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-";
	int fds[100], n = a == HALF_SENT ? 0 : a == SLOWLORIS ? 50 : a == SILENT ? 64 : 100;
	char url[128], code[16] = "";

	for (int i = 0; i < n; i++) {
		fds[i] = attacker(port);
		if (fds[i] >= 0 && a == SLOWLORIS)
			send(fds[i], part, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	/* Half-sent ones: enough to take every slot before the client comes. */
	for (int i = 0; a == HALF_SENT && i < 40; i++) {
		int fd = attacker(port);
		if (fd >= 0) {
			send(fd, part, sizeof part - 1, MSG_NOSIGNAL);
			close(fd);
		}
	}
	h_sleep_ms(300); /* they hold what they can */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/status", port);
	unlink(h_path("dos.code"));
	uint64_t t0 = h_now_ms(), tick = 0;
	pid_t pid = h_curl_spawn(
	    &(struct h_curl){.url = url, .userpass = "admin:secret", .max_time = max_s},
	    "dos.code");
	while (h_alive(pid) && h_now_ms() - t0 < (uint64_t)(max_s + 5) * 1000) {
		h_sleep_ms(100);
		tick++;
		if (a == HALF_SENT) {
			/* 10 every 100 ms: each sends part of a head and leaves. */
			for (int i = 0; i < 10; i++) {
				int fd = attacker(port);
				if (fd >= 0) {
					send(fd, part, sizeof part - 1, MSG_NOSIGNAL);
					close(fd);
				}
			}
			continue;
		}
		for (int i = 0; i < n; i++) {
			if (a == AT_ONCE)
				break;
			if (fds[i] >= 0 && !closed_by_server(fds[i])) {
				if (a == SLOWLORIS && tick % 10 == 0)
					send(fds[i], part + 1 + (tick / 10) % (sizeof part - 2), 1,
					     MSG_NOSIGNAL | MSG_DONTWAIT);
				continue;
			}
			/* Dropped: back at once. */
			if (fds[i] >= 0)
				close(fds[i]);
			fds[i] = attacker(port);
			if (fds[i] >= 0 && a == SLOWLORIS)
				send(fds[i], part, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
	}
	*ms = h_now_ms() - t0;
	h_stop(pid, 1000);
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	h_first_line(h_path("dos.code"), code, sizeof code);
	return atoi(code);
}

/* The attacks that kept the web face down for 35 to 68 s (docs/design.md, slots), each
 * from one other address, against the default limits (16 connections, 8
 * from one address): a client with credentials gets in, well within 10 s
 * (it takes milliseconds; the bound only tells it from the minute it took
 * before), and Modbus answers throughout. */
static void denial_of_service(void)
{
	int mp = h_free_port(), hp = h_free_port();
	pid_t b = h_bridge_start(h_http_conf("dos.conf", mp, hp, NULL), mp, "dos.log");
	h_ok(b > 0 && h_wait_port(hp, 5000) == 0, "a bridge with the default HTTP limits");
	int save = mport;
	mport = mp;
	for (int a = HALF_SENT; a <= AT_ONCE; a++) {
		uint64_t ms = 0;
		int code = under_attack((enum attack)a, hp, 10, &ms);
		h_ok(code == 200 && modbus_alive(),
		     "%s from 127.0.0.2: a client with credentials gets in (%d after %llu ms; "
		     "within 10 s), Modbus answers",
		     attack_names[a], code, (unsigned long long)ms);
	}
	mport = save;
	h_ok(h_bridge_stop(b) == 0, "the bridge stops cleanly after the attacks");
}

int main(void)
{
	h_init("http_hostile");
	mport = h_free_port();
	http_port = h_free_port();
	snprintf(base, sizeof base, "http://127.0.0.1:%d", http_port);

	/* The silent logger: listens, never accepts, never answers. */
	int logger = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	h_ok(logger >= 0 && bind(logger, (struct sockaddr *)&sa, sizeof sa) == 0 &&
		 listen(logger, 8) == 0 && getsockname(logger, (struct sockaddr *)&sa, &sl) == 0,
	     "a silent Solarman logger listens");

	h_write_file("slowinv.conf", slow_map);
	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\", \"%s\" ];\n"
		 "devices = (\n"
		 "  { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = { }; },\n"
		 "  { name = \"slow\"; unit_id = 2; map = \"slowinv\"; timeout = 2500; "
		 "retries = 0;\n"
		 "    solarman = { host = \"127.0.0.1\"; port = %d; serial = 1; }; }\n"
		 ");\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; max_connections = %d;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1 "\"; } ); };\n",
		 mport, h_dir(), h_maps_dir(), ntohs(sa.sin_port), http_port, MAXCONN);
	bridge = h_bridge_start(h_write_file("bridge.conf", conf), mport, "bridge.log");
	h_ok(bridge > 0 && h_wait_port(http_port, 5000) == 0 && modbus_alive(),
	     "the bridge serves Modbus and HTTP");
	h_ok(curl("/api/v1/status", NULL, NULL, 0) == 200, "a polite client is served");
	long rss0 = h_proc_kib(bridge, "VmRSS");

	garbage_requests();
	traversal_and_names();
	malformed_bodies();
	huge_bodies();
	digest_replay();
	writes_abandoned();
	limit_then_free();
	slowloris_flood();

	long rss1 = h_proc_kib(bridge, "VmRSS");
	/* Bounded: MAXCONN connections of 32 KiB each, the rest is the
	 * allocator's slack. Under valgrind and ASan (its quarantine keeps
	 * freed memory) the figure is theirs: only the plain run is held to it. */
	const char *vg = getenv("VALGRIND"), *san = getenv("SANITIZE");
	int tooled = (vg && *vg && strcmp(vg, "0") != 0) || (san && strcmp(san, "1") == 0);
	h_ok(rss0 > 0 && rss1 > 0 && (tooled || rss1 - rss0 < 4096),
	     "RSS after every attack: %ld KiB -> %ld KiB", rss0, rss1);
	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");
	close(logger);
	denial_of_service();
	return h_done();
}

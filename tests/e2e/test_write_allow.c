/* server.write_allow: clients outside it may read but get exception 01 on
 * writes (FC06 and FC16), clients inside it write; a reload (SIGHUP) that
 * changes the list applies to the connections already open; `--check`
 * refuses a bad entry with file:line.
 *
 * Two client addresses on one machine: every address of 127.0.0.0/8 is the
 * loopback on Linux, so a raw client binds its socket to 127.0.0.2 before it
 * connects to the bridge on 127.0.0.1. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* A client on source address src connected to 127.0.0.1:port, or -1. */
static int connect_from(const char *src, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = {3, 0};
	int one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	inet_pton(AF_INET, src, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send the PDU to unit 1 and receive the answer's PDU into out: its length,
 * or -1. */
static int ask(int fd, const uint8_t *pdu, size_t n, uint8_t *out, size_t cap)
{
	static uint16_t tid;
	uint8_t adu[300], in[300];
	tid++;
	adu[0] = (uint8_t)(tid >> 8);
	adu[1] = (uint8_t)tid;
	adu[2] = adu[3] = 0;
	adu[4] = (uint8_t)((n + 1) >> 8);
	adu[5] = (uint8_t)(n + 1);
	adu[6] = 1;
	memcpy(adu + 7, pdu, n);
	if (h_send_all(fd, adu, n + 7) != 0)
		return -1;
	int got = h_recv_adu(fd, in, sizeof in, 5000);
	if (got < 8 || (size_t)(got - 7) > cap || in[0] != adu[0] || in[1] != adu[1])
		return -1;
	memcpy(out, in + 7, (size_t)(got - 7));
	return got - 7;
}

/* Holding register addr: its value, or -1. */
static int read_reg(int fd, int addr)
{
	uint8_t pdu[5] = {3, 0, (uint8_t)addr, 0, 1}, out[16];
	int n = ask(fd, pdu, sizeof pdu, out, sizeof out);
	return n == 4 && out[0] == 3 && out[1] == 2 ? out[2] << 8 | out[3] : -1;
}

/* FC06 of v to addr: 0 when acknowledged, the exception code, or -1. */
static int write06(int fd, int addr, int v)
{
	uint8_t pdu[5] = {6, 0, (uint8_t)addr, (uint8_t)(v >> 8), (uint8_t)v}, out[16];
	int n = ask(fd, pdu, sizeof pdu, out, sizeof out);
	if (n == 5 && memcmp(out, pdu, 5) == 0)
		return 0;
	return n == 2 && out[0] == 0x86 ? out[1] : -1;
}

/* FC16 of v, v+1 to addr, addr+1: 0, the exception code, or -1. */
static int write16(int fd, int addr, int v)
{
	uint8_t pdu[10] = {16,
			   0,
			   (uint8_t)addr,
			   0,
			   2,
			   4,
			   (uint8_t)(v >> 8),
			   (uint8_t)v,
			   (uint8_t)((v + 1) >> 8),
			   (uint8_t)(v + 1)},
		out[16];
	int n = ask(fd, pdu, sizeof pdu, out, sizeof out);
	if (n == 5 && out[0] == 16 && out[2] == addr && out[4] == 2)
		return 0;
	return n == 2 && out[0] == 0x90 ? out[1] : -1;
}

static const char *config(const char *name, int port, const char *write_allow)
{
	char text[2048];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = %d;\n"
		 "  write_allow = [ %s ];\n"
		 "};\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"rw\"; unit_id = 1; map = \"scratch\"; memory = {}; } );\n",
		 port, write_allow, h_maps_dir());
	return h_write_file(name, text);
}

int main(void)
{
	h_init("write_allow");
	int port = h_free_port();
	const char *conf = config("wa.conf", port, "\"127.0.0.2/32\", \"10.0.0.0/8\"");
	pid_t b = h_bridge_start(conf, port, "wa.log");
	if (!h_ok(b > 0, "bridge with write_allow = [127.0.0.2/32, 10.0.0.0/8] started"))
		return h_done();

	int one = connect_from("127.0.0.1", port), two = connect_from("127.0.0.2", port);
	if (!h_ok(one >= 0 && two >= 0, "clients from 127.0.0.1 and 127.0.0.2 connected"))
		return h_done();

	h_ok(read_reg(one, 0) == 100, "127.0.0.1 (not in write_allow) reads");
	h_ok(write06(one, 0, 7) == 1, "127.0.0.1: FC06 answers exception 01");
	h_ok(write16(one, 0, 8) == 1, "127.0.0.1: FC16 answers exception 01");
	h_ok(read_reg(one, 0) == 100 && read_reg(one, 1) == 101,
	     "the refused writes changed nothing");
	h_ok(h_wait_lines(h_path("wa.log"), "refused a write from 127.0.0.1:", 1, 5000),
	     "the refused write is logged with the client's address");

	h_ok(write06(two, 0, 7) == 0, "127.0.0.2 (in write_allow): FC06 acknowledged");
	h_ok(read_reg(one, 0) == 7, "the write took effect (read back by the other client)");
	h_ok(write16(two, 2, 40) == 0 && read_reg(one, 2) == 40 && read_reg(one, 3) == 41,
	     "127.0.0.2: FC16 acknowledged and applied");

	h_signal(b, SIGUSR1);
	h_ok(h_wait_lines(h_path("wa.log"), "write_refused 2", 1, 5000),
	     "SIGUSR1 counts the two refused writes (write_refused 2)");

	/* A reload turns the list around; the open connections follow it. */
	config("wa.conf", port, "\"127.0.0.1/32\"");
	h_signal(b, SIGHUP);
	h_ok(h_wait_lines(h_path("wa.log"), "reloaded:", 1, 10000), "reloaded");
	h_ok(write06(one, 0, 9) == 0 && read_reg(two, 0) == 9,
	     "after the reload 127.0.0.1 writes on its open connection");
	h_ok(write06(two, 0, 11) == 1 && read_reg(two, 0) == 9,
	     "after the reload 127.0.0.2 gets 01 and reads what 127.0.0.1 wrote");
	int three = connect_from("127.0.0.2", port);
	h_ok(three >= 0 && write16(three, 0, 5) == 1 && read_reg(three, 0) == 9,
	     "a new connection from 127.0.0.2 gets 01 on FC16 too");
	if (three >= 0)
		close(three);
	close(one);
	close(two);
	h_ok(h_bridge_stop(b) == 0, "bridge exits 0");

	/* --check refuses a bad entry, naming file:line and the key. */
	char out[4096];
	config("bad.conf", port, "\"127.0.0.2/32\",\n  \"10.0.0.300/8\"");
	int rc = h_run_bridge("--check", h_path("bad.conf"), out, sizeof out);
	h_ok(rc != 0 && strstr(out, "bad.conf:3") && strstr(out, "server.write_allow") &&
		 strstr(out, "10.0.0.300/8"),
	     "--check refuses write_allow = [\"10.0.0.300/8\"] with file:line (status %d: %s)", rc,
	     out);
	return h_done();
}

/* Black-box test of the Modbus TCP front against the real daemon with memory
 * devices (maps/scratch.conf): function codes, every exception a memory
 * device can produce, framing across segments, many clients, garbage,
 * connection limits, idle timeout, allow list, IPv6 and identification.
 *
 * The map is loaded here only to pick addresses (a gap, a read-only
 * register, a value outside min/max ...), so that the test follows the map
 * file instead of repeating it; every check goes through the network.
 *
 * Exceptions 04 (device failure) and 0B (no answer in time) need a device
 * that fails or stays silent; a memory device never does. They are covered
 * by the protocol tests (powergo, venus, solarman) against their simulators. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "map.h"

#ifndef MB_VERSION
#define MB_VERSION "unknown"
#endif

#define ADU_MAX 280 /* requests up to MBAP_MAX_FRAME (272) for the oversized checks */

/* --- raw Modbus TCP client --------------------------------------------------- */

/* A request ADU. */
static size_t adu(uint8_t *out, uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t n)
{
	out[0] = (uint8_t)(tid >> 8);
	out[1] = (uint8_t)tid;
	out[2] = out[3] = 0;
	out[4] = (uint8_t)((n + 1) >> 8);
	out[5] = (uint8_t)(n + 1);
	out[6] = unit;
	memcpy(out + 7, pdu, n);
	return n + 7;
}

static size_t pdu_read(uint8_t *p, uint8_t fc, uint16_t addr, uint16_t count)
{
	p[0] = fc;
	p[1] = (uint8_t)(addr >> 8);
	p[2] = (uint8_t)addr;
	p[3] = (uint8_t)(count >> 8);
	p[4] = (uint8_t)count;
	return 5;
}

/* Send one request and receive one answer. */
static int xfer(int fd, uint16_t tid, uint8_t unit, const uint8_t *pdu, size_t n, uint8_t *ans)
{
	uint8_t req[ADU_MAX];
	size_t len = adu(req, tid, unit, pdu, n);
	if (h_send_all(fd, req, len) < 0)
		return -1;
	return h_recv_adu(fd, ans, ADU_MAX, 3000);
}

/* Does the request get exception exc? One check. */
static int expect_exc(int fd, uint8_t unit, const uint8_t *pdu, size_t n, uint8_t exc,
		      const char *what)
{
	static uint16_t tid = 0x7000;
	uint8_t ans[ADU_MAX];
	tid++;
	int len = xfer(fd, tid, unit, pdu, n, ans);
	const uint8_t want[9] = {(uint8_t)(tid >> 8),	   (uint8_t)tid, 0, 0, 0, 3, unit,
				 (uint8_t)(pdu[0] | 0x80), exc};
	int ok = len == 9 && memcmp(ans, want, 9) == 0;
	if (!ok && len > 7)
		h_note("%s: got %d bytes, fc %02x code %02x", what, len, ans[7],
		       len > 8 ? ans[8] : 0);
	return h_ok(ok, "exception %02X: %s", exc, what);
}

/* Has the server closed fd (EOF or reset) within timeout_ms? */
static int closed_within(int fd, int timeout_ms)
{
	uint8_t b[ADU_MAX];
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int left = (int)(end - h_now_ms());
		if (left <= 0)
			return 0;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, left) <= 0)
			return 0;
		ssize_t k = recv(fd, b, sizeof b, 0);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return 1;
		if (k < 0)
			return 0;
	}
}

/* One FC03 read over fd; 1 when the words equal want. */
static int raw_read_eq(int fd, uint16_t tid, uint8_t unit, uint16_t addr, uint16_t count,
		       const uint16_t *want)
{
	uint8_t pdu[5], ans[ADU_MAX];
	pdu_read(pdu, 0x03, addr, count);
	int len = xfer(fd, tid, unit, pdu, sizeof pdu, ans);
	if (len != 9 + 2 * count || ans[0] != (tid >> 8) || ans[1] != (uint8_t)tid || ans[7] != 3 ||
	    ans[8] != 2 * count)
		return 0;
	for (uint16_t i = 0; i < count; i++)
		if ((uint16_t)(ans[9 + 2 * i] << 8 | ans[10 + 2 * i]) != want[i])
			return 0;
	return 1;
}

/* --- the map, for picking addresses ------------------------------------------ */

static const struct map *M;

static const struct map_register *find_reg(int (*pred)(const struct map_register *))
{
	for (size_t i = 0; i < map_nregs(M); i++)
		if (pred(map_reg(M, i)))
			return map_reg(M, i);
	return NULL;
}

static int is_holding_ro(const struct map_register *r)
{
	return r->table == MAP_HOLDING && r->access == MAP_R;
}

static int is_holding_wo(const struct map_register *r)
{
	return r->table == MAP_HOLDING && r->access == MAP_W;
}

static int is_input(const struct map_register *r)
{
	return r->table == MAP_INPUT && (r->access & MAP_R);
}

static int is_minmax(const struct map_register *r)
{
	return r->table == MAP_HOLDING && (r->access & MAP_W) && r->count == 1 &&
	       r->type != MAP_STRING && (r->has_min || r->has_max) && !r->values;
}

static int is_values(const struct map_register *r)
{
	return r->table == MAP_HOLDING && (r->access & MAP_W) && r->count == 1 &&
	       r->type != MAP_STRING && r->values;
}

/* A holding address below 1000 that no register covers. */
static int find_gap(uint16_t *out)
{
	for (uint32_t a = 0; a < 1000; a++) {
		if (!map_find(M, MAP_HOLDING, (uint16_t)a)) {
			*out = (uint16_t)a;
			return 1;
		}
	}
	return 0;
}

/* The words a register's default makes, or 0 when it has none. */
static int default_words(const struct map_register *r, uint16_t *w)
{
	if (r->type == MAP_STRING)
		return r->def_string && map_encode_string(r, r->def_string, w) == 0;
	return r->has_default && map_encode(r, r->def, w) == 0;
}

/* --- bridges --------------------------------------------------------------- */

static const char *write_config(const char *name, const char *listen, int port, int maxconn,
				int idle, const char *allow)
{
	static char text[2048];
	snprintf(
	    text, sizeof text,
	    "server = { listen = \"%s\"; port = %d; max_connections = %d; idle_timeout = %d;%s%s%s "
	    "};\n"
	    "maps_path = [ \"%s\" ];\n"
	    "devices = (\n"
	    "  { name = \"scratch\"; unit_id = 1; map = \"scratch\"; memory = {}; },\n"
	    "  { name = \"ro\"; unit_id = 2; map = \"scratch\"; memory = {}; read_only = true; }\n"
	    ");\n",
	    listen, port, maxconn, idle, allow ? " allow = [ \"" : "", allow ? allow : "",
	    allow ? "\" ];" : "", h_maps_dir());
	return h_write_file(name, text);
}

/* --- the checks ------------------------------------------------------------ */

static void check_defaults(int port)
{
	modbus_t *mb = h_modbus(port, 1);
	if (!h_ok(mb != NULL, "libmodbus connects"))
		return;
	uint16_t regs[125];
	int n = modbus_read_registers(mb, 0, 10, regs);
	int ok = n == 10;
	for (int i = 0; ok && i < 10; i++)
		ok = regs[i] == 100 + i;
	h_ok(ok, "FC03 reads holding 0..9 defaults 100..109 (n=%d, first %u)", n,
	     n > 0 ? regs[0] : 0);

	/* Every register with a default reads back its default words. */
	size_t checked = 0, bad = 0;
	for (size_t i = 0; i < map_nregs(M); i++) {
		const struct map_register *r = map_reg(M, i);
		uint16_t want[128], got[128];
		if (!(r->access & MAP_R) || r->count > 125 || !default_words(r, want))
			continue;
		int k = r->table == MAP_INPUT
			    ? modbus_read_input_registers(mb, r->address, r->count, got)
			    : modbus_read_registers(mb, r->address, r->count, got);
		checked++;
		if (k != r->count || memcmp(got, want, r->count * sizeof got[0]) != 0) {
			bad++;
			h_note("register %s (%u, %u words): read %d, first word %u want %u",
			       r->name, r->address, r->count, k, k > 0 ? got[0] : 0, want[0]);
		}
	}
	h_ok(checked >= 10 && bad == 0,
	     "every default (signed, 32-bit, string, input) reads back: %zu checked, %zu wrong",
	     checked, bad);

	const struct map_register *in = find_reg(is_input);
	if (h_ok(in != NULL, "the map has an input register")) {
		n = modbus_read_input_registers(mb, in->address, in->count, regs);
		h_ok(n == in->count, "FC04 reads input register %s at %u (n=%d)", in->name,
		     in->address, n);
	}

	/* The read-only unit reads too. */
	modbus_set_slave(mb, 2);
	n = modbus_read_registers(mb, 0, 10, regs);
	h_ok(n == 10 && regs[0] == 100 && regs[9] == 109, "read_only unit 2 answers FC03 reads");
	modbus_close(mb);
	modbus_free(mb);
}

static void check_writes(int port)
{
	modbus_t *mb = h_modbus(port, 1);
	if (!h_ok(mb != NULL, "libmodbus connects for writes"))
		return;
	uint16_t regs[125], vals[123];
	int rc = modbus_write_register(mb, 3, 4242);
	int n = modbus_read_registers(mb, 0, 10, regs);
	h_ok(rc == 1 && n == 10 && regs[3] == 4242 && regs[2] == 102 && regs[4] == 104,
	     "FC06 write 4242 to 3, read back %u", n == 10 ? regs[3] : 0);

	for (int i = 0; i < 10; i++)
		vals[i] = (uint16_t)(0xA000 + i);
	rc = modbus_write_registers(mb, 1000, 10, vals);
	n = modbus_read_registers(mb, 1000, 10, regs);
	h_ok(rc == 10 && n == 10 && memcmp(regs, vals, 10 * sizeof regs[0]) == 0,
	     "FC16 write 10 registers at 1000, read back");

	/* The largest quantities: a write of 123, reads of 125. Then 1000..1199
	 * hold addr ^ 0x5A5A for the clients below. */
	for (int i = 0; i < 123; i++)
		vals[i] = (uint16_t)((1000 + i) ^ 0x5A5A);
	rc = modbus_write_registers(mb, 1000, 123, vals);
	int rc2 = 0;
	{
		uint16_t rest[77];
		for (int i = 0; i < 77; i++)
			rest[i] = (uint16_t)((1123 + i) ^ 0x5A5A);
		rc2 = modbus_write_registers(mb, 1123, 77, rest);
	}
	n = modbus_read_registers(mb, 1000, 125, regs);
	int ok = rc == 123 && rc2 == 77 && n == 125;
	for (int i = 0; ok && i < 125; i++)
		ok = regs[i] == (uint16_t)((1000 + i) ^ 0x5A5A);
	n = modbus_read_registers(mb, 1075, 125, regs);
	for (int i = 0; ok && i < 125; i++)
		ok = n == 125 && regs[i] == (uint16_t)((1075 + i) ^ 0x5A5A);
	h_ok(ok, "FC16 of 123 registers and FC03 of 125 registers round-trip");
	modbus_close(mb);
	modbus_free(mb);
}

static void check_mbpoll(int port)
{
	char portstr[16], out[4096];
	snprintf(portstr, sizeof portstr, "%d", port);
	const char *rd[] = {"mbpoll", "-m", "tcp", "-a", "1",  "-r",	"1",	     "-c",
			    "10",     "-t", "4",   "-1", "-p", portstr, "127.0.0.1", NULL};
	int rc = h_run(rd, out, sizeof out, 10000);
	/* Register 3 holds 4242 since the FC06 check. */
	h_ok(rc == 0 && strstr(out, "[1]: \t100") && strstr(out, "[4]: \t4242") &&
		 strstr(out, "[10]: \t109"),
	     "mbpoll reads references 1..10 (rc=%d)", rc);

	const char *wr[] = {"mbpoll", "-m", "tcp",   "-a",	  "1",	 "-r",	"6", "-t",
			    "4",      "-p", portstr, "127.0.0.1", "555", "556", NULL};
	rc = h_run(wr, out, sizeof out, 10000);
	int written = rc == 0 && strstr(out, "Written 2 references") != NULL;
	modbus_t *mb = h_modbus(port, 1);
	uint16_t regs[2] = {0, 0};
	int n = mb ? modbus_read_registers(mb, 5, 2, regs) : -1;
	h_ok(written && n == 2 && regs[0] == 555 && regs[1] == 556,
	     "mbpoll writes 555 556 to references 6..7, libmodbus reads them (rc=%d)", rc);
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
}

static void check_exceptions(int port)
{
	int fd = h_connect(AF_INET, port);
	if (!h_ok(fd >= 0, "raw client connects"))
		return;
	uint8_t pdu[ADU_MAX];

	/* 01 */
	const uint8_t fc01[] = {0x01, 0, 0, 0, 8};
	expect_exc(fd, 1, fc01, sizeof fc01, 0x01, "FC01 read coils is not supported");
	const uint8_t fc05[] = {0x05, 0, 0, 0xFF, 0};
	expect_exc(fd, 1, fc05, sizeof fc05, 0x01, "FC05 write coil is not supported");
	const uint8_t fc06[] = {0x06, 0, 0, 0, 7};
	expect_exc(fd, 2, fc06, sizeof fc06, 0x01, "FC06 to the read_only unit");
	const uint8_t fc16[] = {0x10, 0, 0, 0, 1, 2, 0, 7};
	expect_exc(fd, 2, fc16, sizeof fc16, 0x01, "FC16 to the read_only unit");

	/* 02 */
	uint16_t gap = 0;
	if (h_ok(find_gap(&gap), "the map has an unmapped holding address")) {
		expect_exc(fd, 1, pdu, pdu_read(pdu, 0x03, gap, 1), 0x02,
			   "FC03 of an unmapped address");
		/* A range that starts mapped and runs into the gap. */
		if (gap > 0 && map_find(M, MAP_HOLDING, (uint16_t)(gap - 1)))
			expect_exc(fd, 1, pdu, pdu_read(pdu, 0x03, gap - 1, 2), 0x02,
				   "FC03 range that runs into a gap");
		const uint8_t w[] = {0x06, (uint8_t)(gap >> 8), (uint8_t)gap, 0, 1};
		expect_exc(fd, 1, w, sizeof w, 0x02, "FC06 to an unmapped address");
	}
	expect_exc(fd, 1, pdu, pdu_read(pdu, 0x04, 60000, 1), 0x02, "FC04 of an unmapped input");
	const struct map_register *ro = find_reg(is_holding_ro);
	if (h_ok(ro != NULL, "the map has a read-only holding register")) {
		uint8_t w[ADU_MAX] = {0x10, (uint8_t)(ro->address >> 8), (uint8_t)ro->address,
				      0,    (uint8_t)ro->count,		 (uint8_t)(2 * ro->count)};
		expect_exc(fd, 1, w, 6 + 2u * ro->count, 0x02, "FC16 to read-only register");
		if (ro->count == 1) {
			const uint8_t w6[] = {0x06, (uint8_t)(ro->address >> 8),
					      (uint8_t)ro->address, 0, 1};
			expect_exc(fd, 1, w6, sizeof w6, 0x02, "FC06 to read-only register");
		}
	}
	const struct map_register *wo = find_reg(is_holding_wo);
	if (h_ok(wo != NULL, "the map has a write-only register"))
		expect_exc(fd, 1, pdu, pdu_read(pdu, 0x03, wo->address, wo->count), 0x02,
			   "FC03 of a write-only register");
	const struct map_command *cmd = map_ncommands(M) ? map_command(M, 0) : NULL;
	if (h_ok(cmd != NULL && cmd->count >= 2, "the map has a multi-register command")) {
		uint16_t cnt = (uint16_t)(cmd->count - 1);
		uint8_t w[ADU_MAX] = {0x10,
				      (uint8_t)(cmd->address >> 8),
				      (uint8_t)cmd->address,
				      0,
				      (uint8_t)cnt,
				      (uint8_t)(2 * cnt)};
		expect_exc(fd, 1, w, 6 + 2u * cnt, 0x02, "FC16 covering part of the command");
		uint16_t a = (uint16_t)(cmd->address + 1);
		uint8_t w2[ADU_MAX] = {0x10, (uint8_t)(a >> 8), (uint8_t)a,
				       0,    (uint8_t)cnt,	(uint8_t)(2 * cnt)};
		expect_exc(fd, 1, w2, 6 + 2u * cnt, 0x02, "FC16 covering the command's tail");
	}

	/* 03 */
	expect_exc(fd, 1, pdu, pdu_read(pdu, 0x03, 0, 0), 0x03, "FC03 quantity 0");
	expect_exc(fd, 1, pdu, pdu_read(pdu, 0x03, 1000, 126), 0x03, "FC03 quantity 126");
	expect_exc(fd, 1, pdu, pdu_read(pdu, 0x04, 0, 0), 0x03, "FC04 quantity 0");
	expect_exc(fd, 1, pdu, pdu_read(pdu, 0x04, 0, 126), 0x03, "FC04 quantity 126");
	{
		/* 124 registers announced; 246 bytes is all one ADU can carry. */
		uint8_t w[ADU_MAX] = {0x10, 0x03, 0xE8, 0, 124, 248};
		expect_exc(fd, 1, w, 6 + 246, 0x03, "FC16 quantity 124");
		const uint8_t w0[] = {0x10, 0x03, 0xE8, 0, 0, 0};
		expect_exc(fd, 1, w0, sizeof w0, 0x03, "FC16 quantity 0");
		const uint8_t bc[] = {0x10, 0x03, 0xE8, 0, 2, 3, 0, 1, 0};
		expect_exc(fd, 1, bc, sizeof bc, 0x03, "FC16 byte count != 2 x quantity");
		const uint8_t sh[] = {0x10, 0x03, 0xE8, 0, 2, 4, 0, 1, 0};
		expect_exc(fd, 1, sh, sizeof sh, 0x03, "FC16 fewer value bytes than byte count");
	}
	const struct map_register *mm = find_reg(is_minmax);
	if (h_ok(mm != NULL, "the map has a writable register with min/max")) {
		uint16_t w;
		int64_t v = mm->has_max ? mm->max + 1 : mm->min - 1;
		if (map_encode(mm, v, &w) != 0 && mm->has_min && mm->has_max)
			v = mm->min - 1;
		if (h_ok(map_encode(mm, v, &w) == 0, "a value outside %s's limits fits its type",
			 mm->name)) {
			const uint8_t w6[] = {0x06, (uint8_t)(mm->address >> 8),
					      (uint8_t)mm->address, (uint8_t)(w >> 8), (uint8_t)w};
			expect_exc(fd, 1, w6, sizeof w6, 0x03, "FC06 value outside min/max");
			const uint8_t w16[] = {0x10,
					       (uint8_t)(mm->address >> 8),
					       (uint8_t)mm->address,
					       0,
					       1,
					       2,
					       (uint8_t)(w >> 8),
					       (uint8_t)w};
			expect_exc(fd, 1, w16, sizeof w16, 0x03, "FC16 value outside min/max");
		}
	}
	const struct map_register *vr = find_reg(is_values);
	if (h_ok(vr != NULL, "the map has a register limited to `values`")) {
		int64_t v = 0;
		for (;; v++) {
			int listed = 0;
			for (size_t i = 0; i < vr->nvalues; i++)
				listed |= vr->values[i] == v;
			if (!listed)
				break;
		}
		uint16_t w = 0;
		map_encode(vr, v, &w);
		const uint8_t w6[] = {0x06, (uint8_t)(vr->address >> 8), (uint8_t)vr->address,
				      (uint8_t)(w >> 8), (uint8_t)w};
		expect_exc(fd, 1, w6, sizeof w6, 0x03, "FC06 value not in `values`");
		if (vr->nvalues) {
			uint16_t ok = 0;
			map_encode(vr, vr->values[0], &ok);
			const uint8_t good[] = {0x06, (uint8_t)(vr->address >> 8),
						(uint8_t)vr->address, (uint8_t)(ok >> 8),
						(uint8_t)ok};
			uint8_t ans[ADU_MAX];
			int len = xfer(fd, 0x6001, 1, good, sizeof good, ans);
			h_ok(len == 12 && memcmp(ans + 7, good, 5) == 0,
			     "FC06 of a listed value is echoed");
		}
	}

	/* 0A */
	expect_exc(fd, 9, pdu, pdu_read(pdu, 0x03, 0, 1), 0x0A, "unit 9 is not configured");
	expect_exc(fd, 0, pdu, pdu_read(pdu, 0x03, 0, 1), 0x0A, "unit 0 is not configured");
	modbus_t *mb = h_modbus(port, 9);
	uint16_t regs[1];
	errno = 0;
	int n = mb ? modbus_read_registers(mb, 0, 1, regs) : 0;
	h_ok(n == -1 && errno == EMBXGPATH, "libmodbus sees 0A as EMBXGPATH");
	if (mb) {
		modbus_close(mb);
		modbus_free(mb);
	}
	h_note("exceptions 04 and 0B need a failing or silent device: see the protocol tests");
	close(fd);
}

static void check_identification(int port)
{
	int fd = h_connect(AF_INET, port);
	if (fd < 0)
		return;
	const char *vendor = map_vendor(M) ? map_vendor(M) : "modbridge";
	const char *product = map_model(M) ? map_model(M) : map_name(M);
	const char *objs[3] = {vendor, product, MB_VERSION};
	uint8_t want[ADU_MAX], ans[ADU_MAX];
	size_t n = 0;
	want[n++] = 0x2B;
	want[n++] = 0x0E;
	want[n++] = 0x01;
	want[n++] = 0x81;
	want[n++] = 0x00;
	want[n++] = 0x00;
	want[n++] = 0x03;
	for (int i = 0; i < 3; i++) {
		want[n++] = (uint8_t)i;
		want[n++] = (uint8_t)strlen(objs[i]);
		memcpy(want + n, objs[i], strlen(objs[i]));
		n += strlen(objs[i]);
	}
	const uint8_t basic[] = {0x2B, 0x0E, 0x01, 0x00};
	int len = xfer(fd, 0x4301, 1, basic, sizeof basic, ans);
	h_ok(len == (int)(7 + n) && ans[0] == 0x43 && ans[1] == 0x01 && ans[6] == 1 &&
		 memcmp(ans + 7, want, n) == 0,
	     "FC43/0E basic identification: %s / %s / %s", vendor, product, MB_VERSION);
	const uint8_t one[] = {0x2B, 0x0E, 0x04, 0x02};
	len = xfer(fd, 0x4302, 1, one, sizeof one, ans);
	size_t rl = strlen(MB_VERSION);
	h_ok(len == (int)(7 + 9 + rl) && ans[13] == 1 && ans[14] == 2 && ans[15] == rl &&
		 memcmp(ans + 16, MB_VERSION, rl) == 0,
	     "FC43/0E individual access to object 2 (revision)");
	const uint8_t bad[] = {0x2B, 0x0E, 0x04, 0x07};
	expect_exc(fd, 1, bad, sizeof bad, 0x02, "FC43/0E individual access to a missing object");
	const uint8_t code[] = {0x2B, 0x0E, 0x05, 0x00};
	expect_exc(fd, 1, code, sizeof code, 0x03, "FC43/0E read device ID code 5");
	const uint8_t mei[] = {0x2B, 0x0D, 0x00, 0x00};
	expect_exc(fd, 1, mei, sizeof mei, 0x01, "FC43 MEI type 0x0D");
	close(fd);
}

static void check_pipelined(int port)
{
	int fd = h_connect(AF_INET, port);
	if (!h_ok(fd >= 0, "raw client connects for pipelining"))
		return;
	/* Ten requests in one send, plus the first half of an eleventh. */
	uint8_t buf[4096], pdu[16], ans[ADU_MAX];
	size_t len = 0;
	for (int i = 0; i < 8; i++)
		len += adu(buf + len, (uint16_t)(0x100 + i), 1, pdu,
			   pdu_read(pdu, 0x03, (uint16_t)(1000 + 3 * i), 3));
	len += adu(buf + len, 0x108, 9, pdu, pdu_read(pdu, 0x03, 0, 1));
	const uint8_t w6[] = {0x06, 0x04, 0xAF, 0x12, 0x34}; /* 1199 := 0x1234 */
	len += adu(buf + len, 0x109, 1, w6, sizeof w6);
	size_t split = len + 5;
	len += adu(buf + len, 0x10A, 1, pdu, pdu_read(pdu, 0x03, 1199, 1));
	int ok = h_send_all(fd, buf, split) == 0;
	int seen[11] = {0}, good = 0;
	for (int k = 0; ok && k < 10; k++) {
		int n = h_recv_adu(fd, ans, sizeof ans, 3000);
		if (n <= 0)
			break;
		int tid = ans[0] << 8 | ans[1];
		if (tid < 0x100 || tid > 0x10A || seen[tid - 0x100]++)
			continue;
		int i = tid - 0x100;
		if (i < 8) {
			int match = n == 15 && ans[7] == 3 && ans[8] == 6;
			for (int j = 0; match && j < 3; j++)
				match = (ans[9 + 2 * j] << 8 | ans[10 + 2 * j]) ==
					(((1000 + 3 * i + j) ^ 0x5A5A) & 0xFFFF);
			good += match;
		} else if (i == 8) {
			good += n == 9 && ans[6] == 9 && ans[7] == 0x83 && ans[8] == 0x0A;
		} else if (i == 9) {
			good += n == 12 && memcmp(ans + 7, w6, 5) == 0;
		}
	}
	h_ok(good == 10, "10 pipelined requests in one segment: %d answered right, matched by TID",
	     good);
	/* The rest of the split request. */
	ok = h_send_all(fd, buf + split, len - split) == 0;
	int n = h_recv_adu(fd, ans, sizeof ans, 3000);
	h_ok(ok && n == 11 && ans[0] == 0x01 && ans[1] == 0x0A && ans[9] == 0x12 && ans[10] == 0x34,
	     "a request split across sends is answered once complete (reads the FC06 value)");

	/* One request byte by byte, with pauses. */
	len = adu(buf, 0x0BB1, 1, pdu, pdu_read(pdu, 0x03, 1020, 2));
	ok = 1;
	for (size_t i = 0; ok && i < len; i++) {
		ok = h_send_all(fd, buf + i, 1) == 0;
		h_sleep_ms(15);
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (i + 1 < len && poll(&pf, 1, 0) > 0)
			ok = 0; /* answered before it was complete */
	}
	n = h_recv_adu(fd, ans, sizeof ans, 3000);
	h_ok(ok && n == 13 && ans[0] == 0x0B && ans[1] == 0xB1 &&
		 (ans[9] << 8 | ans[10]) == ((1020 ^ 0x5A5A) & 0xFFFF),
	     "a request sent byte by byte with pauses is answered once, at its end");
	close(fd);
}

/* 64 clients in one poll loop, each doing ROUNDS reads of its own window. */
#define NCLIENTS 64
#define ROUNDS 100

static void check_many_clients(int port)
{
	int fds[NCLIENTS], done[NCLIENTS] = {0}, got[NCLIENTS] = {0}, wrong = 0, open = 0;
	uint8_t in[NCLIENTS][ADU_MAX];
	size_t have[NCLIENTS] = {0};
	for (int i = 0; i < NCLIENTS; i++) {
		fds[i] = h_connect(AF_INET, port);
		open += fds[i] >= 0;
	}
	if (!h_ok(open == NCLIENTS, "%d clients connect at once (%d)", NCLIENTS, open))
		goto out;
	/* Every client sends its first request, then one per answer. */
	for (int i = 0; i < NCLIENTS; i++) {
		uint8_t req[16], pdu[8];
		size_t n = adu(req, 0, 1, pdu, pdu_read(pdu, 0x03, (uint16_t)(1000 + i), 5));
		if (h_send_all(fds[i], req, n) < 0)
			done[i] = 1;
	}
	uint64_t end = h_now_ms() + 15000;
	int finished = 0;
	while (finished < NCLIENTS && h_now_ms() < end) {
		struct pollfd pf[NCLIENTS];
		for (int i = 0; i < NCLIENTS; i++)
			pf[i] = (struct pollfd){.fd = done[i] ? -1 : fds[i], .events = POLLIN};
		if (poll(pf, NCLIENTS, 1000) <= 0)
			continue;
		for (int i = 0; i < NCLIENTS; i++) {
			if (done[i] || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t k = recv(fds[i], in[i] + have[i], 19 - have[i], 0);
			if (k <= 0) {
				done[i] = 1;
				finished++;
				continue;
			}
			have[i] += (size_t)k;
			if (have[i] < 19)
				continue;
			have[i] = 0;
			/* Answer to round got[i]: tid, 5 words of 1000+(i+round)%150. */
			uint16_t base = (uint16_t)(1000 + (i + got[i]) % 150);
			int ok =
			    (in[i][0] << 8 | in[i][1]) == got[i] && in[i][7] == 3 && in[i][8] == 10;
			for (int j = 0; ok && j < 5; j++)
				ok = (in[i][9 + 2 * j] << 8 | in[i][10 + 2 * j]) ==
				     (((base + j) ^ 0x5A5A) & 0xFFFF);
			wrong += !ok;
			if (++got[i] == ROUNDS) {
				done[i] = 1;
				finished++;
				continue;
			}
			uint8_t req[16], pdu[8];
			base = (uint16_t)(1000 + (i + got[i]) % 150);
			size_t n = adu(req, (uint16_t)got[i], 1, pdu, pdu_read(pdu, 0x03, base, 5));
			if (h_send_all(fds[i], req, n) < 0) {
				done[i] = 1;
				finished++;
			}
		}
	}
	int total = 0;
	for (int i = 0; i < NCLIENTS; i++)
		total += got[i];
	h_ok(total == NCLIENTS * ROUNDS && wrong == 0,
	     "%d clients x %d reads at once: %d answers, %d wrong", NCLIENTS, ROUNDS, total, wrong);
out:
	for (int i = 0; i < NCLIENTS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void check_garbage_and_drops(int port, pid_t pid, const char *log)
{
	int fd = h_connect(AF_INET, port);
	const char http[] = "GET / HTTP/1.0\r\n\r\n";
	int ok = fd >= 0 && h_send_all(fd, (const uint8_t *)http, sizeof http - 1) == 0;
	h_ok(ok && closed_within(fd, 3000), "a client sending text is closed");
	if (fd >= 0)
		close(fd);
	fd = h_connect(AF_INET, port);
	const uint8_t badpid[] = {0, 1, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1};
	ok = fd >= 0 && h_send_all(fd, badpid, sizeof badpid) == 0;
	h_ok(ok && closed_within(fd, 3000), "a client sending protocol ID 7 is closed");
	if (fd >= 0)
		close(fd);
	fd = h_connect(AF_INET, port);
	/* 267: longer than any request can be (codec_mbap.h, MBAP_MAX_LENGTH). */
	const uint8_t badlen[] = {0, 1, 0, 0, 1, 11};
	ok = fd >= 0 && h_send_all(fd, badlen, sizeof badlen) == 0;
	h_ok(ok && closed_within(fd, 3000), "a client announcing length 267 is closed");
	if (fd >= 0)
		close(fd);

	/* Clients that leave with requests in flight: a plain close and a reset. */
	for (int reset = 0; reset < 2; reset++) {
		fd = h_connect(AF_INET, port);
		uint8_t buf[4096], pdu[8];
		size_t len = 0;
		for (int i = 0; i < 60; i++)
			len += adu(buf + len, (uint16_t)i, (uint8_t)(1 + i % 2), pdu,
				   pdu_read(pdu, 0x03, 1000, 60));
		if (fd >= 0) {
			h_send_all(fd, buf, len);
			if (reset) {
				struct linger lg = {1, 0};
				setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			}
			close(fd);
		}
	}
	h_sleep_ms(100);
	fd = h_connect(AF_INET, port);
	uint16_t want[2] = {100, 101};
	h_ok(h_alive(pid) && fd >= 0 && raw_read_eq(fd, 0x0C01, 1, 0, 2, want),
	     "after garbage and dropped clients the bridge still serves");
	if (fd >= 0)
		close(fd);
	h_ok(h_file_contains(log, "garbage"), "garbage is logged at debug");
}

/* The front's counters from a SIGUSR1 line ("modbus: N client connections,
 * ... garbage G ..."): the value after `key`, or -1 when no line came. */
static long long server_counter(pid_t pid, const char *log, const char *key)
{
	int before = h_count_lines(log, "client connections, accepted");
	h_signal(pid, SIGUSR1);
	if (!h_wait_lines(log, "client connections, accepted", before + 1, 10000))
		return -1;
	FILE *f = fopen(log, "r");
	char line[1024], want[64];
	long long v = -1;
	snprintf(want, sizeof want, " %s ", key);
	while (f && fgets(line, sizeof line, f)) {
		const char *p = strstr(line, "client connections, accepted");
		if (p && (p = strstr(p, want)))
			v = strtoll(p + strlen(want), NULL, 10);
	}
	if (f)
		fclose(f);
	return v;
}

/* Garbage after valid requests in the same segment: the requests are
 * answered (a write acknowledged), then the connection ends. */
static void check_garbage_after_requests(int port)
{
	static const uint8_t bad[4] = {0xDE, 0xAD, 0xBE, 0xEF}; /* protocol ID 0xBEEF */
	uint8_t buf[512], pdu[16], ans[ADU_MAX];
	size_t len = 0;
	int fd = h_connect(AF_INET, port);
	if (!h_ok(fd >= 0, "raw client connects to send requests then garbage"))
		return;
	for (int i = 0; i < 10; i++)
		len += adu(buf + len, (uint16_t)(0x200 + i), 1, pdu,
			   pdu_read(pdu, 0x03, (uint16_t)(1000 + i), 2));
	memcpy(buf + len, bad, sizeof bad);
	len += sizeof bad;
	int good = 0;
	if (h_send_all(fd, buf, len) == 0) {
		for (int i = 0; i < 10; i++) {
			int n = h_recv_adu(fd, ans, sizeof ans, 3000);
			if (n <= 0)
				break;
			int tid = ans[0] << 8 | ans[1];
			good +=
			    n == 13 && tid >= 0x200 && tid < 0x20A && ans[7] == 3 &&
			    (ans[9] << 8 | ans[10]) == (((1000 + tid - 0x200) ^ 0x5A5A) & 0xFFFF);
		}
	}
	h_ok(good == 10, "10 pipelined reads followed by 4 bad bytes: all 10 answered (%d)", good);
	h_ok(closed_within(fd, 3000), "then the connection is closed");
	close(fd);

	/* A write followed by garbage: applied and acknowledged. */
	fd = h_connect(AF_INET, port);
	const uint8_t w6[] = {0x06, 0x04, 0xAE, 0x43, 0x21}; /* 1198 := 0x4321 */
	len = adu(buf, 0x0210, 1, w6, sizeof w6);
	memcpy(buf + len, bad, sizeof bad);
	len += sizeof bad;
	int n =
	    fd >= 0 && h_send_all(fd, buf, len) == 0 ? h_recv_adu(fd, ans, sizeof ans, 3000) : -1;
	h_ok(n == 12 && ans[0] == 0x02 && ans[1] == 0x10 && memcmp(ans + 7, w6, 5) == 0,
	     "a write followed by garbage in the same segment is acknowledged (%d bytes)", n);
	h_ok(fd >= 0 && closed_within(fd, 3000), "and the connection is closed after the ack");
	if (fd >= 0)
		close(fd);
	fd = h_connect(AF_INET, port);
	uint16_t want[1] = {0x4321};
	h_ok(fd >= 0 && raw_read_eq(fd, 0x0211, 1, 1198, 1, want), "the write was applied");
	if (fd >= 0)
		close(fd);
}

/* Requests longer than Modbus allows but still framed are answered with an
 * exception; a declared length no request can have ends the connection. */
static void check_oversized(int port, pid_t pid, const char *log)
{
	int fd = h_connect(AF_INET, port);
	if (!h_ok(fd >= 0, "raw client connects for oversized requests"))
		return;
	uint8_t w[300];
	/* FC16 of 124 registers with all 248 bytes: an ADU of 261 bytes. */
	memset(w, 0, sizeof w);
	w[0] = 0x10, w[1] = 0x03, w[2] = 0xE8, w[3] = 0, w[4] = 124, w[5] = 248;
	expect_exc(fd, 1, w, 6 + 248, 0x03, "FC16 of 124 registers, a 261-byte ADU");
	w[4] = 127, w[5] = 254;
	expect_exc(fd, 1, w, 6 + 254, 0x03, "FC16 of 127 registers, byte count 254");
	/* FC15 of 2040 coils (byte count 255) and FC23 at the bound (266). */
	const uint8_t fc15[] = {0x0F, 0, 0, 0x07, 0xF8, 255};
	memset(w, 0, sizeof w);
	memcpy(w, fc15, sizeof fc15);
	expect_exc(fd, 1, w, 6 + 255, 0x01, "FC15 with 255 data bytes (not served)");
	const uint8_t fc23[] = {0x17, 0, 0, 0, 1, 0, 0, 0, 127, 255};
	memset(w, 0, sizeof w);
	memcpy(w, fc23, sizeof fc23);
	expect_exc(fd, 1, w, 10 + 255, 0x01, "FC23 with 255 data bytes, MBAP length 266");
	uint16_t want[2] = {100, 101};
	h_ok(raw_read_eq(fd, 0x0301, 1, 0, 2, want), "the connection still serves afterwards");
	close(fd);

	long long g0 = server_counter(pid, log, "garbage");
	fd = h_connect(AF_INET, port);
	const uint8_t big[] = {0x03, 0x02, 0, 0, 0x01, 0x0B, 1, 0x10}; /* length 267 */
	int ok = fd >= 0 && h_send_all(fd, big, sizeof big) == 0;
	h_ok(ok && closed_within(fd, 3000),
	     "a declared length of 267 (over the bound) closes the connection");
	if (fd >= 0)
		close(fd);
	long long g1 = server_counter(pid, log, "garbage");
	h_ok(g0 >= 0 && g1 == g0 + 1, "and is counted as garbage (%lld -> %lld)", g0, g1);
}

/* Bridge B: max_connections = 2, idle_timeout = 1, allow 127.0.0.0/8. */
static void check_limits(int port)
{
	uint16_t want[1] = {100};
	int a = h_connect(AF_INET, port);
	int ok_a = a >= 0 && raw_read_eq(a, 1, 1, 0, 1, want);
	int b = h_connect(AF_INET, port);
	int ok_b = b >= 0 && raw_read_eq(b, 1, 1, 0, 1, want);
	h_ok(ok_a && ok_b, "allow 127.0.0.0/8 accepts 127.0.0.1; two clients served");
	int c = h_connect(AF_INET, port);
	h_ok(c >= 0 && closed_within(c, 2000),
	     "a third client is closed at once (max_connections 2)");
	if (c >= 0)
		close(c);
	if (a >= 0)
		close(a);
	h_sleep_ms(100);
	c = h_connect(AF_INET, port);
	h_ok(c >= 0 && raw_read_eq(c, 2, 1, 0, 1, want), "after one left, a new client is served");

	/* b has been silent since its read; c just read. */
	uint64_t t0 = h_now_ms();
	int closed = c >= 0 && closed_within(c, 3000);
	uint64_t dt = h_now_ms() - t0;
	h_ok(closed && dt >= 800 && dt <= 2500,
	     "idle_timeout 1 s closes a silent client (after %llu ms)", (unsigned long long)dt);
	h_ok(b >= 0 && closed_within(b, 100), "the other silent client was closed too");
	if (b >= 0)
		close(b);
	if (c >= 0)
		close(c);
}

int main(void)
{
	h_init("core");
	char err[512];
	char mappath[1024];
	snprintf(mappath, sizeof mappath, "%s/scratch.conf", h_maps_dir());
	struct map *m = map_load(mappath, err, sizeof err);
	if (!h_ok(m != NULL, "maps/scratch.conf loads")) {
		h_note("%s", err);
		return h_done();
	}
	M = m;

	/* A: the main bridge. */
	int port = h_free_port();
	const char *conf = write_config("a.conf", "127.0.0.1", port, 100, 0, NULL);
	pid_t pid = h_bridge_start(conf, port, "a.log");
	if (!h_ok(pid > 0, "bridge starts on 127.0.0.1:%d", port)) {
		map_free(m);
		return h_done();
	}
	char line[64];
	snprintf(line, sizeof line, "listening on 127.0.0.1:%d", port);
	/* The socket listens a moment before the line is written. */
	int logged = 0;
	for (int i = 0; i < 100 && !(logged = h_file_contains(h_path("a.log"), line)); i++)
		h_sleep_ms(20);
	h_ok(logged, "logs \"%s\"", line);

	check_defaults(port);
	check_writes(port);
	check_mbpoll(port);
	check_exceptions(port);
	check_identification(port);
	check_pipelined(port);
	check_many_clients(port);
	check_garbage_and_drops(port, pid, h_path("a.log"));
	check_garbage_after_requests(port);
	check_oversized(port, pid, h_path("a.log"));

	/* B: limits. */
	int portb = h_free_port();
	conf = write_config("b.conf", "127.0.0.1", portb, 2, 1, "127.0.0.0/8");
	pid_t pidb = h_bridge_start(conf, portb, "b.log");
	if (h_ok(pidb > 0, "bridge B starts (max_connections 2, idle_timeout 1)")) {
		h_sleep_ms(100); /* let the harness' probe connection go */
		check_limits(portb);
		h_ok(h_bridge_stop(pidb) == 0, "bridge B exits 0 on SIGTERM");
	}

	/* C: an allow list without us. */
	int portc = h_free_port();
	conf = write_config("c.conf", "127.0.0.1", portc, 10, 0, "10.0.0.0/8");
	pid_t pidc = h_bridge_start(conf, portc, "c.log");
	if (h_ok(pidc > 0, "bridge C starts (allow 10.0.0.0/8)")) {
		int fd = h_connect(AF_INET, portc);
		uint8_t pdu[8], req[16];
		size_t n = adu(req, 1, 1, pdu, pdu_read(pdu, 0x03, 0, 1));
		if (fd >= 0)
			h_send_all(fd, req, n); /* may fail: the bridge may have closed already */
		h_ok(fd >= 0 && closed_within(fd, 2000),
		     "allow 10.0.0.0/8 closes a client from 127.0.0.1 without an answer");
		if (fd >= 0)
			close(fd);
		h_ok(h_bridge_stop(pidc) == 0, "bridge C exits 0 on SIGTERM");
	}

	/* D: IPv6 loopback. */
	if (h_ipv6_loopback()) {
		int portd = h_free_port();
		conf = write_config("d.conf", "::1", portd, 10, 0, NULL);
		pid_t pidd = h_bridge_start(conf, portd, "d.log");
		if (h_ok(pidd > 0, "bridge D listens on [::1]:%d", portd)) {
			int fd = h_connect(AF_INET6, portd);
			uint16_t want[3] = {100, 101, 102};
			h_ok(fd >= 0 && raw_read_eq(fd, 6, 1, 0, 3, want), "FC03 over IPv6");
			if (fd >= 0)
				close(fd);
			h_ok(h_bridge_stop(pidd) == 0, "bridge D exits 0 on SIGTERM");
		}
	} else {
		h_note("IPv6 loopback not available here: IPv6 listen not tested");
	}

	h_ok(h_alive(pid), "bridge A is still running");
	h_ok(h_bridge_stop(pid) == 0, "bridge A exits 0 on SIGTERM");
	map_free(m);
	return h_done();
}

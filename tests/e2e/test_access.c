/* Who may do what through the bridge:
 *
 * 1. `allow` lists: a listed client is served, an unlisted one is closed at
 *    once without an answer; over IPv6 (::1) too, and a dual-stack listener
 *    matches IPv4 clients (IPv4-mapped) against IPv4 entries only.
 * 2. `read_only = true`: FC06 and FC16 answer exception 01, reads work.
 * 3. Registers that can cut a device off (network, Wi-Fi and MQTT settings,
 *    factory reset, firmware) are never writable in a shipped map: every
 *    shipped map (maps/NAME.conf) is loaded with the map API and checked, and a memory device
 *    with the PowerGo map refuses such writes with exception 02.
 * 4. Secrets stay out of the log: a bridge with an MQTT password, a status
 *    password and a TLS key whose content is recognisable runs with debug
 *    logging, tries to connect, reloads, prints its counters and stops; its
 *    log and `--check` output hold neither the passwords nor the key. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "map.h"

#define EXC(n) (MODBUS_ENOBASE + (n))

/* ------------------------------------------------------------ helpers -- */

enum probe { PROBE_SERVED, PROBE_CLOSED, PROBE_REFUSED, PROBE_HANGS };
static const char *const probe_names[] = {"served", "closed", "refused", "no answer"};

/* Connect, ask for holding 0..9 of unit 1, and see what happens within 2 s.
 * *ms: how long until the answer or the close. */
static enum probe probe(int family, int port, uint64_t *ms)
{
	uint64_t t0 = h_now_ms();
	int fd = h_connect(family, port);
	if (fd < 0)
		return PROBE_REFUSED;
	static const uint8_t req[12] = {0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 10};
	send(fd, req, sizeof req, MSG_NOSIGNAL); /* may fail when already closed */
	uint8_t buf[64];
	size_t got = 0;
	enum probe r = PROBE_HANGS;
	uint64_t end = t0 + 2000;
	while (h_now_ms() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(end - h_now_ms())) <= 0)
			continue;
		ssize_t k = recv(fd, buf + got, sizeof buf - got, 0);
		if (k <= 0) {
			r = PROBE_CLOSED;
			break;
		}
		got += (size_t)k;
		if (got >= 29) {
			r = buf[7] == 3 && buf[8] == 20 && buf[9] == 0 && buf[10] == 100
				? PROBE_SERVED
				: PROBE_HANGS;
			break;
		}
	}
	*ms = h_now_ms() - t0;
	close(fd);
	return r;
}

static const char *write_config(const char *name, const char *listen, int port, const char *allow)
{
	char text[2048];
	snprintf(
	    text, sizeof text,
	    "server = { listen = \"%s\"; port = %d;%s%s%s };\n"
	    "maps_path = [ \"%s\" ];\n"
	    "devices = (\n"
	    "  { name = \"rw\"; unit_id = 1; map = \"scratch\"; memory = {}; },\n"
	    "  { name = \"ro\"; unit_id = 2; map = \"scratch\"; memory = {}; read_only = true; },\n"
	    "  { name = \"pg\"; unit_id = 3; map = \"powergo\"; memory = {}; }\n"
	    ");\n",
	    listen, port, allow ? " allow = [ " : "", allow ? allow : "", allow ? " ];" : "",
	    h_maps_dir());
	return h_write_file(name, text);
}

/* -------------------------------------------------------- 1: allow -- */

static void check_probe(int family, int port, enum probe want, const char *what)
{
	uint64_t ms = 0;
	enum probe got = probe(family, port, &ms);
	h_ok(got == want, "%s: %s (%s after %llu ms)", what, probe_names[want], probe_names[got],
	     (unsigned long long)ms);
	if (want == PROBE_CLOSED && got == PROBE_CLOSED)
		h_ok(ms < 1000, "%s: closed at once (%llu ms)", what, (unsigned long long)ms);
}

static void part_allow(void)
{
	int port = h_free_port();
	pid_t b = h_bridge_start(write_config("allow1.conf", "127.0.0.1", port, "\"127.0.0.0/8\""),
				 port, "allow1.log");
	if (h_ok(b > 0, "bridge with allow 127.0.0.0/8 started")) {
		check_probe(AF_INET, port, PROBE_SERVED, "allow 127.0.0.0/8, client 127.0.0.1");
		h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	}

	port = h_free_port();
	b = h_bridge_start(write_config("allow2.conf", "127.0.0.1", port,
					"\"10.0.0.0/8\", \"192.168.0.0/16\", \"::1/128\""),
			   port, "allow2.log");
	if (h_ok(b > 0, "bridge with an allow list without 127.0.0.1 started")) {
		check_probe(AF_INET, port, PROBE_CLOSED,
			    "allow without loopback, client 127.0.0.1");
		check_probe(AF_INET, port, PROBE_CLOSED, "... a second time");
		/* Logged without -v (info), once per 10 s however many come. */
		h_ok(h_wait_lines(h_path("allow2.log"),
				  "info: modbus: refused client 127.0.0.1:", 1, 3000),
		     "the refused client is logged at the normal level");
		h_ok(h_count_lines(h_path("allow2.log"), "info: modbus: refused client") == 1,
		     "... once for both refusals (rate-limited)");
		h_ok(h_alive(b), "bridge alive after refusing clients");
		h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	}

	if (!h_ipv6_loopback()) {
		h_note("no IPv6 loopback here: IPv6 cases skipped");
		return;
	}
	/* IPv6 only on ::1. */
	port = h_free_port();
	b = h_bridge_start(write_config("allow3.conf", "::1", port, "\"::1/128\""), port,
			   "allow3.log");
	if (h_ok(b > 0, "bridge listening on ::1 started")) {
		check_probe(AF_INET6, port, PROBE_SERVED, "listen ::1, allow ::1/128, client ::1");
		h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	}
	port = h_free_port();
	b = h_bridge_start(write_config("allow4.conf", "::1", port, "\"127.0.0.0/8\""), port,
			   "allow4.log");
	if (h_ok(b > 0, "bridge listening on ::1 with an IPv4-only allow list started")) {
		check_probe(AF_INET6, port, PROBE_CLOSED,
			    "listen ::1, allow 127.0.0.0/8, client ::1");
		h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	}
	/* Dual stack: IPv4 clients arrive IPv4-mapped and match IPv4 entries. */
	port = h_free_port();
	b = h_bridge_start(write_config("allow5.conf", "::", port, "\"127.0.0.0/8\""), port,
			   "allow5.log");
	if (h_ok(b > 0, "dual-stack bridge (listen ::) started")) {
		enum probe v4 = probe(AF_INET, port, &(uint64_t){0});
		if (v4 == PROBE_REFUSED) {
			h_note("listen \"::\" is IPv6-only here: dual-stack cases skipped");
		} else {
			h_ok(v4 == PROBE_SERVED,
			     "listen ::, allow 127.0.0.0/8, client 127.0.0.1: %s", probe_names[v4]);
			check_probe(AF_INET6, port, PROBE_CLOSED,
				    "listen ::, allow 127.0.0.0/8, client ::1");
		}
		h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	}
}

/* ---------------------------------------------------- 2: read_only -- */

static void part_read_only(int port)
{
	modbus_t *ro = h_modbus(port, 2), *rw = h_modbus(port, 1);
	if (!h_ok(ro && rw, "clients for the read-only and the writable device"))
		return;
	uint16_t v[10];
	h_ok(modbus_read_registers(ro, 0, 10, v) == 10 && v[0] == 100 && v[9] == 109,
	     "read_only device: reads work");
	errno = 0;
	int rc = modbus_write_register(ro, 0, 55), err = errno;
	h_ok(rc < 0 && err == EXC(1), "read_only device: FC06 answers exception 01 (%s)",
	     rc < 0 ? modbus_strerror(err) : "written");
	uint16_t w[2] = {1, 2};
	errno = 0;
	rc = modbus_write_registers(ro, 0, 2, w);
	err = errno;
	h_ok(rc < 0 && err == EXC(1), "read_only device: FC16 answers exception 01 (%s)",
	     rc < 0 ? modbus_strerror(err) : "written");
	h_ok(modbus_read_registers(ro, 0, 2, v) == 2 && v[0] == 100 && v[1] == 101,
	     "read_only device: the values did not change");
	/* The same map on a writable device takes the same writes. */
	h_ok(modbus_write_register(rw, 0, 55) == 1, "writable device: FC06 works");
	h_ok(modbus_write_registers(rw, 1, 2, w) == 2, "writable device: FC16 works");
	modbus_close(ro);
	modbus_free(ro);
	modbus_close(rw);
	modbus_free(rw);
}

/* ----------------------------------------------- 3: shipped maps -- */

/* Words of a register name that mark settings able to cut the device off. */
static int dangerous_name(const char *name)
{
	static const char *const words[] = {
	    "wifi",    "ssid",	  "password",	 "mqtt",   "eth",     "ip",	  "dns",
	    "gateway", "netmask", "network",	 "reset",  "factory", "firmware", "ota",
	    "upgrade", "url",	  "destination", "server", "apn",     "dhcp"};
	char buf[128];
	snprintf(buf, sizeof buf, "%s", name);
	for (char *save = NULL, *t = strtok_r(buf, "_", &save); t; t = strtok_r(NULL, "_", &save))
		for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
			if (strcmp(t, words[i]) == 0)
				return 1;
	return 0;
}

/* Command numbers of the Hame/Marstek text protocol that reset, upgrade,
 * restart or re-point a device. They differ by model: on the Venus cd=5 is
 * the factory reset, cd=9 OTA and cd=20 the firmware URL (the Venus
 * document); on the B2500 cd=10 is the restart and cd=11 the factory reset,
 * while its cd=20 sets the timers (the b2500 maps' headers, after hm2mqtt);
 * the Jupiter's factory reset is cd=5 (maps/jupiter.conf). */
static int dangerous_venus(const char *map, const char *tmpl)
{
	static const int venus[] = {5, 9, 20, -1}, b2500[] = {10, 11, -1};
	const int *bad = strncmp(map, "b2500", 5) == 0 ? b2500 : venus;
	if (!tmpl)
		return 0;
	while (*tmpl == ' ')
		tmpl++;
	if (strncmp(tmpl, "cd=", 3) != 0)
		return 0;
	int cd = atoi(tmpl + 3);
	for (; *bad >= 0; bad++)
		if (cd == *bad)
			return 1;
	return 0;
}

static void part_shipped_maps(int port)
{
	DIR *d = opendir(h_maps_dir());
	if (!h_ok(d != NULL, "maps/ readable"))
		return;
	struct dirent *e;
	int maps = 0, failed = 0, bad = 0, powergo_seen = 0, venus_seen = 0;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".conf") != 0)
			continue;
		char path[1024], err[2048];
		snprintf(path, sizeof path, "%s/%s", h_maps_dir(), e->d_name);
		struct map *m = map_load(path, err, sizeof err);
		if (!m) {
			failed++;
			h_note("%s", err);
			continue;
		}
		maps++;
		int is_powergo = strcmp(map_protocol(m), "powergo") == 0;
		int is_venus = strcmp(map_protocol(m), "venus") == 0;
		powergo_seen += is_powergo && strcmp(map_name(m), "powergo") == 0;
		venus_seen += is_venus;
		for (size_t i = 0; i < map_nregs(m); i++) {
			const struct map_register *r = map_reg(m, i);
			if (!(r->access & MAP_W))
				continue;
			const char *why = NULL;
			if (is_powergo && r->table == MAP_HOLDING && r->address + r->count > 110 &&
			    r->address <= 265)
				why = "PowerGo network, Wi-Fi or MQTT setting (110-265)";
			else if (dangerous_name(r->name))
				why = "its name says network, reset or firmware";
			else if (is_venus && dangerous_venus(map_name(m), r->write))
				why = "its command resets or upgrades the device";
			if (why) {
				bad++;
				h_note("%s: register %u \"%s\" is writable: %s", e->d_name,
				       r->address, r->name, why);
			}
		}
		for (size_t i = 0; i < map_ncommands(m); i++) {
			const struct map_command *c = map_command(m, i);
			if (dangerous_venus(map_name(m), c->template) ||
			    (is_powergo && c->address + c->count > 110 && c->address <= 265)) {
				bad++;
				h_note("%s: command \"%s\" (%u..%u) can cut the device off",
				       e->d_name, c->name, c->address, c->address + c->count - 1);
			}
		}
		map_free(m);
	}
	closedir(d);
	h_ok(failed == 0 && maps >= 3, "every shipped map loads (%d maps, %d failed)", maps,
	     failed);
	h_ok(powergo_seen == 1 && venus_seen >= 1, "the PowerGo and Venus maps are among them");
	h_ok(bad == 0, "no shipped map lets a client write what can cut a device off (%d found)",
	     bad);

	/* Through the bridge: a memory device with the PowerGo map. */
	modbus_t *mb = h_modbus(port, 3);
	if (!h_ok(mb != NULL, "client for the PowerGo-map memory device"))
		return;
	static const struct {
		int addr;
		const char *what;
	} refused[] = {{220, "Ethernet static IP"},
		       {120, "Wi-Fi password"},
		       {140, "Wi-Fi mode"},
		       {169, "MQTT server port"},
		       {265, "network apply"}};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		errno = 0;
		int rc = modbus_write_register(mb, refused[i].addr, 1), err = errno;
		h_ok(rc < 0 && err == EXC(2), "FC06 to %d (%s) answers exception 02 (%s)",
		     refused[i].addr, refused[i].what, rc < 0 ? modbus_strerror(err) : "written");
	}
	uint16_t w[2] = {0xC0A8, 0x0101};
	errno = 0;
	int rc = modbus_write_registers(mb, 220, 2, w), err = errno;
	h_ok(rc < 0 && err == EXC(2), "FC16 to 220..221 answers exception 02 (%s)",
	     rc < 0 ? modbus_strerror(err) : "written");
	h_ok(modbus_write_register(mb, 280, 1000) == 1,
	     "FC06 to 280 (charging power, meant to be written) works");
	modbus_close(mb);
	modbus_free(mb);
}

/* ---------------------------------------------------- 4: secrets -- */

#define PASSWORD "Pw-7f3a9c-SECRET"
#define STATUS_PASSWORD "StatusPw-55d1e0"
#define KEY_TEXT "KEYCONTENT-91b2e4-SECRET"

static int file_has(const char *path, const char *needle, char *where, size_t wlen)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int found = 0;
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof line, f))
		if (strstr(line, needle)) {
			found = 1;
			snprintf(where, wlen, "%s", line);
		}
	fclose(f);
	return found;
}

static void part_secrets(void)
{
	int broker_port;
	pid_t broker = h_broker_start(&broker_port);
	if (!h_ok(broker > 0, "mosquitto started"))
		return;
	const char *key = h_write_file("client.key", "-----BEGIN PRIVATE KEY-----\n" KEY_TEXT
						     "\n-----END PRIVATE KEY-----\n");
	const char *cert = h_write_file("client.crt", "-----BEGIN CERTIFICATE-----\nCERT-" KEY_TEXT
						      "\n-----END CERTIFICATE-----\n");
	const char *ca = h_write_file("ca.crt", "-----BEGIN CERTIFICATE-----\nCA-" KEY_TEXT
						"\n-----END CERTIFICATE-----\n");
	int port = h_free_port();
	char text[4096];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "status = { mqtt = { host = \"127.0.0.1\"; port = %d; username = \"statususer\";"
		 " password = \"" STATUS_PASSWORD "\"; }; interval = 1; };\n"
		 "devices = (\n"
		 "  { name = \"plain\"; unit_id = 1; map = \"powergo\"; timeout = 300;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; username = \"mbuser\";"
		 " password = \"" PASSWORD "\"; };\n"
		 "    powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; }; },\n"
		 "  { name = \"tls\"; unit_id = 2; map = \"powergo\"; timeout = 300;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; username = \"mbuser2\";"
		 " password = \"" PASSWORD "\";\n"
		 "      tls = { ca_file = \"%s\"; cert_file = \"%s\"; key_file = \"%s\"; }; };\n"
		 "    powergo = { app_id = \"053461AE\"; device_id = \"15020116\"; }; }\n"
		 ");\n",
		 port, h_maps_dir(), broker_port, broker_port, broker_port, ca, cert, key);
	const char *conf = h_write_file("secrets.conf", text);

	/* --check prints what it checked. */
	char out[16384], where[4096];
	const char *check[] = {h_bin("modbridge"), "--check", "-c", conf, "-v", NULL};
	int rc = h_run(check, out, sizeof out, 10000);
	h_ok(rc == 0, "--check accepts the config (exit %d)", rc);
	h_ok(!strstr(out, PASSWORD) && !strstr(out, STATUS_PASSWORD) && !strstr(out, KEY_TEXT),
	     "--check output holds no password and no key");

	pid_t b = h_bridge_start(conf, port, "secrets.log");
	if (h_ok(b > 0, "bridge with passwords and TLS files started")) {
		/* Let it try: connect, fail TLS, retry; read through it, reload,
		 * print counters. */
		modbus_t *mb = h_modbus(port, 1);
		uint16_t v;
		if (mb) {
			modbus_read_registers(mb, 529, 1, &v);
			modbus_set_slave(mb, 2);
			modbus_read_registers(mb, 529, 1, &v);
			modbus_close(mb);
			modbus_free(mb);
		}
		h_sleep_ms(1500);
		h_signal(b, SIGUSR1);
		h_signal(b, SIGHUP);
		h_sleep_ms(1500);
		h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	}
	const char *log = h_path("secrets.log");
	h_ok(h_file_contains(log, "mqtt"), "the bridge logged its MQTT activity");
	int leak = file_has(log, PASSWORD, where, sizeof where);
	h_ok(!leak, "the device MQTT password is not in the log%s%s", leak ? ": " : "",
	     leak ? where : "");
	leak = file_has(log, STATUS_PASSWORD, where, sizeof where);
	h_ok(!leak, "the status MQTT password is not in the log%s%s", leak ? ": " : "",
	     leak ? where : "");
	leak = file_has(log, KEY_TEXT, where, sizeof where);
	h_ok(!leak, "no TLS key or certificate content in the log%s%s", leak ? ": " : "",
	     leak ? where : "");
	h_stop(broker, 3000);
}

/* ---------------------------------------------------------------- main -- */

int main(void)
{
	h_init("access");
	part_allow();

	int port = h_free_port();
	pid_t b =
	    h_bridge_start(write_config("main.conf", "127.0.0.1", port, NULL), port, "main.log");
	if (h_ok(b > 0, "bridge with read-only and PowerGo-map memory devices started")) {
		part_read_only(port);
		part_shipped_maps(port);
		h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	}
	part_secrets();
	return h_done();
}

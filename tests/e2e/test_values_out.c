/* A device's values on every face other than Modbus, end to end (docs/design.md,
 * "Architecture", values): the real daemon with a memory device, a real mosquitto
 * for the MQTT export, tests/sim/sim_influx for InfluxDB, libmodbus as the
 * client that writes and reads, libcurl for the REST API.
 *
 *   - float32: a register holding 230.5 (0x43668000) is 230.5 over REST,
 *     in the MQTT export and in InfluxDB, as a Modbus client decodes its
 *     words; a NaN is null in JSON and no field in the line protocol;
 *   - strings that are not UTF-8, written by a Modbus client (the issue's
 *     `a\xff\xfe\xc3(`, an uninitialised 0xFF register, an overlong form, a
 *     surrogate, a sequence cut short at the register's end, a NUL inside a
 *     string): the registers document and the MQTT payload parse with
 *     json-c's strict parser with UTF-8 validation, each ill-formed part
 *     shown as U+FFFD, a string ending at its first NUL. */
#include "harness.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 15000
#define DEV "meter"
#define FFFD "\xef\xbf\xbd"

static const char map_text[] =
    "name = \"strmeter\";\n"
    "protocol = \"memory\";\n"
    "trust = \"structure-verified\";\n"
    "description = \"values out test\";\n"
    "source = \"tests/e2e/test_values_out.c\";\n"
    "registers = (\n"
    "  { address = 0; name = \"s1\"; type = \"string\"; length = 3; access = \"rw\"; },\n"
    "  { address = 3; name = \"s2\"; type = \"string\"; length = 2; access = \"rw\"; },\n"
    "  { address = 5; name = \"s3\"; type = \"string\"; length = 3; access = \"rw\"; },\n"
    "  { address = 8; name = \"s4\"; type = \"string\"; length = 2; access = \"rw\"; },\n"
    "  { address = 10; name = \"s5\"; type = \"string\"; length = 2; access = \"rw\"; },\n"
    "  { address = 20; name = \"volt\"; type = \"float32\"; unit = \"V\"; default = 230.5; },\n"
    "  { address = 22; name = \"nanf\"; type = \"float32\"; constant = 2143289344; },\n"
    "  { address = 24; name = \"soc\"; access = \"rw\"; default = 57; }\n"
    ");\n";

/* What a Modbus client writes into s1..s5 (12 words from address 0). */
static const uint16_t bad_words[12] = {
    0x61FF, 0xFEC3, 0x2800, /* s1: a FF FE C3 ( : the issue's bytes */
    0xC0AF, 0xEDA0,	    /* s2: overlong '/', then a surrogate cut by the end */
    0x4142, 0x4344, 0xE282, /* s3: "ABCD" and a euro sign cut short at the end */
    0x6162, 0x00FF,	    /* s4: "ab", NUL, then garbage after it */
    0xFFFF, 0xFFFF,	    /* s5: uninitialised */
};

/* ... and what each face must show for them. */
static const char *const want_text[5][2] = {
    {"s1", "a" FFFD FFFD FFFD "("}, {"s2", FFFD FFFD FFFD FFFD}, {"s3", "ABCD" FFFD}, {"s4", "ab"},
    {"s5", FFFD FFFD FFFD FFFD},
};

struct body {
	char buf[65536];
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t len = size * n, room = sizeof b->buf - 1 - b->len;
	if (len > room)
		len = room;
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return size * n;
}

static long http_get(int port, const char *path, struct body *out)
{
	CURL *e = curl_easy_init();
	char url[256];
	long status = -1;
	if (!e)
		return -1;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	out->len = 0;
	out->buf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	return status;
}

/* json-c's strict parser with UTF-8 validation; NULL when it refuses. */
static json_object *strict_parse(const char *text, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  json_tokener_get_parse_end(tok) != len)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static json_object *reg_of(json_object *doc, const char *name)
{
	json_object *regs;
	if (!doc || !json_object_object_get_ex(doc, "registers", &regs))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(regs); i++) {
		json_object *r = json_object_array_get_idx(regs, i), *n;
		if (json_object_object_get_ex(r, "name", &n) &&
		    strcmp(json_object_get_string(n), name) == 0)
			return r;
	}
	return NULL;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* Every check of one registers document (REST or MQTT), named by what. */
static void check_doc(const char *what, const char *text, size_t len)
{
	json_object *doc = strict_parse(text, len);
	if (!h_ok(doc != NULL, "%s: strict JSON, UTF-8 validated", what)) {
		h_note("%.400s", text);
		return;
	}
	for (size_t i = 0; i < 5; i++) {
		json_object *v = member(reg_of(doc, want_text[i][0]), "value");
		const char *got = v ? json_object_get_string(v) : "(none)";
		if (!h_ok(v && json_object_is_type(v, json_type_string) &&
			      strcmp(got, want_text[i][1]) == 0,
			  "%s: %s shows the bytes written, ill-formed parts as U+FFFD", what,
			  want_text[i][0]))
			h_note("got \"%s\"", got);
	}
	json_object *volt = reg_of(doc, "volt");
	h_ok(member(volt, "value") && json_object_get_double(member(volt, "value")) == 230.5 &&
		 json_object_get_int64(member(volt, "raw")) == 0x43668000,
	     "%s: float32 volt is 230.5 (raw the bits, 1130790912), not its bit pattern", what);
	json_object *nanf = reg_of(doc, "nanf");
	h_ok(nanf && json_object_is_type(member(nanf, "value"), json_type_null) &&
		 json_object_get_int64(member(nanf, "raw")) == 0x7FC00000,
	     "%s: a float32 NaN is null (raw the bits)", what);
	json_object_put(doc);
}

/* The last line of path starting with prefix, into buf (without its
 * newline); its length, or -1. */
static long last_line(const char *path, const char *prefix, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t n = 0;
	ssize_t got;
	long len = -1;
	if (!f)
		return -1;
	while ((got = getline(&line, &n, f)) >= 0) {
		if (strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		if (got > 0 && line[got - 1] == '\n')
			line[--got] = '\0';
		if ((size_t)got - strlen(prefix) < cap) {
			len = (long)((size_t)got - strlen(prefix));
			memcpy(buf, line + strlen(prefix), (size_t)len + 1);
		}
	}
	free(line);
	fclose(f);
	return len;
}

int main(void)
{
	h_init("values_out");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h_write_file("strmeter.conf", map_text);

	int bport, mb_port = h_free_port(), http_port = h_free_port(), ix_port = h_free_port();
	pid_t broker = h_broker_start(&bport);
	char p[16], ip[16];
	snprintf(p, sizeof p, "%d", bport);
	snprintf(ip, sizeof ip, "%d", ix_port);
	const char *sub_argv[] = {"mosquitto_sub", "-h", "127.0.0.1", "-p", p, "-t",
				  "vals/#",	   "-v", NULL};
	pid_t sub = broker > 0 ? h_spawn(sub_argv, "sub.log") : -1;
	const char *ix_argv[] = {h_bin("tests/sim/sim_influx"),
				 "--port",
				 ip,
				 "--org",
				 "o",
				 "--bucket",
				 "b",
				 "--token",
				 "t",
				 NULL};
	pid_t ix = h_spawn(ix_argv, "sim_influx.log");
	if (!h_ok(broker > 0 && sub > 0 && ix > 0 && h_wait_port(ix_port, 5000) == 0,
		  "mosquitto, mosquitto_sub and sim_influx start"))
		goto out;

	char conf[2048];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"" DEV
		 "\"; unit_id = 1; map = \"strmeter\"; memory = {}; } );\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };\n"
		 "mqtt_export = { mqtt = { host = \"127.0.0.1\"; port = %d; client_id = \"exp\"; };"
		 " prefix = \"vals\"; interval = 3600; };\n"
		 "influxdb = { url = \"http://127.0.0.1:%d\"; version = 2; org = \"o\";"
		 " bucket = \"b\"; token = \"t\"; interval = 1; };\n",
		 mb_port, h_dir(), http_port, bport, ix_port);
	pid_t br = h_bridge_start(h_write_file("bridge.conf", conf), mb_port, "bridge.log");
	if (!h_ok(br > 0 && h_wait_port(http_port, 10000) == 0, "the bridge starts"))
		goto out;

	/* A Modbus client writes the bad bytes and reads them back as written. */
	modbus_t *m = h_modbus(mb_port, 1);
	uint16_t back[12] = {0}, fw[2] = {0};
	int wrote = m && modbus_write_registers(m, 0, 12, bad_words) == 12 &&
		    modbus_read_registers(m, 0, 12, back) == 12 &&
		    memcmp(back, bad_words, sizeof back) == 0;
	h_ok(wrote, "libmodbus writes the strings and reads back the same words");
	h_ok(m && modbus_read_registers(m, 20, 2, fw) == 2 && fw[0] == 0x4366 && fw[1] == 0x8000,
	     "over Modbus volt is 0x4366 0x8000: 230.5 as a float32, high word first");
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}

	/* REST. */
	struct body b;
	long st = http_get(http_port, "/api/v1/devices/" DEV "/registers", &b);
	h_ok(st == 200, "GET registers answers 200 (%ld)", st);
	check_doc("REST", b.buf, b.len);

	/* The MQTT export: the document published after the write (on change). */
	const char *slog = h_path("sub.log");
	h_ok(h_wait_lines(slog, "ABCD", 1, WAIT_MS),
	     "the MQTT export publishes the written strings (on change)");
	static char payload[65536];
	long plen = last_line(slog, "vals/" DEV " ", payload, sizeof payload);
	if (h_ok(plen > 0, "a payload on vals/" DEV))
		check_doc("MQTT export", payload, (size_t)plen);

	/* InfluxDB: the sim parses the line protocol back (floats with %.17g). */
	const char *ilog = h_path("sim_influx.log");
	h_ok(h_wait_lines(ilog, " volt=230.5 ", 1, WAIT_MS),
	     "InfluxDB gets volt=230.5, a float field");
	h_ok(h_wait_lines(ilog, "s1=\"a" FFFD FFFD FFFD "(\"", 1, WAIT_MS),
	     "InfluxDB gets s1 as well-formed UTF-8, ill-formed parts as U+FFFD");
	h_ok(h_count_lines(ilog, "nanf=") == 0, "no InfluxDB field for the NaN");
	h_ok(h_count_lines(ilog, "answer 4") == 0, "InfluxDB refused no request");

	h_ok(h_bridge_stop(br) == 0, "bridge stops cleanly");
out:
	if (ix > 0)
		h_stop(ix, 2000);
	if (sub > 0)
		h_stop(sub, 2000);
	if (broker > 0)
		h_stop(broker, 2000);
	curl_global_cleanup();
	return h_done();
}

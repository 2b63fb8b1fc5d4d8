/* Register writes over REST take strict JSON only (RFC 8259): comments,
 * single quotes, trailing commas, a member name twice (however escaped), NUL
 * bytes, deep nesting, bytes that are not UTF-8, raw control characters in
 * strings, NaN, and members other than "value" and "raw" (the "x":"=" of a
 * browser's text/plain form) each get 400 with a message saying what is
 * wrong, and the register keeps its value. Each body goes to the real
 * daemon through curl with a valid Digest login, as a file (bodies with a
 * NUL byte cannot be an argument). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* HA1 = MD5("admin:modbridge:secret") */
#define HA1 "74b5ba04a8aa06dd55aa3fc4e8c0307e"

static char url[128];
static modbus_t *mb;

/* POST body (len bytes) to the setpoint; the status, the answer in out. */
static int post(const char *body, size_t len, char *out, size_t cap)
{
	const char *bodyf = h_path("req.json"), *outf = h_path("resp.json");
	char code[64], data[300];
	FILE *f = fopen(bodyf, "wb");
	if (!f)
		return -1;
	fwrite(body, 1, len, f);
	fclose(f);
	snprintf(data, sizeof data, "@%s", bodyf);
	h_curl(&(struct h_curl){.url = url, .userpass = "admin:secret", .body = data, .out = outf},
	       code, sizeof code);
	h_read_file(outf, out, cap);
	return atoi(code);
}

/* The setpoint (holding 30) as a Modbus client reads it, or -1. */
static int setpoint(void)
{
	uint16_t v;
	return h_read_retry(mb, 30, 1, &v) == 0 ? v : -1;
}

/* body is refused with 400, its message holds `says`, nothing written. */
static void refused(const char *what, const char *body, size_t len, const char *says)
{
	char out[2048];
	int before = setpoint();
	int status = post(body, len, out, sizeof out);
	int after = setpoint();
	h_ok(status == 400 && strstr(out, says) && before == after && before >= 0,
	     "%s: 400 saying \"%s\", setpoint stays %d (got %d: %s; setpoint now %d)", what, says,
	     before, status, out, after);
}

#define REFUSED(what, lit, says) refused(what, lit, sizeof lit - 1, says)

int main(void)
{
	h_init("http_json");
	int mport = h_free_port(), hport = h_free_port();
	char text[2048];
	snprintf(text, sizeof text,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"scratch\"; unit_id = 1; map = \"scratch\"; memory = { }; "
		 "} );\n"
		 "http = { listen = \"127.0.0.1\"; port = %d;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1 "\"; } ); };\n",
		 mport, h_maps_dir(), hport);
	pid_t b = h_bridge_start(h_write_file("json.conf", text), mport, "json.log");
	if (!h_ok(b > 0 && h_wait_port(hport, 10000) == 0, "bridge with an http group started"))
		return h_done();
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/devices/scratch/registers/setpoint",
		 hport);
	mb = h_modbus(mport, 1);
	if (!h_ok(mb && setpoint() == 500, "the setpoint reads 500 (its default)"))
		return h_done();

	char out[2048];
	/* What is JSON is taken: the assertions below can tell. */
	h_ok(post("{\"value\": 7}", 12, out, sizeof out) == 200 && setpoint() == 7,
	     "{\"value\": 7} is written (%s)", out);
	const char *spaced = " {\r\n\t\"va\\u006cue\" : 8 }\n";
	h_ok(post(spaced, strlen(spaced), out, sizeof out) == 200 && setpoint() == 8,
	     "white space and an escaped name are JSON: written (%s)", out);
	h_ok(post("{\"raw\":9}", 9, out, sizeof out) == 200 && setpoint() == 9,
	     "{\"raw\":9} is written (%s)", out);

	REFUSED("a trailing comma", "{\"value\":7,}", "trailing comma");
	REFUSED("a single-quoted name", "{'value':7}", "single quotes");
	REFUSED("a single-quoted string", "{\"value\":'7'}", "single quotes");
	REFUSED("a comment after the object", "{\"value\":7} // set it", "comments");
	REFUSED("a comment before the object", "/* x */ {\"value\":7}", "comments");
	REFUSED("a comment inside", "{\"value\":/**/7}", "comments");
	REFUSED("a member twice", "{\"value\":7,\"value\":8}", "twice");
	REFUSED("a member twice, once escaped", "{\"value\":7,\"va\\u006cue\":8}", "twice");
	REFUSED("a NUL byte after the object", "{\"value\":7}\0", "NUL");
	REFUSED("a NUL byte inside", "{\"value\":7\0}", "NUL");
	REFUSED("a NUL byte in a name", "{\"val\0ue\":7}", "NUL");
	REFUSED("\\u0000 in a string", "{\"value\":7,\"x\":\"a\\u0000b\"}", "NUL");
	REFUSED("nesting 10 deep", "{\"value\":7,\"x\":[[[[[[[[[[1]]]]]]]]]]}", "nested deeper");
	REFUSED("a byte that is not UTF-8", "{\"value\":7,\"x\":\"\xff\"}", "UTF-8");
	REFUSED("overlong UTF-8", "{\"value\":7,\"x\":\"\xc0\xaf\"}", "UTF-8");
	REFUSED("a UTF-8 surrogate", "{\"value\":7,\"x\":\"\xed\xa0\x80\"}", "UTF-8");
	REFUSED("a raw tab in a string", "{\"value\":7,\"x\":\"a\tb\"}", "control character");
	REFUSED("NaN", "{\"value\":NaN}", "NaN");
	REFUSED("5. (no digit after the point)", "{\"value\":7.}", "number");
	REFUSED("a leading zero", "{\"value\":07}", "leading zero");
	REFUSED("an unquoted name", "{value:7}", "unexpected character");
	REFUSED("two values", "{\"value\":7}{\"value\":8}", "more after");
	REFUSED("a text/plain form's body", "{\"value\":7,\"x\":\"=\"}", "unknown member");
	REFUSED("an unknown member", "{\"value\":7,\"unit\":\"W\"}", "unknown member");
	REFUSED("an empty body", "", "JSON object");

	h_ok(setpoint() == 9, "after all of them the setpoint is still 9");
	modbus_close(mb);
	modbus_free(mb);
	h_ok(h_bridge_stop(b) == 0, "bridge exits 0");
	return h_done();
}

/* The REST API end to end (docs/api.md): the real bridge with an `http` group, a
 * real mosquitto and the PowerGo simulator, a memory device, and curl as a
 * real Digest client.
 *
 *   unit 1 "garage": maps/powergo.conf, sim 15020115
 *   unit 10 "scratch": maps/scratch.conf (memory)
 *
 * Checks: every endpoint refuses a request without credentials (401 with a
 * Digest challenge), a wrong password and an unknown user; curl --digest is
 * let in; writes follow the map (limits, commands, input registers, read-only
 * devices) with the exception named; a write to the PowerGo is answered only
 * after the simulator answered it, 504 when it never does and 502 with its
 * exception when it refuses; every response matches bridge/web/openapi.json
 * (status code listed, required fields and types); config errors name
 * file:line; a config without `http` listens on no HTTP port. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "harness.h"

#define APP "053461AD"
#define DEV1 "15020115"
/* HA1 = MD5("admin:modbridge:secret") */
#define HA1 "74b5ba04a8aa06dd55aa3fc4e8c0307e"
/* HA1 = SHA-256("admin:modbridge:secret") */
#define HA1_256 "205c3e839d536b52d63ef9ab0bcaac647279e076ac561c2b83aa6edb9e7c2507"

static int broker_port, http_port;
static char base[64];
static json_object *openapi;

/* ------------------------------------------------------------ client -- */

struct reply {
	int status;
	char body[65536];
	char headers[4096];
};

/* curl METHOD path [body] with user:password (NULL: none) and extra headers
 * (NULL-terminated, may be NULL); a body goes as application/json unless
 * one of them is a Content-Type. */
static int http_h(struct reply *r, const char *method, const char *path, const char *body,
		  const char *userpass, const char *const *hdrs)
{
	char url[256], out[512];
	const char *bodyf = h_path("body.out"), *hdrf = h_path("headers.out");

	snprintf(url, sizeof url, "%s%s", base, path);
	unlink(hdrf);
	h_curl(&(struct h_curl){.url = url,
				.method = method,
				.userpass = userpass,
				.headers = hdrs,
				.body = body,
				.out = bodyf,
				.dump_headers = hdrf},
	       out, sizeof out);
	r->status = atoi(out);
	h_read_file(bodyf, r->body, sizeof r->body);
	h_read_file(hdrf, r->headers, sizeof r->headers);
	return r->status;
}

static int http(struct reply *r, const char *method, const char *path, const char *body,
		const char *userpass)
{
	return http_h(r, method, path, body, userpass, NULL);
}

/* ----------------------------------------------------------- OpenAPI -- */

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* "#/components/schemas/X" -> the object it names. */
static json_object *deref(json_object *o)
{
	json_object *ref = jget(o, "$ref");
	if (!ref)
		return o;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", json_object_get_string(ref) + 2);
	json_object *cur = openapi;
	for (char *save = NULL, *p = strtok_r(buf, "/", &save); p && cur;
	     p = strtok_r(NULL, "/", &save))
		cur = jget(cur, p);
	return cur;
}

/* Does v fit schema? What does not, in why. */
static int fits(json_object *schema, json_object *v, const char *where, char *why, size_t n)
{
	schema = deref(schema);
	if (!schema) {
		snprintf(why, n, "%s: unresolved $ref", where);
		return 0;
	}
	json_object *nullable = jget(schema, "nullable");
	if (!v)
		return nullable && json_object_get_boolean(nullable)
			   ? 1
			   : (snprintf(why, n, "%s: null", where), 0);
	json_object *one = jget(schema, "oneOf");
	if (one) {
		for (size_t i = 0; i < json_object_array_length(one); i++)
			if (fits(json_object_array_get_idx(one, i), v, where, why, n))
				return 1;
		snprintf(why, n, "%s: fits none of oneOf", where);
		return 0;
	}
	json_object *type = jget(schema, "type");
	const char *t = type ? json_object_get_string(type) : NULL;
	enum json_type jt = json_object_get_type(v);
	if (t && ((strcmp(t, "object") == 0 && jt != json_type_object) ||
		  (strcmp(t, "array") == 0 && jt != json_type_array) ||
		  (strcmp(t, "string") == 0 && jt != json_type_string) ||
		  (strcmp(t, "boolean") == 0 && jt != json_type_boolean) ||
		  (strcmp(t, "integer") == 0 && jt != json_type_int) ||
		  (strcmp(t, "number") == 0 && jt != json_type_int && jt != json_type_double))) {
		snprintf(why, n, "%s: not %s: %s", where, t, json_object_to_json_string(v));
		return 0;
	}
	json_object *en = jget(schema, "enum");
	if (en && jt == json_type_string) {
		int found = 0;
		for (size_t i = 0; i < json_object_array_length(en); i++)
			found |= strcmp(json_object_get_string(json_object_array_get_idx(en, i)),
					json_object_get_string(v)) == 0;
		if (!found) {
			snprintf(why, n, "%s: %s not in enum", where, json_object_get_string(v));
			return 0;
		}
	}
	if (jt == json_type_array && jget(schema, "items")) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			char w[256];
			snprintf(w, sizeof w, "%s[%zu]", where, i);
			if (!fits(jget(schema, "items"), json_object_array_get_idx(v, i), w, why,
				  n))
				return 0;
		}
	}
	if (jt == json_type_object) {
		json_object *req = jget(schema, "required"), *props = jget(schema, "properties"),
			    *add = jget(schema, "additionalProperties");
		for (size_t i = 0; req && i < json_object_array_length(req); i++) {
			const char *k = json_object_get_string(json_object_array_get_idx(req, i));
			if (!json_object_object_get_ex(v, k, NULL)) {
				snprintf(why, n, "%s: required %s missing", where, k);
				return 0;
			}
		}
		json_object_object_foreach(v, key, val)
		{
			char w[256];
			json_object *ps = jget(props, key);
			snprintf(w, sizeof w, "%s.%s", where, key);
			if (ps && !fits(ps, val, w, why, n))
				return 0;
			if (!ps && add && json_object_is_type(add, json_type_object) &&
			    !fits(add, val, w, why, n))
				return 0;
		}
	}
	return 1;
}

/* Does the reply fit the OpenAPI operation (path template, method)? */
static int matches_openapi(const char *tmpl, const char *method, const struct reply *r)
{
	char code[8], why[512] = "";
	json_object *op = jget(jget(jget(openapi, "paths"), tmpl), method);
	snprintf(code, sizeof code, "%d", r->status);
	json_object *resp = deref(jget(jget(op, "responses"), code));
	if (!resp) {
		h_note("openapi: %s %s: status %d not documented", method, tmpl, r->status);
		return 0;
	}
	json_object *schema = jget(jget(jget(resp, "content"), "application/json"), "schema");
	json_object *body = json_tokener_parse(r->body);
	int ok = body && (!schema || fits(schema, body, "$", why, sizeof why));
	if (!ok)
		h_note("openapi: %s %s %d: %s (body %.200s)", method, tmpl, r->status,
		       body ? why : "not JSON", r->body);
	json_object_put(body);
	return ok;
}

/* The value of register name in a registers document, as text. */
static int reg_value(const char *doc, const char *name, char *out, size_t n)
{
	json_object *d = json_tokener_parse(doc), *regs = jget(d, "registers");
	int found = 0;
	for (size_t i = 0; regs && i < json_object_array_length(regs); i++) {
		json_object *r = json_object_array_get_idx(regs, i);
		if (strcmp(json_object_get_string(jget(r, "name")), name) == 0) {
			snprintf(out, n, "%s", json_object_to_json_string(jget(r, "value")));
			found = 1;
		}
	}
	json_object_put(d);
	return found;
}

/* ------------------------------------------------------------- tests -- */

static const char *config(int modbus_port, const char *http_block)
{
	static char text[4096];
	snprintf(
	    text, sizeof text,
	    "server = { listen = \"127.0.0.1\"; port = %d; };\n"
	    "maps_path = [ \"%s\" ];\n"
	    "devices = (\n"
	    "  { name = \"garage\"; unit_id = 1; map = \"powergo\"; timeout = 1500; retries = 0;\n"
	    "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
	    "    powergo = { app_id = \"" APP "\"; device_id = \"" DEV1 "\"; }; },\n"
	    "  { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = { }; },\n"
	    "  { name = \"locked\"; unit_id = 11; map = \"scratch\"; read_only = true;"
	    " memory = { }; }\n"
	    ");\n%s\n",
	    modbus_port, h_maps_dir(), broker_port, http_block);
	return text;
}

/* GET /api/v1/status shows each listener of `listeners` with its own
 * counters: a read through listener "second", which has no device, is
 * answered 0A and counted there, not in the server block's. */
static int second_port;

static void listener_counters(void)
{
	struct reply r;
	uint16_t v;
	modbus_t *m = h_modbus(second_port, 7);
	int rc = m ? modbus_read_registers(m, 0, 1, &v) : 0;
	int exc = errno;
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	h_ok(rc == -1 && exc == EMBXGPATH, "listener second: a unit without a device answers 0A");
	int got = http(&r, "GET", "/api/v1/status", NULL, "admin:secret");
	json_object *doc = json_tokener_parse(r.body), *l = jget(doc, "listeners");
	json_object *second =
	    l && json_object_array_length(l) == 1 ? json_object_array_get_idx(l, 0) : NULL;
	h_ok(got == 200 && matches_openapi("/status", "get", &r) && second &&
		 strcmp(json_object_get_string(jget(second, "name")), "second") == 0 &&
		 json_object_get_int(jget(second, "port")) == second_port &&
		 json_object_get_int(jget(second, "accepted")) >= 1 &&
		 json_object_get_int(jget(second, "requests")) >= 1 &&
		 json_object_get_int(jget(second, "exceptions")) >= 1 &&
		 json_object_get_int(jget(jget(doc, "modbus"), "exceptions")) == 0,
	     "the status shows listener second with its own counters (%.300s)",
	     l ? json_object_to_json_string(l) : r.body);
	json_object_put(doc);
}

static void auth(void)
{
	struct reply r;
	const char *paths[] = {"/api/v1/status",
			       "/api/v1/devices",
			       "/api/v1/devices/garage",
			       "/api/v1/devices/scratch/registers",
			       "/api/v1/maps/scratch",
			       "/api/v1/openapi.json",
			       "/"};
	int all = 1;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		http(&r, "GET", paths[i], NULL, NULL);
		if (r.status != 401 || !strstr(r.headers, "WWW-Authenticate: Digest") ||
		    !strstr(r.headers, "realm=\"modbridge\"")) {
			h_note("%s without credentials: %d %s", paths[i], r.status, r.headers);
			all = 0;
		}
	}
	h_ok(all, "every endpoint without credentials: 401 with a Digest challenge");
	h_ok(http(&r, "GET", "/api/v1/status", NULL, "admin:wrong") == 401,
	     "a wrong password is refused (401)");
	h_ok(http(&r, "GET", "/api/v1/status", NULL, "eve:secret") == 401,
	     "an unknown user is refused (401)");
	h_ok(http(&r, "POST", "/api/v1/devices/scratch/registers/setpoint", "{\"value\":1}",
		  NULL) == 401,
	     "a write without credentials is refused (401)");
	h_ok(http(&r, "GET", "/api/v1/status", NULL, "admin:secret") == 200 &&
		 matches_openapi("/status", "get", &r) && strstr(r.body, "\"auth_failures\":"),
	     "curl --digest with the right password: 200, the status matches the OpenAPI");
	h_ok(http(&r, "GET", "/", NULL, "admin:secret") == 200 &&
		 strstr(r.body, "<title>modbridge</title>") &&
		 strstr(r.headers, "Content-Type: text/html"),
	     "the page is served at /");
	h_ok(http(&r, "GET", "/api/v1/openapi.json", NULL, "admin:secret") == 200 &&
		 strstr(r.body, "\"openapi\": \"3.0.3\""),
	     "the OpenAPI document is served at /api/v1/openapi.json");
}

static void documents(void)
{
	struct reply r;
	h_ok(http(&r, "GET", "/api/v1/devices", NULL, "admin:secret") == 200 &&
		 matches_openapi("/devices", "get", &r) && strstr(r.body, "\"name\":\"garage\"") &&
		 strstr(r.body, "\"name\":\"scratch\""),
	     "GET /devices lists both devices with their health, as the OpenAPI says");
	/* The PowerGo answered a read by now (the write test below needs it up). */
	int up = 0;
	for (int i = 0; i < 50 && !up; i++, h_sleep_ms(100))
		up = http(&r, "GET", "/api/v1/devices/garage", NULL, "admin:secret") == 200 &&
		     strstr(r.body, "\"link_up\":true");
	h_ok(up && matches_openapi("/devices/{device}", "get", &r),
	     "GET /devices/garage: link up, matches the OpenAPI");
	h_ok(http(&r, "GET", "/api/v1/devices/nosuch", NULL, "admin:secret") == 404 &&
		 matches_openapi("/devices/{device}", "get", &r),
	     "an unknown device is 404, as the OpenAPI says");
	http(&r, "GET", "/api/v1/devices/scratch/registers", NULL, "admin:secret");
	char v[64] = "";
	h_ok(r.status == 200 && matches_openapi("/devices/{device}/registers", "get", &r) &&
		 reg_value(r.body, "energy", v, sizeof v) && strcmp(v, "12345.6") == 0 &&
		 strstr(r.body,
			"\"name\":\"energy\",\"address\":34,\"table\":\"holding\","
			"\"access\":\"r\",\"raw\":123456,\"value\":12345.6,\"unit\":\"kWh\""),
	     "scratch's registers: energy raw 123456, scaled 12345.6 kWh (got %s)", v);
	h_ok(http(&r, "GET", "/api/v1/maps/powergo", NULL, "admin:secret") == 200 &&
		 matches_openapi("/maps/{map}", "get", &r) &&
		 strstr(r.body, "\"name\": \"operating_mode\""),
	     "GET /maps/powergo: the register reference, as the OpenAPI says");
	h_ok(http(&r, "GET", "/api/v1/maps/nosuch", NULL, "admin:secret") == 404,
	     "a map no device uses is 404");
}

/* What answers each target and method under /api/v1/ (the REST API's
 * table of routes, bridge/http_api.c): a method a route does not serve,
 * a target no route has. Pinned here so that a change of the table or
 * its walk (http.c) cannot change an answer unnoticed. */
static void routes(void)
{
	static const struct {
		const char *method, *path, *body;
		int status;
		const char *text; /* in the body */
	} t[] = {
	    {"GET", "/api/v1/status", NULL, 200, "\"version\""},
	    {"GET", "/api/v1/devices/scratch/registers/energy", NULL, 200, "\"raw\":123456"},
	    {"GET", "/api/v1/devices/scratch/registers/34", NULL, 200, "\"name\":\"energy\""},
	    {"GET", "/api/v1/devices/scratch/history", NULL, 200, "\"points\""},
	    {"POST", "/api/v1/status", "{}", 405, "only GET is served here"},
	    {"POST", "/api/v1/nosuch", "{}", 405, "only GET is served here"},
	    {"POST", "/api/v1/devices/scratch", "{}", 405, "only GET is served here"},
	    {"DELETE", "/api/v1/settings", NULL, 405, "only GET is served here"},
	    {"DELETE", "/api/v1/devices/scratch/registers", NULL, 405, "only GET is served here"},
	    {"DELETE", "/api/v1/devices/scratch/registers/energy", NULL, 405,
	     "use GET to read a register, POST to write it"},
	    {"GET", "/api/v1/devices/scratch/nosuch", NULL, 404, "no such resource"},
	    {"GET", "/api/v1/nosuch/x", NULL, 404, "no such resource"},
	    {"GET", "/api/v1/devices/scratch/registers/energy/x", NULL, 404, "no such resource"},
	    {"POST", "/api/v1/devices/scratch/registers/energy/x", "{}", 404, "no such resource"},
	    {"GET", "/api/v1/devices/scratch/x/energy", NULL, 404, "no such resource"},
	    {"GET", "/api/v1/a/b/c/d/e/f", NULL, 404, "no such resource"},
	    {"POST", "/api/v1/devices/scratch/registers/energy", "{\"value\":1}", 422, "\"error\""},
	    {"POST", "/api/v1/devices/nosuch/registers/energy", "{\"value\":1}", 404,
	     "no such device"},
	};
	struct reply r;

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int st = http(&r, t[i].method, t[i].path, t[i].body, "admin:secret");
		h_ok(st == t[i].status && strstr(r.body, t[i].text),
		     "%s %s: %d with %s (got %d: %.200s)", t[i].method, t[i].path, t[i].status,
		     t[i].text, st, r.body);
	}
}

static void writes_follow_the_map(void)
{
	struct reply r;
	char v[64] = "";
	const char *W = "/api/v1/devices/scratch/registers/";

	h_ok(http(&r, "POST", "/api/v1/devices/scratch/registers/setpoint", "{\"value\":750}",
		  "admin:secret") == 200 &&
		 matches_openapi("/devices/{device}/registers/{register}", "post", &r) &&
		 strstr(r.body, "\"acknowledged\":true"),
	     "a write within the limits by name: 200, acknowledged");
	http(&r, "GET", "/api/v1/devices/scratch/registers", NULL, "admin:secret");
	h_ok(reg_value(r.body, "setpoint", v, sizeof v) && strcmp(v, "750") == 0,
	     "the written value reads back (%s)", v);
	h_ok(http(&r, "POST", "/api/v1/devices/scratch/registers/30", "{\"raw\":1001}",
		  "admin:secret") == 422 &&
		 matches_openapi("/devices/{device}/registers/{register}", "post", &r) &&
		 strstr(r.body, "\"exception\":3,\"exception_name\":\"illegal data value\""),
	     "over the map's max by address: 422, exception 03 illegal data value");
	char path[128];
	snprintf(path, sizeof path, "%smode", W);
	h_ok(http(&r, "POST", path, "{\"value\":3}", "admin:secret") == 422 &&
		 strstr(r.body, "illegal data value"),
	     "a value outside the map's `values`: 422, illegal data value");
	snprintf(path, sizeof path, "%scmd_a", W);
	h_ok(http(&r, "POST", path, "{\"value\":1}", "admin:secret") == 422 &&
		 strstr(r.body, "\"exception\":2,\"exception_name\":\"illegal data address\""),
	     "one register of a command group: 422, exception 02");
	snprintf(path, sizeof path, "%senergy", W);
	h_ok(http(&r, "POST", path, "{\"raw\":1}", "admin:secret") == 422 &&
		 strstr(r.body, "illegal data address"),
	     "a read-only register: 422, exception 02");
	snprintf(path, sizeof path, "%sin_0", W);
	h_ok(http(&r, "POST", path, "{\"raw\":1}", "admin:secret") == 422 &&
		 strstr(r.body, "illegal data address"),
	     "an input register: 422, exception 02");
	h_ok(http(&r, "POST", "/api/v1/devices/locked/registers/setpoint", "{\"raw\":1}",
		  "admin:secret") == 422 &&
		 strstr(r.body, "\"exception\":1,\"exception_name\":\"illegal function\""),
	     "a read_only device: 422, exception 01");
	snprintf(path, sizeof path, "%soffset", W);
	h_ok(http(&r, "POST", path, "{\"value\":-100}", "admin:secret") == 200 &&
		 http(&r, "POST", path, "{\"value\":-101}", "admin:secret") == 422,
	     "a signed register: its min is taken, below it refused");
	snprintf(path, sizeof path, "%slabel", W);
	h_ok(http(&r, "POST", path, "{\"value\":\"hello\"}", "admin:secret") == 200,
	     "a string register takes text");
	snprintf(path, sizeof path, "%ssetpoint", W);
	h_ok(http(&r, "POST", path, "not json", "admin:secret") == 400 &&
		 matches_openapi("/devices/{device}/registers/{register}", "post", &r) &&
		 http(&r, "POST", path, "{\"value\":1.5}", "admin:secret") == 400 &&
		 http(&r, "POST", path, "{\"raw\":\"x\"}", "admin:secret") == 400,
	     "malformed bodies and a value off the scale: 400");
	snprintf(path, sizeof path, "%snosuch", W);
	h_ok(http(&r, "POST", path, "{\"raw\":1}", "admin:secret") == 404,
	     "an unknown register: 404");
	h_ok(http(&r, "GET", path, NULL, "admin:secret") == 404,
	     "GET of an unknown register: 404 (tests/e2e/test_rest_register.c reads one)");
}

/* Clients i0 .. i0+n-1 of one burst, each a curl process of its own on its
 * own connection, started without waiting: a write when body is given,
 * credentials when userpass is. */
static void burst_start(pid_t *pids, int i0, int n, const char *path, const char *body,
			const char *userpass, int max_time)
{
	char url[256], name[32];
	snprintf(url, sizeof url, "%s%s", base, path);
	for (int i = i0; i < i0 + n; i++) {
		snprintf(name, sizeof name, "burst%d.code", i);
		unlink(h_path(name));
		pids[i] = h_curl_spawn(
		    &(struct h_curl){
			.url = url, .userpass = userpass, .body = body, .max_time = max_time},
		    name);
	}
}

/* How many of clients i0 .. i0+n-1 got `want` (the others are noted). */
static int burst_count(pid_t *pids, int i0, int n, int want)
{
	char name[32], code[16];
	int got = 0;
	for (int i = i0; i < i0 + n; i++) {
		for (int t = 0; t < 250 && h_alive(pids[i]); t++)
			h_sleep_ms(100);
		h_stop(pids[i], 1000);
		snprintf(name, sizeof name, "burst%d.code", i);
		h_first_line(h_path(name), code, sizeof code);
		if (atoi(code) == want)
			got++;
		else
			h_note("client %d: %s, not %d", i, code, want);
	}
	return got;
}

/* Clients challenged for one URL at once each get a nonce of their own
 * (libmicrohttpd 0.9.75 gave them one, and refused all but the first: the
 * bridge used to hold the later challenges instead), and clients that never
 * answer their challenge must not queue the others up. This bridge has
 * max_per_ip = 0: 25 clients from one address are all let in. */
static void concurrent_clients(void)
{
	pid_t pids[32];

	burst_start(pids, 0, 8, "/api/v1/devices", NULL, "admin:secret", 20);
	h_ok(burst_count(pids, 0, 8, 200) == 8,
	     "8 clients at once on one URL: every one gets in (200)");
	burst_start(pids, 0, 4, "/api/v1/devices/scratch/registers/setpoint", "{\"value\":77}",
		    "admin:secret", 20);
	h_ok(burst_count(pids, 0, 4, 200) == 4,
	     "4 writes at once on one URL: every one gets in (200)");
	/* 24 clients without credentials (they never answer a challenge),
	 * then one with. */
	burst_start(pids, 0, 24, "/api/v1/maps/scratch", NULL, NULL, 40);
	h_sleep_ms(200);
	burst_start(pids, 24, 1, "/api/v1/maps/scratch", NULL, "admin:secret", 8);
	h_ok(burst_count(pids, 24, 1, 200) == 1,
	     "a client among 24 that never answer their challenge gets in (200 within 8 s)");
	h_ok(burst_count(pids, 0, 24, 401) == 24, "and they are all challenged (401)");
}

/* --------------------------- the door (docs/design.md, "Web interface security") -- */

#define SETPOINT "/api/v1/devices/scratch/registers/setpoint"

/* curl --digest -v: the last Authorization header it sent ("Authorization:
 * Digest ...") in hdr; the status it got. */
static int capture(const char *method, const char *path, const char *body, char *hdr, size_t n)
{
	static char out[32768];
	char url[256];

	snprintf(url, sizeof url, "%s%s", base, path);
	hdr[0] = '\0';
	h_curl(&(struct h_curl){.url = url,
				.method = method,
				.userpass = "admin:secret",
				.body = body,
				.write_out = "\ncode=%{http_code}\n",
				.verbose = 1},
	       out, sizeof out);
	for (char *a = strstr(out, "> Authorization: Digest "); a;
	     a = strstr(a + 1, "> Authorization: Digest ")) {
		size_t len = strcspn(a + 2, "\r\n");
		if (len < n) {
			memcpy(hdr, a + 2, len);
			hdr[len] = '\0';
		}
	}
	const char *c = strstr(out, "code=");
	return c ? atoi(c + 5) : -1;
}

/* The WWW-Authenticate line of a reply, its nonce's value blanked, in out. */
static void challenge_of(const struct reply *r, char *out, size_t n, char *nonce, size_t nn)
{
	const char *w = strstr(r->headers, "WWW-Authenticate:");
	out[0] = '\0';
	if (nonce)
		nonce[0] = '\0';
	if (!w)
		return;
	size_t len = strcspn(w, "\r\n");
	snprintf(out, n, "%.*s", (int)len, w);
	char *p = strstr(out, "nonce=\"");
	if (!p)
		return;
	p += 7;
	char *q = strchr(p, '"');
	if (!q)
		return;
	if (nonce)
		snprintf(nonce, nn, "%.*s", (int)(q - p), p);
	memmove(p, q, strlen(q) + 1);
}

static void setpoint(char *v, size_t n)
{
	struct reply r;
	v[0] = '\0';
	http(&r, "GET", "/api/v1/devices/scratch/registers", NULL, "admin:secret");
	reg_value(r.body, "setpoint", v, n);
}

/* A captured Authorization header is good for its one request: not again
 * with another body (qop=auth does not cover the body), not after a fresh
 * challenge for the URL (libmicrohttpd 0.9.75 reset the nonce's count at
 * each, and gave the same nonce for a URL within a second). */
static void digest_replay(void)
{
	struct reply r;
	char hdr[2048], v[64], n1[128], n2[128], ch[1024];

	int c0 = capture("POST", SETPOINT, "{\"value\":5}", hdr, sizeof hdr);
	h_ok(c0 == 200 && hdr[0], "a user writes setpoint 5: 200, its Authorization captured");
	const char *rh[] = {hdr, NULL};
	int c1 = http_h(&r, "POST", SETPOINT, "{\"value\":5}", NULL, rh);
	int c2 = http(&r, "POST", SETPOINT, "{\"value\":6}", NULL);
	int c3 = http_h(&r, "POST", SETPOINT, "{\"value\":999}", NULL, rh);
	setpoint(v, sizeof v);
	h_ok(c1 == 401 && c2 == 401 && c3 == 401 && strcmp(v, "5") == 0,
	     "the captured write replayed, then after a fresh challenge with body 999: 401 "
	     "each, the setpoint stays 5 (%d %d %d, setpoint %s)",
	     c1, c2, c3, v);
	h_ok(strstr(r.headers, "stale=true") != NULL,
	     "the replay's answer was right but its count used: stale=true");

	c0 = capture("GET", "/api/v1/devices", NULL, hdr, sizeof hdr);
	c1 = http(&r, "GET", "/api/v1/devices", NULL, NULL);
	challenge_of(&r, ch, sizeof ch, n1, sizeof n1);
	c2 = http_h(&r, "GET", "/api/v1/devices", NULL, NULL, rh);
	h_ok(c0 == 200 && c1 == 401 && c2 == 401 && !strstr(r.body, "scratch"),
	     "a captured read replayed after a fresh challenge for its URL: 401 (%d %d %d)", c0, c1,
	     c2);
	challenge_of(&r, ch, sizeof ch, n2, sizeof n2);
	h_ok(n1[0] && n2[0] && strcmp(n1, n2) != 0,
	     "two challenges for one URL within a second: two nonces (%s %s)", n1, n2);
	h_ok(strstr(hdr, n1) == NULL, "and neither is the captured one");
}

/* A made-up nonce gets the same answer for a configured user and an unknown
 * one (libmicrohttpd 0.9.75 said stale only to a configured user). */
static void same_answer_for_every_user(void)
{
	struct reply r;
	char hdr[512], ch1[1024], ch2[1024];
	const char *users[] = {"admin", "eve"};
	int codes[2];

	for (int i = 0; i < 2; i++) {
		snprintf(hdr, sizeof hdr,
			 "Authorization: Digest username=\"%s\", realm=\"modbridge\", "
			 "nonce=\"0001aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", uri=\"/api/v1/status\", "
			 "response=\"0123456789abcdef0123456789abcdef\", qop=auth, nc=00000001, "
			 "cnonce=\"abc\", algorithm=MD5",
			 users[i]);
		const char *rh[] = {hdr, NULL};
		codes[i] = http_h(&r, "GET", "/api/v1/status", NULL, NULL, rh);
		challenge_of(&r, i ? ch2 : ch1, sizeof ch1, NULL, 0);
	}
	h_ok(codes[0] == 401 && codes[1] == 401 && ch1[0] && strcmp(ch1, ch2) == 0 &&
		 !strstr(ch1, "stale"),
	     "a made-up nonce: the same 401 for a configured user and an unknown one (%s | %s)",
	     ch1, ch2);
	h_ok(strstr(ch1, "algorithm=MD5") && strstr(ch1, "qop=\"auth\"") &&
		 strstr(ch1, "realm=\"modbridge\""),
	     "the challenge names algorithm=MD5 as RFC 7616 writes it (%s)", ch1);
}

/* Python's standard library as the Digest client (it refused the lower-case
 * algorithm=md5 of libmicrohttpd 0.9.75). Prints the status. */
static int python(const char *method, const char *path, const char *body, const char *pw)
{
	static const char script[] =
	    "import sys, urllib.request as u, urllib.error as e\n"
	    "url, pw, meth, body = sys.argv[1:5]\n"
	    "m = u.HTTPPasswordMgrWithDefaultRealm()\n"
	    "m.add_password(None, url, 'admin', pw)\n"
	    "o = u.build_opener(u.HTTPDigestAuthHandler(m))\n"
	    "h = {'Content-Type': 'application/json'} if body else {}\n"
	    "r = u.Request(url, data=body.encode() if body else None, method=meth, headers=h)\n"
	    "try:\n"
	    "    print(o.open(r, timeout=10).status)\n"
	    "except e.HTTPError as x:\n"
	    "    print(x.code)\n"
	    "except Exception as x:\n"
	    "    print('error', x)\n";
	char url[256], out[4096];
	snprintf(url, sizeof url, "%s%s", base, path);
	const char *argv[] = {"python3", "-c", script, url, pw, method, body ? body : "", NULL};
	h_run(argv, out, sizeof out, 20000);
	if (atoi(out) == 0)
		h_note("python: %s", out);
	return atoi(out);
}

static void stdlib_clients(void)
{
	char v[64];
	int g = python("GET", "/api/v1/devices", NULL, "secret");
	int w = python("POST", SETPOINT, "{\"value\":42}", "secret");
	setpoint(v, sizeof v);
	int bad = python("GET", "/api/v1/devices", NULL, "wrong");
	h_ok(g == 200 && w == 200 && strcmp(v, "42") == 0 && bad == 401,
	     "Python's urllib logs in: a read 200, a write 200 (setpoint %s), a wrong password "
	     "401 (%d %d %d)",
	     v, g, w, bad);
}

/* Writes only from the page's own origin, only as application/json. */
static void writes_from_other_origins(void)
{
	struct reply r;
	char v[64], own[128], ownref[160];
	snprintf(own, sizeof own, "Origin: %s", base);
	snprintf(ownref, sizeof ownref, "Referer: %s/", base);

	http(&r, "POST", SETPOINT, "{\"value\":10}", "admin:secret");
	const char *foreign[][3] = {
	    {"Origin: http://evil.example", NULL},
	    {"Origin: null", NULL},
	    {"Origin: https://127.0.0.1", NULL},
	    {"Referer: http://evil.example/page.html", NULL},
	    {"Origin: http://evil.example", ownref, NULL},
	};
	int all = 1;
	for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
		int c = http_h(&r, "POST", SETPOINT, "{\"value\":777}", "admin:secret", foreign[i]);
		if (c != 403 || !strstr(r.body, "\"error\"")) {
			h_note("%s: %d %s", foreign[i][0], c, r.body);
			all = 0;
		}
	}
	setpoint(v, sizeof v);
	h_ok(all && strcmp(v, "10") == 0,
	     "a write with a foreign Origin or Referer: 403, nothing written (setpoint %s)", v);
	const char *types[][2] = {{"Content-Type:", NULL},
				  {"Content-Type: text/plain", NULL},
				  {"Content-Type: application/x-www-form-urlencoded", NULL},
				  {"Content-Type: multipart/form-data; boundary=x", NULL},
				  {"Content-Type: application/jsonp", NULL}};
	all = 1;
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		int c = http_h(&r, "POST", SETPOINT, "{\"value\":777}", "admin:secret", types[i]);
		if (c != 415) {
			h_note("%s: %d %s", types[i][0], c, r.body);
			all = 0;
		}
	}
	setpoint(v, sizeof v);
	h_ok(all && strcmp(v, "10") == 0,
	     "a write without Content-Type: application/json: 415, nothing written (setpoint %s)",
	     v);
	const char *ok1[] = {own, NULL};
	const char *ok2[] = {ownref, "Content-Type: application/json; charset=utf-8", NULL};
	int c1 = http_h(&r, "POST", SETPOINT, "{\"value\":11}", "admin:secret", ok1);
	int c2 = http_h(&r, "POST", SETPOINT, "{\"value\":12}", "admin:secret", ok2);
	setpoint(v, sizeof v);
	h_ok(c1 == 200 && c2 == 200 && strcmp(v, "12") == 0,
	     "a write from the page's own origin (Origin, or Referer with a charset) is taken "
	     "(%d %d, setpoint %s)",
	     c1, c2, v);
}

/* Lines of the simulator's log that are writes of register 281. */
static int sim_writes(void)
{
	return h_count_lines(h_path("sim1.log"), "addr=281");
}

static void writes_wait_for_the_device(void)
{
	struct reply r;
	const char *path = "/api/v1/devices/garage/registers/operating_mode";
	int st;

	/* Refused by the map: never reaches the device. */
	int before = sim_writes();
	h_ok(http(&r, "POST", path, "{\"value\":9}", "admin:secret") == 422 &&
		 strstr(r.body, "illegal data value") && sim_writes() == before,
	     "PowerGo: a value outside the map is refused (422) and never sent");

	/* The simulator answers 1 s late: the HTTP answer must come after. */
	h_ok(h_sim_tell(broker_port, "sim/powergo/" DEV1 "/delay", "1000", h_path("sim1.log"),
			"delay 1000", 5000),
	     "simulator: answers delayed by 1 s");
	char url[128];
	snprintf(url, sizeof url, "%s%s", base, path);
	const char *out = h_path("late.out");
	pid_t curl = h_curl_spawn(
	    &(struct h_curl){
		.url = url, .userpass = "admin:secret", .body = "{\"value\":2}", .out = out},
	    "late.code");
	int sent = h_wait_lines(h_path("sim1.log"), "addr=281", before + 1, 5000);
	int waiting = sent && h_alive(curl) && access(out, F_OK) != 0;
	h_ok(waiting, "the write reached the device and its HTTP answer is still outstanding");
	for (int i = 0; i < 100 && h_alive(curl); i++)
		h_sleep_ms(100);
	h_stop(curl, 1000);
	char code[16] = "", body[512] = "";
	h_first_line(h_path("late.code"), code, sizeof code);
	h_first_line(out, body, sizeof body);
	h_ok(strcmp(code, "200") == 0 && strstr(body, "\"acknowledged\":true"),
	     "then 200, acknowledged (%s %s)", code, body);
	h_sim_tell(broker_port, "sim/powergo/" DEV1 "/delay", "0", h_path("sim1.log"), "delay 0",
		   5000);

	/* Never answered: 504, the outcome unknown. */
	h_sim_tell(broker_port, "sim/powergo/" DEV1 "/mode", "silent", h_path("sim1.log"),
		   "mode silent", 5000);
	st = http(&r, "POST", path, "{\"value\":1}", "admin:secret");
	h_ok(st == 504 && matches_openapi("/devices/{device}/registers/{register}", "post", &r) &&
		 strstr(r.body, "\"exception\":11"),
	     "a device that never answers: 504, exception 0B (%d %s)", st, r.body);
	/* Its link (the broker) is up; the device is not answering. */
	st = http(&r, "GET", "/api/v1/devices/garage", NULL, "admin:secret");
	h_ok(st == 200 && matches_openapi("/devices/{device}", "get", &r) &&
		 strstr(r.body, "\"link_up\":true") &&
		 strstr(r.body, "\"health\":\"not_answering\",\"last_answer\":1") &&
		 strstr(r.body, "\"not_answering_since\":1"),
	     "the device document: link up, health not_answering since a time (%s)", r.body);
	/* Refused by the device: its own exception, named. */
	h_sim_tell(broker_port, "sim/powergo/" DEV1 "/mode", "exception", h_path("sim1.log"),
		   "mode exception", 5000);
	st = http(&r, "POST", path, "{\"value\":1}", "admin:secret");
	h_ok(st == 502 && matches_openapi("/devices/{device}/registers/{register}", "post", &r) &&
		 strstr(r.body, "\"exception\":6,\"exception_name\":\"device-specific exception\""),
	     "a device that refuses: 502 with its exception (%d %s)", st, r.body);
	st = http(&r, "GET", "/api/v1/devices/garage", NULL, "admin:secret");
	h_ok(st == 200 && strstr(r.body, "\"health\":\"answering\"") &&
		 strstr(r.body, "\"not_answering_since\":null"),
	     "an exception is an answer: health answering again (%s)", r.body);
	h_sim_tell(broker_port, "sim/powergo/" DEV1 "/mode", "normal", h_path("sim1.log"),
		   "mode normal", 5000);
	http(&r, "GET", "/api/v1/devices/garage", NULL, "admin:secret");
	json_object *d = json_tokener_parse(r.body), *exc = jget(d, "exceptions");
	h_ok(json_object_get_int(jget(exc, "0B")) >= 1 &&
		 json_object_get_int(jget(exc, "other")) >= 1 &&
		 json_object_get_int(jget(jget(d, "last_exception"), "code")) == 6,
	     "the device's health counts both failures and names the last (%s)", r.body);
	json_object_put(d);
}

/* SIGHUP with the http group's port changed: the listener moves, the old
 * port stops answering; one with the group unchanged keeps it. */
static void reload_moves_listener(int mport)
{
	struct reply r;
	char block[512];
	int p1 = h_free_port(), p2 = h_free_port();

	snprintf(block, sizeof block,
		 "http = { listen = \"127.0.0.1\"; port = %d;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1 "\"; } ); };",
		 p1);
	const char *conf = h_write_file("reload.conf", config(mport, block));
	pid_t bridge = h_bridge_start(conf, mport, "reload.log");
	snprintf(base, sizeof base, "http://127.0.0.1:%d", p1);
	/* The Modbus listener opens a moment before the HTTP one (under
	 * valgrind, long enough for a request to be refused): wait for it. */
	int first = bridge > 0 && h_wait_port(p1, 10000) == 0
			? http(&r, "GET", "/api/v1/status", NULL, "admin:secret")
			: -1;
	if (!h_ok(first == 200, "reload: served on the first port (%d)", first))
		h_note_tail(h_path("reload.log"), 20);
	snprintf(block, sizeof block,
		 "http = { listen = \"127.0.0.1\"; port = %d;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1 "\"; } ); };",
		 p2);
	h_write_file("reload.conf", config(mport, block));
	h_signal(bridge, SIGHUP);
	int moved = h_wait_lines(h_path("reload.log"), "http: listening", 2, 5000) &&
		    h_wait_port(p2, 5000) == 0;
	snprintf(base, sizeof base, "http://127.0.0.1:%d", p2);
	int on_new = http(&r, "GET", "/api/v1/status", NULL, "admin:secret") == 200;
	snprintf(base, sizeof base, "http://127.0.0.1:%d", p1);
	int on_old = http(&r, "GET", "/api/v1/status", NULL, "admin:secret");
	h_ok(moved && on_new && on_old == 0,
	     "SIGHUP with a new http.port: served on the new port, the old one refuses (%d)",
	     on_old);
	modbus_t *m = h_modbus(mport, 10);
	uint16_t v;
	h_ok(m && modbus_read_registers(m, 30, 1, &v) == 1, "Modbus served across the reload");
	if (m) {
		modbus_close(m);
		modbus_free(m);
	}
	/* The same group again: the listener is kept (no new "listening"). */
	h_signal(bridge, SIGHUP);
	h_wait_lines(h_path("reload.log"), "reloading", 2, 5000);
	h_sleep_ms(300);
	h_ok(h_count_lines(h_path("reload.log"), "http: listening") == 2 &&
		 h_wait_port(p2, 1000) == 0,
	     "SIGHUP with the http group unchanged keeps the listener");
	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");
}

/* With reads open, a DNS-rebinding page (a name of the attacker's that
 * resolves to this machine) must read nothing: only the machine's names
 * and addresses and http.hosts are answered. */
static void host_names(void)
{
	struct reply r;
	char hn[256] = "", h[5][300];
	const char *bad[] = {"Host: evil.example", "Host: evil.example:%d",
			     "Host: 127.0.0.1.evil.example:%d", "Host: 192.0.2.1:%d",
			     "Host: localhost:%d@evil.example"};
	int all = 1;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(h[0], sizeof h[0], bad[i], http_port);
		const char *hd[] = {h[0], NULL};
		int c = http_h(&r, "GET", "/api/v1/devices/scratch/registers", NULL, NULL, hd);
		if (c != 421 || strstr(r.body, "setpoint")) {
			h_note("%s: %d %.100s", h[0], c, r.body);
			all = 0;
		}
	}
	h_ok(all, "reads open, a host name not ours (DNS rebinding): 421, no values");
	gethostname(hn, sizeof hn - 1);
	snprintf(h[0], sizeof h[0], "Host: localhost:%d", http_port);
	snprintf(h[1], sizeof h[1], "Host: [::1]:%d", http_port);
	snprintf(h[2], sizeof h[2], "Host: %s:%d", hn, http_port);
	snprintf(h[3], sizeof h[3], "Host: MODBRIDGE.test.:%d", http_port);
	snprintf(h[4], sizeof h[4], "Host: 127.0.0.1");
	all = 1;
	for (size_t i = 0; i < 5; i++) {
		const char *hd[] = {h[i], NULL};
		int c = http_h(&r, "GET", "/api/v1/devices/scratch/registers", NULL, NULL, hd);
		if (c != 200) {
			h_note("%s: %d %.100s", h[i], c, r.body);
			all = 0;
		}
	}
	h_ok(all, "localhost, ::1, the host name (%s), http.hosts and the address are answered",
	     hn);
	snprintf(h[0], sizeof h[0], "Host: evil.example:%d", http_port);
	const char *hd[] = {h[0], NULL};
	char v[64];
	int c = http_h(&r, "POST", SETPOINT, "{\"value\":321}", "admin:secret", hd);
	http(&r, "GET", "/api/v1/devices/scratch/registers", NULL, NULL);
	reg_value(r.body, "setpoint", v, sizeof v);
	h_ok(c == 421 && strcmp(v, "321") != 0, "a write to a foreign host name: 421 (%d)", c);
}

static void config_errors(void)
{
	char out[4096];
	int mport = h_free_port();
	const char *c = h_write_file(
	    "pw.conf",
	    config(mport, "http = { users = ( { name = \"a\"; password = \"x\"; } ); };"));
	h_ok(h_run_bridge("--check", c, out, sizeof out) != 0 && strstr(out, "pw.conf:10:") &&
		 strstr(out, "passwords are not stored"),
	     "a plain password is refused with file:line");
	c = h_write_file("ha1.conf",
			 config(mport, "http = { algorithm = \"SHA-256\";\n"
				       "  users = ( { name = \"a\"; ha1 = \"" HA1 "\"; } ); };"));
	h_ok(h_run_bridge("--check", c, out, sizeof out) != 0 && strstr(out, "ha1.conf:11:") &&
		 strstr(out, "64 hex digits"),
	     "an MD5 HA1 with algorithm SHA-256 is refused with file:line");
	c = h_write_file("hosts.conf",
			 config(mport, "http = { hosts = [ \"http://x/\" ];\n"
				       "  users = ( { name = \"a\"; ha1 = \"" HA1 "\"; } ); };"));
	h_ok(h_run_bridge("--check", c, out, sizeof out) != 0 && strstr(out, "hosts.conf:10:") &&
		 strstr(out, "http.hosts[0] must be a host name"),
	     "a URL in http.hosts is refused with file:line (%.200s)", out);
	c = h_write_file("perip.conf",
			 config(mport, "http = { max_per_ip = -1;\n"
				       "  users = ( { name = \"a\"; ha1 = \"" HA1 "\"; } ); };"));
	h_ok(h_run_bridge("--check", c, out, sizeof out) != 0 && strstr(out, "perip.conf:10:"),
	     "a negative http.max_per_ip is refused with file:line");
	c = h_write_file("nouser.conf", config(mport, "http = { port = 1; };"));
	h_ok(h_run_bridge("--check", c, out, sizeof out) != 0 && strstr(out, "nouser.conf:10:"),
	     "an http group nobody could use is refused");
}

int main(void)
{
	h_init("http");
	struct reply r;
	int mport = h_free_port();
	http_port = h_free_port();
	snprintf(base, sizeof base, "http://127.0.0.1:%d", http_port);
	openapi = json_object_from_file(h_repo_file("bridge/web/openapi.json"));
	h_ok(openapi != NULL, "bridge/web/openapi.json parses");

	pid_t broker = h_broker_start(&broker_port);
	const char *extra[] = {"--app-id", APP, NULL};
	pid_t sim = h_sim_powergo(broker_port, DEV1, "sim1.log", extra);

	char block[512];
	second_port = h_free_port();
	while (second_port == mport || second_port == http_port)
		second_port = h_free_port();
	snprintf(block, sizeof block,
		 "listeners = ( { name = \"second\"; listen = \"127.0.0.1\"; port = %d; } );\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; max_per_ip = 0;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1 "\"; } ); };",
		 second_port, http_port);
	const char *conf = h_write_file("bridge.conf", config(mport, block));
	pid_t bridge = h_bridge_start(conf, mport, "bridge.log");
	h_ok(bridge > 0 && h_wait_port(http_port, 5000) == 0, "the bridge listens for HTTP");

	auth();
	listener_counters();
	concurrent_clients();
	documents();
	routes();
	writes_follow_the_map();
	digest_replay();
	same_answer_for_every_user();
	stdlib_clients();
	writes_from_other_origins();
	writes_wait_for_the_device();
	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");

	/* read_only_without_auth: reads open, writes still need a user
	 * (here with SHA-256), and only names of ours are answered. */
	snprintf(block, sizeof block,
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true;\n"
		 "  algorithm = \"SHA-256\"; hosts = [ \"Modbridge.Test\" ];\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1_256 "\"; } ); };",
		 http_port);
	conf = h_write_file("ro.conf", config(mport, block));
	bridge = h_bridge_start(conf, mport, "ro.log");
	h_wait_port(http_port, 5000);
	h_ok(http(&r, "GET", "/api/v1/devices", NULL, NULL) == 200,
	     "read_only_without_auth: a read needs no credentials");
	h_ok(http(&r, "POST", "/api/v1/devices/scratch/registers/setpoint", "{\"value\":1}",
		  NULL) == 401 &&
		 strstr(r.headers, "WWW-Authenticate: Digest"),
	     "read_only_without_auth: a write still needs them (401)");
	char ch[1024];
	challenge_of(&r, ch, sizeof ch, NULL, 0);
	int w = http(&r, "POST", SETPOINT, "{\"value\":3}", "admin:secret");
	h_ok(strstr(ch, "algorithm=SHA-256") && w == 200,
	     "algorithm SHA-256: the challenge says so, curl --digest writes (%d, %s)", w, ch);
	host_names();
	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");

	/* No http group: nothing listens. */
	conf = h_write_file("none.conf", config(mport, ""));
	bridge = h_bridge_start(conf, mport, "none.log");
	h_ok(http(&r, "GET", "/api/v1/status", NULL, NULL) == 0 &&
		 !h_file_contains(h_path("none.log"), "http: listening"),
	     "without an http group nothing listens on the HTTP port");
	h_bridge_stop(bridge);

	reload_moves_listener(mport);
	config_errors();
	h_stop(sim, 3000);
	h_stop(broker, 3000);
	json_object_put(openapi);
	return h_done();
}

/* One register over REST, and why a write is refused (docs/api.md): the real
 * bridge with an `http` group (reads without credentials, writes with
 * Digest) and two memory devices of the scratch map (maps/scratch.conf), one
 * of them read_only; curl is the client.
 *
 * GET /api/v1/devices/{d}/registers/{name} answers the very object the
 * register has in the list (GET .../registers), by name and by address, for
 * numbers, a string, a scaled counter and a write-only register; an unknown
 * register or device is 404; the OpenAPI document describes the GET.
 *
 * A refused write says which rule refused it and what the register takes:
 * "read-only" for a read-only holding register and an input register (not
 * only "exception 02"), the map's min..max (raw and scaled) for a value out
 * of range, the list for a value not in `values`, the command group for one
 * register of it, the config's read_only for a read_only device. The
 * exception code a Modbus client gets stays in the document. */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* HA1 = MD5("admin:modbridge:secret") */
#define HA1 "74b5ba04a8aa06dd55aa3fc4e8c0307e"

static char base[64];

struct reply {
	int status;
	char body[65536];
};

/* curl METHOD path [body]; writes with admin:secret. */
static int http(struct reply *r, const char *method, const char *path, const char *body)
{
	char url[256], out[64];
	const char *bodyf = h_path("body.out");

	snprintf(url, sizeof url, "%s%s", base, path);
	h_curl(&(struct h_curl){.url = url,
				.method = method,
				.userpass = body ? "admin:secret" : NULL,
				.body = body,
				.out = bodyf},
	       out, sizeof out);
	r->status = atoi(out);
	h_read_file(bodyf, r->body, sizeof r->body);
	return r->status;
}

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* The element of the registers list named name (a new reference), or NULL. */
static json_object *list_element(const char *device, const char *name)
{
	struct reply r;
	char path[128];
	json_object *found = NULL;

	snprintf(path, sizeof path, "/api/v1/devices/%s/registers", device);
	if (http(&r, "GET", path, NULL) != 200)
		return NULL;
	json_object *d = json_tokener_parse(r.body), *regs = jget(d, "registers");
	for (size_t i = 0; regs && i < json_object_array_length(regs); i++) {
		json_object *e = json_object_array_get_idx(regs, i);
		if (strcmp(json_object_get_string(jget(e, "name")), name) == 0)
			found = json_object_get(e);
	}
	json_object_put(d);
	return found;
}

/* GET of one register (by id: name or address) is the list's element name. */
static void same_as_list(const char *device, const char *id, const char *name)
{
	struct reply r;
	char path[128];

	snprintf(path, sizeof path, "/api/v1/devices/%s/registers/%s", device, id);
	int st = http(&r, "GET", path, NULL);
	json_object *one = json_tokener_parse(r.body), *el = list_element(device, name);
	/* A memory device's values are as of the request (its cache is the
	 * device): "time" is when each document was written, the rest equal. */
	if (one && el) {
		json_object_object_del(one, "time");
		json_object_object_del(el, "time");
	}
	h_ok(st == 200 && one && el && json_object_equal(one, el),
	     "GET %s: 200, the list's element for %s (%.200s)", path, name, r.body);
	json_object_put(one);
	json_object_put(el);
}

/* A refused write: status, rule, and each needle in the body. */
static void refused(const char *device, const char *reg, const char *body, int status,
		    const char *rule, const char *const needles[], const char *what)
{
	struct reply r;
	char path[128];
	int ok;

	snprintf(path, sizeof path, "/api/v1/devices/%s/registers/%s", device, reg);
	ok = http(&r, "POST", path, body) == status;
	json_object *d = json_tokener_parse(r.body);
	const char *got = json_object_get_string(jget(d, "rule"));
	ok = ok && got && strcmp(got, rule) == 0 && jget(d, "exception");
	for (size_t i = 0; needles && needles[i]; i++)
		ok = ok && strstr(r.body, needles[i]) != NULL;
	h_ok(ok, "%s: %d, rule \"%s\" (%s)", what, status, rule, r.body);
	json_object_put(d);
}

static void openapi_has_get(void)
{
	json_object *o = json_object_from_file(h_repo_file("bridge/web/openapi.json"));
	json_object *get =
	    jget(jget(jget(o, "paths"), "/devices/{device}/registers/{register}"), "get");
	json_object *ref = jget(
	    jget(jget(jget(jget(jget(get, "responses"), "200"), "content"), "application/json"),
		 "schema"),
	    "$ref");
	h_ok(ref && strcmp(json_object_get_string(ref), "#/components/schemas/Value") == 0,
	     "openapi.json: GET /devices/{device}/registers/{register} answers a Value");
	json_object_put(o);
}

int main(void)
{
	h_init("rest_register");
	struct reply r;
	int mport = h_free_port(), hport = h_free_port();
	char conf[2048];

	snprintf(base, sizeof base, "http://127.0.0.1:%d", hport);
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = (\n"
		 "  { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = { }; },\n"
		 "  { name = \"locked\"; unit_id = 11; map = \"scratch\"; read_only = true;"
		 " memory = { }; },\n"
		 "  { name = \"away\"; unit_id = 12; map = \"powergo\";\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; }; }\n"
		 ");\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"" HA1 "\"; } ); };\n",
		 mport, h_maps_dir(), h_free_port(), hport);
	pid_t bridge = h_bridge_start(h_write_file("bridge.conf", conf), mport, "bridge.log");
	if (!h_ok(bridge > 0 && h_wait_port(hport, 5000) == 0, "the bridge listens for HTTP"))
		return h_done();

	openapi_has_get();
	same_as_list("scratch", "setpoint", "setpoint");
	same_as_list("scratch", "30", "setpoint");
	same_as_list("scratch", "energy", "energy");
	same_as_list("scratch", "label", "label");
	same_as_list("scratch", "in_u32", "in_u32");
	same_as_list("scratch", "trigger", "trigger");
	h_ok(http(&r, "POST", "/api/v1/devices/scratch/registers/setpoint", "{\"value\":750}") ==
		 200,
	     "a write of setpoint");
	same_as_list("scratch", "setpoint", "setpoint");
	h_ok(strstr(r.body, "750") != NULL, "the write answered 750 (%s)", r.body);
	h_ok(http(&r, "GET", "/api/v1/devices/scratch/registers/nosuch", NULL) == 404 &&
		 strstr(r.body, "no such register"),
	     "an unknown register: 404 (%s)", r.body);
	h_ok(http(&r, "GET", "/api/v1/devices/scratch/registers/19", NULL) == 404,
	     "an address no register starts at: 404");
	h_ok(http(&r, "GET", "/api/v1/devices/nosuch/registers/setpoint", NULL) == 404,
	     "an unknown device: 404");
	h_ok(http(&r, "DELETE", "/api/v1/devices/scratch/registers/setpoint", NULL) == 405,
	     "another method: 405");

	refused("scratch", "energy", "{\"raw\":1}", 422, "read-only",
		(const char *const[]){"scratch.energy is read-only", "\"exception\":2", NULL},
		"a read-only holding register");
	refused("scratch", "in_0", "{\"raw\":1}", 422, "read-only",
		(const char *const[]){"scratch.in_0 is read-only", "input", NULL},
		"an input register");
	refused("scratch", "setpoint", "{\"raw\":1001}", 422, "range",
		(const char *const[]){"it takes 0..1000 W", "\"raw_min\":0", "\"raw_max\":1000",
				      "\"exception\":3", NULL},
		"over the map's max");
	refused("scratch", "offset", "{\"value\":-101}", 422, "range",
		(const char *const[]){"\"raw_min\":-100", "\"raw_max\":100", "\"min\":-100",
				      "\"max\":100", NULL},
		"below a signed register's min");
	refused("scratch", "s16", "{\"raw\":40000}", 422, "range",
		(const char *const[]){"\"raw_min\":-32768", "\"raw_max\":32767", NULL},
		"outside the type (no map limits): the type's range");
	refused("scratch", "mode", "{\"value\":3}", 422, "values",
		(const char *const[]){"\"raw\":[0,1,2]", "it takes one of 0, 1, 2", NULL},
		"a value not in the map's list");
	refused("scratch", "cmd_a", "{\"value\":1}", 422, "command",
		(const char *const[]){"\\\"triple\\\"", "40..42", "\"exception\":2", NULL},
		"one register of a command group");
	refused("scratch", "label", "{\"value\":\"seventeen letters\"}", 422, "length",
		(const char *const[]){"at most 16 bytes", NULL}, "text longer than the register");
	refused("locked", "setpoint", "{\"raw\":1}", 422, "device read_only",
		(const char *const[]){"read_only = true", "\"exception\":1", NULL},
		"a read_only device");

	/* A device whose link is down (no broker on its port): the map's
	 * rules still answer at once; a value they take gets the link's 0A
	 * as 503, not a rule. */
	refused("away", "charging_power", "{\"raw\":70000}", 422, "range",
		(const char *const[]){"away.charging_power does not take raw 70000", NULL},
		"a link that is down: the map's range still refuses first");
	h_ok(http(&r, "POST", "/api/v1/devices/away/registers/charging_power", "{\"raw\":100}") ==
		     503 &&
		 strstr(r.body, "\"exception\":10") && !strstr(r.body, "\"rule\""),
	     "a link that is down: 503, exception 0A, no rule (%s)", r.body);

	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");
	return h_done();
}

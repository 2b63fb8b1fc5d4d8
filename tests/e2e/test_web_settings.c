/* Exporter settings on the web page (docs/design.md,
 * "Exporter settings from the web page"): GET and POST /api/v1/settings against the real bridge,
 * with a real InfluxDB 1.x (Debian's influxd on free loopback ports, as tests/e2e/test_export.c
 * starts it) and the real page in headless chromium:
 * - GET shows the groups key by key and never a password or token, only
 *   whether one is set;
 * - a group saved through REST lands in web_settings.file (the secret left
 *   empty is kept) and, after the reload, the exporter writes to the real
 *   InfluxDB it names;
 * - a refused value answers 422 with the loader's "file:line: ..." and
 *   leaves the file byte for byte as it was, and the running exporter;
 * - writes without a Digest user, from another origin, or not JSON are
 *   refused before anything is written;
 * - hostile strings (quotes, backslashes, newlines, $(...), backticks,
 *   globs, spaces)
 *   come back from GET as they were sent, and a huge value is refused;
 * - a config generated from UCI (web_settings.managed_by) is read-only;
 * - in the browser: the form is shown filled in, a bad value shows the
 *   message under the form, and saving from the page reaches InfluxDB
 *   (tests/lib/cdp.c presses the button). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdp.h"
#include "harness.h"

#define WAIT_MS 20000

static int hport, influx_http, influx_rpc;
static char out[1 << 17];
static char settings_path[512];

/* curl (h_curl) with the given method/body/headers; the body in out, the
 * status returned (-1: curl failed). auth 0: no credentials. */
static int http(const char *method, const char *path, const char *body, int auth,
		const char *origin, const char *type)
{
	char url[256], orig[300], ctype[200], code[64];
	const char *headers[3] = {NULL, NULL, NULL};
	int nh = 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", hport, path);
	if (origin) {
		snprintf(orig, sizeof orig, "Origin: %s", origin);
		headers[nh++] = orig;
	}
	if (body) {
		snprintf(ctype, sizeof ctype, "Content-Type: %s", type ? type : "application/json");
		headers[nh++] = ctype;
	}
	struct h_curl c = {.url = url,
			   .method = method,
			   .userpass = auth ? "admin:secret" : NULL,
			   .body = body,
			   .headers = headers,
			   .out = h_path("http.body")};
	if (h_curl(&c, code, sizeof code) != 0)
		return -1;
	h_read_file(c.out, out, sizeof out);
	return atoi(code);
}

static int get_settings(void)
{
	return http("GET", "/api/v1/settings", NULL, 1, NULL, NULL);
}

static int post_settings(const char *body)
{
	char origin[64];
	snprintf(origin, sizeof origin, "http://127.0.0.1:%d", hport);
	return http("POST", "/api/v1/settings", body, 1, origin, NULL);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	*len = 0;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (n >= 0 && (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* The settings file is byte for byte what it was (before, blen). */
static int file_same(const char *before, size_t blen)
{
	size_t n;
	char *now = slurp(settings_path, &n);
	int same = now && n == blen && memcmp(now, before, n) == 0;
	free(now);
	return same;
}

/* An InfluxQL query to the real influxd; the answer in out. */
static int influx_query(const char *db, const char *q)
{
	char url[200], form[600];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/query%s%s", influx_http, db ? "?db=" : "",
		 db ? db : "");
	snprintf(form, sizeof form, "q=%s", q);
	const char *extra[] = {"--data-urlencode", form, NULL};
	char code[64];
	struct h_curl c = {.url = url, .extra = extra, .out = h_path("query.body"), .max_time = 10};
	if (h_curl(&c, code, sizeof code) != 0)
		return -1;
	h_read_file(c.out, out, sizeof out);
	return atoi(code);
}

/* Query until the answer holds want (bounded). */
static int influx_wait(const char *q, const char *want)
{
	uint64_t end = h_now_ms() + WAIT_MS;
	while (h_now_ms() < end) {
		if (influx_query("energy", q) == 200 && strstr(out, want))
			return 1;
		h_sleep_ms(200);
	}
	return 0;
}

/* GET until the settings document holds want (the reload after a save
 * runs on the daemon's loop once the answer went out). */
static int settings_wait(const char *want)
{
	uint64_t end = h_now_ms() + WAIT_MS;
	while (h_now_ms() < end) {
		if (get_settings() == 200 && strstr(out, want))
			return 1;
		h_sleep_ms(100);
	}
	return 0;
}

static void rest(void)
{
	char body[2048];
	size_t blen;
	char *before;

	/* GET: the group of the file, its secret hidden. */
	h_ok(get_settings() == 200 && strstr(out, "\"writable\":true") &&
		 strstr(out, "\"influxdb\":{\"enabled\":true,\"url\":\"http://127.0.0.1:9\"") &&
		 strstr(out, "\"password_set\":true") && !strstr(out, "0ld-s3cret") &&
		 strstr(out, "\"influxdb\":{\"source\":\"file\",\"line\":2,\"editable\":true}"),
	     "GET /api/v1/settings gives the file's influxdb group, the password only as set");

	/* Save the real InfluxDB's URL; the password left empty is kept. */
	snprintf(body, sizeof body,
		 "{\"influxdb\":{\"url\":\"http://127.0.0.1:%d\",\"database\":\"energy\","
		 "\"username\":\"admin\",\"password\":\"\",\"interval\":1,"
		 "\"measurement\":\"fromrest\"}}",
		 influx_http);
	h_ok(post_settings(body) == 200 && strstr(out, "\"saved\":true"),
	     "POST /api/v1/settings saves the group (%s)", out);
	h_ok(h_file_contains(settings_path, "password = \"0ld-s3cret\";") &&
		 h_file_contains(settings_path, "measurement = \"fromrest\";"),
	     "the file holds the new group and the password kept from before");
	h_ok(influx_wait("SELECT * FROM fromrest", "scratch"),
	     "after the reload the exporter writes to the real InfluxDB the form named");
	h_ok(get_settings() == 200 && !strstr(out, "0ld-s3cret"),
	     "GET still never gives the password");

	/* A refused value: 422, file:line, nothing changed. */
	before = slurp(settings_path, &blen);
	h_ok(post_settings(
		 "{\"influxdb\":{\"url\":\"ftp://127.0.0.1\",\"database\":\"energy\"}}") == 422 &&
		 strstr(out, "exporters.conf:") &&
		 strstr(out, ": influxdb.url must start with http:// or https://"),
	     "a bad URL: 422 with the file:line message (%s)", out);
	const char *colon = strstr(out, "exporters.conf:");
	h_ok(colon && atoi(colon + 15) > 0, "the message names the line");
	h_ok(before && file_same(before, blen), "the old file is byte for byte as it was");
	h_ok(post_settings(
		 "{\"influxdb\":{\"url\":\"http://x\",\"version\":2,\"database\":\"e\"}}") == 422 &&
		 strstr(out, "belongs to InfluxDB version 1") && file_same(before, blen),
	     "a key of the other version: 422, file unchanged (%s)", out);
	h_ok(get_settings() == 200 && strstr(out, "\"measurement\":\"fromrest\""),
	     "the running exporter is the one saved before");
	{
		char dir[600], listing[4096] = "";
		snprintf(dir, sizeof dir, "ls -a %s", h_dir());
		const char *argv[] = {"sh", "-c", dir, NULL};
		h_run(argv, listing, sizeof listing, 5000);
		h_ok(!strstr(listing, ".exporters.conf."), "no temporary file is left behind");
	}

	/* The door: no user, another origin, not JSON. */
	h_ok(http("POST", "/api/v1/settings", "{\"influxdb\":null}", 0, NULL, NULL) == 401 &&
		 file_same(before, blen),
	     "without a Digest user: 401, nothing written");
	h_ok(http("POST", "/api/v1/settings", "{\"influxdb\":null}", 1, "http://evil.example",
		  NULL) == 403 &&
		 file_same(before, blen),
	     "from another origin: 403, nothing written");
	h_ok(http("POST", "/api/v1/settings", "{\"influxdb\":null}", 1, NULL, "text/plain") ==
		     415 &&
		 file_same(before, blen),
	     "a text/plain body (a cross-site form): 415, nothing written");
	free(before);

	/* Hostile strings: written escaped, read back as sent. */
	const char *hostile =
	    "q\\\"uote\\\\back $(touch pwned) `touch pwned` ';x=1;' * ?.conf \\u00e9";
	snprintf(body, sizeof body,
		 "{\"mqtt_export\":{\"enabled\":false,\"mqtt\":{\"host\":\"127.0.0.1\","
		 "\"port\":1,\"username\":\"%s\",\"password\":\"p\\\"w\\nx\"},\"prefix\":\"%s\"}}",
		 hostile, hostile);
	h_ok(post_settings(body) == 200, "hostile strings are saved (%s)", out);
	const char *want =
	    "\"prefix\":\"q\\\"uote\\\\back $(touch pwned) `touch pwned` ';x=1;' * ?.conf é\"";
	h_ok(settings_wait(want) && strstr(out, "\"username\":\"q\\\"uote") &&
		 strstr(out, "\"password_set\":true") && !strstr(out, "p\\\"w"),
	     "GET gives them back as sent, the password hidden");
	char pwned[600];
	struct stat st;
	snprintf(pwned, sizeof pwned, "%s/pwned", h_dir());
	h_ok(stat(pwned, &st) != 0 && stat("pwned", &st) != 0, "nothing ran them");
	before = slurp(settings_path, &blen);
	h_ok(post_settings("{\"mqtt_export\":{\"prefix\":\"a\\nb\"}}") == 422 &&
		 strstr(out, "exporters.conf:") && before && file_same(before, blen),
	     "a newline in a topic: 422 from the loader, file unchanged (%s)", out);
	h_ok(post_settings("{\"influxdb\":{\"url\\\" = 1; user = \\\"root\":\"x\"}}") == 400 &&
		 strstr(out, "not a key name") && file_same(before, blen),
	     "a key name that would write config text: 400");
	static char huge[6000];
	memset(huge, 'a', sizeof huge);
	memcpy(huge, "{\"influxdb\":{\"url\":\"http://", 27);
	memcpy(huge + sizeof huge - 5, "\"}}", 4);
	h_ok(post_settings(huge) == 413 && file_same(before, blen), "a huge body: 413");
	const char *pre = "{\"influxdb\":{\"database\":\"";
	memset(body, 'b', sizeof body);
	memcpy(body, pre, strlen(pre));
	memcpy(body + 1500, "\"}}", 4);
	h_ok(post_settings(body) == 400 && strstr(out, "longer than 1024") &&
		 file_same(before, blen),
	     "a value longer than 1024 bytes: 400 (%s)", out);
	free(before);
}

static const char *write_main(const char *extra, int mport)
{
	return h_http_conf("bridge.conf", mport, hport, extra);
}

/* The influxdb form's value of a field, in the page. */
#define FIELD(name) "document.querySelector('form[data-group=influxdb] [name=" name "]')"

/* Set the influxdb form's url (and measurement, when not NULL) and press its
 * button; then, once the page has the answer, the message under the form
 * into msg. 0, or -1. */
static int save_from_page(struct cdp *c, const char *url, const char *measurement, char *msg,
			  size_t len)
{
	char js[1024], set[200] = "", v[64];
	if (measurement)
		snprintf(set, sizeof set, FIELD("measurement") ".value = '%s';", measurement);
	snprintf(js, sizeof js,
		 "(() => { const f = document.querySelector('form[data-group=influxdb]');"
		 " " FIELD("url") ".value = '%s'; %s"
				  " delete f.dataset.saved; f.requestSubmit(); return 'yes'; })()",
		 url, set);
	if (cdp_eval(c, js, v, sizeof v) != 0 || strcmp(v, "yes") != 0 ||
	    cdp_until(c,
		      "document.querySelector('form[data-group=influxdb]').dataset.saved ? "
		      "'yes' : 'no'",
		      WAIT_MS) != 0)
		return -1;
	return cdp_eval(c, "document.querySelector('[data-settings-msg=influxdb]').textContent",
			msg, len);
}

/* In the browser (tests/lib/cdp.c): the form filled in, a bad value's
 * message under it, and a save from the page that reaches InfluxDB. */
static void browser(void)
{
	char url[200], shown[512], bad[512], good[512], target[100];
	struct cdp c;
	const char *cv[] = {"chromium", "--version", NULL};
	if (!h_ok(h_run(cv, out, sizeof out, 20000) == 0, "chromium is installed"))
		return;
	snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/", hport);
	snprintf(target, sizeof target, "http://127.0.0.1:%d", influx_http);
	size_t blen;
	char *before = slurp(settings_path, &blen);
	int up = cdp_start(&c, NULL) == 0 && cdp_open(&c, url) == 0 &&
		 cdp_until(&c, "document.body && document.body.dataset.settings", WAIT_MS) == 0;
	if (!up)
		h_note_tail(h_path("chromium-cdp.log"), 10);
	int rc = up ? cdp_eval(&c,
			       "[document.querySelector('form[data-group=influxdb]')"
			       ".dataset.editable, " FIELD("url") ".value, " FIELD(
				   "password") ".placeholder, " FIELD("password") ".value]"
										  ".join(' | ')",
			       shown, sizeof shown)
		    : -1;
	if (rc != 0)
		snprintf(shown, sizeof shown, "(no page)");
	if (!up || save_from_page(&c, "ftp://127.0.0.1", NULL, bad, sizeof bad) != 0)
		snprintf(bad, sizeof bad, "(no answer)");
	if (!up || save_from_page(&c, target, "frompage", good, sizeof good) != 0)
		snprintf(good, sizeof good, "(no answer)");
	cdp_stop(&c);
	h_note("page: %s / %s / %s", shown, bad, good);
	char expect[200];
	snprintf(expect, sizeof expect, "yes | %s | set (empty: keep) | ", target);
	h_ok(rc == 0 && strcmp(shown, expect) == 0,
	     "the page shows the influxdb form filled in, the password as set and empty");
	h_ok(strstr(bad, "exporters.conf:") && strstr(bad, "influxdb.url must start with http://"),
	     "a bad value from the page shows the file:line message under the form");
	h_ok(before && strstr(before, "frompage") == NULL && strstr(good, "saved to "),
	     "saving from the page answers saved");
	free(before);
	h_ok(h_file_contains(settings_path, "measurement = \"frompage\";") &&
		 h_file_contains(settings_path, "password = \"0ld-s3cret\";"),
	     "the page's save is in the file, the password kept");
	h_ok(influx_wait("SELECT * FROM frompage", "scratch"),
	     "the setting saved from the page reaches the real InfluxDB");
}

/* The loader's side, through --check: a missing file is an empty one; the
 * file holds only the exporter groups; a group in both files is refused
 * with both lines; file and managed_by exclude each other. */
static void loader(int mport)
{
	const char *conf = write_main("web_settings = { file = \"none-yet.conf\"; };", mport);
	h_ok(h_run_bridge("--check", conf, out, sizeof out) == 0 && strstr(out, ": OK"),
	     "--check: a web_settings.file that does not exist yet is an empty one");
	h_write_file("other.conf", "influxdb = { url = \"http://127.0.0.1:9\"; database = \"e\"; "
				   "};\nserver = { port = 1; };\n");
	conf = write_main("web_settings = { file = \"other.conf\"; };", mport);
	h_ok(h_run_bridge("--check", conf, out, sizeof out) != 0 &&
		 strstr(out, "other.conf:2: server does not belong in the web settings file"),
	     "--check: the settings file holds only the exporter groups (%s)", out);
	h_write_file("other.conf", "\n\ninfluxdb = { url = \"http://127.0.0.1:9\"; database = "
				   "\"e\"; };\n");
	conf = write_main("web_settings = { file = \"other.conf\"; };\n"
			  "influxdb = { url = \"http://127.0.0.1:9\"; database = \"e\"; };",
			  mport);
	h_ok(h_run_bridge("--check", conf, out, sizeof out) != 0 &&
		 strstr(out, "other.conf:3: influxdb is set in ") &&
		 strstr(out, "bridge.conf:7 too"),
	     "--check: a group in both files is refused with both lines (%s)", out);
	conf = write_main("web_settings = { file = \"x.conf\"; managed_by = \"uci\"; };", mport);
	h_ok(h_run_bridge("--check", conf, out, sizeof out) != 0 &&
		 strstr(out, "bridge.conf:6: web_settings: file and managed_by exclude each other"),
	     "--check: file and managed_by exclude each other (%s)", out);
}

int main(void)
{
	h_init("web_settings");
	int mport = h_free_port();
	hport = h_free_port();
	influx_http = h_free_port();
	influx_rpc = h_free_port();

	pid_t ix = h_influxd_start(influx_http, influx_rpc, 0, WAIT_MS);
	if (!h_ok(ix > 0, "influxd 1.x starts on 127.0.0.1:%d", influx_http))
		return h_done();
	h_ok(influx_query(NULL, "CREATE DATABASE energy") == 200, "database created");
	loader(mport);

	/* The file as a person or an earlier save left it: a dead URL and a
	 * password. */
	h_write_file("exporters.conf",
		     "# saved before\n"
		     "influxdb = { url = \"http://127.0.0.1:9\"; database = \"energy\";\n"
		     "  username = \"admin\"; password = \"0ld-s3cret\"; };\n");
	snprintf(settings_path, sizeof settings_path, "%s/exporters.conf", h_dir());
	const char *conf = write_main("web_settings = { file = \"exporters.conf\"; };", mport);
	pid_t br = h_bridge_start(conf, mport, "bridge.log");
	if (!h_ok(br > 0 && h_wait_port(hport, 5000) == 0, "the bridge starts with web_settings")) {
		h_stop(ix, 5000);
		return h_done();
	}
	rest();
	browser();

	/* UCI: the generated config names no file but who manages them. */
	write_main("web_settings = { managed_by = \"uci\"; };", mport);
	h_signal(br, SIGHUP);
	h_ok(settings_wait("\"managed_by\":\"uci\"") && strstr(out, "\"writable\":false") &&
		 strstr(out, "\"hint\":\"uci set modbridge.@influxdb[0].url="),
	     "managed by UCI: read-only, with the uci line");
	h_ok(post_settings("{\"influxdb\":null}") == 409 && strstr(out, "managed by uci"),
	     "managed by UCI: a save is refused (409)");
	char url[200];
	snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/", hport);
	static char dom[1 << 20];
	int rc = h_chromium(url, "--dump-dom", NULL, dom, sizeof dom);
	const char *form = strstr(dom, "<form class=\"settings\" data-group=\"influxdb\"");
	h_ok(rc == 0 && strstr(dom, "data-settings=\"yes\"") &&
		 strstr(dom, "Read-only: the exporter settings are managed by uci") &&
		 strstr(dom, "<code>uci set modbridge.@influxdb[0].url=") && form &&
		 strstr(form, "data-editable=\"no\"") && strstr(form, "disabled=\"\""),
	     "the page shows the forms read-only with the uci line");

	/* A group in the main file: shown, not editable here. */
	h_write_file("exporters.conf", "influxdb = { url = \"http://127.0.0.1:9\"; database = "
				       "\"energy\"; };\n");
	write_main(
	    "web_settings = { file = \"exporters.conf\"; };\n"
	    "mqtt_export = { enabled = false; mqtt = { host = \"127.0.0.1\"; port = 1; }; };",
	    mport);
	h_signal(br, SIGHUP);
	h_ok(settings_wait(
		 "\"mqtt_export\":{\"source\":\"config\",\"line\":7,\"editable\":false}") &&
		 strstr(out, "\"influxdb\":{\"source\":\"file\""),
	     "a group of the main file is shown with its line, not editable");
	h_ok(post_settings("{\"mqtt_export\":{\"enabled\":true}}") == 409 &&
		 strstr(out, "mqtt_export is set in ") && strstr(out, "bridge.conf:7"),
	     "saving a group of the main file: 409 naming its line (%s)", out);

	/* No users (reads without auth): nobody can save. */
	char conf2[2048];
	snprintf(conf2, sizeof conf2,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = { }; "
		 "} );\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };\n"
		 "web_settings = { file = \"exporters.conf\"; };\n",
		 mport, h_maps_dir(), hport);
	h_write_file("bridge.conf", conf2);
	h_signal(br, SIGHUP);
	int ro = 0;
	for (uint64_t end = h_now_ms() + WAIT_MS; !ro && h_now_ms() < end; h_sleep_ms(100))
		ro = http("GET", "/api/v1/settings", NULL, 0, NULL, NULL) == 200 &&
		     strstr(out, "\"writable\":false") && strstr(out, "http.users is empty");
	h_ok(ro, "without http users the settings are read-only, and say why");

	h_ok(h_bridge_stop(br) == 0, "the bridge stops cleanly");
	h_stop(ix, 5000);
	return h_done();
}

/* The web page as a person reads it (docs/user-guide.md, web interface), in Debian's chromium,
 * headless, against the real bridge serving the PowerGo simulator (over a
 * real mosquitto), a memory device and a read-only memory device, with a
 * Digest user and no reads without one:
 * - opened as http://admin:secret@host/ the page logs in and its own
 *   requests work (absolute URLs without user information);
 * - each device's summary registers come first, with the simulator's
 *   scaled values and their units; formatted values read as text (the
 *   PowerGo's firmware A030, its addresses dotted) in REST and on the page;
 * - a device without writable registers shows no write form;
 * - the register table is folded by the map's groups: status open, the
 *   others closed, registers without a group under "other"; a mouse click
 *   (sent through the DevTools protocol) opens the network fold, which
 *   shows the PowerGo's address and stays open across refreshes;
 * - at a phone's width (390 px) the page needs no sideways scrolling and
 *   every value and unit is inside the window (the page's own measurement,
 *   body data-fits);
 * - /api/v1/ lists every path of the OpenAPI document, with curl lines;
 * - a 401 for a page is HTML, for the API JSON.
 * Screenshots (desktop and phone) are kept in docs/ when WEB_SCREENSHOTS
 * names a directory:
 * `WEB_SCREENSHOTS=$PWD/docs sh tests/run.sh e2e/test_web_page`. */
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define APP "053461AD"
#define DEV1 "15020115"

/* --- a click in the browser: the DevTools protocol over a pipe ----------
 *
 * --dump-dom shows a page as loaded; a fold opened by a person needs a
 * click. Chromium started with --remote-debugging-pipe reads protocol
 * commands (JSON, each ended by a NUL byte) on fd 3 and answers on fd 4:
 * the test opens the page in a tab, asks where a <summary> is, sends the
 * mouse's press and release there (Input.dispatchMouseEvent: hit-tested
 * as a real click) and reads the page back with Runtime.evaluate. */
struct cdp {
	pid_t pid;
	int to, from, id;
	char session[128];
	char *buf;
	size_t len, cap;
};

static int cdp_start(struct cdp *c)
{
	int a[2], b[2];
	char profile[512];
	memset(c, 0, sizeof *c);
	c->to = c->from = -1;
	snprintf(profile, sizeof profile, "--user-data-dir=%s", h_path("chromium-cdp"));
	if (pipe(a) != 0)
		return -1;
	if (pipe(b) != 0) {
		close(a[0]);
		close(a[1]);
		return -1;
	}
	const char *log = h_path("chromium-cdp.log");
	if ((c->pid = fork()) == 0) {
		/* Out of the way of 3 and 4 first, then onto them. */
		int r = fcntl(a[0], F_DUPFD, 10), w = fcntl(b[1], F_DUPFD, 10);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (r < 0 || w < 0 || fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
		    dup2(r, 3) < 0 || dup2(w, 4) < 0)
			_exit(127);
		for (int i = 5; i < 1024; i++)
			close(i);
		execlp("chromium", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
		       "--disable-background-networking", "--disable-component-update",
		       "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", profile,
		       "--remote-debugging-pipe", "--window-size=1280,1000", (char *)NULL);
		_exit(127);
	}
	close(a[0]);
	close(b[1]);
	c->to = a[1];
	c->from = b[0];
	return c->pid > 0 ? 0 : -1;
}

/* The next message (NUL-ended) within timeout_ms, parsed; NULL on EOF,
 * timeout or a message that is not JSON. */
static json_object *cdp_read(struct cdp *c, int timeout_ms)
{
	for (int waited = 0;;) {
		char *nul = c->len ? memchr(c->buf, '\0', c->len) : NULL;
		if (nul) {
			json_object *o = json_tokener_parse(c->buf);
			size_t used = (size_t)(nul - c->buf) + 1;
			memmove(c->buf, nul + 1, c->len - used);
			c->len -= used;
			return o;
		}
		if (c->cap - c->len < 65536) {
			char *nb = realloc(c->buf, c->cap + (1 << 20));
			if (!nb)
				return NULL;
			c->buf = nb;
			c->cap += 1 << 20;
		}
		struct pollfd pfd = {.fd = c->from, .events = POLLIN};
		if (waited >= timeout_ms || poll(&pfd, 1, 100) < 0)
			return NULL;
		waited += 100;
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(c->from, c->buf + c->len, c->cap - c->len - 1);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

/* Send method with params (a JSON object's text, or NULL) in the tab's
 * session once attached; the answer's "result" (the caller puts it), or
 * NULL on an error answer or none within 20 s. Events on the way are
 * skipped. */
static json_object *cdp_call(struct cdp *c, const char *method, const char *params)
{
	char head[400];
	int id = ++c->id;
	int n = snprintf(head, sizeof head, "{\"id\":%d,%s%s%s\"method\":\"%s\",\"params\":", id,
			 c->session[0] ? "\"sessionId\":\"" : "", c->session,
			 c->session[0] ? "\"," : "", method);
	const char *p = params ? params : "{}";
	if (write(c->to, head, (size_t)n) != n ||
	    write(c->to, p, strlen(p)) != (ssize_t)strlen(p) ||
	    write(c->to, "}", 2) != 2) /* the brace and the NUL that ends the message */
		return NULL;
	for (;;) {
		json_object *m = cdp_read(c, 20000), *v, *res = NULL;
		if (!m)
			return NULL;
		if (json_object_object_get_ex(m, "id", &v) && json_object_get_int(v) == id) {
			if (json_object_object_get_ex(m, "result", &res))
				json_object_get(res);
			json_object_put(m);
			return res;
		}
		json_object_put(m);
	}
}

/* Evaluate a JavaScript expression in the page; its value as a string
 * (JSON.stringify'd by the caller where it is not one) into out. 0, or -1. */
static int cdp_eval(struct cdp *c, const char *expr, char *out, size_t outlen)
{
	json_object *params = json_object_new_object(), *res, *r, *v;
	json_object_object_add(params, "expression", json_object_new_string(expr));
	json_object_object_add(params, "returnByValue", json_object_new_boolean(1));
	res = cdp_call(c, "Runtime.evaluate", json_object_to_json_string(params));
	json_object_put(params);
	int ok = res && json_object_object_get_ex(res, "result", &r) &&
		 json_object_object_get_ex(r, "value", &v) &&
		 json_object_is_type(v, json_type_string);
	snprintf(out, outlen, "%s", ok ? json_object_get_string(v) : "");
	json_object_put(res);
	return ok ? 0 : -1;
}

/* Wait (bounded) until expr evaluates to the string "yes". */
static int cdp_until(struct cdp *c, const char *expr, int timeout_ms)
{
	char v[64];
	for (int t = 0; t < timeout_ms; t += 100) {
		if (cdp_eval(c, expr, v, sizeof v) == 0 && strcmp(v, "yes") == 0)
			return 0;
		h_sleep_ms(100);
	}
	return -1;
}

/* A click with the mouse's left button in the middle of the element that
 * selector names (scrolled into view first). 0, or -1. */
static int cdp_click(struct cdp *c, const char *selector)
{
	char expr[600], at[128], params[200];
	double x, y;
	snprintf(expr, sizeof expr,
		 "(() => { const e = document.querySelector('%s'); if (!e) return '';"
		 " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
		 " return (r.left + r.width / 2) + ' ' + (r.top + r.height / 2); })()",
		 selector);
	if (cdp_eval(c, expr, at, sizeof at) != 0 || sscanf(at, "%lf %lf", &x, &y) != 2)
		return -1;
	for (int i = 0; i < 2; i++) {
		snprintf(params, sizeof params,
			 "{\"type\":\"%s\",\"x\":%.1f,\"y\":%.1f,\"button\":\"left\","
			 "\"clickCount\":1}",
			 i ? "mouseReleased" : "mousePressed", x, y);
		json_object *res = cdp_call(c, "Input.dispatchMouseEvent", params);
		if (!res)
			return -1;
		json_object_put(res);
	}
	return 0;
}

/* Open url in a new tab of the browser and attach to it. 0, or -1. */
static int cdp_open(struct cdp *c, const char *url)
{
	json_object *res, *v;
	char params[400];
	if (!(res = cdp_call(c, "Target.createTarget", "{\"url\":\"about:blank\"}")))
		return -1;
	int ok = json_object_object_get_ex(res, "targetId", &v);
	snprintf(params, sizeof params, "{\"targetId\":\"%s\",\"flatten\":true}",
		 ok ? json_object_get_string(v) : "");
	json_object_put(res);
	if (!ok || !(res = cdp_call(c, "Target.attachToTarget", params)))
		return -1;
	ok = json_object_object_get_ex(res, "sessionId", &v);
	snprintf(c->session, sizeof c->session, "%s", ok ? json_object_get_string(v) : "");
	json_object_put(res);
	snprintf(params, sizeof params, "{\"url\":\"%s\"}", url);
	if (!ok || !(res = cdp_call(c, "Page.navigate", params)))
		return -1;
	json_object_put(res);
	return 0;
}

static void cdp_stop(struct cdp *c)
{
	if (c->pid > 0) {
		c->session[0] = '\0';
		json_object_put(cdp_call(c, "Browser.close", NULL));
		close(c->to);
		close(c->from);
		h_stop(c->pid, 5000);
	}
	free(c->buf);
}

/* A meter that only reads: no register takes a write. */
static const char romap_text[] =
    "name = \"rometer\"; protocol = \"memory\"; trust = \"generated\";\n"
    "description = \"web page test: a read-only meter\";\n"
    "source = \"tests/e2e/test_web_page.c\";\n"
    "summary = [ \"power\" ];\n"
    "registers = ( { address = 0; name = \"power\"; type = \"int16\"; unit = \"W\";"
    " group = \"status\"; default = 1500; },\n"
    "  { address = 1; name = \"uptime\"; type = \"uint32\"; format = \"duration\";"
    " unit = \"s\"; default = 93784; } );\n";

static char dom[1 << 20];

/* The summary tile of register reg in the card of device dev shows value
 * and unit. */
static int tile(const char *dev, const char *reg, const char *value, const char *unit)
{
	char id[128], needle[256];
	snprintf(id, sizeof id, "id=\"device-%s\"", dev);
	const char *card = strstr(dom, id);
	const char *end = card ? strstr(card + 1, "<section") : NULL;
	snprintf(needle, sizeof needle,
		 "data-sum=\"%s\"><div class=\"label\">%s</div><div class=\"big\"><span "
		 "class=\"v\">%s</span><span class=\"u\">%s</span>",
		 reg, reg, value, unit);
	const char *hit = card ? strstr(card, needle) : NULL;
	return hit && (!end || hit < end);
}

/* The device card's write form: 1 shown, 0 hidden, -1 not found. */
static int form_shown(const char *dev)
{
	char id[128];
	snprintf(id, sizeof id, "id=\"device-%s\"", dev);
	const char *card = strstr(dom, id);
	const char *end = card ? strstr(card + 1, "<section") : NULL;
	const char *f = card ? strstr(card, "<form class=\"write\"") : NULL;
	if (!f || (end && f > end))
		return -1;
	const char *close = strchr(f, '>');
	const char *hid = strstr(f, "hidden");
	return hid && hid < close ? 0 : 1;
}

/* Every path of the OpenAPI document ("    \"/...\": {" at the paths
 * level) is a data-path of the API page. */
static int api_lists_every_path(int *npaths)
{
	static char spec[1 << 17];
	FILE *f = fopen(h_repo_file("bridge/web/openapi.json"), "r");
	size_t n = f ? fread(spec, 1, sizeof spec - 1, f) : 0;
	int ok = n > 0;
	if (f)
		fclose(f);
	spec[n] = '\0';
	*npaths = 0;
	for (char *p = strstr(spec, "\n    \"/"); p; p = strstr(p + 1, "\n    \"/")) {
		char path[200], needle[260];
		size_t len = strcspn(p + 6, "\"");
		snprintf(path, sizeof path, "%.*s", (int)len, p + 6);
		snprintf(needle, sizeof needle, "data-path=\"%s\"", path);
		(*npaths)++;
		if (!strstr(dom, needle)) {
			h_note("the API page does not list %s", path);
			ok = 0;
		}
	}
	return ok && *npaths >= 7;
}

int main(void)
{
	h_init("web_page");
	signal(SIGPIPE, SIG_IGN); /* a browser gone: its pipe's error, not a signal */
	char out[8192];
	const char *cv[] = {"chromium", "--version", NULL};
	if (!h_ok(h_run(cv, out, sizeof out, 20000) == 0,
		  "chromium is installed (make test installs it: TEST_DEB_PKGS)"))
		return h_done();

	int broker_port, mport = h_free_port(), hport = h_free_port();
	pid_t broker = h_broker_start(&broker_port);
	const char *extra[] = {"--app-id", APP, NULL};
	pid_t sim = h_sim_powergo(broker_port, DEV1, "sim.log", extra);
	h_write_file("rometer.conf", romap_text);
	char conf[4096];
	/* admin:secret (realm "modbridge"). */
	snprintf(conf, sizeof conf,
		 "modbus = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\", \"%s\" ];\n"
		 "devices = (\n"
		 "  { name = \"garage\"; unit_id = 1; map = \"powergo\";\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"" APP "\"; device_id = \"" DEV1 "\"; }; },\n"
		 "  { name = \"meter\"; unit_id = 5; map = \"rometer\"; memory = { }; },\n"
		 "  { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = { }; }\n"
		 ");\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; history_interval = 200;\n"
		 "  users = ( { name = \"admin\"; ha1 = \"74b5ba04a8aa06dd55aa3fc4e8c0307e\"; } ); "
		 "};\n",
		 mport, h_dir(), h_maps_dir(), broker_port, hport);
	pid_t bridge = h_bridge_start(h_write_file("bridge.conf", conf), mport, "bridge.log");
	h_ok(bridge > 0 && h_wait_port(hport, 5000) == 0, "the bridge serves the page");

	/* The PowerGo's first poll has filled the cache. */
	char url[160], api[200];
	snprintf(api, sizeof api, "http://127.0.0.1:%d/api/v1/devices/garage/registers", hport);
	const char *cu[] = {"curl", "-s", "--digest", "-u", "admin:secret", api, NULL};
	int filled = 0;
	for (int i = 0; i < 100 && !filled; i++) {
		filled = h_run(cu, dom, sizeof dom, 5000) == 0 &&
			 strstr(dom, "\"name\":\"soc\",\"address\":529,\"table\":\"holding\","
				     "\"access\":\"r\",\"raw\":68,");
		if (!filled)
			h_sleep_ms(100);
	}
	h_ok(filled, "the PowerGo's registers are in the cache");
	/* The map's formats in REST: the simulator's 0xA030 and addresses. */
	h_ok(strstr(dom, "\"summary\":[\"soc\",\"grid_power\",\"daily_discharge_energy\","
			 "\"operating_status\"]") != NULL,
	     "REST names the PowerGo map's summary registers");
	h_ok(strstr(dom, "\"raw\":41008,\"value\":41008,\"text\":\"A030\"") &&
		 strstr(dom, "\"name\":\"wifi_dhcp_ip\",\"address\":138,\"table\":\"holding\","
			     "\"access\":\"r\",\"raw\":3232235786,\"value\":3232235786,"
			     "\"text\":\"192.168.1.10\"") &&
		 strstr(dom, "\"text\":\"192.168.1.200\""),
	     "REST gives the firmware as A030 and the IP addresses dotted beside the numbers");

	/* The history: a point every 200 ms here, min/max/last of each. */
	char hist[200];
	snprintf(hist, sizeof hist, "http://127.0.0.1:%d/api/v1/devices/scratch/history", hport);
	const char *ch[] = {"curl", "-s", "--digest", "-u", "admin:secret", hist, NULL};
	int points = 0;
	for (int i = 0; i < 100 && !points; i++) {
		const char *e =
		    h_run(ch, dom, sizeof dom, 5000) == 0
			? strstr(dom, "{\"name\":\"energy\",\"unit\":\"kWh\",\"points\":[[")
			: NULL;
		/* two points at least: [t,min,max,last],[t,... */
		points = e && strstr(e, ",12345.6,12345.6,12345.6],[") != NULL;
		if (!points)
			h_sleep_ms(100);
	}
	h_ok(points && strstr(dom, "\"interval_s\":0.2,\"points\":1440"),
	     "REST gives the summary history: points of min, max and last (12345.6 kWh)");

	/* A 401: JSON for the API, a small HTML page for a page. */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", hport);
	const char *c401[] = {"curl", "-s", "-i", url, NULL};
	h_ok(h_run(c401, out, sizeof out, 5000) == 0 && strstr(out, " 401 ") &&
		 strstr(out, "Content-Type: text/html") && strstr(out, "<h1") &&
		 strstr(out, "Login required"),
	     "a 401 for the page is a small HTML page");
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/status", hport);
	const char *c401j[] = {"curl", "-s", "-i", url, NULL};
	h_ok(h_run(c401j, out, sizeof out, 5000) == 0 && strstr(out, " 401 ") &&
		 strstr(out, "Content-Type: application/json"),
	     "a 401 for the API stays JSON");

	/* The page opened with the credentials in its URL. */
	snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/", hport);
	int rc = h_chromium(url, "--dump-dom", NULL, dom, sizeof dom);
	if (!h_ok(rc == 0 && strstr(dom, "data-loaded=\"yes\"") &&
		      strstr(dom, "<p id=\"msg\" class=\"err\"></p>") &&
		      strstr(dom, "id=\"device-garage\""),
		  "opened as http://admin:secret@host/, the page loads its data (status %d)", rc))
		h_note("DOM in %s", h_write_file("cred.html", dom));
	/* The simulator's status example: 529 = 0x0044 -> 68 %, 530 = 0 W. */
	h_ok(tile("garage", "soc", "68", "%") && tile("garage", "grid_power", "0", "W"),
	     "the PowerGo card shows its summary first: soc 68 %%, grid power 0 W");
	h_ok(tile("scratch", "energy", "12345.6", "kWh") && tile("scratch", "setpoint", "500", "W"),
	     "the memory device's summary: energy 12345.6 kWh, setpoint 500 W");
	h_ok(tile("meter", "power", "1500", "W"), "the read-only meter's summary: 1500 W");
	h_ok(strstr(dom, "data-reg=\"main_software_version\" data-value=\"41008\">A030<") &&
		 strstr(dom,
			"data-reg=\"eth_static_ip\" data-value=\"3232235976\">192.168.1.200<") &&
		 strstr(dom, "data-reg=\"uptime\" data-value=\"93784\">1 d 2 h 3 min<"),
	     "the page shows the firmware as A030, the address dotted, the uptime in words");
	h_ok(form_shown("meter") == 0, "no write form on the read-only meter");
	/* Folded by group: status open, the others closed, in the page's
	 * order; a register without a group under "other". */
	{
		const char *card = strstr(dom, "id=\"device-garage\"");
		const char *st = card
				     ? strstr(card, "<details class=\"regs\" data-group=\"status\" "
						    "open=\"\"><summary><span>Status (")
				     : NULL;
		const char *en =
		    st ? strstr(st, "<details class=\"regs\" data-group=\"energy\">") : NULL;
		const char *se =
		    en ? strstr(en, "<details class=\"regs\" data-group=\"settings\">") : NULL;
		const char *ne =
		    se ? strstr(se, "<details class=\"regs\" data-group=\"network\">") : NULL;
		const char *id =
		    ne ? strstr(ne, "<details class=\"regs\" data-group=\"identification\">")
		       : NULL;
		const char *ip = ne ? strstr(ne, "data-reg=\"wifi_dhcp_ip\"") : NULL;
		const char *soc = st ? strstr(st, "data-reg=\"soc\"") : NULL;
		h_ok(
		    id && ip && ip < id && soc && soc < en,
		    "the PowerGo's registers are folded by group: status open (soc in it), energy, "
		    "settings, network (its addresses in it) and identification closed");
		const char *m = strstr(dom, "id=\"device-meter\"");
		const char *o =
		    m ? strstr(m, "<details class=\"regs\" data-group=\"other\"><summary>"
				  "<span>Other (1)</span>")
		      : NULL;
		const char *next = m ? strstr(m + 1, "<section") : NULL;
		h_ok(o && (!next || o < next) && strstr(o, "data-reg=\"uptime\""),
		     "a register without a group is in a closed fold \"other\"");
	}

	/* A person opens the network fold with the mouse: the address shows,
	 * and the fold stays open across the page's refreshes. */
	{
		struct cdp c;
		char v[256];
		const char *fold = "#device-garage details[data-group=network]";
		const char *cell = "#device-garage details[data-group=network] "
				   "td[data-reg=wifi_dhcp_ip]";
		char expr[600];
		snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/", hport);
		int up = cdp_start(&c) == 0 && cdp_open(&c, url) == 0 &&
			 cdp_until(&c, "document.body && document.body.dataset.loaded", 30000) == 0;
		if (!up)
			h_note_tail(h_path("chromium-cdp.log"), 10);
		h_ok(up, "chromium, driven through the DevTools protocol, loads the page");
		/* Before: status open and its soc seen; network closed, its cells unseen. */
		snprintf(expr, sizeof expr,
			 "(() => { const s = document.querySelector('#device-garage "
			 "details[data-group=status] td[data-reg=soc]'), n = "
			 "document.querySelector('%s');"
			 " return (s && s.checkVisibility() && s.textContent === '68' && n &&"
			 " !document.querySelector('%s').open && !n.checkVisibility()) ? 'yes' : "
			 "'no'; })()",
			 cell, fold);
		h_ok(up && cdp_eval(&c, expr, v, sizeof v) == 0 && strcmp(v, "yes") == 0,
		     "before the click the status fold shows soc 68, the network fold hides its "
		     "cells");
		h_ok(up &&
			 cdp_click(&c, "#device-garage details[data-group=network] > summary") == 0,
		     "a mouse click on the network fold's title");
		snprintf(expr, sizeof expr,
			 "(() => { const n = document.querySelector('%s');"
			 " if (!(document.querySelector('%s').open && n && n.checkVisibility() &&"
			 " n.textContent === '192.168.1.10')) return 'no';"
			 " window.seen = n; return 'yes'; })()",
			 cell, fold);
		h_ok(up && cdp_until(&c, expr, 10000) == 0,
		     "the network fold opens and shows wifi_dhcp_ip as 192.168.1.10");
		/* The next refresh rebuilds the rows (a new cell), not the fold. */
		snprintf(
		    expr, sizeof expr,
		    "(() => { const n = document.querySelector('%s');"
		    " return n && n !== window.seen && document.querySelector('%s').open &&"
		    " n.checkVisibility() && n.textContent === '192.168.1.10' ? 'yes' : 'no'; })()",
		    cell, fold);
		h_ok(up && cdp_until(&c, expr, 20000) == 0,
		     "after the next refresh the network fold is still open with the value");
		cdp_stop(&c);
	}
	{
		const char *c = strstr(dom, "data-sum=\"soc\"");
		const char *svg = c ? strstr(c, "<svg class=\"chart\"") : NULL;
		const char *pts = svg ? strstr(svg, "data-points=\"") : NULL;
		int npts = pts ? atoi(pts + 13) : 0;
		h_ok(npts >= 2 && strstr(svg, "<polyline points=\"") != NULL,
		     "the PowerGo's soc tile has a chart of its history (%d points)", npts);
	}
	h_ok(form_shown("scratch") == 1 && form_shown("garage") == 1,
	     "the write form on the devices with writable registers");
	h_ok(strstr(dom, "answering</span>") || strstr(dom, "3 of 3 devices answering"),
	     "the header says how many devices answer");

	/* A phone: 390 px wide, the register tables open (#all). */
	snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/#all", hport);
	rc = h_chromium(url, "--dump-dom", "--window-size=390,844", dom, sizeof dom);
	if (!h_ok(rc == 0 && strstr(dom, "data-loaded=\"yes\"") && strstr(dom, "data-fits=\"yes\""),
		  "at 390 px every value and unit is inside the window, no sideways scrolling"))
		h_note("DOM in %s", h_write_file("phone.html", dom));

	/* The API page lists every path of the OpenAPI document. */
	snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/api/v1/", hport);
	rc = h_chromium(url, "--dump-dom", NULL, dom, sizeof dom);
	int npaths = 0, listed = api_lists_every_path(&npaths);
	h_ok(rc == 0 && strstr(dom, "data-loaded=\"yes\"") && listed &&
		 strstr(dom, "curl --digest -u admin "),
	     "/api/v1/ lists every path of the OpenAPI document (%d) with curl lines", npaths);

	/* "Try it" on GET /status, in the browser's login (#try= runs it). */
	snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/api/v1/#try=/status", hport);
	rc = h_chromium(url, "--dump-dom", NULL, dom, sizeof dom);
	const char *ans = strstr(dom, "<pre class=\"answer\" data-status=\"200\">200 OK");
	if (!h_ok(rc == 0 && ans && strstr(ans, "&quot;version&quot;") == NULL &&
		      strstr(ans, "\"version\": \"") != NULL,
		  "the API page's \"try it\" GET /status returns the status document"))
		h_note("DOM in %s", h_write_file("try.html", dom));

	const char *dir = getenv("WEB_SCREENSHOTS");
	char arg[700], shot[600];
	struct stat st;
	snprintf(url, sizeof url, "http://admin:secret@127.0.0.1:%d/", hport);
	snprintf(shot, sizeof shot, "%s/web-interface.png", dir && *dir ? dir : h_dir());
	snprintf(arg, sizeof arg, "--screenshot=%s", shot);
	rc = h_chromium(url, arg, "--window-size=1280,1000", out, sizeof out);
	h_ok(rc == 0 && stat(shot, &st) == 0 && st.st_size > 10000, "a desktop screenshot");
	snprintf(shot, sizeof shot, "%s/web-interface-phone.png", dir && *dir ? dir : h_dir());
	snprintf(arg, sizeof arg, "--screenshot=%s", shot);
	rc = h_chromium(url, arg, "--window-size=390,844", out, sizeof out);
	h_ok(rc == 0 && stat(shot, &st) == 0 && st.st_size > 10000, "a phone screenshot");

	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");
	h_stop(sim, 3000);
	h_stop(broker, 3000);
	return h_done();
}

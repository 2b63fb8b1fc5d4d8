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
 * Screenshots (desktop and phone) are written to the test's folder, or to the
 * directory WEB_SCREENSHOTS names, to look at; the ones in docs/ come from
 * the demo (`make screenshots`, HACKING.md "Docs"). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cdp.h"
#include "harness.h"

#define APP "053461AD"
#define DEV1 "15020115"

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
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
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
		int up = cdp_start(&c, "1280,1000") == 0 && cdp_open(&c, url) == 0 &&
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

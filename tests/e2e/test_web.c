/* The web page in a real browser (docs/user-guide.md, web interface): Debian's chromium,
 * headless, loads the page from the real bridge serving the PowerGo simulator
 * (over a real mosquitto) and a memory device, runs its script and dumps the
 * DOM it rendered; the test checks the devices' names, their health and
 * register values as the page shows them, the battery's state in words once
 * it stops answering behind a working broker (device health, docs/design.md) and again
 * once it is back, then takes a screenshot (kept in
 * docs/ when WEB_SCREENSHOT names a file:
 * `WEB_SCREENSHOT=$PWD/docs/web-interface.png sh tests/run.sh e2e/test_web`).
 *
 * The page is read with read_only_without_auth, since a headless browser
 * cannot answer a Digest prompt; test_http checks the authentication. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define APP "053461AD"
#define DEV1 "15020115"
#define DEV2 "15020116"

/* A second PowerGo battery, reduced to one block and polled every 2 s with
 * a 500 ms timeout, that goes silent: a request the silence left unanswered
 * is forgotten (two timeouts, tr_powergo.c) before the next poll, so that
 * its recovery does not depend on how the transport tells late answers
 * apart (docs/protocols/powergo.md). */
static const char pgmini_text[] =
    "name = \"pgmini\"; protocol = \"powergo\"; trust = \"generated\";\n"
    "description = \"web test: a PowerGo battery's state of charge\";\n"
    "source = \"tests/e2e/test_web.c\";\n"
    "registers = ( { address = 529; name = \"pack_soc\"; unit = \"%\"; },\n"
    "  { address = 530; name = \"pack_power\"; type = \"int16\"; unit = \"W\"; } );\n";

static char dom[1 << 20];

static int has_cell(const char *reg, const char *value)
{
	char needle[128];
	snprintf(needle, sizeof needle, "data-reg=\"%s\">%s<", reg, value);
	return strstr(dom, needle) != NULL;
}

/* -------------------- cross-site writes (docs/design.md, "Web interface security") -- */

/* The setpoint of the memory device, read with curl --digest ("" if none). */
static void web_setpoint(int hport, char *v, size_t n)
{
	char url[160], body[65536];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/devices/scratch/registers", hport);
	const char *argv[] = {"curl", "-s", "--digest", "-u", "admin:secret", url, NULL};
	v[0] = '\0';
	if (h_run(argv, body, sizeof body, 10000) != 0)
		return;
	const char *p = strstr(body, "\"name\":\"setpoint\"");
	p = p ? strstr(p, "\"raw\":") : NULL;
	if (p)
		snprintf(v, n, "%.*s", (int)strcspn(p + 6, ",}"), p + 6);
}

/* A user logged in (Digest, credentials in the browser's cache) visits a
 * page of another origin that auto-submits a text/plain form to the write
 * endpoint with a body that reads as JSON. The browser would answer the
 * challenge from its cache: the bridge must refuse the write by its
 * Origin. The same browser logs in and shows the page (Digest with the
 * bridge's own nonces, several fetches at once on one nonce). */
static void cross_site_form(void)
{
	int mport = h_free_port(), hport = h_free_port(), sport = h_free_port();
	char page[2048], dir[600], url[128], port[16], v0[32], v1[32];

	pid_t bridge =
	    h_bridge_start(h_http_conf("csrf.conf", mport, hport, NULL), mport, "csrf.log");
	h_ok(bridge > 0 && h_wait_port(hport, 5000) == 0, "a bridge with a Digest user");

	/* The other origin: a static server on another port. */
	snprintf(dir, sizeof dir, "%s/site", h_dir());
	mkdir(dir, 0755);
	/* Logs in (the credentials in a top-level URL fill the browser's
	 * cache), then opens the page without them. */
	snprintf(page, sizeof page,
		 "<!doctype html><html><body><script>\n"
		 "window.open(\"http://admin:secret@127.0.0.1:%d/\", \"login\");\n"
		 "setTimeout(function () { location.href = \"http://127.0.0.1:%d/\"; }, 1500);\n"
		 "</script></body></html>\n",
		 hport, hport);
	h_write_file("site/login.html", page);
	snprintf(page, sizeof page,
		 "<!doctype html><html><body>\n"
		 "<form id=\"f\" enctype=\"text/plain\" method=\"POST\" target=\"sink\"\n"
		 "  action=\"http://127.0.0.1:%d/api/v1/devices/scratch/registers/setpoint\">\n"
		 "<input name='{\"value\":777,\"x\":\"' value='\"}'></form>\n"
		 "<iframe name=\"sink\"></iframe><script>\n"
		 "window.open(\"http://admin:secret@127.0.0.1:%d/\", \"login\");\n"
		 "setTimeout(function () { document.getElementById(\"f\").submit();\n"
		 "  document.title = \"sent\"; }, 1500);\n"
		 "</script></body></html>\n",
		 hport, hport);
	h_write_file("site/attack.html", page);
	snprintf(port, sizeof port, "%d", sport);
	const char *py[] = {"python3",	 "-m",		"http.server", port, "--bind",
			    "127.0.0.1", "--directory", dir,	       NULL};
	pid_t site = h_spawn(py, "site.log");
	h_ok(site > 0 && h_wait_port(sport, 10000) == 0, "another origin serves its pages");

	snprintf(url, sizeof url, "http://127.0.0.1:%d/login.html", sport);
	int rc = h_chromium(url, "--dump-dom", "--disable-popup-blocking", dom, sizeof dom);
	h_ok(rc == 0 && strstr(dom, "data-loaded=\"yes\"") && strstr(dom, "id=\"device-scratch\""),
	     "chromium logs in with Digest (algorithm=MD5) and shows the page (status %d)", rc);

	web_setpoint(hport, v0, sizeof v0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/attack.html", sport);
	rc = h_chromium(url, "--dump-dom", "--disable-popup-blocking", dom, sizeof dom);
	web_setpoint(hport, v1, sizeof v1);
	h_ok(rc == 0 && strstr(dom, "<title>sent</title>") &&
		 h_wait_lines(h_path("csrf.log"), "a write from another origin: 403", 1, 5000),
	     "the cross-site form was submitted to the bridge (refused: 403)");
	h_ok(v0[0] && strcmp(v0, v1) == 0 && strcmp(v1, "777") != 0,
	     "a cross-site text/plain form with the user's cached credentials writes nothing "
	     "(setpoint %s -> %s)",
	     v0, v1);
	h_stop(site, 3000);
	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");
}

/* Does the health table's row of device name hold needle? */
static int row_has(const char *name, const char *needle)
{
	char id[128];
	snprintf(id, sizeof id, "<tr id=\"health-%s\">", name);
	const char *row = strstr(dom, id), *end = row ? strstr(row, "</tr>") : NULL;
	const char *hit = row ? strstr(row, needle) : NULL;
	return hit && end && hit < end;
}

int main(void)
{
	h_init("web");
	char out[4096];
	const char *cv[] = {"chromium", "--version", NULL};
	if (!h_ok(h_run(cv, out, sizeof out, 20000) == 0,
		  "chromium is installed (make test installs it: TEST_DEB_PKGS)"))
		return h_done();

	int broker_port, mport = h_free_port(), hport = h_free_port();
	pid_t broker = h_broker_start(&broker_port);
	const char *extra[] = {"--app-id", APP, NULL};
	pid_t sim = h_sim_powergo(broker_port, DEV1, "sim.log", extra);
	pid_t sim2 = h_sim_powergo(broker_port, DEV2, "sim2.log", extra);
	h_write_file("pgmini.conf", pgmini_text);
	char conf[4096];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\n"
		 "maps_path = [ \"%s\", \"%s\" ];\n"
		 "devices = (\n"
		 "  { name = \"garage\"; unit_id = 1; map = \"powergo\";\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"" APP "\"; device_id = \"" DEV1 "\"; }; },\n"
		 "  { name = \"attic\"; unit_id = 2; map = \"pgmini\";"
		 " poll = 2000; timeout = 500; retries = 0;\n"
		 "    mqtt = { host = \"127.0.0.1\"; port = %d; };\n"
		 "    powergo = { app_id = \"" APP "\"; device_id = \"" DEV2 "\"; }; },\n"
		 "  { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = { }; }\n"
		 ");\n"
		 "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; };\n",
		 mport, h_dir(), h_maps_dir(), broker_port, broker_port, hport);
	pid_t bridge = h_bridge_start(h_write_file("bridge.conf", conf), mport, "bridge.log");
	h_ok(bridge > 0 && h_wait_port(hport, 5000) == 0, "the bridge serves the page");

	/* The PowerGo's first poll has filled the cache (the page shows the
	 * cache; it never asks the device itself). */
	char url[128], api[160];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", hport);
	snprintf(api, sizeof api, "%sapi/v1/devices/garage/registers", url);
	const char *cu[] = {"curl", "-s", api, NULL};
	int filled = 0;
	for (int i = 0; i < 100 && !filled; i++) {
		filled = h_run(cu, dom, sizeof dom, 5000) == 0 &&
			 strstr(dom, "\"name\":\"total_discharge_energy\"") &&
			 !strstr(dom, "\"name\":\"total_discharge_energy\",\"address\":541,"
				      "\"table\":\"holding\",\"access\":\"r\",\"raw\":null");
		if (!filled)
			h_sleep_ms(100);
	}
	h_ok(filled, "the PowerGo's registers are in the cache");

	int rc = h_chromium(url, "--dump-dom", NULL, dom, sizeof dom);
	h_ok(rc == 0 && strstr(dom, "data-loaded=\"yes\""),
	     "chromium ran the page's script to the end (status %d)", rc);
	h_ok(strstr(dom, "id=\"health-garage\"") && strstr(dom, "id=\"health-scratch\"") &&
		 strstr(dom, "id=\"device-garage\"") && strstr(dom, "id=\"device-scratch\""),
	     "the page shows both devices by name");
	h_ok(row_has("garage", "<td class=\"up\" data-health=\"answering\" title=\"link up\">"
			       "answering</td>"),
	     "the page shows the PowerGo battery answering, in green");
	/* The document's status example: 541-542 = e2 40 00 01 -> 12345.6 kWh. */
	h_ok(has_cell("total_discharge_energy", "12345.6"),
	     "the PowerGo's total discharge energy as the simulator holds it: 12345.6");
	h_ok(has_cell("energy", "12345.6") && has_cell("label", "modbridge") &&
		 has_cell("s16", "-1234"),
	     "the memory device's values: scaled, string and signed");
	h_ok(strstr(dom, "<option value=\"operating_mode\">") != NULL &&
		 strstr(dom, "<option value=\"setpoint\">") != NULL,
	     "the write form offers the writable registers");
	if (!strstr(dom, "data-loaded"))
		h_note("dom: %.500s", dom);

	/* The attic battery stops answering behind a broker that stays up:
	 * the page says so in words and red, not "link up" in green, and
	 * shows its cached values as stale (device health, docs/design.md). */
	char attic[160];
	const char *ca[] = {"curl", "-s", attic, NULL};
	snprintf(attic, sizeof attic, "%sapi/v1/devices/attic", url);
	int answering = 0;
	for (int i = 0; i < 150 && !answering; i++) {
		answering = h_run(ca, dom, sizeof dom, 5000) == 0 &&
			    strstr(dom, "\"health\":\"answering\"");
		if (!answering)
			h_sleep_ms(100);
	}
	h_ok(answering, "the attic battery answers");
	h_ok(h_sim_tell(broker_port, "sim/powergo/" DEV2 "/mode", "silent", h_path("sim2.log"),
			"mode silent", 10000),
	     "the attic battery goes silent");
	int silent = 0;
	for (int i = 0; i < 150 && !silent; i++) {
		silent = h_run(ca, dom, sizeof dom, 5000) == 0 &&
			 strstr(dom, "\"health\":\"not_answering\"");
		if (!silent)
			h_sleep_ms(100);
	}
	h_ok(silent, "the REST API says the attic battery is not answering");
	rc = h_chromium(url, "--dump-dom", NULL, dom, sizeof dom);
	int cell = row_has("attic", "<td class=\"down\" data-health=\"not_answering\" "
				    "title=\"link up\">not answering since ");
	h_ok(rc == 0 && cell, "the page shows the attic battery not answering since a time, in "
			      "red, its link up");
	h_ok(row_has("garage", "data-health=\"answering\"") &&
		 row_has("scratch", "data-health=\"answering\""),
	     "the other devices answer");
	h_ok(strstr(dom, "<td class=\"num stale\" data-reg=\"pack_soc\"") != NULL,
	     "the page marks the attic battery's cached values stale");
	h_ok(has_cell("energy", "12345.6") && has_cell("total_discharge_energy", "12345.6") &&
		 !strstr(dom, "<td class=\"num stale\" data-reg=\"energy\"") &&
		 !strstr(dom, "<td class=\"num stale\" data-reg=\"total_discharge_energy\""),
	     "the other devices' values are not stale");
	if (!cell)
		h_note("dom: %.2000s",
		       strstr(dom, "health-attic") ? strstr(dom, "health-attic") : dom);
	h_ok(h_sim_tell(broker_port, "sim/powergo/" DEV2 "/mode", "normal", h_path("sim2.log"),
			"mode normal", 10000),
	     "the attic battery answers again");
	int back = 0;
	for (int i = 0; i < 150 && !back; i++) {
		back = h_run(ca, dom, sizeof dom, 5000) == 0 &&
		       strstr(dom, "\"health\":\"answering\"");
		if (!back)
			h_sleep_ms(100);
	}
	rc = h_chromium(url, "--dump-dom", NULL, dom, sizeof dom);
	/* (The page's script holds the words too: look for them as a cell's
	 * text.) */
	if (!h_ok(back && rc == 0 && row_has("attic", "data-health=\"answering\"") &&
		      !strstr(dom, "\">not answering since ") &&
		      !strstr(dom, "<td class=\"num stale\" data-reg=\"pack_soc\""),
		  "then the page shows it answering again, its values current"))
		h_note("REST answering %d, chromium %d, the DOM in %s", back, rc,
		       h_write_file("dom.html", dom));

	const char *shot = getenv("WEB_SCREENSHOT");
	char arg[600];
	snprintf(arg, sizeof arg, "--screenshot=%s", shot && *shot ? shot : h_path("page.png"));
	rc = h_chromium(url, arg, "--window-size=1200,900", out, sizeof out);
	struct stat st;
	h_ok(rc == 0 && stat(shot && *shot ? shot : h_path("page.png"), &st) == 0 &&
		 st.st_size > 10000,
	     "a screenshot of the page");

	h_ok(h_bridge_stop(bridge) == 0, "the bridge stops cleanly");
	h_stop(sim, 3000);
	h_stop(sim2, 3000);
	h_stop(broker, 3000);
	cross_site_form();
	return h_done();
}

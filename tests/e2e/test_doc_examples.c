/* The examples of the docs that are not shell commands (the man pages'
 * EXAMPLE sections and the example payloads);
 * tests/e2e/test_docs.c runs the commands, tests/e2e/test_doc_yaml.c checks
 * the YAML.
 *
 * Configs, each through `modbridge --check`, which must pass without a
 * warning:
 *   - modbridge.conf(5)'s EXAMPLE section (roff escapes undone);
 *   - init/modbridge.conf.example as shipped, and with its commented `http`,
 *     `mqtt_export` and `influxdb` groups uncommented (the summary must name
 *     all three);
 *   - docs/evcc.md's SDM630 device (its text says reads between polls are
 *     answered from the cache: no max_age warning).
 * Payloads of docs/user-guide.md, against the maps (map.h, loaded from
 * maps/) and the guide's own example config (its devices' names, units and
 * maps):
 *   - every JSON registers document (MQTT export, REST): the device, unit and
 *     map agree with the config; every register exists in the map with that
 *     address, table, access and unit, its value is raw x scale (numbers) or
 *     text (strings);
 *   - the MQTT status document: protocol and trust are its map's;
 *   - every InfluxDB line: tags device and map as in the config, a field per
 *     register of the map, an integer (57i) exactly for an integer type
 *     without a scale, a string exactly for a string register.
 * What the daemon logs:
 *   - the user guide's SIGUSR1 example line has the keys, in order, of the
 *     line the daemon logs;
 *   - -v logs a successful native read (a Solarman device's poll, against
 *     tests/sim/sim_solarman). */
#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "map.h"

static char out[65536];

/* The whole of a repository file (malloc'd), or NULL. */
static char *slurp(const char *rel)
{
	FILE *f = fopen(h_repo_file(rel), "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, k;
	char chunk[4096];
	if (!f)
		return NULL;
	while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (len + k + 1 > cap) {
			cap = (len + k + 1) * 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		memcpy(buf + len, chunk, k);
		len += k;
	}
	fclose(f);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Replace every `from` in s (in place; to is not longer than from). */
static void replace_all(char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to);
	for (char *p = s; (p = strstr(p, from));) {
		memcpy(p, to, tl);
		memmove(p + tl, p + fl, strlen(p + fl) + 1);
		p += tl;
	}
}

/* --check of a config text (maps_path put first); 1 when it passes
 * without a warning. */
static int check_clean(const char *name, const char *text, const char *what)
{
	size_t n = strlen(text) + 512;
	char *full = malloc(n);
	if (!full)
		return 0;
	snprintf(full, n, "maps_path = [ \"%s\" ];\n%s", h_maps_dir(), text);
	int rc = h_run_bridge("--check", h_write_file(name, full), out, sizeof out);
	free(full);
	return h_ok(rc == 0 && strstr(out, ": OK, ") && !strstr(out, "warning"),
		    "%s: --check passes without a warning (exit %d: %.600s)", what, rc, out);
}

/* ------------------------------------------------------------ configs -- */

static void man_example(void)
{
	char *man = slurp("docs/man/modbridge.conf.5");
	char *sh = man ? strstr(man, "\n.SH EXAMPLE") : NULL;
	char *ex = sh ? strstr(sh, "\n.EX\n") : NULL;
	char *ee = ex ? strstr(ex, "\n.EE") : NULL;
	if (!h_ok(ee != NULL, "modbridge.conf(5) has an EXAMPLE section with .EX/.EE")) {
		free(man);
		return;
	}
	*ee = '\0';
	char *text = ex + strlen("\n.EX\n");
	replace_all(text, "\\-", "-");
	replace_all(text, "\\e", "\\");
	check_clean("man_example.conf", text, "modbridge.conf(5) EXAMPLE");
	free(man);
}

/* The example config without its maps_path line (check_clean sets one). */
static char *example_config(void)
{
	char *s = slurp("init/modbridge.conf.example");
	char *mp = s ? strstr(s, "\nmaps_path = ") : NULL;
	if (mp) {
		char *end = strchr(mp + 1, '\n');
		memmove(mp, end ? end : mp + strlen(mp), strlen(end ? end : mp + strlen(mp)) + 1);
	}
	return s;
}

static void example_config_groups(void)
{
	char *s = example_config();
	if (!h_ok(s != NULL, "init/modbridge.conf.example read"))
		return;
	check_clean("example.conf", s, "init/modbridge.conf.example");
	/* Uncomment the groups: "# http = {" .. "# };" lose their "# ". */
	static const char *const groups[] = {"# http = {", "# mqtt_export = {", "# influxdb = {"};
	int found = 0;
	for (size_t g = 0; g < 3; g++) {
		char *at = strstr(s, groups[g]);
		if (!at || (at != s && at[-1] != '\n'))
			continue;
		found++;
		for (char *line = at; line && *line;) {
			int last = strncmp(line, "# };", 4) == 0;
			if (strncmp(line, "# ", 2) == 0)
				memmove(line, line + 2, strlen(line + 2) + 1);
			else if (line[0] == '#')
				memmove(line, line + 1, strlen(line + 1) + 1);
			if (last)
				break;
			line = strchr(line, '\n');
			line = line ? line + 1 : NULL;
		}
	}
	h_ok(found == 3,
	     "the example config has commented http, mqtt_export and influxdb groups "
	     "(%d of 3)",
	     found);
	if (check_clean("example_groups.conf", s,
			"init/modbridge.conf.example with its optional groups uncommented"))
		h_ok(strstr(out, "http on ") && strstr(out, "mqtt_export to ") &&
			 strstr(out, "influxdb v1 to "),
		     "--check names the http, mqtt_export and influxdb groups: %.600s", out);
	free(s);
}

/* The ``` block of docs/evcc.md that configures the SDM630. */
static void evcc_sdm630(void)
{
	char *s = slurp("docs/evcc.md");
	char *dev = s ? strstr(s, "map = \"sdm630\"") : NULL;
	char *open = dev, *close = dev ? strstr(dev, "\n```") : NULL;
	while (open && open > s && strncmp(open, "\n```\n", 5) != 0)
		open--;
	if (!h_ok(dev && close && open > s, "docs/evcc.md configures the SDM630 in a ``` block")) {
		free(s);
		return;
	}
	*close = '\0';
	char *text = open + 5;
	/* the line with a C comment stands for the battery ("as above"): left out */
	for (char *l = text; l && *l;) {
		char *nl = strchr(l, '\n');
		if (strstr(l, "/*") && (!nl || strstr(l, "/*") < nl))
			memmove(l, nl ? nl + 1 : l + strlen(l),
				strlen(nl ? nl + 1 : l + strlen(l)) + 1);
		else
			l = nl ? nl + 1 : NULL;
	}
	check_clean("sdm630.conf", text, "docs/evcc.md's SDM630 device");
	free(s);
}

/* ----------------------------------------------------------- payloads -- */

/* The user guide's example config: name -> unit, map. */
static struct {
	char name[32], map[32];
	int unit;
} devs[16];
static int ndevs;

static void guide_devices(const char *guide)
{
	for (const char *p = guide; (p = strstr(p, "{ name = \"")) && ndevs < 16; p++) {
		int unit;
		char name[32], map[32];
		if (sscanf(p, "{ name = \"%31[^\"]\"; unit_id = %d; map = \"%31[^\"]\"", name,
			   &unit, map) == 3) {
			int seen = 0;
			for (int i = 0; i < ndevs; i++)
				seen |= strcmp(devs[i].name, name) == 0;
			if (seen)
				continue;
			snprintf(devs[ndevs].name, sizeof devs[0].name, "%s", name);
			snprintf(devs[ndevs].map, sizeof devs[0].map, "%s", map);
			devs[ndevs++].unit = unit;
		}
	}
}

static int device_is(const char *name, int unit, const char *map)
{
	for (int i = 0; i < ndevs; i++)
		if (strcmp(devs[i].name, name) == 0)
			return (unit < 0 || devs[i].unit == unit) && strcmp(devs[i].map, map) == 0;
	return 0;
}

static struct map *load_map(const char *name)
{
	const char *dirs[] = {h_maps_dir()};
	char err[512];
	return map_load_named(dirs, 1, name, err, sizeof err);
}

static const char *access_name(int a)
{
	return a == MAP_RW ? "rw" : a == MAP_W ? "w" : "r";
}

static json_object *jget(json_object *o, const char *k)
{
	json_object *v = NULL;
	return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static void registers_document(json_object *d, int line)
{
	const char *dn = json_object_get_string(jget(d, "device"));
	const char *mn = json_object_get_string(jget(d, "map"));
	int unit = json_object_get_int(jget(d, "unit_id"));
	h_ok(dn && mn && device_is(dn, unit, mn),
	     "user-guide.md:%d: registers document of %s (unit %d, map %s): a device of the "
	     "guide's config",
	     line, dn ? dn : "?", unit, mn ? mn : "?");
	struct map *m = mn ? load_map(mn) : NULL;
	if (!h_ok(m != NULL, "user-guide.md:%d: map %s loads", line, mn ? mn : "?"))
		return;
	json_object *regs = jget(d, "registers");
	for (size_t i = 0; regs && i < json_object_array_length(regs); i++) {
		json_object *e = json_object_array_get_idx(regs, i);
		const char *name = json_object_get_string(jget(e, "name"));
		const struct map_register *r = name ? map_find_name(m, name) : NULL;
		char why[200] = "";
		json_object *raw = jget(e, "raw"), *val = jget(e, "value"), *u = jget(e, "unit");
		const char *tbl = json_object_get_string(jget(e, "table"));
		const char *acc = json_object_get_string(jget(e, "access"));
		if (!r)
			snprintf(why, sizeof why, "no register %s in map %s", name ? name : "?",
				 mn);
		else if (json_object_get_int(jget(e, "address")) != r->address)
			snprintf(why, sizeof why, "%s is at %u", r->name, r->address);
		else if (!tbl || strcmp(tbl, r->table == MAP_INPUT ? "input" : "holding") != 0)
			snprintf(why, sizeof why, "%s is in another table", r->name);
		else if (!acc || strcmp(acc, access_name(r->access)) != 0)
			snprintf(why, sizeof why, "%s has access %s", r->name,
				 access_name(r->access));
		else if ((r->unit == NULL) != (u == NULL) ||
			 (r->unit && strcmp(r->unit, json_object_get_string(u)) != 0))
			snprintf(why, sizeof why, "%s has unit %s", r->name,
				 r->unit ? r->unit : "none");
		else if (r->type == MAP_STRING &&
			 (raw || !json_object_is_type(val, json_type_string)))
			snprintf(why, sizeof why, "%s is a string: raw null, value text", r->name);
		else if (r->type != MAP_STRING && r->type != MAP_FLOAT32 &&
			 (!raw || fabs(json_object_get_double(val) -
				       (double)json_object_get_int64(raw) * r->scale) > 1e-9))
			snprintf(why, sizeof why, "%s: value is not raw x %g", r->name, r->scale);
		h_ok(!why[0], "user-guide.md:%d: %s.%s%s%s", line, dn ? dn : "?", name ? name : "?",
		     why[0] ? ": " : " agrees with its map", why);
	}
	map_free(m);
}

static void status_document(json_object *d, int line)
{
	const char *mn = json_object_get_string(jget(d, "map"));
	const char *pr = json_object_get_string(jget(d, "protocol"));
	const char *tr = json_object_get_string(jget(d, "trust"));
	struct map *m = mn ? load_map(mn) : NULL;
	h_ok(m && pr && tr && strcmp(pr, map_protocol(m)) == 0 && strcmp(tr, map_trust(m)) == 0,
	     "user-guide.md:%d: status document of map %s: protocol %s, trust %s (the map's: "
	     "%s, %s)",
	     line, mn ? mn : "?", pr ? pr : "?", tr ? tr : "?", m ? map_protocol(m) : "?",
	     m ? map_trust(m) : "?");
	if (m)
		map_free(m);
}

/* "modbridge,device=D,map=M f=v,f=v T" */
static void influx_line(const char *l, int line)
{
	char dev[32], mn[32], fields[1024];
	if (!h_ok(sscanf(l, "modbridge,device=%31[^,],map=%31[^ ] %1023[^\n]", dev, mn, fields) ==
		      3,
		  "user-guide.md:%d: line protocol: tags device and map, fields", line))
		return;
	h_ok(device_is(dev, -1, mn),
	     "user-guide.md:%d: line of %s (map %s): a device of the "
	     "guide's config",
	     line, dev, mn);
	struct map *m = load_map(mn);
	if (!h_ok(m != NULL, "user-guide.md:%d: map %s loads", line, mn))
		return;
	/* Cut the time stamp: the last space outside quotes. */
	char *p = fields, *last_space = NULL;
	for (int q = 0; *p; p++) {
		if (*p == '"')
			q = !q;
		else if (*p == ' ' && !q)
			last_space = p;
	}
	if (last_space)
		*last_space = '\0';
	for (char *f = fields; f && *f;) {
		char *end = f;
		for (int q = 0; *end && (q || *end != ','); end++)
			if (*end == '"')
				q = !q;
		char save = *end;
		*end = '\0';
		char *eq = strchr(f, '=');
		char why[1200] = "";
		if (!eq) {
			snprintf(why, sizeof why, "no '='");
		} else {
			*eq = '\0';
			const char *v = eq + 1;
			size_t vl = strlen(v);
			const struct map_register *r = map_find_name(m, f);
			int is_int = vl && v[vl - 1] == 'i', is_str = v[0] == '"';
			if (!r)
				snprintf(why, sizeof why, "no register %s in map %s", f, mn);
			else if (is_str != (r->type == MAP_STRING))
				snprintf(why, sizeof why,
					 "%s: a string exactly for a string register", f);
			else if (!is_str && is_int != (r->type != MAP_FLOAT32 && r->scale == 1.0))
				snprintf(why, sizeof why,
					 "%s: an integer (i) exactly for an integer type without a "
					 "scale",
					 f);
		}
		h_ok(!why[0], "user-guide.md:%d: influx field %s%s%s", line, f, why[0] ? ": " : "",
		     why);
		if (!save)
			break;
		f = end + 1;
	}
	map_free(m);
}

static void guide_payloads(void)
{
	char *g = slurp("docs/user-guide.md");
	int docs = 0, lines = 0, status = 0;
	if (!h_ok(g != NULL, "docs/user-guide.md read"))
		return;
	guide_devices(g);
	h_ok(ndevs >= 3, "the user guide's example config has devices (%d)", ndevs);
	int line = 1, in = 0, json = 0, start = 0;
	size_t blen = 0;
	char block[8192];
	for (char *l = g; l && *l; line++) {
		char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (!in && strncmp(l, "```", 3) == 0) {
			in = 1;
			json = strncmp(l, "```json", 7) == 0;
			start = line + 1;
			blen = 0;
		} else if (in && strncmp(l, "```", 3) == 0) {
			in = 0;
			block[blen] = '\0';
			if (json) {
				replace_all(block, ", ...", "");
				json_object *d = json_tokener_parse(block);
				if (d && jget(d, "registers")) {
					registers_document(d, start);
					docs++;
				} else if (d && jget(d, "trust")) {
					status_document(d, start);
					status++;
				}
				json_object_put(d);
			}
		} else if (in) {
			if (strncmp(l, "modbridge,device=", 17) == 0) {
				char one[1100];
				snprintf(one, sizeof one, "%.*s", (int)len, l);
				influx_line(one, line);
				lines++;
			}
			if (blen + len + 2 < sizeof block) {
				memcpy(block + blen, l, len);
				blen += len;
				block[blen++] = '\n';
			}
		}
		l = nl ? nl + 1 : NULL;
	}
	h_ok(docs >= 1 && lines >= 1 && status >= 1,
	     "the user guide's payloads were checked: %d registers documents, %d status, %d "
	     "InfluxDB lines",
	     docs, status, lines);
	free(g);
}

/* ------------------------------------------------------ what is logged -- */

/* The keys of a counters line: each word followed by a number. */
static void keys_of(const char *l, char *keys, size_t n)
{
	char buf[1024];
	const char *w[128];
	int k = 0;
	snprintf(buf, sizeof buf, "%s", l);
	for (char *save = NULL, *t = strtok_r(buf, " \n", &save); t && k < 128;
	     t = strtok_r(NULL, " \n", &save))
		w[k++] = t;
	keys[0] = '\0';
	for (int i = 0; i + 1 < k; i++)
		if (isdigit((unsigned char)w[i + 1][0]) && !isdigit((unsigned char)w[i][0]) &&
		    strlen(keys) + strlen(w[i]) + 2 < n) {
			strcat(keys, w[i]);
			strcat(keys, " ");
		}
}

static void sigusr1_line(void)
{
	char *g = slurp("docs/user-guide.md");
	char *at = g ? strstr(g, "\ngarage: unit 1 link up requests ") : NULL;
	char doc_keys[512] = "", log_keys[512] = "";
	if (!h_ok(at != NULL, "the user guide has a SIGUSR1 example line")) {
		free(g);
		return;
	}
	char *nl = strchr(at + 1, '\n');
	if (nl)
		*nl = '\0';
	keys_of(at + 1, doc_keys, sizeof doc_keys);
	free(g);

	int port = h_free_port();
	char conf[512];
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\nmaps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"garage\"; unit_id = 1; map = \"scratch\"; memory = { }; } "
		 ");\n",
		 port, h_maps_dir());
	pid_t b = h_bridge_start(h_write_file("usr1.conf", conf), port, "usr1.log");
	const char *log = h_path("usr1.log");
	if (!h_ok(b > 0, "a bridge for SIGUSR1"))
		return;
	h_signal(b, SIGUSR1);
	h_wait_lines(log, "client connections", 1, 5000);
	FILE *f = fopen(log, "r");
	char l[1024];
	while (f && fgets(l, sizeof l, f)) {
		char *s = strstr(l, "garage: unit 1 link ");
		if (s)
			keys_of(s, log_keys, sizeof log_keys);
	}
	if (f)
		fclose(f);
	h_ok(log_keys[0] && strcmp(doc_keys, log_keys) == 0,
	     "the guide's SIGUSR1 line has the daemon's keys: guide \"%s\", daemon \"%s\"",
	     doc_keys, log_keys);
	h_bridge_stop(b);
}

static void verbose_logs_native_reads(void)
{
	int port = h_free_port(), sport = h_free_port();
	char sp[16], conf[768];
	snprintf(sp, sizeof sp, "%d", sport);
	const char *sargv[] = {h_bin("tests/sim/sim_solarman"),
			       "--port",
			       sp,
			       "--serial",
			       "1234567890",
			       "--slave",
			       "1",
			       NULL};
	pid_t sim = h_spawn(sargv, "sim_solarman.log");
	h_ok(sim > 0 && h_wait_port(sport, 5000) == 0, "the Solarman simulator runs");
	snprintf(conf, sizeof conf,
		 "server = { listen = \"127.0.0.1\"; port = %d; };\nmaps_path = [ \"%s\" ];\n"
		 "devices = ( { name = \"roof\"; unit_id = 3; map = \"growatt\"; poll = 20000;\n"
		 "  solarman = { host = \"127.0.0.1\"; port = %d; serial = 1234567890; }; } );\n",
		 port, h_maps_dir(), sport);
	const char *args[] = {"-v", "-c", h_write_file("verbose.conf", conf), NULL};
	pid_t b = h_bridge_spawn(args, "verbose.log");
	const char *log = h_path("verbose.log");
	h_ok(b > 0 && h_wait_port(port, 30000) == 0, "the bridge runs with -v");
	h_ok(h_wait_lines(log, "roof: native read of input", 1, 20000) > 0 &&
		 h_file_contains(log, "): answered"),
	     "-v logs a successful native read of the Solarman device (see %s)", log);
	h_bridge_stop(b);
	h_stop(sim, 2000);
}

int main(void)
{
	h_init("doc_examples");
	man_example();
	example_config_groups();
	evcc_sdm630();
	guide_payloads();
	sigusr1_line();
	verbose_logs_native_reads();
	return h_done();
}

/* Every file a shipped map cites, in a `source` (the map's or a register's),
 * in `verified_by` or in `agrees_with`, is one this test carries in its
 * facts table below, with what the file says that the map relies on; a file
 * of this repository (tests/, docs/, maps/, bridge/) must exist. A map that
 * cites a file nobody has read for it fails here, so a citation cannot be
 * added without the fact it stands for (docs/design.md, "Trust ladder").
 *
 * A citation is a word ending in a file extension (.yaml, .py, .go, .ts,
 * .cpp, .json, .txt, .md, .c); it matches a table entry whose path ends
 * with it at a '/' (the maps often shorten "owner/repo dir/file" to its
 * last parts). An agrees_with `file` is "owner/repo path" and must be an
 * entry exactly. */
#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "map.h"
#include "protocol.h"

/* The files the maps cite and what the maps take from each: the facts, as
 * read in the file (the addresses, tables, widths, word orders and scales
 * themselves are checked per register in tests/unit/test_interop.c). */
static const struct cited {
	const char *repo; /* "owner/repo", or "vendor document" */
	const char *path;
	const char *says;
} cited[] = {
    {"evcc-io/evcc", "templates/definition/meter/deye-storage.yaml",
     "Deye single-phase hybrid over Modbus/Solarman: holding 72/74 battery charge/discharge "
     "totals, 78+80 grid import (low word, high word x 6553.6), 81 export, 96 PV total (uint32 "
     "low word first, x0.1 kWh), 169 grid power, 184 SoC, 186..189 PV powers, 190 battery power"},
    {"evcc-io/evcc", "templates/definition/meter/deye-string.yaml",
     "Deye string inverter: holding 63 energy total and 86 power, uint32 low word first, x0.1"},
    {"evcc-io/evcc", "templates/definition/meter/deye-hybrid-3p.yaml",
     "Deye three-phase LV hybrid: measurements in holding 514..675 and battery settings 108..178"},
    {"evcc-io/evcc", "templates/definition/meter/growatt-hybrid.yaml",
     "Growatt SPH: input 1..2 PV power, 1009..1012 battery power, 1014 SoC, 1015..1022 grid; "
     "holding 1092, 1100..1102 battery first / AC charge"},
    {"evcc-io/evcc", "templates/definition/meter/growatt-hybrid-tlxh.yaml",
     "Growatt TL-X(H): input 3005 PV, 3009/3013/3017 powers, 3041/3043, 3053, 3069, 3127, "
     "3171, 3178, 3180; holding 3038..3039, 3049"},
    {"evcc-io/evcc", "templates/definition/meter/growatt-min-tlxe.yaml",
     "Growatt MIN TL-XE: input 1 PV power, 35 AC power, 55 energy total (high word first, x0.1)"},
    {"evcc-io/evcc", "templates/definition/meter/marstek-venus-e.yaml",
     "Marstek Venus E native Modbus: the addresses and types venus-native serves"},
    {"davidrapan/ha-solarman", "custom_components/solarman/inverter_definitions/deye_hybrid.yaml",
     "Deye single-phase hybrid (protocol V118): the same registers as evcc's deye-storage, "
     "32-bit values listed low word first"},
    {"davidrapan/ha-solarman", "custom_components/solarman/inverter_definitions/deye_string.yaml",
     "Deye string inverter: 63 Total Production, 86 Power"},
    {"davidrapan/ha-solarman", "custom_components/solarman/inverter_definitions/deye_p3.yaml",
     "Deye three-phase hybrid (protocol V118): measurements 514..675, 32-bit low word first"},
    {"WouterTuinstra/Homeassistant-Growatt-Local-Modbus",
     "custom_components/growatt_local/API/device_type/inverter_120.py",
     "Growatt protocol 1.20 inverter input registers, 32-bit high word first, scale 1/10"},
    {"WouterTuinstra/Homeassistant-Growatt-Local-Modbus",
     "custom_components/growatt_local/API/device_type/storage_120.py",
     "Growatt protocol 1.20 storage input registers (1000.., 3000..), high word first"},
    {"WouterTuinstra/Homeassistant-Growatt-Local-Modbus",
     "custom_components/growatt_local/API/device_type/base.py",
     "InverterStatus (0 Waiting .. 12 PV_charge_discharge, applied to the status word & 0x0F), "
     "INVERTER_DERATINGMODES (0..9), INVERTER_FAULTCODES (0, 1..23 generic 100..122, 24..32), "
     "INVERTER_WARNINGCODES (bits 0..9)"},
    {"davidrapan/ha-solarman", "custom_components/solarman/parser.py",
     "_read_registers: a multi-register value is the listed registers, the first the low word"},
    {"esphome/esphome", "esphome/components/growatt_solar/growatt_solar.cpp",
     "Growatt, protocol_version RTU2 (the default is the older RTU layout): one FC04 read of "
     "95 input registers from 0; decodes 0, 1, 3..5, 7..9, 35, 37..49, 53, 55 and 93, "
     "single registers unsigned (encode_uint16), pairs high word first, scales 0.1 except "
     "37 (0.01) and 0 (1)"},
    {"volkszaehler/mbmd", "meters/rs485/sdm.go",
     "Eastron SDM: FC04 input registers, IEEE 754 float32 high word first"},
    {"ilseh/Oppleo", "src/nl/oppleo/utils/modbus/SDM360v2.py",
     "SDM phase 1 voltage (input 0) and power (input 12), float32"},
    {"tomquist/hm2mqtt", "src/device/venus.ts",
     "Marstek Venus over MQTT: cd=1 and cd=14 keys and write commands; cd=14 values passed on "
     "unscaled; set_v read as 0 = 800 W; cp=0..2500"},
    {"tomquist/hm2mqtt", "docs/b2500.md",
     "The B2500 MQTT document: cd=1 runtime keys (pe, kn, do, p1, p2, w1, w2, g1, g2, o1, o2, "
     "vv, cs, cd, lv, md, d1..5/e1..5/f1..5/h1..5 timers as H:M, tl, th, b1, b2, a0..a2, sg, sp, "
     "st, c0, c1, m0..m3, bc, bs, pt, it, lmf); commands cd=4/18 outputs, cd=5/19 depth of "
     "discharge, cd=6 output threshold, cd=7/20 timers a/b/e/v1..3, cd=10 restart, cd=11 "
     "factory reset, cd=17 charging mode; no ret= shown"},
    {"tomquist/hm2mqtt", "src/device/b2500Base.ts",
     "B2500 common keys as read (pe %, kn Wh, do, p1/p2 bits, w1/w2, g1/g2, o1/o2, vv, tl, th, "
     "b1, b2, a0..a2); discharge-depth md 0..100; flash/no-flash cd pairs 5/19, 3/17, 4/18, "
     "7/20"},
    {"tomquist/hm2mqtt", "src/device/b2500V1.ts",
     "B2500 v1 (HMB): cs 0 PV2 pass-through / 1 charge then discharge, lv threshold 0..800 "
     "(cd=6), outputs as bits of cd written with cd=4 md=0..3"},
    {"tomquist/hm2mqtt", "src/device/b2500V2.ts",
     "B2500 v2 (HMA, HMF, HMJ, HMK): five timers dN/eN/fN/hN (output 0..800) written with "
     "cd=20 md=0 aN/bN/eN/vN, md adaptive mode (cd=18), sg, sp, st, c0, c1, m0..m3, bc, bs, "
     "pt, it (Wh), lmo, lmi, lmf"},
    {"tomquist/hm2mqtt", "src/device/jupiter.ts",
     "Jupiter (HMN, HMM, JPLS): Venus-like cd=1 keys (cel_c, cel_p x0.01 kWh, grd_o, pv1_p.."
     "pv4_p, ele_d/m/y and grd_d/m x0.01 kWh, wor_m 1 auto / 2 manual with cd=2, ful_d with "
     "cd=13 full_d=, dod 30..88 with cd=56)"},
    {"tomquist/hm2mqtt", "src/device/ct002.ts",
     "CT002 (HME): cd=1 keys pwr_a, pwr_b, pwr_c, pwr_t (W), ble_s, wif_r, ver_v, wif_s"},
    {"tomquist/hm2mqtt", "src/parser.test.ts",
     "Recorded replies: B2500 HMA-1 full and short runtime replies, Jupiter JPLS-1, CT002 HME-4 "
     "(tests/lib/venus_examples.h carries them verbatim)"},
    {"ViperRNMC/marstek_venus_modbus", "custom_components/marstek_modbus/registers/e_v12.yaml",
     "Marstek Venus E v1/v2 RS-485: 33000 total_charging_energy and 33002 "
     "total_discharging_energy, 2 registers x 0.01 kWh; 44002 max_charge_power 0..2500 W"},
    {"ViperRNMC/marstek_venus_modbus", "custom_components/marstek_modbus/registers/e_v3.yaml",
     "Marstek Venus E v3 RS-485: the same 33000, 33002 and 44002"},
    {"sunspec/models", "json/model_1.json",
     "SunSpec common model 1: ID 1, L 66 after ID and L: Mn 16, Md 16, Opt 8, Vr 8, SN 16 "
     "(strings), DA uint16, Pad (pad); Mn, Md and SN mandatory"},
    {"sunspec/models", "json/model_802.json",
     "SunSpec battery base model 802: L 62, 52 points and 12 sunssf scale factors, offsets and "
     "types as in tests/unit/test_interop.c; ChaSt, Typ, State enums; W 'DC Measurement.' "
     "with sf W_SF (described as the scale of the AC power request); SoC in %WHRtg"},
    {"sunspec/pysunspec2", "sunspec2/mb.py",
     "SUNS_UNIMPL_*: not implemented is 0xFFFF for uint16/enum16/bitfield16, -32768 for "
     "int16 and sunssf, 0xFFFFFFFF for uint32/bitfield32, a string starting with NUL; pad "
     "written as 0 and never tested (is_impl_pad)"},
    {"vendor document", "growatt-modbus-map.txt",
     "Growatt Inverter Modbus RTU Protocol II V1.24: the input and holding registers"},
    {"vendor document", "powergo-mqtt-interface.txt",
     "PowerGo MQTT/Modbus interface: sections 5 (registers) and 6 (examples)"},
    {"vendor document", "venus-mqtt.md", "Marstek Venus MQTT interface, sections 3..15"},
};

static const char *const exts[] = {".yaml", ".yml", ".py", ".go", ".ts", ".cpp",
				   ".json", ".txt", ".md", ".c",  NULL};

static int is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == '/' || c == '+';
}

/* Does the table carry the file of citation w (n characters)? */
static int carried(const char *w, size_t n)
{
	for (size_t i = 0; i < sizeof cited / sizeof cited[0]; i++) {
		size_t pl = strlen(cited[i].path);
		if (n <= pl && memcmp(cited[i].path + pl - n, w, n) == 0 &&
		    (n == pl || cited[i].path[pl - n - 1] == '/'))
			return 1;
	}
	return 0;
}

static int in_repo(const char *w, size_t n)
{
	char rel[256];
	snprintf(rel, sizeof rel, "%.*s", (int)n, w);
	return access(h_repo_file(rel), R_OK) == 0;
}

/* The first citation of text neither carried nor in the repository, into
 * bad; 0 when all are. */
static int uncited(const char *text, char *bad, size_t len)
{
	const char *p = text;
	while (p && *p) {
		while (*p && !is_word(*p))
			p++;
		const char *w = p;
		while (*p && is_word(*p))
			p++;
		size_t n = (size_t)(p - w);
		while (n && (w[n - 1] == '.' || w[n - 1] == '/'))
			n--;
		for (int e = 0; exts[e]; e++) {
			size_t el = strlen(exts[e]);
			if (n <= el || memcmp(w + n - el, exts[e], el) != 0)
				continue;
			int ours = !strncmp(w, "tests/", 6) || !strncmp(w, "docs/", 5) ||
				   !strncmp(w, "maps/", 5) || !strncmp(w, "bridge/", 7);
			if (ours ? !in_repo(w, n) : !carried(w, n)) {
				snprintf(bad, len, "%.*s", (int)n, w);
				return 1;
			}
			break;
		}
	}
	return 0;
}

static int agreement_carried(const char *file)
{
	for (size_t i = 0; i < sizeof cited / sizeof cited[0]; i++) {
		size_t rl = strlen(cited[i].repo);
		if (!strncmp(file, cited[i].repo, rl) && file[rl] == ' ' &&
		    !strcmp(file + rl + 1, cited[i].path))
			return 1;
	}
	return 0;
}

static int setup(void **state)
{
	(void)state;
	h_init("citations");
	return 0;
}

static void check_map(const char *name)
{
	char rel[64], err[2048] = "", bad[256];
	snprintf(rel, sizeof rel, "maps/%s.conf", name);
	struct map *m = map_load(h_repo_file(rel), err, sizeof err);
	if (!m)
		fail_msg("%s", err);
	if (map_source(m) && uncited(map_source(m), bad, sizeof bad))
		fail_msg("%s: source cites %s, which the facts table does not carry", name, bad);
	if (map_verified_by(m) && uncited(map_verified_by(m), bad, sizeof bad))
		fail_msg("%s: verified_by cites %s, which the facts table does not carry", name,
			 bad);
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		if (r->source && uncited(r->source, bad, sizeof bad))
			fail_msg("%s: register %s's source cites %s, which the facts table does "
				 "not carry",
				 name, r->name, bad);
	}
	for (size_t i = 0; i < map_nagreements(m); i++) {
		const struct map_agreement *a = map_agreement(m, i);
		if (!agreement_carried(a->file))
			fail_msg("%s: agrees_with \"%s\" names %s, which the facts table does not "
				 "carry",
				 name, a->name, a->file);
		if (a->covers && uncited(a->covers, bad, sizeof bad))
			fail_msg("%s: agrees_with \"%s\" cites %s, not carried", name, a->name,
				 bad);
	}
	map_free(m);
}

/* Every shipped map. */
static void test_shipped_maps(void **state)
{
	static const char *const names[] = {
	    "deye-hybrid",  "deye-hybrid-3p",  "deye-string",
	    "growatt",	    "growatt-hybrid",  "growatt-hybrid-tlxh",
	    "powergo",	    "powergo-sunspec", "raw",
	    "scratch",	    "sdm630",	       "venus",
	    "venus-native", "venus-sunspec",
	};
	(void)state;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		check_map(names[i]);
}

/* The check catches what it is for: a file nobody read, a path that only
 * shares a suffix, a repository file that does not exist. */
static void test_check_fails(void **state)
{
	char bad[256];
	(void)state;
	assert_int_equal(
	    uncited("evcc templates/definition/meter/deye-storage.yaml (soc)", bad, sizeof bad), 0);
	assert_int_equal(
	    uncited("ha-solarman deye_p3.yaml; growatt-modbus-map.txt", bad, sizeof bad), 0);
	assert_int_equal(uncited("evcc templates/definition/meter/sofar.yaml", bad, sizeof bad), 1);
	assert_string_equal(bad, "templates/definition/meter/sofar.yaml");
	assert_int_equal(uncited("x ye-storage.yaml.", bad, sizeof bad), 1);
	assert_int_equal(uncited("tests/e2e/test_nothing_here.c", bad, sizeof bad), 1);
	assert_int_equal(uncited("tests/unit/test_citations.c", bad, sizeof bad), 0);
	assert_true(agreement_carried("volkszaehler/mbmd meters/rs485/sdm.go"));
	assert_false(agreement_carried("volkszaehler/mbmd sdm.go"));
	assert_false(agreement_carried("evcc-io/evcc templates/definition/meter/sofar.yaml"));
}

/* ------------------------------------------------------------------------
 * The docs cite what the repository holds (HACKING.md, "Docs"): each
 * registered protocol is on the request path of docs/design.md and has its
 * page in docs/protocols/; the files that path names exist; a comment or a
 * doc cites a section that exists, never a tracker entry ("issue N", which
 * nobody reading the repository can open); a relative link of the docs
 * reaches a file, and its #anchor a heading of that file. */

/* A repository file whole, NUL-terminated, or NULL (also for a file that
 * holds a NUL: a binary, such as a fuzz corpus entry). */
static char *slurp(const char *rel)
{
	FILE *f = fopen(h_repo_file(rel), "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb)
				break;
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The request path: the first ``` block after "A request travels" in
 * docs/design.md, into out. */
static int request_diagram(char *out, size_t len)
{
	char *doc = slurp("docs/design.md");
	const char *at = doc ? strstr(doc, "A request travels") : NULL;
	const char *open = at ? strstr(at, "```") : NULL;
	const char *body = open ? strchr(open, '\n') : NULL;
	const char *close = body ? strstr(body, "\n```") : NULL;
	int ok = close != NULL;
	if (ok)
		snprintf(out, len, "%.*s", (int)(close - body), body);
	free(doc);
	return ok;
}

/* Does text hold word as a whole word (letters, digits, '_' around it
 * do not count)? */
static int has_word(const char *text, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
		int before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
		int after = isalnum((unsigned char)p[n]) || p[n] == '_';
		if (!before && !after)
			return 1;
	}
	return 0;
}

/* Every protocol this build registers, and those it left out (a slim build
 * still documents them), in turn; NULL after the last. */
static const char *protocol_name(size_t i)
{
	if (i < protocol_count())
		return protocol_at(i)->name;
	return protocol_left_out(i - protocol_count());
}

static void test_protocols_documented(void **state)
{
	char diagram[4096], rel[128];
	(void)state;
	assert_true(request_diagram(diagram, sizeof diagram));
	assert_true(protocol_count() >= 5);
	for (size_t i = 0; protocol_name(i); i++) {
		const char *name = protocol_name(i);
		if (!has_word(diagram, name))
			fail_msg("docs/design.md's request path (\"A request travels like this\") "
				 "leaves out the registered protocol %s:\n%s",
				 name, diagram);
		snprintf(rel, sizeof rel, "docs/protocols/%s.md", name);
		if (access(h_repo_file(rel), R_OK) != 0)
			fail_msg("the registered protocol %s has no page %s", name, rel);
	}
}

/* Every file the request path names (a word ending in .c or .h; `tr_*.c`
 * stands for the transports) is one of the tree, so that the path can be
 * followed by file names. */
static void test_request_path_files(void **state)
{
	char diagram[4096], rel[160];
	int files = 0;
	(void)state;
	assert_true(request_diagram(diagram, sizeof diagram));
	for (const char *p = diagram; *p;) {
		while (*p && !(isalnum((unsigned char)*p) || *p == '_'))
			p++;
		const char *w = p;
		while (*p && (isalnum((unsigned char)*p) || *p == '_' || *p == '.' || *p == '*'))
			p++;
		size_t n = (size_t)(p - w);
		while (n && w[n - 1] == '.')
			n--;
		if (n < 3 || w[n - 2] != '.' || (w[n - 1] != 'c' && w[n - 1] != 'h'))
			continue;
		if (memchr(w, '*', n))
			continue; /* a family: tr_*.c, codec_*.c */
		snprintf(rel, sizeof rel, "%s/%.*s", w[n - 1] == 'c' ? "bridge" : "include", (int)n,
			 w);
		if (access(h_repo_file(rel), R_OK) != 0)
			fail_msg("docs/design.md's request path names %.*s, which is not %s",
				 (int)n, w, rel);
		files++;
	}
	assert_true(files >= 8);
}

/* Where text cites a tracker entry (the word issue, or issues, then a
 * number, maybe on the next line of a comment): the offset of the first
 * such citation, else -1. Another project's issue named by its title in
 * quotes is not one. (The examples below are split in two literals, so that
 * this file passes its own check.) */
static long tracker_citation(const char *text)
{
	for (const char *w = text; *w; w++) {
		if (strncasecmp(w, "issue", 5) != 0 || (w > text && isalnum((unsigned char)w[-1])))
			continue;
		const char *q = w + 5;
		if (*q == 's' || *q == 'S')
			q++;
		const char *gap = q;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '*' || *q == '#' || *q == '/')
			q++;
		if (q > gap && isdigit((unsigned char)*q))
			return (long)(w - text);
	}
	return -1;
}

/* Every text file under dir (recursively) or the file itself. */
static int tracker_bad;

static void scan_tracker(const char *rel, int *files)
{
	DIR *d = opendir(h_repo_file(rel));
	if (!d) {
		char *text = slurp(rel);
		if (!text)
			return;
		long at = tracker_citation(text);
		if (at >= 0) {
			int line = 1;
			for (long i = 0; i < at; i++)
				line += text[i] == '\n';
			print_message("%s:%d cites a tracker entry (\"%.*s\"): cite the section "
				      "of docs/design.md, or the doc, that says it\n",
				      rel, line, 16, text + at);
			tracker_bad++;
		}
		free(text);
		(*files)++;
		return;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		char sub[512];
		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
		scan_tracker(sub, files);
	}
	closedir(d);
}

static void test_no_tracker_citations(void **state)
{
	static const char *const roots[] = {"bridge", "include",    "tests",	 "docs",    "maps",
					    "init",   "HACKING.md", "README.md", "Makefile"};
	int files = 0;
	(void)state;
	/* the check itself: what counts as such a citation, and what does not */
	assert_true(tracker_citation("or start any wait (issue"
				     " 12, item 3). */") >= 0);
	assert_true(tracker_citation("/* Issue\n"
				     " * 23: after silent answers") >= 0);
	assert_true(tracker_citation("# Targets (issues"
				     " 31 and 32):") >= 0);
	assert_true(tracker_citation("hm2mqtt issue \"maximum_charging_power: -2500.0\"") < 0);
	assert_true(tracker_citation("tissue 3") < 0);
	assert_true(tracker_citation("the issue is 2 s long") < 0);
	for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
		scan_tracker(roots[i], &files);
	assert_true(files > 100);
	if (tracker_bad)
		fail_msg("%d files cite tracker entries", tracker_bad);
}

/* GitHub's anchor of a heading: lower case, letters, digits, '-' and '_'
 * kept, a space made '-', everything else (backticks, punctuation, a dash
 * of another kind) dropped. */
static void slug(const char *heading, size_t n, char *out, size_t len)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < len; i++) {
		unsigned char c = (unsigned char)heading[i];
		if (isalnum(c) || c == '-' || c == '_')
			out[k++] = (char)tolower(c);
		else if (c == ' ')
			out[k++] = '-';
	}
	out[k] = '\0';
}

/* Does the markdown text have a heading whose anchor is anchor (duplicates
 * numbered -1, -2, ... as GitHub does)? */
static int has_anchor(const char *text, const char *anchor)
{
	char seen[256][128], s[128];
	size_t nseen = 0;
	int fence = 0;
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		if (n >= 3 && strncmp(line, "```", 3) == 0)
			fence = !fence;
		if (!fence && n > 1 && line[0] == '#') {
			size_t h = 0;
			while (h < n && line[h] == '#')
				h++;
			while (h < n && line[h] == ' ')
				h++;
			slug(line + h, n - h, s, sizeof s);
			int dup = 0;
			for (size_t i = 0; i < nseen; i++)
				dup += strcmp(seen[i], s) == 0;
			if (nseen < 256)
				snprintf(seen[nseen++], sizeof seen[0], "%s", s);
			if (dup)
				snprintf(s + strlen(s), sizeof s - strlen(s), "-%d", dup);
			if (strcmp(s, anchor) == 0)
				return 1;
		}
		line = end ? end + 1 : NULL;
	}
	return 0;
}

/* The first relative link of the markdown file rel that leads nowhere,
 * into bad; 0 when every one arrives. Code spans and fenced blocks are not
 * links. */
static int broken_link(const char *rel, char *bad, size_t len)
{
	char *text = slurp(rel), dir[320], target[512], path[900];
	int fence = 0, code = 0, found = 0;
	if (!text) {
		snprintf(bad, len, "%.300s: cannot read it", rel);
		return 1;
	}
	snprintf(dir, sizeof dir, "%s", rel);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[1] = '\0';
	else
		dir[0] = '\0';
	for (const char *p = text; *p && !found; p++) {
		if ((p == text || p[-1] == '\n') && strncmp(p, "```", 3) == 0)
			fence = !fence;
		if (fence)
			continue;
		if (*p == '`')
			code = !code;
		if (code || p[0] != ']' || p[1] != '(')
			continue;
		const char *t = p + 2, *e = strpbrk(t, ") \n");
		if (!e || *e != ')')
			continue;
		snprintf(target, sizeof target, "%.*s", (int)(e - t), t);
		if (strstr(target, "://") || strncmp(target, "mailto:", 7) == 0)
			continue;
		char *hash = strchr(target, '#');
		const char *anchor = NULL;
		if (hash) {
			*hash = '\0';
			anchor = hash + 1;
		}
		if (target[0])
			snprintf(path, sizeof path, "%.320s%.512s", dir, target);
		else
			snprintf(path, sizeof path, "%.300s", rel);
		int line = 1;
		for (const char *q = text; q < p; q++)
			line += *q == '\n';
		if (access(h_repo_file(path), R_OK) != 0) {
			snprintf(bad, len, "%.200s:%d: %.300s: no such file", rel, line, path);
			found = 1;
		} else if (anchor && *anchor) {
			char *doc = slurp(path);
			if (!doc || !has_anchor(doc, anchor)) {
				snprintf(bad, len, "%.200s:%d: %.300s has no heading #%.200s", rel,
					 line, path, anchor);
				found = 1;
			}
			free(doc);
		}
	}
	free(text);
	return found;
}

static void test_doc_links(void **state)
{
	char bad[1024];
	int files = 0, broken = 0;
	(void)state;
	/* the check itself */
	assert_true(has_anchor("# A\n## `modbus` — Modbus equipment on RS-485\n",
			       "modbus--modbus-equipment-on-rs-485"));
	assert_true(has_anchor("## Odd values\n### Odd values\n", "odd-values-1"));
	assert_false(has_anchor("```\n# not a heading\n```\n", "not-a-heading"));
	assert_false(has_anchor("## Odd values\n", "odd-value"));
	static const char *const dirs[] = {"", "docs/", "docs/protocols/"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		DIR *d = opendir(h_repo_file(dirs[i][0] ? dirs[i] : "."));
		for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
			size_t l = strlen(e->d_name);
			char rel[300];
			if (l < 4 || strcmp(e->d_name + l - 3, ".md") != 0 ||
			    strcmp(e->d_name, "CHANGELOG.md") == 0)
				continue;
			snprintf(rel, sizeof rel, "%s%s", dirs[i], e->d_name);
			if (broken_link(rel, bad, sizeof bad)) {
				print_message("%s\n", bad);
				broken++;
			}
			files++;
		}
		if (d)
			closedir(d);
	}
	assert_true(files >= 10);
	if (broken)
		fail_msg("%d files have a link that leads nowhere", broken);
}

/* A citation of a design section (the file name, a comma, the title in
 * double quotes; a comment's quote may run over
 * lines, each begun with `*`, `#` or `//`) names a heading of
 * docs/design.md: the title whole, or up to a ':' or " (" of the heading. */
static int design_heading(const char *design, const char *title)
{
	size_t n = strlen(title);
	for (const char *line = design; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		if (line[0] == '#') {
			size_t h = 0;
			while (h < len && line[h] == '#')
				h++;
			while (h < len && line[h] == ' ')
				h++;
			const char *t = line + h;
			size_t tl = len - h;
			if (tl >= n && strncmp(t, title, n) == 0 &&
			    (tl == n || t[n] == ':' || (t[n] == ' ' && t[n + 1] == '(')))
				return 1;
		}
		line = end ? end + 1 : NULL;
	}
	return 0;
}

static int design_bad;

static void scan_design_citations(const char *rel, const char *design, int *cites)
{
	DIR *d = opendir(h_repo_file(rel));
	if (d) {
		for (struct dirent *e; (e = readdir(d)) != NULL;) {
			char sub[512];
			if (e->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name);
			scan_design_citations(sub, design, cites);
		}
		closedir(d);
		return;
	}
	char *text = slurp(rel);
	for (const char *p = text; p && (p = strstr(p, "design.md")) != NULL; p++) {
		const char *q = p + 9;
		while (*q == ',' || *q == ':' || *q == ' ')
			q++;
		if (*q != '"' || q == p + 9)
			continue;
		char title[256];
		size_t k = 0;
		for (q++; *q && *q != '"' && k + 1 < sizeof title; q++) {
			if (*q == '\n') {
				while (q[1] == ' ' || q[1] == '\t' || q[1] == '*' || q[1] == '#' ||
				       q[1] == '/')
					q++;
				title[k++] = ' ';
				continue;
			}
			title[k++] = *q;
		}
		title[k] = '\0';
		if (strcmp(title, "Section title") == 0)
			continue; /* HACKING's and the design's own example */
		int line = 1;
		for (const char *r = text; r < p; r++)
			line += *r == '\n';
		if (!design_heading(design, title)) {
			print_message("%s:%d cites docs/design.md, \"%s\": no such section\n", rel,
				      line, title);
			design_bad++;
		}
		(*cites)++;
	}
	free(text);
}

static void test_design_citations(void **state)
{
	static const char *const roots[] = {"bridge", "include", "tests",      "docs",
					    "maps",   "init",	 "HACKING.md", "README.md"};
	char *design = slurp("docs/design.md");
	int cites = 0;
	(void)state;
	assert_non_null(design);
	assert_true(design_heading(design, "Answers bound to their requests"));
	assert_true(design_heading(design, "Protocols"));
	assert_false(design_heading(design, "Answers bound"));
	for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++)
		scan_design_citations(roots[i], design, &cites);
	free(design);
	assert_true(cites > 20);
	if (design_bad)
		fail_msg("%d citations of docs/design.md name no section", design_bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_fails),		 cmocka_unit_test(test_shipped_maps),
	    cmocka_unit_test(test_protocols_documented), cmocka_unit_test(test_request_path_files),
	    cmocka_unit_test(test_no_tracker_citations), cmocka_unit_test(test_doc_links),
	    cmocka_unit_test(test_design_citations),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}

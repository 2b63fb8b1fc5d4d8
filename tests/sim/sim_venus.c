/* A Venus battery on MQTT, for the tests and the demo (docs/design.md, "Vendor documents").
 * It answers `cd=1`/`cd=01` with the document's example dump (updated by the
 * writes it applied), applies cd=2, cd=3 md=1/md=2, cd=11, cd=15 vs= and
 * cd=16 cp=, and answers ret= where the real device does (cd=11, 15, 16).
 * Until a write changes a value, its answer to cd=1 is the document's example
 * dump (venus-mqtt.md, section 3.2) byte for byte: the table below is that
 * dump, and the simulator refuses to start if it would print anything else.
 * What it accepts comes from the documents and the devices' reports, not
 * from the map: cd=16 cp= 0..2500 (section 12 says 300..2500, but a device
 * on firmware 153 reports mcp_w=0, tomquist/hm2mqtt issue "mqtt: Invalid
 * value for number.marstek_1_maximum_charging_power", and hm2mqtt sends
 * cp=0..2500); cd=15 vs= any 0..2500 W (the dump's mdp_w "not
 * exceeding 2500W", and the hm2mqtt project's tomquist/hm2mqtt
 * src/device/venus.ts, which sends vs=0..2500), 800 and 2500 also setting the
 * version set_v (section 11); cd=3 wk= a weekday bit mask 0..127 and vv=
 * -2500..2500 (hm2mqtt, same file).
 * Every command received is printed to stdout, one line each, exactly as it
 * arrived; other lines start with "# ". Its parser is its own, on purpose:
 * the bridge's codec must not be checked against itself.
 *
 *   sim_venus [--host H] [--port P] [--type HMG-50] [--id 0123456789ab]
 *             [--prefix hame_energy] [--mode normal|silent|refuse|lag] [--cd-prefix]
 *
 * Modes (also at run time: publish the name to sim/venus/<id>/mode):
 *   normal    answer and apply (and forget lag and refuse N)
 *   silent    apply nothing, answer nothing
 *   refuse    answer cd=1; ret=0 to every acknowledged command; apply nothing
 *   lag       as now, but every ret= is held back and published just before
 *             the answer to the next command: each acknowledgement comes one
 *             command late, as a slow cloud delivers it after a timeout
 *   refuse N  (run time only) refuse command cd=N alone: ret=0, not applied
 * --cd-prefix starts every answer with `cd=N,` as some firmware does.
 *
 * Other read commands: cd=14 (BMS) is answered with the reply the hm2mqtt
 * project (tomquist/hm2mqtt, src/device/venus.ts, the comment on
 * GET_BMS_INFO) records from a real device, verbatim; cd=19 (CT power) with
 * `get_power=A|B|C|total|output` in the form of venus-mqtt.md section 15.2,
 * which gives no example values: the five below are this simulator's own
 * (distinct, one negative, so that a swapped field or sign shows).
 * --newer-firmware answers cd=1 with the dump hm2mqtt records from newer
 * firmware (same file, the comment on READ_DEVICE_INFO), which carries keys
 * the document does not list (seq_s, ctrl_r, par, gen, ble, shelly_p,
 * c_ratio); writes then change nothing in it.
 *
 * Firmware the document does not describe (docs/protocols/venus.md):
 *   --mcp-negative  report mcp_w negated, as the Venus in the hm2mqtt
 *                   project's issue "maximum_charging_power: -2500.0 (range
 *                   0.0 - 2500.0)" does: -2500 at first, -1200 after cp=1200
 *   --set KEY=N     report numeric key KEY of the dump as N (any integer: an
 *                   odd value such as -1 or 99999), until a write sets it;
 *                   with --model, any numeric key of that model's reply
 *   --ignore N      never answer cd=N (the document's firmware has no cd=14)
 * At run time the mode topic also takes "set KEY N" and "ignore N" (a new
 * "ignore" replaces the old; "ignore 0" answers everything again).
 *
 * Topic families: --family marstek makes it a device on newer firmware: it
 * speaks on marstek_energy/<type>/.../<ID>/ctrl, <ID> being --id, or for a
 * B2500 type HMA/HMF/HMK/HMJ --id encrypted (with the bridge's own
 * codec_venus_topic_id_encrypt: tests/unit/test_venus.c checks it against the
 * hm2mqtt project's vectors). --family hame (the default) is the old family;
 * --prefix P --id X sets both by hand. The mode topic stays sim/venus/<--id>.
 *
 * Other models (--model), each answering cd=1 with the reply the hm2mqtt
 * project's parser tests record (tests/lib/venus_examples.h), verbatim until
 * a write changes a key, and applying the writes hm2mqtt sends (the B2500
 * document in that project, docs/b2500.md, and its device files). None of them
 * answers a write (the B2500 document shows no ret=): the bridge confirms
 * each by the next cd=1.
 *   b2500v2  HMA/HMF/HMK/HMJ: cd=17 md= charging mode (cs), cd=18 md=
 *            adaptive mode (md), cd=19 md= depth of discharge 0..100 (do),
 *            cd=20,md=0,a1..5,b1..5,e1..5,v1..5 the five timers (dN, eN, fN,
 *            hN; output 0..800 W)
 *   b2500v1  HMB: cd=4 md= outputs 0..3 (cd), cd=6 md= output threshold
 *            0..800 W (lv), cd=17 md= charging mode (cs), cd=19 md= (do)
 *   jupiter  HMN/HMM/JPLS: cd=2 md= working mode 1|2 (wor_m), cd=13
 *            full_d= surplus feed-in 0|1 (ful_d), cd=56 dod= 30..88 (dod),
 *            cd=3,md=,nm=0..4,bt=H:MM,et=H:MM,wk=0..127,vv=0..800,as=0|1 a
 *            time period (tim_N), applied only when md is wor_m (hm2mqtt
 *            sends the working mode the device reports)
 *   ct002    HME: cd=1 only (a meter takes no command here) */
#include <mosquitto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec_venus.h"
#include "venus_examples.h"

enum sim_mode { SIM_NORMAL, SIM_SILENT, SIM_REFUSE };

/* hm2mqtt's records (see the top), verbatim. */
static const char sim__hm2mqtt_bms[] = VENUS_HM2MQTT_BMS;
static const char sim__hm2mqtt_dump[] = VENUS_HM2MQTT_DUMP;
/* venus-mqtt.md 15.2's form; the values are the simulator's (see the top). */
static const char sim__get_power[] = VENUS_SIM_GET_POWER;
static int sim__newer;

/* --model: the reply's pairs, in their order, as text. */
enum sim_model { M_VENUS, M_B2500V1, M_B2500V2, M_JUPITER, M_CT002 };
static enum sim_model sim__model = M_VENUS;
#define SIM_MODEL_KEYS 128
static char sim__mk[SIM_MODEL_KEYS][16], sim__mv[SIM_MODEL_KEYS][32];
static int sim__mn;

/* Split a recorded reply into the model's pairs; -1 if one does not fit. */
static int sim__model_load(const char *dump)
{
	const char *p = dump;
	sim__mn = 0;
	while (*p) {
		const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (!eq || sim__mn == SIM_MODEL_KEYS || eq - p >= 16 || end - eq - 1 >= 32)
			return -1;
		snprintf(sim__mk[sim__mn], 16, "%.*s", (int)(eq - p), p);
		snprintf(sim__mv[sim__mn], 32, "%.*s", (int)(end - eq - 1), eq + 1);
		sim__mn++;
		p = comma ? comma + 1 : end;
	}
	return 0;
}

static void sim__model_render(char *out, size_t cap)
{
	size_t used = 0;
	out[0] = 0;
	for (int i = 0; i < sim__mn && used < cap; i++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s=%s", i ? "," : "",
					 sim__mk[i], sim__mv[i]);
}

/* Set the model's key k to v (text); a key the reply lacks is not added. */
static void sim__mset(const char *k, const char *v)
{
	for (int i = 0; i < sim__mn; i++)
		if (strcmp(sim__mk[i], k) == 0)
			snprintf(sim__mv[i], sizeof sim__mv[i], "%s", v);
}

static void sim__msetn(const char *k, long long v)
{
	char t[24];
	snprintf(t, sizeof t, "%lld", v);
	sim__mset(k, t);
}

/* The dump in the document's order: numbers, the periods, two strings. */
enum sim_kind { K_NUM, K_TIM, K_STR };
struct sim_key {
	const char *key;
	enum sim_kind kind;
	long long v; /* K_NUM value, K_TIM index */
	char s[40];  /* K_STR */
};

static struct sim_key sim__keys[] = {
    {"tot_i", K_NUM, 44785, ""},  {"tot_o", K_NUM, 36889, ""},	{"ele_d", K_NUM, 489, ""},
    {"ele_m", K_NUM, 3931, ""},	  {"grd_d", K_NUM, 395, ""},	{"grd_m", K_NUM, 2833, ""},
    {"inc_d", K_NUM, 0, ""},	  {"inc_m", K_NUM, -111, ""},	{"grd_f", K_NUM, 0, ""},
    {"grd_o", K_NUM, 807, ""},	  {"grd_t", K_NUM, 3, ""},	{"gct_s", K_NUM, 1, ""},
    {"cel_s", K_NUM, 3, ""},	  {"cel_p", K_NUM, 138, ""},	{"cel_c", K_NUM, 27, ""},
    {"err_t", K_NUM, 0, ""},	  {"err_a", K_NUM, 0, ""},	{"dev_n", K_NUM, 140, ""},
    {"grd_y", K_NUM, 0, ""},	  {"wor_m", K_NUM, 1, ""},	{"tim_0", K_TIM, 0, ""},
    {"tim_1", K_TIM, 1, ""},	  {"tim_2", K_TIM, 2, ""},	{"tim_3", K_TIM, 3, ""},
    {"tim_4", K_TIM, 4, ""},	  {"tim_5", K_TIM, 5, ""},	{"tim_6", K_TIM, 6, ""},
    {"tim_7", K_TIM, 7, ""},	  {"tim_8", K_TIM, 8, ""},	{"tim_9", K_TIM, 9, ""},
    {"cts_m", K_NUM, 0, ""},	  {"bac_u", K_NUM, 1, ""},	{"tra_a", K_NUM, 41, ""},
    {"tra_i", K_NUM, 40000, ""},  {"tra_o", K_NUM, 600000, ""}, {"htt_p", K_NUM, 0, ""},
    {"prc_c", K_NUM, 4620, ""},	  {"prc_d", K_NUM, 4620, ""},	{"wif_s", K_NUM, 35, ""},
    {"inc_a", K_NUM, -152, ""},	  {"set_v", K_NUM, 1, ""},	{"mcp_w", K_NUM, 2500, ""},
    {"mdp_w", K_NUM, 800, ""},	  {"ct_t", K_NUM, 1, ""},	{"phase_t", K_NUM, 0, ""},
    {"dchrg_t", K_NUM, 255, ""},  {"bms_v", K_NUM, 109, ""},	{"fc_v", K_STR, 0, "202407221950"},
    {"wifi_n", K_STR, 0, "Hame"},
};

static long long sim__tim[10][7] = {
    {14, 0, 17, 0, 127, 800, 1},   {17, 1, 20, 0, 127, -800, 1}, {20, 1, 23, 0, 127, 800, 1},
    {23, 1, 23, 59, 127, -800, 1}, {0, 1, 3, 0, 127, 800, 1},	 {3, 1, 6, 0, 127, -800, 1},
    {6, 1, 9, 0, 127, 800, 1},	   {9, 1, 12, 1, 127, -800, 1},	 {9, 10, 12, 0, 127, -2500, 0},
    {0, 0, 0, 0, 0, 0, 0},
};

/* venus-mqtt.md, section 3.2, the example reply to cd=01, verbatim. */
static const char sim__doc_dump[] = VENUS_DOC_DUMP;

static enum sim_mode sim__mode = SIM_NORMAL;
static int sim__cd_prefix;
static int sim__lag;		      /* hold each ret= until the next command */
static char sim__held[32];	      /* the ret= held back, "" when none */
static long long sim__refuse_cd = -1; /* refuse this cd alone */
static long long sim__ignore_cd = -1; /* never answer this cd */
static int sim__mcp_negative;	      /* report mcp_w negated */
static char sim__cmd_topic[256], sim__reply_topic[256], sim__mode_topic[128];

static struct sim_key *sim__key(const char *k)
{
	for (size_t i = 0; i < sizeof sim__keys / sizeof sim__keys[0]; i++)
		if (strcmp(sim__keys[i].key, k) == 0)
			return &sim__keys[i];
	return NULL;
}

static void sim__set(const char *k, long long v)
{
	struct sim_key *p = sim__key(k);
	if (p)
		p->v = v;
}

/* "KEY<sep>N": report numeric key KEY as N. 0, or -1 if it is not one. */
static int sim__set_text(const char *text, char sep)
{
	char k[32];
	const char *s = strchr(text, sep);
	char *end;
	if (!s || (size_t)(s - text) >= sizeof k)
		return -1;
	memcpy(k, text, (size_t)(s - text));
	k[s - text] = 0;
	long long v = strtoll(s + 1, &end, 10);
	if (sim__model != M_VENUS) {
		/* another model: a key of its recorded reply */
		for (int i = 0; i < sim__mn && end != s + 1 && !*end; i++)
			if (strcmp(sim__mk[i], k) == 0) {
				sim__msetn(k, v);
				return 0;
			}
		return -1;
	}
	struct sim_key *p = sim__key(k);
	if (!p || p->kind != K_NUM || end == s + 1 || *end)
		return -1;
	p->v = v;
	return 0;
}

/* The pairs of a command, split in place. */
#define SIM_MAX_PAIRS 32
struct sim_cmd {
	char buf[512];
	const char *k[SIM_MAX_PAIRS], *v[SIM_MAX_PAIRS];
	int n;
};

static void sim__split(struct sim_cmd *c, const char *msg, size_t len)
{
	if (len >= sizeof c->buf)
		len = sizeof c->buf - 1;
	memcpy(c->buf, msg, len);
	c->buf[len] = 0;
	c->n = 0;
	for (char *save = NULL, *tok = strtok_r(c->buf, ",", &save); tok && c->n < SIM_MAX_PAIRS;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			continue;
		*eq = 0;
		c->k[c->n] = tok;
		c->v[c->n++] = eq + 1;
	}
}

static const char *sim__get(const struct sim_cmd *c, const char *k)
{
	for (int i = 0; i < c->n; i++)
		if (strcmp(c->k[i], k) == 0)
			return c->v[i];
	return NULL;
}

/* A whole decimal number (optional '-'), or 0 when s is not one. */
static int sim__num(const char *s, long long *out)
{
	char *end;
	if (!s || !*s)
		return 0;
	*out = strtoll(s, &end, 10);
	return *end == 0;
}

/* "H:M" */
static int sim__time(const char *s, long long *h, long long *m)
{
	char tmp[16];
	if (!s || strlen(s) >= sizeof tmp)
		return 0;
	strcpy(tmp, s);
	char *colon = strchr(tmp, ':');
	if (!colon)
		return 0;
	*colon = 0;
	return sim__num(tmp, h) && sim__num(colon + 1, m) && *h >= 0 && *h <= 23 && *m >= 0 &&
	       *m <= 59;
}

static void sim__publish(struct mosquitto *mosq, const char *text)
{
	int rc = mosquitto_publish(mosq, NULL, sim__reply_topic, (int)strlen(text), text, 0, false);
	if (rc != MOSQ_ERR_SUCCESS)
		printf("# publish failed: %s\n", mosquitto_strerror(rc));
}

/* The dump as the device would send it now, without a cd= prefix. */
static void sim__render(char *out, size_t cap)
{
	size_t used = 0;
	out[0] = 0;
	for (size_t i = 0; i < sizeof sim__keys / sizeof sim__keys[0] && used < cap; i++) {
		const struct sim_key *p = &sim__keys[i];
		const char *sep = i ? "," : "";
		if (p->kind == K_NUM) {
			long long v = p->v;
			if (sim__mcp_negative && strcmp(p->key, "mcp_w") == 0)
				v = -v;
			used +=
			    (size_t)snprintf(out + used, cap - used, "%s%s=%lld", sep, p->key, v);
		} else if (p->kind == K_STR) {
			used +=
			    (size_t)snprintf(out + used, cap - used, "%s%s=%s", sep, p->key, p->s);
		} else {
			const long long *t = sim__tim[p->v];
			used += (size_t)snprintf(out + used, cap - used,
						 "%s%s=%lld|%lld|%lld|%lld|%lld|%lld|%lld", sep,
						 p->key, t[0], t[1], t[2], t[3], t[4], t[5], t[6]);
		}
	}
}

static void sim__dump(struct mosquitto *mosq, long long cd)
{
	char out[2048], body[2000];
	if (sim__model != M_VENUS)
		sim__model_render(body, sizeof body);
	else if (sim__newer)
		snprintf(body, sizeof body, "%s", sim__hm2mqtt_dump);
	else
		sim__render(body, sizeof body);
	if (sim__cd_prefix)
		snprintf(out, sizeof out, "cd=%lld,%s", cd, body);
	else
		snprintf(out, sizeof out, "%s", body);
	sim__publish(mosq, out);
}

static void sim__ret(struct mosquitto *mosq, long long cd, int ok)
{
	char out[32];
	if (sim__cd_prefix)
		snprintf(out, sizeof out, "cd=%lld,ret=%d", cd, ok);
	else
		snprintf(out, sizeof out, "ret=%d", ok);
	if (sim__lag) {
		snprintf(sim__held, sizeof sim__held, "%s", out);
		printf("# held %s\n", out);
		return;
	}
	sim__publish(mosq, out);
}

/* cd=3,md=1: one time period. 1 when valid (and applied). */
static int sim__period(const struct sim_cmd *c, int apply)
{
	long long nm, bh, bm, eh, em, wk, vv, as;
	if (!sim__num(sim__get(c, "nm"), &nm) || nm < 0 || nm > 9 ||
	    !sim__time(sim__get(c, "bt"), &bh, &bm) || !sim__time(sim__get(c, "et"), &eh, &em) ||
	    !sim__num(sim__get(c, "wk"), &wk) || wk < 0 || wk > 127 ||
	    !sim__num(sim__get(c, "vv"), &vv) || vv < -2500 || vv > 2500 ||
	    !sim__num(sim__get(c, "as"), &as) || as < 0 || as > 1)
		return 0;
	if (apply) {
		long long *t = sim__tim[nm];
		t[0] = bh, t[1] = bm, t[2] = eh, t[3] = em, t[4] = wk, t[5] = vv, t[6] = as;
	}
	return 1;
}

static void sim__dump(struct mosquitto *mosq, long long cd);

/* An integer pair k of c within lo..hi. */
static int sim__arg(const struct sim_cmd *c, const char *k, long long lo, long long hi,
		    long long *v)
{
	return sim__num(sim__get(c, k), v) && *v >= lo && *v <= hi;
}

/* cd=20,md=0 (cd=7 with flash): the B2500 v2's five timers, all at once;
 * only a complete, valid command is applied. */
static void sim__b2500_timers(const struct sim_cmd *c, int apply)
{
	long long a[5], bh[5], bm[5], eh[5], em[5], v[5], md;
	char k[8];
	if (!sim__arg(c, "md", 0, 0, &md))
		return;
	for (int i = 0; i < 5; i++) {
		snprintf(k, sizeof k, "a%d", i + 1);
		if (!sim__arg(c, k, 0, 1, &a[i]))
			return;
		snprintf(k, sizeof k, "b%d", i + 1);
		if (!sim__time(sim__get(c, k), &bh[i], &bm[i]))
			return;
		snprintf(k, sizeof k, "e%d", i + 1);
		if (!sim__time(sim__get(c, k), &eh[i], &em[i]))
			return;
		snprintf(k, sizeof k, "v%d", i + 1);
		if (!sim__arg(c, k, 0, 800, &v[i]))
			return;
	}
	if (!apply)
		return;
	for (int i = 0; i < 5; i++) {
		char t[16];
		snprintf(k, sizeof k, "d%d", i + 1);
		sim__msetn(k, a[i]);
		snprintf(k, sizeof k, "e%d", i + 1);
		snprintf(t, sizeof t, "%lld:%lld", bh[i], bm[i]);
		sim__mset(k, t);
		snprintf(k, sizeof k, "f%d", i + 1);
		snprintf(t, sizeof t, "%lld:%lld", eh[i], em[i]);
		sim__mset(k, t);
		snprintf(k, sizeof k, "h%d", i + 1);
		sim__msetn(k, v[i]);
	}
}

/* The value of the model's key k, or NULL. */
static const char *sim__mget(const char *k)
{
	for (int i = 0; i < sim__mn; i++)
		if (strcmp(sim__mk[i], k) == 0)
			return sim__mv[i];
	return NULL;
}

/* cd=3,md=,nm=,bt=,et=,wk=,vv=,as=: one of the Jupiter's five periods, as
 * hm2mqtt sends it; applied only when complete and valid and md is the
 * working mode the device reports (wor_m), the only form on record. */
static void sim__jupiter_period(const struct sim_cmd *c, int apply)
{
	long long md, nm, bh, bm, eh, em, wk, vv, as, mode;
	if (!sim__arg(c, "md", 1, 2, &md) || !sim__arg(c, "nm", 0, 4, &nm) ||
	    !sim__time(sim__get(c, "bt"), &bh, &bm) || !sim__time(sim__get(c, "et"), &eh, &em) ||
	    !sim__arg(c, "wk", 0, 127, &wk) || !sim__arg(c, "vv", 0, 800, &vv) ||
	    !sim__arg(c, "as", 0, 1, &as))
		return;
	if (!sim__num(sim__mget("wor_m"), &mode) || md != mode) {
		printf("# cd=3 md=%lld is not the working mode %s: not applied\n", md,
		       sim__mget("wor_m") ? sim__mget("wor_m") : "?");
		return;
	}
	if (!apply)
		return;
	char k[8], t[32];
	snprintf(k, sizeof k, "tim_%d", (int)nm);
	snprintf(t, sizeof t, "%d|%d|%d|%d|%d|%d|%d", (int)bh, (int)bm, (int)eh, (int)em, (int)wk,
		 (int)vv, (int)as);
	sim__mset(k, t);
}

/* The other models' commands (see the top); none is answered but cd=1. */
static void sim__model_command(struct mosquitto *mosq, const struct sim_cmd *c, long long cd,
			       int apply)
{
	long long v;
	if (cd == 1) {
		sim__dump(mosq, cd);
		return;
	}
	if (sim__model == M_B2500V1 || sim__model == M_B2500V2) {
		if (cd == 17 && sim__arg(c, "md", 0, 1, &v) && apply)
			sim__msetn("cs", v);
		else if (cd == 19 && sim__arg(c, "md", 0, 100, &v) && apply)
			sim__msetn("do", v);
		else if (sim__model == M_B2500V1 && cd == 4 && sim__arg(c, "md", 0, 3, &v) && apply)
			sim__msetn("cd", v);
		else if (sim__model == M_B2500V1 && cd == 6 && sim__arg(c, "md", 0, 800, &v) &&
			 apply)
			sim__msetn("lv", v);
		else if (sim__model == M_B2500V2 && cd == 18 && sim__arg(c, "md", 0, 1, &v) &&
			 apply)
			sim__msetn("md", v);
		else if (sim__model == M_B2500V2 && cd == 20)
			sim__b2500_timers(c, apply);
	} else if (sim__model == M_JUPITER) {
		if (cd == 2 && sim__arg(c, "md", 1, 2, &v) && apply)
			sim__msetn("wor_m", v);
		else if (cd == 13 && sim__arg(c, "full_d", 0, 1, &v) && apply)
			sim__msetn("ful_d", v);
		else if (cd == 56 && sim__arg(c, "dod", 30, 88, &v) && apply)
			sim__msetn("dod", v);
		else if (cd == 3)
			sim__jupiter_period(c, apply);
	}
}

static void sim__command(struct mosquitto *mosq, const char *msg, size_t len)
{
	static struct sim_cmd c;
	long long cd, v, md;
	int apply = sim__mode == SIM_NORMAL;

	printf("%.*s\n", (int)len, msg);
	if (sim__mode == SIM_SILENT)
		return;
	if (sim__held[0]) {
		/* The previous command's late acknowledgement goes first. */
		sim__publish(mosq, sim__held);
		printf("# released %s\n", sim__held);
		sim__held[0] = 0;
	}
	sim__split(&c, msg, len);
	if (!sim__num(sim__get(&c, "cd"), &cd))
		return;
	if (cd == sim__ignore_cd) {
		printf("# ignored cd=%lld\n", cd);
		return;
	}
	if (cd == sim__refuse_cd)
		apply = 0;
	if (sim__model != M_VENUS) {
		sim__model_command(mosq, &c, cd, apply);
		return;
	}
	switch (cd) {
	case 1:
		sim__dump(mosq, cd);
		break;
	case 14:
	case 19: {
		char out[1024];
		const char *body = cd == 14 ? sim__hm2mqtt_bms : sim__get_power;
		if (sim__cd_prefix)
			snprintf(out, sizeof out, "cd=%lld,%s", cd, body);
		else
			snprintf(out, sizeof out, "%s", body);
		sim__publish(mosq, out);
		break;
	}
	case 2: /* no answer */
		if (apply && sim__num(sim__get(&c, "md"), &v) && v >= 0 && v <= 2)
			sim__set("wor_m", v);
		break;
	case 3: /* no answer */
		if (!sim__num(sim__get(&c, "md"), &md))
			break;
		if (md == 1) {
			sim__period(&c, apply);
		} else if (md == 2) {
			long long id, in, on;
			if (apply && sim__num(sim__get(&c, "id"), &id) && id >= 0 &&
			    sim__num(sim__get(&c, "in"), &in) && in >= 0 &&
			    sim__num(sim__get(&c, "on"), &on) && on >= 0) {
				sim__set("tra_a", id);
				sim__set("tra_i", in);
				sim__set("tra_o", on);
			}
		}
		break;
	case 11: {
		int ok = apply && sim__num(sim__get(&c, "bc"), &v) && (v == 0 || v == 1);
		if (ok)
			sim__set("bac_u", v);
		sim__ret(mosq, cd, ok);
		break;
	}
	case 15: {
		int ok = apply && sim__num(sim__get(&c, "vs"), &v) && v >= 0 && v <= 2500;
		if (ok) {
			sim__set("mdp_w", v);
			if (v == 800 || v == 2500)
				sim__set("set_v", v == 800);
		}
		sim__ret(mosq, cd, ok);
		break;
	}
	case 16: {
		int ok = apply && sim__num(sim__get(&c, "cp"), &v) && v >= 0 && v <= 2500;
		if (ok)
			sim__set("mcp_w", v);
		sim__ret(mosq, cd, ok);
		break;
	}
	default: /* unknown commands get no answer */
		break;
	}
}

static void sim__on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	(void)obj;
	if (strcmp(m->topic, sim__mode_topic) == 0) {
		char mode[48] = {0};
		long long n;
		memcpy(mode, m->payload, m->payloadlen < 47 ? (size_t)m->payloadlen : 47);
		if (strcmp(mode, "normal") == 0) {
			sim__mode = SIM_NORMAL;
			sim__lag = 0;
			sim__held[0] = 0;
			sim__refuse_cd = -1;
		} else if (strcmp(mode, "lag") == 0)
			sim__lag = 1;
		else if (strncmp(mode, "refuse ", 7) == 0 && sim__num(mode + 7, &n))
			sim__refuse_cd = n;
		else if (strncmp(mode, "ignore ", 7) == 0 && sim__num(mode + 7, &n))
			sim__ignore_cd = n ? n : -1;
		else if (strncmp(mode, "set ", 4) == 0 && sim__set_text(mode + 4, ' ') == 0)
			;
		else if (strcmp(mode, "silent") == 0)
			sim__mode = SIM_SILENT;
		else if (strcmp(mode, "refuse") == 0)
			sim__mode = SIM_REFUSE;
		else
			printf("# unknown mode %s\n", mode);
		printf("# mode %s\n", mode);
		return;
	}
	if (strcmp(m->topic, sim__cmd_topic) == 0)
		sim__command(mosq, m->payload, (size_t)m->payloadlen);
}

static int sim__subacks;

static void sim__on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *qos)
{
	(void)mosq, (void)obj, (void)mid, (void)n, (void)qos;
	if (++sim__subacks == 2) /* both subscriptions in place: tests may start */
		printf("# ready\n");
}

static void sim__on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)obj;
	if (rc != 0) {
		printf("# connect refused: %d\n", rc);
		return;
	}
	sim__subacks = 0;
	mosquitto_subscribe(mosq, NULL, sim__mode_topic, 1);
	mosquitto_subscribe(mosq, NULL, sim__cmd_topic, 1);
}

static enum sim_mode sim__parse_mode(const char *s)
{
	if (strcmp(s, "lag") == 0) {
		sim__lag = 1;
		return SIM_NORMAL;
	}
	if (strcmp(s, "silent") == 0)
		return SIM_SILENT;
	if (strcmp(s, "refuse") == 0)
		return SIM_REFUSE;
	if (strcmp(s, "normal") != 0) {
		fprintf(stderr, "sim_venus: unknown mode %s\n", s);
		exit(2);
	}
	return SIM_NORMAL;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *type = "HMG-50", *id = "0123456789ab";
	const char *prefix = "hame_energy", *family = NULL;
	int port = 1883;
	const char *sets[8];
	int nsets = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--cd-prefix") == 0) {
			sim__cd_prefix = 1;
			continue;
		}
		if (strcmp(a, "--newer-firmware") == 0) {
			sim__newer = 1;
			continue;
		}
		if (strcmp(a, "--mcp-negative") == 0) {
			sim__mcp_negative = 1;
			continue;
		}
		if (!val) {
			fprintf(stderr,
				"usage: sim_venus [--host H] [--port P] [--type T] [--id ID] "
				"[--prefix P] [--mode normal|silent|refuse|lag] [--cd-prefix] "
				"[--newer-firmware] [--mcp-negative] [--set KEY=N] [--ignore N] "
				"[--model venus|b2500v1|b2500v2|jupiter|ct002] [--family "
				"hame|marstek]\n");
			return 2;
		}
		i++;
		if (strcmp(a, "--host") == 0)
			host = val;
		else if (strcmp(a, "--port") == 0)
			port = atoi(val);
		else if (strcmp(a, "--type") == 0)
			type = val;
		else if (strcmp(a, "--id") == 0)
			id = val;
		else if (strcmp(a, "--prefix") == 0)
			prefix = val;
		else if (strcmp(a, "--family") == 0)
			family = val;
		else if (strcmp(a, "--mode") == 0)
			sim__mode = sim__parse_mode(val);
		else if (strcmp(a, "--set") == 0 && nsets < 8)
			sets[nsets++] = val;
		else if (strcmp(a, "--ignore") == 0)
			sim__ignore_cd = atoll(val);
		else if (strcmp(a, "--model") == 0) {
			static const char *const names[] = {"venus", "b2500v1", "b2500v2",
							    "jupiter", "ct002"};
			static const char *const dumps[] = {NULL, B2500_V1_DUMP, B2500_V2_DUMP,
							    JUPITER_DUMP, CT002_DUMP};
			int m = 0;
			while (m < 5 && strcmp(names[m], val) != 0)
				m++;
			if (m == 5) {
				fprintf(stderr, "sim_venus: unknown model %s\n", val);
				return 2;
			}
			sim__model = (enum sim_model)m;
			if (dumps[m]) {
				char back[2000];
				if (sim__model_load(dumps[m]) != 0) {
					fprintf(stderr, "sim_venus: model %s: bad reply\n", val);
					return 1;
				}
				/* It answers the recorded reply, byte for byte. */
				sim__model_render(back, sizeof back);
				if (strcmp(back, dumps[m]) != 0) {
					fprintf(stderr, "sim_venus: model %s: reply altered\n",
						val);
					return 1;
				}
			}
		} else {
			fprintf(stderr, "sim_venus: unknown option %s\n", a);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char first[2000];
	int negative = sim__mcp_negative;
	sim__mcp_negative = 0;
	sim__render(first, sizeof first);
	if (strcmp(first, sim__doc_dump) != 0) {
		fprintf(stderr, "sim_venus: the initial dump is not the document's example\n");
		return 1;
	}
	/* Then what the options change in it. */
	sim__mcp_negative = negative;
	for (int i = 0; i < nsets; i++) {
		if (sim__set_text(sets[i], '=') != 0) {
			fprintf(stderr, "sim_venus: --set %s: not KEY=N for a numeric key\n",
				sets[i]);
			return 2;
		}
	}
	snprintf(sim__mode_topic, sizeof sim__mode_topic, "sim/venus/%s/mode", id);
	char topic_id[VENUS_TOPIC_ID_LEN + 1];
	const char *mac = id;
	if (family && strcmp(family, "marstek") == 0) {
		prefix = "marstek_energy";
		if (codec_venus_type_encrypts(type)) {
			if (codec_venus_topic_id_encrypt(id, topic_id, sizeof topic_id) < 0) {
				fprintf(stderr,
					"sim_venus: cannot encrypt the ID %s (built without "
					"libcrypto, or not a MAC)\n",
					id);
				return 2;
			}
			id = topic_id;
		}
	} else if (family && strcmp(family, "hame") != 0) {
		fprintf(stderr, "sim_venus: unknown family %s\n", family);
		return 2;
	}
	snprintf(sim__cmd_topic, sizeof sim__cmd_topic, "%s/%s/App/%s/ctrl", prefix, type, id);
	snprintf(sim__reply_topic, sizeof sim__reply_topic, "%s/%s/device/%s/ctrl", prefix, type,
		 id);

	mosquitto_lib_init();
	char cid[64];
	snprintf(cid, sizeof cid, "sim-venus-%s", id);
	struct mosquitto *mosq = mosquitto_new(cid, true, NULL);
	if (!mosq) {
		fprintf(stderr, "sim_venus: mosquitto_new failed\n");
		return 1;
	}
	mosquitto_connect_callback_set(mosq, sim__on_connect);
	mosquitto_subscribe_callback_set(mosq, sim__on_subscribe);
	mosquitto_message_callback_set(mosq, sim__on_message);
	int rc = mosquitto_connect(mosq, host, port, 30);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "sim_venus: connect %s:%d: %s\n", host, port,
			mosquitto_strerror(rc));
		return 1;
	}
	printf("# sim_venus %s on %s:%d, commands on %s\n", mac, host, port, sim__cmd_topic);
	/* Runs until SIGTERM; reconnects by itself if the broker restarts. */
	rc = mosquitto_loop_forever(mosq, -1, 1);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	return rc == MOSQ_ERR_SUCCESS ? 0 : 1;
}

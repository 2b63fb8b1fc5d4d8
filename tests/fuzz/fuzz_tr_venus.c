/* Fuzz target for the Venus transport's message handling, state included
 * (bridge/tr_venus.c): the input is a script of reads and writes started,
 * aborted and retried, messages on the reply topic (any bytes, empty,
 * oversized, or typical answers), broker PUBACKs and the clock moving on.
 *
 * The transport runs with an env of recorders (include/transport_test.h):
 * the device model's calls for transports, the MQTT link and the loop clock
 * are this file's, so that a run is pure and deterministic: no loop, no
 * socket. A memory device stands in for the device the transport belongs to
 * (its name and timeout). The map is the shipped maps/venus.conf (run from
 * the repository's top directory, as `make test` does).
 *
 * Checked on every step:
 *   - only the transaction in flight is ever completed, and only once;
 *   - a failed start leaves nothing in flight;
 *   - an empty or oversized message completes nothing;
 *   - a ret= that names no command never completes a write while a ghost of
 *     another command lives (a late acknowledgement of an aborted write);
 *   - no parsed pair outlives the message it points into (ASan sees the
 *     payload freed right after each delivery);
 *   - the cache only gets whole, mapped registers;
 *   - one message stores the registers of one query only (cd=1's, or one
 *     `query`'s: cd=14, cd=19), and a query's registers only while that
 *     query was sent (published without error) within two timeouts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "device.h"
#include "link_mqtt.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "transport_test.h"
#include "codec_venus.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* The device's timeout: the transport keeps late answers for two. */
#define FZ_TIMEOUT 3000

/* ------------------------------------------------------------- the map -- */

static const struct map *fz_map;

static const struct map *fz_transport_map(void)
{
	return fz_map;
}

/* ------------------------------------------------------- the recorders -- */

static uint64_t fz_now;
/* The read commands published without error, and when (the last time). */
static struct {
	char cmd[16];
	uint64_t at;
} fz_sent[8];
static size_t fz_nsent;
/* While a message is delivered: the query whose registers it stored. */
static int fz_delivering;
static const char *fz_stored_query;
static struct txn *fz_inflight; /* what the "device model" has handed over */
static unsigned fz_done;	/* completions seen */
static int fz_last_status;
static int fz_pub_fail; /* the next publish fails (link down, outgoing bound) */
static int fz_mid;
static size_t fz_cmd_max; /* the transport's longest command + 1 */
/* What the transport subscribed with, and the PUBACK callback it gave. */
static link_mqtt_msg_cb fz_msg;
static void *fz_msg_ctx;
static char fz_topic[256];
static link_mqtt_pub_cb fz_puback;
static void *fz_puback_ctx;
static int fz_link; /* what the link stub hands out */

static uint64_t fz_uv_now(const uv_loop_t *loop)
{
	(void)loop;
	return fz_now;
}

static void fz_device_txn_done(struct device *dev, struct txn *t, enum mb_exc status)
{
	(void)dev;
	FZ_CHECK(t != NULL && t == fz_inflight);
	FZ_CHECK(status == MB_EXC_NONE || (status > 0 && status <= 0x0B));
	fz_inflight = NULL;
	fz_done++;
	fz_last_status = status;
}

static void fz_device_cache_store(struct device *dev, int table, uint16_t addr, uint16_t count,
				  const uint16_t *words)
{
	(void)dev;
	FZ_CHECK(count >= 1 && count <= MB_MAX_READ && (uint32_t)addr + count <= 0x10000);
	const struct map_register *r = map_find(fz_transport_map(), table, addr);
	FZ_CHECK(r && r->address == addr && r->count == count);
	const char *q = r->query ? r->query : "cd=1";
	if (fz_delivering) {
		if (!fz_stored_query)
			fz_stored_query = q;
		FZ_CHECK(strcmp(fz_stored_query, q) == 0);
	}
	if (r->query) {
		size_t i = 0;
		while (i < fz_nsent && strcmp(fz_sent[i].cmd, r->query) != 0)
			i++;
		FZ_CHECK(i < fz_nsent && fz_now - fz_sent[i].at <= 2 * FZ_TIMEOUT);
	}
	volatile uint16_t sum = 0;
	for (uint16_t i = 0; i < count; i++)
		sum = (uint16_t)(sum + words[i]);
	(void)sum;
}

/* An odd value stands in for a register's value: the same rules as a
 * store (one query per message, a query's registers only while it is
 * recent). An unanswered query marks only registers that declare
 * `unavailable`. */
static void fz_device_cache_unavailable(struct device *dev, const struct map_register *r, int odd)
{
	FZ_CHECK(r && map_find(fz_transport_map(), r->table, r->address) == r);
	if (odd) {
		uint16_t w[2] = {0, 0};
		FZ_CHECK(r->count <= 2);
		fz_device_cache_store(dev, r->table, r->address, r->count, w);
	} else {
		FZ_CHECK(r->has_unavail && r->query && fz_inflight != NULL);
	}
}

static void fz_device_count_drop(struct device *dev)
{
	(void)dev;
}

static void fz_device_refresh_later(struct device *dev, uint64_t delay_ms)
{
	(void)dev, (void)delay_ms;
}

static void fz_device_link_changed(struct device *dev, int up)
{
	(void)dev, (void)up;
}

static struct link_mqtt *fz_link_mqtt_get(uv_loop_t *loop, const struct config_mqtt *cfg,
					  const char *client_id, char *err, size_t errlen)
{
	(void)loop, (void)cfg, (void)client_id, (void)err, (void)errlen;
	return (struct link_mqtt *)&fz_link;
}

static int fz_link_mqtt_publish(struct link_mqtt *l, const char *topic, const void *payload,
				size_t len, int qos, int retain, int *mid, link_mqtt_pub_cb pub_cb,
				void *ctx)
{
	(void)l, (void)topic, (void)qos, (void)retain;
	FZ_CHECK(payload != NULL && len > 0 && len < fz_cmd_max);
	if (pub_cb) {
		fz_puback = pub_cb;
		fz_puback_ctx = ctx;
	}
	if (fz_pub_fail) {
		fz_pub_fail = 0;
		return MB_ELINK;
	}
	/* read commands only ("cd=N", no argument): writes would fill the table */
	if (len < sizeof fz_sent[0].cmd && !memchr(payload, ',', len)) {
		size_t i = 0;
		while (i < fz_nsent &&
		       (strlen(fz_sent[i].cmd) != len || memcmp(fz_sent[i].cmd, payload, len) != 0))
			i++;
		if (i == fz_nsent && fz_nsent < sizeof fz_sent / sizeof fz_sent[0]) {
			memcpy(fz_sent[i].cmd, payload, len);
			fz_sent[i].cmd[len] = 0;
			fz_nsent++;
		}
		if (i < fz_nsent)
			fz_sent[i].at = fz_now;
	}
	if (mid)
		*mid = ++fz_mid;
	return 0;
}

static int fz_link_mqtt_subscribe(struct link_mqtt *l, const char *topic, int qos,
				  link_mqtt_msg_cb msg_cb, link_mqtt_state_cb state_cb, void *ctx)
{
	(void)l, (void)qos, (void)state_cb;
	/* topics = "hame": one reply topic */
	FZ_CHECK(fz_msg == NULL);
	fz_msg = msg_cb;
	fz_msg_ctx = ctx;
	snprintf(fz_topic, sizeof fz_topic, "%s", topic);
	return 0;
}

static int fz_link_mqtt_limit(struct link_mqtt *l, void *ctx, size_t max_len,
			      link_mqtt_msg_cb drop_cb)
{
	(void)l, (void)ctx, (void)max_len, (void)drop_cb;
	return 0;
}

static void fz_link_mqtt_release(struct link_mqtt *l, void *ctx)
{
	(void)l, (void)ctx;
	fz_msg = NULL;
	fz_puback = NULL;
}

static bool fz_link_mqtt_is_up(const struct link_mqtt *l)
{
	(void)l;
	return true;
}

static const struct link_mqtt_ops fz_mqtt = {
    .get = fz_link_mqtt_get,
    .subscribe = fz_link_mqtt_subscribe,
    .limit = fz_link_mqtt_limit,
    .publish = fz_link_mqtt_publish,
    .is_up = fz_link_mqtt_is_up,
    .release = fz_link_mqtt_release,
};

static const struct transport_env fz_env = {
    .txn_done = fz_device_txn_done,
    .cache_store = fz_device_cache_store,
    .cache_unavailable = fz_device_cache_unavailable,
    .link_changed = fz_device_link_changed,
    .refresh_later = fz_device_refresh_later,
    .count_drop = fz_device_count_drop,
    .now = fz_uv_now,
    .mqtt = &fz_mqtt,
};

/* --------------------------------------------------------- the setup -- */

static uv_loop_t fz_loop;
static struct config_device fz_dcfg;
static struct device *fz_dev;

/* Once: the map, the device the transport belongs to, the venus block as
 * the config loader parses it (one topic family, topics = "hame") and the
 * env. */
static int fz_setup(void)
{
	static int done;
	static struct config conf, *block;
	char path[64], err[512];
	if (done)
		return fz_map != NULL;
	done = 1;
	fz_map = map_load("maps/venus.conf", err, sizeof err);
	if (!fz_map)
		return 0;
	FZ_CHECK(uv_loop_init(&fz_loop) == 0);
	snprintf(path, sizeof path, "/tmp/fuzz_tr_venus.%ld.cfg", (long)getpid());
	FILE *f = fopen(path, "w");
	FZ_CHECK(f != NULL);
	fprintf(f, "devices = ( { name = \"fuzz\"; unit_id = 1; map = \"venus\";\n"
		   "  mqtt = { host = \"fuzz\"; };\n"
		   "  venus = { type = \"HMG-50\"; id = \"0123456789ab\"; topics = \"hame\"; }; "
		   "} );\n");
	fclose(f);
	FZ_CHECK(config_load(path, &block, err, sizeof err) == 0);
	unlink(path);
	fz_dcfg.name = "fuzz";
	fz_dcfg.unit_id = 1;
	fz_dcfg.map = "venus";
	fz_dcfg.timeout = FZ_TIMEOUT;
	fz_dcfg.retries = -1;
	fz_dcfg.proto = block->devices[0].proto;
	fz_dcfg.proto_cfg = block->devices[0].proto_cfg;
	conf.path = "fuzz.conf";
	conf.defaults.timeout = FZ_TIMEOUT;
	conf.defaults.retries = -1;
	FZ_CHECK(device_create_ops(&fz_loop, &conf, &fz_dcfg, fz_map, &transport_memory, &fz_dev,
				   err, sizeof err) == 0);
	FZ_CHECK(device_timeout(fz_dev) == FZ_TIMEOUT);
	transport_env = &fz_env;
	return 1;
}

/* --------------------------------------------------------- the script -- */

/* Writes the map allows: register or command, and whether it is acked. */
struct fz_write {
	uint16_t addr, count;
	int cmd; /* a `commands` group */
};
static const struct fz_write fz_writes[] = {
    {28, 1, 0}, {29, 1, 0}, {27, 1, 0}, {26, 1, 0}, {37, 5, 1}, {100, 7, 1}, {163, 7, 1},
};

/* The full dump, kept apart: one string, not two elements. */
#define FZ_DUMP                                                                                    \
	"cd=1,tot_i=1,cel_c=50,cel_p=9,grd_o=-5,mcp_w=1300,mdp_w=800,bac_u=0,wor_m=2,"             \
	"tim_0=1|2|3|4|5|6|1,tra_a=1,tra_i=2,tra_o=3,wifi_n=x"
/* The BMS reply (cd=14), as hm2mqtt records it, shortened. */
#define FZ_BMS                                                                                     \
	"b_ver=212,b_chv=571,b_soc=65,b_soh=100,b_vol=5223,b_cpc=332,b_mot=23,b_tp1=18,"           \
	"b_tp4=19,b_vo1=3265,b_vo16=3262"
static const char *const fz_canned[] = {
    "ret=1",
    "ret=0",
    "cd=16,ret=1",
    "cd=15,ret=0",
    "cd=11,ret=1",
    FZ_DUMP,
    "cel_c=51,mcp_w=2500,mdp_w=2500,bac_u=1",
    "mcp_w=300",
    "get_power=1|2|3|4|5",
    "cd=1,ret=1,cel_c=3",
    "",
    /* answers to the other read commands (the map's `query`s): cd=14 and
     * cd=19, alone, prefixed, and mixed with keys of another query */
    FZ_BMS,
    "cd=14,b_soc=65,b_soh=100,b_cpc=332",
    "cd=19,get_power=-10|20|-30|40|-50",
    "get_power=1|2|3|4|5,b_soc=3",
    "b_soh=7,cel_c=9",
    "b_vo1=3265,b_vo16=,b_tp1=-5",
};

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static unsigned fz_byte(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/* Deliver one message as the MQTT layer does: a payload of exactly len
 * bytes, freed as soon as the callback returns; NULL when empty. */
static void fz_deliver(void *v, const uint8_t *bytes, size_t len)
{
	struct tr_venus_test_view w;
	uint8_t *copy = NULL;
	if (len) {
		copy = malloc(len);
		FZ_CHECK(copy != NULL);
		memcpy(copy, bytes, len);
	}
	unsigned before = fz_done;
	int untrusted_ret = 0;
	tr_venus_test_view(v, &w);
	if (w.awaits_ack && len && len <= VENUS_MAX_MSG) {
		/* A bare ret= (no cd=) while a ghost of another command lives. */
		struct venus_reply *r = malloc(sizeof *r);
		int ret;
		FZ_CHECK(r != NULL);
		if (codec_venus_parse((const char *)copy, len, r) > 0 &&
		    codec_venus_classify(r, &ret) == VENUS_ACK && !r->has_cd &&
		    tr_venus_test_ack_suspect(v))
			untrusted_ret = 1;
		free(r);
	}
	fz_delivering = 1;
	fz_stored_query = NULL;
	FZ_CHECK(fz_msg != NULL && fz_msg_ctx == v);
	fz_msg(fz_msg_ctx, fz_topic, copy, len);
	fz_delivering = 0;
	free(copy);
	tr_venus_test_view(v, &w);
	FZ_CHECK(w.npairs == 0);
	if (len == 0 || len > VENUS_MAX_MSG || untrusted_ret)
		FZ_CHECK(fz_done == before);
}

static void fz_start(void *v, struct txn *t)
{
	struct tr_venus_test_view w;
	if (fz_inflight)
		return; /* the device model runs one transaction at a time */
	fz_inflight = t;
	int rc = transport_venus.start(v, t);
	tr_venus_test_view(v, &w);
	if (rc != 0) {
		FZ_CHECK(rc > 0 && w.txn == NULL && w.idle);
		fz_inflight = NULL;
	} else {
		FZ_CHECK(w.txn == t && !w.idle);
	}
}

static void fz_abort(void *v)
{
	struct tr_venus_test_view w;
	if (!fz_inflight)
		return;
	transport_venus.abort(v, fz_inflight);
	tr_venus_test_view(v, &w);
	FZ_CHECK(w.txn == NULL && w.idle);
	fz_inflight = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint16_t words[8];
	static struct txn rd, wr;
	static uint8_t big[VENUS_MAX_MSG + 64];
	struct tr_venus_test_view w;
	char err[256];
	void *v = NULL;
	if (!fz_setup())
		return 0;
	fz_now = 1000;
	fz_inflight = NULL;
	fz_done = 0;
	fz_pub_fail = 0;
	fz_mid = 0;
	fz_nsent = 0;
	memset(big, 'z', sizeof big);
	memcpy(big, "cel_c=99,pad=", 13);
	FZ_CHECK(transport_venus.open(fz_dev, &fz_loop, &fz_dcfg, fz_map, &v, err, sizeof err) ==
		 0);
	tr_venus_test_view(v, &w);
	/* the read commands: cd=1, cd=14, cd=19 */
	FZ_CHECK(w.nqueries == 3);
	fz_cmd_max = w.cmd_max;

	struct fz_in in = {data, size};
	struct txn *last = NULL;
	while (in.n) {
		unsigned op = fz_byte(&in);
		switch (op % 10) {
		case 0: /* a read (all reads coalesce into one round of every query) */
			rd =
			    (struct txn){.op = TXN_READ, .table = MAP_HOLDING, .fc = 3, .count = 1};
			fz_start(v, &rd);
			last = &rd;
			break;
		case 1: { /* a write of one of the map's writable registers or groups */
			const struct fz_write *w =
			    &fz_writes[fz_byte(&in) % (sizeof fz_writes / sizeof fz_writes[0])];
			if (fz_inflight)
				break;
			for (unsigned i = 0; i < w->count; i++) {
				unsigned hi = fz_byte(&in);
				words[i] = (uint16_t)(hi << 8 | fz_byte(&in));
			}
			/* Often a value the map takes, so that it is sent. */
			if (op & 0x80) {
				static const uint16_t ok[] = {1300, 2500, 1, 2, 42, 8};
				words[0] = ok[(op >> 4) % 6];
			}
			wr = (struct txn){.op = TXN_WRITE,
					  .table = MAP_HOLDING,
					  .fc = w->count > 1 ? 16 : 6,
					  .addr = w->addr,
					  .count = w->count,
					  .words = words};
			if (w->cmd)
				wr.cmd = map_find_command(fz_map, w->addr, w->count);
			else
				wr.reg = map_find(fz_map, MAP_HOLDING, w->addr);
			fz_start(v, &wr);
			last = &wr;
			break;
		}
		case 2: /* the device model gives up (timeout, link down) */
			fz_abort(v);
			break;
		case 3: /* ... and tries the same transaction again */
			if (fz_inflight && last == fz_inflight) {
				fz_abort(v);
				last->attempt++;
				fz_start(v, last);
			}
			break;
		case 4: { /* any bytes */
			size_t len = fz_byte(&in);
			len = len << 4 | (fz_byte(&in) & 0x0f);
			if (len > in.n)
				len = in.n;
			fz_deliver(v, in.p, len);
			in.p += len;
			in.n -= len;
			break;
		}
		case 5: { /* a typical answer */
			const char *m =
			    fz_canned[fz_byte(&in) % (sizeof fz_canned / sizeof fz_canned[0])];
			fz_deliver(v, (const uint8_t *)m, strlen(m));
			break;
		}
		case 6: /* an oversized one, just above the limit or far above */
			fz_deliver(v, big, VENUS_MAX_MSG + 1 + (fz_byte(&in) & 0x3f));
			break;
		case 7: /* time goes by */
			fz_now += (uint64_t)fz_byte(&in) * 100;
			break;
		case 8: /* a PUBACK, for the last publish or another */
			if (fz_puback) {
				FZ_CHECK(fz_puback_ctx == v);
				fz_puback(fz_puback_ctx, (fz_byte(&in) & 1) ? fz_mid : fz_mid - 1);
			} else {
				fz_byte(&in); /* no publish asked for one: nothing waits */
			}
			break;
		default: /* the next publish fails */
			fz_pub_fail = 1;
			break;
		}
		tr_venus_test_view(v, &w);
		FZ_CHECK(w.nghosts <= w.max_ghosts && w.nexpect <= w.max_expect);
		FZ_CHECK((w.txn == NULL) == w.idle);
		FZ_CHECK(w.txn == NULL || w.txn == fz_inflight);
	}
	fz_abort(v);
	transport_venus.close(v);
	return 0;
}

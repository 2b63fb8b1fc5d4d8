/* Fuzz target for the Venus transport's message handling, state included
 * (bridge/tr_venus.c): the input is a script of reads and writes started,
 * aborted and retried, messages on the reply topic (any bytes, empty,
 * oversized, or typical answers), broker PUBACKs and the clock moving on.
 *
 * The transport is compiled into this file with the device model, the MQTT
 * link and the loop clock replaced by recorders (the macros below rename
 * them before bridge/tr_venus.c is included), so that a run is pure and
 * deterministic: no loop, no socket. The map is the shipped maps/venus.conf
 * (run from the repository's top directory, as `make test` does).
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

#define device_txn_done fz_device_txn_done
#define device_cache_store fz_device_cache_store
#define device_cache_unavailable fz_device_cache_unavailable
#define device_count_drop fz_device_count_drop
#define device_name fz_device_name
#define device_refresh_later fz_device_refresh_later
#define device_link_changed fz_device_link_changed
#define device_timeout fz_device_timeout
#define mqtt_link_get fz_mqtt_link_get
#define mqtt_link_publish fz_mqtt_link_publish
#define mqtt_link_subscribe fz_mqtt_link_subscribe
#define mqtt_link_release fz_mqtt_link_release
#define mqtt_link_is_up fz_mqtt_link_is_up
#define uv_now fz_uv_now
#define transport_venus fz_transport_venus
#define protocol_venus fz_protocol_venus
#include "../../bridge/tr_venus.c"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* ------------------------------------------------------------- the map -- */

static const struct map *fz_map;

static const struct map *fz_transport_map(void)
{
	return fz_map;
}

static int fz_load_map(void)
{
	char err[256];
	if (!fz_map)
		fz_map = map_load("maps/venus.conf", err, sizeof err);
	return fz_map != NULL;
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

uint64_t fz_uv_now(const uv_loop_t *loop)
{
	(void)loop;
	return fz_now;
}

void fz_device_txn_done(struct device *dev, struct txn *t, enum mb_exc status)
{
	(void)dev;
	FZ_CHECK(t != NULL && t == fz_inflight);
	FZ_CHECK(status == MB_EXC_NONE || (status > 0 && status <= 0x0B));
	fz_inflight = NULL;
	fz_done++;
	fz_last_status = status;
}

void fz_device_cache_store(struct device *dev, int table, uint16_t addr, uint16_t count,
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
		FZ_CHECK(i < fz_nsent && fz_now - fz_sent[i].at <= 2 * fz_device_timeout(NULL));
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
void fz_device_cache_unavailable(struct device *dev, const struct map_register *r, int odd)
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

void fz_device_count_drop(struct device *dev)
{
	(void)dev;
}

const char *fz_device_name(const struct device *dev)
{
	(void)dev;
	return "fuzz";
}

void fz_device_refresh_later(struct device *dev, uint64_t delay_ms)
{
	(void)dev, (void)delay_ms;
}

void fz_device_link_changed(struct device *dev, int up)
{
	(void)dev, (void)up;
}

uint64_t fz_device_timeout(const struct device *dev)
{
	(void)dev;
	return 3000;
}

struct mqtt_link *fz_mqtt_link_get(uv_loop_t *loop, const struct config_mqtt *cfg,
				   const char *client_id, char *err, size_t errlen)
{
	(void)loop, (void)cfg, (void)client_id, (void)err, (void)errlen;
	return NULL;
}

int fz_mqtt_link_publish(struct mqtt_link *l, const char *topic, const void *payload, size_t len,
			 int qos, int retain, int *mid, mqtt_pub_cb pub_cb, void *ctx)
{
	(void)l, (void)topic, (void)qos, (void)retain, (void)pub_cb, (void)ctx;
	FZ_CHECK(payload != NULL && len > 0 && len < TR_VENUS_CMD_MAX);
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

int fz_mqtt_link_subscribe(struct mqtt_link *l, const char *topic, int qos, mqtt_msg_cb msg_cb,
			   mqtt_state_cb state_cb, void *ctx)
{
	(void)l, (void)topic, (void)qos, (void)msg_cb, (void)state_cb, (void)ctx;
	return 0;
}

void fz_mqtt_link_release(struct mqtt_link *l, void *ctx)
{
	(void)l, (void)ctx;
}

int fz_mqtt_link_is_up(const struct mqtt_link *l)
{
	(void)l;
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
static void fz_deliver(struct tr_venus *v, const uint8_t *bytes, size_t len)
{
	uint8_t *copy = NULL;
	if (len) {
		copy = malloc(len);
		FZ_CHECK(copy != NULL);
		memcpy(copy, bytes, len);
	}
	unsigned before = fz_done;
	int untrusted_ret = 0;
	if ((v->wait == TR_VENUS_ACK || v->wait == TR_VENUS_CONFIRM) && len &&
	    len <= VENUS_MAX_MSG) {
		/* A bare ret= (no cd=) while a ghost of another command lives. */
		struct venus_reply *r = malloc(sizeof *r);
		int ret;
		FZ_CHECK(r != NULL);
		if (venus_parse((const char *)copy, len, r) > 0 &&
		    venus_classify(r, &ret) == VENUS_ACK && !r->has_cd &&
		    tr_venus__ghost_conflict(v, v->cmd, -1))
			untrusted_ret = 1;
		free(r);
	}
	fz_delivering = 1;
	fz_stored_query = NULL;
	tr_venus__on_msg(v, "t", copy, len);
	fz_delivering = 0;
	free(copy);
	FZ_CHECK(v->reply.npairs == 0);
	if (len == 0 || len > VENUS_MAX_MSG || untrusted_ret)
		FZ_CHECK(fz_done == before);
}

static void fz_start(struct tr_venus *v, struct txn *t)
{
	if (fz_inflight)
		return; /* the device model runs one transaction at a time */
	fz_inflight = t;
	int rc = tr_venus__start(v, t);
	if (rc != 0) {
		FZ_CHECK(rc > 0 && v->txn == NULL && v->wait == TR_VENUS_IDLE);
		fz_inflight = NULL;
	} else {
		FZ_CHECK(v->txn == t && v->wait != TR_VENUS_IDLE);
	}
}

static void fz_abort(struct tr_venus *v)
{
	if (!fz_inflight)
		return;
	tr_venus__abort(v, fz_inflight);
	FZ_CHECK(v->txn == NULL && v->wait == TR_VENUS_IDLE);
	fz_inflight = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint16_t words[8];
	static struct txn rd, wr;
	static uint8_t big[VENUS_MAX_MSG + 64];
	if (!fz_load_map())
		return 0;
	struct tr_venus *v = calloc(1, sizeof *v);
	FZ_CHECK(v != NULL);
	v->dev = NULL;
	v->map = fz_map;
	v->cmd_cd = -1;
	/* one topic family, as tr_venus__open sets it for topics = "hame" */
	v->heard = -1;
	v->fam_on[0] = 1;
	snprintf(v->cmd_topic[0], TR_VENUS_TOPIC_MAX, "hame_energy/HMG-50/App/0123456789ab/ctrl");
	snprintf(v->reply_topic[0], TR_VENUS_TOPIC_MAX,
		 "hame_energy/HMG-50/device/0123456789ab/ctrl");
	/* the read commands, as tr_venus__open sets them: cd=1, cd=14, cd=19 */
	FZ_CHECK(tr_venus__set_queries(v) == 0 && v->nqueries == 3);
	fz_now = 1000;
	fz_inflight = NULL;
	fz_done = 0;
	fz_pub_fail = 0;
	fz_mid = 0;
	fz_nsent = 0;
	memset(big, 'z', sizeof big);
	memcpy(big, "cel_c=99,pad=", 13);

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
			tr_venus__on_puback(v, (fz_byte(&in) & 1) ? fz_mid : fz_mid - 1);
			break;
		default: /* the next publish fails */
			fz_pub_fail = 1;
			break;
		}
		FZ_CHECK(v->nghosts <= TR_VENUS_GHOSTS && v->nexpect <= TR_VENUS_EXPECT_MAX);
		FZ_CHECK((v->txn == NULL) == (v->wait == TR_VENUS_IDLE));
		FZ_CHECK(v->txn == NULL || v->txn == fz_inflight);
	}
	fz_abort(v);
	free(v);
	return 0;
}

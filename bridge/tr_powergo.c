/* The `powergo` transport: Modbus RTU PDUs wrapped in the PowerGo header,
 * carried over MQTT (docs/design.md, "Vendor documents" and "Known errors in
 * the vendor documents").
 *
 * Requests are published to <device_id> (or powergo.request_topic), answers
 * arrive on <app_id> (or response_topic). The client ID is "APP" + app_id
 * unless mqtt.client_id says otherwise, so that the platform recognises us.
 *
 * The protocol carries no transaction ID: an answer can only be told from
 * another by its IDs, function code, byte count and, for writes, the echoed
 * address and value (FC06) or quantity (FC16). The device model gives us
 * one transaction at a time, and anything that does not fit the one in
 * flight — wrong IDs, bad CRC, another function code or length, nothing in
 * flight — is dropped and counted.
 *
 * Answers bound to their requests (docs/design.md): a request the device
 * model gave up on becomes a "ghost" that may still be answered, for at
 * most two device timeouts. The device answers in the order it was asked
 * (one instruction at a time; MQTT keeps the order of a topic), so a ghost
 * ends — is "settled" — as soon as an answer comes that can only be the
 * answer to a request sent after it: whatever it was, it will not answer
 * any more. An answer that fits the request in flight and no ghost that may
 * still answer is taken and settles every ghost; one that fits ghosts
 * settles every request sent before the oldest of them.
 *
 * Before a request is sent, its answer is made to look unlike the ghosts':
 * a read is widened by registers that the map says the device has (so its
 * byte count differs; the extra words are not used), a single-register
 * write switches between FC06 and FC16 (so the echo, and where possible the
 * function code of an exception, differs). It avoids, in this order, ghosts
 * of other transactions that may still answer, settled ones (against a
 * device that breaks the order), and earlier attempts of its own
 * transaction. Where that is impossible (an FC16 of several registers, a
 * register with no neighbour, an exception, which names only the function
 * code), an answer that fits both the request in flight and a ghost that
 * may still answer could be either's: it is dropped and ends the oldest such
 * ghost, and the request in flight waits for its own answer. A ghost of an
 * earlier attempt of the same transaction (a retry) answers the same
 * question and is taken; only then does the transaction's latest request
 * stay a ghost, until the next answer settles it. The request answered
 * last is shaped unlike as a settled ghost is, for two timeouts: the broker
 * sends an answer again when the device published it with QoS 1 and missed
 * the acknowledgement. A device a reload replaces hands its ghosts to its
 * successor (tr_powergo__adopt). What is left: an answer later than two
 * timeouts, a duplicate of an answer to a request that could not be shaped
 * unlike the next, or a device that answers out of order to a request that
 * could not be shaped unlike the settled ghosts.
 *
 * Sizes (section 4: an instruction and its data never exceed 100 bytes):
 * a read answer is 14 + 2n bytes, so max_read = 43 registers (codec_powergo.h has
 * the arithmetic); an FC16 instruction is 18 + 2n bytes, so at most 41
 * registers. A longer write is refused with exception 03 rather than split:
 * the pieces would be separate instructions, and if a later one failed the
 * device would be left half-written while the client is told it failed —
 * a write is acknowledged only when the device acknowledged all of it. No
 * writable block in the shipped map is anywhere near 41 registers long. */
#include "transport.h"

#include "config.h"
#include "config_mqtt.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "link_mqtt.h"
#include "codec_powergo.h"
#include "protocol.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The device's `powergo` block (docs/user-guide.md), parsed by the config
 * loader with tr_powergo__keys. */
struct tr_powergo_cfg {
	char *app_id, *device_id;	      /* 8 upper-case hex digits each */
	char *request_topic, *response_topic; /* NULL = <device_id> / <app_id> */
};

/* Requests given up on whose answers may still come. A full table evicts
 * a settled ghost first, then the one closest to its end (the one least
 * likely to still answer). The table is allocated only while it holds a
 * ghost, TR_POWERGO_GHOSTS_FIRST slots first, doubled when every slot is
 * live: a device that answers has none (a fleet of 10,000 would otherwise
 * carry 16 slots each; docs/design.md, "A fleet on one broker"). */
#define TR_POWERGO_GHOSTS 16
#define TR_POWERGO_GHOSTS_FIRST 2

/* Every answer is under 100 bytes (section 4 of the document); a message
 * far above that is nobody's answer and is not even decoded. */
#define TR_POWERGO_MAX_MESSAGE 256

struct tr_powergo_ghost {
	struct powergo_req req; /* as sent; req.words points at value */
	uint16_t value;		/* FC06: the value written */
	uint16_t skip;		/* words read before the transaction's first */
	uint32_t id;		/* struct txn.id */
	uint64_t seq;		/* the order it was sent in (tr_powergo.seq) */
	uint64_t until;		/* loop ms; 0 = free slot */
	int settled;		/* a later request was answered: it never will be */
};

struct tr_powergo {
	const struct transport_env *env; /* the device model, the clock, the link */
	struct device *dev;
	uv_loop_t *loop;
	struct link_mqtt *link;
	char *req_topic; /* NULL: the device ID (answers: the fan's topic) */
	int qos;
	struct txn *cur; /* the transaction in flight, or NULL */
	/* What was asked, to check the answer; a write's words are the
	 * transaction's (cur->words), valid while it is in flight. req.app
	 * and req.device are the device's IDs, set once. */
	struct powergo_req req;
	uint16_t skip;	/* words read before t->native (a widened read) */
	uint8_t nghost; /* slots in ghost (0: none allocated) */
	/* The request answered last, while a duplicate of its answer may
	 * still come (until ans_until, loop ms; 0: none): fc, address and
	 * count, in what would otherwise be padding. */
	uint8_t ans_fc;
	uint16_t ans_addr, ans_count;
	uint64_t seq;	      /* requests sent; the one in flight is number seq */
	uint64_t blind_until; /* loop ms: a ghost could not be kept, send nothing */
	uint64_t ans_until;
	struct tr_powergo_fan *fan;  /* the subscription it shares */
	struct tr_powergo *fan_next; /* in its fan's hash bucket */
	struct tr_powergo_ghost *ghost;
};

/* Devices on one link with one answer topic (every battery of an app ID
 * answers on the app ID's topic) share one subscription, a "fan": an
 * answer goes to the device whose ID is the frame's source, looked up in a
 * hash, not to every device of the topic to decode and drop (a fleet of
 * N batteries on one app ID made that N decodes per answer, N² per poll
 * round; docs/design.md, "A fleet on one broker"). An answer whose source
 * is no device's (or too short to have one) goes to the fan's first device,
 * which drops and counts it as before, so it is counted once. */
struct tr_powergo_fan {
	struct tr_powergo_fan *next;	 /* tr_powergo__fans */
	const struct transport_env *env; /* its first device's */
	struct link_mqtt *link;		 /* the fan holds a reference of its own */
	char *topic;
	int qos;
	size_t n;	 /* devices */
	size_t nbuckets; /* a power of two */
	struct tr_powergo **bucket;
	struct tr_powergo *first; /* gets what is no device's */
	uv_timer_t notify;	  /* tells devices that join an up link so */
	/* Link lines (tr_powergo__fan_log): when the next may be written
	 * (GCRA: each line moves it TR_POWERGO_LOG_EVERY_MS on), how many
	 * changes were not written, and the timer that writes the state once
	 * a line is allowed again. */
	uint64_t log_tat;
	unsigned long log_unsaid;
	uv_timer_t log_timer;
	int closes; /* handles still to close */
};

/* A fan of several devices writes one line when its link goes up or down,
 * naming its first device and counting the others, not one line per device
 * (a broker restart under 10,000 batteries wrote 20,000); at most
 * TR_POWERGO_LOG_BURST lines at once, then one per TR_POWERGO_LOG_EVERY_MS,
 * so that a flapping broker cannot flood the log; changes not written are
 * counted in the next line, which comes when it is allowed and says the
 * state then. A fan of one device writes that device's line, every time. */
#define TR_POWERGO_LOG_BURST 3
#define TR_POWERGO_LOG_EVERY_MS 60000

static struct tr_powergo_fan *tr_powergo__fans;

/* Devices per hash bucket before the table doubles: chains of a few, and
 * 2 bytes a device of a fleet for the table instead of 8 to 16. */
#define TR_POWERGO_FAN_LOAD 4

/* Would an answer to g pass as an answer to r? For reads: same function
 * code and count; writes: the same echo. */
static int tr_powergo__same_answer(const struct powergo_req *r, const struct tr_powergo_ghost *g)
{
	if (r->fc != g->req.fc)
		return 0;
	switch (r->fc) {
	case MB_FC_WRITE_SINGLE:
		return r->addr == g->req.addr && r->words && r->words[0] == g->value;
	case MB_FC_WRITE_MULTIPLE:
		return r->addr == g->req.addr && r->count == g->req.count;
	default:
		return r->count == g->req.count;
	}
}

/* Is g in use? Expired ghosts are freed on the way. */
static int tr_powergo__live(struct tr_powergo *st, struct tr_powergo_ghost *g)
{
	if (g->until && g->until <= st->env->now(st->loop))
		g->until = 0;
	return g->until != 0;
}

/* Could a duplicate of the last answer pass as an answer to r? The broker
 * sends a message again when the device published it with QoS 1 and the
 * acknowledgement was lost: the copy comes after the answer was taken,
 * while the next request may be in flight. An FC06's value is not kept:
 * any FC06 to the same address counts. */
static int tr_powergo__dup_fits(struct tr_powergo *st, const struct powergo_req *r)
{
	if (!st->ans_until || r->fc != st->ans_fc)
		return 0;
	if (st->ans_until <= st->env->now(st->loop)) {
		st->ans_until = 0;
		return 0;
	}
	switch (r->fc) {
	case MB_FC_WRITE_SINGLE:
		return r->addr == st->ans_addr;
	case MB_FC_WRITE_MULTIPLE:
		return r->addr == st->ans_addr && r->count == st->ans_count;
	default:
		return r->count == st->ans_count;
	}
}

/* How bad it would be to send r (for transaction id) while the ghosts live:
 * 8 when an answer of a ghost of another transaction that may still answer
 * would fit it (such an answer is dropped and r waits for its own), 4 when
 * one of a settled ghost would, or a duplicate of the last answer
 * (harmless if the device answers in order and the broker sends each
 * message once), 2 when one of an earlier attempt of the same transaction
 * would (the same question: taken, but the attempt in flight then stays a
 * ghost), summed. 0: no ghost's answer fits. */
static int tr_powergo__cost(struct tr_powergo *st, const struct powergo_req *r, uint32_t id)
{
	int cost = tr_powergo__dup_fits(st, r) ? 4 : 0;
	for (size_t i = 0; i < st->nghost; i++) {
		struct tr_powergo_ghost *g = &st->ghost[i];
		if (!tr_powergo__live(st, g) || !tr_powergo__same_answer(r, g))
			continue;
		if (g->id != id)
			cost |= g->settled ? 4 : 8;
		else if (!g->settled)
			cost |= 2;
	}
	return cost;
}

/* Free the ghost table once no ghost in it is live. */
static void tr_powergo__ghosts_trim(struct tr_powergo *st)
{
	for (size_t i = 0; i < st->nghost; i++)
		if (tr_powergo__live(st, &st->ghost[i]))
			return;
	free(st->ghost);
	st->ghost = NULL;
	st->nghost = 0;
}

/* A slot for a new ghost: a free one, else the table grows, else the
 * least useful ghost is evicted. NULL when out of memory: then nothing is
 * asked (tr_powergo__start refuses), and so nothing taken, for blind_ms,
 * until the answer that could not be remembered could no longer come. No
 * ghost is evicted for it. */
static struct tr_powergo_ghost *tr_powergo__ghost_slot(struct tr_powergo *st, uint64_t blind_ms)
{
	struct tr_powergo_ghost *slot = NULL;
	for (size_t i = 0; i < st->nghost; i++) {
		struct tr_powergo_ghost *g = &st->ghost[i];
		if (!tr_powergo__live(st, g)) {
			slot = g;
			break;
		}
		if (!slot || (g->settled && !slot->settled) ||
		    (g->settled == slot->settled && g->until < slot->until))
			slot = g;
	}
	if ((!slot || tr_powergo__live(st, slot)) && st->nghost < TR_POWERGO_GHOSTS) {
		/* Every slot is live and the table may grow. */
		size_t n = st->nghost ? 2 * (size_t)st->nghost : TR_POWERGO_GHOSTS_FIRST;
		struct tr_powergo_ghost *g = realloc(st->ghost, n * sizeof *g);
		if (!g) {
			uint64_t until = st->env->now(st->loop) + blind_ms + 1;
			if (until > st->blind_until)
				st->blind_until = until;
			return NULL;
		}
		memset(g + st->nghost, 0, (n - st->nghost) * sizeof *g);
		slot = g + st->nghost;
		st->ghost = g;
		st->nghost = (uint8_t)n;
	}
	return slot;
}

/* Remember the request in flight (st->req, number st->seq) as a ghost. */
static void tr_powergo__add_ghost(struct tr_powergo *st, uint32_t id)
{
	struct tr_powergo_ghost *slot = tr_powergo__ghost_slot(st, 2 * device_timeout(st->dev));
	if (!slot)
		return;
	slot->req = st->req;
	slot->req.words = NULL;
	slot->value = st->req.fc == MB_FC_WRITE_SINGLE ? st->req.words[0] : 0;
	slot->skip = st->skip;
	slot->id = id;
	slot->seq = st->seq;
	slot->settled = 0;
	slot->until = (st->env->now(st->loop) + 2 * device_timeout(st->dev)) | 1;
}

/* How bad an exception answer with function code fc would be for
 * transaction id (an exception names nothing else): 2 when a ghost of
 * another transaction that may still answer was sent with fc, 1 when only
 * a settled one was. */
static int tr_powergo__fc_cost(struct tr_powergo *st, uint8_t fc, uint32_t id)
{
	int cost = st->ans_until && st->ans_fc == fc && st->ans_until > st->env->now(st->loop);
	for (size_t i = 0; i < st->nghost; i++) {
		struct tr_powergo_ghost *g = &st->ghost[i];
		if (tr_powergo__live(st, g) && g->id != id && g->req.fc == fc)
			cost |= g->settled ? 1 : 2;
	}
	return cost;
}

/* A one-register write can go as FC06 or FC16: score each by whether a
 * ghost's echo (most) or exception would fit its answer; keep the client's
 * choice unless the other form scores lower. */
static void tr_powergo__pick_write_fc(struct tr_powergo *st, const struct txn *t)
{
	uint8_t first = st->req.fc;
	uint8_t other = first == MB_FC_WRITE_SINGLE ? MB_FC_WRITE_MULTIPLE : MB_FC_WRITE_SINGLE;
	int score[2];
	for (int k = 0; k < 2; k++) {
		st->req.fc = k ? other : first;
		score[k] = 4 * tr_powergo__cost(st, &st->req, t->id) +
			   tr_powergo__fc_cost(st, st->req.fc, t->id);
	}
	st->req.fc = score[1] < score[0] ? other : first;
}

/* Does the device have readable native register addr in table (per the
 * map)? A widened read may only touch registers that exist, or the device
 * would answer 02. */
static int tr_powergo__has_native(const struct tr_powergo *st, int table, uint32_t addr)
{
	size_t n = map_nregs(device_map(st->dev));
	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(device_map(st->dev), i);
		if (r->table == table && (r->access & MAP_R) && addr >= r->native &&
		    addr < (uint32_t)r->native + r->count)
			return 1;
	}
	return 0;
}

/* Make the read in st->req (for txn t) answerable unlike the ghosts': of
 * every width it can be grown to (registers after its range, then before,
 * that the map says the device has; at most max_read), take the narrowest
 * of the lowest cost (tr_powergo__cost). A read's answer shows only its
 * width, so only the width matters. Leaves it as it is when nothing helps. */
static void tr_powergo__widen_read(struct tr_powergo *st, const struct txn *t)
{
	int best = tr_powergo__cost(st, &st->req, t->id);
	if (!best)
		return;
	/* How far the device's registers reach on either side. */
	uint16_t after = 0, before = 0;
	while (t->count + after < POWERGO_MAX_READ &&
	       (uint32_t)t->native + t->count + after <= 0xFFFF &&
	       tr_powergo__has_native(st, t->table, (uint32_t)t->native + t->count + after))
		after++;
	while (t->count + after + before < POWERGO_MAX_READ && t->native > before &&
	       tr_powergo__has_native(st, t->table, (uint32_t)t->native - before - 1))
		before++;
	uint16_t best_k = 0;
	struct powergo_req r = st->req;
	for (uint16_t k = 1; k <= after + before && best; k++) {
		r.count = (uint16_t)(t->count + k);
		int c = tr_powergo__cost(st, &r, t->id);
		if (c < best) {
			best = c;
			best_k = k;
		}
	}
	if (!best_k)
		return;
	uint16_t b = best_k > after ? (uint16_t)(best_k - after) : 0;
	st->req.addr = (uint16_t)(t->native - b);
	st->req.count = (uint16_t)(t->count + best_k);
	st->skip = b;
}

/* The device answers in the order it was asked: once an answer to request
 * number seq (or a later one) has come, no request sent before seq will be
 * answered any more. Their ghosts are settled: they no longer make an
 * answer ambiguous, though requests are still shaped unlike them where that
 * costs nothing (tr_powergo__cost), against a device that breaks the rule. */
static void tr_powergo__settle_before(struct tr_powergo *st, uint64_t seq)
{
	for (size_t i = 0; i < st->nghost; i++) {
		struct tr_powergo_ghost *g = &st->ghost[i];
		if (tr_powergo__live(st, g) && g->seq < seq)
			g->settled = 1;
	}
}

static void tr_powergo__hexdump(char *out, size_t outlen, const uint8_t *p, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < len && used + 4 < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%02x", i ? " " : "", p[i]);
}

static void tr_powergo__drop(struct tr_powergo *st, const char *why, const uint8_t *p, size_t len)
{
	st->env->count_drop(st->dev);
	if (log_enabled(MBLOG_DEBUG)) {
		char hex[3 * 64 + 8];
		tr_powergo__hexdump(hex, sizeof hex, p, len < 64 ? len : 64);
		log_debug("%s: dropped answer (%s, %zu bytes): %s%s", device_name(st->dev), why,
			  len, hex, len > 64 ? " ..." : "");
	}
}

static void tr_powergo__on_message(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	struct tr_powergo *st = ctx;
	struct powergo_answer a;
	(void)topic;

	if (len > TR_POWERGO_MAX_MESSAGE) {
		tr_powergo__drop(st, "longer than any answer", payload, 16);
		return;
	}
	/* Whose answer is it? The request in flight's, a ghost's, several's,
	 * or none. Settled ghosts are out: a later request was answered. The
	 * device answers in the order it was asked (one instruction at a time,
	 * MQTT keeps the order of a topic), so whoever's it is, every request
	 * sent before the oldest that it fits is settled, and that oldest one
	 * has answered (it is the owner) or never will (an owner sent later
	 * was answered after it). */
	int rc = st->cur ? codec_powergo_decode_answer(&st->req, payload, len, &a) : MB_ENOENT;
	uint16_t skip = st->skip;
	struct powergo_answer other;
	struct tr_powergo_ghost *oldest = NULL;
	int settled_fit = 0;
	for (size_t i = 0; i < st->nghost; i++) {
		struct tr_powergo_ghost *g = &st->ghost[i];
		if (!tr_powergo__live(st, g) || (oldest && oldest->seq <= g->seq))
			continue;
		g->req.words = &g->value;
		int grc = codec_powergo_decode_answer(&g->req, payload, len, &other);
		g->req.words = NULL;
		if (grc == 0 && g->settled)
			settled_fit = 1;
		else if (grc == 0)
			oldest = g;
	}
	if (oldest) {
		tr_powergo__settle_before(st, oldest->seq);
		/* It has answered or never will. */
		oldest->until = 0;
		oldest->req.words = &oldest->value;
		codec_powergo_decode_answer(&oldest->req, payload, len, &other);
		oldest->req.words = NULL;
		if (!st->cur || oldest->id != st->cur->id) {
			tr_powergo__drop(st,
					 rc == 0 ? "could be a late answer to an earlier request"
						 : "late answer",
					 payload, len);
			return;
		}
		/* An earlier attempt of the request in flight: the same
		 * question, asked a little earlier. */
		a = other;
		skip = oldest->skip;
		rc = 0;
	} else if (rc == 0) {
		/* It can only be the request in flight's: everything asked
		 * before it is settled. */
		tr_powergo__settle_before(st, st->seq);
	}
	if (rc < 0) {
		tr_powergo__drop(st,
				 rc == MB_ENOENT ? "no request in flight"
				 : settled_fit	 ? "late answer"
						 : mb_strerror(rc),
				 payload, len);
		return;
	}
	/* Clear our state first: device_txn_done() may start the next one,
	 * shaped unlike this answer if it can be, in case the broker sends
	 * the answer again (tr_powergo__dup_fits). */
	struct txn *t = st->cur;
	const struct powergo_req *asked = oldest ? &oldest->req : &st->req;
	st->cur = NULL;
	st->ans_fc = asked->fc;
	st->ans_addr = asked->addr;
	st->ans_count = asked->count;
	st->ans_until = (st->env->now(st->loop) + 2 * device_timeout(st->dev)) | 1;
	/* An earlier attempt answered: the one in flight may still answer
	 * (before anything asked after it). */
	if (oldest)
		tr_powergo__add_ghost(st, t->id);
	if (a.exception) {
		log_debug("%s: device answered exception %02x to fc %02x at %u",
			  device_name(st->dev), a.exception, st->req.fc, st->req.addr);
		st->env->txn_done(st->dev, t, (enum mb_exc)a.exception);
		return;
	}
	if (t->op == TXN_READ)
		st->env->cache_store(st->dev, t->table, t->addr, t->count, a.words + skip);
	st->env->txn_done(st->dev, t, MB_EXC_NONE);
}

/* ---------------------------------------------------------------- fans -- */

static size_t tr_powergo__hash(uint32_t id, size_t nbuckets)
{
	return (size_t)((id * 2654435761u) >> 7) & (nbuckets - 1);
}

static struct tr_powergo *tr_powergo__fan_find(const struct tr_powergo_fan *f, uint32_t id)
{
	struct tr_powergo *st = f->bucket[tr_powergo__hash(id, f->nbuckets)];
	while (st && st->req.device != id)
		st = st->fan_next;
	return st;
}

static void tr_powergo__fan_on_message(void *ctx, const char *topic, const uint8_t *payload,
				       size_t len)
{
	struct tr_powergo_fan *f = ctx;
	struct tr_powergo *st = NULL;
	if (len >= 4)
		st = tr_powergo__fan_find(f, (uint32_t)payload[0] << 24 |
						 (uint32_t)payload[1] << 16 |
						 (uint32_t)payload[2] << 8 | payload[3]);
	if (!st)
		st = f->first;
	if (st)
		tr_powergo__on_message(st, topic, payload, len);
}

static void tr_powergo__fan_say(struct tr_powergo_fan *f, int up)
{
	const char *first = f->first ? device_name(f->first->dev) : "?";
	char unsaid[64] = "";
	if (f->log_unsaid)
		snprintf(unsaid, sizeof unsaid, " (%lu change%s not logged)", f->log_unsaid,
			 f->log_unsaid == 1 ? "" : "s");
	if (f->n <= 1)
		log_info("%s: link %s%s", first, up ? "up" : "down", unsaid);
	else
		log_info("%s: link %s, and %zu more powergo device%s on mqtt %s%s", first,
			 up ? "up" : "down", f->n - 1, f->n == 2 ? "" : "s",
			 f->env->mqtt->name ? f->env->mqtt->name(f->link) : "?", unsaid);
	f->log_unsaid = 0;
}

/* May a line be written now? Takes its place if so. */
static int tr_powergo__fan_log_ok(struct tr_powergo_fan *f, uint64_t now)
{
	const uint64_t span = (TR_POWERGO_LOG_BURST - 1) * (uint64_t)TR_POWERGO_LOG_EVERY_MS;
	if (f->log_tat > now + span)
		return 0;
	f->log_tat = (f->log_tat > now ? f->log_tat : now) + TR_POWERGO_LOG_EVERY_MS;
	return 1;
}

static void tr_powergo__fan_on_log_timer(uv_timer_t *t)
{
	struct tr_powergo_fan *f = t->data;
	if (f->log_unsaid && tr_powergo__fan_log_ok(f, f->env->now(t->loop)))
		tr_powergo__fan_say(f, f->env->mqtt->is_up(f->link));
}

/* changed devices of the fan saw the link go up or down: one line, or
 * counted for the next one. */
static void tr_powergo__fan_log(struct tr_powergo_fan *f, int up, size_t changed)
{
	uint64_t now = f->env->now(f->notify.loop);
	if (!changed)
		return;
	/* A link of one device says it as that device always did. */
	if (f->n <= 1 || tr_powergo__fan_log_ok(f, now)) {
		tr_powergo__fan_say(f, up);
		return;
	}
	f->log_unsaid++;
	const uint64_t span = (TR_POWERGO_LOG_BURST - 1) * (uint64_t)TR_POWERGO_LOG_EVERY_MS;
	if (!uv_is_active((uv_handle_t *)&f->log_timer))
		uv_timer_start(&f->log_timer, tr_powergo__fan_on_log_timer, f->log_tat - span - now,
			       0);
}

/* The link went up or down: every device of the fan, and one line for
 * them (a device that joins an up link, after a reload, gets its own).
 * Each device fails (and aborts) what is in flight when the link goes down:
 * an answer can no longer reach it on this connection. A device's callback
 * may not close a device (closing is the loop's, later), but take the next
 * one first all the same. */
static void tr_powergo__fan_on_state(void *ctx, int up)
{
	struct tr_powergo_fan *f = ctx;
	size_t changed = 0;
	struct tr_powergo *one = NULL;
	for (size_t b = 0; b < f->nbuckets; b++) {
		for (struct tr_powergo *st = f->bucket[b]; st; st = st->fan_next) {
			if (!device_link_up(st->dev) != !up) {
				changed++;
				one = st;
			}
		}
	}
	if (changed == 1 && f->n > 1)
		f->env->link_changed(one->dev, up);
	else
		tr_powergo__fan_log(f, up, changed);
	for (size_t b = 0; b < f->nbuckets; b++) {
		for (struct tr_powergo *st = f->bucket[b], *next; st; st = next) {
			next = st->fan_next;
			f->env->link_changed_quiet(st->dev, up);
		}
	}
}

static void tr_powergo__fan_on_notify(uv_timer_t *t)
{
	struct tr_powergo_fan *f = t->data;
	tr_powergo__fan_on_state(f, f->env->mqtt->is_up(f->link));
}

static void tr_powergo__fan_free(uv_handle_t *h)
{
	struct tr_powergo_fan *f = h->data;
	if (--f->closes)
		return;
	free(f->bucket);
	free(f->topic);
	free(f);
}

static int tr_powergo__fan_grow(struct tr_powergo_fan *f)
{
	size_t nb = f->nbuckets ? f->nbuckets * 2 : 16;
	struct tr_powergo **b = calloc(nb, sizeof *b);
	if (!b)
		return MB_ENOMEM;
	for (size_t i = 0; i < f->nbuckets; i++) {
		for (struct tr_powergo *st = f->bucket[i], *next; st; st = next) {
			next = st->fan_next;
			size_t h = tr_powergo__hash(st->req.device, nb);
			st->fan_next = b[h];
			b[h] = st;
		}
	}
	free(f->bucket);
	f->bucket = b;
	f->nbuckets = nb;
	return 0;
}

/* st replaces old, a device of the same IDs that a reload is about to
 * close: answers to old's requests (the one in flight, its ghosts, a
 * duplicate of its last answer) may still come, and from now on they reach
 * st, which is found first. st takes them over as ghosts of no transaction
 * of its own (id 0: struct txn.id starts at 1), numbered before anything
 * it sends, so that its requests are shaped unlike them and such an answer
 * is never taken for its own (docs/design.md, "Answers bound to their
 * requests"). */
static void tr_powergo__adopt(struct tr_powergo *st, struct tr_powergo *old)
{
	uint64_t now = st->env->now(st->loop);
	st->seq = old->seq;
	st->ans_fc = old->ans_fc;
	st->ans_addr = old->ans_addr;
	st->ans_count = old->ans_count;
	st->ans_until = old->ans_until;
	st->blind_until = old->blind_until;
	for (size_t i = 0; i < old->nghost; i++) {
		struct tr_powergo_ghost *g = &old->ghost[i], *slot;
		if (!tr_powergo__live(old, g) ||
		    !(slot = tr_powergo__ghost_slot(st, g->until - now)))
			continue;
		*slot = *g;
		slot->id = 0;
	}
	if (old->cur) {
		struct tr_powergo_ghost *slot =
		    tr_powergo__ghost_slot(st, 2 * device_timeout(old->dev));
		if (!slot)
			return;
		slot->req = old->req;
		slot->req.words = NULL;
		slot->value = old->req.fc == MB_FC_WRITE_SINGLE ? old->req.words[0] : 0;
		slot->skip = old->skip;
		slot->id = 0;
		slot->seq = old->seq;
		slot->settled = 0;
		slot->until = (now + 2 * device_timeout(old->dev)) | 1;
	}
}

/* Add st to the fan of its link and answer topic, subscribing for the
 * first device. cfg and client_id take the fan's own link reference. */
static int tr_powergo__fan_join(struct tr_powergo *st, uv_loop_t *loop,
				const struct config_mqtt *mqtt, const char *client_id,
				const char *resp_topic, char *err, size_t errlen)
{
	struct tr_powergo_fan *f = tr_powergo__fans;
	while (f && (f->link != st->link || strcmp(f->topic, resp_topic) != 0))
		f = f->next;
	if (!f) {
		if (!(f = calloc(1, sizeof *f)) || !(f->topic = strdup(resp_topic)) ||
		    tr_powergo__fan_grow(f) != 0) {
			if (f)
				free(f->topic);
			free(f);
			snprintf(err, errlen, "out of memory");
			return MB_ENOMEM;
		}
		f->qos = st->qos;
		f->env = st->env;
		if (!(f->link = f->env->mqtt->get(loop, mqtt, client_id, err, errlen))) {
			free(f->bucket);
			free(f->topic);
			free(f);
			return MB_EIO;
		}
		if (f->env->mqtt->subscribe(f->link, f->topic, f->qos, tr_powergo__fan_on_message,
					    tr_powergo__fan_on_state, f) != 0) {
			f->env->mqtt->release(f->link, f);
			free(f->bucket);
			free(f->topic);
			free(f);
			snprintf(err, errlen, "out of memory");
			return MB_ENOMEM;
		}
		/* The link drops longer messages before decoding (and the
		 * broker, over MQTT v5, before sending); the device the fan
		 * hands them to counts them. */
		f->env->mqtt->limit(f->link, f, TR_POWERGO_MAX_MESSAGE, tr_powergo__fan_on_message);
		uv_timer_init(loop, &f->notify);
		f->notify.data = f;
		uv_timer_init(loop, &f->log_timer);
		f->log_timer.data = f;
		f->next = tr_powergo__fans;
		tr_powergo__fans = f;
	} else if (f->n + 1 > TR_POWERGO_FAN_LOAD * f->nbuckets && tr_powergo__fan_grow(f) != 0) {
		/* The chains only get longer: still correct. */
	}
	struct tr_powergo *old = tr_powergo__fan_find(f, st->req.device);
	if (old && old->req.app == st->req.app)
		tr_powergo__adopt(st, old);
	size_t h = tr_powergo__hash(st->req.device, f->nbuckets);
	st->fan_next = f->bucket[h];
	f->bucket[h] = st;
	if (!f->first)
		f->first = st;
	f->n++;
	st->fan = f;
	/* The link tells the fan's subscription that it is up once; a device
	 * that joins later (a reload) is told from the loop, as the link
	 * tells a new subscriber, not from inside its own open path. */
	if (f->n > 1 && f->env->mqtt->is_up(f->link))
		uv_timer_start(&f->notify, tr_powergo__fan_on_notify, 0, 0);
	return 0;
}

static void tr_powergo__fan_leave(struct tr_powergo *st)
{
	struct tr_powergo_fan *f = st->fan;
	if (!f)
		return;
	st->fan = NULL;
	for (struct tr_powergo **pp = &f->bucket[tr_powergo__hash(st->req.device, f->nbuckets)];
	     *pp; pp = &(*pp)->fan_next) {
		if (*pp == st) {
			*pp = st->fan_next;
			break;
		}
	}
	st->fan_next = NULL;
	f->n--;
	if (f->first == st) {
		f->first = NULL;
		for (size_t b = 0; b < f->nbuckets && !f->first; b++)
			f->first = f->bucket[b];
	}
	if (f->n)
		return;
	for (struct tr_powergo_fan **pp = &tr_powergo__fans; *pp; pp = &(*pp)->next) {
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	}
	f->env->mqtt->release(f->link, f);
	f->closes = 2;
	uv_close((uv_handle_t *)&f->notify, tr_powergo__fan_free);
	uv_close((uv_handle_t *)&f->log_timer, tr_powergo__fan_free);
}

static int tr_powergo__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			    const struct map *map, void **state, char *err, size_t errlen)
{
	const struct tr_powergo_cfg *pc = cfg->proto_cfg;
	char app[9], devid[9], client[16];

	struct tr_powergo *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "line %d: device %s: out of memory", cfg->line, cfg->name);
		return MB_ENOMEM;
	}
	st->env = transport_env;
	(void)map; /* the device's, device_map() */
	st->dev = dev;
	st->loop = loop;
	if (!pc || codec_powergo_parse_id(pc->app_id, &st->req.app) != 0 ||
	    codec_powergo_parse_id(pc->device_id, &st->req.device) != 0) {
		snprintf(
		    err, errlen,
		    "line %d: device %s: powergo needs app_id and device_id, 8 hex digits each",
		    cfg->line, cfg->name);
		free(st);
		return MB_EINVAL;
	}
	codec_powergo_format_id(st->req.app, app);
	codec_powergo_format_id(st->req.device, devid);
	/* The default request topic is the device ID, formatted when sent;
	 * the answer topic is the fan's. */
	const char *resp_topic = pc->response_topic ? pc->response_topic : app;
	if (pc->request_topic && !(st->req_topic = strdup(pc->request_topic)))
		goto nomem;
	st->qos = cfg->mqtt.qos >= 0 && cfg->mqtt.qos <= 2 ? cfg->mqtt.qos : 0;
	snprintf(client, sizeof client, "APP%s", app);
	const char *client_id = cfg->mqtt.client_id ? cfg->mqtt.client_id : client;
	st->link = st->env->mqtt->get(loop, &cfg->mqtt, client_id, err, errlen);
	if (!st->link) {
		free(st->req_topic);
		free(st);
		return MB_EIO;
	}
	if (tr_powergo__fan_join(st, loop, &cfg->mqtt, client_id, resp_topic, err, errlen) != 0) {
		st->env->mqtt->release(st->link, st);
		goto nomem;
	}
	log_debug("%s: powergo app %s device %s, requests to '%s', answers on '%s', client %s",
		  cfg->name, app, devid, st->req_topic ? st->req_topic : devid, resp_topic,
		  client_id);
	*state = st;
	return 0;

nomem:
	snprintf(err, errlen, "line %d: device %s: out of memory", cfg->line, cfg->name);
	free(st->req_topic);
	free(st);
	return MB_ENOMEM;
}

static enum mb_exc tr_powergo__start(void *state, struct txn *t)
{
	struct tr_powergo *st = state;
	uint8_t frame[POWERGO_BUF_LEN];

	if (st->cur) {
		/* The device model promises one transaction at a time; without
		 * a transaction ID two could not be told apart. */
		log_err("%s: powergo: a second transaction while one is in flight",
			device_name(st->dev));
		return MB_EXC_DEVICE_FAILURE;
	}
	if (!st->env->mqtt->is_up(st->link))
		return MB_EXC_GATEWAY_PATH;
	if (st->blind_until) {
		if (st->env->now(st->loop) < st->blind_until)
			return MB_EXC_DEVICE_FAILURE;
		st->blind_until = 0;
	}
	tr_powergo__ghosts_trim(st);

	st->req.addr = t->native;
	st->req.count = t->count;
	st->req.words = NULL;
	st->skip = 0;
	if (t->op == TXN_READ) {
		if (t->count == 0 || t->count > POWERGO_MAX_READ)
			return MB_EXC_ILLEGAL_VALUE;
		st->req.fc = t->table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
		tr_powergo__widen_read(st, t);
	} else {
		/* See the top of this file: no split writes. */
		if (t->count == 0 || t->count > POWERGO_MAX_WRITE || !t->words)
			return MB_EXC_ILLEGAL_VALUE;
		st->req.fc = t->fc == MB_FC_WRITE_SINGLE && t->count == 1 ? MB_FC_WRITE_SINGLE
									  : MB_FC_WRITE_MULTIPLE;
		st->req.words = t->words;
		/* One register: FC06 echoes the value, FC16 the quantity; take
		 * the one no ghost would answer like, and whose exception
		 * answer (which names only the function code) no ghost's could
		 * be taken for, where that is possible. */
		if (t->count == 1)
			tr_powergo__pick_write_fc(st, t);
	}
	st->seq++;
	int n = codec_powergo_encode_request(&st->req, frame, sizeof frame);
	if (n < 0 || n > POWERGO_MAX_FRAME) {
		log_err("%s: powergo: cannot encode fc %02x at %u x %u: %s", device_name(st->dev),
			st->req.fc, st->req.addr, st->req.count,
			n < 0 ? mb_strerror(n) : "too long");
		return MB_EXC_DEVICE_FAILURE;
	}
	char devid[9];
	codec_powergo_format_id(st->req.device, devid);
	int rc = st->env->mqtt->publish(st->link, st->req_topic ? st->req_topic : devid, frame,
					(size_t)n, st->qos, 0, NULL, NULL, NULL);
	if (rc != 0) {
		log_debug("%s: powergo: publish failed: %s", device_name(st->dev), mb_strerror(rc));
		return rc == MB_ELINK ? MB_EXC_GATEWAY_PATH : MB_EXC_DEVICE_FAILURE;
	}
	st->cur = t;
	return MB_EXC_NONE;
}

static void tr_powergo__abort(void *state, struct txn *t)
{
	struct tr_powergo *st = state;
	/* Keep it as a ghost: whatever answers it later is dropped and
	 * counted, and never taken for another transaction's answer. */
	if (st->cur == t) {
		tr_powergo__add_ghost(st, t->id);
		st->cur = NULL;
	}
}

static bool tr_powergo__link_up(void *state)
{
	struct tr_powergo *st = state;
	return st->env->mqtt->is_up(st->link);
}

static void tr_powergo__close(void *state)
{
	struct tr_powergo *st = state;
	if (!st)
		return;
	/* The fan (and the link, for its last device) drops our callbacks
	 * now; the link closes its own handles. */
	tr_powergo__fan_leave(st);
	st->env->mqtt->release(st->link, st);
	free(st->req_topic);
	free(st->ghost);
	free(st);
}

const struct transport_ops transport_powergo = {
    .max_read = POWERGO_MAX_READ,
    .open = tr_powergo__open,
    .start = tr_powergo__start,
    .abort = tr_powergo__abort,
    .link_up = tr_powergo__link_up,
    .close = tr_powergo__close,
};

/* ------------------------------------------------------------ protocol -- */

static const char *tr_powergo__check_id(const char *v)
{
	if (strlen(v) != 8)
		return "must be 8 upper-case hex digits";
	for (; *v; v++)
		if (!((*v >= '0' && *v <= '9') || (*v >= 'A' && *v <= 'F')))
			return "must be 8 upper-case hex digits";
	return NULL;
}

/* Two devices of one broker with the same IDs: the fan hands the
 * battery's answers to one of them (config.c refuses the second). */
static int tr_powergo__same_peer(const void *a, const void *b)
{
	const struct tr_powergo_cfg *x = a, *y = b;
	return x->app_id && y->app_id && x->device_id && y->device_id &&
	       strcmp(x->app_id, y->app_id) == 0 && strcmp(x->device_id, y->device_id) == 0;
}

static void tr_powergo__what_peer(const void *a, char *buf, size_t len)
{
	const struct tr_powergo_cfg *x = a;
	snprintf(buf, len, "app_id %s, device_id %s", x->app_id ? x->app_id : "?",
		 x->device_id ? x->device_id : "?");
}

#define TR_POWERGO__CFG(field) offsetof(struct tr_powergo_cfg, field)

/* clang-format off */
static const struct config_key tr_powergo__keys[] = {
	{.name = "app_id", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED,
	 .off = TR_POWERGO__CFG(app_id), .check = tr_powergo__check_id},
	{.name = "device_id", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED,
	 .off = TR_POWERGO__CFG(device_id), .check = tr_powergo__check_id},
	{.name = "request_topic", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = TR_POWERGO__CFG(request_topic), .check = config_mqtt_check_topic},
	{.name = "response_topic", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = TR_POWERGO__CFG(response_topic), .check = config_mqtt_check_topic},
};
/* clang-format on */

/* The passwords the device holds (powergo-mqtt-interface.txt, section 5):
 * never passed through (maps/powergo.conf leaves them out too). */
static const struct protocol_secret tr_powergo__secrets[] = {
    {.table = -1, .first = 120, .last = 129, .what = "Wi-Fi password"},
    {.table = -1, .first = 190, .last = 199, .what = "MQTT password"},
};

const struct protocol protocol_powergo = {
    .name = "powergo",
    .text = "PowerGo over MQTT: Modbus RTU requests in a 9-byte header",
    .flags = PROTOCOL_MQTT | PROTOCOL_NATIVE | PROTOCOL_RTU,
    .keys = tr_powergo__keys,
    .nkeys = sizeof tr_powergo__keys / sizeof tr_powergo__keys[0],
    .cfg_size = sizeof(struct tr_powergo_cfg),
    .same_peer = tr_powergo__same_peer,
    .what_peer = tr_powergo__what_peer,
    .ops = &transport_powergo,
    .default_poll = 20000,
    .typical_rtt = 500,
    .secrets = tr_powergo__secrets,
    .nsecrets = sizeof tr_powergo__secrets / sizeof tr_powergo__secrets[0],
};

/* The Venus transport: Hame/Marstek Venus batteries over MQTT
 * (docs/user-guide.md, "Writes" and "Cache, polling and coalescing").
 * Commands are text published to `<prefix>/<type>/App/<id>/ctrl`; the
 * device answers on
 * `<prefix>/<type>/device/<id>/ctrl`. Two topic families exist: the old
 * `hame_energy` and newer firmware's `marstek_energy`, whose <id> is, for
 * B2500 types HMA/HMF/HMK/HMJ, the MAC encrypted (codec_venus_topic_id_encrypt).
 * Both are listened to unless the config names one (`topics`); commands go
 * to the family the device last answered on, and to both before it has
 * answered at all: a device listens on its firmware's family only, so no
 * command is carried out twice (docs/protocols/venus.md, "Topic families").
 * The same transport serves the B2500 (v1, v2) and the Jupiter: their
 * maps name their keys and commands. A read refreshes every register at
 * once (TRANSPORT_READ_ALL: the device model coalesces all reads into it):
 * it sends each other query the map's registers name (`query = "cd=19"`:
 * CT power; "cd=14": BMS), then `cd=1`, whose status dump holds most keys,
 * and ends with that dump. The device answers in order, so the other
 * replies are in by then; one that comes later is still taken while its
 * query is recent (two timeouts), and a firmware that never answers a query
 * leaves only that query's registers stale (their reads get 04), never the
 * dump's. Replies name no request; each is bound to its query by the keys
 * it holds: a reply is taken for the one query whose registers' keys it
 * names, and only that query's registers are stored from it
 * (docs/design.md, "Answers bound to their requests", Venus). A write
 * renders the register's or the
 * command group's template; some commands are acknowledged with `ret=`,
 * others are not, and those are confirmed by the next refresh. Neither a
 * ret= nor a dump names the request it answers: see "ghosts" below for how
 * a late ret= is kept from acknowledging another write. */
#include "transport.h"

#include <libconfig.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_mqtt.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "link_mqtt.h"
#include "protocol.h"
#include "codec_venus.h"
#include "transport_test.h"

#define TR_VENUS_TOPIC_MAX 256
#define TR_VENUS_CMD_MAX 256
/* Registers one command may cover (a period has 7). */
#define TR_VENUS_ARGS_MAX 32
/* Written values kept to compare with the refresh that follows a write the
 * device does not acknowledge. */
#define TR_VENUS_EXPECT_MAX 32
/* How long after an unacknowledged write the refresh that confirms it runs
 * (the device model's min_interval may push it further out). */
#define TR_VENUS_CONFIRM_MS 1000
/* Acknowledged writes whose ret= may still arrive, remembered at once (see
 * "ghosts" below). The device model runs one transaction at a time and each
 * lasts at most its timeout, so a ghost life of two timeouts leaves at most
 * three alive; a full table degrades to "every ret= is suspect". */
#define TR_VENUS_GHOSTS 8
/* Distinct read commands a map may use: cd=1 and at most 7 `query`s. */
#define TR_VENUS_QUERIES 8

/* The device's `venus` block (docs/user-guide.md), parsed by the config
 * loader with tr_venus__keys. */
struct tr_venus_cfg {
	char *type;	/* e.g. "HMG-50" */
	char *id;	/* Bluetooth MAC, 12 lower-case hex digits */
	char *prefix;	/* the old family's, default "hame_energy" */
	char *topic_id; /* the new family's <id>, NULL: derived from id */
	uint8_t topics; /* TR_VENUS_FAM_* */
};

/* The topic families, as `topics` names them; index 0 is hame_energy (or
 * `prefix`), 1 marstek_energy. */
enum { TR_VENUS_FAM_BOTH, TR_VENUS_FAM_HAME, TR_VENUS_FAM_MARSTEK };
#define TR_VENUS_NEW_PREFIX "marstek_energy"
static const char tr_venus__families[][8] = {"both", "hame", "marstek", ""};

enum tr_venus_wait {
	TR_VENUS_IDLE,
	TR_VENUS_READ,	  /* cd=1 sent, waiting for a status dump */
	TR_VENUS_ACK,	  /* write sent, waiting for ret= */
	TR_VENUS_CONFIRM, /* write and cd=1 sent, waiting for the dump that shows it */
	TR_VENUS_PUBACK	  /* unacknowledged write, waiting for the broker's PUBACK */
};

struct tr_venus_expect {
	const struct map_register *reg;
	int64_t value;
};

/* A ghost: an acknowledged write whose ret= may still be on its way (it was
 * aborted, or it ended on a ret= that may have been another's). A `ret=`
 * names no command, so while a ghost of another command lives, a ret= cannot
 * be taken as the answer to the write in flight. */
struct tr_venus_ghost {
	char cmd[TR_VENUS_CMD_MAX]; /* the command text as published */
	int64_t cd;		    /* its cd=, -1 if none */
	uint64_t until;		    /* loop time (ms) it is forgotten at */
};

struct tr_venus {
	const struct transport_env *env; /* the device model, the clock, the link */
	struct device *dev;
	uv_loop_t *loop;
	const struct map *map;
	struct link_mqtt *link;
	/* [0] the hame_energy family, [1] marstek_energy; fam_on[f]: listened
	 * to; heard: the family the device last answered on, -1 before. */
	char cmd_topic[2][TR_VENUS_TOPIC_MAX];
	char reply_topic[2][TR_VENUS_TOPIC_MAX];
	int fam_on[2];
	int heard;
	int qos;
	struct txn *txn; /* in flight, or NULL */
	enum tr_venus_wait wait;
	int mid;		    /* PUBACK to wait for */
	int64_t cmd_cd;		    /* cd of the write in flight, for acks that name it */
	char cmd[TR_VENUS_CMD_MAX]; /* the acknowledged write in flight */
	int had_ghosts;		    /* some ghost lived when it started */
	struct tr_venus_ghost ghosts[TR_VENUS_GHOSTS];
	size_t nghosts;
	uint64_t ghost_any_until; /* a ghost pushed out of the full table lives until */
	/* cd=1 aborted before their dump came: that many dumps may arrive late,
	 * until read_ghost_until. A write confirmed by a dump skips as many
	 * dumps that contradict it before it believes one. */
	size_t read_ghosts, stale_skipped;
	uint64_t read_ghost_until;
	/* values of the unacknowledged write in flight, then until a refresh */
	struct tr_venus_expect pending[TR_VENUS_ARGS_MAX];
	size_t npending;
	struct tr_venus_expect expect[TR_VENUS_EXPECT_MAX];
	size_t nexpect;
	/* The read commands: [0] "cd=1", then each distinct `query` of the
	 * map; a reply to query q > 0 is taken until query_until[q] (loop
	 * ms), two timeouts after it was last sent. */
	const char *queries[TR_VENUS_QUERIES];
	uint64_t query_until[TR_VENUS_QUERIES];
	size_t nqueries;
	/* Bit q: a reply to query q was stored since the read in flight began. */
	unsigned answered;
	/* scratch: replies are parsed here, not on the loop's stack */
	struct venus_reply reply;
};

/* ------------------------------------------------------------- replies -- */

/* Store one register from the reply; 1 when stored, 0 when absent. */
static int tr_venus__store_reg(struct tr_venus *v, const struct map_register *r)
{
	const struct venus_pair *p = codec_venus_find(&v->reply, r->key);
	uint16_t words[MB_MAX_READ];
	if (!p || r->count > MB_MAX_READ)
		return 0;
	if (r->type == MAP_STRING) {
		char s[VENUS_MAX_VALUE + 1];
		int rc = codec_venus_pair_str(p, r->field, s, sizeof s);
		if (rc == MB_ENOENT)
			return 0;
		/* A value longer than the register keeps what fits: a WiFi
		 * name cut short is still the truth, a stale one is not. */
		if ((size_t)r->count * 2 < strlen(s))
			s[(size_t)r->count * 2] = 0;
		if (map_encode_string(r, s, words) != 0)
			return 0;
	} else {
		int64_t val = 0;
		int rc = codec_venus_pair_int(p, r->field, &val), parsed = rc == 0;
		if (rc == MB_ENOENT)
			return 0; /* the |-field is missing: nothing said about it */
		if (rc == 0)
			rc = map_encode(r, val, words);
		if (rc != 0) {
			/* An odd value (-1 where unsigned, past the type, not a
			 * number) is not a 0 and is not this register's value:
			 * counted, and the register alone goes without it
			 * (docs/design.md, "Map files"); its neighbours in the
			 * reply are stored as usual. */
			if (parsed)
				log_debug("%s: %s: %s=%lld does not fit its type",
					  device_name(v->dev), r->name, r->key, (long long)val);
			else
				log_debug("%s: %s: %s is not a number (%s)", device_name(v->dev),
					  r->name, r->key, mb_strerror(rc));
			v->env->cache_unavailable(v->dev, r, 1);
			return 1;
		}
		/* Compare with what an unacknowledged write asked for. */
		for (size_t i = 0; i < v->nexpect; i++) {
			if (v->expect[i].reg != r)
				continue;
			if (v->expect[i].value != val)
				log_warn("%s: %s is %lld after writing %lld: the device did not "
					 "apply the write",
					 device_name(v->dev), r->name, (long long)val,
					 (long long)v->expect[i].value);
			else
				log_debug("%s: %s = %lld confirmed", device_name(v->dev), r->name,
					  (long long)val);
			v->expect[i] = v->expect[--v->nexpect];
			i--;
		}
	}
	v->env->cache_store(v->dev, r->table, r->address, r->count, words);
	return 1;
}

/* The read command whose reply holds r's key: an index into v->queries. */
static size_t tr_venus__query_of(const struct tr_venus *v, const struct map_register *r)
{
	for (size_t q = 1; r->query && q < v->nqueries; q++)
		if (strcmp(v->queries[q], r->query) == 0)
			return q;
	return 0;
}

/* The queries whose readable registers' keys the reply just parsed names,
 * one bit each. A reply names one query's keys: its own. */
static unsigned tr_venus__queries_named(const struct tr_venus *v)
{
	unsigned named = 0;
	size_t n = map_nregs(v->map);
	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(v->map, i);
		if (r->key && (r->access & MAP_R) && codec_venus_find(&v->reply, r->key))
			named |= 1u << tr_venus__query_of(v, r);
	}
	return named;
}

/* A reply answered query q: store every key of q's registers, and none of
 * another query's (a key an answer to another command happens to hold is
 * not that command's answer). */
static int tr_venus__store_query(struct tr_venus *v, size_t q)
{
	size_t n = map_nregs(v->map), stored = 0;
	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(v->map, i);
		if (r->key && (r->access & MAP_R) && tr_venus__query_of(v, r) == q)
			stored += (size_t)tr_venus__store_reg(v, r);
	}
	return (int)stored;
}

/* The read ends on its dump, and the device answers in order: a query
 * whose reply is not in by now went unanswered (a firmware without cd=14,
 * the Venus document's). Its registers that declare `unavailable` are
 * optional: they serve that value until a reply comes (a late one, within
 * the query's window, still counts), so that a read covering them and the
 * dump's registers answers whole. Registers without it stay stale (04). */
static void tr_venus__unanswered(struct tr_venus *v)
{
	size_t n = map_nregs(v->map);
	for (size_t q = 1; q < v->nqueries; q++) {
		if (v->answered & (1u << q))
			continue;
		size_t marked = 0;
		for (size_t i = 0; i < n; i++) {
			const struct map_register *r = map_reg(v->map, i);
			if (r->has_unavail && r->key && (r->access & MAP_R) &&
			    tr_venus__query_of(v, r) == q) {
				v->env->cache_unavailable(v->dev, r, 0);
				marked++;
			}
		}
		if (marked)
			log_debug("%s: no reply to %s: %zu registers serve their unavailable "
				  "value",
				  device_name(v->dev), v->queries[q], marked);
	}
}

/* ------------------------------------------------------------- ghosts -- */

static uint64_t tr_venus__now(const struct tr_venus *v)
{
	return v->env->now(v->loop);
}

/* How long a late ret= or dump is expected: two device timeouts after the
 * transaction ended, three after the command left. */
static uint64_t tr_venus__ghost_life(const struct tr_venus *v)
{
	return 2 * device_timeout(v->dev);
}

static void tr_venus__ghosts_expire(struct tr_venus *v)
{
	uint64_t now = tr_venus__now(v);
	for (size_t i = 0; i < v->nghosts;) {
		if (v->ghosts[i].until <= now)
			v->ghosts[i] = v->ghosts[--v->nghosts];
		else
			i++;
	}
	if (v->ghost_any_until <= now)
		v->ghost_any_until = 0;
	if (v->read_ghost_until <= now) {
		v->read_ghost_until = 0;
		v->read_ghosts = 0;
	}
}

/* Remember that cmd's ret= may still arrive. */
static void tr_venus__ghost_add(struct tr_venus *v, const char *cmd, int64_t cd)
{
	uint64_t until = tr_venus__now(v) + tr_venus__ghost_life(v);
	tr_venus__ghosts_expire(v);
	for (size_t i = 0; i < v->nghosts; i++) {
		if (strcmp(v->ghosts[i].cmd, cmd) == 0) {
			v->ghosts[i].until = until;
			return;
		}
	}
	if (v->nghosts == TR_VENUS_GHOSTS) {
		/* Forget the one closest to its end, but not that something is
		 * out there: until then every ret= is suspect. */
		size_t old = 0;
		for (size_t i = 1; i < v->nghosts; i++)
			if (v->ghosts[i].until < v->ghosts[old].until)
				old = i;
		if (v->ghosts[old].until > v->ghost_any_until)
			v->ghost_any_until = v->ghosts[old].until;
		v->ghosts[old] = v->ghosts[--v->nghosts];
	}
	struct tr_venus_ghost *g = &v->ghosts[v->nghosts++];
	snprintf(g->cmd, sizeof g->cmd, "%s", cmd);
	g->cd = cd;
	g->until = until;
}

/* Could a living ghost of a command other than cmd send a ret= naming cd
 * (cd < 0: any ret=)? A ghost of cmd itself is harmless: its answer answers
 * the same question (a retry of the same write). */
static int tr_venus__ghost_conflict(struct tr_venus *v, const char *cmd, int64_t cd)
{
	tr_venus__ghosts_expire(v);
	if (v->ghost_any_until)
		return 1;
	for (size_t i = 0; i < v->nghosts; i++) {
		const struct tr_venus_ghost *g = &v->ghosts[i];
		if (strcmp(g->cmd, cmd) != 0 && (cd < 0 || g->cd < 0 || g->cd == cd))
			return 1;
	}
	return 0;
}

/* Is the ret= just parsed the answer to the write in flight? Yes when no
 * ghost of another command lives, or when the ret= names our cd= and no
 * such ghost has that cd (firmware that prefixes answers with cd=N). */
static int tr_venus__ack_trusted(struct tr_venus *v)
{
	if (!tr_venus__ghost_conflict(v, v->cmd, -1))
		return 1;
	return v->reply.has_cd && v->cmd_cd >= 0 && v->reply.cd == v->cmd_cd &&
	       !tr_venus__ghost_conflict(v, v->cmd, v->cmd_cd);
}

/* ------------------------------------------------------------- answers -- */

static void tr_venus__finish(struct tr_venus *v, enum mb_exc status)
{
	struct txn *t = v->txn;
	v->txn = NULL;
	v->wait = TR_VENUS_IDLE;
	v->npending = 0;
	/* Last: device_txn_done() may start the next transaction at once. */
	v->env->txn_done(v->dev, t, status);
}

/* An acknowledged write ends. Its own ret= may still come when the answer
 * it ended on could have been a ghost's, or when it ended on a dump: then
 * it haunts the next writes for a while itself. */
static void tr_venus__finish_write(struct tr_venus *v, enum mb_exc status, int own_answer)
{
	if (!own_answer || v->had_ghosts)
		tr_venus__ghost_add(v, v->cmd, v->cmd_cd);
	tr_venus__finish(v, status);
}

static void tr_venus__drop(struct tr_venus *v, const char *why, const uint8_t *payload, size_t len)
{
	v->env->count_drop(v->dev);
	log_debug("%s: dropped %s (%zu bytes): %.*s", device_name(v->dev), why, len,
		  (int)(len > 120 ? 120 : len), payload ? (const char *)payload : "");
}

/* A status dump while a write waits for its confirmation (a ret= could not
 * be trusted): the write succeeded when the dump shows every value written.
 * Only a dump that carries all the written keys counts. */
static void tr_venus__confirm(struct tr_venus *v, const uint8_t *payload, size_t len)
{
	int64_t got[TR_VENUS_ARGS_MAX];
	size_t bad = v->npending;
	for (size_t i = 0; i < v->npending; i++) {
		const struct map_register *r = v->pending[i].reg;
		const struct venus_pair *p = codec_venus_find(&v->reply, r->key);
		if (!p || codec_venus_pair_int(p, r->field, &got[i]) != 0) {
			tr_venus__drop(v, "status without the written keys", payload, len);
			return;
		}
		if (bad == v->npending && got[i] != v->pending[i].value)
			bad = i;
	}
	tr_venus__ghosts_expire(v);
	if (bad < v->npending && v->stale_skipped < v->read_ghosts) {
		/* A cd=1 that timed out earlier may be answered only now, with
		 * the state from before this write: wait for our own dump. */
		v->stale_skipped++;
		tr_venus__drop(v, "status that may answer an earlier cd=1", payload, len);
		return;
	}
	/* Whichever cd=1 it answers, it is the device's state: keep it. */
	tr_venus__store_query(v, 0);
	if (bad < v->npending)
		log_info("%s: %s is %lld after writing %lld: the device refused the write",
			 device_name(v->dev), v->pending[bad].reg->name, (long long)got[bad],
			 (long long)v->pending[bad].value);
	tr_venus__finish_write(v, bad < v->npending ? MB_EXC_DEVICE_FAILURE : MB_EXC_NONE, 0);
}

static void tr_venus__on_reply(struct tr_venus *v, int fam, const uint8_t *payload, size_t len)
{
	int ret = -1;
	int n = codec_venus_parse((const char *)payload, len, &v->reply);
	enum venus_kind kind = n > 0 ? codec_venus_classify(&v->reply, &ret) : VENUS_MALFORMED;
	if (v->reply.malformed)
		log_debug("%s: %zu malformed pairs skipped", device_name(v->dev),
			  v->reply.malformed);
	/* A well-formed message on a family's reply topic is the device
	 * speaking there: answer on that family from now on. */
	if (kind != VENUS_MALFORMED && fam != v->heard) {
		log_info("%s: the device answers on %s: commands go there", device_name(v->dev),
			 v->reply_topic[fam]);
		v->heard = fam;
	}

	if (kind == VENUS_ACK) {
		if (v->wait != TR_VENUS_ACK && v->wait != TR_VENUS_CONFIRM) {
			tr_venus__drop(v, "unexpected acknowledgement", payload, len);
			return;
		}
		/* An ack that names another command answers someone else. */
		if (v->reply.has_cd && v->cmd_cd >= 0 && v->reply.cd != v->cmd_cd) {
			tr_venus__drop(v, "acknowledgement of another command", payload, len);
			return;
		}
		/* It may be the late ret= of a timed-out write of another command:
		 * a write waiting for a confirmation waits for the dump, one
		 * that cannot be confirmed so waits for its timeout (0B). */
		if (!tr_venus__ack_trusted(v)) {
			tr_venus__drop(v, "acknowledgement that may be a timed-out write's",
				       payload, len);
			return;
		}
		if (ret != 1)
			log_info("%s: device refused the write (ret=0)", device_name(v->dev));
		tr_venus__finish_write(v, ret == 1 ? MB_EXC_NONE : MB_EXC_DEVICE_FAILURE, 1);
		return;
	}
	if (kind != VENUS_STATUS) {
		tr_venus__drop(v, "malformed answer", payload, len);
		return;
	}
	/* Which query it answers, its keys tell: the keys of two queries are
	 * no command's answer; a reply to another query than cd=1 is taken
	 * while that query is recent, whatever waits now. */
	unsigned named = tr_venus__queries_named(v);
	if (named & (named - 1)) {
		tr_venus__drop(v, "reply with the keys of several queries", payload, len);
		return;
	}
	if (named > 1) {
		size_t q = 1;
		while (!(named & (1u << q)))
			q++;
		if (v->query_until[q] <= tr_venus__now(v))
			tr_venus__drop(v, "unsolicited reply", payload, len);
		else if (tr_venus__store_query(v, q) == 0)
			tr_venus__drop(v, "reply without a usable value", payload, len);
		else {
			v->answered |= 1u << q;
			log_debug("%s: reply to %s stored", device_name(v->dev), v->queries[q]);
		}
		return;
	}
	if (v->wait == TR_VENUS_CONFIRM) {
		tr_venus__confirm(v, payload, len);
		return;
	}
	if (v->wait != TR_VENUS_READ) {
		/* Late (after a timeout) or asked for by someone else: the
		 * contract is that only the answer to a cd=1 of ours is cached. */
		tr_venus__drop(v, "unsolicited status", payload, len);
		return;
	}
	/* A dump names no request either, so this may be the late dump of a
	 * cd=1 that timed out before. That is fine for a read: a dump is the
	 * device's own current state, whichever cd=1 it answers. A reply
	 * naming no mapped key (a command the map does not read) is nobody's:
	 * keep waiting for the dump. */
	if (named == 0 || tr_venus__store_query(v, 0) == 0) {
		tr_venus__drop(v, "status without a mapped key", payload, len);
		return;
	}
	tr_venus__unanswered(v);
	tr_venus__finish(v, MB_EXC_NONE);
}

static void tr_venus__on_msg(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	struct tr_venus *v = ctx;
	/* The family it came on (the link delivers only our two topics). */
	int fam = v->fam_on[1] && topic && strcmp(topic, v->reply_topic[1]) == 0 ? 1
		  : v->fam_on[0]						 ? 0
										 : 1;

	/* An empty message is normal MQTT (it clears a retained one), never a
	 * Venus answer; one above VENUS_MAX_MSG is not one either, and is not
	 * parsed at all. Neither ends a wait. */
	if (len == 0 || !payload)
		tr_venus__drop(v, "empty message", NULL, 0);
	else if (len > VENUS_MAX_MSG)
		tr_venus__drop(v, "oversized message", payload, len);
	else
		tr_venus__on_reply(v, fam, payload, len);
	/* The pairs point into payload, which is freed when we return. */
	v->reply.npairs = 0;
}

static void tr_venus__on_state(void *ctx, int up)
{
	struct tr_venus *v = ctx;
	/* The device model aborts what is in flight when the link goes down. */
	v->env->link_changed(v->dev, up);
}

static void tr_venus__on_puback(void *ctx, int mid)
{
	struct tr_venus *v = ctx;
	if (v->wait != TR_VENUS_PUBACK || mid != v->mid)
		return;
	/* The broker has the command; the device says nothing, so the next
	 * refresh tells whether it was applied. */
	for (size_t i = 0; i < v->npending; i++) {
		/* A later write to the same register supersedes what an earlier
		 * one expected: the refresh can only show the last. */
		for (size_t k = 0; k < v->nexpect;) {
			if (v->expect[k].reg == v->pending[i].reg)
				v->expect[k] = v->expect[--v->nexpect];
			else
				k++;
		}
		if (v->nexpect == TR_VENUS_EXPECT_MAX) {
			memmove(v->expect, v->expect + 1,
				(TR_VENUS_EXPECT_MAX - 1) * sizeof v->expect[0]);
			v->nexpect--;
		}
		v->expect[v->nexpect++] = v->pending[i];
	}
	v->npending = 0;
	v->env->refresh_later(v->dev, TR_VENUS_CONFIRM_MS);
	tr_venus__finish(v, MB_EXC_NONE);
}

/* ------------------------------------------------------------ commands -- */

static enum mb_exc tr_venus__publish(struct tr_venus *v, const char *cmd, int qos, int *mid,
				     link_mqtt_pub_cb cb)
{
	/* To the family the device answers on; before it has answered, to
	 * every family listened to (with a PUBACK callback, the last one's mid
	 * is the one waited for). It left when it reached one broker topic. */
	int sent = 0;
	for (int f = 0; f < 2; f++) {
		if (!v->fam_on[f] || (v->heard >= 0 && v->heard != f))
			continue;
		int rc = v->env->mqtt->publish(v->link, v->cmd_topic[f], cmd, strlen(cmd), qos, 0,
					       mid, cb, v);
		if (rc != 0)
			log_debug("%s: publish %s to %s: %s", device_name(v->dev), cmd,
				  v->cmd_topic[f], mb_strerror(rc));
		else
			sent++;
	}
	if (!sent)
		return MB_EXC_GATEWAY_PATH;
	log_debug("%s: > %s", device_name(v->dev), cmd);
	return MB_EXC_NONE;
}

/* The values a write carries, one per register it covers, signed per the
 * register's type, as the device's own values (map_to_native). For a command, {n} indexes the n-th
 * *register* of the group, not the n-th word, so that a 32-bit price is one placeholder. Returns
 * the number of values, or a Modbus exception negated (the device model checks ranges first; this
 * is the last line of defence). */
static int tr_venus__values(struct tr_venus *v, const struct txn *t, int64_t *args,
			    const struct map_register **regs)
{
	size_t n = 0;
	uint32_t a = t->addr, end = (uint32_t)t->addr + t->count;
	while (a < end) {
		const struct map_register *r = map_find(v->map, t->table, (uint16_t)a);
		if (!r || r->address != a || a + r->count > end || r->type == MAP_STRING)
			return -MB_EXC_ILLEGAL_ADDRESS;
		if (n == TR_VENUS_ARGS_MAX)
			return -MB_EXC_ILLEGAL_ADDRESS;
		args[n] = map_decode(r, t->words + (a - t->addr));
		if (!map_value_ok(r, args[n]))
			return -MB_EXC_ILLEGAL_VALUE;
		/* A derived register (factor, translate) writes the device's
		 * own value; one without a native equivalent is refused (03). */
		if (map_to_native(r, args[n], &args[n]) != 0)
			return -MB_EXC_ILLEGAL_VALUE;
		regs[n++] = r;
		a += r->count;
	}
	return (int)n;
}

/* An acknowledged write. While a ghost of another command lives, a ret=
 * proves nothing: the write is then published together with a cd=1, and the
 * dump that follows it (the device answers in order) tells whether the
 * device applied it. A write whose registers cannot be read back has no
 * such proof and waits for a ret= that names its cd= (0B without one). */
static enum mb_exc tr_venus__start_acked(struct tr_venus *v, const char *cmd, int n,
					 const struct map_register *const *regs,
					 const int64_t *args)
{
	snprintf(v->cmd, sizeof v->cmd, "%s", cmd);
	tr_venus__ghosts_expire(v);
	v->had_ghosts = v->nghosts > 0 || v->ghost_any_until != 0;
	int confirmable = 1;
	v->npending = 0;
	for (int i = 0; i < n; i++) {
		v->pending[v->npending++] = (struct tr_venus_expect){regs[i], args[i]};
		if (!regs[i]->key || !(regs[i]->access & MAP_R))
			confirmable = 0;
	}
	int confirm = confirmable && tr_venus__ghost_conflict(v, cmd, -1);
	v->wait = confirm ? TR_VENUS_CONFIRM : TR_VENUS_ACK;
	v->stale_skipped = 0;
	enum mb_exc rc = tr_venus__publish(v, cmd, v->qos, NULL, NULL);
	if (rc == MB_EXC_NONE && confirm) {
		log_debug("%s: a timed-out write's ret= may still come: confirming %s by a "
			  "refresh",
			  device_name(v->dev), cmd);
		rc = tr_venus__publish(v, "cd=1", v->qos, NULL, NULL);
		if (rc)
			tr_venus__ghost_add(v, v->cmd, v->cmd_cd); /* the write did leave */
	}
	if (rc) {
		v->txn = NULL;
		v->wait = TR_VENUS_IDLE;
		v->npending = 0;
	}
	return rc;
}

static enum mb_exc tr_venus__start_write(struct tr_venus *v, struct txn *t)
{
	int64_t args[TR_VENUS_ARGS_MAX];
	const struct map_register *regs[TR_VENUS_ARGS_MAX];
	const char *tmpl;
	int ack;

	if (t->cmd) {
		if (t->addr != t->cmd->address || t->count != t->cmd->count)
			return MB_EXC_ILLEGAL_ADDRESS;
		tmpl = t->cmd->template;
		ack = t->cmd->ack > 0;
	} else if (t->reg && t->reg->write) {
		if (t->addr != t->reg->address || t->count != t->reg->count)
			return MB_EXC_ILLEGAL_ADDRESS;
		tmpl = t->reg->write;
		ack = t->reg->ack > 0;
	} else {
		return MB_EXC_ILLEGAL_ADDRESS; /* nothing says how to write it */
	}
	int n = tr_venus__values(v, t, args, regs);
	if (n < 0)
		return (enum mb_exc) - n;
	if (n == 0)
		return MB_EXC_ILLEGAL_ADDRESS;

	char cmd[TR_VENUS_CMD_MAX];
	int len = codec_venus_render(tmpl, args, (size_t)n, cmd, sizeof cmd);
	if (len < 0) {
		log_warn("%s: cannot render \"%s\": %s", device_name(v->dev), tmpl,
			 mb_strerror(len));
		return MB_EXC_ILLEGAL_VALUE;
	}
	/* The cd= of the command, to tell its ack from another's. */
	struct venus_reply *r = &v->reply;
	v->cmd_cd = codec_venus_parse(cmd, (size_t)len, r) >= 0 && r->has_cd ? r->cd : -1;
	r->npairs = 0; /* the pairs point into cmd, on this stack */

	v->txn = t;
	if (ack)
		return tr_venus__start_acked(v, cmd, n, regs, args);
	/* No answer will come: at least know that the broker has it (QoS 1). */
	v->npending = 0;
	for (int i = 0; i < n; i++)
		v->pending[v->npending++] = (struct tr_venus_expect){regs[i], args[i]};
	v->wait = TR_VENUS_PUBACK;
	v->mid = -1;
	enum mb_exc rc =
	    tr_venus__publish(v, cmd, v->qos > 1 ? v->qos : 1, &v->mid, tr_venus__on_puback);
	if (rc) {
		v->txn = NULL;
		v->wait = TR_VENUS_IDLE;
		v->npending = 0;
	}
	return rc;
}

/* ----------------------------------------------------------------- ops -- */

static enum mb_exc tr_venus__start(void *state, struct txn *t)
{
	struct tr_venus *v = state;
	if (v->txn) {
		log_err("%s: a transaction is already in flight", device_name(v->dev));
		return MB_EXC_DEVICE_FAILURE;
	}
	if (t->op == TXN_WRITE)
		return tr_venus__start_write(v, t);
	v->txn = t;
	v->wait = TR_VENUS_READ;
	v->answered = 0;
	/* Every query at once, one round trip: the others first, cd=1 last,
	 * so that their replies (the device answers in order) are in when the
	 * dump ends the read. */
	enum mb_exc rc = MB_EXC_NONE;
	for (size_t q = 1; q < v->nqueries && rc == MB_EXC_NONE; q++) {
		rc = tr_venus__publish(v, v->queries[q], v->qos, NULL, NULL);
		/* A reply is ours only if the query left: one that failed to
		 * go out opens no window for replies (someone else's, or a
		 * stale one). */
		if (rc == MB_EXC_NONE)
			v->query_until[q] = tr_venus__now(v) + tr_venus__ghost_life(v);
	}
	if (rc == MB_EXC_NONE)
		rc = tr_venus__publish(v, "cd=1", v->qos, NULL, NULL);
	if (rc) {
		v->txn = NULL;
		v->wait = TR_VENUS_IDLE;
	}
	return rc;
}

static void tr_venus__abort(void *state, struct txn *t)
{
	struct tr_venus *v = state;
	if (v->txn != t)
		return;
	/* A late answer now finds no transaction and is dropped and counted,
	 * or (ret= of a write) is remembered as a ghost, so that it cannot
	 * pass for the answer to a later write of another command. */
	if (v->wait == TR_VENUS_ACK || v->wait == TR_VENUS_CONFIRM)
		tr_venus__ghost_add(v, v->cmd, v->cmd_cd);
	/* No answer where one was due: the device may have moved to the other
	 * topic family (a firmware update), or a message on the other family's
	 * reply topic was not the device's. Either way the next command goes
	 * to both families again, until the device answers on one. */
	if (v->wait != TR_VENUS_PUBACK && v->heard >= 0 && v->fam_on[0] && v->fam_on[1]) {
		log_info("%s: no answer on %s: commands go to both topic families again",
			 device_name(v->dev), v->reply_topic[v->heard]);
		v->heard = -1;
	}
	if (v->wait == TR_VENUS_READ || v->wait == TR_VENUS_CONFIRM) {
		tr_venus__ghosts_expire(v);
		v->read_ghosts++;
		v->read_ghost_until = tr_venus__now(v) + tr_venus__ghost_life(v);
	}
	v->txn = NULL;
	v->wait = TR_VENUS_IDLE;
	v->npending = 0;
}

static bool tr_venus__link_up(void *state)
{
	struct tr_venus *v = state;
	return v->env->mqtt->is_up(v->link);
}

static void tr_venus__close(void *state)
{
	struct tr_venus *v = state;
	if (!v)
		return;
	/* The link forgets our callbacks now; we own no handles. */
	if (v->link)
		v->env->mqtt->release(v->link, v);
	free(v);
}

/* The map's read commands: "cd=1", then each distinct `query` of a
 * readable register. The linter (tr_venus__map_lint) has checked that there
 * are at most TR_VENUS_QUERIES; -1 if there are more all the same. */
static int tr_venus__set_queries(struct tr_venus *v)
{
	v->nqueries = 0;
	v->queries[v->nqueries++] = "cd=1";
	for (size_t i = 0; i < map_nregs(v->map); i++) {
		const struct map_register *r = map_reg(v->map, i);
		if (!r->query || !(r->access & MAP_R) || tr_venus__query_of(v, r) != 0 ||
		    strcmp(r->query, "cd=1") == 0)
			continue;
		if (v->nqueries == TR_VENUS_QUERIES)
			return -1;
		v->queries[v->nqueries++] = r->query;
	}
	return 0;
}

/* The marstek_energy family's <id>: `topic_id` when given, else the MAC
 * encrypted for the types that need it, else the MAC. 0, or MB_EPROTO when
 * it must be computed and the daemon has no libcrypto. */
static int tr_venus__new_id(const struct tr_venus_cfg *vc, char *out, size_t outlen)
{
	if (vc->topic_id) {
		int n = snprintf(out, outlen, "%s", vc->topic_id);
		return n < 0 || (size_t)n >= outlen ? MB_ETOOBIG : 0;
	}
	if (!codec_venus_type_encrypts(vc->type)) {
		int n = snprintf(out, outlen, "%s", vc->id);
		return n < 0 || (size_t)n >= outlen ? MB_ETOOBIG : 0;
	}
	int rc = codec_venus_topic_id_encrypt(vc->id, out, outlen);
	return rc < 0 ? rc : 0;
}

/* The default client ID of this daemon's Venus connection: two daemons on
 * one broker must not take each other's session, so it names the host and
 * the process. The PID alone is not enough: in containers it is usually
 * the same (1) in every instance, while each container has a host name of
 * its own. At most 16 + 32 + 1 + 10 characters (of the 63 a caller has);
 * a host name's characters other than letters, digits, '.', '-' and '_'
 * become '_'. */
static void tr_venus__client_id(char *out, size_t len)
{
	char host[256]; /* HOST_NAME_MAX is 64 on Linux */
	if (gethostname(host, sizeof host) != 0)
		host[0] = 0;
	host[32] = 0;
	for (char *c = host; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_'))
			*c = '_';
	if (host[0])
		snprintf(out, len, "modbridge-venus-%.32s-%d", host, (int)getpid());
	else
		snprintf(out, len, "modbridge-venus-%d", (int)getpid());
}

/* The block and the map were checked when they were loaded
 * (tr_venus__keys, tr_venus__cfg_done and the map rules below), by the
 * same code for --check, start and a reload. */
static int tr_venus__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			  const struct map *map, void **state, char *err, size_t errlen)
{
	const struct tr_venus_cfg *vc = cfg->proto_cfg;
	int rc;

	if (!vc || !vc->type || !vc->id || !vc->prefix) {
		snprintf(err, errlen, "line %d: device \"%s\": no venus block", cfg->line,
			 cfg->name);
		return MB_EINVAL;
	}
	struct tr_venus *v = calloc(1, sizeof *v);
	if (!v)
		return MB_ENOMEM;
	v->env = transport_env;
	v->dev = dev;
	v->loop = loop;
	v->map = map;
	v->qos = cfg->mqtt.qos;
	v->cmd_cd = -1;
	if (tr_venus__set_queries(v) != 0) {
		snprintf(err, errlen, "device \"%s\": map %s has more than %d queries", cfg->name,
			 map_name(map), TR_VENUS_QUERIES - 1);
		free(v);
		return MB_EINVAL;
	}
	v->heard = -1;
	v->fam_on[0] = vc->topics != TR_VENUS_FAM_MARSTEK;
	v->fam_on[1] = vc->topics != TR_VENUS_FAM_HAME;
	char new_id[VENUS_TOPIC_ID_LEN + 1];
	if (v->fam_on[1] && tr_venus__new_id(vc, new_id, sizeof new_id) != 0) {
		log_warn("%s: type %s needs an encrypted topic ID in the %s topics, and this "
			 "modbridge is built without libcrypto: listening on %s only (give "
			 "topic_id for both)",
			 cfg->name, vc->type, TR_VENUS_NEW_PREFIX, vc->prefix);
		v->fam_on[1] = 0;
	}
	if (!v->fam_on[1])
		snprintf(new_id, sizeof new_id, "%s", vc->id);
	if (codec_venus_topic(v->cmd_topic[0], TR_VENUS_TOPIC_MAX, vc->prefix, vc->type, "App",
			      vc->id) < 0 ||
	    codec_venus_topic(v->reply_topic[0], TR_VENUS_TOPIC_MAX, vc->prefix, vc->type, "device",
			      vc->id) < 0 ||
	    codec_venus_topic(v->cmd_topic[1], TR_VENUS_TOPIC_MAX, TR_VENUS_NEW_PREFIX, vc->type,
			      "App", new_id) < 0 ||
	    codec_venus_topic(v->reply_topic[1], TR_VENUS_TOPIC_MAX, TR_VENUS_NEW_PREFIX, vc->type,
			      "device", new_id) < 0) {
		snprintf(err, errlen, "line %d: device \"%s\": venus topics cannot be made",
			 cfg->line, cfg->name);
		free(v);
		return MB_EINVAL;
	}
	/* One connection serves every Venus device of this daemon on a broker
	 * (links are shared by broker, user and client ID). */
	char client_id[64];
	if (cfg->mqtt.client_id)
		snprintf(client_id, sizeof client_id, "%s", cfg->mqtt.client_id);
	else
		tr_venus__client_id(client_id, sizeof client_id);
	v->link = v->env->mqtt->get(loop, &cfg->mqtt, client_id, err, errlen);
	if (!v->link) {
		free(v);
		return MB_ELINK;
	}
	/* Set before subscribing: a link that is already up may report it
	 * from inside link_mqtt_subscribe(), and the device then starts a read. */
	*state = v;
	/* A `prefix` that names the new family itself, with the same <id>:
	 * one family, subscribed once (a message is delivered once). */
	if (v->fam_on[0] && v->fam_on[1] && strcmp(v->reply_topic[0], v->reply_topic[1]) == 0)
		v->fam_on[1] = 0;
	/* The link state is reported once, by the first subscription. */
	int first = 1;
	for (int f = 0; f < 2; f++) {
		if (!v->fam_on[f])
			continue;
		rc = v->env->mqtt->subscribe(v->link, v->reply_topic[f], v->qos, tr_venus__on_msg,
					     first ? tr_venus__on_state : NULL, v);
		if (rc) {
			*state = NULL;
			snprintf(err, errlen, "device \"%s\": subscribe %s: %s", cfg->name,
				 v->reply_topic[f], mb_strerror(rc));
			v->env->mqtt->release(v->link, v);
			free(v);
			return rc;
		}
		first = 0;
	}
	log_info("%s: venus %s/%s, listening on %s%s%s", cfg->name, vc->type, vc->id,
		 v->fam_on[0] ? v->reply_topic[0] : "", v->fam_on[0] && v->fam_on[1] ? " and " : "",
		 v->fam_on[1] ? v->reply_topic[1] : "");
	/* A link shared with a device opened earlier may already be up. */
	if (v->env->mqtt->is_up(v->link))
		v->env->link_changed(dev, 1);
	return 0;
}

/* Test hooks (include/transport_test.h). */
void tr_venus_test_view(void *state, struct tr_venus_test_view *out)
{
	const struct tr_venus *v = state;
	out->txn = v->txn;
	out->idle = v->wait == TR_VENUS_IDLE;
	out->awaits_ack = v->wait == TR_VENUS_ACK || v->wait == TR_VENUS_CONFIRM;
	out->nghosts = v->nghosts;
	out->max_ghosts = TR_VENUS_GHOSTS;
	out->nexpect = v->nexpect;
	out->max_expect = TR_VENUS_EXPECT_MAX;
	out->npairs = v->reply.npairs;
	out->cmd_max = TR_VENUS_CMD_MAX;
	out->nqueries = v->nqueries;
}

bool tr_venus_test_ack_suspect(void *state)
{
	struct tr_venus *v = state;
	return tr_venus__ghost_conflict(v, v->cmd, -1) != 0;
}

const struct transport_ops transport_venus = {
    .flags = TRANSPORT_READ_ALL,
    .max_read = MB_MAX_READ,
    .open = tr_venus__open,
    .start = tr_venus__start,
    .abort = tr_venus__abort,
    .link_up = tr_venus__link_up,
    .close = tr_venus__close,
};

/* ------------------------------------------------------------ protocol -- */

/* The codec's own rules, so that the config and the transport cannot
 * disagree. */
static const char *tr_venus__check_id(const char *v)
{
	return codec_venus_id_valid(v) ? NULL
				       : "must be the Bluetooth MAC: 12 lower-case hex digits";
}

static const char *tr_venus__check_level(const char *v)
{
	if (!codec_venus_topic_level_valid(v))
		return "must be one topic level: at most 64 characters, without /, +, # or "
		       "control characters";
	return config_mqtt_check_utf8(v);
}

static int tr_venus__cfg_init(void *cfg)
{
	struct tr_venus_cfg *vc = cfg;
	return (vc->prefix = strdup("hame_energy")) ? 0 : MB_ENOMEM;
}

/* The transport refuses to start when its topics do not fit ("device" makes
 * the longer of the two): say so here, at the line. */
static int tr_venus__cfg_done(struct config_parser *p, const config_setting_t *block, void *cfg)
{
	const struct tr_venus_cfg *vc = cfg;
	char topic[TR_VENUS_TOPIC_MAX], new_id[VENUS_TOPIC_ID_LEN + 1];

	/* With topics = "both", a new family that cannot be made is left out
	 * (tr_venus__open says so); asked for alone, it is an error. */
	int id_rc = vc->topics != TR_VENUS_FAM_HAME ? tr_venus__new_id(vc, new_id, sizeof new_id)
						    : MB_EINVAL;
	int new_ok = id_rc == 0;
	/* MB_EIO: this build has libcrypto but the library could not be opened
	 * (venus_crypt.c logged why); MB_EPROTO: built without it. */
	if (vc->topics == TR_VENUS_FAM_MARSTEK && !new_ok)
		return keys_error_at(p, block, block,
				     ": type %s uses an encrypted topic ID in the %s topics, and "
				     "%s: give it as topic_id",
				     vc->type, TR_VENUS_NEW_PREFIX,
				     id_rc == MB_EIO ? "libcrypto could not be loaded (libssl3 on "
						       "Debian, libopenssl on OpenWrt)"
						     : "this modbridge is built without libcrypto "
						       "(WITH_CRYPTO=0)");
	if (new_ok && codec_venus_topic(topic, sizeof topic, TR_VENUS_NEW_PREFIX, vc->type,
					"device", new_id) < 0)
		return keys_error_at(p, block, block,
				     ": the topic %s/%s/device/%s/ctrl is too long",
				     TR_VENUS_NEW_PREFIX, vc->type, new_id);
	if (codec_venus_topic(topic, sizeof topic, vc->prefix, vc->type, "device", vc->id) >= 0)
		return 0;
	const config_setting_t *x = config_setting_get_member(block, "prefix");
	return keys_error_at(p, x ? x : block, block,
			     ": the topic %s/%s/device/%s/ctrl is longer than %d bytes; shorten "
			     "prefix or type",
			     vc->prefix, vc->type, vc->id, TR_VENUS_TOPIC_MAX - 1);
}

#define TR_VENUS__CFG(field) offsetof(struct tr_venus_cfg, field)

/* clang-format off */
static const struct config_key tr_venus__keys[] = {
	{.name = "type", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED | CONFIG_F_NONEMPTY,
	 .off = TR_VENUS__CFG(type), .check = tr_venus__check_level},
	{.name = "id", .kind = CONFIG_K_STRING, .flags = CONFIG_F_REQUIRED,
	 .off = TR_VENUS__CFG(id), .check = tr_venus__check_id},
	{.name = "prefix", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = TR_VENUS__CFG(prefix), .check = config_mqtt_check_topic},
	{.name = "topics", .kind = CONFIG_K_CHOICE, .off = TR_VENUS__CFG(topics),
	 CONFIG_CHOICES(tr_venus__families)},
	{.name = "topic_id", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = TR_VENUS__CFG(topic_id), .check = tr_venus__check_level},
};
/* clang-format on */

/* A register's write template: the codec reads every brace as a
 * placeholder, and a register has one value. */
static int tr_venus__map_register(struct config_parser *p, const config_setting_t *s,
				  struct map_register *r)
{

	if (r->query) {
		size_t i = 3;
		while (r->query[i] >= '0' && r->query[i] <= '9')
			i++;
		if (strncmp(r->query, "cd=", 3) != 0 || i == 3 || i > 6 || r->query[i] ||
		    strcmp(r->query, "cd=01") == 0)
			return keys_error_at(p, config_setting_get_member(s, "query"), s,
					     ".query must be a read command cd=N, not \"%s\" "
					     "(cd=1, the status dump, is the default)",
					     r->query);
	}
	if (!r->write || codec_venus_template_max_index(r->write) == 0)
		return 0;
	return keys_error_at(p, config_setting_get_member(s, "write"), s,
			     ".write must use {value} and no other placeholder or brace, not "
			     "\"%s\"",
			     r->write);
}

/* A command's template: every brace is a placeholder, and a command without
 * one would write the same text whatever the client sends. */
static int tr_venus__map_command(struct config_parser *p, const config_setting_t *s,
				 const struct map_command *c)
{
	int max = codec_venus_template_max_index(c->template);

	if (max == MB_EPARSE)
		return keys_error_at(p, s, s,
				     " \"%s\": a brace must start a placeholder {0}..{%u} (or "
				     "{value})",
				     c->template, c->count - 1u);
	if (max < 0)
		return keys_error_at(p, s, s,
				     " \"%s\" has no placeholder: {0} stands for the command's "
				     "first register",
				     c->template);
	return 0;
}

/* Commands as the transport renders them: numbers only, and placeholders
 * count registers, not words (a 32-bit register is one), at most
 * TR_VENUS_ARGS_MAX of them. */
static void tr_venus__map_lint(struct map_lint *l, const struct map *m)
{
	const char *seen[TR_VENUS_QUERIES];
	size_t nseen = 0;
	for (size_t i = 0; i < map_nregs(m); i++) {
		const struct map_register *r = map_reg(m, i);
		size_t k = 0;
		if (!r->query || strcmp(r->query, "cd=1") == 0)
			continue;
		while (k < nseen && strcmp(seen[k], r->query) != 0)
			k++;
		if (k < nseen)
			continue;
		if (nseen == TR_VENUS_QUERIES - 1) {
			map_lint_problem(l, r->line,
					 "register \"%s\": query \"%s\" is one more than the %d "
					 "a venus map may use besides cd=1",
					 r->name, r->query, TR_VENUS_QUERIES - 1);
			continue;
		}
		seen[nseen++] = r->query;
	}
	for (size_t i = 0; i < map_ncommands(m); i++) {
		const struct map_command *c = map_command(m, i);
		uint32_t a = c->address, end = (uint32_t)c->address + c->count;
		size_t nregs = 0;
		while (a < end) {
			const struct map_register *r = map_find(m, MAP_HOLDING, (uint16_t)a);
			if (!r) {
				a++;
				continue;
			}
			if (r->type == MAP_STRING)
				map_lint_problem(l, c->line,
						 "command \"%s\" covers string register \"%s\": a "
						 "venus command writes numbers only",
						 c->name, r->name);
			nregs++;
			a = (uint32_t)r->address + r->count;
		}
		int max = codec_venus_template_max_index(c->template);
		if (max >= 0 && (size_t)max >= nregs)
			map_lint_problem(
			    l, c->line,
			    "command \"%s\": template uses {%d} but the command covers "
			    "%zu register%s ({n} counts registers, not words)",
			    c->name, max, nregs, nregs == 1 ? "" : "s");
		if (nregs > TR_VENUS_ARGS_MAX)
			map_lint_problem(l, c->line,
					 "command \"%s\" covers %zu registers; a venus command "
					 "takes at most %d",
					 c->name, nregs, TR_VENUS_ARGS_MAX);
	}
}

const struct protocol protocol_venus = {
    .name = "venus",
    .text = "Venus over MQTT: key=value text commands (cd=1 and each register's query "
	    "refresh every value at once)",
    .flags = PROTOCOL_MQTT | PROTOCOL_KEYED,
    .keys = tr_venus__keys,
    .nkeys = sizeof tr_venus__keys / sizeof tr_venus__keys[0],
    .cfg_size = sizeof(struct tr_venus_cfg),
    .cfg_init = tr_venus__cfg_init,
    .cfg_done = tr_venus__cfg_done,
    .map_register = tr_venus__map_register,
    .map_command = tr_venus__map_command,
    .map_lint = tr_venus__map_lint,
    .ops = &transport_venus,
    .default_poll = 60000,
    .typical_rtt = 2000,
};

/* A configured device: its map, its register cache, its queue of native
 * transactions and its transport (docs/design.md, "Cache, polling, coalescing"). */
#ifndef DEVICE_H
#define DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "map.h"
#include "mbdef.h"
#include "transport.h"

struct device;
struct device_req;
struct config;
struct config_device;
struct map;

/* Three kinds of result cross the device's boundaries, each with its own
 * type (docs/design.md, "Module contracts"): a Modbus exception for the
 * client (enum mb_exc, MB_EXC_NONE for success), an internal error (int,
 * 0 or a negative MB_E*, from create), and "answered later" (struct
 * device_outcome's pending). */

/* Answer of a pending request. exc MB_EXC_NONE: words holds count values
 * (reads); otherwise the exception. Never called after device_cancel(). */
typedef void (*device_cb)(void *ctx, enum mb_exc exc, const uint16_t *words, uint16_t count);

/* What became of a client request: answered now (pending 0: exc says how;
 * reads with MB_EXC_NONE filled out), or later (pending 1: cb will be
 * called exactly once unless the request is cancelled first). */
struct device_outcome {
	unsigned pending;
	enum mb_exc exc;
};

/* Counters, for status documents and SIGUSR1. */
#define DEVICE_EXC_SLOTS 12
struct device_stats {
	uint64_t requests;   /* client requests */
	uint64_t cache_hits; /* answered from cache at once */
	uint64_t native;     /* native transactions started */
	uint64_t timeouts;   /* native transactions that timed out (after every retry) */
	uint64_t retries;    /* attempts after a first one that had no answer in time */
	uint64_t errors;     /* native transactions that failed otherwise */
	uint64_t dropped;    /* answers dropped (late, wrong IDs, bad CRC, malformed) */
	uint64_t bad_values; /* values that did not fit their register (device_cache_unavailable) */
	uint64_t pass_blocks;  /* pass-through cache blocks in use (bounded by passthrough_cache) */
	uint64_t last_success; /* ms since the epoch, 0 = never */
	uint64_t last_attempt; /* ms since the epoch, 0 = never */
	/* Native transactions that failed, by the exception they ended with
	 * (index = code for 01..04, 0A and 0B; index 0 counts every other
	 * code, a device's own), and the last such failure: when (ms since the epoch, 0 = never)
	 * and its code. For the REST API's device health (http_api.c). */
	uint64_t exceptions[DEVICE_EXC_SLOTS];
	uint64_t last_error;
	uint8_t last_exc;
	/* Health (device_health()): when the device last answered a native
	 * transaction, with values or its own exception (ms since the epoch,
	 * 0 = never), and when the first transaction after that answer that
	 * got none after every attempt was sent (0 = none since). */
	uint64_t last_answer;
	uint64_t silent_since;
};

/* Whether the device answers, apart from its link (the broker, the
 * logger's TCP connection): NOT_ANSWERING since stats.silent_since, until
 * the device answers again; UNKNOWN while the link is up and nothing was
 * answered or left unanswered yet. A memory device is always ANSWERING. */
enum device_health {
	DEVICE_HEALTH_UNKNOWN,
	DEVICE_HEALTH_ANSWERING,
	DEVICE_HEALTH_NOT_ANSWERING,
	DEVICE_HEALTH_LINK_DOWN,
};

/* Create a device from its config and loaded map; opens its transport. */
int device_create(uv_loop_t *loop, const struct config *conf, const struct config_device *cfg,
		  const struct map *map, struct device **out, char *err, size_t errlen);
/* The same with an explicit transport (unit tests drive the device model
 * with a scripted transport). */
int device_create_ops(uv_loop_t *loop, const struct config *conf, const struct config_device *cfg,
		      const struct map *map, const struct transport_ops *ops, struct device **out,
		      char *err, size_t errlen);
/* Fail every pending request with 0B, close the transport; frees itself once
 * its handles are closed, then calls the close hook (if set). */
void device_close(struct device *dev);
/* Called once the device is freed (the daemon releases its config then). */
void device_set_close_hook(struct device *dev, void (*fn)(void *arg), void *arg);

/* Client requests. fc is the function code as received (03/04/06/16).
 * When pending, *req names the request for device_cancel(). */
struct device_outcome device_read(struct device *dev, uint8_t fc, uint16_t addr, uint16_t count,
				  uint16_t *out, device_cb cb, void *ctx, struct device_req **req);
struct device_outcome device_write(struct device *dev, uint8_t fc, uint16_t addr, uint16_t count,
				   const uint16_t *words, device_cb cb, void *ctx,
				   struct device_req **req);
/* The fast path of a read (FC03/FC04) that the cache answers at once with
 * the device's words: those words (count of them, valid until the cache
 * next changes), counted as device_read() counts a cache hit. NULL for
 * every other read -- a stale or refused word, a range that is not one run
 * of readable registers, pass-through -- and then nothing was counted or
 * changed: device_read() answers it. Both decide alike (tests/unit/
 * test_server_fast.c compares them over many ranges). */
const uint16_t *device_read_cached(struct device *dev, uint8_t fc, uint16_t addr, uint16_t count);

/* The same for many requests at a time (the front's fast path,
 * bridge/server.c): what a cached read of dev needs, taken once for the
 * requests of one read from a client -- the map's index, the cache, and
 * the oldest stamp still fresh, from the clock read once -- rather than
 * looked up again for each request. device_view_read() then decides as
 * device_read_cached() does, without counting; device_view_count() counts
 * the hits. A view is valid only until the loop runs anything else (a
 * store, a write or a reload changes the device). */
struct device_view {
	struct device *dev;
	const struct map_index *x; /* the map's index (map.h) */
	const uint16_t *val;	   /* the cache, a word per slot */
	uint8_t check;		   /* stamps or refused words: not every word is served */
	uint8_t refused;	   /* some words are refused (device_cache_unavailable) */
	uint32_t fresh;	       /* the lowest stamp still fresh (below: never stored or too old) */
	const uint32_t *stamp; /* per map register; NULL: always fresh (a memory device) */
};
void device_view(struct device *dev, struct device_view *v);
/* Count n hits of reads device_view_read() answered. */
void device_view_count(struct device *dev, uint64_t n);
/* device_view_read() where the table has no dense index. */
const uint16_t *device_view_search(const struct device_view *v, int table, uint16_t addr,
				   uint16_t count);
/* Are all count words from slot refused? */
int device_view_refused(const struct device_view *v, uint32_t slot, uint16_t count);

/* Are the count words from slot, which start in the view's register k
 * (an index into the map's registers) and lie in one readable run, all
 * served: fresh and not all refused? For device_view_read() and
 * device_view_search(). */
static inline bool device_view__served(const struct device_view *v, size_t k, uint32_t slot,
				       uint16_t count)
{
	if (!v->check)
		return true;
	/* One stamp per register of the run, from k: the registers hold the
	 * run's words in slot order. */
	const struct map_index *x = v->x;
	for (; v->stamp && k < x->nregs && x->regs[k].slot < slot + count; k++)
		if (v->stamp[k] < v->fresh)
			return false;
	return !(v->refused && device_view_refused(v, slot, count));
}

/* The cached words of count (1..MB_MAX_READ) registers from addr of table
 * (MAP_HOLDING for FC03, MAP_INPUT for FC04) in *words, true; or false:
 * device_read_cached() for a view. */
static inline bool device_view_read(const struct device_view *v, int table, uint16_t addr,
				    uint16_t count, const uint16_t **words)
{
	const struct map_index *x = v->x;
	/* Below lo, the difference wraps past any span; a table without a
	 * dense index has span 0 and is searched. */
	uint32_t off = (uint32_t)addr - x->lo[table];
	if (off >= x->span[table])
		return !x->dense[table] && (*words = device_view_search(v, table, addr, count));
	/* One run of adjacent readable registers, whose words have adjacent
	 * cache slots; runs[0] (no register) ends at 0. */
	uint32_t i = x->dense[table][off];
	const struct map_run *run = &x->runs[i];
	if ((uint32_t)addr + count > run->end)
		return false;
	uint32_t slot = addr + run->slot0;
	if (!device_view__served(v, i - 1, slot, count))
		return false;
	*words = v->val + slot;
	return true;
}

/* The client went away: the callback will not be called. */
void device_cancel(struct device_req *req);

/* --- for transports ------------------------------------------------------ */

/* t is finished: MB_EXC_NONE or the exception. For reads, store the
 * values with device_cache_store() before calling this. The device may start
 * its next transaction (ops->start) before this returns: update your own
 * state first. A successful write's values are stored in the cache. */
void device_txn_done(struct device *dev, struct txn *t, enum mb_exc exc);
/* Store count words read from front address addr of table (values arrive now). */
void device_cache_store(struct device *dev, int table, uint16_t addr, uint16_t count,
			const uint16_t *words);
struct map_register;
/* Register r has no value from the device: odd (a value that does not fit
 * its type, or no factor or translation gives one; counted as bad_values),
 * or not odd (an optional query went unanswered). r then serves its map's
 * `unavailable` value, fresh; a register without one serves its type's
 * "not implemented" value inside reads that cover other registers, and a
 * read that covers only such registers gets 04 (docs/design.md, "Map
 * files"). Either way device_cache_peek() says there is no value. The next
 * value the device gives replaces it. */
void device_cache_unavailable(struct device *dev, const struct map_register *r, int odd);
/* The link went up or down (reads are answered 0A while down and stale).
 * Logs "<name>: link up|down"; the _quiet form does not, for a transport
 * whose link serves many devices and logs once for all of them. */
void device_link_changed(struct device *dev, int up);
void device_link_changed_quiet(struct device *dev, int up);
/* Queue a background refresh of every readable register after delay_ms. */
void device_refresh_later(struct device *dev, uint64_t delay_ms);
/* Count a dropped native answer (garbage, late, wrong IDs). Counts only:
 * nothing a stranger sends can change what the device waits for. */
void device_count_drop(struct device *dev);

const char *device_name(const struct device *dev);
int device_unit(const struct device *dev);
const struct map *device_map(const struct device *dev);
const struct config_device *device_config(const struct device *dev);
const struct device_stats *device_stats(const struct device *dev);
bool device_link_up(const struct device *dev);
enum device_health device_health(const struct device *dev);
/* "answering", "not_answering", "link_down", "unknown" (the JSON documents'). */
const char *device_health_name(enum device_health h);
/* How old a cached value may be and still count as current outside Modbus
 * (the exporters, the documents' "stale"): max_age, but at least
 * TIMING_MAX_AGE_POLLS_X2 / 2 polls, so that a value each poll refreshes
 * is never stale between two polls. */
uint64_t device_fresh_ms(const struct device *dev);
/* A cache stamp (uv_now ms, device_cache_peek) as wall-clock ms since the
 * epoch: when that value arrived. Reckoned from the last answer, so a value
 * keeps the same time however often it is asked for; UINT64_MAX (a
 * constant register) is now. */
uint64_t device_stamp_wall(const struct device *dev, uint64_t stamp);
/* Effective timeout after config defaults, map defaults and the device's keys. */
uint64_t device_timeout(const struct device *dev);
struct map_register;
/* The cached words of register r (r->count of them into words) and when the
 * oldest of them arrived, in the loop's monotonic ms (uv_now), in *stamp.
 * 1 when every word was stored at least once; 0 when some never was (words
 * then hold zeros there: no value to show). A memory device's cache is the
 * device: always 1, stamped now. For readers outside the device model (the
 * values document, values.h); a read for a client goes through device_read. */
int device_cache_peek(const struct device *dev, const struct map_register *r, uint16_t *words,
		      uint64_t *stamp);
/* Effective retries (native attempts after the first) after the same defaults. */
unsigned device_retries(const struct device *dev);

#endif

/* The device model: a register cache with timestamps, a FIFO of native
 * transactions of which one is in flight at a time, coalescing of reads that
 * wait for the same registers, per-request deadlines, background polling, a
 * minimum interval between native reads and retries within the request's
 * deadline (docs/design.md, "Cache, polling, coalescing"; docs/user-guide.md,
 * "Timing and retries"). Transports only see one struct txn at a time. */
#include "device.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "device_pass.h"
#include "device_test.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"
#include "timing.h"

enum dtxn_kind { DTXN_CLIENT, DTXN_POLL };

/* A native transaction with the device's bookkeeping around it. */
struct dtxn {
	struct txn t;	   /* what the transport sees */
	struct dtxn *next; /* queue order */
	enum dtxn_kind kind;
	int read_all;	    /* TRANSPORT_READ_ALL read */
	uint8_t pass;	    /* a read of pass-through addresses (no register among them) */
	uint8_t attempts;   /* tries allowed: 1 + retries, 1 for a write marked retry = false */
	uint64_t started;   /* monotonic ms when handed to the transport (this attempt) */
	uint64_t sent_wall; /* wall clock ms of the first attempt (device health) */
	/* Waiters; an entry is NULL once its request was cancelled or timed
	 * out, so that the array can be walked while callbacks run. */
	struct device_req **waiters;
	size_t nwait, capw;
	size_t live;	 /* non-NULL waiters */
	uint16_t wbuf[]; /* write values */
};

/* A client request waiting for one or more transactions. */
struct device_req {
	struct device *dev;
	struct device_req *prev, *next; /* the device's pending list, oldest first */
	device_cb cb;
	void *ctx;
	uint64_t deadline;
	uint8_t table;
	uint8_t is_write;
	uint16_t addr, count;
	unsigned outstanding; /* transactions still to complete */
	enum mb_exc status;   /* first failure */
	uint64_t since;	      /* earliest start of the transactions that served it */
	/* A read of registers: its range resolved against the map once, one
	 * run of adjacent readable registers (device_read), what its answer is
	 * checked against and copied from; count 0 for other requests. */
	struct map_span span;
	/* A read that touches pass-through addresses collects its words here
	 * as its own transactions deliver them (got: one bit per word), since
	 * the bounded pass-through cache may evict them before the last one
	 * ends; NULL for other requests. */
	uint16_t *pbuf;
	uint8_t got[(MB_MAX_READ + 7) / 8];
	uint16_t pwords[];
};

/* One of a device's deadlines (device__timer_*). */
struct device__timer {
	uint64_t due;	 /* uv_now ms */
	uint32_t seq;	 /* start order (device__clock.seq) */
	uint32_t repeat; /* ms, 0 = once */
};

struct device {
	uv_loop_t *loop;
	const struct config_device *cfg;
	const struct map *map;
	const struct transport_ops *ops;
	const struct protocol *proto; /* whose ops these are (its secrets), or NULL */
	void *tstate;
	const char *name; /* cfg's: a config generation outlives its devices */
	int unit;
	int link_up;
	int closing;
	int pumping;
	uint64_t timeout, max_age, poll, min_interval;
	uint64_t client_wait; /* a read's deadline (include/timing.h) */
	/* Where in its poll period this device's polls fall (ms, < poll): a
	 * fleet's polls are spread over the period, DEVICE__SPREAD_MS apart,
	 * at start and again after its link comes back (a broker restart
	 * brings every device of the link up at once). */
	uint64_t poll_slot;
	unsigned retries;
	uint32_t next_id; /* struct txn.id of the next transaction */
	uint16_t max_read;
	/* cache: one word and one arrival time per map slot */
	uint16_t *val;
	/* Arrival times, 4 bytes a map register (device__stamp_*): 0 = never,
	 * UINT32_MAX = a constant, else stamp_base + the value, in uv_now ms. */
	uint32_t *stamp;
	uint64_t stamp_base;
	/* Per slot, once some value was unavailable (allocated then): what the
	 * word holds instead of the device's value (DEVICE__UNAVAIL_*), and how
	 * many slots are refused (device_cache_unavailable). */
	uint8_t *unavail;
	size_t nrefused;
	/* pass-through ranges and their cache (device_pass.c; NULL: the
	 * device passes nothing through) */
	struct device_pass *pass;
	/* native transactions */
	struct dtxn *head, *tail;
	struct dtxn *inflight;
	struct dtxn *completing; /* being completed: callbacks may cancel its waiters */
	uint64_t last_read;	 /* monotonic ms of the last native read, 0 = never */
	uint64_t answer_mono;	 /* uv_now at stats.last_answer (device_stamp_wall) */
	/* client requests waiting, oldest first */
	struct device_req *req_head, *req_tail;
	/* Deadlines, on the loop's clock (device__timer_*): which are armed
	 * (a bit each, in the order of the five below), the earliest of them
	 * (the device's key in the clock's heap), its place there + 1. */
	struct device__clock *clock;
	uint8_t armed;
	uint32_t key_seq;
	uint32_t heap_at;
	uint64_t key_due;
	struct device__timer req_timer;	  /* earliest request deadline */
	struct device__timer txn_timer;	  /* in-flight transaction timeout */
	struct device__timer pump_timer;  /* min_interval and settle gate */
	struct device__timer poll_timer;  /* background refresh */
	struct device__timer later_timer; /* device_refresh_later */
	struct device_stats stats;
	void (*close_hook)(void *arg);
	void *close_arg;
	/* A request completed while device_read/write still runs (a transport
	 * failing in start()) is returned from it, not called back. */
	struct device_req *sync_req;
	uint16_t *sync_out;
	int sync_done;
	enum mb_exc sync_status;
};

static void device__pump(struct device *dev);
static void device__finish_req(struct device_req *r, enum mb_exc status);

/* What a cache word holds instead of the device's value (struct device's
 * unavail): the map's `unavailable` value, or the type's "not implemented"
 * value of a register that is refused when it is read alone. */
enum { DEVICE__UNAVAIL_NONE, DEVICE__UNAVAIL_MAP, DEVICE__UNAVAIL_REFUSED };

/* ---------------------------------------------------------------- time -- */

static uint64_t device__now(const struct device *dev)
{
	uv_update_time(dev->loop);
	return uv_now(dev->loop);
}

/* The oldest arrival time (loop ms) a cached word may have and still be
 * served: younger than max_age. UINT64_MAX with max_age 0, where nothing
 * cached is fresh; 1 while the loop is younger than max_age (0 is "never
 * stored"). */
static uint64_t device__max_age_since(const struct device *dev)
{
	uint64_t now = device__now(dev);
	return dev->max_age == 0 ? UINT64_MAX : now > dev->max_age ? now - dev->max_age + 1 : 1;
}

/* Milliseconds since the epoch (wall clock), for the status documents' times. */
static uint64_t device__now_wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* -------------------------------------------------------------- timers -- */

/* A device has five deadlines (struct device's *_timer). The devices of a
 * loop share one libuv timer, a "clock", and a binary heap of the devices
 * by their earliest deadline: five uv_timer_t a device were 760 bytes, too
 * much for a fleet (docs/design.md, "A fleet on one broker"). Deadlines
 * behave as libuv timers do: due in loop time, those due at the same ms in
 * the order they were started, a repeating one started again before its
 * callback; one started for "now" by a callback runs on the loop's next
 * turn (as libuv does since 1.45), so that a run ends. */
struct device__clock {
	struct device__clock *next; /* device__clocks */
	uv_loop_t *loop;
	uv_timer_t timer;
	struct device **heap; /* by key (key_due, key_seq) */
	size_t n, cap;
	size_t users; /* devices created and not yet freed */
	uint32_t seq; /* deadlines started */
	int running;  /* in device__clock_run */
	int closing;  /* its last device was freed */
};

static struct device__clock *device__clocks;

#define DEVICE__NTIMERS 5

static struct device__timer *device__timer_at(struct device *dev, unsigned i)
{
	struct device__timer *all[DEVICE__NTIMERS] = {&dev->req_timer, &dev->txn_timer,
						      &dev->pump_timer, &dev->poll_timer,
						      &dev->later_timer};
	return all[i];
}

static unsigned device__timer_bit(struct device *dev, const struct device__timer *t)
{
	unsigned i = 0;
	while (i + 1 < DEVICE__NTIMERS && device__timer_at(dev, i) != t)
		i++;
	return 1u << i;
}

/* Is a's deadline (due, seq) before b's? */
static int device__before(uint64_t a_due, uint32_t a_seq, uint64_t b_due, uint32_t b_seq)
{
	return a_due < b_due || (a_due == b_due && (int32_t)(a_seq - b_seq) < 0);
}

static int device__heap_less(const struct device *a, const struct device *b)
{
	return device__before(a->key_due, a->key_seq, b->key_due, b->key_seq);
}

static void device__heap_put(struct device__clock *c, size_t i, struct device *dev)
{
	c->heap[i] = dev;
	dev->heap_at = (uint32_t)i + 1;
}

static void device__heap_fix(struct device__clock *c, size_t i)
{
	struct device *dev = c->heap[i];
	while (i > 0 && device__heap_less(dev, c->heap[(i - 1) / 2])) {
		device__heap_put(c, i, c->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const struct device *best = dev;
		if (l < c->n && device__heap_less(c->heap[l], best))
			best = c->heap[m = l];
		if (l + 1 < c->n && device__heap_less(c->heap[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		device__heap_put(c, i, c->heap[m]);
		i = m;
	}
	device__heap_put(c, i, dev);
}

static void device__heap_remove(struct device__clock *c, struct device *dev)
{
	size_t i = dev->heap_at - 1;
	dev->heap_at = 0;
	if (--c->n > i) {
		device__heap_put(c, i, c->heap[c->n]);
		device__heap_fix(c, i);
	}
}

static void device__clock_run(uv_timer_t *h);

/* The libuv timer for the heap's first deadline. */
static void device__clock_arm(struct device__clock *c)
{
	if (c->running || c->closing)
		return;
	if (!c->n) {
		uv_timer_stop(&c->timer);
		return;
	}
	uint64_t now = uv_now(c->loop), due = c->heap[0]->key_due;
	uv_timer_start(&c->timer, device__clock_run, due > now ? due - now : 0, 0);
}

/* The device's earliest armed deadline, or NULL. */
static struct device__timer *device__earliest(struct device *dev)
{
	struct device__timer *first = NULL;
	for (unsigned i = 0; i < DEVICE__NTIMERS; i++) {
		struct device__timer *t = device__timer_at(dev, i);
		if ((dev->armed & (1u << i)) &&
		    (!first || device__before(t->due, t->seq, first->due, first->seq)))
			first = t;
	}
	return first;
}

/* Its deadlines changed: its place in the heap, which has room for every
 * device of the loop (device__clock_get reserves it). */
static void device__rekey(struct device *dev)
{
	struct device__clock *c = dev->clock;
	const struct device__timer *first = device__earliest(dev);
	if (!first) {
		if (dev->heap_at)
			device__heap_remove(c, dev);
		device__clock_arm(c);
		return;
	}
	dev->key_due = first->due;
	dev->key_seq = first->seq;
	if (!dev->heap_at)
		device__heap_put(c, c->n++, dev);
	device__heap_fix(c, dev->heap_at - 1);
	device__clock_arm(c);
}

static void device__timer_set(struct device *dev, struct device__timer *t, uint64_t timeout,
			      uint64_t repeat)
{
	t->due = uv_now(dev->loop) + timeout;
	t->seq = ++dev->clock->seq;
	t->repeat = repeat > UINT32_MAX ? UINT32_MAX : (uint32_t)repeat;
	dev->armed |= (uint8_t)device__timer_bit(dev, t);
	device__rekey(dev);
}

/* As uv_timer_start: timeout and repeat in ms from the loop's time; on a
 * closed device, nothing (as on a closing libuv handle). */
static void device__timer_start(struct device *dev, struct device__timer *t, uint64_t timeout,
				uint64_t repeat)
{
	if (!dev->closing)
		device__timer_set(dev, t, timeout, repeat);
}

static void device__timer_stop(struct device *dev, struct device__timer *t)
{
	unsigned bit = device__timer_bit(dev, t);
	if (!(dev->armed & bit))
		return;
	dev->armed &= (uint8_t)~bit;
	device__rekey(dev);
}

static int device__timer_active(struct device *dev, const struct device__timer *t)
{
	return (dev->armed & device__timer_bit(dev, t)) != 0;
}

static void device__on_req_timer(struct device *dev);
static void device__on_txn_timeout(struct device *dev);
static void device__on_pump_timer(struct device *dev);
static void device__on_poll(struct device *dev);
static void device__on_later(struct device *dev);
static void device__free(struct device *dev);

static void device__clock_free(uv_handle_t *h)
{
	struct device__clock *c = h->data;
	free(c->heap);
	free(c);
}

/* The loop's clock, with room in its heap for one more device. */
static struct device__clock *device__clock_get(uv_loop_t *loop)
{
	struct device__clock *c = device__clocks;
	while (c && c->loop != loop)
		c = c->next;
	if (!c) {
		if (!(c = calloc(1, sizeof *c)))
			return NULL;
		c->loop = loop;
		uv_timer_init(loop, &c->timer);
		c->timer.data = c;
		c->next = device__clocks;
		device__clocks = c;
	}
	if (c->users + 1 > c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct device **h = realloc(c->heap, cap * sizeof *h);
		if (!h) {
			if (!c->users) {
				device__clocks = c->next;
				uv_close((uv_handle_t *)&c->timer, device__clock_free);
			}
			return NULL;
		}
		c->heap = h;
		c->cap = cap;
	}
	c->users++;
	return c;
}

/* A device was freed: the clock goes with the loop's last device. */
static void device__clock_put(struct device__clock *c)
{
	if (--c->users)
		return;
	for (struct device__clock **pp = &device__clocks; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->closing = 1;
	uv_close((uv_handle_t *)&c->timer, device__clock_free);
}

/* Run the deadlines that are due, earliest first (see above). */
static void device__clock_run(uv_timer_t *h)
{
	struct device__clock *c = h->data;
	uint64_t now = uv_now(c->loop);
	uint32_t last = c->seq;
	c->running = 1;
	while (c->n) {
		struct device *dev = c->heap[0];
		if (dev->key_due > now || (int32_t)(dev->key_seq - last) > 0)
			break;
		struct device__timer *t = device__earliest(dev);
		if (dev->closing && t == &dev->later_timer) {
			/* device_close's: the device goes now. */
			device__free(dev);
			if (c->closing)
				return;
			continue;
		}
		if (t->repeat) {
			t->due = now + t->repeat;
			t->seq = ++c->seq;
		} else {
			dev->armed &= (uint8_t)~device__timer_bit(dev, t);
		}
		device__rekey(dev);
		if (t == &dev->req_timer)
			device__on_req_timer(dev);
		else if (t == &dev->txn_timer)
			device__on_txn_timeout(dev);
		else if (t == &dev->pump_timer)
			device__on_pump_timer(dev);
		else if (t == &dev->poll_timer)
			device__on_poll(dev);
		else
			device__on_later(dev);
	}
	c->running = 0;
	device__clock_arm(c);
}

/* ---------------------------------------------------------- stamps -- */

/* Arrival times are kept per map register, 4 bytes each: a slot's is its
 * register's. 8 bytes a slot were 1 KiB of a PowerGo device (133 slots, 74
 * registers; docs/design.md, "A fleet on one broker"). A register is only
 * ever read whole (device__queue_reads rounds out to registers), so its
 * words arrive together; a store of part of one (a write of one word of a
 * 32-bit register) leaves its stamp as it was: the register is as old as
 * its oldest word, as it was with a stamp per word. */
static size_t device__reg_index(const struct device *dev, size_t slot)
{
	size_t lo = 0, hi = map_nregs(dev->map);
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (map_reg(dev->map, mid)->slot <= slot)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Register k's arrival time as the cache's users take it (uv_now ms; 0
 * never, UINT64_MAX a constant). */
static uint64_t device__stamp_time(const struct device *dev, size_t k)
{
	uint32_t s = dev->stamp[k];
	return s == 0 ? 0 : s == UINT32_MAX ? UINT64_MAX : dev->stamp_base + s;
}

/* A slot's arrival time: its register's. */
static uint64_t device__stamp_get(const struct device *dev, size_t slot)
{
	return device__stamp_time(dev, device__reg_index(dev, slot));
}

/* The oldest arrival time of the n words from slot (0: one has none):
 * one look-up for the first register, then one stamp per register, not a
 * look-up per word (a cached read's path). Registers' slots follow their
 * order, so the registers after the first hold the following words. */
static uint64_t device__stamp_oldest(const struct device *dev, uint32_t slot, uint32_t n)
{
	uint64_t oldest = UINT64_MAX;
	size_t nregs = map_nregs(dev->map);
	for (size_t k = device__reg_index(dev, slot);
	     k < nregs && map_reg(dev->map, k)->slot < slot + n; k++) {
		uint64_t t = device__stamp_time(dev, k);
		if (t < oldest)
			oldest = t;
	}
	return oldest;
}

/* n words from slot (of one register) arrived at t. A time
 * UINT32_MAX - 1 ms or more past stamp_base moves the base (after 49 days):
 * it is put 2^31 ms before t, and a stamp older than the new base becomes
 * the new base + 1 (over 24 days old: stale for any max_age, dated a little
 * late). */
static void device__stamp_store(struct device *dev, size_t slot, size_t n, uint64_t t)
{
	size_t k = device__reg_index(dev, slot);
	const struct map_register *r = map_reg(dev->map, k);
	if (slot != r->slot || n < r->count)
		return;
	if (t == 0 || t == UINT64_MAX) {
		dev->stamp[k] = t ? UINT32_MAX : 0;
		return;
	}
	if (t - dev->stamp_base >= UINT32_MAX) {
		uint64_t shift = t - dev->stamp_base - (UINT64_C(1) << 31);
		for (size_t i = 0; i < map_nregs(dev->map); i++) {
			uint32_t *p = &dev->stamp[i];
			if (*p && *p != UINT32_MAX)
				*p = *p > shift ? (uint32_t)(*p - shift) : 1;
		}
		dev->stamp_base += shift;
	}
	dev->stamp[k] = (uint32_t)(t - dev->stamp_base);
}

/* --------------------------------------------------------------- cache -- */

struct device__copy {
	uint16_t *dst;
	const uint16_t *src;
	uint64_t stamp;
};

static void device__store_fn(struct device *dev, size_t off, uint32_t slot, uint16_t n, void *arg)
{
	struct device__copy *c = arg;
	memcpy(dev->val + slot, c->src + off, n * sizeof(uint16_t));
	/* A memory device has no stamps: its cache is the device. */
	if (dev->stamp)
		device__stamp_store(dev, slot, n, c->stamp);
	/* A value again where there was none. */
	for (uint16_t i = 0; dev->unavail && i < n; i++) {
		if (dev->unavail[slot + i] == DEVICE__UNAVAIL_REFUSED)
			dev->nrefused--;
		dev->unavail[slot + i] = DEVICE__UNAVAIL_NONE;
	}
}

/* Are all n words from slot refused (registers without a value of their own,
 * docs/design.md, "Map files": odd values)? A read that covers only such
 * registers gets 04; one that covers anything else answers. */
static int device__all_refused(const struct device *dev, uint32_t slot, uint32_t n)
{
	if (!dev->nrefused)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (dev->unavail[slot + i] != DEVICE__UNAVAIL_REFUSED)
			return 0;
	return 1;
}

/* ------------------------------------------------- pass-through reads -- */

/* Hand the words a read transaction delivered to the pass-through reads
 * waiting for it (their own buffers, struct device_req's pbuf). */
static void device__pass_feed(struct device *dev, int table, uint16_t addr, uint16_t count,
			      const uint16_t *words)
{
	struct dtxn *d = dev->inflight;
	if (!d || d->t.op != TXN_READ || d->t.table != table)
		return;
	for (size_t i = 0; i < d->nwait; i++) {
		struct device_req *r = d->waiters[i];
		if (!r || !r->pbuf)
			continue;
		uint32_t lo = addr > r->addr ? addr : r->addr;
		uint32_t hi = (uint32_t)addr + count < (uint32_t)r->addr + r->count
				  ? (uint32_t)addr + count
				  : (uint32_t)r->addr + r->count;
		for (uint32_t a = lo; a < hi; a++) {
			r->pbuf[a - r->addr] = words[a - addr];
			r->got[(a - r->addr) / 8] |= (uint8_t)(1u << ((a - r->addr) % 8));
		}
	}
}

/* The words of a derived register (map.h: factor, translate) from the
 * device's: 0, or the reason it cannot be shown (then it is not stored and
 * stays stale, as a value the register cannot represent is not a 0). */
static int device__derive(const struct map_register *r, const uint16_t *native, uint16_t *front)
{
	int64_t v;
	int rc = map_from_native(r, map_decode(r, native), &v);
	return rc ? rc : map_encode(r, v, front);
}

static void device__cache_put(struct device *dev, int table, uint16_t addr, uint16_t count,
			      const uint16_t *words, int native);

/* From a transport: native words. Strings the device keeps first character
 * low (`string_order = "little"`) are turned to the client's order here. */
void device_cache_store(struct device *dev, int table, uint16_t addr, uint16_t count,
			const uint16_t *words)
{
	uint16_t swapped[MB_MAX_READ];
	if (!map_has_little_strings(dev->map)) {
		device__cache_put(dev, table, addr, count, words, 1);
		return;
	}
	for (uint32_t done = 0; done < count;) {
		uint16_t n = (uint16_t)(count - done < MB_MAX_READ ? count - done : MB_MAX_READ);
		memcpy(swapped, words + done, n * sizeof swapped[0]);
		map_native_strings(dev->map, table, (uint16_t)(addr + done), n, swapped);
		device__cache_put(dev, table, (uint16_t)(addr + done), n, swapped, 1);
		done += n;
	}
}

/* Client-order words into the cache: from a transport (native: derived
 * registers are derived) or from a write the device acknowledged (the
 * client's words as they are). */
static void device__cache_put(struct device *dev, int table, uint16_t addr, uint16_t count,
			      const uint16_t *words, int native)
{
	/* Stamps are never 0 once stored, so that 0 can mean "never". */
	struct device__copy c = {.src = words, .stamp = device__now(dev) | 1};
	/* A transport stores only what the map covers; skip unmapped words
	 * (pass-through addresses go to the pass-through cache). */
	uint32_t a = addr, end = (uint32_t)addr + count;
	const struct map_register *next = NULL; /* the register at a, when known */
	if (dev->pass)
		device__pass_feed(dev, table, addr, count, words);
	while (a < end) {
		const struct map_register *r = next ? next : map_find(dev->map, table, (uint16_t)a);
		if (!r) {
			/* The run of addresses no register describes, at once. */
			struct map_span gap;
			map_spans(dev->map, table, (uint16_t)a, (uint16_t)(end - a), &gap, 1);
			for (uint32_t k = 0; dev->pass && k < gap.count; k++)
				dev->stats.pass_blocks += (uint64_t)device_pass_store(
				    dev->pass, table, a + k, words[a + k - addr], c.stamp);
			a += gap.count;
			continue;
		}
		uint32_t rend = (uint32_t)r->address + r->count;
		uint16_t n = (uint16_t)((rend < end ? rend : end) - a);
		next = map_next(dev->map, r);
		if (r->is_const) {
			/* The map's value stays, whatever arrives for its address. */
			a += n;
			continue;
		}
		if (native && map_derived(r)) {
			/* Only a whole register can be derived; a part of one
			 * (a transport never sends it) is left stale. */
			uint16_t w[2];
			if (a == r->address && n == r->count && n <= 2 &&
			    device__derive(r, words + (a - addr), w) == 0) {
				struct device__copy d = {.src = w, .stamp = c.stamp};
				device__store_fn(dev, 0, r->slot, n, &d);
			} else if (a == r->address && n == r->count) {
				/* An odd value: counted, and the register serves
				 * its `unavailable` value or is refused alone. */
				device_cache_unavailable(dev, r, 1);
			}
		} else {
			device__store_fn(dev, a - addr, r->slot + (a - r->address), n, &c);
		}
		a += n;
	}
}

/* Constant registers (map.h) hold the map's value from the start, and
 * their stamps say "always fresh", so that no read ever asks the device
 * for them. */
static void device__init_consts(struct device *dev)
{
	size_t n = map_nregs(dev->map);
	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(dev->map, i);
		if (!r->is_const || map_const_words(r, dev->val + r->slot) != 0)
			continue;
		if (dev->stamp)
			device__stamp_store(dev, r->slot, r->count, UINT64_MAX);
	}
}

/* Did every word of read r arrive at or after `since`? */
static int device__fresh_since(const struct device *dev, const struct device_req *r, uint64_t since)
{
	if (!dev->stamp)
		return 1; /* memory: always fresh */
	uint64_t st = device__stamp_oldest(dev, r->span.slot, r->span.count);
	return st != 0 && st >= since;
}

/* ------------------------------------------------------- transactions -- */

static struct dtxn *device__txn_new(struct device *dev, enum txn_op op, uint16_t nwords)
{
	struct dtxn *d = calloc(1, sizeof *d + nwords * sizeof(uint16_t));
	if (!d)
		return NULL;
	d->t.op = op;
	d->t.words = d->wbuf;
	d->t.id = ++dev->next_id;
	d->attempts = (uint8_t)(1 + dev->retries);
	return d;
}

/* How long one attempt of d may take: the request's timeout shared by the
 * attempts it is allowed, so that every retry still ends within the
 * deadline the client was promised. */
static uint64_t device__attempt_timeout(const struct device *dev, const struct dtxn *d)
{
	uint64_t t = dev->timeout / (d->attempts ? d->attempts : 1);
	return t ? t : 1;
}

static void device__txn_free(struct dtxn *d)
{
	free(d->waiters);
	free(d);
}

static int device__add_waiter(struct dtxn *d, struct device_req *r)
{
	if (d->nwait == d->capw) {
		size_t cap = d->capw ? d->capw * 2 : 4;
		struct device_req **w = realloc(d->waiters, cap * sizeof *w);
		if (!w)
			return MB_ENOMEM;
		d->waiters = w;
		d->capw = cap;
	}
	d->waiters[d->nwait++] = r;
	d->live++;
	r->outstanding++;
	return 0;
}

static void device__enqueue(struct device *dev, struct dtxn *d)
{
	d->next = NULL;
	if (dev->tail)
		dev->tail->next = d;
	else
		dev->head = d;
	dev->tail = d;
}

static void device__unqueue(struct device *dev, struct dtxn *d)
{
	struct dtxn **pp = &dev->head, *prev = NULL;
	while (*pp && *pp != d) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = d->next;
	if (dev->tail == d)
		dev->tail = prev;
}

/* Did a pass-through read's transactions deliver every word it asked for? */
static int device__pass_got_all(const struct device_req *r)
{
	for (uint16_t i = 0; i < r->count; i++)
		if (!(r->got[i / 8] & (1u << (i % 8))))
			return 0;
	return 1;
}

/* Tell d's waiters that d ended with status; a waiter whose last
 * transaction this was gets its answer. Callbacks may cancel other waiters
 * of d (a client closing), so d is marked as being completed meanwhile. */
static void device__notify(struct device *dev, struct dtxn *d, enum mb_exc status)
{
	struct dtxn *outer = dev->completing;
	dev->completing = d;
	for (size_t i = 0; i < d->nwait; i++) {
		struct device_req *r = d->waiters[i];
		if (!r)
			continue;
		d->waiters[i] = NULL;
		d->live--;
		if (status && !r->status)
			r->status = status;
		if (d->started && (!r->since || d->started < r->since))
			r->since = d->started;
		if (--r->outstanding)
			continue;
		/* A read must only be answered with what its round trips
		 * delivered: a key missing from a Venus reply leaves its
		 * register stale, and then there is no answer to give. */
		if (!r->is_write && !r->status &&
		    !(r->pbuf ? device__pass_got_all(r) : device__fresh_since(dev, r, r->since)))
			r->status = MB_EXC_DEVICE_FAILURE;
		/* Nor is a read of registers refused alone (odd values). */
		if (!r->is_write && !r->status && !r->pbuf && dev->nrefused &&
		    device__all_refused(dev, r->span.slot, r->span.count))
			r->status = MB_EXC_DEVICE_FAILURE;
		device__finish_req(r, r->status);
	}
	dev->completing = outer;
}

/* Device health (device_health()): an answer, values or the device's own
 * exception, ends a silence; a transaction that got none after every
 * attempt (0B) starts one, dated when its first attempt went out. 0A is
 * the link's trouble, not the device's. Only completions the transport
 * reports (device_txn_done) and attempt timeouts count: a transaction
 * refused before it was sent (start() failing) asked the device nothing. */
static void device__health_note(struct device *dev, const struct dtxn *d, enum mb_exc status)
{
	if (status == MB_EXC_GATEWAY_PATH)
		return;
	if (status == MB_EXC_GATEWAY_TARGET) {
		if (!dev->stats.silent_since) {
			dev->stats.silent_since = d->sent_wall ? d->sent_wall : device__now_wall();
			/* Said once per silence, without -v: a device that stops
			 * answering behind a working link is otherwise invisible
			 * in the log (the link stays up). */
			log_info("%s: not answering (no answer within its timeout, link up)",
				 dev->name);
		}
		return;
	}
	if (dev->stats.silent_since)
		log_info("%s: answering again", dev->name);
	dev->stats.last_answer = device__now_wall();
	/* Odd, as the cache's stamps are (device__cache_put): the values
	 * this answer stored are stamped no later than this. */
	dev->answer_mono = device__now(dev) | 1;
	dev->stats.silent_since = 0;
}

/* Complete transaction d: tell its waiters, then start the next one. */
static void device__complete(struct device *dev, struct dtxn *d, enum mb_exc status)
{
	if (dev->inflight == d) {
		dev->inflight = NULL;
		device__timer_stop(dev, &dev->txn_timer);
	}
	if (status == 0)
		dev->stats.last_success = device__now_wall();
	else if (status == MB_EXC_GATEWAY_TARGET)
		dev->stats.timeouts++;
	else
		dev->stats.errors++;
	if (status != 0) {
		unsigned c = (unsigned)status;
		/* The codes the gateway itself answers; a device's own go to 0. */
		dev->stats.exceptions[c <= 4 || c == 10 || c == 11 ? c : 0]++;
		dev->stats.last_error = device__now_wall();
		dev->stats.last_exc = (uint8_t)status;
	}
	device__notify(dev, d, status);
	device__txn_free(d);
	if (!dev->pumping)
		device__pump(dev);
}

void device_txn_done(struct device *dev, struct txn *t, enum mb_exc status)
{
	struct dtxn *d = (struct dtxn *)t;
	if (d != dev->inflight) {
		/* A transport that completes what it was not given is a bug;
		 * refuse rather than free something twice. */
		log_err("%s: completion of a transaction that is not in flight", dev->name);
		return;
	}
	/* -v: every native transaction, whatever the protocol (docs/user-guide.md,
	 * "Status, counters and logs"). */
	if (log_enabled(MBLOG_DEBUG)) {
		char what[24] = "answered";
		if (status != MB_EXC_NONE)
			snprintf(what, sizeof what, "exception %02X", (unsigned)status);
		log_debug("%s: native %s of %s %u..%u (native address %u, attempt %u): %s",
			  dev->name, t->op == TXN_WRITE ? "write" : "read",
			  t->table == MAP_INPUT ? "input" : "holding", t->addr,
			  t->addr + t->count - 1u, t->native, t->attempt + 1u, what);
	}
	if (status == 0 && t->op == TXN_WRITE) {
		/* The device acknowledged: what we wrote is its value now
		 * (the client's words: front values, not native ones; strings
		 * handed over in the device's byte order turned back). */
		uint16_t w[MB_MAX_WRITE];
		uint16_t n = t->count <= MB_MAX_WRITE ? t->count : MB_MAX_WRITE;
		memcpy(w, t->words, n * sizeof w[0]);
		map_native_strings(dev->map, t->table, t->addr, n, w);
		device__cache_put(dev, t->table, t->addr, n, w, 0);
	}
	device__health_note(dev, d, status);
	device__complete(dev, d, status);
}

/* Has a read's waiter, one that joined after the read was first sent,
 * still time for one more attempt before its own deadline? (It was promised
 * the same tries as everyone else, not the tail of someone else's.) */
static int device__late_waiter(struct device *dev, const struct dtxn *d)
{
	if (d->t.op != TXN_READ || d->attempts < 2)
		return 0;
	uint64_t need = device__now(dev) + device__attempt_timeout(dev, d);
	for (size_t i = 0; i < d->nwait; i++)
		if (d->waiters[i] && d->waiters[i]->deadline >= need)
			return 1;
	return 0;
}

static void device__on_txn_timeout(struct device *dev)
{
	struct dtxn *d = dev->inflight;
	if (!d)
		return;
	log_debug("%s: no answer to attempt %u of %u within %llu ms", dev->name, d->t.attempt + 1u,
		  (unsigned)d->attempts, (unsigned long long)device__attempt_timeout(dev, d));
	/* The transport remembers what it gave up on, so that a late answer
	 * is never taken for another transaction's (transport.h). */
	if (dev->ops->abort)
		dev->ops->abort(dev->tstate, &d->t);
	/* Try again while someone still waits for it (a poll: the cache
	 * does) and tries are left, or, for a read, while a client that
	 * joined it late still has time for a whole attempt; first in the
	 * queue, so that the retry keeps the place the transaction had. */
	int again = d->t.attempt + 1u < d->attempts ? d->live > 0 || d->kind == DTXN_POLL
						    : device__late_waiter(dev, d);
	if (again && d->t.attempt < UINT8_MAX && dev->link_up && !dev->closing) {
		dev->inflight = NULL;
		d->t.attempt++;
		dev->stats.retries++;
		d->next = dev->head;
		dev->head = d;
		if (!dev->tail)
			dev->tail = d;
		device__pump(dev);
		return;
	}
	device__health_note(dev, d, MB_EXC_GATEWAY_TARGET);
	device__complete(dev, d, MB_EXC_GATEWAY_TARGET);
}

static void device__on_pump_timer(struct device *dev)
{
	device__pump(dev);
}

/* Start queued transactions while none is in flight. */
static void device__pump(struct device *dev)
{
	if (dev->pumping || dev->closing)
		return;
	dev->pumping = 1;
	while (!dev->inflight && dev->head) {
		struct dtxn *d = dev->head;
		/* A client read whose every waiter gave up is not worth a trip. */
		if (d->kind == DTXN_CLIENT && d->live == 0) {
			device__unqueue(dev, d);
			device__txn_free(d);
			continue;
		}
		uint64_t now = device__now(dev);
		if (d->t.op == TXN_READ && dev->min_interval && dev->last_read &&
		    now < dev->last_read + dev->min_interval) {
			/* min_interval bounds how often the device is asked for
			 * data (a cloud that must not be polled fast); a write
			 * waiting behind gated reads goes first, or it would
			 * expire unsent. */
			struct dtxn *w = d->next;
			while (w && w->t.op != TXN_WRITE)
				w = w->next;
			if (!w) {
				device__timer_start(dev, &dev->pump_timer,
						    dev->last_read + dev->min_interval - now, 0);
				break;
			}
			d = w;
		}
		device__unqueue(dev, d);
		dev->inflight = d;
		if (d->t.op == TXN_READ)
			dev->last_read = now;
		d->started = now | 1;
		if (!d->sent_wall)
			d->sent_wall = device__now_wall();
		dev->stats.native++;
		dev->stats.last_attempt = device__now_wall();
		device__timer_start(dev, &dev->txn_timer, device__attempt_timeout(dev, d), 0);
		enum mb_exc exc = dev->ops->start(dev->tstate, &d->t);
		if (exc != MB_EXC_NONE && dev->inflight == d)
			device__complete(dev, d, exc);
	}
	dev->pumping = 0;
}

/* ------------------------------------------------------------ requests -- */

static void device__arm_req_timer(struct device *dev)
{
	if (!dev->req_head) {
		device__timer_stop(dev, &dev->req_timer);
		return;
	}
	uint64_t now = device__now(dev);
	uint64_t due = dev->req_head->deadline;
	device__timer_start(dev, &dev->req_timer, due > now ? due - now : 0, 0);
}

/* A request. A read of registers brings its span (device_read), kept with
 * it; one that touches pass-through addresses (pass) gets its own buffer
 * (struct device_req's pbuf) instead. */
static struct device_req *device__req_new(struct device *dev, int table, int is_write,
					  uint16_t addr, uint16_t count, device_cb cb, void *ctx,
					  const struct map_span *span, int pass)
{
	struct device_req *r = calloc(1, sizeof *r + (pass ? (size_t)count * sizeof(uint16_t) : 0));
	if (!r)
		return NULL;
	if (span)
		r->span = *span;
	if (pass)
		r->pbuf = r->pwords;
	r->dev = dev;
	r->cb = cb;
	r->ctx = ctx;
	r->table = (uint8_t)table;
	r->is_write = (uint8_t)is_write;
	r->addr = addr;
	r->count = count;
	/* A read waits client_wait, a write the whole timeout: a write's
	 * answer must say what the device did with it, while a read given up
	 * on still fills the cache for the next one (include/timing.h). */
	r->deadline = device__now(dev) + (is_write ? dev->timeout : dev->client_wait);
	/* The list stays ordered by deadline, so that the timer only watches
	 * the head: from the tail, as most requests are the latest due. */
	struct device_req *after = dev->req_tail;
	while (after && after->deadline > r->deadline)
		after = after->prev;
	r->prev = after;
	r->next = after ? after->next : dev->req_head;
	if (r->next)
		r->next->prev = r;
	else
		dev->req_tail = r;
	if (after)
		after->next = r;
	else
		dev->req_head = r;
	if (dev->req_head == r || !device__timer_active(dev, &dev->req_timer))
		device__arm_req_timer(dev);
	return r;
}

/* Take r out of every transaction that waits for it. Queued writes that
 * nobody waits for any more are dropped; one in flight goes on. */
static void device__forget(struct dtxn *d, struct device_req *r)
{
	for (size_t i = 0; d && i < d->nwait; i++) {
		if (d->waiters[i] == r) {
			d->waiters[i] = NULL;
			d->live--;
		}
	}
}

static void device__detach(struct device *dev, struct device_req *r)
{
	device__forget(dev->inflight, r);
	device__forget(dev->completing, r);
	for (struct dtxn *d = dev->head; d; d = d->next)
		device__forget(d, r);
	/* Drop queued writes left without a client: never send a write whose
	 * outcome nobody can be told about. */
	struct dtxn *d = dev->head;
	while (d) {
		struct dtxn *next = d->next;
		if (d->t.op == TXN_WRITE && d->live == 0) {
			device__unqueue(dev, d);
			device__txn_free(d);
		}
		d = next;
	}
}

static void device__unlink_req(struct device *dev, struct device_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		dev->req_head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		dev->req_tail = r->prev;
}

static void device__finish_req(struct device_req *r, enum mb_exc status)
{
	struct device *dev = r->dev;
	uint16_t words[MB_MAX_READ];
	device__unlink_req(dev, r);
	if (r == dev->sync_req) {
		if (status == 0 && !r->is_write && r->pbuf) {
			memcpy(dev->sync_out, r->pbuf, r->count * sizeof(uint16_t));
		} else if (status == 0 && !r->is_write) {
			memcpy(dev->sync_out, dev->val + r->span.slot, r->count * sizeof(uint16_t));
		}
		dev->sync_done = 1;
		dev->sync_status = status;
		free(r);
		return;
	}
	if (status == 0 && !r->is_write && r->pbuf) {
		memcpy(words, r->pbuf, r->count * sizeof(uint16_t));
	} else if (status == 0 && !r->is_write) {
		memcpy(words, dev->val + r->span.slot, r->count * sizeof(uint16_t));
	}
	device_cb cb = r->cb;
	void *ctx = r->ctx;
	uint16_t count = r->count;
	int is_write = r->is_write;
	free(r);
	cb(ctx, status, status == 0 && !is_write ? words : NULL, count);
}

static void device__on_req_timer(struct device *dev)
{
	uint64_t now = device__now(dev);
	while (dev->req_head && dev->req_head->deadline <= now) {
		struct device_req *r = dev->req_head;
		device__detach(dev, r);
		device__finish_req(r, MB_EXC_GATEWAY_TARGET);
	}
	device__arm_req_timer(dev);
}

void device_cancel(struct device_req *r)
{
	struct device *dev = r->dev;
	device__detach(dev, r);
	device__unlink_req(dev, r);
	free(r);
	if (!dev->req_head)
		device__timer_stop(dev, &dev->req_timer);
}

/* Find a queued or in-flight read of the same table that covers the range. */
static struct dtxn *device__find_read(struct device *dev, int table, uint16_t addr, uint16_t count,
				      int read_all)
{
	struct dtxn *cand[2] = {dev->inflight, dev->head};
	for (int k = 0; k < 2; k++) {
		for (struct dtxn *d = cand[k]; d; d = k ? d->next : NULL) {
			if (d->t.op == TXN_READ &&
			    (read_all
				 ? d->read_all
				 : (!d->read_all && !d->pass && d->t.table == table &&
				    d->t.addr <= addr &&
				    (uint32_t)d->t.addr + d->t.count >= (uint32_t)addr + count)))
				return d;
			if (!k)
				break;
		}
	}
	return NULL;
}

/* A client waits for queued read d: move it ahead of the background polls
 * queued before it (behind other clients' transactions, in their order),
 * so that a client never waits for a whole poll of a slow device to pass
 * first (a Growatt poll spaced by min_interval takes ~10 s). */
static void device__promote(struct device *dev, struct dtxn *d)
{
	if (d == dev->inflight)
		return; /* on its way already: it is in no queue */
	struct dtxn **pp = &dev->head;
	while (*pp && *pp != d && (*pp)->kind != DTXN_POLL)
		pp = &(*pp)->next;
	if (!*pp || *pp == d)
		return; /* no poll before it */
	struct dtxn *at = *pp, *q = at;
	while (q && q != d)
		q = q->next;
	if (!q)
		return; /* not queued (being completed): nothing to move */
	device__unqueue(dev, d);
	d->next = at;
	*pp = d;
}

/* Queue native reads for [addr, addr+count) of table, split at max_read and
 * where native addresses stop being contiguous, never inside a register.
 * at is the register that holds addr (NULL: looked up); the registers that
 * follow are the map's next ones (map_next), not looked up again. Each new
 * transaction gets r as a waiter (r may be NULL for polls). */
static int device__queue_reads(struct device *dev, int table, uint16_t addr, uint16_t count,
			       const struct map_register *at, struct device_req *r,
			       enum dtxn_kind kind)
{
	if (dev->ops->flags & TRANSPORT_READ_ALL) {
		struct dtxn *d = device__find_read(dev, 0, 0, 0, 1);
		if (!d) {
			if (!(d = device__txn_new(dev, TXN_READ, 0)))
				return MB_ENOMEM;
			d->read_all = 1;
			d->kind = kind;
			d->t.fc = MB_FC_READ_HOLDING;
			device__enqueue(dev, d);
		}
		if (r)
			device__promote(dev, d);
		return r ? device__add_waiter(d, r) : 0;
	}
	uint32_t a = addr, end = (uint32_t)addr + count;
	const struct map_register *first = at;
	while (a < end) {
		if (!first && !(first = map_find(dev->map, table, (uint16_t)a)))
			return MB_ENOENT;
		if (first->is_const) {
			/* Served from the map: nothing to ask the device. */
			a = (uint32_t)first->address + first->count;
			first = map_next(dev->map, first);
			continue;
		}
		/* Round out to the register's start so that a 32-bit value is
		 * never read in halves from two transactions. */
		uint32_t start = first->address, n = 0;
		uint32_t native0 = first->native;
		uint32_t b = start;
		const struct map_register *reg = first;
		while (b < end) {
			if (!reg || reg->address != b || reg->is_const)
				break;
			if (reg->native != native0 + (b - start))
				break;
			if (n + reg->count > dev->max_read)
				break;
			n += reg->count;
			b += reg->count;
			reg = map_next(dev->map, reg);
		}
		if (n == 0) { /* a register longer than max_read: read it alone */
			n = first->count;
			reg = map_next(dev->map, first);
		}
		struct dtxn *d = device__find_read(dev, table, (uint16_t)start, (uint16_t)n, 0);
		if (!d) {
			if (!(d = device__txn_new(dev, TXN_READ, 0)))
				return MB_ENOMEM;
			d->kind = kind;
			d->t.table = (uint8_t)table;
			d->t.fc = table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
			d->t.addr = (uint16_t)start;
			d->t.native = (uint16_t)native0;
			d->t.count = (uint16_t)n;
			device__enqueue(dev, d);
		}
		if (r) {
			int rc = device__add_waiter(d, r);
			if (rc)
				return rc;
			device__promote(dev, d);
		}
		a = start + n;
		first = reg; /* the register at a, or NULL: looked up */
	}
	return 0;
}

/* A write's range resolved against the map once (device__pieces): each
 * register it touches with the part of it in range, in address order, and
 * each run of addresses no register describes (r NULL). */
struct device__piece {
	const struct map_register *r;
	uint16_t a, n; /* [a, a+n): the part of r in range, or the run */
};

/* The pieces of [addr, addr+count) of the holding registers, from
 * map_spans and map_next: no look-up per register. Returns how many; out
 * has room for count. */
static size_t device__pieces(const struct device *dev, uint16_t addr, uint16_t count,
			     struct device__piece *out)
{
	struct map_span spans[MB_MAX_WRITE];
	size_t ns = map_spans(dev->map, MAP_HOLDING, addr, count, spans, MB_MAX_WRITE);
	size_t np = 0;
	for (size_t i = 0; i < ns; i++) {
		uint32_t a = spans[i].addr, end = a + spans[i].count;
		if (!spans[i].first) {
			out[np++] = (struct device__piece){.a = (uint16_t)a, .n = spans[i].count};
			continue;
		}
		/* A span's registers follow each other to its end. */
		for (const struct map_register *r = spans[i].first; r && a < end;
		     r = map_next(dev->map, r)) {
			uint32_t rend = (uint32_t)r->address + r->count;
			uint32_t e = rend < end ? rend : end;
			out[np++] = (struct device__piece){
			    .r = r, .a = (uint16_t)a, .n = (uint16_t)(e - a)};
			a = e;
		}
	}
	return np;
}

/* 02 unless every address of the range is in a writable holding register
 * that the range covers whole: half a 32-bit value can be neither
 * range-checked nor sent as a native command. */
static enum mb_exc device__check_writable(const struct device *dev, uint16_t addr, uint16_t count,
					  const struct device__piece *pc, size_t np)
{
	uint32_t end = (uint32_t)addr + count;
	for (size_t i = 0; i < np; i++) {
		const struct map_register *r = pc[i].r;
		if (!r && dev->pass) {
			/* Registers win; elsewhere a range the site made writable. */
			for (uint32_t a = pc[i].a; a < (uint32_t)pc[i].a + pc[i].n; a++) {
				const struct map_passthrough *p =
				    device_pass_range(dev->pass, MAP_HOLDING, (uint16_t)a);
				if (!p || !(p->access & MAP_W))
					return MB_EXC_ILLEGAL_ADDRESS;
			}
			continue;
		}
		if (!r || !(r->access & MAP_W) || r->address < addr ||
		    (uint32_t)r->address + r->count > end)
			return MB_EXC_ILLEGAL_ADDRESS;
	}
	return 0;
}

/* An answer given now. */
static struct device_outcome device__answer(enum mb_exc exc)
{
	return (struct device_outcome){.pending = 0, .exc = exc};
}

/* Start what was queued for r. Pending, or r's outcome when it completed
 * before the pump returned (r is freed then). */
static struct device_outcome device__pump_for(struct device *dev, struct device_req *r,
					      uint16_t *out, struct device_req **req)
{
	struct device_req *outer_req = dev->sync_req;
	uint16_t *outer_out = dev->sync_out;
	int outer_done = dev->sync_done;
	enum mb_exc outer_status = dev->sync_status;
	dev->sync_req = r;
	dev->sync_out = out;
	dev->sync_done = 0;
	device__pump(dev);
	int done = dev->sync_done;
	enum mb_exc status = dev->sync_status;
	dev->sync_req = outer_req;
	dev->sync_out = outer_out;
	dev->sync_done = outer_done;
	dev->sync_status = outer_status;
	if (done)
		return device__answer(status);
	*req = r;
	return (struct device_outcome){.pending = 1, .exc = MB_EXC_NONE};
}

/* The pass-through read of a transaction in flight or queued that holds
 * address a of table, or NULL. */
static struct dtxn *device__find_pass_read(struct device *dev, int table, uint32_t a)
{
	struct dtxn *cand[2] = {dev->inflight, dev->head};
	for (int k = 0; k < 2; k++)
		for (struct dtxn *d = cand[k]; d; d = k ? d->next : NULL) {
			if (d->t.op == TXN_READ && d->pass && d->t.table == table &&
			    d->t.addr <= a && a < (uint32_t)d->t.addr + d->t.count)
				return d;
			if (!k)
				break;
		}
	return NULL;
}

/* Queue native reads of the pass-through addresses [addr, addr+count) of
 * table (no register among them), native address = front address, split at
 * max_read. A piece that a queued or in-flight pass-through read already
 * covers joins it (coalescing), and a new read stops where such a read
 * begins, so that overlapping requests share what they can. */
static int device__queue_pass(struct device *dev, int table, uint16_t addr, uint16_t count,
			      struct device_req *r)
{
	uint32_t a = addr, end = (uint32_t)addr + count;
	while (a < end) {
		struct dtxn *d = device__find_pass_read(dev, table, a);
		uint32_t lim;
		if (d) {
			lim = (uint32_t)d->t.addr + d->t.count;
		} else {
			lim = a + dev->max_read < end ? a + dev->max_read : end;
			struct dtxn *cand[2] = {dev->inflight, dev->head};
			for (int k = 0; k < 2; k++)
				for (struct dtxn *q = cand[k]; q; q = k ? q->next : NULL) {
					if (q->t.op == TXN_READ && q->pass && q->t.table == table &&
					    q->t.addr > a && q->t.addr < lim)
						lim = q->t.addr;
					if (!k)
						break;
				}
			if (!(d = device__txn_new(dev, TXN_READ, 0)))
				return MB_ENOMEM;
			d->kind = DTXN_CLIENT;
			d->pass = 1;
			d->t.table = (uint8_t)table;
			d->t.fc = table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
			d->t.addr = d->t.native = (uint16_t)a;
			d->t.count = (uint16_t)(lim - a);
			device__enqueue(dev, d);
		}
		int rc = device__add_waiter(d, r);
		if (rc)
			return rc;
		a = lim < end ? lim : end;
	}
	return 0;
}

/* A read that is not one run of readable registers, on a device with
 * pass-through ranges (docs/design.md, "Pass-through"): every address must
 * be in a readable register or, where no register describes it, in a
 * pass-through range (else 02). Fresh words come from the two caches;
 * otherwise registers are read as registers (rounded out to whole ones) and
 * pass-through addresses as they are, and the request collects its words in
 * its own buffer. */
static struct device_outcome device__read_pass(struct device *dev, int table, uint16_t addr,
					       uint16_t count, uint16_t *out, device_cb cb,
					       void *ctx, struct device_req **req)
{
	struct map_span spans[MB_MAX_READ];
	size_t nspans = map_spans(dev->map, table, addr, count, spans, MB_MAX_READ);
	uint64_t since = device__max_age_since(dev);
	int stale = 0, any_value = 0;

	for (size_t i = 0; i < nspans; i++) {
		const struct map_span *s = &spans[i];
		if (s->first) {
			if (s->unreadable)
				return device__answer(MB_EXC_ILLEGAL_ADDRESS);
			memcpy(out + (s->addr - addr), dev->val + s->slot,
			       s->count * sizeof(uint16_t));
			stale |= device__stamp_oldest(dev, s->slot, s->count) < since;
			any_value |= !device__all_refused(dev, s->slot, s->count);
			continue;
		}
		any_value = 1;
		for (uint32_t a = s->addr; a < (uint32_t)s->addr + s->count; a++) {
			if (!device_pass_range(dev->pass, table, (uint16_t)a))
				return device__answer(MB_EXC_ILLEGAL_ADDRESS);
			if (stale || !device_pass_fresh(dev->pass, table, a, since, &out[a - addr]))
				stale = 1;
		}
	}
	if (!stale) {
		/* Keep what clients read: the least recently used goes first. */
		for (size_t i = 0; i < nspans; i++)
			for (uint32_t k = 0; !spans[i].first && k < spans[i].count; k++)
				device_pass_touch(dev->pass, table, spans[i].addr + k);
		dev->stats.cache_hits++;
		return device__answer(any_value ? MB_EXC_NONE : MB_EXC_DEVICE_FAILURE);
	}
	if (!dev->link_up)
		return device__answer(MB_EXC_GATEWAY_PATH);
	/* Its words are collected in its own buffer. */
	struct device_req *r = device__req_new(dev, table, 0, addr, count, cb, ctx, NULL, 1);
	if (!r)
		return device__answer(MB_EXC_DEVICE_FAILURE);
	int rc = 0;
	/* Registers are read as mapped reads are, the rest as it is. */
	for (size_t i = 0; i < nspans && rc == 0; i++)
		rc = spans[i].first
			 ? device__queue_reads(dev, table, spans[i].addr, spans[i].count,
					       spans[i].first, r, DTXN_CLIENT)
			 : device__queue_pass(dev, table, spans[i].addr, spans[i].count, r);
	if (rc != 0 || r->outstanding == 0) {
		device__detach(dev, r);
		device__unlink_req(dev, r);
		free(r);
		return device__answer(MB_EXC_DEVICE_FAILURE);
	}
	return device__pump_for(dev, r, out, req);
}

struct device_outcome device_read(struct device *dev, uint8_t fc, uint16_t addr, uint16_t count,
				  uint16_t *out, device_cb cb, void *ctx, struct device_req **req)
{
	int table = fc == MB_FC_READ_INPUT ? MAP_INPUT : MAP_HOLDING;
	dev->stats.requests++;
	if (count == 0 || count > MB_MAX_READ)
		return device__answer(MB_EXC_ILLEGAL_VALUE);
	/* The hot path: the range must lie in one run of adjacent readable
	 * registers (map.h, readable_run), whose words have adjacent cache
	 * slots; so one look-up, one copy and one freshness scan. */
	const struct map_register *reg = map_find(dev->map, table, addr);
	if (!reg || (uint32_t)(addr - reg->address) + count > reg->readable_run)
		return dev->pass ? device__read_pass(dev, table, addr, count, out, cb, ctx, req)
				 : device__answer(MB_EXC_ILLEGAL_ADDRESS);
	/* One span: the plan of the read, kept with its request. */
	const struct map_span span = {
	    .addr = addr, .count = count, .slot = reg->slot + (addr - reg->address), .first = reg};
	uint32_t slot = span.slot;
	memcpy(out, dev->val + slot, count * sizeof(uint16_t));
	int stale = 0;
	if (dev->stamp)
		stale = device__stamp_oldest(dev, slot, count) < device__max_age_since(dev);
	if (!stale) {
		dev->stats.cache_hits++;
		/* Registers refused alone: no value to give. */
		return device__answer(device__all_refused(dev, slot, count) ? MB_EXC_DEVICE_FAILURE
									    : MB_EXC_NONE);
	}
	if (!dev->link_up)
		return device__answer(MB_EXC_GATEWAY_PATH);
	struct device_req *r = device__req_new(dev, table, 0, addr, count, cb, ctx, &span, 0);
	if (!r)
		return device__answer(MB_EXC_DEVICE_FAILURE);
	if (device__queue_reads(dev, table, addr, count, reg, r, DTXN_CLIENT) != 0 ||
	    r->outstanding == 0) {
		device__detach(dev, r);
		device__unlink_req(dev, r);
		free(r);
		return device__answer(MB_EXC_DEVICE_FAILURE);
	}
	return device__pump_for(dev, r, out, req);
}

void device_view(struct device *dev, struct device_view *v)
{
	v->dev = dev;
	v->x = (const struct map_index *)(const void *)dev->map;
	v->val = dev->val;
	v->stamp = dev->stamp;
	v->refused = dev->nrefused != 0;
	v->check = v->refused || dev->stamp;
	if (dev->stamp) {
		/* device__stamp_time(k) < since, for a stamp as stored: 0
		 * (never) is below any since, UINT32_MAX (a constant) never
		 * is, and the rest are stamp_base + s. */
		uint64_t since = device__max_age_since(dev);
		uint64_t d = since > dev->stamp_base ? since - dev->stamp_base : 1;
		v->fresh = d >= UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
}

void device_view_count(struct device *dev, uint64_t n)
{
	dev->stats.requests += n;
	dev->stats.cache_hits += n;
}

int device_view_refused(const struct device_view *v, uint32_t slot, uint16_t count)
{
	return device__all_refused(v->dev, slot, count);
}

const uint16_t *device_view_search(const struct device_view *v, int table, uint16_t addr,
				   uint16_t count)
{
	const struct map_register *reg = map_find(v->dev->map, table, addr);
	if (!reg || (uint32_t)(addr - reg->address) + count > reg->readable_run)
		return NULL;
	uint32_t slot = reg->slot + (addr - reg->address);
	return device_view__served(v, (size_t)(reg - v->x->regs), slot, count) ? v->val + slot
									       : NULL;
}

const uint16_t *device_read_cached(struct device *dev, uint8_t fc, uint16_t addr, uint16_t count)
{
	if (count == 0 || count > MB_MAX_READ)
		return NULL;
	/* device_read's hot path, deciding the same, without copying. */
	struct device_view v;
	device_view(dev, &v);
	const uint16_t *words;
	if (!device_view_read(&v, fc == MB_FC_READ_INPUT ? MAP_INPUT : MAP_HOLDING, addr, count,
			      &words))
		return NULL;
	device_view_count(dev, 1);
	return words;
}

/* Is every register in range writable with these values? */
static enum mb_exc device__check_values(uint16_t addr, const uint16_t *words,
					const struct device__piece *pc, size_t np)
{
	for (size_t i = 0; i < np; i++) {
		const struct map_register *r = pc[i].r;
		/* No register: pass-through, the device judges the value. The
		 * registers are whole (device__check_writable). */
		if (r && r->type != MAP_STRING &&
		    !map_value_ok(r, map_decode(r, words + (r->address - addr))))
			return MB_EXC_ILLEGAL_VALUE;
	}
	return 0;
}

/* May a write of the np pieces from pc (or of cmd) be sent again when its
 * answer did not come? Register writes set a value, so repeating one is
 * harmless, unless the map says otherwise (`retry = false`: triggers,
 * counters, resets), where a lost answer must stay an unknown outcome (0B). */
static int device__write_retryable(const struct map_command *cmd, const struct device__piece *pc,
				   size_t np)
{
	if (cmd)
		return !cmd->no_retry;
	for (size_t i = 0; i < np; i++)
		if (!pc[i].r || pc[i].r->no_retry)
			return 0;
	return 1;
}

static struct dtxn *device__write_txn(struct device *dev, uint8_t fc, uint16_t addr, uint16_t count,
				      const uint16_t *words, const struct map_register *r)
{
	struct dtxn *d = device__txn_new(dev, TXN_WRITE, count);
	if (!d)
		return NULL;
	d->t.table = MAP_HOLDING;
	d->t.fc = fc;
	d->t.addr = addr;
	d->t.native = r ? r->native : addr;
	d->t.count = count;
	memcpy(d->wbuf, words, count * sizeof(uint16_t));
	/* The transport sends native words; device_txn_done() turns them back
	 * when it stores what the device acknowledged. */
	map_native_strings(dev->map, MAP_HOLDING, addr, count, d->wbuf);
	return d;
}

struct device_outcome device_write(struct device *dev, uint8_t fc, uint16_t addr, uint16_t count,
				   const uint16_t *words, device_cb cb, void *ctx,
				   struct device_req **req)
{
	dev->stats.requests++;
	if (dev->cfg->read_only)
		return device__answer(MB_EXC_ILLEGAL_FUNCTION);
	if (count == 0 || count > MB_MAX_WRITE)
		return device__answer(MB_EXC_ILLEGAL_VALUE);
	/* The range against the map once, as a read's is. */
	struct device__piece pc[MB_MAX_WRITE];
	size_t np = device__pieces(dev, addr, count, pc);
	enum mb_exc exc = device__check_writable(dev, addr, count, pc, np);
	if (exc)
		return device__answer(exc);
	const struct map_command *cmd = map_find_command(dev->map, addr, count);
	if (cmd && (cmd->address != addr || cmd->count != count))
		return device__answer(MB_EXC_ILLEGAL_ADDRESS);
	if ((exc = device__check_values(addr, words, pc, np)))
		return device__answer(exc);

	if (dev->ops->flags & TRANSPORT_CACHE_IS_STORE) {
		device__cache_put(dev, MAP_HOLDING, addr, count, words, 0);
		return device__answer(MB_EXC_NONE);
	}
	if (!dev->link_up)
		return device__answer(MB_EXC_GATEWAY_PATH);

	struct device_req *r = device__req_new(dev, MAP_HOLDING, 1, addr, count, cb, ctx, NULL, 0);
	if (!r)
		return device__answer(MB_EXC_DEVICE_FAILURE);
	/* One transaction for a command group or a run of native registers;
	 * registers with their own command template (venus) one each; one
	 * for each run of addresses no register describes (pass-through,
	 * sent as the client sent it). */
	for (size_t i = 0, j; i < np; i = j) {
		const struct map_register *reg = pc[i].r;
		uint32_t a = pc[i].a, n = pc[i].n;
		j = i + 1;
		if (reg && cmd) {
			n = count;
			j = np;
		} else if (reg && !reg->write) {
			/* Extend over following registers with contiguous
			 * native addresses and no template of their own. */
			while (j < np && pc[j].r && pc[j].a == a + n && !pc[j].r->write &&
			       pc[j].r->native == reg->native + n)
				n += pc[j++].n;
		}
		struct dtxn *d = device__write_txn(
		    dev,
		    n == 1 && fc == MB_FC_WRITE_SINGLE ? MB_FC_WRITE_SINGLE : MB_FC_WRITE_MULTIPLE,
		    (uint16_t)a, (uint16_t)n, words + (a - addr), reg);
		if (!d || device__add_waiter(d, r) != 0) {
			if (d)
				device__txn_free(d);
			device__detach(dev, r);
			device__unlink_req(dev, r);
			free(r);
			return device__answer(MB_EXC_DEVICE_FAILURE);
		}
		d->kind = DTXN_CLIENT;
		d->t.cmd = cmd;
		d->t.reg = cmd ? NULL : reg;
		if (!device__write_retryable(cmd, pc + i, j - i))
			d->attempts = 1;
		device__enqueue(dev, d);
	}
	return device__pump_for(dev, r, NULL, req);
}

/* ------------------------------------------------------------- polling -- */

/* Queue a refresh of every readable register, in blocks. */
static void device__refresh_all(struct device *dev)
{
	if (!dev->link_up || dev->closing)
		return;
	if (dev->ops->flags & TRANSPORT_READ_ALL) {
		device__queue_reads(dev, 0, 0, 0, NULL, NULL, DTXN_POLL);
	} else {
		size_t n = map_nregs(dev->map);
		for (size_t i = 0; i < n;) {
			const struct map_register *r = map_reg(dev->map, i);
			if (!(r->access & MAP_R)) {
				i++;
				continue;
			}
			/* A run of adjacent readable registers of one table. */
			uint32_t start = r->address, end = start + r->count;
			size_t j = i + 1;
			while (j < n) {
				const struct map_register *q = map_reg(dev->map, j);
				if (q->table != r->table || q->address != end ||
				    !(q->access & MAP_R))
					break;
				end += q->count;
				j++;
			}
			while (start < end) {
				uint32_t len = end - start > 0xFFFF ? 0xFFFF : end - start;
				device__queue_reads(dev, r->table, (uint16_t)start, (uint16_t)len,
						    start == r->address ? r : NULL, NULL,
						    DTXN_POLL);
				start += len;
			}
			i = j;
		}
	}
	device__pump(dev);
}

/* Polls of successive devices start this many ms apart (200 a second),
 * wrapping around the poll period: 10,000 devices polled every 60 s spread
 * over 50 s instead of all at once (docs/design.md, "A fleet on one
 * broker"). The first device keeps slot 0: its first poll comes after one
 * period, its refresh at once when its link comes up, as always. */
#define DEVICE__SPREAD_MS 5
static uint64_t device__created;

static void device__on_poll(struct device *dev)
{
	device__refresh_all(dev);
}

static void device__on_later(struct device *dev)
{
	device__refresh_all(dev);
}

void device_refresh_later(struct device *dev, uint64_t delay_ms)
{
	if (!dev->closing)
		device__timer_start(dev, &dev->later_timer, delay_ms, 0);
}

void device_cache_unavailable(struct device *dev, const struct map_register *r, int odd)
{
	uint16_t w[2];
	size_t nslots = map_nslots(dev->map);

	if (odd && dev->stats.bad_values++ == 0)
		log_info("%s: %s: the device sent a value that does not fit the register; it "
			 "serves %s (counted as bad_values; the next ones are logged at debug "
			 "level)",
			 dev->name, r->name,
			 r->has_unavail ? "its map's unavailable value"
					: "no value when read alone");
	/* Memory devices hold what clients wrote; strings and constants have
	 * no stand-in. */
	if (!dev->stamp || r->count > 2 || r->slot + r->count > nslots)
		return;
	int declared = map_unavailable_words(r, w);
	if (declared < 0)
		return;
	if (!dev->unavail && !(dev->unavail = calloc(nslots, 1))) {
		log_warn("%s: %s: out of memory; its value stays stale", dev->name, r->name);
		return;
	}
	struct device__copy c = {.src = w, .stamp = device__now(dev) | 1};
	device__store_fn(dev, 0, r->slot, r->count, &c);
	for (uint16_t i = 0; !declared && i < r->count; i++) {
		dev->unavail[r->slot + i] = DEVICE__UNAVAIL_REFUSED;
		dev->nrefused++;
	}
	for (uint16_t i = 0; declared && i < r->count; i++)
		dev->unavail[r->slot + i] = DEVICE__UNAVAIL_MAP;
}

void device_count_drop(struct device *dev)
{
	/* Only a count: what the transport drops may be anybody's message (a
	 * battery sharing the response topic, garbage), so it must not end
	 * or start any wait (docs/design.md, "Answers bound to their requests"). */
	dev->stats.dropped++;
}

/* Fail every queued transaction's waiters with status (link down, close). */
static void device__fail_queue(struct device *dev, enum mb_exc status)
{
	while (dev->head) {
		struct dtxn *d = dev->head;
		device__unqueue(dev, d);
		device__notify(dev, d, status);
		device__txn_free(d);
	}
}

void device_link_changed(struct device *dev, int up)
{
	if (dev->link_up != up)
		log_info("%s: link %s", dev->name, up ? "up" : "down");
	device_link_changed_quiet(dev, up);
}

void device_link_changed_quiet(struct device *dev, int up)
{
	if (dev->link_up == up)
		return;
	dev->link_up = up;
	if (!up) {
		/* Nothing queued can reach the device: say so now (0A) rather
		 * than let every client wait for its timeout. */
		int was = dev->pumping;
		dev->pumping = 1;
		/* The transaction in flight was sent: the device may have
		 * acted on it, so its outcome is unknown (0B); what is still
		 * queued never left (0A). */
		if (dev->inflight) {
			struct dtxn *d = dev->inflight;
			if (dev->ops->abort)
				dev->ops->abort(dev->tstate, &d->t);
			device__complete(dev, d, MB_EXC_GATEWAY_TARGET);
		}
		device__fail_queue(dev, MB_EXC_GATEWAY_PATH);
		dev->pumping = was;
	} else if (dev->poll && dev->poll_slot && device__timer_active(dev, &dev->poll_timer)) {
		/* Its place in the period, not all devices of the link at once. */
		device__timer_start(dev, &dev->poll_timer, dev->poll_slot, dev->poll);
	} else if (dev->poll) {
		device__refresh_all(dev);
	}
}

/* ---------------------------------------------------------- lifecycle -- */

static void device__init_defaults(struct device *dev)
{
	size_t n = map_nregs(dev->map);
	for (size_t i = 0; i < n; i++) {
		const struct map_register *r = map_reg(dev->map, i);
		if (!r->has_default && !r->def_string)
			continue;
		uint16_t w[128] = {0};
		if (r->count > 128)
			continue;
		if (r->type == MAP_STRING) {
			if (map_encode_string(r, r->def_string ? r->def_string : "", w) != 0)
				continue;
		} else if (map_encode(r, r->def, w) != 0) {
			continue;
		}
		memcpy(dev->val + r->slot, w, r->count * sizeof(uint16_t));
	}
}

int device_create(uv_loop_t *loop, const struct config *conf, const struct config_device *cfg,
		  const struct map *map, struct device **out, char *err, size_t errlen)
{
	/* The device's protocol block, else its map's protocol (a virtual one:
	 * the loader refuses any other without a block). */
	const struct protocol *pr = cfg->proto ? cfg->proto : map_proto(map);
	if (!pr || !pr->ops) {
		snprintf(err, errlen, "%s:%d: device \"%s\": no protocol", conf->path, cfg->line,
			 cfg->name);
		return MB_EINVAL;
	}
	return device_create_ops(loop, conf, cfg, map, pr->ops, out, err, errlen);
}

int device_create_ops(uv_loop_t *loop, const struct config *conf, const struct config_device *cfg,
		      const struct map *map, const struct transport_ops *ops, struct device **out,
		      char *err, size_t errlen)
{
	struct device *dev = calloc(1, sizeof *dev);
	size_t nslots = map_nslots(map);
	if (!dev)
		return MB_ENOMEM;
	dev->val = calloc(nslots ? nslots : 1, sizeof *dev->val);
	dev->stamp = (ops->flags & TRANSPORT_CACHE_IS_STORE)
			 ? NULL
			 : calloc(map_nregs(map) ? map_nregs(map) : 1, sizeof *dev->stamp);
	dev->name = cfg->name;
	if (!dev->val || (!(ops->flags & TRANSPORT_CACHE_IS_STORE) && !dev->stamp)) {
		free(dev->val);
		free(dev->stamp);
		free(dev);
		return MB_ENOMEM;
	}
	struct timing tm;
	timing_resolve(conf, cfg, map, &tm);
	dev->loop = loop;
	dev->stamp_base = uv_now(loop) ? uv_now(loop) - 1 : 0; /* a stamp is after it */
	dev->cfg = cfg;
	dev->map = map;
	dev->ops = ops;
	for (size_t i = 0; i < protocol_count() && !dev->proto; i++)
		if (protocol_at(i)->ops == ops)
			dev->proto = protocol_at(i);
	dev->unit = cfg->unit_id;
	dev->timeout = (uint64_t)tm.timeout;
	dev->max_age = (uint64_t)tm.max_age;
	dev->poll = (uint64_t)tm.poll;
	dev->min_interval = (uint64_t)tm.min_interval;
	dev->client_wait = (uint64_t)tm.client_wait;
	dev->retries = tm.retries;
	dev->max_read = ops->max_read ? ops->max_read : MB_MAX_READ;
	if (map_max_read(map) && map_max_read(map) < dev->max_read)
		dev->max_read = (uint16_t)map_max_read(map);
	device__init_consts(dev);
	if (ops->flags & TRANSPORT_CACHE_IS_STORE) {
		device__init_defaults(dev);
		dev->link_up = 1;
	}
	/* Pass-through needs a device behind the transport that takes Modbus
	 * addresses: not the memory store, not Venus's key/value dump. The map
	 * loader allows ranges only in maps of RTU-carrying protocols. */
	if (map_npassthrough(map) &&
	    !(ops->flags & (TRANSPORT_CACHE_IS_STORE | TRANSPORT_READ_ALL))) {
		int64_t regs =
		    cfg->passthrough_cache > 0 ? cfg->passthrough_cache : CONFIG_PASS_CACHE_DEFAULT;
		if (!(dev->pass = device_pass_new(map, dev->proto, regs))) {
			free(dev->val);
			free(dev->stamp);
			free(dev);
			return MB_ENOMEM;
		}
	}

	if (!(dev->clock = device__clock_get(loop))) {
		free(dev->val);
		free(dev->stamp);
		device_pass_free(dev->pass);
		free(dev);
		return MB_ENOMEM;
	}
	int rc = ops->open(dev, loop, cfg, map, &dev->tstate, err, errlen);
	if (rc != 0) {
		dev->tstate = NULL;
		device_close(dev);
		return rc;
	}
	if (dev->poll && !(ops->flags & TRANSPORT_CACHE_IS_STORE)) {
		dev->poll_slot = (device__created++ * DEVICE__SPREAD_MS) % dev->poll;
		device__timer_start(dev, &dev->poll_timer, dev->poll - dev->poll_slot, dev->poll);
	}
	log_info(
	    "%s: unit %d, map %s (%s, trust %s), timeout %llu ms, max_age %llu ms, poll %llu ms"
	    ", min_interval %llu ms, retries %u, client_wait %llu ms",
	    dev->name, dev->unit, map_name(map), dev->proto ? dev->proto->name : "no protocol",
	    map_trust(map), (unsigned long long)dev->timeout, (unsigned long long)dev->max_age,
	    (unsigned long long)dev->poll, (unsigned long long)dev->min_interval, dev->retries,
	    (unsigned long long)dev->client_wait);
	*out = dev;
	return 0;
}

/* Closed earlier (device_close), now from the loop: free it. */
static void device__free(struct device *dev)
{
	struct device__clock *c = dev->clock;
	if (dev->heap_at)
		device__heap_remove(c, dev);
	device__clock_put(c);
	void (*hook)(void *) = dev->close_hook;
	void *arg = dev->close_arg;
	free(dev->val);
	free(dev->stamp);
	free(dev->unavail);
	device_pass_free(dev->pass);
	free(dev);
	if (hook)
		hook(arg);
}

void device_set_close_hook(struct device *dev, void (*fn)(void *arg), void *arg)
{
	dev->close_hook = fn;
	dev->close_arg = arg;
}

void device_close(struct device *dev)
{
	if (!dev || dev->closing)
		return;
	/* Fail what is pending while the transport can still be told. */
	dev->pumping = 1;
	if (dev->inflight) {
		struct dtxn *d = dev->inflight;
		if (dev->ops->abort && dev->tstate)
			dev->ops->abort(dev->tstate, &d->t);
		device__complete(dev, d, MB_EXC_GATEWAY_TARGET);
	}
	device__fail_queue(dev, MB_EXC_GATEWAY_TARGET);
	while (dev->req_head) {
		struct device_req *r = dev->req_head;
		device__finish_req(r, MB_EXC_GATEWAY_TARGET);
	}
	dev->closing = 1;
	if (dev->tstate && dev->ops->close)
		dev->ops->close(dev->tstate);
	dev->tstate = NULL;
	/* Freed from the loop, as a libuv handle is closed: the later timer,
	 * due now, is the only deadline left. */
	dev->armed = 0;
	device__timer_set(dev, &dev->later_timer, 0, 0);
}

/* ------------------------------------------------------------ getters -- */

const char *device_name(const struct device *dev)
{
	return dev->name;
}

int device_unit(const struct device *dev)
{
	return dev->unit;
}

const struct map *device_map(const struct device *dev)
{
	return dev->map;
}

const struct config_device *device_config(const struct device *dev)
{
	return dev->cfg;
}

const struct device_stats *device_stats(const struct device *dev)
{
	return &dev->stats;
}

bool device_link_up(const struct device *dev)
{
	return dev->link_up;
}

enum device_health device_health(const struct device *dev)
{
	if (!dev->stamp)
		return DEVICE_HEALTH_ANSWERING; /* memory: the cache is the device */
	if (!dev->link_up)
		return DEVICE_HEALTH_LINK_DOWN;
	if (dev->stats.silent_since)
		return DEVICE_HEALTH_NOT_ANSWERING;
	return dev->stats.last_answer ? DEVICE_HEALTH_ANSWERING : DEVICE_HEALTH_UNKNOWN;
}

const char *device_health_name(enum device_health h)
{
	switch (h) {
	case DEVICE_HEALTH_ANSWERING:
		return "answering";
	case DEVICE_HEALTH_NOT_ANSWERING:
		return "not_answering";
	case DEVICE_HEALTH_LINK_DOWN:
		return "link_down";
	default:
		return "unknown";
	}
}

uint64_t device_fresh_ms(const struct device *dev)
{
	uint64_t polls = dev->poll * TIMING_MAX_AGE_POLLS_X2 / 2;
	return dev->max_age > polls ? dev->max_age : polls;
}

uint64_t device_stamp_wall(const struct device *dev, uint64_t stamp)
{
	uint64_t wall = dev->stats.last_answer, mono = dev->answer_mono;
	if (!wall) {
		/* Nothing answered yet (a memory device, or a value that
		 * came without a transaction): the clocks as they are now. */
		wall = device__now_wall();
		mono = uv_now(dev->loop);
	}
	if (stamp == UINT64_MAX)
		return device__now_wall(); /* a constant: true now */
	return stamp <= mono ? (mono - stamp < wall ? wall - (mono - stamp) : 0)
			     : wall + (stamp - mono);
}

uint64_t device_timeout(const struct device *dev)
{
	return dev->timeout;
}

int device_cache_peek(const struct device *dev, const struct map_register *r, uint16_t *words,
		      uint64_t *stamp)
{
	memcpy(words, dev->val + r->slot, r->count * sizeof(uint16_t));
	if (!dev->stamp) {
		*stamp = uv_now(dev->loop);
		return 1;
	}
	uint64_t oldest = UINT64_MAX;
	for (uint16_t i = 0; i < r->count; i++) {
		/* A stand-in for a value the device did not give is no value. */
		uint64_t s = device__stamp_get(dev, r->slot + i);
		if (s == 0 || (dev->unavail && dev->unavail[r->slot + i] != DEVICE__UNAVAIL_NONE)) {
			*stamp = 0;
			return 0;
		}
		if (s < oldest)
			oldest = s;
	}
	*stamp = oldest;
	return 1;
}

unsigned device_retries(const struct device *dev)
{
	return dev->retries;
}

/* ---------------------------------------------------------- test hooks -- */

uint64_t device_test_stamp_base(const struct device *dev)
{
	return dev->stamp ? dev->stamp_base : 0;
}

int device_test_stamp_move(struct device *dev, uint64_t base, bool keep_times)
{
	size_t n = map_nregs(dev->map);
	if (!dev->stamp)
		return -1;
	for (size_t pass = 0; keep_times && pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			uint32_t s = dev->stamp[i];
			if (s == 0 || s == UINT32_MAX)
				continue;
			uint64_t off = dev->stamp_base + s - base;
			if (off == 0 || off >= UINT32_MAX)
				return -1; /* first pass only: nothing changed */
			if (pass)
				dev->stamp[i] = (uint32_t)off;
		}
	}
	dev->stamp_base = base;
	return 0;
}

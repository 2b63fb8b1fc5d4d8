/* The device model against a scripted transport: cache freshness, coalescing,
 * splitting, serialisation, timeouts, cancellation, write checks and
 * acknowledgement, link state, min_interval, read-all transports, polling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "device.h"
#include "device_test.h"
#include "map.h"
#include "mbdef.h"

/* The checks below compare an outcome as one number: the exception, or
 * TEST_PENDING when the answer comes later. The macros wrap the real
 * functions (a function-like macro does not expand inside itself). */
#define TEST_PENDING 0x100
static int rc_of(struct device_outcome o)
{
	return o.pending ? TEST_PENDING : (int)o.exc;
}
#define device_read(...) rc_of(device_read(__VA_ARGS__))
#define device_write(...) rc_of(device_write(__VA_ARGS__))
#define DEVICE_PENDING TEST_PENDING

/* ------------------------------------------------ scripted transport -- */

#define MAX_TXN 64
static struct txn *started[MAX_TXN];
static size_t nstarted;
static size_t naborted;
static struct device *the_dev;
static enum mb_exc start_result;

static int fake_open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
		     const struct map *map, void **state, char *err, size_t errlen)
{
	(void)loop, (void)cfg, (void)map, (void)err, (void)errlen;
	the_dev = dev;
	*state = NULL;
	return 0;
}

static enum mb_exc fake_start(void *state, struct txn *t)
{
	(void)state;
	if (nstarted < MAX_TXN)
		started[nstarted++] = t;
	return start_result;
}

static void fake_abort(void *state, struct txn *t)
{
	(void)state, (void)t;
	naborted++;
}

static bool fake_link(void *state)
{
	(void)state;
	return true;
}

static struct transport_ops fake_ops = {
    .max_read = 40,
    .open = fake_open,
    .start = fake_start,
    .abort = fake_abort,
    .link_up = fake_link,
};

/* ---------------------------------------------------------- fixtures -- */

struct answer {
	int called;
	int status;
	uint16_t words[MB_MAX_READ];
	uint16_t count;
};

static void on_answer(void *ctx, enum mb_exc status, const uint16_t *words, uint16_t count)
{
	struct answer *a = ctx;
	a->called++;
	a->status = status;
	a->count = count;
	if (words)
		memcpy(a->words, words, count * sizeof *words);
}

static uv_loop_t loop;
static struct map *map;
static struct config conf;
static struct config_device dcfg;
static struct device *dev;
static char map_path_buf[256];

static void write_map(void)
{
	snprintf(map_path_buf, sizeof map_path_buf, "/tmp/mbtest-device-%d.conf", (int)getpid());
	FILE *f = fopen(map_path_buf, "w");
	assert_non_null(f);
	fprintf(f,
		"name = \"t\"; protocol = \"solarman\"; trust = \"generated\";\nregisters = (\n");
	for (int i = 0; i < 10; i++)
		fprintf(f,
			"{ address = %d; name = \"r%d\"; access = \"rw\"; min = 0; max = 1000; "
			"default = %d;%s },\n",
			i, i, 100 + i, i == 3 ? " retry = false;" : "");
	fprintf(f, "{ address = 10; name = \"u32\"; type = \"uint32\"; access = \"rw\"; },\n");
	fprintf(f, "{ address = 20; name = \"ro\"; },\n");
	fprintf(f, "{ address = 21; name = \"odd\"; unavailable = 4242; },\n");
	fprintf(f, "{ address = 22; name = \"neg\"; type = \"int16\"; native = 2200; "
		   "factor = -1; },\n");
	fprintf(f, "{ address = 23; name = \"negu\"; type = \"int16\"; native = 2201; "
		   "factor = -1; unavailable = -32768; },\n");
	for (int i = 100; i < 200; i++)
		fprintf(f, "{ address = %d; name = \"b%d\"; access = \"rw\"; },\n", i, i);
	fprintf(f, "{ address = 300; name = \"c0\"; access = \"rw\"; },\n");
	fprintf(f, "{ address = 301; name = \"c1\"; access = \"rw\"; },\n");
	fprintf(f, "{ address = 302; name = \"c2\"; access = \"rw\"; },\n");
	fprintf(f, "{ address = 400; name = \"n0\"; native = 1000; },\n");
	fprintf(f, "{ address = 401; name = \"n1\"; native = 1001; },\n");
	fprintf(f, "{ address = 402; name = \"n2\"; native = 2000; },\n");
	fprintf(f, "{ address = 5; name = \"in5\"; table = \"input\"; }\n");
	fprintf(f, ");\ncommands = ( { name = \"grp\"; address = 300; count = 3; template = "
		   "\"x={0}\"; } );\n");
	fclose(f);
}

static void make_device(unsigned flags, int64_t max_age, int64_t timeout, int64_t min_interval,
			int64_t poll, int read_only)
{
	char err[512];
	fake_ops.flags = flags;
	nstarted = naborted = 0;
	start_result = 0;
	dcfg.name = "dev";
	dcfg.unit_id = 1;
	dcfg.map = "t";
	dcfg.read_only = read_only;
	dcfg.timeout = timeout;
	dcfg.max_age = max_age;
	dcfg.poll = poll;
	dcfg.min_interval = min_interval;
	dcfg.proto = NULL;
	conf.path = "test.conf";
	conf.defaults.timeout = 3000;
	conf.defaults.max_age = 1000;
	conf.defaults.retries = conf.defaults.client_wait = -1;
	/* as config_load leaves them when the file sets no defaults */
	conf.defaults_given.timeout = conf.defaults_given.max_age = conf.defaults_given.poll =
	    conf.defaults_given.min_interval = -1;
	int rc = device_create_ops(&loop, &conf, &dcfg, map, &fake_ops, &dev, err, sizeof err);
	assert_int_equal(rc, 0);
	device_link_changed(dev, 1);
}

static void close_device(void)
{
	device_close(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	dev = NULL;
}

static int setup(void **state)
{
	(void)state;
	char err[512];
	uv_loop_init(&loop);
	write_map();
	map = map_load(map_path_buf, err, sizeof err);
	if (!map)
		fprintf(stderr, "%s\n", err);
	assert_non_null(map);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	map_free(map);
	unlink(map_path_buf);
	uv_loop_close(&loop);
	return 0;
}

/* Complete the in-flight read txn i with values base+k. */
static void answer_read(size_t i, uint16_t base)
{
	struct txn *t = started[i];
	uint16_t w[MB_MAX_READ];
	for (uint16_t k = 0; k < t->count; k++)
		w[k] = (uint16_t)(base + k);
	device_cache_store(the_dev, t->table, t->addr, t->count, w);
	device_txn_done(the_dev, t, 0);
}

static void stop_loop(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Run the loop for about ms milliseconds. */
static void spin(unsigned ms)
{
	uv_timer_t t;
	uv_timer_init(&loop, &t);
	uv_timer_start(&t, stop_loop, ms, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
}

/* --------------------------------------------------------------- tests -- */

static void memory_reads_defaults_and_stores_writes(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[10];
	fake_ops.flags = TRANSPORT_CACHE_IS_STORE;
	make_device(TRANSPORT_CACHE_IS_STORE, -1, -1, -1, -1, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 10, out, on_answer, NULL, &req),
			 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(out[i], 100 + i);
	uint16_t v = 7;
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 3, 1, &v, on_answer, NULL, &req), 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 3, 1, out, on_answer, NULL, &req), 0);
	assert_int_equal(out[0], 7);
	assert_int_equal(nstarted, 0);
	close_device();
}

static void access_and_value_exceptions(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[MB_MAX_READ], w[4] = {1, 2, 3, 4};
	make_device(TRANSPORT_CACHE_IS_STORE, -1, -1, -1, -1, 0);
	/* unmapped, gaps, write-protected, whole registers, commands */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 12, 1, out, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_ADDRESS);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 19, 2, out, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_ADDRESS);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 20, 1, w, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_ADDRESS);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 10, 1, w, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_ADDRESS);
	assert_int_equal(device_write(dev, MB_FC_WRITE_MULTIPLE, 300, 2, w, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_ADDRESS);
	assert_int_equal(device_write(dev, MB_FC_WRITE_MULTIPLE, 300, 3, w, on_answer, NULL, &req),
			 0);
	/* value outside min/max, quantities */
	uint16_t big = 1001;
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 0, 1, &big, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_VALUE);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 126, out, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_VALUE);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 0, out, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_VALUE);
	/* input table is separate from holding */
	assert_int_equal(device_read(dev, MB_FC_READ_INPUT, 5, 1, out, on_answer, NULL, &req), 0);
	assert_int_equal(device_read(dev, MB_FC_READ_INPUT, 6, 1, out, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_ADDRESS);
	close_device();
	/* read_only devices refuse every write with 01 */
	make_device(TRANSPORT_CACHE_IS_STORE, -1, -1, -1, -1, 1);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 0, 1, w, on_answer, NULL, &req),
			 MB_EXC_ILLEGAL_FUNCTION);
	close_device();
}

static void stale_read_goes_native_then_caches(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[10];
	struct answer a = {0};
	make_device(0, 10000, 1000, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 2, 3, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 1);
	assert_int_equal(started[0]->addr, 2);
	assert_int_equal(started[0]->count, 3);
	assert_int_equal(started[0]->fc, MB_FC_READ_HOLDING);
	assert_int_equal(a.called, 0);
	answer_read(0, 500);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[0], 500);
	assert_int_equal(a.words[2], 502);
	/* now fresh: answered at once from the cache */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 3, 2, out, on_answer, &a, &req), 0);
	assert_int_equal(out[0], 501);
	assert_int_equal(nstarted, 1);
	assert_int_equal(device_stats(dev)->cache_hits, 1);
	close_device();
}

static void concurrent_reads_coalesce(void **state)
{
	(void)state;
	struct device_req *r1 = NULL, *r2 = NULL, *r3 = NULL;
	uint16_t out[10];
	struct answer a = {0}, b = {0}, c = {0};
	make_device(0, 0, 1000, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 10, out, on_answer, &a, &r1),
			 DEVICE_PENDING);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 2, 5, out, on_answer, &b, &r2),
			 DEVICE_PENDING);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 10, out, on_answer, &c, &r3),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 1);
	answer_read(0, 10);
	assert_int_equal(a.called + b.called + c.called, 3);
	assert_int_equal(b.words[0], 12);
	assert_int_equal(c.words[9], 19);
	assert_int_equal(device_stats(dev)->native, 1);
	close_device();
}

static void reads_split_and_serialise(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[MB_MAX_READ];
	struct answer a = {0};
	make_device(0, 0, 1000, 0, 0, 0);
	/* 100 registers with max_read 40: 40 + 40 + 20, one at a time */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 100, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 1);
	assert_int_equal(started[0]->count, 40);
	answer_read(0, 0);
	assert_int_equal(nstarted, 2);
	assert_int_equal(started[1]->addr, 140);
	answer_read(1, 40);
	assert_int_equal(nstarted, 3);
	assert_int_equal(started[2]->count, 20);
	assert_int_equal(a.called, 0);
	answer_read(2, 80);
	assert_int_equal(a.called, 1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(a.words[i], i);
	/* native addresses: split where they stop being contiguous */
	struct answer b = {0};
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 400, 3, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	assert_int_equal(started[3]->native, 1000);
	assert_int_equal(started[3]->count, 2);
	answer_read(3, 1);
	assert_int_equal(started[4]->native, 2000);
	answer_read(4, 9);
	assert_int_equal(b.words[2], 9);
	/* a 32-bit register is never torn: a read of its second word reads both */
	struct answer c = {0};
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 11, 1, out, on_answer, &c, &req),
			 DEVICE_PENDING);
	assert_int_equal(started[5]->addr, 10);
	assert_int_equal(started[5]->count, 2);
	answer_read(5, 70);
	assert_int_equal(c.words[0], 71);
	close_device();
}

static void timeout_gives_0B_and_aborts(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[10];
	struct answer a = {0};
	make_device(0, 0, 300, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	spin(350);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, MB_EXC_GATEWAY_TARGET);
	assert_int_equal(naborted, 1);
	assert_int_equal(device_stats(dev)->timeouts, 1);
	/* No settle time: the next request starts at once (a transport
	 * without answer identity keeps the aborted request as a ghost and
	 * tells late answers apart itself). */
	struct answer b = {0};
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 2);
	answer_read(1, 3);
	assert_int_equal(b.status, 0);
	assert_int_equal(b.words[1], 4);
	close_device();
}

/* A dropped message is somebody's (a battery sharing the topic, garbage):
 * it must neither end nor start anything. */
static void dropped_message_changes_nothing(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2];
	struct answer a = {0};
	make_device(0, 0, 300, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	device_count_drop(the_dev);
	device_count_drop(the_dev);
	assert_int_equal(nstarted, 1);
	assert_int_equal(a.called, 0);
	answer_read(0, 5);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[0], 5);
	assert_int_equal(device_stats(dev)->dropped, 2);
	close_device();
}

/* retries = 2, timeout 300: three attempts of 100 ms, the same txn each. */
static void read_retried_within_deadline(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2];
	struct answer a = {0};
	dcfg.retries = 2;
	make_device(0, 0, 300, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	assert_int_equal(started[0]->attempt, 0);
	spin(140);
	assert_int_equal(naborted, 1);
	assert_int_equal(nstarted, 2);
	assert_ptr_equal(started[1], started[0]);
	assert_int_equal(started[1]->attempt, 1);
	assert_int_equal(a.called, 0);
	answer_read(1, 7);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[1], 8);
	assert_int_equal(device_stats(dev)->retries, 1);
	assert_int_equal(device_stats(dev)->timeouts, 0);
	close_device();
	dcfg.retries = 0;
}

static void retries_exhausted_give_0B(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2];
	struct answer a = {0};
	dcfg.retries = 2;
	make_device(0, 0, 300, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	spin(360);
	assert_int_equal(nstarted, 3);
	assert_int_equal(naborted, 3);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, MB_EXC_GATEWAY_TARGET);
	assert_int_equal(device_stats(dev)->retries, 2);
	assert_int_equal(device_stats(dev)->timeouts, 1);
	close_device();
	dcfg.retries = 0;
}

/* Writes set values, so they are retried; one marked retry = false is
 * sent once and its lost answer stays an unknown outcome (0B). */
static void writes_retried_unless_marked(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	struct answer a = {0}, b = {0};
	uint16_t v = 5;
	dcfg.retries = 2;
	make_device(0, 0, 300, 0, 0, 0);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 1, 1, &v, on_answer, &a, &req),
			 DEVICE_PENDING);
	spin(140);
	assert_int_equal(nstarted, 2);
	assert_ptr_equal(started[1], started[0]);
	device_txn_done(the_dev, started[1], 0);
	assert_int_equal(a.status, 0);
	/* r3 has retry = false */
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 3, 1, &v, on_answer, &b, &req),
			 DEVICE_PENDING);
	spin(140);
	assert_int_equal(nstarted, 3); /* not retried after 100 ms: it has the whole 300 */
	assert_int_equal(b.called, 0);
	spin(220);
	assert_int_equal(nstarted, 3);
	assert_int_equal(b.called, 1);
	assert_int_equal(b.status, MB_EXC_GATEWAY_TARGET);
	close_device();
	dcfg.retries = 0;
}

/* A client that joins a read in its last attempt is not failed with it
 * while its own deadline leaves time for another attempt. */
static void late_joiner_gets_its_own_tries(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2];
	struct answer a = {0}, b = {0};
	dcfg.retries = 2;
	make_device(0, 0, 300, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	spin(230); /* attempts 1 and 2 timed out, the third is in flight */
	assert_int_equal(nstarted, 3);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 3); /* it joined the read in flight */
	spin(100);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, MB_EXC_GATEWAY_TARGET);
	assert_int_equal(b.called, 0);
	assert_int_equal(nstarted, 4); /* one more try, for b */
	answer_read(3, 9);
	assert_int_equal(b.status, 0);
	assert_int_equal(b.words[0], 9);
	close_device();
	dcfg.retries = 0;
}

/* A read nobody waits for any more is not retried. */
static void no_retry_without_waiters(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2];
	struct answer a = {0};
	dcfg.retries = 2;
	make_device(0, 0, 300, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	device_cancel(req);
	spin(140);
	assert_int_equal(naborted, 1);
	assert_int_equal(nstarted, 1);
	close_device();
	dcfg.retries = 0;
}

static void write_acknowledged_only_after_device(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t w[3] = {5, 6, 7}, out[3];
	struct answer a = {0};
	make_device(0, 10000, 1000, 0, 0, 0);
	assert_int_equal(device_write(dev, MB_FC_WRITE_MULTIPLE, 300, 3, w, on_answer, &a, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 1);
	assert_int_equal(started[0]->op, TXN_WRITE);
	assert_non_null(started[0]->cmd);
	assert_int_equal(started[0]->words[2], 7);
	assert_int_equal(a.called, 0);
	device_txn_done(the_dev, started[0], 0);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, 0);
	/* the written values are cached */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 300, 3, out, on_answer, &a, &req), 0);
	assert_int_equal(out[1], 6);
	/* a refused write passes the device's exception on, caches nothing */
	struct answer b = {0};
	uint16_t v = 9;
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 1, 1, &v, on_answer, &b, &req),
			 DEVICE_PENDING);
	assert_int_equal(started[1]->fc, MB_FC_WRITE_SINGLE);
	device_txn_done(the_dev, started[1], MB_EXC_DEVICE_FAILURE);
	assert_int_equal(b.status, MB_EXC_DEVICE_FAILURE);
	close_device();
}

static void cancel_drops_queued_write(void **state)
{
	(void)state;
	struct device_req *r1 = NULL, *r2 = NULL;
	uint16_t out[2], v = 1;
	struct answer a = {0}, b = {0};
	make_device(0, 0, 1000, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &r1),
			 DEVICE_PENDING);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 1, 1, &v, on_answer, &b, &r2),
			 DEVICE_PENDING);
	device_cancel(r2); /* the client went away before the write was sent */
	device_cancel(r1);
	answer_read(0, 0); /* the in-flight read completes with nobody waiting */
	assert_int_equal(a.called + b.called, 0);
	assert_int_equal(nstarted, 1); /* the write never reached the device */
	close_device();
}

static void link_down_answers_0A(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2], v = 1;
	struct answer a = {0};
	make_device(0, 0, 1000, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	struct answer q = {0};
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 2, out, on_answer, &q, &req),
			 DEVICE_PENDING);
	device_link_changed(dev, 0);
	/* in flight: sent, outcome unknown (0B); queued: never sent (0A) */
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, MB_EXC_GATEWAY_TARGET);
	assert_int_equal(q.called, 1);
	assert_int_equal(q.status, MB_EXC_GATEWAY_PATH);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 MB_EXC_GATEWAY_PATH);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 1, 1, &v, on_answer, &a, &req),
			 MB_EXC_GATEWAY_PATH);
	close_device();
}

static void min_interval_spaces_transactions(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2];
	struct answer a = {0}, b = {0};
	make_device(0, 0, 2000, 200, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	answer_read(0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 2, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 1); /* held back by min_interval */
	spin(50);
	assert_int_equal(nstarted, 1);
	spin(300);
	assert_int_equal(nstarted, 2);
	answer_read(1, 0);
	assert_int_equal(b.status, 0);
	close_device();
}

static void write_not_held_by_min_interval(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2], v = 5;
	struct answer a = {0}, b = {0}, c = {0};
	make_device(0, 0, 2000, 60000, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	answer_read(0, 0);
	/* a read now waits for min_interval; a write queued after it does not */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 2, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 1, 1, &v, on_answer, &c, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 2);
	assert_int_equal(started[1]->op, TXN_WRITE);
	device_txn_done(the_dev, started[1], 0);
	assert_int_equal(c.called, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(b.called, 0);
	assert_int_equal(nstarted, 2); /* the read still waits */
	close_device();
	assert_int_equal(b.status, MB_EXC_GATEWAY_TARGET);
}

static void start_failure_returns_at_once(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2], v = 1;
	struct answer a = {0};
	make_device(0, 0, 1000, 0, 0, 0);
	start_result = MB_EXC_DEVICE_FAILURE;
	/* the transport refused in start(): the answer is the return value,
	 * and the callback is never called */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 MB_EXC_DEVICE_FAILURE);
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 1, 1, &v, on_answer, &a, &req),
			 MB_EXC_DEVICE_FAILURE);
	assert_int_equal(a.called, 0);
	start_result = 0;
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	answer_read(nstarted - 1, 8);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.words[1], 9);
	close_device();
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Device health apart from the link: unknown until the first answer;
 * answering; a transaction with no answer after every attempt makes it
 * not answering since its first attempt went out (not since it gave up);
 * the next answer, a device exception too, ends that. A refusal before
 * sending and the link going down are not the device's silence. */
static void health_answering_silent_and_back(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[2];
	struct answer a = {0}, b = {0}, c = {0}, e = {0};
	dcfg.retries = 1;
	make_device(0, 0, 400, 0, 0, 0);
	const struct device_stats *st = device_stats(dev);
	assert_int_equal(device_health(dev), DEVICE_HEALTH_UNKNOWN);
	assert_string_equal(device_health_name(device_health(dev)), "unknown");

	uint64_t w0 = wall_ms();
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	answer_read(0, 5);
	uint64_t w1 = wall_ms();
	assert_int_equal(device_health(dev), DEVICE_HEALTH_ANSWERING);
	assert_true(st->last_answer >= w0 && st->last_answer <= w1);
	assert_int_equal(st->silent_since, 0);
	/* The value's stamp as wall time: when it was answered (within the
	 * 2 ms by which the monotonic and wall clocks' milliseconds differ). */
	const struct map_register *r0 = map_find(map, MAP_HOLDING, 0);
	uint16_t words[2];
	uint64_t stamp = 0;
	assert_non_null(r0);
	assert_int_equal(device_cache_peek(dev, r0, words, &stamp), 1);
	uint64_t t = device_stamp_wall(dev, stamp);
	assert_true(t + 2 >= w0 && t <= w1 + 2);
	uint64_t last = st->last_answer;

	/* Two attempts of 200 ms, both unanswered. */
	uint64_t s0 = wall_ms();
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 2, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	uint64_t s1 = wall_ms();
	spin(250);
	assert_int_equal(nstarted, 3); /* retried */
	assert_int_equal(device_health(dev), DEVICE_HEALTH_ANSWERING);
	spin(250);
	assert_int_equal(b.status, MB_EXC_GATEWAY_TARGET);
	assert_int_equal(device_health(dev), DEVICE_HEALTH_NOT_ANSWERING);
	assert_string_equal(device_health_name(device_health(dev)), "not_answering");
	assert_true(st->silent_since >= s0 && st->silent_since <= s1);
	assert_int_equal(st->last_answer, last);
	/* ... and the same value keeps its time. */
	assert_int_equal(device_stamp_wall(dev, stamp), t);

	/* Refused before it was sent: changes nothing. */
	uint64_t since = st->silent_since;
	start_result = MB_EXC_DEVICE_FAILURE;
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 104, 2, out, on_answer, &c, &req),
			 MB_EXC_DEVICE_FAILURE);
	start_result = 0;
	assert_int_equal(device_health(dev), DEVICE_HEALTH_NOT_ANSWERING);
	assert_int_equal(st->silent_since, since);

	/* Link down: that, whatever the device did; back up: as before. */
	device_link_changed(dev, 0);
	assert_int_equal(device_health(dev), DEVICE_HEALTH_LINK_DOWN);
	assert_string_equal(device_health_name(device_health(dev)), "link_down");
	device_link_changed(dev, 1);
	assert_int_equal(device_health(dev), DEVICE_HEALTH_NOT_ANSWERING);

	/* An exception from the device is an answer. */
	size_t i = nstarted;
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 110, 2, out, on_answer, &e, &req),
			 DEVICE_PENDING);
	assert_true(nstarted > i);
	device_txn_done(the_dev, started[nstarted - 1], MB_EXC_ILLEGAL_ADDRESS);
	assert_int_equal(device_health(dev), DEVICE_HEALTH_ANSWERING);
	assert_int_equal(st->silent_since, 0);
	assert_true(st->last_answer >= last);
	close_device();
	dcfg.retries = 0;
}

/* How old a value may be outside Modbus: max_age, at least 2.5 polls. */
static void fresh_limit_covers_polls(void **state)
{
	(void)state;
	make_device(0, 3000, 1000, 0, 0, 0);
	assert_int_equal(device_fresh_ms(dev), 3000);
	close_device();
	make_device(0, 1000, 1000, 0, 4000, 0);
	assert_int_equal(device_fresh_ms(dev), 10000);
	close_device();
}

static void read_all_coalesces_and_never_invents(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[10];
	struct answer a = {0}, b = {0};
	make_device(TRANSPORT_READ_ALL, 0, 1000, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 100, 5, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	assert_int_equal(nstarted, 1);
	/* the reply carried registers 0..1 but nothing for 100..104 */
	uint16_t w[2] = {42, 43};
	device_cache_store(the_dev, MAP_HOLDING, 0, 2, w);
	device_txn_done(the_dev, started[0], 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[1], 43);
	assert_int_equal(b.status, MB_EXC_DEVICE_FAILURE);
	close_device();
}

/* Odd values (docs/design.md, "Map files"): a register whose device value
 * did not fit is counted, and either serves its map's `unavailable` value or
 * is refused alone; a read that covers it and others answers, the values
 * document sees no value, and the next good value replaces it. */
static void odd_values_fail_no_neighbour(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[10], w[2];
	uint64_t stamp;
	struct answer a = {0};
	const struct map_register *r1 = map_find_name(map, "r1"), *odd = map_find_name(map, "odd");
	make_device(0, 10000, 1000, 0, 0, 0);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 3, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	uint16_t v[3] = {5, 6, 7};
	device_cache_store(the_dev, MAP_HOLDING, 0, 1, v);
	device_cache_unavailable(the_dev, r1, 1);
	device_cache_store(the_dev, MAP_HOLDING, 2, 1, v + 2);
	device_txn_done(the_dev, started[0], 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[0], 5);
	assert_int_equal(a.words[1], 0xFFFF); /* uint16 "not implemented" */
	assert_int_equal(a.words[2], 7);
	assert_int_equal(device_stats(dev)->bad_values, 1);
	/* Alone, from the cache: no value to give. */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 1, 1, out, on_answer, &a, &req),
			 MB_EXC_DEVICE_FAILURE);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 1, 2, out, on_answer, &a, &req), 0);
	assert_int_equal(out[1], 7);
	assert_int_equal(device_cache_peek(dev, r1, w, &stamp), 0);
	/* A register with `unavailable` serves it, alone too. */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 21, 1, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	device_cache_unavailable(the_dev, odd, 1);
	device_txn_done(the_dev, started[1], 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[0], 4242);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 21, 1, out, on_answer, &a, &req), 0);
	assert_int_equal(out[0], 4242);
	assert_int_equal(device_cache_peek(dev, odd, w, &stamp), 0);
	assert_int_equal(device_stats(dev)->bad_values, 2);
	/* Not odd (an optional query unanswered): served, not counted. */
	device_cache_unavailable(the_dev, odd, 0);
	assert_int_equal(device_stats(dev)->bad_values, 2);
	/* A value that fits replaces the stand-in. */
	uint16_t good = 9;
	device_cache_store(the_dev, MAP_HOLDING, 1, 1, &good);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 1, 1, out, on_answer, &a, &req), 0);
	assert_int_equal(out[0], 9);
	assert_int_equal(device_cache_peek(dev, r1, w, &stamp), 1);
	assert_int_equal(w[0], 9);

	/* A derived value that does not fit: -(-32768) is no int16 (the
	 * PowerGo SunSpec face's W). Counted; refused alone, or the map's
	 * value. */
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 22, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	uint16_t native[2] = {0x8000, 0x8000};
	device_cache_store(the_dev, MAP_HOLDING, 22, 2, native);
	device_txn_done(the_dev, started[2], 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[0], 0x8000);
	assert_int_equal(a.words[1], 0x8000);
	assert_int_equal(device_stats(dev)->bad_values, 4);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 22, 1, out, on_answer, &a, &req),
			 MB_EXC_DEVICE_FAILURE);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 23, 1, out, on_answer, &a, &req), 0);
	assert_int_equal(out[0], 0x8000);
	native[0] = 5;
	device_cache_store(the_dev, MAP_HOLDING, 22, 1, native);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 22, 1, out, on_answer, &a, &req), 0);
	assert_int_equal((int16_t)out[0], -5);
	close_device();
}

static void poll_refreshes_in_background(void **state)
{
	(void)state;
	make_device(0, 10000, 1000, 0, 100, 0);
	spin(150);
	assert_true(nstarted >= 1);
	/* the first block starts at the lowest readable holding register */
	assert_int_equal(started[0]->addr, 0);
	close_device();
}

/* client_wait: a read gives up after it, while the native transaction goes
 * on for its own timeout and fills the cache for the next read; a write
 * waits the whole timeout, as its answer must say what the device did. */
static void client_wait_bounds_reads_not_writes(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[10];
	struct answer a = {0}, b = {0}, c = {0};
	dcfg.client_wait = 150;
	make_device(0, 10000, 1000, 0, 0, 0);
	dcfg.client_wait = -1;
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	spin(300);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, MB_EXC_GATEWAY_TARGET);
	/* the transaction was not given up: still in flight, not aborted */
	assert_int_equal(naborted, 0);
	assert_int_equal(nstarted, 1);
	/* its late answer fills the cache: the next read needs no trip */
	answer_read(0, 40);
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 2, out, on_answer, &b, &req), 0);
	assert_int_equal(out[1], 41);
	assert_int_equal(nstarted, 1);
	/* a write is still waiting after client_wait */
	uint16_t v = 7;
	assert_int_equal(device_write(dev, MB_FC_WRITE_SINGLE, 1, 1, &v, on_answer, &c, &req),
			 DEVICE_PENDING);
	spin(300);
	assert_int_equal(c.called, 0);
	device_txn_done(the_dev, started[1], 0);
	assert_int_equal(c.called, 1);
	assert_int_equal(c.status, 0);
	close_device();
}

/* A client read does not wait behind the background poll: the transaction
 * it needs moves ahead of the queued polls (docs/design.md, "Cache, polling,
 * coalescing": a Growatt poll spaced by min_interval kept reads of its last
 * register waiting ~9 s). */
static void client_read_goes_before_queued_polls(void **state)
{
	(void)state;
	struct device_req *req = NULL;
	uint16_t out[10];
	struct answer a = {0};
	make_device(0, 0, 1000, 0, 50, 0);
	spin(80); /* the poll: its first block in flight, the others queued */
	assert_true(nstarted == 1);
	assert_int_equal(started[0]->addr, 0);
	/* a client joins the block in flight: it stays in flight, in no
	 * queue (moving it into the queue freed it twice: valgrind, CI) */
	struct answer b = {0};
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, 0, 1, out, on_answer, &b, &req),
			 DEVICE_PENDING);
	/* a client wants the last block of the poll (input register 5) */
	assert_int_equal(device_read(dev, MB_FC_READ_INPUT, 5, 1, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	answer_read(0, 1);
	assert_int_equal(b.called, 1);
	assert_int_equal(b.status, 0);
	/* next in flight: the client's block, not the poll's next one */
	assert_int_equal(nstarted, 2);
	assert_int_equal(started[1]->table, MAP_INPUT);
	assert_int_equal(started[1]->addr, 5);
	answer_read(1, 9);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.words[0], 9);
	close_device();
}

/* ------------------------------------------------------ arrival times -- */

/* Register addr's arrival time as REST, the exporters and a site read it
 * (device_cache_peek); 0 when it has no value. */
static uint64_t arrived(uint16_t addr)
{
	uint16_t w[2];
	uint64_t t = 0;
	if (!device_cache_peek(dev, map_find(map, MAP_HOLDING, addr), w, &t))
		return 0;
	return t;
}

/* One register read from the device: asked, answered with v; its arrival
 * time. */
static uint64_t arrive(uint16_t addr, uint16_t v)
{
	struct device_req *req = NULL;
	uint16_t out[1];
	struct answer a = {0};
	assert_int_equal(device_read(dev, MB_FC_READ_HOLDING, addr, 1, out, on_answer, &a, &req),
			 DEVICE_PENDING);
	answer_read(nstarted - 1, v);
	assert_int_equal(a.status, 0);
	return arrived(addr);
}

/* With the link down (no answer can come), a read of one register: its
 * cached value when fresh, else 0A, at once. */
static int served(uint16_t addr, uint16_t *v)
{
	struct device_req *req = NULL;
	device_link_changed(dev, 0);
	int rc = device_read(dev, MB_FC_READ_HOLDING, addr, 1, v, on_answer, NULL, &req);
	device_link_changed(dev, 1);
	return rc;
}

/* Arrival times are 4 bytes a register after a base, which moves when a
 * value arrives UINT32_MAX ms or more after it: 49 days after start
 * (device.c, device__stamp_store). Brought to now with the hooks of
 * device_test.h: across the move every value keeps its arrival time, so a
 * fresh one is served from the cache and a stale one is not, and REST and
 * the exporters (device_cache_peek) see the same ages.
 *
 * The loop's clock counts from the system's start, and no arrival time can
 * be made older than that: max_age is a quarter of the clock (an hour at
 * most), and the stale value is two of them old. */
static void arrival_times_survive_the_base_move(void **state)
{
	(void)state;
	uint16_t v = 0;
	uv_update_time(&loop);
	uint64_t span = uv_now(&loop) / 4;
	if (span > 3600000)
		span = 3600000;
	assert_true(span >= 1000);
	make_device(0, (int64_t)span, 1000, 0, 0, 0);

	/* A arrives and is made two max_age old: stale. */
	uint64_t ta = arrive(0, 500);
	assert_true(ta > 2 * span);
	uint64_t base = device_test_stamp_base(dev);
	assert_int_equal(device_test_stamp_move(dev, base - 2 * span, false), 0);
	ta -= 2 * span;
	assert_true(arrived(0) == ta);
	/* B arrives now: fresh. */
	uint64_t tb = arrive(1, 600);
	assert_true(tb > ta);
	assert_int_equal(served(1, &v), 0);
	assert_int_equal(v, 600);
	assert_int_equal(served(0, &v), MB_EXC_GATEWAY_PATH);

	/* 49 days on: the base as far back as B allows (its offset the
	 * largest there is), the times kept. A base one further back does
	 * not fit B and is refused, changing nothing. */
	base = tb - (UINT32_MAX - 1);
	assert_int_equal(device_test_stamp_move(dev, base - 1, true), -1);
	assert_int_equal(device_test_stamp_move(dev, base, true), 0);
	assert_true(device_test_stamp_base(dev) == base);
	assert_true(arrived(0) == ta && arrived(1) == tb);
	assert_int_equal(served(1, &v), 0);
	assert_int_equal(served(0, &v), MB_EXC_GATEWAY_PATH);

	/* C arrives after B, UINT32_MAX ms or more after the base: the base
	 * moves, to 2^31 ms before C. Every time is what it was. */
	spin(3);
	uint64_t tc = arrive(2, 700);
	assert_true(tc > tb);
	assert_true(device_test_stamp_base(dev) == tc - (UINT64_C(1) << 31));
	assert_true(arrived(0) == ta);
	assert_true(arrived(1) == tb);
	assert_true(arrived(2) == tc);
	assert_int_equal(served(1, &v), 0);
	assert_int_equal(v, 600);
	assert_int_equal(served(2, &v), 0);
	assert_int_equal(v, 700);
	assert_int_equal(served(0, &v), MB_EXC_GATEWAY_PATH);
	/* A register that never had a value still has none. */
	assert_true(arrived(5) == 0);
	/* And the next value is stored after the new base as any other. */
	uint64_t td = arrive(4, 800);
	assert_true(td >= tc && arrived(4) == td && arrived(2) == tc);
	assert_int_equal(served(4, &v), 0);
	assert_int_equal(v, 800);
	close_device();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(memory_reads_defaults_and_stores_writes),
	    cmocka_unit_test(access_and_value_exceptions),
	    cmocka_unit_test(stale_read_goes_native_then_caches),
	    cmocka_unit_test(concurrent_reads_coalesce),
	    cmocka_unit_test(reads_split_and_serialise),
	    cmocka_unit_test(timeout_gives_0B_and_aborts),
	    cmocka_unit_test(dropped_message_changes_nothing),
	    cmocka_unit_test(read_retried_within_deadline),
	    cmocka_unit_test(retries_exhausted_give_0B),
	    cmocka_unit_test(writes_retried_unless_marked),
	    cmocka_unit_test(no_retry_without_waiters),
	    cmocka_unit_test(late_joiner_gets_its_own_tries),
	    cmocka_unit_test(write_acknowledged_only_after_device),
	    cmocka_unit_test(cancel_drops_queued_write),
	    cmocka_unit_test(link_down_answers_0A),
	    cmocka_unit_test(min_interval_spaces_transactions),
	    cmocka_unit_test(write_not_held_by_min_interval),
	    cmocka_unit_test(start_failure_returns_at_once),
	    cmocka_unit_test(read_all_coalesces_and_never_invents),
	    cmocka_unit_test(poll_refreshes_in_background),
	    cmocka_unit_test(client_wait_bounds_reads_not_writes),
	    cmocka_unit_test(client_read_goes_before_queued_polls),
	    cmocka_unit_test(odd_values_fail_no_neighbour),
	    cmocka_unit_test(health_answering_silent_and_back),
	    cmocka_unit_test(fresh_limit_covers_polls),
	    cmocka_unit_test(arrival_times_survive_the_base_move),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

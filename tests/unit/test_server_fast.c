/* The front's fast path for cached reads (bridge/server.c, conn__process)
 * against its ordinary path: the same request streams, sent once with the
 * fast path and once without (server_test_slow_only), to fresh devices in
 * the same state, must bring the same answers byte for byte and count the
 * same. The streams cover many ranges: every start in and around the map's
 * registers and gaps, quantities 0..126, FC03 and FC04, unit IDs 0 and 255
 * (the default unit), a unit without a device, fresh, never-read and expired
 * values, write-only and refused registers, writes between reads, malformed
 * PDUs, and a stream that ends in garbage or a half-close.
 *
 * Everything runs in this process on one loop: the server and its devices,
 * and a blocking client socket whose answers the loop is turned for. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec_mbap.h"
#include "config.h"
#include "device.h"
#include "map.h"
#include "mbdef.h"
#include "server.h"
#include "transport_test.h"

/* A device of the scripted kind: a link that is down, so that a read the
 * cache cannot answer gets 0A at once rather than waiting for a device. */
static int fake_open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
		     const struct map *map, void **state, char *err, size_t errlen)
{
	(void)dev, (void)loop, (void)cfg, (void)map, (void)err, (void)errlen;
	*state = NULL;
	return 0;
}

static enum mb_exc fake_start(void *state, struct txn *t)
{
	(void)state, (void)t;
	return MB_EXC_GATEWAY_PATH;
}

static bool fake_link(void *state)
{
	(void)state;
	return false;
}

static struct transport_ops fake_ops = {
    .max_read = 125,
    .open = fake_open,
    .start = fake_start,
    .link_up = fake_link,
};

static uv_loop_t loop;
static struct map *map;
static struct config conf;
static struct config_device dcfg[3];
static char map_file[256];
/* The map with a register at 65534 (its holding table too spread out for
 * a dense index: registers are searched) or without (a dense index: the
 * inline look-up of device_view_read). Every test runs with both. */
static int with_top;

static void write_map(void)
{
	snprintf(map_file, sizeof map_file, "/tmp/mbtest-fast-%d.conf", (int)getpid());
	FILE *f = fopen(map_file, "w");
	assert_non_null(f);
	fprintf(f, "name = \"t\"; protocol = \"solarman\"; trust = \"generated\";\n"
		   "registers = (\n");
	for (int i = 0; i < 10; i++)
		fprintf(f, "{ address = %d; name = \"r%d\"; access = \"rw\"; default = %d; },\n", i,
			i, 0x100 * i + 7);
	fprintf(f, "{ address = 10; name = \"u32\"; type = \"uint32\"; access = \"rw\"; "
		   "default = 305419896; },\n");
	fprintf(f, "{ address = 12; name = \"wo\"; access = \"w\"; },\n");
	fprintf(f, "{ address = 13; name = \"ro\"; default = 5; },\n");
	/* 14..19: a gap */
	fprintf(f, "{ address = 20; name = \"odd\"; },\n");
	fprintf(f, "{ address = 21; name = \"odd2\"; },\n");
	fprintf(f, "{ address = 22; name = \"un\"; unavailable = 4242; },\n");
	fprintf(f, "{ address = 23; name = \"k\"; constant = 77; },\n");
	fprintf(f, "{ address = 24; name = \"s\"; type = \"string\"; length = 2; access = \"rw\"; "
		   "},\n");
	for (int i = 100; i < 230; i++)
		fprintf(f, "{ address = %d; name = \"b%d\"; access = \"rw\"; default = %d; },\n", i,
			i, 0xA000 + i);
	if (with_top)
		fprintf(f, "{ address = 65534; name = \"top\"; type = \"uint32\"; access = "
			   "\"rw\"; },\n");
	for (int i = 0; i < 5; i++)
		fprintf(f, "{ address = %d; name = \"in%d\"; table = \"input\"; default = %d; },\n",
			i, i, 0xB00 + i);
	fprintf(f, "{ address = 5; name = \"in_u32\"; table = \"input\"; type = \"uint32\"; },\n");
	fprintf(f, "{ address = 9; name = \"in9\"; table = \"input\"; }\n");
	fprintf(f, ");\n");
	fclose(f);
}

/* --- the devices, in the same state for each run ------------------------- */

enum { DEV_FRESH, DEV_OLD, DEV_MEM, NDEV };
static struct device *devs[NDEV];

static void cfg_device(struct config_device *d, const char *name, int unit, int64_t max_age)
{
	memset(d, 0, sizeof *d);
	d->name = (char *)name;
	d->unit_id = unit;
	d->map = "t";
	d->timeout = 3000;
	d->max_age = max_age;
	d->poll = 0;
	d->min_interval = 0;
	d->retries = d->client_wait = -1;
}

/* Words for [addr, addr+n) of table, as a device would send them. */
static void store(struct device *dev, int table, uint16_t addr, uint16_t n)
{
	uint16_t w[MB_MAX_READ];
	for (uint16_t i = 0; i < n; i++)
		w[i] = (uint16_t)(0x1111 * (unsigned)(table + 1) + 3u * (addr + i));
	device_cache_store(dev, table, addr, n, w);
}

static void make_devices(void)
{
	char err[512];
	conf.path = "test.conf";
	conf.defaults.timeout = 3000;
	conf.defaults.max_age = 1000;
	conf.defaults.retries = conf.defaults.client_wait = -1;
	conf.defaults_given.timeout = conf.defaults_given.max_age = conf.defaults_given.poll =
	    conf.defaults_given.min_interval = -1;
	/* Fresh for an hour: what was stored answers, what was not is 0A. */
	cfg_device(&dcfg[DEV_FRESH], "fresh", 1, 3600 * 1000);
	/* Expired: stored, then older than max_age before the run. */
	cfg_device(&dcfg[DEV_OLD], "old", 2, 1);
	cfg_device(&dcfg[DEV_MEM], "mem", 3, -1);
	for (int i = 0; i < NDEV; i++) {
		const struct transport_ops *ops = i == DEV_MEM ? &transport_memory : &fake_ops;
		assert_int_equal(
		    device_create_ops(&loop, &conf, &dcfg[i], map, ops, &devs[i], err, sizeof err),
		    0);
	}
	for (int i = DEV_FRESH; i <= DEV_OLD; i++) {
		struct device *d = devs[i];
		/* 0..11, 13, 21..22, 24..25, 100..149 and 151..199
		 * arrive; 12 is write-only, 20 never arrives (stale), 150
		 * neither (a stale register inside a run of fresh ones:
		 * every register's stamp counts, not the first's), nor
		 * 200..229. */
		store(d, MAP_HOLDING, 0, 12);
		store(d, MAP_HOLDING, 13, 1);
		store(d, MAP_HOLDING, 21, 2);
		store(d, MAP_HOLDING, 24, 2);
		store(d, MAP_HOLDING, 100, 50);
		store(d, MAP_HOLDING, 151, 49);
		store(d, MAP_INPUT, 0, 7);
		/* 21 and 22 had values the device could not give: 21 is
		 * refused alone, 22 serves its map's `unavailable`. */
		device_cache_unavailable(d, map_find(map, MAP_HOLDING, 21), 1);
		device_cache_unavailable(d, map_find(map, MAP_HOLDING, 22), 1);
	}
	device_cache_unavailable(devs[DEV_MEM], map_find(map, MAP_HOLDING, 21), 1);
	/* DEV_OLD's values expire (max_age 1 ms): a wait, not a margin. */
	struct timespec ts = {0, 3 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static void close_devices(void)
{
	for (int i = 0; i < NDEV; i++)
		device_close(devs[i]);
	uv_run(&loop, UV_RUN_DEFAULT);
}

/* --- requests ------------------------------------------------------------ */

static uint8_t *reqs;
static size_t reqlen, reqcap, nreq;
static uint16_t next_tid;

static void put(const uint8_t *b, size_t n)
{
	if (reqlen + n > reqcap) {
		reqcap = reqcap ? reqcap * 2 : 65536;
		reqs = realloc(reqs, reqcap);
		assert_non_null(reqs);
	}
	memcpy(reqs + reqlen, b, n);
	reqlen += n;
	nreq++;
}

/* An ADU: tid, protocol 0, length, unit, then the PDU. */
static void put_adu(uint8_t unit, const uint8_t *pdu, size_t n)
{
	uint8_t b[300];
	uint16_t tid = next_tid++;
	b[0] = (uint8_t)(tid >> 8);
	b[1] = (uint8_t)tid;
	b[2] = b[3] = 0;
	b[4] = (uint8_t)((n + 1) >> 8);
	b[5] = (uint8_t)(n + 1);
	b[6] = unit;
	memcpy(b + 7, pdu, n);
	put(b, 7 + n);
}

static void put_read(uint8_t unit, uint8_t fc, uint16_t addr, uint16_t count)
{
	uint8_t pdu[5] = {fc, (uint8_t)(addr >> 8), (uint8_t)addr, (uint8_t)(count >> 8),
			  (uint8_t)count};
	put_adu(unit, pdu, 5);
}

static void put_write(uint8_t unit, uint16_t addr, uint16_t count, uint16_t base)
{
	uint8_t pdu[260] = {MB_FC_WRITE_MULTIPLE,  (uint8_t)(addr >> 8), (uint8_t)addr,
			    (uint8_t)(count >> 8), (uint8_t)count,	 (uint8_t)(2 * count)};
	for (uint16_t i = 0; i < count; i++) {
		pdu[6 + 2 * i] = (uint8_t)((base + i) >> 8);
		pdu[7 + 2 * i] = (uint8_t)(base + i);
	}
	put_adu(unit, pdu, 6u + 2u * count);
}

static const uint16_t counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 16, 17, 30, 100, 125, 126, 0};

/* Every start in 0..33, 95..105, 120, 145, 149..151 and 195..232,
 * 65530..65535, each with every quantity above, FC03 and FC04, on every
 * unit. */
static void build_reads(const uint8_t *units, size_t nunits)
{
	static const uint16_t extra[] = {120,	145,   149,   150,   151,  65530,
					 65531, 65532, 65533, 65534, 65535};
	for (size_t u = 0; u < nunits; u++)
		for (int fc = MB_FC_READ_HOLDING; fc <= MB_FC_READ_INPUT; fc++) {
			for (uint32_t a = 0; a < 233; a++) {
				if ((a > 33 && a < 95) || (a > 105 && a < 195))
					continue;
				for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
					put_read(units[u], (uint8_t)fc, (uint16_t)a, counts[k]);
			}
			for (size_t e = 0; e < sizeof extra / sizeof extra[0]; e++)
				for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++)
					put_read(units[u], (uint8_t)fc, extra[e], counts[k]);
		}
}

/* --- the client ---------------------------------------------------------- */

/* Turn the loop until fd has n bytes more for us, or it closed (eof). */
static size_t take(int fd, uint8_t *buf, size_t want, int *eof)
{
	size_t got = 0;
	/* Bounded: the server answers everything within a few turns. */
	for (int turns = 0; got < want && turns < 200000; turns++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
		if (n == 0) {
			*eof = 1;
			break;
		}
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, 1);
	}
	return got;
}

/* One whole answer (MBAP length first) into out; its length, 0 at EOF. */
static size_t take_answer(int fd, uint8_t *out)
{
	int eof = 0;
	size_t got = take(fd, out, 6, &eof);
	if (got < 6) {
		assert_true(eof);
		assert_int_equal(got, 0);
		return 0;
	}
	size_t len = (size_t)out[4] << 8 | out[5];
	assert_true(len >= 2 && len <= 254);
	assert_int_equal(take(fd, out + 6, len, &eof), len);
	return 6 + len;
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

struct run {
	uint8_t *out; /* every answer, in order */
	size_t len;
	size_t *at; /* where answer i starts */
	size_t nans;
	int eof; /* the server closed after the last answer */
	struct server_stats sstats;
	struct device_stats dstats[NDEV];
};

/* Send the requests in batches of `batch` frames (each batch is pipelined:
 * many requests in one read), answer for answer; then `tail` (bytes after
 * the last batch: garbage, or nothing and a half-close). */
static void run_stream(bool slow, size_t batch, const uint8_t *tail, size_t ntail, struct run *r)
{
	char err[256];
	struct router router;
	struct server *srv;
	memset(&router, 0, sizeof router);
	make_devices();
	router.unit[1] = devs[DEV_FRESH];
	router.unit[0] = router.unit[255] = devs[DEV_FRESH]; /* default_unit */
	router.unit[2] = devs[DEV_OLD];
	router.unit[3] = devs[DEV_MEM];
	conf.server.listen = "127.0.0.1";
	conf.server.port = 0;
	conf.server.max_connections = 4;
	conf.server.idle_timeout = 0;
	assert_int_equal(server_start(&loop, &conf, &router, &srv, err, sizeof err), 0);
	server_test_slow_only(srv, slow);
	int fd = connect_to(server_port(srv));

	memset(r, 0, sizeof *r);
	r->out = malloc(nreq * MBAP_MAX_ADU);
	r->at = malloc(nreq * sizeof *r->at);
	assert_non_null(r->out);
	assert_non_null(r->at);
	size_t off = 0, sent = 0;
	while (sent < nreq) {
		size_t start = off, n = 0;
		while (n < batch && sent + n < nreq) {
			off += 6 + ((size_t)reqs[off + 4] << 8 | reqs[off + 5]);
			n++;
		}
		assert_int_equal(send(fd, reqs + start, off - start, 0), (ssize_t)(off - start));
		for (size_t i = 0; i < n; i++) {
			r->at[r->nans] = r->len;
			size_t got = take_answer(fd, r->out + r->len);
			assert_true(got > 0);
			r->len += got;
			r->nans++;
		}
		sent += n;
	}
	if (tail) {
		if (ntail)
			assert_int_equal(send(fd, tail, ntail, 0), (ssize_t)ntail);
		else
			shutdown(fd, SHUT_WR);
		/* What is owed, then the end of the stream. */
		uint8_t a[MBAP_MAX_ADU];
		size_t got;
		while ((got = take_answer(fd, a)) > 0) {
			r->out = realloc(r->out, r->len + got);
			memcpy(r->out + r->len, a, got);
			r->len += got;
		}
		r->eof = 1;
	}
	close(fd);
	r->sstats = *server_stats(srv);
	for (int i = 0; i < NDEV; i++)
		r->dstats[i] = *device_stats(devs[i]);
	server_close(srv);
	close_devices();
}

static void free_run(struct run *r)
{
	free(r->out);
	free(r->at);
}

/* The same answers, byte for byte, and the same counts. */
static void compare(const struct run *fast, const struct run *slow)
{
	assert_int_equal(fast->nans, slow->nans);
	for (size_t i = 0; i < fast->nans; i++) {
		size_t a = fast->at[i], b = slow->at[i];
		size_t la = (i + 1 < fast->nans ? fast->at[i + 1] : fast->len) - a;
		size_t lb = (i + 1 < slow->nans ? slow->at[i + 1] : slow->len) - b;
		if (la != lb || memcmp(fast->out + a, slow->out + b, la) != 0) {
			const uint8_t *q = fast->out + a;
			fail_msg("answer %zu (tid %u, unit %u, fc %02x) differs: fast %zu bytes, "
				 "ordinary %zu bytes",
				 i, (unsigned)q[0] << 8 | q[1], q[6], q[7], la, lb);
		}
	}
	assert_int_equal(fast->len, slow->len);
	assert_memory_equal(fast->out, slow->out, fast->len);
	assert_int_equal(fast->eof, slow->eof);
	assert_memory_equal(&fast->sstats, &slow->sstats, sizeof fast->sstats);
	for (int i = 0; i < NDEV; i++) {
		assert_int_equal(fast->dstats[i].requests, slow->dstats[i].requests);
		assert_int_equal(fast->dstats[i].cache_hits, slow->dstats[i].cache_hits);
	}
}

static void compare_streams(size_t batch, const uint8_t *tail, size_t ntail)
{
	struct run fast, slow;
	run_stream(false, batch, tail, ntail, &fast);
	run_stream(true, batch, tail, ntail, &slow);
	compare(&fast, &slow);
	free_run(&fast);
	free_run(&slow);
}

static void reset_requests(void)
{
	reqlen = nreq = 0;
	next_tid = 0;
}

/* --- the tests ----------------------------------------------------------- */

/* Reads over many ranges of every unit, pipelined 37 at a time. */
static void test_reads_alike(void **state)
{
	(void)state;
	static const uint8_t units[] = {1, 0, 255, 2, 3, 9};
	reset_requests();
	build_reads(units, sizeof units / sizeof units[0]);
	compare_streams(37, NULL, 0);
}

/* Writes between reads (the memory device changes; the fresh device
 * refuses with 0A, its link being down), malformed PDUs among them, one
 * request a batch and then many. */
static void test_writes_between_reads(void **state)
{
	(void)state;
	reset_requests();
	for (uint16_t a = 0; a < 30; a++) {
		put_read(3, MB_FC_READ_HOLDING, a, 10);
		put_write(3, a, (uint16_t)(a % 7 + 1), (uint16_t)(0x5000 + a));
		put_read(3, MB_FC_READ_HOLDING, a, 10);
		put_write(1, a, 1, 1);
		put_read(1, MB_FC_READ_HOLDING, a, 3);
		/* FC03 with a byte too many, an unknown function, FC04 of
		 * quantity 0, FC03 without its quantity */
		uint8_t longer[6] = {MB_FC_READ_HOLDING, 0, (uint8_t)a, 0, 2, 0};
		put_adu(1, longer, sizeof longer);
		uint8_t unknown[5] = {0x41, 0, (uint8_t)a, 0, 1};
		put_adu(3, unknown, sizeof unknown);
		put_read(3, MB_FC_READ_INPUT, a, 0);
		uint8_t shorter[3] = {MB_FC_READ_HOLDING, 0, (uint8_t)a};
		put_adu(3, shorter, sizeof shorter);
	}
	compare_streams(1, NULL, 0);
	compare_streams(64, NULL, 0);
}

/* The stream ends in garbage after valid frames: they are answered, then
 * the connection ends; and a half-close after pipelined reads. */
static void test_garbage_and_half_close(void **state)
{
	(void)state;
	/* A valid read, then a frame of protocol ID 1. */
	static const uint8_t tail[] = {0xFF, 2, 0, 0, 0, 6, 1, 3, 0, 0, 0, 2,
				       0xFF, 1, 0, 1, 0, 6, 1, 3, 0, 0, 0, 1};
	static const uint8_t units[] = {1, 3};
	reset_requests();
	build_reads(units, 1);
	compare_streams(100, tail, sizeof tail);
	reset_requests();
	build_reads(units + 1, 1);
	compare_streams(50, tail + 12, 12); /* garbage at once */
	compare_streams(50, tail, 0);	    /* a half-close */
}

/* The fast path is taken where it should be: a fresh run of readable
 * registers, on every device kind with its values. */
static void test_cached_hits(void **state)
{
	(void)state;
	make_devices();
	const uint16_t *w = device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 0, 12);
	assert_non_null(w);
	assert_int_equal(w[0], 0x1111);
	assert_non_null(device_read_cached(devs[DEV_MEM], MB_FC_READ_HOLDING, 100, 125));
	assert_non_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_INPUT, 0, 4));
	/* Not: expired, never read, write-only, across a gap, refused
	 * alone, 126 words. */
	assert_null(device_read_cached(devs[DEV_OLD], MB_FC_READ_HOLDING, 0, 1));
	assert_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 200, 1));
	assert_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 12, 1));
	assert_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 13, 2));
	assert_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 21, 1));
	assert_null(device_read_cached(devs[DEV_MEM], MB_FC_READ_HOLDING, 100, 126));
	/* A run whose first registers are fresh and a later one never
	 * arrived (150); its neighbours alone answer. */
	assert_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 145, 10));
	assert_non_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 145, 5));
	assert_non_null(device_read_cached(devs[DEV_FRESH], MB_FC_READ_HOLDING, 151, 10));
	close_devices();
}

static int setup(void **state)
{
	(void)state;
	char err[512];
	uv_loop_init(&loop);
	write_map();
	map = map_load(map_file, err, sizeof err);
	if (!map)
		fprintf(stderr, "%s\n", err);
	assert_non_null(map);
	return 0;
}

static int setup_dense(void **state)
{
	with_top = 0;
	return setup(state);
}

static int setup_sparse(void **state)
{
	with_top = 1;
	return setup(state);
}

static int teardown(void **state)
{
	(void)state;
	map_free(map);
	unlink(map_file);
	free(reqs);
	reqs = NULL;
	reqcap = 0;
	uv_loop_close(&loop);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cached_hits),
	    cmocka_unit_test(test_reads_alike),
	    cmocka_unit_test(test_writes_between_reads),
	    cmocka_unit_test(test_garbage_and_half_close),
	};
	int rc = cmocka_run_group_tests(tests, setup_dense, teardown);
	return cmocka_run_group_tests(tests, setup_sparse, teardown) | rc;
}

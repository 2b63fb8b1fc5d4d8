/* The values document (include/values.h): scaled numbers, signed and 32-bit
 * values in both word orders, strings, units, and null for what was never
 * read; the age of each value from the cache's stamps; the iterator's items
 * agree with the document. */
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
#include "history.h"
#include "device.h"
#include "json.h"
#include "map.h"
#include "transport_test.h"
#include "values.h"

static int fake_open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
		     const struct map *map, void **state, char *err, size_t errlen)
{
	(void)dev, (void)loop, (void)cfg, (void)map, (void)err, (void)errlen;
	*state = NULL;
	return 0;
}

static struct txn *last_txn; /* the transaction fake_start was last given */

static enum mb_exc fake_start(void *state, struct txn *t)
{
	(void)state;
	last_txn = t;
	return MB_EXC_NONE;
}

static void fake_abort(void *state, struct txn *t)
{
	(void)state, (void)t;
}

static const struct transport_ops fake_ops = {
    .max_read = 40,
    .open = fake_open,
    .start = fake_start,
    .abort = fake_abort,
};

static uv_loop_t loop;
static struct map *map;
static struct config conf;
static struct config_device dcfg;
static struct device *dev;
static int64_t max_age_key = -1; /* the device's max_age key (-1: none) */

static void make(const struct transport_ops *ops)
{
	char path[256], err[512];
	FILE *f;

	snprintf(path, sizeof path, "/tmp/mbtest-values-%d.conf", (int)getpid());
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "name = \"v\"; protocol = \"memory\"; trust = \"generated\";\n"
		   "registers = (\n"
		   " { address = 0; name = \"power\"; type = \"int16\"; scale = 0.1; unit = \"W\";"
		   "   default = -1234; },\n"
		   " { address = 1; name = \"energy\"; type = \"uint32\"; word_order = \"little\";"
		   "   scale = 0.01; unit = \"kWh\"; default = 123456; group = \"energy\"; },\n"
		   " { address = 3; name = \"sn\"; type = \"string\"; length = 3;"
		   "   default = \"AB\\\"1\"; },\n"
		   " { address = 6; name = \"limit\"; access = \"rw\"; min = 0; max = 100;"
		   "   format = \"hex\"; group = \"settings\"; },\n"
		   " { address = 10; name = \"temp\"; table = \"input\"; type = \"int16\"; }\n"
		   ");\n"
		   "summary = [ \"energy\", \"power\" ];\n");
	fclose(f);
	map = map_load(path, err, sizeof err);
	unlink(path);
	if (!map)
		fail_msg("%s", err);
	memset(&conf, 0, sizeof conf);
	memset(&dcfg, 0, sizeof dcfg);
	conf.path = "test.conf";
	conf.defaults.timeout = 3000;
	conf.defaults.max_age = 1000;
	conf.defaults.retries = -1;
	dcfg.name = "bat";
	dcfg.unit_id = 3;
	dcfg.map = "v";
	dcfg.timeout = dcfg.max_age = dcfg.poll = dcfg.min_interval = dcfg.retries = -1;
	dcfg.max_age = max_age_key;
	uv_loop_init(&loop);
	assert_int_equal(device_create_ops(&loop, &conf, &dcfg, map, ops, &dev, err, sizeof err),
			 0);
}

static void unmake(void)
{
	device_close(dev);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	map_free(map);
}

static char *doc_with(int (*fn)(struct json *, const struct device *, uint64_t), uint64_t now)
{
	struct json j;
	json_init_buf(&j);
	assert_int_equal(fn(&j, dev, now), 0);
	char *doc = json_take(&j, NULL);
	assert_non_null(doc);
	return doc;
}

static char *doc_of(uint64_t now)
{
	return doc_with(values_json, now);
}

/* Every "time":<ms> that lies within [lo, hi] becomes "time":T (the wall
 * clock's, which a test cannot know exactly); one outside stays. */
static void times_to_t(char *doc, uint64_t lo, uint64_t hi)
{
	char *p = doc;
	while ((p = strstr(p, "\"time\":")) != NULL) {
		char *num = p + 7, *end;
		unsigned long long t = strtoull(num, &end, 10);
		p = num;
		if (end == num || t < lo || t > hi)
			continue;
		*num = 'T';
		memmove(num + 1, end, strlen(end) + 1);
	}
}

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void memory_device_document(void **state)
{
	(void)state;
	make(&transport_memory);
	uint64_t lo = wall_ms();
	char *doc = doc_of(uv_now(&loop));
	times_to_t(doc, lo, wall_ms());
	/* A memory device always answers; its values are current, stamped
	 * now. */
	assert_string_equal(
	    doc, "{\"device\":\"bat\",\"unit_id\":3,\"map\":\"v\",\"link_up\":true,"
		 "\"health\":\"answering\",\"last_answer\":null,\"not_answering_since\":null,"
		 "\"summary\":[\"energy\",\"power\"],\"registers\":["
		 "{\"name\":\"power\",\"address\":0,\"table\":\"holding\",\"access\":\"r\","
		 "\"raw\":-1234,\"value\":-123.4,\"unit\":\"W\",\"age_ms\":0,\"time\":T,"
		 "\"stale\":false},"
		 "{\"name\":\"energy\",\"address\":1,\"table\":\"holding\",\"access\":\"r\","
		 "\"raw\":123456,\"value\":1234.56,\"unit\":\"kWh\",\"group\":\"energy\","
		 "\"age_ms\":0,\"time\":T,"
		 "\"stale\":false},"
		 "{\"name\":\"sn\",\"address\":3,\"table\":\"holding\",\"access\":\"r\","
		 "\"raw\":null,\"value\":\"AB\\\"1\",\"unit\":null,\"age_ms\":0,\"time\":T,"
		 "\"stale\":false},"
		 "{\"name\":\"limit\",\"address\":6,\"table\":\"holding\",\"access\":\"rw\","
		 "\"raw\":0,\"value\":0,\"text\":\"0x0000\",\"unit\":null,\"group\":\"settings\","
		 "\"age_ms\":0,\"time\":T,"
		 "\"stale\":false},"
		 "{\"name\":\"temp\",\"address\":10,\"table\":\"input\",\"access\":\"r\","
		 "\"raw\":0,\"value\":0,\"unit\":null,\"age_ms\":0,\"time\":T,\"stale\":false}],"
		 "\"stale\":false}");
	free(doc);
	/* Nothing is stale: the export document is the same. */
	doc = doc_with(values_json_export, uv_now(&loop));
	assert_null(strstr(doc, "\"stale\":true"));
	assert_non_null(strstr(doc, "\"raw\":-1234,\"value\":-123.4"));
	free(doc);
	unmake();
}

/* `format` (map.h): the texts a person reads, from the raw value (ipv4,
 * hex, version) or the scaled one (duration, timestamp). */
static void format_texts(void **state)
{
	(void)state;
	struct map_register r = {.count = 2, .scale = 1.0, .format = MAP_FORMAT_IPV4};
	char buf[64];
	assert_int_equal(values_format_text(&r, 0xC0A801C8, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "192.168.1.200");
	assert_int_equal(values_format_text(&r, 0xFFFFFFFF, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "255.255.255.255");
	r.count = 1;
	r.format = MAP_FORMAT_VERSION;
	assert_int_equal(values_format_text(&r, 41008, 41008, buf, sizeof buf), 0);
	assert_string_equal(buf, "A030");
	r.format = MAP_FORMAT_HEX;
	assert_int_equal(values_format_text(&r, -1, -1, buf, sizeof buf), 0);
	assert_string_equal(buf, "0xFFFF");
	r.format = MAP_FORMAT_DURATION;
	assert_int_equal(values_format_text(&r, 0, 93784.5, buf, sizeof buf), 0);
	assert_string_equal(buf, "1 d 2 h 3 min");
	assert_int_equal(values_format_text(&r, 0, 42, buf, sizeof buf), 0);
	assert_string_equal(buf, "42 s");
	assert_int_equal(values_format_text(&r, 0, -1, buf, sizeof buf), -1);
	r.format = MAP_FORMAT_TIMESTAMP;
	assert_int_equal(values_format_text(&r, 0, 1765124400, buf, sizeof buf), 0);
	assert_string_equal(buf, "2025-12-07 16:20:00 UTC");
	r.format = MAP_FORMAT_NONE;
	assert_int_equal(values_format_text(&r, 5, 5, buf, sizeof buf), -1);
	/* enum and bits: the map's texts. */
	static const struct map_label labels[] = {{0, "sleep"}, {1, "standby"}};
	r.labels = labels;
	r.nlabels = 2;
	assert_int_equal(values_format_text(&r, 1, 1, buf, sizeof buf), 0);
	assert_string_equal(buf, "standby");
	assert_int_equal(values_format_text(&r, 7, 7, buf, sizeof buf), -1);
	r.labels = NULL;
	r.nlabels = 0;
	static const struct map_label bits[] = {{0, "overvoltage"}, {3, "overheat"}};
	r.bits = bits;
	r.nbits = 2;
	assert_int_equal(values_format_text(&r, 9, 9, buf, sizeof buf), 0);
	assert_string_equal(buf, "overvoltage, overheat");
	assert_int_equal(values_format_text(&r, 0, 0, buf, sizeof buf), 0);
	assert_string_equal(buf, "none");
}

/* The summary history (bridge/history.h): min, max and last per point,
 * a new point each interval, oldest first, bounded memory. */
static void summary_history(void **state)
{
	(void)state;
	max_age_key = 100000000; /* the cached values stay current for the whole test */
	make(&transport_memory);
	max_age_key = -1;
	struct history *h = history_new(1000);
	struct device *devs[1] = {dev};
	uint64_t now = uv_now(&loop);
	/* Two samples in one point, one in the next. */
	history_sample(h, devs, 1, now - now % 1000, 1000000);
	history_sample(h, devs, 1, now - now % 1000 + 500, 1000500);
	history_sample(h, devs, 1, now - now % 1000 + 1000, 1001000);
	struct json j;
	json_init_buf(&j);
	assert_int_equal(history_json(h, &j, dev), 0);
	char *doc = json_take(&j, NULL);
	assert_string_equal(
	    doc, "{\"device\":\"bat\",\"interval_s\":1,\"points\":1440,\"series\":["
		 "{\"name\":\"energy\",\"unit\":\"kWh\",\"points\":"
		 "[[1000000,1234.56,1234.56,1234.56],[1001000,1234.56,1234.56,1234.56]]},"
		 "{\"name\":\"power\",\"unit\":\"W\",\"points\":"
		 "[[1000000,-123.4,-123.4,-123.4],[1001000,-123.4,-123.4,-123.4]]}]}");
	free(doc);
	/* 1500 points later the ring holds 1440. */
	for (int i = 2; i < 1502; i++)
		history_sample(h, devs, 1, now - now % 1000 + 1000 * (uint64_t)i,
			       1000000 + 1000 * (uint64_t)i);
	json_init_buf(&j);
	history_json(h, &j, dev);
	doc = json_take(&j, NULL);
	assert_non_null(strstr(doc, "\"points\":[[1062000,1234.56,"));
	assert_non_null(strstr(doc, "[2501000,1234.56,1234.56,1234.56]]}"));
	free(doc);
	/* A device a reload removed is forgotten. */
	history_sample(h, devs, 0, now, 0);
	json_init_buf(&j);
	assert_int_equal(history_json(h, &j, dev), -1);
	free(json_take(&j, NULL));
	/* What the user guide states: under 150 kB for 8 summary registers. */
	assert_true(history_bytes_per_device(8) < 150000);
	history_free(h);
	unmake();
}

struct seen {
	size_t n;
	int valid[8];
	uint64_t age[8];
	double scaled[8];
};

static int collect(void *ctx, const struct values_item *v)
{
	struct seen *s = ctx;
	s->valid[s->n] = v->valid;
	s->age[s->n] = v->age_ms;
	s->scaled[s->n] = v->scaled;
	s->n++;
	return s->n == 3 ? 42 : 0; /* stops after the third */
}

static void stamps_ages_and_nulls(void **state)
{
	(void)state;
	make(&fake_ops);
	/* Nothing read yet: every value null. */
	char *doc = doc_of(uv_now(&loop));
	assert_non_null(strstr(doc, "{\"name\":\"power\",\"address\":0,\"table\":\"holding\","
				    "\"access\":\"r\",\"raw\":null,\"value\":null,\"unit\":\"W\","
				    "\"age_ms\":null,\"time\":null,\"stale\":false}"));
	assert_null(strstr(doc, "\"age_ms\":0"));
	free(doc);

	/* Only the first word of the 32-bit value: still never read whole. */
	uint16_t w[3] = {0xffff, 0x0001, 0x0000};
	device_cache_store(dev, MAP_HOLDING, 0, 2, w);
	uint64_t t0 = uv_now(&loop);
	doc = doc_of(t0 + 250);
	/* Stamps are odd (0 means never): 249 or 250 ms old. */
	const char *p = strstr(doc, "\"raw\":-1,\"value\":-0.1,\"unit\":\"W\",\"age_ms\":2");
	assert_non_null(p);
	p += strlen("\"raw\":-1,\"value\":-0.1,\"unit\":\"W\",\"age_ms\":");
	assert_true(strncmp(p, "249,", 4) == 0 || strncmp(p, "250,", 4) == 0);
	assert_non_null(strstr(doc, "\"name\":\"energy\",\"address\":1,\"table\":\"holding\","
				    "\"access\":\"r\",\"raw\":null,\"value\":null"));
	free(doc);

	struct seen s = {0};
	assert_int_equal(values_each(dev, t0 + 1000, collect, &s), 42);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.valid[0], 1);
	assert_true(s.age[0] >= 998 && s.age[0] <= 1000);
	assert_true(s.scaled[0] < -0.099 && s.scaled[0] > -0.101);
	assert_int_equal(s.valid[1], 0);
	assert_int_equal(s.valid[2], 0);
	unmake();
}

static void on_answer(void *ctx, enum mb_exc exc, const uint16_t *words, uint16_t count)
{
	(void)ctx, (void)exc, (void)words, (void)count;
}

/* A value older than device_fresh_ms() (max_age 1000 here, no poll) is
 * stale: the REST document keeps it and says so, the export document
 * leaves it out; "time" is when the device answered, however late the
 * document is written. A device that never answered has nothing current. */
static void stale_values_left_out_of_exports(void **state)
{
	(void)state;
	max_age_key = 1000;
	make(&fake_ops);
	max_age_key = -1;
	assert_int_equal(device_fresh_ms(dev), 1000);
	char *doc = doc_of(uv_now(&loop));
	assert_non_null(strstr(doc, "\"link_up\":false,\"health\":\"link_down\","));
	free(doc);
	device_link_changed(dev, 1);
	/* Stored, but no transaction answered yet: health unknown, not
	 * current. */
	uint16_t w[1] = {0xfffe};
	device_cache_store(dev, MAP_HOLDING, 0, 1, w);
	doc = doc_of(uv_now(&loop));
	assert_non_null(strstr(doc, "\"health\":\"unknown\",\"last_answer\":null,"
				    "\"not_answering_since\":null,"));
	assert_non_null(strstr(doc, "\"raw\":-2,\"value\":-0.2,\"unit\":\"W\",\"age_ms\":"));
	assert_non_null(strstr(doc, "],\"stale\":true}"));
	free(doc);

	/* A read the device answers. */
	uint16_t out[3], w3[3] = {0xfffd, 7, 0};
	struct device_req *req = NULL;
	struct device_outcome o =
	    device_read(dev, MB_FC_READ_HOLDING, 0, 3, out, on_answer, NULL, &req);
	assert_int_equal(o.pending, 1);
	assert_non_null(last_txn);
	uint64_t before = wall_ms();
	device_cache_store(dev, MAP_HOLDING, 0, 3, w3);
	device_txn_done(dev, last_txn, MB_EXC_NONE);
	uint64_t after = wall_ms();
	uv_update_time(&loop);
	uint64_t t0 = uv_now(&loop);
	const struct device_stats *st = device_stats(dev);
	assert_true(st->last_answer >= before && st->last_answer <= after);

	/* The answer time is reckoned from the monotonic clock and the wall
	 * clock, whose milliseconds do not tick together: within 2 ms. */
	doc = doc_of(t0);
	char want[256];
	snprintf(want, sizeof want,
		 "\"health\":\"answering\",\"last_answer\":%llu,"
		 "\"not_answering_since\":null,",
		 (unsigned long long)st->last_answer);
	assert_non_null(strstr(doc, want));
	times_to_t(doc, before - 2, after + 2);
	assert_non_null(strstr(doc, "\"raw\":-3,\"value\":-0.3,\"unit\":\"W\",\"age_ms\":"));
	assert_non_null(strstr(doc, "\"time\":T,\"stale\":false},{\"name\":\"energy\""));
	/* Registers never read are null, not stale. */
	assert_non_null(strstr(doc, "],\"stale\":false}"));
	free(doc);

	/* 1500 ms later: the same time, the value stale. */
	doc = doc_of(t0 + 1500);
	times_to_t(doc, before - 2, after + 2);
	assert_non_null(strstr(doc, "\"raw\":-3,\"value\":-0.3,\"unit\":\"W\",\"age_ms\":1"));
	assert_non_null(strstr(doc, "\"time\":T,\"stale\":true},{\"name\":\"energy\""));
	free(doc);
	doc = doc_with(values_json_export, t0 + 1500);
	times_to_t(doc, before - 2, after + 2);
	assert_non_null(strstr(doc, "{\"name\":\"power\",\"address\":0,\"table\":\"holding\","
				    "\"access\":\"r\",\"raw\":null,\"value\":null,\"unit\":\"W\","
				    "\"age_ms\":1"));
	assert_non_null(strstr(doc, "\"time\":T,\"stale\":true},{\"name\":\"energy\""));
	assert_null(strstr(doc, "-0.3"));
	assert_non_null(strstr(doc, "],\"stale\":true}"));
	free(doc);
	unmake();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(memory_device_document),
	    cmocka_unit_test(format_texts),
	    cmocka_unit_test(summary_history),
	    cmocka_unit_test(stamps_ages_and_nulls),
	    cmocka_unit_test(stale_values_left_out_of_exports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

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
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "device.h"
#include "json.h"
#include "map.h"
#include "transport.h"
#include "values.h"

#include "silent_transport.h"

static const struct transport_ops fake_ops = SILENT_TRANSPORT(40);

static uv_loop_t loop;
static struct map *map;
static struct config conf;
static struct config_device dcfg;
static struct device *dev;

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
		   "   scale = 0.01; unit = \"kWh\"; default = 123456; },\n"
		   " { address = 3; name = \"sn\"; type = \"string\"; length = 3;"
		   "   default = \"AB\\\"1\"; },\n"
		   " { address = 6; name = \"limit\"; access = \"rw\"; min = 0; max = 100; },\n"
		   " { address = 10; name = \"temp\"; table = \"input\"; type = \"int16\"; }\n"
		   ");\n");
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

static char *doc_of(uint64_t now)
{
	struct json j;
	json_init_buf(&j);
	assert_int_equal(values_json(&j, dev, now), 0);
	char *doc = json_take(&j, NULL);
	assert_non_null(doc);
	return doc;
}

static void memory_device_document(void **state)
{
	(void)state;
	make(&transport_memory);
	char *doc = doc_of(uv_now(&loop));
	assert_string_equal(
	    doc, "{\"device\":\"bat\",\"unit_id\":3,\"map\":\"v\",\"link_up\":true,\"registers\":["
		 "{\"name\":\"power\",\"address\":0,\"table\":\"holding\",\"access\":\"r\","
		 "\"raw\":-1234,\"value\":-123.4,\"unit\":\"W\",\"age_ms\":0},"
		 "{\"name\":\"energy\",\"address\":1,\"table\":\"holding\",\"access\":\"r\","
		 "\"raw\":123456,\"value\":1234.56,\"unit\":\"kWh\",\"age_ms\":0},"
		 "{\"name\":\"sn\",\"address\":3,\"table\":\"holding\",\"access\":\"r\","
		 "\"raw\":null,\"value\":\"AB\\\"1\",\"unit\":null,\"age_ms\":0},"
		 "{\"name\":\"limit\",\"address\":6,\"table\":\"holding\",\"access\":\"rw\","
		 "\"raw\":0,\"value\":0,\"unit\":null,\"age_ms\":0},"
		 "{\"name\":\"temp\",\"address\":10,\"table\":\"input\",\"access\":\"r\","
		 "\"raw\":0,\"value\":0,\"unit\":null,\"age_ms\":0}]}");
	free(doc);
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
				    "\"age_ms\":null}"));
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
	assert_true(strncmp(p, "249}", 4) == 0 || strncmp(p, "250}", 4) == 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(memory_device_document),
	    cmocka_unit_test(stamps_ages_and_nulls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

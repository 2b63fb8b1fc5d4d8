/* bench_powergo: the latency modbridge adds to a PowerGo pass-through read.
 *
 * Starts nothing itself. Needs, on 127.0.0.1:
 *   - a broker on --broker-port,
 *   - tests/sim/sim_powergo for --device-id on that broker,
 *   - modbridge on --modbus-port with that device as --unit and max_age = 0
 *     (every read goes to the device; with a cache the "bridge" figure would
 *     only measure the cache).
 *
 * Alternates N direct round trips (an FC03 PowerGo frame published to
 * <device_id>, its answer awaited on <app_id>, with libmosquitto and no
 * bridge) with N Modbus TCP reads of the same registers through the bridge,
 * after a warm-up of both, and prints the median and p99 of each and the
 * difference of the medians:
 *
 *   direct_p50_us=... direct_p99_us=... bridge_p50_us=... bridge_p99_us=... added_p50_us=...
 *   added_p99_us=... n=... errors=...
 *
 * The direct client uses its own client ID and its own source ID, --app-id
 * (default BE7C0001), so that its answers and the bridge's travel on
 * different topics: the simulator answers on the topic of the request's
 * source, so start it WITHOUT --app-id (which would send every answer to one
 * topic). Were both on one topic, an answer to the bridge would sit in our
 * socket and be taken for the next direct answer. Exit status 1 when
 * anything failed. */
#include <errno.h>
#include <getopt.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

#include "mb_error.h"
#include "mbdef.h"
#include "codec_powergo.h"

#define BENCH_WARMUP 20
#define BENCH_TIMEOUT_MS 2000

static struct {
	struct powergo_req req;
	int got; /* an answer to the request in flight arrived */
	int bad; /* answers that did not decode */
	char app_topic[16];
} bench;

static uint64_t bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void bench_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	struct powergo_answer a;
	(void)mosq;
	(void)obj;
	if (strcmp(m->topic, bench.app_topic) != 0)
		return;
	if (codec_powergo_decode_answer(&bench.req, m->payload, (size_t)m->payloadlen, &a) == 0 &&
	    !a.exception)
		bench.got = 1;
	/* Anything else (the bridge's own answers in its phase) is not ours. */
}

static int bench_subscribed;

static void bench_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *q)
{
	(void)mosq;
	(void)obj;
	(void)mid;
	(void)n;
	(void)q;
	bench_subscribed = 1;
}

/* Run the loop until flag is set or timeout_ms passed. */
static int bench_wait(struct mosquitto *mosq, int *flag, int timeout_ms)
{
	uint64_t end = bench_now_us() + (uint64_t)timeout_ms * 1000;
	while (!*flag && bench_now_us() < end) {
		if (mosquitto_loop(mosq, 10, 1) != MOSQ_ERR_SUCCESS)
			return -1;
	}
	return *flag ? 0 : -1;
}

/* One direct round trip; its duration in us, or 0 on failure. */
static uint64_t bench_direct(struct mosquitto *mosq, const char *dev_topic)
{
	uint8_t frame[POWERGO_BUF_LEN];
	int n = codec_powergo_encode_request(&bench.req, frame, sizeof frame);
	if (n < 0)
		return 0;
	bench.got = 0;
	uint64_t t0 = bench_now_us();
	if (mosquitto_publish(mosq, NULL, dev_topic, n, frame, 0, false) != MOSQ_ERR_SUCCESS)
		return 0;
	if (bench_wait(mosq, &bench.got, BENCH_TIMEOUT_MS) != 0)
		return 0;
	return bench_now_us() - t0;
}

static uint64_t bench_bridge(modbus_t *mb, uint16_t addr, uint16_t count)
{
	uint16_t r[MB_MAX_READ];
	uint64_t t0 = bench_now_us();
	if (modbus_read_registers(mb, addr, count, r) != count)
		return 0;
	return bench_now_us() - t0;
}

static int bench_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t bench_pct(uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static void bench_usage(void)
{
	fprintf(stderr, "usage: bench_powergo --broker-port P --modbus-port M [--n N] [--unit U] "
			"[--addr A] [--count C] [--device-id ID] [--app-id ID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int broker_port = 0, modbus_port = 0, n = 200, unit = 1;
	int addr = 529, count = 1;
	const char *device = "15020115", *app = "BE7C0001";
	static const struct option opts[] = {{"broker-port", required_argument, NULL, 'b'},
					     {"modbus-port", required_argument, NULL, 'm'},
					     {"n", required_argument, NULL, 'n'},
					     {"unit", required_argument, NULL, 'u'},
					     {"addr", required_argument, NULL, 'a'},
					     {"count", required_argument, NULL, 'c'},
					     {"device-id", required_argument, NULL, 'd'},
					     {"app-id", required_argument, NULL, 'i'},
					     {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			broker_port = atoi(optarg);
			break;
		case 'm':
			modbus_port = atoi(optarg);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		case 'u':
			unit = atoi(optarg);
			break;
		case 'a':
			addr = atoi(optarg);
			break;
		case 'c':
			count = atoi(optarg);
			break;
		case 'd':
			device = optarg;
			break;
		case 'i':
			app = optarg;
			break;
		default:
			bench_usage();
		}
	}
	if (broker_port <= 0 || modbus_port <= 0 || n <= 0 || n > 1000000 || count <= 0 ||
	    count > POWERGO_MAX_READ || addr < 0 || addr > 65535)
		bench_usage();
	uint32_t app_id = 0, dev_id = 0;
	if (codec_powergo_parse_id(app, &app_id) != 0 ||
	    codec_powergo_parse_id(device, &dev_id) != 0)
		bench_usage();
	char dev_topic[16];
	codec_powergo_format_id(dev_id, dev_topic);
	codec_powergo_format_id(app_id, bench.app_topic);
	bench.req = (struct powergo_req){app_id,	 dev_id,	  MB_FC_READ_HOLDING,
					 (uint16_t)addr, (uint16_t)count, NULL};

	mosquitto_lib_init();
	char client[64];
	snprintf(client, sizeof client, "bench-powergo-%d", (int)getpid());
	struct mosquitto *mosq = mosquitto_new(client, true, NULL);
	if (!mosq || mosquitto_connect(mosq, "127.0.0.1", broker_port, 30) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "bench_powergo: cannot connect to the broker on %d\n", broker_port);
		return 1;
	}
	mosquitto_message_callback_set(mosq, bench_on_message);
	mosquitto_subscribe_callback_set(mosq, bench_on_subscribe);
	mosquitto_subscribe(mosq, NULL, bench.app_topic, 0);
	if (bench_wait(mosq, &bench_subscribed, BENCH_TIMEOUT_MS) != 0) {
		fprintf(stderr, "bench_powergo: no SUBACK from the broker\n");
		return 1;
	}

	modbus_t *mb = modbus_new_tcp("127.0.0.1", modbus_port);
	if (!mb || modbus_set_slave(mb, unit) != 0 || modbus_connect(mb) != 0) {
		fprintf(stderr, "bench_powergo: cannot connect to modbridge on %d\n", modbus_port);
		return 1;
	}
	modbus_set_response_timeout(mb, BENCH_TIMEOUT_MS / 1000, 0);

	uint64_t *direct = calloc((size_t)n, sizeof *direct);
	uint64_t *bridge = calloc((size_t)n, sizeof *bridge);
	if (!direct || !bridge)
		return 1;
	int errors = 0;
	size_t nd = 0, nb = 0;
	for (int i = 0; i < BENCH_WARMUP; i++) {
		errors += bench_direct(mosq, dev_topic) == 0;
		errors += bench_bridge(mb, (uint16_t)addr, (uint16_t)count) == 0;
	}
	if (errors) {
		fprintf(stderr,
			"bench_powergo: %d of %d warm-up requests failed (is the simulator "
			"running, the bridge's max_age 0?)\n",
			errors, 2 * BENCH_WARMUP);
		return 1;
	}
	/* Alternate, so that drift of the machine hits both alike. */
	for (int i = 0; i < n; i++) {
		uint64_t d = bench_direct(mosq, dev_topic);
		uint64_t b = bench_bridge(mb, (uint16_t)addr, (uint16_t)count);
		if (d)
			direct[nd++] = d;
		else
			errors++;
		if (b)
			bridge[nb++] = b;
		else
			errors++;
	}
	qsort(direct, nd, sizeof *direct, bench_cmp);
	qsort(bridge, nb, sizeof *bridge, bench_cmp);
	uint64_t d50 = bench_pct(direct, nd, 0.5), d99 = bench_pct(direct, nd, 0.99);
	uint64_t b50 = bench_pct(bridge, nb, 0.5), b99 = bench_pct(bridge, nb, 0.99);
	printf("# powergo pass-through read of %d register(s) at %d, %d round trips each\n", count,
	       addr, n);
	printf("# direct MQTT round trip: median %llu us, p99 %llu us\n", (unsigned long long)d50,
	       (unsigned long long)d99);
	printf("# through modbridge:      median %llu us, p99 %llu us\n", (unsigned long long)b50,
	       (unsigned long long)b99);
	printf("# added by modbridge:     median %lld us\n", (long long)b50 - (long long)d50);
	printf("direct_p50_us=%llu direct_p99_us=%llu bridge_p50_us=%llu bridge_p99_us=%llu "
	       "added_p50_us=%lld added_p99_us=%lld n=%d errors=%d\n",
	       (unsigned long long)d50, (unsigned long long)d99, (unsigned long long)b50,
	       (unsigned long long)b99, (long long)b50 - (long long)d50,
	       (long long)b99 - (long long)d99, n, errors);
	free(direct);
	free(bridge);
	modbus_close(mb);
	modbus_free(mb);
	mosquitto_disconnect(mosq);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	return errors ? 1 : 0;
}

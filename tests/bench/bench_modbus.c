/* bench_modbus: the latency modbridge adds to a read of Modbus TCP equipment
 * (the `modbus` protocol, bridge/tr_modbus.c: the loop hands the read to the
 * bus's worker thread and back).
 *
 * Starts nothing itself. Needs, on 127.0.0.1:
 *   - tests/sim/sim_modbus --tcp on --upstream-port serving --unit,
 *   - modbridge on --modbus-port with a modbus device for it as --bridge-unit
 *     and max_age = 0 (every read goes to the equipment).
 *
 * Alternates N reads of holding registers 0..9 straight from the simulator
 * with N reads of the same registers through the bridge, both with libmodbus,
 * after a warm-up of both, and prints the median and p99 of each and the
 * difference of the medians:
 *
 *   direct_p50_us=... direct_p99_us=... bridge_p50_us=... bridge_p99_us=...
 *   added_p50_us=... added_p99_us=... n=... errors=...
 *
 * Both values are checked (the simulator's slave s holds s*1000 + a). Exit
 * status 1 when anything failed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modbus.h>

#define BENCH_WARMUP 20

static uint64_t bm_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static modbus_t *bm_client(int port, int unit)
{
	modbus_t *m = modbus_new_tcp("127.0.0.1", port);
	if (!m)
		return NULL;
	modbus_set_slave(m, unit);
	modbus_set_response_timeout(m, 2, 0);
	if (modbus_connect(m) != 0) {
		modbus_free(m);
		return NULL;
	}
	return m;
}

/* One read of 10 registers, checked: its time in µs, or -1. */
static long bm_read(modbus_t *m, int slave)
{
	uint16_t v[10];
	uint64_t t0 = bm_now_us();
	if (modbus_read_registers(m, 0, 10, v) != 10)
		return -1;
	uint64_t t1 = bm_now_us();
	for (int i = 0; i < 10; i++)
		if (v[i] != (uint16_t)(slave * 1000 + i))
			return -1;
	return (long)(t1 - t0);
}

static int bm_cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static long bm_pct(long *v, int n, int pct)
{
	qsort(v, (size_t)n, sizeof *v, bm_cmp);
	int i = (n * pct + 99) / 100 - 1;
	return v[i < 0 ? 0 : i];
}

int main(int argc, char **argv)
{
	int up = 0, mb = 0, unit = 1, bunit = 1, n = 300;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--upstream-port") == 0)
			up = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--modbus-port") == 0)
			mb = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--unit") == 0)
			unit = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--bridge-unit") == 0)
			bunit = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--n") == 0)
			n = atoi(argv[i + 1]);
	}
	if (up <= 0 || mb <= 0 || n < 1) {
		fprintf(stderr, "usage: bench_modbus --upstream-port P --modbus-port P [--unit U]"
				" [--bridge-unit U] [--n N]\n");
		return 2;
	}
	modbus_t *direct = bm_client(up, unit), *bridge = bm_client(mb, bunit);
	if (!direct || !bridge) {
		fprintf(stderr, "bench_modbus: cannot connect: %s\n", modbus_strerror(errno));
		return 1;
	}
	long *d = calloc((size_t)n, sizeof *d), *b = calloc((size_t)n, sizeof *b);
	int errors = 0;
	/* The bridge's worker may still be connecting to the simulator. */
	for (uint64_t end = bm_now_us() + 5000000; bm_now_us() < end;)
		if (bm_read(bridge, unit) >= 0)
			break;
	for (int i = 0; i < BENCH_WARMUP; i++) {
		errors += bm_read(direct, unit) < 0;
		errors += bm_read(bridge, unit) < 0;
	}
	for (int i = 0; i < n; i++) {
		long x = bm_read(direct, unit), y = bm_read(bridge, unit);
		errors += (x < 0) + (y < 0);
		d[i] = x < 0 ? 0 : x;
		b[i] = y < 0 ? 0 : y;
	}
	long d50 = bm_pct(d, n, 50), d99 = bm_pct(d, n, 99);
	long b50 = bm_pct(b, n, 50), b99 = bm_pct(b, n, 99);
	printf("direct_p50_us=%ld direct_p99_us=%ld bridge_p50_us=%ld bridge_p99_us=%ld "
	       "added_p50_us=%ld added_p99_us=%ld n=%d errors=%d\n",
	       d50, d99, b50, b99, b50 - d50, b99 - d99, n, errors);
	free(d);
	free(b);
	modbus_close(direct);
	modbus_free(direct);
	modbus_close(bridge);
	modbus_free(bridge);
	return errors ? 1 : 0;
}

/* bench_mapload: how long loading and linting a large map takes, the work
 * that `--check`, start and every SIGHUP do for each map (loading used to be
 * quadratic in the number of registers: 3.6 s for 65,536 of them).
 *
 *   bench_mapload [--registers N] [--runs R] [--dir DIR]
 *
 * Writes a memory map of N registers (default 65536: holding 0..N/2-1, input
 * 0..N/2-1, in an order that is not the address order) to DIR (default
 * /tmp), then loads it with map_load and lints it with map_lint R times
 * (default 5) and prints the median and the worst run, beside the baseline
 * in the same run: libconfig alone parsing the same file (what no loader
 * built on libconfig can beat), alternating with the loads:
 *
 *   mapload_registers=... mapload_p50_ms=... mapload_max_ms=... libconfig_p50_ms=...
 *   runs=... errors=...
 *
 * Exit status 1 when the map did not load or did not lint clean. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "map.h"

static double bench__now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bench__cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The map file; 0 or -1. */
static int bench__write(const char *path, long n)
{
	FILE *f = fopen(path, "w");
	long half = n / 2 > 0 ? n / 2 : 1;
	if (!f)
		return -1;
	fprintf(f, "name = \"mapload\"; protocol = \"memory\"; trust = \"generated\";\n"
		   "registers = (\n");
	for (long i = 0; i < n; i++) {
		long k = (i * 7919) % n; /* a permutation when n is a power of two */
		fprintf(f,
			"  { address = %ld; name = \"r%ld\"; table = \"%s\"; access = \"%s\"; "
			"default = %ld; unit = \"W\"; description = \"register %ld\"; }%s\n",
			k % half, k, k < half ? "holding" : "input", k < half ? "rw" : "r",
			k % 1000, k, i + 1 < n ? "," : "");
	}
	fputs(");\n", f);
	return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"registers", required_argument, NULL, 'n'},
	    {"runs", required_argument, NULL, 'r'},
	    {"dir", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	long n = 65536, runs = 5;
	const char *dir = "/tmp";
	int c, errors = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			n = strtol(optarg, NULL, 10);
		else if (c == 'r')
			runs = strtol(optarg, NULL, 10);
		else if (c == 'd')
			dir = optarg;
		else
			return 2;
	}
	/* Two tables of 65,536 addresses hold at most 131,072 registers. */
	if (n < 2 || n > 131072 || runs < 1 || runs > 1000) {
		fprintf(stderr, "bench_mapload: --registers 2..131072, --runs 1..1000\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/bench_mapload.%ld.conf", dir, (long)getpid());
	if (bench__write(path, n) != 0) {
		fprintf(stderr, "bench_mapload: cannot write %s\n", path);
		return 1;
	}
	double *ms = calloc((size_t)runs, sizeof *ms), *base = calloc((size_t)runs, sizeof *base);
	if (!ms || !base) {
		free(ms);
		free(base);
		unlink(path);
		return 1;
	}
	for (long r = 0; r < runs; r++) {
		char err[1024];
		config_t cf;
		config_init(&cf);
		double b0 = bench__now_ms();
		if (config_read_file(&cf, path) != CONFIG_TRUE)
			errors++;
		base[r] = bench__now_ms() - b0;
		config_destroy(&cf);
		double t0 = bench__now_ms();
		struct map *m = map_load(path, err, sizeof err);
		int problems = m ? map_lint(m, err, sizeof err) : -1;
		ms[r] = bench__now_ms() - t0;
		if (!m || problems != 0 || map_nregs(m) != (size_t)n) {
			fprintf(stderr, "bench_mapload: %s\n", m ? err : err[0] ? err : "no map");
			errors++;
		}
		map_free(m);
	}
	unlink(path);
	qsort(ms, (size_t)runs, sizeof *ms, bench__cmp);
	qsort(base, (size_t)runs, sizeof *base, bench__cmp);
	printf(
	    "mapload_registers=%ld mapload_p50_ms=%.1f mapload_max_ms=%.1f libconfig_p50_ms=%.1f "
	    "runs=%ld errors=%d\n",
	    n, ms[runs / 2], ms[runs - 1], base[runs / 2], runs, errors);
	free(ms);
	free(base);
	return errors ? 1 : 0;
}

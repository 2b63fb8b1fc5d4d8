/* bench_history: what the summary history (include/history.h) holds per
 * device, measured on the heap, beside what the user guide states.
 *
 *   bench_history [--devices N] [--dir DIR]
 *
 * Makes N memory devices (default 50) of a map with 8 summary registers (the
 * most a map may name), fills their history over 1440 points and more (the
 * ring wraps), and prints the heap the history took per device (glibc's
 * mallinfo2: heap and mapped blocks, before and after) and history_bytes_per_device(8):
 *
 *   history_devices=... measured_bytes_per_device=... stated_bytes_per_device=...
 *
 * Exit status 1 when the measured bytes exceed the stated ones by more than
 * the allocator's rounding (a page for the mapped block of points, 64 bytes
 * for each other block). */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "config.h"
#include "device.h"
#include "history.h"
#include "map.h"
#include "transport_test.h"

int main(int argc, char **argv)
{
	int ndev = 50;
	const char *dir = "/tmp";
	static const struct option opts[] = {
	    {"devices", required_argument, NULL, 'n'}, {"dir", required_argument, NULL, 'd'}, {0}};
	for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		if (c == 'n')
			ndev = atoi(optarg);
		else if (c == 'd')
			dir = optarg;
		else
			return 2;
	}
	if (ndev < 1 || ndev > 10000)
		return 2;

	char path[600], err[512];
	snprintf(path, sizeof path, "%s/bench-history-%d.conf", dir, (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "name = \"h\"; protocol = \"memory\"; trust = \"generated\";\n"
		   "summary = [ \"r0\", \"r1\", \"r2\", \"r3\", \"r4\", \"r5\", \"r6\", \"r7\" ];\n"
		   "registers = (\n");
	for (int i = 0; i < 8; i++)
		fprintf(f, " { address = %d; name = \"r%d\"; default = %d; }%s\n", i, i, 100 + i,
			i < 7 ? "," : "");
	fprintf(f, ");\n");
	fclose(f);
	struct map *m = map_load(path, err, sizeof err);
	unlink(path);
	if (!m) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct config conf;
	memset(&conf, 0, sizeof conf);
	conf.path = "bench.conf";
	conf.defaults.timeout = 3000;
	conf.defaults.max_age = 1000;
	conf.defaults.retries = -1;
	struct device **devs = calloc((size_t)ndev, sizeof *devs);
	struct config_device *cfgs = calloc((size_t)ndev, sizeof *cfgs);
	char(*names)[16] = calloc((size_t)ndev, sizeof *names);
	if (!devs || !cfgs || !names)
		return 1;
	for (int i = 0; i < ndev; i++) {
		snprintf(names[i], sizeof names[i], "d%d", i);
		cfgs[i].name = names[i];
		cfgs[i].unit_id = 1 + i % 247;
		cfgs[i].map = "h";
		cfgs[i].timeout = cfgs[i].poll = cfgs[i].min_interval = cfgs[i].retries = -1;
		cfgs[i].max_age = 1000000000; /* the values stay current through the run */
		if (device_create_ops(&loop, &conf, &cfgs[i], m, &transport_memory, &devs[i], err,
				      sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}

	struct mallinfo2 before = mallinfo2();
	struct history *h = history_new(60000);
	uint64_t now = uv_now(&loop);
	for (int p = 0; p < 1500; p++)
		history_sample(h, devs, (size_t)ndev, now + 60000u * (uint64_t)p,
			       60000u * (uint64_t)p);
	struct mallinfo2 after = mallinfo2();

	/* Blocks from the heap and those mapped on their own (large ones). */
	size_t measured =
	    (after.uordblks + after.hblkhd - before.uordblks - before.hblkhd) / (size_t)ndev;
	size_t stated = history_bytes_per_device(8);
	printf("history_devices=%d measured_bytes_per_device=%zu stated_bytes_per_device=%zu\n",
	       ndev, measured, stated);

	history_free(h);
	for (int i = 0; i < ndev; i++)
		device_close(devs[i]);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	map_free(m);
	free(devs);
	free(cfgs);
	free(names);
	return measured <= stated + 4096 + 4 * 64 ? 0 : 1;
}

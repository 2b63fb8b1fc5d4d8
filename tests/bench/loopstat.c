/* loopstat: how long the daemon's loop works between two waits, measured
 * from outside, for the benchmarks (tests/bench/fleet.sh). A library
 * preloaded into the daemon:
 *
 *   LD_PRELOAD=build/tests/bench/loopstat LOOPSTAT_OUT=/tmp/x modbridge -c ...
 *
 * libuv's loop waits in epoll_wait() (or epoll_pwait()); whatever it does
 * between one wait's return and the next wait -- the timers due, the I/O
 * callbacks of the events returned, the close callbacks -- is one
 * iteration's work, during which a Modbus request that arrives waits. The
 * wrapper times that span for the first thread that waits (the loop's; the
 * daemon's other threads, where there are any, do not use epoll) twice: on
 * the monotonic clock (what a client waits) and on the thread's CPU clock
 * (what the loop itself did: on a loaded machine the wall span also holds
 * the time the process was not running). For each it keeps a histogram and
 * the longest span, and for the longest how many events the wait before it
 * returned (0: it woke for a timer).
 * Once a second (checked when the loop waits) it rewrites LOOPSTAT_OUT with
 * the figures; when LOOPSTAT_OUT.reset exists, it is removed and the
 * figures start again from zero (a script marks the start of what it
 * measures that way). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* Upper bounds of the histogram's buckets, in microseconds. */
static const uint64_t loopstat_bound_us[] = {50,   100,	 250,	500,   1000,
					     2000, 5000, 10000, 50000, UINT64_MAX};
#define LOOPSTAT_NB (sizeof loopstat_bound_us / sizeof loopstat_bound_us[0])

/* One clock's figures. */
struct loopstat_clock {
	uint64_t hist[LOOPSTAT_NB];
	uint64_t busy_ns, max_ns;
	int max_n;
};

static struct {
	pthread_t loop;
	int have_loop;
	uint64_t ret_ns, ret_cpu; /* when the last wait returned; 0: none yet */
	int ret_n;		  /* how many events it returned */
	struct loopstat_clock wall, cpu;
	uint64_t iterations, dump_ns;
	char out[512], reset[520];
} ls;

static uint64_t loopstat_now(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void loopstat_add(struct loopstat_clock *c, uint64_t busy)
{
	size_t b = 0;
	while (busy / 1000 > loopstat_bound_us[b] && b + 1 < LOOPSTAT_NB)
		b++;
	c->hist[b]++;
	c->busy_ns += busy;
	if (busy > c->max_ns) {
		c->max_ns = busy;
		c->max_n = ls.ret_n;
	}
}

static void loopstat_print(FILE *f, const char *name, const struct loopstat_clock *c)
{
	fprintf(f, "%s busy_ms %.1f max_us %.0f max_events %d\n", name, (double)c->busy_ns / 1e6,
		(double)c->max_ns / 1e3, c->max_n);
	for (size_t i = 0; i < LOOPSTAT_NB; i++) {
		if (loopstat_bound_us[i] == UINT64_MAX)
			fprintf(f, "%s over_%llu_us %llu\n", name,
				(unsigned long long)loopstat_bound_us[i - 1],
				(unsigned long long)c->hist[i]);
		else
			fprintf(f, "%s upto_%llu_us %llu\n", name,
				(unsigned long long)loopstat_bound_us[i],
				(unsigned long long)c->hist[i]);
	}
}

static void loopstat_dump(void)
{
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.tmp", ls.out);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "iterations %llu\n", (unsigned long long)ls.iterations);
	loopstat_print(f, "wall", &ls.wall);
	loopstat_print(f, "cpu", &ls.cpu);
	fclose(f);
	rename(tmp, ls.out);
}

/* The loop is about to wait: the span since the last wait returned was
 * one iteration's work. */
static void loopstat_before(void)
{
	if (!ls.out[0]) {
		const char *o = getenv("LOOPSTAT_OUT");
		snprintf(ls.out, sizeof ls.out, "%s", o && *o ? o : "/dev/null");
		snprintf(ls.reset, sizeof ls.reset, "%s.reset", ls.out);
	}
	if (!ls.have_loop) {
		ls.loop = pthread_self();
		ls.have_loop = 1;
	}
	if (!pthread_equal(ls.loop, pthread_self()))
		return;
	uint64_t now = loopstat_now(CLOCK_MONOTONIC);
	if (ls.ret_ns) {
		ls.iterations++;
		loopstat_add(&ls.wall, now - ls.ret_ns);
		loopstat_add(&ls.cpu, loopstat_now(CLOCK_THREAD_CPUTIME_ID) - ls.ret_cpu);
	}
	if (now - ls.dump_ns >= 1000000000u) {
		ls.dump_ns = now;
		if (unlink(ls.reset) == 0) {
			memset(&ls.wall, 0, sizeof ls.wall);
			memset(&ls.cpu, 0, sizeof ls.cpu);
			ls.iterations = 0;
		}
		loopstat_dump();
	}
}

static void loopstat_after(int n)
{
	if (ls.have_loop && pthread_equal(ls.loop, pthread_self())) {
		ls.ret_ns = loopstat_now(CLOCK_MONOTONIC);
		ls.ret_cpu = loopstat_now(CLOCK_THREAD_CPUTIME_ID);
		ls.ret_n = n;
	}
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	static int (*real)(int, struct epoll_event *, int, int);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "epoll_wait");
	loopstat_before();
	int n = real(epfd, ev, max, timeout);
	loopstat_after(n);
	return n;
}

int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *sigmask)
{
	static int (*real)(int, struct epoll_event *, int, int, const sigset_t *);
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "epoll_pwait");
	loopstat_before();
	int n = real(epfd, ev, max, timeout, sigmask);
	loopstat_after(n);
	return n;
}

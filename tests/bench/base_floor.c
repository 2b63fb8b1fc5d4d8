/* base_floor: the benchmarks' footprint floor. It links the libraries that
 * modbridge links (libuv, libmosquitto, libconfig, and through them libc and,
 * on Debian, OpenSSL), calls into each once, as modbridge does before it
 * reads its config, and then waits for SIGTERM. Its VmRSS is what any
 * program built on these libraries costs on this system before it does
 * anything; modbridge's own cost is what it shows above this floor.
 *
 *   base_floor
 *
 * The calls are needed for more than realism: Debian's gcc links with
 * --as-needed, which drops a library that no symbol is taken from.
 *
 * Built with BASE_FLOOR_LIBC_ONLY (and musl-gcc, by bench.mk) it is the floor
 * of the C library alone: what musl, the C library of OpenWrt, costs. */
#include <signal.h>
#include <stdio.h>

#ifndef BASE_FLOOR_LIBC_ONLY
#include <libconfig.h>
#include <mosquitto.h>
#include <uv.h>
#endif

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);

#ifdef BASE_FLOOR_LIBC_ONLY
	printf("base_floor: libc only\n");
#else
	uv_loop_t loop;
	config_t cfg;
	uv_loop_init(&loop);
	mosquitto_lib_init();
	config_init(&cfg);
	printf("base_floor: libuv %s, libmosquitto %d, libconfig %d.%d\n", uv_version_string(),
	       mosquitto_lib_version(NULL, NULL, NULL), LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR);
#endif
	fflush(stdout);

	int sig;
	sigwait(&set, &sig);
#ifndef BASE_FLOOR_LIBC_ONLY
	config_destroy(&cfg);
	mosquitto_lib_cleanup();
	uv_loop_close(&loop);
#endif
	return 0;
}

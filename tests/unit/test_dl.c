/* Unit tests of the optional libraries' loader (bridge/dl.c, include/dl.h):
 * a missing library and a library without one of the functions are refused
 * with an error that names the part, the library and what to install, the
 * table is filled only when every function is there, and a failed load is
 * tried again by the next call. dl_probe, the checks' (reload.c), gives the
 * same errors and keeps nothing: no slot filled, nothing loaded. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dl.h"

/* The table dl_load fills: two slots, each at its offset. */
static struct {
	void *a, *b;
} slots;
#define slot_a (slots.a)
#define slot_b (slots.b)
static const uint16_t offs[] = {offsetof(__typeof__(slots), a), offsetof(__typeof__(slots), b)};
#define SYMS(names) (&(const struct dl_syms){(names), offs, &slots})

static void test_missing_library(void **state)
{
	const struct dl_syms *syms = SYMS("strlen\0");
	char err[300] = "";
	int st = 0;
	(void)state;
	slot_a = NULL;
	assert_int_equal(
	    dl_load("libmb-no-such.so.7", "influxdb", "libnothing", syms, 1, &st, err, sizeof err),
	    -1);
	assert_int_equal(st, 0);
	assert_null(slot_a);
	assert_non_null(strstr(err, "influxdb: cannot load libmb-no-such.so.7: "));
	assert_non_null(strstr(err, "install libnothing, or remove the group"));
}

static void test_missing_function(void **state)
{
	const struct dl_syms *syms = SYMS("strlen\0mb_no_such_function\0");
	char err[300] = "";
	int st = 0;
	(void)state;
	slot_a = slot_b = NULL;
	assert_int_equal(
	    dl_load("libc.so.6", "http", "a newer libc", syms, 2, &st, err, sizeof err), -1);
	assert_int_equal(st, 0);
	assert_non_null(strstr(err, "http: libc.so.6 has no mb_no_such_function"));
	/* No half-filled table is used: the state says "not loaded". */
	assert_null(slot_b);
}

static void test_loaded_once(void **state)
{
	const struct dl_syms *syms = SYMS("strlen\0strcmp\0");
	char err[300] = "";
	int st = 0;
	(void)state;
	slot_a = slot_b = NULL;
	assert_int_equal(dl_load("libc.so.6", "x", "libc", syms, 2, &st, err, sizeof err), 0);
	assert_int_equal(st, 1);
	assert_non_null(slot_a);
	assert_non_null(slot_b);
	size_t (*len)(const char *) = (size_t(*)(const char *))slot_a;
	assert_int_equal(len("four"), 4);
	/* Loaded: the next call answers at once, even for a name that is
	 * not there. */
	assert_int_equal(dl_load("libmb-no-such.so.7", "x", "y", syms, 2, &st, err, sizeof err), 0);
}

static void test_probe_keeps_nothing(void **state)
{
	const struct dl_syms *syms = SYMS("strlen\0mb_no_such_function\0");
	char err[300] = "", err2[300] = "";
	int st = 0;
	(void)state;
	slot_a = slot_b = NULL;
	/* The same messages as dl_load's. */
	assert_int_equal(
	    dl_probe("libmb-no-such.so.7", "influxdb", "libnothing", syms, 1, 0, err, sizeof err),
	    -1);
	assert_int_equal(dl_load("libmb-no-such.so.7", "influxdb", "libnothing", syms, 1, &st, err2,
				 sizeof err2),
			 -1);
	assert_string_equal(err, err2);
	assert_int_equal(dl_probe("libc.so.6", "http", "a newer libc", syms, 2, 0, err, sizeof err),
			 -1);
	assert_non_null(strstr(err, "http: libc.so.6 has no mb_no_such_function"));
	/* A library that has them all: 0, and no slot filled. */
	assert_int_equal(dl_probe("libc.so.6", "x", "libc", syms, 1, 0, err, sizeof err), 0);
	assert_null(slot_a);
	/* Closed again: a library the test does not link (libyaml, of the
	 * test dependencies) is not in the process after its probe. */
	const struct dl_syms *ysyms = SYMS("yaml_parser_initialize\0");
	assert_null(dlopen("libyaml-0.so.2", RTLD_NOW | RTLD_NOLOAD));
	assert_int_equal(dl_probe("libyaml-0.so.2", "x", "libyaml", ysyms, 1, 0, err, sizeof err),
			 0);
	assert_null(slot_a);
	assert_null(dlopen("libyaml-0.so.2", RTLD_NOW | RTLD_NOLOAD));
	/* Loaded already (state 1): 0 at once, whatever the name. */
	assert_int_equal(dl_probe("libmb-no-such.so.7", "x", "y", syms, 2, 1, err, sizeof err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_library),
	    cmocka_unit_test(test_missing_function),
	    cmocka_unit_test(test_loaded_once),
	    cmocka_unit_test(test_probe_keeps_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

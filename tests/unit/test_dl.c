/* Unit tests of the optional libraries' loader (bridge/dl.c, include/dl.h):
 * a missing library and a library without one of the functions are refused
 * with an error that names the part, the library and what to install, the
 * table is filled only when every function is there, and a failed load is
 * tried again by the next call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dl.h"

static void *slot_a, *slot_b;

static void test_missing_library(void **state)
{
	const struct dl_sym syms[] = {{"strlen", &slot_a}};
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
	const struct dl_sym syms[] = {{"strlen", &slot_a}, {"mb_no_such_function", &slot_b}};
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
	const struct dl_sym syms[] = {{"strlen", &slot_a}, {"strcmp", &slot_b}};
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_library),
	    cmocka_unit_test(test_missing_function),
	    cmocka_unit_test(test_loaded_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of the reconnect back-off policy (bridge/backoff.c) that the MQTT
 * and TCP links share: 1 s doubling to 60 s by default, the ceiling held, a
 * reset after a connection that worked, and the edge cases of the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

static void test_defaults(void **state)
{
	struct backoff b;
	(void)state;
	backoff_init(&b, 0, 0);
	assert_int_equal(b.min_ms, BACKOFF_MIN_MS);
	assert_int_equal(b.max_ms, BACKOFF_MAX_MS);
	/* The sequence both links have always used: 1, 2, 4, ... 32, then 60 s. */
	static const uint64_t want[] = {1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(backoff_peek(&b), want[i]);
		assert_int_equal(backoff_next(&b), want[i]);
	}
}

static void test_reset(void **state)
{
	struct backoff b;
	(void)state;
	backoff_init(&b, 100, 1000);
	assert_int_equal(backoff_next(&b), 100);
	assert_int_equal(backoff_next(&b), 200);
	assert_int_equal(backoff_next(&b), 400);
	backoff_reset(&b);
	assert_int_equal(backoff_peek(&b), 100);
	assert_int_equal(backoff_next(&b), 100);
	assert_int_equal(backoff_next(&b), 200);
}

static void test_peek_does_not_advance(void **state)
{
	struct backoff b;
	(void)state;
	backoff_init(&b, 50, 400);
	for (int i = 0; i < 5; i++)
		assert_int_equal(backoff_peek(&b), 50);
	assert_int_equal(backoff_next(&b), 50);
	assert_int_equal(backoff_peek(&b), 100);
}

static void test_ceiling_not_a_power_of_two(void **state)
{
	struct backoff b;
	(void)state;
	backoff_init(&b, 300, 1000);
	assert_int_equal(backoff_next(&b), 300);
	assert_int_equal(backoff_next(&b), 600);
	assert_int_equal(backoff_next(&b), 1000);
	assert_int_equal(backoff_next(&b), 1000);
}

static void test_limits(void **state)
{
	struct backoff b;
	(void)state;
	/* min 0 cannot double: it is taken as 1 ms. */
	backoff_init(&b, 0, 8);
	assert_int_equal(backoff_next(&b), 1);
	assert_int_equal(backoff_next(&b), 2);
	assert_int_equal(backoff_next(&b), 4);
	assert_int_equal(backoff_next(&b), 8);
	assert_int_equal(backoff_next(&b), 8);
	/* max under min: a constant wait. */
	backoff_init(&b, 500, 100);
	assert_int_equal(backoff_next(&b), 500);
	assert_int_equal(backoff_next(&b), 500);
	/* min == max */
	backoff_init(&b, 7, 7);
	assert_int_equal(backoff_next(&b), 7);
	assert_int_equal(backoff_next(&b), 7);
	/* A ceiling near the top of the type does not overflow. */
	backoff_init(&b, UINT64_MAX / 2 + 1, UINT64_MAX);
	assert_true(backoff_next(&b) == UINT64_MAX / 2 + 1);
	assert_true(backoff_next(&b) == UINT64_MAX);
	assert_true(backoff_next(&b) == UINT64_MAX);
	backoff_init(&b, 3, UINT64_MAX);
	for (int i = 0; i < 200; i++) {
		uint64_t before = backoff_peek(&b), w = backoff_next(&b);
		assert_true(w == before);
		assert_true(backoff_peek(&b) >= w);
	}
	assert_true(backoff_peek(&b) == UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_peek_does_not_advance),
	    cmocka_unit_test(test_ceiling_not_a_power_of_two),
	    cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

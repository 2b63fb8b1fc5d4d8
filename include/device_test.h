/* Testing the device model's arrival times (bridge/device.c), as
 * include/transport_test.h does a transport's state: hooks compiled into
 * every build and dropped from the daemon by --gc-sections, which it never
 * calls (Makefile).
 *
 * A device keeps each register's arrival time in 4 bytes, in ms after a
 * base (device.c, device__stamp_store); a value arriving UINT32_MAX ms or
 * more after the base moves it, which first happens 49 days after start.
 * These hooks let a test bring that moment to now. */
#ifndef DEVICE_TEST_H
#define DEVICE_TEST_H

#include <stdbool.h>
#include <stdint.h>

struct device;

/* The base of dev's arrival times (uv_now ms; 0 for a memory device, which
 * keeps none). */
uint64_t device_test_stamp_base(const struct device *dev);
/* Put the base at `base` (uv_now ms). keep_times: every arrival time stays
 * what it was, its offset recomputed; -1, nothing changed, when one would
 * not fit in 1..UINT32_MAX - 1 ms after the new base. Else the offsets
 * stay, so every arrival time moves by as much as the base (values made
 * older, without waiting). -1 for a memory device.
 *
 * The base may lie "before" the loop's clock started (offsets are added
 * modulo 2^64, as the device adds them), which happens when a test brings
 * the 49 days to a system up for less than 25; an arrival time may not:
 * times are compared as plain numbers, so a value can be made at most as
 * old as the clock (uv_now). */
int device_test_stamp_move(struct device *dev, uint64_t base, bool keep_times);

#endif

/* A device's effective timing (docs/design.md, "Timing and retries"): one
 * function decides it, for the daemon's generations (bridge/reload.c writes
 * the result into each device's config) and for a device created without
 * one (bridge/device.c: the unit tests and the fuzz targets), so that the
 * precedence exists once. */
#ifndef TIMING_H
#define TIMING_H

#include <stdint.h>

struct config;
struct config_device;
struct map;

/* A slow protocol's max_age, when nothing sets one: this many half polls
 * (2.5 polls), so that one slow refresh does not send clients to the
 * device. */
#define TIMING_MAX_AGE_POLLS_X2 5
/* What clients commonly wait for an answer (--check warns above it).
 * Home Assistant's modbus hub waits 3 s unless its `timeout` is set
 * (docs/home-assistant.md has it set), evcc 10 s. */
#define TIMING_CLIENT_TIMEOUT_MS 5000
/* How long a client read waits for the device when nothing fresh is
 * cached, unless `client_wait` says otherwise: below the clients' common
 * timeout, so that they get the 0B rather than giving up themselves. */
#define TIMING_CLIENT_WAIT_MS 4000

struct timing {
	int64_t timeout, max_age, poll, min_interval; /* ms */
	/* ms a client read waits (never more than timeout): its 0B comes then,
	 * while the native transaction goes on for its own timeout and fills
	 * the cache for the next read */
	int64_t client_wait;
	unsigned retries;
};

/* Each key from the device, else its map's defaults, else the config's
 * `defaults` (as the file gave them), else the protocol's own default
 * (struct protocol's default_poll: slow protocols poll, and max_age is then
 * TIMING_MAX_AGE_POLLS_X2 / 2 polls), else the built-in one. */
void timing_resolve(const struct config *c, const struct config_device *d, const struct map *m,
		    struct timing *t);

#endif

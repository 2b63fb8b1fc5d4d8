/* The one reconnect back-off policy of every link (docs/design.md, "Links"):
 * wait min_ms before the first retry, double the wait after each failed
 * attempt up to max_ms, and start again from min_ms once a connection has
 * worked. Pure arithmetic on a caller-owned struct: no clock, no I/O, so that
 * the MQTT link (bridge/link_mqtt.c) and the TCP link (bridge/link_tcp.c) share it
 * and the unit test (tests/unit/test_backoff.c) checks it alone. */
#ifndef BACKOFF_H
#define BACKOFF_H

#include <stdint.h>

/* The defaults every link uses: 1 s, doubling to 60 s. */
#define BACKOFF_MIN_MS 1000u
#define BACKOFF_MAX_MS 60000u

struct backoff {
	uint64_t min_ms, max_ms;
	uint64_t next_ms; /* the wait the next call to backoff_next() returns */
};

/* Set up b with min_ms (0 is taken as 1 ms, so that the doubling can grow)
 * and max_ms (taken as min_ms when smaller); 0 for both gives the defaults. */
void backoff_init(struct backoff *b, uint64_t min_ms, uint64_t max_ms);
/* The wait before the next attempt; the wait after it doubles, up to max_ms. */
uint64_t backoff_next(struct backoff *b);
/* The wait backoff_next() would return, without advancing. */
uint64_t backoff_peek(const struct backoff *b);
/* A connection worked: the next wait is min_ms again. */
void backoff_reset(struct backoff *b);

#endif

/* The service manager's readiness and watchdog protocol (sd_notify(3)),
 * spoken directly: one datagram per state change to the AF_UNIX socket named
 * by NOTIFY_SOCKET ("/path", or "@name" for the abstract namespace). Without
 * NOTIFY_SOCKET every call does nothing, so procd, a shell and the tests run
 * the daemon unchanged. Written by hand rather than linked from libsystemd:
 * the protocol is a few lines, and OpenWrt has no libsystemd. */
#ifndef NOTIFY_H
#define NOTIFY_H

#include <stddef.h>
#include <uv.h>

struct notify;

/* Open the socket NOTIFY_SOCKET names and, when WATCHDOG_USEC is set (and
 * WATCHDOG_PID, if set, is ours), start a timer on loop that sends
 * WATCHDOG=1 at half that interval: the pings come only while the loop runs.
 * Returns NULL when there is nothing to notify (not an error). */
struct notify *notify_open(uv_loop_t *loop);
/* Send one state ("READY=1", "STOPPING=1", ...; several separated by '\n').
 * Never blocks: a datagram the manager cannot take now is dropped. 0, or -1
 * when it could not be sent. n may be NULL. */
int notify_send(struct notify *n, const char *state);
/* "RELOADING=1" with the MONOTONIC_USEC that Type=notify-reload asks for. */
int notify_reloading(struct notify *n);
/* Stop the timer, close the socket; the memory is freed by the loop. */
void notify_close(struct notify *n);
struct device;
struct reload;
/* Keep STATUS= following set's devices: looked at every second, sent when
 * it changed, e.g. "STATUS=3 devices answering, 1 not answering: roof".
 * Call again after set changed; n may be NULL. */
void notify_follow(struct notify *n, const struct reload *set);
/* The watchdog interval in ms the timer uses (0: none), for logs and tests. */
unsigned long notify_watchdog_ms(const struct notify *n);

#endif

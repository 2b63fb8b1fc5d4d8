/* TCP client links: one persistent connection to host:port on the libuv loop,
 * kept up for its owner (a transport). The link resolves the name without
 * blocking (uv_getaddrinfo), tries each address with a connect timeout,
 * delivers what it reads, bounds what waits to be written, reports up and
 * down, and reconnects after the shared back-off policy (include/backoff.h).
 * See docs/design.md, "Links".
 *
 * Callbacks run on the loop. The state callback may run from inside
 * link_tcp_write() and link_tcp_drop() (the link went down there and then);
 * no callback runs after link_tcp_close(). */
#ifndef LINK_TCP_H
#define LINK_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct link_tcp;

/* Bytes read from the peer; data is valid during the call only. */
typedef void (*link_tcp_read_cb)(void *ctx, const uint8_t *data, size_t len);
/* The link came up (connected, reading) or went down (closed by the peer,
 * an error, a write the peer does not take, link_tcp_drop()). */
typedef void (*link_tcp_state_cb)(void *ctx, int up);
/* The link is freed (after link_tcp_close()): ctx may be freed now. */
typedef void (*link_tcp_closed_cb)(void *ctx);

/* The size of the one read buffer: a read delivers at most this many bytes. */
#define LINK_TCP_READ_CHUNK 4096
/* Defaults of struct link_tcp_opts (a field left 0 takes them). */
#define LINK_TCP_CONNECT_TIMEOUT_MS 10000u
#define LINK_TCP_QUEUE_MAX 4096u
#define LINK_TCP_WRITES_MAX 16u
#define LINK_TCP_STABLE_MS 10000u
#define LINK_TCP_KEEPALIVE_S 60u

struct link_tcp_opts {
	const char *host; /* name or address; copied */
	int port;
	/* For log lines: "<owner>: cannot reach <what> <host>:<port> (...)",
	 * e.g. owner "inv" (the device), what "logger". Copied. */
	const char *owner, *what;
	/* Per address tried: a connect that has not completed by then fails. */
	unsigned connect_timeout_ms;
	/* Bytes libuv may hold for the peer beyond what the kernel took, and
	 * writes whose callbacks are still due: see link_tcp_write(). */
	size_t queue_max;
	unsigned writes_max;
	/* A connection up this long, or marked with link_tcp_healthy(), worked:
	 * the back-off starts afresh when it drops. One that dies sooner keeps
	 * doubling, so that a peer that accepts and closes at once is not
	 * hammered. */
	unsigned stable_ms;
	/* The back-off (include/backoff.h); 0 for both: 1 s doubling to 60 s. */
	unsigned backoff_min_ms, backoff_max_ms;
	unsigned keepalive_s; /* TCP keepalive idle time */
	link_tcp_read_cb on_read;
	link_tcp_state_cb on_state; /* may be NULL */
	void *ctx;
};

/* What a write does when the peer is not taking bytes fast enough. */
enum link_tcp_full {
	/* Optional bytes (a courtesy answer): refused with MB_EBUSY while
	 * anything waits in libuv's queue for the peer or writes_max writes
	 * are pending. The link stays. */
	LINK_TCP_REFUSE,
	/* Bytes that must go (a request): when they would take libuv's queue
	 * over queue_max, the peer has stopped reading. The link is dropped
	 * (state callback down, reconnect after the back-off) and the write
	 * fails with MB_EBUSY. */
	LINK_TCP_DROP,
};

/* A link for o, resolving and connecting at once. NULL: out of memory or no
 * host. */
struct link_tcp *link_tcp_open(uv_loop_t *loop, const struct link_tcp_opts *o);
/* A link over fd, a socket already connected (tests, or a socket handed
 * over): up at once without a state callback, reading. When it drops it
 * stays down: it has no address to reconnect to. The link owns fd from this
 * call on, also when it fails (NULL). */
struct link_tcp *link_tcp_open_fd(uv_loop_t *loop, const struct link_tcp_opts *o, int fd);
/* Send a copy of data (the caller keeps its buffer). 0; MB_ELINK when the link
 * is not up; MB_EBUSY when the peer does not take bytes fast enough (full
 * says what then happens to the link); MB_ENOMEM, MB_EIO. */
int link_tcp_write(struct link_tcp *l, const void *data, size_t len, enum link_tcp_full full);
/* Bytes libuv holds for the peer (those the kernel did not take yet). */
size_t link_tcp_queued(const struct link_tcp *l);
bool link_tcp_is_up(const struct link_tcp *l);
/* The peer answered something valid on this connection: when it drops, the
 * back-off starts afresh. */
void link_tcp_healthy(struct link_tcp *l);
/* Drop the connection (the peer closed it, or its stream is beyond repair):
 * logged as a lost connection with why, state callback down, reconnect after
 * the back-off. Nothing happens when the link is not up. */
void link_tcp_drop(struct link_tcp *l, const char *why);
/* "host:port", for the owner's log lines. */
const char *link_tcp_peer(const struct link_tcp *l);
/* Close the link: no callback after this one except closed (may be NULL),
 * which comes from the loop once every handle is closed and l is freed. */
void link_tcp_close(struct link_tcp *l, link_tcp_closed_cb closed);

#endif

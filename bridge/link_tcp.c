/* TCP client links (include/link_tcp.h; docs/design.md, "Links").
 *
 * A link is a small state machine:
 *
 *   RESOLVING --(uv_getaddrinfo)--> CONNECTING --(connected)--> UP
 *       ^                            |   ^                      |
 *       |          refused, timeout  v   | next address         | EOF, error, drop
 *       +--- WAITING (back-off) <--- CLOSING <------------------+
 *
 * CLOSING is the socket's close callback still to come; after it the next
 * address of the host is tried, or, when none is left, the timer waits for
 * the back-off before resolving again. A link made on a connected socket
 * (link_tcp_open_fd) has no address: after CLOSING it stays DOWN.
 *
 * Nothing blocks the loop: the name is resolved on libuv's thread pool, the
 * connect is asynchronous and bounded by a timer, and the one timer (connect
 * timeout while CONNECTING, back-off while WAITING) runs on libuv's monotonic
 * clock, so a change of the wall clock neither hurries nor stalls a retry.
 *
 * Logging follows the MQTT link: the first failure of an outage is a warning
 * ("cannot reach", or "connection lost" when an up link drops), the attempts
 * after it are debug, so that a peer away for a day does not fill the log.
 *
 * Lifetime: every handle and request whose callback is still due holds a
 * reference; link_tcp_close() closes the handles and the link is freed in the
 * last callback, which then calls the owner's closed callback. */
#include "link_tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "log.h"
#include "mb_error.h"

enum link_tcp__state {
	LINK_TCP__RESOLVING,
	LINK_TCP__CONNECTING,
	LINK_TCP__UP,
	LINK_TCP__CLOSING,
	LINK_TCP__WAITING,
	LINK_TCP__DOWN, /* a link on a given socket that dropped: no address to retry */
};

struct link_tcp {
	uv_loop_t *loop;
	char *host, *owner, *what, *peer; /* peer: "host:port" */
	char port[12];
	struct link_tcp_opts o; /* the limits and callbacks (strings above) */
	enum link_tcp__state state;
	int closing; /* link_tcp_close() was called */
	link_tcp_closed_cb closed;
	unsigned refs;	  /* handles and requests whose callbacks are still due */
	int reconnect;	  /* it has an address to (re)connect to */
	uv_timer_t timer; /* connect timeout (CONNECTING), back-off (WAITING) */
	uv_getaddrinfo_t gai;
	uv_connect_t connect;
	uv_tcp_t tcp;
	int tcp_open;		      /* tcp initialised and its close callback not come */
	struct addrinfo *ai, *ai_cur; /* resolved addresses, the one being tried */
	char why[96];		      /* the last failure, for the log */
	int failed;	   /* the last attempt failed (rather than an up link dropping) */
	unsigned fails;	   /* failed attempts since the link was last up */
	int warned;	   /* this outage was logged as a warning already */
	uint64_t up_since; /* loop time the link came up */
	int healthy;	   /* link_tcp_healthy() on this connection */
	struct backoff backoff;
	unsigned writes; /* uv_writes whose callbacks are still due */
	uint8_t chunk[LINK_TCP_READ_CHUNK];
};

/* A write in progress: libuv needs the bytes until its callback. */
struct link_tcp__write {
	uv_write_t req;
	struct link_tcp *l;
	uint8_t data[];
};

static void link_tcp__resolve(struct link_tcp *l);
static void link_tcp__connect_next(struct link_tcp *l);

static void link_tcp__unref(struct link_tcp *l)
{
	if (--l->refs > 0 || !l->closing)
		return;
	link_tcp_closed_cb closed = l->closed;
	void *ctx = l->o.ctx;
	uv_freeaddrinfo(l->ai);
	free(l->host);
	free(l->owner);
	free(l->what);
	free(l->peer);
	free(l);
	if (closed)
		closed(ctx);
}

static void link_tcp__on_handle_closed(uv_handle_t *h)
{
	link_tcp__unref(h->data);
}

static void link_tcp__set_why(struct link_tcp *l, const char *why)
{
	snprintf(l->why, sizeof l->why, "%s", why ? why : "?");
}

static void link_tcp__on_timer(uv_timer_t *t);

/* Wait for the back-off, then resolve again; or, without an address, stay
 * down. The first failed attempt of an outage is a warning, the rest debug. */
static void link_tcp__schedule_retry(struct link_tcp *l)
{
	uv_freeaddrinfo(l->ai);
	l->ai = l->ai_cur = NULL;
	if (!l->reconnect) {
		l->state = LINK_TCP__DOWN;
		return;
	}
	l->state = LINK_TCP__WAITING;
	uint64_t wait = backoff_next(&l->backoff);
	if (l->failed && !l->warned)
		log_warn("%s: cannot reach %s %s (%s); retrying, at least every %llu s", l->owner,
			 l->what, l->peer, l->why, (unsigned long long)(l->backoff.max_ms / 1000));
	else
		log_debug("%s: %s %s: %s; next attempt in %llu ms", l->owner, l->what, l->peer,
			  l->why, (unsigned long long)wait);
	if (l->failed) {
		l->fails++;
		l->warned = 1;
	}
	l->failed = 0;
	uv_timer_start(&l->timer, link_tcp__on_timer, wait, 0);
}

static void link_tcp__on_tcp_closed(uv_handle_t *h)
{
	struct link_tcp *l = h->data;
	l->tcp_open = 0;
	if (!l->closing) {
		if (l->ai_cur)
			link_tcp__connect_next(l); /* the next address of the host */
		else
			link_tcp__schedule_retry(l);
	}
	link_tcp__unref(l);
}

/* Close the socket (if any); its close callback goes on with the next address
 * or the back-off. */
static void link_tcp__close_tcp(struct link_tcp *l)
{
	l->state = LINK_TCP__CLOSING;
	uv_timer_stop(&l->timer);
	if (l->tcp_open && !uv_is_closing((uv_handle_t *)&l->tcp))
		uv_close((uv_handle_t *)&l->tcp, link_tcp__on_tcp_closed);
	else if (!l->tcp_open)
		link_tcp__schedule_retry(l);
}

/* An attempt to reach l->ai_cur failed: on to the host's next address. */
static void link_tcp__connect_failed(struct link_tcp *l, const char *why)
{
	log_debug("%s: %s %s: %s", l->owner, l->what, l->peer, why);
	link_tcp__set_why(l, why);
	l->failed = 1;
	l->ai_cur = l->ai_cur ? l->ai_cur->ai_next : NULL;
	link_tcp__close_tcp(l);
}

static void link_tcp__on_timer(uv_timer_t *t)
{
	struct link_tcp *l = t->data;
	if (l->closing)
		return;
	if (l->state == LINK_TCP__WAITING)
		link_tcp__resolve(l);
	else if (l->state == LINK_TCP__CONNECTING)
		/* Closing the socket cancels the connect: its callback comes
		 * with UV_ECANCELED before the socket's close callback. */
		link_tcp__connect_failed(l, "connect timed out");
}

void link_tcp_drop(struct link_tcp *l, const char *why)
{
	if (l->closing || l->state != LINK_TCP__UP)
		return;
	log_warn("%s: %s %s connection lost (%s)", l->owner, l->what, l->peer, why);
	link_tcp__set_why(l, why);
	/* The loss is this outage's warning: failures to come back are debug. */
	l->warned = 1;
	/* A connection that worked (the peer answered, or it stayed up a while
	 * before an idle close) starts the back-off afresh; one that dies at
	 * once does not. */
	if (l->healthy || uv_now(l->loop) - l->up_since >= l->o.stable_ms)
		backoff_reset(&l->backoff);
	l->healthy = 0;
	link_tcp__close_tcp(l);
	if (l->o.on_state)
		l->o.on_state(l->o.ctx, 0);
}

static void link_tcp__on_write(uv_write_t *req, int status)
{
	struct link_tcp__write *w = (struct link_tcp__write *)req;
	struct link_tcp *l = w->l;
	free(w);
	l->writes--;
	if (status < 0 && status != UV_ECANCELED)
		link_tcp_drop(l, uv_strerror(status));
	link_tcp__unref(l);
}

size_t link_tcp_queued(const struct link_tcp *l)
{
	return l->tcp_open ? uv_stream_get_write_queue_size((const uv_stream_t *)&l->tcp) : 0;
}

int link_tcp_write(struct link_tcp *l, const void *data, size_t len, enum link_tcp_full full)
{
	if (l->closing || l->state != LINK_TCP__UP)
		return MB_ELINK;
	size_t queued = link_tcp_queued(l);
	if (full == LINK_TCP_REFUSE && (queued > 0 || l->writes >= l->o.writes_max))
		return MB_EBUSY;
	/* Only the bytes libuv could not hand to the kernel tell a peer that
	 * does not read: write callbacks still due are normal within one loop
	 * iteration. */
	if (full == LINK_TCP_DROP && queued + len > l->o.queue_max) {
		char why[128];
		snprintf(why, sizeof why, "the %s does not read what we send", l->what);
		link_tcp_drop(l, why);
		return MB_EBUSY;
	}
	struct link_tcp__write *w = malloc(sizeof *w + len);
	if (!w)
		return MB_ENOMEM;
	w->l = l;
	memcpy(w->data, data, len);
	uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, link_tcp__on_write) < 0) {
		free(w);
		return MB_EIO;
	}
	l->refs++;
	l->writes++;
	return 0;
}

static void link_tcp__on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct link_tcp *l = h->data;
	(void)hint;
	/* One read is handed over completely before the next: one buffer does. */
	*buf = uv_buf_init((char *)l->chunk, sizeof l->chunk);
}

static void link_tcp__on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct link_tcp *l = st->data;
	(void)buf;
	if (nread == 0 || l->closing)
		return;
	if (nread < 0) {
		char why[128];
		if (nread == UV_EOF)
			snprintf(why, sizeof why, "closed by the %s", l->what);
		else
			snprintf(why, sizeof why, "%s", uv_strerror((int)nread));
		link_tcp_drop(l, why);
		return;
	}
	l->o.on_read(l->o.ctx, l->chunk, (size_t)nread);
}

/* The socket is connected (or given): read, and say so. */
static int link_tcp__up(struct link_tcp *l)
{
	int rc = uv_read_start((uv_stream_t *)&l->tcp, link_tcp__on_alloc, link_tcp__on_read);
	if (rc < 0)
		return rc;
	uv_freeaddrinfo(l->ai);
	l->ai = l->ai_cur = NULL;
	l->state = LINK_TCP__UP;
	l->up_since = uv_now(l->loop);
	l->healthy = 0;
	/* Requests are small and wait for their answer: no Nagle delay. Both
	 * fail harmlessly on a socket that is not TCP (tests). */
	uv_tcp_nodelay(&l->tcp, 1);
	uv_tcp_keepalive(&l->tcp, 1, l->o.keepalive_s);
	return 0;
}

static void link_tcp__on_connect(uv_connect_t *req, int status)
{
	struct link_tcp *l = req->data;
	if (l->closing || l->state != LINK_TCP__CONNECTING) {
		link_tcp__unref(l); /* canceled: closed, or timed out */
		return;
	}
	uv_timer_stop(&l->timer);
	link_tcp__unref(l); /* the socket's reference keeps l */
	if (status == 0)
		status = link_tcp__up(l);
	if (status < 0) {
		link_tcp__connect_failed(l, uv_strerror(status));
		return;
	}
	if (l->fails)
		log_debug("%s: %s %s: connected after %u failed attempts", l->owner, l->what,
			  l->peer, l->fails);
	l->fails = 0;
	l->warned = 0;
	if (l->o.on_state)
		l->o.on_state(l->o.ctx, 1);
}

/* Connect to l->ai_cur, within the connect timeout. */
static void link_tcp__connect_next(struct link_tcp *l)
{
	int rc = uv_tcp_init(l->loop, &l->tcp);
	if (rc < 0) {
		link_tcp__set_why(l, uv_strerror(rc));
		l->failed = 1;
		l->ai_cur = NULL;
		link_tcp__schedule_retry(l);
		return;
	}
	l->tcp.data = l;
	l->tcp_open = 1;
	l->refs++;
	l->state = LINK_TCP__CONNECTING;
	l->connect.data = l;
	rc = uv_tcp_connect(&l->connect, &l->tcp, l->ai_cur->ai_addr, link_tcp__on_connect);
	if (rc < 0) {
		link_tcp__connect_failed(l, uv_strerror(rc));
		return;
	}
	l->refs++;
	uv_timer_start(&l->timer, link_tcp__on_timer, l->o.connect_timeout_ms, 0);
}

static void link_tcp__on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct link_tcp *l = req->data;
	if (l->closing) {
		uv_freeaddrinfo(res);
		link_tcp__unref(l);
		return;
	}
	link_tcp__unref(l); /* frees only once closing: l lives on */
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		link_tcp__set_why(l, status < 0 ? uv_strerror(status) : "no address");
		l->failed = 1;
		link_tcp__schedule_retry(l);
		return;
	}
	l->ai = l->ai_cur = res;
	link_tcp__connect_next(l);
}

static void link_tcp__resolve(struct link_tcp *l)
{
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	l->state = LINK_TCP__RESOLVING;
	l->gai.data = l;
	int rc = uv_getaddrinfo(l->loop, &l->gai, link_tcp__on_resolved, l->host, l->port, &hints);
	if (rc < 0) {
		link_tcp__set_why(l, uv_strerror(rc));
		l->failed = 1;
		link_tcp__schedule_retry(l);
		return;
	}
	l->refs++;
}

static char *link_tcp__strdup(const char *s, const char *dflt)
{
	return strdup(s && *s ? s : dflt);
}

/* A link with its options and timer, not yet connecting; NULL: no memory. */
static struct link_tcp *link_tcp__new(uv_loop_t *loop, const struct link_tcp_opts *o)
{
	struct link_tcp *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->loop = loop;
	l->o = *o;
	l->o.host = l->o.owner = l->o.what = NULL; /* the copies below */
	if (!l->o.connect_timeout_ms)
		l->o.connect_timeout_ms = LINK_TCP_CONNECT_TIMEOUT_MS;
	if (!l->o.queue_max)
		l->o.queue_max = LINK_TCP_QUEUE_MAX;
	if (!l->o.writes_max)
		l->o.writes_max = LINK_TCP_WRITES_MAX;
	if (!l->o.stable_ms)
		l->o.stable_ms = LINK_TCP_STABLE_MS;
	if (!l->o.keepalive_s)
		l->o.keepalive_s = LINK_TCP_KEEPALIVE_S;
	backoff_init(&l->backoff, o->backoff_min_ms, o->backoff_max_ms);
	snprintf(l->port, sizeof l->port, "%d", o->port);
	l->host = link_tcp__strdup(o->host, "-");
	l->owner = link_tcp__strdup(o->owner, "link");
	l->what = link_tcp__strdup(o->what, "peer");
	size_t n = l->host ? strlen(l->host) + sizeof l->port + 2 : 0;
	l->peer = n ? malloc(n) : NULL;
	if (!l->host || !l->owner || !l->what || !l->peer) {
		free(l->host);
		free(l->owner);
		free(l->what);
		free(l->peer);
		free(l);
		return NULL;
	}
	snprintf(l->peer, n, "%s:%s", l->host, l->port);
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	l->refs = 1; /* the timer */
	return l;
}

struct link_tcp *link_tcp_open(uv_loop_t *loop, const struct link_tcp_opts *o)
{
	if (!o->host || !*o->host || !o->on_read)
		return NULL;
	struct link_tcp *l = link_tcp__new(loop, o);
	if (!l)
		return NULL;
	l->reconnect = 1;
	link_tcp__resolve(l);
	return l;
}

struct link_tcp *link_tcp_open_fd(uv_loop_t *loop, const struct link_tcp_opts *o, int fd)
{
	struct link_tcp *l = o->on_read ? link_tcp__new(loop, o) : NULL;
	if (!l) {
		close(fd);
		return NULL;
	}
	if (uv_tcp_init(loop, &l->tcp) < 0) {
		close(fd);
		link_tcp_close(l, NULL);
		return NULL;
	}
	l->tcp.data = l;
	l->tcp_open = 1;
	l->refs++;
	if (uv_tcp_open(&l->tcp, (uv_os_sock_t)fd) < 0) {
		close(fd);
		link_tcp_close(l, NULL);
		return NULL;
	}
	if (link_tcp__up(l) < 0) {
		link_tcp_close(l, NULL); /* closes fd with the handle */
		return NULL;
	}
	return l;
}

bool link_tcp_is_up(const struct link_tcp *l)
{
	return !l->closing && l->state == LINK_TCP__UP;
}

void link_tcp_healthy(struct link_tcp *l)
{
	l->healthy = 1;
}

const char *link_tcp_peer(const struct link_tcp *l)
{
	return l->peer;
}

void link_tcp_close(struct link_tcp *l, link_tcp_closed_cb closed)
{
	if (l->closing)
		return;
	l->closing = 1;
	l->closed = closed;
	uv_timer_stop(&l->timer);
	uv_close((uv_handle_t *)&l->timer, link_tcp__on_handle_closed);
	if (l->state == LINK_TCP__RESOLVING)
		uv_cancel((uv_req_t *)&l->gai); /* its callback still comes: refs */
	if (l->tcp_open && !uv_is_closing((uv_handle_t *)&l->tcp))
		uv_close((uv_handle_t *)&l->tcp, link_tcp__on_tcp_closed);
}

/* MQTT links: libmosquitto without its own thread, driven by the daemon's
 * libuv loop (see include/link_mqtt.h).
 *
 * A link is a small state machine:
 *
 *   RESOLVING --(uv_getaddrinfo)--> CONNECTING --(CONNACK ok)--> UP
 *       ^                               |                         |
 *       +------ WAITING (backoff) <-----+--- refused, error, -----+
 *                                            timeout, lost
 *
 * Nothing blocks the loop: the host is resolved on libuv's thread pool and
 * the numeric address handed to mosquitto_connect_async(), the socket is
 * watched with a uv_poll_t (readable always, writable while libmosquitto has
 * bytes queued) and mosquitto_loop_misc() runs on a one-second timer for
 * keepalive. With TLS the name is passed instead, because the certificate is
 * checked against it; libmosquitto then resolves it again (a cache hit just
 * after our own lookup, in practice).
 *
 * The TLS handshake is the one thing mosquitto_loop_read()/_write() do not
 * drive: libmosquitto 2.0 advances it only inside mosquitto_loop(), and while
 * it waits it asks for "write" without making progress on a write, which
 * would spin a writable poll. So until the CONNACK a TLS link polls for
 * readable only and calls mosquitto_loop() with a zero timeout (a select()
 * that does not wait) on each event and on a 10 ms timer.
 *
 * Message size (docs/user-guide.md, "MQTT links: message size limits,
 * outgoing limit, faults"): the link speaks MQTT v5 and declares a Maximum
 * Packet Size in its CONNECT, so that the broker drops anything larger for
 * us instead of sending it. libmosquitto
 * 2.0 has no option for that property and no asynchronous connect that takes
 * properties, but mosquitto_connect_bind_v5() stores its properties before it
 * checks the port: called with port -1 it stores them and fails without
 * touching the network, and the next mosquitto_connect_async() sends them.
 * libmosquitto itself does not enforce a size on what it receives: it
 * allocates the whole remaining length of a packet before reading it. So a
 * broker that refuses v5 (we then fall back to 3.1.1) can still make us
 * allocate a large message; the per-subscriber limit below keeps it from the
 * protocol, which is the second line.
 *
 * Outgoing bound: libmosquitto queues publishes without limit while the
 * broker does not read or acknowledge. The link keeps the message ID of every
 * publish libmosquitto still holds (QoS 0 until written, QoS 1/2 until
 * acknowledged) and refuses new ones over LINK_MQTT_OUT_MAX_MSGS or
 * LINK_MQTT_OUT_MAX_BYTES.
 *
 * Devices that name the same broker, port, user and client ID share a link:
 * a broker allows one connection per client ID, so two links with the same
 * ID would throw each other off forever. The link is reference counted and
 * freed in the close callbacks of its handles.
 *
 * Subscriptions: a fleet of Venus batteries on one link has two exact
 * topics per device, 20,000 for 10,000 devices. A message is handed to the
 * subscriptions of its topic, found in a hash of the exact topics, and to
 * those with wildcards (a list of their own), not compared with every
 * topic; a subscriber's own subscriptions are found in a hash by its ctx
 * (link_mqtt_limit, link_mqtt_release), and a new one is appended in
 * constant time. Each of those walks every subscription otherwise: 10,000
 * Venus devices took 4 s to start and 13 s to stop, and every message cost
 * 0.1 ms per 1,000 subscriptions, a flood on one device's topic the loop's
 * whole time. Dispatch order: the exact topic's subscriptions, then the
 * wildcard ones, each in subscription order. */
#include "link_mqtt.h"

#include "backoff.h"
#include "config.h"
#include "fnv.h"
#include "log.h"
#include "mb_error.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINK_MQTT__MISC_MS 1000		 /* mosquitto_loop_misc period */
#define LINK_MQTT__CONNECT_TIMEOUT 10000 /* ms from connect to CONNACK */
#define LINK_MQTT__TLS_KICK_MS 10	 /* TLS handshake step period */
/* Maximum Packet Size beyond the payload: fixed header (5), topic length (2),
 * packet ID (2), properties a publisher may attach, and the topic itself
 * when a subscription has wildcards and its length is not known. */
#define LINK_MQTT__PACKET_OVERHEAD 1024
#define LINK_MQTT__WILDCARD_TOPIC 1024

enum link_mqtt__state {
	LINK_MQTT__RESOLVING,
	LINK_MQTT__CONNECTING,
	LINK_MQTT__UP,
	LINK_MQTT__WAITING,
	LINK_MQTT__CLOSING,
};

struct link_mqtt__sub {
	struct link_mqtt__sub *next, *prev; /* l->subs, in subscription order */
	struct link_mqtt__sub *topic_next;  /* its l->by_topic chain, or l->wild */
	struct link_mqtt__sub *ctx_next;    /* its l->by_ctx chain */
	uint32_t topic_hash;
	int wild; /* the topic has a wildcard: on l->wild */
	char *topic;
	int qos;
	link_mqtt_msg_cb msg_cb;
	link_mqtt_state_cb state_cb;
	void *ctx;
	int reported;		  /* the state this subscriber was last told */
	int dead;		  /* released while a dispatch ran: swept afterwards */
	size_t max_len;		  /* longest payload msg_cb gets */
	link_mqtt_msg_cb drop_cb; /* told of longer ones (may be NULL) */
};

/* A publish that libmosquitto still holds. */
struct link_mqtt__out {
	int mid, qos;
	size_t len;
};

struct link_mqtt__pub {
	struct link_mqtt__pub *next;
	int mid;
	link_mqtt_pub_cb cb;
	void *ctx;
};

struct link_mqtt {
	struct link_mqtt *next; /* every live link, for sharing */
	uv_loop_t *loop;
	struct mosquitto *mosq;
	char *host, *username, *password, *client_id;
	char *tls_ca, *tls_cert, *tls_key;
	int port, keepalive, tls;
	char name[160]; /* "host:port (client ID)" for messages; never credentials */
	int refs;
	enum link_mqtt__state state;
	uv_getaddrinfo_t gai;
	int gai_busy;
	uv_poll_t *poll; /* one per socket: a new socket may reuse the fd number */
	int poll_events;
	uv_timer_t misc, retry, notify, tls_kick;
	struct backoff backoff; /* the wait before the next reconnect (include/backoff.h) */
	uint64_t connect_started;
	struct link_mqtt__sub *subs, *subs_tail;
	/* The subscriptions by exact topic and by ctx (chains in subscription
	 * order, nbuckets each, a power of two), and those with wildcards. */
	struct link_mqtt__sub **by_topic, **by_ctx, *wild;
	size_t nbuckets, nsubs, ndead;
	struct link_mqtt__pub *pubs;
	int dispatching;	    /* > 0 while subscriber callbacks run */
	int pending;		    /* handle closes and requests still to call back */
	int v311;		    /* the broker refused MQTT v5 */
	int fallback;		    /* reconnect at once, as 3.1.1 */
	int fails;		    /* failed attempts since the link was last up */
	int warned;		    /* this outage was logged as a warning already */
	char why[96];		    /* why the broker refused the last CONNECT */
	uint32_t packet_max;	    /* the Maximum Packet Size of the last CONNECT */
	unsigned long long dropped; /* oversized messages, every subscriber */
	struct link_mqtt__out out[LINK_MQTT_OUT_MAX_MSGS];
	size_t nout, out_bytes;
	int out_full;	/* the bound was hit and not yet left */
	int publishing; /* inside mosquitto_publish() */
	int early_mid;	/* a QoS 0 mid written before mosquitto_publish() returned */
};

static struct link_mqtt *link_mqtt__links;
static int link_mqtt__lib_refs;

static void link_mqtt__resolve(struct link_mqtt *l);
static void link_mqtt__lost(struct link_mqtt *l, const char *why);

/* ------------------------------------------------------------ helpers -- */

static char *link_mqtt__strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int link_mqtt__streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void link_mqtt__lib_ref(void)
{
	if (link_mqtt__lib_refs++ == 0)
		mosquitto_lib_init();
}

static void link_mqtt__lib_unref(void)
{
	if (--link_mqtt__lib_refs == 0)
		mosquitto_lib_cleanup();
}

static void link_mqtt__free(struct link_mqtt *l)
{
	if (l->mosq)
		mosquitto_destroy(l->mosq);
	while (l->subs) {
		struct link_mqtt__sub *s = l->subs;
		l->subs = s->next;
		free(s->topic);
		free(s);
	}
	free(l->by_topic);
	free(l->by_ctx);
	while (l->pubs) {
		struct link_mqtt__pub *p = l->pubs;
		l->pubs = p->next;
		free(p);
	}
	free(l->host);
	free(l->username);
	if (l->password) {
		/* Do not leave the secret in freed heap memory. */
		memset(l->password, 0, strlen(l->password));
		free(l->password);
	}
	free(l->client_id);
	free(l->tls_ca);
	free(l->tls_cert);
	free(l->tls_key);
	free(l);
	link_mqtt__lib_unref();
}

/* Free a closing link once every handle and request has called back. */
static void link_mqtt__maybe_free(struct link_mqtt *l)
{
	if (l->state == LINK_MQTT__CLOSING && l->pending == 0)
		link_mqtt__free(l);
}

static void link_mqtt__on_handle_closed(uv_handle_t *h)
{
	struct link_mqtt *l = h->data;
	l->pending--;
	link_mqtt__maybe_free(l);
}

static void link_mqtt__on_poll_closed(uv_handle_t *h)
{
	struct link_mqtt *l = h->data;
	free(h);
	l->pending--;
	link_mqtt__maybe_free(l);
}

static void link_mqtt__close_handle(struct link_mqtt *l, uv_handle_t *h, uv_close_cb cb)
{
	if (uv_is_closing(h))
		return;
	l->pending++;
	uv_close(h, cb);
}

static void link_mqtt__poll_close(struct link_mqtt *l)
{
	if (!l->poll)
		return;
	link_mqtt__close_handle(l, (uv_handle_t *)l->poll, link_mqtt__on_poll_closed);
	l->poll = NULL;
	l->poll_events = 0;
}

/* ------------------------------------------------------ subscriptions -- */

static uint32_t link_mqtt__hash_topic(const char *t)
{
	return (uint32_t)(fnv_add(FNV_INIT, t, strlen(t)) >> 32);
}

static size_t link_mqtt__hash_ctx(const struct link_mqtt *l, const void *ctx)
{
	uint64_t h = (uint64_t)(uintptr_t)ctx * 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (l->nbuckets - 1);
}

/* The chain a subscription of topic hash h (wild: with wildcards) is on. */
static struct link_mqtt__sub **link_mqtt__topic_chain(struct link_mqtt *l, int wild, uint32_t h)
{
	return wild ? &l->wild : &l->by_topic[h & (l->nbuckets - 1)];
}

/* Put s at the end of its topic and ctx chains. */
static void link_mqtt__index(struct link_mqtt *l, struct link_mqtt__sub *s)
{
	struct link_mqtt__sub **pp = link_mqtt__topic_chain(l, s->wild, s->topic_hash);
	while (*pp)
		pp = &(*pp)->topic_next;
	*pp = s;
	s->topic_next = NULL;
	for (pp = &l->by_ctx[link_mqtt__hash_ctx(l, s->ctx)]; *pp; pp = &(*pp)->ctx_next)
		;
	*pp = s;
	s->ctx_next = NULL;
}

static void link_mqtt__unindex(struct link_mqtt *l, struct link_mqtt__sub *s)
{
	struct link_mqtt__sub **pp = link_mqtt__topic_chain(l, s->wild, s->topic_hash);
	while (*pp && *pp != s)
		pp = &(*pp)->topic_next;
	if (*pp)
		*pp = s->topic_next;
	for (pp = &l->by_ctx[link_mqtt__hash_ctx(l, s->ctx)]; *pp && *pp != s;
	     pp = &(*pp)->ctx_next)
		;
	if (*pp)
		*pp = s->ctx_next;
}

/* Room for one more subscription: the tables double past 2 a bucket (not
 * while a dispatch walks a chain: they are rebuilt then, and the chains
 * only get longer meanwhile). MB_ENOMEM when there are none at all. */
static int link_mqtt__room(struct link_mqtt *l)
{
	if ((l->nbuckets && l->nsubs + 1 <= 2 * l->nbuckets) || (l->nbuckets && l->dispatching))
		return 0;
	size_t nb = l->nbuckets ? 2 * l->nbuckets : 16;
	struct link_mqtt__sub **t = calloc(nb, sizeof *t), **c = calloc(nb, sizeof *c);
	if (!t || !c) {
		free(t);
		free(c);
		return l->nbuckets ? 0 : MB_ENOMEM;
	}
	free(l->by_topic);
	free(l->by_ctx);
	l->by_topic = t;
	l->by_ctx = c;
	l->nbuckets = nb;
	l->wild = NULL;
	for (struct link_mqtt__sub *s = l->subs; s; s = s->next)
		link_mqtt__index(l, s);
	return 0;
}

/* Take s out of every list and free it. */
static void link_mqtt__remove(struct link_mqtt *l, struct link_mqtt__sub *s)
{
	link_mqtt__unindex(l, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		l->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		l->subs_tail = s->prev;
	l->nsubs--;
	free(s->topic);
	free(s);
}

/* Remove subscriptions marked dead while a dispatch ran, once none runs. */
static void link_mqtt__sweep(struct link_mqtt *l)
{
	if (l->dispatching || !l->ndead)
		return;
	for (struct link_mqtt__sub *s = l->subs, *next; s; s = next) {
		next = s->next;
		if (s->dead)
			link_mqtt__remove(l, s);
	}
	l->ndead = 0;
}

/* Tell every subscriber whose view differs whether the link is up. */
static void link_mqtt__notify(struct link_mqtt *l)
{
	int up = l->state == LINK_MQTT__UP;
	l->dispatching++;
	for (struct link_mqtt__sub *s = l->subs; s; s = s->next) {
		if (s->dead || s->reported == up)
			continue;
		s->reported = up;
		if (s->state_cb)
			s->state_cb(s->ctx, up);
		if (l->state == LINK_MQTT__CLOSING)
			break;
	}
	l->dispatching--;
	link_mqtt__sweep(l);
}

/* The largest packet the link's subscribers accept: what a v5 CONNECT
 * declares as Maximum Packet Size. */
static uint32_t link_mqtt__packet_limit(const struct link_mqtt *l)
{
	size_t most = 0;
	for (const struct link_mqtt__sub *s = l->subs; s; s = s->next) {
		if (s->dead)
			continue;
		size_t topic = s->wild ? LINK_MQTT__WILDCARD_TOPIC : strlen(s->topic);
		if (s->max_len + topic > most)
			most = s->max_len + topic;
	}
	return (uint32_t)(most + LINK_MQTT__PACKET_OVERHEAD);
}

static void link_mqtt__on_notify(uv_timer_t *t)
{
	struct link_mqtt *l = t->data;
	/* A subscriber added while the link is up (a reload) is bound by
	 * the size declared in this connection's CONNECT. */
	if (l->state == LINK_MQTT__UP && !l->v311 && link_mqtt__packet_limit(l) > l->packet_max)
		log_info("mqtt %s: a new subscriber accepts larger messages than this connection "
			 "declared (%u bytes); they reach it from the next connection",
			 l->name, (unsigned)l->packet_max);
	link_mqtt__notify(l);
}

/* ------------------------------------------------------ outgoing bound -- */

static void link_mqtt__out_remove(struct link_mqtt *l, size_t i)
{
	l->out_bytes -= l->out[i].len;
	l->out[i] = l->out[--l->nout];
}

/* libmosquitto is done with mid: written (QoS 0) or acknowledged. */
static void link_mqtt__out_done(struct link_mqtt *l, int mid)
{
	for (size_t i = 0; i < l->nout; i++) {
		if (l->out[i].mid == mid) {
			link_mqtt__out_remove(l, i);
			return;
		}
	}
	/* A QoS 0 publish can be written from inside mosquitto_publish(),
	 * before we know its mid. */
	if (l->publishing)
		l->early_mid = mid;
}

/* A lost connection discards the QoS 0 packets libmosquitto had queued;
 * QoS 1 and 2 messages stay with it and are sent again after the next
 * CONNACK, so they stay counted until acknowledged. */
static void link_mqtt__out_forget_qos0(struct link_mqtt *l)
{
	for (size_t i = 0; i < l->nout;) {
		if (l->out[i].qos == 0)
			link_mqtt__out_remove(l, i);
		else
			i++;
	}
}

/* ------------------------------------------------------- socket events -- */

static void link_mqtt__on_poll(uv_poll_t *h, int status, int events);

/* Watch the socket for what libmosquitto needs now. */
/* Is the TLS handshake (or the wait for CONNACK over TLS) going on? */
static int link_mqtt__tls_connecting(const struct link_mqtt *l)
{
	return l->tls && l->state == LINK_MQTT__CONNECTING;
}

static void link_mqtt__update_poll(struct link_mqtt *l)
{
	if (!l->poll || (l->state != LINK_MQTT__CONNECTING && l->state != LINK_MQTT__UP))
		return;
	int events = UV_READABLE;
	if (!link_mqtt__tls_connecting(l) && mosquitto_want_write(l->mosq))
		events |= UV_WRITABLE;
	if (events != l->poll_events) {
		uv_poll_start(l->poll, events, link_mqtt__on_poll);
		l->poll_events = events;
	}
}

/* After any libmosquitto call: a lost socket means a lost link. */
static void link_mqtt__after(struct link_mqtt *l, int rc)
{
	if (l->state != LINK_MQTT__CONNECTING && l->state != LINK_MQTT__UP)
		return;
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(l->mosq) < 0) {
		link_mqtt__lost(l, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return;
	}
	link_mqtt__update_poll(l);
}

static void link_mqtt__on_poll(uv_poll_t *h, int status, int events)
{
	struct link_mqtt *l = h->data;
	int rc = MOSQ_ERR_SUCCESS;
	if (h != l->poll)
		return;
	if (status < 0) {
		link_mqtt__lost(l, uv_strerror(status));
		return;
	}
	if (link_mqtt__tls_connecting(l)) {
		link_mqtt__after(l, mosquitto_loop(l->mosq, 0, 1));
		return;
	}
	if (events & UV_READABLE)
		rc = mosquitto_loop_read(l->mosq, 1);
	/* Subscriber callbacks run inside loop_read and their publishes are
	 * only queued there: send them now rather than a loop turn later. */
	if (rc == MOSQ_ERR_SUCCESS && l->poll == h &&
	    ((events & UV_WRITABLE) || mosquitto_want_write(l->mosq)))
		rc = mosquitto_loop_write(l->mosq, 1);
	if (l->poll == h)
		link_mqtt__after(l, rc);
}

static void link_mqtt__on_misc(uv_timer_t *t)
{
	struct link_mqtt *l = t->data;
	if (l->state == LINK_MQTT__CONNECTING &&
	    uv_now(l->loop) - l->connect_started > LINK_MQTT__CONNECT_TIMEOUT) {
		link_mqtt__lost(l, "no answer to CONNECT");
		return;
	}
	if (l->state == LINK_MQTT__CONNECTING || l->state == LINK_MQTT__UP)
		link_mqtt__after(l, mosquitto_loop_misc(l->mosq));
}

static void link_mqtt__on_tls_kick(uv_timer_t *t)
{
	struct link_mqtt *l = t->data;
	if (!link_mqtt__tls_connecting(l) || !l->poll) {
		uv_timer_stop(t);
		return;
	}
	link_mqtt__after(l, mosquitto_loop(l->mosq, 0, 1));
}

/* ------------------------------------------------------- (re)connecting -- */

static void link_mqtt__on_retry(uv_timer_t *t)
{
	link_mqtt__resolve(t->data);
}

static void link_mqtt__schedule_retry(struct link_mqtt *l)
{
	l->state = LINK_MQTT__WAITING;
	uv_timer_start(&l->retry, link_mqtt__on_retry, backoff_next(&l->backoff), 0);
}

/* An attempt failed (lookup, connect, CONNACK): the first failure since the
 * link was last up is a warning, the ones after it are debug, so that a
 * broker away for a day does not fill the log. */
static void link_mqtt__failed(struct link_mqtt *l, const char *what, const char *why)
{
	l->fails++;
	if (!l->warned) {
		l->warned = 1;
		log_warn("mqtt %s: %s (%s), retrying in %llu ms; further failures are logged at "
			 "debug level",
			 l->name, what, why, (unsigned long long)backoff_peek(&l->backoff));
	} else {
		log_debug("mqtt %s: %s (%s), attempt %d, retrying in %llu ms", l->name, what, why,
			  l->fails, (unsigned long long)backoff_peek(&l->backoff));
	}
	link_mqtt__schedule_retry(l);
}

static void link_mqtt__lost(struct link_mqtt *l, const char *why)
{
	if (l->state != LINK_MQTT__CONNECTING && l->state != LINK_MQTT__UP)
		return;
	int was_up = l->state == LINK_MQTT__UP;
	link_mqtt__poll_close(l);
	link_mqtt__out_forget_qos0(l);
	char refused[sizeof l->why];
	if (l->why[0]) {
		snprintf(refused, sizeof refused, "%s", l->why);
		l->why[0] = 0;
		why = refused;
	}
	if (l->fallback) {
		/* The broker refused v5 (link_mqtt__cb_connect): again at once, as 3.1.1. */
		l->fallback = 0;
		l->state = LINK_MQTT__WAITING;
		uv_timer_start(&l->retry, link_mqtt__on_retry, 0, 0);
	} else if (was_up) {
		log_warn("mqtt %s: connection lost (%s), reconnecting in %llu ms", l->name, why,
			 (unsigned long long)backoff_peek(&l->backoff));
		l->warned = 1; /* the loss was the warning; failures to come back are debug */
		link_mqtt__schedule_retry(l);
	} else {
		link_mqtt__failed(l, "cannot connect", why);
	}
	if (was_up)
		link_mqtt__notify(l);
}

/* Protocol version and CONNECT properties for the next attempt (see the top
 * of this file for the port -1 call). */
static int link_mqtt__prepare_connect(struct link_mqtt *l)
{
	mosquitto_property *props = NULL;
	int rc;
	if (l->v311) {
		mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
		/* Clears the stored properties: libmosquitto refuses to
		 * connect as 3.1.1 with any. */
		rc = mosquitto_connect_bind_v5(l->mosq, l->host, -1, l->keepalive, NULL, NULL);
		return rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS : rc;
	}
	mosquitto_int_option(l->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	l->packet_max = link_mqtt__packet_limit(l);
	rc = mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE, l->packet_max);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_connect_bind_v5(l->mosq, l->host, -1, l->keepalive, NULL, props);
	mosquitto_property_free_all(&props);
	return rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS : rc;
}

static void link_mqtt__connect(struct link_mqtt *l, const char *addr)
{
	l->state = LINK_MQTT__CONNECTING;
	l->connect_started = uv_now(l->loop);
	l->why[0] = 0;
	log_debug("mqtt %s: connecting to %s (MQTT %s)", l->name, addr, l->v311 ? "3.1.1" : "v5");
	int rc = link_mqtt__prepare_connect(l);
	if (rc != MOSQ_ERR_SUCCESS) {
		link_mqtt__lost(l, mosquitto_strerror(rc));
		return;
	}
	rc = mosquitto_connect_async(l->mosq, addr, l->port, l->keepalive);
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(l->mosq) < 0) {
		link_mqtt__lost(l, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return;
	}
	l->poll = malloc(sizeof *l->poll);
	if (!l->poll || uv_poll_init(l->loop, l->poll, mosquitto_socket(l->mosq)) != 0) {
		free(l->poll);
		l->poll = NULL;
		link_mqtt__lost(l, "cannot watch the socket");
		return;
	}
	l->poll->data = l;
	l->poll_events = 0;
	link_mqtt__update_poll(l);
	if (l->tls)
		uv_timer_start(&l->tls_kick, link_mqtt__on_tls_kick, LINK_MQTT__TLS_KICK_MS,
			       LINK_MQTT__TLS_KICK_MS);
}

static void link_mqtt__on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct link_mqtt *l = req->data;
	l->gai_busy = 0;
	if (l->state == LINK_MQTT__CLOSING) {
		uv_freeaddrinfo(res);
		l->pending--;
		link_mqtt__maybe_free(l);
		return;
	}
	l->pending--;
	if (status < 0 || !res) {
		uv_freeaddrinfo(res);
		link_mqtt__failed(l, "cannot resolve host", uv_strerror(status));
		return;
	}
	char addr[64] = "";
	if (res->ai_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)res->ai_addr, addr, sizeof addr);
	else
		uv_ip4_name((const struct sockaddr_in *)res->ai_addr, addr, sizeof addr);
	uv_freeaddrinfo(res);
	/* TLS checks the certificate against the name we connect to. */
	link_mqtt__connect(l, l->tls ? l->host : addr);
}

static void link_mqtt__resolve(struct link_mqtt *l)
{
	char port[16];
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof port, "%d", l->port);
	l->state = LINK_MQTT__RESOLVING;
	l->gai.data = l;
	int rc = uv_getaddrinfo(l->loop, &l->gai, link_mqtt__on_resolved, l->host, port, &hints);
	if (rc != 0) {
		link_mqtt__failed(l, "cannot resolve host", uv_strerror(rc));
		return;
	}
	l->gai_busy = 1;
	l->pending++;
}

/* ------------------------------------------------ libmosquitto callbacks -- */

/* Why the broker refused a CONNECT, in the same words for v5 reason codes
 * as for their 3.1.1 equivalents, so that the log does not depend on the
 * protocol version the broker speaks. */
static const char *link_mqtt__refusal(const struct link_mqtt *l, int rc)
{
	static const struct {
		int v5, v311;
	} same[] = {
	    {MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION, CONNACK_REFUSED_PROTOCOL_VERSION},
	    {MQTT_RC_CLIENTID_NOT_VALID, CONNACK_REFUSED_IDENTIFIER_REJECTED},
	    {MQTT_RC_SERVER_UNAVAILABLE, CONNACK_REFUSED_SERVER_UNAVAILABLE},
	    {MQTT_RC_SERVER_BUSY, CONNACK_REFUSED_SERVER_UNAVAILABLE},
	    {MQTT_RC_BAD_USERNAME_OR_PASSWORD, CONNACK_REFUSED_BAD_USERNAME_PASSWORD},
	    {MQTT_RC_NOT_AUTHORIZED, CONNACK_REFUSED_NOT_AUTHORIZED},
	};
	if (l->v311)
		return mosquitto_connack_string(rc);
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
		if (same[i].v5 == rc)
			return mosquitto_connack_string(same[i].v311);
	return mosquitto_reason_string(rc);
}

static void link_mqtt__cb_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct link_mqtt *l = obj;
	(void)mosq;
	if (l->state != LINK_MQTT__CONNECTING)
		return;
	if (rc != 0) {
		/* libmosquitto closes the socket next; link_mqtt__after() sees it. A
		 * 3.1.1 broker answers a v5 CONNECT with a 3.1.1 CONNACK that
		 * libmosquitto reports as "unsupported protocol version". */
		if (!l->v311 && (rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION ||
				 rc == CONNACK_REFUSED_PROTOCOL_VERSION)) {
			l->v311 = 1;
			l->fallback = 1;
			log_warn("mqtt %s: the broker refuses MQTT v5; using 3.1.1, which cannot "
				 "ask it to hold back large messages",
				 l->name);
			return;
		}
		snprintf(l->why, sizeof l->why, "%s", link_mqtt__refusal(l, rc));
		return;
	}
	l->state = LINK_MQTT__UP;
	backoff_reset(&l->backoff);
	uv_timer_stop(&l->tls_kick);
	if (l->fails)
		log_info("mqtt %s: connected (MQTT %s) after %d failed attempts", l->name,
			 l->v311 ? "3.1.1" : "v5", l->fails);
	else
		log_info("mqtt %s: connected (MQTT %s)", l->name, l->v311 ? "3.1.1" : "v5");
	l->fails = 0;
	l->warned = 0;
	/* The broker handles one client's packets in order, so these
	 * subscriptions are in place before anything we publish next. */
	for (struct link_mqtt__sub *s = l->subs; s; s = s->next)
		if (!s->dead)
			mosquitto_subscribe(l->mosq, NULL, s->topic, s->qos);
	link_mqtt__notify(l);
}

static void link_mqtt__cb_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct link_mqtt *l = obj;
	(void)mosq;
	/* v5: a DISCONNECT from the broker carries a reason code (>= 0x80). */
	link_mqtt__lost(l, rc == MOSQ_ERR_SUCCESS ? "disconnected"
			   : rc >= 0x80		  ? mosquitto_reason_string(rc)
						  : mosquitto_strerror(rc));
}

/* Hand m to s, which matches it: to its msg_cb, or over its limit to its
 * drop_cb. */
static void link_mqtt__deliver(struct link_mqtt *l, struct link_mqtt__sub *s,
			       const struct mosquitto_message *m)
{
	size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
	if (len <= s->max_len) {
		s->msg_cb(s->ctx, m->topic, m->payload, len);
		return;
	}
	/* Over the subscriber's limit: never handed to the protocol. */
	if (l->dropped++ == 0)
		log_warn("mqtt %s: dropped a message of %zu bytes on %s (limit %zu); "
			 "further ones are logged at debug level",
			 l->name, len, m->topic, s->max_len);
	else
		log_debug("mqtt %s: dropped a message of %zu bytes on %s (limit %zu)", l->name, len,
			  m->topic, s->max_len);
	if (s->drop_cb)
		s->drop_cb(s->ctx, m->topic, m->payload, len);
}

static void link_mqtt__cb_message(struct mosquitto *mosq, void *obj,
				  const struct mosquitto_message *m)
{
	struct link_mqtt *l = obj;
	(void)mosq;
	if (l->state == LINK_MQTT__CLOSING || !m->topic || !l->nbuckets)
		return;
	l->dispatching++;
	uint32_t h = link_mqtt__hash_topic(m->topic);
	for (struct link_mqtt__sub *s = *link_mqtt__topic_chain(l, 0, h);
	     s && l->state != LINK_MQTT__CLOSING; s = s->topic_next)
		if (!s->dead && s->msg_cb && s->topic_hash == h && strcmp(s->topic, m->topic) == 0)
			link_mqtt__deliver(l, s, m);
	for (struct link_mqtt__sub *s = l->wild; s && l->state != LINK_MQTT__CLOSING;
	     s = s->topic_next) {
		bool match = false;
		if (!s->dead && s->msg_cb &&
		    mosquitto_topic_matches_sub(s->topic, m->topic, &match) == MOSQ_ERR_SUCCESS &&
		    match)
			link_mqtt__deliver(l, s, m);
	}
	l->dispatching--;
	link_mqtt__sweep(l);
}

/* QoS 0: written to the socket; QoS 1/2: acknowledged, with a reason code
 * under v5 (>= 0x80: the broker refused the message). */
static void link_mqtt__cb_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
				  const mosquitto_property *props)
{
	struct link_mqtt *l = obj;
	(void)mosq;
	(void)props;
	link_mqtt__out_done(l, mid);
	if (reason >= 0x80)
		log_debug("mqtt %s: the broker refused message %d: %s", l->name, mid,
			  mosquitto_reason_string(reason));
	for (struct link_mqtt__pub **pp = &l->pubs; *pp; pp = &(*pp)->next) {
		struct link_mqtt__pub *p = *pp;
		if (p->mid != mid)
			continue;
		*pp = p->next;
		link_mqtt_pub_cb cb = p->cb;
		void *ctx = p->ctx;
		free(p);
		if (cb && reason < 0x80 && l->state != LINK_MQTT__CLOSING)
			cb(ctx, mid);
		return;
	}
}

static void link_mqtt__cb_subscribe(struct mosquitto *mosq, void *obj, int mid, int n,
				    const int *granted)
{
	struct link_mqtt *l = obj;
	(void)mosq;
	(void)mid;
	for (int i = 0; i < n; i++)
		if (granted[i] >= 0x80) /* 3.1.1: 0x80; v5: any reason code from 0x80 */
			log_warn("mqtt %s: the broker refused a subscription", l->name);
}

static void link_mqtt__cb_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	struct link_mqtt *l = obj;
	(void)mosq;
	/* libmosquitto's own errors; its per-packet chatter stays out. */
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		log_warn("mqtt %s: %s", l->name, str);
}

/* ------------------------------------------------------------- public -- */

static struct link_mqtt *link_mqtt__find(uv_loop_t *loop, const char *host, int port,
					 const char *username, const char *client_id)
{
	for (struct link_mqtt *l = link_mqtt__links; l; l = l->next)
		if (l->loop == loop && l->port == port && link_mqtt__streq(l->host, host) &&
		    link_mqtt__streq(l->username, username) &&
		    link_mqtt__streq(l->client_id, client_id))
			return l;
	return NULL;
}

struct link_mqtt *link_mqtt_get(uv_loop_t *loop, const struct config_mqtt *cfg,
				const char *client_id, char *err, size_t errlen)
{
	return link_mqtt_get_will(loop, cfg, client_id, NULL, NULL, err, errlen);
}

struct link_mqtt *link_mqtt_get_will(uv_loop_t *loop, const struct config_mqtt *cfg,
				     const char *client_id, const char *will_topic,
				     const char *will_payload, char *err, size_t errlen)
{
	const char *host = cfg->host && *cfg->host ? cfg->host : "127.0.0.1";
	int tls = cfg->has_tls;
	int port = cfg->port > 0 ? cfg->port : (tls ? 8883 : 1883);
	int rc;

	if (client_id && !*client_id)
		client_id = NULL;
	struct link_mqtt *l = link_mqtt__find(loop, host, port, cfg->username, client_id);
	if (l) {
		if (!link_mqtt__streq(l->password, cfg->password) || l->tls != tls)
			log_warn("mqtt %s: devices sharing client ID %s disagree on password or "
				 "TLS; the first one's settings are used",
				 l->name, client_id ? client_id : "(random)");
		l->refs++;
		return l;
	}

	l = calloc(1, sizeof *l);
	if (!l) {
		snprintf(err, errlen, "mqtt: out of memory");
		return NULL;
	}
	link_mqtt__lib_ref();
	l->loop = loop;
	l->port = port;
	l->tls = tls;
	l->keepalive = cfg->keepalive >= 5 ? cfg->keepalive : 60;
	backoff_init(&l->backoff, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
	l->host = strdup(host);
	l->username = link_mqtt__strdup(cfg->username);
	l->password = link_mqtt__strdup(cfg->password);
	l->client_id = link_mqtt__strdup(client_id);
	if (tls) {
		l->tls_ca = link_mqtt__strdup(cfg->tls.ca_file);
		l->tls_cert = link_mqtt__strdup(cfg->tls.cert_file);
		l->tls_key = link_mqtt__strdup(cfg->tls.key_file);
	}
	snprintf(l->name, sizeof l->name, "%s:%d (%s)", host, port,
		 client_id ? client_id : "random client ID");
	l->mosq = mosquitto_new(client_id, true, l);
	if (!l->host || !l->mosq) {
		snprintf(err, errlen, "mqtt %s: cannot create a client (%s)", l->name,
			 strerror(errno));
		goto fail;
	}
	if (l->username && (rc = mosquitto_username_pw_set(l->mosq, l->username, l->password)) !=
			       MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "mqtt %s: username: %s", l->name, mosquitto_strerror(rc));
		goto fail;
	}
	if (tls) {
		if (!l->tls_ca)
			mosquitto_int_option(l->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		rc = mosquitto_tls_set(l->mosq, l->tls_ca, NULL, l->tls_cert, l->tls_key, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			/* Name the files, never their contents. */
			snprintf(
			    err, errlen, "mqtt %s: TLS (ca_file %s, cert_file %s, key_file %s): %s",
			    l->name, l->tls_ca ? l->tls_ca : "-", l->tls_cert ? l->tls_cert : "-",
			    l->tls_key ? l->tls_key : "-", mosquitto_strerror(rc));
			goto fail;
		}
	}
	if (will_topic && (rc = mosquitto_will_set(
			       l->mosq, will_topic, will_payload ? (int)strlen(will_payload) : 0,
			       will_payload, cfg->qos, true)) != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "mqtt %s: last will: %s", l->name, mosquitto_strerror(rc));
		goto fail;
	}
	mosquitto_connect_callback_set(l->mosq, link_mqtt__cb_connect);
	mosquitto_disconnect_callback_set(l->mosq, link_mqtt__cb_disconnect);
	mosquitto_message_callback_set(l->mosq, link_mqtt__cb_message);
	mosquitto_publish_v5_callback_set(l->mosq, link_mqtt__cb_publish);
	mosquitto_subscribe_callback_set(l->mosq, link_mqtt__cb_subscribe);
	mosquitto_log_callback_set(l->mosq, link_mqtt__cb_log);

	uv_timer_init(loop, &l->misc);
	uv_timer_init(loop, &l->retry);
	uv_timer_init(loop, &l->notify);
	uv_timer_init(loop, &l->tls_kick);
	l->misc.data = l->retry.data = l->notify.data = l->tls_kick.data = l;
	uv_timer_start(&l->misc, link_mqtt__on_misc, LINK_MQTT__MISC_MS, LINK_MQTT__MISC_MS);
	uv_unref((uv_handle_t *)&l->misc);

	l->refs = 1;
	l->next = link_mqtt__links;
	link_mqtt__links = l;
	link_mqtt__resolve(l);
	return l;

fail:
	link_mqtt__free(l);
	return NULL;
}

int link_mqtt_subscribe(struct link_mqtt *l, const char *topic, int qos, link_mqtt_msg_cb msg_cb,
			link_mqtt_state_cb state_cb, void *ctx)
{
	if (!l || !topic || !*topic)
		return MB_EINVAL;
	if (link_mqtt__room(l) != 0)
		return MB_ENOMEM;
	struct link_mqtt__sub *s = calloc(1, sizeof *s);
	if (!s || !(s->topic = strdup(topic))) {
		free(s);
		return MB_ENOMEM;
	}
	s->topic_hash = link_mqtt__hash_topic(topic);
	s->wild = strpbrk(topic, "+#") != NULL;
	s->qos = qos;
	s->max_len = LINK_MQTT_MAX_MESSAGE;
	s->msg_cb = msg_cb;
	s->state_cb = state_cb;
	s->ctx = ctx;
	/* Append: dispatch order is subscription order. */
	s->prev = l->subs_tail;
	if (l->subs_tail)
		l->subs_tail->next = s;
	else
		l->subs = s;
	l->subs_tail = s;
	l->nsubs++;
	link_mqtt__index(l, s);
	if (l->state == LINK_MQTT__UP) {
		mosquitto_subscribe(l->mosq, NULL, topic, qos);
		link_mqtt__update_poll(l);
		/* Tell the new subscriber "up" from the loop, not from inside
		 * its own open path. */
		uv_timer_start(&l->notify, link_mqtt__on_notify, 0, 0);
	}
	return 0;
}

int link_mqtt_publish(struct link_mqtt *l, const char *topic, const void *payload, size_t len,
		      int qos, int retain, int *mid, link_mqtt_pub_cb pub_cb, void *ctx)
{
	int m = 0;
	if (!l || !topic)
		return MB_EINVAL;
	if (l->state != LINK_MQTT__UP)
		return MB_ELINK;
	if (len > LINK_MQTT_OUT_MAX_BYTES)
		return MB_ETOOBIG;
	if (l->nout >= LINK_MQTT_OUT_MAX_MSGS || l->out_bytes + len > LINK_MQTT_OUT_MAX_BYTES) {
		/* The broker does not read or acknowledge: refuse rather than
		 * let libmosquitto queue without limit. The transport fails the
		 * transaction as for a link that is down. */
		if (!l->out_full)
			log_warn("mqtt %s: %zu messages (%zu bytes) not yet taken by the broker; "
				 "refusing new ones until it catches up",
				 l->name, l->nout, l->out_bytes);
		l->out_full = 1;
		return MB_ELINK;
	}
	l->publishing = 1;
	l->early_mid = 0;
	int rc = mosquitto_publish(l->mosq, &m, topic, (int)len, payload, qos, retain != 0);
	l->publishing = 0;
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		break;
	case MOSQ_ERR_NO_CONN:
	case MOSQ_ERR_CONN_LOST:
		link_mqtt__after(l, rc);
		return MB_ELINK;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return MB_ETOOBIG;
	case MOSQ_ERR_NOMEM:
		return MB_ENOMEM;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
	case MOSQ_ERR_QOS_NOT_SUPPORTED: /* over the v5 broker's Maximum QoS */
		return MB_EINVAL;
	default:
		log_debug("mqtt %s: publish: %s", l->name, mosquitto_strerror(rc));
		link_mqtt__after(l, rc);
		return MB_EIO;
	}
	if (m != l->early_mid) {
		l->out[l->nout++] = (struct link_mqtt__out){.mid = m, .qos = qos, .len = len};
		l->out_bytes += len;
	}
	if (l->out_full) {
		l->out_full = 0;
		log_info("mqtt %s: the broker takes messages again", l->name);
	}
	if (mid)
		*mid = m;
	if (pub_cb && qos > 0) {
		struct link_mqtt__pub *p = calloc(1, sizeof *p);
		if (p) {
			p->mid = m;
			p->cb = pub_cb;
			p->ctx = ctx;
			p->next = l->pubs;
			l->pubs = p;
		}
	}
	link_mqtt__update_poll(l);
	return 0;
}

bool link_mqtt_is_up(const struct link_mqtt *l)
{
	return l && l->state == LINK_MQTT__UP;
}

const char *link_mqtt_name(const struct link_mqtt *l)
{
	return l->name;
}

int link_mqtt_limit(struct link_mqtt *l, void *ctx, size_t max_len, link_mqtt_msg_cb drop_cb)
{
	int n = 0;
	if (!l)
		return MB_EINVAL;
	if (max_len > LINK_MQTT_MAX_MESSAGE)
		max_len = LINK_MQTT_MAX_MESSAGE;
	if (!l->nbuckets)
		return MB_ENOENT;
	for (struct link_mqtt__sub *s = l->by_ctx[link_mqtt__hash_ctx(l, ctx)]; s;
	     s = s->ctx_next) {
		if (s->dead || s->ctx != ctx)
			continue;
		s->max_len = max_len;
		s->drop_cb = drop_cb;
		n++;
	}
	return n ? 0 : MB_ENOENT;
}

static void link_mqtt__close(struct link_mqtt *l)
{
	for (struct link_mqtt **pp = &link_mqtt__links; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	int was_up = l->state == LINK_MQTT__UP;
	/* CLOSING first: libmosquitto calls on_disconnect from inside
	 * mosquitto_disconnect(), which must not look like a lost link. */
	l->state = LINK_MQTT__CLOSING;
	if (was_up) {
		/* A clean DISCONNECT keeps the broker from publishing our will. */
		mosquitto_disconnect(l->mosq);
		log_info("mqtt %s: disconnected", l->name);
	}
	link_mqtt__poll_close(l);
	link_mqtt__close_handle(l, (uv_handle_t *)&l->misc, link_mqtt__on_handle_closed);
	link_mqtt__close_handle(l, (uv_handle_t *)&l->retry, link_mqtt__on_handle_closed);
	link_mqtt__close_handle(l, (uv_handle_t *)&l->notify, link_mqtt__on_handle_closed);
	link_mqtt__close_handle(l, (uv_handle_t *)&l->tls_kick, link_mqtt__on_handle_closed);
	/* A lookup running on the thread pool cannot be cancelled; its
	 * callback (UV_ECANCELED or not) releases the link then. */
	if (l->gai_busy)
		uv_cancel((uv_req_t *)&l->gai);
}

void link_mqtt_release(struct link_mqtt *l, void *ctx)
{
	if (!l)
		return;
	for (struct link_mqtt__sub *s = l->nbuckets ? l->by_ctx[link_mqtt__hash_ctx(l, ctx)] : NULL,
				   *next;
	     s; s = next) {
		next = s->ctx_next;
		if (s->dead || s->ctx != ctx)
			continue;
		s->dead = 1;
		/* Unsubscribe unless another subscriber still wants the topic. */
		int wanted = 0;
		for (struct link_mqtt__sub *o = *link_mqtt__topic_chain(l, s->wild, s->topic_hash);
		     o && !wanted; o = o->topic_next)
			wanted = !o->dead && strcmp(o->topic, s->topic) == 0;
		if (!wanted && l->state == LINK_MQTT__UP && l->refs > 1)
			mosquitto_unsubscribe(l->mosq, NULL, s->topic);
		/* Freed now, or after the dispatch that walks its chain. */
		if (l->dispatching)
			l->ndead++;
		else
			link_mqtt__remove(l, s);
	}
	for (struct link_mqtt__pub **pp = &l->pubs; *pp;) {
		struct link_mqtt__pub *p = *pp;
		if (p->ctx == ctx) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
	link_mqtt__sweep(l);
	if (--l->refs > 0) {
		link_mqtt__update_poll(l);
		return;
	}
	link_mqtt__close(l);
}

/* The web interface's server (include/http.h): libmicrohttpd on the libuv
 * loop, Digest authentication, routing, the static files. The documents and
 * the register write are in http_api.c.
 *
 * libmicrohttpd, not a parser of our own: it is packaged in Debian and
 * OpenWrt, made for embedding, and can be driven from an external event loop
 * through its epoll descriptor and MHD_get_timeout(). */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_internal.h"
#include "json.h"
#include "log.h"
#include "mb_error.h"

/* A request body larger than any write needs is refused (413). */
#define HTTP__MAX_BODY 4096
/* How long a digest nonce stays valid (s). */
#define HTTP__NONCE_TIMEOUT 300
/* An idle connection is closed after this many seconds. */
#define HTTP__IDLE_TIMEOUT 30
/* A request must arrive whole (request line, headers, body) within this many
 * seconds of its connection opening or of the previous answer on it, else its
 * connection is dropped: libmicrohttpd's timeout counts idleness only, which
 * a client sending a byte a second (slowloris) never reaches. */
#define HTTP__REQUEST_DEADLINE 10
/* What libmicrohttpd may hold per connection for the request line and
 * headers (its default, made explicit because docs/design.md's "Bounded
 * everything" names it): a longer URL is answered 414, longer headers 431. */
#define HTTP__CONN_MEMORY (32 * 1024)

/* libmicrohttpd 0.9.75 makes a Digest nonce of the request's URL and the
 * second (of its own clock) alone: clients challenged for the same URL
 * within one second get the same nonce. Each challenge resets the nonce's
 * count, so one after another they all get in; but two challenged before
 * either answered both answer with nc=1, and the second is refused as a
 * replay ("stale", which curl and most HTTP libraries do not retry). So
 * while a URL's challenge is pending (unanswered, and younger than
 * HTTP__CHALLENGE_GAP_MS: a second, and the clocks' coarseness), another
 * client's challenge for it is held, its connection suspended. When the
 * pending one is answered, the next held client is challenged; when it ages
 * unanswered (a client that never answers: a login dialog, a prober, an
 * attacker), every held client of the URL is, at once, so that clients who
 * never answer cannot queue the others up. At most HTTP__HELD_MAX are
 * held; more are challenged at once. */
#define HTTP__CHALLENGE_GAP_MS 1020
#define HTTP__HELD_MAX 16
/* The URLs challenged lately, for the gap (a ring; more distinct URLs than
 * this challenged in one second are not held). */
#define HTTP__RECENT 32

struct http_conn;
struct http_sock;

struct http_recent {
	uint32_t url; /* hash of the URL */
	uint64_t at;  /* uv_now of the challenge */
	int answered; /* a client got in on that URL since */
};

struct http {
	uv_loop_t *loop;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer; /* MHD_get_timeout(), and a kick after a resume */
	unsigned open_handles;
	int closing;
	struct config_http cfg; /* a copy: a reload frees the config it came from */
	char opaque[33];
	struct reload *set;
	struct server *server;
	struct http_stats stats;
	uint64_t started_ms;
	int port;
	struct http_conn *waiting; /* connections suspended on a write */
	struct http_conn *held;	   /* suspended until they may be challenged, oldest first */
	size_t nheld;
	struct http_recent recent[HTTP__RECENT];
	size_t nrecent;
	struct http_sock *socks; /* open connections, for the request deadline */
	uv_timer_t reaper;	 /* drops connections past the deadline */
};

/* One client connection (libmicrohttpd's socket context). */
struct http_sock {
	struct http *h;
	int fd;
	uint64_t since; /* when it opened, or its last answer went out (uv_now) */
	int busy;	/* a whole request arrived; not subject to the deadline */
	int dropped;	/* shut down by the reaper */
	struct http_sock *prev, *next;
};

/* One request on a connection (libmicrohttpd's per-request pointer). */
struct http_conn {
	struct http *h;
	struct MHD_Connection *c;
	char *body;
	size_t len;
	int too_big;
	struct http_write *write; /* at the device, the connection suspended */
	int ready;		  /* the write's answer came: send it */
	struct http_answer answer;
	struct http_conn *prev, *next; /* h->waiting */
	uint32_t url;		       /* hash of the URL, for the challenge gap */
	int owed;		       /* a challenge is owed (stale one when 2) */
	int released;		       /* held, now free to be challenged: 1 its challenge is
					* recorded already, 2 it is recorded when it goes out */
	struct http_conn *held_next;   /* h->held */
};

/* ------------------------------------------------------------ exports -- */

static http_status_fn http__exports;
static void *http__exports_ctx;

void http_set_exports(http_status_fn fn, void *ctx)
{
	http__exports = fn;
	http__exports_ctx = ctx;
}

void http_status_sections(struct json *j)
{
	if (http__exports)
		http__exports(http__exports_ctx, j);
	else
		json_raw(j, "{}");
}

/* ------------------------------------------------------ the loop glue -- */

static void http__on_timer(uv_timer_t *t);
static uint64_t http__release_held(struct http *h);

/* Let libmicrohttpd do what its descriptors and timeouts ask, then arm the
 * timer for its next timeout (or for the next held challenge). */
static void http__run(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (!h->mhd)
		return;
	http__release_held(h);
	uint64_t open = h->stats.connections;
	MHD_run(h->mhd);
	/* At max_connections libmicrohttpd takes its listening socket out of
	 * its epoll set, and puts it back only at the start of a run: after
	 * the run that closed connections nothing would wake us for the
	 * clients waiting to connect, and HTTP would stay deaf. */
	if (h->stats.connections < open && !h->closing)
		MHD_run(h->mhd);
	if (h->closing)
		return;
	if (MHD_get_timeout(h->mhd, &to) != MHD_YES)
		to = UINT64_MAX;
	/* Connections held in this run, or free to go now (then 0). */
	uint64_t held_wait = http__release_held(h);
	if (held_wait < to)
		to = held_wait;
	if (to != UINT64_MAX)
		uv_timer_start(&h->timer, http__on_timer, (uint64_t)to, 0);
	else
		uv_timer_stop(&h->timer);
}

static void http__on_timer(uv_timer_t *t)
{
	http__run(t->data);
}

static void http__on_poll(uv_poll_t *p, int status, int events)
{
	(void)status;
	(void)events;
	http__run(p->data);
}

/* libmicrohttpd's messages (bad requests, refused connections) at debug
 * level: a stranger's garbage must not fill the log. */
static void http__log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	(void)cls;
	if (!log_enabled(MBLOG_DEBUG))
		return;
	vsnprintf(buf, sizeof buf, fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("http: %s", buf);
}

/* ------------------------------------------------------------ answers -- */

static enum MHD_Result http__send(struct http_conn *k, unsigned status, const char *type,
				  void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result rc;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* The answer to a write that waited for its device: its client may
	 * have gone meanwhile, unnoticed while the connection was suspended
	 * (libmicrohttpd does not look at a suspended socket, and may not see
	 * the end of stream after resuming); closing after the answer frees
	 * the connection at once rather than at a timeout. */
	if (k->ready)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	rc = MHD_queue_response(k->c, status, r);
	MHD_destroy_response(r);
	k->h->stats.requests++;
	return rc;
}

static enum MHD_Result http__send_answer(struct http_conn *k, struct http_answer *a)
{
	char *body = a->body;
	a->body = NULL;
	if (!body) {
		static char oom[] = "{\"error\":\"out of memory\"}";
		return http__send(k, 500, "application/json", oom, strlen(oom),
				  MHD_RESPMEM_PERSISTENT);
	}
	return http__send(k, a->status, "application/json", body, a->len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result http__send_error(struct http_conn *k, unsigned status, const char *text)
{
	struct http_answer a;
	http_api_error(&a, status, text);
	return http__send_answer(k, &a);
}

/* ---------------------------------------------- the challenge gap -- */

/* FNV-1a: which URL, for the gap (a collision only holds a client longer). */
static uint32_t http__url_hash(const char *url)
{
	uint32_t x = 2166136261u;
	for (; *url; url++)
		x = (x ^ (uint8_t)*url) * 16777619u;
	return x;
}

/* url's latest challenge in the ring, or with pending set its oldest
 * pending one (NULL: none lately). */
static struct http_recent *http__challenge_of(struct http *h, uint32_t url, int pending)
{
	struct http_recent *r = NULL;
	uint64_t now = uv_now(h->loop);
	size_t n = h->nrecent < HTTP__RECENT ? h->nrecent : HTTP__RECENT;
	for (size_t i = 0; i < n; i++) {
		struct http_recent *e = &h->recent[i];
		if (e->url != url)
			continue;
		if (!pending ? !r || e->at > r->at
			     : !e->answered && now - e->at < HTTP__CHALLENGE_GAP_MS &&
				   (!r || e->at < r->at))
			r = e;
	}
	return r;
}

/* How long url's latest challenge stays pending (0: answered, aged or
 * none); *aged tells whether it aged unanswered. */
static uint64_t http__gap_left(struct http *h, uint32_t url, int *aged)
{
	struct http_recent *r = http__challenge_of(h, url, 0);
	uint64_t now = uv_now(h->loop);
	*aged = r && !r->answered && now - r->at >= HTTP__CHALLENGE_GAP_MS;
	return r && !r->answered && !*aged ? r->at + HTTP__CHALLENGE_GAP_MS - now : 0;
}

static void http__challenged(struct http *h, uint32_t url)
{
	h->recent[h->nrecent++ % HTTP__RECENT] = (struct http_recent){url, uv_now(h->loop), 0};
}

/* A client answered a challenge for url: the oldest open one is answered,
 * and a client held for the URL may be challenged (http__run releases it
 * after the libmicrohttpd run this is called from). */
static void http__answered(struct http *h, uint32_t url)
{
	struct http_recent *r = http__challenge_of(h, url, 1);
	if (r)
		r->answered = 1;
}

static void http__unhold(struct http *h, struct http_conn *k)
{
	for (struct http_conn **p = &h->held; *p; p = &(*p)->held_next)
		if (*p == k) {
			*p = k->held_next;
			k->held_next = NULL;
			h->nheld--;
			return;
		}
}

/* Resume the held connections whose URL has no pending challenge: after an
 * answer the oldest of the URL (the next waits for its answer), after one
 * that aged unanswered all of them. Returns 0 when it resumed one
 * (libmicrohttpd has to run for it), else the ms until a held one may go
 * (UINT64_MAX: none held). */
static uint64_t http__release_held(struct http *h)
{
	uint64_t wait = UINT64_MAX;

	if (!h->held)
		return wait;
	uv_update_time(h->loop);
	for (struct http_conn *k = h->held, *next; k; k = next) {
		next = k->held_next;
		int aged;
		uint64_t left = http__gap_left(h, k->url, &aged);
		if (left) {
			if (left < wait)
				wait = left;
			continue;
		}
		http__unhold(h, k);
		/* Its challenge goes out in the next run. After an answer the
		 * URL's gap starts now, for the next held one; after a client
		 * that did not answer, the others of the URL go too. */
		k->released = aged ? 2 : 1;
		if (!aged)
			http__challenged(h, k->url);
		MHD_resume_connection(k->c);
		wait = 0;
	}
	return wait;
}

/* 401 with a Digest challenge (stale=true when only the nonce was old).
 * Within its URL's gap it is owed instead: a connection whose whole request
 * arrived (can_hold) is held until the gap is over; a write still to send
 * its body gets it when the body is in. */
static enum MHD_Result http__challenge(struct http_conn *k, int stale, int can_hold)
{
	static char body[] = "{\"error\":\"authentication required (HTTP Digest)\"}";
	struct http *h = k->h;
	struct MHD_Response *r;
	enum MHD_Result rc;
	int aged;

	uv_update_time(h->loop);
	if (!k->released && !h->closing && http__gap_left(h, k->url, &aged) &&
	    (!can_hold || h->nheld < HTTP__HELD_MAX)) {
		k->owed = stale ? 2 : 1;
		if (!can_hold)
			return MHD_YES;
		struct http_conn **p = &h->held;
		while (*p)
			p = &(*p)->held_next;
		*p = k;
		h->nheld++;
		h->stats.challenges_held++;
		log_debug("http: %zu clients wait for a challenge (one a second for a URL)",
			  h->nheld);
		/* http__run arms the timer for its release. */
		MHD_suspend_connection(k->c);
		return MHD_YES;
	}
	if (k->released != 1)
		http__challenged(h, k->url);
	k->owed = 0;
	k->released = 0;
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	h->stats.auth_failures++;
	h->stats.requests++;
	rc = MHD_queue_auth_fail_response2(
	    k->c, h->cfg.realm, h->opaque, r, stale ? MHD_YES : MHD_NO,
	    h->cfg.sha256 ? MHD_DIGEST_ALG_SHA256 : MHD_DIGEST_ALG_MD5);
	MHD_destroy_response(r);
	return rc;
}

/* Does the request carry a valid Digest answer of a configured user? */
static int http__authorized(struct http_conn *k, int *stale)
{
	struct http *h = k->h;
	struct MHD_Connection *c = k->c;
	char *user = MHD_digest_auth_get_username(c);
	int rc = MHD_NO;

	*stale = 0;
	if (!user)
		return 0;
	for (size_t i = 0; i < h->cfg.nusers; i++)
		if (strcmp(h->cfg.users[i].name, user) == 0) {
			rc = MHD_digest_auth_check_digest2(
			    c, h->cfg.realm, user, h->cfg.users[i].ha1, h->cfg.users[i].ha1_len,
			    HTTP__NONCE_TIMEOUT,
			    h->cfg.sha256 ? MHD_DIGEST_ALG_SHA256 : MHD_DIGEST_ALG_MD5);
			break;
		}
	MHD_free(user);
	if (rc == MHD_INVALID_NONCE)
		*stale = 1;
	/* Right or wrong, the client answered its challenge (and used up the
	 * nonce's count). */
	http__answered(h, k->url);
	return rc == MHD_YES;
}

/* A Content-Length over what any write needs. */
static int http__declared_too_big(struct MHD_Connection *c)
{
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;
	unsigned long long n;

	if (!cl)
		return 0;
	n = strtoull(cl, &end, 10);
	return end != cl && n > HTTP__MAX_BODY;
}

static enum MHD_Result http__too_large(struct http_conn *k)
{
	k->too_big = 1;
	k->h->stats.too_large++;
	return http__send_error(k, 413, "request body too large (at most 4096 bytes)");
}

/* libmicrohttpd's URL unescaper, but "%00" stays as it is: decoded, it
 * would end the path early ("devices/x%00y/registers" read as "devices/x"),
 * and no name holds a NUL. */
static size_t http__unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *out = s;
	(void)cls;
	(void)c;
	for (const char *in = s; *in;) {
		unsigned v;
		if (in[0] == '%' && isxdigit((unsigned char)in[1]) &&
		    isxdigit((unsigned char)in[2]) && sscanf(in + 1, "%2x", &v) == 1 && v) {
			*out++ = (char)v;
			in += 3;
		} else {
			*out++ = *in++;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

/* ------------------------------------------------- request deadline -- */

/* A whole request arrived on c's connection: the deadline no longer applies
 * until its answer went out (http__completed). */
static void http__sock_busy(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_sock *s = i ? i->socket_context : NULL;
	if (s)
		s->busy = 1;
}

static void http__on_reaper(uv_timer_t *t)
{
	struct http *h = t->data;
	uint64_t now = uv_now(h->loop);

	for (struct http_sock *s = h->socks; s; s = s->next)
		if (!s->busy && !s->dropped && now - s->since >= HTTP__REQUEST_DEADLINE * 1000) {
			/* Not close(): the descriptor stays libmicrohttpd's,
			 * which sees the end of the stream and closes it. */
			shutdown(s->fd, SHUT_RDWR);
			s->dropped = 1;
			h->stats.slow_dropped++;
			log_debug("http: a connection sent no whole request within %d s: "
				  "dropped",
				  HTTP__REQUEST_DEADLINE);
		}
}

static void http__notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http *h = cls;
	struct http_sock *s = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *i =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!i || !(s = calloc(1, sizeof *s)))
			return; /* not watched: libmicrohttpd's idle timeout still holds */
		s->h = h;
		s->fd = i->connect_fd;
		s->since = uv_now(h->loop);
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		*socket_context = s;
		h->stats.connections++;
		log_debug("http: connection fd %d opened (%" PRIu64 " open)", s->fd,
			  h->stats.connections);
		if (!uv_is_active((uv_handle_t *)&h->reaper))
			uv_timer_start(&h->reaper, http__on_reaper, 1000, 1000);
		return;
	}
	if (!s)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->stats.connections--;
	log_debug("http: connection fd %d closed (%" PRIu64 " open)", s->fd, h->stats.connections);
	free(s);
	*socket_context = NULL;
	if (!h->socks)
		uv_timer_stop(&h->reaper);
}

/* ------------------------------------------------------------ routing -- */

static void http__unwait(struct http_conn *k)
{
	struct http *h = k->h;
	if (k->prev)
		k->prev->next = k->next;
	else if (h->waiting == k)
		h->waiting = k->next;
	if (k->next)
		k->next->prev = k->prev;
	k->prev = k->next = NULL;
}

/* The device answered the write: resume the connection; libmicrohttpd calls
 * the handler again, which sends the answer. Not run from inside MHD_run
 * (a device answers on the loop), but MHD_run is still left to the timer. */
static void http__write_done(void *ctx, struct http_answer *a)
{
	struct http_conn *k = ctx;
	struct http *h = k->h;

	k->write = NULL;
	k->answer = *a;
	k->ready = 1;
	http__unwait(k);
	MHD_resume_connection(k->c);
	if (!h->closing)
		uv_timer_start(&h->timer, http__on_timer, 0, 0);
}

static struct http_view http__view(struct http *h)
{
	uv_update_time(h->loop);
	return (struct http_view){.set = h->set,
				  .server = h->server,
				  .stats = &h->stats,
				  .started_ms = h->started_ms,
				  .now_ms = uv_now(h->loop)};
}

/* "/api/v1/devices/x/registers" -> parts "devices", "x", "registers". */
static size_t http__split(char *path, char **parts, size_t max)
{
	size_t n = 0;
	for (char *save = NULL, *p = strtok_r(path, "/", &save); p;
	     p = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return max + 1;
		parts[n++] = p;
	}
	return n;
}

static enum MHD_Result http__api(struct http_conn *k, const char *url, int get, int post)
{
	struct http *h = k->h;
	struct http_view v = http__view(h);
	struct http_answer a = {0};
	char path[512], *p[5];
	size_t n;

	if (strlen(url) >= sizeof path)
		return http__send_error(k, 404, "no such resource");
	snprintf(path, sizeof path, "%s", url);
	n = http__split(path, p, 5);
	if (n == 1 && strcmp(p[0], "openapi.json") == 0 && get)
		return http__send(k, 200, "application/json", (void *)http_asset_openapi_json,
				  http_asset_openapi_json_len, MHD_RESPMEM_PERSISTENT);
	if (n == 1 && strcmp(p[0], "status") == 0 && get)
		http_api_status(&v, &a);
	else if (n == 1 && strcmp(p[0], "devices") == 0 && get)
		http_api_devices(&v, &a);
	else if (n == 2 && strcmp(p[0], "devices") == 0 && get)
		http_api_device(&v, p[1], &a);
	else if (n == 3 && strcmp(p[0], "devices") == 0 && strcmp(p[2], "registers") == 0 && get)
		http_api_registers(&v, p[1], &a);
	else if (n == 2 && strcmp(p[0], "maps") == 0 && get)
		http_api_map(&v, p[1], &a);
	else if (n == 4 && strcmp(p[0], "devices") == 0 && strcmp(p[2], "registers") == 0 && post) {
		if (k->too_big)
			return http__send_error(k, 413, "request body too large");
		h->stats.writes++;
		if (http_api_write(&v, p[1], p[3], k->body, k->len, http__write_done, k, &k->write,
				   &a)) {
			/* Answered when the device acknowledged (or failed). */
			k->next = h->waiting;
			if (h->waiting)
				h->waiting->prev = k;
			h->waiting = k;
			MHD_suspend_connection(k->c);
			return MHD_YES;
		}
	} else if (n == 4 && strcmp(p[0], "devices") == 0 && strcmp(p[2], "registers") == 0)
		return http__send_error(k, 405, "use POST to write a register");
	else if (n >= 1 && n <= 3 && !get)
		return http__send_error(k, 405, "only GET is served here");
	else
		return http__send_error(k, 404, "no such resource");
	return http__send_answer(k, &a);
}

static enum MHD_Result http__handler(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version, const char *upload,
				     size_t *upload_size, void **con_cls)
{
	struct http *h = cls;
	struct http_conn *k = *con_cls;
	int get =
	    strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int post =
	    strcmp(method, MHD_HTTP_METHOD_POST) == 0 || strcmp(method, MHD_HTTP_METHOD_PUT) == 0;
	int stale;

	(void)version;
	if (!k) {
		if (!(k = calloc(1, sizeof *k)))
			return MHD_NO;
		k->h = h;
		k->c = c;
		k->url = http__url_hash(url);
		*con_cls = k;
		/* The headers are in: refuse a write without credentials, and
		 * a body too large, before a byte of the body is read (nor 100
		 * Continue sent); the connection is closed after the answer.
		 * A GET is checked once it arrived, so that its connection is
		 * kept alive after a challenge. */
		if (post && !http__authorized(k, &stale)) {
			enum MHD_Result rc = http__challenge(k, stale, 0);
			if (!k->owed || !http__declared_too_big(c))
				return rc;
			k->owed = 0;
			return http__too_large(k);
		}
		if (http__declared_too_big(c))
			return http__too_large(k);
		return MHD_YES;
	}
	if (k->ready)
		return http__send_answer(k, &k->answer);
	if (*upload_size && k->owed) {
		/* A write that gets a challenge: its body is counted, not kept. */
		k->len += *upload_size;
		*upload_size = 0;
		if (k->len > HTTP__MAX_BODY) {
			h->stats.too_large++;
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (k->len + *upload_size > HTTP__MAX_BODY) {
			/* A chunked body (no Content-Length) that grew too long:
			 * the rest is never read. */
			/* libmicrohttpd (0.9.75) takes no answer in the middle
			 * of a body: close the connection (counted). */
			h->stats.too_large++;
			return MHD_NO;
		} else {
			char *b = realloc(k->body, k->len + *upload_size + 1);
			if (!b)
				return MHD_NO;
			memcpy(b + k->len, upload, *upload_size);
			k->len += *upload_size;
			b[k->len] = '\0';
			k->body = b;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	/* Everything arrived (a write was authorized on the first call).
	 * Reads need a user too, unless read_only_without_auth (a LAN
	 * dashboard). */
	if (k->owed)
		return http__challenge(k, k->owed == 2, 1);
	if (!post && !h->cfg.read_only_without_auth && !http__authorized(k, &stale))
		return http__challenge(k, stale, 1);
	http__sock_busy(c);
	if (strncmp(url, "/api/v1/", 8) == 0)
		return http__api(k, url + 8, get, post);
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
		if (!get)
			return http__send_error(k, 405, "only GET is served here");
		return http__send(k, 200, "text/html; charset=utf-8", (void *)http_asset_index_html,
				  http_asset_index_html_len, MHD_RESPMEM_PERSISTENT);
	}
	return http__send_error(k, 404, "no such resource");
}

static void http__completed(void *cls, struct MHD_Connection *c, void **con_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct http_conn *k = *con_cls;
	struct http *h = cls;
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_sock *s = i ? i->socket_context : NULL;

	(void)toe;
	if (s) {
		/* The next request on a kept-alive connection has its own
		 * deadline, from now. */
		s->busy = 0;
		s->since = uv_now(h->loop);
	}
	if (!k)
		return;
	if (k->write)
		http_api_write_cancel(k->write);
	http__unwait(k);
	http__unhold(h, k);
	free(k->answer.body);
	free(k->body);
	free(k);
	*con_cls = NULL;
}

/* ------------------------------------------------------- start, close -- */

static int http__copy_cfg(struct config_http *dst, const struct config_http *src)
{
	memset(dst, 0, sizeof *dst);
	*dst = *src;
	dst->listen = strdup(src->listen);
	dst->realm = strdup(src->realm);
	dst->users = calloc(src->nusers ? src->nusers : 1, sizeof *dst->users);
	dst->nusers = 0;
	if (!dst->listen || !dst->realm || !dst->users || http_config_copy_tls(dst, src) != 0)
		return MB_ENOMEM;
	for (size_t i = 0; i < src->nusers; i++) {
		dst->users[i] = src->users[i];
		if (!(dst->users[i].name = strdup(src->users[i].name)))
			return MB_ENOMEM;
		dst->nusers = i + 1;
	}
	return 0;
}

static void http__free(struct http *h)
{
	free(h->cfg.listen);
	free(h->cfg.realm);
	for (size_t i = 0; i < h->cfg.nusers; i++)
		free(h->cfg.users[i].name);
	free(h->cfg.users);
	http_config_free_tls(&h->cfg);
	free(h);
}

static void http__on_close(uv_handle_t *hd)
{
	struct http *h = hd->data;
	if (--h->open_handles == 0)
		http__free(h);
}

/* Random bytes for the nonces and the opaque value. */
static int http__random(uint8_t *buf, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, buf, n) : -1;
	if (fd >= 0)
		close(fd);
	return got == (ssize_t)n ? 0 : -1;
}

int http_start(uv_loop_t *loop, const struct config_http *cfg, struct reload *set,
	       struct server *server, struct http **out, char *err, size_t errlen)
{
	static uint8_t rnd[32];
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct http *h = calloc(1, sizeof *h);
	const union MHD_DaemonInfo *info;
	uint8_t op[16];

	*out = NULL;
	if (!h || http__copy_cfg(&h->cfg, cfg) != 0) {
		if (h)
			http__free(h);
		snprintf(err, errlen, "http: out of memory");
		return MB_ENOMEM;
	}
	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, cfg->listen, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cfg->port);
	} else if (inet_pton(AF_INET6, cfg->listen, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		http__free(h);
		snprintf(err, errlen, "http: listen %s: not an address", cfg->listen);
		return MB_EADDR;
	}
	if (http__random(rnd, sizeof rnd) != 0 || http__random(op, sizeof op) != 0) {
		http__free(h);
		snprintf(err, errlen, "http: cannot read /dev/urandom");
		return MB_EIO;
	}
	for (size_t i = 0; i < sizeof op; i++)
		snprintf(h->opaque + 2 * i, 3, "%02x", op[i]);
	h->loop = loop;
	h->set = set;
	h->server = server;
	/* HTTPS (the `tls` group): libmicrohttpd's TLS (GnuTLS) with the PEM
	 * text read with the config; the copy in h->cfg lives as long as the
	 * daemon. Without it the array holds the end alone. */
	struct MHD_OptionItem tls[] = {
	    {MHD_OPTION_HTTPS_MEM_KEY, 0, h->cfg.tls_key_pem},
	    {MHD_OPTION_HTTPS_MEM_CERT, 0, h->cfg.tls_cert_pem},
	    {MHD_OPTION_END, 0, NULL},
	};
	if (h->cfg.tls_key_pem && h->cfg.tls_cert_pem)
		flags |= MHD_USE_TLS;
	else
		tls[0].option = MHD_OPTION_END;
	/* The logger first: libmicrohttpd prints what comes before it to
	 * stderr. */
	h->mhd = MHD_start_daemon(
	    flags, (uint16_t)cfg->port, NULL, NULL, http__handler, h, MHD_OPTION_EXTERNAL_LOGGER,
	    http__log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HTTP__IDLE_TIMEOUT, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HTTP__CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, http__completed, h,
	    MHD_OPTION_NOTIFY_CONNECTION, http__notify_conn, h, MHD_OPTION_DIGEST_AUTH_RANDOM,
	    sizeof rnd, rnd, MHD_OPTION_NONCE_NC_SIZE, 256u, MHD_OPTION_UNESCAPE_CALLBACK,
	    http__unescape, h, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (!h->mhd || !(info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD))) {
		snprintf(err, errlen, "http: listen %s:%d: cannot start the server (%s)",
			 cfg->listen, cfg->port,
			 (flags & MHD_USE_TLS) ? "address in use, or http.tls's key does not fit "
						 "its certificate?"
					       : "address in use?");
		if (h->mhd)
			MHD_stop_daemon(h->mhd);
		http__free(h);
		return MB_EIO;
	}
	const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = pi ? pi->port : cfg->port;
	uv_poll_init(loop, &h->poll, info->epoll_fd);
	uv_timer_init(loop, &h->timer);
	uv_timer_init(loop, &h->reaper);
	h->poll.data = h->timer.data = h->reaper.data = h;
	h->open_handles = 3;
	uv_poll_start(&h->poll, UV_READABLE, http__on_poll);
	h->started_ms = uv_now(loop);
	http__run(h);
	if (flags & MHD_USE_TLS)
		log_info("http: HTTPS with the certificate %s", cfg->tls_cert);
	log_info("http: listening on %s port %d (%s)", cfg->listen, h->port,
		 cfg->read_only_without_auth ? "reads without authentication"
					     : "Digest authentication");
	*out = h;
	return 0;
}

int http_port(const struct http *h)
{
	return h->port;
}

const struct config_http *http_config(const struct http *h)
{
	return &h->cfg;
}

void http_close(struct http *h)
{
	if (!h || h->closing)
		return;
	/* Writes still at a device: forget them and answer 503, so that no
	 * connection stays suspended when the server stops. */
	while (h->waiting) {
		struct http_conn *k = h->waiting;
		struct http_answer a;
		http_api_write_cancel(k->write);
		k->write = NULL;
		http_api_error(&a, 503, "the daemon is stopping; the write's outcome is unknown");
		http__write_done(k, &a);
	}
	/* Held challenges go out now. */
	while (h->held) {
		struct http_conn *k = h->held;
		http__unhold(h, k);
		k->released = 1;
		MHD_resume_connection(k->c);
	}
	MHD_run(h->mhd);
	h->closing = 1;
	uv_poll_stop(&h->poll);
	MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
	uv_close((uv_handle_t *)&h->poll, http__on_close);
	uv_close((uv_handle_t *)&h->timer, http__on_close);
	uv_close((uv_handle_t *)&h->reaper, http__on_close);
}

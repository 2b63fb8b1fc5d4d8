/* The web interface's server (include/http.h): libmicrohttpd on the libuv
 * loop, Digest authentication, routing, the static files. The documents,
 * the register write and the exporter settings are reached through the REST
 * API's table of routes (http_api.h), the daemon's hooks are handed to them
 * in the view (http_internal.h), so that nothing here knows their insides.
 *
 * libmicrohttpd, not a parser of our own: it is packaged in Debian and
 * OpenWrt, made for embedding, and can be driven from an external event loop
 * through its epoll descriptor and MHD_get_timeout(). */
#include "http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dl_mhd.h"
#include "history.h"
#include "http_api.h"
#include "http_digest.h"
#include "http_internal.h"
#include "json.h"
#include "log.h"
#include "mb_error.h"
#include "reload.h"

/* A request body larger than any write needs is refused (413). */
#define HTTP__MAX_BODY 4096
/* How long a Digest nonce stays valid (s). */
#define HTTP__NONCE_TIMEOUT 300
/* Nonces remembered at once (a ring: the oldest is forgotten first, and a
 * client answering it gets a new one, stale=true). Each challenge takes
 * one, so a client has to answer before this many others were challenged:
 * a flood of a few thousand requests a second still leaves a client that
 * answers at once (curl, a browser, a script: within milliseconds) its
 * nonce. */
#define HTTP__NONCES 1024
/* An idle connection is closed after this many seconds (libmicrohttpd's
 * own timeout; the head deadline below comes first for most). */
#define HTTP__IDLE_TIMEOUT 30
/* A request must arrive whole (request line, headers, body) within this many
 * seconds of its connection opening or of the previous answer on it, else its
 * connection is dropped: libmicrohttpd's timeout counts idleness only, which
 * a client sending a byte a second (slowloris) never reaches. */
#define HTTP__REQUEST_DEADLINE 10
/* And its head (request line and headers) within this many ms: a browser or
 * a script sends it in one packet, while a connection that sends nothing,
 * or part of a head, holds one of the max_connections slots (a slow or
 * silent client, or one that sent part and left: libmicrohttpd does not see
 * that close). The reaper looks every HTTP__REAP_MS and also drops a
 * connection whose client has closed it. */
#define HTTP__HEAD_DEADLINE_MS 5000
#define HTTP__REAP_MS 500
/* While every slot is taken, a connection without a whole head gets only
 * this long: attackers from many addresses (past max_per_ip) then hold a
 * slot for about a second, and the clients queued behind them move on. A
 * real client's head follows its connection within a round trip. */
#define HTTP__PRESSED_HEAD_MS 1000
/* What libmicrohttpd may hold per connection for the request line and
 * headers (its default, made explicit because docs/design.md's "Bounded
 * everything" names it): a longer URL is answered 414, longer headers 431. */
#define HTTP__CONN_MEMORY (32 * 1024)

struct http_conn;
struct http_sock;

/* A nonce we gave out (docs/design.md, "Web interface security"): fresh
 * random bytes per challenge, accepted with each count once. */
struct http_nonce {
	uint8_t id[16];
	uint64_t issued; /* uv_now; 0: free */
	uint32_t max_nc; /* the highest count accepted */
	uint64_t seen;	 /* bit i: count max_nc - i accepted */
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
	struct http_sock *socks;   /* open connections, for the deadlines */
	uv_timer_t reaper;	   /* drops connections past a deadline or closed */
	uv_timer_t sampler;	   /* the summary history's samples */
	struct history *history;
	struct http_nonce *nonces; /* HTTP__NONCES */
	size_t next_nonce;
	uint8_t secret[32];		/* for nonces when getrandom() cannot give them */
	uint64_t counter;		/* likewise */
	uint8_t dummy_ha1[32];		/* an unknown user's answer is checked against it */
	char hostname[256];		/* the machine's, lower case ("" if none) */
	struct sockaddr_storage *addrs; /* the machine's addresses (getifaddrs) */
	size_t naddrs;
	uint64_t addrs_at; /* when they were read (uv_now) */
};

/* One client connection (libmicrohttpd's socket context). */
struct http_sock {
	struct http *h;
	int fd;
	uint64_t since; /* when it opened, or its last answer went out (uv_now) */
	int head;	/* the request line and headers arrived */
	int busy;	/* a whole request arrived; not subject to the deadlines */
	int dropped;	/* shut down by the reaper */
	struct http_sock *prev, *next;
};

/* One request on a connection (libmicrohttpd's per-request pointer, made
 * when its request line arrived). */
struct http_conn {
	struct http *h;
	struct MHD_Connection *c;
	char *target; /* the request target as sent, for the Digest uri */
	int started;  /* the handler saw its headers */
	char *body;
	size_t len;
	int too_big;
	struct http_write *write; /* at the device, the connection suspended */
	int ready;		  /* the write's answer came: send it */
	struct http_answer answer;
	struct http_conn *prev, *next; /* h->waiting */
};

/* ------------------------------------------------------------ exports -- */

static http_status_fn http__exports;
static void *http__exports_ctx;

void http_set_exports(http_status_fn fn, void *ctx)
{
	http__exports = fn;
	http__exports_ctx = ctx;
}

static http_reload_fn http__reload;
static void *http__reload_ctx;

void http_set_reload(http_reload_fn fn, void *ctx)
{
	http__reload = fn;
	http__reload_ctx = ctx;
}

static http_status_fn http__listeners;
static void *http__listeners_ctx;

void http_set_listeners(http_status_fn fn, void *ctx)
{
	http__listeners = fn;
	http__listeners_ctx = ctx;
}

/* ------------------------------------------------------ the loop glue -- */

static void http__on_timer(uv_timer_t *t);

/* Let libmicrohttpd do what its descriptors and timeouts ask, then arm the
 * timer for its next timeout. */
static void http__run(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG to;

	if (!h->mhd)
		return;
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
	if (MHD_get_timeout(h->mhd, &to) == MHD_YES)
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

/* An answer. Of an embedded document (asset): its two forms differ by the
 * request's Accept-Encoding, which Vary says to caches; gzip: it is sent
 * compressed. */
static enum MHD_Result http__send_as(struct http_conn *k, unsigned status, const char *type,
				     void *body, size_t len, enum MHD_ResponseMemoryMode mode,
				     int asset, int gzip)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result rc;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (gzip)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	if (asset)
		MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
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

static enum MHD_Result http__send(struct http_conn *k, unsigned status, const char *type,
				  void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	return http__send_as(k, status, type, body, len, mode, 0, 0);
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
	http_answer_error(&a, status, text);
	return http__send_answer(k, &a);
}

/* An embedded document (bridge/http_asset.c): its gzip bytes as they are to
 * a client that takes gzip, else inflated (once, then shared). Without
 * zlib, a client that takes no gzip is told what to do (406, logged once). */
static enum MHD_Result http__send_asset(struct http_conn *k, const char *type,
					const unsigned char *gz, size_t gzlen, size_t len)
{
	static int warned;
	char err[512];
	const unsigned char *body;
	const char *ae =
	    MHD_lookup_connection_value(k->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	int rc;

	if (http_accepts_gzip(ae))
		return http__send_as(k, 200, type, (void *)gz, gzlen, MHD_RESPMEM_PERSISTENT, 1, 1);
	if ((rc = http_asset_plain(gz, gzlen, len, &body, err, sizeof err)) == 0)
		return http__send_as(k, 200, type, (void *)body, len, MHD_RESPMEM_PERSISTENT, 1, 0);
	if (!warned++)
		log_warn("%s%s", err,
			 rc == -2 ? "; clients that take gzip (every browser, curl --compressed) "
				    "are served"
				  : "");
	if (rc == -2)
		return http__send_error(k, 406,
					"this document is stored gzip-compressed and zlib cannot "
					"be loaded here: ask with Accept-Encoding: gzip (curl "
					"--compressed), or install zlib");
	return http__send_error(k, 500,
				"the document cannot be inflated: ask with "
				"Accept-Encoding: gzip (curl --compressed)");
}

/* ------------------------------------------------------------ Digest -- */

/* Random bytes: getrandom(), without blocking; when it cannot (an old
 * kernel, or a router's pool not yet seeded at boot), SHA-256 of the
 * start-up secret and a counter. */
static void http__random(struct http *h, uint8_t *out, size_t n)
{
	if (getrandom(out, n, GRND_NONBLOCK) == (ssize_t)n)
		return;
	struct http_hash x;
	uint8_t d[32];
	http_digest_hash_init(&x, 1);
	http_digest_hash_update(&x, h->secret, sizeof h->secret);
	h->counter++;
	http_digest_hash_update(&x, &h->counter, sizeof h->counter);
	http_digest_hash_final(&x, d);
	memcpy(out, d, n < sizeof d ? n : sizeof d);
}

/* A fresh nonce, remembered, in out: its slot (4 hex digits) and 16 random
 * bytes (32). */
static void http__new_nonce(struct http *h, char out[37])
{
	size_t i = h->next_nonce++ % HTTP__NONCES;
	struct http_nonce *n = &h->nonces[i];

	http__random(h, n->id, sizeof n->id);
	n->issued = uv_now(h->loop) | 1; /* never 0: 0 is free */
	n->max_nc = 0;
	n->seen = 0;
	snprintf(out, 5, "%04zx", i);
	http_digest_hex(n->id, sizeof n->id, out + 4);
}

static int http__hexval(int c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* The nonce text names a live nonce of ours, and count nc of it was not
 * accepted before: accept it (1). 0: unknown, expired or a count used. */
static int http__use_nonce(struct http *h, const char *text, uint32_t nc)
{
	uint8_t id[16];
	size_t slot = 0;

	if (strlen(text) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		int v = http__hexval((unsigned char)text[i]);
		if (v < 0)
			return 0;
		if (i < 4)
			slot = slot * 16 + (size_t)v;
		else if (i % 2 == 0)
			id[(i - 4) / 2] = (uint8_t)(v << 4);
		else
			id[(i - 4) / 2] |= (uint8_t)v;
	}
	if (slot >= HTTP__NONCES)
		return 0;
	struct http_nonce *n = &h->nonces[slot];
	uint8_t diff = 0;
	for (size_t i = 0; i < sizeof id; i++)
		diff |= id[i] ^ n->id[i];
	if (!n->issued || diff || uv_now(h->loop) - n->issued > HTTP__NONCE_TIMEOUT * 1000)
		return 0;
	/* Counts may come out of order (a browser's parallel requests on one
	 * nonce): any not seen within the last 64 is taken. */
	if (nc > n->max_nc) {
		uint32_t d = nc - n->max_nc;
		n->seen = d >= 64 ? 0 : n->seen << d;
		n->seen |= 1;
		n->max_nc = nc;
		return 1;
	}
	uint32_t d = n->max_nc - nc;
	if (d >= 64 || (n->seen >> d) & 1)
		return 0;
	n->seen |= (uint64_t)1 << d;
	return 1;
}

/* 401 with a Digest challenge (RFC 7616): a nonce of its own for each,
 * stale=true when the client's answer was right but its nonce was not (old,
 * forgotten or its count used up: it may retry without asking its user). */
static enum MHD_Result http__challenge(struct http_conn *k, int stale)
{
	static char body[] = "{\"error\":\"authentication required (HTTP Digest)\"}";
	/* For a page (the web page, the API page) a person sees this when
	 * the login is cancelled or refused: a small page, not JSON. */
	static char page[] =
	    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	    "<title>modbridge: login required</title></head>\n"
	    "<body style=\"font: 15px/1.5 system-ui, sans-serif; margin: 2em\">"
	    "<h1 style=\"font-size: 20px\">Login required</h1>\n"
	    "<p>This bridge asks for a user name and password (HTTP Digest, the users of "
	    "<code>http.users</code> in its config). Reload the page to log in again.</p>"
	    "</body></html>\n";
	struct http *h = k->h;
	const char *t = k->target ? k->target : "";
	int html = strncmp(t, "/api/v1/", 8) != 0 || t[8] == '\0' || t[8] == '?';
	char nonce[37], *hdr;
	size_t n = strlen(h->cfg.realm) + 200;
	enum MHD_Result rc = MHD_NO;
	struct MHD_Response *r;

	if (!(hdr = malloc(n)))
		return MHD_NO;
	uv_update_time(h->loop);
	http__new_nonce(h, nonce);
	snprintf(hdr, n,
		 "Digest realm=\"%s\", qop=\"auth\", algorithm=%s, nonce=\"%s\", "
		 "opaque=\"%s\"%s",
		 h->cfg.realm, h->cfg.sha256 ? "SHA-256" : "MD5", nonce, h->opaque,
		 stale ? ", stale=true" : "");
	r = MHD_create_response_from_buffer(html ? strlen(page) : strlen(body), html ? page : body,
					    MHD_RESPMEM_PERSISTENT);
	if (r) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
					html ? "text/html; charset=utf-8" : "application/json");
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, hdr);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		h->stats.auth_failures++;
		h->stats.requests++;
		rc = MHD_queue_response(k->c, MHD_HTTP_UNAUTHORIZED, r);
		MHD_destroy_response(r);
	}
	free(hdr);
	return rc;
}

/* Does the request carry a valid Digest answer of a configured user, to a
 * nonce of ours, with a count not used before? A configured user and an
 * unknown one are told apart by nothing but the password: an unknown
 * user's answer is checked against a random HA1 and fails like a wrong
 * password (stale only ever comes with a right answer). */
static int http__authorized(struct http_conn *k, const char *method, int *stale)
{
	struct http *h = k->h;
	const char *hdr =
	    MHD_lookup_connection_value(k->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	struct http_digest_auth a;
	const uint8_t *ha1 = h->dummy_ha1;
	size_t len, ha1_len = h->cfg.sha256 ? 32 : 16;
	char *buf, *end;
	int ok = 0;

	*stale = 0;
	if (!hdr || !k->target || !(buf = malloc((len = strlen(hdr)) + 1)))
		return 0;
	if (http_digest_parse(hdr, buf, len + 1, &a) != 0)
		goto out;
	const char *alg = a.v[HTTP_DA_ALGORITHM] ? a.v[HTTP_DA_ALGORITHM] : "MD5";
	const char *nc = a.v[HTTP_DA_NC];
	unsigned long count = strtoul(nc, &end, 16);
	/* What the challenge said, and the request target as sent (libmicrohttpd
	 * hands the handler the URL decoded and without its query). */
	if (strcmp(a.v[HTTP_DA_REALM], h->cfg.realm) != 0 ||
	    strcasecmp(alg, h->cfg.sha256 ? "SHA-256" : "MD5") != 0 ||
	    strcasecmp(a.v[HTTP_DA_QOP], "auth") != 0 || strcmp(a.v[HTTP_DA_URI], k->target) != 0 ||
	    strlen(nc) != 8 || *end || count == 0 || strspn(nc, "0123456789abcdefABCDEF") != 8)
		goto out;
	for (size_t i = 0; i < h->cfg.nusers; i++)
		if (strcmp(h->cfg.users[i].name, a.v[HTTP_DA_USERNAME]) == 0)
			ha1 = h->cfg.users[i].ha1;
	if (!http_digest_check(h->cfg.sha256, ha1, ha1_len, method, &a) || ha1 == h->dummy_ha1)
		goto out;
	uv_update_time(h->loop);
	if (http__use_nonce(h, a.v[HTTP_DA_NONCE], (uint32_t)count))
		ok = 1;
	else
		*stale = 1;
out:
	free(buf);
	return ok;
}

/* ----------------------------------------------- Host, Origin, type -- */

/* Refresh the machine's addresses (at most once a second). */
static void http__read_addrs(struct http *h)
{
	struct ifaddrs *ifa, *i;
	size_t n = 0;

	if (h->addrs && uv_now(h->loop) - h->addrs_at < 1000)
		return;
	h->addrs_at = uv_now(h->loop);
	if (getifaddrs(&ifa) != 0)
		return;
	for (i = ifa; i; i = i->ifa_next)
		n += i->ifa_addr &&
		     (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6);
	struct sockaddr_storage *a = calloc(n ? n : 1, sizeof *a);
	if (a) {
		n = 0;
		for (i = ifa; i; i = i->ifa_next)
			if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET)
				memcpy(&a[n++], i->ifa_addr, sizeof(struct sockaddr_in));
			else if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6)
				memcpy(&a[n++], i->ifa_addr, sizeof(struct sockaddr_in6));
		free(h->addrs);
		h->addrs = a;
		h->naddrs = n;
	}
	freeifaddrs(ifa);
}

/* Is the address (af: AF_INET or AF_INET6, 4 or 16 bytes) the machine's? */
static int http__local_addr(struct http *h, int af, const uint8_t *b)
{
	static const uint8_t lo6[16] = {[15] = 1};
	if ((af == AF_INET && b[0] == 127) || (af == AF_INET6 && memcmp(b, lo6, 16) == 0))
		return 1;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < h->naddrs; i++) {
			const struct sockaddr_storage *s = &h->addrs[i];
			if (s->ss_family != af)
				continue;
			const void *x =
			    af == AF_INET
				? (const void *)&((const struct sockaddr_in *)s)->sin_addr
				: (const void *)&((const struct sockaddr_in6 *)s)->sin6_addr;
			if (memcmp(x, b, af == AF_INET ? 4 : 16) == 0)
				return 1;
		}
		if (pass == 0) {
			/* Not among those read last: maybe a new one (DHCP). */
			uint64_t at = h->addrs_at;
			http__read_addrs(h);
			if (at == h->addrs_at)
				break;
		}
	}
	return 0;
}

/* A Host header's name: without the port, brackets or a final dot, lower
 * case, in out. -1 when it is not "name", "name:port" or "[v6]:port". */
static int http__host_name(const char *host, char *out, size_t outlen)
{
	const char *name = host, *rest;
	size_t n;

	if (*host == '[') {
		name = host + 1;
		if (!(rest = strchr(name, ']')))
			return -1;
		n = (size_t)(rest - name);
		rest++;
	} else {
		n = strcspn(host, ":");
		rest = host + n;
	}
	if (*rest == ':' && (!rest[1] || strspn(rest + 1, "0123456789") != strlen(rest + 1)))
		return -1;
	if (*rest && *rest != ':')
		return -1;
	if (n && name[n - 1] == '.')
		n--;
	if (!n || n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c >= 0x7f || c == '/' || c == '@')
			return -1;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
	}
	out[n] = '\0';
	return 0;
}

/* Is the request addressed to a name of ours (docs/user-guide.md, "Web
 * interface and REST API": the machine's addresses, localhost, its host
 * name, http.hosts)? A DNS-rebinding page's requests carry the attacker's
 * name. No Host at all (an HTTP/1.0 client, not a browser) is let through. */
static int http__host_ok(struct http *h, const char *host)
{
	char name[256];
	uint8_t b[16];

	if (!host)
		return 1;
	if (http__host_name(host, name, sizeof name) != 0)
		return 0;
	for (size_t i = 0; i < h->cfg.nhosts; i++)
		if (strcmp(h->cfg.hosts[i], "*") == 0 || strcmp(h->cfg.hosts[i], name) == 0)
			return 1;
	if (inet_pton(AF_INET, name, b) == 1)
		return http__local_addr(h, AF_INET, b);
	if (inet_pton(AF_INET6, name, b) == 1)
		return http__local_addr(h, AF_INET6, b);
	return strcmp(name, "localhost") == 0 || (h->hostname[0] && strcmp(name, h->hostname) == 0);
}

/* "host[:port]" of n bytes, without the scheme's default port. */
static size_t http__authority_len(const char *a, size_t n, int tls)
{
	const char *def = tls ? ":443" : ":80";
	size_t d = strlen(def);
	return n > d && strncmp(a + n - d, def, d) == 0 ? n - d : n;
}

/* Does url (an Origin, or a Referer) name this server as the client reached
 * it: the scheme, and the Host it sent? */
static int http__same_origin(const char *url, const char *host, int tls, int origin)
{
	const char *scheme = tls ? "https://" : "http://";
	size_t sl = strlen(scheme);

	if (!host || strncasecmp(url, scheme, sl) != 0)
		return 0;
	const char *a = url + sl;
	size_t an = strcspn(a, "/?#");
	if (origin && a[an])
		return 0;
	an = http__authority_len(a, an, tls);
	size_t hn = http__authority_len(host, strlen(host), tls);
	return an == hn && strncasecmp(a, host, an) == 0;
}

/* A write from a page of another origin (a cross-site form, or a script
 * there) is refused: its Origin, or without one its Referer, must be ours.
 * A client that sends neither (curl, a script) is not a browser. */
static int http__origin_ok(struct MHD_Connection *c)
{
	const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	const char *referer = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Referer");
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	int tls = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION) != NULL;

	if (origin)
		return http__same_origin(origin, host, tls, 1);
	if (referer)
		return http__same_origin(referer, host, tls, 0);
	return 1;
}

/* Content-Type: application/json (parameters such as charset allowed): the
 * type no HTML form can send. */
static int http__is_json(struct MHD_Connection *c)
{
	const char *t =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!t)
		return 0;
	t += strspn(t, " \t");
	if (strncasecmp(t, "application/json", 16) != 0)
		return 0;
	t += 16;
	t += strspn(t, " \t");
	return !*t || *t == ';';
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

/* c's connection's socket context. */
static struct http_sock *http__sock(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *i =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return i ? i->socket_context : NULL;
}

/* counted: past a deadline (slow_dropped); else the client had left. */
static void http__drop(struct http *h, struct http_sock *s, int counted, const char *why)
{
	/* Not close(): the descriptor stays libmicrohttpd's, which sees the
	 * end of the stream and closes it. */
	shutdown(s->fd, SHUT_RDWR);
	s->dropped = 1;
	if (counted)
		h->stats.slow_dropped++;
	log_debug("http: connection fd %d dropped: %s", s->fd, why);
}

/* The deadlines (a head within HTTP__HEAD_DEADLINE_MS, a whole request
 * within HTTP__REQUEST_DEADLINE s), and clients that left without
 * libmicrohttpd noticing. A connection whose request is being answered
 * (busy) is left alone. */
static void http__on_reaper(uv_timer_t *t)
{
	struct http *h = t->data;
	uint64_t now = uv_now(h->loop);
	uint64_t head_ms = h->stats.connections >= (uint64_t)h->cfg.max_connections
			       ? HTTP__PRESSED_HEAD_MS
			       : HTTP__HEAD_DEADLINE_MS;
	char c;

	for (struct http_sock *s = h->socks; s; s = s->next) {
		if (s->busy || s->dropped)
			continue;
		if (!s->head && now - s->since >= head_ms)
			http__drop(h, s, 1, "no request head within the deadline");
		else if (now - s->since >= HTTP__REQUEST_DEADLINE * 1000)
			http__drop(h, s, 1, "no whole request within the deadline");
		else if (recv(s->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			http__drop(h, s, 0, "the client closed it");
	}
	/* libmicrohttpd sees the shut-down sockets in its next run. */
	http__run(h);
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
			uv_timer_start(&h->reaper, http__on_reaper, HTTP__REAP_MS, HTTP__REAP_MS);
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
				  .now_ms = uv_now(h->loop),
				  .history = h->history,
				  .exports = http__exports,
				  .exports_ctx = http__exports_ctx,
				  .listeners = http__listeners,
				  .listeners_ctx = http__listeners_ctx,
				  .reload = http__reload,
				  .reload_ctx = http__reload_ctx};
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

/* The route of the REST API's table (http_api.h) that serves the target's
 * parts p[0..n) with the request's method: its get for a GET, its post or
 * write for a POST, or its refuse (405) for any other; NULL when there is
 * none (a route that serves neither and refuses nothing is none). */
static const struct http_route *http__route(char *const *p, size_t n, int get, int post)
{
	for (size_t i = 0; i < http_api_nroutes; i++) {
		const struct http_route *r = &http_api_routes[i];
		size_t m = 0;

		while (m < 4 && r->part[m][0] && m < n &&
		       (strcmp(r->part[m], "*") == 0 || strcmp(r->part[m], p[m]) == 0))
			m++;
		if (m != n || (m < 4 && r->part[m][0]))
			continue;
		if ((get && r->get) || (post && (r->post || r->write)) ||
		    (!get && !post && r->refuse))
			return r;
	}
	return NULL;
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
	if (n == 0 && get) /* /api/v1/: the API page (bridge/web/api.html) */
		return http__send_asset(k, "text/html; charset=utf-8", http_asset_api_html_gz,
					http_asset_api_html_gz_len, http_asset_api_html_len);
	if (n == 1 && strcmp(p[0], "openapi.json") == 0 && get)
		return http__send_asset(k, "application/json", http_asset_openapi_json_gz,
					http_asset_openapi_json_gz_len,
					http_asset_openapi_json_len);
	const struct http_route *r = http__route(p, n, get, post);
	if (r && get)
		r->get(&v, p, &a);
	else if (r && post && r->post) {
		/* Authorized, same origin and JSON: checked with the headers
		 * (http__handler), as for a register write. */
		if (k->too_big)
			return http__send_error(k, 413, "request body too large");
		r->post(&v, p, k->body, k->len, &a);
	} else if (r && post) {
		if (k->too_big)
			return http__send_error(k, 413, "request body too large");
		h->stats.writes++;
		if (r->write(&v, p, k->body, k->len, http__write_done, k, &k->write, &a)) {
			/* Answered when the device acknowledged (or failed). */
			k->next = h->waiting;
			if (h->waiting)
				h->waiting->prev = k;
			h->waiting = k;
			MHD_suspend_connection(k->c);
			return MHD_YES;
		}
	} else if (r)
		return http__send_error(k, 405, r->refuse);
	else if (n >= 1 && n <= 3 && !get)
		return http__send_error(k, 405, "only GET is served here");
	else
		return http__send_error(k, 404, "no such resource");
	return http__send_answer(k, &a);
}

/* A request line arrived: its request, with the target as the client sent
 * it (the Digest answer covers that text). */
static void *http__request(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_conn *k = calloc(1, sizeof *k);
	(void)c;
	if (k) {
		k->h = cls;
		k->target = strdup(uri);
	}
	return k;
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
	if (!k && !(k = *con_cls = calloc(1, sizeof *k)))
		return MHD_NO;
	if (!k->started) {
		struct http_sock *s = http__sock(c);
		k->h = h;
		k->c = c;
		k->started = 1;
		if (s)
			s->head = 1;
		/* The headers are in. A name not ours (DNS rebinding) gets
		 * nothing, not even a challenge. */
		const char *host =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
		if (!http__host_ok(h, host)) {
			log_debug("http: a request for a host name not ours: 421");
			return http__send_error(k, 421,
						"this server does not answer to that host name "
						"(http.hosts)");
		}
		/* A write from another origin (a cross-site form) gets no
		 * challenge either, so the browser shows its user no login. */
		if (!get && !http__origin_ok(c)) {
			log_debug("http: a write from another origin: 403");
			return http__send_error(k, 403, "a write from another origin is refused");
		}
		/* Refuse a write without credentials, and a body too large,
		 * before a byte of the body is read (nor 100 Continue sent);
		 * the connection is closed after the answer. A GET is checked
		 * once it arrived, so that its connection is kept alive after
		 * a challenge. */
		if (post && !http__authorized(k, method, &stale))
			return http__challenge(k, stale);
		if (post && !http__is_json(c))
			return http__send_error(k, 415,
						"a write takes Content-Type: application/json");
		if (http__declared_too_big(c))
			return http__too_large(k);
		return MHD_YES;
	}
	if (k->ready)
		return http__send_answer(k, &k->answer);
	if (*upload_size) {
		if (k->len + *upload_size > HTTP__MAX_BODY) {
			/* A chunked body (no Content-Length) that grew too long:
			 * the rest is never read. libmicrohttpd (0.9.75) takes no
			 * answer in the middle of a body: close the connection
			 * (counted). */
			h->stats.too_large++;
			return MHD_NO;
		}
		char *b = realloc(k->body, k->len + *upload_size + 1);
		if (!b)
			return MHD_NO;
		memcpy(b + k->len, upload, *upload_size);
		k->len += *upload_size;
		b[k->len] = '\0';
		k->body = b;
		*upload_size = 0;
		return MHD_YES;
	}
	/* Everything arrived (a write was authorized on the first call).
	 * Reads need a user too, unless read_only_without_auth (a LAN
	 * dashboard). */
	if (!post && !h->cfg.read_only_without_auth && !http__authorized(k, method, &stale))
		return http__challenge(k, stale);
	struct http_sock *s = http__sock(c);
	if (s)
		s->busy = 1;
	if (strncmp(url, "/api/v1/", 8) == 0)
		return http__api(k, url + 8, get, post);
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
		if (!get)
			return http__send_error(k, 405, "only GET is served here");
		return http__send_asset(k, "text/html; charset=utf-8", http_asset_index_html_gz,
					http_asset_index_html_gz_len, http_asset_index_html_len);
	}
	return http__send_error(k, 404, "no such resource");
}

static void http__completed(void *cls, struct MHD_Connection *c, void **con_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct http_conn *k = *con_cls;
	struct http *h = cls;
	struct http_sock *s = http__sock(c);

	(void)toe;
	if (s) {
		/* The next request on a kept-alive connection has its own
		 * deadlines, from now. */
		s->busy = 0;
		s->head = 0;
		s->since = uv_now(h->loop);
	}
	if (!k)
		return;
	if (k->write)
		http_api_write_cancel(k->write);
	http__unwait(k);
	free(k->answer.body);
	free(k->body);
	free(k->target);
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
	dst->hosts = calloc(src->nhosts ? src->nhosts : 1, sizeof *dst->hosts);
	dst->nhosts = 0;
	if (!dst->listen || !dst->realm || !dst->users || !dst->hosts ||
	    http_config_copy_tls(dst, src) != 0)
		return MB_ENOMEM;
	for (size_t i = 0; i < src->nusers; i++) {
		dst->users[i] = src->users[i];
		if (!(dst->users[i].name = strdup(src->users[i].name)))
			return MB_ENOMEM;
		dst->nusers = i + 1;
	}
	for (size_t i = 0; i < src->nhosts; i++) {
		if (!(dst->hosts[i] = strdup(src->hosts[i])))
			return MB_ENOMEM;
		dst->nhosts = i + 1;
	}
	return 0;
}

static void http__free(struct http *h)
{
	history_free(h->history);
	free(h->cfg.listen);
	free(h->cfg.realm);
	for (size_t i = 0; i < h->cfg.nusers; i++)
		free(h->cfg.users[i].name);
	free(h->cfg.users);
	for (size_t i = 0; i < h->cfg.nhosts; i++)
		free(h->cfg.hosts[i]);
	free(h->cfg.hosts);
	free(h->nonces);
	free(h->addrs);
	http_config_free_tls(&h->cfg);
	free(h);
}

/* A sample of every device's summary registers for the history. */
static void http__on_sample(uv_timer_t *t)
{
	struct http *h = t->data;
	struct timespec ts;
	size_t n;
	struct device *const *devs = reload_devices(h->set, &n);

	clock_gettime(CLOCK_REALTIME, &ts);
	history_sample(h->history, devs, n, uv_now(h->loop),
		       (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static void http__on_close(uv_handle_t *hd)
{
	struct http *h = hd->data;
	if (--h->open_handles == 0)
		http__free(h);
}

/* Random bytes for the start-up secret, the opaque value and the dummy HA1. */
static int http__urandom(uint8_t *buf, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, buf, n) : -1;
	if (fd >= 0)
		close(fd);
	return got == (ssize_t)n ? 0 : -1;
}

/* What the Host check needs to know of the machine (http__host_ok). */
static void http__names(struct http *h)
{
	if (gethostname(h->hostname, sizeof h->hostname) != 0)
		h->hostname[0] = '\0';
	h->hostname[sizeof h->hostname - 1] = '\0';
	for (char *p = h->hostname; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 'a' - 'A');
	http__read_addrs(h);
}

int http_start(uv_loop_t *loop, const struct config_http *cfg, struct reload *set,
	       struct server *server, struct http **out, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct http *h = calloc(1, sizeof *h);
	const union MHD_DaemonInfo *info;
	uint8_t op[16];

	*out = NULL;
	/* libmicrohttpd is opened by the first start of the web interface,
	 * not before: without an `http` group it is never mapped
	 * (include/dl.h). */
	if (dl_mhd_load("http", err, errlen) != 0) {
		free(h);
		return MB_EIO;
	}
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
	if (http__urandom(h->secret, sizeof h->secret) != 0 ||
	    http__urandom(h->dummy_ha1, sizeof h->dummy_ha1) != 0 ||
	    http__urandom(op, sizeof op) != 0 ||
	    !(h->nonces = calloc(HTTP__NONCES, sizeof *h->nonces))) {
		http__free(h);
		snprintf(err, errlen, "http: cannot read /dev/urandom");
		return MB_EIO;
	}
	for (size_t i = 0; i < sizeof op; i++)
		snprintf(h->opaque + 2 * i, 3, "%02x", op[i]);
	h->loop = loop;
	h->set = set;
	h->server = server;
	http__names(h);
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
	    MHD_OPTION_NOTIFY_CONNECTION, http__notify_conn, h, MHD_OPTION_URI_LOG_CALLBACK,
	    http__request, h, MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_per_ip,
	    MHD_OPTION_UNESCAPE_CALLBACK, http__unescape, h, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
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
	uv_timer_init(loop, &h->sampler);
	h->poll.data = h->timer.data = h->reaper.data = h->sampler.data = h;
	h->open_handles = 4;
	/* The summary history: HISTORY_SAMPLES samples per point. */
	if ((h->history = history_new((uint64_t)h->cfg.history_interval)) != NULL) {
		uint64_t every = (uint64_t)h->cfg.history_interval / HISTORY_SAMPLES;
		uv_timer_start(&h->sampler, http__on_sample, every, every);
	}
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
		http_answer_error(&a, 503,
				  "the daemon is stopping; the write's outcome is unknown");
		http__write_done(k, &a);
	}
	MHD_run(h->mhd);
	h->closing = 1;
	uv_poll_stop(&h->poll);
	MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
	uv_close((uv_handle_t *)&h->poll, http__on_close);
	uv_close((uv_handle_t *)&h->timer, http__on_close);
	uv_close((uv_handle_t *)&h->reaper, http__on_close);
	uv_close((uv_handle_t *)&h->sampler, http__on_close);
}

/* HTTP client requests on the libuv loop (include/link_http.h): libcurl's
 * multi interface with its sockets and its timer handed to libuv.
 *
 * libcurl says, per socket, what to wait for (the socket callback: IN, OUT,
 * both, or REMOVE before it closes the socket) and when it next needs time
 * (the timer callback). Each socket gets a uv_poll_t, the timeout one
 * uv_timer_t. When libuv reports readiness or the timer fires, libcurl is
 * told with curl_multi_socket_action(), and finished transfers are collected
 * with curl_multi_info_read(). libcurl is never called from inside one of
 * its own callbacks: the timer callback only (re)starts the uv timer, which
 * runs on the next loop iteration even for a timeout of 0. */
#include "link_http.h"

#include <stdlib.h>
#include <string.h>

#include "dl_curl.h"
#include "log.h"
#include "mb_error.h"

#ifndef MB_VERSION
#define MB_VERSION "unknown"
#endif

struct link_http__sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct link_http *c;
	struct link_http__sock *next; /* every socket still watched, for link_http_close */
};

struct link_http_req {
	struct link_http *c;
	CURL *easy;
	struct curl_slist *headers;
	link_http_cb cb;
	void *ctx;
	char body[LINK_HTTP_BODY_MAX + 1];
	size_t body_len;
	char errbuf[CURL_ERROR_SIZE];
	struct link_http_req *prev, *next;
};

struct link_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	unsigned refs; /* open libuv handles: the timer and each socket's poll */
	int closing;
	struct link_http_req *reqs;
	struct link_http__sock *socks;
};

/* libcurl's global state is set up once per process, as its documentation
 * asks (before any other call, from one thread), and released at exit. */
static int link_http__global(void)
{
	static int done;
	char err[256];
	if (done)
		return 0;
	/* Opened here when its user has not done it first (include/dl.h). */
	if (dl_curl_load("http client", err, sizeof err) != 0) {
		log_msg(MBLOG_ERR, "%s", err);
		return MB_EIO;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return MB_EIO;
	atexit(curl_global_cleanup);
	done = 1;
	return 0;
}

static void link_http__unref(struct link_http *c)
{
	if (--c->refs == 0 && c->closing)
		free(c);
}

static void link_http__on_sock_closed(uv_handle_t *h)
{
	struct link_http__sock *s = h->data;
	struct link_http *c = s->c;
	free(s);
	link_http__unref(c);
}

static void link_http__sock_close(struct link_http__sock *s)
{
	struct link_http__sock **pp;
	for (pp = &s->c->socks; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, link_http__on_sock_closed);
}

static void link_http__unlink(struct link_http_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		r->c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void link_http__req_free(struct link_http_req *r)
{
	if (r->c->multi)
		curl_multi_remove_handle(r->c->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r);
}

/* Collect finished transfers and report them. A callback may start a new
 * request or close the client; nothing of a finished request is touched
 * after its callback. */
static void link_http__collect(struct link_http *c)
{
	CURLMsg *m;
	int left;

	while (!c->closing && (m = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct link_http_req *r = NULL;
		struct link_http_result res = {0};
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (!r)
			continue;
		if (m->data.result == CURLE_OK) {
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		} else {
			res.error = r->errbuf[0] ? r->errbuf : curl_easy_strerror(m->data.result);
		}
		res.body = r->body;
		res.body_len = r->body_len;
		link_http__unlink(r);
		/* Out of the multi handle before the callback, which may close
		 * the client; the result points into r: freed after. */
		curl_multi_remove_handle(c->multi, r->easy);
		r->cb(r->ctx, &res);
		curl_easy_cleanup(r->easy);
		curl_slist_free_all(r->headers);
		free(r);
	}
}

static void link_http__on_poll(uv_poll_t *h, int status, int events)
{
	struct link_http__sock *s = h->data;
	struct link_http *c = s->c;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(c->multi, s->fd, flags, &running);
	link_http__collect(c);
}

static void link_http__on_timer(uv_timer_t *h)
{
	struct link_http *c = h->data;
	int running;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	link_http__collect(c);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what libcurl waits for. */
static int link_http__on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct link_http *c = userp;
	struct link_http__sock *s = socketp;
	int events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(c->multi, fd, NULL);
			link_http__sock_close(s);
		}
		return 0;
	}
	if (!s) {
		if (!(s = calloc(1, sizeof *s)))
			return -1;
		if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
			free(s);
			return -1;
		}
		s->fd = fd;
		s->c = c;
		s->poll.data = s;
		s->next = c->socks;
		c->socks = s;
		c->refs++;
		curl_multi_assign(c->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&s->poll, events, link_http__on_poll);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means "as soon as
 * possible", which the uv timer gives on the next iteration. */
static int link_http__on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
	struct link_http *c = userp;
	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, link_http__on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

/* The answer's body: the first LINK_HTTP_BODY_MAX bytes are kept (InfluxDB
 * says what it refused there), the rest is read and dropped. */
static size_t link_http__on_data(char *p, size_t size, size_t n, void *userp)
{
	struct link_http_req *r = userp;
	size_t len = size * n, room = LINK_HTTP_BODY_MAX - r->body_len;
	size_t take = len < room ? len : room;
	memcpy(r->body + r->body_len, p, take);
	r->body_len += take;
	r->body[r->body_len] = '\0';
	return len;
}

struct link_http *link_http_new(uv_loop_t *loop)
{
	struct link_http *c;

	if (link_http__global() != 0 || !(c = calloc(1, sizeof *c)))
		return NULL;
	if (!(c->multi = curl_multi_init())) {
		free(c);
		return NULL;
	}
	c->loop = loop;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	c->refs = 1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, link_http__on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, link_http__on_timeout);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

int link_http_post_start(struct link_http *c, const struct link_http_post *p, link_http_cb cb,
			 void *ctx, struct link_http_req **out)
{
	struct link_http_req *r;
	CURL *e;
	int bad = 0;

	if (c->closing)
		return MB_EINVAL;
	if (!(r = calloc(1, sizeof *r)))
		return MB_ENOMEM;
	if (!(r->easy = e = curl_easy_init())) {
		free(r);
		return MB_ENOMEM;
	}
	r->c = c;
	r->cb = cb;
	r->ctx = ctx;
	/* Without "Expect:", libcurl asks with "Expect: 100-continue" before a
	 * larger body and waits up to a second for the go-ahead. */
	if (!(r->headers = curl_slist_append(NULL, "Expect:"))) {
		link_http__req_free(r);
		return MB_ENOMEM;
	}
	for (size_t i = 0; p->headers && p->headers[i]; i++) {
		struct curl_slist *l = curl_slist_append(r->headers, p->headers[i]);
		if (!l) {
			link_http__req_free(r);
			return MB_ENOMEM;
		}
		r->headers = l;
	}
	bad |= curl_easy_setopt(e, CURLOPT_URL, p->url) != CURLE_OK;
	/* Only the web's protocols, whatever a URL says; no redirects: a
	 * write is answered where it was sent. */
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "modbridge/" MB_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, p->timeout_ms) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, link_http__on_data) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, r) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, r) != CURLE_OK;
	if (p->username) {
		bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, p->username) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, p->password ? p->password : "") !=
		       CURLE_OK;
	}
	if (p->ca_file)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file) != CURLE_OK;
	if (bad) {
		curl_easy_cleanup(e);
		curl_slist_free_all(r->headers);
		free(r);
		return MB_EINVAL;
	}
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		curl_slist_free_all(r->headers);
		free(r);
		return MB_ENOMEM;
	}
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	if (out)
		*out = r;
	return 0;
}

/* Abandon a request: its callback will not be called. */
static void link_http__cancel(struct link_http_req *r)
{
	if (!r)
		return;
	link_http__unlink(r);
	link_http__req_free(r);
}

static void link_http__on_timer_closed(uv_handle_t *h)
{
	link_http__unref(h->data);
}

void link_http_close(struct link_http *c)
{
	if (!c || c->closing)
		return;
	while (c->reqs)
		link_http__cancel(c->reqs);
	/* Cleaning up closes the connections libcurl kept for reuse; a socket
	 * it did not report removed is closed here. closing is set after, so
	 * that the socket callback still works during the cleanup. */
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
	c->closing = 1;
	while (c->socks)
		link_http__sock_close(c->socks);
	uv_close((uv_handle_t *)&c->timer, link_http__on_timer_closed);
}

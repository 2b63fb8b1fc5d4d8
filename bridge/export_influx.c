/* Values to InfluxDB (`influxdb`): line protocol (codec_line.h) over HTTP
 * (link_http.h: libcurl on the loop).
 *
 * Each round (export.c) makes one batch: for each device, a point per
 * time the device answered with the values it holds,
 *
 *     <measurement>,device=<name>,map=<map> <register>=<value>,... <ms>
 *
 * with a field per register whose value is current (values_current), as
 * values_line_field writes it: an integer (57i) for an integer register
 * without a scale, the scaled value as a float for one with a scale (52.3)
 * and for a float32 (none for NaN or an infinity), a string for a string
 * register. A field keeps its type as long as the map keeps its scale, as
 * InfluxDB wants (a field's type is fixed per shard). The timestamp is
 * when the device answered with those values (values_time), in ms
 * (precision=ms): the registers one native read brought share a point;
 * constant registers go with the newest. A value that is not current
 * (older than the device's freshness limit, or of a device that is not
 * answering or whose link is down) gets no field, and a device with none
 * gets no point: its last values are never written again as if they were
 * new. A value still current at the next round is written again with the
 * same time, which InfluxDB stores once.
 *
 * Batches wait in a bounded queue (`queue` batches, and EXPORT_INFLUX__MAX_BYTES
 * in all): when it is full the oldest batch that is not being sent is
 * dropped and its points counted. One request is in flight at a time; it
 * carries as many waiting batches as fit in EXPORT_INFLUX__MAX_BODY. A
 * request that fails for a reason that may pass (no connection, timeout,
 * 5xx, 429, 401/403/404) is retried after the links' back-off (backoff.h),
 * capped at half the time the queue holds;
 * one the server refuses for its content (400, 413, 422) is dropped and
 * counted, since sending it again would be refused again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "codec_line.h"
#include "device.h"
#include "dl_curl.h"
#include "export_influx.h"
#include "export_stat.h"
#include "link_http.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "values.h"

#define EXPORT_INFLUX__MAX_BODY (1024u * 1024u)
#define EXPORT_INFLUX__MAX_BYTES (8u * 1024u * 1024u)

struct export_influx__batch {
	struct export_influx__batch *next;
	char *text;
	size_t len, points;
};

struct export_influx {
	uv_loop_t *loop;
	struct link_http *http;
	char *url; /* the whole write URL, query included */
	char *auth_header;
	const char *headers[3];
	const char *username, *password, *ca_file; /* into cfg (export.c keeps it) */
	char *measurement;
	long timeout_ms;
	size_t max_batches;
	struct export_influx__batch *head, *tail;
	size_t nbatches, bytes;
	/* The request in flight: its body and how many batches of the head
	 * it carries. */
	struct link_http_req *req;
	char *body;
	size_t body_batches, body_points;
	struct backoff bo;
	uv_timer_t retry;
	int waiting; /* the retry timer runs */
	int down;    /* the last request failed (logged once per outage) */
	struct export_stat st;
};

static void export_influx__kick(struct export_influx *x);

/* --- building a batch ---------------------------------------------------- */

struct export_influx__build {
	struct line_writer *w;
	const struct device *dev;
	uint64_t now_ms;
	/* pass 1: the distinct answer times of the current values, and the
	 * newest (constants go there); pass 2: the time of the line */
	uint64_t *times;
	size_t ntimes, cap;
	uint64_t newest, when;
};

/* Pass 1: note the answer time of each current value. */
static int export_influx__time(void *ctx, const struct values_item *v)
{
	struct export_influx__build *b = ctx;
	uint64_t t;
	size_t i;

	if (!values_current(b->dev, v) || v->reg->is_const)
		return 0;
	t = values_time(b->dev, v, b->now_ms);
	if (t > b->newest)
		b->newest = t;
	for (i = 0; i < b->ntimes && b->times[i] != t; i++)
		;
	if (i == b->ntimes && b->ntimes < b->cap)
		b->times[b->ntimes++] = t;
	return 0;
}

/* Pass 2: the fields of the line stamped b->when. */
static int export_influx__field(void *ctx, const struct values_item *v)
{
	struct export_influx__build *b = ctx;
	const struct map_register *r = v->reg;

	if (!values_current(b->dev, v))
		return 0;
	if (r->is_const ? b->when != b->newest : values_time(b->dev, v, b->now_ms) != b->when)
		return 0;
	/* The field's type and text are values.c's, as every face's value is. */
	values_line_field(b->w, v);
	return 0;
}

static int export_influx__cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* dev's points, oldest first: the number written (0 when it has nothing
 * current), MB_ETOOBIG (the buffer holds none of them then; w->need says
 * how much the first that did not fit needs), or MB_ENOMEM. */
static int export_influx__point(struct export_influx *x, struct line_writer *w,
				const struct device *dev, uint64_t now_ms)
{
	size_t n = map_nregs(device_map(dev)), start = w->len;
	struct export_influx__build b = {.w = w, .dev = dev, .now_ms = now_ms, .cap = n};
	int points = 0;

	if (!n || !(b.times = malloc(n * sizeof *b.times)))
		return n ? MB_ENOMEM : 0;
	values_each(dev, now_ms, export_influx__time, &b);
	qsort(b.times, b.ntimes, sizeof *b.times, export_influx__cmp);
	for (size_t i = 0; i < b.ntimes; i++) {
		b.when = b.times[i];
		codec_line_begin(w, x->measurement);
		codec_line_tag(w, "device", device_name(dev));
		codec_line_tag(w, "map", map_name(device_map(dev)));
		values_each(dev, now_ms, export_influx__field, &b);
		int rc = codec_line_end(w, 1, (int64_t)b.when);
		if (rc == MB_ETOOBIG) {
			w->len = w->pos = start;
			if (w->cap > start)
				w->buf[start] = '\0';
			free(b.times);
			return rc;
		}
		if (rc != 0)
			log_debug("influxdb: %s: point not written: %s", device_name(dev),
				  mb_strerror(rc));
		points += rc == 0;
	}
	free(b.times);
	return points;
}

static void export_influx__drop_batch(struct export_influx *x, struct export_influx__batch *prev)
{
	struct export_influx__batch *b = prev ? prev->next : x->head;
	if (prev)
		prev->next = b->next;
	else
		x->head = b->next;
	if (x->tail == b)
		x->tail = prev;
	x->nbatches--;
	x->bytes -= b->len;
	x->st.queued -= b->points;
	free(b->text);
	free(b);
}

/* Make room for one more batch of len bytes: drop the oldest that is not
 * in flight. 0, or MB_EBUSY when every batch is in flight. */
static int export_influx__room(struct export_influx *x, size_t len)
{
	while (x->nbatches >= x->max_batches || x->bytes + len > EXPORT_INFLUX__MAX_BYTES) {
		struct export_influx__batch *prev = NULL;
		size_t skip = x->req ? x->body_batches : 0;
		for (size_t i = 0; i < skip && (prev ? prev->next : x->head); i++)
			prev = prev ? prev->next : x->head;
		struct export_influx__batch *victim = prev ? prev->next : x->head;
		if (!victim)
			return MB_EBUSY;
		x->st.dropped += victim->points;
		export_influx__drop_batch(x, prev);
	}
	return 0;
}

void export_influx_add(struct export_influx *x, const struct device *const *devs, size_t n,
		       uint64_t now_ms)
{
	size_t cap = 4096, points = 0;
	char *buf = malloc(cap);
	struct line_writer w;
	struct export_influx__batch *b;

	if (!buf)
		goto nomem;
	codec_line_writer_init(&w, buf, cap);
	for (size_t i = 0; i < n; i++) {
		int rc;
		while ((rc = export_influx__point(x, &w, devs[i], now_ms)) == MB_ETOOBIG) {
			/* Grow to what the writer asked for, and write the
			 * device's points again. */
			size_t len = w.len, want = w.need * 2;
			char *nb = want > EXPORT_INFLUX__MAX_BYTES ? NULL : realloc(buf, want);
			if (!nb)
				goto nomem;
			buf = nb;
			w.buf = buf;
			w.cap = want;
			w.len = w.pos = len;
		}
		if (rc == MB_ENOMEM)
			goto nomem;
		points += (size_t)rc;
	}
	if (!points) {
		free(buf);
		return;
	}
	if (export_influx__room(x, w.len) != 0) {
		x->st.dropped += points;
		free(buf);
		return;
	}
	if (!(b = calloc(1, sizeof *b)))
		goto nomem;
	b->text = buf;
	b->len = w.len;
	b->points = points;
	if (x->tail)
		x->tail->next = b;
	else
		x->head = b;
	x->tail = b;
	x->nbatches++;
	x->bytes += b->len;
	x->st.queued += points;
	export_influx__kick(x);
	return;
nomem:
	free(buf);
	x->st.dropped += n;
	export_stat_fail(&x->st, "out of memory");
}

/* --- sending ------------------------------------------------------------- */

static void export_influx__on_retry(uv_timer_t *h)
{
	struct export_influx *x = h->data;
	x->waiting = 0;
	export_influx__kick(x);
}

/* Drop the batches the request carried. */
static void export_influx__pop(struct export_influx *x)
{
	for (size_t i = 0; i < x->body_batches && x->head; i++)
		export_influx__drop_batch(x, NULL);
	free(x->body);
	x->body = NULL;
	x->req = NULL;
	x->body_batches = x->body_points = 0;
}

/* InfluxDB's error answers are {"error":"..."} (1.x) or
 * {"code":"...","message":"..."} (2.x): the text, for last_error. It is
 * the server's to choose: cut at 100 bytes, and line ends, control
 * characters and bytes that are not UTF-8 become spaces (log_clean), for the
 * status document; the log escapes whatever it gets anyway. */
static void export_influx__reason(const struct link_http_result *r, char *out, size_t len)
{
	const char *key = strstr(r->body, "\"error\":\"");
	size_t n = 0;
	if (!key)
		key = strstr(r->body, "\"message\":\"");
	if (key) {
		const char *s = strchr(key, ':') + 2;
		while (s[n] && s[n] != '"' && n < 100)
			n++;
		log_clean(out, len, s, n);
		return;
	}
	out[0] = '\0';
}

static void export_influx__on_done(void *ctx, const struct link_http_result *r)
{
	struct export_influx *x = ctx;
	char why[160];

	if (r->status >= 200 && r->status < 300) {
		x->st.sent += x->body_points;
		export_stat_ok(&x->st);
		if (x->down)
			log_info("influxdb: %s takes points again", x->st.target);
		x->down = 0;
		backoff_reset(&x->bo);
		export_influx__pop(x);
		export_influx__kick(x);
		return;
	}
	x->st.failed++;
	x->req = NULL;
	if (r->status == 400 || r->status == 413 || r->status == 422) {
		export_influx__reason(r, why, sizeof why);
		export_stat_fail(&x->st, "HTTP %ld: %s (%zu points dropped)", r->status, why,
				 x->body_points);
		log_warn("influxdb: %s refused %zu points: HTTP %ld: %s", x->st.target,
			 x->body_points, r->status, why);
		x->st.dropped += x->body_points;
		x->req = NULL;
		export_influx__pop(x);
		export_influx__kick(x);
		return;
	}
	free(x->body);
	x->body = NULL;
	if (r->status) {
		export_influx__reason(r, why, sizeof why);
		export_stat_fail(&x->st, "HTTP %ld%s%s", r->status, why[0] ? ": " : "", why);
	} else {
		export_stat_fail(&x->st, "%s", r->error ? r->error : "no answer");
	}
	uint64_t wait = backoff_next(&x->bo);
	if (!x->down)
		log_warn("influxdb: %s: %s; %llu points waiting, trying again in %llu ms",
			 x->st.target, x->st.last_error, (unsigned long long)x->st.queued,
			 (unsigned long long)wait);
	x->down = 1;
	x->waiting = 1;
	uv_timer_start(&x->retry, export_influx__on_retry, wait, 0);
}

static void export_influx__kick(struct export_influx *x)
{
	struct link_http_post p = {0};
	size_t len = 0, nb = 0, points = 0;
	struct export_influx__batch *b;

	if (x->req || x->waiting || !x->head)
		return;
	/* The batches that fit in one body; the first one always. */
	for (b = x->head; b && (nb == 0 || len + b->len <= EXPORT_INFLUX__MAX_BODY); b = b->next)
		len += b->len, nb++, points += b->points;
	if (!(x->body = malloc(len ? len : 1))) {
		export_stat_fail(&x->st, "out of memory");
		return;
	}
	len = 0;
	b = x->head;
	for (size_t i = 0; i < nb; i++, b = b->next) {
		memcpy(x->body + len, b->text, b->len);
		len += b->len;
	}
	x->body_batches = nb;
	x->body_points = points;
	p.url = x->url;
	p.headers = x->headers;
	p.username = x->username;
	p.password = x->password;
	p.ca_file = x->ca_file;
	p.body = x->body;
	p.len = len;
	p.timeout_ms = x->timeout_ms;
	export_stat_attempt(&x->st);
	int rc = link_http_post_start(x->http, &p, export_influx__on_done, x, &x->req);
	if (rc != 0) {
		free(x->body);
		x->body = NULL;
		x->req = NULL;
		x->st.failed++;
		export_stat_fail(&x->st, "cannot start a request: %s", mb_strerror(rc));
		x->waiting = 1;
		uv_timer_start(&x->retry, export_influx__on_retry, backoff_next(&x->bo), 0);
	}
}

/* --- start and close ----------------------------------------------------- */

/* "<url>/write?db=...&precision=ms" or "<url>/api/v2/write?org=...". */
static char *export_influx__write_url(const struct config_export_influx *c)
{
	CURL *e = curl_easy_init();
	char *a = NULL, *b = NULL, *rp = NULL, *url = NULL;
	size_t base = strlen(c->url), n;

	if (!e)
		return NULL;
	while (base && c->url[base - 1] == '/')
		base--;
	if (c->version == 1) {
		a = curl_easy_escape(e, c->database, 0);
		if (c->retention_policy)
			rp = curl_easy_escape(e, c->retention_policy, 0);
		n = base + 64 + (a ? strlen(a) : 0) + (rp ? strlen(rp) : 0);
		if (a && (!c->retention_policy || rp) && (url = malloc(n)))
			snprintf(url, n, "%.*s/write?db=%s%s%s&precision=ms", (int)base, c->url, a,
				 rp ? "&rp=" : "", rp ? rp : "");
	} else {
		a = curl_easy_escape(e, c->org, 0);
		b = curl_easy_escape(e, c->bucket, 0);
		n = base + 64 + (a ? strlen(a) : 0) + (b ? strlen(b) : 0);
		if (a && b && (url = malloc(n)))
			snprintf(url, n, "%.*s/api/v2/write?org=%s&bucket=%s&precision=ms",
				 (int)base, c->url, a, b);
	}
	curl_free(a);
	curl_free(b);
	curl_free(rp);
	curl_easy_cleanup(e);
	return url;
}

struct export_influx *export_influx_start(uv_loop_t *loop, const struct config_export_influx *cfg,
					  char *err, size_t errlen)
{
	struct export_influx *x;
	size_t n = 0;

	/* libcurl is opened by the first exporter that starts, not before:
	 * a daemon without an `influxdb` group never maps it (include/dl.h). */
	if (dl_curl_load("influxdb", err, errlen) != 0)
		return NULL;
	if (!(x = calloc(1, sizeof *x)))
		goto nomem;
	x->loop = loop;
	x->timeout_ms = (long)cfg->timeout;
	x->max_batches = (size_t)cfg->queue;
	x->username = cfg->username;
	x->password = cfg->password;
	x->ca_file = cfg->ca_file;
	/* The links' back-off, but never longer than half the time the queue
	 * holds: a server that is back gets the points kept, instead of the
	 * queue turning over while the exporter waits. */
	uint64_t hold = (uint64_t)cfg->interval * 1000u * (uint64_t)cfg->queue / 2;
	uint64_t max = hold < BACKOFF_MAX_MS ? hold : BACKOFF_MAX_MS;
	backoff_init(&x->bo, max < BACKOFF_MIN_MS ? max : BACKOFF_MIN_MS, max);
	if (!(x->url = export_influx__write_url(cfg)) ||
	    !(x->measurement = strdup(cfg->measurement)))
		goto nomem;
	x->headers[n++] = "Content-Type: text/plain; charset=utf-8";
	if (cfg->version == 2) {
		size_t len = strlen(cfg->token) + sizeof "Authorization: Token ";
		if (!(x->auth_header = malloc(len)))
			goto nomem;
		snprintf(x->auth_header, len, "Authorization: Token %s", cfg->token);
		x->headers[n++] = x->auth_header;
	}
	x->headers[n] = NULL;
	/* The target as the status and the log show it: v1 credentials go as
	 * basic authentication and the v2 token in a header, but a url may
	 * still hold "user:password@", which libcurl uses and nobody sees. */
	log_redact_url(x->url, x->st.target, sizeof x->st.target);
	if (!(x->http = link_http_new(loop))) {
		snprintf(err, errlen, "influxdb: cannot set up libcurl");
		free(x->auth_header);
		free(x->measurement);
		free(x->url);
		free(x);
		return NULL;
	}
	uv_timer_init(loop, &x->retry);
	x->retry.data = x;
	return x;
nomem:
	if (x) {
		free(x->auth_header);
		free(x->measurement);
		free(x->url);
	}
	free(x);
	snprintf(err, errlen, "influxdb: out of memory");
	return NULL;
}

const struct export_stat *export_influx_stat(const struct export_influx *x)
{
	return &x->st;
}

static void export_influx__on_closed(uv_handle_t *h)
{
	struct export_influx *x = h->data;
	while (x->head)
		export_influx__drop_batch(x, NULL);
	free(x->body);
	free(x->auth_header);
	free(x->measurement);
	free(x->url);
	free(x);
}

void export_influx_close(struct export_influx *x)
{
	if (!x)
		return;
	link_http_close(x->http);
	x->req = NULL;
	uv_close((uv_handle_t *)&x->retry, export_influx__on_closed);
}

/* Headless chromium through the DevTools protocol over a pipe (cdp.h). */
#include "cdp.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

int cdp_start(struct cdp *c, const char *size)
{
	int a[2], b[2];
	char profile[512], window[64];
	memset(c, 0, sizeof *c);
	c->to = c->from = -1;
	/* A browser gone: its pipe's error, not a signal that ends the test. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(profile, sizeof profile, "--user-data-dir=%s", h_path("chromium-cdp"));
	snprintf(window, sizeof window, "--window-size=%s", size ? size : "800,600");
	if (pipe(a) != 0)
		return -1;
	if (pipe(b) != 0) {
		close(a[0]);
		close(a[1]);
		return -1;
	}
	const char *log = h_path("chromium-cdp.log");
	if ((c->pid = fork()) == 0) {
		/* Out of the way of 3 and 4 first, then onto them. */
		int r = fcntl(a[0], F_DUPFD, 10), w = fcntl(b[1], F_DUPFD, 10);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (r < 0 || w < 0 || fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
		    dup2(r, 3) < 0 || dup2(w, 4) < 0)
			_exit(127);
		for (int i = 5; i < 1024; i++)
			close(i);
		execlp("chromium", "chromium", "--headless", "--no-sandbox", "--disable-gpu",
		       "--disable-background-networking", "--disable-component-update",
		       "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", profile,
		       "--remote-debugging-pipe", window, (char *)NULL);
		_exit(127);
	}
	close(a[0]);
	close(b[1]);
	c->to = a[1];
	c->from = b[0];
	if (c->pid < 0) {
		close(c->to);
		close(c->from);
		c->to = c->from = -1;
		return -1;
	}
	return 0;
}

/* The next message (NUL-ended) within timeout_ms, parsed; NULL on EOF,
 * timeout or a message that is not JSON. */
static json_object *cdp_read(struct cdp *c, int timeout_ms)
{
	for (int waited = 0;;) {
		char *nul = c->len ? memchr(c->buf, '\0', c->len) : NULL;
		if (nul) {
			json_object *o = json_tokener_parse(c->buf);
			size_t used = (size_t)(nul - c->buf) + 1;
			memmove(c->buf, nul + 1, c->len - used);
			c->len -= used;
			return o;
		}
		if (c->cap - c->len < 65536) {
			char *nb = realloc(c->buf, c->cap + (1 << 20));
			if (!nb)
				return NULL;
			c->buf = nb;
			c->cap += 1 << 20;
		}
		struct pollfd pfd = {.fd = c->from, .events = POLLIN};
		if (waited >= timeout_ms || poll(&pfd, 1, 100) < 0)
			return NULL;
		waited += 100;
		if (!(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		ssize_t n = read(c->from, c->buf + c->len, c->cap - c->len - 1);
		if (n <= 0)
			return NULL;
		c->len += (size_t)n;
	}
}

/* Send method with params (a JSON object's text, or NULL) in the tab's
 * session once attached; the answer's "result" (the caller puts it), or
 * NULL on an error answer or none within 60 s (an awaited promise may poll
 * for a while). Events on the way are skipped. */
static json_object *cdp_call(struct cdp *c, const char *method, const char *params)
{
	char head[400];
	int id = ++c->id;
	if (c->to < 0)
		return NULL;
	int n = snprintf(head, sizeof head, "{\"id\":%d,%s%s%s\"method\":\"%s\",\"params\":", id,
			 c->session[0] ? "\"sessionId\":\"" : "", c->session,
			 c->session[0] ? "\"," : "", method);
	const char *p = params ? params : "{}";
	if (write(c->to, head, (size_t)n) != n ||
	    write(c->to, p, strlen(p)) != (ssize_t)strlen(p) ||
	    write(c->to, "}", 2) != 2) /* the brace and the NUL that ends the message */
		return NULL;
	for (;;) {
		json_object *m = cdp_read(c, 60000), *v, *res = NULL;
		if (!m)
			return NULL;
		if (json_object_object_get_ex(m, "id", &v) && json_object_get_int(v) == id) {
			if (json_object_object_get_ex(m, "result", &res))
				json_object_get(res);
			json_object_put(m);
			return res;
		}
		json_object_put(m);
	}
}

int cdp_eval(struct cdp *c, const char *expr, char *out, size_t outlen)
{
	json_object *params = json_object_new_object(), *res, *r, *v;
	json_object_object_add(params, "expression", json_object_new_string(expr));
	json_object_object_add(params, "returnByValue", json_object_new_boolean(1));
	json_object_object_add(params, "awaitPromise", json_object_new_boolean(1));
	res = cdp_call(c, "Runtime.evaluate", json_object_to_json_string(params));
	json_object_put(params);
	int ok = -1;
	snprintf(out, outlen, "%s", res ? "" : "ERROR no answer");
	if (res && json_object_object_get_ex(res, "exceptionDetails", &r)) {
		json_object *e, *d = NULL;
		if (!(json_object_object_get_ex(r, "exception", &e) &&
		      json_object_object_get_ex(e, "description", &d)))
			json_object_object_get_ex(r, "text", &d);
		snprintf(out, outlen, "ERROR %s", d ? json_object_get_string(d) : "exception");
	} else if (res && json_object_object_get_ex(res, "result", &r)) {
		ok = 0;
		if (!json_object_object_get_ex(r, "value", &v))
			snprintf(out, outlen, "undefined");
		else if (json_object_is_type(v, json_type_string))
			snprintf(out, outlen, "%s", json_object_get_string(v));
		else
			snprintf(out, outlen, "%s",
				 json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
	json_object_put(res);
	return ok;
}

int cdp_until(struct cdp *c, const char *expr, int timeout_ms)
{
	char v[64];
	for (int t = 0; t < timeout_ms; t += 100) {
		if (cdp_eval(c, expr, v, sizeof v) == 0 && strcmp(v, "yes") == 0)
			return 0;
		h_sleep_ms(100);
	}
	return -1;
}

int cdp_click(struct cdp *c, const char *selector)
{
	char expr[1200], at[128], params[200];
	double x, y;
	/* The selector as a JSON string: quotes in it stay inside it. */
	json_object *sel = json_object_new_string(selector);
	snprintf(expr, sizeof expr,
		 "(() => { const e = document.querySelector(%s); if (!e) return '';"
		 " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
		 " return (r.left + r.width / 2) + ' ' + (r.top + r.height / 2); })()",
		 json_object_to_json_string(sel));
	json_object_put(sel);
	if (cdp_eval(c, expr, at, sizeof at) != 0 || sscanf(at, "%lf %lf", &x, &y) != 2)
		return -1;
	for (int i = 0; i < 2; i++) {
		snprintf(params, sizeof params,
			 "{\"type\":\"%s\",\"x\":%.1f,\"y\":%.1f,\"button\":\"left\","
			 "\"clickCount\":1}",
			 i ? "mouseReleased" : "mousePressed", x, y);
		json_object *res = cdp_call(c, "Input.dispatchMouseEvent", params);
		if (!res)
			return -1;
		json_object_put(res);
	}
	return 0;
}

int cdp_open(struct cdp *c, const char *url)
{
	json_object *res, *v, *p;
	char params[400];
	if (!(res = cdp_call(c, "Target.createTarget", "{\"url\":\"about:blank\"}")))
		return -1;
	int ok = json_object_object_get_ex(res, "targetId", &v);
	snprintf(params, sizeof params, "{\"targetId\":\"%s\",\"flatten\":true}",
		 ok ? json_object_get_string(v) : "");
	json_object_put(res);
	if (!ok || !(res = cdp_call(c, "Target.attachToTarget", params)))
		return -1;
	ok = json_object_object_get_ex(res, "sessionId", &v);
	snprintf(c->session, sizeof c->session, "%s", ok ? json_object_get_string(v) : "");
	json_object_put(res);
	p = json_object_new_object();
	json_object_object_add(p, "url", json_object_new_string(url));
	res = ok ? cdp_call(c, "Page.navigate", json_object_to_json_string(p)) : NULL;
	json_object_put(p);
	if (!res)
		return -1;
	json_object_put(res);
	return 0;
}

void cdp_stop(struct cdp *c)
{
	if (c->pid > 0) {
		c->session[0] = '\0';
		json_object_put(cdp_call(c, "Browser.close", NULL));
		close(c->to);
		close(c->from);
		h_stop(c->pid, 5000);
		c->pid = 0;
	}
	free(c->buf);
	c->buf = NULL;
}

/* Headless chromium driven through the DevTools protocol over a pipe, for the
 * browser tests that act on a page (click a fold, fill a form and press its
 * button), not only read the DOM h_chromium's --dump-dom gives.
 *
 * Chromium started with --remote-debugging-pipe reads protocol commands
 * (JSON, each ended by a NUL byte) on fd 3 and answers on fd 4: no port, no
 * websocket. Every wait is bounded; nothing here sleeps on the wall clock
 * except cdp_until's polling. */
#ifndef CDP_H
#define CDP_H

#include <stddef.h>
#include <sys/types.h>

struct cdp {
	pid_t pid;
	int to, from, id;
	char session[128];
	char *buf;
	size_t len, cap;
};

/* Start chromium with a window of size ("1280,1000"; NULL: chromium's
 * default), its profile and log (chromium-cdp.log) in the test's folder.
 * 0, or -1. */
int cdp_start(struct cdp *c, const char *size);
/* Open url in a new tab and attach to it; the load is not waited for (wait
 * for what the test needs with cdp_until). 0, or -1. */
int cdp_open(struct cdp *c, const char *url);
/* Evaluate a JavaScript expression in the page (a promise is awaited): a
 * string value as it is, another value as JSON, into out. 0; -1 when the
 * expression threw (out: "ERROR " and the exception) or no answer came. */
int cdp_eval(struct cdp *c, const char *expr, char *out, size_t outlen);
/* Evaluate expr every 100 ms until it gives the string "yes", at most
 * timeout_ms. 0, or -1. */
int cdp_until(struct cdp *c, const char *expr, int timeout_ms);
/* A click with the mouse's left button in the middle of the element that the
 * CSS selector names (scrolled into view first): Input.dispatchMouseEvent,
 * hit-tested as a real click. 0, or -1. */
int cdp_click(struct cdp *c, const char *selector);
/* Close the browser, wait for it and free c's buffer. */
void cdp_stop(struct cdp *c);

#endif

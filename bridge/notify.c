/* sd_notify over NOTIFY_SOCKET (include/notify.h). The protocol, from
 * sd_notify(3) and systemd.service(5): newline-separated KEY=VALUE
 * assignments in one datagram to a unix socket; an address starting with '@'
 * is in the abstract namespace (the '@' becomes a NUL byte). */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "reload.h"

struct notify {
	int fd;
	struct sockaddr_un addr;
	socklen_t addrlen;
	uv_timer_t timer;
	unsigned long watchdog_ms;
	int failed_logged;
	/* STATUS= following the devices (notify_follow) */
	const struct reload *set;
	uv_timer_t status_timer;
	int status_on;
	char status[256]; /* the last one sent */
};

/* How often the devices' state is looked at for STATUS= (sent on change). */
#define NOTIFY_STATUS_MS 1000u

static int notify__address(struct notify *n, const char *name)
{
	size_t len = strlen(name);
	memset(&n->addr, 0, sizeof n->addr);
	n->addr.sun_family = AF_UNIX;
	if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof n->addr.sun_path)
		return -1;
	memcpy(n->addr.sun_path, name, len);
	if (name[0] == '@') {
		/* abstract: no terminating NUL, the length says where it ends */
		n->addr.sun_path[0] = '\0';
		n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		n->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}

/* WATCHDOG_USEC, when it is meant for this process; 0 otherwise. */
static unsigned long long notify__watchdog_usec(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	if (!us || !*us)
		return 0;
	if (pid && *pid) {
		errno = 0;
		unsigned long p = strtoul(pid, &end, 10);
		if (errno || *end || p != (unsigned long)getpid())
			return 0;
	}
	errno = 0;
	unsigned long long v = strtoull(us, &end, 10);
	return errno || *end ? 0 : v;
}

/* Is the device answering? Its link for now: the one place to switch to a
 * finer "answering" state of device.c. */
static int notify__answering(const struct device *dev)
{
	/* A device nothing was asked of yet (no poll, no client) is not
	 * reported as not answering. */
	enum device_health h = device_health(dev);
	return h == DEVICE_HEALTH_ANSWERING || h == DEVICE_HEALTH_UNKNOWN;
}

/* The STATUS= text for devs[0..n) into buf; its length. */
static size_t notify__status_text(struct device *const *devs, size_t n, char *buf, size_t len)
{
	size_t up = 0, at;
	for (size_t i = 0; i < n; i++)
		up += notify__answering(devs[i]) != 0;
	if (n == 0)
		return (size_t)snprintf(buf, len, "STATUS=no devices");
	at = (size_t)snprintf(buf, len, "STATUS=%zu device%s answering", up, up == 1 ? "" : "s");
	if (up == n || at >= len)
		return at;
	at += (size_t)snprintf(buf + at, len - at, ", %zu not answering:", n - up);
	const char *sep = " ";
	for (size_t i = 0; i < n && at < len; i++) {
		if (notify__answering(devs[i]))
			continue;
		/* Names are the config's; a line break would start another
		 * assignment: cut there. */
		const char *name = device_name(devs[i]);
		int w =
		    snprintf(buf + at, len - at, "%s%.*s", sep, (int)strcspn(name, "\r\n"), name);
		if (w < 0)
			break;
		at += (size_t)w;
		sep = ", ";
	}
	if (at >= len && len > 4) /* cut: say so */
		memcpy(buf + len - 4, "...", 4);
	return at;
}

static void notify__on_status(uv_timer_t *t)
{
	struct notify *n = t->data;
	size_t nd = 0;
	struct device *const *devs = reload_devices(n->set, &nd);
	char text[sizeof n->status];
	notify__status_text(devs, nd, text, sizeof text);
	if (strcmp(text, n->status) == 0)
		return;
	memcpy(n->status, text, sizeof text);
	notify_send(n, text);
}

void notify_follow(struct notify *n, const struct reload *set)
{
	if (!n)
		return;
	n->set = set;
	if (!n->status_on) {
		n->status_on = 1;
		uv_timer_start(&n->status_timer, notify__on_status, 0, NOTIFY_STATUS_MS);
	}
}

static void notify__on_timer(uv_timer_t *t)
{
	notify_send(t->data, "WATCHDOG=1");
}

struct notify *notify_open(uv_loop_t *loop)
{
	const char *name = getenv("NOTIFY_SOCKET");
	if (!name || !*name)
		return NULL;
	struct notify *n = calloc(1, sizeof *n);
	if (!n)
		return NULL;
	if (notify__address(n, name) != 0) {
		log_warn("NOTIFY_SOCKET=\"%s\": not a unix socket path or @name; not notifying",
			 name);
		free(n);
		return NULL;
	}
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		log_warn("NOTIFY_SOCKET: %s; not notifying", strerror(errno));
		free(n);
		return NULL;
	}
	uv_timer_init(loop, &n->timer);
	n->timer.data = n;
	uv_timer_init(loop, &n->status_timer);
	n->status_timer.data = n;
	uv_unref((uv_handle_t *)&n->status_timer);
	unsigned long long us = notify__watchdog_usec();
	if (us > 0) {
		/* half the interval, as sd_watchdog_enabled(3) advises */
		n->watchdog_ms = (unsigned long)(us / 2000);
		if (n->watchdog_ms == 0)
			n->watchdog_ms = 1;
		uv_timer_start(&n->timer, notify__on_timer, n->watchdog_ms, n->watchdog_ms);
	}
	/* The pings alone must not keep the loop running after a stop. */
	uv_unref((uv_handle_t *)&n->timer);
	return n;
}

int notify_send(struct notify *n, const char *state)
{
	if (!n)
		return 0;
	ssize_t r = sendto(n->fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT,
			   (const struct sockaddr *)&n->addr, n->addrlen);
	if (r < 0) {
		if (!n->failed_logged)
			log_warn("NOTIFY_SOCKET: cannot send \"%s\": %s", state, strerror(errno));
		n->failed_logged = 1;
		return -1;
	}
	return 0;
}

int notify_reloading(struct notify *n)
{
	struct timespec ts;
	char msg[96];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ull +
		     (unsigned long long)ts.tv_nsec / 1000ull);
	return notify_send(n, msg);
}

unsigned long notify_watchdog_ms(const struct notify *n)
{
	return n ? n->watchdog_ms : 0;
}

/* Two handles: the memory goes with the second one closed. */
static void notify__on_close(uv_handle_t *h)
{
	struct notify *n = h->data;
	if (++n->status_on == 3)
		free(n);
}

void notify_close(struct notify *n)
{
	if (!n)
		return;
	uv_timer_stop(&n->timer);
	uv_timer_stop(&n->status_timer);
	close(n->fd);
	n->status_on = 1;
	uv_close((uv_handle_t *)&n->timer, notify__on_close);
	uv_close((uv_handle_t *)&n->status_timer, notify__on_close);
}

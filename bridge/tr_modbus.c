/* The `modbus` transport: real Modbus equipment as upstream devices, on a
 * serial line (Modbus RTU) or over Modbus TCP, through libmodbus
 * (docs/design.md, "Worker threads: the modbus transport").
 *
 * libmodbus calls block (they write, then wait for the answer with select),
 * so they never run on the loop. Each bus — one serial line (every device
 * with the same `device` path and line settings), or one TCP connection
 * (every device with the same host and port) — has one worker thread that
 * owns the bus's libmodbus context and runs one transaction at a time, in
 * the order the loop handed them over. That is the bus sharing: two slaves
 * on one RS-485 line never see interleaved frames, and `gap` ms of silence
 * is kept between the end of one transaction and the start of the next.
 *
 * Loop and worker share only the bus's mutex-guarded fields: a FIFO of jobs
 * to run, a FIFO of jobs done, the link state the worker last saw and the
 * stop flag. The loop allocates and frees every job; the worker fills in a
 * job's result and never frees it. The worker wakes the loop with
 * uv_async_send() (the one libuv call that is safe from another thread).
 *
 * Outcomes (docs/design.md, "Modbus exception codes"): a device exception
 * passes through unchanged; no answer, a CRC error or a malformed answer is
 * counted and left to the device model's attempt timer (a retry, else 0B);
 * a port that cannot be opened or vanished takes the link down (queued
 * requests 0A, the one in flight 0B) and the worker reopens it with the
 * shared back-off (bridge/backoff.c). */
#include "transport.h"

#include <errno.h>
#include <libconfig.h>
#include <poll.h>
#include <sys/socket.h>
#include <modbus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "config.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "protocol.h"

/* How long opening a TCP connection may take (libmodbus bounds its connect
 * by the response timeout), so that a stop never waits longer. */
#define MBT_CONNECT_MS 2000u
/* How often an idle worker looks at its open port: a serial adapter pulled
 * or a TCP peer that closed is noticed within this, not at the next
 * transaction. */
#define MBT_IDLE_CHECK_MS 1000u
/* Serial line default: a little silence between frames, for slaves that
 * need it beyond the 3.5 characters of the RTU framing. */
#define MBT_GAP_SERIAL 10

/* The device's `modbus` block (docs/user-guide.md, "Modbus equipment"). -1
 * marks a key not given, so that cfg_done can tell serial keys from TCP
 * keys; it then fills in the defaults. */
struct mbt_cfg {
	char *device; /* serial: the port's path */
	int baud, data_bits, stop_bits, slave;
	uint8_t parity; /* 'N', 'E', 'O' after cfg_done; choice index before */
	char *host;	/* TCP */
	int port, unit;
	int gap; /* ms of silence between transactions on the bus */
};

enum mbt_result {
	MBT_OK,
	MBT_EXC,      /* the device answered an exception (code) */
	MBT_NOPATH,   /* the bus is not open: never sent */
	MBT_NOANSWER, /* sent, no answer in time */
	MBT_BAD,      /* an answer that was damaged or did not match (CRC ...) */
	MBT_LOST,     /* the port or connection failed under the transaction */
};

struct mbt_dev;

/* One transaction handed to the worker. */
struct mbt_job {
	struct mbt_job *next;
	struct mbt_dev *owner; /* loop side; the worker never reads it */
	uint8_t fc, slave;
	uint16_t addr, count;
	uint32_t timeout_ms;
	uint16_t words[MB_MAX_READ]; /* write values in; read values out */
	enum mbt_result result;	     /* filled by the worker */
	int code;		     /* MBT_EXC: the exception; else errno */
};

struct mbt_bus {
	struct mbt_bus *next; /* the loop's list of buses */
	char *name;	      /* "/dev/ttyUSB0" or "host:port", for messages */
	int serial;
	char *path; /* serial */
	int baud, data_bits, stop_bits;
	char parity;
	char *host; /* TCP */
	char port[8];
	uv_loop_t *loop;
	uv_async_t async;
	pthread_t thread;

	/* loop only */
	struct mbt_dev *devs;
	unsigned ndevs;
	int up;		     /* what the devices were told */
	unsigned gen;	     /* worker's open count the devices were told about */
	unsigned anew;	     /* w_anew already logged */
	unsigned long fails; /* open failures already logged */
	int denied;	     /* this outage's "permission denied" was warned about */

	/* under mu */
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct mbt_job *qhead, *qtail; /* to run */
	struct mbt_job *dhead, *dtail; /* done */
	int w_up;		       /* the bus is open */
	unsigned w_gen;		       /* opens so far */
	int w_err;		       /* errno of the last open failure or loss */
	unsigned w_anew;	       /* TCP connections the peer closed, made anew */
	unsigned long w_fails;	       /* open failures in a row */
	int stop, exited;
	uint32_t gap_ms;
};

/* A device's transport state. */
struct mbt_dev {
	struct device *dev;
	struct mbt_bus *bus;
	struct mbt_dev *next; /* on the bus */
	uint8_t slave;
	uint32_t gap_ms;
	struct txn *cur;     /* the transaction in flight */
	struct mbt_job *job; /* its job */
	unsigned jobs_out;   /* jobs of this device the loop has not freed */
	int closed;
	int told_up;
	unsigned told_gen;
};

static struct mbt_bus *mbt__buses; /* loop thread only */

/* Serial paths open in this process, so that two buses on one port (a
 * reload that changed the line settings, while the old bus finishes) never
 * talk over each other: the second waits, retrying with back-off. */
static pthread_mutex_t mbt__lines_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *mbt__lines[64];

static int mbt__line_take(const char *path)
{
	int ok = 0;
	pthread_mutex_lock(&mbt__lines_mu);
	size_t free_slot = sizeof mbt__lines / sizeof mbt__lines[0];
	for (size_t i = 0; i < sizeof mbt__lines / sizeof mbt__lines[0]; i++) {
		if (mbt__lines[i] && strcmp(mbt__lines[i], path) == 0)
			goto out;
		if (!mbt__lines[i] && free_slot == sizeof mbt__lines / sizeof mbt__lines[0])
			free_slot = i;
	}
	if (free_slot < sizeof mbt__lines / sizeof mbt__lines[0]) {
		mbt__lines[free_slot] = path;
		ok = 1;
	}
out:
	pthread_mutex_unlock(&mbt__lines_mu);
	return ok;
}

static void mbt__line_give(const char *path)
{
	pthread_mutex_lock(&mbt__lines_mu);
	for (size_t i = 0; i < sizeof mbt__lines / sizeof mbt__lines[0]; i++)
		if (mbt__lines[i] == path)
			mbt__lines[i] = NULL;
	pthread_mutex_unlock(&mbt__lines_mu);
}

/* ---------------------------------------------------------- worker -- */

static uint64_t mbt__mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait on the bus's condition until monotonic time `until` ms (mu held). */
static void mbt__wait_until(struct mbt_bus *b, uint64_t until)
{
	struct timespec ts = {.tv_sec = (time_t)(until / 1000u),
			      .tv_nsec = (long)(until % 1000u) * 1000000L};
	pthread_cond_timedwait(&b->cond, &b->mu, &ts);
}

static void mbt__set_timeout(modbus_t *ctx, uint32_t ms)
{
	modbus_set_response_timeout(ctx, ms / 1000u, (ms % 1000u) * 1000u);
}

/* Open the bus (worker, mu not held): a libmodbus context, connected. */
static modbus_t *mbt__open(struct mbt_bus *b, int *err)
{
	modbus_t *ctx;
	if (b->serial) {
		if (!mbt__line_take(b->path)) {
			*err = EBUSY;
			return NULL;
		}
		ctx = modbus_new_rtu(b->path, b->baud, b->parity, b->data_bits, b->stop_bits);
	} else {
		ctx = modbus_new_tcp_pi(b->host, b->port);
	}
	if (!ctx) {
		*err = errno;
		if (b->serial)
			mbt__line_give(b->path);
		return NULL;
	}
	mbt__set_timeout(ctx, MBT_CONNECT_MS);
	if (modbus_connect(ctx) != 0) {
		*err = errno;
		modbus_free(ctx);
		if (b->serial)
			mbt__line_give(b->path);
		return NULL;
	}
	return ctx;
}

static void mbt__shut(struct mbt_bus *b, modbus_t *ctx)
{
	modbus_close(ctx);
	modbus_free(ctx);
	if (b->serial)
		mbt__line_give(b->path);
}

/* Is errno e a sign that the port or the connection itself failed (the
 * adapter was pulled, the peer closed), rather than one answer? */
static int mbt__lost(int e)
{
	return e == EIO || e == ENXIO || e == ENODEV || e == EBADF || e == ECONNRESET ||
	       e == EPIPE || e == ENOTCONN || e == ECONNREFUSED;
}

/* Run job j on ctx (worker, mu not held). */
static void mbt__run(modbus_t *ctx, struct mbt_job *j)
{
	int n;
	modbus_set_slave(ctx, j->slave);
	mbt__set_timeout(ctx, j->timeout_ms);
	errno = 0;
	switch (j->fc) {
	case MB_FC_READ_HOLDING:
		n = modbus_read_registers(ctx, j->addr, j->count, j->words);
		break;
	case MB_FC_READ_INPUT:
		n = modbus_read_input_registers(ctx, j->addr, j->count, j->words);
		break;
	case MB_FC_WRITE_SINGLE:
		n = modbus_write_register(ctx, j->addr, j->words[0]);
		break;
	default:
		n = modbus_write_registers(ctx, j->addr, j->count, j->words);
		break;
	}
	if (n >= 0) {
		j->result = MBT_OK;
		return;
	}
	int e = errno;
	j->code = e;
	if (e > MODBUS_ENOBASE && e <= EMBXGTAR) {
		j->result = MBT_EXC;
		j->code = e - MODBUS_ENOBASE;
	} else if (e == ETIMEDOUT) {
		j->result = MBT_NOANSWER;
	} else if (e > EMBXGTAR && e <= EMBBADSLAVE) {
		j->result = MBT_BAD;
	} else if (mbt__lost(e)) {
		j->result = MBT_LOST;
	} else {
		j->result = MBT_BAD;
	}
}

/* The open port, while idle and before each transaction (worker, mu not
 * held): 0 when it is fine, else the errno of its loss. Bytes nobody asked
 * for are dropped. A TCP peer that closed the idle connection (many close idle
 * Modbus TCP connections after a while) is connected to anew; only if that
 * fails is the link lost. */
static int mbt__idle_check(struct mbt_bus *b, modbus_t *ctx, int *anew)
{
	int fd = modbus_get_socket(ctx);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (fd < 0)
		return EBADF;
	if (poll(&p, 1, 0) <= 0)
		return 0;
	if (b->serial) {
		/* A pulled USB adapter, or the far end of a pty gone. */
		if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
			return ENODEV;
		modbus_flush(ctx);
		return 0;
	}
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0 && !(p.revents & (POLLERR | POLLHUP))) {
		modbus_flush(ctx);
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	modbus_close(ctx);
	mbt__set_timeout(ctx, MBT_CONNECT_MS);
	if (modbus_connect(ctx) != 0)
		return errno ? errno : ECONNRESET;
	*anew = 1;
	return 0;
}

static void *mbt__worker(void *arg)
{
	struct mbt_bus *b = arg;
	modbus_t *ctx = NULL;
	struct backoff bo;
	uint64_t next_open = 0, quiet_until = 0, next_check = 0;

	backoff_init(&bo, 0, 0);
	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		if (!ctx) {
			/* Down: what is queued was never sent (0A); reopen when
			 * the back-off says so. */
			while (b->qhead) {
				struct mbt_job *j = b->qhead;
				b->qhead = j->next;
				j->next = NULL;
				j->result = MBT_NOPATH;
				if (b->dtail)
					b->dtail->next = j;
				else
					b->dhead = j;
				b->dtail = j;
			}
			if (!b->qhead)
				b->qtail = NULL;
			if (b->dhead)
				uv_async_send(&b->async);
			uint64_t now = mbt__mono_ms();
			if (now < next_open) {
				mbt__wait_until(b, next_open);
				continue;
			}
			pthread_mutex_unlock(&b->mu);
			int err = 0;
			ctx = mbt__open(b, &err);
			pthread_mutex_lock(&b->mu);
			if (ctx) {
				backoff_reset(&bo);
				b->w_up = 1;
				b->w_gen++;
				b->w_fails = 0;
			} else {
				next_open = mbt__mono_ms() + backoff_next(&bo);
				b->w_err = err;
				b->w_fails++;
			}
			uv_async_send(&b->async);
			continue;
		}
		if (!b->qhead) {
			uint64_t now = mbt__mono_ms();
			if (now < next_check) {
				mbt__wait_until(b, next_check);
				continue;
			}
			pthread_mutex_unlock(&b->mu);
			int anew = 0, e = mbt__idle_check(b, ctx, &anew);
			if (e)
				mbt__shut(b, ctx), ctx = NULL;
			pthread_mutex_lock(&b->mu);
			next_check = mbt__mono_ms() + MBT_IDLE_CHECK_MS;
			if (anew) {
				b->w_anew++;
				uv_async_send(&b->async);
			}
			if (e) {
				b->w_up = 0;
				b->w_err = e;
				next_open = mbt__mono_ms() + backoff_next(&bo);
				uv_async_send(&b->async);
			}
			continue;
		}
		uint64_t now = mbt__mono_ms();
		if (now < quiet_until) {
			/* The gap: silence on the line since the last transaction. */
			mbt__wait_until(b, quiet_until);
			continue;
		}
		struct mbt_job *j = b->qhead;
		b->qhead = j->next;
		if (!b->qhead)
			b->qtail = NULL;
		j->next = NULL;
		pthread_mutex_unlock(&b->mu);

		/* Since the last look the port may have gone or the peer closed
		 * (then it is connected anew): a request is only sent on a port
		 * that is there, and never behind stray bytes. */
		int anew = 0, gone = mbt__idle_check(b, ctx, &anew);
		if (gone) {
			j->result = MBT_NOPATH;
			j->code = gone;
		} else {
			mbt__run(ctx, j);
		}
		if (j->result == MBT_BAD || j->result == MBT_NOANSWER) {
			/* Whatever is left of a damaged or late answer must not
			 * be read as the next one's: on a serial line, drop what
			 * has arrived; a TCP connection is made anew (a late
			 * answer may still be on its way). */
			if (b->serial) {
				modbus_flush(ctx);
			} else {
				modbus_close(ctx);
				mbt__set_timeout(ctx, MBT_CONNECT_MS);
				if (modbus_connect(ctx) != 0)
					j->result = MBT_LOST;
			}
		}
		int lost = gone || j->result == MBT_LOST;
		if (lost) {
			mbt__shut(b, ctx);
			ctx = NULL;
		}

		pthread_mutex_lock(&b->mu);
		b->w_anew += (unsigned)anew;
		if (lost) {
			b->w_up = 0;
			b->w_err = j->code;
			next_open = mbt__mono_ms() + backoff_next(&bo);
		}
		quiet_until = mbt__mono_ms() + b->gap_ms;
		if (b->dtail)
			b->dtail->next = j;
		else
			b->dhead = j;
		b->dtail = j;
		uv_async_send(&b->async);
	}
	pthread_mutex_unlock(&b->mu);
	if (ctx)
		mbt__shut(b, ctx);
	/* The last thing the worker does with the bus: the loop joins it and
	 * closes the async handle once it sees `exited`. */
	pthread_mutex_lock(&b->mu);
	b->exited = 1;
	pthread_mutex_unlock(&b->mu);
	uv_async_send(&b->async);
	return NULL;
}

/* ------------------------------------------------------------ loop -- */

static void mbt__dev_unref_job(struct mbt_dev *d)
{
	d->jobs_out--;
	if (d->closed && d->jobs_out == 0)
		free(d);
}

static void mbt__bus_free(uv_handle_t *h)
{
	struct mbt_bus *b = h->data;
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cond);
	free(b->name);
	free(b->path);
	free(b->host);
	free(b);
}

/* A finished job: deliver it to its device if the device still waits for
 * it, otherwise drop it (counted when an answer came). */
static void mbt__deliver(struct mbt_job *j)
{
	struct mbt_dev *d = j->owner;
	if (d->closed || d->job != j) {
		if (!d->closed &&
		    (j->result == MBT_OK || j->result == MBT_EXC || j->result == MBT_BAD))
			device_count_drop(d->dev);
		return;
	}
	struct txn *t = d->cur;
	switch (j->result) {
	case MBT_OK:
		if (t->op == TXN_READ)
			device_cache_store(d->dev, t->table, t->addr, t->count, j->words);
		d->cur = NULL;
		d->job = NULL;
		device_txn_done(d->dev, t, MB_EXC_NONE);
		break;
	case MBT_EXC:
		d->cur = NULL;
		d->job = NULL;
		device_txn_done(d->dev, t, (enum mb_exc)j->code);
		break;
	case MBT_NOPATH:
		d->cur = NULL;
		d->job = NULL;
		device_txn_done(d->dev, t, MB_EXC_GATEWAY_PATH);
		break;
	case MBT_BAD:
		/* Never believe a damaged answer: the device's attempt timer
		 * retries or ends the request with 0B. */
		log_debug("%s: dropped a damaged answer from %s (%s)", device_name(d->dev),
			  d->bus->name, modbus_strerror(j->code));
		device_count_drop(d->dev);
		d->job = NULL;
		break;
	case MBT_NOANSWER:
	case MBT_LOST:
		/* The attempt timer, or the link going down, ends it (0B). */
		d->job = NULL;
		break;
	}
}

/* Tell every device of b what the link is, once per change (a worker that
 * lost and reopened the bus between two wake-ups counts as a change). */
static void mbt__tell_devices(struct mbt_bus *b)
{
	for (struct mbt_dev *d = b->devs; d; d = d->next) {
		if (d->told_up && (!b->up || d->told_gen != b->gen)) {
			d->told_up = 0;
			device_link_changed(d->dev, 0);
		}
		if (b->up && !d->told_up) {
			d->told_up = 1;
			d->told_gen = b->gen;
			device_link_changed(d->dev, 1);
		}
	}
}

/* A serial port the daemon's user may not open (after a drop to `user`, or
 * under a service's User=): the port, the user, the port's group and the
 * fix, as one warning per outage (docs/user-guide.md, "Serial ports"). */
static void mbt__warn_denied(const struct mbt_bus *b)
{
	struct stat st;
	int have = stat(b->path, &st) == 0;
	const struct passwd *pw = getpwuid(geteuid());
	const struct group *gr = have ? getgrgid(st.st_gid) : NULL;
	char user[64], group[64], port[128];
	snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "?");
	/* A port its group cannot use, or root's group: dialout is the fix. */
	int usable = have && st.st_gid != 0 && (st.st_mode & 060) == 060;
	snprintf(group, sizeof group, "%s", usable && gr ? gr->gr_name : "dialout");
	if (have && gr)
		snprintf(port, sizeof port, "group %s, mode %04o", gr->gr_name,
			 (unsigned)(st.st_mode & 07777));
	else if (have)
		snprintf(port, sizeof port, "gid %u, mode %04o", (unsigned)st.st_gid,
			 (unsigned)(st.st_mode & 07777));
	else
		snprintf(port, sizeof port, "not found");
	log_warn("modbus %s: cannot open (Permission denied) as user %s (port: %s): %s"
		 "add the user to group %s (usermod -aG %s %s; systemd: SupplementaryGroups=%s); "
		 "retrying",
		 b->name, user, port,
		 usable ? ""
			: "give group dialout read-write access to the port (chgrp, chmod 0660, "
			  "or a udev or hotplug rule), ",
		 group, group, user, group);
}

static void mbt__on_async(uv_async_t *h)
{
	struct mbt_bus *b = h->data;
	pthread_mutex_lock(&b->mu);
	struct mbt_job *done = b->dhead;
	b->dhead = b->dtail = NULL;
	int up = b->w_up, err = b->w_err, exited = b->exited;
	unsigned gen = b->w_gen, anew = b->w_anew;
	unsigned long fails = b->w_fails;
	pthread_mutex_unlock(&b->mu);

	if (anew != b->anew) {
		log_debug("modbus %s: the device closed the connection while idle: connected "
			  "anew (%u times)",
			  b->name, anew);
		b->anew = anew;
	}

	while (done) {
		struct mbt_job *j = done;
		done = j->next;
		mbt__deliver(j);
		struct mbt_dev *d = j->owner;
		free(j);
		mbt__dev_unref_job(d);
	}
	if (exited) {
		/* The worker has returned or is about to: joining is at once. */
		pthread_join(b->thread, NULL);
		for (struct mbt_job *j = b->qhead, *n; j; j = n) {
			n = j->next;
			struct mbt_dev *d = j->owner;
			free(j);
			mbt__dev_unref_job(d);
		}
		uv_close((uv_handle_t *)&b->async, mbt__bus_free);
		return;
	}
	if (up != b->up || gen != b->gen) {
		int lost = !up && b->up;
		if (up) {
			log_info("modbus %s: open", b->name);
			b->denied = 0;
		} else if (lost)
			log_warn("modbus %s: lost (%s); reopening", b->name,
				 err > MODBUS_ENOBASE ? modbus_strerror(err) : strerror(err));
		b->up = up;
		b->gen = gen;
		/* "lost" was this outage's warning: reopening attempts that
		 * fail are debug. */
		b->fails = lost ? 1 : 0;
	}
	if (!up && fails && err == EACCES && b->serial && !b->denied) {
		/* The port is there but not ours: say what to do, once. */
		b->denied = 1;
		b->fails = fails;
		mbt__warn_denied(b);
	}
	if (!up && fails > b->fails) {
		/* First failure of an outage a warning, the rest debug. */
		if (b->fails == 0 && fails == 1)
			log_warn("modbus %s: cannot open (%s); retrying", b->name,
				 err == EBUSY ? "the port is in use by another bus of this daemon"
					      : strerror(err));
		else
			log_debug("modbus %s: cannot open (%s), attempt %lu", b->name,
				  strerror(err), fails);
		b->fails = fails;
	}
	mbt__tell_devices(b);
}

/* The bus cfg names, found or made (with its worker started). */
static struct mbt_bus *mbt__bus_get(uv_loop_t *loop, const struct mbt_cfg *c)
{
	for (struct mbt_bus *b = mbt__buses; b; b = b->next) {
		if (c->device && b->serial && strcmp(b->path, c->device) == 0 &&
		    b->baud == c->baud && b->parity == (char)c->parity &&
		    b->data_bits == c->data_bits && b->stop_bits == c->stop_bits)
			return b;
		if (c->host && !b->serial && strcmp(b->host, c->host) == 0 &&
		    atoi(b->port) == c->port)
			return b;
	}
	struct mbt_bus *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->loop = loop;
	b->serial = c->device != NULL;
	char name[300];
	if (b->serial) {
		b->path = strdup(c->device);
		b->baud = c->baud;
		b->parity = (char)c->parity;
		b->data_bits = c->data_bits;
		b->stop_bits = c->stop_bits;
		snprintf(name, sizeof name, "%s", c->device);
	} else {
		b->host = strdup(c->host);
		snprintf(b->port, sizeof b->port, "%d", c->port);
		snprintf(name, sizeof name, "%s:%d", c->host, c->port);
	}
	b->name = strdup(name);
	if (!b->name || (b->serial ? !b->path : !b->host)) {
		free(b->name);
		free(b->path);
		free(b->host);
		free(b);
		return NULL;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	uv_async_init(loop, &b->async, mbt__on_async);
	b->async.data = b;
	if (pthread_create(&b->thread, NULL, mbt__worker, b) != 0) {
		uv_close((uv_handle_t *)&b->async, mbt__bus_free);
		return NULL;
	}
	b->next = mbt__buses;
	mbt__buses = b;
	return b;
}

/* The gap of the bus: the largest its devices ask for. */
static void mbt__bus_gap(struct mbt_bus *b)
{
	uint32_t gap = 0;
	for (struct mbt_dev *d = b->devs; d; d = d->next)
		if (d->gap_ms > gap)
			gap = d->gap_ms;
	pthread_mutex_lock(&b->mu);
	b->gap_ms = gap;
	pthread_mutex_unlock(&b->mu);
}

/* ------------------------------------------------------------------ ops -- */

static int tr_modbus__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			   const struct map *map, void **state, char *err, size_t errlen)
{
	(void)map;
	const struct mbt_cfg *c = cfg->proto_cfg;
	if (!c || (!c->device && !c->host)) {
		snprintf(err, errlen, "device %s (line %d): no modbus block", cfg->name, cfg->line);
		return MB_EINVAL;
	}
	struct mbt_dev *d = calloc(1, sizeof *d);
	struct mbt_bus *b = d ? mbt__bus_get(loop, c) : NULL;
	if (!b) {
		free(d);
		snprintf(err, errlen, "device %s: out of memory", cfg->name);
		return MB_ENOMEM;
	}
	d->dev = dev;
	d->bus = b;
	d->slave = (uint8_t)(c->device ? c->slave : c->unit);
	d->gap_ms = (uint32_t)c->gap;
	d->next = b->devs;
	b->devs = d;
	b->ndevs++;
	mbt__bus_gap(b);
	/* A bus already open: the device hears so on the loop's next turn. */
	uv_async_send(&b->async);
	*state = d;
	return 0;
}

static enum mb_exc tr_modbus__start(void *state, struct txn *t)
{
	struct mbt_dev *d = state;
	struct mbt_bus *b = d->bus;
	if (!b->up || t->count == 0 || t->count > MB_MAX_READ)
		return b->up ? MB_EXC_ILLEGAL_VALUE : MB_EXC_GATEWAY_PATH;
	struct mbt_job *j = calloc(1, sizeof *j);
	if (!j)
		return MB_EXC_DEVICE_FAILURE;
	j->owner = d;
	j->slave = d->slave;
	j->addr = t->native;
	j->count = t->count;
	if (t->op == TXN_READ) {
		j->fc = t->table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
	} else {
		j->fc = t->fc == MB_FC_WRITE_SINGLE && t->count == 1 ? MB_FC_WRITE_SINGLE
								     : MB_FC_WRITE_MULTIPLE;
		memcpy(j->words, t->words, t->count * sizeof(uint16_t));
	}
	/* libmodbus waits at most the device model's time for one attempt
	 * (the device's timeout shared by its tries), so that the worker is
	 * free again when the device retries or gives up. */
	uint64_t attempt = device_timeout(d->dev) / (1u + device_retries(d->dev));
	j->timeout_ms = attempt > 20 ? (uint32_t)(attempt - attempt / 10) : 20;
	d->jobs_out++;
	d->cur = t;
	d->job = j;
	pthread_mutex_lock(&b->mu);
	if (b->qtail)
		b->qtail->next = j;
	else
		b->qhead = j;
	b->qtail = j;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->mu);
	return MB_EXC_NONE;
}

/* Take job j out of b's run queue if it has not started (mu held): 1 if so. */
static int mbt__unqueue(struct mbt_bus *b, struct mbt_job *j)
{
	for (struct mbt_job **pp = &b->qhead, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != j)
			continue;
		*pp = j->next;
		if (b->qtail == j)
			b->qtail = prev;
		return 1;
	}
	return 0;
}

static void tr_modbus__abort(void *state, struct txn *t)
{
	struct mbt_dev *d = state;
	if (d->cur != t)
		return;
	struct mbt_job *j = d->job;
	d->cur = NULL;
	d->job = NULL;
	if (!j)
		return;
	/* Not started yet: it never goes on the wire. Started: the worker
	 * finishes it and its answer is dropped (mbt__deliver). */
	pthread_mutex_lock(&d->bus->mu);
	int unqueued = mbt__unqueue(d->bus, j);
	pthread_mutex_unlock(&d->bus->mu);
	if (unqueued) {
		free(j);
		mbt__dev_unref_job(d);
	}
}

static int tr_modbus__link_up(void *state)
{
	const struct mbt_dev *d = state;
	return d->bus->up;
}

static void tr_modbus__close(void *state)
{
	struct mbt_dev *d = state;
	struct mbt_bus *b = d->bus;
	if (d->cur)
		tr_modbus__abort(d, d->cur);
	for (struct mbt_dev **pp = &b->devs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	b->ndevs--;
	d->closed = 1;
	if (b->ndevs == 0) {
		/* The last device: stop the worker. It finishes the transaction
		 * it may be in (bounded by libmodbus's timeout), says it has
		 * exited, and the loop joins it then (mbt__on_async). */
		for (struct mbt_bus **pp = &mbt__buses; *pp; pp = &(*pp)->next) {
			if (*pp == b) {
				*pp = b->next;
				break;
			}
		}
		pthread_mutex_lock(&b->mu);
		b->stop = 1;
		pthread_cond_signal(&b->cond);
		pthread_mutex_unlock(&b->mu);
	} else {
		mbt__bus_gap(b);
	}
	if (d->jobs_out == 0)
		free(d);
}

const struct transport_ops transport_modbus = {
    .name = "modbus",
    .flags = 0,
    .max_read = MB_MAX_READ,
    .open = tr_modbus__open,
    .start = tr_modbus__start,
    .abort = tr_modbus__abort,
    .link_up = tr_modbus__link_up,
    .close = tr_modbus__close,
};

/* ------------------------------------------------------------- protocol -- */

static const char *const mbt__parities[] = {"none", "even", "odd", NULL};

static int mbt__cfg_init(void *cfg)
{
	struct mbt_cfg *c = cfg;
	c->baud = c->data_bits = c->stop_bits = c->slave = -1;
	c->port = c->unit = c->gap = -1;
	c->parity = 0xFF;
	return 0;
}

/* Serial keys with `device`, TCP keys with `host`, never both; then the
 * defaults: 9600 8N1, slave 1; port 502, unit 1; gap 10 ms serial, 0 TCP. */
static int mbt__cfg_done(struct config_parser *p, const struct config_setting_t *block, void *cfg)
{
	struct mbt_cfg *c = cfg;
	static const char *const serial_keys[] = {"baud", "parity", "data_bits", "stop_bits",
						  "slave"};
	static const char *const tcp_keys[] = {"port", "unit"};
	if (!c->device == !c->host)
		return config_error(p, block,
				    "modbus: give either `device` (a serial line) or `host` "
				    "(Modbus TCP), not %s",
				    c->device ? "both" : "neither");
	const char *const *wrong = c->device ? tcp_keys : serial_keys;
	size_t nwrong = c->device ? 2 : 5;
	for (size_t i = 0; i < nwrong; i++) {
		const config_setting_t *s =
		    config_setting_get_member((config_setting_t *)block, wrong[i]);
		if (s)
			return config_error(p, s, "modbus: `%s` is a %s key; this device has `%s`",
					    wrong[i], c->device ? "TCP" : "serial",
					    c->device ? "device" : "host");
	}
	if (c->device) {
		c->baud = c->baud < 0 ? 9600 : c->baud;
		c->data_bits = c->data_bits < 0 ? 8 : c->data_bits;
		c->stop_bits = c->stop_bits < 0 ? 1 : c->stop_bits;
		c->slave = c->slave < 0 ? 1 : c->slave;
		c->parity = (uint8_t)(c->parity == 0xFF ? 'N' : "NEO"[c->parity]);
		c->gap = c->gap < 0 ? MBT_GAP_SERIAL : c->gap;
	} else {
		c->port = c->port < 0 ? 502 : c->port;
		c->unit = c->unit < 0 ? 1 : c->unit;
		c->gap = c->gap < 0 ? 0 : c->gap;
	}
	return 0;
}

#define MBT__CFG(field) offsetof(struct mbt_cfg, field)

/* clang-format off */
static const struct config_key mbt__keys[] = {
	{.name = "device", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = MBT__CFG(device)},
	{.name = "baud", .kind = CONFIG_K_INT, .off = MBT__CFG(baud), .min = 300, .max = 4000000},
	{.name = "parity", .kind = CONFIG_K_CHOICE, .off = MBT__CFG(parity),
	 .choices = mbt__parities},
	{.name = "data_bits", .kind = CONFIG_K_INT, .off = MBT__CFG(data_bits), .min = 5, .max = 8},
	{.name = "stop_bits", .kind = CONFIG_K_INT, .off = MBT__CFG(stop_bits), .min = 1, .max = 2},
	{.name = "slave", .kind = CONFIG_K_INT, .off = MBT__CFG(slave), .min = 1, .max = 247},
	{.name = "host", .kind = CONFIG_K_STRING, .flags = CONFIG_F_NONEMPTY,
	 .off = MBT__CFG(host)},
	{.name = "port", .kind = CONFIG_K_INT, .off = MBT__CFG(port), .min = 1, .max = 65535},
	{.name = "unit", .kind = CONFIG_K_INT, .off = MBT__CFG(unit), .min = 0, .max = 255},
	{.name = "gap", .kind = CONFIG_K_INT, .off = MBT__CFG(gap), .min = 0, .max = 10000,
	 .unit = "ms"},
};
/* clang-format on */

const struct protocol protocol_modbus = {
    .name = "modbus",
    .text = "Modbus equipment: RTU on a serial line or Modbus TCP, through libmodbus",
    .flags = PROTOCOL_NATIVE | PROTOCOL_RTU,
    .keys = mbt__keys,
    .nkeys = sizeof mbt__keys / sizeof mbt__keys[0],
    .cfg_size = sizeof(struct mbt_cfg),
    .cfg_init = mbt__cfg_init,
    .cfg_done = mbt__cfg_done,
    .ops = &transport_modbus,
    .default_poll = 0,
    .typical_rtt = 50,
};

/* Fuzz target for the PowerGo transport with its state (bridge/tr_powergo.c)
 * and the device model behind it, not only the pure codec.
 *
 * The input is a script of operations: client reads and writes (which start
 * native transactions through the real device model), messages arriving on
 * the response topic (raw bytes, or a well-formed answer to the request last
 * published with fuzzed values, so that the accepting paths and the ghost
 * bookkeeping are reached), link drops (which abort the transaction in
 * flight and leave a ghost) and timer runs (timeouts and retries). The MQTT
 * link is replaced by stubs through the transport's env
 * (include/transport_test.h), so no broker is needed.
 *
 * Checked: no crash or sanitizer report, every client request answered at
 * most once, and no client ever gets a value from an answer to another
 * request: the scripted device holds 0x5000 + r in register r and answers
 * the last few requests truthfully, in the order they were asked and each at
 * most once (answers may be lost or late, as on a real link), so a read that
 * succeeds with anything else took a stranger's answer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec_powergo.h"
#include "config.h"
#include "device.h"
#include "link_mqtt.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "transport_test.h"

static void fz_fail(int line)
{
	fprintf(stderr, "fuzz_tr_powergo: check at line %d failed\n", line);
	__builtin_trap();
}

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fz_fail(__LINE__);                                                         \
	} while (0)

/* --- the link stubs --------------------------------------------------- */

#define FZ_APP 0x053461ADu
#define FZ_DEV 0x15020115u
static uv_loop_t fz_loop;

static int fz_dummy_link;
static link_mqtt_msg_cb fz_msg;
static link_mqtt_state_cb fz_state;
static void *fz_ctx;
/* The last requests published, newest at fz_hist[(fz_nhist - 1) % FZ_HIST]. */
#define FZ_HIST 8
static uint8_t fz_hist[FZ_HIST][POWERGO_BUF_LEN];
static int fz_hist_len[FZ_HIST];
static uint64_t fz_hist_at[FZ_HIST]; /* loop ms when published */
static unsigned fz_nhist;
/* The device answers in order, each request at most once (it may lose
 * answers): only requests after fz_answered may still be answered. */
static unsigned fz_answered;

static struct link_mqtt *fz_link_get(uv_loop_t *loop, const struct config_mqtt *cfg,
				     const char *client_id, char *err, size_t errlen)
{
	(void)loop, (void)cfg, (void)client_id, (void)err, (void)errlen;
	return (struct link_mqtt *)&fz_dummy_link;
}

static int fz_link_subscribe(struct link_mqtt *l, const char *topic, int qos,
			     link_mqtt_msg_cb msg_cb, link_mqtt_state_cb state_cb, void *ctx)
{
	(void)l, (void)topic, (void)qos;
	fz_msg = msg_cb;
	fz_state = state_cb;
	fz_ctx = ctx;
	return 0;
}

static int fz_link_publish(struct link_mqtt *l, const char *topic, const void *payload, size_t len,
			   int qos, int retain, int *mid, link_mqtt_pub_cb pub_cb, void *ctx)
{
	(void)l, (void)topic, (void)qos, (void)retain, (void)mid, (void)pub_cb, (void)ctx;
	if (len > POWERGO_BUF_LEN)
		return MB_ETOOBIG;
	memcpy(fz_hist[fz_nhist % FZ_HIST], payload, len);
	fz_hist_len[fz_nhist % FZ_HIST] = (int)len;
	uv_update_time(&fz_loop);
	fz_hist_at[fz_nhist % FZ_HIST] = uv_now(&fz_loop);
	fz_nhist++;
	return 0;
}

static bool fz_link_is_up(const struct link_mqtt *l)
{
	(void)l;
	return true;
}

static int fz_link_limit(struct link_mqtt *l, void *ctx, size_t max_len, link_mqtt_msg_cb drop_cb)
{
	(void)l, (void)ctx, (void)max_len, (void)drop_cb;
	return 0;
}

static void fz_link_release(struct link_mqtt *l, void *ctx)
{
	(void)l, (void)ctx;
	fz_msg = NULL;
	fz_state = NULL;
}

static const struct link_mqtt_ops fz_mqtt = {
    .get = fz_link_get,
    .subscribe = fz_link_subscribe,
    .limit = fz_link_limit,
    .publish = fz_link_publish,
    .is_up = fz_link_is_up,
    .release = fz_link_release,
};
static struct transport_env fz_env;

/* --- the device ---------------------------------------------------------- */

static struct map *fz_map;
static struct config fz_conf;
static struct config_device fz_dcfg;

struct fz_req {
	int called;
	int is_read;
	uint16_t addr, count;
};
#define FZ_REQS 64
static struct fz_req fz_reqs[FZ_REQS];

static void fz_on_answer(void *ctx, enum mb_exc status, const uint16_t *words, uint16_t count)
{
	struct fz_req *r = ctx;
	FZ_CHECK(r->called == 0);
	r->called = 1;
	if (status == 0 && r->is_read) {
		FZ_CHECK(words && count == r->count);
		for (uint16_t i = 0; i < count; i++) {
			if (words[i] != (uint16_t)(0x5000u + r->addr + i))
				fprintf(stderr, "read %u x %u: word %u is %04x\n", r->addr,
					r->count, i, words[i]);
			FZ_CHECK(words[i] == (uint16_t)(0x5000u + r->addr + i));
		}
	}
}

static void fz_setup(void)
{
	static int done;
	char path[64], err[512];
	if (done)
		return;
	done = 1;
	uv_loop_init(&fz_loop);
	snprintf(path, sizeof path, "/tmp/fuzz_tr_powergo.%ld.conf", (long)getpid());
	FILE *f = fopen(path, "w");
	FZ_CHECK(f != NULL);
	fprintf(f, "name = \"fz\"; protocol = \"powergo\"; trust = \"generated\";\n"
		   "registers = (\n");
	for (int a = 0; a < 12; a++)
		fprintf(f, "{ address = %d; name = \"r%d\"; access = \"rw\"; },\n", a, a);
	fprintf(f, "{ address = 20; name = \"lone\"; access = \"rw\"; },\n");
	fprintf(f, "{ address = 30; name = \"w\"; type = \"uint32\"; access = \"rw\"; }\n);\n");
	fclose(f);
	fz_map = map_load(path, err, sizeof err);
	unlink(path);
	FZ_CHECK(fz_map != NULL);
	fz_conf.path = "fuzz.conf";
	fz_conf.defaults.timeout = 3000;
	fz_conf.defaults.retries = -1;
	fz_dcfg.name = "fz";
	fz_dcfg.unit_id = 1;
	fz_dcfg.map = "fz";
	fz_dcfg.timeout = 9;
	fz_dcfg.max_age = 0;
	fz_dcfg.poll = 0;
	fz_dcfg.min_interval = 0;
	fz_dcfg.retries = 2;
	/* The powergo block as the config loader parses it into the
	 * protocol's own struct (kept for the life of the process). */
	snprintf(path, sizeof path, "/tmp/fuzz_tr_powergo.%ld.cfg", (long)getpid());
	f = fopen(path, "w");
	FZ_CHECK(f != NULL);
	fprintf(f, "devices = ( { name = \"fz\"; unit_id = 1; map = \"fz\";\n"
		   "  mqtt = { host = \"fuzz\"; };\n"
		   "  powergo = { app_id = \"053461AD\"; device_id = \"15020115\"; }; } );\n");
	fclose(f);
	static struct config *block;
	FZ_CHECK(config_load(path, &block, err, sizeof err) == 0);
	unlink(path);
	fz_dcfg.proto = block->devices[0].proto;
	fz_dcfg.proto_cfg = block->devices[0].proto_cfg;
	/* The real device model and clock, the link stubs above. */
	fz_env = transport_env_real;
	fz_env.mqtt = &fz_mqtt;
	transport_env = &fz_env;
}

/* A truthful answer to one of the last requests published (back = 0: the
 * newest, which may be in flight; more: a late answer), a damaged one, or an
 * exception. */
static int fz_answer(uint8_t kind, uint8_t *out, size_t cap)
{
	struct powergo_request_in in;
	unsigned back = (kind >> 2) % FZ_HIST;
	if (back >= fz_nhist || fz_nhist - back <= fz_answered)
		return -1;
	unsigned k = (fz_nhist - 1 - back) % FZ_HIST;
	fz_answered = fz_nhist - back;
	/* The transport promises to tell late answers apart for two device
	 * timeouts after it gave up (tr_powergo.c); later ones are out of
	 * its promise, so the scripted device does not send them. */
	uv_update_time(&fz_loop);
	if (uv_now(&fz_loop) - fz_hist_at[k] + 1 >= 2 * (uint64_t)fz_dcfg.timeout)
		return -1;
	if (codec_powergo_decode_request(fz_hist[k], (size_t)fz_hist_len[k], FZ_DEV, &in) != 0)
		return -1;
	if (kind % 4 == 3)
		return codec_powergo_encode_exception(FZ_DEV, FZ_APP, in.fc,
						      (uint8_t)(1 + kind % 11), out, cap);
	if (in.fc == MB_FC_WRITE_SINGLE || in.fc == MB_FC_WRITE_MULTIPLE)
		return codec_powergo_encode_write_answer(
		    FZ_DEV, FZ_APP, in.fc, in.addr,
		    in.fc == MB_FC_WRITE_SINGLE ? in.words[0] : in.count, out, cap);
	uint16_t words[125];
	for (uint16_t i = 0; i < in.count && i < 125; i++)
		words[i] = (uint16_t)(0x5000u + in.addr + i);
	int n = codec_powergo_encode_read_answer(FZ_DEV, FZ_APP, in.fc, words, in.count, out, cap);
	/* A frame damaged on the way (its checksum no longer fits). A device
	 * that answers with another length is not modelled: such an answer is
	 * indistinguishable from a true answer to a shorter request. */
	if (kind % 4 == 2 && n > 12)
		out[12] ^= 0x5A;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_setup();
	struct device *dev = NULL;
	char err[256];
	memset(fz_reqs, 0, sizeof fz_reqs);
	fz_nhist = 0;
	fz_answered = 0;
	if (device_create_ops(&fz_loop, &fz_conf, &fz_dcfg, fz_map, &transport_powergo, &dev, err,
			      sizeof err) != 0)
		return 0;
	device_link_changed(dev, 1);

	struct device_req *handles[FZ_REQS] = {0};
	size_t nreq = 0, i = 0;
	uint16_t out[MB_MAX_READ];
	while (i < size) {
		uint8_t op = data[i++];
		uint8_t a = i < size ? data[i] : 0, b = i + 1 < size ? data[i + 1] : 0;
		switch (op % 6) {
		case 0: /* a client read */
		case 1: /* a client write */
			i += 2;
			if (nreq == FZ_REQS)
				break;
			{
				struct fz_req *r = &fz_reqs[nreq];
				int is_read = op % 6 == 0;
				uint16_t addr = (uint16_t)(a % 32), count = (uint16_t)(1 + b % 4);
				uint16_t vals[4] = {(uint16_t)(a * 257u), (uint16_t)b, 1, 2};
				r->is_read = is_read;
				r->addr = addr;
				r->count = count;
				struct device_outcome rc =
				    is_read ? device_read(dev, MB_FC_READ_HOLDING, addr, count, out,
							  fz_on_answer, r, &handles[nreq])
					    : device_write(dev,
							   count == 1 ? MB_FC_WRITE_SINGLE
								      : MB_FC_WRITE_MULTIPLE,
							   addr, count, vals, fz_on_answer, r,
							   &handles[nreq]);
				if (rc.pending)
					nreq++;
				else
					r->called = 0;
			}
			break;
		case 2: { /* a message: raw bytes from the script */
			size_t len = a;
			i++;
			if (len > size - i)
				len = size - i;
			if (fz_msg)
				fz_msg(fz_ctx, "053461AD", data + i, len);
			i += len;
			break;
		}
		case 3: { /* a message: an answer to one of the last requests */
			uint8_t frame[POWERGO_BUF_LEN];
			int n = fz_answer(a, frame, sizeof frame);
			i++;
			if (n > 0 && fz_msg)
				fz_msg(fz_ctx, "053461AD", frame, (size_t)n);
			break;
		}
		case 4: /* the link drops and comes back */
			if (fz_state) {
				fz_state(fz_ctx, 0);
				fz_state(fz_ctx, 1);
			}
			break;
		case 5: /* time passes: attempts time out, retries start */
			uv_sleep(1 + a % 4);
			i++;
			uv_run(&fz_loop, UV_RUN_NOWAIT);
			break;
		}
	}
	/* Clients still waiting go away; then the device closes. */
	for (size_t k = 0; k < nreq; k++)
		if (!fz_reqs[k].called)
			device_cancel(handles[k]);
	device_close(dev);
	uv_run(&fz_loop, UV_RUN_DEFAULT);
	return 0;
}

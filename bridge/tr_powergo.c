/* The `powergo` transport: Modbus RTU PDUs wrapped in the PowerGo header,
 * carried over MQTT (powergo-mqtt-interface.txt; DESIGN.md).
 *
 * Requests are published to <device_id> (or powergo.request_topic), answers
 * arrive on <app_id> (or response_topic). The client ID is "APP" + app_id
 * unless mqtt.client_id says otherwise, so that the platform recognises us.
 *
 * The protocol carries no transaction ID: an answer can only be told from
 * another by its IDs, function code and length. The device model therefore
 * gives us one transaction at a time, and anything that does not fit the one
 * in flight — wrong IDs, bad CRC, another function code or length, nothing
 * in flight, an answer after the device gave up — is dropped and counted.
 * One case cannot be told apart: a late answer to an aborted read that
 * arrives while an identical read (same function code and count) is in
 * flight would be taken as that read's answer. The device model narrows it
 * (no TRANSPORT_MATCHES_ANSWERS: after a timeout it waits one more timeout
 * before the next start, so a late answer finds nothing in flight); what is
 * left is an answer later than twice the timeout, which carries the device's
 * own values, only older. Writes are safe: their echo names address and
 * value (FC06) or address and count (FC16).
 *
 * Sizes (section 4: an instruction and its data never exceed 100 bytes):
 * a read answer is 14 + 2n bytes, so max_read = 43 registers (powergo.h has
 * the arithmetic); an FC16 instruction is 18 + 2n bytes, so at most 41
 * registers. A longer write is refused with exception 03 rather than split:
 * the pieces would be separate instructions, and if a later one failed the
 * device would be left half-written while the client is told it failed —
 * a write is acknowledged only when the device acknowledged all of it. No
 * writable block in the shipped map is anywhere near 41 registers long. */
#include "transport.h"

#include "config.h"
#include "device.h"
#include "log.h"
#include "map.h"
#include "mb_error.h"
#include "mbdef.h"
#include "mqtt.h"
#include "powergo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tr_powergo {
	struct device *dev;
	struct mqtt_link *link;
	uint32_t app, device;
	char *req_topic, *resp_topic;
	int qos;
	struct txn *cur;	/* the transaction in flight, or NULL */
	struct powergo_req req; /* what was asked, to check the answer */
	uint16_t words[POWERGO_MAX_WRITE];
};

static void tr_powergo__hexdump(char *out, size_t outlen, const uint8_t *p, size_t len)
{
	size_t used = 0;
	out[0] = '\0';
	for (size_t i = 0; i < len && used + 4 < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%02x", i ? " " : "", p[i]);
}

static void tr_powergo__drop(struct tr_powergo *st, const char *why, const uint8_t *p, size_t len)
{
	device_count_drop(st->dev);
	if (log_enabled(MBLOG_DEBUG)) {
		char hex[3 * 64 + 8];
		tr_powergo__hexdump(hex, sizeof hex, p, len < 64 ? len : 64);
		log_debug("%s: dropped answer (%s, %zu bytes): %s%s", device_name(st->dev), why,
			  len, hex, len > 64 ? " ..." : "");
	}
}

static void tr_powergo__on_message(void *ctx, const char *topic, const uint8_t *payload, size_t len)
{
	struct tr_powergo *st = ctx;
	struct powergo_answer a;
	(void)topic;

	if (!st->cur) {
		tr_powergo__drop(st, "no request in flight", payload, len);
		return;
	}
	int rc = powergo_decode_answer(&st->req, payload, len, &a);
	if (rc < 0) {
		tr_powergo__drop(st, mb_strerror(rc), payload, len);
		return;
	}
	/* Clear our state first: device_txn_done() may start the next one. */
	struct txn *t = st->cur;
	st->cur = NULL;
	if (a.exception) {
		log_debug("%s: device answered exception %02x to fc %02x at %u",
			  device_name(st->dev), a.exception, st->req.fc, st->req.addr);
		device_txn_done(st->dev, t, a.exception);
		return;
	}
	if (t->op == TXN_READ)
		device_cache_store(st->dev, t->table, t->addr, t->count, a.words);
	device_txn_done(st->dev, t, 0);
}

static void tr_powergo__on_state(void *ctx, int up)
{
	struct tr_powergo *st = ctx;
	/* The device fails (and aborts) what is in flight when the link goes
	 * down: an answer can no longer reach us on this connection. */
	device_link_changed(st->dev, up);
}

static int tr_powergo__open(struct device *dev, uv_loop_t *loop, const struct config_device *cfg,
			    const struct map *map, void **state, char *err, size_t errlen)
{
	char app[9], devid[9], client[16];
	(void)map;

	struct tr_powergo *st = calloc(1, sizeof *st);
	if (!st) {
		snprintf(err, errlen, "line %d: device %s: out of memory", cfg->line, cfg->name);
		return MB_ENOMEM;
	}
	st->dev = dev;
	if (powergo_parse_id(cfg->powergo.app_id, &st->app) != 0 ||
	    powergo_parse_id(cfg->powergo.device_id, &st->device) != 0) {
		snprintf(
		    err, errlen,
		    "line %d: device %s: powergo needs app_id and device_id, 8 hex digits each",
		    cfg->line, cfg->name);
		free(st);
		return MB_EINVAL;
	}
	powergo_format_id(st->app, app);
	powergo_format_id(st->device, devid);
	st->req_topic = strdup(cfg->powergo.request_topic ? cfg->powergo.request_topic : devid);
	st->resp_topic = strdup(cfg->powergo.response_topic ? cfg->powergo.response_topic : app);
	st->qos = cfg->mqtt.qos >= 0 && cfg->mqtt.qos <= 2 ? cfg->mqtt.qos : 0;
	snprintf(client, sizeof client, "APP%s", app);
	const char *client_id = cfg->mqtt.client_id ? cfg->mqtt.client_id : client;
	if (!st->req_topic || !st->resp_topic)
		goto nomem;
	st->link = mqtt_link_get(loop, &cfg->mqtt, client_id, err, errlen);
	if (!st->link) {
		free(st->req_topic);
		free(st->resp_topic);
		free(st);
		return MB_EIO;
	}
	if (mqtt_link_subscribe(st->link, st->resp_topic, st->qos, tr_powergo__on_message,
				tr_powergo__on_state, st) != 0) {
		mqtt_link_release(st->link, st);
		goto nomem;
	}
	log_debug("%s: powergo app %s device %s, requests to '%s', answers on '%s', client %s",
		  cfg->name, app, devid, st->req_topic, st->resp_topic, client_id);
	*state = st;
	return 0;

nomem:
	snprintf(err, errlen, "line %d: device %s: out of memory", cfg->line, cfg->name);
	free(st->req_topic);
	free(st->resp_topic);
	free(st);
	return MB_ENOMEM;
}

static int tr_powergo__start(void *state, struct txn *t)
{
	struct tr_powergo *st = state;
	uint8_t frame[POWERGO_BUF_LEN];

	if (st->cur) {
		/* The device model promises one transaction at a time; without
		 * a transaction ID two could not be told apart. */
		log_err("%s: powergo: a second transaction while one is in flight",
			device_name(st->dev));
		return MB_EXC_DEVICE_FAILURE;
	}
	if (!mqtt_link_is_up(st->link))
		return MB_EXC_GATEWAY_PATH;

	st->req.app = st->app;
	st->req.device = st->device;
	st->req.addr = t->native;
	st->req.count = t->count;
	st->req.words = NULL;
	if (t->op == TXN_READ) {
		if (t->count == 0 || t->count > POWERGO_MAX_READ)
			return MB_EXC_ILLEGAL_VALUE;
		st->req.fc = t->table == MAP_INPUT ? MB_FC_READ_INPUT : MB_FC_READ_HOLDING;
	} else {
		/* See the top of this file: no split writes. */
		if (t->count == 0 || t->count > POWERGO_MAX_WRITE || !t->words)
			return MB_EXC_ILLEGAL_VALUE;
		st->req.fc = t->fc == MB_FC_WRITE_SINGLE && t->count == 1 ? MB_FC_WRITE_SINGLE
									  : MB_FC_WRITE_MULTIPLE;
		memcpy(st->words, t->words, t->count * sizeof st->words[0]);
		st->req.words = st->words;
	}
	int n = powergo_encode_request(&st->req, frame, sizeof frame);
	if (n < 0 || n > POWERGO_MAX_FRAME) {
		log_err("%s: powergo: cannot encode fc %02x at %u x %u: %s", device_name(st->dev),
			st->req.fc, st->req.addr, st->req.count,
			n < 0 ? mb_strerror(n) : "too long");
		return MB_EXC_DEVICE_FAILURE;
	}
	int rc = mqtt_link_publish(st->link, st->req_topic, frame, (size_t)n, st->qos, 0, NULL,
				   NULL, NULL);
	if (rc != 0) {
		log_debug("%s: powergo: publish failed: %s", device_name(st->dev), mb_strerror(rc));
		return rc == MB_ELINK ? MB_EXC_GATEWAY_PATH : MB_EXC_DEVICE_FAILURE;
	}
	st->cur = t;
	return 0;
}

static void tr_powergo__abort(void *state, struct txn *t)
{
	struct tr_powergo *st = state;
	/* Forget it: whatever answers it later is dropped and counted. */
	if (st->cur == t)
		st->cur = NULL;
}

static int tr_powergo__link_up(void *state)
{
	struct tr_powergo *st = state;
	return mqtt_link_is_up(st->link);
}

static void tr_powergo__close(void *state)
{
	struct tr_powergo *st = state;
	if (!st)
		return;
	/* The link drops our callbacks now; it closes its own handles. */
	mqtt_link_release(st->link, st);
	free(st->req_topic);
	free(st->resp_topic);
	free(st);
}

const struct transport_ops transport_powergo = {
    .name = "powergo",
    .max_read = POWERGO_MAX_READ,
    .open = tr_powergo__open,
    .start = tr_powergo__start,
    .abort = tr_powergo__abort,
    .link_up = tr_powergo__link_up,
    .close = tr_powergo__close,
};

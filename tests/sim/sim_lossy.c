/* A PowerGo device behind a lossy link, for the write-safety test: it drops a
 * seeded share of the requests it receives (the device never saw them) and of
 * the answers it would send (the device acted, the bridge never hears it).
 *
 *   sim_lossy --host 127.0.0.1 --port N --device-id ID
 *             [--drop-req PCT] [--drop-ans PCT] [--late PCT --late-ms MS]
 *             [--in-order] [--pattern] [--seed N]
 *
 * --late sends that share of the answers MS milliseconds late instead of at
 * once (the answer a bridge has given up on, arriving while it waits for
 * another); the answers after it are not held back, so they overtake it.
 * With --in-order they are: every answer waits for the one before it, as a
 * device that answers one instruction at a time keeps them (a late answer
 * then makes the next ones late too). --pattern fills the registers with distinct values (register
 * a holds (a * 7919 + 13) mod 65536), so that a value taken from the wrong answer is seen.
 *
 * It keeps a bank of 65536 holding registers (all 0 unless --pattern), answers
 * FC03/FC04 with them and applies FC06/FC16 writes. Every register a write
 * changes is one line on stdout, "applied addr=A value=V", written when the
 * write is applied (whether or not its answer is then dropped), so that a
 * test can count how often each value reached the device. Drops are logged as
 * "drop request ..." / "drop answer ...". "subscribed" says it is ready.
 * Reconnects when the broker goes away; exits 0 on SIGTERM. */
#include <errno.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mb_error.h"
#include "mbdef.h"
#include "codec_powergo.h"

static volatile sig_atomic_t lossy_stop;
static uint16_t lossy_reg[65536];
static uint32_t lossy_device;
static char lossy_device_s[9];
static unsigned lossy_drop_req, lossy_drop_ans;
static uint64_t lossy_rng = 0x9E3779B97F4A7C15ull;
static unsigned long lossy_nreq, lossy_nreq_dropped, lossy_nans_dropped, lossy_nlate;
static unsigned lossy_late, lossy_late_ms;
static int lossy_in_order;
/* --in-order: the due time of the last answer queued; an answer is never
 * due before it. */
static uint64_t lossy_last_due;

/* Answers held back by --late, sent in order of their time. */
#define LOSSY_LATE_MAX 256
static struct lossy_held {
	uint64_t due; /* ms, 0 = free */
	char topic[9];
	int len;
	uint8_t buf[POWERGO_BUF_LEN];
} lossy_held[LOSSY_LATE_MAX];

static uint64_t lossy_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static unsigned long lossy_held_seq[LOSSY_LATE_MAX], lossy_next_seq;

static void lossy_send_due(struct mosquitto *mosq)
{
	uint64_t now = lossy_now_ms();
	for (;;) {
		/* The earliest due answer, first queued among equals. */
		struct lossy_held *best = NULL;
		size_t bi = 0;
		for (size_t i = 0; i < LOSSY_LATE_MAX; i++) {
			struct lossy_held *h = &lossy_held[i];
			if (!h->due || h->due > now)
				continue;
			if (!best || h->due < best->due ||
			    (h->due == best->due && lossy_held_seq[i] < lossy_held_seq[bi])) {
				best = h;
				bi = i;
			}
		}
		if (!best)
			return;
		mosquitto_publish(mosq, NULL, best->topic, best->len, best->buf, 0, false);
		best->due = 0;
	}
}

/* Queue an answer to go out at due. 0 when the queue is full. */
static int lossy_hold(const char *topic, const uint8_t *buf, int n, uint64_t due)
{
	for (size_t i = 0; i < LOSSY_LATE_MAX; i++) {
		struct lossy_held *h = &lossy_held[i];
		if (h->due)
			continue;
		h->due = due;
		memcpy(h->topic, topic, sizeof h->topic);
		memcpy(h->buf, buf, (size_t)n);
		h->len = n;
		lossy_held_seq[i] = lossy_next_seq++;
		return 1;
	}
	return 0;
}

static void lossy_on_signal(int sig)
{
	(void)sig;
	lossy_stop = 1;
}

/* xorshift64*: reproducible from --seed, so a failing run can be replayed. */
static unsigned lossy_percent(void)
{
	lossy_rng ^= lossy_rng >> 12;
	lossy_rng ^= lossy_rng << 25;
	lossy_rng ^= lossy_rng >> 27;
	return (unsigned)((lossy_rng * 2685821657736338717ull) >> 33) % 100u;
}

static void lossy_on_request(struct mosquitto *mosq, const uint8_t *buf, int len)
{
	struct powergo_request_in in;
	uint8_t out[POWERGO_BUF_LEN];
	int n;

	int rc = codec_powergo_decode_request(buf, (size_t)len, lossy_device, &in);
	if (rc < 0) {
		printf("bad request (%s, %d bytes)\n", mb_strerror(rc), len);
		return;
	}
	lossy_nreq++;
	/* Roll both dice for every request, so that the sequence of drops
	 * depends on the seed only, not on what was dropped before. */
	int drop_req = lossy_percent() < lossy_drop_req;
	int drop_ans = lossy_percent() < lossy_drop_ans;
	int late = lossy_late && lossy_percent() < lossy_late;
	if (drop_req) {
		lossy_nreq_dropped++;
		printf("drop request fc=%02u addr=%u count=%u\n", in.fc, in.addr, in.count);
		return;
	}
	switch (in.fc) {
	case MB_FC_READ_HOLDING:
	case MB_FC_READ_INPUT:
		if ((uint32_t)in.addr + in.count > 65536u) {
			n = codec_powergo_encode_exception(lossy_device, in.src, in.fc,
							   MB_EXC_ILLEGAL_ADDRESS, out, sizeof out);
			break;
		}
		n = codec_powergo_encode_read_answer(
		    lossy_device, in.src, in.fc, &lossy_reg[in.addr], in.count, out, sizeof out);
		break;
	case MB_FC_WRITE_SINGLE:
	case MB_FC_WRITE_MULTIPLE:
		if ((uint32_t)in.addr + in.count > 65536u) {
			n = codec_powergo_encode_exception(lossy_device, in.src, in.fc,
							   MB_EXC_ILLEGAL_ADDRESS, out, sizeof out);
			break;
		}
		for (uint16_t i = 0; i < in.count; i++) {
			lossy_reg[in.addr + i] = in.words[i];
			printf("applied addr=%u value=%u\n", in.addr + i, in.words[i]);
		}
		n = codec_powergo_encode_write_answer(
		    lossy_device, in.src, in.fc, in.addr,
		    in.fc == MB_FC_WRITE_SINGLE ? in.words[0] : in.count, out, sizeof out);
		break;
	default:
		n = codec_powergo_encode_exception(lossy_device, in.src, in.fc,
						   MB_EXC_ILLEGAL_FUNCTION, out, sizeof out);
		break;
	}
	if (n < 0) {
		printf("cannot answer: %s\n", mb_strerror(n));
		return;
	}
	if (drop_ans) {
		lossy_nans_dropped++;
		printf("drop answer fc=%02u addr=%u count=%u\n", in.fc, in.addr, in.count);
		return;
	}
	char topic[9];
	codec_powergo_format_id(in.src, topic);
	uint64_t now = lossy_now_ms(), due = late ? now + lossy_late_ms : now;
	if (lossy_in_order && lossy_last_due > due)
		due = lossy_last_due;
	if (due > now) {
		if (lossy_hold(topic, out, n, due)) {
			lossy_last_due = due;
			if (late)
				lossy_nlate++;
			printf("%s answer fc=%02u addr=%u count=%u\n", late ? "late" : "held",
			       in.fc, in.addr, in.count);
			return;
		}
	}
	if (lossy_in_order) /* what is due now goes first */
		lossy_send_due(mosq);
	mosquitto_publish(mosq, NULL, topic, n, out, 0, false);
}

static void lossy_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	(void)obj;
	if (strcmp(m->topic, lossy_device_s) == 0)
		lossy_on_request(mosq, m->payload, m->payloadlen);
}

static void lossy_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)obj;
	if (rc != 0) {
		printf("connect refused: %s\n", mosquitto_connack_string(rc));
		return;
	}
	mosquitto_subscribe(mosq, NULL, lossy_device_s, 0);
}

static void lossy_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int nqos, const int *qos)
{
	(void)mosq;
	(void)obj;
	(void)nqos;
	(void)qos;
	printf("subscribed %s (mid %d)\n", lossy_device_s, mid);
}

static void lossy_usage(void)
{
	fprintf(stderr, "usage: sim_lossy --host H --port N --device-id ID [--drop-req PCT] "
			"[--drop-ans PCT] [--late PCT --late-ms MS] [--in-order] [--pattern] "
			"[--seed N]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *device = NULL;
	int port = 1883;
	unsigned long long seed = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--pattern") == 0) {
			for (uint32_t r = 0; r < 65536; r++)
				lossy_reg[r] = (uint16_t)(r * 7919u + 13u);
			continue;
		}
		if (strcmp(a, "--in-order") == 0) {
			lossy_in_order = 1;
			continue;
		}
		if (i + 1 >= argc)
			lossy_usage();
		const char *v = argv[++i];
		if (strcmp(a, "--host") == 0)
			host = v;
		else if (strcmp(a, "--port") == 0)
			port = atoi(v);
		else if (strcmp(a, "--device-id") == 0)
			device = v;
		else if (strcmp(a, "--drop-req") == 0)
			lossy_drop_req = (unsigned)atoi(v);
		else if (strcmp(a, "--drop-ans") == 0)
			lossy_drop_ans = (unsigned)atoi(v);
		else if (strcmp(a, "--late") == 0)
			lossy_late = (unsigned)atoi(v);
		else if (strcmp(a, "--late-ms") == 0)
			lossy_late_ms = (unsigned)atoi(v);
		else if (strcmp(a, "--seed") == 0)
			seed = strtoull(v, NULL, 0);
		else
			lossy_usage();
	}
	if (!device || codec_powergo_parse_id(device, &lossy_device) != 0 || lossy_drop_req > 100 ||
	    lossy_drop_ans > 100 || lossy_late > 100)
		lossy_usage();
	codec_powergo_format_id(lossy_device, lossy_device_s);
	lossy_rng ^= seed * 0xD1B54A32D192ED03ull;
	if (lossy_rng == 0)
		lossy_rng = 1;

	/* One line per event, in order, even when the output is a file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = lossy_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mosquitto_lib_init();
	char client[64];
	snprintf(client, sizeof client, "sim-lossy-%s-%d", lossy_device_s, (int)getpid());
	struct mosquitto *mosq = mosquitto_new(client, true, NULL);
	if (!mosq) {
		perror("mosquitto_new");
		return 1;
	}
	mosquitto_connect_callback_set(mosq, lossy_on_connect);
	mosquitto_message_callback_set(mosq, lossy_on_message);
	mosquitto_subscribe_callback_set(mosq, lossy_on_subscribe);
	printf("sim_lossy device %s broker %s:%d drop-req %u%% drop-ans %u%% seed %llu\n",
	       lossy_device_s, host, port, lossy_drop_req, lossy_drop_ans, seed);

	int connected = mosquitto_connect(mosq, host, port, 30) == MOSQ_ERR_SUCCESS;
	while (!lossy_stop) {
		if (!connected) {
			usleep(200 * 1000);
			connected = mosquitto_reconnect(mosq) == MOSQ_ERR_SUCCESS;
			continue;
		}
		int rc = mosquitto_loop(mosq, lossy_late || lossy_in_order ? 5 : 50, 1);
		lossy_send_due(mosq);
		if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO) {
			printf("connection lost: %s\n", mosquitto_strerror(rc));
			connected = 0;
		} else if (rc == MOSQ_ERR_ERRNO && errno != EINTR) {
			printf("connection lost: %s\n", strerror(errno));
			connected = 0;
		}
	}
	printf("stopping: %lu requests, %lu dropped, %lu answers dropped, %lu late\n", lossy_nreq,
	       lossy_nreq_dropped, lossy_nans_dropped, lossy_nlate);
	mosquitto_disconnect(mosq);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	return 0;
}

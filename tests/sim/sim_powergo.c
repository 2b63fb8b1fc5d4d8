/* A PowerGo battery on MQTT, as powergo-mqtt-interface.txt describes it: it
 * subscribes to its device ID topic, answers FC03/FC04/FC06/FC16 requests on
 * the topic of the requester's ID (the request's source; --app-id forces one
 * topic), and answers exception 02 for registers it does not know.
 *
 * Its register bank holds the document's example values (register 1 = A030,
 * 529..543 exactly as the status example answer), the defaults of section
 * 5's tables (strings in the document's little-endian byte order) and
 * plausible values for the rest of section 5 (tests/e2e/test_maps_powergo.c
 * says which is which).
 *
 *   sim_powergo --host 127.0.0.1 --port N --device-id 15020115 [--app-id 053461AD]
 *               [--mode normal|silent|badcrc|wrongid|exception|slow]
 *               [--delay-ms N] [--slow-ms N] [--exception-code N] [--bank ADDR:COUNT]
 *               [--outage AT:MS]
 *
 * Modes: silent never answers; badcrc answers with a broken CRC; wrongid
 * answers from another device ID; exception answers every request with
 * --exception-code (default 06, "device busy"); slow answers after --slow-ms
 * (default 2000). --delay-ms delays every answer. --bank adds COUNT zeroed
 * registers at ADDR (for size tests). --outage AT:MS makes the battery go
 * silent AT ms after it subscribed, for MS ms, then answer as before (an
 * outage: requests reach it and are never answered).
 *
 * Pass-through tests: --pattern makes every address known, answering
 * sim_pattern() (tests/sim/sim_pattern.h) where the seed sets nothing, with
 * input registers (FC04) a bank of their own; --fail ADDR:CODE answers a
 * request whose range holds ADDR with exception CODE (up to 8).
 *
 * Control topics: sim/powergo/<device_id>/mode (payload: a mode name) and
 * sim/powergo/<device_id>/set (payload "ADDR=VALUE[,ADDR=VALUE...]") and
 * sim/powergo/<device_id>/delay (payload: milliseconds, as --delay-ms) and
 * sim/powergo/<device_id>/outage (payload: milliseconds: silent from now for
 * that long; "outage N" when it starts, "outage over" when it ends).
 *
 * Every request is one line on stdout ("req fc=03 addr=529 count=15", writes
 * with "values=..."), so tests can count what reached the device. The
 * document's 100-byte rule is enforced: a longer instruction or answer gets
 * exception 03 and a "too long" line. Exits 0 on SIGTERM. */
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
#include "sim_pattern.h"

enum sim_mode { SIM_NORMAL, SIM_SILENT, SIM_BADCRC, SIM_WRONGID, SIM_EXCEPTION, SIM_SLOW };
static const char *const sim_mode_names[] = {"normal",	"silent",    "badcrc",
					     "wrongid", "exception", "slow"};

static volatile sig_atomic_t sim_stop;
static uint16_t sim_reg[65536];
static uint8_t sim_known[65536];
static enum sim_mode sim_mode = SIM_NORMAL;
static uint32_t sim_device;
static char sim_device_s[9];
static const char *sim_app_topic; /* --app-id: answer there instead of to the source */
static int sim_delay_ms, sim_slow_ms = 2000, sim_exc_code = 0x06;
static char sim_topic_mode[64], sim_topic_set[64], sim_topic_delay[64], sim_topic_outage[64];
/* An outage: silent from outage_from until outage_until (monotonic ms; 0 =
 * none). --outage sets outage_at, relative to the subscription. */
static uint64_t sim_outage_from, sim_outage_until;
static long sim_outage_at = -1, sim_outage_ms;
static int sim_pattern_mode;
static uint16_t sim_input[65536]; /* --pattern: the FC04 bank */
static unsigned sim_nfail;
static uint16_t sim_fail_addr[8];
static uint8_t sim_fail_code[8];

/* Answers waiting for their time (delay, slow mode). */
#define SIM_QUEUE 64
static struct {
	uint64_t due;
	char topic[64];
	uint8_t buf[POWERGO_BUF_LEN];
	int len;
} sim_queue[SIM_QUEUE];
static int sim_nqueue;

static uint64_t sim_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sim_on_signal(int sig)
{
	(void)sig;
	sim_stop = 1;
}

static void sim_set(uint16_t addr, uint16_t v)
{
	sim_reg[addr] = v;
	sim_known[addr] = 1;
}

/* 32-bit values: big-endian words, low word first (docs/design.md, "Known errors in the vendor
 * documents"). */
static void sim_set32(uint16_t addr, uint32_t v)
{
	sim_set(addr, (uint16_t)v);
	sim_set((uint16_t)(addr + 1), (uint16_t)(v >> 16));
}

/* Strings: two characters a word, zero-padded, in the order the document's
 * byte-order table (section 5, "Note") gives: "Byte Stream / String:
 * Little-Endian", so the first character of each pair is in the LOW byte.
 * This is the document's rule, not the map's: a map that reads strings
 * first-in-high-byte decodes these as "iyuh" for "yihui". */
static void sim_set_string(uint16_t addr, uint16_t words, const char *s)
{
	size_t n = strlen(s);
	for (uint16_t i = 0; i < words; i++) {
		uint8_t first = 2u * i < n ? (uint8_t)s[2 * i] : 0;
		uint8_t second = 2u * i + 1 < n ? (uint8_t)s[2 * i + 1] : 0;
		sim_set((uint16_t)(addr + i), (uint16_t)(second << 8 | first));
	}
}

static void sim_seed(void)
{
	/* 5.3 status */
	sim_set(1, 0xA030);	   /* the document's version answer */
	sim_set32(12, 0x15020115); /* serial number */
	/* 5.1 communication configuration (defaults of the document) */
	sim_set_string(110, 10, "yihui");
	sim_set_string(120, 10, "yihui223");
	sim_set32(130, 0xFFFFFFFF); /* Wi-Fi static IP: DHCP */
	sim_set32(132, 0xFFFFFFFF);
	sim_set32(134, 0xFFFFFFFF);
	sim_set32(136, 0x08080808); /* DNS 8.8.8.8 */
	sim_set32(138, 0xC0A8010A); /* DHCP-assigned 192.168.1.10 */
	sim_set(140, 0x0003);	    /* Wi-Fi mode: MQTT */
	sim_set(141, 5000);
	sim_set32(142, 0xFFFFFFFF); /* use the URL */
	sim_set_string(144, 25, "3.122.9.160");
	sim_set(169, 1883);
	sim_set_string(170, 10, "MQ123");
	sim_set_string(180, 10, "mqtt");
	sim_set_string(190, 10, "11");
	sim_set32(200, 0xF0000001);
	sim_set32(202, 0xF0000011);
	sim_set32(204, 0xF0000012);
	sim_set32(206, 0xF0000013);
	sim_set(208, (uint16_t)-61); /* Wi-Fi signal, dBm */
	sim_set32(220, 0xC0A801C8);  /* Ethernet 192.168.1.200 */
	sim_set32(222, 0xFFFFFF00);
	sim_set32(224, 0xC0A80101);
	sim_set(230, 0x0000);
	sim_set(231, 1000);
	sim_set(265, 0);
	/* 5.4 control */
	sim_set(280, 800); /* charging power, W */
	sim_set(281, 3);   /* HEMS mode */
	sim_set(306, 0x0000);
	for (uint16_t a = 508; a <= 510; a++)
		sim_set(a, 0);
	for (uint16_t a = 521; a <= 526; a++)
		sim_set(a, 0);
	/* 529..543: the document's status example answer, word for word. */
	static const uint16_t status[15] = {0x0044, 0x0000, 0x0213, 0x0000, 0x0010,
					    0x0011, 0x0012, 0x0013, 0x0014, 0x0015,
					    0x0016, 0x0000, 0xe240, 0x0001, 0x0000};
	for (uint16_t i = 0; i < 15; i++)
		sim_set((uint16_t)(529 + i), status[i]);
	sim_set(548, (uint16_t)(25 << 8 | 11)); /* 2025-11 */
	sim_set(549, (uint16_t)(22 << 8 | 10)); /* day 22, 10 h */
	sim_set(550, (uint16_t)(30 << 8 | 45)); /* 30 min 45 s */
	sim_set(551, 1);
	sim_set(552, 0x0000);
	sim_set(553, 0x173B); /* 23:59 */
	sim_set(554, 0x0000);
	sim_set(555, 0x0000);
	sim_set(558, 1);
	sim_set(559, 0x0000);
	sim_set(560, 0x173B);
	sim_set(561, 0x0000);
	sim_set(562, 0x0000);
	sim_set(568, 0);    /* backup port power, W */
	sim_set(573, 2305); /* 230.5 V */
}

static void sim_send(struct mosquitto *mosq, const char *topic, const uint8_t *buf, int len,
		     int delay)
{
	if (delay <= 0) {
		mosquitto_publish(mosq, NULL, topic, len, buf, 0, false);
		return;
	}
	if (sim_nqueue == SIM_QUEUE) {
		printf("queue full, answer lost\n");
		return;
	}
	sim_queue[sim_nqueue].due = sim_now() + (uint64_t)delay;
	snprintf(sim_queue[sim_nqueue].topic, sizeof sim_queue[0].topic, "%s", topic);
	memcpy(sim_queue[sim_nqueue].buf, buf, (size_t)len);
	sim_queue[sim_nqueue].len = len;
	sim_nqueue++;
}

static void sim_flush_due(struct mosquitto *mosq)
{
	uint64_t now = sim_now();
	for (int i = 0; i < sim_nqueue;) {
		if (sim_queue[i].due <= now) {
			mosquitto_publish(mosq, NULL, sim_queue[i].topic, sim_queue[i].len,
					  sim_queue[i].buf, 0, false);
			sim_queue[i] = sim_queue[--sim_nqueue];
		} else {
			i++;
		}
	}
}

static int sim_next_due_ms(void)
{
	uint64_t now = sim_now(), best = now + 50;
	for (int i = 0; i < sim_nqueue; i++)
		if (sim_queue[i].due < best)
			best = sim_queue[i].due;
	return best > now ? (int)(best - now) : 0;
}

static int sim_known_range(uint16_t addr, uint16_t count)
{
	for (uint32_t a = addr; a < (uint32_t)addr + count; a++)
		if (a > 0xFFFF || !sim_known[a])
			return 0;
	return 1;
}

static void sim_outage_start(uint64_t from, long ms)
{
	sim_outage_from = from;
	sim_outage_until = from + (uint64_t)(ms > 0 ? ms : 0);
	printf("outage %ld\n", ms);
}

/* Is the battery in an outage now? Says so once when it ends. */
static int sim_in_outage(void)
{
	if (!sim_outage_until)
		return 0;
	uint64_t now = sim_now();
	if (now < sim_outage_from)
		return 0;
	if (now < sim_outage_until)
		return 1;
	sim_outage_from = sim_outage_until = 0;
	printf("outage over\n");
	fflush(stdout);
	return 0;
}

static void sim_on_control(const char *topic, const char *payload)
{
	if (strcmp(topic, sim_topic_outage) == 0) {
		sim_outage_start(sim_now(), atol(payload));
		return;
	}
	if (strcmp(topic, sim_topic_mode) == 0) {
		for (size_t i = 0; i < sizeof sim_mode_names / sizeof sim_mode_names[0]; i++) {
			if (strcmp(payload, sim_mode_names[i]) == 0) {
				sim_mode = (enum sim_mode)i;
				printf("mode %s\n", sim_mode_names[i]);
				return;
			}
		}
		printf("unknown mode '%s'\n", payload);
		return;
	}
	if (strcmp(topic, sim_topic_delay) == 0) {
		sim_delay_ms = atoi(payload);
		printf("delay %d\n", sim_delay_ms);
		return;
	}
	/* "ADDR=VALUE,ADDR=VALUE" */
	const char *p = payload;
	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 0);
		if (*end != '=' || a > 0xFFFF)
			break;
		unsigned long v = strtoul(end + 1, &end, 0);
		sim_set((uint16_t)a, (uint16_t)v);
		printf("set %lu=%lu\n", a, v & 0xFFFF);
		p = *end == ',' ? end + 1 : end;
	}
}

static void sim_on_request(struct mosquitto *mosq, const uint8_t *buf, int len)
{
	struct powergo_request_in in;
	uint8_t out[POWERGO_BUF_LEN];
	char line[1024];
	int n;

	int rc = codec_powergo_decode_request(buf, (size_t)len, sim_device, &in);
	if (rc < 0) {
		/* A device ignores what is not a valid request for it. */
		printf("bad request (%s, %d bytes)\n", mb_strerror(rc), len);
		return;
	}
	n = snprintf(line, sizeof line, "req fc=%02u addr=%u count=%u", in.fc, in.addr, in.count);
	if (in.fc == MB_FC_WRITE_SINGLE || in.fc == MB_FC_WRITE_MULTIPLE) {
		n += snprintf(line + n, sizeof line - (size_t)n, " values=");
		for (uint16_t i = 0; i < in.count && (size_t)n + 8 < sizeof line; i++)
			n += snprintf(line + n, sizeof line - (size_t)n, "%s%u", i ? "," : "",
				      in.words[i]);
	}
	char app_s[9];
	codec_powergo_format_id(in.src, app_s);
	int outage = sim_in_outage();
	printf("%s app=%s mode=%s\n", line, app_s, outage ? "outage" : sim_mode_names[sim_mode]);

	if (sim_mode == SIM_SILENT || outage)
		return;
	uint8_t exc = 0;
	if (len > POWERGO_MAX_FRAME ||
	    ((in.fc == MB_FC_READ_HOLDING || in.fc == MB_FC_READ_INPUT) &&
	     in.count > POWERGO_MAX_READ)) {
		printf("too long: instruction %d bytes, %u registers\n", len, in.count);
		exc = MB_EXC_ILLEGAL_VALUE;
	} else if (sim_mode == SIM_EXCEPTION) {
		exc = (uint8_t)sim_exc_code;
	} else if (!sim_known_range(in.addr, in.count)) {
		exc = MB_EXC_ILLEGAL_ADDRESS;
	}
	for (unsigned i = 0; !exc && i < sim_nfail; i++)
		if (in.addr <= sim_fail_addr[i] && sim_fail_addr[i] < (uint32_t)in.addr + in.count)
			exc = sim_fail_code[i];
	uint32_t from = sim_mode == SIM_WRONGID ? sim_device ^ 0x00010000u : sim_device;
	if (exc) {
		n = codec_powergo_encode_exception(from, in.src, in.fc, exc, out, sizeof out);
	} else if (in.fc == MB_FC_READ_HOLDING || in.fc == MB_FC_READ_INPUT) {
		n = codec_powergo_encode_read_answer(from, in.src, in.fc,
						     sim_pattern_mode && in.fc == MB_FC_READ_INPUT
							 ? &sim_input[in.addr]
							 : &sim_reg[in.addr],
						     in.count, out, sizeof out);
	} else {
		for (uint16_t i = 0; i < in.count; i++)
			sim_reg[in.addr + i] = in.words[i];
		n = codec_powergo_encode_write_answer(
		    from, in.src, in.fc, in.addr,
		    in.fc == MB_FC_WRITE_SINGLE ? in.words[0] : in.count, out, sizeof out);
	}
	if (n < 0) {
		printf("cannot answer: %s\n", mb_strerror(n));
		return;
	}
	if (sim_mode == SIM_BADCRC)
		out[n - 1] ^= 0x5A;
	char topic[16];
	if (sim_app_topic)
		snprintf(topic, sizeof topic, "%s", sim_app_topic);
	else
		codec_powergo_format_id(in.src, topic);
	int delay = sim_delay_ms + (sim_mode == SIM_SLOW ? sim_slow_ms : 0);
	sim_send(mosq, topic, out, n, delay);
}

static void sim_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	(void)obj;
	if (strcmp(m->topic, sim_device_s) == 0) {
		sim_on_request(mosq, m->payload, m->payloadlen);
	} else if (strcmp(m->topic, sim_topic_mode) == 0 || strcmp(m->topic, sim_topic_set) == 0 ||
		   strcmp(m->topic, sim_topic_delay) == 0 ||
		   strcmp(m->topic, sim_topic_outage) == 0) {
		char text[512];
		int n = m->payloadlen < (int)sizeof text - 1 ? m->payloadlen : (int)sizeof text - 1;
		memcpy(text, m->payload, (size_t)(n > 0 ? n : 0));
		text[n > 0 ? n : 0] = '\0';
		sim_on_control(m->topic, text);
	}
	fflush(stdout);
}

static void sim_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)obj;
	if (rc != 0) {
		printf("connect refused: %s\n", mosquitto_connack_string(rc));
		return;
	}
	mosquitto_subscribe(mosq, NULL, sim_device_s, 0);
	mosquitto_subscribe(mosq, NULL, sim_topic_mode, 0);
	mosquitto_subscribe(mosq, NULL, sim_topic_set, 0);
	mosquitto_subscribe(mosq, NULL, sim_topic_delay, 0);
	mosquitto_subscribe(mosq, NULL, sim_topic_outage, 0);
}

static void sim_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *q)
{
	(void)mosq;
	(void)obj;
	(void)n;
	(void)q;
	/* The fifth SUBACK: everything is in place. */
	static int acks;
	if (++acks % 5 == 0) {
		printf("subscribed %s (mid %d)\n", sim_device_s, mid);
		if (sim_outage_at >= 0 && acks == 5)
			sim_outage_start(sim_now() + (uint64_t)sim_outage_at, sim_outage_ms);
	}
	fflush(stdout);
}

static void sim_usage(void)
{
	fprintf(stderr,
		"usage: sim_powergo --host H --port N --device-id ID [--app-id ID] "
		"[--mode normal|silent|badcrc|wrongid|exception|slow] [--delay-ms N] "
		"[--slow-ms N] [--exception-code N] [--bank ADDR:COUNT] [--outage AT:MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *device = "15020115";
	int port = 1883;
	uint32_t app_id = 0;
	char app_s[9];

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--pattern") == 0) {
			sim_pattern_mode = 1;
			for (uint32_t k = 0; k < 65536; k++) {
				sim_set((uint16_t)k, sim_pattern(0, k));
				sim_input[k] = sim_pattern(1, k);
			}
		}
	sim_seed();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--pattern") == 0)
			continue;
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			sim_usage();
		i++;
		if (strcmp(a, "--host") == 0) {
			host = v;
		} else if (strcmp(a, "--port") == 0) {
			port = atoi(v);
		} else if (strcmp(a, "--device-id") == 0) {
			device = v;
		} else if (strcmp(a, "--app-id") == 0) {
			if (codec_powergo_parse_id(v, &app_id) != 0)
				sim_usage();
			codec_powergo_format_id(app_id, app_s);
			sim_app_topic = app_s;
		} else if (strcmp(a, "--mode") == 0) {
			size_t k;
			for (k = 0; k < sizeof sim_mode_names / sizeof sim_mode_names[0]; k++)
				if (strcmp(v, sim_mode_names[k]) == 0)
					break;
			if (k == sizeof sim_mode_names / sizeof sim_mode_names[0])
				sim_usage();
			sim_mode = (enum sim_mode)k;
		} else if (strcmp(a, "--delay-ms") == 0) {
			sim_delay_ms = atoi(v);
		} else if (strcmp(a, "--slow-ms") == 0) {
			sim_slow_ms = atoi(v);
		} else if (strcmp(a, "--exception-code") == 0) {
			sim_exc_code = (int)strtol(v, NULL, 0);
		} else if (strcmp(a, "--fail") == 0 && sim_nfail < 8 && strchr(v, ':')) {
			sim_fail_addr[sim_nfail] = (uint16_t)strtoul(v, NULL, 0);
			sim_fail_code[sim_nfail++] = (uint8_t)strtoul(strchr(v, ':') + 1, NULL, 0);
		} else if (strcmp(a, "--outage") == 0 && strchr(v, ':')) {
			sim_outage_at = atol(v);
			sim_outage_ms = atol(strchr(v, ':') + 1);
			if (sim_outage_at < 0 || sim_outage_ms <= 0)
				sim_usage();
		} else if (strcmp(a, "--bank") == 0) {
			unsigned long addr = strtoul(v, NULL, 0), count = 0;
			const char *c = strchr(v, ':');
			if (c)
				count = strtoul(c + 1, NULL, 0);
			for (unsigned long k = 0; k < count && addr + k <= 0xFFFF; k++)
				sim_set((uint16_t)(addr + k), 0);
		} else {
			sim_usage();
		}
	}
	if (codec_powergo_parse_id(device, &sim_device) != 0)
		sim_usage();
	codec_powergo_format_id(sim_device, sim_device_s);
	snprintf(sim_topic_mode, sizeof sim_topic_mode, "sim/powergo/%s/mode", sim_device_s);
	snprintf(sim_topic_set, sizeof sim_topic_set, "sim/powergo/%s/set", sim_device_s);
	snprintf(sim_topic_delay, sizeof sim_topic_delay, "sim/powergo/%s/delay", sim_device_s);
	snprintf(sim_topic_outage, sizeof sim_topic_outage, "sim/powergo/%s/outage", sim_device_s);

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = sim_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mosquitto_lib_init();
	char client[64];
	snprintf(client, sizeof client, "sim-powergo-%s-%d", sim_device_s, (int)getpid());
	struct mosquitto *mosq = mosquitto_new(client, true, NULL);
	if (!mosq) {
		perror("mosquitto_new");
		return 1;
	}
	mosquitto_connect_callback_set(mosq, sim_on_connect);
	mosquitto_message_callback_set(mosq, sim_on_message);
	mosquitto_subscribe_callback_set(mosq, sim_on_subscribe);
	printf("sim_powergo device %s broker %s:%d mode %s\n", sim_device_s, host, port,
	       sim_mode_names[sim_mode]);

	/* Connect, and reconnect whenever the broker goes away (restart tests):
	 * a short fixed pause, bounded only by SIGTERM. */
	int connected = mosquitto_connect(mosq, host, port, 30) == MOSQ_ERR_SUCCESS;
	while (!sim_stop) {
		if (!connected) {
			usleep(200 * 1000);
			connected = mosquitto_reconnect(mosq) == MOSQ_ERR_SUCCESS;
			if (connected)
				printf("reconnected\n");
			continue;
		}
		int rc = mosquitto_loop(mosq, sim_next_due_ms(), 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			printf("connection lost: %s\n", mosquitto_strerror(rc));
			connected = 0;
			continue;
		}
		sim_flush_due(mosq);
		sim_in_outage();
		/* Answers queued inside callbacks go out now, not a turn later. */
		if (mosquitto_want_write(mosq))
			mosquitto_loop_write(mosq, 1);
	}
	printf("stopping\n");
	mosquitto_disconnect(mosq);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	return 0;
}

/* sim_fleet: a fleet of simulated PowerGo batteries on one MQTT connection,
 * for the fleet test and bench (docs/design.md, "A fleet on one broker").
 *
 *   sim_fleet --host 127.0.0.1 --port N --first-id 20000000 --devices COUNT
 *
 * Devices --first-id .. --first-id + COUNT - 1 (hex IDs, as the config
 * gives them). The simulator subscribes to the single-level wildcard `+`
 * (every device's request topic is its ID) and answers a request to one of
 * its IDs on the topic of the request's source ID, as a battery does:
 * FC03/FC04 with the value (device ID low 16 bits + address) & 0xFFFF for
 * every address, FC06/FC16 with their echo (the value is not stored).
 * Anything else on `+` (answers, other traffic) is ignored. It reconnects
 * when the broker goes away, and prints "subscribed" each time its
 * subscription is acknowledged.
 *
 * For the bench: SIGUSR2 sets a mark; SIGUSR1 prints "answered since mark:
 * X of COUNT devices, Y answers" (how many distinct devices were asked and
 * answered since the mark). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mosquitto.h>

#include "codec_powergo.h"

static volatile sig_atomic_t fleet_stop;
static uint32_t fleet_first, fleet_count;
static unsigned long long fleet_answered, fleet_since;
static volatile sig_atomic_t fleet_mark, fleet_report;
static uint8_t *fleet_seen; /* per device: answered since the mark */
static uint32_t fleet_nseen;

static void fleet_on_signal(int sig)
{
	if (sig == SIGUSR1)
		fleet_report = 1;
	else if (sig == SIGUSR2)
		fleet_mark = 1;
	else
		fleet_stop = 1;
}

static void fleet_on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)obj;
	if (rc == 0)
		mosquitto_subscribe(mosq, NULL, "+", 0);
}

static void fleet_on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *q)
{
	(void)mosq;
	(void)obj;
	(void)mid;
	(void)n;
	(void)q;
	printf("subscribed\n");
	fflush(stdout);
}

static void fleet_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m)
{
	struct powergo_request_in req;
	uint8_t out[POWERGO_BUF_LEN];
	uint16_t words[125];
	uint32_t id;
	int n;

	(void)obj;
	if (!m->topic || codec_powergo_parse_id(m->topic, &id) != 0 || id < fleet_first ||
	    id - fleet_first >= fleet_count)
		return;
	if (codec_powergo_decode_request(m->payload, (size_t)m->payloadlen, id, &req) != 0)
		return;
	switch (req.fc) {
	case 0x03:
	case 0x04:
		for (uint16_t i = 0; i < req.count; i++)
			words[i] = (uint16_t)((id & 0xFFFF) + req.addr + i);
		n = codec_powergo_encode_read_answer(id, req.src, req.fc, words, req.count, out,
						     sizeof out);
		break;
	case 0x06:
		n = codec_powergo_encode_write_answer(id, req.src, req.fc, req.addr, req.words[0],
						      out, sizeof out);
		break;
	default:
		n = codec_powergo_encode_write_answer(id, req.src, req.fc, req.addr, req.count, out,
						      sizeof out);
		break;
	}
	if (n <= 0)
		return;
	char topic[9];
	codec_powergo_format_id(req.src, topic);
	mosquitto_publish(mosq, NULL, topic, n, out, 0, false);
	fleet_answered++;
	fleet_since++;
	if (!fleet_seen[id - fleet_first]) {
		fleet_seen[id - fleet_first] = 1;
		fleet_nseen++;
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 1883;
	const char *first = NULL;
	long count = 0;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--host") == 0)
			host = argv[i + 1];
		else if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--first-id") == 0)
			first = argv[i + 1];
		else if (strcmp(argv[i], "--devices") == 0)
			count = atol(argv[i + 1]);
	}
	if (!first || codec_powergo_parse_id(first, &fleet_first) != 0 || count <= 0 ||
	    count > 1000000 || (uint64_t)fleet_first + (uint64_t)count > 0x100000000ull) {
		fprintf(stderr,
			"usage: sim_fleet --host H --port N --first-id ID --devices COUNT\n");
		return 2;
	}
	fleet_count = (uint32_t)count;
	if (!(fleet_seen = calloc(fleet_count, 1))) {
		perror("calloc");
		return 1;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fleet_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	mosquitto_lib_init();
	char client[64];
	snprintf(client, sizeof client, "sim-fleet-%d", (int)getpid());
	struct mosquitto *mosq = mosquitto_new(client, true, NULL);
	if (!mosq) {
		perror("mosquitto_new");
		return 1;
	}
	mosquitto_connect_callback_set(mosq, fleet_on_connect);
	mosquitto_message_callback_set(mosq, fleet_on_message);
	mosquitto_subscribe_callback_set(mosq, fleet_on_subscribe);
	printf("sim_fleet %ld devices from %s, broker %s:%d\n", count, first, host, port);
	fflush(stdout);

	int connected = mosquitto_connect(mosq, host, port, 30) == MOSQ_ERR_SUCCESS;
	while (!fleet_stop) {
		if (fleet_mark) {
			fleet_mark = 0;
			memset(fleet_seen, 0, fleet_count);
			fleet_nseen = 0;
			fleet_since = 0;
			printf("mark\n");
			fflush(stdout);
		}
		if (fleet_report) {
			fleet_report = 0;
			printf("answered since mark: %u of %u devices, %llu answers\n", fleet_nseen,
			       fleet_count, fleet_since);
			fflush(stdout);
		}
		if (!connected) {
			usleep(200 * 1000);
			connected = mosquitto_reconnect(mosq) == MOSQ_ERR_SUCCESS;
			continue;
		}
		int rc = mosquitto_loop(mosq, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			printf("connection lost: %s\n", mosquitto_strerror(rc));
			fflush(stdout);
			connected = 0;
			continue;
		}
		while (mosquitto_want_write(mosq) &&
		       mosquitto_loop_write(mosq, 1) == MOSQ_ERR_SUCCESS)
			;
	}
	printf("stopping: %llu answers\n", fleet_answered);
	mosquitto_disconnect(mosq);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	free(fleet_seen);
	return 0;
}

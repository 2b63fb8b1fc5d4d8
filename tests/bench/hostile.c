/* Hostile peers for `make soak` (tests/bench/soak_hostile.sh), one per kind of
 * native link, each bounded in rate and time and stopping by itself:
 *
 *   hostile mqtt --port P --topic T --seconds S [--rate N]
 *       publishes garbage on T of a broker on 127.0.0.1:P: empty messages,
 *       random bytes of 1 byte to 8 KiB, and now and then 256 KiB, about N
 *       messages a second (default 500).
 *   hostile logger --port P --seconds S [--rate N]
 *       a Solarman logger on 127.0.0.1:P that accepts the bridge and sends it
 *       heartbeats (`10 47`) and garbage about N frames a second (default
 *       2000) but never reads what the bridge sends.
 *
 * Prints one summary line at the end ("sent N ..."). */
#include <errno.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "codec_v5.h"

static uint64_t hz_rng = 0x2545F4914F6CDD1Dull;

static uint32_t hz_rand(void)
{
	hz_rng ^= hz_rng >> 12;
	hz_rng ^= hz_rng << 25;
	hz_rng ^= hz_rng >> 27;
	return (uint32_t)((hz_rng * 2685821657736338717ull) >> 32);
}

static uint64_t hz_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int hz_mqtt(int port, const char *topic, int seconds, int rate)
{
	static uint8_t buf[256 * 1024];
	unsigned long sent = 0, bytes = 0;
	mosquitto_lib_init();
	struct mosquitto *m = mosquitto_new(NULL, true, NULL);
	if (!m || mosquitto_connect(m, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "hostile: cannot connect to 127.0.0.1:%d\n", port);
		return 1;
	}
	uint64_t t0 = hz_now_ms(), end = t0 + (uint64_t)seconds * 1000u;
	while (hz_now_ms() < end) {
		/* Pace: never ahead of rate messages a second. */
		uint64_t due = t0 + sent * 1000u / (unsigned)rate;
		if (hz_now_ms() < due) {
			mosquitto_loop(m, 5, 1);
			continue;
		}
		uint32_t r = hz_rand();
		size_t len = r % 16 == 0 ? 0 : r % 200 == 1 ? sizeof buf : 1 + hz_rand() % 8192;
		for (size_t i = 0; i < len && i < 8192; i++)
			buf[i] = (uint8_t)hz_rand();
		if (mosquitto_publish(m, NULL, topic, (int)len, buf, 0, false) != MOSQ_ERR_SUCCESS)
			mosquitto_reconnect(m);
		sent++;
		bytes += len;
		mosquitto_loop(m, 0, 1);
	}
	printf("sent %lu messages, %lu bytes, to %s\n", sent, bytes, topic);
	mosquitto_disconnect(m);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	return 0;
}

static int hz_logger(int port, int seconds, int rate)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4) < 0) {
		perror("hostile: listen");
		return 1;
	}
	printf("listening on %d\n", port);
	fflush(stdout);
	uint64_t t0 = hz_now_ms(), end = t0 + (uint64_t)seconds * 1000u;
	unsigned long sent = 0, conns = 0, blocked = 0;
	int fd = -1;
	while (hz_now_ms() < end) {
		if (fd < 0) {
			struct pollfd p = {.fd = ls, .events = POLLIN};
			if (poll(&p, 1, 100) == 1 && (fd = accept(ls, NULL, NULL)) >= 0)
				conns++;
			continue;
		}
		uint64_t due = t0 + sent * 1000u / (unsigned)rate;
		if (hz_now_ms() < due) {
			usleep(500);
			continue;
		}
		uint8_t frame[V5_MAX_FRAME], payload[64];
		int n;
		if (hz_rand() % 8) {
			for (size_t i = 0; i < sizeof payload; i++)
				payload[i] = (uint8_t)hz_rand();
			struct v5_frame f = {.control = V5_CTRL_HEARTBEAT,
					     .seq = (uint8_t)sent,
					     .serial = 1234567890u,
					     .payload = payload,
					     .payload_len = 1};
			n = codec_v5_encode(frame, sizeof frame, &f);
		} else {
			n = 1 + (int)(hz_rand() % 64);
			for (int i = 0; i < n; i++)
				frame[i] = (uint8_t)hz_rand();
		}
		/* Never read; when the bridge stops reading too, wait (bounded
		 * by the end time) instead of queueing here. */
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 50) != 1) {
			blocked++;
			continue;
		}
		if (send(fd, frame, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
		    errno != EAGAIN) {
			close(fd);
			fd = -1;
			continue;
		}
		sent++;
	}
	printf("sent %lu frames over %lu connections (%lu times the bridge did not take them)\n",
	       sent, conns, blocked);
	if (fd >= 0)
		close(fd);
	close(ls);
	return 0;
}

int main(int argc, char **argv)
{
	int port = 0, seconds = 10, rate = 0;
	const char *topic = NULL;
	if (argc < 2)
		goto usage;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--topic") == 0)
			topic = argv[i + 1];
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--rate") == 0)
			rate = atoi(argv[i + 1]);
		else
			goto usage;
	}
	signal(SIGPIPE, SIG_IGN);
	if (port <= 0 || seconds <= 0 || seconds > 86400)
		goto usage;
	if (strcmp(argv[1], "mqtt") == 0 && topic)
		return hz_mqtt(port, topic, seconds, rate > 0 ? rate : 500);
	if (strcmp(argv[1], "logger") == 0)
		return hz_logger(port, seconds, rate > 0 ? rate : 2000);
usage:
	fprintf(stderr, "usage: hostile mqtt --port P --topic T --seconds S [--rate N]\n"
			"       hostile logger --port P --seconds S [--rate N]\n");
	return 2;
}

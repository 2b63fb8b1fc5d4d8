/* base_libmodbus: the benchmarks' libmodbus baseline. A Modbus TCP server
 * written the way libmodbus documents it: modbus_new_tcp, modbus_tcp_listen,
 * a select() loop over the listener and every client, modbus_receive and
 * modbus_reply over a modbus_mapping_t; one thread. It serves holding
 * registers 0..9 = 100..109, the same registers as the bridge's memory device
 * with the scratch map.
 *
 *   base_libmodbus --port P */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <modbus.h>

static volatile sig_atomic_t lmb__stop;

static void lmb__on_signal(int sig)
{
	(void)sig;
	lmb__stop = 1;
}

int main(int argc, char **argv)
{
	int port = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: base_libmodbus --port P\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = lmb__on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
	modbus_mapping_t *map = modbus_mapping_new(0, 0, 10, 0);
	if (!ctx || !map) {
		fprintf(stderr, "base_libmodbus: %s\n", modbus_strerror(errno));
		return 1;
	}
	for (int i = 0; i < 10; i++)
		map->tab_registers[i] = (uint16_t)(100 + i);
	/* select() limits descriptors to FD_SETSIZE; the backlog matches. */
	int server = modbus_tcp_listen(ctx, 1000);
	if (server < 0) {
		fprintf(stderr, "base_libmodbus: listen: %s\n", modbus_strerror(errno));
		return 1;
	}

	fd_set refset;
	FD_ZERO(&refset);
	FD_SET(server, &refset);
	int fdmax = server;
	uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
	while (!lmb__stop) {
		fd_set rdset = refset;
		struct timeval tv = {0, 200000};
		int n = select(fdmax + 1, &rdset, NULL, NULL, &tv);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("base_libmodbus: select");
			break;
		}
		for (int fd = 0; fd <= fdmax && n > 0; fd++) {
			if (!FD_ISSET(fd, &rdset))
				continue;
			n--;
			if (fd == server) {
				int c = accept(server, NULL, NULL);
				if (c < 0)
					continue;
				if (c >= FD_SETSIZE) {
					close(c);
					continue;
				}
				FD_SET(c, &refset);
				if (c > fdmax)
					fdmax = c;
				continue;
			}
			modbus_set_socket(ctx, fd);
			int rc = modbus_receive(ctx, query);
			if (rc > 0) {
				modbus_reply(ctx, query, rc, map);
			} else if (rc < 0) {
				/* The client closed, or sent garbage: drop it. */
				close(fd);
				FD_CLR(fd, &refset);
				while (fdmax > server && !FD_ISSET(fdmax, &refset))
					fdmax--;
			}
		}
	}
	close(server);
	modbus_mapping_free(map);
	modbus_free(ctx);
	return 0;
}

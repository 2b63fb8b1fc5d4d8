/* base_limit: the benchmarks' upper bound. A minimal Modbus TCP server on
 * 127.0.0.1 that answers every complete MBAP frame with one canned FC03 answer
 * of 10 registers (100..109), echoing the transaction ID and unit; one epoll
 * loop, one thread, one read and one write per batch of requests. Nothing a
 * real server must do (routing, range checks, a register store) is done, so
 * its requests/s are as high as a Modbus TCP server on this loopback can be.
 *
 *   base_limit --port P */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LIM_BUF 4096
#define LIM_ANSWER 29 /* MBAP 7 + FC 1 + byte count 1 + 10 registers */

struct lim_conn {
	int fd;
	size_t rlen, wlen, woff;
	uint8_t rbuf[LIM_BUF];
	uint8_t wbuf[LIM_BUF / 8 * LIM_ANSWER]; /* the shortest frame is 8 bytes */
};

/* TID (echoed), protocol 0, length 23, unit (echoed), FC03, 20 bytes, 100..109. */
/* clang-format off */
static const uint8_t lim__canned[LIM_ANSWER] = {
	0, 0, 0, 0, 0, 23, 1, 0x03, 20,
	0, 100, 0, 101, 0, 102, 0, 103, 0, 104, 0, 105, 0, 106, 0, 107, 0, 108, 0, 109};
/* clang-format on */

static volatile sig_atomic_t lim__stop;

static void lim__on_signal(int sig)
{
	(void)sig;
	lim__stop = 1;
}

static void lim__close(int epfd, struct lim_conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Returns -1 when the connection broke. */
static int lim__flush(int epfd, struct lim_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
			epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
			return 0;
		}
		if (n <= 0)
			return -1;
		c->woff += (size_t)n;
	}
	c->wlen = c->woff = 0;
	return 0;
}

static int lim__readable(int epfd, struct lim_conn *c)
{
	ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof c->rbuf - c->rlen, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	c->rlen += (size_t)n;
	size_t off = 0;
	while (c->rlen - off >= 7) {
		const uint8_t *f = c->rbuf + off;
		size_t len = 6 + ((size_t)f[4] << 8 | f[5]);
		if (len < 8 || len > 260)
			return -1;
		if (c->rlen - off < len)
			break;
		uint8_t *a = c->wbuf + c->wlen;
		memcpy(a, lim__canned, LIM_ANSWER);
		a[0] = f[0];
		a[1] = f[1];
		a[6] = f[6];
		c->wlen += LIM_ANSWER;
		off += len;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	/* A partial write switches the socket to EPOLLOUT only: a client that
	 * does not read is not read from either. */
	return lim__flush(epfd, c);
}

int main(int argc, char **argv)
{
	int port = 0;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "usage: base_limit --port P\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = {.sa_handler = lim__on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 1024) < 0) {
		perror("base_limit: listen");
		return 1;
	}
	int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);

	struct epoll_event evs[256];
	while (!lim__stop) {
		int n = epoll_wait(epfd, evs, 256, 200);
		for (int i = 0; i < n; i++) {
			struct lim_conn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while ((fd = accept(lfd, NULL, NULL)) >= 0) {
					fcntl(fd, F_SETFL, O_NONBLOCK);
					c = calloc(1, sizeof *c);
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			int rc = 0;
			if (evs[i].events & EPOLLOUT) {
				rc = lim__flush(epfd, c);
				if (rc == 0 && c->wlen == 0) {
					struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
					epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
				}
			} else if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				rc = lim__readable(epfd, c);
			}
			if (rc < 0)
				lim__close(epfd, c);
		}
	}
	close(lfd);
	close(epfd);
	return 0;
}

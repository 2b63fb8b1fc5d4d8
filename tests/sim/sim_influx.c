/* An InfluxDB 2.x write endpoint, for the export tests: Debian's influxdb
 * package is 1.6, which has no /api/v2/write. It listens on 127.0.0.1 only,
 * takes one connection at a time (keep-alive: several requests on it) and
 * answers what InfluxDB 2 answers:
 *
 *   POST /api/v2/write?org=O&bucket=B&precision=ms   with
 *   Authorization: Token T                           and a line-protocol body
 *
 *   wrong path                 404 {"code":"not found",...}
 *   wrong or missing token     401 {"code":"unauthorized",...}
 *   other org or bucket        404 {"code":"not found","message":"bucket not found"}
 *   a line that does not parse 400 {"code":"invalid","message":"..."}
 *   otherwise                  204, and each point logged to stdout as
 *       point <measurement> <tag>=<value>... <field>=<value>... time=<t> precision=<p>
 *   (integers as 57i, floats with %.17g, strings quoted, as received)
 *
 *   sim_influx --port P --org O --bucket B --token T [--hostile STATUS]
 *
 * With --hostile every request is answered STATUS (400 or 500, say) with an
 * error text that carries raw line ends and journald priorities, as a
 * hostile or broken server could send:
 *   {"code":"internal error","message":"boom<LF><3>forged: ...<CR><LF>\<6>..."}
 * what the bridge logs of it must stay on one line (tests/e2e/test_logsafe.c).
 *
 * The line protocol is parsed with the bridge's own codec (codec_line.h);
 * its unit test and fuzz target check the codec against the rules, this
 * server checks what the exporter sends against the codec. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "codec_line.h"
#include "mb_error.h"

#define SIM_MAX_REQUEST (4u * 1024u * 1024u)
#define SIM_FIELDS 512

static const char *sim__org, *sim__bucket, *sim__token;
static int sim__hostile;

/* The error text of --hostile (SIM_FORGED in it, for the tests to find). */
#define SIM_FORGED "<3>forged: the bridge was told to stop"
static const char sim__hostile_body[] =
    "{\"code\":\"internal error\",\"message\":\"boom\n" SIM_FORGED
    "\r\n<6>info: forged too \\ \x1b[31mred\x1b[0m \xff\"}";

static void sim__usage(void)
{
	fprintf(stderr, "usage: sim_influx --port P --org O --bucket B --token T [--hostile "
			"STATUS]\n");
	exit(2);
}

static void sim__answer(int fd, int status, const char *reason, const char *json)
{
	char head[256];
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 status, reason, json ? strlen(json) : 0);
	if (write(fd, head, (size_t)n) < 0 || (json && write(fd, json, strlen(json)) < 0))
		perror("sim_influx: write");
	printf("answer %d\n", status);
}

/* The value of key in a query string, %XX decoded, into out. */
static int sim__query(const char *q, const char *key, char *out, size_t len)
{
	size_t klen = strlen(key);
	for (const char *p = q; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
		if (strncmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		const char *v = p + klen + 1;
		size_t n = 0;
		while (*v && *v != '&' && *v != ' ' && n + 1 < len) {
			if (*v == '%' && v[1] && v[2]) {
				char hex[3] = {v[1], v[2], 0};
				out[n++] = (char)strtol(hex, NULL, 16);
				v += 3;
			} else {
				out[n++] = *v++;
			}
		}
		out[n] = '\0';
		return 1;
	}
	return 0;
}

static void sim__print_point(const struct line_point *pt, const char *precision)
{
	printf("point %s", pt->measurement);
	for (size_t i = 0; i < pt->ntags; i++)
		printf(" %s=%s", pt->tags[i].key, pt->tags[i].value);
	for (size_t i = 0; i < pt->nfields; i++) {
		const struct line_field *f = &pt->fields[i];
		switch (f->type) {
		case LINE_FLOAT:
			printf(" %s=%.17g", f->key, f->f);
			break;
		case LINE_INT:
			printf(" %s=%lldi", f->key, (long long)f->i);
			break;
		case LINE_UINT:
			printf(" %s=%lluu", f->key, (unsigned long long)f->u);
			break;
		case LINE_BOOL:
			printf(" %s=%s", f->key, f->b ? "true" : "false");
			break;
		case LINE_STRING:
			printf(" %s=\"%s\"", f->key, f->s);
			break;
		}
	}
	printf(" time=%lld precision=%s\n", (long long)pt->time, precision);
}

/* One request whose head is head[0..hlen) and body body[0..blen). */
static void sim__request(int fd, char *head, const char *body, size_t blen)
{
	char path[1024], org[256], bucket[256], precision[16] = "ns", auth[512] = "";
	const char *q;
	char *h;

	if (sscanf(head, "POST %1023s HTTP/1.1", path) != 1) {
		sim__answer(fd, 405, "Method Not Allowed", NULL);
		return;
	}
	printf("request %s\n", path);
	if (sim__hostile) {
		sim__answer(fd, sim__hostile, "Hostile", sim__hostile_body);
		return;
	}
	if ((h = strcasestr(head, "\r\nAuthorization: ")) != NULL)
		sscanf(h + 17, "%511[^\r\n]", auth);
	if (strncmp(path, "/api/v2/write?", 14) != 0) {
		sim__answer(fd, 404, "Not Found",
			    "{\"code\":\"not found\",\"message\":\"path not found\"}");
		return;
	}
	q = path + 14;
	if (strncmp(auth, "Token ", 6) != 0 || strcmp(auth + 6, sim__token) != 0) {
		sim__answer(fd, 401, "Unauthorized",
			    "{\"code\":\"unauthorized\",\"message\":\"unauthorized access\"}");
		return;
	}
	if (!sim__query(q, "org", org, sizeof org) || strcmp(org, sim__org) != 0 ||
	    !sim__query(q, "bucket", bucket, sizeof bucket) || strcmp(bucket, sim__bucket) != 0) {
		sim__answer(fd, 404, "Not Found",
			    "{\"code\":\"not found\",\"message\":\"bucket not found\"}");
		return;
	}
	sim__query(q, "precision", precision, sizeof precision);

	static struct line_field fields[SIM_FIELDS];
	struct line_point pt = {.fields = fields, .maxfields = SIM_FIELDS};
	char *scratch = malloc(2 * blen + 64);
	size_t off = 0, points = 0;
	int bad = 0;
	/* Parse everything first: InfluxDB 2 refuses a body with a bad line
	 * (400) and says which. */
	while (scratch && off < blen && !bad) {
		size_t used;
		int rc =
		    codec_line_parse(body + off, blen - off, &used, &pt, scratch, 2 * blen + 64);
		if (rc < 0) {
			char msg[256];
			snprintf(msg, sizeof msg,
				 "{\"code\":\"invalid\",\"message\":\"unable to parse line at byte "
				 "%zu: %s\"}",
				 off, mb_strerror(rc));
			sim__answer(fd, 400, "Bad Request", msg);
			bad = 1;
		}
		off += used;
	}
	for (off = 0; scratch && !bad && off < blen;) {
		size_t used;
		if (codec_line_parse(body + off, blen - off, &used, &pt, scratch, 2 * blen + 64) ==
		    0) {
			sim__print_point(&pt, precision);
			points++;
		}
		off += used;
	}
	free(scratch);
	if (!bad) {
		printf("wrote %zu points\n", points);
		sim__answer(fd, 204, "No Content", NULL);
	}
}

/* Requests on one connection until the client closes it. */
static void sim__serve(int fd)
{
	char *buf = malloc(SIM_MAX_REQUEST + 1);
	size_t len = 0;

	while (buf) {
		char *end = NULL;
		ssize_t n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			size_t hlen = (size_t)(end - buf) + 4, blen = 0;
			char *cl = strcasestr(buf, "\r\nContent-Length: ");
			if (cl && cl < end)
				blen = strtoul(cl + 18, NULL, 10);
			if (hlen + blen > SIM_MAX_REQUEST) {
				sim__answer(fd, 413, "Payload Too Large", NULL);
				break;
			}
			if (len >= hlen + blen) {
				end[2] = '\0';
				sim__request(fd, buf, buf + hlen, blen);
				memmove(buf, buf + hlen + blen, len - hlen - blen);
				len -= hlen + blen;
				continue;
			}
		}
		if (len >= SIM_MAX_REQUEST)
			break;
		n = read(fd, buf + len, SIM_MAX_REQUEST - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	free(buf);
	close(fd);
}

int main(int argc, char **argv)
{
	int port = 0, lfd, one = 1;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--org") == 0)
			sim__org = argv[i + 1];
		else if (strcmp(argv[i], "--bucket") == 0)
			sim__bucket = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			sim__token = argv[i + 1];
		else if (strcmp(argv[i], "--hostile") == 0)
			sim__hostile = atoi(argv[i + 1]);
		else
			sim__usage();
	}
	if (port <= 0 || port > 65535 || !sim__org || !sim__bucket || !sim__token)
		sim__usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 8) < 0) {
		perror("sim_influx: listen");
		return 1;
	}
	printf("listening on 127.0.0.1:%d\n", port);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		printf("connection\n");
		sim__serve(fd);
	}
}

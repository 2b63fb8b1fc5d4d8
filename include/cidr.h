/* CIDR allow-lists for the Modbus listener, IPv4 and IPv6. */
#ifndef CIDR_H
#define CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};

/* Parse "192.168.1.0/24", "::1/128" or a bare address. 0 or MB_EINVAL. */
int cidr_parse(const char *text, struct cidr *out);
/* Does addr fall into any of the n entries? IPv4-mapped IPv6 addresses match
 * IPv4 entries. */
bool cidr_match(const struct cidr *list, size_t n, const struct sockaddr *addr);

#endif

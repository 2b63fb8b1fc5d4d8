/* CIDR allow-lists for the Modbus listener. Entries are kept in network byte
 * order with their host bits cleared, so that matching is a masked compare. A
 * client that reaches an IPv6 ("::") listener over IPv4 shows up as an
 * IPv4-mapped address (::ffff:a.b.c.d); it is matched as the IPv4 address it
 * is, so that one IPv4 allow-list works for both kinds of listener. */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "mb_error.h"

static const uint8_t cidr__v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Do the first `prefix` bits of a and b agree? */
static int cidr__prefix_eq(const uint8_t *a, const uint8_t *b, int prefix)
{
	int whole = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* Clear the host bits, so that "10.1.2.3/8" is stored as 10.0.0.0/8. */
static void cidr__clear_host(uint8_t *addr, int len, int prefix)
{
	for (int i = 0; i < len; i++) {
		int keep = prefix - 8 * i;
		if (keep >= 8)
			continue;
		addr[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
	}
}

int cidr_parse(const char *text, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	struct cidr c;

	if (!text || !out)
		return MB_EINVAL;
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof buf)
		return MB_EINVAL;
	memcpy(buf, text, alen);
	buf[alen] = '\0';

	memset(&c, 0, sizeof c);
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		c.prefix = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		c.prefix = 128;
	} else {
		return MB_EINVAL;
	}

	if (slash) {
		const char *p = slash + 1;
		int v = 0;
		/* Digits only: strtol would accept "+8", " 8" and "8x". */
		if (*p == '\0' || strlen(p) > 3)
			return MB_EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return MB_EINVAL;
			v = v * 10 + (*p - '0');
		}
		if (v > c.prefix)
			return MB_EINVAL;
		c.prefix = v;
	}

	/* An IPv4-mapped IPv6 entry is an IPv4 entry written the long way. */
	if (c.family == AF_INET6 && c.prefix >= 96 &&
	    memcmp(c.addr, cidr__v4mapped, sizeof cidr__v4mapped) == 0) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = AF_INET;
		c.prefix -= 96;
	}
	cidr__clear_host(c.addr, c.family == AF_INET ? 4 : 16, c.prefix);
	*out = c;
	return 0;
}

bool cidr_match(const struct cidr *list, size_t n, const struct sockaddr *addr)
{
	uint8_t a[16];
	int family;

	if (!list || !addr)
		return false;
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
		memcpy(a, &sin->sin_addr, 4);
		family = AF_INET;
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
		memcpy(a, &sin6->sin6_addr, 16);
		family = AF_INET6;
		if (memcmp(a, cidr__v4mapped, sizeof cidr__v4mapped) == 0) {
			memmove(a, a + 12, 4);
			family = AF_INET;
		}
	} else {
		return false;
	}

	for (size_t i = 0; i < n; i++)
		if (list[i].family == family && cidr__prefix_eq(list[i].addr, a, list[i].prefix))
			return true;
	return false;
}

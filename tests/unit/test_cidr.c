/* Unit tests of the CIDR allow-list (bridge/cidr.c): parsing of IPv4 and IPv6
 * networks and bare addresses, rejection of malformed text, matching at
 * prefix boundaries, and IPv4-mapped IPv6 clients against IPv4 entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "cidr.h"
#include "mb_error.h"

static struct sockaddr_storage addr_of(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static int match(const struct cidr *list, size_t n, const char *client)
{
	struct sockaddr_storage ss = addr_of(client);
	return cidr_match(list, n, (const struct sockaddr *)&ss);
}

static void test_parse_ipv4(void **state)
{
	struct cidr c;
	(void)state;
	assert_int_equal(cidr_parse("192.168.1.0/24", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 24);
	assert_int_equal(c.addr[0], 192);
	assert_int_equal(c.addr[2], 1);

	assert_int_equal(cidr_parse("10.1.2.3", &c), 0);
	assert_int_equal(c.prefix, 32);

	/* Host bits are cleared: 10.1.2.3/8 is the network 10.0.0.0/8. */
	assert_int_equal(cidr_parse("10.1.2.3/8", &c), 0);
	assert_int_equal(c.addr[0], 10);
	assert_int_equal(c.addr[1], 0);
	assert_int_equal(c.addr[3], 0);

	assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
	assert_int_equal(c.prefix, 0);
}

static void test_parse_ipv6(void **state)
{
	struct cidr c;
	(void)state;
	assert_int_equal(cidr_parse("fd00::/8", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 8);
	assert_int_equal(c.addr[0], 0xfd);

	assert_int_equal(cidr_parse("::1", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(c.addr[15], 1);

	/* An IPv4-mapped entry is stored as the IPv4 entry it means. */
	assert_int_equal(cidr_parse("::ffff:192.168.1.0/120", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 24);
	assert_int_equal(c.addr[0], 192);
}

static void test_parse_errors(void **state)
{
	static const char *const bad[] = {
	    "",
	    "/24",
	    "192.168.1.0/",
	    "192.168.1.0/33",
	    "192.168.1.0/-1",
	    "192.168.1.0/+8",
	    "192.168.1.0/8x",
	    "192.168.1.0/ 8",
	    "192.168.1",
	    "192.168.1.256",
	    "fd00::/129",
	    "fd00:::1",
	    "host.example",
	    "192.168.1.0/24/8",
	    "1.2.3.4/0008",
	};
	struct cidr c;
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (cidr_parse(bad[i], &c) != MB_EINVAL)
			fail_msg("cidr_parse(\"%s\") accepted", bad[i]);
	}
	assert_int_equal(cidr_parse(NULL, &c), MB_EINVAL);
}

static void test_match_ipv4(void **state)
{
	struct cidr list[2];
	(void)state;
	assert_int_equal(cidr_parse("192.168.1.0/24", &list[0]), 0);
	assert_int_equal(cidr_parse("10.0.0.7", &list[1]), 0);

	assert_true(match(list, 2, "192.168.1.0"));
	assert_true(match(list, 2, "192.168.1.255"));
	assert_false(match(list, 2, "192.168.2.1"));
	assert_false(match(list, 2, "192.168.0.255"));
	assert_true(match(list, 2, "10.0.0.7"));
	assert_false(match(list, 2, "10.0.0.8"));
	/* Only the first n entries count. */
	assert_false(match(list, 1, "10.0.0.7"));
	assert_false(match(list, 0, "192.168.1.1"));

	/* Prefix boundaries that do not fall on a byte. */
	struct cidr odd;
	assert_int_equal(cidr_parse("172.16.0.0/12", &odd), 0);
	assert_true(match(&odd, 1, "172.31.255.255"));
	assert_false(match(&odd, 1, "172.32.0.0"));
	assert_false(match(&odd, 1, "172.15.255.255"));

	struct cidr all;
	assert_int_equal(cidr_parse("0.0.0.0/0", &all), 0);
	assert_true(match(&all, 1, "8.8.8.8"));
	assert_false(match(&all, 1, "::1"));
}

static void test_match_ipv6(void **state)
{
	struct cidr list[2];
	(void)state;
	assert_int_equal(cidr_parse("fd00::/8", &list[0]), 0);
	assert_int_equal(cidr_parse("2001:db8:0:1::/64", &list[1]), 0);
	assert_true(match(list, 2, "fd12:3456::1"));
	assert_false(match(list, 2, "fe80::1"));
	assert_true(match(list, 2, "2001:db8:0:1:ffff::1"));
	assert_false(match(list, 2, "2001:db8:0:2::1"));
	/* An IPv4 client never matches an IPv6 network. */
	assert_false(match(list, 2, "192.168.1.1"));
}

static void test_match_v4mapped(void **state)
{
	struct cidr list[2];
	(void)state;
	assert_int_equal(cidr_parse("192.168.1.0/24", &list[0]), 0);
	assert_int_equal(cidr_parse("::1", &list[1]), 0);
	/* An IPv4 client on an IPv6 listener arrives as ::ffff:a.b.c.d. */
	assert_true(match(list, 2, "::ffff:192.168.1.20"));
	assert_false(match(list, 2, "::ffff:192.168.2.20"));
	assert_true(match(list, 2, "::1"));
	/* The same 32 bits without the ::ffff: prefix are not IPv4. */
	assert_false(match(list, 1, "::c0a8:114"));

	/* A mapped entry matches both spellings of the client. */
	struct cidr mapped;
	assert_int_equal(cidr_parse("::ffff:10.0.0.0/104", &mapped), 0);
	assert_true(match(&mapped, 1, "10.9.8.7"));
	assert_true(match(&mapped, 1, "::ffff:10.9.8.7"));
	assert_false(match(&mapped, 1, "11.0.0.1"));
}

static void test_match_bad_args(void **state)
{
	struct cidr c;
	struct sockaddr sa;
	(void)state;
	assert_int_equal(cidr_parse("0.0.0.0/0", &c), 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_family = AF_UNIX;
	assert_false(cidr_match(&c, 1, &sa));
	assert_false(cidr_match(&c, 1, NULL));
	assert_false(cidr_match(NULL, 0, &sa));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ipv4),	   cmocka_unit_test(test_parse_ipv6),
	    cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_match_ipv4),
	    cmocka_unit_test(test_match_ipv6),	   cmocka_unit_test(test_match_v4mapped),
	    cmocka_unit_test(test_match_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

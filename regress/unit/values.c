/*
 * values: the value parsers behind the configuration and the SMTP paths:
 * sizes, durations, host:port, CIDR, client keys and mail addresses.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config_load.h"
#include "mailaddr.h"
#include "netaddr.h"
#include "tap.h"

#define NOERR	NULL

/* Sizes and durations. */

static void
size_ok(const char *s, uint64_t want)
{
	uint64_t	 v = 12345;
	const char	*why;

	why = conf_parse_size(s, &v);
	if (is_str(why, NOERR, "size \"%s\" accepted", s))
		is_int((long long)(v - want), 0, "size \"%s\" is %llu", s,
		    (unsigned long long)want);
}

static void
size_bad(const char *s, const char *want)
{
	uint64_t v = 12345;

	is_str(conf_parse_size(s, &v), want, "size \"%s\" refused", s);
	is_int(v, 12345, "size \"%s\": value untouched", s);
}

static void
test_sizes(void)
{
	size_ok("500M", 524288000);
	size_ok("0", 0);
	size_ok("512", 512);
	size_ok("64K", 65536);
	size_ok("1G", 1073741824);
	size_ok("0012K", 12288);
	size_ok("17179869183G", 17179869183ull * 1073741824);
	size_ok("9223372036854775807", 9223372036854775807ull);
	size_bad("500X", "bad size unit (use K, M or G)");
	size_bad("500m", "bad size unit (use K, M or G)");
	size_bad("50MB", "bad size unit (use K, M or G)");
	size_bad("-1", "bad size (a whole number, with K, M or G)");
	size_bad("10.5M", "bad size (a whole number, with K, M or G)");
	size_bad("M", "bad size (a whole number, with K, M or G)");
	size_bad("5 M", "bad size (a whole number, with K, M or G)");
	size_bad("0x10", "bad size (a whole number, with K, M or G)");
	size_bad("", "size must not be empty");
	size_bad("17179869184G", "size too large");
	size_bad("9223372036854775808", "size too large");
	size_bad("123456789012345678901234567890123456789", "size too large");
}

static void
duration_ok(const char *s, uint32_t want)
{
	uint32_t	 v = 12345;
	const char	*why;

	why = conf_parse_duration(s, &v);
	if (is_str(why, NOERR, "duration \"%s\" accepted", s))
		is_int(v, want, "duration \"%s\" is %u", s, want);
}

static void
duration_bad(const char *s, const char *want)
{
	uint32_t v = 12345;

	is_str(conf_parse_duration(s, &v), want, "duration \"%s\" refused",
	    s);
	is_int(v, 12345, "duration \"%s\": value untouched", s);
}

static void
test_durations(void)
{
	duration_ok("5s", 5);
	duration_ok("5m", 300);
	duration_ok("2h", 7200);
	duration_ok("8d", 691200);
	duration_ok("0", 0);
	duration_ok("0s", 0);
	duration_ok("366d", 31622400);
	duration_ok("31622400s", 31622400);
	duration_bad("5", "duration needs a unit (s, m, h or d)");
	duration_bad("60", "duration needs a unit (s, m, h or d)");
	duration_bad("5w", "bad duration unit (use s, m, h or d)");
	duration_bad("5M", "bad duration unit (use s, m, h or d)");
	duration_bad("5min", "bad duration unit (use s, m, h or d)");
	duration_bad("400d", "duration too long (at most 366d)");
	duration_bad("367d", "duration too long (at most 366d)");
	duration_bad("31622401s", "duration too long (at most 366d)");
	duration_bad("99999999999999999999d",
	    "duration too long (at most 366d)");
	duration_bad("-5s", "bad duration (a whole number with s, m, h or d)");
	duration_bad("1h30m",
	    "bad duration (a whole number with s, m, h or d)");
	duration_bad("1.5h", "bad duration (a whole number with s, m, h or d)");
	duration_bad("s", "bad duration (a whole number with s, m, h or d)");
	duration_bad("", "duration must not be empty");
}

/* host:port */

static void
hostport_ok(const char *s, const char *host, int port)
{
	struct hostport	hp;
	char		buf[ADDRSTR_MAX];

	if (!is_str(hostport_parse(s, &hp), NOERR, "hostport \"%s\"", s))
		return;
	is_str(hp.host, host, "hostport \"%s\": host", s);
	is_int(hp.port, port, "hostport \"%s\": port", s);
	hostport_format(&hp, buf, sizeof(buf));
	is_str(buf, s, "hostport \"%s\": formatted back", s);
}

static void
hostport_bad(const char *s, const char *why)
{
	struct hostport hp;

	is_str(hostport_parse(s, &hp), why, "hostport \"%s\" refused", s);
}

static void
test_hostport_parse(void)
{
	hostport_ok("127.0.0.1:25", "127.0.0.1", 25);
	hostport_ok("[::1]:25", "::1", 25);
	hostport_ok("[2001:db8::25]:2525", "2001:db8::25", 2525);
	hostport_ok("mx.example.net:587", "mx.example.net", 587);
	hostport_ok("localhost:65535", "localhost", 65535);
	hostport_ok("127.0.0.1:1", "127.0.0.1", 1);
	hostport_bad("127.0.0.1", "missing port (expected host:port)");
	hostport_bad("mx.example.net", "missing port (expected host:port)");
	hostport_bad("127.0.0.1:", "missing port");
	hostport_bad("127.0.0.1:0", "port out of range (1-65535)");
	hostport_bad("127.0.0.1:70000", "port out of range (1-65535)");
	hostport_bad("127.0.0.1:-25", "port is not a number");
	hostport_bad("127.0.0.1:smtp", "port is not a number");
	hostport_bad(":25", "missing host");
	hostport_bad("::1:25", "IPv6 addresses need brackets: [address]:port");
	hostport_bad("2001:db8::1", "IPv6 addresses need brackets: "
	    "[address]:port");
	hostport_bad("[::1]", "missing port (expected [address]:port)");
	hostport_bad("[::1]25", "missing port (expected [address]:port)");
	hostport_bad("[::1]:", "missing port");
	hostport_bad("[::1]:0", "port out of range (1-65535)");
	hostport_bad("[::1:25", "missing ']' after IPv6 address");
	hostport_bad("[]:25", "bad IPv6 address");
	hostport_bad("[::g]:25", "bad IPv6 address");
	hostport_bad("[2001:db8::1::2]:25", "bad IPv6 address");
	hostport_bad("[127.0.0.1]:25", "bad IPv6 address");
	hostport_bad("[fe80::1%eth0]:25", "bad IPv6 address");
	hostport_bad("mx..example.net:25", "bad host name");
	hostport_bad("mx example.net:25", "bad host name");
}

static void
test_hostport_sockaddr(void)
{
	struct hostport			 hp;
	struct sockaddr_storage		 ss;
	struct sockaddr_in		*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6		*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t			 sl;
	char				 buf[INET6_ADDRSTRLEN];

	hostport_parse("192.0.2.25:2525", &hp);
	is_int(hostport_sockaddr(&hp, &ss, &sl), 0, "sockaddr: IPv4");
	is_int(ss.ss_family, AF_INET, "sockaddr: AF_INET");
	is_int(sl, sizeof(*sin), "sockaddr: IPv4 length");
	is_int(ntohs(sin->sin_port), 2525, "sockaddr: IPv4 port");
	inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
	is_str(buf, "192.0.2.25", "sockaddr: IPv4 address");

	hostport_parse("[2001:db8::25]:25", &hp);
	is_int(hostport_sockaddr(&hp, &ss, &sl), 0, "sockaddr: IPv6");
	is_int(ss.ss_family, AF_INET6, "sockaddr: AF_INET6");
	is_int(sl, sizeof(*sin6), "sockaddr: IPv6 length");
	is_int(ntohs(sin6->sin6_port), 25, "sockaddr: IPv6 port");
	inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
	is_str(buf, "2001:db8::25", "sockaddr: IPv6 address");

	hostport_parse("mx.example.net:25", &hp);
	is_int(hostport_sockaddr(&hp, &ss, &sl), -1,
	    "sockaddr: a host name is not an address");
}

/* CIDR */

static void
cidr_ok(const char *s, int af, int plen, const char *fmt)
{
	struct cidr	c;
	char		buf[64];

	if (!is_str(cidr_parse(s, &c), NOERR, "cidr \"%s\"", s))
		return;
	is_int(c.af, af, "cidr \"%s\": family", s);
	is_int(c.plen, plen, "cidr \"%s\": prefix length", s);
	cidr_format(&c, buf, sizeof(buf));
	is_str(buf, fmt, "cidr \"%s\": formatted", s);
}

static void
cidr_bad(const char *s, const char *why)
{
	struct cidr c;

	is_str(cidr_parse(s, &c), why, "cidr \"%s\" refused", s);
}

static void
test_cidr_parse(void)
{
	cidr_ok("10.0.0.0/8", AF_INET, 8, "10.0.0.0/8");
	cidr_ok("192.0.2.128/25", AF_INET, 25, "192.0.2.128/25");
	cidr_ok("10.2.0.0/15", AF_INET, 15, "10.2.0.0/15");
	cidr_ok("0.0.0.0/0", AF_INET, 0, "0.0.0.0/0");
	cidr_ok("192.0.2.1", AF_INET, 32, "192.0.2.1/32");
	cidr_ok("2001:db8::/32", AF_INET6, 32, "2001:db8::/32");
	cidr_ok("2001:db8:a::/48", AF_INET6, 48, "2001:db8:a::/48");
	cidr_ok("2001:db8::1", AF_INET6, 128, "2001:db8::1/128");
	cidr_ok("::/0", AF_INET6, 0, "::/0");
	cidr_bad("10.0.0.0/33", "bad prefix length");
	cidr_bad("2001:db8::/129", "bad prefix length");
	cidr_bad("10.0.0.0/", "bad prefix length");
	cidr_bad("10.0.0.0/-1", "bad prefix length");
	cidr_bad("10.0.0.0/8a", "bad prefix length");
	cidr_bad("10.0.0.1/8", "host bits set in network (check the prefix)");
	cidr_bad("10.1.0.0/15", "host bits set in network (check the prefix)");
	cidr_bad("192.0.2.129/25",
	    "host bits set in network (check the prefix)");
	cidr_bad("2001:db8::1/64",
	    "host bits set in network (check the prefix)");
	cidr_bad("garbage", "bad network address");
	cidr_bad("10.0.0/8", "bad network address");
	cidr_bad("", "bad network address");
	cidr_bad("010.0.0.0/8", "bad network address");
}

static int
overlap(const char *a, const char *b)
{
	struct cidr ca, cb;

	if (cidr_parse(a, &ca) != NULL || cidr_parse(b, &cb) != NULL)
		return -1;
	return cidr_overlap(&ca, &cb);
}

static void
test_cidr_overlap(void)
{
	static const struct {
		const char	*a, *b;
		int		 want;
	} t[] = {
		{ "192.0.2.0/24", "192.0.2.128/25", 1 },
		{ "192.0.2.0/24", "192.0.2.0/24", 1 },
		{ "192.0.2.0/25", "192.0.2.128/25", 0 },
		{ "10.0.0.0/8", "11.0.0.0/8", 0 },
		{ "0.0.0.0/0", "203.0.113.7", 1 },
		{ "192.0.2.1", "192.0.2.2", 0 },
		{ "2001:db8::/32", "2001:db8:a::/48", 1 },
		{ "2001:db8:a::/48", "2001:db8:b::/48", 0 },
		{ "::/0", "2001:db8::1", 1 },
		{ "0.0.0.0/0", "::/0", 0 },
		{ "::ffff:0:0/96", "192.0.2.0/24", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		is_int(overlap(t[i].a, t[i].b), t[i].want, "overlap %s %s",
		    t[i].a, t[i].b);
		is_int(overlap(t[i].b, t[i].a), t[i].want, "overlap %s %s",
		    t[i].b, t[i].a);
	}
}

static int
contains(const char *net, const char *addr)
{
	struct cidr	c;
	struct netaddr	na;

	if (cidr_parse(net, &c) != NULL || netaddr_parse(addr, &na) == -1)
		return -1;
	return cidr_contains(&c, na.af, na.addr);
}

static void
test_cidr_contains(void)
{
	is_int(contains("192.0.2.0/24", "192.0.2.77"), 1, "contains: inside");
	is_int(contains("192.0.2.0/24", "192.0.3.1"), 0, "contains: outside");
	is_int(contains("192.0.2.128/25", "192.0.2.128"), 1,
	    "contains: first address");
	is_int(contains("192.0.2.128/25", "192.0.2.255"), 1,
	    "contains: last address");
	is_int(contains("192.0.2.128/25", "192.0.2.127"), 0,
	    "contains: just below");
	is_int(contains("10.2.0.0/15", "10.3.255.255"), 1,
	    "contains: partial byte");
	is_int(contains("10.2.0.0/15", "10.4.0.0"), 0,
	    "contains: partial byte, outside");
	is_int(contains("0.0.0.0/0", "203.0.113.9"), 1, "contains: /0");
	is_int(contains("192.0.2.1", "192.0.2.1"), 1, "contains: /32 itself");
	is_int(contains("2001:db8::/32", "2001:db8:ffff::1"), 1,
	    "contains: IPv6 inside");
	is_int(contains("2001:db8::/32", "2001:db9::1"), 0,
	    "contains: IPv6 outside");
	is_int(contains("0.0.0.0/0", "::1"), 0,
	    "contains: IPv4 network, IPv6 address");
	is_int(contains("::/0", "192.0.2.1"), 0,
	    "contains: IPv6 network, IPv4 address");
}

/* Client addresses. */

static uint64_t
key_of(const char *addr)
{
	struct netaddr na;

	if (netaddr_parse(addr, &na) == -1) {
		diag("netaddr_parse(\"%s\") failed", addr);
		return 0;
	}
	return netaddr_client_key(&na);
}

/* Flip each bit of the first 64 of an IPv6 address: each is another /64. */
static void
test_key_bits(void)
{
	struct netaddr	na;
	uint64_t	base;
	int		bit, same = 0, differ = 0;

	netaddr_parse("2001:db8:1:2::1", &na);
	base = netaddr_client_key(&na);
	for (bit = 0; bit < 64; bit++) {
		na.addr[bit / 8] ^= 0x80 >> (bit % 8);
		if (netaddr_client_key(&na) == base) {
			diag("prefix bit %d is lost from the key", bit);
			same++;
		}
		na.addr[bit / 8] ^= 0x80 >> (bit % 8);
	}
	is_int(same, 0, "client key: every bit of the /64 counts");
	for (bit = 64; bit < 128; bit++) {
		na.addr[bit / 8] ^= 0x80 >> (bit % 8);
		if (netaddr_client_key(&na) != base)
			differ++;
		na.addr[bit / 8] ^= 0x80 >> (bit % 8);
	}
	is_int(differ, 0, "client key: the interface identifier does not");
}

static void
test_client_key(void)
{
	struct sockaddr_in6	sin6;
	struct sockaddr_in	sin;
	struct netaddr		na4, na6;
	char			buf[INET6_ADDRSTRLEN];

	ok(key_of("192.0.2.1") == key_of("192.0.2.1"), "key: same IPv4");
	ok(key_of("192.0.2.1") != key_of("192.0.2.2"),
	    "key: IPv4 addresses differ");
	ok(key_of("192.0.2.1") != key_of("10.0.2.1"),
	    "key: IPv4 first octet counts");
	ok(key_of("2001:db8:1:2::1") == key_of("2001:db8:1:2:ffff:ab:cd:ef"),
	    "key: same IPv6 /64");
	ok(key_of("2001:db8:1:2::1") != key_of("2001:db8:1:3::1"),
	    "key: different IPv6 /64");
	ok(key_of("2001:db8::1") != key_of("2001:db8:0:80::1"),
	    "key: /64s differing in bit 56");
	ok(key_of("2001:db8::1") != key_of("2001:db9::1"),
	    "key: /64s differing in the /32");
	ok(key_of("192.0.2.1") != key_of("2001:db8::1"),
	    "key: IPv4 and IPv6 differ");
	ok(key_of("192.0.2.1") != key_of("c000:201::1"),
	    "key: an IPv6 /64 that starts with the IPv4 bits differs");
	test_key_bits();

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(4321);
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &sin6.sin6_addr);
	is_int(netaddr_from_sockaddr(&na6, (struct sockaddr *)&sin6), 0,
	    "from_sockaddr: IPv4-mapped");
	is_int(na6.af, AF_INET, "from_sockaddr: IPv4-mapped becomes IPv4");
	is_int(na6.port, 4321, "from_sockaddr: port kept");
	netaddr_format(&na6, buf, sizeof(buf));
	is_str(buf, "192.0.2.1", "from_sockaddr: formatted as IPv4");

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	netaddr_from_sockaddr(&na4, (struct sockaddr *)&sin);
	ok(netaddr_client_key(&na4) == netaddr_client_key(&na6),
	    "key: IPv4-mapped IPv6 and IPv4 share a key");

	inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
	netaddr_from_sockaddr(&na6, (struct sockaddr *)&sin6);
	is_int(na6.af, AF_INET6, "from_sockaddr: IPv6 stays IPv6");
	sin6.sin6_family = AF_UNIX;
	is_int(netaddr_from_sockaddr(&na6, (struct sockaddr *)&sin6), -1,
	    "from_sockaddr: AF_UNIX refused");
}

static int
private(const char *addr)
{
	struct netaddr na;

	if (netaddr_parse(addr, &na) == -1)
		return -1;
	return netaddr_is_private(&na);
}

static void
test_private(void)
{
	static const char *priv[] = {
		"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.1.1", "100.64.0.1", "0.0.0.0",
		"192.0.2.1", "198.51.100.1", "203.0.113.1", "198.18.0.1",
		"224.0.0.1", "255.255.255.255", "::", "::1", "fe80::1",
		"fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
		"::ffff:8.8.8.8", "64:ff9b:1::1", "100::1",
		/* IPv4 inside IPv6: mapped, compatible, NAT64, 6to4 */
		"::ffff:10.0.0.1", "::ffff:127.0.0.1", "::10.0.0.1",
		"::8.8.8.8", "64:ff9b::a00:1", "64:ff9b::7f00:1",
		"64:ff9b::c0a8:101", "64:ff9b:1::808:808", "2002:a00:1::1",
		"2002:7f00:1::1", "2002:c0a8:101:1::1", "2002:a9fe:101::",
	};
	static const char *pub[] = {
		"8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1",
		"100.63.255.255", "100.128.0.1", "192.0.3.1", "198.20.0.1",
		"223.255.255.255", "2a00:1450:4001::1", "2001:4860::8888",
		"64:ff9b::808:808", "2002:808:808::1", "64:ff9b::101:101",
	};
	size_t i;

	for (i = 0; i < sizeof(priv) / sizeof(priv[0]); i++)
		is_int(private(priv[i]), 1, "private: %s", priv[i]);
	for (i = 0; i < sizeof(pub) / sizeof(pub[0]); i++)
		is_int(private(pub[i]), 0, "public: %s", pub[i]);
}

/* Mail addresses. */

static int
addr(const char *s, int flags, struct mailaddr *ma)
{
	return mailaddr_parse(s, strlen(s), flags, ma);
}

static int
path(const char *s, int flags, struct mailaddr *ma, size_t *used)
{
	return mailpath_parse(s, strlen(s), flags, ma, used);
}

static void
test_mailpath(void)
{
	struct mailaddr	ma;
	size_t		used = 0;
	char		buf[600];

	is_int(path("<>", MA_NULL_OK, &ma, &used), MA_OK, "path: <> allowed");
	is_int(ma.null, 1, "path: <> is the null path");
	is_int(used, 2, "path: <> length");
	mailaddr_format(&ma, buf, sizeof(buf));
	is_str(buf, "", "path: <> formats as nothing");
	is_int(path("<>", 0, &ma, &used), MA_ESYNTAX,
	    "path: <> refused without MA_NULL_OK");
	is_int(path("<u@example.com> SIZE=100", 0, &ma, &used), MA_OK,
	    "path: with parameters");
	is_int(used, 15, "path: used stops after '>'");
	is_str(ma.local, "u", "path: local part");
	is_str(ma.domain, "example.com", "path: domain");
	is_int(path("<@a.example,@b.example:u@c.example>", 0, &ma, &used),
	    MA_OK, "path: source route accepted");
	mailaddr_format(&ma, buf, sizeof(buf));
	is_str(buf, "u@c.example", "path: source route ignored");
	is_int(path("<@a.example:u@c.example>", 0, &ma, &used), MA_OK,
	    "path: one-hop source route");
	is_int(path("<@a.example,u@c.example>", 0, &ma, &used), MA_ESYNTAX,
	    "path: source route without ':'");
	is_int(path("<@a..example:u@c.example>", 0, &ma, &used), MA_ESYNTAX,
	    "path: source route with a bad domain");
	is_int(path("<\"a>b\"@example.com>", 0, &ma, &used), MA_OK,
	    "path: '>' inside quotes");
	is_str(ma.local, "\"a>b\"", "path: quoted local part kept");
	is_int(path("u@example.com", 0, &ma, &used), MA_ESYNTAX,
	    "path: no brackets");
	is_int(path("<u@example.com", 0, &ma, &used), MA_ESYNTAX,
	    "path: no closing bracket");
	is_int(path("< u@example.com>", 0, &ma, &used), MA_ESYNTAX,
	    "path: space inside");
}

static void
test_local_length(void)
{
	struct mailaddr	ma;
	char		buf[600];

	memset(buf, 'a', 256);
	strlcpy(buf + 256, "@example.com", sizeof(buf) - 256);
	is_int(addr(buf, 0, &ma), MA_OK, "addr: 256-octet local part");
	is_int(strlen(ma.local), 256, "addr: all of it kept");
	memset(buf, 'a', 257);
	strlcpy(buf + 257, "@example.com", sizeof(buf) - 257);
	is_int(addr(buf, 0, &ma), MA_ELOCAL_LONG,
	    "addr: 257-octet local part");
	is_str(mailaddr_strerror(MA_ELOCAL_LONG), "local part too long",
	    "addr: its reason");
	buf[0] = '<';
	memset(buf + 1, 'a', 257);
	strlcpy(buf + 258, "@example.com>", sizeof(buf) - 258);
	is_int(path(buf, 0, &ma, &(size_t){ 0 }), MA_ELOCAL_LONG,
	    "path: 257-octet local part");
}

static void
test_mailaddr(void)
{
	struct mailaddr ma;

	is_int(addr("\"john doe\"@example.com", 0, &ma), MA_OK,
	    "addr: quoted local part");
	is_int(ma.quoted, 1, "addr: marked quoted");
	is_str(ma.local, "\"john doe\"", "addr: quotes kept");
	is_int(addr("\"a\\\"b@c\"@example.com", 0, &ma), MA_OK,
	    "addr: quoted pair and '@' in quotes");
	is_str(ma.domain, "example.com", "addr: domain after the last '@'");
	is_int(addr("\"a\"b\"@example.com", 0, &ma), MA_ESYNTAX,
	    "addr: unescaped quote");
	is_int(addr("first.last+tag@example.com", 0, &ma), MA_OK,
	    "addr: dot-string");
	is_int(addr("a..b@example.com", 0, &ma), MA_ESYNTAX, "addr: '..'");
	is_int(addr(".a@example.com", 0, &ma), MA_ESYNTAX, "addr: leading '.'");
	is_int(addr("a.@example.com", 0, &ma), MA_ESYNTAX,
	    "addr: trailing '.'");
	is_int(addr("a b@example.com", 0, &ma), MA_ESYNTAX, "addr: space");
	is_int(addr("@example.com", 0, &ma), MA_ESYNTAX, "addr: no local part");
	is_int(addr("u", 0, &ma), MA_ESYNTAX, "addr: no '@'");
	is_int(addr("u@", 0, &ma), MA_EDOMAIN, "addr: no domain");
	is_int(mailaddr_parse("u\0x@example.com", 15, 0, &ma), MA_ESYNTAX,
	    "addr: NUL byte");
	is_int(addr("u@localhost", 0, &ma), MA_EDOMAIN,
	    "addr: unqualified domain");
	is_int(addr("u@localhost", MA_NO_FQDN, &ma), MA_OK,
	    "addr: unqualified domain with MA_NO_FQDN");
	is_int(addr("u@example.123", 0, &ma), MA_EDOMAIN,
	    "addr: numeric top-level domain");
	is_int(addr("u@-example.com", 0, &ma), MA_EDOMAIN,
	    "addr: label starts with '-'");
	is_int(addr("u@example-.com", 0, &ma), MA_EDOMAIN,
	    "addr: label ends with '-'");
	is_int(addr("u@example.com.", 0, &ma), MA_EDOMAIN,
	    "addr: trailing dot");
	is_int(addr("u@[192.0.2.1]", 0, &ma), MA_OK, "addr: IPv4 literal");
	is_int(ma.literal, 1, "addr: marked literal");
	is_str(ma.domain, "[192.0.2.1]", "addr: literal kept");
	is_int(addr("u@[IPv6:2001:db8::1]", 0, &ma), MA_OK,
	    "addr: IPv6 literal");
	is_int(addr("u@[ipv6:2001:db8::1]", 0, &ma), MA_OK,
	    "addr: IPv6 tag case-insensitive");
	is_int(addr("u@[300.1.1.1]", 0, &ma), MA_EDOMAIN,
	    "addr: [300.1.1.1]");
	is_int(addr("u@[2001:db8::1]", 0, &ma), MA_EDOMAIN,
	    "addr: IPv6 literal without its tag");
	is_int(addr("u@[IPv6:192.0.2.1]", 0, &ma), MA_EDOMAIN,
	    "addr: IPv4 under the IPv6 tag");
	is_int(addr("u@[192.0.2.1", 0, &ma), MA_EDOMAIN,
	    "addr: unclosed literal");
}

static void
test_utf8(void)
{
	struct mailaddr ma;

	is_int(addr("j\xc3\xb6rg@example.com", 0, &ma), MA_EUTF8,
	    "utf8: local part refused without MA_UTF8");
	is_int(addr("j\xc3\xb6rg@example.com", MA_UTF8, &ma), MA_OK,
	    "utf8: local part accepted with MA_UTF8");
	is_int(ma.utf8, 1, "utf8: marked");
	is_int(addr("\"j\xc3\xb6rg\"@example.com", MA_UTF8, &ma), MA_OK,
	    "utf8: quoted local part");
	is_int(addr("u@b\xc3\xbc" "cher.example", 0, &ma), MA_EUTF8,
	    "utf8: domain refused without MA_UTF8");
	is_int(addr("u@b\xc3\xbc" "cher.example", MA_UTF8, &ma), MA_OK,
	    "utf8: domain accepted with MA_UTF8");
	is_int(addr("\xe2\x82\xac@example.com", MA_UTF8, &ma), MA_OK,
	    "utf8: three-octet sequence");
	is_int(addr("\xf0\x9f\x93\xa7@example.com", MA_UTF8, &ma), MA_OK,
	    "utf8: four-octet sequence");
	is_int(addr("j\xffrg@example.com", MA_UTF8, &ma), MA_ESYNTAX,
	    "utf8: invalid octet");
	is_int(addr("j\xc3@example.com", MA_UTF8, &ma), MA_ESYNTAX,
	    "utf8: truncated sequence");
	is_int(addr("\xc0\xaf@example.com", MA_UTF8, &ma), MA_ESYNTAX,
	    "utf8: overlong '/'");
	is_int(addr("\xe0\x80\xaf@example.com", MA_UTF8, &ma), MA_ESYNTAX,
	    "utf8: overlong three-octet");
	is_int(addr("\xed\xa0\x80@example.com", MA_UTF8, &ma), MA_ESYNTAX,
	    "utf8: surrogate");
	is_int(addr("\xf4\x90\x80\x80@example.com", MA_UTF8, &ma), MA_ESYNTAX,
	    "utf8: beyond U+10FFFF");
	is_int(addr("\"j\xff\"@example.com", MA_UTF8, &ma), MA_ESYNTAX,
	    "utf8: invalid octet in quotes");
	is_int(addr("u@b\xff.example", MA_UTF8, &ma), MA_EDOMAIN,
	    "utf8: invalid octet in the domain");
	is_int(path("<j\xc3\xb6rg@example.com>", 0, &ma, &(size_t){ 0 }),
	    MA_EUTF8, "utf8: path refused without MA_UTF8");
}

/* One answer to "postmaster@ or abuse@?", for smtpd and policyd. */
static void
test_roles(void)
{
	char	long_local[MAILADDR_LOCAL_MAX + 20];

	ok(mailaddr_is_role("postmaster"), "role: postmaster");
	ok(mailaddr_is_role("Abuse"), "role: abuse, any case");
	ok(!mailaddr_is_role("postmaster2"), "role: not postmaster2");
	ok(mailaddr_addr_is_role("PostMaster@acme.example"),
	    "role: postmaster@, any case");
	ok(mailaddr_addr_is_role("abuse@[192.0.2.1]"),
	    "role: abuse@ at an address literal");
	ok(!mailaddr_addr_is_role("\"abuse@x\"@acme.example"),
	    "role: the local part ends at the last '@'");
	ok(mailaddr_addr_is_role("abuse"), "role: a bare local part");
	ok(!mailaddr_addr_is_role("abuser@acme.example"), "role: not abuser@");
	ok(!mailaddr_addr_is_role("abus@acme.example"), "role: not abus@");
	ok(!mailaddr_addr_is_role("\"postmaster\"@acme.example"),
	    "role: not a quoted postmaster, as smtpd's parser keeps it");
	ok(!mailaddr_addr_is_role("@acme.example"), "role: no local part");
	memset(long_local, 'a', sizeof(long_local) - 1);
	long_local[sizeof(long_local) - 1] = '\0';
	ok(!mailaddr_addr_is_role(long_local), "role: too long for one");
}

int
main(void)
{
	test_sizes();
	test_durations();
	test_hostport_parse();
	test_hostport_sockaddr();
	test_cidr_parse();
	test_cidr_overlap();
	test_cidr_contains();
	test_client_key();
	test_private();
	test_mailpath();
	test_local_length();
	test_mailaddr();
	test_utf8();
	test_roles();
	return done_testing();
}

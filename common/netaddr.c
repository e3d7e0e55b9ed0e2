/*
 * netaddr: address parsing, matching and formatting.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

static const char *
port_parse(const char *s, uint16_t *port)
{
	const char *errstr;
	long long v;

	if (*s == '\0')
		return "missing port";
	for (const char *p = s; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return "port is not a number";
	v = strtonum(s, 1, 65535, &errstr);
	if (errstr != NULL)
		return "port out of range (1-65535)";
	*port = (uint16_t)v;
	return NULL;
}

static int
valid_hostname(const char *h)
{
	size_t len = strlen(h), lab = 0;
	const char *p;

	if (len == 0 || len > 253)
		return 0;
	for (p = h; *p != '\0'; p++) {
		if (*p == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
		if (++lab > 63)
			return 0;
	}
	return 1;
}

const char *
hostport_parse(const char *s, struct hostport *hp)
{
	const char	*colon, *close;
	struct in6_addr	 a6;
	size_t		 hlen;

	memset(hp, 0, sizeof(*hp));
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL)
			return "missing ']' after IPv6 address";
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(hp->host))
			return "bad IPv6 address";
		memcpy(hp->host, s + 1, hlen);
		hp->host[hlen] = '\0';
		if (inet_pton(AF_INET6, hp->host, &a6) != 1)
			return "bad IPv6 address";
		if (close[1] != ':')
			return "missing port (expected [address]:port)";
		return port_parse(close + 2, &hp->port);
	}
	if ((colon = strrchr(s, ':')) == NULL)
		return "missing port (expected host:port)";
	if (strchr(s, ':') != colon)
		return "IPv6 addresses need brackets: [address]:port";
	hlen = (size_t)(colon - s);
	if (hlen == 0 || hlen >= sizeof(hp->host))
		return "missing host";
	memcpy(hp->host, s, hlen);
	hp->host[hlen] = '\0';
	if (!valid_hostname(hp->host))
		return "bad host name";
	/* All digits and dots is an IPv4 address, or a mistake. */
	if (strspn(hp->host, "0123456789.") == strlen(hp->host) &&
	    inet_pton(AF_INET, hp->host, &a6) != 1)
		return "bad IPv4 address";
	return port_parse(colon + 1, &hp->port);
}

int
hostport_sockaddr(const struct hostport *hp, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, hp->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(hp->port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, hp->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(hp->port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

void
hostport_format(const struct hostport *hp, char *buf, size_t sz)
{
	if (strchr(hp->host, ':') != NULL)
		snprintf(buf, sz, "[%s]:%u", hp->host, hp->port);
	else
		snprintf(buf, sz, "%s:%u", hp->host, hp->port);
}

static int
prefix_match(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned bytes = plen / 8, bits = plen % 8;
	uint8_t mask;

	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (bits == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - bits));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

const char *
cidr_parse(const char *s, struct cidr *c)
{
	char		 buf[64];
	char		*slash;
	const char	*errstr;
	long long	 plen;
	unsigned	 maxlen, i;

	memset(c, 0, sizeof(*c));
	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return "bad network";
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->af = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->af = AF_INET6;
		maxlen = 128;
	} else
		return "bad network address";
	plen = maxlen;
	if (slash != NULL) {
		for (const char *p = slash; *p != '\0'; p++)
			if (!isdigit((unsigned char)*p))
				return "bad prefix length";
		plen = strtonum(slash, 0, maxlen, &errstr);
		if (errstr != NULL || *slash == '\0')
			return "bad prefix length";
	}
	c->plen = (uint8_t)plen;
	/* Host bits set usually mean a typo: refuse rather than guess. */
	for (i = 0; i < maxlen / 8; i++) {
		unsigned bit0 = i * 8;
		uint8_t keep;

		if (bit0 + 8 <= c->plen)
			continue;
		keep = bit0 >= c->plen ? 0 :
		    (uint8_t)(0xff << (8 - (c->plen - bit0)));
		if ((c->addr[i] & ~keep) != 0)
			return "host bits set in network (check the prefix)";
	}
	return NULL;
}

int
cidr_overlap(const struct cidr *a, const struct cidr *b)
{
	unsigned plen;

	if (a->af != b->af)
		return 0;
	plen = a->plen < b->plen ? a->plen : b->plen;
	return prefix_match(a->addr, b->addr, plen);
}

int
cidr_contains(const struct cidr *c, int af, const uint8_t *addr)
{
	if (c->af != af)
		return 0;
	return prefix_match(c->addr, addr, c->plen);
}

void
cidr_format(const struct cidr *c, char *buf, size_t sz)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(c->af, c->addr, a, sizeof(a)) == NULL)
		strlcpy(a, "?", sizeof(a));
	snprintf(buf, sz, "%s/%u", a, c->plen);
}

int
netaddr_from_sockaddr(struct netaddr *na, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6	*sin6 = (const struct sockaddr_in6 *)sa;

	memset(na, 0, sizeof(*na));
	if (sa->sa_family == AF_INET) {
		na->af = AF_INET;
		memcpy(na->addr, &sin->sin_addr, 4);
		na->port = ntohs(sin->sin_port);
		return 0;
	}
	if (sa->sa_family != AF_INET6)
		return -1;
	na->port = ntohs(sin6->sin6_port);
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		na->af = AF_INET;
		memcpy(na->addr, sin6->sin6_addr.s6_addr + 12, 4);
	} else {
		na->af = AF_INET6;
		memcpy(na->addr, &sin6->sin6_addr, 16);
	}
	return 0;
}

void
netaddr_to_sockaddr(const struct netaddr *na, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (na->af == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, na->addr, 4);
		sin->sin_port = htons(na->port);
		*len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, na->addr, 16);
		sin6->sin6_port = htons(na->port);
		*len = sizeof(*sin6);
	}
}

void
netaddr_format(const struct netaddr *na, char *buf, size_t sz)
{
	if (inet_ntop(na->af, na->addr, buf, (socklen_t)sz) == NULL)
		strlcpy(buf, "?", sz);
}

int
netaddr_parse(const char *s, struct netaddr *na)
{
	memset(na, 0, sizeof(*na));
	if (inet_pton(AF_INET, s, na->addr) == 1) {
		na->af = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, na->addr) == 1) {
		na->af = AF_INET6;
		return 0;
	}
	return -1;
}

/*
 * The key is the /64 read as a big-endian number: all 64 bits count.  An
 * IPv4 address a.b.c.d takes the key of 0:0:a.b:c.d::/64, inside ::/8,
 * which is reserved: no client connects from there (it holds ::, ::1, the
 * deprecated IPv4-compatible form, and the IPv4-mapped form, which
 * netaddr_from_sockaddr has already made IPv4).
 */
uint64_t
netaddr_client_key(const struct netaddr *na)
{
	uint64_t k;
	uint32_t v4;

	if (na->af == AF_INET) {
		memcpy(&v4, na->addr, 4);
		return ntohl(v4);
	}
	/* The /64: one end site, however many addresses it uses. */
	memcpy(&k, na->addr, 8);
	return be64toh(k);
}

struct range {
	int		af;
	const char	*net;
};

/* Where mail must not be sent unless queue.allow_private_mx says so. */
static const struct range private_ranges[] = {
	{ AF_INET, "0.0.0.0/8" }, { AF_INET, "10.0.0.0/8" },
	{ AF_INET, "100.64.0.0/10" }, { AF_INET, "127.0.0.0/8" },
	{ AF_INET, "169.254.0.0/16" }, { AF_INET, "172.16.0.0/12" },
	{ AF_INET, "192.0.0.0/24" }, { AF_INET, "192.0.2.0/24" },
	{ AF_INET, "192.168.0.0/16" }, { AF_INET, "198.18.0.0/15" },
	{ AF_INET, "198.51.100.0/24" }, { AF_INET, "203.0.113.0/24" },
	{ AF_INET, "224.0.0.0/3" },
	/*
	 * IPv4-compatible (deprecated) and IPv4-mapped addresses are never
	 * a real host's; NAT64 for local use (RFC 8215) is local.
	 */
	{ AF_INET6, "::/96" }, { AF_INET6, "::ffff:0:0/96" },
	{ AF_INET6, "64:ff9b:1::/48" }, { AF_INET6, "100::/64" },
	{ AF_INET6, "2001:db8::/32" }, { AF_INET6, "fc00::/7" },
	{ AF_INET6, "fe80::/10" }, { AF_INET6, "ff00::/8" },
};

static int
in_ranges(const struct netaddr *na)
{
	struct cidr	c;
	size_t		i;

	for (i = 0; i < sizeof(private_ranges) / sizeof(private_ranges[0]);
	    i++) {
		if (private_ranges[i].af != na->af)
			continue;
		if (cidr_parse(private_ranges[i].net, &c) != NULL)
			continue;
		if (cidr_contains(&c, na->af, na->addr))
			return 1;
	}
	return 0;
}

/*
 * An IPv6 address that carries an IPv4 one reaches that host: the NAT64
 * well-known prefix (64:ff9b::/96, RFC 6052) at its end, 6to4
 * (2002::/16, RFC 3056) after the prefix.  Its IPv4 address is judged.
 */
static int
embedded_v4(const struct netaddr *na, struct netaddr *v4)
{
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	const uint8_t *a = na->addr;

	memset(v4, 0, sizeof(*v4));
	v4->af = AF_INET;
	if (memcmp(a, nat64, sizeof(nat64)) == 0) {
		memcpy(v4->addr, a + 12, 4);
		return 1;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		memcpy(v4->addr, a + 2, 4);
		return 1;
	}
	return 0;
}

int
netaddr_is_private(const struct netaddr *na)
{
	struct netaddr v4;

	if (in_ranges(na))
		return 1;
	return na->af == AF_INET6 && embedded_v4(na, &v4) && in_ranges(&v4);
}

int
netaddr_is_loopback(const struct netaddr *na)
{
	static const uint8_t one[16] = { [15] = 1 };

	if (na->af == AF_INET)
		return na->addr[0] == 127;
	return na->af == AF_INET6 && memcmp(na->addr, one, 16) == 0;
}

/*
 * netaddr: host:port, CIDR and socket address helpers.
 */
#ifndef RELAYD_NETADDR_H
#define RELAYD_NETADDR_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#define HOST_MAX	256
#define ADDRSTR_MAX	64	/* "[v6]:port" with room to spare */

struct hostport {
	char		host[HOST_MAX];	/* name or literal, no brackets */
	uint16_t	port;
};

struct cidr {
	int		af;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network order, host bits zero */
	uint8_t		plen;
};

/* Parsers return NULL on success or a static reason for the error. */
const char *hostport_parse(const char *, struct hostport *);
const char *cidr_parse(const char *, struct cidr *);

/* hostport holds an IP literal: fill a sockaddr (port included). */
int	 hostport_sockaddr(const struct hostport *, struct sockaddr_storage *,
	    socklen_t *);
void	 hostport_format(const struct hostport *, char *, size_t);

int	 cidr_overlap(const struct cidr *, const struct cidr *);
/* Does the address (AF_INET 4 bytes, AF_INET6 16 bytes) fall inside? */
int	 cidr_contains(const struct cidr *, int af, const uint8_t *addr);
void	 cidr_format(const struct cidr *, char *, size_t);

/*
 * A client address normalised: IPv4-mapped IPv6 becomes IPv4.  The key for
 * per-client limits is the IPv4 address or the IPv6 /64.
 */
struct netaddr {
	int		af;
	uint8_t		addr[16];
	uint16_t	port;
};

int	 netaddr_from_sockaddr(struct netaddr *, const struct sockaddr *);
void	 netaddr_to_sockaddr(const struct netaddr *, struct sockaddr_storage *,
	    socklen_t *);
void	 netaddr_format(const struct netaddr *, char *, size_t);	/* addr */
uint64_t netaddr_client_key(const struct netaddr *);
/* Loopback, private, link-local, multicast, documentation and the like. */
int	 netaddr_is_private(const struct netaddr *);
/* 127.0.0.0/8 or ::1: this host. */
int	 netaddr_is_loopback(const struct netaddr *);
int	 netaddr_parse(const char *, struct netaddr *);	/* IP literal */

#endif

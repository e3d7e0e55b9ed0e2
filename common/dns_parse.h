/*
 * dns_parse: the answers c-ares gives us, parsed by us.
 *
 * c-ares's own parsers drop the TTLs of several record types, and the
 * cache must honour them; negative answers need the SOA of the authority
 * section (RFC 2308 section 5).  The input comes off the network, so the
 * parser is strict and bounded: name compression may only point backwards,
 * names are at most 255 octets, and every length is checked.
 */
#ifndef RELAYD_DNS_PARSE_H
#define RELAYD_DNS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_T_A		1
#define DNS_T_NS	2
#define DNS_T_CNAME	5
#define DNS_T_SOA	6
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_TLSA	52

#define DNS_NAME_MAX	256	/* presentation form, with the NUL */
#define DNS_MAX_RR	64	/* records kept from one answer */
#define DNS_TXT_MAX	4096	/* one TXT record, strings joined */
#define DNS_TLSA_MAX	2048	/* TLSA association data kept */
#define TLSA_UNUSABLE	0xff	/* usage of a record too large to keep
				   (255, private use: never usable) */

enum dns_rcode {
	DNS_R_OK = 0,		/* records of the type asked for */
	DNS_R_NODATA,		/* the name exists, no such records */
	DNS_R_NXDOMAIN,		/* the name does not exist */
	DNS_R_TEMPFAIL		/* anything else: try again later */
};

struct dns_rr {
	uint16_t	type;
	uint32_t	ttl;
	uint16_t	pref;			/* MX */
	uint8_t		addr[16];		/* A (4), AAAA (16) */
	char		name[DNS_NAME_MAX];	/* MX, PTR, CNAME target */
	char		*txt;			/* TXT joined, TLSA data */
	size_t		txtlen;
	uint8_t		tlsa_usage;		/* TLSA, RFC 6698 2.1 */
	uint8_t		tlsa_selector;
	uint8_t		tlsa_mtype;
};

struct dns_answer {
	enum dns_rcode	rcode;
	uint32_t	ttl;		/* smallest TTL seen, or negative TTL */
	int		has_ttl;
	struct dns_rr	rr[DNS_MAX_RR];
	size_t		nrr;
	int		truncated;	/* more records than DNS_MAX_RR */
	int		secure;		/* the AD bit, if dnsd trusts it */
};

/*
 * Parse a whole DNS message answering (qname, qtype).  Returns 0, or -1
 * when the message is malformed (which the caller treats as TEMPFAIL).
 */
int	 dns_parse_answer(const uint8_t *, size_t, uint16_t qtype,
	    struct dns_answer *);
void	 dns_answer_clear(struct dns_answer *);

#endif

/*
 * dns_tlsa: TLSA records (RFC 6698) and the AD bit, as dns_parse reads
 * them off the network and dns_client carries them from dnsd.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_client.h"
#include "dns_parse.h"
#include "marshal.h"
#include "tap.h"

struct pkt {
	uint8_t	b[8192];
	size_t	n;
};

static void
put(struct pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
put16(struct pkt *p, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(p, b, 2);
}

/* _25._tcp.mx.example, uncompressed. */
static void
put_qname(struct pkt *p)
{
	static const uint8_t name[] = "\x03_25\x04_tcp\x02mx\x07" "example";

	put(p, name, sizeof(name));	/* with the root's zero */
}

/* A response header and the question, with ancount answers to come. */
static void
header(struct pkt *p, unsigned flags, unsigned ancount)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | flags);
	put16(p, 1);
	put16(p, ancount);
	put16(p, 0);
	put16(p, 0);
	put_qname(p);
	put16(p, DNS_T_TLSA);
	put16(p, 1);
}

/* One TLSA answer, its name a pointer to the question's. */
static void
tlsa(struct pkt *p, uint8_t u, uint8_t s, uint8_t m, const uint8_t *d,
    size_t dl)
{
	static const uint8_t ptr[2] = { 0xc0, 12 };
	uint8_t f[3] = { u, s, m };

	put(p, ptr, 2);
	put16(p, DNS_T_TLSA);
	put16(p, 1);
	put16(p, 0);
	put16(p, 300);
	put16(p, (unsigned)(3 + dl));
	put(p, f, 3);
	put(p, d, dl);
}

int
main(void)
{
	static uint8_t		 big[3000];
	struct pkt		 p;
	struct dns_answer	*a, *b;
	struct mw		 w;
	uint8_t			 sha[32];
	size_t			 i;

	if ((a = malloc(sizeof(*a))) == NULL ||
	    (b = malloc(sizeof(*b))) == NULL)
		return 1;
	for (i = 0; i < sizeof(sha); i++)
		sha[i] = (uint8_t)i;

	header(&p, 0x0020, 2);
	tlsa(&p, 3, 1, 1, sha, sizeof(sha));
	tlsa(&p, 2, 0, 2, sha, 16);
	is_int(dns_parse_answer(p.b, p.n, DNS_T_TLSA, a), 0, "TLSA parsed");
	is_int(a->rcode, DNS_R_OK, "two records: OK");
	is_int((long long)a->nrr, 2, "both kept");
	ok(a->secure, "the AD bit is reported as secure");
	ok(a->rr[0].tlsa_usage == 3 && a->rr[0].tlsa_selector == 1 &&
	    a->rr[0].tlsa_mtype == 1, "3 1 1: usage, selector, matching type");
	ok(a->rr[0].txtlen == 32 && memcmp(a->rr[0].txt, sha, 32) == 0,
	    "the association data, whole");
	ok(a->rr[1].tlsa_usage == 2 && a->rr[1].txtlen == 16,
	    "2 0 2 and its 16 octets");

	/* dnsd to deliverd: the same, the secure bit with it. */
	ok(dns_answer_encode(a, DNS_T_TLSA, &w) == 0 &&
	    dns_answer_decode(w.buf, w.len, DNS_T_TLSA, b) == 0,
	    "encoded and decoded");
	ok(b->secure && b->nrr == 2 && b->rr[0].tlsa_usage == 3 &&
	    b->rr[1].tlsa_mtype == 2 && b->rr[0].txtlen == 32 &&
	    memcmp(b->rr[0].txt, sha, 32) == 0, "the records come through");
	dns_answer_clear(b);
	dns_answer_clear(a);

	header(&p, 0, 1);
	tlsa(&p, 3, 1, 1, sha, sizeof(sha));
	dns_parse_answer(p.b, p.n, DNS_T_TLSA, a);
	ok(!a->secure, "no AD bit: not secure");
	dns_answer_clear(a);

	/* A record too large to keep is kept, unusable: never "none". */
	header(&p, 0x0020, 1);
	tlsa(&p, 3, 0, 0, big, sizeof(big));
	is_int(dns_parse_answer(p.b, p.n, DNS_T_TLSA, a), 0,
	    "a 3000-octet record parsed");
	ok(a->nrr == 1 && a->rr[0].tlsa_usage == TLSA_UNUSABLE &&
	    a->rr[0].txtlen == 0, "kept as unusable, without its data");
	dns_answer_clear(a);

	/* Fewer than 4 octets of data: malformed. */
	header(&p, 0x0020, 1);
	tlsa(&p, 3, 1, 1, sha, 0);
	is_int(dns_parse_answer(p.b, p.n, DNS_T_TLSA, a), -1,
	    "a record without association data is malformed");
	ok(a->rcode == DNS_R_TEMPFAIL && !a->secure && a->nrr == 0,
	    "and a malformed answer is a temporary failure, never secure");

	/* A SERVFAIL with AD (a resolver's bug) is still no answer. */
	header(&p, 0x0020 | 2, 0);
	dns_parse_answer(p.b, p.n, DNS_T_TLSA, a);
	ok(a->rcode == DNS_R_TEMPFAIL && !a->secure,
	    "SERVFAIL is never secure");

	/* A secure "no such records": DANE does not apply, for sure. */
	header(&p, 0x0020, 0);
	dns_parse_answer(p.b, p.n, DNS_T_TLSA, a);
	ok(a->rcode == DNS_R_NODATA && a->secure, "secure NODATA");
	ok(dns_answer_encode(a, DNS_T_TLSA, &w) == 0 &&
	    dns_answer_decode(w.buf, w.len, DNS_T_TLSA, b) == 0 &&
	    b->secure && b->rcode == DNS_R_NODATA, "and it travels as such");

	/* A lying dnsd: secure with a temporary failure is refused. */
	memset(a, 0, sizeof(*a));
	a->rcode = DNS_R_TEMPFAIL;
	a->secure = 1;
	ok(dns_answer_encode(a, DNS_T_TLSA, &w) == 0 &&
	    dns_answer_decode(w.buf, w.len, DNS_T_TLSA, b) == -1,
	    "a secure TEMPFAIL from dnsd is a broken peer");
	free(a);
	free(b);
	return done_testing();
}

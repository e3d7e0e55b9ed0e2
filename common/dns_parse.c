/*
 * dns_parse: a bounded DNS message parser (RFC 1035 section 4).
 */
#include <stdlib.h>
#include <string.h>

#include "dns_parse.h"

#define HDR_LEN		12
#define RCODE_NXDOMAIN	3
#define FLAG_AD		0x0020	/* authentic data, RFC 4035 3.2.3 */

struct dns_msg {
	const uint8_t	*p;
	size_t		 len;
	size_t		 off;
};

static int
get16(struct dns_msg *m, uint16_t *v)
{
	if (m->len - m->off < 2)
		return -1;
	*v = (uint16_t)((m->p[m->off] << 8) | m->p[m->off + 1]);
	m->off += 2;
	return 0;
}

static int
get32(struct dns_msg *m, uint32_t *v)
{
	if (m->len - m->off < 4)
		return -1;
	*v = ((uint32_t)m->p[m->off] << 24) | ((uint32_t)m->p[m->off + 1] << 16) |
	    ((uint32_t)m->p[m->off + 2] << 8) | m->p[m->off + 3];
	m->off += 4;
	return 0;
}

/*
 * Read a possibly compressed name at *off into out (lower case,
 * presentation form without the final dot; "" is the root).  Pointers
 * must go strictly backwards, which also bounds the loop.
 */
static int
read_name(const uint8_t *p, size_t len, size_t *offp, char *out)
{
	size_t	off = *offp, o = 0, end = 0, limit = *offp;
	int	jumped = 0;
	uint8_t	l;

	for (;;) {
		if (off >= len)
			return -1;
		l = p[off];
		if ((l & 0xc0) == 0xc0) {
			size_t ptr;

			if (off + 1 >= len)
				return -1;
			ptr = ((size_t)(l & 0x3f) << 8) | p[off + 1];
			if (ptr >= limit)
				return -1;
			if (!jumped)
				end = off + 2;
			jumped = 1;
			limit = ptr;
			off = ptr;
			continue;
		}
		if ((l & 0xc0) != 0)
			return -1;
		off++;
		if (l == 0)
			break;
		if (off + l > len || o + l + 2 > DNS_NAME_MAX)
			return -1;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++) {
			uint8_t c = p[off + i];

			/* Keep names printable: a label with a dot or a
			 * control character is no host name of ours. */
			if (c <= ' ' || c == '.' || c >= 0x7f)
				return -1;
			out[o++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
		}
		off += l;
	}
	out[o] = '\0';
	*offp = jumped ? end : off;
	return 0;
}

static int
skip_name(struct dns_msg *m)
{
	char name[DNS_NAME_MAX];

	return read_name(m->p, m->len, &m->off, name);
}

static void
note_ttl(struct dns_answer *a, uint32_t ttl)
{
	if (!a->has_ttl || ttl < a->ttl)
		a->ttl = ttl;
	a->has_ttl = 1;
}

static int
parse_txt(const uint8_t *p, size_t len, struct dns_rr *rr)
{
	size_t off = 0, o = 0;

	if ((rr->txt = malloc(len + 1)) == NULL)
		return -1;
	while (off < len) {
		uint8_t l = p[off++];

		if (off + l > len || o + l > DNS_TXT_MAX)
			return -1;
		memcpy(rr->txt + o, p + off, l);
		o += l;
		off += l;
	}
	rr->txt[o] = '\0';
	rr->txtlen = o;
	return 0;
}

/* Usage, selector, matching type, then the association data. */
static int
parse_tlsa(const uint8_t *p, size_t len, struct dns_rr *rr)
{
	if (len < 4)
		return -1;
	rr->tlsa_usage = p[0];
	rr->tlsa_selector = p[1];
	rr->tlsa_mtype = p[2];
	if (len - 3 > DNS_TLSA_MAX) {
		rr->tlsa_usage = TLSA_UNUSABLE;
		len = 3;
	}
	if ((rr->txt = malloc(len - 3 + 1)) == NULL)
		return -1;
	memcpy(rr->txt, p + 3, len - 3);
	rr->txt[len - 3] = '\0';
	rr->txtlen = len - 3;
	return 0;
}

/* One record's data, for the types we keep. */
static int
parse_rdata(struct dns_msg *m, uint16_t type, uint16_t rdlen,
    struct dns_rr *rr)
{
	size_t off = m->off;

	switch (type) {
	case DNS_T_A:
		if (rdlen != 4)
			return -1;
		memcpy(rr->addr, m->p + off, 4);
		return 0;
	case DNS_T_AAAA:
		if (rdlen != 16)
			return -1;
		memcpy(rr->addr, m->p + off, 16);
		return 0;
	case DNS_T_MX:
		if (rdlen < 3)
			return -1;
		rr->pref = (uint16_t)((m->p[off] << 8) | m->p[off + 1]);
		off += 2;
		if (read_name(m->p, m->off + rdlen, &off, rr->name) == -1 ||
		    off != m->off + rdlen)
			return -1;
		return 0;
	case DNS_T_PTR:
	case DNS_T_CNAME:
		if (read_name(m->p, m->off + rdlen, &off, rr->name) == -1 ||
		    off != m->off + rdlen)
			return -1;
		return 0;
	case DNS_T_TXT:
		return parse_txt(m->p + off, rdlen, rr);
	case DNS_T_TLSA:
		return parse_tlsa(m->p + off, rdlen, rr);
	}
	return -1;
}

/* The SOA of the authority section: min(TTL, MINIMUM), RFC 2308 5. */
static int
parse_soa(struct dns_msg *m, uint32_t ttl, uint16_t rdlen,
    struct dns_answer *a)
{
	struct dns_msg	sub = *m;
	uint32_t	serial, refresh, retry, expire, minimum;

	sub.len = m->off + rdlen;
	if (skip_name(&sub) == -1 || skip_name(&sub) == -1 ||
	    get32(&sub, &serial) == -1 || get32(&sub, &refresh) == -1 ||
	    get32(&sub, &retry) == -1 || get32(&sub, &expire) == -1 ||
	    get32(&sub, &minimum) == -1 || sub.off != sub.len)
		return -1;
	note_ttl(a, ttl < minimum ? ttl : minimum);
	return 0;
}

static int
parse_rr(struct dns_msg *m, uint16_t qtype, int section,
    struct dns_answer *a)
{
	uint16_t	type, class, rdlen;
	uint32_t	ttl;
	struct dns_rr	*rr;

	if (skip_name(m) == -1 || get16(m, &type) == -1 ||
	    get16(m, &class) == -1 || get32(m, &ttl) == -1 ||
	    get16(m, &rdlen) == -1 || m->len - m->off < rdlen)
		return -1;
	/* RFC 2181 8: a TTL with the top bit set is zero. */
	if (ttl & 0x80000000u)
		ttl = 0;
	if (section == 1 && type == qtype && class == 1) {
		if (a->nrr == DNS_MAX_RR)
			a->truncated = 1;
		else {
			rr = &a->rr[a->nrr];
			memset(rr, 0, sizeof(*rr));
			rr->type = type;
			rr->ttl = ttl;
			if (parse_rdata(m, type, rdlen, rr) == -1) {
				free(rr->txt);
				rr->txt = NULL;
				return -1;
			}
			a->nrr++;
			note_ttl(a, ttl);
		}
	} else if (section == 1 && type == DNS_T_CNAME)
		note_ttl(a, ttl);
	else if (section == 2 && type == DNS_T_SOA && a->nrr == 0 &&
	    parse_soa(m, ttl, rdlen, a) == -1)
		return -1;
	m->off += rdlen;
	return 0;
}

int
dns_parse_answer(const uint8_t *p, size_t len, uint16_t qtype,
    struct dns_answer *a)
{
	struct dns_msg	m = { p, len, 0 };
	uint16_t	id, flags, qd, an, ns, ar, i;
	int		rcode;

	memset(a, 0, sizeof(*a));
	a->rcode = DNS_R_TEMPFAIL;
	if (get16(&m, &id) == -1 || get16(&m, &flags) == -1 ||
	    get16(&m, &qd) == -1 || get16(&m, &an) == -1 ||
	    get16(&m, &ns) == -1 || get16(&m, &ar) == -1)
		return -1;
	if (!(flags & 0x8000) || qd != 1)
		return -1;
	rcode = flags & 0x000f;
	if (skip_name(&m) == -1 || m.len - m.off < 4)
		return -1;
	m.off += 4;
	for (i = 0; i < an; i++)
		if (parse_rr(&m, qtype, 1, a) == -1)
			goto bad;
	for (i = 0; i < ns; i++)
		if (parse_rr(&m, qtype, 2, a) == -1)
			goto bad;
	if (rcode == RCODE_NXDOMAIN)
		a->rcode = DNS_R_NXDOMAIN;
	else if (rcode != 0)
		a->rcode = DNS_R_TEMPFAIL;
	else
		a->rcode = a->nrr > 0 ? DNS_R_OK : DNS_R_NODATA;
	if (a->rcode != DNS_R_OK && a->nrr > 0)
		dns_answer_clear(a);
	a->secure = a->rcode != DNS_R_TEMPFAIL && (flags & FLAG_AD) != 0;
	return 0;
bad:
	dns_answer_clear(a);
	a->rcode = DNS_R_TEMPFAIL;
	a->secure = 0;
	return -1;
}

void
dns_answer_clear(struct dns_answer *a)
{
	size_t i;

	for (i = 0; i < a->nrr; i++) {
		free(a->rr[i].txt);
		a->rr[i].txt = NULL;
	}
	a->nrr = 0;
}

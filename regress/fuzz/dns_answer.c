/*
 * Fuzz target: DNS answers off the network (common/dns_parse.c) and their
 * encoding between dnsd and the processes that ask it (dns_client.c).
 *
 * The input is one DNS message, parsed as the answer to each query type
 * relayd asks (TLSA too, for DANE).  What the parser keeps must be well
 * formed (records of the type asked, printable lower-case names, bounded
 * TXT and TLSA data, never "secure" with a failure); a failure leaves
 * nothing allocated.  The answer then goes through dns_answer_encode and
 * dns_answer_decode, and must come back with the same code and records,
 * truncated where the encoding had to drop some.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns_client.h"
#include "dns_parse.h"
#include "marshal.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint16_t qtypes[] = {
	DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR, DNS_T_TLSA
};

static void
check_name(const char *name)
{
	const char	*nul = memchr(name, '\0', DNS_NAME_MAX);
	const char	*c;

	if (nul == NULL)
		abort();
	for (c = name; c < nul; c++)
		if (*c <= ' ' || *c >= 0x7f || (*c >= 'A' && *c <= 'Z'))
			abort();
	if (name[0] == '.' || (nul > name && nul[-1] == '.') ||
	    strstr(name, "..") != NULL)
		abort();
}

static void
check_answer(const struct dns_answer *a, uint16_t qtype)
{
	const struct dns_rr	*rr;
	size_t			 i;

	if (a->rcode > DNS_R_TEMPFAIL || a->nrr > DNS_MAX_RR ||
	    (a->nrr > 0) != (a->rcode == DNS_R_OK) ||
	    (a->secure && a->rcode == DNS_R_TEMPFAIL))
		abort();
	for (i = 0; i < a->nrr; i++) {
		rr = &a->rr[i];
		if (rr->type != qtype || (rr->ttl & 0x80000000u))
			abort();
		if (qtype == DNS_T_TXT) {
			if (rr->txt == NULL || rr->txtlen > DNS_TXT_MAX ||
			    rr->txt[rr->txtlen] != '\0')
				abort();
		} else if (qtype == DNS_T_TLSA) {
			/* Too large to keep: unusable (255), and empty. */
			if (rr->txt == NULL || rr->txtlen > DNS_TLSA_MAX ||
			    (rr->txtlen == 0 && rr->tlsa_usage !=
			    TLSA_UNUSABLE))
				abort();
		} else if (rr->txt != NULL)
			abort();
		if (qtype == DNS_T_MX || qtype == DNS_T_PTR)
			check_name(rr->name);
	}
	/* The answer lives no longer than its shortest record. */
	for (i = 0; i < a->nrr; i++)
		if (!a->has_ttl || a->ttl > a->rr[i].ttl)
			abort();
}

static int
same_rr(const struct dns_rr *x, const struct dns_rr *y, uint16_t qtype)
{
	switch (qtype) {
	case DNS_T_A:
		return memcmp(x->addr, y->addr, 4) == 0;
	case DNS_T_AAAA:
		return memcmp(x->addr, y->addr, 16) == 0;
	case DNS_T_TXT:
		return x->txtlen == y->txtlen &&
		    memcmp(x->txt, y->txt, x->txtlen + 1) == 0;
	case DNS_T_TLSA:
		return x->tlsa_usage == y->tlsa_usage &&
		    x->tlsa_selector == y->tlsa_selector &&
		    x->tlsa_mtype == y->tlsa_mtype &&
		    x->txtlen == y->txtlen &&
		    memcmp(x->txt, y->txt, x->txtlen) == 0;
	case DNS_T_MX:
		if (x->pref != y->pref)
			return 0;
		/* FALLTHROUGH */
	default:
		return strcmp(x->name, y->name) == 0;
	}
}

/* dnsd encodes, the asker decodes: the same answer, or a prefix of it. */
static void
roundtrip(const struct dns_answer *a, uint16_t qtype)
{
	struct dns_answer	*b;
	struct mw		 w;
	size_t			 i;

	if ((b = malloc(sizeof(*b))) == NULL)
		abort();
	if (dns_answer_encode(a, qtype, &w) == -1 ||
	    dns_answer_decode(w.buf, w.len, qtype, b) == -1)
		abort();
	if (b->rcode != a->rcode || b->nrr > a->nrr ||
	    b->secure != a->secure ||
	    b->truncated != (a->truncated || b->nrr < a->nrr) ||
	    (a->nrr > 0 && b->nrr == 0))
		abort();
	for (i = 0; i < b->nrr; i++)
		if (!same_rr(&a->rr[i], &b->rr[i], qtype))
			abort();
	dns_answer_clear(b);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_answer	*a;
	size_t			 i;

	if ((a = malloc(sizeof(*a))) == NULL)
		abort();
	for (i = 0; i < sizeof(qtypes) / sizeof(qtypes[0]); i++) {
		if (dns_parse_answer(data, size, qtypes[i], a) == -1) {
			if (a->nrr != 0 || a->rcode != DNS_R_TEMPFAIL)
				abort();
		} else
			check_answer(a, qtypes[i]);
		roundtrip(a, qtypes[i]);
		dns_answer_clear(a);
	}
	free(a);
	return 0;
}

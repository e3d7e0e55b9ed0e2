/*
 * Fuzz target: SPF records and macros (policyd/spf_parse.c, spf_macro.c,
 * spf_header.c), which come from anyone's DNS.
 *
 * The input is a TXT record, whole.  Parsed, every term must lie inside
 * it with sane prefix lengths; each domain-spec expands to a name of 253
 * octets at most.  The input is also expanded as explanation text, which
 * must fit its buffer and agree with the syntax check, and put into a
 * Received-SPF field as sender, HELO and reason, which must fit
 * SPF_HEADER_MAX and break lines only as folds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policyd/spf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAXTERMS	64

static const struct spf_macro_env env = {
	.s = "\"Strong Bad\"@Email.Example.com",
	.l = "\"Strong Bad\"",
	.o = "Email.Example.com",
	.d = "email.example.com",
	.i = "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2",
	.p = "mx.example.org",
	.v = "ip6",
	.h = "helo with spaces + [brackets]",
	.c = "2001:db8::cb01",
	.r = "relay.example.net",
	.t = "1700000000",
};

static void
check_record(const char *rec, size_t size)
{
	static struct spf_term	terms[MAXTERMS];
	struct spf_record	r;
	char			why[128], name[SPF_DOMAIN_MAX];
	size_t			i, last;
	int			all = 0;

	if (spf_record_parse(rec, size, terms, MAXTERMS, &r, why,
	    sizeof(why)) == -1) {
		if (why[0] == '\0' || memchr(why, '\0', sizeof(why)) == NULL)
			abort();
		return;
	}
	if (!spf_is_record(rec, size) || r.nterms > MAXTERMS)
		abort();
	for (i = 0; i < r.nterms; i++) {
		const struct spf_term *t = &terms[i];

		if ((size_t)t->off + t->len > size || t->len == 0 ||
		    memchr(rec + t->off, ' ', t->len) != NULL ||
		    (size_t)t->doff + t->dlen > (size_t)t->off + t->len ||
		    (t->dlen > 0 && t->doff < t->off) ||
		    t->kind > SPF_K_UNKNOWN ||
		    t->cidr4 > 32 || t->cidr6 > 128)
			abort();
		all |= t->kind == SPF_K_ALL;
		if (t->dlen == 0 || t->kind == SPF_K_UNKNOWN)
			continue;
		/* A domain-spec: c, r and t were refused. */
		if (spf_macro_check(rec + t->doff, t->dlen, 0, &last) == -1)
			abort();
		if (spf_expand_domain(rec + t->doff, t->dlen, &env,
		    name) == 0 && strnlen(name, sizeof(name)) >
		    SPF_DOMAIN_MAX - 1)
			abort();
	}
	if (all != r.has_all ||
	    (r.redirect != -1 && terms[r.redirect].kind != SPF_K_REDIRECT) ||
	    (r.exp != -1 && terms[r.exp].kind != SPF_K_EXP))
		abort();
}

static void
check_exp(const char *s, size_t size)
{
	char	out[SPF_EXP_MAX + 1], name[SPF_DOMAIN_MAX];
	size_t	last;
	int	ok = spf_macro_check(s, size, 1, &last) == 0;

	out[SPF_EXP_MAX] = 'X';
	if ((spf_expand_exp(s, size, &env, out, SPF_EXP_MAX) == 0) != ok ||
	    out[SPF_EXP_MAX] != 'X' || strlen(out) > SPF_EXP_MAX - 1 ||
	    last > size)
		abort();
	if (spf_macro_check(s, size, 0, &last) == -1 &&
	    spf_expand_domain(s, size, &env, name) != -1)
		abort();
}

static void
check_header(const char *s)
{
	static char		h[SPF_HEADER_MAX];
	struct spf_outcome	o;
	struct netaddr		ip;
	char			sender[SPF_SENDER_MAX], helo[SPF_HELO_MAX];
	const char		*p;
	size_t			col = 0;
	int			n;

	memset(&o, 0, sizeof(o));
	o.result = (enum spf_result)(strlen(s) % 7);
	strlcpy(o.why, s, sizeof(o.why));
	strlcpy(sender, s, sizeof(sender));
	strlcpy(helo, s, sizeof(helo));
	netaddr_parse("2001:db8::1", &ip);
	if ((n = spf_received_header(h, sizeof(h), &o, &ip, sender, helo,
	    helo)) <= 0 || (size_t)n != strlen(h))
		abort();
	for (p = h; *p != '\0'; p++) {
		if (*p == '\r') {
			if (p[1] != '\n' || (p[2] != '\0' && p[2] != ' '))
				abort();
			p++;
			col = 0;
		} else if (*p < 0x20 || *p > 0x7e || ++col > 998)
			abort();
	}
	if (n < 2 || h[n - 2] != '\r')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_record(s, size);
	check_exp(s, size);
	check_header(s);
	free(s);
	return 0;
}

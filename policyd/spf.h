/*
 * spf: Sender Policy Framework (RFC 7208), check_host() evaluated by us.
 *
 * Every look-up goes through the resolver the caller hands in (policyd
 * wraps its dns_client, so through dnsd and its cache); nothing here
 * blocks, opens a socket or recurses on the C stack: include and redirect
 * push frames on a small array, and a check is a state machine that moves
 * on when the answers it waits for are in.  Records come from anyone's
 * DNS, so everything is bounded: the record's length and terms, the depth
 * of includes, the look-ups in flight, and RFC 7208's limits (10 terms
 * that query the DNS, 10 MX hosts, 10 PTR names, 2 void look-ups).
 *
 *	spf_check --> TXT of the domain --> the terms, left to right
 *	                 ^                       |  a, mx, ptr, exists: look-ups
 *	                 |   include, redirect   |  include: a new frame
 *	                 +-----------------------+  fail with exp=: one more
 *	                                             TXT, then done()
 *
 * The pure parts (record syntax, macro expansion, the Received-SPF field)
 * are functions of their arguments alone, for the unit tests and the
 * fuzzer (regress/fuzz/spf_record.c).
 *
 * BUGS: dnsd asks only for names of letters, digits, '-', '_' and '.'; a
 * name made by a macro from other octets (a local part with '+' or a
 * space, in exists:%{l}...) is answered as if it did not exist.  Void
 * PTR look-ups are not counted: the client's owner, not the domain's,
 * controls them.  Only the TXT type is asked for (RFC 7208 3.1).
 */
#ifndef RELAYD_SPF_H
#define RELAYD_SPF_H

#include <stddef.h>
#include <stdint.h>

#include "dns_client.h"
#include "netaddr.h"

#define SPF_DOMAIN_MAX	254	/* 253 octets and the NUL */
#define SPF_SENDER_MAX	321	/* 64 + '@' + 255 and the NUL */
#define SPF_HELO_MAX	256
#define SPF_WHY_MAX	256
#define SPF_EXP_MAX	256
#define SPF_HEADER_MAX	4096	/* enough for any spf_received_header */

#define SPF_DNS_TERMS	10	/* include a mx ptr exists redirect */
#define SPF_VOID_MAX	2	/* look-ups with no answer (RFC 7208 4.6.4) */
#define SPF_MX_MAX	10	/* MX hosts looked at; more is permerror */
#define SPF_PTR_MAX	10	/* PTR names looked at; more are ignored */
#define SPF_TERMS_MAX	512	/* terms in one record */
#define SPF_TIME_MAX	20	/* seconds for one check: then temperror */

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR
};

/* How the evaluator asks the DNS: policyd wraps its dns_client. */
struct spf_resolver {
	/* PTR takes an IP address (dnsd makes the reverse name). */
	uint64_t	(*lookup)(void *ctx, uint32_t qtype, const char *name,
			    dns_cb, void *arg);
	void		(*cancel)(void *ctx, uint64_t id);
	void		 *ctx;
};

/* A resolver that asks dnsd through a dns_client (ctx). */
void	 spf_resolver_dns(struct spf_resolver *, struct dns_client *);

struct spf_outcome {
	enum spf_result	 result;
	int		 helo;			/* the HELO identity checked */
	char		 domain[SPF_DOMAIN_MAX];	/* the domain checked */
	char		 why[SPF_WHY_MAX];	/* one line: what decided */
	char		 explanation[SPF_EXP_MAX];	/* exp=, clean; or "" */
};

struct spf_query;
typedef void (*spf_done_fn)(void *arg, const struct spf_outcome *);

/*
 * Check that client may send for sender (RFC 7208 2.4, MAIL FROM); for
 * the null sender "" check the HELO identity (2.3) as
 * postmaster@helo.  our_hostname is %{r} in explanations.  done runs once,
 * with the outcome, and the query is gone after it.  An answer that needs
 * no look-up (the domain is not one, RFC 7208 4.3) runs done before
 * spf_check returns, which then returns NULL; so does a resolver that
 * answers from inside its lookup call, when every answer came that way.
 */
struct spf_query *spf_check(const struct spf_resolver *,
	    const struct netaddr *client, const char *sender, const char *helo,
	    const char *our_hostname, spf_done_fn, void *arg);
/* Forget a check before done has run: done never runs. */
void	 spf_cancel(struct spf_query *);
const char *spf_result_name(enum spf_result);

/*
 * The Received-SPF field (RFC 7208 9.1) for the outcome, folded at 78
 * columns, each line ending in CRLF; every value is cleaned and quoted so
 * that nothing in a record, a sender or a HELO can start a line of its
 * own.  Returns its length, or -1 if sz is too small.
 */
int	 spf_received_header(char *buf, size_t sz, const struct spf_outcome *,
	    const struct netaddr *client, const char *sender, const char *helo,
	    const char *our_hostname);

/*
 * The pure parts, for the evaluator, the tests and the fuzzer.
 */

enum spf_kind {
	SPF_K_ALL,
	SPF_K_INCLUDE,
	SPF_K_A,
	SPF_K_MX,
	SPF_K_PTR,
	SPF_K_IP4,
	SPF_K_IP6,
	SPF_K_EXISTS,
	SPF_K_REDIRECT,		/* modifiers */
	SPF_K_EXP,
	SPF_K_UNKNOWN		/* an unknown modifier: ignored */
};

struct spf_term {
	uint8_t		 kind;		/* enum spf_kind */
	uint8_t		 qual;		/* enum spf_result of a match */
	uint8_t		 cidr4;		/* a, mx, ip4: prefix length */
	uint8_t		 cidr6;		/* a, mx, ip6 */
	uint16_t	 off, len;	/* the term in the record */
	uint16_t	 doff, dlen;	/* its domain-spec; dlen 0: none */
	uint8_t		 addr[16];	/* ip4 (4 octets), ip6 */
};

struct spf_record {
	struct spf_term	*terms;		/* the caller's array */
	size_t		 nterms;
	int		 redirect;	/* index of the modifier, or -1 */
	int		 exp;
	int		 has_all;	/* redirect is then ignored */
};

/* An SPF record: "v=spf1" alone or followed by a space, any case. */
int	 spf_is_record(const char *, size_t);
/*
 * Parse a whole record (with its "v=spf1") into at most maxterms terms.
 * 0, or -1 with the reason in why: any syntax error anywhere makes the
 * record a permerror (RFC 7208 4.6).
 */
int	 spf_record_parse(const char *, size_t, struct spf_term *,
	    size_t maxterms, struct spf_record *, char *why, size_t whysz);

/* The values of the macro letters for one expansion (RFC 7208 7.3). */
struct spf_macro_env {
	const char	*s, *l, *o, *d, *i, *p, *v, *h, *c, *r, *t;
};

/*
 * Check a macro-string's syntax; exp allows c, r and t (explanation text)
 * and spaces.  0 or -1; *last is where the last macro-expand ends (0 if
 * none), which tells whether a domain-spec ends in one.
 */
int	 spf_macro_check(const char *, size_t, int exp, size_t *last);
/* Does it use %{p}, which needs the validated PTR name first? */
int	 spf_macro_uses_p(const char *, size_t);
/*
 * Expand a domain-spec to a name for a query: longer than 253 octets, it
 * loses labels on the left (RFC 7208 7.3).  0, or -1 (bad syntax, or no
 * label short enough to keep).
 */
int	 spf_expand_domain(const char *, size_t, const struct spf_macro_env *,
	    char out[SPF_DOMAIN_MAX]);
/*
 * Expand explanation text (c, r, t allowed), cut at sz - 1 octets.
 * 0 or -1 on bad syntax.
 */
int	 spf_expand_exp(const char *, size_t, const struct spf_macro_env *,
	    char *out, size_t sz);
/*
 * A name fit to be asked for (RFC 7208 4.3): labels of 1 to 63 octets,
 * at most 253 in all, at least two labels, a final dot allowed.
 */
int	 spf_valid_domain(const char *);

#endif

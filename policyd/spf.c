/*
 * spf: check_host() (RFC 7208 sections 4 and 5) as a state machine.
 *
 * A check holds a stack of frames, one per record being evaluated: the
 * domain's own, then one per include in progress (redirect replaces the
 * frame it ends).  Each step either needs no DNS (ip4, ip6, all,
 * modifiers) or asks and waits; spf_run() takes steps while nothing is
 * awaited, and the answers, when all are in, let it take the next.
 *
 *	S_RECORD  the frame's TXT records: one v=spf1, parsed whole
 *	S_TERM    the next term: match now, or ask (a, exists, mx, ptr), or
 *	          push a frame (include), or at the end redirect or neutral
 *	S_A       a, exists: the target's addresses
 *	S_MX      mx: its MX names, then S_HOSTS their addresses, together
 *	S_PTR     ptr: the client's validated names (shared with %{p})
 *	S_EXPNAME fail with exp=: its name, once %{p} is known
 *	S_EXP     the explanation's TXT
 *
 * Limits (RFC 7208 4.6.4): a term that queries the DNS beyond the 10th,
 * a void answer beyond the 2nd, more than 10 MX names: permerror.  An
 * include or redirect of a domain already on the way here is a loop:
 * permerror at once rather than at the 10th term.  A time-out or SERVFAIL
 * (dnsd's TEMPFAIL; also a CNAME loop, which the resolver gives up on) is
 * temperror; so is a check still running after SPF_TIME_MAX seconds.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "idn.h"
#include "spf.h"

#define DEPTH_MAX	(SPF_DNS_TERMS + 2)	/* includes cost a term each */
#define INFLIGHT_MAX	(SPF_MX_MAX > SPF_PTR_MAX ? SPF_MX_MAX : SPF_PTR_MAX)
#define STEPS_MAX	100000			/* a bug, not a record */
#define TERM_SHOWN	80			/* of a term, in why */

enum step {
	S_RECORD,
	S_TERM,
	S_A,
	S_MX,
	S_HOSTS,
	S_PTR,
	S_EXPNAME,
	S_EXP,
	S_DONE
};

/* The client's validated names (RFC 7208 5.5), asked for once. */
enum ptr_state {
	PTR_IDLE,
	PTR_ASKED,	/* the PTR names */
	PTR_NAMES,	/* names in, their addresses to ask */
	PTR_ADDRS,	/* their addresses asked */
	PTR_DONE
};

enum what {
	L_TXT,		/* a frame's record */
	L_ADDR,		/* a, exists */
	L_MX,
	L_HOST,		/* an MX name's addresses */
	L_PTR,
	L_PTRADDR,	/* a PTR name's addresses */
	L_EXP
};

struct spf_lookup {
	struct spf_query	*q;
	uint64_t		 id;
	int			 busy;
	enum what		 what;
	size_t			 index;		/* L_HOST, L_PTRADDR */
};

struct frame {
	char		 domain[SPF_DOMAIN_MAX];
	char		*text;		/* the record, NUL-terminated */
	struct spf_term	*terms;
	struct spf_record rec;
	size_t		 next;		/* the term in progress or next */
	int		 redirected;	/* no record is then a permerror */
	size_t		 chain_mark;	/* q->nchain when it was pushed */
};

struct spf_query {
	struct spf_resolver	 res;
	struct netaddr		 ip;
	char			 sender[SPF_SENDER_MAX];
	char			 local[SPF_SENDER_MAX];
	char			 sdomain[SPF_SENDER_MAX];
	char			 helo[SPF_HELO_MAX];
	char			 host[SPF_HELO_MAX];
	char			 istr[80];	/* %{i} */
	char			 cstr[INET6_ADDRSTRLEN];	/* %{c} */
	char			 tstr[24];	/* %{t} */
	spf_done_fn		 done;
	void			*arg;
	struct timespec		 start;

	struct frame		 frames[DEPTH_MAX];
	size_t			 depth;
	/* Domains included or redirected to on the way here: loops. */
	char			 chain[DEPTH_MAX][SPF_DOMAIN_MAX];
	size_t			 nchain;
	unsigned		 terms;		/* DNS-querying ones */
	unsigned		 voids;

	enum step		 step;
	struct spf_lookup		 lk[INFLIGHT_MAX];
	size_t			 pending;
	char			 target[SPF_DOMAIN_MAX];

	/* What the answers to the step in progress said. */
	enum dns_rcode		 rcode;
	int			 match;
	int			 any;		/* exists: any address */
	int			 tempfail;
	int			 toomany;
	char			*txt;		/* the one record found */
	int			 ntxt;		/* records found */
	char			 hosts[SPF_MX_MAX][DNS_NAME_MAX];
	size_t			 nhosts;

	enum ptr_state		 ptr;
	char			 ptrnames[SPF_PTR_MAX][DNS_NAME_MAX];
	int			 ptrvalid[SPF_PTR_MAX];
	size_t			 nptr;

	/* The innermost term that matched, for why. */
	char			 mterm[TERM_SHOWN + 4];
	char			 mdomain[SPF_DOMAIN_MAX];
	char			 redirfrom[SPF_DOMAIN_MAX];	/* top */

	struct spf_outcome	 out;
	int			 running;
	int			 over;
};

static int	spf_run(struct spf_query *);

static uint64_t
dns_ask(void *ctx, uint32_t qtype, const char *name, dns_cb cb, void *arg)
{
	return dns_lookup(ctx, qtype, name, cb, arg);
}

static void
dns_forget(void *ctx, uint64_t id)
{
	dns_cancel(ctx, id);
}

void
spf_resolver_dns(struct spf_resolver *res, struct dns_client *dc)
{
	res->lookup = dns_ask;
	res->cancel = dns_forget;
	res->ctx = dc;
}

const char *
spf_result_name(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:
		return "none";
	case SPF_NEUTRAL:
		return "neutral";
	case SPF_PASS:
		return "pass";
	case SPF_FAIL:
		return "fail";
	case SPF_SOFTFAIL:
		return "softfail";
	case SPF_TEMPERROR:
		return "temperror";
	case SPF_PERMERROR:
		return "permerror";
	}
	return "?";
}

static void	conclude(struct spf_query *, enum spf_result, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	say(struct spf_query *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* why, cut to fit: names from the DNS may be long. */
static void
say(struct spf_query *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->out.why, sizeof(q->out.why), fmt, ap);
	va_end(ap);
}

/* The check has its result; spf_run() delivers it. */
static void
conclude(struct spf_query *q, enum spf_result r, const char *fmt, ...)
{
	va_list ap;

	q->out.result = r;
	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(q->out.why, sizeof(q->out.why), fmt, ap);
		va_end(ap);
	}
	q->over = 1;
	q->step = S_DONE;
}

static void
frame_clear(struct frame *f)
{
	free(f->text);
	free(f->terms);
	f->text = NULL;
	f->terms = NULL;
	memset(&f->rec, 0, sizeof(f->rec));
}

static void
query_free(struct spf_query *q)
{
	size_t i;

	for (i = 0; i < INFLIGHT_MAX; i++)
		if (q->lk[i].busy)
			q->res.cancel(q->res.ctx, q->lk[i].id);
	for (i = 0; i < q->depth; i++)
		frame_clear(&q->frames[i]);
	free(q->txt);
	free(q);
}

void
spf_cancel(struct spf_query *q)
{
	if (q != NULL)
		query_free(q);
}

/* The term's text, shortened, for why. */
static const char *
term_text(const struct frame *f, const struct spf_term *t, char *buf,
    size_t sz)
{
	snprintf(buf, sz, "%.*s%s", t->len > TERM_SHOWN ? TERM_SHOWN :
	    (int)t->len, f->text + t->off, t->len > TERM_SHOWN ? "..." : "");
	return buf;
}

/* Is the client inside net/plen?  (Of its own family: see callers.) */
static int
in_network(const struct spf_query *q, const uint8_t *net, unsigned plen)
{
	struct cidr c;

	c.af = q->ip.af;
	memcpy(c.addr, net, sizeof(c.addr));
	c.plen = (uint8_t)plen;
	return cidr_contains(&c, q->ip.af, q->ip.addr);
}

/* Labels of 1 to 63 octets, 253 in all: what can be asked at all. */
static int
queryable(const char *name)
{
	size_t len = strlen(name), label = 0, i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > SPF_DOMAIN_MAX - 1)
		return 0;
	for (i = 0; i < len; i++) {
		if (name[i] != '.')
			label++;
		else if (label == 0)
			return 0;
		else
			label = 0;
		if (label > 63)
			return 0;
	}
	return label > 0;
}

static int
elapsed(const struct spf_query *q)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int)(now.tv_sec - q->start.tv_sec);
}

/*
 * Answers: each is digested into q at once (the answer is gone after the
 * callback); the step acts once all that were asked are in.
 */

static void
digest_txt(struct spf_query *q, const struct dns_answer *a)
{
	size_t i;

	q->ntxt = 0;
	q->toomany = 0;
	if (a->rcode != DNS_R_OK)
		return;
	q->toomany = a->truncated;
	for (i = 0; i < a->nrr; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (rr->txt == NULL || !spf_is_record(rr->txt, rr->txtlen))
			continue;
		if (q->ntxt++ > 0)
			continue;
		free(q->txt);
		if ((q->txt = malloc(rr->txtlen + 1)) == NULL) {
			q->ntxt = -1;
			return;
		}
		memcpy(q->txt, rr->txt, rr->txtlen);
		q->txt[rr->txtlen] = '\0';
		/* A NUL inside makes it shorter, and no longer whole. */
		if (strlen(q->txt) != rr->txtlen)
			q->txt[0] = '\0';
	}
}

static void
digest_exp(struct spf_query *q, const struct dns_answer *a)
{
	const struct dns_rr *rr = &a->rr[0];

	free(q->txt);
	q->txt = NULL;
	/* Exactly one record, or no explanation (RFC 7208 6.2). */
	if (a->rcode != DNS_R_OK || a->nrr != 1 || a->truncated ||
	    rr->txt == NULL || strlen(rr->txt) != rr->txtlen)
		return;
	q->txt = strdup(rr->txt);
}

/* The type asked for is the client's: A for IPv4, AAAA for IPv6. */
static void
digest_addrs(struct spf_query *q, const struct dns_answer *a,
    unsigned plen)
{
	size_t i;

	for (i = 0; i < a->nrr; i++)
		if (q->any || in_network(q, a->rr[i].addr, plen))
			q->match = 1;
}

static void
digest_names(const struct dns_answer *a, char names[][DNS_NAME_MAX],
    size_t max, size_t *n)
{
	size_t i;

	*n = 0;
	for (i = 0; i < a->nrr && *n < max; i++)
		if (a->rr[i].name[0] != '\0')	/* the null MX "." */
			strlcpy(names[(*n)++], a->rr[i].name, DNS_NAME_MAX);
}

static unsigned
term_plen(const struct spf_query *q)
{
	const struct frame	*f = &q->frames[q->depth - 1];
	const struct spf_term	*t = &f->rec.terms[f->next];

	return q->ip.af == AF_INET ? t->cidr4 : t->cidr6;
}

static void
on_answer(void *arg, const struct dns_answer *a)
{
	struct spf_lookup		*l = arg;
	struct spf_query	*q = l->q;
	size_t			 i;

	l->busy = 0;
	q->pending--;
	switch (l->what) {
	case L_TXT:
		q->rcode = a->rcode;
		digest_txt(q, a);
		break;
	case L_EXP:
		digest_exp(q, a);
		break;
	case L_ADDR:
		q->rcode = a->rcode;
		digest_addrs(q, a, term_plen(q));
		break;
	case L_HOST:
		if (a->rcode == DNS_R_TEMPFAIL)
			q->tempfail = 1;
		digest_addrs(q, a, term_plen(q));
		break;
	case L_MX:
		q->rcode = a->rcode;
		q->toomany = a->truncated || a->nrr > SPF_MX_MAX;
		digest_names(a, q->hosts, SPF_MX_MAX, &q->nhosts);
		break;
	case L_PTR:
		/* An error here only means no validated name. */
		q->nptr = 0;
		if (a->rcode == DNS_R_OK)
			digest_names(a, q->ptrnames, SPF_PTR_MAX, &q->nptr);
		q->ptr = q->nptr > 0 ? PTR_NAMES : PTR_DONE;
		break;
	case L_PTRADDR:
		for (i = 0; i < a->nrr; i++)
			if (memcmp(a->rr[i].addr, q->ip.addr,
			    q->ip.af == AF_INET ? 4 : 16) == 0)
				q->ptrvalid[l->index] = 1;
		break;
	}
	spf_run(q);
}

/* Ask, with a free slot (there is one: see INFLIGHT_MAX). */
static void
ask(struct spf_query *q, enum what what, size_t index, uint32_t qtype,
    const char *name)
{
	struct spf_lookup	*l = NULL;
	uint64_t	 id;
	size_t		 i;

	for (i = 0; i < INFLIGHT_MAX && l == NULL; i++)
		if (!q->lk[i].busy)
			l = &q->lk[i];
	if (l == NULL) {
		conclude(q, SPF_TEMPERROR, "internal error: too many look-ups");
		return;
	}
	l->q = q;
	l->busy = 1;
	l->what = what;
	l->index = index;
	q->pending++;
	id = q->res.lookup(q->res.ctx, qtype, name, on_answer, l);
	/* It may have been answered already, from inside lookup. */
	if (l->busy)
		l->id = id;
}

static uint32_t
addr_qtype(const struct spf_query *q)
{
	return q->ip.af == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* One more void answer (RFC 7208 4.6.4); 0, or -1 over the limit. */
static int
void_lookup(struct spf_query *q, const char *name)
{
	if (q->rcode == DNS_R_OK || ++q->voids <= SPF_VOID_MAX)
		return 0;
	conclude(q, SPF_PERMERROR, "more than %d void lookups (the last: %s)",
	    SPF_VOID_MAX, name);
	return -1;
}

static void
ptr_start(struct spf_query *q)
{
	if (q->ptr != PTR_IDLE)
		return;
	q->ptr = PTR_ASKED;
	ask(q, L_PTR, 0, DNS_T_PTR, q->cstr);
}

static void
ptr_addresses(struct spf_query *q)
{
	size_t i;

	q->ptr = PTR_ADDRS;
	for (i = 0; i < q->nptr && !q->over; i++)
		ask(q, L_PTRADDR, i, addr_qtype(q), q->ptrnames[i]);
}

static int
name_in(const char *name, const char *domain)
{
	size_t nl = strlen(name), dl = strlen(domain);

	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (dl > 0 && domain[dl - 1] == '.')
		dl--;
	if (nl < dl || strncasecmp(name + nl - dl, domain, dl) != 0)
		return 0;
	return nl == dl || name[nl - dl - 1] == '.';
}

/* %{p}: the domain itself, else one of its subdomains, else any. */
static const char *
ptr_name(const struct spf_query *q, const char *domain)
{
	const char	*any = NULL, *sub = NULL;
	size_t		 i;

	for (i = 0; i < q->nptr; i++) {
		if (!q->ptrvalid[i])
			continue;
		if (name_in(q->ptrnames[i], domain)) {
			if (strlen(q->ptrnames[i]) == strlen(domain))
				return q->ptrnames[i];
			if (sub == NULL)
				sub = q->ptrnames[i];
		}
		if (any == NULL)
			any = q->ptrnames[i];
	}
	return sub != NULL ? sub : any;
}

static void
macro_env(const struct spf_query *q, const char *domain,
    struct spf_macro_env *env)
{
	env->s = q->sender;
	env->l = q->local;
	env->o = q->sdomain;
	env->d = domain;
	env->i = q->istr;
	env->p = q->ptr == PTR_DONE ? ptr_name(q, domain) : NULL;
	env->v = q->ip.af == AF_INET ? "in-addr" : "ip6";
	env->h = q->helo;
	env->c = q->cstr;
	env->r = q->host[0] != '\0' ? q->host : NULL;
	env->t = q->tstr;
}

/*
 * A frame for a domain's record, and the question for it.  A redirect's
 * frame takes the place of the one it ends, whose chain it continues.
 */
static void
frame_push(struct spf_query *q, const char *domain, int redirected)
{
	struct frame	*f;
	size_t		 mark = q->nchain;

	if (redirected) {
		f = &q->frames[--q->depth];
		mark = f->chain_mark;
		frame_clear(f);
	}
	if (q->depth == DEPTH_MAX || q->nchain == DEPTH_MAX) {
		conclude(q, SPF_PERMERROR, "includes nested too deep at %s",
		    domain);
		return;
	}
	f = &q->frames[q->depth++];
	memset(f, 0, sizeof(*f));
	strlcpy(f->domain, domain, sizeof(f->domain));
	f->redirected = redirected;
	f->chain_mark = mark;
	strlcpy(q->chain[q->nchain++], domain, sizeof(q->chain[0]));
	q->step = S_RECORD;
	ask(q, L_TXT, 0, DNS_T_TXT, domain);
}

static int
in_chain(const struct spf_query *q, const char *domain)
{
	size_t i;

	for (i = 0; i < q->nchain; i++)
		if (strcasecmp(q->chain[i], domain) == 0)
			return 1;
	return 0;
}

static void
explain(struct spf_query *q, struct frame *f)
{
	const struct spf_term	*t = &f->rec.terms[f->rec.exp];
	struct spf_macro_env	 env;

	if (q->ptr != PTR_DONE && spf_macro_uses_p(f->text + t->doff,
	    t->dlen)) {
		q->step = S_EXPNAME;
		ptr_start(q);
		return;
	}
	macro_env(q, f->domain, &env);
	/* Any trouble with exp= only means no explanation. */
	if (spf_expand_domain(f->text + t->doff, t->dlen, &env,
	    q->target) == -1 || !queryable(q->target)) {
		conclude(q, SPF_FAIL, NULL);
		return;
	}
	q->step = S_EXP;
	ask(q, L_EXP, 0, DNS_T_TXT, q->target);
}

static void
got_exp(struct spf_query *q)
{
	struct frame		*f = &q->frames[0];
	struct spf_macro_env	 env;
	char			*s;

	if (q->txt != NULL && q->ptr != PTR_DONE &&
	    spf_macro_uses_p(q->txt, strlen(q->txt))) {
		ptr_start(q);
		return;
	}
	if (q->txt != NULL) {
		macro_env(q, f->domain, &env);
		if (spf_expand_exp(q->txt, strlen(q->txt), &env,
		    q->out.explanation, sizeof(q->out.explanation)) == -1)
			q->out.explanation[0] = '\0';
		/* Someone else's words, for a reply line: printable only. */
		for (s = q->out.explanation; *s != '\0'; s++)
			if (*s < 0x20 || *s > 0x7e)
				*s = '?';
	}
	conclude(q, SPF_FAIL, NULL);
}

/*
 * The frame's check_host() has a result.  The top frame's is the answer
 * (after the explanation, for fail); an include's pass is a match of the
 * include term, any other result lets the record below go on.
 */
static void
frame_result(struct spf_query *q, enum spf_result r)
{
	struct frame		*f;
	const struct spf_term	*t;
	char			 text[TERM_SHOWN + 4];
	char			 via[SPF_DOMAIN_MAX + 24] = "";

	for (;;) {
		f = &q->frames[q->depth - 1];
		if (q->depth == 1)
			break;
		frame_clear(f);
		q->nchain = f->chain_mark;
		q->depth--;
		f = &q->frames[q->depth - 1];
		if (r != SPF_PASS) {
			/* Not a match: what matched inside is no reason. */
			q->mterm[0] = '\0';
			f->next++;
			q->step = S_TERM;
			return;
		}
		r = (enum spf_result)f->rec.terms[f->next].qual;
	}
	if (q->redirfrom[0] != '\0')
		snprintf(via, sizeof(via), " (redirect= of %s)", q->redirfrom);
	if (f->next < f->rec.nterms) {
		t = &f->rec.terms[f->next];
		term_text(f, t, text, sizeof(text));
		if (q->mterm[0] != '\0')
			say(q, "\"%s\" matched in the record of %s%s, by "
			    "\"%s\" in %s", text, f->domain, via, q->mterm,
			    q->mdomain);
		else
			say(q, "\"%s\" matched in the record of %s%s", text,
			    f->domain, via);
	} else
		say(q, "no mechanism matched in the record of %s%s (neutral "
		    "by default)", f->domain, via);
	if (r == SPF_FAIL && f->rec.exp >= 0) {
		q->out.result = SPF_FAIL;
		explain(q, f);
		return;
	}
	conclude(q, r, NULL);
}

/* The term in progress matched, or did not. */
static void
term_done(struct spf_query *q, struct frame *f, int match)
{
	const struct spf_term *t = &f->rec.terms[f->next];

	if (!match) {
		f->next++;
		q->step = S_TERM;
		return;
	}
	if (q->depth > 1 && q->mterm[0] == '\0') {
		term_text(f, t, q->mterm, sizeof(q->mterm));
		strlcpy(q->mdomain, f->domain, sizeof(q->mdomain));
	}
	frame_result(q, (enum spf_result)t->qual);
}

static void
got_record(struct spf_query *q, struct frame *f)
{
	char		 why[SPF_WHY_MAX - 64];
	const char	*via = f->redirected ? "redirect=" : "include:";
	size_t		 n, i;

	if (q->rcode == DNS_R_TEMPFAIL) {
		conclude(q, SPF_TEMPERROR, "DNS lookup of TXT %s failed "
		    "(time-out or server failure)", f->domain);
		return;
	}
	if (q->ntxt > 1) {
		conclude(q, SPF_PERMERROR, "%d SPF records at %s", q->ntxt,
		    f->domain);
		return;
	}
	if (q->ntxt == 1 && q->txt != NULL && q->txt[0] == '\0') {
		conclude(q, SPF_PERMERROR, "the SPF record of %s holds a NUL",
		    f->domain);
		return;
	}
	if (q->ntxt <= 0 || q->txt == NULL) {
		if (q->ntxt == -1)
			conclude(q, SPF_TEMPERROR, "out of memory");
		else if (q->toomany)
			conclude(q, SPF_PERMERROR, "the TXT records of %s are "
			    "too many to read whole", f->domain);
		else if (q->depth == 1 && !f->redirected)
			conclude(q, SPF_NONE, "no SPF record at %s%s",
			    f->domain, q->rcode == DNS_R_NXDOMAIN ?
			    " (no such domain)" : "");
		else
			conclude(q, SPF_PERMERROR, "%s%s: no SPF record", via,
			    f->domain);
		return;
	}
	/* A term for every run of spaces at most, and one more. */
	for (n = 1, i = 0; q->txt[i] != '\0'; i++)
		n += q->txt[i] == ' ';
	if (n > SPF_TERMS_MAX)
		n = SPF_TERMS_MAX;
	if ((f->terms = calloc(n, sizeof(*f->terms))) == NULL) {
		conclude(q, SPF_TEMPERROR, "out of memory");
		return;
	}
	f->text = q->txt;
	q->txt = NULL;
	if (spf_record_parse(f->text, strlen(f->text), f->terms, n, &f->rec,
	    why, sizeof(why)) == -1) {
		conclude(q, SPF_PERMERROR, "record of %s: %s", f->domain, why);
		return;
	}
	f->next = 0;
	q->step = S_TERM;
}

/* include and redirect: a domain, and not one on the way here. */
static int
check_target(struct spf_query *q, const char *via)
{
	if (!spf_valid_domain(q->target)) {
		conclude(q, SPF_PERMERROR, "%s%s: not a domain name", via,
		    q->target);
		return -1;
	}
	if (in_chain(q, q->target)) {
		conclude(q, SPF_PERMERROR, "%s%s: a loop", via, q->target);
		return -1;
	}
	return 0;
}

static int
count_term(struct spf_query *q, const struct frame *f,
    const struct spf_term *t)
{
	char text[TERM_SHOWN + 4];

	if (++q->terms <= SPF_DNS_TERMS)
		return 0;
	conclude(q, SPF_PERMERROR, "more than %d DNS-querying terms (at \"%s\" "
	    "in the record of %s)", SPF_DNS_TERMS, term_text(f, t, text,
	    sizeof(text)), f->domain);
	return -1;
}

static int
target_of(struct spf_query *q, struct frame *f, const struct spf_term *t)
{
	struct spf_macro_env env;

	if (t->dlen == 0) {
		strlcpy(q->target, f->domain, sizeof(q->target));
		return 0;
	}
	macro_env(q, f->domain, &env);
	return spf_expand_domain(f->text + t->doff, t->dlen, &env,
	    q->target);
}

/* No mechanism matched: redirect=, or neutral. */
static void
end_of_terms(struct spf_query *q, struct frame *f)
{
	const struct spf_term *t;

	if (f->rec.redirect == -1 || f->rec.has_all) {
		frame_result(q, SPF_NEUTRAL);
		return;
	}
	t = &f->rec.terms[f->rec.redirect];
	if (count_term(q, f, t) == -1)
		return;
	if (target_of(q, f, t) == -1)
		q->target[0] = '\0';
	if (check_target(q, "redirect=") == -1)
		return;
	if (q->depth == 1 && q->redirfrom[0] == '\0')
		strlcpy(q->redirfrom, f->domain, sizeof(q->redirfrom));
	/* The new record takes this frame's place, exp= and all. */
	frame_push(q, q->target, 1);
}

static void
next_term(struct spf_query *q, struct frame *f)
{
	const struct spf_term	*t;

	if (f->next == f->rec.nterms) {
		end_of_terms(q, f);
		return;
	}
	t = &f->rec.terms[f->next];
	switch (t->kind) {
	case SPF_K_ALL:
		term_done(q, f, 1);
		return;
	case SPF_K_IP4:
		term_done(q, f, q->ip.af == AF_INET &&
		    in_network(q, t->addr, t->cidr4));
		return;
	case SPF_K_IP6:
		term_done(q, f, q->ip.af == AF_INET6 &&
		    in_network(q, t->addr, t->cidr6));
		return;
	case SPF_K_REDIRECT:
	case SPF_K_EXP:
	case SPF_K_UNKNOWN:
		term_done(q, f, 0);
		return;
	}
	/* %{p} needs the validated names first; the PTR query counts. */
	if (q->ptr != PTR_DONE && spf_macro_uses_p(f->text + t->doff,
	    t->dlen)) {
		if (q->ptr == PTR_IDLE && count_term(q, f, t) == -1)
			return;
		ptr_start(q);
		return;
	}
	if (count_term(q, f, t) == -1)
		return;
	q->rcode = DNS_R_OK;
	q->match = 0;
	q->any = t->kind == SPF_K_EXISTS;
	q->tempfail = 0;
	if (target_of(q, f, t) == -1)
		q->target[0] = '\0';
	switch (t->kind) {
	case SPF_K_INCLUDE:
		if (check_target(q, "include:") == 0)
			frame_push(q, q->target, 0);
		return;
	case SPF_K_PTR:
		q->step = S_PTR;
		ptr_start(q);
		return;
	}
	/* A name no query can carry matches nothing (RFC 7208 4.3). */
	if (!queryable(q->target)) {
		term_done(q, f, 0);
		return;
	}
	if (t->kind == SPF_K_MX) {
		q->step = S_MX;
		ask(q, L_MX, 0, DNS_T_MX, q->target);
	} else {
		q->step = S_A;
		ask(q, L_ADDR, 0, t->kind == SPF_K_EXISTS ? DNS_T_A :
		    addr_qtype(q), q->target);
	}
}

static void
got_addresses(struct spf_query *q, struct frame *f)
{
	if (q->rcode == DNS_R_TEMPFAIL) {
		conclude(q, SPF_TEMPERROR, "DNS lookup of %s failed (time-out "
		    "or server failure)", q->target);
		return;
	}
	if (void_lookup(q, q->target) == -1)
		return;
	term_done(q, f, q->match);
}

static void
got_mx(struct spf_query *q, struct frame *f)
{
	size_t i;

	if (q->rcode == DNS_R_TEMPFAIL) {
		conclude(q, SPF_TEMPERROR, "DNS lookup of MX %s failed "
		    "(time-out or server failure)", q->target);
		return;
	}
	if (void_lookup(q, q->target) == -1)
		return;
	if (q->toomany) {
		conclude(q, SPF_PERMERROR, "more than %d MX records at %s",
		    SPF_MX_MAX, q->target);
		return;
	}
	if (q->nhosts == 0) {
		term_done(q, f, 0);
		return;
	}
	q->step = S_HOSTS;
	q->tempfail = 0;
	for (i = 0; i < q->nhosts && !q->over; i++)
		ask(q, L_HOST, i, addr_qtype(q), q->hosts[i]);
}

static void
got_hosts(struct spf_query *q, struct frame *f)
{
	if (!q->match && q->tempfail) {
		conclude(q, SPF_TEMPERROR, "DNS lookup of the MX hosts of %s "
		    "failed (time-out or server failure)", q->target);
		return;
	}
	term_done(q, f, q->match);
}

static void
got_ptr(struct spf_query *q, struct frame *f)
{
	size_t	i;
	int	match = 0;

	for (i = 0; i < q->nptr && !match; i++)
		match = q->ptrvalid[i] && name_in(q->ptrnames[i], q->target);
	term_done(q, f, match);
}

static void
advance(struct spf_query *q)
{
	struct frame *f = &q->frames[q->depth - 1];

	if (elapsed(q) > SPF_TIME_MAX) {
		conclude(q, SPF_TEMPERROR, "no result within %d seconds",
		    SPF_TIME_MAX);
		return;
	}
	if (q->ptr == PTR_NAMES) {
		ptr_addresses(q);
		return;
	}
	if (q->ptr == PTR_ADDRS)
		q->ptr = PTR_DONE;
	switch (q->step) {
	case S_RECORD:
		got_record(q, f);
		break;
	case S_TERM:
		next_term(q, f);
		break;
	case S_A:
		got_addresses(q, f);
		break;
	case S_MX:
		got_mx(q, f);
		break;
	case S_HOSTS:
		got_hosts(q, f);
		break;
	case S_PTR:
		got_ptr(q, f);
		break;
	case S_EXPNAME:
		explain(q, &q->frames[0]);
		break;
	case S_EXP:
		got_exp(q);
		break;
	case S_DONE:
		break;
	}
}

/*
 * Take steps while no answer is awaited; once there is a result, deliver
 * it.  Returns 1 when the query is gone.  An answer that comes from
 * inside a lookup call finds the loop running and leaves it to go on.
 */
static int
spf_run(struct spf_query *q)
{
	unsigned steps = 0;

	if (q->running)
		return 0;
	q->running = 1;
	while (!q->over && q->pending == 0)
		if (++steps > STEPS_MAX)
			conclude(q, SPF_PERMERROR, "internal error: no end");
		else
			advance(q);
	q->running = 0;
	if (!q->over)
		return 0;
	q->done(q->arg, &q->out);
	query_free(q);
	return 1;
}

/* %{i}: dotted decimal, or 32 dotted nibbles (RFC 7208 7.3). */
static void
format_i(const struct netaddr *ip, char *buf, size_t sz)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i, o = 0;

	if (ip->af == AF_INET) {
		snprintf(buf, sz, "%u.%u.%u.%u", ip->addr[0], ip->addr[1],
		    ip->addr[2], ip->addr[3]);
		return;
	}
	for (i = 0; i < 16 && o + 4 < sz; i++) {
		buf[o++] = hex[ip->addr[i] >> 4];
		buf[o++] = '.';
		buf[o++] = hex[ip->addr[i] & 0xf];
		if (i < 15)
			buf[o++] = '.';
	}
	buf[o] = '\0';
}

/* The identity: sender's domain, or the HELO name for the null sender. */
static int
identity(struct spf_query *q, const char *sender, const char *helo)
{
	const char	*at;
	size_t		 n;

	strlcpy(q->helo, helo != NULL ? helo : "", sizeof(q->helo));
	if (sender == NULL || sender[0] == '\0') {
		q->out.helo = 1;
		strlcpy(q->local, "postmaster", sizeof(q->local));
		strlcpy(q->sdomain, q->helo, sizeof(q->sdomain));
		snprintf(q->sender, sizeof(q->sender), "postmaster@%s",
		    q->helo);
		if (helo == NULL || strlen(helo) >= sizeof(q->helo)) {
			conclude(q, SPF_NONE, "no HELO name to check");
			return -1;
		}
	} else {
		if (strlcpy(q->sender, sender, sizeof(q->sender)) >=
		    sizeof(q->sender)) {
			conclude(q, SPF_NONE, "sender address too long");
			return -1;
		}
		if ((at = strrchr(sender, '@')) == NULL) {
			conclude(q, SPF_NONE, "sender address without a "
			    "domain");
			return -1;
		}
		n = (size_t)(at - sender);
		/* No local part: postmaster (RFC 7208 4.3). */
		if (n == 0)
			strlcpy(q->local, "postmaster", sizeof(q->local));
		else
			snprintf(q->local, sizeof(q->local), "%.*s", (int)n,
			    sender);
		strlcpy(q->sdomain, at + 1, sizeof(q->sdomain));
	}
	/* An internationalised domain is checked as A-labels (RFC 8616). */
	if (idn_is_unicode(q->sdomain) &&
	    idn_to_alabel(q->sdomain, q->sdomain, sizeof(q->sdomain)) == -1)
		q->sdomain[0] = '\0';
	strlcpy(q->out.domain, q->sdomain, sizeof(q->out.domain));
	if (!spf_valid_domain(q->sdomain)) {
		conclude(q, SPF_NONE, "%s is not a domain name", q->out.helo ?
		    "the HELO name" : "the sender's domain");
		return -1;
	}
	return 0;
}

struct spf_query *
spf_check(const struct spf_resolver *res, const struct netaddr *client,
    const char *sender, const char *helo, const char *our_hostname,
    spf_done_fn done, void *arg)
{
	struct spf_query	*q;
	struct timespec		 now;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		struct spf_outcome out;

		memset(&out, 0, sizeof(out));
		out.result = SPF_TEMPERROR;
		strlcpy(out.why, "out of memory", sizeof(out.why));
		done(arg, &out);
		return NULL;
	}
	q->res = *res;
	q->done = done;
	q->arg = arg;
	q->ip = *client;
	/* An IPv4-mapped IPv6 address is the IPv4 client (RFC 7208 5). */
	if (q->ip.af == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)q->ip.addr)) {
		memmove(q->ip.addr, q->ip.addr + 12, 4);
		memset(q->ip.addr + 4, 0, 12);
		q->ip.af = AF_INET;
	}
	clock_gettime(CLOCK_MONOTONIC, &q->start);
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(q->tstr, sizeof(q->tstr), "%lld", (long long)now.tv_sec);
	format_i(&q->ip, q->istr, sizeof(q->istr));
	netaddr_format(&q->ip, q->cstr, sizeof(q->cstr));
	if (our_hostname != NULL)
		strlcpy(q->host, our_hostname, sizeof(q->host));
	q->running = 1;
	if (q->ip.af != AF_INET && q->ip.af != AF_INET6)
		conclude(q, SPF_NONE, "no client address");
	else if (identity(q, sender, helo) == 0)
		frame_push(q, q->sdomain, 0);
	q->running = 0;
	return spf_run(q) ? NULL : q;
}

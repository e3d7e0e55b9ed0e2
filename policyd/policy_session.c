/*
 * policy_session: smtpd's sessions as policyd sees them, their facts,
 * and the verdicts (policyd.h).
 *
 * Each session holds its questions in a queue and answers them in order.
 * A question is answered as soon as the facts it needs are in; one that
 * waits (a DNS list, SPF, the sender's domain, the store) is taken up
 * again by advance() when they come.  What a check decides at RCPT is
 * the tenant's own: one client may be refused for one tenant's
 * recipient and accepted for another's.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "config.h"
#include "envelope.h"
#include "faults.h"
#include "log.h"
#include "mailaddr.h"
#include "marshal.h"
#include "msg_policy.h"
#include "policy_dnsbl.h"
#include "policy_domain.h"
#include "policy_greylist.h"
#include "policy_rate.h"
#include "policy_rcpt.h"
#include "policy_reply.h"
#include "policy_store.h"
#include "policyd.h"
#include "spf.h"

#define ADDR_MAX	(MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2)
#define SESSIONS_MAX	65536	/* smtpd's sessions we follow */
#define PREGREET_FAIL	3600	/* an early talker is refused this long */

enum fact_state {
	FACT_NONE,		/* not asked for */
	FACT_RUNNING,
	FACT_DONE
};

/* What a question is waiting for, or that it was answered. */
enum step {
	STEP_DONE,
	STEP_WAIT
};

/* Does a domain take mail (policy_domain.c), once asked. */
struct domain_fact {
	struct psess		*ps;		/* advanced when it is in */
	enum fact_state		 state;
	struct domain_check	*check;
	enum domain_result	 res;
	char			 why[128];
};

struct pq {
	TAILQ_ENTRY(pq)		 entry;
	struct psess		*ps;
	uint32_t		 type;		/* M_P_CONNECT, _MAIL, _RCPT */
	uint32_t		 seq;
	/* RCPT */
	char			 addr[ADDR_MAX];
	char			 tenant[TENANT_MAX + 1];
	uint8_t			 dir;
	char			 domain[MAILADDR_DOMAIN_MAX + 1];
	int			 counted;	/* in the recipient rate */
	int			 stale;		/* its transaction is over */
	enum fact_state		 grey;		/* the store's answer */
	struct pstore_req	*req;
	enum fact_state		 vol;		/* every node's volume */
	struct pstore_vreq	*vreq;
	struct pstore_val	 vals[2];	/* triplet, client */
	int			 decided;	/* greylisting, once */
	struct grey_decision	 gd;
	struct domain_fact	 rdom;		/* outbound: its domain */
	struct rcpt_check	 rc;		/* callout or learned */
};
TAILQ_HEAD(pq_list, pq);

struct psess {
	RB_ENTRY(psess)		 entry;
	uint64_t		 id;
	struct policyd		*pd;
	struct netaddr		 client;
	char			 addr[64];
	int			 exempt;	/* a tenant's own network */
	uint32_t		 greeting_delay;
	uint32_t		 pregreet_pass;
	struct dnsbl_lookup	*dnsbl;		/* NULL: none in use */
	/* the transaction */
	char			 sender[ADDR_MAX];
	char			 helo[256];
	char			 client_tenant[TENANT_MAX + 1];
	enum fact_state		 spf;
	struct spf_query	*spf_q;
	struct spf_outcome	 spf_out;
	char			*spf_field;	/* Received-SPF, made once */
	struct domain_fact	 sdom;		/* the sender's domain */
	struct pq_list		 q;
	int			 advancing;
	int			 again;
};

int	 psess_cmp(struct psess *, struct psess *);
RB_PROTOTYPE(psess_tree, psess, entry, psess_cmp)

int
psess_cmp(struct psess *a, struct psess *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(psess_tree, psess, entry, psess_cmp)

/* A verdict under construction: the reply, and what decided it. */
struct verdict {
	int		 code;		/* 0: pass */
	const char	*enh;
	char		 text[320];
	const char	*check;		/* which check decided */
	uint8_t		 flags;
	char		 facts[768];
};

static void	advance(struct psess *);

static const struct conf *
ps_conf(const struct psess *ps)
{
	return ps->pd->child->conf;
}

static void
fact(struct verdict *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fact(struct verdict *v, const char *fmt, ...)
{
	char	one[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	if (v->facts[0] != '\0')
		strlcat(v->facts, " ", sizeof(v->facts));
	strlcat(v->facts, one, sizeof(v->facts));
}

/* The reply decided (policy_reply.c) becomes the verdict. */
static void
verdict_reply(struct verdict *v, const struct preply *r)
{
	v->check = r->check;
	v->code = r->code;
	v->enh = r->enh;
	strlcpy(v->text, r->text, sizeof(v->text));
}

static void
verdict_fixed(struct verdict *v, enum preply_id id)
{
	struct preply r;

	preply_fixed(&r, id);
	verdict_reply(v, &r);
}

static const char *
question_name(uint32_t type)
{
	return type == M_P_CONNECT ? "connect" : type == M_P_MAIL ? "mail" :
	    "rcpt";
}

static void
send_verdict(struct psess *ps, const struct pq *q, const struct verdict *v,
    const char *spf_field)
{
	struct policyd	*pd = ps->pd;
	struct mw	 w;
	char		 result[400];

	if (v->code == 0)
		strlcpy(result, "pass", sizeof(result));
	else
		snprintf(result, sizeof(result), "%s %d %s %s", v->code < 500 ?
		    "defer" : "reject", v->code, v->enh, v->text);
	pmx_verdict(pd, q->type, v->check, v->code);
	if (v->code != 0)
		policy_stats_refused(pd, q->tenant, v->check, v->code);
	/* One line per verdict that a check took part in. */
	if (v->check != NULL)
		log_info("policy %s client=[%s] tenant=%s%s%s%s%s%s check=%s "
		    "result=%s; %s", question_name(q->type), ps->addr,
		    q->tenant[0] ? q->tenant : "-",
		    q->type == M_P_CONNECT ? "" : " from=<",
		    q->type == M_P_CONNECT ? "" : ps->sender,
		    q->type == M_P_RCPT ? "> to=<" : q->type == M_P_MAIL ?
		    ">" : "", q->type == M_P_RCPT ? q->addr : "",
		    q->type == M_P_RCPT ? ">" : "", v->check, result,
		    v->facts[0] ? v->facts : "no facts needed");
	mw_init(&w);
	mw_u32(&w, q->seq);
	mw_u8(&w, q->type == M_P_CONNECT ? P_STAGE_CONNECT :
	    q->type == M_P_MAIL ? P_STAGE_MAIL : P_STAGE_RCPT);
	mw_u32(&w, (uint32_t)v->code);
	mw_str(&w, v->code ? v->enh : "");
	mw_str(&w, v->code ? v->text : "");
	mw_u8(&w, v->flags);
	mw_data(&w, spf_field, spf_field != NULL ? strlen(spf_field) : 0);
	child_send(pd->child, PROC_SMTPD, M_P_VERDICT, ps->id, -1, w.buf,
	    w.len);
}

/*
 * The facts, started once and waited for where a check needs them.
 */

static void
on_dnsbl(void *arg)
{
	advance(arg);
}

static void
on_spf(void *arg, const struct spf_outcome *o)
{
	struct psess *ps = arg;

	ps->spf_out = *o;
	ps->spf_q = NULL;
	ps->spf = FACT_DONE;
	advance(ps);
}

static void
start_spf(struct psess *ps)
{
	struct spf_resolver	 res;
	struct spf_query	*sq;

	if (ps->spf != FACT_NONE)
		return;
	ps->spf = FACT_RUNNING;
	spf_resolver_dns(&res, ps->pd->dns);
	sq = spf_check(&res, &ps->client, ps->sender, ps->helo,
	    ps_conf(ps)->hostname, on_spf, ps);
	if (ps->spf == FACT_RUNNING)
		ps->spf_q = sq;
}

static void
on_domain(void *arg, enum domain_result r, const char *why)
{
	struct domain_fact *f = arg;

	f->check = NULL;
	f->res = r;
	strlcpy(f->why, why, sizeof(f->why));
	f->state = FACT_DONE;
	advance(f->ps);
}

static void
domain_fact_set(struct domain_fact *f, enum domain_result r,
    const char *why)
{
	f->state = FACT_DONE;
	f->res = r;
	strlcpy(f->why, why, sizeof(f->why));
}

/* Ask, unless asked already; a domain of NULL needs no check. */
static void
domain_fact_start(struct domain_fact *f, struct psess *ps, const char *d)
{
	if (f->state != FACT_NONE)
		return;
	f->ps = ps;
	if (d == NULL) {
		domain_fact_set(f, DOM_OK, "no domain to check");
		return;
	}
	f->state = FACT_RUNNING;
	if ((f->check = domain_check_start(ps->pd->dns, d, on_domain, f)) ==
	    NULL)
		domain_fact_set(f, DOM_TEMPFAIL, "out of memory");
}

static void
domain_fact_cancel(struct domain_fact *f)
{
	domain_check_cancel(f->check);
	f->check = NULL;
	f->state = FACT_NONE;
}

/* The domain of an address, or NULL (the null sender, a literal). */
static const char *
mail_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL || at[1] == '\0' || at[1] == '[')
		return NULL;
	return at + 1;
}

static void
start_sender_domain(struct psess *ps)
{
	domain_fact_start(&ps->sdom, ps, mail_domain(ps->sender));
}

static void
transaction_end(struct psess *ps)
{
	if (ps->spf_q != NULL)
		spf_cancel(ps->spf_q);
	ps->spf_q = NULL;
	ps->spf = FACT_NONE;
	free(ps->spf_field);
	ps->spf_field = NULL;
	domain_fact_cancel(&ps->sdom);
}

/* Does any tenant use this check? */
static int
any_tenant(const struct conf *conf, int (*uses)(const struct policy_conf *))
{
	size_t i;

	for (i = 0; i < conf->ntenants; i++)
		if (uses(&conf->tenants[i].policy))
			return 1;
	return 0;
}

static int
uses_spf(const struct policy_conf *p)
{
	/* Greylisting keys a passing sender's domain: it needs SPF too. */
	return p->spf != SPF_OFF || p->greylist;
}

static int
uses_sender_domain(const struct policy_conf *p)
{
	return p->sender_domain;
}

/*
 * CONNECT: the connection rate, the pregreet cache, and the DNS lists
 * start.
 */

static void
on_pregreet(void *arg, const struct pstore_val *v, size_t n)
{
	struct pq	*q = arg;
	int		 later = q->req != NULL;	/* not in pstore_get */

	(void)n;
	q->vals[0] = v[0];
	q->req = NULL;
	q->grey = FACT_DONE;
	if (later)
		advance(q->ps);
}

static enum step
answer_connect(struct psess *ps, struct pq *q, struct verdict *v)
{
	const struct conf	*conf = ps_conf(ps);
	struct pstore_key	 k;
	uint32_t		 n, limit = conf->limits.client_connection_rate;

	if (ps->exempt)
		return STEP_DONE;
	if (q->grey == FACT_NONE && limit > 0) {
		n = rates_count(ps->pd->rates, netaddr_client_key(&ps->client),
		    RATE_CONNECT, clock_now());
		fact(v, "connections=%u/min", n);
		if (n > limit) {
			verdict_fixed(v, PR_CONNECTION_RATE);
			return STEP_DONE;
		}
	}
	if (ps->greeting_delay > 0 && ps->pregreet_pass > 0) {
		if (q->grey == FACT_NONE) {
			q->grey = FACT_RUNNING;
			grey_pregreet_key(conf->policy_secret, &ps->client, &k);
			q->req = pstore_get(ps->pd->store, &k, 1, clock_now(),
			    on_pregreet, q);
		}
		if (q->grey != FACT_DONE)
			return STEP_WAIT;
		if (q->vals[0].found && q->vals[0].len == PDB_EXPIRY_LEN + 1) {
			if (q->vals[0].val[PDB_EXPIRY_LEN] == 0) {
				fact(v, "pregreet=talked-first-before");
				verdict_fixed(v, PR_PREGREET);
				return STEP_DONE;
			}
			v->flags |= PV_PREGREET_PASS;
		}
	}
	if (ps->dnsbl == NULL) {
		ps->dnsbl = dnsbl_start(ps->pd->dns, conf, &ps->client,
		    on_dnsbl, ps);
		dnsbl_each_answer(ps->dnsbl, on_dnsbl);
	}
	return STEP_DONE;
}

/* The client waited for the greeting, or talked first: remembered. */
static void
pregreet_result(struct psess *ps, int waited)
{
	const struct conf	*conf = ps_conf(ps);
	struct pstore_key	 k;
	uint8_t			 val[PDB_EXPIRY_LEN + 1];
	int64_t			 now = clock_now();

	if (ps->exempt || ps->pregreet_pass == 0)
		return;
	grey_pregreet_key(conf->policy_secret, &ps->client, &k);
	/*
	 * A pass for pregreet_pass; a refusal for an hour, long enough to
	 * turn a bot away, short enough to forgive a broken client.
	 */
	pstore_put_expiry(val, now + (waited ? (int64_t)ps->pregreet_pass :
	    PREGREET_FAIL));
	val[PDB_EXPIRY_LEN] = (uint8_t)waited;
	pstore_put(ps->pd->store, &k, val, sizeof(val));
	if (!waited)
		log_info("policy pregreet client=[%s] result=talked-first; "
		    "refused at connect for %ds", ps->addr, PREGREET_FAIL);
}

/* MAIL: the message rate; SPF and the sender's domain start. */
static enum step
answer_mail(struct psess *ps, struct pq *q, struct verdict *v)
{
	const struct conf	*conf = ps_conf(ps);
	uint32_t		 n, limit = conf->limits.client_message_rate;

	(void)q;
	if (ps->exempt)
		return STEP_DONE;
	if (limit > 0) {
		n = rates_count(ps->pd->rates, netaddr_client_key(&ps->client),
		    RATE_MESSAGE, clock_now());
		fact(v, "messages=%u/min", n);
		if (n > limit) {
			verdict_fixed(v, PR_MESSAGE_RATE);
			return STEP_DONE;
		}
	}
	if (any_tenant(conf, uses_spf))
		start_spf(ps);
	if (any_tenant(conf, uses_sender_domain))
		start_sender_domain(ps);
	return STEP_DONE;
}

/*
 * RCPT: the tenant's checks, in order.
 */

/*
 * The tenant's contacts hear of its daily limit through queued, which
 * writes the notices (msg_policy.h, M_PQ_VOLUME).
 */
static void
volume_tell(struct policyd *pd, const char *tenant, uint64_t msgs,
    uint64_t octets)
{
	struct mw w;

	mw_init(&w);
	mw_str(&w, tenant);
	mw_u64(&w, msgs);
	mw_u64(&w, octets);
	if (!w.err)
		child_send(pd->child, PROC_QUEUED, M_PQ_VOLUME, 0, -1, w.buf,
		    w.len);
}

static void
on_volume(void *arg, int ok, uint64_t messages, uint64_t octets)
{
	struct pq *q = arg;

	(void)ok;	/* the total known is read again by check_rates */
	(void)messages;
	(void)octets;
	q->vreq = NULL;
	q->vol = FACT_DONE;
	advance(q->ps);
}

static enum step
check_rates(struct psess *ps, struct pq *q, const struct tenant_conf *t,
    struct verdict *v)
{
	const struct conf	*conf = ps_conf(ps);
	uint32_t		 n, limit = conf->limits.client_recipient_rate;
	uint64_t		 msgs, octets, all_msgs, all_octets;

	if (limit > 0 && !q->counted) {
		q->counted = 1;
		n = rates_count(ps->pd->rates, netaddr_client_key(&ps->client),
		    RATE_RECIPIENT, clock_now());
		fact(v, "recipients=%u/min", n);
		if (n > limit) {
			verdict_fixed(v, PR_RECIPIENT_RATE);
			return STEP_DONE;
		}
	}
	if (t->daily_messages == 0 && t->daily_bytes == 0)
		return STEP_DONE;
	/* Several nodes: their total first (Redis), if it can be had. */
	if (q->vol == FACT_NONE) {
		q->vol = FACT_RUNNING;
		if ((q->vreq = pstore_volume_get(ps->pd->store, t->name,
		    clock_now(), on_volume, q)) == NULL)
			q->vol = FACT_DONE;
	}
	if (q->vol != FACT_DONE)
		return STEP_WAIT;
	rates_volume(ps->pd->rates, t->name, clock_now(), &msgs, &octets);
	pstore_volume_known(ps->pd->store, t->name, clock_now(), &all_msgs,
	    &all_octets);
	if (all_msgs > msgs)
		msgs = all_msgs;
	if (all_octets > octets)
		octets = all_octets;
	fact(v, "today=%llu messages, %llu octets", (unsigned long long)msgs,
	    (unsigned long long)octets);
	if ((t->daily_messages > 0 && msgs >= t->daily_messages) ||
	    (t->daily_bytes > 0 && octets >= t->daily_bytes)) {
		verdict_fixed(v, PR_DAILY_VOLUME);
		if (rates_limit_reached(ps->pd->rates, t->name, clock_now()))
			volume_tell(ps->pd, t->name, msgs, octets);
	}
	return STEP_DONE;
}

static enum step
check_dnsbl(struct psess *ps, const struct tenant_conf *t, struct verdict *v)
{
	struct dnsbl_score	s;
	struct preply		r;
	size_t			n;
	int32_t			th;

	if (!t->policy.dnsbl)
		return STEP_DONE;
	conf_dnsbl_lists(ps_conf(ps), t, &n, &th);
	if (n == 0)
		return STEP_DONE;
	if (!dnsbl_done_for(ps->dnsbl, ps_conf(ps), t))
		return STEP_WAIT;
	dnsbl_score(ps->dnsbl, ps_conf(ps), t, &s);
	fact(v, "dnsbl=%d/%d (%s)", s.score, th, s.facts[0] ? s.facts :
	    "not looked up");
	if (s.listed) {
		preply_dnsbl(&r, ps->addr, s.list);
		verdict_reply(v, &r);
	}
	return STEP_DONE;
}

static enum step
check_sender_domain(struct psess *ps, const struct tenant_conf *t,
    struct verdict *v)
{
	const char	*d = mail_domain(ps->sender);
	struct preply	 r;

	if (!t->policy.sender_domain || d == NULL)
		return STEP_DONE;
	start_sender_domain(ps);
	if (ps->sdom.state != FACT_DONE)
		return STEP_WAIT;
	fact(v, "sender-domain=%s (%s)", domain_result_name(ps->sdom.res),
	    ps->sdom.why);
	if (preply_sender_domain(&r, ps->sdom.res, d))
		verdict_reply(v, &r);
	return STEP_DONE;
}

static void
spf_fact(struct psess *ps, struct verdict *v)
{
	fact(v, "spf=%s (%s: %s)", spf_result_name(ps->spf_out.result),
	    ps->spf_out.domain[0] ? ps->spf_out.domain : "-",
	    ps->spf_out.why);
}

static enum step
check_spf(struct psess *ps, const struct tenant_conf *t, struct verdict *v)
{
	struct preply r;

	if (t->policy.spf != SPF_REJECT)
		return STEP_DONE;
	start_spf(ps);
	if (ps->spf != FACT_DONE)
		return STEP_WAIT;
	spf_fact(ps, v);
	switch (ps->spf_out.result) {
	case SPF_FAIL:
	case SPF_TEMPERROR:
		if (preply_spf(&r, ps->spf_out.result, ps->addr,
		    ps->spf_out.domain, ps->spf_out.explanation))
			verdict_reply(v, &r);
		break;
	case SPF_PERMERROR:
		log_info("policy spf client=[%s] from=<%s>: permerror (%s), "
		    "treated as none", ps->addr, ps->sender, ps->spf_out.why);
		break;
	default:
		break;
	}
	return STEP_DONE;
}

static void
on_greylist(void *arg, const struct pstore_val *vals, size_t n)
{
	struct pq	*q = arg;
	int		 later = q->req != NULL;	/* not in pstore_get */

	q->vals[0] = vals[0];
	if (n > 1)
		q->vals[1] = vals[1];
	q->req = NULL;
	q->grey = FACT_DONE;
	if (later)
		advance(q->ps);
}

/* The sender's domain when SPF passed for it: the greylist identity. */
static const char *
spf_domain(const struct psess *ps)
{
	if (ps->spf_out.result != SPF_PASS || ps->spf_out.helo ||
	    ps->spf_out.domain[0] == '\0')
		return NULL;
	return ps->spf_out.domain;
}

static void
grey_write(struct psess *ps, const struct grey_decision *d,
    const struct pstore_key *keys)
{
	uint8_t	buf[PDB_VAL_MAX];
	size_t	n;

	if (d->put_triplet &&
	    (n = grey_entry_encode(&d->triplet, buf, sizeof(buf))) > 0)
		pstore_put(ps->pd->store, &keys[0], buf, n);
	if (d->put_awl && (n = awl_entry_encode(&d->awl, buf, sizeof(buf))) >
	    0)
		pstore_put(ps->pd->store, &keys[1], buf, n);
}

static enum step
check_greylist(struct psess *ps, struct pq *q, const struct tenant_conf *t,
    struct verdict *v)
{
	const struct conf	*conf = ps_conf(ps);
	struct grey_decision	 d;
	struct grey_id		 id;
	struct pstore_key	 keys[2];
	struct preply		 r;
	const char		*wl;

	if (!t->policy.greylist)
		return STEP_DONE;
	start_spf(ps);
	if (ps->spf != FACT_DONE)
		return STEP_WAIT;
	if (t->policy.spf != SPF_REJECT)
		spf_fact(ps, v);	/* what chose the client's identity */
	if (!ps->pd->wl_loaded)
		whitelist_load(ps->pd);
	if ((wl = grey_whitelisted(ps->pd->whitelist, &t->policy, &ps->client,
	    spf_domain(ps))) != NULL) {
		fact(v, "greylist=whitelisted by %s", wl);
		return STEP_DONE;
	}
	grey_identity(&ps->client, spf_domain(ps), &id);
	grey_triplet_key(conf->policy_secret, &id, ps->sender, q->addr,
	    &keys[0]);
	grey_awl_key(conf->policy_secret, &id, &keys[1]);
	if (q->grey == FACT_NONE) {
		q->grey = FACT_RUNNING;
		q->req = pstore_get(ps->pd->store, keys, 2, clock_now(),
		    on_greylist, q);
	}
	if (q->grey != FACT_DONE)
		return STEP_WAIT;
	/* Decided and written once, whatever comes after. */
	if (!q->decided) {
		q->decided = 1;
		grey_decide(&t->policy, t->name, &q->vals[0], &q->vals[1],
		    clock_now(), &q->gd);
		grey_write(ps, &q->gd, keys);
	}
	d = q->gd;
	fact(v, "greylist=%s client=%s", d.why, id.text);
	if (d.result == GREY_DEFER) {
		preply_greylist(&r, d.retry_in);
		verdict_reply(v, &r);
	}
	return STEP_DONE;
}

/* A tenant with spf: tag gets the Received-SPF field with its pass. */
static enum step
spf_tag(struct psess *ps, const struct tenant_conf *t, const char **field)
{
	char buf[SPF_HEADER_MAX];

	*field = NULL;
	if (t->policy.spf != SPF_TAG)
		return STEP_DONE;
	start_spf(ps);
	if (ps->spf != FACT_DONE)
		return STEP_WAIT;
	if (ps->spf_field == NULL && spf_received_header(buf, sizeof(buf),
	    &ps->spf_out, &ps->client, ps->sender, ps->helo,
	    ps_conf(ps)->hostname) > 0)
		ps->spf_field = strdup(buf);
	*field = ps->spf_field;
	return STEP_DONE;
}

/* Outbound: does the recipient's domain take mail? */
static enum step
check_rcpt_domain(struct psess *ps, struct pq *q, struct verdict *v)
{
	const struct tenant_conf	*ct;
	struct preply			 r;

	ct = conf_tenant_by_name(ps_conf(ps), ps->client_tenant);
	if (ct == NULL || !ct->policy.sender_domain ||
	    mail_domain(q->addr) == NULL)
		return STEP_DONE;
	if (q->rdom.state != FACT_DONE)
		return STEP_WAIT;
	v->check = "recipient-domain";
	fact(v, "recipient-domain=%s (%s)", domain_result_name(q->rdom.res),
	    q->rdom.why);
	if (preply_rcpt_domain(&r, q->rdom.res, q->domain))
		verdict_reply(v, &r);
	return STEP_DONE;
}

static void
rcpt_wake(void *arg)
{
	advance(arg);
}

/* Does the recipient exist?  The tenant's server, or what it accepted. */
static enum step
check_recipient(struct psess *ps, struct pq *q, const struct tenant_conf *t,
    struct verdict *v)
{
	struct rcpt_check	*rc = &q->rc;
	const char		*at = strrchr(q->addr, '@');
	char			 local[16];
	size_t			 n;

	if (t->verify != VERIFY_CALLOUT && t->verify != VERIFY_LEARN)
		return STEP_DONE;
	/* postmaster and abuse are always reachable (smtpd asks not). */
	n = at != NULL ? (size_t)(at - q->addr) : 0;
	if (n > 0 && n < sizeof(local)) {
		memcpy(local, q->addr, n);
		local[n] = '\0';
		if (mailaddr_is_role(local))
			return STEP_DONE;
	}
	if (rcpt_check(ps->pd, rc, t, q->addr, rcpt_wake, ps) != 0)
		return STEP_WAIT;
	fact(v, "%s", rc->fact);
	if (rc->code != 0) {
		v->check = "recipient";
		v->code = rc->code;
		v->enh = rc->enh;
		strlcpy(v->text, rc->text, sizeof(v->text));
	}
	return STEP_DONE;
}

static enum step
answer_rcpt(struct psess *ps, struct pq *q, struct verdict *v,
    const char **field)
{
	const struct tenant_conf *t;
	enum step		  st;

	if (q->stale) {
		/* No one waits for it: no check, no write, no log line. */
		verdict_fixed(v, PR_STALE);
		return STEP_DONE;
	}
	if (q->dir == DIR_OUTBOUND)
		return check_rcpt_domain(ps, q, v);
	if ((t = conf_tenant_by_name(ps_conf(ps), q->tenant)) == NULL) {
		verdict_fixed(v, PR_CONF_CHANGED);
		return STEP_DONE;
	}
	v->check = "-";		/* none refused */
	if ((st = check_recipient(ps, q, t, v)) != STEP_DONE || v->code)
		return st;
	if ((st = check_rates(ps, q, t, v)) != STEP_DONE || v->code)
		return st;
	if ((st = check_dnsbl(ps, t, v)) != STEP_DONE || v->code)
		return st;
	if ((st = check_sender_domain(ps, t, v)) != STEP_DONE || v->code)
		return st;
	if ((st = check_spf(ps, t, v)) != STEP_DONE || v->code)
		return st;
	if ((st = check_greylist(ps, q, t, v)) != STEP_DONE || v->code)
		return st;
	return spf_tag(ps, t, field);
}

/*
 * The queue of questions.
 */

static void
pq_free(struct pq *q)
{
	domain_fact_cancel(&q->rdom);
	rcpt_check_cancel(&q->rc);
	if (q->req != NULL && q->grey == FACT_RUNNING)
		pstore_cancel(q->req);
	if (q->vreq != NULL && q->vol == FACT_RUNNING)
		pstore_volume_cancel(q->vreq);
	free(q);
}

/* The head question, answered if it can be: a fresh verdict each try. */
static enum step
pq_answer(struct psess *ps, struct pq *q)
{
	struct verdict	 v;
	const char	*field = NULL;
	enum step	 st;

	memset(&v, 0, sizeof(v));
	switch (q->type) {
	case M_P_CONNECT:
		st = answer_connect(ps, q, &v);
		break;
	case M_P_MAIL:
		st = answer_mail(ps, q, &v);
		break;
	default:
		st = answer_rcpt(ps, q, &v, &field);
		break;
	}
	if (st == STEP_WAIT)
		return st;
	send_verdict(ps, q, &v, v.code == 0 ? field : NULL);
	return STEP_DONE;
}

static void
advance(struct psess *ps)
{
	struct pq *q;

	if (ps->advancing) {
		ps->again = 1;
		return;
	}
	ps->advancing = 1;
	do {
		ps->again = 0;
		while ((q = TAILQ_FIRST(&ps->q)) != NULL &&
		    pq_answer(ps, q) == STEP_DONE) {
			TAILQ_REMOVE(&ps->q, q, entry);
			pq_free(q);
		}
	} while (ps->again);
	ps->advancing = 0;
}

/*
 * smtpd's messages.
 */

static struct psess *
psess_find(struct policyd *pd, uint64_t id)
{
	struct psess find;

	find.id = id;
	return RB_FIND(psess_tree, &pd->sessions, &find);
}

static void
psess_free(struct policyd *pd, struct psess *ps)
{
	struct pq *q;

	while ((q = TAILQ_FIRST(&ps->q)) != NULL) {
		TAILQ_REMOVE(&ps->q, q, entry);
		pq_free(q);
	}
	transaction_end(ps);
	dnsbl_free(ps->dnsbl);
	RB_REMOVE(psess_tree, &pd->sessions, ps);
	pd->nsessions--;
	free(ps);
}

void
psess_free_all(struct policyd *pd)
{
	struct psess *ps;

	while ((ps = RB_ROOT(&pd->sessions)) != NULL)
		psess_free(pd, ps);
}

static struct pq *
pq_new(struct psess *ps, uint32_t type, uint32_t seq)
{
	struct pq *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("policy question");
	q->ps = ps;
	q->type = type;
	q->seq = seq;
	TAILQ_INSERT_TAIL(&ps->q, q, entry);
	return q;
}

static void
on_connect(struct policyd *pd, struct imsg *imsg, struct mr *r)
{
	struct psess	*ps;
	uint32_t	 seq;
	uint8_t		 v6;
	const void	*addr;
	size_t		 alen;

	seq = mr_u32(r);
	v6 = mr_u8(r);
	addr = mr_data(r, &alen);
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		fatal("policy session");
	ps->greeting_delay = mr_u32(r);
	ps->pregreet_pass = mr_u32(r);
	if (mr_end(r) != 0 || alen != 16 || v6 > 1 ||
	    psess_find(pd, imsg->hdr.peerid) != NULL) {
		free(ps);
		child_peer_broken(pd->child, PROC_SMTPD, imsg,
		    "malformed M_P_CONNECT");
	}
	if (pd->nsessions >= SESSIONS_MAX) {
		free(ps);
		child_peer_broken(pd->child, PROC_SMTPD, imsg,
		    "more sessions than smtpd may hold");
	}
	ps->id = imsg->hdr.peerid;
	ps->pd = pd;
	ps->client.af = v6 ? AF_INET6 : AF_INET;
	memcpy(ps->client.addr, addr, 16);
	netaddr_format(&ps->client, ps->addr, sizeof(ps->addr));
	ps->exempt = conf_client_tenant(pd->child->conf, &ps->client) != NULL;
	TAILQ_INIT(&ps->q);
	RB_INSERT(psess_tree, &pd->sessions, ps);
	pd->nsessions++;
	pq_new(ps, M_P_CONNECT, seq);
	advance(ps);
}

static void
on_mail(struct policyd *pd, struct psess *ps, struct imsg *imsg,
    struct mr *r)
{
	struct pq	*q;
	uint32_t	 seq;

	seq = mr_u32(r);
	/*
	 * smtpd asks no MAIL while it waits for a verdict: recipients still
	 * queued are of the last transaction, given up on (timeouts.policy).
	 * Decided now, they would take this transaction's sender.
	 */
	TAILQ_FOREACH(q, &ps->q, entry)
		if (q->type == M_P_RCPT)
			q->stale = 1;
	transaction_end(ps);
	mr_str(r, ps->sender, sizeof(ps->sender));
	mr_str(r, ps->helo, sizeof(ps->helo));
	(void)mr_u8(r);		/* SMTPUTF8: the evaluator takes UTF-8 */
	mr_str(r, ps->client_tenant, sizeof(ps->client_tenant));
	if (mr_end(r) != 0)
		child_peer_broken(pd->child, PROC_SMTPD, imsg,
		    "malformed M_P_MAIL");
	ps->exempt = ps->client_tenant[0] != '\0';
	pq_new(ps, M_P_MAIL, seq);
	advance(ps);
}

static void
on_rcpt(struct policyd *pd, struct psess *ps, struct imsg *imsg,
    struct mr *r)
{
	struct pq	*q;
	uint32_t	 seq;

	seq = mr_u32(r);
	q = pq_new(ps, M_P_RCPT, seq);
	mr_str(r, q->addr, sizeof(q->addr));
	mr_str(r, q->tenant, sizeof(q->tenant));
	q->dir = mr_u8(r);
	mr_str(r, q->domain, sizeof(q->domain));
	if (mr_end(r) != 0 || (q->dir != DIR_INBOUND &&
	    q->dir != DIR_OUTBOUND))
		child_peer_broken(pd->child, PROC_SMTPD, imsg,
		    "malformed M_P_RCPT");
	/* Started at once, in parallel with what is before it. */
	if (q->dir == DIR_OUTBOUND)
		domain_fact_start(&q->rdom, ps, mail_domain(q->addr) != NULL ?
		    q->domain : NULL);
	advance(ps);
}

static void
on_accepted(struct policyd *pd, struct imsg *imsg, struct mr *r)
{
	char		tenant[TENANT_MAX + 1];
	uint64_t	octets;
	uint32_t	i, n;

	octets = mr_u64(r);
	n = mr_u32(r);
	/* The frame bounds n: each name is at least a few octets. */
	for (i = 0; i < n && r->err == 0; i++) {
		mr_str(r, tenant, sizeof(tenant));
		if (r->err != 0)
			break;
		rates_accepted(pd->rates, tenant, octets, clock_now());
		pstore_volume_add(pd->store, tenant, clock_now(), 1, octets);
	}
	if (mr_end(r) != 0)
		child_peer_broken(pd->child, PROC_SMTPD, imsg,
		    "malformed M_P_ACCEPTED");
}

void
psess_dispatch(struct policyd *pd, struct imsg *imsg)
{
	struct psess	*ps = NULL;
	struct mr	 r;
	uint8_t		 waited;

	if (imsg->fd != -1)
		close(imsg->fd);
	mr_init(&r, imsg->data, imsg->datalen);
	if (imsg->hdr.type == M_P_CONNECT) {
		fault_forbidden("policyd-socket");
		on_connect(pd, imsg, &r);
		return;
	}
	if (imsg->hdr.type < M_P_CONNECT || imsg->hdr.type >= M_P_MAX ||
	    imsg->hdr.type == M_P_VERDICT ||
	    (ps = psess_find(pd, imsg->hdr.peerid)) == NULL)
		child_peer_broken(pd->child, PROC_SMTPD, imsg,
		    "a message for no session");
	switch (imsg->hdr.type) {
	case M_P_MAIL:
		on_mail(pd, ps, imsg, &r);
		break;
	case M_P_RCPT:
		on_rcpt(pd, ps, imsg, &r);
		break;
	case M_P_PREGREET:
		waited = mr_u8(&r);
		if (mr_end(&r) != 0 || waited > 1)
			child_peer_broken(pd->child, PROC_SMTPD, imsg,
			    "malformed M_P_PREGREET");
		pregreet_result(ps, waited);
		break;
	case M_P_ACCEPTED:
		on_accepted(pd, imsg, &r);
		break;
	case M_P_END:
		psess_free(pd, ps);
		break;
	}
}

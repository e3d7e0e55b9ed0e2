/*
 * mta_sts: MTA-STS policies by domain (RFC 8461 5.1).
 *
 *   sts_get(domain) -> TXT _mta-sts.DOMAIN
 *     no record, or the look-up failed: the cached policy if it has not
 *       expired, else none
 *     the cached policy's id: the cached policy
 *     a new id: fetch (mta_sts_fetch.c); on success the new policy,
 *       cached and sent to queued to store; on failure the cached one
 *       if it has not expired, else none
 *
 * Asking twice for a domain while its policy is being looked up or
 * fetched waits for the same answer.  Policies live in deliverd's memory
 * and, through queued (the one writer of the store), in the "mtasts"
 * database, which queued hands back when it starts: a restart forgets
 * nothing, and deliverd never opens the store.  A policy expires max_age
 * after it was fetched, capped at a year.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "deliverd.h"
#include "dns_client.h"
#include "log.h"
#include "marshal.h"
#include "msg_deliver.h"
#include "mta_sts.h"

struct sts_waiter {
	TAILQ_ENTRY(sts_waiter)	 entry;
	sts_cb			 cb;
	void			*arg;
};
TAILQ_HEAD(sts_waiters, sts_waiter);

struct sts_entry {
	RB_ENTRY(sts_entry)	 entry;
	char			 domain[DNS_NAME_MAX];
	struct sts_policy	 pol;
	int			 has_pol;
	int			 busy;		/* look-up or fetch in flight */
	char			 new_id[STS_ID_MAX + 1];
	struct sts_waiters	 waiters;
};
RB_HEAD(sts_tree, sts_entry);

struct sts_cache {
	struct deliverd		*d;
	struct sts_tree		 tree;
};

int	sts_entry_cmp(struct sts_entry *, struct sts_entry *);
RB_PROTOTYPE(sts_tree, sts_entry, entry, sts_entry_cmp)

int
sts_entry_cmp(struct sts_entry *a, struct sts_entry *b)
{
	return strcmp(a->domain, b->domain);
}

RB_GENERATE(sts_tree, sts_entry, entry, sts_entry_cmp)

void
sts_init(struct deliverd *d)
{
	if ((d->sts = calloc(1, sizeof(*d->sts))) == NULL)
		fatal("MTA-STS cache");
	d->sts->d = d;
	RB_INIT(&d->sts->tree);
}

static struct sts_entry *
entry_get(struct sts_cache *c, const char *domain, int create)
{
	struct sts_entry	 find, *e;
	size_t			 i;

	for (i = 0; domain[i] != '\0' && i < sizeof(find.domain) - 1; i++)
		find.domain[i] = (char)tolower((unsigned char)domain[i]);
	find.domain[i] = '\0';
	if ((e = RB_FIND(sts_tree, &c->tree, &find)) != NULL || !create)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("MTA-STS entry");
	strlcpy(e->domain, find.domain, sizeof(e->domain));
	TAILQ_INIT(&e->waiters);
	RB_INSERT(sts_tree, &c->tree, e);
	return e;
}

static const struct sts_policy *
cached(const struct sts_entry *e)
{
	return e->has_pol && e->pol.expires > (int64_t)time(NULL) ?
	    &e->pol : NULL;
}

/* Everyone waiting gets the answer; an entry with nothing is let go. */
static void
serve(struct sts_cache *c, struct sts_entry *e, const struct sts_policy *pol)
{
	struct sts_waiters	 ws;
	struct sts_waiter	*w;
	struct sts_policy	 copy;

	TAILQ_INIT(&ws);
	TAILQ_CONCAT(&ws, &e->waiters, entry);
	e->busy = 0;
	if (pol != NULL)
		copy = *pol;
	if (!e->has_pol) {
		RB_REMOVE(sts_tree, &c->tree, e);
		free(e);
	}
	while ((w = TAILQ_FIRST(&ws)) != NULL) {
		TAILQ_REMOVE(&ws, w, entry);
		w->cb(w->arg, pol != NULL ? &copy : NULL);
		free(w);
	}
}

/* A policy as queued stores it (opaque to queued). */
static void
policy_encode(const struct sts_policy *p, struct mw *w)
{
	size_t i;

	mw_init(w);
	mw_str(w, p->id);
	mw_u8(w, (uint8_t)p->mode);
	mw_u32(w, p->max_age);
	mw_u32(w, (uint32_t)p->nmx);
	for (i = 0; i < p->nmx; i++)
		mw_str(w, p->mx[i]);
}

static int
policy_decode(const void *buf, size_t len, struct sts_policy *p)
{
	struct mr	r;
	uint32_t	n, i;
	uint8_t		mode;

	memset(p, 0, sizeof(*p));
	mr_init(&r, buf, len);
	mr_str(&r, p->id, sizeof(p->id));
	mode = mr_u8(&r);
	p->max_age = mr_u32(&r);
	n = mr_u32(&r);
	if (r.err || mode > STS_ENFORCE || n > STS_MX_MAX ||
	    p->max_age > STS_MAX_AGE || p->id[0] == '\0')
		return -1;
	p->mode = (enum sts_mode)mode;
	for (i = 0; i < n; i++)
		mr_str(&r, p->mx[i], sizeof(p->mx[i]));
	p->nmx = n;
	return mr_end(&r);
}

static void
store(struct sts_cache *c, const struct sts_entry *e)
{
	struct mw	blob, w;

	policy_encode(&e->pol, &blob);
	mw_init(&w);
	mw_str(&w, e->domain);
	mw_i64(&w, e->pol.expires);
	mw_data(&w, blob.buf, blob.len);
	if (blob.err || w.err) {
		log_warnx("MTA-STS: the policy of %s is too large to store",
		    e->domain);
		return;
	}
	child_send(c->d->child, PROC_QUEUED, M_D_STS_SAVE, 0, -1, w.buf,
	    w.len);
}

static void
on_fetched(void *arg, const struct sts_policy *pol, const char *error)
{
	struct sts_entry	*e = arg;
	struct sts_cache	*c = deliverd_env->sts;
	const struct sts_policy	*old = cached(e);

	if (pol == NULL) {
		log_warnx("MTA-STS: the policy of %s could not be fetched: "
		    "%s; %s", e->domain, error, old != NULL ? "the cached "
		    "one stays in force" : "none is applied");
		serve(c, e, old);
		return;
	}
	e->pol = *pol;
	strlcpy(e->pol.id, e->new_id, sizeof(e->pol.id));
	e->pol.expires = (int64_t)time(NULL) + pol->max_age;
	e->has_pol = 1;
	log_info("MTA-STS: policy of %s (id %s): mode %s, %zu mx pattern%s, "
	    "max_age %us", e->domain, e->pol.id, sts_mode_name(e->pol.mode),
	    e->pol.nmx, e->pol.nmx == 1 ? "" : "s", e->pol.max_age);
	store(c, e);
	serve(c, e, &e->pol);
}

static void
on_txt(void *arg, const struct dns_answer *a)
{
	struct sts_entry	*e = arg;
	struct sts_cache	*c = deliverd_env->sts;
	const struct sts_policy	*old = cached(e);
	const char		*txt[DNS_MAX_RR];
	size_t			 len[DNS_MAX_RR], i;
	char			 id[STS_ID_MAX + 1];

	for (i = 0; i < a->nrr; i++) {
		txt[i] = a->rr[i].txt;
		len[i] = a->rr[i].txtlen;
	}
	/* No record, or no answer: a cached policy holds to its end. */
	if (a->rcode == DNS_R_TEMPFAIL || sts_txt_id(txt, len, a->nrr,
	    id) == -1) {
		serve(c, e, old);
		return;
	}
	if (old != NULL && strcmp(old->id, id) == 0) {
		serve(c, e, old);
		return;
	}
	strlcpy(e->new_id, id, sizeof(e->new_id));
	(void)sts_fetch_start(c->d, e->domain, on_fetched, e);
}

void
sts_get(struct deliverd *d, const char *domain, sts_cb cb, void *arg)
{
	struct sts_entry	*e = entry_get(d->sts, domain, 1);
	struct sts_waiter	*w;
	char			 name[DNS_NAME_MAX + 16];

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("MTA-STS waiter");
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&e->waiters, w, entry);
	if (e->busy)
		return;
	e->busy = 1;
	snprintf(name, sizeof(name), "_mta-sts.%s", e->domain);
	dns_lookup(d->dns, DNS_T_TXT, name, on_txt, e);
}

/* The asker is gone (its route failed first): it hears nothing. */
void
sts_cancel(struct deliverd *d, void *arg)
{
	struct sts_entry	*e;
	struct sts_waiter	*w, *next;

	RB_FOREACH(e, sts_tree, &d->sts->tree)
		TAILQ_FOREACH_SAFE(w, &e->waiters, entry, next)
			if (w->arg == arg) {
				TAILQ_REMOVE(&e->waiters, w, entry);
				free(w);
			}
}

/* A policy queued kept from before (M_D_STS_POLICY). */
void
sts_stored(struct deliverd *d, struct imsg *imsg)
{
	struct sts_policy	 pol;
	struct sts_entry	*e;
	struct mr		 r;
	const void		*blob;
	size_t			 blen;
	char			 domain[DNS_NAME_MAX];
	int64_t			 expires;

	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, domain, sizeof(domain));
	expires = mr_i64(&r);
	if ((blob = mr_data(&r, &blen)) == NULL || mr_end(&r) == -1 ||
	    domain[0] == '\0')
		child_peer_broken(d->child, PROC_QUEUED, imsg, "policy");
	if (policy_decode(blob, blen, &pol) == -1) {
		log_warnx("MTA-STS: the stored policy of %s cannot be read; "
		    "ignored", domain);
		return;
	}
	if (expires <= (int64_t)time(NULL))
		return;
	pol.expires = expires;
	e = entry_get(d->sts, domain, 1);
	if (e->busy)
		return;		/* a fresher one is on its way */
	e->pol = pol;
	e->has_pol = 1;
}

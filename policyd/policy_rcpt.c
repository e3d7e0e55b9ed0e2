/*
 * policy_rcpt: recipient verification by callout and by learning
 * (policy_rcpt.h), and deliverd's side of it (msg_callout.h).
 *
 * A callout is asked once per address: sessions that want the same
 * answer while it is out wait on it.  deliverd has a deadline of half of
 * timeouts.policy; we wait three quarters of it before we give up on
 * deliverd, so smtpd always hears from us (451 4.4.3) before it would
 * give up on us.
 *
 * Repeated failed callouts to one tenant are logged as a warning,
 * "callout to tenant NAME failing: ...", at the CALLOUT_WARN_AFTER-th in
 * a row and every CALLOUT_WARN_EVERY after it, and their end once a
 * callout succeeds again: the tenant's contacts should hear of it.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "child.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "marshal.h"
#include "msg_callout.h"
#include "policy_rcpt.h"
#include "policy_reply.h"
#include "policy_store.h"
#include "policyd.h"

#define CALLOUTS_MAX		4096	/* out at once */
#define CALLOUT_WARN_AFTER	3	/* failures in a row: a warning */
#define CALLOUT_WARN_EVERY	100
#define TENANT_FOREVER		((int64_t)1 << 62)

/* How a recipient was learned, in its entry. */
#define LEARNED_DELIVERY	1
#define LEARNED_CALLOUT		2

/* A learned entry: expiry, how, first learned, last confirmed. */
#define LEARNED_LEN		(PDB_EXPIRY_LEN + 1 + 8 + 8)
/* A cached callout answer: expiry, enum callout_class, when. */
#define CACHED_LEN		(PDB_EXPIRY_LEN + 1 + 8)
/* The tenant's own entry: expiry, first seen. */
#define TENANT_LEN		(PDB_EXPIRY_LEN + 8)

/* One callout out at deliverd, and the checks waiting for it. */
struct co_pending {
	RB_ENTRY(co_pending)	 by_key;
	RB_ENTRY(co_pending)	 by_id;
	struct policyd		*pd;
	uint64_t		 id;
	char			 key[TENANT_MAX + CALLOUT_ADDR_MAX + 2];
	char			 tenant[TENANT_MAX + 1];
	char			 addr[CALLOUT_ADDR_MAX];	/* as asked */
	struct event		*timer;
	TAILQ_HEAD(, rcpt_check) waiters;
};
RB_HEAD(co_key_tree, co_pending);
int	 co_key_cmp(struct co_pending *, struct co_pending *);
RB_PROTOTYPE(co_key_tree, co_pending, by_key, co_key_cmp)
RB_HEAD(co_id_tree, co_pending);
int	 co_id_cmp(struct co_pending *, struct co_pending *);
RB_PROTOTYPE(co_id_tree, co_pending, by_id, co_id_cmp)

/* What we know of a tenant's servers. */
struct rtenant {
	RB_ENTRY(rtenant)	 entry;
	char			 name[TENANT_MAX + 1];
	int64_t			 down_since;	/* 0: up, or not known */
	uint64_t		 failing;	/* failed callouts in a row */
	char			 last_failure[256];
};
RB_HEAD(rtenant_tree, rtenant);
int	 rtenant_cmp(struct rtenant *, struct rtenant *);
RB_PROTOTYPE(rtenant_tree, rtenant, entry, rtenant_cmp)

struct rcpt_state {
	struct co_key_tree	 keys;
	struct co_id_tree	 ids;
	size_t			 n;
	uint64_t		 next_id;
	struct rtenant_tree	 tenants;
};

int
co_key_cmp(struct co_pending *a, struct co_pending *b)
{
	return strcmp(a->key, b->key);
}

int
co_id_cmp(struct co_pending *a, struct co_pending *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

int
rtenant_cmp(struct rtenant *a, struct rtenant *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(co_key_tree, co_pending, by_key, co_key_cmp)
RB_GENERATE(co_id_tree, co_pending, by_id, co_id_cmp)
RB_GENERATE(rtenant_tree, rtenant, entry, rtenant_cmp)

static struct rcpt_state *
state(struct policyd *pd)
{
	struct rcpt_state *rs;

	if (pd->rcpt != NULL)
		return pd->rcpt;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		fatal("recipient checks");
	RB_INIT(&rs->keys);
	RB_INIT(&rs->ids);
	RB_INIT(&rs->tenants);
	pd->rcpt = rs;
	return rs;
}

static struct rtenant *
rtenant_get(struct policyd *pd, const char *name, int create)
{
	struct rcpt_state	*rs = state(pd);
	struct rtenant		 find, *t;

	if (strlcpy(find.name, name, sizeof(find.name)) >= sizeof(find.name))
		return NULL;
	if ((t = RB_FIND(rtenant_tree, &rs->tenants, &find)) != NULL ||
	    !create)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	strlcpy(t->name, name, sizeof(t->name));
	RB_INSERT(rtenant_tree, &rs->tenants, t);
	return t;
}

int64_t
rcpt_down_since(const struct policyd *pd, const char *tenant)
{
	struct rtenant *t;

	if (pd->rcpt == NULL)
		return 0;
	t = rtenant_get((struct policyd *)pd, tenant, 0);
	return t != NULL ? t->down_since : 0;
}

size_t
rcpt_callouts(const struct policyd *pd)
{
	return pd->rcpt != NULL ? pd->rcpt->n : 0;
}

/*
 * Addresses and keys.
 */

/* The address as a user of the tenant: the extension cut, in lower case. */
static size_t
normalize(const struct tenant_conf *t, const char *addr, char *out,
    size_t sz)
{
	const char	*at = strrchr(addr, '@');
	size_t		 llen, cut, i, o = 0;

	if (at == NULL || at == addr || sz == 0)
		return 0;
	llen = (size_t)(at - addr);
	cut = llen;
	if (t->delimiter[0] != '\0') {
		for (i = 0; i < llen; i++)
			if (strchr(t->delimiter, addr[i]) != NULL)
				break;
		if (i > 0 && i < llen)
			cut = i;
	}
	for (i = 0; i < cut && o + 1 < sz; i++)
		out[o++] = (char)tolower((unsigned char)addr[i]);
	for (i = llen; addr[i] != '\0' && o + 1 < sz; i++)
		out[o++] = (char)tolower((unsigned char)addr[i]);
	if (addr[i] != '\0')
		return 0;	/* too long */
	out[o] = '\0';
	return o;
}

/* The address to ask about: as given, its extension cut. */
static int
callout_address(const struct tenant_conf *t, const char *addr, char *out,
    size_t sz)
{
	const char	*at = strrchr(addr, '@');
	size_t		 llen, i;

	if (at == NULL || at == addr)
		return -1;
	llen = (size_t)(at - addr);
	for (i = 0; t->delimiter[0] != '\0' && i < llen; i++)
		if (strchr(t->delimiter, addr[i]) != NULL)
			break;
	if (t->delimiter[0] == '\0' || i == 0 || i >= llen)
		i = llen;
	if (i + strlen(at) + 1 > sz)
		return -1;
	memcpy(out, addr, i);
	strlcpy(out + i, at, sz - i);
	return 0;
}

size_t
rcpt_learned_key(const struct tenant_conf *t, const char *addr,
    uint8_t *key, size_t sz)
{
	char	norm[CALLOUT_ADDR_MAX];
	size_t	tl = strlen(t->name), nl;

	if ((nl = normalize(t, addr, norm, sizeof(norm))) == 0 ||
	    tl + 1 + nl > sz || tl + 1 + nl > PDB_KEY_MAX)
		return 0;
	memcpy(key, t->name, tl);
	key[tl] = '\0';
	memcpy(key + tl + 1, norm, nl);
	return tl + 1 + nl;
}

static int
learned_key(const struct tenant_conf *t, const char *addr,
    struct pstore_key *k)
{
	memset(k, 0, sizeof(*k));
	k->db = PDB_RECIPIENTS;
	k->len = (uint8_t)rcpt_learned_key(t, addr, k->key, sizeof(k->key));
	return k->len > 0 ? 0 : -1;
}

/* The tenant's own entry: its name and a NUL. */
static void
tenant_key(const struct tenant_conf *t, struct pstore_key *k)
{
	size_t tl = strlen(t->name);

	memset(k, 0, sizeof(*k));
	k->db = PDB_RECIPIENTS;
	if (tl + 1 > PDB_KEY_MAX)
		return;
	memcpy(k->key, t->name, tl);
	k->len = (uint8_t)(tl + 1);
}

/* Callout answers name addresses that may not exist: an HMAC. */
static int
cached_key(const struct conf *conf, const struct tenant_conf *t,
    const char *addr, struct pstore_key *k)
{
	char		buf[TENANT_MAX + CALLOUT_ADDR_MAX + 16];
	char		norm[CALLOUT_ADDR_MAX];
	unsigned int	n = 0;
	int		len;

	memset(k, 0, sizeof(*k));
	k->db = PDB_CALLOUT;
	if (normalize(t, addr, norm, sizeof(norm)) == 0)
		return -1;
	len = snprintf(buf, sizeof(buf), "callout%c%s%c%s", '\0', t->name,
	    '\0', norm);
	if (len < 0 || (size_t)len >= sizeof(buf))
		return -1;
	if (HMAC(EVP_sha256(), conf->policy_secret, CONF_SECRET_LEN,
	    (const unsigned char *)buf, (size_t)len, k->key, &n) == NULL ||
	    n == 0 || n > sizeof(k->key))
		fatalx("HMAC-SHA256 failed");
	k->len = (uint8_t)n;
	return 0;
}

static void
put_i64(uint8_t *p, int64_t v)
{
	pstore_put_expiry(p, v);	/* the same big-endian encoding */
}

static int64_t
get_i64(const uint8_t *p)
{
	return pstore_expiry(p, PDB_EXPIRY_LEN);
}

int64_t
rcpt_first_seen(const uint8_t *val, size_t vlen)
{
	return vlen == TENANT_LEN ? get_i64(val + PDB_EXPIRY_LEN) : 0;
}

/* Printable ASCII for a reply or a log: addresses may be UTF-8. */
static void
printable(const char *s, char *out, size_t sz)
{
	size_t o = 0;

	for (; *s != '\0' && o + 1 < sz; s++)
		out[o++] = (*s >= ' ' && *s <= '~') ? *s : '?';
	out[o] = '\0';
}

static void
when(int64_t t, char *buf, size_t sz)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, sz, "%lld", (long long)t);
}

/*
 * Writes.
 */

/* One value now: the local store's (a shared one would answer later). */
static void
get_now(struct policyd *pd, const struct pstore_key *k,
    struct pstore_val *v)
{
	pstore_get_local(pd->store, k, clock_now(), v);
}

/* The tenant's servers accepted this user: learned, or confirmed. */
static void
learn(struct policyd *pd, const struct tenant_conf *t, const char *addr,
    int how)
{
	struct pstore_key	k;
	struct pstore_val	v;
	uint8_t			val[LEARNED_LEN];
	int64_t			now = clock_now(), first = now;
	char			shown[CALLOUT_ADDR_MAX];

	if (learned_key(t, addr, &k) == -1)
		return;
	get_now(pd, &k, &v);
	if (v.found && v.len == LEARNED_LEN) {
		if (get_i64(v.val + PDB_EXPIRY_LEN + 1 + 8) + LEARN_REFRESH >
		    now)
			return;		/* confirmed lately */
		first = get_i64(v.val + PDB_EXPIRY_LEN + 1);
		how = v.val[PDB_EXPIRY_LEN];
	} else {
		printable((const char *)k.key + strlen(t->name) + 1, shown,
		    sizeof(shown));
		log_info("recipients tenant=%s to=<%s>: learned from %s",
		    t->name, shown, how == LEARNED_CALLOUT ? "a callout" :
		    "a delivery");
	}
	put_i64(val, now + LEARN_LIFETIME);
	val[PDB_EXPIRY_LEN] = (uint8_t)how;
	put_i64(val + PDB_EXPIRY_LEN + 1, first);
	put_i64(val + PDB_EXPIRY_LEN + 1 + 8, now);
	pstore_put(pd->store, &k, val, sizeof(val));
}

static void
cache_answer(struct policyd *pd, const struct tenant_conf *t,
    const char *addr, enum callout_class cls)
{
	struct pstore_key	k;
	uint8_t			val[CACHED_LEN];
	int64_t			now = clock_now();

	if (cached_key(pd->child->conf, t, addr, &k) == -1)
		return;
	put_i64(val, now + (int64_t)(cls == CALLOUT_ACCEPT ?
	    t->callout_positive : t->callout_negative));
	val[PDB_EXPIRY_LEN] = (uint8_t)cls;
	put_i64(val + PDB_EXPIRY_LEN + 1, now);
	pstore_put(pd->store, &k, val, sizeof(val));
}

/* The first time we see a tenant that verifies: its learning begins. */
static int64_t
first_seen(struct policyd *pd, const struct tenant_conf *t,
    const struct pstore_val *v)
{
	struct pstore_key	k;
	uint8_t			val[TENANT_LEN];
	int64_t			now = clock_now();

	if (v->found && v->len == TENANT_LEN)
		return get_i64(v->val + PDB_EXPIRY_LEN);
	tenant_key(t, &k);
	if (k.len == 0)
		return now;
	put_i64(val, TENANT_FOREVER);
	put_i64(val + PDB_EXPIRY_LEN, now);
	pstore_put(pd->store, &k, val, sizeof(val));
	log_info("recipients tenant=%s: first seen; learning for %us",
	    t->name, t->learning_period);
	return now;
}

int
rcpt_forget(struct policyd *pd, const struct tenant_conf *t,
    const char *addr)
{
	struct pstore_key k;

	if (learned_key(t, addr, &k) == -1)
		return -1;
	pstore_del(pd->store, &k);
	if (cached_key(pd->child->conf, t, addr, &k) == 0)
		pstore_del(pd->store, &k);
	return 0;
}

/*
 * Anything learned for this tenant?  Its own entry sorts first among its
 * keys: the walk looks at that and the next.
 */
struct any_walk {
	const uint8_t	*prefix;
	size_t		 plen;
	int		 found;
};

static void
any_entry(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
    size_t vlen)
{
	struct any_walk *w = arg;

	(void)val;
	if (vlen == LEARNED_LEN && klen > w->plen &&
	    memcmp(key, w->prefix, w->plen) == 0 &&
	    pstore_expiry(val, vlen) > clock_now())
		w->found = 1;
}

static int
anything_learned(struct policyd *pd, const struct tenant_conf *t)
{
	struct pstore_key	k;
	struct any_walk		w;
	uint8_t			at[PDB_KEY_MAX];
	size_t			atlen;

	tenant_key(t, &k);
	if (k.len == 0)
		return 0;
	memcpy(at, k.key, k.len);
	atlen = k.len;
	w.prefix = k.key;
	w.plen = k.len;
	w.found = 0;
	(void)pstore_walk(pd->store, PDB_RECIPIENTS, at, &atlen, 2, any_entry,
	    &w);
	return w.found;
}

/*
 * The verdicts.
 */

static void
decided(struct rcpt_check *rc, enum preply_id id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
decided(struct rcpt_check *rc, enum preply_id id, const char *fmt, ...)
{
	struct preply	r;
	char		shown[200];
	va_list		ap;

	preply_fixed(&r, id);
	rc->state = RC_DONE;
	rc->code = r.code;
	rc->enh = r.enh;
	va_start(ap, fmt);
	vsnprintf(rc->fact, sizeof(rc->fact), fmt, ap);
	va_end(ap);
	printable(rc->addr, shown, sizeof(shown));
	preply_rcpt_text(rc->text, sizeof(rc->text), r.code, shown);
}

static void
unknown_user(struct rcpt_check *rc, const struct tenant_conf *t,
    const char *how)
{
	if (t->on_unknown == UNKNOWN_REJECT)
		decided(rc, PR_RCPT_UNKNOWN, "recipient=unknown (%s)", how);
	else
		decided(rc, PR_RCPT_UNKNOWN_DEFER, "recipient=unknown (%s)", how);
}

/* A failed callout: what was learned decides. */
static void
fallback(struct rcpt_check *rc, const char *why)
{
	if (rc->learned)
		decided(rc, PR_PASS, "recipient=learned (callout failed: %s)",
		    why);
	else
		decided(rc, PR_RCPT_UNVERIFIED, "recipient=unverified (callout "
		    "failed: %s)", why);
}

static void
callout_failing(struct policyd *pd, const char *tenant, const char *why)
{
	struct rtenant *rt;

	if ((rt = rtenant_get(pd, tenant, 1)) == NULL)
		return;
	rt->failing++;
	strlcpy(rt->last_failure, why, sizeof(rt->last_failure));
	if (rt->failing == CALLOUT_WARN_AFTER || (rt->failing >
	    CALLOUT_WARN_AFTER && (rt->failing - CALLOUT_WARN_AFTER) %
	    CALLOUT_WARN_EVERY == 0))
		log_warnx("callout to tenant %s failing: %llu failed in a row, "
		    "the last: %s; unverified recipients are deferred",
		    tenant, (unsigned long long)rt->failing, why);
}

static void
callout_working(struct policyd *pd, const char *tenant)
{
	struct rtenant *rt;

	if ((rt = rtenant_get(pd, tenant, 0)) == NULL || rt->failing == 0)
		return;
	if (rt->failing >= CALLOUT_WARN_AFTER)
		log_info("callout to tenant %s working again after %llu "
		    "failed", tenant, (unsigned long long)rt->failing);
	rt->failing = 0;
}

static void
pending_free(struct policyd *pd, struct co_pending *co)
{
	struct rcpt_state *rs = state(pd);

	RB_REMOVE(co_key_tree, &rs->keys, co);
	RB_REMOVE(co_id_tree, &rs->ids, co);
	rs->n--;
	if (co->timer != NULL)
		event_free(co->timer);
	free(co);
}

/* Every check waiting for the callout gets its answer. */
static void
co_answered(struct policyd *pd, struct co_pending *co,
    enum callout_class cls, const char *reply)
{
	const struct tenant_conf	*t;
	struct rcpt_check		*rc;
	char				 shown[CALLOUT_ADDR_MAX];

	printable(co->addr, shown, sizeof(shown));
	t = conf_tenant_by_name(pd->child->conf, co->tenant);
	if (cls == CALLOUT_FAILED)
		callout_failing(pd, co->tenant, reply);
	else
		callout_working(pd, co->tenant);
	log_info("callout tenant=%s to=<%s> result=%s: %s", co->tenant, shown,
	    cls == CALLOUT_ACCEPT ? "accepted" : cls == CALLOUT_UNKNOWN ?
	    "unknown" : "failed", reply);
	if (t != NULL && cls != CALLOUT_FAILED)
		cache_answer(pd, t, co->addr, cls);
	if (t != NULL && cls == CALLOUT_ACCEPT)
		learn(pd, t, co->addr, LEARNED_CALLOUT);
	while ((rc = TAILQ_FIRST(&co->waiters)) != NULL) {
		TAILQ_REMOVE(&co->waiters, rc, entry);
		rc->co = NULL;
		if (cls == CALLOUT_ACCEPT)
			decided(rc, PR_PASS, "recipient=accepted (callout: %s)",
			    reply);
		else if (cls == CALLOUT_UNKNOWN && t != NULL)
			unknown_user(rc, t, reply);
		else
			fallback(rc, reply);
		rc->wake(rc->arg);
	}
	pending_free(pd, co);
}

static void
co_timeout(int fd, short ev, void *arg)
{
	struct co_pending *co = arg;

	(void)fd;
	(void)ev;
	co_answered(co->pd, co, CALLOUT_FAILED, "deliverd gave no answer in "
	    "time");
}

/* Ask deliverd, or wait for the same question already out. */
static void
callout_start(struct policyd *pd, struct rcpt_check *rc,
    const struct tenant_conf *t)
{
	struct rcpt_state	*rs = state(pd);
	const struct conf	*conf = pd->child->conf;
	struct co_pending	 find, *co;
	struct timeval		 tv;
	struct mw		 w;
	char			 norm[CALLOUT_ADDR_MAX];
	uint32_t		 ms;

	/* Tenant names hold no '/': one key per user of one tenant. */
	if (normalize(t, rc->addr, norm, sizeof(norm)) == 0 ||
	    (size_t)snprintf(find.key, sizeof(find.key), "%s/%s", t->name,
	    norm) >= sizeof(find.key)) {
		fallback(rc, "the address is too long to ask about");
		return;
	}
	if ((co = RB_FIND(co_key_tree, &rs->keys, &find)) != NULL) {
		rc->co = co;
		TAILQ_INSERT_TAIL(&co->waiters, rc, entry);
		rc->state = RC_WAIT;
		return;
	}
	if (rs->n >= CALLOUTS_MAX || (co = calloc(1, sizeof(*co))) == NULL) {
		fallback(rc, "too many callouts at once");
		return;
	}
	co->pd = pd;
	co->id = ++rs->next_id;
	strlcpy(co->key, find.key, sizeof(co->key));
	strlcpy(co->tenant, t->name, sizeof(co->tenant));
	if (callout_address(t, rc->addr, co->addr, sizeof(co->addr)) == -1) {
		free(co);
		fallback(rc, "the address is too long to ask about");
		return;
	}
	TAILQ_INIT(&co->waiters);
	/* deliverd has half of smtpd's patience; we, three quarters. */
	ms = conf->timeouts.policy * 500;
	if (ms == 0)
		ms = 500;
	if (ms > 60000)
		ms = 60000;
	tv.tv_sec = (ms + ms / 2) / 1000;
	tv.tv_usec = ((ms + ms / 2) % 1000) * 1000;
	if ((co->timer = evtimer_new(pd->child->base, co_timeout, co)) ==
	    NULL || evtimer_add(co->timer, &tv) == -1)
		fatalx("callout timer");
	RB_INSERT(co_key_tree, &rs->keys, co);
	RB_INSERT(co_id_tree, &rs->ids, co);
	rs->n++;
	rc->co = co;
	TAILQ_INSERT_TAIL(&co->waiters, rc, entry);
	rc->state = RC_WAIT;
	mw_init(&w);
	mw_str(&w, co->tenant);
	mw_str(&w, co->addr);
	mw_u32(&w, ms);
	child_send(pd->child, PROC_DELIVERD, M_C_CALLOUT, co->id, -1, w.buf,
	    w.len);
}

/* The store's answers are in: decide, or ask the tenant's server. */
static void
decide(struct policyd *pd, struct rcpt_check *rc, const struct tenant_conf *t,
    const struct pstore_val *v)
{
	const struct pstore_val	*cached = &v[0], *learned = &v[1];
	int64_t			 since, down, now = clock_now();
	char			 at[32];

	since = first_seen(pd, t, &v[2]);
	rc->learned = learned->found && learned->len == LEARNED_LEN;
	if (t->verify == VERIFY_CALLOUT) {
		if (cached->found && cached->len == CACHED_LEN &&
		    cached->val[PDB_EXPIRY_LEN] == CALLOUT_ACCEPT) {
			decided(rc, PR_PASS, "recipient=accepted (callout, "
			    "cached)");
			return;
		}
		if (cached->found && cached->len == CACHED_LEN &&
		    cached->val[PDB_EXPIRY_LEN] == CALLOUT_UNKNOWN) {
			unknown_user(rc, t, "callout, cached");
			return;
		}
		callout_start(pd, rc, t);
		return;
	}
	if (rc->learned) {
		decided(rc, PR_PASS, "recipient=learned");
		return;
	}
	if ((down = rcpt_down_since(pd, t->name)) != 0) {
		when(down, at, sizeof(at));
		decided(rc, PR_RCPT_UNVERIFIED, "recipient=unverified (not learned; "
		    "the tenant's servers are down since %s)", at);
		return;
	}
	if (now - since < (int64_t)t->learning_period &&
	    !anything_learned(pd, t)) {
		decided(rc, PR_RCPT_UNVERIFIED, "recipient=unverified (not learned; "
		    "nothing learned yet, learning for %llds more)",
		    (long long)((int64_t)t->learning_period - (now - since)));
		return;
	}
	decided(rc, PR_PASS, "recipient=not-learned (the tenant's server "
	    "decides at delivery)");
}

struct rc_get {
	struct policyd			*pd;
	struct rcpt_check		*rc;
	const struct tenant_conf	*t;
	int				 sync;	/* inside pstore_get */
};

static void
on_store(void *arg, const struct pstore_val *v, size_t n)
{
	struct rc_get *g = arg;

	if (n != 3)
		fatalx("recipient check: %zu values", n);
	g->rc->req = NULL;
	g->rc->get = NULL;
	decide(g->pd, g->rc, g->t, v);
	if (!g->sync && g->rc->state == RC_DONE)
		g->rc->wake(g->rc->arg);
	if (!g->sync)
		free(g);
}

int
rcpt_check(struct policyd *pd, struct rcpt_check *rc,
    const struct tenant_conf *t, const char *addr, void (*wake)(void *),
    void *arg)
{
	struct pstore_key	 keys[3];
	struct rc_get		*g;

	if (rc->state == RC_DONE)
		return 0;
	if (rc->state == RC_WAIT)
		return 1;
	rc->wake = wake;
	rc->arg = arg;
	strlcpy(rc->tenant, t->name, sizeof(rc->tenant));
	if (strlcpy(rc->addr, addr, sizeof(rc->addr)) >= sizeof(rc->addr) ||
	    cached_key(pd->child->conf, t, addr, &keys[0]) == -1) {
		decided(rc, PR_RCPT_UNVERIFIED, "recipient=unverified (the address "
		    "is too long to verify)");
		return 0;
	}
	(void)learned_key(t, addr, &keys[1]);	/* len 0: never found */
	tenant_key(t, &keys[2]);
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		decided(rc, PR_RCPT_UNVERIFIED, "recipient=unverified (out of "
		    "memory)");
		return 0;
	}
	g->pd = pd;
	g->rc = rc;
	g->t = t;
	g->sync = 1;
	rc->state = RC_WAIT;
	if ((rc->req = pstore_get(pd->store, keys, 3, clock_now(), on_store,
	    g)) != NULL) {
		g->sync = 0;	/* the callback frees it, or cancel does */
		rc->get = g;
		return 1;
	}
	free(g);
	return rc->state == RC_DONE ? 0 : 1;
}

void
rcpt_check_cancel(struct rcpt_check *rc)
{
	if (rc->req != NULL) {
		pstore_cancel(rc->req);
		free(rc->get);
	}
	rc->req = NULL;
	rc->get = NULL;
	if (rc->co != NULL)
		TAILQ_REMOVE(&rc->co->waiters, rc, entry);
	rc->co = NULL;
}

void
rcpt_free_all(struct policyd *pd)
{
	struct rcpt_state	*rs = pd->rcpt;
	struct co_pending	*co;
	struct rtenant		*t;

	if (rs == NULL)
		return;
	while ((co = RB_ROOT(&rs->ids)) != NULL) {
		while (!TAILQ_EMPTY(&co->waiters))
			rcpt_check_cancel(TAILQ_FIRST(&co->waiters));
		pending_free(pd, co);
	}
	while ((t = RB_ROOT(&rs->tenants)) != NULL) {
		RB_REMOVE(rtenant_tree, &rs->tenants, t);
		free(t);
	}
	free(rs);
	pd->rcpt = NULL;
}

/*
 * deliverd's messages.
 */

static void
on_answer(struct policyd *pd, struct imsg *imsg)
{
	struct rcpt_state	*rs = state(pd);
	struct co_pending	 find, *co;
	struct mr		 r;
	char			 enh[16], text[600], relay[400], why[1100];
	uint32_t		 code;
	uint8_t			 cls;

	mr_init(&r, imsg->data, imsg->datalen);
	cls = mr_u8(&r);
	code = mr_u32(&r);
	mr_str(&r, enh, sizeof(enh));
	mr_str(&r, text, sizeof(text));
	mr_str(&r, relay, sizeof(relay));
	if (mr_end(&r) != 0 || cls < CALLOUT_ACCEPT || cls > CALLOUT_FAILED ||
	    code > 599 || (cls != CALLOUT_FAILED && code < 200))
		child_peer_broken(pd->child, PROC_DELIVERD, imsg,
		    "malformed M_C_ANSWER");
	find.id = imsg->hdr.peerid;
	if ((co = RB_FIND(co_id_tree, &rs->ids, &find)) == NULL)
		return;		/* given up on already */
	/* What the server said cannot change what the class means. */
	if ((cls == CALLOUT_ACCEPT && code >= 300) ||
	    (cls == CALLOUT_UNKNOWN && code < 500))
		cls = CALLOUT_FAILED;
	printable(text, why, sizeof(why));
	if (relay[0] != '\0' && cls != CALLOUT_FAILED) {
		size_t l = strlen(why);

		snprintf(why + l, sizeof(why) - l, " from %s", relay);
		printable(why, why, sizeof(why));
	}
	co_answered(pd, co, (enum callout_class)cls, why);
}

static void
on_learned(struct policyd *pd, struct imsg *imsg)
{
	const struct tenant_conf	*t;
	char				 tenant[TENANT_MAX + 1];
	char				 addr[CALLOUT_ADDR_MAX];
	struct mr			 r;

	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, tenant, sizeof(tenant));
	mr_str(&r, addr, sizeof(addr));
	if (mr_end(&r) != 0)
		child_peer_broken(pd->child, PROC_DELIVERD, imsg,
		    "malformed M_C_LEARNED");
	/* A tenant removed, or that verifies otherwise now: not kept. */
	if ((t = conf_tenant_by_name(pd->child->conf, tenant)) == NULL ||
	    (t->verify != VERIFY_CALLOUT && t->verify != VERIFY_LEARN))
		return;
	learn(pd, t, addr, LEARNED_DELIVERY);
}

static void
on_route(struct policyd *pd, struct imsg *imsg)
{
	struct rtenant	*rt;
	char		 tenant[TENANT_MAX + 1];
	struct mr	 r;
	uint8_t		 up;

	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, tenant, sizeof(tenant));
	up = mr_u8(&r);
	if (mr_end(&r) != 0 || up > 1)
		child_peer_broken(pd->child, PROC_DELIVERD, imsg,
		    "malformed M_C_ROUTE");
	if ((rt = rtenant_get(pd, tenant, !up)) == NULL)
		return;
	if (!up && rt->down_since == 0) {
		rt->down_since = clock_now();
		log_info("recipients tenant=%s: its servers are down; only "
		    "learned recipients are accepted", tenant);
	} else if (up && rt->down_since != 0) {
		rt->down_since = 0;
		log_info("recipients tenant=%s: its servers are up again",
		    tenant);
	}
}

void
rcpt_dispatch(struct policyd *pd, struct imsg *imsg)
{
	if (imsg->fd != -1)
		child_peer_broken(pd->child, PROC_DELIVERD, imsg,
		    "descriptor");
	if (pd->child->conf == NULL)
		child_peer_broken(pd->child, PROC_DELIVERD, imsg,
		    "before configuration");
	switch (imsg->hdr.type) {
	case M_C_ANSWER:
		on_answer(pd, imsg);
		return;
	case M_C_LEARNED:
		on_learned(pd, imsg);
		return;
	case M_C_ROUTE:
		on_route(pd, imsg);
		return;
	}
	child_peer_broken(pd->child, PROC_DELIVERD, imsg,
	    "unexpected message");
}

/*
 * show recipients: one learned entry in words.
 */
int
rcpt_entry_format(const uint8_t *key, size_t klen, const uint8_t *val,
    size_t vlen, char *buf, size_t sz)
{
	const uint8_t	*nul = memchr(key, '\0', klen);
	char		 addr[PDB_KEY_MAX + 1], first[32], last[32], exp[32];
	size_t		 alen;

	if (nul == NULL || vlen != LEARNED_LEN ||
	    (alen = klen - (size_t)(nul + 1 - key)) == 0)
		return -1;
	memcpy(addr, nul + 1, alen);
	addr[alen] = '\0';
	printable(addr, addr, sizeof(addr));
	when(get_i64(val + PDB_EXPIRY_LEN + 1), first, sizeof(first));
	when(get_i64(val + PDB_EXPIRY_LEN + 1 + 8), last, sizeof(last));
	when(pstore_expiry(val, vlen), exp, sizeof(exp));
	snprintf(buf, sz, "%s learned-by=%s first=%s confirmed=%s expires=%s",
	    addr, val[PDB_EXPIRY_LEN] == LEARNED_CALLOUT ? "callout" :
	    "delivery", first, last, exp);
	return 0;
}

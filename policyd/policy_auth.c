/*
 * policy_auth: SMTP AUTH, decided here (msg_auth.h).
 *
 * smtpd sends the tenant, the user (with its domain) and the password;
 * we refuse at once a client or user over limits.auth_failure_rate
 * failures a minute (421) and a suspended user (535), else ask the
 * parent for a connection to the tenant's Dovecot (parent_connect.c) and
 * ask Dovecot (dovecot_client.c).  On success queued is told the grant
 * first, and smtpd hears 235 only once queued holds it: queued checks
 * every envelope of the session against the grant, not smtpd's word.
 *
 * Each authenticated message is counted per user and minute; a user over
 * the tenant's auth.user_message_rate is suspended (relayctl auth resume
 * lifts it) and its sessions' grants are revoked.  The password is held
 * only until it is written to Dovecot, and wiped.
 */
#include <sys/tree.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "child.h"
#include "clock.h"
#include "control_req.h"
#include "config.h"
#include "dovecot_client.h"
#include "envelope.h"
#include "log.h"
#include "marshal.h"
#include "msg_auth.h"
#include "msg_connect.h"
#include "netaddr.h"
#include "policy_auth.h"
#include "policy_store.h"
#include "policyd.h"

#define AUTH_TIMEOUT	30	/* seconds for Dovecot to answer */
#define AUTH_SESS_MAX	65536	/* smtpd's sessions, as in policy_session.c */
#define COUNTERS_MAX	200000	/* failure and message counters */
#define WINDOW		60	/* the counters' minute */
#define KEY_MAX		(TENANT_MAX + AUTH_USER_MAX + 8)

/* A fixed-window counter: failures of a client or a user, messages. */
struct counter {
	RB_ENTRY(counter)	 entry;
	char			 key[KEY_MAX];
	int64_t			 start;
	uint32_t		 n;
};
RB_HEAD(counter_tree, counter);
RB_PROTOTYPE_INTERNAL(counter_tree, counter, entry, counter_cmp, static __attribute__((unused)))

static int
counter_cmp(struct counter *a, struct counter *b)
{
	return strcmp(a->key, b->key);
}
RB_GENERATE_INTERNAL(counter_tree, counter, entry, counter_cmp, static __attribute__((unused)))

/* One smtpd session that asked, or holds a grant. */
struct auth_sess {
	RB_ENTRY(auth_sess)	 entry;
	uint64_t		 id;
	struct policy_auth	*pa;
	uint32_t		 seq;
	char			 tenant[TENANT_MAX + 1];
	char			 user[AUTH_USER_MAX + 1];
	char			 pass[AUTH_PASS_MAX + 1];	/* until sent */
	char			 rip[64];
	char			 lip[64];
	int			 asking;	/* the parent, Dovecot, queued */
	int			 granted;
	struct dovecot_req	*dv;
};
RB_HEAD(auth_tree, auth_sess);
RB_PROTOTYPE_INTERNAL(auth_tree, auth_sess, entry, auth_sess_cmp, static __attribute__((unused)))

static int
auth_sess_cmp(struct auth_sess *a, struct auth_sess *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}
RB_GENERATE_INTERNAL(auth_tree, auth_sess, entry, auth_sess_cmp, static __attribute__((unused)))

struct policy_auth {
	struct policyd		*pd;
	struct auth_tree	 sessions;
	size_t			 nsessions;
	struct counter_tree	 counters;
	size_t			 ncounters;
	struct auth_suspended	*suspended;	/* policy_auth_store.c */
};

struct policy_auth *
pauth_new(struct policyd *pd)
{
	struct policy_auth *pa;

	if ((pa = calloc(1, sizeof(*pa))) == NULL)
		fatal("policy auth");
	pa->pd = pd;
	RB_INIT(&pa->sessions);
	RB_INIT(&pa->counters);
	return pa;
}

/* The counter of key this minute, after adding add; UINT32_MAX: full. */
static uint32_t
counter_add(struct policy_auth *pa, const char *key, uint32_t add)
{
	struct counter	 find, *c;
	int64_t		 now = clock_now();

	if (strlcpy(find.key, key, sizeof(find.key)) >= sizeof(find.key))
		return UINT32_MAX;
	if ((c = RB_FIND(counter_tree, &pa->counters, &find)) == NULL) {
		if (add == 0)
			return 0;
		if (pa->ncounters >= COUNTERS_MAX ||
		    (c = calloc(1, sizeof(*c))) == NULL)
			return UINT32_MAX;
		strlcpy(c->key, key, sizeof(c->key));
		c->start = now;
		RB_INSERT(counter_tree, &pa->counters, c);
		pa->ncounters++;
	}
	if (now - c->start >= WINDOW) {
		c->start = now;
		c->n = 0;
	}
	c->n = c->n + add < c->n ? UINT32_MAX : c->n + add;
	return c->n;
}

/* Counters whose minute is over, dropped once a minute. */
void
pauth_sweep(struct policy_auth *pa)
{
	struct counter	*c, *next;
	int64_t		 now = clock_now();

	RB_FOREACH_SAFE(c, counter_tree, &pa->counters, next)
		if (now - c->start >= WINDOW) {
			RB_REMOVE(counter_tree, &pa->counters, c);
			pa->ncounters--;
			free(c);
		}
}

static void
key_client(const struct auth_sess *as, char *buf, size_t sz)
{
	snprintf(buf, sz, "c\t%s", as->rip);
}

static void
key_user(const struct auth_sess *as, const char *kind, char *buf,
    size_t sz)
{
	snprintf(buf, sz, "%s\t%s\t%s", kind, as->tenant, as->user);
}

static struct auth_sess *
sess_find(struct policy_auth *pa, uint64_t id)
{
	struct auth_sess find;

	find.id = id;
	return RB_FIND(auth_tree, &pa->sessions, &find);
}

static void
sess_free(struct policy_auth *pa, struct auth_sess *as)
{
	dovecot_cancel(as->dv);
	RB_REMOVE(auth_tree, &pa->sessions, as);
	pa->nsessions--;
	explicit_bzero(as, sizeof(*as));
	free(as);
}

static void
send_result(struct auth_sess *as, enum auth_result res)
{
	struct policyd	*pd = as->pa->pd;
	struct mw	 w;

	explicit_bzero(as->pass, sizeof(as->pass));
	as->asking = 0;
	mw_init(&w);
	mw_u32(&w, as->seq);
	mw_u8(&w, (uint8_t)res);
	mw_str(&w, as->tenant);
	mw_str(&w, as->user);
	child_send(pd->child, PROC_SMTPD, M_A_RESULT, as->id, -1, w.buf,
	    w.len);
}

static void
log_attempt(const struct auth_sess *as, const char *status,
    const char *why)
{
	log_info("auth: user=%s tenant=%s client=[%s] status=%s%s%s",
	    as->user, as->tenant, as->rip, status, why[0] ? " reason=" : "",
	    why);
}

/* A failure counts against the client and the user alike. */
static void
count_failure(struct auth_sess *as)
{
	char key[KEY_MAX];

	key_client(as, key, sizeof(key));
	(void)counter_add(as->pa, key, 1);
	key_user(as, "f", key, sizeof(key));
	(void)counter_add(as->pa, key, 1);
}

static int
over_failures(struct auth_sess *as)
{
	uint32_t	lim = as->pa->pd->child->conf->limits.auth_failure_rate;
	char		key[KEY_MAX];

	key_client(as, key, sizeof(key));
	if (counter_add(as->pa, key, 0) >= lim)
		return 1;
	key_user(as, "f", key, sizeof(key));
	return counter_add(as->pa, key, 0) >= lim;
}

static void
on_dovecot(void *arg, enum dovecot_result res, const char *why)
{
	struct auth_sess	*as = arg;
	struct policyd		*pd = as->pa->pd;
	struct mw		 w;

	as->dv = NULL;
	switch (res) {
	case DV_OK:
		log_attempt(as, "ok", "");
		mw_init(&w);
		mw_str(&w, as->tenant);
		mw_str(&w, as->user);
		child_send(pd->child, PROC_QUEUED, M_A_GRANT, as->id, -1,
		    w.buf, w.len);
		as->granted = 1;	/* answered on M_A_GRANTED */
		break;
	case DV_FAIL:
		count_failure(as);
		log_attempt(as, "failed", why);
		send_result(as, AR_FAIL);
		break;
	case DV_TEMP:
		log_warnx("auth: user=%s tenant=%s client=[%s] "
		    "status=tempfail reason=%s", as->user, as->tenant, as->rip,
		    why);
		send_result(as, AR_TEMP);
		break;
	}
}

/* The parent's answer: a socket to the tenant's Dovecot, or why not. */
void
pauth_connected(struct policy_auth *pa, struct imsg *imsg)
{
	struct auth_sess	*as;
	struct dovecot_ask	 a;
	struct mr		 r;
	char			 why[128];
	uint8_t			 res;
	int			 fd = imsg->fd;

	imsg->fd = -1;
	mr_init(&r, imsg->data, imsg->datalen);
	res = mr_u8(&r);
	mr_str(&r, why, sizeof(why));
	if (mr_end(&r) != 0 || res > PC_STALE || (res == PC_OK) !=
	    (fd != -1)) {
		if (fd != -1)
			close(fd);
		child_peer_broken(pa->pd->child, PROC_PARENT, imsg,
		    "malformed M_PC_CONNECTED");
	}
	if ((as = sess_find(pa, imsg->hdr.peerid)) == NULL || !as->asking ||
	    as->dv != NULL || as->granted) {
		if (fd != -1)	/* the session left meanwhile */
			close(fd);
		return;
	}
	if (res != PC_OK) {
		log_warnx("auth: user=%s tenant=%s client=[%s] "
		    "status=tempfail reason=connecting to Dovecot: %s",
		    as->user, as->tenant, as->rip, res == PC_STALE ?
		    "the tenant was reconfigured" : why);
		send_result(as, AR_TEMP);
		return;
	}
	a.user = as->user;
	a.pass = as->pass;
	a.rip = as->rip;
	a.lip = as->lip;
	as->dv = dovecot_auth(pa->pd->child->base, fd, &a, AUTH_TIMEOUT,
	    on_dovecot, as);
	explicit_bzero(as->pass, sizeof(as->pass));
	if (as->dv == NULL) {
		log_warnx("auth: user=%s tenant=%s: out of memory",
		    as->user, as->tenant);
		send_result(as, AR_TEMP);
	}
}

static void
read_addr(struct mr *r, char *buf, size_t sz)
{
	struct netaddr	 na;
	const void	*p;
	size_t		 n;
	uint8_t		 v6;

	v6 = mr_u8(r);
	p = mr_data(r, &n);
	if (r->err || n != 16 || v6 > 1) {
		r->err = 1;
		return;
	}
	memset(&na, 0, sizeof(na));
	na.af = v6 ? AF_INET6 : AF_INET;
	memcpy(na.addr, p, 16);
	netaddr_format(&na, buf, sz);
}

static void
on_auth(struct policy_auth *pa, struct auth_sess *as, struct imsg *imsg,
    struct mr *r)
{
	const struct tenant_conf	*t;
	struct mw			 w;

	as->seq = mr_u32(r);
	mr_str(r, as->tenant, sizeof(as->tenant));
	mr_str(r, as->user, sizeof(as->user));
	mr_str(r, as->pass, sizeof(as->pass));
	read_addr(r, as->rip, sizeof(as->rip));
	read_addr(r, as->lip, sizeof(as->lip));
	explicit_bzero((void *)(uintptr_t)imsg->data, imsg->datalen);
	if (mr_end(r) != 0 || as->user[0] == '\0')
		child_peer_broken(pa->pd->child, PROC_SMTPD, imsg,
		    "malformed M_A_AUTH");
	as->asking = 1;
	t = conf_tenant_by_name(pa->pd->child->conf, as->tenant);
	if (t == NULL || t->auth.dovecot == NULL) {
		log_attempt(as, "failed", "the tenant has no auth");
		send_result(as, AR_FAIL);
		return;
	}
	if (over_failures(as)) {
		log_attempt(as, "refused", "too many failures");
		send_result(as, AR_LIMIT);
		return;
	}
	if (pauth_is_suspended(pa, as->tenant, as->user)) {
		log_attempt(as, "refused", "suspended");
		send_result(as, AR_SUSPENDED);
		return;
	}
	mw_init(&w);
	mw_u8(&w, PC_KIND_DOVECOT);
	mw_str(&w, as->tenant);
	mw_u32(&w, 0);
	child_send(pa->pd->child, PROC_PARENT, M_PC_CONNECT, as->id, -1,
	    w.buf, w.len);
}

/* The user's message rate, and suspension beyond it. */
static void
on_sent(struct policy_auth *pa, struct auth_sess *as)
{
	const struct tenant_conf	*t;
	char				 key[KEY_MAX];
	uint32_t			 n;

	t = conf_tenant_by_name(pa->pd->child->conf, as->tenant);
	key_user(as, "m", key, sizeof(key));
	n = counter_add(pa, key, 1);
	if (t == NULL || t->auth.user_message_rate == 0 ||
	    n <= t->auth.user_message_rate)
		return;
	if (pauth_is_suspended(pa, as->tenant, as->user))
		return;
	log_warnx("auth: user %s of tenant %s suspended: %u messages in a "
	    "minute", as->user, as->tenant, n);
	pauth_suspend(pa, as->tenant, as->user, SUSPEND_BY_RATE);
}

/* Grants of the user's sessions end now: queued refuses their mail. */
void
pauth_revoke_user(struct policy_auth *pa, const char *tenant,
    const char *user)
{
	struct auth_sess *as;

	RB_FOREACH(as, auth_tree, &pa->sessions)
		if (as->granted && strcmp(as->tenant, tenant) == 0 &&
		    strcmp(as->user, user) == 0) {
			as->granted = 0;
			child_send(pa->pd->child, PROC_QUEUED, M_A_REVOKE,
			    as->id, -1, NULL, 0);
		}
}

/* smtpd's M_A_* messages. */
void
pauth_dispatch(struct policy_auth *pa, struct imsg *imsg)
{
	struct auth_sess	*as;
	struct mr		 r;

	mr_init(&r, imsg->data, imsg->datalen);
	as = sess_find(pa, imsg->hdr.peerid);
	switch (imsg->hdr.type) {
	case M_A_AUTH:
		if (as != NULL && (as->asking || as->granted))
			child_peer_broken(pa->pd->child, PROC_SMTPD, imsg,
			    "AUTH while one is out or granted");
		if (as == NULL) {
			if (pa->nsessions >= AUTH_SESS_MAX ||
			    (as = calloc(1, sizeof(*as))) == NULL)
				child_peer_broken(pa->pd->child, PROC_SMTPD,
				    imsg, "more AUTH sessions than smtpd holds");
			as->id = imsg->hdr.peerid;
			as->pa = pa;
			RB_INSERT(auth_tree, &pa->sessions, as);
			pa->nsessions++;
		}
		on_auth(pa, as, imsg, &r);
		break;
	case M_A_SENT:
		(void)mr_u32(&r);
		if (mr_end(&r) != 0 || as == NULL)
			child_peer_broken(pa->pd->child, PROC_SMTPD, imsg,
			    "M_A_SENT for no authenticated session");
		if (as->granted)
			on_sent(pa, as);
		break;
	case M_A_END:
		if (mr_end(&r) != 0)
			child_peer_broken(pa->pd->child, PROC_SMTPD, imsg,
			    "malformed M_A_END");
		if (as == NULL)
			break;
		if (as->granted)
			child_send(pa->pd->child, PROC_QUEUED, M_A_REVOKE,
			    as->id, -1, NULL, 0);
		sess_free(pa, as);
		break;
	default:
		child_peer_broken(pa->pd->child, PROC_SMTPD, imsg,
		    "an AUTH message smtpd may not send");
	}
}

/* queued holds the grant: now smtpd may say 235. */
void
pauth_granted(struct policy_auth *pa, struct imsg *imsg)
{
	struct auth_sess *as;

	if (imsg->datalen != 0)
		child_peer_broken(pa->pd->child, PROC_QUEUED, imsg,
		    "malformed M_A_GRANTED");
	if ((as = sess_find(pa, imsg->hdr.peerid)) == NULL || !as->asking)
		return;		/* the session left meanwhile */
	send_result(as, as->granted ? AR_OK : AR_SUSPENDED);
}

/*
 * Suspended users: in the store (PDB_AUTHSUSPEND, keyed by the SHA-256 of
 * tenant and user, so that no name is in clear), read once into memory.
 */
struct suspended {
	RB_ENTRY(suspended)	 entry;
	uint8_t			 key[SHA256_DIGEST_LENGTH];
};
RB_HEAD(susp_tree, suspended);
RB_PROTOTYPE_INTERNAL(susp_tree, suspended, entry, susp_cmp, static __attribute__((unused)))

static int
susp_cmp(struct suspended *a, struct suspended *b)
{
	return memcmp(a->key, b->key, sizeof(a->key));
}
RB_GENERATE_INTERNAL(susp_tree, suspended, entry, susp_cmp, static __attribute__((unused)))

struct auth_suspended {
	struct susp_tree	 tree;
	int			 loaded;
};

#define SUSP_FOREVER	(INT64_C(1) << 40)	/* until resumed */

static void
susp_key(const char *tenant, const char *user, uint8_t *key)
{
	char	buf[TENANT_MAX + AUTH_USER_MAX + 2];
	size_t	tl = strnlen(tenant, TENANT_MAX), ul = strnlen(user,
		    AUTH_USER_MAX);

	memcpy(buf, tenant, tl);
	buf[tl] = '\0';
	memcpy(buf + tl + 1, user, ul);
	SHA256((const unsigned char *)buf, tl + 1 + ul, key);
}

static void
susp_insert(struct auth_suspended *as, const uint8_t *key)
{
	struct suspended *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("auth suspension");
	memcpy(s->key, key, sizeof(s->key));
	if (RB_INSERT(susp_tree, &as->tree, s) != NULL)
		free(s);
}

static void
susp_entry(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
    size_t vlen)
{
	(void)val;
	(void)vlen;
	if (klen == SHA256_DIGEST_LENGTH)
		susp_insert(arg, key);
}

static struct auth_suspended *
susp_loaded(struct policy_auth *pa)
{
	struct auth_suspended	*as = pa->suspended;
	uint8_t			 at[PDB_KEY_MAX];
	size_t			 atlen = 0;
	int			 rv;

	if (as == NULL) {
		if ((as = calloc(1, sizeof(*as))) == NULL)
			fatal("auth suspensions");
		RB_INIT(&as->tree);
		pa->suspended = as;
	}
	if (as->loaded)
		return as;
	while ((rv = pstore_walk(pa->pd->store, PDB_AUTHSUSPEND, at, &atlen,
	    1000, susp_entry, as)) == 1)
		;
	if (rv == 0)
		as->loaded = 1;
	return as;
}

int
pauth_is_suspended(struct policy_auth *pa, const char *tenant,
    const char *user)
{
	struct suspended find;

	susp_key(tenant, user, find.key);
	return RB_FIND(susp_tree, &susp_loaded(pa)->tree, &find) != NULL;
}

/*
 * Suspend (how: SUSPEND_BY_*) or resume (0) a user, in memory and in the
 * store; a suspension is told to the tenant's contacts.
 */
void
pauth_suspend(struct policy_auth *pa, const char *tenant, const char *user,
    int how)
{
	struct auth_suspended	*as = susp_loaded(pa);
	struct suspended	 find, *s;
	struct pstore_key	 k;
	uint8_t			 val[PDB_EXPIRY_LEN];

	memset(&k, 0, sizeof(k));
	k.db = PDB_AUTHSUSPEND;
	k.len = SHA256_DIGEST_LENGTH;
	susp_key(tenant, user, k.key);
	memcpy(find.key, k.key, sizeof(find.key));
	if (how != 0) {
		susp_insert(as, k.key);
		pstore_put_expiry(val, SUSP_FOREVER);
		pstore_put(pa->pd->store, &k, val, sizeof(val));
		pauth_revoke_user(pa, tenant, user);
		auth_notice_suspended(pa->pd, tenant, user,
		    how == SUSPEND_BY_RATE);
		return;
	}
	if ((s = RB_FIND(susp_tree, &as->tree, &find)) != NULL) {
		RB_REMOVE(susp_tree, &as->tree, s);
		free(s);
	}
	pstore_del(pa->pd->store, &k);
}

/* The tenant's contacts are told, by queued (queue_notice.c). */
void
auth_notice_suspended(struct policyd *pd, const char *tenant,
    const char *user, int by_rate)
{
	struct mw w;

	mw_init(&w);
	mw_str(&w, tenant);
	mw_str(&w, user);
	mw_u8(&w, by_rate != 0);
	if (!w.err)
		child_send(pd->child, PROC_QUEUED, M_PQ_SUSPENDED, 0, -1, w.buf,
		    w.len);
}

/*
 * relayctl auth suspend|resume TENANT USER: the user as Dovecot knows it
 * (with its domain, or the realm appended as at AUTH).
 */
void
pauth_control(struct policy_auth *pa, uint64_t req, const struct ctl_req *r)
{
	const struct tenant_conf	*t;
	char				 user[AUTH_USER_MAX + 1];
	int				 on = r->cmd == CTL_AUTH_SUSPEND;

	t = conf_tenant_by_name(pa->pd->child->conf, r->args[0]);
	if (t == NULL || t->auth.dovecot == NULL) {
		pctl_done(pa->pd, req, "no such tenant with auth");
		return;
	}
	if (strchr(r->args[1], '@') == NULL && t->auth.realm != NULL) {
		if ((size_t)snprintf(user, sizeof(user), "%s@%s", r->args[1],
		    t->auth.realm) >= sizeof(user)) {
			pctl_done(pa->pd, req, "user name too long");
			return;
		}
	} else if (strlcpy(user, r->args[1], sizeof(user)) >= sizeof(user)) {
		pctl_done(pa->pd, req, "user name too long");
		return;
	}
	if (on == pauth_is_suspended(pa, t->name, user)) {
		pctl_done(pa->pd, req, on ? "already suspended" :
		    "not suspended");
		return;
	}
	if (on)
		log_warnx("auth: user %s of tenant %s suspended: by relayctl",
		    user, t->name);
	else
		log_info("auth: user %s of tenant %s resumed: by relayctl",
		    user, t->name);
	pauth_suspend(pa, t->name, user, on ? SUSPEND_BY_RELAYCTL : 0);
	pctl_done(pa->pd, req, NULL);
}

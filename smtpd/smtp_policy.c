/*
 * smtp_policy: what smtpd asks policyd, when, and what it does with the
 * answer (msg_policy.h).
 *
 * A question is sent only when some check applies: to the session (a
 * connection rate, a greeting delay with its pass cache, DNS lists some
 * tenant uses) or to the recipient (its tenant's checks, its recipient
 * verification by callout or learning, the recipient rate).  A client in a tenant's outbound.networks, and mail to
 * postmaster@ or abuse@, skip every check, so a relay tenant that enabled
 * nothing never waits for policyd.  smtpd waits only for a verdict that
 * may refuse what it is about to answer; the rest (CONNECT starting the
 * DNS lists, MAIL starting SPF) goes without waiting, and their verdicts
 * are dropped when they come.
 *
 * A verdict that does not come within timeouts.policy is a temporary
 * failure (451 4.3.0, or 421 4.3.0 before the greeting), never a pass; a
 * verdict that comes later is dropped.  What policyd says is checked
 * like anything from another process: one line, 4xx or 5xx, and a
 * Received-SPF field that is one folded field and nothing else.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_policy.h"
#include "smtpd.h"

static int	any_dnsbl(const struct conf *);
static int	any_tenant_checks(const struct conf *);

/* A recipient waiting for its verdict. */
struct p_rcpt {
	struct relay_verdict	 v;
	char			 tenant[TENANT_MAX + 1];
	struct rcpt_params	 rp;
	uint32_t		 eod;		/* its end-of-data class */
};

/* Does a tenant ask policyd anything about its inbound recipients? */
static int
tenant_checks(const struct conf *conf, const struct tenant_conf *t)
{
	const struct policy_conf	*p = &t->policy;
	size_t				 n = 0;
	int32_t				 th;

	if (p->dnsbl)
		conf_dnsbl_lists(conf, t, &n, &th);
	/* A callout or what was learned: policyd's; a list is ours. */
	return t->verify == VERIFY_CALLOUT || t->verify == VERIFY_LEARN ||
	    p->greylist || n > 0 || p->spf != SPF_OFF ||
	    p->sender_domain || t->daily_messages > 0 || t->daily_bytes > 0 ||
	    conf->limits.client_recipient_rate > 0;
}

/*
 * What the configuration asks of policyd at all, worked out once per
 * configuration rather than at each connection and MAIL.
 */
void
policy_configure(struct smtpd *sd, const struct conf *conf)
{
	sd->policy.dnsbl = any_dnsbl(conf);
	sd->policy.tenant_checks = any_tenant_checks(conf);
}

/* Does any tenant use a DNS list (looked up from the connection on)? */
static int
any_dnsbl(const struct conf *conf)
{
	size_t	i, n;
	int32_t	th;

	for (i = 0; i < conf->ntenants; i++) {
		n = 0;
		if (conf->tenants[i].policy.dnsbl)
			conf_dnsbl_lists(conf, &conf->tenants[i], &n, &th);
		if (n > 0)
			return 1;
	}
	return 0;
}

static int
any_tenant_checks(const struct conf *conf)
{
	size_t i;

	for (i = 0; i < conf->ntenants; i++)
		if (tenant_checks(conf, &conf->tenants[i]) ||
		    conf->tenants[i].policy.sender_domain)
			return 1;
	return 0;
}

/*
 * What the recipient's checks need at the end of data: one per message.
 * Its tenant's content scan too (above EOD_CONTENT_SHIFT); for mail from
 * a tenant's own networks, that tenant's when it scans outbound mail.
 */
uint32_t
policy_eod_class(const struct session *s, const struct tenant_conf *t,
    const char *addr, enum direction dir)
{
	const struct tenant_conf	*ct = s->client_tenant;
	uint32_t			 c = 0;

	if (ct != NULL)
		return ct->content.outbound ?
		    ct->content.id << EOD_CONTENT_SHIFT : 0;
	if (t == NULL || dir != DIR_INBOUND || mailaddr_addr_is_role(addr))
		return 0;
	if (t->policy.require_to_or_cc)
		c |= EOD_TO_CC;
	if (t->policy.spf == SPF_TAG)
		c |= EOD_SPF_TAG;
	return c | t->content.id << EOD_CONTENT_SHIFT;
}

static void
p_timeout(int fd, short ev, void *arg)
{
	struct session		*s = arg;
	struct smtp_reply	 r;
	uint8_t			 stage = s->p_stage;

	(void)fd;
	(void)ev;
	if (s->p_wait == 0)
		return;
	log_warnx("policyd gave no verdict for [%s] within %us; deferred",
	    s->addr, s->sd->conf->timeouts.policy);
	s->p_wait = 0;
	if (stage == P_STAGE_CONNECT) {
		session_close(s, R_POLICY_CLOSE);
		return;
	}
	free(s->p_rcpt);
	s->p_rcpt = NULL;
	reply_set(&r, R_POLICY_LATE);
	if (stage == P_STAGE_MAIL)
		session_tx_end(s);
	session_reply_r(s, &r);
	session_resume(s);
}

/* Send a question; wait for its verdict if asked to. */
static int
policy_ask(struct session *s, uint32_t type, struct mw *w, uint8_t stage,
    int wait)
{
	struct timeval tv;

	if (w->err) {
		log_warnx("a question to policyd does not fit a message");
		return -1;
	}
	child_send(s->sd->child, PROC_POLICYD, type, s->id, -1, w->buf,
	    w->len);
	if (!wait)
		return 0;
	if (s->p_timer == NULL && (s->p_timer = evtimer_new(
	    s->sd->child->base, p_timeout, s)) == NULL)
		return -1;
	s->p_wait = s->p_seq;
	s->p_stage = stage;
	tv.tv_sec = s->sd->conf->timeouts.policy;
	tv.tv_usec = 0;
	evtimer_add(s->p_timer, &tv);
	return 0;
}

static void
connect_msg(struct session *s, struct mw *w)
{
	mw_init(w);
	mw_u32(w, ++s->p_seq);
	mw_u8(w, (uint8_t)(s->client.af == AF_INET6));
	mw_data(w, s->client.addr, 16);
	mw_u32(w, s->lst.greeting_delay);
	mw_u32(w, s->lst.pregreet_pass);
	s->p_known = 1;
}

/*
 * At the connection: 1 if the greeting waits for the verdict (a rate, a
 * pregreet pass or a remembered early talker may decide it), 0 if not,
 * -1 when it cannot be asked (out of memory).
 */
int
policy_connect(struct session *s)
{
	const struct conf	*conf = s->sd->conf;
	struct mw		 w;
	int			 wait;

	if (s->client_tenant != NULL)
		return 0;
	wait = conf->limits.client_connection_rate > 0 ||
	    (s->lst.greeting_delay > 0 && s->lst.pregreet_pass > 0);
	if (!wait && !s->sd->policy.dnsbl)
		return 0;
	connect_msg(s, &w);
	if (policy_ask(s, M_P_CONNECT, &w, P_STAGE_CONNECT, wait) == -1)
		return -1;
	return wait;
}

/* The greeting delay ended (waited) or the client talked first. */
void
policy_pregreet(struct session *s, int waited)
{
	struct mw w;

	if (!s->p_known || s->lst.pregreet_pass == 0)
		return;
	mw_init(&w);
	mw_u8(&w, (uint8_t)waited);
	child_send(s->sd->child, PROC_POLICYD, M_P_PREGREET, s->id, -1, w.buf,
	    w.len);
}

/* policyd hears of the session before its first MAIL, if not yet. */
static int
ensure_known(struct session *s)
{
	struct mw w;

	if (s->p_known)
		return 0;
	connect_msg(s, &w);
	return policy_ask(s, M_P_CONNECT, &w, P_STAGE_CONNECT, 0);
}

/* The transaction's sender, for the recipients' checks. */
static int
mail_msg(struct session *s, int wait)
{
	struct transaction	*tx = s->tx;
	struct mw		 w;

	if (ensure_known(s) == -1)
		return -1;
	mw_init(&w);
	mw_u32(&w, ++s->p_seq);
	mw_str(&w, tx->sender);
	mw_str(&w, s->helo != NULL ? s->helo : "");
	mw_u8(&w, (uint8_t)tx->mp.smtputf8);
	mw_str(&w, s->client_tenant != NULL ? s->client_tenant->name : "");
	if (policy_ask(s, M_P_MAIL, &w, P_STAGE_MAIL, wait) == -1)
		return -1;
	tx->p_mail = 1;
	return 0;
}

/*
 * MAIL is accepted so far: tell policyd (SPF and the sender's domain
 * start now) when some recipient may be checked.  1: wait for the
 * verdict (the message rate); 0: go on; -1: failed.
 */
int
policy_mail(struct session *s)
{
	const struct conf	*conf = s->sd->conf;
	int			 wait, outbound;

	outbound = s->client_tenant != NULL &&
	    s->client_tenant->policy.sender_domain;
	if (s->client_tenant != NULL && !outbound)
		return 0;
	wait = s->client_tenant == NULL &&
	    conf->limits.client_message_rate > 0;
	if (!wait && !outbound && !s->sd->policy.tenant_checks)
		return 0;
	if (mail_msg(s, wait) == -1)
		return -1;
	return wait;
}

/*
 * A recipient that passed the recipient checks: 1 if it waits for
 * policyd (held in s->p_rcpt until policy_verdict), 0 if it needs no
 * verdict, -1 when asking failed.
 */
int
policy_rcpt(struct session *s, const struct relay_verdict *v,
    const struct rcpt_params *rp, uint32_t eod)
{
	const struct conf	*conf = s->sd->conf;
	struct transaction	*tx = s->tx;
	struct p_rcpt		*pr;
	struct mw		 w;
	int			 ask_it;

	if (mailaddr_addr_is_role(v->addr))
		return 0;
	if (s->client_tenant != NULL)
		ask_it = v->dir == DIR_OUTBOUND &&
		    s->client_tenant->policy.sender_domain;
	else
		ask_it = v->dir == DIR_INBOUND && v->tenant != NULL &&
		    tenant_checks(conf, v->tenant);
	if (!ask_it)
		return 0;
	/* No check applied at MAIL (a reload since): the sender now. */
	if (!tx->p_mail && mail_msg(s, 0) == -1)
		return -1;
	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		return -1;
	pr->v = *v;
	pr->v.tenant = NULL;	/* a reload may free it: kept by name */
	if (v->tenant != NULL)
		strlcpy(pr->tenant, v->tenant->name, sizeof(pr->tenant));
	pr->rp = *rp;
	pr->eod = eod;
	mw_init(&w);
	mw_u32(&w, ++s->p_seq);
	mw_str(&w, v->addr);
	mw_str(&w, pr->tenant);
	mw_u8(&w, (uint8_t)v->dir);
	mw_str(&w, v->domain);
	if (policy_ask(s, M_P_RCPT, &w, P_STAGE_RCPT, 1) == -1) {
		free(pr);
		return -1;
	}
	s->p_rcpt = pr;
	return 1;
}

/* A message was queued: its inbound tenants' daily volumes grow. */
void
policy_accepted(struct session *s, uint64_t octets)
{
	const struct conf	*conf = s->sd->conf;
	struct transaction	*tx = s->tx;
	const struct tenant_conf *t;
	struct mw		 w;
	size_t			 i, j, n = 0;
	uint32_t		 count = 0;

	if (!s->p_known)
		return;
	mw_init(&w);
	mw_u64(&w, octets);
	for (i = 0; i < tx->nrcpts; i++)
		if (tx->rcpts[i].dir == DIR_INBOUND && (t = conf_tenant_by_name(
		    conf, tx->rcpts[i].tenant)) != NULL && (t->daily_messages >
		    0 || t->daily_bytes > 0))
			n++;
	if (n == 0)
		return;
	/* Each tenant once: counted, then named. */
	for (i = 0; i < tx->nrcpts; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(tx->rcpts[j].tenant, tx->rcpts[i].tenant) ==
			    0)
				break;
		if (j == i && tx->rcpts[i].dir == DIR_INBOUND)
			count++;
	}
	mw_u32(&w, count);
	for (i = 0; i < tx->nrcpts; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(tx->rcpts[j].tenant, tx->rcpts[i].tenant) ==
			    0)
				break;
		if (j == i && tx->rcpts[i].dir == DIR_INBOUND)
			mw_str(&w, tx->rcpts[i].tenant);
	}
	if (!w.err)
		child_send(s->sd->child, PROC_POLICYD, M_P_ACCEPTED, s->id, -1,
		    w.buf, w.len);
}

/* The session is over: policyd forgets it. */
void
policy_end(struct session *s)
{
	if (s->p_timer != NULL)
		event_free(s->p_timer);
	s->p_timer = NULL;
	free(s->p_rcpt);
	s->p_rcpt = NULL;
	if (s->p_known)
		child_send(s->sd->child, PROC_POLICYD, M_P_END, s->id, -1,
		    NULL, 0);
	s->p_known = 0;
}

/*
 * A Received-SPF field as policyd made it: "Received-SPF:", printable
 * ASCII, lines ending in CRLF, every line after the first folded (it
 * starts with a space or a tab).  Anything else would let policyd add
 * fields of its choosing to a message.
 */
static int
spf_field_ok(const char *f, size_t len)
{
	size_t i;

	if (len < 16 || len > P_SPF_FIELD_MAX ||
	    strncmp(f, "Received-SPF:", 13) != 0 ||
	    f[len - 2] != '\r' || f[len - 1] != '\n')
		return 0;
	for (i = 0; i < len; i++) {
		if (f[i] == '\r') {
			if (f[i + 1] != '\n')
				return 0;
			i++;
			if (i + 1 < len && f[i + 1] != ' ' && f[i + 1] != '\t')
				return 0;
			continue;
		}
		if ((f[i] < 0x20 && f[i] != '\t') || f[i] > 0x7e)
			return 0;
	}
	return 1;
}

static void
rcpt_verdict(struct session *s, const struct smtp_reply *r,
    const char *spf, size_t spflen)
{
	struct p_rcpt		*pr = s->p_rcpt;
	struct transaction	*tx = s->tx;
	struct smtp_reply	 err;

	s->p_rcpt = NULL;
	if (r->code != 0) {
		command_rcpt_refused(s, r, pr->v.addr);
		free(pr);
		return;
	}
	if (pr->tenant[0] != '\0' &&
	    (pr->v.tenant = conf_tenant_by_name(s->sd->conf, pr->tenant)) ==
	    NULL) {
		reply_set(&err, R_CONFIG_CHANGED);
		command_rcpt_refused(s, &err, pr->v.addr);
		free(pr);
		return;
	}
	if (spflen > 0 && (pr->eod & EOD_SPF_TAG) && tx->spf_field == NULL &&
	    (tx->spf_field = strndup(spf, spflen)) == NULL) {
		free(pr);
		session_close(s, R_NO_MEMORY);
		return;
	}
	command_rcpt_accept(s, &pr->v, &pr->rp, pr->eod);
	free(pr);
}

static void
connect_verdict(struct session *s, const struct smtp_reply *r, uint8_t flags)
{
	if (r->code != 0) {
		log_info("refused [%s] at connect: %d %s %s", s->addr, r->code,
		    r->enh, r->text);
		session_close_r(s, r);
		return;
	}
	session_policy_greet(s, (flags & PV_PREGREET_PASS) != 0);
}

static void
mail_verdict(struct session *s, const struct smtp_reply *r)
{
	if (r->code != 0) {
		command_mail_refused(s, r);
		return;
	}
	session_reply_id(s, R_SENDER_OK);
}

/* policyd's verdict: the one waited for, or one dropped. */
void
policy_dispatch(struct smtpd *sd, struct imsg *imsg)
{
	struct session		*s;
	struct smtp_reply	 r;
	struct mr		 m;
	const void		*spf;
	size_t			 spflen;
	uint32_t		 seq;
	uint8_t			 stage, flags;

	if (imsg->fd != -1)
		close(imsg->fd);
	if (imsg->hdr.type != M_P_VERDICT)
		child_peer_broken(sd->child, PROC_POLICYD, imsg,
		    "unexpected message");
	memset(&r, 0, sizeof(r));
	mr_init(&m, imsg->data, imsg->datalen);
	seq = mr_u32(&m);
	stage = mr_u8(&m);
	r.code = (int)mr_u32(&m);
	mr_str(&m, r.enh, sizeof(r.enh));
	mr_str(&m, r.text, sizeof(r.text));
	flags = mr_u8(&m);
	spf = mr_data(&m, &spflen);
	if (mr_end(&m) != 0 || stage < P_STAGE_CONNECT ||
	    stage > P_STAGE_RCPT || (r.code != 0 && !reply_valid(&r)) ||
	    (r.code != 0 && r.code < 400) ||
	    (spflen > 0 && !spf_field_ok(spf, spflen)))
		child_peer_broken(sd->child, PROC_POLICYD, imsg,
		    "malformed verdict");
	s = session_find(sd, imsg->hdr.peerid);
	if (s == NULL || s->p_wait == 0 || s->p_wait != seq ||
	    s->p_stage != stage || s->state == SS_CLOSING)
		return;		/* not waited for (any more) */
	s->p_wait = 0;
	evtimer_del(s->p_timer);
	switch (stage) {
	case P_STAGE_CONNECT:
		connect_verdict(s, &r, flags);
		return;
	case P_STAGE_MAIL:
		mail_verdict(s, &r);
		break;
	case P_STAGE_RCPT:
		if (s->p_rcpt == NULL || s->tx == NULL)
			return;
		rcpt_verdict(s, &r, spf, spflen);
		break;
	}
	if (s->state != SS_CLOSING)
		session_resume(s);
}

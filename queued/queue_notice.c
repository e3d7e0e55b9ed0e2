/*
 * queue_notice: notices to a tenant's contacts, that its servers refuse
 * or cannot be reached (and are back), that its new mail is deferred, or
 * that its daily volume limit is reached; and relayctl notices test.
 *
 * A notice is plain mail (RFC 3834: Auto-Submitted: auto-generated) from
 * the relay's postmaster address, never to a null sender, to the
 * tenant's contacts of the roles the kind concerns (its postmaster when
 * it has none) and to the relay's postmaster.  queue_tenant.c decides
 * when one is due, at most one of a kind per tenant per notices.interval.
 *
 * It is written like a delivery status notification (queue_dsn.c): the
 * text is made here, a worker writes and syncs the file, and the writer
 * commits its envelope together with the tenant's state saying it went,
 * so that a restart neither sends it again nor forgets it was sent.
 *
 * A notice about a dead server is no use in the queue behind that
 * server: one that reached no contact outside the tenant's own domains
 * is queued all the same, but the record says the tenant was not told
 * (relayctl show tenant), and relayd -n warns of such tenants.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "clock.h"
#include "config.h"
#include "fdio.h"
#include "log.h"
#include "marshal.h"
#include "msg_policy.h"
#include "queued.h"

#define NOTICE_RCPTS_MAX	(CONTACTS_MAX + 2)
#define NOTICE_TEXT_MAX		(64 * 1024)

void
tb_printf(struct tbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*np;
	size_t	 ncap;
	int	 n;

	if (b->err)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap -
		    b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->err = 1;
			return;
		}
		if (b->p != NULL && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		ncap = b->cap ? b->cap * 2 : 4096;
		while (ncap < b->len + (size_t)n + 1)
			ncap *= 2;
		if (ncap > NOTICE_TEXT_MAX || (np = realloc(b->p, ncap)) ==
		    NULL) {
			b->err = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

const char *
notice_kind_name(enum notice_kind k)
{
	switch (k) {
	case NK_OUTAGE:
		return "outage";
	case NK_RECOVERY:
		return "recovery";
	case NK_DEFER_ALL:
		return "defer-all";
	case NK_VOLUME:
		return "volume";
	case NK_TEST:
		return "test";
	case NK_REPORT:
		return "report";
	case NK_MONTHLY:
		return "monthly";
	case NK_ANNOUNCE:
		return "announce";
	case NK_SUSPENDED:
		return "suspended";
	case NK_MAX:
		break;
	}
	return "?";
}

/* The contacts' roles a notice of this kind goes to. */
static uint8_t
kind_roles(enum notice_kind k)
{
	switch (k) {
	case NK_VOLUME:
	case NK_SUSPENDED:
		return CONTACT_TECHNICAL | CONTACT_POLICY;
	case NK_TEST:
		return CONTACT_ROLES;
	case NK_REPORT:
	case NK_MONTHLY:
		return CONTACT_POLICY | CONTACT_BILLING;
	default:
		return CONTACT_TECHNICAL | CONTACT_EMERGENCY;
	}
}

static void
notice_utc(int64_t t, char *buf, size_t sz)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (t == 0) {
		strlcpy(buf, "never", sz);
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, sz, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void
notice_date(int64_t t, char *buf, size_t sz)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The recipients of a notice, each once, and whether they tell it. */
struct nrcpts {
	const char	*addr[NOTICE_RCPTS_MAX];
	size_t		 n;
	int		 told;
};

static void
nr_add(struct nrcpts *nr, const char *addr)
{
	size_t i;

	for (i = 0; i < nr->n; i++)
		if (strcasecmp(nr->addr[i], addr) == 0)
			return;
	if (nr->n < NOTICE_RCPTS_MAX)
		nr->addr[nr->n++] = addr;
}

static void
nr_build(const struct conf *conf, const struct tenant_conf *tc,
    enum notice_kind k, struct nrcpts *nr)
{
	uint8_t	roles = kind_roles(k);
	size_t	i;

	memset(nr, 0, sizeof(*nr));
	for (i = 0; i < tc->ncontacts; i++)
		if (tc->contacts[i].roles & roles)
			nr_add(nr, tc->contacts[i].email);
	/* A report with no policy or billing contact: the technical. */
	for (i = 0; nr->n == 0 && (k == NK_REPORT || k == NK_MONTHLY) &&
	    i < tc->ncontacts; i++)
		if (tc->contacts[i].roles & CONTACT_TECHNICAL)
			nr_add(nr, tc->contacts[i].email);
	if (nr->n == 0)
		nr_add(nr, tc->postmaster);
	for (i = 0; i < nr->n; i++)
		if (!conf_tenant_owns(conf, tc, nr->addr[i]))
			nr->told = 1;
	nr_add(nr, conf->postmaster);
}

/* Where a recipient goes: a tenant's own servers, or its MX. */
int
notice_rcpt_route(const struct conf *conf, struct rcpt *r, const char *addr)
{
	const struct tenant_conf	*owner;
	const char			*at = strrchr(addr, '@');
	size_t				 i;

	if (at == NULL || at[1] == '\0' ||
	    (r->addr = strdup(addr)) == NULL ||
	    (r->domain = strdup(at + 1)) == NULL)
		return -1;
	for (i = 0; r->domain[i] != '\0'; i++)
		if (r->domain[i] >= 'A' && r->domain[i] <= 'Z')
			r->domain[i] += 'a' - 'A';
	if (r->domain[0] != '[' &&
	    (owner = conf_domain_tenant(conf, r->domain)) != NULL) {
		r->dir = DIR_INBOUND;
		r->route = ROUTE_TENANT;
		strlcpy(r->tenant, owner->name, sizeof(r->tenant));
	} else {
		r->dir = DIR_OUTBOUND;
		r->route = ROUTE_MX;
	}
	return 0;
}

/* From the postmaster, to each; never bounced (ENVF_BOUNCE). */
static struct envelope *
notice_envelope(const struct conf *conf, const struct nrcpts *nr)
{
	struct envelope	*e;
	struct rcpt	*r;
	size_t		 i;

	if ((e = envelope_new()) == NULL)
		return NULL;
	if ((e->sender = strdup(conf->postmaster)) == NULL)
		goto fail;
	strlcpy(e->helo, "localhost", sizeof(e->helo));
	e->client.af = AF_INET;
	e->created = time(NULL);
	e->body = BODY_7BIT;
	e->flags = ENVF_BOUNCE | ENVF_NOTICE;
	for (i = 0; i < nr->n; i++)
		if ((r = envelope_add_rcpt(e)) == NULL ||
		    notice_rcpt_route(conf, r, nr->addr[i]) == -1)
			goto fail;
	return e;
fail:
	envelope_free(e);
	return NULL;
}

static void
notice_subject(struct tbuf *b, const struct tstate *t, enum notice_kind k,
    int64_t now)
{
	switch (k) {
	case NK_REPORT:
	case NK_MONTHLY:
		report_subject(b, t, k, now);
		break;
	case NK_OUTAGE:
		tb_printf(b, "%s: its mail servers do not accept mail (%llu "
		    "messages held)", t->name,
		    (unsigned long long)t->held_msgs);
		break;
	case NK_RECOVERY:
		tb_printf(b, "%s: its mail servers accept mail again",
		    t->name);
		break;
	case NK_DEFER_ALL:
		tb_printf(b, "%s: its new mail is deferred", t->name);
		break;
	case NK_VOLUME:
		tb_printf(b, "%s: daily volume limit reached", t->name);
		break;
	case NK_SUSPENDED:
		tb_printf(b, "%s: user %s suspended", t->name,
		    t->suspended_user);
		break;
	default:
		tb_printf(b, "%s: test notice", t->name);
		break;
	}
}

static void
notice_servers(struct tbuf *b, const struct tenant_conf *tc)
{
	size_t i;

	tb_printf(b, "Servers:         ");
	for (i = 0; i < tc->ndeliver_to; i++)
		tb_printf(b, "%s%s:%u", i > 0 ? ", " : "",
		    tc->deliver_to[i].host, tc->deliver_to[i].port);
	tb_printf(b, "\r\n");
}

/* The figures every notice about the servers gives. */
static void
notice_facts(struct tbuf *b, const struct tstate *t,
    const struct tenant_conf *tc)
{
	char d[64];

	notice_servers(b, tc);
	tb_printf(b, "Mode:            %s\r\n", tc->inbound_mode ==
	    INBOUND_BACKUP ? "backup" : "relay");
	notice_utc(t->failing_since, d, sizeof(d));
	tb_printf(b, "Failing since:   %s\r\n", t->failing_since ? d :
	    "no longer");
	notice_utc(t->last_ok, d, sizeof(d));
	tb_printf(b, "Last accepted:   %s\r\n", d);
	tb_printf(b, "Held messages:   %llu (%llu octets)\r\n",
	    (unsigned long long)t->held_msgs,
	    (unsigned long long)t->held_octets);
	tb_printf(b, "Last error:      %s\r\n", t->last_error[0] ?
	    t->last_error : "none");
}

static void
notice_body(struct tbuf *b, struct queued *q, const struct tstate *t,
    const struct tenant_conf *tc, enum notice_kind k, int64_t now)
{
	const struct conf	*conf = q->conf;
	char			 age[32], d[64], roles[64];
	size_t			 i;

	tb_printf(b, "This is the mail relay %s, writing on behalf of its "
	    "operator\r\n<%s> about the tenant %s.\r\n\r\n", conf->hostname,
	    conf->postmaster, t->name);
	switch (k) {
	case NK_REPORT:
	case NK_MONTHLY:
		report_body(b, q, t, k, now);
		return;
	case NK_OUTAGE:
		format_age(now - t->failing_since, age, sizeof(age));
		tb_printf(b, "The mail servers of %s have accepted nothing "
		    "from this relay for %s:\r\nthey refuse the mail, or "
		    "cannot be reached.  The relay keeps what it\r\nholds "
		    "and tries again; no one needs to send it again.\r\n\r\n",
		    t->name, age);
		notice_facts(b, t, tc);
		format_age(tc->inbound_mode == INBOUND_BACKUP ? tc->hold :
		    conf->queue.lifetime, age, sizeof(age));
		tb_printf(b, "\r\nHeld mail not delivered within %s of its "
		    "arrival is returned to\r\nits senders.\r\n", age);
		break;
	case NK_RECOVERY:
		notice_utc(t->last_ok, d, sizeof(d));
		tb_printf(b, "The mail servers of %s accept mail from this "
		    "relay again, since\r\n%s.  What was held for them "
		    "is on its way.\r\n\r\n", t->name, d);
		notice_facts(b, t, tc);
		break;
	case NK_DEFER_ALL:
		format_age(now - t->failing_since, age, sizeof(age));
		format_age(tc->defer_all_after, d, sizeof(d));
		tb_printf(b, "The mail servers of %s have accepted nothing "
		    "from this relay for %s,\r\nlonger than its "
		    "inbound.defer_all_after (%s), although mail was\r\n"
		    "tried.  New mail for %s is now deferred: senders are "
		    "told to try\r\nagain later, until the servers accept a "
		    "message from this relay.\r\n\r\n", t->name, age, d,
		    t->name);
		notice_facts(b, t, tc);
		break;
	case NK_VOLUME:
		tb_printf(b, "%s has reached its daily volume limit (UTC day)"
		    ": %llu messages,\r\n%llu octets accepted today; the "
		    "limits are %llu messages and %llu octets\r\n(0: none).  "
		    "Further mail for it is deferred until tomorrow.\r\n",
		    t->name, (unsigned long long)t->volume_msgs,
		    (unsigned long long)t->volume_octets,
		    (unsigned long long)tc->daily_messages,
		    (unsigned long long)tc->daily_bytes);
		break;
	case NK_SUSPENDED:
		tb_printf(b, "The user %s of %s may send no more mail through "
		    "this relay:\r\n%s.  Its SMTP AUTH is refused, and the "
		    "sessions it had\r\nauthenticated relay nothing more.  "
		    "Please check the account (a\r\nstolen password sends "
		    "spam); the operator lifts the suspension with\r\n"
		    "relayctl auth resume %s %s.\r\n", t->suspended_user,
		    t->name, t->suspended_by_rate ? "it sent more messages "
		    "in a minute than auth.user_message_rate\r\nallows" :
		    "the relay's operator suspended it", t->name,
		    t->suspended_user);
		break;
	default:
		tb_printf(b, "This is a test notice, sent on the operator's "
		    "request (relayctl notices\r\ntest), to show that the "
		    "contacts of %s are right:\r\n\r\n", t->name);
		for (i = 0; i < tc->ncontacts; i++) {
			conf_roles_format(tc->contacts[i].roles, roles,
			    sizeof(roles));
			tb_printf(b, "  <%s> %s%s(%s)\r\n",
			    tc->contacts[i].email, tc->contacts[i].name ?
			    tc->contacts[i].name : "", tc->contacts[i].name ?
			    " " : "", roles);
		}
		tb_printf(b, "  <%s> the tenant's postmaster\r\n",
		    tc->postmaster);
		break;
	}
	format_age(conf->notices.interval, age, sizeof(age));
	tb_printf(b, "\r\nA notice of this kind is sent at most once every "
	    "%s.\r\n", age);
}

/*
 * Everything after the Message-ID field (the worker adds that).  The
 * body is ASCII but for contacts' names, which may be UTF-8; *eightbit
 * says so.
 */
static void
notice_compose(struct tbuf *b, struct queued *q, const struct tstate *t,
    const struct tenant_conf *tc, enum notice_kind k,
    const struct nrcpts *nr, int64_t now, int *eightbit)
{
	struct tbuf	text;
	char		date[64];
	size_t		i;

	memset(&text, 0, sizeof(text));
	notice_body(&text, q, t, tc, k, now);
	*eightbit = 0;
	for (i = 0; i < text.len; i++)
		if ((unsigned char)text.p[i] >= 0x80)
			*eightbit = 1;

	tb_printf(b, "From: \"Mail relay %s\" <%s>\r\n", q->conf->hostname,
	    q->conf->postmaster);
	for (i = 0; i < nr->n; i++)
		tb_printf(b, "%s<%s>%s\r\n", i == 0 ? "To: " : "\t",
		    nr->addr[i], i + 1 < nr->n ? "," : "");
	tb_printf(b, "Subject: [%s] ", q->conf->hostname);
	notice_subject(b, t, k, now);
	notice_date(now, date, sizeof(date));
	tb_printf(b, "\r\nDate: %s\r\n", date);
	tb_printf(b, "Auto-Submitted: auto-generated\r\n");
	tb_printf(b, "X-Relayd-Notice: %s; tenant=%s\r\n",
	    notice_kind_name(k), t->name);
	tb_printf(b, "MIME-Version: 1.0\r\nContent-Type: text/plain; "
	    "charset=%s\r\nContent-Transfer-Encoding: %s\r\n\r\n",
	    *eightbit ? "utf-8" : "us-ascii", *eightbit ? "8bit" : "7bit");
	if (text.err)
		b->err = 1;
	else if (text.len > 0)
		tb_printf(b, "%s", text.p);
	free(text.p);
}

static void
spec_free(struct notice_spec *n)
{
	if (n == NULL)
		return;
	free(n->hostname);
	free(n->text);
	free(n);
}

/*
 * Queue a notice of this kind to the tenant now; -1 with why when it
 * cannot be (it is tried again later).  ctl_req: relayctl's request,
 * answered once the notice is queued.
 */
int
notice_send(struct queued *q, struct tstate *t, enum notice_kind k,
    uint64_t ctl_req, char *err, size_t errsz)
{
	const struct tenant_conf	*tc;
	struct notice_spec		*n;
	struct nrcpts			 nr;
	struct tstate			 next;
	struct tbuf			 b;
	struct task			*j = NULL;
	struct mw			 w;
	int64_t				 now = time(NULL);
	int				 eightbit;

	/* A report's month is the test clock's, as its counters' days. */
	if (k == NK_REPORT || k == NK_MONTHLY)
		now = clock_now();
	if ((tc = t->tc) == NULL) {
		snprintf(err, errsz, "the tenant is not configured");
		return -1;
	}
	if (q->store == NULL) {
		snprintf(err, errsz, "the queue is not open");
		return -1;
	}
	if (t->noticing) {
		snprintf(err, errsz, "another notice to the tenant is being "
		    "written; try again in a moment");
		return -1;
	}
	if (q->census_at < now)
		tenant_census(q);
	nr_build(q->conf, tc, k, &nr);
	memset(&b, 0, sizeof(b));
	notice_compose(&b, q, t, tc, k, &nr, now, &eightbit);
	/* The state as it will be once the notice is queued. */
	next = *t;
	next.notices[k].at = now;
	next.notices[k].count++;
	next.notices[k].told = (uint8_t)nr.told;
	if (k == NK_OUTAGE)
		next.outage_told = 1;
	else if (k == NK_RECOVERY)
		next.outage_told = 0;
	if (b.err || (n = calloc(1, sizeof(*n))) == NULL) {
		free(b.p);
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	n->kind = k;
	n->text = b.p;
	n->len = b.len;
	n->told = nr.told;
	n->at = now;
	n->ctl_req = ctl_req;
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (n->hostname = strdup(q->conf->hostname)) == NULL ||
	    (j->env = notice_envelope(q->conf, &nr)) == NULL)
		goto fail;
	if (tenant_encode(&next, &w) == -1 ||
	    (j->blob = malloc(w.len)) == NULL) {
		mw_release(&w);
		goto fail;
	}
	memcpy(j->blob, w.buf, w.len);
	j->bloblen = w.len;
	mw_release(&w);
	if (eightbit)
		j->env->body = BODY_8BITMIME;
	j->kind = TASK_NOTICE;
	j->fd = -1;
	j->notice = n;
	strlcpy(j->tenant, t->name, sizeof(j->tenant));
	t->noticing = 1;
	/* The blob holds everything: nothing else is to be written. */
	t->dirty = 0;
	t->stored_ok = t->last_ok;
	committer_submit(q->cm, j);
	return 0;
fail:
	spec_free(n);
	if (j != NULL) {
		envelope_free(j->env);
		free(j);
	}
	snprintf(err, errsz, "out of memory");
	return -1;
}

/*
 * A worker's: the file, named by a new id, synced.  The envelope gets
 * its id and size; on failure the file is gone.
 */
int
notice_write(int spool_fd, struct task *j, char *err, size_t errsz)
{
	const struct notice_spec	*n = j->notice;
	char				 qid[32], head[128];
	uint64_t			 id;
	int				 fd, len, saved;

	if ((fd = spool_create(spool_fd, &id)) == -1) {
		snprintf(err, errsz, "spool file: %s", strerror(errno));
		return -1;
	}
	queue_id_format(id, qid, sizeof(qid));
	len = snprintf(head, sizeof(head), "Message-ID: <%s.notice@%s>\r\n",
	    qid, n->hostname);
	if (len < 0 || (size_t)len >= sizeof(head))
		len = snprintf(head, sizeof(head), "Message-ID: <%s.notice@"
		    "relayd.invalid>\r\n", qid);
	if ((saved = write_full(fd, head, (size_t)len, NULL)) != 0 ||
	    (saved = write_full(fd, n->text, n->len, NULL)) != 0 ||
	    (fsync(fd) == -1 && (saved = errno) != 0)) {
		snprintf(err, errsz, "writing: %s", strerror(saved));
		close(fd);
		unlinkat(spool_fd, qid, 0);
		errno = saved;
		return -1;
	}
	close(fd);
	j->env->id = id;
	j->env->size = (uint64_t)len + n->len;
	return 0;
}

static void
log_notice(struct queued *q, const struct task *j, const char *qid)
{
	const struct envelope	*e = j->env;
	char			 to[1024];
	size_t			 i;

	(void)q;
	if (j->notice->kind == NK_ANNOUNCE) {
		log_info("announce msgid=%s from=<%s> status=queued (to %zu "
		    "addresses, each once)", qid, e->sender, e->nrcpts);
		return;
	}
	to[0] = '\0';
	for (i = 0; i < e->nrcpts; i++) {
		if (i > 0)
			strlcat(to, ",", sizeof(to));
		strlcat(to, "<", sizeof(to));
		strlcat(to, e->rcpts[i].addr, sizeof(to));
		strlcat(to, ">", sizeof(to));
	}
	log_info("tenant=%s notice=%s msgid=%s from=<%s> to=%s status=queued "
	    "(%s)", j->tenant, notice_kind_name(j->notice->kind), qid,
	    e->sender, to, j->notice->told ? "told: a contact outside the "
	    "tenant's domains" : "not told: no contact outside the tenant's "
	    "domains");
}

/* Committed (or not): the notice joins the queue, its record the state. */
void
notice_task_done(struct queued *q, struct task *j)
{
	struct notice_spec	*n = j->notice;
	struct tstate		*t = tenant_find(q, j->tenant);
	struct qmsg		*m;
	char			 qid[32], line[256];

	if (t != NULL)
		t->noticing = 0;
	if (j->err != 0) {
		log_warnx("tenant=%s: the %s notice could not be queued: %s; "
		    "tried again in %us", j->tenant, notice_kind_name(n->kind),
		    strerror(j->err), q->conf->queue.retry_min);
		if (j->env != NULL && j->env->id != 0)
			spool_unlink(q->spool_fd, j->env->id);
		envelope_free(j->env);
		if (t != NULL) {
			t->notice_retry = time(NULL) + q->conf->queue.retry_min;
			t->dirty = 1;
			if (n->kind == NK_VOLUME)
				t->volume_due = 1;
			if (n->kind == NK_SUSPENDED)
				t->suspended_due = 1;
		}
		if (n->ctl_req != 0)
			ctl_done(q, n->ctl_req, 0, "the notice could not be "
			    "queued; see the log");
	} else {
		queue_id_format(j->env->id, qid, sizeof(qid));
		log_notice(q, j, qid);
		if (t != NULL) {
			t->notices[n->kind].at = n->at;
			t->notices[n->kind].count++;
			t->notices[n->kind].told = (uint8_t)n->told;
			if (n->kind == NK_OUTAGE)
				t->outage_told = 1;
			else if (n->kind == NK_RECOVERY)
				t->outage_told = 0;
		}
		m = queue_insert(q, j->env);
		sched_add(q, m);
		if (n->ctl_req != 0) {
			snprintf(line, sizeof(line), "%s notice msgid=%s "
			    "queued to %zu recipients%s",
			    notice_kind_name(n->kind), qid, j->env->nrcpts,
			    n->told ? "" : "; none outside the tenant's "
			    "domains");
			ctl_line(q, n->ctl_req, line);
			ctl_done(q, n->ctl_req, 1, NULL);
		}
	}
	spec_free(n);
	free(j->blob);
	free(j);
}

/*
 * policyd refused mail for a tenant past its daily volume (M_PQ_VOLUME):
 * its contacts hear of it, once per interval.
 */
void
notice_volume(struct queued *q, struct imsg *imsg)
{
	struct tstate	*t;
	struct mr	 r;
	char		 tenant[TENANT_MAX + 1];
	uint64_t	 msgs, octets;

	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, tenant, sizeof(tenant));
	msgs = mr_u64(&r);
	octets = mr_u64(&r);
	if (mr_end(&r) == -1 || tenant[0] == '\0')
		child_peer_broken(q->child, PROC_POLICYD, imsg, "volume");
	/* A tenant a reload removed meanwhile: nothing to tell. */
	if ((t = tenant_find(q, tenant)) == NULL || t->tc == NULL)
		return;
	log_info("tenant=%s: daily volume limit reached (%llu messages, %llu "
	    "octets today)", tenant, (unsigned long long)msgs,
	    (unsigned long long)octets);
	t->volume_due = 1;
	t->volume_msgs = msgs;
	t->volume_octets = octets;
}

/*
 * policyd suspended a user of a tenant (M_PQ_SUSPENDED): its contacts
 * are told at the next tick.
 */
void
notice_suspended(struct queued *q, struct imsg *imsg)
{
	struct tstate	*t;
	struct mr	 r;
	char		 tenant[TENANT_MAX + 1], user[AUTH_USER_MAX + 1];
	uint8_t		 by_rate;
	size_t		 i;

	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, tenant, sizeof(tenant));
	mr_str(&r, user, sizeof(user));
	by_rate = mr_u8(&r);
	if (mr_end(&r) == -1 || tenant[0] == '\0' || user[0] == '\0' ||
	    by_rate > 1)
		child_peer_broken(q->child, PROC_POLICYD, imsg, "suspended");
	/* It goes into a Subject: printable ASCII only. */
	for (i = 0; user[i] != '\0'; i++)
		if (user[i] < '!' || user[i] > '~')
			user[i] = '?';
	if ((t = tenant_find(q, tenant)) == NULL || t->tc == NULL)
		return;
	strlcpy(t->suspended_user, user, sizeof(t->suspended_user));
	t->suspended_by_rate = by_rate;
	t->suspended_due = 1;
}

/*
 * scheduler: when each recipient is tried, and what happens when it
 * cannot be delivered.
 *
 * A new message is handed to deliverd as soon as its commit is durable.
 * Retries back off from queue.retry_min, doubling up to queue.retry_max
 * (not RFC 5321's 30 minutes: tenants want their mail the moment their
 * server is back).  A destination that refuses everything is "down"; the
 * first delivery that gets through to it reschedules everything deferred
 * for it at once.  A recipient still undelivered at the end of its
 * lifetime (the tenant's inbound.hold for a backup MX, queue.lifetime
 * otherwise, queue.bounce_lifetime for our own notices) bounces.
 *
 * Notices are never sent for the null sender, and a notice is never
 * bounced: one that fails for good is dropped and logged.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "idn.h"
#include "mailaddr.h"
#include "log.h"
#include "marshal.h"
#include "queue_stats.h"
#include "queued.h"

static void	sched_run(int, short, void *);

int
sched_cmp(struct qmsg *a, struct qmsg *b)
{
	if (a->next != b->next)
		return a->next < b->next ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(sched_tree, qmsg, sched, sched_cmp)

int
qdest_cmp(struct qdest *a, struct qdest *b)
{
	return strcmp(a->key, b->key);
}

RB_GENERATE(qdest_tree, qdest, entry, qdest_cmp)

static size_t
job_window(const struct queued *q)
{
	return q->job_window;
}

void
sched_init(struct queued *q)
{
	RB_INIT(&q->schedule);
	RB_INIT(&q->dests);
	RB_INIT(&q->jobs);
	if ((q->sched_timer = evtimer_new(q->child->base, sched_run, q)) ==
	    NULL)
		fatalx("scheduler timer");
}

uint32_t
rcpt_lifetime(struct queued *q, const struct envelope *e,
    const struct rcpt *r)
{
	if (e->flags & ENVF_BOUNCE)
		return q->conf->queue.bounce_lifetime;
	return route_lifetime(q, r);
}

static void
unschedule(struct queued *q, struct qmsg *m)
{
	if (m->scheduled) {
		RB_REMOVE(sched_tree, &q->schedule, m);
		m->scheduled = 0;
	}
}

/* A notice about this recipient is owed and not being written. */
static int
notice_due(const struct qmsg *m, size_t i)
{
	return (m->env->rcpts[i].flags & RF_NOTICE_OWED) &&
	    !(m->busy[i] & BUSY_NOTICE);
}

/*
 * Due again at the earliest next attempt of a recipient still to go, or
 * of a notice still owed.
 */
static void
reschedule(struct queued *q, struct qmsg *m)
{
	const struct envelope	*e = m->env;
	int64_t			 next = INT64_MAX;
	size_t			 i;

	unschedule(q, m);
	if (m->gone || m->removing || (e->flags & ENVF_HOLD) || q->conf == NULL)
		return;
	for (i = 0; i < e->nrcpts; i++)
		if ((e->rcpts[i].status == RS_PENDING || notice_due(m, i)) &&
		    !m->busy[i] && e->rcpts[i].next_attempt < next)
			next = e->rcpts[i].next_attempt;
	if (next == INT64_MAX)
		return;
	m->next = next;
	RB_INSERT(sched_tree, &q->schedule, m);
	m->scheduled = 1;
}

void
sched_wake(struct queued *q)
{
	struct qmsg	*m;
	struct timeval	 tv = { 0, 0 };
	int64_t		 now = time(NULL);

	if ((m = RB_MIN(sched_tree, &q->schedule)) == NULL) {
		evtimer_del(q->sched_timer);
		return;
	}
	if (m->next > now)
		tv.tv_sec = m->next - now;
	evtimer_add(q->sched_timer, &tv);
}

void
sched_add(struct queued *q, struct qmsg *m)
{
	if (m->busy == NULL &&
	    (m->busy = calloc(m->env->nrcpts, 1)) == NULL)
		fatal("scheduler");
	reschedule(q, m);
	sched_wake(q);
}

static int
all_final(const struct envelope *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++)
		if (e->rcpts[i].status == RS_PENDING ||
		    (e->rcpts[i].flags & RF_NOTICE_OWED))
			return 0;
	return 1;
}

/* Write the message's state: updated, or deleted once it is all done. */
void
sched_persist(struct queued *q, struct qmsg *m)
{
	struct task	*j;
	struct mw	 w;

	if (m->gone)
		return;
	if (m->dsns > 0) {
		/* A notice is being written: its commit goes first. */
		m->dirty = 1;
		return;
	}
	m->dirty = 0;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("queue update");
	j->id = m->id;
	j->fd = -1;
	if (m->njobs == 0 && (all_final(m->env) || m->removing)) {
		j->kind = TASK_DELETE;
		committer_submit(q->cm, j);
		rec_final(q, m);
		queue_remove(q, m);
		return;
	}
	if (envelope_encode(m->env, &w) == -1 ||
	    (j->blob = malloc(w.len)) == NULL)
		fatal("queue update");
	memcpy(j->blob, w.buf, w.len);
	j->bloblen = w.len;
	mw_release(&w);
	j->kind = TASK_PUT;
	committer_submit(q->cm, j);
}

/* Who a notice for this message goes to, and by which route. */
static int
notice_route(struct queued *q, const struct envelope *e,
    struct dsn_spec *s)
{
	const struct tenant_conf	*t;
	const char			*at;
	char				 dom[MAILADDR_DOMAIN_MAX + 1];

	if ((at = strrchr(e->sender, '@')) == NULL)
		return -1;
	/* A UTF-8 sender's domain is routed by its A-label. */
	if (at[1] == '[')
		strlcpy(dom, at + 1, sizeof(dom));
	else if (idn_to_alabel(at + 1, dom, sizeof(dom)) == -1)
		return -1;
	if ((s->domain = strdup(dom)) == NULL)
		return -1;
	if (dom[0] != '[' && (t = conf_domain_tenant(q->conf, dom)) != NULL) {
		s->dir = DIR_INBOUND;
		s->route = ROUTE_TENANT;
		strlcpy(s->tenant, t->name, sizeof(s->tenant));
	} else {
		s->dir = DIR_OUTBOUND;
		s->route = ROUTE_MX;
		strlcpy(s->tenant, e->nrcpts > 0 ? e->rcpts[0].tenant : "",
		    sizeof(s->tenant));
	}
	return 0;
}

/* " to <sender>" in a notice's log line, with log.addresses. */
static const char *
notice_to(struct queued *q, char *buf, size_t sz, const char *sender)
{
	if (!q->conf->log.addresses)
		return "";
	snprintf(buf, sz, " to <%s>", sender);
	return buf;
}

static const char *
kind_name(enum dsn_kind k)
{
	return k == DSN_FAILURE ? "failure" : k == DSN_DELAY ? "delay" :
	    "success";
}

/* A notice of some recipients' fate goes to the sender, if anyone. */
static void
sched_notify(struct queued *q, struct qmsg *m, enum dsn_kind kind,
    struct dsn_item *items, size_t n)
{
	struct envelope		*e = m->env;
	struct dsn_spec		*s;
	struct task		*j;
	char			 qid[32], name[32], to[600];
	size_t			 i;

	queue_id_format(m->id, qid, sizeof(qid));
	if (n == 0)
		return;
	if (e->sender[0] == '\0' || (e->flags & ENVF_BOUNCE)) {
		log_info("msgid=%s: no %s notice: %s", qid, kind_name(kind),
		    (e->flags & ENVF_BOUNCE) ? "a notice is never bounced; "
		    "dropped" : "the sender is <>");
		goto drop;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL || (j = calloc(1,
	    sizeof(*j))) == NULL)
		fatal("notice");
	s->kind = kind;
	s->orig = m;
	s->orig_id = m->id;
	s->sender = strdup(e->sender);
	strlcpy(s->envid, e->envid, sizeof(s->envid));
	s->ret = e->ret;
	s->smtputf8 = e->smtputf8;
	s->arrival = e->created;
	s->hostname = strdup(q->conf->hostname);
	s->items = items;
	s->nitems = n;
	if (kind == DSN_DELAY && e->nrcpts > 0)
		s->retry_until = e->created + rcpt_lifetime(q, e, &e->rcpts[0]);
	queue_id_format(m->id, name, sizeof(name));
	s->orig_fd = openat(q->spool_fd, name, O_RDONLY | O_CLOEXEC);
	if (s->sender == NULL || s->hostname == NULL ||
	    notice_route(q, e, s) == -1) {
		log_warnx("msgid=%s: cannot route a %s notice%s; dropped",
		    qid, kind_name(kind), notice_to(q, to, sizeof(to),
		    e->sender));
		s->items = NULL;
		s->nitems = 0;
		dsn_spec_free(s);
		free(j);
		goto drop;
	}
	j->kind = TASK_DSN;
	j->id = m->id;
	j->fd = -1;
	j->dsn = s;
	m->dsns++;
	if (kind != DSN_DELAY)
		for (i = 0; i < n; i++)
			m->busy[items[i].idx] |= BUSY_NOTICE;
	committer_submit(q->cm, j);
	return;
drop:
	/* A notice that will never be sent is not owed. */
	if (kind != DSN_DELAY)
		for (i = 0; i < n; i++)
			e->rcpts[items[i].idx].flags &= ~RF_NOTICE_OWED;
	for (i = 0; i < n; i++) {
		free(items[i].rcpt);
		free(items[i].orcpt);
		free(items[i].diag);
		free(items[i].remote);
	}
	free(items);
}

/*
 * A notice that could not be written (a full disk): its recipients still
 * owe it, and it is tried again after queue.retry_min; a delay notice is
 * simply due again.
 */
static void
notice_failed(struct queued *q, struct qmsg *m, const struct dsn_spec *s)
{
	size_t i;

	if (s->kind == DSN_DELAY) {
		m->env->flags &= ~ENVF_WARNED;
		return;
	}
	for (i = 0; i < s->nitems; i++)
		m->env->rcpts[s->items[i].idx].next_attempt = time(NULL) +
		    q->conf->queue.retry_min;
}

/* The notice is written and committed (or not): queue it. */
void
sched_dsn_done(struct queued *q, struct task *j)
{
	struct dsn_spec	*s = j->dsn;
	struct qmsg	*m = s->orig;
	struct qmsg	*n;
	char		 qid[32], nid[32], to[600];
	size_t		 i;

	queue_id_format(s->orig_id, qid, sizeof(qid));
	if (s->kind != DSN_DELAY)
		for (i = 0; i < s->nitems; i++)
			m->busy[s->items[i].idx] &= ~BUSY_NOTICE;
	if (j->err != 0) {
		log_warnx("msgid=%s: the %s notice%s could not be queued: %s; "
		    "it will be tried again", qid, kind_name(s->kind),
		    notice_to(q, to, sizeof(to), s->sender), strerror(j->err));
		envelope_free(j->env);
		notice_failed(q, m, s);
	} else {
		queue_id_format(j->env->id, nid, sizeof(nid));
		log_info("msgid=%s: %s notice msgid=%s%s queued", qid,
		    kind_name(s->kind), nid, notice_to(q, to, sizeof(to),
		    s->sender));
		n = queue_insert(q, j->env);
		rec_notice(q, m, n, kind_name(s->kind));
		sched_add(q, n);
		if (s->kind != DSN_DELAY)
			for (i = 0; i < s->nitems; i++)
				m->env->rcpts[s->items[i].idx].flags &=
				    ~RF_NOTICE_OWED;
	}
	dsn_spec_free(s);
	m->dsns--;
	m->dirty = 1;
	if (m->dsns == 0 && !m->gone) {
		sched_persist(q, m);
		if (!m->gone)
			reschedule(q, m);
		sched_wake(q);
	}
	queue_release(q, m);
}

static struct dsn_item *
add_item(struct dsn_item **items, size_t *n, const struct qmsg *m, size_t i,
    const char *status, const char *diag, const char *remote)
{
	const struct rcpt	*r = &m->env->rcpts[i];
	struct dsn_item		*it;

	if ((it = reallocarray(*items, *n + 1, sizeof(**items))) == NULL)
		fatal("notice");
	*items = it;
	it = &(*items)[(*n)++];
	memset(it, 0, sizeof(*it));
	it->idx = i;
	it->rcpt = strdup(r->addr);
	it->orcpt = r->orcpt ? strdup(r->orcpt) : NULL;
	strlcpy(it->status, status, sizeof(it->status));
	it->diag = strdup(diag ? diag : "");
	it->remote = remote && remote[0] ? strdup(remote) : NULL;
	if (it->rcpt == NULL || it->diag == NULL)
		fatal("notice");
	return it;
}

/*
 * This recipient's fate must reach the sender: owed until the notice is
 * committed, and kept in the envelope so that a notice that cannot be
 * written now (or is lost in a crash) is written later.
 */
static void
owe_notice(struct qmsg *m, size_t i, const char *status, const char *remote,
    struct dsn_item **items, size_t *n, const char *diag)
{
	struct rcpt *r = &m->env->rcpts[i];

	r->flags |= RF_NOTICE_OWED;
	strlcpy(r->dsn, status, sizeof(r->dsn));
	free(r->remote);
	r->remote = remote && remote[0] ? strdup(remote) : NULL;
	add_item(items, n, m, i, status, diag, remote);
}

/* A recipient that has failed for good: a failure notice, if wanted. */
void
rcpt_bounce(struct queued *q, struct qmsg *m, size_t i, const char *status,
    const char *diag, const char *remote, struct dsn_item **items,
    size_t *n)
{
	struct rcpt	*r = &m->env->rcpts[i];
	char		 qid[32], from[600], to[600];
	int		 on = q->conf->log.addresses;

	queue_id_format(m->id, qid, sizeof(qid));
	r->status = RS_BOUNCED;
	free(r->last_error);
	r->last_error = strdup(diag);
	q->bounced++;
	stats_count(q, r->tenant, ST_BOUNCED, 1);
	qmx_count(q, r->tenant, QMX_BOUNCED);
	log_info("msgid=%s tenant=%s%s%s dsn=%s status=bounced (%s)", qid,
	    r->tenant[0] ? r->tenant : "-", log_addr(from, sizeof(from), on,
	    "from", m->env->sender), log_addr(to, sizeof(to), on, "to",
	    r->addr), status, diag);
	if (r->notify & NOTIFY_NEVER)
		return;
	if (r->notify != 0 && !(r->notify & NOTIFY_FAILURE))
		return;
	owe_notice(m, i, status, remote, items, n, diag);
}

/* Recipients past their lifetime bounce with 4.4.7. */
static void
expire(struct queued *q, struct qmsg *m, int64_t now)
{
	struct envelope	*e = m->env;
	struct dsn_item	*items = NULL;
	size_t		 i, n = 0;
	char		 diag[600];
	int		 changed = 0;

	for (i = 0; i < e->nrcpts; i++) {
		struct rcpt *r = &e->rcpts[i];

		if (r->status != RS_PENDING || m->busy[i] ||
		    now < e->created + (int64_t)rcpt_lifetime(q, e, r))
			continue;
		snprintf(diag, sizeof(diag), "delivery time expired%s%s",
		    r->last_error ? ": " : "", r->last_error ?
		    r->last_error : "");
		rec_rcpt(q, m, i, "expired", "4.4.7", diag);
		rcpt_bounce(q, m, i, "4.4.7", diag, NULL, &items, &n);
		changed = 1;
	}
	sched_notify(q, m, DSN_FAILURE, items, n);
	if (changed)
		sched_persist(q, m);
}

/* After queue.delay_warning, once: a delay notice to the sender. */
void
maybe_warn(struct queued *q, struct qmsg *m, int64_t now)
{
	struct envelope	*e = m->env;
	struct dsn_item	*items = NULL;
	size_t		 i, n = 0;

	if (q->conf->queue.delay_warning == 0 || (e->flags & ENVF_WARNED) ||
	    e->sender[0] == '\0' || (e->flags & ENVF_BOUNCE) ||
	    now - e->created < (int64_t)q->conf->queue.delay_warning)
		return;
	for (i = 0; i < e->nrcpts; i++) {
		struct rcpt *r = &e->rcpts[i];

		if (r->status != RS_PENDING || (r->notify & NOTIFY_NEVER) ||
		    (r->notify != 0 && !(r->notify & NOTIFY_DELAY)))
			continue;
		add_item(&items, &n, m, i, "4.0.0", r->last_error ?
		    r->last_error : "delivery is delayed", NULL);
	}
	e->flags |= ENVF_WARNED;
	sched_notify(q, m, DSN_DELAY, items, n);
	sched_persist(q, m);
}

/* Notices owed from before (a full disk, a restart): write them now. */
static void
notices_retry(struct queued *q, struct qmsg *m, int64_t now)
{
	struct envelope	*e = m->env;
	struct dsn_item	*fails = NULL, *relayed = NULL;
	size_t		 i, nfails = 0, nrelayed = 0;

	for (i = 0; i < e->nrcpts; i++) {
		struct rcpt *r = &e->rcpts[i];

		if (!notice_due(m, i) || r->next_attempt > now)
			continue;
		if (r->status == RS_SENT)
			add_item(&relayed, &nrelayed, m, i, r->dsn,
			    r->last_error, r->remote);
		else
			add_item(&fails, &nfails, m, i, r->dsn,
			    r->last_error, r->remote);
	}
	sched_notify(q, m, DSN_FAILURE, fails, nfails);
	sched_notify(q, m, DSN_RELAYED, relayed, nrelayed);
}

/* Due now: one job per destination for the recipients that are due. */
static void
run_message(struct queued *q, struct qmsg *m, int64_t now)
{
	struct envelope	*e = m->env;
	char		 key[ROUTE_KEY_MAX], other[ROUTE_KEY_MAX];
	uint32_t	*idx;
	size_t		 i, j, n;
	uint8_t		*taken;

	expire(q, m, now);
	if (m->gone)
		return;
	notices_retry(q, m, now);
	maybe_warn(q, m, now);
	if ((idx = calloc(e->nrcpts, sizeof(*idx))) == NULL ||
	    (taken = calloc(e->nrcpts, 1)) == NULL)
		fatal("scheduler");
	for (i = 0; i < e->nrcpts; i++) {
		if (taken[i] || e->rcpts[i].status != RS_PENDING ||
		    m->busy[i] || e->rcpts[i].next_attempt > now)
			continue;
		route_key(&e->rcpts[i], key, sizeof(key));
		n = 0;
		for (j = i; j < e->nrcpts; j++) {
			if (taken[j] || e->rcpts[j].status != RS_PENDING ||
			    m->busy[j] || e->rcpts[j].next_attempt > now)
				continue;
			route_key(&e->rcpts[j], other, sizeof(other));
			if (strcmp(key, other) != 0)
				continue;
			taken[j] = 1;
			idx[n++] = (uint32_t)j;
		}
		deliver_send(q, m, key, idx, n);
	}
	free(idx);
	free(taken);
	reschedule(q, m);
}

static void
sched_run(int fd, short ev, void *arg)
{
	struct queued	*q = arg;
	struct qmsg	*m;
	int64_t		 now = time(NULL);

	(void)fd;
	(void)ev;
	if (q->conf == NULL)
		return;
	while ((m = RB_MIN(sched_tree, &q->schedule)) != NULL &&
	    m->next <= now && q->njobs < job_window(q)) {
		unschedule(q, m);
		run_message(q, m, now);
	}
	/* A full window reopens when a job comes back (deliver_done). */
	if (q->njobs < job_window(q))
		sched_wake(q);
}

/* A destination got something through: what waits for it goes now. */
void
sched_dest_up(struct queued *q, const char *key)
{
	struct qmsg	*m, *next;
	char		 rk[ROUTE_KEY_MAX];
	int64_t		 now = time(NULL);
	size_t		 i, woke = 0;

	RB_FOREACH_SAFE(m, qmsg_tree, &q->queue, next) {
		int touched = 0;

		if (m->gone || (m->env->flags & ENVF_HOLD))
			continue;
		for (i = 0; i < m->env->nrcpts; i++) {
			struct rcpt *r = &m->env->rcpts[i];

			if (r->status != RS_PENDING || m->busy[i] ||
			    r->next_attempt <= now)
				continue;
			route_key(r, rk, sizeof(rk));
			if (strcmp(rk, key) != 0)
				continue;
			r->next_attempt = now;
			touched = 1;
		}
		if (touched) {
			reschedule(q, m);
			woke++;
		}
	}
	if (woke > 0)
		log_info("destination %s is back: %zu deferred messages "
		    "rescheduled", key, woke);
	sched_wake(q);
}

int
sched_flush(struct queued *q, struct qmsg *m)
{
	int64_t	now = time(NULL);
	size_t	i;
	int	n = 0;

	for (i = 0; i < m->env->nrcpts; i++)
		if (m->env->rcpts[i].status == RS_PENDING && !m->busy[i]) {
			m->env->rcpts[i].next_attempt = now;
			n++;
		}
	reschedule(q, m);
	sched_wake(q);
	return n;
}

void
sched_hold(struct queued *q, struct qmsg *m, int hold)
{
	if (hold)
		m->env->flags |= ENVF_HOLD;
	else {
		m->env->flags &= ~ENVF_HOLD;
		sched_flush(q, m);
	}
	sched_persist(q, m);
	reschedule(q, m);
	sched_wake(q);
}

void
sched_remove(struct queued *q, struct qmsg *m)
{
	size_t i;

	for (i = 0; i < m->env->nrcpts; i++)
		if (m->env->rcpts[i].status == RS_PENDING)
			m->env->rcpts[i].status = RS_REMOVED;
	m->removing = 1;
	rec_message(q, m, "removed", "removed by the operator");
	unschedule(q, m);
	/* With jobs out, the delete waits for them (deliver_done). */
	if (m->njobs == 0)
		sched_persist(q, m);
}

void
sched_bounce(struct queued *q, struct qmsg *m, const char *why)
{
	struct dsn_item	*items = NULL;
	size_t		 i, n = 0;

	for (i = 0; i < m->env->nrcpts; i++)
		if (m->env->rcpts[i].status == RS_PENDING && !m->busy[i]) {
			rec_rcpt(q, m, i, "bounced", "5.0.0", why);
			rcpt_bounce(q, m, i, "5.0.0", why, NULL, &items, &n);
		}
	sched_notify(q, m, DSN_FAILURE, items, n);
	sched_persist(q, m);
	reschedule(q, m);
}

/* queue_deliver.c hands results here: the recipient's fate. */
void
sched_result(struct queued *q, struct qmsg *m, size_t i, int result,
    const char *dsn, const char *diag, const char *remote, int dsn_passed,
    struct dsn_item **fails, size_t *nfails, struct dsn_item **relayed,
    size_t *nrelayed)
{
	struct envelope	*e = m->env;
	struct rcpt	*r = &e->rcpts[i];
	int64_t		 now = time(NULL);
	uint32_t	 backoff;
	char		 why[700];

	if (r->status != RS_PENDING)
		return;		/* removed meanwhile */
	switch (result) {
	case DR_SENT:
		r->status = RS_SENT;
		q->sent++;
		stats_count(q, r->tenant, ST_DELIVERED, 1);
		qmx_count(q, r->tenant, QMX_DELIVERED);
		if ((r->notify & NOTIFY_SUCCESS) && !dsn_passed) {
			/* The notice quotes the reply, now or on a retry. */
			free(r->last_error);
			r->last_error = strdup(diag);
			owe_notice(m, i, dsn, remote, relayed, nrelayed, diag);
		}
		return;
	case DR_PERMFAIL:
		rcpt_bounce(q, m, i, dsn, diag, remote, fails, nfails);
		return;
	}
	r->attempts++;
	stats_count(q, r->tenant, ST_DEFERRED, 1);
	free(r->last_error);
	r->last_error = strdup(diag);
	if (now < e->created + (int64_t)rcpt_lifetime(q, e, r))
		qmx_count(q, r->tenant, QMX_DEFERRED);
	backoff = q->conf->queue.retry_min;
	for (uint32_t k = 1; k < r->attempts && backoff <
	    q->conf->queue.retry_max; k++)
		backoff *= 2;
	if (backoff > q->conf->queue.retry_max)
		backoff = q->conf->queue.retry_max;
	r->next_attempt = now + backoff;
	if (now >= e->created + (int64_t)rcpt_lifetime(q, e, r)) {
		snprintf(why, sizeof(why), "delivery time expired: %s", diag);
		rec_rcpt(q, m, i, "expired", "4.4.7", why);
		rcpt_bounce(q, m, i, "4.4.7", why, remote, fails, nfails);
	}
}

/* The end of a job: notices, persistence, and the next attempt. */
void
sched_job_done(struct queued *q, struct qmsg *m, struct dsn_item *fails,
    size_t nfails, struct dsn_item *relayed, size_t nrelayed)
{
	int64_t now = time(NULL);

	sched_notify(q, m, DSN_FAILURE, fails, nfails);
	sched_notify(q, m, DSN_RELAYED, relayed, nrelayed);
	if (!m->removing)
		maybe_warn(q, m, now);
	sched_persist(q, m);
	if (!m->gone)
		reschedule(q, m);
	sched_wake(q);
}

/*
 * queue_metrics: queued's samples for a metrics scrape (metrics.h), and
 * the per-tenant counters behind them.
 *
 * Each tenant has five counters, in memory since queued started: in
 * (messages with a recipient of its inbound), out (with a recipient of
 * its outbound), and its recipients delivered, deferred (each attempt
 * put off) and bounced (failed for good, or expired).  "" is the
 * operator (bounces, postmaster).  The counting is a tree look-up and an
 * increment where the event happens; the scrape walks the tree.
 *
 * To extend: add a field to struct tcount and a QMX_* event, count it in
 * qmx_count, and give it a family in common/metrics.c; per-day stored
 * statistics can be read into the same samples in queue_metrics().
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "envelope.h"
#include "log.h"
#include "metrics.h"
#include "queued.h"

struct tcount {
	RB_ENTRY(tcount)	 entry;
	char			 name[TENANT_MAX + 1];
	uint64_t		 n[QMX_MAX];
};

RB_HEAD(tcount_tree, tcount);
int	 tcount_cmp(struct tcount *, struct tcount *);
RB_PROTOTYPE(tcount_tree, tcount, entry, tcount_cmp)

int
tcount_cmp(struct tcount *a, struct tcount *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(tcount_tree, tcount, entry, tcount_cmp)

static struct tcount *
tcount_get(struct queued *q, const char *tenant)
{
	struct tcount find, *t;

	if (q->tcounts == NULL &&
	    (q->tcounts = calloc(1, sizeof(*q->tcounts))) == NULL)
		return NULL;
	if (strlcpy(find.name, tenant, sizeof(find.name)) >= sizeof(find.name))
		return NULL;
	if ((t = RB_FIND(tcount_tree, q->tcounts, &find)) != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		log_warn("metrics: tenant %s not counted", tenant);
		return NULL;
	}
	strlcpy(t->name, tenant, sizeof(t->name));
	RB_INSERT(tcount_tree, q->tcounts, t);
	return t;
}

void
qmx_count(struct queued *q, const char *tenant, enum qmx_event ev)
{
	struct tcount *t;

	if (ev >= QMX_MAX)
		return;
	if (ev == QMX_DELIVERED || ev == QMX_DEFERRED || ev == QMX_BOUNCED)
		q->results[ev - QMX_DELIVERED]++;
	if ((t = tcount_get(q, tenant)) != NULL)
		t->n[ev]++;
}

/* A message queued: once per tenant and direction among its recipients. */
void
qmx_received(struct queued *q, const struct envelope *e)
{
	const struct rcpt	*r;
	size_t			 i, j;

	for (i = 0; i < e->nrcpts; i++) {
		r = &e->rcpts[i];
		for (j = 0; j < i; j++)
			if (e->rcpts[j].dir == r->dir &&
			    strcmp(e->rcpts[j].tenant, r->tenant) == 0)
				break;
		if (j == i)
			qmx_count(q, r->tenant, r->dir == DIR_OUTBOUND ?
			    QMX_OUT : QMX_IN);
	}
}

static int64_t
oldest_created(struct queued *q)
{
	struct qmsg	*m;
	int64_t		 oldest = 0;

	RB_FOREACH(m, qmsg_tree, &q->queue)
		if (!m->gone && m->env != NULL && (oldest == 0 ||
		    m->env->created < oldest))
			oldest = m->env->created;
	return oldest;
}

void
queue_metrics(struct child *c, struct mx_out *o)
{
	static const enum mx_family fam[QMX_MAX] = {
		[QMX_IN] = MXF_TENANT_IN,
		[QMX_OUT] = MXF_TENANT_OUT,
		[QMX_DELIVERED] = MXF_TENANT_DELIVERED,
		[QMX_DEFERRED] = MXF_TENANT_DEFERRED,
		[QMX_BOUNCED] = MXF_TENANT_BOUNCED,
	};
	static const char *const result[] = {
		"delivered", "deferred", "bounced"
	};
	struct queued	*q = c->state;
	struct tcount	*t;
	int64_t		 oldest = oldest_created(q), now = time(NULL);
	int		 i;

	mx_add0(o, MXF_QUEUE_MESSAGES, q->nqueue);
	mx_add0(o, MXF_QUEUE_OLDEST, oldest == 0 || oldest > now ? 0 :
	    (uint64_t)(now - oldest));
	for (i = 0; i < 3; i++)
		mx_add1(o, MXF_QUEUE_DELIVERIES, "result", result[i],
		    q->results[i]);
	if (q->tcounts == NULL)
		return;
	RB_FOREACH(t, tcount_tree, q->tcounts)
		for (i = 0; i < QMX_MAX; i++)
			mx_add1(o, fam[i], "tenant", t->name, t->n[i]);
}

void
qmx_free(struct queued *q)
{
	struct tcount *t;

	if (q->tcounts == NULL)
		return;
	while ((t = RB_MIN(tcount_tree, q->tcounts)) != NULL) {
		RB_REMOVE(tcount_tree, q->tcounts, t);
		free(t);
	}
	free(q->tcounts);
	q->tcounts = NULL;
}

/*
 * policy_stats: the verdicts that refused, counted by tenant and check
 * for queued's statistics (stats.h).  An increment in memory; once a
 * second one M_PQ_STATS, or sooner when the batch is full.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_policy.h"
#include "policyd.h"
#include "stats.h"

#define STATS_EVERY	1	/* seconds */

struct policy_stats {
	struct stat_batch	 b;
	struct event		*timer;
};

static void
policy_stats_send(struct policyd *pd)
{
	struct mw w;

	if (pd->stats == NULL || pd->stats->b.n == 0)
		return;
	mw_init(&w);
	stat_batch_write(&w, &pd->stats->b);
	if (!w.err)
		child_send(pd->child, PROC_QUEUED, M_PQ_STATS, 0, -1, w.buf,
		    w.len);
	pd->stats->b.n = 0;
}

static void
policy_stats_tick(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	policy_stats_send(arg);
}

void
policy_stats_init(struct policyd *pd)
{
	struct timeval tv = { STATS_EVERY, 0 };

	if ((pd->stats = calloc(1, sizeof(*pd->stats))) == NULL)
		fatal("statistics");
	pd->stats->timer = event_new(pd->child->base, -1, EV_PERSIST,
	    policy_stats_tick, pd);
	if (pd->stats->timer == NULL || event_add(pd->stats->timer, &tv) ==
	    -1)
		fatalx("statistics timer");
}

/* A refusal: the check that made it, the tenant it was for ("": none). */
void
policy_stats_refused(struct policyd *pd, const char *tenant,
    const char *check, int code)
{
	enum stat_reason why = stat_reason_of_check(check);

	if (pd->stats == NULL)
		return;
	if (stat_batch_add(&pd->stats->b, tenant, why, code < 500, 1) == 0)
		return;
	policy_stats_send(pd);
	(void)stat_batch_add(&pd->stats->b, tenant, why, code < 500, 1);
}

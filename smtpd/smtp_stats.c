/*
 * smtp_stats: smtpd's own refusals, counted by tenant and reason for the
 * statistics (stats.h).  An increment in memory; once a second what was
 * counted goes to queued as one M_Q_STATS, or sooner when the batch is
 * full.  policyd counts its checks' verdicts itself.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_queue.h"
#include "smtpd.h"
#include "stats.h"

#define STATS_EVERY	1	/* seconds */

struct smtp_stats {
	struct stat_batch	 b;
	struct event		*timer;
};

static void
smtp_stats_send(struct smtpd *sd)
{
	struct mw w;

	if (sd->stats == NULL || sd->stats->b.n == 0)
		return;
	mw_init(&w);
	stat_batch_write(&w, &sd->stats->b);
	if (!w.err)
		smtpd_send_queue(sd, M_Q_STATS, 0, -1, w.buf, w.len);
	sd->stats->b.n = 0;
}

static void
smtp_stats_tick(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	smtp_stats_send(arg);
}

void
smtp_stats_init(struct smtpd *sd)
{
	struct timeval tv = { STATS_EVERY, 0 };

	if ((sd->stats = calloc(1, sizeof(*sd->stats))) == NULL)
		fatal("statistics");
	sd->stats->timer = event_new(sd->child->base, -1, EV_PERSIST,
	    smtp_stats_tick, sd);
	if (sd->stats->timer == NULL || event_add(sd->stats->timer, &tv) ==
	    -1)
		fatalx("statistics timer");
}

/* A refusal of smtpd's own, with the reply the client got. */
void
smtp_stats_refused(struct smtpd *sd, const char *tenant,
    enum stat_reason why, const struct smtp_reply *r)
{
	int deferred = r->code < 500;

	if (sd->stats == NULL)
		return;
	if (stat_batch_add(&sd->stats->b, tenant, why, deferred, 1) == 0)
		return;
	smtp_stats_send(sd);
	(void)stat_batch_add(&sd->stats->b, tenant, why, deferred, 1);
}

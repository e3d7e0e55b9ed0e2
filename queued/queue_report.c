/*
 * queue_report: a tenant's report by mail, from its statistics
 * (queue_stats.c): volume each way, what became of its recipients, its
 * top refusal reasons and its service level (the share of first delivery
 * attempts within ten minutes of acceptance).
 *
 * On the first day of a month (or the first look after it, if relayd was
 * down) queued sends each tenant that counted anything in the month
 * before that month's report (NK_MONTHLY), once: the notice's record in
 * the tenant's state, committed with it, says it went this month.
 * relayctl report TENANT sends the report of this month so far
 * (NK_REPORT) at once.  Both are notices (queue_notice.c): to contacts
 * with the role policy or billing, else technical, else the tenant's
 * postmaster, and the relay's postmaster.  Months are UTC, on clock_now
 * as the counters' days are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "queue_stats.h"
#include "queued.h"

#define DAY		86400
#define TOP_REASONS	5

/* The days [from, to) of one tenant, summed. */
struct period {
	const char	*tenant;
	int64_t		 from, to;	/* days since the epoch */
	uint64_t	 v[ST_MAX];
	uint64_t	 busiest;	/* inbound messages, its busiest day */
	int		 ndays;
};

/* The first day of the month of t, and of the month before. */
static void
month_days(int64_t t, int64_t *first, int64_t *prev_first)
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	gmtime_r(&tt, &tm);
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	*first = (int64_t)timegm(&tm) / DAY;
	if (tm.tm_mon-- == 0) {
		tm.tm_mon = 11;
		tm.tm_year--;
	}
	*prev_first = (int64_t)timegm(&tm) / DAY;
}

/* The period a report of this kind covers, now. */
static void
report_period(enum notice_kind k, int64_t now, int64_t *from, int64_t *to)
{
	int64_t first, prev;

	month_days(now, &first, &prev);
	if (k == NK_MONTHLY) {
		*from = prev;
		*to = first;
	} else {
		*from = first;
		*to = now / DAY + 1;
	}
}

static void
sum_day(void *arg, const struct tday *d)
{
	struct period	*p = arg;
	size_t		 i;

	if (d->day >= p->to || strcmp(d->tenant, p->tenant) != 0)
		return;
	for (i = 0; i < ST_MAX; i++)
		p->v[i] += d->v[i];
	if (d->v[ST_INBOUND_MSGS] > p->busiest)
		p->busiest = d->v[ST_INBOUND_MSGS];
	p->ndays++;
}

static void
period_sum(struct queued *q, const char *tenant, enum notice_kind k,
    int64_t now, struct period *p)
{
	memset(p, 0, sizeof(*p));
	p->tenant = tenant;
	report_period(k, now, &p->from, &p->to);
	stats_each(q, p->from, sum_day, p);
}

/* "2026-11-30", or with month set "November 2026". */
static void
day_text(int64_t day, int month, char *buf, size_t sz)
{
	time_t		t = (time_t)(day * DAY);
	struct tm	tm;
	size_t		n;

	gmtime_r(&t, &tm);
	n = month ? strftime(buf, sz, "%B %Y", &tm) :
	    strftime(buf, sz, "%Y-%m-%d", &tm);
	if (n == 0 && sz > 0)
		buf[0] = '\0';
}

void
report_subject(struct tbuf *b, const struct tstate *t, enum notice_kind k,
    int64_t now)
{
	int64_t	from, to;
	char	month[32];

	report_period(k, now, &from, &to);
	day_text(from, 1, month, sizeof(month));
	tb_printf(b, "%s: report for %s%s", t->name, month,
	    k == NK_REPORT ? " so far" : "");
}

/* The reasons refused most, 5xx and 4xx together, most first. */
static void
top_reasons(struct tbuf *b, const uint64_t *v)
{
	int	used[SR_MAX] = { 0 };
	int	i, r, best, shown = 0;

	for (i = 0; i < TOP_REASONS; i++) {
		best = -1;
		for (r = 0; r < SR_MAX; r++) {
			uint64_t n = v[ST_REJECT + r] + v[ST_DEFER + r];

			if (!used[r] && n > 0 && (best == -1 || n >
			    v[ST_REJECT + best] + v[ST_DEFER + best]))
				best = r;
		}
		if (best == -1)
			break;
		used[best] = 1;
		tb_printf(b, "  %-20s %llu (%llu refused, %llu deferred)\r\n",
		    stat_reason_name(best),
		    (unsigned long long)(v[ST_REJECT + best] +
		    v[ST_DEFER + best]),
		    (unsigned long long)v[ST_REJECT + best],
		    (unsigned long long)v[ST_DEFER + best]);
		shown++;
	}
	if (shown == 0)
		tb_printf(b, "  none\r\n");
}

static uint64_t
sum(const uint64_t *v, int from, int to)
{
	uint64_t	n = 0;
	int		i;

	for (i = from; i < to; i++)
		n += v[i];
	return n;
}

void
report_body(struct tbuf *b, struct queued *q, const struct tstate *t,
    enum notice_kind k, int64_t now)
{
	const struct tenant_conf	*tc = t->tc;
	struct period			 p;
	uint64_t			 within, all;
	char				 from[16], to[16], month[32];

	period_sum(q, t->name, k, now, &p);
	day_text(p.from, 0, from, sizeof(from));
	day_text(p.to - 1, 0, to, sizeof(to));
	day_text(p.from, 1, month, sizeof(month));
	tb_printf(b, "The report of %s for %s%s: %s to %s (UTC days)%s.\r\n"
	    "\r\n", t->name, month, k == NK_REPORT ? " so far" : "", from, to,
	    k == NK_REPORT ? ", sent on the operator's request" : "");
	tb_printf(b, "Messages accepted:     inbound %llu (%llu octets), "
	    "outbound %llu (%llu octets)\r\n",
	    (unsigned long long)p.v[ST_INBOUND_MSGS],
	    (unsigned long long)p.v[ST_INBOUND_OCTETS],
	    (unsigned long long)p.v[ST_OUTBOUND_MSGS],
	    (unsigned long long)p.v[ST_OUTBOUND_OCTETS]);
	tb_printf(b, "Messages delivered on: inbound %llu (%llu octets), "
	    "outbound %llu (%llu octets)\r\n",
	    (unsigned long long)p.v[ST_INBOUND_SENT_MSGS],
	    (unsigned long long)p.v[ST_INBOUND_SENT_OCTETS],
	    (unsigned long long)p.v[ST_OUTBOUND_SENT_MSGS],
	    (unsigned long long)p.v[ST_OUTBOUND_SENT_OCTETS]);
	tb_printf(b, "Recipients:            %llu delivered, %llu bounced, "
	    "%llu attempts deferred\r\n",
	    (unsigned long long)p.v[ST_DELIVERED],
	    (unsigned long long)p.v[ST_BOUNCED],
	    (unsigned long long)p.v[ST_DEFERRED]);
	tb_printf(b, "Refused at SMTP time:  %llu refused (5xx), %llu "
	    "deferred (4xx)\r\n",
	    (unsigned long long)sum(p.v, ST_REJECT, ST_DEFER),
	    (unsigned long long)sum(p.v, ST_DEFER, ST_MAX));
	tb_printf(b, "Top refusal reasons:\r\n");
	top_reasons(b, p.v);
	all = sum(p.v, ST_FIRST_1S, ST_FIRST_LATER + 1);
	within = all - p.v[ST_FIRST_LATER];
	if (all == 0)
		tb_printf(b, "Service level:         no delivery "
		    "attempted\r\n");
	else
		tb_printf(b, "Service level:         %.2f%% of %llu first "
		    "delivery attempts within 10 minutes\r\n",
		    (double)within * 100 / (double)all,
		    (unsigned long long)all);
	if (tc != NULL && tc->daily_messages > 0)
		tb_printf(b, "Daily volume limit:    %llu messages inbound; "
		    "the busiest day: %llu\r\n",
		    (unsigned long long)tc->daily_messages,
		    (unsigned long long)p.busiest);
	tb_printf(b, "\r\nCounts are of this relay alone; a refusal is "
	    "counted once per recipient\r\nor command refused.\r\n");
}

/*
 * On every tenant tick: the last month's report, if it is owed (the
 * month changed since the last one went, and the tenant counted
 * something in it).
 */
void
report_check(struct queued *q, struct tstate *t)
{
	struct period	p;
	int64_t		now = clock_now(), first, prev;
	char		err[256];

	if (t->tc == NULL || t->noticing || time(NULL) < t->notice_retry ||
	    q->stats == NULL)
		return;
	month_days(now, &first, &prev);
	if (t->notices[NK_MONTHLY].at / DAY >= first)
		return;		/* sent this month */
	period_sum(q, t->name, NK_MONTHLY, now, &p);
	if (p.ndays == 0)
		return;
	if (notice_send(q, t, NK_MONTHLY, 0, err, sizeof(err)) == -1) {
		log_warnx("tenant=%s: no monthly report: %s; tried again in "
		    "%us", t->name, err, q->conf->queue.retry_min);
		t->notice_retry = time(NULL) + q->conf->queue.retry_min;
	}
}

/* relayctl report TENANT: answered once the report is queued. */
void
report_request(struct queued *q, uint64_t req, const char *tenant)
{
	struct tstate	*t;
	char		 err[256];

	if (q->conf == NULL || (t = tenant_find(q, tenant)) == NULL ||
	    t->tc == NULL) {
		ctl_done(q, req, 0, "no such tenant");
		return;
	}
	if (notice_send(q, t, NK_REPORT, req, err, sizeof(err)) == -1)
		ctl_done(q, req, 0, err);
}

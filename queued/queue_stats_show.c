/*
 * queue_stats_show: relayctl show stats [TENANT] [--days N] [--json].
 *
 * One block per tenant per day with what it counted, then the tenant's
 * total over the days shown, its share of first attempts within ten
 * minutes, and how close it is today to limits.daily_messages (inbound
 * messages accepted today, what policyd limits) and to limits.spool_max
 * (octets it holds in the spool now).  The relay's own line ("-") shows refusals
 * that belong to no tenant.  With --json, one JSON document: an object
 * per tenant on lines of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control_req.h"
#include "msg_parent.h"
#include "queue_stats.h"
#include "queued.h"

#define DAYS_DEFAULT	7

struct view {
	struct queued		*q;
	uint64_t		 req;
	int			 json;
	const char		*tenant;	/* its days only, or NULL */
	int64_t			 from, today;
	int			 ntenants;	/* shown so far (JSON commas) */
	/* The tenant being shown: its total and today's accepted. */
	uint64_t		 total[ST_MAX];
	uint64_t		 today_msgs;
	int			 ndays;
};

static void
stats_day_text(int64_t day, char *buf, size_t sz)
{
	time_t		t = (time_t)(day * 86400);
	struct tm	tm;

	gmtime_r(&t, &tm);
	strftime(buf, sz, "%Y-%m-%d", &tm);
}

static uint64_t
firsts(const uint64_t *v, int within)
{
	return v[ST_FIRST_1S] + v[ST_FIRST_10S] + v[ST_FIRST_1M] +
	    v[ST_FIRST_10M] + (within ? 0 : v[ST_FIRST_LATER]);
}

/* The share of first attempts within 10 minutes, or -1: none yet. */
static double
level(const uint64_t *v)
{
	uint64_t all = firsts(v, 0);

	return all == 0 ? -1 : (double)firsts(v, 1) / (double)all;
}

static void
json_counters(const uint64_t *v, char *buf, size_t sz)
{
	size_t	i, o;

	o = (size_t)snprintf(buf, sz, "{");
	for (i = 0; i < ST_MAX && o < sz; i++)
		o += (size_t)snprintf(buf + o, sz - o, "%s\"%s\": %llu",
		    i ? ", " : " ", stat_name(i), (unsigned long long)v[i]);
	if (o < sz)
		snprintf(buf + o, sz - o, " }");
}

static void
text_block(struct view *vw, const char *head, const uint64_t *v)
{
	char	line[256];
	double	l = level(v);
	size_t	i;

	ctl_line(vw->q, vw->req, head);
	for (i = 0; i < ST_MAX; i++) {
		if (v[i] == 0)
			continue;
		snprintf(line, sizeof(line), "    %s %llu", stat_name(i),
		    (unsigned long long)v[i]);
		ctl_line(vw->q, vw->req, line);
	}
	if (l >= 0) {
		snprintf(line, sizeof(line), "    first_attempt_within_10m "
		    "%.2f%% (%llu of %llu)", l * 100,
		    (unsigned long long)firsts(v, 1),
		    (unsigned long long)firsts(v, 0));
		ctl_line(vw->q, vw->req, line);
	}
}

static void
show_day(void *arg, const struct tday *d)
{
	struct view	*vw = arg;
	char		 day[16], head[128], c[CTL_TEXT_MAX - 256];
	char		 line[CTL_TEXT_MAX];
	double		 l = level(d->v);
	size_t		 i;

	if (strcmp(d->tenant, vw->tenant) != 0)
		return;
	for (i = 0; i < ST_MAX; i++)
		vw->total[i] += d->v[i];
	if (d->day == vw->today)
		vw->today_msgs = d->v[ST_INBOUND_MSGS];
	stats_day_text(d->day, day, sizeof(day));
	if (!vw->json) {
		snprintf(head, sizeof(head), "tenant %s, %s",
		    d->tenant[0] ? d->tenant : "-", day);
		text_block(vw, head, d->v);
	} else {
		json_counters(d->v, c, sizeof(c));
		if (l >= 0)
			snprintf(head, sizeof(head), "%.6f", l);
		else
			strlcpy(head, "null", sizeof(head));
		snprintf(line, sizeof(line), "      %s{ \"day\": \"%s\", "
		    "\"first_attempt_within_10m\": %s, \"counters\": %s }",
		    vw->ndays ? ", " : "", day, head, c);
		ctl_line(vw->q, vw->req, line);
	}
	vw->ndays++;
}

static void
percent(uint64_t n, uint64_t of, char *buf, size_t sz, int json)
{
	if (of == 0)
		strlcpy(buf, json ? "null" : "no limit", sz);
	else
		snprintf(buf, sz, json ? "%.2f" : "%.2f%%", (double)n * 100 /
		    (double)of);
}

/* The total, and how close the tenant is to its limits. */
static void
show_end(struct view *vw, const struct tenant_conf *tc)
{
	uint64_t	 dmax = tc ? tc->daily_messages : 0;
	uint64_t	 smax = tc ? tc->spool_max : 0;
	uint64_t	 held = tc ? quota_used(vw->q, tc->name) : 0;
	char		 line[CTL_TEXT_MAX], c[CTL_TEXT_MAX - 512], lv[32];
	char		 dp[32], sp[32], head[128], *p, *nl;
	double		 l = level(vw->total);

	percent(vw->today_msgs, dmax, dp, sizeof(dp), vw->json);
	percent(held, smax, sp, sizeof(sp), vw->json);
	if (!vw->json) {
		snprintf(head, sizeof(head), "tenant %s, total of %d day%s",
		    vw->tenant[0] ? vw->tenant : "-", vw->ndays,
		    vw->ndays == 1 ? "" : "s");
		text_block(vw, head, vw->total);
		if (tc == NULL)
			return;
		snprintf(line, sizeof(line), "    daily_messages today %llu "
		    "of %llu (%s)", (unsigned long long)vw->today_msgs,
		    (unsigned long long)dmax, dp);
		ctl_line(vw->q, vw->req, line);
		snprintf(line, sizeof(line), "    spool_max held %llu of %llu "
		    "(%s)", (unsigned long long)held, (unsigned long long)smax,
		    sp);
		ctl_line(vw->q, vw->req, line);
		return;
	}
	json_counters(vw->total, c, sizeof(c));
	if (l >= 0)
		snprintf(lv, sizeof(lv), "%.6f", l);
	else
		strlcpy(lv, "null", sizeof(lv));
	snprintf(line, sizeof(line), "      ]\n    , \"total\": %s\n"
	    "    , \"first_attempt_within_10m\": %s\n"
	    "    , \"limits\": { \"daily_messages\": %llu, "
	    "\"today_messages\": %llu, \"daily_messages_percent\": %s, "
	    "\"spool_max\": %llu, \"spool_held\": %llu, "
	    "\"spool_percent\": %s } }", c, lv, (unsigned long long)dmax,
	    (unsigned long long)vw->today_msgs, dp, (unsigned long long)smax,
	    (unsigned long long)held, sp);
	/* A data line holds no newline: one each. */
	for (p = line; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		ctl_line(vw->q, vw->req, p);
	}
	ctl_line(vw->q, vw->req, p);
}

static void
show_tenant(struct view *vw, const char *name, const struct tenant_conf *tc)
{
	char line[TENANT_MAX + 64];

	vw->tenant = name;
	memset(vw->total, 0, sizeof(vw->total));
	vw->today_msgs = 0;
	vw->ndays = 0;
	if (vw->json) {
		snprintf(line, sizeof(line), "  %s{ \"tenant\": \"%s\", "
		    "\"days\": [", vw->ntenants ? ", " : "", name);
		ctl_line(vw->q, vw->req, line);
	}
	stats_each(vw->q, vw->from, show_day, vw);
	show_end(vw, tc);
	vw->ntenants++;
}

/* Does the relay's own line have anything in the days shown? */
static void
any_relay(void *arg, const struct tday *d)
{
	if (d->tenant[0] == '\0')
		*(int *)arg = 1;
}

void
stats_show(struct queued *q, struct imsg *imsg, const struct ctl_req *req)
{
	struct view	 vw;
	const char	*name = NULL, *err = NULL;
	int64_t		 days = DAYS_DEFAULT;
	size_t		 i = 0;
	int		 relay = 0;
	char		 line[128], from[16];

	if (req->nargs > 0 && strcmp(req->args[0], "--days") != 0) {
		name = req->args[0];
		i = 1;
	}
	if (i + 1 < req->nargs)
		days = strtonum(req->args[i + 1], 1, 3650, &err);
	if (err != NULL || q->conf == NULL) {
		ctl_done(q, imsg->hdr.peerid, 0, err ? "bad --days" :
		    "queued is not ready");
		return;
	}
	if (name != NULL && conf_tenant_by_name(q->conf, name) == NULL) {
		ctl_done(q, imsg->hdr.peerid, 0, "no such tenant");
		return;
	}
	memset(&vw, 0, sizeof(vw));
	vw.q = q;
	vw.req = imsg->hdr.peerid;
	vw.json = (req->flags & CTL_F_JSON) != 0;
	vw.today = stats_today();
	vw.from = vw.today - days + 1;
	stats_day_text(vw.from, from, sizeof(from));
	if (vw.json) {
		snprintf(line, sizeof(line), "{ \"from\": \"%s\", \"days\": "
		    "%lld, \"tenants\": [", from, (long long)days);
		ctl_line(q, vw.req, line);
	}
	for (i = 0; i < q->conf->ntenants; i++) {
		const struct tenant_conf *tc = &q->conf->tenants[i];

		if (name == NULL || strcmp(name, tc->name) == 0)
			show_tenant(&vw, tc->name, tc);
	}
	stats_each(q, vw.from, any_relay, &relay);
	if (name == NULL && relay)
		show_tenant(&vw, "", NULL);
	if (vw.json)
		ctl_line(q, vw.req, "  ] }");
	ctl_done(q, vw.req, 1, NULL);
}

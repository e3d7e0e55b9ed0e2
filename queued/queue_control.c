/*
 * queue_control: relayctl's queue requests, forwarded by the parent.
 *
 * show queue is a listing (ctl_stream.h): it goes out in parts as
 * relayctl reads it, resuming after the last id listed.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "child.h"
#include "control_req.h"
#include "ctl_stream.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "queued.h"

void
ctl_line(struct queued *q, uint64_t req, const char *line)
{
	struct mw w;

	mw_init(&w);
	mw_str(&w, line);
	child_send(q->child, PROC_PARENT, M_CTL_LINE, req, -1, w.buf, w.len);
}

void
ctl_done(struct queued *q, uint64_t req, int ok, const char *err)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)ok);
	mw_str(&w, err ? err : "");
	child_send(q->child, PROC_PARENT, M_CTL_DONE, req, -1, w.buf, w.len);
}

void
format_age(int64_t secs, char *buf, size_t sz)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, sz, "%llds", (long long)secs);
	else if (secs < 7200)
		snprintf(buf, sz, "%lldm", (long long)(secs / 60));
	else if (secs < 172800)
		snprintf(buf, sz, "%lldh", (long long)(secs / 3600));
	else
		snprintf(buf, sz, "%lldd", (long long)(secs / 86400));
}

/* Recipients still to deliver, comma-separated, shortened if long. */
static void
format_rcpts(const struct envelope *e, char *buf, size_t sz)
{
	size_t i, shown = 0, left = 0;

	buf[0] = '\0';
	for (i = 0; i < e->nrcpts; i++) {
		if (e->rcpts[i].status != RS_PENDING)
			continue;
		if (strlen(buf) + strlen(e->rcpts[i].addr) + 2 > sz - 16) {
			left++;
			continue;
		}
		if (shown++ > 0)
			strlcat(buf, ",", sz);
		strlcat(buf, e->rcpts[i].addr, sz);
	}
	if (left > 0) {
		char more[32];

		snprintf(more, sizeof(more), ",+%zu more", left);
		strlcat(buf, more, sz);
	}
}

static void
format_msg(struct queued *q, const struct qmsg *m, time_t now, char *buf,
    size_t sz)
{
	const struct envelope	*e = m->env;
	const struct rcpt	*first = NULL;
	char			 qid[32], age[16], next[24], rcpts[400];
	char			 tenant[TENANT_MAX + 16];
	uint32_t		 attempts = 0;
	int64_t			 when = 0;
	size_t			 i;

	for (i = 0; i < e->nrcpts; i++) {
		if (e->rcpts[i].status != RS_PENDING)
			continue;
		if (first == NULL)
			first = &e->rcpts[i];
		if (e->rcpts[i].attempts > attempts)
			attempts = e->rcpts[i].attempts;
		if (when == 0 || e->rcpts[i].next_attempt < when)
			when = e->rcpts[i].next_attempt;
	}
	queue_id_format(m->id, qid, sizeof(qid));
	format_age(now - e->created, age, sizeof(age));
	if (e->flags & ENVF_HOLD)
		strlcpy(next, "held", sizeof(next));
	else if (when <= now)
		strlcpy(next, "now", sizeof(next));
	else {
		strlcpy(next, "in ", sizeof(next));
		format_age(when - now, next + 3, sizeof(next) - 3);
	}
	format_rcpts(e, rcpts, sizeof(rcpts));
	/* A tenant a reload removed: its mail still goes, by its old route. */
	snprintf(tenant, sizeof(tenant), "%s%s",
	    first && first->tenant[0] ? first->tenant : "-",
	    first && route_tenant_removed(q, first->tenant) ? "(removed)" :
	    "");
	snprintf(buf, sz, "%s %s <%s> %s %s %u %s %s", qid, tenant, e->sender,
	    rcpts, age, attempts, next,
	    first && first->last_error ? first->last_error : "-");
}

/* The next part of show queue: messages from id *cursor on. */
static int
queue_fill(struct ctl_stream *s, void *arg, uint64_t *cursor)
{
	struct queued	*q = arg;
	struct qmsg	 find, *m;
	char		 line[CTL_TEXT_MAX];
	time_t		 now = time(NULL);

	find.id = *cursor;
	for (m = RB_NFIND(qmsg_tree, &q->queue, &find); m != NULL;
	    m = RB_NEXT(qmsg_tree, &q->queue, m)) {
		format_msg(q, m, now, line, sizeof(line));
		if (ctl_stream_line(s, line) == -1)
			return 1;
		if (m->id == UINT64_MAX)
			return 0;
		*cursor = m->id + 1;
	}
	return 0;
}

static const char *
act_name(uint32_t cmd)
{
	switch (cmd) {
	case CTL_QUEUE_FLUSH:
		return "flushed";
	case CTL_QUEUE_HOLD:
		return "held";
	case CTL_QUEUE_RELEASE:
		return "released";
	case CTL_QUEUE_REMOVE:
		return "removed";
	default:
		return "bounced";
	}
}

/* One action on one message, as relayctl asked. */
static void
queue_action(struct queued *q, uint64_t req, uint32_t cmd, const char *id,
    int all)
{
	struct qmsg	*m, *next;
	char		 line[128];
	int		 n = 0;

	if (cmd == CTL_QUEUE_FLUSH && all) {
		RB_FOREACH_SAFE(m, qmsg_tree, &q->queue, next)
			if (!(m->env->flags & ENVF_HOLD))
				n += sched_flush(q, m) > 0;
		snprintf(line, sizeof(line), "%d messages flushed", n);
		log_info("queue: %s by the operator", line);
		ctl_line(q, req, line);
		ctl_done(q, req, 1, NULL);
		return;
	}
	if ((m = queue_find(q, ctl_id_value(id))) == NULL) {
		snprintf(line, sizeof(line), "no such message: %s", id);
		ctl_done(q, req, 0, line);
		return;
	}
	switch (cmd) {
	case CTL_QUEUE_FLUSH:
		if (m->env->flags & ENVF_HOLD) {
			ctl_done(q, req, 0, "the message is held; release it "
			    "to deliver it");
			return;
		}
		sched_flush(q, m);
		break;
	case CTL_QUEUE_HOLD:
		sched_hold(q, m, 1);
		break;
	case CTL_QUEUE_RELEASE:
		if (!(m->env->flags & ENVF_HOLD)) {
			ctl_done(q, req, 0, "the message is not held");
			return;
		}
		sched_hold(q, m, 0);
		break;
	case CTL_QUEUE_REMOVE:
		sched_remove(q, m);
		break;
	case CTL_QUEUE_BOUNCE:
		if (m->njobs > 0) {
			ctl_done(q, req, 0, "the message is being delivered "
			    "right now; try again in a moment");
			return;
		}
		sched_bounce(q, m, "bounced by the operator");
		break;
	}
	if (cmd != CTL_QUEUE_REMOVE && cmd != CTL_QUEUE_BOUNCE)
		rec_message(q, m, act_name(cmd), "by the operator");
	log_info("msgid=%s %s by the operator", id, act_name(cmd));
	snprintf(line, sizeof(line), "%s %s", id, act_name(cmd));
	ctl_line(q, req, line);
	ctl_done(q, req, 1, NULL);
}

/* relayctl notices test TENANT: answered once the notice is queued. */
static void
notices_test(struct queued *q, uint64_t req, const char *tenant)
{
	struct tstate	*t;
	char		 err[256];

	if (q->conf == NULL || (t = tenant_find(q, tenant)) == NULL ||
	    t->tc == NULL) {
		ctl_done(q, req, 0, "no such tenant");
		return;
	}
	if (notice_send(q, t, NK_TEST, req, err, sizeof(err)) == -1)
		ctl_done(q, req, 0, err);
}

void
control_request(struct queued *q, struct imsg *imsg)
{
	struct ctl_req	req;

	if (ctl_req_read(imsg->data, imsg->datalen, &req) == -1)
		child_peer_broken(q->child, PROC_PARENT, imsg, "control");
	switch (req.cmd) {
	case CTL_SHOW_QUEUE:
		ctl_stream_open(q->child, imsg, "show queue", "ID TENANT FROM "
		    "RECIPIENTS AGE ATTEMPTS NEXT LAST-ERROR", queue_fill, NULL,
		    q);
		break;
	case CTL_SHOW_CORRUPT:
		corrupt_show(q, imsg);
		break;
	case CTL_SHOW_TENANT:
		tenant_show(q, imsg->hdr.peerid, req.args[0],
		    (req.flags & CTL_F_JSON) != 0);
		break;
	case CTL_NOTICES_TEST:
		notices_test(q, imsg->hdr.peerid, req.args[0]);
		break;
	case CTL_QUEUE_FLUSH:
	case CTL_QUEUE_HOLD:
	case CTL_QUEUE_RELEASE:
	case CTL_QUEUE_REMOVE:
	case CTL_QUEUE_BOUNCE:
		queue_action(q, imsg->hdr.peerid, req.cmd, req.id, req.all);
		break;
	case CTL_TRACE:
		records_trace(q, imsg, &req);
		break;
	case CTL_MONITOR:
		records_monitor(q, imsg, &req);
		break;
	case CTL_HOLD_RECORDS:
		records_hold(q, imsg, &req);
		break;
	case CTL_SHOW_STATS:
		stats_show(q, imsg, &req);
		break;
	case CTL_REPORT:
		report_request(q, imsg->hdr.peerid, req.args[0]);
		break;
	case CTL_ANNOUNCE:
		announce_request(q, imsg->hdr.peerid, &req);
		break;
	default:
		child_peer_broken(q->child, PROC_PARENT, imsg, "control");
	}
}

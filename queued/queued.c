/*
 * queued: process set-up, the queue index, and peer dispatch.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "msg_selfcheck.h"
#include "msg_auth.h"
#include "queued.h"

#define SPACE_INTERVAL	1	/* seconds between free-space checks */

static struct queued queued;

/* What start-up finds, and the envelopes it takes out of the store. */
struct startup {
	struct queued	*q;
	uint64_t	*drop;
	size_t		 ndrop, cap;
	uint64_t	*unsynced;	/* the last batch before the stop */
	size_t		 nunsynced;
	size_t		 quarantined;
};

static void
drop_add(struct startup *s, uint64_t id)
{
	uint64_t *d;

	if (s->ndrop == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		if ((d = reallocarray(s->drop, s->cap, sizeof(*d))) == NULL)
			fatal("start-up");
		s->drop = d;
	}
	s->drop[s->ndrop++] = id;
}

/* Into the quarantine, or relayd stops: nothing is deleted unsaved. */
static void
quarantine(struct startup *s, uint64_t id, const void *raw, size_t len,
    const char *why)
{
	char qid[32];

	queue_id_format(id, qid, sizeof(qid));
	if (corrupt_save(s->q, id, raw, len, why) == -1)
		fatal("msgid=%s: %s, and it cannot be put in quarantine "
		    "(corrupt/)", qid, why);
	log_errx("msgid=%s: %s: kept in quarantine (corrupt/), not "
	    "delivered", qid, why);
	drop_add(s, id);
	s->quarantined++;
}

static void
load_one(void *arg, uint64_t id, struct envelope *e, const void *raw,
    size_t len, const char *why)
{
	struct startup *s = arg;

	if (e != NULL)
		queue_insert(s->q, e);
	else
		quarantine(s, id, raw, len, why);
}

static int
in_last_batch(const struct startup *s, uint64_t id)
{
	size_t i;

	for (i = 0; i < s->nunsynced; i++)
		if (s->unsynced[i] == id)
			return 1;
	return 0;
}

/*
 * An envelope whose spool file is gone.  If the last batch before the
 * stop committed it, the crash came between that commit and the
 * directory's sync, which both come before the 250: it was never
 * acknowledged, and the client has it still.  Any other was acknowledged
 * and its body lost: that is kept in quarantine and logged as an error.
 */
static void
check_bodies(struct startup *s)
{
	struct queued	*q = s->q;
	struct qmsg	*m, *next;
	struct stat	 st;
	struct mw	 w;
	char		 name[32];

	RB_FOREACH_SAFE(m, qmsg_tree, &q->queue, next) {
		queue_id_format(m->id, name, sizeof(name));
		if (fstatat(q->spool_fd, name, &st, 0) == 0 ||
		    errno != ENOENT)
			continue;
		if (in_last_batch(s, m->id)) {
			log_warnx("msgid=%s: envelope without a spool file "
			    "(never acknowledged), removed", name);
			drop_add(s, m->id);
		} else {
			if (envelope_encode(m->env, &w) == -1)
				fatalx("msgid=%s: cannot encode its envelope",
				    name);
			quarantine(s, m->id, w.buf, w.len, "its spool file "
			    "is missing");
			mw_release(&w);
		}
		queue_remove(q, m);
	}
}

/*
 * The first configuration: the store, mapped at its size, and the queue
 * as the last run left it.  What cannot be used goes to the quarantine
 * before anything is removed; then spool files without an envelope go.
 */
static void
queued_start(struct queued *q)
{
	struct startup	 s;
	char		 err[512];

	memset(&s, 0, sizeof(s));
	s.q = q;
	if ((q->store = store_open("db", q->conf->limits.store_max_size, err,
	    sizeof(err))) == NULL)
		fatalx("queue store: %s", err);
	if (store_unsynced(q->store, &s.unsynced, &s.nunsynced) == -1)
		fatalx("queue store: cannot read the last batch's list");
	if (store_load(q->store, load_one, &s, err, sizeof(err)) == -1)
		fatalx("queue store: %s; relayd stops rather than run without "
		    "part of its queue", err);
	check_bodies(&s);
	if (store_drop(q->store, s.drop, s.ndrop) == -1)
		fatalx("queue store: cannot remove the envelopes set aside");
	free(s.drop);
	free(s.unsynced);
	spool_scan(q);
	records_start(q);
	committer_attach(q->cm, q->store);
	deliver_sts_load(q);
	if (s.quarantined > 0)
		log_errx("queue: %zu messages put in quarantine "
		    "(relayctl show corrupt)", s.quarantined);
	log_info("queue: %zu messages", q->nqueue);
}

static void
queued_init(struct child *c)
{
	struct queued	*q = c->state;
	struct timeval	 tv = { SPACE_INTERVAL, 0 };

	q->child = c;
	q->fd_limit = fd_limit();
	RB_INIT(&q->pending);
	fdpool_init(&q->recycled, RECYCLED_MAX);
	RB_INIT(&q->queue);
	quota_init(q);
	retry_init(q);
	pwrite_init(q);
	tenant_init(q);
	records_init(q);
	stats_init(q);
	/* The working directory is state_dir (our chroot). */
	if ((q->spool_fd = open("spool", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal("spool directory");
	if ((q->corrupt_fd = open("corrupt", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal("quarantine directory (corrupt)");
	/*
	 * Opening a file we are recycling breaks our lease and signals us:
	 * we look at the lease instead (queue_spool.c, spool_recycle).
	 */
	signal(SIGIO, SIG_IGN);
	q->cm = committer_start(q);
	sched_init(q);
	q->space_timer = event_new(c->base, -1, EV_PERSIST, quota_tick, q);
	if (q->space_timer == NULL || evtimer_add(q->space_timer, &tv) == -1)
		fatalx("space timer");
}

/*
 * What our descriptors allow (fdneed.h): the files held for smtpd, each
 * with its copy on the way, and the jobs out at deliverd.  With less than
 * the configuration needs, a third of what is left each.
 */
void
queued_fd_budget(struct queued *q)
{
	size_t fixed = FD_RECYCLED + FD_MARGIN, avail, third;

	q->pending_cap = fd_pending_cap(q->conf);
	q->job_window = fd_job_window(q->conf);
	avail = q->fd_limit > fixed ? q->fd_limit - fixed : 0;
	if (2 * q->pending_cap + q->job_window <= avail)
		return;
	third = avail / 3 > 0 ? avail / 3 : 1;
	if (q->pending_cap > third)
		q->pending_cap = third;
	if (q->job_window > third)
		q->job_window = third;
	log_warnx("descriptor limit %zu: at most %zu spool files for smtpd "
	    "and %zu delivery jobs at once", q->fd_limit, q->pending_cap,
	    q->job_window);
}

/* The first configuration in force: the queue opens, and runs. */
static void
queued_ready(struct queued *q, struct conf *conf)
{
	struct qmsg *m;

	q->conf = conf;
	queued_fd_budget(q);
	queued_start(q);
	/* Removed tenants' routes, for the mail they still have here. */
	routes_load(q);
	routes_update(q, conf);
	tenant_load(q);
	stats_load(q);
	tenant_conf(q, conf);
	quota_tick(-1, 0, q);
	/* What was queued before a restart, at its next attempt. */
	RB_FOREACH(m, qmsg_tree, &q->queue)
		sched_add(q, m);
}

static void
ready_late(int fd, short ev, void *arg)
{
	struct queued *q = arg;

	(void)fd;
	(void)ev;
	queued_ready(q, q->child->conf);
}

static void
queued_conf(struct child *c, struct conf *conf, struct conf *old)
{
	struct queued	*q = c->state;
	struct timeval	 tv = { 0, 0 };

	if (old != NULL) {
		if (q->conf != NULL) {
			q->conf = conf;
			routes_update(q, conf);
			tenant_conf(q, conf);
			records_conf(q);
		}
		quota_tick(-1, 0, q);
		return;
	}
	/* Tests: as if the configuration came late (faults.h). */
	if ((tv.tv_sec = fault_delay("queued-conf")) > 0) {
		if (event_base_once(c->base, -1, EV_TIMEOUT, ready_late, q,
		    &tv) == -1)
			fatalx("queued-conf delay");
		return;
	}
	queued_ready(q, conf);
}

static void
queued_status(struct child *c, char *buf, size_t sz)
{
	struct queued *q = c->state;

	snprintf(buf, sz, "running, %zu queued, %llu accepted, %llu sent, "
	    "%llu bounced since start, %zu jobs out", q->nqueue,
	    (unsigned long long)q->committed, (unsigned long long)q->sent,
	    (unsigned long long)q->bounced, q->njobs);
}

static void
queued_shutdown(struct child *c)
{
	struct queued *q = c->state;

	retry_flush(q);
	records_shutdown(q);
	stats_shutdown(q);
	committer_stop(q->cm);
	pending_drop_all(q);
	recycled_drop_all(q);
	if (q->store != NULL)
		store_clear_unsynced(q->store);
	store_close(q->store);
	qmx_free(q);
}

static void
from_smtpd(struct child *c, struct imsg *imsg)
{
	receive_dispatch(c->state, imsg);
}

static void
from_deliverd(struct child *c, struct imsg *imsg)
{
	deliver_dispatch(c->state, imsg);
}

static void
from_policyd(struct child *c, struct imsg *imsg)
{
	if (imsg->hdr.type == M_A_GRANT || imsg->hdr.type == M_A_REVOKE) {
		if (imsg->fd != -1)
			close(imsg->fd);
		auth_grant_dispatch(c->state, imsg);
		return;
	}
	if (imsg->hdr.type == M_MT_SPOOL) {
		scan_spool(c->state, imsg);
		return;
	}
	pwrite_dispatch(c->state, imsg);
}

static void
queued_control(struct child *c, struct imsg *imsg)
{
	control_request(c->state, imsg);
}

/* The parent's own messages to queued: its notices. */
static void
queued_from_parent(struct child *c, struct imsg *imsg)
{
	if (imsg->hdr.type == M_CTL_TEXT)
		announce_part(c->state, imsg);
	else if (imsg->hdr.type == M_SC_NOTICE)
		notice_request(c->state, imsg);
	else
		child_peer_broken(c, PROC_PARENT, imsg, "unknown type");
}

static const struct child_ops queued_ops = {
	.id = PROC_QUEUED,
	.init = queued_init,
	.conf = queued_conf,
	.status = queued_status,
	.metrics = queue_metrics,
	.control = queued_control,
	.parent = queued_from_parent,
	.shutdown = queued_shutdown,
	.dispatch = {
		[PROC_SMTPD] = from_smtpd,
		[PROC_DELIVERD] = from_deliverd,
		[PROC_POLICYD] = from_policyd,
	},
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &queued_ops, &queued);
}

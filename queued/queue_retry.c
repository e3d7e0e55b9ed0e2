/*
 * queue_retry: updates of queued messages that the store failed (a full
 * map, an I/O error, MDB_PANIC), tried again until they commit.
 *
 * A removal is tried again as it was: its message has left the index,
 * and its spool file stays until the removal commits, so that a restart
 * meanwhile finds the message whole (and delivers it again) rather than
 * an envelope without its file.  A new state is never sent again as it
 * was: a later one may have committed since.  The message's state as it
 * is now is written instead (sched_persist), or nothing if it is gone.
 *
 * One timer for all, backing off from RETRY_MIN to RETRY_MAX seconds
 * while the store keeps failing, back to RETRY_MIN once an update
 * commits.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <lmdb.h>

#include "child.h"
#include "log.h"
#include "queued.h"

#define RETRY_MIN	1
#define RETRY_MAX	30

struct retries {
	struct task_list	 jobs;
	size_t		 n;
	unsigned	 delay;
	struct event	*timer;
};

static void	retry_run(int, short, void *);

void
retry_init(struct queued *q)
{
	struct retries *rt;

	if ((rt = calloc(1, sizeof(*rt))) == NULL)
		fatal("store retries");
	TAILQ_INIT(&rt->jobs);
	rt->delay = RETRY_MIN;
	if ((rt->timer = evtimer_new(q->child->base, retry_run, q)) == NULL)
		fatalx("store retry timer");
	q->retries = rt;
}

/* A failed PUT or DELETE: ours now. */
void
retry_task(struct queued *q, struct task *j)
{
	struct retries	*rt = q->retries;
	struct timeval	 tv = { rt->delay, 0 };
	struct qmsg	*m;
	const char	*why;
	char		 qid[32];

	queue_id_format(j->id, qid, sizeof(qid));
	free(j->blob);
	j->blob = NULL;
	j->bloblen = 0;
	if (j->kind == TASK_PUT) {
		/* Removed since: its removal is all that is left to do. */
		if ((m = queue_find(q, j->id)) == NULL) {
			free(j);
			return;
		}
		j->tries = m->put_fails++;
		if (m->put_retry) {
			free(j);	/* one write of its state will do */
			return;
		}
		m->put_retry = 1;
	}
	why = j->mdb_err ? mdb_strerror(j->mdb_err) : strerror(j->err);
	if (j->tries++ > 0)
		;	/* said at the first failure */
	else if (j->kind == TASK_DELETE)
		log_warnx("msgid=%s: the queue store failed to remove the "
		    "delivered message's envelope (%s); tried again, and its "
		    "spool file kept until then", qid, why);
	else
		log_warnx("msgid=%s: the queue store failed to write the "
		    "message's new state (%s); tried again", qid, why);
	TAILQ_INSERT_TAIL(&rt->jobs, j, entry);
	rt->n++;
	if (!evtimer_pending(rt->timer, NULL))
		evtimer_add(rt->timer, &tv);
}

/* A PUT or DELETE committed: the store works again. */
void
retry_done(struct queued *q, struct task *j)
{
	struct qmsg	*m;
	char		 qid[32];

	q->retries->delay = RETRY_MIN;
	if (j->kind == TASK_PUT && (m = queue_find(q, j->id)) != NULL) {
		j->tries = m->put_fails;
		m->put_fails = 0;
	}
	if (j->tries == 0)
		return;
	queue_id_format(j->id, qid, sizeof(qid));
	log_info("msgid=%s: the queue store took the %s after %u failures",
	    qid, j->kind == TASK_DELETE ? "removal" : "new state", j->tries);
}

/* Send one failed update again, as it is now. */
static void
resubmit(struct queued *q, struct task *j)
{
	struct qmsg *m;

	if (j->kind == TASK_DELETE) {
		j->err = 0;
		j->mdb_err = 0;
		j->fd = -1;
		j->new_id = 0;
		committer_submit(q->cm, j);
		return;
	}
	if ((m = queue_find(q, j->id)) != NULL) {
		m->put_retry = 0;
		sched_persist(q, m);
	}
	free(j);
}

static void
retry_run(int fd, short ev, void *arg)
{
	struct queued	*q = arg;
	struct retries	*rt = q->retries;
	struct task_list	 todo;
	struct task	*j;

	(void)fd;
	(void)ev;
	TAILQ_INIT(&todo);
	TAILQ_CONCAT(&todo, &rt->jobs, entry);
	if (rt->n > 1)
		log_info("queue store: %zu failed updates tried again",
		    rt->n);
	rt->n = 0;
	rt->delay = rt->delay * 2 > RETRY_MAX ? RETRY_MAX : rt->delay * 2;
	while ((j = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, j, entry);
		resubmit(q, j);
	}
}

/* At exit: one last try, which the writer finishes before it stops. */
void
retry_flush(struct queued *q)
{
	if (q->retries == NULL || TAILQ_EMPTY(&q->retries->jobs))
		return;
	evtimer_del(q->retries->timer);
	retry_run(-1, 0, q);
}

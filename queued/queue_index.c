/*
 * queue_index: the queue index, queued's messages by id, and when their
 * entries are freed.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "queued.h"

int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(qmsg_tree, qmsg, entry, qmsg_cmp)

struct qmsg *
queue_insert(struct queued *q, struct envelope *e)
{
	struct qmsg *m;

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->busy = calloc(e->nrcpts ? e->nrcpts : 1, 1)) == NULL)
		fatal("queue index");
	m->id = e->id;
	m->env = e;
	if (RB_INSERT(qmsg_tree, &q->queue, m) != NULL)
		fatalx("msgid %016llx is queued twice",
		    (unsigned long long)e->id);
	q->nqueue++;
	quota_charge(q, e);
	return m;
}

struct qmsg *
queue_find(struct queued *q, uint64_t id)
{
	struct qmsg find, *m;

	find.id = id;
	m = RB_FIND(qmsg_tree, &q->queue, &find);
	return (m != NULL && !m->gone) ? m : NULL;
}

static void
qmsg_free(int fd, short ev, void *arg)
{
	struct qmsg *m = arg;

	(void)fd;
	(void)ev;
	envelope_free(m->env);
	free(m->busy);
	free(m);
}

/*
 * A message out of the index is freed once no job or notice refers to
 * it, and never under a caller's feet: from the event loop, later.
 */
void
queue_release(struct queued *q, struct qmsg *m)
{
	if (!m->gone || m->njobs > 0 || m->dsns > 0 || m->freeing)
		return;
	m->freeing = 1;
	if (event_base_once(q->child->base, -1, EV_TIMEOUT, qmsg_free, m,
	    NULL) == -1)
		log_warnx("msgid=%016llx: cannot free its index entry",
		    (unsigned long long)m->id);
}

/* Out of the index: gone to every look-up from now on. */
void
queue_remove(struct queued *q, struct qmsg *m)
{
	if (m->gone)
		return;
	if (m->scheduled) {
		RB_REMOVE(sched_tree, &q->schedule, m);
		m->scheduled = 0;
	}
	RB_REMOVE(qmsg_tree, &q->queue, m);
	q->nqueue--;
	quota_release(q, m->env);
	rec_forget(q, m);
	m->gone = 1;
	queue_release(q, m);
}

/* The envelope out of the store, then its file; no index entry. */
void
queue_forget(struct queued *q, uint64_t id)
{
	struct task *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatal("queue update");
	j->kind = TASK_DELETE;
	j->id = id;
	j->fd = -1;
	committer_submit(q->cm, j);
}

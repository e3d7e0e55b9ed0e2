/*
 * queue_commit: the group-commit pipeline.
 *
 *   event loop --submit--> fsync workers --> writer thread --> event loop
 *                          (body fsyncs,     (spool directory fsync,
 *                           concurrently)     one LMDB transaction
 *                                             per batch)
 *
 * The writer takes everything that is ready when it starts a batch, so
 * while one transaction commits the next batch gathers: the more load,
 * the larger the batches, and the cost of a sync is shared.  Results come
 * back through an eventfd; the event loop never blocks on the disk.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "faults.h"
#include "log.h"
#include "queued.h"

#define SYNC_WORKERS	4

struct committer {
	struct queued	*q;
	pthread_mutex_t	 lock;
	pthread_cond_t	 sync_cv;	/* work for the fsync workers */
	pthread_cond_t	 db_cv;		/* work for the writer */
	struct job_list	 sync_q;
	struct job_list	 db_q;
	struct job_list	 done_q;
	int		 efd;
	struct event	*ev;
	int		 stopping;
	pthread_t	 workers[SYNC_WORKERS];
	pthread_t	 writer;
};

static void
wake_loop(struct committer *cm)
{
	uint64_t one = 1;

	while (write(cm->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

static void *
sync_worker(void *arg)
{
	struct committer	*cm = arg;
	struct job		*j;

	pthread_mutex_lock(&cm->lock);
	for (;;) {
		while (TAILQ_EMPTY(&cm->sync_q) && !cm->stopping)
			pthread_cond_wait(&cm->sync_cv, &cm->lock);
		if (cm->stopping)
			break;
		j = TAILQ_FIRST(&cm->sync_q);
		TAILQ_REMOVE(&cm->sync_q, j, entry);
		pthread_mutex_unlock(&cm->lock);
		if (j->kind == JOB_DSN) {
			char err[256];

			if (dsn_write(cm->q->spool_fd, j->dsn, &j->env, err,
			    sizeof(err)) == -1) {
				j->err = errno ? errno : EIO;
				log_warnx("writing a delivery notice: %s", err);
			}
		} else if (fsync(j->fd) == -1)
			j->err = errno;
		else
			fault_point("queued-after-body-sync");
		pthread_mutex_lock(&cm->lock);
		TAILQ_INSERT_TAIL(&cm->db_q, j, entry);
		pthread_cond_signal(&cm->db_cv);
	}
	pthread_mutex_unlock(&cm->lock);
	return NULL;
}

static int
batch_has_commits(struct job_list *batch)
{
	struct job *j;

	TAILQ_FOREACH(j, batch, entry)
		if ((j->kind == JOB_COMMIT || j->kind == JOB_DSN) && j->err == 0)
			return 1;
	return 0;
}

static void *
db_writer(void *arg)
{
	struct committer	*cm = arg;
	struct job_list		 batch;
	struct job		*j;
	int			 dirfd = cm->q->spool_fd;

	pthread_mutex_lock(&cm->lock);
	for (;;) {
		while (TAILQ_EMPTY(&cm->db_q) && !cm->stopping)
			pthread_cond_wait(&cm->db_cv, &cm->lock);
		if (cm->stopping && TAILQ_EMPTY(&cm->db_q))
			break;
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &cm->db_q, entry);
		pthread_mutex_unlock(&cm->lock);

		/* New names in the spool become durable once per batch. */
		if (batch_has_commits(&batch) && fsync(dirfd) == -1) {
			int err = errno;

			TAILQ_FOREACH(j, &batch, entry)
				if ((j->kind == JOB_COMMIT ||
				    j->kind == JOB_DSN) && j->err == 0)
					j->err = err;
		}
		if (store_apply(cm->q->store, &batch) == 0)
			fault_point("queued-after-commit");

		pthread_mutex_lock(&cm->lock);
		TAILQ_CONCAT(&cm->done_q, &batch, entry);
		wake_loop(cm);
	}
	pthread_mutex_unlock(&cm->lock);
	return NULL;
}

static void
on_done(int fd, short ev, void *arg)
{
	struct committer	*cm = arg;
	struct job_list		 done;
	struct job		*j;
	uint64_t		 n;

	(void)ev;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		fatal("eventfd");
	TAILQ_INIT(&done);
	pthread_mutex_lock(&cm->lock);
	TAILQ_CONCAT(&done, &cm->done_q, entry);
	pthread_mutex_unlock(&cm->lock);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		receive_job_done(cm->q, j);
	}
}

struct committer *
committer_start(struct queued *q)
{
	struct committer	*cm;
	int			 i;

	if ((cm = calloc(1, sizeof(*cm))) == NULL)
		fatal("committer");
	cm->q = q;
	pthread_mutex_init(&cm->lock, NULL);
	pthread_cond_init(&cm->sync_cv, NULL);
	pthread_cond_init(&cm->db_cv, NULL);
	TAILQ_INIT(&cm->sync_q);
	TAILQ_INIT(&cm->db_q);
	TAILQ_INIT(&cm->done_q);
	if ((cm->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	cm->ev = event_new(q->child->base, cm->efd, EV_READ | EV_PERSIST,
	    on_done, cm);
	if (cm->ev == NULL || event_add(cm->ev, NULL) == -1)
		fatalx("committer event");
	for (i = 0; i < SYNC_WORKERS; i++)
		if (pthread_create(&cm->workers[i], NULL, sync_worker, cm) != 0)
			fatalx("cannot start an fsync worker");
	if (pthread_create(&cm->writer, NULL, db_writer, cm) != 0)
		fatalx("cannot start the queue writer");
	return cm;
}

/* Bodies and notices go to the workers first; the rest to the DB. */
void
committer_submit(struct committer *cm, struct job *j)
{
	pthread_mutex_lock(&cm->lock);
	if (j->kind == JOB_COMMIT || j->kind == JOB_DSN) {
		TAILQ_INSERT_TAIL(&cm->sync_q, j, entry);
		pthread_cond_signal(&cm->sync_cv);
	} else {
		TAILQ_INSERT_TAIL(&cm->db_q, j, entry);
		pthread_cond_signal(&cm->db_cv);
	}
	pthread_mutex_unlock(&cm->lock);
}

/* Let the writer finish what it holds; nothing half-done is answered. */
void
committer_stop(struct committer *cm)
{
	int i;

	if (cm == NULL)
		return;
	pthread_mutex_lock(&cm->lock);
	cm->stopping = 1;
	pthread_cond_broadcast(&cm->sync_cv);
	pthread_cond_broadcast(&cm->db_cv);
	pthread_mutex_unlock(&cm->lock);
	for (i = 0; i < SYNC_WORKERS; i++)
		pthread_join(cm->workers[i], NULL);
	pthread_join(cm->writer, NULL);
}

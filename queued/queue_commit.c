/*
 * queue_commit: the group-commit pipeline, and the spool's other disk
 * work, off the event loop.
 *
 *   event loop --submit--> workers ---------> writer thread --> event loop
 *                          (body fsyncs,      (one LMDB transaction per
 *                           concurrently;      batch, while a thread of
 *                           new spool files)   its own syncs the spool
 *                                              directory)
 *                          workers <--------- removed envelopes' files
 *
 * The writer takes everything that is ready when it starts a batch, so
 * while one transaction commits the next batch gathers: the more load,
 * the larger the batches, and the cost of a sync is shared.  Workers
 * take fsyncs and new files first; a file is recycled or unlinked only
 * when there is nothing more urgent, and only after its envelope's
 * removal committed.
 * Results come back through an eventfd; the event loop never blocks on
 * the disk.
 *
 * The writer also measures how full the store's map is, between batches:
 * once a second, or after each batch when it is near the high-water mark
 * or a batch failed; the event loop reads the figures (quota_store).
 * And when the event loop asks (queue_record.c, every half of
 * retention.message_records), it compacts the store between two batches
 * (queue_store.c): the batches that come meanwhile wait, none fails.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "faults.h"
#include "log.h"
#include "queued.h"

#define SYNC_WORKERS	4
#define HELD_QUIET	60	/* seconds between warnings of held files */
#define STORE_NEAR	80	/* % in use: measured after each batch */

struct committer {
	struct queued	*q;
	struct store	*store;		/* once open (committer_attach) */
	pthread_mutex_t	 lock;
	pthread_cond_t	 sync_cv;	/* work for the fsync workers */
	pthread_cond_t	 db_cv;		/* work for the writer */
	pthread_cond_t	 dir_cv;	/* a directory sync asked or done */
	int		 recycle_room;	/* files the event loop can take */
	time_t		 held_warned;	/* last warning of a held file */
	unsigned	 held_since;	/* held files not warned of since */
	int		 nolease_warned;
	uint64_t	 dir_want, dir_done;
	int		 dir_err;
	int		 writer_done;
	struct task_list	 sync_q;	/* fsyncs, notices, new files */
	struct task_list	 unlink_q;	/* files of removed envelopes */
	struct task_list	 db_q;
	struct task_list	 done_q;
	int		 efd;
	struct event	*ev;
	int		 stopping;
	int		 measure_now;
	int		 compact_now;
	uint64_t	 used, total;	/* the store's pages, last measured */
	uint64_t	 recent;	/* of used, freed but not reusable */
	uint64_t	 pput;		/* policyd's octets put since */
	time_t		 measured;	/* when, monotonic seconds */
	pthread_t	 workers[SYNC_WORKERS];
	pthread_t	 writer;
	pthread_t	 dir_thread;
};

static void
wake_loop(struct committer *cm)
{
	uint64_t one = 1;

	while (write(cm->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

/* With the lock held: the next task for a worker, NULL to stop. */
static struct task *
next_work(struct committer *cm)
{
	struct task *j;

	for (;;) {
		if (cm->stopping)
			return NULL;
		if ((j = TAILQ_FIRST(&cm->sync_q)) != NULL) {
			TAILQ_REMOVE(&cm->sync_q, j, entry);
			return j;
		}
		if ((j = TAILQ_FIRST(&cm->unlink_q)) != NULL) {
			TAILQ_REMOVE(&cm->unlink_q, j, entry);
			return j;
		}
		pthread_cond_wait(&cm->sync_cv, &cm->lock);
	}
}

/* Room in the event loop's pool of recycled files, or 0. */
static int
take_room(struct committer *cm)
{
	int ok;

	pthread_mutex_lock(&cm->lock);
	if ((ok = cm->recycle_room > 0))
		cm->recycle_room--;
	pthread_mutex_unlock(&cm->lock);
	return ok;
}

static void
give_room(struct committer *cm)
{
	pthread_mutex_lock(&cm->lock);
	cm->recycle_room++;
	pthread_mutex_unlock(&cm->lock);
}

/* The event loop took a recycled file: room for one more. */
void
committer_recycled_taken(struct committer *cm)
{
	give_room(cm);
}

/*
 * A file that could not be recycled because it is open elsewhere: after
 * its message was done with, only a misbehaving deliverd can hold it.
 * One warning a minute at most, with the count since the last.
 */
static void
warn_held(struct committer *cm, uint64_t id)
{
	time_t		now = time(NULL);
	unsigned	more = 0;
	int		say;

	pthread_mutex_lock(&cm->lock);
	if ((say = now - cm->held_warned >= HELD_QUIET)) {
		more = cm->held_since;
		cm->held_since = 0;
		cm->held_warned = now;
	} else
		cm->held_since++;
	pthread_mutex_unlock(&cm->lock);
	if (say)
		log_warnx("msgid=%016llx: spool file still open outside queued "
		    "after the message was done with (deliverd?); removed, not "
		    "reused (%u more since the last warning)",
		    (unsigned long long)id, more);
}

static void
warn_nolease(struct committer *cm, int err)
{
	int say;

	pthread_mutex_lock(&cm->lock);
	say = !cm->nolease_warned;
	cm->nolease_warned = 1;
	pthread_mutex_unlock(&cm->lock);
	if (say)
		log_warnx("spool: no file lease (%s): files of delivered "
		    "messages are removed, not reused", strerror(err));
}

/* A removed envelope's file: reused if no one else has it, else gone. */
static void
delete_file(struct committer *cm, struct task *j)
{
	int	dirfd = cm->q->spool_fd, why;

	j->fd = -1;
	if (take_room(cm)) {
		if ((j->fd = spool_recycle(dirfd, j->id, &j->new_id,
		    &why)) == -1) {
			if (why == RECYCLE_HELD)
				warn_held(cm, j->id);
			else if (why == RECYCLE_NOLEASE)
				warn_nolease(cm, errno);
			give_room(cm);
		}
	}
	/* Whoever holds it keeps reading the old message, no other. */
	if (j->fd == -1)
		spool_unlink(dirfd, j->id);
}

/* Without the lock: 1 if the task goes on to the writer. */
static int
work(struct committer *cm, struct task *j)
{
	int	 dirfd = cm->q->spool_fd;
	char	 err[256];

	switch (j->kind) {
	case TASK_CREATE:
		if ((j->fd = spool_create(dirfd, &j->id)) == -1)
			j->err = errno;
		return 0;
	case TASK_DELETE:
		delete_file(cm, j);
		return 0;
	case TASK_DSN:
		if (dsn_write(dirfd, j->dsn, &j->env, err, sizeof(err)) ==
		    -1) {
			j->err = errno ? errno : EIO;
			log_warnx("writing a delivery notice: %s", err);
		}
		return 1;
	case TASK_NOTICE:
		if (notice_write(dirfd, j, err, sizeof(err)) == -1) {
			j->err = errno ? errno : EIO;
			log_warnx("tenant=%s: writing a notice: %s", j->tenant,
			    err);
		}
		return 1;
	default:
		if (j->edits != NULL && pedits_apply(j->fd, j->edits,
		    j->env->size) == -1) {
			j->err = errno;
			log_warn("msgid=%016llx: applying the milters' header "
			    "edits", (unsigned long long)j->id);
		} else if (fsync(j->fd) == -1)
			j->err = errno;
		else if ((j->err = fault_error("queued-body-sync")) == 0)
			fault_point("queued-after-body-sync");
		return 1;
	}
}

static void *
sync_worker(void *arg)
{
	struct committer	*cm = arg;
	struct task		*j;

	pthread_mutex_lock(&cm->lock);
	while ((j = next_work(cm)) != NULL) {
		pthread_mutex_unlock(&cm->lock);
		if (work(cm, j)) {
			pthread_mutex_lock(&cm->lock);
			TAILQ_INSERT_TAIL(&cm->db_q, j, entry);
			pthread_cond_signal(&cm->db_cv);
		} else {
			pthread_mutex_lock(&cm->lock);
			TAILQ_INSERT_TAIL(&cm->done_q, j, entry);
			wake_loop(cm);
		}
	}
	pthread_mutex_unlock(&cm->lock);
	return NULL;
}

static int
batch_has(struct task_list *batch, enum task_kind kind)
{
	struct task *j;

	TAILQ_FOREACH(j, batch, entry)
		if (j->kind == kind && j->err == 0)
			return 1;
	return 0;
}

static void
batch_fail(struct task_list *batch, enum task_kind kind, int err)
{
	struct task *j;

	TAILQ_FOREACH(j, batch, entry)
		if (j->kind == kind && j->err == 0)
			j->err = err;
}

/* The spool directory's fsync, on its own thread: see db_writer. */
static void *
dir_syncer(void *arg)
{
	struct committer	*cm = arg;
	uint64_t		 gen;
	int			 err;

	pthread_mutex_lock(&cm->lock);
	for (;;) {
		while (cm->dir_want == cm->dir_done && !cm->writer_done)
			pthread_cond_wait(&cm->dir_cv, &cm->lock);
		if (cm->dir_want == cm->dir_done)
			break;		/* the writer has stopped */
		gen = cm->dir_want;
		pthread_mutex_unlock(&cm->lock);
		err = fsync(cm->q->spool_fd) == -1 ? errno :
		    fault_error("queued-dir-sync");
		pthread_mutex_lock(&cm->lock);
		cm->dir_done = gen;
		cm->dir_err = err;
		pthread_cond_broadcast(&cm->dir_cv);
	}
	pthread_mutex_unlock(&cm->lock);
	return NULL;
}

static uint64_t
dir_sync_start(struct committer *cm)
{
	uint64_t gen;

	pthread_mutex_lock(&cm->lock);
	gen = ++cm->dir_want;
	pthread_cond_broadcast(&cm->dir_cv);
	pthread_mutex_unlock(&cm->lock);
	return gen;
}

static int
dir_sync_wait(struct committer *cm, uint64_t gen)
{
	int err;

	pthread_mutex_lock(&cm->lock);
	while (cm->dir_done < gen)
		pthread_cond_wait(&cm->dir_cv, &cm->lock);
	err = cm->dir_err;
	pthread_mutex_unlock(&cm->lock);
	return err;
}

/*
 * One batch.  The new names in the spool must be durable before any
 * answer.  A notice's name goes first, then its envelope: a failed sync
 * must not leave a notice queued that will be written again.  A
 * message's name goes to disk while its envelope commits, since its 250
 * waits for both: an envelope whose name is lost in a crash was never
 * acknowledged, and queued drops it at start.  If the directory's sync
 * fails after the envelope committed, the task says so (stored) and the
 * event loop answers 451 and removes the envelope.
 */
static int
write_batch(struct committer *cm, struct task_list *batch)
{
	struct task	*j;
	uint64_t	 gen = 0;
	int		 err, rv;

	if (batch_has(batch, TASK_DSN) || batch_has(batch, TASK_NOTICE)) {
		if (fsync(cm->q->spool_fd) == -1) {
			err = errno;
			batch_fail(batch, TASK_DSN, err);
			batch_fail(batch, TASK_NOTICE, err);
			batch_fail(batch, TASK_COMMIT, err);
		}
	} else if (batch_has(batch, TASK_COMMIT))
		gen = dir_sync_start(cm);
	/* The crash point is a message's: other batches pass it by. */
	if ((rv = store_apply(cm->store, batch)) == 0 &&
	    (gen != 0 || batch_has(batch, TASK_DSN) ||
	    batch_has(batch, TASK_NOTICE)))
		fault_point("queued-after-commit");
	if (gen == 0 || (err = dir_sync_wait(cm, gen)) == 0)
		return rv;
	TAILQ_FOREACH(j, batch, entry)
		if (j->kind == TASK_COMMIT && j->err == 0) {
			j->stored = 1;
			j->err = err;
		}
	return rv;
}

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Without the lock: the store's usage, when it may have moved; 1 if
 * measured. */
static int
measure(struct committer *cm, int force)
{
	uint64_t	used, total, recent;
	time_t		now = mono_now();

	if (cm->store == NULL)
		return 0;
	if (!force && now == cm->measured &&
	    cm->used * 100 < cm->total * STORE_NEAR)
		return 0;
	cm->measured = now;
	if (store_usage(cm->store, &used, &total, &recent) == -1)
		return 0;
	pthread_mutex_lock(&cm->lock);
	cm->used = used;
	cm->total = total;
	cm->recent = recent;
	cm->pput = 0;
	pthread_mutex_unlock(&cm->lock);
	return 1;
}

/* The octets of policyd's new entries a batch committed. */
static uint64_t
policy_octets(struct task_list *batch)
{
	struct task	*j;
	uint64_t	 n = 0;

	TAILQ_FOREACH(j, batch, entry)
		if (j->kind == TASK_POLICY && j->pop == PQ_OP_PUT &&
		    j->err == 0)
			n += j->pkeylen + j->bloblen;
	return n;
}

/* The event loop's copy of the last measure; -1 before the first. */
int
committer_usage(struct committer *cm, uint64_t *used, uint64_t *total)
{
	int rv;

	pthread_mutex_lock(&cm->lock);
	*used = cm->used;
	*total = cm->total;
	rv = cm->total > 0 ? 0 : -1;
	pthread_mutex_unlock(&cm->lock);
	return rv;
}

/*
 * The same, with the free pages the next batch cannot take counted as
 * used, and the octets policyd put that the measure does not hold.
 */
int
committer_usage_since(struct committer *cm, uint64_t *used, uint64_t *total,
    uint64_t *pput)
{
	int rv;

	pthread_mutex_lock(&cm->lock);
	*used = cm->used + cm->recent;
	*total = cm->total;
	*pput = cm->pput;
	rv = cm->total > 0 ? 0 : -1;
	pthread_mutex_unlock(&cm->lock);
	return rv;
}

/* With the lock held: removed envelopes' files to the workers. */
static void
hand_back(struct committer *cm, struct task_list *batch)
{
	struct task *j;

	while ((j = TAILQ_FIRST(batch)) != NULL) {
		TAILQ_REMOVE(batch, j, entry);
		if (j->kind == TASK_DELETE && j->err == 0) {
			TAILQ_INSERT_TAIL(&cm->unlink_q, j, entry);
			pthread_cond_signal(&cm->sync_cv);
		} else
			TAILQ_INSERT_TAIL(&cm->done_q, j, entry);
	}
	wake_loop(cm);
}

/* Without the lock: the store compacted, if anything was freed. */
static void
compact(struct committer *cm)
{
	struct timespec	t0, t1;
	uint64_t	before, after;
	char		err[512];

	if (cm->store == NULL || !store_compact_due(cm->store))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (store_compact(cm->store, &before, &after, err, sizeof(err)) ==
	    -1) {
		log_warnx("queue store: compaction failed: %s; the freed pages "
		    "stay until the next", err);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("queue store: compacted in %.3fs, %llu octets to %llu: no "
	    "freed page is left", (double)(t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9, (unsigned long long)before,
	    (unsigned long long)after);
}

/* The event loop's: compact between the next two batches. */
void
committer_compact(struct committer *cm)
{
	pthread_mutex_lock(&cm->lock);
	cm->compact_now = 1;
	pthread_cond_signal(&cm->db_cv);
	pthread_mutex_unlock(&cm->lock);
}

static void *
db_writer(void *arg)
{
	struct committer	*cm = arg;
	struct task_list		 batch;
	uint64_t		 added;
	int			 failed, measured;

	pthread_mutex_lock(&cm->lock);
	for (;;) {
		while (TAILQ_EMPTY(&cm->db_q) && !cm->stopping &&
		    !cm->measure_now && !cm->compact_now)
			pthread_cond_wait(&cm->db_cv, &cm->lock);
		if (cm->compact_now && !cm->stopping) {
			cm->compact_now = 0;
			pthread_mutex_unlock(&cm->lock);
			compact(cm);
			measure(cm, 1);
			pthread_mutex_lock(&cm->lock);
			continue;
		}
		if (cm->measure_now) {
			cm->measure_now = 0;
			pthread_mutex_unlock(&cm->lock);
			measure(cm, 1);
			pthread_mutex_lock(&cm->lock);
			continue;
		}
		if (cm->stopping && TAILQ_EMPTY(&cm->db_q))
			break;
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &cm->db_q, entry);
		pthread_mutex_unlock(&cm->lock);

		failed = write_batch(cm, &batch) == -1;
		added = policy_octets(&batch);
		measured = measure(cm, failed);
		pthread_mutex_lock(&cm->lock);
		if (!measured)
			cm->pput += added;
		hand_back(cm, &batch);
	}
	cm->writer_done = 1;
	pthread_cond_broadcast(&cm->dir_cv);
	pthread_mutex_unlock(&cm->lock);
	return NULL;
}

static void
on_done(int fd, short ev, void *arg)
{
	struct committer	*cm = arg;
	struct task_list		 done;
	struct task		*j;
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
		receive_task_done(cm->q, j);
	}
	/* A batch may have crossed the high-water mark: tell smtpd now. */
	if (quota_store(cm->q))
		quota_tick(-1, 0, cm->q);
}

struct committer *
committer_start(struct queued *q)
{
	struct committer	*cm;
	int			 i;

	if ((cm = calloc(1, sizeof(*cm))) == NULL)
		fatal("committer");
	cm->q = q;
	cm->recycle_room = RECYCLED_MAX;
	pthread_mutex_init(&cm->lock, NULL);
	pthread_cond_init(&cm->sync_cv, NULL);
	pthread_cond_init(&cm->db_cv, NULL);
	pthread_cond_init(&cm->dir_cv, NULL);
	TAILQ_INIT(&cm->sync_q);
	TAILQ_INIT(&cm->unlink_q);
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
	if (pthread_create(&cm->dir_thread, NULL, dir_syncer, cm) != 0)
		fatalx("cannot start the spool directory syncer");
	return cm;
}

/*
 * The store is open: the writer's from now on.  Started before it (and
 * before the sandbox: the first thread makes the C library set up its
 * signals), the threads have had nothing to write.
 */
void
committer_attach(struct committer *cm, struct store *st)
{
	pthread_mutex_lock(&cm->lock);
	cm->store = st;
	cm->measure_now = 1;
	pthread_cond_signal(&cm->db_cv);
	pthread_mutex_unlock(&cm->lock);
}

/* Bodies, notices and new files go to the workers; the rest to the DB. */
void
committer_submit(struct committer *cm, struct task *j)
{
	pthread_mutex_lock(&cm->lock);
	if (j->kind == TASK_COMMIT || j->kind == TASK_DSN ||
	    j->kind == TASK_NOTICE || j->kind == TASK_CREATE) {
		TAILQ_INSERT_TAIL(&cm->sync_q, j, entry);
		pthread_cond_signal(&cm->sync_cv);
	} else {
		TAILQ_INSERT_TAIL(&cm->db_q, j, entry);
		pthread_cond_signal(&cm->db_cv);
	}
	pthread_mutex_unlock(&cm->lock);
}

/*
 * Let the writer finish what it holds; nothing half-done is answered.
 * Files whose envelopes are gone are removed now, not taken at the next
 * start for messages that were never acknowledged.
 */
void
committer_stop(struct committer *cm)
{
	struct task	*j;
	int		 i;

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
	pthread_join(cm->dir_thread, NULL);
	while ((j = TAILQ_FIRST(&cm->unlink_q)) != NULL) {
		TAILQ_REMOVE(&cm->unlink_q, j, entry);
		spool_unlink(cm->q->spool_fd, j->id);
		free(j);
	}
	/*
	 * The event loop has run for the last time.  Empty files made for
	 * the next messages (new, or recycled) go, as recycled_drop_all
	 * does for those already handed back; then say what was lost.
	 */
	TAILQ_FOREACH(j, &cm->done_q, entry) {
		if (j->fd == -1 || (j->kind != TASK_CREATE &&
		    j->kind != TASK_DELETE))
			continue;
		close(j->fd);
		j->fd = -1;
		spool_unlink(cm->q->spool_fd, j->kind == TASK_CREATE ? j->id :
		    j->new_id);
	}
	TAILQ_FOREACH(j, &cm->done_q, entry)
		if ((j->kind == TASK_DELETE || j->kind == TASK_PUT) &&
		    j->err != 0)
			log_warnx("msgid=%016llx: the queue store still fails "
			    "(%s) at exit: its %s is lost, and the message may "
			    "be delivered again after the restart",
			    (unsigned long long)j->id, strerror(j->err),
			    j->kind == TASK_DELETE ? "removal" : "new state");
}

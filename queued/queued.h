/*
 * queued: the queue.  Spool files and envelopes, their durability, and
 * (with the scheduler) what is delivered when.
 *
 * A 250 means the body is fsynced, the spool directory is synced and the
 * envelope is committed to LMDB.  Commits that arrive together share one
 * LMDB transaction, and their fsyncs run concurrently on worker threads so
 * the filesystem journal merges them: throughput is not one sync per
 * message, and the event loop never waits on a disk.
 *
 * queued is the only writer of the LMDB store (state_dir/db).  It never
 * uses MDB_WRITEMAP (a full disk would be SIGBUS, not ENOSPC) nor
 * MDB_NOSYNC.
 *
 * BUGS: a failed fsync is final for its message (451), never retried:
 * after an I/O error the page cache can look clean while the data is gone.
 */
#ifndef RELAYD_QUEUED_H
#define RELAYD_QUEUED_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <pthread.h>
#include <stdint.h>

#include "envelope.h"
#include "imsg.h"

struct child;
struct conf;
struct store;
struct committer;

/* A message being received: its spool file exists, no envelope yet. */
struct pending {
	RB_ENTRY(pending)	 entry;
	uint64_t		 id;
	uint64_t		 sid;		/* smtpd session */
	int			 fd;
	int			 committing;
	struct envelope		*env;
};
RB_HEAD(pending_tree, pending);
int	 pending_cmp(struct pending *, struct pending *);
RB_PROTOTYPE(pending_tree, pending, entry, pending_cmp)

/* A message in the queue. */
struct qmsg {
	RB_ENTRY(qmsg)		 entry;
	uint64_t		 id;
	struct envelope		*env;
};
RB_HEAD(qmsg_tree, qmsg);
int	 qmsg_cmp(struct qmsg *, struct qmsg *);
RB_PROTOTYPE(qmsg_tree, qmsg, entry, qmsg_cmp)

struct queued {
	struct child		*child;
	const struct conf	*conf;
	int			 spool_fd;	/* the spool directory */
	struct store		*store;
	struct committer	*cm;
	struct pending_tree	 pending;
	struct qmsg_tree	 queue;
	size_t			 nqueue;
	struct event		*space_timer;
	uint64_t		 free_space;	/* last sent to smtpd */
	uint64_t		 committed;	/* messages, for status */
};

/* Work for the commit pipeline. */
enum job_kind {
	JOB_COMMIT,		/* fsync the body, then put the envelope */
	JOB_PUT,		/* put an updated envelope */
	JOB_DELETE		/* delete the envelope, then the file */
};

struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_kind		 kind;
	uint64_t		 id;
	uint64_t		 sid;
	int			 fd;
	struct envelope		*env;
	int			 err;		/* errno, or an MDB code */
	int			 mdb_err;
};
TAILQ_HEAD(job_list, job);

/* queue_store.c: LMDB. */
struct store *store_open(const char *dir, char *err, size_t errsz);
void	 store_close(struct store *);
/* Apply a batch in one transaction; sets each job's err. */
int	 store_apply(struct store *, struct job_list *);
/* Every envelope, for start-up. */
int	 store_load(struct store *, void (*)(void *, struct envelope *),
	    void *);

/* queue_commit.c: fsync workers and the group-commit writer. */
struct committer *committer_start(struct queued *);
void	 committer_submit(struct committer *, struct job *);
void	 committer_stop(struct committer *);

/* queue_spool.c */
int	 spool_create(struct queued *, uint64_t *id);
void	 spool_unlink(struct queued *, uint64_t id);
void	 spool_scan(struct queued *);
uint64_t spool_free_space(struct queued *);

/* queue_receive.c: the smtpd side. */
void	 receive_dispatch(struct queued *, struct imsg *);
void	 receive_job_done(struct queued *, struct job *);
void	 space_check(int, short, void *);

/* queue_control.c */
void	 control_request(struct queued *, struct imsg *);

/* queued.c */
void	 queue_insert(struct queued *, struct envelope *);

#endif

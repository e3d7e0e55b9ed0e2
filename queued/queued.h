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
#include "fdneed.h"
#include "fdpool.h"
#include "imsg.h"
#include "msg_deliver.h"

struct child;
struct conf;
struct store;
struct committer;
struct use_tree;
struct troute_tree;

/* A message being received: its spool file exists, no envelope yet. */
struct pending {
	RB_ENTRY(pending)	 entry;
	uint64_t		 id;
	uint64_t		 sid;		/* smtpd session */
	int			 fd;
	int			 committing;
	int			 stale_tenant;	/* not in our configuration */
	struct envelope		*env;
};
RB_HEAD(pending_tree, pending);
int	 pending_cmp(struct pending *, struct pending *);
RB_PROTOTYPE(pending_tree, pending, entry, pending_cmp)

/* A message in the queue, and where it stands in the schedule. */
struct qmsg {
	RB_ENTRY(qmsg)		 entry;		/* by id */
	RB_ENTRY(qmsg)		 sched;		/* by (next, id) */
	uint64_t		 id;
	struct envelope		*env;
	int64_t			 next;		/* when scheduled */
	int			 scheduled;
	uint8_t			*busy;		/* per recipient: BUSY_* */
	unsigned		 njobs;		/* jobs at deliverd */
	unsigned		 dsns;		/* notices being written */
	int			 dirty;		/* persist once dsns is 0 */
	int			 removing;	/* relayctl queue remove */
	int			 gone;		/* deleted: out of the index */
	int			 freeing;	/* queue_release scheduled */
};
#define BUSY_JOB	0x1	/* in a delivery job at deliverd */
#define BUSY_NOTICE	0x2	/* its notice is being written */
RB_HEAD(qmsg_tree, qmsg);
int	 qmsg_cmp(struct qmsg *, struct qmsg *);
RB_PROTOTYPE(qmsg_tree, qmsg, entry, qmsg_cmp)
RB_HEAD(sched_tree, qmsg);
int	 sched_cmp(struct qmsg *, struct qmsg *);
RB_PROTOTYPE(sched_tree, qmsg, sched, sched_cmp)

/* A destination as the scheduler sees it: up, or down since when. */
struct qdest {
	RB_ENTRY(qdest)		 entry;
	char			 key[ROUTE_KEY_MAX];
	int			 down;
	unsigned		 inflight;
};
RB_HEAD(qdest_tree, qdest);
int	 qdest_cmp(struct qdest *, struct qdest *);
RB_PROTOTYPE(qdest_tree, qdest, entry, qdest_cmp)

/* A job at deliverd: some recipients of one message, one destination. */
struct djob {
	RB_ENTRY(djob)		 entry;
	uint64_t		 id;
	struct qmsg		*m;
	struct qdest		*dest;
	uint32_t		*idx;
	size_t			 n;
	int			 any_sent;
};
RB_HEAD(djob_tree, djob);
int	 djob_cmp(struct djob *, struct djob *);
RB_PROTOTYPE(djob_tree, djob, entry, djob_cmp)

/* Emptied files of delivered messages, ready to be new ones. */
#define RECYCLED_MAX	FD_RECYCLED

struct queued {
	struct child		*child;
	const struct conf	*conf;
	int			 spool_fd;	/* the spool directory */
	struct store		*store;
	struct committer	*cm;
	struct pending_tree	 pending;
	size_t			 npending;
	size_t			 ncreating;	/* JOB_CREATE out */
	size_t			 fd_limit;	/* RLIMIT_NOFILE as we got it */
	size_t			 pending_cap;	/* files held for smtpd */
	size_t			 job_window;	/* jobs out at deliverd */
	int			 pending_full;	/* refusing M_Q_CREATE */
	struct qmsg_tree	 queue;
	struct sched_tree	 schedule;
	struct qdest_tree	 dests;
	struct djob_tree	 jobs;
	size_t			 nqueue;
	size_t			 njobs;
	uint64_t		 next_job;
	struct event		*sched_timer;
	struct event		*space_timer;
	struct use_tree		*usage;		/* per tenant (queue_quota.c) */
	struct troute_tree	*routes;	/* tenants' (queue_route.c) */
	int			 store_full;	/* past the page high-water */
	uint64_t		 told_free;	/* last M_Q_STATUS */
	int			 told_full;
	uint8_t			 told_rooms[IMSG_MAX_PAYLOAD];
	size_t			 told_rooms_len;
	uint64_t		 committed;	/* messages, for status */
	uint64_t		 sent;		/* recipients, for status */
	uint64_t		 bounced;
	struct fdpool		 recycled;
};

/* A delivery status notification to write (queue_dsn.c). */
enum dsn_kind {
	DSN_FAILURE,		/* Action: failed */
	DSN_DELAY,		/* Action: delayed */
	DSN_RELAYED		/* Action: relayed (success, next hop no DSN) */
};

struct dsn_item {
	size_t			 idx;		/* in the original's envelope */
	char			*rcpt;
	char			*orcpt;
	char			 status[16];
	char			*diag;
	char			*remote;
};

struct dsn_spec {
	enum dsn_kind		 kind;
	struct qmsg		*orig;		/* held: orig->dsns counts us */
	uint64_t		 orig_id;
	int			 orig_fd;
	char			*sender;	/* the original's: our recipient */
	char			 envid[ENVID_MAX + 1];
	uint8_t			 ret;
	uint8_t			 smtputf8;
	int64_t			 arrival;
	int64_t			 retry_until;	/* DSN_DELAY */
	char			*hostname;
	struct dsn_item		*items;
	size_t			 nitems;
	/* where the notice goes */
	uint8_t			 dir;
	uint8_t			 route;
	char			 tenant[TENANT_MAX + 1];
	char			*domain;
};

/* Work for the commit pipeline. */
enum job_kind {
	JOB_COMMIT,		/* fsync the body, then put the envelope */
	JOB_PUT,		/* put an updated envelope (blob) */
	JOB_DELETE,		/* delete the envelope, then the file */
	JOB_DSN,		/* write a notice, fsync it, put its envelope */
	JOB_CREATE,		/* a new, empty spool file (no DB work) */
	JOB_STS			/* put (blob) or delete an MTA-STS policy */
};

struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_kind		 kind;
	uint64_t		 id;
	uint64_t		 sid;
	int			 fd;
	struct envelope		*env;		/* COMMIT; DSN: the notice */
	uint8_t			*blob;		/* PUT; STS: NULL deletes */
	size_t			 bloblen;
	char			*name;		/* STS: the domain */
	struct dsn_spec		*dsn;		/* DSN */
	int			 err;		/* errno, or an MDB code */
	int			 mdb_err;
	int			 stored;	/* COMMIT: err came after the
						   envelope committed */
	uint64_t		 new_id;	/* DELETE: the file recycled
						   as this one (fd) */
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
/* Every stored MTA-STS policy: domain, and the value deliverd sent. */
int	 store_sts_load(struct store *, void (*)(void *, const char *,
	    const void *, size_t), void *);

/* queue_commit.c: fsync workers and the group-commit writer. */
struct committer *committer_start(struct queued *);
void	 committer_submit(struct committer *, struct job *);
void	 committer_stop(struct committer *);
void	 committer_recycled_taken(struct committer *);

/* queue_spool.c */
int	 spool_create(int dirfd, uint64_t *id);
int	 spool_recycle(int dirfd, uint64_t old, uint64_t *id, int *why);
#define RECYCLE_HELD	1	/* open outside queued: not to be reused */
#define RECYCLE_NOLEASE	2	/* no lease to be had: cannot tell */
void	 recycled_put(struct queued *, uint64_t, int);
int	 recycled_take(struct queued *, uint64_t *, int *);
void	 recycled_drop_all(struct queued *);
void	 spool_unlink(int dirfd, uint64_t id);
void	 spool_scan(struct queued *);
uint64_t spool_free_space(struct queued *);

/* queue_receive.c: the smtpd side. */
void	 receive_dispatch(struct queued *, struct imsg *);
void	 receive_job_done(struct queued *, struct job *);
void	 pending_drop_all(struct queued *);

/* queue_quota.c: what may still be accepted, and smtpd told so. */
void	 quota_init(struct queued *);
void	 quota_charge(struct queued *, const struct envelope *);
void	 quota_release(struct queued *, const struct envelope *);
void	 quota_reserve(struct queued *, const struct envelope *, int take);
const char *quota_exceeded(struct queued *, const struct envelope *);
uint64_t quota_used(struct queued *, const char *tenant);
void	 quota_tick(int, short, void *);

/* queue_route.c: route keys and tenant routes, removed tenants too. */
void	 route_key(const struct rcpt *, char *, size_t);
void	 routes_update(struct queued *, const struct conf *);
const struct hostport *route_hosts(struct queued *, const char *tenant,
	    size_t *n);
int	 route_tenant_removed(struct queued *, const char *tenant);
uint32_t route_lifetime(struct queued *, const struct rcpt *);

/* queue_control.c */
void	 control_request(struct queued *, struct imsg *);

/* queued.c */
void	 queued_fd_budget(struct queued *);
struct qmsg *queue_insert(struct queued *, struct envelope *);
struct qmsg *queue_find(struct queued *, uint64_t);
void	 queue_remove(struct queued *, struct qmsg *);
void	 queue_forget(struct queued *, uint64_t);
void	 queue_release(struct queued *, struct qmsg *);

/* scheduler.c */
void	 sched_init(struct queued *);
void	 sched_add(struct queued *, struct qmsg *);
void	 sched_wake(struct queued *);
void	 sched_persist(struct queued *, struct qmsg *);
void	 sched_dsn_done(struct queued *, struct job *);
int	 sched_flush(struct queued *, struct qmsg *);
void	 sched_hold(struct queued *, struct qmsg *, int hold);
void	 sched_remove(struct queued *, struct qmsg *);
void	 sched_bounce(struct queued *, struct qmsg *, const char *why);
uint32_t rcpt_lifetime(struct queued *, const struct envelope *,
	    const struct rcpt *);
void	 rcpt_bounce(struct queued *, struct qmsg *, size_t,
	    const char *status, const char *diag, const char *remote,
	    struct dsn_item **, size_t *);
void	 maybe_warn(struct queued *, struct qmsg *, int64_t now);
void	 sched_dest_up(struct queued *, const char *key);
void	 sched_result(struct queued *, struct qmsg *, size_t, int result,
	    const char *dsn, const char *diag, const char *remote,
	    int dsn_passed, struct dsn_item **, size_t *,
	    struct dsn_item **, size_t *);
void	 sched_job_done(struct queued *, struct qmsg *, struct dsn_item *,
	    size_t, struct dsn_item *, size_t);

/* queue_deliver.c: the deliverd side. */
void	 deliver_send(struct queued *, struct qmsg *, const char *key,
	    uint32_t *idx, size_t n);
void	 deliver_dispatch(struct queued *, struct imsg *);
void	 deliver_sts_load(struct queued *);

/* queue_dsn.c: notices, written on a worker thread. */
int	 dsn_write(int spool_fd, struct dsn_spec *, struct envelope **,
	    char *err, size_t errsz);
void	 dsn_spec_free(struct dsn_spec *);

#endif

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
 * MDB_NOSYNC.  The store is opened when the first configuration comes,
 * mapped at limits.store_max_size; until then smtpd's requests get 451.
 * Past 90% of the map in use, new mail gets 452 4.3.1 (until below 85%)
 * so that removing delivered messages always finds pages.
 *
 * An update of a queued message (a new state, a removal) that the store
 * fails is tried again, with a backoff, until it commits; a removed
 * message's spool file stays until its envelope's removal commits.  A
 * failed new message (a commit) is answered 451 or 452 instead.
 *
 * What cannot be used is kept, never deleted: an envelope that cannot be
 * read, or that lost its spool file outside the crash window, goes with
 * its body to state_dir/corrupt (queue_corrupt.c).
 *
 * BUGS: a failed fsync is final for its message (451), never retried:
 * after an I/O error the page cache can look clean while the data is gone.
 * An update that still fails when queued exits is lost: a message whose
 * removal never committed is delivered again after the restart.
 */
#ifndef RELAYD_QUEUED_H
#define RELAYD_QUEUED_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <pthread.h>
#include <stdint.h>

#include "envelope.h"
#include "fdneed.h"
#include "hdr_scan.h"
#include "fdpool.h"
#include "imsg.h"
#include "msg_deliver.h"
#include "msg_milter.h"

struct child;
struct conf;
struct store;
struct committer;
struct use_tree;
struct troute_tree;
struct retries;
struct policy_writes;
struct tstate_tree;
struct records;
struct qstats;
struct ctl_req;
struct mr;

/* Header edits of a scanned message (queue_scan.c). */
struct pedits {
	struct hdr_edit		 e[MILTER_EDITS_MAX];
	size_t			 n;
	int64_t			 delta;		/* the size changes by */
};

/* A message being received: its spool file exists, no envelope yet. */
struct pending {
	RB_ENTRY(pending)	 entry;
	uint64_t		 id;
	uint64_t		 sid;		/* smtpd session */
	int			 fd;
	int			 committing;
	int			 stale_tenant;	/* not in our configuration */
	struct envelope		*env;
	int			 scan_claim;	/* policyd may open it once */
	int			 edits_failed;	/* out of memory taking them */
	struct pedits		*edits;
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
	unsigned		 put_fails;	/* store updates failed */
	int			 put_retry;	/* one is to be tried again */
	/* Its records not yet in records/open/ID (queue_record.c). */
	TAILQ_ENTRY(qmsg)	 rec_entry;
	char			*rec;
	size_t			 rec_len, rec_cap;
	int64_t			 rec_since;	/* monotonic, the oldest */
	int			 rec_listed;	/* on the unfiled list */
	int			 rec_filed;	/* records/open/ID may exist */
};
TAILQ_HEAD(qmsg_list, qmsg);
#define BUSY_JOB	0x1	/* in a delivery job at deliverd */
#define BUSY_NOTICE	0x2	/* its notice is being written */
RB_HEAD(qmsg_tree, qmsg);
int	 qmsg_cmp(struct qmsg *, struct qmsg *);
RB_PROTOTYPE(qmsg_tree, qmsg, entry, qmsg_cmp)
RB_HEAD(sched_tree, qmsg);
int	 sched_cmp(struct qmsg *, struct qmsg *);
RB_PROTOTYPE(sched_tree, qmsg, sched, sched_cmp)

/*
 * A destination as the scheduler sees it: up, or down since when, and
 * for a tenant route that is down, when it is probed (queue_probe.c).
 */
struct qdest {
	RB_ENTRY(qdest)		 entry;
	char			 key[ROUTE_KEY_MAX];
	int			 down;
	unsigned		 inflight;
	int64_t			 down_since;
	int64_t			 probe_at;	/* the next probe */
	uint64_t		 probe_id;	/* one out at deliverd, or 0 */
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

struct auth_grants;

struct queued {
	struct child		*child;
	struct auth_grants	*grants;	/* queue_auth.c */
	const struct conf	*conf;
	int			 spool_fd;	/* the spool directory */
	int			 corrupt_fd;	/* the quarantine */
	struct store		*store;		/* open once configured */
	struct retries		*retries;	/* queue_retry.c */
	struct committer	*cm;
	struct pending_tree	 pending;
	size_t			 npending;
	size_t			 ncreating;	/* TASK_CREATE out */
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
	struct policy_writes	*pw;		/* queue_policy.c */
	struct tstate_tree	*tenants;	/* queue_tenant.c */
	struct tcount_tree	*tcounts;	/* queue_metrics.c */
	uint64_t		 results[3];	/* delivered, deferred, bounced */
	struct event		*tenant_timer;
	int64_t			 census_at;	/* held mail last counted */
	struct records		*rec;		/* queue_record.c */
	struct qstats		*stats;		/* queue_stats.c */
	struct announce		*announce;	/* queue_announce.c */
};

/* Notices to a tenant's contacts (queue_notice.c), by kind. */
enum notice_kind {
	NK_OUTAGE,		/* its servers refuse or cannot be reached */
	NK_RECOVERY,		/* they accept again */
	NK_DEFER_ALL,		/* its new mail is deferred */
	NK_VOLUME,		/* its daily volume limit is reached */
	NK_TEST,		/* relayctl notices test */
	NK_REPORT,		/* relayctl report: this month so far */
	NK_MONTHLY,		/* the last month's report (queue_report.c) */
	NK_ANNOUNCE,		/* relayctl announce, of no tenant */
	NK_SUSPENDED,		/* a user of its was suspended (AUTH) */
	NK_MAX
};

/* The last notice of a kind: when it was queued, and whom it told. */
struct notice_rec {
	int64_t			 at;		/* 0: never */
	uint32_t		 count;		/* queued, all told */
	uint8_t			 told;		/* it went to a contact outside
						   the tenant's domains */
};

#define TSTATE_ERR_MAX	256

/*
 * A tenant's deliveries as queued sees them (queue_tenant.c): the first
 * part is kept in the store, the rest is worked out again.
 */
struct tstate {
	RB_ENTRY(tstate)	 entry;
	char			 name[TENANT_MAX + 1];
	int64_t			 last_ok;	/* mail accepted; 0: never */
	int64_t			 failing_since;	/* tried, nothing accepted */
	int64_t			 error_at;
	char			 last_error[TSTATE_ERR_MAX];
	uint8_t			 outage_told;	/* a recovery notice is owed */
	struct notice_rec	 notices[NK_MAX];
	/* in memory only */
	int			 deferring;	/* defer-all in force */
	int			 recovery_due;
	int			 volume_due;
	int			 suspended_due;
	int			 suspended_by_rate;
	char			 suspended_user[AUTH_USER_MAX + 1];
	uint64_t		 volume_msgs;	/* policyd's figures */
	uint64_t		 volume_octets;
	uint64_t		 held_msgs;	/* at the last census */
	uint64_t		 held_octets;
	uint64_t		 census_last;	/* the message counted last */
	int64_t			 stored_ok;	/* last_ok as last written */
	int			 dirty;		/* to be written */
	int			 writing;	/* a TASK_TSTATE is out */
	int			 noticing;	/* a TASK_NOTICE is out */
	int64_t			 notice_retry;	/* after a failed one */
	const struct tenant_conf *tc;		/* in q->conf; NULL: removed */
};
RB_HEAD(tstate_tree, tstate);
int	 tstate_cmp(struct tstate *, struct tstate *);
RB_PROTOTYPE(tstate_tree, tstate, entry, tstate_cmp)

/* A notice being written: its text, and who asked (TASK_NOTICE). */
struct notice_spec {
	enum notice_kind	 kind;
	char			*hostname;
	char			*text;		/* after the Message-ID field */
	size_t			 len;
	int			 told;
	int64_t			 at;		/* its time, as notices[] keeps */
	uint64_t		 ctl_req;	/* relayctl's request, or 0 */
};

/* A notice's text as it grows; err once it failed to (64 KB at most). */
struct tbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 err;
};

/* A delivery status notification to write (queue_dsn.c). */
enum dsn_kind {
	DSN_FAILURE,		/* Action: failed */
	DSN_DELAY,		/* Action: delayed */
	DSN_RELAYED,		/* Action: relayed (success, no DSN next) */
	DSN_OPERATOR		/* plain text to the operator's postmaster
				   (queue_postmaster.c): no original */
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
	struct qmsg		*orig;		/* held (orig->dsns);
						   NULL: DSN_OPERATOR */
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
	/* DSN_OPERATOR */
	char			*subject;
	char			*text;		/* lines, each "\n" */
};

/* A task for the commit pipeline (not a delivery job: struct djob). */
enum task_kind {
	TASK_COMMIT,		/* fsync the body, then put the envelope */
	TASK_PUT,		/* put an updated envelope (blob) */
	TASK_DELETE,		/* delete the envelope, then the file */
	TASK_DSN,		/* write a notice, fsync it, put its envelope */
	TASK_CREATE,		/* a new, empty spool file (no DB work) */
	TASK_ROUTE,		/* put a tenant's route (blob), or delete it */
	TASK_STS,		/* put (blob) or delete an MTA-STS policy */
	TASK_POLICY,		/* a write from policyd (queue_policy.c) */
	TASK_PURGE,		/* expired policy entries removed */
	TASK_TSTATE,		/* put a tenant's state (blob), or delete it */
	TASK_NOTICE,		/* write a notice to a tenant, fsync it, put its
				   envelope and the tenant's state (blob) */
	TASK_STATS		/* add counts to the statistics (blob) */
};

/* TASK_POLICY: what policyd asked (M_PQ_PUT + op). */
#define PQ_OP_PUT	0
#define PQ_OP_DEL	1
#define PQ_OP_FLUSH	2

struct task {
	TAILQ_ENTRY(task)	 entry;
	enum task_kind		 kind;
	uint64_t		 id;
	uint64_t		 sid;
	int			 fd;
	struct envelope		*env;		/* COMMIT; DSN: the notice */
	uint8_t			*blob;		/* PUT; STS: NULL deletes */
	size_t			 bloblen;
	char			*name;		/* STS: the domain */
	struct dsn_spec		*dsn;		/* DSN */
	struct notice_spec	*notice;	/* NOTICE; env is its envelope,
						   blob the tenant's state */
	int			 err;		/* errno, or an MDB code */
	int			 mdb_err;
	int			 stored;	/* COMMIT: err came after the
						   envelope committed */
	uint64_t		 new_id;	/* DELETE: the file recycled
						   as this one (fd) */
	unsigned		 tries;		/* PUT, DELETE: failed so far */
	char			 tenant[TENANT_MAX + 1];	/* ROUTE,
						   TSTATE, NOTICE */
	uint8_t			 pdb;		/* POLICY, PURGE: database */
	uint8_t			 pop;		/* POLICY: PQ_OP_* */
	uint8_t			*pkey;		/* POLICY: key; PURGE: where
						   the walk goes on */
	size_t			 pkeylen;
	struct pedits		*edits;		/* COMMIT: header edits */
};
TAILQ_HEAD(task_list, task);

/* queue_store.c: LMDB. */
#define STORE_HIGH	90	/* % of the map in use: new mail refused */
#define STORE_LOW	85	/* and accepted again below this */

/* What store_load finds: an envelope, or a value it cannot use. */
typedef void	 store_load_fn(void *, uint64_t id, struct envelope *,
		    const void *raw, size_t len, const char *why);

struct store *store_open(const char *dir, uint64_t mapsize, char *err,
	    size_t errsz);
void	 store_close(struct store *);
/* Apply a batch in one transaction; sets each job's err. */
int	 store_apply(struct store *, struct task_list *);
/* Start-up, before the writer runs: every envelope, then the ids of the
 * last batch before the last stop (its directory sync may not have
 * completed), envelopes removed at once, and the list cleared at exit. */
int	 store_load(struct store *, store_load_fn *, void *, char *err,
	    size_t errsz);
int	 store_unsynced(struct store *, uint64_t **ids, size_t *n);
int	 store_drop(struct store *, const uint64_t *ids, size_t n);
int	 store_clear_unsynced(struct store *);
/* Pages in use (the freelist counted free) and in the map. */
int	 store_usage(struct store *, uint64_t *used, uint64_t *total,
	    uint64_t *recent);
/* Start-up: each tenant route kept in the store, as routes_persist
 * wrote it. */
typedef void	 store_route_fn(void *, const char *tenant, const void *,
		    size_t);
int	 store_routes(struct store *, store_route_fn *, void *);
/* Start-up: each tenant's state, as tenant_persist wrote it. */
int	 store_tenants(struct store *, store_route_fn *, void *);
/* Every stored MTA-STS policy: domain, and the value deliverd sent. */
int	 store_sts_load(struct store *, void (*)(void *, const char *,
	    const void *, size_t), void *);
/* The live pages alone in a new data.mdb: no freed page left behind. */
int	 store_compact(struct store *, uint64_t *before, uint64_t *after,
	    char *err, size_t errsz);
int	 store_compact_due(const struct store *);
void	 store_compact_cleanup(const char *dir);

/* queue_commit.c: fsync workers and the group-commit writer. */
struct committer *committer_start(struct queued *);
void	 committer_attach(struct committer *, struct store *);
void	 committer_submit(struct committer *, struct task *);
void	 committer_stop(struct committer *);
void	 committer_recycled_taken(struct committer *);
void	 committer_compact(struct committer *);
int	 committer_usage(struct committer *, uint64_t *used,
	    uint64_t *total);
int	 committer_usage_since(struct committer *, uint64_t *used,
	    uint64_t *total, uint64_t *pput);

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

/* queue_reply.c: what smtpd, and through it the client, is told. */
enum queue_reply_id {
	QR_NOT_READY,
	QR_TOO_MANY_FILES,
	QR_NO_STORAGE,
	QR_CANNOT_CREATE,
	QR_SIZE_MISMATCH,
	QR_TENANT_FULL,
	QR_CONFIG_CHANGED,
	QR_ENVELOPE_REFUSED,
	QR_LOCAL_RESOURCE,
	QR_COMMIT_ERROR,
	QR_TENANT_DEFERRED,
	QR_COUNT
};
struct queue_reply {
	int		 code;
	const char	*enh;
	const char	*text;
};
struct mw;
const struct queue_reply *queue_reply_get(enum queue_reply_id);
void	 queue_reply_put(struct mw *, enum queue_reply_id);

/* queue_receive.c: the smtpd side. */
void	 receive_dispatch(struct queued *, struct imsg *);
void	 receive_task_done(struct queued *, struct task *);
void	 pending_drop_all(struct queued *);

/* queue_auth.c: policyd's AUTH grants. */
void	 auth_grant_dispatch(struct queued *, struct imsg *);
const struct tenant_conf *auth_grant_tenant(struct queued *, uint64_t sid,
	    const char **user);
/* queue_scan.c: files scanned by policyd's milters, and their edits. */
void	 scan_claim(struct queued *, struct imsg *, struct mr *);
void	 scan_edit(struct queued *, struct imsg *, struct mr *);
void	 scan_spool(struct queued *, struct imsg *);
int	 pedits_apply(int fd, const struct pedits *, uint64_t want);
void	 pedits_free(struct pedits *);

/* queue_verify.c: smtpd's envelope, checked again. */
int	 envelope_verify(struct queued *, uint64_t sid,
	    const struct envelope *, char *,
	    size_t);

/* queue_quota.c: what may still be accepted, and smtpd told so. */
void	 quota_init(struct queued *);
void	 quota_charge(struct queued *, const struct envelope *);
void	 quota_release(struct queued *, const struct envelope *);
void	 quota_reserve(struct queued *, const struct envelope *, int take);
const char *quota_exceeded(struct queued *, const struct envelope *);
uint64_t quota_used(struct queued *, const char *tenant);
void	 quota_tick(int, short, void *);
int	 quota_store(struct queued *);

/* queue_retry.c: store updates that failed, tried again. */
void	 retry_init(struct queued *);
void	 retry_task(struct queued *, struct task *);
void	 retry_done(struct queued *, struct task *);
void	 retry_flush(struct queued *);

/* queue_corrupt.c: the quarantine, state_dir/corrupt. */
int	 corrupt_save(struct queued *, uint64_t id, const void *env,
	    size_t len, const char *why);
void	 corrupt_show(struct queued *, struct imsg *);

/* queue_route.c: route keys and tenant routes, removed tenants too. */
void	 route_key(const struct rcpt *, char *, size_t);
void	 routes_update(struct queued *, const struct conf *);
void	 routes_load(struct queued *);
void	 routes_persist(struct queued *);
void	 route_task_done(struct queued *, struct task *);
const struct hostport *route_hosts(struct queued *, const char *tenant,
	    size_t *n);
int	 route_tenant_removed(struct queued *, const char *tenant);
uint32_t route_lifetime(struct queued *, const struct rcpt *);

/* queue_stats.c: per-tenant statistics (queue_stats.h to read them). */
void	 stats_init(struct queued *);
void	 stats_load(struct queued *);
void	 stats_dispatch(struct queued *, struct imsg *, enum proc_id);
void	 stats_task_done(struct queued *, struct task *);
void	 stats_shutdown(struct queued *);
void	 stats_show(struct queued *, struct imsg *, const struct ctl_req *);
typedef void	 store_stats_fn(void *, const void *key, size_t klen,
		    const void *val, size_t vlen);
int	 store_stats_load(struct store *, store_stats_fn *, void *);

/* queue_policy.c: policyd's writes to the store. */
void	 pwrite_init(struct queued *);
void	 pwrite_dispatch(struct queued *, struct imsg *);
void	 pwrite_task_done(struct queued *, struct task *);
void	 pwrite_task_free(struct task *);

/* queue_recline.c: a record, one line, and back. */
#define REC_LINE_MAX	4096
#define REC_VALUE_MAX	512	/* an address, a tenant list, a relay */
#define REC_TEXT_MAX	600	/* a reply, a reason */
#define REC_FIELDS_MAX	20

struct recline {
	char		 buf[REC_LINE_MAX + 1];
	size_t		 len;
	int		 cut;
};

/* A line read back: pointers into work, values unescaped. */
struct recview {
	char		*id, *time, *event;
	size_t		 n;
	char		*keys[REC_FIELDS_MAX];
	char		*vals[REC_FIELDS_MAX];
	char		 work[REC_LINE_MAX + 1];
};

void	 rl_begin(struct recline *, uint64_t id, int64_t when,
	    const char *event);
void	 rl_str(struct recline *, const char *key, const char *);
void	 rl_text(struct recline *, const char *key, const char *);
void	 rl_addr(struct recline *, const char *key, const char *);
void	 rl_num(struct recline *, const char *key, uint64_t);
void	 rl_time(struct recline *, const char *key, int64_t);
void	 rl_end(struct recline *);
int	 rl_parse(const char *, size_t, struct recview *);
const char *rv_get(const struct recview *, const char *key);
int	 rv_names(const struct recview *, const char *addr);
int	 rv_tenant(const struct recview *, const char *tenant);
int	 rl_json(const struct recview *, char *, size_t);
int	 rl_json_str(const char *, char *, size_t);

/* Reading record files line by line, a bounded amount at a time. */
struct linereader {
	int		 fd;
	size_t		 pos, len, cur;
	int		 eof, nl;
	uint64_t	 nread;		/* octets read, for a budget */
	char		 buf[64 * 1024];
};
void	 lr_init(struct linereader *, int fd);
/* The next line, not taken: 1, 0 at the end, -1 on a read error. */
int	 lr_peek(struct linereader *, const char **, size_t *);
void	 lr_take(struct linereader *);

/* queue_record.c: the record store, state_dir/records. */
struct monitor {
	TAILQ_ENTRY(monitor)	 entry;
	struct queued		*q;
	struct ctl_stream	*s;
	int			 json;
};
TAILQ_HEAD(monitor_list, monitor);

/* A legal hold: a tenant's records, or an address's (queue_hold.c). */
struct hold {
	uint32_t		 n;
	int			 address;	/* else a tenant */
	char			 what[REC_VALUE_MAX];
	int64_t			 since;
	int			 gone;		/* released during a copy */
};

struct holdcopy;

struct records {
	struct queued		*q;
	int			 dirfd, openfd, heldfd;
	struct qmsg_list	 unfiled;	/* records in memory */
	struct event		*tick;
	int			 bfd;		/* the bucket being written */
	int64_t			 bstart, bspan;
	char			*bbuf;
	size_t			 blen;
	time_t			 warned;
	uint64_t		 lost;
	struct event		*purge_ev;
	int64_t			 oldest;	/* bucket start, or -1 */
	struct hold		*holds;
	size_t			 nholds;
	struct holdcopy		*copy;		/* a bucket kept for holds */
	struct monitor_list	 monitors;
	size_t			 nmonitors;
	struct event		*compact_ev;	/* the queue store's */
};

void	 records_init(struct queued *);
void	 records_start(struct queued *);
void	 records_conf(struct queued *);
void	 records_shutdown(struct queued *);
void	 rec_accepted(struct queued *, struct qmsg *);
void	 rec_notice(struct queued *, struct qmsg *orig, struct qmsg *notice,
	    const char *kind);
void	 rec_attempt(struct queued *, struct qmsg *, size_t rcpt, int result,
	    const char *dsn, const char *relay, const char *reply);
void	 rec_rcpt(struct queued *, struct qmsg *, size_t rcpt,
	    const char *event, const char *dsn, const char *reason);
void	 rec_message(struct queued *, struct qmsg *, const char *event,
	    const char *reason);
void	 rec_final(struct queued *, struct qmsg *);
void	 rec_forget(struct queued *, struct qmsg *);
/*
 * For a trace: the buckets' buffer written, and what is in memory to the
 * open files: one message's, or all of them (spill).
 */
void	 records_sync(struct queued *, struct qmsg *, int spill);
/* Buckets by name, oldest first: their starts; -1 on error. */
int	 records_buckets(struct queued *, int64_t **, size_t *);
int64_t	 records_bucket_start(const char *);
void	 records_bucket_name(int64_t, char *, size_t);
/* The purge: again now (after a copy), and a bucket deleted. */
void	 records_purge(struct queued *);
void	 records_bucket_delete(struct queued *, int64_t);
int	 int64_cmp(const void *, const void *);
const char *duration(uint32_t);

/* queue_hold.c: legal holds, records/holds and records/held/N. */
int	 holds_load(struct queued *);
int	 holds_save(struct queued *);
int	 hold_matches(const struct hold *, const struct recview *);
/* Copy what the holds keep of an expired bucket, then delete it. */
void	 holds_copy(struct queued *, int64_t start);
void	 holds_copy_forget(struct queued *, uint32_t n);

/* queue_trace.c: trace, monitor and hold-records. */
void	 records_trace(struct queued *, struct imsg *, const struct ctl_req *);
void	 records_monitor(struct queued *, struct imsg *,
	    const struct ctl_req *);
void	 records_hold(struct queued *, struct imsg *, const struct ctl_req *);
void	 monitors_send(struct queued *, const char *line, size_t len);

/* queue_control.c */
void	 control_request(struct queued *, struct imsg *);
void	 ctl_line(struct queued *, uint64_t req, const char *);
void	 ctl_done(struct queued *, uint64_t req, int ok, const char *err);
void	 format_age(int64_t secs, char *, size_t);

/* queue_metrics.c: counters for the metrics, per tenant since start. */
enum qmx_event {
	QMX_IN,			/* a message with a recipient inbound */
	QMX_OUT,		/* with a recipient outbound */
	QMX_DELIVERED,		/* a recipient delivered */
	QMX_DEFERRED,		/* an attempt put off */
	QMX_BOUNCED,		/* a recipient failed for good */
	QMX_MAX
};
struct mx_out;
void	 qmx_count(struct queued *, const char *tenant, enum qmx_event);
void	 qmx_received(struct queued *, const struct envelope *);
void	 queue_metrics(struct child *, struct mx_out *);
void	 qmx_free(struct queued *);

/* queue_tenant.c: each tenant's deliveries, outages and defer-all. */
enum tenant_outcome {
	TO_NONE,		/* nothing to learn (5xx, local trouble) */
	TO_ACCEPTED,		/* its servers took something */
	TO_FAILED		/* they refused, or could not be reached */
};
void	 tenant_init(struct queued *);
void	 tenant_load(struct queued *);
void	 tenant_conf(struct queued *, const struct conf *);
void	 tenant_route_changed(struct queued *, const char *tenant);
struct tstate *tenant_find(struct queued *, const char *);
void	 tenant_delivered(struct queued *, const char *tenant,
	    enum tenant_outcome, const char *error);
void	 tenant_probed(struct queued *, const char *tenant, int up,
	    const char *error);
void	 tenant_census(struct queued *);
void	 tenant_task_done(struct queued *, struct task *);
int	 tenant_encode(const struct tstate *, struct mw *);
void	 tenant_status_put(struct queued *, struct mw *);
const char *tenant_deferring(struct queued *, const struct envelope *);
void	 tenant_show(struct queued *, uint64_t req, const char *tenant,
	    int json);

/* queue_probe.c: a tenant route that is down, asked every minute. */
#define PROBE_EVERY	60	/* seconds */
void	 probe_tick(struct queued *, int64_t now);
void	 probe_done(struct queued *, struct imsg *);
void	 probe_dest_down(struct queued *, struct qdest *);

/* queue_notice.c: notices to tenants' contacts. */
const char *notice_kind_name(enum notice_kind);
int	 notice_send(struct queued *, struct tstate *, enum notice_kind,
	    uint64_t ctl_req, char *err, size_t errsz);
int	 notice_write(int spool_fd, struct task *, char *err, size_t errsz);
void	 notice_task_done(struct queued *, struct task *);
void	 notice_volume(struct queued *, struct imsg *);
void	 notice_suspended(struct queued *, struct imsg *);
void	 tb_printf(struct tbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* queue_report.c: the tenants' reports, of a month or so far. */
void	 report_check(struct queued *, struct tstate *);
void	 report_subject(struct tbuf *, const struct tstate *,
	    enum notice_kind, int64_t now);
void	 report_body(struct tbuf *, struct queued *, const struct tstate *,
	    enum notice_kind, int64_t now);
void	 report_request(struct queued *, uint64_t req, const char *tenant);
int	 notice_rcpt_route(const struct conf *, struct rcpt *, const char *);

/* queue_announce.c: relayctl announce. */
void	 announce_part(struct queued *, struct imsg *);
void	 announce_request(struct queued *, uint64_t req,
	    const struct ctl_req *);

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
void	 sched_dsn_done(struct queued *, struct task *);
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
struct qdest *qdest_get(struct queued *, const char *key);
void	 deliver_send(struct queued *, struct qmsg *, const char *key,
	    uint32_t *idx, size_t n);
void	 deliver_dispatch(struct queued *, struct imsg *);
void	 deliver_sts_load(struct queued *);

/* queue_postmaster.c: the parent's notices to the operator's postmaster. */
void	 notice_request(struct queued *, struct imsg *);
void	 notice_done(struct queued *, struct task *);

/* queue_dsn.c: notices, written on a worker thread. */
int	 dsn_write(int spool_fd, struct dsn_spec *, struct envelope **,
	    char *err, size_t errsz);
void	 dsn_spec_free(struct dsn_spec *);

#endif

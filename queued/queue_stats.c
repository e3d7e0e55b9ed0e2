/*
 * queue_stats: per-tenant daily statistics (stats.h, queue_stats.h).
 *
 * Counting costs an increment in memory: a message accepted (by
 * direction, with its octets), delivered on, each recipient delivered,
 * deferred or bounced, each recipient's first attempt by its delay, and
 * the refusals smtpd and policyd count and send in batches (M_Q_STATS,
 * M_PQ_STATS).  Once a second what changed goes to the writer as one
 * TASK_STATS and rides its next group commit: under load it shares the
 * sync of the mail, idle it costs one commit a second at most.  A crash
 * loses at most the last second's counts; a failed commit gives them back
 * to the next one.
 *
 * The store's "stats" database: key = u64 day (big-endian, days since
 * the epoch on clock_now) + tenant; value = u32 n, n x u64, the counters
 * of stats.h in order (a newer relayd may add some: the rest is read).
 * The same TASK_STATS removes the days older than retention.counters, so
 * they iterate oldest first.  Everything is loaded at start: a year of a
 * few hundred tenants is a few megabytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <lmdb.h>

#include "child.h"
#include "clock.h"
#include "log.h"
#include "marshal.h"
#include "queue_stats.h"
#include "queued.h"

#define FLUSH_EVERY	1	/* seconds */
#define PURGE_VISIT	5000	/* old keys removed per commit */
#define DAY		86400

struct tnode {
	RB_ENTRY(tnode)	 entry;
	struct tday	 d;
	uint64_t	 delta[ST_MAX];		/* not yet written */
	int		 dirty;
};

RB_HEAD(tnode_tree, tnode);

struct qstats {
	struct tnode_tree	 days;
	struct event		*timer;
	int			 flushing;	/* a TASK_STATS is out */
	int64_t			 cutoff;	/* days before it: gone */
	int			 dirty;
};

int	tnode_cmp(struct tnode *, struct tnode *);

int
tnode_cmp(struct tnode *a, struct tnode *b)
{
	if (a->d.day != b->d.day)
		return a->d.day < b->d.day ? -1 : 1;
	return strcmp(a->d.tenant, b->d.tenant);
}

RB_PROTOTYPE(tnode_tree, tnode, entry, tnode_cmp)
RB_GENERATE(tnode_tree, tnode, entry, tnode_cmp)

static void	qstats_tick(int, short, void *);

int64_t
stats_today(void)
{
	return clock_now() / DAY;
}

static int64_t
cutoff_day(const struct queued *q)
{
	return stats_today() - (int64_t)(q->conf->retention.counters / DAY) +
	    1;
}

void
stats_init(struct queued *q)
{
	struct timeval tv = { FLUSH_EVERY, 0 };

	if ((q->stats = calloc(1, sizeof(*q->stats))) == NULL)
		fatal("statistics");
	RB_INIT(&q->stats->days);
	q->stats->timer = event_new(q->child->base, -1, EV_PERSIST,
	    qstats_tick, q);
	if (q->stats->timer == NULL || event_add(q->stats->timer, &tv) == -1)
		fatalx("statistics timer");
}

static struct tnode *
node_get(struct qstats *st, const char *tenant, int64_t day)
{
	struct tnode find, *n;

	memset(&find, 0, sizeof(find));
	if (strlcpy(find.d.tenant, tenant, sizeof(find.d.tenant)) >=
	    sizeof(find.d.tenant))
		return NULL;
	find.d.day = day;
	if ((n = RB_FIND(tnode_tree, &st->days, &find)) != NULL)
		return n;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->d = find.d;
	RB_INSERT(tnode_tree, &st->days, n);
	return n;
}

static void
node_add(struct qstats *st, struct tnode *n, enum stat_counter c,
    uint64_t v)
{
	n->d.v[c] += v;
	n->delta[c] += v;
	n->dirty = 1;
	st->dirty = 1;
}

void
stats_count(struct queued *q, const char *tenant, enum stat_counter c,
    uint64_t v)
{
	struct tnode *n;

	if (q->stats == NULL || (unsigned)c >= ST_MAX || v == 0)
		return;
	if ((n = node_get(q->stats, tenant ? tenant : "", stats_today())) ==
	    NULL) {
		log_warnx("statistics: out of memory: a count is lost");
		return;
	}
	node_add(q->stats, n, c, v);
}

/* A tenant smtpd or policyd may count for: one configured, or "". */
static int
known_tenant(struct queued *q, const char *name)
{
	return name[0] == '\0' || (q->conf != NULL &&
	    conf_tenant_by_name(q->conf, name) != NULL);
}

/* M_Q_STATS (smtpd) and M_PQ_STATS (policyd): refusals, batched. */
void
stats_dispatch(struct queued *q, struct imsg *imsg, enum proc_id from)
{
	static struct stat_batch	 b;
	size_t				 i;

	if (stat_batch_read(imsg->data, imsg->datalen, &b) == -1)
		child_peer_broken(q->child, from, imsg, "malformed statistics");
	for (i = 0; i < b.n; i++) {
		/* A tenant removed by a reload meanwhile: the relay's. */
		stats_count(q, known_tenant(q, b.e[i].tenant) ?
		    b.e[i].tenant : "", b.e[i].counter, b.e[i].count);
	}
}

/* What the task carries: u64 cutoff, u32 n, n x (i64 day, str tenant,
 * u32 ST_MAX, ST_MAX x u64 delta). */
static struct task *
flush_task(struct queued *q)
{
	struct qstats	*st = q->stats;
	struct tnode	*n;
	struct task	*j;
	struct mw	 w;
	uint32_t	 count = 0;
	size_t		 i;

	RB_FOREACH(n, tnode_tree, &st->days)
		count += n->dirty;
	mw_init_grow(&w);
	mw_i64(&w, st->cutoff);
	mw_u32(&w, count);
	RB_FOREACH(n, tnode_tree, &st->days) {
		if (!n->dirty)
			continue;
		mw_i64(&w, n->d.day);
		mw_str(&w, n->d.tenant);
		mw_u32(&w, ST_MAX);
		for (i = 0; i < ST_MAX; i++)
			mw_u64(&w, n->delta[i]);
	}
	if (w.err || (j = calloc(1, sizeof(*j))) == NULL) {
		mw_release(&w);
		return NULL;
	}
	if ((j->blob = malloc(w.len)) == NULL) {
		free(j);
		mw_release(&w);
		return NULL;
	}
	memcpy(j->blob, w.buf, w.len);
	j->bloblen = w.len;
	mw_release(&w);
	RB_FOREACH(n, tnode_tree, &st->days) {
		memset(n->delta, 0, sizeof(n->delta));
		n->dirty = 0;
	}
	st->dirty = 0;
	j->kind = TASK_STATS;
	j->fd = -1;
	return j;
}

/* A failed commit: its counts go with the next one. */
static void
give_back(struct queued *q, const struct task *j)
{
	struct mr	 r;
	struct tnode	*n;
	char		 tenant[TENANT_MAX + 1];
	int64_t		 day;
	uint32_t	 count, k, i;
	uint64_t	 v;

	mr_init(&r, j->blob, j->bloblen);
	(void)mr_i64(&r);
	count = mr_u32(&r);
	while (count-- > 0 && !r.err) {
		day = mr_i64(&r);
		mr_str(&r, tenant, sizeof(tenant));
		k = mr_u32(&r);
		n = r.err ? NULL : node_get(q->stats, tenant, day);
		for (i = 0; i < k && !r.err; i++) {
			v = mr_u64(&r);
			if (n != NULL && i < ST_MAX && v > 0) {
				n->delta[i] += v;
				n->dirty = q->stats->dirty = 1;
			}
		}
	}
}

static void
stats_flush(struct queued *q)
{
	struct qstats	*st = q->stats;
	struct tnode	*n, *next;
	struct task	*j;
	int64_t		 cutoff;

	if (q->conf == NULL || q->cm == NULL || st->flushing)
		return;
	cutoff = cutoff_day(q);
	/* Days past retention.counters: gone from memory, then the store. */
	for (n = RB_MIN(tnode_tree, &st->days); n != NULL; n = next) {
		next = RB_NEXT(tnode_tree, &st->days, n);
		if (n->d.day >= cutoff)
			break;
		RB_REMOVE(tnode_tree, &st->days, n);
		free(n);
	}
	if (!st->dirty && cutoff == st->cutoff)
		return;
	st->cutoff = cutoff;
	if ((j = flush_task(q)) == NULL) {
		log_warnx("statistics: out of memory: written later");
		return;
	}
	st->flushing = 1;
	committer_submit(q->cm, j);
}

static void
qstats_tick(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	stats_flush(arg);
}

void
stats_task_done(struct queued *q, struct task *j)
{
	q->stats->flushing = 0;
	if (j->err != 0) {
		log_warnx("statistics: not written (%s): they go with the "
		    "next commit", strerror(j->err));
		give_back(q, j);
		/* The purge is tried again too. */
		q->stats->cutoff = 0;
	}
	free(j->blob);
	free(j);
}

/* At exit: the last counts join the writer's last batch. */
void
stats_shutdown(struct queued *q)
{
	if (q->stats != NULL)
		stats_flush(q);
}

void
stats_each(struct queued *q, int64_t from, stats_fn *fn, void *arg)
{
	struct tnode *n;

	if (q->stats == NULL)
		return;
	RB_FOREACH(n, tnode_tree, &q->stats->days)
		if (n->d.day >= from)
			fn(arg, &n->d);
}

/* One value of the store into memory (start-up). */
static void
load_one(void *arg, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct queued	*q = arg;
	struct tnode	*n;
	struct mr	 r;
	const uint8_t	*kp = k;
	char		 tenant[TENANT_MAX + 1];
	int64_t		 day = 0;
	uint32_t	 count, i;
	uint64_t	 x;

	if (klen < 8 || klen - 8 > TENANT_MAX)
		return;
	for (i = 0; i < 8; i++)
		day = (day << 8) | kp[i];
	memcpy(tenant, kp + 8, klen - 8);
	tenant[klen - 8] = '\0';
	if ((n = node_get(q->stats, tenant, day)) == NULL)
		fatal("statistics");
	mr_init(&r, v, vlen);
	count = mr_u32(&r);
	for (i = 0; i < count && !r.err; i++) {
		x = mr_u64(&r);
		if (!r.err && i < ST_MAX)
			n->d.v[i] = x;
	}
}

void
stats_load(struct queued *q)
{
	if (store_stats_load(q->store, load_one, q) == -1)
		log_warnx("queue store: cannot read the statistics");
}

/*
 * The writer thread's part.
 */

int
stats_store_open(MDB_txn *txn, MDB_dbi *dbi)
{
	return mdb_dbi_open(txn, "stats", MDB_CREATE, dbi);
}

static void
stat_key(uint8_t *buf, int64_t day, const char *tenant, MDB_val *key)
{
	size_t	len = strlen(tenant);
	int	i;

	for (i = 7; i >= 0; i--) {
		buf[i] = (uint8_t)(day & 0xff);
		day >>= 8;
	}
	memcpy(buf + 8, tenant, len);
	key->mv_data = buf;
	key->mv_size = 8 + len;
}

/* One tenant's day: what the store has, plus the delta. */
static int
add_day(MDB_txn *txn, MDB_dbi dbi, int64_t day, const char *tenant,
    struct mr *r)
{
	uint64_t	 v[ST_MAX];
	uint8_t		 kb[8 + TENANT_MAX];
	MDB_val		 key, val;
	struct mr	 old;
	struct mw	 w;
	uint32_t	 k, i, n;
	int		 rc;

	memset(v, 0, sizeof(v));
	stat_key(kb, day, tenant, &key);
	if ((rc = mdb_get(txn, dbi, &key, &val)) == 0) {
		mr_init(&old, val.mv_data, val.mv_size);
		n = mr_u32(&old);
		for (i = 0; i < n && i < ST_MAX && !old.err; i++)
			v[i] = mr_u64(&old);
	} else if (rc != MDB_NOTFOUND)
		return rc;
	k = mr_u32(r);
	for (i = 0; i < k && !r->err; i++) {
		uint64_t d = mr_u64(r);

		if (i < ST_MAX)
			v[i] += d;
	}
	mw_init(&w);
	mw_u32(&w, ST_MAX);
	for (i = 0; i < ST_MAX; i++)
		mw_u64(&w, v[i]);
	if (w.err || r->err)
		return EINVAL;
	val.mv_data = w.buf;
	val.mv_size = w.len;
	return mdb_put(txn, dbi, &key, &val, 0);
}

/* Days before the cutoff, a bounded number of keys at a time. */
static int
purge_days(MDB_txn *txn, MDB_dbi dbi, int64_t cutoff)
{
	MDB_cursor	*cur;
	MDB_val		 key, val;
	const uint8_t	*kp;
	int64_t		 day;
	int		 rc, i, visited = 0;

	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	while (rc == 0 && visited++ < PURGE_VISIT) {
		if (key.mv_size < 8)
			break;
		kp = key.mv_data;
		for (day = 0, i = 0; i < 8; i++)
			day = (day << 8) | kp[i];
		if (day >= cutoff)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		rc = mdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT);
		if (rc == EINVAL || rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc == 0 ? 0 : rc;
}

int
stats_store_apply(MDB_txn *txn, MDB_dbi dbi, struct task *j)
{
	struct mr	 r;
	char		 tenant[TENANT_MAX + 1];
	int64_t		 cutoff, day;
	uint32_t	 count;
	int		 rc;

	mr_init(&r, j->blob, j->bloblen);
	cutoff = mr_i64(&r);
	count = mr_u32(&r);
	while (count-- > 0 && !r.err) {
		day = mr_i64(&r);
		mr_str(&r, tenant, sizeof(tenant));
		if (r.err)
			break;
		if ((rc = add_day(txn, dbi, day, tenant, &r)) != 0)
			return rc;
	}
	if (r.err || mr_end(&r) == -1)
		return EINVAL;
	return cutoff > 0 ? purge_days(txn, dbi, cutoff) : 0;
}

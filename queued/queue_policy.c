/*
 * queue_policy: policyd's writes to the store (msg_policy.h, M_PQ_*).
 *
 * policyd reads the store but never writes it: it sends each write here
 * as a message, which is checked (a known database, a key and a value
 * within their caps, a value that starts with its expiry) and joins the
 * writer's next group commit as a TASK_POLICY; queued answers M_PQ_DONE
 * once it is committed or refused.  Writes are refused while the store
 * is past its high-water mark and once a database holds PDB_ENTRIES_MAX
 * entries, so a misbehaving policyd can neither fill the map nor touch
 * the queue's own databases.  New entries stop earlier still, at
 * PSTORE_HIGH% of the map counting those not committed yet, so that a
 * flood of them leaves new mail its room up to STORE_HIGH%.  A write that
 * fails a check is refused, not fatal: policyd parses what the network
 * sends and may be wrong; only a message that cannot be decoded at all is
 * a broken peer.  Writes fail first when the map is full (store_apply),
 * like new mail: removals must still find pages.
 *
 * Expired entries go without policyd's help: every minute a TASK_PURGE
 * walks on through one database, PURGE_VISIT entries at a time, and
 * removes those whose expiry has passed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <lmdb.h>

#include "child.h"
#include "clock.h"
#include "log.h"
#include "marshal.h"
#include "msg_policy.h"
#include "queue_policy.h"
#include "queued.h"

#define PURGE_EVERY	60	/* seconds between two purge steps */
#define PURGE_VISIT	20000	/* entries looked at in one step */
#define PSTORE_HIGH	70	/* % of the map: policyd's new entries stop */
#define PSTORE_PAGE	4096	/* LMDB's page, for the estimate */
#define PSTORE_NODE	16	/* an entry's overhead in its page */

/* Why a write was refused: each is logged on its own first time. */
enum pw_reason {
	PW_DB,
	PW_KEY,
	PW_VALUE,
	PW_CLOSED,
	PW_HIGH,
	PW_SHARE,
	PW_ENTRIES,
	PW_ERROR,
	PW_NREASONS
};

static const char *pw_why[PW_NREASONS] = {
	"no such database",
	"key size",
	"value size",
	"the store is not open",
	"the store is past its high-water mark",
	"the store is past policyd's share",
	"the database is full",
	"the store failed",
};

struct policy_writes {
	struct event	*purge_timer;
	int		 purging;	/* a TASK_PURGE is out */
	unsigned	 purge_db;	/* the database it walks */
	uint8_t		 purge_at[PDB_KEY_MAX];	/* where it goes on */
	size_t		 purge_len;	/* 0: from the start */
	uint64_t	 refused[PW_NREASONS];	/* for the log */
	uint64_t	 pending;	/* octets of puts not committed */
};

static void	purge_tick(int, short, void *);

void
pwrite_init(struct queued *q)
{
	struct timeval tv = { PURGE_EVERY, 0 };

	if ((q->pw = calloc(1, sizeof(*q->pw))) == NULL)
		fatal("policy writes");
	q->pw->purge_db = PDB_GREYLIST;
	q->pw->purge_timer = event_new(q->child->base, -1, EV_PERSIST,
	    purge_tick, q);
	if (q->pw->purge_timer == NULL || event_add(q->pw->purge_timer,
	    &tv) == -1)
		fatalx("policy purge timer");
}

static void
pwrite_answer(struct queued *q, uint64_t seq, int ok)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, (uint8_t)ok);
	child_send(q->child, PROC_POLICYD, M_PQ_DONE, seq, -1, w.buf, w.len);
}

static void
pwrite_refuse(struct queued *q, uint64_t seq, enum pw_reason why,
    const char *detail)
{
	uint64_t n = ++q->pw->refused[why];

	/* A refused write costs a retry at most: say so now and then. */
	if (n % 1000 == 1)
		log_warnx("policy store: a write from policyd refused: %s%s%s "
		    "(%llu so far)", pw_why[why], detail ? ": " : "",
		    detail ? detail : "", (unsigned long long)n);
	pwrite_answer(q, seq, 0);
}

/*
 * Room for a new entry of len octets within policyd's share: the pages
 * in use at the writer's last measure, and the entries it does not hold
 * (committed since, or not yet) at twice their size: a B-tree page is at
 * least half full.
 */
static int
pwrite_room(struct queued *q, size_t len)
{
	uint64_t	used, total, since, pend;

	if (committer_usage_since(q->cm, &used, &total, &since) == -1)
		return 1;
	pend = (since + q->pw->pending + len) * 2 / PSTORE_PAGE + 1;
	return (used + pend) * 100 < total * PSTORE_HIGH;
}

/*
 * An M_PQ_PUT, _DEL or _FLUSH, checked, as a task for the writer.  NULL
 * with *why set: refused; with *why NULL: not decodable.
 */
static struct task *
parse_write(struct imsg *imsg, int *why)
{
	struct task	*j;
	struct mr	 r;
	const void	*key = NULL, *val = NULL;
	size_t		 klen = 0, vlen = 0;
	uint8_t		 db;

	mr_init(&r, imsg->data, imsg->datalen);
	db = mr_u8(&r);
	if (imsg->hdr.type != M_PQ_FLUSH)
		key = mr_data(&r, &klen);
	if (imsg->hdr.type == M_PQ_PUT)
		val = mr_data(&r, &vlen);
	*why = -1;
	if (mr_end(&r) != 0)
		return NULL;
	if (policy_db_name(db) == NULL) {
		*why = PW_DB;
		return NULL;
	}
	if (imsg->hdr.type != M_PQ_FLUSH && (klen == 0 ||
	    klen > PDB_KEY_MAX)) {
		*why = PW_KEY;
		return NULL;
	}
	if (imsg->hdr.type == M_PQ_PUT && (vlen < PDB_EXPIRY_LEN ||
	    vlen > PDB_VAL_MAX)) {
		*why = PW_VALUE;
		return NULL;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (klen > 0 && (j->pkey = malloc(klen)) == NULL) ||
	    (vlen > 0 && (j->blob = malloc(vlen)) == NULL))
		fatal("policy write");
	j->kind = TASK_POLICY;
	j->fd = -1;
	j->id = imsg->hdr.peerid;
	j->pdb = db;
	j->pop = (uint8_t)(imsg->hdr.type - M_PQ_PUT);
	if (klen > 0)
		memcpy(j->pkey, key, klen);
	j->pkeylen = klen;
	if (vlen > 0)
		memcpy(j->blob, val, vlen);
	j->bloblen = vlen;
	return j;
}

void
pwrite_dispatch(struct queued *q, struct imsg *imsg)
{
	struct task	*j;
	size_t		 len;
	int		 why;

	if (imsg->fd != -1)
		close(imsg->fd);
	switch (imsg->hdr.type) {
	case M_PQ_VOLUME:
		notice_volume(q, imsg);
		return;
	case M_PQ_SUSPENDED:
		notice_suspended(q, imsg);
		return;
	case M_PQ_STATS:
		stats_dispatch(q, imsg, PROC_POLICYD);
		return;
	case M_PQ_PUT:
	case M_PQ_DEL:
	case M_PQ_FLUSH:
		break;
	default:
		child_peer_broken(q->child, PROC_POLICYD, imsg,
		    "unexpected message");
	}
	if ((j = parse_write(imsg, &why)) == NULL) {
		if (why == -1)
			child_peer_broken(q->child, PROC_POLICYD, imsg,
			    "malformed");
		pwrite_refuse(q, imsg->hdr.peerid, why, NULL);
		return;
	}
	if (q->store == NULL) {
		pwrite_refuse(q, j->id, PW_CLOSED, NULL);
		pwrite_task_free(j);
		return;
	}
	/* Removals free pages: only new entries wait for room. */
	len = j->pkeylen + j->bloblen + PSTORE_NODE;
	if (j->pop == PQ_OP_PUT && (q->store_full || !pwrite_room(q, len))) {
		pwrite_refuse(q, j->id, q->store_full ? PW_HIGH : PW_SHARE,
		    NULL);
		pwrite_task_free(j);
		return;
	}
	if (j->pop == PQ_OP_PUT)
		q->pw->pending += len;
	committer_submit(q->cm, j);
}

void
pwrite_task_free(struct task *j)
{
	free(j->pkey);
	free(j->blob);
	free(j);
}

/* The main thread's half of a finished TASK_POLICY or TASK_PURGE. */
void
pwrite_task_done(struct queued *q, struct task *j)
{
	struct policy_writes *pw = q->pw;

	if (j->kind == TASK_POLICY) {
		if (j->pop == PQ_OP_PUT)
			pw->pending -= j->pkeylen + j->bloblen + PSTORE_NODE;
		if (j->err == ENOSPC && j->mdb_err == 0)
			pwrite_refuse(q, j->id, PW_ENTRIES, NULL);
		else if (j->err != 0)
			pwrite_refuse(q, j->id, PW_ERROR, strerror(j->err));
		else
			pwrite_answer(q, j->id, 1);
		pwrite_task_free(j);
		return;
	}
	pw->purging = 0;
	if (j->err != 0)
		log_warnx("policy store: removing expired entries of %s: %s",
		    policy_db_name(j->pdb), strerror(j->err));
	else if (j->new_id > 0)
		log_info("policy store: %llu expired entries of %s removed",
		    (unsigned long long)j->new_id, policy_db_name(j->pdb));
	/* pkey is where the walk goes on; none: the next database. */
	if (j->err == 0 && j->pkeylen > 0 && j->pkeylen <= PDB_KEY_MAX) {
		memcpy(pw->purge_at, j->pkey, j->pkeylen);
		pw->purge_len = j->pkeylen;
	} else if (j->err == 0) {
		pw->purge_len = 0;
		if (++pw->purge_db >= PDB_MAX)
			pw->purge_db = PDB_GREYLIST;
	}
	pwrite_task_free(j);
}

static void
purge_tick(int fd, short ev, void *arg)
{
	struct queued		*q = arg;
	struct policy_writes	*pw = q->pw;
	struct task		*j;

	(void)fd;
	(void)ev;
	if (q->store == NULL || pw->purging)
		return;
	/* Room for any key: the step leaves its last one there. */
	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->pkey = malloc(PDB_KEY_MAX)) == NULL) {
		free(j);
		log_warnx("policy purge: out of memory");
		return;
	}
	j->kind = TASK_PURGE;
	j->fd = -1;
	j->pdb = (uint8_t)pw->purge_db;
	if (pw->purge_len > 0)
		memcpy(j->pkey, pw->purge_at, pw->purge_len);
	j->pkeylen = pw->purge_len;
	j->id = (uint64_t)clock_now();
	pw->purging = 1;
	committer_submit(q->cm, j);
}

/*
 * The writer thread's half, inside its transaction.
 */

int
policy_store_open(MDB_txn *txn, MDB_dbi dbi[PDB_MAX])
{
	unsigned	db;
	int		rc;

	for (db = PDB_GREYLIST; db < PDB_MAX; db++)
		if ((rc = mdb_dbi_open(txn, policy_db_name(db), MDB_CREATE,
		    &dbi[db])) != 0)
			return rc;
	return 0;
}

static int
entries(MDB_txn *txn, MDB_dbi dbi, size_t *n)
{
	MDB_stat	ms;
	int		rc;

	if ((rc = mdb_stat(txn, dbi, &ms)) != 0)
		return rc;
	*n = ms.ms_entries;
	return 0;
}

/* 0, or an MDB code; a write refused on its own sets j->err alone. */
int
policy_store_apply(MDB_txn *txn, const MDB_dbi dbi[PDB_MAX], struct task *j)
{
	MDB_val	key, val;
	size_t	n;
	int	rc;

	key.mv_size = j->pkeylen;
	key.mv_data = j->pkey;
	switch (j->pop) {
	case PQ_OP_FLUSH:
		return mdb_drop(txn, dbi[j->pdb], 0);
	case PQ_OP_DEL:
		rc = mdb_del(txn, dbi[j->pdb], &key, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	rc = mdb_get(txn, dbi[j->pdb], &key, &val);
	if (rc == MDB_NOTFOUND) {
		if ((rc = entries(txn, dbi[j->pdb], &n)) != 0)
			return rc;
		if (n >= PDB_ENTRIES_MAX) {
			j->err = ENOSPC;	/* this write alone */
			return 0;
		}
	} else if (rc != 0)
		return rc;
	val.mv_size = j->bloblen;
	val.mv_data = j->blob;
	return mdb_put(txn, dbi[j->pdb], &key, &val, 0);
}

static int64_t
expiry_of(const MDB_val *v)
{
	const uint8_t	*p = v->mv_data;
	uint64_t	 t = 0;
	int		 i;

	if (v->mv_size < PDB_EXPIRY_LEN)
		return 0;	/* not ours: gone at once */
	for (i = 0; i < PDB_EXPIRY_LEN; i++)
		t = (t << 8) | p[i];
	return (int64_t)t;
}

/*
 * Remove what expired, from where the last step stopped: j->id is now,
 * j->pkey (PDB_KEY_MAX octets) the key to start at; on return it is where
 * the next step starts (pkeylen 0: the end was reached) and j->new_id the
 * count removed.  A key too long to keep ends the walk early.
 */
int
policy_store_purge(MDB_txn *txn, const MDB_dbi dbi[PDB_MAX], struct task *j)
{
	MDB_cursor	*cur;
	MDB_val		 key, val;
	uint8_t		 at[PDB_KEY_MAX];
	uint64_t	 removed = 0;
	unsigned	 visited = 0;
	int		 rc;

	if ((rc = mdb_cursor_open(txn, dbi[j->pdb], &cur)) != 0)
		return rc;
	key.mv_size = j->pkeylen;
	key.mv_data = j->pkey;
	rc = j->pkeylen > 0 ? mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE) :
	    mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	while (rc == 0 && visited++ < PURGE_VISIT) {
		if (expiry_of(&val) <= (int64_t)j->id &&
		    key.mv_size <= sizeof(at)) {
			/* Found again from its key: no cursor state after a
			 * delete to rely on. */
			memcpy(at, key.mv_data, key.mv_size);
			key.mv_data = at;
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			removed++;
			rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
			continue;
		}
		rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
	}
	j->pkeylen = 0;
	if (rc == 0 && key.mv_size <= PDB_KEY_MAX && key.mv_size > 0) {
		memcpy(j->pkey, key.mv_data, key.mv_size);
		j->pkeylen = key.mv_size;
	}
	mdb_cursor_close(cur);
	j->new_id = removed;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : rc;
}

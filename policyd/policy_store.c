/*
 * policy_store: the LMDB backend, read-only, with the overlay of writes
 * queued has not committed yet.
 *
 * The environment is queued's (state_dir/db): it opens it first, and we
 * open it MDB_RDONLY when we first need it, again after an error, and
 * never more often than every STORE_RETRY seconds while it cannot be
 * opened.  A read that fails is a value not found: every caller treats
 * "not found" as the cautious answer (greylist, delay the greeting).
 *
 * Each write gets a sequence number, goes to queued as M_PQ_*, and sits
 * in the overlay until queued answers it; a refused write leaves the
 * overlay too, and the store's old value shows again.  The overlay is
 * capped: past OVERLAY_MAX writes in flight (queued stalls), new ones are
 * dropped, which costs a retry, never a pass.
 */
#include <sys/queue.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "child.h"
#include "clock.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "policy_redis.h"
#include "policy_store.h"

#define STORE_DIR	"db"		/* in our root, state_dir */
#define STORE_MAXDBS	16		/* as queued's */
#define STORE_RETRY	5		/* seconds between two opens */
#define OVERLAY_MAX	65536		/* writes in flight */

struct overlay {
	RB_ENTRY(overlay)	 entry;
	struct pstore_key	 k;
	uint64_t		 seq;		/* the write that made it */
	int			 deleted;
	size_t			 vlen;
	uint8_t			 val[PDB_VAL_MAX];
};
RB_HEAD(overlay_tree, overlay);
int	 overlay_cmp(struct overlay *, struct overlay *);
RB_PROTOTYPE(overlay_tree, overlay, entry, overlay_cmp)

/* A write out at queued: its number, and the key it is about. */
struct inflight {
	TAILQ_ENTRY(inflight)	 entry;
	uint64_t		 seq;
	struct pstore_key	 k;		/* len 0: a flush of k.db */
};
TAILQ_HEAD(inflight_list, inflight);

struct pstore {
	struct child		*child;
	MDB_env			*env;
	MDB_txn			*txn;		/* reset between reads */
	MDB_dbi			 dbi[PDB_MAX];
	int			 have[PDB_MAX];	/* the database exists */
	int64_t			 next_try;	/* to open the environment */
	struct overlay_tree	 overlay;
	size_t			 noverlay;
	struct inflight_list	 inflight;
	uint64_t		 seq;		/* the last write's */
	uint64_t		 flushing[PDB_MAX];	/* flush out: its seq */
	uint64_t		 dropped;	/* writes not sent */
	uint64_t		 refused;	/* writes queued refused */
	int			 failing;	/* said so in the log */
	struct predis		*redis;		/* NULL: LMDB alone */
};

/* A read out at Redis (policy_redis.c). */
struct pstore_req {
	struct pstore		*ps;
	struct pstore_key	 keys[PSTORE_GET_MAX];
	size_t			 n;
	int64_t			 now;
	pstore_fn		*fn;
	void			*arg;
	int			 cancelled;
};

int
overlay_cmp(struct overlay *a, struct overlay *b)
{
	if (a->k.db != b->k.db)
		return a->k.db < b->k.db ? -1 : 1;
	if (a->k.len != b->k.len)
		return a->k.len < b->k.len ? -1 : 1;
	return memcmp(a->k.key, b->k.key, a->k.len);
}

RB_GENERATE(overlay_tree, overlay, entry, overlay_cmp)

int64_t
pstore_expiry(const uint8_t *p, size_t len)
{
	uint64_t	t = 0;
	size_t		i;

	if (len < PDB_EXPIRY_LEN)
		return 0;
	for (i = 0; i < PDB_EXPIRY_LEN; i++)
		t = (t << 8) | p[i];
	return (int64_t)t;
}

void
pstore_put_expiry(uint8_t *p, int64_t t)
{
	int i;

	for (i = PDB_EXPIRY_LEN - 1; i >= 0; i--) {
		p[i] = (uint8_t)((uint64_t)t & 0xff);
		t = (int64_t)((uint64_t)t >> 8);
	}
}

struct pstore *
pstore_new(struct child *c)
{
	struct pstore *ps;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		fatal("policy store");
	ps->child = c;
	RB_INIT(&ps->overlay);
	TAILQ_INIT(&ps->inflight);
	return ps;
}

static void
env_close(struct pstore *ps)
{
	if (ps->txn != NULL)
		mdb_txn_abort(ps->txn);
	ps->txn = NULL;
	if (ps->env != NULL)
		mdb_env_close(ps->env);
	ps->env = NULL;
	memset(ps->have, 0, sizeof(ps->have));
}

void
pstore_free(struct pstore *ps)
{
	struct overlay	*o;
	struct inflight	*f;

	if (ps == NULL)
		return;
	predis_free(ps->redis);
	ps->redis = NULL;
	env_close(ps);
	while ((o = RB_ROOT(&ps->overlay)) != NULL) {
		RB_REMOVE(overlay_tree, &ps->overlay, o);
		free(o);
	}
	while ((f = TAILQ_FIRST(&ps->inflight)) != NULL) {
		TAILQ_REMOVE(&ps->inflight, f, entry);
		free(f);
	}
	free(ps);
}

static void
store_failed(struct pstore *ps, const char *what, int rc)
{
	if (!ps->failing)
		log_warnx("policy store: %s: %s; deciding without it (greylist "
		    "and delay as for unknown clients) until it can be read",
		    what, mdb_strerror(rc));
	ps->failing = 1;
	env_close(ps);
	ps->next_try = clock_now() + STORE_RETRY;
}

/* The databases queued has made so far. */
static void
open_dbis(struct pstore *ps)
{
	MDB_txn		*txn;
	unsigned	 db;
	int		 rc;

	if ((rc = mdb_txn_begin(ps->env, NULL, MDB_RDONLY, &txn)) != 0) {
		store_failed(ps, "a read transaction", rc);
		return;
	}
	for (db = PDB_GREYLIST; db < PDB_MAX; db++)
		if (!ps->have[db] && mdb_dbi_open(txn, policy_db_name(db), 0,
		    &ps->dbi[db]) == 0)
			ps->have[db] = 1;
	/* A read-only commit keeps the handles open. */
	if ((rc = mdb_txn_commit(txn)) != 0)
		store_failed(ps, "opening the databases", rc);
}

static int
pstore_env_open(struct pstore *ps)
{
	int rc;

	if (ps->env != NULL)
		return 0;
	if (clock_now() < ps->next_try)
		return -1;
	if ((rc = mdb_env_create(&ps->env)) != 0) {
		ps->env = NULL;
		store_failed(ps, "mdb_env_create", rc);
		return -1;
	}
	if ((rc = mdb_env_set_maxdbs(ps->env, STORE_MAXDBS)) != 0 ||
	    (rc = mdb_env_open(ps->env, STORE_DIR, MDB_RDONLY | MDB_NOTLS,
	    0)) != 0) {
		store_failed(ps, "opening " STORE_DIR, rc);
		return -1;
	}
	if (ps->failing)
		log_info("policy store: readable again");
	ps->failing = 0;
	return 0;
}

/* The read transaction, renewed: NULL when the store cannot be read. */
static MDB_txn *
txn_start(struct pstore *ps, uint8_t db)
{
	int rc;

	if (pstore_env_open(ps) == -1)
		return NULL;
	if (!ps->have[db])
		open_dbis(ps);
	if (ps->env == NULL || !ps->have[db])
		return NULL;
	if (ps->txn == NULL)
		rc = mdb_txn_begin(ps->env, NULL, MDB_RDONLY, &ps->txn);
	else
		rc = mdb_txn_renew(ps->txn);
	if (rc == MDB_MAP_RESIZED) {
		/* queued's map grew (a reload): adopt its size. */
		if (ps->txn != NULL)
			mdb_txn_abort(ps->txn);
		ps->txn = NULL;
		if ((rc = mdb_env_set_mapsize(ps->env, 0)) == 0)
			rc = mdb_txn_begin(ps->env, NULL, MDB_RDONLY,
			    &ps->txn);
	}
	if (rc != 0) {
		if (rc != MDB_MAP_RESIZED)
			ps->txn = NULL;
		store_failed(ps, "a read transaction", rc);
		return NULL;
	}
	return ps->txn;
}

static void
txn_end(struct pstore *ps)
{
	if (ps->txn != NULL)
		mdb_txn_reset(ps->txn);
}

static struct overlay *
overlay_find(struct pstore *ps, const struct pstore_key *k)
{
	struct overlay find;

	find.k = *k;
	return RB_FIND(overlay_tree, &ps->overlay, &find);
}

static void
get_one(struct pstore *ps, const struct pstore_key *k, int64_t now,
    struct pstore_val *v)
{
	struct overlay	*o;
	MDB_txn		*txn;
	MDB_val		 key, val;
	int		 rc;

	memset(v, 0, sizeof(*v));
	if (k->db <= 0 || k->db >= PDB_MAX || k->len == 0)
		return;
	if ((o = overlay_find(ps, k)) != NULL) {
		if (!o->deleted) {
			v->found = 1;
			v->len = o->vlen;
			memcpy(v->val, o->val, o->vlen);
		}
	} else if (ps->flushing[k->db] == 0 &&
	    (txn = txn_start(ps, k->db)) != NULL) {
		key.mv_size = k->len;
		key.mv_data = (void *)k->key;
		rc = mdb_get(txn, ps->dbi[k->db], &key, &val);
		if (rc == 0 && val.mv_size <= PDB_VAL_MAX) {
			v->found = 1;
			v->len = val.mv_size;
			memcpy(v->val, val.mv_data, val.mv_size);
		} else if (rc != 0 && rc != MDB_NOTFOUND)
			store_failed(ps, "a read", rc);
		txn_end(ps);
	}
	if (v->found && pstore_expiry(v->val, v->len) <= now)
		v->found = 0;
}

/* Redis answered, or could not: then the local store does. */
static void
on_redis(void *arg, int ok, const struct pstore_val *rvals, size_t n)
{
	struct pstore_req	*req = arg;
	struct pstore_val	 vals[PSTORE_GET_MAX];
	size_t			 i;

	if (!req->cancelled) {
		if (!ok) {
			for (i = 0; i < req->n; i++)
				get_one(req->ps, &req->keys[i], req->now,
				    &vals[i]);
			rvals = vals;
			n = req->n;
		}
		req->fn(req->arg, rvals, n);
	}
	free(req);
}

struct pstore_req *
pstore_get(struct pstore *ps, const struct pstore_key *keys, size_t n,
    int64_t now, pstore_fn *fn, void *arg)
{
	struct pstore_val	 vals[PSTORE_GET_MAX];
	struct pstore_req	*req;
	size_t			 i;

	if (n > PSTORE_GET_MAX)
		fatalx("pstore_get: %zu keys", n);
	if (predis_up(ps->redis) && (req = calloc(1, sizeof(*req))) != NULL) {
		req->ps = ps;
		memcpy(req->keys, keys, n * sizeof(*keys));
		req->n = n;
		req->now = now;
		req->fn = fn;
		req->arg = arg;
		if (predis_get(ps->redis, keys, n, now, on_redis, req) == 0)
			return req;
		free(req);
	}
	for (i = 0; i < n; i++)
		get_one(ps, &keys[i], now, &vals[i]);
	fn(arg, vals, n);
	return NULL;
}

/* Its answer, when it comes, goes nowhere. */
void
pstore_cancel(struct pstore_req *req)
{
	if (req != NULL)
		req->cancelled = 1;
}

/* Only what the local store has, now (a backend's answer would wait). */
void
pstore_get_local(struct pstore *ps, const struct pstore_key *k,
    int64_t now, struct pstore_val *v)
{
	get_one(ps, k, now, v);
}

void
pstore_configure(struct pstore *ps, struct child *c, const struct conf *conf)
{
	if (ps->redis == NULL)
		ps->redis = predis_new(c, conf);
}

void
pstore_parent(struct pstore *ps, struct imsg *imsg)
{
	if (ps->redis == NULL) {
		if (imsg->fd != -1)
			close(imsg->fd);
		imsg->fd = -1;
		child_peer_broken(ps->child, PROC_PARENT, imsg,
		    "a Redis connection not asked for");
	}
	predis_opened(ps->redis, imsg);
}

/*
 * Daily volumes: with Redis, every node's; else this node's alone
 * (policy_rate.c counts those).  fn gets Redis's total, or ok 0.
 */
void
pstore_volume_add(struct pstore *ps, const char *tenant, int64_t now,
    uint64_t messages, uint64_t octets)
{
	if (ps->redis != NULL)
		predis_volume_add(ps->redis, tenant, now, messages, octets);
}

struct pstore_vreq {
	pstore_vol_fn	*fn;
	void		*arg;
	int		 cancelled;
};

static void
on_volume(void *arg, int ok, uint64_t messages, uint64_t octets)
{
	struct pstore_vreq *vr = arg;

	if (!vr->cancelled)
		vr->fn(vr->arg, ok, messages, octets);
	free(vr);
}

struct pstore_vreq *
pstore_volume_get(struct pstore *ps, const char *tenant, int64_t now,
    pstore_vol_fn *fn, void *arg)
{
	struct pstore_vreq *vr;

	if (!predis_up(ps->redis) || (vr = calloc(1, sizeof(*vr))) == NULL)
		return NULL;
	vr->fn = fn;
	vr->arg = arg;
	if (predis_volume_get(ps->redis, tenant, now, on_volume, vr) == -1) {
		free(vr);
		return NULL;
	}
	return vr;
}

void
pstore_volume_cancel(struct pstore_vreq *vr)
{
	if (vr != NULL)
		vr->cancelled = 1;
}

void
pstore_volume_known(struct pstore *ps, const char *tenant, int64_t now,
    uint64_t *messages, uint64_t *octets)
{
	*messages = *octets = 0;
	if (ps->redis != NULL)
		predis_volume_known(ps->redis, tenant, now, messages, octets);
}

/* Number a write and remember it until queued answers. */
static uint64_t
inflight_add(struct pstore *ps, const struct pstore_key *k)
{
	struct inflight *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return 0;
	f->seq = ++ps->seq;
	f->k = *k;
	TAILQ_INSERT_TAIL(&ps->inflight, f, entry);
	return f->seq;
}

static void
send_write(struct pstore *ps, uint32_t type, uint64_t seq,
    const struct pstore_key *k, const void *val, size_t len)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, k->db);
	if (type != M_PQ_FLUSH)
		mw_data(&w, k->key, k->len);
	if (type == M_PQ_PUT)
		mw_data(&w, val, len);
	child_send(ps->child, PROC_QUEUED, type, seq, -1, w.buf, w.len);
}

#ifdef RELAYD_FAULTS
#define FLOOD_BURST	1000	/* writes per policyd-pq-flood */

/*
 * A policyd gone wrong, on purpose, beside a real put: a value over the
 * cap, a database that does not exist, a burst of new keys.  Each is a
 * write in flight like any other, so queued's answers find it.
 */
static void
misbehave_writes(struct pstore *ps, const struct pstore_key *k)
{
	struct pstore_key	 bad;
	uint8_t			 val[PDB_VAL_MAX + 64];
	uint64_t		 seq;
	unsigned		 i;

	memset(val, 0, sizeof(val));
	pstore_put_expiry(val, clock_now() + 3600);
	if (fault_error("policyd-pq-oversize") &&
	    (seq = inflight_add(ps, k)) != 0)
		send_write(ps, M_PQ_PUT, seq, k, val, sizeof(val));
	bad = *k;
	bad.db = PDB_MAX + 7;
	if (fault_error("policyd-pq-baddb") &&
	    (seq = inflight_add(ps, &bad)) != 0)
		send_write(ps, M_PQ_PUT, seq, &bad, val, 64);
	if (!fault_error("policyd-pq-flood"))
		return;
	memset(&bad, 0, sizeof(bad));
	bad.db = PDB_GREYLIST;
	bad.len = 32;
	for (i = 0; i < FLOOD_BURST; i++) {
		arc4random_buf(bad.key, bad.len);
		if ((seq = inflight_add(ps, &bad)) == 0)
			return;
		send_write(ps, M_PQ_PUT, seq, &bad, val, 64);
	}
}
#else
#define misbehave_writes(ps, k)	do { } while (0)
#endif

static void
write_dropped(struct pstore *ps)
{
	if (ps->dropped++ % 1000 == 0)
		log_warnx("policy store: %zu writes wait for queued; a new one "
		    "is dropped (%llu so far)", ps->noverlay,
		    (unsigned long long)ps->dropped);
}

static void
overlay_set(struct pstore *ps, const struct pstore_key *k, const void *val,
    size_t len, int deleted)
{
	struct overlay	*o;
	uint64_t	 seq;

	if (k->db <= 0 || k->db >= PDB_MAX || k->len == 0 ||
	    k->len > PDB_KEY_MAX || len > PDB_VAL_MAX ||
	    (!deleted && len < PDB_EXPIRY_LEN))
		fatalx("policy store: a write of %u/%zu octets", k->len, len);
	if ((o = overlay_find(ps, k)) == NULL) {
		if (ps->noverlay >= OVERLAY_MAX ||
		    (o = calloc(1, sizeof(*o))) == NULL) {
			write_dropped(ps);
			return;
		}
		o->k = *k;
		RB_INSERT(overlay_tree, &ps->overlay, o);
		ps->noverlay++;
	}
	if ((seq = inflight_add(ps, k)) == 0) {
		RB_REMOVE(overlay_tree, &ps->overlay, o);
		ps->noverlay--;
		free(o);
		write_dropped(ps);
		return;
	}
	o->seq = seq;
	o->deleted = deleted;
	o->vlen = deleted ? 0 : len;
	if (!deleted)
		memcpy(o->val, val, len);
	send_write(ps, deleted ? M_PQ_DEL : M_PQ_PUT, seq, k, val, len);
	if (!deleted)
		misbehave_writes(ps, k);
}

void
pstore_put(struct pstore *ps, const struct pstore_key *k, const void *val,
    size_t len)
{
	overlay_set(ps, k, val, len, 0);
	if (ps->redis != NULL)
		predis_put(ps->redis, k, val, len, clock_now());
}

void
pstore_del(struct pstore *ps, const struct pstore_key *k)
{
	overlay_set(ps, k, NULL, 0, 1);
	if (ps->redis != NULL)
		predis_del(ps->redis, k);
}

/* Every entry goes; until queued has done it, the store reads empty. */
void
pstore_flush(struct pstore *ps, uint8_t db)
{
	struct pstore_key	 k;
	struct overlay		*o, *next;
	uint64_t		 seq;

	if (db <= 0 || db >= PDB_MAX)
		return;
	memset(&k, 0, sizeof(k));
	k.db = db;
	if ((seq = inflight_add(ps, &k)) == 0) {
		log_warnx("policy store: flush of %s: out of memory",
		    policy_db_name(db));
		return;
	}
	RB_FOREACH_SAFE(o, overlay_tree, &ps->overlay, next)
		if (o->k.db == db) {
			RB_REMOVE(overlay_tree, &ps->overlay, o);
			ps->noverlay--;
			free(o);
		}
	ps->flushing[db] = seq;
	send_write(ps, M_PQ_FLUSH, seq, &k, NULL, 0);
	if (ps->redis != NULL)
		predis_flush(ps->redis, db);
}

/* queued answered a write: the store holds it now, or never will. */
void
pstore_done(struct pstore *ps, struct imsg *imsg)
{
	struct inflight	*f;
	struct overlay	*o;
	struct mr	 r;
	uint8_t		 ok;

	mr_init(&r, imsg->data, imsg->datalen);
	ok = mr_u8(&r);
	if (mr_end(&r) != 0)
		child_peer_broken(ps->child, PROC_QUEUED, imsg,
		    "malformed M_PQ_DONE");
	TAILQ_FOREACH(f, &ps->inflight, entry)
		if (f->seq == imsg->hdr.peerid)
			break;
	if (f == NULL)
		child_peer_broken(ps->child, PROC_QUEUED, imsg,
		    "M_PQ_DONE for no write");
	TAILQ_REMOVE(&ps->inflight, f, entry);
	if (!ok)
		ps->refused++;
	if (f->k.len == 0) {
		if (ps->flushing[f->k.db] == f->seq)
			ps->flushing[f->k.db] = 0;
	} else if ((o = overlay_find(ps, &f->k)) != NULL && o->seq == f->seq) {
		RB_REMOVE(overlay_tree, &ps->overlay, o);
		ps->noverlay--;
		free(o);
	}
	free(f);
}

int
pstore_walk(struct pstore *ps, uint8_t db, uint8_t *at, size_t *atlen,
    size_t budget, pstore_walk_fn *fn, void *arg)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 key, val;
	int		 rc, more = 0;

	if (db <= 0 || db >= PDB_MAX || (txn = txn_start(ps, db)) == NULL)
		return -1;
	if ((rc = mdb_cursor_open(txn, ps->dbi[db], &cur)) != 0) {
		txn_end(ps);
		store_failed(ps, "a cursor", rc);
		return -1;
	}
	key.mv_size = *atlen;
	key.mv_data = at;
	rc = *atlen > 0 ? mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE) :
	    mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (budget-- == 0) {
			/* Not visited yet: the next step starts here. */
			if (key.mv_size <= PDB_KEY_MAX) {
				memcpy(at, key.mv_data, key.mv_size);
				*atlen = key.mv_size;
				more = 1;
			}
			break;
		}
		fn(arg, key.mv_data, key.mv_size, val.mv_data, val.mv_size);
	}
	mdb_cursor_close(cur);
	txn_end(ps);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		store_failed(ps, "a walk", rc);
		return -1;
	}
	return more;
}

void
pstore_status(struct pstore *ps, char *buf, size_t sz)
{
	char	redis[512];

	redis[0] = '\0';
	if (ps->redis != NULL)
		predis_status(ps->redis, redis, sizeof(redis));
	snprintf(buf, sz, "%s%sstore=lmdb%s writes_pending=%zu refused=%llu "
	    "dropped=%llu", redis, redis[0] ? ", local " : "",
	    ps->env == NULL ? "(closed)" : "", ps->noverlay,
	    (unsigned long long)ps->refused, (unsigned long long)ps->dropped);
}

/*
 * queue_store: the LMDB environment under state_dir/db.
 *
 * Only the writer thread (queue_commit.c) uses it once queued runs: it
 * writes in batches, and it alone reads (the map's usage), so that it can
 * close and reopen the environment after MDB_PANIC with no transaction
 * open.  Start-up reads and repairs before that thread starts.
 *
 * Databases: "queue", the envelopes, keyed by queue id, big-endian, so
 * that they iterate in id (roughly arrival) order; "meta", the format
 * ("version", decimal: STORE_VERSION) and "unsynced", the ids the last
 * batch committed (8 octets each), whose spool names may not have reached
 * the disk if relayd died before that batch's directory sync ended.  A
 * store without a version is the first format (envelopes v1): migrated at
 * start, in one transaction.  A newer one is refused.  "mtasts" holds
 * MTA-STS policies by domain; "greylist", "awl", "pregreet" and
 * "whitelist" are policyd's, written only as queue_policy.c checks them.
 * In meta, "route:NAME" keeps a tenant's route (queue_route.c) and
 * "tenant:NAME" its deliveries and the notices it was sent
 * (queue_tenant.c); a notice's envelope and the record that it was sent
 * commit together, so a restart neither sends it again nor forgets it.
 *
 * The map is limits.store_max_size from the start; without MDB_WRITEMAP
 * the file grows only as pages are used.  It is never grown under a
 * running reader (policyd), whose transactions would fail.
 *
 * Compaction (store_compact): LMDB keeps the pages a deleted envelope
 * used, with its addresses in them, until it writes over them.  So every
 * half of retention.message_records the writer thread copies the live
 * pages alone (mdb_env_copyfd2, MDB_CP_COMPACT) to data.mdb.compact,
 * syncs it, closes the environment, renames the copy over data.mdb and
 * unlinks lock.mdb before it opens the environment again.  The copy
 * starts its transaction ids at 1, and a lock region that outlived the
 * old file would hold the old ids (LMDB picks the meta page by them):
 * so the lock file is made anew, and queued, its first user, sets it up
 * from the copy; the ids are checked once it is open.  Commits wait in
 * the writer's queue meanwhile.  A reader (policyd) keeps the old files
 * it has open, unlinked, and reads the old snapshot until it opens the
 * environment again (common/store_rd.h tells it when).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "queue_policy.h"
#include "queue_stats.h"
#include "queued.h"

#define STORE_MAXDBS	16
#define FREE_DBI	0	/* LMDB's freelist */

struct store {
	MDB_env		*env;
	MDB_dbi		 queue;
	MDB_dbi		 meta;
	char		 dir[128];
	uint64_t	 mapsize;
	int		 unsynced;	/* the key is set */
	MDB_dbi		 mtasts;	/* MTA-STS policies, by domain */
	MDB_dbi		 pdb[PDB_MAX];	/* policyd's (queue_policy.c) */
	uint64_t	 freed;		/* writes since the last compaction */
	MDB_dbi		 stats;		/* queue_stats.c */
};

static void
key_of(uint64_t id, uint8_t k[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		k[i] = (uint8_t)(id & 0xff);
		id >>= 8;
	}
}

static uint64_t
id_of(const uint8_t k[8])
{
	uint64_t	id = 0;
	int		i;

	for (i = 0; i < 8; i++)
		id = (id << 8) | k[i];
	return id;
}

static void
meta_key(MDB_val *key, const char *name)
{
	key->mv_size = strlen(name);
	key->mv_data = (void *)name;
}

/*
 * policyd reads through its group: it needs to write its reader slot in
 * lock.mdb, and only to read data.mdb.  Set before LMDB opens them: a
 * descriptor of ours closed later would drop LMDB's fcntl locks.
 */
static int
file_mode(const char *dir, const char *name, mode_t mode)
{
	char	path[256];
	int	fd, rv = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    mode)) == -1)
		return -1;
	if (fchmod(fd, mode) == -1)
		rv = -1;
	close(fd);
	return rv;
}

/*
 * The lock region's last transaction id is the data file's: a lock file
 * left from before a compaction would make LMDB read the wrong meta page.
 * The writer, with no other writer, sees them equal.
 */
static int
lock_fits_data(MDB_env *env)
{
	MDB_envinfo	 info;
	MDB_txn		*txn;
	size_t		 id;

	if (mdb_env_info(env, &info) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	id = mdb_txn_id(txn);
	mdb_txn_abort(txn);
	return id == info.me_last_txnid;
}

static int
env_open(struct store *st, char *err, size_t errsz)
{
	int rc, dead = 0;

	if (file_mode(st->dir, "lock.mdb", 0660) == -1 ||
	    file_mode(st->dir, "data.mdb", 0640) == -1) {
		snprintf(err, errsz, "%s: %s", st->dir, strerror(errno));
		return -1;
	}
	if ((rc = mdb_env_create(&st->env)) != 0) {
		st->env = NULL;
		snprintf(err, errsz, "%s: %s", st->dir, mdb_strerror(rc));
		return -1;
	}
	if ((rc = mdb_env_set_mapsize(st->env, st->mapsize)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, STORE_MAXDBS)) != 0 ||
	    (rc = mdb_env_open(st->env, st->dir, MDB_NOTLS, 0660)) != 0) {
		snprintf(err, errsz, "%s: %s", st->dir, mdb_strerror(rc));
		mdb_env_close(st->env);
		st->env = NULL;
		return -1;
	}
	/* Readers left by a killed process would pin old pages forever. */
	if (mdb_reader_check(st->env, &dead) == 0 && dead > 0)
		log_info("cleared %d stale LMDB readers", dead);
	if (!lock_fits_data(st->env)) {
		snprintf(err, errsz, "%s: lock.mdb does not belong to data.mdb "
		    "(transaction ids differ)", st->dir);
		mdb_env_close(st->env);
		st->env = NULL;
		return -1;
	}
	return 0;
}

/* "version" in meta: 0 when absent, -1 when unreadable. */
static long
get_version(struct store *st, MDB_txn *txn, int *rcp)
{
	MDB_val		 key, val;
	char		 buf[16];
	const char	*why;
	long long	 v;

	meta_key(&key, "version");
	if ((*rcp = mdb_get(txn, st->meta, &key, &val)) == MDB_NOTFOUND) {
		*rcp = 0;
		return 0;
	}
	if (*rcp != 0)
		return -1;
	if (val.mv_size == 0 || val.mv_size >= sizeof(buf))
		return -1;
	memcpy(buf, val.mv_data, val.mv_size);
	buf[val.mv_size] = '\0';
	v = strtonum(buf, 1, 1000000, &why);
	return why != NULL ? -1 : (long)v;
}

static int
put_version(struct store *st, MDB_txn *txn)
{
	MDB_val	key, val;
	char	buf[16];

	snprintf(buf, sizeof(buf), "%d", STORE_VERSION);
	meta_key(&key, "version");
	val.mv_size = strlen(buf);
	val.mv_data = buf;
	return mdb_put(txn, st->meta, &key, &val, 0);
}

/*
 * The first format to this one: every envelope re-encoded in the newest
 * version.  One that cannot be read is left as it is, for start-up to
 * put in quarantine.
 */
static int
migrate(struct store *st, MDB_txn *txn, char *err, size_t errsz)
{
	MDB_cursor	*cur;
	MDB_val		 key, val, nval;
	struct envelope	*e;
	struct mw	 w;
	size_t		 done = 0, left = 0;
	int		 rc;

	if ((rc = mdb_cursor_open(txn, st->queue, &cur)) != 0)
		goto fail;
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
		if (envelope_version(val.mv_data, val.mv_size) ==
		    ENV_VERSION)
			continue;
		if ((e = envelope_decode(val.mv_data, val.mv_size)) == NULL) {
			left++;
			continue;
		}
		if (envelope_encode(e, &w) == -1) {
			mw_release(&w);
			envelope_free(e);
			rc = ENOMEM;
			break;
		}
		nval.mv_size = w.len;
		nval.mv_data = w.buf;
		rc = mdb_cursor_put(cur, &key, &nval, MDB_CURRENT);
		mw_release(&w);
		envelope_free(e);
		if (rc != 0)
			break;
		done++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		goto fail;
	log_info("queue store: migrated from format 1 to %d: %zu envelopes "
	    "rewritten, %zu unreadable left for the quarantine",
	    STORE_VERSION, done, left);
	return 0;
fail:
	snprintf(err, errsz, "%s: migrating the store from format 1 to %d: "
	    "%s", st->dir, STORE_VERSION, mdb_strerror(rc));
	return -1;
}

/*
 * The databases' handles, and the format: a new store is written in
 * this one, an old one migrated, a newer one refused.
 */
static int
prepare(struct store *st, int first, char *err, size_t errsz)
{
	MDB_txn	*txn;
	long	 version = STORE_VERSION;
	int	 rc, fresh = 0;

	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		goto fail;
	rc = mdb_dbi_open(txn, "queue", 0, &st->queue);
	if (rc == MDB_NOTFOUND) {
		fresh = 1;
		rc = mdb_dbi_open(txn, "queue", MDB_CREATE, &st->queue);
	}
	if (rc != 0 || (rc = mdb_dbi_open(txn, "meta", MDB_CREATE,
	    &st->meta)) != 0 || (rc = mdb_dbi_open(txn, "mtasts",
	    MDB_CREATE, &st->mtasts)) != 0 ||
	    (rc = policy_store_open(txn, st->pdb)) != 0 ||
	    (rc = stats_store_open(txn, &st->stats)) != 0)
		goto abort;
	if (first && (version = get_version(st, txn, &rc)) == -1) {
		if (rc == 0)
			snprintf(err, errsz, "%s: the store's format version "
			    "cannot be read", st->dir);
		goto abort;
	}
	if (version > STORE_VERSION) {
		snprintf(err, errsz, "%s: the store is in format %ld, newer "
		    "than this relayd's (%d): run the relayd that wrote it",
		    st->dir, version, STORE_VERSION);
		mdb_txn_abort(txn);
		return -1;
	}
	if (version < STORE_VERSION) {
		if (!fresh && migrate(st, txn, err, errsz) == -1) {
			mdb_txn_abort(txn);
			return -1;
		}
		if ((rc = put_version(st, txn)) != 0)
			goto abort;
		if (fresh)
			log_info("queue store: new, format %d", STORE_VERSION);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
abort:
	mdb_txn_abort(txn);
fail:
	if (rc != 0)
		snprintf(err, errsz, "%s: opening the queue: %s", st->dir,
		    mdb_strerror(rc));
	return -1;
}

struct store *
store_open(const char *dir, uint64_t mapsize, char *err, size_t errsz)
{
	struct store *st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if (strlcpy(st->dir, dir, sizeof(st->dir)) >= sizeof(st->dir)) {
		snprintf(err, errsz, "%s: path too long", dir);
		free(st);
		return NULL;
	}
	st->mapsize = mapsize;
	store_compact_cleanup(st->dir);
	if (env_open(st, err, errsz) == -1) {
		free(st);
		return NULL;
	}
	if (prepare(st, 1, err, errsz) == -1) {
		store_close(st);
		return NULL;
	}
	st->unsynced = 1;	/* until cleared: it may be there */
	st->freed = 1;		/* what the last run freed is not known */
	return st;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->env != NULL)
		mdb_env_close(st->env);
	free(st);
}

/*
 * After MDB_PANIC every transaction fails until the environment is
 * opened again.  The writer thread's own, with nothing open.
 */
static int
store_reopen(struct store *st)
{
	char err[512];

	if (st->env != NULL) {
		mdb_env_close(st->env);
		st->env = NULL;
	}
	if (env_open(st, err, sizeof(err)) == -1 ||
	    prepare(st, 0, err, sizeof(err)) == -1) {
		log_warnx("queue store: cannot open it again: %s", err);
		if (st->env != NULL) {
			mdb_env_close(st->env);
			st->env = NULL;
		}
		return -1;
	}
	log_info("queue store: environment opened again");
	return 0;
}

static int
put_blob(struct store *st, MDB_txn *txn, uint64_t id, const void *p,
    size_t len, unsigned flags)
{
	uint8_t	k[8];
	MDB_val	key, val;

	key_of(id, k);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	val.mv_size = len;
	val.mv_data = (void *)p;
	return mdb_put(txn, st->queue, &key, &val, flags);
}

static int
put_envelope(struct store *st, MDB_txn *txn, struct task *j, unsigned flags)
{
	struct mw	w;
	int		rc;

	if (envelope_encode(j->env, &w) == -1) {
		mw_release(&w);
		return ENOMEM;
	}
	rc = put_blob(st, txn, j->env->id, w.buf, w.len, flags);
	mw_release(&w);
	return rc;
}

/* An MTA-STS policy by domain, or its removal (no blob). */
static int
put_sts(struct store *st, MDB_txn *txn, struct task *j)
{
	MDB_val	key, val;
	int	rc;

	key.mv_size = strlen(j->name);
	key.mv_data = j->name;
	if (j->blob == NULL) {
		rc = mdb_del(txn, st->mtasts, &key, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	val.mv_size = j->bloblen;
	val.mv_data = j->blob;
	return mdb_put(txn, st->mtasts, &key, &val, 0);
}

static int
del_envelope(struct store *st, MDB_txn *txn, uint64_t id)
{
	uint8_t	k[8];
	MDB_val	key;
	int	rc;

	key_of(id, k);
	key.mv_size = sizeof(k);
	key.mv_data = k;
	rc = mdb_del(txn, st->queue, &key, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
is_new(const struct task *j)
{
	return j->kind == TASK_COMMIT || j->kind == TASK_DSN ||
	    j->kind == TASK_NOTICE;
}

/* What a full map refuses first: new mail, and policyd's new entries. */
static int
needs_room(const struct task *j)
{
	return is_new(j) || (j->kind == TASK_POLICY && j->pop == PQ_OP_PUT);
}

/*
 * The batch's new envelopes, as "unsynced": one small put, written in
 * place (MDB_RESERVE).  A batch without any clears the key, once.
 */
static int
note_unsynced(struct store *st, MDB_txn *txn, struct task_list *jobs)
{
	struct task	*j;
	MDB_val		 key, val;
	size_t		 n = 0;
	uint8_t		*p;
	int		 rc;

	TAILQ_FOREACH(j, jobs, entry)
		if (is_new(j) && j->err == 0)
			n++;
	meta_key(&key, "unsynced");
	if (n == 0) {
		if (!st->unsynced)
			return 0;
		rc = mdb_del(txn, st->meta, &key, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	val.mv_size = n * 8;
	if ((rc = mdb_put(txn, st->meta, &key, &val, MDB_RESERVE)) != 0)
		return rc;
	p = val.mv_data;
	TAILQ_FOREACH(j, jobs, entry)
		if (is_new(j) && j->err == 0) {
			/* DSN: j->id is the original's. */
			key_of(j->env->id, p);
			p += 8;
		}
	return 0;
}

/*
 * "PREFIX:NAME" in meta: a tenant's record, kept across restarts; its
 * removal when there is no blob.
 */
static int
put_tenant_meta(struct store *st, MDB_txn *txn, const char *prefix,
    struct task *j)
{
	MDB_val	key, val;
	char	buf[TENANT_MAX + 16];
	int	rc;

	snprintf(buf, sizeof(buf), "%s:%s", prefix, j->tenant);
	key.mv_size = strlen(buf);
	key.mv_data = buf;
	if (j->blob == NULL) {
		rc = mdb_del(txn, st->meta, &key, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	val.mv_size = j->bloblen;
	val.mv_data = j->blob;
	return mdb_put(txn, st->meta, &key, &val, 0);
}

/* Every "PREFIX:NAME" record of meta to fn, by name. */
static int
tenant_meta_each(struct store *st, const char *prefix, store_route_fn *fn,
    void *arg)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 key, val;
	char		 name[TENANT_MAX + 1], pfx[16];
	size_t		 pl;
	int		 rc;

	pl = (size_t)snprintf(pfx, sizeof(pfx), "%s:", prefix);
	if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, st->meta, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	key.mv_size = pl;
	key.mv_data = pfx;
	rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (key.mv_size <= pl || memcmp(key.mv_data, pfx, pl) != 0)
			break;
		if (key.mv_size - pl > TENANT_MAX)
			continue;
		memcpy(name, (char *)key.mv_data + pl, key.mv_size - pl);
		name[key.mv_size - pl] = '\0';
		fn(arg, name, val.mv_data, val.mv_size);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

int
store_routes(struct store *st, store_route_fn *fn, void *arg)
{
	return tenant_meta_each(st, "route", fn, arg);
}

int
store_tenants(struct store *st, store_route_fn *fn, void *arg)
{
	return tenant_meta_each(st, "tenant", fn, arg);
}

/* Every statistics record to fn, oldest day first (queue_stats.c). */
int
store_stats_load(struct store *st, store_stats_fn *fn, void *arg)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 key, val;
	int		 rc;

	if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_cursor_open(txn, st->stats, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT))
		fn(arg, key.mv_data, key.mv_size, val.mv_data, val.mv_size);
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : -1;
}

/* Does the batch hold new messages?  (The panic fault is theirs.) */
static int
has_new(struct task_list *jobs)
{
	struct task *j;

	TAILQ_FOREACH(j, jobs, entry)
		if (is_new(j) && j->err == 0)
			return 1;
	return 0;
}

/* One transaction; 0, or the code that failed it. */
static int
apply_once(struct store *st, struct task_list *jobs)
{
	struct task	*j;
	MDB_txn		*txn;
	int		 rc = 0, n;

	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		return rc;
	TAILQ_FOREACH(j, jobs, entry) {
		if (j->err != 0)
			continue;
		switch (j->kind) {
		case TASK_COMMIT:
		case TASK_DSN:
			rc = put_envelope(st, txn, j, MDB_NOOVERWRITE);
			break;
		case TASK_PUT:
			if ((rc = fault_error("queued-store-put")) == 0)
				rc = put_blob(st, txn, j->id, j->blob,
				    j->bloblen, 0);
			break;
		case TASK_DELETE:
			if ((rc = fault_error("queued-store-delete")) == 0)
				rc = del_envelope(st, txn, j->id);
			break;
		case TASK_CREATE:
			rc = 0;		/* never sent to the writer */
			break;
		case TASK_ROUTE:
			rc = put_tenant_meta(st, txn, "route", j);
			break;
		case TASK_TSTATE:
			rc = put_tenant_meta(st, txn, "tenant", j);
			break;
		case TASK_NOTICE:
			/* The notice and the record that it went, together. */
			if ((rc = put_envelope(st, txn, j, MDB_NOOVERWRITE)) ==
			    0 && j->blob != NULL)
				rc = put_tenant_meta(st, txn, "tenant", j);
			break;
		case TASK_STS:
			rc = put_sts(st, txn, j);
			break;
		case TASK_POLICY:
			rc = policy_store_apply(txn, st->pdb, j);
			break;
		case TASK_PURGE:
			rc = policy_store_purge(txn, st->pdb, j);
			break;
		case TASK_STATS:
			rc = stats_store_apply(txn, st->stats, j);
			break;
		}
		if (rc == MDB_KEYEXIST) {
			j->mdb_err = rc;
			j->err = EEXIST;
			continue;
		}
		if (rc != 0)
			break;
	}
	if (rc == 0)
		rc = note_unsynced(st, txn, jobs);
	if (rc == 0 && has_new(jobs) && fault_error("queued-store-panic"))
		rc = MDB_PANIC;
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	n = 0;
	TAILQ_FOREACH(j, jobs, entry)
		n += is_new(j) && j->err == 0;
	if ((rc = mdb_txn_commit(txn)) == 0) {
		st->unsynced = n > 0;
		/* Pages freed: what they held lingers until a compaction. */
		TAILQ_FOREACH(j, jobs, entry)
			st->freed += j->err == 0 && (j->kind == TASK_DELETE ||
			    j->kind == TASK_PUT);
	}
	return rc;
}

/*
 * One transaction for the whole batch.  A job that fails on its own (a
 * duplicate id) fails alone; anything else fails them all, since the
 * transaction is gone.  A full map fails the new envelopes (452) and the
 * rest is tried again at once without them: removals free pages, and
 * must not wait behind mail that cannot fit.  After MDB_PANIC the
 * environment is opened again for the next batch.
 */
int
store_apply(struct store *st, struct task_list *jobs)
{
	struct task	*j;
	int		 rc, rest = 0;

	if (st->env == NULL && store_reopen(st) == -1) {
		rc = EIO;
		goto fail_all;
	}
	rc = apply_once(st, jobs);
	if (rc == MDB_MAP_FULL) {
		TAILQ_FOREACH(j, jobs, entry) {
			if (j->err != 0)
				continue;
			if (needs_room(j)) {
				j->mdb_err = rc;
				j->err = ENOSPC;
			} else
				rest = 1;
		}
		log_warnx("queue store: %s: new messages refused", mdb_strerror(
		    rc));
		if (!rest)
			return -1;
		rc = apply_once(st, jobs);
	}
	if (rc == 0)
		return 0;
fail_all:
	log_warnx("queue store: %s", mdb_strerror(rc));
	TAILQ_FOREACH(j, jobs, entry)
		if (j->err == 0) {
			j->mdb_err = rc;
			j->err = rc == MDB_MAP_FULL || rc == ENOSPC ? ENOSPC :
			    EIO;
		}
	if (rc == MDB_PANIC)
		store_reopen(st);
	return -1;
}

/*
 * Every envelope to fn; one that cannot be read goes to fn too, with the
 * reason, so that it is kept rather than forgotten.  A cursor error is no
 * end of the queue: it stops start-up.
 */
int
store_load(struct store *st, store_load_fn *fn, void *arg, char *err,
    size_t errsz)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 key, val;
	struct envelope	*e;
	uint64_t	 id, last = 0;
	char		 why[128];
	uint32_t	 v;
	int		 rc, n = 0;

	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto fail;
	if ((rc = mdb_cursor_open(txn, st->queue, &cur)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
		if (key.mv_size != 8) {
			log_warnx("queue store: a key of %zu octets is no "
			    "queue id; left in place", key.mv_size);
			continue;
		}
		last = id = id_of(key.mv_data);
		e = envelope_decode(val.mv_data, val.mv_size);
		if (e != NULL && e->id != id) {
			envelope_free(e);
			e = NULL;
			snprintf(why, sizeof(why), "the envelope names another "
			    "id than its key");
		} else if (e == NULL) {
			v = envelope_version(val.mv_data, val.mv_size);
			if (v < ENV_VERSION_MIN || v > ENV_VERSION)
				snprintf(why, sizeof(why), "envelope version "
				    "%u unknown", v);
			else
				snprintf(why, sizeof(why), "envelope (version "
				    "%u, %zu octets) cannot be decoded", v,
				    val.mv_size);
		}
		fn(arg, id, e, val.mv_data, val.mv_size, e ? NULL : why);
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return n;
fail:
	snprintf(err, errsz, "%s: reading the queue failed after %d envelopes "
	    "(last %016llx): %s", st->dir, n, (unsigned long long)last,
	    mdb_strerror(rc));
	return -1;
}

/* The ids of the last batch before the last stop (crash window). */
int
store_unsynced(struct store *st, uint64_t **ids, size_t *np)
{
	MDB_txn		*txn;
	MDB_val		 key, val;
	size_t		 i, n = 0;
	int		 rc;

	*ids = NULL;
	*np = 0;
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		return -1;
	meta_key(&key, "unsynced");
	rc = mdb_get(txn, st->meta, &key, &val);
	if (rc == 0 && val.mv_size % 8 == 0 && val.mv_size > 0) {
		n = val.mv_size / 8;
		if ((*ids = calloc(n, sizeof(**ids))) == NULL) {
			mdb_txn_abort(txn);
			return -1;
		}
		for (i = 0; i < n; i++)
			(*ids)[i] = id_of((const uint8_t *)val.mv_data + i * 8);
		*np = n;
	} else if (rc == 0)
		log_warnx("queue store: the list of the last batch has %zu "
		    "octets; ignored", val.mv_size);
	mdb_txn_abort(txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

/* Envelopes out at once, at start-up (quarantined, or never acked). */
int
store_drop(struct store *st, const uint64_t *ids, size_t n)
{
	MDB_txn	*txn;
	size_t	 i;
	int	 rc;

	if (n == 0)
		return 0;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if ((rc = del_envelope(st, txn, ids[i])) != 0) {
			mdb_txn_abort(txn);
			goto fail;
		}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	return 0;
fail:
	log_warnx("queue store: removing %zu envelopes: %s", n,
	    mdb_strerror(rc));
	return -1;
}

/* At a clean stop, every batch's directory sync has ended. */
int
store_clear_unsynced(struct store *st)
{
	MDB_txn	*txn;
	MDB_val	 key;
	int	 rc;

	if (st->env == NULL || !st->unsynced)
		return 0;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		goto fail;
	meta_key(&key, "unsynced");
	rc = mdb_del(txn, st->meta, &key, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	st->unsynced = 0;
	return 0;
fail:
	log_warnx("queue store: clearing the last batch's list: %s",
	    mdb_strerror(rc));
	return -1;
}

/*
 * Pages in use: up to the last page written, less those on LMDB's
 * freelist (database 0, each record a list of pages headed by its
 * count).  The writer thread's, between batches.  recent: the free
 * pages of the last two transactions, which the next cannot take yet
 * (a batch of scattered keys copies most of its tree's pages).
 */
int
store_usage(struct store *st, uint64_t *used, uint64_t *total,
    uint64_t *recent)
{
	MDB_envinfo	 info;
	MDB_stat	 ms;
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 key, val;
	uint64_t	 free_pages = 0, last;
	size_t		 count, txnid;
	int		 rc;

	if (st->env == NULL || mdb_env_stat(st->env, &ms) != 0 ||
	    ms.ms_psize == 0)
		return -1;
	if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return -1;
	if (mdb_env_info(st->env, &info) != 0 ||
	    mdb_cursor_open(txn, FREE_DBI, &cur) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	*recent = 0;
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0)
		if (val.mv_size >= sizeof(count)) {
			memcpy(&count, val.mv_data, sizeof(count));
			free_pages += count;
			if (key.mv_size != sizeof(txnid))
				continue;
			memcpy(&txnid, key.mv_data, sizeof(txnid));
			if (txnid + 1 >= info.me_last_txnid)
				*recent += count;
		}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != MDB_NOTFOUND)
		return -1;
	last = (uint64_t)info.me_last_pgno + 1;
	*used = last > free_pages ? last - free_pages : 0;
	*total = (uint64_t)info.me_mapsize / ms.ms_psize;
	return 0;
}

int
store_sts_load(struct store *st, void (*fn)(void *, const char *,
    const void *, size_t), void *arg)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 key, val;
	char		 name[256];
	int		 rc, n = 0;

	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		return -1;
	if ((rc = mdb_cursor_open(txn, st->mtasts, &cur)) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
		if (key.mv_size == 0 || key.mv_size >= sizeof(name))
			continue;
		memcpy(name, key.mv_data, key.mv_size);
		name[key.mv_size] = '\0';
		fn(arg, name, val.mv_data, val.mv_size);
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return n;
}

static int
sync_dir(const char *dir)
{
	int fd, rv;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rv = fsync(fd);
	close(fd);
	return rv;
}

/* A compaction's copy left by a crash: never used, gone at once. */
void
store_compact_cleanup(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/data.mdb.compact", dir);
	if (unlinkat(AT_FDCWD, path, 0) == 0)
		log_info("queue store: removed a compaction's unfinished copy");
}

/*
 * The live pages alone, in a new data.mdb (see the top of this file).
 * The writer thread's, between batches.  Until the environment is closed
 * a failure leaves everything as it was; after, the next batch opens it
 * again as after MDB_PANIC.  *before and *after: the file's sizes.
 */
int
store_compact(struct store *st, uint64_t *before, uint64_t *after,
    char *err, size_t errsz)
{
	char		 copy[256], data[256], lock[256];
	struct stat	 sb;
	int		 fd, rc;

	if (st->env == NULL) {
		snprintf(err, errsz, "the environment is not open");
		return -1;
	}
	snprintf(copy, sizeof(copy), "%s/data.mdb.compact", st->dir);
	snprintf(data, sizeof(data), "%s/data.mdb", st->dir);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", st->dir);
	*before = stat(data, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	(void)unlinkat(AT_FDCWD, copy, 0);
	if ((fd = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0640)) == -1) {
		snprintf(err, errsz, "%s: %s", copy, strerror(errno));
		return -1;
	}
	/* policyd reads it through its group, as it did the old one. */
	rc = fchmod(fd, 0640) == -1 ? errno :
	    mdb_env_copyfd2(st->env, fd, MDB_CP_COMPACT);
	if (rc == 0 && (rc = fault_error("queued-compact")) == 0 &&
	    (fsync(fd) == -1 || fstat(fd, &sb) == -1))
		rc = errno;
	close(fd);
	if (rc != 0) {
		snprintf(err, errsz, "%s: %s", copy, mdb_strerror(rc));
		unlinkat(AT_FDCWD, copy, 0);
		return -1;
	}
	*after = (uint64_t)sb.st_size;
	mdb_env_close(st->env);
	st->env = NULL;
	if (renameat(AT_FDCWD, copy, AT_FDCWD, data) == -1) {
		snprintf(err, errsz, "%s: %s", data, strerror(errno));
		unlinkat(AT_FDCWD, copy, 0);
		(void)store_reopen(st);
		return -1;
	}
	if (unlinkat(AT_FDCWD, lock, 0) == -1 && errno != ENOENT)
		log_warn("queue store: %s", lock);
	if (sync_dir(st->dir) == -1)
		log_warn("queue store: syncing %s", st->dir);
	if (store_reopen(st) == -1) {
		snprintf(err, errsz, "the compacted store cannot be opened");
		return -1;
	}
	st->freed = 0;
	return 0;
}

/* Is a compaction worth its while: anything freed since the last? */
int
store_compact_due(const struct store *st)
{
	return st->freed > 0;
}

/*
 * queue_store: the LMDB environment under state_dir/db.
 *
 * Only the writer thread (queue_commit.c) writes, in batches; reads happen
 * at start-up, before that thread runs.  Keys are queue ids, big-endian,
 * so the database iterates in id (roughly arrival) order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "log.h"
#include "marshal.h"
#include "queued.h"

#define STORE_MAPSIZE	(4ull * 1024 * 1024 * 1024)
#define STORE_MAXDBS	8

struct store {
	MDB_env		*env;
	MDB_dbi		 queue;
	MDB_dbi		 mtasts;	/* MTA-STS policies, by domain */
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

struct store *
store_open(const char *dir, char *err, size_t errsz)
{
	struct store	*st;
	MDB_txn		*txn;
	char		 path[256];
	int		 rc, dead = 0;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if ((rc = mdb_env_create(&st->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(st->env, STORE_MAPSIZE)) != 0 ||
	    (rc = mdb_env_set_maxdbs(st->env, STORE_MAXDBS)) != 0 ||
	    (rc = mdb_env_open(st->env, dir, MDB_NOTLS, 0660)) != 0) {
		snprintf(err, errsz, "%s: %s", dir, mdb_strerror(rc));
		goto fail;
	}
	/* Readers left by a killed process would pin old pages forever. */
	if (mdb_reader_check(st->env, &dead) == 0 && dead > 0)
		log_info("cleared %d stale LMDB readers", dead);
	/*
	 * policyd reads through its group: it needs to write its reader
	 * slot in lock.mdb, and only to read data.mdb.
	 */
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	if (chmod(path, 0660) == -1)
		log_warn("chmod %s", path);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (chmod(path, 0640) == -1)
		log_warn("chmod %s", path);
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "queue", MDB_CREATE, &st->queue)) != 0 ||
	    (rc = mdb_dbi_open(txn, "mtasts", MDB_CREATE, &st->mtasts)) !=
	    0 || (rc = mdb_txn_commit(txn)) != 0) {
		snprintf(err, errsz, "%s: opening the queue: %s", dir,
		    mdb_strerror(rc));
		goto fail;
	}
	return st;
fail:
	mdb_env_close(st->env);
	free(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	mdb_env_close(st->env);
	free(st);
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
put_envelope(struct store *st, MDB_txn *txn, struct job *j, unsigned flags)
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
put_sts(struct store *st, MDB_txn *txn, struct job *j)
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

/*
 * One transaction for the whole batch.  A job that fails on its own (a
 * duplicate id) fails alone; a full map or a failed commit fails them all,
 * since the transaction is gone.
 */
int
store_apply(struct store *st, struct job_list *jobs)
{
	struct job	*j;
	MDB_txn		*txn;
	uint8_t		 k[8];
	MDB_val		 key;
	int		 rc;

	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)) != 0)
		goto fail_all;
	TAILQ_FOREACH(j, jobs, entry) {
		if (j->err != 0)
			continue;
		switch (j->kind) {
		case JOB_COMMIT:
		case JOB_DSN:
			rc = put_envelope(st, txn, j, MDB_NOOVERWRITE);
			break;
		case JOB_PUT:
			rc = put_blob(st, txn, j->id, j->blob, j->bloblen, 0);
			break;
		case JOB_DELETE:
			key_of(j->id, k);
			key.mv_size = sizeof(k);
			key.mv_data = k;
			rc = mdb_del(txn, st->queue, &key, NULL);
			if (rc == MDB_NOTFOUND)
				rc = 0;
			break;
		case JOB_CREATE:
			rc = 0;		/* never sent to the writer */
			break;
		case JOB_STS:
			rc = put_sts(st, txn, j);
			break;
		}
		if (rc == MDB_KEYEXIST) {
			j->mdb_err = rc;
			j->err = EEXIST;
			continue;
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			goto fail_all;
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail_all;
	return 0;
fail_all:
	log_warnx("queue store: %s", mdb_strerror(rc));
	TAILQ_FOREACH(j, jobs, entry)
		if (j->err == 0) {
			j->mdb_err = rc;
			j->err = rc == MDB_MAP_FULL || rc == ENOSPC ? ENOSPC :
			    EIO;
		}
	return -1;
}

int
store_load(struct store *st, void (*fn)(void *, struct envelope *),
    void *arg)
{
	MDB_txn		*txn;
	MDB_cursor	*cur;
	MDB_val		 key, val;
	struct envelope	*e;
	int		 rc, n = 0;

	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) != 0)
		return -1;
	if ((rc = mdb_cursor_open(txn, st->queue, &cur)) != 0) {
		mdb_txn_abort(txn);
		return -1;
	}
	while ((rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) == 0) {
		if ((e = envelope_decode(val.mv_data, val.mv_size)) == NULL) {
			log_warnx("queue store: an envelope cannot be read; "
			    "left in place");
			continue;
		}
		fn(arg, e);
		n++;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return n;
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

/*
 * store_rd: a reader of the queue store that follows its compactions.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_rd.h"

#define STORE_RD_MAXDBS	8	/* queue_store.c's STORE_MAXDBS */

struct store_rd {
	MDB_env		*env;
	char		 dir[256];
	char		 data[300];
	uint64_t	 mapsize;
	ino_t		 ino;		/* of the data.mdb open */
	dev_t		 dev;
	unsigned	 gen;
	unsigned	 open_txns;
};

static int
path_ino(const struct store_rd *rd, struct stat *sb)
{
	return stat(rd->data, sb);
}

/* The lock region's last transaction is not ahead of the data file's. */
static int
lock_not_ahead(MDB_env *env)
{
	MDB_envinfo	 info;
	MDB_txn		*txn;
	size_t		 id;

	if (mdb_env_info(env, &info) != 0 ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	id = mdb_txn_id(txn);
	mdb_txn_abort(txn);
	return id <= info.me_last_txnid;
}

/* An environment on the files the path names now: 0, or the error. */
static int
rd_open(struct store_rd *rd, MDB_env **envp, struct stat *opened)
{
	MDB_env		*env;
	struct stat	 now;
	int		 rc, fd;

	if ((rc = mdb_env_create(&env)) != 0)
		return rc;
	if ((rc = mdb_env_set_mapsize(env, rd->mapsize)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, STORE_RD_MAXDBS)) != 0 ||
	    (rc = mdb_env_open(env, rd->dir, MDB_RDONLY | MDB_NOTLS, 0)) != 0 ||
	    (rc = mdb_env_get_fd(env, &fd)) != 0)
		goto fail;
	if (fstat(fd, opened) == -1 || path_ino(rd, &now) == -1) {
		rc = errno;
		goto fail;
	}
	/* Renamed over between our two opens, or a lock from before. */
	if (now.st_ino != opened->st_ino || now.st_dev != opened->st_dev ||
	    !lock_not_ahead(env)) {
		rc = EAGAIN;
		goto fail;
	}
	*envp = env;
	return 0;
fail:
	mdb_env_close(env);
	return rc;
}

struct store_rd *
store_rd_open(const char *dir, uint64_t mapsize, char *err, size_t errsz)
{
	struct store_rd	*rd;
	struct stat	 sb;
	int		 rc;

	if ((rd = calloc(1, sizeof(*rd))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if (strlcpy(rd->dir, dir, sizeof(rd->dir)) >= sizeof(rd->dir)) {
		snprintf(err, errsz, "%s: path too long", dir);
		free(rd);
		return NULL;
	}
	snprintf(rd->data, sizeof(rd->data), "%s/data.mdb", dir);
	rd->mapsize = mapsize;
	if ((rc = rd_open(rd, &rd->env, &sb)) != 0) {
		snprintf(err, errsz, "%s: %s", dir, mdb_strerror(rc));
		free(rd);
		return NULL;
	}
	rd->ino = sb.st_ino;
	rd->dev = sb.st_dev;
	rd->gen = 1;
	return rd;
}

void
store_rd_close(struct store_rd *rd)
{
	if (rd == NULL)
		return;
	if (rd->env != NULL)
		mdb_env_close(rd->env);
	free(rd);
}

/* data.mdb was replaced: the new one, if it can be had now. */
static void
follow(struct store_rd *rd)
{
	struct stat	 sb;
	MDB_env		*env;
	int		 rc;

	if (rd->open_txns > 0 || path_ino(rd, &sb) == -1 ||
	    (sb.st_ino == rd->ino && sb.st_dev == rd->dev))
		return;
	if ((rc = rd_open(rd, &env, &sb)) != 0) {
		log_debug("store: the compacted store cannot be opened yet "
		    "(%s); reading the one before", mdb_strerror(rc));
		return;
	}
	mdb_env_close(rd->env);
	rd->env = env;
	rd->ino = sb.st_ino;
	rd->dev = sb.st_dev;
	rd->gen++;
}

int
store_rd_begin(struct store_rd *rd, MDB_txn **txn)
{
	int rc;

	follow(rd);
	if ((rc = mdb_txn_begin(rd->env, NULL, MDB_RDONLY, txn)) == 0)
		rd->open_txns++;
	return rc;
}

void
store_rd_end(struct store_rd *rd, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	if (rd->open_txns > 0)
		rd->open_txns--;
}

unsigned
store_rd_generation(const struct store_rd *rd)
{
	return rd->gen;
}

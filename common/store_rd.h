/*
 * store_rd: the queue store (state_dir/db), read-only, as policyd opens
 * it (DESIGN.md: queued writes, policyd reads).
 *
 * queued compacts the store now and then (queued/queue_store.c): a new
 * data.mdb is renamed into place, with a new lock.mdb.  A reader that
 * has the old files open goes on reading the old snapshot, never
 * anything wrong, but never anything new either.  So store_rd_begin
 * compares the inode of db/data.mdb with the one it has open before each
 * read transaction (one stat) and, when they differ and none of its
 * transactions is open, opens the environment again.  The two files it
 * opens must belong together: the inode is checked again once open, and
 * a lock region whose last transaction is ahead of the data file's is
 * one from before a compaction; then it tries again at the next begin,
 * and reads the old snapshot meanwhile.  A reader cannot create
 * lock.mdb (db/ is queued's, 2750), so it never sets one up itself.
 *
 * Database handles belong to an environment: open them again when
 * store_rd_generation changes.
 */
#ifndef RELAYD_STORE_RD_H
#define RELAYD_STORE_RD_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

struct store_rd;

struct store_rd *store_rd_open(const char *dir, uint64_t mapsize, char *err,
	    size_t errsz);
void	 store_rd_close(struct store_rd *);
/* A read transaction on the newest store it can open: 0, or the error. */
int	 store_rd_begin(struct store_rd *, MDB_txn **);
void	 store_rd_end(struct store_rd *, MDB_txn *);
/* Counts the environments opened: a new one means new handles. */
unsigned store_rd_generation(const struct store_rd *);

#endif

/*
 * queue_policy: policyd's writes, as the writer thread applies them
 * inside its transaction (queue_store.c).  The rest of queued sees only
 * queued.h.
 */
#ifndef RELAYD_QUEUE_POLICY_H
#define RELAYD_QUEUE_POLICY_H

#include <lmdb.h>

#include "msg_policy.h"

struct task;

/* The policy databases, made if new. */
int	 policy_store_open(MDB_txn *, MDB_dbi dbi[PDB_MAX]);
/* A TASK_POLICY: 0, or the MDB code that fails the transaction. */
int	 policy_store_apply(MDB_txn *, const MDB_dbi dbi[PDB_MAX],
	    struct task *);
/* A TASK_PURGE step. */
int	 policy_store_purge(MDB_txn *, const MDB_dbi dbi[PDB_MAX],
	    struct task *);

#endif

/*
 * queue_stats: the per-tenant daily counters, as queued keeps them.
 *
 * One struct tday per tenant per (UTC, clock_now) day: the counters of
 * stats.h, committed and still to be written together.  Read them with
 * stats_each (for show stats, reports and the metrics child): every day
 * kept from "from" on, oldest first, tenant by tenant; "" is the relay's
 * own line (refusals with no tenant).
 */
#ifndef RELAYD_QUEUE_STATS_H
#define RELAYD_QUEUE_STATS_H

#include <stdint.h>

#include <lmdb.h>

#include "stats.h"

struct queued;
struct task;

struct tday {
	char		 tenant[TENANT_MAX + 1];
	int64_t		 day;			/* days since the epoch */
	uint64_t	 v[ST_MAX];
};

typedef void	 stats_fn(void *, const struct tday *);

/* Count n for a tenant today (a recipient's, a message's). */
void	 stats_count(struct queued *, const char *tenant, enum stat_counter,
	    uint64_t n);
/* Every tenant's days from day "from" on (0: all kept), oldest first. */
void	 stats_each(struct queued *, int64_t from, stats_fn *, void *);
int64_t	 stats_today(void);

/* The writer thread's side (queue_store.c). */
int	 stats_store_open(MDB_txn *, MDB_dbi *);
int	 stats_store_apply(MDB_txn *, MDB_dbi, struct task *);

#endif

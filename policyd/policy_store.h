/*
 * policy_store: the state policy decisions keep across restarts
 * (greylist triplets, auto-whitelisted clients, pregreet results, the
 * whitelist relayctl adds to), behind one small interface.
 *
 * The backend is the LMDB store (state_dir/db), read here with MDB_RDONLY
 * and written by queued, to which every write goes as a message
 * (msg_policy.h).  Until queued says a write is committed, it stays in an
 * overlay in memory that every read looks at first, so a retry a second
 * later already sees it.  With policy_store.backend redis (several
 * nodes, policy_redis.c) reads go to Redis while it has a primary, and
 * writes go there as well as to the local store, which answers whenever
 * Redis does not: pstore_get's callback may then run later, and a
 * request can be cancelled.
 *
 * Keys are at most PDB_KEY_MAX octets and name no address in clear (the
 * callers make them HMACs); values are at most PDB_VAL_MAX octets and
 * start with their expiry (msg_policy.h).  A value found expired is
 * reported as not found.
 */
#ifndef RELAYD_POLICY_STORE_H
#define RELAYD_POLICY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "imsg.h"
#include "msg_policy.h"

struct child;
struct conf;
struct pstore;
struct pstore_req;
struct pstore_vreq;

struct pstore_key {
	uint8_t		 db;		/* enum policy_db */
	uint8_t		 len;
	uint8_t		 key[PDB_KEY_MAX];
};

struct pstore_val {
	int		 found;
	size_t		 len;
	uint8_t		 val[PDB_VAL_MAX];
};

/* The values, in the order of the keys asked for. */
typedef void	 pstore_fn(void *arg, const struct pstore_val *, size_t n);

struct pstore	*pstore_new(struct child *);
void		 pstore_free(struct pstore *);
/* The first configuration: with policy_store.backend redis, connect. */
void		 pstore_configure(struct pstore *, struct child *,
		    const struct conf *);
/* The parent's M_RD_OPENED. */
void		 pstore_parent(struct pstore *, struct imsg *);

/*
 * Look up n keys (at most PSTORE_GET_MAX) at the time now.  fn runs once;
 * it may run before pstore_get returns, which then returns NULL; a
 * request still out is returned, for pstore_cancel.
 */
#define PSTORE_GET_MAX	4
struct pstore_req *pstore_get(struct pstore *, const struct pstore_key *,
	    size_t n, int64_t now, pstore_fn *, void *arg);
void		 pstore_cancel(struct pstore_req *);
/* The local store's value alone, now. */
void		 pstore_get_local(struct pstore *, const struct pstore_key *,
		    int64_t now, struct pstore_val *);

/*
 * Daily volumes across the nodes (Redis); without it, nothing here:
 * policy_rate.c counts this node's.  pstore_volume_get returns NULL
 * when fn will not run (no Redis now); fn gets ok 0 when Redis failed
 * to answer, with the last total it knew.
 */
typedef void	 pstore_vol_fn(void *arg, int ok, uint64_t messages,
		    uint64_t octets);
void		 pstore_volume_add(struct pstore *, const char *tenant,
		    int64_t now, uint64_t messages, uint64_t octets);
struct pstore_vreq *pstore_volume_get(struct pstore *, const char *tenant,
		    int64_t now, pstore_vol_fn *, void *arg);
void		 pstore_volume_cancel(struct pstore_vreq *);
void		 pstore_volume_known(struct pstore *, const char *tenant,
		    int64_t now, uint64_t *messages, uint64_t *octets);

/* Writes: seen by every later read, committed by queued in a moment. */
void		 pstore_put(struct pstore *, const struct pstore_key *,
		    const void *val, size_t len);
void		 pstore_del(struct pstore *, const struct pstore_key *);
void		 pstore_flush(struct pstore *, uint8_t db);
/* queued's M_PQ_DONE. */
void		 pstore_done(struct pstore *, struct imsg *);

/*
 * Walk a database from the key at (len 0: the start), at most budget
 * entries, expired ones included.  Returns 1 with the key to go on from
 * in at (PDB_KEY_MAX octets), 0 at the end, -1 when the store cannot be
 * read.  The overlay's writes are not in the walk.
 */
typedef void	 pstore_walk_fn(void *arg, const uint8_t *key, size_t klen,
		    const uint8_t *val, size_t vlen);
int		 pstore_walk(struct pstore *, uint8_t db, uint8_t *at,
		    size_t *atlen, size_t budget, pstore_walk_fn *, void *arg);

/* For `relayctl show status`: the backend, and writes not committed. */
void		 pstore_status(struct pstore *, char *, size_t);

/* The expiry every value starts with, and its encoding. */
int64_t		 pstore_expiry(const uint8_t *, size_t);
void		 pstore_put_expiry(uint8_t *, int64_t);

#endif

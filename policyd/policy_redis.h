/*
 * policy_redis: the Redis backend of the policy store (policy_store.h),
 * shared by several nodes.  policy_store.c asks it first while it has a
 * primary, and its local LMDB store otherwise, or when Redis fails to
 * answer a read: the local store holds this node's own writes too, so
 * the fallback defers more (a sender greylisted again), never less.
 *
 * Keys are "<prefix><db>:<hex>", the hex an HMAC of the store key under
 * the secret every node shares; values are the store's own (expiry
 * first), kept with a TTL until that expiry.  Daily volumes are hashes
 * "<prefix>vol:<hex>:<day>" (HINCRBY, two days' TTL); what is counted
 * while Redis is away is added back when it returns.
 */
#ifndef RELAYD_POLICY_REDIS_H
#define RELAYD_POLICY_REDIS_H

#include <stddef.h>
#include <stdint.h>

struct child;
struct conf;
struct imsg;
struct predis;
struct pstore_key;
struct pstore_val;

/* ok 0: no answer from Redis, the caller decides without it. */
typedef void	 predis_get_fn(void *arg, int ok, const struct pstore_val *,
		    size_t n);
typedef void	 predis_vol_fn(void *arg, int ok, uint64_t messages,
		    uint64_t octets);

struct predis	*predis_new(struct child *, const struct conf *);
void		 predis_free(struct predis *);
int		 predis_up(const struct predis *);
void		 predis_opened(struct predis *, struct imsg *);

/* -1: no primary now (nothing will be called). */
int		 predis_get(struct predis *, const struct pstore_key *,
		    size_t n, int64_t now, predis_get_fn *, void *arg);
void		 predis_put(struct predis *, const struct pstore_key *,
		    const void *, size_t, int64_t now);
void		 predis_del(struct predis *, const struct pstore_key *);
void		 predis_flush(struct predis *, uint8_t db);

/* Daily volumes, across the nodes. */
void		 predis_volume_add(struct predis *, const char *tenant,
		    int64_t now, uint64_t messages, uint64_t octets);
int		 predis_volume_get(struct predis *, const char *tenant,
		    int64_t now, predis_vol_fn *, void *arg);
/* The last total Redis gave, and what this node owes it since. */
void		 predis_volume_known(struct predis *, const char *tenant,
		    int64_t now, uint64_t *messages, uint64_t *octets);

void		 predis_status(struct predis *, char *, size_t);

#endif

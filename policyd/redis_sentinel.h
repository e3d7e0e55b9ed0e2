/*
 * redis_sentinel: finding the Redis primary, and following it.
 *
 * With sentinels: ask one (SENTINEL get-master-addr-by-name), connect to
 * the address it names if it is one of policy_store.redis.servers (the
 * parent connects to configured nodes only), AUTH, and confirm with ROLE
 * that it is the primary; a second connection to that sentinel follows
 * +switch-master.  Without: the servers in order, the first whose ROLE
 * says master.  A primary that is lost (closed, no answer, -READONLY:
 * the owner says so with rsent_lost) is looked for again, every
 * RSENT_RETRY_MS while none is found, each sentinel in turn.
 */
#ifndef RELAYD_REDIS_SENTINEL_H
#define RELAYD_REDIS_SENTINEL_H

#include <stddef.h>

struct child;
struct imsg;
struct rconn;
struct rsent;
struct store_conf;

#define RSENT_RETRY_MS	500

/* The primary, confirmed; or NULL: it is lost, a search has begun. */
typedef void	 rsent_fn(void *arg, struct rconn *primary);

struct rsent	*rsent_new(struct child *, const struct store_conf *,
		    rsent_fn *, void *arg);
void		 rsent_free(struct rsent *);
void		 rsent_start(struct rsent *);
/* The parent's M_RD_OPENED. */
void		 rsent_opened(struct rsent *, struct imsg *);
/* The primary misbehaved: drop it and search again. */
void		 rsent_lost(struct rsent *, const char *why);
/* "host:port" of the primary, or of the last one, or "". */
const char	*rsent_primary_name(const struct rsent *);
/* The last reason no primary could be found. */
const char	*rsent_why(const struct rsent *);

#endif

/*
 * redis_client: one Redis connection over a libevent bufferevent on a
 * socket the parent opened (policyd may open none).  Commands are made
 * by hiredis's redisFormatCommand and replies read by its redisReader,
 * with our own reply objects, so that every reply is bounded: a string
 * of at most RREPLY_STR_MAX octets, an array of at most RREPLY_ELEMS_MAX
 * elements, nested RREPLY_DEPTH_MAX deep, and at most RREPLY_BUF_MAX
 * octets waiting to be parsed.  Anything else, or no answer within the
 * timeout, or the connection closing, fails the connection: each
 * command still waiting is answered NULL, in order, then the owner
 * hears once that the connection is gone.
 */
#ifndef RELAYD_REDIS_CLIENT_H
#define RELAYD_REDIS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct rconn;

#define RREPLY_STR_MAX		4096
#define RREPLY_ELEMS_MAX	1024
#define RREPLY_DEPTH_MAX	3	/* ROLE: an array of arrays of arrays */
#define RREPLY_BUF_MAX		(256 * 1024)

struct rreply {
	int		  type;		/* REDIS_REPLY_* */
	long long	  integer;
	char		 *str;		/* NUL-terminated, len octets */
	size_t		  len;
	size_t		  n;
	struct rreply	**elem;
};

/* A command's reply; NULL: the connection failed before it came. */
typedef void	 rconn_reply_fn(void *arg, const struct rreply *);
/* A reply no command waits for (a subscription's message). */
typedef void	 rconn_push_fn(void *arg, const struct rreply *);
/* The connection is gone (why); the owner may rconn_free it now. */
typedef void	 rconn_gone_fn(void *arg, struct rconn *, const char *why);

struct rconn	*rconn_new(struct event_base *, int fd, const char *name,
		    uint32_t timeout, rconn_gone_fn *, void *arg);
void		 rconn_free(struct rconn *);
/* Queue a command (redisFormatCommand's format); -1: failed or closed. */
int		 rconn_cmd(struct rconn *, rconn_reply_fn *, void *arg,
		    const char *fmt, ...);
/* Replies nothing waits for go to fn (after SUBSCRIBE); else an error. */
void		 rconn_set_push(struct rconn *, rconn_push_fn *, void *arg);
/* Fail the connection, e.g. on -READONLY: the owner hears it is gone. */
void		 rconn_fail(struct rconn *, const char *why);
const char	*rconn_name(const struct rconn *);
/* The last round trip, in microseconds (0: none yet). */
uint64_t	 rconn_latency(const struct rconn *);

/* Is the reply the simple string s ("OK"), an error starting with s? */
int		 rreply_is_status(const struct rreply *, const char *);
int		 rreply_is_error(const struct rreply *, const char *);

#endif

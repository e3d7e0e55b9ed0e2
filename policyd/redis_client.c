/*
 * redis_client: one Redis connection (redis_client.h).
 *
 * hiredis 0.14's async API can neither adopt a socket nor bound what it
 * reads, so we use its two protocol pieces only: redisvFormatCommand to
 * write, redisReader with our object functions to read.  The reader
 * keeps what it cannot parse yet in its own buffer; we refuse to let
 * that grow past RREPLY_BUF_MAX (a "huge" bulk string is a broken
 * server), and our object functions refuse long strings, wide arrays
 * and deep nesting before allocating anything.  Replies are answered
 * in the order the commands went out; one timer, armed while a command
 * waits, bounds how long the server may take.
 */
#include <sys/queue.h>
#include <sys/time.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "redis_client.h"

#define RCONN_NAME_MAX	80
#define RCONN_PENDING_MAX 65536	/* commands without an answer */

struct rcmd {
	TAILQ_ENTRY(rcmd)	 entry;
	rconn_reply_fn		*fn;
	void			*arg;
	struct timeval		 sent;
};
TAILQ_HEAD(rcmd_list, rcmd);

struct rconn {
	struct bufferevent	*bev;
	struct event		*timer;
	redisReader		*rd;
	struct rcmd_list	 pending;
	size_t			 npending;
	uint32_t		 timeout;
	rconn_gone_fn		*gone;
	rconn_push_fn		*push;
	void			*arg, *push_arg;
	int			 failed;
	int			 busy;		/* in a callback */
	char			 why[128];	/* failed in a callback */
	uint64_t		 latency;	/* us */
	char			 name[RCONN_NAME_MAX];
};

/*
 * The reply objects: ours, bounded.  NULL makes the reader fail with
 * "out of memory", which fails the connection.
 */

static int
depth(const redisReadTask *task)
{
	int d = 0;

	for (; task->parent != NULL; task = task->parent)
		d++;
	return d;
}

static void *
attach(const redisReadTask *task, struct rreply *r)
{
	struct rreply *parent;

	if (task->parent != NULL) {
		parent = task->parent->obj;
		if (task->idx < 0 || (size_t)task->idx >= parent->n) {
			free(r->str);
			free(r);
			return NULL;
		}
		parent->elem[task->idx] = r;
	}
	return r;
}

static void *
mk_string(const redisReadTask *task, char *s, size_t len)
{
	struct rreply *r;

	if (len > RREPLY_STR_MAX || depth(task) > RREPLY_DEPTH_MAX ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->str = malloc(len + 1)) == NULL) {
		free(r);
		return NULL;
	}
	memcpy(r->str, s, len);
	r->str[len] = '\0';
	r->len = len;
	r->type = task->type;
	return attach(task, r);
}

static void *
mk_array(const redisReadTask *task, int n)
{
	struct rreply *r;

	/* A nil array ("*-1") comes as n == -1 in some versions: none. */
	if (n < 0 || n > RREPLY_ELEMS_MAX ||
	    depth(task) >= RREPLY_DEPTH_MAX ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if (n > 0 && (r->elem = calloc((size_t)n, sizeof(*r->elem))) ==
	    NULL) {
		free(r);
		return NULL;
	}
	r->n = (size_t)n;
	r->type = REDIS_REPLY_ARRAY;
	return attach(task, r);
}

static void *
mk_integer(const redisReadTask *task, long long v)
{
	struct rreply *r;

	if (depth(task) > RREPLY_DEPTH_MAX ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->type = REDIS_REPLY_INTEGER;
	r->integer = v;
	return attach(task, r);
}

static void *
mk_nil(const redisReadTask *task)
{
	struct rreply *r;

	if (depth(task) > RREPLY_DEPTH_MAX ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->type = REDIS_REPLY_NIL;
	return attach(task, r);
}

static void
rreply_free(void *p)
{
	struct rreply	*r = p;
	size_t		 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		rreply_free(r->elem[i]);
	free(r->elem);
	free(r->str);
	free(r);
}

static redisReplyObjectFunctions reply_fns = {
	mk_string, mk_array, mk_integer, mk_nil, rreply_free
};

int
rreply_is_status(const struct rreply *r, const char *s)
{
	return r != NULL && r->type == REDIS_REPLY_STATUS &&
	    strcmp(r->str, s) == 0;
}

int
rreply_is_error(const struct rreply *r, const char *s)
{
	return r != NULL && r->type == REDIS_REPLY_ERROR &&
	    strncmp(r->str, s, strlen(s)) == 0;
}

/*
 * The connection.
 */

static void
timer_arm(struct rconn *rc)
{
	struct timeval tv = { rc->timeout, 0 };

	if (TAILQ_EMPTY(&rc->pending))
		evtimer_del(rc->timer);
	else
		evtimer_add(rc->timer, &tv);
}

/* Every command waiting hears NULL; then the owner hears it is gone. */
static void
fail_now(struct rconn *rc, const char *why)
{
	struct rcmd	*c;
	char		 copy[sizeof(rc->why)];

	strlcpy(copy, why, sizeof(copy));
	rc->failed = 1;
	if (rc->bev != NULL)
		bufferevent_disable(rc->bev, EV_READ | EV_WRITE);
	evtimer_del(rc->timer);
	rc->busy++;
	while ((c = TAILQ_FIRST(&rc->pending)) != NULL) {
		TAILQ_REMOVE(&rc->pending, c, entry);
		rc->npending--;
		c->fn(c->arg, NULL);
		free(c);
	}
	rc->busy--;
	rc->gone(rc->arg, rc, copy);	/* may free rc */
}

void
rconn_fail(struct rconn *rc, const char *why)
{
	if (rc->failed)
		return;
	if (rc->busy) {
		/* In a callback of ours: once it returns. */
		if (rc->why[0] == '\0')
			strlcpy(rc->why, why, sizeof(rc->why));
		return;
	}
	fail_now(rc, why);
}

static uint64_t
since_us(const struct timeval *t)
{
	struct timeval now, d;

	gettimeofday(&now, NULL);
	timersub(&now, t, &d);
	if (d.tv_sec < 0)
		return 0;
	return (uint64_t)d.tv_sec * 1000000 + (uint64_t)d.tv_usec;
}

/* One parsed reply: to the oldest command, or a pushed message. */
static void
dispatch(struct rconn *rc, struct rreply *r)
{
	struct rcmd *c;

	rc->busy++;
	if ((c = TAILQ_FIRST(&rc->pending)) != NULL) {
		TAILQ_REMOVE(&rc->pending, c, entry);
		rc->npending--;
		rc->latency = since_us(&c->sent);
		c->fn(c->arg, r);
		free(c);
	} else if (rc->push != NULL)
		rc->push(rc->push_arg, r);
	else if (rc->why[0] == '\0')
		strlcpy(rc->why, "a reply no command asked for",
		    sizeof(rc->why));
	rc->busy--;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct rconn	*rc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		 buf[16384];
	void		*reply;
	int		 n;

	while (!rc->failed && rc->why[0] == '\0' &&
	    (n = evbuffer_remove(in, buf, sizeof(buf))) > 0) {
		if (redisReaderFeed(rc->rd, buf, (size_t)n) != REDIS_OK) {
			rconn_fail(rc, "reading: out of memory");
			return;
		}
		for (;;) {
			reply = NULL;
			if (redisReaderGetReply(rc->rd, &reply) != REDIS_OK) {
				snprintf(rc->why, sizeof(rc->why), "a malformed "
				    "or oversized reply (%.80s)", rc->rd->err ==
				    REDIS_ERR_OOM ? "beyond our bounds" :
				    rc->rd->errstr);
				break;
			}
			if (reply == NULL)
				break;
			dispatch(rc, reply);
			rreply_free(reply);
			if (rc->failed || rc->why[0] != '\0')
				break;
		}
		if (rc->why[0] == '\0' && rc->rd->len - rc->rd->pos >
		    RREPLY_BUF_MAX)
			strlcpy(rc->why, "a reply longer than we read",
			    sizeof(rc->why));
	}
	if (rc->failed)
		return;
	if (rc->why[0] != '\0') {
		fail_now(rc, rc->why);
		return;
	}
	timer_arm(rc);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rconn *rc = arg;

	(void)bev;
	if (what & BEV_EVENT_EOF)
		rconn_fail(rc, "connection closed by the server");
	else if (what & BEV_EVENT_ERROR)
		rconn_fail(rc, "connection failed");
}

static void
rconn_timeout(int fd, short ev, void *arg)
{
	struct rconn	*rc = arg;
	char		 why[64];

	(void)fd;
	(void)ev;
	snprintf(why, sizeof(why), "no answer in %us", rc->timeout);
	rconn_fail(rc, why);
}

struct rconn *
rconn_new(struct event_base *base, int fd, const char *name,
    uint32_t timeout, rconn_gone_fn *gone, void *arg)
{
	struct rconn *rc;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		return NULL;
	TAILQ_INIT(&rc->pending);
	strlcpy(rc->name, name, sizeof(rc->name));
	rc->timeout = timeout;
	rc->gone = gone;
	rc->arg = arg;
	if ((rc->rd = redisReaderCreateWithFunctions(&reply_fns)) == NULL ||
	    (rc->timer = evtimer_new(base, rconn_timeout, rc)) == NULL ||
	    (rc->bev = bufferevent_socket_new(base, fd,
	    0)) == NULL) {
		if (rc->rd != NULL)
			redisReaderFree(rc->rd);
		if (rc->timer != NULL)
			event_free(rc->timer);
		free(rc);
		return NULL;
	}
	/* Ours bounds it: hiredis's own would only trim its buffer. */
	rc->rd->maxbuf = 0;
	bufferevent_setcb(rc->bev, on_read, NULL, on_event, rc);
	bufferevent_enable(rc->bev, EV_READ | EV_WRITE);
	return rc;
}

void
rconn_free(struct rconn *rc)
{
	struct rcmd	*c;
	int		 fd;

	if (rc == NULL)
		return;
	while ((c = TAILQ_FIRST(&rc->pending)) != NULL) {
		TAILQ_REMOVE(&rc->pending, c, entry);
		c->fn(c->arg, NULL);
		free(c);
	}
	fd = bufferevent_getfd(rc->bev);
	bufferevent_free(rc->bev);
	if (fd != -1)
		close(fd);
	event_free(rc->timer);
	redisReaderFree(rc->rd);
	free(rc);
}

int
rconn_cmd(struct rconn *rc, rconn_reply_fn *fn, void *arg, const char *fmt,
    ...)
{
	struct rcmd	*c;
	va_list		 ap;
	char		*cmd = NULL;
	int		 len;

	if (rc->failed || rc->why[0] != '\0' ||
	    rc->npending >= RCONN_PENDING_MAX)
		return -1;
	va_start(ap, fmt);
	len = redisvFormatCommand(&cmd, fmt, ap);
	va_end(ap);
	if (len < 0 || (c = calloc(1, sizeof(*c))) == NULL) {
		free(cmd);
		return -1;
	}
	if (bufferevent_write(rc->bev, cmd, (size_t)len) == -1) {
		free(cmd);
		free(c);
		return -1;
	}
	free(cmd);
	c->fn = fn;
	c->arg = arg;
	gettimeofday(&c->sent, NULL);
	TAILQ_INSERT_TAIL(&rc->pending, c, entry);
	rc->npending++;
	if (rc->npending == 1)
		timer_arm(rc);
	return 0;
}

void
rconn_set_push(struct rconn *rc, rconn_push_fn *fn, void *arg)
{
	rc->push = fn;
	rc->push_arg = arg;
}

const char *
rconn_name(const struct rconn *rc)
{
	return rc->name;
}

uint64_t
rconn_latency(const struct rconn *rc)
{
	return rc->latency;
}

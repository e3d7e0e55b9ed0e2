/*
 * redis_sentinel: the search for the Redis primary (redis_sentinel.h).
 *
 * One search at a time, one connection being opened at a time: each
 * step asks the parent for a node by number (M_RD_OPEN), and a step
 * that fails moves to the next sentinel or server and tries again after
 * RSENT_RETRY_MS.  A sentinel's answer is believed only as far as it
 * names one of our configured servers, which must then say it is the
 * primary itself.
 */
#include <sys/time.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_redis.h"
#include "redis_client.h"
#include "redis_sentinel.h"

enum open_kind {
	OPEN_NONE,
	OPEN_QUERY,		/* a sentinel, to ask */
	OPEN_SUB,		/* a sentinel, to follow */
	OPEN_SERVER		/* a data node, to confirm */
};

struct rsent {
	struct child		*child;
	const struct store_conf	*st;		/* the child's conf */
	rsent_fn		*fn;
	void			*arg;
	struct event		*retry;
	uint64_t		 req;		/* the open out */
	enum open_kind		 kind;
	size_t			 node;		/* its index in its list */
	size_t			 sent_i, serv_i;	/* next to try */
	struct rconn		*query, *sub, *cand, *primary;
	size_t			 sub_i;		/* whose +switch-master */
	int			 searching;
	char			 primary_name[HOST_MAX + 8];
	char			 why[256];
};

static void	step(struct rsent *);
static void	open_server(struct rsent *, size_t);

static void
node_name(const struct hostport *hp, char *buf, size_t sz)
{
	snprintf(buf, sz, strchr(hp->host, ':') != NULL ? "[%s]:%u" :
	    "%s:%u", hp->host, hp->port);
}

/* This step failed: the next node, a little later. */
static void
failed(struct rsent *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
failed(struct rsent *rs, const char *fmt, ...)
{
	struct timeval	tv = { 0, RSENT_RETRY_MS * 1000 };
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(rs->why, sizeof(rs->why), fmt, ap);
	va_end(ap);
	log_debug("policy store: %s", rs->why);
	if (rs->st->nsentinels > 0)
		rs->sent_i = (rs->sent_i + 1) % rs->st->nsentinels;
	else
		rs->serv_i = (rs->serv_i + 1) % rs->st->nservers;
	evtimer_add(rs->retry, &tv);
}

static void
ask_open(struct rsent *rs, enum open_kind kind, size_t node)
{
	struct mw	w;
	uint32_t	n = (uint32_t)node;

	if (kind == OPEN_SERVER)
		n += (uint32_t)rs->st->nsentinels;
	rs->req++;
	rs->kind = kind;
	rs->node = node;
	mw_init(&w);
	mw_u32(&w, n);
	child_send(rs->child, PROC_PARENT, M_RD_OPEN, rs->req, -1, w.buf,
	    w.len);
}

static void
retry_cb(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	step(arg);
}

/* The next thing to do in a search. */
static void
step(struct rsent *rs)
{
	if (rs->primary != NULL || rs->kind != OPEN_NONE)
		return;
	rs->searching = 1;
	if (rs->st->nsentinels > 0)
		ask_open(rs, OPEN_QUERY, rs->sent_i);
	else
		open_server(rs, rs->serv_i);
}

static void
open_server(struct rsent *rs, size_t i)
{
	ask_open(rs, OPEN_SERVER, i);
}

/*
 * Connections' ends.
 */

static void
query_gone(void *arg, struct rconn *rc, const char *why)
{
	struct rsent *rs = arg;

	rconn_free(rc);
	if (rs->query == rc) {
		rs->query = NULL;
		if (rs->kind == OPEN_NONE && rs->primary == NULL &&
		    !evtimer_pending(rs->retry, NULL))
			failed(rs, "sentinel %s: %s", "query", why);
	}
}

static void
sub_gone(void *arg, struct rconn *rc, const char *why)
{
	struct rsent *rs = arg;

	log_debug("policy store: sentinel subscription: %s", why);
	rconn_free(rc);
	if (rs->sub == rc)
		rs->sub = NULL;
}

static void
primary_gone(void *arg, struct rconn *rc, const char *why)
{
	struct rsent *rs = arg;

	rconn_free(rc);
	if (rs->cand == rc) {
		rs->cand = NULL;
		failed(rs, "redis %s: %s", rs->primary_name, why);
		return;
	}
	if (rs->primary != rc)
		return;
	rs->primary = NULL;
	snprintf(rs->why, sizeof(rs->why), "redis %.64s: %.180s",
	    rs->primary_name, why);
	rs->fn(rs->arg, NULL);
	step(rs);
}

/*
 * Replies.
 */

static void
on_role(void *arg, const struct rreply *r)
{
	struct rsent	*rs = arg;
	struct rconn	*rc = rs->cand;

	if (rc == NULL)
		return;
	if (r == NULL)
		return;		/* primary_gone follows */
	if (r->type != REDIS_REPLY_ARRAY || r->n < 1 || r->elem[0] == NULL ||
	    r->elem[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->elem[0]->str, "master") != 0) {
		rconn_fail(rc, r->type == REDIS_REPLY_ERROR ? r->str :
		    "ROLE does not say master");
		return;
	}
	rs->cand = NULL;
	rs->primary = rc;
	rs->searching = 0;
	rs->why[0] = '\0';
	/* With a primary, follow its sentinel's news. */
	if (rs->st->nsentinels > 0 && rs->sub == NULL &&
	    rs->kind == OPEN_NONE)
		ask_open(rs, OPEN_SUB, rs->sub_i);
	rs->fn(rs->arg, rc);
}

static void
on_auth(void *arg, const struct rreply *r)
{
	struct rsent *rs = arg;

	if (rs->cand == NULL || r == NULL)
		return;
	if (!rreply_is_status(r, "OK"))
		rconn_fail(rs->cand, r->type == REDIS_REPLY_ERROR ? r->str :
		    "AUTH refused");
}

static void
on_switch(void *arg, const struct rreply *r)
{
	struct rsent	*rs = arg;
	const char	*msg;
	char		 name[REDIS_NAME_MAX + 1], ip[HOST_MAX], host[HOST_MAX + 8];
	unsigned	 port;

	/* ["message", "+switch-master", "name old oport new nport"] */
	if (r->type != REDIS_REPLY_ARRAY || r->n != 3 ||
	    r->elem[0] == NULL || r->elem[0]->type != REDIS_REPLY_STRING ||
	    strcmp(r->elem[0]->str, "message") != 0 || r->elem[2] == NULL ||
	    r->elem[2]->type != REDIS_REPLY_STRING)
		return;
	msg = r->elem[2]->str;
	if (sscanf(msg, "%128s %*s %*s %45s %u", name, ip, &port) != 3 ||
	    strcmp(name, rs->st->master_name) != 0)
		return;
	snprintf(host, sizeof(host), strchr(ip, ':') ? "[%s]:%u" : "%s:%u",
	    ip, port);
	log_info("policy store: sentinel says the primary is now %s", host);
	if (rs->primary != NULL && strcmp(host, rs->primary_name) != 0)
		rsent_lost(rs, "the sentinels chose another primary");
}

static void
on_subscribed(void *arg, const struct rreply *r)
{
	struct rsent *rs = arg;

	if (r != NULL && r->type == REDIS_REPLY_ERROR && rs->sub != NULL)
		rconn_fail(rs->sub, r->str);
}

static void
on_master_addr(void *arg, const struct rreply *r)
{
	struct rsent		*rs = arg;
	const struct hostport	*hp;
	struct rconn		*q = rs->query;
	char			 name[HOST_MAX + 8];
	size_t			 i;
	long			 port;
	char			*end;

	if (q == NULL || r == NULL)
		return;
	/* Closed once this callback returns (query_gone frees it). */
	rs->query = NULL;
	rconn_fail(q, "answered");
	node_name(&rs->st->sentinels[rs->sent_i], name, sizeof(name));
	if (r->type != REDIS_REPLY_ARRAY || r->n != 2 || r->elem[0] == NULL ||
	    r->elem[1] == NULL || r->elem[0]->type != REDIS_REPLY_STRING ||
	    r->elem[1]->type != REDIS_REPLY_STRING) {
		failed(rs, "sentinel %s knows no primary %s", name,
		    rs->st->master_name);
		return;
	}
	port = strtol(r->elem[1]->str, &end, 10);
	for (i = 0; i < rs->st->nservers; i++) {
		hp = &rs->st->servers[i];
		if (*end == '\0' && port == hp->port &&
		    strcmp(r->elem[0]->str, hp->host) == 0)
			break;
	}
	if (i == rs->st->nservers) {
		failed(rs, "sentinel %s names primary %.64s:%.8s, which is not "
		    "in policy_store.redis.servers", name, r->elem[0]->str,
		    r->elem[1]->str);
		return;
	}
	/* Follow this sentinel's announcements, once we have a primary. */
	if (rs->sub == NULL)
		rs->sub_i = rs->sent_i;
	open_server(rs, i);
}

/* The parent's answer to M_RD_OPEN. */
void
rsent_opened(struct rsent *rs, struct imsg *imsg)
{
	const struct hostport	*hp;
	struct rconn		*rc;
	enum open_kind		 kind = rs->kind;
	struct mr		 r;
	char			 why[256], name[HOST_MAX + 8];
	uint8_t			 ok;
	int			 fd = imsg->fd;

	imsg->fd = -1;
	mr_init(&r, imsg->data, imsg->datalen);
	ok = mr_u8(&r);
	mr_str(&r, why, sizeof(why));
	if (mr_end(&r) == -1 || (ok && fd == -1) || (!ok && fd != -1)) {
		if (fd != -1)
			close(fd);
		child_peer_broken(rs->child, PROC_PARENT, imsg,
		    "malformed M_RD_OPENED");
	}
	if (imsg->hdr.peerid != rs->req || kind == OPEN_NONE) {
		if (fd != -1)
			close(fd);
		return;		/* an old request's */
	}
	rs->kind = OPEN_NONE;
	hp = kind == OPEN_SERVER ? &rs->st->servers[rs->node] :
	    &rs->st->sentinels[rs->node];
	node_name(hp, name, sizeof(name));
	if (!ok) {
		failed(rs, "%s %s", kind == OPEN_SERVER ? "redis" : "sentinel",
		    why);
		return;
	}
	rc = rconn_new(rs->child->base, fd, name, rs->st->timeout,
	    kind == OPEN_SERVER ? primary_gone : kind == OPEN_SUB ? sub_gone :
	    query_gone, rs);
	if (rc == NULL) {
		close(fd);
		failed(rs, "%s: out of memory", name);
		return;
	}
	switch (kind) {
	case OPEN_QUERY:
		rs->query = rc;
		if (rconn_cmd(rc, on_master_addr, rs,
		    "SENTINEL get-master-addr-by-name %s",
		    rs->st->master_name) == -1)
			rconn_fail(rc, "out of memory");
		break;
	case OPEN_SUB:
		rs->sub = rc;
		rconn_set_push(rc, on_switch, rs);
		if (rconn_cmd(rc, on_subscribed, rs, "SUBSCRIBE +switch-master")
		    == -1)
			rconn_fail(rc, "out of memory");
		break;
	case OPEN_SERVER:
		rs->cand = rc;
		strlcpy(rs->primary_name, name, sizeof(rs->primary_name));
		if ((rs->st->password[0] != '\0' && rconn_cmd(rc, on_auth, rs,
		    "AUTH %s", rs->st->password) == -1) ||
		    rconn_cmd(rc, on_role, rs, "ROLE") == -1)
			rconn_fail(rc, "out of memory");
		break;
	case OPEN_NONE:
		break;
	}
	/* A search that waited for this open goes on. */
	if (rs->primary == NULL && rs->cand == NULL && rs->query == NULL &&
	    rs->kind == OPEN_NONE && !evtimer_pending(rs->retry, NULL))
		step(rs);
}

static void
primary_found(void *arg, struct rconn *primary)
{
	(void)arg;
	(void)primary;
}

struct rsent *
rsent_new(struct child *c, const struct store_conf *st, rsent_fn *fn,
    void *arg)
{
	struct rsent *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (rs->retry = evtimer_new(c->base, retry_cb, rs)) == NULL)
		fatal("policy store: redis");
	rs->child = c;
	rs->st = st;
	rs->fn = fn != NULL ? fn : primary_found;
	rs->arg = arg;
	strlcpy(rs->why, "not connected yet", sizeof(rs->why));
	return rs;
}

void
rsent_start(struct rsent *rs)
{
	step(rs);
}

void
rsent_lost(struct rsent *rs, const char *why)
{
	if (rs->primary != NULL)
		rconn_fail(rs->primary, why);
}

void
rsent_free(struct rsent *rs)
{
	struct rconn *rc;

	if (rs == NULL)
		return;
	evtimer_del(rs->retry);
	/* Their ends must not start another search. */
	rs->fn = primary_found;
	while ((rc = rs->query) != NULL || (rc = rs->sub) != NULL ||
	    (rc = rs->cand) != NULL || (rc = rs->primary) != NULL) {
		if (rc == rs->query)
			rs->query = NULL;
		else if (rc == rs->sub)
			rs->sub = NULL;
		else if (rc == rs->cand)
			rs->cand = NULL;
		else
			rs->primary = NULL;
		rconn_free(rc);
	}
	event_free(rs->retry);
	free(rs);
}

const char *
rsent_primary_name(const struct rsent *rs)
{
	return rs->primary_name;
}

const char *
rsent_why(const struct rsent *rs)
{
	return rs->why;
}

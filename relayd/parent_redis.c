/*
 * parent_redis: the Redis connections policyd asks for, and what the
 * parent decides about the shared store once, at start.
 *
 * policyd may open no socket (its seccomp filter); it names a node by
 * its number in policy_store.redis (the sentinels, then the servers:
 * msg_redis.h), never by address, and the parent, which keeps root,
 * connects to that configured IP address and port only.  The connect is
 * non-blocking, bounded in time (policy_store.redis.timeout) and in
 * number; the socket goes to policyd, or the reason it could not be
 * opened.  Same shape as parent_milter.c on the milter branch.
 *
 * The store's configuration is fixed at start: a node's number means
 * the same address for the life of the process, and the keys' secret,
 * shared by every node, is derived from the password once.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chan.h"
#include "log.h"
#include "marshal.h"
#include "msg_redis.h"
#include "relayd.h"

#define CONNECTING_MAX	64

struct rconnect {
	TAILQ_ENTRY(rconnect)	 entry;
	struct kid		*k;
	uint64_t		 req;
	int			 fd;
	struct event		*ev;
	char			 name[HOST_MAX + 16];	/* host:port */
};
TAILQ_HEAD(rconnect_list, rconnect);

static struct rconnect_list	connecting =
    TAILQ_HEAD_INITIALIZER(connecting);
static size_t			nconnecting;

static void
redis_answer(struct kid *k, uint64_t req, int fd, const char *why)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, fd != -1);
	mw_str(&w, why);
	if (k->chan == NULL || chan_send(k->chan, M_RD_OPENED, req, fd,
	    w.buf, w.len) == -1) {
		if (fd != -1)
			close(fd);
	}
}

static void
rc_free(struct rconnect *rc)
{
	TAILQ_REMOVE(&connecting, rc, entry);
	nconnecting--;
	if (rc->ev != NULL)
		event_free(rc->ev);
	if (rc->fd != -1)
		close(rc->fd);
	free(rc);
}

static void
redis_connected(int fd, short ev, void *arg)
{
	struct rconnect	*rc = arg;
	socklen_t	 sl = sizeof(int);
	int		 err = 0;
	char		 why[512];

	if (ev & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err != 0) {
		snprintf(why, sizeof(why), "%s: %s", rc->name, strerror(err));
		redis_answer(rc->k, rc->req, -1, why);
	} else {
		redis_answer(rc->k, rc->req, rc->fd, "");
		rc->fd = -1;
	}
	rc_free(rc);
}

/* -1: policyd asked for a node the configuration does not have. */
int
redis_open(struct relayd *env, struct kid *k, uint64_t req, uint32_t node)
{
	const struct store_conf	*st = &env->conf->store;
	const struct hostport	*hp;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct rconnect		*rc;
	struct timeval		 tv = { st->timeout, 0 };
	char			 msg[512];
	int			 fd;

	if (st->backend != STORE_REDIS ||
	    node >= st->nsentinels + st->nservers)
		return -1;
	hp = node < st->nsentinels ? &st->sentinels[node] :
	    &st->servers[node - st->nsentinels];
	if (hostport_sockaddr(hp, &ss, &sl) == -1) {
		redis_answer(k, req, -1, "not an IP address");	/* checked at load */
		return 0;
	}
	if (nconnecting >= CONNECTING_MAX) {
		redis_answer(k, req, -1, "too many Redis connections being opened");
		return 0;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(msg, sizeof(msg), "socket: %s", strerror(errno));
		redis_answer(k, req, -1, msg);
		return 0;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		redis_answer(k, req, fd, "");
		return 0;
	}
	if (errno != EINPROGRESS) {
		snprintf(msg, sizeof(msg), "%s:%u: %s", hp->host, hp->port,
		    strerror(errno));
		close(fd);
		redis_answer(k, req, -1, msg);
		return 0;
	}
	if ((rc = calloc(1, sizeof(*rc))) == NULL ||
	    (rc->ev = event_new(env->base, fd, EV_WRITE, redis_connected,
	    rc)) == NULL) {
		free(rc);
		close(fd);
		redis_answer(k, req, -1, "out of memory");
		return 0;
	}
	rc->k = k;
	rc->req = req;
	rc->fd = fd;
	snprintf(rc->name, sizeof(rc->name), "%s:%u", hp->host, hp->port);
	TAILQ_INSERT_TAIL(&connecting, rc, entry);
	nconnecting++;
	event_add(rc->ev, &tv);
	return 0;
}

/* At stop: nothing more is answered. */
void
redis_cancel_all(void)
{
	while (!TAILQ_EMPTY(&connecting))
		rc_free(TAILQ_FIRST(&connecting));
}

/*
 * Every node must make the same keys, so with Redis the secret of the
 * keys' HMACs is not the node's own policy.secret but one derived from
 * what every node shares: the password (or, with none, the key prefix,
 * which hides nothing from whoever reads Redis anyway: relayd -n warns).
 * The local store, the fallback, then holds keys under it too.
 */
int
redis_store_secret(struct conf *conf)
{
	const struct store_conf	*st = &conf->store;
	const char		*k = st->password != NULL ? st->password :
				    st->key_prefix;
	static const char	 label[] = "relayd policy store keys";
	unsigned int		 len = 0;

	if (st->backend != STORE_REDIS)
		return 0;
	if (HMAC(EVP_sha256(), k, (int)strlen(k), (const uint8_t *)label,
	    sizeof(label) - 1, conf->policy_secret, &len) == NULL ||
	    len != sizeof(conf->policy_secret)) {
		log_warnx("policy store: the keys' secret could not be made");
		return -1;
	}
	conf->has_secret = 1;
	return 0;
}

static int
copy_nodes(struct hostport **dst, size_t *ndst, const struct hostport *src,
    size_t n)
{
	*dst = NULL;
	*ndst = 0;
	if (n == 0)
		return 0;
	if ((*dst = calloc(n, sizeof(*src))) == NULL)
		return -1;
	memcpy(*dst, src, n * sizeof(*src));
	*ndst = n;
	return 0;
}

static int
copy_str(char **dst, const char *src)
{
	*dst = NULL;
	return src != NULL && (*dst = strdup(src)) == NULL ? -1 : 0;
}

/* A reload keeps the store's configuration: it changes at restart only. */
int
redis_conf_keep(struct conf *conf, const struct conf *old)
{
	struct store_conf	*st = &conf->store;
	const struct store_conf	*o = &old->store;
	int			 same;

	same = st->backend == o->backend && st->nsentinels == o->nsentinels &&
	    st->nservers == o->nservers && (st->nservers == 0 ||
	    memcmp(st->servers, o->servers, st->nservers *
	    sizeof(*st->servers)) == 0) && (st->nsentinels == 0 ||
	    memcmp(st->sentinels, o->sentinels, st->nsentinels *
	    sizeof(*st->sentinels)) == 0) &&
	    strcmp(st->key_prefix, o->key_prefix) == 0 &&
	    st->timeout == o->timeout && (st->password == NULL) ==
	    (o->password == NULL) && (st->password == NULL ||
	    strcmp(st->password, o->password) == 0);
	if (!same)
		log_warnx("reload: policy_store changes only at restart; "
		    "keeping the one relayd started with");
	conf_store_free(st);
	st->backend = o->backend;
	st->tls = o->tls;
	st->timeout = o->timeout;
	st->line = o->line;
	st->password_line = o->password_line;
	memcpy(st->tenant_digest, o->tenant_digest, sizeof(st->tenant_digest));
	if (copy_nodes(&st->sentinels, &st->nsentinels, o->sentinels,
	    o->nsentinels) == -1 || copy_nodes(&st->servers, &st->nservers,
	    o->servers, o->nservers) == -1 ||
	    copy_str(&st->master_name, o->master_name) == -1 ||
	    copy_str(&st->password_file, o->password_file) == -1 ||
	    copy_str(&st->password, o->password) == -1 ||
	    copy_str(&st->key_prefix, o->key_prefix) == -1)
		return -1;
	return 0;
}

/*
 * milter_pool: connections to the milters, opened by the parent.
 *
 * policyd's seccomp filter allows no socket at all: it asks the parent
 * for a connection to endpoint N of the configuration (conf->milter_eps,
 * with the generation the number belongs to), and the parent connects
 * to that configured endpoint and passes the socket, or says why not.
 * A spare connection is kept per endpoint in use, so that the next
 * message does not wait for the parent; a spare the milter closes, or
 * that sits unused for SPARE_IDLE, is dropped.  After a failed connect
 * an endpoint is left alone for a second, doubling up to a minute: its
 * tenants' mail meets on_failure at once instead of waiting for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "clock.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "milter.h"
#include "msg_milter.h"

#define SPARE_IDLE	30	/* seconds a spare is kept */
#define BACKOFF_MAX	60
#define ASKED_MAX	64	/* requests out per endpoint */

struct spare {
	int			 fd;
	struct event		*ev;
	struct mep		*ep;
};

struct mep {
	TAILQ_ENTRY(mep)	 entry;
	char			 socket[MILTER_SOCKET_MAX];
	uint32_t		 index;		/* in the configuration */
	int			 gone;		/* not in it any more */
	struct spare		 spare;		/* fd -1: none */
	unsigned		 asked;		/* requests out */
	struct msess_list	 waiters;
	unsigned		 fails;
	time_t			 down_until;
	int			 stale;		/* ask again once configured */
	uint64_t		 opened;	/* for the status line */
};
TAILQ_HEAD(mep_list, mep);

struct mreq {
	TAILQ_ENTRY(mreq)	 entry;
	uint64_t		 id;
	uint32_t		 gen;		/* the number's configuration */
	struct mep		*ep;
};
TAILQ_HEAD(mreq_list, mreq);

struct mpool {
	struct child		*child;
	struct mep_list		 eps;
	struct mreq_list	 reqs;
	uint64_t		 next_req;
	uint32_t		 gen;
};

struct mpool *
mpool_new(struct child *c)
{
	struct mpool *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("milter pool");
	p->child = c;
	TAILQ_INIT(&p->eps);
	TAILQ_INIT(&p->reqs);
	return p;
}

static void
spare_drop(struct spare *s)
{
	if (s->fd == -1)
		return;
	event_free(s->ev);
	s->ev = NULL;
	close(s->fd);
	s->fd = -1;
}

/* A spare that became readable has been closed by the milter (or it
 * talks out of turn): either way it is no use. */
static void
on_spare(int fd, short ev, void *arg)
{
	struct spare *s = arg;

	(void)fd;
	(void)ev;
	spare_drop(s);
}

static void
spare_keep(struct mpool *p, struct mep *ep, int fd)
{
	struct timeval tv = { SPARE_IDLE, 0 };

	if (ep->spare.fd != -1 || ep->gone ||
	    (ep->spare.ev = event_new(p->child->base, fd, EV_READ,
	    on_spare, &ep->spare)) == NULL) {
		close(fd);
		return;
	}
	ep->spare.fd = fd;
	event_add(ep->spare.ev, &tv);
}

static void
ep_free(struct mpool *p, struct mep *ep)
{
	TAILQ_REMOVE(&p->eps, ep, entry);
	spare_drop(&ep->spare);
	free(ep);
}

static void
ask(struct mpool *p, struct mep *ep)
{
	struct mreq	*r;
	struct mw	 w;

	if (ep->asked >= ASKED_MAX || (r = calloc(1, sizeof(*r))) == NULL)
		return;
	r->id = ++p->next_req;
	r->gen = p->gen;
	r->ep = ep;
	TAILQ_INSERT_TAIL(&p->reqs, r, entry);
	ep->asked++;
	mw_init(&w);
	mw_u32(&w, p->gen);
	/* The debug build may ask for what is not configured (faults.h). */
	mw_u32(&w, ep->index + (fault_error("policyd-milter-endpoint") ?
	    1000 : 0));
	child_send(p->child, PROC_PARENT, M_MT_OPEN, r->id, -1, w.buf, w.len);
}

/* The endpoints of a new configuration: known ones keep their state. */
void
mpool_conf(struct mpool *p, const struct conf *conf, uint32_t gen)
{
	struct mep	*ep, *next;
	size_t		 i;

	p->gen = gen;
	TAILQ_FOREACH(ep, &p->eps, entry)
		ep->gone = 1;
	for (i = 0; i < conf->nmilter_eps; i++) {
		TAILQ_FOREACH(ep, &p->eps, entry)
			if (strcmp(ep->socket, conf->milter_eps[i]) == 0)
				break;
		if (ep == NULL) {
			if ((ep = calloc(1, sizeof(*ep))) == NULL)
				fatal("milter endpoint");
			strlcpy(ep->socket, conf->milter_eps[i],
			    sizeof(ep->socket));
			ep->spare.fd = -1;
			TAILQ_INIT(&ep->waiters);
			TAILQ_INSERT_TAIL(&p->eps, ep, entry);
		}
		ep->gone = 0;
		ep->index = (uint32_t)i;
		if (ep->stale && !TAILQ_EMPTY(&ep->waiters))
			ask(p, ep);
		ep->stale = 0;
	}
	TAILQ_FOREACH_SAFE(ep, &p->eps, entry, next) {
		if (!ep->gone)
			continue;
		spare_drop(&ep->spare);
		if (ep->asked == 0 && TAILQ_EMPTY(&ep->waiters))
			ep_free(p, ep);
	}
}

/* By socket, not number: a scan that began before a reload keeps the
 * milters it began with, whatever their numbers are now. */
static struct mep *
ep_find(struct mpool *p, const char *socket)
{
	struct mep *ep;

	TAILQ_FOREACH(ep, &p->eps, entry)
		if (!ep->gone && strcmp(ep->socket, socket) == 0)
			return ep;
	return NULL;
}

int
mpool_get(struct mpool *p, const char *socket, struct msess *ms, int *fd,
    char *why, size_t whysz)
{
	struct mep	*ep;
	time_t		 now = clock_now();

	if ((ep = ep_find(p, socket)) == NULL) {
		snprintf(why, whysz, "not in the configuration any more");
		return -1;
	}
	if (ep->down_until > now) {
		snprintf(why, whysz, "unreachable; next try in %llds",
		    (long long)(ep->down_until - now));
		return -1;
	}
	if (ep->spare.fd != -1) {
		*fd = ep->spare.fd;
		event_free(ep->spare.ev);
		ep->spare.ev = NULL;
		ep->spare.fd = -1;
		ask(p, ep);		/* the next message's */
		return 0;
	}
	msess_link(&ep->waiters, ms);
	ask(p, ep);
	return 1;
}

void
mpool_cancel(struct mpool *p, struct msess *ms)
{
	(void)p;
	msess_unlink(ms);
}

static void
ep_failed(struct mep *ep, const char *why)
{
	struct msess	*ms;
	unsigned	 back;
	char		 msg[300];

	ep->fails++;
	back = ep->fails > 6 ? BACKOFF_MAX : 1u << (ep->fails - 1);
	if (back > BACKOFF_MAX)
		back = BACKOFF_MAX;
	ep->down_until = clock_now() + back;
	log_warnx("milter %s: cannot connect: %s; not tried again for %us",
	    ep->socket, why, back);
	snprintf(msg, sizeof(msg), "cannot connect: %s", why);
	while ((ms = TAILQ_FIRST(&ep->waiters)) != NULL) {
		msess_unlink(ms);
		msess_unreachable(ms, msg);
	}
}

/* The parent's answer: a connected socket, or why there is none. */
void
mpool_opened(struct mpool *p, struct imsg *imsg)
{
	struct mreq	*r;
	struct mep	*ep;
	struct msess	*ms;
	struct mr	 m;
	char		 why[256];
	uint32_t	 gen;
	uint8_t		 ok;

	TAILQ_FOREACH(r, &p->reqs, entry)
		if (r->id == imsg->hdr.peerid)
			break;
	mr_init(&m, imsg->data, imsg->datalen);
	ok = mr_u8(&m);
	mr_str(&m, why, sizeof(why));
	if (r == NULL || mr_end(&m) == -1 || ok > MT_OPEN_STALE ||
	    (ok == MT_OPEN_OK && imsg->fd == -1 && !imsg_fd_lost(imsg)) ||
	    (ok != MT_OPEN_OK && imsg_has_fd(imsg)))
		child_peer_broken(p->child, PROC_PARENT, imsg,
		    "a milter connection nobody asked for");
	ep = r->ep;
	gen = r->gen;
	TAILQ_REMOVE(&p->reqs, r, entry);
	free(r);
	ep->asked--;
	if (ok == MT_OPEN_STALE) {
		/*
		 * A reload crossed the request: no failure of the milter's.
		 * Asked again under the new configuration, now if it is
		 * here, else when it comes (mpool_conf).
		 */
		if (!ep->gone && !TAILQ_EMPTY(&ep->waiters)) {
			if (gen != p->gen)
				ask(p, ep);
			else
				ep->stale = 1;
		}
	} else if (ok == MT_OPEN_FAIL || imsg->fd == -1) {
		if (ok == MT_OPEN_OK)
			strlcpy(why, "the socket was lost in transit (out "
			    "of descriptors)", sizeof(why));
		ep_failed(ep, why);
	} else {
		ep->fails = 0;
		ep->down_until = 0;
		ep->opened++;
		if ((ms = TAILQ_FIRST(&ep->waiters)) != NULL) {
			msess_unlink(ms);
			if (ep->spare.fd == -1 && ep->asked == 0)
				ask(p, ep);
			msess_connected(ms, imsg->fd);
		} else
			spare_keep(p, ep, imsg->fd);
		imsg->fd = -1;
	}
	if (ep->gone && ep->asked == 0 && TAILQ_EMPTY(&ep->waiters))
		ep_free(p, ep);
}

void
mpool_status(struct mpool *p, char *buf, size_t sz)
{
	struct mep	*ep;
	size_t		 n = 0, down = 0;
	time_t		 now = clock_now();

	TAILQ_FOREACH(ep, &p->eps, entry) {
		n++;
		if (ep->down_until > now)
			down++;
	}
	snprintf(buf, sz, "milters %zu (%zu unreachable)", n, down);
}

void
mpool_free(struct mpool *p)
{
	struct mep	*ep;
	struct mreq	*r;

	if (p == NULL)
		return;
	while ((r = TAILQ_FIRST(&p->reqs)) != NULL) {
		TAILQ_REMOVE(&p->reqs, r, entry);
		free(r);
	}
	while ((ep = TAILQ_FIRST(&p->eps)) != NULL)
		ep_free(p, ep);
	free(p);
}

/*
 * mta_callout: recipient callouts for policyd (msg_callout.h), and what
 * deliveries to a tenant's servers tell it.
 *
 *   connect -> 220 -> EHLO (HELO if refused) -> MAIL FROM:<>
 *   -> RCPT TO:<address> -> [answer policyd] -> RSET -> QUIT
 *
 * The tenant's inbound.deliver_to hosts are tried in order, as deliveries
 * try them: a host that cannot be reached, greets with anything but 220,
 * refuses EHLO and HELO or goes away before MAIL is answered gives its
 * turn to the next.  Once a host has answered MAIL, its word is the
 * answer: a refused MAIL FROM:<> or a 4xx to RCPT fails the callout, it
 * does not go on to a host that might say otherwise.  DATA is never sent.
 *
 * At most CALLOUT_PER_SERVER callouts talk to one server at once; more
 * wait their turn, within their deadline.  The deadline is policyd's
 * (well under timeouts.policy), shared by the hosts still to be tried;
 * when it passes the callout has failed, and whatever connection it held
 * is dropped.
 *
 * BUGS: callouts are made in plain text, without STARTTLS; only the first
 * address of a host named by name is tried.
 */
#include <sys/socket.h>
#include <sys/tree.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "deliverd.h"
#include "dns_client.h"
#include "log.h"
#include "marshal.h"
#include "msg_callout.h"
#include "mta_read.h"
#include "mta_reply.h"

#define CALLOUT_PER_SERVER	4	/* at once, to one host:port */
#define CALLOUTS_MAX		4096	/* in deliverd at once */
#define CALLOUT_DEADLINE_MAX	60000	/* ms: what policyd may ask */
#define CALLOUT_BYE		2	/* seconds for RSET and QUIT */

enum co_state {
	CO_WAIT,		/* for a turn at the server */
	CO_RESOLVE,
	CO_CONNECT,
	CO_GREETING,
	CO_EHLO,
	CO_HELO,
	CO_MAIL,
	CO_RCPT,
	CO_RSET,		/* answered: politely away */
	CO_QUIT
};

/* One server of a tenant (host:port) and the callouts talking to it. */
struct co_server {
	RB_ENTRY(co_server)	 entry;
	char			 key[HOST_MAX + 8];
	unsigned		 active;
	TAILQ_HEAD(, callout)	 waiting;
};
RB_HEAD(co_server_tree, co_server);
int	 co_server_cmp(struct co_server *, struct co_server *);
RB_PROTOTYPE(co_server_tree, co_server, entry, co_server_cmp)

struct callout {
	TAILQ_ENTRY(callout)	 entry;		/* server's waiting list */
	RB_ENTRY(callout)	 id_entry;
	struct callouts		*cs;
	uint64_t		 id;		/* policyd's */
	char			 tenant[TENANT_MAX + 1];
	char			 addr[CALLOUT_ADDR_MAX];
	struct hostport		 hosts[ROUTE_HOSTS_MAX];
	size_t			 nhosts;
	size_t			 host;		/* the one tried now */
	struct co_server	*srv;		/* holding or waiting for */
	int			 holding;	/* a turn at srv */
	enum co_state		 state;
	struct netaddr		 addr_to;
	uint64_t		 dns_id;
	struct bufferevent	*bev;
	struct event		*deadline;
	struct timeval		 end;		/* the deadline */
	uint32_t		 deadline_ms;
	struct mta_reply	 reply;
	int			 answered;	/* policyd has its answer */
	char			 relay[HOST_MAX + ADDRSTR_MAX + 8];
	char			 why[320];	/* the last host's failure */
	int			 in_cb;
	int			 dead;
};
RB_HEAD(callout_tree, callout);
int	 callout_cmp(struct callout *, struct callout *);
RB_PROTOTYPE(callout_tree, callout, id_entry, callout_cmp)

/* Tenants' servers as the last deliveries found them. */
struct route_seen {
	RB_ENTRY(route_seen)	 entry;
	char			 tenant[TENANT_MAX + 1];
	int			 up;
};
RB_HEAD(route_seen_tree, route_seen);
int	 route_seen_cmp(struct route_seen *, struct route_seen *);
RB_PROTOTYPE(route_seen_tree, route_seen, entry, route_seen_cmp)

struct callouts {
	struct deliverd		*d;
	struct co_server_tree	 servers;
	struct callout_tree	 byid;
	size_t			 n;
	struct route_seen_tree	 routes;
	uint64_t		 made;		/* for status */
};

int
co_server_cmp(struct co_server *a, struct co_server *b)
{
	return strcmp(a->key, b->key);
}

int
callout_cmp(struct callout *a, struct callout *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

int
route_seen_cmp(struct route_seen *a, struct route_seen *b)
{
	return strcmp(a->tenant, b->tenant);
}

RB_GENERATE(co_server_tree, co_server, entry, co_server_cmp)
RB_GENERATE(callout_tree, callout, id_entry, callout_cmp)
RB_GENERATE(route_seen_tree, route_seen, entry, route_seen_cmp)

static void	co_try_host(struct callout *);
static void	co_read(struct bufferevent *, void *);
static void	co_event(struct bufferevent *, short, void *);
static void	co_lost(struct callout *, const char *);

void
callouts_init(struct deliverd *d)
{
	if ((d->callouts = calloc(1, sizeof(*d->callouts))) == NULL)
		fatal("callouts");
	d->callouts->d = d;
	RB_INIT(&d->callouts->servers);
	RB_INIT(&d->callouts->byid);
	RB_INIT(&d->callouts->routes);
}

size_t
callouts_running(const struct deliverd *d)
{
	return d->callouts != NULL ? d->callouts->n : 0;
}

static void
co_send_answer(struct callout *co, enum callout_class cls,
    const struct mta_reply *r, const char *why)
{
	struct deliverd	*d = co->cs->d;
	struct mw	 w;

	if (co->answered)
		return;
	co->answered = 1;
	mw_init(&w);
	mw_u8(&w, (uint8_t)cls);
	mw_u32(&w, r != NULL ? (uint32_t)r->code : 0);
	mw_str(&w, r != NULL ? r->enh : "");
	mw_str(&w, why);
	mw_str(&w, co->relay);
	child_send(d->child, PROC_POLICYD, M_C_ANSWER, co->id, -1, w.buf,
	    w.len);
	log_debug("callout tenant=%s to=<%s> relay=%s: %s",
	    co->tenant, co->addr, co->relay[0] ? co->relay : "none",
	    why);
}

/* The server's turn goes to the next callout waiting for it. */
static void
co_release(struct callout *co)
{
	struct co_server	*srv = co->srv;
	struct callout		*next;

	co->srv = NULL;
	if (srv == NULL)
		return;
	if (!co->holding) {
		TAILQ_REMOVE(&srv->waiting, co, entry);
		goto gc;
	}
	co->holding = 0;
	srv->active--;
	if ((next = TAILQ_FIRST(&srv->waiting)) != NULL) {
		TAILQ_REMOVE(&srv->waiting, next, entry);
		next->holding = 1;
		srv->active++;
		co_try_host(next);
		return;
	}
gc:
	if (srv->active == 0 && TAILQ_EMPTY(&srv->waiting)) {
		RB_REMOVE(co_server_tree, &co->cs->servers, srv);
		free(srv);
	}
}

static void
co_close(struct callout *co)
{
	if (co->dns_id != 0)
		dns_cancel(co->cs->d->dns, co->dns_id);
	co->dns_id = 0;
	if (co->bev != NULL)
		bufferevent_free(co->bev);
	co->bev = NULL;
}

static void
co_free(struct callout *co)
{
	struct callouts *cs = co->cs;

	co_close(co);
	co_release(co);
	if (co->deadline != NULL)
		event_free(co->deadline);
	co->deadline = NULL;
	RB_REMOVE(callout_tree, &cs->byid, co);
	cs->n--;
	if (co->in_cb > 0)
		co->dead = 1;
	else
		free(co);
}

/* The answer is given: nothing more to learn from this callout. */
static void
co_finish(struct callout *co, enum callout_class cls,
    const struct mta_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
co_finish(struct callout *co, enum callout_class cls,
    const struct mta_reply *r, const char *fmt, ...)
{
	char	why[sizeof(co->why)];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	co_send_answer(co, cls, r, why);
	co_free(co);
}

static void
co_send(struct callout *co, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
co_send(struct callout *co, const char *fmt, ...)
{
	va_list	ap;

	/* Checked when the callout came: a line break here is a bug. */
	va_start(ap, fmt);
	smtp_cmd_vwrite(bufferevent_get_output(co->bev), "callout: ", fmt,
	    ap);
	va_end(ap);
}

/* Milliseconds left before the deadline (at least 1). */
static long
co_left_ms(const struct callout *co)
{
	struct timeval now, left;

	event_base_gettimeofday_cached(co->cs->d->child->base, &now);
	if (!timercmp(&now, &co->end, <))
		return 1;
	timersub(&co->end, &now, &left);
	return left.tv_sec * 1000 + left.tv_usec / 1000 + 1;
}

/* A host's share of what is left: the rest wait their turn after it. */
static void
co_set_timeout(struct callout *co)
{
	long		ms = co_left_ms(co) / (long)(co->nhosts - co->host);
	struct timeval	tv;

	if (ms < 1)
		ms = 1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	bufferevent_set_timeouts(co->bev, &tv, &tv);
}

/* This host is no good: the next one, or the callout has failed. */
static void
co_next_host(struct callout *co, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
co_next_host(struct callout *co, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(co->why, sizeof(co->why), fmt, ap);
	va_end(ap);
	co_close(co);
	co_release(co);
	co->host++;
	if (co->host >= co->nhosts) {
		co_finish(co, CALLOUT_FAILED, NULL, "no server answered: %s",
		    co->why);
		return;
	}
	co_try_host(co);
}

static void
co_connect(struct callout *co)
{
	struct sockaddr_storage	ss;
	socklen_t		sl;
	char			a[64];
	int			on = 1;

	netaddr_format(&co->addr_to, a, sizeof(a));
	snprintf(co->relay, sizeof(co->relay), "%s[%s]:%u",
	    co->hosts[co->host].host, a, co->addr_to.port);
	co->state = CO_CONNECT;
	mta_reply_init(&co->reply);
	netaddr_to_sockaddr(&co->addr_to, &ss, &sl);
	if ((co->bev = bufferevent_socket_new(co->cs->d->child->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("callout: bufferevent_socket_new");
	bufferevent_setcb(co->bev, co_read, NULL, co_event, co);
	co_set_timeout(co);
	if (bufferevent_socket_connect(co->bev, (struct sockaddr *)&ss,
	    (int)sl) == -1) {
		co_next_host(co, "connect to %s: %s", co->relay,
		    strerror(errno));
		return;
	}
	setsockopt(bufferevent_getfd(co->bev), IPPROTO_TCP, TCP_NODELAY, &on,
	    sizeof(on));
}

static void
co_on_addr(void *arg, const struct dns_answer *a)
{
	struct callout	*co = arg;
	const char	*host = co->hosts[co->host].host;

	co->dns_id = 0;
	if (a->rcode != DNS_R_OK || a->nrr == 0) {
		co_next_host(co, "cannot look up %s: %s", host,
		    a->rcode == DNS_R_TEMPFAIL ? "temporary failure" :
		    "no address");
		return;
	}
	memset(&co->addr_to, 0, sizeof(co->addr_to));
	co->addr_to.af = AF_INET;
	memcpy(co->addr_to.addr, a->rr[0].addr, 4);
	co->addr_to.port = co->hosts[co->host].port;
	co_connect(co);
}

/* A turn at the server is ours: find its address and connect. */
static void
co_start_host(struct callout *co)
{
	const struct hostport *hp = &co->hosts[co->host];

	co->relay[0] = '\0';
	if (netaddr_parse(hp->host, &co->addr_to) == 0) {
		co->addr_to.port = hp->port;
		co_connect(co);
		return;
	}
	co->state = CO_RESOLVE;
	co->dns_id = dns_lookup(co->cs->d->dns, DNS_T_A, hp->host, co_on_addr,
	    co);
}

/* Wait for a turn at this host's server, or take it now. */
static void
co_try_host(struct callout *co)
{
	struct callouts		*cs = co->cs;
	const struct hostport	*hp = &co->hosts[co->host];
	struct co_server	 find, *srv;

	if (co->holding) {		/* handed over by co_release */
		co_start_host(co);
		return;
	}
	snprintf(find.key, sizeof(find.key), "%s:%u", hp->host, hp->port);
	if ((srv = RB_FIND(co_server_tree, &cs->servers, &find)) == NULL) {
		if ((srv = calloc(1, sizeof(*srv))) == NULL) {
			co_finish(co, CALLOUT_FAILED, NULL, "out of memory");
			return;
		}
		strlcpy(srv->key, find.key, sizeof(srv->key));
		TAILQ_INIT(&srv->waiting);
		RB_INSERT(co_server_tree, &cs->servers, srv);
	}
	co->srv = srv;
	if (srv->active >= CALLOUT_PER_SERVER) {
		co->state = CO_WAIT;
		TAILQ_INSERT_TAIL(&srv->waiting, co, entry);
		return;
	}
	co->holding = 1;
	srv->active++;
	co_start_host(co);
}

static void
co_deadline(int fd, short ev, void *arg)
{
	struct callout *co = arg;

	(void)fd;
	(void)ev;
	co_finish(co, CALLOUT_FAILED, NULL, "no answer within %ums%s%s",
	    co->deadline_ms, co->state == CO_WAIT ?
	    ": waited for a turn at " : co->relay[0] ? ": " : "",
	    co->state == CO_WAIT ? co->hosts[co->host].host : co->relay);
}

/* What the answer to RCPT says about the user. */
static enum callout_class
rcpt_class(const struct mta_reply *r)
{
	if (r->code == 250 || r->code == 251)
		return CALLOUT_ACCEPT;
	if (r->code >= 500 && (r->enh[0] == '\0' ||
	    strncmp(r->enh, "5.1.", 4) == 0))
		return CALLOUT_UNKNOWN;
	return CALLOUT_FAILED;
}

/* The answer is sent; leave without keeping the server waiting. */
static void
co_goodbye(struct callout *co)
{
	struct timeval tv = { CALLOUT_BYE, 0 };

	co->state = CO_RSET;
	co_send(co, "RSET");
	bufferevent_set_timeouts(co->bev, &tv, &tv);
	if (co->deadline != NULL)
		evtimer_del(co->deadline);
}

static void
co_reply(struct callout *co, const struct mta_reply *r)
{
	char			 rep[REPLY_TEXT_MAX + 8];
	enum callout_class	 cls;

	mta_reply_format(r, rep, sizeof(rep));
	switch (co->state) {
	case CO_GREETING:
		if (r->code != 220) {
			co_send(co, "QUIT");
			co_next_host(co, "%s greeted with %s", co->relay, rep);
			return;
		}
		co->state = CO_EHLO;
		co_send(co, "EHLO %s", co->cs->d->conf->hostname);
		return;
	case CO_EHLO:
		if (r->code >= 500) {
			co->state = CO_HELO;
			co_send(co, "HELO %s", co->cs->d->conf->hostname);
			return;
		}
		/* FALLTHROUGH */
	case CO_HELO:
		if (r->code >= 300) {
			co_send(co, "QUIT");
			co_next_host(co, "%s refused %s: %s", co->relay,
			    co->state == CO_EHLO ? "EHLO" : "HELO", rep);
			return;
		}
		co->state = CO_MAIL;
		co_send(co, "MAIL FROM:<>");
		return;
	case CO_MAIL:
		if (r->code >= 300) {
			co_finish(co, CALLOUT_FAILED, r, "%s refused MAIL "
			    "FROM:<>: %s", co->relay, rep);
			return;
		}
		co->state = CO_RCPT;
		co_send(co, "RCPT TO:<%s>", co->addr);
		return;
	case CO_RCPT:
		cls = rcpt_class(r);
		co_send_answer(co, cls, r, rep);
		co_goodbye(co);
		return;
	case CO_RSET:
		co->state = CO_QUIT;
		co_send(co, "QUIT");
		return;
	case CO_QUIT:
		co_free(co);
		return;
	case CO_WAIT:
	case CO_RESOLVE:
	case CO_CONNECT:
		break;
	}
	co_lost(co, "unexpected reply");
}

/*
 * The connection went away, timed out or broke the protocol.  Before MAIL
 * is answered the next host may do better; after, the callout failed.
 */
static void
co_lost(struct callout *co, const char *why)
{
	switch (co->state) {
	case CO_CONNECT:
		co_next_host(co, "connect to %s: %s", co->relay, why);
		return;
	case CO_GREETING:
	case CO_EHLO:
	case CO_HELO:
	case CO_MAIL:
		co_next_host(co, "%s: %s", co->relay, why);
		return;
	case CO_RCPT:
		co_finish(co, CALLOUT_FAILED, NULL, "%s: %s", co->relay, why);
		return;
	default:
		/* Answered already, or never connected. */
		co_free(co);
		return;
	}
}

static void
co_read(struct bufferevent *bev, void *arg)
{
	struct callout		*co = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct mta_reply	 r;
	int			 rv, bad = 0;

	co->in_cb++;
	while (!co->dead && co->bev == bev) {
		if ((rv = mta_reply_read(in, &co->reply)) == MR_BAD)
			bad = 1;
		if (rv == MR_BAD || rv == MR_MORE)
			break;
		if (rv == MR_LINE)
			continue;
		r = co->reply;
		mta_reply_init(&co->reply);
		co_reply(co, &r);
	}
	if (bad && !co->dead && co->bev == bev)
		co_lost(co, "malformed reply");
	if (--co->in_cb == 0 && co->dead)
		free(co);
}

static void
co_event(struct bufferevent *bev, short what, void *arg)
{
	struct callout	*co = arg;
	char		 why[128];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		co->state = CO_GREETING;
		bufferevent_enable(co->bev, EV_READ | EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		strlcpy(why, "timed out", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		strlcpy(why, "connection closed", sizeof(why));
	else
		snprintf(why, sizeof(why), "%s",
		    strerror(EVUTIL_SOCKET_ERROR()));
	co_lost(co, why);
}

/* Can this go into an SMTP command?  No control, no space, no brackets. */
static int
callout_addr_ok(const char *s)
{
	const char *at = strrchr(s, '@');

	if (at == NULL || at == s || at[1] == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '<' ||
		    *s == '>')
			return 0;
	return 1;
}

/* policyd asks: one callout, answered once, whatever happens. */
static void
on_callout(struct deliverd *d, struct imsg *imsg)
{
	struct callouts			*cs = d->callouts;
	const struct tenant_conf	*t;
	struct callout			*co;
	struct mr			 r;
	struct timeval			 tv, now;
	uint32_t			 ms;

	if ((co = calloc(1, sizeof(*co))) == NULL)
		fatal("callout");
	co->cs = cs;
	co->id = imsg->hdr.peerid;
	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, co->tenant, sizeof(co->tenant));
	mr_str(&r, co->addr, sizeof(co->addr));
	ms = mr_u32(&r);
	if (mr_end(&r) != 0 || ms == 0 || ms > CALLOUT_DEADLINE_MAX ||
	    RB_FIND(callout_tree, &cs->byid, co) != NULL) {
		free(co);
		child_peer_broken(d->child, PROC_POLICYD, imsg,
		    "malformed M_C_CALLOUT");
	}
	RB_INSERT(callout_tree, &cs->byid, co);
	cs->n++;
	cs->made++;
	co->deadline_ms = ms;
	if (!callout_addr_ok(co->addr)) {
		co_finish(co, CALLOUT_FAILED, NULL, "not an address that can "
		    "be asked about");
		return;
	}
	if ((t = conf_tenant_by_name(d->conf, co->tenant)) == NULL ||
	    t->ndeliver_to == 0) {
		co_finish(co, CALLOUT_FAILED, NULL, "no such tenant (a "
		    "reload?)");
		return;
	}
	if (cs->n > CALLOUTS_MAX) {
		co_finish(co, CALLOUT_FAILED, NULL, "too many callouts at "
		    "once");
		return;
	}
	co->nhosts = t->ndeliver_to < ROUTE_HOSTS_MAX ? t->ndeliver_to :
	    ROUTE_HOSTS_MAX;
	memcpy(co->hosts, t->deliver_to, co->nhosts * sizeof(co->hosts[0]));
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_base_gettimeofday_cached(d->child->base, &now);
	timeradd(&now, &tv, &co->end);
	if ((co->deadline = evtimer_new(d->child->base, co_deadline, co)) ==
	    NULL || evtimer_add(co->deadline, &tv) == -1)
		fatalx("callout timer");
	co_try_host(co);
}

void
callout_dispatch(struct deliverd *d, struct imsg *imsg)
{
	if (imsg->fd != -1)
		child_peer_broken(d->child, PROC_POLICYD, imsg, "descriptor");
	if (d->conf == NULL)
		child_peer_broken(d->child, PROC_POLICYD, imsg,
		    "before configuration");
	if (imsg->hdr.type != M_C_CALLOUT)
		child_peer_broken(d->child, PROC_POLICYD, imsg,
		    "unexpected message");
	on_callout(d, imsg);
}

/* Does policyd keep what this tenant's servers accept? */
static int
learns(const struct deliverd *d, const char *tenant)
{
	const struct tenant_conf *t;

	t = d->conf != NULL ? conf_tenant_by_name(d->conf, tenant) : NULL;
	return t != NULL && (t->verify == VERIFY_CALLOUT ||
	    t->verify == VERIFY_LEARN);
}

/* A delivery's RCPT was accepted by the tenant's server: a real user. */
void
callout_learned(struct deliverd *d, const char *tenant, const char *addr)
{
	struct mw w;

	if (!learns(d, tenant))
		return;
	mw_init(&w);
	mw_str(&w, tenant);
	mw_str(&w, addr);
	if (!w.err)
		child_send(d->child, PROC_POLICYD, M_C_LEARNED, 0, -1, w.buf,
		    w.len);
}

/* A delivery to a tenant's servers ended: tell policyd of a change. */
void
callout_route_state(struct deliverd *d, const char *tenant, int up)
{
	struct callouts		*cs = d->callouts;
	struct route_seen	 find, *rs;
	struct mw		 w;

	if (!learns(d, tenant) || strlcpy(find.tenant, tenant,
	    sizeof(find.tenant)) >= sizeof(find.tenant))
		return;
	if ((rs = RB_FIND(route_seen_tree, &cs->routes, &find)) == NULL) {
		if ((rs = calloc(1, sizeof(*rs))) == NULL)
			return;
		strlcpy(rs->tenant, tenant, sizeof(rs->tenant));
		rs->up = -1;
		RB_INSERT(route_seen_tree, &cs->routes, rs);
	}
	if (rs->up == up)
		return;
	rs->up = up;
	mw_init(&w);
	mw_str(&w, tenant);
	mw_u8(&w, (uint8_t)up);
	child_send(d->child, PROC_POLICYD, M_C_ROUTE, 0, -1, w.buf, w.len);
}

/*
 * dns_resolve: c-ares channels on the libevent loop.
 *
 * c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB) and when
 * it next needs a turn (ares_timeout); we call ares_process_fd.  Every
 * option that would otherwise come from /etc/resolv.conf is set, so c-ares
 * reads no file but /dev/urandom for its query ids (see BUGS in dnsd.h).
 *
 * c-ares 1.18 cannot change a channel's time-out or tries, so a new
 * configuration that changes them, or the servers, gets a new channel
 * (the sandbox lets dnsd open /dev/urandom, read-only, for its key) and
 * the old one is retired once its last query is answered.
 *
 * Queries are made by us (ares_create_query) and sent with ares_send:
 * ares_query cannot ask with the DO bit, which a validating resolver
 * needs to see before it tells us, with the AD bit, that an answer was
 * authenticated.  ares_send in 1.18 sends the query id it is given, so
 * the id is ours to choose: random, and not one in flight.  The DO bit is
 * set only when the AD bit will be trusted (dns.dnssec, every server on
 * loopback), so that nobody else's answers grow with signatures.
 */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "config.h"
#include "dnsd.h"
#include "log.h"
#include "netaddr.h"

#define EDNS_SIZE	1232	/* DNS flag day 2020 */
#define OPT_LEN		11	/* the OPT record ares_create_query adds */

struct rchan;

struct rsock {
	LIST_ENTRY(rsock)	 entry;
	struct rchan		*rc;
	ares_socket_t		 fd;
	struct event		*ev;
};

struct rchan {
	LIST_ENTRY(rchan)	 entry;
	struct resolver		*res;
	ares_channel		 ch;
	LIST_HEAD(, rsock)	 socks;
	struct event		*timer;
	size_t			 pending;
	int			 retired;
};
LIST_HEAD(rchan_list, rchan);

struct resolver {
	struct event_base	*base;
	struct rchan		*active;
	struct rchan_list	 retired;
	char			 servers[1024];	/* as configured, for diffs */
	uint32_t		 timeout;
	uint32_t		 tries;
	int			 trust_ad;	/* DO asked, AD believed */
	uint8_t			 ids[65536 / 8];	/* ids in flight */
	uint64_t		 failures;	/* answered with nothing */
};

struct rquery {
	struct rchan	*rc;
	uint16_t	 id;
	int		 has_id;	/* id is ours, in res->ids */
	uint16_t	 qtype;
	char		*name;
	lookup_cb	 cb;
	void		*arg;
};

static void	rchan_schedule(struct rchan *);

static void
rsock_cb(int fd, short ev, void *arg)
{
	struct rsock *s = arg;
	struct rchan *rc = s->rc;

	ares_process_fd(rc->ch, (ev & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (ev & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rchan_schedule(rc);
}

static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct rchan	*rc = data;
	struct rsock	*s;
	short		 what = EV_PERSIST;

	LIST_FOREACH(s, &rc->socks, entry)
		if (s->fd == fd)
			break;
	if (!readable && !writable) {
		if (s != NULL) {
			LIST_REMOVE(s, entry);
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			fatal("dns socket");
		s->rc = rc;
		s->fd = fd;
		LIST_INSERT_HEAD(&rc->socks, s, entry);
	} else
		event_free(s->ev);
	if (readable)
		what |= EV_READ;
	if (writable)
		what |= EV_WRITE;
	if ((s->ev = event_new(rc->res->base, fd, what, rsock_cb, s)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		fatalx("dns socket event");
}

static void
timer_cb(int fd, short ev, void *arg)
{
	struct rchan *rc = arg;

	(void)fd;
	(void)ev;
	ares_process_fd(rc->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rchan_schedule(rc);
}

static void
rchan_schedule(struct rchan *rc)
{
	struct timeval tv, *tvp;

	if ((tvp = ares_timeout(rc->ch, NULL, &tv)) != NULL)
		evtimer_add(rc->timer, tvp);
	else
		evtimer_del(rc->timer);
}

/* "host:port,host:port" in c-ares's own syntax ([v6]:port). */
static int
servers_csv(const struct conf *conf, char *buf, size_t sz)
{
	size_t	i;
	char	one[ADDRSTR_MAX];

	buf[0] = '\0';
	for (i = 0; i < conf->dns.nservers; i++) {
		hostport_format(&conf->dns.servers[i], one, sizeof(one));
		if (i > 0 && strlcat(buf, ",", sz) >= sz)
			return -1;
		if (strlcat(buf, one, sz) >= sz)
			return -1;
	}
	return 0;
}

static struct rchan *
rchan_new(struct resolver *res, const char *servers)
{
	struct ares_options	 o;
	struct rchan		*rc;
	char			*lookups = "b";
	int			 mask, rv;

	if ((rc = calloc(1, sizeof(*rc))) == NULL)
		fatal("dns channel");
	rc->res = res;
	LIST_INIT(&rc->socks);
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	o.timeout = (int)res->timeout * 1000;
	o.tries = (int)res->tries;
	o.ndots = 1;
	o.domains = NULL;
	o.ndomains = 0;
	o.lookups = lookups;
	o.sortlist = NULL;
	o.nsort = 0;
	o.ednspsz = EDNS_SIZE;
	o.sock_state_cb = sock_state_cb;
	o.sock_state_cb_data = rc;
	/* Every one of these set: nothing is read from resolv.conf. */
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_NDOTS | ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS |
	    ARES_OPT_SORTLIST | ARES_OPT_EDNSPSZ | ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_NOROTATE | ARES_OPT_SERVERS;
	o.servers = NULL;
	o.nservers = 0;
	if ((rv = ares_init_options(&rc->ch, &o, mask)) != ARES_SUCCESS)
		fatalx("c-ares: %s", ares_strerror(rv));
	if ((rv = ares_set_servers_ports_csv(rc->ch, servers)) != ARES_SUCCESS)
		fatalx("c-ares servers \"%s\": %s", servers, ares_strerror(rv));
	if ((rc->timer = evtimer_new(res->base, timer_cb, rc)) == NULL)
		fatalx("dns timer");
	return rc;
}

static void
rchan_free(struct rchan *rc)
{
	struct rsock *s;

	ares_destroy(rc->ch);
	while ((s = LIST_FIRST(&rc->socks)) != NULL) {
		LIST_REMOVE(s, entry);
		event_free(s->ev);
		free(s);
	}
	event_free(rc->timer);
	free(rc);
}

struct resolver *
resolver_new(struct event_base *base)
{
	struct resolver *res;

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		fatalx("ares_library_init");
	if ((res = calloc(1, sizeof(*res))) == NULL)
		fatal("resolver");
	res->base = base;
	LIST_INIT(&res->retired);
	return res;
}

/* A retired channel goes once its last query is answered. */
static void
rchan_retire(struct resolver *res, struct rchan *rc)
{
	if (rc->pending == 0) {
		rchan_free(rc);
		return;
	}
	rc->retired = 1;
	LIST_INSERT_HEAD(&res->retired, rc, entry);
}

/*
 * The AD bit means something only from a validating resolver we reach
 * over a path nobody can tamper with: this host (RFC 6698 4.1, RFC 7672
 * 2.1.1).  A server elsewhere gets a warning and no trust.
 */
int
resolver_trust_ad(const struct conf *conf)
{
	struct netaddr	na;
	size_t		i;
	int		ok = conf->dns.dnssec;

	for (i = 0; ok && i < conf->dns.nservers; i++) {
		if (netaddr_parse(conf->dns.servers[i].host, &na) == 0 &&
		    netaddr_is_loopback(&na))
			continue;
		log_warnx("dns.dnssec: server %s is not on loopback; its AD "
		    "bit is not trusted and no answer counts as secure (DANE "
		    "is off)", conf->dns.servers[i].host);
		ok = 0;
	}
	return ok;
}

/*
 * 1: answers may differ from now on (a new channel, or the AD bit trusted
 * or no longer), and cached ones should go; 0; -1.
 */
int
resolver_configure(struct resolver *res, const struct conf *conf)
{
	char		 servers[sizeof(res->servers)];
	struct rchan	*old = res->active;
	int		 trust = resolver_trust_ad(conf), changed;

	changed = old != NULL && trust != res->trust_ad;
	res->trust_ad = trust;
	if (servers_csv(conf, servers, sizeof(servers)) == -1) {
		log_warnx("dns: server list too long");
		return -1;
	}
	if (old != NULL && strcmp(servers, res->servers) == 0 &&
	    conf->dns.timeout == res->timeout && conf->dns.tries == res->tries)
		return changed;
	res->timeout = conf->dns.timeout;
	res->tries = conf->dns.tries;
	strlcpy(res->servers, servers, sizeof(res->servers));
	res->active = rchan_new(res, servers);
	log_info("dns servers %s, timeout %us, %u tries%s%s", servers,
	    res->timeout, res->tries, trust ? ", DNSSEC (AD bit trusted)" : "",
	    old != NULL ? " (a new channel)" : "");
	if (old == NULL)
		return 0;
	rchan_retire(res, old);
	return 1;
}

static void
free_later(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	rchan_free(arg);
}

static void
query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct rquery		*q = arg;
	struct rchan		*rc = q->rc;
	struct resolver		*res = rc->res;
	struct dns_answer	*a;

	(void)timeouts;
	rc->pending--;
	if (q->has_id)
		res->ids[q->id / 8] &= (uint8_t)~(1u << (q->id % 8));
	if ((a = malloc(sizeof(*a))) == NULL)
		fatal("dns answer");
	memset(a, 0, sizeof(*a));
	a->rcode = DNS_R_TEMPFAIL;
	/* Time-outs, SERVFAIL and refusals carry no usable answer. */
	if (abuf != NULL && alen > 0 && (status == ARES_SUCCESS ||
	    status == ARES_ENOTFOUND || status == ARES_ENODATA)) {
		if (dns_parse_answer(abuf, (size_t)alen, q->qtype, a) == -1)
			log_warnx("dns: malformed answer for %s", q->name);
	}
	if (!res->trust_ad)
		a->secure = 0;
	if (a->rcode == DNS_R_TEMPFAIL)
		res->failures++;
	q->cb(q->arg, a);
	dns_answer_clear(a);
	free(a);
	free(q->name);
	free(q);
	if (rc->retired && rc->pending == 0) {
		LIST_REMOVE(rc, entry);
		/* Not from inside c-ares's own callback. */
		event_base_once(res->base, -1, EV_TIMEOUT, free_later, rc, NULL);
	}
}

/*
 * A random query id that no query in flight has: a random start, then
 * the next free one.  -1 when all 65536 are in flight.
 */
static int
query_id(struct resolver *res)
{
	uint32_t	start = arc4random_uniform(65536), i;
	uint16_t	id;

	for (i = 0; i < 65536; i++) {
		id = (uint16_t)((start + i) & 0xffff);
		if (res->ids[id / 8] & (1u << (id % 8)))
			continue;
		res->ids[id / 8] |= (uint8_t)(1u << (id % 8));
		return id;
	}
	return -1;
}

/* RD, EDNS0 with our buffer size, and DO when the AD bit is trusted. */
static int
make_query(struct resolver *res, const char *name, uint16_t qtype,
    uint16_t id, unsigned char **buf, int *len)
{
	int rv;

	if ((rv = ares_create_query(name, 1 /* IN */, qtype, id, 1, buf, len,
	    EDNS_SIZE)) != ARES_SUCCESS)
		return rv;
	/* The OPT record ends the query: its TTL holds the DO bit. */
	if (*len < OPT_LEN || (*buf)[*len - OPT_LEN + 2] != 41) {
		ares_free_string(*buf);
		return ARES_EBADQUERY;
	}
	if (res->trust_ad)
		(*buf)[*len - OPT_LEN + 7] |= 0x80;
	return ARES_SUCCESS;
}

void
resolver_query(struct resolver *res, const char *name, uint16_t qtype,
    lookup_cb cb, void *arg)
{
	struct rquery	*q;
	struct rchan	*rc = res->active;
	unsigned char	*buf;
	int		 len, rv, id;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->name = strdup(name)) == NULL)
		fatal("dns query");
	q->rc = rc;
	q->qtype = qtype;
	q->cb = cb;
	q->arg = arg;
	rc->pending++;
	if ((id = query_id(res)) == -1) {
		/* Answered as a time-out would be: try again later. */
		log_warnx("dns: 65536 queries in flight; %s fails", name);
		query_cb(q, ARES_ETIMEOUT, 0, NULL, 0);
		return;
	}
	q->id = (uint16_t)id;
	q->has_id = 1;
	if ((rv = make_query(res, name, qtype, q->id, &buf, &len)) !=
	    ARES_SUCCESS) {
		log_warnx("dns: cannot make a query for %s: %s", name,
		    ares_strerror(rv));
		query_cb(q, rv, 0, NULL, 0);
		return;
	}
	/* The callback may run inside ares_send: q is gone after it. */
	ares_send(rc->ch, buf, len, query_cb, q);
	ares_free_string(buf);
	rchan_schedule(rc);
}

uint64_t
resolver_failures(const struct resolver *res)
{
	return res->failures;
}

size_t
resolver_pending(const struct resolver *res)
{
	return res->active ? res->active->pending : 0;
}

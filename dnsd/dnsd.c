/*
 * dnsd: process set-up, the cache in front of the resolver, and answers
 * to smtpd, deliverd and policyd.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "dns_client.h"
#include "dnsd.h"
#include "faults.h"
#include "log.h"
#include "metrics.h"
#include "marshal.h"
#include "msg_dns.h"

#define CACHE_MAX	100000

static struct dnsd dnsd;

int
lookup_cmp(struct lookup *a, struct lookup *b)
{
	if (a->qtype != b->qtype)
		return a->qtype < b->qtype ? -1 : 1;
	return strcmp(a->name, b->name);
}

RB_GENERATE(lookup_tree, lookup, entry, lookup_cmp)

/* Lower case, no final dot, only what a DNS name can hold. */
static int
normalise(const char *in, char *out, size_t sz)
{
	size_t i, len = strlen(in);

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len >= sz || len > 253)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.'))
			return -1;
		out[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
	}
	out[len] = '\0';
	return strstr(out, "..") != NULL || out[0] == '.' ? -1 : 0;
}

static void
answer_waiter(struct dnsd *d, struct waiter *w, const void *payload,
    size_t len, const struct dns_answer *a)
{
	if (w->peer == PROC_PARENT)
		w->cb(w->arg, a);
	else
		child_send(d->child, w->peer, M_DNS_ANSWER, w->reqid, -1,
		    payload, len);
	free(w);
}

/* How long an answer may be kept: its TTL, capped by dns.max_ttl. */
static uint32_t
cache_ttl(const struct dnsd *d, const struct dns_answer *a)
{
	uint32_t cap = d->conf->dns.max_ttl;

	if (a->rcode == DNS_R_TEMPFAIL || !a->has_ttl)
		return 0;
	return a->ttl < cap ? a->ttl : cap;
}

static void
on_resolved(void *arg, const struct dns_answer *a)
{
	struct lookup	*l = arg;
	struct dnsd	*d = &dnsd;
	struct waiter	*w;
	struct mw	 m;

	RB_REMOVE(lookup_tree, &d->inflight, l);
	if (dns_answer_encode(a, l->qtype, &m) == -1)
		fatalx("dns answer encoding");
	cache_put(d->cache, l->qtype, l->name, m.buf, m.len, cache_ttl(d, a));
	log_debug("dns %s type %u: rcode %d, %zu records, ttl %u%s", l->name,
	    l->qtype, a->rcode, a->nrr, a->has_ttl ? a->ttl : 0,
	    a->secure ? ", secure" : "");
	while ((w = TAILQ_FIRST(&l->waiters)) != NULL) {
		TAILQ_REMOVE(&l->waiters, w, entry);
		answer_waiter(d, w, m.buf, m.len, a);
	}
	free(l);
}

static void
answer_now(struct dnsd *d, struct waiter *w, uint32_t qtype,
    enum dns_rcode rcode)
{
	struct dns_answer	a;
	struct mw		m;

	memset(&a, 0, sizeof(a));
	a.rcode = rcode;
	dns_answer_encode(&a, qtype, &m);
	answer_waiter(d, w, m.buf, m.len, &a);
}

/* From the cache, by joining a lookup in flight, or by a new one. */
void
dnsd_lookup(struct dnsd *d, uint32_t qtype, const char *name,
    struct waiter *w)
{
	struct lookup		 find, *l;
	struct dns_answer	*a;
	const void		*p;
	size_t			 len;

	if (normalise(name, find.name, sizeof(find.name)) == -1) {
		/* No such name can exist in the DNS. */
		answer_now(d, w, qtype, DNS_R_NXDOMAIN);
		return;
	}
	find.qtype = qtype;
	if ((p = cache_get(d->cache, qtype, find.name, &len)) != NULL) {
		d->hits++;
		if (w->peer != PROC_PARENT) {
			answer_waiter(d, w, p, len, NULL);
			return;
		}
		if ((a = malloc(sizeof(*a))) == NULL)
			fatal("dns answer");
		if (dns_answer_decode(p, len, qtype, a) == -1)
			fatalx("dns cache entry");
		answer_waiter(d, w, NULL, 0, a);
		dns_answer_clear(a);
		free(a);
		return;
	}
	if ((l = RB_FIND(lookup_tree, &d->inflight, &find)) != NULL) {
		TAILQ_INSERT_TAIL(&l->waiters, w, entry);
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		fatal("dns lookup");
	*l = find;
	TAILQ_INIT(&l->waiters);
	TAILQ_INSERT_TAIL(&l->waiters, w, entry);
	RB_INSERT(lookup_tree, &d->inflight, l);
	resolver_query(d->res, l->name, (uint16_t)qtype, on_resolved, l);
}

static int
known_qtype(uint32_t t)
{
	return t == DNS_T_A || t == DNS_T_AAAA || t == DNS_T_MX ||
	    t == DNS_T_TXT || t == DNS_T_PTR || t == DNS_T_TLSA ||
	    t == DNS_Q_FCRDNS;
}

static void
fcrdns_reply(void *arg, const struct dns_answer *a)
{
	struct waiter	*w = arg;
	struct mw	 m;

	if (dns_answer_encode(a, DNS_T_PTR, &m) == -1)
		fatalx("dns answer encoding");
	child_send(dnsd.child, w->peer, M_DNS_ANSWER, w->reqid, -1, m.buf,
	    m.len);
	free(w);
}

static void
on_query(struct child *c, enum proc_id peer, struct imsg *imsg)
{
	struct dnsd	*d = c->state;
	struct waiter	*w, *iw;
	struct mr	 r;
	char		 name[DNS_NAME_MAX], rev[80];
	uint32_t	 qtype;

	if (imsg->hdr.type != M_DNS_QUERY || imsg_has_fd(imsg))
		child_peer_broken(c, peer, imsg, "not a query");
	mr_init(&r, imsg->data, imsg->datalen);
	qtype = mr_u32(&r);
	mr_str(&r, name, sizeof(name));
	if (mr_end(&r) == -1 || !known_qtype(qtype))
		child_peer_broken(c, peer, imsg, "query");
	if (d->conf == NULL || d->res == NULL)
		child_peer_broken(c, peer, imsg, "query before configuration");
	d->queries++;
	fault_forbidden("dnsd-open");
	fault_forbidden("dnsd-unix-socket");
	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("dns waiter");
	w->peer = peer;
	w->reqid = imsg->hdr.peerid;
	if (qtype == DNS_Q_FCRDNS) {
		/* The composite answers through an internal waiter. */
		if ((iw = calloc(1, sizeof(*iw))) == NULL)
			fatal("dns waiter");
		iw->peer = PROC_PARENT;
		iw->cb = fcrdns_reply;
		iw->arg = w;
		fcrdns_start(d, name, iw);
		return;
	}
	if (qtype == DNS_T_PTR) {
		if (reverse_name(name, rev, sizeof(rev)) == -1) {
			answer_now(d, w, qtype, DNS_R_NXDOMAIN);
			return;
		}
		dnsd_lookup(d, qtype, rev, w);
		return;
	}
	dnsd_lookup(d, qtype, name, w);
}

static void
from_smtpd(struct child *c, struct imsg *imsg)
{
	on_query(c, PROC_SMTPD, imsg);
}

static void
from_deliverd(struct child *c, struct imsg *imsg)
{
	on_query(c, PROC_DELIVERD, imsg);
}

static void
from_policyd(struct child *c, struct imsg *imsg)
{
	on_query(c, PROC_POLICYD, imsg);
}

static void
dnsd_init(struct child *c)
{
	struct dnsd	*d = c->state;
	int		 fd;

	d->child = c;
	RB_INIT(&d->inflight);
	if ((d->cache = cache_new(CACHE_MAX)) == NULL)
		fatal("dns cache");
	d->res = resolver_new(c->base);
	/* c-ares seeds its query ids from here (see BUGS in dnsd.h). */
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("/dev/urandom (is state_dir mounted nodev?); c-ares "
		    "query ids will be weak");
	else
		close(fd);
}

static void
dnsd_conf(struct child *c, struct conf *conf, struct conf *old)
{
	struct dnsd *d = c->state;

	(void)old;
	d->conf = conf;
	if (resolver_configure(d->res, conf) == 1) {
		/* Other servers, or another trust in their AD bit. */
		cache_flush(d->cache);
	}
}

static void
dnsd_status(struct child *c, char *buf, size_t sz)
{
	struct dnsd *d = c->state;

	snprintf(buf, sz, "running, %llu queries, %llu from cache, %zu "
	    "cached, %zu in flight", (unsigned long long)d->queries,
	    (unsigned long long)d->hits, cache_size(d->cache),
	    resolver_pending(d->res));
}

/* Its samples for a metrics scrape (metrics.h). */
static void
dnsd_metrics(struct child *c, struct mx_out *o)
{
	struct dnsd *d = c->state;

	mx_add0(o, MXF_DNS_QUERIES, d->queries);
	mx_add0(o, MXF_DNS_HITS, d->hits);
	mx_add0(o, MXF_DNS_FAILURES, d->res != NULL ?
	    resolver_failures(d->res) : 0);
	mx_add0(o, MXF_DNS_CACHED, d->cache != NULL ? cache_size(d->cache) :
	    0);
}

static const struct child_ops dnsd_ops = {
	.id = PROC_DNSD,
	.init = dnsd_init,
	.conf = dnsd_conf,
	.status = dnsd_status,
	.metrics = dnsd_metrics,
	.sandbox_after_conf = 1,
	.dispatch = {
		[PROC_SMTPD] = from_smtpd,
		[PROC_DELIVERD] = from_deliverd,
		[PROC_POLICYD] = from_policyd,
	},
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &dnsd_ops, &dnsd);
}

/*
 * mta_route: from a destination to the list of hops to try.
 *
 * Inbound: the tenant's inbound.deliver_to, in order.  Outbound: the MX
 * records by preference, shuffled within one preference, cut at our own
 * host name; no MX means the domain itself (implicit MX); a null MX
 * (RFC 7505) and a domain that does not exist bounce; a DNS failure
 * defers.  Each host's A and AAAA records give the hops.
 *
 * Outbound, each hop also learns what its certificate must prove:
 *
 * DANE (RFC 7672 2.2): when the MX answer was secure (DNSSEC, see
 * dnsd.h), each host's TLSA records at _PORT._tcp.HOST are asked with its
 * addresses, and count only if those answers were secure too.  Usable
 * records (DANE-TA, DANE-EE) must match; records none of which is usable
 * still make TLS a must; a TLSA look-up that fails makes the host unusable
 * (it could be an attacker's doing), never a host without DANE.
 *
 * MTA-STS (RFC 8461), asked alongside the MX records, for each MX host
 * DANE has nothing to say about (DANE wins, host by host: a domain whose
 * hosts only partly publish TLSA still has its policy applied to the
 * others): in enforce mode only MX hosts the policy names are kept, and
 * their certificates must be valid for their names; in testing mode the
 * same is checked and only logged.
 *
 * Tenant routes are the operator's own servers, named in the tenant's
 * configuration: neither applies to them.  Their TLS is the tenant's
 * inbound.tls: opportunistic, required (TLS or nothing, any
 * certificate), or verify (a certificate valid for the deliver_to name,
 * or address, from a CA of tls.ca_file).
 */
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "deliverd.h"
#include "dns_client.h"
#include "log.h"
#include "msg_deliver.h"
#include "mta_sts.h"

#define MAX_HOSTS	16

struct rhost {
	char		 name[DNS_NAME_MAX];
	uint16_t	 pref;
	uint16_t	 port;
	struct netaddr	*addrs;		/* A first, then AAAA */
	size_t		 naddrs;
	int		 literal;
	int		 tempfail;
	int		 private_skipped;
	int		 addr_insecure;	/* an address answer was not */
	int		 tlsa_asked;
	enum dns_rcode	 tlsa_rcode;
	int		 tlsa_secure;
	int		 dane;		/* DANE decides for this host */
	size_t		 tlsa_count;	/* records, usable or not */
	struct tlsa_set	*tlsa;		/* the usable ones */
	enum hop_tls	 tls;
};

struct route_work {
	struct deliverd	*d;
	struct dest	*dest;
	struct rhost	 hosts[MAX_HOSTS];
	size_t		 nhosts;
	int		 filter_private;
	size_t		 pending;
	int		 mx_secure;	/* the MX answer was secure */
	int		 sts_wait;	/* the MTA-STS policy is coming */
	int		 addrs_asked;	/* every look-up is out */
	int		 have_sts;
	struct sts_policy sts;
};

struct addr_probe {
	struct route_work	*w;
	size_t			 i;
	int			 af;
};

static void
work_free(struct route_work *w)
{
	size_t i;

	if (w->sts_wait)
		sts_cancel(w->d, w);
	for (i = 0; i < w->nhosts; i++) {
		free(w->hosts[i].addrs);
		tlsa_set_unref(w->hosts[i].tlsa);
	}
	w->dest->work = NULL;
	free(w);
}

static void __attribute__((format(printf, 4, 5)))
route_fail(struct route_work *w, int result, const char *dsn,
    const char *fmt, ...)
{
	struct deliverd	*d = w->d;
	struct dest	*dest = w->dest;
	va_list		 ap;

	dest->rstate = RT_FAILED;
	dest->fail_result = result;
	strlcpy(dest->fail_dsn, dsn, sizeof(dest->fail_dsn));
	va_start(ap, fmt);
	vsnprintf(dest->fail_text, sizeof(dest->fail_text), fmt, ap);
	va_end(ap);
	work_free(w);
	dest_pump(d, dest);
}

/*
 * What MTA-STS asks of a host without usable TLSA records.  Records
 * none of which is usable keep TLS a must in testing mode.
 */
static void
sts_host(struct rhost *h, int enforce)
{
	if (enforce)
		h->tls = HT_STS_ENFORCE;
	else if (h->tls != HT_DANE_ENCRYPT)
		h->tls = HT_STS_TESTING;
}

/*
 * DANE for one host (RFC 7672 2.2): 1 when it decides for the host,
 * usable records or a failed look-up.  Records none of which is usable
 * only make TLS a must (HT_DANE_ENCRYPT): MTA-STS may still ask more.
 */
static int
host_dane(struct route_work *w, struct rhost *h)
{
	if (!w->mx_secure || !h->tlsa_asked || h->addr_insecure)
		return 0;
	if (h->tlsa_rcode == DNS_R_TEMPFAIL) {
		h->tls = HT_DANE_FAIL;
		return 1;
	}
	if (!h->tlsa_secure || h->tlsa_count == 0)
		return 0;
	if (h->tlsa != NULL && h->tlsa->n > 0) {
		h->tls = HT_DANE;
		return 1;
	}
	h->tls = HT_DANE_ENCRYPT;
	return 0;
}

/*
 * MTA-STS for the hosts DANE had nothing to say about (DANE wins, host
 * by host: RFC 8461 2): in enforce mode the hosts the policy does not
 * name go; testing mode only says so.  -1 when no host is left.
 */
static int
apply_sts(struct route_work *w)
{
	struct dest	*dest = w->dest;
	size_t		 i, n = 0;
	int		 enforce = w->sts.mode == STS_ENFORCE;

	if (!w->have_sts || w->sts.mode == STS_NONE)
		return 0;
	for (i = 0; i < w->nhosts; i++) {
		struct rhost *h = &w->hosts[i];

		if (h->dane) {
			w->hosts[n++] = *h;
			continue;
		}
		if (sts_mx_match(&w->sts, h->name)) {
			sts_host(h, enforce);
			w->hosts[n++] = *h;
			continue;
		}
		log_info("MTA-STS: %s, an MX host of %s, is not in its "
		    "policy (mode %s)%s", h->name, dest->domain,
		    sts_mode_name(w->sts.mode), enforce ? "; skipped" :
		    "; would be skipped in enforce mode");
		if (!enforce) {
			sts_host(h, 0);
			w->hosts[n++] = *h;
			continue;
		}
		free(h->addrs);
		tlsa_set_unref(h->tlsa);
	}
	w->nhosts = n;
	return n == 0 ? -1 : 0;
}

/* Every host has its addresses: lay out the hops in order. */
static void
route_ready(struct route_work *w)
{
	struct dest	*dest = w->dest;
	struct deliverd	*d = w->d;
	size_t		 i, j, n = 0, tempfail = 0, skipped = 0;

	for (i = 0; i < w->nhosts; i++)
		w->hosts[i].dane = host_dane(w, &w->hosts[i]);
	if (apply_sts(w) == -1) {
		route_fail(w, DR_TEMPFAIL, "4.7.5", "no MX host of %s is "
		    "named by its MTA-STS policy (mode enforce)",
		    dest->domain);
		return;
	}
	for (i = 0; i < w->nhosts; i++) {
		n += w->hosts[i].naddrs;
		tempfail += w->hosts[i].tempfail;
		skipped += w->hosts[i].private_skipped;
	}
	if (n == 0) {
		if (tempfail > 0)
			route_fail(w, DR_TEMPFAIL, "4.4.3", "cannot resolve "
			    "the next hop for %s: DNS lookups failed",
			    dest->domain);
		else if (skipped > 0)
			route_fail(w, DR_TEMPFAIL, "4.4.4", "no usable address "
			    "for the mail hosts of %s (private or unroutable)",
			    dest->domain);
		else
			route_fail(w, DR_TEMPFAIL, "4.4.4", "the mail hosts of "
			    "%s have no addresses", dest->domain);
		return;
	}
	hops_free(dest->hops, dest->nhops);
	if ((dest->hops = calloc(n, sizeof(*dest->hops))) == NULL)
		fatal("hops");
	dest->nhops = 0;
	for (i = 0; i < w->nhosts; i++)
		for (j = 0; j < w->hosts[i].naddrs; j++) {
			struct hop *h = &dest->hops[dest->nhops++];

			strlcpy(h->host, w->hosts[i].name, sizeof(h->host));
			h->addr = w->hosts[i].addrs[j];
			h->addr.port = w->hosts[i].port;
			h->tls = w->hosts[i].tls;
			if (h->tls == HT_DANE)
				h->tlsa = tlsa_set_ref(w->hosts[i].tlsa);
		}
	dest->rstate = RT_READY;
	dest->resolved = time(NULL);
	work_free(w);
	dest_pump(d, dest);
}

/* A look-up is done: once all are, and the policy is in, the hops. */
static void
work_step(struct route_work *w)
{
	if (w->addrs_asked && w->pending == 0 && !w->sts_wait)
		route_ready(w);
}

static void
on_addr(void *arg, const struct dns_answer *a)
{
	struct addr_probe	*p = arg;
	struct route_work	*w = p->w;
	struct rhost		*h = &w->hosts[p->i];
	struct netaddr		*na;
	size_t			 i;

	if (a->rcode == DNS_R_TEMPFAIL)
		h->tempfail = 1;
	else if (!a->secure)
		h->addr_insecure = 1;
	for (i = 0; i < a->nrr; i++) {
		na = &h->addrs[h->naddrs];
		memset(na, 0, sizeof(*na));
		na->af = p->af;
		memcpy(na->addr, a->rr[i].addr, p->af == AF_INET ? 4 : 16);
		if (w->filter_private && netaddr_is_private(na)) {
			h->private_skipped = 1;
			continue;
		}
		h->naddrs++;
	}
	free(p);
	w->pending--;
	work_step(w);
}

/* The host's TLSA records: kept are the usable ones (mta_tls.c). */
static void
on_tlsa(void *arg, const struct dns_answer *a)
{
	struct addr_probe	*p = arg;
	struct route_work	*w = p->w;
	struct rhost		*h = &w->hosts[p->i];
	size_t			 i;

	h->tlsa_rcode = a->rcode;
	h->tlsa_secure = a->secure;
	h->tlsa_count = a->nrr;
	if (a->rcode == DNS_R_OK && a->secure) {
		h->tlsa = tlsa_set_new(a->nrr);
		for (i = 0; i < a->nrr; i++) {
			const struct dns_rr *rr = &a->rr[i];
			struct tlsa_rec *t = &h->tlsa->r[h->tlsa->n];

			if (!tlsa_usable(rr->tlsa_usage, rr->tlsa_selector,
			    rr->tlsa_mtype, rr->txtlen))
				continue;
			t->usage = rr->tlsa_usage;
			t->selector = rr->tlsa_selector;
			t->mtype = rr->tlsa_mtype;
			t->len = rr->txtlen;
			if ((t->data = malloc(t->len)) == NULL)
				fatal("TLSA record");
			memcpy(t->data, rr->txt, t->len);
			h->tlsa->n++;
		}
	}
	free(p);
	w->pending--;
	work_step(w);
}

static void
probe(struct route_work *w, size_t i, int af, uint32_t qtype,
    const char *name, dns_cb cb)
{
	struct addr_probe *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		fatal("address probe");
	p->w = w;
	p->i = i;
	p->af = af;
	w->pending++;
	dns_lookup(w->d->dns, qtype, name, cb, p);
}

/* A and AAAA for every host that is not a literal. */
static void
lookup_addrs(struct route_work *w)
{
	char			 tlsa[DNS_NAME_MAX + 16];
	size_t			 i;

	for (i = 0; i < w->nhosts; i++) {
		if ((w->hosts[i].addrs = calloc(2 * DNS_MAX_RR + 1,
		    sizeof(struct netaddr))) == NULL)
			fatal("hop addresses");
	}
	for (i = 0; i < w->nhosts; i++) {
		struct rhost *h = &w->hosts[i];

		if (h->literal) {
			if (netaddr_parse(h->name, &h->addrs[0]) == 0 &&
			    !(w->filter_private &&
			    netaddr_is_private(&h->addrs[0])))
				h->naddrs = 1;
			else
				h->private_skipped = 1;
			continue;
		}
		probe(w, i, AF_INET, DNS_T_A, h->name, on_addr);
		probe(w, i, AF_INET6, DNS_T_AAAA, h->name, on_addr);
		/* The port we connect to names the records (7672 2.2). */
		if (w->mx_secure && (size_t)snprintf(tlsa, sizeof(tlsa),
		    "_%u._tcp.%s", h->port, h->name) < sizeof(tlsa)) {
			h->tlsa_asked = 1;
			probe(w, i, 0, DNS_T_TLSA, tlsa, on_tlsa);
		}
	}
	w->addrs_asked = 1;
	work_step(w);
}

static void
on_sts(void *arg, const struct sts_policy *pol)
{
	struct route_work *w = arg;

	w->sts_wait = 0;
	if (pol != NULL) {
		w->sts = *pol;
		w->have_sts = 1;
	}
	work_step(w);
}

static int
mx_cmp(const void *a, const void *b)
{
	const struct rhost *x = a, *y = b;

	return (int)x->pref - (int)y->pref;
}

static void
shuffle_equal_prefs(struct rhost *h, size_t n)
{
	size_t i, j, start = 0;
	struct rhost tmp;

	for (i = 1; i <= n; i++) {
		if (i < n && h[i].pref == h[start].pref)
			continue;
		for (j = i - 1; j > start; j--) {
			size_t k = start + arc4random_uniform(
			    (uint32_t)(j - start + 1));

			tmp = h[j];
			h[j] = h[k];
			h[k] = tmp;
		}
		start = i;
	}
}

static void
on_mx(void *arg, const struct dns_answer *a)
{
	struct route_work	*w = arg;
	struct dest		*dest = w->dest;
	const char		*me = w->d->conf->hostname;
	struct rhost		*all;
	size_t			 i, n = 0;

	if (a->rcode == DNS_R_TEMPFAIL) {
		route_fail(w, DR_TEMPFAIL, "4.4.3", "MX lookup for %s failed "
		    "temporarily", dest->domain);
		return;
	}
	if (a->rcode == DNS_R_NXDOMAIN) {
		route_fail(w, DR_PERMFAIL, "5.1.2", "domain %s does not exist",
		    dest->domain);
		return;
	}
	w->mx_secure = a->secure;
	if (a->rcode == DNS_R_NODATA) {
		/* No MX: the domain's own addresses (RFC 5321 5.1). */
		strlcpy(w->hosts[0].name, dest->domain, sizeof(w->hosts[0].name));
		w->hosts[0].port = w->d->conf->queue.smtp_port;
		w->nhosts = 1;
		lookup_addrs(w);
		return;
	}
	if (a->nrr == 1 && a->rr[0].name[0] == '\0') {
		route_fail(w, DR_PERMFAIL, "5.1.10", "domain %s accepts no "
		    "mail (null MX, RFC 7505)", dest->domain);
		return;
	}
	/* Sort all of them first: the best may come last in the answer. */
	if ((all = calloc(a->nrr, sizeof(*all))) == NULL)
		fatal("mx hosts");
	for (i = 0; i < a->nrr; i++) {
		if (a->rr[i].name[0] == '\0')
			continue;	/* a null MX among others: ignored */
		strlcpy(all[n].name, a->rr[i].name, sizeof(all[n].name));
		all[n].pref = a->rr[i].pref;
		all[n].port = w->d->conf->queue.smtp_port;
		n++;
	}
	qsort(all, n, sizeof(all[0]), mx_cmp);
	shuffle_equal_prefs(all, n);
	/* RFC 5321 5.1: never to ourselves or any MX we prefer less. */
	for (i = 0; i < n; i++)
		if (strcasecmp(all[i].name, me) == 0) {
			uint16_t pref = all[i].pref;

			for (n = 0; n < i && all[n].pref < pref; n++)
				;
			break;
		}
	if (n > MAX_HOSTS)
		n = MAX_HOSTS;
	memcpy(w->hosts, all, n * sizeof(all[0]));
	free(all);
	if (n == 0) {
		route_fail(w, DR_PERMFAIL, "5.4.6", "mail for %s loops back to "
		    "myself (%s is the best MX)", dest->domain, me);
		return;
	}
	w->nhosts = n;
	lookup_addrs(w);
}

static int
is_literal(const char *s)
{
	struct netaddr na;

	return netaddr_parse(s, &na) == 0;
}

/* What the tenant's inbound.tls asks of its servers. */
static enum hop_tls
tenant_tls(struct deliverd *d, const struct dest *dest)
{
	const struct tenant_conf *t;

	if ((t = conf_tenant_by_name(d->conf, dest->tenant)) == NULL)
		return HT_OPPORTUNISTIC;
	switch (t->inbound_tls) {
	case INBOUND_TLS_REQUIRED:
		return HT_REQUIRED;
	case INBOUND_TLS_VERIFY:
		if (!d->have_ca)
			log_warnx("tenant=%s: inbound.tls is verify but there "
			    "is no CA file (tls.ca_file) to verify with: "
			    "its mail waits", t->name);
		return HT_VERIFY;
	default:
		return HT_OPPORTUNISTIC;
	}
}

void
route_resolve(struct deliverd *d, struct dest *dest)
{
	struct route_work		*w;
	size_t				 i, len;
	char				 lit[64];

	if ((w = calloc(1, sizeof(*w))) == NULL)
		fatal("route");
	w->d = d;
	w->dest = dest;
	dest->work = w;
	dest->rstate = RT_RESOLVING;
	if (dest->route == ROUTE_TENANT) {
		/* The tenant's servers came with the job, from queued. */
		for (i = 0; i < dest->nthosts && i < MAX_HOSTS; i++) {
			strlcpy(w->hosts[i].name, dest->thosts[i].host,
			    sizeof(w->hosts[i].name));
			w->hosts[i].port = dest->thosts[i].port;
			w->hosts[i].literal = is_literal(dest->thosts[i].host);
			w->hosts[i].tls = tenant_tls(d, dest);
		}
		w->nhosts = i;
		lookup_addrs(w);
		return;
	}
	w->filter_private = !d->conf->queue.allow_private_mx;
	len = strlen(dest->domain);
	if (len > 2 && dest->domain[0] == '[') {
		/* An address literal: that host, no DNS. */
		strlcpy(lit, dest->domain + 1, sizeof(lit));
		lit[len - 2 < sizeof(lit) ? len - 2 : sizeof(lit) - 1] = '\0';
		strlcpy(w->hosts[0].name, strncasecmp(lit, "IPv6:", 5) == 0 ?
		    lit + 5 : lit, sizeof(w->hosts[0].name));
		w->hosts[0].literal = 1;
		w->hosts[0].port = d->conf->queue.smtp_port;
		w->nhosts = 1;
		lookup_addrs(w);
		return;
	}
	for (i = 0; i < len; i++)
		if ((unsigned char)dest->domain[i] >= 0x80) {
			route_fail(w, DR_PERMFAIL, "5.1.2", "cannot look up "
			    "%s: internationalised domain names need their "
			    "A-label (xn--) form", dest->domain);
			return;
		}
	/* The policy comes while the MX records are looked up. */
	if (d->have_ca) {
		w->sts_wait = 1;
		sts_get(d, dest->domain, on_sts, w);
	}
	dns_lookup(d->dns, DNS_T_MX, dest->domain, on_mx, w);
}

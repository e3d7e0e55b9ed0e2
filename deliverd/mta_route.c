/*
 * mta_route: from a destination to the list of hops to try.
 *
 * Inbound: the tenant's inbound.deliver_to, in order.  Outbound: the MX
 * records by preference, shuffled within one preference, cut at our own
 * host name; no MX means the domain itself (implicit MX); a null MX
 * (RFC 7505) and a domain that does not exist bounce; a DNS failure
 * defers.  Each host's A and AAAA records give the hops.
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
};

struct route_work {
	struct deliverd	*d;
	struct dest	*dest;
	struct rhost	 hosts[MAX_HOSTS];
	size_t		 nhosts;
	int		 filter_private;
	size_t		 pending;
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

	for (i = 0; i < w->nhosts; i++)
		free(w->hosts[i].addrs);
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

/* Every host has its addresses: lay out the hops in order. */
static void
route_ready(struct route_work *w)
{
	struct dest	*dest = w->dest;
	struct deliverd	*d = w->d;
	size_t		 i, j, n = 0, tempfail = 0, skipped = 0;

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
	free(dest->hops);
	if ((dest->hops = calloc(n, sizeof(*dest->hops))) == NULL)
		fatal("hops");
	dest->nhops = 0;
	for (i = 0; i < w->nhosts; i++)
		for (j = 0; j < w->hosts[i].naddrs; j++) {
			struct hop *h = &dest->hops[dest->nhops++];

			strlcpy(h->host, w->hosts[i].name, sizeof(h->host));
			h->addr = w->hosts[i].addrs[j];
			h->addr.port = w->hosts[i].port;
		}
	dest->rstate = RT_READY;
	dest->resolved = time(NULL);
	work_free(w);
	dest_pump(d, dest);
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
	if (--w->pending == 0)
		route_ready(w);
}

/* A and AAAA for every host that is not a literal. */
static void
lookup_addrs(struct route_work *w)
{
	struct addr_probe	*p;
	size_t			 i;
	int			 k;

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
		for (k = 0; k < 2; k++) {
			if ((p = calloc(1, sizeof(*p))) == NULL)
				fatal("address probe");
			p->w = w;
			p->i = i;
			p->af = k == 0 ? AF_INET : AF_INET6;
			w->pending++;
			dns_lookup(w->d->dns, k == 0 ? DNS_T_A : DNS_T_AAAA,
			    h->name, on_addr, p);
		}
	}
	if (w->pending == 0)
		route_ready(w);
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
	dns_lookup(d->dns, DNS_T_MX, dest->domain, on_mx, w);
}

/*
 * policy_domain: MX, then the mail hosts' addresses (policy_domain.h).
 *
 *	MX ---- null MX ------------------------------> DOM_NULLMX
 *	 |----- NXDOMAIN ------------------------------> DOM_NXDOMAIN
 *	 |----- none (NODATA): the domain is the host --+
 *	 +----- hosts, by preference (10 at most) ------+--> A and AAAA of
 *	        each, all at once; the first routable address: DOM_OK
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "policy_domain.h"

#define HOST_QUERIES	(2 * DOMAIN_MX_MAX)

struct host_query {
	struct domain_check	*dc;
	uint64_t		 req;
};

struct domain_check {
	struct dns_client	*dns;
	char			 domain[DNS_NAME_MAX];
	uint64_t		 mx_req;
	int			 implicit;	/* no MX: the domain itself */
	struct host_query	 q[HOST_QUERIES];
	size_t			 nq;
	size_t			 pending;
	int			 tempfail;	/* some look-up failed */
	int			 addresses;	/* some address came */
	char			 bogon[128];	/* the first one, for why */
	domain_done_fn		 done;
	void			*arg;
};

const char *
domain_result_name(enum domain_result r)
{
	switch (r) {
	case DOM_OK:
		return "ok";
	case DOM_NXDOMAIN:
		return "nxdomain";
	case DOM_TEMPFAIL:
		return "tempfail";
	case DOM_NULLMX:
		return "null-mx";
	case DOM_BOGON:
		return "bogon-mx";
	}
	return "?";
}

static void
cancel_all(struct domain_check *dc)
{
	size_t i;

	if (dc->mx_req != 0)
		dns_cancel(dc->dns, dc->mx_req);
	dc->mx_req = 0;
	for (i = 0; i < dc->nq; i++)
		if (dc->q[i].req != 0)
			dns_cancel(dc->dns, dc->q[i].req);
	dc->pending = 0;
}

static void
domain_finish(struct domain_check *dc, enum domain_result r, const char *why)
{
	domain_done_fn	 done = dc->done;
	void		*arg = dc->arg;
	char		 buf[256];

	strlcpy(buf, why, sizeof(buf));
	cancel_all(dc);
	free(dc);
	done(arg, r, buf);
}

/* Every address look-up is in, and none was routable. */
static void
hosts_done(struct domain_check *dc)
{
	char why[256];

	if (dc->tempfail) {
		domain_finish(dc, DOM_TEMPFAIL, "a mail host's address look-up "
		    "failed");
		return;
	}
	if (dc->implicit && !dc->addresses) {
		domain_finish(dc, DOM_NXDOMAIN, "no MX, A or AAAA record");
		return;
	}
	if (!dc->addresses)
		snprintf(why, sizeof(why), "no mail host has an address");
	else
		snprintf(why, sizeof(why), "mail hosts at unroutable addresses "
		    "only (%s)", dc->bogon);
	domain_finish(dc, DOM_BOGON, why);
}

static void
on_address(void *arg, const struct dns_answer *ans)
{
	struct host_query	*hq = arg;
	struct domain_check	*dc = hq->dc;
	struct netaddr		 na;
	size_t			 i;

	hq->req = 0;
	dc->pending--;
	if (ans->rcode == DNS_R_TEMPFAIL)
		dc->tempfail = 1;
	for (i = 0; i < ans->nrr; i++) {
		if (ans->rr[i].type != DNS_T_A && ans->rr[i].type != DNS_T_AAAA)
			continue;
		memset(&na, 0, sizeof(na));
		na.af = ans->rr[i].type == DNS_T_A ? AF_INET : AF_INET6;
		memcpy(na.addr, ans->rr[i].addr, na.af == AF_INET ? 4 : 16);
		dc->addresses = 1;
		if (!netaddr_is_private(&na)) {
			domain_finish(dc, DOM_OK, "a routable mail host");
			return;
		}
		if (dc->bogon[0] == '\0')
			netaddr_format(&na, dc->bogon, sizeof(dc->bogon));
	}
	if (dc->pending == 0)
		hosts_done(dc);
}

static void
ask_host(struct domain_check *dc, const char *host)
{
	static const uint32_t types[] = { DNS_T_A, DNS_T_AAAA };
	size_t i;

	for (i = 0; i < 2 && dc->nq < HOST_QUERIES; i++) {
		dc->q[dc->nq].dc = dc;
		dc->q[dc->nq].req = dns_lookup(dc->dns, types[i], host,
		    on_address, &dc->q[dc->nq]);
		dc->nq++;
		dc->pending++;
	}
}

static int
domain_mx_cmp(const void *a, const void *b)
{
	const struct dns_rr *x = *(const struct dns_rr *const *)a;
	const struct dns_rr *y = *(const struct dns_rr *const *)b;

	return (int)x->pref - (int)y->pref;
}

static void
domain_on_mx(void *arg, const struct dns_answer *ans)
{
	struct domain_check	*dc = arg;
	const struct dns_rr	*mx[DNS_MAX_RR];
	size_t			 i, n = 0;

	dc->mx_req = 0;
	switch (ans->rcode) {
	case DNS_R_TEMPFAIL:
		domain_finish(dc, DOM_TEMPFAIL, "the MX look-up failed");
		return;
	case DNS_R_NXDOMAIN:
		domain_finish(dc, DOM_NXDOMAIN, "no such domain");
		return;
	case DNS_R_NODATA:
		dc->implicit = 1;
		ask_host(dc, dc->domain);
		return;
	case DNS_R_OK:
		break;
	}
	for (i = 0; i < ans->nrr; i++)
		if (ans->rr[i].type == DNS_T_MX)
			mx[n++] = &ans->rr[i];
	/* RFC 7505: the one MX, preference 0, the root as its host. */
	if (n == 1 && mx[0]->pref == 0 && mx[0]->name[0] == '\0') {
		domain_finish(dc, DOM_NULLMX, "null MX");
		return;
	}
	qsort(mx, n, sizeof(mx[0]), domain_mx_cmp);
	for (i = 0; i < n && dc->nq < HOST_QUERIES; i++)
		if (mx[i]->name[0] != '\0')
			ask_host(dc, mx[i]->name);
	if (dc->nq == 0) {
		dc->implicit = 1;
		ask_host(dc, dc->domain);
	}
}

struct domain_check *
domain_check_start(struct dns_client *dns, const char *domain,
    domain_done_fn done, void *arg)
{
	struct domain_check *dc;

	if ((dc = calloc(1, sizeof(*dc))) == NULL)
		return NULL;
	if (strlcpy(dc->domain, domain, sizeof(dc->domain)) >=
	    sizeof(dc->domain)) {
		free(dc);
		return NULL;
	}
	dc->dns = dns;
	dc->done = done;
	dc->arg = arg;
	dc->mx_req = dns_lookup(dns, DNS_T_MX, domain, domain_on_mx, dc);
	return dc;
}

void
domain_check_cancel(struct domain_check *dc)
{
	if (dc == NULL)
		return;
	cancel_all(dc);
	free(dc);
}

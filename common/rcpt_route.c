/*
 * rcpt_route: recipient classification, shared by smtpd and queued.
 */
#include <string.h>
#include <strings.h>

#include "idn.h"
#include "rcpt_route.h"

int
rcpt_is_operator(const struct conf *conf, const struct mailaddr *ma)
{
	const char	*at;
	size_t		 llen;

	if (conf->postmaster == NULL ||
	    (at = strrchr(conf->postmaster, '@')) == NULL)
		return 0;
	llen = (size_t)(at - conf->postmaster);
	return strlen(ma->local) == llen &&
	    strncmp(ma->local, conf->postmaster, llen) == 0 &&
	    strcasecmp(ma->domain, at + 1) == 0;
}

static void
set(struct rcpt_route *rr, const struct tenant_conf *t, enum direction dir,
    enum route_kind route, const char *domain)
{
	rr->tenant = t;
	rr->dir = dir;
	rr->route = route;
	strlcpy(rr->domain, domain, sizeof(rr->domain));
}

enum rcpt_route_result
rcpt_route(const struct conf *conf, const struct tenant_conf *client,
    const struct mailaddr *ma, struct rcpt_route *rr)
{
	const struct tenant_conf	*t;
	char				 dom[MAILADDR_DOMAIN_MAX + 1];

	memset(rr, 0, sizeof(*rr));
	if (ma->literal) {
		if (client == NULL)
			return RR_DENIED;
		set(rr, client, DIR_OUTBOUND, ROUTE_MX, ma->domain);
		return RR_OK;
	}
	if (idn_to_alabel(ma->domain, dom, sizeof(dom)) == -1)
		return RR_BAD_IDN;
	if ((t = conf_domain_tenant(conf, dom)) != NULL) {
		set(rr, t, DIR_INBOUND, ROUTE_TENANT, dom);
		return RR_OK;
	}
	if (rcpt_is_operator(conf, ma)) {
		set(rr, NULL, DIR_OUTBOUND, ROUTE_MX, dom);
		return RR_OK;
	}
	if (client == NULL)
		return RR_DENIED;
	set(rr, client, DIR_OUTBOUND, ROUTE_MX, dom);
	return RR_OK;
}

/*
 * rcpt_route: for which tenant a recipient is, in which direction and by
 * which route.  The one classification of the design: smtpd applies it
 * at RCPT, with its own checks on top (recipient lists, routing local
 * parts, literals' addresses), and queued applies it again to every
 * envelope smtpd hands it, from its own configuration and the client's
 * address, rather than take smtpd's word.
 *
 *   1. an address literal: outbound for the client's tenant, if any;
 *   2. relayd.yaml's postmaster (where smtpd puts the operator's mail):
 *      the tenant owning its domain, else the operator, by MX;
 *   3. a domain of a tenant (A-labels): inbound for that tenant;
 *   4. anything else: outbound for the client's tenant, if any.
 * A client in no tenant's outbound.networks may not relay (denied).
 */
#ifndef RELAYD_RCPT_ROUTE_H
#define RELAYD_RCPT_ROUTE_H

#include "config.h"
#include "envelope.h"
#include "mailaddr.h"

struct rcpt_route {
	const struct tenant_conf *tenant;	/* NULL: the operator */
	enum direction		 dir;
	enum route_kind		 route;
	char			 domain[MAILADDR_DOMAIN_MAX + 1];
};

enum rcpt_route_result {
	RR_OK,
	RR_DENIED,		/* relaying is not allowed */
	RR_BAD_IDN		/* a domain that is not valid IDNA2008 */
};

/* The domain is routed as its A-labels; the address is not rewritten. */
enum rcpt_route_result rcpt_route(const struct conf *,
	    const struct tenant_conf *client, const struct mailaddr *,
	    struct rcpt_route *);
/* Is this address relayd.yaml's postmaster? */
int	 rcpt_is_operator(const struct conf *, const struct mailaddr *);

#endif

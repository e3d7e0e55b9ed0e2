/*
 * smtp_relay: who may send to whom.  Never an open relay.
 *
 * A recipient in a tenant's domains (or their subdomains, where the tenant
 * says so) is inbound mail for that tenant; anything else is accepted only
 * from a client inside a tenant's outbound.networks, as outbound mail for
 * that tenant.  The destination is decided by the domain alone and never
 * rewritten, so routing tricks in the local part (%, !, a quoted @) are
 * refused from outside.  Decided from the configuration slice, with no
 * round trip.
 *
 * postmaster and abuse at the relay's own name or at an address literal
 * of one of its own addresses go to the operator (relayd.yaml's
 * postmaster), from anyone; at a tenant's domain, to the tenant, which
 * need not list them.
 */
#ifndef RELAYD_SMTP_RELAY_H
#define RELAYD_SMTP_RELAY_H

#include "config.h"
#include "envelope.h"
#include "mailaddr.h"
#include "netaddr.h"

struct smtp_reply;
struct relay;

struct relay_verdict {
	const struct tenant_conf *tenant;	/* NULL: the operator */
	enum direction	 dir;
	enum route_kind	 route;
	char		 domain[MAILADDR_DOMAIN_MAX + 1];
	char		 addr[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];
};

struct relay *relay_build(const struct conf *);
void	 relay_free(struct relay *);
/* The tenant whose outbound.networks hold this client, or NULL. */
const struct tenant_conf *relay_client_tenant(const struct relay *,
	    const struct netaddr *);
/* 0: accepted, *v filled; -1: refused, *err filled. */
int	 relay_rcpt(const struct relay *, const struct tenant_conf *client,
	    const struct netaddr *local, const struct mailaddr *,
	    int bare_postmaster, struct relay_verdict *v,
	    struct smtp_reply *err);

#endif

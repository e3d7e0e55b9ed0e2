/*
 * policy_domain: does a mail domain exist and take mail (policy_domain.c).
 *
 * MX first: a null MX (RFC 7505: one MX of preference 0 and host ".")
 * takes no mail; otherwise the addresses (A and AAAA) of up to
 * DOMAIN_MX_MAX hosts in preference order, or of the domain itself when
 * it has no MX (RFC 5321 5.1).  A domain none of whose mail hosts has an
 * address outside loopback, private, link-local, multicast and other
 * unroutable ranges (netaddr_is_private) is a bogon: mail to it could not
 * be answered.  Every look-up goes through dnsd.
 */
#ifndef RELAYD_POLICY_DOMAIN_H
#define RELAYD_POLICY_DOMAIN_H

#include "dns_client.h"

#define DOMAIN_MX_MAX	10

enum domain_result {
	DOM_OK,			/* a routable mail host */
	DOM_NXDOMAIN,		/* no such domain, or no MX, A nor AAAA */
	DOM_TEMPFAIL,		/* a look-up failed: try again later */
	DOM_NULLMX,		/* RFC 7505 */
	DOM_BOGON		/* mail hosts only at unroutable addresses */
};

struct domain_check;
typedef void (*domain_done_fn)(void *arg, enum domain_result,
	    const char *why);

/*
 * Start the check; done runs once, never from inside domain_check_start,
 * with a short reason for the log ("MX mx.example. at 10.0.0.1 only").
 * NULL: out of memory.
 */
struct domain_check *domain_check_start(struct dns_client *,
	    const char *domain, domain_done_fn, void *arg);
/* Cancel: done never runs. */
void	 domain_check_cancel(struct domain_check *);
const char *domain_result_name(enum domain_result);

#endif

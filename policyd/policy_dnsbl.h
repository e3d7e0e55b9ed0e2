/*
 * policy_dnsbl: DNS block and allow lists, the postscreen model
 * (policy_dnsbl.c).
 *
 * At connect, one look-up per zone that any tenant with dnsbl enabled
 * uses (its own lists, or else the operator's: conf_dnsbl_lists), all in
 * parallel through dnsd and its cache: the client's address reversed
 * (IPv4 octets; IPv6 nibbles) under the zone, type A.  Each tenant then
 * scores the answers with its own lists: the weight of every list whose
 * answer matches (any 127.0.0.0/8 answer, or one of the list's
 * `answers`), summed; a score at or over the threshold lists the client.
 * Answers in 127.255.255.0/24 are the lists' own error codes (a public
 * resolver refused, a quota ran out): logged, scored 0.  A list that
 * failed (TEMPFAIL) scores 0 too: a broken list never refuses mail.
 */
#ifndef RELAYD_POLICY_DNSBL_H
#define RELAYD_POLICY_DNSBL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dns_client.h"
#include "netaddr.h"

#define DNSBL_FACTS_MAX	512	/* the facts for a log line */

struct dnsbl_lookup;
typedef void (*dnsbl_done_fn)(void *arg);

/*
 * Start the look-ups of every zone in use under conf for the client.
 * NULL when no tenant uses a list (nothing to wait for).  done runs once,
 * when every answer is in, never from inside dnsbl_start.
 */
struct dnsbl_lookup *dnsbl_start(struct dns_client *, const struct conf *,
	    const struct netaddr *, dnsbl_done_fn, void *arg);
int	 dnsbl_done(const struct dnsbl_lookup *);
/*
 * Also run fn(arg) at each answer before the last (done's), so that a
 * tenant whose own lists have answered need not wait for another's.
 */
void	 dnsbl_each_answer(struct dnsbl_lookup *, dnsbl_done_fn);
/* Are the tenant's own lists answered (or not looked up)? */
int	 dnsbl_done_for(const struct dnsbl_lookup *, const struct conf *,
	    const struct tenant_conf *);
/* Cancel what is out, and free. */
void	 dnsbl_free(struct dnsbl_lookup *);

struct dnsbl_score {
	int32_t		 score;
	int		 listed;	/* score >= the tenant's threshold */
	char		 list[256];	/* the zone of the heaviest hit */
	char		 facts[DNSBL_FACTS_MAX];	/* "zone=127.0.0.2(+1)
						   zone2=none ..." */
};

/* The tenant's verdict from answers that are all in (dnsbl_done). */
void	 dnsbl_score(const struct dnsbl_lookup *, const struct conf *,
	    const struct tenant_conf *, struct dnsbl_score *);

/* The i-th zone's answer, one line: 0, or -1 past the last. */
int	 dnsbl_zone_line(const struct dnsbl_lookup *, size_t, char *, size_t);

/* The name to look up: the address reversed under the zone. */
int	 dnsbl_query_name(const struct netaddr *, const char *zone, char *,
	    size_t);

#endif

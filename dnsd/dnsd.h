/*
 * dnsd: the only process that speaks DNS.
 *
 * c-ares (Debian 12: 1.18), driven by the event loop and configured only
 * from what the parent sends: servers, timeout and tries, lookups "b", no
 * search domains; queries made by us and sent with ares_send (never
 * ares_search), with the DO bit when dns.dnssec is on and every server is
 * on loopback: then, and only then, an answer with the AD bit is "secure"
 * (DANE relies on it; see dns_resolve.c).  Answers are parsed by us
 * (dns_parse.c) so that every record's TTL is known; the cache keeps
 * nothing longer than dns.max_ttl, negative answers for min(SOA TTL, SOA
 * MINIMUM) (RFC 2308 section 5) under the same cap, and never a time-out or
 * SERVFAIL, which are temporary failures and never "does not exist".
 * Requests for the same name and type while one is in flight share it.
 *
 * BUGS: c-ares 1.18 takes its query ids from /dev/urandom, which it opens
 * when a channel is made; dnsd's root therefore holds dev/urandom, and the
 * channels a reload may need are made before the sandbox closes.  After
 * more server changes than spare channels, the servers are changed in
 * place once no query is pending.  dns.timeout and dns.tries change only
 * at restart.  Internationalised domain names must reach dnsd in A-label
 * (xn--) form.
 */
#ifndef RELAYD_DNSD_H
#define RELAYD_DNSD_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdint.h>

#include "dns_parse.h"
#include "proc.h"

struct child;
struct conf;
struct event_base;
struct resolver;
struct dns_cache;

typedef void (*lookup_cb)(void *arg, const struct dns_answer *);

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	enum proc_id		 peer;		/* PROC_PARENT: internal */
	uint64_t		 reqid;
	lookup_cb		 cb;
	void			*arg;
};
TAILQ_HEAD(waiter_list, waiter);

struct lookup {
	RB_ENTRY(lookup)	 entry;
	uint32_t		 qtype;
	char			 name[DNS_NAME_MAX];
	struct waiter_list	 waiters;
};
RB_HEAD(lookup_tree, lookup);
int	 lookup_cmp(struct lookup *, struct lookup *);
RB_PROTOTYPE(lookup_tree, lookup, entry, lookup_cmp)

struct dnsd {
	struct child		*child;
	const struct conf	*conf;
	struct resolver		*res;
	struct dns_cache	*cache;
	struct lookup_tree	 inflight;
	uint64_t		 queries;	/* from peers, for status */
	uint64_t		 hits;
};

/* dnsd.c */
void	 dnsd_lookup(struct dnsd *, uint32_t qtype, const char *name,
	    struct waiter *);

/* dns_resolve.c */
struct resolver *resolver_new(struct event_base *);
/* Is the AD bit to be trusted: dns.dnssec, every server on loopback? */
int	 resolver_trust_ad(const struct conf *);
/* 1 when cached answers should go (servers or trust changed); 0; -1. */
int	 resolver_configure(struct resolver *, const struct conf *);
void	 resolver_query(struct resolver *, const char *name, uint16_t qtype,
	    lookup_cb, void *arg);
size_t	 resolver_pending(const struct resolver *);
/* Look-ups that ended without an answer: time-outs, SERVFAIL. */
uint64_t resolver_failures(const struct resolver *);

/* dns_cache.c */
struct dns_cache *cache_new(size_t max);
const void *cache_get(struct dns_cache *, uint32_t qtype, const char *,
	    size_t *len);
void	 cache_put(struct dns_cache *, uint32_t qtype, const char *,
	    const void *, size_t, uint32_t ttl);
void	 cache_flush(struct dns_cache *);
size_t	 cache_size(const struct dns_cache *);

/* dns_fcrdns.c */
void	 fcrdns_start(struct dnsd *, const char *ip, struct waiter *);
int	 reverse_name(const char *ip, char *buf, size_t sz);

#endif

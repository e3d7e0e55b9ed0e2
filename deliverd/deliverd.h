/*
 * deliverd: the SMTP client.  Delivers what queued hands it: inbound mail
 * to the tenant's inbound.deliver_to hosts in order, outbound mail to the
 * domain's MX hosts by preference (random within one preference; no MX
 * means the address records; a null MX, RFC 7505, bounces with 5.1.10).
 * The MX list is cut at our own host name (RFC 5321 section 5.1); MX
 * hosts on loopback, private or unroutable addresses are skipped unless
 * queue.allow_private_mx.
 *
 * Client side of PIPELINING, SIZE, 8BITMIME (a next hop without it gets
 * the message as it is: never converted), SMTPUTF8 (5.6.7 when needed and
 * missing), DSN (passed on when the next hop has it; queued acts on it
 * otherwise), CHUNKING (BDAT, when offered: no dot-stuffing at all), and
 * STARTTLS: opportunistic (a failed handshake falls back to plain text on
 * a new connection), but a must, with the certificate checked, where the
 * destination publishes DANE records (RFC 7672, with dns.dnssec) or an
 * MTA-STS policy in enforce mode (RFC 8461, with tls.ca_file), and
 * towards a tenant's own servers as its inbound.tls says (required, or
 * verify: the deliver_to name against tls.ca_file): see mta_route.c,
 * mta_tls.c and mta_sts.c.  Recipients of one message for
 * one destination share a transaction; connections are reused and run in
 * parallel within queue.max_connections_per_destination and
 * queue.max_connections.
 *
 * The next hop is not trusted.  A reply that breaks the protocol within a
 * transaction (malformed, 2xx or 3xx but 354 to DATA, an answer to the
 * end of data before all of it has left our buffers) defers what is not
 * decided with 4.5.0, and the connection is closed at once: a message the
 * next hop cannot have read is never taken for delivered, so its spool
 * file is not deleted while we may still be sending from it.
 *
 * For policyd it also asks a tenant's servers whether they know a
 * recipient (a callout: mta_callout.c), and tells it which recipients
 * their deliveries accepted, and whether the servers are up.
 *
 * BUGS: TLS is authenticated only where DANE, MTA-STS or inbound.tls
 * verify asks for it, and
 * certificates are never checked for revocation.  A TLSA base domain is
 * the MX host's name as the MX record gives it: CNAMEs are not followed
 * for it (RFC 7672 2.2.3).  MTA-STS policies are refreshed only when a
 * delivery looks at them, not ahead of their expiry.  Without CHUNKING,
 * a message holding bare LF (only possible from a tenant with
 * allow_bare_newlines) has its dots after every LF stuffed, so that no
 * next hop can mistake one message for two.  A next hop that refuses a
 * message with 5xx before it has read all of it is a protocol error too:
 * the message is deferred, not bounced, until it expires.
 */
#ifndef RELAYD_DELIVERD_H
#define RELAYD_DELIVERD_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#include "dns_parse.h"
#include "envelope.h"
#include "imsg.h"
#include "mailaddr.h"
#include "msg_deliver.h"
#include "netaddr.h"

struct callouts;
struct child;
struct conf;
struct dns_client;
struct mta_session;
struct ssl_ctx_st;
struct ssl_st;
struct sc_run;
struct sts_cache;

/* One recipient of a job and what became of it. */
struct jrcpt {
	uint32_t		 idx;		/* in the envelope */
	char			*addr;
	char			*orcpt;
	uint8_t			 notify;
	uint8_t			 result;	/* 0 until known */
	uint8_t			 rcpt_ok;	/* RCPT got 2xx */
	char			 dsn[16];
	char			*diag;
};

/* One message to one destination. */
struct job {
	TAILQ_ENTRY(job)	 entry;
	uint64_t		 id;
	uint64_t		 msgid;
	int			 fd;
	char			*sender;
	uint64_t		 size;
	int64_t			 created;
	uint8_t			 body;
	uint8_t			 smtputf8;
	uint8_t			 ret;
	char			 envid[ENVID_MAX + 1];
	uint32_t		 flags;
	uint8_t			 route;
	char			 tenant[TENANT_MAX + 1];
	char			*domain;
	char			 key[ROUTE_KEY_MAX];	/* queued's */
	struct hostport		 thosts[ROUTE_HOSTS_MAX]; /* tenant route */
	size_t			 nthosts;
	struct jrcpt		*rcpts;
	size_t			 nrcpts;
	int			 complete;	/* M_D_JOB_GO seen */
	int			 probe;		/* M_D_PROBE: no message */
	int			 fresh_retries;	/* after a reused connection */
	int			 dsn_passed;	/* the next hop took NOTIFY */
	char			 relay[400];	/* host[addr]:port last tried */
	char			 tls[16];	/* version, or "none" */
	const char		*verified;	/* dane, mta-sts, none */
	struct dest		*dest;
};
TAILQ_HEAD(job_list, job);

/* A host's usable TLSA records (DANE), shared by the hops that use them. */
struct tlsa_rec {
	uint8_t			 usage;
	uint8_t			 selector;
	uint8_t			 mtype;
	uint8_t			*data;
	size_t			 len;
};
struct tlsa_set {
	int			 refs;
	size_t			 n;
	struct tlsa_rec		 r[];
};

/* What a hop's certificate must prove, and whether TLS is a must. */
enum hop_tls {
	HT_OPPORTUNISTIC,	/* TLS if offered, any certificate */
	HT_DANE,		/* usable TLSA records: they must match */
	HT_DANE_ENCRYPT,	/* TLSA records, none usable: TLS, no check */
	HT_DANE_FAIL,		/* TLSA look-up failed: not this host */
	HT_STS_ENFORCE,		/* MTA-STS enforce: PKIX, MX name */
	HT_STS_TESTING,		/* MTA-STS testing: only logged */
	HT_REQUIRED,		/* inbound.tls required: TLS, no check */
	HT_VERIFY		/* inbound.tls verify: PKIX, the host's name */
};

/* A next hop to try: a host name and one of its addresses. */
struct hop {
	char			 host[DNS_NAME_MAX];
	struct netaddr		 addr;		/* with the port */
	enum hop_tls		 tls;
	struct tlsa_set		*tlsa;		/* HT_DANE: a ref */
};

enum route_state {
	RT_NONE,		/* not resolved yet */
	RT_RESOLVING,
	RT_READY,		/* hops[] is the list to try */
	RT_FAILED		/* fail jobs with fail_* */
};

/* Where jobs of one route key go, and the connections that carry them. */
struct dest {
	RB_ENTRY(dest)		 entry;
	char			 key[ROUTE_KEY_MAX];	/* as queued named it */
	uint8_t			 route;
	char			 tenant[TENANT_MAX + 1];
	char			 domain[MAILADDR_DOMAIN_MAX + 1];
	struct hostport		 thosts[ROUTE_HOSTS_MAX]; /* tenant route */
	size_t			 nthosts;
	unsigned		 hosts_gen;	/* thosts changed */
	struct job_list		 jobs;		/* waiting for a connection */
	unsigned		 nsessions;
	int			 pumping;	/* in dest_pump: kept */
	LIST_HEAD(, mta_session) idle;
	enum route_state	 rstate;
	struct hop		*hops;
	size_t			 nhops;
	time_t			 resolved;
	int			 fail_result;	/* RT_FAILED: DR_* */
	char			 fail_dsn[16];
	char			 fail_text[256];
	int			 pending_dns;	/* outstanding look-ups */
	struct route_work	*work;		/* while resolving */
};
RB_HEAD(dest_tree, dest);
int	 dest_cmp(struct dest *, struct dest *);
RB_PROTOTYPE(dest_tree, dest, entry, dest_cmp)

struct deliverd {
	struct child		*child;
	const struct conf	*conf;
	struct dns_client	*dns;
	struct ssl_ctx_st	*ssl_ctx;
	int			 have_ca;	/* ssl_ctx has CAs */
	struct sts_cache	*sts;		/* mta_sts.c */
	struct callouts		*callouts;	/* mta_callout.c */
	struct dest_tree	 dests;
	unsigned		 nsessions;
	size_t			 njobs;		/* each holds a spool file */
	size_t			 fd_limit;	/* RLIMIT_NOFILE as we got it */
	struct job_list		 incoming;	/* not complete yet */
	struct sc_run		*selfcheck;	/* selfcheck.c */
	uint64_t		 sessions_total;	/* connections made */
	uint64_t		 delivered;	/* recipients, for status */
	uint64_t		 deferred;
	uint64_t		 bounced;
};

extern struct deliverd *deliverd_env;

/* deliverd.c */
unsigned deliverd_max_sessions(const struct deliverd *);
void	 job_finish(struct deliverd *, struct job *, int dest_state,
	    const char *error);
void	 job_fail_all(struct job *, int result, const char *dsn,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 job_free(struct deliverd *, struct job *);

/* mta_dest.c */
void	 dest_add_job(struct deliverd *, struct job *);
void	 dest_pump(struct deliverd *, struct dest *);
void	 dest_session_done(struct deliverd *, struct dest *,
	    struct mta_session *, int reusable);
void	 dest_requeue_front(struct deliverd *, struct dest *, struct job *);
void	 hops_free(struct hop *, size_t);
struct hop *hops_copy(const struct hop *, size_t);

/* mta_route.c */
void	 route_resolve(struct deliverd *, struct dest *);

/* mta_session.c */
struct evbuffer;
/* Write one command and its CRLF; fatal on a line break (who: prefix). */
void	 smtp_cmd_vwrite(struct evbuffer *, const char *who, const char *,
	    va_list) __attribute__((format(printf, 3, 0)));
struct mta_session *mta_start(struct deliverd *, struct dest *, struct job *);
void	 mta_next_job(struct mta_session *, struct job *);
void	 mta_quit(struct mta_session *);
int	 mta_quit_if_stale(struct mta_session *);
void	 mta_idle(struct mta_session *);

/* mta_callout.c: recipient callouts for policyd, and what it learns. */
void	 callouts_init(struct deliverd *);
size_t	 callouts_running(const struct deliverd *);
void	 callout_dispatch(struct deliverd *, struct imsg *);
void	 callout_learned(struct deliverd *, const char *tenant,
	    const char *addr);
void	 callout_route_state(struct deliverd *, const char *tenant, int up);

/* mta_tls.c */
struct ssl_ctx_st *tls_client_ctx(void);
void	 tls_conf(struct deliverd *, const struct conf *);
struct tlsa_set *tlsa_set_new(size_t);
struct tlsa_set *tlsa_set_ref(struct tlsa_set *);
void	 tlsa_set_unref(struct tlsa_set *);
int	 tlsa_usable(uint8_t usage, uint8_t selector, uint8_t mtype,
	    size_t len);
int	 tls_prepare(struct ssl_st *, const struct hop *,
	    const char *domain);
int	 tls_verified(struct ssl_st *, const struct hop *, const char **how,
	    char *why, size_t whysz);

/* selfcheck.c: the open-relay self-check's sessions. */
void	 selfcheck_dispatch(struct deliverd *, struct imsg *);

/* mta_sts.c: policies by domain, fetched, cached and stored by queued. */
struct sts_policy;
typedef void (*sts_cb)(void *arg, const struct sts_policy *);
void	 sts_init(struct deliverd *);
/* The policy of a domain (NULL: none); cb runs later, never inside. */
void	 sts_get(struct deliverd *, const char *domain, sts_cb, void *arg);
void	 sts_cancel(struct deliverd *, void *arg);
void	 sts_stored(struct deliverd *, struct imsg *);

/* mta_sts_fetch.c */
struct sts_fetch;
typedef void (*sts_fetch_cb)(void *arg, const struct sts_policy *,
	    const char *error);
struct sts_fetch *sts_fetch_start(struct deliverd *, const char *domain,
	    sts_fetch_cb, void *arg);

#endif

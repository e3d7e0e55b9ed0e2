/*
 * policyd: every stateful decision, taken during the SMTP dialogue.
 *
 * smtpd asks (msg_policy.h) at connect, MAIL and RCPT, only when some
 * check applies; policyd gathers the session's facts once (DNS lists from
 * the connection on, SPF and the sender's domain from MAIL on, all
 * through dnsd, in parallel) and gives each recipient its own tenant's
 * verdict, in this order: the recipient's existence (callout or learned,
 * policy_rcpt.c, through deliverd), rates, the daily volume, DNS lists,
 * the sender's domain, SPF, greylisting.  Answers go back in the order of the
 * questions; a recipient whose facts are not in yet waits for them.
 *
 * State that must outlive a restart is in the store (policy_store.c,
 * LMDB read-only, written through queued); counters are in memory
 * (policy_rate.c).  Every verdict is logged on one line with the check
 * that decided and the facts it used.
 */
#ifndef RELAYD_POLICYD_H
#define RELAYD_POLICYD_H

#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>

struct child;
struct conf;
struct dns_client;
struct event;
struct grey_wl;
struct milters;
struct imsg;
struct policy_auth;
struct policy_tests;
struct pstore;
struct rates;
struct rcpt_state;

struct psess;
RB_HEAD(psess_tree, psess);

struct policy_stats;

struct policyd {
	struct child		*child;
	struct policy_stats	*stats;		/* policy_stats.c */
	struct dns_client	*dns;
	struct policy_tests	*tests;		/* policy_test.c */
	struct pstore		*store;		/* policy_store.c */
	struct rates		*rates;		/* policy_rate.c */
	struct grey_wl		*whitelist;	/* relayctl's, in memory */
	struct rcpt_state	*rcpt;		/* policy_rcpt.c */
	struct policy_auth	*auth;		/* policy_auth.c */
	struct milters		*milters;	/* milter_scan.c */
	int			 wl_loaded;	/* read from the store */
	struct psess_tree	 sessions;	/* policy_session.c */
	size_t			 nsessions;
	struct event		*tick;		/* sweeps, once a minute */
	uint64_t		 verdicts[3];	/* pass, defer, reject */
	struct pmx		*pmx;		/* policy_metrics.c */
};

/* policy_metrics.c */
struct mx_out;
void	 pmx_verdict(struct policyd *, uint32_t qtype, const char *check,
	    int code);
void	 policy_metrics(struct child *, struct mx_out *);

/* policy_session.c */
void	 psess_dispatch(struct policyd *, struct imsg *);
void	 psess_free_all(struct policyd *);

/* policy_control.c: relayctl's greylist commands, and the whitelist. */
void	 whitelist_load(struct policyd *);
int	 whitelist_add(struct policyd *, const char *, char *err, size_t);
void	 greylist_flush(struct policyd *);
struct ctl_req;
void	 policy_control(struct policyd *, uint64_t req, const struct ctl_req *);
void	 rcpt_show_open(struct policyd *, struct imsg *,
	    const struct ctl_req *);
void	 pctl_line(struct policyd *, uint64_t req, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 pctl_done(struct policyd *, uint64_t req, const char *err);

/* policy_stats.c: refusals counted for queued's statistics. */
void	 policy_stats_init(struct policyd *);
void	 policy_stats_refused(struct policyd *, const char *tenant,
	    const char *check, int code);

#endif

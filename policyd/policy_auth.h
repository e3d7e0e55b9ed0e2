/*
 * policy_auth: SMTP AUTH against the tenants' Dovecots, the failure and
 * message rates of users, and their suspension (policy_auth.c).
 */
#ifndef RELAYD_POLICY_AUTH_H
#define RELAYD_POLICY_AUTH_H

#include <stdint.h>

struct imsg;
struct policy_auth;
struct policyd;

struct policy_auth *pauth_new(struct policyd *);
void	 pauth_dispatch(struct policy_auth *, struct imsg *);	/* smtpd */
void	 pauth_connected(struct policy_auth *, struct imsg *);	/* parent */
void	 pauth_granted(struct policy_auth *, struct imsg *);	/* queued */
void	 pauth_sweep(struct policy_auth *);
struct ctl_req;
/* relayctl auth suspend|resume TENANT USER. */
void	 pauth_control(struct policy_auth *, uint64_t req,
	    const struct ctl_req *);
int	 pauth_is_suspended(struct policy_auth *, const char *tenant,
	    const char *user);
#define SUSPEND_BY_RATE		1	/* auth.user_message_rate */
#define SUSPEND_BY_RELAYCTL	2	/* relayctl auth suspend */
void	 pauth_suspend(struct policy_auth *, const char *tenant,
	    const char *user, int how);
void	 pauth_revoke_user(struct policy_auth *, const char *tenant,
	    const char *user);
/* The tenant's contacts are told (M_PQ_SUSPENDED). */
void	 auth_notice_suspended(struct policyd *, const char *tenant,
	    const char *user, int by_rate);

#endif

/*
 * Messages of SMTP AUTH (57x): smtpd asks policyd, policyd asks the
 * tenant's Dovecot (policy_auth.c), tells queued the grant, and only once
 * queued has it answers smtpd.  peerid is smtpd's session id throughout.
 *
 *   smtpd                 policyd                    queued
 *   M_A_AUTH       ->     rates, suspension, Dovecot
 *                         (success:) M_A_GRANT  ->   holds it
 *                                   <-  M_A_GRANTED
 *                  <-  M_A_RESULT
 *   M_A_SENT       ->     a message went: the user's rate
 *   M_A_END        ->     the session is over: M_A_REVOKE -> queued
 *
 * M_A_AUTH     u32 seq, str tenant, str user (with its domain), str
 *              password, u8 is_v6, data[16] client, u8 is_v6, data[16]
 *              local; the password is wiped on both sides once used
 * M_A_RESULT   u32 seq, u8 AR_*, str tenant, str user
 * M_A_SENT     u32 recipients
 * M_A_END      nothing
 * M_A_GRANT    str tenant, str user: queued's source of truth for what
 *              the session may relay (queue_verify.c)
 * M_A_GRANTED  nothing
 * M_A_REVOKE   nothing: the session is over, or its user suspended
 */
#ifndef RELAYD_MSG_AUTH_H
#define RELAYD_MSG_AUTH_H

enum msg_auth {
	M_A_AUTH = 570,
	M_A_RESULT,
	M_A_SENT,
	M_A_END,
	M_A_GRANT,
	M_A_GRANTED,
	M_A_REVOKE,
	M_A_MAX
};

/* M_A_RESULT */
enum auth_result {
	AR_OK = 1,		/* 235 2.7.0 */
	AR_FAIL,		/* 535 5.7.8: wrong name or password */
	AR_SUSPENDED,		/* 535 5.7.8 too: never says why */
	AR_TEMP,		/* 454 4.7.0: Dovecot unreachable or failing */
	AR_LIMIT		/* 421 4.7.0: too many failures */
};

#endif

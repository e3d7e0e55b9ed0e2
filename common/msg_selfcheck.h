/*
 * Messages of the open-relay self-check (7xx): the parent plans a run,
 * deliverd (the one process that opens outbound SMTP connections) makes
 * the attempts, and the parent reports them (relayd/parent_selfcheck.c,
 * deliverd/selfcheck.c).  peerid is the run's id.
 *
 *   parent                          deliverd
 *   M_SC_BEGIN             ->       a run: str EHLO name, u32 seconds
 *                                   each reply may take
 *   M_SC_TARGET (1..)      ->       a listener: str address to connect
 *                                   to, u32 port, str source address to
 *                                   bind, u32 its greeting_delay
 *   M_SC_ATTEMPT (1..)     ->       str sender, str recipient
 *   M_SC_GO                ->       no payload: each attempt against
 *                                   each target, in that order, one at
 *                                   a time
 *                          <-       M_SC_RESULT, one per attempt and
 *                                   target in order: u32 target, u32
 *                                   attempt, u8 stage (SC_STAGE_*: the
 *                                   last command answered), u32 reply
 *                                   code (0: none, the session failed),
 *                                   str reply text or why it failed
 *                          <-       M_SC_DONE: no payload, the run is
 *                                   over
 *   M_SC_CANCEL            ->       no payload: the parent gave up on
 *                                   the run (a result came too late);
 *                                   ignored for a run deliverd no longer
 *                                   has
 *
 * An attempt is one SMTP session: the greeting, EHLO (HELO if refused),
 * MAIL, RCPT, then RSET and QUIT: never DATA.  A run begins only when
 * none is open; at most SC_TARGETS_MAX targets and SC_ATTEMPTS_MAX
 * attempts.  Anything else is a broken peer.
 *
 *   parent                          queued
 *   M_SC_NOTICE            ->       a plain-text notice to the operator's
 *                                   postmaster (relayd.yaml postmaster):
 *                                   str subject, str text (lines ended
 *                                   by "\n", printable ASCII, each at
 *                                   most SC_NOTICE_LINE octets)
 */
#ifndef RELAYD_MSG_SELFCHECK_H
#define RELAYD_MSG_SELFCHECK_H

#define SC_TARGETS_MAX		64
#define SC_ATTEMPTS_MAX		256
#define SC_ADDR_MAX		320	/* an address, as text */
#define SC_NOTICE_LINE		900

enum msg_selfcheck {
	M_SC_BEGIN = 750,
	M_SC_TARGET,
	M_SC_ATTEMPT,
	M_SC_GO,
	M_SC_RESULT,
	M_SC_DONE,
	M_SC_CANCEL,
	M_SC_NOTICE,
	M_SC_MAX
};

enum sc_stage {
	SC_STAGE_CONNECT = 0,	/* no greeting yet */
	SC_STAGE_GREETING,
	SC_STAGE_HELO,		/* EHLO or HELO */
	SC_STAGE_MAIL,
	SC_STAGE_RCPT,
	SC_STAGE_MAX
};

#endif

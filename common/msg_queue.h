/*
 * Messages between smtpd and queued (2xx).  peerid is smtpd's session id.
 *
 *   smtpd                        queued
 *   M_Q_CREATE          ->                    (at the first accepted RCPT)
 *                       <-  M_Q_CREATED + spool descriptor | M_Q_CREATE_FAIL
 *   (smtpd writes the message into the descriptor and closes it)
 *   M_Q_ENV_HEAD, M_Q_ENV_RCPTS (chunked), M_Q_ENV_COMMIT  ->
 *                       <-  M_Q_COMMIT_OK | M_Q_COMMIT_FAIL
 *   M_Q_ABORT           ->    the transaction failed: remove the file
 *                       <-  M_Q_STATUS    what may be accepted, when it changes
 *   M_Q_STATS           ->    refusals counted, at most once a second
 *                             (stats.h; peerid 0)
 */
#ifndef RELAYD_MSG_QUEUE_H
#define RELAYD_MSG_QUEUE_H

enum msg_queue {
	M_Q_CREATE = 200,	/* (nothing) */
	M_Q_CREATED,		/* u64 id; descriptor */
	M_Q_CREATE_FAIL,	/* u32 code, str enhanced, str text */
	M_Q_ENV_HEAD,		/* envelope_put_head */
	M_Q_ENV_RCPTS,		/* u64 id, rcpt_put (no state) as many as fit */
	M_Q_ENV_COMMIT,		/* u64 id, u64 bytes written */
	M_Q_COMMIT_OK,		/* u64 id */
	M_Q_COMMIT_FAIL,	/* u64 id, u32 code, str enhanced, str text */
	M_Q_ABORT,		/* u64 id */
	M_Q_STATUS,		/* u64 spool free bytes, u8 store full,
				   u32 n, n x (str tenant, u64 room left
				   under its spool_max), u32 m, m x str
				   tenant (new inbound mail deferred:
				   defer-all) */
	M_Q_STATS,		/* stats.h: u32 n, n x (str tenant, u8
				   counter, u32 count) */
	M_Q_MAX
};

#endif

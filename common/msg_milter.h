/*
 * Messages of the content scan through milters (7xx), on four edges.
 * smtpd asks only for a transaction whose recipients' tenants have
 * milters (content.id, the end-of-data class): other mail never waits.
 *
 *   smtpd            queued            policyd             parent
 *   (end of data, the message checked and in the spool file)
 *   M_MT_CLAIM  ->                        the file is this session's, and
 *               <-  M_MT_CLAIMED          may be read once by policyd
 *   M_MT_RCPTS, M_MT_SCAN  ----------->   the transaction
 *                     <-  M_MT_SPOOL      policyd asks for the file
 *                     ->  M_MT_SPOOL_FD   read-only, or refused
 *                                         M_MT_OPEN   -> a milter's socket
 *                                         M_MT_OPENED <- (by number only)
 *               <-------------  M_MT_EDIT  header changes (allowed ones)
 *               <-------------  M_MT_VERDICT
 *   M_MT_EDIT   ->  (each edit, before M_Q_ENV_COMMIT)
 *   M_MT_ABORT  ----------->   the session left: the scan is dropped
 *
 * smtpd -> queued (peerid: smtpd's session)
 *   M_MT_CLAIM     u64 msgid: a pending file with no envelope yet
 *   M_MT_CLAIMED   u64 msgid, u8 ok
 *   M_MT_EDIT      u64 msgid, then as from policyd
 * smtpd -> policyd (peerid: smtpd's session)
 *   M_MT_RCPTS     u64 msgid, n x str address          chunked, first
 *   M_MT_SCAN      u64 msgid, str tenant (whose milters), u8 outbound,
 *                  u8 is_v6, data[16] client, str client name ("" if
 *                  none), str helo, str sender
 *   M_MT_ABORT     u64 msgid
 * policyd -> smtpd (peerid: smtpd's session)
 *   M_MT_EDIT      u64 msgid, u64 offset, u64 length removed, data
 *                  inserted (whole header fields, CRLF-terminated)
 *   M_MT_VERDICT   u64 msgid, u8 action (MV_*), u32 code, str enhanced,
 *                  str text, str who decided (for the log)
 * policyd -> queued (peerid: policyd's scan)
 *   M_MT_SPOOL     u64 msgid, u64 smtpd's session
 *   M_MT_SPOOL_FD  u64 msgid, u8 ok; the descriptor (O_RDONLY) if ok
 * policyd -> parent (peerid: policyd's request)
 *   M_MT_OPEN      u32 configuration generation, u32 endpoint
 *                  (conf->milter_eps): never an address
 *   M_MT_OPENED    u8 MT_OPEN_*, str why; the connected socket if
 *                  MT_OPEN_OK
 *
 * A claim is consumed by the one M_MT_SPOOL it allows; the file is never
 * any other than a claimed pending one.  Edits are byte splices of the
 * header section, sorted, never reaching into the body: queued checks
 * them against the file and applies them before the body's fsync.
 */
#ifndef RELAYD_MSG_MILTER_H
#define RELAYD_MSG_MILTER_H

enum msg_milter {
	M_MT_CLAIM = 700,
	M_MT_CLAIMED,
	M_MT_RCPTS,
	M_MT_SCAN,
	M_MT_ABORT,
	M_MT_EDIT,
	M_MT_VERDICT,
	M_MT_SPOOL,
	M_MT_SPOOL_FD,
	M_MT_OPEN,
	M_MT_OPENED,
	M_MT_MAX
};

/* M_MT_VERDICT actions */
enum milter_action {
	MV_ACCEPT = 1,		/* commit (with the edits sent) */
	MV_REFUSE,		/* code, enhanced, text: 4xx or 5xx */
	MV_DISCARD,		/* 250, and the message is dropped */
	MV_QUARANTINE		/* commit, held (relayctl queue release) */
};

/* M_MT_OPENED */
#define MT_OPEN_FAIL	0	/* why says why */
#define MT_OPEN_OK	1	/* with the socket */
#define MT_OPEN_STALE	2	/* the number is of another generation */

#define MILTER_EDITS_MAX	64	/* per message */
#define MILTER_EDIT_MAX		8192	/* octets inserted by one edit */
/* A milter's replies wait at most this many timeouts for one message
 * (SMFIR_PROGRESS restarts a wait): smtpd's bound on the scan. */
#define MILTER_WAITS_MAX	10

#endif

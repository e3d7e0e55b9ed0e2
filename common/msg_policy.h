/*
 * Messages between smtpd and policyd (5xx), and policyd's writes to the
 * store through queued (55x).  For smtpd's, peerid is smtpd's session id.
 *
 *   smtpd                          policyd
 *   M_P_CONNECT          ->          the client: rates, pregreet, and the
 *                                    DNS lists start
 *                        <-  M_P_VERDICT (P_STAGE_CONNECT)
 *   M_P_MAIL             ->          a transaction: the rate, and SPF and
 *                                    the sender's domain start
 *                        <-  M_P_VERDICT (P_STAGE_MAIL)
 *   M_P_RCPT             ->          one recipient, once its facts are in
 *                        <-  M_P_VERDICT (P_STAGE_RCPT)
 *   M_P_PREGREET         ->          the client waited for the greeting,
 *                                    or talked first
 *   M_P_ACCEPTED         ->          a message was queued (volumes)
 *   M_P_END              ->          the session is over
 *
 * smtpd asks only what some check of the session or recipient needs, and
 * waits only for a verdict it must have: a relay tenant with nothing
 * enabled never waits for policyd.  policyd answers every CONNECT, MAIL
 * and RCPT, in order; smtpd drops verdicts it no longer waits for.  A
 * verdict with code 0 passes; any other code is the reply smtpd gives.
 *
 * M_P_CONNECT   u32 seq, u8 is_v6, data[16] client, u32 listener,
 *               u32 greeting delay (s), u32 pregreet_pass (s)
 * M_P_MAIL      u32 seq, str sender ("" for <>), str helo, u8 smtputf8,
 *               str the client's tenant (outbound.networks; "" if none)
 * M_P_RCPT      u32 seq, str address, str tenant, u8 direction,
 *               str routing domain
 * M_P_VERDICT   u32 seq (the question's), u8 stage, u32 code,
 *               str enhanced, str text, u8 flags, str Received-SPF field
 *               (RCPT, for a tenant with spf: tag)
 * M_P_PREGREET  u8 waited (1) or talked first (0)
 * M_P_ACCEPTED  u64 octets, u32 n, n x str tenant (inbound ones)
 * M_P_END       nothing
 *
 * policyd -> queued (peerid: a sequence number), and back:
 *
 *   M_PQ_PUT     u8 database, data key, data value: size-capped, into one
 *                of the policy databases of the store (never the queue)
 *   M_PQ_DEL     u8 database, data key
 *   M_PQ_FLUSH   u8 database: remove every entry
 *   M_PQ_DONE    queued -> policyd: u8 ok; the write numbered peerid is
 *                committed (ok), or was refused (the store is full, the
 *                database holds PDB_ENTRIES_MAX entries) or failed: the
 *                state it held is lost, which costs a greylisted retry,
 *                never a pass
 *
 *   M_PQ_VOLUME  str tenant, u64 messages, u64 octets: a recipient of the
 *                tenant was refused for its daily volume, with today's
 *                figures; sent once per tenant per (UTC) day; no answer.
 *                queued tells the tenant's contacts (a notice)
 *
 *   M_PQ_SUSPENDED  str tenant, str user, u8 by_rate: a user of the
 *                tenant was suspended (its rate, or relayctl auth
 *                suspend); no answer.  queued tells the tenant's contacts
 *
 *   M_PQ_STATS   the verdicts that refused, counted by tenant and check
 *                (stats.h), at most once a second; no answer
 *
 * Every value starts with its expiry, an i64 (seconds since the epoch,
 * big-endian): queued removes expired entries on its own, a few thousand
 * a minute, so a store nobody cleans still never grows without bound.
 */
#ifndef RELAYD_MSG_POLICY_H
#define RELAYD_MSG_POLICY_H

enum msg_policy {
	M_P_CONNECT = 500,
	M_P_MAIL,
	M_P_RCPT,
	M_P_VERDICT,
	M_P_PREGREET,
	M_P_ACCEPTED,
	M_P_END,
	M_P_MAX
};

enum msg_policy_store {
	M_PQ_PUT = 550,
	M_PQ_DEL,
	M_PQ_FLUSH,
	M_PQ_DONE,
	M_PQ_VOLUME,
	M_PQ_STATS,
	M_PQ_SUSPENDED,
	M_PQ_MAX
};

enum policy_stage {
	P_STAGE_CONNECT = 1,
	P_STAGE_MAIL = 2,
	P_STAGE_RCPT = 3
};

/* M_P_VERDICT flags */
#define PV_PREGREET_PASS	0x1	/* no greeting delay for this client */

/* The longest Received-SPF field a verdict may carry, CRLFs included. */
#define P_SPF_FIELD_MAX		4096

/* The policy databases of the store (M_PQ_*), and their limits. */
enum policy_db {
	PDB_GREYLIST = 1,	/* triplets: HMAC key -> struct grey_entry */
	PDB_AWL,		/* client networks that passed often */
	PDB_PREGREET,		/* clients that waited, or talked first */
	PDB_WHITELIST,		/* added with relayctl greylist whitelist */
	PDB_RECIPIENTS,		/* learned: tenant NUL address, in clear */
	PDB_CALLOUT,		/* callout answers: HMAC key */
	PDB_AUTHSUSPEND,	/* suspended AUTH users: SHA-256 key */
	PDB_MAX
};

/* The database's name in the store. */
static inline const char *
policy_db_name(unsigned db)
{
	switch (db) {
	case PDB_GREYLIST:
		return "greylist";
	case PDB_AWL:
		return "awl";
	case PDB_PREGREET:
		return "pregreet";
	case PDB_WHITELIST:
		return "whitelist";
	case PDB_RECIPIENTS:
		return "recipients";
	case PDB_CALLOUT:
		return "callout";
	case PDB_AUTHSUSPEND:
		return "authsuspend";
	}
	return NULL;
}

#define PDB_EXPIRY_LEN	8	/* the i64 every value starts with */
#define PDB_KEY_MAX	128
#define PDB_VAL_MAX	256
#define PDB_ENTRIES_MAX	(4u * 1024 * 1024)	/* per database */

#endif

/*
 * Messages between queued and deliverd (3xx).  peerid is queued's job id.
 *
 *   queued                         deliverd
 *   M_D_JOB + spool descriptor ->    one message to one destination
 *   M_D_JOB_RCPTS (chunked)    ->    its recipients
 *   M_D_JOB_GO                 ->    complete: deliver
 *                              <-  M_D_RESULTS (chunked): per recipient
 *                              <-  M_D_DONE: the job is over
 *
 * M_D_JOB:       u64 msgid, str sender, u64 size, i64 created, u8 body,
 *                u8 smtputf8, u8 ret, str envid, u32 flags, u8 route,
 *                str tenant, str domain, str key (the destination, as
 *                queued's scheduler groups recipients: deliverd never
 *                derives it), u32 n, n x (str host, u32 port): a tenant
 *                route's servers in order (none for an MX route)
 * M_D_JOB_RCPTS: (u32 index, str addr, str orcpt, u8 notify)*
 * M_D_RESULTS:   (u32 index, u8 result, str dsn, str diagnostic,
 *                 str relay, u8 dsn_passed)*
 * M_D_DONE:      u8 destination state (DEST_UP, DEST_DOWN), str error
 *
 * A probe of a tenant route that is down (queued/queue_probe.c): can its
 * servers be reached now?  peerid is queued's probe id, from the space of
 * its job ids.
 *
 *   M_D_PROBE      ->    u8 route (ROUTE_TENANT), str tenant, str domain,
 *                        str key, u32 n, n x (str host, u32 port): as in
 *                        M_D_JOB
 *                  <-  M_D_PROBE_DONE: u8 state (DEST_UP: a server
 *                        greeted and answered EHLO or HELO; DEST_DOWN:
 *                        none did), str relay (the one that answered, or
 *                        the last tried), str error
 *
 * MTA-STS policies (deliverd/mta_sts.c), kept in the store's "mtasts"
 * database, which only queued writes:
 *
 *   M_D_STS_POLICY ->    at queued's start, one per stored policy
 *                  <-  M_D_STS_SAVE: a policy fetched, to store
 *
 * both:          str domain, i64 expires (wall clock), data policy (opaque
 *                to queued: deliverd's own encoding)
 */
#ifndef RELAYD_MSG_DELIVER_H
#define RELAYD_MSG_DELIVER_H

#define ROUTE_KEY_MAX	300	/* "tenant:NAME" or "mx:DOMAIN" */
#define ROUTE_HOSTS_MAX	16	/* a tenant's deliver_to, in a job */
#define STS_BLOB_MAX	8192	/* a stored MTA-STS policy, encoded */

enum msg_deliver {
	M_D_JOB = 300,
	M_D_JOB_RCPTS,
	M_D_JOB_GO,
	M_D_RESULTS,
	M_D_DONE,
	M_D_STS_POLICY,
	M_D_STS_SAVE,
	M_D_PROBE,
	M_D_PROBE_DONE,
	M_D_MAX
};

enum delivery_result {
	DR_SENT = 1,		/* 2xx: done */
	DR_TEMPFAIL = 2,	/* 4xx or no connection: try again later */
	DR_PERMFAIL = 3		/* 5xx: bounce */
};

enum dest_state {
	DEST_UP = 0,		/* something was accepted */
	DEST_DOWN = 1		/* nothing got through */
};

#endif

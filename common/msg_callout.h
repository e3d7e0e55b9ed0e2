/*
 * Messages between policyd and deliverd (6xx): recipient callouts, and
 * what deliveries to a tenant's servers teach policyd.
 *
 *   policyd                        deliverd
 *   M_C_CALLOUT          ->          ask the tenant's servers, in order,
 *                                    about one address: EHLO, MAIL
 *                                    FROM:<>, RCPT TO, then RSET and QUIT,
 *                                    never DATA
 *                        <-  M_C_ANSWER: what they said, classified
 *                        <-  M_C_LEARNED: a delivery's RCPT got 2xx
 *                        <-  M_C_ROUTE: a tenant's servers went down, or
 *                            came back (sent on a change only)
 *
 * For M_C_CALLOUT and M_C_ANSWER, peerid is policyd's number for the
 * callout.  deliverd answers every callout once, within its deadline;
 * policyd gives up a little later on its own, and drops answers to
 * callouts it no longer waits for.
 *
 * M_C_CALLOUT  str tenant, str address, u32 deadline (milliseconds)
 * M_C_ANSWER   u8 class (enum callout_class), u32 code (0: none came),
 *              str enhanced code, str text (the reply, or why it failed),
 *              str relay (host[addr]:port last tried, or "")
 * M_C_LEARNED  str tenant, str address
 * M_C_ROUTE    str tenant, u8 up (1) or down (0)
 */
#ifndef RELAYD_MSG_CALLOUT_H
#define RELAYD_MSG_CALLOUT_H

enum msg_callout {
	M_C_CALLOUT = 600,
	M_C_ANSWER,
	M_C_LEARNED,
	M_C_ROUTE,
	M_C_MAX
};

/*
 * The answer to RCPT: 250 or 251 accepts; a 5xx with a 5.1.x code, or
 * with none, says the user is unknown; anything else (MAIL FROM:<>
 * refused, a 5.7.x, a 4xx, no answer, a broken reply) is a failed callout,
 * which says nothing about the user.
 */
enum callout_class {
	CALLOUT_ACCEPT = 1,
	CALLOUT_UNKNOWN = 2,
	CALLOUT_FAILED = 3
};

#define CALLOUT_ADDR_MAX	(256 + 255 + 2)	/* local@domain, NUL */

#endif

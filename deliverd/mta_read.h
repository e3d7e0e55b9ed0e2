/*
 * mta_read: one reply line at a time from the next hop (mta_read.c).
 */
#ifndef RELAYD_MTA_READ_H
#define RELAYD_MTA_READ_H

struct evbuffer;
struct mta_reply;

#define MR_BAD	(-1)	/* malformed, or a line over REPLY_LINE_MAX */
#define MR_MORE	0	/* no whole line yet */
#define MR_LINE	1	/* a line of a reply that goes on */
#define MR_DONE	2	/* the reply is complete */

int	 mta_reply_read(struct evbuffer *, struct mta_reply *);

#endif

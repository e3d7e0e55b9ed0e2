/*
 * mta_reply: SMTP replies as a client reads them, one line at a time.
 * Pure, so it can be fuzzed: the next hop is not trusted either.
 */
#ifndef RELAYD_MTA_REPLY_H
#define RELAYD_MTA_REPLY_H

#include <stddef.h>

#define REPLY_LINE_MAX	2048	/* longer lines: the peer is broken */
#define REPLY_LINES_MAX	128
#define REPLY_TEXT_MAX	512

struct mta_reply {
	int		code;		/* 0 until the first line */
	unsigned	nlines;
	char		enh[16];	/* "x.y.z" when the server gave one */
	char		text[REPLY_TEXT_MAX];	/* all lines, joined */
	const char	*line;		/* this line's text, for EHLO */
	size_t		 linelen;
};

void	 mta_reply_init(struct mta_reply *);
/* 1: the reply is complete; 0: more lines follow; -1: malformed. */
int	 mta_reply_line(struct mta_reply *, const char *, size_t);
/* "250 2.0.0 Ok: queued", for logs and bounces. */
void	 mta_reply_format(const struct mta_reply *, char *, size_t);

#endif

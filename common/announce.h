/*
 * announce: the operator's announcement to the tenants' contacts
 * (relayctl announce FILE [--role ROLE]).
 *
 * relayctl reads FILE with the caller's own rights and sends
 *
 *	announce OCTETS [role ROLE]\n
 *
 * followed by exactly OCTETS octets of text: the parent never opens a
 * path a client names.  The parent takes the text only from an
 * administrator, checks it, and passes it to queued in parts
 * (M_CTL_TEXT, msg_parent.h) before the request itself; queued checks it
 * again.  Text is UTF-8 (ASCII included), with no control character but
 * tab, LF and CR before LF, in lines of at most 998 octets, at most 64 KB.
 */
#ifndef RELAYD_ANNOUNCE_H
#define RELAYD_ANNOUNCE_H

#include <stddef.h>

#define ANNOUNCE_MAX		(64 * 1024)
#define ANNOUNCE_LINE_MAX	998	/* octets, without the line end */
#define ANNOUNCE_PART		(12 * 1024)	/* in one M_CTL_TEXT */
#define ANNOUNCE_SUBJECT_MAX	200

/* NULL when the text may be sent, else why not. */
const char	*announce_text_check(const char *, size_t);
/* A role's bit (CONTACT_*), or 0 for an unknown name. */
unsigned	 announce_role(const char *);
/*
 * The subject: the first line's after "Subject: " when it has one (its
 * length returned in *skip, with a blank line after it), else a fixed
 * one and *skip 0.
 */
void		 announce_subject(const char *, size_t, char *, size_t,
		    size_t *skip);

#endif

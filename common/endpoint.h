/*
 * endpoint: an outside service the parent connects to for policyd, named
 * the way Postfix and Dovecot name them: unix:/absolute/path, or
 * inet:ADDRESS:PORT ([v6]:port).  An IP address only: the parent, which
 * keeps root, never resolves a name for a child.
 */
#ifndef RELAYD_ENDPOINT_H
#define RELAYD_ENDPOINT_H

#include <sys/socket.h>

#define ENDPOINT_MAX	128	/* the text, with its NUL */

/* NULL with *ss and *len filled, or a static reason. */
const char *endpoint_parse(const char *, struct sockaddr_storage *ss,
	    socklen_t *len);

#endif

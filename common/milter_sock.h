/*
 * milter_sock: a milter's socket as content.milters names it, Postfix's
 * way: unix:/absolute/path or inet:ADDRESS:PORT (an IP address: the
 * parent, which opens it, never resolves a name).
 */
#ifndef RELAYD_MILTER_SOCK_H
#define RELAYD_MILTER_SOCK_H

#include <sys/socket.h>

/* NULL and *ss filled, or a static reason. */
const char *milter_sock_parse(const char *, struct sockaddr_storage *ss,
	    socklen_t *len);

#endif

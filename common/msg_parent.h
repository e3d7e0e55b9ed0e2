/*
 * Messages between the parent and any child (1xx).
 *
 * A control request (M_CTL_REQ, peerid = the parent's request id) is
 * answered with M_CTL_LINEs and one M_CTL_DONE.  A listing, which may be
 * as long as the queue, comes in parts (ctl_stream.h): each part ends
 * with M_CTL_PAUSE, and the child sends the next only when the parent
 * asks with M_CTL_MORE, which it does once relayctl has read most of what
 * it was given.  M_CTL_CANCEL tells the child relayctl has gone; a child
 * ignores M_CTL_MORE and M_CTL_CANCEL for a request it no longer has.
 */
#ifndef RELAYD_MSG_PARENT_H
#define RELAYD_MSG_PARENT_H

enum msg_parent {
	M_LOG = 100,		/* child -> parent: u8 pri, str line */
	M_VERBOSE,		/* parent -> child: u32 level */
	M_STATUS_REQ,		/* parent -> child: peerid = request */
	M_STATUS,		/* child -> parent: str state */
	M_CONF_BEGIN,		/* parent -> child: u32 generation */
	M_CONF_GLOBAL,
	M_CONF_LISTENER,	/* with the bound socket */
	M_CONF_DNS,
	M_CONF_DNS_SERVERS,	/* chunked */
	M_CONF_TENANT,
	M_CONF_TENANT_DOMAINS,	/* chunked */
	M_CONF_TENANT_ROUTES,	/* chunked */
	M_CONF_TENANT_NETS,	/* chunked */
	M_CONF_TENANT_RCPTS,	/* chunked */
	M_CONF_END,		/* u32 generation */
	M_CONF_ACK,		/* child -> parent: u32 generation */
	M_CTL_REQ,		/* parent -> child: a control request */
	M_CTL_LINE,		/* child -> parent: one line of the answer */
	M_CTL_DONE,		/* child -> parent: u8 ok, str error */
	M_CTL_PAUSE,		/* child -> parent: a part ends, more to come */
	M_CTL_MORE,		/* parent -> child: send the next part */
	M_CTL_CANCEL,		/* parent -> child: relayctl has gone */
	M_CONF_FAIL,		/* child -> parent: u32 generation not
				   applied, str why (the old one stays) */
	M_CONF_TLS,		/* parent -> deliverd: u8 has CA, with the
				   tls.ca_file descriptor when it has */
	M_PARENT_MAX
};

/* An answer's line, with its NUL, at most (the parent's buffer). */
#define CTL_TEXT_MAX	1024

#define M_IS_CONF(t)	(((t) >= M_CONF_BEGIN && (t) <= M_CONF_END) || \
			    (t) == M_CONF_TLS)

#endif

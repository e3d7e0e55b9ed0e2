/*
 * parent_kidmsg: what a child may say to the parent, checked before the
 * parent acts on it.
 *
 * A child may be compromised; the parent keeps root.  So a child's frame
 * is decoded here, whole, into a small struct, and anything else (an
 * unknown type, a descriptor, a field too many or too few, a priority
 * out of range) is that child's fatal error.  Text is cleaned of control
 * characters (C1 included) before it reaches a log, relayctl or a
 * terminal, and no child may log above LOG_CRIT (LOG_EMERG is written
 * on every terminal).  Pure, so it can be fuzzed (regress/fuzz/kidmsg.c).
 */
#ifndef RELAYD_PARENT_KIDMSG_H
#define RELAYD_PARENT_KIDMSG_H

#include <stdint.h>

#include "imsg.h"
#include "log.h"
#include "msg_connect.h"
#include "msg_milter.h"
#include "msg_parent.h"
#include "msg_metrics.h"
#include "msg_selfcheck.h"

#define KIDMSG_TEXT	(LOG_LINE_MAX > CTL_TEXT_MAX ? LOG_LINE_MAX : \
	CTL_TEXT_MAX)

struct kidmsg {
	uint32_t	 type;		/* M_LOG, M_STATUS, ... */
	uint64_t	 peerid;
	int		 pri;		/* M_LOG, clamped */
	int		 clamped;	/* the child asked for more */
	uint32_t	 gen;		/* M_CONF_ACK, M_MT_OPEN */
	uint32_t	 ep;		/* M_MT_OPEN: the milter's number */
	int		 ok;		/* M_CTL_DONE: 0 or 1 */
	uint32_t	 target;	/* M_SC_RESULT */
	uint32_t	 attempt;
	int		 stage;		/* SC_STAGE_* */
	int		 code;		/* 0, or 200 to 599 */
	const void	*data;		/* M_MX_SAMPLES: forwarded as is */
	size_t		 datalen;
	uint32_t	 kind;		/* M_PC_CONNECT: PC_KIND_*, tenant in
					   text */
	uint32_t	 index;
	uint32_t	 node;		/* M_RD_OPEN */
	char		 text[KIDMSG_TEXT];	/* cleaned */
};

/* 0 and *m filled, or -1 with *why: the child broke the protocol. */
int	 kidmsg_decode(const struct imsg *, struct kidmsg *, const char **why);

#endif

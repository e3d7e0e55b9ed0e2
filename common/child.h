/*
 * child: what every child process does the same way.
 *
 * Parses the arguments the parent passes, loads what libraries would read
 * lazily, drops privileges, opens its channels (parent on PROC_FD_PARENT,
 * peers after it), forwards its log to the parent, and handles the generic
 * parent messages: configuration, status, verbosity.  A child leaves when
 * a channel closes: the parent or a peer has gone, and the parent decides
 * what happens next.
 */
#ifndef RELAYD_CHILD_H
#define RELAYD_CHILD_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "config.h"
#include "config_wire.h"
#include "proc.h"

struct child;
struct ctl_streams;
struct mx_out;

struct child_ops {
	enum proc_id	 id;
	/* Before the privilege drop: load what would be read lazily. */
	void		(*preload)(struct child *);
	/* After the drop, channels open, before the first event. */
	void		(*init)(struct child *);
	/* A new configuration is complete; old is NULL the first time. */
	void		(*conf)(struct child *, struct conf *new,
			    struct conf *old);
	/* One line describing the process for `relayctl show status`. */
	void		(*status)(struct child *, char *, size_t);
	/* Its samples for a metrics scrape (metrics.h); NULL: none. */
	void		(*metrics)(struct child *, struct mx_out *);
	/* A control request (M_CTL_REQ) forwarded by the parent. */
	void		(*control)(struct child *, struct imsg *);
	/* The parent's messages of other families than msg_parent.h's
	 * (policyd's outside connections); NULL: none may come. */
	void		(*parent)(struct child *, struct imsg *);
	/* Messages from each peer; NULL where there is no edge. */
	void		(*dispatch[PROC_MAX])(struct child *, struct imsg *);
	/* Before exit, e.g. to flush pending writes. */
	void		(*shutdown)(struct child *);
	/* Load the seccomp filter only once the first configuration is in
	 * force (dnsd makes its c-ares channels then). */
	int		 sandbox_after_conf;
};

struct child {
	const struct child_ops	*ops;
	struct event_base	*base;
	struct chan		*chan[PROC_MAX];	/* [PROC_PARENT] too */
	struct conf		*conf;			/* in force */
	struct conf_rx		 rx;
	void			*state;
	struct ctl_streams	*streams;		/* ctl_stream.c */
	int			 debug;
	int			 dropped;		/* privileges dropped */
	int			 exiting;		/* in child_exit */
};

int	 child_main(int argc, char **argv, const struct child_ops *, void *);
/*
 * Send to a peer (or PROC_PARENT).  A peer that has gone makes us leave
 * with PROC_EXIT_PEER; any other failure is fatal.
 */
void	 child_send(struct child *, enum proc_id, uint32_t type,
	    uint64_t peerid, int fd, const void *, size_t);
/* The same for a password: the queued copy is wiped once written. */
void	 child_send_secret(struct child *, enum proc_id, uint32_t type,
	    uint64_t peerid, const void *, size_t);
/* Log lines to the parent, from any thread (child_log.c). */
void	 child_log_init(struct child *);
/* A peer sent what it must not: log and leave. */
void	 child_peer_broken(struct child *, enum proc_id, struct imsg *,
	    const char *why) __attribute__((noreturn));

#endif

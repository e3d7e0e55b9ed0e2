/*
 * milter: policyd's milter client, the Sendmail milter protocol version 6
 * as Postfix speaks it, run on a whole message at the end of data
 * (msg_milter.h for the flow, milter_reply.h for the frames).
 *
 *   milter_scan.c     one message: its spool file (read-only, from
 *                     queued), its header as the milters change it, the
 *                     tenant's milters one after the other, the verdict
 *   milter_session.c  one milter, one message: option negotiation,
 *                     CONNECT, HELO, MAIL, RCPT, DATA, the header, the
 *                     body in 64 KB chunks, end of body, and the replies
 *   milter_pool.c     the sockets: the parent opens them (policyd may
 *                     open none), a spare is kept per milter, and one
 *                     that cannot be reached is left alone for a while
 *
 * Parameters: each tenant's content: milters (socket, timeout,
 * on_failure), allow_header_changes, bulk_defer (relayd-tenant(5)).
 * Each reply must come within the milter's timeout; SMFIR_PROGRESS
 * starts the wait again, MILTER_WAITS_MAX times at most.
 *
 * BUGS: a connection serves one message (SMFIC_QUIT after it): libmilter
 * and rspamd do not agree on what follows SMFIC_QUIT_NC.  A milter that
 * refuses one recipient refuses the message: all its recipients were
 * accepted before the end of data, and the reply to the data is one.
 */
#ifndef RELAYD_MILTER_H
#define RELAYD_MILTER_H

#include <sys/queue.h>
#include <sys/tree.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "hdr_scan.h"
#include "milter_reply.h"
#include "netaddr.h"

struct child;
struct conf;
struct imsg;
struct bufferevent;
struct event;
struct milters;
struct mscan;
struct msess;

/* What one milter made of one message. */
enum mresult_kind {
	MR_ACCEPT,		/* accept or continue: the next milter */
	MR_REFUSE,		/* code, enh, text */
	MR_DISCARD,
	MR_FAILED		/* why: on_failure decides */
};

struct mresult {
	enum mresult_kind	 kind;
	int			 code;
	char			 enh[16];
	char			 text[MILTER_TEXT_MAX + 1];
	char			 why[160];
	int			 quarantine;
	char			 qreason[MILTER_TEXT_MAX + 1];
};

/* A header change a milter asked for at the end of the body. */
struct mchange {
	uint8_t			 cmd;		/* SMFIR_ADDHEADER ... */
	uint32_t		 index;
	char			*name;
	char			*value;
	size_t			 vlen;
	int			 leadspc;	/* SMFIP_HDR_LEADSPC */
};

/* milter_pool.c */
struct mpool;
struct mpool *mpool_new(struct child *);
void	 mpool_free(struct mpool *);
void	 mpool_conf(struct mpool *, const struct conf *, uint32_t gen);
/*
 * A connection to the milter at socket for ms: 0 and *fd now, 1 when ms waits
 * (msess_connected or msess_unreachable comes later), or -1 with why
 * (the milter is left alone after failures).
 */
int	 mpool_get(struct mpool *, const char *socket, struct msess *,
	    int *fd, char *why, size_t);
void	 mpool_cancel(struct mpool *, struct msess *);
void	 mpool_opened(struct mpool *, struct imsg *);
void	 mpool_status(struct mpool *, char *, size_t);

/* milter_session.c */
struct msess *msess_new(struct mscan *, const struct milter_conf *);
void	 msess_start(struct msess *);
void	 msess_free(struct msess *);
void	 msess_connected(struct msess *, int fd);
void	 msess_unreachable(struct msess *, const char *why);
TAILQ_HEAD(msess_list, msess);
/* A pool's waiters: linked to one list at a time. */
void	 msess_link(struct msess_list *, struct msess *);
void	 msess_unlink(struct msess *);

/* milter_scan.c: what sessions need of their message. */
struct scan_view {
	const char	*hostname;	/* ours */
	const char	*qid;
	const char	*client_name;
	const char	*client_addr;
	int		 client_v6;
	const char	*helo;
	const char	*sender;
	char * const	*rcpts;
	size_t		 nrcpts;
};
void	 scan_view(const struct mscan *, struct scan_view *);
struct mpool *scan_pool(const struct mscan *);
struct event_base *scan_base(const struct mscan *);
size_t	 scan_nfields(const struct mscan *);
/* Field i as it stands: its octets, "Name: value CRLF ...". */
void	 scan_field(const struct mscan *, size_t i, const uint8_t **,
	    size_t *, size_t *nlen);
/* The body: up to len octets at off; 0 at its end, -1 on error. */
ssize_t	 scan_body(const struct mscan *, uint64_t off, uint8_t *, size_t);
void	 scan_milter_done(struct mscan *, struct mresult *,
	    struct mchange *, size_t);

/* milter_scan.c: policyd's side. */
struct milters *milters_new(struct child *);
void	 milters_free(struct milters *);
void	 milters_conf(struct milters *, const struct conf *, uint32_t gen);
void	 milters_from_smtpd(struct milters *, struct imsg *);
void	 milters_from_queued(struct milters *, struct imsg *);
void	 milters_from_parent(struct milters *, struct imsg *);
void	 milters_status(struct milters *, char *, size_t);

#endif

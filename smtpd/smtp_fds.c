/*
 * smtp_fds: smtpd's descriptor budget, so that running out of descriptors
 * costs a client a 4xx and never costs the relay its life.
 *
 * Each session is counted as two descriptors, its socket and the spool
 * file it holds or has asked for (one at a time), so an admitted session
 * always has room for its file; spares, and files on their way for
 * sessions that left (orphans), count one each.  Against that stands our
 * real limit (getrlimit at start: the parent may have given us less than
 * the configuration needs) less a reserve for stdio, channels, the event
 * loop and the listeners.  Near the limit a new client gets 421 4.3.2 and
 * is closed, and no spare is asked for; a transaction that cannot have a
 * file gets 451 4.3.2 at DATA or BDAT and the session goes on.
 *
 * If accept fails anyway (EMFILE, ENFILE), the client would wait in the
 * backlog without a word: we close a reserve descriptor, accept, answer
 * 421 4.3.2, close, and take the reserve again.  An episode is logged
 * when it starts and when it ends, never per connection.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "fdneed.h"
#include "log.h"
#include "smtpd.h"

#define FDS_RESERVE		FD_MARGIN	/* plus 2 per listener */
#define FDS_REFUSE_BATCH	64	/* EMFILE refusals per callback */

void
fds_init(struct smtpd *sd)
{
	struct fds *f = &sd->fds;

	f->limit = fd_limit();
	f->reserve = fcntl(chan_fd(sd->child->chan[PROC_PARENT]),
	    F_DUPFD_CLOEXEC, 0);
	if (f->reserve == -1)
		log_warn("no reserve descriptor");
	log_debug("descriptor limit %zu", f->limit);
}

/* What the budget allows besides the reserve. */
static size_t
fds_avail(const struct smtpd *sd)
{
	size_t reserve = FDS_RESERVE + 2 * sd->nlisteners;

	return sd->fds.limit > reserve ? sd->fds.limit - reserve : 0;
}

static size_t
fds_used(const struct smtpd *sd)
{
	return 2 * (size_t)sd->nsessions + sd->spares.pool.n +
	    sd->spares.asked + sd->fds.orphans;
}

/* Would extra more descriptors take us over the budget? */
static int
fds_over(const struct smtpd *sd, size_t extra)
{
	return fds_used(sd) + extra > fds_avail(sd);
}

/* Start of an episode: say so once. */
static void
fds_short(struct smtpd *sd, const char *why)
{
	struct smtp_reply r;

	if (sd->fds.short_now)
		return;
	sd->fds.short_now = 1;
	reply_set(&r, R_TOO_BUSY);
	log_warnx("out of descriptors (%s): new connections get %d %s "
	    "(%u sessions, %zu spare files, limit %zu)", why, r.code, r.enh,
	    sd->nsessions, sd->spares.pool.n, sd->fds.limit);
}

/*
 * Within the budget, with every session counted (a new one included)?
 * Asked before a session stays and before a transaction asks for a file.
 */
int
fds_room(struct smtpd *sd)
{
	if (!fds_over(sd, 0))
		return 1;
	fds_short(sd, "budget");
	return 0;
}

/* A spare, only while another session would still fit. */
int
fds_room_spare(const struct smtpd *sd)
{
	return !sd->fds.short_now && !fds_over(sd, 1 + 2);
}

/* A descriptor we were sent could not be received. */
void
fds_lost(struct smtpd *sd)
{
	fds_short(sd, "a spool file was lost in transit");
}

/* Something was released: does the episode end? */
void
fds_released(struct smtpd *sd)
{
	size_t avail = fds_avail(sd), slack = avail / 8;

	if (!sd->fds.short_now || fds_used(sd) + 2 + slack > avail)
		return;
	sd->fds.short_now = 0;
	log_info("descriptors available again (%u sessions, limit %zu)",
	    sd->nsessions, sd->fds.limit);
}

/*
 * accept failed for want of a descriptor.  Free the reserve to answer the
 * clients waiting in the backlog; 0 when done, -1 when we cannot (no
 * reserve) and accepting must pause instead.
 */
int
fds_refuse_backlog(struct smtpd *sd, int lfd, int err)
{
	struct fds	*f = &sd->fds;
	struct smtp_reply r;
	char		 line[REPLY_LINE_MAX];
	int		 fd, i, n;

	fds_short(sd, strerror(err));
	/* As session_close says it. */
	reply_closing(&r, R_TOO_BUSY, sd->conf->hostname);
	if ((n = reply_line(&r, line, sizeof(line))) == -1)
		fatalx("a %d reply does not fit a line", r.code);
	for (i = 0; i < FDS_REFUSE_BATCH; i++) {
		if (f->reserve == -1)
			return -1;
		close(f->reserve);
		f->reserve = -1;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1)
			err = errno;
		else {
			/* A fresh socket's buffer takes one line. */
			if (write(fd, line, (size_t)n) != n)
				log_debug("%d to a refused client: %s",
				    r.code, strerror(errno));
			close(fd);
		}
		f->reserve = fcntl(chan_fd(sd->child->chan[PROC_PARENT]),
		    F_DUPFD_CLOEXEC, 0);
		if (fd == -1)
			break;
	}
	/* The backlog is empty, or more wait for the next turn. */
	if (f->reserve == -1 || (i < FDS_REFUSE_BATCH && err != EAGAIN &&
	    err != EWOULDBLOCK && err != ECONNABORTED && err != EINTR))
		return -1;
	return 0;
}

/*
 * smtp_spares: spool files made ahead of need.  queued makes a few empty
 * files before anyone asks, so that a transaction takes one at its first
 * recipient and the 354 costs no round trip; one that ends before its
 * data puts its file back untouched instead of having it removed.
 *
 * Spares are asked for with peer id 0 (sessions start at 1).  While
 * queued cannot make files (a full disk), one request at a time is out;
 * near the descriptor limit none is (smtp_fds.c).
 */
#include <unistd.h>

#include "msg_queue.h"
#include "smtpd.h"

void
spares_top_up(struct smtpd *sd)
{
	struct spares *sp = &sd->spares;

	while (sp->pool.n + sp->asked < SPARES_MAX &&
	    !(sp->failing && sp->asked > 0) && fds_room_spare(sd)) {
		sp->asked++;
		smtpd_send_queue(sd, M_Q_CREATE, 0, -1, NULL, 0);
	}
}

int
spare_take(struct smtpd *sd, uint64_t *id, int *fd)
{
	return fdpool_take(&sd->spares.pool, id, fd);
}

/* An empty file back to the pool; -1 when the pool is full. */
int
spare_put(struct smtpd *sd, uint64_t id, int fd)
{
	return fdpool_put(&sd->spares.pool, id, fd);
}

/* queued answered a request for a spare. */
void
spare_made(struct smtpd *sd, uint64_t id, int fd)
{
	if (sd->spares.asked > 0)
		sd->spares.asked--;
	sd->spares.failing = 0;
	if (spare_put(sd, id, fd) == -1) {
		close(fd);
		queue_give_back(sd, 0, id);
	}
}

void
spare_failed(struct smtpd *sd)
{
	if (sd->spares.asked > 0)
		sd->spares.asked--;
	sd->spares.failing = 1;
}

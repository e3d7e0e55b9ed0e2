/* smtpd: placeholder until the SMTP server lands. */
#include <unistd.h>

#include "child.h"
#include "log.h"

static void
from_peer(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_QUEUED, imsg, "unexpected message");
}

static const struct child_ops smtpd_ops = {
	.id = PROC_SMTPD,
	.dispatch = { [PROC_QUEUED] = from_peer, [PROC_POLICYD] = from_peer,
	    [PROC_DNSD] = from_peer },
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &smtpd_ops, NULL);
}

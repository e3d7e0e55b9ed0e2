/* queued: placeholder until the SMTP server lands. */
#include <unistd.h>

#include "child.h"
#include "log.h"

static void
from_peer(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_SMTPD, imsg, "unexpected message");
}

static const struct child_ops queued_ops = {
	.id = PROC_QUEUED,
	.dispatch = { [PROC_SMTPD] = from_peer, [PROC_POLICYD] = from_peer,
	    [PROC_DELIVERD] = from_peer },
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &queued_ops, NULL);
}

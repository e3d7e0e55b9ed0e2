/*
 * dnsd: see DESIGN.md.  At this stage it starts, drops privileges, opens its
 * channels and answers the parent; later work fills in its role.
 */
#include <unistd.h>

#include "child.h"
#include "log.h"

static void
from_smtpd(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_SMTPD, imsg, "unexpected message");
}

static void
from_deliverd(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_DELIVERD, imsg, "unexpected message");
}

static void
from_policyd(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_POLICYD, imsg, "unexpected message");
}

static const struct child_ops dnsd_ops = {
	.id = PROC_DNSD,
	.dispatch = { [PROC_SMTPD] = from_smtpd, [PROC_DELIVERD] = from_deliverd, [PROC_POLICYD] = from_policyd },
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &dnsd_ops, NULL);
}

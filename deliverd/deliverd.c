/*
 * deliverd: see DESIGN.md.  At this stage it starts, drops privileges, opens its
 * channels and answers the parent; later work fills in its role.
 */
#include <unistd.h>

#include "child.h"
#include "log.h"

static void
from_queued(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_QUEUED, imsg, "unexpected message");
}

static void
from_dnsd(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_DNSD, imsg, "unexpected message");
}

static const struct child_ops deliverd_ops = {
	.id = PROC_DELIVERD,
	.dispatch = { [PROC_QUEUED] = from_queued, [PROC_DNSD] = from_dnsd },
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &deliverd_ops, NULL);
}

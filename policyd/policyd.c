/*
 * policyd: see DESIGN.md.  At this stage it starts, drops privileges, opens its
 * channels and answers the parent, and relayctl's test commands
 * (policy_test.c); later work fills in its role.
 */
#include <unistd.h>

#include "child.h"
#include "dns_client.h"
#include "log.h"
#include "policy_test.h"

struct policyd {
	struct dns_client	*dns;
	struct policy_tests	*tests;
};

static struct policyd policyd;

static void
from_smtpd(struct child *c, struct imsg *imsg)
{
	if (imsg->fd != -1)
		close(imsg->fd);
	child_peer_broken(c, PROC_SMTPD, imsg, "unexpected message");
}

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
	struct policyd *pd = c->state;

	dns_client_dispatch(pd->dns, imsg);
}

static void
policyd_init(struct child *c)
{
	struct policyd *pd = c->state;

	pd->dns = dns_client_new(c);
	pd->tests = policy_tests_new(c, pd->dns);
}

static void
policyd_control(struct child *c, struct imsg *imsg)
{
	struct policyd *pd = c->state;

	policy_tests_control(pd->tests, imsg);
}

static const struct child_ops policyd_ops = {
	.id = PROC_POLICYD,
	.init = policyd_init,
	.control = policyd_control,
	.dispatch = { [PROC_SMTPD] = from_smtpd, [PROC_QUEUED] = from_queued, [PROC_DNSD] = from_dnsd },
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &policyd_ops, &policyd);
}

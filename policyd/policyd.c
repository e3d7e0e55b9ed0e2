/*
 * policyd: the process (policyd.h).  Its messages: smtpd's questions
 * (policy_session.c), queued's answers to its writes (policy_store.c),
 * dnsd's answers (dns_client), deliverd's callouts and what deliveries
 * learned (policy_rcpt.c), and relayctl's commands from the parent
 * (policy_control.c, policy_test.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "clock.h"
#include "control_req.h"
#include "dns_client.h"
#include "log.h"
#include "msg_auth.h"
#include "msg_connect.h"
#include "milter.h"
#include "msg_milter.h"
#include "msg_policy.h"
#include "policy_auth.h"
#include "msg_redis.h"
#include "policy_greylist.h"
#include "policy_rate.h"
#include "policy_rcpt.h"
#include "policy_store.h"
#include "policy_test.h"
#include "policyd.h"

#define TICK		60	/* seconds between two sweeps */

static struct policyd policyd;

static void
from_smtpd(struct child *c, struct imsg *imsg)
{
	struct policyd *pd = c->state;

	if (imsg->hdr.type >= M_A_AUTH && imsg->hdr.type < M_A_MAX) {
		if (imsg->fd != -1)
			close(imsg->fd);
		pauth_dispatch(pd->auth, imsg);
		return;
	}
	if (imsg->hdr.type >= M_MT_CLAIM && imsg->hdr.type < M_MT_MAX) {
		milters_from_smtpd(pd->milters, imsg);
		return;
	}
	psess_dispatch(pd, imsg);
}

/* The parent's own messages to policyd: the connections it opened. */
static void
from_parent(struct child *c, struct imsg *imsg)
{
	struct policyd *pd = c->state;

	if (imsg->hdr.type == M_MT_OPENED) {
		milters_from_parent(pd->milters, imsg);
		return;
	}
	if (imsg->hdr.type == M_RD_OPENED) {
		pstore_parent(pd->store, imsg);
		return;
	}
	if (imsg->hdr.type != M_PC_CONNECTED) {
		if (imsg->fd != -1)
			close(imsg->fd);
		child_peer_broken(c, PROC_PARENT, imsg, "unexpected message");
	}
	pauth_connected(pd->auth, imsg);
}

static void
from_queued(struct child *c, struct imsg *imsg)
{
	struct policyd *pd = c->state;

	if (imsg->hdr.type == M_MT_SPOOL_FD) {
		milters_from_queued(pd->milters, imsg);
		return;
	}
	if (imsg->fd != -1)
		close(imsg->fd);
	if (imsg->hdr.type == M_A_GRANTED) {
		pauth_granted(pd->auth, imsg);
		return;
	}
	if (imsg->hdr.type != M_PQ_DONE)
		child_peer_broken(c, PROC_QUEUED, imsg, "unexpected message");
	pstore_done(pd->store, imsg);
}

static void
from_dnsd(struct child *c, struct imsg *imsg)
{
	struct policyd *pd = c->state;

	dns_client_dispatch(pd->dns, imsg);
}

static void
from_deliverd(struct child *c, struct imsg *imsg)
{
	rcpt_dispatch(c->state, imsg);
}

static void
tick(int fd, short ev, void *arg)
{
	struct policyd *pd = arg;

	(void)fd;
	(void)ev;
	rates_sweep(pd->rates, clock_now());
	pauth_sweep(pd->auth);
}

static void
policyd_init(struct child *c)
{
	struct policyd	*pd = c->state;
	struct timeval	 tv = { TICK, 0 };

	pd->child = c;
	RB_INIT(&pd->sessions);
	pd->dns = dns_client_new(c);
	pd->tests = policy_tests_new(c, pd->dns);
	pd->store = pstore_new(c);
	pd->rates = rates_new();
	pd->whitelist = grey_wl_new();
	pd->auth = pauth_new(pd);
	pd->milters = milters_new(c);
	policy_stats_init(pd);
	if ((pd->tick = event_new(c->base, -1, EV_PERSIST, tick, pd)) ==
	    NULL || event_add(pd->tick, &tv) == -1)
		fatalx("policyd timer");
}

static void
policyd_conf(struct child *c, struct conf *new, struct conf *old)
{
	struct policyd *pd = c->state;

	/* Keys made under no secret would match nothing after a restart. */
	if (!new->has_secret)
		fatalx("the configuration came without the policy secret");
	/* conf_rx's generation is the one just completed. */
	milters_conf(pd->milters, new, c->rx.gen);
	/* The store's configuration is fixed at start (parent_redis.c). */
	if (old == NULL)
		pstore_configure(pd->store, c, new);
}

static void
policyd_status(struct child *c, char *buf, size_t sz)
{
	struct policyd	*pd = c->state;
	char		 st[768], mt[192];

	pstore_status(pd->store, st, sizeof(st));
	milters_status(pd->milters, mt, sizeof(mt));
	snprintf(buf, sz, "running, %zu sessions, verdicts pass=%llu "
	    "defer=%llu reject=%llu, %zu callouts, %s, %s", pd->nsessions,
	    (unsigned long long)pd->verdicts[0],
	    (unsigned long long)pd->verdicts[1],
	    (unsigned long long)pd->verdicts[2], rcpt_callouts(pd), st, mt);
}

static void
policyd_control(struct child *c, struct imsg *imsg)
{
	struct policyd	*pd = c->state;
	struct ctl_req	*r;

	if ((r = malloc(sizeof(*r))) == NULL)
		fatal("control request");
	if (ctl_req_read(imsg->data, imsg->datalen, r) == -1)
		child_peer_broken(c, PROC_PARENT, imsg, "control request");
	if (r->cmd == CTL_TEST_SPF)
		policy_tests_control(pd->tests, imsg);
	else if (r->cmd == CTL_SHOW_RECIPIENTS)
		rcpt_show_open(pd, imsg, r);
	else
		policy_control(pd, imsg->hdr.peerid, r);
	free(r);
}

static void
policyd_shutdown(struct child *c)
{
	struct policyd *pd = c->state;

	psess_free_all(pd);
	rcpt_free_all(pd);
	milters_free(pd->milters);
	pd->milters = NULL;
	pstore_free(pd->store);
	pd->store = NULL;
	free(pd->pmx);
	pd->pmx = NULL;
}

static const struct child_ops policyd_ops = {
	.id = PROC_POLICYD,
	.init = policyd_init,
	.conf = policyd_conf,
	.status = policyd_status,
	.metrics = policy_metrics,
	.control = policyd_control,
	.parent = from_parent,
	.shutdown = policyd_shutdown,
	.dispatch = {
		[PROC_SMTPD] = from_smtpd,
		[PROC_QUEUED] = from_queued,
		[PROC_DNSD] = from_dnsd,
		[PROC_DELIVERD] = from_deliverd,
	},
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &policyd_ops, &policyd);
}

/*
 * smtpd: process set-up, listeners, configuration and peer dispatch.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "child.h"
#include "dns_client.h"
#include "log.h"
#include "msg_auth.h"
#include "msg_milter.h"
#include "msg_queue.h"
#include "smtpd.h"

static struct smtpd smtpd;
struct smtpd *smtpd_env = &smtpd;

void
smtpd_send_queue(struct smtpd *sd, uint32_t type, uint64_t peerid, int fd,
    const void *data, size_t len)
{
	child_send(sd->child, PROC_QUEUED, type, peerid, fd, data, len);
}

static void
on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)lev;
	session_accept(arg, fd, sa, salen);
}

static void
accept_resume(int fd, short ev, void *arg)
{
	struct smtpd	*sd = arg;
	size_t		 i;

	(void)fd;
	(void)ev;
	for (i = 0; i < sd->nlisteners; i++)
		evconnlistener_enable(sd->listeners[i].lev);
}

/*
 * Out of descriptors: answer the waiting clients with 421 through the
 * reserve descriptor (smtp_fds.c); failing that, or on another error,
 * stop accepting for a second rather than spin.
 */
static void
on_accept_error(struct evconnlistener *lev, void *arg)
{
	struct listener	*l = arg;
	struct smtpd	*sd = l->sd;
	struct timeval	 tv = { 1, 0 };
	size_t		 i;
	int		 err = EVUTIL_SOCKET_ERROR();

	if ((err == EMFILE || err == ENFILE) &&
	    fds_refuse_backlog(sd, evconnlistener_get_fd(lev), err) == 0)
		return;
	log_warnx("accept: %s; pausing for a second", strerror(err));
	for (i = 0; i < sd->nlisteners; i++)
		evconnlistener_disable(sd->listeners[i].lev);
	evtimer_add(sd->accept_pause, &tv);
}

static void
listeners_close(struct smtpd *sd)
{
	size_t i;

	for (i = 0; i < sd->nlisteners; i++)
		evconnlistener_free(sd->listeners[i].lev);
	free(sd->listeners);
	sd->listeners = NULL;
	sd->nlisteners = 0;
}

static void
listeners_open(struct smtpd *sd, const struct conf *conf)
{
	struct listener	*l;
	size_t		 i;

	if (conf->nlisteners == 0)
		return;
	if ((sd->listeners = calloc(conf->nlisteners, sizeof(*l))) == NULL)
		fatal("listeners");
	for (i = 0; i < conf->nlisteners; i++) {
		l = &sd->listeners[i];
		l->sd = sd;
		l->lc = conf->listeners[i];
		/*
		 * The configuration owns the socket and closes it; backlog 0
		 * keeps the parent's listen(2), where -1 would redo it with
		 * libevent's 128.
		 */
		l->lev = evconnlistener_new(sd->child->base, on_accept, l, 0,
		    0, conf->listeners[i].fd);
		if (l->lev == NULL)
			fatalx("cannot listen on %s", l->lc.addr.host);
		evconnlistener_set_error_cb(l->lev, on_accept_error);
		sd->nlisteners++;
	}
}

static void
smtpd_conf(struct child *c, struct conf *conf, struct conf *old)
{
	struct smtpd	*sd = c->state;
	struct relay	*relay;
	struct session	*s;

	(void)old;
	if ((relay = relay_build(conf)) == NULL)
		fatal("relay tables");
	smtp_tls_conf(sd, conf);
	listeners_close(sd);
	relay_free(sd->relay);
	sd->relay = relay;
	sd->conf = conf;
	policy_configure(sd, conf);
	smtp_auth_conf(sd, conf);
	milter_configure(sd, conf);
	listeners_open(sd, conf);
	/* Sessions keep running under the new rules. */
	RB_FOREACH(s, session_tree, &sd->sessions)
		s->client_tenant = relay_client_tenant(relay, &s->client);
	log_info("listening on %zu addresses for %zu tenants",
	    sd->nlisteners, conf->ntenants);
}

static void
smtpd_status(struct child *c, char *buf, size_t sz)
{
	struct smtpd	*sd = c->state;

	struct tls_keys *kc = &sd->keys;

	snprintf(buf, sz, "running, %u sessions, %llu messages accepted, "
	    "%llu TLS handshakes, %llu key requests (%.0f us each, %llu "
	    "refused, %llu timed out)", sd->nsessions,
	    (unsigned long long)sd->accepted,
	    (unsigned long long)sd->tls_sessions,
	    (unsigned long long)kc->calls, kc->calls ?
	    (double)kc->usec / (double)kc->calls : 0.0,
	    (unsigned long long)kc->refused,
	    (unsigned long long)kc->timeouts);
}

static void
from_queued(struct child *c, struct imsg *imsg)
{
	queue_dispatch(c->state, imsg);
}

static void
from_dnsd(struct child *c, struct imsg *imsg)
{
	struct smtpd *sd = c->state;

	dns_client_dispatch(sd->dns, imsg);
}

static void
from_keyd(struct child *c, struct imsg *imsg)
{
	tlskey_dispatch(c->state, imsg);
}

static void
from_policyd(struct child *c, struct imsg *imsg)
{
	if (imsg->hdr.type == M_A_RESULT) {
		if (imsg->fd != -1)
			close(imsg->fd);
		smtp_auth_result(c->state, imsg);
		return;
	}
	if (imsg->hdr.type >= M_MT_CLAIM && imsg->hdr.type < M_MT_MAX) {
		milter_dispatch(c->state, imsg);
		return;
	}
	policy_dispatch(c->state, imsg);
}

/* OpenSSL reads its configuration now, before the chroot. */
static void
smtpd_preload(struct child *c)
{
	(void)c;
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		fatalx("OpenSSL: %s", ERR_reason_error_string(
		    ERR_get_error()));
	tlskey_init();
}

static void
smtpd_init(struct child *c)
{
	struct smtpd *sd = c->state;

	sd->child = c;
	sd->free_space = UINT64_MAX;
	RB_INIT(&sd->sessions);
	RB_INIT(&sd->clients);
	fdpool_init(&sd->spares.pool, SPARES_MAX);
	fds_init(sd);
	sd->dns = dns_client_new(c);
	smtp_stats_init(sd);
	if ((sd->accept_pause = evtimer_new(c->base, accept_resume, sd)) ==
	    NULL)
		fatalx("evtimer_new");
}

static void
smtpd_shutdown(struct child *c)
{
	struct smtpd *sd = c->state;

	sessions_close_all(sd);
	listeners_close(sd);
}

static const struct child_ops smtpd_ops = {
	.id = PROC_SMTPD,
	.preload = smtpd_preload,
	.init = smtpd_init,
	.conf = smtpd_conf,
	.status = smtpd_status,
	.metrics = smtp_metrics,
	.shutdown = smtpd_shutdown,
	.dispatch = {
		[PROC_QUEUED] = from_queued,
		[PROC_POLICYD] = from_policyd,
		[PROC_DNSD] = from_dnsd,
		[PROC_KEYD] = from_keyd,
	},
};

int
main(int argc, char **argv)
{
	return child_main(argc, argv, &smtpd_ops, &smtpd);
}

/*
 * parent_milter: the milter connections policyd asks for.
 *
 * policyd may open no socket (its seccomp filter); it names a milter by
 * its number in the configuration it has (conf->milter_eps, with that
 * configuration's generation), never by address, and the parent, which
 * keeps root, connects to that configured endpoint only: unix:PATH or
 * inet:ADDRESS:PORT.  The connect is non-blocking, bounded in time and
 * in number; the socket goes to policyd, or the reason it could not be
 * opened.  A number from another generation (a reload crossed the
 * request) is refused, not guessed at.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "marshal.h"
#include "milter_sock.h"
#include "msg_milter.h"
#include "relayd.h"

#define CONNECT_TIMEOUT	10	/* seconds */
#define CONNECTING_MAX	256

struct mconnect {
	TAILQ_ENTRY(mconnect)	 entry;
	struct kid		*k;
	uint64_t		 req;
	int			 fd;
	struct event		*ev;
	char			 socket[MILTER_SOCKET_MAX];
};
TAILQ_HEAD(mconnect_list, mconnect);

static struct mconnect_list	connecting =
    TAILQ_HEAD_INITIALIZER(connecting);
static size_t			nconnecting;

static void
milter_answer(struct kid *k, uint64_t req, int fd, const char *why)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, fd != -1 ? MT_OPEN_OK : why == NULL ? MT_OPEN_STALE :
	    MT_OPEN_FAIL);
	mw_str(&w, why);
	/* chan_send owns fd, sent or not; a gone policyd wants nothing. */
	if (k->chan != NULL)
		(void)chan_send(k->chan, M_MT_OPENED, req, fd, w.buf, w.len);
	else if (fd != -1)
		close(fd);
}

static void
mc_free(struct mconnect *mc)
{
	TAILQ_REMOVE(&connecting, mc, entry);
	nconnecting--;
	if (mc->ev != NULL)
		event_free(mc->ev);
	if (mc->fd != -1)
		close(mc->fd);
	free(mc);
}

static void
milter_connected(int fd, short ev, void *arg)
{
	struct mconnect	*mc = arg;
	socklen_t	 sl = sizeof(int);
	int		 err = 0;
	char		 why[256];

	if (ev & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
		err = errno;
	if (err != 0) {
		snprintf(why, sizeof(why), "%s: %s", mc->socket,
		    strerror(err));
		milter_answer(mc->k, mc->req, -1, why);
	} else {
		milter_answer(mc->k, mc->req, mc->fd, "");
		mc->fd = -1;
	}
	mc_free(mc);
}

/* -1: the child asked for what the configuration does not have. */
int
milter_open(struct relayd *env, struct kid *k, uint64_t req, uint32_t gen,
    uint32_t ep)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct mconnect		*mc;
	struct timeval		 tv = { CONNECT_TIMEOUT, 0 };
	const char		*sock, *why;
	char			 msg[256];
	int			 fd;

	if (gen != env->gen) {
		milter_answer(k, req, -1, NULL);	/* mw_str sends "" */
		return 0;
	}
	if (ep >= env->conf->nmilter_eps)
		return -1;
	sock = env->conf->milter_eps[ep];
	if ((why = milter_sock_parse(sock, &ss, &sl)) != NULL) {
		milter_answer(k, req, -1, why);	/* checked at load: cannot be */
		return 0;
	}
	if (nconnecting >= CONNECTING_MAX) {
		milter_answer(k, req, -1, "too many milter connections being opened");
		return 0;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(msg, sizeof(msg), "socket: %s", strerror(errno));
		milter_answer(k, req, -1, msg);
		return 0;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		milter_answer(k, req, fd, "");
		return 0;
	}
	if (errno != EINPROGRESS) {
		snprintf(msg, sizeof(msg), "%s: %s", sock, strerror(errno));
		close(fd);
		milter_answer(k, req, -1, msg);
		return 0;
	}
	if ((mc = calloc(1, sizeof(*mc))) == NULL ||
	    (mc->ev = event_new(env->base, fd, EV_WRITE, milter_connected, mc)) ==
	    NULL) {
		free(mc);
		close(fd);
		milter_answer(k, req, -1, "out of memory");
		return 0;
	}
	mc->k = k;
	mc->req = req;
	mc->fd = fd;
	strlcpy(mc->socket, sock, sizeof(mc->socket));
	TAILQ_INSERT_TAIL(&connecting, mc, entry);
	nconnecting++;
	event_add(mc->ev, &tv);
	return 0;
}

/* At stop: nothing more is answered. */
void
milter_cancel_all(struct relayd *env)
{
	(void)env;
	while (!TAILQ_EMPTY(&connecting))
		mc_free(TAILQ_FIRST(&connecting));
}

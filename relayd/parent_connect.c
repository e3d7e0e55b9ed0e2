/*
 * parent_connect: the outside connections policyd needs (its Dovecots),
 * opened here and passed to it.
 *
 * policyd may not make a socket (its seccomp filter has none); the parent
 * may, and connects only to what its own configuration names for the
 * tenant policyd asks about (msg_connect.h): a compromised policyd can
 * reach no other address through us.  The connect is non-blocking and
 * the socket goes to policyd at once; policyd bounds the time it takes to
 * complete, so the parent never waits on an outside service.
 *
 * A second kind (milters) fits by adding its case to endpoint_of().
 */
#include <sys/socket.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "endpoint.h"
#include "log.h"
#include "marshal.h"
#include "msg_connect.h"
#include "parent_kidmsg.h"
#include "relayd.h"

/* The configured endpoint for the request; NULL: none (a reload). */
static const char *
endpoint_of(const struct conf *conf, const struct kidmsg *m)
{
	const struct tenant_conf *t;

	if ((t = conf_tenant_by_name(conf, m->text)) == NULL)
		return NULL;
	switch (m->kind) {
	case PC_KIND_DOVECOT:
		return m->index == 0 ? t->auth.dovecot : NULL;
	}
	return NULL;
}

/* A socket with connect(2) under way or done; -1 and *err if not. */
static int
connect_start(const char *ep, int *err)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	int			 fd;

	if (endpoint_parse(ep, &ss, &sl) != NULL) {
		*err = EINVAL;	/* checked at load: cannot happen */
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		*err = errno;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1 &&
	    errno != EINPROGRESS) {
		*err = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static void
pc_answer(struct kid *k, uint64_t id, uint8_t res, const char *why, int fd)
{
	struct mw w;

	mw_init(&w);
	mw_u8(&w, res);
	mw_str(&w, why);
	if (chan_send(k->chan, M_PC_CONNECTED, id, fd, w.buf, w.len) == -1)
		log_warn("passing a connection to %s", proc_name(k->id));
}

/* 0, or -1: the child may not ask this (kid_broken). */
int
parent_connect(struct relayd *env, struct kid *k, const struct kidmsg *m)
{
	const char	*ep;
	int		 fd, err = 0;

	if (k->id != PROC_POLICYD || m->kind != PC_KIND_DOVECOT)
		return -1;
	if ((ep = endpoint_of(env->conf, m)) == NULL) {
		pc_answer(k, m->peerid, PC_STALE, "", -1);
		return 0;
	}
	if ((fd = connect_start(ep, &err)) == -1) {
		log_debug("connect to %s for %s, tenant=%s: %s", ep,
		    proc_name(k->id), m->text, strerror(err));
		pc_answer(k, m->peerid, PC_FAIL, strerror(err), -1);
		return 0;
	}
	pc_answer(k, m->peerid, PC_OK, "", fd);
	return 0;
}

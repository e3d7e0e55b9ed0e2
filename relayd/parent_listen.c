/*
 * parent_listen: bind the SMTP listeners.  Only the parent can bind low
 * ports; smtpd receives the sockets over its channel.  On reload an
 * address that stays keeps its socket, so no connection is refused while
 * the new configuration comes in.
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "relayd.h"

#define LISTEN_BACKLOG	4096

int
listen_socket(const struct hostport *hp, int backlog)
{
	struct sockaddr_storage	ss;
	socklen_t		sl;
	char			addr[ADDRSTR_MAX];
	int			fd, on = 1;

	hostport_format(hp, addr, sizeof(addr));
	if (hostport_sockaddr(hp, &ss, &sl) == -1) {
		log_warnx("listen %s: not an IP address", addr);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_warn("listen %s: socket", addr);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)) {
		log_warn("listen %s: setsockopt", addr);
		close(fd);
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    listen(fd, backlog) == -1) {
		log_warn("listen %s", addr);
		close(fd);
		return -1;
	}
	return fd;
}

static int
same_addr(const struct listener_conf *a, const struct listener_conf *b)
{
	return a->addr.port == b->addr.port &&
	    strcmp(a->addr.host, b->addr.host) == 0;
}

int
listeners_bind(struct conf *conf, const struct conf *old)
{
	struct listener_conf	*l;
	size_t			 i, j;

	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		for (j = 0; old != NULL && j < old->nlisteners; j++)
			if (old->listeners[j].fd != -1 &&
			    same_addr(l, &old->listeners[j]))
				break;
		if (old != NULL && j < old->nlisteners)
			l->fd = dup(old->listeners[j].fd);
		else
			l->fd = listen_socket(&l->addr, LISTEN_BACKLOG);
		if (l->fd == -1)
			goto fail;
		if (fcntl(l->fd, F_SETFD, FD_CLOEXEC) == -1)
			goto fail;
	}
	return 0;
fail:
	for (i = 0; i < conf->nlisteners; i++)
		if (conf->listeners[i].fd != -1) {
			close(conf->listeners[i].fd);
			conf->listeners[i].fd = -1;
		}
	return -1;
}

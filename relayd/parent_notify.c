/*
 * parent_notify: tell the service manager what state relayd is in, the
 * sd_notify(3) way but without libsystemd: one datagram per change to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
 * written with a leading '@').
 *
 *   READY=1        every child has acknowledged the configuration
 *   RELOADING=1    a new configuration is on its way to the children
 *   STOPPING=1     the children are being stopped
 *
 * The variable is removed from the environment at once, so no child
 * inherits it: only the parent speaks for the service.  Without the
 * variable (not started by systemd, or not Type=notify) nothing is sent.
 * A failed send is logged once and otherwise ignored: the service manager
 * going away must not take relayd with it.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "relayd.h"

/* Take $NOTIFY_SOCKET, if set, and make the socket to send to it. */
int
notify_open(struct notify *n)
{
	const char	*name;
	size_t		 len;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if ((name = getenv("NOTIFY_SOCKET")) == NULL)
		return 0;
	len = strlen(name);
	n->sun.sun_family = AF_UNIX;
	if (len < 2 || (name[0] != '/' && name[0] != '@') ||
	    len > sizeof(n->sun.sun_path) - (name[0] == '/')) {
		log_warnx("NOTIFY_SOCKET %.64s: not an absolute path or an "
		    "abstract name that fits a socket address; not telling "
		    "the service manager anything", name);
		unsetenv("NOTIFY_SOCKET");
		return -1;
	}
	memcpy(n->sun.sun_path, name, len);
	if (name[0] == '@')
		n->sun.sun_path[0] = '\0';	/* abstract: not terminated */
	n->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
	    (name[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
	if ((n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify socket");
		return -1;
	}
	return 0;
}

void
notify_close(struct notify *n)
{
	if (n->fd != -1)
		close(n->fd);
	n->fd = -1;
}

static void
notify_send(struct notify *n, const char *msg, size_t len)
{
	if (n->fd == -1)
		return;
	if (sendto(n->fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&n->sun,
	    n->len) == (ssize_t)len) {
		n->warned = 0;
		return;
	}
	if (!n->warned)
		log_warn("cannot tell the service manager %.*s",
		    (int)strcspn(msg, "\n"), msg);
	n->warned = 1;
}

/* Every child has answered the configuration: the service is up (again). */
void
notify_ready(struct notify *n, const char *status)
{
	char	buf[256];
	int	len;

	len = snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%.180s\n"
	    "MAINPID=%ld\n", status, (long)getpid());
	if (len > 0 && (size_t)len < sizeof(buf))
		notify_send(n, buf, (size_t)len);
}

/*
 * A reload has begun.  systemd 253 and later want the time it began on
 * CLOCK_MONOTONIC with it; older ones ignore the field.
 */
void
notify_reloading(struct notify *n, uint32_t gen)
{
	struct timespec	ts;
	char		buf[160];
	int		len;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	len = snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=loading configuration %u\n",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL, gen);
	if (len > 0 && (size_t)len < sizeof(buf))
		notify_send(n, buf, (size_t)len);
}

void
notify_stopping(struct notify *n)
{
	static const char msg[] = "STOPPING=1\nSTATUS=stopping\n";

	notify_send(n, msg, sizeof(msg) - 1);
}

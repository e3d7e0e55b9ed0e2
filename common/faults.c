/*
 * faults: crash points, failing steps and forbidden calls for the tests
 * (debug builds).
 */
#ifdef RELAYD_FAULTS
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults.h"
#include "log.h"

int
fault_wanted(const char *name)
{
	const char *want = getenv("RELAYD_CRASH");

	return want != NULL && strcmp(want, name) == 0;
}

void
fault_point(const char *name)
{
	if (!fault_wanted(name))
		return;
	log_warnx("fault injection: crash point %s reached", name);
	log_flush();
	kill(getpid(), SIGKILL);
}

/* The errno a step is to fail with, or 0.  Any thread. */
int
fault_error(const char *name)
{
	const char *want = getenv("RELAYD_FAIL");

	return want != NULL && strcmp(want, name) == 0 ? EIO : 0;
}

/* Do what the sandbox forbids, to show that it kills. */
void
fault_forbidden(const char *name)
{
	const char		*want = getenv("RELAYD_FORBIDDEN");
	struct sockaddr_in	 sin;
	int			 fd;

	if (want == NULL || strcmp(want, name) != 0)
		return;
	log_warnx("fault injection: %s, which the sandbox forbids", name);
	log_flush();
	if (strcmp(name, "smtpd-connect") == 0) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(25);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	} else if (strcmp(name, "dnsd-open") == 0)
		fd = open("/etc/passwd", O_RDWR | O_CREAT, 0600);
	else if (strcmp(name, "deliverd-unix-socket") == 0 ||
	    strcmp(name, "dnsd-unix-socket") == 0)
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
	else if (strcmp(name, "queued-fork") == 0) {
		/* clone as fork does it: a process, not a thread */
		fd = (int)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
		if (fd == 0)
			_exit(0);
	} else if (strcmp(name, "queued-clone3") == 0) {
		/* Answered, not fatal: glibc falls back to clone. */
		errno = 0;
		fd = (int)syscall(SYS_clone3, NULL, 0);
		log_warnx("fault injection: clone3 returned %d: %s", fd,
		    strerror(errno));
		return;
	} else
		return;
	log_warnx("fault injection: %s was allowed (fd %d)", name, fd);
}
#else
typedef int faults_unused;	/* ISO C wants a translation unit */
#endif

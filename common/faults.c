/*
 * faults: crash points, failing steps and forbidden calls for the tests
 * (debug builds).
 */
#ifdef RELAYD_FAULTS
#include <sys/socket.h>
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

#define FAULT_STEPS	8

/*
 * The value of "name" or "name:n" in a comma-separated list: 1 with *n
 * (0 for no count) and the entry's place in the list, 0 if not there.
 */
static int
fault_find(const char *list, const char *name, long *n, int *slot)
{
	const char	*p = list, *end, *colon;
	size_t		 len = strlen(name);
	int		 i;

	for (i = 0; p != NULL && *p != '\0' && i < FAULT_STEPS; i++) {
		end = strchr(p, ',');
		colon = memchr(p, ':', end ? (size_t)(end - p) : strlen(p));
		if (strncmp(p, name, len) == 0 && (p + len == end ||
		    p + len == colon || p[len] == '\0')) {
			*n = colon != NULL ? strtol(colon + 1, NULL, 10) : 0;
			*slot = i;
			return 1;
		}
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

/* The errno a step is to fail with, or 0.  Any thread. */
int
fault_error(const char *name)
{
	static long	 taken[FAULT_STEPS];
	const char	*want = getenv("RELAYD_FAIL");
	long		 n;
	int		 slot;

	if (want == NULL || !fault_find(want, name, &n, &slot))
		return 0;
	if (n > 0 && __atomic_add_fetch(&taken[slot], 1, __ATOMIC_SEQ_CST) > n)
		return 0;
	log_warnx("fault injection: failing step %s", name);
	return EIO;
}

/* The seconds a step is to wait, or 0. */
int
fault_delay(const char *name)
{
	const char	*want = getenv("RELAYD_DELAY");
	long		 n;
	int		 slot;

	if (want == NULL || !fault_find(want, name, &n, &slot) || n <= 0)
		return 0;
	log_warnx("fault injection: step %s delayed by %lds", name, n);
	return n > 3600 ? 3600 : (int)n;
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
		fd = open("/etc/passwd", O_RDONLY);
	else
		return;
	log_warnx("fault injection: %s was allowed (fd %d)", name, fd);
}
#else
typedef int faults_unused;	/* ISO C wants a translation unit */
#endif

/*
 * faults: crash points, failing steps and forbidden calls for the tests
 * (debug builds).
 */
#ifdef RELAYD_FAULTS
#include <sys/resource.h>
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

/*
 * Take every free descriptor slot but n, with copies of fd, and keep them:
 * the process runs out of descriptors for real, below the limit it reads
 * with getrlimit.
 */
void
fault_fill_fds(const char *name, int fd)
{
	const char	*want = getenv("RELAYD_FDS_FULL"), *errstr;
	size_t		 len = strlen(name), n = 0;
	struct rlimit	 rl;
	int		 room, *dups;

	if (want == NULL || strncmp(want, name, len) != 0 ||
	    want[len] != ':')
		return;
	room = (int)strtonum(want + len + 1, 0, 1000000, &errstr);
	if (errstr != NULL)
		fatalx("RELAYD_FDS_FULL: room is %s", errstr);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur > 1000000 ||
	    (dups = calloc(rl.rlim_cur, sizeof(*dups))) == NULL)
		fatalx("RELAYD_FDS_FULL: no room to count");
	while (n < rl.rlim_cur &&
	    (dups[n] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) != -1)
		n++;
	/* The last taken go back. */
	while (room-- > 0 && n > 0)
		close(dups[--n]);
	free(dups);
	log_warnx("fault injection: %zu descriptors taken, the table is full "
	    "but for %s", n, want + len + 1);
}

/* A port the tests choose instead of a well-known one. */
uint16_t
fault_port(const char *env, uint16_t port)
{
	const char	*want = getenv(env), *errstr;
	long long	 v;

	if (want == NULL)
		return port;
	v = strtonum(want, 1, 65535, &errstr);
	if (errstr != NULL)
		fatalx("%s: the port is %s", env, errstr);
	return (uint16_t)v;
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
	else if (strcmp(name, "policyd-socket") == 0)
		fd = socket(AF_INET, SOCK_STREAM, 0);
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

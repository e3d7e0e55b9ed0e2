/*
 * sandbox: per-process seccomp filters (libseccomp).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>

#include <seccomp.h>

#include "log.h"
#include "sandbox.h"

#ifdef SANDBOX_LOG
#define DENY	SCMP_ACT_LOG
#else
#define DENY	SCMP_ACT_KILL_PROCESS
#endif

/*
 * What every child does: its event loop, its channels, memory, time.
 * sysinfo: glibc's qsort asks how much memory there is before it sorts
 * an array over a few KB (domain tables, queue listings, samples).
 */
static const char *const base_calls[] = {
	"read", "write", "readv", "writev", "close", "recvmsg", "sendmsg",
	"epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll", "fcntl",
	"brk", "mmap", "munmap", "mremap", "madvise", "mprotect", "futex",
	"clock_gettime", "clock_nanosleep", "gettimeofday", "nanosleep",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask",
	"restart_syscall", "pipe2", "getrandom", "newfstatat", "fstat",
	"lseek", "sched_yield", "uname", "shutdown", "dup", "sysinfo",
#ifdef RELAYD_FAULTS
	"kill", "tgkill",	/* crash points kill themselves (faults.h) */
#endif
	NULL
};

static const char *const smtpd_calls[] = {
	"accept4", "accept", "setsockopt", "getsockopt", "getpeername",
	"getsockname",
	NULL
};

/*
 * The store and the spool, with fsync workers and the writer thread
 * (clone with the thread flags only: see allow_threads); the store opens
 * after the filter (at the first configuration, and again after
 * MDB_PANIC), and the spool and quarantine are read then.
 */
static const char *const queued_calls[] = {
	"openat", "unlinkat", "renameat", "renameat2", "fsync", "fdatasync",
	"pread64", "pwrite64", "ftruncate", "fstatfs", "statfs",
	"set_robust_list", "rseq", "eventfd2", "fchmod", "getdents64",
	NULL
};

/*
 * socket: IPv4 and IPv6 only (allow_inet_sockets).  bind: the self-check
 * connects from the source address the parent chose (selfcheck.c).
 */
static const char *const deliverd_calls[] = {
	"connect", "getsockopt", "setsockopt", "getpeername",
	"getsockname", "sendfile", "pread64", "sendto", "recvfrom", "bind",
	NULL
};

/*
 * c-ares over UDP and TCP; /dev/urandom is read, never opened again.
 * socket: IPv4 and IPv6 only.
 */
static const char *const dnsd_calls[] = {
	"connect", "getsockopt", "setsockopt", "getsockname",
	"sendto", "recvfrom", "bind",
	NULL
};

/*
 * The store, read-only (MDB_RDONLY): data.mdb mapped and read, its
 * reader slot in lock.mdb written (and the lock file sized, should it be
 * the first to open it).
 */
static const char *const policyd_calls[] = {
	"openat", "pread64", "ftruncate", "fstatfs",
	NULL
};

/* Its channels to the parent and smtpd, and memory: nothing more. */
static const char *const keyd_calls[] = {
	NULL
};

/* Its channel to the parent, and the HTTP clients its listener accepts. */
static const char *const metricsd_calls[] = {
	"accept4", "accept", "setsockopt", "getsockopt", "getpeername",
	NULL
};

static const char *const *const proc_calls[PROC_MAX] = {
	[PROC_SMTPD] = smtpd_calls,
	[PROC_QUEUED] = queued_calls,
	[PROC_DELIVERD] = deliverd_calls,
	[PROC_DNSD] = dnsd_calls,
	[PROC_POLICYD] = policyd_calls,
	[PROC_KEYD] = keyd_calls,
	[PROC_METRICS] = metricsd_calls,
};

static void
allow(scmp_filter_ctx ctx, const char *name)
{
	int nr, rv;

	/* Not every architecture has every call (open, epoll_wait...). */
	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR)
		return;
	if ((rv = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0)
		fatalx("seccomp: cannot allow %s: %s", name, strerror(-rv));
}

static void
allow_list(scmp_filter_ctx ctx, const char *const *calls)
{
	for (; *calls != NULL; calls++)
		allow(ctx, *calls);
}

/* ioctl: only the two requests libevent and c-ares use. */
static void
allow_ioctl(scmp_filter_ctx ctx)
{
	static const unsigned long reqs[] = { FIONREAD, FIONBIO };
	struct scmp_arg_cmp	cmp;
	int			nr = seccomp_syscall_resolve_name("ioctl");
	size_t			i;

	for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		memset(&cmp, 0, sizeof(cmp));
		cmp.arg = 1;
		cmp.op = SCMP_CMP_EQ;
		cmp.datum_a = reqs[i];
		if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1,
		    &cmp) != 0)
			fatalx("seccomp: ioctl rules");
	}
}

/* Who may open sockets of its own, start threads, read files. */
#define SB_INET		0x1
#define SB_THREADS	0x2
#define SB_READ		0x4

static const unsigned proc_extra[PROC_MAX] = {
	[PROC_QUEUED] = SB_THREADS,
	[PROC_DELIVERD] = SB_INET,
	[PROC_DNSD] = SB_INET | SB_READ,
};

/*
 * openat(2) to read only.  dnsd's root holds /dev/urandom and nothing
 * else, which c-ares reads for each new resolver channel.
 */
static void
allow_read_only_open(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp cmp;

	memset(&cmp, 0, sizeof(cmp));
	cmp.arg = 2;
	cmp.op = SCMP_CMP_MASKED_EQ;
	cmp.datum_a = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE;
	cmp.datum_b = O_RDONLY;
	if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
	    &cmp) != 0)
		fatalx("seccomp: openat rule");
}

/* socket(2) for AF_INET and AF_INET6 only: no AF_UNIX, no netlink. */
static void
allow_inet_sockets(scmp_filter_ctx ctx)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct scmp_arg_cmp	cmp;
	size_t			i;

	for (i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		memset(&cmp, 0, sizeof(cmp));
		cmp.arg = 0;
		cmp.op = SCMP_CMP_EQ;
		cmp.datum_a = (scmp_datum_t)families[i];
		if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW,
		    SCMP_SYS(socket), 1, &cmp) != 0)
			fatalx("seccomp: socket rules");
	}
}

/*
 * Threads, and nothing else that clone can make.  clone3 passes its
 * flags in memory, where seccomp cannot look, so it gets ENOSYS and
 * glibc falls back to clone, whose flags must be exactly the ones
 * pthread_create uses: no new process, no namespaces.
 */
#define THREAD_FLAGS	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM | \
	CLONE_SIGHAND | CLONE_THREAD | CLONE_SETTLS | CLONE_PARENT_SETTID | \
	CLONE_CHILD_CLEARTID)

static void
allow_threads(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp cmp;

	memset(&cmp, 0, sizeof(cmp));
	cmp.arg = 0;
	cmp.op = SCMP_CMP_EQ;
	cmp.datum_a = THREAD_FLAGS;
	if (seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
	    &cmp) != 0)
		fatalx("seccomp: clone rule");
}

static void
refuse_clone3(scmp_filter_ctx ctx)
{
	int nr = seccomp_syscall_resolve_name("clone3");

	if (nr != __NR_SCMP_ERROR && seccomp_rule_add(ctx,
	    SCMP_ACT_ERRNO(ENOSYS), nr, 0) != 0)
		fatalx("seccomp: clone3 rule");
}

void
sandbox_enter(enum proc_id id)
{
	scmp_filter_ctx	ctx;
	int		rv;

	if ((ctx = seccomp_init(DENY)) == NULL)
		fatalx("seccomp_init");
	/* Every thread, including the ones already running (queued). */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)
		fatalx("seccomp: TSYNC");
	allow_list(ctx, base_calls);
	allow_list(ctx, proc_calls[id]);
	allow_ioctl(ctx);
	refuse_clone3(ctx);
	if (proc_extra[id] & SB_INET)
		allow_inet_sockets(ctx);
	if (proc_extra[id] & SB_THREADS)
		allow_threads(ctx);
	if (proc_extra[id] & SB_READ)
		allow_read_only_open(ctx);
	if ((rv = seccomp_load(ctx)) != 0)
		fatalx("seccomp_load: %s", strerror(-rv));
	seccomp_release(ctx);
	log_debug("sandbox: seccomp filter loaded");
}

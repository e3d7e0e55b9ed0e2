/*
 * sandbox: per-process seccomp filters (libseccomp).
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
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

/* What every child does: its event loop, its channels, memory, time. */
static const char *const base_calls[] = {
	"read", "write", "readv", "writev", "close", "recvmsg", "sendmsg",
	"epoll_wait", "epoll_pwait", "epoll_ctl", "poll", "ppoll", "fcntl",
	"brk", "mmap", "munmap", "mremap", "madvise", "mprotect", "futex",
	"clock_gettime", "clock_nanosleep", "gettimeofday", "nanosleep",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
	"getegid", "exit", "exit_group", "rt_sigreturn", "rt_sigprocmask",
	"restart_syscall", "pipe2", "getrandom", "newfstatat", "fstat",
	"lseek", "sched_yield", "uname", "shutdown", "dup",
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
 * The store and the spool, with fsync workers and the writer thread; the
 * store opens after the filter (at the first configuration, and again
 * after MDB_PANIC), and the spool and quarantine are read then.
 */
static const char *const queued_calls[] = {
	"openat", "unlinkat", "renameat", "renameat2", "fsync", "fdatasync",
	"pread64", "pwrite64", "ftruncate", "fstatfs", "statfs",
	"set_robust_list", "rseq", "clone", "clone3", "eventfd2", "fchmod",
	"getdents64",
	NULL
};

static const char *const deliverd_calls[] = {
	"socket", "connect", "getsockopt", "setsockopt", "getpeername",
	"getsockname", "sendfile", "pread64", "sendto", "recvfrom",
	NULL
};

/* c-ares over UDP and TCP; /dev/urandom is read, never opened again. */
static const char *const dnsd_calls[] = {
	"socket", "connect", "getsockopt", "setsockopt", "getsockname",
	"sendto", "recvfrom", "bind",
	NULL
};

static const char *const policyd_calls[] = {
	NULL
};

static const char *const *const proc_calls[PROC_MAX] = {
	[PROC_SMTPD] = smtpd_calls,
	[PROC_QUEUED] = queued_calls,
	[PROC_DELIVERD] = deliverd_calls,
	[PROC_DNSD] = dnsd_calls,
	[PROC_POLICYD] = policyd_calls,
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
	if ((rv = seccomp_load(ctx)) != 0)
		fatalx("seccomp_load: %s", strerror(-rv));
	seccomp_release(ctx);
	log_debug("sandbox: seccomp filter loaded");
}

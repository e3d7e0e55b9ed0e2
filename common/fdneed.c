/*
 * fdneed: descriptor needs per process (see fdneed.h).
 */
#include <sys/resource.h>

#include <limits.h>

#include "fdneed.h"

size_t
fd_job_window(const struct conf *conf)
{
	return 2 * (size_t)conf->queue.max_connections + 64;
}

size_t
fd_pending_cap(const struct conf *conf)
{
	return (size_t)conf->limits.max_connections + FD_SPARES + 64;
}

rlim_t
fd_need(const struct conf *conf, enum proc_id id)
{
	rlim_t listeners = 2 * (rlim_t)conf->nlisteners;

	switch (id) {
	case PROC_SMTPD:
		return 2 * (rlim_t)conf->limits.max_connections + FD_SPARES +
		    listeners + FD_MARGIN;
	case PROC_QUEUED:
		return 2 * (rlim_t)fd_pending_cap(conf) +
		    fd_job_window(conf) + FD_RECYCLED + FD_MARGIN;
	case PROC_DELIVERD:
		return 2 * (rlim_t)conf->queue.max_connections +
		    fd_job_window(conf) + FD_MARGIN;
	case PROC_PARENT:
		return FD_FIXED + listeners;
	default:
		return FD_FIXED;
	}
}

size_t
fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
		return INT_MAX;
	return (size_t)rl.rlim_cur;
}

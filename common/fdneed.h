/*
 * fdneed: how many descriptors each process needs for a configuration.
 *
 * The parent sets each child's RLIMIT_NOFILE from these before it runs it
 * (parent_state.c, kid_exec).  A child may get less, when the parent
 * cannot raise its hard limit: each learns its real limit with getrlimit
 * at start and sizes its own budget from that (fd_limit), so that it
 * refuses work before the kernel refuses it a descriptor.
 *
 *   smtpd     2 x limits.max_connections (a socket and a spool file per
 *             session) + FD_SPARES + 2 x listeners + FD_MARGIN
 *   queued    2 x fd_pending_cap (a file held for smtpd, and its copy on
 *             the way) + fd_job_window + FD_RECYCLED + FD_MARGIN
 *   deliverd  2 x queue.max_connections (a socket, and a copy of the
 *             spool file during BDAT) + fd_job_window + FD_MARGIN
 *   dnsd, policyd, the parent: FD_FIXED (the parent: + 2 x listeners)
 */
#ifndef RELAYD_FDNEED_H
#define RELAYD_FDNEED_H

#include <sys/resource.h>

#include <stddef.h>

#include "config.h"
#include "proc.h"

#define FD_SPARES	16	/* smtpd's empty spool files made ahead */
#define FD_RECYCLED	64	/* queued's emptied files kept for reuse */
#define FD_MARGIN	64	/* stdio, channels, event loop, LMDB, spool */
#define FD_FIXED	1024	/* dnsd, policyd, the parent */

/* Delivery jobs out at deliverd at once, each with a spool file. */
size_t	 fd_job_window(const struct conf *);
/* Spool files queued holds for smtpd: its sessions and spares. */
size_t	 fd_pending_cap(const struct conf *);
/* What the process needs for this configuration. */
rlim_t	 fd_need(const struct conf *, enum proc_id);
/* This process's soft limit, as getrlimit says (bounded). */
size_t	 fd_limit(void);

#endif

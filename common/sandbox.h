/*
 * sandbox: each child's seccomp filter, the last step of its privilege
 * drop.  Only the system calls that process needs are allowed; anything
 * else kills the whole process (SCMP_ACT_KILL_PROCESS: a killed thread
 * would leave a hung one behind), and the parent reports it.  Built with
 * SECCOMP_LOG=1, denials are logged by the kernel instead, to find a
 * missing call.  Names are resolved for the running architecture, so one
 * list serves x86_64 and arm64 (a name an architecture lacks is skipped).
 */
#ifndef RELAYD_SANDBOX_H
#define RELAYD_SANDBOX_H

#include "proc.h"

void	 sandbox_enter(enum proc_id);

#endif

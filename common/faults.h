/*
 * faults: fault injection, compiled into debug builds only (make debug,
 * -DRELAYD_FAULTS).  The parent passes its environment to its children,
 * so a test chooses with:
 *
 *   RELAYD_CRASH=point       the process owning that step kills itself
 *                            with SIGKILL right there
 *   RELAYD_FORBIDDEN=call    a child makes a system call its sandbox
 *                            forbids (smtpd-connect, dnsd-open)
 *
 * Crash points: queued-after-body-sync, queued-after-commit,
 * queued-before-reply, smtpd-before-250.
 */
#ifndef RELAYD_FAULTS_H
#define RELAYD_FAULTS_H

#ifdef RELAYD_FAULTS
void	 fault_point(const char *);
int	 fault_wanted(const char *);
void	 fault_forbidden(const char *);
#else
#define fault_point(name)	do { } while (0)
#define fault_wanted(name)	0
#define fault_forbidden(name)	do { } while (0)
#endif

#endif

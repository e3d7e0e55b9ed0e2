/*
 * faults: fault injection, compiled into debug builds only (make debug,
 * -DRELAYD_FAULTS).  The parent passes its environment to its children,
 * so a test chooses with:
 *
 *   RELAYD_CRASH=point       the process owning that step kills itself
 *                            with SIGKILL right there
 *   RELAYD_FORBIDDEN=call    a child makes a system call its sandbox
 *                            forbids (smtpd-connect, dnsd-open)
 *   RELAYD_FAIL=step[:n],... those steps fail with EIO, every time or
 *                            the first n times each
 *   RELAYD_DELAY=step:secs   that step waits secs seconds
 *
 * Crash points: queued-after-body-sync, queued-after-commit,
 * queued-before-reply, smtpd-before-250.  Failing steps:
 * queued-body-sync, queued-dir-sync, queued-store-put,
 * queued-store-delete, queued-store-panic (the store's commit reports
 * MDB_PANIC).  Delays: queued-conf (queued takes its first configuration
 * late, as if it had not come).
 */
#ifndef RELAYD_FAULTS_H
#define RELAYD_FAULTS_H

#ifdef RELAYD_FAULTS
void	 fault_point(const char *);
int	 fault_wanted(const char *);
void	 fault_forbidden(const char *);
int	 fault_error(const char *);
int	 fault_delay(const char *);
#else
#define fault_point(name)	do { } while (0)
#define fault_wanted(name)	0
#define fault_forbidden(name)	do { } while (0)
#define fault_error(name)	0
#define fault_delay(name)	0
#endif

#endif

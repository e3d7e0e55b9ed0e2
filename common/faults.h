/*
 * faults: fault injection, compiled into debug builds only (make debug,
 * -DRELAYD_FAULTS).  The parent passes its environment to its children,
 * so a test chooses with:
 *
 *   RELAYD_CRASH=point       the process owning that step kills itself
 *                            with SIGKILL right there
 *   RELAYD_FORBIDDEN=call    a child makes a system call its sandbox
 *                            forbids (smtpd-connect, dnsd-open,
 *                            deliverd-unix-socket, dnsd-unix-socket,
 *                            queued-fork), or queued-clone3, which the
 *                            sandbox answers with ENOSYS
 *   RELAYD_FAIL=step[:n],... those steps fail with EIO, every time or
 *                            the first n times each
 *   RELAYD_DELAY=step:secs   that step waits secs seconds
 *   RELAYD_FDS_FULL=proc:n   that child fills its descriptor table at
 *                            start and for good, but for n free slots:
 *                            the kernel refuses what its budget allows
 *   RELAYD_MTA_STS_PORT=n    deliverd fetches MTA-STS policies from port
 *                            n instead of 443 (a test's HTTPS server)
 *   RELAYD_SELFCHECK_PORT=n  the self-check connects to port n of each
 *                            listener's address instead of the listener
 *                            (a test's permissive server: an open relay
 *                            relayd itself cannot be configured to be)
 *
 * Crash points: queued-after-body-sync, queued-after-commit,
 * queued-before-reply, smtpd-before-250.  Failing steps:
 * queued-body-sync, queued-dir-sync, queued-store-put,
 * queued-store-delete, queued-store-panic (the store's commit reports
 * MDB_PANIC).  Delays: queued-conf (queued takes its first configuration
 * late, as if it had not come).  Steps that go wrong instead of
 * failing: smtpd-envelope-flags, smtpd-envelope-route and
 * smtpd-envelope-crlf spoil the envelope smtpd hands queued;
 * queued-job-crlf puts a line break in a recipient sent to deliverd,
 * queued-job-crlf-sender one in the sender;
 * queued-reply-crlf puts a line break and a forged 250 in the reply
 * to a transaction queued refuses; policyd-milter-endpoint makes
 * policyd ask the parent for a milter the configuration does not have,
 * policyd-spool-twice ask queued twice for a scanned file, and
 * policyd-scan-silent never give smtpd a scan's verdict.  Beside each
 * store write it makes,
 * policyd-pq-oversize sends queued a value over PDB_VAL_MAX,
 * policyd-pq-baddb a write to a database that does not exist and
 * policyd-pq-flood a thousand writes of new keys; PROC-ctl-forge makes
 * that child, given a control request, first answer the one before it
 * (which the parent gave another child, or nobody).
 */
#ifndef RELAYD_FAULTS_H
#define RELAYD_FAULTS_H

#include <stdint.h>

#ifdef RELAYD_FAULTS
void	 fault_point(const char *);
int	 fault_wanted(const char *);
void	 fault_forbidden(const char *);
int	 fault_error(const char *);
void	 fault_fill_fds(const char *, int fd);
int	 fault_delay(const char *);
uint16_t fault_port(const char *env, uint16_t port);
#else
#define fault_point(name)	do { } while (0)
#define fault_wanted(name)	0
#define fault_forbidden(name)	do { } while (0)
#define fault_error(name)	0
#define fault_fill_fds(name, fd) do { } while (0)
#define fault_delay(name)	0
#define fault_port(env, port)	(port)
#endif

#endif

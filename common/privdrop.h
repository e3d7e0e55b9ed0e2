/*
 * privdrop: a child's way out of root, in the order DESIGN.md gives:
 * chroot and chdir("/"), drop the capability bounding, inheritable and
 * ambient sets, setgroups/setresgid/setresuid, verify, PR_SET_NO_NEW_PRIVS.
 * The seccomp filter is loaded by each child after this, as its last step.
 * Every failure is fatal: a half-dropped child must never run.
 */
#ifndef RELAYD_PRIVDROP_H
#define RELAYD_PRIVDROP_H

#include <sys/types.h>

void	 privdrop(const char *root, uid_t, gid_t);
/* Without root: chdir to root and no_new_privs only; for developers. */
void	 privdrop_none(const char *root);

#endif

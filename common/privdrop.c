/*
 * privdrop: chroot, capabilities, credentials, no_new_privs.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <unistd.h>

#include <sys/capability.h>

#include "log.h"
#include "privdrop.h"

/* The new root must be root's alone, or the jail can be furnished. */
static void
check_root_dir(const char *root)
{
	struct stat st;

	if (stat(root, &st) == -1)
		fatal("chroot directory %s", root);
	if (!S_ISDIR(st.st_mode))
		fatalx("chroot directory %s: not a directory", root);
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		fatalx("chroot directory %s: must be owned by root and not "
		    "writable by group or others", root);
}

static void
drop_caps(void)
{
	cap_t	caps;
	int	cap;

	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (cap_drop_bound((cap_value_t)cap) == -1 && errno != EINVAL)
			fatal("cannot drop capability %d from the bounding set",
			    cap);
	if (cap_reset_ambient() == -1)
		fatal("cannot clear the ambient capabilities");
	if ((caps = cap_get_proc()) == NULL)
		fatal("cap_get_proc");
	if (cap_clear_flag(caps, CAP_INHERITABLE) == -1 ||
	    cap_set_proc(caps) == -1)
		fatal("cannot clear the inheritable capabilities");
	cap_free(caps);
}

static void
verify_drop(uid_t uid, gid_t gid)
{
	uid_t	ru, eu, su;
	gid_t	rg, eg, sg;
	cap_t	caps, none;
	int	cmp;

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("getresuid");
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid)
		fatalx("credentials did not change as asked");
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("could regain root after dropping it");
	if ((caps = cap_get_proc()) == NULL || (none = cap_init()) == NULL)
		fatal("cap_get_proc");
	cmp = cap_compare(caps, none);
	cap_free(caps);
	cap_free(none);
	if (cmp != 0)
		fatalx("capabilities remain after the drop");
	if (CAP_IS_SUPPORTED(CAP_SYS_ADMIN) &&
	    prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0)
		fatalx("bounding set still holds CAP_SYS_ADMIN");
}

void
privdrop(const char *root, uid_t uid, gid_t gid)
{
	if (uid == 0 || gid == 0)
		fatalx("refusing to run a child as root");
	check_root_dir(root);
	if (chroot(root) == -1)
		fatal("chroot %s", root);
	if (chdir("/") == -1)
		fatal("chdir /");
	drop_caps();
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		fatal("cannot drop to uid %u gid %u", (unsigned)uid,
		    (unsigned)gid);
	verify_drop(uid, gid);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
}

void
privdrop_none(const char *root)
{
	if (chdir(root) == -1)
		fatal("chdir %s", root);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("PR_SET_NO_NEW_PRIVS");
}

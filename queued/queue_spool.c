/*
 * queue_spool: message bodies, one file per message in spool/ (queued's
 * own directory, 0700), named by the queue id.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control_req.h"
#include "log.h"
#include "queued.h"

/* Ids sort by time: seconds above, randomness below. */
static uint64_t
new_id(void)
{
	uint64_t id;

	do {
		id = ((uint64_t)time(NULL) << 32) | arc4random();
	} while (id == 0);
	return id;
}

/* Create a spool file in dirfd; its descriptor, or -1 with errno. */
int
spool_create(int dirfd, uint64_t *idp)
{
	char		name[32];
	int		fd, tries;
	uint64_t	id;

	for (tries = 0; tries < 8; tries++) {
		id = new_id();
		queue_id_format(id, name, sizeof(name));
		fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
		if (fd != -1) {
			*idp = id;
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

/* The emptied file under a new name; its id, or -1 with errno. */
static int
rename_new(int dirfd, const char *from, char *to, size_t tosz,
    uint64_t *idp)
{
	int		tries;
	uint64_t	id;

	for (tries = 0; tries < 8; tries++) {
		id = new_id();
		queue_id_format(id, to, tosz);
		if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0) {
			*idp = id;
			return 0;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/*
 * A delivered message's file, emptied and renamed, becomes a new one:
 * cheaper than unlink and create, and on ext4 without a journal much
 * cheaper, since each new inode is found past every inode freed in the
 * last seconds.
 *
 * Only if no one else has it open: deliverd's descriptor may outlive the
 * job (a bufferevent freed late, a bug, a compromise), and whoever reads
 * the old message must never read the next one.  The kernel grants a
 * write lease only when ours is the inode's one open file description,
 * in any process; held while the file is emptied and renamed, it also
 * tells (F_GETLEASE) whether anyone opened the file meanwhile.
 *
 * Its descriptor and new id; or -1 with *why RECYCLE_HELD (open
 * elsewhere), RECYCLE_NOLEASE (no lease to be had: errno says why) or 0
 * (errno), the file left under its old name or removed.  Any thread.
 */
int
spool_recycle(int dirfd, uint64_t old, uint64_t *idp, int *why)
{
	char	from[32], to[32];
	int	fd, err;

	*why = 0;
	queue_id_format(old, from, sizeof(from));
	if ((fd = openat(dirfd, from, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (fcntl(fd, F_SETLEASE, F_WRLCK) == -1) {
		err = errno;
		*why = err == EAGAIN ? RECYCLE_HELD : RECYCLE_NOLEASE;
		goto fail;
	}
	/* Emptied first: a crash leaves a spare, not a stale message. */
	if (ftruncate(fd, 0) == -1 ||
	    rename_new(dirfd, from, to, sizeof(to), idp) == -1) {
		err = errno;
		goto fail;
	}
	/*
	 * Anyone who opened it since has broken the lease.  Else the lease
	 * goes before the file is handed on: kept, it would hold up the
	 * next open of the file (to deliver it) for lease-break-time.
	 */
	if (fcntl(fd, F_GETLEASE) != F_WRLCK) {
		err = EBUSY;
		*why = RECYCLE_HELD;
	} else if (fcntl(fd, F_SETLEASE, F_UNLCK) == -1) {
		err = errno;
		*why = RECYCLE_NOLEASE;
	} else
		return fd;
	(void)unlinkat(dirfd, to, 0);
fail:
	close(fd);
	errno = err;
	return -1;
}

/* The event loop's pool of recycled files (queue_commit.c fills it). */
void
recycled_put(struct queued *q, uint64_t id, int fd)
{
	if (fdpool_put(&q->recycled, id, fd) == -1) {
		close(fd);
		spool_unlink(q->spool_fd, id);
	}
}

int
recycled_take(struct queued *q, uint64_t *id, int *fd)
{
	if (fdpool_take(&q->recycled, id, fd) == -1)
		return -1;
	committer_recycled_taken(q->cm);
	return 0;
}

void
recycled_drop_all(struct queued *q)
{
	uint64_t	id;
	int		fd;

	while (recycled_take(q, &id, &fd) == 0) {
		close(fd);
		spool_unlink(q->spool_fd, id);
	}
}

/* Any thread. */
void
spool_unlink(int dirfd, uint64_t id)
{
	char name[32];

	queue_id_format(id, name, sizeof(name));
	if (unlinkat(dirfd, name, 0) == -1 && errno != ENOENT)
		log_warn("msgid=%s: cannot remove the spool file", name);
}

/*
 * At start: a spool file without an envelope is a message that was never
 * acknowledged (a crash between write and commit): remove it.  Envelopes
 * without their files are queued.c's (check_bodies).
 */
void
spool_scan(struct queued *q)
{
	DIR		*d;
	struct dirent	*e;
	struct qmsg	 find;
	struct stat	 st;
	int		 fd, removed = 0, spares = 0, empty;

	if ((fd = dup(q->spool_fd)) == -1 || (d = fdopendir(fd)) == NULL)
		fatal("spool directory");
	rewinddir(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (!ctl_valid_id(e->d_name)) {
			log_warnx("spool: unexpected file %s left alone",
			    e->d_name);
			continue;
		}
		find.id = ctl_id_value(e->d_name);
		if (RB_FIND(qmsg_tree, &q->queue, &find) != NULL)
			continue;
		/* smtpd's spares, left by a crash, were never written. */
		empty = fstatat(q->spool_fd, e->d_name, &st, 0) == 0 &&
		    st.st_size == 0;
		if (unlinkat(q->spool_fd, e->d_name, 0) == -1)
			continue;
		if (empty)
			spares++;
		else
			removed++;
	}
	closedir(d);
	if (removed > 0)
		log_info("spool: removed %d files without an envelope "
		    "(never acknowledged)", removed);
	if (spares > 0)
		log_debug("spool: removed %d empty spare files", spares);
	if (removed + spares > 0 && fsync(q->spool_fd) == -1)
		log_warn("fsync spool");
}

uint64_t
spool_free_space(struct queued *q)
{
	struct statvfs sv;

	if (fstatvfs(q->spool_fd, &sv) == -1)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
}

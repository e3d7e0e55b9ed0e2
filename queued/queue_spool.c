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

void
spool_unlink(struct queued *q, uint64_t id)
{
	char name[32];

	queue_id_format(id, name, sizeof(name));
	if (unlinkat(q->spool_fd, name, 0) == -1 && errno != ENOENT)
		log_warn("msgid=%s: cannot remove the spool file", name);
}

/*
 * At start: a spool file without an envelope is a message that was never
 * acknowledged (a crash between write and commit): remove it.  An
 * envelope without its file is logged; it cannot be delivered.
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

/*
 * queue_corrupt: the quarantine, state_dir/corrupt (queued's, 0700).
 *
 * What queued finds at start and cannot use is kept there, never
 * deleted: an envelope it cannot decode, or one whose spool file is gone
 * although the message was acknowledged.  For each, by queue id:
 *
 *   ID.envelope   the raw LMDB value (or the envelope, re-encoded)
 *   ID.reason     one line: why
 *   ID            the message's body, moved from spool/, if there is one
 *
 * Each file is synced, and the directories, before the envelope leaves
 * the store; a crash in between does it again at the next start.
 * `relayctl show corrupt` lists them; the operator decides what to do.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "control_req.h"
#include "ctl_stream.h"
#include "fdio.h"
#include "log.h"
#include "marshal.h"
#include "msg_parent.h"
#include "queued.h"

#define CORRUPT_PART		256	/* ids a listing holds at once */
#define REASON_MAX		200

struct corrupt_entry {
	char		 id[CTL_ID_LEN + 1];
	long long	 size;		/* of the body, -1: none */
	time_t		 when;
	char		 reason[REASON_MAX];
};

/* A show corrupt in progress: the ids of the directory pass. */
struct corrupt_show {
	struct queued	*q;
	uint64_t	 ids[CORRUPT_PART];
	size_t		 n;		/* found by the last pass */
	size_t		 next;		/* the next to list */
	int		 done;		/* the pass found the last */
};

/* A whole file in dirfd, synced: 0, or -1 with errno. */
static int
write_synced(int dirfd, const char *name, const void *p, size_t len)
{
	int fd, err;

	if ((fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return -1;
	if ((err = write_full(fd, p, len, NULL)) != 0 ||
	    (fsync(fd) == -1 && (err = errno) != 0)) {
		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

/* The body across file systems: copied, synced, then unlinked. */
static int
copy_body(struct queued *q, const char *name)
{
	char	buf[65536];
	ssize_t	n;
	int	in, out, save, err = 0, rv = -1;

	if ((in = openat(q->spool_fd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if ((out = openat(q->corrupt_fd, name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		save = errno;
		close(in);
		errno = save;
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if ((err = write_full(out, buf, (size_t)n, NULL)) != 0)
			break;
	if (n == 0 && fsync(out) == 0)
		rv = 0;
	save = err != 0 ? err : errno;
	close(in);
	close(out);
	if (rv == 0 && unlinkat(q->spool_fd, name, 0) == -1)
		rv = -1;
	else
		errno = save;
	return rv;
}

/* The body from spool/ to corrupt/; 0 also when there is none. */
static int
move_body(struct queued *q, const char *name)
{
	if (renameat(q->spool_fd, name, q->corrupt_fd, name) == 0)
		return fsync(q->spool_fd);
	if (errno == ENOENT)
		return 0;
	if (errno == EXDEV)
		return copy_body(q, name) == 0 ? fsync(q->spool_fd) : -1;
	return -1;
}

/*
 * Keep an envelope, its reason and its body in the quarantine, synced.
 * 0 when the envelope may now leave the store; -1 with errno if not.
 */
int
corrupt_save(struct queued *q, uint64_t id, const void *env, size_t len,
    const char *why)
{
	char	name[32], file[48], line[REASON_MAX + 2];
	size_t	n;

	queue_id_format(id, name, sizeof(name));
	snprintf(line, sizeof(line), "%s\n", why);
	/* One line of printable text, whatever the reason held. */
	for (n = 0; line[n] != '\0' && line[n] != '\n'; n++)
		if (line[n] < 0x20 || line[n] > 0x7e)
			line[n] = '?';
	snprintf(file, sizeof(file), "%s.envelope", name);
	if (write_synced(q->corrupt_fd, file, env, len) == -1)
		return -1;
	snprintf(file, sizeof(file), "%s.reason", name);
	if (write_synced(q->corrupt_fd, file, line, strlen(line)) == -1 ||
	    move_body(q, name) == -1 || fsync(q->corrupt_fd) == -1)
		return -1;
	return 0;
}

/* Read ID.reason's line into the entry. */
static void
read_reason(struct queued *q, struct corrupt_entry *ce)
{
	char	file[48];
	ssize_t	n;
	int	fd;

	strlcpy(ce->reason, "-", sizeof(ce->reason));
	snprintf(file, sizeof(file), "%s.reason", ce->id);
	if ((fd = openat(q->corrupt_fd, file, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return;
	n = read(fd, ce->reason, sizeof(ce->reason) - 1);
	close(fd);
	if (n <= 0) {
		strlcpy(ce->reason, "-", sizeof(ce->reason));
		return;
	}
	ce->reason[n] = '\0';
	ce->reason[strcspn(ce->reason, "\n")] = '\0';
}

/* One entry per ID.envelope; 0 if the name is not one. */
static int
read_entry(struct queued *q, const char *dname, struct corrupt_entry *ce)
{
	struct stat	st;
	size_t		len = strlen(dname);

	if (len != CTL_ID_LEN + 9 || strcmp(dname + CTL_ID_LEN,
	    ".envelope") != 0)
		return 0;
	memcpy(ce->id, dname, CTL_ID_LEN);
	ce->id[CTL_ID_LEN] = '\0';
	if (!ctl_valid_id(ce->id) ||
	    fstatat(q->corrupt_fd, dname, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	ce->when = st.st_mtime;
	ce->size = fstatat(q->corrupt_fd, ce->id, &st, AT_SYMLINK_NOFOLLOW) ==
	    0 ? (long long)st.st_size : -1;
	read_reason(q, ce);
	return 1;
}

/*
 * The smallest ids from the cursor on, found in one pass over the
 * directory: at most CORRUPT_PART kept, in order.  1 if more are left.
 */
static int
corrupt_scan(struct corrupt_show *sh, uint64_t from)
{
	struct dirent	*de;
	DIR		*d;
	uint64_t	 id;
	size_t		 lo, hi, mid, len;
	int		 fd, more = 0;

	sh->n = sh->next = 0;
	if ((fd = dup(sh->q->corrupt_fd)) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != CTL_ID_LEN + 9 || strcmp(de->d_name + CTL_ID_LEN,
		    ".envelope") != 0)
			continue;
		de->d_name[CTL_ID_LEN] = '\0';
		if (!ctl_valid_id(de->d_name) ||
		    (id = ctl_id_value(de->d_name)) < from)
			continue;
		if (sh->n == CORRUPT_PART && id >= sh->ids[sh->n - 1]) {
			more = 1;
			continue;
		}
		for (lo = 0, hi = sh->n; lo < hi; ) {
			mid = lo + (hi - lo) / 2;
			if (sh->ids[mid] < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (sh->n == CORRUPT_PART) {
			more = 1;
			sh->n--;
		}
		memmove(&sh->ids[lo + 1], &sh->ids[lo],
		    (sh->n - lo) * sizeof(sh->ids[0]));
		sh->ids[lo] = id;
		sh->n++;
	}
	closedir(d);
	return more;
}

/* A part of the listing: each id's line, from the cursor on. */
static int
corrupt_fill(struct ctl_stream *s, void *arg, uint64_t *cursor)
{
	struct corrupt_show	*sh = arg;
	struct corrupt_entry	 ce;
	char			 name[CTL_ID_LEN + 16], line[400], size[24];
	char			 when[32];
	struct tm		 tm;
	uint64_t		 id;
	int			 more;

	if (sh->next == sh->n) {
		if (sh->done)
			return 0;
		if ((more = corrupt_scan(sh, *cursor)) == -1) {
			log_warn("show corrupt: the quarantine directory");
			ctl_stream_error(s, "cannot read the quarantine "
			    "directory");
			return -1;
		}
		sh->done = !more;
	}
	for (; sh->next < sh->n; sh->next++) {
		id = sh->ids[sh->next];
		queue_id_format(id, name, sizeof(name));
		strlcat(name, ".envelope", sizeof(name));
		if (!read_entry(sh->q, name, &ce))
			continue;	/* gone meanwhile */
		if (ce.size < 0)
			strlcpy(size, "-", sizeof(size));
		else
			snprintf(size, sizeof(size), "%lld", ce.size);
		if (gmtime_r(&ce.when, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
		    &tm) == 0)
			strlcpy(when, "-", sizeof(when));
		snprintf(line, sizeof(line), "%s %s %s %s", ce.id, size, when,
		    ce.reason);
		if (ctl_stream_line(s, line) == -1)
			return 1;
		if (id == UINT64_MAX)
			sh->done = 1;
		else
			*cursor = id + 1;
	}
	return sh->next < sh->n || !sh->done;
}

/*
 * `relayctl show corrupt`: what is in quarantine, by id, in parts: each
 * part reads the directory again for the next ids after the cursor, so
 * the listing holds CORRUPT_PART ids however many there are.
 */
void
corrupt_show(struct queued *q, struct imsg *imsg)
{
	struct corrupt_show *sh;

	if ((sh = calloc(1, sizeof(*sh))) == NULL) {
		ctl_done(q, imsg->hdr.peerid, 0, "out of memory");
		return;
	}
	sh->q = q;
	ctl_stream_open(q->child, imsg, "show corrupt", "ID SIZE WHEN REASON",
	    corrupt_fill, free, sh);
}

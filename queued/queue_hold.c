/*
 * queue_hold: legal holds (relayctl hold-records).
 *
 * A hold names a tenant or an address; records/holds lists them, one
 * line each, written whole and renamed into place.  While any is in
 * force, a bucket whose time has come is read before it is deleted, and
 * each record a hold matches (the tenant's, or one naming the address as
 * sender or recipient) is appended to records/held/N and synced; only
 * then is the bucket deleted.  So a hold keeps everything that would
 * otherwise be destroyed, from the moment it is placed, and what the
 * buckets still hold is kept in them until their time.  Releasing a
 * hold deletes its file at once: what it kept was already past its
 * retention.  A record two holds match is kept (and traced) twice.
 *
 * Reading a bucket is done a bounded amount at a time from the event
 * loop, so that a large one never holds queued up.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "queued.h"

#define COPY_STEP	(1024 * 1024)	/* octets read per turn of the loop */
#define COPY_RETRY	60		/* seconds, after a failed copy */

struct holdcopy {
	struct queued		*q;
	int64_t			 start;
	int			 fd;
	struct hold		*holds;		/* as they were at the start */
	int			*out;
	size_t			 n;
	uint64_t		 kept;
	struct event		*ev;
	struct linereader	 lr;
};

int
hold_matches(const struct hold *h, const struct recview *v)
{
	return h->address ? rv_names(v, h->what) : rv_tenant(v, h->what);
}

/* records/holds: a record-like line per hold, its number for an id. */
int
holds_load(struct queued *q)
{
	struct records		*rs = q->rec;
	struct linereader	*lr;
	struct recview		*v;
	struct hold		*h, *grown;
	const char		*line, *what;
	size_t			 len;
	int			 fd, rv = 0, more;

	if ((fd = openat(rs->dirfd, "holds", O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return errno == ENOENT ? 0 : -1;
	if ((lr = malloc(sizeof(*lr))) == NULL ||
	    (v = malloc(sizeof(*v))) == NULL) {
		free(lr);
		close(fd);
		return -1;
	}
	lr_init(lr, fd);
	while ((more = lr_peek(lr, &line, &len)) == 1) {
		if (rl_parse(line, len, v) == -1 ||
		    strcmp(v->event, "hold") != 0 ||
		    ((what = rv_get(v, "tenant")) == NULL &&
		    (what = rv_get(v, "address")) == NULL) ||
		    strlen(what) >= sizeof(h->what)) {
			log_warnx("records/holds: a line cannot be read: %.*s",
			    (int)(len > 200 ? 200 : len), line);
			rv = -1;
			break;
		}
		if ((grown = reallocarray(rs->holds, rs->nholds + 1,
		    sizeof(*rs->holds))) == NULL) {
			rv = -1;
			break;
		}
		rs->holds = grown;
		h = &rs->holds[rs->nholds++];
		memset(h, 0, sizeof(*h));
		h->n = (uint32_t)strtoul(v->id, NULL, 16);
		h->address = rv_get(v, "address") != NULL;
		strlcpy(h->what, what, sizeof(h->what));
		if (rv_get(v, "since") != NULL)
			h->since = strtoll(rv_get(v, "since"), NULL, 10);
		lr_take(lr);
	}
	if (more == -1)
		rv = -1;
	free(lr);
	free(v);
	close(fd);
	if (rv == 0 && rs->nholds > 0)
		log_info("records: %zu legal hold%s in force", rs->nholds,
		    rs->nholds == 1 ? "" : "s");
	return rv;
}

/* records/holds written anew, synced, renamed into place. */
int
holds_save(struct queued *q)
{
	struct records	*rs = q->rec;
	struct recline	 rl;
	size_t		 i;
	int		 fd, rv = 0;

	if ((fd = openat(rs->dirfd, "holds.new", O_WRONLY | O_CREAT |
	    O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return -1;
	for (i = 0; i < rs->nholds && rv == 0; i++) {
		const struct hold *h = &rs->holds[i];

		rl_begin(&rl, h->n, h->since, "hold");
		rl_str(&rl, h->address ? "address" : "tenant", h->what);
		rl_num(&rl, "since", (uint64_t)h->since);
		rl_end(&rl);
		if (write(fd, rl.buf, rl.len) != (ssize_t)rl.len)
			rv = -1;
	}
	if (rv == 0 && fsync(fd) == -1)
		rv = -1;
	close(fd);
	if (rv == 0 && (renameat(rs->dirfd, "holds.new", rs->dirfd,
	    "holds") == -1 || fsync(rs->dirfd) == -1))
		rv = -1;
	if (rv == -1)
		unlinkat(rs->dirfd, "holds.new", 0);
	return rv;
}

static void
copy_free(struct holdcopy *hc)
{
	size_t i;

	for (i = 0; i < hc->n; i++)
		if (hc->out[i] != -1)
			close(hc->out[i]);
	if (hc->fd != -1)
		close(hc->fd);
	if (hc->ev != NULL)
		event_free(hc->ev);
	hc->q->rec->copy = NULL;
	free(hc->out);
	free(hc->holds);
	free(hc);
}

static void
purge_later(int fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	records_purge(arg);
}

/* The copy cannot be made: the bucket stays, and is tried again. */
static void
copy_failed(struct holdcopy *hc, const char *what)
{
	struct queued	*q = hc->q;
	char		 name[32];

	records_bucket_name(hc->start, name, sizeof(name));
	log_warn("records: %s kept past its retention for the legal holds: "
	    "%s; tried again in %ds", name, what, COPY_RETRY);
	copy_free(hc);
	q->rec->oldest = -1;
	if (event_base_once(q->child->base, -1, EV_TIMEOUT, purge_later, q,
	    &(struct timeval){ COPY_RETRY, 0 }) == -1)
		log_warnx("records: cannot schedule the purge");
}

static int
keep_line(struct holdcopy *hc, const char *line, size_t len,
    struct recview *v)
{
	char	name[16];
	size_t	i;

	if (rl_parse(line, len, v) == -1)
		return 0;
	for (i = 0; i < hc->n; i++) {
		if (hc->holds[i].gone || !hold_matches(&hc->holds[i], v))
			continue;
		if (hc->out[i] == -1) {
			snprintf(name, sizeof(name), "%u", hc->holds[i].n);
			if ((hc->out[i] = openat(hc->q->rec->heldfd, name,
			    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
			    O_NOFOLLOW, 0600)) == -1)
				return -1;
		}
		if (write(hc->out[i], line, len) != (ssize_t)len ||
		    write(hc->out[i], "\n", 1) != 1)
			return -1;
		hc->kept++;
	}
	return 0;
}

/* A bounded part of the bucket; at its end, the copies synced. */
static void
copy_step(int fd, short ev, void *arg)
{
	struct holdcopy	*hc = arg;
	struct queued	*q = hc->q;
	struct recview	*v;
	const char	*line;
	size_t		 len, i;
	uint64_t	 stop = hc->lr.nread + COPY_STEP;
	int		 more = 1;
	char		 name[32];

	(void)fd;
	(void)ev;
	if ((v = malloc(sizeof(*v))) == NULL) {
		copy_failed(hc, "out of memory");
		return;
	}
	while (hc->lr.nread < stop && (more = lr_peek(&hc->lr, &line,
	    &len)) == 1) {
		if (keep_line(hc, line, len, v) == -1) {
			free(v);
			copy_failed(hc, "writing records/held");
			return;
		}
		lr_take(&hc->lr);
	}
	free(v);
	if (hc->lr.nread >= stop && more == 1) {
		event_active(hc->ev, EV_TIMEOUT, 0);
		return;
	}
	if (more == -1) {
		copy_failed(hc, "reading it");
		return;
	}
	for (i = 0; i < hc->n; i++)
		if (hc->out[i] != -1 && fsync(hc->out[i]) == -1) {
			copy_failed(hc, "syncing records/held");
			return;
		}
	records_bucket_name(hc->start, name, sizeof(name));
	if (hc->kept > 0)
		log_info("records: %llu records of %s kept for the legal "
		    "holds", (unsigned long long)hc->kept, name);
	records_bucket_delete(q, hc->start);
	copy_free(hc);
	records_purge(q);
}

/*
 * A hold released while a bucket is being copied for it: the copy keeps
 * nothing more for it (its number may be given to the next hold).
 */
void
holds_copy_forget(struct queued *q, uint32_t n)
{
	struct holdcopy	*hc = q->rec->copy;
	size_t		 i;

	if (hc == NULL)
		return;
	for (i = 0; i < hc->n; i++)
		if (hc->holds[i].n == n && !hc->holds[i].gone) {
			hc->holds[i].gone = 1;
			if (hc->out[i] != -1)
				close(hc->out[i]);
			hc->out[i] = -1;
		}
}

void
holds_copy(struct queued *q, int64_t start)
{
	struct records	*rs = q->rec;
	struct holdcopy	*hc;
	char		 name[32];
	size_t		 i;

	records_bucket_name(start, name, sizeof(name));
	if ((hc = calloc(1, sizeof(*hc))) == NULL ||
	    (hc->holds = calloc(rs->nholds, sizeof(*hc->holds))) == NULL ||
	    (hc->out = calloc(rs->nholds, sizeof(*hc->out))) == NULL) {
		if (hc != NULL)
			free(hc->holds);
		free(hc);
		log_warnx("records: %s kept: out of memory", name);
		return;
	}
	hc->q = q;
	hc->start = start;
	hc->n = rs->nholds;
	memcpy(hc->holds, rs->holds, rs->nholds * sizeof(*hc->holds));
	for (i = 0; i < hc->n; i++)
		hc->out[i] = -1;
	rs->copy = hc;
	if ((hc->fd = openat(rs->dirfd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1 || (hc->ev = event_new(q->child->base, -1, 0,
	    copy_step, hc)) == NULL) {
		copy_failed(hc, "opening it");
		return;
	}
	lr_init(&hc->lr, hc->fd);
	event_active(hc->ev, EV_TIMEOUT, 0);
}

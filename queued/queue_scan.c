/*
 * queue_scan: the spool file of a message being scanned by milters, and
 * the header edits they made (msg_milter.h).
 *
 * smtpd claims the file of its transaction for a scan; policyd may then
 * open that one file, once, read-only: never any other, nor one with an
 * envelope.  What the milters changed comes back through smtpd as
 * splices of the header section; they are held with the pending file
 * and applied by the commit's worker, before the body's fsync, after a
 * check against the file itself (hdr_scan.c): whole fields only, nothing
 * past the header.  The body is copied to its new place when the header
 * changes length: a cost paid only by tenants that allow header changes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_milter.h"
#include "queued.h"

#define HDR_READ_MAX	(2 * 1024 * 1024)
#define FIELDS_MAX	20000
#define COPY_CHUNK	(64 * 1024)

static struct pending *
find(struct queued *q, uint64_t id)
{
	struct pending key;

	key.id = id;
	return RB_FIND(pending_tree, &q->pending, &key);
}

void
pedits_free(struct pedits *pe)
{
	size_t i;

	if (pe == NULL)
		return;
	for (i = 0; i < pe->n; i++)
		free((void *)pe->e[i].ins);
	free(pe);
}

/* smtpd: this transaction's file is to be scanned. */
void
scan_claim(struct queued *q, struct imsg *imsg, struct mr *r)
{
	struct pending	*p;
	struct mw	 w;
	uint64_t	 id = mr_u64(r);
	int		 ok;

	if (mr_end(r) == -1 || imsg->hdr.peerid == 0)
		child_peer_broken(q->child, PROC_SMTPD, imsg, "claim");
	p = find(q, id);
	/* A spare (sid 0) or this session's own file, nobody else's. */
	ok = p != NULL && !p->committing && p->env->sender == NULL &&
	    p->edits == NULL && (p->sid == 0 || p->sid == imsg->hdr.peerid);
	if (ok) {
		p->sid = imsg->hdr.peerid;
		p->scan_claim = 1;
	}
	mw_init(&w);
	mw_u64(&w, id);
	mw_u8(&w, (uint8_t)ok);
	child_send(q->child, PROC_SMTPD, M_MT_CLAIMED, imsg->hdr.peerid, -1,
	    w.buf, w.len);
}

/* smtpd: one edit of the header, in order, before the commit. */
void
scan_edit(struct queued *q, struct imsg *imsg, struct mr *r)
{
	struct pending	*p;
	struct hdr_edit	*e;
	const void	*ins;
	uint64_t	 id = mr_u64(r), off = mr_u64(r), del = mr_u64(r);
	size_t		 len;

	ins = mr_data(r, &len);
	if (mr_end(r) == -1 || ins == NULL || len > MILTER_EDIT_MAX ||
	    (p = find(q, id)) == NULL || p->sid != imsg->hdr.peerid ||
	    p->committing || p->env->sender != NULL)
		child_peer_broken(q->child, PROC_SMTPD, imsg, "header edit");
	if (p->edits == NULL &&
	    (p->edits = calloc(1, sizeof(*p->edits))) == NULL) {
		p->edits_failed = 1;
		return;
	}
	e = &p->edits->e[p->edits->n];
	if (p->edits->n == MILTER_EDITS_MAX || del > UINT32_MAX ||
	    off > UINT32_MAX || (p->edits->n > 0 && off < e[-1].off +
	    e[-1].del))
		child_peer_broken(q->child, PROC_SMTPD, imsg, "header edit");
	if (len > 0 && (e->ins = malloc(len)) == NULL) {
		p->edits_failed = 1;
		return;
	}
	if (len > 0)
		memcpy((void *)e->ins, ins, len);
	e->inslen = len;
	e->off = off;
	e->del = del;
	p->edits->delta += (int64_t)len - (int64_t)del;
	p->edits->n++;
}

/* policyd: the claimed file, read-only, once. */
void
scan_spool(struct queued *q, struct imsg *imsg)
{
	struct pending	*p;
	struct mr	 r;
	struct mw	 w;
	uint64_t	 id, sid;
	char		 name[32];
	int		 fd = -1;

	if (imsg_has_fd(imsg))
		child_peer_broken(q->child, PROC_POLICYD, imsg, "descriptor");
	mr_init(&r, imsg->data, imsg->datalen);
	id = mr_u64(&r);
	sid = mr_u64(&r);
	if (mr_end(&r) == -1 || sid != imsg->hdr.peerid)
		child_peer_broken(q->child, PROC_POLICYD, imsg, "spool");
	if ((p = find(q, id)) != NULL && p->sid == sid && p->scan_claim &&
	    !p->committing) {
		p->scan_claim = 0;
		queue_id_format(id, name, sizeof(name));
		if ((fd = openat(q->spool_fd, name, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1)
			log_warn("msgid=%s: opening the spool file for its "
			    "scan", name);
	} else {
		queue_id_format(id, name, sizeof(name));
		log_warnx("msgid=%s: policyd asked for a spool file that is "
		    "not claimed for it; refused", name);
	}
	mw_init(&w);
	mw_u64(&w, id);
	mw_u8(&w, fd != -1);
	child_send(q->child, PROC_POLICYD, M_MT_SPOOL_FD, sid, fd, w.buf,
	    w.len);
}

static int
read_at(int fd, uint8_t *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len > 0) {
		if ((n = pread(fd, buf, len, off)) <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int
write_at(int fd, const uint8_t *buf, size_t len, off_t off)
{
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(fd, buf, len, off)) <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Move [from, size) by d octets, in chunks, in the safe direction. */
static int
shift(int fd, uint64_t from, uint64_t size, int64_t d)
{
	uint8_t		*buf;
	uint64_t	 pos, n;
	int		 rv = -1;

	if (d == 0 || from == size)
		return 0;
	if ((buf = malloc(COPY_CHUNK)) == NULL)
		return -1;
	if (d > 0) {
		for (pos = size; pos > from; ) {
			n = pos - from < COPY_CHUNK ? pos - from : COPY_CHUNK;
			pos -= n;
			if (read_at(fd, buf, n, (off_t)pos) == -1 ||
			    write_at(fd, buf, n, (off_t)(pos + d)) == -1)
				goto out;
		}
	} else {
		for (pos = from; pos < size; pos += n) {
			n = size - pos < COPY_CHUNK ? size - pos : COPY_CHUNK;
			if (read_at(fd, buf, n, (off_t)pos) == -1 ||
			    write_at(fd, buf, n, (off_t)(pos + d)) == -1)
				goto out;
		}
	}
	rv = 0;
out:
	free(buf);
	return rv;
}

/*
 * A commit's worker: the edits checked against the file and applied.
 * 0, or -1 with errno (EINVAL: they do not fit this file's header).
 */
int
pedits_apply(int fd, const struct pedits *pe, uint64_t want)
{
	struct hdr_field	*f = NULL;
	struct hdr_section	 hs;
	struct stat		 st;
	uint8_t			*old = NULL, *new = NULL;
	size_t			 got, i, o = 0, at = 0, cap;
	int			 rv = -1, err = EINVAL;

	if (fstat(fd, &st) == -1)
		return -1;
	got = (uint64_t)st.st_size < HDR_READ_MAX ? (size_t)st.st_size :
	    HDR_READ_MAX;
	if ((old = malloc(got + 1)) == NULL ||
	    read_at(fd, old, got, 0) == -1) {
		err = errno;
		goto out;
	}
	if (hdr_scan(old, got, got == (size_t)st.st_size, NULL, FIELDS_MAX,
	    &hs) == -1 || (f = calloc(hs.n + 1, sizeof(*f))) == NULL ||
	    hdr_scan(old, got, got == (size_t)st.st_size, f, FIELDS_MAX,
	    &hs) == -1 || hdr_edits_ok(f, &hs, pe->e, pe->n) == -1 ||
	    (int64_t)st.st_size + pe->delta < 0 ||
	    (uint64_t)((int64_t)st.st_size + pe->delta) != want ||
	    (int64_t)hs.end + pe->delta < 0)
		goto out;
	cap = (size_t)((int64_t)hs.end + pe->delta);
	if ((new = malloc(cap + 1)) == NULL) {
		err = errno;
		goto out;
	}
	for (i = 0; i < pe->n; i++) {
		memcpy(new + o, old + at, pe->e[i].off - at);
		o += pe->e[i].off - at;
		if (pe->e[i].inslen > 0)
			memcpy(new + o, pe->e[i].ins, pe->e[i].inslen);
		o += pe->e[i].inslen;
		at = pe->e[i].off + pe->e[i].del;
	}
	memcpy(new + o, old + at, hs.end - at);
	o += hs.end - at;
	if (shift(fd, hs.end, (uint64_t)st.st_size, pe->delta) == -1 ||
	    write_at(fd, new, o, 0) == -1 ||
	    (pe->delta < 0 && ftruncate(fd, (off_t)want) == -1)) {
		err = errno;
		goto out;
	}
	rv = 0;
out:
	free(old);
	free(new);
	free(f);
	if (rv == -1)
		errno = err;
	return rv;
}

/*
 * queue_receive: taking messages from smtpd (msg_queue.h).
 *
 * smtpd faces the Internet and is not trusted: everything it sends is
 * checked, and a message that does not make sense is a broken peer.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "msg_queue.h"
#include "queue_stats.h"
#include "queued.h"

int
pending_cmp(struct pending *a, struct pending *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(pending_tree, pending, entry, pending_cmp)

static void
send_smtpd(struct queued *q, uint32_t type, uint64_t sid, int fd,
    struct mw *w)
{
	child_send(q->child, PROC_SMTPD, type, sid, fd, w ? w->buf : NULL,
	    w ? w->len : 0);
}

static void
send_fail(struct queued *q, uint32_t type, uint64_t sid, uint64_t id,
    enum queue_reply_id why)
{
	struct mw w;

	mw_init(&w);
	if (type == M_Q_COMMIT_FAIL)
		mw_u64(&w, id);
	queue_reply_put(&w, why);
	send_smtpd(q, type, sid, -1, &w);
}

/*
 * A file belongs to no session until a transaction writes into it (smtpd
 * keeps spares, asked for with session 0); the envelope's head claims it
 * for the session that sent it, and the rest must come from that one.
 */
static struct pending *
pending_find(struct queued *q, uint64_t id)
{
	struct pending find;

	find.id = id;
	return RB_FIND(pending_tree, &q->pending, &find);
}

static struct pending *
pending_owned(struct queued *q, uint64_t id, uint64_t sid)
{
	struct pending *p = pending_find(q, id);

	return (p != NULL && p->sid == sid) ? p : NULL;
}

static void
pending_drop(struct queued *q, struct pending *p, int remove_file)
{
	RB_REMOVE(pending_tree, &q->pending, p);
	q->npending--;
	if (q->pending_full && q->npending + q->ncreating <
	    q->pending_cap - q->pending_cap / 8) {
		q->pending_full = 0;
		log_info("spool files for smtpd: %zu of %zu; making them "
		    "again", q->npending, q->pending_cap);
	}
	if (p->fd != -1)
		close(p->fd);
	if (remove_file)
		spool_unlink(q->spool_fd, p->id);
	envelope_free(p->env);
	pedits_free(p->edits);
	free(p);
}

static void
create_fail(struct queued *q, uint64_t sid, int err)
{
	log_warnx("cannot create a spool file: %s", strerror(err));
	send_fail(q, M_Q_CREATE_FAIL, sid, 0, (err == ENOSPC ||
	    err == EDQUOT) ? QR_NO_STORAGE : QR_CANNOT_CREATE);
}

/* A new, empty spool file for smtpd (sid 0: a spare). */
static void
hand_file(struct queued *q, uint64_t sid, uint64_t id, int fd)
{
	struct pending	*p;
	struct mw	 w;
	int		 dfd;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->env = envelope_new()) == NULL || (dfd = dup(fd)) == -1) {
		if (p != NULL)
			envelope_free(p->env);
		free(p);
		close(fd);
		spool_unlink(q->spool_fd, id);
		create_fail(q, sid, ENOMEM);
		return;
	}
	p->id = id;
	p->sid = sid;
	p->fd = fd;
	RB_INSERT(pending_tree, &q->pending, p);
	q->npending++;
	mw_init(&w);
	mw_u64(&w, p->id);
	send_smtpd(q, M_Q_CREATED, p->sid, dfd, &w);
}

/*
 * A recycled file if one is ready; else a worker makes one, since the
 * open is slow under load.
 */
static void
on_create(struct queued *q, struct imsg *imsg)
{
	struct task	*j;
	uint64_t	 id;
	int		 fd;

	if (imsg->datalen != 0)
		child_peer_broken(q->child, PROC_SMTPD, imsg, "create");
	fault_forbidden("queued-clone3");
	fault_forbidden("queued-fork");
	/* smtpd never holds more; if it asks, our descriptors are at stake. */
	if (q->npending + q->ncreating >= q->pending_cap) {
		const struct queue_reply *r =
		    queue_reply_get(QR_TOO_MANY_FILES);

		if (!q->pending_full)
			log_warnx("spool files for smtpd: all %zu in use; new "
			    "transactions get %d %s", q->pending_cap, r->code,
			    r->enh);
		q->pending_full = 1;
		send_fail(q, M_Q_CREATE_FAIL, imsg->hdr.peerid, 0,
		    QR_TOO_MANY_FILES);
		return;
	}
	if (recycled_take(q, &id, &fd) == 0) {
		hand_file(q, imsg->hdr.peerid, id, fd);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		create_fail(q, imsg->hdr.peerid, ENOMEM);
		return;
	}
	j->kind = TASK_CREATE;
	j->sid = imsg->hdr.peerid;
	j->fd = -1;
	q->ncreating++;
	committer_submit(q->cm, j);
}

/* A tenant name must be one of ours, or the operator's (""). */
static int
known_tenant(struct queued *q, const char *name)
{
	return name[0] == '\0' || conf_tenant_by_name(q->conf, name) != NULL;
}

static void
on_head(struct queued *q, struct imsg *imsg, struct mr *r)
{
	struct envelope	 head;
	struct pending	*p;

	memset(&head, 0, sizeof(head));
	if (envelope_get_head(r, &head) == -1 || mr_end(r) == -1 ||
	    imsg->hdr.peerid == 0 ||
	    (p = pending_find(q, head.id)) == NULL ||
	    p->committing || p->env->sender != NULL) {
		free(head.sender);
		child_peer_broken(q->child, PROC_SMTPD, imsg, "envelope head");
	}
	p->sid = imsg->hdr.peerid;
	head.rcpts = NULL;
	head.nrcpts = 0;
	*p->env = head;
}

static void
on_rcpts(struct queued *q, struct imsg *imsg, struct mr *r)
{
	struct pending	*p;
	struct rcpt	*rc;
	uint64_t	 id = mr_u64(r);

	if ((p = pending_owned(q, id, imsg->hdr.peerid)) == NULL ||
	    p->committing || p->env->sender == NULL)
		child_peer_broken(q->child, PROC_SMTPD, imsg, "recipients");
	while (r->off < r->len) {
		if (p->env->nrcpts >= q->conf->limits.max_recipients ||
		    (rc = envelope_add_rcpt(p->env)) == NULL)
			child_peer_broken(q->child, PROC_SMTPD, imsg,
			    "too many recipients");
		if (rcpt_get(r, rc, 0) == -1)
			child_peer_broken(q->child, PROC_SMTPD, imsg,
			    "recipient");
		/*
		 * smtpd and queued take a new configuration at slightly
		 * different moments: a tenant just removed (or added) is
		 * a transaction to defer, not a broken peer.
		 */
		if (!known_tenant(q, rc->tenant) && p->stale_tenant == 0)
			p->stale_tenant = 1;
	}
	if (mr_end(r) == -1)
		child_peer_broken(q->child, PROC_SMTPD, imsg, "recipients");
}

static void
commit_fail(struct queued *q, struct pending *p, enum queue_reply_id why)
{
	const struct queue_reply *r = queue_reply_get(why);
	char qid[32];

	queue_id_format(p->id, qid, sizeof(qid));
	log_warnx("msgid=%s not queued: %d %s %s", qid, r->code, r->enh,
	    r->text);
	send_fail(q, M_Q_COMMIT_FAIL, p->sid, p->id, why);
	pending_drop(q, p, 1);
}

static void
on_commit(struct queued *q, struct imsg *imsg, struct mr *r)
{
	struct pending	*p;
	struct task	*j;
	struct stat	 st;
	uint64_t	 id = mr_u64(r), written = mr_u64(r);
	uint64_t	 avail;
	const char	*over;
	char		 why[512], qid[32];

	if (mr_end(r) == -1 ||
	    (p = pending_owned(q, id, imsg->hdr.peerid)) == NULL ||
	    p->committing || p->env->sender == NULL || p->env->nrcpts == 0)
		child_peer_broken(q->child, PROC_SMTPD, imsg, "commit");
	/* What smtpd says it wrote must be what is on disk. */
	if (fstat(p->fd, &st) == -1 || (uint64_t)st.st_size != written ||
	    p->env->size != written) {
		commit_fail(q, p, QR_SIZE_MISMATCH);
		return;
	}
	/* Header edits from milters change the size the envelope says. */
	if (p->edits_failed) {
		commit_fail(q, p, QR_LOCAL_RESOURCE);
		return;
	}
	if (p->edits != NULL) {
		if ((int64_t)written + p->edits->delta < 0)
			child_peer_broken(q->child, PROC_SMTPD, imsg,
			    "header edits larger than the message");
		p->env->size = (uint64_t)((int64_t)written +
		    p->edits->delta);
	}
	avail = spool_free_space(q);
	if ((avail != UINT64_MAX && avail < q->conf->limits.min_free_space) ||
	    q->store_full) {
		commit_fail(q, p, QR_NO_STORAGE);
		return;
	}
	if ((over = quota_exceeded(q, p->env)) != NULL) {
		log_warnx("tenant=%s: message of %llu octets over the spool "
		    "quota", over, (unsigned long long)p->env->size);
		commit_fail(q, p, QR_TENANT_FULL);
		return;
	}
	if (p->stale_tenant) {
		commit_fail(q, p, QR_CONFIG_CHANGED);
		return;
	}
	if ((over = tenant_deferring(q, p->env)) != NULL) {
		log_info("tenant=%s: a message for it refused at the commit: "
		    "defer-all is in force", over);
		commit_fail(q, p, QR_TENANT_DEFERRED);
		return;
	}
	if (envelope_verify(q, p->sid, p->env, why, sizeof(why)) == -1) {
		queue_id_format(p->id, qid, sizeof(qid));
		log_warnx("msgid=%s: the envelope from smtpd is refused: %s",
		    qid, why);
		commit_fail(q, p, QR_ENVELOPE_REFUSED);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		commit_fail(q, p, QR_LOCAL_RESOURCE);
		return;
	}
	p->committing = 1;
	quota_reserve(q, p->env, 1);
	j->kind = TASK_COMMIT;
	j->id = p->id;
	j->sid = p->sid;
	j->fd = p->fd;
	j->env = p->env;
	j->edits = p->edits;
	p->edits = NULL;
	committer_submit(q->cm, j);
}

static void
on_abort(struct queued *q, struct imsg *imsg, struct mr *r)
{
	struct pending	*p;
	uint64_t	 id = mr_u64(r);

	if (mr_end(r) == -1)
		child_peer_broken(q->child, PROC_SMTPD, imsg, "abort");
	/* Unknown or already committing: nothing to undo. */
	if ((p = pending_find(q, id)) == NULL || p->committing)
		return;
	pending_drop(q, p, 1);
}

void
receive_dispatch(struct queued *q, struct imsg *imsg)
{
	struct mr r;

	if (imsg_has_fd(imsg))
		child_peer_broken(q->child, PROC_SMTPD, imsg, "descriptor");
	if (imsg->hdr.type == M_Q_STATS) {
		stats_dispatch(q, imsg, PROC_SMTPD);
		return;
	}
	if (q->conf == NULL) {
		/* No store yet: smtpd asks again later; nothing else yet. */
		if (imsg->hdr.type != M_Q_CREATE || imsg->datalen != 0)
			child_peer_broken(q->child, PROC_SMTPD, imsg,
			    "before any spool file was handed out");
		send_fail(q, M_Q_CREATE_FAIL, imsg->hdr.peerid, 0,
		    QR_NOT_READY);
		return;
	}
	mr_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case M_Q_CREATE:
		on_create(q, imsg);
		break;
	case M_Q_ENV_HEAD:
		on_head(q, imsg, &r);
		break;
	case M_Q_ENV_RCPTS:
		on_rcpts(q, imsg, &r);
		break;
	case M_Q_ENV_COMMIT:
		on_commit(q, imsg, &r);
		break;
	case M_Q_ABORT:
		on_abort(q, imsg, &r);
		break;
	case M_MT_CLAIM:
		scan_claim(q, imsg, &r);
		break;
	case M_MT_EDIT:
		scan_edit(q, imsg, &r);
		break;
	default:
		child_peer_broken(q->child, PROC_SMTPD, imsg, "unknown type");
	}
}

/*
 * Statistics: a message accepted, once per tenant and direction; and an
 * authenticated user's, for the tenant policyd granted (queue_auth.c).
 */
static void
count_accepted(struct queued *q, uint64_t sid, const struct envelope *e)
{
	const struct tenant_conf	*granted;
	const char			*user;
	size_t				 i, k;
	int				 dir;

	/* An authenticated user's message: its tenant's, by the grant. */
	if ((granted = auth_grant_tenant(q, sid, &user)) != NULL)
		stats_count(q, granted->name, ST_AUTH_OUTBOUND, 1);

	for (i = 0; i < e->nrcpts; i++) {
		for (k = 0; k < i; k++)
			if (e->rcpts[k].dir == e->rcpts[i].dir &&
			    strcmp(e->rcpts[k].tenant, e->rcpts[i].tenant) == 0)
				break;
		if (k < i)
			continue;
		dir = e->rcpts[i].dir == DIR_OUTBOUND;
		stats_count(q, e->rcpts[i].tenant, dir ? ST_OUTBOUND_MSGS :
		    ST_INBOUND_MSGS, 1);
		stats_count(q, e->rcpts[i].tenant, dir ? ST_OUTBOUND_OCTETS :
		    ST_INBOUND_OCTETS, e->size);
	}
}

/* The pipeline is done with a commit: answer smtpd, only now. */
static void
commit_done(struct queued *q, struct task *j)
{
	struct pending	*p;
	struct qmsg	*m;
	struct mw	 w;
	char		 qid[32];

	if ((p = pending_find(q, j->id)) == NULL)
		fatalx("commit result for an unknown message");
	quota_reserve(q, p->env, 0);
	queue_id_format(j->id, qid, sizeof(qid));
	if (j->err != 0) {
		/* A failed fsync is final: never retried (see BUGS). */
		send_fail(q, M_Q_COMMIT_FAIL, j->sid, j->id,
		    (j->err == ENOSPC || j->err == EDQUOT) ? QR_NO_STORAGE :
		    QR_COMMIT_ERROR);
		log_warnx("msgid=%s not queued: %s", qid, j->mdb_err ?
		    "store failure" : strerror(j->err));
		if (j->stored) {
			/* Its envelope went in: out again, then the file. */
			queue_forget(q, j->id);
			pending_drop(q, p, 0);
		} else
			pending_drop(q, p, 1);
		return;
	}
	fault_point("queued-before-reply");
	mw_init(&w);
	mw_u64(&w, j->id);
	send_smtpd(q, M_Q_COMMIT_OK, j->sid, -1, &w);
	q->committed++;
	count_accepted(q, p->sid, p->env);
	qmx_received(q, p->env);
	/* The envelope now belongs to the queue: first attempt now. */
	m = queue_insert(q, p->env);
	p->env = NULL;
	pending_drop(q, p, 0);
	rec_accepted(q, m);
	sched_add(q, m);
}

void
receive_task_done(struct queued *q, struct task *j)
{
	switch (j->kind) {
	case TASK_COMMIT:
		commit_done(q, j);
		pedits_free(j->edits);
		break;
	case TASK_DSN:
		if (j->dsn->orig == NULL)
			notice_done(q, j);
		else
			sched_dsn_done(q, j);
		break;
	case TASK_CREATE:
		q->ncreating--;
		if (j->fd == -1)
			create_fail(q, j->sid, j->err);
		else
			hand_file(q, j->sid, j->id, j->fd);
		break;
	case TASK_ROUTE:
		route_task_done(q, j);
		break;
	case TASK_TSTATE:
		tenant_task_done(q, j);
		return;
	case TASK_NOTICE:
		notice_task_done(q, j);
		return;
	case TASK_DELETE:
		/* A worker unlinked the file, or recycled it as new_id. */
		if (j->err == 0 && j->fd != -1)
			recycled_put(q, j->new_id, j->fd);
		/* FALLTHROUGH */
	case TASK_PUT:
		if (j->err != 0) {
			retry_task(q, j);	/* until it commits */
			return;
		}
		retry_done(q, j);
		free(j->blob);
		break;
	case TASK_POLICY:
	case TASK_PURGE:
		pwrite_task_done(q, j);
		return;
	case TASK_STATS:
		stats_task_done(q, j);
		return;
	case TASK_STS:
		if (j->err != 0)
			log_warnx("MTA-STS: storing the policy of %s failed: "
			    "%s", j->name, strerror(j->err));
		free(j->blob);
		free(j->name);
		break;
	}
	free(j);
}

/* At exit: files no 250 was given for, spares among them, go. */
void
pending_drop_all(struct queued *q)
{
	struct pending *p, *next;

	RB_FOREACH_SAFE(p, pending_tree, &q->pending, next)
		pending_drop(q, p, !p->committing);
}

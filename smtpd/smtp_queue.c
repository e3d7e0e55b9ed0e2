/*
 * smtp_queue: smtpd's side of the queue protocol (msg_queue.h).
 *
 * queued makes the spool file and passes its descriptor; we write the
 * message into it; at the end queued syncs the file and commits the
 * envelope, and only its answer lets us say 250.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "msg_milter.h"
#include "msg_queue.h"
#include "smtpd.h"

/*
 * At the first accepted recipient, as Postfix's smtpd does: a spare if
 * one is held, else ask queued, so that by DATA the file is there.  One
 * request per session is out at a time: the answer to an earlier
 * transaction's serves this one.  Out of descriptors, ask again at DATA.
 */
void
queue_request_file(struct session *s)
{
	struct transaction *tx = s->tx;

	if (tx->file != FILE_NONE)
		return;
	if (spare_take(s->sd, &tx->msgid, &tx->fd) == 0) {
		tx->file = FILE_READY;
		return;
	}
	if (s->file_out) {
		tx->file = FILE_ASKED;
		return;
	}
	if (!fds_room(s->sd))
		return;
	tx->file = FILE_ASKED;
	s->file_out = 1;
	smtpd_send_queue(s->sd, M_Q_CREATE, s->id, -1, NULL, 0);
	spares_top_up(s->sd);
}

/* DATA or BDAT needs the file: go on now if it is there, else wait. */
void
queue_need_file(struct session *s)
{
	struct transaction *tx = s->tx;

	queue_request_file(s);
	if (tx->file == FILE_NONE) {
		tx->file = FILE_FAILED;
		reply_set(&tx->file_err, R_NO_FILE_NOW);
		log_debug("client=[%s]: no spool file for the message: out "
		    "of descriptors; %d %s", s->addr, tx->file_err.code,
		    tx->file_err.enh);
	}
	switch (tx->file) {
	case FILE_ASKED:
		session_wait(s);
		break;
	case FILE_FAILED:
		command_file_failed(s, &tx->file_err);
		break;
	case FILE_READY:
		if (s->rdns_pending) {
			/* The Received: field waits for the client's name. */
			s->file_waiting = 1;
			session_wait(s);
		} else
			command_file_ready(s);
		break;
	default:
		break;
	}
}

void
queue_give_back(struct smtpd *sd, uint64_t sid, uint64_t id)
{
	struct mw w;

	mw_init(&w);
	mw_u64(&w, id);
	smtpd_send_queue(sd, M_Q_ABORT, sid, -1, w.buf, w.len);
}

/*
 * The transaction ends without a 250: an untouched file becomes a spare,
 * a written one is removed.  Once committing, queued owns the outcome.
 */
void
tx_file_release(struct session *s)
{
	struct transaction *tx = s->tx;

	if (tx == NULL || tx->msgid == 0 || tx->committing)
		return;
	if (tx->file == FILE_READY && tx->fd != -1 &&
	    spare_put(s->sd, tx->msgid, tx->fd) == 0)
		tx->fd = -1;
	else
		queue_give_back(s->sd, s->id, tx->msgid);
	tx->msgid = 0;
}

#ifdef RELAYD_FAULTS
/* An envelope queued must refuse, made on purpose (faults.h). */
static void
spoil_envelope(struct transaction *tx, struct envelope *e)
{
	char *p;

	if (fault_error("smtpd-envelope-flags"))
		e->flags |= ENVF_BOUNCE;
	if (fault_error("smtpd-envelope-route") && tx->nrcpts > 0)
		tx->rcpts[0].dir = tx->rcpts[0].dir == DIR_INBOUND ?
		    DIR_OUTBOUND : DIR_INBOUND;
	if (fault_error("smtpd-envelope-crlf") && tx->nrcpts > 0 &&
	    asprintf(&p, "%s\r\nRSET", tx->rcpts[0].addr) != -1) {
		free(tx->rcpts[0].addr);
		tx->rcpts[0].addr = p;
	}
}
#else
#define spoil_envelope(tx, e)	do { } while (0)
#endif

static void
send_rcpts(struct session *s)
{
	struct transaction	*tx = s->tx;
	struct mw		 w;
	size_t			 i;

	mw_init(&w);
	mw_u64(&w, tx->msgid);
	for (i = 0; i < tx->nrcpts; i++) {
		if (!mw_fits_str(&w, rcpt_wire_size(&tx->rcpts[i]))) {
			smtpd_send_queue(s->sd, M_Q_ENV_RCPTS, s->id, -1,
			    w.buf, w.len);
			mw_init(&w);
			mw_u64(&w, tx->msgid);
		}
		rcpt_put(&w, &tx->rcpts[i], 0);
	}
	if (w.len > 0)
		smtpd_send_queue(s->sd, M_Q_ENV_RCPTS, s->id, -1, w.buf,
		    w.len);
}

void
queue_commit(struct session *s)
{
	struct transaction	*tx = s->tx;
	struct envelope		 e;
	struct mw		 w;

	memset(&e, 0, sizeof(e));
	e.id = tx->msgid;
	e.sender = tx->sender;
	strlcpy(e.helo, s->helo ? s->helo : "", sizeof(e.helo));
	e.client = s->client;
	strlcpy(e.client_name, s->rdns ? s->rdns : "", sizeof(e.client_name));
	e.created = time(NULL);
	e.size = tx->sink.written;
	e.body = tx->mp.body;
	e.smtputf8 = tx->mp.smtputf8;
	e.ret = tx->mp.ret;
	e.flags = tx->sink.has8bit ? ENVF_8BIT_BODY : 0;
	if (tx->hold)
		e.flags |= ENVF_HOLD;	/* a milter's quarantine */
	strlcpy(e.envid, tx->mp.envid, sizeof(e.envid));
	spoil_envelope(tx, &e);
	mw_init(&w);
	envelope_put_head(&w, &e);
	smtpd_send_queue(s->sd, M_Q_ENV_HEAD, s->id, -1, w.buf, w.len);
	send_rcpts(s);
	mw_init(&w);
	mw_u64(&w, tx->msgid);
	mw_u64(&w, tx->sink.written);
	smtpd_send_queue(s->sd, M_Q_ENV_COMMIT, s->id, -1, w.buf, w.len);
	tx->committing = 1;
	session_wait(s);
}

/* Tenants of the message, for the log: "acme" or "acme,beta". */
static void
tenant_list(const struct transaction *tx, char *buf, size_t sz)
{
	size_t i, j;

	buf[0] = '\0';
	for (i = 0; i < tx->nrcpts; i++) {
		const char *t = tx->rcpts[i].tenant[0] ? tx->rcpts[i].tenant :
		    "-";

		for (j = 0; j < i; j++)
			if (strcmp(tx->rcpts[j].tenant, tx->rcpts[i].tenant) ==
			    0)
				break;
		if (j < i)
			continue;
		if (buf[0] != '\0')
			strlcat(buf, ",", sz);
		strlcat(buf, t, sz);
	}
}

static void
commit_ok(struct session *s, uint64_t id)
{
	struct transaction	*tx = s->tx;
	struct smtp_reply	 r;
	char			 qid[32], tenants[256], from[600];

	queue_id_format(id, qid, sizeof(qid));
	tenant_list(tx, tenants, sizeof(tenants));
	log_info("msgid=%s tenant=%s%s size=%llu nrcpt=%zu client=[%s] "
	    "helo=%s proto=%s status=%s", qid, tenants, log_addr(from,
	    sizeof(from), s->sd->conf->log.addresses, "from", tx->sender),
	    (unsigned long long)tx->sink.written, tx->nrcpts, s->addr,
	    s->helo ? s->helo : "", session_proto(s),
	    tx->hold ? "quarantined" : "queued");
	s->sd->accepted++;
	policy_accepted(s, tx->sink.written);
	smtp_auth_sent(s, tx->nrcpts);
	session_tx_end(s);
	fault_point("smtpd-before-250");
	reply_queued(&r, qid);
	session_reply_r(s, &r);
}

/* A refusal from queued, for the client as it is: one line, 4xx or 5xx. */
static int
read_reply(struct mr *r, struct smtp_reply *rep)
{
	rep->code = (int)mr_u32(r);
	mr_str(r, rep->enh, sizeof(rep->enh));
	mr_str(r, rep->text, sizeof(rep->text));
	if (mr_end(r) == -1 || rep->code < 400 || rep->code > 599 ||
	    !reply_valid(rep))
		return -1;
	return 0;
}

/*
 * queued answered a session's request for a file: the session, if its
 * transaction waits for one.  A session that left counted its request
 * as an orphan until now.
 */
static struct session *
file_asker(struct smtpd *sd, uint64_t sid)
{
	struct session *s = session_find(sd, sid);

	if (s == NULL) {
		if (sd->fds.orphans > 0)
			sd->fds.orphans--;
		return NULL;
	}
	s->file_out = 0;
	if (s->tx != NULL && s->tx->file == FILE_ASKED)
		return s;
	return NULL;
}

/*
 * Does the session wait for its file?  Only once DATA or BDAT came: before
 * them it may wait for something else (policyd's verdict on a recipient),
 * and the file, asked for at the first recipient, waits for DATA.
 */
static int
waits_for_file(const struct session *s)
{
	return s->waiting && s->tx != NULL && s->tx->mode != 0;
}

/* No file for the transaction: it fails at DATA (now, if it waits). */
static void
file_failed(struct session *s, const struct smtp_reply *rep)
{
	s->tx->file = FILE_FAILED;
	s->tx->file_err = *rep;
	if (waits_for_file(s)) {
		command_file_failed(s, rep);
		session_resume(s);
	}
}

/*
 * queued made a file, but we were out of descriptors and the kernel
 * dropped it on the way (imsg_fd_lost): queued removes it; the
 * transaction that asked fails with 451 4.3.2.
 */
static void
created_lost(struct smtpd *sd, uint64_t sid, uint64_t id)
{
	struct session		*s;
	struct smtp_reply	 rep;
	char			 qid[32];

	queue_give_back(sd, sid, id);
	fds_lost(sd);
	if (sid == 0) {
		spare_failed(sd);
		return;
	}
	if ((s = file_asker(sd, sid)) == NULL)
		return;
	queue_id_format(id, qid, sizeof(qid));
	reply_set(&rep, R_NO_FILE_NOW);
	log_warnx("msgid=%s from [%s] not queued: %d %s its spool file "
	    "was lost in transit (smtpd has no descriptor left)", qid,
	    s->addr, rep.code, rep.enh);
	file_failed(s, &rep);
}

static void
on_created(struct smtpd *sd, struct imsg *imsg, struct mr *r)
{
	struct session	*s;
	uint64_t	 id = mr_u64(r);

	if (mr_end(r) == -1 || id == 0 ||
	    (imsg->fd == -1 && !imsg_fd_lost(imsg)))
		child_peer_broken(sd->child, PROC_QUEUED, imsg, "created");
	if (imsg->fd == -1) {
		created_lost(sd, imsg->hdr.peerid, id);
		return;
	}
	if (imsg->hdr.peerid == 0) {
		spare_made(sd, id, imsg->fd);
		imsg->fd = -1;
		return;
	}
	/*
	 * The transaction it was asked for may have ended meanwhile; a
	 * later one that asked too takes it (any fresh file will do).
	 */
	if ((s = file_asker(sd, imsg->hdr.peerid)) == NULL) {
		if (spare_put(sd, id, imsg->fd) == -1) {
			close(imsg->fd);
			queue_give_back(sd, imsg->hdr.peerid, id);
		}
		imsg->fd = -1;
		return;
	}
	s->tx->msgid = id;
	s->tx->fd = imsg->fd;
	s->tx->file = FILE_READY;
	imsg->fd = -1;
	if (!waits_for_file(s))
		return;		/* DATA has not come yet */
	queue_need_file(s);
	if (!s->file_waiting)
		session_resume(s);
}

static void
on_create_fail(struct smtpd *sd, struct imsg *imsg, struct mr *r)
{
	struct session		*s;
	struct smtp_reply	 rep;

	if (read_reply(r, &rep) == -1)
		child_peer_broken(sd->child, PROC_QUEUED, imsg, "fail");
	if (imsg->hdr.peerid == 0) {
		spare_failed(sd);
		return;
	}
	if ((s = file_asker(sd, imsg->hdr.peerid)) != NULL)
		file_failed(s, &rep);
}

/*
 * What queued can still take: free space, the store, tenants' quotas,
 * and the tenants whose new mail it defers (defer-all).
 */
static void
on_queue_status(struct smtpd *sd, struct imsg *imsg, struct mr *r)
{
	struct tenant_room	*rooms, *deferred = NULL;
	uint32_t		 n, nd = 0, i;

	sd->free_space = mr_u64(r);
	sd->store_full = mr_u8(r);
	n = mr_u32(r);
	if (r->err || n > 1024 ||
	    (rooms = calloc(n ? n : 1, sizeof(*rooms))) == NULL)
		child_peer_broken(sd->child, PROC_QUEUED, imsg, "status");
	for (i = 0; i < n; i++) {
		mr_str(r, rooms[i].tenant, sizeof(rooms[i].tenant));
		rooms[i].room = mr_u64(r);
	}
	nd = mr_u32(r);
	if (r->err || nd > 1024 || (deferred = calloc(nd ? nd : 1,
	    sizeof(*deferred))) == NULL) {
		free(rooms);
		child_peer_broken(sd->child, PROC_QUEUED, imsg, "status");
	}
	for (i = 0; i < nd; i++)
		mr_str(r, deferred[i].tenant, sizeof(deferred[i].tenant));
	if (mr_end(r) == -1) {
		free(rooms);
		free(deferred);
		child_peer_broken(sd->child, PROC_QUEUED, imsg, "status");
	}
	free(sd->rooms);
	sd->rooms = rooms;
	sd->nrooms = n;
	free(sd->deferred);
	sd->deferred = deferred;
	sd->ndeferred = nd;
}

/* Does queued defer all of this tenant's new mail? */
int
queue_tenant_deferred(const struct smtpd *sd, const char *tenant)
{
	size_t i;

	for (i = 0; i < sd->ndeferred; i++)
		if (strcmp(sd->deferred[i].tenant, tenant) == 0)
			return 1;
	return 0;
}

uint64_t
queue_tenant_room(const struct smtpd *sd, const char *tenant)
{
	size_t i;

	for (i = 0; i < sd->nrooms; i++)
		if (strcmp(sd->rooms[i].tenant, tenant) == 0)
			return sd->rooms[i].room;
	return UINT64_MAX;
}

void
queue_dispatch(struct smtpd *sd, struct imsg *imsg)
{
	struct session		*s;
	struct smtp_reply	 rep;
	struct mr		 r;
	uint64_t		 id;

	mr_init(&r, imsg->data, imsg->datalen);
	if (imsg->hdr.type == M_Q_CREATED) {
		on_created(sd, imsg, &r);
		return;
	}
	if (imsg_has_fd(imsg))
		child_peer_broken(sd->child, PROC_QUEUED, imsg, "descriptor");
	switch (imsg->hdr.type) {
	case M_Q_STATUS:
		on_queue_status(sd, imsg, &r);
		return;
	case M_MT_CLAIMED:
		milter_claimed(sd, imsg, &r);
		return;
	case M_Q_CREATE_FAIL:
		on_create_fail(sd, imsg, &r);
		return;
	case M_Q_COMMIT_OK:
		id = mr_u64(&r);
		if (mr_end(&r) == -1)
			child_peer_broken(sd->child, PROC_QUEUED, imsg, "ok");
		if ((s = session_find(sd, imsg->hdr.peerid)) == NULL ||
		    s->tx == NULL || s->tx->msgid != id) {
			log_info("msgid=%016llx status=queued (client left "
			    "before the reply)", (unsigned long long)id);
			return;
		}
		commit_ok(s, id);
		session_resume(s);
		return;
	case M_Q_COMMIT_FAIL:
		id = mr_u64(&r);
		if (read_reply(&r, &rep) == -1)
			child_peer_broken(sd->child, PROC_QUEUED, imsg, "fail");
		if ((s = session_find(sd, imsg->hdr.peerid)) == NULL ||
		    s->tx == NULL || s->tx->msgid != id)
			return;
		log_warnx("msgid=%016llx from [%s] not queued: %d %s %s",
		    (unsigned long long)id, s->addr, rep.code, rep.enh,
		    rep.text);
		s->tx->msgid = 0;
		session_tx_end(s);
		session_reply_r(s, &rep);
		session_resume(s);
		return;
	}
	child_peer_broken(sd->child, PROC_QUEUED, imsg, "unknown type");
}

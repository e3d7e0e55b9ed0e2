/*
 * smtp_milter: the content scan at the end of data, before the commit
 * (msg_milter.h).
 *
 * Only a transaction whose recipients' tenants have milters is scanned,
 * and its recipients share one tenant's scan: the content id is part of
 * the end-of-data class (policy_eod_class), so a recipient of a tenant
 * scanned otherwise got 452 4.5.3 at RCPT.  Mail of a tenant's own
 * networks is scanned with that tenant's milters when its content says
 * outbound: true.  Other mail never waits for anything here.
 *
 * The message is in its spool file: queued is asked to let policyd read
 * it (a claim), policyd runs the milters and answers with the verdict
 * and any header edits, which go to queued with the commit.  A verdict
 * that does not come in time is a temporary failure, never a pass.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "marshal.h"
#include "msg_milter.h"
#include "smtpd.h"
#include "text.h"

enum scan_state {
	SCAN_CLAIMING,		/* M_MT_CLAIM out to queued */
	SCAN_RUNNING,		/* policyd has it */
	SCAN_DONE		/* its verdict came */
};

struct scan_edit {
	uint64_t		 off;
	uint64_t		 del;
	uint8_t			*ins;
	size_t			 len;
};

struct tx_scan {
	enum scan_state		 st;
	struct event		*timer;
	uint32_t		 wait;		/* seconds */
	char			 tenant[TENANT_MAX + 1];
	int			 outbound;
	struct scan_edit	 e[MILTER_EDITS_MAX];
	size_t			 n;
};

void
milter_configure(struct smtpd *sd, const struct conf *conf)
{
	size_t i;

	sd->policy.milters = 0;
	for (i = 0; i < conf->ntenants; i++)
		if (conf->tenants[i].content.nmilters > 0)
			sd->policy.milters = 1;
}

static void
tx_scan_free(struct tx_scan *sc)
{
	size_t i;

	if (sc == NULL)
		return;
	if (sc->timer != NULL)
		event_free(sc->timer);
	for (i = 0; i < sc->n; i++)
		free(sc->e[i].ins);
	free(sc);
}

/* The transaction ends, scanned or not: policyd drops its scan. */
void
milter_tx_end(struct session *s)
{
	struct transaction	*tx = s->tx;
	struct mw		 w;

	if (tx == NULL || tx->scan == NULL)
		return;
	if (tx->scan->st == SCAN_RUNNING) {
		mw_init(&w);
		mw_u64(&w, tx->msgid);
		child_send(s->sd->child, PROC_POLICYD, M_MT_ABORT, s->id, -1,
		    w.buf, w.len);
	}
	tx_scan_free(tx->scan);
	tx->scan = NULL;
}

/*
 * Is the message to be scanned, and with whose milters?  Worked out again
 * from the configuration in force: a reload since RCPT that split the
 * recipients' scans defers the transaction.  1: scan with *t; 0: no
 * scan; -1: refuse with *r.
 */
static int
scan_tenant(struct session *s, const struct tenant_conf **t,
    struct smtp_reply *r)
{
	const struct conf	*conf = s->sd->conf;
	struct transaction	*tx = s->tx;
	const struct tenant_conf *rt;
	uint32_t		 id = 0, c;
	size_t			 i;

	*t = NULL;
	if (!s->sd->policy.milters || tx->nrcpts == 0)
		return 0;
	for (i = 0; i < tx->nrcpts; i++) {
		rt = conf_tenant_by_name(conf, tx->rcpts[i].tenant);
		c = policy_eod_class(s, rt, tx->rcpts[i].addr,
		    tx->rcpts[i].dir) >> EOD_CONTENT_SHIFT;
		if (i == 0) {
			id = c;
			*t = s->client_tenant != NULL ? s->client_tenant : rt;
		} else if (c != id) {
			log_warnx("client=[%s]: a reload split the recipients' "
			    "content scans; deferred", s->addr);
			reply_set(r, R_CONFIG_CHANGED);
			return -1;
		}
	}
	return id != 0 && *t != NULL;
}

static void
scan_late(int fd, short ev, void *arg)
{
	struct session		*s = arg;
	struct smtp_reply	 r;
	char			 qid[32];

	(void)fd;
	(void)ev;
	if (s->tx == NULL || s->tx->scan == NULL)
		return;
	queue_id_format(s->tx->msgid, qid, sizeof(qid));
	reply_set(&r, R_SCAN_LATE);
	log_warnx("msgid=%s tenant=%s client=[%s]: no content verdict "
	    "within %us; %d %s", qid, s->tx->scan->tenant, s->addr,
	    s->tx->scan->wait, r.code, r.enh);
	session_tx_end(s);
	session_reply_r(s, &r);
	session_resume(s);
}

/* How long the tenant's milters may take, all of them, at most. */
static uint32_t
scan_wait(const struct smtpd *sd, const struct tenant_conf *t)
{
	uint32_t	wait = sd->conf->timeouts.policy;
	size_t		i;

	for (i = 0; i < t->content.nmilters; i++)
		wait += (MILTER_WAITS_MAX + 2) * t->content.milters[i].timeout;
	return wait;
}

/*
 * The end of data, the message checked: 1 if it goes to the milters
 * first (the session waits), 0 if it is committed now, -1 when it is
 * refused with *r.
 */
int
milter_start(struct session *s, struct smtp_reply *r)
{
	struct transaction	*tx = s->tx;
	const struct tenant_conf *t;
	struct tx_scan		*sc;
	struct timeval		 tv;
	struct mw		 w;
	int			 rv;

	if ((rv = scan_tenant(s, &t, r)) <= 0)
		return rv;
	if ((sc = calloc(1, sizeof(*sc))) == NULL ||
	    (sc->timer = evtimer_new(s->sd->child->base, scan_late, s)) ==
	    NULL) {
		free(sc);
		reply_set(r, R_LOCAL_RESOURCE);
		return -1;
	}
	strlcpy(sc->tenant, t->name, sizeof(sc->tenant));
	sc->outbound = s->client_tenant != NULL;
	sc->wait = scan_wait(s->sd, t);
	sc->st = SCAN_CLAIMING;
	tx->scan = sc;
	tv.tv_sec = sc->wait;
	tv.tv_usec = 0;
	evtimer_add(sc->timer, &tv);
	mw_init(&w);
	mw_u64(&w, tx->msgid);
	smtpd_send_queue(s->sd, M_MT_CLAIM, s->id, -1, w.buf, w.len);
	session_wait(s);
	return 1;
}

/* The transaction, for policyd: recipients (chunked), then the rest. */
static void
send_scan(struct session *s)
{
	struct transaction	*tx = s->tx;
	struct mw		 w;
	size_t			 i;

	mw_init(&w);
	mw_u64(&w, tx->msgid);
	for (i = 0; i < tx->nrcpts; i++) {
		if (!mw_fits_str(&w, strlen(tx->rcpts[i].addr))) {
			child_send(s->sd->child, PROC_POLICYD, M_MT_RCPTS,
			    s->id, -1, w.buf, w.len);
			mw_init(&w);
			mw_u64(&w, tx->msgid);
		}
		mw_str(&w, tx->rcpts[i].addr);
	}
	child_send(s->sd->child, PROC_POLICYD, M_MT_RCPTS, s->id, -1, w.buf,
	    w.len);
	mw_init(&w);
	mw_u64(&w, tx->msgid);
	mw_str(&w, tx->scan->tenant);
	mw_u8(&w, (uint8_t)tx->scan->outbound);
	mw_u8(&w, (uint8_t)(s->client.af == AF_INET6));
	mw_data(&w, s->client.addr, 16);
	mw_str(&w, s->rdns != NULL ? s->rdns : "");
	mw_str(&w, s->helo != NULL ? s->helo : "");
	mw_str(&w, tx->sender);
	child_send(s->sd->child, PROC_POLICYD, M_MT_SCAN, s->id, -1, w.buf,
	    w.len);
	tx->scan->st = SCAN_RUNNING;
}

/* The transaction of session sid scanning msgid, if it still is. */
static struct session *
scanning(struct smtpd *sd, uint64_t sid, uint64_t msgid,
    enum scan_state st)
{
	struct session *s = session_find(sd, sid);

	if (s == NULL || s->tx == NULL || s->tx->scan == NULL ||
	    s->tx->msgid != msgid || s->tx->scan->st != st ||
	    s->state == SS_CLOSING)
		return NULL;
	return s;
}

/* queued's answer to the claim. */
void
milter_claimed(struct smtpd *sd, struct imsg *imsg, struct mr *m)
{
	struct session		*s;
	struct smtp_reply	 r;
	uint64_t		 msgid = mr_u64(m);
	uint8_t			 ok = mr_u8(m);

	if (mr_end(m) == -1 || ok > 1)
		child_peer_broken(sd->child, PROC_QUEUED, imsg, "claimed");
	if ((s = scanning(sd, imsg->hdr.peerid, msgid, SCAN_CLAIMING)) ==
	    NULL)
		return;
	if (!ok) {
		reply_set(&r, R_LOCAL_RESOURCE);
		log_warnx("client=[%s]: queued would not let the message be "
		    "scanned; %d %s", s->addr, r.code, r.enh);
		session_tx_end(s);
		session_reply_r(s, &r);
		session_resume(s);
		return;
	}
	send_scan(s);
}

static void
on_edit(struct smtpd *sd, struct imsg *imsg, struct mr *m)
{
	struct session		*s;
	struct tx_scan		*sc;
	struct scan_edit	*e;
	const void		*ins;
	size_t			 len;
	uint64_t		 msgid = mr_u64(m), off = mr_u64(m);
	uint64_t		 del = mr_u64(m);

	ins = mr_data(m, &len);
	if (mr_end(m) == -1 || ins == NULL || len > MILTER_EDIT_MAX ||
	    off > UINT32_MAX || del > UINT32_MAX || (len == 0 && del == 0))
		child_peer_broken(sd->child, PROC_POLICYD, imsg, "edit");
	if ((s = scanning(sd, imsg->hdr.peerid, msgid, SCAN_RUNNING)) ==
	    NULL)
		return;
	sc = s->tx->scan;
	if (sc->n == MILTER_EDITS_MAX || (sc->n > 0 &&
	    off < sc->e[sc->n - 1].off + sc->e[sc->n - 1].del))
		child_peer_broken(sd->child, PROC_POLICYD, imsg, "edit");
	e = &sc->e[sc->n];
	if (len > 0 && (e->ins = malloc(len)) == NULL) {
		session_close(s, R_NO_MEMORY);
		return;
	}
	if (len > 0)
		memcpy(e->ins, ins, len);
	e->len = len;
	e->off = off;
	e->del = del;
	sc->n++;
}

/* The edits go to queued ahead of the envelope; then the commit. */
static void
commit(struct session *s, int hold)
{
	struct transaction	*tx = s->tx;
	struct tx_scan		*sc = tx->scan;
	struct mw		 w;
	size_t			 i;

	for (i = 0; i < sc->n; i++) {
		mw_init(&w);
		mw_u64(&w, tx->msgid);
		mw_u64(&w, sc->e[i].off);
		mw_u64(&w, sc->e[i].del);
		mw_data(&w, sc->e[i].ins, sc->e[i].len);
		smtpd_send_queue(s->sd, M_MT_EDIT, s->id, -1, w.buf, w.len);
	}
	tx->hold = hold;
	tx_scan_free(sc);
	tx->scan = NULL;
	queue_commit(s);
}

static void
discard(struct session *s, const char *who)
{
	struct transaction	*tx = s->tx;
	struct smtp_reply	 r;
	char			 qid[32];

	queue_id_format(tx->msgid, qid, sizeof(qid));
	log_info("msgid=%s tenant=%s from=<%s> size=%llu nrcpt=%zu "
	    "client=[%s] helo=%s status=discarded (milter %s)", qid,
	    tx->scan->tenant, tx->sender,
	    (unsigned long long)tx->sink.written, tx->nrcpts, s->addr,
	    s->helo ? s->helo : "", who);
	session_tx_end(s);
	reply_queued(&r, qid);
	session_reply_r(s, &r);
}

static void
scan_refuse(struct session *s, const struct smtp_reply *r, const char *who)
{
	struct transaction	*tx = s->tx;
	char			 qid[32];

	queue_id_format(tx->msgid, qid, sizeof(qid));
	log_info("reject message from [%s]: %d %s %s; msgid=%s tenant=%s "
	    "from=<%s> to=<%s> helo=%s milter=%s", s->addr, r->code, r->enh,
	    r->text, qid, tx->scan->tenant, tx->sender, tx->rcpts[0].addr,
	    s->helo ? s->helo : "", who);
	session_tx_end(s);
	session_reply_r(s, r);
}

static void
on_verdict(struct smtpd *sd, struct imsg *imsg, struct mr *m)
{
	struct session		*s;
	struct smtp_reply	 r;
	char			 who[MILTER_SOCKET_MAX + 32], qid[32];
	uint64_t		 msgid = mr_u64(m);
	uint8_t			 a = mr_u8(m);

	memset(&r, 0, sizeof(r));
	r.code = (int)mr_u32(m);
	mr_str(m, r.enh, sizeof(r.enh));
	mr_str(m, r.text, sizeof(r.text));
	mr_str(m, who, sizeof(who));
	if (mr_end(m) == -1 || a < MV_ACCEPT || a > MV_QUARANTINE ||
	    (a == MV_REFUSE && (r.code < 400 || r.code > 599 ||
	    !reply_valid(&r))))
		child_peer_broken(sd->child, PROC_POLICYD, imsg, "verdict");
	text_clean(who);
	text_clean(r.text);
	if ((s = scanning(sd, imsg->hdr.peerid, msgid, SCAN_RUNNING)) ==
	    NULL)
		return;		/* too late: the client was answered */
	evtimer_del(s->tx->scan->timer);
	s->tx->scan->st = SCAN_DONE;	/* nothing to abort */
	switch (a) {
	case MV_ACCEPT:
		commit(s, 0);
		return;		/* queued's answer resumes the session */
	case MV_QUARANTINE:
		queue_id_format(msgid, qid, sizeof(qid));
		log_info("msgid=%s tenant=%s client=[%s]: quarantined by a "
		    "milter (%s); held in the queue", qid,
		    s->tx->scan->tenant, s->addr, r.text[0] ? r.text : "no "
		    "reason given");
		commit(s, 1);
		return;
	case MV_DISCARD:
		discard(s, who);
		break;
	case MV_REFUSE:
		scan_refuse(s, &r, who);
		break;
	}
	session_resume(s);
}

/* policyd's answers about scans. */
void
milter_dispatch(struct smtpd *sd, struct imsg *imsg)
{
	struct mr m;

	if (imsg_has_fd(imsg))
		child_peer_broken(sd->child, PROC_POLICYD, imsg, "descriptor");
	mr_init(&m, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case M_MT_EDIT:
		on_edit(sd, imsg, &m);
		return;
	case M_MT_VERDICT:
		on_verdict(sd, imsg, &m);
		return;
	}
	child_peer_broken(sd->child, PROC_POLICYD, imsg, "unexpected message");
}

/*
 * milter_scan: one message through its tenant's milters (milter.h).
 *
 * smtpd names the message and its transaction; queued gives the spool
 * file, read-only, once; the header is read and split into fields, and
 * the milters run one after the other, each seeing the header as the
 * ones before it left it.  A refusal, a discard or a failure with
 * on_failure: tempfail ends the scan; a failure with on_failure: accept
 * goes on to the next.  Header changes are kept only where the tenant
 * allows them (content.allow_header_changes), and go back to smtpd as
 * byte splices of the header section; the body is never touched.  A
 * field named in content.bulk_defer that a milter adds or changes makes
 * the verdict 450 4.7.1, every time.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "envelope.h"
#include "faults.h"
#include "log.h"
#include "mailaddr.h"
#include "marshal.h"
#include "milter.h"
#include "policy_reply.h"
#include "msg_milter.h"

#define SCANS_MAX	65536
#define HDR_READ_FIRST	(16 * 1024)
#define HDR_READ_MAX	(2 * 1024 * 1024)
#define FIELDS_MAX	20000
#define RCPTS_MAX	100000
#define ADDR_MAX	(MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2)

/* A field of the header as the milters have left it. */
struct mfield {
	const uint8_t		*p;
	size_t			 len;
	size_t			 nlen;
	int			 orig;		/* in fields[], or -1: new */
	uint8_t			*text;		/* a new field's, owned */
};

struct mscan {
	RB_ENTRY(mscan)		 entry;
	uint64_t		 sid;		/* smtpd's session */
	uint64_t		 msgid;
	char			 qid[32];
	struct milters		*m;
	int			 started;	/* M_MT_SCAN came */
	char			 tenant[TENANT_MAX + 1];
	int			 outbound;
	struct milter_conf	 milters[MILTERS_MAX];
	size_t			 nmilters;
	int			 allow_changes;
	struct bulk_conf	*bulk;		/* copied */
	size_t			 nbulk;
	int			 v6;
	char			 client_addr[64];
	char			 client_name[256];
	char			 helo[256];
	char			 sender[ADDR_MAX];
	char			**rcpts;
	size_t			 nrcpts;
	int			 fd;
	uint64_t		 size;
	uint8_t			*hdr;
	struct hdr_field	*fields;
	struct hdr_section	 hs;
	struct mfield		*model;
	size_t			 nmodel;
	size_t			 capmodel;
	int			 changed;
	size_t			 cur;		/* milter running */
	struct msess		*sess;
	struct event		*step_ev;
	struct mresult		 res;		/* the last milter's */
	struct mchange		 ch[64];
	size_t			 nch;
	int			 quarantine;
	char			 qreason[MILTER_TEXT_MAX + 1];
	char			 bulk_hit[160];
};

RB_HEAD(mscan_tree, mscan);

struct milters {
	struct child		*child;
	struct mpool		*pool;
	struct mscan_tree	 scans;
	size_t			 nscans;
	uint64_t		 verdicts[4];	/* accept, refuse, discard,
						   quarantine */
};

int	 mscan_cmp(struct mscan *, struct mscan *);
RB_PROTOTYPE(mscan_tree, mscan, entry, mscan_cmp)

int
mscan_cmp(struct mscan *a, struct mscan *b)
{
	if (a->sid != b->sid)
		return a->sid < b->sid ? -1 : 1;
	return a->msgid < b->msgid ? -1 : a->msgid > b->msgid;
}

RB_GENERATE(mscan_tree, mscan, entry, mscan_cmp)

static void	scan_next(struct mscan *);

struct milters *
milters_new(struct child *c)
{
	struct milters *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		fatal("milters");
	m->child = c;
	m->pool = mpool_new(c);
	RB_INIT(&m->scans);
	return m;
}

void
milters_conf(struct milters *m, const struct conf *conf, uint32_t gen)
{
	mpool_conf(m->pool, conf, gen);
}

/*
 * What sessions see of their scan.
 */

struct mpool *
scan_pool(const struct mscan *sc)
{
	return sc->m->pool;
}

struct event_base *
scan_base(const struct mscan *sc)
{
	return sc->m->child->base;
}

void
scan_view(const struct mscan *sc, struct scan_view *v)
{
	v->hostname = sc->m->child->conf->hostname;
	v->qid = sc->qid;
	v->client_name = sc->client_name[0] ? sc->client_name : "unknown";
	v->client_addr = sc->client_addr;
	v->client_v6 = sc->v6;
	v->helo = sc->helo;
	v->sender = sc->sender;
	v->rcpts = sc->rcpts;
	v->nrcpts = sc->nrcpts;
}

size_t
scan_nfields(const struct mscan *sc)
{
	return sc->nmodel;
}

void
scan_field(const struct mscan *sc, size_t i, const uint8_t **p,
    size_t *len, size_t *nlen)
{
	*p = sc->model[i].p;
	*len = sc->model[i].len;
	*nlen = sc->model[i].nlen;
}

ssize_t
scan_body(const struct mscan *sc, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t at = sc->hs.body + off;

	if (at >= sc->size)
		return 0;
	if (len > sc->size - at)
		len = (size_t)(sc->size - at);
	return pread(sc->fd, buf, len, (off_t)at);
}

/*
 * The scan's life.
 */

static void
model_free(struct mscan *sc)
{
	size_t i;

	for (i = 0; i < sc->nmodel; i++)
		free(sc->model[i].text);
	free(sc->model);
	sc->model = NULL;
	sc->nmodel = sc->capmodel = 0;
}

static void
changes_free(struct mscan *sc)
{
	size_t i;

	for (i = 0; i < sc->nch; i++) {
		free(sc->ch[i].name);
		free(sc->ch[i].value);
	}
	sc->nch = 0;
}

static void
mscan_free(struct mscan *sc)
{
	size_t i;

	RB_REMOVE(mscan_tree, &sc->m->scans, sc);
	sc->m->nscans--;
	msess_free(sc->sess);
	if (sc->step_ev != NULL)
		event_free(sc->step_ev);
	if (sc->fd != -1)
		close(sc->fd);
	for (i = 0; i < sc->nrcpts; i++)
		free(sc->rcpts[i]);
	free(sc->rcpts);
	for (i = 0; i < sc->nbulk; i++) {
		free(sc->bulk[i].name);
		free(sc->bulk[i].text);
	}
	free(sc->bulk);
	free(sc->hdr);
	free(sc->fields);
	model_free(sc);
	changes_free(sc);
	free(sc);
}

static void
send_edit(struct mscan *sc, uint64_t off, uint64_t del, const uint8_t *ins,
    size_t inslen)
{
	struct mw w;

	mw_init(&w);
	mw_u64(&w, sc->msgid);
	mw_u64(&w, off);
	mw_u64(&w, del);
	mw_data(&w, ins, inslen);
	if (!w.err)
		child_send(sc->m->child, PROC_SMTPD, M_MT_EDIT, sc->sid, -1,
		    w.buf, w.len);
}

/* The new fields in model[*k...] up to the next original, joined. */
static int
gather(struct mscan *sc, size_t *k, uint8_t *buf, size_t *len)
{
	*len = 0;
	while (*k < sc->nmodel && sc->model[*k].orig == -1) {
		if (*len + sc->model[*k].len > MILTER_EDIT_MAX)
			return -1;
		memcpy(buf + *len, sc->model[*k].p, sc->model[*k].len);
		*len += sc->model[*k].len;
		(*k)++;
	}
	return 0;
}

/*
 * The header as it is now against the header in the file: one splice
 * per original field removed and per run of new fields.  -1 if there
 * are more than smtpd takes (then none is sent).
 */
static int
send_edits(struct mscan *sc, int dry)
{
	static uint8_t	 ins[MILTER_EDIT_MAX];
	size_t		 i, k = 0, len, n = 0;
	uint64_t	 at;

	for (i = 0; i <= sc->hs.n; i++) {
		at = i < sc->hs.n ? sc->fields[i].off : sc->hs.end;
		if (gather(sc, &k, ins, &len) == -1)
			return -1;
		if (i < sc->hs.n && k < sc->nmodel &&
		    sc->model[k].orig == (int)i) {
			k++;
			if (len == 0)
				continue;
			if (++n > MILTER_EDITS_MAX)
				return -1;
			if (!dry)
				send_edit(sc, at, 0, ins, len);
			continue;
		}
		if (i == sc->hs.n && len == 0)
			continue;
		if (++n > MILTER_EDITS_MAX)
			return -1;
		if (!dry)
			send_edit(sc, at, i < sc->hs.n ? sc->fields[i].len : 0,
			    ins, len);
	}
	return 0;
}

static void
scan_verdict(struct mscan *sc, enum milter_action a, int code, const char *enh,
    const char *text, const char *who)
{
	struct mw w;

	if ((a == MV_ACCEPT || a == MV_QUARANTINE) && sc->changed) {
		if (send_edits(sc, 1) == -1)
			log_warnx("milter msgid=%s tenant=%s: the header "
			    "changes make more than %d edits, or fields of "
			    "more than %d octets together; none applied",
			    sc->qid, sc->tenant, MILTER_EDITS_MAX,
			    MILTER_EDIT_MAX);
		else
			send_edits(sc, 0);
	}
	sc->m->verdicts[a - 1]++;
	if (fault_error("policyd-scan-silent")) {
		mscan_free(sc);		/* smtpd's bound, tested */
		return;
	}
	mw_init(&w);
	mw_u64(&w, sc->msgid);
	mw_u8(&w, (uint8_t)a);
	mw_u32(&w, (uint32_t)code);
	mw_str(&w, enh);
	mw_str(&w, text);
	mw_str(&w, who);
	child_send(sc->m->child, PROC_SMTPD, M_MT_VERDICT, sc->sid, -1, w.buf,
	    w.len);
	mscan_free(sc);
}

/* policyd's own refusal of the scanned message (policy_reply.c). */
static void
milter_refuse(struct mscan *sc, enum preply_id id, const char *who)
{
	struct preply r;

	preply_fixed(&r, id);
	scan_verdict(sc, MV_REFUSE, r.code, r.enh, r.text, who);
}

/* Every milter failed at once (no file, a header too long to read). */
static void
scan_failed(struct mscan *sc, const char *why)
{
	size_t i;

	log_warnx("milter msgid=%s tenant=%s: cannot scan: %s", sc->qid,
	    sc->tenant, why);
	for (i = 0; i < sc->nmilters; i++)
		if (sc->milters[i].on_failure == MILTER_FAIL_TEMPFAIL) {
			milter_refuse(sc, PR_CONTENT_UNAVAILABLE, "failure");
			return;
		}
	scan_verdict(sc, MV_ACCEPT, 0, "", "", "failure, on_failure accept");
}

/*
 * Header changes.
 */

static int
model_insert(struct mscan *sc, size_t at, uint8_t *text, size_t len,
    size_t nlen)
{
	struct mfield *m;

	if (sc->nmodel == sc->capmodel) {
		if ((m = reallocarray(sc->model, sc->capmodel + 16,
		    sizeof(*m))) == NULL)
			return -1;
		sc->model = m;
		sc->capmodel += 16;
	}
	if (at > sc->nmodel)
		at = sc->nmodel;
	memmove(&sc->model[at + 1], &sc->model[at],
	    (sc->nmodel - at) * sizeof(*m));
	m = &sc->model[at];
	m->p = m->text = text;
	m->len = len;
	m->nlen = nlen;
	m->orig = -1;
	sc->nmodel++;
	return 0;
}

static void
model_remove(struct mscan *sc, size_t at)
{
	free(sc->model[at].text);
	memmove(&sc->model[at], &sc->model[at + 1],
	    (sc->nmodel - at - 1) * sizeof(sc->model[0]));
	sc->nmodel--;
}

/*
 * "Name: value" CRLF as a milter asked: its line breaks made CRLF, each
 * continuation starting with a space or a tab, controls made '?'.
 * NULL if it is not a field we would store.
 */
static uint8_t *
field_text(const struct mchange *c, size_t *len)
{
	size_t	 nl = strlen(c->name), cap, o = 0, i;
	uint8_t	*t;
	char	 ch;

	cap = nl + 2 + c->vlen * 3 + 3;
	if (nl > MILTER_NAME_MAX || cap > 4 * MILTER_EDIT_MAX ||
	    (t = malloc(cap)) == NULL)
		return NULL;
	memcpy(t, c->name, nl);
	o = nl;
	t[o++] = ':';
	if (!c->leadspc)
		t[o++] = ' ';
	for (i = 0; i < c->vlen; i++) {
		ch = c->value[i];
		if (ch == '\r' && i + 1 < c->vlen && c->value[i + 1] == '\n')
			continue;
		if (ch == '\n' || ch == '\r') {
			if (i + 1 == c->vlen)
				break;
			t[o++] = '\r';
			t[o++] = '\n';
			if (c->value[i + 1] != ' ' && c->value[i + 1] != '\t')
				t[o++] = '\t';
			continue;
		}
		t[o++] = ((unsigned char)ch < ' ' && ch != '\t') ||
		    ch == 0x7f ? '?' : (uint8_t)ch;
	}
	t[o++] = '\r';
	t[o++] = '\n';
	if (o > MILTER_EDIT_MAX || !hdr_fields_ok(t, o)) {
		free(t);
		return NULL;
	}
	*len = o;
	return t;
}

static int
name_is(const struct mfield *f, const char *name)
{
	return f->nlen == strlen(name) &&
	    strncasecmp((const char *)f->p, name, f->nlen) == 0;
}

static void
bulk_check(struct mscan *sc, const struct mchange *c, const char *who)
{
	size_t i;

	if (sc->bulk_hit[0] != '\0' || c->vlen == 0)
		return;
	for (i = 0; i < sc->nbulk; i++) {
		if (strcasecmp(sc->bulk[i].name, c->name) != 0)
			continue;
		if (sc->bulk[i].text != NULL &&
		    strcasestr(c->value, sc->bulk[i].text) == NULL)
			continue;
		snprintf(sc->bulk_hit, sizeof(sc->bulk_hit), "%s by %s",
		    c->name, who);
		return;
	}
}

/* One change, on the model; -1 if it cannot be made. */
static int
apply_change(struct mscan *sc, const struct mchange *c)
{
	uint8_t		*t = NULL;
	size_t		 len = 0, i, seen = 0, idx;

	if (c->vlen > 0 && (t = field_text(c, &len)) == NULL)
		return -1;
	switch (c->cmd) {
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
		if (t == NULL)
			return -1;
		idx = c->cmd == SMFIR_ADDHEADER ? sc->nmodel : c->index;
		if (model_insert(sc, idx, t, len, strlen(c->name)) == -1)
			break;
		return 0;
	case SMFIR_CHGHEADER:
		idx = c->index == 0 ? 1 : c->index;
		for (i = 0; i < sc->nmodel; i++)
			if (name_is(&sc->model[i], c->name) && ++seen == idx)
				break;
		if (i == sc->nmodel) {
			/* None such: a value adds it (as sendmail does). */
			if (t == NULL)
				return 0;
			if (model_insert(sc, i, t, len, strlen(c->name)) == -1)
				break;
			return 0;
		}
		model_remove(sc, i);
		if (t != NULL && model_insert(sc, i, t, len,
		    strlen(c->name)) == -1)
			break;
		return 0;
	}
	free(t);
	return -1;
}

/* A milter accepted: its changes, its quarantine; then the next. */
static void
milter_accepted(struct mscan *sc, const char *who)
{
	size_t	i, applied = 0;
	char	changes[96] = "";

	for (i = 0; i < sc->nch; i++) {
		bulk_check(sc, &sc->ch[i], who);
		if (!sc->allow_changes)
			continue;
		if (apply_change(sc, &sc->ch[i]) == 0)
			applied++;
	}
	if (applied > 0)
		sc->changed = 1;
	if (sc->nch > 0)
		snprintf(changes, sizeof(changes), ", header changes: %zu "
		    "applied, %zu %s", applied, sc->nch - applied,
		    sc->allow_changes ? "malformed" : "not allowed");
	if (sc->res.quarantine && !sc->quarantine) {
		sc->quarantine = 1;
		snprintf(sc->qreason, sizeof(sc->qreason), "%s",
		    sc->res.qreason);
	}
	log_info("milter msgid=%s tenant=%s milter=%s result=accept%s%s%s%s",
	    sc->qid, sc->tenant, who, changes, sc->res.quarantine ?
	    ", quarantine: " : "", sc->res.quarantine ? sc->res.qreason : "",
	    sc->bulk_hit[0] ? ", bulk" : "");
	changes_free(sc);
	sc->cur++;
	scan_next(sc);
}

/* The session ended: its result is taken up outside its callbacks. */
void
scan_milter_done(struct mscan *sc, struct mresult *r, struct mchange *ch,
    size_t n)
{
	struct timeval tv = { 0, 0 };

	sc->res = *r;
	memcpy(sc->ch, ch, n * sizeof(ch[0]));
	sc->nch = n;
	evtimer_add(sc->step_ev, &tv);
}

static void
on_step(int fd, short ev, void *arg)
{
	struct mscan		*sc = arg;
	const struct milter_conf *mc = &sc->milters[sc->cur];
	struct mresult		*r = &sc->res;
	char			 who[MILTER_SOCKET_MAX + 16];

	(void)fd;
	(void)ev;
	msess_free(sc->sess);
	sc->sess = NULL;
	strlcpy(who, mc->socket, sizeof(who));
	switch (r->kind) {
	case MR_ACCEPT:
		milter_accepted(sc, who);
		return;
	case MR_REFUSE:
		log_info("milter msgid=%s tenant=%s milter=%s result=%s %d "
		    "%s %s", sc->qid, sc->tenant, who, r->code < 500 ?
		    "tempfail" : "reject", r->code, r->enh, r->text);
		scan_verdict(sc, MV_REFUSE, r->code, r->enh, r->text, who);
		return;
	case MR_DISCARD:
		log_info("milter msgid=%s tenant=%s milter=%s result=discard",
		    sc->qid, sc->tenant, who);
		scan_verdict(sc, MV_DISCARD, 0, "", "", who);
		return;
	case MR_FAILED:
		log_warnx("milter msgid=%s tenant=%s milter=%s result=failed "
		    "(%s); on_failure %s", sc->qid, sc->tenant, who, r->why,
		    mc->on_failure == MILTER_FAIL_ACCEPT ? "accept" :
		    "tempfail");
		if (mc->on_failure == MILTER_FAIL_TEMPFAIL) {
			milter_refuse(sc, PR_CONTENT_UNAVAILABLE, who);
			return;
		}
		changes_free(sc);
		sc->cur++;
		scan_next(sc);
		return;
	}
}

static void
scan_next(struct mscan *sc)
{
	if (sc->cur < sc->nmilters) {
		if ((sc->sess = msess_new(sc, &sc->milters[sc->cur])) ==
		    NULL) {
			scan_failed(sc, "out of memory");
			return;
		}
		msess_start(sc->sess);
		return;
	}
	if (sc->bulk_hit[0] != '\0') {
		log_info("milter msgid=%s tenant=%s: bulk (%s); deferred",
		    sc->qid, sc->tenant, sc->bulk_hit);
		milter_refuse(sc, PR_CONTENT_BULK, "bulk_defer");
		return;
	}
	if (sc->quarantine)
		scan_verdict(sc, MV_QUARANTINE, 0, "", sc->qreason, "quarantine");
	else
		scan_verdict(sc, MV_ACCEPT, 0, "", "", "");
}

/*
 * The header, read in growing steps (most are a few KB, a message may be
 * 500 MB): 0, or -1 with why.
 */
static int
read_header(struct mscan *sc, const char **why)
{
	size_t	cap = 0, want, got = 0;
	ssize_t	n;
	uint8_t	*p;

	for (;;) {
		want = cap == 0 ? HDR_READ_FIRST : cap * 4;
		if (want > HDR_READ_MAX)
			want = HDR_READ_MAX;
		if (want > sc->size)
			want = (size_t)sc->size;
		if ((p = realloc(sc->hdr, want + 1)) == NULL) {
			*why = "out of memory";
			return -1;
		}
		sc->hdr = p;
		cap = want;
		while (got < want) {
			if ((n = pread(sc->fd, sc->hdr + got, want - got,
			    (off_t)got)) <= 0) {
				*why = n == 0 ? "the file is shorter than it "
				    "was" : strerror(errno);
				return -1;
			}
			got += (size_t)n;
		}
		if (hdr_scan(sc->hdr, got, got == sc->size, NULL, FIELDS_MAX,
		    &sc->hs) == 0)
			break;
		if (got == sc->size || got == HDR_READ_MAX) {
			*why = "the header is too long to scan";
			return -1;
		}
	}
	if ((sc->fields = calloc(sc->hs.n + 1, sizeof(*sc->fields))) ==
	    NULL || (sc->model = calloc(sc->hs.n + 1,
	    sizeof(*sc->model))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	(void)hdr_scan(sc->hdr, got, got == sc->size, sc->fields, FIELDS_MAX,
	    &sc->hs);
	return 0;
}

/* The spool file came: read the header, then the milters. */
static void
scan_begin(struct mscan *sc)
{
	struct stat	 st;
	const char	*why;
	size_t		 i;

	if (fstat(sc->fd, &st) == -1) {
		scan_failed(sc, strerror(errno));
		return;
	}
	sc->size = (uint64_t)st.st_size;
	if (read_header(sc, &why) == -1) {
		scan_failed(sc, why);
		return;
	}
	sc->capmodel = sc->hs.n + 1;
	for (i = 0; i < sc->hs.n; i++) {
		sc->model[i].p = sc->hdr + sc->fields[i].off;
		sc->model[i].len = sc->fields[i].len;
		sc->model[i].nlen = sc->fields[i].nlen;
		sc->model[i].orig = (int)i;
	}
	sc->nmodel = sc->hs.n;
	scan_next(sc);
}

/*
 * Messages.
 */

static struct mscan *
scan_find(struct milters *m, uint64_t sid, uint64_t msgid)
{
	struct mscan key;

	key.sid = sid;
	key.msgid = msgid;
	return RB_FIND(mscan_tree, &m->scans, &key);
}

static struct mscan *
scan_get(struct milters *m, struct imsg *imsg, uint64_t msgid)
{
	struct mscan *sc;

	if ((sc = scan_find(m, imsg->hdr.peerid, msgid)) != NULL)
		return sc;
	if (m->nscans >= SCANS_MAX || msgid == 0)
		child_peer_broken(m->child, PROC_SMTPD, imsg,
		    "more scans than smtpd may ask");
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		fatal("milter scan");
	sc->sid = imsg->hdr.peerid;
	sc->msgid = msgid;
	sc->m = m;
	sc->fd = -1;
	queue_id_format(msgid, sc->qid, sizeof(sc->qid));
	if ((sc->step_ev = evtimer_new(m->child->base, on_step, sc)) == NULL)
		fatal("milter scan");
	RB_INSERT(mscan_tree, &m->scans, sc);
	m->nscans++;
	return sc;
}

static void
scan_rcpts(struct milters *m, struct imsg *imsg, struct mr *r)
{
	struct mscan	*sc;
	char		**a, *s;

	sc = scan_get(m, imsg, mr_u64(r));
	if (sc->started)
		child_peer_broken(m->child, PROC_SMTPD, imsg, "recipients "
		    "after the scan began");
	while (r->off < r->len && !r->err) {
		if (sc->nrcpts >= RCPTS_MAX || (s = mr_strdup(r)) == NULL)
			child_peer_broken(m->child, PROC_SMTPD, imsg,
			    "recipients");
		if ((a = reallocarray(sc->rcpts, sc->nrcpts + 1,
		    sizeof(*a))) == NULL)
			fatal("milter scan");
		sc->rcpts = a;
		a[sc->nrcpts++] = s;
	}
	if (mr_end(r) == -1)
		child_peer_broken(m->child, PROC_SMTPD, imsg, "recipients");
}

/* The tenant's content: copied, since a reload may come meanwhile. */
static int
scan_content(struct mscan *sc, const struct tenant_conf *t)
{
	const struct content_conf	*c = &t->content;
	size_t				 i;

	sc->nmilters = c->nmilters;
	memcpy(sc->milters, c->milters, c->nmilters * sizeof(*c->milters));
	sc->allow_changes = c->allow_header_changes;
	if (c->nbulk > 0 &&
	    (sc->bulk = calloc(c->nbulk, sizeof(*sc->bulk))) == NULL)
		return -1;
	for (i = 0; i < c->nbulk; i++, sc->nbulk++) {
		if ((sc->bulk[i].name = strdup(c->bulk[i].name)) == NULL ||
		    (c->bulk[i].text != NULL &&
		    (sc->bulk[i].text = strdup(c->bulk[i].text)) == NULL))
			return -1;
	}
	return 0;
}

static void
on_scan(struct milters *m, struct imsg *imsg, struct mr *r)
{
	const struct tenant_conf	*t;
	struct mscan			*sc;
	struct netaddr			 na;
	const void			*addr;
	size_t				 alen;
	struct mw			 w;

	sc = scan_get(m, imsg, mr_u64(r));
	mr_str(r, sc->tenant, sizeof(sc->tenant));
	sc->outbound = mr_u8(r);
	sc->v6 = mr_u8(r);
	addr = mr_data(r, &alen);
	mr_str(r, sc->client_name, sizeof(sc->client_name));
	mr_str(r, sc->helo, sizeof(sc->helo));
	mr_str(r, sc->sender, sizeof(sc->sender));
	if (mr_end(r) == -1 || sc->started || alen != 16 || sc->v6 > 1 ||
	    sc->outbound > 1)
		child_peer_broken(m->child, PROC_SMTPD, imsg, "scan");
	sc->started = 1;
	memset(&na, 0, sizeof(na));
	na.af = sc->v6 ? AF_INET6 : AF_INET;
	memcpy(na.addr, addr, 16);
	netaddr_format(&na, sc->client_addr, sizeof(sc->client_addr));
	if (m->child->conf == NULL) {
		log_warnx("milter msgid=%s: a scan before the first "
		    "configuration; deferred", sc->qid);
		milter_refuse(sc, PR_CONTENT_UNAVAILABLE, "startup");
		return;
	}
	if ((t = conf_tenant_by_name(m->child->conf, sc->tenant)) == NULL ||
	    t->content.nmilters == 0) {
		/* A reload took its milters away: nothing to scan with. */
		scan_verdict(sc, MV_ACCEPT, 0, "", "", "no milters");
		return;
	}
	if (scan_content(sc, t) == -1) {
		scan_failed(sc, "out of memory");
		return;
	}
	mw_init(&w);
	mw_u64(&w, sc->msgid);
	mw_u64(&w, sc->sid);
	child_send(m->child, PROC_QUEUED, M_MT_SPOOL, sc->sid, -1, w.buf,
	    w.len);
	if (fault_error("policyd-spool-twice"))
		child_send(m->child, PROC_QUEUED, M_MT_SPOOL, sc->sid, -1,
		    w.buf, w.len);
}

void
milters_from_smtpd(struct milters *m, struct imsg *imsg)
{
	struct mscan	*sc;
	struct mr	 r;
	uint64_t	 msgid;

	if (imsg_has_fd(imsg))
		child_peer_broken(m->child, PROC_SMTPD, imsg, "descriptor");
	mr_init(&r, imsg->data, imsg->datalen);
	switch (imsg->hdr.type) {
	case M_MT_RCPTS:
		scan_rcpts(m, imsg, &r);
		return;
	case M_MT_SCAN:
		on_scan(m, imsg, &r);
		return;
	case M_MT_ABORT:
		msgid = mr_u64(&r);
		if (mr_end(&r) == -1)
			child_peer_broken(m->child, PROC_SMTPD, imsg, "abort");
		if ((sc = scan_find(m, imsg->hdr.peerid, msgid)) != NULL)
			mscan_free(sc);
		return;
	}
	child_peer_broken(m->child, PROC_SMTPD, imsg, "unexpected message");
}

/* queued's answer: the file, read-only, or not. */
void
milters_from_queued(struct milters *m, struct imsg *imsg)
{
	struct mscan	*sc;
	struct mr	 r;
	uint64_t	 msgid;
	uint8_t		 ok;

	mr_init(&r, imsg->data, imsg->datalen);
	msgid = mr_u64(&r);
	ok = mr_u8(&r);
	if (imsg->hdr.type != M_MT_SPOOL_FD || mr_end(&r) == -1 || ok > 1 ||
	    (!ok && imsg_has_fd(imsg)) ||
	    (ok && imsg->fd == -1 && !imsg_fd_lost(imsg))) {
		if (imsg->fd != -1)
			close(imsg->fd);
		child_peer_broken(m->child, PROC_QUEUED, imsg, "spool file");
	}
	if ((sc = scan_find(m, imsg->hdr.peerid, msgid)) == NULL ||
	    sc->fd != -1 || !sc->started) {
		/* The scan was aborted meanwhile. */
		if (imsg->fd != -1)
			close(imsg->fd);
		imsg->fd = -1;
		return;
	}
	if (!ok || imsg->fd == -1) {
		scan_failed(sc, ok ? "the spool file was lost in transit" :
		    "queued would not open the spool file");
		return;
	}
	sc->fd = imsg->fd;
	imsg->fd = -1;
	scan_begin(sc);
}

void
milters_from_parent(struct milters *m, struct imsg *imsg)
{
	if (imsg->hdr.type != M_MT_OPENED) {
		if (imsg->fd != -1)
			close(imsg->fd);
		child_peer_broken(m->child, PROC_PARENT, imsg,
		    "unexpected message");
	}
	mpool_opened(m->pool, imsg);
}

void
milters_status(struct milters *m, char *buf, size_t sz)
{
	char pool[64];

	mpool_status(m->pool, pool, sizeof(pool));
	snprintf(buf, sz, "scans %zu, milter verdicts accept=%llu "
	    "refuse=%llu discard=%llu quarantine=%llu, %s", m->nscans,
	    (unsigned long long)m->verdicts[0],
	    (unsigned long long)m->verdicts[1],
	    (unsigned long long)m->verdicts[2],
	    (unsigned long long)m->verdicts[3], pool);
}

void
milters_free(struct milters *m)
{
	struct mscan *sc;

	if (m == NULL)
		return;
	while ((sc = RB_ROOT(&m->scans)) != NULL)
		mscan_free(sc);
	mpool_free(m->pool);
	free(m);
}

/*
 * milter_session: one milter, one message (milter.h).
 *
 * The steps go in the protocol's order; a step the milter asked to skip
 * (SMFIP_NO*) is not sent, and one it does not answer (SMFIP_NR_*) is
 * not waited for.  Before the end of body a milter may continue, accept
 * (this message needs nothing more of it), refuse (reject, tempfail, a
 * reply code), discard, or ask for a wait (progress); at the end of body
 * it may also change the header and quarantine, before its last word.
 * Anything else, a frame we cannot parse, a change it was not offered,
 * silence beyond its timeout or a closed connection is its failure.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "milter.h"
#include "policy_reply.h"
#include "msg_milter.h"

#define BODY_CHUNK	65535	/* libmilter's MILTER_CHUNK_SIZE */
#define OUT_HIGH	(256 * 1024)	/* stop sending body above this */
#define IN_HIGH		(4 * MILTER_FRAME_MAX)
#define CHANGES_MAX	64	/* header changes one milter may ask */

enum ms_step {
	MS_CONNECTING,
	MS_OPTNEG,
	MS_CONNECT,
	MS_HELO,
	MS_MAIL,
	MS_RCPT,
	MS_DATA,
	MS_HEADER,
	MS_EOH,
	MS_BODY,
	MS_EOB,
	MS_DONE
};

struct msess {
	TAILQ_ENTRY(msess)	 entry;		/* a pool's waiters */
	struct msess_list	*wl;		/* the list, or NULL */
	struct mscan		*scan;
	struct milter_conf	 mc;
	struct bufferevent	*bev;
	struct event		*timer;
	enum ms_step		 step;
	int			 waiting;	/* for a reply */
	int			 paused;	/* body: output too full */
	unsigned		 waits;		/* progress restarts */
	uint32_t		 actions;
	uint32_t		 proto;
	size_t			 i;		/* recipient, field */
	uint64_t		 body_off;
	struct mchange		 changes[CHANGES_MAX];
	size_t			 nchanges;
	int			 quarantine;
	char			 qreason[MILTER_TEXT_MAX + 1];
};

static void	advance(struct msess *);

void
msess_link(struct msess_list *l, struct msess *ms)
{
	TAILQ_INSERT_TAIL(l, ms, entry);
	ms->wl = l;
}

void
msess_unlink(struct msess *ms)
{
	if (ms->wl == NULL)
		return;
	TAILQ_REMOVE(ms->wl, ms, entry);
	ms->wl = NULL;
}

struct msess *
msess_new(struct mscan *scan, const struct milter_conf *mc)
{
	struct msess *ms;

	if ((ms = calloc(1, sizeof(*ms))) == NULL)
		return NULL;
	ms->scan = scan;
	ms->mc = *mc;
	return ms;
}

static void
changes_free(struct msess *ms)
{
	size_t i;

	for (i = 0; i < ms->nchanges; i++) {
		free(ms->changes[i].name);
		free(ms->changes[i].value);
	}
	ms->nchanges = 0;
}

void
msess_free(struct msess *ms)
{
	if (ms == NULL)
		return;
	if (ms->step == MS_CONNECTING)
		mpool_cancel(scan_pool(ms->scan), ms);
	if (ms->bev != NULL)
		bufferevent_free(ms->bev);	/* closes the socket */
	if (ms->timer != NULL)
		event_free(ms->timer);
	changes_free(ms);
	free(ms);
}

/* The milter's last word: its result goes to the scan, which frees us. */
static void
ms_finish(struct msess *ms, struct mresult *r)
{
	struct mchange	ch[CHANGES_MAX];
	size_t		n = 0;

	if (ms->step == MS_CONNECTING)
		mpool_cancel(scan_pool(ms->scan), ms);
	ms->step = MS_DONE;
	ms->waiting = 0;
	if (ms->timer != NULL)
		evtimer_del(ms->timer);
	if (r->kind == MR_ACCEPT) {
		r->quarantine = ms->quarantine;
		strlcpy(r->qreason, ms->qreason, sizeof(r->qreason));
		n = ms->nchanges;
		memcpy(ch, ms->changes, n * sizeof(ch[0]));
		ms->nchanges = 0;	/* the scan takes them */
	}
	/* A polite goodbye; the socket closes when we are freed. */
	if (ms->bev != NULL && r->kind != MR_FAILED) {
		uint8_t q[5] = { 0, 0, 0, 1, SMFIC_QUIT };

		bufferevent_write(ms->bev, q, sizeof(q));
	}
	scan_milter_done(ms->scan, r, ch, n);
}

static void
fail(struct msess *ms, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct msess *ms, const char *fmt, ...)
{
	struct mresult	r;
	va_list		ap;

	memset(&r, 0, sizeof(r));
	r.kind = MR_FAILED;
	va_start(ap, fmt);
	vsnprintf(r.why, sizeof(r.why), fmt, ap);
	va_end(ap);
	ms_finish(ms, &r);
}

static void
ms_timeout(int fd, short ev, void *arg)
{
	struct msess *ms = arg;

	(void)fd;
	(void)ev;
	if (ms->step == MS_CONNECTING) {
		fail(ms, "no connection within %us", ms->mc.timeout);
		return;
	}
	fail(ms, "no reply within %us", ms->mc.timeout);
}

static void
arm(struct msess *ms)
{
	struct timeval tv = { ms->mc.timeout, 0 };

	evtimer_add(ms->timer, &tv);
}

/* One frame: the command and its parts, with its length before. */
static void
send_frame(struct msess *ms, uint8_t cmd, const struct iovec *iov, int n)
{
	struct evbuffer	*out = bufferevent_get_output(ms->bev);
	uint8_t		 hdr[5];
	size_t		 len = 1;
	int		 i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	hdr[4] = cmd;
	/* A frame cut short would desynchronise the milter: give it up. */
	if (evbuffer_add(out, hdr, sizeof(hdr)) == -1)
		goto nomem;
	for (i = 0; i < n; i++)
		if (evbuffer_add(out, iov[i].iov_base, iov[i].iov_len) == -1)
			goto nomem;
	return;
nomem:
	if (ms->step != MS_DONE)
		fail(ms, "out of memory sending to it");
}

#define IOV_STR(s)	{ (void *)(s), strlen(s) + 1 }

static void
send_str(struct msess *ms, uint8_t cmd, const char *s)
{
	struct iovec iov[1] = { IOV_STR(s) };

	send_frame(ms, cmd, iov, 1);
}

/* SMFIC_MACRO for the command that follows: name, value pairs. */
static void
send_macros(struct msess *ms, uint8_t stage, const char *const *kv, int n)
{
	struct iovec	iov[9];
	int		i;

	iov[0].iov_base = &stage;
	iov[0].iov_len = 1;
	for (i = 0; i < n && i < 8; i++) {
		iov[i + 1].iov_base = (void *)kv[i];
		iov[i + 1].iov_len = strlen(kv[i]) + 1;
	}
	send_frame(ms, SMFIC_MACRO, iov, i + 1);
}

static void
send_optneg(struct msess *ms)
{
	uint8_t b[12];
	struct iovec iov[1] = { { b, sizeof(b) } };
	uint32_t v[3] = { MILTER_VERSION, MILTER_ACTIONS, MILTER_PROTO };
	int i;

	for (i = 0; i < 3; i++) {
		b[i * 4] = (uint8_t)(v[i] >> 24);
		b[i * 4 + 1] = (uint8_t)(v[i] >> 16);
		b[i * 4 + 2] = (uint8_t)(v[i] >> 8);
		b[i * 4 + 3] = (uint8_t)v[i];
	}
	send_frame(ms, SMFIC_OPTNEG, iov, 1);
}

static void
send_connect(struct msess *ms, const struct scan_view *v)
{
	char		 client[320];
	const char	*kv[6];
	uint8_t		 fam = v->client_v6 ? '6' : '4', port[2] = { 0, 0 };
	struct iovec	 iov[4] = { IOV_STR(v->client_name), { &fam, 1 },
	    { port, 2 }, IOV_STR(v->client_addr) };

	snprintf(client, sizeof(client), "%s [%s]", v->client_name,
	    v->client_addr);
	kv[0] = "j";
	kv[1] = v->hostname;
	kv[2] = "{daemon_name}";
	kv[3] = "relayd";
	kv[4] = "_";
	kv[5] = client;
	send_macros(ms, SMFIC_CONNECT, kv, 6);
	send_frame(ms, SMFIC_CONNECT, iov, 4);
}

static void
send_addr(struct msess *ms, uint8_t cmd, const char *macro, const char *a,
    const char *qid)
{
	char		 br[520];
	const char	*kv[4];

	snprintf(br, sizeof(br), "<%s>", a);
	kv[0] = macro;
	kv[1] = a;
	kv[2] = "i";
	kv[3] = qid;
	send_macros(ms, cmd, kv, 4);
	send_str(ms, cmd, br);
}

/*
 * A field as the protocol sends it: name, then the value with its first
 * spaces dropped (unless SMFIP_HDR_LEADSPC) and its line breaks as LF,
 * at most what fits one frame.
 */
static void
send_header(struct msess *ms, size_t idx)
{
	const uint8_t	*f;
	size_t		 len, nlen, i, o = 0;
	char		 name[MILTER_NAME_MAX + 1];
	char		*val;
	struct iovec	 iov[2];

	scan_field(ms->scan, idx, &f, &len, &nlen);
	if (nlen > MILTER_NAME_MAX)
		nlen = MILTER_NAME_MAX;
	memcpy(name, f, nlen);
	name[nlen] = '\0';
	i = nlen + 1;
	if (!(ms->proto & SMFIP_HDR_LEADSPC))
		while (i < len && (f[i] == ' ' || f[i] == '\t'))
			i++;
	if (len >= 2)
		len -= 2;		/* the last CRLF */
	if ((val = malloc(len - (i < len ? i : len) + 1)) == NULL) {
		fail(ms, "out of memory");
		return;
	}
	for (; i < len && o < MILTER_FRAME_MAX - 1024; i++)
		if (!(f[i] == '\r' && i + 1 < len && f[i + 1] == '\n'))
			val[o++] = (char)f[i];
	val[o] = '\0';
	iov[0].iov_base = name;
	iov[0].iov_len = nlen + 1;
	iov[1].iov_base = val;
	iov[1].iov_len = o + 1;
	send_frame(ms, SMFIC_HEADER, iov, 2);
	free(val);
}

/* The next body chunk; 0 at the end, -1 if failed. */
static int
ms_send_body(struct msess *ms)
{
	static uint8_t	buf[BODY_CHUNK];
	struct iovec	iov[1];
	ssize_t		n;

	if ((n = scan_body(ms->scan, ms->body_off, buf, sizeof(buf))) == -1) {
		fail(ms, "reading the spool file: %s", strerror(errno));
		return -1;
	}
	if (n == 0)
		return 0;
	ms->body_off += (uint64_t)n;
	iov[0].iov_base = buf;
	iov[0].iov_len = (size_t)n;
	send_frame(ms, SMFIC_BODY, iov, 1);
	return 1;
}

/* Send what the current step needs; 1 if a reply is due. */
static int
step_send(struct msess *ms)
{
	struct scan_view	v;
	uint32_t		p = ms->proto;

	scan_view(ms->scan, &v);
	switch (ms->step) {
	case MS_OPTNEG:
		send_optneg(ms);
		return 1;
	case MS_CONNECT:
		if (p & SMFIP_NOCONNECT)
			return 0;
		send_connect(ms, &v);
		return !(p & SMFIP_NR_CONN);
	case MS_HELO:
		if (p & SMFIP_NOHELO)
			return 0;
		send_str(ms, SMFIC_HELO, v.helo);
		return !(p & SMFIP_NR_HELO);
	case MS_MAIL:
		if (p & SMFIP_NOMAIL)
			return 0;
		send_addr(ms, SMFIC_MAIL, "{mail_addr}", v.sender, v.qid);
		return !(p & SMFIP_NR_MAIL);
	case MS_RCPT:
		if (p & SMFIP_NORCPT)
			return 0;
		send_addr(ms, SMFIC_RCPT, "{rcpt_addr}", v.rcpts[ms->i],
		    v.qid);
		return !(p & SMFIP_NR_RCPT);
	case MS_DATA:
		if (p & SMFIP_NODATA)
			return 0;
		send_frame(ms, SMFIC_DATA, NULL, 0);
		return !(p & SMFIP_NR_DATA);
	case MS_HEADER:
		if (p & SMFIP_NOHDRS)
			return 0;
		send_header(ms, ms->i);
		return ms->step != MS_DONE && !(p & SMFIP_NR_HDR);
	case MS_EOH:
		if (p & SMFIP_NOEOH)
			return 0;
		send_frame(ms, SMFIC_EOH, NULL, 0);
		return !(p & SMFIP_NR_EOH);
	case MS_BODY:
		return !(p & SMFIP_NR_BODY);	/* sent by advance */
	case MS_EOB:
		{
			const char *kv[2] = { "i", v.qid };

			send_macros(ms, SMFIC_BODYEOB, kv, 2);
		}
		send_frame(ms, SMFIC_BODYEOB, NULL, 0);
		return 1;
	default:
		return 0;
	}
}

/* The step after the current one, counting recipients and fields. */
static void
next_step(struct msess *ms)
{
	struct scan_view v;

	scan_view(ms->scan, &v);
	switch (ms->step) {
	case MS_RCPT:
		if (++ms->i < v.nrcpts && !(ms->proto & SMFIP_NORCPT))
			return;
		ms->i = 0;
		ms->step = MS_DATA;
		return;
	case MS_DATA:
		ms->i = 0;
		ms->step = scan_nfields(ms->scan) > 0 ? MS_HEADER : MS_EOH;
		return;
	case MS_HEADER:
		if (++ms->i < scan_nfields(ms->scan) &&
		    !(ms->proto & SMFIP_NOHDRS))
			return;
		ms->step = MS_EOH;
		return;
	case MS_EOH:
		ms->step = (ms->proto & SMFIP_NOBODY) ? MS_EOB : MS_BODY;
		return;
	case MS_BODY:
		return;		/* advance sees the body's end */
	case MS_MAIL:
		ms->i = 0;
		ms->step = v.nrcpts > 0 ? MS_RCPT : MS_DATA;
		return;
	default:
		ms->step++;
		return;
	}
}

/* Send until a reply is due, or the output must drain first. */
static void
advance(struct msess *ms)
{
	int rv;

	while (ms->step != MS_DONE && !ms->waiting) {
		if (ms->step == MS_BODY) {
			if (evbuffer_get_length(bufferevent_get_output(
			    ms->bev)) > OUT_HIGH) {
				ms->paused = 1;
				return;		/* on_write goes on */
			}
			if ((rv = ms_send_body(ms)) == -1 ||
			    ms->step == MS_DONE)
				return;
			if (rv == 0) {
				ms->step = MS_EOB;
				continue;
			}
			if (!(ms->proto & SMFIP_NR_BODY)) {
				ms->waiting = 1;
				arm(ms);
			}
			continue;
		}
		rv = step_send(ms);
		if (ms->step == MS_DONE)
			return;		/* failed while sending */
		if (rv) {
			ms->waiting = 1;
			arm(ms);
			return;
		}
		next_step(ms);
	}
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct msess *ms = arg;

	(void)bev;
	if (ms->paused) {
		ms->paused = 0;
		advance(ms);
	}
}

static void
ms_refuse(struct msess *ms, int code, const char *enh, const char *text)
{
	struct mresult r;

	memset(&r, 0, sizeof(r));
	r.kind = MR_REFUSE;
	r.code = code;
	strlcpy(r.enh, enh, sizeof(r.enh));
	strlcpy(r.text, text, sizeof(r.text));
	ms_finish(ms, &r);
}

static void
ms_refuse_fixed(struct msess *ms, enum preply_id id)
{
	struct preply r;

	preply_fixed(&r, id);
	ms_refuse(ms, r.code, r.enh, r.text);
}

static void
result(struct msess *ms, enum mresult_kind k)
{
	struct mresult r;

	memset(&r, 0, sizeof(r));
	r.kind = k;
	ms_finish(ms, &r);
}

static void
take_change(struct msess *ms, const struct milter_reply *mr)
{
	struct mchange *c;

	if ((mr->cmd == SMFIR_CHGHEADER && !(ms->actions & SMFIF_CHGHDRS)) ||
	    (mr->cmd != SMFIR_CHGHEADER && !(ms->actions & SMFIF_ADDHDRS))) {
		fail(ms, "a header change it did not negotiate");
		return;
	}
	if (ms->nchanges == CHANGES_MAX) {
		fail(ms, "more than %d header changes", CHANGES_MAX);
		return;
	}
	c = &ms->changes[ms->nchanges];
	c->cmd = mr->cmd;
	c->index = mr->index;
	c->vlen = mr->vlen;
	c->leadspc = (ms->proto & SMFIP_HDR_LEADSPC) != 0;
	if ((c->name = strdup(mr->name)) == NULL ||
	    (c->value = malloc(mr->vlen + 1)) == NULL) {
		free(c->name);
		fail(ms, "out of memory");
		return;
	}
	memcpy(c->value, mr->value, mr->vlen);
	c->value[mr->vlen] = '\0';
	ms->nchanges++;
}

static void
on_optneg(struct msess *ms, const struct milter_reply *mr)
{
	if (mr->cmd != SMFIR_OPTNEG) {
		fail(ms, "no option negotiation");
		return;
	}
	if (mr->version < 2 || mr->version > MILTER_VERSION) {
		fail(ms, "protocol version %u", mr->version);
		return;
	}
	/* What it wants beyond our offer it will not get: masked. */
	ms->actions = mr->actions & MILTER_ACTIONS;
	ms->proto = mr->proto & MILTER_PROTO;
	ms->waiting = 0;
	ms->step = MS_CONNECT;
	advance(ms);
}

/* One reply, while we wait for one. */
static void
on_reply(struct msess *ms, const struct milter_reply *mr)
{
	if (mr->cmd == SMFIR_PROGRESS) {
		if (++ms->waits > MILTER_WAITS_MAX) {
			fail(ms, "still busy after %u waits of %us",
			    MILTER_WAITS_MAX, ms->mc.timeout);
			return;
		}
		arm(ms);
		return;
	}
	if (ms->step == MS_OPTNEG) {
		on_optneg(ms, mr);
		return;
	}
	switch (mr->cmd) {
	case SMFIR_CONTINUE:
		if (ms->step == MS_EOB) {
			result(ms, MR_ACCEPT);
			return;
		}
		break;
	case SMFIR_ACCEPT:
		/* Before the end of body: no changes, and no more for it. */
		if (ms->step != MS_EOB)
			changes_free(ms);
		result(ms, MR_ACCEPT);
		return;
	case SMFIR_REJECT:
		ms_refuse_fixed(ms, PR_MILTER_REJECT);
		return;
	case SMFIR_TEMPFAIL:
		ms_refuse_fixed(ms, PR_MILTER_TEMPFAIL);
		return;
	case SMFIR_REPLYCODE:
		ms_refuse(ms, mr->code, mr->enh, mr->text);
		return;
	case SMFIR_DISCARD:
		result(ms, MR_DISCARD);
		return;
	case SMFIR_SKIP:
		if (ms->step != MS_BODY) {
			fail(ms, "a skip outside the body");
			return;
		}
		ms->step = MS_EOB;
		break;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (ms->step != MS_EOB) {
			fail(ms, "a header change before the end of body");
			return;
		}
		take_change(ms, mr);
		return;		/* still waiting for its last word */
	case SMFIR_QUARANTINE:
		if (ms->step != MS_EOB || !(ms->actions & SMFIF_QUARANTINE)) {
			fail(ms, "a quarantine it did not negotiate");
			return;
		}
		ms->quarantine = 1;
		strlcpy(ms->qreason, mr->text, sizeof(ms->qreason));
		return;
	default:
		fail(ms, "reply '%c' out of place", mr->cmd > ' ' &&
		    mr->cmd < 0x7f ? mr->cmd : '?');
		return;
	}
	ms->waiting = 0;
	evtimer_del(ms->timer);
	if (ms->step != MS_EOB || mr->cmd != SMFIR_SKIP)
		next_step(ms);
	advance(ms);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct msess		*ms = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct milter_reply	 mr;
	uint8_t			 hdr[4], *p;
	size_t			 len;
	const char		*why;

	while (ms->step != MS_DONE && evbuffer_get_length(in) >= 4) {
		evbuffer_copyout(in, hdr, 4);
		if (milter_frame_len(hdr, &len, &why) == -1) {
			fail(ms, "%s", why);
			return;
		}
		if (evbuffer_get_length(in) < 4 + len)
			return;
		if (!ms->waiting) {
			fail(ms, "a reply nobody asked for");
			return;
		}
		if ((p = evbuffer_pullup(in, (ssize_t)(4 + len))) == NULL) {
			fail(ms, "out of memory");
			return;
		}
		if (milter_reply_parse(p + 4, len, &mr, &why) == -1) {
			fail(ms, "%s", why);
			return;
		}
		/* Values point into the frame: used before it is drained. */
		on_reply(ms, &mr);
		evbuffer_drain(in, 4 + len);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct msess *ms = arg;

	(void)bev;
	if (ms->step == MS_DONE)
		return;
	if (what & BEV_EVENT_EOF)
		fail(ms, "it closed the connection");
	else
		fail(ms, "connection: %s", strerror(EVUTIL_SOCKET_ERROR()));
}

/* The pool's connection came: option negotiation first. */
void
msess_connected(struct msess *ms, int fd)
{
	evtimer_del(ms->timer);
	if ((ms->bev = bufferevent_socket_new(scan_base(ms->scan), fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		fail(ms, "out of memory");
		return;
	}
	bufferevent_setcb(ms->bev, on_read, on_write, on_event, ms);
	bufferevent_setwatermark(ms->bev, EV_READ, 0, IN_HIGH);
	bufferevent_setwatermark(ms->bev, EV_WRITE, OUT_HIGH / 4, 0);
	if (bufferevent_enable(ms->bev, EV_READ | EV_WRITE) == -1) {
		fail(ms, "cannot poll its socket");
		return;
	}
	ms->step = MS_OPTNEG;
	advance(ms);
}

void
msess_unreachable(struct msess *ms, const char *why)
{
	ms->step = MS_OPTNEG;	/* no longer in the pool's list */
	fail(ms, "%s", why);
}

void
msess_start(struct msess *ms)
{
	char	why[128];
	int	fd, rv;

	if ((ms->timer = evtimer_new(scan_base(ms->scan), ms_timeout, ms)) ==
	    NULL) {
		ms->step = MS_OPTNEG;
		fail(ms, "out of memory");
		return;
	}
	ms->step = MS_CONNECTING;
	rv = mpool_get(scan_pool(ms->scan), ms->mc.socket, ms, &fd, why,
	    sizeof(why));
	if (rv == -1) {
		ms->step = MS_OPTNEG;
		fail(ms, "%s", why);
	} else if (rv == 0)
		msess_connected(ms, fd);
	else
		arm(ms);
}

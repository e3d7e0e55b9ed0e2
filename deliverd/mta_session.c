/*
 * mta_session: one SMTP client connection to one next hop.
 *
 *   connect -> 220 -> EHLO (HELO if refused) -> [STARTTLS -> EHLO]
 *   -> MAIL, RCPT... (pipelined when offered) -> BDAT LAST | DATA ...
 *   -> final reply -> the next job on the same connection, or QUIT
 *
 * A failed connection, a refused greeting or a time-out before the first
 * transaction moves on to the next hop.  A probe (a job without a
 * message: are the tenant's servers back?) ends after EHLO: the first
 * hop that answers it is up, and the connection, now idle, is there for
 * the mail the probe brings back.  A reused connection that the
 * next hop has closed gives its job back to be sent on a fresh one, with
 * no penalty.
 *
 * A hop whose DANE records or MTA-STS policy (in enforce mode) ask for
 * TLS gets it or nothing: no STARTTLS, a refused one, a failed handshake
 * or a certificate that does not prove what was asked moves on to the
 * next hop, and when none is left the recipients are deferred with 4.7.5
 * (mta_tls.c checks the certificate).  Plain text is never tried again
 * for such a hop.
 *
 * The next hop is not trusted.  A reply that breaks the protocol during a
 * transaction (malformed, 2xx or 3xx other than 354 to DATA, or a reply
 * to the end of data that comes before all of it has left us) defers the
 * recipients not yet decided, with 4.5.0, and we hang up: never is a
 * message taken for delivered that the next hop cannot have read.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "deliverd.h"
#include "log.h"
#include "msg_deliver.h"
#include "mta_read.h"
#include "mta_reply.h"

#define EXT_PIPELINING	0x01
#define EXT_SIZE	0x02
#define EXT_8BITMIME	0x04
#define EXT_SMTPUTF8	0x08
#define EXT_DSN		0x10
#define EXT_STARTTLS	0x20
#define EXT_CHUNKING	0x40

#define IDLE_TIMEOUT	5	/* seconds a connection waits for more */
#define CONNECT_TIMEOUT	30	/* or timeouts.command, if shorter */
#define BODY_CHUNK	(64 * 1024)
#define BODY_HIGH	(256 * 1024)

enum ms_state {
	MS_CONNECT,
	MS_GREETING,
	MS_EHLO,
	MS_HELO,
	MS_STARTTLS,
	MS_HANDSHAKE,
	MS_TX,		/* MAIL and RCPT replies */
	MS_DATA,	/* waiting for 354 */
	MS_BODY,	/* content going out, then the final reply */
	MS_RSET,
	MS_IDLE,
	MS_QUIT
};

struct mta_session {
	LIST_ENTRY(mta_session)	 entry;		/* dest->idle */
	struct deliverd		*d;
	struct dest		*dest;
	struct job		*job;
	struct bufferevent	*bev;
	struct event		*idle_timer;
	enum ms_state		 state;
	struct hop		*hops;		/* our copy: dest's may change */
	unsigned		 hosts_gen;	/* dest's, when we started */
	struct ssl_ctx_st	*ssl_ctx;	/* held: reloads make new */
	size_t			 nhops;
	size_t			 hop;
	int			 no_tls;
	int			 tls;
	int			 reused;
	int			 idle;
	unsigned		 ext;
	uint64_t		 max_size;
	struct mta_reply	 reply;
	/* the transaction */
	int			 mail_ok;
	int			 mail_replied;
	size_t			 rcpt_sent;
	size_t			 rcpt_replied;
	size_t			 accepted;
	/* the body, when sent with DATA */
	off_t			 body_off;
	off_t			 body_len;
	int			 body_done;
	int			 after_lf;	/* last octet sent was LF */
	uint8_t			 tail[2];	/* last two octets sent */
	char			 error[256];	/* why the last hop failed */
	char			 error_dsn[16];	/* its code, or "" */
	char			 tls_version[16]; /* "none" in plain text */
	const char		*verified;	/* dane, mta-sts, none */
	int			 in_cb;		/* inside read_cb */
	int			 dead;		/* free when read_cb returns */
};

static void	mta_free(struct mta_session *);
static const char *tls_policy_name(const struct hop *);
static void	sts_testing_note(struct mta_session *, const char *);
static void	connect_hop(struct mta_session *);
static void	read_cb(struct bufferevent *, void *);
static void	write_cb(struct bufferevent *, void *);
static void	event_cb(struct bufferevent *, short, void *);
static void	start_tx(struct mta_session *);
static void	protocol_error(struct mta_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static const struct conf *
conf_of(const struct mta_session *s)
{
	return s->d->conf;
}

static struct hop *
cur_hop(struct mta_session *s)
{
	return &s->hops[s->hop];
}

/*
 * The one writer of deliverd's SMTP commands (sessions, callouts, the
 * self-check).  Every argument was checked when it came (job_refuse_args,
 * the callout's and the self-check's own checks) and commands are short:
 * a line break here would be a second command smuggled into this one, so
 * it is never written.  NUL cannot be in a C string's middle.
 */
void
smtp_cmd_vwrite(struct evbuffer *out, const char *who, const char *fmt,
    va_list ap)
{
	char	line[2048];
	int	n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    strpbrk(line, "\r\n") != NULL)
		fatalx("%srefusing to write an SMTP command that is too long "
		    "or holds a line break", who);
	evbuffer_add(out, line, (size_t)n);
	evbuffer_add(out, "\r\n", 2);
}

static void __attribute__((format(printf, 2, 3)))
send_line(struct mta_session *s, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	smtp_cmd_vwrite(bufferevent_get_output(s->bev), "", fmt, ap);
	va_end(ap);
}

static void
set_read_timeout(struct mta_session *s, uint32_t secs)
{
	struct timeval rd = { secs, 0 }, wr = { conf_of(s)->timeouts.data, 0 };

	bufferevent_set_timeouts(s->bev, &rd, &wr);
}

static void
relay_name(struct mta_session *s, char *buf, size_t sz)
{
	struct hop	*h = cur_hop(s);
	char		 a[64];

	netaddr_format(&h->addr, a, sizeof(a));
	snprintf(buf, sz, "%s[%s]:%u", h->host, a, h->addr.port);
}

/* Results for the recipients that have none yet. */
static void
fail_rest(struct job *job, int result, const char *dsn, const char *diag)
{
	job_fail_all(job, result, dsn, "%s", diag);
}

static const char *
dsn_of(const struct mta_reply *r, const char *fallback)
{
	return r->enh[0] ? r->enh : fallback;
}

static int
result_of(int code)
{
	return code < 300 ? DR_SENT : code < 500 ? DR_TEMPFAIL : DR_PERMFAIL;
}

static void
set_result(struct jrcpt *rc, const struct mta_reply *r)
{
	char diag[REPLY_TEXT_MAX + 8];

	rc->result = (uint8_t)result_of(r->code);
	strlcpy(rc->dsn, dsn_of(r, r->code < 300 ? "2.0.0" : r->code < 500 ?
	    "4.0.0" : "5.0.0"), sizeof(rc->dsn));
	mta_reply_format(r, diag, sizeof(diag));
	free(rc->diag);
	rc->diag = strdup(diag);
}

/* The job is over on this connection: report it. */
static void
tx_finish(struct mta_session *s, int dest_state, const char *error)
{
	struct job *job = s->job;

	s->job = NULL;
	job_finish(s->d, job, dest_state, error);
}

/* What the job is, for the log: a message, or a probe of a route. */
static void
job_label(const struct job *job, char *buf, size_t sz)
{
	if (job->probe)
		snprintf(buf, sz, "probe=%s", job->key);
	else
		snprintf(buf, sz, "msgid=%016llx",
		    (unsigned long long)job->msgid);
}

/* Between transactions: take the next job, or wait a little for one. */
static void
tx_done(struct mta_session *s)
{
	tx_finish(s, DEST_UP, NULL);
	s->reused = 1;
	s->state = MS_IDLE;
	dest_session_done(s->d, s->dest, s, 1);
}

static void
idle_timeout(int fd, short ev, void *arg)
{
	struct mta_session *s = arg;

	(void)fd;
	(void)ev;
	if (s->idle) {
		LIST_REMOVE(s, entry);
		s->idle = 0;
		mta_quit(s);
	}
}

/* The tenant's servers changed (a reload) since we connected: quit. */
int
mta_quit_if_stale(struct mta_session *s)
{
	if (s->hosts_gen == s->dest->hosts_gen)
		return 0;
	if (s->idle) {
		LIST_REMOVE(s, entry);
		s->idle = 0;
	}
	evtimer_del(s->idle_timer);
	mta_quit(s);
	return 1;
}

/* Called by dest when no job waits: linger on the idle list. */
void
mta_idle(struct mta_session *s)
{
	struct timeval tv = { IDLE_TIMEOUT, 0 };

	LIST_INSERT_HEAD(&s->dest->idle, s, entry);
	s->idle = 1;
	evtimer_add(s->idle_timer, &tv);
}

void
mta_next_job(struct mta_session *s, struct job *job)
{
	if (s->idle) {
		LIST_REMOVE(s, entry);
		s->idle = 0;
	}
	evtimer_del(s->idle_timer);
	s->job = job;
	strlcpy(job->relay, "", sizeof(job->relay));
	relay_name(s, job->relay, sizeof(job->relay));
	strlcpy(job->tls, s->tls_version, sizeof(job->tls));
	job->verified = s->verified;
	start_tx(s);
}

void
mta_quit(struct mta_session *s)
{
	s->state = MS_QUIT;
	send_line(s, "QUIT");
	set_read_timeout(s, 10);
}

/* The session is over; the dest learns whether it could be reused. */
static void
session_end(struct mta_session *s)
{
	struct dest	*dest = s->dest;
	struct deliverd	*d = s->d;

	if (s->idle) {
		LIST_REMOVE(s, entry);
		s->idle = 0;
	}
	mta_free(s);
	dest_session_done(d, dest, NULL, 0);
}

static void
hop_next(struct mta_session *s)
{
	char label[ROUTE_KEY_MAX + 16];

	job_label(s->job, label, sizeof(label));
	log_info("%s: %s; trying the next host", label, s->error);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	s->bev = NULL;
	s->hop++;
	s->no_tls = 0;
	s->tls = 0;
	connect_hop(s);
}

/* This hop is no good: try the next, or give the job back deferred. */
static void __attribute__((format(printf, 2, 3)))
hop_failed(struct mta_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	s->error_dsn[0] = '\0';
	hop_next(s);
}

/* The hop's TLS policy was not met (4.7.5): said louder, then the next. */
static void __attribute__((format(printf, 2, 3)))
hop_tls_failed(struct mta_session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	 label[ROUTE_KEY_MAX + 16];

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	strlcpy(s->error_dsn, "4.7.5", sizeof(s->error_dsn));
	job_label(s->job, label, sizeof(label));
	log_warnx("%s relay=%s: %s: %s", label, s->job->relay,
	    tls_policy_name(cur_hop(s)), s->error);
	hop_next(s);
}

/* TLS is a must for this hop: DANE, MTA-STS enforce, inbound.tls. */
static int
tls_required(const struct hop *h)
{
	return h->tls == HT_DANE || h->tls == HT_DANE_ENCRYPT ||
	    h->tls == HT_STS_ENFORCE || h->tls == HT_REQUIRED ||
	    h->tls == HT_VERIFY;
}

static void
connect_hop(struct mta_session *s)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct timeval		 tv = { CONNECT_TIMEOUT, 0 };
	int			 on = 1;

	if (conf_of(s)->timeouts.command < CONNECT_TIMEOUT)
		tv.tv_sec = conf_of(s)->timeouts.command;

	if (s->hop >= s->nhops) {
		fail_rest(s->job, DR_TEMPFAIL, s->error_dsn[0] ?
		    s->error_dsn : "4.4.1", s->error[0] ? s->error :
		    "no host could be reached");
		tx_finish(s, DEST_DOWN, s->error[0] ? s->error :
		    "no host could be reached");
		session_end(s);
		return;
	}
	s->state = MS_CONNECT;
	s->ext = 0;
	s->max_size = 0;
	mta_reply_init(&s->reply);
	relay_name(s, s->job->relay, sizeof(s->job->relay));
	strlcpy(s->tls_version, "none", sizeof(s->tls_version));
	s->verified = "none";
	strlcpy(s->job->tls, s->tls_version, sizeof(s->job->tls));
	s->job->verified = s->verified;
	if (cur_hop(s)->tls == HT_DANE_FAIL) {
		hop_tls_failed(s, "the TLSA look-up for %s failed",
		    cur_hop(s)->host);
		return;
	}
	netaddr_to_sockaddr(&cur_hop(s)->addr, &ss, &sl);
	s->bev = bufferevent_socket_new(s->d->child->base, -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss,
	    (int)sl) == -1) {
		hop_failed(s, "connect to %s: %s", s->job->relay,
		    strerror(errno));
		return;
	}
	setsockopt(bufferevent_getfd(s->bev), IPPROTO_TCP, TCP_NODELAY, &on,
	    sizeof(on));
}

struct mta_session *
mta_start(struct deliverd *d, struct dest *dest, struct job *job)
{
	struct mta_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		fatal("mta session");
	s->d = d;
	s->dest = dest;
	s->hosts_gen = dest->hosts_gen;
	s->job = job;
	s->hops = hops_copy(dest->hops, dest->nhops);
	s->nhops = dest->nhops;
	s->ssl_ctx = d->ssl_ctx;
	if (s->ssl_ctx != NULL)
		SSL_CTX_up_ref(s->ssl_ctx);
	if ((s->idle_timer = evtimer_new(d->child->base, idle_timeout, s)) ==
	    NULL)
		fatalx("evtimer_new");
	d->nsessions++;
	d->sessions_total++;
	dest->nsessions++;
	connect_hop(s);
	return s;
}

static void
mta_free(struct mta_session *s)
{
	s->d->nsessions--;
	s->dest->nsessions--;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	s->bev = NULL;
	event_free(s->idle_timer);
	s->idle_timer = NULL;
	hops_free(s->hops, s->nhops);
	s->hops = NULL;
	SSL_CTX_free(s->ssl_ctx);
	s->ssl_ctx = NULL;
	/* read_cb may still be walking its input: it frees us last. */
	if (s->in_cb > 0)
		s->dead = 1;
	else
		free(s);
}

static const char *
tls_policy_name(const struct hop *h)
{
	switch (h->tls) {
	case HT_DANE:
	case HT_DANE_ENCRYPT:
	case HT_DANE_FAIL:
		return "DANE";
	case HT_STS_ENFORCE:
	case HT_STS_TESTING:
		return "MTA-STS";
	case HT_REQUIRED:
		return "inbound.tls required";
	case HT_VERIFY:
		return "inbound.tls verify";
	default:
		return "TLS";
	}
}

/* MTA-STS in testing mode: what enforce would have refused, delivered. */
static void
sts_testing_note(struct mta_session *s, const char *why)
{
	log_warnx("msgid=%016llx relay=%s: MTA-STS (testing) of %s would "
	    "refuse this host: %s; delivering anyway",
	    (unsigned long long)s->job->msgid, s->job->relay,
	    s->dest->domain, why);
}

static void
send_ehlo(struct mta_session *s)
{
	s->ext = 0;
	s->max_size = 0;
	s->state = MS_EHLO;
	send_line(s, "EHLO %s", conf_of(s)->hostname);
}

/* One line of the EHLO reply after the first: a keyword. */
static void
ehlo_keyword(struct mta_session *s, const char *p, size_t len)
{
	static const struct {
		const char	*kw;
		unsigned	 bit;
	} kws[] = {
		{ "PIPELINING", EXT_PIPELINING }, { "SIZE", EXT_SIZE },
		{ "8BITMIME", EXT_8BITMIME }, { "SMTPUTF8", EXT_SMTPUTF8 },
		{ "DSN", EXT_DSN }, { "STARTTLS", EXT_STARTTLS },
		{ "CHUNKING", EXT_CHUNKING },
	};
	size_t i, n, wl;

	for (wl = 0; wl < len && p[wl] != ' '; wl++)
		;
	for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		n = strlen(kws[i].kw);
		if (wl == n && strncasecmp(p, kws[i].kw, n) == 0)
			s->ext |= kws[i].bit;
	}
	if (wl == 4 && strncasecmp(p, "SIZE", 4) == 0 && len > 5) {
		char num[24];
		size_t nl = len - 5 < sizeof(num) - 1 ? len - 5 :
		    sizeof(num) - 1;

		memcpy(num, p + 5, nl);
		num[nl] = '\0';
		s->max_size = strtoull(num, NULL, 10);
	}
}

static void
start_tls(struct mta_session *s)
{
	struct bufferevent	*tls;
	SSL			*ssl;

	/* Whatever came before the handshake is not to be trusted. */
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	if ((ssl = SSL_new(s->ssl_ctx)) == NULL)
		fatalx("SSL_new");
	SSL_set_tlsext_host_name(ssl, cur_hop(s)->host);
	if (tls_prepare(ssl, cur_hop(s), s->dest->domain) == -1) {
		SSL_free(ssl);
		hop_tls_failed(s, "cannot use the TLSA records of %s",
		    cur_hop(s)->host);
		return;
	}
	tls = bufferevent_openssl_filter_new(s->d->child->base, s->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL)
		fatalx("bufferevent_openssl_filter_new");
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	s->state = MS_HANDSHAKE;
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	set_read_timeout(s, conf_of(s)->timeouts.command);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
notify_param(char *buf, size_t sz, uint8_t notify)
{
	buf[0] = '\0';
	if (notify == 0)
		return;
	strlcpy(buf, " NOTIFY=", sz);
	if (notify & NOTIFY_NEVER) {
		strlcat(buf, "NEVER", sz);
		return;
	}
	if (notify & NOTIFY_SUCCESS)
		strlcat(buf, "SUCCESS,", sz);
	if (notify & NOTIFY_FAILURE)
		strlcat(buf, "FAILURE,", sz);
	if (notify & NOTIFY_DELAY)
		strlcat(buf, "DELAY,", sz);
	buf[strlen(buf) - 1] = '\0';
}

static void
send_rcpt(struct mta_session *s, size_t i)
{
	struct jrcpt	*r = &s->job->rcpts[i];
	char		 notify[48];

	if (s->ext & EXT_DSN) {
		notify_param(notify, sizeof(notify), r->notify);
		send_line(s, "RCPT TO:<%s>%s%s%s", r->addr, notify,
		    r->orcpt ? " ORCPT=" : "", r->orcpt ? r->orcpt : "");
	} else
		send_line(s, "RCPT TO:<%s>", r->addr);
	s->rcpt_sent++;
}

static void
send_mail(struct mta_session *s)
{
	struct job	*job = s->job;
	char		 size[32] = "", dsn[160] = "";

	if (s->ext & EXT_SIZE)
		snprintf(size, sizeof(size), " SIZE=%llu",
		    (unsigned long long)job->size);
	if ((s->ext & EXT_DSN) && (job->ret || job->envid[0]))
		snprintf(dsn, sizeof(dsn), "%s%s%s%s",
		    job->ret == RET_FULL ? " RET=FULL" :
		    job->ret == RET_HDRS ? " RET=HDRS" : "",
		    job->envid[0] ? " ENVID=" : "", job->envid, "");
	send_line(s, "MAIL FROM:<%s>%s%s%s%s", job->sender, size,
	    job->body == BODY_8BITMIME && (s->ext & EXT_8BITMIME) ?
	    " BODY=8BITMIME" : "", job->smtputf8 ? " SMTPUTF8" : "", dsn);
}

static void
start_tx(struct mta_session *s)
{
	struct job	*job = s->job;
	size_t		 i;

	s->mail_ok = s->mail_replied = 0;
	s->rcpt_sent = s->rcpt_replied = s->accepted = 0;
	s->body_done = 0;
	if (job->probe) {
		/* The server answered EHLO (or HELO): it is there. */
		tx_done(s);
		return;
	}
	if (job->smtputf8 && !(s->ext & EXT_SMTPUTF8)) {
		fail_rest(job, DR_PERMFAIL, "5.6.7", "the next hop does not "
		    "support SMTPUTF8, which this message needs");
		tx_done(s);
		return;
	}
	if ((s->ext & EXT_SIZE) && s->max_size > 0 &&
	    job->size > s->max_size) {
		char why[128];

		snprintf(why, sizeof(why), "message too big for the next hop "
		    "(%llu octets, limit %llu)", (unsigned long long)job->size,
		    (unsigned long long)s->max_size);
		fail_rest(job, DR_PERMFAIL, "5.3.4", why);
		tx_done(s);
		return;
	}
	if (job->body == BODY_8BITMIME && !(s->ext & EXT_8BITMIME))
		log_info("msgid=%016llx: %s lacks 8BITMIME; the 8-bit message "
		    "is sent as it is", (unsigned long long)job->msgid,
		    job->relay);
	s->state = MS_TX;
	job->dsn_passed = (s->ext & EXT_DSN) != 0;
	set_read_timeout(s, conf_of(s)->timeouts.command);
	send_mail(s);
	if (s->ext & EXT_PIPELINING)
		for (i = 0; i < job->nrcpts; i++)
			send_rcpt(s, i);
}

/*
 * The spool file cannot be read: never end the data, just hang up, so
 * the next hop throws the partial message away; try again later.
 */
static void
body_failed(struct mta_session *s, int err)
{
	char why[128];

	log_warnx("msgid=%016llx: reading the spool file: %s",
	    (unsigned long long)s->job->msgid, strerror(err));
	snprintf(why, sizeof(why), "cannot read the queued message: %s",
	    strerror(err));
	fail_rest(s->job, DR_TEMPFAIL, "4.3.0", why);
	tx_finish(s, DEST_UP, NULL);
	session_end(s);
}

/* Copy the body with dot-stuffing: a dot after any LF is doubled. */
static int
body_fill(struct mta_session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	uint8_t		 buf[BODY_CHUNK], stuffed[BODY_CHUNK * 2];
	ssize_t		 n;
	size_t		 i, o;

	while (!s->body_done && evbuffer_get_length(out) < BODY_HIGH) {
		n = pread(s->job->fd, buf, sizeof(buf), s->body_off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || (n == 0 && s->body_off < s->body_len)) {
			body_failed(s, n == -1 ? errno : EIO);
			return -1;
		}
		if (n == 0 || s->body_off >= s->body_len) {
			/* The terminator needs the content to end in CRLF. */
			if (s->tail[0] != '\r' || s->tail[1] != '\n')
				evbuffer_add(out, "\r\n", 2);
			evbuffer_add(out, ".\r\n", 3);
			s->body_done = 1;
			set_read_timeout(s, conf_of(s)->timeouts.data);
			break;
		}
		for (i = 0, o = 0; i < (size_t)n; i++) {
			if (buf[i] == '.' && s->after_lf)
				stuffed[o++] = '.';
			stuffed[o++] = buf[i];
			s->after_lf = buf[i] == '\n';
			s->tail[0] = s->tail[1];
			s->tail[1] = buf[i];
		}
		evbuffer_add(out, stuffed, o);
		s->body_off += n;
	}
	return 0;
}

static void
send_body(struct mta_session *s)
{
	struct stat st;
	int fd;

	s->state = MS_BODY;
	s->body_off = 0;
	s->after_lf = 1;	/* the first line starts at offset 0 */
	s->tail[0] = '\r';
	s->tail[1] = '\n';
	if (fstat(s->job->fd, &st) == -1)
		fatal("fstat spool file");
	s->body_len = st.st_size;
	if (s->ext & EXT_CHUNKING) {
		evbuffer_add_printf(bufferevent_get_output(s->bev),
		    "BDAT %lld LAST\r\n", (long long)st.st_size);
		if (st.st_size > 0 && ((fd = dup(s->job->fd)) == -1 ||
		    evbuffer_add_file(bufferevent_get_output(s->bev), fd, 0,
		    st.st_size) == -1))
			fatal("queueing the message file");
		s->body_done = 1;
		set_read_timeout(s, conf_of(s)->timeouts.data);
		return;
	}
	bufferevent_setwatermark(s->bev, EV_WRITE, BODY_CHUNK, 0);
	(void)body_fill(s);	/* on failure the session is gone */
}

/* The MAIL and RCPT replies, in order. */
static void
tx_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct job *job = s->job;

	if (!s->mail_replied) {
		s->mail_replied = 1;
		s->mail_ok = r->code < 300;
		if (!s->mail_ok) {
			char diag[REPLY_TEXT_MAX + 8];

			mta_reply_format(r, diag, sizeof(diag));
			fail_rest(job, result_of(r->code), dsn_of(r,
			    r->code < 500 ? "4.0.0" : "5.0.0"), diag);
		}
		if (!(s->ext & EXT_PIPELINING)) {
			if (!s->mail_ok) {
				s->state = MS_RSET;
				send_line(s, "RSET");
			} else
				send_rcpt(s, 0);
		}
		return;
	}
	if (s->mail_ok) {
		struct jrcpt *rc = &job->rcpts[s->rcpt_replied];

		if (r->code < 300) {
			rc->rcpt_ok = 1;
			s->accepted++;
			/* The tenant's server knows this user: learned. */
			if (job->route == ROUTE_TENANT)
				callout_learned(s->d, job->tenant, rc->addr);
		} else
			set_result(rc, r);
	}
	s->rcpt_replied++;
	if (s->rcpt_replied < job->nrcpts) {
		if (!(s->ext & EXT_PIPELINING))
			send_rcpt(s, s->rcpt_replied);
		return;
	}
	if (!s->mail_ok || s->accepted == 0) {
		s->state = MS_RSET;
		send_line(s, "RSET");
		return;
	}
	if (s->ext & EXT_CHUNKING)
		send_body(s);
	else {
		s->state = MS_DATA;
		send_line(s, "DATA");
	}
}

/* Is any of the message still in our buffers, or TLS's? */
static int
body_pending(struct mta_session *s)
{
	struct bufferevent *under;

	if (!s->body_done ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return 1;
	under = bufferevent_get_underlying(s->bev);
	return under != NULL &&
	    evbuffer_get_length(bufferevent_get_output(under)) > 0;
}

/*
 * The reply to the end of data decides every accepted recipient, if it
 * comes after the whole message has left our buffers.  A real server
 * cannot answer before it has read the last octet, and it cannot read
 * what we still hold, so an earlier answer is a protocol error, never a
 * false alarm.  (With TLS, our buffer may also hold a record of the TLS
 * layer's own, answering one of the server's in the same read: that
 * defers a message the server had, to be sent again, and loses none.)
 * Taking an early answer for delivery would delete the message, and its
 * spool file could become another message while BDAT still sends from
 * it.
 */
static void
final_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct job	*job = s->job;
	char		 rep[REPLY_TEXT_MAX + 8];
	size_t		 i;

	if (body_pending(s)) {
		mta_reply_format(r, rep, sizeof(rep));
		protocol_error(s, "the next hop answered before the message "
		    "was sent (%s)", rep);
		return;
	}
	for (i = 0; i < job->nrcpts; i++)
		if (job->rcpts[i].rcpt_ok && job->rcpts[i].result == 0)
			set_result(&job->rcpts[i], r);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	tx_done(s);
}

static void
handle_reply(struct mta_session *s, const struct mta_reply *r)
{
	switch (s->state) {
	case MS_GREETING:
		if (r->code != 220) {
			char why[REPLY_TEXT_MAX + 32];

			mta_reply_format(r, why, sizeof(why));
			send_line(s, "QUIT");
			hop_failed(s, "%s greeted with %s", s->job->relay, why);
			return;
		}
		send_ehlo(s);
		return;
	case MS_EHLO:
		if (r->code >= 500) {
			s->state = MS_HELO;
			send_line(s, "HELO %s", conf_of(s)->hostname);
			return;
		}
		/* FALLTHROUGH */
	case MS_HELO:
		if (r->code >= 300) {
			char why[REPLY_TEXT_MAX + 32];

			mta_reply_format(r, why, sizeof(why));
			hop_failed(s, "%s refused %s: %s", s->job->relay,
			    s->state == MS_EHLO ? "EHLO" : "HELO", why);
			return;
		}
		if ((s->ext & EXT_STARTTLS) && !s->tls && !s->no_tls &&
		    s->ssl_ctx != NULL) {
			s->state = MS_STARTTLS;
			send_line(s, "STARTTLS");
			return;
		}
		if (!s->tls && tls_required(cur_hop(s))) {
			send_line(s, "QUIT");
			hop_tls_failed(s, "%s does not offer STARTTLS",
			    s->job->relay);
			return;
		}
		if (!s->tls && cur_hop(s)->tls == HT_STS_TESTING)
			sts_testing_note(s, "no TLS");
		start_tx(s);
		return;
	case MS_STARTTLS:
		if (r->code == 220)
			start_tls(s);
		else if (tls_required(cur_hop(s))) {
			char why[REPLY_TEXT_MAX + 32];

			mta_reply_format(r, why, sizeof(why));
			send_line(s, "QUIT");
			hop_tls_failed(s, "%s refused STARTTLS: %s",
			    s->job->relay, why);
		} else
			start_tx(s);	/* offered but refused: plain text */
		return;
	case MS_TX:
		tx_reply(s, r);
		return;
	case MS_DATA:
		if (r->code < 400 && r->code != 354) {
			char rep[REPLY_TEXT_MAX + 8];

			/* Not a refusal, and no body sent: never delivered. */
			mta_reply_format(r, rep, sizeof(rep));
			protocol_error(s, "the next hop answered DATA with %s, "
			    "not 354", rep);
			return;
		}
		if (r->code != 354) {
			size_t i;

			for (i = 0; i < s->job->nrcpts; i++)
				if (s->job->rcpts[i].rcpt_ok)
					set_result(&s->job->rcpts[i], r);
			s->state = MS_RSET;
			send_line(s, "RSET");
			return;
		}
		send_body(s);
		return;
	case MS_BODY:
		final_reply(s, r);
		return;
	case MS_RSET:
		tx_done(s);
		return;
	case MS_QUIT:
		session_end(s);
		return;
	case MS_IDLE:
		/* A 421 while idle: the next hop is going away. */
		session_end(s);
		return;
	case MS_CONNECT:
	case MS_HANDSHAKE:
		break;
	}
	hop_failed(s, "unexpected reply");
}

/*
 * The next hop broke the protocol.  In a transaction, what is not decided
 * is deferred and we hang up at once: nothing more is sent, from the
 * spool file or otherwise.
 */
static void
protocol_error(struct mta_session *s, const char *fmt, ...)
{
	char	why[REPLY_TEXT_MAX + 128];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (s->state == MS_TX || s->state == MS_DATA || s->state == MS_BODY) {
		bufferevent_free(s->bev);
		s->bev = NULL;
		job_fail_all(s->job, DR_TEMPFAIL, "4.5.0", "protocol error: "
		    "%s", why);
		tx_finish(s, DEST_UP, NULL);
		session_end(s);
	} else if (s->job == NULL)
		session_end(s);
	else
		hop_failed(s, "%s", why);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct mta_session	*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct mta_reply	 r;
	int			 rv, bad = 0;

	s->in_cb++;
	while (!s->dead && s->bev == bev) {
		if ((rv = mta_reply_read(in, &s->reply)) == MR_BAD)
			bad = 1;
		if (rv == MR_BAD || rv == MR_MORE)
			break;
		if (s->state == MS_EHLO && s->reply.nlines > 1)
			ehlo_keyword(s, s->reply.line, s->reply.linelen);
		if (rv == MR_LINE)
			continue;
		r = s->reply;
		mta_reply_init(&s->reply);
		handle_reply(s, &r);
	}
	if (bad && !s->dead && s->bev == bev)
		protocol_error(s, "malformed reply");
	if (--s->in_cb == 0 && s->dead)
		free(s);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct mta_session *s = arg;

	(void)bev;
	if (s->state == MS_BODY && !s->body_done)
		(void)body_fill(s);	/* on failure the session is gone */
}

/* The connection went away or timed out: what does it mean now? */
static void
lost(struct mta_session *s, const char *why)
{
	char msg[640];

	switch (s->state) {
	case MS_CONNECT:
		hop_failed(s, "connect to %s: %s", s->job->relay, why);
		return;
	case MS_GREETING:
	case MS_EHLO:
	case MS_HELO:
	case MS_STARTTLS:
		hop_failed(s, "%s: %s", s->job->relay, why);
		return;
	case MS_HANDSHAKE:
		if (tls_required(cur_hop(s))) {
			hop_tls_failed(s, "TLS handshake with %s failed (%s)",
			    s->job->relay, why);
			return;
		}
		/* A failed handshake: the same hop again, in plain text. */
		log_info("relay=%s: TLS handshake failed (%s); trying again "
		    "without TLS", s->job->relay, why);
		if (cur_hop(s)->tls == HT_STS_TESTING)
			sts_testing_note(s, why);
		bufferevent_free(s->bev);
		s->bev = NULL;
		s->no_tls = 1;
		s->tls = 0;
		connect_hop(s);
		return;
	case MS_TX:
		if (s->reused && !s->mail_replied &&
		    s->job->fresh_retries == 0) {
			/* A reused connection closed under us: no penalty. */
			struct job *job = s->job;

			job->fresh_retries++;
			s->job = NULL;
			dest_requeue_front(s->d, s->dest, job);
			session_end(s);
			return;
		}
		/* FALLTHROUGH */
	case MS_DATA:
	case MS_BODY:
	case MS_RSET:
		snprintf(msg, sizeof(msg), "lost connection with %s while "
		    "sending the message: %s", s->job->relay, why);
		fail_rest(s->job, DR_TEMPFAIL, "4.4.2", msg);
		tx_finish(s, DEST_UP, NULL);
		session_end(s);
		return;
	case MS_IDLE:
	case MS_QUIT:
		session_end(s);
		return;
	}
}

/*
 * TLS is up: does the certificate prove what the hop asks?  Then the
 * session goes on, with the version and the method for the log.
 */
static void
handshake_done(struct mta_session *s)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(s->bev);
	const char	*how;
	char		 why[256];

	if (tls_verified(ssl, cur_hop(s), &how, why, sizeof(why)) == -1) {
		if (cur_hop(s)->tls != HT_STS_TESTING) {
			hop_tls_failed(s, "%s", why);
			return;
		}
		sts_testing_note(s, why);
	}
	s->tls = 1;
	strlcpy(s->tls_version, SSL_get_version(ssl), sizeof(s->tls_version));
	s->verified = how;
	strlcpy(s->job->tls, s->tls_version, sizeof(s->job->tls));
	s->job->verified = how;
	send_ehlo(s);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session	*s = arg;
	char			 why[128];
	unsigned long		 e;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == MS_HANDSHAKE) {
			handshake_done(s);
			return;
		}
		s->state = MS_GREETING;
		set_read_timeout(s, conf_of(s)->timeouts.command);
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		strlcpy(why, "timed out", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		strlcpy(why, "connection closed", sizeof(why));
	else if ((e = bufferevent_get_openssl_error(bev)) != 0)
		snprintf(why, sizeof(why), "TLS: %s",
		    ERR_reason_error_string(e));
	else
		snprintf(why, sizeof(why), "%s",
		    strerror(EVUTIL_SOCKET_ERROR()));
	lost(s, why);
}

/*
 * selfcheck: the attempts of the open-relay self-check (msg_selfcheck.h).
 *
 *   for each listener, for each attempt:
 *   bind the source address -> connect -> 220 -> EHLO (HELO if refused)
 *   -> MAIL -> RCPT: the result -> RSET -> QUIT
 *
 * The parent plans the run: the listeners, the source address it chose
 * outside every tenant's networks (bound here, so that smtpd sees a
 * stranger), the senders and recipients.  We only make the sessions and
 * say what each was answered.  Never DATA: even through an open relay
 * nothing could be delivered.  One session at a time, which is gentle
 * with the connection limits and rates the listeners also enforce.  A
 * reply may take the time the parent gives (the listener's greeting
 * delay more for the greeting); one that does not come, or is not SMTP,
 * ends the attempt as failed, with why.
 *
 * RELAYD_SELFCHECK_PORT (debug builds, faults.h) connects to that port
 * of each listener's address instead of the listener's own: a test's
 * permissive server there shows what an open relay looks like.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "child.h"
#include "deliverd.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "msg_selfcheck.h"
#include "mta_reply.h"

struct sc_target {
	struct netaddr		 addr;		/* with the port */
	struct netaddr		 source;
	uint32_t		 greeting;	/* its greeting_delay */
};

struct sc_attempt {
	char			 sender[SC_ADDR_MAX + 1];
	char			 rcpt[SC_ADDR_MAX + 1];
};

enum sc_state {
	SCS_CONNECT,
	SCS_GREETING,
	SCS_EHLO,
	SCS_HELO,
	SCS_MAIL,
	SCS_RCPT,
	SCS_RSET,
	SCS_QUIT
};

struct sc_run {
	struct deliverd		*d;
	uint64_t		 id;
	char			 helo[HOST_MAX];
	uint32_t		 timeout;	/* seconds per reply */
	struct sc_target	*targets;
	size_t			 ntargets;
	struct sc_attempt	*attempts;
	size_t			 nattempts;
	int			 go;
	size_t			 t, a;		/* this attempt */
	struct bufferevent	*bev;
	enum sc_state		 state;
	int			 reported;	/* this attempt's result */
	struct mta_reply	 reply;
	struct event		*next;		/* starts the next */
};

static void	sc_read(struct bufferevent *, void *);
static void	sc_event(struct bufferevent *, short, void *);

static void
sc_free(struct sc_run *run)
{
	if (run->bev != NULL)
		bufferevent_free(run->bev);
	if (run->next != NULL)
		event_free(run->next);
	free(run->targets);
	free(run->attempts);
	free(run);
}

static void
sc_report(struct sc_run *run, enum sc_stage stage, int code,
    const char *text)
{
	struct mw w;

	run->reported = 1;
	mw_init(&w);
	mw_u32(&w, (uint32_t)run->t);
	mw_u32(&w, (uint32_t)run->a);
	mw_u8(&w, (uint8_t)stage);
	mw_u32(&w, (uint32_t)code);
	mw_str(&w, text);
	child_send(run->d->child, PROC_PARENT, M_SC_RESULT, run->id, -1,
	    w.buf, w.len);
}

/* What a session that failed here was waiting for. */
static enum sc_stage
sc_awaited(enum sc_state s)
{
	switch (s) {
	case SCS_CONNECT:
		return SC_STAGE_CONNECT;
	case SCS_GREETING:
		return SC_STAGE_GREETING;
	case SCS_EHLO:
	case SCS_HELO:
		return SC_STAGE_HELO;
	case SCS_MAIL:
		return SC_STAGE_MAIL;
	default:
		return SC_STAGE_RCPT;
	}
}

/* This attempt is over: the next one starts from the event loop. */
static void
sc_end(struct sc_run *run, const char *why)
{
	struct timeval tv = { 0, 0 };

	if (!run->reported)
		sc_report(run, sc_awaited(run->state), 0, why ? why : "closed");
	if (run->bev != NULL)
		bufferevent_free(run->bev);
	run->bev = NULL;
	if (++run->a == run->nattempts) {
		run->a = 0;
		run->t++;
	}
	evtimer_add(run->next, &tv);
}

static void __attribute__((format(printf, 3, 4)))
sc_send(struct sc_run *run, enum sc_state next, const char *fmt, ...)
{
	struct timeval	 tv = { run->timeout, 0 };
	va_list		 ap;

	run->state = next;
	/* Checked when the self-check came (sc_arg_ok), and again here. */
	va_start(ap, fmt);
	smtp_cmd_vwrite(bufferevent_get_output(run->bev), "self-check: ", fmt,
	    ap);
	va_end(ap);
	bufferevent_set_timeouts(run->bev, &tv, &tv);
}

static void
sc_reply(struct sc_run *run, const struct mta_reply *r)
{
	struct sc_attempt	*at = &run->attempts[run->a];
	char			 text[REPLY_TEXT_MAX + 8];
	int			 ok = r->code >= 200 && r->code < 300;

	mta_reply_format(r, text, sizeof(text));
	switch (run->state) {
	case SCS_GREETING:
		if (r->code == 220) {
			sc_send(run, SCS_EHLO, "EHLO %s", run->helo);
			return;
		}
		sc_report(run, SC_STAGE_GREETING, r->code, text);
		break;
	case SCS_EHLO:
		if (!ok) {
			sc_send(run, SCS_HELO, "HELO %s", run->helo);
			return;
		}
		/* FALLTHROUGH */
	case SCS_HELO:
		if (ok) {
			sc_send(run, SCS_MAIL, "MAIL FROM:<%s>", at->sender);
			return;
		}
		sc_report(run, SC_STAGE_HELO, r->code, text);
		break;
	case SCS_MAIL:
		if (ok) {
			sc_send(run, SCS_RCPT, "RCPT TO:<%s>", at->rcpt);
			return;
		}
		sc_report(run, SC_STAGE_MAIL, r->code, text);
		break;
	case SCS_RCPT:
		sc_report(run, SC_STAGE_RCPT, r->code, text);
		sc_send(run, SCS_RSET, "RSET");
		return;
	case SCS_RSET:
		break;
	default:
		sc_end(run, NULL);
		return;
	}
	sc_send(run, SCS_QUIT, "QUIT");
}

static void
sc_read(struct bufferevent *bev, void *arg)
{
	struct sc_run		*run = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 eol;
	struct mta_reply	 r;
	char			 line[REPLY_LINE_MAX + 2];
	size_t			 len, eol_len;
	int			 rv;

	while (run->bev == bev) {
		eol = evbuffer_search_eol(in, NULL, &eol_len,
		    EVBUFFER_EOL_CRLF);
		if (eol.pos == -1) {
			if (evbuffer_get_length(in) > REPLY_LINE_MAX)
				sc_end(run, "a reply line too long");
			return;
		}
		if ((len = (size_t)eol.pos) > REPLY_LINE_MAX) {
			sc_end(run, "a reply line too long");
			return;
		}
		evbuffer_remove(in, line, len + eol_len);
		line[len] = '\0';
		if ((rv = mta_reply_line(&run->reply, line, len)) == -1) {
			sc_end(run, "a malformed reply");
			return;
		}
		if (rv == 0)
			continue;
		r = run->reply;
		mta_reply_init(&run->reply);
		sc_reply(run, &r);
	}
}

static void
sc_event(struct bufferevent *bev, short what, void *arg)
{
	struct sc_run	*run = arg;
	struct timeval	 tv = { run->timeout, 0 };
	char		 why[128];
	int		 on = 1;

	if (what & BEV_EVENT_CONNECTED) {
		/* The greeting may wait for the listener's greeting_delay. */
		tv.tv_sec += run->targets[run->t].greeting;
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &on, sizeof(on));
		run->state = SCS_GREETING;
		bufferevent_set_timeouts(bev, &tv, &tv);
		bufferevent_enable(bev, EV_READ | EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		strlcpy(why, "no answer: timed out", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		strlcpy(why, "the connection was closed", sizeof(why));
	else
		snprintf(why, sizeof(why), "%s%s", run->state == SCS_CONNECT ?
		    "connect: " : "", strerror(EVUTIL_SOCKET_ERROR()));
	sc_end(run, why);
}

/* A session from the source address to the listener. */
static void
sc_start(struct sc_run *run)
{
	struct sc_target	*t = &run->targets[run->t];
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { run->timeout, 0 };
	socklen_t		 sl;
	char			 why[128], a[ADDRSTR_MAX];
	int			 fd;

	run->state = SCS_CONNECT;
	run->reported = 0;
	mta_reply_init(&run->reply);
	if ((fd = socket(t->source.af, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(why, sizeof(why), "socket: %s", strerror(errno));
		sc_end(run, why);
		return;
	}
	netaddr_to_sockaddr(&t->source, &ss, &sl);
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1) {
		netaddr_format(&t->source, a, sizeof(a));
		snprintf(why, sizeof(why), "bind %s: %s", a, strerror(errno));
		close(fd);
		sc_end(run, why);
		return;
	}
	if ((run->bev = bufferevent_socket_new(run->d->child->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("self-check: bufferevent_socket_new");
	bufferevent_setcb(run->bev, sc_read, NULL, sc_event, run);
	bufferevent_set_timeouts(run->bev, &tv, &tv);
	netaddr_to_sockaddr(&t->addr, &ss, &sl);
	if (bufferevent_socket_connect(run->bev, (struct sockaddr *)&ss,
	    (int)sl) == -1) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		sc_end(run, why);
	}
}

/* The next attempt, or the end of the run. */
static void
sc_next(int fd, short ev, void *arg)
{
	struct sc_run	*run = arg;
	struct deliverd	*d = run->d;

	(void)fd;
	(void)ev;
	if (run->t == run->ntargets) {
		child_send(d->child, PROC_PARENT, M_SC_DONE, run->id, -1, NULL,
		    0);
		log_debug("self-check %llu: done", (unsigned long long)run->id);
		d->selfcheck = NULL;
		sc_free(run);
		return;
	}
	sc_start(run);
}

/* Printable ASCII only: it goes into an SMTP command. */
static int
sc_arg_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ||
		    *s == '<' || *s == '>')
			return 0;
	return 1;
}

static void
sc_begin(struct deliverd *d, struct imsg *imsg)
{
	struct sc_run	*run;
	struct mr	 r;

	if (d->selfcheck != NULL)
		child_peer_broken(d->child, PROC_PARENT, imsg, "a self-check "
		    "while one runs");
	if ((run = calloc(1, sizeof(*run))) == NULL)
		fatal("self-check");
	run->d = d;
	run->id = imsg->hdr.peerid;
	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, run->helo, sizeof(run->helo));
	run->timeout = mr_u32(&r);
	if (mr_end(&r) == -1 || !sc_arg_ok(run->helo) ||
	    strchr(run->helo, ' ') != NULL || run->timeout == 0 ||
	    run->timeout > 3600)
		child_peer_broken(d->child, PROC_PARENT, imsg, "self-check");
	if ((run->next = evtimer_new(d->child->base, sc_next, run)) == NULL)
		fatalx("self-check: evtimer_new");
	d->selfcheck = run;
}

static void
sc_target(struct deliverd *d, struct sc_run *run, struct imsg *imsg)
{
	struct sc_target	*t;
	struct mr		 r;
	char			 host[HOST_MAX], src[HOST_MAX];
	uint32_t		 port;

	if (run->ntargets == SC_TARGETS_MAX || (t = reallocarray(run->targets,
	    run->ntargets + 1, sizeof(*t))) == NULL)
		child_peer_broken(d->child, PROC_PARENT, imsg, "too many "
		    "self-check targets");
	run->targets = t;
	t = &t[run->ntargets];
	memset(t, 0, sizeof(*t));
	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, host, sizeof(host));
	port = mr_u32(&r);
	mr_str(&r, src, sizeof(src));
	t->greeting = mr_u32(&r);
	if (mr_end(&r) == -1 || netaddr_parse(host, &t->addr) == -1 ||
	    netaddr_parse(src, &t->source) == -1 ||
	    t->addr.af != t->source.af || port == 0 || port > 65535 ||
	    t->greeting > 3600)
		child_peer_broken(d->child, PROC_PARENT, imsg, "self-check "
		    "target");
	t->addr.port = fault_port("RELAYD_SELFCHECK_PORT", (uint16_t)port);
	run->ntargets++;
}

static void
sc_attempt(struct deliverd *d, struct sc_run *run, struct imsg *imsg)
{
	struct sc_attempt	*at;
	struct mr		 r;

	if (run->nattempts == SC_ATTEMPTS_MAX || (at = reallocarray(
	    run->attempts, run->nattempts + 1, sizeof(*at))) == NULL)
		child_peer_broken(d->child, PROC_PARENT, imsg, "too many "
		    "self-check attempts");
	run->attempts = at;
	at = &at[run->nattempts];
	mr_init(&r, imsg->data, imsg->datalen);
	mr_str(&r, at->sender, sizeof(at->sender));
	mr_str(&r, at->rcpt, sizeof(at->rcpt));
	/* The null sender is the one that may be empty. */
	if (mr_end(&r) == -1 || (at->sender[0] != '\0' &&
	    !sc_arg_ok(at->sender)) || !sc_arg_ok(at->rcpt))
		child_peer_broken(d->child, PROC_PARENT, imsg, "self-check "
		    "attempt");
	run->nattempts++;
}

/* The parent's messages of the self-check (msg_selfcheck.h). */
void
selfcheck_dispatch(struct deliverd *d, struct imsg *imsg)
{
	struct sc_run	*run = d->selfcheck;
	struct timeval	 tv = { 0, 0 };

	if (imsg->hdr.type == M_SC_BEGIN) {
		sc_begin(d, imsg);
		return;
	}
	if (imsg->hdr.type == M_SC_CANCEL) {
		if (imsg->datalen != 0)
			child_peer_broken(d->child, PROC_PARENT, imsg,
			    "self-check cancel");
		if (run != NULL && run->id == imsg->hdr.peerid) {
			log_warnx("self-check %llu cancelled by the parent",
			    (unsigned long long)run->id);
			d->selfcheck = NULL;
			sc_free(run);
		}
		return;
	}
	if (run == NULL || run->id != imsg->hdr.peerid || run->go)
		child_peer_broken(d->child, PROC_PARENT, imsg, "not in a "
		    "self-check being planned");
	switch (imsg->hdr.type) {
	case M_SC_TARGET:
		sc_target(d, run, imsg);
		break;
	case M_SC_ATTEMPT:
		sc_attempt(d, run, imsg);
		break;
	case M_SC_GO:
		if (imsg->datalen != 0 || run->ntargets == 0 ||
		    run->nattempts == 0)
			child_peer_broken(d->child, PROC_PARENT, imsg,
			    "self-check go");
		run->go = 1;
		evtimer_add(run->next, &tv);
		break;
	default:
		child_peer_broken(d->child, PROC_PARENT, imsg, "unknown type");
	}
}

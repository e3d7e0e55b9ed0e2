/*
 * smtp_session: one client connection.  Reading, writing, timeouts,
 * limits and the order in which input is processed.
 *
 * Input is processed strictly in order and never while a reply from
 * queued is pending, so a pipelined command (or the next transaction
 * right after the end-of-data dot) waits in the input buffer until its
 * turn.  Replies are flushed by the event loop once the buffered input is
 * used up, as RFC 2920 section 3 asks.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "child.h"
#include "faults.h"
#include "log.h"
#include "smtpd.h"

static void	session_free(struct session *);
static void	session_read_cb(struct bufferevent *, void *);
static void	session_write_cb(struct bufferevent *, void *);
static void	session_event_cb(struct bufferevent *, short, void *);

int
session_cmp(struct session *a, struct session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(session_tree, session, entry, session_cmp)

struct session *
session_find(struct smtpd *sd, uint64_t id)
{
	struct session find;

	find.id = id;
	return RB_FIND(session_tree, &sd->sessions, &find);
}

static void
set_timeouts(struct session *s)
{
	const struct conf	*conf = s->sd->conf;
	struct timeval		 rd = { 0, 0 }, wr = { 0, 0 };

	rd.tv_sec = (s->state == SS_DATA || s->state == SS_BDAT ||
	    s->state == SS_SKIP) ?
	    conf->timeouts.data : conf->timeouts.command;
	wr.tv_sec = conf->timeouts.command;
	bufferevent_set_timeouts(s->bev, &rd, &wr);
}

/* Input the client has sent that we have not processed yet. */
int
session_pending_input(struct session *s)
{
	int n = 0;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0 ||
	    smtp_tls_pending(s))
		return 1;
	if (ioctl(bufferevent_getfd(s->bev), FIONREAD, &n) == -1)
		return 0;
	return n > 0;
}

/* A reply's line, as smtp_reply.c writes it, to the output. */
static void
reply_add(struct session *s, const struct smtp_reply *r)
{
	char	line[REPLY_LINE_MAX];
	int	n;

	/* Cannot fail: every reply fits a line (smtp_reply.c). */
	if ((n = reply_line(r, line, sizeof(line))) == -1)
		fatalx("a %d reply does not fit a line", r->code);
	evbuffer_add(bufferevent_get_output(s->bev), line, (size_t)n);
}

/*
 * Every reply to a command goes through here.  A client that did not
 * negotiate PIPELINING and has sent more while this reply was pending is
 * noted: what it sent that way will not be accepted.
 */
static void
reply_write(struct session *s, const struct smtp_reply *r, int counted)
{
	reply_add(s, r);
	if (s->helo_kind != 'E' && s->state != SS_CLOSING &&
	    session_pending_input(s))
		s->unsynced = 1;
	if (counted && r->code >= 400 && r->code != 421 &&
	    ++s->errors >= SMTP_MAX_ERRORS && s->state != SS_CLOSING)
		session_close(s, R_TOO_MANY_ERRORS);
}

/* A fixed reply (smtp_reply.h). */
void
session_reply_id(struct session *s, enum reply_id id)
{
	struct smtp_reply r;

	reply_set(&r, id);
	reply_write(s, &r, 1);
}

void
session_reply_r(struct session *s, const struct smtp_reply *r)
{
	reply_write(s, r, 1);
}

/* A refusal that is the client's due, not its error (RCPT overshoot). */
void
session_reply_uncounted(struct session *s, const struct smtp_reply *r)
{
	reply_write(s, r, 0);
}

/* A reply of several lines, framed already (EHLO's). */
void
session_reply_lines(struct session *s, const char *lines, size_t len)
{
	evbuffer_add(bufferevent_get_output(s->bev), lines, len);
}

/* Say the last word and close once it is written. */
void
session_close(struct session *s, enum reply_id id)
{
	struct smtp_reply r;

	reply_set(&r, id);
	session_close_r(s, &r);
}

/* The same with a reply from elsewhere (policyd's at connect). */
void
session_close_r(struct session *s, const struct smtp_reply *in)
{
	struct smtp_reply r;

	if (s->state == SS_CLOSING)
		return;
	s->state = SS_CLOSING;
	reply_closing_r(&r, in, s->sd->conf->hostname);
	reply_add(s, &r);
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_enable(s->bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_free(s);
}

static void
greet(struct session *s)
{
	struct smtp_reply r;

	s->state = SS_COMMAND;
	reply_greeting(&r, s->sd->conf->hostname);
	reply_add(s, &r);
	set_timeouts(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* The client waited: greet it, unless policyd's verdict is still due. */
static void
greeting_delay_done(int fd, short ev, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)ev;
	if (s->state != SS_GREETING)
		return;
	s->delay_done = 1;
	policy_pregreet(s, 1);
	if (s->p_wait == 0)
		greet(s);
}

/*
 * policyd's verdict at connect let the client in: greet it now if it
 * passed the pregreet test lately, or there is no delay, or the delay
 * is over; else when the delay ends.
 */
void
session_policy_greet(struct session *s, int pregreet_pass)
{
	if (s->state != SS_GREETING)
		return;
	if (pregreet_pass || s->delay_done ||
	    s->lst.greeting_delay == 0) {
		if (s->timer != NULL)
			evtimer_del(s->timer);
		greet(s);
	}
}

/* The address the client connected to: postmaster@[it] is ours. */
static void
local_address(int fd, struct netaddr *na)
{
	struct sockaddr_storage	ss;
	socklen_t		sl = sizeof(ss);

	memset(na, 0, sizeof(*na));
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    netaddr_from_sockaddr(na, (struct sockaddr *)&ss) == -1)
		memset(na, 0, sizeof(*na));
}

/* The session's bufferevent: the plain one, or TLS's (smtp_tls.c). */
void
session_set_bev(struct session *s, struct bufferevent *bev)
{
	s->bev = bev;
	bufferevent_setcb(bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_setwatermark(bev, EV_READ, 0, SMTP_IN_HIGH);
}

/* The greeting, now or after the listener's greeting_delay. */
static void
session_begin(struct session *s, uint32_t delay)
{
	struct timeval	tv;
	int		wait;

	if ((wait = policy_connect(s)) == -1) {
		session_close(s, R_NO_MEMORY);
		return;
	}
	if (delay == 0 && !wait) {
		greet(s);
		return;
	}
	/* Listen while we wait: a client that talks first is a bot. */
	s->state = SS_GREETING;
	tv.tv_sec = s->sd->conf->timeouts.command;
	tv.tv_usec = 0;
	if (delay > 0) {
		if ((s->timer = evtimer_new(s->sd->child->base,
		    greeting_delay_done, s)) == NULL) {
			session_close(s, R_NO_MEMORY);
			return;
		}
		tv.tv_sec = delay;
		evtimer_add(s->timer, &tv);
		tv.tv_sec += s->sd->conf->timeouts.command;
	}
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ);
}

void
session_accept(struct listener *l, int fd, struct sockaddr *sa, int salen)
{
	struct smtpd	*sd = l->sd;
	struct session	*s;
	struct bufferevent *bev;
	int		 on = 1, over_total, counted;

	(void)salen;
	fault_forbidden("smtpd-connect");
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("session");
		close(fd);
		return;
	}
	s->sd = sd;
	s->lst.mode = l->lc.mode;
	s->lst.greeting_delay = l->lc.greeting_delay;
	s->lst.pregreet_pass = l->lc.pregreet_pass;
	s->id = ++sd->next_id;
	if (l->lc.mode < 3)
		sd->sessions_total[l->lc.mode]++;
	if (netaddr_from_sockaddr(&s->client, sa) == -1) {
		close(fd);
		free(s);
		return;
	}
	netaddr_format(&s->client, s->addr, sizeof(s->addr));
	s->client_key = netaddr_client_key(&s->client);
	local_address(fd, &s->local);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if ((bev = bufferevent_socket_new(sd->child->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		free(s);
		return;
	}
	session_set_bev(s, bev);
	RB_INSERT(session_tree, &sd->sessions, s);
	sd->nsessions++;

	over_total = sd->nsessions > sd->conf->limits.max_connections;
	counted = !over_total && limits_client_add(sd, s->client_key) == 0;
	s->counted = counted;
	if (over_total || !counted) {
		log_info("refused %s: too many connections%s", s->addr,
		    over_total ? "" : " from this client");
		session_close(s, over_total ? R_TOO_MANY_CONNECTIONS :
		    R_TOO_MANY_FROM_CLIENT);
		return;
	}
	/* Logged once per episode (smtp_fds.c), not per client. */
	if (!fds_room(sd)) {
		session_close(s, R_TOO_BUSY);
		return;
	}
	s->client_tenant = relay_client_tenant(sd->relay, &s->client);
	log_debug("connect from [%s]:%u session %llu", s->addr,
	    s->client.port, (unsigned long long)s->id);
	rdns_start(s);
	/* smtps: the greeting comes once TLS is up (session_event_cb). */
	if (l->lc.mode == LISTEN_SMTPS) {
		smtp_tls_implicit(s, l->lc.greeting_delay);
		return;
	}
	session_begin(s, l->lc.greeting_delay);
}

void
session_tx_end(struct session *s)
{
	struct transaction *tx = s->tx;
	size_t i;

	if (tx == NULL)
		return;
	milter_tx_end(s);
	tx_file_release(s);
	if (tx->fd != -1)
		close(tx->fd);
	sink_release(&tx->sink);
	for (i = 0; i < tx->nrcpts; i++) {
		free(tx->rcpts[i].addr);
		free(tx->rcpts[i].orcpt);
		free(tx->rcpts[i].domain);
	}
	free(tx->rcpts);
	free(tx->sender);
	free(tx->spf_field);
	free(tx);
	s->tx = NULL;
}

static void
session_free(struct session *s)
{
	struct smtpd *sd = s->sd;

	session_tx_end(s);
	policy_end(s);
	smtp_auth_end(s);
	/* queued's answer will find no one: count its file till then. */
	if (s->file_out)
		sd->fds.orphans++;
	if (s->counted)
		limits_client_del(sd, s->client_key);
	RB_REMOVE(session_tree, &sd->sessions, s);
	sd->nsessions--;
	if (s->timer != NULL)
		event_free(s->timer);
	smtp_tls_free(s);
	bufferevent_free(s->bev);
	free(s->helo);
	free(s->rdns);
	free(s->skip_reply);
	free(s);
	fds_released(sd);
}

void
sessions_close_all(struct smtpd *sd)
{
	struct session *s, *next;

	RB_FOREACH_SAFE(s, session_tree, &sd->sessions, next)
		session_free(s);
}

/* An over-long line that is an AUTH command: RFC 4954's 500 5.5.6. */
static int
auth_line(struct evbuffer *in)
{
	char verb[5];

	return evbuffer_copyout(in, verb, sizeof(verb)) == sizeof(verb) &&
	    strncasecmp(verb, "AUTH ", sizeof(verb)) == 0;
}

/* A command line, up to its LF; long lines are answered and skipped. */
static int
line_step(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr	 eol;
	char			 line[SMTP_LINE_MAX + 2];
	size_t			 len, eol_len;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		len = evbuffer_get_length(in);
		if (len > SMTP_LINE_MAX) {
			if (!s->discarding)
				session_reply_id(s, auth_line(in) ?
				    R_AUTH_TOO_LONG : R_LINE_TOO_LONG);
			s->discarding = 1;
			evbuffer_drain(in, len);
		}
		return 0;
	}
	len = (size_t)eol.pos;
	if (s->discarding || len > SMTP_LINE_MAX) {
		if (!s->discarding)
			session_reply_id(s, auth_line(in) ? R_AUTH_TOO_LONG :
			    R_LINE_TOO_LONG);
		evbuffer_drain(in, len + eol_len);
		s->discarding = 0;
		return 1;
	}
	evbuffer_remove(in, line, len + eol_len);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	command_line(s, line, len);
	if (len > 5 && strncasecmp(line, "AUTH ", 5) == 0)
		explicit_bzero(line, len);	/* an initial response */
	return 1;
}

static void
data_emit(void *arg, const uint8_t *p, size_t n)
{
	sink_feed(arg, p, n);
}

/* DATA content: feed the dot parser straight from the input chunks. */
static int
data_step(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct transaction	*tx = s->tx;
	struct evbuffer_iovec	 v[16];
	size_t			 used = 0, u;
	int			 i, n;

	n = evbuffer_peek(in, -1, NULL, v, 16);
	if (n <= 0)
		return 0;
	for (i = 0; i < n && i < 16 && !dot_done(&tx->dot); i++) {
		u = dot_feed(&tx->dot, v[i].iov_base, v[i].iov_len,
		    data_emit, &tx->sink);
		used += u;
	}
	evbuffer_drain(in, used);
	if (dot_done(&tx->dot)) {
		s->state = SS_COMMAND;
		set_timeouts(s);
		command_data_done(s);
		return 1;
	}
	return used > 0;
}

/* A BDAT chunk: exactly chunk_left octets, however they look. */
static int
bdat_step(struct session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct transaction	*tx = s->tx;
	struct evbuffer_iovec	 v[16];
	size_t			 want, take, used = 0;
	int			 i, n;

	if (tx->chunk_left > 0) {
		want = evbuffer_get_length(in);
		if (want > tx->chunk_left)
			want = (size_t)tx->chunk_left;
		if (want == 0)
			return 0;
		n = evbuffer_peek(in, (ev_ssize_t)want, NULL, v, 16);
		for (i = 0; i < n && i < 16 && used < want; i++) {
			take = v[i].iov_len;
			if (take > want - used)
				take = want - used;
			if (!tx->chunk_skip)
				sink_feed(&tx->sink, v[i].iov_base, take);
			used += take;
		}
		evbuffer_drain(in, used);
		tx->chunk_left -= used;
	}
	if (tx->chunk_left > 0)
		return used > 0;
	s->state = SS_COMMAND;
	set_timeouts(s);
	command_chunk_done(s);
	return 1;
}

/* A refused chunk: drop its octets, then give the reply. */
static int
skip_step(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 take = evbuffer_get_length(in);

	if (take > s->skip_left)
		take = (size_t)s->skip_left;
	evbuffer_drain(in, take);
	s->skip_left -= take;
	if (s->skip_left > 0)
		return take > 0;
	s->state = SS_COMMAND;
	set_timeouts(s);
	command_skip_done(s);
	return 1;
}

/* Work through buffered input until it runs out or we must wait. */
static void
session_process(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	int progress = 1;

	while (progress && !s->waiting && s->state != SS_CLOSING) {
		if (evbuffer_get_length(out) > SMTP_OUT_HIGH) {
			/* The client sends but does not read: wait for it. */
			s->out_paused = 1;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		switch (s->state) {
		case SS_DATA:
			progress = data_step(s);
			break;
		case SS_BDAT:
			progress = bdat_step(s);
			break;
		case SS_SKIP:
			progress = skip_step(s);
			break;
		case SS_COMMAND:
			progress = line_step(s);
			break;
		case SS_AUTH:
			progress = smtp_auth_step(s);
			break;
		default:
			progress = 0;
			break;
		}
	}
}

void
session_wait(struct session *s)
{
	s->waiting = 1;
	bufferevent_disable(s->bev, EV_READ);
}

/* queued answered: carry on with what the client already sent. */
void
session_resume(struct session *s)
{
	s->waiting = 0;
	if (s->state == SS_CLOSING)
		return;
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->state == SS_GREETING) {
		log_info("early talker [%s]: input before the greeting",
		    s->addr);
		if (s->lst.greeting_delay > 0)
			policy_pregreet(s, 0);
		session_close(s, R_EARLY_TALKER);
		return;
	}
	session_process(s);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (s->state == SS_CLOSING) {
		session_free(s);
		return;
	}
	/* The 220 to STARTTLS is out: the handshake begins. */
	if (s->state == SS_STARTTLS) {
		smtp_tls_start(s);
		return;
	}
	if (s->out_paused) {
		s->out_paused = 0;
		if (!s->waiting)
			bufferevent_enable(s->bev, EV_READ);
		session_process(s);
	}
}

static const char *
state_name(const struct session *s)
{
	if (s->state == SS_DATA || s->state == SS_BDAT ||
	    s->state == SS_SKIP)
		return "data";
	if (s->state == SS_STARTTLS || s->state == SS_HANDSHAKE)
		return "TLS handshake";
	if (s->tx != NULL)
		return "transaction";
	return "command";
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;
	uint32_t	 delay;

	(void)bev;
	if (s->state == SS_CLOSING) {
		session_free(s);
		return;
	}
	if (s->state == SS_HANDSHAKE) {
		if (!(what & BEV_EVENT_CONNECTED)) {
			smtp_tls_failed(s, what);
			session_free(s);
		} else if (smtp_tls_established(s, &delay))
			session_begin(s, delay);
		else {
			s->state = SS_COMMAND;
			set_timeouts(s);
			bufferevent_enable(s->bev, EV_READ | EV_WRITE);
		}
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		log_info("timeout from [%s] in %s state", s->addr,
		    state_name(s));
		session_close(s, R_TIMEOUT);
		return;
	}
	if (what & BEV_EVENT_EOF)
		log_debug("disconnect from [%s] in %s state", s->addr,
		    state_name(s));
	else if (what & BEV_EVENT_ERROR)
		log_debug("lost connection from [%s] in %s state: %s", s->addr,
		    state_name(s), strerror(EVUTIL_SOCKET_ERROR()));
	session_free(s);
}

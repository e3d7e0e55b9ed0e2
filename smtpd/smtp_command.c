/*
 * smtp_command: the commands of RFC 5321 and its extensions, each with
 * its sequence rules and exact reply codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "log.h"
#include "smtpd.h"

static void	tx_fail(struct session *, const struct smtp_reply *);

static void
cmd_helo(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	char		 name[HELO_MAX + 1];
	struct evbuffer	*out;
	const struct conf *conf = s->sd->conf;

	if (smtp_parse_helo(arg, len, name, sizeof(name)) == -1) {
		session_reply(s, 501, "5.5.4", "Syntax: %s hostname",
		    v == V_EHLO ? "EHLO" : "HELO");
		return;
	}
	/* RFC 5321 4.1.4: a new EHLO resets the state, like RSET. */
	session_tx_end(s);
	free(s->helo);
	if ((s->helo = strdup(name)) == NULL) {
		session_close(s, 421, "4.3.0", "Error: out of memory");
		return;
	}
	if (v == V_HELO) {
		s->helo_kind = 'H';
		session_reply(s, 250, NULL, "%s", conf->hostname);
		return;
	}
	s->helo_kind = 'E';
	out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "250-%s\r\n250-PIPELINING\r\n"
	    "250-SIZE %llu\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-SMTPUTF8\r\n250-CHUNKING\r\n", conf->hostname,
	    (unsigned long long)conf->limits.max_message_size);
	session_reply(s, 250, NULL, "DSN");
}

static int
need_helo(struct session *s)
{
	if (s->helo_kind != 0)
		return 0;
	session_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
	return -1;
}

/* Would this message fit above limits.min_free_space? */
static int
space_ok(const struct smtpd *sd, uint64_t size)
{
	uint64_t floor = sd->conf->limits.min_free_space;

	if (sd->free_space == UINT64_MAX)
		return 1;
	return sd->free_space > floor && size <= sd->free_space - floor;
}

static void
cmd_mail(struct session *s, const char *arg, size_t len)
{
	struct transaction	*tx;
	struct mailaddr		 ma;
	struct mail_params	 mp;
	struct smtp_reply	 err;
	const struct conf	*conf = s->sd->conf;

	if (need_helo(s) == -1)
		return;
	if (s->tx != NULL) {
		session_reply(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (smtp_parse_mail(arg, len, &ma, &mp, &err) == -1) {
		session_reply_r(s, &err);
		return;
	}
	if (s->helo_kind != 'E' && (mp.has_size || mp.body || mp.smtputf8 ||
	    mp.ret || mp.envid[0])) {
		session_reply(s, 555, "5.5.4", "Error: parameters need EHLO");
		return;
	}
	if (mp.has_size && mp.size > conf->limits.max_message_size) {
		session_reply(s, 552, "5.3.4", "Message size exceeds fixed "
		    "limit");
		return;
	}
	if (!space_ok(s->sd, mp.has_size ? mp.size : 0)) {
		log_warnx("refused mail from [%s]: spool below min_free_space",
		    s->addr);
		session_reply(s, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	if (s->sd->store_full) {
		log_warnx("refused mail from [%s]: the queue store is full",
		    s->addr);
		session_reply(s, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	if ((tx = calloc(1, sizeof(*tx))) == NULL ||
	    (tx->sender = malloc(MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX +
	    2)) == NULL) {
		free(tx);
		session_close(s, 421, "4.3.0", "Error: out of memory");
		return;
	}
	mailaddr_format(&ma, tx->sender, MAILADDR_LOCAL_MAX +
	    MAILADDR_DOMAIN_MAX + 2);
	tx->mp = mp;
	tx->fd = -1;
	sink_init(&tx->sink, -1, conf->limits.max_message_size);
	s->tx = tx;
	session_reply(s, 250, "2.1.0", "Ok");
}

static void
reject_log(struct session *s, const char *what, const struct smtp_reply *r,
    const char *to)
{
	char	from[600], rcpt[600];
	int	on = s->sd->conf->log.addresses;

	log_info("reject %s from [%s]: %d %s %s;%s%s helo=%s", what, s->addr,
	    r->code, r->enh, r->text, log_addr(from, sizeof(from), on, "from",
	    s->tx ? s->tx->sender : ""), log_addr(rcpt, sizeof(rcpt), on,
	    "to", to), s->helo ? s->helo : "");
}

static int
add_rcpt(struct session *s, const struct relay_verdict *v,
    const struct rcpt_params *rp)
{
	struct transaction	*tx = s->tx;
	struct rcpt		*r;

	r = reallocarray(tx->rcpts, tx->nrcpts + 1, sizeof(*tx->rcpts));
	if (r == NULL)
		return -1;
	tx->rcpts = r;
	r = &tx->rcpts[tx->nrcpts];
	memset(r, 0, sizeof(*r));
	r->addr = strdup(v->addr);
	r->domain = strdup(v->domain);
	r->orcpt = rp->orcpt[0] ? strdup(rp->orcpt) : NULL;
	if (r->addr == NULL || r->domain == NULL ||
	    (rp->orcpt[0] && r->orcpt == NULL)) {
		free(r->addr);
		free(r->domain);
		free(r->orcpt);
		return -1;
	}
	r->notify = rp->notify;
	r->dir = (uint8_t)v->dir;
	r->route = (uint8_t)v->route;
	if (v->tenant != NULL)
		strlcpy(r->tenant, v->tenant->name, sizeof(r->tenant));
	tx->nrcpts++;
	return 0;
}

/* Does the message fit under its tenant's spool_max, as far as known? */
static int
tenant_has_room(struct session *s, const char *tenant)
{
	uint64_t room = queue_tenant_room(s->sd, tenant);

	if (room == UINT64_MAX)
		return 1;
	return room > 0 && (!s->tx->mp.has_size || s->tx->mp.size <= room);
}

static void
cmd_rcpt(struct session *s, const char *arg, size_t len)
{
	struct transaction	*tx = s->tx;
	struct mailaddr		 ma;
	struct rcpt_params	 rp;
	struct relay_verdict	 v;
	struct smtp_reply	 err;
	int			 bare;
	char			 to[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];

	if (need_helo(s) == -1)
		return;
	if (tx == NULL) {
		session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (tx->mode != 0) {
		session_reply(s, 503, "5.5.1", "Error: RCPT after message "
		    "data started");
		return;
	}
	if (smtp_parse_rcpt(arg, len, tx->mp.smtputf8, &ma, &bare, &rp,
	    &err) == -1) {
		session_reply_r(s, &err);
		return;
	}
	if (s->helo_kind != 'E' && (rp.notify || rp.orcpt[0])) {
		session_reply(s, 555, "5.5.4", "Error: parameters need EHLO");
		return;
	}
	if (tx->nrcpts >= s->sd->conf->limits.max_recipients) {
		/*
		 * RFC 5321 4.5.3.1.10: the client sends the rest in another
		 * transaction.  A pipelining client sends them all before it
		 * sees a reply, so they are not errors, or a big list would
		 * end every attempt with 421 before DATA and never go.
		 */
		smtp_reply_set(&err, 452, "4.5.3", "Error: too many "
		    "recipients");
		if (++tx->overshoot <= SMTP_RCPT_OVERSHOOT)
			session_reply_uncounted(s, &err);
		else
			session_reply_r(s, &err);
		return;
	}
	if (relay_rcpt(s->sd->relay, s->client_tenant, &s->local, &ma, bare,
	    &v, &err) == -1) {
		mailaddr_format(&ma, to, sizeof(to));
		reject_log(s, "RCPT", &err, bare ? "postmaster" : to);
		session_reply_r(s, &err);
		return;
	}
	if (v.tenant != NULL && !tenant_has_room(s, v.tenant->name)) {
		smtp_reply_set(&err, 452, "4.3.1", "Insufficient system "
		    "storage: the recipient's queue is full");
		reject_log(s, "RCPT", &err, v.addr);
		session_reply_r(s, &err);
		return;
	}
	if (add_rcpt(s, &v, &rp) == -1) {
		session_close(s, 421, "4.3.0", "Error: out of memory");
		return;
	}
	queue_request_file(s);
	session_reply(s, 250, "2.1.5", "Ok");
}

static int
need_rcpt(struct session *s)
{
	if (s->tx == NULL) {
		session_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return -1;
	}
	if (s->tx->nrcpts == 0) {
		session_reply(s, 554, "5.5.1", "Error: no valid recipients");
		return -1;
	}
	return 0;
}

static void
cmd_data(struct session *s, size_t arglen)
{
	if (arglen > 0) {
		session_reply(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (need_helo(s) == -1 || need_rcpt(s) == -1)
		return;
	if (s->tx->mode == 'B') {
		session_reply(s, 503, "5.5.1", "Error: DATA after BDAT");
		return;
	}
	s->tx->mode = 'D';
	queue_need_file(s);
}

/* queued made the spool file: our Received: field goes first. */
void
command_file_ready(struct session *s)
{
	struct transaction	*tx = s->tx;
	char			 hdr[4096];
	int			 n;

	if (sink_init(&tx->sink, tx->fd, s->sd->conf->limits.max_message_size)
	    == -1 || (n = received_header(s, hdr, sizeof(hdr))) == -1) {
		struct smtp_reply r;

		smtp_reply_set(&r, 451, "4.3.0", "Error: local resource "
		    "failure");
		command_file_failed(s, &r);
		return;
	}
	tx->file = FILE_OPEN;
	spares_top_up(s->sd);	/* this file will not come back */
	sink_prefix(&tx->sink, hdr, (size_t)n);
	if (tx->mode == 'D') {
		/*
		 * RFC 2920: DATA ends a group, and content comes only after
		 * our 354.  A client that sends it earlier is not talking
		 * SMTP with us (the precondition of SMTP smuggling, which
		 * Postfix 3.9 refuses too): say so and hang up.
		 */
		if (session_pending_input(s)) {
			log_info("improper pipelining from [%s]: message "
			    "content before 354; disconnected", s->addr);
			session_close(s, 554, "5.5.0", "Error: SMTP protocol "
			    "synchronization: data before 354");
			return;
		}
		dot_init(&tx->dot);
		session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
		/* The content is judged at its end, not as commands. */
		s->unsynced = 0;
		s->state = SS_DATA;
	} else
		s->state = SS_BDAT;
}

void
command_file_failed(struct session *s, const struct smtp_reply *r)
{
	struct transaction *tx = s->tx;

	if (tx->mode == 'B') {
		/* The chunk still comes: read it, then say why. */
		tx_fail(s, r);
		tx->chunk_skip = 1;
		s->state = SS_BDAT;
		return;
	}
	session_reply_r(s, r);
	session_tx_end(s);
}

static void
tx_fail(struct session *s, const struct smtp_reply *r)
{
	if (s->tx->fail.code == 0)
		s->tx->fail = *r;
}

/* Which check, if any, refuses the message now that it is complete. */
static int
content_verdict(struct session *s, struct smtp_reply *r)
{
	struct transaction	*tx = s->tx;
	struct msg_sink		*k = &tx->sink;
	const struct tenant_conf *ct = s->client_tenant;

	if (tx->fail.code != 0)
		*r = tx->fail;
	else if (k->too_big)
		smtp_reply_set(r, 552, "5.3.4", "Message size exceeds fixed "
		    "limit");
	else if (k->nul)
		smtp_reply_set(r, 554, "5.6.0", "Message refused: NUL octet "
		    "in message");
	else if (k->bare && !(ct != NULL && ct->allow_bare_newlines))
		smtp_reply_set(r, 554, "5.6.0", "Message refused: bare CR or "
		    "LF in message (lines must end with CRLF)");
	else if (k->received > MAX_RECEIVED)
		smtp_reply_set(r, 554, "5.4.6", "Too many Received: header "
		    "fields: mail loop");
	else if (k->werr == ENOSPC || k->werr == EDQUOT)
		smtp_reply_set(r, 452, "4.3.1", "Insufficient system storage");
	else if (k->werr != 0)
		smtp_reply_set(r, 451, "4.3.0", "Error: local error writing "
		    "the message");
	else
		return 0;
	return -1;
}

/*
 * A reload may have removed the tenant a recipient was accepted for:
 * the transaction is deferred, and the client tries again under the
 * rules now in force.
 */
static int
tenants_vanished(struct session *s, struct smtp_reply *r)
{
	struct transaction	*tx = s->tx;
	size_t			 i;

	for (i = 0; i < tx->nrcpts; i++) {
		if (tx->rcpts[i].tenant[0] == '\0' ||
		    conf_tenant_by_name(s->sd->conf, tx->rcpts[i].tenant) !=
		    NULL)
			continue;
		log_warnx("tenant=%s: removed by a reload during a "
		    "transaction from [%s]; deferred", tx->rcpts[i].tenant,
		    s->addr);
		smtp_reply_set(r, 451, "4.3.0", "Error: the configuration "
		    "changed; try again");
		return 1;
	}
	return 0;
}

/* The end of the message: refuse it now, or hand it to queued. */
void
command_data_done(struct session *s)
{
	struct transaction	*tx = s->tx;
	struct smtp_reply	 r;

	sink_finish(&tx->sink);
	if (content_verdict(s, &r) == -1 || tenants_vanished(s, &r)) {
		if (tx->sink.werr != 0)
			log_warnx("writing the spool file for [%s]: %s",
			    s->addr, strerror(tx->sink.werr));
		reject_log(s, "message", &r, tx->nrcpts > 0 ?
		    tx->rcpts[0].addr : "");
		session_tx_end(s);
		session_reply_r(s, &r);
		return;
	}
	if (tx->fd != -1)
		close(tx->fd);
	tx->fd = -1;
	queue_commit(s);
}

static void
cmd_bdat(struct session *s, const char *arg, size_t len)
{
	struct transaction	*tx = s->tx;
	struct smtp_reply	 r;
	uint64_t		 size, so_far;
	int			 last;

	if (smtp_parse_bdat(arg, len, &size, &last) == -1) {
		/* Without a size we cannot tell data from commands. */
		session_close(s, 554, "5.5.4", "Error: bad BDAT size");
		return;
	}
	/* A refused chunk is still read (RFC 3030 section 3). */
	if (s->helo_kind != 'E') {
		smtp_reply_set(&r, 503, "5.5.1", "Error: BDAT needs EHLO");
		command_skip_chunk(s, size, &r);
		return;
	}
	if (tx == NULL || tx->mode == 'D') {
		smtp_reply_set(&r, 503, "5.5.1", tx == NULL ?
		    "Error: need MAIL command" : "Error: BDAT after DATA");
		command_skip_chunk(s, size, &r);
		return;
	}
	if (tx->nrcpts == 0) {
		smtp_reply_set(&r, 554, "5.5.1", "Error: no valid recipients");
		command_skip_chunk(s, size, &r);
		return;
	}
	tx->mode = 'B';
	tx->chunk_left = size;
	tx->chunk_last = last;
	tx->chunk_skip = tx->fail.code != 0;
	so_far = tx->sink.bytes;
	if (!tx->chunk_skip && size > tx->sink.max - so_far) {
		smtp_reply_set(&r, 552, "5.3.4", "Message size exceeds fixed "
		    "limit");
		tx_fail(s, &r);
		tx->chunk_skip = 1;
	}
	if (tx->file != FILE_OPEN && !tx->chunk_skip) {
		queue_need_file(s);
		return;
	}
	s->state = SS_BDAT;
}

void
command_chunk_done(struct session *s)
{
	struct transaction *tx = s->tx;

	if (tx->chunk_last) {
		command_data_done(s);
		return;
	}
	if (tx->fail.code != 0)
		session_reply_r(s, &tx->fail);
	else
		session_reply(s, 250, "2.0.0", "%llu octets received",
		    (unsigned long long)tx->sink.bytes);
}

/* Read and drop a chunk that has no transaction to go to. */
void
command_skip_chunk(struct session *s, uint64_t size,
    const struct smtp_reply *r)
{
	if ((s->skip_reply = malloc(sizeof(*s->skip_reply))) == NULL) {
		session_close(s, 421, "4.3.0", "Error: out of memory");
		return;
	}
	*s->skip_reply = *r;
	s->skip_left = size;
	s->state = SS_SKIP;
}

void
command_skip_done(struct session *s)
{
	session_reply_r(s, s->skip_reply);
	free(s->skip_reply);
	s->skip_reply = NULL;
}

static void
cmd_rset(struct session *s, size_t arglen)
{
	if (arglen > 0) {
		session_reply(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	session_tx_end(s);
	session_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_vrfy(struct session *s, size_t arglen)
{
	if (arglen == 0) {
		session_reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	/* RFC 5321 3.5.3: never disclose who exists. */
	session_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

void
command_line(struct session *s, const char *line, size_t len)
{
	const char	*arg;
	size_t		 arglen;
	enum smtp_verb	 v;

	if (memchr(line, '\0', len) != NULL) {
		session_reply(s, 500, "5.5.2", "Error: NUL octet in command");
		return;
	}
	if (memchr(line, '\r', len) != NULL) {
		session_reply(s, 500, "5.5.2", "Error: bare CR in command");
		return;
	}
	v = smtp_parse_verb(line, len, &arg, &arglen);
	if (len + 2 > smtp_line_limit(v)) {
		session_reply(s, 500, "5.5.2", "Error: line too long");
		return;
	}
	if (s->unsynced) {
		struct smtp_reply r;
		uint64_t size;
		int last;

		smtp_reply_set(&r, 503, "5.5.0", "Error: improper pipelining: "
		    "PIPELINING was not negotiated");
		s->unsynced = 0;
		if (v == V_BDAT) {
			if (smtp_parse_bdat(arg, arglen, &size, &last) == -1)
				session_close(s, 554, "5.5.4",
				    "Error: bad BDAT size");
			else
				command_skip_chunk(s, size, &r);
			return;
		}
		session_reply_r(s, &r);
		return;
	}
	switch (v) {
	case V_HELO:
	case V_EHLO:
		cmd_helo(s, v, arg, arglen);
		break;
	case V_MAIL:
		cmd_mail(s, arg, arglen);
		break;
	case V_RCPT:
		cmd_rcpt(s, arg, arglen);
		break;
	case V_DATA:
		cmd_data(s, arglen);
		break;
	case V_BDAT:
		cmd_bdat(s, arg, arglen);
		break;
	case V_RSET:
		cmd_rset(s, arglen);
		break;
	case V_NOOP:
		session_reply(s, 250, "2.0.0", "Ok");
		break;
	case V_QUIT:
		session_close(s, 221, "2.0.0", "Bye");
		break;
	case V_HELP:
		session_reply(s, 214, "2.0.0", "See RFC 5321");
		break;
	case V_VRFY:
		cmd_vrfy(s, arglen);
		break;
	case V_EXPN:
	case V_STARTTLS:
	case V_AUTH:
		session_reply(s, 502, "5.5.1", "Error: command not "
		    "implemented");
		break;
	case V_UNKNOWN:
		session_reply(s, 500, "5.5.2", "Error: command not "
		    "recognized");
		break;
	}
}

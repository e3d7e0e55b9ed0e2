/*
 * smtp_command: the commands of RFC 5321 and its extensions, each with
 * its sequence rules and exact reply codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "smtpd.h"

static void	tx_fail(struct session *, const struct smtp_reply *);
static void	reject_log(struct session *, const char *,
		    const struct smtp_reply *, const char *);

static void
cmd_helo(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	char		 name[HELO_MAX + 1], ehlo[REPLY_EHLO_MAX];
	struct smtp_reply r;
	const struct conf *conf = s->sd->conf;
	int		 n;

	if (smtp_parse_helo(arg, len, name, sizeof(name)) == -1) {
		session_reply_id(s, v == V_EHLO ? R_SYNTAX_EHLO :
		    R_SYNTAX_HELO);
		return;
	}
	/* RFC 5321 4.1.4: a new EHLO resets the state, like RSET. */
	session_tx_end(s);
	free(s->helo);
	if ((s->helo = strdup(name)) == NULL) {
		session_close(s, R_NO_MEMORY);
		return;
	}
	if (v == V_HELO) {
		s->helo_kind = 'H';
		reply_helo(&r, conf->hostname);
		session_reply_r(s, &r);
		return;
	}
	s->helo_kind = 'E';
	/* Cannot fail: our name is a domain, at most 255 octets. */
	if ((n = reply_ehlo(ehlo, sizeof(ehlo), conf->hostname,
	    conf->limits.max_message_size, smtp_tls_ehlo(s) |
	    smtp_auth_ehlo(s))) == -1)
		fatalx("the EHLO reply does not fit");
	session_reply_lines(s, ehlo, (size_t)n);
}

static int
need_helo(struct session *s)
{
	if (s->helo_kind != 0)
		return 0;
	session_reply_id(s, R_NEED_HELO);
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
		session_reply_id(s, R_NESTED_MAIL);
		return;
	}
	if (smtp_parse_mail(arg, len, &ma, &mp, &err) == -1) {
		session_reply_r(s, &err);
		return;
	}
	if (smtp_auth_mail(s, &ma) == -1)
		return;
	if (s->helo_kind != 'E' && (mp.has_size || mp.body || mp.smtputf8 ||
	    mp.ret || mp.envid[0])) {
		session_reply_id(s, R_PARAMS_NEED_EHLO);
		return;
	}
	if (mp.has_size && mp.size > conf->limits.max_message_size) {
		reply_set(&err, R_SIZE_EXCEEDED);
		smtp_stats_refused(s->sd, s->client_tenant ?
		    s->client_tenant->name : "", SR_SIZE, &err);
		session_reply_r(s, &err);
		return;
	}
	if (!space_ok(s->sd, mp.has_size ? mp.size : 0)) {
		log_warnx("refused mail from [%s]: spool below min_free_space",
		    s->addr);
		session_reply_id(s, R_NO_STORAGE);
		return;
	}
	if (s->sd->store_full) {
		log_warnx("refused mail from [%s]: the queue store is full",
		    s->addr);
		session_reply_id(s, R_NO_STORAGE);
		return;
	}
	if ((tx = calloc(1, sizeof(*tx))) == NULL ||
	    (tx->sender = malloc(MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX +
	    2)) == NULL) {
		free(tx);
		session_close(s, R_NO_MEMORY);
		return;
	}
	mailaddr_format(&ma, tx->sender, MAILADDR_LOCAL_MAX +
	    MAILADDR_DOMAIN_MAX + 2);
	tx->mp = mp;
	tx->fd = -1;
	sink_init(&tx->sink, -1, conf->limits.max_message_size);
	s->tx = tx;
	switch (policy_mail(s)) {
	case -1:
		session_tx_end(s);
		session_reply_id(s, R_LOCAL_RESOURCE);
		return;
	case 1:
		session_wait(s);	/* policy_dispatch answers */
		return;
	}
	session_reply_id(s, R_SENDER_OK);
}

/* policyd refused the sender (the message rate). */
void
command_mail_refused(struct session *s, const struct smtp_reply *r)
{
	reject_log(s, "MAIL", r, "");
	session_tx_end(s);
	session_reply_r(s, r);
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
	uint32_t		 eod;
	char			 to[MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2];

	if (need_helo(s) == -1)
		return;
	if (tx == NULL) {
		session_reply_id(s, R_NEED_MAIL);
		return;
	}
	if (tx->mode != 0) {
		session_reply_id(s, R_RCPT_AFTER_DATA);
		return;
	}
	if (smtp_parse_rcpt(arg, len, tx->mp.smtputf8, &ma, &bare, &rp,
	    &err) == -1) {
		session_reply_r(s, &err);
		return;
	}
	if (s->helo_kind != 'E' && (rp.notify || rp.orcpt[0])) {
		session_reply_id(s, R_PARAMS_NEED_EHLO);
		return;
	}
	if (tx->nrcpts >= s->sd->conf->limits.max_recipients) {
		/*
		 * RFC 5321 4.5.3.1.10: the client sends the rest in another
		 * transaction.  A pipelining client sends them all before it
		 * sees a reply, so they are not errors, or a big list would
		 * end every attempt with 421 before DATA and never go.
		 */
		reply_set(&err, R_TOO_MANY_RCPTS);
		if (++tx->overshoot <= SMTP_RCPT_OVERSHOOT)
			session_reply_uncounted(s, &err);
		else
			session_reply_r(s, &err);
		return;
	}
	memset(&v, 0, sizeof(v));
	if (relay_rcpt(s->sd->relay, s->client_tenant, &s->local, &ma, bare,
	    &v, &err) == -1) {
		smtp_stats_refused(s->sd, v.tenant ? v.tenant->name : "",
		    reply_stat_reason(&err), &err);
		mailaddr_format(&ma, to, sizeof(to));
		reject_log(s, "RCPT", &err, bare ? "postmaster" : to);
		session_reply_r(s, &err);
		return;
	}
	if (v.tenant != NULL && !tenant_has_room(s, v.tenant->name)) {
		reply_set(&err, R_TENANT_FULL);
		smtp_stats_refused(s->sd, v.tenant->name, SR_SPOOL_FULL, &err);
		reject_log(s, "RCPT", &err, v.addr);
		session_reply_r(s, &err);
		return;
	}
	/* Its servers take nothing from us: the sender keeps it for now. */
	if (v.tenant != NULL && v.dir == DIR_INBOUND &&
	    queue_tenant_deferred(s->sd, v.tenant->name)) {
		reply_set(&err, R_TENANT_DEFERRED);
		smtp_stats_refused(s->sd, v.tenant->name, SR_DEFER_ALL, &err);
		reject_log(s, "RCPT", &err, v.addr);
		session_reply_uncounted(s, &err);
		return;
	}
	eod = policy_eod_class(s, v.tenant, v.addr, v.dir);
	if (tx->nrcpts > 0 && eod != tx->eod_class) {
		/* The client's due, like the overshoot: not an error. */
		reply_set(&err, R_EOD_CLASS);
		reject_log(s, "RCPT", &err, v.addr);
		session_reply_uncounted(s, &err);
		return;
	}
	switch (policy_rcpt(s, &v, &rp, eod)) {
	case -1:
		reply_set(&err, R_LOCAL_RESOURCE);
		reject_log(s, "RCPT", &err, v.addr);
		session_reply_r(s, &err);
		return;
	case 1:
		session_wait(s);	/* policy_dispatch answers */
		return;
	}
	command_rcpt_accept(s, &v, &rp, eod);
}

/* The recipient passed every check. */
void
command_rcpt_accept(struct session *s, const struct relay_verdict *v,
    const struct rcpt_params *rp, uint32_t eod)
{
	if (add_rcpt(s, v, rp) == -1) {
		session_close(s, R_NO_MEMORY);
		return;
	}
	if (s->tx->nrcpts == 1)
		s->tx->eod_class = eod;
	queue_request_file(s);
	session_reply_id(s, R_RCPT_OK);
}

/*
 * policyd refused the recipient.  A deferral (greylisting) is no error
 * of the client's; a rejection counts like any other.
 */
void
command_rcpt_refused(struct session *s, const struct smtp_reply *r,
    const char *addr)
{
	reject_log(s, "RCPT", r, addr);
	if (r->code < 500)
		session_reply_uncounted(s, r);
	else
		session_reply_r(s, r);
}

static int
need_rcpt(struct session *s)
{
	if (s->tx == NULL) {
		session_reply_id(s, R_NEED_MAIL);
		return -1;
	}
	if (s->tx->nrcpts == 0) {
		session_reply_id(s, R_NO_VALID_RCPTS);
		return -1;
	}
	return 0;
}

static void
cmd_data(struct session *s, size_t arglen)
{
	if (arglen > 0) {
		session_reply_id(s, R_SYNTAX_DATA);
		return;
	}
	if (need_helo(s) == -1 || need_rcpt(s) == -1)
		return;
	if (s->tx->mode == 'B') {
		session_reply_id(s, R_DATA_AFTER_BDAT);
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

		reply_set(&r, R_LOCAL_RESOURCE);
		command_file_failed(s, &r);
		return;
	}
	tx->file = FILE_OPEN;
	spares_top_up(s->sd);	/* this file will not come back */
	/* RFC 7208 9.1: above the Received: field of the same hop. */
	if (tx->spf_field != NULL && (tx->eod_class & EOD_SPF_TAG))
		sink_prefix(&tx->sink, tx->spf_field, strlen(tx->spf_field));
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
			session_close(s, R_DATA_BEFORE_354);
			return;
		}
		dot_init(&tx->dot);
		session_reply_id(s, R_START_DATA);
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
	const struct conf	*conf = s->sd->conf;

	if (tx->fail.code != 0)
		*r = tx->fail;
	else if (k->too_big) {
		reply_set(r, R_SIZE_EXCEEDED);
		smtp_stats_refused(s->sd, tx->nrcpts > 0 ? tx->rcpts[0].tenant :
		    "", SR_SIZE, r);
	}
	else if (k->nul)
		reply_set(r, R_NUL_IN_MESSAGE);
	else if (k->bare && !(ct != NULL && ct->allow_bare_newlines))
		reply_set(r, R_BARE_NEWLINE);
	else if (k->received > MAX_RECEIVED)
		reply_set(r, R_MAIL_LOOP);
	else if (conf->limits.header_max_fields > 0 &&
	    k->fields > conf->limits.header_max_fields)
		reply_set(r, R_HEADER_FIELDS);
	else if (conf->limits.header_max_size > 0 &&
	    k->header_bytes > conf->limits.header_max_size)
		reply_set(r, R_HEADER_SIZE);
	else if ((tx->eod_class & EOD_TO_CC) && !k->to_or_cc)
		reply_set(r, R_NO_TO_CC);
	else if (k->werr == ENOSPC || k->werr == EDQUOT)
		reply_set(r, R_NO_STORAGE);
	else if (k->werr != 0)
		reply_set(r, R_WRITE_ERROR);
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
		reply_set(r, R_CONFIG_CHANGED);
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
	switch (milter_start(s, &r)) {
	case -1:
		reject_log(s, "message", &r, tx->rcpts[0].addr);
		session_tx_end(s);
		session_reply_r(s, &r);
		return;
	case 1:
		return;		/* the milters first (smtp_milter.c) */
	}
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
		session_close(s, R_BAD_BDAT_SIZE);
		return;
	}
	/* A refused chunk is still read (RFC 3030 section 3). */
	if (s->helo_kind != 'E') {
		reply_set(&r, R_BDAT_NEEDS_EHLO);
		command_skip_chunk(s, size, &r);
		return;
	}
	if (tx == NULL || tx->mode == 'D') {
		reply_set(&r, tx == NULL ? R_NEED_MAIL : R_BDAT_AFTER_DATA);
		command_skip_chunk(s, size, &r);
		return;
	}
	if (tx->nrcpts == 0) {
		reply_set(&r, R_NO_VALID_RCPTS);
		command_skip_chunk(s, size, &r);
		return;
	}
	tx->mode = 'B';
	tx->chunk_left = size;
	tx->chunk_last = last;
	tx->chunk_skip = tx->fail.code != 0;
	so_far = tx->sink.bytes;
	if (!tx->chunk_skip && size > tx->sink.max - so_far) {
		reply_set(&r, R_SIZE_EXCEEDED);
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
	struct transaction	*tx = s->tx;
	struct smtp_reply	 r;

	if (tx->chunk_last) {
		command_data_done(s);
		return;
	}
	if (tx->fail.code != 0)
		session_reply_r(s, &tx->fail);
	else {
		reply_octets(&r, tx->sink.bytes);
		session_reply_r(s, &r);
	}
}

/* Read and drop a chunk that has no transaction to go to. */
void
command_skip_chunk(struct session *s, uint64_t size,
    const struct smtp_reply *r)
{
	if ((s->skip_reply = malloc(sizeof(*s->skip_reply))) == NULL) {
		session_close(s, R_NO_MEMORY);
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
		session_reply_id(s, R_SYNTAX_RSET);
		return;
	}
	session_tx_end(s);
	session_reply_id(s, R_CMD_OK);
}

static void
cmd_vrfy(struct session *s, size_t arglen)
{
	if (arglen == 0) {
		session_reply_id(s, R_SYNTAX_VRFY);
		return;
	}
	/* RFC 5321 3.5.3: never disclose who exists. */
	session_reply_id(s, R_VRFY);
}

void
command_line(struct session *s, const char *line, size_t len)
{
	const char	*arg;
	size_t		 arglen;
	enum smtp_verb	 v;

	if (memchr(line, '\0', len) != NULL) {
		session_reply_id(s, R_NUL_IN_COMMAND);
		return;
	}
	if (memchr(line, '\r', len) != NULL) {
		session_reply_id(s, R_BARE_CR_IN_COMMAND);
		return;
	}
	v = smtp_parse_verb(line, len, &arg, &arglen);
	if (len + 2 > smtp_line_limit(v)) {
		session_reply_id(s, v == V_AUTH ? R_AUTH_TOO_LONG :
		    R_LINE_TOO_LONG);
		return;
	}
	if (s->unsynced) {
		struct smtp_reply r;
		uint64_t size;
		int last;

		reply_set(&r, R_IMPROPER_PIPELINING);
		s->unsynced = 0;
		if (v == V_BDAT) {
			if (smtp_parse_bdat(arg, arglen, &size, &last) == -1)
				session_close(s, R_BAD_BDAT_SIZE);
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
		session_reply_id(s, R_CMD_OK);
		break;
	case V_QUIT:
		session_close(s, R_BYE);
		break;
	case V_HELP:
		session_reply_id(s, R_HELP);
		break;
	case V_VRFY:
		cmd_vrfy(s, arglen);
		break;
	case V_STARTTLS:
		smtp_tls_starttls(s, arglen);
		break;
	case V_AUTH:
		smtp_auth_command(s, arg, arglen);
		break;
	case V_EXPN:
		session_reply_id(s, R_NOT_IMPLEMENTED);
		break;
	case V_UNKNOWN:
		session_reply_id(s, R_UNKNOWN_COMMAND);
		break;
	}
}

/*
 * smtp_auth: SMTP AUTH (RFC 4954), PLAIN (RFC 4616) and LOGIN, offered
 * only under TLS and only when some tenant has auth:.
 *
 * smtpd decodes the exchange and picks the tenant: the one whose
 * tls.names the client asked for by SNI, else the one owning the domain
 * of the user name, whose auth.realm is appended to a name without one.
 * policyd decides (policy_auth.c): Dovecot, failure rates, suspensions;
 * smtpd only waits for its word.  Once authenticated, the session relays
 * as the user's tenant (relay_rcpt with that client tenant) and MAIL FROM
 * must be in its domains unless auth.foreign_senders; queued checks both
 * again against policyd's grant.  Submission and smtps listeners refuse
 * MAIL without AUTH (530).
 *
 * The password passes through a stack buffer here and the message to
 * policyd; each is wiped once used.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "base64.h"
#include "child.h"
#include "faults.h"
#include "log.h"
#include "marshal.h"
#include "msg_auth.h"
#include "smtpd.h"

/* The SASL exchange of one session, and what it came to. */
struct session_auth {
	char		 mech;		/* 'P' PLAIN, 'L' LOGIN; 0: none out */
	int		 step;		/* LOGIN: 1 user, 2 password */
	int		 asking;	/* policyd's answer is awaited */
	int		 done;		/* authenticated */
	int		 discarding;	/* the rest of a long line */
	uint32_t	 seq;
	char		 user[AUTH_USER_MAX + 1];
	char		 tenant[TENANT_MAX + 1];
};

/* Does some tenant check AUTH? Then it is offered, under TLS. */
void
smtp_auth_conf(struct smtpd *sd, const struct conf *conf)
{
	size_t i;

	sd->auth_any = 0;
	for (i = 0; i < conf->ntenants; i++)
		if (conf->tenants[i].auth.dovecot != NULL)
			sd->auth_any = 1;
}

int
smtp_auth_offered(const struct session *s)
{
	return s->sd->auth_any;
}

unsigned
smtp_auth_ehlo(const struct session *s)
{
	if (smtp_tls_active(s) && smtp_auth_offered(s) &&
	    (s->auth == NULL || !s->auth->done))
		return EHLO_AUTH;
	return 0;
}

const char *
smtp_auth_user(const struct session *s)
{
	return s->auth != NULL && s->auth->done ? s->auth->user : NULL;
}

static void
auth_prompt(struct session *s, int which)
{
	char	line[32];
	int	n;

	if ((n = reply_auth_challenge(line, sizeof(line), which)) == -1)
		fatalx("an AUTH challenge does not fit");
	session_reply_lines(s, line, (size_t)n);
	s->state = SS_AUTH;
}

static void
auth_exchange_end(struct session *s)
{
	s->auth->mech = 0;
	s->auth->step = 0;
	if (s->state == SS_AUTH)
		s->state = SS_COMMAND;
}

static void
auth_fail(struct session *s, enum reply_id id)
{
	auth_exchange_end(s);
	session_reply_id(s, id);
}

/* The tenant for this user, and the user as Dovecot knows it. */
static const struct tenant_conf *
auth_pick_tenant(struct session *s, const char *name, char *user, size_t sz)
{
	const struct conf		*conf = s->sd->conf;
	const struct tenant_conf	*t = NULL;
	const char			*sni, *at;
	char				 dom[256];
	size_t				 i;

	if ((sni = smtp_tls_sni_tenant(s)) != NULL)
		t = conf_tenant_by_name(conf, sni);
	at = strrchr(name, '@');
	if (t == NULL && at != NULL) {
		for (i = 0; at[1 + i] != '\0' && i + 1 < sizeof(dom); i++)
			dom[i] = (char)tolower((unsigned char)at[1 + i]);
		dom[i] = '\0';
		t = conf_domain_tenant(conf, dom);
	}
	if (t == NULL || t->auth.dovecot == NULL)
		return NULL;
	if (at == NULL && t->auth.realm != NULL) {
		if ((size_t)snprintf(user, sz, "%s@%s", name, t->auth.realm) >=
		    sz)
			return NULL;
	} else if (strlcpy(user, name, sz) >= sz)
		return NULL;
	return t;
}

static void
auth_put_addr(struct mw *w, const struct netaddr *na)
{
	mw_u8(w, na->af == AF_INET6);
	mw_data(w, na->addr, 16);
}

/* name and password decoded: policyd decides. */
static void
auth_ask(struct session *s, const char *name, const char *pass)
{
	struct session_auth		*a = s->auth;
	const struct tenant_conf	*t;
	struct mw			 w;

	auth_exchange_end(s);
	if ((t = auth_pick_tenant(s, name, a->user, sizeof(a->user))) == NULL) {
		log_info("auth: user=%s client=[%s] status=failed reason=no "
		    "tenant with auth for this name", name, s->addr);
		session_reply_id(s, R_AUTH_FAILED);
		return;
	}
	strlcpy(a->tenant, t->name, sizeof(a->tenant));
#ifdef RELAYD_FAULTS
	/* A forged grant: smtpd believes it, queued must not (regress). */
	if (fault_error("smtpd-auth-forge")) {
		a->done = 1;
		s->client_tenant = t;
		session_reply_id(s, R_AUTH_OK);
		return;
	}
#endif
	mw_init(&w);
	mw_u32(&w, ++a->seq);
	mw_str(&w, a->tenant);
	mw_str(&w, a->user);
	mw_str(&w, pass);
	auth_put_addr(&w, &s->client);
	auth_put_addr(&w, &s->local);
	child_send_secret(s->sd->child, PROC_POLICYD, M_A_AUTH, s->id, w.buf,
	    w.len);
	explicit_bzero(w.buf, w.len);
	a->asking = 1;
	session_wait(s);
}

/* A base64 response into buf, NUL-terminated; -1: not base64. */
static int
auth_decode(const char *in, size_t len, char *buf, size_t sz)
{
	int n;

	if ((n = b64_decode(in, len, (uint8_t *)buf, sz - 1)) < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* PLAIN: [authzid] NUL authcid NUL passwd. */
static void
auth_plain(struct session *s, const char *in, size_t len)
{
	char	 buf[AUTH_USER_MAX * 2 + AUTH_PASS_MAX + 3];
	char	*authcid, *pass;
	int	 n;

	if ((n = auth_decode(in, len, buf, sizeof(buf))) < 0) {
		auth_fail(s, R_AUTH_BAD_BASE64);
		return;
	}
	authcid = memchr(buf, '\0', (size_t)n);
	pass = authcid ? memchr(authcid + 1, '\0', (size_t)n -
	    (size_t)(authcid + 1 - buf)) : NULL;
	if (authcid == NULL || pass == NULL || authcid[1] == '\0' ||
	    (buf[0] != '\0' && strcmp(buf, authcid + 1) != 0) ||
	    strlen(pass + 1) > AUTH_PASS_MAX ||
	    strlen(authcid + 1) > AUTH_USER_MAX)
		auth_fail(s, R_AUTH_FAILED);
	else
		auth_ask(s, authcid + 1, pass + 1);
	explicit_bzero(buf, sizeof(buf));
}

/* LOGIN: the user name, then the password, each asked for. */
static void
auth_login(struct session *s, const char *in, size_t len)
{
	struct session_auth	*a = s->auth;
	char			 buf[AUTH_PASS_MAX + 2];
	int			 n;

	if ((n = auth_decode(in, len, buf, sizeof(buf))) < 0) {
		auth_fail(s, R_AUTH_BAD_BASE64);
		return;
	}
	if (a->step == 1) {
		if (n == 0 || (size_t)n > AUTH_USER_MAX ||
		    memchr(buf, '\0', (size_t)n) != NULL)
			auth_fail(s, R_AUTH_FAILED);
		else {
			strlcpy(a->user, buf, sizeof(a->user));
			a->step = 2;
			auth_prompt(s, 'W');
		}
	} else if ((size_t)n > AUTH_PASS_MAX || memchr(buf, '\0',
	    (size_t)n) != NULL)
		auth_fail(s, R_AUTH_FAILED);
	else {
		char name[AUTH_USER_MAX + 1];

		strlcpy(name, a->user, sizeof(name));
		auth_ask(s, name, buf);
	}
	explicit_bzero(buf, sizeof(buf));
}

static void
auth_response(struct session *s, const char *in, size_t len)
{
	if (len == 1 && in[0] == '*') {
		auth_fail(s, R_AUTH_CANCELLED);
		return;
	}
	if (s->auth->mech == 'P')
		auth_plain(s, in, len);
	else
		auth_login(s, in, len);
}

void
smtp_auth_command(struct session *s, const char *arg, size_t len)
{
	const char	*sp, *init = NULL;
	size_t		 mlen, ilen = 0;

	if (!smtp_auth_offered(s)) {
		session_reply_id(s, R_NOT_IMPLEMENTED);
		return;
	}
	if (!smtp_tls_active(s)) {
		session_reply_id(s, R_AUTH_NEEDS_TLS);
		return;
	}
	if (s->helo_kind != 'E') {
		session_reply_id(s, R_NEED_HELO);
		return;
	}
	if (s->auth == NULL && (s->auth = calloc(1, sizeof(*s->auth))) ==
	    NULL) {
		session_close(s, R_NO_MEMORY);
		return;
	}
	if (s->auth->done) {
		session_reply_id(s, R_AUTH_TWICE);
		return;
	}
	if (s->tx != NULL) {
		session_reply_id(s, R_AUTH_IN_TX);
		return;
	}
	if (len == 0) {
		session_reply_id(s, R_AUTH_SYNTAX);
		return;
	}
	mlen = (sp = memchr(arg, ' ', len)) ? (size_t)(sp - arg) : len;
	if (sp != NULL) {
		init = sp + 1;
		ilen = len - mlen - 1;
		if (ilen == 0 || memchr(init, ' ', ilen) != NULL) {
			session_reply_id(s, R_AUTH_SYNTAX);
			return;
		}
	}
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0)
		s->auth->mech = 'P';
	else if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0)
		s->auth->mech = 'L';
	else {
		session_reply_id(s, R_AUTH_MECHANISM);
		return;
	}
	s->auth->step = 1;
	if (init == NULL) {
		auth_prompt(s, s->auth->mech == 'P' ? 'P' : 'U');
		return;
	}
	/* "=" is an empty initial response (RFC 4954 section 4). */
	auth_response(s, ilen == 1 && init[0] == '=' ? "" : init,
	    ilen == 1 && init[0] == '=' ? 0 : ilen);
}

/* A line of the exchange; over-long ones end it (500 5.5.6). */
int
smtp_auth_step(struct session *s)
{
	struct session_auth	*a = s->auth;
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr	 eol;
	char			 line[SMTP_LINE_MAX + 2];
	size_t			 len, eol_len;

	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		len = evbuffer_get_length(in);
		if (len > SMTP_LINE_MAX) {
			evbuffer_drain(in, len);
			a->discarding = 1;
		}
		return 0;
	}
	len = (size_t)eol.pos;
	if (a->discarding || len > SMTP_LINE_MAX) {
		evbuffer_drain(in, len + eol_len);
		a->discarding = 0;
		auth_fail(s, R_AUTH_TOO_LONG);
		return 1;
	}
	evbuffer_remove(in, line, len + eol_len);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	auth_response(s, line, len);
	explicit_bzero(line, sizeof(line));
	return 1;
}

/* policyd's answer. */
void
smtp_auth_result(struct smtpd *sd, struct imsg *imsg)
{
	struct session	*s;
	struct mr	 r;
	uint32_t	 seq;
	uint8_t		 res;
	char		 tenant[TENANT_MAX + 1], user[AUTH_USER_MAX + 1];

	mr_init(&r, imsg->data, imsg->datalen);
	seq = mr_u32(&r);
	res = mr_u8(&r);
	mr_str(&r, tenant, sizeof(tenant));
	mr_str(&r, user, sizeof(user));
	if (mr_end(&r) != 0 || res < AR_OK || res > AR_LIMIT)
		child_peer_broken(sd->child, PROC_POLICYD, imsg,
		    "malformed M_A_RESULT");
	if ((s = session_find(sd, imsg->hdr.peerid)) == NULL ||
	    s->auth == NULL || !s->auth->asking || seq != s->auth->seq)
		return;
	s->auth->asking = 0;
	switch (res) {
	case AR_OK:
		if (strcmp(tenant, s->auth->tenant) != 0 ||
		    strcmp(user, s->auth->user) != 0)
			child_peer_broken(sd->child, PROC_POLICYD, imsg,
			    "a grant for another user");
		s->auth->done = 1;
		s->client_tenant = conf_tenant_by_name(sd->conf, tenant);
		session_reply_id(s, R_AUTH_OK);
		break;
	case AR_FAIL:
	case AR_SUSPENDED:
		session_reply_id(s, R_AUTH_FAILED);
		break;
	case AR_TEMP:
		session_reply_id(s, R_AUTH_TEMP);
		break;
	case AR_LIMIT:
		session_close(s, R_AUTH_LIMIT);
		break;
	}
	session_resume(s);
}

/*
 * MAIL: a submission listener wants AUTH first; an authenticated user
 * sends as its tenant, from its domains.  0, or -1 with the reply sent.
 */
int
smtp_auth_mail(struct session *s, const struct mailaddr *ma)
{
	const struct tenant_conf	*t;
	struct smtp_reply		 r;
	enum listen_mode		 mode = s->lst.mode;
	char				 dom[MAILADDR_DOMAIN_MAX + 1];
	size_t				 i;

	if (smtp_auth_user(s) == NULL) {
		/* Without any tenant's auth: they stay as they were. */
		if ((mode == LISTEN_SUBMISSION || mode == LISTEN_SMTPS) &&
		    smtp_auth_offered(s)) {
			session_reply_id(s, R_AUTH_NEEDED);
			return -1;
		}
		return 0;
	}
	/* A reload may have changed the tenant: take it afresh. */
	if ((t = conf_tenant_by_name(s->sd->conf, s->auth->tenant)) == NULL ||
	    t->auth.dovecot == NULL) {
		session_reply_id(s, R_CONFIG_CHANGED);
		return -1;
	}
	s->client_tenant = t;
	if (t->auth.foreign_senders || ma->local[0] == '\0')
		return 0;
	for (i = 0; ma->domain[i] != '\0' && i + 1 < sizeof(dom); i++)
		dom[i] = (char)tolower((unsigned char)ma->domain[i]);
	dom[i] = '\0';
	if (conf_domain_tenant(s->sd->conf, dom) == t)
		return 0;
	reply_set(&r, R_AUTH_SENDER);
	log_info("reject MAIL from [%s]: %d %s %s; from=<%s@%s> tenant=%s "
	    "user=%s", s->addr, r.code, r.enh, r.text, ma->local, ma->domain,
	    t->name, s->auth->user);
	session_reply_r(s, &r);
	return -1;
}

/* A message of an authenticated session was queued: the user's rate. */
void
smtp_auth_sent(struct session *s, size_t nrcpts)
{
	struct mw w;

	if (smtp_auth_user(s) == NULL)
		return;
	mw_init(&w);
	mw_u32(&w, (uint32_t)nrcpts);
	child_send(s->sd->child, PROC_POLICYD, M_A_SENT, s->id, -1, w.buf,
	    w.len);
}

void
smtp_auth_end(struct session *s)
{
	if (s->auth == NULL)
		return;
	if (s->auth->asking || s->auth->done || s->auth->seq > 0)
		child_send(s->sd->child, PROC_POLICYD, M_A_END, s->id, -1,
		    NULL, 0);
	explicit_bzero(s->auth, sizeof(*s->auth));
	free(s->auth);
	s->auth = NULL;
}

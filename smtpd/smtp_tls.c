/*
 * smtp_tls: the TLS server: STARTTLS (RFC 3207) on mx and submission
 * listeners, TLS from the first octet on smtps listeners (RFC 8314).
 *
 *   STARTTLS -> drain what the client sent blind -> 220 -> (written)
 *   -> handshake, SNI picking the certificate -> the session starts
 *   afresh: no HELO, no transaction (RFC 3207 4.2)
 *
 * Each configuration with certificates makes a tls_server: one SSL_CTX
 * per certificate, the relay's first, which is also the default, and the
 * tenants' names (tls.names) pointing at theirs; the SNI callback on the
 * first switches a handshake to a tenant's.  The private keys are not
 * here: each context's key object asks keyd (smtp_tlskey.c).  TLS 1.2
 * and 1.3 only, forward-secret key exchanges only (no RSA key exchange,
 * so keyd never deciphers), no renegotiation, tickets for resumption
 * and no session cache.  A handshake holds the tls_server it started
 * with, so a reload can replace it at any time.
 *
 * Nothing of this exists for a session that never asks for TLS: the
 * SSL object, its buffers and struct session_tls come at STARTTLS.
 *
 * CVE-2011-0411: what a client sent after STARTTLS, before it could see
 * our 220, is thrown away, from the input buffer and from the socket,
 * before the 220 is even written; anything later is read by the TLS
 * layer, where plain text is a failed handshake, never a command.
 *
 * A failed handshake (garbage, a version we do not speak, a time-out, a
 * key request keyd did not answer) ends that session alone, with one log
 * line saying why.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "child.h"
#include "log.h"
#include "smtpd.h"

/* TLS 1.2's suites: forward secrecy, no RSA key exchange. */
#define TLS12_CIPHERS	"HIGH:!aNULL:!kRSA:!PSK:!SRP:!CAMELLIA:!ARIA"

struct tls_name {
	const char		*name;		/* lower case */
	SSL_CTX			*ctx;
	const char		*tenant;
};

struct tls_server {
	int			 refs;
	SSL_CTX			**ctx;		/* [0]: the relay's */
	size_t			 nctx;
	char			**tenants;	/* each ctx's, NULL for [0] */
	struct tls_name		*names;		/* sorted by name */
	size_t			 nnames;
};

static const char *
ssl_why(void)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : "unknown error";
}

static void
srv_unref(struct tls_server *srv)
{
	size_t i;

	if (srv == NULL || --srv->refs > 0)
		return;
	/* Handshakes and sessions hold their contexts: OpenSSL counts. */
	for (i = 0; i < srv->nctx; i++) {
		SSL_CTX_free(srv->ctx[i]);
		free(srv->tenants[i]);
	}
	for (i = 0; i < srv->nnames; i++)
		free((char *)srv->names[i].name);
	free(srv->ctx);
	free(srv->tenants);
	free(srv->names);
	free(srv);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tls_name *)a)->name,
	    ((const struct tls_name *)b)->name);
}

/* The name the client asked for, as we compare names; 0 if it is none. */
static int
sni_clean(const char *in, char *out, size_t sz)
{
	size_t i;

	for (i = 0; in[i] != '\0'; i++) {
		if (i + 1 >= sz || (!isalnum((unsigned char)in[i]) &&
		    in[i] != '.' && in[i] != '-' && in[i] != '_'))
			return 0;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[i] = '\0';
	return i > 0;
}

/*
 * The ClientHello's server name: a tenant's name switches the handshake
 * to its certificate; any other keeps the relay's.  What was asked is
 * kept for AUTH (which tenant) and the log.
 */
static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server	*srv = arg;
	struct session		*s = SSL_get_app_data(ssl);
	const char		*name;
	struct tls_name		 key, *found;

	(void)alert;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (s == NULL || s->tls == NULL || name == NULL ||
	    !sni_clean(name, s->tls->sni, sizeof(s->tls->sni)))
		return SSL_TLSEXT_ERR_NOACK;
	key.name = s->tls->sni;
	if (srv->nnames > 0 && (found = bsearch(&key, srv->names,
	    srv->nnames, sizeof(key), name_cmp)) != NULL) {
		if (SSL_set_SSL_CTX(ssl, found->ctx) == NULL)
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		strlcpy(s->tls->tenant, found->tenant, sizeof(s->tls->tenant));
	}
	return SSL_TLSEXT_ERR_OK;
}

static X509 *
der_x509(const struct der *d)
{
	const unsigned char *p = d->p;

	return d2i_X509(NULL, &p, (long)d->len);
}

/* A context for one certificate, its key object asking keyd. */
static SSL_CTX *
server_ctx_new(const struct tls_cert *tc, char *why, size_t whysz)
{
	SSL_CTX		*ctx;
	X509		*leaf = NULL, *x;
	EVP_PKEY	*pk = NULL;
	size_t		 i;

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
	    !SSL_CTX_set_session_id_context(ctx, (const unsigned char *)
	    "relayd", 6))
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* An idle TLS session keeps no record buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if ((leaf = der_x509(&tc->chain[0])) == NULL ||
	    SSL_CTX_use_certificate(ctx, leaf) != 1)
		goto fail;
	for (i = 1; i < tc->nchain; i++) {
		if ((x = der_x509(&tc->chain[i])) == NULL)
			goto fail;
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			goto fail;
		}
	}
	if ((pk = tlskey_pkey(leaf)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1)
		goto fail;
	EVP_PKEY_free(pk);
	X509_free(leaf);
	return ctx;
fail:
	snprintf(why, whysz, "the certificate of %s: %s", tc->tenant ?
	    tc->tenant : "the relay", ssl_why());
	EVP_PKEY_free(pk);
	X509_free(leaf);
	SSL_CTX_free(ctx);
	return NULL;
}

static struct tls_server *
srv_build(const struct conf *conf, char *why, size_t whysz)
{
	struct tls_server	*srv;
	const struct tls_cert	*tc;
	struct tls_name		*tn;
	size_t			 i, j, n = 0;

	for (i = 1; i < conf->tls.ncerts; i++)
		n += conf->tls.certs[i].nnames;
	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->ctx = calloc(conf->tls.ncerts, sizeof(*srv->ctx))) ==
	    NULL || (srv->tenants = calloc(conf->tls.ncerts,
	    sizeof(*srv->tenants))) == NULL ||
	    (n > 0 && (srv->names = calloc(n, sizeof(*srv->names))) ==
	    NULL)) {
		snprintf(why, whysz, "out of memory");
		goto fail;
	}
	srv->refs = 1;
	for (i = 0; i < conf->tls.ncerts; i++) {
		tc = &conf->tls.certs[i];
		if ((srv->ctx[i] = server_ctx_new(tc, why, whysz)) == NULL)
			goto fail;
		srv->nctx++;
		if (tc->tenant == NULL)
			continue;
		if ((srv->tenants[i] = strdup(tc->tenant)) == NULL)
			goto nomem;
		for (j = 0; j < tc->nnames; j++) {
			tn = &srv->names[srv->nnames];
			if ((tn->name = strdup(tc->names[j])) == NULL)
				goto nomem;
			tn->ctx = srv->ctx[i];
			tn->tenant = srv->tenants[i];
			srv->nnames++;
		}
	}
	if (srv->nnames > 0)
		qsort(srv->names, srv->nnames, sizeof(*srv->names), name_cmp);
	SSL_CTX_set_tlsext_servername_callback(srv->ctx[0], sni_cb);
	SSL_CTX_set_tlsext_servername_arg(srv->ctx[0], srv);
	return srv;
nomem:
	snprintf(why, whysz, "out of memory");
fail:
	if (srv != NULL) {
		srv->refs = 1;
		srv_unref(srv);		/* what was made so far */
	}
	return NULL;
}

/*
 * A new configuration's certificates.  Ones smtpd cannot use (the parent
 * checked them, so this is not expected) stop it at start; on a reload
 * the ones in force stay, and the log says so.
 */
void
smtp_tls_conf(struct smtpd *sd, const struct conf *conf)
{
	struct tls_server	*srv = NULL;
	char			 why[256];

	if (conf->tls.ncerts > 0 &&
	    (srv = srv_build(conf, why, sizeof(why))) == NULL) {
		if (sd->conf == NULL)
			fatalx("TLS: %s", why);
		log_warnx("TLS: %s; the certificates in force stay", why);
		return;
	}
	srv_unref(sd->tls);
	sd->tls = srv;
	if (srv != NULL)
		log_info("TLS: %zu certificate%s, %zu tenant name%s",
		    srv->nctx, srv->nctx == 1 ? "" : "s", srv->nnames,
		    srv->nnames == 1 ? "" : "s");
}

static int
tls_new(struct session *s, int implicit, uint32_t delay)
{
	if ((s->tls = calloc(1, sizeof(*s->tls))) == NULL)
		return -1;
	s->tls->srv = s->sd->tls;
	s->tls->srv->refs++;
	s->tls->implicit = implicit;
	s->tls->greeting_delay = delay;
	return 0;
}

/*
 * What the client sent after STARTTLS without waiting for our 220 is
 * dropped, and what the socket holds already with it: none of it may
 * be read as a command once TLS is up.  Said in the log, since only a
 * client up to no good does it.
 */
static void
drain_blind(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	char		 buf[4096];
	struct iovec	 iov = { buf, sizeof(buf) };
	struct msghdr	 msg;
	size_t		 total = evbuffer_get_length(in);
	ssize_t		 n;

	evbuffer_drain(in, total);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	while (total < SMTP_IN_HIGH && (n = recvmsg(bufferevent_getfd(s->bev),
	    &msg, MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	if (total > 0)
		log_info("discarded %zu octets that [%s] sent after STARTTLS, "
		    "before our 220 (RFC 3207 section 5, CVE-2011-0411)", total,
		    s->addr);
}

void
smtp_tls_starttls(struct session *s, size_t arglen)
{
	if (arglen > 0) {
		session_reply_id(s, R_SYNTAX_STARTTLS);
		return;
	}
	if (s->tls != NULL) {
		session_reply_id(s, R_TLS_ACTIVE);
		return;
	}
	if (s->sd->tls == NULL) {
		session_reply_id(s, R_TLS_UNAVAILABLE);
		return;
	}
	if (s->tx != NULL) {
		session_reply_id(s, R_TLS_IN_TX);
		return;
	}
	if (tls_new(s, 0, 0) == -1) {
		session_close(s, R_NO_MEMORY);
		return;
	}
	drain_blind(s);
	s->unsynced = 0;
	session_reply_id(s, R_TLS_GO);
	/* The handshake starts once the 220 is written (session_write_cb). */
	s->state = SS_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_enable(s->bev, EV_WRITE);
}

/* smtps: TLS before the greeting. */
void
smtp_tls_implicit(struct session *s, uint32_t delay)
{
	if (s->sd->tls == NULL) {
		log_warnx("smtps connection from [%s]: no certificate to offer",
		    s->addr);
		session_close(s, R_TLS_UNAVAILABLE);
		return;
	}
	if (tls_new(s, 1, delay) == -1) {
		session_close(s, R_NO_MEMORY);
		return;
	}
	smtp_tls_start(s);
}

/*
 * The handshake, on the session's socket: a new bufferevent that speaks
 * TLS takes over the descriptor from the plain one, which is empty now.
 */
void
smtp_tls_start(struct session *s)
{
	const struct conf	*conf = s->sd->conf;
	struct bufferevent	*bev;
	struct timeval		 tv = { conf->timeouts.command, 0 };
	SSL			*ssl;
	int			 fd = bufferevent_getfd(s->bev);

	s->state = SS_HANDSHAKE;
	if ((ssl = SSL_new(s->tls->srv->ctx[0])) == NULL) {
		log_warnx("TLS for [%s]: %s", s->addr, ssl_why());
		session_close(s, R_NO_MEMORY);
		return;
	}
	SSL_set_app_data(ssl, s);
	if ((bev = bufferevent_openssl_socket_new(s->sd->child->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		SSL_free(ssl);
		log_warnx("TLS for [%s]: cannot make its bufferevent", s->addr);
		session_close(s, R_NO_MEMORY);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	session_set_bev(s, bev);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/*
 * The handshake is done: what it agreed, for the Received: field; then
 * the session starts afresh.  1 for smtps, whose greeting comes now.
 */
int
smtp_tls_established(struct session *s, uint32_t *delay)
{
	struct session_tls	*t = s->tls;
	SSL			*ssl = bufferevent_openssl_get_ssl(s->bev);
	const SSL_CIPHER	*c = SSL_get_current_cipher(ssl);

	strlcpy(t->version, SSL_get_version(ssl), sizeof(t->version));
	strlcpy(t->cipher, c != NULL ? SSL_CIPHER_get_name(c) : "unknown",
	    sizeof(t->cipher));
	t->bits = c != NULL ? SSL_CIPHER_get_bits(c, &t->alg_bits) : 0;
	t->up = 1;
	srv_unref(t->srv);
	t->srv = NULL;
	s->sd->tls_sessions++;
	log_debug("TLS from [%s]: %s with %s (%d/%d bits)%s%s%s%s", s->addr,
	    t->version, t->cipher, t->bits, t->alg_bits,
	    t->sni[0] ? " sni=" : "", t->sni, t->tenant[0] ? " tenant=" : "",
	    t->tenant);
	/* RFC 3207 4.2: forget what the client said before. */
	session_tx_end(s);
	free(s->helo);
	s->helo = NULL;
	s->helo_kind = 0;
	s->unsynced = 0;
	*delay = t->greeting_delay;
	return t->implicit;
}

/* The handshake failed: one line saying why; the session goes. */
void
smtp_tls_failed(struct session *s, short what)
{
	unsigned long	e = bufferevent_get_openssl_error(s->bev);
	char		why[256];

	if (what & BEV_EVENT_TIMEOUT)
		strlcpy(why, "timed out", sizeof(why));
	else if (e != 0)
		snprintf(why, sizeof(why), "%s", ERR_reason_error_string(e) ?
		    ERR_reason_error_string(e) : "TLS error");
	else if (what & BEV_EVENT_EOF)
		strlcpy(why, "the client closed the connection", sizeof(why));
	else
		snprintf(why, sizeof(why), "%s",
		    strerror(EVUTIL_SOCKET_ERROR()));
	while (bufferevent_get_openssl_error(s->bev) != 0)
		;
	ERR_clear_error();
	s->sd->tls_failed++;
	log_info("TLS handshake from [%s]:%u failed: %s%s%s", s->addr,
	    s->client.port, why, s->tls->sni[0] ? "; sni=" : "", s->tls->sni);
}

/* The session goes: say goodbye to TLS, if it was up. */
void
smtp_tls_free(struct session *s)
{
	SSL *ssl;

	if (s->tls == NULL)
		return;
	if (s->tls->up && (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL)
		(void)SSL_shutdown(ssl);
	ERR_clear_error();
	srv_unref(s->tls->srv);
	free(s->tls);
	s->tls = NULL;
}

/* Decrypted input OpenSSL holds, which the input buffer does not show. */
int
smtp_tls_pending(const struct session *s)
{
	SSL *ssl;

	if (s->tls == NULL || !s->tls->up ||
	    (ssl = bufferevent_openssl_get_ssl(s->bev)) == NULL)
		return 0;
	return SSL_pending(ssl) > 0;
}

unsigned
smtp_tls_ehlo(const struct session *s)
{
	return s->sd->tls != NULL && s->tls == NULL ? EHLO_STARTTLS : 0;
}

int
smtp_tls_active(const struct session *s)
{
	return s->tls != NULL && s->tls->up;
}

const char *
smtp_tls_sni_tenant(const struct session *s)
{
	if (!smtp_tls_active(s) || s->tls->tenant[0] == '\0')
		return NULL;
	return s->tls->tenant;
}
